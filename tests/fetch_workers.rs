//! `fetch --workers N`: N single-threaded processes and a router, seen from outside.
//!
//! Everything runs on loopback: the built-in server (on a thread of this test process),
//! ten made-up host names pinned to 127.0.0.1 with `--resolve`, so the host hash has
//! something to split and no name ever reaches the system resolver. The server delays
//! each answer by up to 20 ms, so that every worker lives long enough (hundreds of
//! milliseconds) for the outside sampler to see it; that is a workload, not a sleep.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use common::{FetchRun, Scratch, Watched, builtin_server, example, json_lines, run_fetch, run_fetch_and_children};
use onethread::server::ServerConfig;
use serde_json::{Value, json};

const HOSTS: usize = 10;
const URLS: usize = 150;

/// The list: 150 URLs over ten hosts, a comment, a blank line and one line that is not
/// a URL. Returns the list and the `--resolve` arguments.
fn list(port: u16) -> (String, Vec<String>) {
    let mut list = String::from("# a list for the workers\n\n");
    for i in 0..URLS {
        list += &format!("http://h{}.test:{port}/page/{i}\n", i % HOSTS);
    }
    list += "not a url\n";
    let resolve = (0..HOSTS).map(|h| format!("h{h}.test:{port}:127.0.0.1")).collect();
    (list, resolve)
}

fn server() -> u16 {
    builtin_server(ServerConfig { max_delay: Duration::from_millis(20), ..ServerConfig::default() }).port()
}

/// `fetch ARGS --resolve … --jsonl --quiet --summary-json FILE`, watching the children.
fn run(
    scratch: &Scratch,
    resolve: &[String],
    args: &[&str],
    stdin: Option<String>,
) -> (FetchRun, Value, BTreeMap<u32, Watched>) {
    let summary = scratch.path(&format!("summary-{}.json", args.join("_").replace('/', "-")));
    let summary = summary.to_str().unwrap();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--jsonl", "--quiet", "-c", "6", "--summary-json", summary]);
    for r in resolve {
        all.extend(["--resolve", r]);
    }
    let (run, children) = run_fetch_and_children(&all, stdin);
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    let json = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    (run, json, children)
}

/// What must not depend on how many processes did the work.
fn totals(s: &Value) -> Value {
    let errors: BTreeMap<String, Value> =
        s["errors_by_kind"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v["count"].clone())).collect();
    json!({
        "requests": s["requests"], "successes": s["successes"], "errors": s["errors"],
        "errors_by_kind": errors, "status_codes": s["status_codes"], "body_bytes": s["body_bytes"],
        "latency_count": s["latency_ms"]["count"], "interrupted": s["interrupted"],
    })
}

/// Each output line whole and JSON, one per URL line of the list: `line` and `index`
/// each exactly once. Returns url → (status, error) for comparison between runs.
fn one_line_per_url(run: &FetchRun, urls: usize) -> BTreeMap<String, (Value, Value)> {
    let lines = json_lines(&run.stdout); // fails on a line cut or mixed with another
    assert_eq!(lines.len(), urls, "one line per URL: {}", run.stdout);
    let numbers: BTreeSet<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (3..3 + urls as u64).collect(), "every line of the list exactly once");
    let indexes: BTreeSet<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, (0..urls as u64).collect(), "every index of the input exactly once");
    lines.iter().map(|l| (l["url"].as_str().unwrap().to_owned(), (l["status"].clone(), l["error"].clone()))).collect()
}

/// Every worker reports one thread and the guard, and the outside sampler saw each of
/// them, with one thread, while it ran.
fn each_worker_had_one_thread(summary: &Value, children: &BTreeMap<u32, Watched>, n: usize) {
    let workers = summary["workers"].as_array().unwrap_or_else(|| panic!("no workers in {summary}"));
    assert_eq!(workers.len(), n, "{summary}");
    let shards: BTreeSet<String> = workers.iter().map(|w| w["shard"].as_str().unwrap().to_owned()).collect();
    assert_eq!(shards, (1..=n).map(|k| format!("{k}/{n}")).collect(), "worker k is --shard k/N");
    for w in workers {
        assert_eq!(w["os_threads"]["peak"], 1, "its own census: {w}");
        assert_eq!(w["os_threads"]["creation_forbidden"], true, "the guard: {w}");
        assert_eq!(w["failed"], Value::Null, "{w}");
        let pid = w["pid"].as_u64().unwrap() as u32;
        let seen = children.get(&pid).unwrap_or_else(|| panic!("worker {pid} never seen from outside: {children:?}"));
        assert!(seen.samples > 0, "worker {pid} sampled from outside: {seen:?}");
        assert_eq!(seen.peak_threads, 1, "worker {pid} seen from outside with more than one thread");
    }
    assert_eq!(children.len(), n, "no process other than the workers: {children:?}");
    assert!(children.values().all(|w| w.peak_threads == 1), "{children:?}");
    assert_eq!(summary["router"]["os_threads"]["peak"], 1, "{summary}");
    // The router started the workers under its own guard: spawning is not a thread.
    assert_eq!(summary["os_threads"]["creation_forbidden"], true, "{summary}");
    assert_eq!(summary["os_threads"]["peak"], 1, "{summary}");
}

/// `--workers 2` and `3`: one whole JSON line per URL line, each line and index once,
/// the same outcomes and summary totals as one process, and every process (the
/// router, observed by the harness, and each worker, observed from outside and by
/// itself) with one thread; the workers' lines are exactly those of `--shard k/N`.
#[test]
fn workers_split_by_host_merge_whole_lines_and_add_up_to_one_run() {
    let port = server();
    let scratch = Scratch::new("workers");
    let (list, resolve) = list(port);
    let path = scratch.write("urls.txt", &list);
    let urls = URLS + 1;

    let (one, one_summary, none) = run(&scratch, &resolve, &["--urls", &path], None);
    assert!(none.is_empty(), "--workers 1 is one process: {none:?}");
    assert_eq!(one.watched.peak_threads, 1);
    let outcomes = one_line_per_url(&one, urls);
    assert!(one_summary.get("workers").is_none(), "{one_summary}");

    for n in [2, 3] {
        let (many, summary, children) = run(&scratch, &resolve, &["--urls", &path, "--workers", &n.to_string()], None);
        assert_eq!(many.watched.peak_threads, 1, "the router: {}", many.stderr);
        assert_eq!(one_line_per_url(&many, urls), outcomes, "--workers {n}: the same outcome for every URL");
        assert_eq!(totals(&summary), totals(&one_summary), "--workers {n}: the totals of one process");
        each_worker_had_one_thread(&summary, &children, n);
        assert!(many.stderr.contains(&format!("  workers          {n} processes")), "{}", many.stderr);

        // Each worker took one host's URLs whole: those of --shard k/N.
        let mut by_host: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for w in summary["workers"].as_array().unwrap() {
            let requests = w["requests"].as_u64().unwrap();
            let shard = w["shard"].as_str().unwrap();
            let alone = run_fetch(
                &[&["--urls", &path, "--jsonl", "--quiet", "--shard", shard][..], &resolve_args(&resolve)].concat(),
                None,
            );
            assert_eq!(json_lines(&alone.stdout).len() as u64, requests, "worker {shard} and --shard {shard}");
            for l in json_lines(&alone.stdout) {
                let host = l["url"].as_str().unwrap().split('/').nth(2).unwrap_or("-").to_owned();
                by_host.entry(host).or_default().insert(shard.to_owned());
            }
        }
        assert!(by_host.values().all(|shards| shards.len() == 1), "a host split across workers: {by_host:?}");
    }
}

fn resolve_args(resolve: &[String]) -> Vec<&str> {
    resolve.iter().flat_map(|r| ["--resolve", r.as_str()]).collect()
}

/// A list on stdin is broadcast to the workers: the same lines, `-n` counted in the
/// whole list, and the same totals as one process reading the same stdin.
#[test]
fn a_list_on_stdin_reaches_every_worker() {
    let port = server();
    let scratch = Scratch::new("workers-stdin");
    let (list, resolve) = list(port);
    let (one, one_summary, _) = run(&scratch, &resolve, &["--urls", "-", "-n", "100"], Some(list.clone()));
    let (two, summary, children) =
        run(&scratch, &resolve, &["--urls", "-", "-n", "100", "--workers", "2"], Some(list.clone()));
    assert_eq!(one_line_per_url(&two, 100), one_line_per_url(&one, 100));
    assert_eq!(totals(&summary), totals(&one_summary));
    each_worker_had_one_thread(&summary, &children, 2);
}

/// `--shard K/M --workers N` fetches exactly shard K/M, split between the workers.
#[test]
fn workers_inside_a_shard_fetch_exactly_that_shard() {
    let port = server();
    let scratch = Scratch::new("workers-shard");
    let (list, resolve) = list(port);
    let path = scratch.write("urls.txt", &list);
    let lines = |run: &FetchRun| -> BTreeSet<u64> {
        json_lines(&run.stdout).iter().map(|l| l["line"].as_u64().unwrap()).collect()
    };
    let mut all = BTreeSet::new();
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let (alone, _, _) = run(&scratch, &resolve, &["--urls", &path, "--shard", &shard], None);
        let (split, summary, _) =
            run(&scratch, &resolve, &["--urls", &path, "--shard", &shard, "--workers", "2"], None);
        assert_eq!(lines(&split), lines(&alone), "--shard {shard} --workers 2");
        let shards: Vec<&str> =
            summary["workers"].as_array().unwrap().iter().map(|w| w["shard"].as_str().unwrap()).collect();
        assert_eq!(shards, [format!("{k}/4"), format!("{}/4", k + 2)], "K + jM of MN");
        all.extend(lines(&split));
    }
    assert_eq!(all, (3..3 + URLS as u64 + 1).collect(), "the two shards' workers cover the list");
}

/// Arguments `--workers` cannot honour end the run before it starts, with status 2.
#[test]
fn bad_arguments_with_workers_exit_2_with_one_line() {
    let scratch = Scratch::new("workers-bad");
    let path = scratch.write("urls.txt", "http://a.test/\n");
    for (args, says) in [
        (&["--workers", "2"][..], "needs --urls or a URL template"),
        (&["--workers", "3", "--urls", &path, "-c", "2"], "less than --workers 3"),
        (&["--workers", "0", "--urls", &path], "--workers"),
        (&["--workers", "two", "--urls", &path], "--workers"),
        (&["--workers", "2", "--urls", "/nonexistent/list"], "--urls /nonexistent/list"),
    ] {
        let run = run_fetch(args, None);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("fetch: ") && run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}

/// A `fetch` started in the background: its stdout line by line as it arrives, its
/// stderr whole at the end. Killed and reaped if the test ends first.
struct Background {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Background {
    fn start(args: &[&str]) -> Background {
        Background::start_with(args, Stdio::null())
    }

    fn start_with(args: &[&str], stdin: Stdio) -> Background {
        let mut child = Command::new(example("fetch"))
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fetch");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        let mut pipe = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        Background { child, lines, stderr: Some(stderr) }
    }

    /// The first `n` lines, as they come (the run is under way once they are out).
    fn first(&self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.lines.recv_timeout(Duration::from_secs(30)).expect("fetch writes its lines")).collect()
    }

    /// The worker processes, from `/proc/<pid>/task/<pid>/children`.
    fn workers(&self) -> Vec<u32> {
        let pid = self.child.id();
        let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
        list.split_whitespace().map(|c| c.parse().unwrap()).collect()
    }

    /// Every remaining line, the exit code and stderr, once fetch has exited.
    fn finish(mut self, mut lines: Vec<String>) -> (Vec<String>, Option<i32>, String) {
        lines.extend(self.lines.iter()); // ends when fetch's stdout closes
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(Instant::now() < deadline, "fetch still running");
            thread::sleep(Duration::from_millis(5)); // pacing, not synchronisation
        };
        (lines, code, self.stderr.take().unwrap().join().unwrap())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) on a child of this test, or a worker of it, not reaped yet.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0, "{}", std::io::Error::last_os_error());
}

/// A long list: 3000 URLs, at most 6 in flight, up to 20 ms each.
fn long_run(scratch: &Scratch, summary: &str, urls: usize) -> Background {
    let port = server();
    let mut list = String::new();
    for i in 0..urls {
        list += &format!("http://h{}.test:{port}/page/{i}\n", i % HOSTS);
    }
    let path = scratch.write("urls.txt", &list);
    let resolve: Vec<String> = (0..HOSTS).map(|h| format!("h{h}.test:{port}:127.0.0.1")).collect();
    let mut args = vec!["--urls", &path, "--jsonl", "--quiet", "-c", "6", "--workers", "2", "--summary-json", summary];
    args.extend(resolve_args(&resolve));
    Background::start(&args)
}

/// SIGINT to the router reaches each worker once: every request in flight ends as
/// `cancelled` with its line, the summary adds the workers up and says so, and the exit
/// status is 130, as for one process.
#[test]
fn sigint_to_the_router_cancels_every_worker_s_requests() {
    let scratch = Scratch::new("workers-sigint");
    let summary = scratch.path("summary.json");
    let fetch = long_run(&scratch, summary.to_str().unwrap(), 3000);
    let first = fetch.first(20);
    signal(fetch.child.id(), libc::SIGINT);
    let (lines, code, stderr) = fetch.finish(first);
    assert_eq!(code, Some(130), "{stderr}");
    let lines: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() < 3000, "interrupted early");
    let cancelled = lines.iter().filter(|l| l["error"] == "cancelled").count() as u64;
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], "SIGINT", "{summary}");
    assert_eq!(summary["requests"], lines.len() as u64, "one line per request: {summary}");
    assert_eq!(summary["errors_by_kind"]["cancelled"]["count"], cancelled, "{summary}");
    assert!(cancelled > 0, "requests were in flight");
    for w in summary["workers"].as_array().unwrap() {
        assert_eq!(w["exit_code"], 130, "each worker got the signal once, not twice: {w}");
        assert_eq!(w["failed"], Value::Null, "{w}");
    }
    assert!(stderr.contains("interrupted      by SIGINT"), "{stderr}");
}

/// A worker killed outright is named, with how it ended and its share, and the run
/// fails (status 1); the other worker finishes and is added up.
#[test]
fn a_worker_that_dies_is_reported_and_fails_the_run() {
    let scratch = Scratch::new("workers-death");
    let summary = scratch.path("summary.json");
    let fetch = long_run(&scratch, summary.to_str().unwrap(), 400);
    let first = fetch.first(10);
    let workers = fetch.workers();
    assert_eq!(workers.len(), 2, "{workers:?}");
    signal(workers[0], libc::SIGKILL);
    let (lines, code, stderr) = fetch.finish(first);
    assert_eq!(code, Some(1), "{stderr}");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let by_pid = |pid: u32| summary["workers"].as_array().unwrap().iter().find(|w| w["pid"] == pid).unwrap();
    let (dead, alive) = (by_pid(workers[0]), by_pid(workers[1]));
    assert_eq!(dead["signal"], libc::SIGKILL, "{dead}");
    let shard = dead["shard"].as_str().unwrap();
    assert!(
        stderr
            .contains(&format!("WORKER FAILED: worker {shard} (pid {}) was killed by signal 9 (SIGKILL)", workers[0]))
            && stderr.contains(&format!("--shard {shard}")),
        "{stderr}"
    );
    assert_eq!(alive["exit_code"], 0, "{alive}");
    assert_eq!(summary["requests"], alive["requests"], "the totals are the survivor's: {summary}");
    assert_eq!(lines.len() as u64, dead["output_lines"].as_u64().unwrap() + alive["requests"].as_u64().unwrap());
}

/// The router reads a piped list only as fast as the workers take it: with 40 MB on
/// stdin and slow answers, it has read a few MB (each worker's 1 MiB queue and the
/// pipes) when the first lines are out, and its memory stays far below the list's.
#[test]
fn a_piped_list_is_read_only_as_fast_as_the_workers_take_it() {
    let port = server();
    let mut list = String::new();
    let mut i = 0;
    while list.len() < 40 << 20 {
        list += &format!("http://h{}.test:{port}/page/{i}\n", i % HOSTS);
        i += 1;
    }
    let list = Arc::new(list);
    let resolve: Vec<String> = (0..HOSTS).map(|h| format!("h{h}.test:{port}:127.0.0.1")).collect();
    let mut args = vec!["--urls", "-", "--jsonl", "--quiet", "-c", "6", "--workers", "2"];
    args.extend(resolve_args(&resolve));
    let mut fetch = Background::start_with(&args, Stdio::piped());
    let written = Arc::new(AtomicUsize::new(0));
    let mut stdin = fetch.child.stdin.take().unwrap();
    let (text, count) = (Arc::clone(&list), Arc::clone(&written));
    thread::spawn(move || {
        for chunk in text.as_bytes().chunks(64 * 1024) {
            if stdin.write_all(chunk).is_err() {
                return; // fetch has gone
            }
            count.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    });
    let first = fetch.first(50);
    let router = fetch.child.id();
    let status = std::fs::read_to_string(format!("/proc/{router}/status")).unwrap();
    let hwm_kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    let taken = written.load(Ordering::SeqCst);
    signal(router, libc::SIGINT);
    let (lines, code, stderr) = fetch.finish(first);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(lines.len() >= 50);
    assert!(taken < 8 << 20, "the router read {taken} bytes of a 40 MB list ahead of 50 requests");
    assert!(hwm_kib < 24 << 10, "the router's peak RSS is {hwm_kib} KiB: the list is queued somewhere");
}
