//! Outages of the real PostgreSQL and Keycloak: `/healthz` and `/readyz`, an IdP that is
//! unreachable at start or comes back, and signed-in people during either outage.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::fake_idp::{FakeIdp, Signer};
use common::pg_proxy::PgProxy;
use common::{app, client, closed_port, eventually, figment, keycloak_issuer, FrozenKeycloak, TestDb, KEYCLOAK};
use figment::providers::Serialized;
use rocket::futures::future::join_all;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

async fn readyz(app: &Client) -> (Status, Value) {
    let response = app.get("/readyz").dispatch().await;
    let status = response.status();
    let body = response.into_json::<Value>().await.expect("readyz answers JSON");
    (status, body)
}

#[tokio::test]
async fn ready_when_database_and_identity_provider_are_up() {
    let _keycloak = KEYCLOAK.lock().await;
    let db = TestDb::create().await;
    let app = client(figment(&db)).await;

    let ready = eventually(Duration::from_secs(20), || async { readyz(&app).await.0 == Status::Ok }).await;

    let (_, body) = readyz(&app).await;
    assert!(ready, "readyz never turned 200: {body}");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(body["checks"]["providers"]["keycloak"]["status"], "up");
}

#[tokio::test]
async fn starts_and_reports_the_idp_down_when_its_port_is_closed() {
    let db = TestDb::create().await;
    let issuer = format!("http://127.0.0.1:{}/realms/latchkey", closed_port());
    let app = client(figment(&db).merge(Serialized::global("auth.providers.keycloak.issuer", issuer))).await;

    let health = app.get("/healthz").dispatch().await;
    assert_eq!(health.status(), Status::Ok);
    // Give discovery time to fail at least once; it must stay down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = readyz(&app).await;

    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "up");
    // Statuses only: why it is down (hosts, ports) is for the log, not for whoever asks.
    assert_eq!(
        body,
        json!({ "status": "unavailable", "checks": { "database": { "status": "up" }, "providers": { "keycloak": { "status": "down" } } } })
    );
}

#[tokio::test]
async fn readiness_returns_without_restart_when_the_idp_comes_back() {
    let _keycloak = KEYCLOAK.lock().await;
    let db = TestDb::create().await;
    let mut frozen = FrozenKeycloak::freeze();
    let app = client(figment(&db)).await;

    let (status, body) = readyz(&app).await;
    assert_eq!(status, Status::ServiceUnavailable, "{body}");
    assert_eq!(body["checks"]["providers"]["keycloak"]["status"], "down");
    assert_eq!(app.get("/healthz").dispatch().await.status(), Status::Ok);
    // Let at least one discovery attempt time out against the hung IdP (5 s) before it
    // returns.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(readyz(&app).await.0, Status::ServiceUnavailable);

    frozen.thaw();
    let recovered = eventually(Duration::from_secs(40), || async { readyz(&app).await.0 == Status::Ok }).await;

    assert!(recovered, "readyz stayed 503 after Keycloak came back: {}", readyz(&app).await.1);
}

#[tokio::test]
async fn signed_in_people_keep_browsing_while_keycloak_is_down_and_sign_in_answers_503() {
    let _keycloak = KEYCLOAK.lock().await;
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let mut frozen = FrozenKeycloak::freeze();

    let home = alice.get("/").await;
    let api = alice.get("/api/session").await;
    let mut newcomer = Browser::new(&app, "test");
    let login = newcomer.get("/auth/login").await;
    let login_api = app.get("/auth/login").header(rocket::http::Accept::JSON).dispatch().await;
    let login_api_status = login_api.status();
    let login_api_body: Value = login_api.into_json().await.expect("JSON error");
    frozen.thaw();

    assert_eq!(home.status, Status::Ok);
    assert_eq!(api.status, Status::Ok);
    assert_eq!(login.status, Status::ServiceUnavailable);
    assert!(login.body.contains("idp_unavailable"), "{}", login.body);
    assert_eq!(login_api_status, Status::ServiceUnavailable);
    assert_eq!(login_api_body["error"], "idp_unavailable");
    // And sign-in works again once Keycloak is back (its answer is reused for seconds).
    let back = eventually(Duration::from_secs(15), || async {
        Browser::new(&app, "test").get("/auth/login").await.status == Status::SeeOther
    })
    .await;
    assert!(back, "sign-in stayed unavailable after Keycloak came back");
    let page = newcomer.sign_in("bob", "bob", "/").await;
    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
}

#[tokio::test]
async fn a_database_outage_answers_503_and_keeps_the_cookie() {
    let _keycloak = KEYCLOAK.lock().await;
    let db = TestDb::create().await;
    let proxy = PgProxy::start().await;
    let app = app(figment(&db).merge(Serialized::global("databases.auth.url", proxy.url(&db.url)))).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let cookie = alice.session_cookie().cloned();

    proxy.cut();
    let api = alice.get("/api/session").await;
    let page = alice.get("/").await;
    let (ready, body) = readyz(&app).await;

    assert_eq!(api.status, Status::ServiceUnavailable);
    assert_eq!(api.json()["error"], "db_unavailable");
    assert_eq!(page.status, Status::ServiceUnavailable);
    assert!(page.body.contains("db_unavailable") && page.body.contains("still signed in"), "{}", page.body);
    assert!(api.set_cookies.is_empty() && page.set_cookies.is_empty(), "the cookie was touched during an outage");
    assert_eq!(alice.session_cookie().cloned(), cookie);
    assert_eq!(ready, Status::ServiceUnavailable);
    assert_eq!(body["checks"]["database"], json!({ "status": "down" }), "statuses only: {body}");

    proxy.restore().await;
    let back =
        eventually(Duration::from_secs(10), || async { app.get("/readyz").dispatch().await.status() == Status::Ok })
            .await;
    assert!(back, "the pool did not recover");
    assert_eq!(alice.get("/api/session").await.status, Status::Ok, "the session survived the outage");
}

/// Strangers who post forged back-channel tokens (each naming a key nobody knows, which
/// would have latchkey fetch the JWKS), forged callbacks and sign-ins while Keycloak
/// hangs: none of that work holds a database connection, and key fetches are one at a
/// time, so signed-in people keep getting their pages from a pool of four.
#[tokio::test]
async fn strangers_against_a_frozen_keycloak_do_not_starve_signed_in_people_of_connections() {
    let _keycloak = KEYCLOAK.lock().await;
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": keycloak_issuer(), "aud": "latchkey-test", "iat": now, "exp": now + 120, "sub": "someone",
        "jti": "forged", "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    let token = FakeIdp::sign(claims.as_object().expect("claims"), Signer::Unpublished, "logout+jwt");
    let frozen = FrozenKeycloak::freeze();

    let client = &app;
    let backchannel = (0..50).map(|_| async {
        let body = format!("logout_token={token}");
        client.post("/auth/backchannel-logout").header(ContentType::Form).body(body).dispatch().await.status()
    });
    let callbacks = (0..50)
        .map(|i| async move { client.get(format!("/auth/callback?state=forged{i}&code=x")).dispatch().await.status() });
    let logins = (0..20).map(|_| async { app.get("/auth/login").dispatch().await.status() });
    let signed_in = async {
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(Browser::with_cookies(&app, &alice).get("/api/session").await.status);
        }
        statuses
    };
    let (alice_saw, strangers) = tokio::join!(signed_in, async {
        let (a, b, c) = tokio::join!(join_all(backchannel), join_all(callbacks), join_all(logins));
        a.into_iter().chain(b).chain(c).collect::<Vec<Status>>()
    });
    drop(frozen);

    assert!(alice_saw.iter().all(|status| *status == Status::Ok), "{alice_saw:?}");
    assert!(strangers.iter().all(|status| status.code == 400 || status.code == 503), "{strangers:?}");
}

#[tokio::test]
async fn keycloak_unreachable_during_a_refresh_is_503_and_the_session_is_kept() {
    let _keycloak = KEYCLOAK.lock().await;
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let mut connection = db.connect().await;
    sqlx::query("UPDATE sessions SET access_expires_at = now()").execute(&mut connection).await.expect("expire");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut frozen = FrozenKeycloak::freeze();

    let account = alice.get("/account").await;
    let home = alice.get("/").await;
    frozen.thaw();

    assert_eq!(account.status, Status::ServiceUnavailable, "{}", account.body);
    assert!(account.body.contains("idp_unavailable"), "{}", account.body);
    assert_eq!(home.status, Status::Ok, "the session is kept");
    // Back again, the refresh goes through.
    let back = eventually(Duration::from_secs(20), || async {
        Browser::with_cookies(&app, &alice).get("/account").await.status == Status::Ok
    })
    .await;
    assert!(back, "the account page stayed unavailable after Keycloak came back");
}
