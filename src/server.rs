//! The built-in test server: a small HTTP/1.1 server on the same reactor.
//!
//! It plays the part of the aiohttp app in "Making 1 million requests with
//! python-aiohttp": `GET /<anything>` answers `200` with a short body and the headers
//! `Date` and `Delay`, after a random per-request delay (`Delay` says how many
//! milliseconds it waited). The delays are reactor timers, not sleeps, so one thread
//! serves thousands of delayed requests at once — and because it needs no thread of
//! its own, `fetch` can run it inside the very process whose thread count it proves.
//!
//! Each connection is a small state machine: `Reading` (parse a request, pipelined or
//! not) → `Delaying` (a timer is armed) → `Writing` (the response, until the socket
//! takes it all) → back to `Reading`, or closed when either side asked for `close`.
//! Idle connections are closed after `idle_timeout`.
//!
//! With [`ServerConfig::tls`] it speaks HTTPS: each connection's bytes pass through a
//! rustls `ServerConnection`, driven sans-I/O like the client's (`read_tls`,
//! `process_new_packets`, `write_tls`), on the same one thread.
//!
//! ## The server and the client on one reactor
//! Neither needs a thread, so both run on one [`Reactor`](crate::reactor::Reactor):
//! each owns a span of tokens from the base it is given (the client
//! [`client::TOKEN_SPAN`](crate::client::TOKEN_SPAN) of them, from 0 by default; the
//! server [`TOKEN_SPAN`] of them, here right after the client's), and a small handler
//! routes each event to its owner. `examples/fetch/` runs its seed workload this way
//! (given no URLs), and [`client::fetch`](crate::client::fetch) is the same loop
//! without the server.
//!
//! ```
//! use std::time::Duration;
//!
//! use mio::Token;
//! use mio::event::Event;
//! use onethread::client::{self, Client, Config, Outcome, Sink};
//! use onethread::reactor::{Context, Handler, Reactor};
//! use onethread::server::{Server, ServerConfig};
//!
//! /// Both components; every event goes to the one that owns its token.
//! struct Both<S> {
//!     client: Client<std::vec::IntoIter<String>, S>,
//!     server: Server,
//! }
//!
//! impl<S: Sink> Handler for Both<S> {
//!     fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &Event) {
//!         match self.server.owns(token) {
//!             true => self.server.ready(cx, token, event),
//!             false => self.client.ready(cx, token, event),
//!         }
//!     }
//!     fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
//!         match self.server.owns(token) {
//!             true => self.server.timer(cx, token),
//!             false => self.client.timer(cx, token),
//!         }
//!     }
//!     fn end_of_turn(&mut self, cx: &mut Context<'_>) {
//!         self.client.end_of_turn(cx); // admits requests, hands DNS answers over
//!     }
//!     fn has_work_left(&self) -> bool {
//!         self.client.has_work_left()
//!     }
//!     fn is_done(&self) -> bool {
//!         self.client.is_done() // the server never is
//!     }
//! }
//!
//! let mut reactor = Reactor::new(1024)?;
//! let mut cx = reactor.context();
//! let slow = ServerConfig { max_delay: Duration::from_millis(20), ..ServerConfig::default() };
//! let server = Server::bind(&mut cx, &["127.0.0.1:0".parse().unwrap()], slow, client::TOKEN_SPAN)?;
//! let addr = server.local_addrs()[0];
//!
//! let urls: Vec<String> = (0..20).map(|i| format!("http://{addr}/{i}")).collect();
//! let mut statuses = Vec::new();
//! let sink = |outcome: &Outcome<'_>| {
//!     statuses.push(outcome.result.map(|response| response.status).map_err(|e| e.to_string()))
//! };
//! let config = Config { concurrency: 5, ..Config::default() };
//! let client = Client::new(&mut cx, config, urls.into_iter(), sink)?;
//!
//! let mut both = Both { client, server };
//! reactor.run(&mut both)?;
//! let stats = both.client.stats();
//! assert_eq!(both.server.served(), 20);
//! assert!(stats.connections_opened <= 5, "at most `concurrency` sockets, reused");
//! drop(both);
//! assert_eq!(statuses, vec![Ok(200); 20]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Next: [`crate::proof`], which checks that all of the above ran on one thread.

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};
use slab::Slab;
use socket2::{Domain, Protocol, Socket, Type};

use crate::reactor::{Context, Handler};
use crate::timer::TimerId;

/// Largest request head accepted; beyond it the answer is 431.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
const MAX_REQUEST_HEADERS: usize = 64;
/// Token offsets from `base`: listeners first, then connections.
const MAX_LISTENERS: usize = 8;
const ACCEPT_RETRY: usize = MAX_LISTENERS;
const FIRST_CONN: usize = MAX_LISTENERS + 1;
const LISTEN_BACKLOG: i32 = 4096;
/// How many tokens a server needs above its base.
pub const TOKEN_SPAN: usize = 1 << 32;

/// What the built-in server answers, and how slowly.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Each response waits a uniformly random 0..=max_delay (whole milliseconds).
    pub max_delay: Duration,
    /// The body of every `200` (default `Hello, World!\n`); a response to HEAD
    /// announces its length and omits it.
    pub body: Vec<u8>,
    /// Seed for the delays, so runs are repeatable (the blog used `random.seed(1)`).
    pub seed: u64,
    /// A connection is closed when this long passes, after it was accepted or last
    /// answered, without a complete request. Default 60 s.
    pub idle_timeout: Duration,
    /// Serve HTTPS with this certificate and key (rustls's server configuration).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_delay: Duration::ZERO,
            body: b"Hello, World!\n".to_vec(),
            seed: 1,
            idle_timeout: Duration::from_secs(60),
            tls: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Reading,
    /// The response to the request just parsed goes out when the timer fires.
    Delaying {
        delay_ms: u64,
        head: bool,
    },
    Writing,
}

struct Conn {
    stream: TcpStream,
    /// For HTTPS: the TLS session the bytes pass through.
    tls: Option<Box<rustls::ServerConnection>>,
    state: State,
    timer: TimerId,
    /// Received bytes not yet parsed.
    inbuf: Vec<u8>,
    /// Response bytes not yet written.
    outbuf: Vec<u8>,
    /// Close once `outbuf` is written (the request said `close`, or was bad).
    close_after: bool,
}

/// The built-in server: its listeners and connections, driven as a [`Handler`].
///
/// It never finishes by itself ([`Handler::is_done`] is always `false`): run it beside
/// something that does, routing each token to the component that [`owns`](Server::owns) it.
pub struct Server {
    listeners: Vec<TcpListener>,
    conns: Slab<Conn>,
    base: usize,
    config: ServerConfig,
    rng: u64,
    date: (u64, String),
    read_buf: Box<[u8]>,
    accept_retry: TimerId,
    served: u64,
}

impl Server {
    /// Listens on each address (port 0 picks a free one); tokens are `base + …`.
    pub fn bind(cx: &mut Context<'_>, addrs: &[SocketAddr], config: ServerConfig, base: usize) -> io::Result<Self> {
        assert!(!addrs.is_empty() && addrs.len() <= MAX_LISTENERS, "1 to {MAX_LISTENERS} listen addresses");
        let mut listeners = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let mut listener = listen(*addr)?;
            cx.registry.register(&mut listener, Token(base + i), Interest::READABLE)?;
            listeners.push(listener);
        }
        Ok(Server {
            listeners,
            conns: Slab::new(),
            base,
            rng: config.seed.max(1),
            config,
            date: (0, String::new()),
            read_buf: vec![0; 16 * 1024].into_boxed_slice(),
            accept_retry: cx.timers.insert(Token(base + ACCEPT_RETRY)),
            served: 0,
        })
    }

    /// Listens on `127.0.0.1` and, when the machine has IPv6, `::1`, on one port, so
    /// that `localhost` reaches it whichever address a resolver ranks first.
    pub fn bind_localhost(cx: &mut Context<'_>, port: u16, config: ServerConfig, base: usize) -> io::Result<Self> {
        let v4: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut server = Server::bind(cx, &[v4], config, base)?;
        let port = server.local_addrs()[0].port();
        if let Ok(mut v6) = listen(([0u16, 0, 0, 0, 0, 0, 0, 1], port).into()) {
            cx.registry.register(&mut v6, Token(base + 1), Interest::READABLE)?;
            server.listeners.push(v6);
        }
        Ok(server)
    }

    /// The addresses it listens on, with the ports the kernel picked for port 0.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// Whether `token` is one of this server's: `base` up to `base + TOKEN_SPAN`.
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.base && token.0 - self.base < TOKEN_SPAN
    }

    /// Responses written so far.
    pub fn served(&self) -> u64 {
        self.served
    }

    fn accept(&mut self, cx: &mut Context<'_>, listener: usize) {
        loop {
            match self.listeners[listener].accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let key = self.conns.vacant_key();
                    let token = Token(self.base + FIRST_CONN + key);
                    if cx.registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE).is_err() {
                        continue; // dropping it closes it
                    }
                    let tls = match &self.config.tls {
                        None => None,
                        Some(config) => match rustls::ServerConnection::new(Arc::clone(config)) {
                            Ok(tls) => Some(Box::new(tls)),
                            Err(_) => continue,
                        },
                    };
                    let timer = cx.timers.insert(token);
                    cx.timers.arm(timer, cx.now + self.config.idle_timeout);
                    let conn = Conn {
                        stream,
                        tls,
                        state: State::Reading,
                        timer,
                        inbuf: Vec::new(),
                        outbuf: Vec::new(),
                        close_after: false,
                    };
                    self.conns.insert(conn);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // Out of descriptors (EMFILE) or similar: the pending connections
                    // stay queued, but edge-triggered readiness will not report them
                    // again, so look again shortly instead of spinning now.
                    cx.timers.arm(self.accept_retry, cx.now + Duration::from_millis(10));
                    return;
                }
            }
        }
    }

    fn on_conn_event(&mut self, cx: &mut Context<'_>, key: usize, event: &Event) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if event.is_writable() && conn.send_records().is_err() {
            return self.close(cx, key);
        }
        if event.is_writable() && conn.state == State::Writing && !self.flush(cx, key) {
            return;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read(cx, key);
        }
    }

    /// Reads everything available, then answers what it can.
    fn read(&mut self, cx: &mut Context<'_>, key: usize) {
        let conn = &mut self.conns[key];
        if conn.tls.is_some() {
            return match conn.read_tls(&mut self.read_buf) {
                Ok(open) if open => self.serve(cx, key),
                _ => self.close(cx, key),
            };
        }
        loop {
            match conn.stream.read(&mut self.read_buf) {
                Ok(0) => return self.close(cx, key),
                Ok(n) => {
                    conn.inbuf.extend_from_slice(&self.read_buf[..n]);
                    if n < self.read_buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(cx, key),
            }
        }
        self.serve(cx, key);
    }

    /// Parses buffered requests one at a time, while the connection is free to answer.
    fn serve(&mut self, cx: &mut Context<'_>, key: usize) {
        while self.conns.get(key).is_some_and(|c| c.state == State::Reading && !c.inbuf.is_empty()) {
            let conn = &mut self.conns[key];
            match parse_request(&conn.inbuf) {
                Parsed::Partial => {
                    if conn.inbuf.len() > MAX_REQUEST_HEAD {
                        self.respond_error(cx, key, "431 Request Header Fields Too Large");
                    }
                    return;
                }
                Parsed::Bad(status) => return self.respond_error(cx, key, status),
                Parsed::Request { len, close, head } => {
                    conn.inbuf.drain(..len);
                    conn.close_after = close;
                    let delay_ms = self.next_delay_ms();
                    let conn = &mut self.conns[key];
                    if delay_ms == 0 {
                        self.respond(cx, key, 0, head);
                    } else {
                        conn.state = State::Delaying { delay_ms, head };
                        cx.timers.arm(conn.timer, cx.now + Duration::from_millis(delay_ms));
                    }
                }
            }
        }
    }

    fn respond(&mut self, cx: &mut Context<'_>, key: usize, delay_ms: u64, head: bool) {
        self.refresh_date();
        let body: &[u8] = if head { b"" } else { &self.config.body };
        let conn = &mut self.conns[key];
        let close = if conn.close_after { "Connection: close\r\n" } else { "" };
        let _ = write!(
            conn.outbuf,
            "HTTP/1.1 200 OK\r\nDate: {}\r\nDelay: {delay_ms}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{close}\r\n",
            self.date.1,
            self.config.body.len(),
        );
        conn.outbuf.extend_from_slice(body);
        conn.state = State::Writing;
        self.served += 1;
        if self.flush(cx, key) {
            self.serve(cx, key);
        }
    }

    fn respond_error(&mut self, cx: &mut Context<'_>, key: usize, status: &str) {
        let conn = &mut self.conns[key];
        conn.inbuf.clear();
        conn.close_after = true;
        conn.state = State::Writing;
        let _ = write!(conn.outbuf, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        self.flush(cx, key);
    }

    /// Writes what the socket takes. `true` when the connection is ready to read the
    /// next request; `false` when it must wait for writability or was closed.
    fn flush(&mut self, cx: &mut Context<'_>, key: usize) -> bool {
        let conn = &mut self.conns[key];
        if conn.tls.is_some() {
            match conn.write_tls() {
                Ok(true) => {}
                Ok(false) => return false,
                Err(_) => {
                    self.close(cx, key);
                    return false;
                }
            }
        }
        while !conn.outbuf.is_empty() {
            match conn.stream.write(&conn.outbuf) {
                Ok(n) => {
                    conn.outbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(cx, key);
                    return false;
                }
            }
        }
        if conn.close_after {
            self.close(cx, key);
            return false;
        }
        conn.state = State::Reading;
        cx.timers.arm(conn.timer, cx.now + self.config.idle_timeout);
        true
    }

    fn close(&mut self, cx: &mut Context<'_>, key: usize) {
        let mut conn = self.conns.remove(key);
        cx.timers.remove(conn.timer);
        if let Some(tls) = &mut conn.tls {
            tls.send_close_notify();
            let _ = tls.write_tls(&mut conn.stream);
        }
    }

    /// Plenty for spreading delays, and repeatable from the seed (`rand.rs`).
    fn next_delay_ms(&mut self) -> u64 {
        let max = self.config.max_delay.as_millis() as u64;
        if max == 0 {
            return 0;
        }
        crate::rand::xorshift64star(&mut self.rng) % (max + 1)
    }

    /// The `Date` header changes once a second; format it only then.
    fn refresh_date(&mut self) {
        let now = SystemTime::now();
        let secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.date.0 {
            self.date = (secs, httpdate::fmt_http_date(now));
        }
    }
}

impl Conn {
    /// TLS: reads every record the socket has and moves the plaintext into `inbuf`.
    /// `Ok(false)` when the peer has closed.
    fn read_tls(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let Conn { stream, tls, inbuf, .. } = self;
        let tls = tls.as_mut().expect("a TLS connection");
        let mut open = true;
        loop {
            let more = match tls.read_tls(stream) {
                Ok(0) => {
                    open = false;
                    false
                }
                Ok(_) => true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Err(e) = tls.process_new_packets() {
                let _ = tls.write_tls(stream); // the alert that says why
                return Err(io::Error::other(e));
            }
            loop {
                match tls.reader().read(buf) {
                    Ok(0) => return Ok(false), // close_notify
                    Ok(n) => inbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return Ok(false),
                }
            }
            send_records(stream, tls)?; // handshake messages, tickets
            if !more {
                return Ok(open); // the socket is drained (or closed)
            }
        }
    }

    /// TLS: hands `outbuf` to rustls and sends its records. `Ok(true)` when every byte
    /// is out; `Ok(false)` when the socket is full.
    fn write_tls(&mut self) -> io::Result<bool> {
        let Conn { stream, tls, outbuf, .. } = self;
        let tls = tls.as_mut().expect("a TLS connection");
        while !outbuf.is_empty() {
            let n = tls.writer().write(outbuf)?;
            outbuf.drain(..n);
            if n == 0 {
                break; // rustls's buffer is full: send some first
            }
            send_records(stream, tls)?;
        }
        send_records(stream, tls)?;
        Ok(outbuf.is_empty() && !tls.wants_write())
    }

    /// TLS records waiting in rustls go to the socket as far as it takes them.
    fn send_records(&mut self) -> io::Result<()> {
        match self.tls.as_mut() {
            Some(tls) => send_records(&mut self.stream, tls),
            None => Ok(()),
        }
    }
}

fn send_records(stream: &mut TcpStream, tls: &mut rustls::ServerConnection) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A listening socket with a deep accept queue. `std` listens with a backlog of 128;
/// a client that opens a thousand connections at once (as `fetch` does) would overflow
/// it, and every dropped SYN costs that client a one-second retransmission timeout.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?; // the kernel caps it at net.core.somaxconn
    Ok(TcpListener::from_std(socket.into()))
}

enum Parsed {
    Partial,
    Bad(&'static str),
    /// A whole request (head and body) of `len` bytes.
    Request {
        len: usize,
        close: bool,
        head: bool,
    },
}

fn parse_request(buf: &[u8]) -> Parsed {
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Bad("431 Request Header Fields Too Large"),
        Err(_) => return Parsed::Bad("400 Bad Request"),
    };
    let http10 = req.version == Some(0);
    let mut close = http10;
    let mut body_len = 0usize;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok()) {
                Some(n) if n <= MAX_REQUEST_HEAD => body_len = n,
                Some(_) => return Parsed::Bad("413 Content Too Large"),
                None => return Parsed::Bad("400 Bad Request"),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Bad("501 Not Implemented"); // request bodies here are Content-Length only
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    close = false;
                }
            }
        }
    }
    if buf.len() < head_len + body_len {
        return Parsed::Partial;
    }
    Parsed::Request { len: head_len + body_len, close, head: req.method == Some("HEAD") }
}

impl Handler for Server {
    fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &Event) {
        match token.0 - self.base {
            i if i < MAX_LISTENERS => self.accept(cx, i),
            i => self.on_conn_event(cx, i - FIRST_CONN, event),
        }
    }

    fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
        let i = token.0 - self.base;
        if i == ACCEPT_RETRY {
            for l in 0..self.listeners.len() {
                self.accept(cx, l);
            }
            return;
        }
        let key = i - FIRST_CONN;
        match self.conns.get(key).map(|c| c.state) {
            Some(State::Delaying { delay_ms, head }) => self.respond(cx, key, delay_ms, head),
            Some(State::Reading) => self.close(cx, key), // idle too long
            Some(State::Writing) | None => {}
        }
    }

    /// A server is never done by itself; its owner decides when to stop.
    fn is_done(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keep_alive_and_bodies() {
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Parsed::Request { len: 27, close: false, head: false }
        ));
        assert!(matches!(parse_request(b"GET / HTTP/1.0\r\n\r\n"), Parsed::Request { close: true, .. }));
        assert!(matches!(
            parse_request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
            Parsed::Request { close: false, .. }
        ));
        assert!(matches!(
            parse_request(b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            Parsed::Request { close: true, head: true, .. }
        ));
        assert!(matches!(parse_request(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"), Parsed::Partial));
        assert!(matches!(
            parse_request(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET"),
            Parsed::Request { len: 41, .. }
        ));
        assert!(matches!(parse_request(b"GET / HTTP/1.1\r\nHost"), Parsed::Partial));
        assert!(matches!(parse_request(b"GET /\x01 HTTP/1.1\r\n\r\n"), Parsed::Bad("400 Bad Request")));
        assert!(matches!(
            parse_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Bad("501 Not Implemented")
        ));
    }
}
