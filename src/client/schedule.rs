//! Admission and dispatch: how a URL becomes a request on a connection.
//!
//! `admit` takes a slot and parses the URL; `dispatch` decides where the request goes:
//! an idle connection of its origin, the origin's lookup, a new socket, or — when the
//! system has no descriptors or ports left — the back-off queue. Next: `events.rs`,
//! which reacts to what happens on the connections.

use std::io;
use std::time::Duration;

use mio::Token;

use super::conn::{Deadline, Received};
use super::keys::{ConnKey, Key, OriginKey, ReqKey};
use super::politeness::Parked;
use super::race::Race;
use super::{Active, Client, Error, ErrorKind, Next, Place, REQUEST_TIMERS, Request, RequestId, Sink, Source};
use crate::dns::{Lookup, Reason};
use crate::reactor::Context;
use crate::url::{Url, UrlError};

/// How recently a pooled connection must have been drained by a read (with nothing
/// left over) to be reused without asking the kernel whether it is still clean. The
/// usual reuse, the next request on the connection whose response just ended, comes
/// microseconds after that read; anything later (a slow sink, a long turn, a request
/// that arrives while the connection sits in the pool) pays for a `MSG_PEEK`, about 4%
/// of a small request's CPU, measured. Bytes that arrive between any check and the
/// request are a race no client can see; this keeps that window as short as a peek.
const FRESH: Duration = Duration::from_micros(50);

/// First wait before retrying when sockets cannot be created; doubles up to `MAX_BACKOFF`.
pub(super) const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl<I: Source, S: Sink> Client<I, S> {
    pub(super) fn admit_more(&mut self, cx: &mut Context<'_>) {
        // Bounded per turn, so a long run of invalid URLs (which take no slot) cannot
        // keep the loop from serving its sockets.
        let mut budget = self.config.concurrency;
        // URLs parked for their host go first, as their hosts free up.
        while let Some(hosts) = &mut self.hosts
            && self.requests.len() < self.config.concurrency
            && budget > 0
            && self.sink.wants_more()
            && let Some(parked) = hosts.next_ready(cx.refresh())
        {
            budget -= 1;
            self.admit(cx, parked);
        }
        if self.stopped.is_some() {
            return self.end_submitted();
        }
        // Then what was submitted, in order, before anything new from the source.
        while self.requests.len() < self.config.concurrency
            && budget > 0
            && self.sink.wants_more()
            && !self.hosts.as_ref().is_some_and(|h| h.full())
        {
            let Some((index, request)) = self.inbox.pop() else { break };
            budget -= 1;
            self.take(cx, index, request);
        }
        while !self.urls_done
            && self.requests.len() < self.config.concurrency
            && budget > 0
            && self.sink.wants_more()
            && !self.hosts.as_ref().is_some_and(|h| h.full())
        {
            budget -= 1;
            match self.urls.next_request() {
                Next::Request(request) => {
                    let index = self.inbox.0.borrow_mut().take_index();
                    self.take(cx, index, request);
                }
                Next::Later => break,
                Next::End => self.urls_done = true,
            }
        }
        if let Some(hosts) = &self.hosts
            && hosts.parked() > 0
            && cx.timers.deadline(self.polite_timer).is_none()
            && let Some(delay) = self.config.host_delay
        {
            cx.timers.arm(self.polite_timer, cx.now + delay);
        }
    }

    /// Hosts held back by their delay may have become free.
    pub(super) fn on_polite_timer(&mut self, cx: &mut Context<'_>) {
        let Some(hosts) = &mut self.hosts else { return };
        if let Some(at) = hosts.wake(cx.now) {
            cx.timers.arm(self.polite_timer, at);
        }
        self.admit_more(cx);
    }

    /// A request from the input or a submitter, with its index: admitted now, or parked
    /// for its host.
    fn take(&mut self, cx: &mut Context<'_>, index: RequestId, request: Request) {
        self.stats.requests += 1;
        let (text, template) = request.into_parts();
        let url = match Url::from_string(text) {
            Ok(url) => url,
            Err((e, text)) => {
                let kind = match e {
                    UrlError::Invalid(_) => ErrorKind::InvalidUrl,
                    UrlError::UnsupportedScheme(_) => ErrorKind::UnsupportedScheme,
                };
                return self.end_unadmitted(index, &text, &Error::new(kind, e.to_string()), 1);
            }
        };
        let request = Parked { index, url, template };
        match &mut self.hosts {
            Some(hosts) => {
                if let Some(request) = hosts.start_or_park(request, cx.refresh()) {
                    self.admit(cx, request);
                }
            }
            None => {
                cx.refresh();
                self.admit(cx, request);
            }
        }
    }

    /// A request takes a slot and is on its way. The caller has just read the clock
    /// (`cx.refresh()`): admitting a batch means a connect per request, and the last
    /// one's deadline must not be shortened by the time the others took (the rule is in
    /// `reactor.rs`).
    fn admit(&mut self, cx: &mut Context<'_>, request: Parked) {
        let Parked { index, url, template } = request;
        let idempotent = template.idempotent();
        let host_key = self.hosts.as_ref().map(|_| super::politeness::Hosts::key(&url));
        let origin = self.origins.hold(&url);
        let key = self.requests.vacant_key();
        let timer = cx.timers.insert(Token(self.base + REQUEST_TIMERS + key.index()));
        let started = cx.now;
        let deadline = self.config.timeout.map(|t| started + t);
        if let Some(deadline) = deadline {
            cx.timers.arm(timer, deadline);
        }
        let head = self.spare_heads.pop().unwrap_or_default();
        self.requests.insert(Active {
            index,
            url,
            origin,
            started,
            deadline,
            timer,
            retried: false,
            dns_deadline: None,
            race: Default::default(),
            place: Place::NeedsSocket, // until `dispatch`, below, decides
            received: Received {
                index,
                head,
                follow: self.config.max_redirects.is_some(),
                retry_on_status: self.config.retry > 0 && idempotent,
                decompress: self.config.decompress,
                max_decoded: self.config.limits.max_body,
                ..Received::default()
            },
            redirects: 0,
            first_url: None,
            as_get: false,
            elsewhere: false,
            template,
            attempts: 1,
            first_started: started,
            host_key,
        });
        self.dispatch(cx, key);
    }

    /// Puts a request on an idle connection, behind its host's lookup, on a new
    /// connection race, or in the back-off queue.
    pub(super) fn dispatch(&mut self, cx: &mut Context<'_>, req: ReqKey) {
        let o = self.requests[req].origin;
        while !self.requests[req].retried
            && let Some(conn) = self.origins[o].idle.pop()
        {
            // A connection drained by a read a moment ago is as clean as a check could
            // show; any other must prove it, at this moment, before it takes a request.
            let drained = self.conns[conn].conn.drained_at.take();
            let fresh = drained.is_some_and(|at| cx.refresh().saturating_duration_since(at) < FRESH);
            if !fresh && !self.conns[conn].io.is_clean() {
                self.close(cx, conn);
                continue;
            }
            self.encode(req);
            if self.depth_of(o) > 1 {
                // Written with whatever joins it this turn: the origin's next requests.
                self.send_on(cx, conn, req);
                return self.list_if_room(conn, o);
            }
            self.stats.connections_reused += 1;
            self.requests[req].place = Place::On(conn);
            let link = &mut self.conns[conn];
            link.conn.send(req, self.requests[req].method(&self.plain), &self.request_buf);
            let progress = link.flush();
            self.on_progress(cx, conn, progress);
            return;
        }
        if self.depth_of(o) > 1 && !self.requests[req].retried && self.pipeline(cx, req) {
            return;
        }
        let origin = &self.origins[o];
        if !origin.pinned.is_empty() {
            if self.at_origin_cap(req) {
                return self.enqueue(req);
            }
            let origin = &self.origins[o];
            *self.requests[req].race = Race::to(&origin.pinned, origin.preferred, origin.dial_port);
            return self.race(cx, req);
        }
        let full = self.at_origin_cap(req);
        let (entry, lookup) = self.dns.resolve(cx, &origin.dial_host, req.index());
        let active = &mut self.requests[req];
        let was_waiting = matches!(active.place, Place::Resolving(_));
        match lookup {
            Lookup::Waiting { until } => {
                if !was_waiting {
                    active.dns_deadline = self.config.dns_timeout.map(|wait| cx.now + wait);
                }
                active.place = Place::Resolving(entry);
                match [active.dns_deadline, active.deadline, until].into_iter().flatten().min() {
                    Some(at) => cx.timers.arm(active.timer, at),
                    None => cx.timers.cancel(active.timer),
                }
            }
            Lookup::Failed(failure) => {
                let kind = match failure.reason {
                    _ if origin.via.is_some() => ErrorKind::Proxy, // the proxy's own name
                    Reason::TimedOut => ErrorKind::DnsTimeout,
                    _ => ErrorKind::Dns,
                };
                let message = match &origin.via {
                    Some(_) => format!("proxy {}: {}", origin.dial_host, failure.message),
                    None => failure.message.clone(),
                };
                let error = Error::new(kind, message);
                self.complete(cx, req, Err(error));
            }
            Lookup::Ready(ips) => {
                if was_waiting {
                    active.dns_deadline = None;
                    // Back to the overall deadline now that the DNS wait is over.
                    match active.deadline {
                        Some(at) => cx.timers.arm(active.timer, at),
                        None => cx.timers.cancel(active.timer),
                    }
                }
                if full {
                    return self.enqueue(req);
                }
                if !was_waiting {
                    self.stats.dns_cache_hits += 1;
                }
                *active.race = Race::to(ips, origin.preferred, origin.dial_port);
                if self.dns.follow(entry, req.index()) {
                    self.requests[req].race.pending = Some(entry); // one family still to come
                }
                self.race(cx, req);
            }
        }
    }

    // ---- pipelining ----------------------------------------------------------------

    /// With pipelining, an origin has at most `per_origin` connections (attempts
    /// included); a request that would open one more waits in the origin's queue. Not a
    /// request that may not be pipelined (a POST, say): it could only wait there for an
    /// idle connection, so it opens its own, as it would without pipelining.
    fn at_origin_cap(&self, req: ReqKey) -> bool {
        let active = &self.requests[req];
        // A retry wants a fresh connection, which the queue would not give it.
        self.depth_of(active.origin) > 1
            && active.idempotent()
            && !active.retried
            && self.origins[active.origin].links >= self.per_origin
    }

    /// How many requests a connection of origin `o` may carry at once.
    fn depth_of(&self, o: OriginKey) -> usize {
        if self.origins[o].quirks.one_at_a_time { 1 } else { self.depth }
    }

    fn enqueue(&mut self, req: ReqKey) {
        self.requests[req].place = Place::Queued;
        self.origins[self.requests[req].origin].queue.push_back(req);
    }

    /// Sends `req` behind the requests of a busy connection of its origin that has room;
    /// false if none has.
    fn pipeline(&mut self, cx: &mut Context<'_>, req: ReqKey) -> bool {
        if !self.requests[req].idempotent() {
            return false; // never behind others (RFC 9112 §9.3.2)
        }
        let o = self.requests[req].origin;
        while let Some(&key) = self.origins[o].open.last() {
            if !self.has_room(key, o) {
                self.unlist(o);
                continue;
            }
            self.encode(req);
            self.send_on(cx, key, req);
            if !self.has_room(key, o) {
                self.unlist(o);
            }
            return true;
        }
        false
    }

    /// Connection `key` is a busy connection of origin `o` that may take one more.
    fn has_room(&self, key: ConnKey, o: OriginKey) -> bool {
        self.conns.get(key).is_some_and(|l| l.conn.origin == o && l.conn.busy() && l.conn.can_take(self.depth_of(o)))
    }

    /// The last entry of `o`'s open list goes: its connection is full, gone, or now
    /// another origin's.
    pub(super) fn unlist(&mut self, o: OriginKey) {
        if let Some(key) = self.origins[o].open.pop()
            && let Some(link) = self.conns.get_mut(key)
            && link.conn.origin == o
        {
            link.conn.listed = false;
        }
    }

    /// A connection that just finished a response takes the requests waiting in its
    /// origin's queue, as many as it has room for; if room is left, later requests of
    /// the origin may join it (`Origin::open`).
    pub(super) fn fill(&mut self, cx: &mut Context<'_>, key: ConnKey) {
        let o = self.conns[key].conn.origin;
        // Not for each answer, or each write would carry the one or two requests a read
        // freed: a near connection refills once its pipeline is empty (one write per
        // `depth` requests), a far one at half (the server never waits a round trip).
        let (conn, depth) = (&self.conns[key].conn, self.depth_of(o));
        if conn.outstanding() > if conn.near { 0 } else { depth / 2 } {
            return;
        }
        while let Some(link) = self.conns.get(key)
            && link.conn.can_take(depth)
            // Only requests that may be pipelined wait in the queue (see `at_origin_cap`).
            && let Some(req) = self.origins[o].queue.pop_front()
        {
            self.encode(req);
            self.send_on(cx, key, req);
        }
        self.list_if_room(key, o);
    }

    /// Lists connection `key` in its origin's open list if it may take more, so that
    /// the origin's next requests join it rather than wait.
    fn list_if_room(&mut self, key: ConnKey, o: OriginKey) {
        if self.depth_of(o) > 1 && self.has_room(key, o) && !std::mem::replace(&mut self.conns[key].conn.listed, true) {
            self.origins[o].open.push(key);
        }
    }

    /// `req` (encoded in `request_buf`) joins connection `key`; the bytes go out with
    /// the connection's other new requests at the end of the turn.
    fn send_on(&mut self, cx: &mut Context<'_>, key: ConnKey, req: ReqKey) {
        self.requests[req].place = Place::On(key);
        let conn = &mut self.conns[key].conn;
        let was_idle = !conn.busy();
        match was_idle {
            true => self.stats.connections_reused += 1,
            false => self.stats.pipelined += 1,
        }
        conn.send(req, self.requests[req].method(&self.plain), &self.request_buf);
        if was_idle {
            // Out of the pool: the idle expiry must not fire on it before the write.
            self.follow_phase(cx, key);
        }
        match self.to_flush.last_mut() {
            Some((last, _)) if *last == key => {} // joined this turn already: not idle then
            _ => self.to_flush.push((key, was_idle)),
        }
    }

    /// Writes what joined each connection this turn, one write per connection.
    pub(super) fn flush_pipelined(&mut self, cx: &mut Context<'_>) {
        if self.to_flush.is_empty() {
            return;
        }
        cx.refresh(); // the deadlines armed below come after the turn's other work
        let mut keys = std::mem::take(&mut self.to_flush);
        for (key, was_idle) in keys.drain(..) {
            let Some(link) = self.conns.get_mut(key) else { continue };
            let progress = link.flush();
            if was_idle {
                // Its head deadline was armed as the request joined, only to keep the
                // idle expiry off it: the wait for the answer starts with this write,
                // after the turn's other work.
                cx.refresh();
                link.conn.armed = None;
            }
            self.on_progress(cx, key, progress);
        }
        let pushed_meanwhile = std::mem::replace(&mut self.to_flush, keys);
        self.to_flush.extend(pushed_meanwhile);
    }

    /// Origins one of whose connections closed: their queued requests may now open one.
    pub(super) fn serve_queues(&mut self, cx: &mut Context<'_>) {
        let mut stirred = std::mem::take(&mut self.stirred);
        for o in stirred.drain(..) {
            while let Some(&req) = self.origins.get(o).and_then(|origin| origin.queue.front()) {
                self.origins[o].queue.pop_front();
                self.dispatch(cx, req);
                if self.requests.get(req).is_some_and(|r| r.place == Place::Queued) {
                    // Still no room: back to the front, in its turn.
                    let queue = &mut self.origins[o].queue;
                    queue.pop_back();
                    queue.push_front(req);
                    break;
                }
            }
        }
        // Dispatching may close another origin's idle connection and stir that origin.
        let stirred_meanwhile = std::mem::replace(&mut self.stirred, stirred);
        self.stirred.extend(stirred_meanwhile);
    }

    /// Encodes `req` into `request_buf`.
    pub(super) fn encode(&mut self, req: ReqKey) {
        self.request_buf.clear();
        let via = self.origins[self.requests[req].origin].via.as_deref();
        let active = &self.requests[req];
        active.shape(&self.plain).encode(&mut self.request_buf, active, via);
    }

    // ---- running out of sockets -------------------------------------------------

    /// No descriptor or port right now, and no idle connection to give up: park the
    /// request instead of failing it. It is retried when a connection closes or goes
    /// idle, or after a back-off that doubles while the shortage lasts, so a shortage
    /// never turns into a burst of errors or a spin.
    pub(super) fn wait_for_socket(&mut self, cx: &mut Context<'_>, req: ReqKey) {
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
            self.dispatch(cx, req);
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
    pub(super) fn follow_phase(&mut self, cx: &mut Context<'_>, key: ConnKey) {
        let Some(link) = self.conns.get_mut(key) else { return }; // closed meanwhile
        let conn = &mut link.conn;
        let deadline = conn.deadline();
        let timeout = match deadline {
            Deadline::Attempt | Deadline::Connect => return, // the race arms its own timers
            Deadline::Head => self.config.head_timeout,
            Deadline::Body => self.config.read_timeout,
            Deadline::Idle => Some(self.config.idle_timeout),
        };
        if conn.armed == Some(deadline) && deadline != Deadline::Body {
            return;
        }
        conn.armed = Some(deadline);
        match timeout {
            Some(t) => cx.timers.arm(conn.timer, cx.now + t),
            None => cx.timers.cancel(conn.timer),
        }
    }
}

/// Errors that mean "not now" rather than "not at all": the process or system is out
/// of descriptors (EMFILE, ENFILE), buffers (ENOBUFS, ENOMEM) or local ports
/// (EADDRNOTAVAIL).
pub(super) fn out_of_sockets(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL))
}
