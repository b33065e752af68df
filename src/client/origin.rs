//! Per-origin state: the addresses a host resolved to, the lookup in progress and
//! the requests waiting on it, and the pool of idle keep-alive connections.
//!
//! An origin is `(host, port)` (the scheme is always `http` here). Keeping lookups
//! per origin is what coalesces them: a thousand requests for one host that arrive
//! while its lookup is in flight wait in `waiting` behind that single lookup.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::url::Url;

pub(super) struct Origin {
    /// Lower-cased host name or IP literal.
    pub host: String,
    pub port: u16,
    /// Resolved addresses with `port` filled in, in the order c-ares ranked them.
    pub addrs: Vec<SocketAddr>,
    /// When `addrs` stop being valid (the DNS TTL). `None` for IP literals.
    pub expires: Option<Instant>,
    /// Index in `addrs` of the address that last accepted a connection; new
    /// connections try it first, so a dead address costs one failure, not one per socket.
    pub preferred: usize,
    pub resolving: bool,
    /// Requests waiting for the lookup to finish.
    pub waiting: Vec<usize>,
    /// Idle connections, most recently used last (reused first: warmest).
    pub idle: Vec<usize>,
}

impl Origin {
    fn new(url: &Url) -> Self {
        let port = url.port();
        let (addrs, expires) = match url.ip() {
            Some(ip) => (vec![SocketAddr::new(ip, port)], None),
            None => (Vec::new(), Some(Instant::now())), // already stale: resolve first
        };
        Origin {
            host: url.host().to_ascii_lowercase(),
            port,
            addrs,
            expires,
            preferred: 0,
            resolving: false,
            waiting: Vec::new(),
            idle: Vec::new(),
        }
    }

    /// Whether `addrs` may be used at `now`. Answers with a TTL of zero are still
    /// good for the turn of the loop in which they arrived.
    pub fn has_addrs(&self, now: Instant) -> bool {
        !self.addrs.is_empty() && self.expires.is_none_or(|at| now <= at)
    }

    pub fn set_addrs(&mut self, ips: impl Iterator<Item = IpAddr>, expires: Instant) {
        self.addrs.clear();
        self.addrs.extend(ips.map(|ip| SocketAddr::new(ip, self.port)));
        self.expires = Some(expires);
        self.preferred = 0;
    }

    pub fn remove_idle(&mut self, conn: usize) {
        if let Some(i) = self.idle.iter().position(|&c| c == conn) {
            self.idle.remove(i);
        }
    }
}

/// All origins seen in this run, found by `(host, port)`.
#[derive(Default)]
pub(super) struct Origins {
    list: Vec<Origin>,
    index: HashMap<(String, u16), usize>,
    /// Most URL lists hit one origin many times in a row: check it before hashing.
    last: usize,
}

impl Origins {
    pub fn find_or_insert(&mut self, url: &Url) -> usize {
        if let Some(o) = self.list.get(self.last)
            && o.port == url.port()
            && o.host.eq_ignore_ascii_case(url.host())
        {
            return self.last;
        }
        let key = (url.host().to_ascii_lowercase(), url.port());
        let next = self.list.len();
        let id = *self.index.entry(key).or_insert(next);
        if id == next {
            self.list.push(Origin::new(url));
        }
        self.last = id;
        id
    }

    /// Some origin with an idle connection, for closing one to make room.
    pub fn any_with_idle(&self) -> Option<usize> {
        self.list.iter().position(|o| !o.idle.is_empty())
    }
}

impl std::ops::Index<usize> for Origins {
    type Output = Origin;
    fn index(&self, i: usize) -> &Origin {
        &self.list[i]
    }
}

impl std::ops::IndexMut<usize> for Origins {
    fn index_mut(&mut self, i: usize) -> &mut Origin {
        &mut self.list[i]
    }
}
