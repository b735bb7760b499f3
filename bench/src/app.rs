//! The reference app as a process of this program: started on the bench database with
//! the bench's settings, watched through /proc, stopped by its PID.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::checks::Http;
use crate::error::{bail, Context, Result};
use crate::process::Child;
use crate::system;

/// The session lifetimes the app runs with: Rocket.toml's defaults, spelled out because
/// pgbench binds the same values ($2, $3 and $4 of the lookup) and the seeded rows are
/// made to match them (no extension due, the activity stamp due).
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub max_age_s: u64,
    pub update_age_s: u64,
    pub activity_s: u64,
}

pub const LIFETIMES: Lifetimes = Lifetimes { max_age_s: 30 * 86_400, update_age_s: 86_400, activity_s: 300 };

impl Lifetimes {
    /// `auth.session` for ROCKET_AUTH. The sweep interval is a day: the app's own sweeper
    /// must not run during the sweep measurement. The session cache is off in the full
    /// run: with it, a guarded request whose session is cached runs no statement, and what
    /// its figures and targets measure is the request that runs the lookup. The
    /// comparison and the revocation delay turn it on (the library's default).
    pub fn session_setting(&self, cache: bool) -> String {
        format!(
            "session={{max_age=\"{}\",update_age=\"{}\",activity_interval=\"{}\",sweep_interval=\"24h\",cache={cache}}}",
            duration(self.max_age_s),
            duration(self.update_age_s),
            duration(self.activity_s)
        )
    }

    pub fn activity_interval(&self) -> String {
        duration(self.activity_s)
    }
}

/// Seconds as latchkey's configuration writes durations ("30d", "24h", "5m").
fn duration(seconds: u64) -> String {
    match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// How the app is started.
pub struct AppConfig<'a> {
    pub binary: &'a Path,
    pub root: &'a Path,
    pub port: u16,
    pub database_url: &'a str,
    pub pool: u32,
    /// auth.session.cache
    pub cache: bool,
    pub workers: Option<u32>,
    pub log_level: &'a str,
    /// Its stdout and stderr, appended.
    pub log: &'a Path,
}

pub struct App {
    child: Child,
    pid: u32,
    log: PathBuf,
}

impl App {
    /// Starts the app (it applies latchkey's migrations at ignite) and waits until it
    /// answers /healthz.
    pub async fn start(config: &AppConfig<'_>, http: &Http) -> Result<App> {
        let url = http.base();
        let mut command = Command::new(config.binary);
        command
            .current_dir(config.root)
            // A profile of its own, for development (auth.development below): plain http
            // on loopback and no IdP secret, which a benchmark on one machine needs.
            .env("ROCKET_PROFILE", "bench")
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_PORT", config.port.to_string())
            .env("ROCKET_LOG_LEVEL", "off")
            .env("ROCKET_SECRET_KEY", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=")
            .env(
                "ROCKET_DATABASES",
                format!("{{auth={{url=\"{}\",max_connections={}}}}}", config.database_url, config.pool),
            )
            .env(
                "ROCKET_AUTH",
                format!("{{base_url=\"{url}\",development=true,{}}}", LIFETIMES.session_setting(config.cache)),
            )
            .env("LATCHKEY_LOG", config.log_level);
        match config.workers {
            Some(workers) => command.env("ROCKET_WORKERS", workers.to_string()),
            None => command.env_remove("ROCKET_WORKERS"),
        };
        // Appended, so that the log can be emptied between runs while the app writes it.
        let mut child = Child::spawn_logged("the app", &mut command, config.log)?.with_grace(Duration::from_secs(15));
        let pid = child.pid().context("the app has no PID")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http.status("/healthz").await == Some(200) {
                break;
            }
            if let Some(status) = child.try_status()? {
                bail!("the app exited at start ({status})");
            }
            if Instant::now() > deadline {
                bail!("the app did not answer /healthz within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(App { child, pid, log: config.log.to_path_buf() })
    }

    pub fn cpu_ticks(&self) -> Result<u64> {
        system::cpu_ticks(self.pid).context("the app's CPU time")
    }

    pub fn peak_rss_mib(&self) -> Result<f64> {
        Ok(system::peak_rss_kib(self.pid).context("the app's peak RSS")? as f64 / 1024.0)
    }

    /// Empties the log before a run, so that a long benchmark does not fill the disk with
    /// request lines.
    pub fn empty_log(&self) -> Result<()> {
        fs::File::options()
            .write(true)
            .open(&self.log)
            .and_then(|file| file.set_len(0))
            .with_context(|| format!("emptying {}", self.log.display()))
    }

    pub async fn stop(mut self) -> Result<()> {
        self.child.stop().await
    }
}

/// The last lines of the app's log that are not request lines: what to show when a run
/// fails.
pub fn log_tail(log: &Path, lines: usize) -> Vec<String> {
    let Ok(text) = fs::read_to_string(log) else {
        return Vec::new();
    };
    let kept: Vec<&str> = text.lines().filter(|line| !line.contains("request_log")).collect();
    kept[kept.len().saturating_sub(lines)..].iter().map(|line| line.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_as_configuration() {
        assert_eq!(
            LIFETIMES.session_setting(false),
            r#"session={max_age="30d",update_age="1d",activity_interval="5m",sweep_interval="24h",cache=false}"#
        );
        assert!(LIFETIMES.session_setting(true).ends_with(r#"sweep_interval="24h",cache=true}"#));
        assert_eq!(duration(90), "90s");
        assert_eq!(duration(0), "0s");
    }
}
