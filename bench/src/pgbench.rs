//! pgbench running the app's lookup on its own: the ceiling the app is compared with.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{bail, log, Context, Result};
use crate::process::Child;

/// How pgbench runs the lookup: its script and variables (see `Lookup::pgbench_script`).
pub struct Pgbench {
    script: PathBuf,
    variables: Vec<String>,
    database_url: String,
    threads: u32,
    output: PathBuf,
}

/// One run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    pub tps: f64,
    /// As pgbench prints it, in ms.
    pub latency_ms: String,
}

impl Pgbench {
    pub fn new(dir: &Path, script: &str, variables: Vec<String>, database_url: &str, threads: u32) -> Result<Pgbench> {
        let path = dir.join("lookup.pgbench");
        fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
        Ok(Pgbench {
            script: path,
            variables,
            database_url: database_url.to_string(),
            threads,
            output: dir.join("pgbench.out"),
        })
    }

    /// `clients` clients for `seconds`, drawing from the same cookies wrk sends at `size`
    /// sessions: `-M prepared`, as the app runs the statement.
    pub async fn run(&self, size: u64, tokens: u64, clients: u32, seconds: u64) -> Result<Throughput> {
        let _ = fs::remove_file(&self.output);
        let mut command = Command::new("pgbench");
        command
            .args(["-n", "-M", "prepared"])
            .arg(format!("-c{clients}"))
            .arg(format!("-j{}", self.threads))
            .arg(format!("-T{seconds}"))
            .arg("-f")
            .arg(&self.script)
            .arg("-D")
            .arg(format!("k={}", tokens.min(size)))
            .arg("-D")
            .arg(format!("size={size}"));
        for variable in &self.variables {
            command.arg("-D").arg(variable);
        }
        command.arg(&self.database_url);
        let status = Child::spawn_logged("pgbench", &mut command, &self.output)?.wait().await?;
        let output = fs::read_to_string(&self.output).with_context(|| format!("reading {}", self.output.display()))?;
        if !status.success() {
            bail!("pgbench failed ({status}):\n{output}");
        }
        let throughput = parse(&output).with_context(|| format!("pgbench printed no tps:\n{output}"))?;
        log!(
            "{:<34} {:>8.0} tps     latency avg {} ms",
            format!("pgbench lookup ({clients} clients)"),
            throughput.tps,
            throughput.latency_ms
        );
        Ok(throughput)
    }
}

fn parse(output: &str) -> Option<Throughput> {
    let value = |prefix: &str| {
        output.lines().find_map(|line| line.strip_prefix(prefix)).and_then(|rest| rest.split_whitespace().next())
    };
    Some(Throughput { tps: value("tps = ")?.parse().ok()?, latency_ms: value("latency average = ")?.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tps_and_latency() {
        let output = "pgbench (15.18 (Debian 15.18-0+deb12u1))\ntransaction type: lookup.pgbench\n\
            latency average = 0.805 ms\ninitial connection time = 12.345 ms\n\
            tps = 19878.456789 (without initial connection time)\n";
        assert_eq!(parse(output), Some(Throughput { tps: 19878.456789, latency_ms: "0.805".into() }));
        assert_eq!(parse("pgbench: error: connection refused\n"), None);
    }
}
