//! The listener that keeps a [`SessionCache`] in step with PostgreSQL: it receives the
//! change notices of `lk_<schema>` on a connection of its own, and sends itself a
//! heartbeat through the pool every [`HEARTBEAT_EVERY`]. A lost connection empties the
//! cache and stops its use until a new one is in step.

use std::time::Duration;

use rocket::Shutdown;
use rocket_db_pools::sqlx::postgres::{PgListener, PgPoolOptions};
use rocket_db_pools::sqlx::{self, PgPool};

use super::cache::{Notice, SessionCache, HEARTBEAT_EVERY};
use crate::db::Schema;
use crate::error::chain;

/// Backoff bounds while the listener cannot connect.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The channel a schema's triggers announce changes on.
pub(crate) fn channel(schema: &Schema) -> String {
    format!("lk_{schema}")
}

/// Starts the listener and its heartbeat; both end with Rocket's shutdown.
pub(crate) fn spawn(pool: PgPool, schema: &Schema, cache: SessionCache, shutdown: Shutdown) {
    let channel = channel(schema);
    tokio::spawn(heartbeats(pool.clone(), channel.clone(), cache.clone(), shutdown.clone()));
    tokio::spawn(listen(pool, channel, cache, shutdown));
}

async fn heartbeats(pool: PgPool, channel: String, cache: SessionCache, mut shutdown: Shutdown) {
    let mut ticks = tokio::time::interval(HEARTBEAT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut shutdown => return,
        }
        seq += 1;
        cache.heartbeat_sent(seq);
        // A heartbeat that cannot be sent simply does not come back: the cache falls out
        // of step by itself.
        let _ = sqlx::query("SELECT pg_notify($1, $2)").bind(&channel).bind(format!("h{seq}")).execute(&pool).await;
    }
}

async fn listen(pool: PgPool, channel: String, cache: SessionCache, mut shutdown: Shutdown) {
    let mut retry = RETRY_FIRST;
    loop {
        let connected = tokio::select! {
            connected = connect(&pool, &channel) => connected,
            _ = &mut shutdown => return,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!("session cache: cannot listen for changes, retrying in {retry:?}: {}", chain(&error));
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = &mut shutdown => return,
                }
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        retry = RETRY_FIRST;
        // Whatever was cached before this connection may have missed a notice.
        cache.clear();
        tracing::info!("session cache: listening for changes on {channel}");
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = &mut shutdown => return,
            };
            match received {
                Ok(Some(notification)) => {
                    if let Some(notice) = Notice::parse(notification.payload()) {
                        cache.apply(notice);
                    }
                }
                Ok(None) => {
                    tracing::warn!("session cache: the listener's connection was lost");
                    break;
                }
                Err(error) => {
                    tracing::warn!("session cache: the listener failed: {}", chain(&error));
                    break;
                }
            }
        }
        cache.out_of_step();
    }
}

/// A listener on a connection of its own (not one of the requests' pool).
async fn connect(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let options = (*pool.connect_options()).clone().application_name("latchkey-listener");
    let own = PgPoolOptions::new().max_connections(1).connect_with(options).await?;
    let mut listener = PgListener::connect_with(&own).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
