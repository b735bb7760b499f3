//! The run, in order: tools, services and build; the bench database; then for each size
//! the exact checks and GET /, with the headline figures at the base size; the plan; the
//! revocation delay; the sweeper; the report. Or, with `--compare`, the comparison with
//! the peers (compare.rs). And the clean-up that follows either however it ended.

mod compare;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::app::{self, App, AppConfig, LIFETIMES};
use crate::checks::{self, Expect, Http};
use crate::database::{self, Databases};
use crate::error::{bail, log, Context, Result};
use crate::lookup::{self, Lookup};
use crate::measure::{self, Measured};
use crate::pgbench::Pgbench;
use crate::report::{Base, Growth, Pages, PoolRun, Report, Sweep};
use crate::revocation::{self, Revocation};
use crate::seed;
use crate::settings::Settings;
use crate::setup;
use crate::system;
use crate::wrk::{self, Cookies, Load, Wrk};

/// Single requests per exact check of / and /api/session, and of each sessions page.
const EXACT_REQUESTS: usize = 25;
const EXACT_PAGE_REQUESTS: usize = 3;
/// A guarded request runs the lookup, and nothing else.
const GUARDED_STATEMENTS: i64 = 1;
/// A sessions page runs the lookup, the listing and the recent activity.
const PAGE_STATEMENTS: i64 = 3;
/// The pool of each instance of the revocation delay: single requests, one at a time.
const REVOCATION_POOL: u32 = 4;
/// The logs of the apps this program starts, in its scratch folder: the measured app,
/// and the revocation delay's instances A and B.
const APP_LOGS: [&str; 3] = ["app.log", "app-a.log", "app-b.log"];

/// The app's lookup, and pgbench set up to run it.
struct Found {
    lookup: Lookup,
    pgbench: Pgbench,
}

/// What the sizes of the sessions table gave.
struct Sizes {
    growth: Vec<Growth>,
    base: Base,
    found: Found,
    /// A cookie at the largest size, for the plan.
    last_cookie: String,
}

pub struct Bench {
    settings: Settings,
    root: PathBuf,
    /// Scratch files (cookies, wrk's script and output, the app's log); removed at the end.
    dir: PathBuf,
    services_started: Vec<&'static str>,
    http: Http,
    started: Instant,
    db: Option<Databases>,
    app: Option<App>,
    binary: Option<PathBuf>,
}

impl Bench {
    pub fn new(settings: Settings) -> Result<Bench> {
        // This crate is bench/ in the repository.
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("bench/ has no parent directory")?.to_path_buf();
        let dir = std::env::temp_dir().join(format!("latchkey-bench.{}", std::process::id()));
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Bench {
            http: Http::new(settings.port)?,
            // Services that are down now are started by this run and stopped at its end.
            services_started: setup::services_down(&root),
            settings,
            root,
            dir,
            started: Instant::now(),
            db: None,
            app: None,
            binary: None,
        })
    }

    fn db(&self) -> Result<&Databases> {
        self.db.as_ref().context("not connected to PostgreSQL")
    }

    fn app(&self) -> Result<&App> {
        self.app.as_ref().context("the app is not running")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(APP_LOGS[0])
    }

    /// (Re)starts the measured app with a pool of `pool` connections, its session cache
    /// on or off.
    async fn start_app(&mut self, pool: u32, cache: bool) -> Result<()> {
        self.stop_app().await?;
        let app = self.launch(&self.http, pool, cache, &self.log_path()).await?;
        self.app = Some(app);
        Ok(())
    }

    async fn stop_app(&mut self) -> Result<()> {
        match self.app.take() {
            Some(app) => app.stop().await,
            None => Ok(()),
        }
    }

    /// Starts an instance of the app on the port of `http`, logging to `log`.
    async fn launch(&self, http: &Http, pool: u32, cache: bool, log: &Path) -> Result<App> {
        let binary = self.binary.as_deref().context("the app has not been built")?;
        let config = AppConfig {
            binary,
            root: &self.root,
            port: http.port(),
            database_url: &self.db()?.url,
            pool,
            cache,
            workers: self.settings.workers,
            log_level: &self.settings.log,
            log,
        };
        App::start(&config, http).await
    }

    fn cookie_file(&self, name: &str, cookies: &[String]) -> Result<PathBuf> {
        let path = self.dir.join(name);
        wrk::write_cookies(&path, cookies)?;
        Ok(path)
    }

    pub async fn run(&mut self) -> Result<()> {
        if self.settings.compare {
            return self.compare().await;
        }
        let s = self.settings.clone();
        log!(
            "mode: {}; sizes {}; base {}; {}s runs; {} connections; pool {}; workers {}",
            s.mode(),
            s.sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(" "),
            s.base,
            s.duration_s,
            s.connections,
            s.pool,
            s.workers.map_or("default".into(), |w| w.to_string())
        );
        let load_before = system::load_average();
        let build_s = self.prepare().await?;
        let bench_started = Instant::now();
        self.create_database().await?;

        let wrk = Wrk::new(&self.dir, self.http.base(), s.threads)?;
        let ticks_per_s = system::clock_ticks_per_second()?;
        let sizes = self.sizes(&wrk, ticks_per_s).await?;
        let lookup = &sizes.found.lookup;

        // ---- the lookup's plan at the largest size, as the app runs it
        let token = &sizes.last_cookie;
        if !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            bail!("a seeded cookie is not base64url: {token}");
        }
        let token_hash = format!("sha256(convert_to('{token}', 'UTF8'))");
        let mut connection = self.db()?.bench()?.acquire().await.context("a connection for EXPLAIN")?;
        let explain = lookup.explain(&mut connection, &token_hash, &LIFETIMES).await?;
        drop(connection);

        let revocation = if s.revocations > 0 { Some(self.revocation_delay().await?) } else { None };

        let sweep = if s.sweep_rows > 0 { Some(self.sweep(&wrk, ticks_per_s, lookup.queryid).await?) } else { None };
        let rss_final_mib = self.app()?.peak_rss_mib()?;
        let sweep = sweep.map(|sweep| Sweep { rss_final_mib, ..sweep });
        if let Some(app) = self.app.take() {
            app.stop().await?;
        }

        let stand_ins: String = lookup
            .stand_ins()?
            .iter()
            .map(|(n, value)| {
                format!("; ${n}, a literal it normalised ({}), bound as {value}", lookup.parameter_types[n - 1])
            })
            .collect();
        let report = Report {
            settings: &s,
            machine: system::machine(),
            postgres_version: self.db()?.server_version().await?,
            load_before,
            exact_home: GUARDED_STATEMENTS,
            exact_api: GUARDED_STATEMENTS,
            growth: sizes.growth,
            base: sizes.base,
            stand_ins: format!(
                "pgbench and this plan run the statement as pg_stat_statements recorded it, queryid {}{stand_ins}",
                lookup.queryid
            ),
            activity_interval: LIFETIMES.activity_interval(),
            explain,
            revocation,
            sweep,
            build_s,
            bench_s: bench_started.elapsed().as_secs(),
            whole_s: self.started.elapsed().as_secs(),
        };
        print!("{}", report.render());
        Ok(())
    }

    /// Tools, services, a free port, the app's build (timed: the seconds are returned)
    /// and the disk space the largest table needs.
    async fn prepare(&mut self) -> Result<u64> {
        let s = &self.settings;
        setup::install_tools(s.compare && s.peers.is_some()).await?;
        setup::services(&self.root, &["up"]).await?;
        for port in [s.port, s.port + 1, s.port + 2] {
            let http = Http::new(port)?;
            if http.status("/").await.is_some() {
                bail!("something already answers on {}; set BENCH_PORT to a port free with the next two", http.base());
            }
        }
        let build = Instant::now();
        let release = !self.settings.smoke;
        log!("building the app ({} profile)", if release { "release" } else { "debug" });
        self.binary = Some(setup::build_app(&self.root, release).await?);
        let build_s = build.elapsed().as_secs();
        check_disk(&self.settings)?;
        Ok(build_s)
    }

    /// A fresh bench database, the app on it (which applies latchkey's migrations), and
    /// the people.
    async fn create_database(&mut self) -> Result<()> {
        let s = &self.settings;
        log!("creating database {}", s.database);
        let mut db = Databases::connect(&s.database, s.sslmode.as_deref()).await?;
        let created = db.create().await;
        // Kept even when creating failed, so that the clean-up drops what was made.
        self.db = Some(db);
        created?;
        seed::create_token_function(self.db()?.bench()?).await?;
        self.start_app(self.settings.pool, false).await?;
        let s = &self.settings;
        let t = Instant::now();
        seed::people(self.db()?.bench()?, s.users).await?;
        seed::page_person(self.db()?.bench()?, s.page_sessions).await?;
        log!(
            "seeded {} people and the page person's {} sessions in {} s",
            s.users,
            s.page_sessions,
            t.elapsed().as_secs()
        );
        Ok(())
    }

    /// The sessions table grown to each size in turn: GET / at every size, with the exact
    /// checks and the lookup at the first and everything else at the base size.
    async fn sizes(&mut self, wrk: &Wrk, ticks_per_s: f64) -> Result<Sizes> {
        let s = self.settings.clone();
        let mut growth = Vec::new();
        let mut base = None;
        let mut found: Option<Found> = None;
        let mut last_cookie = None;
        let mut seeded = 0;
        for &size in &s.sizes {
            let t = Instant::now();
            seed::sessions(self.db()?.bench()?, seeded + 1, size, s.users, false).await?;
            seeded = size;
            self.db()?.settle().await?;
            let seed_s = t.elapsed().as_secs();
            log!("{size} sessions in the table (seeded and vacuumed in {seed_s} s)");
            let cookies = seed::cookies_spread(self.db()?.bench()?, size, s.tokens).await?;
            let cookie_file = self.cookie_file("cookies.txt", &cookies)?;
            last_cookie = cookies.first().cloned();

            self.measuring(wrk, ticks_per_s, None)?.warm_up("/", Cookies::Cycle(&cookie_file), s.connections).await?;
            if found.is_none() {
                found = Some(self.find_lookup(&cookies).await?);
            }
            let lookup = found.as_ref().context("the lookup was not found")?;
            let bench = self.measuring(wrk, ticks_per_s, Some(lookup.lookup.queryid))?;
            let home = bench
                .run("/", Cookies::Cycle(&cookie_file), s.connections, &format!("GET / ({size} sessions)"))
                .await?;
            growth.push(Growth { size, seed_s, run: home });
            if size == s.base {
                base = Some(self.base_figures(wrk, ticks_per_s, size, &cookie_file, home, lookup).await?);
            }
        }
        Ok(Sizes {
            growth,
            base: base.context("the base size was not measured")?,
            found: found.context("no size was measured")?,
            last_cookie: last_cookie.context("no cookies")?,
        })
    }

    /// The headline figures, at the base size: GET / at fewer connections, /api/session,
    /// peak RSS, pgbench, the sessions pages and the other pool sizes.
    async fn base_figures(
        &mut self,
        wrk: &Wrk,
        ticks_per_s: f64,
        size: u64,
        cookie_file: &Path,
        home: Measured,
        found: &Found,
    ) -> Result<Base> {
        let s = self.settings.clone();
        let bench = self.measuring(wrk, ticks_per_s, Some(found.lookup.queryid))?;
        let low = match s.low_connections {
            Some(connections) => {
                let label = format!("GET / at {connections} connections");
                Some((connections, bench.run("/", Cookies::Cycle(cookie_file), connections, &label).await?))
            }
            None => None,
        };
        bench.warm_up("/api/session", Cookies::Cycle(cookie_file), s.connections).await?;
        let api = bench
            .run(
                "/api/session",
                Cookies::Cycle(cookie_file),
                s.connections,
                &format!("GET /api/session ({size} sessions)"),
            )
            .await?;
        let rss_mib = self.app()?.peak_rss_mib()?;
        let pgbench = found.pgbench.run(size, s.tokens, s.pool, s.duration_s).await?;
        let pages = self.sessions_pages(&bench).await?;
        let rss_page_mib = self.app()?.peak_rss_mib()?;

        let mut pools = Vec::new();
        for &pool in &s.pools {
            self.start_app(pool, false).await?;
            let bench = self.measuring(wrk, ticks_per_s, Some(found.lookup.queryid))?;
            bench.warm_up("/", Cookies::Cycle(cookie_file), s.connections).await?;
            let run =
                bench.run("/", Cookies::Cycle(cookie_file), s.connections, &format!("GET / (pool {pool})")).await?;
            let rss_mib = self.app()?.peak_rss_mib()?;
            let pgbench = found.pgbench.run(size, s.tokens, pool, s.duration_s).await?;
            pools.push(PoolRun { pool, run, rss_mib, pgbench });
        }
        if !s.pools.is_empty() {
            self.start_app(s.pool, false).await?;
        }
        Ok(Base { home, low, api, rss_mib, pgbench, pages, rss_page_mib, pools })
    }

    /// The sessions page of the person with many sessions, at the app's page size (from
    /// /api/sessions): the first page (this device and the most recently active) and the
    /// last (the deepest OFFSET).
    async fn sessions_pages(&self, bench: &measure::Bench<'_>) -> Result<Pages> {
        let s = &self.settings;
        let cookies = seed::cookies_page_person(self.db()?.bench()?, s.page_sessions).await?;
        let file = self.cookie_file("page.txt", &cookies)?;
        let paging = checks::paging(&self.http, cookies.first().context("the page person has no sessions")?).await?;
        if paging.total != s.page_sessions || paging.per_page == 0 {
            bail!(
                "GET /api/sessions: {} sessions {} a page, for a person with {}",
                paging.total,
                paging.per_page,
                s.page_sessions
            );
        }
        let last_page = s.page_sessions.div_ceil(paging.per_page);
        if paging.pages != last_page {
            bail!("GET /api/sessions: {} pages of {} for {} sessions", paging.pages, paging.per_page, s.page_sessions);
        }
        let last_path = format!("/sessions?page={last_page}");
        let first_rows = s.page_sessions.min(paging.per_page);
        let last_rows = s.page_sessions - (last_page - 1) * paging.per_page;
        for (path, rows) in [("/sessions", first_rows), (last_path.as_str(), last_rows)] {
            let rows = usize::try_from(rows).context("a page size")?;
            let expect = Expect::Rows(rows);
            checks::exact(&self.http, self.db()?, path, &cookies, EXACT_PAGE_REQUESTS, PAGE_STATEMENTS, expect).await?;
        }
        bench.warm_up("/sessions", Cookies::Cycle(&file), s.connections).await?;
        let label = format!("GET /sessions (page 1 of {last_page})");
        let first = bench.run("/sessions", Cookies::Cycle(&file), s.connections, &label).await?;
        bench.warm_up(&last_path, Cookies::Cycle(&file), s.connections).await?;
        let last = bench
            .run(&last_path, Cookies::Cycle(&file), s.connections, &format!("GET {last_path} (the last page)"))
            .await?;
        Ok(Pages { per_page: paging.per_page, last_page, statements: PAGE_STATEMENTS, first, last })
    }

    fn measuring<'a>(&'a self, wrk: &'a Wrk, ticks_per_s: f64, lookup: Option<i64>) -> Result<measure::Bench<'a>> {
        Ok(measure::Bench {
            app: self.app()?,
            db: self.db()?,
            wrk,
            ticks_per_s,
            warmup_s: self.settings.warmup_s,
            duration_s: self.settings.duration_s,
            lookup,
        })
    }

    /// At the first size, once the app has served the warm-up: seeded cookies are answered
    /// by exactly one statement on / and on /api/session, and that statement, as
    /// pg_stat_statements recorded it, is the lookup pgbench runs. Returns it with its
    /// pgbench.
    async fn find_lookup(&self, cookies: &[String]) -> Result<Found> {
        let db = self.db()?;
        let n = EXACT_REQUESTS.min(cookies.len());
        let home = checks::exact(&self.http, db, "/", cookies, n, GUARDED_STATEMENTS, Expect::Page).await?;
        let api =
            checks::exact(&self.http, db, "/api/session", cookies, n, GUARDED_STATEMENTS, Expect::SeededPerson).await?;
        let queryid = lookup::find(&home, n as i64)?;
        if lookup::find(&api, n as i64)? != queryid {
            log!("WARNING /api/session runs another statement than /: pgbench runs the one of /");
        }
        let text = db.statement_text(queryid).await?;
        let mut connection = db.bench()?.acquire().await.context("a connection to read the lookup")?;
        let lookup = Lookup::new(&mut connection, queryid, text).await?;
        drop(connection);
        let script = lookup.pgbench_script(seed::token_hash_sql)?;
        let variables = lookup.pgbench_variables(&LIFETIMES)?;
        let pgbench = Pgbench::new(&self.dir, &script, variables, &db.url, self.settings.threads)?;
        log!(
            "the lookup: statement {queryid} of pg_stat_statements, parameters ({})",
            lookup.parameter_types.join(", ")
        );
        Ok(Found { lookup, pgbench })
    }

    /// Two more instances of the app on the next two ports, with the session cache on (the
    /// measured app, if running, stays as it is): BENCH_REVOCATIONS sessions of a person of
    /// their own revoked through A while B has them cached (see revocation.rs).
    async fn revocation_delay(&self) -> Result<Revocation> {
        let s = &self.settings;
        let pool = self.db()?.bench()?;
        seed::revoked_person(pool, s.revocations + 1).await?;
        let sessions = seed::revoked_person_sessions(pool, s.revocations + 1).await?;
        let ((revoker, _), victims) = sessions.split_first().context("no sessions were seeded to revoke")?;
        let (http_a, http_b) = (Http::new(s.port + 1)?, Http::new(s.port + 2)?);
        let a = self.launch(&http_a, REVOCATION_POOL, true, &self.dir.join(APP_LOGS[1])).await?;
        let b = self.launch(&http_b, REVOCATION_POOL, true, &self.dir.join(APP_LOGS[2])).await?;
        log!(
            "instances A ({}) and B ({}) up, cache on; {} sessions to revoke",
            http_a.base(),
            http_b.base(),
            victims.len()
        );
        let measured = revocation::measure(&http_a, &http_b, self.db()?, revoker, victims).await;
        // Both are stopped whatever the measurement gave (and by their drop on an error here).
        let (stopped_a, stopped_b) = (a.stop().await, b.stop().await);
        let measured = measured?;
        stopped_a?;
        stopped_b?;
        Ok(measured)
    }

    /// Expired sessions interleaved with as many live ones, one sweep with the library's
    /// `sweep_once` while wrk drives GET /; wrk is stopped as soon as the sweep returns, so
    /// that the "during" figures cover the sweep only.
    async fn sweep(&self, wrk: &Wrk, ticks_per_s: f64, lookup: i64) -> Result<Sweep> {
        let s = &self.settings;
        let db = self.db()?;
        let pool = db.bench()?;
        let t = Instant::now();
        seed::delete_all_sessions(pool).await?;
        seed::sessions(pool, 1, 2 * s.sweep_rows, s.users, true).await?;
        db.settle().await?;
        let (expired, _) = seed::session_counts(pool).await?;
        if expired != s.sweep_rows as i64 {
            bail!("seeded {expired} expired sessions, not {}", s.sweep_rows);
        }
        log!("{} expired among {} live sessions (seeded in {} s)", s.sweep_rows, s.sweep_rows, t.elapsed().as_secs());
        let cookies = seed::cookies_live_odd(pool, s.sweep_rows, s.tokens).await?;
        let cookie_file = self.cookie_file("cookies.txt", &cookies)?;
        let bench = self.measuring(wrk, ticks_per_s, Some(lookup))?;
        bench.warm_up("/", Cookies::Cycle(&cookie_file), s.connections).await?;
        let before = bench.run("/", Cookies::Cycle(&cookie_file), s.connections, "GET / before the sweep").await?;

        let load = Load {
            path: "/",
            cookies: Cookies::Cycle(&cookie_file),
            seconds: 3600,
            connections: s.connections,
            check: true,
        };
        let running = wrk.start(&load)?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        let report = latchkey::sweep_once(pool, &database::schema(), s.sweep_batch).await.context("sweep_once")?;
        let elapsed = started.elapsed();
        if elapsed < Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        running.interrupt()?;
        let during = running.finish("GET / during the sweep").await?;
        measure::log_figures("GET / during the sweep", &during);
        let report = report.context("sweep_once: another process holds the sweep lock")?;
        if report.sessions != s.sweep_rows {
            bail!("the sweep removed {} sessions, not the {} expired ones", report.sessions, s.sweep_rows);
        }
        let left = seed::session_counts(pool).await?;
        if left != (0, s.sweep_rows as i64) {
            bail!("after the sweep: expired and total sessions are {} {}, expected 0 {}", left.0, left.1, s.sweep_rows);
        }
        Ok(Sweep {
            elapsed_s: elapsed.as_secs_f64(),
            sessions: report.sessions,
            batches: report.batches,
            before,
            during,
            rss_final_mib: 0.0,
        })
    }

    /// Stops the app, drops the bench database (unless kept), shows the app's last lines
    /// when the run failed, removes the scratch files and stops the services this run
    /// started. Each step runs whatever the others did.
    pub async fn clean_up(&mut self, failed: bool) {
        if let Some(app) = self.app.take() {
            if let Err(error) = app.stop().await {
                log!("could not stop the app: {error}");
            }
        }
        if let Some(db) = self.db.as_mut() {
            if self.settings.keep_database {
                log!("keeping database {} (BENCH_KEEP_DB=1)", db.name);
            } else if let Err(error) = db.drop_created().await {
                log!("could not drop {}: {error}", db.name);
            }
            db.close().await;
        }
        if failed {
            for name in APP_LOGS {
                let tail = app::log_tail(&self.dir.join(name), 20);
                if !tail.is_empty() {
                    log!("last lines of {name}, the log of an app this run started (request lines left out):");
                    for line in tail {
                        eprintln!("{line}");
                    }
                }
            }
        }
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            log!("could not remove {}: {error}", self.dir.display());
        }
        if !self.services_started.is_empty() {
            let mut args = vec!["down"];
            args.extend(&self.services_started);
            if let Err(error) = setup::services(&self.root, &args).await {
                log!("{error}");
            }
        }
    }
}

/// About 450 bytes a session with its five indexes, plus room for WAL and vacuum.
fn check_disk(s: &Settings) -> Result<()> {
    let rows = s.largest().max(2 * s.sweep_rows);
    let need_mib = rows * 700 / 1_048_576 + 512;
    let data = Path::new("/var/lib/postgresql");
    let free_mib = system::free_mib(if data.exists() { data } else { Path::new("/") })?;
    if free_mib < need_mib {
        bail!("{rows} sessions need about {need_mib} MB free for PostgreSQL, {free_mib} MB are; lower BENCH_SIZES");
    }
    Ok(())
}
