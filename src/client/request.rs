//! Requests as values: a [`Request`] is a URL and a [`Template`] — method, header
//! fields and body, checked and encoded once and shared by every request made from it.
//!
//! A mass fetch sends a million requests that differ only in their URL; a crawler or
//! an API client sends requests that differ in everything. Both are served by one
//! type: a template is an `Arc` of the prepared request, so stamping a URL into it
//! ([`Template::request`]) costs a reference count, not an encoding, and requests with
//! templates of their own mix freely in one client. Whatever varies with the method —
//! whether a request may be retried or pipelined — is decided per request from its
//! template. Next: `schedule.rs`, where a request is admitted.

use std::fmt;
use std::sync::Arc;

use super::Active;
use super::proxy::Route;
use crate::http1;

/// What is sent with a URL: a method, header fields in order, and a body, checked and
/// encoded once. Cheap to clone (an `Arc`); the [`Default`] is a GET with no fields,
/// which costs nothing to make.
///
/// A `Host` field replaces the URL's authority as the Host value (virtual hosts on one
/// address, as curl's `-H 'Host: …'`); `Content-Length` and `Transfer-Encoding` are
/// refused, since the client frames the body itself. Credentials in a URL become
/// `Authorization` unless the template has one; a configured `Authorization` is not
/// sent to another origin after a redirect.
///
/// ```
/// use onethread::client::Template;
/// let post = Template::new("POST", &[("Content-Type", "application/json")], b"{}").unwrap();
/// let request = post.request("http://127.0.0.1:8080/api");
/// assert_eq!((request.method(), request.url()), ("POST", "http://127.0.0.1:8080/api"));
/// assert!(Template::new("GET", &[("Content-Length", "5")], b"").is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Template(pub(super) Option<Arc<Shape>>);

/// Two templates are equal when they are the same one (clones of one [`Template::new`]).
impl PartialEq for Template {
    fn eq(&self, other: &Template) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}

impl Eq for Template {}

impl Template {
    /// A template for `method` with `headers` and `body`; fails if the method is not a
    /// token, a field is malformed or is one the client writes itself, or a `Host`
    /// value is not one.
    pub fn new<K, V>(method: &str, headers: &[(K, V)], body: &[u8]) -> Result<Template, http1::EncodeError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        Ok(Template(Some(Arc::new(Shape::new(method, &headers, body)?))))
    }

    /// A request for `url` with this template.
    pub fn request(&self, url: impl Into<String>) -> Request {
        Request { url: url.into(), template: self.clone() }
    }

    /// The method its requests are sent with.
    pub fn method(&self) -> &str {
        self.0.as_deref().map_or("GET", |shape| shape.method(false))
    }

    /// Its prepared request, or `plain` (the default GET) for the default template.
    pub(super) fn shape<'a>(&'a self, plain: &'a Shape) -> &'a Shape {
        self.0.as_deref().unwrap_or(plain)
    }

    /// Its method may be repeated (the default template's GET may).
    pub(super) fn idempotent(&self) -> bool {
        self.0.as_deref().is_none_or(Shape::idempotent)
    }
}

/// One request: a URL and the [`Template`] it is sent with. Anything that becomes a
/// `String` becomes a GET request: `Request::from("http://…")`.
///
/// Its identity is the [`RequestId`](super::RequestId) the client gives it (returned by
/// [`Submitter::submit`](super::Submitter::submit), or its position in a
/// [`Source`](super::Source)), which every [`Sink`](super::Sink) call about it carries:
/// keep what you need per request in a map by that id, as curl's `CURLOPT_PRIVATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    url: String,
    template: Template,
}

impl Request {
    /// A GET request for `url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request { url: url.into(), template: Template::default() }
    }

    /// The URL, as given (parsed, and failed as `invalid-url` if need be, by the client).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The method it is sent with.
    pub fn method(&self) -> &str {
        self.template.method()
    }

    pub(super) fn into_parts(self) -> (String, Template) {
        (self.url, self.template)
    }
}

impl From<String> for Request {
    fn from(url: String) -> Request {
        Request::get(url)
    }
}

impl From<&str> for Request {
    fn from(url: &str) -> Request {
        Request::get(url)
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method(), self.url)
    }
}

impl Active {
    /// What this request sends: its template's prepared request, or `plain` (the
    /// default GET) for a bare URL.
    pub(super) fn shape<'a>(&'a self, plain: &'a Shape) -> &'a Shape {
        self.template.shape(plain)
    }

    /// Its method may be repeated (retries of stale connections and of transient
    /// failures are for these only, and pipelining).
    pub(super) fn idempotent(&self) -> bool {
        self.template.idempotent()
    }

    /// The method it is sent with now (a redirect may have turned it into a GET).
    pub(super) fn method<'a>(&'a self, plain: &'a Shape) -> &'a str {
        self.shape(plain).method(self.as_get)
    }
}

/// What the requests of a [`Template`] share, checked once: the method, the fields
/// (less a `Host`, which replaces the URL's authority as the Host value: virtual hosts
/// on an address, as curl's `-H 'Host: …'`) and the body. A redirect may need a
/// variant: a GET without the body (after a 303, say), or, on another origin, none of
/// the configured `Authorization`, `Cookie` and `Host` (curl has done the same since
/// 7.83: they were meant for the first origin); all four are made once, up front.
#[derive(Debug)]
pub(super) struct Shape {
    /// By `[as_get][elsewhere]`.
    templates: [[http1::RequestTemplate; 2]; 2],
    host: Option<String>,
    /// The configured fields have an `Authorization`: URL credentials are not added.
    authorization: bool,
    /// The method may be repeated (RFC 9110 §9.2.2): retries and pipelining are for these.
    idempotent: bool,
}

impl Shape {
    fn new(method: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Shape, http1::EncodeError> {
        let is = |name: &str, wanted: &str| name.eq_ignore_ascii_case(wanted);
        let host = headers.iter().rev().find(|(n, _)| is(n, "host")).map(|(_, v)| v.to_string());
        let fields: Vec<(&str, &str)> = headers.iter().copied().filter(|(n, _)| !is(n, "host")).collect();
        let authorization = fields.iter().any(|(n, _)| is(n, "authorization"));
        let anonymous: Vec<(&str, &str)> =
            fields.iter().copied().filter(|(n, _)| !is(n, "authorization") && !is(n, "cookie")).collect();
        let make =
            |method: &str, fields: &[(&str, &str)], body: &[u8]| http1::RequestTemplate::new(method, fields, body);
        let templates = [
            [make(method, &fields, body)?, make(method, &anonymous, body)?],
            [make("GET", &fields, b"")?, make("GET", &anonymous, b"")?],
        ];
        if let Some(host) = &host {
            templates[0][0].encode(&mut Vec::new(), "/", host, &[])?; // a Host value must be one
        }
        Ok(Shape { templates, host, authorization, idempotent: http1::is_idempotent(method) })
    }

    /// GET with no fields: what a bare URL is sent with.
    pub fn plain() -> Shape {
        Shape::new("GET", &[], b"").expect("a plain GET is a valid request")
    }

    /// Whether the method may be repeated.
    pub fn idempotent(&self) -> bool {
        self.idempotent
    }

    /// The method sent: the template's, or GET after a redirect that asks for one.
    pub fn method(&self, as_get: bool) -> &str {
        self.templates[as_get as usize][0].method()
    }

    /// The request for `active`, appended to `buf`. Credentials from its URL become
    /// `Authorization` unless the configured fields have one (and it has not left the
    /// origin it started at, for the configured one).
    ///
    /// Through a plain-HTTP proxy the target is in absolute form (RFC 9112 §3.2.2) and
    /// the proxy's credentials go along; through a tunnel the request is the origin's.
    ///
    /// Every part was checked already: the URL's when it was parsed, the configured
    /// fields and `Host` when the shape was made, and the credentials are base64.
    pub fn encode(&self, buf: &mut Vec<u8>, active: &Active, via: Option<&Route>) {
        let url = &active.url;
        let template = &self.templates[active.as_get as usize][active.elsewhere as usize];
        let host = self.host.as_deref().filter(|_| !active.elsewhere).unwrap_or(url.authority());
        let configured = self.authorization && !active.elsewhere;
        let mut extra: [(&str, &str); 2] = [("", ""); 2];
        let mut n = 0;
        if let Some(basic) = url.basic_auth().filter(|_| !configured) {
            extra[n] = ("Authorization", basic);
            n += 1;
        }
        let proxied = via.filter(|_| !url.is_https());
        if let Some(basic) = proxied.and_then(|route| route.basic.as_deref()) {
            extra[n] = ("Proxy-Authorization", basic);
            n += 1;
        }
        match proxied {
            Some(_) => {
                template.encode_checked(buf, &format!("http://{}{}", url.authority(), url.target()), host, &extra[..n])
            }
            None => template.encode_checked(buf, &url.target(), host, &extra[..n]),
        }
    }
}
