//! What an idle pooled connection costs in user-space memory
//! (`cargo bench -p onethread-bench --bench idle_conns`).
//!
//! The target: at most 2 KiB per idle keep-alive connection with 10,000 of them in the
//! pool. A crawler keeps a connection per origin it may come back to; at that scale a
//! per-connection read buffer (the usual 8–64 KiB) would cost hundreds of megabytes,
//! which is why the client shares one read buffer and keeps only leftovers per
//! connection (see `DESIGN.md`, "buffers").
//!
//! How it is measured:
//!
//! 1. This binary counts live heap bytes with a `#[global_allocator]` wrapped around
//!    `System` (bytes requested, so malloc's own per-chunk overhead is not included).
//! 2. The built-in server runs in a child process (this same binary, re-executed with
//!    `IDLE_CONNS_SERVER=1`), so none of its memory is counted here.
//! 3. `RLIMIT_NOFILE` is raised to its hard limit (the child inherits it); if that
//!    allows fewer than 10,000 sockets, the run uses as many as it can and says so.
//! 4. A `Client` on a `Reactor` fetches N URLs at concurrency N. Every request opens
//!    its own connection, and when `reactor.run` returns all N are idle in the pool
//!    (`client.connections()`). Live bytes after the run minus live bytes just after
//!    `Client::new`, divided by the idle connections, is the figure. The same run at
//!    concurrency 10 gives a baseline; the marginal cost between the two runs is the
//!    second figure. Both include what the client keeps per *concurrency slot* (slab
//!    capacity for requests), so they are upper bounds on the pool's own cost.
//!    A third run at concurrency N sends `Connection: close`, so the same number of
//!    connections is opened but none is pooled: what it leaves behind is capacity
//!    (slabs and queues sized for N requests and N connections; the connection
//!    structs themselves live inline in a slab, so their size is in this part). The
//!    keep-alive run minus that one is what idle connections own beyond their slots.
//! 5. The VmRSS delta per connection (from `/proc/self/status`) is printed as a check:
//!    it sees malloc's overhead and page granularity, but it is still user space only.
//!    Kernel socket memory (buffers, `struct sock`) is in neither figure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use onethread::client::{Client, Config, Outcome, Sink, Template};
use onethread::reactor::Reactor;
use onethread::server::{Server, ServerConfig};

/// The target, in bytes per idle connection.
const TARGET: usize = 2048;
const WANTED: usize = 10_000;
/// Descriptors kept back for the reactor, c-ares, stdio and the like.
const SPARE_FDS: usize = 64;
const SERVER_ENV: &str = "IDLE_CONNS_SERVER";

/// `System`, counting the bytes it has handed out and not yet got back.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Resident set size in bytes, from `/proc/self/status`.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Raises the soft descriptor limit to the hard one; returns the new soft limit.
fn raise_fd_limit() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur as usize
}

/// The child: the built-in server, idle connections kept for ten minutes.
fn serve() -> io::Result<()> {
    let mut reactor = Reactor::new(1024)?;
    let config = ServerConfig { idle_timeout: Duration::from_secs(600), ..ServerConfig::default() };
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut server = Server::bind(&mut reactor.context(), &[listen], config, 0)?;
    println!("listening on {}", server.local_addrs()[0]);
    reactor.run(&mut server)
}

/// The server child process, killed when this is dropped (also on panic).
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start() -> io::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?).env(SERVER_ENV, "1").stdout(Stdio::piped()).spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
        let addr = line.trim().strip_prefix("listening on ").and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            return Err(io::Error::other(format!("server said {line:?}")));
        };
        Ok(ServerProcess { child, addr })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
}

impl Sink for Tally {
    fn outcome(&mut self, outcome: &Outcome<'_>) {
        match outcome.result {
            Ok(_) => self.ok += 1,
            Err(_) => self.failed += 1,
        }
    }
}

/// One fetch of `n` URLs at concurrency `n`, measured around `reactor.run`.
struct Run {
    idle: usize,
    ok: usize,
    failed: usize,
    heap: usize,
    rss: usize,
    took: Duration,
}

/// With `close`, every request asks the server to close its connection afterwards.
fn fetch(addr: SocketAddr, n: usize, close: bool) -> io::Result<Run> {
    let fields: &[(&str, &str)] = if close { &[("Connection", "close")] } else { &[] };
    let template = Template::new("GET", fields, b"").map_err(io::Error::other)?;
    let config = Config { concurrency: n, idle_timeout: Duration::from_secs(600), ..Config::default() };
    let urls = (0..n).map(move |i| template.request(format!("http://{addr}/{i}")));
    let mut reactor = Reactor::new(1024)?;
    let mut client = Client::new(&mut reactor.context(), config, urls, Tally::default()).map_err(io::Error::other)?;
    let (heap_before, rss_before, start) = (live_bytes(), rss_bytes(), Instant::now());
    reactor.run(&mut client)?;
    let took = start.elapsed();
    let (heap_after, rss_after) = (live_bytes(), rss_bytes());
    Ok(Run {
        idle: client.connections(),
        ok: client.sink().ok,
        failed: client.sink().failed,
        heap: heap_after.saturating_sub(heap_before),
        rss: rss_after.saturating_sub(rss_before),
        took,
    })
}

fn report(label: &str, run: &Run) {
    println!(
        "{label}: {} ok, {} failed in {:.2?}; {} idle connections; heap +{} B, RSS +{} B",
        run.ok, run.failed, run.took, run.idle, run.heap, run.rss
    );
}

fn per_conn(bytes: usize, conns: usize) -> usize {
    bytes / conns.max(1)
}

fn main() -> io::Result<()> {
    if std::env::var_os(SERVER_ENV).is_some() {
        return serve();
    }
    let fd_limit = raise_fd_limit();
    let n = WANTED.min(fd_limit.saturating_sub(SPARE_FDS));
    if n < WANTED {
        println!("RLIMIT_NOFILE is {fd_limit}: measuring {n} idle connections instead of {WANTED}");
    }
    let server = ServerProcess::start()?;
    println!("server (child process {}) on {}", server.child.id(), server.addr);

    let small = fetch(server.addr, 10, false)?;
    report("C=10, keep-alive   ", &small);
    let big = fetch(server.addr, n, false)?;
    report(&format!("C={n}, keep-alive"), &big);
    let closed = fetch(server.addr, n, true)?;
    report(&format!("C={n}, close     "), &closed);

    let heap_per = per_conn(big.heap, big.idle);
    let marginal = per_conn(big.heap.saturating_sub(small.heap), big.idle.saturating_sub(small.idle));
    let capacity = per_conn(closed.heap, big.idle);
    let owned = per_conn(big.heap.saturating_sub(closed.heap), big.idle);
    let rss_per = per_conn(big.rss, big.idle);
    println!("heap per idle connection:          {heap_per} B  (live-heap delta / idle connections)");
    println!("heap per idle connection, marginal: {marginal} B  (C={n} run minus C=10 run)");
    println!(
        "  of which slab/queue slots:       {capacity} B  (left by the close run: structs inline in slabs, capacity)"
    );
    println!("  of which owned beyond the slots: {owned} B  (keep-alive run minus close run)");
    println!(
        "RSS per idle connection:           {rss_per} B  (VmRSS delta; user-space pages, malloc overhead included)"
    );
    let pass = big.idle >= n * 9 / 10 && heap_per <= TARGET;
    println!(
        "{}: {heap_per} B per idle connection at {} idle connections (target <= {TARGET} B)",
        if pass { "PASS" } else { "FAIL" },
        big.idle
    );
    Ok(())
}
