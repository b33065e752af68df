//! Watching a process from outside: its threads, its peak RSS, its wall time.
//!
//! A process cannot be trusted to count its own helper threads (it may not know about
//! them: c-ares's event thread is invisible to Python), so the census asks the kernel.
//! Every couple of milliseconds it lists `/proc/<pid>/task` and reads each thread's
//! `comm`. It keeps the peak count, and the last name seen for every thread id: a new
//! thread starts with its creator's name and renames itself a moment later (tokio's
//! `tokio-rt-worker`), and the main thread takes the program's name at `exec`. Peak RSS is the kernel's own high-water mark, which `wait4` returns
//! in `ru_maxrss` when the child is reaped, so nothing is missed between samples; the
//! same `rusage` gives the child's CPU time (user + system), which `vs_tokio` divides by
//! the requests it made.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_millis(2);

/// What was seen of one child, from spawn to exit.
#[derive(Debug)]
pub struct Watched {
    /// How it ended: `Ok(code)` or `Err(description)` for a signal or a timeout.
    pub exit: Result<i32, String>,
    pub wall: Duration,
    pub peak_threads: usize,
    /// Every thread seen, by its last name (grouped, see [`group`]): name → threads.
    pub names: BTreeMap<String, usize>,
    pub samples: u64,
    pub peak_rss_kib: u64,
    /// CPU time, user + system, from `wait4`'s `rusage`.
    pub cpu: Duration,
}

/// Spawns `command`, samples it until it exits (or kills it after `timeout`).
pub fn watch(command: &mut Command, timeout: Duration) -> io::Result<Watched> {
    let start = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id();
    let mut seen = Watched {
        exit: Ok(0),
        wall: Duration::ZERO,
        peak_threads: 0,
        names: BTreeMap::new(),
        samples: 0,
        peak_rss_kib: 0,
        cpu: Duration::ZERO,
    };
    let mut last_name: BTreeMap<u32, String> = BTreeMap::new();
    let mut killed = false;
    loop {
        if let Some(reaped) = reap(pid, libc::WNOHANG)? {
            seen.wall = start.elapsed();
            seen.exit = if killed { Err(format!("killed after {} s", timeout.as_secs())) } else { reaped.exit };
            seen.peak_rss_kib = reaped.peak_rss_kib;
            seen.cpu = reaped.cpu;
            for name in last_name.values() {
                *seen.names.entry(group(name)).or_default() += 1;
            }
            return Ok(seen);
        }
        sample(pid, &mut seen, &mut last_name);
        if !killed && start.elapsed() > timeout {
            child.kill()?;
            killed = true;
        }
        thread::sleep(EVERY);
    }
}

/// One look at the child's threads. A thread (or the child) that ends meanwhile is
/// simply not counted.
fn sample(pid: u32, seen: &mut Watched, last_name: &mut BTreeMap<u32, String>) {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return };
    let mut count = 0;
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        count += 1;
        if let Ok(comm) = fs::read_to_string(task.path().join("comm")) {
            last_name.insert(tid, comm.trim_end().to_owned());
        }
    }
    seen.samples += 1;
    seen.peak_threads = seen.peak_threads.max(count);
}

/// What `wait4` says of a child that ended.
struct Reaped {
    exit: Result<i32, String>,
    peak_rss_kib: u64,
    cpu: Duration,
}

/// `wait4` on the child, or `None` if it still runs.
fn reap(pid: u32, flags: libc::c_int) -> io::Result<Option<Reaped>> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child; both pointers are to live locals.
    let got = unsafe { libc::wait4(pid as libc::pid_t, &mut status, flags, &mut usage) };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    if got == 0 {
        return Ok(None);
    }
    let exit = if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(format!("killed by signal {}", libc::WTERMSIG(status)))
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(Some(Reaped { exit, peak_rss_kib: usage.ru_maxrss as u64, cpu: time(usage.ru_utime) + time(usage.ru_stime) }))
}

/// Groups numbered thread names: `asyncio_3` and `worker-12` become `asyncio_*` and
/// `worker-*`; any other name (`python3`, `tokio-runtime-w`) stays as it is.
pub fn group(name: &str) -> String {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() < name.len() && (stem.ends_with('_') || stem.ends_with('-')) {
        format!("{stem}*")
    } else {
        name.to_owned()
    }
}
