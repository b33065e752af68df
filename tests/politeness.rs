//! `fetch --per-host` and `--host-delay`, observed from the server side: two host names
//! pinned to one scripted server (which tells them apart by `Host`), each request held
//! 50 ms, with the server counting what it has in progress per host.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// Per host: (in progress now, most ever in progress, arrival times).
type Load = Arc<Mutex<HashMap<String, (usize, usize, Vec<Instant>)>>>;

fn server() -> (std::net::SocketAddr, Load) {
    let load: Load = Arc::default();
    let log = Arc::clone(&load);
    let (addr, _) = scripted_server(move |mut stream: TcpStream, _| {
        while let Some(head) = read_request(&mut stream) {
            let head = String::from_utf8(head).unwrap();
            let host =
                head.lines().find_map(|l| l.strip_prefix("Host: ")).unwrap().split(':').next().unwrap().to_owned();
            {
                let mut load = log.lock().unwrap();
                let entry = load.entry(host.clone()).or_default();
                entry.0 += 1;
                entry.1 = entry.1.max(entry.0);
                entry.2.push(Instant::now());
            }
            thread::sleep(Duration::from_millis(50)); // the server's scripted slowness
            log.lock().unwrap().get_mut(&host).unwrap().0 -= 1;
            if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
                return;
            }
        }
    });
    (addr, load)
}

fn run(addr: std::net::SocketAddr, list: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let scratch = Scratch::new(&format!("polite-{}", args.join("")));
    let urls = scratch.write("urls.txt", list);
    let (a, b) = (format!("a.test:{}:127.0.0.1", addr.port()), format!("b.test:{}:127.0.0.1", addr.port()));
    let all = [&["--urls", &urls, "--jsonl", "--resolve", &a, "--resolve", &b][..], args].concat();
    let run = run_fetch(&all, None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    json_lines(&run.stdout)
}

#[test]
fn per_host_caps_each_host_without_holding_up_the_others() {
    let (addr, load) = server();
    // Twenty URLs of a.test first, then ten of b.test: b.test must not wait for a.test.
    let mut list = String::new();
    for i in 0..20 {
        list += &format!("http://a.test:{}/{i}\n", addr.port());
    }
    for i in 0..10 {
        list += &format!("http://b.test:{}/{i}\n", addr.port());
    }
    let started = Instant::now();
    let lines = run(addr, &list, &["-c", "20", "--per-host", "2"]);
    assert_eq!(lines.len(), 30);
    assert!(lines.iter().all(|l| l["status"] == 200), "{lines:?}");
    let load = load.lock().unwrap();
    assert_eq!(load["a.test"].1, 2, "never more than 2 at once to a.test");
    assert_eq!(load["b.test"].1, 2, "never more than 2 at once to b.test");
    let (a_first, b_first) = (load["a.test"].2[0], load["b.test"].2[0]);
    assert!(b_first - a_first < Duration::from_millis(200), "b.test started with a.test, not after it");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn host_delay_spaces_the_starts_to_one_host() {
    let (addr, load) = server();
    let list: String = (0..4).map(|i| format!("http://a.test:{}/{i}\n", addr.port())).collect();
    let lines = run(addr, &list, &["-c", "10", "--host-delay", "150"]);
    assert!(lines.iter().all(|l| l["status"] == 200), "{lines:?}");
    let times = load.lock().unwrap()["a.test"].2.clone();
    assert_eq!(times.len(), 4);
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(140), "starts {:?} apart", pair[1] - pair[0]);
    }
}
