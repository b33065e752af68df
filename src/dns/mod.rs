//! Name resolution on the reactor's thread.
//!
//! This module is the reason the project exists. `getaddrinfo` blocks, so every async
//! runtime that uses it (asyncio's default resolver, tokio's `lookup_host`, hyper's
//! `GaiResolver`) runs it on a pool of helper threads — the "25 threads" of the
//! motivating question. Here our poll loop does the waiting, and the asking is done
//! by our own small UDP path for the common case and by c-ares for the rest.
//!
//! Read in this order:
//! * `cache.rs` — what we know about each name: coalescing, TTLs, negative answers,
//!   Happy Eyeballs' resolution delay, the size bound. Pure bookkeeping, no I/O.
//! * `hosts.rs` — the hosts file, asked first: a name it has is answered from it for
//!   both families, and no query is sent.
//! * `resolver.rs` — which way a query goes, and c-ares's sockets and timer driven by
//!   the reactor (search lists, TCP after a truncated reply, `resolv.conf` rules the
//!   own path does not have).
//! * `reply.rs` — an answer read from the reply c-ares parsed, CNAMEs followed as
//!   c-ares follows them.
//! * `wire.rs` — the own path's query encoder and reply parser: pure functions.
//! * `queries.rs` — the own path's outstanding queries: IDs, retries, deadlines; a
//!   state machine without I/O.
//! * `udp.rs` — the own path's sockets, and why it exists (measured: about 115,000
//!   instructions per lookup through c-ares, 6,000 through it; NOTES.md §9).
//!
//! [`Dns`] joins them for the client: ask for a name, get addresses, a failure, or
//! "wait"; when answers arrive, the waiters are handed back to ask again.
//!
//! ```
//! use std::net::IpAddr;
//!
//! use mio::Token;
//! use onethread::dns::{Dns, DnsConfig, Lookup};
//! use onethread::reactor::Reactor;
//!
//! // A hosts file of our own, so that nothing is asked of a DNS server.
//! let hosts = std::env::temp_dir().join(format!("onethread-doc-hosts-{}", std::process::id()));
//! std::fs::write(&hosts, "192.0.2.7 shop.test\n2001:db8::7 shop.test\n")?;
//! let config = DnsConfig {
//!     hosts_file: Some(hosts.clone()),
//!     servers: vec!["127.0.0.1:1".parse().unwrap()], // would refuse, if it were asked
//!     ..DnsConfig::default()
//! };
//! let mut reactor = Reactor::new(16)?;
//! let mut cx = reactor.context();
//! let mut dns = Dns::new(&mut cx, &config, 1 << 20, Token(0))?;
//!
//! // Request 3 asks. Answers, even the hosts file's, are handed out at the end of the turn.
//! let (_, lookup) = dns.resolve(&mut cx, "shop.test", 3);
//! assert_eq!(lookup, Lookup::Waiting { until: None });
//! let mut woken = Vec::new();
//! dns.take_woken(&mut cx, &mut woken); // the client does this at the end of each turn
//! assert_eq!(woken, [3]);
//!
//! // Woken, it asks again: IPv6 first (RFC 8305), then IPv4.
//! let want: [IpAddr; 2] = ["2001:db8::7".parse().unwrap(), "192.0.2.7".parse().unwrap()];
//! assert_eq!(dns.resolve(&mut cx, "shop.test", 3).1, Lookup::Ready(&want));
//! assert_eq!((dns.lookups(), dns.hosts_answers()), (0, 1)); // no query was sent
//! std::fs::remove_file(hosts)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Next: [`crate::client`], which puts the reactor, the codec and the resolver to work.

mod cache;
mod hosts;
mod queries;
mod reply;
mod resolver;
mod udp;
mod wire;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use mio::Token;
use mio::event::Event;

pub use cache::{Failure, Family, Lookup, MAX_TTL, RESOLUTION_DELAY, Reason};
pub use resolver::{Answer, Resolver};

use crate::reactor::Context;
use cache::{Asked, Cache};
use hosts::HostsFile;

/// A name's entry in the resolver, as [`Dns::resolve`] returns it: what a waiter holds
/// on to while the answer is coming (to follow it, read it, or leave). Valid while the
/// waiter waits on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryId(usize);

/// How names are resolved. Unset fields follow `/etc/resolv.conf`, as c-ares reads it.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// Name servers to use instead of those in `/etc/resolv.conf`.
    pub servers: Vec<SocketAddr>,
    /// A hosts file to use instead of `/etc/hosts` (for tests, chiefly). Names it has
    /// are answered from it for both families, and never asked of a server.
    pub hosts_file: Option<PathBuf>,
    /// Time to wait for a server's first answer before retrying, doubling each round
    /// over the servers (c-ares, where it asks, also adapts it to each server's
    /// measured latency).
    pub timeout: Option<Duration>,
    /// Attempts per server.
    pub tries: Option<u32>,
    /// Most names whose answers are kept (least recently used go first).
    pub cache_entries: usize,
    /// How long "no such name", "no address" and server failures are remembered.
    pub negative_ttl: Duration,
    /// Send EDNS (an OPT record) with each query. Off by default, as in glibc without
    /// `options edns0`: an A or AAAA answer fits 512 bytes, one that does not comes
    /// back truncated and c-ares asks again over TCP, and the OPT record costs a sixth
    /// of c-ares's work per query (NOTES.md §9). With EDNS, c-ares sends every query.
    pub edns: bool,
    /// Let c-ares send every query, as before the own path (`udp.rs`) existed: for
    /// comparison (the DNS bench runs both), or as a way out if the own path ever
    /// misbehaves with some server.
    pub c_ares_only: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            hosts_file: None,
            timeout: None,
            tries: None,
            cache_entries: 10_000,
            negative_ttl: Duration::from_secs(30),
            edns: false,
            c_ares_only: false,
        }
    }
}

/// The client's resolver: the hosts file, c-ares and the cache.
pub struct Dns {
    hosts: HostsFile,
    resolver: Resolver,
    cache: Cache,
    /// Answers to record at the next [`Dns::take_woken`]: the hosts file's, then c-ares's.
    answers: Vec<Answer>,
    /// Lookups sent to DNS: each is one A and one AAAA query.
    lookups: u64,
    /// Lookups the hosts file answered (no query; its answers are not cached, so each
    /// new connection to such a name asks it again, which costs a `stat`).
    hosts_answers: u64,
}

impl Dns {
    /// Socket tokens are `base + fd`; `timer_token` is reported when c-ares must run
    /// its timeouts.
    pub fn new(cx: &mut Context<'_>, config: &DnsConfig, base: usize, timer_token: Token) -> io::Result<Self> {
        Ok(Dns {
            hosts: HostsFile::new(config)?,
            resolver: Resolver::new(cx, config, base, timer_token)?,
            cache: Cache::new(config.cache_entries, config.negative_ttl),
            answers: Vec::new(),
            lookups: 0,
            hosts_answers: 0,
        })
    }

    /// Asks for `host` (lower case) on behalf of `waiter`. Returns the name's entry and
    /// what to do now; on [`Lookup::Waiting`] the waiter is handed back by
    /// [`Dns::take_woken`] when an answer arrives.
    pub fn resolve(&mut self, cx: &mut Context<'_>, host: &str, waiter: usize) -> (EntryId, Lookup<'_>) {
        // The cache keeps time by turns: an answer recorded this turn (even one with a
        // TTL of 0, as the hosts file's and timeouts' are) serves every waiter of it,
        // however often the clock is read for deadlines meanwhile.
        let (id, asked) = self.cache.ask(host, waiter, cx.turn);
        if let Asked::Start = asked {
            if let Some((v6, v4)) = self.hosts.lookup(host) {
                self.hosts_answers += 1;
                // Both families at once, queued like an answer c-ares gives inside the
                // call: the waiter is woken at the end of this turn.
                self.answers.push(Answer { key: id, family: Family::V6, part: v6 });
                self.answers.push(Answer { key: id, family: Family::V4, part: v4 });
            } else {
                self.lookups += 1;
                // AAAA first: RFC 8305 §3 asks for it to be sent before A.
                self.resolver.lookup(host, Family::V6, id);
                self.resolver.lookup(host, Family::V4, id);
            }
        }
        (EntryId(id), self.cache.lookup(id, cx.turn))
    }

    /// `waiter`, connecting with part of entry `id`'s answer, is woken by the next
    /// answer too; `false` if no answer is still to come.
    pub fn follow(&mut self, id: EntryId, waiter: usize) -> bool {
        self.cache.follow(id.0, waiter)
    }

    /// Every address entry `id` has so far, and whether more may come.
    pub fn known(&self, id: EntryId) -> (Vec<IpAddr>, bool) {
        self.cache.known(id.0)
    }

    /// `waiter` stops waiting for entry `id`.
    pub fn leave(&mut self, id: EntryId, waiter: usize) {
        self.cache.leave(id.0, waiter);
    }

    /// Records the answers that have arrived and appends their waiters to `woken`.
    pub fn take_woken(&mut self, cx: &mut Context<'_>, woken: &mut Vec<usize>) {
        self.resolver.take_answers(cx, &mut self.answers);
        if self.answers.is_empty() {
            return;
        }
        // Stamped with a fresh clock, not the turn's: the IPv4 answer's time starts the
        // resolution delay, a deadline. The turn still decides expiry (`resolve`): an
        // answer stamped after the turn began serves all of this turn and none of the next.
        let now = cx.refresh();
        for answer in self.answers.drain(..) {
            self.cache.answer(answer.key, answer.family, answer.part, now, woken);
        }
    }

    /// One of the resolver's sockets is ready; it is read at [`Dns::take_woken`].
    pub fn ready(&mut self, token: Token, event: &Event) {
        self.resolver.ready(token, event);
    }

    /// The resolver's deadline passed; it acts at [`Dns::take_woken`].
    pub fn timer_fired(&mut self) {
        self.resolver.timer_fired();
    }

    /// Lookups started so far.
    pub fn lookups(&self) -> u64 {
        self.lookups
    }

    /// Lookups the hosts file answered, with no query.
    pub fn hosts_answers(&self) -> u64 {
        self.hosts_answers
    }

    /// Names currently remembered.
    pub fn cached_names(&self) -> usize {
        self.cache.len()
    }
}
