//! Per-request output on stdout: the seed script's lines, or one JSON object per request.
//!
//! Lines are formatted into a buffer and written when the poll says stdout can take
//! them (`stdio.rs`): one `write` carries hundreds of lines, and a slow reader never
//! blocks the thread. **Back-pressure:** once [`HIGH_WATER`] bytes wait, the sink tells
//! the client to stop admitting requests ([`Output::wants_more`]); requests in flight
//! go on and their lines are still queued. So a reader that pauses for seconds slows
//! the run down to its pace, and never turns into timeouts blamed on servers. The
//! buffer holds at most `HIGH_WATER` plus one line per request in flight: with the
//! defaults (C = 1000, lines of 100–200 bytes) well under 1 MiB.
//!
//! Every outcome is written as whole lines, so stdout always ends at a line boundary
//! between writes. When stdout is the terminal the progress line is drawn on, that
//! line is *pinned* here ([`Output::set_status`]): each batch of lines is written as
//! "erase the progress line, the lines, the progress line again", in one `write`, so
//! the two never tear each other (the way cargo and indicatif do it).
//!
//! JSON is written by hand rather than through serde: an outcome borrows the client's
//! buffers, and formatting it straight into the output buffer allocates nothing.

use std::io::{self, Write};

use onethread::client::Outcome;

use crate::stdio::Outbox;

pub enum Mode {
    /// The seed's `DATE:URL with delay D`.
    Lines,
    Jsonl,
    Quiet,
}

/// Queued bytes above which no new request is admitted.
pub const HIGH_WATER: usize = 256 * 1024;

/// `\r`, then erase the whole line: where an in-place line is redrawn.
pub const ERASE: &[u8] = b"\r\x1b[2K";

/// The keys every JSON line has; a `--header-out` name equal to one of them is prefixed.
const KEYS: [&str; 13] = [
    "index",
    "line",
    "url",
    "final_url",
    "redirects",
    "attempts",
    "status",
    "bytes",
    "wire_bytes",
    "error",
    "message",
    "delay",
    "ms",
];

pub struct Output {
    out: Outbox,
    mode: Mode,
    /// `--header-out`: (header name, JSON key), deduplicated.
    headers: Vec<(String, String)>,
    /// With a pinned progress line: lines waiting for the next batch around it.
    lines: Vec<u8>,
    pinned: Option<Pinned>,
    /// `-L`: every line says where it ended (`final_url`) and after how many redirects.
    pub redirect_keys: bool,
    /// `--compressed`: every line says how many bytes came over the wire.
    pub wire_bytes: bool,
    /// `--retry`: every line says how many attempts it took.
    pub attempts: bool,
}

/// The progress line, when it lives at the bottom of stdout's terminal.
struct Pinned {
    /// What to draw; `None` once cleared for good.
    text: Option<String>,
    /// The line is on screen (or queued to be), so the next batch starts by erasing it.
    shown: bool,
    /// The text changed since it was last queued.
    dirty: bool,
}

impl Output {
    pub fn new(out: Outbox, mode: Mode, header_out: &[String]) -> Self {
        let mut headers: Vec<(String, String)> = Vec::new();
        for name in header_out {
            let key = if KEYS.contains(&name.as_str()) { format!("header:{name}") } else { name.clone() };
            if !headers.iter().any(|(n, _)| n == name) {
                headers.push((name.clone(), key));
            }
        }
        let (redirect_keys, wire_bytes, attempts) = (false, false, false);
        Output { out, mode, headers, lines: Vec::new(), pinned: None, redirect_keys, wire_bytes, attempts }
    }

    /// Keeps a progress line at the bottom of stdout's terminal from now on.
    pub fn pin_status(&mut self) {
        self.pinned = Some(Pinned { text: None, shown: false, dirty: false });
    }

    /// New text for the pinned progress line; `None` erases it.
    pub fn set_status(&mut self, text: Option<String>) {
        if let Some(p) = &mut self.pinned {
            p.dirty |= p.text != text;
            p.text = text;
        }
    }

    /// Formats `o`'s line; `line` is its line number in the URL list, if it came from one.
    pub fn write(&mut self, o: &Outcome<'_>, line: Option<u64>) {
        if self.out.failed.is_some() {
            return; // stdout is gone; `main` is stopping the run
        }
        let buf = if self.pinned.is_some() { &mut self.lines } else { self.out.buf() };
        // Writing into a Vec cannot fail.
        let _ = match self.mode {
            Mode::Quiet => Ok(()),
            Mode::Lines => write_line(buf, o),
            Mode::Jsonl => {
                write_json(buf, o, line, (self.redirect_keys, self.wire_bytes, self.attempts), &self.headers)
            }
        };
    }

    /// Queues whole lines formatted elsewhere (by a worker process, `workers/`).
    pub fn forward(&mut self, lines: &[u8]) {
        if self.out.failed.is_none() {
            let buf = if self.pinned.is_some() { &mut self.lines } else { self.out.buf() };
            buf.extend_from_slice(lines);
        }
    }

    /// Whether the client may admit more requests: little enough is waiting.
    pub fn wants_more(&self) -> bool {
        self.out.pending() + self.lines.len() < HIGH_WATER
    }

    /// Writes what stdout takes now. Returns the write error that ended the output.
    pub fn flush(&mut self) -> Option<&io::Error> {
        if let Some(p) = &mut self.pinned
            && self.out.pending() == 0
            && (p.dirty || !self.lines.is_empty())
        {
            // The next batch: erase the line, the lines, the line again.
            let buf = self.out.buf();
            if p.shown {
                buf.extend_from_slice(ERASE);
            }
            buf.append(&mut self.lines);
            p.shown = p.text.is_some();
            buf.extend_from_slice(p.text.as_deref().unwrap_or_default().as_bytes());
            p.dirty = false;
        }
        self.out.flush();
        self.out.failed.as_ref()
    }

    /// Everything queued has been written (or can no longer be).
    pub fn is_drained(&self) -> bool {
        self.out.failed.is_some() || (self.out.pending() == 0 && self.lines.is_empty())
    }

    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.out
    }
}

/// A header of the response as far as it arrived (a failed request may have its head).
fn header<'a>(o: &Outcome<'a>, name: &str) -> Option<&'a [u8]> {
    o.response()?.headers.get(name)
}

fn write_line(out: &mut impl Write, o: &Outcome<'_>) -> io::Result<()> {
    match &o.result {
        Ok(_) => {
            let text = |name| header(o, name).map_or("-".into(), String::from_utf8_lossy);
            writeln!(out, "{}:{} with delay {}", text("date"), o.url, text("delay"))
        }
        Err(e) => match &o.partial {
            Some(r) => writeln!(
                out,
                "{} failed: {}: {} (status {}, {} body bytes received)",
                o.url, e.kind, e.message, r.status, r.body_len
            ),
            None => writeln!(out, "{} failed: {}: {}", o.url, e.kind, e.message),
        },
    }
}

fn write_json(
    out: &mut impl Write,
    o: &Outcome<'_>,
    line: Option<u64>,
    (redirect_keys, wire_bytes, attempts): (bool, bool, bool),
    headers: &[(String, String)],
) -> io::Result<()> {
    write!(out, "{{\"index\":{}", o.index)?;
    if let Some(line) = line {
        write!(out, ",\"line\":{line}")?;
    }
    out.write_all(b",\"url\":")?;
    json_str(out, o.url)?;
    match &o.result {
        Ok(r) => write!(out, ",\"status\":{},\"bytes\":{},\"error\":null,\"message\":null", r.status, r.body_len)?,
        Err(e) => {
            match &o.partial {
                Some(r) => write!(out, ",\"status\":{},\"bytes\":{}", r.status, r.body_len)?,
                None => out.write_all(b",\"status\":null,\"bytes\":0")?,
            }
            write!(out, ",\"error\":\"{}\",\"message\":", e.kind)?;
            json_str(out, &e.message)?;
        }
    }
    if attempts {
        write!(out, ",\"attempts\":{}", o.attempts)?;
    }
    if wire_bytes {
        write!(out, ",\"wire_bytes\":{}", o.response().map_or(0, |r| r.wire_len))?;
    }
    if redirect_keys {
        out.write_all(b",\"final_url\":")?;
        json_str(out, o.final_url.unwrap_or(o.url))?;
        write!(out, ",\"redirects\":{}", o.redirects)?;
    }
    json_field(out, "delay", header(o, "delay"))?;
    write!(out, ",\"ms\":{:.3}", o.elapsed.as_secs_f64() * 1000.0)?;
    for (name, key) in headers {
        json_field(out, key, header(o, name))?;
    }
    out.write_all(b"}\n")
}

/// `,"key":"value"`, or `,"key":null`; bytes that are not UTF-8 become U+FFFD.
fn json_field(out: &mut impl Write, key: &str, value: Option<&[u8]>) -> io::Result<()> {
    out.write_all(b",")?;
    json_str(out, key)?;
    out.write_all(b":")?;
    match value {
        Some(v) => json_str(out, &String::from_utf8_lossy(v)),
        None => out.write_all(b"null"),
    }
}

/// A JSON string literal (RFC 8259 §7).
fn json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.write_all(&s.as_bytes()[plain..i])?;
        if escape.is_empty() {
            write!(out, "\\u{:04x}", c as u32)?;
        } else {
            out.write_all(escape.as_bytes())?;
        }
        plain = i + c.len_utf8();
    }
    out.write_all(&s.as_bytes()[plain..])?;
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use onethread::client::{Error, ErrorKind, RequestId};

    use super::*;
    use crate::stdio::{Stream, test_pipe};

    fn failed(index: u64, error: &Error) -> Outcome<'_> {
        Outcome {
            index: RequestId(index),
            url: "http://h/",
            result: Err(error),
            partial: None,
            elapsed: Duration::from_millis(1),
            redirects: 0,
            final_url: None,
            attempts: 1,
        }
    }

    fn output(mode: Mode) -> (Output, std::fs::File) {
        let (read, write) = test_pipe();
        (Output::new(Outbox::new(Stream::own(write).unwrap()), mode, &[]), std::fs::File::from(read))
    }

    fn take(reader: &mut std::fs::File) -> String {
        let mut buf = vec![0; 1 << 20];
        let n = reader.read(&mut buf).unwrap_or(0);
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn a_pinned_progress_line_is_erased_and_redrawn_around_each_batch() {
        let (mut out, mut screen) = output(Mode::Lines);
        out.pin_status();
        let e = Error::new(ErrorKind::Reset, "gone");
        out.write(&failed(0, &e), None);
        out.flush();
        assert_eq!(take(&mut screen), "http://h/ failed: reset: gone\n", "nothing pinned yet");
        out.set_status(Some("[0:01] 1".into()));
        out.flush();
        assert_eq!(take(&mut screen), "[0:01] 1");
        out.write(&failed(1, &e), None);
        out.write(&failed(2, &e), None);
        out.flush();
        let batch = "http://h/ failed: reset: gone\n".repeat(2);
        assert_eq!(take(&mut screen), format!("\r\x1b[2K{batch}[0:01] 1"), "erase, lines, redraw");
        out.flush();
        assert_eq!(take(&mut screen), "", "no redraw without news");
        out.set_status(None);
        out.flush();
        assert_eq!(take(&mut screen), "\r\x1b[2K", "cleared before the summary");
        assert!(out.is_drained());
    }

    #[test]
    fn a_slow_reader_turns_into_back_pressure_not_into_an_unbounded_buffer() {
        let (mut out, mut reader) = output(Mode::Jsonl);
        let e = Error::new(ErrorKind::Reset, "x".repeat(200));
        let mut written = 0;
        while out.wants_more() {
            out.write(&failed(written, &e), None);
            out.flush();
            written += 1;
        }
        assert!(out.outbox().stream.blocked, "the pipe filled first");
        assert!(out.outbox().pending() >= HIGH_WATER);
        assert!(out.outbox().pending() < HIGH_WATER + 1024, "stops within a line of the mark");
        // The reader catches up; the queue drains as the poll reports room.
        let mut seen = 0;
        while !out.is_drained() {
            seen += take(&mut reader).matches('\n').count();
            out.outbox().stream.blocked = false;
            out.flush();
        }
        seen += take(&mut reader).matches('\n').count();
        assert_eq!(seen as u64, written, "every line arrives, none twice");
        assert!(out.wants_more());
    }
}
