//! What the machine is: the facts a report or benchmark header must record so that a number can
//! be traced to the hardware and code that produced it (date, commit, CPU, GPU, driver, CUDA).
//! Every probe degrades to "unknown" or "none: <reason>" instead of failing.

use neuroxide::backend::cuda;
use neuroxide::error::Error;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// The header facts of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemInfo {
    /// UTC date and time, `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
    /// `git rev-parse --short HEAD` (with `-dirty` for uncommitted changes), the
    /// `NEUROXIDE_COMMIT` environment variable, or `unknown`.
    pub commit: String,
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Threads the CPU backend uses by default.
    pub cpu_threads: usize,
    /// GPU name, or `none: <reason>`.
    pub gpu: String,
    /// Driver version, or `none: <reason>`.
    pub driver: String,
    /// CUDA version the driver supports, or `none: <reason>`.
    pub cuda: String,
    /// Whether a GPU passed the CUDA backend's probe.
    pub gpu_available: bool,
}

/// The message of an error without the category prefix (`backend error: `), for table cells.
pub fn reason(e: &Error) -> String {
    match e {
        Error::Backend(m) | Error::Invalid(m) | Error::Format(m) | Error::Shape(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The civil date (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Now, as `YYYY-MM-DD HH:MM UTC`.
pub fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit the binary runs from: `NEUROXIDE_COMMIT` if set, else git, else `unknown`.
pub fn commit() -> String {
    if let Ok(c) = std::env::var("NEUROXIDE_COMMIT") {
        if !c.is_empty() {
            return c;
        }
    }
    match run("git", &["rev-parse", "--short=12", "HEAD"]) {
        Some(h) if !h.is_empty() => {
            let dirty = run("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{h}-dirty")
            } else {
                h
            }
        }
        _ => "unknown".into(),
    }
}

/// The CPU model name from /proc/cpuinfo, or `unknown CPU`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Threads the CPU backend uses for `Device::cpu()`: `NEUROXIDE_THREADS` when set, else the
/// available parallelism.
pub fn cpu_threads() -> usize {
    std::env::var("NEUROXIDE_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Driver and CUDA versions from `nvidia-smi` (its banner names the CUDA version).
fn nvidia_smi_versions() -> Result<(String, String), String> {
    let driver = run(
        "nvidia-smi",
        &["--query-gpu=driver_version", "--format=csv,noheader"],
    )
    .ok_or_else(|| "nvidia-smi not found or failed".to_string())?;
    let driver = driver.lines().next().unwrap_or("").trim().to_string();
    let banner = run("nvidia-smi", &[]).unwrap_or_default();
    let cuda = banner
        .split("CUDA Version:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_string)
        .ok_or_else(|| "nvidia-smi does not state a CUDA version".to_string())?;
    Ok((driver, cuda))
}

/// Probes the machine. The GPU probe is the CUDA backend's own (`cuda::probe(0)`).
pub fn probe() -> SystemInfo {
    let (gpu, gpu_available) = match cuda::probe(0) {
        Ok(name) => (name, true),
        Err(e) => (format!("none: {}", reason(&e)), false),
    };
    let (driver, cuda) = match nvidia_smi_versions() {
        Ok(v) => v,
        Err(why) => (format!("none: {why}"), format!("none: {why}")),
    };
    SystemInfo {
        date: now_utc(),
        commit: commit(),
        cpu: cpu_model(),
        cpu_threads: cpu_threads(),
        gpu,
        driver,
        cuda,
        gpu_available,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        // 2000-02-29 12:34 UTC (leap day).
        assert_eq!(format_utc(951_827_640), "2000-02-29 12:34 UTC");
        // 2024-12-31 23:59 UTC.
        assert_eq!(format_utc(1_735_689_540), "2024-12-31 23:59 UTC");
    }
}
