//! Tests of `onethread::proof`, the thread census and the thread guard.
//!
//! libtest runs tests on several threads of one process, and the guard lasts for the
//! life of the process and covers all of its threads. So a test that needs the guard,
//! or an exact thread count, runs its body in a child: a fresh copy of this test binary
//! that runs the one `child_*` test named by `--exact` and by the environment variable
//! [`CHILD`]. The child prints one line starting with [`REPORT`] and exits with status
//! 0, or 2 if it could not install the guard. The parent checks the status and the
//! line. Without the variable the `child_*` tests return at once.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use onethread::proof::{self, Census};

/// Names the `child_*` test that a child process should run.
const CHILD: &str = "ONETHREAD_PROOF_CHILD";
/// Starts the line in which a child reports what it saw.
const REPORT: &str = "child-report:";

// ---------------------------------------------------------------------------------------
// The guard
// ---------------------------------------------------------------------------------------

#[test]
fn guard_refuses_new_threads() {
    let report = child_report("child_spawn_guarded");
    assert_eq!(report, "thread: refused PermissionDenied");
}

#[test]
fn child_spawn_guarded() {
    if is_child("child_spawn_guarded") {
        install_guard();
        finish(&format!("thread: {}", try_spawn()));
    }
}

/// The control for `guard_refuses_new_threads`: the same child without the guard.
#[test]
fn without_guard_threads_can_be_spawned() {
    let report = child_report("child_spawn_unguarded");
    assert_eq!(report, "thread: spawned");
}

#[test]
fn child_spawn_unguarded() {
    if is_child("child_spawn_unguarded") {
        finish(&format!("thread: {}", try_spawn()));
    }
}

#[test]
fn guard_still_lets_processes_start() {
    let report = child_report("child_command_guarded");
    assert_eq!(report, "thread: refused PermissionDenied; /bin/true: exit status: 0");
}

#[test]
fn child_command_guarded() {
    if is_child("child_command_guarded") {
        install_guard();
        let status = match Command::new("/bin/true").status() {
            Ok(status) => status.to_string(),
            Err(e) => format!("failed to start: {e}"),
        };
        finish(&format!("thread: {}; /bin/true: {status}", try_spawn()));
    }
}

#[test]
fn guard_is_reported_once_installed() {
    let report = child_report("child_flag");
    assert_eq!(report, "before=false after=true");
}

#[test]
fn child_flag() {
    if is_child("child_flag") {
        let before = proof::threads_forbidden();
        install_guard();
        let after = proof::threads_forbidden();
        finish(&format!("before={before} after={after}"));
    }
}

// ---------------------------------------------------------------------------------------
// The census
// ---------------------------------------------------------------------------------------

#[test]
fn thread_count_sees_a_new_thread() {
    let report = child_report("child_count");
    let (before, during, outside) = (field(&report, "before"), field(&report, "during"), field(&report, "outside"));
    assert!(during > before, "{report}");
    assert_eq!(outside, during, "/proc/<pid>/status disagrees: {report}");
}

#[test]
fn child_count() {
    if is_child("child_count") {
        let before = proof::thread_count().unwrap();
        let (during, outside) = with_parked_helper(|| {
            let during = proof::thread_count().unwrap();
            (during, proof::threads_of(std::process::id()).unwrap())
        });
        finish(&format!("before={before} during={during} outside={outside}"));
    }
}

#[test]
fn census_keeps_the_peak() {
    let fresh = Census::new();
    assert_eq!((fresh.peak(), fresh.samples()), (0, 0));

    let report = child_report("child_census");
    let [base, high, low, peak, samples] = ["base", "high", "low", "peak", "samples"].map(|key| field(&report, key));
    assert!(high > base, "{report}");
    assert_eq!(low, base, "the helper thread should be gone: {report}");
    assert_eq!(peak, high, "{report}");
    assert_eq!(samples, 3, "{report}");
}

#[test]
fn child_census() {
    if is_child("child_census") {
        let mut census = Census::new();
        let base = census.sample().unwrap();
        let high = with_parked_helper(|| census.sample().unwrap());
        wait_for_thread_count(base);
        let low = census.sample().unwrap();
        let (peak, samples) = (census.peak(), census.samples());
        finish(&format!("base={base} high={high} low={low} peak={peak} samples={samples}"));
    }
}

#[test]
fn thread_names_include_a_named_thread() {
    let names = with_parked_helper(|| proof::thread_names_of(std::process::id()).unwrap());
    assert!(names.iter().any(|name| name == HELPER), "{names:?}");
}

/// Watches a child from outside, as a person with `grep Threads /proc/<pid>/status` would.
#[test]
fn another_process_is_observed_from_outside() {
    let mut child =
        child_command("child_hold").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start child");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let report = stdout
        .lines()
        .map(|line| line.expect("read child output"))
        .find_map(|line| report_in(&line).map(str::to_owned))
        .expect("the child ended without a report");
    // The child now waits, helper parked, until its stdin closes.
    let observed = proof::threads_of(child.id()).unwrap();
    let names = proof::thread_names_of(child.id()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());

    assert_eq!(observed, field(&report, "threads"), "{report}");
    assert_eq!(names.len(), observed, "{names:?}");
    assert!(names.iter().any(|name| name == HELPER), "{names:?}");
}

#[test]
fn child_hold() {
    if is_child("child_hold") {
        with_parked_helper(|| {
            println!("{REPORT} threads={}", proof::thread_count().unwrap());
            io::stdout().flush().unwrap();
            io::stdin().read_to_end(&mut Vec::new()).unwrap();
        });
        std::process::exit(0);
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The name of the thread started by [`with_parked_helper`].
const HELPER: &str = "proof-helper";

/// Runs `f` while one more thread, named [`HELPER`], exists and waits.
fn with_parked_helper<T>(f: impl FnOnce() -> T) -> T {
    let (parked_tx, parked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let helper = thread::Builder::new()
        .name(HELPER.into())
        .spawn(move || {
            parked_tx.send(()).unwrap();
            let _ = release_rx.recv();
        })
        .expect("spawn helper thread");
    parked_rx.recv().expect("helper started");
    let result = f();
    release_tx.send(()).unwrap();
    helper.join().unwrap();
    result
}

/// Waits until this process has `n` threads. `join` returns once a thread has finished
/// running, and the kernel can list it for a moment longer, until it is reaped.
fn wait_for_thread_count(n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while proof::thread_count().unwrap() != n && Instant::now() < deadline {
        thread::yield_now();
    }
}

/// Tries to start a thread and says what happened.
fn try_spawn() -> String {
    match thread::Builder::new().spawn(|| ()) {
        Ok(thread) => {
            thread.join().unwrap();
            "spawned".to_owned()
        }
        Err(e) => format!("refused {:?}", e.kind()),
    }
}

fn install_guard() {
    if let Err(e) = proof::forbid_new_threads() {
        println!("{REPORT} guard failed: {e}");
        io::stdout().flush().ok();
        std::process::exit(2);
    }
}

/// True in the child process started to run test `name`.
fn is_child(name: &str) -> bool {
    std::env::var_os(CHILD).is_some_and(|value| value == name)
}

/// Ends a child: prints the report for the parent and exits with status 0.
fn finish(report: &str) -> ! {
    println!("{REPORT} {report}");
    io::stdout().flush().ok();
    std::process::exit(0)
}

/// A command that runs only test `name` of this binary, as a child.
fn child_command(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("path of this test binary"));
    command.args(["--exact", name, "--nocapture", "--test-threads=1"]).env(CHILD, name);
    command
}

/// Runs child test `name` to its end and returns its report, after checking that it
/// exited with status 0.
fn child_report(name: &str) -> String {
    let output = child_command(name).output().expect("start child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout.lines().find_map(report_in);
    match (output.status.success(), report) {
        (true, Some(report)) => report.to_owned(),
        _ => panic!(
            "child {name} failed ({})\n--- stdout\n{stdout}--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The report in a line of a child's output. libtest may have printed `test NAME ... `
/// at the start of the same line.
fn report_in(line: &str) -> Option<&str> {
    line.split_once(REPORT).map(|(_, report)| report.trim())
}

/// The number after `key=` in a report.
fn field(report: &str, key: &str) -> usize {
    report
        .split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no number `{key}=` in {report:?}"))
}
