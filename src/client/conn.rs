//! One connection to an origin, as a sans-I/O state machine: facts in, [`Progress`] out.
//!
//! ```text
//!              connected            requests written       last response complete
//! Connecting ────────────▶ Sending ─────────────▶ Receiving ─────────────────▶ Idle
//!      │      (won the race)   ▲                     │      (keep-alive)        │
//!      │                       └── one more request ─┤                          │
//!      └── refused or lost: closed; the race         └── not reusable ──▶ closed │
//!          (`race.rs`) goes on with other addresses                              │
//!                           Sending ◀──────── the pool hands it a request ───────┘
//! ```
//!
//! **Pipelining** (`Config::pipeline`, RFC 9112 §9.3.2). A busy connection may take
//! more requests: their bytes join what is still to be written, and each waits in
//! [`Conn`]'s queue for its response, which comes in order. Responses are read while
//! requests are still being written (a server that answers before it has read everything
//! must not deadlock against us). When a response ends and another request is queued,
//! the bytes after it are kept and are the start of the next response. Requests still
//! queued when the connection ends were never answered; the client sends them again
//! (`events.rs`). A request that ends early (its own deadline) while behind others
//! leaves its place in the queue as a gap: its response is still read, and dropped.
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
//! The shared-buffer rule: the transport reads into the client's one read buffer and
//! hands the machine a slice; only what the decoder could not use yet (a partial head
//! or chunk-size line, rarely anything) is copied into `partial`, and without
//! pipelining body bytes are counted in place and never copied. With pipelining, the
//! bytes after a finished response (the next responses, bodies included) are copied
//! once into `partial`, and a read that follows bytes left in `partial` is appended
//! to them: a copy per read, not per response. Decoding the rest straight from the
//! read buffer would save it; it is not done yet.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::decode::Decoding;
use super::keys::{OriginKey, ReqKey};
use super::outcome::{Error, ErrorKind, RequestId, Sink};
use super::tls;
use crate::http1::{self, Event as Http, ResponseDecoder, Version};
use crate::timer::TimerId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Handshake in progress to `addr`, one of `req`'s attempts (see `race.rs`). While
    /// `racing`, the next attempt starts beside this one when the timer fires.
    Connecting { req: ReqKey, addr: SocketAddr, racing: bool },
    /// Request bytes are waiting to be written; responses may be arriving already.
    Sending,
    /// Every request is out; responses are being read.
    Receiving,
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
    /// `req`'s response is complete (`None`: a request that had already ended; its
    /// response was dropped). With `keep_alive`, the connection goes on: idle, to be
    /// pooled, or with the next queued request's response to read. Otherwise it must
    /// be closed, and any requests queued behind `req` were not answered.
    Done { req: Option<ReqKey>, keep_alive: bool },
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
    /// The request's id, for the sink.
    pub index: RequestId,
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
    /// Nobody waits for this response (see [`Received::dropped`]).
    pub dropped: bool,
}

impl Received {
    /// For a response nobody waits for any more (see [`Conn::forget`]): read, never
    /// handed to the sink.
    pub fn dropped() -> Received {
        Received { dropped: true, ..Received::default() }
    }
}

/// Whether a response with `status` is a redirect (one without a `Location` fails
/// when followed, rather than pass for the final response).
pub(super) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

pub(super) struct Conn {
    pub origin: OriginKey,
    state: State,
    /// The deadline of the current phase (connect, head, body read, idle expiry).
    pub timer: TimerId,
    /// The deadline `timer` was last armed for (the client's bookkeeping).
    pub armed: Option<Deadline>,
    /// Responses completed on this connection; > 0 means it came from the pool.
    pub served: u32,
    /// In the client's queue of connections to resume (see [`Progress::Paused`]).
    pub paused: bool,
    /// In its origin's list of busy connections with room (`Origin::open`), so that it is
    /// listed once, not once per response.
    pub listed: bool,
    /// When the read that ended the last response found nothing after it (set as the
    /// connection goes back to the pool; taken at its next use).
    pub drained_at: Option<Instant>,
    decoder: ResponseDecoder,
    /// The current response's head has arrived, in this HTTP version. Kept here, not
    /// only in the request's `Received`: a response nobody waits for any more is read
    /// into a scratch one each time, and its version still decides `proven`.
    head_version: Option<Version>,
    /// Response bytes the decoder could not use yet (usually empty).
    partial: Leftover,
    /// Encoded request bytes not yet written.
    unsent: Vec<u8>,
    /// Requests sent or being sent, oldest first: the first is the one whose response is
    /// being read. A request that ended early while behind others is a gap (`req: None`).
    queue: VecDeque<Sent>,
    /// The last read emptied the socket (for bytes left after a pipelined response).
    drained: bool,
    /// The last response was HTTP/1.1 and kept the connection open: the server may be
    /// sent requests before earlier ones are answered. Nothing is pipelined to a
    /// server before it has shown that (HTTP/1.0 servers never do).
    proven: bool,
    /// The server answered a request written together with the one ahead of it: it reads
    /// on after a request, so requests may join this pipeline in later writes too. Until
    /// then only requests written together do: some servers answer the first request of
    /// each read and drop the rest, and a request written later would then be answered
    /// in place of a dropped one.
    reads_on: bool,
    /// A request whose method is not idempotent is on it: nothing is sent behind it
    /// until it is answered (RFC 9112 §9.3.2).
    alone: bool,
    /// The server is a short round trip away (see [`NEAR`]): set by the client once
    /// connected, it decides how early the pipeline is refilled.
    pub near: bool,
    /// The server holds responses back until the previous one is acknowledged (see
    /// [`HELD_BACK`]): each write of requests is followed by an immediate acknowledgement.
    /// Set by the client for every connection of the origin.
    pub hurry: bool,
    /// When the last response ended with the next request already sent and nothing
    /// more to read (the client's clock, given to [`Conn::response_ended`]).
    next_awaited_since: Option<Instant>,
    /// Reads that brought bytes of the response being decoded, and whether the last
    /// response to end came whole in one read (a held-back response does; a body
    /// streamed slowly does not, and its time is not a wait).
    reads: u32,
    one_read: bool,
}

/// A round trip shorter than this makes a connection near: loopback, a LAN. Refilling
/// its pipeline only once it is empty leaves the server idle for less than this once
/// per `depth` requests, and makes every write carry a whole pipeline; a farther
/// connection refills at half, so that the server never waits a round trip for more.
pub(super) const NEAR: Duration = Duration::from_millis(1);

/// A pipelined response that kept the client waiting this long or more after the one
/// ahead of it, beyond a round trip, was most likely held back by the server for an
/// acknowledgement. A server that writes each response on its own with Nagle's
/// algorithm on (no `TCP_NODELAY`) sends the first, then holds the rest until that one
/// is acknowledged; and the client's kernel, which has nothing to send back until the
/// pipeline is empty, delays that acknowledgement by 40 ms (Linux's least delayed-ACK
/// time). Every pipeline would wait that long. Once a connection has shown it, its
/// origin's connections [hurry](Conn::hurry): after each write of requests the
/// transport asks the kernel to acknowledge at once (`TCP_QUICKACK`). Not for every
/// connection: against a server that keeps up, that doubles the acknowledgements (one
/// per response instead of TCP's one per two), which costs the client about a fifth
/// more CPU per request. See [`held_back`].
pub(super) const HELD_BACK: Duration = Duration::from_millis(35);

/// Whether `waited` (from [`Conn::response_ended`]) was the server holding a response
/// back: what is left of it after the time the bytes sat unread in the socket
/// (`since_data`) and a round trip (`round_trip`, for requests that went out only as
/// the response ahead ended) is [`HELD_BACK`] or more. Both are TCP's own figures
/// (`TCP_INFO`), so neither the client's delays nor a far server count. A server slow
/// to answer each request counts too; hurrying costs it nothing that matters.
pub(super) fn held_back(waited: Duration, since_data: Duration, round_trip: Duration) -> bool {
    waited.saturating_sub(since_data).saturating_sub(round_trip) >= HELD_BACK
}

/// A request on the connection, waiting for its response.
#[derive(Clone, Copy, Debug)]
struct Sent {
    req: Option<ReqKey>,
    /// Sent while an earlier request was unanswered.
    pipelined: bool,
    /// Written in the same write as the request ahead of it (queued while that one's
    /// bytes were still unsent).
    together: bool,
    /// A `HEAD`: its response has no body, whatever its head says.
    head: bool,
}

impl Conn {
    /// A connection attempt to `addr` for `req`.
    pub fn new(
        origin: OriginKey,
        timer: TimerId,
        req: ReqKey,
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
            listed: false,
            drained_at: None,
            decoder,
            head_version: None,
            partial: Leftover::default(),
            unsent: Vec::new(),
            queue: VecDeque::new(),
            drained: false,
            proven: false,
            reads_on: false,
            alone: false,
            near: false,
            hurry: false,
            next_awaited_since: None,
            reads: 0,
            one_read: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The request this connection is connecting for, or whose response it reads now.
    pub fn request(&self) -> Option<ReqKey> {
        match self.state {
            State::Connecting { req, .. } => Some(req),
            State::Sending | State::Receiving => self.queue.front().and_then(|sent| sent.req),
            State::Idle => None,
        }
    }

    /// Requests sent (or being sent) and not yet answered, gaps included.
    pub fn outstanding(&self) -> usize {
        self.queue.len()
    }

    /// Requests are on it (being sent, or their responses being read).
    pub fn busy(&self) -> bool {
        matches!(self.state, State::Sending | State::Receiving)
    }

    /// Whether one more request may go out now, with `depth` allowed in flight: the
    /// connection is idle, or busy with fewer than `depth` on a server that has shown
    /// it keeps HTTP/1.1 connections open.
    pub fn can_take(&self, depth: usize) -> bool {
        match self.state {
            State::Idle => true,
            State::Sending | State::Receiving => {
                self.proven && !self.alone && self.queue.len() < depth && (self.reads_on || !self.unsent.is_empty())
            }
            State::Connecting { .. } => false,
        }
    }

    /// The requests queued behind the one being answered: never answered, if the
    /// connection ends now. Gaps (requests that ended already) are skipped.
    pub fn behind(&self) -> impl DoubleEndedIterator<Item = ReqKey> + '_ {
        self.queue.iter().skip(1).filter_map(|sent| sent.req)
    }

    /// The request being answered was sent behind others (pipelined): if it fails with
    /// no byte of its response, the server ended the connection after answering the
    /// ones ahead of it, and it was never served, like those behind it.
    pub fn front_was_pipelined(&self) -> bool {
        self.busy() && self.queue.front().is_some_and(|sent| sent.pipelined)
    }

    /// The request being answered was pipelined and no byte of its response has come:
    /// after the head timeout, most likely never read by the server (see
    /// `Quirks::one_at_a_time`), not slow to answer.
    pub fn front_unheard(&self) -> bool {
        self.front_was_pipelined() && !self.decoder.has_begun()
    }

    /// `req`, queued behind the one being answered, has ended (its own deadline): its
    /// response will be read and dropped. False if `req` is not behind on this connection.
    pub fn forget(&mut self, req: ReqKey) -> bool {
        match self.queue.iter_mut().skip(1).find(|sent| sent.req == Some(req)) {
            Some(sent) => {
                sent.req = None;
                true
            }
            None => false,
        }
    }

    /// The deadline that applies now.
    pub fn deadline(&self) -> Deadline {
        match self.state {
            State::Connecting { racing: true, .. } => Deadline::Attempt,
            State::Connecting { racing: false, .. } => Deadline::Connect,
            State::Sending | State::Receiving if self.head_version.is_some() => Deadline::Body,
            State::Sending | State::Receiving => Deadline::Head,
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

    /// A response ended (`Progress::Done` with keep-alive) at `now`, by the client's clock,
    /// before the client refills the pipeline. Returns how long it kept the client
    /// waiting after the one ahead of it ended, if it had been asked for by then, nothing
    /// else was left to read, and it came whole in one read; see [`held_back`]. Nothing
    /// once the connection hurries.
    pub fn response_ended(&mut self, now: Instant) -> Option<Duration> {
        let waited = self.next_awaited_since.take().filter(|_| self.one_read).map(|t| now.saturating_duration_since(t));
        if self.hurry {
            return None;
        }
        let written = self.unsent.is_empty();
        self.next_awaited_since = (self.busy() && written && self.drained && !self.has_buffered()).then_some(now);
        waited
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
    /// one from the pool, or — pipelining — a busy one, behind its other requests. The
    /// response decoder is told the method (a HEAD response has no body).
    pub fn send(&mut self, req: ReqKey, method: &str, request: &[u8]) {
        match self.state {
            State::Connecting { .. } | State::Idle => {
                // A connection goes idle only with all of these empty (`received`).
                debug_assert!(self.unsent.is_empty() && self.partial.is_empty() && self.queue.is_empty());
                self.start_response(method == "HEAD");
            }
            // `can_take` lets nothing join a request that is not idempotent.
            State::Sending | State::Receiving => debug_assert!(!self.alone),
        }
        self.alone = !http1::is_idempotent(method);
        let (pipelined, together) = (!self.queue.is_empty(), !self.unsent.is_empty());
        self.unsent.extend_from_slice(request);
        self.queue.push_back(Sent { req: Some(req), pipelined, together, head: method == "HEAD" });
        self.state = State::Sending;
    }

    /// The decoder expects the next response.
    fn start_response(&mut self, head: bool) {
        self.decoder.start(if head { "HEAD" } else { "GET" });
        self.head_version = None;
        self.reads = 0;
    }

    /// The bytes waiting to be written.
    pub fn to_send(&self) -> &[u8] {
        &self.unsent
    }

    /// `n` bytes of [`Conn::to_send`] were written.
    pub fn sent(&mut self, n: usize) {
        self.unsent.drain(..n);
        if self.state == State::Sending && self.unsent.is_empty() {
            self.state = State::Receiving;
        }
    }

    /// Bytes arrived. `drained` says the socket had nothing more when they were read
    /// (a short read, and no hang-up seen), which is what makes a completed connection
    /// safe to reuse. `received` is for the request being answered ([`Conn::request`]).
    pub fn received(&mut self, bytes: &[u8], drained: bool, received: &mut Received, sink: &mut impl Sink) -> Progress {
        match self.state {
            State::Sending | State::Receiving => {}
            // An idle connection should be silent: bytes nobody asked for end it.
            State::Idle => return Progress::IdleClosed,
            State::Connecting { .. } => return Progress::Wait,
        }
        self.drained = drained;
        self.reads = self.reads.saturating_add(u32::from(!bytes.is_empty()));
        let from_partial = !self.partial.is_empty();
        if from_partial {
            self.partial.append(bytes);
        }
        let input: &[u8] = if from_partial { self.partial.bytes() } else { bytes };
        match feed(&mut self.decoder, input, received, &mut self.head_version, sink) {
            Ok(Fed::End { consumed, keep_alive }) => {
                self.served += 1;
                self.proven = keep_alive && self.head_version == Some(Version::Http11);
                self.one_read = self.reads == 1;
                let front = *self.queue.front().expect("a response answers a request");
                self.reads_on |= front.together;
                let req = front.req;
                if self.queue.len() == 1 {
                    // Bytes after the last response we asked for (or a socket that may
                    // hide more) mean the stream can no longer be trusted.
                    let keep_alive = keep_alive && consumed == input.len() && drained && self.unsent.is_empty();
                    if keep_alive {
                        self.queue.clear();
                        self.state = State::Idle;
                        self.partial.clear();
                    }
                    return Progress::Done { req, keep_alive };
                }
                if !keep_alive {
                    // The server ends the connection here: the requests behind were not
                    // answered, and the client sends them again.
                    return Progress::Done { req, keep_alive: false };
                }
                // Pipelined: what follows this response begins the next one.
                self.keep_rest(from_partial, bytes, consumed);
                self.queue.pop_front();
                let next = self.queue[0];
                self.start_response(next.head);
                Progress::Done { req, keep_alive: true }
            }
            Ok(Fed::NeedMore { consumed }) => {
                self.keep_rest(from_partial, bytes, consumed);
                Progress::Wait
            }
            Err(error) => Progress::Failed { error, unanswered: false },
        }
    }

    /// Whether the last read emptied the socket (with no hang-up seen).
    pub fn was_drained(&self) -> bool {
        self.drained
    }

    /// The decoder used `consumed` bytes of its input (`partial`'s, or else `bytes`):
    /// the rest waits in `partial`, copied once however many responses it holds.
    fn keep_rest(&mut self, from_partial: bool, bytes: &[u8], consumed: usize) {
        if from_partial {
            self.partial.consume(consumed);
        } else {
            self.partial.keep(&bytes[consumed..]);
        }
    }

    /// Bytes already read that follow a pipelined response: the next response's start.
    pub fn has_buffered(&self) -> bool {
        !self.partial.is_empty() && matches!(self.state, State::Sending | State::Receiving)
    }

    /// Decodes what [`Conn::has_buffered`] holds, as if it had just arrived.
    pub fn buffered(&mut self, received: &mut Received, sink: &mut impl Sink) -> Progress {
        self.received(&[], self.drained, received, sink)
    }

    /// The peer closed its side (a read returned 0).
    pub fn closed(&mut self) -> Progress {
        match self.state {
            State::Idle => Progress::IdleClosed,
            State::Connecting { .. } => Progress::Wait,
            State::Sending | State::Receiving if !self.decoder.has_begun() => {
                let error = Error::new(ErrorKind::Reset, "connection closed before any response");
                Progress::Failed { error, unanswered: true }
            }
            State::Sending | State::Receiving => match self.decoder.finish() {
                Ok(_) => {
                    self.served += 1;
                    // A close-delimited body ended.
                    Progress::Done { req: self.request(), keep_alive: false }
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
            State::Sending | State::Receiving if self.decoder.has_begun() => Progress::Failed {
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
            State::Sending | State::Receiving => {
                let what = if writing { "sending request" } else { "reading response" };
                let kind = tls::error_kind(e).unwrap_or(ErrorKind::Reset);
                let error = Error::new(kind, format!("{what}: {e}")).with_io(e);
                Progress::Failed { error, unanswered: !self.decoder.has_begun() }
            }
        }
    }
}

/// Bytes read but not yet decoded: `buf[at..]`. Consuming moves `at`, so the responses
/// of one read that pipelining packs together are never shifted one by one.
#[derive(Default)]
struct Leftover {
    buf: Vec<u8>,
    at: usize,
}

impl Leftover {
    fn is_empty(&self) -> bool {
        self.at == self.buf.len()
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.at..]
    }

    /// More bytes arrived behind what is kept.
    fn append(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.buf.drain(..self.at);
            self.at = 0;
            self.buf.extend_from_slice(bytes);
        }
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
        if self.is_empty() {
            self.clear();
        }
    }

    /// Keeps a copy of `rest`, replacing what was kept.
    fn keep(&mut self, rest: &[u8]) {
        self.clear();
        self.buf.extend_from_slice(rest);
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.at = 0;
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
    head_version: &mut Option<Version>,
    sink: &mut impl Sink,
) -> Result<Fed, Error> {
    let mut pos = 0;
    loop {
        let (n, event) = decoder.decode(&input[pos..]).map_err(decode_error)?;
        pos += n;
        match event {
            Http::NeedMore => return Ok(Fed::NeedMore { consumed: pos }),
            Http::Head(head) => {
                *head_version = Some(head.version);
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
                if !received.withheld && !received.dropped {
                    sink.head(received.index, &head);
                }
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
    if !received.withheld && !received.dropped {
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
    use crate::client::keys::Key;

    /// Request key `i`.
    fn rq(i: usize) -> ReqKey {
        ReqKey::from_index(i)
    }
    use crate::client::outcome::Outcome;
    use crate::http1::Limits;
    use crate::timer::Timers;

    const ADDR: &str = "127.0.0.1:80";

    /// Body pieces the sink saw.
    #[derive(Default)]
    struct Pieces(Vec<Vec<u8>>);
    impl Sink for Pieces {
        fn outcome(&mut self, _: &Outcome<'_>) {}
        fn body(&mut self, _: RequestId, piece: &[u8]) {
            self.0.push(piece.to_vec());
        }
    }

    fn attempt(racing: bool) -> Conn {
        let timer = Timers::new().insert(mio::Token(0));
        Conn::new(
            OriginKey::from_index(7),
            timer,
            rq(1),
            ADDR.parse().unwrap(),
            racing,
            ResponseDecoder::new(Limits::default()),
        )
    }

    /// A connected connection that has sent `GET /` for request 1.
    fn sending() -> Conn {
        let mut c = attempt(false);
        assert!(matches!(c.connected(), Progress::Connected));
        c.send(rq(1), "GET", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
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
        assert_eq!(c.request(), Some(rq(1)));
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
        assert_eq!((c.state(), c.request()), (State::Sending, Some(rq(1))));
        assert_eq!(c.deadline(), Deadline::Head);
        assert_eq!(c.to_send(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        c.sent(4);
        assert_eq!(c.to_send(), b"/ HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(c.state(), State::Sending);
        c.sent(c.to_send().len());
        assert_eq!((c.state(), c.request()), (State::Receiving, Some(rq(1))));
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
                    assert_eq!((req, keep_alive), (Some(rq(1)), true));
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
        c.send(rq(2), "GET", b"GET /2 HTTP/1.1\r\n\r\n");
        assert_eq!((c.state(), c.request(), c.deadline()), (State::Sending, Some(rq(2)), Deadline::Head));
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
        assert!(matches!(c.closed(), Progress::Done { req: Some(k), keep_alive: false } if k == rq(1)));
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

    // ---- pipelining ---------------------------------------------------------------

    /// A connection whose server has answered once with HTTP/1.1 keep-alive, now with
    /// requests 1..=n pipelined and written.
    fn pipelined(n: usize) -> Conn {
        let mut c = attempt(false);
        c.connected();
        c.send(rq(0), "GET", b"GET /0 HTTP/1.1\r\n\r\n");
        c.sent(c.to_send().len());
        assert!(!c.can_take(4), "nothing is pipelined before the server has shown keep-alive");
        assert!(
            matches!(feed_all(&mut c, OK, true).0, Progress::Done { req: Some(k), keep_alive: true } if k == rq(0))
        );
        for req in 1..=n {
            assert!(c.can_take(n), "room for request {req}");
            c.send(rq(req), "GET", format!("GET /{req} HTTP/1.1\r\n\r\n").as_bytes());
        }
        assert!(!c.can_take(n));
        let all: String = (1..=n).map(|req| format!("GET /{req} HTTP/1.1\r\n\r\n")).collect();
        assert_eq!(c.to_send(), all.as_bytes(), "the requests go out together");
        c.sent(c.to_send().len());
        c
    }

    /// Feeds `bytes` then whatever each completed response left buffered, as the client
    /// does; returns every verdict and the bodies the sink saw.
    fn feed_pipeline(c: &mut Conn, bytes: &[u8]) -> (Vec<(Option<ReqKey>, bool)>, Vec<u8>) {
        let mut sink = Pieces::default();
        let mut ends = Vec::new();
        let mut received = Received::default();
        let mut p = c.received(bytes, true, &mut received, &mut sink);
        loop {
            match p {
                Progress::Done { req, keep_alive } => {
                    ends.push((req, keep_alive));
                    if !keep_alive || !c.has_buffered() {
                        break;
                    }
                    let mut r = if c.request().is_some() { Received::default() } else { Received::dropped() };
                    p = c.buffered(&mut r, &mut sink);
                }
                Progress::Wait => break,
                other => panic!("{other:?}"),
            }
        }
        (ends, sink.0.concat())
    }

    #[test]
    fn nothing_is_sent_behind_a_request_that_is_not_idempotent() {
        let mut c = pipelined(1);
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(1)), true)]);
        assert!(c.can_take(4), "idle, on a server that keeps connections: room");
        c.send(rq(2), "POST", b"POST /2 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
        assert!(!c.can_take(4), "a POST goes alone (RFC 9112 §9.3.2)");
        c.sent(c.to_send().len());
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(2)), true)]);
        assert!(c.can_take(4), "answered: the connection takes requests again");
        c.send(rq(3), "GET", b"GET /3 HTTP/1.1\r\n\r\n");
        assert!(c.can_take(4), "a GET leaves room behind it");
    }

    #[test]
    fn pipelined_responses_in_one_read_end_in_order() {
        let mut c = pipelined(3);
        let three = [OK, OK, OK].concat();
        let (ends, bodies) = feed_pipeline(&mut c, &three);
        assert_eq!(ends, [(Some(rq(1)), true), (Some(rq(2)), true), (Some(rq(3)), true)]);
        assert_eq!(bodies, b"hellohellohello");
        assert_eq!((c.state(), c.outstanding(), c.served), (State::Idle, 0, 4));
    }

    #[test]
    fn pipelined_responses_byte_by_byte_end_in_order() {
        let mut c = pipelined(3);
        let three = [OK, OK, OK].concat();
        let mut ends = Vec::new();
        for byte in &three {
            ends.extend(feed_pipeline(&mut c, std::slice::from_ref(byte)).0);
        }
        assert_eq!(ends, [(Some(rq(1)), true), (Some(rq(2)), true), (Some(rq(3)), true)]);
        assert_eq!(c.state(), State::Idle);
    }

    #[test]
    fn responses_split_across_reads_keep_their_order_and_deadlines() {
        let mut c = pipelined(3);
        let three = [OK, OK, OK].concat();
        // One and a half responses, then the rest.
        let cut = OK.len() + 20;
        let (ends, _) = feed_pipeline(&mut c, &three[..cut]);
        assert_eq!(ends, [(Some(rq(1)), true)]);
        assert_eq!((c.request(), c.outstanding(), c.deadline()), (Some(rq(2)), 2, Deadline::Head));
        let (ends, _) = feed_pipeline(&mut c, &three[cut..]);
        assert_eq!(ends, [(Some(rq(2)), true), (Some(rq(3)), true)]);
    }

    #[test]
    fn connection_close_mid_pipeline_leaves_the_rest_unanswered() {
        let mut c = pipelined(3);
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let (ends, _) = feed_pipeline(&mut c, &[OK, close, OK].concat());
        assert_eq!(ends, [(Some(rq(1)), true), (Some(rq(2)), false)], "nothing after the close is believed");
        assert_eq!(c.behind().collect::<Vec<_>>(), [rq(3)]);
    }

    #[test]
    fn a_close_after_k_responses_fails_the_next_unanswered_and_the_rest_are_behind() {
        let mut c = pipelined(3);
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(1)), true)]);
        assert!(matches!(c.closed(), Progress::Failed { unanswered: true, .. }));
        assert_eq!((c.request(), c.behind().collect::<Vec<_>>()), (Some(rq(2)), vec![rq(3)]));
        // A reset instead of a FIN, after part of response 2: answered, so not behind.
        let mut c = pipelined(3);
        feed_pipeline(&mut c, &[OK, &OK[..10]].concat());
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(matches!(c.io_failed(false, &reset), Progress::Failed { unanswered: false, .. }));
        assert_eq!(c.behind().collect::<Vec<_>>(), [rq(3)]);
    }

    #[test]
    fn an_http10_server_is_never_sent_a_second_request_early() {
        let mut c = sending();
        c.sent(c.to_send().len());
        let http10 = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        let (p, _, _) = feed_all(&mut c, http10, true);
        assert!(matches!(p, Progress::Done { keep_alive: true, .. }), "{p:?}");
        c.send(rq(2), "GET", b"GET /2 HTTP/1.0\r\n\r\n");
        assert!(!c.can_take(16), "HTTP/1.0 keep-alive is not an invitation to pipeline");
    }

    #[test]
    fn a_forgotten_request_leaves_a_gap_whose_response_is_dropped() {
        let mut c = pipelined(3);
        assert!(!c.forget(rq(1)), "the request being answered cannot be forgotten");
        assert!(c.forget(rq(2)));
        assert_eq!(c.behind().collect::<Vec<_>>(), [rq(3)]);
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nTWO";
        let (ends, bodies) = feed_pipeline(&mut c, &[OK, two, OK].concat());
        assert_eq!(ends, [(Some(rq(1)), true), (None, true), (Some(rq(3)), true)]);
        assert_eq!(bodies, b"hellohello", "the gap's body reaches no one");
    }

    #[test]
    fn a_pipelined_head_response_has_no_body() {
        let mut c = pipelined(1);
        c.send(rq(2), "HEAD", b"HEAD /2 HTTP/1.1\r\n\r\n");
        c.send(rq(3), "GET", b"GET /3 HTTP/1.1\r\n\r\n");
        c.sent(c.to_send().len());
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let (ends, bodies) = feed_pipeline(&mut c, &[OK, head, OK].concat());
        assert_eq!(ends, [(Some(rq(1)), true), (Some(rq(2)), true), (Some(rq(3)), true)]);
        assert_eq!(bodies, b"hellohello");
    }

    #[test]
    fn responses_are_read_while_requests_are_still_being_written() {
        let mut c = pipelined(1);
        c.send(rq(2), "GET", b"GET /2 HTTP/1.1\r\n\r\n");
        assert_eq!(c.state(), State::Sending);
        let (ends, _) = feed_pipeline(&mut c, OK);
        assert_eq!(ends, [(Some(rq(1)), true)]);
        assert_eq!((c.state(), c.request()), (State::Sending, Some(rq(2))));
    }

    #[test]
    fn the_wait_behind_an_answered_response_is_reported_while_it_was_asked_for() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut c = pipelined(3);
        // The first of a batch waits for a round trip and the server: nothing to report.
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(1)), true)]);
        assert_eq!(c.response_ended(at(100)), None);
        // The next two were asked for already: how long each kept the client waiting.
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(2)), true)]);
        assert_eq!(c.response_ended(at(134)), Some(Duration::from_millis(34)));
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(3)), true)]);
        assert_eq!(c.response_ended(at(180)), Some(Duration::from_millis(46)));
        assert_eq!(c.state(), State::Idle);
        // Refilled only after it emptied: the next wait is a round trip, not reported.
        c.send(rq(4), "GET", b"GET /4 HTTP/1.1\r\n\r\n");
        c.send(rq(5), "GET", b"GET /5 HTTP/1.1\r\n\r\n");
        c.sent(c.to_send().len());
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(4)), true)]);
        assert_eq!(c.response_ended(at(1000)), None);
        // Once the connection hurries, nothing more is measured.
        c.hurry = true;
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(5)), true)]);
        assert_eq!(c.response_ended(at(1100)), None);
        c.send(rq(6), "GET", b"GET /6 HTTP/1.1\r\n\r\n");
        c.send(rq(7), "GET", b"GET /7 HTTP/1.1\r\n\r\n");
        c.sent(c.to_send().len());
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(6)), true)]);
        assert_eq!(c.response_ended(at(1200)), None);
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(7)), true)]);
        assert_eq!(c.response_ended(at(1300)), None);
    }

    #[test]
    fn a_response_already_read_or_readable_is_not_waited_for_however_late_it_is_decoded() {
        let t0 = Instant::now();
        let mut c = pipelined(2);
        let (mut sink, mut received) = (Pieces::default(), Received::default());
        let done = c.received(&[OK, OK].concat(), true, &mut received, &mut sink);
        assert!(matches!(done, Progress::Done { req: Some(k), .. } if k == rq(1)));
        assert_eq!(c.response_ended(t0), None);
        // The client gets to the second only a second later: its own delay, not the server's.
        let done = c.buffered(&mut Received::default(), &mut sink);
        assert!(matches!(done, Progress::Done { req: Some(k), .. } if k == rq(2)));
        assert_eq!(c.response_ended(t0 + Duration::from_secs(1)), None);
        // Likewise when the read that ended the first left more in the socket.
        let mut c = pipelined(2);
        let done = c.received(OK, false, &mut Received::default(), &mut sink);
        assert!(matches!(done, Progress::Done { req: Some(k), .. } if k == rq(1)));
        assert_eq!(c.response_ended(t0), None);
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(2)), true)]);
        assert_eq!(c.response_ended(t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn only_requests_written_together_join_until_the_server_reads_on() {
        let mut c = pipelined(2);
        // Both went out in one write; nothing joins them in a later one yet.
        assert!(!c.can_take(8), "a server that drops what follows a request would answer it in place of another");
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(1)), true)]);
        assert!(!c.can_take(8));
        // The second of that write is answered: this server reads on after a request.
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(2)), true)]);
        c.send(rq(3), "GET", b"GET /3 HTTP/1.1\r\n\r\n");
        c.sent(c.to_send().len());
        assert!(c.can_take(8), "later writes may join now");
    }

    #[test]
    fn a_response_that_took_more_than_one_read_is_not_a_wait() {
        let t0 = Instant::now();
        let mut c = pipelined(2);
        assert_eq!(feed_pipeline(&mut c, OK).0, [(Some(rq(1)), true)]);
        assert_eq!(c.response_ended(t0), None);
        // The next one streams in over two reads, a second apart: a slow body, not a hold.
        let (head, body) = OK.split_at(OK.len() - 2);
        assert_eq!(feed_pipeline(&mut c, head).0, []);
        assert_eq!(feed_pipeline(&mut c, body).0, [(Some(rq(2)), true)]);
        assert_eq!(c.response_ended(t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn held_back_is_what_is_left_after_the_socket_and_a_round_trip() {
        let ms = Duration::from_millis;
        // Loopback, a Nagle hold: 44 ms, read at once, a round trip of 50 µs.
        assert!(held_back(ms(44), ms(0), Duration::from_micros(50)));
        // The same wait through a 50 ms round trip is a far server refilled at half.
        assert!(!held_back(ms(44), ms(0), ms(50)));
        assert!(held_back(ms(90), ms(0), ms(50)), "a hold behind a far round trip");
        // Bytes that sat 20 ms in the socket waited for the client, not the server.
        assert!(!held_back(ms(44), ms(20), ms(0)));
        assert!(held_back(ms(35), ms(0), ms(0)) && !held_back(ms(34), ms(0), ms(0)));
    }
}
