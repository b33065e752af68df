//! The live progress line, drawn from a reactor timer, never from a thread.
//!
//! Progress-bar crates usually redraw from a ticker thread of their own, which this
//! program forbids (its seccomp guard would refuse the thread). Nothing here needs one:
//! the census tick already fires every 100 ms, so the loop turns at least that often,
//! and at the end of a turn in which the line is due, `main` asks for its text. This
//! file decides *what* and *when*; `main` queues the text on stderr or stdout without
//! blocking (a progress line is the one output that may be skipped: while stderr's
//! reader is not keeping up, no new one is queued).
//!
//! * Nothing is drawn during a run's first second, so short runs stay clean.
//! * **In place** when stderr is a terminal: `\r`, erase the line, redraw, five times a
//!   second, cut to the terminal's width so it never wraps.
//! * **Pinned** when stdout is that same terminal and shows per-request lines: the
//!   line stays at the bottom, and `output.rs` erases and redraws it around each batch
//!   of lines, so neither tears the other. Its text changes at most five times a second.
//! * **Plain lines** every 2 s otherwise (a log file, a pipe, CI).
//! * **Off** with `--quiet`.

use std::time::{Duration, Instant};

use crate::output::{self, Output};
use crate::stdio::{self, Outbox};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    InPlace,
    Pinned,
    Lines,
    Off,
}

impl Style {
    /// The style for this process's stderr. Unless `quiet`, per-request lines go to stdout.
    pub fn choose(quiet: bool) -> Style {
        match (stdio::terminal_device(libc::STDERR_FILENO), stdio::terminal_device(libc::STDOUT_FILENO)) {
            _ if quiet => Style::Off,
            (Some(err), Some(out)) if err == out => Style::Pinned,
            (Some(_), _) => Style::InPlace,
            (None, _) => Style::Lines,
        }
    }
}

/// What the line shows, sampled at the end of a turn.
pub struct Snapshot {
    pub done: u64,
    pub failures: u64,
    pub in_flight: usize,
    /// Expected requests, and whether that is exact (see `input::Total`).
    pub total: Option<(u64, bool)>,
}

const FIRST_AFTER: Duration = Duration::from_secs(1);

pub struct Progress {
    pub style: Style,
    started: Instant,
    next: Instant,
    /// An in-place line is on the terminal, for [`Progress::clear`] to erase.
    shown: bool,
}

impl Progress {
    pub fn new(style: Style, started: Instant) -> Self {
        Progress { style, started, next: started + FIRST_AFTER, shown: false }
    }

    /// Whether the line should be drawn now.
    pub fn is_due(&self, now: Instant) -> bool {
        self.style != Style::Off && now >= self.next
    }

    /// The line's text, and when the next one is due. In place or pinned, it is cut
    /// to the terminal's width and carries no newline; otherwise it is a log line.
    pub fn text(&mut self, now: Instant, s: &Snapshot) -> String {
        let text = line(s, now - self.started);
        if self.style == Style::Lines {
            self.next = now + Duration::from_secs(2);
            return format!("fetch: {text}\n");
        }
        self.next = now + Duration::from_millis(200);
        let width = terminal_width().unwrap_or(80).saturating_sub(1);
        text[..text.len().min(width)].to_owned()
    }
}

impl Progress {
    /// Queues the line where its style draws it: `stdout`'s pinned status line, or
    /// `stderr` (skipped while stderr's reader is behind). Call when due.
    pub fn draw(&mut self, now: Instant, s: &Snapshot, stdout: &mut Output, stderr: &mut Outbox) {
        match self.style {
            Style::Pinned => {
                let text = self.text(now, s);
                stdout.set_status(Some(text));
            }
            _ if stderr.pending() > 0 => {} // stderr's reader is behind: skip this one
            Style::InPlace => {
                let text = self.text(now, s);
                let buf = stderr.buf();
                buf.extend_from_slice(output::ERASE);
                buf.extend_from_slice(text.as_bytes());
                self.shown = true;
            }
            Style::Lines => {
                let text = self.text(now, s);
                stderr.buf().extend_from_slice(text.as_bytes());
            }
            Style::Off => {}
        }
    }

    /// Erases the line for good, before the summary.
    pub fn clear(&mut self, stdout: &mut Output, stderr: &mut Outbox) {
        if self.style == Style::Pinned {
            stdout.set_status(None);
        }
        if std::mem::take(&mut self.shown) {
            stderr.buf().extend_from_slice(output::ERASE);
        }
        self.style = Style::Off;
    }
}

/// `[0:12] 612034/1000000 (61.2%)  51002 req/s  in flight 1000  errors 0  ETA 0:08`,
/// ASCII only, so cutting it at any byte is safe.
fn line(s: &Snapshot, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = s.done as f64 / secs.max(1e-9);
    let mut text = format!("[{}] {}", clock(secs), s.done);
    if let Some((total, exact)) = s.total {
        let pct = 100.0 * s.done as f64 / total.max(1) as f64;
        text += &format!("/{}{total} ({pct:.1}%)", if exact { "" } else { "~" });
    }
    text += &format!("  {rate:.0} req/s  in flight {}  errors {}", s.in_flight, s.failures);
    if let Some((total, _)) = s.total
        && rate > 0.0
    {
        text += &format!("  ETA {}", clock(total.saturating_sub(s.done) as f64 / rate));
    }
    text
}

/// `m:ss`, or `h:mm:ss` from an hour on.
fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..3600 => format!("{}:{:02}", s / 60, s % 60),
        _ => format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
    }
}

/// Columns of the terminal on stderr, asked at every draw so a resize is followed.
fn terminal_width() -> Option<usize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ only writes the winsize struct we pass.
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col as usize)
}
