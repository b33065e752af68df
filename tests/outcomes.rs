//! Outcomes that must be true, however a server or the event loop behaves: end to end
//! through `fetch` against scripted loopback servers, and through the library where the
//! test must control when the event loop runs.
//!
//! * A pooled connection that received bytes nobody asked for is never reused: the next
//!   request must not take the unsolicited response as its own (RFC 9112 §9.3).
//! * A request that fails after its response head arrived still reports the status and
//!   the body bytes that did arrive, in its line and in the summary, as curl does.
//! * Large bodies are read fairly: one fast connection cannot starve the others.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Each connection: answers its first request with `first`, then 100 ms later sends an
/// unasked second response (`EVIL`), then answers later requests with `fine!!`.
fn unsolicited_server() -> std::net::SocketAddr {
    scripted_server(|mut stream: TcpStream, _| {
        if read_request(&mut stream).is_none() {
            return;
        }
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
        thread::sleep(Duration::from_millis(100)); // the server's scripted timing
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL");
        answer_all(stream, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfine!!");
    })
    .0
}

#[test]
fn unsolicited_bytes_on_a_pooled_connection_never_become_a_response() {
    let server = unsolicited_server();
    // The second URL comes 400 ms after the first: the first connection sits in the
    // pool while the unasked response arrives on it.
    let mut child = Command::new(example("fetch"))
        .args(["--urls", "-", "-c", "1", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "http://{server}/1").unwrap();
    thread::sleep(Duration::from_millis(400)); // the slow producer of the scenario
    writeln!(stdin, "http://{server}/2").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["bytes"], 5, "{:?}", lines[0]);
    assert_eq!(lines[1]["status"], 200, "{:?}", lines[1]);
    assert_eq!(lines[1]["bytes"], 5, "a new connection's first response, not the unasked one: {:?}", lines[1]);
}

/// A 200 whose body stops after 40,960 of 100,000 bytes, and then nothing.
fn stalling_body_server() -> std::net::SocketAddr {
    scripted_server(|mut stream: TcpStream, _| {
        if read_request(&mut stream).is_some() {
            let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nX-Kind: stall\r\n\r\n".to_vec();
            response.resize(response.len() + 40_960, b'x');
            let _ = stream.write_all(&response);
            let _ = read_request(&mut stream); // holds the connection until fetch closes it
        }
    })
    .0
}

#[test]
fn a_failed_request_still_reports_the_status_and_bytes_that_arrived() {
    let server = stalling_body_server();
    let scratch = Scratch::new("partial");
    let summary = scratch.path("summary.json");
    let url = format!("http://{server}/");
    let run = run_fetch(
        &[
            &url,
            "-n",
            "1",
            "--jsonl",
            "--read-timeout",
            "0.5",
            "--header-out",
            "x-kind",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let line = &json_lines(&run.stdout)[0];
    assert_eq!(line["error"], "read-timeout", "{line}");
    assert_eq!(line["status"], 200, "the head arrived: {line}");
    assert_eq!(line["bytes"], 40_960, "the body bytes that arrived: {line}");
    assert_eq!(line["x-kind"], "stall", "the partial response's headers: {line}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(json["errors"], 1, "{json}");
    assert_eq!(json["body_bytes"], 40_960, "{json}");
    assert_eq!(json["status_codes"]["200"], 1, "{json}");

    // The seed's line format says so too.
    let run = run_fetch(&[&url, "-n", "1", "--read-timeout", "0.5"], None);
    assert!(run.stdout.contains("(status 200, 40960 body bytes received)"), "{}", run.stdout);
}

/// Request `index` of a small keep-alive exchange: the unasked response is written
/// while the client is busy (the test blocks the loop in its sink), so its readiness
/// event is still queued when the next request picks a pooled connection.
#[test]
fn a_pooled_connection_is_checked_at_the_moment_of_reuse() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = std::sync::Mutex::new(go_rx);
    let (sent_tx, sent_rx) = mpsc::channel();
    let (server, accepted) = scripted_server(move |mut stream: TcpStream, n| {
        if read_request(&mut stream).is_none() {
            return;
        }
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
        if n == 0 {
            // Once the client has read the first response: on loopback, the unasked
            // bytes are in the client's socket when write returns.
            let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL");
            let _ = sent_tx.send(());
        }
        answer_all(stream, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfine!!");
    });
    // The sink holds up the loop after the first outcome until the unasked bytes are
    // in the socket, so the second request is dispatched in the same turn, before the
    // poll could report them.
    struct Sink {
        bytes: Vec<Option<u64>>,
        go: mpsc::Sender<()>,
        sent: mpsc::Receiver<()>,
    }
    impl onethread::client::Sink for Sink {
        fn outcome(&mut self, o: &onethread::client::Outcome<'_>) {
            self.bytes.push(o.result.as_ref().ok().map(|r| r.body_len));
            if self.bytes.len() == 1 {
                self.go.send(()).unwrap();
                self.sent.recv_timeout(Duration::from_secs(10)).expect("the server sent its unasked response");
            }
        }
    }
    let config = onethread::client::Config { concurrency: 1, ..Default::default() };
    let urls = vec![format!("http://{server}/1"), format!("http://{server}/2")];
    let sink = Sink { bytes: Vec::new(), go: go_tx, sent: sent_rx };
    let (sink, _) = onethread::client::fetch(config, urls, sink).unwrap();
    assert_eq!(sink.bytes, [Some(5), Some(5)], "the second request on a new connection, not the unasked bytes");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// Each connection is sent a 1 MiB body as soon as both requests have arrived; the
/// client is held up (in its sink) until both bodies sit in the kernel, so from then on
/// both sockets always have bytes to read. A client that reads a socket until it is
/// empty reads one body whole, then the other; a fair one alternates.
#[test]
fn connections_take_turns_reading_large_bodies() {
    const BODY: usize = 1 << 20;
    let arrived = std::sync::Arc::new((std::sync::Mutex::new(0), std::sync::Condvar::new()));
    let (written_tx, written_rx) = mpsc::channel();
    let (server, _) = scripted_server(move |mut stream: TcpStream, _| {
        if read_request(&mut stream).is_none() {
            return;
        }
        let (count, all_here) = &*arrived;
        let mut n = count.lock().unwrap();
        *n += 1;
        all_here.notify_all();
        drop(all_here.wait_timeout_while(n, Duration::from_secs(10), |n| *n < 2).unwrap());
        // The whole body fits the send buffer: write returns with all of it queued.
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(4 * BODY);
        let mut response = format!("HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\n\r\n").into_bytes();
        response.resize(response.len() + BODY, b'b');
        let _ = stream.write_all(&response);
        let _ = written_tx.send(());
        let _ = read_request(&mut stream);
    });
    struct Sink {
        /// The request of each body piece, in the order they were read.
        pieces: Vec<u64>,
        written: mpsc::Receiver<()>,
    }
    impl onethread::client::Sink for Sink {
        fn outcome(&mut self, _: &onethread::client::Outcome<'_>) {}
        fn body(&mut self, index: onethread::client::RequestId, _: &[u8]) {
            if self.pieces.is_empty() {
                for _ in 0..2 {
                    self.written.recv_timeout(Duration::from_secs(10)).expect("both bodies written");
                }
            }
            self.pieces.push(index.0);
        }
    }
    let config = onethread::client::Config { concurrency: 2, ..Default::default() };
    let urls = vec![format!("http://{server}/0"), format!("http://{server}/1")];
    let (sink, _) = onethread::client::fetch(config, urls, Sink { pieces: Vec::new(), written: written_rx }).unwrap();
    let switches = sink.pieces.windows(2).filter(|w| w[0] != w[1]).count();
    let first_done = sink.pieces.iter().rposition(|&i| i == sink.pieces[0]).unwrap();
    let other_before = sink.pieces[..first_done].iter().filter(|&&i| i != sink.pieces[0]).count();
    eprintln!("{:?}: {switches} switches, {other_before} of the other's before the first ended", sink.pieces);
    assert!(
        other_before * 3 >= sink.pieces.len() / 2,
        "the other connection got {other_before} of its pieces before the first body ended: one read the other dry"
    );
}
