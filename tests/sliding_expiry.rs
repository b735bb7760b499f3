//! The guard's sliding expiry with NextAuth's semantics, on short durations: no write
//! within update_age, one extension after it (one, however many requests are due at
//! once), expiry after max_age, and an absolute limit that activity never passes. Also:
//! one SQL statement per guarded request, a read.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::browser::Browser;
use common::{app, figment, TestDb};
use figment::providers::Serialized;
use figment::Figment;
use rocket::http::Status;
use sqlx::Row;

fn short(db: &TestDb, max_age: &str, update_age: &str, absolute: &str) -> Figment {
    figment(db)
        .merge(Serialized::global("auth.session.max_age", max_age))
        .merge(Serialized::global("auth.session.update_age", update_age))
        .merge(Serialized::global("auth.session.absolute_max_age", absolute))
        .merge(Serialized::global("auth.session.activity_interval", "1h"))
}

/// The row's version (xmin changes with every write) and its sliding expiry.
async fn row_version(db: &TestDb) -> (String, DateTime<Utc>) {
    let mut connection = db.connect().await;
    let row = sqlx::query("SELECT xmin::text AS version, expires_at FROM sessions")
        .fetch_one(&mut connection)
        .await
        .expect("one session");
    (row.get("version"), row.get("expires_at"))
}

#[tokio::test]
async fn requests_within_update_age_write_nothing() {
    let db = TestDb::create().await;
    let app = app(short(&db, "1h", "30m", "2h")).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let before = row_version(&db).await;

    for _ in 0..10 {
        let page = alice.get("/api/session").await;
        assert_eq!(page.status, Status::Ok);
        assert!(page.set_cookies.is_empty(), "no cookie refresh without an extension");
    }

    assert_eq!(row_version(&db).await, before, "a request within update_age wrote to the row");
}

#[tokio::test]
async fn a_request_after_update_age_extends_once_and_refreshes_the_cookie() {
    let db = TestDb::create().await;
    let app = app(short(&db, "6s", "2s", "1h")).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let (version, expires) = row_version(&db).await;
    tokio::time::sleep(Duration::from_millis(2300)).await;

    let extending = alice.get("/api/session").await;
    let after_extension = row_version(&db).await;
    let settled = alice.get("/api/session").await;

    assert_eq!(extending.status, Status::Ok);
    assert_ne!(after_extension.0, version, "the extension is a write");
    assert!(after_extension.1 > expires + chrono::Duration::milliseconds(2000), "expires_at moved ~2.3s later");
    let cookie = extending.set_cookies.iter().find(|c| c.starts_with("latchkey_session=")).expect("cookie refreshed");
    assert!(cookie.contains("Max-Age=5") || cookie.contains("Max-Age=6"), "{cookie}");
    assert_eq!(settled.status, Status::Ok);
    assert_eq!(row_version(&db).await, after_extension, "the next request does not write again");
}

#[tokio::test]
async fn an_idle_session_expires_after_max_age_and_its_row_is_deleted() {
    let db = TestDb::create().await;
    let app = app(short(&db, "2s", "1s", "1h")).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let api = alice.get("/api/session").await;
    let page = alice.get("/").await;

    assert_eq!(api.status, Status::Unauthorized);
    assert!(
        api.set_cookies.iter().any(|c| c.starts_with("latchkey_session=;")),
        "stale cookie cleared: {:?}",
        api.set_cookies
    );
    assert_eq!(page.status, Status::SeeOther);
    let mut connection = db.connect().await;
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions").fetch_one(&mut connection).await.expect("count");
    assert_eq!(left, 0, "the expired row met by the guard is deleted");
}

#[tokio::test]
async fn constant_activity_never_passes_the_absolute_limit() {
    let db = TestDb::create().await;
    let app = app(short(&db, "2s", "1s", "4s")).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let started = tokio::time::Instant::now();

    let mut last_ok = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(6) {
        if alice.get("/api/session").await.status == Status::Ok {
            last_ok = started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    assert!(last_ok > Duration::from_millis(2500), "activity kept the session past max_age ({last_ok:?})");
    assert!(last_ok < Duration::from_millis(4300), "the session outlived its absolute limit ({last_ok:?})");
    assert_eq!(alice.get("/api/session").await.status, Status::Unauthorized);
}

/// Calls of writing statements in this database so far (pg_stat_statements).
async fn writes(connection: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND (query ILIKE '%UPDATE%' OR query ILIKE '%DELETE%' OR query ILIKE '%INSERT%')
            AND query NOT LIKE '%pg_stat_statements%'",
    )
    .fetch_one(connection)
    .await
    .expect("pg_stat_statements")
}

/// Calls and rows of the extension statement in this database so far.
async fn extensions(connection: &mut sqlx::PgConnection) -> (i64, i64) {
    sqlx::query_as(
        "SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(rows), 0)::bigint FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query LIKE '%SET expires_at = CASE%'",
    )
    .fetch_one(connection)
    .await
    .expect("pg_stat_statements")
}

#[tokio::test]
async fn without_the_cache_a_guarded_request_is_one_sql_statement() {
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("auth.session.cache", false))).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    alice.get("/api/session").await;
    let mut connection = db.connect().await;
    let statements = "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
                       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                         AND query NOT LIKE '%pg_stat_statements%'";
    let before: i64 = sqlx::query_scalar(statements).fetch_one(&mut connection).await.expect("pg_stat_statements");
    let writes_before = writes(&mut connection).await;

    const REQUESTS: i64 = 20;
    for _ in 0..REQUESTS {
        assert_eq!(alice.get("/api/session").await.status, Status::Ok);
    }

    let after: i64 = sqlx::query_scalar(statements).fetch_one(&mut connection).await.expect("pg_stat_statements");
    assert_eq!(
        after - before,
        REQUESTS,
        "statements per guarded request: {}",
        (after - before) as f64 / REQUESTS as f64
    );
    let writes_after = writes(&mut connection).await;
    assert_eq!(writes_after, writes_before, "the steady-state statement is a plain read");
}

#[tokio::test]
async fn many_requests_due_at_once_extend_the_session_exactly_once() {
    let db = TestDb::create().await;
    let app = app(short(&db, "1h", "1s", "2h")).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let (_, before) = row_version(&db).await;
    let (calls_before, rows_before) = extensions(&mut db.connect().await).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let requests = (0..16).map(|_| async { Browser::with_cookies(&app, &alice).get("/api/session").await });
    let pages = rocket::futures::future::join_all(requests).await;

    assert!(pages.iter().all(|page| page.status == Status::Ok));
    let refreshed = pages.iter().filter(|page| !page.set_cookies.is_empty()).count();
    let (calls, rows) = extensions(&mut db.connect().await).await;
    let (calls, rows) = (calls - calls_before, rows - rows_before);
    assert!(calls >= 1, "nobody tried to extend");
    assert_eq!(rows, 1, "{calls} requests were due, and exactly one extended");
    assert_eq!(refreshed, 1, "one response refreshed the cookie");
    assert!(row_version(&db).await.1 > before + chrono::Duration::seconds(1), "expires_at moved on");
}

#[tokio::test]
async fn two_sign_ins_make_two_sessions_of_one_user_and_bob_sees_only_his_own() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::new(&app, "laptop");
    let mut phone = Browser::new(&app, "phone");
    let mut bob = Browser::new(&app, "bob");

    laptop.sign_in("alice", "alice", "/").await;
    phone.sign_in("alice", "alice", "/").await;
    bob.sign_in("bob", "bob", "/").await;

    let mut connection = db.connect().await;
    let per_user: Vec<(String, i64)> = sqlx::query_as(
        "SELECT u.email, count(s.id) FROM users u JOIN sessions s ON s.user_id = u.id GROUP BY u.email ORDER BY u.email",
    )
    .fetch_all(&mut connection)
    .await
    .expect("sessions per user");
    assert_eq!(per_user, vec![("alice@example.com".into(), 2), ("bob@example.com".into(), 1)]);
    assert_ne!(laptop.session_cookie(), phone.session_cookie(), "a fresh token at every sign-in");
    let home = bob.get("/").await;
    let api = bob.get("/api/session").await.json();
    assert!(home.body.contains("Bob Builder") && !home.body.contains("alice"), "{}", home.body);
    assert_eq!(api["user"]["email"], "bob@example.com");
    assert_eq!(laptop.get("/api/session").await.json()["user"]["email"], "alice@example.com");
}
