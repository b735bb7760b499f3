//! The sweeper against the real PostgreSQL: exactly the expired rows go, in batches,
//! one instance at a time, and it survives a PostgreSQL restart.

mod common;

use std::time::Duration;

use common::{app, eventually, figment, TestDb};
use figment::providers::Serialized;
use latchkey::{sweep_once, Schema};
use sqlx::{Connection, PgConnection};

/// The sweep lock: "latchkey" in ASCII (what an operator sees in pg_locks).
const LOCK_KEY: i64 = 0x6c61_7463_686b_6579;

/// Tests here restart PostgreSQL; none may run while another does.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Seeds one user with `expired` dead sessions (half past the sliding expiry, half past
/// the absolute one), `live` live ones, and remembered logout tokens and revoked provider
/// sessions of both kinds.
async fn seed(connection: &mut PgConnection, expired: i64, live: i64) {
    let user: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO users (email) VALUES (gen_random_uuid() || '@example.com') RETURNING id")
            .fetch_one(&mut *connection)
            .await
            .expect("user");
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at, absolute_expires_at, provider)
         SELECT sha256(gen_random_uuid()::text::bytea), $1,
                now() - interval '1 hour',
                CASE WHEN n % 2 = 0 THEN now() - interval '1 hour' ELSE now() + interval '1 day' END,
                'keycloak'
           FROM generate_series(1, $2) AS n",
    )
    .bind(user)
    .bind(expired)
    .execute(&mut *connection)
    .await
    .expect("expired sessions");
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at, absolute_expires_at, provider)
         SELECT sha256(gen_random_uuid()::text::bytea), $1, now() + interval '1 day', now() + interval '2 days', 'keycloak'
           FROM generate_series(1, $2)",
    )
    .bind(user)
    .bind(live)
    .execute(&mut *connection)
    .await
    .expect("live sessions");
    sqlx::query(
        "INSERT INTO logout_token_jtis (issuer, jti, expires_at)
         SELECT 'https://id.example', gen_random_uuid()::text,
                CASE WHEN n <= 5 THEN now() - interval '1 minute' ELSE now() + interval '1 hour' END
           FROM generate_series(1, 8) AS n",
    )
    .execute(&mut *connection)
    .await
    .expect("logout tokens");
    sqlx::query(
        "INSERT INTO revoked_idp_sessions (provider, idp_sid, expires_at)
         SELECT 'keycloak', gen_random_uuid()::text,
                CASE WHEN n <= 6 THEN now() - interval '1 minute' ELSE now() + interval '1 hour' END
           FROM generate_series(1, 9) AS n",
    )
    .execute(&mut *connection)
    .await
    .expect("revoked provider sessions");
}

async fn remaining(connection: &mut PgConnection) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM sessions WHERE expires_at <= now()),
                (SELECT count(*) FROM sessions WHERE expires_at > now()),
                (SELECT count(*) FROM logout_token_jtis),
                (SELECT count(*) FROM revoked_idp_sessions)",
    )
    .fetch_one(&mut *connection)
    .await
    .expect("counts")
}

async fn migrated(db: &TestDb) -> PgConnection {
    db.migrate().await;
    db.connect().await
}

#[tokio::test]
async fn a_sweep_removes_exactly_the_expired_rows_in_bounded_batches() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let mut connection = migrated(&db).await;
    seed(&mut connection, 2_500, 40).await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");

    let report = sweep_once(&pool, &Schema::default(), 1_000).await.expect("sweep").expect("lock was free");

    // 1000 + 1000 + 500 sessions, then one short batch each of logout tokens, of revoked
    // provider sessions and of security events (none old enough).
    let counts = (report.sessions, report.logout_token_jtis, report.idp_revocations, report.batches);
    assert_eq!(counts, (2_500, 5, 6, 6));
    assert_eq!(report.security_events, 0);
    assert_eq!(remaining(&mut connection).await, (0, 40, 3, 3));
}

#[tokio::test]
async fn the_app_sweeps_on_its_interval() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let settings = figment(&db)
        .merge(Serialized::global("auth.session.sweep_interval", "1s"))
        .merge(Serialized::global("auth.session.sweep_batch_size", 100));
    let _app = app(settings).await;
    let mut connection = db.connect().await;
    seed(&mut connection, 350, 7).await;

    let swept =
        eventually(Duration::from_secs(10), || async { remaining(&mut db.connect().await).await == (0, 7, 3, 3) })
            .await;

    assert!(swept, "left: {:?}", remaining(&mut connection).await);
}

#[tokio::test]
async fn no_instance_sweeps_while_another_holds_the_lock() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let settings = figment(&db).merge(Serialized::global("auth.session.sweep_interval", "1s"));
    let _instance_a = app(settings.clone()).await;
    let _instance_b = app(settings).await;
    let mut connection = db.connect().await;
    // This connection plays the instance that is sweeping right now.
    let mut sweeping = PgConnection::connect(&db.url).await.expect("connect");
    // The two instances take the lock for each of their own sweeps (every second, for a
    // few ms): try until it is free.
    let mut held = false;
    for _ in 0..100 {
        held = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut sweeping)
            .await
            .expect("lock");
        if held {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(held, "the instances never left the sweep lock free");
    seed(&mut connection, 20, 2).await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");

    let direct = sweep_once(&pool, &Schema::default(), 1_000).await.expect("sweep");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let during = remaining(&mut connection).await;
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut sweeping).await.expect("unlock");
    let after = eventually(Duration::from_secs(10), || async { remaining(&mut db.connect().await).await.0 == 0 }).await;

    assert_eq!(direct, None, "a sweep ran while the lock was held");
    assert_eq!(during.0, 20, "an instance swept while another held the lock");
    assert!(after, "nobody swept after the lock was released");
}

#[tokio::test]
async fn the_sweeper_keeps_working_across_a_postgresql_restart() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create().await;
    let settings = figment(&db).merge(Serialized::global("auth.session.sweep_interval", "1s"));
    let _app = app(settings).await;
    seed(&mut db.connect().await, 10, 1).await;
    let first = eventually(Duration::from_secs(10), || async { remaining(&mut db.connect().await).await.0 == 0 }).await;
    assert!(first, "no sweep before the restart");

    common::restart_postgresql();
    let back = eventually(Duration::from_secs(30), || async { PgConnection::connect(&db.url).await.is_ok() }).await;
    assert!(back, "PostgreSQL did not come back");
    seed(&mut db.connect().await, 10, 1).await;

    let swept = eventually(Duration::from_secs(15), || async { remaining(&mut db.connect().await).await.0 == 0 }).await;
    assert!(swept, "the sweeper stopped after the restart: {:?}", remaining(&mut db.connect().await).await);
}
