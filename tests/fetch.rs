//! End to end: the `fetch` example as a child process, watched from outside.
//!
//! The thread count is read from `/proc/<pid>/status` by this (multi-threaded) test
//! process every 2 ms while the child works; the child's own census and guard are the
//! second and third witnesses.

mod common;

use std::collections::HashSet;
use std::net::Ipv6Addr;
use std::process::Command;
use std::time::Duration;

use common::*;
use onethread::server::ServerConfig;
use serde_json::Value;

#[test]
fn seed_workload_20000_requests_on_one_thread_seen_from_outside() {
    seed_workload_on_one_thread("http", &[]);
}

/// The same over HTTPS: the built-in server speaks TLS 1.3 with a certificate made at
/// start-up; 1,000 handshakes and 20,000 encrypted exchanges, both sides, one thread.
#[test]
fn seed_workload_over_https_on_one_thread_seen_from_outside() {
    let run = seed_workload_on_one_thread("https", &["--https"]);
    assert!(run.stderr.contains("TLS              1000 full handshakes"), "{}", run.stderr);
}

fn seed_workload_on_one_thread(scheme: &str, extra: &[&str]) -> FetchRun {
    let run = run_fetch(&[&["-n", "20000", "-c", "1000", "--jsonl"], extra].concat(), None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.watched.peak_threads, 1, "an outside sampler saw more than one thread");
    assert!(
        run.watched.samples >= 5,
        "the sampler must actually have watched the run ({} samples)",
        run.watched.samples
    );
    let objects = json_lines(&run.stdout);
    assert_eq!(objects.len(), 20000);
    let mut paths = HashSet::new();
    for o in &objects {
        assert_eq!(o["status"], 200, "{o}");
        assert_eq!(o["bytes"], 14);
        assert_eq!(o["error"], Value::Null);
        assert!(o["delay"].is_string() && o["ms"].is_number());
        let url = o["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{scheme}://localhost:")), "{url}");
        paths.insert(url.rsplit('/').next().unwrap().to_string());
    }
    assert_eq!(paths.len(), 20000, "every index fetched exactly once");
    assert!(run.stderr.contains("OS threads       1 (peak 1,"), "{}", run.stderr);
    assert!(run.stderr.contains("creation forbidden"), "{}", run.stderr);
    run
}

#[test]
fn dns_path_is_inside_the_proof() {
    // Both families: the IPv6 address refuses (the server listens on IPv4 only), so the
    // Happy Eyeballs race runs inside the proof too.
    let dns = DnsBuilder::new().a("app.test", [127, 0, 0, 1], 60).aaaa("app.test", Ipv6Addr::LOCALHOST, 60).build();
    let server = builtin_server(ServerConfig { max_delay: Duration::from_millis(2), ..ServerConfig::default() });
    let template = format!("http://app.test:{}/{{}}", server.port());
    let dns_server = dns.addr.to_string();
    let run = run_fetch(&[&template, "-n", "3000", "-c", "500", "--jsonl", "--dns-server", &dns_server], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.watched.peak_threads, 1);
    let objects = json_lines(&run.stdout);
    assert_eq!(objects.len(), 3000);
    assert!(objects.iter().all(|o| o["status"] == 200), "{:?}", objects.iter().find(|o| o["status"] != 200));
    assert_eq!(dns.queries_of("app.test", QueryType::A), 1, "one A query for the whole run");
    assert_eq!(dns.queries_of("app.test", QueryType::Aaaa), 1, "one AAAA query for the whole run");
}

#[test]
fn url_list_gives_exactly_one_line_per_url_including_bad_ones() {
    let server = builtin_server(ServerConfig::default());
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let list = format!(
        "# a comment, then a blank line\n\nhttp://{server}/a\nnot a url\nftp://example.com/\n  http://{server}/b  \nhttp://[::1/\nhttp://{refused}/\nhttp://{server}/c\n"
    );
    let path = std::env::temp_dir().join(format!("onethread-urls-{}.txt", std::process::id()));
    std::fs::write(&path, &list).unwrap();
    let run = run_fetch(&["--urls", path.to_str().unwrap(), "--jsonl"], None);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(run.code, Some(0), "request errors are reported, not fatal: {}", run.stderr);
    let objects = json_lines(&run.stdout);
    let by_url = |u: &str| objects.iter().find(|o| o["url"] == u).unwrap_or_else(|| panic!("no line for {u}"));
    assert_eq!(objects.len(), 7, "{:#?}", objects);
    assert_eq!(by_url(&format!("http://{server}/a"))["status"], 200);
    assert_eq!(by_url(&format!("http://{server}/b"))["status"], 200);
    assert_eq!(by_url("not a url")["error"], "invalid-url");
    assert_eq!(by_url("ftp://example.com/")["error"], "unsupported-scheme");
    assert_eq!(by_url("http://[::1/")["error"], "invalid-url");
    let refused = by_url(&format!("http://{refused}/"));
    assert_eq!(refused["error"], "connect");
    assert_eq!(refused["status"], Value::Null);
    assert!(refused["message"].as_str().unwrap().contains("refused"), "{refused}");
}

#[test]
fn urls_from_stdin_in_seed_line_format() {
    let server = builtin_server(ServerConfig::default());
    let input: String = (0..50).map(|i| format!("http://{server}/{i}\n")).collect();
    let run = run_fetch(&["--urls", "-"], Some(input));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 50);
    for line in run.stdout.lines() {
        // The seed script's `DATE:URL with delay D`.
        let (date, rest) = line.split_once(" GMT:").unwrap_or_else(|| panic!("{line}"));
        assert!(date.len() > 20 && rest.starts_with("http://") && rest.ends_with(" with delay 0"), "{line}");
    }
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message() {
    for (args, needle) in [
        (&["-c", "0"][..], "concurrency"),
        (&["--timeout", "soon"], "seconds"),
        (&["--dns-server", "localhost"], "dns-server"),
        (&["--bogus"], "--bogus"),
        (&["-n", "-5"], "-5"),
        (&["--urls", "/nonexistent/list.txt"], "/nonexistent/list.txt"),
    ] {
        let out = Command::new(example("fetch")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn the_thread_check_can_fail() {
    // With the guard, the extra thread is refused.
    let run = run_fetch(&["-n", "10", "--demo-extra-thread"], None);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(run.stderr.contains("guard refused"), "{}", run.stderr);
    assert_eq!(run.watched.peak_threads, 1);
    // Without it, the thread runs and both the census and the outside sampler see it.
    // The thread lives as long as the run, so the run lasts a few hundred milliseconds
    // (server delays) to give the 2 ms sampler many chances to catch it.
    let args = ["-n", "20000", "--max-delay-ms", "20", "--demo-extra-thread", "--allow-threads", "--quiet"];
    let run = run_fetch(&args, None);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(run.stderr.contains("THREAD CHECK FAILED"), "{}", run.stderr);
    assert!(run.stderr.contains("(peak 2,"), "{}", run.stderr);
    assert_eq!(run.watched.peak_threads, 2);
}
