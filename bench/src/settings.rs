//! What a run does: `--smoke` and the `BENCH_*` environment variables, checked before
//! anything is started.

use std::path::PathBuf;

use crate::error::{bail, Context, Result};

pub const HELP: &str = "\
latchkey's benchmark: the reference app (release build) against its own PostgreSQL
database, driven by wrk with seeded session cookies.

  scripts/bench            the full run (10k, 1M and 10M sessions; see BENCHMARKS.md)
  scripts/bench --smoke    tiny sizes and 2-second runs of the debug build: checks that
                           everything works (exits non-zero when it does not), never
                           judges speed
  scripts/bench --compare  latchkey beside the peers of BENCH_PEERS (axum-login, Auth.js),
                           in the same sitting and by their protocol, then the revocation
                           delay between two instances (with --smoke: 2-second runs)

What it measures, in order:
  1. correctness: seeded cookies get 200 on / and /api/session, with exactly one SQL
     statement per guarded request (pg_stat_statements, diffed, never reset);
  2. growth: p99 of GET / with each of BENCH_SIZES sessions in the table;
  3. at BENCH_BASE_SIZE sessions: req/s, p50, p99 of / and /api/session, SQL statements
     per request, the app's peak RSS, pgbench running the app's own lookup statement as
     pg_stat_statements recorded it (the ceiling), the pool sizes of BENCH_POOLS, and
     GET /sessions of a person with BENCH_PAGE_SESSIONS sessions;
  4. the revocation delay: two instances with the session cache on, BENCH_REVOCATIONS
     sessions warmed into B's cache and revoked through A (DELETE /api/sessions/<id>);
     how long until B answers 401;
  5. the sweeper: BENCH_SWEEP_ROWS expired among as many live sessions, one sweep
     (the library's sweep_once, in this program) while wrk drives /.

What --compare measures instead, by the peers' protocol (../shared/peers/README.md):
one person with BENCH_PAGE_SESSIONS sessions and one cookie, wrk -tBENCH_THREADS
-cBENCH_CONNECTIONS -dBENCH_DURATION --latency after BENCH_WARMUP s, peak RSS (VmHWM),
SQL statements per guarded request over 50 single requests; latchkey with the session
cache on (the library's default) and off, then with BENCH_TOKENS distinct cookies (cache
on and off), each peer through its own run.sh in a copy of its folder, and the
revocation delay. It prints the table, the ratios and the targets.

Settings (environment):
  BENCH_SIZES=\"10000 1000000 10000000\"  session counts, seeded incrementally
  BENCH_BASE_SIZE=1000000   where the headline figures are taken (the largest size
                            not above it, else the smallest)
  BENCH_DURATION=30         seconds per measured run;  BENCH_WARMUP=5 before each
  BENCH_CONNECTIONS=64  BENCH_THREADS=2  (wrk)
  BENCH_POOL=16             databases.auth.max_connections (and pgbench's clients)
  BENCH_POOLS=\"8 16 32\"     extra pool sizes tried at the base size (\"\" for none)
  BENCH_WORKERS=            ROCKET_WORKERS (unset: Rocket's default, one per core)
  BENCH_LOG=info            LATCHKEY_LOG of the app (info, its default, logs each request)
  BENCH_SSLMODE=disable     sslmode for the app, pgbench and the sweep (empty: the
                            drivers' default, prefer: TLS when the server offers it)
  BENCH_LOW_CONNECTIONS=16  one more run of / at this concurrency (\"\" for none)
  BENCH_USERS=100000        people the sessions belong to
  BENCH_TOKENS=10000        distinct cookies wrk sends (spread over the whole table)
  BENCH_PAGE_SESSIONS=1000  sessions of the person whose /sessions page is measured
  BENCH_SWEEP_ROWS=1000000  expired rows (and as many live ones) for the sweep; 0: no sweep
  BENCH_SWEEP_BATCH=1000    the sweeper's batch size (auth.session.sweep_batch_size)
  BENCH_DB=latchkey_bench   dropped and recreated on every run, dropped at the end
  BENCH_KEEP_DB=1           keep it at the end (to look at plans with psql)
  BENCH_PORT=8099           the app's port (the two instances of the revocation delay
                            take the next two)
  BENCH_REVOCATIONS=200     sessions revoked for the revocation delay (0: not measured)
  BENCH_PEERS=../shared/peers  the peers' folder for --compare, relative to the repository
                            (read-only: each peer is copied to a scratch folder and run
                            there); empty: latchkey alone
  BENCH_SMOKE=1             the same as --smoke
  BENCH_COMPARE=1           the same as --compare

Smoke defaults: BENCH_SIZES=\"1000 3000\", BENCH_DURATION=2, BENCH_WARMUP=1, BENCH_USERS=200,
BENCH_TOKENS=500, BENCH_POOLS=\"\", BENCH_SWEEP_ROWS=2000, BENCH_REVOCATIONS=50.
Compare defaults (the peers' protocol): BENCH_DURATION=20, BENCH_WARMUP=5 (with --smoke
2 and 1).

The program is bench/ in the repository (the crate latchkey-bench); scripts/bench runs
it, in the release profile for a full run and the debug profile for --smoke.
";

pub const USAGE: &str = "usage: scripts/bench [--smoke] [--compare]";

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    Help,
    Run(Box<Settings>),
}

/// Why the command line was refused: a usage error (exit 2) or a bad setting (exit 1).
#[derive(Debug)]
pub enum Refusal {
    Usage(String),
    Invalid(crate::error::Failure),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub smoke: bool,
    /// latchkey beside the peers, by their protocol, instead of the full run.
    pub compare: bool,
    /// Ascending, without repeats.
    pub sizes: Vec<u64>,
    /// The size the headline figures are taken at: one of `sizes`.
    pub base: u64,
    pub duration_s: u64,
    pub warmup_s: u64,
    pub connections: u32,
    pub threads: u32,
    pub pool: u32,
    pub pools: Vec<u32>,
    pub workers: Option<u32>,
    pub log: String,
    /// None: the drivers' default.
    pub sslmode: Option<String>,
    pub low_connections: Option<u32>,
    pub users: u64,
    pub tokens: u64,
    pub page_sessions: u64,
    pub sweep_rows: u64,
    pub sweep_batch: u32,
    /// Sessions revoked for the revocation delay; 0: not measured.
    pub revocations: u64,
    /// The peers' folder (relative to the repository unless absolute); None: latchkey
    /// alone.
    pub peers: Option<PathBuf>,
    pub database: String,
    pub keep_database: bool,
    pub port: u16,
}

impl Settings {
    pub fn smallest(&self) -> u64 {
        self.sizes.first().copied().unwrap_or(self.base)
    }

    pub fn largest(&self) -> u64 {
        self.sizes.last().copied().unwrap_or(self.base)
    }

    pub fn mode(&self) -> &'static str {
        match (self.smoke, self.compare) {
            (false, false) => "full",
            (true, false) => "smoke",
            (false, true) => "compare",
            (true, true) => "smoke compare",
        }
    }
}

/// Reads the arguments and the environment (`env` looks a variable up).
pub fn parse(args: impl IntoIterator<Item = String>, env: impl Fn(&str) -> Option<String>) -> Result<Command, Refusal> {
    let mut smoke = env("BENCH_SMOKE").as_deref() == Some("1");
    let mut compare = env("BENCH_COMPARE").as_deref() == Some("1");
    for arg in args {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--compare" => compare = true,
            "-h" | "--help" => return Ok(Command::Help),
            _ => return Err(Refusal::Usage(format!("unknown argument '{arg}'"))),
        }
    }
    from_env(smoke, compare, &env).map(|settings| Command::Run(Box::new(settings))).map_err(Refusal::Invalid)
}

fn from_env(smoke: bool, compare: bool, env: &impl Fn(&str) -> Option<String>) -> Result<Settings> {
    // Two kinds of default, as a shell's ${X:-default} and ${X-default}: most settings
    // take the default when empty; a few lists and options mean "none" when set empty.
    let or = |name: &str, default: &str| env(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string());
    let or_unset = |name: &str, default: &str| env(name).unwrap_or_else(|| default.to_string());
    let (sizes, duration, warmup, users, tokens, pools, sweep_rows, revocations) = if smoke {
        ("1000 3000", "2", "1", "200", "500", or("BENCH_POOLS", ""), "2000", "50")
    } else {
        ("10000 1000000 10000000", "30", "5", "100000", "10000", or_unset("BENCH_POOLS", "8 16 32"), "1000000", "200")
    };
    // The peers' protocol: 20-second runs after 5 seconds of warm-up.
    let duration = if compare && !smoke { "20" } else { duration };
    let peers = Some(or_unset("BENCH_PEERS", "../shared/peers")).filter(|path| !path.is_empty()).map(PathBuf::from);

    let mut sizes = positive_list::<u64>("BENCH_SIZES", &or("BENCH_SIZES", sizes))?;
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() {
        bail!("BENCH_SIZES is empty");
    }
    let base_size: u64 = whole("BENCH_BASE_SIZE", &or("BENCH_BASE_SIZE", "1000000"))?;
    let base = sizes.iter().copied().filter(|&size| size <= base_size).max().unwrap_or(sizes[0]);

    let workers = match or("BENCH_WORKERS", "").as_str() {
        "" => None,
        value => Some(positive("BENCH_WORKERS", value)?),
    };
    let low_connections = match or_unset("BENCH_LOW_CONNECTIONS", "16").as_str() {
        "" => None,
        value => Some(positive("BENCH_LOW_CONNECTIONS", value)?),
    };
    let sslmode = Some(or_unset("BENCH_SSLMODE", "disable")).filter(|mode| !mode.is_empty());
    if let Some(mode) = &sslmode {
        if !["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(&mode.as_str()) {
            bail!("BENCH_SSLMODE must be one of PostgreSQL's sslmodes, not '{mode}'");
        }
    }

    let database = or("BENCH_DB", "latchkey_bench");
    let plain = database.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && database.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !plain {
        bail!("BENCH_DB must be a plain lower-case name, not '{database}'");
    }
    if database == "latchkey" {
        bail!("BENCH_DB must not be the dev database");
    }

    let port: u16 = positive("BENCH_PORT", &or("BENCH_PORT", "8099"))?;
    if port > u16::MAX - 2 {
        bail!("BENCH_PORT must leave the next two ports for the revocation delay's instances");
    }

    Ok(Settings {
        smoke,
        compare,
        base,
        duration_s: positive("BENCH_DURATION", &or("BENCH_DURATION", duration))?,
        warmup_s: whole("BENCH_WARMUP", &or("BENCH_WARMUP", warmup))?,
        connections: positive("BENCH_CONNECTIONS", &or("BENCH_CONNECTIONS", "64"))?,
        threads: positive("BENCH_THREADS", &or("BENCH_THREADS", "2"))?,
        pool: positive("BENCH_POOL", &or("BENCH_POOL", "16"))?,
        pools: positive_list("BENCH_POOLS", &pools)?,
        workers,
        log: or("BENCH_LOG", "info"),
        sslmode,
        low_connections,
        users: positive("BENCH_USERS", &or("BENCH_USERS", users))?,
        tokens: positive("BENCH_TOKENS", &or("BENCH_TOKENS", tokens))?,
        page_sessions: positive("BENCH_PAGE_SESSIONS", &or("BENCH_PAGE_SESSIONS", "1000"))?,
        sweep_rows: whole("BENCH_SWEEP_ROWS", &or("BENCH_SWEEP_ROWS", sweep_rows))?,
        sweep_batch: positive("BENCH_SWEEP_BATCH", &or("BENCH_SWEEP_BATCH", "1000"))?,
        revocations: whole("BENCH_REVOCATIONS", &or("BENCH_REVOCATIONS", revocations))?,
        peers,
        keep_database: env("BENCH_KEEP_DB").as_deref() == Some("1"),
        database,
        port,
        sizes,
    })
}

fn whole<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
    // Digits only: FromStr would also take "+5".
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{name} must be a whole number, not '{value}'");
    }
    value.parse().ok().with_context(|| format!("{name} is too large: '{value}'"))
}

fn positive<T: std::str::FromStr + PartialEq + Default>(name: &str, value: &str) -> Result<T> {
    let number: T = whole(name, value)?;
    if number == T::default() {
        bail!("{name} must be at least 1");
    }
    Ok(number)
}

fn positive_list<T: std::str::FromStr + PartialEq + Default>(name: &str, value: &str) -> Result<Vec<T>> {
    value.split_whitespace().map(|item| positive(name, item)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(args: &[&str], vars: &[(&str, &str)]) -> Result<Command, Refusal> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(args.iter().map(|a| a.to_string()), |name| vars.get(name).cloned())
    }

    fn run(args: &[&str], vars: &[(&str, &str)]) -> Settings {
        match settings(args, vars) {
            Ok(Command::Run(settings)) => *settings,
            other => panic!("expected settings, got {other:?}"),
        }
    }

    #[test]
    fn full_run_defaults() {
        let s = run(&[], &[]);
        assert!(!s.smoke);
        assert_eq!(s.sizes, vec![10_000, 1_000_000, 10_000_000]);
        assert_eq!(s.base, 1_000_000);
        assert_eq!((s.duration_s, s.warmup_s, s.connections, s.threads, s.pool), (30, 5, 64, 2, 16));
        assert_eq!(s.pools, vec![8, 16, 32]);
        assert_eq!(s.sslmode.as_deref(), Some("disable"));
        assert_eq!(s.low_connections, Some(16));
        assert_eq!(
            (s.users, s.tokens, s.page_sessions, s.sweep_rows, s.sweep_batch),
            (100_000, 10_000, 1000, 1_000_000, 1000)
        );
        assert_eq!(s.workers, None);
        assert_eq!(s.database, "latchkey_bench");
        assert_eq!(s.port, 8099);
        assert!(!s.compare);
        assert_eq!(s.revocations, 200);
        assert_eq!(s.peers, Some(PathBuf::from("../shared/peers")));
        assert_eq!(s.mode(), "full");
    }

    #[test]
    fn compare_by_flag_or_variable_with_the_peers_protocol() {
        for s in [run(&["--compare"], &[]), run(&[], &[("BENCH_COMPARE", "1")])] {
            assert!(s.compare && !s.smoke);
            assert_eq!((s.duration_s, s.warmup_s, s.connections, s.threads), (20, 5, 64, 2));
            assert_eq!((s.page_sessions, s.tokens), (1000, 10_000));
            assert_eq!(s.mode(), "compare");
        }
        let s = run(&["--compare", "--smoke"], &[]);
        assert_eq!((s.duration_s, s.warmup_s, s.revocations), (2, 1, 50));
        assert_eq!(s.mode(), "smoke compare");
        let s = run(&["--compare"], &[("BENCH_DURATION", "3"), ("BENCH_PEERS", "")]);
        assert_eq!(s.duration_s, 3);
        assert_eq!(s.peers, None);
    }

    #[test]
    fn smoke_by_flag_or_variable() {
        for s in [run(&["--smoke"], &[]), run(&[], &[("BENCH_SMOKE", "1")])] {
            assert!(s.smoke);
            assert_eq!(s.sizes, vec![1000, 3000]);
            assert_eq!(s.base, 3000);
            assert_eq!((s.duration_s, s.warmup_s, s.users, s.tokens, s.sweep_rows), (2, 1, 200, 500, 2000));
            assert!(s.pools.is_empty());
        }
    }

    #[test]
    fn empty_means_none_only_where_the_script_said_so() {
        let s = run(
            &[],
            &[("BENCH_POOLS", ""), ("BENCH_LOW_CONNECTIONS", ""), ("BENCH_SSLMODE", ""), ("BENCH_DURATION", "")],
        );
        assert!(s.pools.is_empty());
        assert_eq!(s.low_connections, None);
        assert_eq!(s.sslmode, None);
        assert_eq!(s.duration_s, 30);
    }

    #[test]
    fn sizes_are_sorted_and_the_base_is_the_largest_not_above() {
        let s = run(&[], &[("BENCH_SIZES", "500 100 500 2000"), ("BENCH_BASE_SIZE", "1000")]);
        assert_eq!(s.sizes, vec![100, 500, 2000]);
        assert_eq!(s.base, 500);
        let s = run(&[], &[("BENCH_SIZES", "5000 7000"), ("BENCH_BASE_SIZE", "10")]);
        assert_eq!(s.base, 5000);
    }

    #[test]
    fn refusals() {
        assert!(matches!(settings(&["--fast"], &[]), Err(Refusal::Usage(_))));
        assert!(matches!(settings(&["--help"], &[]), Ok(Command::Help)));
        for (name, value) in [
            ("BENCH_SIZES", "10 0"),
            ("BENCH_SIZES", "ten"),
            ("BENCH_DURATION", "0"),
            ("BENCH_DURATION", "+5"),
            ("BENCH_POOLS", "8 x"),
            ("BENCH_WORKERS", "0"),
            ("BENCH_DB", "latchkey"),
            ("BENCH_DB", "Bench"),
            ("BENCH_PORT", "70000"),
            ("BENCH_PORT", "65534"),
            ("BENCH_REVOCATIONS", "-1"),
            ("BENCH_SSLMODE", "maybe"),
        ] {
            assert!(matches!(settings(&[], &[(name, value)]), Err(Refusal::Invalid(_))), "{name}={value}");
        }
    }
}
