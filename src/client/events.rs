//! Reacting: what the client does when a connection reports progress, a lookup
//! answers, or a deadline passes — and the one place where a request ends.

use std::io;
use std::time::Instant;

use mio::event::Event;

use super::conn::{Phase, Progress, State};
use super::{Client, Error, ErrorKind, Outcome, Place, Response, Sink};
use crate::http1::Headers;
use crate::reactor::Context;

impl<I: Iterator<Item = String>, S: Sink> Client<I, S> {
    pub(super) fn on_conn_event(&mut self, cx: &mut Context<'_>, key: usize, event: &Event) {
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
    pub(super) fn on_progress(&mut self, cx: &mut Context<'_>, key: usize, progress: Progress) {
        match progress {
            Progress::Wait => self.follow_phase(cx, key),
            Progress::Done { keep_alive } => {
                let conn = &mut self.conns[key];
                let req = request_of(conn.state);
                conn.served += 1;
                if keep_alive {
                    conn.state = State::Idle;
                    self.origins[conn.origin].idle.push(key);
                    self.socket_freed |= !self.backlog.is_empty();
                    self.follow_phase(cx, key);
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

    pub(super) fn on_answers(&mut self, cx: &mut Context<'_>) {
        let mut answers = std::mem::take(&mut self.answers);
        for answer in answers.drain(..) {
            let origin = &mut self.origins[answer.key];
            origin.resolving = false;
            let waiting = std::mem::take(&mut origin.waiting);
            match answer.result {
                Ok(resolved) => {
                    origin.set_addrs(resolved.addrs.iter().map(|a| a.ip()), cx.now + resolved.ttl);
                    for req in waiting {
                        // Back to the overall deadline now that the DNS wait is over.
                        let active = &self.requests[req];
                        match active.deadline {
                            Some(at) => cx.timers.arm(active.timer, at),
                            None => cx.timers.cancel(active.timer),
                        }
                        self.dispatch(cx, req, true);
                    }
                }
                Err(failure) => {
                    let kind = if failure.timed_out { ErrorKind::DnsTimeout } else { ErrorKind::Dns };
                    for req in waiting {
                        self.complete(cx, req, Err(Error::new(kind, failure.message.clone())));
                    }
                }
            }
        }
        self.answers = answers;
    }

    /// The overall deadline passed, or the DNS wait did.
    pub(super) fn on_request_timeout(&mut self, cx: &mut Context<'_>, req: usize) {
        let Some(active) = self.requests.get(req) else { return };
        let overall = active.deadline.is_some_and(|at| cx.now >= at);
        let error = match active.place {
            Place::Resolving if !overall => {
                let wait = self.config.dns_timeout.unwrap_or_default();
                Error::new(ErrorKind::DnsTimeout, format!("{}: no DNS answer within {wait:?}", active.url.host()))
            }
            place => {
                let waiting = match place {
                    Place::Resolving => " (still resolving the name)",
                    Place::NeedsSocket => " (still waiting for a free socket)",
                    Place::On(_) => "",
                };
                let limit = self.config.timeout.unwrap_or_default();
                Error::new(ErrorKind::Timeout, format!("no complete response within {limit:?}{waiting}"))
            }
        };
        match active.place {
            Place::Resolving => self.origins[active.origin].waiting.retain(|&r| r != req),
            Place::NeedsSocket => self.backlog.retain(|&r| r != req),
            Place::On(conn) => self.close(cx, conn),
        }
        self.complete(cx, req, Err(error));
    }

    /// A connection's phase deadline passed.
    pub(super) fn on_conn_timeout(&mut self, cx: &mut Context<'_>, key: usize) {
        let Some(conn) = self.conns.get(key) else { return };
        let (phase, state) = (conn.phase, conn.state);
        match (phase, state) {
            (Phase::Idle, _) => {
                self.origins[conn.origin].remove_idle(key);
                self.close(cx, key);
            }
            (Phase::Connecting, State::Connecting { req, first, current }) => {
                self.close(cx, key);
                let e = io::Error::new(io::ErrorKind::TimedOut, "no answer to the TCP handshake in time");
                self.connect_failed(cx, req, first, current, e);
            }
            (Phase::AwaitingHead | Phase::ReadingBody, State::Sending { req } | State::Receiving { req }) => {
                self.close(cx, key);
                let error = if phase == Phase::AwaitingHead {
                    let limit = self.config.head_timeout.unwrap_or_default();
                    Error::new(ErrorKind::HeadTimeout, format!("no response head within {limit:?} of sending"))
                } else {
                    let limit = self.config.read_timeout.unwrap_or_default();
                    Error::new(ErrorKind::ReadTimeout, format!("the body stalled: nothing for {limit:?}"))
                };
                self.complete(cx, req, Err(error));
            }
            _ => unreachable!("phase {phase:?} does not match state {state:?}"),
        }
    }

    // ---- endings ----------------------------------------------------------------

    /// Closes a connection. Closing the socket also removes it from epoll, so no
    /// `deregister` call is needed.
    pub(super) fn close(&mut self, cx: &mut Context<'_>, key: usize) {
        let conn = self.conns.remove(key);
        cx.timers.remove(conn.timer);
        self.socket_freed = true;
    }

    /// The one place a request ends.
    pub(super) fn complete(&mut self, cx: &mut Context<'_>, req: usize, result: Result<(), Error>) {
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
        let elapsed = Instant::now() - active.started;
        let outcome = Outcome { index: active.index, url: active.url.as_str(), result: response, elapsed };
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
