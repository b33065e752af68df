//! Reacting: what the client does when a connection reports progress, a lookup
//! answers, or a deadline passes — and the one place where a request ends.

use std::io;

use mio::event::Event;

use super::conn::{Deadline, HELD_BACK, Progress, Received, State, held_back};
use super::keys::{ConnKey, Key, OriginKey, ReqKey};
use super::redirect::Next;
use super::transport::Link;
use super::{Client, Error, ErrorKind, Outcome, Place, Response, Sink, Source};
use crate::http1::Headers;
use crate::reactor::Context;

impl<I: Source, S: Sink> Client<I, S> {
    pub(super) fn on_conn_event(&mut self, cx: &mut Context<'_>, key: ConnKey, event: &Event) {
        // An event may name a connection closed earlier in this turn, and a new one may
        // have its key by now: that event was about the old socket (`Born`).
        if self.born.this_turn(key) {
            self.stale_events += 1;
            return;
        }
        let Some(link) = self.conns.get_mut(key) else { return };
        let received = link.conn.request().map(|req| &mut self.requests[req].received);
        let progress = link.on_event(event, &mut self.read_buf, received, &mut self.sink);
        self.on_progress(cx, key, progress);
    }

    /// Acts on what a connection reported, then on each response already read behind a
    /// finished one (pipelined answers that came in the same read), since the kernel
    /// will not announce those bytes again. One at a time, in a loop: a read that holds
    /// hundreds of small responses costs no stack.
    pub(super) fn on_progress(&mut self, cx: &mut Context<'_>, key: ConnKey, mut progress: Progress) {
        loop {
            let finished = matches!(progress, Progress::Done { .. });
            self.act_on(cx, key, progress);
            // Only bytes after a finished response start a new one; after anything else
            // they are the unfinished rest, which waits for more from the socket (and
            // must not be decoded again here).
            if !finished {
                return;
            }
            match self.buffered(key) {
                Some(next) => progress = next,
                None => return,
            }
        }
    }

    /// The client's half of the state machine: what one report of a connection means.
    fn act_on(&mut self, cx: &mut Context<'_>, key: ConnKey, progress: Progress) {
        match progress {
            Progress::Wait => self.follow_phase(cx, key),
            Progress::Done { req, keep_alive } => {
                if keep_alive {
                    if self.depth > 1 {
                        self.notice_hold(cx, key);
                    }
                    let conn = &mut self.conns[key].conn;
                    conn.armed = None; // a next response's head is awaited from now
                    let o = conn.origin;
                    if conn.busy() || !self.origins[o].queue.is_empty() {
                        self.fill(cx, key); // the requests waiting for this origin join it
                    } else {
                        // The machine is idle now; the pool takes it.
                        conn.drained_at = Some(cx.now); // read before the read: errs on the old side
                        self.origins[o].idle.push(key);
                        self.socket_freed |= !self.backlog.is_empty();
                    }
                    self.follow_phase(cx, key);
                } else {
                    self.close(cx, key);
                }
                if let Some(req) = req {
                    match self.follow(cx, req) {
                        Next::Done => self.complete(cx, req, Ok(())),
                        Next::Followed => {}
                        Next::Failed(error) => self.complete(cx, req, Err(error)),
                    }
                }
                // More responses may be waiting in the kernel (a full read, or a hang-up
                // seen), which no new edge will announce: read on after the poll.
                if let Some(conn) = self.conns.get_mut(key).map(|l| &mut l.conn)
                    && conn.busy()
                    && !conn.was_drained()
                    && !std::mem::replace(&mut conn.paused, true)
                {
                    self.paused.push_back(key);
                }
            }
            Progress::Connected => self.won(cx, key),
            Progress::ConnectFailed(e) => self.attempt_failed(cx, key, e),
            Progress::Failed { error, unanswered } => {
                let conn = &self.conns[key].conn;
                let reused = conn.served > 0;
                let (front, pipelined) = (conn.request(), conn.front_was_pipelined());
                self.close(cx, key); // requests queued behind go back to their origin's queue
                let Some(req) = front else { return }; // a gap's response: nobody waits for it
                if unanswered && pipelined {
                    // Never served, like those behind it: first in the queue, no retry spent.
                    return self.send_again(req);
                }
                let active = &mut self.requests[req];
                if unanswered && reused && active.may_retry() && !active.retried {
                    active.retried = true;
                    self.stats.retries += 1;
                    self.dispatch(cx, req);
                } else {
                    self.complete(cx, req, Err(error));
                }
            }
            Progress::Paused => {
                let conn = &mut self.conns[key].conn;
                if !std::mem::replace(&mut conn.paused, true) {
                    self.paused.push_back(key); // the next poll will not wait (`has_work_left`)
                }
                self.follow_phase(cx, key);
            }
            Progress::IdleClosed => {
                self.origins[self.conns[key].conn.origin].remove_idle(key);
                self.close(cx, key);
            }
        }
    }

    /// Decodes the bytes read after a pipelined response, if there are any: the next
    /// response's start (or all of it).
    fn buffered(&mut self, key: ConnKey) -> Option<Progress> {
        let link = self.conns.get_mut(key).filter(|l| l.conn.has_buffered())?;
        let mut gap = Received::dropped();
        let received = match link.conn.request() {
            Some(req) => &mut self.requests[req].received,
            None => &mut gap,
        };
        Some(link.conn.buffered(received, &mut self.sink))
    }

    /// Paused connections read on, each with a fresh share, in the order they paused;
    /// those that pause again wait for the next turn.
    pub(super) fn resume_paused(&mut self, cx: &mut Context<'_>) {
        for _ in 0..self.paused.len() {
            let Some(key) = self.paused.pop_front() else { break };
            // A key freed and taken by a new connection meanwhile is not paused.
            let Some(link) = self.conns.get_mut(key).filter(|l| l.conn.paused) else { continue };
            link.conn.paused = false;
            if !link.conn.busy() {
                continue;
            }
            // No event announces this read: the clock is read for it, as for one, so a
            // response it completes is timed after the connections resumed before it.
            cx.refresh();
            let received = link.conn.request().map(|req| &mut self.requests[req].received);
            let progress = link.resume(&mut self.read_buf, received, &mut self.sink);
            self.on_progress(cx, key, progress);
        }
    }

    /// Lookups have answered: their waiters look again (the answer may be all they
    /// need, or they wait on for the other family).
    pub(super) fn on_dns_news(&mut self, cx: &mut Context<'_>) {
        let mut woken = std::mem::take(&mut self.woken);
        // The resolver knows its waiters by index only (it is below the client).
        for req in woken.drain(..).map(ReqKey::from_index) {
            match self.requests.get(req).map(|r| r.place) {
                Some(Place::Resolving(_)) => self.dispatch(cx, req),
                Some(Place::Connecting) => self.more_addresses(cx, req),
                _ => {}
            }
        }
        self.woken = woken;
    }

    /// The overall deadline passed, or the DNS wait did.
    pub(super) fn on_request_timeout(&mut self, cx: &mut Context<'_>, req: ReqKey) {
        let Some(active) = self.requests.get(req) else { return };
        if active.place == Place::Waiting {
            return self.start_again(cx, req); // the wait before a retry is over
        }
        let overall = active.deadline.is_some_and(|at| cx.now >= at);
        if let Place::Resolving(entry) = active.place
            && !overall
            && active.dns_deadline.is_none_or(|at| cx.now < at)
        {
            // The resolution delay is over: go with the IPv4 answer (RFC 8305 §3).
            self.dns.leave(entry, req.index());
            return self.dispatch(cx, req);
        }
        let error = match active.place {
            Place::Resolving(_) if !overall => {
                let wait = self.config.dns_timeout.unwrap_or_default();
                Error::new(ErrorKind::DnsTimeout, format!("{}: no DNS answer within {wait:?}", active.url.host()))
            }
            place => {
                let waiting = match place {
                    Place::Resolving(_) => " (still resolving the name)",
                    Place::NeedsSocket => " (still waiting for a free socket)",
                    Place::Queued => " (still waiting for a connection to the server)",
                    Place::Connecting | Place::On(_) | Place::Waiting => "",
                };
                let limit = self.config.timeout.unwrap_or_default();
                Error::new(ErrorKind::Timeout, format!("no complete response within {limit:?}{waiting}"))
            }
        };
        self.detach(cx, req);
        self.complete(cx, req, Err(error));
    }

    /// Takes a request out of wherever it waits, before it ends early: its lookup, the
    /// socket queue, its connection attempts, or its connection (which is closed: a
    /// response cut short leaves it unusable).
    pub(super) fn detach(&mut self, cx: &mut Context<'_>, req: ReqKey) {
        match self.requests[req].place {
            Place::Resolving(entry) => self.dns.leave(entry, req.index()),
            Place::NeedsSocket => self.backlog.retain(|&r| r != req),
            Place::Connecting => {
                let race = std::mem::take(&mut self.requests[req].race);
                for attempt in race.attempts() {
                    self.close(cx, *attempt);
                }
                if let Some(entry) = race.pending {
                    self.dns.leave(entry, req.index());
                }
            }
            // Behind others on a pipelined connection, it leaves a gap there; else its
            // connection closes, and any requests behind it go back to the queue.
            Place::On(conn) => {
                if !self.conns[conn].conn.forget(req) {
                    self.close(cx, conn);
                }
            }
            Place::Queued => {
                let origin = self.requests[req].origin;
                self.origins[origin].queue.retain(|&r| r != req);
            }
            Place::Waiting => {}
        }
    }

    /// A connection's phase deadline passed.
    pub(super) fn on_conn_timeout(&mut self, cx: &mut Context<'_>, key: ConnKey) {
        let Some(link) = self.conns.get(key) else { return };
        let (armed, state) = (link.conn.armed, link.conn.state());
        match (armed, state) {
            (Some(Deadline::Idle), State::Idle) => {
                self.origins[link.conn.origin].remove_idle(key);
                self.close(cx, key);
            }
            (Some(Deadline::Attempt), State::Connecting { req, .. }) => self.attempt_delay_passed(cx, key, req),
            (Some(Deadline::Connect), State::Connecting { .. }) => {
                let e = io::Error::new(io::ErrorKind::TimedOut, "no answer to the TCP handshake in time");
                self.attempt_failed(cx, key, e);
            }
            (Some(deadline @ (Deadline::Head | Deadline::Body)), State::Sending | State::Receiving) => {
                let (front, o) = (link.conn.request(), link.conn.origin);
                // Answered up to the request ahead, then silence: the server may ignore
                // requests read behind another. If it was already found to, this one was
                // most likely never read: sent again, alone. Else the origin is found now.
                let dropped = deadline == Deadline::Head && link.conn.front_unheard();
                let found_before = dropped && self.origins[o].quirks.one_at_a_time;
                if dropped && !found_before {
                    self.one_at_a_time(o);
                }
                self.close(cx, key);
                let Some(req) = front else { return }; // a gap's response never came
                if found_before {
                    return self.send_again(req);
                }
                let error = if deadline == Deadline::Head {
                    let limit = self.config.head_timeout.unwrap_or_default();
                    Error::new(ErrorKind::HeadTimeout, format!("no response head within {limit:?} of sending"))
                } else {
                    let limit = self.config.read_timeout.unwrap_or_default();
                    Error::new(ErrorKind::ReadTimeout, format!("the body stalled: nothing for {limit:?}"))
                };
                self.complete(cx, req, Err(error));
            }
            _ => unreachable!("a timer armed for {armed:?} fired in state {state:?}"),
        }
    }

    /// Origin `o`'s server may drop requests it reads behind another (`Quirks`): no more
    /// pipelining to it, and none of its busy connections takes another request.
    fn one_at_a_time(&mut self, o: OriginKey) {
        self.origins[o].quirks.one_at_a_time = true;
        self.stats.unpipelined += 1;
        while !self.origins[o].open.is_empty() {
            self.unlist(o);
        }
    }

    /// A pipelined response on `key` ended, before the pipeline is refilled. If the
    /// server held it back for an acknowledgement (`conn::HELD_BACK`), acknowledge now,
    /// and make every connection of the origin, open now or later, hurry.
    fn notice_hold(&mut self, cx: &Context<'_>, key: ConnKey) {
        let link = &mut self.conns[key];
        let Some(waited) = link.conn.response_ended(cx.now) else { return };
        // TCP's own timings are asked for only when the wait is long enough to matter.
        if waited < HELD_BACK || !link.io.tcp_times().is_some_and(|t| held_back(waited, t.since_data, t.round_trip)) {
            return;
        }
        link.io.acknowledge_now();
        let o = link.conn.origin;
        self.origins[o].quirks.held_back = true;
        self.stats.held_back += 1;
        for link in self.conns.values_mut().filter(|link| link.conn.origin == o) {
            link.conn.hurry = true;
        }
    }

    // ---- endings ----------------------------------------------------------------

    /// Closes a connection. Closing the socket also removes it from epoll, so no
    /// `deregister` call is needed. Pipelined requests behind the one being answered
    /// were never answered: they go back to the front of their origin's queue, in
    /// order, to be sent again on another connection.
    pub(super) fn close(&mut self, cx: &mut Context<'_>, key: ConnKey) {
        let Link { mut io, conn, .. } = self.conns.remove(key);
        // Its key may go to a new connection this very turn, which must not be flushed
        // (or have its deadline reset) as if it were this one.
        self.to_flush.retain(|&(k, _)| k != key);
        io.close();
        cx.timers.remove(conn.timer);
        let o = conn.origin;
        // Last first, each to the front: the queue keeps their order.
        for req in conn.behind().rev() {
            self.send_again(req);
        }
        self.origins[o].links -= 1;
        if !self.origins[o].queue.is_empty() {
            self.stir(o);
        }
        self.origins.release(o);
        self.socket_freed = true;
    }

    /// A pipelined request its connection never answered goes to the front of its
    /// origin's queue, to be sent on another connection (at the end of the turn).
    fn send_again(&mut self, req: ReqKey) {
        self.requests[req].place = Place::Queued;
        let o = self.requests[req].origin;
        self.origins[o].queue.push_front(req);
        self.stats.resent += 1;
        self.stir(o);
    }

    /// Origin `o`'s queue may move now (`serve_queues`, at the end of the turn).
    fn stir(&mut self, o: OriginKey) {
        if self.stirred.last() != Some(&o) {
            self.stirred.push(o);
        }
    }

    /// The one place a request ends.
    pub(super) fn complete(&mut self, cx: &mut Context<'_>, req: ReqKey, result: Result<(), Error>) {
        if let Some(wait) = self.retry_wait(cx.now, req, &result) {
            return self.retry_later(cx, req, wait);
        }
        let mut active = self.requests.remove(req);
        cx.timers.remove(active.timer);
        if let (Some(hosts), Some(key)) = (&mut self.hosts, &active.host_key) {
            hosts.finished(key, cx.now);
        }
        self.origins.release(active.origin);
        let r = &active.received;
        let head = r.version.map(|version| Response {
            version,
            status: r.status,
            headers: Headers::new(&r.head),
            body_len: r.body_len,
            wire_len: r.wire_len,
        });
        let (result, partial) = match &result {
            Ok(()) => (Ok(head.expect("a complete response has a head")), None),
            Err(e) => (Err(e), head),
        };
        // The clock as the event that ended it was taken up (the reactor reads it
        // before each): the response was in by then, and no extra read is paid.
        let elapsed = cx.now.saturating_duration_since(active.started);
        let (url, final_url) = match &active.first_url {
            Some(first) => (&**first, Some(active.url.as_str())),
            None => (active.url.as_str(), None),
        };
        let (redirects, attempts) = (active.redirects, active.attempts);
        let outcome = Outcome { index: active.index, url, result, partial, elapsed, redirects, final_url, attempts };
        self.sink.outcome(&outcome);
        active.received.head.clear();
        self.spare_heads.push(std::mem::take(&mut active.received.head));
    }
}
