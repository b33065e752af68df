//! Running out of file descriptors: with room for far fewer sockets than the
//! concurrency asks for, requests wait for a socket instead of failing, and all of them
//! succeed. The client runs in a child process (the limit is per process), against a
//! server in this one.

mod common;

use std::process::Command;

use common::*;
use onethread::client::Config;
use onethread::server::ServerConfig;

const CHILD: &str = "ONETHREAD_EXHAUSTION_SERVER";

#[test]
fn child_fetches_with_64_descriptors() {
    let Ok(server) = std::env::var(CHILD) else { return }; // only runs as the child
    let limit = libc::rlimit { rlim_cur: 64, rlim_max: 64 };
    // SAFETY: setrlimit reads the struct we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let urls = (0..1000).map(|i| format!("http://{server}/{i}")).collect();
    let (got, stats) = fetch_all(Config { concurrency: 200, ..Config::default() }, urls);
    let failed: Vec<_> = got.iter().filter(|g| g.status != Some(200)).take(3).collect();
    println!(
        "child-report: failed={} backoffs={} opened={}",
        failed.len(),
        stats.socket_backoffs,
        stats.connections_opened
    );
    std::process::exit(if failed.is_empty() && stats.socket_backoffs > 0 { 0 } else { 1 });
}

#[test]
fn out_of_descriptors_means_wait_not_fail() {
    // Connection: close on every response would be the harshest case, but the
    // built-in server keeps connections alive, so a slot frees only when the client
    // evicts or the server closes; the client must still never exceed its descriptors.
    let server = builtin_server(ServerConfig::default());
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_fetches_with_64_descriptors", "--nocapture", "--test-threads=1"])
        .env(CHILD, server.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("child-report: failed=0"), "{stdout}");
}
