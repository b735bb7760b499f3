//! The figures of a run, and the report printed at its end: the same lines, figures and
//! targets BENCHMARKS.md quotes.

use std::fmt::Write;

use crate::measure::Measured;
use crate::pgbench::Throughput;
use crate::revocation::Revocation;
use crate::settings::Settings;
use crate::system;
use crate::wrk::Figures;

/// GET / at one size of the sessions table.
pub struct Growth {
    pub size: u64,
    pub seed_s: u64,
    pub run: Measured,
}

/// GET / with another pool size.
pub struct PoolRun {
    pub pool: u32,
    pub run: Measured,
    pub rss_mib: f64,
    pub pgbench: Throughput,
}

/// Everything measured at the base size.
pub struct Base {
    pub home: Measured,
    pub low: Option<(u32, Measured)>,
    pub api: Measured,
    pub rss_mib: f64,
    pub pgbench: Throughput,
    pub pages: Pages,
    pub rss_page_mib: f64,
    pub pools: Vec<PoolRun>,
}

/// The sessions page of the person with many sessions.
pub struct Pages {
    pub per_page: u64,
    pub last_page: u64,
    /// Exactly, on single requests.
    pub statements: i64,
    pub first: Measured,
    pub last: Measured,
}

pub struct Sweep {
    pub elapsed_s: f64,
    pub sessions: u64,
    pub batches: u64,
    pub before: Measured,
    pub during: Figures,
    pub rss_final_mib: f64,
}

pub struct Report<'a> {
    pub settings: &'a Settings,
    pub machine: String,
    pub postgres_version: String,
    pub load_before: String,
    /// Exact statements per single request of / and /api/session.
    pub exact_home: i64,
    pub exact_api: i64,
    pub growth: Vec<Growth>,
    pub base: Base,
    /// How the pgbench and EXPLAIN statement differs from the app's: the normalised
    /// literals and what they were bound to.
    pub stand_ins: String,
    /// The app's auth.session.activity_interval, as configured.
    pub activity_interval: String,
    pub explain: Vec<String>,
    pub revocation: Option<Revocation>,
    pub sweep: Option<Sweep>,
    pub build_s: u64,
    pub bench_s: u64,
    pub whole_s: u64,
}

/// A figure as printed with `digits` decimals, as a number: targets are judged on what
/// the report shows.
pub fn shown(value: f64, digits: usize) -> f64 {
    format!("{value:.digits$}").parse().unwrap_or(value)
}

/// "1.000 statements/request (the lookup 1.000)"
fn statements(run: &Measured) -> String {
    match run.lookups_per_request {
        Some(lookups) => format!("{:.3} statements/request (the lookup {lookups:.3})", run.statements_per_request),
        None => format!("{:.3} statements/request", run.statements_per_request),
    }
}

pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

impl Report<'_> {
    pub fn render(&self) -> String {
        let s = self.settings;
        let b = &self.base;
        let pages = &b.pages;
        let mut out = String::new();
        // Writing to a String cannot fail.
        let mut line = |text: String| {
            let _ = writeln!(out, "{text}");
        };

        line(String::new());
        line(if s.smoke {
            "latchkey benchmark: SMOKE run (tiny sizes, 2-second runs; the figures mean nothing)".into()
        } else {
            "latchkey benchmark".into()
        });
        line(format!("  machine: {}; PostgreSQL {}", self.machine, self.postgres_version));
        line(format!("  load average before: {}, after: {}", self.load_before, system::load_average()));
        line(format!(
            "  wrk -t{} -c{}, {} s per run after {} s of warm-up; {} cookies; pool {}; workers {}; LATCHKEY_LOG={}; sslmode {}",
            s.threads,
            s.connections,
            s.duration_s,
            s.warmup_s,
            s.tokens,
            s.pool,
            s.workers.map_or("default".into(), |w| w.to_string()),
            s.log,
            s.sslmode.as_deref().unwrap_or("the default (prefer)")
        ));

        let ratio_home = shown(b.home.requests_per_s(), 0) / b.pgbench.tps.round();
        let ratio_api = shown(b.api.requests_per_s(), 0) / b.pgbench.tps.round();
        line(String::new());
        line(format!("At {} sessions:", s.base));
        line(format!(
            "  GET /             {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  {}",
            b.home.requests_per_s(),
            b.home.p50_ms(),
            b.home.p99_ms(),
            statements(&b.home)
        ));
        line(format!("                    CPU per request: {}", b.home.cpu.describe()));
        if let Some((connections, low)) = &b.low {
            line(format!("  GET / at {connections} connections: {}", low.summary()));
        }
        line(format!(
            "  GET /api/session  {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  {}",
            b.api.requests_per_s(),
            b.api.p50_ms(),
            b.api.p99_ms(),
            statements(&b.api)
        ));
        line(format!("                    CPU per request: {}", b.api.cpu.describe()));
        line(format!(
            "  GET /sessions     {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  {} statements/request (page 1 of {}: {} of the person's {} sessions)",
            pages.first.requests_per_s(),
            pages.first.p50_ms(),
            pages.first.p99_ms(),
            pages.statements,
            pages.last_page,
            pages.per_page,
            s.page_sessions
        ));
        line(format!("                    CPU per request: {}", pages.first.cpu.describe_server()));
        line(format!(
            "  GET /sessions?page={}  {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  (the last page)",
            pages.last_page,
            pages.last.requests_per_s(),
            pages.last.p50_ms(),
            pages.last.p99_ms()
        ));
        line(format!("                    CPU per request: {}", pages.last.cpu.describe_server()));
        line(format!(
            "  pgbench (the lookup, -M prepared, {} clients, -j {}): {:.0} tps, latency avg {} ms",
            s.pool, s.threads, b.pgbench.tps, b.pgbench.latency_ms
        ));
        line(format!("  app ÷ pgbench: GET / {ratio_home:.2}, GET /api/session {ratio_api:.2}"));
        line(format!(
            "  peak RSS (VmHWM): {:.1} MiB after / and /api/session; {:.1} MiB after /sessions too",
            b.rss_mib, b.rss_page_mib
        ));
        for pool in &b.pools {
            line(format!(
                "  pool {}: {}, peak RSS {:.1} MiB, pgbench {:.0} tps (app ÷ pgbench {:.2})",
                pool.pool,
                pool.run.summary(),
                pool.rss_mib,
                pool.pgbench.tps,
                shown(pool.run.requests_per_s(), 0) / pool.pgbench.tps.round()
            ));
        }

        let (first, largest) = (s.smallest(), s.largest());
        let p99_at =
            |size: u64| self.growth.iter().find(|g| g.size == size).map_or(f64::NAN, |g| shown(g.run.p99_ms(), 2));
        let growth_ratio = p99_at(largest) / p99_at(first);
        line(String::new());
        line("Growth (GET /):".into());
        for growth in &self.growth {
            line(format!(
                "  {:>9} sessions: p99 {:.2} ms, {:.0} req/s (seeded and vacuumed in {} s)",
                growth.size,
                growth.run.p99_ms(),
                growth.run.requests_per_s(),
                growth.seed_s
            ));
        }
        line(format!("  p99 ratio {largest} / {first}: {growth_ratio:.2}"));

        line(String::new());
        line(format!("The lookup at {largest} sessions (generic plan, EXPLAIN ANALYZE):"));
        line(format!("  ({})", self.stand_ins));
        for plan in &self.explain {
            line(format!("  {plan}"));
        }

        if let Some(revocation) = &self.revocation {
            line(String::new());
            let mut section = String::new();
            revocation.render(&mut section);
            line(section.trim_end().to_string());
        }

        let sweep_ratio = self
            .sweep
            .as_ref()
            .map(|sweep| shown(sweep.during.p99_us as f64 / 1000.0, 2) / shown(sweep.before.p99_ms(), 2));
        if let (Some(sweep), Some(ratio)) = (&self.sweep, sweep_ratio) {
            line(String::new());
            line(format!(
                "Sweeper ({} expired among {} live sessions, batch {}, while wrk drives GET /):",
                s.sweep_rows, s.sweep_rows, s.sweep_batch
            ));
            line(format!(
                "  one sweep: {:.1} s, {:.0} rows/s, {} delete statements",
                sweep.elapsed_s,
                sweep.sessions as f64 / sweep.elapsed_s.max(1e-9),
                sweep.batches
            ));
            line(format!(
                "  GET / before: p99 {:.2} ms, {:.0} req/s; during: p99 {:.2} ms, {:.0} req/s ({ratio:.2}×)",
                sweep.before.p99_ms(),
                sweep.before.requests_per_s(),
                sweep.during.p99_us as f64 / 1000.0,
                sweep.during.requests_per_s()
            ));
            line(format!("  peak RSS (VmHWM) of the app at the end: {:.1} MiB", sweep.rss_final_mib));
        }

        let (home_spr, api_spr) = (shown(b.home.statements_per_request, 3), shown(b.api.statements_per_request, 3));
        let lookups = |run: &Measured| shown(run.lookups_per_request.unwrap_or(f64::NAN), 3);
        let (home_lookups, api_lookups) = (lookups(&b.home), lookups(&b.api));
        let (home_p99, api_p99) = (shown(b.home.p99_ms(), 2), shown(b.api.p99_ms(), 2));
        let (rss, rss_page) = (shown(b.rss_mib, 1), shown(b.rss_page_mib, 1));
        let ratio_home = shown(ratio_home, 2);
        let growth_ratio = shown(growth_ratio, 2);
        line(String::new());
        line("Targets:".into());
        line(format!(
            "  one statement per guarded request: {} (exactly {} on single requests; under wrk the lookup {home_lookups:.3} and {api_lookups:.3} a request, all statements {home_spr:.3} and {api_spr:.3}: the others are the writes that fall due, an activity stamp every {} per session; up to {} requests in flight at the end ran their statement but are not counted as done)",
            verdict(self.exact_home == 1 && self.exact_api == 1 && home_lookups < 1.01 && api_lookups < 1.01),
            self.exact_home,
            self.activity_interval,
            s.connections
        ));
        line(format!("  app ÷ pgbench ≥ 0.55: {} ({ratio_home:.2})", verdict(ratio_home >= 0.55)));
        line(format!(
            "  p99 ≤ 8 ms at {} connections: {} ({home_p99:.2} ms, {api_p99:.2} ms)",
            s.connections,
            verdict(home_p99 <= 8.0 && api_p99 <= 8.0)
        ));
        line(format!(
            "  peak RSS ≤ 32 MiB under load: {} ({rss:.1} MiB guarded pages; {rss_page:.1} MiB with /sessions)",
            verdict(rss <= 32.0)
        ));
        line(format!("  p99 {largest}/{first} ≤ 1.5: {} ({growth_ratio:.2})", verdict(growth_ratio <= 1.5)));
        if let Some(ratio) = sweep_ratio {
            let ratio = shown(ratio, 2);
            line(format!("  p99 during a sweep ≤ 2× before: {} ({ratio:.2}×)", verdict(ratio <= 2.0)));
        }
        if let Some(revocation) = &self.revocation {
            line(format!("  {}", revocation.target()));
        }
        line(String::new());
        line(format!("  build {} s; benchmark {} s; whole run {} s", self.build_s, self.bench_s, self.whole_s));
        out
    }
}
