//! The periodic sweeper: every `auth.session.sweep_interval`, one sweep of expired rows
//! and of security events past their retention (see `store::sweep`), from liftoff until
//! Rocket shuts down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::Shutdown;
use rocket_db_pools::sqlx::PgPool;

use crate::db::Schema;
use crate::error::chain;
use crate::metrics::Metrics;
use crate::store::{sweep_once_with, SweepOptions};

/// Where the sweeper works and how: the pool and schema, how often, what it keeps, and
/// the metrics it reports each sweep to.
pub(crate) struct Sweeper {
    pub pool: PgPool,
    pub schema: Schema,
    pub every: Duration,
    pub options: SweepOptions,
    pub metrics: Arc<Metrics>,
}

/// Starts sweeping every `sweeper.every`, until Rocket shuts down.
pub(crate) fn spawn(sweeper: Sweeper, mut shutdown: Shutdown) {
    let Sweeper { pool, schema, every, options, metrics } = sweeper;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => run(&pool, &schema, options, &metrics).await,
                _ = &mut shutdown => break,
            }
        }
        tracing::debug!("sweeper stopped");
    });
}

async fn run(pool: &PgPool, schema: &Schema, options: SweepOptions, metrics: &Metrics) {
    let started = Instant::now();
    match sweep_once_with(pool, schema, options).await {
        Ok(Some(report)) => {
            metrics.swept(
                &[
                    ("sessions", report.sessions),
                    ("logout_token_jtis", report.logout_token_jtis),
                    ("revoked_idp_sessions", report.idp_revocations),
                    ("security_events", report.security_events),
                ],
                started.elapsed(),
            );
            tracing::info!(
                sessions = report.sessions,
                logout_token_jtis = report.logout_token_jtis,
                idp_revocations = report.idp_revocations,
                security_events = report.security_events,
                batches = report.batches,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "sweep removed expired rows"
            )
        }
        Ok(None) => tracing::debug!("sweep skipped: another instance holds the sweep lock"),
        Err(error) => tracing::warn!("sweep failed, retrying at the next tick: {}", chain(&error)),
    }
}
