//! wrk, the load: every request carries the next of a list of seeded cookies (or one
//! cookie in a header, wrk's own static request), and a Lua `done` hook prints the
//! figures on one line that this program reads back.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{bail, log, Context, Result};
use crate::process::Child;

/// The app's session cookie (plain http: no `__Host-` prefix).
pub const COOKIE: &str = "latchkey_session";

/// Each request carries the next cookie of BENCH_COOKIES; threads start at different
/// places. Without BENCH_COOKIES there is no `request` hook: wrk sends its own static
/// request, with the cookie given as a header. With BENCH_CHECK=1 every status other
/// than 200 is counted.
const SCRIPT: &str = r#"
local tokens = {}
local file = os.getenv("BENCH_COOKIES")
if file then
  for line in io.lines(file) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
end
local threads = {}

function setup(thread)
  thread:set("start", #threads * 7919)
  table.insert(threads, thread)
end

function init(args)
  position = #tokens > 0 and start % #tokens or 0
  not_200 = 0
end

if #tokens > 0 then
  function request()
    position = position % #tokens + 1
    return wrk.format(nil, nil, { ["Cookie"] = "latchkey_session=" .. tokens[position] })
  end
end

if os.getenv("BENCH_CHECK") == "1" then
  function response(status, headers, body)
    if status ~= 200 then not_200 = not_200 + 1 end
  end
end

function done(summary, latency, requests)
  local not_200 = 0
  for _, thread in ipairs(threads) do not_200 = not_200 + (thread:get("not_200") or 0) end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d status_errors=%d timeouts=%d socket_errors=%d not_200=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.timeout, e.connect + e.read + e.write, not_200))
end
"#;

/// How wrk is run: the same threads, base URL and script for every run.
pub struct Wrk {
    script: PathBuf,
    base_url: String,
    threads: u32,
    dir: PathBuf,
}

/// The cookies of a run.
#[derive(Debug, Clone, Copy)]
pub enum Cookies<'a> {
    /// The next of the file's cookies (one a line) on each request: a Lua `request` hook.
    Cycle(&'a Path),
    /// This one on every request, as a header: wrk's static request, as the peers run it
    /// (`wrk -H "Cookie: …"`).
    One(&'a str),
}

/// One run of wrk: which cookies, how long, how many connections, whether to check
/// every status.
pub struct Load<'a> {
    pub path: &'a str,
    pub cookies: Cookies<'a>,
    pub seconds: u64,
    pub connections: u32,
    /// Count every status other than 200 (the warm-up). A measured run counts only
    /// statuses outside 2xx/3xx: handing each response to Lua costs the app about 3 % of
    /// its throughput on a shared machine, and the warm-up on the same cookies just
    /// before has checked every one.
    pub check: bool,
}

/// wrk's figures of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub requests: u64,
    pub duration_us: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub status_errors: u64,
    pub timeouts: u64,
    pub socket_errors: u64,
    pub not_200: u64,
}

impl Figures {
    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6).max(1e-9)
    }
}

/// A wrk process under way.
pub struct Running {
    child: Child,
    output: PathBuf,
}

impl Wrk {
    pub fn new(dir: &Path, base_url: &str, threads: u32) -> Result<Wrk> {
        let script = dir.join("cookies.lua");
        fs::write(&script, SCRIPT).with_context(|| format!("writing {}", script.display()))?;
        Ok(Wrk { script, base_url: base_url.to_string(), threads, dir: dir.to_path_buf() })
    }

    pub fn start(&self, load: &Load<'_>) -> Result<Running> {
        let output = self.dir.join("wrk.out");
        // A fresh file per run: the figures line must be this run's.
        let _ = fs::remove_file(&output);
        let mut command = Command::new("wrk");
        command
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", load.connections))
            .arg(format!("-d{}s", load.seconds))
            .args(["--timeout", "10s", "--latency", "-s"])
            .arg(&self.script)
            .env("BENCH_CHECK", if load.check { "1" } else { "0" });
        match load.cookies {
            Cookies::Cycle(file) => command.env("BENCH_COOKIES", file),
            Cookies::One(token) => {
                command.arg("-H").arg(format!("Cookie: {COOKIE}={token}")).env_remove("BENCH_COOKIES")
            }
        };
        command.arg(format!("{}{}", self.base_url, load.path));
        Ok(Running { child: Child::spawn_logged("wrk", &mut command, &output)?, output })
    }
}

impl Running {
    /// Ends the run early, as Ctrl-C would: wrk still prints its figures.
    pub fn interrupt(&self) -> Result<()> {
        self.child.signal(libc::SIGINT)
    }

    /// Waits for wrk and checks its figures: any answer not 200 fails the run (seeded
    /// cookies must be accepted); timeouts and socket errors are reported.
    pub async fn finish(mut self, label: &str) -> Result<Figures> {
        let status = self.child.wait().await?;
        let output = fs::read_to_string(&self.output).with_context(|| format!("reading {}", self.output.display()))?;
        if !status.success() {
            bail!("wrk failed ({label}, {status}):\n{output}");
        }
        let figures = parse(&output).with_context(|| format!("wrk printed no figures ({label}):\n{output}"))?;
        if figures.not_200 != 0 || figures.status_errors != 0 {
            bail!(
                "{label}: {} responses were not 200 (seeded cookies must be accepted):\n{output}",
                figures.not_200.max(figures.status_errors)
            );
        }
        if figures.timeouts != 0 || figures.socket_errors != 0 {
            log!("WARNING {label}: {} timeouts, {} socket errors", figures.timeouts, figures.socket_errors);
        }
        Ok(figures)
    }
}

fn parse(output: &str) -> Option<Figures> {
    let line = output.lines().find_map(|line| line.strip_prefix("BENCH "))?;
    let values: HashMap<&str, u64> = line
        .split_whitespace()
        .filter_map(|field| field.split_once('='))
        .filter_map(|(key, value)| Some((key, value.parse().ok()?)))
        .collect();
    let get = |key: &str| values.get(key).copied();
    Some(Figures {
        requests: get("requests")?,
        duration_us: get("duration_us")?,
        p50_us: get("p50_us")?,
        p99_us: get("p99_us")?,
        max_us: get("max_us")?,
        status_errors: get("status_errors")?,
        timeouts: get("timeouts")?,
        socket_errors: get("socket_errors")?,
        not_200: get("not_200")?,
    })
}

/// Writes one cookie a line, for the Lua script.
pub fn write_cookies(path: &Path, cookies: &[String]) -> Result<()> {
    let mut text = cookies.join("\n");
    text.push('\n');
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_figures_line() {
        let output = "Running 2s test @ http://127.0.0.1:8099/\n  2 threads and 64 connections\n\
            BENCH requests=20000 duration_us=2000000 p50_us=5350 p99_us=9240 max_us=20000 status_errors=0 timeouts=0 socket_errors=1 not_200=0\n";
        let figures = parse(output).unwrap();
        assert_eq!(figures.requests, 20_000);
        assert_eq!(figures.p99_us, 9240);
        assert_eq!(figures.socket_errors, 1);
        assert_eq!(figures.requests_per_s(), 10_000.0);
    }

    #[test]
    fn no_figures_without_the_line() {
        assert_eq!(parse("unable to connect to 127.0.0.1:8099 Connection refused\n"), None);
        assert_eq!(parse("BENCH requests=1 duration_us=x\n"), None);
    }
}
