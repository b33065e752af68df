//! The live progress line on stderr, drawn from a reactor timer, never from a thread.
//!
//! Progress-bar crates usually redraw from a ticker thread of their own, which this
//! program forbids (its seccomp guard would refuse the thread). Nothing here needs one:
//! the census tick already fires every 100 ms, so the loop turns at least that often,
//! and at the end of a turn in which the line is due, `main` hands it the counters it
//! has anyway. One timer serves both jobs.
//!
//! * Nothing is drawn during a run's first second, so short runs stay clean.
//! * **In place** when stderr is a terminal: `\r`, erase the line, redraw, five times a
//!   second, cut to the terminal's width so it never wraps.
//! * **Plain lines** every 2 s otherwise (a log file, a pipe, CI), and also when stdout
//!   is the same terminal and shows per-request lines: a line redrawn in place would be
//!   torn by them. `main` draws right after flushing stdout, so a progress line always
//!   starts at a line boundary.
//! * **Off** with `--quiet`.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    InPlace,
    Lines,
    Off,
}

impl Style {
    /// The style for this process's stderr. Unless `quiet`, per-request lines go to stdout.
    pub fn choose(quiet: bool) -> Style {
        if quiet {
            Style::Off
        } else if std::io::stderr().is_terminal() && !std::io::stdout().is_terminal() {
            Style::InPlace
        } else {
            Style::Lines
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
    style: Style,
    started: Instant,
    next: Instant,
    /// An in-place line is on screen and must be erased before anything else is printed.
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

    pub fn draw(&mut self, now: Instant, s: &Snapshot) {
        let text = line(s, now - self.started);
        let mut err = std::io::stderr().lock();
        let _ = if self.style == Style::InPlace {
            self.next = now + Duration::from_millis(200);
            self.shown = true;
            let width = terminal_width().unwrap_or(80).saturating_sub(1);
            write!(err, "\r\x1b[2K{}", &text[..text.len().min(width)])
        } else {
            self.next = now + Duration::from_secs(2);
            writeln!(err, "fetch: {text}")
        };
    }

    /// Erases an in-place line, so the summary starts on a clean line.
    pub fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
            self.shown = false;
        }
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
