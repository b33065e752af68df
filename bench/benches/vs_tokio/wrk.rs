//! wrk, the reference load generator: finding it, and reading its summary.
//!
//! wrk runs for a duration, not for N requests, so the benchmark gives it about as long
//! as onethread took for N and compares per-request figures: its own `Requests/sec`,
//! and the process's CPU time divided by the requests it reports. A run with socket
//! errors or non-2xx/3xx responses is a failure, as a failed request is for the others.

use std::path::{Path, PathBuf};

/// Finds wrk: the usual path, or `wrk` on the PATH.
pub fn path() -> Option<PathBuf> {
    if Path::new("/usr/bin/wrk").exists() {
        return Some("/usr/bin/wrk".into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("wrk")).find(|p| p.is_file())
}

/// What wrk said.
#[derive(Debug, PartialEq)]
pub struct Report {
    pub requests: u64,
    pub seconds: f64,
}

/// Reads `123456 requests in 2.00s, 9.30MB read` and `Requests/sec: 61712.34`;
/// refuses a run that reports errors.
pub fn parse(out: &str) -> Result<Report, String> {
    let mut requests = None;
    let mut rate = None;
    for line in out.lines().map(str::trim) {
        if let Some((count, _)) = line.split_once(" requests in ") {
            requests = count.trim().parse::<u64>().ok();
        } else if let Some(value) = line.strip_prefix("Requests/sec:") {
            rate = value.trim().parse::<f64>().ok();
        } else if let Some(errors) = line.strip_prefix("Socket errors:") {
            return Err(format!("wrk: socket errors:{errors}"));
        } else if line.starts_with("Non-2xx or 3xx responses:") {
            return Err(format!("wrk: {line}"));
        }
    }
    match (requests, rate) {
        (Some(requests), Some(rate)) if requests > 0 && rate > 0.0 => {
            Ok(Report { requests, seconds: requests as f64 / rate })
        }
        _ => Err(format!("cannot read wrk's summary: {:?}", out.lines().last().unwrap_or(""))),
    }
}
