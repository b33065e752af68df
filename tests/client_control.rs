//! The client's three levers for a program that embeds it on its own reactor: a source
//! that says "not yet" ([`Next::Later`]), a sink that says "wait" (back-pressure), and
//! [`Client::cancel`]. `fetch` builds its stdin, stdout and signal handling on them, so
//! each is checked here at the library level, with the reactor driven by the test.

mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use mio::Token;
use mio::event::Event;
use onethread::client::{Client, Config, ErrorKind, Next, Outcome, Sink, Source};
use onethread::reactor::{Context, Handler, Reactor};
use onethread::server::ServerConfig;
use onethread::timer::TimerId;

/// URLs put in by the test's own timer; `closed` ends the input.
#[derive(Default)]
struct Queue {
    urls: VecDeque<String>,
    closed: bool,
    /// How often the client asked while the queue was empty.
    later: usize,
}

#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Queue>>);

impl Source for Shared {
    fn next_request(&mut self) -> Next {
        let mut q = self.0.borrow_mut();
        match q.urls.pop_front() {
            Some(url) => Next::Request(url.into()),
            None if q.closed => Next::End,
            None => {
                q.later += 1;
                Next::Later
            }
        }
    }
}

/// Keeps (error kind, elapsed) per outcome; wants more only while `open`.
#[derive(Default)]
struct Keep {
    got: Vec<(Option<ErrorKind>, Duration)>,
    open: bool,
}

impl Sink for Keep {
    fn outcome(&mut self, o: &Outcome<'_>) {
        self.got.push((o.result.as_ref().err().map(|e| e.kind), o.elapsed));
    }

    fn wants_more(&self) -> bool {
        self.open
    }
}

const FEED: Token = Token(1 << 40);

type OnTimer = dyn FnMut(&mut Client<Shared, Keep>, &mut Context<'_>, TimerId);

/// The client plus a timer the test uses to act while the loop runs.
struct App {
    client: Client<Shared, Keep>,
    feed: TimerId,
    on_timer: Box<OnTimer>,
}

impl Handler for App {
    fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &Event) {
        self.client.ready(cx, token, event);
    }
    fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
        if token == FEED {
            (self.on_timer)(&mut self.client, cx, self.feed);
        } else {
            self.client.timer(cx, token);
        }
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

fn app(
    reactor: &mut Reactor,
    source: Shared,
    sink: Keep,
    after: Duration,
    on_timer: impl FnMut(&mut Client<Shared, Keep>, &mut Context<'_>, TimerId) + 'static,
) -> App {
    let mut cx = reactor.context();
    let config = Config { concurrency: 10, ..Config::default() };
    let client = Client::new(&mut cx, config, source, sink).unwrap();
    let feed = cx.timers.insert(FEED);
    let at = cx.refresh() + after; // after the work of making the client
    cx.timers.arm(feed, at);
    App { client, feed, on_timer: Box::new(on_timer) }
}

#[test]
fn a_source_that_has_nothing_yet_is_asked_again_and_its_url_admitted_at_once() {
    let addr = builtin_server(ServerConfig::default());
    let source = Shared::default();
    source.0.borrow_mut().urls.push_back(format!("http://{addr}/first"));
    let mut reactor = Reactor::new(64).unwrap();
    let queue = source.clone();
    let mut fed = 0;
    let mut app =
        app(&mut reactor, source.clone(), Keep { open: true, ..Keep::default() }, Duration::from_millis(300), {
            move |_client, cx, feed| {
                // The second URL arrives 300 ms into the run, the end of the input 300 ms later.
                let mut q = queue.0.borrow_mut();
                fed += 1;
                if fed == 1 {
                    q.urls.push_back(format!("http://{addr}/second"));
                } else {
                    q.closed = true;
                }
                if !q.closed {
                    cx.timers.arm(feed, cx.now + Duration::from_millis(300));
                }
            }
        });
    let started = Instant::now();
    reactor.run(&mut app).unwrap();
    let got = &app.client.sink().got;
    assert_eq!(got.len(), 2, "{:?}", got);
    assert!(got.iter().all(|(e, _)| e.is_none()), "{got:?}");
    // Admitted when it arrived, not at the start of the run: its clock starts then.
    assert!(got[1].1 < Duration::from_millis(250), "{got:?}");
    assert!(started.elapsed() >= Duration::from_millis(600), "the run waited for the end of the input");
    assert!(source.0.borrow().later > 0, "the client was told 'later' and asked again");
}

fn silent_server() -> (SocketAddr, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    (listener.local_addr().unwrap(), listener)
}

#[test]
fn cancel_ends_every_request_in_flight_once_and_takes_no_more_input() {
    let (addr, _listener) = silent_server(); // accepts (backlog) and never answers
    let source = Shared::default();
    {
        let mut q = source.0.borrow_mut();
        q.urls.extend((0..25).map(|i| format!("http://{addr}/{i}")));
        q.closed = true;
    }
    let mut reactor = Reactor::new(64).unwrap();
    let mut app = app(
        &mut reactor,
        source.clone(),
        Keep { open: true, ..Keep::default() },
        Duration::from_millis(200),
        |client, cx, _| {
            assert_eq!(client.in_flight(), 10, "all slots taken by the silent server");
            client.cancel(cx, "stopped by the test");
        },
    );
    reactor.run(&mut app).unwrap();
    let got = &app.client.sink().got;
    assert_eq!(got.len(), 10, "one outcome per admitted request, none for the rest: {got:?}");
    assert!(got.iter().all(|(e, _)| *e == Some(ErrorKind::Cancelled)), "{got:?}");
    assert_eq!(app.client.connections(), 0, "cancelled requests' connections are closed");
    assert_eq!(app.client.origins(), 0);
    assert_eq!(source.0.borrow().urls.len(), 15, "no URL taken after the stop");
}

#[test]
fn a_sink_that_says_wait_pauses_admission_and_only_admission() {
    let addr = builtin_server(ServerConfig { max_delay: Duration::from_millis(20), ..ServerConfig::default() });
    let source = Shared::default();
    {
        let mut q = source.0.borrow_mut();
        q.urls.extend((0..100).map(|i| format!("http://{addr}/{i}")));
        q.closed = true;
    }
    let mut reactor = Reactor::new(64).unwrap();
    // Admission is open for the first turn only: 10 requests go out, then the sink
    // says wait until the timer opens it again, 300 ms later.
    let mut app = app(&mut reactor, source, Keep::default(), Duration::from_millis(300), |client, _, _| {
        let sink = client.sink_mut();
        assert_eq!(sink.got.len(), 10, "requests in flight finished while admission was paused");
        sink.open = true;
    });
    app.client.sink_mut().open = true;
    app.end_of_turn(&mut reactor.context()); // the first admissions, as `run` starts
    assert_eq!(app.client.in_flight(), 10);
    app.client.sink_mut().open = false;
    reactor.run(&mut app).unwrap();
    let got = &app.client.sink().got;
    assert_eq!(got.len(), 100);
    assert!(got.iter().all(|(e, _)| e.is_none()), "{got:?}");
}
