//! The client: turns a stream of URLs into a stream of outcomes, at most `C` at a time.
//!
//! This is the scheduler the seed script builds out of `asyncio.Semaphore(1000)`,
//! `aiohttp.ClientSession` and its connector, written out by hand:
//!
//! * **Admission.** At the end of every turn of the reactor, URLs are taken from the
//!   input until `concurrency` requests are active. A request holds its slot from
//!   admission to its outcome, whether it is waiting for DNS, connecting or reading.
//! * **Dispatch.** An admitted request takes an idle keep-alive connection of its
//!   origin if there is one; otherwise it needs addresses (waiting behind the
//!   origin's one lookup if necessary) and opens a new connection. The client never
//!   holds more than `concurrency` sockets: to open one at the cap it first closes an
//!   idle connection of another origin.
//! * **Connections** are state machines in a slab (`conn.rs`); the slab key is the mio
//!   token. Each event's [`Progress`] is acted on in one place, [`Client::on_progress`].
//! * **Outcomes.** Every request ends exactly once, in [`Client::complete`], which hands
//!   an [`Outcome`] to the [`Sink`] and frees the slot.
//! * **Stale connections.** A server may close a pooled connection just as we send on
//!   it. If a reused connection fails before any byte of the response arrives, an
//!   idempotent request is retried once, on a fresh connection (RFC 9112 §9.3.1).
//!
//! Tokens: connections use their slab key; request timers, c-ares's timer and c-ares's
//! sockets live in disjoint ranges above (see the constants below), and everything
//! below [`TOKENS_END`] belongs to the client, so it can share a reactor with other
//! components such as the built-in server.

mod conn;
mod origin;
mod outcome;

use std::io;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Interest, Token};
use slab::Slab;

use crate::dns::{Answer, DnsConfig, Resolver};
use crate::http1::{self, Headers, Limits, RequestHead, ResponseDecoder};
use crate::reactor::{Context, Handler, Reactor};
use crate::timer::TimerId;
use crate::url::{Url, UrlError};
use conn::{Conn, Progress, Received, State};
use origin::Origins;
pub use outcome::{Error, ErrorKind, Outcome, Response, Sink};

/// Request timers: `REQUEST_TIMERS + request key`.
const REQUEST_TIMERS: usize = 1 << 32;
const DNS_TIMER: usize = 2 << 32;
/// c-ares sockets: `DNS_SOCKETS + fd`.
const DNS_SOCKETS: usize = 3 << 32;
/// Tokens below this belong to the client.
pub const TOKENS_END: usize = 4 << 32;

/// Size of the one read buffer shared by all connections.
const READ_BUFFER: usize = 64 * 1024;

/// How the client behaves. Every request of a run uses the same method, headers and body.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most requests in flight at once (the seed's `Semaphore(1000)`).
    pub concurrency: usize,
    /// Deadline for a whole request, from admission to the end of the body.
    pub timeout: Option<Duration>,
    /// How long an unused keep-alive connection is kept.
    pub idle_timeout: Duration,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub limits: Limits,
    pub dns: DnsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            concurrency: 1000,
            timeout: Some(Duration::from_secs(30)),
            idle_timeout: Duration::from_secs(15),
            method: "GET".into(),
            headers: Vec::new(),
            body: Vec::new(),
            limits: Limits::default(),
            dns: DnsConfig::default(),
        }
    }
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub connections_opened: u64,
    pub connections_reused: u64,
    pub dns_lookups: u64,
    /// New connections whose addresses were still valid from an earlier lookup.
    pub dns_cache_hits: u64,
    pub retries: u64,
}

/// A request between admission and outcome.
struct Active {
    index: u64,
    url: Url,
    origin: usize,
    started: Instant,
    timer: TimerId,
    /// Already retried once after a stale pooled connection.
    retried: bool,
    /// The connection carrying it, if any (else it is waiting for DNS).
    conn: Option<usize>,
    received: Received,
}

pub struct Client<I, S> {
    config: Config,
    idempotent: bool,
    urls: I,
    urls_done: bool,
    next_index: u64,
    sink: S,
    requests: Slab<Active>,
    conns: Slab<Conn>,
    origins: Origins,
    resolver: Resolver,
    read_buf: Box<[u8]>,
    answers: Vec<Answer>,
    /// The request being encoded; copied into the connection that sends it.
    request_buf: Vec<u8>,
    /// Header buffers of finished requests, kept so the next ones need not allocate.
    spare_heads: Vec<Vec<u8>>,
    stats: Stats,
}

/// Runs `urls` to completion on a reactor of its own and returns the sink and counters.
pub fn fetch<I, S>(config: Config, urls: I, sink: S) -> io::Result<(S, Stats)>
where
    I: IntoIterator<Item = String>,
    S: Sink,
{
    let mut reactor = Reactor::new(1024)?;
    let mut client = Client::new(&mut reactor.context(), config, urls.into_iter(), sink)?;
    reactor.run(&mut client)?;
    Ok((client.sink, client.stats))
}

impl<I: Iterator<Item = String>, S: Sink> Client<I, S> {
    /// Fails only for a bad configuration (invalid method or header) or if c-ares
    /// cannot start.
    pub fn new(cx: &mut Context<'_>, config: Config, urls: I, sink: S) -> io::Result<Self> {
        if config.concurrency == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "concurrency must be at least 1"));
        }
        encode(&mut Vec::new(), &config, "/", "example").map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let resolver = Resolver::new(cx, &config.dns, DNS_SOCKETS, Token(DNS_TIMER))?;
        Ok(Client {
            idempotent: http1::is_idempotent(&config.method),
            config,
            urls,
            urls_done: false,
            next_index: 0,
            sink,
            requests: Slab::new(),
            conns: Slab::new(),
            origins: Origins::default(),
            resolver,
            read_buf: vec![0; READ_BUFFER].into_boxed_slice(),
            answers: Vec::new(),
            request_buf: Vec::new(),
            spare_heads: Vec::new(),
            stats: Stats::default(),
        })
    }

    pub fn owns(token: Token) -> bool {
        token.0 < TOKENS_END
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    pub fn into_sink(self) -> S {
        self.sink
    }

    /// Requests admitted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Open sockets to servers (busy and idle).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    // ---- admission and dispatch -------------------------------------------------

    fn admit_more(&mut self, cx: &mut Context<'_>) {
        // Bounded per turn, so a long run of invalid URLs (which take no slot) cannot
        // keep the loop from serving its sockets.
        let mut budget = self.config.concurrency;
        while !self.urls_done && self.requests.len() < self.config.concurrency && budget > 0 {
            budget -= 1;
            match self.urls.next() {
                Some(url) => self.admit(cx, &url),
                None => self.urls_done = true,
            }
        }
    }

    fn admit(&mut self, cx: &mut Context<'_>, text: &str) {
        let index = self.next_index;
        self.next_index += 1;
        self.stats.requests += 1;
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(e) => {
                let kind = match e {
                    UrlError::Invalid(_) => ErrorKind::InvalidUrl,
                    UrlError::UnsupportedScheme(_) => ErrorKind::UnsupportedScheme,
                };
                let error = Error::new(kind, e.to_string());
                let outcome = Outcome { index, url: text.trim(), result: Err(&error), elapsed: Duration::ZERO };
                self.sink.outcome(&outcome);
                return;
            }
        };
        let origin = self.origins.find_or_insert(&url);
        let entry = self.requests.vacant_entry();
        let key = entry.key();
        let timer = cx.timers.insert(Token(REQUEST_TIMERS + key));
        if let Some(timeout) = self.config.timeout {
            cx.timers.arm(timer, cx.now + timeout);
        }
        let head = self.spare_heads.pop().unwrap_or_default();
        entry.insert(Active {
            index,
            url,
            origin,
            started: Instant::now(),
            timer,
            retried: false,
            conn: None,
            received: Received { index, head, ..Received::default() },
        });
        self.dispatch(cx, key, false);
    }

    /// Puts a request on a connection, or behind its origin's lookup. `answered` says
    /// the request was waiting for a lookup that has just finished.
    fn dispatch(&mut self, cx: &mut Context<'_>, req: usize, answered: bool) {
        let o = self.requests[req].origin;
        if !self.requests[req].retried
            && let Some(conn) = self.origins[o].idle.pop()
        {
            if !self.encode(cx, req) {
                self.origins[o].idle.push(conn);
                return;
            }
            self.stats.connections_reused += 1;
            cx.timers.cancel(self.conns[conn].timer);
            self.requests[req].conn = Some(conn);
            self.conns[conn].load_request(&self.config.method, &self.request_buf);
            let progress = self.conns[conn].send(req);
            self.on_progress(cx, conn, progress);
            return;
        }
        let origin = &mut self.origins[o];
        if !origin.has_addrs(cx.now) {
            origin.waiting.push(req);
            if !origin.resolving {
                origin.resolving = true;
                self.stats.dns_lookups += 1;
                self.resolver.lookup(cx, &origin.host, o);
            }
            return;
        }
        if origin.expires.is_some() && !answered {
            self.stats.dns_cache_hits += 1;
        }
        let first = origin.preferred % origin.addrs.len();
        if !self.encode(cx, req) {
            return;
        }
        if self.conns.len() >= self.config.concurrency
            && let Some(other) = self.origins.any_with_idle()
        {
            let oldest = self.origins[other].idle.remove(0);
            self.close(cx, oldest);
        }
        self.open(cx, req, first, first);
    }

    /// Opens a connection for `req` to address `current` of its origin.
    fn open(&mut self, cx: &mut Context<'_>, req: usize, first: usize, current: usize) {
        let o = self.requests[req].origin;
        let addr = self.origins[o].addrs[current];
        let registered = conn::connect(addr).and_then(|mut stream| {
            let key = self.conns.vacant_key();
            cx.registry.register(&mut stream, Token(key), Interest::READABLE | Interest::WRITABLE)?;
            Ok(stream)
        });
        match registered {
            Ok(stream) => {
                let timer = cx.timers.insert(Token(self.conns.vacant_key()));
                let state = State::Connecting { req, first, current };
                let decoder = ResponseDecoder::new(self.config.limits);
                let mut conn = Conn::new(stream, o, state, timer, decoder);
                conn.load_request(&self.config.method, &self.request_buf);
                self.requests[req].conn = Some(self.conns.insert(conn));
                self.stats.connections_opened += 1;
            }
            Err(e) => self.connect_failed(cx, req, first, current, e),
        }
    }

    /// Tries the origin's next address, or gives up once all were tried.
    fn connect_failed(&mut self, cx: &mut Context<'_>, req: usize, first: usize, current: usize, e: io::Error) {
        let addrs = &self.origins[self.requests[req].origin].addrs;
        // A new DNS answer may have replaced the list since this attempt began.
        let Some(&failed) = addrs.get(current) else {
            return self.complete(cx, req, Err(Error::new(ErrorKind::Connect, format!("connect: {e}"))));
        };
        let next = (current + 1) % addrs.len();
        if next != first && first < addrs.len() {
            self.open(cx, req, first, next);
        } else {
            let tried =
                if addrs.len() > 1 { format!(" (all {} addresses failed)", addrs.len()) } else { String::new() };
            self.complete(cx, req, Err(Error::new(ErrorKind::Connect, format!("connect to {failed}: {e}{tried}"))));
        }
    }

    /// Encodes `req` into `request_buf`, or completes it with the reason it cannot be sent.
    fn encode(&mut self, cx: &mut Context<'_>, req: usize) -> bool {
        self.request_buf.clear();
        let url = &self.requests[req].url;
        match encode(&mut self.request_buf, &self.config, &url.target(), url.authority()) {
            Ok(()) => true,
            Err(e) => {
                // Unreachable for URLs that parsed, but a bad request is that request's error.
                self.complete(cx, req, Err(Error::new(ErrorKind::InvalidUrl, e.to_string())));
                false
            }
        }
    }

    // ---- events -----------------------------------------------------------------

    fn on_conn_event(&mut self, cx: &mut Context<'_>, key: usize, event: &Event) {
        // An event may name a connection closed earlier in this turn; a new one may
        // even have its key by now. Every state treats a spurious event as "wait".
        let Some(conn) = self.conns.get_mut(key) else { return };
        let received = match conn.state {
            State::Connecting { req, .. } | State::Sending { req } | State::Receiving { req } => {
                Some(&mut self.requests[req].received)
            }
            State::Idle => None,
        };
        let before = conn.state;
        let progress = conn.on_event(event, &mut self.read_buf, received, &mut self.sink);
        if let (State::Connecting { current, .. }, false) = (before, matches!(conn.state, State::Connecting { .. })) {
            self.origins[conn.origin].preferred = current;
        }
        self.on_progress(cx, key, progress);
    }

    /// Acts on what a connection reported: the client's half of the state machine.
    fn on_progress(&mut self, cx: &mut Context<'_>, key: usize, progress: Progress) {
        match progress {
            Progress::Wait => {}
            Progress::Done { keep_alive } => {
                let conn = &mut self.conns[key];
                let req = request_of(conn.state);
                conn.served += 1;
                if keep_alive {
                    conn.state = State::Idle;
                    cx.timers.arm(conn.timer, cx.now + self.config.idle_timeout);
                    self.origins[conn.origin].idle.push(key);
                    self.requests[req].conn = None;
                } else {
                    self.close(cx, key);
                }
                self.complete(cx, req, Ok(()));
            }
            Progress::ConnectFailed(e) => {
                let State::Connecting { req, first, current } = self.conns[key].state else {
                    unreachable!("only a connecting socket fails to connect")
                };
                self.close(cx, key);
                self.connect_failed(cx, req, first, current, e);
            }
            Progress::Failed { error, unanswered } => {
                let reused = self.conns[key].served > 0;
                let req = request_of(self.conns[key].state);
                self.close(cx, key);
                let active = &mut self.requests[req];
                if unanswered && reused && self.idempotent && !active.retried {
                    active.retried = true;
                    self.stats.retries += 1;
                    self.dispatch(cx, req, false);
                } else {
                    self.complete(cx, req, Err(error));
                }
            }
            Progress::IdleClosed => {
                self.origins[self.conns[key].origin].remove_idle(key);
                self.close(cx, key);
            }
        }
    }

    fn on_answers(&mut self, cx: &mut Context<'_>) {
        let mut answers = std::mem::take(&mut self.answers);
        for answer in answers.drain(..) {
            let origin = &mut self.origins[answer.key];
            origin.resolving = false;
            let waiting = std::mem::take(&mut origin.waiting);
            match answer.result {
                Ok(resolved) => {
                    origin.set_addrs(resolved.addrs.iter().map(|a| a.ip()), cx.now + resolved.ttl);
                    for req in waiting {
                        self.dispatch(cx, req, true);
                    }
                }
                Err(message) => {
                    for req in waiting {
                        self.complete(cx, req, Err(Error::new(ErrorKind::Dns, message.clone())));
                    }
                }
            }
        }
        self.answers = answers;
    }

    fn on_request_timeout(&mut self, cx: &mut Context<'_>, req: usize) {
        let Some(active) = self.requests.get(req) else { return };
        match active.conn {
            Some(conn) => self.close(cx, conn),
            None => self.origins[active.origin].waiting.retain(|&r| r != req),
        }
        let message = format!("no complete response within {:?}", self.config.timeout.unwrap_or_default());
        self.complete(cx, req, Err(Error::new(ErrorKind::Timeout, message)));
    }

    fn on_idle_timeout(&mut self, cx: &mut Context<'_>, key: usize) {
        if let Some(conn) = self.conns.get(key)
            && conn.state == State::Idle
        {
            self.origins[conn.origin].remove_idle(key);
            self.close(cx, key);
        }
    }

    // ---- endings ----------------------------------------------------------------

    /// Closes a connection. Closing the socket also removes it from epoll, so no
    /// `deregister` call is needed.
    fn close(&mut self, cx: &mut Context<'_>, key: usize) {
        let conn = self.conns.remove(key);
        cx.timers.remove(conn.timer);
        if let State::Connecting { req, .. } | State::Sending { req } | State::Receiving { req } = conn.state
            && let Some(active) = self.requests.get_mut(req)
            && active.conn == Some(key)
        {
            active.conn = None;
        }
    }

    /// The one place a request ends.
    fn complete(&mut self, cx: &mut Context<'_>, req: usize, result: Result<(), Error>) {
        let mut active = self.requests.remove(req);
        cx.timers.remove(active.timer);
        let r = &active.received;
        let response = match &result {
            Ok(()) => Ok(Response {
                version: r.version.expect("a complete response has a head"),
                status: r.status,
                headers: Headers::new(&r.head),
                body_len: r.body_len,
            }),
            Err(e) => Err(e),
        };
        let outcome = Outcome {
            index: active.index,
            url: active.url.as_str(),
            result: response,
            elapsed: active.started.elapsed(),
        };
        self.sink.outcome(&outcome);
        active.received.head.clear();
        self.spare_heads.push(active.received.head);
    }
}

fn request_of(state: State) -> usize {
    match state {
        State::Connecting { req, .. } | State::Sending { req } | State::Receiving { req } => req,
        State::Idle => unreachable!("an idle connection carries no request"),
    }
}

fn encode(buf: &mut Vec<u8>, config: &Config, target: &str, host: &str) -> Result<(), http1::EncodeError> {
    let headers: Vec<(&str, &str)> = config.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    http1::encode_request(buf, &RequestHead { method: &config.method, target, host, headers: &headers }, &config.body)
}

impl<I: Iterator<Item = String>, S: Sink> Handler for Client<I, S> {
    fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &Event) {
        if token.0 >= DNS_SOCKETS {
            self.resolver.ready(cx, token, event);
        } else {
            self.on_conn_event(cx, token.0, event);
        }
    }

    fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
        match token.0 {
            DNS_TIMER => self.resolver.timer_fired(cx),
            t if t >= REQUEST_TIMERS => self.on_request_timeout(cx, t - REQUEST_TIMERS),
            t => self.on_idle_timeout(cx, t),
        }
    }

    fn end_of_turn(&mut self, cx: &mut Context<'_>) {
        // Admitting may start lookups that c-ares answers at once (hosts file,
        // cache), and answers may free slots; go round until nothing changes.
        loop {
            self.admit_more(cx);
            self.resolver.take_answers(&mut self.answers);
            if self.answers.is_empty() {
                break;
            }
            self.on_answers(cx);
        }
    }

    fn is_done(&self) -> bool {
        self.urls_done && self.requests.is_empty()
    }
}
