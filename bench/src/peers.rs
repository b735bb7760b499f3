//! The peers of `--compare`: small apps that do latchkey's job with other stacks, each
//! in a folder with a `run.sh` that builds, seeds, checks and measures it and prints
//! `key=value` lines (../shared/peers/README.md). Their folders are read-only: each is
//! copied to this run's scratch folder and run there, with the bench's wrk settings.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{bail, log, Context, Result};
use crate::process::Child;
use crate::settings::Settings;

/// Single requests over which a peer counts its SQL statements (the protocol's 50).
pub const SQL_COUNT_REQUESTS: usize = 50;

/// A peer: its folder, the prefix of its summary keys, and its name in the report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peer {
    pub folder: &'static str,
    pub prefix: &'static str,
    pub name: &'static str,
}

pub const AXUM_LOGIN: Peer = Peer { folder: "axum-login", prefix: "axum", name: "axum-login" };
pub const AUTHJS: Peer = Peer { folder: "authjs", prefix: "authjs", name: "Auth.js" };
pub const PEERS: [Peer; 2] = [AXUM_LOGIN, AUTHJS];

/// What a peer's run.sh printed.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerFigures {
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub rss_mib: f64,
    /// None when its run.sh could not read PostgreSQL's log ("NA").
    pub sql_per_request: Option<f64>,
    pub non_2xx: u64,
    pub socket_errors: u64,
    pub versions: String,
}

/// Files a peer's folder may hold after a run of its own that are not to be copied.
const NOT_COPIED: [&str; 3] = ["target", "node_modules", "out"];

/// The peers' folders exist, each with its run.sh: checked before anything is started.
pub fn check(peers: &Path) -> Result<()> {
    for peer in PEERS {
        let script = peers.join(peer.folder).join("run.sh");
        if !script.is_file() {
            bail!(
                "{} is missing (BENCH_PEERS={}; set BENCH_PEERS= to compare latchkey alone)",
                script.display(),
                peers.display()
            );
        }
    }
    Ok(())
}

/// Copies the peer to `scratch` and runs its run.sh there. A Rust peer's build goes to
/// `build_cache/<folder>` (its copy's `target` links there), so that the next run only
/// rebuilds the peer's own crate.
pub async fn run(peer: Peer, peers: &Path, scratch: &Path, build_cache: &Path, s: &Settings) -> Result<PeerFigures> {
    let source = peers.join(peer.folder);
    let copy = scratch.join(peer.folder);
    copy_tree(&source, &copy)?;
    if copy.join("Cargo.toml").is_file() {
        let cache = build_cache.join(peer.folder);
        fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
        std::os::unix::fs::symlink(&cache, copy.join("target"))
            .with_context(|| format!("linking {}/target to {}", copy.display(), cache.display()))?;
    }
    let stdout = scratch.join(format!("{}.summary", peer.folder));
    let stderr = scratch.join(format!("{}.log", peer.folder));
    let mut command = Command::new("bash");
    command
        .arg("./run.sh")
        .current_dir(&copy)
        .env("N_SESSIONS", s.page_sessions.to_string())
        .env("WRK_THREADS", s.threads.to_string())
        .env("WRK_CONNS", s.connections.to_string())
        .env("WRK_SECS", s.duration_s.to_string())
        .env("WARMUP_SECS", s.warmup_s.to_string())
        .env("SQL_COUNT_REQS", SQL_COUNT_REQUESTS.to_string())
        .env("PGB_SECS", s.duration_s.to_string())
        // The cluster is this run's (or was up before it): never the peer's to stop.
        .env("KEEP_PG", "1")
        // This program runs under cargo: the peer's build must land in its own target.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    log!("the {} peer: its run.sh in {} (log: {})", peer.name, copy.display(), stderr.display());
    // Its clean-up stops its app and wrk by PID, and may wait for a build step to end.
    let mut child = Child::spawn_split(&format!("the {} peer's run.sh", peer.name), &mut command, &stdout, &stderr)?
        .with_grace(Duration::from_secs(60));
    let status = child.wait().await?;
    let summary = fs::read_to_string(&stdout).with_context(|| format!("reading {}", stdout.display()))?;
    if !status.success() {
        bail!("the {} peer's run.sh failed ({status}); the end of its log:\n{}", peer.name, tail(&stderr, 25));
    }
    let figures = parse(peer.prefix, &summary)
        .with_context(|| format!("the {} peer's run.sh printed no figures:\n{summary}", peer.name))?;
    if figures.non_2xx != 0 || figures.socket_errors != 0 {
        log!(
            "WARNING the {} peer: {} responses not 2xx, {} socket errors",
            peer.name,
            figures.non_2xx,
            figures.socket_errors
        );
    }
    log!(
        "{:<34} {:>8.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   peak RSS {:.1} MiB",
        format!("the {} peer", peer.name),
        figures.requests_per_s,
        figures.p50_ms,
        figures.p99_ms,
        figures.rss_mib
    );
    Ok(figures)
}

/// The figures of a summary: `<prefix>_rps`, `<prefix>_p99_ms`, … (and `versions`).
fn parse(prefix: &str, summary: &str) -> Option<PeerFigures> {
    let values: HashMap<&str, &str> = summary.lines().filter_map(|line| line.trim().split_once('=')).collect();
    let text = |key: &str| values.get(format!("{prefix}_{key}").as_str()).copied();
    let number = |key: &str| text(key)?.parse::<f64>().ok().filter(|n| n.is_finite());
    let count = |key: &str| text(key).map_or(Some(0), |n| n.parse::<u64>().ok());
    Some(PeerFigures {
        requests_per_s: number("rps")?,
        p50_ms: number("p50_ms")?,
        p99_ms: number("p99_ms")?,
        rss_mib: number("rss_mib")?,
        sql_per_request: match text("sql_per_request")? {
            "NA" => None,
            _ => Some(number("sql_per_request")?),
        },
        non_2xx: count("non2xx")?,
        socket_errors: count("socket_errors")?,
        versions: values.get("versions").map_or_else(String::new, |versions| versions.to_string()),
    })
}

/// Copies a folder, leaving out what a run of its own left there; the copy is writable
/// by its owner whatever the modes of the original.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        fs::remove_dir_all(to).with_context(|| format!("removing {}", to.display()))?;
    }
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).with_context(|| format!("chmod {}", to.display()))?;
    let entries = fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let name = entry.file_name();
        if NOT_COPIED.iter().any(|skip| name == *skip) {
            continue;
        }
        let (source, target): (PathBuf, PathBuf) = (entry.path(), to.join(&name));
        let kind = entry.file_type().with_context(|| format!("reading {}", source.display()))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            fs::copy(&source, &target)
                .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
            let mode = fs::metadata(&source).with_context(|| format!("reading {}", source.display()))?.permissions();
            fs::set_permissions(&target, fs::Permissions::from_mode(mode.mode() | 0o600))
                .with_context(|| format!("chmod {}", target.display()))?;
        }
    }
    Ok(())
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_summary() {
        let summary = "==== axum-login peer summary (2026-12-03T12:00:00Z) ====\naxum_rps=8588.8\naxum_p50_ms=7.24\n\
            axum_p99_ms=12.32\naxum_rss_mib=10.4\naxum_sql_per_request=2.00\naxum_non2xx=0\naxum_socket_errors=0\n\
            axum_cpu_pct=94\naxum_always_save=0\nversions=rustc 1.95.0 axum 0.8.9\n";
        let figures = parse("axum", summary).unwrap();
        assert_eq!(figures.requests_per_s, 8588.8);
        assert_eq!(figures.p99_ms, 12.32);
        assert_eq!(figures.rss_mib, 10.4);
        assert_eq!(figures.sql_per_request, Some(2.0));
        assert_eq!(figures.versions, "rustc 1.95.0 axum 0.8.9");
    }

    #[test]
    fn no_statement_count_and_missing_figures() {
        let summary = "authjs_rps=1741.9\nauthjs_p50_ms=35.16\nauthjs_p99_ms=59.51\nauthjs_rss_mib=149.5\n\
            authjs_sql_per_request=NA\nauthjs_non2xx=3\n";
        let figures = parse("authjs", summary).unwrap();
        assert_eq!(figures.sql_per_request, None);
        assert_eq!((figures.non_2xx, figures.socket_errors), (3, 0));
        assert_eq!(parse("axum", summary), None);
        assert_eq!(parse("authjs", "authjs_rps=\n"), None);
    }

    #[test]
    fn copies_a_read_only_tree_writable() {
        let base = std::env::temp_dir().join(format!("latchkey-bench-test-copy.{}", std::process::id()));
        let (from, to) = (base.join("from"), base.join("to"));
        fs::create_dir_all(from.join("src")).unwrap();
        fs::create_dir_all(from.join("target/release")).unwrap();
        fs::write(from.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::write(from.join("src/main.rs"), "fn main() {}\n").unwrap();
        fs::set_permissions(from.join("run.sh"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(from.join("src"), fs::Permissions::from_mode(0o555)).unwrap();
        copy_tree(&from, &to).unwrap();
        assert_eq!(fs::read_to_string(to.join("src/main.rs")).unwrap(), "fn main() {}\n");
        assert_eq!(fs::metadata(to.join("run.sh")).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(fs::metadata(to.join("src")).unwrap().permissions().mode() & 0o777, 0o755);
        assert!(!to.join("target").exists());
        fs::set_permissions(from.join("src"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::remove_dir_all(&base).unwrap();
    }
}
