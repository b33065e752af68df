//! Soak: 1,000,000 requests at C=1000 against the built-in server in another process,
//! with random delays. Every request must be accounted for, open descriptors and RSS
//! must stay flat from 10% to the end, and the client must stay on one thread.
//!
//! Ignored by default (it takes about half a minute in a release build):
//!
//! ```sh
//! cargo test --release --test soak -- --ignored --nocapture
//! ```
//!
//! The figures it prints are recorded in NOTES.md.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::example;
use onethread::proof;

const REQUESTS: usize = 1_000_000;

struct Sample {
    at_lines: usize,
    fds: usize,
    rss_kib: u64,
    threads: usize,
}

fn sample(pid: u32, at_lines: usize) -> Sample {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Sample { at_lines, fds, rss_kib, threads: proof::threads_of(pid).unwrap_or(0) }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "a million requests: run it on purpose (see the module docs)"]
fn a_million_requests_with_flat_resources() {
    let mut server = Command::new(example("server"))
        .args(["--listen", "127.0.0.1:0", "--max-delay-ms", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.strip_prefix("listening on ").expect("server announces its address").to_string();
    let _server = KillOnDrop(server);

    let started = Instant::now();
    let mut fetch = Command::new(example("fetch"))
        .args([&format!("http://{addr}/{{}}"), "-n", &REQUESTS.to_string(), "-c", "1000", "--jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = fetch.id();
    let stdout = BufReader::with_capacity(1 << 20, fetch.stdout.take().unwrap());
    let mut seen = vec![false; REQUESTS];
    let mut errors: std::collections::BTreeMap<String, usize> = Default::default();
    let mut samples = Vec::new();
    let mut peak_threads = 0;
    let mut count = 0;
    for line in stdout.lines() {
        let line = line.unwrap();
        count += 1;
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let url = v["url"].as_str().unwrap();
        let index: usize = url.rsplit('/').next().unwrap().parse().unwrap();
        assert!(!std::mem::replace(&mut seen[index], true), "request {index} ended twice");
        if let Some(kind) = v["error"].as_str() {
            *errors.entry(kind.to_string()).or_default() += 1;
        }
        if count % 10_000 == 0 {
            peak_threads = peak_threads.max(proof::threads_of(pid).unwrap_or(0));
        }
        if count == REQUESTS / 10 || count == REQUESTS / 2 || count == REQUESTS - 1000 {
            samples.push(sample(pid, count));
        }
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut fetch.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = fetch.wait().unwrap();
    let wall = started.elapsed();

    println!(
        "soak: {count} outcomes in {:.1} s ({:.0}/s), errors {errors:?}",
        wall.as_secs_f64(),
        count as f64 / wall.as_secs_f64()
    );
    for s in &samples {
        println!(
            "soak: at {:>7} outcomes: {} open fds, VmRSS {} KiB, {} thread(s)",
            s.at_lines, s.fds, s.rss_kib, s.threads
        );
    }
    println!("soak: fetch summary:\n{stderr}");
    assert!(status.success(), "{stderr}");
    assert_eq!(count, REQUESTS, "every request ends exactly once");
    assert!(seen.iter().all(|&s| s), "every index has an outcome");
    assert!(errors.is_empty(), "a well-behaved server gives no errors: {errors:?}");
    assert_eq!(peak_threads, 1);
    let (first, last) = (&samples[0], samples.last().unwrap());
    assert!(samples.iter().all(|s| s.threads == 1));
    assert!(last.fds <= first.fds + 5, "descriptors grew from {} to {}", first.fds, last.fds);
    assert!(
        last.rss_kib <= first.rss_kib + first.rss_kib / 10 + 1024,
        "RSS grew from {} to {} KiB",
        first.rss_kib,
        last.rss_kib
    );
}
