//! HTTP/1.1 pipelining (`Config::pipeline`, `fetch --pipeline D`) against scripted
//! servers that log every request they read and every response they write:
//!
//! * responses are matched to requests in order, and the depth is really used (the
//!   server reads D requests before it answers any);
//! * a server that closes, says `Connection: close`, or resets after k of D responses:
//!   the unanswered requests are sent again, on another connection, exactly once more,
//!   and no answered request is sent twice;
//! * an HTTP/1.0 server is never sent a request before the previous one is answered;
//! * timeouts stay per request: a stalled response fails alone, those behind it are
//!   sent again;
//! * a connection closed in a turn is not written to at the turn's end under its key,
//!   which a new connection attempt took meanwhile.

mod common;

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use onethread::client::{self, Config, Outcome, RequestId, Sink, Stats, Template};

/// What the server did: `(connection, "read" | "answered", path)`, in order.
type Log = Arc<Mutex<Vec<(usize, &'static str, String)>>>;

/// The path a response answers rides in its body, so a mismatch cannot go unseen.
fn response(path: &str, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{extra}\r\n{path}", path.len()).into_bytes()
}

fn path_of(head: &[u8]) -> String {
    String::from_utf8_lossy(head).split(' ').nth(1).unwrap().to_owned()
}

/// How a connection after the first answer ends: after answering `k` of the next `depth`
/// requests it does `end`.
#[derive(Clone, Copy)]
enum End {
    /// Answers everything, reading `depth` requests before answering them together.
    Never,
    /// Closes (FIN).
    Close,
    /// Its k-th answer says `Connection: close`, then it closes.
    SaysClose,
    /// Resets (RST).
    Reset,
    /// Never answers the (k+1)-th request; keeps the connection open.
    Stall,
}

/// A server whose first connection answers its first request, then reads `depth`
/// requests before answering any, answers `k` of them and ends as `end` says; later
/// connections answer every request as it comes.
fn server(depth: usize, k: usize, end: End) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let writer = Arc::clone(&log);
    let (addr, _) = scripted_server(move |mut s: TcpStream, conn| {
        let note = |what, path: &str| writer.lock().unwrap().push((conn, what, path.to_owned()));
        let mut first = true;
        loop {
            let Some(head) = read_request(&mut s) else { return };
            let path = path_of(&head);
            note("read", &path);
            if first || conn > 0 {
                first = false;
                note("answered", &path);
                if s.write_all(&response(&path, "")).is_err() {
                    return;
                }
                continue;
            }
            // The pipelined batch: `depth` requests before any answer. A client that
            // does not pipeline leaves this read waiting: the timeout turns that into
            // a short batch, which the tests see.
            let mut batch = vec![path];
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            while batch.len() < depth {
                let Some(head) = read_request(&mut s) else { break };
                let path = path_of(&head);
                note("read", &path);
                batch.push(path);
            }
            s.set_read_timeout(None).unwrap();
            let answered = match end {
                End::Never => batch.len(),
                _ => k,
            };
            let mut out = Vec::new();
            for (i, path) in batch.iter().take(answered).enumerate() {
                let last = i + 1 == answered;
                let extra = if last && matches!(end, End::SaysClose) { "Connection: close\r\n" } else { "" };
                out.extend(response(path, extra));
                note("answered", path);
            }
            if s.write_all(&out).is_err() {
                return;
            }
            match end {
                End::Never => {}
                End::Close | End::SaysClose => return,
                End::Reset => return reset(s),
                End::Stall => {
                    // Holds the connection until the client gives up on it.
                    let _ = read_request(&mut s);
                    return;
                }
            }
        }
    });
    (addr, log)
}

/// Every outcome, with the body it got, in input order.
#[derive(Default)]
struct Bodies {
    ends: Vec<(RequestId, String, Result<String, String>)>,
    bodies: HashMap<RequestId, Vec<u8>>,
}

impl Sink for Bodies {
    fn outcome(&mut self, o: &Outcome<'_>) {
        let body = String::from_utf8(self.bodies.remove(&o.index).unwrap_or_default()).unwrap();
        let result = match &o.result {
            Ok(_) => Ok(body),
            Err(e) => Err(e.kind.as_str().to_owned()),
        };
        self.ends.push((o.index, o.url.to_owned(), result));
    }
    fn body(&mut self, index: RequestId, chunk: &[u8]) {
        self.bodies.entry(index).or_default().extend_from_slice(chunk);
    }
}

/// Each request's path (without the slash) and its body, or its error kind.
type Ends = Vec<(String, Result<String, String>)>;

fn run(config: Config, addr: SocketAddr, paths: &[&str]) -> (Ends, Stats) {
    run_with(config, addr, paths, &Template::default())
}

/// [`run`], each request sent with `template`.
fn run_with(config: Config, addr: SocketAddr, paths: &[&str], template: &Template) -> (Ends, Stats) {
    let urls = paths.iter().map(|p| template.request(format!("http://{addr}{p}")));
    let (sink, stats) = client::fetch(config, urls, Bodies::default()).expect("client runs");
    let mut ends = sink.ends;
    assert_eq!(ends.len(), paths.len(), "one outcome per request");
    ends.sort_by_key(|e| e.0);
    (ends.into_iter().map(|(_, url, r)| (url.rsplit('/').next().unwrap().to_owned(), r)).collect(), stats)
}

fn config(concurrency: usize, depth: usize) -> Config {
    Config { concurrency, pipeline: depth, timeout: Some(Duration::from_secs(20)), ..Config::default() }
}

/// Each path's count of `what` in the log.
fn counts(log: &Log, what: &str) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for (_, w, path) in log.lock().unwrap().iter() {
        if *w == what {
            *n.entry(path.trim_start_matches('/').to_owned()).or_default() += 1;
        }
    }
    n
}

const PATHS: [&str; 5] = ["/p0", "/p1", "/p2", "/p3", "/p4"];

/// Every request succeeded with its own body.
fn all_answered_in_order(ends: &Ends) {
    for (path, result) in ends {
        assert_eq!(result.as_deref(), Ok(format!("/{path}").as_str()), "{path}: its own response");
    }
}

#[test]
fn responses_match_requests_in_order_and_the_depth_is_used() {
    let (addr, log) = server(4, 0, End::Never);
    let paths: Vec<String> = (0..13).map(|i| format!("/r{i}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let (ends, stats) = run(config(4, 4), addr, &paths);
    all_answered_in_order(&ends);
    // One connection: ⌈4 / 4⌉ per origin. The server read 4 requests before answering
    // any, three times over, or its batches would have been cut short by its timeout.
    let log = log.lock().unwrap();
    assert!(log.iter().all(|(conn, ..)| *conn == 0), "one connection: {log:?}");
    let mut batch = 0;
    let mut batches = Vec::new();
    for (_, what, _) in log.iter().skip(2) {
        match *what {
            "read" => batch += 1,
            _ if batch > 0 => batches.push(std::mem::take(&mut batch)),
            _ => {}
        }
    }
    assert_eq!(batches, [4, 4, 4], "requests read before each batch of answers");
    assert_eq!((stats.pipelined, stats.resent, stats.connections_opened), (9, 0, 1));
}

/// The three ways a server may end a pipelined connection after answering 2 of 4: every
/// request succeeds, the 2 unanswered ones are read twice, and nothing is answered twice.
fn ended_after_two_of_four(end: End) -> Stats {
    let (addr, log) = server(4, 2, end);
    let (ends, stats) = run(config(4, 4), addr, &PATHS);
    all_answered_in_order(&ends);
    let (read, answered) = (counts(&log, "read"), counts(&log, "answered"));
    for path in ["p0", "p1", "p2"] {
        assert_eq!(read[path], 1, "{path} was answered on the first connection: sent once");
    }
    for path in ["p3", "p4"] {
        assert_eq!(read[path], 2, "{path} was unanswered: sent again exactly once");
    }
    assert!(answered.values().all(|&n| n == 1), "nothing answered twice: {answered:?}");
    stats
}

#[test]
fn a_close_after_k_of_d_sends_the_rest_again_once() {
    let stats = ended_after_two_of_four(End::Close);
    // Both were sent behind answered requests: sent again without spending a retry.
    assert_eq!((stats.retries, stats.resent), (0, 2));
}

#[test]
fn connection_close_mid_pipeline_sends_the_rest_again_once() {
    let stats = ended_after_two_of_four(End::SaysClose);
    assert_eq!((stats.retries, stats.resent), (0, 2), "the server said so: nothing failed");
}

#[test]
fn a_reset_mid_pipeline_ends_every_request_exactly_once() {
    let (addr, log) = server(4, 1, End::Reset);
    let (ends, stats) = run(config(4, 4), addr, &PATHS);
    // A reset may destroy an answer the kernel had received but we had not read: that
    // request then counts as unanswered and is sent again. Every request still ends,
    // once, with its own response.
    all_answered_in_order(&ends);
    let read = counts(&log, "read");
    for path in ["p3", "p4"] {
        assert_eq!(read[path], 2, "{path} unanswered: sent again exactly once");
    }
    assert!(stats.resent >= 1);
}

#[test]
fn a_stalled_response_times_out_alone_and_those_behind_it_go_elsewhere() {
    let (addr, log) = server(4, 0, End::Stall);
    let config = Config { head_timeout: Some(Duration::from_millis(400)), ..config(4, 4) };
    let (ends, stats) = run(config, addr, &PATHS);
    assert_eq!(ends[0].1.as_deref(), Ok("/p0"));
    assert_eq!(ends[1].1, Err("head-timeout".to_owned()), "the first of the stalled batch");
    for (path, result) in &ends[2..] {
        assert_eq!(result.as_deref(), Ok(format!("/{path}").as_str()), "{path}: sent again, answered");
    }
    assert_eq!(stats.resent, 3);
    assert_eq!(counts(&log, "read")["p1"], 1, "the timed-out request is not sent again");
}

/// Whether bytes are already waiting to be read on `s` (without waiting for any).
fn waiting(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let more = !matches!(s.peek(&mut [0u8; 1]), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    more
}

#[test]
fn an_http10_server_gets_one_request_at_a_time() {
    let early = Arc::new(Mutex::new(0usize));
    let seen = Arc::clone(&early);
    let (addr, _) = scripted_server(move |mut s: TcpStream, _| {
        while let Some(head) = read_request(&mut s) {
            // Anything already waiting behind this request was pipelined.
            if waiting(&s) {
                *seen.lock().unwrap() += 1;
            }
            let path = path_of(&head);
            let reply =
                format!("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: {}\r\n\r\n{path}", path.len());
            if s.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    });
    let paths: Vec<String> = (0..30).map(|i| format!("/h{i}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let (ends, stats) = run(config(8, 8), addr, &paths);
    all_answered_in_order(&ends);
    assert_eq!(*early.lock().unwrap(), 0, "a request arrived before the previous answer");
    assert_eq!(stats.pipelined, 0);
}

/// Loopback is a near connection (`conn::NEAR`): its pipeline is refilled only once
/// every request on it is answered, so each write carries a whole pipeline, even when
/// the server answers one request at a time. (A far one would refill at half.)
#[test]
fn a_near_connection_is_refilled_only_once_its_pipeline_is_empty() {
    // Per connection: how many requests each read found waiting, and how many arrived
    // while an earlier request was still unanswered.
    let reads = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let seen = Arc::clone(&reads);
    let (addr, _) = scripted_server(move |mut s: TcpStream, _| {
        s.set_nodelay(true).unwrap(); // each answer its own segment, not held by Nagle
        while let Some(head) = read_request(&mut s) {
            let mut batch = vec![path_of(&head)];
            while waiting(&s) {
                let Some(head) = read_request(&mut s) else { return };
                batch.push(path_of(&head));
            }
            seen.lock().unwrap().0.push(batch.len());
            // A slow server, answering one at a time: a client that refilled at half
            // would have sent more by the time the later answers go out.
            for (i, path) in batch.iter().enumerate() {
                if i > 0 {
                    std::thread::sleep(Duration::from_millis(5));
                    if waiting(&s) {
                        seen.lock().unwrap().1 += 1;
                    }
                }
                if s.write_all(&response(path, "")).is_err() {
                    return;
                }
            }
        }
    });
    let paths: Vec<String> = (0..13).map(|i| format!("/n{i}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let (ends, stats) = run(config(4, 4), addr, &paths);
    all_answered_in_order(&ends);
    let (batches, early) = &*reads.lock().unwrap();
    // The first request goes alone (the server must show it keeps connections open).
    assert_eq!(batches, &[1, 4, 4, 4], "requests read together");
    assert_eq!(*early, 0, "requests sent before the pipeline was empty");
    assert_eq!((stats.connections_opened, stats.resent), (1, 0));
}

/// Each request's time, for the test below.
#[derive(Default)]
struct Times(Vec<Result<Duration, String>>);

impl Sink for Times {
    fn outcome(&mut self, o: &Outcome<'_>) {
        self.0.push(o.result.as_ref().map(|_| o.elapsed).map_err(|e| e.to_string()));
    }
}

/// A server that writes each response on its own with Nagle's algorithm on (no
/// `TCP_NODELAY`, as std's sockets come), so that it sends the first of a pipeline and
/// holds the rest until the client acknowledges that one. With `close_after`, its first
/// connection says `Connection: close` on that many answers and closes in stages.
fn nagle_server(close_after: Option<usize>) -> SocketAddr {
    let (addr, _) = scripted_server(move |mut s: TcpStream, conn| {
        let mut answered = 0;
        while let Some(head) = read_request(&mut s) {
            answered += 1;
            let closing = conn == 0 && close_after == Some(answered);
            let extra = if closing { "Connection: close\r\n" } else { "" };
            if s.write_all(&response(&path_of(&head), extra)).is_err() {
                return;
            }
            if closing {
                // Half-close, and drain what was pipelined behind, so that no reset
                // destroys the answers in flight (RFC 9112 §9.6).
                let _ = s.shutdown(std::net::Shutdown::Write);
                while read_request(&mut s).is_some() {}
                return;
            }
        }
    });
    addr
}

/// Runs `n` GETs eight deep on one connection at a time (⌈8 / 8⌉); every one must
/// succeed. Returns how many took 40 ms or more, and the counters.
fn waits_behind_held_back(addr: SocketAddr, n: usize) -> (usize, Stats) {
    let urls = (0..n).map(|i| format!("http://{addr}/h{i}"));
    let (times, stats) = client::fetch(config(8, 8), urls, Times::default()).expect("client runs");
    let times: Vec<Duration> = times.0.into_iter().map(|t| t.expect("every request succeeds")).collect();
    assert_eq!(times.len(), n);
    (times.iter().filter(|&&t| t >= Duration::from_millis(40)).count(), stats)
}

/// The client's kernel delays the acknowledgement such a server waits for by 40 ms or
/// more: it has nothing to send until the pipeline is empty. The client sees that once
/// and from then on acknowledges at once after each write (`conn::HELD_BACK`): only the
/// pipeline that showed it waits, not every one.
#[test]
fn a_server_holding_responses_back_for_an_acknowledgement_gets_it_at_once() {
    let (waited, stats) = waits_behind_held_back(nagle_server(None), 81);
    // Without the acknowledgement nearly every pipeline waits: 79 requests of 81.
    assert!(waited <= 16, "{waited} of 81 requests waited 40 ms or more");
    assert_eq!((stats.held_back, stats.connections_opened), (1, 1));
}

/// What one connection showed holds for its origin: the connection that replaces it
/// acknowledges at once from its first write, and never waits for the delayed one.
#[test]
fn a_new_connection_to_an_origin_that_held_back_acknowledges_at_once_from_the_start() {
    let (waited, stats) = waits_behind_held_back(nagle_server(Some(41)), 81);
    assert!(waited <= 16, "{waited} of 81 requests waited 40 ms or more");
    assert_eq!((stats.held_back, stats.connections_opened), (1, 2), "{stats:?}");
}

/// Some servers read a request with one `read` and drop whatever came behind it: they
/// answer the first of a pipeline and never the rest. The request behind the answered
/// one times out (its own deadline, honestly reported); the origin is then served one
/// request per connection at a time, and requests its other connections had pipelined
/// (which wait out their own head timeouts meanwhile) go again instead of failing. And
/// no request is ever answered with another's response: until a connection's server has
/// answered a request written together with the one ahead, nothing joins its pipeline
/// in a later write (which such a server would answer in place of a dropped one).
#[test]
fn a_server_that_drops_pipelined_requests_is_sent_one_at_a_time_after_the_first_timeout() {
    // One connection, four or eight deep; and four connections pipelining at once, of
    // which only the first to time out fails (the others' dropped requests go again).
    for (concurrency, depth) in [(4, 4), (2, 8), (16, 4)] {
        let log: Log = Arc::default();
        let writer = Arc::clone(&log);
        let (addr, _) = scripted_server(move |mut s: TcpStream, conn| {
            let mut buf = [0u8; 64 * 1024];
            loop {
                // One read, one request: anything read behind it is lost.
                let n = match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let path = path_of(&buf[..n]);
                writer.lock().unwrap().push((conn, "answered", path.clone()));
                if s.write_all(&response(&path, "")).is_err() {
                    return;
                }
            }
        });
        let config = Config { head_timeout: Some(Duration::from_secs(1)), ..config(concurrency, depth) };
        let paths: Vec<String> = (0..24).map(|i| format!("/d{i}")).collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let (ends, stats) = run(config, addr, &paths);
        let timed_out: Vec<&str> = ends
            .iter()
            .filter(|(_, r)| r.as_ref().is_err_and(|e| e == "head-timeout"))
            .map(|(p, _)| p.as_str())
            .collect();
        assert_eq!(timed_out.len(), 1, "C={concurrency} D={depth}: only the first dropped one waits: {ends:?}");
        for (path, result) in ends.iter().filter(|(p, _)| p != timed_out[0]) {
            assert_eq!(result.as_deref(), Ok(format!("/{path}").as_str()), "C={concurrency} D={depth}: {path}");
        }
        assert_eq!(stats.unpipelined, 1, "{stats:?}");
        assert_eq!(counts(&log, "answered").values().sum::<usize>(), 23, "each answered once");
    }
}

/// A read that holds hundreds of pipelined responses is decoded in a loop, not by a
/// call per response: the client runs here on a thread with a small stack.
#[test]
fn hundreds_of_responses_in_one_read_take_no_stack() {
    let (addr, log) = server(500, 0, End::Never);
    let paths: Vec<String> = (0..501).map(|i| format!("/s{i}")).collect();
    let client = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        run(config(500, 500), addr, &paths)
    });
    let (ends, stats) = client.unwrap().join().expect("the client's thread");
    all_answered_in_order(&ends);
    assert_eq!((stats.pipelined, stats.connections_opened), (499, 1));
    assert_eq!(counts(&log, "answered").len(), 501);
}

#[test]
fn non_idempotent_requests_are_never_pipelined() {
    let (addr, log) = server(1, 0, End::Never);
    let post = Template::new("POST", &[] as &[(&str, &str)], b"x").unwrap();
    let (ends, stats) = run_with(config(4, 4), addr, &PATHS, &post);
    all_answered_in_order(&ends);
    assert_eq!(stats.pipelined, 0);
    assert_eq!(counts(&log, "read").values().sum::<usize>(), 5);
    // Not held to ⌈4 / 4⌉ connections, since none could be shared: 4 in flight at once.
    assert_eq!(stats.connections_opened, 4, "{stats:?}");
}

/// Keeps each outcome (`common::keep`). At the first request's outcome it keeps the
/// client's thread busy for a whole `timeout`, so the overall deadline of every request
/// admitted before then has passed when it returns; from then on it wants no new
/// request until the second one has ended.
struct SlowAtFirst {
    timeout: Duration,
    holding: bool,
    ends: Vec<Got>,
}

impl Sink for SlowAtFirst {
    fn outcome(&mut self, o: &Outcome<'_>) {
        match o.index.0 {
            0 => {
                // The client's thread is slow, not waiting for anyone: a timing shape.
                std::thread::sleep(self.timeout);
                self.holding = true;
            }
            1 => self.holding = false,
            _ => {}
        }
        self.ends.push(keep(o));
    }
    fn wants_more(&self) -> bool {
        !self.holding
    }
}

/// A connection closed in a turn leaves that turn's to-flush list (`close`), so its key,
/// taken by a new connection attempt before the end-of-turn flush, is not flushed as if
/// it were the old connection: the flush would have reset the attempt's deadline
/// (`armed = None`), and its connect timer would then have hit "a timer armed for None
/// fired in state Connecting".
///
/// The shape, in one turn, with two requests in flight and one connection per origin
/// (⌈2 / 2⌉):
/// 1. origin A's connection 0 ends q1's response (keep-alive) and takes `r`, which
///    waited in A's queue; `r` is to be written at the end of the turn, so connection 0
///    joins the to-flush list as a connection that was idle;
/// 2. q1's outcome: the sink holds the thread past `r`'s deadline (`Config::timeout`)
///    and asks for no new request yet;
/// 3. the timer phase: `r` times out at the front of connection 0, which is closed;
///    `r`'s outcome lets the sink want more;
/// 4. the end of the turn admits `b`, for origin B, whose race opens an attempt with the
///    freed key 0; then the flush.
///
/// B is a listener whose accept queue (backlog 0) is already full with one connection
/// the test made and never accepts: Linux drops the SYNs of further connects, so the
/// attempt is still connecting when its connect timer fires (the first SYN is resent
/// only after a second).
#[test]
fn a_connection_closed_in_a_turn_is_not_flushed_under_its_key_reused_by_an_attempt() {
    let (a, _) = scripted_server(|mut s: TcpStream, _| {
        // Answers the first request and keeps the connection until the client closes it.
        if let Some(head) = read_request(&mut s)
            && s.write_all(&response(&path_of(&head), "")).is_ok()
        {
            while read_request(&mut s).is_some() {}
        }
    });
    let b = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    b.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    b.listen(0).unwrap();
    let b_addr = b.local_addr().unwrap().as_socket().unwrap();
    let _queued = TcpStream::connect(b_addr).unwrap(); // fills the accept queue

    let timeout = Duration::from_millis(400);
    let connect_timeout = Duration::from_millis(50);
    let config = Config { timeout: Some(timeout), connect_timeout: Some(connect_timeout), ..config(2, 2) };
    let urls = [format!("http://{a}/q1"), format!("http://{a}/r"), format!("http://{b_addr}/b")];
    let sink = SlowAtFirst { timeout, holding: false, ends: Vec::new() };
    let (sink, stats) = client::fetch(config, urls, sink).expect("client runs");
    let mut ends = sink.ends;
    ends.sort_by_key(|g| g.index);
    assert_eq!(ends.len(), 3, "{ends:?}");
    assert_eq!(ends[0].status, Some(200), "q1: {ends:?}");
    let (kind, message) = ends[1].error.clone().expect("r times out");
    assert_eq!(kind, "timeout", "r: {message}");
    // Not "(still waiting for a connection to the server)": r was on connection 0.
    assert!(!message.contains("still"), "r timed out before joining connection 0: {message}");
    let (kind, message) = ends[2].error.clone().expect("b's connect hangs");
    assert_eq!(kind, "connect-timeout", "b: {message}");
    assert_eq!((stats.connect_attempts, stats.connections_opened, stats.pipelined), (2, 1, 0), "{stats:?}");
}
