//! The clients, and one run of one client in a process of its own.
//!
//! Every client is measured the same way from outside (`watch`): wall time, CPU time
//! (user + system, from `wait4`), peak threads and peak RSS. What differs is how each
//! says how many requests it made and how long its workload took, which is read from
//! its own report: onethread's `--summary-json`, the `--peer` JSON line of the Rust
//! peers, and wrk's text summary (see `wrk`). Requests per second use that own time,
//! which leaves out process start-up for everyone, wrk included; CPU per request uses
//! the whole process's CPU time, start-up included, for everyone.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{pin, watch, wrk};

/// Who is measured, in table order: name (for `--only`) and label.
pub const CLIENTS: &[(&str, &str)] = &[
    ("onethread", "onethread fetch (one thread)"),
    ("wrk", "wrk -t1"),
    ("httparse-current-thread", "tokio current_thread + httparse"),
    ("hyper-current-thread", "tokio current_thread + hyper"),
    ("hyper-multi-thread", "tokio multi_thread + hyper"),
    ("reqwest", "reqwest (tokio current_thread)"),
];

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP over keep-alive connections.
    Http,
    /// HTTPS over keep-alive connections: the record layer's cost per request.
    Https,
    /// HTTPS with a new connection, and so a TLS handshake, for every request.
    HttpsClose,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Http => "http",
            Mode::Https => "https",
            Mode::HttpsClose => "https-close",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Mode::Http => "HTTP, keep-alive",
            Mode::Https => "HTTPS, keep-alive",
            Mode::HttpsClose => "HTTPS, a new connection (and TLS handshake) per request",
        }
    }

    pub fn tls(self) -> bool {
        self != Mode::Http
    }
}

/// The clients that run over HTTPS: wrk (OpenSSL) and the Rust peers that speak TLS
/// with rustls. (The hand-written httparse peer speaks plain HTTP only, and tokio
/// multi_thread + hyper would repeat the current_thread row on one pinned CPU.)
pub const TLS_CLIENTS: &[&str] = &["onethread", "wrk", "hyper-current-thread", "reqwest"];

/// A client's label in a given mode (hyper's connector differs over TLS).
pub fn label(client: &str, plain: &'static str, mode: Mode) -> &'static str {
    match (client, mode.tls()) {
        ("hyper-current-thread", true) => "tokio current_thread + hyper + hyper-rustls",
        ("reqwest", true) => "reqwest + rustls (tokio current_thread)",
        _ => plain,
    }
}

/// One successful run.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Requests answered with a 2xx status.
    pub requests: u64,
    /// The client's own duration of its workload.
    pub seconds: f64,
    /// From spawn to exit, seen from outside.
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_threads: usize,
    pub peak_rss_kib: u64,
    /// Connections the client opened, where it says (onethread).
    pub connections: Option<u64>,
    /// Full TLS handshakes and resumed ones, where it says (onethread).
    pub tls: Option<(u64, u64)>,
}

impl Measurement {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }

    pub fn cpu_us_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64
    }
}

/// What a run needs to know.
pub struct Setup<'a> {
    pub examples: &'a Path,
    pub logs: &'a Path,
    pub port: u16,
    pub n: usize,
    pub c: usize,
    /// The client's CPU, when pinning.
    pub cpu: Option<usize>,
    pub timeout: Duration,
    /// How long wrk runs: it stops on time, not after N requests.
    pub wrk_seconds: u64,
    pub mode: Mode,
    /// Over HTTPS: the server's certificate, the only one trusted.
    pub cacert: Option<&'a Path>,
}

/// Runs `name` once. `Err` says why there is no measurement: a missing tool, a crash,
/// or a request that failed (every one of the N must succeed).
pub fn run_once(name: &str, setup: &Setup) -> Result<Measurement, String> {
    let scheme = if setup.mode.tls() { "https" } else { "http" };
    let template = format!("{scheme}://127.0.0.1:{}/{{}}", setup.port);
    let (n, c) = (setup.n.to_string(), setup.c.to_string());
    let stem = format!("{name}-{}-c{}", setup.mode.name(), setup.c);
    let close = setup.mode == Mode::HttpsClose;
    if setup.mode.tls() && setup.cacert.is_none() {
        return Err("no certificate to trust".into());
    }
    match name {
        "onethread" => {
            let summary = setup.logs.join(format!("{stem}.json"));
            let _ = fs::remove_file(&summary);
            let mut command = Command::new(setup.examples.join("fetch"));
            // Without fetch's default User-Agent and Accept, the request is the bare one
            // wrk and hyper send: the same bytes on the wire for every client.
            let bare = ["-H", "User-Agent:", "-H", "Accept:"];
            command.args([template.as_str(), "-n", &n, "-c", &c, "--quiet"]).args(bare);
            command.arg("--summary-json").arg(&summary);
            if let Some(cacert) = setup.cacert {
                command.arg("--cacert").arg(cacert);
            }
            if close {
                command.args(["-H", "Connection: close"]);
            }
            let watched = measure(command, setup, &stem)?;
            let s = read_json(&summary)?;
            let (ok, failed) = (s["successes"].as_u64().unwrap_or(0), s["errors"].as_u64().unwrap_or(0));
            check(ok, failed, setup.n, || s["errors_by_kind"].to_string())?;
            Ok(Measurement {
                requests: ok,
                seconds: s["wall_seconds"].as_f64().ok_or("summary without wall_seconds")?,
                connections: s["connections"]["opened"].as_u64(),
                tls: s["tls"]["handshakes"].as_u64().zip(s["tls"]["resumed"].as_u64()),
                ..from(watched)
            })
        }
        "wrk" => {
            let wrk = wrk::path().ok_or("skipped: wrk is not installed")?;
            let mut command = Command::new(wrk);
            // wrk (OpenSSL) does not verify certificates, so it needs no --cacert.
            let url = format!("{scheme}://127.0.0.1:{}/", setup.port);
            command.args(["-t1", &format!("-c{c}"), &format!("-d{}s", setup.wrk_seconds), &url]);
            if close {
                command.args(["-H", "Connection: close"]);
            }
            let watched = measure(command, setup, &stem)?;
            let report = wrk::parse(&fs::read_to_string(setup.logs.join(format!("{stem}.out"))).unwrap_or_default())?;
            Ok(Measurement { requests: report.requests, seconds: report.seconds, ..from(watched) })
        }
        peer => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut command = Command::new(exe);
            command.args(["--peer", peer, &template, &n, &c]);
            let options = crate::peers::Options { cacert: setup.cacert.map(Path::to_owned), close };
            command.args(options.args());
            let watched = measure(command, setup, &stem)?;
            let out = fs::read_to_string(setup.logs.join(format!("{stem}.out"))).unwrap_or_default();
            let line = out.lines().rev().find(|l| l.starts_with('{')).ok_or("no result line on stdout")?;
            let v: Value = serde_json::from_str(line).map_err(|e| format!("result line: {e}"))?;
            let (ok, failed) = (v["ok"].as_u64().unwrap_or(0), v["failed"].as_u64().unwrap_or(0));
            check(ok, failed, setup.n, || v["first_error"].as_str().unwrap_or("").to_owned())?;
            Ok(Measurement {
                requests: ok,
                seconds: v["seconds"].as_f64().ok_or("result line without seconds")?,
                ..from(watched)
            })
        }
    }
}

/// Every one of the N requests must have succeeded.
fn check(ok: u64, failed: u64, n: usize, first_error: impl FnOnce() -> String) -> Result<(), String> {
    if ok == n as u64 && failed == 0 {
        Ok(())
    } else {
        Err(format!("{ok} of {n} succeeded, {failed} failed: {}", first_error()))
    }
}

fn from(watched: watch::Watched) -> Measurement {
    Measurement {
        requests: 0,
        seconds: 0.0,
        wall: watched.wall,
        cpu: watched.cpu,
        peak_threads: watched.peak_threads,
        peak_rss_kib: watched.peak_rss_kib,
        connections: None,
        tls: None,
    }
}

/// Runs the command pinned and watched; stdout and stderr go to `logs/STEM.{out,err}`.
fn measure(mut command: Command, setup: &Setup, stem: &str) -> Result<watch::Watched, String> {
    let (out, err): (PathBuf, PathBuf) =
        (setup.logs.join(format!("{stem}.out")), setup.logs.join(format!("{stem}.err")));
    let file = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    command.stdin(Stdio::null()).stdout(file(&out)?).stderr(file(&err)?);
    pin::prepare(&mut command, setup.cpu);
    let watched = watch::watch(&mut command, setup.timeout).map_err(|e| format!("cannot run: {e}"))?;
    let tail = || {
        let text = fs::read_to_string(&err).unwrap_or_default();
        text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned()
    };
    match &watched.exit {
        Ok(0) => Ok(watched),
        Ok(code) => Err(format!("exit status {code}: {}", tail())),
        Err(why) => Err(format!("{why}: {}", tail())),
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
