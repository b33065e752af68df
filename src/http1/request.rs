//! The request encoder: one HTTP/1.1 request head (and body) appended to a buffer.
//!
//! Encoding is the easy direction, with one real danger: the fields we write
//! come from our caller, and a CR or LF smuggled into a value, a target or a
//! method would let that caller's input write extra header lines, or a whole
//! second request, onto the wire. So everything is validated first, against
//! the grammar of RFC 9110/9112, and only then written; on error, `out` is
//! untouched.
//!
//! Framing is ours alone. The encoder writes `Host` (RFC 9112 §3.2: first, and
//! exactly once) and frames the body with `Content-Length`; a caller-supplied
//! `Host`, `Content-Length` or `Transfer-Encoding` would duplicate or
//! contradict that, so it is refused rather than silently dropped.
//!
//! Next: `response.rs`, the other direction.

use std::fmt;

/// Everything about a request except its body.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// e.g. `"GET"`; must be an RFC 9110 token.
    pub method: &'a str,
    /// The request target, e.g. `"/a?b"`: visible ASCII only, no spaces.
    pub target: &'a str,
    /// The Host field value, e.g. `"localhost:8080"` or `"[::1]:80"`.
    pub host: &'a str,
    /// Extra fields. Names must be tokens; values may not contain CR, LF, NUL
    /// or other control characters except HTAB.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Why a request could not be encoded. Positions refer to the request as
/// given: `index` is into `RequestHead::headers`, `byte` is the first
/// offending byte (`None` where the problem is emptiness).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The method is empty or contains a non-token byte.
    Method {
        /// The first offending byte; `None` if the method is empty.
        byte: Option<u8>,
    },
    /// The target is empty or contains a space, control or non-ASCII byte.
    Target {
        /// The first offending byte; `None` if the target is empty.
        byte: Option<u8>,
    },
    /// The host is empty or contains a space, control or non-ASCII byte.
    Host {
        /// The first offending byte; `None` if the host is empty.
        byte: Option<u8>,
    },
    /// A field name is empty or contains a non-token byte.
    HeaderName {
        /// Which field: an index into the fields as given.
        index: usize,
        /// The first offending byte; `None` if the name is empty.
        byte: Option<u8>,
    },
    /// A field value contains a forbidden control byte.
    HeaderValue {
        /// Which field: an index into the fields as given.
        index: usize,
        /// The first forbidden byte.
        byte: u8,
    },
    /// A field the encoder writes itself (`Host`, `Content-Length`, `Transfer-Encoding`).
    ReservedHeader {
        /// Which field: an index into the fields as given.
        index: usize,
        /// The reserved name, in its canonical spelling.
        name: &'static str,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::Method { byte } => describe(f, format_args!("request method"), byte, "a token"),
            EncodeError::Target { byte } => describe(f, format_args!("request target"), byte, "visible ASCII"),
            EncodeError::Host { byte } => describe(f, format_args!("Host value"), byte, "visible ASCII"),
            EncodeError::HeaderName { index, byte } => {
                describe(f, format_args!("name of headers[{index}]"), byte, "a token")
            }
            EncodeError::HeaderValue { index, byte } => write!(
                f,
                "value of headers[{index}] contains '{}' (control bytes other than tab are forbidden)",
                byte.escape_ascii()
            ),
            EncodeError::ReservedHeader { index, name } => {
                write!(f, "headers[{index}] is {name}, which the encoder writes itself")
            }
        }
    }
}

fn describe(f: &mut fmt::Formatter<'_>, what: fmt::Arguments<'_>, byte: Option<u8>, must_be: &str) -> fmt::Result {
    match byte {
        None => write!(f, "{what} is empty"),
        Some(byte) => write!(f, "{what} contains '{}' but must be {must_be}", byte.escape_ascii()),
    }
}

impl std::error::Error for EncodeError {}

/// Fields the encoder writes itself, and so refuses from its caller.
const RESERVED: [&str; 3] = ["Host", "Content-Length", "Transfer-Encoding"];

/// Appends one HTTP/1.1 request to `out`: the request line, `Host`, the
/// caller's fields in order, `Content-Length` when the body is non-empty or
/// the method is POST, PUT or PATCH (whose empty bodies still need announcing,
/// RFC 9110 §8.6), the blank line, then the body. Writes nothing on error.
pub fn encode_request(out: &mut Vec<u8>, head: &RequestHead<'_>, body: &[u8]) -> Result<(), EncodeError> {
    validate(head)?;
    let fields_len: usize = head.headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum();
    out.reserve(head.method.len() + head.target.len() + head.host.len() + fields_len + body.len() + 64);
    write_head(out, head.method, head.target, head.host, |out| write_fields(out, head.headers));
    finish(out, head.method, body);
    Ok(())
}

/// What stays the same across a run's requests — method, fields, body — checked and
/// encoded once, so each request costs only its own request line and `Host`. A mass
/// fetch sends one request shape thousands of times a second; validating the same
/// `User-Agent` each time would be a measurable share of its work.
#[derive(Clone, Debug)]
pub struct RequestTemplate {
    method: String,
    /// `Name: value\r\n` for each field, already checked.
    fields: Vec<u8>,
    /// What follows the fields: `Content-Length` if due, the blank line, the body.
    end: Vec<u8>,
}

impl RequestTemplate {
    /// Checks `method` and `headers` as [`encode_request`] does.
    pub fn new(method: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Self, EncodeError> {
        validate(&RequestHead { method, target: "/", host: "h", headers })?;
        let mut fields = Vec::new();
        write_fields(&mut fields, headers);
        let mut end = Vec::new();
        finish(&mut end, method, body);
        Ok(RequestTemplate { method: method.to_owned(), fields, end })
    }

    /// The method every request from this template uses (needed to start the
    /// [`ResponseDecoder`](super::ResponseDecoder): a response to HEAD has no body).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Appends the request for `target` on `host`, with `extra` fields after the
    /// template's (checked here, like `target` and `host`). Writes nothing on error.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        target: &str,
        host: &str,
        extra: &[(&str, &str)],
    ) -> Result<(), EncodeError> {
        // The method was checked when the template was made.
        validate_per_request(target, host, extra)?;
        self.encode_checked(out, target, host, extra);
        Ok(())
    }

    /// [`RequestTemplate::encode`] for parts already known to be valid: a target and
    /// host taken from a parsed [`Url`](crate::url::Url) (visible ASCII only, checked
    /// when it was parsed) and fields the client made itself. The client sends one
    /// request per URL, so checking them again would be paid once per request.
    pub(crate) fn encode_checked(&self, out: &mut Vec<u8>, target: &str, host: &str, extra: &[(&str, &str)]) {
        debug_assert_eq!(validate_per_request(target, host, extra), Ok(()));
        write_head(out, &self.method, target, host, |out| {
            out.extend_from_slice(&self.fields);
            write_fields(out, extra);
        });
        out.extend_from_slice(&self.end);
    }
}

fn write_head(out: &mut Vec<u8>, method: &str, target: &str, host: &str, fields: impl FnOnce(&mut Vec<u8>)) {
    for part in [method, " ", target, " HTTP/1.1\r\nHost: ", host, "\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    fields(out);
}

fn write_fields(out: &mut Vec<u8>, headers: &[(&str, &str)]) {
    for (name, value) in headers {
        for part in [*name, ": ", *value, "\r\n"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
}

/// `Content-Length` when the body is non-empty or the method is POST, PUT or PATCH
/// (whose empty bodies still need announcing, RFC 9110 §8.6), the blank line, the body.
fn finish(out: &mut Vec<u8>, method: &str, body: &[u8]) {
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Whether a request may be repeated without changing its effect
/// (RFC 9110 §9.2.2), and so retried after a connection failure. Method
/// names are case-sensitive (RFC 9110 §9.1).
pub fn is_idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE")
}

fn validate(head: &RequestHead<'_>) -> Result<(), EncodeError> {
    check(head.method, is_tchar).map_err(|byte| EncodeError::Method { byte })?;
    validate_per_request(head.target, head.host, head.headers)
}

/// What [`validate`] checks besides the method: all a template's request adds.
fn validate_per_request(target: &str, host: &str, headers: &[(&str, &str)]) -> Result<(), EncodeError> {
    check(target, is_visible).map_err(|byte| EncodeError::Target { byte })?;
    check(host, is_visible).map_err(|byte| EncodeError::Host { byte })?;
    for (index, (name, value)) in headers.iter().enumerate() {
        check(name, is_tchar).map_err(|byte| EncodeError::HeaderName { index, byte })?;
        if let Some(&name) = RESERVED.iter().find(|reserved| reserved.eq_ignore_ascii_case(name)) {
            return Err(EncodeError::ReservedHeader { index, name });
        }
        if let Some(&byte) = value.as_bytes().iter().find(|&&byte| !is_field_byte(byte)) {
            return Err(EncodeError::HeaderValue { index, byte });
        }
    }
    Ok(())
}

/// Ok if `text` is non-empty and every byte passes; else the first failing
/// byte, or `None` for empty text.
fn check(text: &str, allowed: impl Fn(u8) -> bool) -> Result<(), Option<u8>> {
    if text.is_empty() {
        return Err(None);
    }
    match text.bytes().find(|&byte| !allowed(byte)) {
        Some(byte) => Err(Some(byte)),
        None => Ok(()),
    }
}

/// `tchar` from RFC 9110 §5.6.2: what methods and field names are made of.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Visible ASCII (VCHAR): no spaces, controls or non-ASCII bytes.
fn is_visible(byte: u8) -> bool {
    byte.is_ascii_graphic()
}

/// A byte allowed in a field value (RFC 9110 §5.5): anything but controls,
/// where HTAB is not counted as one. This rules out CR, LF and NUL.
fn is_field_byte(byte: u8) -> bool {
    byte == b'\t' || !byte.is_ascii_control()
}

/// Appends `n` in decimal without going through the formatting machinery.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head<'a>(method: &'a str, headers: &'a [(&'a str, &'a str)]) -> RequestHead<'a> {
        RequestHead { method, target: "/a?b=1", host: "example.com:8080", headers }
    }

    fn encode(head: &RequestHead<'_>, body: &[u8]) -> Result<String, EncodeError> {
        let mut out = b"previous|".to_vec();
        let result = encode_request(&mut out, head, body);
        if result.is_err() {
            assert_eq!(out, b"previous|", "nothing may be written on error");
        }
        result.map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_template_encodes_what_encode_request_does() {
        let fields = [("User-Agent", "onethread"), ("Accept", "*/*")];
        for (method, body) in [("GET", &b""[..]), ("POST", b"x=1"), ("PUT", b"")] {
            let template = RequestTemplate::new(method, &fields, body).unwrap();
            let extra = [("Authorization", "Basic dTo=")];
            let mut out = Vec::new();
            template.encode(&mut out, "/a?b=1", "example.com:8080", &extra).unwrap();
            let all = [fields[0], fields[1], extra[0]];
            assert_eq!(
                String::from_utf8(out).unwrap(),
                encode(&head(method, &all), body).unwrap()["previous|".len()..]
            );
        }
        assert!(RequestTemplate::new("G T", &[], b"").is_err());
        assert!(RequestTemplate::new("GET", &[("Host", "x")], b"").is_err());
        let template = RequestTemplate::new("GET", &[], b"").unwrap();
        let mut out = b"kept".to_vec();
        assert_eq!(template.encode(&mut out, "/a b", "h", &[]), Err(EncodeError::Target { byte: Some(b' ') }));
        assert_eq!(
            template.encode(&mut out, "/", "h", &[("X", "a\nb")]),
            Err(EncodeError::HeaderValue { index: 0, byte: b'\n' })
        );
        assert_eq!(out, b"kept", "nothing written on error");
    }

    #[test]
    fn get_request_bytes() {
        let fields = [("User-Agent", "onethread"), ("Accept", "*/*")];
        assert_eq!(
            encode(&head("GET", &fields), b"").unwrap(),
            "previous|GET /a?b=1 HTTP/1.1\r\n\
             Host: example.com:8080\r\n\
             User-Agent: onethread\r\n\
             Accept: */*\r\n\
             \r\n"
        );
    }

    #[test]
    fn post_request_bytes() {
        let fields = [("Content-Type", "text/plain")];
        assert_eq!(
            encode(&head("POST", &fields), b"hello").unwrap(),
            "previous|POST /a?b=1 HTTP/1.1\r\n\
             Host: example.com:8080\r\n\
             Content-Type: text/plain\r\n\
             Content-Length: 5\r\n\
             \r\n\
             hello"
        );
    }

    #[test]
    fn content_length_is_sent_for_bodies_and_for_methods_that_expect_one() {
        let length_of = |method, body: &[u8]| {
            let text = encode(&head(method, &[]), body).unwrap();
            text.lines().find_map(|line| line.strip_prefix("Content-Length: ")).map(str::to_owned)
        };
        assert_eq!(length_of("GET", b""), None);
        assert_eq!(length_of("DELETE", b""), None);
        assert_eq!(length_of("GET", b"x"), Some("1".into()));
        assert_eq!(length_of("POST", b""), Some("0".into()));
        assert_eq!(length_of("PUT", b""), Some("0".into()));
        assert_eq!(length_of("PATCH", &[0; 1234]), Some("1234".into()));
    }

    #[test]
    fn decimal_encoding_covers_the_extremes() {
        for n in [0, 7, 10, 65_536, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn header_values_with_line_breaks_or_controls_are_rejected() {
        for (value, byte) in [("a\r\nX: y", b'\r'), ("a\nb", b'\n'), ("a\0", 0), ("\x7f", 0x7f)] {
            let fields = [("Accept", "*/*"), ("X-Test", value)];
            let error = encode(&head("GET", &fields), b"").unwrap_err();
            assert_eq!(error, EncodeError::HeaderValue { index: 1, byte });
        }
        // Tabs, spaces and non-ASCII text are fine.
        assert!(encode(&head("GET", &[("X-Test", "a\tb c é")]), b"").is_ok());
    }

    #[test]
    fn methods_must_be_tokens() {
        assert_eq!(encode(&head("", &[]), b""), Err(EncodeError::Method { byte: None }));
        assert_eq!(encode(&head("GE T", &[]), b""), Err(EncodeError::Method { byte: Some(b' ') }));
        assert_eq!(encode(&head("GET\r\n", &[]), b""), Err(EncodeError::Method { byte: Some(b'\r') }));
        assert_eq!(encode(&head("GET/", &[]), b""), Err(EncodeError::Method { byte: Some(b'/') }));
        assert!(encode(&head("M-SEARCH", &[]), b"").is_ok());
    }

    #[test]
    fn targets_and_hosts_must_be_visible_ascii() {
        let mut request = head("GET", &[]);
        request.target = "/a b";
        assert_eq!(encode(&request, b""), Err(EncodeError::Target { byte: Some(b' ') }));
        request.target = "";
        assert_eq!(encode(&request, b""), Err(EncodeError::Target { byte: None }));
        request.target = "/";
        request.host = "evil\r\nX: 1";
        assert_eq!(encode(&request, b""), Err(EncodeError::Host { byte: Some(b'\r') }));
        request.host = "[::1]:80";
        assert!(encode(&request, b"").is_ok());
    }

    #[test]
    fn field_names_must_be_tokens_and_not_reserved() {
        let bad_name = [("X Bad", "1")];
        assert_eq!(encode(&head("GET", &bad_name), b""), Err(EncodeError::HeaderName { index: 0, byte: Some(b' ') }));
        for (index, name) in [(0, "host"), (0, "Content-Length"), (0, "transfer-encoding")] {
            let fields = [(name, "1")];
            let error = encode(&head("GET", &fields), b"").unwrap_err();
            assert!(matches!(error, EncodeError::ReservedHeader { index: i, .. } if i == index));
        }
    }

    #[test]
    fn errors_read_well() {
        let error = EncodeError::HeaderValue { index: 2, byte: b'\n' };
        assert_eq!(
            error.to_string(),
            "value of headers[2] contains '\\n' (control bytes other than tab are forbidden)"
        );
        let error = EncodeError::Method { byte: Some(b' ') };
        assert_eq!(error.to_string(), "request method contains ' ' but must be a token");
        let error = EncodeError::ReservedHeader { index: 0, name: "Host" };
        assert_eq!(error.to_string(), "headers[0] is Host, which the encoder writes itself");
    }

    #[test]
    fn idempotent_methods() {
        for method in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            assert!(is_idempotent(method), "{method}");
        }
        for method in ["POST", "PATCH", "CONNECT", "get"] {
            assert!(!is_idempotent(method), "{method}");
        }
    }
}
