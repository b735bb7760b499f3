//! One sweep of expired rows with the library's own `sweep_once`, timed: what
//! `scripts/bench` runs while wrk drives the app, to measure the sweeper's cost.
//!
//! ```sh
//! cargo run --release --example sweep_once -- postgres://latchkey:latchkey@127.0.0.1:5432/latchkey_bench 1000
//! ```
//!
//! Prints one line: `sessions=<n> batches=<n> elapsed_ms=<n> rows_per_s=<n>`.

use std::process::ExitCode;
use std::time::Instant;

use latchkey::{sweep_once, Schema};
use rocket_db_pools::sqlx::postgres::PgPoolOptions;

#[rocket::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), batch) = (args.first().cloned(), args.get(1).cloned()) else {
        eprintln!("usage: sweep_once <database url> [batch size, default 1000]");
        return ExitCode::from(2);
    };
    let Some(batch) = batch.as_deref().unwrap_or("1000").parse::<u32>().ok().filter(|&batch| batch > 0) else {
        eprintln!("sweep_once: the batch size must be a positive integer");
        return ExitCode::from(2);
    };
    let pool = match PgPoolOptions::new().max_connections(1).connect(&url).await {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("sweep_once: cannot connect: {error}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    match sweep_once(&pool, &Schema::default(), batch).await {
        Ok(Some(report)) => {
            let elapsed = started.elapsed();
            let rate = report.sessions as f64 / elapsed.as_secs_f64().max(1e-9);
            println!(
                "sessions={} batches={} elapsed_ms={} rows_per_s={:.0}",
                report.sessions,
                report.batches,
                elapsed.as_millis(),
                rate
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("sweep_once: another process holds the sweep lock");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("sweep_once: {error}");
            ExitCode::FAILURE
        }
    }
}
