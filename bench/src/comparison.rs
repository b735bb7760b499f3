//! The figures of `--compare` and their report: latchkey with its session cache on and
//! off beside the peers, the ratios, and the targets latchkey holds itself to.

use std::fmt::Write;

use crate::measure::Measured;
use crate::peers::{Peer, PeerFigures, AUTHJS, AXUM_LOGIN, SQL_COUNT_REQUESTS};
use crate::report::{shown, verdict};
use crate::revocation::Revocation;
use crate::settings::Settings;
use crate::system;

/// The targets latchkey holds itself to beside its peers.
const CACHED_OVER_AXUM_LOGIN: f64 = 3.0;
const CACHED_OVER_AUTHJS: f64 = 20.0;
const CACHED_P99_MS: f64 = 8.0;
const UNCACHED_OVER_AXUM_LOGIN: f64 = 1.2;
const PEAK_RSS_MIB: f64 = 32.0;

/// latchkey in one configuration (its session cache on or off), one app process.
#[derive(Debug, Clone, PartialEq)]
pub struct Latchkey {
    /// One cookie, by the peers' protocol.
    pub one: Measured,
    /// Statements per request over the protocol's single requests.
    pub statements: f64,
    /// VmHWM after the one-cookie run.
    pub rss_mib: f64,
    /// BENCH_TOKENS distinct cookies, after it on the same process.
    pub many: Measured,
    /// VmHWM after both.
    pub rss_many_mib: f64,
}

pub struct Comparison<'a> {
    pub settings: &'a Settings,
    pub machine: String,
    pub postgres_version: String,
    pub load_before: String,
    pub cached: Latchkey,
    pub uncached: Latchkey,
    /// Empty when BENCH_PEERS is.
    pub peers: Vec<(Peer, PeerFigures)>,
    pub revocation: Option<Revocation>,
    pub build_s: u64,
    pub bench_s: u64,
    pub whole_s: u64,
}

/// A table row.
struct Row {
    system: String,
    requests_per_s: f64,
    p99_ms: f64,
    rss_mib: f64,
    sql: String,
}

impl Comparison<'_> {
    fn peer(&self, peer: Peer) -> Option<&PeerFigures> {
        self.peers.iter().find(|(p, _)| *p == peer).map(|(_, figures)| figures)
    }

    /// latchkey's req/s (as shown) over the peer's (as it printed them).
    fn ratio(&self, run: &Measured, peer: Peer) -> Option<f64> {
        self.peer(peer).map(|figures| shown(shown(run.requests_per_s(), 0) / figures.requests_per_s, 2))
    }

    fn rows(&self) -> Vec<Row> {
        let s = self.settings;
        let latchkey = |name: &str, run: &Measured, rss_mib: f64, sql: String| Row {
            system: format!("latchkey, {name}"),
            requests_per_s: run.requests_per_s(),
            p99_ms: run.p99_ms(),
            rss_mib,
            sql,
        };
        let mut rows = vec![
            latchkey("cache on", &self.cached.one, self.cached.rss_mib, format!("{:.2}", self.cached.statements)),
            latchkey(
                "cache off",
                &self.uncached.one,
                self.uncached.rss_mib,
                format!("{:.2}", self.uncached.statements),
            ),
        ];
        for (peer, figures) in &self.peers {
            rows.push(Row {
                system: format!("{} peer", peer.name),
                requests_per_s: figures.requests_per_s,
                p99_ms: figures.p99_ms,
                rss_mib: figures.rss_mib,
                sql: figures.sql_per_request.map_or_else(|| "n/a".into(), |sql| format!("{sql:.2}")),
            });
        }
        for (name, run) in [("cache on", &self.cached), ("cache off", &self.uncached)] {
            rows.push(latchkey(
                &format!("{name}, {} cookies", s.tokens),
                &run.many,
                run.rss_many_mib,
                format!("{:.3}*", run.many.statements_per_request),
            ));
        }
        rows
    }

    pub fn render(&self) -> String {
        let s = self.settings;
        let mut out = String::new();
        let mut line = |text: String| {
            let _ = writeln!(out, "{text}");
        };

        line(String::new());
        line(if s.smoke {
            "latchkey beside its peers: SMOKE run (2-second runs of the debug build; the figures mean nothing)".into()
        } else {
            "latchkey beside its peers, in one sitting".into()
        });
        line(format!("  machine: {}; PostgreSQL {}", self.machine, self.postgres_version));
        line(format!("  load average before: {}, after: {}", self.load_before, system::load_average()));
        line(format!(
            "  the peers' protocol: one person with {} sessions and one cookie; wrk -t{} -c{} -d{}s --latency after {} s of warm-up; peak RSS = VmHWM; SQL/request over {SQL_COUNT_REQUESTS} single requests",
            s.page_sessions, s.threads, s.connections, s.duration_s, s.warmup_s
        ));
        line(format!(
            "  latchkey: GET / of the reference app, pool {}, workers {}, LATCHKEY_LOG={}, sslmode {}; statements from pg_stat_statements (the cache's heartbeat left out), the peers' from PostgreSQL's statement log",
            s.pool,
            s.workers.map_or("default".into(), |w| w.to_string()),
            s.log,
            s.sslmode.as_deref().unwrap_or("the default (prefer)")
        ));
        line(String::new());
        line(format!("  {:<38} {:>9} {:>9} {:>14} {:>12}", "system", "req/s", "p99 ms", "peak RSS MiB", "SQL/request"));
        for row in self.rows() {
            line(format!(
                "  {:<38} {:>9.0} {:>9.2} {:>14.1} {:>12}",
                row.system, row.requests_per_s, row.p99_ms, row.rss_mib, row.sql
            ));
        }
        line(format!(
            "  * under wrk, every statement of the run per request (the requests in flight when wrk stops, up to {}, ran theirs too but are not counted); the {} cookies' sessions were marked as seen just before, so that no request writes to them",
            s.connections, s.tokens
        ));
        line(format!(
            "  latchkey's statements per request under wrk, one cookie (counted the same way): cache on {:.3}, cache off {:.3}",
            self.cached.one.statements_per_request, self.uncached.one.statements_per_request
        ));

        let ratio =
            |run: &Measured, peer: Peer| self.ratio(run, peer).map_or_else(|| "n/a".into(), |r| format!("{r:.2}"));
        if !self.peers.is_empty() {
            line(String::new());
            line("Ratios (latchkey's req/s over the peer's):".into());
            for peer in [AXUM_LOGIN, AUTHJS] {
                line(format!(
                    "  latchkey / {}: cache on {}, cache off {}",
                    peer.name,
                    ratio(&self.cached.one, peer),
                    ratio(&self.uncached.one, peer)
                ));
            }
            for (peer, figures) in &self.peers {
                if !figures.versions.is_empty() {
                    line(format!("  {} peer: {}", peer.name, figures.versions));
                }
            }
        }

        line(String::new());
        line("Targets:".into());
        for target in self.targets() {
            line(format!("  {target}"));
        }

        if let Some(revocation) = &self.revocation {
            line(String::new());
            let mut section = String::new();
            revocation.render(&mut section);
            line(section.trim_end().to_string());
        }
        line(String::new());
        line(format!("  build {} s; benchmark {} s; whole run {} s", self.build_s, self.bench_s, self.whole_s));
        out
    }

    /// One line per target, "… : met (…)" or "… : MISSED (…)".
    fn targets(&self) -> Vec<String> {
        let s = self.settings;
        let against = |run: &Measured, peer: Peer, target: f64, what: &str| match self.ratio(run, peer) {
            Some(ratio) => {
                format!("{what}, ≥ {target}× {} req/s: {} ({ratio:.2}×)", peer.name, verdict(ratio >= target))
            }
            None => format!("{what}, ≥ {target}× {} req/s: not measured (no peers)", peer.name),
        };
        let p99 = shown(self.cached.one.p99_ms(), 2);
        let rss = [self.cached.rss_mib, self.cached.rss_many_mib, self.uncached.rss_mib, self.uncached.rss_many_mib]
            .map(|mib| shown(mib, 1));
        let mut targets = vec![
            against(&self.cached.one, AXUM_LOGIN, CACHED_OVER_AXUM_LOGIN, "with the cache"),
            against(&self.cached.one, AUTHJS, CACHED_OVER_AUTHJS, "with the cache"),
            format!(
                "with the cache, p99 ≤ {CACHED_P99_MS:.0} ms at {} connections: {} ({p99:.2} ms)",
                s.connections,
                verdict(p99 <= CACHED_P99_MS)
            ),
            against(&self.uncached.one, AXUM_LOGIN, UNCACHED_OVER_AXUM_LOGIN, "without the cache"),
            format!(
                "peak RSS ≤ {PEAK_RSS_MIB:.0} MiB with the cache and without: {} (cache on {:.1} MiB, {:.1} MiB after {} cookies; cache off {:.1} MiB, {:.1} MiB)",
                verdict(rss.iter().all(|&mib| mib <= PEAK_RSS_MIB)),
                rss[0],
                rss[1],
                s.tokens,
                rss[2],
                rss[3]
            ),
        ];
        if let Some(revocation) = &self.revocation {
            targets.push(revocation.target());
        }
        targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Cpu;
    use crate::wrk::Figures;

    fn measured(requests_per_s: u64, p99_us: u64, statements: f64) -> Measured {
        Measured {
            figures: Figures {
                requests: requests_per_s * 20,
                duration_us: 20_000_000,
                p50_us: p99_us / 2,
                p99_us,
                max_us: p99_us * 2,
                status_errors: 0,
                timeouts: 0,
                socket_errors: 0,
                not_200: 0,
            },
            statements_per_request: statements,
            lookups_per_request: None,
            cpu: Cpu { app_us: 0.0, postgres_us: 0.0, wrk_us: 0.0, busy_cores: 0.0 },
        }
    }

    fn peer(requests_per_s: f64) -> PeerFigures {
        PeerFigures {
            requests_per_s,
            p50_ms: 7.0,
            p99_ms: 12.0,
            rss_mib: 10.0,
            sql_per_request: Some(2.0),
            non_2xx: 0,
            socket_errors: 0,
            versions: String::new(),
        }
    }

    fn latchkey(requests_per_s: u64, p99_us: u64, rss_mib: f64) -> Latchkey {
        Latchkey {
            one: measured(requests_per_s, p99_us, 0.0),
            statements: 0.0,
            rss_mib,
            many: measured(requests_per_s, p99_us, 0.0),
            rss_many_mib: rss_mib,
        }
    }

    fn comparison(settings: &Settings, cached: Latchkey, uncached: Latchkey, peers: bool) -> Comparison<'_> {
        Comparison {
            settings,
            machine: String::new(),
            postgres_version: String::new(),
            load_before: String::new(),
            cached,
            uncached,
            peers: if peers { vec![(AXUM_LOGIN, peer(8000.0)), (AUTHJS, peer(1000.0))] } else { Vec::new() },
            revocation: None,
            build_s: 0,
            bench_s: 0,
            whole_s: 0,
        }
    }

    fn settings() -> Settings {
        match crate::settings::parse(["--compare".to_string()], |_| None) {
            Ok(crate::settings::Command::Run(settings)) => *settings,
            _ => panic!("no settings"),
        }
    }

    #[test]
    fn targets_met_and_missed() {
        let s = settings();
        let met = comparison(&s, latchkey(24_000, 7_990, 30.0), latchkey(9_600, 9_000, 25.0), true);
        let targets = met.targets();
        assert!(targets.iter().all(|t| t.contains(": met (")), "{targets:#?}");
        assert!(targets[0].contains("(3.00×)"), "{}", targets[0]);
        assert!(targets[1].contains("(24.00×)"), "{}", targets[1]);
        assert!(targets[3].contains("(1.20×)"), "{}", targets[3]);

        let missed = comparison(&s, latchkey(12_000, 8_010, 32.06), latchkey(9_000, 9_000, 20.0), true);
        let targets = missed.targets();
        assert!(targets.iter().all(|t| t.contains(": MISSED (")), "{targets:#?}");
    }

    #[test]
    fn without_peers_the_ratios_are_not_measured() {
        let s = settings();
        let alone = comparison(&s, latchkey(24_000, 5_000, 20.0), latchkey(9_600, 9_000, 20.0), false);
        let targets = alone.targets();
        assert!(targets[0].ends_with("not measured (no peers)"));
        assert!(targets[2].contains(": met (5.00 ms)"));
        let report = alone.render();
        assert!(!report.contains("Ratios"));
        assert!(report.contains("latchkey, cache on, 10000 cookies"));
    }

    #[test]
    fn the_table_has_every_system() {
        let s = settings();
        let report = comparison(&s, latchkey(24_000, 5_000, 20.0), latchkey(9_600, 9_000, 20.0), true).render();
        for system in ["latchkey, cache on ", "latchkey, cache off ", "axum-login peer", "Auth.js peer"] {
            assert!(report.contains(system), "{system} missing:\n{report}");
        }
        assert!(report.contains("latchkey / axum-login: cache on 3.00, cache off 1.20"), "{report}");
    }
}
