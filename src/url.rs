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
        if input.trim().len() != input.len() {
            input = input.trim().to_owned(); // rare: stray white space around the URL
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
fn locate(text: &str) -> Result<Located, UrlError> {
    if text.is_empty() {
        return Err(UrlError::Invalid("empty"));
    }
    if text.len() > MAX_LEN {
        return Err(UrlError::Invalid("longer than 64 KiB"));
    }
    // `all` over the whole text first (it vectorises); the first offender only when
    // there is one.
    if !text.bytes().all(|b| b.is_ascii_graphic())
        && let Some(c) = text.bytes().find(|b| !b.is_ascii_graphic())
    {
        return Err(UrlError::Invalid(match c {
            b' ' | b'\t' => "contains white space",
            c if c.is_ascii_control() => "contains a control character",
            _ => "contains non-ASCII characters (percent-encode them)",
        }));
    }
    let bytes = text.as_bytes();
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
    // One pass over the authority finds its end and its last '@' (URLs are parsed once
    // per request, so this is on the hot path).
    let auth_start = colon + 3;
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
    // User information (its password already taken out) is not part of the Host.
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
    if !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
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
}
