//! Production roles: migrations run as the owner, the app as a role that may only read
//! and write rows (migrations off); and TLS to PostgreSQL with `sslmode=require`.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::{admin_database_url, app, figment, TestDb};
use figment::providers::Serialized;
use rocket::http::Status;
use sqlx::{Connection, Executor, PgConnection};

/// The grants the README documents for the app role, applied by the owner.
const APP_ROLE_GRANTS: &str = "
    GRANT CONNECT ON DATABASE {db} TO {role};
    GRANT USAGE ON SCHEMA latchkey TO {role};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA latchkey TO {role};";

struct AppRole {
    name: String,
}

impl AppRole {
    async fn create(db: &TestDb) -> AppRole {
        let name = format!("latchkey_app_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let mut admin = PgConnection::connect(&admin_database_url()).await.expect("admin");
        sqlx::query(&format!("CREATE ROLE {name} LOGIN PASSWORD 'app-password'"))
            .execute(&mut admin)
            .await
            .expect("role");
        db.migrate().await;
        let mut owner = db.connect().await;
        for statement in APP_ROLE_GRANTS.replace("{db}", &db.name).replace("{role}", &name).split(';') {
            if !statement.trim().is_empty() {
                sqlx::query(statement).execute(&mut owner).await.expect("grant");
            }
        }
        AppRole { name }
    }

    fn url(&self, db: &TestDb) -> String {
        db.url.replacen("latchkey:latchkey@", &format!("{}:app-password@", self.name), 1)
    }

    /// Drops the database, then the role. The app's pool may still be closing its
    /// connections (which the owner may not terminate: they belong to another role).
    async fn drop_after(self, db: TestDb) {
        let mut admin = PgConnection::connect(&admin_database_url()).await.expect("admin");
        let drop_database = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name);
        let dropped = common::eventually(Duration::from_secs(15), || async {
            PgConnection::connect(&admin_database_url())
                .await
                .expect("admin")
                .execute(drop_database.as_str())
                .await
                .is_ok()
        })
        .await;
        assert!(dropped, "the test database could not be dropped");
        sqlx::query(&format!("DROP ROLE IF EXISTS {}", self.name)).execute(&mut admin).await.expect("drop role");
    }
}

#[tokio::test]
async fn the_app_runs_as_a_role_that_can_only_read_and_write_rows() {
    let db = TestDb::create().await;
    let role = AppRole::create(&db).await;
    let settings = figment(&db)
        .merge(Serialized::global("databases.auth.url", role.url(&db)))
        .merge(Serialized::global("auth.run_migrations", false))
        .merge(Serialized::global("auth.session.sweep_interval", "1s"));
    {
        let app = app(settings).await;
        let mut alice = Browser::new(&app, "laptop");
        let mut phone = Browser::new(&app, "phone");
        assert_eq!(alice.sign_in("alice", "alice", "/").await.status, Status::SeeOther);
        assert_eq!(phone.sign_in("alice", "alice", "/").await.status, Status::SeeOther);
        assert_eq!(alice.get("/sessions").await.status, Status::Ok);
        let token = alice.get("/api/csrf").await.json()["csrf_token"].as_str().expect("csrf").to_string();
        assert_eq!(
            alice.post_form("/sessions/revoke-others", &[("csrf_token", &token)]).await.status,
            Status::SeeOther
        );
        assert_eq!(phone.get("/api/session").await.status, Status::Unauthorized);

        // The sweeper works under the same role (advisory locks need no grant).
        let mut owner = db.connect().await;
        sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
            .execute(&mut owner)
            .await
            .expect("expire");
        let swept = common::eventually(Duration::from_secs(10), || async {
            let mut owner = db.connect().await;
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions").fetch_one(&mut owner).await.ok() == Some(0)
        })
        .await;
        assert!(swept, "the app role could not sweep");

        let mut as_app = PgConnection::connect(&role.url(&db)).await.expect("connect as the app role");
        sqlx::query("SELECT count(*) FROM latchkey.sessions")
            .execute(&mut as_app)
            .await
            .expect("the app role reads rows");
        for ddl in [
            "CREATE TABLE intruder (id int)",
            "CREATE TABLE latchkey.intruder (id int)",
            "CREATE SCHEMA intruder",
            "DROP TABLE latchkey.sessions",
            "ALTER TABLE latchkey.users ADD COLUMN x int",
            "TRUNCATE latchkey.sessions",
        ] {
            assert!(sqlx::query(ddl).execute(&mut as_app).await.is_err(), "the app role may run: {ddl}");
        }
    }
    role.drop_after(db).await;
}

#[tokio::test]
async fn the_app_role_cannot_start_with_migrations_on_against_an_unmigrated_database() {
    let db = TestDb::create().await;
    let name = format!("latchkey_app_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let mut admin = PgConnection::connect(&admin_database_url()).await.expect("admin");
    sqlx::query(&format!("CREATE ROLE {name} LOGIN PASSWORD 'app-password'")).execute(&mut admin).await.expect("role");
    let mut owner = db.connect().await;
    sqlx::query(&format!("GRANT CONNECT ON DATABASE {} TO {name}", db.name)).execute(&mut owner).await.expect("grant");
    sqlx::query("REVOKE CREATE ON SCHEMA public FROM PUBLIC").execute(&mut owner).await.expect("revoke");
    let url = db.url.replacen("latchkey:latchkey@", &format!("{name}:app-password@"), 1);

    let ignited =
        common::site::rocket(figment(&db).merge(Serialized::global("databases.auth.url", url))).ignite().await;

    let Err(error) = ignited else { panic!("migrations ran without the privilege to create tables") };
    assert!(matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)), "{error:?}");
    drop(owner);
    AppRole { name }.drop_after(db).await;
}

#[tokio::test]
async fn the_app_talks_tls_to_postgresql_with_sslmode_require() {
    let db = TestDb::create().await;
    let mut check = db.connect().await;
    let ssl: String = sqlx::query_scalar("SHOW ssl").fetch_one(&mut check).await.expect("show ssl");
    assert_eq!(ssl, "on", "the server must have ssl on (Debian's default, with its snakeoil certificate)");
    let url = format!("{}?sslmode=require", db.url);
    let app = app(figment(&db).merge(Serialized::global("databases.auth.url", &url))).await;
    let mut alice = Browser::new(&app, "test");

    assert_eq!(alice.sign_in("alice", "alice", "/").await.status, Status::SeeOther);
    assert_eq!(alice.get("/api/session").await.status, Status::Ok);

    let encrypted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND ssl",
    )
    .fetch_one(&mut check)
    .await
    .expect("pg_stat_ssl");
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND NOT ssl",
    )
    .fetch_one(&mut check)
    .await
    .expect("pg_stat_ssl");
    assert!(encrypted >= 1, "the app's connections are not encrypted");
    assert_eq!(plain, 0, "the app opened a connection without TLS");
}
