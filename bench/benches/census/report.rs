//! The census as a markdown table and as JSON, with the date, machine and versions
//! that a reader needs to rerun it and compare.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::watch::{Watched, group};

/// When, where and with what the census ran.
pub struct Context {
    pub date: String,
    pub machine: String,
    pub versions: Vec<String>,
    pub n: usize,
    pub c: usize,
    pub runs: usize,
}

impl Context {
    pub fn of_this_machine(n: usize, c: usize, runs: usize) -> Context {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = field(&cpuinfo, "model name").unwrap_or("unknown CPU");
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let os = os_release.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).unwrap_or("Linux").trim_matches('"');
        Context {
            date: output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            machine: format!("{cpus} CPUs ({model}), {os}, kernel {}", kernel.trim()),
            versions: vec![output(Command::new("rustc").arg("--version")), crate_versions()],
            n,
            c,
            runs,
        }
    }
}

/// One peer's row: its runs, or why there are none (skipped, failed).
pub struct Row {
    pub name: &'static str,
    pub label: &'static str,
    pub outcome: Result<Vec<Measured>, String>,
}

/// A summary of one peer's runs.
pub struct Summary<'a> {
    pub fewest_threads: usize,
    pub most_threads: usize,
    /// The run with the most threads: its thread names are the ones shown.
    pub busiest: &'a Measured,
    pub median_requests_per_second: f64,
    pub median_own_requests_per_second: Option<f64>,
    pub peak_rss_kib: u64,
    pub ok: u64,
    pub failed: u64,
}

impl Row {
    pub fn summary(&self) -> Option<Summary<'_>> {
        let runs = self.outcome.as_ref().ok().filter(|runs| !runs.is_empty())?;
        let threads = runs.iter().map(|m| m.watched.peak_threads);
        let own: Vec<f64> = runs.iter().filter_map(|m| m.own_requests_per_second).collect();
        Some(Summary {
            fewest_threads: threads.clone().min()?,
            most_threads: threads.max()?,
            busiest: runs.iter().max_by_key(|m| m.watched.peak_threads)?,
            median_requests_per_second: median(runs.iter().map(|m| m.requests_per_second).collect()),
            median_own_requests_per_second: (!own.is_empty()).then(|| median(own)),
            peak_rss_kib: runs.iter().map(|m| m.watched.peak_rss_kib).max()?,
            ok: runs.iter().map(|m| m.ok).sum(),
            failed: runs.iter().map(|m| m.failed).sum(),
        })
    }
}

impl Summary<'_> {
    /// `7` or `68–145`.
    pub fn threads(&self) -> String {
        if self.fewest_threads == self.most_threads {
            self.most_threads.to_string()
        } else {
            format!("{}–{}", self.fewest_threads, self.most_threads)
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub struct Measured {
    pub watched: Watched,
    pub ok: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    /// N divided by the wall time from spawn to exit: includes start-up, for everyone.
    pub requests_per_second: f64,
    /// The client's own figure, where it reports one (onethread's `fetch`).
    pub own_requests_per_second: Option<f64>,
    /// The names Python gives its threads (`threading.enumerate()`), for aiohttp.
    pub python_threads: Option<Vec<String>>,
}

impl Measured {
    pub fn new(watched: Watched, reported: Value, n: usize) -> Measured {
        let python_threads = reported["python_threads"]
            .as_array()
            .map(|names| names.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect());
        Measured {
            requests_per_second: n as f64 / watched.wall.as_secs_f64(),
            watched,
            ok: reported["ok"].as_u64().unwrap_or(0),
            failed: reported["failed"].as_u64().unwrap_or(0),
            first_error: reported["first_error"].as_str().map(str::to_owned),
            own_requests_per_second: reported["own_requests_per_second"].as_f64(),
            python_threads,
        }
    }

    /// `python3 ×7` or `census-… ×1, tokio-runtime-w ×9`.
    pub fn names(&self) -> String {
        let names = self.watched.names.iter().map(|(name, n)| format!("`{name}` ×{n}"));
        names.collect::<Vec<_>>().join(", ")
    }
}

pub fn markdown(cx: &Context, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Thread census: {} GETs, at most {} in flight, `localhost` resolved by name.", cx.n, cx.c);
    let _ = writeln!(s, "Each peer run {} times. Run {} on {}.", cx.runs, cx.date, cx.machine);
    let _ = writeln!(s, "Versions: {}.\n", cx.versions.join("; "));
    s.push_str(
        "| peer | peak OS threads | threads seen in the busiest run, by name | requests/s | peak RSS | ok / failed |\n",
    );
    s.push_str("|---|---:|---|---:|---:|---|\n");
    for row in rows {
        match (&row.outcome, row.summary()) {
            (_, Some(sum)) => {
                let _ = writeln!(
                    s,
                    "| {} | **{}** | {} | {:.0} | {:.1} MiB | {} / {} |",
                    row.label,
                    sum.threads(),
                    sum.busiest.names(),
                    sum.median_requests_per_second,
                    sum.peak_rss_kib as f64 / 1024.0,
                    sum.ok,
                    sum.failed
                );
            }
            (Err(why), None) => {
                let _ = writeln!(s, "| {} | – | {} | – | – | – |", row.label, why.replace('|', "/"));
            }
            (Ok(_), None) => {}
        }
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "Peak OS threads: the fewest and the most over the runs. Threads: `/proc/<pid>/task/*/comm`, sampled from \
         outside every 2 ms; each thread under the last name it had (names ending in a number are grouped as \
         `name_*`). requests/s: the median run's N / wall time from spawn to exit, start-up included. \
         Peak RSS: the largest `ru_maxrss` from `wait4`. ok / failed: all runs together."
    );
    for row in rows {
        let Some(sum) = row.summary() else { continue };
        let samples: u64 = row.outcome.as_ref().map_or(0, |runs| runs.iter().map(|m| m.watched.samples).sum());
        let _ = writeln!(s);
        let _ = write!(s, "- {}: {samples} samples", row.label);
        if let Some(names) = &sum.busiest.python_threads {
            let _ = write!(s, "; Python's own thread names: {}", python_names(names));
        }
        if let Some(own) = sum.median_own_requests_per_second {
            let _ = write!(s, "; its own figure, without start-up: {own:.0} requests/s");
        }
        if let Some(e) = &sum.busiest.first_error {
            let _ = write!(s, "; first error: {e}");
        }
        s.push('.');
    }
    s.push('\n');
    s
}

/// `MainThread, asyncio_* ×6`.
fn python_names(names: &[String]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for name in names {
        let g = group(name);
        match counts.iter_mut().find(|(n, _)| *n == g) {
            Some((_, count)) => *count += 1,
            None => counts.push((g, 1)),
        }
    }
    let parts = counts.iter().map(|(n, c)| if *c == 1 { format!("`{n}`") } else { format!("`{n}` ×{c}") });
    parts.collect::<Vec<_>>().join(", ")
}

pub fn json(cx: &Context, rows: &[Row]) -> Value {
    let run = |m: &Measured| {
        json!({
            "peak_threads": m.watched.peak_threads,
            "threads_by_name": m.watched.names,
            "samples": m.watched.samples,
            "wall_seconds": m.watched.wall.as_secs_f64(),
            "requests_per_second": m.requests_per_second,
            "own_requests_per_second": m.own_requests_per_second,
            "peak_rss_kib": m.watched.peak_rss_kib,
            "cpu_seconds": m.watched.cpu.as_secs_f64(),
            "ok": m.ok,
            "failed": m.failed,
            "first_error": m.first_error,
            "python_threads": m.python_threads,
        })
    };
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| match &row.outcome {
            Ok(runs) => {
                json!({ "peer": row.name, "label": row.label, "runs": runs.iter().map(run).collect::<Vec<_>>() })
            }
            Err(why) => json!({ "peer": row.name, "label": row.label, "error": why }),
        })
        .collect();
    json!({
        "date": cx.date,
        "machine": cx.machine,
        "versions": cx.versions,
        "requests": cx.n,
        "concurrency": cx.c,
        "peers": rows,
    })
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim())
}

fn output(command: &mut Command) -> String {
    command.output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
}

/// The peers' crate versions, from Cargo.lock.
fn crate_versions() -> String {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock")).unwrap_or_default();
    let mut found = Vec::new();
    for name in ["tokio", "hyper", "hyper-util", "reqwest", "rustls", "hyper-rustls", "ring"] {
        let needle = format!("name = \"{name}\"\nversion = \"");
        if let Some(at) = lock.find(&needle) {
            let rest = &lock[at + needle.len()..];
            found.push(format!("{name} {}", &rest[..rest.find('"').unwrap_or(0)]));
        }
    }
    found.join(", ")
}
