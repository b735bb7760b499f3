//! The migrations: what they create (in latchkey's own schema, with its own history), that
//! a second run changes nothing, and the switch.

mod common;

use common::browser::Browser;
use common::{app, client, figment, TestDb};
use figment::providers::Serialized;
use rocket::http::Status;
use sqlx::Row;

/// How many migrations latchkey has: the files in `migrations/`.
fn migration_files() -> i64 {
    std::fs::read_dir("migrations").expect("migrations/").filter(|entry| entry.is_ok()).count() as i64
}

async fn applied_migrations(db: &TestDb) -> i64 {
    let mut connection = db.connect().await;
    sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut connection)
        .await
        .expect("count applied migrations")
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_rerun_is_a_no_op() {
    let db = TestDb::create().await;

    db.migrate().await;
    let after_first = applied_migrations(&db).await;
    db.migrate().await;

    assert_eq!(after_first, migration_files());
    assert_eq!(applied_migrations(&db).await, after_first);
}

#[tokio::test]
async fn tables_have_the_designed_columns() {
    let db = TestDb::create().await;
    db.migrate().await;
    let mut connection = db.connect().await;

    let expected: &[(&str, &[(&str, &str)])] = &[
        (
            "users",
            &[
                ("id", "uuid"),
                ("name", "text"),
                ("email", "text"),
                ("email_verified", "timestamp with time zone"),
                ("image", "text"),
                ("extra", "jsonb"),
                ("created_at", "timestamp with time zone"),
                ("updated_at", "timestamp with time zone"),
            ],
        ),
        (
            "accounts",
            &[
                ("id", "uuid"),
                ("user_id", "uuid"),
                ("type", "text"),
                ("provider", "text"),
                ("provider_account_id", "text"),
                ("refresh_token", "text"),
                ("access_token", "text"),
                ("expires_at", "timestamp with time zone"),
                ("token_type", "text"),
                ("scope", "text"),
                ("id_token", "text"),
                ("session_state", "text"),
            ],
        ),
        (
            "sessions",
            &[
                ("id", "uuid"),
                ("token_hash", "bytea"),
                ("user_id", "uuid"),
                ("expires_at", "timestamp with time zone"),
                ("absolute_expires_at", "timestamp with time zone"),
                ("created_at", "timestamp with time zone"),
                ("last_seen_at", "timestamp with time zone"),
                ("user_agent", "text"),
                ("ip", "inet"),
                ("provider", "text"),
                ("idp_sid", "text"),
                ("id_token", "text"),
                ("new_device_notice", "boolean"),
            ],
        ),
        (
            "security_events",
            &[
                ("id", "uuid"),
                ("user_id", "uuid"),
                ("kind", "text"),
                ("occurred_at", "timestamp with time zone"),
                ("session_id", "uuid"),
                ("admin_id", "uuid"),
                ("provider", "text"),
                ("device", "text"),
                ("ip", "inet"),
                ("sessions", "integer"),
                ("new_device", "boolean"),
            ],
        ),
    ];
    for (table, columns) in expected {
        let rows = sqlx::query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = 'latchkey' AND table_name = $1",
        )
        .bind(table)
        .fetch_all(&mut connection)
        .await
        .expect("read columns");
        let actual: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        for (column, data_type) in *columns {
            assert!(
                actual.iter().any(|(name, kind)| name == column && kind == data_type),
                "{table}.{column} {data_type} missing; have {actual:?}"
            );
        }
    }
}

#[tokio::test]
async fn indexes_and_constraints_are_in_place() {
    let db = TestDb::create().await;
    db.migrate().await;
    let mut connection = db.connect().await;

    let indexes: Vec<String> = sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE schemaname = 'latchkey'")
        .fetch_all(&mut connection)
        .await
        .expect("read indexes");
    for wanted in [
        "UNIQUE INDEX users_verified_email_key ON latchkey.users USING btree (lower(email)) WHERE (email_verified IS NOT NULL)",
        "UNIQUE INDEX accounts_provider_account_key ON latchkey.accounts USING btree (provider, provider_account_id)",
        "UNIQUE INDEX sessions_token_hash_key ON latchkey.sessions USING btree (token_hash)",
        "INDEX sessions_user_id_idx ON latchkey.sessions USING btree (user_id)",
        "INDEX sessions_expires_at_idx ON latchkey.sessions USING btree (expires_at)",
        "INDEX sessions_provider_idp_sid_idx ON latchkey.sessions USING btree (provider, idp_sid)",
        "UNIQUE INDEX logout_token_jtis_pkey ON latchkey.logout_token_jtis USING btree (issuer, jti)",
        "INDEX security_events_user_id_idx ON latchkey.security_events USING btree (user_id, occurred_at)",
        "INDEX security_events_occurred_at_idx ON latchkey.security_events USING btree (occurred_at)",
    ] {
        assert!(indexes.iter().any(|index| index.contains(wanted)), "missing index {wanted}; have {indexes:#?}");
    }

    let cascades: Vec<String> = sqlx::query_scalar(
        "SELECT conrelid::regclass::text FROM pg_constraint
         WHERE contype = 'f' AND confrelid = 'users'::regclass AND confdeltype = 'c'",
    )
    .fetch_all(&mut connection)
    .await
    .expect("read foreign keys");
    for table in ["accounts", "sessions", "security_events"] {
        assert!(cascades.contains(&table.to_string()), "{table} does not cascade from users: {cascades:?}");
    }

    // A verified e-mail belongs to one user, whatever its case; an unverified one to nobody.
    sqlx::query("INSERT INTO users (email, email_verified) VALUES ('Alice@Example.com', now())")
        .execute(&mut connection)
        .await
        .expect("insert");
    let duplicate = sqlx::query("INSERT INTO users (email, email_verified) VALUES ('alice@example.COM', now())")
        .execute(&mut connection)
        .await;
    assert!(duplicate.is_err(), "a second user with the same verified e-mail in other case was accepted");
    sqlx::query("INSERT INTO users (email) VALUES ('alice@example.com'), ('ALICE@example.com')")
        .execute(&mut connection)
        .await
        .expect("unverified addresses hold nothing");

    // A session token hash is exactly a SHA-256.
    let user_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM users LIMIT 1").fetch_one(&mut connection).await.expect("user id");
    let short_hash = sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at, absolute_expires_at, provider)
         VALUES ('\\x00', $1, now(), now(), 'keycloak')",
    )
    .bind(user_id)
    .execute(&mut connection)
    .await;
    assert!(short_hash.is_err(), "a token hash that is not 32 bytes was accepted");
}

#[tokio::test]
async fn the_app_migrates_at_ignite() {
    let db = TestDb::create().await;

    let _app = client(figment(&db)).await;

    assert_eq!(applied_migrations(&db).await, migration_files());
}

#[tokio::test]
async fn migrations_can_be_switched_off() {
    let db = TestDb::create().await;

    let _app = client(figment(&db).merge(Serialized::global("auth.run_migrations", false))).await;

    let mut connection = db.connect().await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_one(&mut connection)
    .await
    .expect("count tables");
    let schema: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'latchkey')")
        .fetch_one(&mut connection)
        .await
        .expect("look for the schema");
    assert_eq!((tables, schema), (0, false));
}

#[tokio::test]
async fn a_refused_configuration_stops_the_app_at_ignite() {
    let db = TestDb::create().await;
    let refused = figment(&db).merge(Serialized::global("auth.session.update_age", "90d"));

    let ignited = common::site::rocket(refused).ignite().await;

    let Err(error) = ignited else { panic!("the app ignited with update_age > max_age") };
    assert!(matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)), "{error:?}");
}

#[tokio::test]
async fn latchkeys_tables_and_migration_history_stay_out_of_public() {
    let db = TestDb::create().await;

    let _app = client(figment(&db)).await;

    let mut connection = db.connect().await;
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT schemaname::text, tablename::text FROM pg_tables
          WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )
    .fetch_all(&mut connection)
    .await
    .expect("list tables");
    let expected: Vec<(String, String)> = [
        "_sqlx_migrations",
        "accounts",
        "logout_token_jtis",
        "revoked_idp_sessions",
        "security_events",
        "sessions",
        "users",
    ]
    .iter()
    .map(|table| ("latchkey".to_string(), table.to_string()))
    .collect();
    assert_eq!(tables, expected);
}

#[tokio::test]
async fn a_configured_schema_holds_everything_and_sign_in_works_in_it() {
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("auth.schema", "identity"))).await;
    let mut alice = Browser::new(&app, "test");

    assert_eq!(alice.sign_in("alice", "alice", "/").await.status, Status::SeeOther);
    assert_eq!(alice.get("/api/session").await.status, Status::Ok);
    let token = alice.csrf_token().await;
    let revoked = alice.post_form("/sessions/revoke-all", &[("csrf_token", &token)]).await;

    assert_eq!(revoked.status, Status::SeeOther);
    let mut connection = db.connect().await;
    let rows: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM identity.users), (SELECT count(*) FROM identity.sessions),
                (SELECT count(*) FROM pg_namespace WHERE nspname = 'latchkey')",
    )
    .fetch_one(&mut connection)
    .await
    .expect("count rows");
    assert_eq!(rows, (1, 0, 0), "one user, their session revoked, and no `latchkey` schema");
}
