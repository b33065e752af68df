//! End to end: `fetch` as a tool — the live progress line (under a real pseudo-terminal),
//! the summary against the per-request lines, request options, saved bodies, argument
//! errors, and memory that stays flat however long the URL list is.
//!
//! Every run is a child process watched from outside (`/proc/<pid>/status`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::*;
use onethread::server::ServerConfig;
use serde_json::Value;

/// About 2 s at any build speed: 3000 requests, 300 at a time, each delayed by the
/// built-in server for a (seeded) random 0–400 ms, so about 200 ms on average.
const SLOW_RUN: [&str; 6] = ["-n", "3000", "-c", "300", "--max-delay-ms", "400"];

const ERASE: &str = "\r\x1b[2K";

#[test]
fn progress_redraws_in_place_under_a_terminal() {
    let scratch = Scratch::new("tty");
    let jsonl = scratch.path("out.jsonl");
    // `script` gives fetch a pseudo-terminal for stderr; stdout goes to a file, as in
    // `fetch ... --jsonl > out.jsonl`.
    let command = format!("'{}' {} --jsonl > '{}'", example("fetch").display(), SLOW_RUN.join(" "), jsonl.display());
    let out =
        Command::new("script").args(["-qfec", &command, "/dev/null"]).stdin(Stdio::null()).output().expect("script");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{tty}");

    let (progress, summary) =
        tty.split_once("fetch: 3000 requests in").unwrap_or_else(|| panic!("no summary: {tty:?}"));
    let redraws: Vec<&str> = progress.split(ERASE).skip(1).collect();
    let drawn: Vec<&&str> = redraws.iter().filter(|r| !r.is_empty()).collect();
    assert!(drawn.len() >= 2, "at least two redraws in place: {progress:?}");
    for line in &drawn {
        assert!(line.contains("/3000 (") && line.contains("req/s") && line.contains("ETA"), "{line:?}");
        assert!(!line.contains('\n'), "a redraw must stay on its line: {line:?}");
    }
    assert!(progress.ends_with(ERASE), "the progress line is erased before the summary: {progress:?}");
    assert!(summary.contains("OS threads       1 (peak 1"), "{summary}");
    assert!(!summary.contains("req/s"), "no progress after the summary: {summary}");
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 3000, "stdout is untouched by progress");
}

#[test]
fn progress_is_plain_lines_without_a_terminal_and_off_with_quiet() {
    let run = run_fetch(&[&SLOW_RUN[..], &["--jsonl"]].concat(), None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains("req/s")).collect();
    assert!(!lines.is_empty(), "a run of about 2 s reports progress: {}", run.stderr);
    for line in &lines {
        assert!(line.starts_with("fetch: [0:0") && line.contains("/3000 ("), "{line}");
    }
    assert!(!run.stderr.contains('\r'), "no in-place redraws when stderr is not a terminal");
    assert_eq!(json_lines(&run.stdout).len(), 3000);

    let run = run_fetch(&[&SLOW_RUN[..], &["--quiet"]].concat(), None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("req/s"), "--quiet: summary only: {}", run.stderr);
    assert!(run.stdout.is_empty());
}

/// A server whose answers differ by path: `/missing…` is a 404 with a `Url` header (a
/// name that collides with a JSON key), everything else a 200 with a `Content-Type`.
fn status_server() -> SocketAddr {
    let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nUrl: u\r\n\r\nnope";
    let hello = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
    scripted_server(|stream: TcpStream, _| answer_by_prefix(stream, b"GET /missing", missing, hello)).0
}

#[test]
fn summary_json_agrees_with_the_jsonl_lines() {
    let server = status_server();
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let scratch = Scratch::new("summary");
    let mut list = String::new();
    for i in 0..40 {
        list += &format!("http://{server}/ok/{i}\n");
    }
    for i in 0..10 {
        list += &format!("http://{server}/missing/{i}\nnot a url {i}\n");
    }
    list += &format!("http://{refused}/\n");
    let urls = scratch.write("urls.txt", list);
    let summary_path = scratch.path("summary.json");
    let run = run_fetch(
        &[
            "--urls",
            &urls,
            "-c",
            "8",
            "--jsonl",
            "--header-out",
            "Content-Type",
            "--header-out",
            "url",
            "--summary-json",
            summary_path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();

    let n = lines.len() as u64;
    assert_eq!(n, 61);
    let mut indexes: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..n).collect::<Vec<_>>(), "one line per request, indexed from 0");
    let ok: Vec<&Value> = lines.iter().filter(|l| l["error"].is_null()).collect();
    assert_eq!(summary["requests"], n);
    assert_eq!(summary["successes"], ok.len() as u64);
    assert_eq!(summary["errors"], n - ok.len() as u64);
    for (kind, count) in [("invalid-url", 10), ("connect", 1)] {
        let from_lines = lines.iter().filter(|l| l["error"] == kind).count();
        assert_eq!(from_lines, count);
        assert_eq!(summary["errors_by_kind"][kind]["count"], count as u64, "{summary}");
        let example = summary["errors_by_kind"][kind]["example"].as_str().unwrap();
        assert!(lines.iter().any(|l| l["error"] == kind && example.starts_with(l["url"].as_str().unwrap())));
    }
    assert_eq!(summary["errors_by_kind"].as_object().unwrap().len(), 2);
    for (code, count) in [(200, 40), (404, 10)] {
        assert_eq!(ok.iter().filter(|l| l["status"] == code).count(), count);
        assert_eq!(summary["status_codes"][code.to_string()], count as u64);
    }
    assert_eq!(summary["status_codes"].as_object().unwrap().len(), 2);
    let bytes: u64 = lines.iter().map(|l| l["bytes"].as_u64().unwrap()).sum();
    assert_eq!(summary["body_bytes"], bytes);
    assert_eq!(bytes, 40 * 5 + 10 * 4);

    // Latency: the histogram keeps 3 significant digits; lines print whole microseconds.
    let latency = &summary["latency_ms"];
    assert_eq!(latency["count"], ok.len() as u64);
    assert_eq!(latency["includes_errors"], false);
    let ms: Vec<f64> = ok.iter().map(|l| l["ms"].as_f64().unwrap()).collect();
    let close = |a: f64, b: f64| (a - b).abs() <= b * 0.002 + 0.002;
    let (min, max) = (ms.iter().copied().fold(f64::MAX, f64::min), ms.iter().copied().fold(0.0, f64::max));
    assert!(close(latency["min"].as_f64().unwrap(), min), "{latency} vs lines' min {min}");
    assert!(close(latency["max"].as_f64().unwrap(), max), "{latency} vs lines' max {max}");
    let order = ["min", "p50", "p90", "p99", "p99.9", "max"].map(|k| latency[k].as_f64().unwrap());
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{latency}");

    let wall = summary["wall_seconds"].as_f64().unwrap();
    assert!(close(summary["requests_per_second"].as_f64().unwrap(), n as f64 / wall), "{summary}");
    let conns = &summary["connections"];
    assert!(conns["opened"].as_u64().unwrap() >= 1);
    assert!(conns["opened"].as_u64().unwrap() + conns["reused"].as_u64().unwrap() >= ok.len() as u64);
    assert_eq!(summary["os_threads"]["peak"], 1);
    assert_eq!(summary["os_threads"]["creation_forbidden"], true);
    assert!(summary["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);

    // --header-out: lower-cased names as keys; `url` collides and is prefixed.
    for l in &lines {
        let (content_type, url_header) = match l["status"].as_u64() {
            Some(200) => (Value::from("text/plain"), Value::Null),
            Some(404) => (Value::Null, Value::from("u")),
            _ => (Value::Null, Value::Null),
        };
        assert_eq!(l["content-type"], content_type, "{l}");
        assert_eq!(l["header:url"], url_header, "{l}");
        assert!(l["url"].is_string());
    }
    // The text summary says the same on stderr; this run was too short for progress.
    assert!(run.stderr.contains("  status codes     200: 40, 404: 10\n"), "{}", run.stderr);
    assert!(run.stderr.contains("    invalid-url        10  e.g. not a url"), "{}", run.stderr);
    if wall < 0.9 {
        assert!(!run.stderr.contains("req/s"), "no progress within the first second: {}", run.stderr);
    }
}

/// Requests as a server received them: (head, body).
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A server that records each request and answers 200.
fn recording_server() -> (SocketAddr, Received) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let (addr, _) = scripted_server(move |mut stream: TcpStream, _| {
        while let Some(head) = read_request(&mut stream) {
            let head = String::from_utf8(head).unwrap();
            let length = common::field(&head, "content-length").map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0; length];
            stream.read_exact(&mut body).unwrap();
            log.lock().unwrap().push((head, body));
            if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").is_err() {
                return;
            }
        }
    });
    (addr, seen)
}

#[test]
fn method_headers_and_body_reach_the_server() {
    let (server, seen) = recording_server();
    let template = format!("http://{server}/{{}}");
    let scratch = Scratch::new("request");
    let payload: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let data_file = scratch.write("payload.bin", &payload);
    let runs: [(&[&str], &str, &[u8]); 3] = [
        (&["--data", "hello", "-H", "X-One: 1", "-H", "x-two:  two words "], "POST", b"hello"),
        (&["-X", "PUT", "--data-file", &data_file], "PUT", &payload),
        (&["-X", "DELETE"], "DELETE", b""),
    ];
    for (options, method, body) in runs {
        seen.lock().unwrap().clear();
        let run = run_fetch(&[&[template.as_str(), "-n", "3", "-q"], options].concat(), None);
        assert_eq!(run.code, Some(0), "{options:?}: {}", run.stderr);
        assert!(run.stderr.contains("successes        3"), "{options:?}: {}", run.stderr);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "{options:?}");
        for (head, got) in seen.iter() {
            assert!(head.starts_with(&format!("{method} /")), "{head}");
            assert_eq!(got.as_slice(), body, "{options:?}");
            if !body.is_empty() {
                assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())), "{head}");
            }
        }
        if method == "POST" {
            assert!(seen[0].0.contains("\r\nX-One: 1\r\n") && seen[0].0.contains("\r\nx-two: two words\r\n"));
        }
    }
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for (args, needle) in [
        (&["-H", "nocolon"][..], "'Name: value'"),
        (&["-H", ": v"], "header name is empty"),
        (&["-H", "Bad Name: v"], "header name"),
        (&["-H", "Host: a b"], "not a Host value"),
        (&["-H", "content-length: 3"], "Content-Length"),
        (&["-H", "Transfer-Encoding: chunked"], "Transfer-Encoding"),
        (&["-X", "GE T"], "method"),
        (&["-X", ""], "method"),
        (&["--data", "a", "--data-file", "b"], "--data-file"),
        (&["--data-file", "/nonexistent/body"], "/nonexistent/body"),
        (&["--header-out", "date"], "--jsonl"),
        (&["--jsonl", "--header-out", " "], "header name is empty"),
        (&["-o", "/proc/onethread-no"], "-o /proc/onethread-no"),
        (&["-o", "/etc/hostname"], "exists and is not a directory"),
        (&["--urls", "/tmp"], "--urls /tmp: Is a directory"),
        (&["-n", "-5"], "1 or more"),
        (&["-n", "0"], "1 or more"),
        (&["-n", "many"], "1 or more"),
        (&["-c", "-3"], "1 to 1000000"),
        (&["--resolve", "example.com:80"], "HOST:PORT:ADDR"),
        (&["--resolve", "example.com:80:not-an-ip"], "HOST:PORT:ADDR"),
        (&["--summary-json", "/nonexistent/summary.json"], "/nonexistent/summary.json"),
        (&["-c", "0"], "1 to 1000000"),
    ] {
        let out = Command::new(example("fetch")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stderr.starts_with("fetch: ") && stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let help = Command::new(example("fetch")).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert_eq!(help.status.code(), Some(0));
    assert!(
        text.contains("Examples:") && text.contains("--summary-json") && text.contains("--urls list.txt"),
        "{text}"
    );
    let version = Command::new(example("fetch")).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), concat!("fetch ", env!("CARGO_PKG_VERSION")));
}

/// Bodies by path: `/big` spans many reads, `/chunked` arrives in chunks, `/empty` has
/// none, and `/cut` is cut short by the server (so that request fails).
fn body_server() -> SocketAddr {
    scripted_server(|mut stream: TcpStream, _| {
        while let Some(head) = read_request(&mut stream) {
            let path = String::from_utf8_lossy(&head).split(' ').nth(1).unwrap_or_default().to_owned();
            let mut response = match path.as_str() {
                "/big" => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", BIG.len()).into_bytes(),
                "/chunked" => {
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n".to_vec()
                }
                "/empty" => b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
                _ => b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this".to_vec(),
            };
            if path == "/big" {
                response.extend_from_slice(BIG);
            }
            let _ = stream.write_all(&response);
            if path == "/cut" {
                return;
            }
        }
    })
    .0
}

const BIG: &[u8] = &[b'x'; 300_000];

#[test]
fn bodies_are_streamed_to_one_file_per_request() {
    let server = body_server();
    let scratch = Scratch::new("save");
    let paths = ["/big", "/chunked", "/empty", "/cut", "/big"];
    let mut list: String = paths.iter().map(|p| format!("http://{server}{p}\n")).collect();
    list += "not a url\n";
    let urls = scratch.write("urls.txt", list);
    let dir = scratch.path("bodies/nested");
    let run = run_fetch(&["--urls", &urls, "--jsonl", "-o", dir.to_str().unwrap()], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 6);
    let expected = |url: &str| -> Option<&[u8]> {
        match url.rsplit('/').next() {
            _ if !url.starts_with("http") => None,
            Some("big") => Some(BIG),
            Some("chunked") => Some(b"abcdefg"),
            Some("empty") => Some(b""),
            _ => None, // "/cut" fails: its partial file is removed
        }
    };
    for l in &lines {
        let file = dir.join(l["index"].to_string());
        let want = expected(l["url"].as_str().unwrap());
        assert_eq!(l["error"].is_null(), want.is_some(), "{l}");
        match want {
            Some(body) => assert!(std::fs::read(&file).unwrap() == body, "{} has the wrong body", file.display()),
            None => assert!(!file.exists(), "{} should not exist", file.display()),
        }
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4, "one file per successful request, nothing else");
    assert!(run.stderr.contains("saved bodies     4 files in"), "{}", run.stderr);
}

/// Peak RSS of `fetch` working through a list of `n` URLs (all to one local server, at
/// C=1000), in KiB, as the kernel's high-water mark seen from outside. The default
/// request timeout stays on: the timer queue must not grow with the input either.
fn peak_rss_for_list(server: SocketAddr, n: usize, scratch: &Scratch, extra: &[&str]) -> u64 {
    let mut list = String::with_capacity(n * 40);
    for i in 0..n {
        list += &format!("http://{server}/some/longer/path/{i}\n");
    }
    let urls = scratch.write(&format!("urls-{n}.txt"), list);
    let run = run_fetch(&[&["--urls", &urls, "-c", "1000", "--quiet"], extra].concat(), None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("successes        {n}\n")), "{}", run.stderr);
    assert_eq!(run.watched.peak_threads, 1);
    assert!(run.watched.samples >= 2, "the sampler must have watched the run");
    run.watched.peak_rss_kib
}

/// Memory must not grow with the input. If `fetch` held its URL list, 200,000 URLs of
/// ~45 bytes would add ≥ 12 MiB (text, `String` header, allocator overhead) to a peak
/// of about 6–8 MiB; streamed, the peak is set by the C=1000 requests in flight and is
/// the same for any length. So: within 10% (+1 MiB for allocator noise) of the peak for
/// a list 10× shorter, and under 64 MiB whatever happens.
fn memory_is_flat(short: usize, long: usize, extra: &[&str]) {
    let server = builtin_server(ServerConfig::default());
    let scratch = Scratch::new(&format!("rss-{long}-{}", extra.len()));
    let short_kib = peak_rss_for_list(server, short, &scratch, extra);
    let long_kib = peak_rss_for_list(server, long, &scratch, extra);
    eprintln!("peak RSS {extra:?}: {short} URLs {short_kib} KiB, {long} URLs {long_kib} KiB");
    assert!(long_kib <= short_kib + short_kib / 10 + 1024, "{long} URLs: {long_kib} KiB vs {short}: {short_kib} KiB");
    assert!(long_kib < 64 * 1024, "{long_kib} KiB");
}

#[test]
fn memory_does_not_grow_with_the_url_list() {
    memory_is_flat(20_000, 200_000, &[]);
}

/// With `--per-host`, the URLs of a host at its limit wait, parked, without holding a
/// slot; the parking is bounded by C, so the list is still not read ahead. One host,
/// 100 at a time: 900 URLs wait at any moment whatever the list's length.
#[test]
fn memory_does_not_grow_with_urls_waiting_for_their_host() {
    memory_is_flat(20_000, 200_000, &["--per-host", "100"]);
}

#[test]
#[ignore = "2,000,000 requests take a minute or more in a debug build; run with `cargo test --release -- --ignored`"]
fn memory_for_2_million_urls_from_a_file_is_flat() {
    memory_is_flat(200_000, 2_000_000, &[]);
}

// ---- habits from curl, wrk and oha -------------------------------------------------------

/// The request heads a run sent, one per request.
fn heads_of(args: &[&str]) -> Vec<String> {
    let (server, seen) = recording_server();
    let url = format!("http://{server}/x");
    let run = run_fetch(&[&[url.as_str(), "-n", "1", "-q"], args].concat(), None);
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    seen.lock().unwrap().iter().map(|(head, _)| head.clone()).collect()
}

/// The value of header `name` in a request head (the first, and how many there are).
fn field(head: &str, name: &str) -> (Option<String>, usize) {
    let values: Vec<String> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect();
    (values.first().cloned(), values.len())
}

#[test]
fn default_user_agent_and_accept_each_replaced_by_its_own_option() {
    let agent = concat!("onethread/", env!("CARGO_PKG_VERSION"));
    let head = &heads_of(&[])[0];
    assert_eq!(field(head, "user-agent"), (Some(agent.to_owned()), 1), "{head}");
    assert_eq!(field(head, "accept"), (Some("*/*".to_owned()), 1), "{head}");
    let head = &heads_of(&["-A", "crawler/2"])[0];
    assert_eq!(field(head, "user-agent"), (Some("crawler/2".to_owned()), 1), "{head}");
    let head = &heads_of(&["-H", "user-agent: mine", "-H", "Accept: text/html"])[0];
    assert_eq!(field(head, "user-agent"), (Some("mine".to_owned()), 1), "{head}");
    assert_eq!(field(head, "accept"), (Some("text/html".to_owned()), 1), "{head}");
    let head = &heads_of(&["-H", "User-Agent:", "-H", "Accept:"])[0];
    assert_eq!((field(head, "user-agent").1, field(head, "accept").1), (0, 0), "curl's way to drop them: {head}");
}

#[test]
fn a_host_header_names_the_virtual_host_and_resolve_pins_an_address() {
    let head = &heads_of(&["-H", "Host: vhost.test"])[0];
    assert_eq!(field(head, "host"), (Some("vhost.test".to_owned()), 1), "{head}");

    // `--resolve` takes a name to an address with no lookup at all (the DNS server
    // given is the test responder, which counts what it is asked).
    let (server, seen) = recording_server();
    let dns = dns_responder();
    let pin = format!("pinned.test:{}:127.0.0.1", server.port());
    let url = format!("http://pinned.test:{}/p", server.port());
    let run = run_fetch(&[&url, "-n", "2", "-q", "--resolve", &pin, "--dns-server", &dns.addr.to_string()], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("successes        2"), "{}", run.stderr);
    assert_eq!(dns.total(), 0, "a pinned name is never looked up");
    let heads = seen.lock().unwrap();
    assert_eq!(field(&heads[0].0, "host"), (Some(format!("pinned.test:{}", server.port())), 1));
}

#[test]
fn credentials_in_the_url_are_sent_and_never_printed() {
    let (server, seen) = recording_server();
    let scratch = Scratch::new("credentials");
    let summary = scratch.path("summary.json");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // closed: refused
    let list = format!("http://user:pa%20ss@{server}/a\nhttp://user:pa%20ss@{dead}/b\n");
    let urls = scratch.write("urls.txt", list);
    let run = run_fetch(&["--urls", &urls, "--jsonl", "--summary-json", summary.to_str().unwrap()], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let heads = seen.lock().unwrap();
    assert_eq!(field(&heads[0].0, "authorization"), (Some("Basic dXNlcjpwYSBzcw==".to_owned()), 1));
    let summary_text = std::fs::read_to_string(&summary).unwrap();
    for text in [&run.stdout, &run.stderr, &summary_text] {
        assert!(!text.contains("pa%20ss") && !text.contains("pa ss"), "the password leaked: {text}");
    }
    assert!(run.stdout.contains(&format!("\"url\":\"http://user@{server}/a\"")), "{}", run.stdout);
}

#[test]
fn json_lines_from_a_list_carry_their_line_number() {
    let (server, _) = recording_server();
    let scratch = Scratch::new("lines");
    let list = format!("# a comment\n\nhttp://{server}/a\n   \nhttp://{server}/b\nnot a url\n");
    let urls = scratch.write("urls.txt", list);
    let run = run_fetch(&["--urls", &urls, "--jsonl"], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mut lines = json_lines(&run.stdout);
    lines.sort_by_key(|l| l["index"].as_u64());
    let got: Vec<(u64, u64)> =
        lines.iter().map(|l| (l["index"].as_u64().unwrap(), l["line"].as_u64().unwrap())).collect();
    assert_eq!(got, [(0, 3), (1, 5), (2, 6)], "{}", run.stdout);
    let template = run_fetch(&[&format!("http://{server}/{{}}"), "-n", "1", "--jsonl"], None);
    assert!(json_lines(&template.stdout)[0].get("line").is_none(), "no list, no line: {}", template.stdout);
}

#[test]
fn fail_turns_error_statuses_into_errors_and_exit_22() {
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope";
    let (server, _) = scripted_server(|stream: TcpStream, _| answer_by_prefix(stream, b"GET /ok ", ok, missing));
    let scratch = Scratch::new("fail");
    let urls = scratch.write("urls.txt", format!("http://{server}/ok\nhttp://{server}/missing\n"));
    let summary = scratch.path("summary.json");
    let run = run_fetch(&["--urls", &urls, "--jsonl", "-f", "--summary-json", summary.to_str().unwrap()], None);
    assert_eq!(run.code, Some(22), "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    let missing = lines.iter().find(|l| l["url"].as_str().unwrap().ends_with("/missing")).unwrap();
    assert_eq!(missing["error"], "http-status", "{missing}");
    assert_eq!(missing["status"], 404, "{missing}");
    assert!(missing["message"].as_str().unwrap().contains("404"), "{missing}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!((json["successes"].as_u64(), json["errors"].as_u64()), (Some(1), Some(1)), "{json}");
    assert_eq!(json["errors_by_kind"]["http-status"]["count"], 1, "{json}");
    // Without --fail, a 404 is a response like any other.
    let run = run_fetch(&["--urls", &urls, "--jsonl"], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(json_lines(&run.stdout).iter().all(|l| l["error"].is_null()), "{}", run.stdout);
}

#[test]
fn quiet_jsonl_prints_lines_and_a_template_without_braces_warns() {
    let (server, _) = recording_server();
    let run = run_fetch(&[&format!("http://{server}/same"), "-n", "2", "--quiet", "--jsonl"], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(json_lines(&run.stdout).len(), 2, "--jsonl wins over --quiet");
    assert!(run.stderr.contains("warning: the URL template has no {}"), "{}", run.stderr);
    assert!(!run.stderr.contains("req/s"), "no progress with --quiet: {}", run.stderr);
}

#[test]
fn a_reused_output_dir_keeps_no_file_of_a_request_that_failed() {
    let (server, _) = recording_server();
    let scratch = Scratch::new("reuse");
    let dir = scratch.path("bodies");
    let first = scratch.write("first.txt", format!("http://{server}/0\nhttp://{server}/1\n"));
    let run = run_fetch(&["--urls", &first, "-q", "-o", dir.to_str().unwrap()], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(dir.join("1").exists());
    // The second run's request 1 fails (refused): the first run's DIR/1 must go.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let second = scratch.write("second.txt", format!("http://{server}/0\nhttp://{dead}/1\n"));
    let run = run_fetch(&["--urls", &second, "-q", "-o", dir.to_str().unwrap()], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(dir.join("0").exists());
    assert!(!dir.join("1").exists(), "DIR/1 is left from the first run although request 1 failed");
}

#[test]
fn the_summary_counts_connections_not_attempts_and_never_says_zero_seconds() {
    // A name with a refusing IPv6 address and a working IPv4 one: each connection
    // takes two attempts, and is one connection.
    let (server, _) = recording_server();
    let dns = DnsBuilder::new()
        .aaaa("dual.test", std::net::Ipv6Addr::LOCALHOST, 60)
        .a("dual.test", [127, 0, 0, 1], 60)
        .build();
    let scratch = Scratch::new("conns");
    let summary = scratch.path("summary.json");
    let url = format!("http://dual.test:{}/{{}}", server.port());
    let dns_server = dns.addr.to_string();
    let args = [&url, "-n", "1", "-q", "--dns-server", &dns_server, "--summary-json", summary.to_str().unwrap()];
    let run = run_fetch(&args, None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(json["connections"]["opened"], 1, "{json}");
    assert_eq!(json["connections"]["attempts"], 2, "{json}");
    assert!(run.stderr.contains("1 opened, 0 reused (2 connection attempts)"), "{}", run.stderr);
    let first = run.stderr.lines().find(|l| l.contains(" requests in ")).unwrap();
    assert!(!first.contains(" 0.000 s"), "{first}");
}

/// `--shard K/N` for K in 1..=N: the outputs together cover the list exactly once, by
/// its line numbers; every URL of a host is in one shard; `-n` counts the whole list.
#[test]
fn shards_split_a_list_whole_disjoint_and_by_host() {
    let (server, _) =
        scripted_server(|stream, _| answer_all(stream, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    let port = server.port();
    let scratch = Scratch::new("shards");
    let mut list = String::from("# ten hosts, one bad line\n");
    for i in 0..60 {
        list += &format!("http://h{}.test:{port}/page/{i}\n", i % 10);
    }
    list += "not a url\n";
    let path = scratch.write("urls.txt", &list);
    let resolve: Vec<String> = (0..10).map(|h| format!("h{h}.test:{port}:127.0.0.1")).collect();
    let run = |shard: &str, n: Option<&str>| -> Vec<Value> {
        let mut args = vec!["--urls", &path, "--jsonl", "--quiet", "--shard", shard];
        for r in &resolve {
            args.extend(["--resolve", r]);
        }
        if let Some(n) = n {
            args.extend(["-n", n]);
        }
        let run = run_fetch(&args, None);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(run.watched.peak_threads, 1);
        json_lines(&run.stdout)
    };
    for (n, lines_wanted) in [(None, 2..=62), (Some("30"), 2..=31)] {
        let mut seen = std::collections::BTreeMap::new();
        let mut host_shard = std::collections::HashMap::new();
        for k in 1..=3 {
            for line in run(&format!("{k}/3"), n) {
                assert!(seen.insert(line["line"].as_u64().unwrap(), k).is_none(), "a line in two shards: {line}");
                if let Some(host) = line["url"].as_str().unwrap().split('/').nth(2) {
                    assert_eq!(*host_shard.entry(host.to_owned()).or_insert(k), k, "{host} split across shards");
                }
            }
        }
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), lines_wanted.collect::<Vec<_>>(), "-n {n:?}");
        assert!(host_shard.values().collect::<std::collections::HashSet<_>>().len() > 1, "one shard took everything");
    }
    let bad = run_fetch(&["--urls", &path, "--shard", "4/3"], None);
    assert_eq!(bad.code, Some(2));
    assert!(bad.stderr.contains("not a shard K/N"), "{}", bad.stderr);
}
