//! `--compare`: latchkey beside its peers in one sitting. The peers first, each through
//! its own run.sh; then latchkey by the same protocol (one person with BENCH_PAGE_SESSIONS
//! sessions, one cookie, the peers' checks, SQL statements over single requests, wrk after
//! a warm-up, VmHWM) with its session cache on and then off, each process also measured
//! with BENCH_TOKENS distinct cookies; then the revocation delay; then the report.

use std::path::Path;
use std::time::{Duration, Instant};

use super::Bench;
use crate::checks;
use crate::comparison::{Comparison, Latchkey};
use crate::error::{bail, log, Context, Result};
use crate::peers::{self, PEERS, SQL_COUNT_REQUESTS};
use crate::seed::{self, PAGE_PERSON_EMAIL, PAGE_PERSON_NAME};
use crate::setup;
use crate::system;
use crate::wrk::{Cookies, Wrk};

/// A cookie that is no session.
const BAD_COOKIE: &str = "not-a-session";

impl Bench {
    pub(super) async fn compare(&mut self) -> Result<()> {
        let s = self.settings.clone();
        let peers_dir = s.peers.as_ref().map(|peers| {
            let dir = self.root.join(peers);
            dir.canonicalize().unwrap_or(dir)
        });
        log!(
            "mode: {}; {} s runs after {} s of warm-up; {} connections; pool {}; workers {}; peers: {}",
            s.mode(),
            s.duration_s,
            s.warmup_s,
            s.connections,
            s.pool,
            s.workers.map_or("default".into(), |w| w.to_string()),
            peers_dir.as_ref().map_or("none (BENCH_PEERS is empty)".into(), |dir| dir.display().to_string())
        );
        if let Some(dir) = &peers_dir {
            peers::check(dir)?;
        }
        let load_before = system::load_average();
        let build_s = self.prepare().await?;
        let bench_started = Instant::now();
        self.create_database().await?;

        let pool = self.db()?.bench()?;
        let t = Instant::now();
        seed::sessions(pool, 1, s.tokens, s.users, false).await?;
        self.db()?.settle().await?;
        log!(
            "{} sessions of as many people for the many-cookie runs (seeded in {} s)",
            s.tokens,
            t.elapsed().as_secs()
        );
        let many = self.cookie_file("cookies.txt", &seed::cookies_spread(pool, s.tokens, s.tokens).await?)?;
        let one = seed::cookies_page_person(pool, s.page_sessions)
            .await?
            .into_iter()
            .next()
            .context("the person has no sessions")?;
        // The app that created the schema idles while the peers run.
        self.stop_app().await?;

        let mut peer_figures = Vec::new();
        if let Some(dir) = &peers_dir {
            let scratch = self.dir.join("peers");
            std::fs::create_dir(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
            let build_cache = setup::target_dir(&self.root).join("bench-peers");
            for peer in PEERS {
                peer_figures.push((peer, peers::run(peer, dir, &scratch, &build_cache, &s).await?));
            }
        }

        let wrk = Wrk::new(&self.dir, self.http.base(), s.threads)?;
        let ticks_per_s = system::clock_ticks_per_second()?;
        let cached = self.latchkey(&wrk, ticks_per_s, true, &one, &many).await?;
        let uncached = self.latchkey(&wrk, ticks_per_s, false, &one, &many).await?;
        self.stop_app().await?;
        let revocation = if s.revocations > 0 { Some(self.revocation_delay().await?) } else { None };

        let comparison = Comparison {
            settings: &s,
            machine: system::machine(),
            postgres_version: self.db()?.server_version().await?,
            load_before,
            cached,
            uncached,
            peers: peer_figures,
            revocation,
            build_s,
            bench_s: bench_started.elapsed().as_secs(),
            whole_s: self.started.elapsed().as_secs(),
        };
        print!("{}", comparison.render());
        Ok(())
    }

    /// latchkey by the peers' protocol, on a fresh process with its session cache on or
    /// off; then, on the same process, with the many cookies of `many`.
    ///
    /// The many cookies' sessions are marked as seen just before (while no app runs), so
    /// that their runs measure the cache in its steady state: otherwise the first request
    /// of each session writes its activity stamp, which is announced and drops the entry
    /// from the cache, and a warm-up too short to reach every cookie would leave part of
    /// that to the measured run. The one cookie's stamp is written by the checks, as the
    /// peers' checks come before their count.
    async fn latchkey(&mut self, wrk: &Wrk, ticks_per_s: f64, cache: bool, one: &str, many: &Path) -> Result<Latchkey> {
        let s = self.settings.clone();
        let name = if cache { "latchkey, cache on" } else { "latchkey, cache off" };
        self.stop_app().await?;
        seed::mark_seen(self.db()?.bench()?, s.tokens).await?;
        self.start_app(s.pool, cache).await?;
        self.peer_checks(one).await?;
        // The peers wait a second between their checks and their count (for their
        // statement log): so does this, which also lets the checks' writes be announced.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let statements = checks::statements_per_request(&self.http, self.db()?, "/", one, SQL_COUNT_REQUESTS).await?;
        log!("{name}: {statements:.2} SQL statements per request over {SQL_COUNT_REQUESTS} single requests");

        let bench = self.measuring(wrk, ticks_per_s, None)?;
        bench.warm_up("/", Cookies::One(one), s.connections).await?;
        let one_run = bench.run("/", Cookies::One(one), s.connections, name).await?;
        let rss_mib = self.app()?.peak_rss_mib()?;
        bench.warm_up("/", Cookies::Cycle(many), s.connections).await?;
        let label = format!("{name}, {} cookies", s.tokens);
        let many_run = bench.run("/", Cookies::Cycle(many), s.connections, &label).await?;
        let rss_many_mib = self.app()?.peak_rss_mib()?;
        Ok(Latchkey { one: one_run, statements, rss_mib, many: many_run, rss_many_mib })
    }

    /// The peers' checks: the cookie gets 200 with the person's name and e-mail; a bad
    /// cookie and none get 401 or a redirect (to sign in), as the peers' README allows.
    async fn peer_checks(&self, token: &str) -> Result<()> {
        let (status, body) = self.http.get("/", token).await?;
        if status != 200 {
            bail!("GET / with the seeded cookie answered {status}, not 200");
        }
        for shown in [PAGE_PERSON_NAME, PAGE_PERSON_EMAIL] {
            if !body.contains(shown) {
                bail!("GET / with the seeded cookie does not show '{shown}'");
            }
        }
        let (bad, _) = self.http.get("/", BAD_COOKIE).await?;
        let none = self.http.status("/").await;
        let refused = |status: u16| status == 401 || (300..400).contains(&status);
        if !refused(bad) || !none.is_some_and(refused) {
            bail!("GET / answered {bad} with a bad cookie and {none:?} without one, not 401 or a redirect");
        }
        Ok(())
    }
}
