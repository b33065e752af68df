//! The socket side of a connection: moving bytes between the kernel and the machine.
//!
//! `conn.rs` knows HTTP and never touches a socket; this file touches the socket and
//! knows no HTTP. On each readiness event (or when a paused connection resumes),
//! [`Link::drive`] finishes a handshake, writes what the machine wants sent, reads what
//! the kernel has, and hands every fact to the machine, returning the machine's
//! verdict. Today the transport is plain TCP; TLS will be a second variant of
//! [`Transport`] that encrypts and decrypts between the same two ends, so the machine
//! will not know which it has.
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

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, Socket, Type};

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

/// How bytes reach the peer. One variant today; TLS joins it.
pub(super) enum Transport {
    Tcp(TcpStream),
}

/// A connection: its socket and its state machine, one slab entry.
pub(super) struct Link {
    pub io: Transport,
    pub conn: Conn,
    /// An event carried the peer's FIN or an error (see the module docs).
    hung_up: bool,
}

impl Transport {
    /// Starts a non-blocking connect. Usually returns at once with the handshake in
    /// progress (`EINPROGRESS`); the socket reports writable when it is done.
    pub fn connect(addr: SocketAddr) -> io::Result<Transport> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
        // Requests are small and written whole: waiting for Nagle's timer only adds latency.
        socket.set_tcp_nodelay(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        Ok(Transport::Tcp(TcpStream::from_std(socket.into())))
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let Transport::Tcp(stream) = self;
        registry.register(stream, token, Interest::READABLE | Interest::WRITABLE)
    }

    /// Whether a pooled connection may take a request: nothing unread, no EOF, no error
    /// pending (RFC 9112 §9.3). Asked of the kernel with a one-byte `MSG_PEEK`, because
    /// the readiness event that would say otherwise may not have been handled yet.
    pub fn is_clean(&self) -> bool {
        let Transport::Tcp(stream) = self;
        matches!(stream.peek(&mut [0u8; 1]), Err(e) if would_block(&e))
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Transport::Tcp(stream) = self;
        stream.read(buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Transport::Tcp(stream) = self;
        stream.write(buf)
    }

    /// `None` while the handshake is still in progress (a spurious wakeup).
    fn handshake(&self, event: &Event) -> Option<io::Result<()>> {
        let Transport::Tcp(stream) = self;
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
            State::Sending { .. } => match self.flush() {
                Progress::Wait if event.is_readable() => self.resume(read_buf, received, sink),
                progress => progress,
            },
            State::Receiving { .. } | State::Idle => self.resume(read_buf, received, sink),
        }
    }

    /// Writes what the machine has to send, as far as the socket takes it.
    pub fn flush(&mut self) -> Progress {
        while !self.conn.to_send().is_empty() {
            match self.io.write(self.conn.to_send()) {
                Ok(n) => self.conn.sent(n),
                Err(e) if would_block(&e) => return Progress::Wait,
                Err(e) if interrupted(&e) => {}
                Err(e) => return self.conn.io_failed(true, &e),
            }
        }
        Progress::Wait
    }

    /// Reads until the kernel has nothing more, the machine has a verdict, or this
    /// connection's share of reads is used up. Also what a paused connection resumes
    /// with.
    pub fn resume(&mut self, read_buf: &mut [u8], received: Option<&mut Received>, sink: &mut impl Sink) -> Progress {
        let mut scratch = Received::default(); // an idle connection has no request
        let received = received.unwrap_or(&mut scratch);
        if matches!(self.conn.state(), State::Connecting { .. } | State::Sending { .. }) {
            return Progress::Wait; // nothing to read yet
        }
        for _ in 0..READS_PER_TURN {
            let n = match self.io.read(read_buf) {
                Ok(0) => return self.conn.closed(),
                Ok(n) => n,
                Err(e) if would_block(&e) => return Progress::Wait,
                Err(e) if interrupted(&e) => continue,
                Err(e) => return self.conn.io_failed(false, &e),
            };
            let drained = n < read_buf.len() && !self.hung_up;
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
