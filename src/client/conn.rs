//! One connection to an origin, as a sans-I/O state machine: facts in, [`Progress`] out.
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
//! Like the HTTP codec beneath it, the machine never touches a socket or reads a
//! clock. It is told what happened — the handshake finished, these bytes were written,
//! these bytes arrived, the peer closed — and answers with what that means: wait, the
//! response is done, the exchange failed. Which bytes to write it says through
//! [`Conn::to_send`]. Moving bytes between the machine and the kernel is the
//! transport's job (`transport.rs`); acting on `Progress` is the client's (`events.rs`).
//! Every change of [`State`] happens in this file, one `match` per input, and the
//! tests at the end drive it event by event and byte by byte.
//!
//! The shared-buffer rule still holds: the transport reads into the client's one read
//! buffer and hands the machine a slice; only what the decoder could not use yet (a
//! partial head or chunk-size line, rarely anything) is copied into `partial`. Body
//! bytes are counted in place and never copied.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use super::decode::Decoding;
use super::outcome::{Error, ErrorKind, Sink};
use super::tls;
use crate::http1::{self, Event as Http, ResponseDecoder, Version};
use crate::timer::TimerId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Handshake in progress to `addr`, one of `req`'s attempts (see `race.rs`). While
    /// `racing`, the next attempt starts beside this one when the timer fires.
    Connecting { req: usize, addr: SocketAddr, racing: bool },
    /// Request bytes are waiting to be written.
    Sending { req: usize },
    /// The request is out; the response is being read.
    Receiving { req: usize },
    /// In the origin's pool, waiting for the next request.
    Idle,
}

/// Which deadline applies to a connection now; the client maps each to a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Deadline {
    /// Connecting, and the next address starts beside this one when it passes.
    Attempt,
    /// Connecting, alone: the connect timeout.
    Connect,
    /// The request is (being) sent and no response head has arrived.
    Head,
    /// The body is arriving: each gap between reads.
    Body,
    /// In the pool.
    Idle,
}

/// What an input meant, for the client to act on.
#[derive(Debug)]
pub(super) enum Progress {
    /// Nothing to do until the next event.
    Wait,
    /// `req`'s response is complete. With `keep_alive`, the connection is now idle and
    /// may be pooled; otherwise it must be closed.
    Done { req: usize, keep_alive: bool },
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
    /// for now (see `transport::READS_PER_TURN`); bytes may be waiting in the kernel,
    /// which will not announce them again. The client resumes it after other work.
    Paused,
}

/// What the response has shown so far; owned by the request, filled by the connection.
#[derive(Default)]
pub(super) struct Received {
    /// The request's index, for the sink.
    pub index: u64,
    pub version: Option<Version>,
    pub status: u16,
    /// Copy of the response's header block, so headers outlive the read buffer.
    pub head: Vec<u8>,
    pub body_len: u64,
    /// Redirects are followed for this request (`Config::max_redirects`).
    pub follow: bool,
    /// This response is a redirect that will be followed.
    pub redirecting: bool,
    /// A response with a retriable status may be retried (`Config::retry`).
    pub retry_on_status: bool,
    /// This response's body is counted but not handed to the sink, which hears only of
    /// the final response's: a redirect to follow, or a status that may be retried.
    pub withheld: bool,
    /// Body bytes as received (`body_len` counts them decoded).
    pub wire_len: u64,
    /// Compressed bodies are decoded (`Config::decompress`), each up to `max_decoded`.
    pub decompress: bool,
    pub max_decoded: Option<u64>,
    /// This response's content codings, being undone.
    pub decoding: Option<Decoding>,
}

/// Whether a response with `status` is a redirect (one without a `Location` fails
/// when followed, rather than pass for the final response).
pub(super) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

pub(super) struct Conn {
    pub origin: usize,
    state: State,
    /// The deadline of the current phase (connect, head, body read, idle expiry).
    pub timer: TimerId,
    /// The deadline `timer` was last armed for (the client's bookkeeping).
    pub armed: Option<Deadline>,
    /// Responses completed on this connection; > 0 means it came from the pool.
    pub served: u32,
    /// In the client's queue of connections to resume (see [`Progress::Paused`]).
    pub paused: bool,
    /// When the read that ended the last response found nothing after it (set as the
    /// connection goes back to the pool; taken at its next use).
    pub drained_at: Option<Instant>,
    decoder: ResponseDecoder,
    /// The current response's head has arrived.
    head_seen: bool,
    /// Response bytes the decoder could not use yet (usually empty).
    partial: Vec<u8>,
    /// Encoded request bytes not yet written.
    unsent: Vec<u8>,
}

impl Conn {
    /// A connection attempt to `addr` for `req`.
    pub fn new(
        origin: usize,
        timer: TimerId,
        req: usize,
        addr: SocketAddr,
        racing: bool,
        decoder: ResponseDecoder,
    ) -> Self {
        Conn {
            origin,
            state: State::Connecting { req, addr, racing },
            timer,
            armed: None,
            served: 0,
            paused: false,
            drained_at: None,
            decoder,
            head_seen: false,
            partial: Vec::new(),
            unsent: Vec::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The request this connection carries or is connecting for, if any.
    pub fn request(&self) -> Option<usize> {
        match self.state {
            State::Connecting { req, .. } | State::Sending { req } | State::Receiving { req } => Some(req),
            State::Idle => None,
        }
    }

    /// The deadline that applies now.
    pub fn deadline(&self) -> Deadline {
        match self.state {
            State::Connecting { racing: true, .. } => Deadline::Attempt,
            State::Connecting { racing: false, .. } => Deadline::Connect,
            State::Sending { .. } | State::Receiving { .. } if self.head_seen => Deadline::Body,
            State::Sending { .. } | State::Receiving { .. } => Deadline::Head,
            State::Idle => Deadline::Idle,
        }
    }

    // ---- inputs -------------------------------------------------------------------

    /// The attempt delay passed: from now on this attempt runs beside the next.
    pub fn stop_racing(&mut self) {
        if let State::Connecting { racing, .. } = &mut self.state {
            *racing = false;
        }
    }

    /// The handshake finished (the transport saw it).
    pub fn connected(&mut self) -> Progress {
        match self.state {
            State::Connecting { .. } => Progress::Connected,
            _ => Progress::Wait, // a late, spurious report
        }
    }

    /// The handshake failed.
    pub fn connect_failed(&mut self, e: io::Error) -> Progress {
        match self.state {
            State::Connecting { .. } => Progress::ConnectFailed(e),
            _ => Progress::Wait,
        }
    }

    /// Takes `request` (already encoded) for `req`: a connection that just connected,
    /// or one from the pool. The response decoder is told the method (a HEAD response
    /// has no body).
    pub fn send(&mut self, req: usize, method: &str, request: &[u8]) {
        match self.state {
            State::Connecting { .. } | State::Idle => {
                self.unsent.clear();
                self.unsent.extend_from_slice(request);
                self.decoder.start(method);
                self.partial.clear();
                self.head_seen = false;
                self.state = State::Sending { req };
            }
            State::Sending { .. } | State::Receiving { .. } => unreachable!("a busy connection takes no request"),
        }
    }

    /// The bytes waiting to be written.
    pub fn to_send(&self) -> &[u8] {
        &self.unsent
    }

    /// `n` bytes of [`Conn::to_send`] were written.
    pub fn sent(&mut self, n: usize) {
        self.unsent.drain(..n);
        if let State::Sending { req } = self.state
            && self.unsent.is_empty()
        {
            self.state = State::Receiving { req };
        }
    }

    /// Bytes arrived. `drained` says the socket had nothing more when they were read
    /// (a short read, and no hang-up seen), which is what makes a completed connection
    /// safe to reuse.
    pub fn received(&mut self, bytes: &[u8], drained: bool, received: &mut Received, sink: &mut impl Sink) -> Progress {
        let req = match self.state {
            State::Sending { req } | State::Receiving { req } => req,
            // An idle connection should be silent: bytes nobody asked for end it.
            State::Idle => return Progress::IdleClosed,
            State::Connecting { .. } => return Progress::Wait,
        };
        let from_partial = !self.partial.is_empty();
        if from_partial {
            self.partial.extend_from_slice(bytes);
        }
        let input: &[u8] = if from_partial { &self.partial } else { bytes };
        match feed(&mut self.decoder, input, received, &mut self.head_seen, sink) {
            Ok(Fed::End { consumed, keep_alive }) => {
                // We never pipeline, so bytes after the response (or a socket that may
                // hide more) mean the stream can no longer be trusted.
                let keep_alive = keep_alive && consumed == input.len() && drained && self.unsent.is_empty();
                self.served += 1;
                if keep_alive {
                    self.state = State::Idle;
                    self.partial.clear();
                }
                Progress::Done { req, keep_alive }
            }
            Ok(Fed::NeedMore { consumed }) => {
                if from_partial {
                    self.partial.drain(..consumed);
                } else {
                    self.partial.extend_from_slice(&bytes[consumed..]);
                }
                Progress::Wait
            }
            Err(error) => Progress::Failed { error, unanswered: false },
        }
    }

    /// The peer closed its side (a read returned 0).
    pub fn closed(&mut self) -> Progress {
        match self.state {
            State::Idle => Progress::IdleClosed,
            State::Connecting { .. } => Progress::Wait,
            State::Sending { .. } | State::Receiving { .. } if !self.decoder.has_begun() => {
                let error = Error::new(ErrorKind::Reset, "connection closed before any response");
                Progress::Failed { error, unanswered: true }
            }
            State::Sending { req } | State::Receiving { req } => match self.decoder.finish() {
                Ok(_) => {
                    self.served += 1;
                    Progress::Done { req, keep_alive: false } // a close-delimited body ended
                }
                Err(e) => Progress::Failed {
                    error: Error::new(ErrorKind::Reset, format!("connection closed mid-response: {e}")),
                    unanswered: false,
                },
            },
        }
    }

    /// The peer closed its side without TLS's `close_notify`. Harmless where the
    /// response had ended by its own framing; a close-delimited body may have been cut
    /// by an attacker, so it cannot be trusted to be complete (RFC 8446 §6.1).
    pub fn closed_without_notify(&mut self) -> Progress {
        match self.state {
            State::Sending { .. } | State::Receiving { .. } if self.decoder.has_begun() => Progress::Failed {
                error: Error::new(
                    ErrorKind::Tls,
                    "the connection closed without TLS close_notify: the body may be cut short",
                ),
                unanswered: false,
            },
            _ => self.closed(),
        }
    }

    /// Reading or writing failed with `e` (for TLS, perhaps an alert or a bad record).
    pub fn io_failed(&mut self, writing: bool, e: &io::Error) -> Progress {
        match self.state {
            State::Idle => Progress::IdleClosed,
            State::Connecting { .. } => Progress::Wait,
            State::Sending { .. } | State::Receiving { .. } => {
                let what = if writing { "sending request" } else { "reading response" };
                let kind = tls::error_kind(e).unwrap_or(ErrorKind::Reset);
                let error = Error::new(kind, format!("{what}: {e}"));
                Progress::Failed { error, unanswered: !self.decoder.has_begun() }
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
    head_seen: &mut bool,
    sink: &mut impl Sink,
) -> Result<Fed, Error> {
    let mut pos = 0;
    loop {
        let (n, event) = decoder.decode(&input[pos..]).map_err(decode_error)?;
        pos += n;
        match event {
            Http::NeedMore => return Ok(Fed::NeedMore { consumed: pos }),
            Http::Head(head) => {
                *head_seen = true;
                received.version = Some(head.version);
                received.status = head.status;
                received.redirecting = received.follow && is_redirect(head.status);
                received.withheld =
                    received.redirecting || (received.retry_on_status && super::retry::is_retry_status(head.status));
                // Only looked for when asked: finding a header is a scan of the head.
                received.decoding = match received.decompress.then(|| head.headers.get("content-encoding")) {
                    Some(Some(codings)) => {
                        Decoding::for_codings(codings).map_err(|why| Error::new(ErrorKind::Decode, why))?
                    }
                    _ => None,
                };
                received.head.clear();
                received.head.extend_from_slice(head.headers.as_bytes());
            }
            Http::Body(bytes) => {
                received.wire_len += bytes.len() as u64;
                match received.decoding.take() {
                    None => deliver(received, bytes, sink)?,
                    Some(mut decoding) => {
                        let decoded =
                            decoding.feed(bytes, &mut |piece| deliver(received, piece, sink).map_err(|e| e.message));
                        received.decoding = Some(decoding);
                        decoded.map_err(|why| decoded_error(received, why))?;
                    }
                }
            }
            Http::End { keep_alive } => {
                if let Some(mut decoding) = received.decoding.take() {
                    let finished = decoding.finish(&mut |piece| deliver(received, piece, sink).map_err(|e| e.message));
                    finished.map_err(|why| decoded_error(received, why))?;
                }
                return Ok(Fed::End { consumed: pos, keep_alive });
            }
        }
    }
}

/// A piece of the (decoded) body: counted, checked against the decoded-size limit,
/// and handed to the sink unless the response is a redirect to follow.
fn deliver(received: &mut Received, piece: &[u8], sink: &mut impl Sink) -> Result<(), Error> {
    received.body_len += piece.len() as u64;
    if let Some(limit) = received.max_decoded.filter(|&limit| received.body_len > limit) {
        return Err(Error::new(ErrorKind::TooLarge, format!("{LIMIT_PREFIX}{limit} bytes")));
    }
    if !received.withheld {
        sink.body(received.index, piece);
    }
    Ok(())
}

/// How a decoded body over the limit says so (and is told apart from a corrupt one).
const LIMIT_PREFIX: &str = "the decoded body is larger than --max-body, ";

fn decoded_error(received: &Received, why: String) -> Error {
    match why.strip_prefix(LIMIT_PREFIX) {
        Some(_) => Error::new(ErrorKind::TooLarge, why),
        None if received.max_decoded.is_some_and(|l| received.body_len > l) => Error::new(ErrorKind::TooLarge, why),
        None => Error::new(ErrorKind::Decode, why),
    }
}

fn decode_error(e: http1::Error) -> Error {
    let kind = if e.is_too_large() { ErrorKind::TooLarge } else { ErrorKind::Protocol };
    Error::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::outcome::Outcome;
    use crate::http1::Limits;
    use crate::timer::Timers;

    const ADDR: &str = "127.0.0.1:80";

    /// Body pieces the sink saw.
    #[derive(Default)]
    struct Pieces(Vec<Vec<u8>>);
    impl Sink for Pieces {
        fn outcome(&mut self, _: &Outcome<'_>) {}
        fn body(&mut self, _: u64, piece: &[u8]) {
            self.0.push(piece.to_vec());
        }
    }

    fn attempt(racing: bool) -> Conn {
        let timer = Timers::new().insert(mio::Token(0));
        Conn::new(7, timer, 1, ADDR.parse().unwrap(), racing, ResponseDecoder::new(Limits::default()))
    }

    /// A connected connection that has sent `GET /` for request 1.
    fn sending() -> Conn {
        let mut c = attempt(false);
        assert!(matches!(c.connected(), Progress::Connected));
        c.send(1, "GET", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        c
    }

    fn feed_all(c: &mut Conn, bytes: &[u8], drained: bool) -> (Progress, Received, Pieces) {
        let (mut r, mut sink) = (Received::default(), Pieces::default());
        let p = c.received(bytes, drained, &mut r, &mut sink);
        (p, r, sink)
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn connecting_follows_the_race_and_the_handshake() {
        let mut c = attempt(true);
        assert_eq!(c.deadline(), Deadline::Attempt);
        assert_eq!(c.request(), Some(1));
        c.stop_racing();
        assert_eq!(c.deadline(), Deadline::Connect);
        assert!(matches!(c.connect_failed(io::ErrorKind::ConnectionRefused.into()), Progress::ConnectFailed(_)));
        assert!(matches!(c.connected(), Progress::Connected));
        // Bytes or a close before the request is sent mean nothing yet.
        assert!(matches!(feed_all(&mut c, b"x", true).0, Progress::Wait));
        assert!(matches!(c.closed(), Progress::Wait));
    }

    #[test]
    fn the_request_goes_out_in_pieces_and_then_the_head_is_awaited() {
        let mut c = sending();
        assert_eq!(c.state(), State::Sending { req: 1 });
        assert_eq!(c.deadline(), Deadline::Head);
        assert_eq!(c.to_send(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        c.sent(4);
        assert_eq!(c.to_send(), b"/ HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(c.state(), State::Sending { req: 1 });
        c.sent(c.to_send().len());
        assert_eq!(c.state(), State::Receiving { req: 1 });
        assert!(c.to_send().is_empty());
    }

    #[test]
    fn a_response_byte_by_byte_ends_once_and_the_connection_goes_idle() {
        let mut c = sending();
        c.sent(c.to_send().len());
        let (mut r, mut sink) = (Received::default(), Pieces::default());
        for (i, byte) in OK.iter().enumerate() {
            let last = i == OK.len() - 1;
            match c.received(std::slice::from_ref(byte), true, &mut r, &mut sink) {
                Progress::Wait => assert!(!last, "ended early at byte {i}"),
                Progress::Done { req, keep_alive } => {
                    assert!(last, "ended at byte {i}");
                    assert_eq!((req, keep_alive), (1, true));
                }
                other => panic!("byte {i}: {other:?}"),
            }
            if i == OK.len() - 6 {
                assert_eq!(c.deadline(), Deadline::Body, "the head is complete at the blank line");
            }
        }
        assert_eq!((r.status, r.body_len), (200, 5));
        assert_eq!(sink.0.concat(), b"hello");
        assert_eq!((c.state(), c.served, c.deadline()), (State::Idle, 1, Deadline::Idle));
        // The pool hands it the next request.
        c.send(2, "GET", b"GET /2 HTTP/1.1\r\n\r\n");
        assert_eq!((c.state(), c.deadline()), (State::Sending { req: 2 }, Deadline::Head));
    }

    #[test]
    fn a_completed_connection_is_reusable_only_if_it_was_drained_clean() {
        let mut c = sending();
        c.sent(c.to_send().len());
        assert!(matches!(feed_all(&mut c, OK, false).0, Progress::Done { keep_alive: false, .. }), "maybe more unread");
        let mut c = sending();
        c.sent(c.to_send().len());
        let extra = [OK, b"HTTP/1.1 200 OK\r\n"].concat();
        assert!(matches!(feed_all(&mut c, &extra, true).0, Progress::Done { keep_alive: false, .. }), "bytes after");
        let mut c = sending();
        c.sent(c.to_send().len());
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(feed_all(&mut c, close, true).0, Progress::Done { keep_alive: false, .. }));
    }

    #[test]
    fn an_idle_connection_ends_on_any_news() {
        let idle = || {
            let mut c = sending();
            c.sent(c.to_send().len());
            feed_all(&mut c, OK, true);
            c
        };
        assert!(matches!(feed_all(&mut idle(), b"EVIL", true).0, Progress::IdleClosed));
        assert!(matches!(idle().closed(), Progress::IdleClosed));
        assert!(matches!(idle().io_failed(false, &io::ErrorKind::ConnectionReset.into()), Progress::IdleClosed));
    }

    #[test]
    fn a_close_before_any_response_is_unanswered_and_a_close_mid_body_is_a_reset() {
        let mut c = sending();
        c.sent(c.to_send().len());
        assert!(matches!(c.closed(), Progress::Failed { unanswered: true, .. }));
        let mut c = sending();
        c.sent(c.to_send().len());
        assert!(matches!(feed_all(&mut c, &OK[..OK.len() - 2], true).0, Progress::Wait));
        match c.closed() {
            Progress::Failed { error, unanswered: false } => assert_eq!(error.kind, ErrorKind::Reset),
            other => panic!("{other:?}"),
        }
        let mut c = sending();
        let e = io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(matches!(c.io_failed(true, &e), Progress::Failed { unanswered: true, .. }));
    }

    #[test]
    fn a_close_delimited_body_ends_at_the_close() {
        let mut c = sending();
        c.sent(c.to_send().len());
        let (p, r, _) = feed_all(&mut c, b"HTTP/1.1 200 OK\r\n\r\nall of it", true);
        assert!(matches!(p, Progress::Wait));
        assert_eq!(r.body_len, 9);
        assert!(matches!(c.closed(), Progress::Done { req: 1, keep_alive: false }));
    }

    #[test]
    fn a_malformed_or_oversized_head_fails_with_its_kind() {
        let mut c = sending();
        c.sent(c.to_send().len());
        match feed_all(&mut c, b"HTTP/1.1 2OO OK\r\n\r\n", true).0 {
            Progress::Failed { error, unanswered: false } => assert_eq!(error.kind, ErrorKind::Protocol),
            other => panic!("{other:?}"),
        }
        let mut c = sending();
        c.sent(c.to_send().len());
        let huge = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; 70_000]].concat();
        match feed_all(&mut c, &huge, true).0 {
            Progress::Failed { error, .. } => assert_eq!(error.kind, ErrorKind::TooLarge),
            other => panic!("{other:?}"),
        }
    }
}
