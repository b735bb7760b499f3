//! The PostgreSQL pool and the schema migrations applied at ignite.

use std::ops::Deref;
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use rocket_db_pools::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use rocket_db_pools::sqlx::{self, ConnectOptions, Connection, PgPool};
use rocket_db_pools::{Config, Database, Error};

use crate::config::AuthConfig;

/// The pool, configured under `[<profile>.databases.auth]` (`url`, `max_connections`,
/// `min_connections`, `connect_timeout`, `idle_timeout`, as for any rocket_db_pools pool).
#[derive(Database)]
#[database("auth")]
pub struct AuthDb(LivenessCheckedPool);

impl AuthDb {
    /// The sqlx pool, for queries that take any executor.
    pub fn pool(&self) -> &PgPool {
        &self.0 .0
    }
}

/// A connection that sat idle for longer than this is pinged before it is handed out.
///
/// sqlx's default (`test_before_acquire`) pings every connection on every acquire: a
/// round trip per request that under load only ever finds live connections (a guarded
/// request was three round trips to PostgreSQL instead of two, and about a tenth of the
/// CPU of both the app and the database went to pings). A connection that was in use a
/// moment ago has not been dropped by a restart it did not see; one that has been idle
/// for a second may have been, so a PostgreSQL restart between two quiet requests still
/// costs no request an error.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// rocket_db_pools' own sqlx pool, except for when it checks that a connection is alive
/// (see [`PING_WHEN_IDLE_FOR`]).
pub struct LivenessCheckedPool(PgPool);

impl Deref for LivenessCheckedPool {
    type Target = PgPool;

    fn deref(&self) -> &PgPool {
        &self.0
    }
}

#[rocket::async_trait]
impl rocket_db_pools::Pool for LivenessCheckedPool {
    type Connection = sqlx::pool::PoolConnection<sqlx::Postgres>;
    type Error = Error<sqlx::Error>;

    async fn init(figment: &Figment) -> Result<Self, Self::Error> {
        let config: Config = figment.extract()?;
        let options = config
            .url
            .parse::<PgConnectOptions>()
            .map_err(Error::Init)?
            // Each request's line in the request log says how long it took; a line per
            // statement as well would double the logging on the hot path.
            .disable_statement_logging();
        PgPoolOptions::new()
            .max_connections(u32::try_from(config.max_connections).unwrap_or(u32::MAX))
            .min_connections(config.min_connections.unwrap_or_default())
            .acquire_timeout(Duration::from_secs(config.connect_timeout))
            .idle_timeout(config.idle_timeout.map(Duration::from_secs))
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map(LivenessCheckedPool)
            .map_err(Error::Init)
    }

    async fn get(&self) -> Result<Self::Connection, Self::Error> {
        self.0.acquire().await.map_err(Error::Get)
    }

    async fn close(&self) {
        self.0.close().await;
    }
}

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
        match MIGRATOR.run(db.pool()).await {
            Ok(()) => Ok(rocket),
            Err(error) => {
                tracing::error!("migrations: failed to apply: {error}");
                Err(rocket)
            }
        }
    })
}
