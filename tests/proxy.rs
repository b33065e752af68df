//! `fetch -x` and the proxy variables, through a proxy written here that records what it
//! received: plain HTTP in absolute form, HTTPS through `CONNECT`, the proxy's
//! credentials, `no_proxy`, and the proxy's failures (kind `proxy`).
//!
//! The proxy resolves nothing: every target goes to 127.0.0.1 at the target's port, as
//! a real proxy would go wherever the name points. So the names used here are resolved
//! only by the proxy, and the test DNS server given to `fetch` must count no query.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use common::tls::{Ca, answer_every, close_properly, tls_server};
use common::*;
use serde_json::Value;

/// Each request head the proxy received.
type Heads = Arc<Mutex<Vec<String>>>;

/// Copies bytes one way until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// A proxy: `CONNECT` opens a tunnel (or is refused with 407 when `refuse`); anything
/// else is forwarded as one request per connection (with `Connection: close`).
fn start_proxy(refuse: bool) -> (SocketAddr, Heads) {
    let heads: Heads = Arc::default();
    let log = Arc::clone(&heads);
    let (addr, _) = scripted_server(move |mut client: TcpStream, _| {
        let Some(head) = read_request(&mut client) else { return };
        let head = String::from_utf8(head).unwrap();
        log.lock().unwrap().push(head.clone());
        let line = head.lines().next().unwrap().to_owned();
        let mut parts = line.split(' ');
        let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
        if method == "CONNECT" {
            if refuse {
                let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
                return;
            }
            let port = target.rsplit_once(':').unwrap().1;
            let origin = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
            client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
            let (c2, o2) = (client.try_clone().unwrap(), origin.try_clone().unwrap());
            let up = thread::spawn(move || pipe(c2, o2));
            pipe(origin, client);
            let _ = up.join();
            return;
        }
        // Absolute form: http://host:port/path → origin-form to 127.0.0.1:port.
        let rest = target.strip_prefix("http://").unwrap();
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let port = authority.rsplit_once(':').map_or("80", |(_, p)| p);
        let mut origin = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        let path = if path.is_empty() { "/" } else { path };
        let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
        for field in head.lines().skip(1).filter(|l| !l.is_empty()) {
            if !field.to_ascii_lowercase().starts_with("proxy-authorization") {
                forwarded += &format!("{field}\r\n");
            }
        }
        forwarded += "Connection: close\r\n\r\n";
        origin.write_all(forwarded.as_bytes()).unwrap();
        pipe(origin, client);
    });
    (addr, heads)
}

fn fetch(args: &[&str], env: &[(&str, &str)]) -> (Vec<Value>, String) {
    let mut command = Command::new(example("fetch"));
    command.args(args).arg("--jsonl").env_remove("http_proxy").env_remove("https_proxy").env_remove("no_proxy");
    command.env_remove("HTTP_PROXY").env_remove("HTTPS_PROXY").env_remove("NO_PROXY");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    (json_lines(&String::from_utf8_lossy(&out.stdout)), stderr)
}

#[test]
fn plain_http_goes_through_the_proxy_in_absolute_form_with_its_credentials() {
    let (origin, _) =
        scripted_server(|stream, _| answer_all(stream, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    let (proxy, heads) = start_proxy(false);
    let dns = dns_responder();
    let url = format!("http://origin.test:{}/x?y=1", origin.port());
    let via = format!("http://puser:ppw@{proxy}");
    let (lines, _) = fetch(&[&url, "-n", "2", "-x", &via, "--dns-server", &dns.addr.to_string()], &[]);
    assert!(lines.iter().all(|l| l["status"] == 200 && l["bytes"] == 2), "{lines:?}");
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 2);
    assert!(heads[0].starts_with(&format!("GET {url} HTTP/1.1\r\n")), "absolute form: {}", heads[0]);
    assert!(heads[0].contains("\r\nProxy-Authorization: Basic cHVzZXI6cHB3\r\n"), "{}", heads[0]);
    assert!(heads[0].contains(&format!("\r\nHost: origin.test:{}\r\n", origin.port())), "{}", heads[0]);
    assert_eq!(dns.total(), 0, "the target's name is the proxy's to resolve");
}

#[test]
fn https_goes_through_a_connect_tunnel_and_tls_inside_it() {
    let scratch = Scratch::new("proxy-tls");
    let ca = Ca::new("onethread test CA");
    let pem = scratch.path("ca.pem");
    ca.write_pem(&pem);
    let origin = tls_server(ca.issue(&["secure.test"], false), &[b"http/1.1"], |tls| {
        answer_every(tls, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret");
        close_properly(tls);
    });
    let (proxy, heads) = start_proxy(false);
    let dns = dns_responder();
    let url = format!("https://secure.test:{}/", origin.port());
    let args = [&url, "-n", "1", "--cacert", pem.to_str().unwrap(), "--dns-server", &dns.addr.to_string()];
    let (lines, _) = fetch(&args, &[("HTTPS_PROXY", &proxy.to_string())]);
    assert_eq!((lines[0]["status"].as_u64(), lines[0]["bytes"].as_u64()), (Some(200), Some(6)), "{:?}", lines[0]);
    let heads = heads.lock().unwrap();
    assert!(heads[0].starts_with(&format!("CONNECT secure.test:{} HTTP/1.1\r\n", origin.port())), "{}", heads[0]);
    assert_eq!(dns.total(), 0, "the target's name is the proxy's to resolve");
}

#[test]
fn no_proxy_goes_direct_and_proxy_failures_are_their_own_kind() {
    let (origin, _) =
        scripted_server(|stream, _| answer_all(stream, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    let (proxy, heads) = start_proxy(false);
    let url = format!("http://127.0.0.1:{}/", origin.port());
    let (lines, _) =
        fetch(&[&url, "-n", "1"], &[("http_proxy", &proxy.to_string()), ("no_proxy", "example.com,127.0.0.1")]);
    assert_eq!(lines[0]["status"], 200);
    assert!(heads.lock().unwrap().is_empty(), "no_proxy: straight to the origin");
    // Through the proxy when no_proxy does not match.
    let (lines, _) = fetch(&[&url, "-n", "1"], &[("http_proxy", &proxy.to_string())]);
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(heads.lock().unwrap().len(), 1);

    // A proxy that is not there, and one that refuses the tunnel.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (lines, _) = fetch(&[&url, "-n", "1", "-x", &dead.to_string()], &[]);
    assert_eq!(lines[0]["error"], "proxy", "{}", lines[0]);
    let (refusing, _) = start_proxy(true);
    let secure = format!("https://secure.test:{}/", origin.port());
    let dns = dns_responder();
    let dns_arg = dns.addr.to_string();
    let (lines, _) = fetch(&[&secure, "-n", "1", "-x", &refusing.to_string(), "--dns-server", &dns_arg], &[]);
    assert_eq!(lines[0]["error"], "proxy", "{}", lines[0]);
    assert!(lines[0]["message"].as_str().unwrap().contains("407"), "{}", lines[0]);
}

#[test]
fn a_tunnel_answer_that_is_not_clean_http_is_a_proxy_error() {
    let dns = dns_responder();
    let dns_arg = dns.addr.to_string();
    for (answer, why) in [
        (&b"HTTP/1.1 200 Connection established\r\n\r\nearly bytes"[..], "bytes after opening the tunnel"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not HTTP"),
        (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", "502 Bad Gateway"),
    ] {
        let (proxy, _) = scripted_server(move |mut client: TcpStream, _| {
            if read_request(&mut client).is_some() {
                let _ = client.write_all(answer);
            }
        });
        let url = "https://secure.test:443/";
        let (lines, _) = fetch(&[url, "-n", "1", "-x", &proxy.to_string(), "--dns-server", &dns_arg], &[]);
        assert_eq!(lines[0]["error"], "proxy", "{}", lines[0]);
        assert!(lines[0]["message"].as_str().unwrap().contains(why), "{}", lines[0]);
    }
    assert_eq!(dns.total(), 0);
}
