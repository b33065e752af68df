//! The own path's sockets: one connected UDP socket per server, on the reactor.
//!
//! **Why not c-ares for this.** After every cheap c-ares option was tuned (NOTES.md
//! §9), a lookup (A + AAAA) still cost about 115,000 instructions, 94% of them in
//! c-ares: every query is written to wire format, parsed back and written again
//! (`ares_send_nolock`), with about 50 mallocs, and every reply is parsed into a
//! record tree that `reply.rs` then walks. The same work, done for the one case a
//! crawler meets a million times — a plain name, type A or AAAA, over UDP — is
//! `wire.rs` (a 30-byte query written into a reused buffer, a reply read in place)
//! and `queries.rs` (a slab and an ID table). c-ares keeps what it does well and we
//! would only redo worse: search lists, TCP, resolv.conf parsing, the hosts file.
//!
//! What this file adds to the state machine is only I/O:
//! * **Sockets.** Per server, one UDP socket `connect`ed to it, so the kernel drops
//!   datagrams from any other address or port before we see them. It is registered
//!   with mio once (token `base + fd`, the range c-ares's sockets use), and replaced
//!   after [`super::resolver::UDP_MAX_QUERIES`] queries by a new socket, whose port the
//!   kernel picks at random (RFC 5452 §9.2); the old one is closed when its last
//!   query is over. A reply is only accepted on the socket its query went out on.
//! * **Reading** until `EAGAIN` on each readiness, into one buffer for all sockets.
//!   An error on a connected UDP socket (ICMP port unreachable: `ECONNREFUSED`) moves
//!   every query on it to its next attempt, on the next server.
//! * **Sending** happens at the end of the turn ([`OwnPath::run`]), for every query
//!   started during the turn and every retransmission that fell due.
//!
//! Next: the client, `src/client/mod.rs`, which asks [`super::Dns`] for names.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Interest, Token};
use slab::Slab;

use super::cache::Family;
use super::queries::{Output, Queries};
use super::resolver::Answer;
use super::wire::{Name, UDP_PAYLOAD};
use crate::reactor::Context;

/// The `via` of an attempt whose socket could not be opened.
const NO_SOCKET: u32 = u32::MAX - 1;
/// Most queries outstanding at once; beyond, c-ares asks. Half the ID space: a forger
/// who guesses IDs must not find most of them taken, and a free ID is found in two
/// draws on average.
const MAX_OUTSTANDING: usize = 1 << 15;
/// Errors read from one socket in one readiness before we stop reading it.
const MAX_ERRORS_PER_READ: usize = 8;

struct Sock {
    socket: UdpSocket,
    token: Token,
    server: usize,
    /// Queries sent on it, for the move to a new port.
    sent: u32,
    /// Queries whose current attempt went out on it.
    outstanding: u32,
}

/// A lookup that the own path hands back to c-ares (a truncated reply).
pub struct ToCares {
    pub host: String,
    pub family: Family,
    pub key: usize,
}

pub struct OwnPath {
    servers: Vec<SocketAddr>,
    /// Per server, the socket new queries go on.
    current: Vec<Option<usize>>,
    sockets: Slab<Sock>,
    queries: Queries,
    /// Queries started since the last [`OwnPath::run`].
    pending: Vec<(Name, Family, usize)>,
    /// Sockets reported readable since the last run.
    ready: Vec<usize>,
    send_buf: Vec<u8>,
    recv_buf: Box<[u8]>,
    base: usize,
    max_queries: u32,
    receive_buffer: u32,
}

impl OwnPath {
    /// Asks `servers` (in order), each `tries` times, waiting `timeout` at first.
    pub fn new(
        servers: Vec<SocketAddr>,
        timeout: Duration,
        tries: u32,
        base: usize,
        max_queries: u32,
        receive_buffer: u32,
    ) -> Self {
        OwnPath {
            current: vec![None; servers.len()],
            queries: Queries::new(servers.len(), timeout, tries, seed()),
            servers,
            sockets: Slab::new(),
            pending: Vec::new(),
            ready: Vec::new(),
            send_buf: Vec::with_capacity(UDP_PAYLOAD),
            // Replies over 512 bytes are malformed without EDNS, but a whole datagram
            // is read so that one is never mistaken for a shorter one.
            recv_buf: vec![0; 1 << 16].into_boxed_slice(),
            base,
            max_queries,
            receive_buffer,
        }
    }

    /// Starts a query; it is sent at the end of the turn.
    pub fn lookup(&mut self, name: Name, family: Family, key: usize) {
        self.pending.push((name, family, key));
    }

    /// Whether `token` is one of our sockets; if so, it is read at the next run.
    pub fn ready(&mut self, token: Token) -> bool {
        match self.sockets.iter().find(|(_, s)| s.token == token) {
            Some((key, _)) => {
                self.ready.push(key);
                true
            }
            None => false,
        }
    }

    /// Whether [`OwnPath::run`] has anything to do at `now`.
    pub fn due(&self, now: Instant) -> bool {
        !self.pending.is_empty() || !self.ready.is_empty() || self.deadline().is_some_and(|d| d <= now)
    }

    /// The earliest retransmission or timeout.
    pub fn deadline(&self) -> Option<Instant> {
        self.queries.deadline()
    }

    /// Sends what was started, reads what arrived, retransmits what fell due; answers
    /// go to `out`, lookups for c-ares to `to_cares`.
    pub fn run(&mut self, cx: &mut Context<'_>, out: &mut Vec<Answer>, to_cares: &mut Vec<ToCares>) {
        // This runs at the end of the turn, after the turn's other work: a fresh clock
        // for the deadlines it sets (the rule is in `reactor.rs`).
        let now = cx.refresh();
        for (name, family, key) in self.pending.drain(..) {
            if self.queries.len() < MAX_OUTSTANDING {
                self.queries.start(name, family, key, now);
            } else {
                to_cares.push(ToCares { host: name.host(), family, key });
            }
        }
        let mut ready = std::mem::take(&mut self.ready);
        let read_any = !ready.is_empty();
        for key in ready.drain(..) {
            self.read(key, now);
        }
        self.ready = ready;
        // Reading may have taken a while (a burst of replies): the deadlines set below
        // come after it.
        let now = if read_any { cx.refresh() } else { now };
        if self.queries.deadline().is_some_and(|d| d <= now) {
            self.queries.expire(now);
        }
        while let Some(output) = self.queries.poll() {
            match output {
                Output::Send { slot, server, was_on } => {
                    self.release(cx, was_on);
                    self.send(cx, slot, server, now);
                }
                Output::Done { answer, was_on } => {
                    self.release(cx, was_on);
                    out.push(answer);
                }
                Output::ToCares { key, family, host, was_on } => {
                    self.release(cx, Some(was_on));
                    to_cares.push(ToCares { host, family, key });
                }
            }
        }
    }

    /// Reads socket `key` until it is empty.
    fn read(&mut self, key: usize, now: Instant) {
        let mut errors = 0;
        while let Some(sock) = self.sockets.get(key) {
            match sock.socket.recv(&mut self.recv_buf) {
                Ok(n) => self.queries.reply(key as u32, &self.recv_buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ECONNREFUSED (ICMP port unreachable) and the like: the server is not
                // there, for every query on this socket.
                Err(_) => {
                    self.queries.refused(key as u32, now);
                    errors += 1;
                    if errors >= MAX_ERRORS_PER_READ {
                        return;
                    }
                }
            }
        }
    }

    /// Sends query `slot` to `server`.
    fn send(&mut self, cx: &mut Context<'_>, slot: usize, server: usize, now: Instant) {
        let key = match self.socket_for(cx, server) {
            Ok(key) => key,
            Err(e) => {
                self.queries.sent(slot, NO_SOCKET);
                // Out of descriptors or buffers is "not now": as for a dropped datagram,
                // the attempt's deadline retransmits, instead of every attempt failing in
                // this one call. Anything else (no route) fails this attempt at once.
                let not_now =
                    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM));
                if !not_now {
                    // This attempt only: others parked without a socket wait for their
                    // deadlines, as said above.
                    self.queries.refuse(slot, now);
                }
                return;
            }
        };
        self.queries.datagram(slot, &mut self.send_buf);
        self.queries.sent(slot, key as u32);
        let sock = &mut self.sockets[key];
        sock.sent += 1;
        sock.outstanding += 1;
        match sock.socket.send(&self.send_buf) {
            // A full send buffer drops the datagram, as a network would; the query's
            // timeout retransmits it.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.queries.refused(key as u32, now),
        }
    }

    /// The socket for `server`'s next query, opening a new one (on a new random port)
    /// when the current one has carried its share.
    fn socket_for(&mut self, cx: &mut Context<'_>, server: usize) -> io::Result<usize> {
        if let Some(key) = self.current[server] {
            if self.sockets[key].sent < self.max_queries {
                return Ok(key);
            }
            self.current[server] = None;
            if self.sockets[key].outstanding == 0 {
                self.close(cx, key);
            }
        }
        let addr = self.servers[server];
        let local: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let mut socket = UdpSocket::bind(local)?;
        socket.connect(addr)?;
        // A thousand lookups answer in a burst; the kernel's default buffer drops part
        // of it, and each drop costs a retransmission timeout.
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(self.receive_buffer as usize);
        let token = Token(self.base + socket.as_raw_fd() as usize);
        cx.registry.register(&mut socket, token, Interest::READABLE)?;
        let key = self.sockets.insert(Sock { socket, token, server, sent: 0, outstanding: 0 });
        self.current[server] = Some(key);
        Ok(key)
    }

    /// A query's attempt on socket `via` is over; a retired socket closes with its last.
    fn release(&mut self, cx: &mut Context<'_>, via: Option<u32>) {
        let Some(key) = via.map(|v| v as usize) else { return };
        let Some(sock) = self.sockets.get_mut(key) else { return }; // NO_SOCKET
        sock.outstanding -= 1;
        if sock.outstanding == 0 && self.current[sock.server] != Some(key) {
            self.close(cx, key);
        }
    }

    fn close(&mut self, cx: &mut Context<'_>, key: usize) {
        let mut sock = self.sockets.remove(key);
        let _ = cx.registry.deregister(&mut sock.socket);
        self.ready.retain(|&k| k != key);
    }
}

/// 64 bits from the kernel for the query IDs, or from the clock if it has none to give.
fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: writes at most 8 bytes into `bytes`.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), libc::GRND_NONBLOCK) };
    if got == 8 {
        return u64::from_ne_bytes(bytes);
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
}
