//! `fetch --retry`: transient failures retried as curl retries them, observed from a
//! scripted server that answers each path's first requests badly and records when
//! every request arrived.
//!
//! * a 503 with `Retry-After: 1` is asked again no sooner than a second later, and the
//!   final 200 is the outcome (`attempts` 2), its body the only one saved;
//! * a refused connection is retried after the back-off (1 s), then reported;
//! * a POST is never retried, and `--retry-max-time` caps what is waited for.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Arrival times of each path's requests.
type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

/// `/flaky-N`: the first N requests get a 503 (with `Retry-After: 1` and a body that must
/// not be saved), later ones a 200 with body `ok`. `/slow-hint`: 503 with `Retry-After: 5`.
fn server() -> (std::net::SocketAddr, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let log = Arc::clone(&arrivals);
    let (addr, _) = scripted_server(move |mut stream: TcpStream, _| {
        while let Some(head) = read_request(&mut stream) {
            let head = String::from_utf8(head).unwrap();
            let path = head.split(' ').nth(1).unwrap().to_owned();
            let seen = {
                let mut log = log.lock().unwrap();
                let times = log.entry(path.clone()).or_default();
                times.push(Instant::now());
                times.len()
            };
            let bad_until: usize = path.strip_prefix("/flaky-").and_then(|n| n.parse().ok()).unwrap_or(0);
            let response: &[u8] = if path == "/slow-hint" {
                b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 4\r\n\r\nbusy"
            } else if seen <= bad_until {
                b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            };
            if stream.write_all(response).is_err() {
                return;
            }
        }
    });
    (addr, arrivals)
}

fn one(args: &[&str]) -> Value {
    let run = run_fetch(&[&["--jsonl", "-n", "1"], args].concat(), None);
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    json_lines(&run.stdout).remove(0)
}

#[test]
fn a_503_with_retry_after_is_asked_again_after_the_delay() {
    let (addr, arrivals) = server();
    let scratch = Scratch::new("retry-save");
    let dir = scratch.path("bodies");
    let line = one(&[&format!("http://{addr}/flaky-1"), "--retry", "2", "-o", dir.to_str().unwrap()]);
    assert_eq!((line["status"].as_u64(), line["attempts"].as_u64()), (Some(200), Some(2)), "{line}");
    let times = arrivals.lock().unwrap()["/flaky-1"].clone();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= Duration::from_secs(1), "retried after {:?}, asked 1 s", times[1] - times[0]);
    assert_eq!(std::fs::read(dir.join("0")).unwrap(), b"ok", "only the final body is saved");
    // Without --retry, the 503 is the outcome.
    let line = one(&[&format!("http://{addr}/flaky-5")]);
    assert_eq!(line["status"], 503, "{line}");
    assert!(line.get("attempts").is_none(), "{line}");
}

#[test]
fn a_refused_connection_is_retried_after_the_back_off() {
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let started = Instant::now();
    let line = one(&[&format!("http://{refused}/"), "--retry", "1"]);
    assert_eq!((line["error"].as_str(), line["attempts"].as_u64()), (Some("connect"), Some(2)), "{line}");
    assert!(started.elapsed() >= Duration::from_secs(1), "the back-off starts at 1 s");
}

#[test]
fn posts_are_not_retried_and_retry_max_time_caps_the_wait() {
    let (addr, arrivals) = server();
    let line = one(&[&format!("http://{addr}/flaky-1"), "--retry", "3", "--data", "x"]);
    assert_eq!((line["status"].as_u64(), line["attempts"].as_u64()), (Some(503), Some(1)), "{line}");
    let started = Instant::now();
    let line = one(&[&format!("http://{addr}/slow-hint"), "--retry", "3", "--retry-max-time", "2"]);
    assert_eq!((line["status"].as_u64(), line["attempts"].as_u64()), (Some(503), Some(1)), "{line}");
    assert!(started.elapsed() < Duration::from_secs(4), "a 5 s Retry-After beyond the 2 s cap is not waited for");
    assert_eq!(arrivals.lock().unwrap()["/slow-hint"].len(), 1);
}
