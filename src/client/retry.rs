//! Retrying transient failures, as curl's `--retry` does.
//!
//! A request that ends in a transient failure is not ended: it waits, holding its slot
//! but no socket, and starts again. Transient means a connect error or timeout, a DNS
//! timeout, a head or read timeout, a `reset` before any response byte, or a response
//! with 408, 429, 500, 502, 503 or 504; only idempotent requests are retried (RFC 9110
//! §9.2.2), and only while no body byte has reached the sink (a retriable status's body
//! is withheld for that reason, as a redirect's is), so `-o` never mixes two attempts.
//!
//! The wait doubles from 1 s, with up to a quarter more at random so that a thousand
//! requests refused together do not come back together; a `Retry-After` (seconds, or
//! an HTTP date) replaces it. `Config::retry_max_time` caps the whole: no retry starts
//! later than that after the first attempt did, and a longer `Retry-After` ends the
//! request with the failure it had. Each attempt has the full request timeout.

use std::time::{Duration, Instant, SystemTime};

use super::keys::ReqKey;
use super::{Active, Client, Error, ErrorKind, Place, Sink, Source};
use crate::http1::Headers;
use crate::reactor::Context;

/// The first wait; doubled for each further retry.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait between attempts (curl's cap).
const MAX_WAIT: Duration = Duration::from_secs(600);

/// Whether a response with `status` asks to be retried.
pub(super) fn is_retry_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

impl<I: Source, S: Sink> Client<I, S> {
    /// Whether `req`, ending with `result`, should wait and start again; if so, how long.
    pub(super) fn retry_wait(&mut self, now: Instant, req: ReqKey, result: &Result<(), Error>) -> Option<Duration> {
        let active = &self.requests[req];
        let r = &active.received;
        if !active.may_retry() || self.config.retry < active.attempts {
            return None;
        }
        let transient = match result {
            Ok(()) => is_retry_status(r.status) && r.withheld,
            Err(e) => match e.kind {
                ErrorKind::Connect | ErrorKind::ConnectTimeout | ErrorKind::DnsTimeout => true,
                ErrorKind::HeadTimeout | ErrorKind::ReadTimeout | ErrorKind::Timeout | ErrorKind::Reset => {
                    r.body_len == 0 && (r.version.is_none() || r.withheld)
                }
                _ => false,
            },
        };
        if !transient {
            return None;
        }
        let asked = result.is_ok().then(|| retry_after(&Headers::new(&r.head))).flatten();
        let (attempts, first_started) = (active.attempts, active.first_started);
        let wait = match asked {
            Some(asked) => asked,
            None => {
                let backoff = FIRST_WAIT.saturating_mul(1 << (attempts - 1).min(16)).min(MAX_WAIT);
                backoff + backoff.mul_f64(self.jitter() * 0.25)
            }
        };
        match self.config.retry_max_time {
            Some(max) if now + wait > first_started + max => None,
            _ => Some(wait),
        }
    }

    /// `req` waits `wait`, without a socket, then starts again (`start_again`).
    pub(super) fn retry_later(&mut self, cx: &mut Context<'_>, req: ReqKey, wait: Duration) {
        let active = &mut self.requests[req];
        active.attempts += 1;
        active.start_over();
        active.deadline = None;
        active.place = Place::Waiting;
        // From a fresh clock, so the wait is never shorter than asked (`reactor.rs`).
        let at = cx.refresh() + wait;
        cx.timers.arm(active.timer, at);
        self.stats.transient_retries += 1;
    }

    /// The wait is over: the next attempt, with a deadline of its own.
    pub(super) fn start_again(&mut self, cx: &mut Context<'_>, req: ReqKey) {
        let now = cx.refresh();
        let active = &mut self.requests[req];
        active.started = now;
        active.deadline = self.config.timeout.map(|t| now + t);
        match active.deadline {
            Some(at) => cx.timers.arm(active.timer, at),
            None => cx.timers.cancel(active.timer),
        }
        active.place = Place::NeedsSocket; // until `dispatch` decides
        active.received.retry_on_status = self.config.retry >= active.attempts && active.may_retry();
        self.dispatch(cx, req);
    }

    /// A number in 0..1 from the client's own generator (xorshift64*): no clock, no
    /// thread, repeatable.
    fn jitter(&mut self) -> f64 {
        (crate::rand::xorshift64star(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Active {
    /// Forgets the response and the connection race of the attempt or hop that just
    /// ended (a retry, or a redirect followed), so the next one starts clean.
    pub(super) fn start_over(&mut self) {
        let r = &mut self.received;
        (r.version, r.status, r.body_len, r.wire_len, r.redirecting, r.withheld) = (None, 0, 0, 0, false, false);
        r.decoding = None;
        r.head.clear();
        self.race = Default::default();
        self.retried = false;
        self.dns_deadline = None;
        self.place = Place::NeedsSocket; // until `dispatch` decides
    }

    /// Retries are for idempotent requests (a redirect to GET makes one).
    pub(super) fn may_retry(&self) -> bool {
        self.idempotent() || self.as_get
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP date.
fn retry_after(headers: &Headers<'_>) -> Option<Duration> {
    let value = std::str::from_utf8(headers.get("retry-after")?).ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}
