//! Nothing secret reaches the logs: everything latchkey logs, and what Rocket's own
//! channel passes as the reference app routes it, through a sign-in, a session
//! extension, a revoke, a signed-out visit with a query and a sign-out, is captured and
//! searched for tokens, cookies, codes, keys and query strings.

mod common;

/// The reference app's logging; the test logs everything (TRACE), not the app's filter.
#[allow(dead_code)]
#[path = "../src/app/logging.rs"]
mod logging;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::browser::Browser;
use common::{app, dev_keyring, figment, query_param, TestDb};
use figment::providers::Serialized;
use rocket::http::Status;
use sqlx::Row;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("buffer").clone()).expect("utf-8 logs")
    }
}

/// Everything logged in this test binary, at every level, and Rocket's channel as the
/// reference app routes it; set up once for all tests here.
fn captured() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .init();
            logging::route_rocket_log().expect("Rocket's log channel");
            captured
        })
        .clone()
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_cookies_and_secrets_never_appear_in_the_logs() {
    let captured = captured();

    let db = TestDb::create().await;
    let settings = figment(&db)
        .merge(Serialized::global("auth.session.max_age", "1h"))
        .merge(Serialized::global("auth.session.update_age", "1s"));
    let app = app(settings).await;
    let mut laptop = Browser::new(&app, "laptop");
    let mut phone = Browser::new(&app, "phone");

    // Sign in (keeping the authorization code), use, extend, revoke, sign out.
    let authorize = laptop.start_sign_in("/").await;
    let callback = laptop.keycloak_login(&authorize, "alice", "alice").await;
    let code = query_param(&callback, "code");
    let state = query_param(&callback, "state");
    assert_eq!(laptop.follow(&callback).await.status, Status::SeeOther);
    phone.sign_in("alice", "alice", "/").await;
    assert_eq!(laptop.get("/api/session").await.status, Status::Ok);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let extended = laptop.get("/").await;
    assert!(extended.set_cookies.iter().any(|c| c.starts_with("latchkey_session=")), "the session was extended");
    let csrf = laptop.get("/api/csrf").await.json()["csrf_token"].as_str().expect("csrf").to_string();
    let phone_token = phone.session_cookie().cloned().expect("phone cookie");
    let laptop_token = laptop.session_cookie().cloned().expect("laptop cookie");
    assert_eq!(laptop.post_form("/sessions/revoke-others", &[("csrf_token", &csrf)]).await.status, Status::SeeOther);
    let mut connection = db.connect().await;
    let account = sqlx::query("SELECT access_token, refresh_token, id_token FROM accounts")
        .fetch_one(&mut connection)
        .await
        .expect("account");
    let keyring = dev_keyring();
    let mut secrets: Vec<(String, String)> = ["access_token", "refresh_token", "id_token"]
        .iter()
        .map(|column| {
            let sealed: String = account.get(*column);
            (column.to_string(), keyring.open(&sealed, &format!("accounts.{column}")).expect("opens"))
        })
        .collect();
    let out = laptop.post_form("/auth/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(out.status, Status::SeeOther);
    // A guard that forwards: Rocket reports the unmatched request, query and all.
    let stranger = Browser::new(&app, "stranger").get("/?page=2&secret=abc").await;
    assert_eq!(stranger.status, Status::SeeOther);

    secrets.extend([
        ("laptop cookie".to_string(), laptop_token),
        ("phone cookie".to_string(), phone_token),
        ("csrf token".to_string(), csrf),
        ("authorization code".to_string(), code),
        ("state".to_string(), state),
        ("client secret".to_string(), "latchkey-test-secret".to_string()),
        ("secret_key".to_string(), "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=".to_string()),
        ("encryption key".to_string(), "bGF0Y2hrZXktZGV2LWtleS1ub3Qtc2VjcmV0LTMyYiE=".to_string()),
        ("any JWT".to_string(), "eyJ".to_string()),
    ]);
    let logs = captured.text();

    assert!(logs.contains("signed in") && logs.contains("signed out"), "the capture works: {logs}");
    assert!(logs.contains("path=/auth/callback"), "requests are logged, without their query: {logs}");
    assert!(logs.contains("route=/auth/callback"), "requests carry their route template: {logs}");
    assert!(logs.contains("No matching routes for GET /"), "Rocket's channel is captured: {logs}");
    assert!(!logs.contains("secret=abc") && !logs.contains("page=2"), "a query string reached the logs: {logs}");
    for (what, secret) in &secrets {
        assert!(secret.len() >= 3, "{what} is empty");
        assert!(!logs.contains(secret.as_str()), "the {what} appears in the logs");
    }
}

/// A JWT with this header and payload, signed by the test key B.
fn forged_token(header: jsonwebtoken::Header, claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("fixtures/test-signer-b.pem")).expect("test key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

#[tokio::test]
async fn values_from_outside_cannot_write_lines_of_their_own_into_the_log() {
    let captured = captured();
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut stranger = Browser::new(&app, "stranger");
    let now = chrono::Utc::now().timestamp();
    let claims =
        |iss: &str| serde_json::json!({ "iss": iss, "aud": "latchkey-test", "iat": now, "exp": now + 60, "jti": "j" });
    let forged_issuer = forged_token(
        jsonwebtoken::Header { kid: Some("k".into()), ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256) },
        claims("https://x.example\nFORGED issuer line"),
    );
    let forged_kid = forged_token(
        jsonwebtoken::Header {
            kid: Some("k\r\nFORGED kid line".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256)
        },
        claims(&common::keycloak_issuer()),
    );
    let authorize = stranger.start_sign_in("/").await;
    let state = query_param(&authorize, "state");

    for token in [forged_issuer, forged_kid] {
        let body = url::form_urlencoded::Serializer::new(String::new()).append_pair("logout_token", &token).finish();
        let page = stranger.send(rocket::http::Method::Post, "/auth/backchannel-logout", Some(body), &[]).await;
        assert_eq!(page.status, Status::BadRequest, "{}", page.body);
    }
    let page = stranger.get(&format!("/auth/callback?state={state}&error=x%0AFORGED+error+line")).await;
    assert_eq!(page.status, Status::BadRequest);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let logs = captured.text();
    assert!(logs.contains("FORGED issuer line") && logs.contains("FORGED kid line"), "the refusals are logged: {logs}");
    for line in logs.lines() {
        assert!(!line.starts_with("FORGED"), "a value from outside began a log line of its own: {line:?}");
    }
}
