//! Everything that can go wrong while decoding a response.
//!
//! Every error is fatal to the connection: once framing is in doubt, the only
//! safe thing to do with the remaining bytes is to throw them away (RFC 9112
//! §6.3 ends with "the server MUST close the connection" for exactly this
//! reason). The variants are nonetheless kept apart so that a report can say
//! *why* a response was refused, and so that callers can sort them into the
//! three kinds they act on differently: a limit was hit (`is_too_large`), the
//! peer hung up early (`is_truncated`), or the peer spoke broken HTTP.
//!
//! Errors own their details and never allocate: an offending header value is
//! kept as a short inline [`Snippet`].
//!
//! Next: the resolver, `src/dns/mod.rs`.

use std::fmt;

/// Why a response could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    // --- A configured limit was exceeded. ---
    /// The head (status line, fields, blank line) is longer than `Limits::max_head`.
    HeadTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// The head has more fields than `Limits::max_headers` (after capping).
    TooManyHeaders {
        /// The limit in force, in fields.
        limit: usize,
    },
    /// The decoded body would exceed `Limits::max_body`.
    BodyTooLarge {
        /// The limit in force, in decoded body bytes.
        limit: u64,
    },
    /// The trailer section after the last chunk is longer than `Limits::max_head`.
    TrailersTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },

    // --- The head is not HTTP/1.x. ---
    /// httparse rejected the head.
    MalformedHead(httparse::Error),
    /// A 101 response: we never ask for a protocol upgrade, so we cannot follow one.
    SwitchingProtocols,

    // --- The head announces a framing we cannot trust (RFC 9112 §6). ---
    /// Two Content-Length values disagree, e.g. `5` and `6`.
    ConflictingContentLength {
        /// The first value seen.
        first: u64,
        /// The first value that differs from it.
        second: u64,
    },
    /// A Content-Length value is not a plain run of decimal digits.
    InvalidContentLength(Snippet),
    /// A Content-Length value does not fit in 64 bits.
    ContentLengthOverflow(Snippet),
    /// A transfer coding we cannot undo, so the body could not be delimited.
    UnknownTransferCoding(Snippet),
    /// A transfer coding is listed after `chunked`.
    ChunkedNotLast,
    /// `chunked` is listed more than once.
    ChunkedTwice,

    // --- The chunked body is malformed (RFC 9112 §7.1). ---
    /// A byte that cannot appear at this point of a chunk-size line.
    BadChunkSize {
        /// The offending byte.
        byte: u8,
    },
    /// A chunk size larger than `u64::MAX`.
    ChunkSizeOverflow,
    /// A chunk-size line (mostly extensions) longer than we are willing to skip.
    ChunkLineTooLong {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// Chunk data is not followed by CRLF.
    MissingChunkCrlf {
        /// The byte found in place of the CR or the LF.
        byte: u8,
    },

    // --- The conversation itself went wrong. ---
    /// The connection closed before the message framing was complete.
    Truncated {
        /// What was being read, for the message: "the response head", "a
        /// Content-Length body", "a chunked body" or "the chunked trailer section".
        during: &'static str,
    },
    /// `decode` was called while no response was expected: before `start`, or
    /// after the previous response already ended.
    Idle,
}

impl Error {
    /// A configured limit was exceeded; the response itself may be well-formed.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            Error::HeadTooLarge { .. }
                | Error::TooManyHeaders { .. }
                | Error::BodyTooLarge { .. }
                | Error::TrailersTooLarge { .. }
        )
    }

    /// The peer closed the connection before the response was complete.
    pub fn is_truncated(&self) -> bool {
        matches!(self, Error::Truncated { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::HeadTooLarge { limit } => {
                write!(f, "response head exceeds the {limit}-byte limit")
            }
            Error::TooManyHeaders { limit } => {
                write!(f, "response head has more than {limit} header fields")
            }
            Error::BodyTooLarge { limit } => {
                write!(f, "response body exceeds the {limit}-byte limit")
            }
            Error::TrailersTooLarge { limit } => {
                write!(f, "chunked trailer section exceeds the {limit}-byte limit")
            }
            Error::MalformedHead(error) => write!(f, "malformed response head: {error}"),
            Error::SwitchingProtocols => f.write_str("unexpected 101 Switching Protocols (no upgrade was requested)"),
            Error::ConflictingContentLength { first, second } => {
                write!(f, "conflicting Content-Length values {first} and {second}")
            }
            Error::InvalidContentLength(value) => {
                write!(f, "invalid Content-Length value {value} (expected decimal digits)")
            }
            Error::ContentLengthOverflow(value) => {
                write!(f, "Content-Length value {value} does not fit in 64 bits")
            }
            Error::UnknownTransferCoding(coding) => {
                write!(f, "unknown transfer coding {coding}")
            }
            Error::ChunkedNotLast => f.write_str("Transfer-Encoding lists a coding after \"chunked\""),
            Error::ChunkedTwice => f.write_str("Transfer-Encoding applies \"chunked\" twice"),
            Error::BadChunkSize { byte } => {
                write!(f, "unexpected byte '{}' in chunk-size line", byte.escape_ascii())
            }
            Error::ChunkSizeOverflow => f.write_str("chunk size does not fit in 64 bits"),
            Error::ChunkLineTooLong { limit } => {
                write!(f, "chunk-size line exceeds the {limit}-byte limit")
            }
            Error::MissingChunkCrlf { byte } => {
                write!(f, "chunk data is followed by '{}' instead of CRLF", byte.escape_ascii())
            }
            Error::Truncated { during } => write!(f, "connection closed during {during}"),
            Error::Idle => f.write_str("response bytes offered while no response was expected"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::MalformedHead(error) => Some(error),
            _ => None,
        }
    }
}

/// The first few bytes of an offending field value, kept inline so that an
/// [`Error`] can quote it without allocating.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Snippet {
    bytes: [u8; Snippet::CAPACITY],
    len: u8,
    cut: bool,
}

impl Snippet {
    const CAPACITY: usize = 24;

    pub(crate) fn new(value: &[u8]) -> Self {
        let len = value.len().min(Self::CAPACITY);
        let mut bytes = [0; Self::CAPACITY];
        bytes[..len].copy_from_slice(&value[..len]);
        Snippet { bytes, len: len as u8, cut: value.len() > len }
    }

    /// The quoted bytes (at most the first 24 of the value).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Quoted and escaped, with `…` when the value was longer than the snippet.
impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ellipsis = if self.cut { "…" } else { "" };
        write!(f, "\"{}{ellipsis}\"", self.as_bytes().escape_ascii())
    }
}

impl fmt::Debug for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        let conflict = Error::ConflictingContentLength { first: 5, second: 6 };
        assert_eq!(conflict.to_string(), "conflicting Content-Length values 5 and 6");
        let invalid = Error::InvalidContentLength(Snippet::new(b"+5"));
        assert_eq!(invalid.to_string(), "invalid Content-Length value \"+5\" (expected decimal digits)");
        let bad_size = Error::BadChunkSize { byte: b'\r' };
        assert_eq!(bad_size.to_string(), "unexpected byte '\\r' in chunk-size line");
    }

    #[test]
    fn snippets_keep_a_bounded_prefix() {
        let long = Snippet::new(&[b'9'; 40]);
        assert_eq!(long.as_bytes(), &[b'9'; 24]);
        assert_eq!(long.to_string(), format!("\"{}…\"", "9".repeat(24)));
        assert_eq!(Snippet::new(b"br\x00").to_string(), "\"br\\x00\"");
    }

    #[test]
    fn kinds_are_classified() {
        assert!(Error::HeadTooLarge { limit: 1 }.is_too_large());
        assert!(Error::BodyTooLarge { limit: 1 }.is_too_large());
        assert!(!Error::ChunkSizeOverflow.is_too_large());
        assert!(Error::Truncated { during: "x" }.is_truncated());
        assert!(!Error::Idle.is_truncated());
    }
}
