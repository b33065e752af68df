//! Admission and dispatch: how a URL becomes a request on a connection.
//!
//! `admit` takes a slot and parses the URL; `dispatch` decides where the request goes:
//! an idle connection of its origin, the origin's lookup, a new socket, or — when the
//! system has no descriptors or ports left — the back-off queue. Next: `events.rs`,
//! which reacts to what happens on the connections.

use std::io;
use std::time::{Duration, Instant};

use mio::{Interest, Token};

use super::conn::{self, Conn, Phase, Received, State};
use super::{Active, Client, Config, Error, ErrorKind, Outcome, Place, REQUEST_TIMERS, Sink};
use crate::http1::{self, RequestHead, ResponseDecoder};
use crate::reactor::Context;
use crate::url::{Url, UrlError};

/// First wait before retrying when sockets cannot be created; doubles up to `MAX_BACKOFF`.
pub(super) const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl<I: Iterator<Item = String>, S: Sink> Client<I, S> {
    pub(super) fn admit_more(&mut self, cx: &mut Context<'_>) {
        // Bounded per turn, so a long run of invalid URLs (which take no slot) cannot
        // keep the loop from serving its sockets.
        let mut budget = self.config.concurrency;
        while !self.urls_done && self.requests.len() < self.config.concurrency && budget > 0 {
            budget -= 1;
            match self.urls.next() {
                Some(url) => self.admit(cx, url),
                None => self.urls_done = true,
            }
        }
    }

    fn admit(&mut self, cx: &mut Context<'_>, text: String) {
        let index = self.next_index;
        self.next_index += 1;
        self.stats.requests += 1;
        let url = match Url::from_string(text) {
            Ok(url) => url,
            Err((e, text)) => {
                let kind = match e {
                    UrlError::Invalid(_) => ErrorKind::InvalidUrl,
                    UrlError::UnsupportedScheme(_) => ErrorKind::UnsupportedScheme,
                };
                let error = Error::new(kind, e.to_string());
                let outcome = Outcome { index, url: &text, result: Err(&error), elapsed: Duration::ZERO };
                self.sink.outcome(&outcome);
                return;
            }
        };
        let origin = self.origins.find_or_insert(&url);
        let entry = self.requests.vacant_entry();
        let key = entry.key();
        let timer = cx.timers.insert(Token(REQUEST_TIMERS + key));
        let deadline = self.config.timeout.map(|t| cx.now + t);
        if let Some(deadline) = deadline {
            cx.timers.arm(timer, deadline);
        }
        let head = self.spare_heads.pop().unwrap_or_default();
        entry.insert(Active {
            index,
            url,
            origin,
            started: Instant::now(),
            deadline,
            timer,
            retried: false,
            place: Place::Resolving,
            received: Received { index, head, ..Received::default() },
        });
        self.dispatch(cx, key, false);
    }

    /// Puts a request on a connection, behind its origin's lookup, or in the back-off
    /// queue. `answered` says it was waiting for a lookup that has just finished.
    pub(super) fn dispatch(&mut self, cx: &mut Context<'_>, req: usize, answered: bool) {
        let o = self.requests[req].origin;
        if !self.requests[req].retried
            && let Some(conn) = self.origins[o].idle.pop()
        {
            if !self.encode(cx, req) {
                self.origins[o].idle.push(conn);
                return;
            }
            self.stats.connections_reused += 1;
            self.requests[req].place = Place::On(conn);
            self.conns[conn].load_request(&self.config.method, &self.request_buf);
            let progress = self.conns[conn].send(req);
            self.on_progress(cx, conn, progress);
            return;
        }
        let origin = &mut self.origins[o];
        if !origin.has_addrs(cx.now) {
            origin.waiting.push(req);
            self.requests[req].place = Place::Resolving;
            if let Some(wait) = self.config.dns_timeout {
                let active = &self.requests[req];
                let at = active.deadline.map_or(cx.now + wait, |d| d.min(cx.now + wait));
                cx.timers.arm(active.timer, at);
            }
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
                let key = self.conns.vacant_key();
                let timer = cx.timers.insert(Token(key));
                let state = State::Connecting { req, first, current };
                let mut conn = Conn::new(stream, o, state, timer, ResponseDecoder::new(self.config.limits));
                conn.load_request(&self.config.method, &self.request_buf);
                self.conns.insert(conn);
                self.requests[req].place = Place::On(key);
                self.stats.connections_opened += 1;
                self.follow_phase(cx, key);
            }
            Err(e) if out_of_sockets(&e) => match self.origins.any_with_idle() {
                // An idle connection holds a descriptor nobody is using: give it up.
                Some(other) => {
                    let oldest = self.origins[other].idle.remove(0);
                    self.close(cx, oldest);
                    self.open(cx, req, first, current);
                }
                None => self.wait_for_socket(cx, req),
            },
            Err(e) => self.connect_failed(cx, req, first, current, e),
        }
    }

    /// Tries the origin's next address, or gives up once all were tried.
    pub(super) fn connect_failed(
        &mut self,
        cx: &mut Context<'_>,
        req: usize,
        first: usize,
        current: usize,
        e: io::Error,
    ) {
        let kind = if e.kind() == io::ErrorKind::TimedOut { ErrorKind::ConnectTimeout } else { ErrorKind::Connect };
        let addrs = &self.origins[self.requests[req].origin].addrs;
        // A new DNS answer may have replaced the list since this attempt began.
        let Some(&failed) = addrs.get(current) else {
            return self.complete(cx, req, Err(Error::new(kind, format!("connect: {e}"))));
        };
        let next = (current + 1) % addrs.len();
        if next != first && first < addrs.len() {
            self.open(cx, req, first, next);
        } else {
            let tried =
                if addrs.len() > 1 { format!(" (all {} addresses failed)", addrs.len()) } else { String::new() };
            self.complete(cx, req, Err(Error::new(kind, format!("connect to {failed}: {e}{tried}"))));
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

    // ---- running out of sockets -------------------------------------------------

    /// No descriptor or port right now, and no idle connection to give up: park the
    /// request instead of failing it. It is retried when a connection closes or goes
    /// idle, or after a back-off that doubles while the shortage lasts, so a shortage
    /// never turns into a burst of errors or a spin.
    fn wait_for_socket(&mut self, cx: &mut Context<'_>, req: usize) {
        self.stats.socket_backoffs += 1;
        self.requests[req].place = Place::NeedsSocket;
        self.backlog.push_back(req);
        if cx.timers.deadline(self.socket_retry).is_none() {
            cx.timers.arm(self.socket_retry, cx.now + self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Dispatches parked requests in order until one fails to get a socket again.
    pub(super) fn retry_backlog(&mut self, cx: &mut Context<'_>) {
        while let Some(req) = self.backlog.pop_front() {
            let before = self.stats.socket_backoffs;
            self.dispatch(cx, req, false);
            if self.stats.socket_backoffs != before {
                // Still short: it went back in the queue, behind the others; put it
                // back in front so the order of waiting is kept.
                if let Some(last) = self.backlog.pop_back() {
                    self.backlog.push_front(last);
                }
                return;
            }
        }
        self.backoff = MIN_BACKOFF;
        cx.timers.cancel(self.socket_retry);
    }

    /// Arms the connection's timer for the phase it is in. Entering a phase starts its
    /// deadline; while the body is read, each event pushes the read deadline forward.
    pub(super) fn follow_phase(&mut self, cx: &mut Context<'_>, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return }; // closed meanwhile
        let phase = match conn.state {
            State::Connecting { .. } => Phase::Connecting,
            State::Sending { req } | State::Receiving { req } if self.requests[req].received.version.is_some() => {
                Phase::ReadingBody
            }
            State::Sending { .. } | State::Receiving { .. } => Phase::AwaitingHead,
            State::Idle => Phase::Idle,
        };
        if phase == conn.phase && phase != Phase::ReadingBody {
            return;
        }
        conn.phase = phase;
        let timeout = match phase {
            Phase::Connecting => self.config.connect_timeout,
            Phase::AwaitingHead => self.config.head_timeout,
            Phase::ReadingBody => self.config.read_timeout,
            Phase::Idle => Some(self.config.idle_timeout),
        };
        match timeout {
            Some(t) => cx.timers.arm(conn.timer, cx.now + t),
            None => cx.timers.cancel(conn.timer),
        }
    }
}

/// Errors that mean "not now" rather than "not at all": the process or system is out
/// of descriptors (EMFILE, ENFILE), buffers (ENOBUFS, ENOMEM) or local ports
/// (EADDRNOTAVAIL).
fn out_of_sockets(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL))
}

pub(super) fn encode(buf: &mut Vec<u8>, config: &Config, target: &str, host: &str) -> Result<(), http1::EncodeError> {
    let headers: Vec<(&str, &str)> = config.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    http1::encode_request(buf, &RequestHead { method: &config.method, target, host, headers: &headers }, &config.body)
}
