//! One measured run: wrk's figures, the SQL statements per request from
//! pg_stat_statements, and the CPU per request of the app, of its PostgreSQL backends and
//! of wrk, from clock ticks.

use std::time::Duration;

use crate::app::App;
use crate::database::{calls_between, total, Databases};
use crate::error::{log, Result};
use crate::system;
use crate::wrk::{Cookies, Figures, Load, Wrk};

/// CPU per request, µs, and how busy the whole machine was (cores).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cpu {
    pub app_us: f64,
    pub postgres_us: f64,
    pub wrk_us: f64,
    pub busy_cores: f64,
}

impl Cpu {
    pub fn describe(&self) -> String {
        format!(
            "app {:.0} µs, PostgreSQL {:.0} µs, wrk {:.0} µs; machine busy {:.2} of {} cores",
            self.app_us,
            self.postgres_us,
            self.wrk_us,
            self.busy_cores,
            system::cores()
        )
    }

    pub fn describe_server(&self) -> String {
        format!("app {:.0} µs, PostgreSQL {:.0} µs", self.app_us, self.postgres_us)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub figures: Figures,
    /// Every statement the app ran, per request.
    pub statements_per_request: f64,
    /// The lookup alone, per request (once it is known). The difference is the writes
    /// that are due now and then: an activity stamp every few minutes per session.
    pub lookups_per_request: Option<f64>,
    pub cpu: Cpu,
}

impl Measured {
    pub fn requests_per_s(&self) -> f64 {
        self.figures.requests_per_s()
    }

    pub fn p50_ms(&self) -> f64 {
        self.figures.p50_us as f64 / 1000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.figures.p99_us as f64 / 1000.0
    }

    /// "11559 req/s, p50 5.35 ms, p99 9.24 ms"
    pub fn summary(&self) -> String {
        format!("{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms", self.requests_per_s(), self.p50_ms(), self.p99_ms())
    }
}

/// Ticks (and seconds, for wrk) at one moment.
struct Snapshot {
    app: u64,
    postgres: u64,
    children_s: f64,
    busy: u64,
}

impl Snapshot {
    fn take(app: &App, backends: &[u32], ticks_per_s: f64) -> Result<Snapshot> {
        Ok(Snapshot {
            app: app.cpu_ticks()?,
            postgres: system::cpu_ticks_of_any(backends),
            children_s: system::finished_children_cpu_s(ticks_per_s)?,
            busy: system::machine_busy_ticks()?,
        })
    }
}

/// What a run is measured with.
pub struct Bench<'a> {
    pub app: &'a App,
    pub db: &'a Databases,
    pub wrk: &'a Wrk,
    pub ticks_per_s: f64,
    pub warmup_s: u64,
    pub duration_s: u64,
    /// The lookup's queryid, counted on its own.
    pub lookup: Option<i64>,
}

impl Bench<'_> {
    /// A run of wrk on the same cookies before a measured one, in which every status
    /// other than 200 fails the run.
    pub async fn warm_up(&self, path: &str, cookies: Cookies<'_>, connections: u32) -> Result<()> {
        if self.warmup_s == 0 {
            return Ok(());
        }
        let load = Load { path, cookies, seconds: self.warmup_s, connections, check: true };
        self.wrk.start(&load)?.finish(&format!("warm-up of {path}")).await.map(|_| ())
    }

    /// One measured run of `path` with `connections` connections.
    pub async fn run(&self, path: &str, cookies: Cookies<'_>, connections: u32, label: &str) -> Result<Measured> {
        self.app.empty_log()?;
        let calls_before = self.db.statement_calls().await?;
        let backends = self.db.app_backends().await?;
        let before = Snapshot::take(self.app, &backends, self.ticks_per_s)?;
        let load = Load { path, cookies, seconds: self.duration_s, connections, check: false };
        let figures = self.wrk.start(&load)?.finish(label).await?;
        let after = Snapshot::take(self.app, &backends, self.ticks_per_s)?;
        // Requests in flight when wrk stops still run their statement: let them finish.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let calls_after = self.db.statement_calls().await?;

        let requests = figures.requests.max(1) as f64;
        let per_request_us = |ticks: u64| ticks as f64 / self.ticks_per_s / requests * 1e6;
        let cpu = Cpu {
            app_us: per_request_us(after.app.saturating_sub(before.app)),
            postgres_us: per_request_us(after.postgres.saturating_sub(before.postgres)),
            wrk_us: (after.children_s - before.children_s) / requests * 1e6,
            busy_cores: after.busy.saturating_sub(before.busy) as f64
                / self.ticks_per_s
                / (figures.duration_us as f64 / 1e6).max(1e-9),
        };
        let ran = calls_between(&calls_before, &calls_after);
        let lookups_per_request = self.lookup.map(|queryid| ran.get(&queryid).copied().unwrap_or(0) as f64 / requests);
        let measured =
            Measured { figures, statements_per_request: total(&ran) as f64 / requests, lookups_per_request, cpu };
        log_figures(label, &figures);
        log!("{:34} CPU per request: {}", "", cpu.describe());
        if let Some(lookups) = lookups_per_request {
            log!("{:34} statements per request: {:.3}, the lookup {lookups:.3}", "", measured.statements_per_request);
        }
        Ok(measured)
    }
}

/// wrk's figures on one line, as each run ends.
pub fn log_figures(label: &str, figures: &Figures) {
    log!(
        "{label:<34} {:>8.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        figures.requests_per_s(),
        figures.p50_us as f64 / 1000.0,
        figures.p99_us as f64 / 1000.0,
        figures.max_us as f64 / 1000.0
    );
}
