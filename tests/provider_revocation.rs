//! Revocation that Keycloak honours: a revoked device's Keycloak session is ended through
//! the Admin REST API, and where it is not (no admin API, or Keycloak unreachable at that
//! moment), a sign-in that rides the revoked Keycloak session silently is refused and
//! sent back for the password, whatever cookies the device's holder deleted. And a sign-in
//! that asked for a recent authentication or a level of assurance gets one or is refused.

mod common;

use std::time::Duration;

use common::browser::{Browser, Page, APP_ORIGIN};
use common::chromium::{
    log_in_at_keycloak, reenter_password_at_keycloak, screenshot, wait_for_url, ChromeDriver, WAIT,
};
use common::fake_idp::{setup, with, FakeIdp, Signer};
use common::keycloak_admin::KeycloakAdmin;
use common::{app, closed_port, eventually, figment, keycloak_issuer, Served, TestDb};
use fantoccini::Locator;
use figment::providers::Serialized;
use figment::Figment;
use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use serde_json::json;

const LAPTOP: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

fn without_admin_api(figment: Figment) -> Figment {
    figment.merge(Serialized::global("auth.providers.keycloak.keycloak_admin_api", false))
}

/// The laptop revokes the phone's session through the API.
async fn revoke_from(laptop: &mut Browser<'_>, phone_session: &str) {
    let token = laptop.csrf_token().await;
    let headers = [("Origin", APP_ORIGIN), ("X-CSRF-Token", token.as_str())];
    let revoked = laptop.send(Method::Delete, &format!("/api/sessions/{phone_session}"), None, &headers).await;
    assert_eq!(revoked.status, Status::NoContent, "{}", revoked.body);
}

/// The phone's holder deletes latchkey's cookies (the Keycloak ones stay) and starts
/// signing in without asking for a fresh login: where Keycloak sends the browser.
async fn sign_in_again_keeping_keycloaks_cookies(phone: &mut Browser<'_>) -> reqwest::Response {
    phone.cookies.clear();
    let authorize = phone.start_sign_in("/").await;
    assert!(!authorize.contains("prompt=login"), "{authorize}");
    phone.idp_get(&authorize).await
}

#[tokio::test]
async fn revoking_a_device_ends_its_keycloak_session_through_the_admin_api() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let keycloak = KeycloakAdmin::connect().await;
    let username = keycloak.create_user().await;
    let mut laptop = Browser::signed_in(&app, &username, LAPTOP).await;
    let mut phone = Browser::signed_in(&app, &username, PHONE).await;
    let before = keycloak.session_ids(&username).await;
    let phone_session = phone.current_session_id().await;

    revoke_from(&mut laptop, &phone_session).await;
    let ended =
        eventually(Duration::from_secs(10), || async { keycloak.session_ids(&username).await.len() == 1 }).await;
    let answer = sign_in_again_keeping_keycloaks_cookies(&mut phone).await;
    let status = answer.status();
    let page = answer.text().await.unwrap_or_default();
    keycloak.delete_user(&username).await;

    assert_eq!(before.len(), 2, "a Keycloak session per device: {before:?}");
    assert!(ended, "the phone's Keycloak session was not ended");
    assert_eq!(status, reqwest::StatusCode::OK, "Keycloak asks for the password rather than redirecting");
    assert!(page.contains("kc-form-login"), "{page}");
    assert!(laptop.is_signed_in().await);
}

#[tokio::test]
async fn without_the_admin_api_riding_a_revoked_keycloak_session_is_sent_back_for_the_password() {
    let db = TestDb::create().await;
    let app = app(without_admin_api(figment(&db))).await;
    let keycloak = KeycloakAdmin::connect().await;
    let username = keycloak.create_user().await;
    let mut laptop = Browser::signed_in(&app, &username, LAPTOP).await;
    let mut phone = Browser::signed_in(&app, &username, PHONE).await;
    let phone_session = phone.current_session_id().await;
    revoke_from(&mut laptop, &phone_session).await;
    let keycloak_sessions = keycloak.session_ids(&username).await.len();

    // Keycloak still has the phone's session and signs it in silently; latchkey refuses.
    let silent = sign_in_again_keeping_keycloaks_cookies(&mut phone).await;
    let callback = silent.headers()["location"].to_str().expect("location").to_string();
    let refused = phone.follow(&callback).await;
    let sessions_after_silent = db.count("sessions").await;
    let again = phone.get(refused.location.as_deref().expect("sent to sign in again")).await;
    let authorize = again.location.clone().expect("authorize URL");
    // Keycloak's auth_time has whole seconds: a person typing the password takes longer
    // than this test, which must not re-authenticate within the second it signed in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let callback = phone.keycloak_login(&authorize, &username, &username).await;
    let signed_in = phone.follow(&callback).await;
    keycloak.delete_user(&username).await;

    assert_eq!(keycloak_sessions, 2, "nothing ended the phone's Keycloak session");
    assert_eq!(refused.status, Status::SeeOther, "{}", refused.body);
    assert!(refused.location.as_deref().is_some_and(|to| to.contains("prompt=login")), "{:?}", refused.location);
    assert_eq!(sessions_after_silent, 1, "the silent sign-in wrote no session");
    assert!(authorize.contains("prompt=login"), "{authorize}");
    assert_eq!(signed_in.status, Status::SeeOther, "{}", signed_in.body);
    assert_eq!(signed_in.location.as_deref(), Some("/"));
    assert!(phone.is_signed_in().await, "after the password the phone is back");
}

#[tokio::test]
async fn signing_out_everywhere_ends_the_other_devices_keycloak_sessions() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let keycloak = KeycloakAdmin::connect().await;
    let username = keycloak.create_user().await;
    let mut laptop = Browser::signed_in(&app, &username, LAPTOP).await;
    let _phone = Browser::signed_in(&app, &username, PHONE).await;
    let _tablet = Browser::signed_in(&app, &username, PHONE).await;
    let token = laptop.csrf_token().await;

    let answer = laptop.post_form("/sessions/revoke-all", &[("csrf_token", &token)]).await;
    // The laptop's own Keycloak session ends through the logout redirect it is sent to.
    let others_ended =
        eventually(Duration::from_secs(10), || async { keycloak.session_ids(&username).await.len() == 1 }).await;
    keycloak.delete_user(&username).await;

    assert_eq!(answer.status, Status::SeeOther, "{}", answer.body);
    assert!(answer.location.as_deref().is_some_and(|to| to.starts_with(&keycloak_issuer())), "{:?}", answer.location);
    assert!(others_ended, "the other devices' Keycloak sessions were not ended");
}

/// Starts a sign-in with the stand-in at `login`, lets `forge` decide the ID token for
/// the flow's nonce, and returns the callback's answer.
async fn stand_in_sign_in(app: &Client, idp: &FakeIdp, login: &str, forge: impl FnOnce(&FakeIdp, &str)) -> Page {
    let mut browser = Browser::new(app, "test");
    let started = browser.get(login).await;
    assert_eq!(started.status, Status::SeeOther, "{}", started.body);
    let authorize = url::Url::parse(&started.location.expect("location")).expect("authorize URL");
    let param = |name: &str| authorize.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    if login.contains("max_age=") {
        assert!(param("max_age").is_some(), "max_age passed on: {authorize}");
    }
    let (state, nonce) = (param("state").expect("state"), param("nonce").expect("nonce"));
    forge(idp, &nonce);
    browser.get(&format!("/auth/callback?state={state}&code=fake-code")).await
}

#[tokio::test]
async fn a_sign_in_that_asked_for_a_recent_authentication_refuses_a_missing_or_stale_auth_time() {
    let (db, idp, app) = setup(json!({})).await;
    let login = "/auth/login?provider=fake&max_age=600&return_to=/";
    let now = chrono::Utc::now().timestamp();

    let missing =
        stand_in_sign_in(&app, &idp, login, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;
    let stale = stand_in_sign_in(&app, &idp, login, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "auth_time", json!(now - 3600)), Signer::Published)
    })
    .await;
    let sessions_after_refusals = db.count("sessions").await;
    let recent = stand_in_sign_in(&app, &idp, login, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "auth_time", json!(now - 30)), Signer::Published)
    })
    .await;

    for refused in [&missing, &stale] {
        assert_eq!(refused.status, Status::BadRequest, "{}", refused.body);
        assert!(refused.body.contains("invalid_id_token"), "{}", refused.body);
    }
    assert_eq!(sessions_after_refusals, 0);
    assert_eq!(recent.status, Status::SeeOther, "{}", recent.body);
    assert_eq!(db.count("sessions").await, 1);
}

#[tokio::test]
async fn a_provider_with_acr_values_must_answer_with_one_of_them() {
    let (db, idp, app) = setup(json!({ "acr_values": ["gold"] })).await;
    let login = "/auth/login?provider=fake&return_to=/";

    let none =
        stand_in_sign_in(&app, &idp, login, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;
    let silver = stand_in_sign_in(&app, &idp, login, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "acr", json!("silver")), Signer::Published)
    })
    .await;
    let gold = stand_in_sign_in(&app, &idp, login, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "acr", json!("gold")), Signer::Published)
    })
    .await;

    assert_eq!((none.status, silver.status), (Status::BadRequest, Status::BadRequest));
    assert_eq!(gold.status, Status::SeeOther, "{}", gold.body);
    assert_eq!(db.count("sessions").await, 1);
}

/// The text of the page Chromium shows.
async fn text(browser: &fantoccini::Client) -> String {
    browser.find(Locator::Css("body")).await.expect("body").text().await.expect("text")
}

#[tokio::test]
async fn a_revoked_browser_keeping_every_cookie_but_latchkeys_cannot_get_back_in_without_the_password() {
    let db = TestDb::create().await;
    let port = closed_port();
    let settings =
        without_admin_api(figment(&db)).merge(Serialized::global("auth.base_url", format!("http://127.0.0.1:{port}")));
    let served = Served::start_on(settings, port).await;
    let keycloak = KeycloakAdmin::connect().await;
    let username = keycloak.create_user().await;
    let mut driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&served.url("/")).await.expect("open /");
    log_in_at_keycloak(&browser, &username, &username).await;
    wait_for_url(&browser, &served.url("/")).await;

    // Another device of the same person (on a second instance of the app) revokes this
    // browser's session.
    let mut connection = db.connect().await;
    let session_id: String = sqlx::query_scalar("SELECT id::text FROM sessions")
        .fetch_one(&mut connection)
        .await
        .expect("the browser's session");
    let other_instance = app(without_admin_api(figment(&db))).await;
    let mut laptop = Browser::signed_in(&other_instance, &username, LAPTOP).await;
    revoke_from(&mut laptop, &session_id).await;

    // Every cookie of latchkey's goes (the session and the mark that asks for a login);
    // Keycloak's stay, so Keycloak would sign this browser in silently.
    for cookie in browser.get_all_cookies().await.expect("cookies") {
        if cookie.name().starts_with("latchkey") {
            browser.delete_cookie(cookie.name()).await.expect("delete cookie");
        }
    }
    browser.goto(&served.url("/")).await.expect("open / again");
    wait_for_url(&browser, "/protocol/openid-connect/auth").await;
    let form = browser.wait().at_most(WAIT).for_element(Locator::Id("password")).await;
    screenshot(&browser, "revoked-device-asked-for-password").await;
    let asked = form.is_ok();
    let sessions_before_password = db.count("sessions").await;
    reenter_password_at_keycloak(&browser, &username).await;
    wait_for_url(&browser, &served.url("/")).await;
    let home = text(&browser).await;
    keycloak.delete_user(&username).await;

    assert!(asked, "Keycloak did not ask for the password");
    assert_eq!(sessions_before_password, 1, "only the other device's session");
    assert!(home.contains("Welcome"), "{home}");
}
