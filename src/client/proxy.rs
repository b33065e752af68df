//! HTTP proxies, as curl uses them: plain HTTP goes through the proxy in absolute form
//! (`GET http://host/path`), HTTPS through a `CONNECT host:port` tunnel, with TLS to
//! the origin inside it. The proxy resolves the target's name; we resolve only the
//! proxy's. Credentials in the proxy's URL become `Proxy-Authorization: Basic`.
//!
//! `no_proxy` follows curl: a comma-separated list of host names, each matching itself
//! and its subdomains (a leading dot is allowed), IP addresses matching exactly, and
//! `*` matching everything.

use std::net::IpAddr;
use std::sync::Arc;

use crate::url::Url;

/// Which proxy, if any, each scheme's requests go through.
#[derive(Clone, Debug, Default)]
pub struct Proxies {
    /// For `http://` URLs.
    pub http: Option<Url>,
    /// For `https://` URLs.
    pub https: Option<Url>,
    /// Hosts reached directly (curl's `no_proxy`).
    pub no_proxy: Vec<String>,
}

/// The proxy an origin goes through.
#[derive(Debug)]
pub(super) struct Route {
    /// Lower-cased host name or IP literal of the proxy, and its port.
    pub host: Box<str>,
    pub port: u16,
    pub ip: Option<IpAddr>,
    /// `Basic …` from the proxy URL's credentials.
    pub basic: Option<Box<str>>,
}

impl Proxies {
    /// The proxy for a request to `host` over `https` (or not), if it goes through one.
    pub(super) fn route(&self, https: bool, host: &str) -> Option<Arc<Route>> {
        let proxy = if https { self.https.as_ref() } else { self.http.as_ref() }?;
        if self.bypassed(host) {
            return None;
        }
        Some(Arc::new(Route {
            host: proxy.host().to_ascii_lowercase().into(),
            port: proxy.port(),
            ip: proxy.ip(),
            basic: proxy.basic_auth().map(Into::into),
        }))
    }

    fn bypassed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.no_proxy.iter().map(|entry| entry.trim()).filter(|entry| !entry.is_empty()).any(|entry| {
            let entry = entry.trim_start_matches('.').trim_end_matches('.');
            entry == "*"
                || host.eq_ignore_ascii_case(entry)
                || (host.len() > entry.len()
                    && host[host.len() - entry.len()..].eq_ignore_ascii_case(entry)
                    && host.as_bytes()[host.len() - entry.len() - 1] == b'.')
        })
    }
}

/// The `CONNECT` request that opens a tunnel to `authority` (`host:port`).
pub(super) fn connect_request(authority: &str, route: &Route) -> Vec<u8> {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(basic) = &route.basic {
        request += &format!("Proxy-Authorization: {basic}\r\n");
    }
    request += "\r\n";
    request.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matches_names_their_subdomains_and_star() {
        let proxies = |list: &[&str]| Proxies {
            http: Some(Url::parse("http://user:pw@proxy.test:3128").unwrap()),
            https: None,
            no_proxy: list.iter().map(|s| s.to_string()).collect(),
        };
        let p = proxies(&["example.com", ".internal", "127.0.0.1"]);
        assert!(p.route(false, "example.com").is_none());
        assert!(p.route(false, "www.Example.com").is_none(), "a subdomain");
        assert!(p.route(false, "a.internal").is_none());
        assert!(p.route(false, "127.0.0.1").is_none());
        assert!(p.route(false, "notexample.com").is_some(), "not a subdomain");
        assert!(p.route(true, "other.test").is_none(), "no https proxy set");
        let route = p.route(false, "other.test").unwrap();
        assert_eq!(
            (&*route.host, route.port, route.basic.as_deref()),
            ("proxy.test", 3128, Some("Basic dXNlcjpwdw=="))
        );
        assert!(proxies(&["*"]).route(false, "anything").is_none());
        let connect = connect_request("origin.test:443", &route);
        assert_eq!(
            String::from_utf8(connect).unwrap(),
            "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n\r\n"
        );
    }
}
