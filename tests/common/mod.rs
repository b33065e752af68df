//! Helpers shared by the integration tests: small servers that misbehave on purpose,
//! a scripted DNS responder, the in-process built-in server, and an outside sampler of
//! a child's thread count. Test code may use threads; only the measured workload may not.
#![allow(dead_code)] // each test binary uses a different subset

pub mod dns;
pub mod tls;
#[allow(unused_imports)] // not every test binary uses every name
pub use dns::{Dns, DnsBuilder, Fallback, QueryType, dns_responder};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use onethread::client::{self, Config, Outcome, Request, Stats, Template};
use onethread::reactor::Reactor;
use onethread::server::{Server, ServerConfig};

/// What a test keeps of an outcome.
#[derive(Clone, Debug)]
pub struct Got {
    pub index: u64,
    pub url: String,
    pub status: Option<u16>,
    pub body_len: u64,
    pub error: Option<(&'static str, String)>,
    pub delay: Option<String>,
    pub date: Option<String>,
    /// From admission to the outcome.
    pub elapsed: Duration,
}

/// Runs the client over `urls` (requests, or URLs to GET) and returns the outcomes in
/// input order.
pub fn fetch_all<R: Into<Request>>(config: Config, urls: Vec<R>) -> (Vec<Got>, Stats) {
    let n = urls.len();
    let mut got: Vec<Got> = Vec::new();
    let sink = |o: &Outcome<'_>| got.push(keep(o));
    let (_, stats) = client::fetch(config, urls, sink).expect("client runs");
    got.sort_by_key(|g| g.index);
    assert_eq!(got.len(), n, "exactly one outcome per request");
    (got, stats)
}

pub fn keep(o: &Outcome<'_>) -> Got {
    let header = |name: &str| {
        o.result.as_ref().ok().and_then(|r| r.headers.get(name)).map(|v| String::from_utf8_lossy(v).into_owned())
    };
    Got {
        index: o.index.0,
        url: o.url.to_owned(),
        status: o.result.as_ref().ok().map(|r| r.status),
        body_len: o.result.as_ref().map_or(0, |r| r.body_len),
        error: o.result.as_ref().err().map(|e| (e.kind.as_str(), e.message.clone())),
        delay: header("delay"),
        date: header("date"),
        elapsed: o.elapsed,
    }
}

/// `urls` sent with `Connection: close`, so each request opens a connection of its own.
pub fn closing(urls: Vec<String>) -> Vec<Request> {
    let close = Template::new("GET", &[("Connection", "close")], b"").unwrap();
    urls.into_iter().map(|url| close.request(url)).collect()
}

/// The built-in server on a thread of its own (fine in a test process).
pub fn builtin_server(config: ServerConfig) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut reactor = Reactor::new(1024).unwrap();
        let mut server = Server::bind(&mut reactor.context(), &["127.0.0.1:0".parse().unwrap()], config, 0).unwrap();
        tx.send(server.local_addrs()[0]).unwrap();
        reactor.run(&mut server).unwrap();
    });
    rx.recv().unwrap()
}

/// A server that runs `script` on each accepted connection, on its own thread.
/// Returns its address and a counter of accepted connections.
pub fn scripted_server<F>(script: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream, usize) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let script = Arc::new(script);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let script = Arc::clone(&script);
            thread::spawn(move || script(stream, n));
        }
    });
    (addr, accepted)
}

/// Reads one request head (up to the blank line) from any stream, plain or TLS; `None`
/// if the peer closed or failed first.
pub fn read_request(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// Serves requests on one connection with `response` until the peer closes.
pub fn answer_all(mut stream: TcpStream, response: &[u8]) {
    while read_request(&mut stream).is_some() {
        if stream.write_all(response).is_err() {
            return;
        }
    }
}

/// Answers each request with `hit` if its head starts with `prefix`, else with `miss`,
/// until the peer closes.
pub fn answer_by_prefix(mut stream: TcpStream, prefix: &[u8], hit: &[u8], miss: &[u8]) {
    while let Some(head) = read_request(&mut stream) {
        if stream.write_all(if head.starts_with(prefix) { hit } else { miss }).is_err() {
            return;
        }
    }
}

/// The value of field `name` (any case) in a request head, trimmed.
pub fn field(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
}

/// Closes with RST instead of FIN (SO_LINGER with a zero timeout).
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

/// Path of a built example (cargo test builds the examples before running tests).
pub fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    let hint = "run plain `cargo test` (which builds the examples) or `cargo build --examples` first";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {hint}", path.display()));
    // `cargo test --test X` does not rebuild examples; refuse to test a stale binary.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Its own sources only: editing another example does not relink this one.
    let own = root.join("examples").join(name);
    let own =
        std::fs::metadata(own.with_extension("rs")).and_then(|m| m.modified()).unwrap_or_else(|_| newest_mtime(&own));
    let newest = newest_mtime(&root.join("src")).max(own);
    assert!(built >= newest, "{} is older than the sources: {hint}", path.display());
    path
}

fn newest_mtime(dir: &std::path::Path) -> std::time::SystemTime {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_mtime(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).unwrap_or(newest)
        };
        newest = newest.max(t);
    }
    newest
}

/// A directory of its own for one test, removed afterwards.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("onethread-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A finished run of the `fetch` example, as seen from outside.
pub struct FetchRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub watched: Watched,
}

/// Runs `fetch` with `args` (stdout and stderr are pipes, not a terminal), sampling
/// its `/proc/<pid>/status` every 2 ms until it exits.
pub fn run_fetch(args: &[&str], stdin: Option<String>) -> FetchRun {
    run_example("fetch", args, stdin)
}

/// [`run_fetch`] for any example.
pub fn run_example(name: &str, args: &[&str], stdin: Option<String>) -> FetchRun {
    let (mut child, stdout, stderr) = spawn_example(name, args, stdin);
    let watched = watch_until_exit(&mut child, Duration::from_millis(2), Duration::from_secs(300));
    let code = child.wait().unwrap().code();
    FetchRun { code, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap(), watched }
}

/// Starts example `name` with `args`, `stdin` written to it by a thread of its own, and
/// its stdout and stderr read to their ends by two more.
fn spawn_example(
    name: &str,
    args: &[&str],
    stdin: Option<String>,
) -> (Child, thread::JoinHandle<String>, thread::JoinHandle<String>) {
    let mut child = Command::new(example(name))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        thread::spawn(move || pipe.write_all(input.as_bytes()));
    }
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    (child, stdout, stderr)
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut s = String::new();
        pipe.read_to_string(&mut s).unwrap();
        s
    })
}

/// Parses JSON lines, failing with the line that is not JSON.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
}

/// What an outside observer saw of a child while it ran.
#[derive(Clone, Copy, Debug, Default)]
pub struct Watched {
    pub peak_threads: usize,
    /// The kernel's high-water mark of the child's resident memory (`VmHWM`), in KiB,
    /// as of the last sample before it exited.
    pub peak_rss_kib: u64,
    pub samples: u64,
}

/// Reads `/proc/<pid>/status` of a running child every `every` until it exits.
pub fn watch_until_exit(child: &mut Child, every: Duration, limit: Duration) -> Watched {
    let path = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut watched = Watched::default();
    loop {
        if let Ok(status) = std::fs::read_to_string(&path)
            && let Some(threads) = status_field(&status, "Threads:")
        {
            watched.peak_threads = watched.peak_threads.max(threads as usize);
            watched.samples += 1;
            // Absent once the child has exited (and is not reaped yet).
            if let Some(rss) = status_field(&status, "VmHWM:") {
                watched.peak_rss_kib = watched.peak_rss_kib.max(rss);
            }
        }
        if child.try_wait().unwrap().is_some() {
            return watched;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("child still running after {limit:?}");
        }
        thread::sleep(every); // pacing the sampler, not synchronisation
    }
}

/// The number after `name` in a `/proc/<pid>/status` text (`VmHWM:   6012 kB` → 6012).
fn status_field(status: &str, name: &str) -> Option<u64> {
    let rest = status.lines().find_map(|line| line.strip_prefix(name))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Like [`run_fetch`], and also watches each child process `fetch` starts (its
/// `--workers`), found in `/proc/<pid>/task/<pid>/children` and sampled the same way:
/// each child's `/proc/<pid>/status`, while its parent is still `fetch`. Returns what
/// was seen of each child, by pid.
pub fn run_fetch_and_children(
    args: &[&str],
    stdin: Option<String>,
) -> (FetchRun, std::collections::BTreeMap<u32, Watched>) {
    let (mut child, stdout, stderr) = spawn_example("fetch", args, stdin);
    let pid = child.id();
    let started = Instant::now();
    let mut watched = Watched::default();
    let mut children: std::collections::BTreeMap<u32, Watched> = std::collections::BTreeMap::new();
    let sample = |path: String, w: &mut Watched, parent: Option<u32>| {
        let Ok(status) = std::fs::read_to_string(path) else { return };
        // A pid seen once as our child is only sampled while it still is one.
        if parent.is_some_and(|p| status_field(&status, "PPid:") != Some(u64::from(p))) {
            return;
        }
        if let Some(threads) = status_field(&status, "Threads:") {
            w.peak_threads = w.peak_threads.max(threads as usize);
            w.samples += 1;
        }
        if let Some(rss) = status_field(&status, "VmHWM:") {
            w.peak_rss_kib = w.peak_rss_kib.max(rss);
        }
    };
    loop {
        sample(format!("/proc/{pid}/status"), &mut watched, None);
        if let Ok(list) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            for c in list.split_whitespace().filter_map(|c| c.parse().ok()) {
                children.entry(c).or_default();
            }
        }
        for (c, w) in children.iter_mut() {
            sample(format!("/proc/{c}/status"), w, Some(pid));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("fetch still running after 300 s");
        }
        thread::sleep(Duration::from_millis(1)); // pacing the sampler, not synchronisation
    }
    let code = child.wait().unwrap().code();
    let run = FetchRun { code, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap(), watched };
    (run, children)
}
