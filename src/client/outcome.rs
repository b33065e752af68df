//! What every request ends in: exactly one [`Outcome`].
//!
//! A mass fetch is only trustworthy if nothing is lost: each request, however it
//! fails, produces one outcome carrying either the response or a typed error whose
//! kind can be counted and whose message names the cause ("connect to
//! 127.0.0.1:9: Connection refused"). Outcomes borrow from the client's buffers and
//! are handed to a [`Sink`] while still borrowed, so reporting them allocates nothing.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::http1::{Head, Headers, Version};

/// A request's identity within its client: its place in the order requests were taken
/// (submitted, or pulled from the source), from 0. [`Submitter::submit`] returns it, and
/// every [`Sink`] call about the request carries it — the key for whatever the caller
/// keeps per request, as curl's `CURLOPT_PRIVATE`. It is never reused by one client.
///
/// [`Submitter::submit`]: super::Submitter::submit
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The class of a failure, stable enough to count and to print as a short word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The URL could not be parsed.
    InvalidUrl,
    /// The URL's scheme is neither `http` nor `https`.
    UnsupportedScheme,
    /// Name resolution failed: the name does not exist, has no address, or the
    /// server refused or failed.
    Dns,
    /// No DNS server answered within the DNS timeout.
    DnsTimeout,
    /// No connection could be established to any address of the host.
    Connect,
    /// The server's certificate is not to be trusted: unknown issuer, expired, not for
    /// this name, … (the message says which).
    TlsCertificate,
    /// Any other TLS failure: a handshake failure, an alert, a protocol error, or a
    /// close-delimited body cut without `close_notify`.
    Tls,
    /// The TCP handshake did not finish within the connect timeout.
    ConnectTimeout,
    /// The response head did not arrive within the head timeout of sending the request.
    HeadTimeout,
    /// The body stalled: no bytes arrived for the read timeout.
    ReadTimeout,
    /// The request's overall deadline passed.
    Timeout,
    /// The server broke HTTP/1.1 framing or syntax.
    Protocol,
    /// The connection was closed or reset before the response was complete.
    Reset,
    /// A response head or body exceeded a configured limit.
    TooLarge,
    /// The proxy could not be reached, or would not open a tunnel (the message says
    /// what it answered).
    Proxy,
    /// A compressed body could not be decoded: corrupt, cut short, or in a coding we
    /// do not know (`Config::decompress`).
    Decode,
    /// A redirect to follow had no usable `Location` (missing, or not a URL).
    Redirect,
    /// More redirects than allowed (`--max-redirs`), as a loop makes.
    TooManyRedirects,
    /// The response's status was 400 or more and the caller treats that as a failure
    /// (`fetch --fail`, as curl's); the message has the status.
    HttpStatus,
    /// The client was told to stop (a signal, a closed output) before the request
    /// finished; the message says why.
    Cancelled,
}

impl ErrorKind {
    /// Every kind, in declaration order (for tallies that list each one).
    pub const ALL: [ErrorKind; 20] = [
        ErrorKind::InvalidUrl,
        ErrorKind::UnsupportedScheme,
        ErrorKind::Dns,
        ErrorKind::DnsTimeout,
        ErrorKind::Connect,
        ErrorKind::TlsCertificate,
        ErrorKind::Tls,
        ErrorKind::ConnectTimeout,
        ErrorKind::HeadTimeout,
        ErrorKind::ReadTimeout,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::Reset,
        ErrorKind::TooLarge,
        ErrorKind::Proxy,
        ErrorKind::Decode,
        ErrorKind::Redirect,
        ErrorKind::TooManyRedirects,
        ErrorKind::HttpStatus,
        ErrorKind::Cancelled,
    ];

    /// Its short name, as printed and counted: `connect-timeout`, `reset`, …
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUrl => "invalid-url",
            ErrorKind::UnsupportedScheme => "unsupported-scheme",
            ErrorKind::Dns => "dns",
            ErrorKind::DnsTimeout => "dns-timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::TlsCertificate => "tls-certificate",
            ErrorKind::Tls => "tls",
            ErrorKind::ConnectTimeout => "connect-timeout",
            ErrorKind::HeadTimeout => "head-timeout",
            ErrorKind::ReadTimeout => "read-timeout",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Reset => "reset",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::Proxy => "proxy",
            ErrorKind::Decode => "decode",
            ErrorKind::Redirect => "redirect",
            ErrorKind::TooManyRedirects => "too-many-redirects",
            ErrorKind::HttpStatus => "http-status",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request failed: a kind to `match` on, a message for people, and, where the
/// failure came from the system or from TLS, that error as its
/// [`source`](std::error::Error::source).
///
/// A struct rather than an enum with a variant per cause: every failure has the same
/// three parts, tallies count by `kind` alone, and the message says what a variant's
/// fields would (the address, the limit, the status), ready to print. The underlying
/// error, when there is one, is kept for a program that wants more: the `errno` of a
/// refused connect, say.
///
/// ```
/// use onethread::client::{Error, ErrorKind};
/// let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
/// let e = Error::new(ErrorKind::Connect, "connect to 127.0.0.1:9: refused").with_source(refused);
/// match e.kind {
///     ErrorKind::Connect | ErrorKind::ConnectTimeout => {}
///     other => panic!("{other}"),
/// }
/// let io = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>());
/// assert_eq!(io.and_then(|io| io.raw_os_error()), Some(libc::ECONNREFUSED));
/// assert_eq!(e.to_string(), "connect: connect to 127.0.0.1:9: refused");
/// ```
#[derive(Clone, Debug)]
pub struct Error {
    /// What class of failure: the part to `match` on.
    pub kind: ErrorKind,
    /// What happened, for people: names the host, address, limit or status involved.
    pub message: String,
    /// The system's or TLS's own error, if the failure came from one.
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error of `kind`, described by `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    /// The same error, caused by `source`.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The same error, caused by `e`, which the caller keeps: its `errno`, or the TLS
    /// error inside it, is copied; anything else only as text.
    pub(super) fn with_io(self, e: &io::Error) -> Self {
        let copy = match (e.raw_os_error(), e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())) {
            (Some(errno), _) => io::Error::from_raw_os_error(errno),
            (None, Some(tls)) => io::Error::new(e.kind(), tls.clone()),
            (None, None) => io::Error::new(e.kind(), e.to_string()),
        };
        self.with_source(copy)
    }
}

/// Errors are equal when their kind and message are (the source is not compared).
impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A complete response. The body was read to its end and counted.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    /// The HTTP version the server answered with.
    pub version: Version,
    /// The status code (100–599; interim 1xx responses are skipped).
    pub status: u16,
    /// The header fields, as received (names matched without case).
    pub headers: Headers<'a>,
    /// Body bytes: decoded, when the response had a content coding and
    /// `Config::decompress` is on; else as received.
    pub body_len: u64,
    /// Body bytes as they arrived (after chunked framing, before decoding).
    pub wire_len: u64,
}

/// The one result of one request.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// Which request this is (its position in the input, from 0).
    pub index: RequestId,
    /// The URL the request was made for.
    pub url: &'a str,
    /// The complete response, or why there is none.
    pub result: Result<Response<'a>, &'a Error>,
    /// For a request that failed after its response head arrived (a body that stalled,
    /// was cut off or was too large): that head, and in `body_len` the body bytes that
    /// did arrive, as curl reports them. `None` on success and when no head arrived.
    pub partial: Option<Response<'a>>,
    /// From admission (a concurrency slot was taken) to the outcome: to the moment the
    /// event that ended the request (the read with the response's last bytes, say) was
    /// taken up.
    pub elapsed: Duration,
    /// Redirects followed (`Config::max_redirects`), and the URL the outcome is for when
    /// there were any (`url` stays the one the request started with).
    pub redirects: u32,
    /// After redirects: the URL the response came from.
    pub final_url: Option<&'a str>,
    /// Attempts made: 1, or more when transient failures were retried (`Config::retry`).
    pub attempts: u32,
}

impl<'a> Outcome<'a> {
    /// The response as far as it arrived: complete on success, else the partial one.
    pub fn response(&self) -> Option<&Response<'a>> {
        self.result.as_ref().ok().or(self.partial.as_ref())
    }
}

/// Where outcomes go. Any `FnMut(&Outcome)` is a sink.
pub trait Sink {
    /// The one end of a request: its response, complete, or why it failed. Called
    /// exactly once per request (submitted, pulled from the source, or cancelled).
    fn outcome(&mut self, outcome: &Outcome<'_>);

    /// The head of request `index`'s response (status, headers), as soon as it has
    /// arrived, before any piece of its body: a sink that saves bodies can decide here
    /// where (or whether) to put them. Called at most once per request, and only for
    /// the response its outcome will be about: the heads of redirects that are
    /// followed, and of responses that will be retried, are withheld, as their bodies
    /// are. A request that fails before a usable head arrives never has it called. The
    /// default ignores it.
    fn head(&mut self, _index: RequestId, _head: &Head<'_>) {}

    /// A piece of the body of request `index`, as it arrives (chunked framing already
    /// removed). Called after its [`Sink::head`] and before its outcome; the default ignores it, since
    /// the body is always counted anyway. A request that later fails may have had some
    /// body delivered.
    fn body(&mut self, _index: RequestId, _chunk: &[u8]) {}

    /// Back-pressure. While this is `false` the client admits no new request; those
    /// already in flight go on, and their outcomes still arrive. A sink that writes to
    /// a slow consumer says `false` while its buffer is full, so the run slows down to
    /// the consumer's pace instead of buffering without bound or blocking the thread.
    /// The client asks again at the end of every turn. The default always wants more.
    fn wants_more(&self) -> bool {
        true
    }
}

impl<F: FnMut(&Outcome<'_>)> Sink for F {
    fn outcome(&mut self, outcome: &Outcome<'_>) {
        self(outcome)
    }
}
