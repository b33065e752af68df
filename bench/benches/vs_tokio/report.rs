//! The results as a markdown table, a targets block and JSON, with the date, machine
//! and exact command a reader needs to rerun them and compare.
//!
//! Each (server, C, client) cell summarises its runs by the median: of requests per
//! second and of CPU µs per request, separately. Peak threads and peak RSS are the
//! largest over the runs. Ratios are to onethread's medians in the same cell row.

use std::fmt::Write;
use std::process::Command;

use serde_json::{Value, json};

use crate::clients::{Measurement, Mode};
use crate::servers::Kind;

/// When, where, with what, and how the benchmark ran.
pub struct Context {
    pub date: String,
    pub machine: String,
    pub command: String,
    pub versions: String,
    pub n: usize,
    /// Requests per handshake-bound run, when HTTPS ran.
    pub close_n: Option<usize>,
    pub runs: usize,
    /// `server on CPU 0, clients on CPU 1`, or why not pinned.
    pub pinning: String,
    /// Per server and scheme (TLS or not), what it is (`nginx version: nginx/1.22.1`)
    /// or why it did not run.
    pub servers: Vec<(Kind, bool, Result<String, String>)>,
}

impl Context {
    pub fn of_this_machine(n: usize, runs: usize, pinning: String) -> Context {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown CPU", |(_, v)| v.trim());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
        Context {
            date: output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            machine: format!("nproc {cpus}, {model}, kernel {}", kernel.trim()),
            command: format!("cargo bench -p onethread-bench --bench vs_tokio -- {}", args.join(" "))
                .trim_end()
                .trim_end_matches(" --")
                .into(),
            versions: [output(Command::new("rustc").arg("--version")), crate_versions(), wrk_version()].join(", "),
            n,
            close_n: None,
            runs,
            pinning,
            servers: Vec::new(),
        }
    }
}

/// All runs of one client at one C against one server.
pub struct Cell {
    pub server: Kind,
    pub mode: Mode,
    pub c: usize,
    pub client: &'static str,
    pub label: &'static str,
    pub runs: Vec<Result<Measurement, String>>,
}

/// A cell's medians.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub requests_per_second: f64,
    pub cpu_us_per_request: f64,
    pub peak_threads: usize,
    pub peak_rss_kib: u64,
    pub good_runs: usize,
}

impl Cell {
    pub fn summary(&self) -> Option<Summary> {
        let good: Vec<&Measurement> = self.runs.iter().filter_map(|r| r.as_ref().ok()).collect();
        if good.is_empty() {
            return None;
        }
        Some(Summary {
            requests_per_second: median(good.iter().map(|m| m.requests_per_second()).collect()),
            cpu_us_per_request: median(good.iter().map(|m| m.cpu_us_per_request()).collect()),
            peak_threads: good.iter().map(|m| m.peak_threads).max()?,
            peak_rss_kib: good.iter().map(|m| m.peak_rss_kib).max()?,
            good_runs: good.len(),
        })
    }

    /// The first error among the runs.
    pub fn error(&self) -> Option<&str> {
        self.runs.iter().find_map(|r| r.as_ref().err()).map(String::as_str)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] }
}

/// The cell of `client` in the same server, mode and C as `cell`.
pub fn peer_of<'a>(cells: &'a [Cell], cell: &Cell, client: &str) -> Option<&'a Cell> {
    in_mode(cells, cell, cell.mode, client)
}

/// The cell of `client` in the same server and C as `cell`, in `mode`.
pub fn in_mode<'a>(cells: &'a [Cell], cell: &Cell, mode: Mode, client: &str) -> Option<&'a Cell> {
    cells.iter().find(|o| o.server == cell.server && o.mode == mode && o.c == cell.c && o.client == client)
}

/// onethread's 1,000,000-request headline, per server.
pub struct Million {
    pub server: Kind,
    pub result: Result<Measurement, String>,
}

pub const MILLION_WALL_SECONDS: f64 = 10.0;
pub const MILLION_RSS_MIB: f64 = 32.0;
pub const RSS_MIB_AT_1000: f64 = 16.0;
pub const TLS_RSS_MIB_AT_1000: f64 = 32.0;
/// HTTPS keep-alive CPU per request, at most this × onethread's own plain HTTP.
pub const TLS_OVER_HTTP: f64 = 1.3;

pub fn markdown(cx: &Context, cells: &[Cell], million: &[Million]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## onethread vs tokio, hyper, reqwest and wrk\n");
    let _ = writeln!(s, "- Date: {}", cx.date);
    let _ = writeln!(s, "- Machine: {}", cx.machine);
    let _ = writeln!(s, "- Command: `{}`", cx.command);
    let _ = writeln!(s, "- Versions: {}", cx.versions);
    let _ = writeln!(
        s,
        "- Workload: {} GETs of `http://127.0.0.1:PORT/{{i}}` (6-byte body, keep-alive) per run; {} interleaved run(s) per cell, medians shown",
        cx.n, cx.runs
    );
    if let Some(close_n) = cx.close_n {
        let _ = writeln!(
            s,
            "- HTTPS: the same over TLS 1.3 (`https://127.0.0.1:PORT/{{i}}`, each client trusting the server's certificate alone; wrk verifies nothing), {} GETs per keep-alive run, and {close_n} GETs per run with a new connection and TLS handshake for each",
            cx.n
        );
    }
    let _ = writeln!(s, "- Pinning: {}", cx.pinning);
    for (kind, tls, what) in &cx.servers {
        let scheme = if *tls { "https" } else { "http" };
        match what {
            Ok(v) => {
                let _ = writeln!(s, "- Server `{}` ({scheme}): {v}", kind.name());
            }
            Err(e) => {
                let _ = writeln!(s, "- Server `{}` ({scheme}): not run: {e}", kind.name());
            }
        }
    }
    s.push('\n');
    let mut tables: Vec<(Kind, Mode)> = Vec::new();
    for cell in cells {
        if !tables.contains(&(cell.server, cell.mode)) {
            tables.push((cell.server, cell.mode));
        }
    }
    for (server, mode) in tables {
        let _ = writeln!(s, "### Server: {}, {}\n", server.name(), mode.describe());
        s.push_str(
            "| client | C | req/s | CPU µs/req | peak threads | peak RSS | req/s ÷ onethread | CPU/req ÷ onethread |\n",
        );
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for cell in cells.iter().filter(|c| c.server == server && c.mode == mode) {
            let base = peer_of(cells, cell, "onethread").and_then(Cell::summary);
            match cell.summary() {
                Some(sum) => {
                    let ratio = |a: f64, b: Option<f64>| b.map_or("–".to_owned(), |b| format!("{:.2}×", a / b));
                    let _ = writeln!(
                        s,
                        "| {} | {} | {:.0} | {:.2} | {} | {:.1} MiB | {} | {} |",
                        cell.label,
                        cell.c,
                        sum.requests_per_second,
                        sum.cpu_us_per_request,
                        sum.peak_threads,
                        sum.peak_rss_kib as f64 / 1024.0,
                        ratio(sum.requests_per_second, base.map(|b| b.requests_per_second)),
                        ratio(sum.cpu_us_per_request, base.map(|b| b.cpu_us_per_request)),
                    );
                }
                None => {
                    let why = cell.error().unwrap_or("no runs").replace('|', "/");
                    let _ = writeln!(s, "| {} | {} | {why} | – | – | – | – | – |", cell.label, cell.c);
                }
            }
        }
        s.push('\n');
    }
    notes(&mut s, cells);
    targets(&mut s, cells, million);
    s
}

/// Partial failures and connection counts, under the tables.
fn notes(s: &mut String, cells: &[Cell]) {
    s.push_str(
        "req/s: requests over the client's own workload time (process start-up excluded; wrk's own Requests/sec). \
         CPU µs/req: the client process's user + system CPU time from `wait4`, start-up included, over its requests. \
         Peak threads: `/proc/<pid>/task` sampled from outside every 2 ms. Peak RSS: `ru_maxrss`. \
         Clients are pinned to one CPU, so tokio's multi_thread runtime, which sizes its pool by the CPUs it may use, \
         starts one worker. wrk runs for whole seconds (about as long as onethread took), not for N requests.\n",
    );
    for cell in cells {
        let failed = cell.runs.iter().filter(|r| r.is_err()).count();
        if failed > 0 && failed < cell.runs.len() {
            let _ = writeln!(
                s,
                "- {} (C={}, {}): {failed} of {} runs failed: {}",
                cell.label,
                cell.c,
                cell.server.name(),
                cell.runs.len(),
                cell.error().unwrap_or("")
            );
        }
        if cell.client == "onethread" {
            let opened: Vec<String> =
                cell.runs.iter().filter_map(|r| r.as_ref().ok()?.connections).map(|n| n.to_string()).collect();
            if !opened.is_empty() {
                let _ = writeln!(
                    s,
                    "- onethread (C={}, {}, {}) opened {} connections per run.",
                    cell.c,
                    cell.server.name(),
                    cell.mode.name(),
                    opened.join(", ")
                );
            }
            let tls: Vec<String> = cell
                .runs
                .iter()
                .filter_map(|r| r.as_ref().ok()?.tls)
                .map(|(full, resumed)| {
                    format!("{full} full + {resumed} resumed ({:.0}% resumed)", resumption(full, resumed))
                })
                .collect();
            if cell.mode.tls() && !tls.is_empty() {
                let _ = writeln!(
                    s,
                    "- onethread (C={}, {}, {}) TLS handshakes per run: {}.",
                    cell.c,
                    cell.server.name(),
                    cell.mode.name(),
                    tls.join("; ")
                );
            }
        }
    }
    s.push('\n');
}

/// Resumed handshakes as a percentage of all handshakes.
fn resumption(full: u64, resumed: u64) -> f64 {
    100.0 * resumed as f64 / (full + resumed).max(1) as f64
}

/// One target: its verdict, checked honestly (`n/a` when a side is missing).
fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "n/a",
    }
}

fn targets(s: &mut String, cells: &[Cell], million: &[Million]) {
    s.push_str("### Targets\n\n```\n");
    for cell in cells.iter().filter(|c| c.client == "onethread" && c.mode == Mode::Http) {
        let here = format!("[{} C={}]", cell.server.name(), cell.c);
        let one = cell.summary();
        let other = |name: &str| peer_of(cells, cell, name).and_then(Cell::summary);
        let (wrk, hyper) = (other("wrk"), other("hyper-current-thread"));
        let cpu = |x: Option<Summary>| x.map(|x| x.cpu_us_per_request);
        let rate = |x: Option<Summary>| x.map(|x| x.requests_per_second);
        let both = |a: Option<f64>, b: Option<f64>| a.zip(b);
        let line = |s: &mut String, pass: Option<bool>, what: String| {
            let _ = writeln!(s, "{:4} {here} {what}", verdict(pass));
        };
        let fmt = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.2}"));
        let whole = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.0}"));
        line(
            s,
            both(cpu(one), cpu(wrk)).map(|(a, b)| a <= b),
            format!("CPU/req {} µs ≤ wrk's {} µs", fmt(cpu(one)), fmt(cpu(wrk))),
        );
        line(
            s,
            both(cpu(one), cpu(hyper)).map(|(a, b)| a <= 0.5 * b),
            format!("CPU/req {} µs ≤ 0.5 × tokio current_thread + hyper's {} µs", fmt(cpu(one)), fmt(cpu(hyper))),
        );
        line(
            s,
            both(rate(one), rate(wrk)).map(|(a, b)| a >= 0.95 * b),
            format!("req/s {} ≥ 0.95 × wrk's {}", whole(rate(one)), whole(rate(wrk))),
        );
        if cell.c == 1000 {
            let rss = one.map(|x| x.peak_rss_kib as f64 / 1024.0);
            line(s, rss.map(|r| r <= RSS_MIB_AT_1000), format!("peak RSS {} MiB ≤ {RSS_MIB_AT_1000} MiB", fmt(rss)));
        }
    }
    tls_targets(s, cells);
    for m in million {
        let here = format!("[{} 1M C=1000]", m.server.name());
        match &m.result {
            Ok(r) => {
                let wall = r.wall.as_secs_f64();
                let rss = r.peak_rss_kib as f64 / 1024.0;
                let _ = writeln!(
                    s,
                    "{:4} {here} wall {wall:.2} s < {MILLION_WALL_SECONDS} s ({:.0} req/s, {:.2} CPU µs/req)",
                    verdict(Some(wall < MILLION_WALL_SECONDS)),
                    r.requests_per_second(),
                    r.cpu_us_per_request()
                );
                let _ = writeln!(
                    s,
                    "{:4} {here} peak RSS {rss:.1} MiB < {MILLION_RSS_MIB} MiB",
                    verdict(Some(rss < MILLION_RSS_MIB))
                );
            }
            Err(e) => {
                let _ = writeln!(s, "FAIL {here} {e}");
            }
        }
    }
    s.push_str("```\n");
}

/// Issue 13's HTTPS targets, for each server and C where onethread ran over HTTPS.
fn tls_targets(s: &mut String, cells: &[Cell]) {
    let cpu = |x: Option<&Cell>| x.and_then(Cell::summary).map(|x| x.cpu_us_per_request);
    let fmt = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.2}"));
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map_or("–".into(), |(a, b)| format!("{:.2}×", a / b));
    for cell in cells.iter().filter(|c| c.client == "onethread" && c.mode == Mode::Https) {
        let here = format!("[{} https C={}]", cell.server.name(), cell.c);
        let one = cpu(Some(cell));
        let plain = cpu(in_mode(cells, cell, Mode::Http, "onethread"));
        let wrk = cpu(peer_of(cells, cell, "wrk"));
        let reqwest = cpu(peer_of(cells, cell, "reqwest"));
        let line = |s: &mut String, pass: Option<bool>, what: String| {
            let _ = writeln!(s, "{:4} {here} {what}", verdict(pass));
        };
        line(
            s,
            one.zip(plain).map(|(a, b)| a <= TLS_OVER_HTTP * b),
            format!(
                "CPU/req {} µs ≤ {TLS_OVER_HTTP} × onethread's plain HTTP {} µs (ratio {})",
                fmt(one),
                fmt(plain),
                ratio(one, plain)
            ),
        );
        line(
            s,
            one.zip(wrk).map(|(a, b)| a <= b),
            format!("CPU/req {} µs ≤ wrk's HTTPS {} µs (ratio {})", fmt(one), fmt(wrk), ratio(one, wrk)),
        );
        line(
            s,
            one.zip(reqwest).map(|(a, b)| a <= 0.5 * b),
            format!(
                "CPU/req {} µs ≤ 0.5 × reqwest's HTTPS {} µs (ratio {})",
                fmt(one),
                fmt(reqwest),
                ratio(one, reqwest)
            ),
        );
        if cell.c == 1000 {
            let rss = cell.summary().map(|x| x.peak_rss_kib as f64 / 1024.0);
            line(
                s,
                rss.map(|r| r <= TLS_RSS_MIB_AT_1000),
                format!("peak RSS {} MiB ≤ {TLS_RSS_MIB_AT_1000} MiB", fmt(rss)),
            );
            let plain_rss = in_mode(cells, cell, Mode::Http, "onethread").and_then(Cell::summary);
            if let (Some(tls), Some(plain)) = (cell.summary(), plain_rss) {
                let delta = tls.peak_rss_kib as f64 - plain.peak_rss_kib as f64;
                let _ = writeln!(
                    s,
                    "info {here} one TLS connection costs about {:.1} KiB of RSS ((HTTPS {} KiB − HTTP {} KiB) / {} connections)",
                    delta / cell.c as f64,
                    tls.peak_rss_kib,
                    plain.peak_rss_kib,
                    cell.c
                );
            }
        }
        if let Some(close) = in_mode(cells, cell, Mode::HttpsClose, "onethread") {
            let here = format!("[{} https-close C={}]", cell.server.name(), cell.c);
            let one = cpu(Some(close));
            let hyper = cpu(peer_of(cells, close, "hyper-current-thread"));
            let _ = writeln!(
                s,
                "{:4} {here} handshake-bound CPU/req {} µs ≤ hyper-rustls's {} µs (ratio {})",
                verdict(one.zip(hyper).map(|(a, b)| a <= b)),
                fmt(one),
                fmt(hyper),
                ratio(one, hyper)
            );
            let rates: Vec<String> = close
                .runs
                .iter()
                .filter_map(|r| r.as_ref().ok()?.tls)
                .map(|(full, resumed)| format!("{:.1}%", resumption(full, resumed)))
                .collect();
            if !rates.is_empty() {
                let _ = writeln!(s, "info {here} sessions resumed: {} of handshakes, per run", rates.join(", "));
            }
        }
    }
}

pub fn json(cx: &Context, cells: &[Cell], million: &[Million]) -> Value {
    let run = |r: &Result<Measurement, String>| match r {
        Ok(m) => json!({
            "requests": m.requests,
            "seconds": m.seconds,
            "wall_seconds": m.wall.as_secs_f64(),
            "cpu_seconds": m.cpu.as_secs_f64(),
            "requests_per_second": m.requests_per_second(),
            "cpu_us_per_request": m.cpu_us_per_request(),
            "peak_threads": m.peak_threads,
            "peak_rss_kib": m.peak_rss_kib,
            "connections_opened": m.connections,
            "tls_handshakes": m.tls.map(|t| t.0),
            "tls_resumed": m.tls.map(|t| t.1),
        }),
        Err(e) => json!({ "error": e }),
    };
    let cells: Vec<Value> = cells
        .iter()
        .map(|cell| {
            let sum = cell.summary();
            json!({
                "server": cell.server.name(),
                "mode": cell.mode.name(),
                "concurrency": cell.c,
                "client": cell.client,
                "label": cell.label,
                "median_requests_per_second": sum.map(|s| s.requests_per_second),
                "median_cpu_us_per_request": sum.map(|s| s.cpu_us_per_request),
                "peak_threads": sum.map(|s| s.peak_threads),
                "peak_rss_kib": sum.map(|s| s.peak_rss_kib),
                "good_runs": sum.map_or(0, |s| s.good_runs),
                "runs": cell.runs.iter().map(run).collect::<Vec<_>>(),
            })
        })
        .collect();
    let million: Vec<Value> =
        million.iter().map(|m| json!({ "server": m.server.name(), "run": run(&m.result) })).collect();
    let servers: Vec<Value> = cx
        .servers
        .iter()
        .map(|(k, tls, v)| match v {
            Ok(v) => json!({ "server": k.name(), "tls": tls, "version": v }),
            Err(e) => json!({ "server": k.name(), "tls": tls, "error": e }),
        })
        .collect();
    json!({
        "date": cx.date,
        "machine": cx.machine,
        "command": cx.command,
        "versions": cx.versions,
        "pinning": cx.pinning,
        "requests_per_run": cx.n,
        "requests_per_handshake_bound_run": cx.close_n,
        "runs": cx.runs,
        "servers": servers,
        "cells": cells,
        "million": million,
    })
}

fn output(command: &mut Command) -> String {
    command.output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
}

fn wrk_version() -> String {
    let Some(wrk) = crate::wrk::path() else { return "wrk not installed".into() };
    // `wrk --version` prints its banner and usage, and exits 1.
    let out = Command::new(wrk).arg("--version").output().map(|o| o.stdout).unwrap_or_default();
    String::from_utf8_lossy(&out).lines().next().unwrap_or("wrk").split(" Copyright").next().unwrap_or("").to_owned()
}

/// The peers' crate versions, from Cargo.lock.
fn crate_versions() -> String {
    let lock = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"))
        .unwrap_or_default();
    let mut found = Vec::new();
    for name in ["tokio", "hyper", "hyper-util", "reqwest", "httparse", "rustls", "hyper-rustls", "ring"] {
        let needle = format!("name = \"{name}\"\nversion = \"");
        if let Some(at) = lock.find(&needle) {
            let rest = &lock[at + needle.len()..];
            found.push(format!("{name} {}", &rest[..rest.find('"').unwrap_or(0)]));
        }
    }
    found.join(", ")
}
