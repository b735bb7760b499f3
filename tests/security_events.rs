//! The security event trail against the real PostgreSQL and Keycloak (the stand-in
//! provider only for back-channel logout tokens): each sign-in, sign-out, revocation,
//! admin action, back-channel logout and refused refresh recorded once with its fields
//! and nothing secret; swept after its retention; shown as "Recent activity" on the
//! sessions page (in Chromium too), in the JSON API and in the admin console; and the
//! new-device notice, once, with its hook event.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::browser::{Browser, Page, APP_ORIGIN};
use common::chromium::{log_in_at_keycloak, screenshot, wait_for_url, ChromeDriver, WAIT};
use common::fake_idp::{setup, sign_in_with, FakeIdp, Signer};
use common::keycloak_admin::KeycloakAdmin;
use common::{app, closed_port, dev_keyring, figment, Served, TestDb};
use fantoccini::Locator;
use figment::providers::Serialized;
use figment::Figment;
use latchkey::{sweep_once, sweep_once_with, Event, Latchkey, Schema, SweepOptions};
use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use rocket::{Orbit, Rocket};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;

const FIREFOX_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME_MAC: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// Every event of the database, oldest first, each as a JSON object of its columns.
async fn events(db: &TestDb) -> Vec<Value> {
    let mut connection = db.connect().await;
    sqlx::query_scalar("SELECT to_jsonb(e) FROM security_events e ORDER BY occurred_at, id")
        .fetch_all(&mut connection)
        .await
        .expect("read events")
}

/// The events of `kind`.
async fn events_of(db: &TestDb, kind: &str) -> Vec<Value> {
    events(db).await.into_iter().filter(|event| event["kind"] == kind).collect()
}

/// The user id of the person signed in on `browser`.
async fn user_id(browser: &mut Browser<'_>) -> String {
    browser.get("/api/session").await.json()["user"]["id"].as_str().expect("user id").to_string()
}

/// An API change request from `browser`, with its Origin and CSRF token.
async fn api_change(browser: &mut Browser<'_>, method: Method, uri: &str) -> Page {
    let token = browser.csrf_token().await;
    browser.send(method, uri, None, &[("Origin", APP_ORIGIN), ("X-CSRF-Token", &token)]).await
}

/// Hooks that keep every event they hear.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Recorder {
    fn heard(&self) -> Vec<Event> {
        self.0.lock().expect("events").clone()
    }
}

#[latchkey::async_trait]
impl latchkey::Hooks for Recorder {
    async fn on_event(&self, event: &Event, _: &Rocket<Orbit>) {
        self.0.lock().expect("events").push(event.clone());
    }
}

/// An app of its own with latchkey and the hooks given.
async fn host_app(figment: Figment, heard: &Recorder) -> Client {
    let rocket = rocket::custom(figment).attach(Latchkey::fairing().hooks(heard.clone()));
    Client::untracked(rocket).await.expect("the app ignites")
}

#[tokio::test]
async fn a_sign_in_is_recorded_once_with_its_device_ip_and_provider() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;

    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;

    let (session_id, alice) = (laptop.current_session_id().await, user_id(&mut laptop).await);
    let all = events(&db).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let event = &all[0];
    assert_eq!(event["kind"], "sign_in");
    assert_eq!(event["user_id"], alice.as_str());
    assert_eq!(event["session_id"], session_id.as_str());
    assert_eq!(event["device"], "Firefox on Linux");
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["provider"], "keycloak");
    assert_eq!((event["admin_id"].clone(), event["new_device"].clone()), (Value::Null, json!(false)));
}

#[tokio::test]
async fn signing_out_is_recorded_once_with_the_session_and_where_from() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let session_id = laptop.current_session_id().await;
    let token = laptop.csrf_token().await;

    let out = laptop.post_form("/auth/logout", &[("csrf_token", &token)]).await;

    assert_eq!(out.status, Status::SeeOther, "{}", out.body);
    let signed_out = events_of(&db, "sign_out").await;
    assert_eq!(signed_out.len(), 1, "{signed_out:#?}");
    assert_eq!(signed_out[0]["session_id"], session_id.as_str());
    assert_eq!(signed_out[0]["device"], "Firefox on Linux");
    assert_eq!(signed_out[0]["ip"], "127.0.0.1");
    assert_eq!(signed_out[0]["provider"], "keycloak");
    assert_eq!(signed_out[0]["admin_id"], Value::Null);
    assert_eq!(events(&db).await.len(), 2, "the sign-in and the sign-out");
}

#[tokio::test]
async fn revoking_one_session_is_recorded_once_with_the_device_it_was_done_from() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut phone = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let phone_id = phone.current_session_id().await;
    let token = laptop.csrf_token().await;

    let revoked = laptop.post_form(&format!("/sessions/{phone_id}/revoke"), &[("csrf_token", &token)]).await;
    let again = laptop.post_form(&format!("/sessions/{phone_id}/revoke"), &[("csrf_token", &token)]).await;

    assert_eq!((revoked.status, again.status), (Status::SeeOther, Status::NotFound));
    let revocations = events_of(&db, "revoke_one").await;
    assert_eq!(revocations.len(), 1, "one event; the revocation that found nothing records none");
    assert_eq!(revocations[0]["session_id"], phone_id.as_str());
    assert_eq!(revocations[0]["device"], "Firefox on Linux", "the device the person acted from");
    assert_eq!(revocations[0]["admin_id"], Value::Null);
    assert_eq!(revocations[0]["user_id"], user_id(&mut laptop).await.as_str());
}

#[tokio::test]
async fn revoking_every_other_session_is_recorded_once_with_how_many() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let _phone = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let _tablet = Browser::signed_in(&app, "alice", CHROME_LINUX).await;

    let answer = api_change(&mut laptop, Method::Post, "/api/sessions/revoke-others").await;

    assert_eq!(answer.json()["revoked"], 2, "{}", answer.body);
    let revocations = events_of(&db, "revoke_others").await;
    assert_eq!(revocations.len(), 1, "{revocations:#?}");
    assert_eq!(revocations[0]["sessions"], 2);
    assert_eq!(revocations[0]["device"], "Firefox on Linux");
    assert_eq!(revocations[0]["admin_id"], Value::Null);
}

#[tokio::test]
async fn signing_out_everywhere_is_recorded_once_with_how_many() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let _phone = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let token = laptop.csrf_token().await;

    let out = laptop.post_form("/sessions/revoke-all", &[("csrf_token", &token)]).await;

    assert_eq!(out.status, Status::SeeOther, "{}", out.body);
    let everywhere = events_of(&db, "revoke_everywhere").await;
    assert_eq!(everywhere.len(), 1, "{everywhere:#?}");
    assert_eq!(everywhere[0]["sessions"], 2);
    assert_eq!(everywhere[0]["device"], "Firefox on Linux");
    assert!(events_of(&db, "sign_out").await.is_empty(), "no sign-out event besides it");
}

#[tokio::test]
async fn an_admins_revocations_are_recorded_as_the_admins_and_the_person_sees_an_administrator() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut admin = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut bob_laptop = Browser::signed_in(&app, "bob", CHROME_MAC).await;
    let mut bob_phone = Browser::signed_in(&app, "bob", CHROME_LINUX).await;
    let (admin_id, bob) = (user_id(&mut admin).await, user_id(&mut bob_laptop).await);
    let phone_session = bob_phone.current_session_id().await;

    let one = api_change(&mut admin, Method::Delete, &format!("/api/admin/users/{bob}/sessions/{phone_session}")).await;
    let seen_by_bob = bob_laptop.get("/api/activity").await.json();
    let page = bob_laptop.get("/sessions").await;
    let all = api_change(&mut admin, Method::Post, &format!("/api/admin/users/{bob}/revoke-all")).await;

    assert_eq!(one.status, Status::NoContent, "{}", one.body);
    assert_eq!(all.json()["revoked"], 1, "{}", all.body);
    let by_admin: Vec<Value> = events(&db).await.into_iter().filter(|event| event["admin_id"] != Value::Null).collect();
    assert_eq!(by_admin.len(), 2, "{by_admin:#?}");
    assert_eq!(
        (by_admin[0]["kind"].clone(), by_admin[1]["kind"].clone()),
        (json!("revoke_one"), json!("revoke_everywhere"))
    );
    for event in &by_admin {
        assert_eq!(event["admin_id"], admin_id.as_str());
        assert_eq!(event["user_id"], bob.as_str(), "the event is the person's");
        assert_eq!(event["device"], "Firefox on Linux", "kept: the admin's own device");
    }
    assert_eq!(by_admin[0]["session_id"], phone_session.as_str());
    assert_eq!(by_admin[1]["sessions"], 1);
    let told = &seen_by_bob["events"][0];
    assert_eq!((told["kind"].clone(), told["by"].clone()), (json!("revoke_one"), json!("admin")), "{seen_by_bob}");
    assert_eq!((told["device"].clone(), told["ip"].clone(), told.get("admin_id")), (Value::Null, Value::Null, None));
    let row = page.body.split("<tr").find(|row| row.contains("data-kind=\"revoke_one\"")).expect("the revocation row");
    assert!(row.contains("An administrator") && !row.contains("Firefox on Linux"), "{row}");
}

#[tokio::test]
async fn a_backchannel_logout_is_recorded_once_for_the_user_whose_sessions_it_ended() {
    let (db, idp, app) = setup(json!({})).await;
    for _ in 0..2 {
        let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;
        assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    }
    let mut alice = Browser::new(&app, FIREFOX_LINUX).for_provider("keycloak");
    assert_eq!(alice.sign_in("alice", "alice", "/").await.status, Status::SeeOther);
    let mut connection = db.connect().await;
    let ended_user: uuid::Uuid = sqlx::query_scalar("SELECT user_id FROM accounts WHERE provider = 'fake'")
        .fetch_one(&mut connection)
        .await
        .expect("the stand-in's user");
    let logout_token = FakeIdp::sign(&idp.logout_claims(), Signer::Published, "logout+jwt");
    let mut server = Browser::new(&app, "Keycloak");
    let body = url::form_urlencoded::Serializer::new(String::new()).append_pair("logout_token", &logout_token).finish();

    let answer = server.send(Method::Post, "/auth/backchannel-logout", Some(body), &[]).await;

    assert_eq!(answer.json()["deleted"], 2, "{}", answer.body);
    let logouts = events_of(&db, "backchannel_logout").await;
    assert_eq!(logouts.len(), 1, "one event for the one user: {logouts:#?}");
    assert_eq!(logouts[0]["provider"], "fake");
    assert_eq!(logouts[0]["sessions"], 2);
    assert_eq!(logouts[0]["user_id"], ended_user.to_string());
    assert!(alice.is_signed_in().await, "alice's session is not the token's");
    assert_eq!((logouts[0]["device"].clone(), logouts[0]["ip"].clone()), (Value::Null, Value::Null));
}

#[tokio::test]
async fn a_refresh_the_provider_refuses_is_recorded_once() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let keycloak = KeycloakAdmin::connect().await;
    let username = keycloak.create_user().await;
    let mut person = Browser::signed_in(&app, &username, FIREFOX_LINUX).await;
    let session_id: uuid::Uuid = person.current_session_id().await.parse().expect("uuid");
    keycloak.logout_user(&username).await;
    let mut connection = db.connect().await;
    sqlx::query("UPDATE sessions SET access_expires_at = now()").execute(&mut connection).await.expect("expire");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let refused = latchkey::access_token(app.rocket(), session_id).await;
    keycloak.delete_user(&username).await;

    assert!(matches!(refused, Err(latchkey::Error::Unauthenticated)), "{:?}", refused.err());
    let ended = events_of(&db, "refresh_refused").await;
    assert_eq!(ended.len(), 1, "{ended:#?}");
    assert_eq!(ended[0]["session_id"], session_id.to_string());
    assert_eq!(ended[0]["provider"], "keycloak");
    assert_eq!(db.count("sessions").await, 0);
}

#[tokio::test]
async fn no_event_keeps_a_token_a_token_hash_a_cookie_or_a_user_agent() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let phone = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let phone_cookie = phone.session_cookie().cloned().expect("phone cookie");
    let laptop_cookie = laptop.session_cookie().cloned().expect("laptop cookie");
    let mut connection = db.connect().await;
    let keyring = dev_keyring();
    let mut secrets: Vec<(String, String)> = Vec::new();
    for row in
        sqlx::query("SELECT encode(token_hash, 'hex') AS hash, id_token, access_token, refresh_token FROM sessions")
            .fetch_all(&mut connection)
            .await
            .expect("sessions")
    {
        secrets.push(("token hash".into(), row.get("hash")));
        for column in ["id_token", "access_token", "refresh_token"] {
            let sealed: String = row.get(column);
            secrets.push((format!("sealed {column}"), sealed.clone()));
            secrets.push((column.into(), keyring.open(&sealed, &format!("sessions.{column}")).expect("opens")));
        }
    }
    let token = laptop.csrf_token().await;
    api_change(&mut laptop, Method::Post, "/api/sessions/revoke-others").await;
    laptop.post_form("/auth/logout", &[("csrf_token", &token)]).await;
    for (name, cookie) in [("laptop cookie", laptop_cookie), ("phone cookie", phone_cookie)] {
        secrets.push((format!("{name} hash"), hex(&Sha256::digest(cookie.as_bytes()))));
        secrets.push((name.into(), cookie));
    }
    secrets.extend([
        ("csrf token".to_string(), token),
        ("any JWT".to_string(), "eyJ".to_string()),
        ("user agent".to_string(), "Gecko/20100101".to_string()),
    ]);

    let all = events(&db).await;

    assert_eq!(all.len(), 4, "two sign-ins, a revocation, a sign-out: {all:#?}");
    let text = Value::Array(all).to_string();
    for (what, secret) in &secrets {
        assert!(secret.len() >= 3, "{what} is empty");
        assert!(!text.contains(secret.as_str()), "the {what} is in security_events: {text}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_sweep_removes_exactly_the_events_past_their_retention() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    for agent in [FIREFOX_LINUX, CHROME_MAC, CHROME_LINUX, FIREFOX_WINDOWS] {
        Browser::signed_in(&app, "alice", agent).await;
    }
    let mut connection = db.connect().await;
    sqlx::query(
        "UPDATE security_events SET occurred_at = now() - CASE device
             WHEN 'Firefox on Linux' THEN interval '100 days' WHEN 'Chrome on Mac OSX' THEN interval '40 days'
             WHEN 'Chrome on Linux' THEN interval '10 days' ELSE interval '0' END",
    )
    .execute(&mut connection)
    .await
    .expect("age the events");
    let pool = db.pool().await;

    let by_default = sweep_once(&pool, &Schema::default(), 1).await.expect("sweep").expect("lock was free");
    let left_by_default = db.count("security_events").await;
    let options = SweepOptions::new(1).security_events_retention(Duration::from_secs(30 * 86_400));
    let by_30_days = sweep_once_with(&pool, &Schema::default(), options).await.expect("sweep").expect("lock was free");

    assert_eq!((by_default.security_events, left_by_default), (1, 3), "90 days by default: only the 100-day-old one");
    assert_eq!(by_30_days.security_events, 1, "then the 40-day-old one");
    let left: Vec<String> =
        events(&db).await.iter().map(|event| event["device"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(left, ["Chrome on Linux", "Firefox on Windows 10"]);
}

#[tokio::test]
async fn the_apps_sweeper_keeps_events_for_the_configured_retention() {
    let db = TestDb::create().await;
    let settings = figment(&db)
        .merge(Serialized::global("auth.security_events.retention", "7d"))
        .merge(Serialized::global("auth.session.sweep_interval", "1s"));
    let app = common::client(settings).await;
    Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let mut connection = db.connect().await;
    sqlx::query("UPDATE security_events SET occurred_at = now() - interval '8 days' WHERE device = 'Firefox on Linux'")
        .execute(&mut connection)
        .await
        .expect("age an event");

    // The second sign-in's event, and with this client (which keeps cookies) the event of
    // the first session it replaced: both from Chrome, both recent.
    let recent = events(&db).await.into_iter().filter(|event| event["device"] == "Chrome on Mac OSX").count();

    let swept =
        common::eventually(Duration::from_secs(10), || async { db.count("security_events").await == recent as i64 })
            .await;

    assert!(swept, "left: {:#?}", events(&db).await);
    assert!(events(&db).await.iter().all(|event| event["device"] == "Chrome on Mac OSX"));
}

#[test]
fn the_retention_is_a_duration_longer_than_zero() {
    let read = |value: &str| {
        let settings = rocket::Config::figment()
            .merge(Serialized::global("auth.providers.keycloak.issuer", "http://127.0.0.1:8080/realms/latchkey"))
            .merge(Serialized::global("auth.security_events.retention", value));
        latchkey::Config::from_figment(&settings).map(|config| config.security_events.retention)
    };

    assert_eq!(read("30d").expect("30 days"), Duration::from_secs(30 * 86_400));
    let zero = read("0s").expect_err("zero is refused").to_string();
    assert!(zero.starts_with("auth.security_events.retention: "), "{zero}");
    assert!(read("soon").is_err());
}

#[tokio::test]
async fn recent_activity_in_json_is_the_persons_own_newest_first() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut phone = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let mut bob = Browser::signed_in(&app, "bob", FIREFOX_LINUX).await;
    let phone_id = phone.current_session_id().await;
    api_change(&mut laptop, Method::Delete, &format!("/api/sessions/{phone_id}")).await;

    let alices = laptop.get("/api/activity").await;
    let bobs = bob.get("/api/activity").await.json();
    let signed_out = Browser::new(&app, FIREFOX_LINUX).get("/api/activity").await;

    assert_eq!(alices.status, Status::Ok, "{}", alices.body);
    let listed = alices.json();
    let kinds: Vec<&str> =
        listed["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["revoke_one", "sign_in", "sign_in"], "{listed}");
    let revoked = &listed["events"][0];
    assert_eq!((revoked["by"].clone(), revoked["session_id"].clone()), (json!("person"), json!(phone_id)));
    assert_eq!((revoked["device"].clone(), revoked["ip"].clone()), (json!("Firefox on Linux"), json!("127.0.0.1")));
    assert_eq!(listed["events"][1]["device"], "Chrome on Mac OSX");
    assert_eq!(listed["limit"], 20);
    let bobs_kinds: Vec<&str> =
        bobs["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(bobs_kinds, ["sign_in"], "only bob's own: {bobs}");
    assert_eq!(signed_out.status, Status::Unauthorized);
}

#[tokio::test]
async fn an_admin_sees_a_users_recent_activity_in_the_console_and_its_json() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut admin = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut bob = Browser::signed_in(&app, "bob", CHROME_MAC).await;
    let bob_id = user_id(&mut bob).await;
    let token = bob.csrf_token().await;
    bob.post_form("/auth/logout", &[("csrf_token", &token)]).await;

    let page = admin.get(&format!("/admin/users/{bob_id}")).await;
    let json = admin.get(&format!("/api/admin/users/{bob_id}/activity")).await;
    let mut bob_again = Browser::signed_in(&app, "bob", CHROME_MAC).await;
    let forbidden = bob_again.get(&format!("/api/admin/users/{bob_id}/activity")).await;

    assert_eq!(page.status, Status::Ok, "{}", page.body);
    assert!(page.body.contains("Recent activity") && page.body.contains("Signed in with keycloak"), "{}", page.body);
    assert!(page.body.contains("data-kind=\"sign_out\"") && page.body.contains("Chrome on Mac OSX"), "{}", page.body);
    let listed = json.json();
    let kinds: Vec<&str> =
        listed["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["sign_out", "sign_in"], "bob's, not alice's: {}", json.body);
    assert_eq!(forbidden.status, Status::Forbidden);
}

#[tokio::test]
async fn recent_activity_shows_on_the_sessions_page_in_a_real_browser() {
    let db = TestDb::create().await;
    let port = closed_port();
    let settings = figment(&db).merge(Serialized::global("auth.base_url", format!("http://127.0.0.1:{port}")));
    let app = Served::start_on(settings, port).await;
    let mut driver = ChromeDriver::start().await;
    let browser = driver.browser_as(CHROME_LINUX).await;

    browser.goto(&app.url("/sessions")).await.expect("open /sessions");
    log_in_at_keycloak(&browser, "alice", "alice").await;
    wait_for_url(&browser, &app.url("/sessions")).await;
    let table = browser.wait().at_most(WAIT).for_element(Locator::Css("table.activity")).await.expect("activity");
    screenshot(&browser, "security-events-recent-activity").await;

    let rows = table.find_all(Locator::Css("tbody tr")).await.expect("rows");
    assert_eq!(rows.len(), 1);
    let text = rows[0].text().await.expect("row text");
    for part in ["Signed in with keycloak", "just now", "Chrome on Linux", "127.0.0.1", "You"] {
        assert!(text.contains(part), "{part} missing from {text:?}");
    }
    let heading = browser.find(Locator::Id("activity-title")).await.expect("heading").text().await.expect("text");
    assert_eq!(heading, "Recent activity");
}

#[tokio::test]
async fn a_sign_in_from_a_new_browser_shows_a_notice_once_on_the_next_page() {
    let db = TestDb::create().await;
    let port = closed_port();
    let settings = figment(&db).merge(Serialized::global("auth.base_url", format!("http://127.0.0.1:{port}")));
    let app = Served::start_on(settings, port).await;
    let mut driver = ChromeDriver::start().await;
    let usual = driver.browser_as(CHROME_LINUX).await;
    let new = driver.browser_as(FIREFOX_WINDOWS).await;
    usual.goto(&app.url("/")).await.expect("open /");
    log_in_at_keycloak(&usual, "alice", "alice").await;
    wait_for_url(&usual, &app.url("/")).await;
    usual.wait().at_most(WAIT).for_element(Locator::Id("home-title")).await.expect("home");
    let first_notice = usual.find_all(Locator::Id("new-device-notice")).await.expect("find").len();

    new.goto(&app.url("/")).await.expect("open /");
    log_in_at_keycloak(&new, "alice", "alice").await;
    wait_for_url(&new, &app.url("/")).await;
    let notice = new.wait().at_most(WAIT).for_element(Locator::Id("new-device-notice")).await.expect("the notice");
    let said = notice.text().await.expect("notice text");
    screenshot(&new, "security-events-new-device-notice").await;
    let link = notice.find(Locator::LinkText("review your sessions")).await.expect("link").attr("href").await;
    new.refresh().await.expect("reload");
    new.wait().at_most(WAIT).for_element(Locator::Id("home-title")).await.expect("home");
    let after_reload = new.find_all(Locator::Id("new-device-notice")).await.expect("find").len();
    new.goto(&app.url("/sessions")).await.expect("open /sessions");
    new.wait().at_most(WAIT).for_element(Locator::Css("table.activity")).await.expect("sessions page");
    let on_sessions_page = new.find_all(Locator::Id("new-device-notice")).await.expect("find").len();
    let badge = new.find_all(Locator::Css("table.activity .badge.warn")).await.expect("find").len();

    assert_eq!(first_notice, 0, "a first sign-in has nothing to compare with");
    assert!(said.contains("New sign-in from Firefox on Windows 10 at "), "{said}");
    assert!(said.contains("If this wasn't you, review your sessions"), "{said}");
    assert_eq!(link.expect("href").as_deref(), Some("/sessions"));
    assert_eq!((after_reload, on_sessions_page), (0, 0), "shown once");
    assert_eq!(badge, 1, "the new-device sign-in is marked in the activity");
}

#[tokio::test]
async fn a_sign_in_from_a_browser_seen_before_is_no_new_device() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut first = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let first_page = first.get("/").await;
    let mut again = Browser::new(&app, FIREFOX_LINUX);
    again.sign_in("alice", "alice", "/").await;

    let next_page = again.get("/").await;

    assert_eq!((first_page.status, next_page.status), (Status::Ok, Status::Ok));
    assert!(!first_page.body.contains("new-device-notice"), "{}", first_page.body);
    assert!(!next_page.body.contains("new-device-notice"), "{}", next_page.body);
    let sign_ins = events_of(&db, "sign_in").await;
    assert_eq!(sign_ins.len(), 2);
    assert!(sign_ins.iter().all(|event| event["new_device"] == false), "{sign_ins:#?}");
}

#[tokio::test]
async fn the_notice_waits_for_a_page_and_only_its_own_session_shows_it() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;

    let api = mac.get("/api/session").await;
    let laptop_page = laptop.get("/").await;
    let first_page = mac.get("/").await;
    let second_page = mac.get("/").await;

    assert!(!api.body.contains("New sign-in"), "JSON carries no notice: {}", api.body);
    assert!(!laptop_page.body.contains("new-device-notice"), "{}", laptop_page.body);
    assert!(first_page.body.contains("id=\"new-device-notice\""), "{}", first_page.body);
    assert!(first_page.body.contains("New sign-in from <strong>Chrome on Mac OSX</strong>"), "{}", first_page.body);
    assert!(!second_page.body.contains("new-device-notice"), "{}", second_page.body);
    let sign_ins = events_of(&db, "sign_in").await;
    assert_eq!((sign_ins[0]["new_device"].clone(), sign_ins[1]["new_device"].clone()), (json!(false), json!(true)));
}

/// How many statements the app has sent this database (pg_stat_statements), this
/// count's aside; not those that triggers run inside them.
async fn statements_run(connection: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND toplevel AND query NOT LIKE '%pg_stat_statements%'",
    )
    .fetch_one(connection)
    .await
    .expect("statements")
}

#[tokio::test]
async fn pages_after_the_notice_cost_one_statement_each() {
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("auth.session.cache", false))).await;
    Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let with_notice = mac.get("/api/csrf").await;
    let mut connection = db.connect().await;

    let before_notice = statements_run(&mut connection).await;
    let shown = mac.get("/api/csrf").await;
    let after_api = statements_run(&mut connection).await;
    mac.get("/").await;
    let after_notice = statements_run(&mut connection).await;
    for _ in 0..5 {
        assert_eq!(mac.get("/").await.status, Status::Ok);
    }
    let after_pages = statements_run(&mut connection).await;

    assert_eq!((with_notice.status, shown.status), (Status::Ok, Status::Ok));
    assert_eq!(after_api - before_notice, 1, "a request that shows no page leaves the notice: one statement");
    assert_eq!(after_notice - after_api, 2, "the page that shows it: the lookup and the write that takes it");
    assert_eq!(after_pages - after_notice, 5, "then one statement per page");
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_tells_the_hooks_once() {
    let db = TestDb::create().await;
    let heard = Recorder::default();
    let app = host_app(figment(&db), &heard).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;

    let (alice, mac_session) = (user_id(&mut laptop).await, mac.current_session_id().await);
    let new_devices: Vec<Event> =
        heard.heard().into_iter().filter(|event| matches!(event, Event::NewDevice { .. })).collect();
    assert_eq!(new_devices.len(), 1, "{:#?}", heard.heard());
    let Event::NewDevice { user_id, session_id, device, ip } = &new_devices[0] else { unreachable!() };
    assert_eq!((user_id.to_string(), session_id.to_string()), (alice, mac_session));
    assert_eq!(device, "Chrome on Mac OSX");
    assert_eq!(ip.map(|ip| ip.to_string()).as_deref(), Some("127.0.0.1"));
    let order: Vec<bool> = heard
        .heard()
        .iter()
        .filter(|event| matches!(event, Event::SignedIn { .. } | Event::NewDevice { .. }))
        .map(|event| matches!(event, Event::NewDevice { .. }))
        .collect();
    assert_eq!(order, [false, false, true, false], "right after the sign-in it is about");
}

#[tokio::test]
async fn a_session_a_new_sign_in_in_the_same_browser_ends_is_recorded_once() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let before = browser.current_session_id().await;

    // Keycloak's single sign-on answers at once; the app makes a new session.
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.idp_redirect(&authorize).await;
    assert_eq!(browser.follow(&callback).await.status, Status::SeeOther);

    let replaced = events_of(&db, "replaced").await;
    assert_eq!(replaced.len(), 1, "{replaced:#?}");
    assert_eq!(replaced[0]["session_id"], before.as_str());
    assert_eq!(replaced[0]["user_id"], user_id(&mut browser).await.as_str());
    assert_eq!(
        (replaced[0]["device"].clone(), replaced[0]["ip"].clone()),
        (json!("Firefox on Linux"), json!("127.0.0.1"))
    );
    assert_eq!(events_of(&db, "sign_in").await.len(), 2);
}

#[tokio::test]
async fn the_oldest_session_a_new_sign_in_ends_past_the_limit_is_recorded_once() {
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("auth.session.max_per_user", 2))).await;
    let mut first = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let oldest = first.current_session_id().await;
    let _second = Browser::signed_in(&app, "alice", CHROME_MAC).await;

    let mut third = Browser::signed_in(&app, "alice", FIREFOX_WINDOWS).await;

    let evicted = events_of(&db, "evicted").await;
    assert_eq!(evicted.len(), 1, "{evicted:#?}");
    assert_eq!(evicted[0]["session_id"], oldest.as_str());
    assert_eq!(evicted[0]["device"], "Firefox on Windows 10", "where the sign-in that ended it came from");
    let activity = third.get("/api/activity").await.json();
    let kinds: Vec<&str> =
        activity["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"evicted"), "newest first: {kinds:?}");
}
