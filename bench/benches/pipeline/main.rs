//! HTTP/1.1 pipelining: onethread `fetch --pipeline D` beside `wrk -t1` with a
//! pipelining script, at the same depths, against the same nginx (one worker), in the
//! same run.
//!
//! Why a separate bench: at depth 1 `fetch` already spends what `wrk -t1` spends per
//! request (one `sendto`, one `recvfrom`: the kernel's floor, see `vs_tokio`). The
//! only way below is fewer system calls per request, which is what pipelining gives:
//! several requests per write, several responses per read. On a 2-CPU machine nginx
//! with one worker is already nearly saturated at depth 1, so requests per second can
//! only grow as far as nginx's own cost per request falls; what pipelining mostly cuts
//! is the *client's* CPU per request, and that is the figure the targets are about.
//!
//! Workload: `-c C` connections, each with D requests outstanding (wrk: `-c C` and a
//! script that writes D requests at a time; fetch: `-c C×D --pipeline D`, since fetch's
//! `-c` counts requests in flight and an origin then gets ⌈C×D / D⌉ = C connections).
//! Server on one CPU, client on the other (see `pin`). Each cell is the median of
//! `--runs` runs. The server's CPU per request is read from `/proc/PID/stat` around
//! each run.
//!
//! `cargo bench -p onethread-bench --bench pipeline -- [-n N] [-c 100,1000]
//! [-d 1,4,16] [--runs 3]` (nginx and wrk must be installed: `scripts/bench-pipeline`
//! installs them). Writes `target/bench/pipeline.md`.

// Shared with `vs_tokio` and `census`; this bench uses part of each.
#[allow(dead_code)]
#[path = "../vs_tokio/pin.rs"]
mod pin;
#[allow(dead_code)]
#[path = "../vs_tokio/servers.rs"]
mod servers;
#[allow(dead_code)]
#[path = "../census/watch.rs"]
mod watch;
#[allow(dead_code)]
#[path = "../vs_tokio/wrk.rs"]
mod wrk;

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use servers::{Kind, Server};

/// wrk's pipelining: `init` builds D copies of the request once, `request` hands them
/// all to each write. (The usual script, as TechEmpower's plaintext test runs it.)
const WRK_PIPELINE: &str = r#"init = function(args)
  local depth = tonumber(args[1]) or 1
  local r = {}
  for i = 1, depth do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
"#;

struct Options {
    n: usize,
    cs: Vec<usize>,
    ds: Vec<usize>,
    runs: usize,
}

/// One run of one client.
#[derive(Clone, Copy, Debug)]
struct Run {
    requests: u64,
    /// The client's own workload time.
    seconds: f64,
    client_cpu: f64,
    server_cpu: f64,
    threads: usize,
}

impl Run {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    fn client_us(&self) -> f64 {
        self.client_cpu * 1e6 / self.requests as f64
    }
    fn server_us(&self) -> f64 {
        self.server_cpu * 1e6 / self.requests as f64
    }
}

/// The medians of a cell's runs, figure by figure.
#[derive(Clone, Copy, Debug)]
struct Cell {
    rate: f64,
    client_us: f64,
    server_us: f64,
    threads: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

impl Cell {
    fn of(runs: &[Run]) -> Cell {
        Cell {
            rate: median(runs.iter().map(Run::rate).collect()),
            client_us: median(runs.iter().map(Run::client_us).collect()),
            server_us: median(runs.iter().map(Run::server_us).collect()),
            threads: runs.iter().map(|r| r.threads).max().unwrap_or(0),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match parse(&args).and_then(|o| bench(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipeline: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options { n: 400_000, cs: vec![100, 1000], ds: vec![1, 4, 16], runs: 3 };
    let list = |v: &str| -> Result<Vec<usize>, String> {
        v.split(',').map(|x| x.trim().parse().map_err(|_| format!("{v:?} is not a list of numbers"))).collect()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "-n" => o.n = value()?.parse().map_err(|_| "-n: a number")?,
            "-c" => o.cs = list(value()?)?,
            "-d" => o.ds = list(value()?)?,
            "--runs" => o.runs = value()?.parse().map_err(|_| "--runs: a number")?,
            other => return Err(format!("unknown option {other} (-n N, -c LIST, -d LIST, --runs R)")),
        }
    }
    Ok(o)
}

fn bench(o: &Options) -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let examples = root.join("target/release/examples");
    if !examples.join("fetch").exists() {
        return Err("build the examples first: cargo build --release --examples".into());
    }
    let wrk = wrk::path().ok_or("wrk is not installed (scripts/bench-pipeline installs it)")?;
    let out = root.join("target/bench");
    let logs = out.join("pipeline-logs");
    fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let script = logs.join("pipeline.lua");
    fs::write(&script, WRK_PIPELINE).map_err(|e| e.to_string())?;
    let cpus = pin::allowed_cpus();
    let (server_cpu, client_cpu) = match cpus.as_slice() {
        [a, b, ..] => (Some(*a), Some(*b)),
        _ => (None, None),
    };
    let server = Server::start(Kind::Nginx, &examples.join("server"), server_cpu, None)?;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let mut table = Vec::new();
    for &c in &o.cs {
        for &d in &o.ds {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for run in 0..o.runs {
                // Alternate who goes first, so neither always meets a warmer server.
                for who in if run % 2 == 0 { ["onethread", "wrk"] } else { ["wrk", "onethread"] } {
                    let seconds = ours.last().map_or(2, |r: &Run| r.seconds.ceil().max(1.0) as u64);
                    let r = if who == "onethread" {
                        fetch(&examples, &logs, &url, o.n, c, d, client_cpu, &server)?
                    } else {
                        wrk_run(&wrk, &logs, &script, &url, seconds, c, d, client_cpu, &server)?
                    };
                    eprintln!(
                        "c={c} d={d} {who}: {:.0} req/s, client {:.2} µs/req, server {:.2} µs/req",
                        r.rate(),
                        r.client_us(),
                        r.server_us()
                    );
                    if who == "onethread" { ours.push(r) } else { theirs.push(r) }
                }
            }
            table.push((c, d, Cell::of(&ours), Cell::of(&theirs)));
        }
    }
    let report = report(o, &server.version, &table);
    print!("{report}");
    fs::write(out.join("pipeline.md"), &report).map_err(|e| e.to_string())?;
    fs::write(out.join("pipeline.svg"), chart(&table)).map_err(|e| e.to_string())?;
    eprintln!("pipeline: wrote target/bench/pipeline.{{md,svg}}");
    Ok(())
}

/// The table as a picture: per C, per depth, client CPU per request of both clients and
/// the server's beside them, as horizontal bars. Hand-written SVG, as the other charts.
fn chart(table: &[(usize, usize, Cell, Cell)]) -> String {
    const ROW: f64 = 20.0;
    const LEFT: f64 = 260.0;
    const SPAN: f64 = 560.0;
    let most =
        table.iter().flat_map(|t| [t.2.client_us, t.3.client_us, t.2.server_us, t.3.server_us]).fold(1e-9, f64::max);
    let mut rows = String::new();
    let mut y = 60.0;
    let mut last_c = None;
    for &(c, d, one, wrk) in table {
        if last_c != Some(c) {
            let _ = writeln!(rows, r#"<text x="10" y="{:.0}" font-weight="bold">C = {c} connections</text>"#, y + 14.0);
            y += 26.0;
            last_c = Some(c);
        }
        let bars = [
            (format!("depth {d}: onethread fetch"), one.client_us, "#2e8b57"),
            (format!("depth {d}: wrk -t1"), wrk.client_us, "#c0392b"),
            (format!("depth {d}: nginx (beside fetch)"), one.server_us, "#999999"),
        ];
        for (label, us, colour) in bars {
            let w = SPAN * us / most;
            let _ = writeln!(
                rows,
                r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{label}</text><rect x="{LEFT}" y="{:.0}" width="{w:.1}" height="{:.0}" fill="{colour}"/><text x="{:.1}" y="{:.0}">{us:.2} µs</text>"#,
                LEFT - 8.0,
                y + 13.0,
                y + 2.0,
                ROW - 6.0,
                LEFT + w + 6.0,
                y + 13.0
            );
            y += ROW;
        }
        y += 8.0;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{:.0}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="24" font-size="15" font-weight="bold">HTTP/1.1 pipelining: CPU µs per request (lower is better)</text>
<text x="10" y="42">client CPU of onethread fetch (one thread) and wrk -t1, and nginx's (one worker), same run</text>
{rows}</svg>
"#,
        y + 10.0
    )
}

/// Seconds of CPU (user + system) `pid` has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after ") ".
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, f)| f.split(' ').collect()).unwrap_or_default();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[allow(clippy::too_many_arguments)]
fn fetch(
    examples: &Path,
    logs: &Path,
    url: &str,
    n: usize,
    c: usize,
    d: usize,
    cpu: Option<usize>,
    server: &Server,
) -> Result<Run, String> {
    let summary = logs.join(format!("onethread-c{c}-d{d}.json"));
    let mut command = Command::new(examples.join("fetch"));
    let (n, flight, depth) = (n.to_string(), (c * d).to_string(), d.to_string());
    command.args([&format!("{url}{{}}"), "-n", &n, "-c", &flight, "--pipeline", &depth, "--quiet"]);
    // The bare request wrk sends: the same bytes on the wire for both.
    command.args(["-H", "User-Agent:", "-H", "Accept:", "--summary-json"]).arg(&summary);
    let before = cpu_seconds(server.pid());
    let watched = measure(command, logs, &format!("onethread-c{c}-d{d}"), cpu)?;
    let server_cpu = cpu_seconds(server.pid()) - before;
    let text = fs::read_to_string(&summary).map_err(|e| e.to_string())?;
    let s: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let ok = s["successes"].as_u64().unwrap_or(0);
    if ok != n.parse::<u64>().unwrap() {
        return Err(format!("fetch: {ok} of {n} succeeded: {}", s["errors_by_kind"]));
    }
    Ok(Run {
        requests: ok,
        seconds: s["wall_seconds"].as_f64().ok_or("no wall_seconds")?,
        client_cpu: watched.cpu.as_secs_f64(),
        server_cpu,
        threads: watched.peak_threads,
    })
}

#[allow(clippy::too_many_arguments)]
fn wrk_run(
    wrk: &Path,
    logs: &Path,
    script: &Path,
    url: &str,
    seconds: u64,
    c: usize,
    d: usize,
    cpu: Option<usize>,
    server: &Server,
) -> Result<Run, String> {
    let mut command = Command::new(wrk);
    command.args(["-t1", &format!("-c{c}"), &format!("-d{seconds}s")]);
    if d > 1 {
        command.arg("-s").arg(script);
    }
    command.arg(url);
    if d > 1 {
        command.args(["--", &d.to_string()]);
    }
    let stem = format!("wrk-c{c}-d{d}");
    let before = cpu_seconds(server.pid());
    let watched = measure(command, logs, &stem, cpu)?;
    let server_cpu = cpu_seconds(server.pid()) - before;
    let report = wrk::parse(&fs::read_to_string(logs.join(format!("{stem}.out"))).unwrap_or_default())?;
    Ok(Run {
        requests: report.requests,
        seconds: report.seconds,
        client_cpu: watched.cpu.as_secs_f64(),
        server_cpu,
        threads: watched.peak_threads,
    })
}

fn measure(mut command: Command, logs: &Path, stem: &str, cpu: Option<usize>) -> Result<watch::Watched, String> {
    let file = |name: String| File::create(logs.join(name)).map_err(|e| e.to_string());
    command.stdin(Stdio::null()).stdout(file(format!("{stem}.out"))?).stderr(file(format!("{stem}.err"))?);
    pin::prepare(&mut command, cpu);
    let watched = watch::watch(&mut command, Duration::from_secs(300)).map_err(|e| e.to_string())?;
    match &watched.exit {
        Ok(0) => Ok(watched),
        other => Err(format!("{stem}: {other:?}: see {}", logs.join(format!("{stem}.err")).display())),
    }
}

fn report(o: &Options, server: &str, table: &[(usize, usize, Cell, Cell)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Pipelining: onethread vs wrk -t1, same nginx, same run\n");
    let _ = writeln!(
        s,
        "{server}, one worker, 6-byte body; fetch -n {} per run, wrk for about as long; median of {} runs; \
         server and client pinned to one CPU each.\n",
        o.n, o.runs
    );
    let _ = writeln!(
        s,
        "| connections | depth | client | req/s | client CPU µs/req | server CPU µs/req | client threads |"
    );
    let _ = writeln!(s, "|---:|---:|---|---:|---:|---:|---:|");
    for &(c, d, one, wrk) in table {
        for (name, cell) in [("onethread fetch", one), ("wrk -t1", wrk)] {
            let _ = writeln!(
                s,
                "| {c} | {d} | {name} | {:.0} | {:.2} | {:.2} | {} |",
                cell.rate, cell.client_us, cell.server_us, cell.threads
            );
        }
    }
    let _ = writeln!(s, "\nTargets at depth 16 (ratios from this run):\n");
    for &c in &o.cs {
        let cell = |d: usize| table.iter().find(|t| t.0 == c && t.1 == d).map(|t| (t.2, t.3));
        let (Some((one16, wrk16)), Some((one1, _))) = (cell(16), cell(1)) else { continue };
        let mark = |ok: bool| if ok { "met" } else { "**missed**" };
        let own = one16.client_us / one1.client_us;
        let vs_wrk = one16.client_us / wrk16.client_us;
        let rate = one16.rate / wrk16.rate;
        let _ = writeln!(
            s,
            "- C={c}: client CPU/req at depth 16 = {own:.2}× onethread's depth 1 (≤ 0.5: {})",
            mark(own <= 0.5)
        );
        let _ = writeln!(
            s,
            "- C={c}: client CPU/req at depth 16 = {vs_wrk:.2}× wrk's depth 16 (≤ 1: {})",
            mark(vs_wrk <= 1.0)
        );
        let _ = writeln!(s, "- C={c}: req/s at depth 16 = {rate:.2}× wrk's depth 16 (≥ 0.95: {})", mark(rate >= 0.95));
    }
    s
}
