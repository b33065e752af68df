//! DNS on one thread vs `getaddrinfo` on a pool: 10,000 distinct names, measured from outside.
//!
//! The question this answers: what does resolving on the reactor with c-ares cost,
//! next to what every `getaddrinfo`-based runtime does — block a helper thread per
//! lookup? aiohttp's default resolver calls `loop.getaddrinfo`, which runs in asyncio's
//! default executor of `min(32, cores + 4)` threads; here that is
//! `std::net::ToSocketAddrs` (glibc's `getaddrinfo`) on a pool of the same width.
//!
//! `cargo bench -p onethread-bench --bench dns [-- -n N --runs R -k K,K]` runs each side
//! R times (default 3) and reports the run with the median wall time:
//!
//! * **onethread (own UDP path), K in flight**: `onethread::dns::Resolver` on a
//!   `Reactor`, one thread, keeping K names in flight (each is one `getaddrinfo`-style
//!   lookup: A and AAAA queries), asked by our own UDP path (`src/dns/udp.rs`). By
//!   default K = the pool's width (same concurrency as the peer) and K = 1000 (the
//!   seed's concurrency).
//! * **getaddrinfo pool**: `min(32, cores + 4)` threads pulling names from a shared
//!   counter. The ratios are against this row.
//! * **c-ares on the reactor, K in flight**: the same resolver with
//!   `DnsConfig::c_ares_only`, i.e. what the own path replaced, in the same run.
//! * **hickory-resolver, K in flight**: what Rust users pick for async DNS, on tokio's
//!   current_thread runtime, K tasks calling `lookup_ip` (AAAA and A in parallel). It
//!   is configured in code with the responder and the same retry schedule.
//!
//! Every name is `name<i>.bench.test`, all distinct, so no cache helps either side. The
//! name server is the scripted responder of the tests (`tests/common/dns.rs`): A
//! 127.0.0.1 for any name, NODATA (with SOA) for AAAA.
//!
//! ## Making glibc use a local responder, honestly
//!
//! glibc reads its servers from `/etc/resolv.conf`, which can only name port 53, and
//! the machine's resolver must not be benchmarked (or bothered). So each side runs in
//! fresh network, mount and UTS namespaces (`unshare(CLONE_NEWNET | CLONE_NEWNS |
//! CLONE_NEWUTS)`, or with `CLONE_NEWUSER` too when not root): only `lo` exists (we
//! bring it up), the responder listens on 127.0.0.1:53, and a private `resolv.conf`
//! (`nameserver 127.0.0.1`, `options attempts:2 timeout:2`) is bind-mounted over
//! `/etc/resolv.conf`, with an `nsswitch.conf` whose `hosts:` line is `files dns`. The
//! host name is `dns-bench`, without a domain, so no side has a search list. c-ares
//! and our own path get the same file and the same server, so all sides see identical
//! conditions.
//!
//! ## Processes
//!
//! ```text
//! dns                      the report: runs one runner per side and run
//! └─ dns --runner SIDE N   enters the namespaces; the children inherit them
//!    ├─ dns --responder    the name server, a process of its own (not counted)
//!    └─ dns --measure SIDE N   the measured side, watched from outside
//! ```
//!
//! The runner measures its `--measure` child the way the census does: wall time from
//! spawn to reap, user + system CPU and peak RSS from `wait4`'s rusage, peak threads by sampling
//! `/proc/<pid>/status` every millisecond. Two more columns keep the run honest: the
//! queries the responder saw (2 per name when nothing is lost: A and AAAA), and the
//! namespace's UDP receive-buffer drops (`/proc/net/snmp`; in parentheses those at the
//! responder's socket, `/proc/net/udp`), which show up as retransmissions and timeouts.
//!
//! Output: a markdown table on stdout and in `target/bench/dns.md`, raw numbers in
//! `target/bench/dns.json`.

#[path = "../../tests/common/dns.rs"]
mod responder;

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mio::Token;
use mio::event::Event;
use onethread::dns::{Answer, DnsConfig, Family, Resolver};
use onethread::reactor::{Context, Handler, Reactor};
use serde_json::{Value, json};

/// Where the responder listens inside the namespace: the only place glibc can look.
const SERVER: &str = "127.0.0.1:53";
/// Longest a measured side may run before it is killed.
const LIMIT: Duration = Duration::from_secs(300);

/// A measured side, as named on the command line.
#[derive(Clone, Copy, Debug)]
enum Side {
    /// `onethread::dns::Resolver` as shipped (own UDP path) with this many in flight.
    Own(usize),
    /// The same resolver with `DnsConfig::c_ares_only`: c-ares sends every query.
    Cares(usize),
    /// `getaddrinfo` on this many threads.
    Pool(usize),
    /// hickory-resolver on tokio's current_thread runtime with this many in flight.
    Hickory(usize),
}

impl Side {
    fn arg(self) -> String {
        match self {
            Side::Own(k) => format!("own:{k}"),
            Side::Cares(k) => format!("c-ares:{k}"),
            Side::Pool(t) => format!("getaddrinfo:{t}"),
            Side::Hickory(k) => format!("hickory:{k}"),
        }
    }

    fn parse(s: &str) -> Option<Side> {
        let (kind, n) = s.split_once(':')?;
        let n = n.parse().ok().filter(|&n| n > 0)?;
        match kind {
            "own" => Some(Side::Own(n)),
            "c-ares" => Some(Side::Cares(n)),
            "getaddrinfo" => Some(Side::Pool(n)),
            "hickory" => Some(Side::Hickory(n)),
            _ => None,
        }
    }

    fn label(self) -> String {
        match self {
            Side::Own(k) => format!("onethread (own UDP path), {k} in flight"),
            Side::Cares(k) => format!("c-ares on the reactor, {k} in flight"),
            Side::Pool(t) => format!("getaddrinfo, pool of {t} threads"),
            Side::Hickory(k) => format!("hickory-resolver, tokio current_thread, {k} in flight"),
        }
    }
}

/// The width of asyncio's default executor: `min(32, os.cpu_count() + 4)`.
fn pool_width() -> usize {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    (cores + 4).min(32)
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; it means nothing here.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let result = match args.first().map(String::as_str) {
        Some("--responder") => responder_main(),
        Some("--runner") => side_and_n(&args[1..]).and_then(|(side, n)| runner_main(side, n)),
        Some("--measure") => side_and_n(&args[1..]).and_then(|(side, n)| measure_main(side, n)),
        _ => report_main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dns bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn side_and_n(args: &[String]) -> Result<(Side, usize), String> {
    match args {
        [side, n] => Ok((Side::parse(side).ok_or(format!("bad side {side:?}"))?, n.parse().map_err(|_| "bad N")?)),
        _ => Err(format!("expected SIDE N, got {args:?}")),
    }
}

// ---------------------------------------------------------------------------------
// The measured sides. Each prints one JSON line: {"resolved", "failures", "first_failure"}.

#[derive(Default)]
struct Tally {
    resolved: usize,
    failures: usize,
    first_failure: Option<String>,
}

impl Tally {
    fn fail(&mut self, why: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(why);
    }
}

fn name(i: usize) -> String {
    format!("name{i}.bench.test")
}

fn measure_main(side: Side, n: usize) -> Result<(), String> {
    let tally = match side {
        Side::Own(k) => resolve_on_reactor(n, k, false).map_err(|e| format!("own side: {e}"))?,
        Side::Cares(k) => resolve_on_reactor(n, k, true).map_err(|e| format!("c-ares side: {e}"))?,
        Side::Pool(threads) => resolve_with_pool(n, threads),
        Side::Hickory(k) => resolve_with_hickory(n, k).map_err(|e| format!("hickory side: {e}"))?,
    };
    let line = json!({ "resolved": tally.resolved, "failures": tally.failures, "first_failure": tally.first_failure });
    println!("{line}");
    Ok(())
}

/// `getaddrinfo` the way a thread-pool runtime does it: each worker blocks in it.
fn resolve_with_pool(n: usize, threads: usize) -> Tally {
    let next = AtomicUsize::new(0);
    let tally = Mutex::new(Tally::default());
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let host = name(i);
                    let result = (host.as_str(), 80).to_socket_addrs().map(|mut addrs| addrs.next().is_some());
                    let mut tally = tally.lock().unwrap();
                    match result {
                        Ok(true) => tally.resolved += 1,
                        Ok(false) => tally.fail(format!("{host}: no addresses")),
                        Err(e) => tally.fail(format!("{host}: {e}")),
                    }
                }
            });
        }
    });
    tally.into_inner().unwrap()
}

/// hickory-resolver as a tokio program would use it: `lookup_ip` (AAAA and A, in
/// parallel), `k` tasks on one current_thread runtime. It reads no `resolv.conf` here
/// (the `system-config` feature is off), so it is given the responder and the same
/// retry schedule as the file the others read (`attempts:2 timeout:2`), over UDP.
fn resolve_with_hickory(n: usize, k: usize) -> io::Result<Tally> {
    use hickory_resolver::Resolver as Hickory;
    use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    use std::sync::Arc;

    let server: SocketAddr = SERVER.parse().expect("a socket address");
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::udp(server.ip())]);
    let mut builder = Hickory::builder_with_config(config, TokioRuntimeProvider::default());
    let options = builder.options_mut();
    options.ip_strategy = LookupIpStrategy::Ipv6AndIpv4;
    options.attempts = 2;
    options.timeout = Duration::from_secs(2);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    runtime.block_on(async {
        let resolver = builder.build().map_err(io::Error::other)?;
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..k {
            let (resolver, next, tally) = (resolver.clone(), Arc::clone(&next), Arc::clone(&tally));
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let host = name(i);
                    let result = resolver.lookup_ip(host.as_str()).await.map(|ips| ips.iter().next().is_some());
                    let mut tally = tally.lock().unwrap();
                    match result {
                        Ok(true) => tally.resolved += 1,
                        Ok(false) => tally.fail(format!("{host}: no addresses")),
                        Err(e) => tally.fail(format!("{host}: {e}")),
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok::<(), io::Error>(())
    })?;
    Ok(std::mem::take(&mut *tally.lock().unwrap()))
}

/// c-ares's socket tokens start here; its timer has token 0.
const DNS_SOCKETS: usize = 1 << 32;
const DNS_TIMER: Token = Token(0);

/// Starts resolving `host` as the client does: an AAAA and an A query, whose answers
/// come back tagged with `key`. `getaddrinfo` (AF_UNSPEC) also asks both.
fn start_lookup(resolver: &mut Resolver, host: &str, key: usize) {
    resolver.lookup(host, Family::V6, key);
    resolver.lookup(host, Family::V4, key);
}

/// Keeps `in_flight_max` names resolving until `n` have been answered.
struct Lookups {
    resolver: Resolver,
    answers: Vec<Answer>,
    /// Per name: the first family's answer, until the second arrives.
    halves: HashMap<usize, Answer>,
    n: usize,
    in_flight_max: usize,
    started: usize,
    in_flight: usize,
    tally: Tally,
}

impl Lookups {
    /// A name is done when both families have answered, and resolved when either
    /// has an address (the responder gives these names only an A record).
    fn on_answer(&mut self, answer: Answer) {
        let Some(other) = self.halves.remove(&answer.key) else {
            self.halves.insert(answer.key, answer);
            return;
        };
        self.in_flight -= 1;
        match (answer.part, other.part) {
            (Ok(_), _) | (_, Ok(_)) => self.tally.resolved += 1,
            (Err(failure), Err(_)) => self.tally.fail(failure.message),
        }
    }
}

impl Handler for Lookups {
    fn ready(&mut self, _cx: &mut Context<'_>, token: Token, event: &Event) {
        self.resolver.ready(token, event);
    }

    fn timer(&mut self, _cx: &mut Context<'_>, _token: Token) {
        self.resolver.timer_fired();
    }

    fn end_of_turn(&mut self, cx: &mut Context<'_>) {
        // Top up to K in flight; an answer may arrive during `lookup` (c-ares's cache
        // or hosts file), so go round until nothing changes.
        loop {
            while self.in_flight < self.in_flight_max && self.started < self.n {
                start_lookup(&mut self.resolver, &name(self.started), self.started);
                self.started += 1;
                self.in_flight += 1;
            }
            self.resolver.take_answers(cx, &mut self.answers);
            if self.answers.is_empty() {
                return;
            }
            for answer in std::mem::take(&mut self.answers) {
                self.on_answer(answer);
            }
        }
    }

    fn is_done(&self) -> bool {
        self.started == self.n && self.in_flight == 0
    }
}

fn resolve_on_reactor(n: usize, in_flight_max: usize, c_ares_only: bool) -> io::Result<Tally> {
    let mut reactor = Reactor::new(1024)?;
    let server: SocketAddr = SERVER.parse().expect("a socket address");
    let config = DnsConfig { servers: vec![server], c_ares_only, ..DnsConfig::default() };
    let resolver = Resolver::new(&mut reactor.context(), &config, DNS_SOCKETS, DNS_TIMER)?;
    if resolver.own_path() == c_ares_only {
        return Err(io::Error::other("the resolver did not take the path asked for"));
    }
    let mut lookups = Lookups {
        resolver,
        answers: Vec::new(),
        halves: HashMap::new(),
        n,
        in_flight_max,
        started: 0,
        in_flight: 0,
        tally: Tally::default(),
    };
    reactor.run(&mut lookups)?;
    Ok(lookups.tally)
}

// ---------------------------------------------------------------------------------
// The responder process.

fn responder_main() -> Result<(), String> {
    let dns = responder::DnsBuilder::new()
        .fallback(responder::Fallback::Loopback { ttl: 60 })
        .bind(SERVER.parse().expect("a socket address"))
        // A burst of 2 × K queries must queue, not be dropped: the responder is not
        // what is measured, so it must never be the bottleneck.
        .recv_buffer(8 << 20)
        .try_build()
        .map_err(|e| format!("responder cannot listen on {SERVER}: {e}"))?;
    println!("ready {}", dns.addr); // the runner waits for this line
    // The runner asks for the query count on stdin, then closes it: time to go.
    for line in io::stdin().lock().lines() {
        if line.map_err(|e| e.to_string())? == "total" {
            println!("{}", dns.total());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// The runner: namespaces, responder, one watched measurement.

fn runner_main(side: Side, n: usize) -> Result<(), String> {
    let scratch = std::env::temp_dir().join(format!("onethread-dns-bench-{}", std::process::id()));
    fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let entered = enter_namespaces(&scratch);
    let result = entered.and_then(|()| run_side(side, n));
    let _ = fs::remove_dir_all(&scratch);
    let line = match result {
        Ok(measured) => measured,
        Err(Skip(reason)) => json!({ "skipped": reason }),
    };
    println!("{line}");
    Ok(())
}

/// Why a side could not be measured; it becomes a row that says so.
struct Skip(String);

impl From<String> for Skip {
    fn from(s: String) -> Self {
        Skip(s)
    }
}

fn run_side(side: Side, n: usize) -> Result<Value, Skip> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut server = Command::new(&exe)
        .arg("--responder")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the responder: {e}"))?;
    let mut to_server = server.stdin.take().expect("piped");
    let mut from_server = BufReader::new(server.stdout.take().expect("piped"));
    let mut read_line = move || {
        let mut line = String::new();
        from_server.read_line(&mut line).map(|_| line)
    };
    let ready = read_line();
    if !ready.as_ref().is_ok_and(|l| l.starts_with("ready")) {
        let _ = server.kill();
        let _ = server.wait();
        return Err(Skip(format!("the responder did not start: {ready:?}")));
    }
    let drops_before = udp_receive_errors();
    // `DNS_BENCH_WRAP="strace -c"` (or `valgrind --tool=callgrind`) runs the measured
    // side under a profiler, inside the namespaces; its figures are then the profiler's.
    let wrap = std::env::var("DNS_BENCH_WRAP").unwrap_or_default();
    let mut command: Vec<String> = wrap.split_whitespace().map(str::to_owned).collect();
    command.push(exe.to_string_lossy().into_owned());
    let measured = Command::new(&command[0])
        .args(&command[1..])
        .args(["--measure", &side.arg(), &n.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the measured side: {e}"))
        .and_then(|child| watch(child).map_err(|e| format!("watching the measured side: {e}")));
    let drops = udp_receive_errors().saturating_sub(drops_before);
    let server_drops = udp_socket_drops("0100007F:0035"); // 127.0.0.1:53, in hex
    // How many queries the responder saw: proof that each side really asked it.
    let queries = writeln!(to_server, "total").ok().and_then(|()| read_line().ok()?.trim().parse::<u64>().ok());
    drop(to_server); // EOF: the responder exits
    if server.wait().is_err() {
        let _ = server.kill();
    }
    let (watched, stdout) = measured?;
    let reported: Value = serde_json::from_str(stdout.trim())
        .map_err(|_| format!("the measured side printed {stdout:?} ({})", watched.exit))?;
    Ok(json!({
        "side": side.arg(),
        "n": n,
        "resolved": reported["resolved"],
        "failures": reported["failures"],
        "first_failure": reported["first_failure"],
        "exit": watched.exit,
        "wall_s": watched.wall.as_secs_f64(),
        "user_s": watched.user.as_secs_f64(),
        "sys_s": watched.sys.as_secs_f64(),
        "peak_threads": watched.peak_threads,
        "samples": watched.samples,
        "peak_rss_kib": watched.peak_rss_kib,
        "queries": queries,
        "udp_drops": drops,
        "server_drops": server_drops,
    }))
}

struct Watched {
    exit: String,
    wall: Duration,
    user: Duration,
    sys: Duration,
    peak_threads: u64,
    samples: u64,
    /// Peak resident set size, KiB (`ru_maxrss`).
    peak_rss_kib: u64,
}

/// Samples the child's thread count every millisecond until `wait4` reaps it; returns
/// what was seen and its stdout (one short line: it fits the pipe, so no reader thread).
fn watch(mut child: Child) -> io::Result<(Watched, String)> {
    let start = Instant::now();
    let pid = child.id() as libc::pid_t;
    let status_path = format!("/proc/{pid}/status");
    let mut peak_threads = 0;
    let mut samples = 0;
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it in for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our unreaped child; the pointers are to live locals.
        let got = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        if got == pid {
            let exit = if libc::WIFEXITED(status) {
                format!("exit {}", libc::WEXITSTATUS(status))
            } else {
                format!("signal {}", libc::WTERMSIG(status))
            };
            let mut stdout = String::new();
            child.stdout.take().expect("piped").read_to_string(&mut stdout)?;
            let watched = Watched {
                exit,
                wall: start.elapsed(),
                user: timeval(usage.ru_utime),
                sys: timeval(usage.ru_stime),
                peak_threads,
                samples,
                peak_rss_kib: usage.ru_maxrss as u64,
            };
            return Ok((watched, stdout));
        }
        if let Ok(status) = fs::read_to_string(&status_path)
            && let Some(threads) = status_field(&status, "Threads:")
        {
            peak_threads = peak_threads.max(threads);
            samples += 1;
        }
        if start.elapsed() > LIMIT {
            child.kill()?;
        }
        thread::sleep(Duration::from_millis(1)); // the sampling period
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

fn status_field(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(field))?.split_whitespace().next()?.parse().ok()
}

/// `RcvbufErrors` of this network namespace's UDP counters (`/proc/net/snmp`): datagrams
/// the kernel dropped because a socket's receive buffer was full.
fn udp_receive_errors() -> u64 {
    let Ok(snmp) = fs::read_to_string("/proc/net/snmp") else { return 0 };
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Datagrams dropped on the socket bound to `local` (`/proc/net/udp`'s last column).
fn udp_socket_drops(local: &str) -> u64 {
    let Ok(table) = fs::read_to_string("/proc/net/udp") else { return 0 };
    table
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(local))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------
// Namespaces.

/// Moves this process into new network and mount namespaces in which `lo` is up and
/// `/etc/resolv.conf` names 127.0.0.1. Children inherit all of it.
fn enter_namespaces(scratch: &Path) -> Result<(), Skip> {
    // SAFETY: plain syscalls on this (single-threaded) process.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let spaces = libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWUTS;
    if unsafe { libc::unshare(spaces) } != 0 {
        let as_is = io::Error::last_os_error();
        // Not root: a user namespace in which we are root may still allow it.
        // SAFETY: as above.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER | spaces) } != 0 {
            let with_user = io::Error::last_os_error();
            return Err(Skip(format!(
                "skipped: needs root or user namespaces (unshare: {as_is}; with CLONE_NEWUSER: {with_user})"
            )));
        }
        let _ = fs::write("/proc/self/setgroups", "deny"); // required before gid_map
        fs::write("/proc/self/uid_map", format!("0 {uid} 1")).map_err(|e| format!("uid_map: {e}"))?;
        fs::write("/proc/self/gid_map", format!("0 {gid} 1")).map_err(|e| format!("gid_map: {e}"))?;
    }
    // A host name without a domain: glibc and c-ares both take a dotted host name's
    // domain as the search list when resolv.conf has none, and every side must ask for
    // each name as it is.
    let host = b"dns-bench";
    // SAFETY: a valid buffer of that length; only this UTS namespace is renamed.
    if unsafe { libc::sethostname(host.as_ptr().cast(), host.len()) } != 0 {
        return Err(Skip(format!("sethostname: {}", io::Error::last_os_error())));
    }
    // Our bind mounts must not propagate back to the host's mount namespace.
    mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE)?;
    loopback_up().map_err(|e| format!("bringing lo up: {e}"))?;

    let resolv = scratch.join("resolv.conf");
    fs::write(&resolv, "nameserver 127.0.0.1\noptions attempts:2 timeout:2\n").map_err(|e| e.to_string())?;
    mount(Some(&resolv), "/etc/resolv.conf", None, libc::MS_BIND)?;
    // glibc asks the sources of `hosts:` in order; make sure DNS is one of them.
    if let Ok(nsswitch) = fs::read_to_string("/etc/nsswitch.conf") {
        let ours: String = nsswitch
            .lines()
            .map(|l| if l.trim_start().starts_with("hosts:") { "hosts: files dns" } else { l })
            .fold(String::new(), |text, l| text + l + "\n");
        let path = scratch.join("nsswitch.conf");
        fs::write(&path, ours).map_err(|e| e.to_string())?;
        mount(Some(&path), "/etc/nsswitch.conf", None, libc::MS_BIND)?;
    }
    Ok(())
}

fn mount(source: Option<&Path>, target: &str, fstype: Option<&str>, flags: libc::c_ulong) -> Result<(), Skip> {
    let c = |s: &str| CString::new(s).expect("no NUL in paths");
    let source = source.map(|p| c(&p.to_string_lossy()));
    let fstype = fstype.map(c);
    let target_c = c(target);
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: NUL-terminated strings (or null) that outlive the call; no data argument.
    let rc = unsafe { libc::mount(ptr(&source), target_c.as_ptr(), ptr(&fstype), flags, std::ptr::null()) };
    if rc != 0 {
        return Err(Skip(format!("mount {source:?} on {target}: {}", io::Error::last_os_error())));
    }
    Ok(())
}

/// `ip link set lo up`, by ioctl: a new network namespace starts with `lo` down.
fn loopback_up() -> io::Result<()> {
    // SAFETY: creating a socket has no preconditions.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: an all-zero ifreq is valid; we fill in the name.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `fd` is our socket and `request` a valid ifreq for these requests; the
    // flags member of the union is the one SIOCGIFFLAGS fills in.
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) < 0 {
            Err(io::Error::last_os_error())
        } else {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
        }
    };
    // SAFETY: closing our own socket once.
    unsafe { libc::close(fd) };
    result
}

// ---------------------------------------------------------------------------------
// The report.

struct Options {
    n: usize,
    runs: usize,
    /// Resolver rows: names in flight. The first is the reference for the ratios.
    in_flight: Vec<usize>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options { n: 10_000, runs: 3, in_flight: vec![pool_width(), 1000] };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |what: &str| it.next().and_then(|v| v.parse().ok()).ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "-n" => options.n = value("a count")?,
            "--runs" => options.runs = value("a count")?.max(1),
            "-k" => {
                let list = it.next().ok_or("-k needs a list like 6,1000")?;
                let parsed: Result<Vec<usize>, _> = list.split(',').map(str::parse).collect();
                options.in_flight = parsed.ok().filter(|k| !k.is_empty() && !k.contains(&0)).ok_or("bad -k list")?;
            }
            other => return Err(format!("unknown argument {other:?} (options: -n N, --runs R, -k K,K)")),
        }
    }
    Ok(options)
}

fn report_main(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut sides: Vec<Side> = options.in_flight.iter().map(|&k| Side::Own(k)).collect();
    sides.push(Side::Pool(pool_width()));
    sides.extend(options.in_flight.iter().map(|&k| Side::Cares(k)));
    sides.extend(options.in_flight.iter().map(|&k| Side::Hickory(k)));
    let mut rows: Vec<(Side, Value)> = Vec::new();
    for side in sides {
        let mut runs: Vec<Value> = Vec::new();
        for run in 1..=options.runs {
            eprintln!("dns bench: {} (run {run}/{})", side.label(), options.runs);
            let out = Command::new(&exe)
                .args(["--runner", &side.arg(), &options.n.to_string()])
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("running {}: {e}", side.arg()))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().last().unwrap_or("");
            let value = serde_json::from_str(line)
                .unwrap_or_else(|_| json!({ "skipped": format!("runner failed ({}): {line:?}", out.status) }));
            let skipped = value.get("skipped").is_some();
            runs.push(value);
            if skipped {
                break;
            }
        }
        rows.push((side, median_by_wall(runs)));
    }
    let table = render(&rows, &options);
    println!("{table}");
    let out = target_dir(&exe)?.join("bench");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    fs::write(out.join("dns.md"), &table).map_err(|e| e.to_string())?;
    let doc = json!({
        "n": options.n,
        "runs": options.runs,
        "cores": thread::available_parallelism().map_or(1, |n| n.get()),
        "pool_width": pool_width(),
        "rows": rows.iter().map(|(side, v)| json!({ "label": side.label(), "measured": v })).collect::<Vec<_>>(),
    });
    fs::write(out.join("dns.json"), serde_json::to_string_pretty(&doc).unwrap()).map_err(|e| e.to_string())?;
    eprintln!("dns bench: wrote {}", out.join("dns.{md,json}").display());
    Ok(())
}

/// The run with the median wall time (a skipped run stands for the side).
fn median_by_wall(mut runs: Vec<Value>) -> Value {
    if runs.iter().any(|r| r.get("skipped").is_some()) {
        return runs.pop().expect("at least one run");
    }
    runs.sort_by(|a, b| a["wall_s"].as_f64().partial_cmp(&b["wall_s"].as_f64()).expect("finite"));
    runs.swap_remove(runs.len() / 2)
}

fn render(rows: &[(Side, Value)], options: &Options) -> String {
    let rate = |v: &Value| v["resolved"].as_f64().unwrap_or(0.0) / v["wall_s"].as_f64().unwrap_or(f64::NAN);
    let cpu = |v: &Value| v["user_s"].as_f64().unwrap_or(0.0) + v["sys_s"].as_f64().unwrap_or(0.0);
    let live = |v: &&Value| v.get("skipped").is_none();
    let reference = rows.iter().find(|(side, _)| matches!(side, Side::Pool(_))).map(|(_, v)| v).filter(live);
    let mut t = format!(
        "DNS: {} distinct names per side, median of {} runs by wall time; {} cores; ratios are against the \
         getaddrinfo pool.\n\n",
        options.n,
        options.runs,
        thread::available_parallelism().map_or(1, |n| n.get())
    );
    t += "| resolver | lookups | failures | wall | lookups/s | CPU user+sys | CPU µs/lookup | peak threads \
          | peak RSS | queries seen | UDP drops (server) | lookups/s vs pool | CPU vs pool |\n";
    t += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (side, v) in rows {
        if let Some(reason) = v["skipped"].as_str() {
            t += &format!("| {} | {reason} |||||||||||\n", side.label());
            continue;
        }
        let lookups = v["resolved"].as_u64().unwrap_or(0) + v["failures"].as_u64().unwrap_or(0);
        let (rate_vs, cpu_vs) = match reference {
            Some(r) => (format!("{:.2}×", rate(v) / rate(r)), format!("{:.2}×", cpu(v) / cpu(r))),
            None => ("–".into(), "–".into()),
        };
        t += &format!(
            "| {} | {} | {} | {:.3} s | {:.0} | {:.3} s | {:.1} | {} | {:.1} MiB | {} | {} ({}) | {rate_vs} | {cpu_vs} |\n",
            side.label(),
            lookups,
            v["failures"],
            v["wall_s"].as_f64().unwrap_or(0.0),
            rate(v),
            cpu(v),
            cpu(v) * 1e6 / lookups.max(1) as f64,
            v["peak_threads"],
            v["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            v["queries"],
            v["udp_drops"],
            v["server_drops"],
        );
    }
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|(side, v)| v["first_failure"].as_str().map(|f| format!("- {}: first failure: {f}", side.label())))
        .collect();
    if !failures.is_empty() {
        t += &format!("\n{}\n", failures.join("\n"));
    }
    // Issue 17's targets, for the own path's first and last rows against the pool.
    let own: Vec<&Value> = rows.iter().filter(|(side, _)| matches!(side, Side::Own(_))).map(|(_, v)| v).collect();
    if let (Some(pool), Some(&first), Some(&last)) = (reference, own.first(), own.last())
        && live(&first)
        && live(&last)
    {
        let per = |v: &Value| cpu(v) / (v["resolved"].as_f64().unwrap_or(0.0) + v["failures"].as_f64().unwrap_or(0.0));
        let failures: u64 = own.iter().map(|v| v["failures"].as_u64().unwrap_or(0)).sum();
        t += &format!(
            "\nTargets (own path): CPU per lookup vs the pool {:.2}× and {:.2}× (≤ 0.5×); lookups/s vs the pool \
             {:.2}× and {:.2}× (≥ 1×); CPU per lookup at the last K vs the first {:.2}× (≤ 1.1×); failures {failures} \
             (0).\n",
            per(first) / per(pool),
            per(last) / per(pool),
            rate(first) / rate(pool),
            rate(last) / rate(pool),
            per(last) / per(first),
        );
    }
    t
}

/// `target/`, from this binary's path `target/<profile>/deps/dns-…`.
fn target_dir(exe: &Path) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(dir));
    }
    exe.ancestors().nth(3).map(Path::to_path_buf).ok_or_else(|| "cannot place the target directory".into())
}
