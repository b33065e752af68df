//! onethread against tokio, hyper, reqwest and wrk, end to end, measured from outside.
//!
//! The census (`benches/census`) shows how many threads each client makes. This bench
//! asks what one thread costs or saves: for N GETs at C in flight against one server,
//! each client's requests per second, CPU time per request, peak threads and peak RSS,
//! with ratios to onethread. The clients:
//!
//! - onethread's `fetch` example;
//! - wrk `-t1`, the load generator everyone trusts (it runs for a duration; see `wrk`);
//! - a hand-written HTTP/1.1 client on tokio `current_thread` with `httparse`
//!   (`benches/peers/httparse_client.rs`): tokio's cost without hyper's;
//! - hyper-util's legacy `Client` on tokio `current_thread` and on `multi_thread`;
//! - reqwest.
//!
//! The server is nginx (a neutral party) when installed, and onethread's own `server`
//! example; by default both, one table each. The server is pinned to the first CPU
//! and each client to the second (`pin`), every client is its own process (the Rust
//! peers are this binary re-executed as `vs_tokio --peer NAME URL N C`), and URLs use
//! 127.0.0.1 so that nothing resolves a name: this bench measures HTTP, not DNS. Runs
//! are interleaved (for each run, for each C, for each client) so that a slow moment
//! of a noisy machine spreads over all clients instead of landing on one.
//!
//! HTTPS (`--scheme`): the same servers over TLS 1.3 (nginx with a certificate the
//! bench makes, the built-in server with `--https`), and the clients that speak it
//! (`clients::TLS_CLIENTS`), each trusting that certificate alone. Two modes: keep-alive
//! (N requests, the record layer's cost), and a new connection per request (`--close-n`
//! requests, each a TCP connect and a TLS handshake: `Connection: close` for fetch and
//! wrk, no idle pool for hyper and reqwest).
//!
//! `cargo bench -p onethread-bench --bench vs_tokio` (or `scripts/bench`, which builds the
//! examples first). Options: `-n N` (100000), `-c LIST` (100,1000), `--runs R` (3),
//! `--only NAME,..`, `--server nginx|builtin|both` (both), `--scheme http|https|both`
//! (both), `--close-n N` (N / 10: requests of the handshake-bound runs), `--quick`
//! (N = 20000, one run), `--million` (also onethread alone, 1,000,000 GETs at C = 1000
//! per server, plain HTTP), `--timeout SECS` (per run, 120). Prints a markdown table and
//! targets; writes `target/bench/vs_tokio.{md,json,svg}`, and each run's output to
//! `target/bench/vs_tokio-logs/`.

#[path = "../peers/mod.rs"]
mod peers;

#[path = "../census/watch.rs"]
mod watch;

mod chart;
mod clients;
mod pin;
mod report;
mod servers;
mod wrk;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clients::{CLIENTS, Mode, Setup, TLS_CLIENTS};
use report::{Cell, Context, Million};
use servers::{Kind, Server, Tls};

struct Options {
    n: Option<usize>,
    close_n: Option<usize>,
    /// Plain HTTP, HTTPS, or both.
    http: bool,
    https: bool,
    cs: Vec<usize>,
    runs: Option<usize>,
    only: Option<Vec<String>>,
    servers: Vec<Kind>,
    quick: bool,
    million: bool,
    timeout: Duration,
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; it means nothing here.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--peer") {
        return peer_main(&args[1..]);
    }
    match parse(&args).and_then(bench) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vs_tokio: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--peer NAME URL N C`: run one Rust peer in this process; print its result and the
/// time its workload took (runtime start-up included, process start-up not).
fn peer_main(args: &[String]) -> ExitCode {
    let [name, url, n, c, rest @ ..] = args else {
        eprintln!("usage: vs_tokio --peer NAME URL_TEMPLATE N C [--cacert FILE] [--close]");
        return ExitCode::from(2);
    };
    let (Some(run), Ok(n), Ok(c), Ok(options)) = (peers::find(name), n.parse(), c.parse(), peers::Options::parse(rest))
    else {
        eprintln!("vs_tokio: bad peer arguments {args:?}");
        return ExitCode::from(2);
    };
    let start = Instant::now();
    let result = run(url, n, c, &options);
    let seconds = start.elapsed().as_secs_f64();
    let line = serde_json::json!({
        "ok": result.ok, "failed": result.failed, "first_error": result.first_error, "seconds": seconds,
    });
    println!("{line}");
    ExitCode::SUCCESS
}

const USAGE: &str = "options: -n N, -c LIST, --runs R, --only NAME,.., --server nginx|builtin|both, \
                     --scheme http|https|both, --close-n N, --quick, --million, --timeout SECS";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        n: None,
        close_n: None,
        http: true,
        https: true,
        cs: vec![100, 1000],
        runs: None,
        only: None,
        servers: vec![Kind::Nginx, Kind::Builtin],
        quick: false,
        million: false,
        timeout: Duration::from_secs(120),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-n" => options.n = Some(value()?.parse().map_err(|e| format!("-n: {e}"))?),
            "-c" => {
                let list: Result<Vec<usize>, _> =
                    value()?.split(',').map(|c| c.trim().parse::<usize>().map(|c| c.max(1))).collect();
                options.cs = list.map_err(|e| format!("-c: {e}"))?;
            }
            "--runs" => options.runs = Some(value()?.parse::<usize>().map_err(|e| format!("--runs: {e}"))?.max(1)),
            "--only" => {
                let names: Vec<String> = value()?.split(',').map(str::to_owned).collect();
                if let Some(bad) = names.iter().find(|n| !CLIENTS.iter().any(|(c, _)| c == n)) {
                    let known: Vec<&str> = CLIENTS.iter().map(|(c, _)| *c).collect();
                    return Err(format!("--only: unknown client {bad} (clients: {})", known.join(", ")));
                }
                options.only = Some(names);
            }
            "--server" => {
                options.servers = match value()?.as_str() {
                    "nginx" => vec![Kind::Nginx],
                    "builtin" => vec![Kind::Builtin],
                    "both" => vec![Kind::Nginx, Kind::Builtin],
                    other => return Err(format!("--server: {other}? (nginx, builtin or both)")),
                }
            }
            "--scheme" => {
                (options.http, options.https) = match value()?.as_str() {
                    "http" => (true, false),
                    "https" => (false, true),
                    "both" => (true, true),
                    other => return Err(format!("--scheme: {other}? (http, https or both)")),
                }
            }
            "--close-n" => options.close_n = Some(value()?.parse().map_err(|e| format!("--close-n: {e}"))?),
            "--quick" => options.quick = true,
            "--million" => options.million = true,
            "--timeout" => {
                options.timeout = Duration::from_secs(value()?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            _ => return Err(format!("unknown argument {arg} ({USAGE})")),
        }
    }
    Ok(options)
}

/// Where things are: this binary is `target/release/deps/vs_tokio-…`.
fn target_dir() -> Result<(PathBuf, PathBuf), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile = exe.parent().and_then(Path::parent).ok_or("cannot place the target directory")?;
    let target = profile.parent().ok_or("cannot place the target directory")?;
    Ok((profile.join("examples"), target.join("bench")))
}

fn bench(options: Options) -> Result<(), String> {
    let n = options.n.unwrap_or(if options.quick { 20_000 } else { 100_000 });
    let runs = options.runs.unwrap_or(if options.quick { 1 } else { 3 });
    let (examples, out) = target_dir()?;
    for bin in ["server", "fetch"] {
        if !examples.join(bin).exists() {
            return Err(format!(
                "{} is missing: run `cargo build --release --examples` first (scripts/bench does)",
                examples.join(bin).display()
            ));
        }
    }
    let logs = out.join("vs_tokio-logs");
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;

    // The server on one CPU, every client on another, when there are two.
    let cpus = pin::allowed_cpus();
    let (server_cpu, client_cpu, pinning) = match cpus.as_slice() {
        [a, b, ..] => (Some(*a), Some(*b), format!("server on CPU {a}, each client on CPU {b} (sched_setaffinity)")),
        _ => (None, None, "none: fewer than 2 CPUs, server and client share".to_owned()),
    };
    let selected: Vec<(&'static str, &'static str)> = CLIENTS
        .iter()
        .copied()
        .filter(|(name, _)| options.only.as_ref().is_none_or(|only| only.iter().any(|o| o == name)))
        .collect();
    let close_n = options.close_n.unwrap_or(n / 10).max(1);
    let mut context = Context::of_this_machine(n, runs, pinning);
    context.close_n = options.https.then_some(close_n);
    let tls = if options.https { Some(Tls::make(&out.join("tls"))?) } else { None };
    let mut cells = Vec::new();
    let mut million = Vec::new();

    // One server process per (server, scheme): the built-in server is either plain or TLS.
    let mut groups: Vec<(Kind, Option<&Tls>)> = Vec::new();
    for &kind in &options.servers {
        if options.http {
            groups.push((kind, None));
        }
        if let Some(tls) = &tls {
            groups.push((kind, Some(tls)));
        }
    }
    for (kind, tls) in groups {
        let modes: &[Mode] = if tls.is_some() { &[Mode::Https, Mode::HttpsClose] } else { &[Mode::Http] };
        let server = Server::start(kind, &examples.join("server"), server_cpu, tls);
        context.servers.push((kind, tls.is_some(), server.as_ref().map(|s| s.version.clone()).map_err(Clone::clone)));
        let mut here: Vec<Cell> = Vec::new();
        for &mode in modes {
            for &c in &options.cs {
                for &(client, label) in &selected {
                    if mode.tls() && !TLS_CLIENTS.contains(&client) {
                        continue;
                    }
                    let label = clients::label(client, label, mode);
                    here.push(Cell { server: kind, mode, c, client, label, runs: Vec::new() });
                }
            }
        }
        let server = match server {
            Ok(server) => server,
            Err(e) => {
                eprintln!("vs_tokio: server {}: {e}", kind.name());
                for cell in &mut here {
                    cell.runs.push(Err(format!("skipped: server {}: {e}", kind.name())));
                }
                cells.extend(here);
                continue;
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!("vs_tokio: server {} on {scheme}://127.0.0.1:{}", kind.name(), server.port);
        for run in 1..=runs {
            for &mode in modes {
                for &c in &options.cs {
                    let mut wrk_seconds = 2;
                    for cell in here.iter_mut().filter(|cell| cell.c == c && cell.mode == mode) {
                        let setup = Setup {
                            examples: &examples,
                            logs: &logs,
                            port: server.port,
                            n: if mode == Mode::HttpsClose { close_n } else { n },
                            c,
                            cpu: client_cpu,
                            timeout: options.timeout,
                            wrk_seconds,
                            mode,
                            cacert: server.cacert.as_deref(),
                        };
                        eprint!(
                            "vs_tokio: [{} {} run {run}/{runs} C={c}] {} … ",
                            kind.name(),
                            mode.name(),
                            cell.client
                        );
                        let result = clients::run_once(cell.client, &setup);
                        match &result {
                            Ok(m) => eprintln!(
                                "{:.0} req/s, {:.2} CPU µs/req, {} threads, {:.1} MiB",
                                m.requests_per_second(),
                                m.cpu_us_per_request(),
                                m.peak_threads,
                                m.peak_rss_kib as f64 / 1024.0
                            ),
                            Err(e) => eprintln!("{e}"),
                        }
                        // wrk stops on time: give it about as long as onethread took for N.
                        if let (Ok(m), "onethread") = (&result, cell.client) {
                            wrk_seconds = m.seconds.ceil().max(1.0) as u64;
                        }
                        cell.runs.push(result);
                    }
                }
            }
        }
        if options.million && tls.is_none() {
            let setup = Setup {
                examples: &examples,
                logs: &logs,
                port: server.port,
                n: 1_000_000,
                c: 1000,
                cpu: client_cpu,
                timeout: options.timeout,
                wrk_seconds: 0,
                mode: Mode::Http,
                cacert: None,
            };
            eprint!("vs_tokio: [{}] onethread, 1,000,000 GETs at C=1000 … ", kind.name());
            let result = clients::run_once("onethread", &setup);
            match &result {
                Ok(m) => eprintln!("{:.2} s, {:.1} MiB", m.wall.as_secs_f64(), m.peak_rss_kib as f64 / 1024.0),
                Err(e) => eprintln!("{e}"),
            }
            million.push(Million { server: kind, result });
        }
        drop(server);
        cells.extend(here);
    }

    let table = report::markdown(&context, &cells, &million);
    println!("{table}");
    let write = |file: &str, text: String| {
        let path = out.join(file);
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write("vs_tokio.md", table)?;
    write(
        "vs_tokio.json",
        serde_json::to_string_pretty(&report::json(&context, &cells, &million)).expect("json") + "\n",
    )?;
    write("vs_tokio.svg", chart::svg(&context, &cells))?;
    eprintln!("vs_tokio: wrote {}/vs_tokio.{{md,json,svg}}", out.display());
    Ok(())
}
