//! End to end: nothing in `fetch` blocks but the poll. Its stdin (`--urls -`, a FIFO),
//! stdout, stderr and signals are all handled on the one reactor thread, never with a
//! blocking read or write, so none of them can stall the requests in flight:
//!
//! * a slow reader of stdout costs no spurious timeouts and no memory (fetch stops
//!   admitting instead of blocking in `write(1)` or buffering without bound);
//! * a slow writer of stdin does not hold back the outcomes of requests already sent;
//! * SIGINT and SIGTERM cancel what is in flight, report it (lines, summary, exit 130 or
//!   143) and leave no partial `-o` file; a second signal exits at once, even when the
//!   output cannot be flushed;
//! * a reader that goes away ends the run at once with status 141, as `yes | head -1`;
//! * progress redrawn in place shares a terminal with per-request lines without tearing;
//! * a FIFO as `--urls` is opened without waiting for a writer, and not taken as empty.
//!
//! Each test runs `fetch` as a child process and plays the slow or hostile party itself.
//! Pauses are the scenario under test (a slow reader, a slow writer); every wait for a
//! condition polls it against a deadline, and a guard kills the child if a test fails.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::*;
use onethread::server::ServerConfig;
use serde_json::Value;

/// How often a wait for a condition looks again.
const POLL: Duration = Duration::from_millis(5);

/// The tests here run one at a time. Several measure latency (a line within 150 ms, a
/// timeout between 1.0 and 1.2 s), and on a two-core machine a neighbouring test that
/// keeps the CPU busy for seconds (50,000 requests) would measure itself instead.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running child (`fetch`, or `script` around it), killed and reaped if the test ends
/// before it does. Its stderr is collected by a thread of its own.
struct Running {
    child: Child,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    /// `fetch ARGS` with the given stdin and stdout; stderr is a pipe.
    fn fetch(args: &[&str], stdin: Stdio, stdout: Stdio) -> Running {
        Running::spawn(Command::new(example("fetch")).args(args).stdin(stdin).stdout(stdout))
    }

    fn spawn(command: &mut Command) -> Running {
        let mut child = command.stderr(Stdio::piped()).spawn().expect("start the child");
        let mut pipe = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        Running { child, stderr: Some(stderr) }
    }

    fn stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout is a pipe")
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) with our own child's pid; the child is not reaped yet (the
        // guard reaps it), so the pid cannot have been reused.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits for the child to exit, at most `limit` (then the test fails, and the guard
    /// kills it).
    fn wait(&mut self, limit: Duration, what: &str) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(Instant::now() < deadline, "{what}: still running after {limit:?}");
            thread::sleep(POLL);
        }
    }

    /// Everything the child wrote on stderr; call it once the child has exited.
    fn stderr(&mut self) -> String {
        self.stderr.take().expect("stderr taken once").join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill(); // a no-op once the child has been reaped
        let _ = self.child.wait();
    }
}

/// The status as a shell shows it (`$?`): the exit code, or 128 + the signal that
/// ended the process. Either way of ending with "130" satisfies "exit status 130".
fn shell_status(status: ExitStatus) -> Option<i32> {
    status.code().or_else(|| status.signal().map(|s| 128 + s))
}

/// A child's stdout, line by line as it arrives, each line with the moment it was read.
struct Lines(Receiver<(Instant, String)>);

impl Lines {
    fn start(pipe: ChildStdout) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        Lines(rx)
    }

    /// The next line, if it arrives before `deadline`.
    fn next_before(&self, deadline: Instant) -> Option<(Instant, String)> {
        self.0.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
    }

    /// The lines that have arrived so far, without waiting.
    fn ready(&self) -> Vec<String> {
        self.0.try_iter().map(|(_, line)| line).collect()
    }

    /// Every line still to come; call it once the child has exited (stdout then closes).
    fn rest(&self) -> Vec<(Instant, String)> {
        let mut lines = Vec::new();
        loop {
            match self.0.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return lines,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("stdout still open 10 s after fetch exited"),
            }
        }
    }
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line: {line:?}: {e}"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text:?}", path.display()))
}

// ---------------------------------------------------------------------------------------
// 1. A slow stdout reader.

/// 50,000 requests to the in-process server, at most 100 in flight, each with a 1 s
/// deadline: a run of about a second when stdout never blocks.
const OUTPUT_RUN: [&str; 7] = ["-n", "50000", "-c", "100", "--jsonl", "--timeout", "1"];
const OUTPUT_REQUESTS: usize = 50_000;
/// The slow reader: reads this many lines, then stops reading for `READER_PAUSE`.
const LINES_PER_READ: usize = 5_000;
const READER_PAUSE: Duration = Duration::from_millis(1500);
const READER_PAUSES: usize = 4;

/// While stdout's reader pauses for longer than the request timeout, fetch must neither
/// block in `write(1)` (the requests in flight, and the in-process server, would stall
/// and time out: about 2% `timeout`s before this was fixed) nor keep buffering output
/// (memory would grow with the pause): it stops admitting until stdout drains. So a run
/// whose reader pauses 4 × 1.5 s ends like one whose stdout is /dev/null: every request
/// succeeds, and the peak RSS is the same within 2 MiB.
#[test]
fn a_slow_stdout_reader_costs_no_timeouts_and_no_memory() {
    let _serial = one_at_a_time();
    let scratch = Scratch::new("slow-stdout");
    let baseline_json = scratch.path("null.json");
    let mut fetch = Running::fetch(
        &[&OUTPUT_RUN[..], &["--summary-json", baseline_json.to_str().unwrap()]].concat(),
        Stdio::null(),
        Stdio::null(),
    );
    let status = fetch.wait(Duration::from_secs(120), "fetch with stdout to /dev/null");
    let stderr = fetch.stderr();
    assert_eq!(shell_status(status), Some(0), "stdout to /dev/null: {stderr}");
    let baseline = read_json(&baseline_json);
    assert_eq!(baseline["successes"], OUTPUT_REQUESTS as u64, "stdout to /dev/null: {stderr}");

    let slow_json = scratch.path("slow.json");
    let mut fetch = Running::fetch(
        &[&OUTPUT_RUN[..], &["--summary-json", slow_json.to_str().unwrap()]].concat(),
        Stdio::null(),
        Stdio::piped(),
    );
    let stdout = fetch.stdout();
    let reader = thread::spawn(move || {
        let (mut count, mut pauses) = (0, 0);
        let mut seen = vec![false; OUTPUT_REQUESTS];
        let mut failed: Vec<String> = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let v = parse(&line);
            let index = v["index"].as_u64().unwrap() as usize;
            assert!(!std::mem::replace(&mut seen[index], true), "request {index} has two lines");
            if !v["error"].is_null() {
                failed.push(line);
            }
            count += 1;
            if pauses < READER_PAUSES && count % LINES_PER_READ == 0 {
                thread::sleep(READER_PAUSE); // the slow reader: the scenario under test
                pauses += 1;
            }
        }
        (count, pauses, failed)
    });
    let status = fetch.wait(Duration::from_secs(120), "fetch with a slow stdout reader");
    let stderr = fetch.stderr();
    let (count, pauses, failed) = reader.join().unwrap();
    assert_eq!(pauses, READER_PAUSES, "the reader must have paused {READER_PAUSES} times: {stderr}");
    assert_eq!(shell_status(status), Some(0), "{stderr}");
    assert_eq!(count, OUTPUT_REQUESTS, "one JSON line per request: {stderr}");
    assert!(
        failed.is_empty(),
        "{} of {OUTPUT_REQUESTS} requests failed while stdout's reader paused (fetch blocked in write?), \
         e.g. {}\n{stderr}",
        failed.len(),
        failed[0]
    );
    let summary = read_json(&slow_json);
    assert_eq!(summary["successes"], OUTPUT_REQUESTS as u64, "{summary}");
    let slow_rss = summary["peak_rss_bytes"].as_u64().unwrap();
    let null_rss = baseline["peak_rss_bytes"].as_u64().unwrap();
    eprintln!("peak RSS: stdout to /dev/null {null_rss} B, slow reader {slow_rss} B");
    assert!(
        slow_rss <= null_rss + (2 << 20),
        "a slow reader raised the peak RSS from {null_rss} to {slow_rss} bytes: output is buffered, not held back"
    );
}

// ---------------------------------------------------------------------------------------
// 2. A slow stdin writer.

/// The test writes one URL to fetch's stdin this often, keeping the pipe open between.
const STDIN_PACE: Duration = Duration::from_millis(500);
const STDIN_URLS: usize = 6;
/// How long the loopback server takes to answer each request.
const SERVER_DELAY: Duration = Duration::from_millis(100);

/// Answers every request on a connection after `SERVER_DELAY`, keeping it alive.
fn delayed_server() -> SocketAddr {
    scripted_server(|mut stream: TcpStream, _| {
        while read_request(&mut stream).is_some() {
            thread::sleep(SERVER_DELAY); // the server's scripted slowness
            if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
                return;
            }
        }
    })
    .0
}

/// Accepts connections and never answers nor closes them.
fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    addr
}

/// `--urls -` fed one URL every 0.5 s: each request's line must reach stdout about
/// 100 ms after its URL was written, before the next one is, and its latency must be
/// the server's 100 ms. A fetch that reads stdin with a blocking read sits in `read(0)`
/// waiting for the next URL while the response it already has waits too.
#[test]
fn a_slow_stdin_writer_does_not_hold_back_requests_in_flight() {
    let _serial = one_at_a_time();
    let server = delayed_server();
    let mut fetch = Running::fetch(&["--urls", "-", "--jsonl"], Stdio::piped(), Stdio::piped());
    let mut stdin = fetch.child.stdin.take().unwrap();
    let lines = Lines::start(fetch.stdout());
    let mut got = Vec::new();
    for i in 0..STDIN_URLS {
        let url = format!("http://{server}/slow/{i}\n");
        let written = Instant::now();
        stdin.write_all(url.as_bytes()).unwrap();
        let next = written + STDIN_PACE;
        let Some((at, line)) = lines.next_before(next) else {
            let _ = fetch.child.kill();
            panic!(
                "no line for URL {i} within {STDIN_PACE:?} of writing it: fetch held the outcome back while \
                 waiting for more stdin\n{}",
                fetch.stderr()
            );
        };
        got.push((at - written, line));
        thread::sleep(next.saturating_duration_since(Instant::now())); // pacing the slow writer
    }
    drop(stdin);
    let status = fetch.wait(Duration::from_secs(10), "fetch after stdin closed");
    let stderr = fetch.stderr();
    assert_eq!(shell_status(status), Some(0), "{stderr}");
    assert!(lines.rest().is_empty(), "one line per URL");
    for (i, (after, line)) in got.iter().enumerate() {
        let v = parse(line);
        assert_eq!(v["index"], i as u64, "{line}");
        assert_eq!(v["url"], format!("http://{server}/slow/{i}"), "{line}");
        assert_eq!(v["status"], 200, "{line}");
        assert!(v["error"].is_null(), "{line}");
        let ms = v["ms"].as_f64().unwrap();
        assert!(ms < 150.0, "request {i} took {ms} ms against a server answering in 100 ms: {line}");
        eprintln!("URL {i}: line after {after:?}, ms {ms}");
    }
}

/// How long the test keeps stdin open after writing the only URL.
const STDIN_OPEN: Duration = Duration::from_secs(3);

/// One URL to a server that never answers, `--timeout 1`, stdin left open for 3 s:
/// the timeout's line must reach stdout 1 s after the URL was written (its `ms` is
/// 1000–1200), not when stdin closes. Wall clock: 1.0–1.5 s, the upper bound widened
/// from 1.2 s to allow for a loaded CI machine (tests run in parallel on 2 cores); fetch's
/// own `ms` keeps the 1.2 s bound.
#[test]
fn a_timeout_is_reported_while_stdin_stays_open() {
    let _serial = one_at_a_time();
    let server = silent_server();
    let mut fetch = Running::fetch(&["--urls", "-", "--jsonl", "--timeout", "1"], Stdio::piped(), Stdio::piped());
    let mut stdin = fetch.child.stdin.take().unwrap();
    let lines = Lines::start(fetch.stdout());
    let url = format!("http://{server}/silent");
    let written = Instant::now();
    stdin.write_all(format!("{url}\n").as_bytes()).unwrap();
    let closing = written + STDIN_OPEN;
    let early = lines.next_before(closing);
    thread::sleep(closing.saturating_duration_since(Instant::now())); // stdin stays open ~3 s
    drop(stdin);
    let status = fetch.wait(Duration::from_secs(10), "fetch after stdin closed");
    let stderr = fetch.stderr();
    let mut all: Vec<(Instant, String)> = early.into_iter().collect();
    all.extend(lines.rest());
    assert_eq!(shell_status(status), Some(0), "{stderr}");
    assert_eq!(all.len(), 1, "one line for one URL: {all:?}");
    let (at, line) = &all[0];
    let v = parse(line);
    assert_eq!(v["url"], url.as_str(), "{line}");
    assert_eq!(v["error"], "timeout", "{line}");
    let after = *at - written;
    assert!(
        after >= Duration::from_secs(1) && after <= Duration::from_millis(1500),
        "the timeout's line reached stdout {after:?} after its URL was written; expected 1.0–1.5 s, \
         not when stdin closed ({STDIN_OPEN:?}): {line}"
    );
    let ms = v["ms"].as_f64().unwrap();
    assert!((1000.0..=1200.0).contains(&ms), "a 1 s timeout reported after {ms} ms: {line}");
}

// ---------------------------------------------------------------------------------------
// 3 and 4. Signals.

/// The body of a successful request `index` (even indexes succeed), with a size that
/// varies by index so that a saved file can be matched to its line.
fn body_len(index: u64) -> usize {
    (index as usize * 37) % 3000 + 1
}

/// What a stalled response (odd indexes) sends of its declared 100,000-byte body before
/// it stalls: more than fetch's 4 KiB file buffer, so its partial `-o` file has bytes.
const STALLED_BYTES: usize = 10_000;

/// Even paths (`/0`, `/2`, …) are answered at once; odd ones get a head, 10,000 of 100,000
/// body bytes, then nothing until fetch closes the connection. Records every index it saw.
fn stalling_server() -> (SocketAddr, Arc<Mutex<BTreeSet<u64>>>) {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let log = Arc::clone(&seen);
    let (addr, _) = scripted_server(move |mut stream: TcpStream, _| {
        while let Some(head) = read_request(&mut stream) {
            let head = String::from_utf8_lossy(&head);
            let path = head.split(' ').nth(1).unwrap_or_default();
            let index: u64 = path.trim_start_matches('/').parse().expect("paths are /INDEX");
            log.lock().unwrap().insert(index);
            if index.is_multiple_of(2) {
                let mut response =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body_len(index)).into_bytes();
                response.resize(response.len() + body_len(index), b'b');
                if stream.write_all(&response).is_err() {
                    return;
                }
            } else {
                let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
                response.resize(response.len() + STALLED_BYTES, b'p');
                let _ = stream.write_all(&response);
                // Stall until fetch closes the connection (bounded, in case it never does).
                stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let _ = stream.read(&mut [0; 1]);
                return;
            }
        }
    });
    (addr, seen)
}

/// Files in `dir` named by an odd index and holding some bytes: partial bodies.
fn partial_files(dir: &Path) -> Vec<(String, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let size = e.metadata().ok()?.len();
            (!name.parse::<u64>().ok()?.is_multiple_of(2) && size > 0).then_some((name, size))
        })
        .collect()
}

/// A run with completed and stalled requests, interrupted by `signal` once some lines
/// are out and a partial body is on disk. Everything admitted gets exactly one line
/// (the stalled ones `cancelled`), the summary agrees and names the signal, no partial
/// file is left, and the exit status is 128 + the signal.
fn interrupted_run(signal: libc::c_int, name: &str) {
    let (server, seen) = stalling_server();
    let scratch = Scratch::new(&format!("nb-signal-{name}"));
    let dir = scratch.path("bodies");
    let summary_json = scratch.path("summary.json");
    let template = format!("http://{server}/{{}}");
    let args = [
        template.as_str(),
        "-n",
        "200",
        "-c",
        "20",
        "--jsonl",
        "-o",
        dir.to_str().unwrap(),
        "--summary-json",
        summary_json.to_str().unwrap(),
    ];
    let mut fetch = Running::fetch(&args, Stdio::null(), Stdio::piped());
    let lines = Lines::start(fetch.stdout());

    // Progress first: some requests done, and a stalled body partly saved.
    let mut out: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        out.extend(lines.ready());
        let partial = partial_files(&dir);
        if out.len() >= 5 && !partial.is_empty() {
            eprintln!("{name} after {} lines, with partial files {partial:?}", out.len());
            break;
        }
        assert!(fetch.exited().is_none(), "fetch ended before the signal:\n{}", fetch.stderr());
        assert!(Instant::now() < deadline, "no progress to interrupt: {} lines, partial files {partial:?}", out.len());
        thread::sleep(POLL);
    }
    fetch.signal(signal);
    let status = fetch.wait(Duration::from_secs(10), &format!("fetch after {name}"));
    let stderr = fetch.stderr();
    out.extend(lines.rest().into_iter().map(|(_, line)| line));

    let lines: Vec<Value> = out.iter().map(|l| parse(l)).collect();
    let cancelled = lines.iter().filter(|l| l["error"] == "cancelled").count();
    assert!(
        cancelled >= 1,
        "{name}: the requests in flight must end as `cancelled`; none of {} lines does ({status:?}), the last: \
         {:?}\n{stderr}",
        out.len(),
        out.last()
    );
    assert_eq!(shell_status(status), Some(128 + signal), "{name}: {status:?}\n{stderr}");

    // One line per admitted request: the indexes are 0..n, each once.
    let indexes: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    let unique: BTreeSet<u64> = indexes.iter().copied().collect();
    assert_eq!(unique.len(), indexes.len(), "{name}: an index has two lines: {indexes:?}");
    assert!(unique.iter().copied().eq(0..indexes.len() as u64), "{name}: indexes are not 0..n: {unique:?}");
    let missing: Vec<u64> = seen.lock().unwrap().difference(&unique).copied().collect();
    assert!(missing.is_empty(), "{name}: the server saw requests that have no line: {missing:?}");

    let mut ok: HashMap<String, u64> = HashMap::new();
    for l in &lines {
        let index = l["index"].as_u64().unwrap();
        if l["error"].is_null() {
            assert!(index.is_multiple_of(2), "a stalled request cannot succeed: {l}");
            assert_eq!(l["status"], 200, "{l}");
            assert_eq!(l["bytes"], body_len(index) as u64, "{l}");
            ok.insert(index.to_string(), body_len(index) as u64);
        } else {
            assert_eq!(l["error"], "cancelled", "{name}: the only error here is the interruption: {l}");
            // What arrived before the stop is reported: the head and the bytes so far.
            let partial = l["status"] == 200 && l["bytes"].as_u64().unwrap() <= STALLED_BYTES as u64;
            assert!(l["status"].is_null() || partial, "{l}");
        }
    }

    let summary = read_json(&summary_json);
    assert_eq!(summary["interrupted"], name, "{summary}");
    assert_eq!(summary["os_threads"]["peak"], 1, "signals are read on the one thread: {summary}");
    assert_eq!(summary["requests"], lines.len() as u64, "{summary}");
    assert_eq!(summary["successes"], ok.len() as u64, "{summary}");
    assert_eq!(summary["errors_by_kind"]["cancelled"]["count"], cancelled as u64, "{summary}");
    assert!(stderr.lines().any(|l| l.starts_with("  interrupted")), "{name}: {stderr}");

    // Only complete bodies are left: one file per successful line, of its size.
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    for (file, size) in &files {
        let want = ok.get(file).unwrap_or_else(|| panic!("{name}: {file} in -o is not a successful request's body"));
        assert_eq!(size, want, "{name}: {file} has {size} bytes, its line says {want}");
    }
    assert_eq!(files.len(), ok.len(), "{name}: every successful request's body is saved: {files:?}");
}

#[test]
fn sigint_cancels_what_is_in_flight_and_reports_it() {
    let _serial = one_at_a_time();
    interrupted_run(libc::SIGINT, "SIGINT");
}

#[test]
fn sigterm_cancels_what_is_in_flight_and_reports_it() {
    let _serial = one_at_a_time();
    interrupted_run(libc::SIGTERM, "SIGTERM");
}

/// Bytes waiting in a pipe, as seen from its read end.
fn pipe_bytes(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the pointer we pass.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n as usize
}

/// A pipe's capacity (64 KiB unless someone changed it).
fn pipe_capacity(fd: RawFd) -> usize {
    // SAFETY: F_GETPIPE_SZ only reads the descriptor's pipe.
    let size = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    assert!(size > 0, "F_GETPIPE_SZ: {}", std::io::Error::last_os_error());
    size as usize
}

/// Stdout is a pipe the test never reads, so once it is full fetch cannot finish
/// flushing after a first SIGINT and keeps running (without blocking: it still answers
/// signals). A second SIGINT exits at once with status 130.
///
/// "Full" is within a page of the pipe's capacity: the kernel fills a pipe page by page
/// and may leave the last page short (the pre-fix `fetch`, blocked in `write`, left
/// 65,530 of 65,536 bytes), so waiting for exactly 64 KiB could wait forever.
#[test]
fn a_second_sigint_exits_at_once_when_output_cannot_drain() {
    let _serial = one_at_a_time();
    let mut fetch = Running::fetch(&["-n", "1000000", "--jsonl"], Stdio::null(), Stdio::piped());
    let stdout = fetch.stdout(); // held, never read
    let fd = stdout.as_raw_fd();
    let full = pipe_capacity(fd) - 4096;
    let deadline = Instant::now() + Duration::from_secs(20);
    while pipe_bytes(fd) < full {
        assert!(fetch.exited().is_none(), "fetch ended before its stdout filled:\n{}", fetch.stderr());
        assert!(Instant::now() < deadline, "stdout never filled: {} bytes", pipe_bytes(fd));
        thread::sleep(POLL);
    }

    fetch.signal(libc::SIGINT);
    let first = Instant::now();
    while first.elapsed() < Duration::from_millis(200) {
        if let Some(status) = fetch.exited() {
            panic!(
                "fetch exited ({status:?}) {:?} after the first SIGINT, although its output could not be \
                 flushed:\n{}",
                first.elapsed(),
                fetch.stderr()
            );
        }
        thread::sleep(POLL);
    }

    fetch.signal(libc::SIGINT);
    let second = Instant::now();
    let status = fetch.wait(Duration::from_secs(1), "fetch after a second SIGINT");
    eprintln!("exited {:?} after the second SIGINT", second.elapsed());
    let stderr = fetch.stderr();
    assert_eq!(shell_status(status), Some(130), "{status:?}\n{stderr}");
    drop(stdout);
}

// ---------------------------------------------------------------------------------------
// 5. Broken pipe.

/// `fetch -n 1000000 --jsonl | head -1`: once stdout's reader has gone, fetch stops at
/// once with status 141 (128 + SIGPIPE, what a shell shows for `yes | head -1`), with at
/// most one line on stderr besides progress; not a million requests later.
#[test]
fn a_closed_stdout_ends_the_run_at_once_with_141() {
    let _serial = one_at_a_time();
    let mut fetch = Running::fetch(&["-n", "1000000", "--jsonl"], Stdio::null(), Stdio::piped());
    let stdout = fetch.stdout();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        drop(reader); // closes the read end, like `head -1`
        let _ = tx.send((first, Instant::now()));
    });
    let (first, closed) = rx.recv_timeout(Duration::from_secs(30)).expect("a first line within 30 s");
    let first = parse(first.trim_end());
    assert!(first["index"].is_u64(), "{first}");

    let status = loop {
        if let Some(status) = fetch.exited() {
            break status;
        }
        assert!(
            closed.elapsed() < Duration::from_secs(1),
            "fetch still running 1 s after its stdout's reader went away"
        );
        thread::sleep(POLL);
    };
    let after = closed.elapsed();
    let stderr = fetch.stderr();
    eprintln!("exited {after:?} after the close: {status:?}");
    assert_eq!(shell_status(status), Some(141), "{status:?}\n{stderr}");
    let other: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("fetch: [")).collect();
    assert!(other.len() <= 1, "at most one line besides progress on stderr: {stderr}");
}

// ---------------------------------------------------------------------------------------
// 6. Progress and per-request lines sharing a terminal.

/// About 2 s at any build speed: 3000 requests, 300 at a time, each delayed by the
/// built-in server for a (seeded) random 0–400 ms.
const SLOW_RUN: [&str; 6] = ["-n", "3000", "-c", "300", "--max-delay-ms", "400"];

const ERASE: &str = "\r\x1b[2K";

/// The seed's per-request line: `DATE:URL with delay D`.
fn is_request_line(line: &str) -> bool {
    line.split_once(":http://localhost:")
        .is_some_and(|(date, rest)| date.ends_with(" GMT") && rest.contains(" with delay "))
}

/// stdout and stderr are the same pseudo-terminal (`script`): the progress line is
/// still drawn in place, erased before each batch of per-request lines and redrawn after
/// it, so no request line is ever torn by progress text, and the summary starts on an
/// erased line.
#[test]
fn progress_stays_pinned_under_per_request_lines_on_a_shared_terminal() {
    let _serial = one_at_a_time();
    let command = format!("'{}' {}", example("fetch").display(), SLOW_RUN.join(" "));
    let mut script = Running::spawn(
        Command::new("script").args(["-qfec", &command, "/dev/null"]).stdin(Stdio::null()).stdout(Stdio::piped()),
    );
    let mut pipe = script.stdout();
    let transcript = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    });
    let status = script.wait(Duration::from_secs(120), "fetch under script");
    let tty = String::from_utf8_lossy(&transcript.join().unwrap()).into_owned();
    assert_eq!(status.code(), Some(0), "{tty}");

    let (before, summary) = tty.split_once("fetch: 3000 requests in").unwrap_or_else(|| panic!("no summary: {tty:?}"));
    assert!(!summary.contains("req/s"), "no progress after the summary: {summary}");

    // Between two erases: whole request lines, then maybe the progress text, drawn in
    // place (right after the erase, or at the start of the fresh line after a batch) and
    // left without a newline, so that the next erase takes it away. Anything else left
    // unterminated before an erase would be output lost.
    let segments: Vec<&str> = before.split(ERASE).collect();
    let (mut requests, mut torn, mut other, mut lost) = (0, Vec::new(), Vec::new(), Vec::new());
    let mut draws = Vec::new(); // segment of each draw
    let mut batches = Vec::new(); // segment of each batch of request lines
    for (i, segment) in segments.iter().enumerate() {
        let (complete, drawn) = segment.rsplit_once('\n').unwrap_or(("", segment));
        for line in complete.split('\n').filter(|l| !l.is_empty()) {
            let line = line.trim_end_matches('\r');
            if line.contains("req/s") {
                torn.push(line);
            } else if is_request_line(line) {
                requests += 1;
            } else {
                other.push(line);
            }
        }
        if !complete.is_empty() {
            batches.push(i);
        }
        if drawn.starts_with('[') && drawn.contains("req/s") && drawn.contains("/3000 (") {
            draws.push(i);
        } else if !drawn.is_empty() {
            lost.push(drawn);
        }
    }
    let last_batch = batches.last().copied().unwrap_or(0);
    let pinned = draws.iter().filter(|&&i| i < last_batch).count();
    assert!(
        pinned >= 3,
        "at least 3 in-place draws followed by more request lines; {} draws in all, {pinned} before the last \
         batch: {:?}",
        draws.len(),
        tail(before)
    );
    assert!(torn.is_empty(), "lines torn by (or printed as) progress text: {torn:?}");
    assert!(other.is_empty(), "lines that are not request lines: {other:?}");
    assert!(before.ends_with(ERASE), "the summary follows an erase: {:?}", tail(before));
    assert!(lost.is_empty(), "text erased before its line ended: {lost:?}");
    assert_eq!(requests, 3000, "one line per request on the terminal");
}

/// The last 2,000 bytes of a transcript, for a failure message.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(2000);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

// ---------------------------------------------------------------------------------------
// 7. A FIFO as --urls.

/// `fetch --urls FIFO` started before anyone opens the FIFO for writing: fetch must open
/// it at once (opening a FIFO for reading blocks until a writer comes, unless it is
/// opened non-blocking), must not take "no writer yet" as an empty list, and must then
/// fetch what a writer sends until it closes.
#[test]
fn a_fifo_as_the_url_list_is_opened_without_waiting_for_a_writer() {
    let _serial = one_at_a_time();
    let server = builtin_server(ServerConfig::default());
    let scratch = Scratch::new("fifo");
    let fifo = scratch.path("urls.fifo");
    let c_path = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path we pass.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo: {}", std::io::Error::last_os_error());
    let canonical = std::fs::canonicalize(&fifo).unwrap();

    let mut fetch = Running::fetch(&["--urls", fifo.to_str().unwrap(), "--jsonl"], Stdio::null(), Stdio::piped());
    let lines = Lines::start(fetch.stdout());
    let fds = format!("/proc/{}/fd", fetch.child.id());
    let holds_fifo = || {
        std::fs::read_dir(&fds)
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == fifo || target == canonical))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !holds_fifo() {
        if let Some(status) = fetch.exited() {
            panic!("fetch ended ({status:?}) before any writer opened the FIFO:\n{}", fetch.stderr());
        }
        assert!(
            Instant::now() < deadline,
            "fetch has not opened the FIFO 5 s after it started: it is blocked in open() waiting for a writer"
        );
        thread::sleep(POLL);
    }
    // A reader that took the FIFO as empty would be gone within moments.
    let watching = Instant::now();
    while watching.elapsed() < Duration::from_millis(300) {
        if let Some(status) = fetch.exited() {
            panic!("fetch took the FIFO with no writer yet as an empty list ({status:?}):\n{}", fetch.stderr());
        }
        thread::sleep(POLL);
    }

    // Non-blocking, so that a FIFO without a reader fails (ENXIO) instead of hanging.
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap_or_else(|e| panic!("nobody reads the FIFO ({e}): fetch closed it before a writer came"));
    let urls: Vec<String> = (0..3).map(|i| format!("http://{server}/fifo/{i}")).collect();
    writer.write_all(format!("{}\n", urls.join("\n")).as_bytes()).unwrap();
    drop(writer);

    let status = fetch.wait(Duration::from_secs(10), "fetch after the FIFO's writer closed");
    let stderr = fetch.stderr();
    assert_eq!(shell_status(status), Some(0), "{stderr}");
    let mut got: Vec<Value> = lines.rest().iter().map(|(_, l)| parse(l)).collect();
    got.sort_by_key(|l| l["index"].as_u64());
    assert_eq!(got.len(), 3, "one line per URL written to the FIFO: {got:?}");
    for (i, l) in got.iter().enumerate() {
        assert_eq!(l["index"], i as u64, "{l}");
        assert_eq!(l["url"], urls[i].as_str(), "{l}");
        assert_eq!(l["status"], 200, "{l}");
    }
}
