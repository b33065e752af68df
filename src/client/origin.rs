//! Per-origin state: the pool of idle keep-alive connections, and which address last
//! worked.
//!
//! An origin is `(scheme, host, port)`: `http://h:443` and `https://h:443` share no
//! connection. Names and their
//! addresses belong to the resolver (`dns/`), which coalesces lookups per host; an
//! origin only remembers the address that last accepted a connection, so new
//! connections try it first and a dead address costs one failure, not one per socket.
//!
//! Origins are counted references: every request and every connection of an origin
//! holds one, and an origin nobody holds is forgotten. A crawl over a million hosts
//! therefore keeps only the origins it is using, not every origin it has seen.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use super::keys::{ConnKey, Key, Keyed, OriginKey, ReqKey};
use rustls::pki_types::ServerName;

use super::proxy::{Proxies, Route};
use super::tls;
use std::sync::Arc;

use crate::url::Url;

pub(super) struct Origin {
    /// Lower-cased host name or IP literal.
    pub host: Box<str>,
    pub port: u16,
    /// `https://`: connections are TLS.
    pub https: bool,
    /// For `https`: the name the server's certificate must carry (and the SNI sent for
    /// a host name; an IP address is never sent as SNI). `None` if the host is not a
    /// name TLS can check.
    pub tls: Option<ServerName<'static>>,
    /// The proxy its connections go through, if any.
    pub via: Option<Arc<Route>>,
    /// What connections dial: the host and port, or the proxy's.
    pub dial_host: Box<str>,
    pub dial_port: u16,
    /// Addresses known without a lookup: the dialled host itself when it is an IP
    /// literal, or a `--resolve` pin. Empty: the name is resolved.
    pub pinned: Box<[IpAddr]>,
    /// The address that last accepted a connection.
    pub preferred: Option<IpAddr>,
    /// Idle connections, most recently used last (reused first: warmest).
    pub idle: Vec<ConnKey>,
    /// Pipelining: busy connections that may take another request (entries may be
    /// stale; each is checked when taken), requests waiting for a connection, and the
    /// connections (attempts included) open to this origin now.
    pub open: Vec<ConnKey>,
    pub queue: std::collections::VecDeque<ReqKey>,
    pub links: usize,
    /// What its server showed about pipelining; remembered after the origin is forgotten.
    pub quirks: Quirks,
    /// Requests and connections that refer to this origin.
    users: usize,
}

/// What an origin's server showed about pipelining, for the rest of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Quirks {
    /// A connection to it showed the server holding pipelined responses back for an
    /// acknowledgement: its connections hurry, new ones from the start (`conn::HELD_BACK`).
    pub held_back: bool,
    /// A pipelined request to it got no response head in time, while the one ahead of it
    /// was answered: its server may ignore requests it reads behind another, as some do.
    /// From then on its connections carry one request at a time, as without pipelining,
    /// and it is not held to ⌈C/D⌉ of them.
    pub one_at_a_time: bool,
}

impl Origin {
    /// The host as a `CONNECT` names it: IPv6 literals in brackets.
    pub fn host_for_tunnel(&self) -> String {
        if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.to_string() }
    }

    pub fn remove_idle(&mut self, conn: ConnKey) {
        if let Some(i) = self.idle.iter().position(|&c| c == conn) {
            self.idle.remove(i);
        }
    }
}

/// The origins in use, found by `(host, port)`.
pub(super) struct Origins {
    /// `--resolve` pins, by lower-cased host and port.
    pins: HashMap<(Box<str>, u16), Box<[IpAddr]>>,
    proxies: Proxies,
    list: Keyed<OriginKey, Origin>,
    /// Lower-cased host → its origins, one per port and scheme (almost always just one).
    /// Keyed by host alone so a lookup borrows the URL's text instead of building a key.
    index: HashMap<Box<str>, Vec<(u16, bool, OriginKey)>>,
    /// Most URL lists hit one origin many times in a row: check it before hashing.
    last: OriginKey,
    /// The quirks of origins forgotten meanwhile (no requests or connections left), by
    /// host, port and scheme: one entry per origin that showed any, for the whole run
    /// (a crawl of many slow hosts keeps one small entry for each).
    remembered: HashMap<(Box<str>, u16, bool), Quirks>,
}

impl Origins {
    pub fn new(resolve: &[super::Resolve], proxies: Proxies) -> Self {
        let pins = resolve.iter().map(|r| ((r.host.to_ascii_lowercase().into(), r.port), r.addrs.clone().into()));
        Origins {
            pins: pins.collect(),
            proxies,
            list: Keyed::default(),
            index: HashMap::new(),
            last: OriginKey::from_index(0),
            remembered: HashMap::new(),
        }
    }

    /// The origin of `url`, with one more user.
    pub fn hold(&mut self, url: &Url) -> OriginKey {
        let (port, https) = (url.port(), url.is_https());
        let id = match self.list.get(self.last) {
            // Hosts are kept in lower case, and URLs nearly always have them so: a plain
            // comparison first (this runs for every request).
            Some(o)
                if o.port == port
                    && o.https == https
                    && (*o.host == *url.host() || o.host.eq_ignore_ascii_case(url.host())) =>
            {
                self.last
            }
            _ => {
                // Host names are nearly always written in lower case; only the rest pay
                // for a lower-cased copy.
                let host = url.host();
                let lower: Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(host.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(host)
                };
                let known =
                    self.index.get(&*lower).and_then(|ports| ports.iter().find(|&&(p, s, _)| (p, s) == (port, https)));
                match known {
                    Some(&(_, _, id)) => id,
                    None => {
                        let host: Box<str> = lower.into();
                        let via = self.proxies.route(https, &host);
                        let (dial_host, dial_port, ip) = match &via {
                            Some(proxy) => (proxy.host.clone(), proxy.port, proxy.ip),
                            None => (host.clone(), port, url.ip()),
                        };
                        let pinned = match ip {
                            Some(ip) => Box::new([ip]) as Box<[IpAddr]>,
                            None => self.pins.get(&(dial_host.clone(), dial_port)).cloned().unwrap_or_default(),
                        };
                        let tls = if https { tls::server_name(&host) } else { None };
                        let origin = Origin {
                            host: host.clone(),
                            port,
                            https,
                            tls,
                            via,
                            dial_host,
                            dial_port,
                            pinned,
                            preferred: None,
                            idle: Vec::new(),
                            open: Vec::new(),
                            queue: Default::default(),
                            links: 0,
                            quirks: match self.remembered.is_empty() {
                                true => Quirks::default(),
                                false => self.remembered.remove(&(host.clone(), port, https)).unwrap_or_default(),
                            },
                            users: 0,
                        };
                        let id = self.list.insert(origin);
                        self.index.entry(host).or_default().push((port, https, id));
                        id
                    }
                }
            }
        };
        self.last = id;
        self.list[id].users += 1;
        id
    }

    /// One more user of an origin already held (a new connection).
    pub fn hold_again(&mut self, id: OriginKey) {
        self.list[id].users += 1;
    }

    /// One user fewer; the last one out forgets the origin.
    pub fn release(&mut self, id: OriginKey) {
        let origin = &mut self.list[id];
        origin.users -= 1;
        if origin.users == 0 {
            let origin = self.list.remove(id);
            let ports = self.index.get_mut(&origin.host).expect("a held origin is indexed");
            ports.retain(|&(_, _, other)| other != id);
            if ports.is_empty() {
                self.index.remove(&origin.host);
            }
            if origin.quirks != Quirks::default() {
                self.remembered.insert((origin.host, origin.port, origin.https), origin.quirks);
            }
        }
    }

    /// Some origin with an idle connection, for closing one to make room.
    pub fn any_with_idle(&self) -> Option<OriginKey> {
        self.list.iter().find(|(_, o)| !o.idle.is_empty()).map(|(id, _)| id)
    }

    /// Origins in use.
    pub fn get(&self, id: OriginKey) -> Option<&Origin> {
        self.list.get(id)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}

impl std::ops::Index<OriginKey> for Origins {
    type Output = Origin;
    fn index(&self, i: OriginKey) -> &Origin {
        &self.list[i]
    }
}

impl std::ops::IndexMut<OriginKey> for Origins {
    fn index_mut(&mut self, i: OriginKey) -> &mut Origin {
        &mut self.list[i]
    }
}
