//! The socket side of a connection: moving bytes between the kernel and the machine.
//!
//! `conn.rs` knows HTTP and never touches a socket; this file touches the socket and
//! knows no HTTP. On each readiness event (or when a paused connection resumes),
//! [`Link::drive`] finishes a handshake, writes what the machine wants sent, reads what
//! the kernel has, and hands every fact to the machine, returning the machine's
//! verdict. The transport is plain TCP or TLS (rustls, driven sans-I/O: `read_tls`,
//! `process_new_packets`, `write_tls`); the machine gets the same plaintext either way
//! and does not know which it has. For TLS, "connecting" lasts until the handshake is
//! complete, so the connect timeout bounds TCP and TLS together, and a Happy Eyeballs
//! race is won by the first attempt that can carry a request.
//!
//! The two rules of edge-triggered readiness live here, since only the socket side
//! knows about them:
//! * A short read means "drained": new bytes will raise a new edge. If an edge carried
//!   the peer's FIN or an error, no later edge will announce it, so then reads go on
//!   until a read reports it (`hung_up`).
//! * One connection reads at most [`READS_PER_TURN`] buffers per turn; a response still
//!   arriving then yields [`Progress::Paused`], and the client resumes it after the
//!   next poll, so a fast large body cannot starve the others.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::{ClientConnection, HandshakeKind};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::conn::{Conn, Progress, Received, State};
use super::outcome::Sink;

/// Reads (of the 64 KiB shared buffer) one connection may make before the others get
/// theirs. Without a bound, a fast server streaming a large body keeps its socket
/// full, and one connection reads it to the end while every other waits. One read per
/// turn was measured fairest and also fastest: 200 × 10 MiB from nginx at C = 50 took
/// 0.62 s (p50 140 ms, max about 250 ms) against 0.84 s (max 300–860 ms) with
/// unbounded reads and 0.90 s with four reads per turn; a single stream is as fast as
/// before.
pub(super) const READS_PER_TURN: usize = 1;

/// Plaintext rustls holds before `read_tls` refuses more (its fixed limit): the TLS
/// read hands it over by then.
const PLAINTEXT_LIMIT: usize = 16 * 1024;

/// How bytes reach the peer.
pub(super) enum Transport {
    Tcp(TcpStream),
    /// TLS over TCP; `tcp_up` once the TCP handshake is done (then TLS's runs, after a
    /// proxy's `tunnel` is open, if there is one).
    Tls {
        stream: TcpStream,
        tls: Box<ClientConnection>,
        tcp_up: bool,
        tunnel: Option<Box<Tunnel>>,
    },
}

/// A `CONNECT` to a proxy: the request still to send, and the answer's head so far.
pub(super) struct Tunnel {
    request: Vec<u8>,
    answer: Vec<u8>,
}

impl Tunnel {
    pub fn new(request: Vec<u8>) -> Tunnel {
        Tunnel { request, answer: Vec::new() }
    }

    /// `None` while the proxy has not answered; `Ok` once the tunnel is open.
    fn advance(&mut self, stream: &mut TcpStream) -> Option<io::Result<()>> {
        while !self.request.is_empty() {
            match stream.write(&self.request) {
                Ok(n) => drop(self.request.drain(..n)),
                Err(e) if would_block(&e) => return None,
                Err(e) if interrupted(&e) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Some(Err(proxy_error("the proxy closed the connection"))),
                Ok(n) => self.answer.extend_from_slice(&buf[..n]),
                Err(e) if would_block(&e) => return None,
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Some(Err(e)),
            }
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut answer = httparse::Response::new(&mut fields);
            match answer.parse(&self.answer) {
                Ok(httparse::Status::Complete(end)) => {
                    let code = answer.code.unwrap_or_default();
                    // Nothing may follow the answer: the origin speaks only after our hello.
                    return Some(match (200..300).contains(&code) {
                        true if end == self.answer.len() => Ok(()),
                        true => Err(proxy_error("the proxy sent bytes after opening the tunnel")),
                        false => Err(proxy_error(&format!(
                            "the proxy answered {code} {} to CONNECT",
                            answer.reason.unwrap_or_default()
                        ))),
                    });
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Some(Err(proxy_error(&format!("the proxy's answer to CONNECT is not HTTP: {e}")))),
            }
            if self.answer.len() > 16 * 1024 {
                return Some(Err(proxy_error("the proxy's answer to CONNECT is too long")));
            }
        }
    }
}

/// A failure the proxy caused (the error kind `proxy`).
#[derive(Debug)]
pub(super) struct ProxyRefused(pub String);

impl std::fmt::Display for ProxyRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyRefused {}

fn proxy_error(why: &str) -> io::Error {
    io::Error::other(ProxyRefused(why.into()))
}

/// A connection: its socket and its state machine, one slab entry.
pub(super) struct Link {
    pub io: Transport,
    pub conn: Conn,
    /// An event carried the peer's FIN or an error (see the module docs).
    hung_up: bool,
}

/// TCP's own timings of a connection.
#[derive(Clone, Copy, Debug)]
pub(super) struct TcpTimes {
    /// The smoothed round-trip estimate.
    pub round_trip: Duration,
    /// Since the last data arrived (in kernel ticks: 1–10 ms resolution).
    pub since_data: Duration,
}

impl Transport {
    /// Starts a non-blocking connect. Usually returns at once with the handshake in
    /// progress (`EINPROGRESS`); the socket reports writable when it is done.
    pub fn connect(addr: SocketAddr, tls: Option<ClientConnection>, tunnel: Option<Tunnel>) -> io::Result<Transport> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
        // Requests are small and written whole: waiting for Nagle's timer only adds latency.
        socket.set_tcp_nodelay(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let stream = TcpStream::from_std(socket.into());
        Ok(match tls {
            None => Transport::Tcp(stream),
            Some(tls) => Transport::Tls { stream, tls: Box::new(tls), tcp_up: false, tunnel: tunnel.map(Box::new) },
        })
    }

    fn stream(&self) -> &TcpStream {
        match self {
            Transport::Tcp(stream) | Transport::Tls { stream, .. } => stream,
        }
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let stream = match self {
            Transport::Tcp(stream) | Transport::Tls { stream, .. } => stream,
        };
        registry.register(stream, token, Interest::READABLE | Interest::WRITABLE)
    }

    /// For TLS: the handshake was a resumption (a session ticket), not a full one.
    pub fn resumed(&self) -> Option<bool> {
        match self {
            Transport::Tcp(_) => None,
            Transport::Tls { tls, .. } => Some(tls.handshake_kind() == Some(HandshakeKind::Resumed)),
        }
    }

    /// The connection's round-trip time as TCP itself measured it (`TCP_INFO`'s
    /// smoothed estimate, from the handshake on): free of any delay of this loop's, as a
    /// clock read around `connect` would not be. `None` if the kernel will not say.
    pub fn round_trip(&self) -> Option<Duration> {
        self.tcp_times().map(|t| t.round_trip)
    }

    /// TCP's own timings of the connection (`TCP_INFO`), or `None` if the kernel will
    /// not say.
    pub fn tcp_times(&self) -> Option<TcpTimes> {
        // SAFETY: `tcp_info` is plain integers, for which all zeros is a valid value.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: the descriptor is this transport's open socket, and `info` and `len`
        // describe a buffer of `len` writable bytes that outlives the call.
        let done = unsafe {
            libc::getsockopt(
                self.stream().as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &mut len,
            )
        };
        (done == 0).then(|| TcpTimes {
            round_trip: Duration::from_micros(info.tcpi_rtt.into()),
            since_data: Duration::from_millis(info.tcpi_last_data_recv.into()),
        })
    }

    /// Asks the kernel to acknowledge at once (`TCP_QUICKACK`): now, if an acknowledgement
    /// is waiting, and the small segments read from now on, until the next write puts it
    /// back to delaying them for a reply to carry (see `conn::HELD_BACK` for why). Best
    /// effort: if the kernel refuses, the acknowledgements still go, later.
    pub fn acknowledge_now(&self) {
        let _ = SockRef::from(self.stream()).set_tcp_quickack(true);
    }

    /// Before the socket closes: TLS says goodbye (`close_notify`), as far as the socket
    /// takes it without waiting.
    pub fn close(&mut self) {
        if let Transport::Tls { stream, tls, tcp_up: true, tunnel: None } = self {
            tls.send_close_notify();
            let _ = tls.write_tls(stream);
        }
    }

    /// Whether a pooled connection may take a request: nothing unread, no EOF, no error
    /// pending (RFC 9112 §9.3). Asked of the kernel with a one-byte `MSG_PEEK`, because
    /// the readiness event that would say otherwise may not have been handled yet.
    pub fn is_clean(&self) -> bool {
        let clean = matches!(self.stream().peek(&mut [0u8; 1]), Err(e) if would_block(&e));
        match self {
            Transport::Tcp(_) => clean,
            Transport::Tls { tls, .. } => clean && !tls.wants_write(),
        }
    }

    /// Plaintext in, for the machine, and whether the socket is drained (nothing more
    /// in the kernel, nothing more decrypted): only then will a new edge announce new
    /// bytes. `Ok((0, _))` is the peer's clean end (a FIN, or for TLS its
    /// `close_notify`); a TLS peer that closed without one is `UnexpectedEof`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        let (stream, tls) = match self {
            Transport::Tcp(stream) => return stream.read(buf).map(|n| (n, n < buf.len())),
            Transport::Tls { stream, tls, .. } => (stream, tls),
        };
        let (mut socket_empty, mut eof) = (false, false);
        loop {
            let state = tls.process_new_packets().map_err(io::Error::other)?;
            let pending = state.plaintext_bytes_to_read();
            // Enough to fill `buf` (or all rustls will hold: it refuses to read more
            // records while 16 KiB of plaintext wait), or all there is for now.
            if pending >= buf.len().min(PLAINTEXT_LIMIT)
                || (pending > 0 && socket_empty)
                || state.peer_has_closed()
                || eof
            {
                let n = match tls.reader().read(buf) {
                    Err(e) if would_block(&e) => 0,
                    other => other?,
                };
                return Ok((n, socket_empty && pending <= n));
            }
            if socket_empty {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut socket = Noting { stream, short: false };
            match tls.read_tls(&mut socket) {
                Ok(0) => (socket_empty, eof) = (true, true),
                // A short read emptied the socket, as over plain TCP: no need to hear
                // `WouldBlock` from one more `recvfrom` to know it.
                Ok(_) => socket_empty = socket.short,
                Err(e) if would_block(&e) => socket_empty = true,
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Plaintext out: the bytes the socket (or, for TLS, rustls's buffer) took.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(stream) => stream.write(buf),
            Transport::Tls { stream, tls, .. } => {
                let n = tls.writer().write(buf)?;
                Self::write_records(stream, tls)?;
                match n {
                    0 => Err(io::ErrorKind::WouldBlock.into()), // rustls's buffer is full
                    n => Ok(n),
                }
            }
        }
    }

    /// TLS records waiting in rustls go to the socket as far as it takes them. True if
    /// any did.
    fn write_records(stream: &mut TcpStream, tls: &mut ClientConnection) -> io::Result<bool> {
        let mut wrote = false;
        while tls.wants_write() {
            match tls.write_tls(stream) {
                Ok(n) => wrote |= n > 0,
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(wrote)
    }

    /// Sends what rustls still holds (records for bytes the machine counts as sent).
    /// True if anything went out.
    fn flush_records(&mut self) -> io::Result<bool> {
        match self {
            Transport::Tcp(_) => Ok(false),
            Transport::Tls { stream, tls, .. } => Self::write_records(stream, tls),
        }
    }

    /// `None` while the handshake is still in progress (a spurious wakeup); for TLS,
    /// until TLS's own handshake is complete too.
    fn handshake(&mut self, event: &Event) -> Option<io::Result<()>> {
        if let Transport::Tls { tcp_up: false, .. } | Transport::Tcp(_) = self {
            let tcp = Self::tcp_handshake(self.stream(), event)?;
            match self {
                Transport::Tcp(_) => return Some(tcp),
                Transport::Tls { tcp_up, .. } => {
                    if let Err(e) = tcp {
                        return Some(Err(e));
                    }
                    *tcp_up = true;
                }
            }
        }
        let Transport::Tls { stream, tls, tunnel, .. } = self else { unreachable!("handled above") };
        if let Some(open) = tunnel {
            match open.advance(stream)? {
                Ok(()) => *tunnel = None,
                Err(e) => return Some(Err(e)),
            }
        }
        tls_handshake(stream, tls)
    }

    fn tcp_handshake(stream: &TcpStream, event: &Event) -> Option<io::Result<()>> {
        if !(event.is_writable() || event.is_error() || event.is_write_closed() || event.is_read_closed()) {
            return None;
        }
        match stream.take_error() {
            Ok(Some(e)) | Err(e) => return Some(Err(e)),
            Ok(None) => {}
        }
        match stream.peer_addr() {
            Ok(_) => Some(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// The socket, as rustls reads it, noting a short read (the kernel had no more).
struct Noting<'a> {
    stream: &'a mut TcpStream,
    short: bool,
}

impl Read for Noting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

/// Moves the TLS handshake along: `None` while it needs the peer.
fn tls_handshake(stream: &mut TcpStream, tls: &mut ClientConnection) -> Option<io::Result<()>> {
    let mut step = || -> io::Result<bool> {
        loop {
            Transport::write_records(stream, tls)?;
            if !tls.is_handshaking() {
                return Ok(true);
            }
            match tls.read_tls(stream) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the TLS handshake")),
                Ok(_) => {
                    tls.process_new_packets().map_err(|e| {
                        let _ = tls.write_tls(stream); // the alert that says why, if any
                        io::Error::other(e)
                    })?;
                }
                Err(e) if would_block(&e) => return Ok(false),
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(e),
            }
        }
    };
    match step() {
        Ok(true) => Some(Ok(())),
        Ok(false) => None,
        Err(e) => Some(Err(e)),
    }
}

impl Link {
    pub fn new(io: Transport, conn: Conn) -> Link {
        Link { io, conn, hung_up: false }
    }

    /// One readiness event: handshake, write, read, as the machine's state asks.
    pub fn on_event(
        &mut self,
        event: &Event,
        read_buf: &mut [u8],
        received: Option<&mut Received>,
        sink: &mut impl Sink,
    ) -> Progress {
        self.hung_up |= event.is_read_closed() || event.is_error();
        match self.conn.state() {
            State::Connecting { .. } => match self.io.handshake(event) {
                None => Progress::Wait,
                Some(Err(e)) => self.conn.connect_failed(e),
                Some(Ok(())) => self.conn.connected(),
            },
            State::Sending => match self.flush() {
                Progress::Wait if event.is_readable() => self.resume(read_buf, received, sink),
                progress => progress,
            },
            // Only writable: nothing to read (new bytes raise their own edge), but TLS
            // records the socket would not take before may go out now.
            State::Receiving | State::Idle if !event.is_readable() && !self.hung_up => match self.send_records() {
                Ok(()) => Progress::Wait,
                Err(e) => self.conn.io_failed(true, &e),
            },
            State::Receiving | State::Idle => self.resume(read_buf, received, sink),
        }
    }

    /// Writes what the machine has to send, as far as the socket takes it.
    pub fn flush(&mut self) -> Progress {
        let mut wrote = false;
        while !self.conn.to_send().is_empty() {
            match self.io.write(self.conn.to_send()) {
                Ok(n) => {
                    wrote |= n > 0;
                    self.conn.sent(n);
                }
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => {}
                Err(e) => return self.conn.io_failed(true, &e),
            }
        }
        if wrote && self.conn.hurry {
            // Writing leaves the kernel delaying acknowledgements ("interactive" mode):
            // the server holds its next response until it gets one (`conn::HELD_BACK`).
            self.io.acknowledge_now();
        }
        Progress::Wait
    }

    /// TLS records rustls held back (the socket was full) go out now; on a hurrying
    /// connection followed, like any write of requests, by an immediate acknowledgement.
    fn send_records(&mut self) -> io::Result<()> {
        if self.io.flush_records()? && self.conn.hurry {
            self.io.acknowledge_now();
        }
        Ok(())
    }

    /// Reads until the kernel has nothing more, the machine has a verdict, or this
    /// connection's share of reads is used up. Also what a paused connection resumes
    /// with.
    pub fn resume(&mut self, read_buf: &mut [u8], received: Option<&mut Received>, sink: &mut impl Sink) -> Progress {
        if let Err(e) = self.send_records() {
            return self.conn.io_failed(true, &e);
        }
        // An idle connection has no request, and a gap's response is dropped.
        let mut scratch = Received::dropped();
        let received = received.unwrap_or(&mut scratch);
        if matches!(self.conn.state(), State::Connecting { .. }) {
            return Progress::Wait; // nothing to read yet
        }
        for _ in 0..READS_PER_TURN {
            let (n, drained) = match self.io.read(read_buf) {
                Ok((0, _)) => return self.conn.closed(),
                Ok(read) => read,
                Err(e) if would_block(&e) => return Progress::Wait,
                Err(e) if interrupted(&e) => continue,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return self.conn.closed_without_notify(),
                Err(e) => return self.conn.io_failed(false, &e),
            };
            let drained = drained && !self.hung_up;
            match self.conn.received(&read_buf[..n], drained, received, sink) {
                Progress::Wait if drained => return Progress::Wait,
                Progress::Wait => {}
                verdict => return verdict,
            }
        }
        Progress::Paused
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_near() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let transport = Transport::connect(listener.local_addr().unwrap(), None, None).unwrap();
        let _accepted = listener.accept().unwrap(); // the handshake is done
        let rtt = transport.round_trip().expect("TCP_INFO on a connected socket");
        assert!(!rtt.is_zero() && rtt < super::super::conn::NEAR, "{rtt:?}");
    }
}
