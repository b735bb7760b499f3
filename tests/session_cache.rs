//! The session cache (`auth.session.cache`): once a session is cached a guarded request
//! costs no statement, and a revocation anywhere (another instance, psql) still ends the
//! session on every instance within moments, also across a lost listener connection and
//! a PostgreSQL restart, after which nothing stale is served.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::{app, eventually, figment, TestDb};
use figment::providers::Serialized;
use figment::Figment;
use rocket::http::Status;
use rocket::local::asynchronous::Client;

/// Tests here restart PostgreSQL or end its connections; one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn cached(db: &TestDb) -> Figment {
    figment(db).merge(Serialized::global("auth.session.cache", true))
}

/// Long enough for the listener to connect and its first heartbeats to come back.
async fn in_step() {
    tokio::time::sleep(Duration::from_millis(800)).await;
}

/// Statements run in this database so far, leaving out the cache's heartbeats.
async fn statements(db: &TestDb) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%pg_notify%'",
    )
    .fetch_one(&mut db.connect().await)
    .await
    .expect("pg_stat_statements")
}

async fn status(app: &Client, signed_in: &Browser<'_>) -> Status {
    Browser::with_cookies(app, signed_in).get("/api/session").await.status
}

async fn delete_sessions_by_hand(db: &TestDb) {
    sqlx::query("DELETE FROM sessions").execute(&mut db.connect().await).await.expect("delete");
}

#[tokio::test]
async fn a_cached_session_costs_no_statement_per_request() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let app = app(cached(&db)).await;
    let alice = Browser::signed_in(&app, "alice", "test").await;
    in_step().await;
    assert_eq!(status(&app, &alice).await, Status::Ok);
    let before = statements(&db).await;

    for _ in 0..20 {
        assert_eq!(status(&app, &alice).await, Status::Ok);
    }

    assert_eq!(statements(&db).await - before, 0, "a cached session still cost statements");
}

#[tokio::test]
async fn a_delete_typed_in_psql_ends_the_session_on_every_instance() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let instance_a = app(cached(&db)).await;
    let instance_b = app(cached(&db)).await;
    let alice = Browser::signed_in(&instance_a, "alice", "test").await;
    in_step().await;
    assert_eq!(status(&instance_a, &alice).await, Status::Ok);
    assert_eq!(status(&instance_b, &alice).await, Status::Ok);

    delete_sessions_by_hand(&db).await;

    for instance in [&instance_a, &instance_b] {
        let refused =
            eventually(Duration::from_secs(1), || async { status(instance, &alice).await == Status::Unauthorized })
                .await;
        assert!(refused, "an instance still serves a session deleted in psql");
    }
}

/// Every request during `window` is refused.
async fn always_refused(app: &Client, alice: &Browser<'_>, window: Duration) {
    let until = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < until {
        assert_eq!(status(app, alice).await, Status::Unauthorized, "a revoked session was served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn no_revoked_session_is_served_once_the_listener_lost_its_connection_or_after_it_reconnects() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let app = app(cached(&db)).await;
    let alice = Browser::signed_in(&app, "alice", "test").await;
    in_step().await;
    assert_eq!(status(&app, &alice).await, Status::Ok);

    // The listener's connection ends; the session is deleted while its notice is lost.
    let mut admin = db.connect().await;
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'latchkey-listener' AND datname = current_database()",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminate the listener");
    assert_eq!(ended, [true], "one listener");
    delete_sessions_by_hand(&db).await;

    // Trusted at most a second past the last heartbeat; then, and after reconnecting,
    // the database decides.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    always_refused(&app, &alice, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn no_revoked_session_is_served_after_postgresql_restarts() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let app = app(cached(&db)).await;
    let alice = Browser::signed_in(&app, "alice", "test").await;
    in_step().await;
    assert_eq!(status(&app, &alice).await, Status::Ok);

    common::restart_postgresql();
    let back = eventually(Duration::from_secs(30), || async {
        sqlx::query("DELETE FROM sessions").execute(&mut db.connect().await).await.is_ok()
    })
    .await;
    assert!(back, "PostgreSQL did not come back");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    always_refused(&app, &alice, Duration::from_secs(2)).await;
}

/// The listener's server process, stopped (its connection stays open, but no notice
/// reaches the app: a silent cut) until dropped.
struct DeafListener(String);

impl DeafListener {
    async fn stop(db: &TestDb) -> DeafListener {
        let pid: i32 = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'latchkey-listener' AND datname = current_database()",
        )
        .fetch_one(&mut db.connect().await)
        .await
        .expect("the listener's backend");
        let pid = pid.to_string();
        let stopped = std::process::Command::new("kill").args(["-STOP", &pid]).status().expect("kill");
        assert!(stopped.success());
        DeafListener(pid)
    }
}

impl Drop for DeafListener {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-CONT", &self.0]).status();
    }
}

#[tokio::test]
async fn a_listener_cut_off_silently_stops_being_trusted_within_a_second() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let app = app(cached(&db)).await;
    let alice = Browser::signed_in(&app, "alice", "test").await;
    in_step().await;
    assert_eq!(status(&app, &alice).await, Status::Ok);

    let deaf = DeafListener::stop(&db).await;
    delete_sessions_by_hand(&db).await;
    // No notice arrives, and no heartbeat comes back: after a second the database decides.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    always_refused(&app, &alice, Duration::from_millis(1500)).await;
    drop(deaf);

    always_refused(&app, &alice, Duration::from_secs(1)).await;
}

/// Calls and rows of the activity stamp's statement in this database so far.
async fn stamps(db: &TestDb) -> (i64, i64) {
    sqlx::query_as(
        "SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(rows), 0)::bigint FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query LIKE '%last_seen_at = now()%'",
    )
    .fetch_one(&mut db.connect().await)
    .await
    .expect("pg_stat_statements")
}

#[tokio::test]
async fn with_the_cache_the_activity_stamp_keeps_moving_and_is_written_once_per_interval() {
    let db = TestDb::create().await;
    let app = app(cached(&db).merge(Serialized::global("auth.session.activity_interval", "1s"))).await;
    in_step().await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let last_seen = || async {
        let seen: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT last_seen_at FROM sessions")
            .fetch_one(&mut db.connect().await)
            .await
            .expect("last_seen_at");
        seen
    };

    let mut seen = vec![last_seen().await];
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        for _ in 0..5 {
            assert_eq!(alice.get("/api/session").await.status, Status::Ok);
            // Let the stamp's notice reach the cache, as requests spread over time would.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen.push(last_seen().await);
    }
    let (calls, rows) = stamps(&db).await;

    assert!(seen.windows(2).all(|pair| pair[1] > pair[0]), "the stamp stopped moving: {seen:?}");
    assert_eq!(rows, 3, "one stamp per interval");
    assert!(calls <= 4, "stamp writes that wrote nothing were retried: {calls} calls for {rows} rows");
}
