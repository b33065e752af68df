//! The chaos catalogue: one server that misbehaves in a different way on every path,
//! and runs that fetch every case several times, mixed with well-behaved requests, on
//! one client. Each case has a documented outcome (the table in `CATALOGUE`); the
//! run's other requests must be unaffected, and every request ends exactly once.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use onethread::client::Config;
use onethread::http1::Limits;

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// A response with this status and body length.
    Ok(u16, u64),
    /// An error of this kind.
    Err(&'static str),
}

use Expect::{Err, Ok};

/// Path, what the server does there, and the outcome the client must report.
const CATALOGUE: &[(&str, &str, Expect)] = &[
    ("/ok", "a plain keep-alive 200", Ok(200, 14)),
    ("/empty-reply", "closes without sending a byte", Err("reset")),
    ("/reset-before-head", "resets the connection on receiving the request", Err("reset")),
    ("/reset-mid-body", "Content-Length 100, 10 bytes, then RST", Err("reset")),
    ("/truncated", "Content-Length 100, 10 bytes, then FIN", Err("reset")),
    ("/truncated-chunked", "a chunk cut short, then FIN", Err("reset")),
    ("/garbage", "not HTTP at all", Err("protocol")),
    ("/http09", "a bare body with no status line, then FIN", Err("protocol")),
    ("/bad-chunk", "chunk size 'zz'", Err("protocol")),
    ("/chunk-overflow", "chunk size of 18 hex digits", Err("protocol")),
    ("/conflicting-length", "Content-Length 5 and 6", Err("protocol")),
    ("/unknown-coding", "Transfer-Encoding: snappy", Err("protocol")),
    ("/switching-protocols", "101 to a request that asked for no upgrade", Err("protocol")),
    ("/huge-header", "a header line of 1 MB", Err("too-large")),
    ("/many-headers", "500 header fields", Err("too-large")),
    ("/huge-body", "a 4 MB body, over the 2 MB body limit", Err("too-large")),
    ("/big-body", "a 1 MB body, under the limit", Ok(200, 1 << 20)),
    ("/stall-head", "reads the request, never answers", Err("head-timeout")),
    ("/stall-body", "a head and 10 of 100 bytes, then silence", Err("read-timeout")),
    ("/slow-drip", "20 body bytes, one every 20 ms (each gap under the read timeout)", Ok(200, 20)),
    ("/te-and-cl", "Transfer-Encoding chunked and Content-Length: decoded as chunked", Ok(200, 13)),
    ("/continue", "100 Continue, then 200", Ok(200, 14)),
    ("/early-hints", "103 Early Hints with headers, then 200", Ok(200, 14)),
    ("/close-delimited", "HTTP/1.0, no length, body ended by FIN", Ok(200, 5000)),
    ("/not-modified", "304 with Content-Length: 100 and no body", Ok(304, 0)),
    ("/no-content", "204", Ok(204, 0)),
    ("/idle-close", "200 keep-alive, then FIN while idle", Ok(200, 14)),
    ("/idle-reset", "200 keep-alive, then RST while idle", Ok(200, 14)),
    ("/obs-fold", "a field value folded over three lines (obs-fold): read unfolded", Ok(200, 14)),
    ("/http-1-2", "an HTTP/1.2 status line: read as HTTP/1.1", Ok(200, 14)),
];

/// The value `/obs-fold` sends, folded, and the value the client must report.
const FOLDED: &[u8] = b"X-Folded: a\r\n b\r\n\tc\r\n";
const UNFOLDED: &str = "a   b   c";

const OK_14: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello, World!\n";

/// Closes a connection as RFC 9112 §9.6 asks a server to: a FIN, then read and drop
/// whatever else the client sent until it closes too. A plain `close` with requests
/// unread (pipelined ones) sends a reset instead, which can destroy the response still
/// in flight; the cases that mean to reset set a zero linger, and are left to do so.
struct Lingering(TcpStream);

impl Drop for Lingering {
    fn drop(&mut self) {
        let socket = socket2::SockRef::from(&self.0);
        if socket.linger().ok().flatten() == Some(Duration::ZERO) {
            return;
        }
        let _ = self.0.shutdown(std::net::Shutdown::Write);
        let _ = self.0.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = std::io::copy(&mut self.0, &mut std::io::sink());
    }
}

/// Serves one connection: each request's path picks the misbehaviour. Returns when the
/// case ends the connection or the client goes away.
fn chaos(mut s: TcpStream) {
    let _close = Lingering(s.try_clone().unwrap());
    while let Some(head) = read_request(&mut s) {
        let line = String::from_utf8_lossy(&head);
        let target = line.split(' ').nth(1).unwrap_or("/");
        let path = target.split('?').next().unwrap_or("/").to_string();
        let w = |s: &mut TcpStream, bytes: &[u8]| s.write_all(bytes).is_ok();
        match path.as_str() {
            "/ok" => {
                if !w(&mut s, OK_14) {
                    return;
                }
            }
            "/empty-reply" => return,
            "/reset-before-head" => return reset(s),
            "/reset-mid-body" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
                return reset(s);
            }
            "/truncated" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
                return;
            }
            "/truncated-chunked" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort");
                return;
            }
            "/garbage" => {
                w(&mut s, b"HELLO THERE, THIS IS NOT HTTP\r\n\r\n");
                return;
            }
            "/http09" => {
                w(&mut s, b"<html>hello</html>");
                return;
            }
            "/bad-chunk" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
                return;
            }
            "/chunk-overflow" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nx");
                return;
            }
            "/conflicting-length" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
                return;
            }
            "/unknown-coding" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: snappy\r\n\r\nhello");
                return;
            }
            "/switching-protocols" => {
                w(&mut s, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
                return;
            }
            "/huge-header" => {
                let mut r = b"HTTP/1.1 200 OK\r\nX-Huge: ".to_vec();
                r.resize(r.len() + (1 << 20), b'a');
                r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
                w(&mut s, &r);
                return;
            }
            "/many-headers" => {
                let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
                for i in 0..500 {
                    r.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
                }
                r.extend_from_slice(b"Content-Length: 0\r\n\r\n");
                w(&mut s, &r);
                return;
            }
            "/huge-body" | "/big-body" => {
                let len = if path == "/huge-body" { 4 << 20 } else { 1 << 20 };
                let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes();
                r.resize(r.len() + len, b'b');
                if !w(&mut s, &r) {
                    return;
                }
            }
            "/stall-head" | "/stall-body" => {
                if path == "/stall-body" {
                    w(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
                }
                // Silence until the client gives up and closes (reading, and dropping,
                // any requests pipelined behind this one).
                let _ = std::io::copy(&mut s, &mut std::io::sink());
                return;
            }
            "/slow-drip" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n");
                for _ in 0..20 {
                    std::thread::sleep(Duration::from_millis(20)); // the misbehaviour itself
                    if !w(&mut s, b"d") {
                        return;
                    }
                }
            }
            "/te-and-cl" => {
                let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1000\r\n\r\n5\r\nHello\r\n8\r\n, World!\r\n0\r\n\r\n";
                if !w(&mut s, r) {
                    return;
                }
            }
            "/continue" | "/early-hints" => {
                let interim: &[u8] = if path == "/continue" {
                    b"HTTP/1.1 100 Continue\r\n\r\n"
                } else {
                    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                };
                if !w(&mut s, &[interim, OK_14].concat()) {
                    return;
                }
            }
            "/close-delimited" => {
                let mut r = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
                r.resize(r.len() + 5000, b'c');
                w(&mut s, &r);
                return;
            }
            "/not-modified" => {
                if !w(&mut s, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n") {
                    return;
                }
            }
            "/no-content" => {
                if !w(&mut s, b"HTTP/1.1 204 No Content\r\n\r\n") {
                    return;
                }
            }
            "/idle-close" | "/idle-reset" => {
                w(&mut s, OK_14);
                std::thread::sleep(Duration::from_millis(30)); // idle for a while, then drop it
                return if path == "/idle-reset" { reset(s) } else { drop(s) };
            }
            "/obs-fold" => {
                let r = [&b"HTTP/1.1 200 OK\r\n"[..], FOLDED, &OK_14[17..]].concat();
                if !w(&mut s, &r) {
                    return;
                }
            }
            "/http-1-2" => {
                if !w(&mut s, &[&b"HTTP/1.2"[..], &OK_14[8..]].concat()) {
                    return;
                }
            }
            _ => {
                w(&mut s, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            }
        }
    }
}

fn chaos_server() -> SocketAddr {
    scripted_server(|s, _| chaos(s)).0
}

/// Each case three times, each followed by a well-behaved request.
fn run_list(addr: SocketAddr) -> Vec<String> {
    let mut list = Vec::new();
    for round in 0..3 {
        for (path, ..) in CATALOGUE {
            list.push(format!("http://{addr}{path}?round={round}"));
            list.push(format!("http://{addr}/ok?after={}", &path[1..]));
        }
    }
    list
}

fn expected(url: &str) -> Expect {
    let path = url.split("//").nth(1).and_then(|r| r.find('/').map(|i| &r[i..])).unwrap();
    let path = path.split('?').next().unwrap();
    CATALOGUE.iter().find(|c| c.0 == path).unwrap().2
}

/// An outcome as short text, the same for the library's outcomes and fetch's JSON.
fn describe(e: Expect) -> String {
    match e {
        Ok(status, bytes) => format!("{status} {bytes}B"),
        Err(kind) => format!("error {kind}"),
    }
}

fn chaos_config() -> Config {
    Config {
        concurrency: 8,
        timeout: Some(Duration::from_secs(10)),
        head_timeout: Some(Duration::from_millis(500)),
        read_timeout: Some(Duration::from_millis(300)),
        limits: Limits { max_body: Some(2 << 20), ..Limits::default() },
        ..Config::default()
    }
}

#[test]
fn every_case_gives_its_documented_outcome_and_others_are_unaffected() {
    every_case_as_documented(chaos_config());
}

/// The same catalogue through 8-deep pipelines (one connection at a time, since 8
/// requests in flight make ⌈8 / 8⌉ connections): every misbehaviour ends only its own
/// request; those queued behind it are sent again and succeed.
#[test]
fn the_catalogue_pipelined_8_deep() {
    every_case_as_documented(Config { pipeline: 8, ..chaos_config() });
}

fn every_case_as_documented(config: Config) {
    let addr = chaos_server();
    let list = run_list(addr);
    let (got, _) = fetch_all(config, list.clone());
    let mut wrong = Vec::new();
    for g in &got {
        let actual = match (&g.error, g.status) {
            (Some((kind, _)), _) => format!("error {kind}"),
            (None, status) => format!("{} {}B", status.unwrap(), g.body_len),
        };
        if actual != describe(expected(&g.url)) {
            wrong.push(format!("{}: expected {}, got {actual} {:?}", g.url, describe(expected(&g.url)), g.error));
        }
    }
    assert!(wrong.is_empty(), "{} of {} outcomes wrong:\n{}", wrong.len(), got.len(), wrong.join("\n"));
}

#[test]
fn error_messages_name_the_problem() {
    let addr = chaos_server();
    let cases = ["/conflicting-length", "/stall-head", "/huge-header", "/reset-mid-body", "/unknown-coding"];
    let list = cases.iter().map(|p| format!("http://{addr}{p}")).collect();
    let (got, _) = fetch_all(chaos_config(), list);
    let messages: HashMap<&str, String> =
        cases.iter().zip(&got).map(|(p, g)| (*p, g.error.clone().expect("an error").1)).collect();
    assert!(messages["/conflicting-length"].contains("Content-Length"), "{messages:?}");
    assert!(messages["/stall-head"].contains("head"), "{messages:?}");
    assert!(messages["/huge-header"].contains("65536"), "names the limit: {messages:?}");
    assert!(messages["/unknown-coding"].contains("snappy"), "{messages:?}");
}

#[test]
fn the_catalogue_through_fetch_on_one_thread() {
    catalogue_through_fetch(&[]);
}

#[test]
fn the_catalogue_through_fetch_pipelined() {
    catalogue_through_fetch(&["--pipeline", "8"]);
}

fn catalogue_through_fetch(extra: &[&str]) {
    let addr = chaos_server();
    let list = run_list(addr);
    let path = std::env::temp_dir().join(format!("onethread-chaos-{}-{}.txt", std::process::id(), extra.len()));
    std::fs::write(&path, list.join("\n")).unwrap();
    let args = [
        "--urls",
        path.to_str().unwrap(),
        "--jsonl",
        "-c",
        "8",
        "--head-timeout",
        "0.5",
        "--read-timeout",
        "0.3",
        "--timeout",
        "10",
        "--max-body",
        "2097152",
        "--header-out",
        "X-Folded",
    ];
    let run = run_fetch(&[&args, extra].concat(), None);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(run.code, Some(0), "request errors are reported, not fatal: {}", run.stderr);
    assert_eq!(run.watched.peak_threads, 1, "seen from outside");
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), list.len(), "one line per request");
    let mut wrong = Vec::new();
    for line in &lines {
        let url = line["url"].as_str().unwrap();
        let actual = match line["error"].as_str() {
            Some(kind) => format!("error {kind}"),
            None => format!("{} {}B", line["status"], line["bytes"]),
        };
        if actual != describe(expected(url)) {
            wrong.push(format!("{url}: expected {}, got {line}", describe(expected(url))));
        }
        // `--header-out` reports the folded field with each fold replaced by spaces.
        let folded = url.contains("/obs-fold?");
        if line["x-folded"] != if folded { UNFOLDED.into() } else { serde_json::Value::Null } {
            wrong.push(format!("{url}: x-folded should be {:?}: {line}", folded.then_some(UNFOLDED)));
        }
    }
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
}
