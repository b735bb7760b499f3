//! The periodic sweeper: every `auth.session.sweep_interval`, one sweep of expired rows
//! and of security events past their retention (see `store::sweep`), from liftoff until
//! Rocket shuts down.

use std::time::{Duration, Instant};

use rocket::Shutdown;
use rocket_db_pools::sqlx::PgPool;

use crate::db::Schema;
use crate::error::chain;
use crate::store::{sweep_once_with, SweepOptions};

/// Starts sweeping `schema` every `every`, as `options` say.
pub(crate) fn spawn(pool: PgPool, schema: Schema, every: Duration, options: SweepOptions, mut shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => run(&pool, &schema, options).await,
                _ = &mut shutdown => break,
            }
        }
        tracing::debug!("sweeper stopped");
    });
}

async fn run(pool: &PgPool, schema: &Schema, options: SweepOptions) {
    let started = Instant::now();
    match sweep_once_with(pool, schema, options).await {
        Ok(Some(report)) => tracing::info!(
            sessions = report.sessions,
            logout_token_jtis = report.logout_token_jtis,
            idp_revocations = report.idp_revocations,
            security_events = report.security_events,
            batches = report.batches,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sweep removed expired rows"
        ),
        Ok(None) => tracing::debug!("sweep skipped: another instance holds the sweep lock"),
        Err(error) => tracing::warn!("sweep failed, retrying at the next tick: {}", chain(&error)),
    }
}
