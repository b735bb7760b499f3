//! The periodic sweeper: every `auth.session.sweep_interval`, one sweep of expired rows
//! (see `store::sweep`), from liftoff until Rocket shuts down.

use std::time::{Duration, Instant};

use rocket::Shutdown;
use rocket_db_pools::sqlx::PgPool;

use crate::db::Schema;
use crate::error::chain;
use crate::store::sweep_once;

/// Starts sweeping `schema` every `every`, in batches of `batch_size`.
pub(crate) fn spawn(pool: PgPool, schema: Schema, every: Duration, batch_size: u32, mut shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => run(&pool, &schema, batch_size).await,
                _ = &mut shutdown => break,
            }
        }
        tracing::debug!("sweeper stopped");
    });
}

async fn run(pool: &PgPool, schema: &Schema, batch_size: u32) {
    let started = Instant::now();
    match sweep_once(pool, schema, batch_size).await {
        Ok(Some(report)) => tracing::info!(
            sessions = report.sessions,
            logout_token_jtis = report.logout_token_jtis,
            idp_revocations = report.idp_revocations,
            batches = report.batches,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sweep removed expired rows"
        ),
        Ok(None) => tracing::debug!("sweep skipped: another instance holds the sweep lock"),
        Err(error) => tracing::warn!("sweep failed, retrying at the next tick: {}", chain(&error)),
    }
}
