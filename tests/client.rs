//! The client against the built-in server and against small servers that misbehave on
//! purpose. Each test checks one outcome per request and the precise error kind.

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use onethread::client::{Config, Outcome, Template};
use onethread::dns::DnsConfig;
use onethread::http1::Version;
use onethread::server::ServerConfig;

const OK_14: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello, World!\n";

fn config(concurrency: usize) -> Config {
    Config { concurrency, timeout: Some(Duration::from_secs(10)), ..Config::default() }
}

fn urls(addr: std::net::SocketAddr, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("http://{addr}/{i}")).collect()
}

#[test]
fn builtin_server_keep_alive_within_the_concurrency_limit() {
    let addr = builtin_server(ServerConfig { max_delay: Duration::from_millis(3), ..ServerConfig::default() });
    let (got, stats) = fetch_all(config(50), urls(addr, 2000));
    for g in &got {
        assert_eq!(g.status, Some(200), "{g:?}");
        assert_eq!(g.body_len, 14);
        assert!(g.date.as_deref().is_some_and(|d| d.ends_with("GMT")), "{g:?}");
        let delay: u64 = g.delay.as_deref().unwrap().parse().unwrap();
        assert!(delay <= 3);
    }
    assert!(stats.connections_opened <= 50, "never more sockets than the concurrency: {stats:?}");
    assert_eq!(stats.connections_opened + stats.connections_reused, 2000);
    assert_eq!(stats.dns_lookups, 0, "IP literals need no DNS");
}

/// Answers a connection's first request, then closes as soon as the second arrives:
/// the race where a server drops a keep-alive connection just as the client reuses it.
fn answer_once_then_drop_the_next(mut s: std::net::TcpStream, _: usize) {
    if read_request(&mut s).is_some() {
        s.write_all(OK_14).unwrap();
        let _ = read_request(&mut s);
    }
}

#[test]
fn stale_pooled_connection_is_retried_once_for_idempotent_requests() {
    let (addr, accepted) = scripted_server(answer_once_then_drop_the_next);
    let (got, stats) = fetch_all(config(1), urls(addr, 5));
    assert!(got.iter().all(|g| g.status == Some(200)), "{got:?}");
    assert_eq!(stats.retries, 4, "{stats:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 5, "each retry uses a fresh connection");
}

#[test]
fn non_idempotent_requests_are_not_retried() {
    let (addr, _) = scripted_server(answer_once_then_drop_the_next);
    let post = Template::new("POST", &[] as &[(&str, &str)], b"x=1").unwrap();
    let (got, stats) = fetch_all(config(1), urls(addr, 2).into_iter().map(|url| post.request(url)).collect());
    assert_eq!(got[0].status, Some(200));
    assert_eq!(got[1].error.as_ref().map(|e| e.0), Some("reset"), "{got:?}");
    assert_eq!(stats.retries, 0);
}

/// Answers `/folded` with a field value folded over three lines (obs-fold) and
/// anything else with an HTTP/1.2 status line; both keep the connection open.
fn legacy_heads(s: std::net::TcpStream, _: usize) {
    let folded = b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\n\tc\r\nContent-Length: 14\r\n\r\nHello, World!\n";
    let newer = b"HTTP/1.2 200 OK\r\nX-Folded: plain\r\nContent-Length: 14\r\n\r\nHello, World!\n";
    answer_by_prefix(s, b"GET /folded ", folded, newer);
}

#[test]
fn folded_fields_and_newer_minor_versions_are_read_as_http_1_1() {
    // RFC 9112 §5.2: a client replaces each obs-fold with spaces and processes the
    // response; §2.3: HTTP/1.2 is processed as HTTP/1.1.
    let (addr, accepted) = scripted_server(legacy_heads);
    let paths = ["/folded", "/v12", "/v12", "/folded", "/v12"];
    let urls: Vec<String> = paths.iter().map(|p| format!("http://{addr}{p}")).collect();
    let mut got = Vec::new();
    let sink = |o: &Outcome<'_>| {
        let r = o.result.as_ref().unwrap_or_else(|e| panic!("{}: {e}", o.url));
        let folded = r.headers.get("x-folded").map(|v| String::from_utf8_lossy(v).into_owned());
        got.push((o.index.0, r.version, r.status, r.body_len, folded));
    };
    let (_, stats) = onethread::client::fetch(config(1), urls, sink).expect("client runs");
    got.sort_by_key(|g| g.0);
    for (g, path) in got.iter().zip(paths) {
        let value = if path == "/folded" { "a   b   c" } else { "plain" };
        assert_eq!((g.1, g.2, g.3, g.4.as_deref()), (Version::Http11, 200, 14, Some(value)), "{path}");
    }
    assert_eq!(got.len(), paths.len());
    // HTTP/1.2 keeps the connection like HTTP/1.1; a folded head is never followed on
    // its connection. So: /folded, /v12 on a new one, /v12 and /folded reuse it, /v12.
    assert_eq!((stats.connections_opened, stats.connections_reused), (3, 2), "{stats:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[test]
fn idle_connection_closed_by_the_server_is_not_reused() {
    // Answer one request per connection without saying so, then close.
    let (addr, accepted) = scripted_server(|mut s, _| {
        if read_request(&mut s).is_some() {
            s.write_all(OK_14).unwrap();
        }
    });
    let (got, _) = fetch_all(config(1), urls(addr, 4));
    assert!(got.iter().all(|g| g.status == Some(200)), "{got:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[test]
fn reset_mid_body_is_a_reset_error() {
    let (addr, _) = scripted_server(|mut s, _| {
        if read_request(&mut s).is_some() {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..").unwrap();
            reset(s);
        }
    });
    let (got, _) = fetch_all(config(1), urls(addr, 1));
    let (kind, message) = got[0].error.clone().expect("an error");
    assert_eq!(kind, "reset", "{message}");
}

#[test]
fn truncated_body_at_close_is_an_error_not_a_short_success() {
    let (addr, _) = scripted_server(|mut s, _| {
        if read_request(&mut s).is_some() {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..").unwrap();
        }
    });
    let (got, _) = fetch_all(config(1), urls(addr, 1));
    let (kind, message) = got[0].error.clone().expect("an error");
    assert_eq!(kind, "reset");
    assert!(message.contains("mid-response"), "{message}");
}

#[test]
fn interim_100_continue_is_skipped() {
    let (addr, _) = scripted_server(|s, _| {
        let mut response = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
        response.extend_from_slice(OK_14);
        answer_all(s, &response);
    });
    let (got, stats) = fetch_all(config(1), urls(addr, 3));
    assert!(got.iter().all(|g| g.status == Some(200) && g.body_len == 14), "{got:?}");
    assert_eq!(stats.connections_opened, 1, "still reusable after an interim response");
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let (addr, _) = scripted_server(|s, _| {
        answer_all(
            s,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nHello\r\n8\r\n, World!\r\n0\r\nX-Trailer: yes\r\n\r\n",
        )
    });
    let (got, stats) = fetch_all(config(1), urls(addr, 3));
    assert!(got.iter().all(|g| g.status == Some(200) && g.body_len == 13), "{got:?}");
    assert_eq!(stats.connections_opened, 1);
}

#[test]
fn close_delimited_body_ends_at_eof() {
    let body = vec![b'x'; 100_000];
    let (addr, _) = scripted_server(move |mut s, _| {
        if read_request(&mut s).is_some() {
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
            s.write_all(&body).unwrap();
        }
    });
    let (got, stats) = fetch_all(config(2), urls(addr, 3));
    assert!(got.iter().all(|g| g.status == Some(200) && g.body_len == 100_000), "{got:?}");
    assert_eq!(stats.connections_opened, 3, "a close-delimited response cannot be reused");
}

#[test]
fn malformed_response_is_a_protocol_error_and_others_continue() {
    let (bad, _) = scripted_server(|mut s, _| {
        if read_request(&mut s).is_some() {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!").unwrap();
        }
    });
    let (good, _) = scripted_server(|s, _| answer_all(s, OK_14));
    let list = vec![format!("http://{bad}/"), format!("http://{good}/"), format!("http://{good}/2")];
    let (got, _) = fetch_all(config(10), list);
    assert_eq!(got[0].error.as_ref().map(|e| e.0), Some("protocol"), "{got:?}");
    assert_eq!(got[1].status, Some(200));
    assert_eq!(got[2].status, Some(200));
}

#[test]
fn connection_refused_names_the_address() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap() // closed again: nothing listens there now
    };
    let (got, _) = fetch_all(config(1), urls(addr, 1));
    let (kind, message) = got[0].error.clone().unwrap();
    assert_eq!(kind, "connect");
    assert!(message.contains(&addr.to_string()), "{message}");
}

#[test]
fn a_stalled_server_times_out_and_frees_the_slot() {
    let (stall, _) = scripted_server(|mut s, _| {
        let _ = read_request(&mut s);
        let _ = read_request(&mut s); // never answers; returns when the client gives up
    });
    let (good, _) = scripted_server(|s, _| answer_all(s, OK_14));
    let mut list = vec![format!("http://{stall}/")];
    list.extend(urls(good, 20));
    let config = Config { timeout: Some(Duration::from_millis(300)), ..config(1) };
    let (got, _) = fetch_all(config, list);
    assert_eq!(got[0].error.as_ref().map(|e| e.0), Some("timeout"), "{:?}", got[0]);
    assert!(got[1..].iter().all(|g| g.status == Some(200)), "the one slot was freed for the rest");
}

#[test]
fn head_and_limits() {
    let (addr, _) = scripted_server(|s, _| {
        let mut huge = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 100_000));
        huge.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        answer_all(s, &huge)
    });
    let (got, _) = fetch_all(config(1), urls(addr, 1));
    assert_eq!(got[0].error.as_ref().map(|e| e.0), Some("too-large"), "{got:?}");
}

#[test]
fn bad_urls_are_errors_of_their_own_and_nothing_is_lost() {
    let (good, _) = scripted_server(|s, _| answer_all(s, OK_14));
    let list = vec![
        format!("http://{good}/a"),
        "not a url".to_string(),
        "ftp://example.com/".to_string(),
        "http://[::1/".to_string(),
        "http://host:99999/".to_string(),
        format!("http://{good}/b"),
    ];
    let (got, _) = fetch_all(config(4), list);
    let kinds: Vec<_> = got.iter().map(|g| g.error.as_ref().map_or("ok", |e| e.0)).collect();
    assert_eq!(kinds, ["ok", "invalid-url", "unsupported-scheme", "invalid-url", "invalid-url", "ok"]);
}

#[test]
fn names_resolve_through_c_ares_and_lookups_are_shared() {
    let dns = dns_responder();
    let server = builtin_server(ServerConfig::default());
    let port = server.port();
    let mut list: Vec<String> = (0..200).map(|i| format!("http://app.test:{port}/{i}")).collect();
    list.push(format!("http://nx.test:{port}/"));
    list.push(format!("http://servfail.test:{port}/"));
    let config = Config { dns: DnsConfig { servers: vec![dns.addr], ..DnsConfig::default() }, ..config(100) };
    let (got, stats) = fetch_all(config, list);
    assert!(got[..200].iter().all(|g| g.status == Some(200)), "{:?}", &got[..3]);
    let nx = got[200].error.clone().unwrap();
    assert_eq!(nx.0, "dns");
    assert!(nx.1.starts_with("nx.test"), "{}", nx.1);
    assert_eq!(got[201].error.as_ref().map(|e| e.0), Some("dns"));
    assert_eq!(stats.dns_lookups, 3, "one lookup per name, shared by its requests: {stats:?}");
    assert_eq!(dns.queries("app.test"), 2, "one A and one AAAA query for 200 requests");
}

#[test]
fn body_pieces_reach_the_sink_before_the_outcome() {
    use onethread::client::{Outcome, RequestId, Sink};
    #[derive(Default)]
    struct Bodies {
        pieces: Vec<(u64, Vec<u8>)>,
        finished: Vec<u64>,
    }
    impl Sink for Bodies {
        fn outcome(&mut self, o: &Outcome<'_>) {
            self.finished.push(o.index.0);
        }
        fn body(&mut self, index: RequestId, chunk: &[u8]) {
            assert!(!self.finished.contains(&index.0), "body after outcome");
            self.pieces.push((index.0, chunk.to_vec()));
        }
    }
    let (addr, _) = scripted_server(|s, _| {
        answer_all(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n8\r\n, World!\r\n0\r\n\r\n")
    });
    let (bodies, _) = onethread::client::fetch(config(2), urls(addr, 3), Bodies::default()).unwrap();
    for index in 0..3 {
        let body: Vec<u8> = bodies.pieces.iter().filter(|p| p.0 == index).flat_map(|p| p.1.clone()).collect();
        assert_eq!(body, b"Hello, World!", "request {index}");
    }
}

#[test]
fn new_connections_use_cached_addresses() {
    let dns = dns_responder();
    let (addr, _) = scripted_server(|mut s, _| {
        if read_request(&mut s).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    let list = (0..10).map(|i| format!("http://app.test:{}/{i}", addr.port())).collect();
    let config = Config { dns: DnsConfig { servers: vec![dns.addr], ..DnsConfig::default() }, ..config(2) };
    let (got, stats) = fetch_all(config, list);
    assert!(got.iter().all(|g| g.status == Some(200)), "{got:?}");
    assert_eq!(stats.dns_lookups, 1);
    assert_eq!(stats.connections_opened, 10);
    assert_eq!(stats.dns_cache_hits, 8, "the first two waited for the lookup; the rest used its answer");
}
