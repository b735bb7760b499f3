//! What a run needs before it measures: wrk and pgbench (apt), PostgreSQL and Keycloak
//! (`scripts/services`), and the app's binary (cargo).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{bail, log, Result};
use crate::process;
use crate::system;

/// Installs wrk and pgbench with apt when either is missing.
pub async fn install_tools() -> Result<()> {
    let mut missing = Vec::new();
    if !system::on_path("wrk") {
        missing.push("wrk");
    }
    if !system::on_path("pgbench") {
        missing.push("postgresql-contrib");
    }
    if missing.is_empty() {
        return Ok(());
    }
    log!("installing {} with apt", missing.join(" "));
    process::run("apt-get update", &mut as_root(&["apt-get", "update", "-q"])).await?;
    let mut install = vec!["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q"];
    install.extend(&missing);
    process::run("apt-get install", &mut as_root(&install)).await?;
    for tool in ["wrk", "pgbench"] {
        if !system::on_path(tool) {
            bail!("{tool} is still missing after installing {}", missing.join(" "));
        }
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
    if release {
        command.arg("--release");
    }
    process::run("cargo build of the app", &mut command).await?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| "target".into());
    let binary = root.join(target).join(if release { "release" } else { "debug" }).join("latchkey");
    if !binary.is_file() {
        bail!("the build did not produce {}", binary.display());
    }
    Ok(binary)
}
