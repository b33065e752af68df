//! HTTPS end to end: `fetch` against TLS servers run by the test, with certificates the
//! test makes (a private CA, and leaves it signs, some of them wrong on purpose).
//!
//! * a valid chain through `--cacert`, keep-alive reuse, and sessions resumed;
//! * certificates that must be refused, each with the reason: unknown issuer, expired,
//!   the wrong name; an IP literal checked against the certificate's IP addresses;
//! * `-k` accepts any certificate, and the summary says so;
//! * handshakes that fail: a server that stalls mid-handshake (connect timeout), a TLS
//!   alert, plain HTTP on the TLS port and TLS to a plain port (clear errors, no hang);
//! * a close-delimited body cut without `close_notify` (an error) and one ended
//!   properly (a success).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::thread;

use common::tls::{Ca, Identity, Tls, answer_every, close_properly, read_head, tls_server};
use common::*;
use serde_json::Value;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";

/// A CA, its PEM file in `scratch`, and a server for `tls.test` and 127.0.0.1.
fn ca_and_server(scratch: &Scratch, response: &'static [u8]) -> (Ca, String, SocketAddr) {
    let ca = Ca::new("onethread test CA");
    let pem = scratch.path("ca.pem");
    ca.write_pem(&pem);
    let server = tls_server(ca.issue(&["tls.test", "127.0.0.1"], false), &[b"http/1.1"], move |tls| {
        answer_every(tls, response);
        close_properly(tls);
    });
    (ca, pem.to_str().unwrap().to_owned(), server)
}

/// `fetch` with `args`, plus a `--resolve` that takes `tls.test` to the server.
fn fetch(server: SocketAddr, scratch: &Scratch, args: &[&str]) -> (FetchRun, Vec<Value>, Value) {
    let pin = format!("tls.test:{}:127.0.0.1", server.port());
    let summary = scratch.path("summary.json");
    let mut all = vec!["--jsonl", "--resolve", &pin, "--summary-json", summary.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = run_fetch(&all, None);
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    let lines = json_lines(&run.stdout);
    let json = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    (run, lines, json)
}

#[test]
fn a_valid_chain_keeps_connections_alive_and_resumes_sessions() {
    let scratch = Scratch::new("tls-ok");
    let (_ca, pem, server) = ca_and_server(&scratch, OK);
    let url = format!("https://tls.test:{}/{{}}", server.port());
    let (run, lines, json) = fetch(server, &scratch, &[&url, "-n", "40", "-c", "2", "--cacert", &pem]);
    assert_eq!(lines.len(), 40);
    assert!(lines.iter().all(|l| l["status"] == 200 && l["bytes"] == 5), "{}", run.stdout);
    assert!(json["connections"]["opened"].as_u64().unwrap() <= 2, "keep-alive over TLS: {json}");
    assert_eq!(json["tls"]["verified"], true, "{json}");
    assert_eq!(run.watched.peak_threads, 1, "TLS on the one thread");

    // A server that closes after each response: every request needs a handshake, and
    // all but the first resume the session from a ticket.
    let (_ca, pem, server) = ca_and_server(&scratch, OK_CLOSE);
    let url = format!("https://tls.test:{}/{{}}", server.port());
    let (_, lines, json) = fetch(server, &scratch, &[&url, "-n", "6", "-c", "1", "--cacert", &pem]);
    assert!(lines.iter().all(|l| l["status"] == 200), "{lines:?}");
    assert_eq!(json["connections"]["opened"], 6, "{json}");
    let (full, resumed) = (json["tls"]["handshakes"].as_u64().unwrap(), json["tls"]["resumed"].as_u64().unwrap());
    assert_eq!(full + resumed, 6, "{json}");
    assert!(resumed >= 4, "sessions are resumed: {json}");
}

/// The one line of a run that fetched `url` once.
fn one(server: SocketAddr, scratch: &Scratch, url: &str, args: &[&str]) -> Value {
    let (_, lines, _) = fetch(server, scratch, &[&[url, "-n", "1"], args].concat());
    lines.into_iter().next().unwrap()
}

#[test]
fn large_bodies_come_through_whole() {
    // Megabytes over TLS: many records per read, more than rustls holds at once.
    let scratch = Scratch::new("tls-big");
    let ca = Ca::new("onethread test CA");
    let pem = scratch.path("ca.pem");
    ca.write_pem(&pem);
    let server = tls_server(ca.issue(&["tls.test"], false), &[b"http/1.1"], |tls| {
        let mut response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 3 << 20).into_bytes();
        response.resize(response.len() + (3 << 20), b'z');
        while read_head(tls).is_some() {
            if tls.write_all(&response).and_then(|()| tls.flush()).is_err() {
                return;
            }
        }
    });
    let url = format!("https://tls.test:{}/{{}}", server.port());
    let (_, lines, _) = fetch(server, &scratch, &[&url, "-n", "6", "-c", "3", "--cacert", pem.to_str().unwrap()]);
    assert!(lines.iter().all(|l| l["status"] == 200 && l["bytes"] == 3u64 << 20), "{lines:?}");
}

#[test]
fn certificates_that_must_not_be_trusted_are_refused_with_the_reason() {
    let scratch = Scratch::new("tls-bad");
    let ca = Ca::new("onethread test CA");
    let pem = scratch.path("ca.pem");
    ca.write_pem(&pem);
    let pem = pem.to_str().unwrap();
    let serve = |identity: Identity| tls_server(identity, &[b"http/1.1"], |tls| answer_every(tls, OK));
    let cases = [
        ("an unknown issuer", Ca::new("another CA").issue(&["tls.test"], false), "UnknownIssuer"),
        ("an expired certificate", ca.issue(&["tls.test"], true), "expired"),
        ("another name", ca.issue(&["other.test"], false), "not valid for name"),
    ];
    for (what, identity, reason) in cases {
        let server = serve(identity);
        let line = one(server, &scratch, &format!("https://tls.test:{}/", server.port()), &["--cacert", pem]);
        assert_eq!(line["error"], "tls-certificate", "{what}: {line}");
        assert!(line["message"].as_str().unwrap().contains(reason), "{what}: {line}");
    }
    // The system's store does not know the test CA either.
    let server = serve(ca.issue(&["tls.test"], false));
    let line = one(server, &scratch, &format!("https://tls.test:{}/", server.port()), &[]);
    assert_eq!(line["error"], "tls-certificate", "{line}");
    // An IP literal is checked against the certificate's IP addresses (and sends no SNI).
    let server = serve(ca.issue(&["tls.test", "127.0.0.1"], false));
    let line = one(server, &scratch, &format!("https://127.0.0.1:{}/", server.port()), &["--cacert", pem]);
    assert_eq!(line["status"], 200, "{line}");
    let server = serve(ca.issue(&["tls.test"], false));
    let line = one(server, &scratch, &format!("https://127.0.0.1:{}/", server.port()), &["--cacert", pem]);
    assert_eq!(line["error"], "tls-certificate", "no IP address in the certificate: {line}");
}

#[test]
fn insecure_accepts_any_certificate_and_says_so() {
    let scratch = Scratch::new("tls-k");
    let server =
        tls_server(Ca::new("nobody").issue(&["whatever.test"], true), &[b"http/1.1"], |tls| answer_every(tls, OK));
    let url = format!("https://tls.test:{}/", server.port());
    let (run, lines, json) = fetch(server, &scratch, &[&url, "-n", "3", "-k"]);
    assert!(lines.iter().all(|l| l["status"] == 200), "{}", run.stdout);
    assert_eq!(json["tls"]["verified"], false, "{json}");
    assert!(run.stderr.contains("certificates NOT verified (--insecure)"), "{}", run.stderr);
}

#[test]
fn failed_handshakes_are_clear_errors_and_never_hang() {
    let scratch = Scratch::new("tls-fail");
    // Accepts and never says a word: the handshake stalls until the connect timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(4).collect();
        thread::sleep(std::time::Duration::from_secs(30)); // holds them open
        drop(held);
    });
    let line = one(addr, &scratch, &format!("https://tls.test:{}/", addr.port()), &["--connect-timeout", "0.5"]);
    assert_eq!(line["error"], "connect-timeout", "{line}");

    // No common application protocol: the server answers with an alert.
    let ca = Ca::new("onethread test CA");
    let pem = scratch.path("ca.pem");
    ca.write_pem(&pem);
    let pem = pem.to_str().unwrap();
    let h2_only = tls_server(ca.issue(&["tls.test"], false), &[b"h2"], |tls| answer_every(tls, OK));
    let line = one(h2_only, &scratch, &format!("https://tls.test:{}/", h2_only.port()), &["--cacert", pem]);
    assert_eq!(line["error"], "tls", "{line}");

    // Plain HTTP on the port the URL says is TLS: like nginx, the server answers the
    // ClientHello, which is no HTTP request, with a 400.
    let (plain, _) = scripted_server(|mut stream, _| {
        let _ = std::io::Read::read(&mut stream, &mut [0; 1024]);
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    let line = one(plain, &scratch, &format!("https://tls.test:{}/", plain.port()), &["--cacert", pem]);
    assert_eq!(line["error"], "tls", "{line}");

    // TLS on the port the URL says is plain: the server gives up on our request.
    let tls_port = tls_server(ca.issue(&["tls.test"], false), &[b"http/1.1"], |tls| answer_every(tls, OK));
    let line = one(tls_port, &scratch, &format!("http://tls.test:{}/", tls_port.port()), &["--timeout", "5"]);
    assert!(!line["error"].is_null(), "{line}");
}

/// A close-delimited response (no length, no chunking), then the end: with TLS's
/// `close_notify` when `properly`, else just the TCP close.
fn close_delimited(properly: bool) -> impl Fn(&mut Tls) + Send + Sync + 'static {
    move |tls: &mut Tls| {
        if read_head(tls).is_some() {
            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n\r\nall of the body");
            let _ = tls.flush();
            if properly {
                close_properly(tls);
            }
            let _ = tls.sock.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn a_close_delimited_body_needs_close_notify_to_be_trusted() {
    let scratch = Scratch::new("tls-close");
    let ca = Ca::new("onethread test CA");
    let pem = scratch.path("ca.pem");
    ca.write_pem(&pem);
    let pem = pem.to_str().unwrap();
    for (properly, expected) in [(true, None), (false, Some("tls"))] {
        let server = tls_server(ca.issue(&["tls.test"], false), &[b"http/1.1"], close_delimited(properly));
        let line = one(server, &scratch, &format!("https://tls.test:{}/", server.port()), &["--cacert", pem]);
        match expected {
            None => assert_eq!((line["status"].as_u64(), line["bytes"].as_u64()), (Some(200), Some(15)), "{line}"),
            Some(kind) => {
                assert_eq!(line["error"], kind, "{line}");
                assert!(line["message"].as_str().unwrap().contains("close_notify"), "{line}");
            }
        }
    }
}
