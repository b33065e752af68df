//! The response decoder: a state machine that turns bytes into [`Event`]s.
//!
//! Each call to [`ResponseDecoder::decode`] looks at the front of the caller's
//! unconsumed bytes, takes one step of the current `State` (one `match`),
//! and either makes progress silently (skipping an interim 1xx head, a
//! chunk-size line, the CRLF after chunk data…) or produces an event. Events
//! borrow from the input, so a body is handed out as slices of the caller's own
//! read buffer: nothing is copied and nothing is allocated.
//!
//! The one exception is a head that must be rewritten before it can be read:
//! one with obsolete line folding, whose folds RFC 9112 §5.2 has a client
//! replace with spaces, or one from `HTTP/1.2` or later, which §2.3 has it read
//! as HTTP/1.1 (httparse knows only 1.0 and 1.1). httparse refuses both at its
//! strictest, which is how every head is parsed first, so the common case pays
//! nothing. Only then is the complete head copied into the decoder, rewritten,
//! and parsed again; its `Head` event borrows the decoder.
//!
//! Two pieces of bookkeeping keep the decoder linear in the bytes it receives,
//! however they are split into reads:
//!
//! * While a head is incomplete nothing is consumed (httparse wants the whole
//!   head in one slice), so the caller offers the same bytes again, extended.
//!   The first offer goes straight to httparse: a head usually arrives whole,
//!   and httparse finds its end faster than any separate search. If it is not
//!   whole, the `Head` state remembers how far it has searched for the blank
//!   line, and httparse runs once more, when that line is found.
//! * Everything after the head is consumed as it is understood, byte by byte
//!   for framing (chunk-size lines, CRLFs, trailers) and slice by slice for
//!   data, so no byte is ever looked at twice.
//!
//! Next: `framing.rs`, the decision the `Head` state makes once per response.

use std::fmt;
use std::mem::MaybeUninit;

use super::error::Error;
use super::framing::{self, Framing, Verdict};
use super::headers::{Escaped, Headers, unfold};

/// How many header fields the stack array handed to httparse can hold. This
/// caps `Limits::max_headers`; 128 fields cost 4 KiB of stack per decode call.
const HEADER_SLOTS: usize = 128;

/// The longest chunk-size line (size, extensions, CRLF) we will skip through.
/// Extensions are meaningless to us, but they must not be an unbounded sink.
const MAX_CHUNK_LINE: usize = 4096;

/// Bounds on what one response may make us read.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest head (status line through blank line), and also the longest
    /// chunked trailer section. Default 64 KiB.
    pub max_head: usize,
    /// Most header fields per head. Default 100; capped at 128.
    pub max_headers: usize,
    /// Most decoded body bytes (chunk framing excluded). Default: unlimited.
    pub max_body: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_head: 64 * 1024, max_headers: 100, max_body: None }
    }
}

/// The protocol version of a response. A later HTTP/1.x (`HTTP/1.2` …
/// `HTTP/1.9`) is read as HTTP/1.1 (RFC 9112 §2.3); nothing else is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`: the connection persists only if the response says `keep-alive`.
    Http10,
    /// `HTTP/1.1` (or a later `HTTP/1.x`): the connection persists unless it says `close`.
    Http11,
}

/// A final response head. Interim (1xx) heads are never reported.
#[derive(Clone, Copy)]
pub struct Head<'a> {
    /// The version on the status line.
    pub version: Version,
    /// The three-digit status code as sent; never 1xx (interim heads are skipped,
    /// and 101 is an error).
    pub status: u16,
    /// The reason phrase exactly as sent (possibly empty, possibly not UTF-8).
    pub reason: &'a [u8],
    /// The header fields as sent, any obsolete line folds replaced by spaces; read
    /// with [`Headers::get`].
    pub headers: Headers<'a>,
    /// How the body that follows is delimited; decided here, once.
    pub framing: Framing,
}

impl fmt::Debug for Head<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Head")
            .field("version", &self.version)
            .field("status", &self.status)
            .field("reason", &Escaped(self.reason))
            .field("headers", &self.headers)
            .field("framing", &self.framing)
            .finish()
    }
}

/// What one `decode` step produced.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// Nothing more can be done with these bytes: read more and call again
    /// with the unconsumed bytes followed by the new ones.
    NeedMore,
    /// The final response head.
    Head(Head<'a>),
    /// A piece of the decoded body; never empty.
    Body(&'a [u8]),
    /// The response is complete. `keep_alive` says whether the connection may
    /// carry another request (RFC 9112 §9.3).
    End {
        /// Whether the connection may carry another request.
        keep_alive: bool,
    },
}

/// Decodes one response after another from a connection's bytes.
///
/// The decoder is small and, but for a head it had to rewrite, holds no bytes;
/// the caller owns them.
#[derive(Clone, Debug)]
pub struct ResponseDecoder {
    limits: Limits,
    state: State,
    /// The request was HEAD, so the response has no body (RFC 9110 §9.3.2).
    request_was_head: bool,
    /// Any response byte has been offered since `start`.
    begun: bool,
    /// Decided by the final head, reported by `End`.
    keep_alive: bool,
    /// Body bytes delivered so far, for `Limits::max_body`.
    body_len: u64,
    /// The current head, rewritten so that httparse and `Headers` can read it
    /// (see the module docs), when it could not be read where it lay. Empty
    /// otherwise; released when the response ends. Never longer than `max_head`.
    rewritten: Vec<u8>,
}

/// Where the decoder is within the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No response expected: before `start`, or after it ended.
    Idle,
    /// Waiting for a complete head; the first `scanned` bytes of the input
    /// have already been searched for the blank line that ends it.
    Head { scanned: usize },
    /// A Content-Length body with this many bytes still to come (never 0).
    Length { remaining: u64 },
    /// Inside a chunk-size line.
    ChunkSize(SizeLine),
    /// Inside chunk data, with this many bytes still to come (never 0).
    ChunkData { remaining: u64 },
    /// Expecting the CRLF after chunk data; `seen_cr` once the CR is in.
    ChunkDataEnd { seen_cr: bool },
    /// Skipping the trailer section after the last chunk. `line_empty` is true
    /// while the current line has nothing but CRs; `seen` counts bytes so far.
    Trailers { line_empty: bool, seen: usize },
    /// A body delimited by the connection closing.
    UntilClose,
    /// The body is complete; `End` is next.
    Done,
}

/// Progress through one chunk-size line: `1*HEXDIG [ chunk-ext ] CRLF`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SizeLine {
    size: u64,
    /// Bytes of the line seen so far, for `MAX_CHUNK_LINE`.
    len: usize,
    part: LinePart,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinePart {
    /// Nothing yet; a hex digit must come first.
    FirstDigit,
    /// In the hex digits.
    Digits,
    /// Whitespace after the size (BWS); only `;` or the line end may follow.
    Whitespace,
    /// In the chunk extensions, which are skipped unparsed.
    Extension,
    /// Saw CR; LF must follow.
    LineFeed,
}

/// The outcome of one step: either an event for the caller, or progress that
/// lets the next step run on the remaining input right away.
enum Step<'a> {
    Emit(Event<'a>),
    /// A final head whose reason phrase and fields are in `rewritten`. `decode`
    /// makes the event, once the state machine is done with `self`.
    EmitRewritten {
        version: Version,
        status: u16,
        framing: Framing,
    },
    Continue,
}

/// A complete head, parsed, with its framing decided.
struct Parsed<'a> {
    /// Bytes of input it takes, blank line included.
    len: usize,
    version: Version,
    status: u16,
    verdict: Verdict,
    /// The reason phrase and the header block, where they lie in the input;
    /// `None` when they are to be read from `rewritten`.
    text: Option<(&'a [u8], &'a [u8])>,
}

impl ResponseDecoder {
    /// An idle decoder; call `start` before each response.
    pub fn new(limits: Limits) -> Self {
        ResponseDecoder {
            limits,
            state: State::Idle,
            request_was_head: false,
            begun: false,
            keep_alive: false,
            body_len: 0,
            rewritten: Vec::new(),
        }
    }

    /// Gets ready to read the response to a request with this method (HEAD ⇒
    /// no body). Whatever the decoder was doing before is forgotten.
    pub fn start(&mut self, method: &str) {
        *self = ResponseDecoder {
            state: State::Head { scanned: 0 },
            request_was_head: method == "HEAD",
            ..ResponseDecoder::new(self.limits)
        };
    }

    /// Decodes the next event from the front of `input`, returning how many
    /// bytes it consumed along with the event.
    ///
    /// After `NeedMore`, call again with the unconsumed bytes followed by more
    /// input; `NeedMore` may come with consumed bytes (framing that was
    /// understood). After `End`, bytes left over belong to whatever comes next
    /// and the decoder is idle until the next `start`. After an error, the
    /// connection must be closed.
    ///
    /// The event borrows `input`, and the decoder too: a head that had to be
    /// rewritten is read from the decoder's copy (see the module docs).
    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> Result<(usize, Event<'a>), Error> {
        if self.state == State::Idle {
            return Err(Error::Idle);
        }
        self.begun |= !input.is_empty();
        let mut consumed = 0;
        loop {
            let (used, step) = self.step(&input[consumed..])?;
            consumed += used;
            match step {
                Step::Emit(event) => return Ok((consumed, event)),
                Step::EmitRewritten { version, status, framing } => {
                    let (reason, fields) = split_head(&self.rewritten);
                    let head = Head { version, status, reason, headers: Headers::new(fields), framing };
                    return Ok((consumed, Event::Head(head)));
                }
                Step::Continue => {}
            }
        }
    }

    /// The peer closed its side (a read returned 0). Ends a close-delimited
    /// body with `End`; anything still incomplete is `Error::Truncated`.
    /// With no response in progress there is nothing to end, and the answer
    /// is a harmless `End { keep_alive: false }`.
    pub fn finish(&mut self) -> Result<Event<'static>, Error> {
        let during = match self.state {
            State::Idle | State::UntilClose | State::Done => {
                self.state = State::Idle;
                return Ok(Event::End { keep_alive: false });
            }
            State::Head { .. } => "the response head",
            State::Length { .. } => "a Content-Length body",
            State::ChunkSize(_) | State::ChunkData { .. } | State::ChunkDataEnd { .. } => "a chunked body",
            State::Trailers { .. } => "the chunked trailer section",
        };
        Err(Error::Truncated { during })
    }

    /// True once any byte of the response (even of an interim 1xx, even of a
    /// head not yet complete) has been offered to `decode` since `start`. A
    /// request that failed before this is safe to retry on a new connection.
    pub fn has_begun(&self) -> bool {
        self.begun
    }

    /// One step of the state machine.
    fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Step<'a>), Error> {
        match self.state {
            State::Idle => Err(Error::Idle),
            State::Head { scanned } => self.read_head(input, scanned),
            State::Length { remaining } => self.read_length(input, remaining),
            State::ChunkSize(line) => self.read_chunk_size(input, line),
            State::ChunkData { remaining } => self.read_chunk_data(input, remaining),
            State::ChunkDataEnd { seen_cr } => self.read_chunk_data_end(input, seen_cr),
            State::Trailers { line_empty, seen } => self.read_trailers(input, line_empty, seen),
            State::UntilClose => self.read_until_close(input),
            State::Done => {
                self.state = State::Idle;
                self.rewritten = Vec::new();
                let keep_alive = self.keep_alive;
                Ok((0, Step::Emit(Event::End { keep_alive })))
            }
        }
    }

    fn read_head<'a>(&mut self, input: &'a [u8], scanned: usize) -> Result<(usize, Step<'a>), Error> {
        // The head may not be longer than max_head, so only that much is searched:
        // memory stays bounded even if the blank line never comes.
        let max_head = self.limits.max_head;
        let window = &input[..input.len().min(max_head)];
        // Fast path: the whole head is usually here on the first offer. Anything
        // else (partial, a head to rewrite, or an error to be reported precisely)
        // takes the slow path.
        // So do leading empty lines, which httparse skips but the blank-line search
        // counts as the end of the head: both paths must agree on every split.
        let plain_start = !matches!(window.first(), Some(b'\r' | b'\n'));
        let fast = if scanned == 0 && plain_start { self.parse_in_place(window).ok().flatten() } else { None };
        let parsed = match fast {
            Some(parsed) => parsed,
            None => {
                let Some(head_len) = find_head_end(window, scanned.min(window.len())) else {
                    // The prefix first: the verdict on a head both malformed and too
                    // long must not depend on how much of it the first read brought.
                    if scanned < PREFIX_CHECK {
                        check_prefix(window)?;
                    }
                    if input.len() > max_head {
                        return Err(Error::HeadTooLarge { limit: max_head });
                    }
                    self.state = State::Head { scanned: window.len() };
                    return Ok((0, Step::Emit(Event::NeedMore)));
                };
                // The blank line was found, so only a "head" made of nothing but
                // empty lines can leave httparse wanting more.
                self.parse_head(&input[..head_len])?.ok_or(Error::MalformedHead(httparse::Error::NewLine))?
            }
        };
        let Parsed { len, version, status, verdict, text } = parsed;
        if (100..200).contains(&status) {
            // RFC 9110 §15.2: a client must accept any number of interim responses
            // before the final one, even ones it did not ask for. They are skipped.
            self.state = State::Head { scanned: 0 };
            return Ok((len, Step::Continue));
        }
        self.keep_alive = verdict.keep_alive;
        let framing = verdict.framing;
        self.state = match framing {
            Framing::NoBody | Framing::Length(0) => State::Done,
            Framing::Length(remaining) => State::Length { remaining },
            Framing::Chunked => State::ChunkSize(SizeLine::new()),
            Framing::UntilClose => State::UntilClose,
        };
        let step = match text {
            Some((reason, fields)) => {
                Step::Emit(Event::Head(Head { version, status, reason, headers: Headers::new(fields), framing }))
            }
            None => Step::EmitRewritten { version, status, framing },
        };
        Ok((len, step))
    }

    /// Parses the complete head that `input` is, rewriting it first if it cannot
    /// be read where it lies; `None` only if it is nothing but empty lines.
    fn parse_head<'a>(&mut self, input: &'a [u8]) -> Result<Option<Parsed<'a>>, Error> {
        match self.parse_in_place(input) {
            // httparse refuses folds and newer minor versions, which a client must read.
            Err(Error::MalformedHead(_)) => self.parse_rewritten(input),
            parsed => parsed,
        }
    }

    /// Parses the head at the front of `input` where it lies, with httparse at its
    /// strictest, and decides its framing; `None` if the head is not complete.
    fn parse_in_place<'a>(&self, input: &'a [u8]) -> Result<Option<Parsed<'a>>, Error> {
        let mut slots = [const { MaybeUninit::uninit() }; HEADER_SLOTS];
        let max_headers = self.limits.max_headers.min(HEADER_SLOTS);
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut response, input, &mut slots[..max_headers])
            .map_err(|error| head_error(error, max_headers))?;
        let httparse::Status::Complete(len) = parsed else { return Ok(None) };
        let (version, status, verdict) = judge(&response, self.request_was_head)?;
        let text = Some(split_head(&input[..len]));
        Ok(Some(Parsed { len, version, status, verdict, text }))
    }

    /// Copies the complete head that `input` is into `rewritten` and makes it
    /// readable: a newer minor version becomes `HTTP/1.1`, then httparse, allowing
    /// obsolete line folding this time, judges it, and the folds become spaces.
    /// What is left is an ordinary head, parsed again to decide its framing from
    /// the unfolded values, under the usual strict rules.
    fn parse_rewritten<'a>(&mut self, input: &[u8]) -> Result<Option<Parsed<'a>>, Error> {
        let max_headers = self.limits.max_headers.min(HEADER_SLOTS);
        let head = &mut self.rewritten;
        head.clear();
        head.extend_from_slice(input);
        if let Some(minor) = newer_minor_version(head) {
            head[minor] = b'1';
        }
        let mut slots = [const { MaybeUninit::uninit() }; HEADER_SLOTS];
        let mut response = httparse::Response::new(&mut []);
        let parsed = obs_fold_allowed()
            .parse_response_with_uninit_headers(&mut response, head, &mut slots[..max_headers])
            .map_err(|error| head_error(error, max_headers))?;
        let httparse::Status::Complete(len) = parsed else { return Ok(None) };
        head.truncate(len);
        let folded = unfold(head);

        let mut slots = [const { MaybeUninit::uninit() }; HEADER_SLOTS];
        let mut response = httparse::Response::new(&mut []);
        let reparsed = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut response, head, &mut slots[..max_headers])
            .map_err(|error| head_error(error, max_headers))?;
        // Unfolding keeps the length and leaves nothing httparse could refuse; were
        // that ever wrong, refusing the head would be the only safe answer.
        debug_assert_eq!(reparsed, httparse::Status::Complete(len));
        if reparsed != httparse::Status::Complete(len) {
            return Err(Error::MalformedHead(httparse::Error::HeaderValue));
        }
        let (version, status, mut verdict) = judge(&response, self.request_was_head)?;
        // Not every reader of a folded head finds the same fields in it, and framing
        // must never depend on which one is right: the connection is not reused.
        verdict.keep_alive &= !folded;
        Ok(Some(Parsed { len, version, status, verdict, text: None }))
    }

    fn read_length<'a>(&mut self, input: &'a [u8], remaining: u64) -> Result<(usize, Step<'a>), Error> {
        // The whole announced length is checked up front, so an oversized body
        // fails before any of it is delivered.
        self.check_body_limit(remaining)?;
        if input.is_empty() {
            return Ok((0, Step::Emit(Event::NeedMore)));
        }
        let data = take(input, remaining);
        let remaining = remaining - data.len() as u64;
        self.state = if remaining == 0 { State::Done } else { State::Length { remaining } };
        Ok(self.deliver(data))
    }

    fn read_chunk_size<'a>(&mut self, input: &'a [u8], mut line: SizeLine) -> Result<(usize, Step<'a>), Error> {
        for (i, &byte) in input.iter().enumerate() {
            line.len += 1;
            if line.len > MAX_CHUNK_LINE {
                return Err(Error::ChunkLineTooLong { limit: MAX_CHUNK_LINE });
            }
            if line.push(byte)? {
                self.state = self.after_chunk_size(line.size)?;
                return Ok((i + 1, Step::Continue));
            }
        }
        self.state = State::ChunkSize(line);
        Ok((input.len(), Step::Emit(Event::NeedMore)))
    }

    /// A complete chunk-size line: either data follows, or (size 0, the
    /// last-chunk) the trailer section does.
    fn after_chunk_size(&self, size: u64) -> Result<State, Error> {
        if size == 0 {
            return Ok(State::Trailers { line_empty: true, seen: 0 });
        }
        self.check_body_limit(size)?;
        Ok(State::ChunkData { remaining: size })
    }

    fn read_chunk_data<'a>(&mut self, input: &'a [u8], remaining: u64) -> Result<(usize, Step<'a>), Error> {
        if input.is_empty() {
            return Ok((0, Step::Emit(Event::NeedMore)));
        }
        let data = take(input, remaining);
        let remaining = remaining - data.len() as u64;
        self.state =
            if remaining == 0 { State::ChunkDataEnd { seen_cr: false } } else { State::ChunkData { remaining } };
        Ok(self.deliver(data))
    }

    /// The CRLF after chunk data. A bare LF is tolerated (RFC 9112 §2.2 allows
    /// recipients to accept LF as a line terminator); anything else means the
    /// chunk size lied, and the rest of the stream cannot be trusted.
    fn read_chunk_data_end<'a>(&mut self, input: &'a [u8], seen_cr: bool) -> Result<(usize, Step<'a>), Error> {
        let Some(&byte) = input.first() else {
            return Ok((0, Step::Emit(Event::NeedMore)));
        };
        self.state = match (seen_cr, byte) {
            (false, b'\r') => State::ChunkDataEnd { seen_cr: true },
            (_, b'\n') => State::ChunkSize(SizeLine::new()),
            (_, byte) => return Err(Error::MissingChunkCrlf { byte }),
        };
        Ok((1, Step::Continue))
    }

    /// Skips trailer fields (RFC 9112 §7.1.2) up to the empty line that ends the
    /// message. We have no use for them, so they are not parsed, only bounded.
    fn read_trailers<'a>(
        &mut self,
        input: &'a [u8],
        mut line_empty: bool,
        mut seen: usize,
    ) -> Result<(usize, Step<'a>), Error> {
        for (i, &byte) in input.iter().enumerate() {
            seen += 1;
            if seen > self.limits.max_head {
                return Err(Error::TrailersTooLarge { limit: self.limits.max_head });
            }
            match byte {
                b'\n' if line_empty => {
                    self.state = State::Done;
                    return Ok((i + 1, Step::Continue));
                }
                b'\n' => line_empty = true,
                b'\r' => {}
                _ => line_empty = false,
            }
        }
        self.state = State::Trailers { line_empty, seen };
        Ok((input.len(), Step::Emit(Event::NeedMore)))
    }

    fn read_until_close<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Step<'a>), Error> {
        if input.is_empty() {
            return Ok((0, Step::Emit(Event::NeedMore)));
        }
        // No length to check up front: deliver up to the limit, and fail on the first
        // byte beyond it, so the events are the same however the input was split.
        let room = self.limits.max_body.map_or(u64::MAX, |limit| limit - self.body_len);
        if room == 0 {
            self.check_body_limit(1)?;
        }
        Ok(self.deliver(take(input, room)))
    }

    /// Fails if `more` body bytes on top of those delivered would break `max_body`.
    fn check_body_limit(&self, more: u64) -> Result<(), Error> {
        match self.limits.max_body {
            Some(limit) if self.body_len.saturating_add(more) > limit => Err(Error::BodyTooLarge { limit }),
            _ => Ok(()),
        }
    }

    /// Hands out body bytes (never empty), counting them.
    fn deliver<'a>(&mut self, data: &'a [u8]) -> (usize, Step<'a>) {
        debug_assert!(!data.is_empty());
        self.body_len += data.len() as u64;
        (data.len(), Step::Emit(Event::Body(data)))
    }
}

impl SizeLine {
    fn new() -> Self {
        SizeLine { size: 0, len: 0, part: LinePart::FirstDigit }
    }

    /// Takes one byte of the line; true once the line is complete. The line
    /// is `1*HEXDIG [BWS] *(";" chunk-ext) CRLF` (RFC 9112 §7.1.1); a bare LF
    /// is accepted as its end, and extensions are skipped, not parsed.
    fn push(&mut self, byte: u8) -> Result<bool, Error> {
        self.part = match (self.part, byte) {
            (LinePart::FirstDigit | LinePart::Digits, _) if byte.is_ascii_hexdigit() => {
                self.push_digit(byte)?;
                LinePart::Digits
            }
            (LinePart::Digits | LinePart::Whitespace, b' ' | b'\t') => LinePart::Whitespace,
            (LinePart::Digits | LinePart::Whitespace, b';') => LinePart::Extension,
            (LinePart::Digits | LinePart::Whitespace | LinePart::Extension, b'\r') => LinePart::LineFeed,
            (_, b'\n') if self.part != LinePart::FirstDigit => return Ok(true),
            (LinePart::Extension, _) => LinePart::Extension,
            (_, byte) => return Err(Error::BadChunkSize { byte }),
        };
        Ok(false)
    }

    fn push_digit(&mut self, hex_digit: u8) -> Result<(), Error> {
        let value = (hex_digit as char).to_digit(16).unwrap_or_default();
        self.size = self
            .size
            .checked_mul(16)
            .and_then(|size| size.checked_add(u64::from(value)))
            .ok_or(Error::ChunkSizeOverflow)?;
        Ok(())
    }
}

/// At most `limit` bytes from the front of `input`.
fn take(input: &[u8], limit: u64) -> &[u8] {
    let n = usize::try_from(limit).map_or(input.len(), |limit| limit.min(input.len()));
    &input[..n]
}

/// Looks for the blank line that ends a head and returns the head's length
/// (blank line included). The search resumes at `from`: earlier bytes were
/// searched by previous calls and hold no blank line. Bytes before `from` are
/// still looked at, to recognise a blank line whose LF is the first new byte.
///
/// A blank line is an LF that ends an empty line: it directly follows the
/// previous line's LF, optionally with a CR in between (RFC 9112 §2.2 lets us
/// accept bare LF line endings). One empty line *before* the status line is
/// therefore tolerated (as httparse does), but two look like an empty head.
/// Reads the version and status of a parsed head and decides its framing.
/// Interim heads come back with `NoBody` and their fields unread.
fn judge(response: &httparse::Response<'_, '_>, request_was_head: bool) -> Result<(Version, u16, Verdict), Error> {
    let version = match response.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let status = response.code.unwrap_or_default();
    let verdict = match status {
        101 => return Err(Error::SwitchingProtocols),
        // Three digits, but not a status code class RFC 9110 §15 knows.
        0..=99 => return Err(Error::MalformedHead(httparse::Error::Status)),
        100..=199 => Verdict { framing: Framing::NoBody, keep_alive: false },
        _ => framing::decide(request_was_head, version, status, response.headers)?,
    };
    Ok((version, status, verdict))
}

fn head_error(error: httparse::Error, max_headers: usize) -> Error {
    match error {
        httparse::Error::TooManyHeaders => Error::TooManyHeaders { limit: max_headers },
        error => Error::MalformedHead(error),
    }
}

/// httparse as it reads a head that it refused at its strictest: obsolete line
/// folding is accepted (and undone by [`unfold`] before anyone reads the fields).
/// Everything else stays strict: no whitespace before the first field line or
/// between a field name and its colon, no bare CR.
fn obs_fold_allowed() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config.allow_obsolete_multiline_headers_in_responses(true);
    config
}

/// Where the minor version digit of an `HTTP/1.x` status line with x from 2 to 9
/// is, to be read as `HTTP/1.1` (RFC 9112 §2.3); httparse knows only 1.0 and 1.1.
/// The status line starts after any empty lines, which httparse skips (and
/// refuses if malformed, before it reaches the version). Anything else, such as
/// `HTTP/1.10`, `HTTP/2.0` or `http/1.1`, is left for httparse to refuse.
fn newer_minor_version(head: &[u8]) -> Option<usize> {
    let start = head.iter().position(|&byte| byte != b'\r' && byte != b'\n')?;
    let version = head[start..].get(..b"HTTP/1.x".len())?;
    (version.starts_with(b"HTTP/1.") && matches!(version[7], b'2'..=b'9')).then_some(start + 7)
}

/// How much of an incomplete head is checked early by [`check_prefix`].
const PREFIX_CHECK: usize = 32;

/// Fails an incomplete head whose first bytes already show it is not HTTP/1.x (an
/// HTTP/0.9-style bare body, another protocol), instead of waiting for a blank line
/// that may never come. httparse reports a syntax error as soon as it sees it, so
/// asking it about a prefix gives the verdict the complete head would get, whatever
/// the split. Only the first `PREFIX_CHECK` bytes are checked, once each, so a slow
/// drip still costs linear time. They are checked as `parse_rewritten` would check
/// them, since that is what decides a head httparse refuses at its strictest.
fn check_prefix(input: &[u8]) -> Result<(), Error> {
    let mut prefix = [0; PREFIX_CHECK];
    let prefix = &mut prefix[..input.len().min(PREFIX_CHECK)];
    prefix.copy_from_slice(&input[..prefix.len()]);
    if let Some(minor) = newer_minor_version(prefix) {
        prefix[minor] = b'1';
    }
    let mut slots = [const { MaybeUninit::uninit() }; PREFIX_CHECK / 4];
    let mut response = httparse::Response::new(&mut []);
    match obs_fold_allowed().parse_response_with_uninit_headers(&mut response, prefix, &mut slots) {
        Ok(_) | Err(httparse::Error::TooManyHeaders) => Ok(()),
        Err(error) => Err(Error::MalformedHead(error)),
    }
}

fn find_head_end(input: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(offset) = input[at..].iter().position(|&byte| byte == b'\n') {
        let lf = at + offset;
        let before = &input[..lf];
        if before.ends_with(b"\n") || before.ends_with(b"\n\r") {
            return Some(lf + 1);
        }
        at = lf + 1;
    }
    None
}

/// Splits a complete, httparse-validated head into the reason phrase and the
/// header block. httparse skips an empty line before the status line, and so
/// do we; the status line itself is `HTTP/1.x SP 3DIGIT [SP reason]`.
fn split_head(head: &[u8]) -> (&[u8], &[u8]) {
    let start = head.iter().position(|&byte| byte != b'\r' && byte != b'\n');
    let head = &head[start.unwrap_or(head.len())..];
    let status_end = head.iter().position(|&byte| byte == b'\n').unwrap_or(head.len());
    let status_line = &head[..status_end];
    let status_line = status_line.strip_suffix(b"\r").unwrap_or(status_line);
    let reason = status_line.get(b"HTTP/1.1 200 ".len()..).unwrap_or_default();
    // The block runs from after the status line to before the blank line.
    let blank_line = if head.ends_with(b"\r\n") { 2 } else { 1 };
    let fields = head.get(status_end + 1..head.len() - blank_line).unwrap_or_default();
    (reason, fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::Snippet;

    /// What a caller saw while decoding one response, in owned form so that
    /// different ways of splitting the same bytes can be compared.
    #[derive(Debug, Default, PartialEq)]
    struct Seen {
        head: Option<SeenHead>,
        body: Vec<u8>,
        end: Option<bool>,
        error: Option<Error>,
        /// Bytes the decoder left alone after `End`.
        leftover: Vec<u8>,
    }

    #[derive(Debug, PartialEq)]
    struct SeenHead {
        version: Version,
        status: u16,
        reason: Vec<u8>,
        fields: Vec<u8>,
        framing: Framing,
    }

    impl Seen {
        fn record(&mut self, event: Event<'_>) {
            match event {
                Event::NeedMore => {}
                Event::Head(head) => {
                    assert!(self.head.is_none(), "a second head");
                    self.head = Some(SeenHead {
                        version: head.version,
                        status: head.status,
                        reason: head.reason.to_vec(),
                        fields: head.headers.as_bytes().to_vec(),
                        framing: head.framing,
                    });
                }
                Event::Body(data) => {
                    assert!(self.head.is_some(), "body before head");
                    assert!(!data.is_empty(), "empty body event");
                    self.body.extend_from_slice(data);
                }
                Event::End { keep_alive } => self.end = Some(keep_alive),
            }
        }

        fn keep_alive(&self) -> bool {
            self.end.expect("response did not end")
        }

        fn header(&self, name: &str) -> Option<Vec<u8>> {
            let fields = &self.head.as_ref().expect("no head").fields;
            Headers::new(fields).get(name).map(<[u8]>::to_vec)
        }
    }

    /// Plays the caller: each piece is one read, appended to the unconsumed
    /// bytes; decode until `NeedMore`; after the last piece, `finish()` if `eof`.
    fn feed(method: &str, limits: Limits, pieces: &[&[u8]], eof: bool) -> Seen {
        let mut decoder = ResponseDecoder::new(limits);
        decoder.start(method);
        let mut seen = Seen::default();
        let mut unconsumed = Vec::new();
        for (read, piece) in pieces.iter().enumerate() {
            unconsumed.extend_from_slice(piece);
            loop {
                let (used, event) = match decoder.decode(&unconsumed) {
                    Ok(step) => step,
                    Err(error) => {
                        seen.error = Some(error);
                        return seen;
                    }
                };
                let need_more = matches!(event, Event::NeedMore);
                seen.record(event);
                unconsumed.drain(..used);
                if seen.end.is_some() {
                    seen.leftover = unconsumed;
                    pieces[read + 1..].iter().for_each(|rest| seen.leftover.extend_from_slice(rest));
                    return seen;
                }
                if need_more {
                    break;
                }
            }
        }
        if eof {
            match decoder.finish() {
                Ok(event) => seen.record(event),
                Err(error) => seen.error = Some(error),
            }
        }
        seen
    }

    /// Decodes `input` in one piece, byte by byte, and split in two at every
    /// point; all must agree. Ends with EOF.
    fn check_with(method: &str, limits: Limits, input: &[u8]) -> Seen {
        let whole = feed(method, limits, &[input], true);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(feed(method, limits, &bytes, true), whole, "byte by byte");
        for split in 0..=input.len() {
            let (first, second) = input.split_at(split);
            assert_eq!(feed(method, limits, &[first, second], true), whole, "split at {split}");
        }
        whole
    }

    fn check(input: &[u8]) -> Seen {
        check_with("GET", Limits::default(), input)
    }

    fn error_of(input: &[u8]) -> Error {
        check(input).error.expect("expected an error")
    }

    fn with_length(length: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\nhello").into_bytes()
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;name=value\r\nhello\r\n6 ; quoted=\"a;b\"\r\n world\r\n0;last\r\n\
        Expires: never\r\nX-Checksum: 1\r\n\r\n";

    // --- Framing ---

    #[test]
    fn content_length_body() {
        let seen = check(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\nhelloHTTP/1.1");
        let head = seen.head.as_ref().unwrap();
        assert_eq!((head.version, head.status, head.framing), (Version::Http11, 200, Framing::Length(5)));
        assert_eq!(head.reason, b"OK");
        assert_eq!(head.fields, b"Content-Length: 5\r\nServer: t\r\n");
        assert_eq!(seen.body, b"hello");
        assert!(seen.keep_alive());
        assert_eq!(seen.leftover, b"HTTP/1.1", "the next response is left alone");
    }

    #[test]
    fn zero_length_body() {
        let seen = check(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(seen.head.as_ref().unwrap().framing, Framing::Length(0));
        assert_eq!((seen.body.as_slice(), seen.end), (&b""[..], Some(true)));
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let seen = check(CHUNKED);
        assert_eq!(seen.head.as_ref().unwrap().framing, Framing::Chunked);
        assert_eq!(seen.body, b"hello world");
        assert!(seen.keep_alive());
        assert_eq!(seen.leftover, b"");
    }

    #[test]
    fn chunk_sizes_in_either_hex_case() {
        let data = b"0123456789abcdefghijklmnopqrstu";
        let mut input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for size in ["A", "a", "1F", "1f", "0000b"] {
            let len = usize::from_str_radix(size, 16).unwrap();
            input.extend_from_slice(format!("{size}\r\n").as_bytes());
            input.extend_from_slice(&data[..len]);
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"0\r\n\r\n");
        let seen = check(&input);
        assert_eq!(seen.body.len(), 10 + 10 + 31 + 31 + 11);
        assert!(seen.keep_alive());
    }

    #[test]
    fn chunked_tolerates_bare_line_feeds() {
        let seen = check(b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n");
        assert_eq!(seen.body, b"hello");
        assert!(seen.keep_alive());
    }

    #[test]
    fn close_delimited_bodies_end_at_eof() {
        for version in ["1.0", "1.1"] {
            let input = format!("HTTP/{version} 200 OK\r\nServer: t\r\n\r\nall of it");
            let seen = check(input.as_bytes());
            assert_eq!(seen.head.as_ref().unwrap().framing, Framing::UntilClose);
            assert_eq!(seen.body, b"all of it");
            assert_eq!(seen.end, Some(false), "HTTP/{version}");
        }
    }

    #[test]
    fn head_response_has_no_body_despite_content_length() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 204";
        let seen = check_with("HEAD", Limits::default(), input);
        assert_eq!(seen.head.as_ref().unwrap().framing, Framing::NoBody);
        assert_eq!(seen.header("content-length"), Some(b"100".to_vec()));
        assert_eq!((seen.body.len(), seen.end), (0, Some(true)));
        assert_eq!(seen.leftover, b"HTTP/1.1 204");
    }

    #[test]
    fn no_content_and_not_modified_have_no_body() {
        for (input, reusable) in [
            (&b"HTTP/1.1 204 No Content\r\n\r\n"[..], true),
            (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", true),
            // The fields are not even validated where they cannot apply, but having
            // both still closes the connection (RFC 9112 §6.1).
            (b"HTTP/1.1 304 Not Modified\r\nContent-Length: nope\r\nTransfer-Encoding: br\r\n\r\n", false),
        ] {
            let seen = check(input);
            assert_eq!(seen.head.as_ref().unwrap().framing, Framing::NoBody);
            assert_eq!(seen.end, Some(reusable));
        }
    }

    #[test]
    fn interim_responses_are_skipped() {
        let seen = check(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(seen.head.as_ref().unwrap().status, 200);
        assert_eq!(seen.body, b"ok");

        let seen = check(
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
              HTTP/1.1 102 Processing\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
        assert_eq!(seen.head.as_ref().unwrap().status, 200);
        assert_eq!(seen.header("link"), None, "interim fields are not reported");
        assert!(seen.keep_alive());
    }

    #[test]
    fn switching_protocols_is_refused() {
        let input = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(error_of(input), Error::SwitchingProtocols);
    }

    #[test]
    fn keep_alive_matrix() {
        let cases: [(&str, bool); 10] = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Upgrade\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.0 200 OK\r\nConnection: Keep-Alive, Upgrade\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", false),
            ("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n", true),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", false),
        ];
        for (input, keep_alive) in cases {
            assert_eq!(check(input.as_bytes()).keep_alive(), keep_alive, "{input:?}");
        }
    }

    #[test]
    fn transfer_encoding_beats_content_length_but_closes() {
        let input =
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let seen = check(input);
        assert_eq!(seen.head.as_ref().unwrap().framing, Framing::Chunked);
        assert_eq!(seen.body, b"hello");
        assert_eq!(seen.end, Some(false));
    }

    #[test]
    fn transfer_encoding_in_http_1_0_closes() {
        let input = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(check(input).end, Some(false));
    }

    #[test]
    fn content_length_values_must_agree() {
        let repeated = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(check(repeated).body, b"hello");
        assert_eq!(check(&with_length("5, 5")).body, b"hello");
        assert_eq!(check(&with_length("5,5 ,5")).body, b"hello");

        let different = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello";
        let conflict = Error::ConflictingContentLength { first: 5, second: 6 };
        assert_eq!(error_of(different), conflict);
        assert_eq!(error_of(&with_length("5, 6")), conflict);
    }

    #[test]
    fn content_length_must_be_plain_digits() {
        for bad in ["+5", "-1", "0x5", "5 5", "", "5,", "five", "\u{0665}"] {
            let error = error_of(&with_length(bad));
            assert!(matches!(error, Error::InvalidContentLength(_)), "{bad:?}: {error}");
        }
        let error = error_of(&with_length("18446744073709551616"));
        assert!(matches!(error, Error::ContentLengthOverflow(_)), "{error}");
        assert!(matches!(error_of(&with_length(&"9".repeat(30))), Error::ContentLengthOverflow(_)));
    }

    #[test]
    fn the_largest_content_length_is_accepted() {
        let input = with_length("18446744073709551615");
        let seen = feed("GET", Limits::default(), &[&input], false);
        assert_eq!(seen.head.unwrap().framing, Framing::Length(u64::MAX));
        assert_eq!((seen.body.as_slice(), seen.error), (&b"hello"[..], None));
    }

    #[test]
    fn transfer_codings_are_checked() {
        let with_te = |te: &str| format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n").into_bytes();
        assert_eq!(check(&with_te("gzip, chunked")).head.unwrap().framing, Framing::Chunked);
        assert_eq!(check(&with_te("Chunked")).head.unwrap().framing, Framing::Chunked);
        assert!(matches!(error_of(&with_te("br")), Error::UnknownTransferCoding(_)));
        assert!(matches!(error_of(&with_te("chunked, identity")), Error::UnknownTransferCoding(_)));
        assert_eq!(error_of(&with_te("chunked, gzip")), Error::ChunkedNotLast);
        assert_eq!(error_of(&with_te("chunked, chunked")), Error::ChunkedTwice);

        let split = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(check(split).head.unwrap().framing, Framing::Chunked);

        // A final coding other than chunked: read until close (RFC 9112 §6.3 rule 3).
        let seen = check(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b");
        assert_eq!(seen.head.as_ref().unwrap().framing, Framing::UntilClose);
        assert_eq!((seen.body.as_slice(), seen.end), (&b"\x1f\x8b"[..], Some(false)));
    }

    // --- Malformed chunked bodies ---

    fn chunked(body: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn bad_chunk_sizes() {
        assert_eq!(error_of(&chunked("zz\r\n")), Error::BadChunkSize { byte: b'z' });
        assert_eq!(error_of(&chunked("\r\n")), Error::BadChunkSize { byte: b'\r' });
        assert_eq!(error_of(&chunked(";ext\r\n")), Error::BadChunkSize { byte: b';' });
        assert_eq!(error_of(&chunked("-1\r\n")), Error::BadChunkSize { byte: b'-' });
        assert_eq!(error_of(&chunked("5\rX")), Error::BadChunkSize { byte: b'X' });
        assert_eq!(error_of(&chunked("5x\r\n")), Error::BadChunkSize { byte: b'x' });
        assert_eq!(error_of(&chunked("5 5\r\n")), Error::BadChunkSize { byte: b'5' });
        assert_eq!(error_of(&chunked("\n")), Error::BadChunkSize { byte: b'\n' });
        // Whitespace before the extensions or the line end is allowed (BWS).
        assert_eq!(check(&chunked("3 \t;a=b\r\nabc\r\n0 \r\n\r\n")).body, b"abc");
    }

    #[test]
    fn chunk_size_overflow() {
        let seen = feed("GET", Limits::default(), &[&chunked("FFFFFFFFFFFFFFFF\r\nabc")], false);
        assert_eq!((seen.body.as_slice(), seen.error), (&b"abc"[..], None));
        assert_eq!(error_of(&chunked("10000000000000000\r\n")), Error::ChunkSizeOverflow);
        // Leading zeros are just zeros.
        assert_eq!(check(&chunked("000000000000000000003\r\nabc\r\n0\r\n\r\n")).body, b"abc");
    }

    #[test]
    fn chunk_data_must_end_with_crlf() {
        assert_eq!(error_of(&chunked("5\r\nhelloX")), Error::MissingChunkCrlf { byte: b'X' });
        assert_eq!(error_of(&chunked("5\r\nhello\rX")), Error::MissingChunkCrlf { byte: b'X' });
        assert_eq!(error_of(&chunked("5\r\nhello\r\r\n")), Error::MissingChunkCrlf { byte: b'\r' });
        assert_eq!(error_of(&chunked("3\r\nhello\r\n")), Error::MissingChunkCrlf { byte: b'l' });
    }

    #[test]
    fn chunk_lines_are_bounded() {
        let long_extension = format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(MAX_CHUNK_LINE));
        let seen = feed("GET", Limits::default(), &[&chunked(&long_extension)], true);
        assert_eq!(seen.error, Some(Error::ChunkLineTooLong { limit: MAX_CHUNK_LINE }));
        let just_fits = format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(MAX_CHUNK_LINE - 4));
        assert_eq!(feed("GET", Limits::default(), &[&chunked(&just_fits)], true).body, b"hello");
    }

    #[test]
    fn trailers_are_bounded_by_max_head() {
        let limits = Limits { max_head: 100, ..Limits::default() };
        let small = chunked("0\r\nA: b\r\n\r\n");
        assert_eq!(check_with("GET", limits, &small).end, Some(true));
        let large = chunked(&format!("0\r\nA: {}\r\n\r\n", "b".repeat(100)));
        let seen = check_with("GET", limits, &large);
        assert_eq!(seen.error, Some(Error::TrailersTooLarge { limit: 100 }));
    }

    // --- Obsolete line folding (RFC 9112 §5.2) and newer minor versions (§2.3) ---

    fn folded(fields: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\n{fields}\r\n{body}").into_bytes()
    }

    #[test]
    fn obsolete_line_folds_are_replaced_by_spaces() {
        let seen = check(&folded("X-Folded: a\r\n b\r\nContent-Length: 5\r\n", "hello"));
        let head = seen.head.as_ref().unwrap();
        assert_eq!((head.version, head.status, head.framing), (Version::Http11, 200, Framing::Length(5)));
        assert_eq!(head.fields, b"X-Folded: a   b\r\nContent-Length: 5\r\n", "each fold byte is now a space");
        assert_eq!(seen.header("x-folded"), Some(b"a   b".to_vec()));
        assert_eq!(seen.body, b"hello");
        // Other parsers may read a folded head differently, so it is never followed on
        // the same connection.
        assert_eq!(seen.end, Some(false));

        // The whole fold (OWS CRLF RWS) becomes spaces, tabs included; bare LF folds
        // too; several continuation lines; folds right after the colon or at the end.
        let cases: [(&str, &[u8], usize); 6] = [
            ("X: a \t\r\n\t b\r\n  c\r\n", b"a      b    c", 1),
            ("X: a\n\tb\n", b"a  b", 1),
            ("X:\r\n b\r\n", b"b", 1),
            ("X: b\r\n \r\n", b"b", 1),
            ("X: \r\n \r\n\t\r\n", b"", 1),
            ("X: a\r\n Content-Length: 99\r\nContent-Length: 0\r\n", b"a   Content-Length: 99", 2),
        ];
        for (fields, value, count) in cases {
            let seen = check(&folded(fields, ""));
            assert_eq!(seen.header("x").as_deref(), Some(value), "{fields:?}");
            let head = seen.head.as_ref().unwrap();
            assert!(!head.fields.windows(2).any(|w| w[0] == b'\n' && b" \t".contains(&w[1])), "{fields:?}");
            assert_eq!(Headers::new(&head.fields).iter().count(), count, "{fields:?}");
        }
        // A line that looks like a framing field inside a fold is part of the value.
        let seen = check(&folded("X: a\r\n Content-Length: 99\r\nContent-Length: 5\r\n", "hello"));
        assert_eq!(seen.head.as_ref().unwrap().framing, Framing::Length(5));
    }

    #[test]
    fn folded_framing_fields_are_read_after_unfolding_under_the_usual_rules() {
        let length = |value: &str| folded(&format!("Content-Length:{value}\r\n"), "hello");
        for value in ["\r\n 5", " 5,\r\n 5", " 5\r\n ", " 5\r\n\t\r\n "] {
            let seen = check(&length(value));
            assert_eq!(seen.head.as_ref().unwrap().framing, Framing::Length(5), "{value:?}");
            assert_eq!((seen.body.as_slice(), seen.end), (&b"hello"[..], Some(false)), "{value:?}");
        }
        assert_eq!(error_of(&length(" 5\r\n 6")), Error::InvalidContentLength(Snippet::new(b"5   6")));
        assert_eq!(error_of(&length(" 5,\r\n\t6")), Error::ConflictingContentLength { first: 5, second: 6 });

        let coded = |value: &str| folded(&format!("Transfer-Encoding:{value}\r\n"), "5\r\nhello\r\n0\r\n\r\n");
        let seen = check(&coded(" gzip,\r\n chunked"));
        assert_eq!(seen.head.as_ref().unwrap().framing, Framing::Chunked);
        assert_eq!((seen.body.as_slice(), seen.end), (&b"hello"[..], Some(false)));
        assert_eq!(error_of(&coded(" chunked\r\n\t, gzip")), Error::ChunkedNotLast);
        assert!(matches!(error_of(&coded(" chunked\r\n snappy")), Error::UnknownTransferCoding(_)));
    }

    #[test]
    fn folds_that_are_not_folds_are_still_refused() {
        let header_name = Error::MalformedHead(httparse::Error::HeaderName);
        let header_value = Error::MalformedHead(httparse::Error::HeaderValue);
        // Whitespace at the start of the first field line continues nothing (§2.2).
        assert_eq!(error_of(b"HTTP/1.1 200 OK\r\n folded\r\n\r\n"), header_name);
        assert_eq!(error_of(b"HTTP/1.1 200 OK\r\n\tX: y\r\nContent-Length: 0\r\n\r\n"), header_name);
        assert_eq!(error_of(b"HTTP/1.1 200\r\n OK\r\n\r\n"), header_name);
        // Whitespace between a field name and the colon (§5.1).
        assert_eq!(error_of(b"HTTP/1.1 200 OK\r\nX : y\r\n\r\n"), header_name);
        assert_eq!(error_of(b"HTTP/1.1 200 OK\r\nX: y\r\n Z : w\r\nA : b\r\n\r\n"), header_name);
        // A bare CR is not a line ending, folded or not.
        assert_eq!(error_of(b"HTTP/1.1 200 OK\r\nX: a\r b\r\n\r\n"), header_value);
        assert_eq!(error_of(b"HTTP/1.1 200 OK\r\nX: a\r\n b\r c\r\n\r\n"), header_value);
        // Folds inside an interim head are accepted and dropped with it; the final head
        // has none, so the connection stays usable.
        let seen = check(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>,\r\n </b>\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
        assert_eq!((seen.head.as_ref().unwrap().status, seen.body.as_slice()), (200, &b"ok"[..]));
        assert_eq!(seen.end, Some(true));
    }

    #[test]
    fn newer_minor_versions_are_read_as_http_1_1() {
        let seen = check(b"HTTP/1.2 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\nhelloHTTP/1.2");
        let head = seen.head.as_ref().unwrap();
        assert_eq!((head.version, head.status, head.framing), (Version::Http11, 200, Framing::Length(5)));
        assert_eq!(
            (head.reason.as_slice(), head.fields.as_slice()),
            (&b"OK"[..], &b"Content-Length: 5\r\nServer: t\r\n"[..])
        );
        assert_eq!((seen.body.as_slice(), seen.end), (&b"hello"[..], Some(true)), "HTTP/1.1 keep-alive rules");
        assert_eq!(seen.leftover, b"HTTP/1.2");

        let cases: [(&[u8], u16, bool); 6] = [
            (b"HTTP/1.9 204 No Content\r\n\r\n", 204, true),
            (b"HTTP/1.5 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 200, false),
            (b"HTTP/1.3 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200, true),
            (b"\r\nHTTP/1.2 404\r\nContent-Length: 0\r\n\r\n", 404, true),
            (b"HTTP/1.2 100 Continue\r\n\r\nHTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", 200, true),
            (b"HTTP/1.2 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", 200, false),
        ];
        for (input, status, keep_alive) in cases {
            let seen = check(input);
            let head = seen.head.as_ref().unwrap();
            assert_eq!((head.version, head.status), (Version::Http11, status), "{:?}", input.escape_ascii());
            assert_eq!(seen.end, Some(keep_alive), "{:?}", input.escape_ascii());
        }
        let seen = check(b"HTTP/1.2 200 OK\r\n\r\nall of it");
        assert_eq!((seen.head.as_ref().unwrap().framing, seen.end), (Framing::UntilClose, Some(false)));
        assert_eq!(check(b"HTTP/1.2 200 OK\r\nX: a\r\n b\r\n\r\n").header("x"), Some(b"a   b".to_vec()));
    }

    #[test]
    fn other_versions_are_still_refused() {
        for input in [
            &b"HTTP/2.0 200 OK\r\n\r\n"[..],
            b"HTTP/0.9 200 OK\r\n\r\n",
            b"HTTP/3 200 OK\r\n\r\n",
            b"HTTP/1.10 200 OK\r\n\r\n",
            b"HTTP/1.2x 200 OK\r\n\r\n",
            b"HTTP/1.a 200 OK\r\n\r\n",
            b"HTTP/1. 200 OK\r\n\r\n",
            b"HTTP/12 200 OK\r\n\r\n",
            b"http/1.1 200 OK\r\n\r\n",
            b"http/1.2 200 OK\r\n\r\n",
            b"HTTP/1.2\t200 OK\r\n\r\n",
            b"HTTP/1.2200 OK\r\n\r\n",
        ] {
            assert_eq!(error_of(input), Error::MalformedHead(httparse::Error::Version), "{:?}", input.escape_ascii());
        }
        assert_eq!(error_of(b"HTTP/1.2 20 OK\r\n\r\n"), Error::MalformedHead(httparse::Error::Status));
        assert_eq!(error_of(b"HTTP/1.2 101 Switching\r\n\r\n"), Error::SwitchingProtocols);
    }

    #[test]
    fn a_rewritten_head_is_as_bounded_as_any_other() {
        let limits = Limits { max_head: 64, ..Limits::default() };
        let at_limit = format!("HTTP/1.2 204 OK\r\nX-Padding: a\r\n {}\r\n\r\n", "p".repeat(28));
        assert_eq!(at_limit.len(), 64);
        let seen = check_with("GET", limits, at_limit.as_bytes());
        assert_eq!((seen.head.as_ref().unwrap().status, seen.end), (204, Some(false)));
        let over = format!("HTTP/1.2 204 OK\r\nX-Padding: a\r\n {}\r\n\r\n", "p".repeat(29));
        assert_eq!(check_with("GET", limits, over.as_bytes()).error, Some(Error::HeadTooLarge { limit: 64 }));
        let limits = Limits { max_headers: 2, ..Limits::default() };
        let three = b"HTTP/1.2 204 OK\r\nA: 1\r\n 2\r\nB: 3\r\nC: 4\r\n\r\n";
        assert_eq!(check_with("GET", limits, three).error, Some(Error::TooManyHeaders { limit: 2 }));
        let two = b"HTTP/1.2 204 OK\r\nA: 1\r\n 2\r\n 3\r\nB: 4\r\n\r\n";
        assert_eq!(check_with("GET", limits, two).end, Some(false));
    }

    // --- Malformed heads and limits ---

    #[test]
    fn malformed_heads() {
        assert_eq!(error_of(b"HTTP/2.0 200 OK\r\n\r\n"), Error::MalformedHead(httparse::Error::Version));
        assert_eq!(error_of(b"SSH-2.0-OpenSSH\r\n\r\n"), Error::MalformedHead(httparse::Error::Version));
        assert_eq!(error_of(b"HTTP/1.1 099 Odd\r\n\r\n"), Error::MalformedHead(httparse::Error::Status));
        assert_eq!(error_of(b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n"), Error::MalformedHead(httparse::Error::HeaderName));
        assert_eq!(error_of(b"\r\n\r\n"), Error::MalformedHead(httparse::Error::NewLine));
        let two_empty_lines_first = b"\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(error_of(two_empty_lines_first), Error::MalformedHead(httparse::Error::NewLine));
    }

    #[test]
    fn status_line_details() {
        let seen = check(b"\r\nHTTP/1.1 200 Fine \xe9t\xe9\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(seen.head.as_ref().unwrap().reason, b"Fine \xe9t\xe9", "raw bytes, obs-text kept");
        assert_eq!(seen.head.unwrap().fields, b"Content-Length: 0\r\n");
        let seen = check(b"HTTP/1.0 404\r\n\r\n");
        let head = seen.head.unwrap();
        assert_eq!((head.version, head.status, head.reason.len(), head.fields.len()), (Version::Http10, 404, 0, 0));
        // Bare LF line endings: the block still ends before the blank line.
        for input in [&b"HTTP/1.1 204 OK\nA: b\n\n"[..], b"HTTP/1.1 204 OK\r\nA: b\n\r\n"] {
            assert_eq!(check(input).head.unwrap().fields, b"A: b\n");
        }
    }

    #[test]
    fn head_over_the_limit() {
        let limits = Limits { max_head: 64, ..Limits::default() };
        let input = format!("HTTP/1.1 200 OK\r\nX-Padding: {}\r\n\r\n", "p".repeat(38));
        assert_eq!(input.len(), 70);
        let seen = check_with("GET", limits, input.as_bytes());
        assert_eq!(seen.error, Some(Error::HeadTooLarge { limit: 64 }));
        // Exactly at the limit is fine.
        let input = format!("HTTP/1.1 204 OK\r\nX-Padding: {}\r\n\r\n", "p".repeat(32));
        assert_eq!(check_with("GET", limits, input.as_bytes()).end, Some(true));
    }

    #[test]
    fn a_head_both_malformed_and_too_long_fails_the_same_however_it_arrives() {
        // Found by a long run of the property test: whole, this said HeadTooLarge;
        // with a first read shorter than max_head, MalformedHead.
        let limits = Limits { max_head: 64, ..Limits::default() };
        let mut input = b"HTTP/1.0 500Reason\r\nX: y\r\n".to_vec();
        input.resize(100, b'a');
        let seen = check_with("GET", limits, &input);
        assert_eq!(seen.error, Some(Error::MalformedHead(httparse::Error::Status)));
        // Nothing past max_head is judged, even by the early check.
        let limits = Limits { max_head: 16, ..Limits::default() };
        let seen = check_with("GET", limits, b"HTTP/1.1 200 OK\r\n folded");
        assert_eq!(seen.error, Some(Error::HeadTooLarge { limit: 16 }));
    }

    #[test]
    fn an_endless_header_line_fails_as_soon_as_it_exceeds_the_limit() {
        let limits = Limits { max_head: 1000, ..Limits::default() };
        let mut decoder = ResponseDecoder::new(limits);
        decoder.start("GET");
        let mut unconsumed = b"HTTP/1.1 200 OK\r\nX-Endless: ".to_vec();
        unconsumed.resize(1000, b'a');
        assert!(matches!(decoder.decode(&unconsumed), Ok((0, Event::NeedMore))));
        unconsumed.push(b'a');
        assert_eq!(decoder.decode(&unconsumed).unwrap_err(), Error::HeadTooLarge { limit: 1000 });
        // The decoder only ever looked at the first max_head bytes, however many arrive.
        let mut decoder = ResponseDecoder::new(limits);
        decoder.start("GET");
        unconsumed.resize(1_000_000, b'a');
        assert_eq!(decoder.decode(&unconsumed).unwrap_err(), Error::HeadTooLarge { limit: 1000 });
    }

    #[test]
    fn too_many_headers() {
        let head_with = |fields: usize| {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            (0..fields).for_each(|i| head.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes()));
            head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            head
        };
        let limits = Limits { max_headers: 3, ..Limits::default() };
        assert_eq!(feed("GET", limits, &[&head_with(2)], true).end, Some(true));
        assert_eq!(check_with("GET", limits, &head_with(3)).error, Some(Error::TooManyHeaders { limit: 3 }));
        // The limit is capped by the stack array handed to httparse.
        let limits = Limits { max_headers: 1000, ..Limits::default() };
        assert_eq!(feed("GET", limits, &[&head_with(127)], true).end, Some(true));
        let error = feed("GET", limits, &[&head_with(128)], true).error;
        assert_eq!(error, Some(Error::TooManyHeaders { limit: HEADER_SLOTS }));
    }

    #[test]
    fn body_limit_counts_decoded_bytes() {
        let limits = |max| Limits { max_body: Some(max), ..Limits::default() };
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
        assert_eq!(check_with("GET", limits(10), sized).body, b"0123456789");
        let seen = check_with("GET", limits(9), sized);
        assert_eq!((seen.head.is_some(), seen.body.len()), (true, 0), "head first, then nothing");
        assert_eq!(seen.error, Some(Error::BodyTooLarge { limit: 9 }));

        // Chunk framing does not count; the chunk that would cross the limit fails.
        let chunks = chunked("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
        assert_eq!(check_with("GET", limits(6), &chunks).body, b"abcdef");
        let seen = check_with("GET", limits(5), &chunks);
        assert_eq!((seen.body.as_slice(), seen.error), (&b"abc"[..], Some(Error::BodyTooLarge { limit: 5 })));

        // Close-delimited bodies are delivered up to the limit; the byte after fails.
        let until_close = b"HTTP/1.1 200 OK\r\n\r\n0123456789";
        assert_eq!(check_with("GET", limits(10), until_close).body, b"0123456789");
        let seen = feed("GET", limits(9), &[until_close], true);
        assert_eq!((seen.body.len(), seen.error), (9, Some(Error::BodyTooLarge { limit: 9 })));
        let bytes: Vec<&[u8]> = until_close.chunks(1).collect();
        let seen = feed("GET", limits(9), &bytes, true);
        assert_eq!((seen.body.len(), seen.error), (9, Some(Error::BodyTooLarge { limit: 9 })));
    }

    // --- Truncation and the caller contract ---

    #[test]
    fn truncation_anywhere_is_reported() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".as_slice();
        for response in [sized, CHUNKED] {
            for cut in 0..response.len() {
                let error = check(&response[..cut]).error;
                assert!(error.is_some_and(|error| error.is_truncated()), "cut at {cut}: {error:?}");
            }
            assert_eq!(check(response).error, None);
        }
        let during = |cut| match error_of(&CHUNKED[..cut]) {
            Error::Truncated { during } => during,
            other => panic!("{other}"),
        };
        assert_eq!(during(10), "the response head");
        assert_eq!(during(CHUNKED.len() - 45), "a chunked body");
        assert_eq!(during(CHUNKED.len() - 1), "the chunked trailer section");
    }

    #[test]
    fn has_begun_once_any_response_byte_arrives() {
        let mut decoder = ResponseDecoder::new(Limits::default());
        assert!(!decoder.has_begun());
        decoder.start("GET");
        assert!(matches!(decoder.decode(b""), Ok((0, Event::NeedMore))));
        assert!(!decoder.has_begun());
        assert!(decoder.finish().unwrap_err().is_truncated(), "closed before anything: retryable");

        decoder.start("GET");
        assert!(matches!(decoder.decode(b"H"), Ok((0, Event::NeedMore))));
        assert!(decoder.has_begun(), "a partial head counts");

        decoder.start("GET");
        assert!(!decoder.has_begun(), "start resets it");
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        assert!(matches!(decoder.decode(interim), Ok((25, Event::NeedMore))));
        assert!(decoder.has_begun(), "an interim response counts");
    }

    #[test]
    fn idle_decoder_refuses_bytes() {
        let mut decoder = ResponseDecoder::new(Limits::default());
        assert_eq!(decoder.decode(b"HTTP/1.1").unwrap_err(), Error::Idle);
        assert!(matches!(decoder.finish(), Ok(Event::End { keep_alive: false })));

        decoder.start("GET");
        let input = b"HTTP/1.1 204 No Content\r\n\r\nextra";
        assert!(matches!(decoder.decode(input), Ok((27, Event::Head(_)))));
        assert!(matches!(decoder.decode(b"extra"), Ok((0, Event::End { keep_alive: true }))));
        assert_eq!(decoder.decode(b"extra").unwrap_err(), Error::Idle);
    }

    #[test]
    fn pipelined_responses_decode_one_after_another() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb";
        let mut decoder = ResponseDecoder::new(Limits::default());
        let mut rest = &input[..];
        let mut bodies = Vec::new();
        for _ in 0..2 {
            decoder.start("GET");
            loop {
                let (used, event) = decoder.decode(rest).unwrap();
                assert!(!matches!(event, Event::NeedMore), "everything is there");
                if let Event::Body(data) = event {
                    bodies.extend_from_slice(data);
                }
                rest = &rest[used..];
                if let Event::End { keep_alive } = event {
                    assert!(keep_alive);
                    break;
                }
            }
        }
        assert_eq!((bodies.as_slice(), rest), (&b"ab"[..], &b""[..]));
    }

    #[test]
    fn slow_drip_of_a_large_head_is_scanned_once() {
        let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..62 {
            input.extend_from_slice(format!("X-Filler-{i:02}: {}\r\n", "f".repeat(1000)).as_bytes());
        }
        input.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
        assert!(input.len() > 60 * 1024);

        let mut decoder = ResponseDecoder::new(Limits::default());
        decoder.start("GET");
        let mut unconsumed = Vec::new();
        let mut seen = Seen::default();
        for &byte in &input {
            unconsumed.push(byte);
            loop {
                let (used, event) = decoder.decode(&unconsumed).unwrap();
                let need_more = matches!(event, Event::NeedMore);
                seen.record(event);
                // Every byte offered so far has been searched, so the next
                // call starts where this one stopped.
                if let (0, true, State::Head { scanned }) = (used, need_more, decoder.state) {
                    assert_eq!(scanned, unconsumed.len());
                }
                unconsumed.drain(..used);
                if need_more || seen.end.is_some() {
                    break;
                }
            }
        }
        assert_eq!(seen.head.as_ref().unwrap().fields.len(), input.len() - 17 - 2 - 2);
        assert_eq!(seen.header("x-filler-61").map(|value| value.len()), Some(1000));
        assert_eq!((seen.body.as_slice(), seen.end), (&b"ok"[..], Some(true)));
    }

    #[test]
    fn a_head_that_cannot_become_http_fails_before_the_peer_closes() {
        for junk in [
            &b"<html>hello"[..],
            b"SSH-2.0-OpenSSH_9.6",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1 200 OK\r\nA b",
            b"HTTP/2.0 200 OK",
            b"HTTP/1.2x",
            b"HTTP/1.1 200 OK\r\n folded",
        ] {
            let mut decoder = ResponseDecoder::new(Limits::default());
            decoder.start("GET");
            assert!(matches!(decoder.decode(junk), Err(Error::MalformedHead(_))), "{junk:?}");
        }
        for fine in [
            &b"\r"[..],
            b"\r\n",
            b"H",
            b"HTTP/1.1 2",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1",
            b"HTTP/1.2",
            b"HTTP/1.2 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n fold",
        ] {
            let mut decoder = ResponseDecoder::new(Limits::default());
            decoder.start("GET");
            assert!(matches!(decoder.decode(fine), Ok((0, Event::NeedMore))), "{fine:?}");
        }
    }

    #[test]
    fn find_head_end_resumes_without_missing_a_boundary() {
        let head = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
        for from in 0..head.len() {
            assert_eq!(find_head_end(head, from), Some(head.len()), "from {from}");
        }
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\n\n", 16), Some(17));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n", 0), None);
    }
}
