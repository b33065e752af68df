//! What a program embedding the client hears, and what it can add while the client
//! runs: each request's events arrive in order — its final response's head, then its
//! body, then exactly one outcome — and requests submitted through a [`Submitter`] at
//! any time (from the sink itself, from a timer, after a cancel) each get their outcome.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use common::*;
use mio::Token;
use mio::event::Event;
use onethread::client::{
    self, Client, Config, ErrorKind, Hold, Options, Outcome, Request, RequestId, Sink, Submitter, Template,
};
use onethread::http1::Head;
use onethread::reactor::{Context, Handler, Reactor};
use onethread::server::ServerConfig;
use onethread::timer::TimerId;

/// Every event, per request, in the order it came.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    Head(u16),
    Body(Vec<u8>),
    End(Result<u16, ErrorKind>),
}

/// Records events; submits `follow(index)` for every outcome, if it says so.
#[derive(Default)]
struct Log {
    heard: BTreeMap<u64, Vec<Heard>>,
    submitter: Option<Submitter>,
    follow: Option<Box<dyn FnMut(u64) -> Option<String>>>,
}

impl Sink for Log {
    fn head(&mut self, index: RequestId, head: &Head<'_>) {
        self.heard.entry(index.0).or_default().push(Heard::Head(head.status));
    }
    fn body(&mut self, index: RequestId, piece: &[u8]) {
        self.heard.entry(index.0).or_default().push(Heard::Body(piece.to_vec()));
    }
    fn outcome(&mut self, o: &Outcome<'_>) {
        let end = o.result.as_ref().map(|r| r.status).map_err(|e| e.kind);
        self.heard.entry(o.index.0).or_default().push(Heard::End(end));
        if let (Some(submitter), Some(follow)) = (&self.submitter, &mut self.follow)
            && let Some(url) = follow(o.index.0)
        {
            submitter.submit(url);
        }
    }
}

fn config() -> Config {
    Config { concurrency: 4, timeout: Some(Duration::from_secs(10)), ..Config::default() }
}

/// Answers `/moved` with a 302 to `/final` (with a body of its own), anything else
/// with a chunked body in two pieces.
fn redirecting(s: std::net::TcpStream, _: usize) {
    let moved = b"HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 5\r\n\r\nmoved";
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n1\r\n!\r\n0\r\n\r\n";
    answer_by_prefix(s, b"GET /moved ", moved, chunked);
}

#[test]
fn the_final_head_comes_once_before_the_body_and_one_end_after_it() {
    let (addr, _) = scripted_server(redirecting);
    let urls = vec![format!("http://{addr}/moved"), format!("http://{addr}/plain"), "http://[::1/".to_owned()];
    let config = Config { max_redirects: Some(3), ..config() };
    let (log, stats) = client::fetch(config, urls, Log::default()).unwrap();
    assert_eq!(stats.redirects, 1);
    let hello =
        || vec![Heard::Head(200), Heard::Body(b"Hello".to_vec()), Heard::Body(b"!".to_vec()), Heard::End(Ok(200))];
    // The 302's head and body are withheld: the sink hears of the final response only.
    assert_eq!(log.heard[&0], hello());
    assert_eq!(log.heard[&1], hello());
    assert_eq!(log.heard[&2], [Heard::End(Err(ErrorKind::InvalidUrl))], "no head without a response");
}

#[test]
fn a_sink_submits_follow_ups_while_the_client_runs_and_each_ends_once() {
    let addr = builtin_server(ServerConfig::default());
    let mut reactor = Reactor::new(256).unwrap();
    let submitter = Submitter::new();
    // Each outcome below 300 submits one more request; the source has 10.
    let next = submitter.clone();
    let follow = move |index: u64| (index < 300).then(|| format!("http://{addr}/{}", index + 1000));
    let log = Log { submitter: Some(next), follow: Some(Box::new(follow)), ..Log::default() };
    let urls = (0..10).map(|i| format!("http://{addr}/{i}")).collect::<Vec<_>>().into_iter();
    let options = Options { submitter: Some(submitter.clone()), ..Options::default() };
    let mut client = Client::with_options(&mut reactor.context(), config(), urls, log, options).unwrap();
    reactor.run(&mut client).unwrap();
    let heard = &client.sink().heard;
    // 10 from the source, and one follow-up for each of the indexes 0..300 (indexes
    // are shared: the follow-ups take 10, 11, …).
    assert_eq!(heard.len(), 310, "every request, from the source or submitted, ended");
    assert_eq!(*heard.keys().last().unwrap(), 309, "indexes are dense");
    for (index, events) in heard {
        let ends = events.iter().filter(|e| matches!(e, Heard::End(_))).count();
        assert_eq!(ends, 1, "request {index}: {events:?}");
        assert_eq!(events.first(), Some(&Heard::Head(200)), "request {index}: head first");
        assert_eq!(events.last(), Some(&Heard::End(Ok(200))), "request {index}: end last");
    }
    assert_eq!(client.stats().requests, 310);
    assert_eq!(submitter.pending(), 0);
}

#[test]
fn a_submitter_feeds_one_client_only() {
    let mut reactor = Reactor::new(16).unwrap();
    let submitter = Submitter::new();
    let client = |reactor: &mut Reactor| {
        let options = Options { submitter: Some(submitter.clone()), ..Options::default() };
        Client::with_options(
            &mut reactor.context(),
            config(),
            Vec::<String>::new().into_iter(),
            Log::default(),
            options,
        )
    };
    let first = client(&mut reactor);
    assert!(first.is_ok());
    let second = client(&mut reactor);
    assert!(
        matches!(second, Err(client::ClientError::SubmitterInUse)),
        "two clients draining one queue would split it silently"
    );
}

const LATER: Token = Token(1 << 40);

type Run = Client<std::vec::IntoIter<String>, Log>;
/// Called at each tick with its number (from 1); `true` asks for another.
type OnTimer = dyn FnMut(&mut Run, &mut Context<'_>, usize) -> bool;

/// The client, and a timer at which the test submits, cancels or lets go.
struct App {
    client: Run,
    timer: TimerId,
    step: usize,
    on_timer: Box<OnTimer>,
    /// A hold that keeps the client open until the first timer (when the test's own
    /// steps take theirs).
    keep: Option<Hold>,
}

impl Handler for App {
    fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &Event) {
        self.client.ready(cx, token, event);
    }
    fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
        if token == LATER {
            self.step += 1;
            if (self.on_timer)(&mut self.client, cx, self.step) {
                cx.timers.arm(self.timer, cx.now + Duration::from_millis(100));
            }
        } else {
            self.client.timer(cx, token);
        }
        self.keep = None;
    }
    fn end_of_turn(&mut self, cx: &mut Context<'_>) {
        self.client.end_of_turn(cx);
    }
    fn is_done(&self) -> bool {
        self.client.is_done()
    }
    fn has_work_left(&self) -> bool {
        self.client.has_work_left()
    }
}

fn app(reactor: &mut Reactor, on_timer: impl FnMut(&mut Run, &mut Context<'_>, usize) -> bool + 'static) -> App {
    let mut cx = reactor.context();
    let client = Client::new(&mut cx, config(), Vec::<String>::new().into_iter(), Log::default()).unwrap();
    let timer = cx.timers.insert(LATER);
    let at = cx.refresh() + Duration::from_millis(100);
    cx.timers.arm(timer, at);
    App { client, timer, step: 0, on_timer: Box::new(on_timer), keep: None }
}

#[test]
fn a_hold_keeps_an_idle_client_running_until_its_producer_lets_go() {
    let addr = builtin_server(ServerConfig::default());
    let mut reactor = Reactor::new(64).unwrap();
    let mut hold: Option<Hold> = None;
    let mut app = app(&mut reactor, move |client, _, step| {
        // Three submissions 100 ms apart, with nothing in flight in between; the hold is
        // let go with the last, which keeps the client running until it ends.
        client.submitter().submit(format!("http://{addr}/{step}"));
        hold.get_or_insert_with(|| client.submitter().hold());
        if step == 3 {
            drop(hold.take());
        }
        step < 3
    });
    app.client.end_of_turn(&mut reactor.context()); // as `run` starts: the source ends
    assert!(app.client.is_done(), "an empty source and an empty queue: nothing to wait for");
    // The first step takes the hold before the run could end: arm it for now.
    let keep = app.client.submitter().hold();
    assert!(!app.client.is_done(), "a hold keeps it running");
    let started = std::time::Instant::now();
    app.keep = Some(keep);
    reactor.run(&mut app).unwrap();
    let heard = &app.client.sink().heard;
    assert_eq!(heard.len(), 3, "{heard:?}");
    assert!(heard.values().all(|e| e.last() == Some(&Heard::End(Ok(200)))), "{heard:?}");
    assert!(started.elapsed() >= Duration::from_millis(300), "the run waited for the last submission");
}

#[test]
fn cancel_ends_what_was_submitted_and_what_is_submitted_afterwards() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap(); // never answers
    let addr = listener.local_addr().unwrap();
    let mut reactor = Reactor::new(64).unwrap();
    let hold = std::cell::RefCell::new(None);
    let app = app(&mut reactor, move |client, cx, step| {
        let submitter = client.submitter();
        match step {
            1 => {
                // 6 requests: 4 take the slots, 2 wait in the queue.
                for i in 0..6 {
                    submitter.submit(format!("http://{addr}/{i}"));
                }
                *hold.borrow_mut() = Some(submitter.hold());
                true
            }
            _ => {
                assert_eq!((client.in_flight(), submitter.pending()), (4, 2));
                client.cancel(cx, "stopped by the test");
                submitter.submit(format!("http://{addr}/late"));
                // The hold is kept: after a cancel it does not keep the client running.
                assert!(hold.borrow().is_some());
                false
            }
        }
    });
    let mut app = app;
    app.keep = Some(app.client.submitter().hold());
    reactor.run(&mut app).unwrap();
    let heard = &app.client.sink().heard;
    assert_eq!(heard.len(), 7, "every submission has its outcome: {heard:?}");
    assert!(heard.values().all(|e| e == &[Heard::End(Err(ErrorKind::Cancelled))]), "{heard:?}");
    drop(listener);
}

/// Answers each request with what it got: `METHOD PATH x-tag=… body=…`.
fn echo(mut s: std::net::TcpStream, _: usize) {
    use std::io::Read;
    while let Some(head) = read_request(&mut s) {
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut words = head.split(' ');
        let (method, path) = (words.next().unwrap().to_owned(), words.next().unwrap().to_owned());
        let field = |name: &str| field(&head, name);
        let mut body = vec![0; field("content-length").map_or(0, |n| n.parse().unwrap())];
        s.read_exact(&mut body).unwrap();
        let text = format!(
            "{method} {path} x-tag={} body={}",
            field("x-tag").unwrap_or_default(),
            String::from_utf8_lossy(&body)
        );
        let response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}", text.len());
        if s.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn requests_carry_their_own_method_fields_and_body_through_one_client() {
    let (addr, accepted) = scripted_server(echo);
    let post = Template::new("POST", &[("X-Tag", "p")], b"a=1").unwrap();
    let put = Template::new("PUT", &[("X-Tag", "u")], b"{}").unwrap();
    let tagged = Template::new("GET", &[("X-Tag", "g")], b"").unwrap();
    let url = |path: &str| format!("http://{addr}{path}");
    let requests = vec![
        Request::get(url("/plain")),
        post.request(url("/form")),
        tagged.request(url("/tagged")),
        put.request(url("/doc")),
        post.request(url("/form2")),
        Request::from(url("/plain2")),
    ];
    let expected = [
        "GET /plain x-tag= body=",
        "POST /form x-tag=p body=a=1",
        "GET /tagged x-tag=g body=",
        "PUT /doc x-tag=u body={}",
        "POST /form2 x-tag=p body=a=1",
        "GET /plain2 x-tag= body=",
    ];
    // Pipelining on: the GETs may share a connection, the others go alone.
    let config = Config { concurrency: 3, pipeline: 4, ..config() };
    let (log, _) = client::fetch(config, requests, Log::default()).unwrap();
    for (index, want) in expected.iter().enumerate() {
        let events = &log.heard[&(index as u64)];
        let body: Vec<u8> = events
            .iter()
            .filter_map(|e| if let Heard::Body(b) = e { Some(b.clone()) } else { None })
            .flatten()
            .collect();
        assert_eq!(String::from_utf8(body).unwrap(), *want, "request {index}: {events:?}");
        assert_eq!(events.last(), Some(&Heard::End(Ok(200))));
    }
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) <= 3);
}

#[test]
fn a_bad_template_is_a_typed_error_at_once() {
    use onethread::http1::EncodeError;
    let err = Template::new("GET", &[("Content-Length", "5")], b"").unwrap_err();
    assert!(matches!(err, EncodeError::ReservedHeader { index: 0, .. }), "{err:?}");
    let err = Template::new("GE T", &[] as &[(&str, &str)], b"").unwrap_err();
    assert!(matches!(err, EncodeError::Method { byte: Some(b' ') }), "{err:?}");
    assert!(Template::new("GET", &[("Host", "bad host")], b"").is_err(), "a Host value must be one");
    let zero = Config { concurrency: 0, ..config() };
    let e =
        Client::new(&mut Reactor::new(4).unwrap().context(), zero, Vec::<String>::new().into_iter(), Log::default());
    assert!(matches!(e, Err(client::ClientError::NoConcurrency)));
}

#[test]
fn a_refused_connect_keeps_the_systems_error_as_its_source() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut errno = None;
    let sink = |o: &Outcome<'_>| {
        let e = o.result.as_ref().expect_err("nothing listens there");
        assert_eq!(e.kind, ErrorKind::Connect);
        let io = std::error::Error::source(*e).and_then(|s| s.downcast_ref::<std::io::Error>());
        errno = io.and_then(std::io::Error::raw_os_error);
    };
    let _ = client::fetch(config(), [format!("http://{closed}/")], sink).unwrap();
    assert_eq!(errno, Some(libc::ECONNREFUSED));
}
