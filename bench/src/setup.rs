//! What a run needs before it measures: wrk and pgbench (apt), Node.js for `--compare`'s
//! Auth.js peer (apt), PostgreSQL and Keycloak (`scripts/services`), and the app's binary
//! (cargo).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{bail, log, Context, Result};
use crate::process;
use crate::system;

/// The oldest Node.js the Auth.js peer runs on (its run.sh refuses older ones).
const NODE_MAJOR: u32 = 20;

/// Installs wrk and pgbench with apt when either is missing, and Node.js with npm when
/// `node` is asked for (the Auth.js peer of `--compare`) and missing.
pub async fn install_tools(node: bool) -> Result<()> {
    let mut missing = Vec::new();
    if !system::on_path("wrk") {
        missing.push("wrk");
    }
    if !system::on_path("pgbench") {
        missing.push("postgresql-contrib");
    }
    if node && !system::on_path("node") {
        missing.extend(["nodejs", "npm"]);
    }
    if !missing.is_empty() {
        log!("installing {} with apt", missing.join(" "));
        process::run("apt-get update", &mut as_root(&["apt-get", "update", "-q"])).await?;
        let mut install = vec!["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q"];
        install.extend(&missing);
        process::run("apt-get install", &mut as_root(&install)).await?;
    }
    let tools: &[&str] = if node { &["wrk", "pgbench", "node", "npm"] } else { &["wrk", "pgbench"] };
    for tool in tools {
        if !system::on_path(tool) {
            bail!("{tool} is still missing after installing {}", missing.join(" "));
        }
    }
    if node {
        check_node()?;
    }
    Ok(())
}

/// Node.js is new enough for the Auth.js peer: Debian 12's own nodejs is 18, whose
/// WebCrypto @auth/core cannot use.
fn check_node() -> Result<()> {
    let output = Command::new("node")
        .args(["-p", "process.versions.node"])
        .stdin(Stdio::null())
        .output()
        .context("asking node its version")?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .with_context(|| format!("node printed no version: '{version}'"))?;
    if major < NODE_MAJOR {
        bail!("the Auth.js peer needs Node.js {NODE_MAJOR} or later, this is {version}; install a newer one, or set BENCH_PEERS= to compare latchkey alone");
    }
    Ok(())
}

/// `args` as root: directly when this program is root, else through sudo.
pub fn as_root(args: &[&str]) -> Command {
    let (program, rest) = if system::is_root() { (args[0], &args[1..]) } else { ("sudo", args) };
    let mut command = Command::new(program);
    command.args(rest);
    command
}

pub const SERVICES: [&str; 2] = ["postgresql", "keycloak"];

/// The services that are down now: the ones this run starts, and stops again at the end.
pub fn services_down(root: &Path) -> Vec<&'static str> {
    SERVICES
        .into_iter()
        .filter(|service| {
            let status = Command::new("bash")
                .arg("scripts/services")
                .args(["status", service])
                .current_dir(root)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            !status.is_ok_and(|status| status.success())
        })
        .collect()
}

/// `scripts/services up|down …`.
pub async fn services(root: &Path, args: &[&str]) -> Result<()> {
    let mut command = Command::new("bash");
    command.arg("scripts/services").args(args).current_dir(root);
    process::run(&format!("scripts/services {}", args.join(" ")), &mut command).await
}

/// Builds the reference app, in the release profile for a measurement and in the debug
/// profile for a smoke run (whose figures mean nothing, and whose dependencies are
/// already built for the tests and this program). Returns the binary.
pub async fn build_app(root: &Path, release: bool) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--features", "reference-app", "--bin", "latchkey"]).current_dir(root);
    // `cargo run` gave this program its package's variables (CARGO_MANIFEST_DIR, …). A
    // build script that watches one of them (ring's does) would see it changed against a
    // build made from a shell, and everything above it would be built again, each time
    // the two alternate: a few minutes of fat LTO per run.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            command.env_remove(name);
        }
    }
    if release {
        command.arg("--release");
    }
    process::run("cargo build of the app", &mut command).await?;
    let binary = target_dir(root).join(if release { "release" } else { "debug" }).join("latchkey");
    if !binary.is_file() {
        bail!("the build did not produce {}", binary.display());
    }
    Ok(binary)
}

/// Whether `name` is one of the variables `cargo run` sets for the program it runs (not
/// `CARGO`, which says which cargo to use, nor the user's own `CARGO_HOME` or
/// `CARGO_TARGET_DIR`).
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_BIN_NAME"
                | "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

/// The workspace's target directory.
pub fn target_dir(root: &Path) -> PathBuf {
    root.join(std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| "target".into()))
}

#[cfg(test)]
mod tests {
    use super::set_by_cargo_run;

    #[test]
    fn the_variables_cargo_run_sets_are_told_from_the_users_own() {
        for name in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "CARGO_PKG_VERSION", "CARGO_CRATE_NAME"] {
            assert!(set_by_cargo_run(name), "{name}");
        }
        for name in ["CARGO", "CARGO_HOME", "CARGO_TARGET_DIR", "PATH", "RUSTFLAGS"] {
            assert!(!set_by_cargo_run(name), "{name}");
        }
    }
}
