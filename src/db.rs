//! The PostgreSQL pool and the schema migrations applied at ignite.

use rocket::fairing::AdHoc;
use rocket::{Build, Rocket};
use rocket_db_pools::{sqlx, Database};

use crate::config::AuthConfig;

/// The pool, configured under `[<profile>.databases.auth]`.
#[derive(Database)]
#[database("auth")]
pub struct AuthDb(sqlx::PgPool);

/// The migrator built from `migrations/`, shared by the fairing and by tooling.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies pending migrations at ignite unless `auth.run_migrations` is off; a failure
/// aborts launch, since serving against an unknown schema would fail on every request.
pub fn migrations() -> AdHoc {
    AdHoc::try_on_ignite("Database migrations", |rocket: Rocket<Build>| async move {
        let enabled = rocket.state::<AuthConfig>().is_some_and(|config| config.run_migrations);
        if !enabled {
            tracing::info!("migrations: switched off by auth.run_migrations");
            return Ok(rocket);
        }
        let Some(db) = AuthDb::fetch(&rocket) else {
            tracing::error!("migrations: the `auth` database pool is not attached");
            return Err(rocket);
        };
        match MIGRATOR.run(&**db).await {
            Ok(()) => Ok(rocket),
            Err(error) => {
                tracing::error!("migrations: failed to apply: {error}");
                Err(rocket)
            }
        }
    })
}
