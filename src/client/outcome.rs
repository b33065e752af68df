//! What every request ends in: exactly one [`Outcome`].
//!
//! A mass fetch is only trustworthy if nothing is lost: each request, however it
//! fails, produces one outcome carrying either the response or a typed error whose
//! kind can be counted and whose message names the cause ("connect to
//! 127.0.0.1:9: Connection refused"). Outcomes borrow from the client's buffers and
//! are handed to a [`Sink`] while still borrowed, so reporting them allocates nothing.

use std::fmt;
use std::time::Duration;

use crate::http1::{Head, Headers, Version};

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

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

/// A complete response. The body was read to its end and counted.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    pub version: Version,
    pub status: u16,
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
    /// Position of the request in the input, from 0.
    pub index: u64,
    pub url: &'a str,
    pub result: Result<Response<'a>, &'a Error>,
    /// For a request that failed after its response head arrived (a body that stalled,
    /// was cut off or was too large): that head, and in `body_len` the body bytes that
    /// did arrive, as curl reports them. `None` on success and when no head arrived.
    pub partial: Option<Response<'a>>,
    /// From admission (a concurrency slot was taken) to the outcome.
    pub elapsed: Duration,
    /// Redirects followed (`Config::max_redirects`), and the URL the outcome is for when
    /// there were any (`url` stays the one the request started with).
    pub redirects: u32,
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
    fn outcome(&mut self, outcome: &Outcome<'_>);

    /// The head of request `index`'s response (status, headers), as soon as it has
    /// arrived, before any piece of its body: a sink that saves bodies can decide here
    /// where (or whether) to put them. Called at most once per request, and only for
    /// the response its outcome will be about: the heads of redirects that are
    /// followed, and of responses that will be retried, are withheld, as their bodies
    /// are. A request that fails before a usable head arrives never has it called. The
    /// default ignores it.
    fn head(&mut self, _index: u64, _head: &Head<'_>) {}

    /// A piece of the body of request `index`, as it arrives (chunked framing already
    /// removed). Called after its [`Sink::head`] and before its outcome; the default ignores it, since
    /// the body is always counted anyway. A request that later fails may have had some
    /// body delivered.
    fn body(&mut self, _index: u64, _chunk: &[u8]) {}

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
