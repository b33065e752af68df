//! Happy Eyeballs (RFC 8305): connecting to a name that has several addresses.
//!
//! A name often has IPv6 and IPv4 addresses, and one of them may be dead — worst of
//! all a "blackhole" that drops packets, so a plain connect hangs until its timeout.
//! Trying addresses one by one makes every such name cost a connect timeout. Instead
//! each new connection runs a small race:
//!
//! * The addresses are put in order (§4): the address that last worked for this
//!   origin first, then alternating families, IPv6 first.
//! * One attempt starts; if it has not connected after [`ATTEMPT_DELAY`] (250 ms, §5),
//!   the next starts beside it, and so on. An attempt that fails starts the next at
//!   once.
//! * The first to connect wins and gets the request; the others are closed. When all
//!   have failed, the request fails with the last error.
//! * A race may start before the lookup has both answers (AAAA first goes at once,
//!   A alone after the resolution delay, §3). The addresses that arrive later join
//!   the race (`more_addresses`), and a race that has run out of addresses waits for
//!   them rather than fail while an answer is still to come.
//!
//! Extra attempts never push the client past its socket budget (`concurrency`): when
//! there is no room and no idle connection to give up, the race waits for its current
//! attempt instead. The winner's address becomes the origin's preferred one, so after
//! the first race a host with a dead family costs nothing more.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mio::Token;

use super::conn::{Conn, Deadline, NEAR, State};
use super::keys::{ConnKey, Key, OriginKey, ReqKey};
use super::proxy::connect_request;
use super::schedule::out_of_sockets;
use super::tls;
use super::transport::{Link, ProxyRefused, Transport, Tunnel};
use super::{Client, Error, ErrorKind, Place, Sink, Source};
use crate::http1::ResponseDecoder;
use crate::reactor::Context;
use std::sync::Arc;

/// How long an attempt runs alone before the next one starts (RFC 8305 §5).
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// A request's connection race, boxed: it lives only while a connection is made, so a
/// request sent on a pooled connection (the usual case) keeps 8 bytes for it, not a
/// hundred: thousands of requests in flight then fit in fewer cache lines. It comes
/// into being when first written to.
#[derive(Debug, Default)]
pub(super) struct RaceBox(Option<Box<Race>>);

/// What a request that has no race reads.
static NO_RACE: Race = Race { addrs: Vec::new(), next: 0, attempts: Vec::new(), last_error: None, pending: None };

impl std::ops::Deref for RaceBox {
    type Target = Race;
    fn deref(&self) -> &Race {
        self.0.as_deref().unwrap_or(&NO_RACE)
    }
}

impl std::ops::DerefMut for RaceBox {
    fn deref_mut(&mut self) -> &mut Race {
        self.0.get_or_insert_default()
    }
}

/// A request's connection race.
#[derive(Debug, Default)]
pub(super) struct Race {
    /// Addresses in the order they are tried.
    addrs: Vec<SocketAddr>,
    /// The next address to try.
    next: usize,
    /// Attempts still connecting (connection keys).
    attempts: Vec<ConnKey>,
    /// The most recent failure, for the error if all fail.
    last_error: Option<(SocketAddr, io::Error)>,
    /// The DNS entry whose other family is still to be answered; its addresses join
    /// the race when they arrive.
    pub pending: Option<crate::dns::EntryId>,
}

impl Race {
    /// A race over `ips` in connection order (see [`order`]).
    pub fn to(ips: &[IpAddr], preferred: Option<IpAddr>, port: u16) -> Self {
        let mut race = Race::default();
        order(ips, preferred, port, &mut race.addrs);
        race
    }

    /// Connections still trying.
    pub fn attempts(&self) -> &[ConnKey] {
        &self.attempts
    }
}

/// Orders `ips` for connecting (RFC 8305 §4): `preferred` first if present, then the
/// families alternate, starting with the preferred family or else IPv6. Within a
/// family the resolver's order is kept.
fn order(ips: &[IpAddr], preferred: Option<IpAddr>, port: u16, out: &mut Vec<SocketAddr>) {
    out.clear();
    let first_v6 = preferred.is_none_or(|p| p.is_ipv6());
    let preferred = preferred.filter(|p| ips.contains(p));
    let rest = ips.iter().copied().filter(|&ip| Some(ip) != preferred);
    let mut first = preferred.into_iter().chain(rest.clone().filter(|ip| ip.is_ipv6() == first_v6));
    let mut second = rest.filter(|ip| ip.is_ipv6() != first_v6);
    loop {
        match (first.next(), second.next()) {
            (None, None) => break,
            (a, b) => out.extend(a.into_iter().chain(b).map(|ip| SocketAddr::new(ip, port))),
        }
    }
}

impl<I: Source, S: Sink> Client<I, S> {
    /// Starts connecting `req` to the addresses `dispatch` put in its race.
    pub(super) fn race(&mut self, cx: &mut Context<'_>, req: ReqKey) {
        // A new socket needs room: at the cap, an idle connection of another origin gives
        // way (only now, not for a request that waits for its name or in a queue).
        if self.conns.len() >= self.config.concurrency {
            self.close_an_idle_connection(cx);
        }
        // Races often start in a batch (every waiter of a lookup at once), each with a
        // `connect`: read the clock for this one's deadlines (see `reactor.rs`).
        cx.refresh();
        self.requests[req].place = Place::Connecting;
        self.next_attempt(cx, req);
    }

    /// Starts the next attempt, skipping addresses that fail at once; gives up when
    /// none is left and none is still trying.
    fn next_attempt(&mut self, cx: &mut Context<'_>, req: ReqKey) {
        loop {
            let race = &self.requests[req].race;
            let Some(&addr) = race.addrs.get(race.next) else {
                if race.attempts.is_empty() && race.pending.is_none() {
                    self.give_up(cx, req);
                }
                return; // the attempts running, or the answer still to come, decide
            };
            let racing = !race.attempts.is_empty();
            if racing && self.conns.len() >= self.config.concurrency && !self.close_an_idle_connection(cx) {
                return; // no room for a second socket: the current attempt runs on
            }
            match self.attempt(cx, req, addr) {
                Ok(()) => return,
                Err(e) if out_of_sockets(&e) => {
                    if self.close_an_idle_connection(cx) {
                        continue;
                    }
                    if !racing {
                        self.wait_for_socket(cx, req);
                    }
                    return;
                }
                Err(e) => {
                    let race = &mut self.requests[req].race;
                    race.next += 1;
                    race.last_error = Some((addr, e));
                }
            }
        }
    }

    /// Opens a socket to `addr` for `req` and arms its timer.
    fn attempt(&mut self, cx: &mut Context<'_>, req: ReqKey, addr: SocketAddr) -> io::Result<()> {
        let key = self.conns.vacant_key();
        let o = self.requests[req].origin;
        let session = if self.origins[o].https { Some(self.tls_session(o)?) } else { None };
        let origin = &self.origins[o];
        let tunnel = match (&origin.via, origin.https) {
            (Some(route), true) => {
                let authority = format!("{}:{}", origin.host_for_tunnel(), origin.port);
                Some(Tunnel::new(connect_request(&authority, route)))
            }
            _ => None,
        };
        let mut io = Transport::connect(addr, session, tunnel)?;
        io.register(cx.registry, Token(self.base + key.index()))?;
        self.origins.hold_again(o);
        self.origins[o].links += 1;
        let timer = cx.timers.insert(Token(self.base + key.index()));
        let race = &mut self.requests[req].race;
        race.next += 1;
        race.attempts.push(key);
        let more_to_try = race.next < race.addrs.len() || race.pending.is_some();
        let (racing, wait) = match self.config.connect_timeout {
            Some(t) if t <= ATTEMPT_DELAY || !more_to_try => (false, Some(t)),
            None if !more_to_try => (false, None),
            _ => (true, Some(ATTEMPT_DELAY)),
        };
        let mut conn = Conn::new(o, timer, req, addr, racing, ResponseDecoder::new(self.config.limits));
        conn.armed = Some(conn.deadline());
        if let Some(wait) = wait {
            // A fresh clock: the first https attempt may have just loaded the trust store.
            let at = cx.refresh() + wait;
            cx.timers.arm(timer, at);
        }
        self.conns.insert(Link::new(io, conn));
        self.born.note(key);
        self.stats.connect_attempts += 1;
        Ok(())
    }

    /// A new TLS session for origin `o`: its server name, the client's configuration
    /// (and so its ticket store, for resumption).
    fn tls_session(&mut self, o: OriginKey) -> io::Result<rustls::ClientConnection> {
        let tls_error = |why: String| io::Error::other(rustls::Error::General(why));
        let trust = &self.config.trust;
        let config = self.tls.get_or_insert_with(|| tls::client_config(trust).map_err(|e| e.to_string()));
        let config = config.as_ref().map_err(|why| tls_error(why.clone()))?;
        let name = self.origins[o].tls.clone().ok_or_else(|| tls_error("not a name TLS can verify".into()))?;
        rustls::ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)
    }

    /// An attempt has run alone for [`ATTEMPT_DELAY`]: let the next one start beside it.
    pub(super) fn attempt_delay_passed(&mut self, cx: &mut Context<'_>, key: ConnKey, req: ReqKey) {
        let conn = &mut self.conns[key].conn;
        conn.stop_racing();
        conn.armed = Some(conn.deadline());
        match self.config.connect_timeout {
            Some(t) => cx.timers.arm(conn.timer, cx.now + t.saturating_sub(ATTEMPT_DELAY)),
            None => cx.timers.cancel(conn.timer),
        }
        self.next_attempt(cx, req);
    }

    /// Attempt `key` connected: it carries the request; the others are closed.
    pub(super) fn won(&mut self, cx: &mut Context<'_>, key: ConnKey) {
        let State::Connecting { req, addr, .. } = self.conns[key].conn.state() else {
            unreachable!("only a connecting socket connects")
        };
        let race = std::mem::take(&mut self.requests[req].race);
        for &other in race.attempts.iter().filter(|&&other| other != key) {
            self.close(cx, other);
        }
        if let Some(entry) = race.pending {
            self.dns.leave(entry, req.index());
        }
        self.stats.connections_opened += 1;
        if self.depth > 1 {
            // Zero is no sample yet (a retransmitted SYN gives none): not known to be near.
            let link = &mut self.conns[key];
            link.conn.near = link.io.round_trip().is_some_and(|rtt| !rtt.is_zero() && rtt < NEAR);
            link.conn.hurry = self.origins[link.conn.origin].quirks.held_back;
        }
        match self.conns[key].io.resumed() {
            Some(true) => self.stats.tls_resumed += 1,
            Some(false) => self.stats.tls_handshakes += 1,
            None => {}
        }
        let active = &mut self.requests[req];
        active.place = Place::On(key);
        self.origins[active.origin].preferred = Some(addr.ip());
        self.encode(req);
        let link = &mut self.conns[key];
        link.conn.send(req, self.requests[req].method(&self.plain), &self.request_buf);
        let progress = link.flush();
        self.on_progress(cx, key, progress);
    }

    /// Attempt `key` failed (refused, unreachable, timed out): try the next address.
    pub(super) fn attempt_failed(&mut self, cx: &mut Context<'_>, key: ConnKey, e: io::Error) {
        let State::Connecting { req, addr, .. } = self.conns[key].conn.state() else {
            unreachable!("only a connecting socket fails to connect")
        };
        self.close(cx, key);
        let race = &mut self.requests[req].race;
        race.attempts.retain(|&k| k != key);
        race.last_error = Some((addr, e));
        self.next_attempt(cx, req);
    }

    /// The lookup behind `req`'s race has news: new addresses join the race, and the
    /// next attempt starts at once unless one is still within its attempt delay.
    pub(super) fn more_addresses(&mut self, cx: &mut Context<'_>, req: ReqKey) {
        let Some(entry) = self.requests[req].race.pending else { return };
        let (ips, more) = self.dns.known(entry);
        let more = more && self.dns.follow(entry, req.index());
        let port = self.origins[self.requests[req].origin].dial_port;
        let race = &mut self.requests[req].race;
        race.pending = more.then_some(entry);
        for addr in ips.into_iter().map(|ip| SocketAddr::new(ip, port)) {
            if !race.addrs.contains(&addr) {
                race.addrs.push(addr);
            }
        }
        if !race.attempts.iter().any(|&k| self.conns[k].conn.deadline() == Deadline::Attempt) {
            self.next_attempt(cx, req);
        }
    }

    /// Every address failed.
    fn give_up(&mut self, cx: &mut Context<'_>, req: ReqKey) {
        let mut race = std::mem::take(&mut self.requests[req].race);
        let (addr, e) = race.last_error.take().expect("a race that ran out of addresses saw a failure");
        let proxied = self.origins[self.requests[req].origin].via.is_some();
        let refused = e.get_ref().is_some_and(|inner| inner.is::<ProxyRefused>());
        let kind = match tls::error_kind(&e) {
            Some(tls) => tls,
            None if proxied || refused => ErrorKind::Proxy,
            None if e.kind() == io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
            None => ErrorKind::Connect,
        };
        let addr = if proxied { format!("proxy {addr}") } else { addr.to_string() };
        let n = race.addrs.len();
        let all = if n > 1 { format!(" (all {n} addresses failed)") } else { String::new() };
        let error = Error::new(kind, format!("connect to {addr}: {e}{all}")).with_source(e);
        self.complete(cx, req, Err(error));
    }

    /// Gives up an idle connection (of any origin) to make room; false if none.
    pub(super) fn close_an_idle_connection(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(o) = self.origins.any_with_idle() else { return false };
        let oldest = self.origins[o].idle.remove(0);
        self.close(cx, oldest);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(ips: &[&str], preferred: Option<&str>) -> Vec<String> {
        let ips: Vec<IpAddr> = ips.iter().map(|s| s.parse().unwrap()).collect();
        let mut out = Vec::new();
        order(&ips, preferred.map(|p| p.parse().unwrap()), 80, &mut out);
        out.iter().map(|a| a.ip().to_string()).collect()
    }

    #[test]
    fn families_alternate_ipv6_first() {
        let ips = ["2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2", "192.0.2.3"];
        assert_eq!(ordered(&ips, None), ["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2", "192.0.2.3"]);
        assert_eq!(ordered(&["192.0.2.1", "192.0.2.2"], None), ["192.0.2.1", "192.0.2.2"]);
    }

    #[test]
    fn the_address_that_worked_goes_first() {
        let ips = ["2001:db8::1", "192.0.2.1", "192.0.2.2"];
        assert_eq!(ordered(&ips, Some("192.0.2.2")), ["192.0.2.2", "2001:db8::1", "192.0.2.1"]);
        assert_eq!(ordered(&ips, Some("203.0.113.9")), ["192.0.2.1", "2001:db8::1", "192.0.2.2"]);
    }
}
