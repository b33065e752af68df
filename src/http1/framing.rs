//! Deciding, once per response, where its body ends and whether the
//! connection may carry another request afterwards.
//!
//! Both questions are answered from the final head alone, before a single body
//! byte is read, and never revisited. Keeping the decision in one pure function
//! of (request method, version, status, fields) makes the subtle rules easy to
//! audit against the RFCs:
//!
//! * Body length: RFC 9112 §6.3, in its order of precedence (HEAD/1xx/204/304,
//!   then Transfer-Encoding, then Content-Length, then read-until-close).
//! * Persistence: RFC 9112 §9.3 (`close`, HTTP/1.1 default, HTTP/1.0
//!   `keep-alive`), plus the rule that a body delimited only by the close
//!   cannot leave a reusable connection behind, and §6.1's rule that a message
//!   whose framing looks like a smuggling attempt must close it.
//!
//! Next: `headers.rs`, the view of the fields that framing and callers read.

use super::error::{Error, Snippet};
use super::headers::{eq_lower, list_elements};
use super::response::Version;

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body at all: response to HEAD, or status 1xx, 204 or 304.
    NoBody,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// The chunked transfer coding (RFC 9112 §7.1).
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// The two answers drawn from a final head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub framing: Framing,
    pub keep_alive: bool,
}

/// Transfer codings we recognise (RFC 9112 §7, RFC 9110 §8.4.1). Only
/// `chunked` is undone here; the others are content for the caller, but a
/// coding we do not even know means we cannot know what the bytes are.
const KNOWN_CODINGS: [&[u8]; 6] = [b"chunked", b"gzip", b"x-gzip", b"deflate", b"compress", b"x-compress"];

/// Decides framing and persistence for a final (non-1xx) response.
pub(crate) fn decide(
    request_was_head: bool,
    version: Version,
    status: u16,
    fields: &[httparse::Header<'_>],
) -> Result<Verdict, Error> {
    // §6.3 rule 1: these responses never have a body, whatever their
    // Content-Length or Transfer-Encoding says (a 304 or a HEAD response
    // reports the length the body *would* have), so those fields are not
    // even validated.
    let no_body = request_was_head || matches!(status, 100..=199 | 204 | 304);
    let seen = Fields::read(fields, !no_body)?;
    let persistent = seen.connection.persistent(version);
    if no_body {
        // §6.1 still applies: framing fields that smell of smuggling end the
        // connection, even on a response that has no body to mis-frame.
        let faulty = seen.has_codings && (version == Version::Http10 || seen.has_length);
        return Ok(Verdict { framing: Framing::NoBody, keep_alive: persistent && !faulty });
    }
    let framing = match (seen.transfer_encoding, seen.content_length) {
        // §6.3 rule 3: Transfer-Encoding overrides Content-Length.
        (Some(Codings { chunked_last: true }), _) => Framing::Chunked,
        // §6.3 rule 3 for responses: other final codings are read until close.
        (Some(Codings { chunked_last: false }), _) => Framing::UntilClose,
        (None, Some(length)) => Framing::Length(length),
        // §6.3 rule 8.
        (None, None) => Framing::UntilClose,
    };
    // §6.1: both fields at once may be a smuggling attempt, and Transfer-Encoding
    // in an HTTP/1.0 message means the framing is faulty; either way the
    // connection must close after this message.
    let faulty = seen.has_codings && (seen.has_length || version == Version::Http10);
    let keep_alive = persistent && !faulty && framing != Framing::UntilClose;
    Ok(Verdict { framing, keep_alive })
}

/// What a head's fields say about framing and persistence, read in one pass (this
/// runs once per response): a field's name is compared only with the framing name
/// of its length, so most fields cost one length check.
#[derive(Default)]
struct Fields {
    connection: ConnectionOptions,
    /// A Content-Length or Transfer-Encoding field is present, valid or not.
    has_length: bool,
    has_codings: bool,
    /// Validated, and only when a body is expected.
    content_length: Option<u64>,
    transfer_encoding: Option<Codings>,
}

impl Fields {
    /// The first invalid Content-Length or Transfer-Encoding, in field order, is the
    /// error; they are not read at all when no body is expected.
    fn read(fields: &[httparse::Header<'_>], body_expected: bool) -> Result<Self, Error> {
        let mut seen = Fields::default();
        for field in fields {
            let (name, value) = (field.name, field.value);
            match name.len() {
                10 if eq_lower(name.as_bytes(), b"connection") => seen.connection.add(value),
                14 if eq_lower(name.as_bytes(), b"content-length") => {
                    seen.has_length = true;
                    if body_expected {
                        seen.content_length = merge_content_length(seen.content_length, value)?;
                    }
                }
                17 if eq_lower(name.as_bytes(), b"transfer-encoding") => {
                    seen.has_codings = true;
                    if body_expected {
                        let so_far = seen.transfer_encoding.unwrap_or(Codings { chunked_last: false });
                        seen.transfer_encoding = Some(add_codings(so_far, value)?);
                    }
                }
                _ => {}
            }
        }
        Ok(seen)
    }
}

/// The options of the Connection field(s) that matter for persistence.
#[derive(Default)]
struct ConnectionOptions {
    close: bool,
    keep_alive: bool,
}

impl ConnectionOptions {
    fn add(&mut self, value: &[u8]) {
        for option in list_elements(value) {
            self.close |= eq_lower(option, b"close");
            self.keep_alive |= eq_lower(option, b"keep-alive");
        }
    }

    /// RFC 9112 §9.3, for a client (not a proxy) that honours HTTP/1.0 keep-alive.
    fn persistent(&self, version: Version) -> bool {
        match version {
            _ if self.close => false,
            Version::Http11 => true,
            Version::Http10 => self.keep_alive,
        }
    }
}

/// What the transfer codings, read in order across all Transfer-Encoding
/// fields, amount to.
#[derive(Clone, Copy)]
struct Codings {
    /// `chunked` was applied (and, since nothing may follow it, last).
    chunked_last: bool,
}

/// Folds one Content-Length field into the value seen so far. Repeated fields
/// and comma lists are accepted only when every value is the same number
/// (RFC 9110 §8.6; RFC 9112 §6.3 rule 5).
fn merge_content_length(seen: Option<u64>, value: &[u8]) -> Result<Option<u64>, Error> {
    let mut seen = seen;
    for element in list_elements(value) {
        let length = parse_decimal(element)?;
        match seen {
            Some(first) if first != length => {
                return Err(Error::ConflictingContentLength { first, second: length });
            }
            _ => seen = Some(length),
        }
    }
    Ok(seen)
}

/// `1*DIGIT`, nothing else: no sign, no hex, no spaces inside.
fn parse_decimal(digits: &[u8]) -> Result<u64, Error> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::InvalidContentLength(Snippet::new(digits)));
    }
    digits
        .iter()
        .try_fold(0u64, |n, &digit| n.checked_mul(10)?.checked_add(u64::from(digit - b'0')))
        .ok_or(Error::ContentLengthOverflow(Snippet::new(digits)))
}

/// Applies the codings of one Transfer-Encoding field, in order. Chunked must
/// be applied exactly once and last (RFC 9112 §6.1); empty list elements are
/// skipped (RFC 9110 §5.6.1.2); parameters after `;` are ignored.
fn add_codings(mut codings: Codings, value: &[u8]) -> Result<Codings, Error> {
    for element in list_elements(value).filter(|element| !element.is_empty()) {
        let name = element.split(|&byte| byte == b';').next().unwrap_or_default();
        let name = super::headers::trim_ows(name);
        if !KNOWN_CODINGS.iter().any(|known| name.eq_ignore_ascii_case(known)) {
            return Err(Error::UnknownTransferCoding(Snippet::new(name)));
        }
        let is_chunked = name.eq_ignore_ascii_case(b"chunked");
        if codings.chunked_last {
            return Err(if is_chunked { Error::ChunkedTwice } else { Error::ChunkedNotLast });
        }
        codings.chunked_last = is_chunked;
    }
    Ok(codings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(name: &'a str, value: &'a str) -> httparse::Header<'a> {
        httparse::Header { name, value: value.as_bytes() }
    }

    #[test]
    fn a_close_delimited_body_never_leaves_a_reusable_connection() {
        let keep_alive = [field("Connection", "keep-alive")];
        for version in [Version::Http10, Version::Http11] {
            let verdict = decide(false, version, 200, &keep_alive).unwrap();
            assert_eq!(verdict, Verdict { framing: Framing::UntilClose, keep_alive: false });
        }
    }

    #[test]
    fn framing_follows_rfc_9112_precedence() {
        let both = [field("Content-Length", "5"), field("Transfer-Encoding", "chunked")];
        let cases = [
            (true, 200, Framing::NoBody),
            (false, 204, Framing::NoBody),
            (false, 304, Framing::NoBody),
            (false, 200, Framing::Chunked),
        ];
        for (request_was_head, status, framing) in cases {
            let verdict = decide(request_was_head, Version::Http11, status, &both).unwrap();
            assert_eq!(verdict.framing, framing, "HEAD: {request_was_head}, status {status}");
        }
        let length = [field("Content-Length", "5")];
        let verdict = decide(false, Version::Http11, 200, &length).unwrap();
        assert_eq!(verdict, Verdict { framing: Framing::Length(5), keep_alive: true });
    }

    #[test]
    fn suspicious_framing_fields_close_even_without_a_body() {
        let te = field("Transfer-Encoding", "chunked");
        let cl = field("Content-Length", "5");
        let keep = field("Connection", "keep-alive");
        let v10 = decide(false, Version::Http10, 304, &[keep, te]).unwrap();
        assert_eq!(v10, Verdict { framing: Framing::NoBody, keep_alive: false });
        let both = decide(true, Version::Http11, 200, &[te, cl]).unwrap();
        assert_eq!(both, Verdict { framing: Framing::NoBody, keep_alive: false });
        let plain = decide(false, Version::Http11, 204, &[cl]).unwrap();
        assert_eq!(plain, Verdict { framing: Framing::NoBody, keep_alive: true });
    }
}
