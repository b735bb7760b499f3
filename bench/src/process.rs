//! Processes this program starts (the app, wrk, pgbench, cargo, apt-get, the services
//! script, the peers' run.sh): each is owned by one `Child` value, signalled by its PID only, and stopped
//! when that value is dropped, so that an error or Ctrl-C anywhere leaves none behind.

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{log, Context, Result};
use crate::system::send_signal;

/// How often a wait looks whether the process has exited: waiting polls, so that the
/// runtime stays free to notice Ctrl-C meanwhile.
const POLL: Duration = Duration::from_millis(10);

pub struct Child {
    name: String,
    /// None once waited for: the PID may then belong to someone else.
    process: Option<std::process::Child>,
    /// How long it may take to exit after SIGTERM before it gets SIGKILL.
    grace: Duration,
}

impl Child {
    /// Starts `command` with its stdout and stderr as this program's.
    pub fn spawn(name: &str, command: &mut Command) -> Result<Child> {
        Child::start(name, command.stdin(Stdio::null()))
    }

    /// Starts `command` with its stdout and stderr appended to `output`.
    pub fn spawn_logged(name: &str, command: &mut Command, output: &Path) -> Result<Child> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(output)
            .with_context(|| format!("opening {}", output.display()))?;
        let copy = file.try_clone().with_context(|| format!("opening {}", output.display()))?;
        Child::start(name, command.stdin(Stdio::null()).stdout(file).stderr(copy))
    }

    /// Starts `command` with its stdout written to `stdout` and its stderr to `stderr`
    /// (both created afresh): a peer's run.sh, whose stdout is its summary.
    pub fn spawn_split(name: &str, command: &mut Command, stdout: &Path, stderr: &Path) -> Result<Child> {
        let create = |path: &Path| File::create(path).with_context(|| format!("creating {}", path.display()));
        Child::start(name, command.stdin(Stdio::null()).stdout(create(stdout)?).stderr(create(stderr)?))
    }

    fn start(name: &str, command: &mut Command) -> Result<Child> {
        let process = command.spawn().with_context(|| format!("cannot start {name}"))?;
        Ok(Child { name: name.to_string(), process: Some(process), grace: Duration::from_secs(5) })
    }

    pub fn with_grace(mut self, grace: Duration) -> Child {
        self.grace = grace;
        self
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(std::process::Child::id)
    }

    /// The exit status if it has exited (it is then waited for), None while it runs.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        let Some(process) = self.process.as_mut() else {
            return Ok(None);
        };
        let status = process.try_wait().with_context(|| format!("waiting for {}", self.name))?;
        if status.is_some() {
            self.process = None;
        }
        Ok(status)
    }

    pub async fn wait(&mut self) -> Result<ExitStatus> {
        loop {
            if self.process.is_none() {
                crate::error::bail!("{} was already waited for", self.name);
            }
            if let Some(status) = self.try_status()? {
                return Ok(status);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits, and fails unless it exited with 0.
    pub async fn succeed(&mut self) -> Result<()> {
        let status = self.wait().await?;
        if !status.success() {
            crate::error::bail!("{} failed ({status})", self.name);
        }
        Ok(())
    }

    pub fn signal(&self, signal: libc::c_int) -> Result<()> {
        match self.pid() {
            Some(pid) => send_signal(pid, signal).with_context(|| format!("signalling {} ({pid})", self.name)),
            None => Ok(()),
        }
    }

    /// SIGTERM, then SIGKILL after the grace period; waits for it in both cases.
    pub async fn stop(&mut self) -> Result<()> {
        if self.try_status()?.is_some() || self.process.is_none() {
            return Ok(());
        }
        self.signal(libc::SIGTERM)?;
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if self.try_status()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        log!("{} ignored SIGTERM for {} s, sending SIGKILL", self.name, self.grace.as_secs());
        self.signal(libc::SIGKILL)?;
        self.wait().await.map(|_| ())
    }
}

impl Drop for Child {
    /// The last resort when an error or a signal cut a run short: the same as `stop`,
    /// blocking, since a drop cannot wait asynchronously.
    fn drop(&mut self) {
        let Some(process) = self.process.as_mut() else {
            return;
        };
        if matches!(process.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = process.id();
        let _ = send_signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if matches!(process.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(POLL);
        }
        log!("{} ({pid}) ignored SIGTERM for {} s, sending SIGKILL", self.name, self.grace.as_secs());
        let _ = process.kill();
        let _ = process.wait();
    }
}

/// Runs `command` to completion with this program's stdout and stderr; fails unless it
/// exits with 0.
pub async fn run(name: &str, command: &mut Command) -> Result<()> {
    Child::spawn(name, command)?.succeed().await
}
