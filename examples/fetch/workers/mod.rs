//! `--workers N`: N processes on one machine, each on one thread with the guard on, and a
//! router, itself one thread, that makes them look like one run.
//!
//! One thread is one core (NOTES.md §10). The way to a second core that keeps every
//! process provable is the one nginx takes: more processes, each single-threaded.
//! `--workers N` is `--shard k/N` for k = 1..N on one machine, started and merged for
//! you: worker k fetches exactly the URLs `--shard k/N` would (`shard.rs`), so a list
//! split by `--workers` and by `--shard` agree, each host's URLs land in one worker,
//! and its pool, DNS cache and politeness (`--per-host`, `--host-delay`) stay whole
//! there. With `--shard K/M` as well, the workers split that shard: worker j+1 runs
//! `--shard K+jM/MN`, which holds exactly the hosts of K/M (`Shard::split`).
//!
//! **Workers.** The router runs its own executable (`/proc/self/exe`, so a binary
//! replaced on disk meanwhile cannot mix versions) with the user's arguments, minus
//! those it answers for itself (`--workers`, `--shard`, `-c`, `--summary-json`, and
//! `--urls` when it reads the list itself), plus the worker's `--shard`, its share of
//! `-c` (the total stays at most C in flight, as one process would promise), and
//! `--worker-report 3`. `std::process::Command` forks (`clone` without
//! `CLONE_THREAD`) and execs: it starts no thread, so it runs under the guard, which
//! each worker inherits and installs again. Each worker gets, before `exec`:
//! * its own process group, so a Ctrl-C at the terminal reaches the router alone and
//!   each worker receives the signal exactly once, forwarded (a second copy would
//!   mean "exit at once");
//! * SIGINT and SIGTERM blocked, as the router has them, so a signal forwarded before
//!   the worker opened its `signalfd` waits for it instead of killing it;
//! * `PR_SET_PDEATHSIG` = SIGTERM: if the router dies (even by SIGKILL), each worker
//!   cancels its requests and stops, instead of fetching on for nobody;
//! * its report pipe as descriptor 3. It writes newline-delimited JSON there:
//!   progress every 100 ms, then its whole tally (the latency histogram as buckets),
//!   counters, census and peak RSS, instead of a summary on stderr ([`Reporter`]).
//!
//! **Every descriptor the router touches is polled, or cannot block.** Each worker's
//! stdout, stderr and report pipe are read non-blocking, registered with the router's
//! reactor; a stdin pipe (below) is written the same way; a `pidfd` per worker
//! becomes readable when it exits (`waitpid(WNOHANG)` then reaps it without waiting);
//! SIGINT and SIGTERM come through a `signalfd`; the router's own stdout and stderr
//! are the `stdio.rs` streams, and a URL list on stdin or a FIFO is the same kind of
//! stream. The accepted exceptions: `/proc` reads (the census), which never wait for
//! another process; a `--summary-json` file, written once at the end with plain calls
//! (a FIFO there would be waited on, as in a single process); and starting the
//! workers, before the run: `Command::spawn` waits for each child's `exec` on a
//! close-on-exec pipe, a bounded wait with no request in flight.
//!
//! **Input.** A regular file named by `--urls` is read by every worker itself, each
//! passing over other shards' lines, so line numbers, `index` and `-n` mean exactly
//! what they mean with `--shard`, and the router never sees the list. A list the
//! workers cannot each read from the start (stdin, a pipe, a FIFO) is *broadcast*: the
//! router reads it and writes every byte to each worker's stdin pipe, and each worker
//! reads `--urls -` and passes over other shards' lines, as with a file. Broadcast
//! rather than routed by host: the worker's input is then the whole list, so nothing
//! about line numbers or `-n` changes, and the router never parses a URL. Buffering is
//! bounded: at most [`INPUT_QUEUE`] bytes wait for any one worker; beyond that the
//! router stops reading input until that worker has taken some (back-pressure that
//! ends at the producer). The cost: a worker can run at most that far ahead of the
//! slowest, and every worker reads every line (a parse and a hash for another shard's).
//!
//! **Output.** The router reads each worker's stdout and forwards only complete lines
//! to its own stdout (`Output::forward`), so lines of different workers never mix
//! within a line; a slow reader of the router's stdout stops the reading, the
//! workers' pipes fill, and each worker's own back-pressure pauses its admissions.
//! Workers' stderr is forwarded the same way, line by line: inheriting it would let a
//! partial non-blocking write of one worker be completed after another's line.
//!
//! **Summary.** When every worker has exited and its pipes are drained, the router adds
//! the reports up into one tally and one set of counters and prints the summary one
//! process prints, in the same format and units (and `--summary-json`, with `workers`
//! added), then one line per worker with its pid, requests and thread census (its own
//! count, and the router's samples of `/proc/<pid>/status` from outside). The exit
//! status is the one a single run would choose from the totals, with 3 if any process
//! had more than one thread, and 1 if a worker died.
//!
//! **A worker that dies** (killed, or exits without its report) is named on stderr
//! with how it ended and how many output lines it had written. The router cannot know
//! which of its requests were in flight or not yet read: its tally is lost, the
//! totals leave it out, and the exit status is 1. Its share is exactly `--shard k/N`
//! (printed), so it can be fetched again alone.
//!
//! **Signals.** The first SIGINT or SIGTERM is forwarded to every worker, which ends
//! its requests as `cancelled` and reports; the summary says the run was interrupted.
//! A second one is forwarded too, and the router exits at once, as one process does.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use onethread::client::Stats;
use onethread::proof::{self, Census};
use onethread::reactor::{Context, Handler, Reactor};
use onethread::timer::TimerId;
use serde_json::{Value, json};

use crate::args::Args;
use crate::output::{Mode, Output};
use crate::progress::{Progress, Snapshot, Style};
use crate::save::Saver;
use crate::shard::Shard;
use crate::signals::{self, Signals};
use crate::stdio::{Outbox, Stream, cvt, pipe};
use crate::summary::{self, Summary, Tally};
use crate::{Failure, Stop};

mod argv;
mod report;

use argv::worker_args;
pub use report::Reporter;
use report::add_stats;

/// The descriptor on which a worker writes its report.
pub const REPORT_FD: RawFd = 3;
/// Bytes of input that may wait for one worker before the router stops reading input.
pub const INPUT_QUEUE: usize = 1 << 20;
/// Bytes asked for per read from a pipe.
const CHUNK: usize = 64 * 1024;
/// Worker stderr is not read while this much of the router's own stderr waits.
const STDERR_HIGH_WATER: usize = 64 * 1024;
/// A report longer than this is not a report.
const REPORT_MAX: usize = 64 << 20;

const SIGNALS: Token = Token(0);
const STDOUT: Token = Token(1);
const STDERR: Token = Token(2);
const INPUT: Token = Token(3);
const TICK: Token = Token(4);
const WORKER_BASE: usize = 16;
/// Tokens per worker: stdin, stdout, stderr, report, pidfd.
const WORKER_SPAN: usize = 5;
const TICK_EVERY: Duration = Duration::from_millis(100);

/// One stream the router reads from a worker.
struct Pipe {
    /// `None` once the router closed its end.
    stream: Option<Stream>,
    buf: Vec<u8>,
    eof: bool,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        let mut stream = Stream::own(fd)?;
        stream.awaits_writer = false; // a pipe: an empty read is the end
        Ok(Pipe { stream: Some(stream), buf: Vec::new(), eof: false })
    }

    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.stream.as_mut().map_or(Ok(()), |s| s.register(registry, token, Interest::READABLE))
    }

    fn ready(&mut self, event: &Event) {
        if let Some(stream) = &mut self.stream {
            stream.ready(event);
        }
    }

    /// Closes the router's end: the worker's next write fails with EPIPE.
    fn close(&mut self) {
        self.stream = None;
        self.buf = Vec::new();
        self.eof = true;
    }

    /// Whether a read now could bring something.
    fn readable(&self) -> bool {
        !self.eof && self.stream.as_ref().is_some_and(|s| !s.blocked)
    }

    /// Reads one chunk onto the buffer, through the router's `scratch` (so the buffer
    /// grows by what came, not by a zeroed chunk each time); true if anything changed.
    fn fill(&mut self, scratch: &mut [u8]) -> bool {
        let Some(stream) = &mut self.stream else { return false };
        match stream.read(scratch) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => self.eof = true, // a pipe read fails only if it is gone
        }
        true
    }

    /// The complete lines read so far: the caller uses them, then [`Pipe::consume`]s them.
    fn lines(&self) -> Option<&[u8]> {
        let end = self.buf.iter().rposition(|&b| b == b'\n')? + 1;
        Some(&self.buf[..end])
    }

    /// Drops the first `n` bytes, keeping the buffer for the next reads.
    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
    }
}

/// One worker process, as the router sees it.
struct Worker {
    shard: Shard,
    pid: u32,
    child: Child,
    pidfd: Option<OwnedFd>,
    /// The broadcast input, until it is all written or the worker stopped reading.
    stdin: Option<Outbox>,
    stdout: Pipe,
    stderr: Pipe,
    report: Pipe,
    status: Option<ExitStatus>,
    /// Output lines forwarded.
    lines: u64,
    /// The latest `progress` message: done, failures, in flight, total, exact.
    progress: Option<(u64, u64, usize, Option<u64>, bool)>,
    summary: Option<Value>,
    /// The router's own samples of the worker's `Threads:`.
    observed: Census,
}

impl Worker {
    /// The router's look at the worker's `/proc/<pid>/status`, from outside.
    fn sample(&mut self) {
        if let Ok(threads) = proof::threads_of(self.pid) {
            self.observed.record(threads);
        }
    }

    /// Exited, and everything it wrote has been read.
    fn is_finished(&self) -> bool {
        self.status.is_some() && self.stdout.eof && self.stderr.eof && self.report.eof
    }

    /// If it has exited (never waits: `try_wait` is `WNOHANG`), records how, with a
    /// last look at its threads before it goes.
    fn reap(&mut self) {
        if self.status.is_some() {
            return;
        }
        self.sample();
        if let Ok(Some(status)) = self.child.try_wait() {
            self.status = Some(status);
            self.pidfd = None;
        }
    }

    /// Reads what the report pipe holds and takes in each complete message.
    fn take_report(&mut self) {
        if let Some(lines) = self.report.lines() {
            let taken = lines.len();
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let Ok(mut message) = serde_json::from_slice::<Value>(line) else { continue };
                if let Some(p) = message["progress"].as_array() {
                    let n = |i: usize| p.get(i).and_then(Value::as_u64);
                    let exact = p.get(4).and_then(Value::as_bool).unwrap_or(false);
                    self.progress =
                        Some((n(0).unwrap_or(0), n(1).unwrap_or(0), n(2).unwrap_or(0) as usize, n(3), exact));
                } else if !message["summary"].is_null() {
                    self.summary = Some(message["summary"].take());
                }
            }
            self.report.consume(taken);
        }
        if self.report.buf.len() > REPORT_MAX {
            self.report.buf = Vec::new();
            self.report.eof = true;
        }
    }

    /// What the worker's census (its own, and the router's from outside) says.
    fn peak_threads(&self) -> usize {
        let own = self.summary.as_ref().and_then(|s| s["threads"]["peak"].as_u64()).unwrap_or(0) as usize;
        own.max(self.observed.peak())
    }

    /// How the worker ended, if not as a worker should: with its report.
    fn death(&self) -> Option<String> {
        let status = self.status?;
        let how = match (status.code(), status.signal()) {
            (_, Some(signal)) => format!("was killed by signal {signal} ({})", signals::name(signal)),
            (Some(code), None) => format!("exited with status {code}"),
            (None, None) => "ended".into(),
        };
        match (&self.summary, status.signal()) {
            (Some(_), None) => None,
            (Some(_), Some(_)) => Some(how),
            (None, _) => Some(format!("{how} without its report")),
        }
    }
}

/// The URL list, when the router reads it for the workers.
struct Broadcast {
    stream: Stream,
    eof: bool,
    error: Option<String>,
}

struct Router {
    workers: Vec<Worker>,
    /// Where every pipe read lands first: one buffer for all, zeroed once.
    scratch: Box<[u8]>,
    input: Option<Broadcast>,
    stdout: Output,
    stderr: Outbox,
    signals: Signals,
    census: Census,
    tick: TimerId,
    progress: Progress,
    stop: Option<Stop>,
    started: Instant,
    wall: Option<Duration>,
    summary_file: Option<File>,
    /// `-o`: the workers save the bodies; this adds up their counts for the summary.
    saver: Option<Saver>,
    fail: bool,
    insecure: bool,
    threads_forbidden: bool,
    /// A read is worth trying next turn: the poll must not wait.
    work_left: bool,
    exit: Option<ExitCode>,
}

/// Runs `args` as `args.workers` worker processes; `census` has this process's first
/// sample, taken under the guard.
pub fn run(args: &Args, summary_file: Option<File>, saver: Option<Saver>, census: Census) -> Result<ExitCode, Failure> {
    let n = args.workers;
    if args.template.is_none() && args.urls.is_none() {
        return Err(Failure::Usage(format!(
            "--workers {n} needs --urls or a URL template: workers split the URLs by host, and the built-in \
             server's URLs all have one"
        )));
    }
    if args.concurrency < n {
        return Err(Failure::Usage(format!(
            "-c {} is less than --workers {n}: -c is the total in flight, and each worker needs at least one",
            args.concurrency
        )));
    }
    let mut reactor = Reactor::new(1024)?; // before any spawn: see `spawn` on descriptor 3
    let mut cx = reactor.context();
    let signals = Signals::new()?;
    signals.register(cx.registry, SIGNALS)?;

    // A list only the router can read from its start is broadcast.
    let input = match &args.urls {
        Some(path) if path.as_os_str() == "-" => Some(Stream::standard(0, false)?),
        Some(path) => {
            let stream = Stream::open(path).map_err(|e| crate::usage("--urls", path, e))?;
            stream.is_polled().then_some(stream)
        }
        None => None,
    };
    let mut input = input.map(|stream| Broadcast { stream, eof: false, error: None });
    if let Some(b) = &mut input {
        b.stream.register(cx.registry, INPUT, Interest::READABLE)?;
    }

    let started = Instant::now(); // the run's wall time includes starting the workers
    let argv: Vec<OsString> = std::env::args_os().collect();
    let program = argv.first().cloned().unwrap_or_else(|| "fetch".into());
    let mut workers = Vec::new();
    for (j, shard) in Shard::split(args.shard, u64::from(n)).into_iter().enumerate() {
        let c = args.concurrency / n + u32::from((j as u32) < args.concurrency % n);
        let worker_argv = worker_args(&argv[1..], shard, c, input.is_some());
        let mut worker = spawn(&program, worker_argv, shard, input.is_some())?;
        worker.sample(); // a first look: forked, perhaps not yet exec'd
        workers.push(worker);
    }
    for (i, w) in workers.iter_mut().enumerate() {
        let token = |slot| Token(WORKER_BASE + i * WORKER_SPAN + slot);
        if let Some(stdin) = &mut w.stdin {
            stdin.stream.register(cx.registry, token(0), Interest::WRITABLE)?;
        }
        w.stdout.register(cx.registry, token(1))?;
        w.stderr.register(cx.registry, token(2))?;
        w.report.register(cx.registry, token(3))?;
        if let Some(fd) = &w.pidfd {
            cx.registry.register(&mut SourceFd(&fd.as_raw_fd()), token(4), Interest::READABLE)?;
        }
    }

    let mut stdout = Stream::standard(libc::STDOUT_FILENO, true)?;
    stdout.register(cx.registry, STDOUT, Interest::WRITABLE)?;
    let mut stderr = Stream::standard(libc::STDERR_FILENO, true)?;
    stderr.register(cx.registry, STDERR, Interest::WRITABLE)?;
    let mut stdout = Output::new(Outbox::new(stdout), Mode::Lines, &[]);
    let progress = Progress::new(Style::choose(args.quiet), started);
    if progress.style == Style::Pinned {
        stdout.pin_status();
    }
    let tick = cx.timers.insert(TICK);
    let first_tick = cx.refresh() + TICK_EVERY; // after the workers were started
    cx.timers.arm(tick, first_tick);
    let mut router = Router {
        workers,
        scratch: vec![0; CHUNK].into_boxed_slice(),
        input,
        stdout,
        stderr: Outbox::new(stderr),
        signals,
        census,
        tick,
        progress,
        stop: None,
        started,
        wall: None,
        summary_file,
        saver,
        fail: args.fail,
        insecure: args.insecure,
        threads_forbidden: !args.allow_threads,
        work_left: true,
        exit: None,
    };
    reactor.run(&mut router)?;
    Ok(router.exit.unwrap_or(ExitCode::FAILURE))
}

/// Starts one worker: `/proc/self/exe` with `args`, in a process group of its own.
fn spawn(program: &OsString, args: Vec<OsString>, shard: Shard, stdin_piped: bool) -> Result<Worker, Failure> {
    // The worker's end stays blocking until the worker takes it (`Reporter::open`).
    let (report_read, report_write) = pipe()?;
    let from = report_write.as_raw_fd();
    // SAFETY: getpid has no preconditions.
    let router = unsafe { libc::getpid() };
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0(program)
        .args(args)
        .stdin(if stdin_piped { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: between fork and exec only async-signal-safe calls, and no allocation
    // (errors are raw OS errors). Descriptor 3 is taken in this process (the reactor's
    // epoll descriptor is created before any spawn), so std's own exec-error pipe is
    // never number 3 and `dup2` cannot clobber it.
    unsafe {
        command.pre_exec(move || {
            if from == REPORT_FD {
                cvt(libc::fcntl(from, libc::F_SETFD, 0))?; // dup2 onto itself keeps CLOEXEC
            } else {
                cvt(libc::dup2(from, REPORT_FD))?;
            }
            cvt(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong))?;
            if libc::getppid() != router {
                return Err(io::Error::from_raw_os_error(libc::ESRCH)); // the router is already gone
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            cvt(libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()))?;
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| io::Error::other(format!("cannot start worker {shard}: {e}")))?;
    drop(report_write);
    let pid = child.id();
    // SAFETY: pidfd_open returns a new descriptor or -1. Without it (Linux < 5.3) the
    // tick polls `try_wait` instead.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) });
    let stdin = match child.stdin.take() {
        Some(stdin) => Some(Outbox::new(Stream::own(OwnedFd::from(stdin))?)),
        None => None,
    };
    let stdout = Pipe::new(OwnedFd::from(child.stdout.take().expect("piped")))?;
    let stderr = Pipe::new(OwnedFd::from(child.stderr.take().expect("piped")))?;
    Ok(Worker {
        shard,
        pid,
        child,
        pidfd,
        stdin,
        stdout,
        stderr,
        report: Pipe::new(report_read)?,
        status: None,
        lines: 0,
        progress: None,
        summary: None,
        observed: Census::new(),
    })
}

impl Router {
    /// Sends `signal` to every worker still running.
    fn forward(&mut self, signal: i32) {
        for w in self.workers.iter().filter(|w| w.status.is_none()) {
            // SAFETY: kill only sends a signal; the pid is our unreaped child's, so it
            // cannot have been reused.
            unsafe { libc::kill(w.pid as libc::pid_t, signal) };
        }
    }

    fn stop_input(&mut self) {
        self.input = None;
        for w in &mut self.workers {
            w.stdin = None;
        }
    }

    /// Reaps workers that have exited (never waits: `try_wait` is `WNOHANG`), with a
    /// last look at each one's threads before it goes.
    fn reap(&mut self) {
        for w in &mut self.workers {
            w.reap();
        }
    }

    /// Reads the input on for the workers and writes it to their stdin pipes.
    fn broadcast(&mut self) {
        let Some(input) = &mut self.input else { return };
        let room = self.workers.iter().filter_map(|w| w.stdin.as_ref()).all(|s| s.pending() < INPUT_QUEUE);
        let wanted = self.workers.iter().any(|w| w.stdin.is_some());
        if !wanted {
            self.input = None;
            return;
        }
        if room && !input.eof && !input.stream.blocked {
            let chunk = &mut self.scratch;
            match input.stream.read(chunk) {
                // A FIFO before its first writer reads as empty: wait for a hang-up.
                Ok(0) if input.stream.awaits_writer && !input.stream.hung_up => input.stream.blocked = true,
                Ok(0) => input.eof = true,
                Ok(n) => {
                    for stdin in self.workers.iter_mut().filter_map(|w| w.stdin.as_mut()) {
                        stdin.buf().extend_from_slice(&chunk[..n]);
                    }
                    self.work_left = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    input.error = Some(format!("fetch: stopped reading URLs: {e}\n"));
                    input.eof = true;
                }
            }
        }
        let eof = input.eof;
        if let Some(error) = input.error.take() {
            self.stderr.buf().extend_from_slice(error.as_bytes());
        }
        for w in &mut self.workers {
            if let Some(stdin) = &mut w.stdin {
                stdin.flush();
                // EPIPE: the worker no longer reads (it has its -n, or it died).
                if stdin.failed.is_some() || (eof && stdin.pending() == 0) {
                    w.stdin = None; // closing the pipe is the worker's end of input
                }
            }
        }
    }

    /// Reads one chunk from each worker stream that has something and room to go.
    fn pump(&mut self) {
        for w in &mut self.workers {
            if w.stdout.readable() && self.stdout.wants_more() && w.stdout.fill(&mut self.scratch) {
                self.work_left = true;
                if let Some(lines) = w.stdout.lines() {
                    w.lines += lines.iter().filter(|&&b| b == b'\n').count() as u64;
                    self.stdout.forward(lines);
                    let taken = lines.len();
                    w.stdout.consume(taken);
                }
                if w.stdout.eof && !w.stdout.buf.is_empty() {
                    let cut = String::from_utf8_lossy(&std::mem::take(&mut w.stdout.buf)).into_owned();
                    let note = format!("fetch: worker {} ended its output within a line: {cut}\n", w.shard);
                    self.stderr.buf().extend_from_slice(note.as_bytes());
                }
            }
            if w.stderr.readable() && self.stderr.pending() < STDERR_HIGH_WATER && w.stderr.fill(&mut self.scratch) {
                self.work_left = true;
                if let Some(lines) = w.stderr.lines() {
                    self.stderr.buf().extend_from_slice(lines);
                    let taken = lines.len();
                    w.stderr.consume(taken);
                }
                if w.stderr.eof && !w.stderr.buf.is_empty() {
                    let mut rest = std::mem::take(&mut w.stderr.buf);
                    rest.push(b'\n');
                    self.stderr.buf().extend_from_slice(&rest);
                }
            }
            if w.report.readable() && w.report.fill(&mut self.scratch) {
                self.work_left = true;
                w.take_report();
            }
        }
    }

    fn flush_stdout(&mut self) {
        let failed = self.stdout.flush().map(|e| (e.raw_os_error() == Some(libc::EPIPE), e.to_string()));
        if let Some((broken_pipe, e)) = failed
            && !matches!(self.stop, Some(Stop::Output { .. }))
        {
            let message = if broken_pipe { "stdout was closed (broken pipe)".into() } else { format!("stdout: {e}") };
            self.stop = Some(Stop::Output { broken_pipe, message });
            // Each worker finds its stdout closed in turn, and stops as one process does.
            for w in &mut self.workers {
                w.stdout.close();
            }
            self.stop_input();
        }
    }

    /// The progress of all workers together.
    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot { done: 0, failures: 0, in_flight: 0, total: Some((0, true)) };
        for w in &self.workers {
            let (done, failures, in_flight, total, exact) = w.progress.unwrap_or((0, 0, 0, None, false));
            s.done += done;
            s.failures += failures;
            s.in_flight += in_flight;
            s.total = match (s.total, total) {
                (Some((sum, all_exact)), Some(t)) => Some((sum + t, all_exact && exact)),
                _ => None,
            };
        }
        s
    }

    fn draw_progress(&mut self, now: Instant) {
        if !self.progress.is_due(now) {
            return;
        }
        let snapshot = self.snapshot();
        self.progress.draw(now, &snapshot, &mut self.stdout, &mut self.stderr);
    }

    fn wind_down(&mut self) {
        if self.wall.is_none() {
            self.wall = Some(self.started.elapsed());
            self.progress.clear(&mut self.stdout, &mut self.stderr);
            self.flush_stdout();
        }
        if self.exit.is_none() && self.stdout.is_drained() {
            self.exit = Some(self.summarise());
        }
    }

    /// Adds the workers up, queues the summary and writes the JSON file; the exit status.
    fn summarise(&mut self) -> ExitCode {
        let threads_now = self.census.sample().unwrap_or(0);
        let mut tally = Tally::new();
        let mut stats = Stats::default();
        let mut rss = summary::peak_rss();
        let mut saver = self.saver.take();
        let mut text_workers = String::new();
        let mut json_workers = Vec::new();
        let (mut peak, mut samples) = (self.census.peak(), self.census.samples());
        let mut deaths = Vec::new();
        let mut worker_interrupted = None;
        for w in &self.workers {
            let s = w.summary.as_ref();
            if let Some(s) = s {
                if tally.absorb(&s["tally"]).is_none() {
                    deaths.push(format!("fetch: worker {} (pid {}): its report is malformed\n", w.shard, w.pid));
                }
                add_stats(&mut stats, &s["stats"]);
                if let Some(r) = s["peak_rss_bytes"].as_u64() {
                    rss = Some(rss.unwrap_or(0) + r);
                }
                if let (Some(saver), Some(saved)) = (&mut saver, s["saved"].as_object()) {
                    saver.saved += saved["saved"].as_u64().unwrap_or(0);
                    saver.failed += saved["failed"].as_u64().unwrap_or(0);
                    if saver.first_error.is_none() {
                        saver.first_error = saved["first_error"].as_str().map(str::to_owned);
                    }
                }
                if let Some(why) = s["interrupted"].as_str() {
                    worker_interrupted.get_or_insert(match why {
                        "SIGINT" => "SIGINT",
                        "SIGTERM" => "SIGTERM",
                        _ => "worker-interrupted",
                    });
                }
            }
            let threads = |key: &str| s.and_then(|s| s["threads"][key].as_u64());
            let own_peak = threads("peak");
            peak = peak.max(w.peak_threads());
            samples += threads("samples").unwrap_or(0) + w.observed.samples();
            let requests = s.and_then(|s| s["stats"]["requests"].as_u64());
            let exit = w.status.and_then(|s| s.code());
            let death = w.death();
            if let Some(death) = &death {
                deaths.push(format!(
                    "fetch: WORKER FAILED: worker {shard} (pid {pid}) {death}, after {lines} output lines; its \
                     requests are not in the totals below, and which of them were done is unknown (fetch its \
                     share again with --shard {shard})\n",
                    shard = w.shard,
                    pid = w.pid,
                    lines = w.lines,
                ));
            }
            text_workers += &format!(
                "    worker {:<9} pid {}: {} requests, {} output lines, OS threads peak {} ({} own samples; {} \
                 seen from outside, in {} samples){}\n",
                w.shard.to_string(),
                w.pid,
                requests.map_or("?".into(), |r| r.to_string()),
                w.lines,
                own_peak.map_or("?".into(), |p| p.to_string()),
                threads("samples").unwrap_or(0),
                w.observed.peak(),
                w.observed.samples(),
                death.as_deref().map_or(String::new(), |d| format!(", {d}")),
            );
            json_workers.push(json!({
                "shard": w.shard.to_string(), "pid": w.pid, "requests": requests, "output_lines": w.lines,
                "exit_code": exit, "signal": w.status.and_then(|s| s.signal()), "failed": death,
                "os_threads": {
                    "peak": own_peak, "final": threads("final"), "samples": threads("samples"),
                    "creation_forbidden": s.and_then(|s| s["threads"]["forbidden"].as_bool()),
                    "observed_peak": w.observed.peak(), "observed_samples": w.observed.samples(),
                },
                "peak_rss_bytes": s.and_then(|s| s["peak_rss_bytes"].as_u64()),
            }));
        }
        let interrupted = self.stop.as_ref().map_or(worker_interrupted, |stop| Some(stop.name()));
        let summary = Summary {
            tally: &tally,
            stats,
            wall: self.wall.unwrap_or_default(),
            threads_now,
            threads_peak: peak,
            thread_samples: samples,
            threads_forbidden: self.threads_forbidden,
            peak_rss: rss,
            saver: saver.as_ref(),
            interrupted,
            insecure: self.insecure,
        };
        let mut text = match &self.stop {
            Some(Stop::Output { message, .. }) => format!(
                "fetch: {message}: stopped after {} requests ({} cancelled)\n",
                stats.requests,
                tally.cancelled()
            ),
            _ => summary.text(),
        };
        text += &format!(
            "  workers          {} processes, and this router (pid {}: OS threads peak {}, {} samples)\n",
            self.workers.len(),
            std::process::id(),
            self.census.peak(),
            self.census.samples()
        );
        text += &text_workers;
        for death in &deaths {
            text += death;
        }
        let mut code = match (&self.stop, interrupted) {
            (None, None) if self.fail && tally.failures() > 0 => ExitCode::from(22),
            (None, None) => ExitCode::SUCCESS,
            (Some(stop), _) => stop.exit_code(),
            // A worker stopped by a signal of its own (the router saw none).
            (None, Some("SIGINT")) => ExitCode::from(128 + libc::SIGINT as u8),
            (None, Some("SIGTERM")) => ExitCode::from(128 + libc::SIGTERM as u8),
            (None, Some(_)) => ExitCode::FAILURE,
        };
        if !deaths.is_empty() {
            code = ExitCode::FAILURE;
        }
        if let Some(mut file) = self.summary_file.take() {
            let mut json = summary.json();
            json["workers"] = Value::Array(json_workers);
            json["router"] = json!({"pid": std::process::id(), "os_threads": {
                "peak": self.census.peak(), "samples": self.census.samples(), "final": threads_now}});
            let written = serde_json::to_vec_pretty(&json).map_err(io::Error::from).and_then(|mut json| {
                json.push(b'\n');
                file.write_all(&json)
            });
            if let Err(e) = written {
                text += &format!("fetch: --summary-json: {e}\n");
                code = ExitCode::FAILURE;
            }
        }
        // Exit status 3 is a worker's own thread check failing, maybe before it could report.
        if peak != 1 || self.workers.iter().any(|w| w.status.and_then(|s| s.code()) == Some(3)) {
            text += &format!(
                "fetch: THREAD CHECK FAILED: a process of this run had {peak} OS threads at its peak (expected 1 in \
                 each)\n"
            );
            code = ExitCode::from(3);
        }
        self.stderr.buf().extend_from_slice(text.as_bytes());
        code
    }

    /// A second signal: pass it on, and leave at once with the streams as we found them.
    fn exit_now(&mut self, signal: i32) -> ! {
        self.forward(signal);
        self.stderr
            .buf()
            .extend_from_slice(format!("\nfetch: {} again: exiting at once\n", signals::name(signal)).as_bytes());
        self.stderr.flush();
        self.stderr.stream.restore();
        self.stdout.outbox().stream.restore();
        if let Some(input) = &mut self.input {
            input.stream.restore();
        }
        std::process::exit(128 + signal)
    }
}

impl Handler for Router {
    fn ready(&mut self, _cx: &mut Context<'_>, token: Token, event: &Event) {
        match token {
            SIGNALS => {
                while let Some(signal) = self.signals.next() {
                    if matches!(self.stop, Some(Stop::Signal(_))) {
                        self.exit_now(signal);
                    }
                    self.forward(signal);
                    self.stop = Some(Stop::Signal(signal));
                    self.stop_input();
                }
            }
            STDOUT => {
                self.stdout.outbox().stream.ready(event);
                self.flush_stdout();
            }
            STDERR => {
                // Room on stderr may let held-back worker lines through (`pump`).
                self.stderr.stream.ready(event);
                self.stderr.flush();
            }
            INPUT => {
                if let Some(input) = &mut self.input {
                    input.stream.ready(event);
                }
            }
            Token(t) if t >= WORKER_BASE => {
                let (i, slot) = ((t - WORKER_BASE) / WORKER_SPAN, (t - WORKER_BASE) % WORKER_SPAN);
                let Some(w) = self.workers.get_mut(i) else { return };
                match slot {
                    0 => {
                        if let Some(stdin) = &mut w.stdin {
                            stdin.stream.ready(event);
                        }
                    }
                    1 => w.stdout.ready(event),
                    2 => w.stderr.ready(event),
                    3 => w.report.ready(event),
                    _ => w.reap(), // its pidfd: this worker exited
                }
            }
            _ => {}
        }
    }

    fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
        if token == TICK {
            let _ = self.census.sample();
            self.reap(); // samples each worker; without a pidfd, this is how an exit is noticed
            cx.timers.arm(self.tick, cx.now + TICK_EVERY);
        }
    }

    fn end_of_turn(&mut self, cx: &mut Context<'_>) {
        self.work_left = false;
        self.broadcast();
        self.pump();
        // All of a worker's pipes closed: it is exiting, or has. Its pidfd says when;
        // without one, look now.
        if self
            .workers
            .iter()
            .any(|w| w.status.is_none() && w.pidfd.is_none() && w.stdout.eof && w.stderr.eof && w.report.eof)
        {
            self.reap();
        }
        self.flush_stdout();
        self.draw_progress(cx.now);
        if self.workers.iter().all(Worker::is_finished) {
            self.wind_down();
        }
        self.stderr.flush();
    }

    fn has_work_left(&self) -> bool {
        self.work_left
    }

    fn is_done(&self) -> bool {
        self.exit.is_some() && (self.stderr.pending() == 0 || self.stderr.failed.is_some())
    }
}
