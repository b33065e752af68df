//! One TCP connection to an origin, as an explicit state machine.
//!
//! ```text
//!              connected            request written        response complete
//! Connecting ────────────▶ Sending ─────────────▶ Receiving ─────────────────▶ Idle
//!      │      (won the race)                         │      (keep-alive)        │
//!      └── refused or lost: closed; the race         └── not reusable ──▶ closed │
//!          (`race.rs`) goes on with other addresses                              │
//!                           Sending ◀──────── the pool hands it a request ───────┘
//! ```
//!
//! Every event for the socket goes through [`Conn::on_event`], which has one `match`
//! over the state and returns a [`Progress`]: either "wait for the next event" or a
//! fact the client must act on (a finished response, a failure, a dead idle
//! connection). The connection never touches the client's tables; the client never
//! touches the socket. Next: `client/mod.rs`, which acts on `Progress`.
//!
//! Reading follows the shared-buffer rule: bytes are read into the client's one read
//! buffer, fed to the sans-I/O decoder, and only what the decoder could not use yet
//! (a partial head or chunk-size line, rarely anything) is copied into `partial`.
//! Body bytes are counted in place and never copied.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use super::outcome::{Error, ErrorKind, Sink};
use crate::http1::{self, Event as Http, ResponseDecoder, Version};
use crate::timer::TimerId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// TCP handshake in progress to `addr`, one of `req`'s attempts (see `race.rs`).
    Connecting { req: usize, addr: SocketAddr },
    /// Request bytes are waiting for room in the socket's send buffer.
    Sending { req: usize },
    /// The request is out; the response is being read.
    Receiving { req: usize },
    /// In the origin's pool, waiting for the next request.
    Idle,
}

/// Which deadline applies to a connection now (see `follow_phase` in `schedule.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Connecting, and the next address starts beside this one when the timer fires.
    Racing,
    Connecting,
    AwaitingHead,
    ReadingBody,
    Idle,
}

/// What an event meant, for the client to act on.
#[derive(Debug)]
pub(super) enum Progress {
    /// Nothing to do until the next event.
    Wait,
    /// The response is complete; the connection may be reused if `keep_alive`.
    Done { keep_alive: bool },
    /// The handshake completed: the connection may take its request.
    Connected,
    /// The handshake failed.
    ConnectFailed(io::Error),
    /// The exchange failed. `unanswered` means no byte of a response arrived, so on a
    /// reused connection the server most likely closed it just as we sent the request.
    Failed { error: Error, unanswered: bool },
    /// An idle connection was closed by the server (or sent unsolicited bytes).
    IdleClosed,
    /// The response is still arriving and this connection has had its share of reads
    /// for now (see [`READS_PER_TURN`]); bytes may be waiting in the kernel, which will
    /// not announce them again. The client resumes it after other work (`resume`).
    Paused,
}

/// Reads (of the 64 KiB shared buffer) one connection may make before the others get
/// theirs. Without a bound, a fast server streaming a large body keeps its socket
/// full, and one connection reads it to the end while every other waits
/// (edge-triggered readiness invites exactly that: a socket is reported once when it
/// *becomes* readable, so the reader is tempted to drain it). One read per turn was
/// measured fairest and also fastest: 200 × 10 MiB from nginx at C = 50 took 0.62 s
/// (p50 140 ms, max about 250 ms) against 0.84 s (max 300–860 ms) with unbounded reads
/// and 0.90 s with four reads per turn; a single stream is as fast as before.
pub(super) const READS_PER_TURN: usize = 1;

/// What the response has shown so far; owned by the request, filled by the connection.
#[derive(Debug, Default)]
pub(super) struct Received {
    /// The request's index, for the sink.
    pub index: u64,
    pub version: Option<Version>,
    pub status: u16,
    /// Copy of the response's header block, so headers outlive the read buffer.
    pub head: Vec<u8>,
    pub body_len: u64,
}

pub(super) struct Conn {
    pub stream: TcpStream,
    pub origin: usize,
    pub state: State,
    /// The deadline of the current phase (connect, head, body read, idle expiry).
    pub timer: TimerId,
    /// The phase `timer` was last armed for.
    pub phase: Phase,
    /// Responses completed on this connection; > 0 means it came from the pool.
    pub served: u32,
    /// In the client's queue of connections to resume (see [`Progress::Paused`]).
    pub paused: bool,
    /// When the read that ended the last response found nothing after it (set as the
    /// connection goes back to the pool; taken at its next use).
    pub drained_at: Option<Instant>,
    decoder: ResponseDecoder,
    /// An event carried the peer's FIN or an error: read until a read reports it, since
    /// no later event will.
    hung_up: bool,
    /// Response bytes the decoder could not use yet (usually empty).
    partial: Vec<u8>,
    /// Encoded request bytes not yet accepted by the socket.
    unsent: Vec<u8>,
}

/// Starts a non-blocking connect. Usually returns at once with the handshake in
/// progress (`EINPROGRESS`); the socket reports writable when it is done.
pub(super) fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    // Requests are small and written whole: waiting for Nagle's timer only adds latency.
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

impl Conn {
    pub fn new(stream: TcpStream, origin: usize, state: State, timer: TimerId, decoder: ResponseDecoder) -> Self {
        // `Idle` until the client first arms the timer, which it does at once.
        let phase = Phase::Idle;
        Conn {
            stream,
            origin,
            state,
            timer,
            phase,
            served: 0,
            paused: false,
            drained_at: None,
            decoder,
            hung_up: false,
            partial: Vec::new(),
            unsent: Vec::new(),
        }
    }

    /// Takes the encoded request to send next.
    pub fn load_request(&mut self, method: &str, request: &[u8]) {
        self.unsent.clear();
        self.unsent.extend_from_slice(request);
        self.decoder.start(method);
        self.partial.clear();
    }

    /// Whether a pooled connection may take a request: nothing unread, no EOF, no error
    /// pending (RFC 9112 §9.3). Asked of the kernel with a one-byte `MSG_PEEK`, because
    /// the readiness event that would say otherwise may not have been handled yet: it
    /// can be later in this turn's batch, or still in the kernel's queue.
    pub fn is_clean(&self) -> bool {
        matches!(self.stream.peek(&mut [0u8; 1]), Err(e) if would_block(&e))
    }

    /// Sends the loaded request on a connection that is already established.
    pub fn send(&mut self, req: usize) -> Progress {
        self.state = State::Sending { req };
        self.write_request()
    }

    /// The one entry point for readiness events.
    pub fn on_event(
        &mut self,
        event: &Event,
        read_buf: &mut [u8],
        received: Option<&mut Received>,
        sink: &mut impl Sink,
    ) -> Progress {
        self.hung_up |= event.is_read_closed() || event.is_error();
        match (self.state, received) {
            (State::Connecting { .. }, _) => match handshake_result(&self.stream, event) {
                None => Progress::Wait,
                Some(Err(e)) => Progress::ConnectFailed(e),
                Some(Ok(())) => Progress::Connected,
            },
            (State::Sending { .. }, received) => match self.write_request() {
                Progress::Wait if event.is_readable() && matches!(self.state, State::Receiving { .. }) => {
                    self.receive(read_buf, received.expect("a sending connection has a request"), sink)
                }
                progress => progress,
            },
            (State::Receiving { .. }, Some(received)) => self.receive(read_buf, received, sink),
            (State::Receiving { .. }, None) => unreachable!("a receiving connection has a request"),
            (State::Idle, _) => self.check_idle(read_buf),
        }
    }

    /// Reads on for a response that was [`Progress::Paused`], without a new event.
    pub fn resume(&mut self, read_buf: &mut [u8], received: &mut Received, sink: &mut impl Sink) -> Progress {
        match self.state {
            State::Receiving { .. } => self.receive(read_buf, received, sink),
            _ => Progress::Wait, // ended or failed meanwhile
        }
    }

    fn write_request(&mut self) -> Progress {
        while !self.unsent.is_empty() {
            match self.stream.write(&self.unsent) {
                Ok(n) if n == self.unsent.len() => self.unsent.clear(),
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(e) if would_block(&e) => return Progress::Wait,
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    return Progress::Failed {
                        error: Error::new(ErrorKind::Reset, format!("sending request: {e}")),
                        unanswered: true,
                    };
                }
            }
        }
        if let State::Sending { req } = self.state {
            self.state = State::Receiving { req };
        }
        Progress::Wait
    }

    /// Reads until the kernel has nothing more, the response is complete, or this
    /// connection's share of reads is used up.
    fn receive(&mut self, read_buf: &mut [u8], received: &mut Received, sink: &mut impl Sink) -> Progress {
        // A short read normally means "drained": new bytes will bring a new edge. But
        // if an edge carried the peer's FIN or an error, no further edge will announce
        // it, so keep reading until the read itself reports it.
        let more_news_will_come = !self.hung_up;
        for _ in 0..READS_PER_TURN {
            let n = match self.stream.read(read_buf) {
                Ok(0) => return self.on_eof(),
                Ok(n) => n,
                Err(e) if would_block(&e) => return Progress::Wait,
                Err(e) if interrupted(&e) => continue,
                Err(e) => {
                    let unanswered = !self.decoder.has_begun();
                    return Progress::Failed {
                        error: Error::new(ErrorKind::Reset, format!("reading response: {e}")),
                        unanswered,
                    };
                }
            };
            let from_partial = !self.partial.is_empty();
            if from_partial {
                self.partial.extend_from_slice(&read_buf[..n]);
            }
            let input: &[u8] = if from_partial { &self.partial } else { &read_buf[..n] };
            match feed(&mut self.decoder, input, received, sink) {
                Ok(Fed::End { consumed, keep_alive }) => {
                    // We never pipeline, so bytes after the response (or a full buffer
                    // that may hide more) mean the stream can no longer be trusted.
                    let clean = consumed == input.len() && n < read_buf.len() && more_news_will_come;
                    return Progress::Done { keep_alive: keep_alive && clean };
                }
                Ok(Fed::NeedMore { consumed }) => {
                    if from_partial {
                        self.partial.drain(..consumed);
                    } else {
                        self.partial.extend_from_slice(&read_buf[consumed..n]);
                    }
                }
                Err(e) => return Progress::Failed { error: decode_error(e), unanswered: false },
            }
            if n < read_buf.len() && more_news_will_come {
                return Progress::Wait;
            }
        }
        Progress::Paused
    }

    fn on_eof(&mut self) -> Progress {
        if !self.decoder.has_begun() {
            let error = Error::new(ErrorKind::Reset, "connection closed before any response");
            return Progress::Failed { error, unanswered: true };
        }
        match self.decoder.finish() {
            Ok(_) => Progress::Done { keep_alive: false }, // a close-delimited body ended
            Err(e) => Progress::Failed {
                error: Error::new(ErrorKind::Reset, format!("connection closed mid-response: {e}")),
                unanswered: false,
            },
        }
    }

    /// An idle connection should be silent. Readable means the server closed it (the
    /// usual keep-alive timeout) or sent bytes nobody asked for; either way it goes.
    fn check_idle(&mut self, read_buf: &mut [u8]) -> Progress {
        loop {
            match self.stream.read(read_buf) {
                Err(e) if would_block(&e) => return Progress::Wait,
                Err(e) if interrupted(&e) => {}
                _ => return Progress::IdleClosed,
            }
        }
    }
}

enum Fed {
    NeedMore { consumed: usize },
    End { consumed: usize, keep_alive: bool },
}

/// Runs the decoder over `input`, recording what the response shows.
fn feed(
    decoder: &mut ResponseDecoder,
    input: &[u8],
    received: &mut Received,
    sink: &mut impl Sink,
) -> Result<Fed, http1::Error> {
    let mut pos = 0;
    loop {
        let (n, event) = decoder.decode(&input[pos..])?;
        pos += n;
        match event {
            Http::NeedMore => return Ok(Fed::NeedMore { consumed: pos }),
            Http::Head(head) => {
                received.version = Some(head.version);
                received.status = head.status;
                received.head.clear();
                received.head.extend_from_slice(head.headers.as_bytes());
            }
            Http::Body(bytes) => {
                received.body_len += bytes.len() as u64;
                sink.body(received.index, bytes);
            }
            Http::End { keep_alive } => return Ok(Fed::End { consumed: pos, keep_alive }),
        }
    }
}

fn decode_error(e: http1::Error) -> Error {
    let kind = if e.is_too_large() { ErrorKind::TooLarge } else { ErrorKind::Protocol };
    Error::new(kind, e.to_string())
}

/// `None` while the handshake is still in progress (a spurious wakeup).
fn handshake_result(stream: &TcpStream, event: &Event) -> Option<io::Result<()>> {
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

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}
