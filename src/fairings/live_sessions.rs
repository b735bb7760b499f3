//! The live-sessions gauge: counted in the database every
//! `auth.metrics.live_sessions_interval` by one task, so that a scrape never scans the
//! sessions table. Started only where `/metrics` is mounted.

use std::sync::Arc;
use std::time::Duration;

use rocket::Shutdown;
use rocket_db_pools::sqlx::PgPool;

use crate::db::Schema;
use crate::error::chain;
use crate::metrics::Metrics;
use crate::store::count_live_sessions;

/// Counts the live sessions of `schema` every `every`, from now until Rocket shuts down.
pub(crate) fn spawn(pool: PgPool, schema: Schema, every: Duration, metrics: Arc<Metrics>, mut shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => match count_live_sessions(&pool, &schema).await {
                    Ok(count) => metrics.live_sessions(count),
                    // The gauge keeps its last count; the next tick tries again.
                    Err(error) => tracing::warn!("counting live sessions failed: {}", chain(&error)),
                },
                _ = &mut shutdown => break,
            }
        }
        tracing::debug!("live-sessions count stopped");
    });
}
