//! A sans-I/O HTTP/1.1 client codec: requests become bytes, bytes become
//! response events.
//!
//! # Why sans-I/O
//!
//! This module never touches a socket, a clock or the heap on its hot path. It
//! is told which bytes arrived and answers with what they mean. That keeps the
//! protocol logic deterministic and testable byte by byte, and leaves every
//! decision about buffers, readiness and timeouts to the event loop that owns
//! them. The design follows h11 (`_readers.py`, `_state.py`): bytes in, events
//! out, with an explicit state machine in between.
//!
//! # Theory of operation
//!
//! Writing is [`encode_request`], which validates a [`RequestHead`] and
//! appends the request to a buffer. A [`RequestTemplate`] does the same for
//! a run of requests that share a method, fields and body: it validates
//! those once, and each request then costs only its own target and host.
//!
//! Reading is a [`ResponseDecoder`] driven by the caller:
//!
//! ```text
//! start(method)
//!   │
//!   ▼
//! Head ──(1xx, skipped)──▶ Head
//!   │  final head: framing and keep-alive decided here, once
//!   ├─ NoBody ────────────────────────────────────────────────┐
//!   ├─ Length ───▶ Length … ──────────────────────────────────┤
//!   ├─ Chunked ──▶ ChunkSize ⇄ ChunkData ─▶ Trailers ─────────┤
//!   └─ UntilClose ─▶ UntilClose … finish() ──────────────────┤
//!                                                              ▼
//!                                        Done ─▶ End { keep_alive } ─▶ Idle
//! ```
//!
//! The caller keeps the bytes it has read but the decoder has not consumed.
//! Each `decode(&unconsumed)` returns how many bytes it consumed and one
//! [`Event`]: `Head`, a `Body` slice, `End`, or `NeedMore`, which means "read
//! more, append it, and call again". Events borrow the caller's buffer, so the
//! body is never copied. When a read returns 0, `finish()` says whether that
//! was a proper end (a close-delimited body) or a truncation.
//!
//! Two legacy forms of head are read rather than refused, as RFC 9112 asks of a
//! client: obsolete line folding, whose folds are replaced by spaces before
//! anything (framing included) reads the fields (§5.2), and `HTTP/1.2` up to
//! `HTTP/1.9`, read as HTTP/1.1 (§2.3). httparse refuses both at its strictest,
//! which is how every head is parsed first, so ordinary heads pay nothing; only
//! a refused head is copied into the decoder, rewritten and parsed again. That
//! copy is why the events borrow the decoder as well as the input.
//!
//! Three protocol decisions shape everything else:
//!
//! * **Framing is decided once per response**, from the final head, following
//!   RFC 9112 §6.3 in order: no body for HEAD, 1xx, 204 and 304; else
//!   Transfer-Encoding (chunked last ⇒ chunked, otherwise read until close);
//!   else a Content-Length all of whose values agree; else read until close.
//!   Anything ambiguous is an error, never a guess: a mis-framed response
//!   would silently corrupt every response after it on the same connection.
//! * **Keep-alive** follows RFC 9112 §9.3: HTTP/1.1 persists unless told
//!   `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`. A body
//!   ended by closing can never leave a reusable connection, and neither can a
//!   message whose framing smells of smuggling (Transfer-Encoding with
//!   Content-Length, or Transfer-Encoding in HTTP/1.0; RFC 9112 §6.1), nor
//!   one whose head was folded, which not every reader splits into the same
//!   fields.
//! * **Interim responses** (100 Continue, 103 Early Hints, …) are consumed and
//!   dropped inside `decode` (RFC 9110 §15.2). 101 Switching Protocols is an
//!   error: we never ask to upgrade, so we could not speak what follows.
//!
//! Everything the peer controls is bounded by [`Limits`]: the head (searched
//! incrementally, so a slow drip costs linear time and memory never exceeds
//! the limit), the number of fields, the trailer section, chunk-size lines,
//! and optionally the body.
//!
//! The files, in reading order: `request.rs` (the encoder), `response.rs`
//! (the decoder's state machine), `framing.rs` (the once-per-response
//! decision), `headers.rs` (the zero-copy view of the fields), `error.rs`.
//!
//! Not handled here, on purpose: content codings (gzip bodies are passed
//! through as-is), CONNECT tunnels, protocol upgrades, and any notion of time.
//!
//! # Example
//!
//! A request is encoded from a [`RequestTemplate`] (checked once, reused for
//! every URL); its response arrives in two reads, the first of which ends in
//! the middle of the head:
//!
//! ```
//! use onethread::http1::{Event, Framing, Limits, RequestTemplate, ResponseDecoder};
//!
//! let template = RequestTemplate::new("GET", &[("User-Agent", "onethread")], b"").unwrap();
//! let mut out = Vec::new();
//! template.encode(&mut out, "/hello", "example.com", &[]).unwrap();
//! assert_eq!(out, b"GET /hello HTTP/1.1\r\nHost: example.com\r\nUser-Agent: onethread\r\n\r\n");
//!
//! let mut decoder = ResponseDecoder::new(Limits::default());
//! decoder.start(template.method()); // a response to HEAD would have no body
//!
//! // The first read: an incomplete head. Nothing is consumed; read more.
//! let mut unconsumed = b"HTTP/1.1 200 OK\r\nTransfer-Enc".to_vec();
//! let (used, event) = decoder.decode(&unconsumed).unwrap();
//! assert!(matches!(event, Event::NeedMore) && used == 0);
//!
//! // The second read is appended to what was left, and decoding goes on.
//! unconsumed.extend_from_slice(b"oding: chunked\r\n\r\n5\r\nHello\r\n7\r\n, World\r\n0\r\n\r\n");
//! let mut body = Vec::new();
//! let keep_alive = loop {
//!     let (used, event) = decoder.decode(&unconsumed).unwrap();
//!     let end = match event {
//!         Event::Head(head) => {
//!             assert_eq!((head.status, head.framing), (200, Framing::Chunked));
//!             None
//!         }
//!         Event::Body(piece) => {
//!             body.extend_from_slice(piece); // a slice of `unconsumed`: no copy
//!             None
//!         }
//!         Event::End { keep_alive } => Some(keep_alive),
//!         Event::NeedMore => unreachable!("the whole response is here"),
//!     };
//!     unconsumed.drain(..used);
//!     if let Some(keep_alive) = end {
//!         break keep_alive;
//!     }
//! };
//! assert_eq!(body, b"Hello, World");
//! assert!(keep_alive && unconsumed.is_empty()); // HTTP/1.1: the connection may be reused
//!
//! // A body without a length ends when the peer closes (a read returns 0).
//! decoder.start("GET");
//! let bytes = b"HTTP/1.0 200 OK\r\n\r\nbye";
//! let (used, _head) = decoder.decode(bytes).unwrap();
//! let (_, event) = decoder.decode(&bytes[used..]).unwrap();
//! assert!(matches!(event, Event::Body(b"bye")));
//! assert!(matches!(decoder.finish(), Ok(Event::End { keep_alive: false })));
//! ```
//!
//! Next: [`crate::dns`], the other protocol the client speaks, on the same loop.

mod error;
mod framing;
mod headers;
mod request;
mod response;

pub use error::{Error, Snippet};
pub use framing::Framing;
pub use headers::Headers;
pub use request::{EncodeError, RequestHead, RequestTemplate, encode_request, is_idempotent};
pub use response::{Event, Head, Limits, ResponseDecoder, Version};
