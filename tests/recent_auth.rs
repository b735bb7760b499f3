//! Sensitive actions need a recent authentication: revoking the other sessions, signing
//! out everywhere and the admin console's revocations go through at once within
//! `auth.recent_auth_max_age` of the person's last authentication at Keycloak, and after
//! it send the person to Keycloak for the password and back to where the action is
//! offered again (never replayed on its own). Against the real Keycloak, in Chromium too.

mod common;

use std::time::Duration;

use common::browser::{Browser, APP_ORIGIN};
use common::chromium::{
    log_in_at_keycloak, reenter_password_at_keycloak, screenshot, wait_for_url, ChromeDriver, WAIT,
};
use common::{app, closed_port, figment, Served, TestDb};
use fantoccini::Locator;
use figment::providers::Serialized;
use latchkey::{Latchkey, RecentAuth};
use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};

const LAPTOP: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// Makes every session's last authentication an hour old, as time would.
async fn authenticated_an_hour_ago(db: &TestDb) {
    let mut connection = db.connect().await;
    sqlx::query("UPDATE sessions SET auth_time = now() - interval '1 hour'")
        .execute(&mut connection)
        .await
        .expect("age auth_time");
    // The session caches hear of it; give the notice a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn api_post(browser: &mut Browser<'_>, uri: &str) -> common::browser::Page {
    let token = browser.csrf_token().await;
    browser.send(Method::Post, uri, None, &[("Origin", APP_ORIGIN), ("X-CSRF-Token", &token)]).await
}

#[tokio::test]
async fn within_the_window_revoking_the_other_sessions_needs_no_new_sign_in() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut phone = Browser::signed_in(&app, "alice", PHONE).await;

    let answer = api_post(&mut laptop, "/api/sessions/revoke-others").await;

    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(answer.json()["revoked"], 1);
    assert!(!phone.is_signed_in().await);
}

#[tokio::test]
async fn after_the_window_a_sensitive_action_asks_for_the_password_then_offers_the_action_again() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut phone = Browser::signed_in(&app, "alice", PHONE).await;
    authenticated_an_hour_ago(&db).await;

    let api = api_post(&mut laptop, "/api/sessions/revoke-others").await;
    let everywhere = api_post(&mut laptop, "/api/sessions/revoke-all").await;
    let token = laptop.csrf_token().await;
    let form = laptop.post_form("/sessions/revoke-others", &[("csrf_token", &token)]).await;
    let still_in = phone.is_signed_in().await && laptop.is_signed_in().await;
    // Keycloak asks for the password again (it has this browser's session, yet
    // prompt=login), and the browser comes back to the page that offers the action.
    let login = laptop.get(form.location.as_deref().expect("sent to sign in again")).await;
    let authorize = login.location.clone().expect("authorize URL");
    let callback = laptop.keycloak_login(&authorize, "alice", "alice").await;
    let back = laptop.follow(&callback).await;
    let offered = laptop.get(back.location.as_deref().expect("back")).await;
    let phone_in_while_offered = phone.is_signed_in().await;
    let token = laptop.csrf_token().await;
    let confirmed = laptop.post_form("/sessions/revoke-others", &[("csrf_token", &token)]).await;

    for refused in [&api, &everywhere] {
        assert_eq!(refused.status, Status::Forbidden, "{}", refused.body);
        assert_eq!(refused.json()["error"], "reauthentication_required");
    }
    let login_url = api.json()["login_url"].as_str().map(str::to_string).expect("login_url");
    assert!(login_url.contains("prompt=login") && login_url.contains("max_age=600"), "{login_url}");
    assert!(login_url.contains("return_to=%2Fsessions%3Fconfirm%3Drevoke-others"), "{login_url}");
    assert_eq!(form.status, Status::SeeOther);
    assert_eq!(form.location.as_deref(), Some(login_url.as_str()));
    assert!(still_in, "nothing was revoked before the password");
    assert!(authorize.contains("prompt=login") && authorize.contains("max_age=600"), "{authorize}");
    assert_eq!(back.location.as_deref(), Some("/sessions?confirm=revoke-others"));
    assert!(offered.body.contains("Revoke every other session now?"), "{}", offered.body);
    assert!(phone_in_while_offered, "offered, not replayed");
    assert_eq!(confirmed.status, Status::SeeOther);
    assert!(!phone.is_signed_in().await && laptop.is_signed_in().await);
}

#[tokio::test]
async fn the_admin_consoles_revocations_need_a_recent_sign_in_too() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut bob = Browser::signed_in(&app, "bob", PHONE).await;
    let bob_id = bob.get("/api/session").await.json()["user"]["id"].as_str().map(str::to_string).expect("id");
    authenticated_an_hour_ago(&db).await;

    let api = api_post(&mut alice, &format!("/api/admin/users/{bob_id}/revoke-all")).await;
    let token = alice.csrf_token().await;
    let page = alice.post_form(&format!("/admin/users/{bob_id}/revoke-all"), &[("csrf_token", &token)]).await;

    assert_eq!(api.status, Status::Forbidden, "{}", api.body);
    assert_eq!(api.json()["error"], "reauthentication_required");
    let to = page.location.clone().expect("sent to sign in again");
    assert!(to.contains(&format!("return_to=%2Fadmin%2Fusers%2F{bob_id}%3Fconfirm%3Drevoke-all")), "{to}");
    assert!(bob.is_signed_in().await);
}

#[get("/danger")]
fn danger(user: RecentAuth<300>) -> String {
    format!("recent enough: {}", user.id)
}

#[get("/api/danger")]
fn api_danger(_user: RecentAuth<300>) -> &'static str {
    "recent enough"
}

async fn host_app(db: &TestDb) -> Client {
    let rocket = rocket::custom(figment(db))
        .attach(Latchkey::fairing())
        .mount("/", routes![danger, api_danger])
        .register("/", latchkey::catchers());
    Client::untracked(rocket).await.expect("the app ignites")
}

#[tokio::test]
async fn an_apps_route_guarded_by_recent_auth_sends_a_stale_sign_in_to_the_password() {
    let db = TestDb::create().await;
    let app = host_app(&db).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;

    let fresh = alice.get("/danger").await;
    authenticated_an_hour_ago(&db).await;
    let stale = alice.get("/danger").await;
    let api = alice.get("/api/danger").await;

    assert_eq!(fresh.status, Status::Ok, "{}", fresh.body);
    assert_eq!(stale.status, Status::SeeOther);
    let to = stale.location.expect("sent to sign in again");
    assert!(to.contains("return_to=%2Fdanger") && to.contains("prompt=login") && to.contains("max_age=300"), "{to}");
    assert_eq!(api.status, Status::Forbidden);
    assert_eq!(api.json()["error"], "reauthentication_required");
}

async fn rows(browser: &fantoccini::Client) -> usize {
    browser.find_all(Locator::Css("table.sessions tbody tr")).await.expect("rows").len()
}

#[tokio::test]
async fn in_a_browser_the_password_prompt_comes_after_the_window_and_not_before() {
    let db = TestDb::create().await;
    let port = closed_port();
    let settings = figment(&db).merge(Serialized::global("auth.base_url", format!("http://127.0.0.1:{port}")));
    let served = Served::start_on(settings, port).await;
    let other_instance = app(figment(&db)).await;
    let mut driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&served.url("/sessions")).await.expect("open /sessions");
    log_in_at_keycloak(&browser, "alice", "alice").await;
    wait_for_url(&browser, &served.url("/sessions")).await;

    // Within the window: straight through.
    let _phone = Browser::signed_in(&other_instance, "alice", PHONE).await;
    browser.refresh().await.expect("reload");
    let before = rows(&browser).await;
    browser
        .find(Locator::Css("form[action$='revoke-others'] button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    wait_for_url(&browser, &served.url("/sessions")).await;
    let url_after_first = browser.current_url().await.expect("url").to_string();
    let after_first = rows(&browser).await;

    // An hour later: the password first, then the action is offered again.
    let _tablet = Browser::signed_in(&other_instance, "alice", PHONE).await;
    authenticated_an_hour_ago(&db).await;
    browser.refresh().await.expect("reload");
    browser
        .find(Locator::Css("form[action$='revoke-others'] button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    wait_for_url(&browser, "/protocol/openid-connect/auth").await;
    screenshot(&browser, "recent-auth-password-again").await;
    reenter_password_at_keycloak(&browser, "alice").await;
    wait_for_url(&browser, "confirm=revoke-others").await;
    let offered = browser.find(Locator::Css(".confirm")).await.expect("the action offered again");
    let offered_text = offered.text().await.expect("text");
    let rows_while_offered = rows(&browser).await;
    screenshot(&browser, "recent-auth-confirm").await;
    browser.find(Locator::Css(".confirm button")).await.expect("confirm").click().await.expect("click");
    wait_for_url(&browser, &served.url("/sessions")).await;
    let _ = browser.wait().at_most(WAIT).for_element(Locator::Css("table.sessions")).await;
    let after_second = rows(&browser).await;

    assert_eq!((before, after_first), (2, 1));
    assert!(!url_after_first.contains("openid-connect"), "{url_after_first}");
    assert!(offered_text.contains("Revoke every other session now?"), "{offered_text}");
    assert_eq!(rows_while_offered, 2, "nothing revoked before the confirmation");
    assert_eq!(after_second, 1);
}
