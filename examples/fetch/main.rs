//! `fetch`: the seed workload — N GETs, at most C in flight — on exactly one OS thread.
//!
//! This is the motivating aiohttp script (`asyncio.Semaphore(1000)` around
//! `session.get(url)`), rebuilt on onethread's reactor. Without a URL it starts the
//! built-in server *in this same process and thread* and fetches
//! `http://localhost:PORT/{i}`, resolving `localhost` through c-ares like any other
//! name. Before any work starts it forbids the process to create threads (seccomp), and
//! it counts its threads at start, every 100 ms and at the end. Exit status: 0 when
//! the run completed on one thread (failed requests are reported, not fatal); 2 for
//! bad arguments; 3 if the thread check failed; 130 or 143 when SIGINT or SIGTERM cut
//! the run short; 141 when stdout's reader went away; 1 for any other fatal error.
//!
//! Everything shares one reactor, and nothing waits anywhere else: the client and the
//! built-in server own their socket and timer tokens; a URL list on a pipe, stdout,
//! stderr and the signals are registered like sockets (`stdio.rs`, `signals.rs`). One
//! more timer, the tick, samples the thread census every 100 ms and so also
//! guarantees the loop a turn at least that often, at whose end the progress line is
//! redrawn when due. Each outcome goes to the [`Report`]: counted for the summary, its
//! body finished on disk with `-o`, and queued for stdout, whose back-pressure pauses
//! admission when the reader is slow.
//!
//! A run ends in one of three ways, all through [`App::end_of_turn`]: the input is
//! exhausted and every request has its outcome; a first SIGINT/SIGTERM cancels the
//! requests in flight (each still gets its line) and the summary says so; or stdout's
//! reader goes away, and the run stops at once with one line on stderr. Either way the
//! loop keeps turning until stdout and then the summary on stderr are written.
//!
//! Modules, one job each: `args` (the command line), `input` (URLs, pulled lazily),
//! `output` (per-request lines), `progress` (the live line), `save` (`-o`), `signals`,
//! `stdio` (streams that never block), `summary`; `shard` and `workers` (`--workers
//! N`: this program run as N one-thread processes and a router, which never reaches
//! the `App` below).

mod args;
mod https;
mod input;
mod output;
mod progress;
mod save;
mod shard;
mod signals;
mod stdio;
mod summary;
mod workers;

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::{Interest, Token};
use onethread::client::{self, Client, Error, ErrorKind, Outcome, RequestId, Sink};
use onethread::proof::{self, Census};
use onethread::reactor::{Context, Handler, Reactor};
use onethread::server::{self, Server, ServerConfig};
use onethread::timer::TimerId;

use args::Args;
use input::{Origins, Requests, Total};
use output::{Mode, Output};
use progress::{Progress, Snapshot, Style};
use save::Saver;
use signals::Signals;
use stdio::{Outbox, Stream};
use summary::{Summary, Tally};

/// Token layout on the shared reactor: the client's range, then the server's, then ours.
const SERVER_BASE: usize = client::TOKEN_SPAN;
const TICK: Token = Token(SERVER_BASE + server::TOKEN_SPAN);
const INPUT: Token = Token(TICK.0 + 1);
const STDOUT: Token = Token(TICK.0 + 2);
const STDERR: Token = Token(TICK.0 + 3);
const SIGNALS: Token = Token(TICK.0 + 4);
const REPORT: Token = Token(TICK.0 + 5);
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
    let (mut config, template) = args.client_config().map_err(Failure::Usage)?;
    let summary_file = match &args.summary_json {
        Some(path) => Some(File::create(path).map_err(|e| usage("--summary-json", path, e))?),
        None => None,
    };
    let saver = match &args.output_dir {
        Some(dir) if dir.exists() && !dir.is_dir() => {
            return Err(Failure::Usage(format!("-o {}: exists and is not a directory", dir.display())));
        }
        Some(dir) => Some(Saver::new(dir.clone()).map_err(|e| usage("-o", dir, e))?),
        None => None,
    };
    if args.workers > 1 {
        return workers::run(&args, summary_file, saver, census);
    }
    if let Some(template) = &args.template
        && !template.contains("{}")
        && args.worker_report.is_none()
    {
        eprintln!("fetch: warning: the URL template has no {{}}: every request fetches the same URL");
    }

    let mut reactor = Reactor::new(1024)?;
    let mut cx = reactor.context();
    let mut server = None;
    let mut input = match (&args.template, &args.urls) {
        (_, Some(path)) => {
            input::lines(path, args.requests, args.shard, args.jsonl).map_err(|e| usage("--urls", path, e))?
        }
        (Some(template), None) => input::template(template.clone(), args.requests.unwrap_or(10_000), args.shard),
        (None, None) => {
            let mut server_config =
                ServerConfig { max_delay: Duration::from_millis(args.max_delay_ms), ..ServerConfig::default() };
            if args.https {
                let identity = https::server_identity()?;
                server_config.tls = Some(identity.config);
                config.trust = client::Trust::Roots(vec![identity.certificate]);
            }
            let s = Server::bind_localhost(&mut cx, 0, server_config, SERVER_BASE)?;
            let scheme = if args.https { "https" } else { "http" };
            let template = format!("{scheme}://localhost:{}/{{}}", s.local_addrs()[0].port());
            server = Some(s);
            input::template(template, args.requests.unwrap_or(10_000), args.shard)
        }
    };
    if let Some(stream) = input.urls.stream() {
        stream.register(cx.registry, INPUT, Interest::READABLE)?;
    }
    let mode = match (args.quiet, args.jsonl) {
        (_, true) => Mode::Jsonl, // --quiet --jsonl: the lines, without progress
        (true, false) => Mode::Quiet,
        (false, false) => Mode::Lines,
    };
    let mut stdout = Stream::standard(libc::STDOUT_FILENO, true)?;
    stdout.register(cx.registry, STDOUT, Interest::WRITABLE)?;
    let mut stderr = Stream::standard(libc::STDERR_FILENO, true)?;
    stderr.register(cx.registry, STDERR, Interest::WRITABLE)?;
    let signals = Signals::new()?;
    signals.register(cx.registry, SIGNALS)?;
    let mut reporter = args.worker_report.map(workers::Reporter::open).transpose()?;
    if let Some(reporter) = &mut reporter {
        reporter.register(cx.registry, REPORT)?;
    }

    let mut output = Output::new(Outbox::new(stdout), mode, &args.header_out);
    output.redirect_keys = args.location;
    output.wire_bytes = args.compressed;
    output.attempts = args.retry > 0;
    let started = Instant::now();
    // A worker's progress goes to its router, which draws the line (`workers/`).
    let progress = Progress::new(Style::choose(args.quiet || reporter.is_some()), started);
    if progress.style == Style::Pinned {
        output.pin_status();
    }
    let report = Report { output, tally: Tally::new(), saver, fail: args.fail, origins: input.origins };
    let requests = Requests { urls: input.urls, template };
    let client = Client::new(&mut cx, config, requests, report).map_err(|e| match e {
        client::ClientError::Io(e) => Failure::Fatal(e),
        e => Failure::Usage(e.to_string()),
    })?;
    let tick = cx.timers.insert(TICK);
    let first_tick = cx.refresh() + TICK_EVERY; // after the client was set up
    cx.timers.arm(tick, first_tick);

    let mut app = App {
        client,
        server,
        census,
        tick,
        progress,
        total: input.total,
        stderr: Outbox::new(stderr),
        signals,
        stop: None,
        started,
        wall: None,
        summary_file,
        threads_forbidden: !args.allow_threads,
        insecure: args.insecure,
        reporter,
        exit: None,
    };
    reactor.run(&mut app)?;
    Ok(app.exit.unwrap_or(ExitCode::FAILURE))
}

/// Where every outcome goes: the tally, the saved body's file, stdout.
struct Report {
    output: Output,
    tally: Tally,
    saver: Option<Saver>,
    /// `--fail`: a status of 400 or more is an error, and the exit status is 22 if any
    /// request failed.
    fail: bool,
    /// With a URL list or a shard: each request's index in the whole input and its
    /// line, by the client's index.
    origins: Option<Origins>,
}

impl Sink for Report {
    fn outcome(&mut self, o: &Outcome<'_>) {
        let origin = self.origins.as_ref().and_then(|origins| origins.borrow_mut().remove(&o.index.0));
        let relocated;
        let o = match origin {
            Some(origin) => {
                relocated = Outcome { index: RequestId(origin.index), ..*o };
                &relocated
            }
            None => o,
        };
        let rejected;
        let o = match &o.result {
            Ok(r) if self.fail && r.status >= 400 => {
                rejected = Error::new(ErrorKind::HttpStatus, format!("the server answered {}", r.status));
                &Outcome { result: Err(&rejected), partial: Some(*r), ..*o }
            }
            _ => o,
        };
        self.tally.record(o);
        if let Some(saver) = &mut self.saver {
            saver.finish(o);
        }
        self.output.write(o, origin.and_then(|origin| origin.line));
    }

    fn body(&mut self, index: RequestId, piece: &[u8]) {
        if let Some(saver) = &mut self.saver {
            let origin = self.origins.as_ref().and_then(|origins| origins.borrow().get(&index.0).copied());
            let index = origin.map_or(index.0, |origin| origin.index);
            saver.body(index, piece);
        }
    }

    fn wants_more(&self) -> bool {
        self.output.wants_more()
    }
}

/// Why a run stopped before its input was exhausted.
#[derive(Clone, Debug)]
enum Stop {
    /// SIGINT or SIGTERM.
    Signal(i32),
    /// Writing to stdout failed: its reader went away (EPIPE), or worse.
    Output { broken_pipe: bool, message: String },
}

impl Stop {
    /// What the summary's `interrupted` says.
    fn name(&self) -> &'static str {
        match self {
            Stop::Signal(signal) => signals::name(*signal),
            Stop::Output { broken_pipe: true, .. } => "broken-pipe",
            Stop::Output { .. } => "stdout-error",
        }
    }

    /// The exit status: a signal's as a shell reports it (128 + its number), EPIPE's as
    /// SIGPIPE's.
    fn exit_code(&self) -> ExitCode {
        match self {
            Stop::Signal(signal) => ExitCode::from(128 + *signal as u8),
            Stop::Output { broken_pipe: true, .. } => ExitCode::from(128 + libc::SIGPIPE as u8),
            Stop::Output { .. } => ExitCode::FAILURE,
        }
    }
}

/// Everything on the one reactor: the client, maybe the server, the tick, the streams.
struct App {
    client: Client<Requests, Report>,
    server: Option<Server>,
    census: Census,
    tick: TimerId,
    progress: Progress,
    total: Total,
    stderr: Outbox,
    signals: Signals,
    stop: Option<Stop>,
    started: Instant,
    /// The run's length, fixed when its last request ended.
    wall: Option<Duration>,
    summary_file: Option<File>,
    threads_forbidden: bool,
    /// `--insecure`: the summary says certificates were not verified.
    insecure: bool,
    /// `--worker-report`: this process is a worker of `--workers`.
    reporter: Option<workers::Reporter>,
    /// Set once the summary is queued: the run is over once stderr has taken it.
    exit: Option<ExitCode>,
}

impl App {
    fn output(&mut self) -> &mut Output {
        &mut self.client.sink_mut().output
    }

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

    /// Ends the run early: no more input, and every request in flight ends now with
    /// `cancelled` (each still gets its line, unless stdout is what failed).
    fn stop(&mut self, cx: &mut Context<'_>, why: Stop) {
        let message = match &why {
            Stop::Signal(signal) => format!("interrupted by {}", signals::name(*signal)),
            Stop::Output { message, .. } => format!("stopped: {message}"),
        };
        self.stop = Some(why);
        self.client.cancel(cx, &message);
    }

    /// A second signal: leave now, as the user asks, with the streams as we found them
    /// and no partial body left in `-o DIR`.
    fn exit_now(&mut self, signal: i32) -> ! {
        if let Some(saver) = &mut self.client.sink_mut().saver {
            saver.abandon();
        }
        self.stderr
            .buf()
            .extend_from_slice(format!("\nfetch: {} again: exiting at once\n", signals::name(signal)).as_bytes());
        self.stderr.flush();
        for stream in [Some(&mut self.stderr.stream), self.client.source_mut().urls.stream()].into_iter().flatten() {
            stream.restore();
        }
        self.output().outbox().stream.restore();
        std::process::exit(128 + signal)
    }

    fn flush_stdout(&mut self, cx: &mut Context<'_>) {
        let failed = self.output().flush().map(|e| (e.raw_os_error() == Some(libc::EPIPE), e.to_string()));
        if let Some((broken_pipe, e)) = failed
            && !matches!(self.stop, Some(Stop::Output { .. }))
        {
            let message = if broken_pipe { "stdout was closed (broken pipe)".into() } else { format!("stdout: {e}") };
            self.stop(cx, Stop::Output { broken_pipe, message });
        }
    }

    /// Queues the progress line where it is drawn, if it is due and there is room.
    fn draw_progress(&mut self, now: Instant) {
        if !self.progress.is_due(now) {
            return;
        }
        let snapshot = self.snapshot();
        let stdout = &mut self.client.sink_mut().output;
        self.progress.draw(now, &snapshot, stdout, &mut self.stderr);
    }

    /// After the last outcome: erase the progress line, let stdout drain, then queue
    /// the summary on stderr.
    fn wind_down(&mut self, cx: &mut Context<'_>) {
        if self.wall.is_none() {
            self.wall = Some(self.started.elapsed());
            let stdout = &mut self.client.sink_mut().output;
            self.progress.clear(stdout, &mut self.stderr);
            self.flush_stdout(cx);
        }
        if self.exit.is_none() && self.client.sink().output.is_drained() {
            self.exit = Some(self.summarise());
        }
    }

    /// Queues the summary (or, when stdout failed, one line) and writes the JSON file;
    /// returns the exit status.
    fn summarise(&mut self) -> ExitCode {
        let threads_now = self.census.sample().unwrap_or(0);
        let stats = self.client.stats();
        let report = self.client.sink();
        let summary = Summary {
            tally: &report.tally,
            stats,
            wall: self.wall.unwrap_or_default(),
            threads_now,
            threads_peak: self.census.peak(),
            thread_samples: self.census.samples(),
            threads_forbidden: self.threads_forbidden,
            peak_rss: summary::peak_rss(),
            saver: report.saver.as_ref(),
            interrupted: self.stop.as_ref().map(Stop::name),
            insecure: self.insecure,
        };
        let mut text = match &self.stop {
            // A worker reports to its router, which prints one summary for all.
            _ if self.reporter.is_some() => String::new(),
            Some(Stop::Output { message, .. }) => format!(
                "fetch: {message}: stopped after {} requests ({} cancelled)\n",
                stats.requests,
                report.tally.cancelled()
            ),
            _ => summary.text(),
        };
        let mut code = match &self.stop {
            None if report.fail && report.tally.failures() > 0 => ExitCode::from(22), // as curl --fail
            None => ExitCode::SUCCESS,
            Some(stop) => stop.exit_code(),
        };
        // A regular file: written with plain calls, now that nothing is in flight.
        if let Some(mut file) = self.summary_file.take() {
            // One write of the whole text, not one per JSON token.
            let written = serde_json::to_vec_pretty(&summary.json()).map_err(io::Error::from).and_then(|mut json| {
                json.push(b'\n');
                file.write_all(&json)
            });
            if let Err(e) = written {
                text += &format!("fetch: --summary-json: {e}\n");
                code = ExitCode::FAILURE;
            }
        }
        if let Some(reporter) = &mut self.reporter {
            reporter.summary(&summary);
        }
        if self.census.peak() != 1 {
            let peak = self.census.peak();
            text +=
                &format!("fetch: THREAD CHECK FAILED: this process had {peak} OS threads at its peak (expected 1)\n");
            code = ExitCode::from(3);
        }
        self.stderr.buf().extend_from_slice(text.as_bytes());
        code
    }
}

impl Handler for App {
    fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &mio::event::Event) {
        match token {
            INPUT => self.client.source_mut().urls.ready(event),
            STDOUT => {
                self.output().outbox().stream.ready(event);
                self.flush_stdout(cx);
            }
            STDERR => self.stderr.stream.ready(event),
            REPORT => self.reporter.iter_mut().for_each(|r| r.ready(event)),
            SIGNALS => {
                while let Some(signal) = self.signals.next() {
                    if self.stop.is_some() {
                        self.exit_now(signal);
                    }
                    self.stop(cx, Stop::Signal(signal));
                }
            }
            _ => match &mut self.server {
                Some(server) if server.owns(token) => server.ready(cx, token, event),
                _ => self.client.ready(cx, token, event),
            },
        }
    }

    fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
        match &mut self.server {
            _ if token == TICK => {
                let _ = self.census.sample();
                if self.reporter.is_some() {
                    let snapshot = self.snapshot();
                    self.reporter.iter_mut().for_each(|r| r.progress(&snapshot));
                }
                cx.timers.arm(self.tick, cx.now + TICK_EVERY);
            }
            Some(server) if server.owns(token) => server.timer(cx, token),
            _ => self.client.timer(cx, token),
        }
    }

    fn end_of_turn(&mut self, cx: &mut Context<'_>) {
        self.client.end_of_turn(cx);
        if let Some(e) = self.client.source_mut().urls.take_error() {
            self.stderr.buf().extend_from_slice(format!("fetch: {e}\n").as_bytes());
        }
        self.flush_stdout(cx); // one write per turn, not per line
        self.draw_progress(cx.now);
        if self.client.is_done() {
            self.wind_down(cx);
        }
        self.stderr.flush();
        self.reporter.iter_mut().for_each(workers::Reporter::flush);
    }

    fn has_work_left(&self) -> bool {
        self.client.has_work_left()
    }

    fn is_done(&self) -> bool {
        self.exit.is_some()
            && (self.stderr.pending() == 0 || self.stderr.failed.is_some())
            && self.reporter.as_ref().is_none_or(workers::Reporter::is_drained)
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
