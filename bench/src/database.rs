//! The bench database (created fresh, dropped at the end), the statement counts of
//! pg_stat_statements, and the PostgreSQL backends that serve the app.

use std::collections::HashMap;
use std::process::Stdio;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::{log, Context, Result};
use crate::process;
use crate::setup::as_root;

/// The dev cluster of `scripts/services`.
const SERVER: &str = "postgres://latchkey:latchkey@127.0.0.1:5432";
/// The dev database: where pg_stat_statements is installed, and where the bench database
/// is created and dropped from.
const ADMIN_DATABASE: &str = "latchkey";
/// This program's own connections carry this name, so that the CPU figures of "the app's
/// PostgreSQL backends" leave them out.
const APPLICATION_NAME: &str = "latchkey-bench";
/// The session cache's heartbeat, as pg_stat_statements keeps it (latchkey's
/// `store/listener.rs`).
const HEARTBEAT: &str = "SELECT pg_notify($1, $2)";

/// latchkey's schema: the default one, which the app runs with.
pub fn schema() -> latchkey::Schema {
    latchkey::Schema::default()
}

/// `sql` with `{schema}` replaced by latchkey's schema, quoted.
pub fn qualified(sql: &str) -> String {
    sql.replace("{schema}", &format!("\"{}\"", schema().as_str()))
}

/// Calls per statement (pg_stat_statements' queryid).
pub type Calls = HashMap<i64, i64>;

/// Calls made between two snapshots, per statement. An entry that pg_stat_statements
/// evicted meanwhile is not in `after` and counts nothing; one that came back since
/// (fewer calls than before) counts from zero: never negative.
pub fn calls_between(before: &Calls, after: &Calls) -> Calls {
    after
        .iter()
        .map(|(queryid, &calls)| {
            let earlier = before.get(queryid).copied().unwrap_or(0);
            (*queryid, if calls >= earlier { calls - earlier } else { calls })
        })
        .filter(|(_, calls)| *calls > 0)
        .collect()
}

pub fn total(calls: &Calls) -> i64 {
    calls.values().sum()
}

pub struct Databases {
    pub name: String,
    /// The bench database's URL, as the app, pgbench and this program connect to it.
    pub url: String,
    admin: PgPool,
    bench: Option<PgPool>,
    created: bool,
}

impl Databases {
    pub async fn connect(name: &str, sslmode: Option<&str>) -> Result<Databases> {
        let query = sslmode.map(|mode| format!("?sslmode={mode}")).unwrap_or_default();
        let admin_url = format!("{SERVER}/{ADMIN_DATABASE}{query}");
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options(&admin_url)?)
            .await
            .with_context(|| format!("connecting to {SERVER}/{ADMIN_DATABASE}"))?;
        Ok(Databases {
            name: name.to_string(),
            url: format!("{SERVER}/{name}{query}"),
            admin,
            bench: None,
            created: false,
        })
    }

    /// Drops the bench database if it is left from an earlier run, and creates it.
    pub async fn create(&mut self) -> Result<()> {
        self.drop_bench().await?;
        sqlx::raw_sql(&format!("CREATE DATABASE {}", self.name))
            .execute(&self.admin)
            .await
            .with_context(|| format!("creating database {}", self.name))?;
        self.created = true;
        let bench = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options(&self.url)?)
            .await
            .with_context(|| format!("connecting to {}", self.name))?;
        self.bench = Some(bench);
        Ok(())
    }

    pub fn bench(&self) -> Result<&PgPool> {
        self.bench.as_ref().context("the bench database has not been created")
    }

    /// Drops the bench database if this run created it (closing this program's
    /// connections to it first; FORCE ends anyone else's).
    pub async fn drop_created(&mut self) -> Result<()> {
        if !self.created {
            return Ok(());
        }
        self.drop_bench().await?;
        self.created = false;
        Ok(())
    }

    async fn drop_bench(&mut self) -> Result<()> {
        if let Some(bench) = self.bench.take() {
            bench.close().await;
        }
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Once more on a fresh connection if PostgreSQL restarted meanwhile (the tests
        // restart it), which broke the pooled one.
        if let Err(error) = sqlx::raw_sql(&drop).execute(&self.admin).await {
            log!("dropping database {} failed ({error}); trying once more", self.name);
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            sqlx::raw_sql(&drop)
                .execute(&self.admin)
                .await
                .with_context(|| format!("dropping database {}", self.name))?;
        }
        Ok(())
    }

    pub async fn close(&mut self) {
        if let Some(bench) = self.bench.take() {
            bench.close().await;
        }
        self.admin.close().await;
    }

    /// Calls of the top-level statements run in the bench database so far, per statement,
    /// but for the session cache's heartbeat (which an app with the cache on sends four
    /// times a second whatever its load: no request's statement). Never reset: the tests
    /// count statements in the same cluster.
    pub async fn statement_calls(&self) -> Result<Calls> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT queryid, sum(calls)::bigint FROM pg_stat_statements
              WHERE toplevel AND queryid IS NOT NULL AND query <> $2
                AND dbid = (SELECT oid FROM pg_database WHERE datname = $1)
              GROUP BY queryid",
        )
        .bind(&self.name)
        .bind(HEARTBEAT)
        .fetch_all(&self.admin)
        .await
        .context("reading pg_stat_statements")?;
        Ok(rows.into_iter().collect())
    }

    /// The text pg_stat_statements keeps of a statement run in the bench database.
    pub async fn statement_text(&self, queryid: i64) -> Result<String> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT query FROM pg_stat_statements
              WHERE queryid = $1 AND dbid = (SELECT oid FROM pg_database WHERE datname = $2)
              ORDER BY calls DESC LIMIT 1",
        )
        .bind(queryid)
        .bind(&self.name)
        .fetch_optional(&self.admin)
        .await
        .context("reading pg_stat_statements")?
        .flatten();
        text.with_context(|| format!("pg_stat_statements has no text for statement {queryid}"))
    }

    /// The backends connected to the bench database other than this program's: the app's.
    pub async fn app_backends(&self) -> Result<Vec<u32>> {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name IS DISTINCT FROM $2",
        )
        .bind(&self.name)
        .bind(APPLICATION_NAME)
        .fetch_all(&self.admin)
        .await
        .context("reading pg_stat_activity")?;
        Ok(pids.into_iter().filter_map(|pid| u32::try_from(pid).ok()).collect())
    }

    pub async fn server_version(&self) -> Result<String> {
        sqlx::query_scalar("SELECT current_setting('server_version')")
            .fetch_one(&self.admin)
            .await
            .context("asking PostgreSQL its version")
    }

    /// After bulk loading: the visibility map, hint bits and statistics as a long-lived
    /// table has them, and a checkpoint, so that none of it lands inside a measurement.
    pub async fn settle(&self) -> Result<()> {
        let bench = self.bench()?;
        for table in ["sessions", "users"] {
            // VACUUM refuses a transaction block: one statement, simple protocol.
            sqlx::raw_sql(&qualified(&format!("VACUUM (ANALYZE) {{schema}}.{table}")))
                .execute(bench)
                .await
                .with_context(|| format!("vacuuming {table}"))?;
        }
        // CHECKPOINT needs a superuser (or pg_checkpoint), which the latchkey role is not.
        let mut checkpoint = as_root(&["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-c", "CHECKPOINT"]);
        checkpoint.current_dir("/").stdout(Stdio::null()).stderr(Stdio::null());
        if process::run("CHECKPOINT", &mut checkpoint).await.is_err() {
            log!("(no CHECKPOINT: needs root or sudo)");
        }
        Ok(())
    }
}

fn options(url: &str) -> Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(url).with_context(|| format!("the URL {url}"))?.application_name(APPLICATION_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_between_snapshots() {
        let before: Calls = [(1, 10), (2, 5), (3, 7)].into_iter().collect();
        // 1 ran 3 more times, 2 not at all, 3 was evicted and came back with 2 calls, 4 is new.
        let after: Calls = [(1, 13), (2, 5), (3, 2), (4, 1)].into_iter().collect();
        let between = calls_between(&before, &after);
        assert_eq!(between, [(1, 3), (3, 2), (4, 1)].into_iter().collect());
        assert_eq!(total(&between), 6);
    }

    #[test]
    fn tables_are_in_latchkey_schema() {
        assert_eq!(qualified("SELECT 1 FROM {schema}.sessions"), "SELECT 1 FROM \"latchkey\".sessions");
    }
}
