//! `fetch -L`: redirects followed as curl follows them, through a scripted server that
//! records every request it sees (method, path, body, Authorization).
//!
//! * a chain of absolute-path and relative `Location`s ends at the final response,
//!   whose line has `final_url` and `redirects`; without `-L` a 3xx is the outcome;
//! * 303, and 301/302 after a POST, turn the request into a GET without a body; 307
//!   and 308 keep both;
//! * a loop stops at `--max-redirs` with `too-many-redirects`; a missing or unusable
//!   `Location` is a `redirect` error;
//! * credentials stay with the origin they were given for;
//! * `-o` saves the final body, never a redirect's.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::Value;

/// What a server saw: (method, path, authorization, body, cookie, host) per request.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>, Vec<u8>, Option<String>, Option<String>)>>>;

/// Answers each path with `route(path)`: (status line, extra headers, body).
fn server(
    route: fn(&str, SocketAddr) -> (&'static str, String, &'static str),
    other: SocketAddr,
) -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let (addr, _) = scripted_server(move |mut stream: TcpStream, _| {
        while let Some(head) = read_request(&mut stream) {
            let head = String::from_utf8(head).unwrap();
            let mut lines = head.lines();
            let mut first = lines.next().unwrap().split(' ');
            let (method, path) = (first.next().unwrap().to_owned(), first.next().unwrap().to_owned());
            let field = |name: &str| field(&head, name);
            let length: usize = field("content-length").map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0; length];
            stream.read_exact(&mut body).unwrap();
            let (cookie, host) = (field("cookie"), field("host"));
            log.lock().unwrap().push((method, path.clone(), field("authorization"), body, cookie, host));
            let (status, headers, text) = route(&path, other);
            let response = format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{text}", text.len());
            if stream.write_all(response.as_bytes()).is_err() {
                return;
            }
        }
    });
    (addr, seen)
}

fn routes(path: &str, other: SocketAddr) -> (&'static str, String, &'static str) {
    let to = |target: String| format!("Location: {target}\r\n");
    match path {
        "/a" => ("301 Moved Permanently", to("/dir/b".into()), "moved"),
        "/dir/b" => ("302 Found", to("../c?x=1".into()), "found"),
        "/c?x=1" => ("200 OK", String::new(), "final"),
        "/see-other" => ("303 See Other", to("/c?x=1".into()), ""),
        "/temporary" => ("307 Temporary Redirect", to("/echo".into()), ""),
        "/permanent" => ("308 Permanent Redirect", to("/echo".into()), ""),
        "/moved" => ("301 Moved Permanently", to("/echo".into()), ""),
        "/echo" => ("200 OK", String::new(), "echo"),
        "/loop" => ("302 Found", to("/loop".into()), ""),
        "/nowhere" => ("302 Found", String::new(), ""),
        "/broken" => ("302 Found", to("http://[::1/x".into()), ""),
        "/away" => ("302 Found", to(format!("http://{other}/landed")), ""),
        "/here" => ("302 Found", to("/landed".into()), ""),
        _ => ("200 OK", String::new(), "landed"),
    }
}

fn run(args: &[&str]) -> Vec<Value> {
    let run = run_fetch(&[&["--jsonl"], args].concat(), None);
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    json_lines(&run.stdout)
}

#[test]
fn a_chain_of_redirects_ends_at_the_final_response() {
    let (addr, seen) = server(routes, "127.0.0.1:9".parse().unwrap());
    let url = format!("http://{addr}/a");
    let line = &run(&[&url, "-n", "1", "-L"])[0];
    assert_eq!((line["status"].as_u64(), line["bytes"].as_u64()), (Some(200), Some(5)), "{line}");
    assert_eq!(line["url"], url.as_str(), "the line names the URL it started with: {line}");
    assert_eq!(line["final_url"], format!("http://{addr}/c?x=1"), "{line}");
    assert_eq!(line["redirects"], 2, "{line}");
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/a", "/dir/b", "/c?x=1"]);
    // Without -L, a 3xx is an ordinary response.
    let line = &run(&[&url, "-n", "1"])[0];
    assert_eq!(line["status"], 301, "{line}");
    assert!(line.get("final_url").is_none(), "{line}");
}

#[test]
fn post_becomes_get_where_curl_makes_it_so_and_307_308_keep_it() {
    let (addr, seen) = server(routes, "127.0.0.1:9".parse().unwrap());
    for (path, method, body) in
        [("/see-other", "GET", ""), ("/moved", "GET", ""), ("/temporary", "POST", "x=1"), ("/permanent", "POST", "x=1")]
    {
        seen.lock().unwrap().clear();
        let line = &run(&[&format!("http://{addr}{path}"), "-n", "1", "-L", "--data", "x=1"])[0];
        assert_eq!(line["status"], 200, "{path}: {line}");
        let seen = seen.lock().unwrap();
        assert_eq!((seen[0].0.as_str(), &seen[0].3[..]), ("POST", &b"x=1"[..]), "{path}: the first request");
        assert_eq!((seen[1].0.as_str(), &seen[1].3[..]), (method, body.as_bytes()), "{path}: after the redirect");
    }
}

#[test]
fn loops_and_bad_locations_end_with_their_own_errors() {
    let (addr, seen) = server(routes, "127.0.0.1:9".parse().unwrap());
    let line = &run(&[&format!("http://{addr}/loop"), "-n", "1", "-L", "--max-redirs", "3"])[0];
    assert_eq!(line["error"], "too-many-redirects", "{line}");
    assert_eq!(seen.lock().unwrap().len(), 4, "the first request and three redirects");
    let line = &run(&[&format!("http://{addr}/nowhere"), "-n", "1", "-L"])[0];
    assert_eq!(line["error"], "redirect", "{line}");
    assert!(line["message"].as_str().unwrap().contains("without a Location"), "{line}");
    let line = &run(&[&format!("http://{addr}/broken"), "-n", "1", "-L"])[0];
    assert_eq!(line["error"], "redirect", "{line}");
    assert!(line["message"].as_str().unwrap().contains("http://[::1/x"), "{line}");
}

#[test]
fn credentials_stay_with_their_origin() {
    let (other, other_seen) = server(routes, "127.0.0.1:9".parse().unwrap());
    let (addr, seen) = server(routes, other);
    let args = ["-n", "1", "-L", "-H", "Authorization: Bearer secret"];
    run(&[&[format!("http://{addr}/here").as_str()][..], &args].concat());
    let auth: Vec<Option<String>> = seen.lock().unwrap().iter().map(|s| s.2.clone()).collect();
    assert_eq!(auth, [Some("Bearer secret".into()), Some("Bearer secret".into())], "same origin: kept");
    seen.lock().unwrap().clear();
    run(&[&[format!("http://user:pw@{addr}/away").as_str()][..], &["-n", "1", "-L"]].concat());
    run(&[&[format!("http://{addr}/away").as_str()][..], &args].concat());
    let here: Vec<Option<String>> = seen.lock().unwrap().iter().map(|s| s.2.clone()).collect();
    assert_eq!(here, [Some("Basic dXNlcjpwdw==".into()), Some("Bearer secret".into())]);
    let there: Vec<Option<String>> = other_seen.lock().unwrap().iter().map(|s| s.2.clone()).collect();
    assert_eq!(there, [None, None], "another origin gets no credentials");
}

/// A `-H Cookie` and a `-H Host` were meant for the first origin too: kept on a redirect
/// within it, dropped on one to another (as curl does since 7.83).
#[test]
fn cookies_and_host_overrides_stay_with_their_origin() {
    let (other, other_seen) = server(routes, "127.0.0.1:9".parse().unwrap());
    let (addr, seen) = server(routes, other);
    let args = ["-n", "1", "-L", "-H", "Cookie: c=1", "-H", "Host: vhost.test"];
    run(&[&[format!("http://{addr}/here").as_str()][..], &args].concat());
    run(&[&[format!("http://{addr}/away").as_str()][..], &args].concat());
    let fields = |seen: &Seen| -> Vec<(Option<String>, Option<String>)> {
        seen.lock().unwrap().iter().map(|s| (s.4.clone(), s.5.clone())).collect()
    };
    let ours = (Some("c=1".to_owned()), Some("vhost.test".to_owned()));
    assert_eq!(fields(&seen), [ours.clone(), ours.clone(), ours], "the first origin: kept");
    assert_eq!(fields(&other_seen), [(None, Some(other.to_string()))], "another origin: dropped");
}

#[test]
fn only_the_final_body_is_saved() {
    let (addr, _) = server(routes, "127.0.0.1:9".parse().unwrap());
    let scratch = Scratch::new("redirect-save");
    let dir = scratch.path("bodies");
    run(&[&format!("http://{addr}/a"), "-n", "1", "-L", "-o", dir.to_str().unwrap()]);
    assert_eq!(std::fs::read(dir.join("0")).unwrap(), b"final");
}
