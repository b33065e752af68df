//! `examples/crawl.rs` against a generated site: a few hundred pages that link to each
//! other in every way a page can (relative, absolute, unquoted, with fragments, to
//! other origins, to pages that do not exist), served by a test server that counts
//! every request by path. The crawl must fetch every reachable page exactly once,
//! nothing of another origin and nothing that is not a link, report the broken ones,
//! exit 0, and never have more than one thread.

mod common;

/// The example itself, as a module: its link scanner's unit tests run here, with the
/// test binary's `cfg(test)` (an example's own tests would not run under `cargo test`,
/// and making them run stops `cargo test` from building the example's binary).
#[allow(dead_code)]
#[path = "../examples/crawl.rs"]
mod crawl;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::*;

const PAGES: usize = 300;

/// Page `i` of the site, for a client that asked for it as `host` (its links to the
/// site in absolute form use that host, in upper case: still the same origin).
fn page(i: usize, host: &str, other: u16) -> String {
    let n = PAGES;
    let port = host.rsplit(':').next().unwrap();
    let mut html = format!("<!DOCTYPE html>\n<html><head><title>Page {i}</title></head><body>\n");
    html += &format!("<a href=\"/p/{}\">next</a>\n", (i + 1) % n);
    html += &format!("<A HREF='{}'>relative</A>\n", (i * 7 + 3) % n);
    html += &format!("<a class=x href=http://{}/p/{}>absolute, unquoted</a>\n", host.to_uppercase(), (i * 13 + 5) % n);
    html += &format!("<a href=\"../p/{}#part\">a fragment of another page</a>\n", (i + 2) % n);
    html += &format!("<a href=\"/p/{i}#top\">this page again</a> <a href=\"#top\">top</a>\n");
    html += &format!("<a href=\"http://127.0.0.1:{other}/p/{i}\">another port</a>\n");
    html += &format!("<a href=\"https://site.test:{port}/p/{i}\">another scheme</a>\n");
    html += &format!("<a href=\"http://127.0.0.1:{port}/p/{i}\">another host name</a>\n");
    html += "<a href=\"mailto:webmaster@site.test\">mail</a> <a href=\"javascript:void(0)\">js</a>\n";
    html += "<!-- <a href=\"/commented\">not a link</a> -->\n";
    html += "<script>document.write('<a href=\"/scripted\">not a link</a>')</script>\n";
    if i.is_multiple_of(30) {
        html += &format!("<a href=\"/missing/{i}\">broken</a>\n");
    }
    match i {
        3 => html += "<a href=\"/moved\">moved</a>\n",
        4 => html += "<a href=\"/notes.txt\">plain text</a>\n",
        10 => html += "<a href=\"/reset\">the server hangs up</a>\n",
        _ => {}
    }
    html + "</body></html>\n"
}

/// Serves the site on one connection until the client closes it, counting requests.
fn serve(mut s: TcpStream, hits: &Mutex<HashMap<String, usize>>, other: u16) {
    while let Some(head) = read_request(&mut s) {
        let head = String::from_utf8_lossy(&head).into_owned();
        let path = head.split(' ').nth(1).unwrap_or("").to_owned();
        let host = head
            .lines()
            .find_map(|l| l.strip_prefix("Host: ").or_else(|| l.strip_prefix("host: ")))
            .unwrap_or("")
            .trim()
            .to_owned();
        *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        let index = path.strip_prefix("/p/").and_then(|i| i.parse::<usize>().ok()).filter(|&i| i < PAGES);
        let (status, kind, body, extra) = match (index, path.as_str()) {
            (Some(i), _) => ("200 OK", "text/html; charset=utf-8", page(i, &host, other), ""),
            (None, "/moved") => ("301 Moved Permanently", "text/html", String::new(), "Location: /p/1\r\n"),
            (None, "/notes.txt") => ("200 OK", "text/plain", "<a href=\"/p/never\">text, not HTML</a>".into(), ""),
            (None, "/reset") => return reset(s),
            _ => ("404 Not Found", "text/html", "<a href=\"/p/never\">gone</a>".into(), ""),
        };
        let response =
            format!("HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n{extra}Content-Length: {}\r\n\r\n{body}", body.len());
        if s.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn crawls_every_reachable_page_of_its_origin_once_on_one_thread() {
    let (other, other_accepted) =
        scripted_server(|s, _| answer_all(s, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let counted = Arc::clone(&hits);
    let (site, _) = scripted_server(move |s, _| serve(s, &counted, other.port()));
    let port = site.port();
    let start = format!("http://site.test:{port}/p/0");
    let resolve = format!("site.test:{port}:127.0.0.1");
    let run = run_example("crawl", &[&start, "-c", "8", "--per-host", "6", "--resolve", &resolve], None);
    assert_eq!(run.code, Some(0), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);

    let hits = hits.lock().unwrap();
    for i in 0..PAGES {
        assert_eq!(hits.get(&format!("/p/{i}")), Some(&1), "page {i}: fetched exactly once");
    }
    for i in (0..PAGES).step_by(30) {
        assert_eq!(hits.get(&format!("/missing/{i}")), Some(&1), "broken link {i}: fetched once");
    }
    assert_eq!(hits.get("/moved"), Some(&1));
    assert_eq!(hits.get("/notes.txt"), Some(&1));
    assert!(hits.get("/reset").is_some());
    let unexpected: Vec<_> = hits
        .keys()
        .filter(|p| {
            !(p.starts_with("/p/")
                || p.starts_with("/missing/")
                || ["/moved", "/notes.txt", "/reset"].contains(&p.as_str()))
        })
        .collect();
    assert!(unexpected.is_empty(), "not links, never fetched: {unexpected:?}");
    assert!(!hits.contains_key(&format!("/p/{PAGES}")) && !hits.contains_key("/p/never"));
    assert_eq!(other_accepted.load(Ordering::SeqCst), 0, "another origin is never fetched");

    // 300 pages, 10 missing ones, the redirect, the text file and the reset.
    let out = &run.stdout;
    let fetched = PAGES + PAGES / 30 + 3;
    assert!(out.contains(&format!("pages fetched: {fetched} ")), "{out}");
    assert!(out.contains(&format!("ok: {}\n", PAGES + 2)), "{out}");
    assert!(out.contains("broken: 11\n"), "{out}");
    assert!(out.contains("  status 404: 10\n"), "{out}");
    assert!(out.contains("  status 301: 1\n"), "{out}");
    let reset = format!("broken link: http://site.test:{port}/reset: reset");
    assert!(out.contains(&reset), "the hang-up, with its kind: {out}");
    let missing = format!(
        "broken link: http://site.test:{port}/missing/30: status 404 (linked from http://site.test:{port}/p/30)"
    );
    assert!(out.contains(&missing), "a broken link names the page that has it: {out}");
    assert!(out.contains("threads: 1 at the peak"), "{out}");
    assert_eq!(run.watched.peak_threads, 1, "seen from outside: one thread");
}

#[test]
fn max_pages_stops_submitting_and_says_so() {
    let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let counted = Arc::clone(&hits);
    let (site, _) = scripted_server(move |s, _| serve(s, &counted, 9));
    let start = format!("http://{site}/p/0");
    let run = run_example("crawl", &[&start, "--max-pages", "25"], None);
    assert_eq!(run.code, Some(0), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    // Paths, not requests: a request the server hung up on may be sent twice (`/reset`).
    assert_eq!(hits.lock().unwrap().len(), 25, "{:?}", hits.lock().unwrap());
    assert!(run.stdout.contains("pages fetched: 25 "), "{}", run.stdout);
    assert!(run.stdout.contains("not fetched (--max-pages 25): "), "{}", run.stdout);
}

#[test]
fn a_start_url_that_is_not_one_is_a_usage_error() {
    let run = run_example("crawl", &["ftp://site.test/"], None);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("unsupported scheme"), "{}", run.stderr);
}
