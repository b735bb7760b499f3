//! Faults survived with the real services: PostgreSQL stopped and back, a pool
//! exhausted by slow queries, a graceful shutdown, two instances sharing one database,
//! and a signing-key rotation at Keycloak.

mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::keycloak_admin::KeycloakAdmin;
use common::{app, closed_port, eventually, figment, Served, StoppedPostgresql, TestDb};
use figment::providers::Serialized;
use rocket::http::Status;
use sqlx::Connection;

/// These tests stop PostgreSQL or change Keycloak's keys: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_postgresql_outage_is_a_quick_503_and_recovery_needs_no_restart() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("databases.auth.connect_timeout", 2))).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let cookie = alice.session_cookie().cloned();

    let mut stopped = StoppedPostgresql::stop();
    let started = Instant::now();
    let api = alice.get("/api/session").await;
    let answered_in = started.elapsed();
    let page = alice.get("/sessions").await;

    assert_eq!(api.status, Status::ServiceUnavailable);
    assert_eq!(api.json()["error"], "db_unavailable");
    assert!(answered_in < Duration::from_secs(4), "503 took {answered_in:?} (pool timeout 2 s)");
    assert_eq!(page.status, Status::ServiceUnavailable);
    assert!(page.set_cookies.is_empty() && api.set_cookies.is_empty(), "cookies touched during the outage");
    assert_eq!(alice.session_cookie().cloned(), cookie);

    stopped.start();
    let back_at = Instant::now();
    let recovered = eventually(Duration::from_secs(5), || async { alice_ok(&app, &alice).await }).await;
    assert!(recovered, "not serving 5 s after PostgreSQL returned");
    println!("recovered {:?} after PostgreSQL was back", back_at.elapsed());
    assert_eq!(alice.get("/api/session").await.json()["user"]["email"], "alice@example.com");
}

/// The pool pings only connections that sat idle for a second or more; every connection
/// dropped by a restart has, so the restart goes unnoticed by the next requests.
#[tokio::test]
async fn a_postgresql_restart_between_requests_costs_no_request() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("databases.auth.max_connections", 3))).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let pages = ["/", "/api/session", "/sessions"];
    for page in pages {
        assert_eq!(alice.get(page).await.status, Status::Ok, "{page} before the restart");
    }

    let last_request = Instant::now();
    common::restart_postgresql();
    let back =
        eventually(Duration::from_secs(30), || async { sqlx::PgConnection::connect(&db.url).await.is_ok() }).await;
    assert!(back, "PostgreSQL did not come back");
    // A quick restart can take less than the idle time after which the pool checks.
    tokio::time::sleep(Duration::from_millis(1100).saturating_sub(last_request.elapsed())).await;

    // More requests than pooled connections, so that every one of them is used again.
    for round in 0..3 {
        for page in pages {
            let answer = alice.get(page).await;
            assert_eq!(answer.status, Status::Ok, "{page} after the restart (round {round}): {}", answer.body);
        }
    }
    assert!(alice.is_signed_in().await);
}

async fn alice_ok(app: &rocket::local::asynchronous::Client, alice: &Browser<'_>) -> bool {
    Browser::with_cookies(app, alice).get("/api/session").await.status == Status::Ok
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_after_connect_timeout_instead_of_piling_up() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let settings = figment(&db)
        .merge(Serialized::global("databases.auth.max_connections", 2))
        .merge(Serialized::global("databases.auth.connect_timeout", 1));
    let app = app(settings).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;

    // A slow query elsewhere: every session lookup waits for this lock.
    let mut blocker = db.connect().await;
    let mut tx = sqlx::Connection::begin(&mut blocker).await.expect("begin");
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE").execute(&mut *tx).await.expect("lock");
    let started = Instant::now();
    let release = async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        tx.commit().await.expect("release the lock");
    };
    let request =
        || async { (Browser::with_cookies(&app, &alice).get("/api/session").await.status, started.elapsed()) };
    let (results, ()) =
        tokio::join!(async { tokio::join!(request(), request(), request(), request(), request()) }, release);
    let results = [results.0, results.1, results.2, results.3, results.4];

    let unavailable: Vec<_> = results.iter().filter(|(status, _)| *status == Status::ServiceUnavailable).collect();
    let served: Vec<_> = results.iter().filter(|(status, _)| *status == Status::Ok).collect();
    assert_eq!(unavailable.len(), 3, "{results:?}");
    assert_eq!(served.len(), 2, "the two requests holding connections finish once the lock goes: {results:?}");
    for (_, took) in unavailable {
        assert!(*took < Duration::from_millis(2400), "a 503 waited for the slow query: {took:?}");
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let port = closed_port();
    let settings = figment(&db).merge(Serialized::global("auth.base_url", format!("http://127.0.0.1:{port}")));
    let served = Served::start_on(settings.clone(), port).await;
    let session = signed_in_cookie(&settings).await;

    let mut blocker = db.connect().await;
    let mut tx = sqlx::Connection::begin(&mut blocker).await.expect("begin");
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE").execute(&mut *tx).await.expect("lock");
    let url = served.url("/api/session");
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            .header("Cookie", format!("latchkey_session={session}"))
            .send()
            .await
            .map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(served); // asks Rocket to shut down while the request waits on the lock
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.commit().await.expect("release");

    let status = in_flight.await.expect("task").expect("the in-flight request got an answer");
    assert_eq!(status.as_u16(), 200);
    let gone = eventually(Duration::from_secs(10), || async {
        reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_err()
    })
    .await;
    assert!(gone, "the app kept listening after shutdown");
}

/// A session cookie for alice made through an in-process instance on `settings`.
async fn signed_in_cookie(settings: &figment::Figment) -> String {
    let app = app(settings.clone()).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    alice.session_cookie().cloned().expect("cookie")
}

#[tokio::test]
async fn two_instances_share_sessions_and_revocations() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let (port_a, port_b) = (closed_port(), closed_port());
    let on = |port: u16| figment(&db).merge(Serialized::global("auth.base_url", format!("http://127.0.0.1:{port}")));
    let a = Served::start_on(on(port_a), port_a).await;
    let b = Served::start_on(on(port_b), port_b).await;
    // A real browser's cookies belong to the host, whatever the port: one jar for both.
    let laptop = browser_client();
    let phone = browser_client();

    for jar in [&laptop, &phone] {
        let landed = jar.get(a.url("/auth/login")).send().await.expect("login");
        let form = landed.text().await.expect("login page");
        let action = form
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("form action")
            .replace("&amp;", "&");
        let home = jar.post(action).form(&[("username", "alice"), ("password", "alice")]).send().await.expect("post");
        assert_eq!(home.url().as_str(), a.url("/"), "signed in on A");
    }
    assert_eq!(laptop.get(b.url("/api/session")).send().await.expect("B").status(), 200, "A's session works on B");

    let sessions: serde_json::Value =
        phone.get(b.url("/api/sessions")).send().await.expect("list").json().await.expect("json");
    let csrf = sessions["csrf_token"].as_str().expect("csrf").to_string();
    let laptop_id =
        sessions["sessions"].as_array().expect("list").iter().find(|s| s["current"] == false).expect("other")["id"]
            .as_str()
            .expect("id")
            .to_string();
    let revoked = phone
        .delete(b.url(&format!("/api/sessions/{laptop_id}")))
        .header("Origin", format!("http://127.0.0.1:{port_b}"))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .expect("revoke on B");
    assert_eq!(revoked.status(), 204);

    let refused_on_a = eventually(Duration::from_secs(1), || async {
        laptop.get(a.url("/api/session")).send().await.expect("A").status() == 401
    })
    .await;
    assert!(refused_on_a, "A still accepts a session revoked on B");
    assert_eq!(phone.get(a.url("/api/session")).send().await.expect("A").status(), 200);
}

fn browser_client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).build().expect("client")
}

#[tokio::test]
async fn sign_in_keeps_working_when_keycloak_rotates_its_signing_key() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut before = Browser::new(&app, "test");
    assert_eq!(before.sign_in("alice", "alice", "/").await.status, Status::SeeOther);
    let admin = KeycloakAdmin::connect().await;

    let component = admin.add_signing_key(200).await;
    let mut after = Browser::new(&app, "test");
    let page = after.sign_in("bob", "bob", "/").await;
    admin.remove_component(&component).await;

    assert_eq!(page.status, Status::SeeOther, "sign-in after the rotation: {}", page.body);
    let mut connection = db.connect().await;
    let sealed: String = sqlx::query_scalar(
        "SELECT s.id_token FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'bob@example.com'",
    )
    .fetch_one(&mut connection)
    .await
    .expect("bob's session");
    let id_token = common::dev_keyring().open(&sealed, "sessions.id_token").expect("opens");
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            id_token.split('.').next().expect("header"),
        )
        .expect("base64"),
    )
    .expect("json");
    assert_eq!(header["kid"].as_str(), Some(component.kid.as_str()), "bob's token was signed with the new key");
    assert_eq!(before.get("/api/session").await.status, Status::Ok);
    let _ = connection.close().await;
}
