//! latchkey's place in PostgreSQL: a schema of its own, the migrations that fill it
//! (with their own history, beside any the app keeps), and latchkey's own pool for apps
//! that lend it none.

use std::fmt;
use std::time::Duration;

use rocket::figment::Figment;
use rocket_db_pools::sqlx::migrate::Migrator;
use rocket_db_pools::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use rocket_db_pools::sqlx::{self, ConnectOptions, Connection, PgPool};
use serde::{Deserialize, Deserializer};

/// latchkey's migrations (`migrations/` of the crate), applied inside [`Schema`].
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The PostgreSQL schema latchkey keeps its tables in (`auth.schema`, default
/// `latchkey`): a plain lower-case identifier, never `public`, where the app's own tables
/// and sqlx migration history usually are.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Schema(String);

/// Why a name cannot be latchkey's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// Not a plain identifier.
    #[error("`{0}` is not a schema name of 1 to 60 of a-z, 0-9 and '_', starting with a letter or '_'")]
    NotAnIdentifier(String),
    /// `public` (or a system schema): latchkey's migration history would mix with the app's.
    #[error("`{0}` is shared with the app (or PostgreSQL itself); choose a schema of latchkey's own")]
    Shared(String),
}

impl Schema {
    /// A schema name, checked.
    pub fn new(name: &str) -> Result<Schema, SchemaError> {
        let plain = !name.is_empty()
            && name.len() <= 60
            && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !plain {
            return Err(SchemaError::NotAnIdentifier(name.to_string()));
        }
        if name == "public" || name == "information_schema" || name.starts_with("pg_") {
            return Err(SchemaError::Shared(name.to_string()));
        }
        Ok(Schema(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `sql` with each `{schema}` replaced by this schema's quoted name.
    pub(crate) fn qualify(&self, sql: &str) -> String {
        sql.replace("{schema}", &format!("\"{}\"", self.0))
    }
}

impl Default for Schema {
    fn default() -> Schema {
        Schema("latchkey".into())
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schema({})", self.0)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Schema, D::Error> {
        let name = String::deserialize(deserializer)?;
        Schema::new(&name).map_err(serde::de::Error::custom)
    }
}

/// Why latchkey's migrations did not apply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// No connection to PostgreSQL.
    #[error("cannot connect to PostgreSQL")]
    Connect(#[source] sqlx::Error),
    /// The schema could not be created (the role may lack CREATE on the database).
    #[error("cannot create schema `{schema}`")]
    CreateSchema {
        /// The schema.
        schema: Schema,
        /// PostgreSQL's answer.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed, or the schema's history does not match latchkey's migrations.
    #[error("migrating schema `{schema}` failed")]
    Migrate {
        /// The schema.
        schema: Schema,
        /// sqlx's answer.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

/// Creates `schema` if needed and applies latchkey's pending migrations inside it, with
/// the history in `schema._sqlx_migrations` (never the app's own). Runs on connections
/// of its own, so no connection of `pool` is left with a changed `search_path`.
///
/// What the fairing does at ignite unless `auth.run_migrations` is off; for
/// least-privilege deployments, run it once as the schema's owner:
///
/// ```no_run
/// # async fn owner(pool: rocket_db_pools::sqlx::PgPool) -> Result<(), latchkey::MigrateError> {
/// latchkey::migrate(&pool, &latchkey::Schema::default()).await?;
/// # Ok(()) }
/// ```
pub async fn migrate(pool: &PgPool, schema: &Schema) -> Result<(), MigrateError> {
    // Connections of their own, whose `search_path` puts unqualified names (the
    // migrations', sqlx's history table) in the schema: one holds the lock, one migrates.
    let options = (*pool.connect_options()).clone().options([("search_path", schema.as_str())]);
    let own = PgPoolOptions::new().max_connections(2).connect_with(options).await.map_err(MigrateError::Connect)?;
    let result = migrate_with(&own, schema).await;
    // Closing the connections also releases the session-level lock.
    own.close().await;
    result
}

async fn migrate_with(pool: &PgPool, schema: &Schema) -> Result<(), MigrateError> {
    let create = |source| MigrateError::CreateSchema { schema: schema.clone(), source };
    let mut lock = pool.acquire().await.map_err(MigrateError::Connect)?;
    // Instances starting together would race on CREATE SCHEMA: one at a time.
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('latchkey migrations ' || $1, 0))")
        .bind(schema.as_str())
        .execute(&mut *lock)
        .await
        .map_err(create)?;
    // Asked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the
    // schema exists.
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema.as_str())
        .fetch_one(&mut *lock)
        .await
        .map_err(create)?;
    if !exists {
        sqlx::query(&schema.qualify("CREATE SCHEMA {schema}")).execute(&mut *lock).await.map_err(create)?;
    }
    let migrated = MIGRATOR.run(pool).await;
    let _ = lock.detach().close().await;
    migrated.map_err(|source| MigrateError::Migrate { schema: schema.clone(), source })
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

/// latchkey's own pool, from `databases.auth` (`url`, `max_connections`,
/// `min_connections`, `connect_timeout`, `idle_timeout`, as for any rocket_db_pools
/// pool), with the liveness check of [`PING_WHEN_IDLE_FOR`].
pub(crate) async fn own_pool(figment: &Figment) -> Result<PgPool, rocket_db_pools::Error<sqlx::Error>> {
    use rocket_db_pools::Error;
    let config: rocket_db_pools::Config = figment.extract()?;
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
        .map_err(Error::Init)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers_of_latchkeys_own() {
        for good in ["latchkey", "auth", "_x1", "a_b_c"] {
            assert_eq!(Schema::new(good).map(|s| s.to_string()).ok().as_deref(), Some(good));
        }
        for bad in ["", "Latchkey", "1abc", "a-b", "a.b", "a\"b", "a b", &"a".repeat(61)] {
            assert!(matches!(Schema::new(bad), Err(SchemaError::NotAnIdentifier(_))), "{bad:?}");
        }
        for shared in ["public", "pg_catalog", "information_schema"] {
            assert!(matches!(Schema::new(shared), Err(SchemaError::Shared(_))), "{shared:?}");
        }
    }

    #[test]
    fn qualified_statements_name_the_quoted_schema() {
        let schema = Schema::new("auth").unwrap_or_default();
        assert_eq!(schema.qualify("SELECT 1 FROM {schema}.sessions"), "SELECT 1 FROM \"auth\".sessions");
    }
}
