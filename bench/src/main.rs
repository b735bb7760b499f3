//! latchkey's benchmark (`scripts/bench`, `scripts/bench --smoke`, `scripts/bench
//! --compare`; `--help` for the settings). It drives the reference app with wrk and its
//! lookup statement with pgbench, measures it beside its peers, and prints the figures
//! BENCHMARKS.md reports.
//!
//! Whatever ends a run (its end, an error, Ctrl-C or SIGTERM), the processes it started
//! are stopped, the bench database is dropped and services it started are stopped again.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod app;
mod checks;
mod comparison;
mod database;
mod error;
mod lookup;
mod measure;
mod peers;
mod pgbench;
mod process;
mod report;
mod revocation;
mod run;
mod seed;
mod settings;
mod setup;
mod system;
mod wrk;

use std::process::ExitCode;

use tokio::signal::unix::{signal, SignalKind};

use crate::error::log;
use crate::settings::{Command, Refusal, Settings};

fn main() -> ExitCode {
    let settings = match settings::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(Command::Run(settings)) => *settings,
        Ok(Command::Help) => {
            print!("{}", settings::HELP);
            return ExitCode::SUCCESS;
        }
        Err(Refusal::Usage(message)) => {
            eprintln!("{message}\n{}", settings::USAGE);
            return ExitCode::from(2);
        }
        Err(Refusal::Invalid(failure)) => {
            log!("FAILED: {failure}");
            return ExitCode::FAILURE;
        }
    };
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(bench(settings)),
        Err(error) => {
            log!("FAILED: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

/// How a run ended early.
enum Stop {
    Failed(error::Failure),
    Signal(&'static str, u8),
}

async fn bench(settings: Settings) -> ExitCode {
    // Listening for the signals makes them no longer fatal: the clean-up runs instead.
    let (mut interrupt, mut terminate) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(interrupt), Ok(terminate)) => (interrupt, terminate),
        (Err(error), _) | (_, Err(error)) => {
            log!("FAILED: cannot listen for signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut bench = match run::Bench::new(settings) {
        Ok(bench) => bench,
        Err(failure) => {
            log!("FAILED: {failure}");
            return ExitCode::FAILURE;
        }
    };
    // When a signal wins, the run is dropped where it stood: the processes it was
    // waiting for are stopped as their owners drop (see process.rs).
    let outcome = tokio::select! {
        result = bench.run() => result.map_err(Stop::Failed),
        _ = interrupt.recv() => Err(Stop::Signal("SIGINT", 130)),
        _ = terminate.recv() => Err(Stop::Signal("SIGTERM", 143)),
    };
    match &outcome {
        Ok(()) => {}
        Err(Stop::Failed(failure)) => log!("FAILED: {failure}"),
        Err(Stop::Signal(name, _)) => log!("stopped by {name}"),
    }
    bench.clean_up(outcome.is_err()).await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Failed(_)) => ExitCode::FAILURE,
        Err(Stop::Signal(_, code)) => ExitCode::from(code),
    }
}
