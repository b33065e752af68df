//! A zero-copy view of a response's header block, plus the small list helpers
//! that framing and keep-alive decisions share.
//!
//! Why not hand out httparse's parsed `[Header]` array? It lives in a stack
//! array that exists only for the duration of one `decode` call, and keeping it
//! around would mean either a heap allocation per response or a large array in
//! every decoder. Instead the decoder hands out the *raw bytes* of the header
//! block. httparse has already validated them (names are tokens, values contain
//! no CR/LF/NUL), and any obsolete line folding has been replaced by spaces
//! before the block is handed out (see [`unfold`]), so reading them again is
//! nothing more than a line split: each line is `name ":" OWS value OWS`, ending
//! in LF with an optional CR before it.
//!
//! The block is a plain `&[u8]`, so a caller that wants to keep the headers
//! beyond the lifetime of its read buffer copies `as_bytes()` once and rebuilds
//! a view with `Headers::new(&copy)`.
//!
//! Next: `error.rs`, every way a response can be refused.

use std::fmt;

/// The raw header block of a head: the field lines after the status line,
/// without the blank line that ends the head.
///
/// Lookups are linear scans. That is the right trade for the handful of fields
/// a client ever asks about; a map would cost an allocation per response.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a>(&'a [u8]);

impl<'a> Headers<'a> {
    /// Wraps a header block. The bytes are expected to be a block this module
    /// produced (or a copy of one); lines without a colon are skipped.
    pub fn new(raw: &'a [u8]) -> Self {
        Headers(raw)
    }

    /// The raw block, for copying.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The value of the first field named `name` (compared case-insensitively,
    /// as field names are per RFC 9110 §5.1), with surrounding whitespace
    /// removed.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter().find(|(field, _)| field.eq_ignore_ascii_case(name.as_bytes())).map(|(_, value)| value)
    }

    /// Every field as `(name, value)`, in the order received. Values are
    /// trimmed of optional whitespace (RFC 9110 §5.5); repeated fields are
    /// reported separately, not combined.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + use<'a> {
        self.0.split(|&byte| byte == b'\n').filter_map(field_line)
    }
}

/// Splits one line of the block into name and value; `None` for the empty
/// piece after the final LF (or anything else without a colon).
fn field_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let colon = line.iter().position(|&byte| byte == b':')?;
    Some((&line[..colon], trim_ows(&line[colon + 1..])))
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(name, value)| (Escaped(name), Escaped(value)))).finish()
    }
}

/// Shows bytes as a string literal, escaping anything that is not printable ASCII.
pub(crate) struct Escaped<'a>(pub &'a [u8]);

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

/// Removes optional whitespace (OWS = SP / HTAB, RFC 9110 §5.6.3) from both ends.
pub(crate) fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Replaces every obsolete line fold of a head with spaces, in place: the whole
/// fold, `OWS CRLF RWS` (RFC 9112 §5.2; a bare LF is accepted as a line end, as
/// everywhere else in the head), so each field is one line again, and its value
/// holds one or more SP where the fold was. The head keeps its length. Returns
/// whether there was any fold.
///
/// Only for a head that httparse accepted with obs-fold allowed. It has then made
/// sure that every line starting with whitespace continues a field value: never
/// the status line, never the first field line, never a field name.
pub(crate) fn unfold(head: &mut [u8]) -> bool {
    let is_ows = |byte: &u8| matches!(byte, b' ' | b'\t');
    let mut folded = false;
    let mut at = 0;
    while let Some(offset) = head[at..].iter().position(|&byte| byte == b'\n') {
        let lf = at + offset;
        at = lf + 1;
        if !head.get(at).is_some_and(is_ows) {
            continue;
        }
        folded = true;
        // Back over the line's CR and trailing whitespace, on over the next line's
        // leading whitespace.
        let start = head[..lf].iter().rposition(|byte| !is_ows(byte) && *byte != b'\r').map_or(0, |i| i + 1);
        at = head[at..].iter().position(|byte| !is_ows(byte)).map_or(head.len(), |i| at + i);
        head[start..at].fill(b' ');
    }
    folded
}

/// Whether `bytes`, a field name or value that httparse accepted, is `lower` in any
/// ASCII case, where `lower` is lowercase letters and `-` only. Setting bit 0x20
/// lowercases a letter and keeps `-`; the one other byte it turns into one of those is
/// CR (into `-`), which httparse lets into no name or value. With no early exit and
/// `lower`'s length known where it is inlined, the comparison is a few wide steps,
/// not a loop per byte: framing reads a few fields of every response.
#[inline]
pub(crate) fn eq_lower(bytes: &[u8], lower: &[u8]) -> bool {
    debug_assert!(lower.iter().all(|&b| b.is_ascii_lowercase() || b == b'-'));
    bytes.len() == lower.len() && bytes.iter().zip(lower).fold(0, |diff, (&b, &l)| diff | ((b | 0x20) ^ l)) == 0
}

/// The elements of a comma-separated field value (RFC 9110 §5.6.1), trimmed.
/// Empty elements are kept: some callers must reject them, others skip them.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&byte| byte == b',').map(trim_ows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &[u8] =
        b"Content-Type: text/plain\r\nX-Tabs:\t spaced out \t\r\nset-cookie: a=1\r\nSet-Cookie: b=2\nEmpty:\r\n";

    #[test]
    fn eq_lower_is_ascii_case_insensitive_and_nothing_more() {
        assert!(eq_lower(b"Content-Length", b"content-length"));
        assert!(eq_lower(b"KEEP-ALIVE", b"keep-alive"));
        assert!(!eq_lower(b"content-lengths", b"content-length"));
        assert!(!eq_lower(b"content_length", b"content-length"));
        assert!(!eq_lower(b"content-lengti", b"content-length"));
        // Bytes one bit away from a letter or '-' that are not its other case.
        for (i, wanted) in b"keep-alive".iter().enumerate() {
            for byte in 0..=255u8 {
                let mut value = *b"keep-alive";
                value[i] = byte;
                let same = byte.to_ascii_lowercase() == *wanted || (byte == b'\r' && *wanted == b'-');
                assert_eq!(eq_lower(&value, b"keep-alive"), same, "byte {byte:#x} at {i}");
            }
        }
    }

    #[test]
    fn get_is_case_insensitive_and_returns_the_first_match() {
        let headers = Headers::new(BLOCK);
        assert_eq!(headers.get("content-type"), Some(&b"text/plain"[..]));
        assert_eq!(headers.get("CONTENT-TYPE"), Some(&b"text/plain"[..]));
        assert_eq!(headers.get("Set-Cookie"), Some(&b"a=1"[..]));
        assert_eq!(headers.get("missing"), None);
    }

    #[test]
    fn values_are_trimmed_of_optional_whitespace_only_at_the_ends() {
        let headers = Headers::new(BLOCK);
        assert_eq!(headers.get("x-tabs"), Some(&b"spaced out"[..]));
        assert_eq!(headers.get("empty"), Some(&b""[..]));
    }

    #[test]
    fn iter_yields_every_field_in_order_including_repeats() {
        let fields: Vec<_> = Headers::new(BLOCK).iter().collect();
        assert_eq!(
            fields,
            [
                (&b"Content-Type"[..], &b"text/plain"[..]),
                (b"X-Tabs", b"spaced out"),
                (b"set-cookie", b"a=1"),
                (b"Set-Cookie", b"b=2"),
                (b"Empty", b""),
            ]
        );
    }

    #[test]
    fn an_empty_block_has_no_fields() {
        assert_eq!(Headers::new(b"").iter().count(), 0);
        assert_eq!(Headers::new(b"").get("host"), None);
    }

    #[test]
    fn a_copied_block_reads_the_same() {
        let copy = Headers::new(BLOCK).as_bytes().to_vec();
        assert_eq!(Headers::new(&copy), Headers::new(BLOCK));
    }

    #[test]
    fn list_elements_split_on_commas_and_trim() {
        let elements: Vec<_> = list_elements(b" gzip ,chunked,, x").collect();
        assert_eq!(elements, [&b"gzip"[..], b"chunked", b"", b"x"]);
    }

    #[test]
    fn unfold_replaces_whole_folds_with_spaces() {
        let cases: [(&[u8], &[u8], bool); 6] = [
            (b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n", b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n", false),
            (b"S\r\nA: b\r\n c\r\n\r\n", b"S\r\nA: b   c\r\n\r\n", true),
            (b"S\r\nA: b \t\r\n\t c\r\nD: e\r\n\r\n", b"S\r\nA: b      c\r\nD: e\r\n\r\n", true),
            (b"S\nA:\n b\n\tc\n\n", b"S\nA:  b  c\n\n", true),
            (b"S\r\nA: b\r\n \r\n\t\r\n\r\n", b"S\r\nA: b      \r\n\r\n", true),
            (b"S\r\nA: tab\there\r\n\r\n", b"S\r\nA: tab\there\r\n\r\n", false),
        ];
        for (head, unfolded, folded) in cases {
            let mut copy = head.to_vec();
            assert_eq!((unfold(&mut copy), copy.as_slice()), (folded, unfolded), "{:?}", head.escape_ascii());
        }
    }

    #[test]
    fn debug_shows_fields_as_escaped_strings() {
        let shown = format!("{:?}", Headers::new(b"A: \xff\r\n"));
        assert_eq!(shown, r#"{"A": "\xff"}"#);
    }
}
