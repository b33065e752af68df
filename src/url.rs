//! `http://` and `https://` URLs: just enough of RFC 3986 to turn a line of input into an origin
//! (host, port) and a request target, or a precise reason why not.
//!
//! A mass fetcher reads URLs from files written by other programs, so every malformed
//! line must become a clear per-request error rather than a panic or a silently
//! "corrected" request. The parser is strict about what it cannot represent on the
//! wire (spaces, control characters, non-ASCII) and keeps the original text so the
//! outcome can name the URL exactly as given — except a password: `http://user:pw@h/`
//! is kept as `http://user@h/`, and the credentials go only into the request's
//! `Authorization: Basic` header (as curl and aiohttp send them), never into output.
//!
//! ```
//! use onethread::url::{Url, UrlError};
//!
//! let url = Url::parse("http://user:secret@Example.com:8080/a/b?q=1#top").unwrap();
//! assert_eq!(url.host(), "Example.com"); // as written: DNS names are case-insensitive
//! assert_eq!(url.port(), 8080);
//! assert_eq!(url.authority(), "Example.com:8080"); // the Host header
//! assert_eq!(url.target(), "/a/b?q=1"); // the fragment never goes on the wire
//! assert_eq!(url.as_str(), "http://user@Example.com:8080/a/b?q=1#top"); // no password
//! assert_eq!(url.basic_auth(), Some("Basic dXNlcjpzZWNyZXQ=")); // user:secret
//!
//! let https = Url::parse("https://[::1]").unwrap();
//! assert_eq!((https.ip(), https.port(), &*https.target()), (Some("::1".parse().unwrap()), 443, "/"));
//! assert_eq!(url.join("../c").unwrap().as_str(), "http://Example.com:8080/c");
//!
//! assert_eq!(Url::parse("ftp://h/").unwrap_err(), UrlError::UnsupportedScheme("ftp".into()));
//! assert!(matches!(Url::parse("http://h/a b"), Err(UrlError::Invalid("contains white space"))));
//! ```
//!
//! The client parses each URL as it admits it (`client/schedule.rs`); the reading
//! order goes on from [`crate::client`].

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Range;

/// A parsed `http://` or `https://` URL. Cheap accessors slice the original text.
#[derive(Clone, Debug)]
pub struct Url {
    text: String,
    host: Range<usize>,
    /// `host[:port]` as written, for the Host header (RFC 9110 §7.2).
    authority: Range<usize>,
    port: u16,
    /// Path and query, without the fragment; empty means "/".
    target: Range<usize>,
    /// `Basic …` credentials from the URL's user information, for `Authorization`.
    basic: Option<Box<str>>,
    https: bool,
}

/// Why a line of input is not a URL this client can fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not a URL we can send: the message says what is wrong.
    Invalid(&'static str),
    /// A well-formed URL with a scheme this client does not speak (e.g. `ftp`).
    UnsupportedScheme(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Invalid(why) => write!(f, "invalid URL: {why}"),
            UrlError::UnsupportedScheme(s) => {
                write!(f, "unsupported scheme {s:?}: only http:// and https:// are supported")
            }
        }
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parses `input`, ignoring white space around it.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        Url::from_string(input.trim().to_owned()).map_err(|(e, _)| e)
    }

    /// Like [`Url::parse`], but keeps `input`'s allocation as the URL's text: a mass
    /// fetch parses one URL per request, so this saves a copy each time. On failure
    /// the text comes back with the reason.
    pub fn from_string(mut input: String) -> Result<Url, (UrlError, String)> {
        // Rare: stray white space around the URL. Printable ASCII at both ends (nearly
        // always) means there is none, without trim's look at the characters.
        let printable = |b: Option<&u8>| b.is_some_and(u8::is_ascii_graphic);
        let (first, last) = (input.as_bytes().first(), input.as_bytes().last());
        if !(printable(first) && printable(last)) && input.trim().len() != input.len() {
            input = input.trim().to_owned();
        }
        // User information is rare: only a URL that has it pays for taking it out.
        let mut basic = None;
        let mut located = locate(&input);
        if matches!(located, Err(_) | Ok(Located { userinfo: true, .. })) {
            basic = take_credentials(&mut input);
            located = locate(&input);
        }
        match located {
            Ok(Located { host, authority, port, target, https, .. }) => {
                Ok(Url { text: input, host, authority, port, target, basic, https })
            }
            Err(e) => Err((e, input)),
        }
    }

    /// `https://`: the connection is TLS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The URL a redirect's `Location` names, resolved against this one (RFC 3986 §5.2:
    /// absolute, scheme-relative, absolute-path, query-only, or a path relative to this
    /// URL's directory, with `.` and `..` segments removed). The fragment is dropped,
    /// and the result is parsed like any URL.
    pub fn join(&self, reference: &str) -> Result<Url, UrlError> {
        let reference = reference.trim();
        let reference = reference.split_once('#').map_or(reference, |(r, _)| r);
        let has_scheme = reference.split_once(':').is_some_and(|(s, _)| {
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        });
        let scheme = if self.https { "https" } else { "http" };
        let target = &self.text[self.target.clone()];
        let (path, _) = target.split_once('?').unwrap_or((target, ""));
        let path = if path.is_empty() { "/" } else { path };
        let origin = format!("{scheme}://{}", self.authority());
        let joined = if has_scheme {
            let (head, rest) = reference.split_once("://").unwrap_or((reference, ""));
            match rest.find('/') {
                Some(slash) => format!("{head}://{}{}", &rest[..slash], normalize(&rest[slash..])),
                None => reference.to_owned(),
            }
        } else if let Some(rest) = reference.strip_prefix("//") {
            match rest.find('/') {
                Some(slash) => format!("{scheme}://{}{}", &rest[..slash], normalize(&rest[slash..])),
                None => format!("{scheme}://{rest}"),
            }
        } else if reference.starts_with('/') {
            format!("{origin}{}", normalize(reference))
        } else if reference.is_empty() {
            format!("{origin}{target}")
        } else if reference.starts_with('?') {
            format!("{origin}{path}{reference}")
        } else {
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{origin}{}", normalize(&format!("{dir}{reference}")))
        };
        Url::parse(&joined)
    }

    /// The `Authorization` value for the URL's user information (`Basic …`), if any.
    pub fn basic_auth(&self) -> Option<&str> {
        self.basic.as_deref()
    }

    /// The URL as given (trimmed), minus any password: what outcomes print.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host without brackets: a name, or an IP literal.
    pub fn host(&self) -> &str {
        &self.text[self.host.clone()]
    }

    /// `Some` when the host is an IP literal, which needs no DNS. Worked out on each
    /// call: the client asks once per origin, not once per request.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host().parse().ok()
    }

    /// The port: as written, else 80 for `http` and 443 for `https`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The value for the Host header.
    pub fn authority(&self) -> &str {
        &self.text[self.authority.clone()]
    }

    /// The origin-form request target (RFC 9112 §3.2.1): path and query, starting with
    /// `/` even when the URL has no path (`http://h` or `http://h?q`).
    pub fn target(&self) -> Cow<'_, str> {
        match &self.text[self.target.clone()] {
            "" => Cow::Borrowed("/"),
            t if t.starts_with('?') => Cow::Owned(format!("/{t}")),
            t => Cow::Borrowed(t),
        }
    }
}

/// Where the parts of a valid URL lie in its text.
struct Located {
    host: Range<usize>,
    authority: Range<usize>,
    port: u16,
    target: Range<usize>,
    /// The authority has user information (`user@`), which is not part of the host.
    userinfo: bool,
    https: bool,
}

/// The longest URL accepted. Far above what servers take in a request line (8 KiB is
/// common), and it lets a reader of URL lists bound its buffer: a longer line is cut
/// just past this length and still fails as what it is, too long.
pub const MAX_LEN: usize = 64 * 1024;

/// Validates an already trimmed URL and finds its parts.
///
/// This runs once per request, so the common case reads the text as few times as it
/// can: one comparison recognises `http://` or `https://`, one pass reads a plain
/// `host[:port]` authority, port number included, and one pass over the rest finds the
/// fragment. Anything else takes the general path, which reads it the way RFC 3986
/// does. When several things are wrong the error is the same either way: bad
/// characters first, then the scheme, then the host, then the port.
fn locate(text: &str) -> Result<Located, UrlError> {
    if text.is_empty() {
        return Err(UrlError::Invalid("empty"));
    }
    if text.len() > MAX_LEN {
        return Err(UrlError::Invalid("longer than 64 KiB"));
    }
    let bytes = text.as_bytes();
    let (https, from) = match http_prefix(bytes) {
        Some(found) => found,
        None => any_scheme(text)?,
    };
    let authority = match plain_authority(text, from, https) {
        Some(plain) => plain,
        None => any_authority(text, from, https)?,
    };
    let target_end = scan_target(bytes, authority.end)?;
    // Only now, every byte having been checked, what is wrong with the host or port.
    let (host, port) = authority.host_and_port?;
    Ok(Located {
        host,
        authority: authority.start..authority.end,
        port,
        target: authority.end..target_end,
        userinfo: authority.start != from,
        https,
    })
}

/// `https://` or `http://`, in any case, at the start of `bytes`: whether it is https
/// and where the authority starts.
///
/// The first 8 bytes are read as one number (shorter text has no host, and takes the
/// general path, which says so). Setting bit 5 (0x20) turns an ASCII capital into its
/// small letter, and only 'H' and 'h' become 'h' that way (likewise 't', 'p', 's'), so
/// setting it in the letters' places and comparing once is a case-insensitive
/// comparison. Not in the other places: 0x1A would become ':'.
fn http_prefix(bytes: &[u8]) -> Option<(bool, usize)> {
    const HTTP: u64 = u64::from_be_bytes(*b"http://\0");
    const HTTPS: u64 = u64::from_be_bytes(*b"https://");
    const HTTP_LETTERS: u64 = 0x2020_2020_0000_0000; // "http"
    const S_LETTER: u64 = 0x0000_0000_2000_0000; // the 's' of "https"
    let word = u64::from_be_bytes(*bytes.first_chunk::<8>()?) | HTTP_LETTERS;
    if word >> 8 == HTTP >> 8 {
        Some((false, 7)) // the eighth byte is the authority's first
    } else if word | S_LETTER == HTTPS {
        Some((true, 8))
    } else {
        None
    }
}

/// The general path for the scheme, for text that does not start with `http://` or
/// `https://`: every byte is checked first, then the scheme is found and judged.
fn any_scheme(text: &str) -> Result<(bool, usize), UrlError> {
    let bytes = text.as_bytes();
    if let Some(&b) = bytes.iter().find(|b| !b.is_ascii_graphic()) {
        return Err(character_error(b));
    }
    let Some(colon) = bytes.iter().position(|&b| b == b':').filter(|&c| bytes[c..].starts_with(b"://")) else {
        return Err(UrlError::Invalid("missing scheme (expected http://host/...)"));
    };
    let scheme = &text[..colon];
    let https = scheme.eq_ignore_ascii_case("https");
    if !https && !scheme.eq_ignore_ascii_case("http") {
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
            return Err(UrlError::Invalid("malformed scheme"));
        }
        return Err(UrlError::UnsupportedScheme(scheme.to_ascii_lowercase()));
    }
    Ok((https, colon + 3))
}

/// Why a byte that is not printable ASCII cannot be in a URL.
fn character_error(b: u8) -> UrlError {
    UrlError::Invalid(match b {
        b' ' | b'\t' => "contains white space",
        c if c.is_ascii_control() => "contains a control character",
        _ => "contains non-ASCII characters (percent-encode them)",
    })
}

/// Where the authority (`[userinfo@]host[:port]`) lies, and what it says.
struct Authority {
    /// Just past the user information's '@', if any: where the Host header's value starts.
    start: usize,
    /// At the first '/', '?' or '#' (the target's start), else at the end of the text.
    end: usize,
    /// The host (without brackets) and the port, or what is wrong with them: reported
    /// only once the rest of the text has been checked.
    host_and_port: Result<(Range<usize>, u16), UrlError>,
}

/// The usual authority, read in one pass: a host name or IPv4 address, perhaps a port,
/// then the end of the authority. `None` for anything else (user information, an IPv6
/// address, something wrong), which is [`any_authority`]'s.
fn plain_authority(text: &str, from: usize, https: bool) -> Option<Authority> {
    let bytes = text.as_bytes();
    let host_end = from + bytes[from..].iter().take_while(|&&b| is_host_name_byte(b)).count();
    if host_end == from || host_end - from > 253 {
        return None;
    }
    let default_port = if https { 443 } else { 80 };
    let (port, end) = match bytes.get(host_end) {
        Some(b':') => {
            let digits = bytes[host_end + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            let end = host_end + 1 + digits;
            // No digits: the default. A number that is no port is `any_authority`'s to report.
            let port = if digits == 0 { default_port } else { parse_port(&text[host_end + 1..end]).ok()? };
            (port, end)
        }
        _ => (default_port, host_end),
    };
    // Here the authority must end: another byte ('@', a second ':', one not allowed in
    // a host name) makes it not a plain one.
    matches!(bytes.get(end), None | Some(b'/' | b'?' | b'#')).then(|| Authority {
        start: from,
        end,
        host_and_port: Ok((from..host_end, port)),
    })
}

/// The general path for the authority, starting at `from`: it ends at the first '/',
/// '?' or '#', and user information ends at its last '@'. Errs only on a byte that is
/// not printable ASCII; what is wrong with the host or port waits in the result.
fn any_authority(text: &str, from: usize, https: bool) -> Result<Authority, UrlError> {
    let (mut start, mut end) = (from, text.len());
    for (i, &b) in text.as_bytes().iter().enumerate().skip(from) {
        match b {
            b'/' | b'?' | b'#' => {
                end = i;
                break;
            }
            // User information (its password already taken out) is not part of the host.
            b'@' => start = i + 1,
            _ if !b.is_ascii_graphic() => return Err(character_error(b)),
            _ => {}
        }
    }
    let host_and_port = split_host_port(&text[start..end]).and_then(|(host, port)| {
        let port = match port {
            None | Some("") if https => 443,
            None | Some("") => 80,
            Some(p) => parse_port(p)?,
        };
        let host_start = host.as_ptr() as usize - text.as_ptr() as usize;
        Ok((host_start..host_start + host.len(), port))
    });
    Ok(Authority { start, end, host_and_port })
}

/// Finds the end of the request target, the first '#' from `from` on (else the end of
/// the text), checking on the way that every byte is printable ASCII.
fn scan_target(bytes: &[u8], from: usize) -> Result<usize, UrlError> {
    // Paths can be long: 16 bytes at a time first, with no branch per byte (this the
    // compiler turns into vector instructions), up to the 16 where the scan stops;
    // then byte by byte.
    let mut from = from;
    for chunk in bytes[from..].chunks_exact(16) {
        if chunk.iter().fold(false, |found, &b| found | ends_target(b)) {
            break;
        }
        from += 16;
    }
    let Some(hash) = bytes[from..].iter().position(|&b| ends_target(b)).map(|i| from + i) else {
        return Ok(bytes.len());
    };
    if bytes[hash] != b'#' {
        return Err(character_error(bytes[hash]));
    }
    // The fragment is never sent, but it is part of the URL: it is checked too.
    if let Some(&b) = bytes[hash..].iter().find(|b| !b.is_ascii_graphic()) {
        return Err(character_error(b));
    }
    Ok(hash)
}

/// Letters, digits, '-', '.' and '_': the bytes of a host name.
fn is_host_name_byte(b: u8) -> bool {
    HOST_NAME[usize::from(b)]
}

/// '#', which starts the fragment, and the bytes that are not printable ASCII.
const fn ends_target(b: u8) -> bool {
    b == b'#' || !b.is_ascii_graphic()
}

/// [`is_host_name_byte`] for each byte, as a table: a lookup is one load where the test
/// takes several comparisons, and the scan over the host makes one per byte.
const HOST_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_');
        b += 1;
    }
    table
};

/// `path[?query]` with its dot segments removed (RFC 3986 §5.2.4); the query is kept
/// as it is.
fn normalize(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i == segments.len() - 1;
        match *segment {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut result = format!("/{}", out.join("/"));
    if let Some(q) = query {
        result.push('?');
        result.push_str(q);
    }
    result
}

/// Takes the user information out of a URL's authority: the password is removed from
/// `text` (the user name stays, so the URL still says whose it is), and the whole is
/// returned as a `Basic` credential (RFC 7617), percent-decoded as RFC 3986 says.
fn take_credentials(text: &mut String) -> Option<Box<str>> {
    let start = text.find("://")? + 3;
    let end = text[start..].find(['/', '?', '#']).map_or(text.len(), |i| start + i);
    let at = start + text[start..end].rfind('@')?;
    let userinfo = &text[start..at];
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let mut plain = percent_decode(user);
    plain.push(b':');
    plain.extend(percent_decode(password));
    let basic = format!("Basic {}", base64(&plain)).into_boxed_str();
    text.replace_range(start + user.len()..at, "");
    Some(basic)
}

/// `%41` → `A`; a `%` not followed by two hex digits is kept as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), UrlError> {
    if let Some(rest) = authority.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(UrlError::Invalid("unclosed '[' in IPv6 address"));
        };
        let host = &rest[..close];
        host.parse::<Ipv6Addr>().map_err(|_| UrlError::Invalid("malformed IPv6 address"))?;
        let port = match &rest[close + 1..] {
            "" => None,
            after => Some(after.strip_prefix(':').ok_or(UrlError::Invalid("junk after IPv6 address"))?),
        };
        return Ok((host, port));
    }
    let (host, port) = match authority.bytes().rposition(|b| b == b':') {
        Some(colon) => (&authority[..colon], Some(&authority[colon + 1..])),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(UrlError::Invalid("missing host"));
    }
    if host.len() > 253 {
        return Err(UrlError::Invalid("host name longer than 253 characters"));
    }
    if !host.bytes().all(is_host_name_byte) {
        return Err(UrlError::Invalid("host contains characters not allowed in a host name"));
    }
    Ok((host, port))
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    let mut port: u32 = 0;
    for b in text.bytes() {
        if !b.is_ascii_digit() {
            return Err(UrlError::Invalid("port is not a number"));
        }
        port = (port * 10 + u32::from(b - b'0')).min(1 << 16); // saturates: out of range either way
    }
    match port {
        0 => Err(UrlError::Invalid("port 0")),
        p => u16::try_from(p).map_err(|_| UrlError::Invalid("port out of range (1-65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn invalid(s: &str) -> &'static str {
        match Url::parse(s) {
            Err(UrlError::Invalid(why)) => why,
            other => panic!("{s}: expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn splits_host_port_and_target() {
        let u = ok("http://localhost:8080/a/b?c=d#frag");
        assert_eq!(
            (u.host(), u.port(), u.authority(), &*u.target()),
            ("localhost", 8080, "localhost:8080", "/a/b?c=d")
        );
        assert_eq!(u.ip(), None);
        let u = ok("HTTP://Example.com");
        assert_eq!((u.host(), u.port(), &*u.target()), ("Example.com", 80, "/"));
        let u = ok("http://h:/x");
        assert_eq!(u.port(), 80);
        let u = ok("  http://h/x  \n");
        assert_eq!(u.as_str(), "http://h/x");
    }

    #[test]
    fn ip_literals_need_no_dns() {
        let u = ok("http://127.0.0.1:9/");
        assert_eq!(u.ip(), Some("127.0.0.1".parse().unwrap()));
        let u = ok("http://[::1]:8080/x");
        assert_eq!((u.host(), u.port(), u.authority()), ("::1", 8080, "[::1]:8080"));
        assert_eq!(u.ip(), Some("::1".parse().unwrap()));
        let u = ok("http://[::1]");
        assert_eq!(u.port(), 80);
    }

    #[test]
    fn query_only_target_gets_a_slash() {
        let u = ok("http://h?x=1");
        assert_eq!(u.target(), "/?x=1");
    }

    #[test]
    fn rejects_what_cannot_go_on_the_wire() {
        assert_eq!(invalid(""), "empty");
        assert_eq!(invalid("localhost/x"), "missing scheme (expected http://host/...)");
        assert_eq!(invalid("http://"), "missing host");
        assert_eq!(invalid("http:///x"), "missing host");
        assert_eq!(invalid("http://h:99999/"), "port out of range (1-65535)");
        assert_eq!(invalid("http://h:0/"), "port 0");
        assert_eq!(invalid("http://h:8o/"), "port is not a number");
        assert_eq!(invalid("http://a b/"), "contains white space");
        assert_eq!(invalid("http://h/\u{1}"), "contains a control character");
        assert_eq!(invalid("http://h/é"), "contains non-ASCII characters (percent-encode them)");
        assert_eq!(invalid("http://[::1/"), "unclosed '[' in IPv6 address");
        assert_eq!(invalid("http://[zz]/"), "malformed IPv6 address");
        assert_eq!(invalid("http://[::1]x/"), "junk after IPv6 address");
        assert_eq!(invalid("http://h%41/"), "host contains characters not allowed in a host name");
        assert_eq!(invalid("://h/"), "malformed scheme");
    }

    #[test]
    fn from_string_keeps_the_allocation_and_returns_the_text_on_failure() {
        let text = String::from("http://h:8080/x");
        let ptr = text.as_ptr();
        let url = Url::from_string(text).unwrap();
        assert_eq!((url.as_str().as_ptr(), url.port(), &*url.target()), (ptr, 8080, "/x"));
        let (e, back) = Url::from_string(" not a url\n".into()).unwrap_err();
        assert_eq!((e, back.as_str()), (UrlError::Invalid("contains white space"), "not a url"));
    }

    #[test]
    fn credentials_become_basic_auth_and_the_password_leaves_the_text() {
        let url = ok("http://Aladdin:open%20sesame@h:8080/x");
        assert_eq!(url.as_str(), "http://Aladdin@h:8080/x");
        assert_eq!(url.basic_auth(), Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), "RFC 7617's example");
        assert_eq!((url.host(), url.authority(), url.port()), ("h", "h:8080", 8080));
        assert_eq!(ok("http://u@h/").basic_auth(), Some("Basic dTo="), "no password: an empty one");
        assert_eq!(ok("http://u:p:q@h/").basic_auth(), Some(&*format!("Basic {}", base64(b"u:p:q"))));
        assert_eq!(ok("http://h/a@b").basic_auth(), None, "an @ in the path is not user information");
        let (e, text) = Url::from_string("http://u:secret@h:99999/".into()).unwrap_err();
        assert_eq!((e, text.as_str()), (UrlError::Invalid("port out of range (1-65535)"), "http://u@h:99999/"));
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn references_resolve_as_rfc_3986_says() {
        // RFC 3986 §5.4.1's normal examples, less those with a fragment or another
        // scheme, against its base (with `;p` kept as part of the last segment).
        let base = ok("http://a/b/c/d;p?q");
        for (reference, expected) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("g#s", "http://a/b/c/g"),
            (";x", "http://a/b/c/;x"),
            ("g;x", "http://a/b/c/g;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/../h", "http://a/b/c/h"),
            ("http://x:8080/p/../q", "http://x:8080/q"),
            ("https://s/", "https://s/"),
        ] {
            assert_eq!(base.join(reference).map(|u| u.as_str().to_owned()), Ok(expected.to_owned()), "{reference:?}");
        }
        assert_eq!(ok("https://h:8443/x").join("/y").unwrap().as_str(), "https://h:8443/y", "scheme and port kept");
        assert!(base.join("ftp://x/").is_err());
        assert!(base.join("http://").is_err());
    }

    #[test]
    fn a_url_longer_than_the_limit_is_invalid() {
        let at_limit = format!("http://h/{}", "a".repeat(MAX_LEN - "http://h/".len()));
        assert_eq!(ok(&at_limit).as_str().len(), MAX_LEN);
        assert_eq!(invalid(&format!("{at_limit}a")), "longer than 64 KiB");
    }

    #[test]
    fn other_schemes_are_unsupported_not_invalid() {
        assert_eq!(Url::parse("FTP://h/").unwrap_err(), UrlError::UnsupportedScheme("ftp".into()));
        assert!(UrlError::UnsupportedScheme("ftp".into()).to_string().contains("only http:// and https://"));
        let url = ok("HTTPS://h/x");
        assert!(url.is_https() && url.port() == 443);
        assert!(!ok("http://h/").is_https() && ok("http://h/").port() == 80);
        assert_eq!(ok("https://h:8443/").port(), 8443);
    }

    #[test]
    fn the_usual_prefixes_and_authorities_in_their_edge_cases() {
        let u = ok("HtTpS://H:8443/p");
        assert_eq!((u.is_https(), u.host(), u.port(), &*u.target()), (true, "H", 8443, "/p"));
        let u = ok("hTTP://h");
        assert_eq!((u.is_https(), u.port(), &*u.target()), (false, 80, "/"));
        assert_eq!(invalid("http:/x"), "missing scheme (expected http://host/...)");
        assert_eq!(invalid("http\u{1a}//h/"), "contains a control character");
        assert_eq!(invalid("http://"), "missing host");
        assert_eq!(invalid("https://"), "missing host");
        assert_eq!(invalid("http://:80/"), "missing host");
        assert_eq!(ok("http://h:00080/").port(), 80);
        assert_eq!(ok(&format!("http://h:{}80/", "0".repeat(30))).port(), 80);
        assert_eq!(ok("http://h:65535").port(), 65535);
        assert_eq!(invalid("http://h:65536"), "port out of range (1-65535)");
        assert_eq!(invalid("http://h:00000/"), "port 0");
        assert_eq!(invalid("http://h:80:81/"), "host contains characters not allowed in a host name");
        assert_eq!(invalid("http://h:8_/"), "port is not a number");
        let u = ok("http://[::1]:8080/p");
        assert_eq!((u.host(), u.authority(), u.port(), &*u.target()), ("::1", "[::1]:8080", 8080, "/p"));
        let u = ok("http://u@h:81/");
        assert_eq!((u.host(), u.authority(), u.port(), u.as_str()), ("h", "h:81", 81, "http://u@h:81/"));
        let u = ok("http://h:82#frag/x?y");
        assert_eq!((u.authority(), u.port(), &*u.target()), ("h:82", 82, "/"));
        assert_eq!(ok("http://h?q#f").target(), "/?q");
        assert_eq!(ok("http://h/a@b:c").authority(), "h", "'@' and ':' after '/' are the path's");
        let longest = "a".repeat(253);
        assert_eq!(ok(&format!("http://{longest}:9/")).host(), longest);
        assert_eq!(invalid(&format!("http://{longest}a:9/")), "host name longer than 253 characters");
    }

    #[test]
    fn a_bad_character_anywhere_is_reported_before_anything_else() {
        assert_eq!(invalid("http://h:99999/\u{1}"), "contains a control character");
        assert_eq!(invalid("http://[zz]/\u{7f}"), "contains a control character");
        assert_eq!(invalid("ftp://h/#\u{1}"), "contains a control character");
        assert_eq!(invalid("http://h/#é"), "contains non-ASCII characters (percent-encode them)");
        assert_eq!(invalid("http://h:9é/"), "contains non-ASCII characters (percent-encode them)");
        assert_eq!(invalid("http://u\tv@h/"), "contains white space");
    }

    #[test]
    fn from_string_trims_unicode_white_space_as_str_trim_does() {
        let url = Url::from_string("\u{2003}http://h/x\u{a0}".into()).unwrap();
        assert_eq!(url.as_str(), "http://h/x");
        let (e, text) = Url::from_string("http://h/é".into()).unwrap_err();
        assert_eq!(
            (e, text.as_str()),
            (UrlError::Invalid("contains non-ASCII characters (percent-encode them)"), "http://h/é")
        );
        assert_eq!(Url::from_string(String::new()).unwrap_err().0, UrlError::Invalid("empty"));
        assert_eq!(Url::from_string(" \n".into()).unwrap_err().0, UrlError::Invalid("empty"));
    }

    /// A `locate` result in a form that can be compared and printed.
    type Parts = (Range<usize>, Range<usize>, u16, Range<usize>, bool, bool);

    fn parts(located: Result<Located, UrlError>) -> Result<Parts, UrlError> {
        located.map(|l| (l.host, l.authority, l.port, l.target, l.userinfo, l.https))
    }

    fn agrees_with_the_reference(text: &str) {
        assert_eq!(parts(locate(text)), parts(locate_reference(text)), "{text:?}");
    }

    #[test]
    fn locate_agrees_with_the_reference_on_tricky_urls() {
        let long_host = "h".repeat(253);
        let longer_host = "h".repeat(254);
        let tricky = [
            "http://127.0.0.1:18090/123456",
            "https://example.com",
            "HtTpS://h/",
            "HTTP://h:1/",
            "http:/x",
            "http:x",
            "http://",
            "https://",
            "http:///x",
            "http://?",
            "http://#",
            "http://h",
            "http://h:",
            "http://h:/",
            "http://h:0",
            "http://h:65535",
            "http://h:65536",
            "http://h:99999/",
            "http://h:000000000000000000000000443/",
            "http://h:000080/",
            "http://h:065535",
            "http://h:00000",
            "http://h:123456/",
            "http://h:1:2/",
            "http://h:1a/",
            "http://h:+1/",
            "http://h%41/",
            "http://h_-./",
            "http://[::1]:8080/p",
            "http://[::1]",
            "http://[::1]:/",
            "http://[::1]x",
            "http://[::1/",
            "http://x[::1]/",
            "http://u@h/",
            "http://u:p@h:8/",
            "http://u@@h/",
            "http://@h/",
            "http://u@/",
            "http://u@[::1]:9/",
            "http://h#frag",
            "http://h?q",
            "http://h?q#f",
            "http://h#a@b:c/d",
            "http://h/a@b",
            "http://h/a:b",
            "http://h/#",
            "http://h/#\u{1}",
            "http://h/a#b#c",
            "http://h/\u{7f}",
            "http://h /",
            "http://h:80 /",
            "http\u{1a}//h/",
            "hxxp://h/",
            "ftp://h/",
            "FTP://h/\u{1}",
            "://h",
            "x y://h",
            "h+t.p-://h",
            "1http://h",
            "localhost",
            "é",
            "http://é/",
            "http://h/é",
            "a",
        ];
        for text in
            tricky.iter().copied().chain([&*format!("http://{long_host}/"), &*format!("http://{longer_host}:1/")])
        {
            agrees_with_the_reference(text);
        }
        let long_path = format!("http://h/{}#{}", "p".repeat(40), "f".repeat(40));
        agrees_with_the_reference(&long_path);
        // A bad byte, or a second '#', at every place of a path longer than a vector.
        for bad in [" ", "\u{1}", "#", "é"] {
            for at in 7..=long_path.len() {
                let mut text = long_path.clone();
                text.insert_str(at, bad);
                agrees_with_the_reference(&text);
            }
        }
    }

    #[test]
    fn locate_agrees_with_the_reference_on_random_urls() {
        // Text made of the bytes URLs are parsed by, after a start that is often
        // a scheme the fast paths take, so that they are taken and left in every way.
        const STARTS: [&str; 8] = ["http://", "https://", "HtTpS://", "HTTP://", "http:/", "ftp://", "", "http://u@"];
        const PIECES: [&str; 30] = [
            "h", "H", "t", "T", "p", "P", "s", "S", ":", ":", "/", "?", "#", "@", "[", "]", ".", "0", "1", "8", "9",
            "6", "5", "a", "_", "%", "::1", " ", "\u{1}", "é",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| (crate::rand::xorshift64star(&mut state) % n as u64) as usize;
        for _ in 0..100_000 {
            let mut text = String::from(STARTS[next(STARTS.len())]);
            for _ in 0..next(16) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            agrees_with_the_reference(&text);
        }
    }

    /// `locate` as it was before its fast paths, a pass over the text for each question,
    /// kept to check the fast one against.
    fn locate_reference(text: &str) -> Result<Located, UrlError> {
        if text.is_empty() {
            return Err(UrlError::Invalid("empty"));
        }
        if text.len() > MAX_LEN {
            return Err(UrlError::Invalid("longer than 64 KiB"));
        }
        // The general scheme path is the old code as it was (every byte checked first).
        let (https, auth_start) = any_scheme(text)?;
        let bytes = text.as_bytes();
        let (mut auth_end, mut at) = (text.len(), None);
        for (i, &b) in bytes[auth_start..].iter().enumerate() {
            match b {
                b'/' | b'?' | b'#' => {
                    auth_end = auth_start + i;
                    break;
                }
                b'@' => at = Some(i),
                _ => {}
            }
        }
        let auth_start = at.map_or(auth_start, |at| auth_start + at + 1);
        let authority = &text[auth_start..auth_end];
        let (host, port_text) = split_host_port(authority)?;
        let port = match port_text {
            None | Some("") if https => 443,
            None | Some("") => 80,
            Some(p) => parse_port(p)?,
        };
        let host_start = auth_start + (host.as_ptr() as usize - authority.as_ptr() as usize);
        let target_end = bytes[auth_end..].iter().position(|&b| b == b'#').map_or(text.len(), |i| auth_end + i);
        Ok(Located {
            host: host_start..host_start + host.len(),
            authority: auth_start..auth_end,
            port,
            target: auth_end..target_end,
            userinfo: at.is_some(),
            https,
        })
    }

    /// The host-name byte table says what the old predicate said, for every byte; so
    /// the reference above may share `split_host_port` (unchanged but for the table).
    #[test]
    fn the_host_name_table_is_the_predicate() {
        for b in 0..=255u8 {
            let allowed = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
            assert_eq!(is_host_name_byte(b), allowed, "{b:#x}");
        }
    }
}
