//! The census: the seed workload run by each peer, its threads counted from outside.
//!
//! `cargo bench -p onethread-bench --bench census` (or `scripts/census`, which also
//! builds the examples and installs Python's venv) runs, for each peer, 10,000 GETs with at most 1,000 in flight
//! against the built-in `server` in a process of its own, and resolves `localhost` by
//! name. Each client is a separate process watched from outside (see `watch`), so the
//! census counts exactly the threads the client made, whatever it thinks it made.
//!
//! The Rust peers (`benches/peers/`) run in this same binary, re-executed as
//! `census --peer NAME URL N C`, so each gets a fresh process. The aiohttp peers run
//! `seed.py` in a venv; onethread runs `examples/fetch`. A peer whose toolchain is
//! missing is a row that says so, and a failing peer is a row with its error.
//!
//! HTTPS rows (names ending in `-https`) run the same workload against a second
//! built-in server started with `--https --cert-out FILE`, fetching
//! `https://localhost:PORT/{i}` and trusting that certificate alone: aiohttp through
//! Python's `ssl` module (`ssl.create_default_context(cafile=…)`), hyper and reqwest
//! through rustls on *ring*, onethread with `--cacert`. `--no-https` leaves them out.
//!
//! Output: a markdown table on stdout, and `target/census/census.{md,json,svg}`.
//! Options: `-n N`, `-c C`, `--runs R` (each peer R times, default 3), `--only NAME,NAME`,
//! `--timeout SECS` (per run, default 120).

#[path = "../peers/mod.rs"]
mod peers;

mod chart;
mod python;
mod report;
mod server;
mod watch;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use report::{Measured, Row};
use serde_json::Value;

/// Who is measured, in table order.
const PEERS: &[(&str, &str)] = &[
    ("aiohttp-threaded", "aiohttp, ThreadedResolver"),
    ("aiohttp-nocache", "aiohttp, ThreadedResolver, no DNS cache"),
    ("aiohttp-aiodns", "aiohttp, AsyncResolver (aiodns)"),
    ("hyper-current-thread", "hyper, tokio current_thread"),
    ("hyper-multi-thread", "hyper, tokio multi_thread"),
    ("reqwest", "reqwest, tokio current_thread"),
    ("onethread", "onethread fetch"),
    ("aiohttp-threaded-https", "HTTPS: aiohttp + ssl, ThreadedResolver"),
    ("hyper-current-thread-https", "HTTPS: hyper + hyper-rustls, tokio current_thread"),
    ("hyper-multi-thread-https", "HTTPS: hyper + hyper-rustls, tokio multi_thread"),
    ("reqwest-https", "HTTPS: reqwest + rustls, tokio current_thread"),
    ("onethread-https", "HTTPS: onethread fetch"),
];

struct Options {
    n: usize,
    c: usize,
    only: Option<Vec<String>>,
    timeout: Duration,
    runs: usize,
    https: bool,
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; it means nothing here.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--peer") {
        return peer_main(&args[1..]);
    }
    match parse(&args).and_then(census) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("census: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--peer NAME URL N C`: run one Rust peer in this process and print its result.
fn peer_main(args: &[String]) -> ExitCode {
    let [name, url, n, c, rest @ ..] = args else {
        eprintln!("usage: census --peer NAME URL_TEMPLATE N C [--cacert FILE] [--close]");
        return ExitCode::from(2);
    };
    let (Some(run), Ok(n), Ok(c), Ok(options)) = (peers::find(name), n.parse(), c.parse(), peers::Options::parse(rest))
    else {
        eprintln!("census: bad peer arguments {args:?}");
        return ExitCode::from(2);
    };
    // The main thread's name would be the binary's, `census-<hash>`: say what it is.
    name_this_thread(c"census-peer");
    let result = run(url, n, c, &options);
    let line = serde_json::json!({ "ok": result.ok, "failed": result.failed, "first_error": result.first_error });
    println!("{line}");
    ExitCode::SUCCESS
}

fn name_this_thread(name: &std::ffi::CStr) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options =
        Options { n: 10_000, c: 1000, only: None, timeout: Duration::from_secs(120), runs: 3, https: true };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-n" => options.n = value()?.parse().map_err(|e| format!("-n: {e}"))?,
            "-c" => options.c = value()?.parse().map_err(|e| format!("-c: {e}"))?,
            "--timeout" => {
                options.timeout = Duration::from_secs(value()?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            "--runs" => options.runs = value()?.parse::<usize>().map_err(|e| format!("--runs: {e}"))?.max(1),
            "--only" => options.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--no-https" => options.https = false,
            _ => {
                return Err(format!(
                    "unknown argument {arg} (options: -n N, -c C, --runs R, --only NAME,.., --no-https, --timeout SECS)"
                ));
            }
        }
    }
    Ok(options)
}

/// Where things are: this binary is `target/release/deps/census-…`.
struct Paths {
    examples: PathBuf,
    out: PathBuf,
    venv: PathBuf,
    seed: PathBuf,
}

fn paths() -> Result<Paths, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile = exe.parent().and_then(Path::parent).ok_or("cannot place the target directory")?;
    let target = profile.parent().ok_or("cannot place the target directory")?;
    Ok(Paths {
        examples: profile.join("examples"),
        out: target.join("census"),
        venv: target.join("census-venv"),
        seed: Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/census/seed.py"),
    })
}

fn census(options: Options) -> Result<(), String> {
    let paths = paths()?;
    for bin in ["server", "fetch"] {
        if !paths.examples.join(bin).exists() {
            return Err(format!(
                "{} is missing: run `cargo build --release --examples` first (scripts/census does)",
                paths.examples.join(bin).display()
            ));
        }
    }
    let logs = paths.out.join("logs");
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let selected: Vec<_> = PEERS
        .iter()
        .filter(|(name, _)| options.only.as_ref().is_none_or(|only| only.iter().any(|o| o == name)))
        .filter(|(name, _)| options.https || !name.ends_with("-https"))
        .collect();

    let wants_python = selected.iter().any(|(name, _)| name.starts_with("aiohttp"));
    let python = if wants_python {
        eprintln!("census: preparing the Python venv in {} …", paths.venv.display());
        Some(python::prepare(&paths.venv))
    } else {
        None
    };
    let mut context = report::Context::of_this_machine(options.n, options.c, options.runs);
    if let Some(Ok(py)) = &python {
        context.versions.push(py.versions.clone());
    }

    let server = server::TestServer::start(&paths.examples.join("server"), None).map_err(|e| format!("server: {e}"))?;
    let url = format!("http://localhost:{}/{{}}", server.port);
    eprintln!("census: server on {}; clients fetch {url}", server.addrs.join(" and "));
    // The HTTPS server, when an HTTPS row is selected: its certificate is the one trusted.
    let cacert = paths.out.join("server-cert.pem");
    let tls_server = if selected.iter().any(|(name, _)| name.ends_with("-https")) {
        let _ = fs::remove_file(&cacert);
        let tls_server = server::TestServer::start(&paths.examples.join("server"), Some(&cacert))
            .map_err(|e| format!("https server: {e}"))?;
        eprintln!("census: https server on {}, certificate in {}", tls_server.addrs.join(" and "), cacert.display());
        Some(tls_server)
    } else {
        None
    };
    let https_url = tls_server.as_ref().map(|s| format!("https://localhost:{}/{{}}", s.port));

    let run = Run {
        paths: &paths,
        python: python.as_ref(),
        url: &url,
        https: https_url.as_deref().map(|url| (url, cacert.as_path())),
        logs: &logs,
        options: &options,
    };
    let mut rows = Vec::new();
    for &&(name, label) in &selected {
        eprintln!("census: {name} …");
        // Thread counts that come from a race (a pool growing while lookups finish)
        // differ from run to run: run each peer several times and show the range.
        let outcome = (0..options.runs).map(|_| run_once(name, &run)).collect::<Result<Vec<_>, _>>();
        if let Err(e) = &outcome {
            eprintln!("census: {name}: {e}");
        }
        rows.push(Row { name, label, outcome });
    }
    drop(server);
    drop(tls_server);

    let table = report::markdown(&context, &rows);
    println!("{table}");
    let write = |file: &str, text: String| {
        let path = paths.out.join(file);
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write("census.md", table)?;
    write("census.json", serde_json::to_string_pretty(&report::json(&context, &rows)).expect("json") + "\n")?;
    write("census.svg", chart::svg(&context, &rows))?;
    eprintln!("census: wrote {}/census.{{md,json,svg}}", paths.out.display());
    Ok(())
}

/// Everything a peer's run needs to know.
struct Run<'a> {
    paths: &'a Paths,
    python: Option<&'a Result<python::Python, String>>,
    url: &'a str,
    /// The HTTPS server's URL template and certificate, when one runs.
    https: Option<(&'a str, &'a Path)>,
    logs: &'a Path,
    options: &'a Options,
}

/// One run of one peer, in a process of its own.
fn run_once(name: &str, run: &Run) -> Result<Measured, String> {
    let (n, c) = (run.options.n.to_string(), run.options.c.to_string());
    let (base, url, cacert) = match name.strip_suffix("-https") {
        None => (name, run.url, None),
        Some(base) => {
            let (url, cacert) = run.https.ok_or("skipped: no HTTPS server")?;
            (base, url, Some(cacert))
        }
    };
    if let Some(resolver) = base.strip_prefix("aiohttp-") {
        let py = match run.python {
            Some(Ok(py)) => py,
            Some(Err(why)) => return Err(format!("skipped: {why}")),
            None => return Err("skipped: Python was not prepared".into()),
        };
        let mut command = Command::new(&py.bin);
        command.arg(&run.paths.seed).args([url, &n, &c, resolver]);
        if let Some(cacert) = cacert {
            command.arg(cacert);
        }
        return measure(command, run.logs, name, run.options, parse_peer_line);
    }
    if base == "onethread" {
        let summary = run.logs.join(format!("{name}.json"));
        let mut command = Command::new(run.paths.examples.join("fetch"));
        command.args([url, "-n", &n, "-c", &c, "--quiet", "--summary-json"]).arg(&summary);
        if let Some(cacert) = cacert {
            command.arg("--cacert").arg(cacert);
        }
        return measure(command, run.logs, name, run.options, |_| parse_fetch_summary(&summary));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command.args(["--peer", base, url, &n, &c]);
    let options = peers::Options { cacert: cacert.map(Path::to_owned), close: false };
    command.args(options.args());
    measure(command, run.logs, name, run.options, parse_peer_line)
}

/// Runs one client under the watch; its stdout and stderr go to `logs/NAME.{out,err}`.
/// `result` reads what the client itself reported, from its stdout.
fn measure(
    mut command: Command,
    logs: &Path,
    name: &str,
    options: &Options,
    result: impl FnOnce(&str) -> Result<Value, String>,
) -> Result<Measured, String> {
    let (out_path, err_path) = (logs.join(format!("{name}.out")), logs.join(format!("{name}.err")));
    let file = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    command.stdin(Stdio::null()).stdout(file(&out_path)?).stderr(file(&err_path)?);
    let watched = watch::watch(&mut command, options.timeout).map_err(|e| format!("cannot run: {e}"))?;
    let stderr_tail = || {
        let text = fs::read_to_string(&err_path).unwrap_or_default();
        text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned()
    };
    match &watched.exit {
        Ok(0) => {}
        Ok(code) => return Err(format!("exit status {code}: {}", stderr_tail())),
        Err(why) => return Err(format!("{why}: {}", stderr_tail())),
    }
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let reported = result(&stdout)?;
    Ok(Measured::new(watched, reported, options.n))
}

/// The JSON line printed by `seed.py` and by `--peer`.
fn parse_peer_line(stdout: &str) -> Result<Value, String> {
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or("no result line on stdout")?;
    serde_json::from_str(line).map_err(|e| format!("result line: {e}"))
}

/// `fetch --summary-json`, reduced to the same keys (plus fetch's own requests/s).
fn parse_fetch_summary(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::json!({
        "ok": s["successes"],
        "failed": s["errors"],
        "own_requests_per_second": s["requests_per_second"],
    }))
}
