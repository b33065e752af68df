//! The worker's side of `--workers`: its report to the router, on descriptor
//! [`REPORT_FD`], and the counters in it, which the router adds up ([`add_stats`]).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use mio::event::Event;
use mio::{Interest, Registry, Token};
use onethread::client::Stats;
use serde_json::{Value, json};

use crate::progress::Snapshot;
use crate::stdio::{Outbox, Stream};
use crate::summary::Summary;

/// A worker's report to its router: newline-delimited JSON on [`REPORT_FD`], written
/// like stdout (non-blocking, polled). `{"progress":[done, failures, in_flight, total,
/// exact]}` at most every tick, skipped while the router is behind; then `{"summary":…}`.
pub struct Reporter {
    out: Outbox,
    last: Option<(u64, u64, usize)>,
}

impl Reporter {
    /// Takes descriptor `fd`, which the router left open across `exec`.
    pub fn open(fd: RawFd) -> io::Result<Reporter> {
        // SAFETY: F_SETFD on a descriptor number fails if it is not open, and else marks
        // it close-on-exec, as every descriptor of this program is.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::other(format!("--worker-report {fd}: {}", io::Error::last_os_error())));
        }
        // SAFETY: the descriptor is open, and nothing else in this process owns it.
        let own = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Reporter { out: Outbox::new(Stream::own(own)?), last: None })
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.out.stream.register(registry, token, Interest::WRITABLE)
    }

    pub fn ready(&mut self, event: &Event) {
        self.out.stream.ready(event);
    }

    /// Queues a progress message, if something changed and the router keeps up.
    pub fn progress(&mut self, s: &Snapshot) {
        let now = (s.done, s.failures, s.in_flight);
        if self.out.pending() > 0 || self.last == Some(now) {
            return;
        }
        self.last = Some(now);
        let (total, exact) = s.total.map_or((None, false), |(t, e)| (Some(t), e));
        let message = json!({"progress": [s.done, s.failures, s.in_flight, total, exact]});
        self.queue(&message);
    }

    /// Queues the final report: everything the router needs to add this worker up.
    pub fn summary(&mut self, s: &Summary<'_>) {
        let saver = s.saver.map(|v| json!({"saved": v.saved, "failed": v.failed, "first_error": v.first_error}));
        let message = json!({"summary": {
            "tally": s.tally.export(),
            "stats": stats_json(&s.stats),
            "wall_seconds": s.wall.as_secs_f64(),
            "threads": {"final": s.threads_now, "peak": s.threads_peak, "samples": s.thread_samples,
                        "forbidden": s.threads_forbidden},
            "peak_rss_bytes": s.peak_rss,
            "saved": saver,
            "interrupted": s.interrupted,
        }});
        self.queue(&message);
    }

    fn queue(&mut self, message: &Value) {
        let buf = self.out.buf();
        let _ = serde_json::to_writer(&mut *buf, message); // into a Vec: cannot fail
        buf.push(b'\n');
    }

    pub fn flush(&mut self) {
        self.out.flush();
    }

    /// All of it is out (or can no longer be: the router is gone).
    pub fn is_drained(&self) -> bool {
        self.out.pending() == 0 || self.out.failed.is_some()
    }
}

/// The client's counters by name; [`add_stats`] reads them back.
fn stats_json(st: &Stats) -> Value {
    st.counters().into_iter().map(|(name, n)| (name.to_owned(), json!(n))).collect()
}

/// Adds a worker's counters, as [`stats_json`] wrote them, to `sum`.
pub fn add_stats(sum: &mut Stats, v: &Value) {
    let mut worker = Stats::default();
    for (name, n) in v.as_object().into_iter().flatten() {
        worker.set(name, n.as_u64().unwrap_or(0));
    }
    *sum += worker;
}
