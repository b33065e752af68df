//! The client: turns requests into outcomes, at most `C` at a time, on the caller's
//! reactor and thread.
//!
//! This is the scheduler the seed script builds out of `asyncio.Semaphore(1000)`,
//! `aiohttp.ClientSession` and its connector, written out by hand. Its interface is
//! curl's multi interface, in Rust terms:
//!
//! | curl multi | here |
//! |---|---|
//! | an easy handle with its options | a [`Request`]: a URL and a [`Template`] (method, fields, body) |
//! | `curl_multi_add_handle`, at any time | [`Submitter::submit`], or a lazy [`Source`] for a long list |
//! | `CURLOPT_PRIVATE` | the index `submit` returns, carried by every [`Sink`] call |
//! | header, write callbacks | [`Sink::head`], then [`Sink::body`] pieces |
//! | `curl_multi_info_read`: `CURLMSG_DONE` + `CURLcode` | [`Sink::outcome`]: exactly one per request, an [`Outcome`] with a typed [`Error`] |
//! | `curl_multi_socket_action` | the client is a reactor [`Handler`]: `ready`, `timer`, `end_of_turn` |
//!
//! ```
//! use onethread::client::{Client, Config, Options, Outcome, Sink, Template};
//! use onethread::reactor::{Context, Handler, Reactor};
//! use onethread::server::{Server, ServerConfig};
//!
//! /// Status per request index.
//! #[derive(Default)]
//! struct Statuses(Vec<(u64, u16)>);
//!
//! impl Sink for Statuses {
//!     fn outcome(&mut self, o: &Outcome<'_>) {
//!         self.0.push((o.index.0, o.result.as_ref().map_or(0, |r| r.status)));
//!     }
//! }
//!
//! /// The built-in server and the client, on one reactor: tokens are routed by range.
//! struct App {
//!     server: Server,
//!     client: Client<std::vec::IntoIter<String>, Statuses>,
//! }
//!
//! impl Handler for App {
//!     fn ready(&mut self, cx: &mut Context<'_>, token: mio::Token, event: &mio::event::Event) {
//!         match self.server.owns(token) {
//!             true => self.server.ready(cx, token, event),
//!             false => self.client.ready(cx, token, event),
//!         }
//!     }
//!     fn timer(&mut self, cx: &mut Context<'_>, token: mio::Token) {
//!         match self.server.owns(token) {
//!             true => self.server.timer(cx, token),
//!             false => self.client.timer(cx, token),
//!         }
//!     }
//!     fn end_of_turn(&mut self, cx: &mut Context<'_>) {
//!         self.client.end_of_turn(cx);
//!     }
//!     fn is_done(&self) -> bool {
//!         self.client.is_done()
//!     }
//!     fn has_work_left(&self) -> bool {
//!         self.client.has_work_left()
//!     }
//! }
//!
//! let mut reactor = Reactor::new(256)?;
//! let mut cx = reactor.context();
//! // Each component takes its range of tokens from a base: the server 0.., the client after it.
//! let server = Server::bind(&mut cx, &["127.0.0.1:0".parse()?], ServerConfig::default(), 0)?;
//! let base = format!("http://{}", server.local_addrs()[0]);
//! // A list, pulled lazily as slots free up…
//! let list: Vec<String> = (0..3).map(|i| format!("{base}/{i}")).collect();
//! let options = Options { token_base: onethread::server::TOKEN_SPAN, ..Options::default() };
//! let config = Config { concurrency: 2, ..Config::default() };
//! let client = Client::with_options(&mut cx, config, list.into_iter(), Statuses::default(), options)?;
//! // …and requests of any shape, added at any time (here, before the run).
//! let post = Template::new("POST", &[("Content-Type", "text/plain")], b"hello")?;
//! let index = client.submitter().submit(post.request(format!("{base}/form")));
//! assert_eq!(index.0, 0, "the first id: submitted requests go before the list");
//! let mut app = App { server, client };
//! reactor.run(&mut app)?;
//! let mut statuses = app.client.sink().0.clone();
//! statuses.sort();
//! assert_eq!(statuses, [(0, 200), (1, 200), (2, 200), (3, 200)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How it works:
//!
//! * **Admission** (`schedule.rs`). At the end of every turn of the reactor, requests
//!   are taken — first those submitted ([`Submitter`]), then from the [`Source`] — until
//!   `concurrency` requests are active, the source has nothing yet, or the sink asks to
//!   wait ([`Sink::wants_more`], back-pressure). A request holds its slot from
//!   admission to its outcome, wherever it waits (see `Place`).
//! * **Dispatch** (`schedule.rs`). An admitted request takes an idle keep-alive
//!   connection of its origin if there is one; otherwise it needs addresses (from the
//!   DNS cache, or waiting behind its host's one lookup) and a new connection, which a
//!   Happy Eyeballs race between the addresses provides (`race.rs`). The client holds
//!   at most `concurrency` sockets: to open one at the cap it first closes an idle
//!   connection of another origin. When the system is out of descriptors or ports,
//!   requests queue and retry when a socket closes or after a back-off, instead of
//!   failing in a burst.
//! * **Connections** live in a slab whose key is the mio token. A key freed and given
//!   to a new connection within one turn never receives the old socket's events from
//!   that turn's poll (`Born`). Requests, connections and origins each have a key type
//!   of their own (`keys.rs`), so one cannot index another's slab. Each is a sans-I/O
//!   state machine (`conn.rs`: facts in, `Progress` out, no socket, no clock) joined
//!   to its socket (`transport.rs`, which moves the bytes). What each `Progress` means
//!   is acted on in one place (`events.rs`, `on_progress`).
//! * **Fairness.** A connection reads at most `transport::READS_PER_TURN` buffers per turn;
//!   one with a response still arriving is queued and reads on at the end of the next
//!   turn, after the poll has served every other socket (`events.rs`,
//!   `resume_paused`), so a fast large body cannot starve the rest.
//! * **Deadlines.** Every phase has its own timeout and error kind: waiting for DNS,
//!   the TCP handshake, the response head, each gap between body reads, and the whole
//!   request. A connection's timer follows its phase; a request's timer covers the
//!   overall deadline and the DNS wait. A stalled server never keeps a slot past them.
//! * **Events.** The sink hears, per request: the head of the response the outcome
//!   will be about ([`Sink::head`]; redirects followed and responses retried are
//!   withheld), its body in pieces ([`Sink::body`]), and then exactly one outcome,
//!   from `complete` (`events.rs`), which hands an [`Outcome`] to the [`Sink`] and
//!   frees the slot.
//! * **Stopping.** [`Client::cancel`] ends every request in flight at once with
//!   `cancelled` and takes no more input: what a signal or a closed output asks for.
//! * **Pipelining** (`Config::pipeline`, off by default). A connection whose server
//!   has answered with HTTP/1.1 keep-alive may carry up to D requests at once; those
//!   that join it in a turn go out in one write, and responses are matched in order
//!   (`conn.rs`). An origin then gets at most ⌈C/D⌉ connections; requests beyond them
//!   wait in the origin's queue (`Place::Queued`), and a connection pulls the next
//!   ones when its pipeline is empty, or half empty if its round trip is long
//!   (`schedule.rs`, `fill`; `conn::NEAR`). Requests a connection leaves unanswered
//!   when it ends go back to the front of that queue.
//! * **Stale connections.** A server may close a pooled connection just as we send on
//!   it. If a reused connection fails before any byte of the response arrives, an
//!   idempotent request is retried once, on a fresh connection (RFC 9112 §9.3.1).
//!
//! Tokens: a client owns [`TOKEN_SPAN`] tokens from its base (`Options::token_base`,
//! 0 by default), as a server owns `server::TOKEN_SPAN` from the base it is bound with,
//! so both can share a reactor with each other and with the program's own. Within the
//! range, connections use base + their slab key; request timers, c-ares's timer and
//! sockets, and the back-off timer live in disjoint ranges above (the constants below).

mod conn;
mod decode;
mod events;
mod keys;
mod origin;
mod outcome;
mod politeness;
mod proxy;
mod race;
mod redirect;
mod request;
mod retry;
mod schedule;
mod source;
mod submit;
mod tls;
mod transport;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keys::{ConnKey, Key, Keyed, OriginKey, ReqKey};
use mio::Token;
use mio::event::Event;

use crate::dns::{Dns, DnsConfig, EntryId};
use crate::http1::Limits;
use crate::reactor::{Context, Handler, Reactor};
use crate::timer::TimerId;
use crate::url::Url;
use conn::Received;
use origin::Origins;
pub use outcome::{Error, ErrorKind, Outcome, RequestId, Response, Sink};
pub use proxy::Proxies;
use race::RaceBox;
pub use request::{Request, Template};
pub use source::{Next, Source};
pub use submit::{Hold, Submitter};
pub use tls::Trust;
use transport::Link;

// The client's tokens, from its base (`Options::token_base`): connections (and their
// timers) at `base + key`, then these.
/// Request timers: `REQUEST_TIMERS + request key`.
const REQUEST_TIMERS: usize = 1 << 32;
const DNS_TIMER: usize = 2 << 32;
const SOCKET_RETRY_TIMER: usize = DNS_TIMER + 1;
/// Fires when a host held back by `host_delay` may start again.
const POLITE_TIMER: usize = DNS_TIMER + 2;
/// c-ares sockets: `DNS_SOCKETS + fd`.
const DNS_SOCKETS: usize = 3 << 32;
/// How many tokens a client uses, from its base: `base..base + TOKEN_SPAN` are its
/// own, as `server::TOKEN_SPAN` are a server's from its base.
pub const TOKEN_SPAN: usize = 4 << 32;

/// How a client fits into a program: where its requests may also come from, and where
/// its tokens are on the shared reactor. `Options::default()` is what
/// [`Client::new`] uses.
#[derive(Debug, Default)]
pub struct Options {
    /// Take requests from this handle too (made beforehand, say, so that the sink can
    /// hold it: a crawler). `None`: the client makes its own ([`Client::submitter`]).
    pub submitter: Option<Submitter>,
    /// The client's tokens are `token_base..token_base + TOKEN_SPAN`, as a server's
    /// are from the base it is bound with; other components take other ranges.
    pub token_base: usize,
}

/// Size of the one read buffer shared by all connections.
const READ_BUFFER: usize = 64 * 1024;

/// How the client behaves: what holds for every request it makes (concurrency,
/// deadlines, limits, name resolution, trust, politeness). What a request sends —
/// method, header fields, body — is the request's own ([`Request`], [`Template`]). A
/// timeout of `None` means no limit for that phase.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most requests in flight at once (the seed's `Semaphore(1000)`).
    pub concurrency: usize,
    /// Deadline for a whole request, from admission to the end of the body.
    pub timeout: Option<Duration>,
    /// Longest a request waits for its name to resolve.
    pub dns_timeout: Option<Duration>,
    /// Longest a TCP handshake may take, per address tried.
    pub connect_timeout: Option<Duration>,
    /// Longest from sending the request to a complete response head.
    pub head_timeout: Option<Duration>,
    /// Longest gap between two reads of the body.
    pub read_timeout: Option<Duration>,
    /// How long an unused keep-alive connection is kept.
    pub idle_timeout: Duration,
    /// Most bytes in a response head, fields in it, and bytes in a body.
    pub limits: Limits,
    /// Where names are resolved (servers, hosts file, timeouts, cache).
    pub dns: DnsConfig,
    /// Addresses to use for `(host, port)` instead of resolving the name, like curl's
    /// `--resolve HOST:PORT:ADDR`. The URL (and so the Host header) is unchanged.
    pub resolve: Vec<Resolve>,
    /// Which servers `https://` URLs may be served by.
    pub trust: Trust,
    /// Proxies to go through (curl's `-x` and `http_proxy`, `https_proxy`, `no_proxy`).
    pub proxies: Proxies,
    /// At most this many requests in flight to one host name; the rest wait, parked,
    /// without holding up other hosts (see `politeness.rs`).
    pub per_host: Option<usize>,
    /// Request starts to one host name at least this far apart.
    pub host_delay: Option<Duration>,
    /// Retry transient failures of idempotent requests up to this many times, waiting
    /// as curl's `--retry` does (see `retry.rs`). 0: no retries.
    pub retry: u32,
    /// No retry starts later than this after the request's first attempt did, and a
    /// longer `Retry-After` is not waited for (curl's `--retry-max-time`).
    pub retry_max_time: Option<Duration>,
    /// Decode compressed bodies (gzip, deflate, br, zstd) as they arrive; the caller
    /// says which it accepts in an `Accept-Encoding` header. Off: bodies are untouched.
    pub decompress: bool,
    /// Follow redirects (301, 302, 303, 307, 308), at most this many per request, as
    /// curl's `-L --max-redirs N`. `None`: a 3xx is an ordinary response.
    pub max_redirects: Option<u32>,
    /// HTTP/1.1 pipelining: at most this many requests outstanding on one connection
    /// (1: off). Only for requests with idempotent methods, and only on a connection whose server has
    /// already answered with HTTP/1.1 keep-alive. With a depth D > 1, an origin is served
    /// by at most ⌈concurrency / D⌉ connections, so requests share them instead of each
    /// opening its own (see `conn.rs` and `schedule.rs`).
    pub pipeline: usize,
}

/// One `--resolve` pin: connections to `host:port` go to `addrs`, with no lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolve {
    /// Matched without regard to case.
    pub host: String,
    /// The port the pin is for (the URL's, explicit or the scheme's default).
    pub port: u16,
    /// Where to connect instead, tried as a resolver's answer would be.
    pub addrs: Vec<IpAddr>,
}

impl Resolve {
    /// Reads curl's `--resolve` syntax, `HOST:PORT:ADDR[,ADDR…]`, where IPv6 addresses
    /// may be bracketed. The error says what was expected.
    ///
    /// ```
    /// let pin = onethread::client::Resolve::parse("example.com:443:[::1],127.0.0.1")?;
    /// assert_eq!((pin.host.as_str(), pin.port, pin.addrs.len()), ("example.com", 443, 2));
    /// assert!(onethread::client::Resolve::parse("example.com:0:127.0.0.1").is_err());
    /// # Ok::<(), String>(())
    /// ```
    pub fn parse(text: &str) -> Result<Resolve, String> {
        let bad = || format!("'{text}' is not HOST:PORT:ADDR (e.g. example.com:80:127.0.0.1)");
        let (host, rest) = text.split_once(':').ok_or_else(bad)?;
        let (port, addrs) = rest.split_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().ok().filter(|&p| p > 0).ok_or_else(bad)?;
        let addrs = addrs
            .split(',')
            .map(|a| a.trim_start_matches('[').trim_end_matches(']').parse())
            .collect::<Result<Vec<IpAddr>, _>>()
            .map_err(|_| bad())?;
        if host.is_empty() || addrs.is_empty() {
            return Err(bad());
        }
        Ok(Resolve { host: host.to_owned(), port, addrs })
    }
}

impl Default for Config {
    fn default() -> Self {
        let secs = |s| Some(Duration::from_secs(s));
        Config {
            concurrency: 1000,
            timeout: secs(60),
            dns_timeout: secs(10),
            connect_timeout: secs(10),
            head_timeout: secs(30),
            read_timeout: secs(30),
            idle_timeout: Duration::from_secs(15),
            limits: Limits::default(),
            dns: DnsConfig::default(),
            resolve: Vec::new(),
            trust: Trust::default(),
            max_redirects: None,
            decompress: false,
            retry: 0,
            retry_max_time: None,
            per_host: None,
            host_delay: None,
            proxies: Proxies::default(),
            pipeline: 1,
        }
    }
}

/// Declares [`Stats`] from one list of counters, so that naming them all (for a report
/// that crosses a process boundary, as `fetch --workers` sends) and adding them up can
/// never miss one.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// Counters for the summary.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct Stats {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Stats {
            /// Every counter with its name, in declaration order.
            pub fn counters(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }

            /// Sets the counter called `name`; false if there is none.
            pub fn set(&mut self, name: &str, value: u64) -> bool {
                match name {
                    $(stringify!($name) => self.$name = value,)*
                    _ => return false,
                }
                true
            }
        }

        impl std::ops::AddAssign for Stats {
            fn add_assign(&mut self, other: Stats) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

counters! {
    /// Requests taken from the input (invalid URLs included).
    requests,
    /// Connections established (a Happy Eyeballs race opens one, however many
    /// addresses it tried).
    connections_opened,
    /// Connection attempts started: every socket a race opened.
    connect_attempts,
    /// Requests sent on a connection that had served one before.
    connections_reused,
    /// Names looked up in DNS (each one A and one AAAA query).
    dns_lookups,
    /// Names answered from the hosts file, with no query.
    hosts_lookups,
    /// New connections whose addresses were still valid from an earlier lookup.
    dns_cache_hits,
    /// Requests sent again after a pooled connection turned out stale.
    retries,
    /// Redirects followed.
    redirects,
    /// Transient failures retried (`Config::retry`).
    transient_retries,
    /// TLS handshakes completed in full.
    tls_handshakes,
    /// TLS handshakes resumed with a session ticket.
    tls_resumed,
    /// Times a socket could not be created for lack of descriptors or ports, so a
    /// request waited for one instead.
    socket_backoffs,
    /// Requests sent on a connection that was still waiting for earlier responses
    /// (`Config::pipeline`).
    pipelined,
    /// Pipelined requests sent again because their connection ended before answering them.
    resent,
    /// Origins whose server held a pipelined response back: it came 35 ms or more after
    /// the one ahead, beyond a round trip and any time it sat unread (most likely waiting
    /// for an acknowledgement: Nagle's algorithm). Their connections acknowledge at once
    /// from then on (`conn::HELD_BACK`).
    held_back,
    /// Origins no longer pipelined to: a pipelined request got no response head in time
    /// while the one ahead of it was answered (the server may ignore requests it reads
    /// behind another). Their connections carry one request at a time from then on, and
    /// pipelined requests that time out on them later are sent again instead of failing.
    unpipelined,
}

/// When each connection key was last given to a new connection, by turn.
///
/// A connection's key is its mio token, and the slab hands a freed key to the next
/// connection at once. So one poll can report on a socket that the client then closes
/// (while handling an earlier event of the same batch), and the key can go to a new
/// socket before that report is dispatched: applied to the new connection, it would be
/// news about a socket it never had. A socket registered after the poll cannot be in
/// that poll's reports, so events for a key given out during the turn are dropped. The
/// new socket loses nothing: epoll reports readiness present at registration on the
/// next poll, edge-triggered or not.
#[derive(Default)]
struct Born {
    /// Per key, the turn its current connection was opened in.
    turn_of: Vec<u64>,
    /// The current turn (counted by `end_of_turn`).
    now: u64,
}

impl Born {
    /// Connection `key` was opened now.
    fn note(&mut self, key: ConnKey) {
        let key = key.index();
        if self.turn_of.len() <= key {
            self.turn_of.resize(key + 1, u64::MAX);
        }
        self.turn_of[key] = self.now;
    }

    /// Whether `key`'s connection was opened during this turn, after its poll.
    fn this_turn(&self, key: ConnKey) -> bool {
        self.turn_of.get(key.index()) == Some(&self.now)
    }

    fn next_turn(&mut self) {
        self.now += 1;
    }
}

/// Where an admitted request is waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// For an answer about its host (the resolver's entry for the name).
    Resolving(EntryId),
    /// For a free descriptor or port (see `schedule.rs`).
    NeedsSocket,
    /// For one of its connection attempts to connect (see `race`).
    Connecting,
    /// On this connection.
    On(ConnKey),
    /// In its origin's queue, for a connection: the origin has as many as pipelining
    /// allows, or the connection it was on ended before answering it.
    Queued,
    /// For its next attempt, after a transient failure (see `retry.rs`); no socket.
    Waiting,
}

/// A request between admission and outcome.
struct Active {
    index: RequestId,
    url: Url,
    origin: OriginKey,
    started: Instant,
    /// The overall deadline, if any.
    deadline: Option<Instant>,
    /// Fires at the overall deadline, or earlier while waiting for DNS.
    timer: TimerId,
    /// While waiting for DNS: when that wait ends in a `dns-timeout`.
    dns_deadline: Option<Instant>,
    race: RaceBox,
    /// Already retried once after a stale pooled connection.
    retried: bool,
    place: Place,
    received: Received,
    /// Redirects followed so far; the URL the request started with, once it moved.
    redirects: u32,
    first_url: Option<Box<str>>,
    /// A redirect turned the request into a GET without a body (301/302 after a POST,
    /// 303), or took it to another origin, which gets no credentials, cookies or `Host`
    /// override of the configured fields.
    as_get: bool,
    elsewhere: bool,
    /// What it sends besides its URL.
    template: Template,
    /// Attempts so far (1 for the first), and when the first started.
    attempts: u32,
    first_started: Instant,
    /// The host its politeness counts it against, when limits are on.
    host_key: Option<Box<str>>,
}

/// The client: requests from a [`Source`] `I` and a [`Submitter`] in, events for the
/// [`Sink`] `S` out, on the reactor it is driven by (see the module docs for an
/// example). Build it with [`Client::new`], then call its [`Handler`] methods from the
/// reactor's handler, or run it as the handler itself.
pub struct Client<I, S> {
    config: Config,
    /// The prepared request of the default [`Template`] (GET, no fields), which bare URLs use.
    plain: request::Shape,
    /// For retry jitter (xorshift64*).
    rng: u64,
    /// The client's first token (`Options::token_base`).
    base: usize,
    /// Per-host limits, if any, and the timer for hosts held back by a delay.
    hosts: Option<politeness::Hosts>,
    polite_timer: TimerId,
    /// The TLS configuration every `https` connection shares, or why there is none
    /// (say, no CA certificates: then `https` requests fail with that reason). Made at
    /// the first `https` connection, so a plain-HTTP run never reads the CA store.
    tls: Option<Result<Arc<rustls::ClientConfig>, String>>,
    urls: I,
    urls_done: bool,
    /// Requests submitted through a [`Submitter`], and the index counter the source's
    /// URLs share with them.
    inbox: Submitter,
    /// Set by [`Client::cancel`]: why the run stopped. Anything submitted afterwards
    /// ends as `cancelled` with this message.
    stopped: Option<String>,
    sink: S,
    requests: Keyed<ReqKey, Active>,
    conns: Keyed<ConnKey, Link>,
    origins: Origins,
    dns: Dns,
    read_buf: Box<[u8]>,
    /// Requests whose lookup has news, to dispatch again (by index: the resolver's
    /// waiters are plain numbers).
    woken: Vec<usize>,
    /// The request being encoded; copied into the connection that sends it.
    request_buf: Vec<u8>,
    /// Header buffers of finished requests, kept so the next ones need not allocate.
    spare_heads: Vec<Vec<u8>>,
    /// Requests waiting for a socket, oldest first.
    backlog: VecDeque<ReqKey>,
    socket_retry: TimerId,
    backoff: Duration,
    /// A connection closed or went idle this turn, so a parked request may proceed.
    socket_freed: bool,
    /// Requests outstanding per connection (`Config::pipeline`), and most connections
    /// per origin when above 1. Requests with methods that are not idempotent are never
    /// pipelined.
    depth: usize,
    per_origin: usize,
    /// Connections with pipelined requests to write, written together at the end of
    /// the turn: one write for every request that joined them this turn. With each,
    /// whether it was idle when the first of them joined (its head deadline then starts
    /// again at the write).
    to_flush: Vec<(ConnKey, bool)>,
    /// Origins whose queue may move: one of their connections closed.
    stirred: Vec<OriginKey>,
    /// Which connections were opened after this turn's poll (see [`Born`]).
    born: Born,
    /// Events dropped because they named a key that a newer connection took.
    stale_events: u64,
    /// Connections that used their share of reads with a response still arriving,
    /// oldest first; each reads on at the end of the next turn, after the poll has
    /// given every other socket its chance (see `transport::READS_PER_TURN`).
    paused: VecDeque<ConnKey>,

    stats: Stats,
}

/// Why a client could not start, or its reactor failed. (A request's own failure is
/// never one of these: it is an [`Error`] in that request's [`Outcome`].)
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// `Config::concurrency` is 0: no request could ever start.
    NoConcurrency,
    /// The [`Submitter`] given already feeds another client.
    SubmitterInUse,
    /// The system refused: the resolver (c-ares) or the reactor could not start, or
    /// polling failed.
    Io(io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NoConcurrency => f.write_str("concurrency must be at least 1"),
            ClientError::SubmitterInUse => f.write_str("this submitter already feeds a client"),
            ClientError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// Runs `requests` to completion on a reactor of its own and returns the sink and
/// counters. Each item is a [`Request`], or a URL to GET.
pub fn fetch<I, S>(config: Config, requests: I, sink: S) -> Result<(S, Stats), ClientError>
where
    I: IntoIterator,
    I::Item: Into<Request>,
    S: Sink,
{
    let mut reactor = Reactor::new(1024)?;
    let mut client = Client::new(&mut reactor.context(), config, requests.into_iter(), sink)?;
    reactor.run(&mut client)?;
    let stats = client.stats();
    Ok((client.sink, stats))
}

impl<I: Source, S: Sink> Client<I, S> {
    /// A client taking requests from `urls` and its own [`Submitter`], with tokens from
    /// 0. Fails only for a bad configuration or if c-ares cannot start.
    pub fn new(cx: &mut Context<'_>, config: Config, urls: I, sink: S) -> Result<Self, ClientError> {
        Self::with_options(cx, config, urls, sink, Options::default())
    }

    /// [`Client::new`], fitted in as `options` say: with a submitter made beforehand
    /// (for a sink that submits, which must hold the handle before the client exists;
    /// a submitter feeds one client only, a second is refused), and with its tokens
    /// from a base of its own.
    pub fn with_options(
        cx: &mut Context<'_>,
        config: Config,
        urls: I,
        sink: S,
        options: Options,
    ) -> Result<Self, ClientError> {
        if config.concurrency == 0 {
            return Err(ClientError::NoConcurrency);
        }
        let submitter = options.submitter.unwrap_or_default();
        if std::mem::replace(&mut submitter.0.borrow_mut().bound, true) {
            return Err(ClientError::SubmitterInUse);
        }
        let base = options.token_base;
        let dns = Dns::new(cx, &config.dns, base + DNS_SOCKETS, Token(base + DNS_TIMER))?;
        let origins = Origins::new(&config.resolve, config.proxies.clone());
        let depth = config.pipeline.max(1);
        Ok(Client {
            depth,
            per_origin: config.concurrency.div_ceil(depth),
            to_flush: Vec::new(),
            stirred: Vec::new(),
            plain: request::Shape::plain(),
            tls: None,
            rng: 0x9E37_79B9_7F4A_7C15,
            hosts: politeness::Hosts::new(config.per_host, config.host_delay, config.concurrency),
            polite_timer: cx.timers.insert(Token(base + POLITE_TIMER)),
            base,
            config,
            urls,
            urls_done: false,
            inbox: submitter,
            stopped: None,
            sink,
            requests: Keyed::default(),
            conns: Keyed::default(),
            origins,
            dns,
            read_buf: vec![0; READ_BUFFER].into_boxed_slice(),
            woken: Vec::new(),
            request_buf: Vec::new(),
            spare_heads: Vec::new(),
            backlog: VecDeque::new(),
            socket_retry: cx.timers.insert(Token(base + SOCKET_RETRY_TIMER)),
            backoff: schedule::MIN_BACKOFF,
            socket_freed: false,
            paused: VecDeque::new(),
            born: Born::default(),
            stale_events: 0,
            stats: Stats::default(),
        })
    }

    /// Whether `token` is one of the client's (`base..base + TOKEN_SPAN`), as
    /// [`Server::owns`](crate::server::Server::owns) says for the server's.
    pub fn owns(&self, token: Token) -> bool {
        (self.base..self.base + TOKEN_SPAN).contains(&token.0)
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        Stats { dns_lookups: self.dns.lookups(), hosts_lookups: self.dns.hosts_answers(), ..self.stats }
    }

    /// A handle that adds requests to this client at any time, from anywhere on its
    /// thread (see [`Submitter`]). Submitting after a run finished starts the next run
    /// (`Reactor::run` again), which reuses pooled connections and cached DNS answers.
    pub fn submitter(&self) -> Submitter {
        self.inbox.clone()
    }

    /// Origins currently in use (by a request or a connection).
    pub fn origins(&self) -> usize {
        self.origins.len()
    }

    /// The sink, to read what it gathered.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, to change it between turns (say, to open or close its back-pressure).
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// The sink, once the run is over.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// The input, for whoever feeds it from the reactor (say, a pipe that became readable).
    pub fn source_mut(&mut self) -> &mut I {
        &mut self.urls
    }

    /// Stops the run: no more URLs are taken, and every request in flight ends now, each
    /// with its one outcome, of kind `cancelled` with `why` as its message. Their
    /// connections are closed (a half-read response cannot be reused); idle ones stay
    /// pooled until the client is dropped. Afterwards [`Client::is_done`] holds.
    /// Requests submitted afterwards end as `cancelled` too, at the end of the turn.
    pub fn cancel(&mut self, cx: &mut Context<'_>, why: &str) {
        self.urls_done = true;
        self.stopped = Some(why.to_owned());
        self.backlog.clear();
        let keys: Vec<ReqKey> = self.requests.keys().collect();
        for req in keys {
            self.detach(cx, req);
            self.complete(cx, req, Err(Error::new(ErrorKind::Cancelled, why)));
        }
        // URLs parked for their host were taken from the input: each has its outcome too.
        let parked = self.hosts.as_mut().map(|h| h.drain()).unwrap_or_default();
        let error = Error::new(ErrorKind::Cancelled, why);
        for p in parked {
            self.end_unadmitted(p.index, p.url.as_str(), &error, 0);
        }
        // Last, so that what the outcomes above submitted is ended too.
        self.end_submitted();
    }

    /// After a cancel: every submitted request ends as `cancelled`, unsent.
    fn end_submitted(&mut self) {
        let Some(why) = &self.stopped else { return };
        let error = Error::new(ErrorKind::Cancelled, why.as_str());
        while let Some((index, request)) = self.inbox.pop() {
            self.end_unadmitted(index, request.url(), &error, 0);
        }
    }

    /// The outcome of a request that never took a slot (an invalid URL, or one still
    /// waiting when the run was cancelled).
    fn end_unadmitted(&mut self, index: RequestId, url: &str, error: &Error, attempts: u32) {
        let outcome = Outcome {
            index,
            url,
            result: Err(error),
            partial: None,
            elapsed: Duration::ZERO,
            redirects: 0,
            final_url: None,
            attempts,
        };
        self.sink.outcome(&outcome);
    }

    /// Requests admitted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Open sockets to servers (busy and idle).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }
}

impl<I: Source, S: Sink> Handler for Client<I, S> {
    fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &Event) {
        if token.0 - self.base >= DNS_SOCKETS {
            self.dns.ready(token, event);
        } else {
            self.on_conn_event(cx, ConnKey::from_index(token.0 - self.base), event);
            // A finished response frees a slot: fill it now, usually on the connection
            // that just went idle, rather than after every other event of this turn.
            // The server then sees a steady stream of requests, not one burst per turn.
            if self.requests.len() < self.config.concurrency {
                self.admit_more(cx);
            }
        }
    }

    fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
        match token.0 - self.base {
            DNS_TIMER => self.dns.timer_fired(),
            SOCKET_RETRY_TIMER => self.retry_backlog(cx),
            POLITE_TIMER => self.on_polite_timer(cx),
            t if t >= REQUEST_TIMERS => self.on_request_timeout(cx, ReqKey::from_index(t - REQUEST_TIMERS)),
            t => self.on_conn_timeout(cx, ConnKey::from_index(t)),
        }
    }

    /// Must be called once per turn of the reactor, after its events and timers (as
    /// `Reactor::run` does for a handler): admission happens here, and so does the
    /// bookkeeping that keeps a stale event from reaching a new connection.
    fn end_of_turn(&mut self, cx: &mut Context<'_>) {
        self.resume_paused(cx);
        self.serve_queues(cx);
        if std::mem::take(&mut self.socket_freed) {
            self.retry_backlog(cx);
        }
        // Admitting may start lookups that c-ares answers at once (hosts file,
        // cache), and answers may free slots; go round until nothing changes.
        loop {
            self.admit_more(cx);
            self.dns.take_woken(cx, &mut self.woken);
            if self.woken.is_empty() {
                break;
            }
            self.on_dns_news(cx);
        }
        self.flush_pipelined(cx);
        self.born.next_turn(); // the next poll may report on every socket opened so far
    }

    fn is_done(&self) -> bool {
        let inbox = self.inbox.0.borrow();
        self.urls_done
            && self.requests.is_empty()
            && self.hosts.as_ref().is_none_or(|h| h.parked() == 0)
            && inbox.queue.is_empty()
            && (inbox.holds == 0 || self.stopped.is_some()) // a stop outranks a hold
    }

    fn has_work_left(&self) -> bool {
        // Also what the end of this turn itself produced: pipelined requests to write, or
        // queues that a connection closing during the last flush may let move.
        !self.paused.is_empty() || !self.to_flush.is_empty() || !self.stirred.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;

    use mio::{Events, Interest, Poll};

    use super::*;

    #[test]
    fn an_event_for_a_key_a_new_connection_took_this_turn_is_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap(); // accepts, never answers
        let addr = listener.local_addr().unwrap();
        let mut reactor = Reactor::new(16).unwrap();
        let mut cx = reactor.context();
        let config = Config { concurrency: 1, ..Config::default() };
        let mut client = Client::new(&mut cx, config, std::iter::empty::<String>(), |_: &Outcome<'_>| {}).unwrap();
        client.submitter().submit(format!("http://{addr}/old"));
        client.end_of_turn(&mut cx); // admitted: connection 0 opens
        assert!(client.conns.get(ConnKey::from_index(0)).is_some());

        // A real readiness event for token 0, as this turn's poll might have reported
        // about the old socket (made on a socket pair of the test's own).
        let mut poll = Poll::new().unwrap();
        let (mut ours, mut theirs) = mio::net::UnixStream::pair().unwrap();
        poll.registry().register(&mut ours, Token(0), Interest::READABLE).unwrap();
        theirs.write_all(b"x").unwrap();
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(5))).unwrap();
        let event = events.iter().next().expect("a readable event");

        // While an earlier event of the same turn is handled, the old request ends, its
        // connection closes, and the next request's connection takes key 0…
        let old = ReqKey::from_index(0);
        client.detach(&mut cx, old);
        client.complete(&mut cx, old, Err(Error::new(ErrorKind::Cancelled, "by the test")));
        client.submitter().submit(format!("http://{addr}/new"));
        client.admit_more(&mut cx);
        assert!(client.conns.get(ConnKey::from_index(0)).is_some(), "the key was reused");
        // …then the turn's event for the old socket is dispatched: not to the new one.
        client.ready(&mut cx, Token(0), event);
        assert_eq!(client.stale_events, 1);
        // From the next turn on, events for key 0 are the new connection's own.
        client.end_of_turn(&mut cx);
        client.ready(&mut cx, Token(0), event);
        assert_eq!(client.stale_events, 1);
    }
}
