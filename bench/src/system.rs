//! What the figures are made of that only the kernel knows: CPU clock ticks and peak RSS
//! from /proc, the machine's description, free disk space; and signals to processes.

use std::ffi::CString;
use std::fs;
use std::path::Path;

use crate::error::{bail, Context, Result};

/// Clock ticks per second, the unit of CPU times in /proc.
pub fn clock_ticks_per_second() -> Result<f64> {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks <= 0 {
        bail!("sysconf(_SC_CLK_TCK) failed");
    }
    Ok(ticks as f64)
}

/// The fields of /proc/<pid>/stat after the command name, which may itself contain
/// spaces and parentheses (hence the last ')'). Index 0 is field 3, the state.
fn stat_fields(pid: &str) -> Result<Vec<u64>> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let rest = stat.rsplit_once(") ").map(|(_, rest)| rest).with_context(|| format!("{path} is malformed"))?;
    // The state (a letter) is not a number: keep the positions, read it as 0.
    Ok(rest.split_whitespace().map(|field| field.parse().unwrap_or(0)).collect())
}

fn field(fields: &[u64], number: usize) -> Result<u64> {
    fields.get(number - 3).copied().with_context(|| format!("/proc stat has no field {number}"))
}

/// User + system CPU ticks of a running process (fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let fields = stat_fields(&pid.to_string())?;
    Ok(field(&fields, 14)? + field(&fields, 15)?)
}

/// User + system CPU ticks of processes that may have exited meanwhile (PostgreSQL
/// backends): a vanished one counts 0, as its ticks are gone with it.
pub fn cpu_ticks_of_any(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|&pid| cpu_ticks(pid).ok()).sum()
}

/// CPU seconds of this program's children that have exited and been waited for
/// (fields 16 and 17 of /proc/self/stat): wrk's, once its run is over.
pub fn finished_children_cpu_s(ticks_per_s: f64) -> Result<f64> {
    let fields = stat_fields("self")?;
    Ok((field(&fields, 16)? + field(&fields, 17)?) as f64 / ticks_per_s)
}

/// Ticks the whole machine spent busy: user, nice, system, irq and softirq of /proc/stat.
pub fn machine_busy_ticks() -> Result<u64> {
    let stat = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().find(|line| line.starts_with("cpu ")).context("/proc/stat has no cpu line")?;
    let numbers: Vec<u64> = line.split_whitespace().skip(1).map(|n| n.parse().unwrap_or(0)).collect();
    if numbers.len() < 7 {
        bail!("/proc/stat's cpu line is short: {line}");
    }
    Ok(numbers[0] + numbers[1] + numbers[2] + numbers[5] + numbers[6])
}

/// Peak resident set (VmHWM) of a running process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("{path} has no VmHWM"))
}

pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|load| load.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// "2 cores, 23.5 GiB, <CPU model>".
pub fn machine() -> String {
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kib| format!("{:.1} GiB", kib / 1_048_576.0))
        .unwrap_or_else(|| "unknown memory".into());
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(": "))
                .map(|(_, model)| model.to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{} cores, {memory}, {model}", cores())
}

/// Free space for an unprivileged user on the file system holding `path`, in MiB.
pub fn free_mib(path: &Path) -> Result<u64> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes()).context("a path with a NUL byte")?;
    // SAFETY: statvfs writes into the zeroed struct we own, and reads the NUL-terminated
    // path, which lives until the call returns.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("statvfs {}", path.display()));
    }
    Ok((stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64) / 1_048_576)
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Sends `signal` to `pid`. Only ever called with the PID of a child of this program
/// that has not been waited for: until it is, the PID cannot be reused by another process.
pub fn send_signal(pid: u32, signal: libc::c_int) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other("PID out of range"))?;
    // SAFETY: kill(2) touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether an executable `name` is on PATH.
pub fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            fs::metadata(dir.join(name)).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    })
}
