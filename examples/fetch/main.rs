//! `fetch`: the seed workload — N GETs, at most C in flight — on exactly one OS thread.
//!
//! This is the motivating aiohttp script (`asyncio.Semaphore(1000)` around
//! `session.get(url)`), rebuilt on onethread's reactor. Without a URL it starts the
//! built-in server *in this same process and thread* and fetches
//! `http://localhost:PORT/{i}`, resolving `localhost` through c-ares like any other
//! name. Before any work starts it forbids the process to create threads (seccomp), and
//! it counts its threads at start, every 100 ms and at the end. Exit status: 0 when
//! the run completed on one thread (failed requests are reported, not fatal); 2 for
//! bad arguments; 3 if the thread check failed; 1 for any other fatal error.
//!
//! Everything shares one reactor. The client and the built-in server own their socket
//! and timer tokens; one more timer, the tick, samples the thread census every 100 ms
//! and so also guarantees the loop a turn at least that often, at whose end the
//! progress line redraws when due. Each outcome goes to the [`Report`]: counted for
//! the summary, its body finished on disk with `-o`, and printed on stdout.
//!
//! Modules, one job each: `args` (the command line), `input` (URLs, pulled lazily),
//! `output` (per-request lines), `progress` (the live line), `save` (`-o`), `summary`.

mod args;
mod input;
mod output;
mod progress;
mod save;
mod summary;

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::Token;
use onethread::client::{self, Client, Outcome, Sink};
use onethread::proof::{self, Census};
use onethread::reactor::{Context, Handler, Reactor};
use onethread::server::{self, Server, ServerConfig};
use onethread::timer::TimerId;

use args::Args;
use input::{Total, Urls};
use output::{Mode, Output};
use progress::{Progress, Snapshot, Style};
use save::Saver;
use summary::{Summary, Tally};

/// Token layout on the shared reactor: the client's range, then the server's, then ours.
const SERVER_BASE: usize = client::TOKENS_END;
const TICK: Token = Token(SERVER_BASE + server::TOKEN_SPAN);
const TICK_EVERY: Duration = Duration::from_millis(100);

/// Why `fetch` stops before its workload: a bad argument (exit 2) or anything else (exit 1).
enum Failure {
    Usage(String),
    Fatal(io::Error),
}

/// A file named by an argument could not be used.
fn usage(arg: &str, path: &Path, e: io::Error) -> Failure {
    Failure::Usage(format!("{arg} {}: {e}", path.display()))
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Fatal(e)
    }
}

fn main() -> ExitCode {
    match run(args::parse()) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("fetch: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Fatal(e)) => {
            eprintln!("fetch: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    // Two sockets per request when the server runs in-process: lift the soft limit.
    raise_fd_limit();
    if !args.allow_threads {
        proof::forbid_new_threads().map_err(|e| {
            io::Error::other(format!("cannot forbid thread creation: {e} (use --allow-threads to run unguarded)"))
        })?;
    }
    if args.demo_extra_thread && !start_extra_thread() {
        return Ok(ExitCode::from(3));
    }
    let mut census = Census::new();
    census.sample()?;

    // Everything an argument names is checked before the first request.
    let config = args.client_config().map_err(Failure::Usage)?;
    let summary_file = match &args.summary_json {
        Some(path) => Some(File::create(path).map_err(|e| usage("--summary-json", path, e))?),
        None => None,
    };
    let saver = match &args.output_dir {
        Some(dir) => Some(Saver::new(dir.clone()).map_err(|e| usage("--output-dir", dir, e))?),
        None => None,
    };

    let mut reactor = Reactor::new(1024)?;
    let mut cx = reactor.context();
    let mut server = None;
    let input = match (&args.template, &args.urls) {
        (_, Some(path)) => input::lines(path, args.requests).map_err(|e| usage("--urls", path, e))?,
        (Some(template), None) => input::template(template.clone(), args.requests.unwrap_or(10_000)),
        (None, None) => {
            let config =
                ServerConfig { max_delay: Duration::from_millis(args.max_delay_ms), ..ServerConfig::default() };
            let s = Server::bind_localhost(&mut cx, 0, config, SERVER_BASE)?;
            let template = format!("http://localhost:{}/{{}}", s.local_addrs()[0].port());
            server = Some(s);
            input::template(template, args.requests.unwrap_or(10_000))
        }
    };
    let mode = match (args.quiet, args.jsonl) {
        (true, _) => Mode::Quiet,
        (false, true) => Mode::Jsonl,
        (false, false) => Mode::Lines,
    };
    let report = Report { output: Output::new(mode, &args.header_out), tally: Tally::new(), saver };
    let client = Client::new(&mut cx, config, input.urls, report).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidInput => Failure::Usage(format!("bad request: {e}")),
        _ => Failure::Fatal(e),
    })?;
    let tick = cx.timers.insert(TICK);
    cx.timers.arm(tick, cx.now + TICK_EVERY);

    let started = Instant::now();
    let progress = Progress::new(Style::choose(args.quiet), started);
    let mut app = App { client, server, census, tick, progress, total: input.total };
    reactor.run(&mut app)?;
    Ok(finish(app, started.elapsed(), &args, summary_file)?)
}

/// Prints the summary (and writes it as JSON), then judges the thread census.
fn finish(mut app: App, wall: Duration, args: &Args, summary_file: Option<File>) -> io::Result<ExitCode> {
    app.progress.clear();
    let threads_now = app.census.sample()?;
    let stats = app.client.stats();
    let mut report = app.client.into_sink();
    let flushed = report.output.flush(); // a closed stdout is reported after the summary
    let summary = Summary {
        tally: &report.tally,
        stats,
        wall,
        threads_now,
        threads_peak: app.census.peak(),
        thread_samples: app.census.samples(),
        threads_forbidden: !args.allow_threads,
        peak_rss: summary::peak_rss(),
        saver: report.saver.as_ref(),
    };
    eprint!("{}", summary.text());
    if let Some(mut file) = summary_file {
        serde_json::to_writer_pretty(&mut file, &summary.json())?;
        file.write_all(b"\n")?;
    }
    flushed?;
    if app.census.peak() != 1 {
        let peak = app.census.peak();
        eprintln!("fetch: THREAD CHECK FAILED: this process had {peak} OS threads at its peak (expected 1)");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where every outcome goes: the tally, the saved body's file, stdout.
struct Report {
    output: Output,
    tally: Tally,
    saver: Option<Saver>,
}

impl Sink for Report {
    fn outcome(&mut self, o: &Outcome<'_>) {
        self.tally.record(o);
        if let Some(saver) = &mut self.saver {
            saver.finish(o);
        }
        self.output.write(o);
    }

    fn body(&mut self, index: u64, piece: &[u8]) {
        if let Some(saver) = &mut self.saver {
            saver.body(index, piece);
        }
    }
}

/// Everything on the one reactor: the client, maybe the server, and the tick.
struct App {
    client: Client<Urls, Report>,
    server: Option<Server>,
    census: Census,
    tick: TimerId,
    progress: Progress,
    total: Total,
}

impl App {
    /// What the progress line shows, at the end of a turn (after new admissions).
    fn snapshot(&self) -> Snapshot {
        let tally = &self.client.sink().tally;
        Snapshot {
            done: tally.done(),
            failures: tally.failures(),
            in_flight: self.client.in_flight(),
            total: self.total.estimate(self.client.stats().requests),
        }
    }
}

impl Handler for App {
    fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &mio::event::Event) {
        match &mut self.server {
            Some(server) if server.owns(token) => server.ready(cx, token, event),
            _ => self.client.ready(cx, token, event),
        }
    }

    fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
        match &mut self.server {
            _ if token == TICK => {
                let _ = self.census.sample();
                cx.timers.arm(self.tick, cx.now + TICK_EVERY);
            }
            Some(server) if server.owns(token) => server.timer(cx, token),
            _ => self.client.timer(cx, token),
        }
    }

    fn end_of_turn(&mut self, cx: &mut Context<'_>) {
        self.client.end_of_turn(cx);
        let _ = self.client.sink_mut().output.flush(); // one write per turn, not per line
        if self.progress.is_due(cx.now) {
            let snapshot = self.snapshot();
            self.progress.draw(cx.now, &snapshot);
        }
    }

    fn is_done(&self) -> bool {
        self.client.is_done()
    }
}

/// `--demo-extra-thread`: false (and the reason on stderr) if the guard refused it.
fn start_extra_thread() -> bool {
    let spawned = std::thread::Builder::new().name("extra".into()).spawn(|| {
        loop {
            std::thread::park();
        }
    });
    if let Err(e) = &spawned {
        eprintln!("fetch: THREAD CHECK FAILED: something tried to start a thread and the guard refused it: {e}");
    }
    spawned.is_ok()
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
