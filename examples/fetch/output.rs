//! Per-request output on stdout: the seed script's lines, or one JSON object per request.
//!
//! Lines are written into a 64 KiB buffer and reach stdout when `main` flushes it, once
//! per turn of the reactor: one `write` for hundreds of lines. Every outcome is written
//! as whole lines, so after a flush stdout always ends at a line boundary; that is what
//! lets the progress line on stderr share a terminal with it.
//!
//! JSON is written by hand rather than through serde: an outcome borrows the client's
//! buffers, and formatting it straight into the output buffer allocates nothing.

use std::io::{self, BufWriter, Write};

use onethread::client::Outcome;

pub enum Mode {
    /// The seed's `DATE:URL with delay D`.
    Lines,
    Jsonl,
    Quiet,
}

/// The keys every JSON line has; a `--header-out` name equal to one of them is prefixed.
const KEYS: [&str; 8] = ["index", "url", "status", "bytes", "error", "message", "delay", "ms"];

pub struct Output {
    out: BufWriter<io::Stdout>,
    mode: Mode,
    /// `--header-out`: (header name, JSON key), deduplicated.
    headers: Vec<(String, String)>,
}

impl Output {
    pub fn new(mode: Mode, header_out: &[String]) -> Self {
        let mut headers: Vec<(String, String)> = Vec::new();
        for name in header_out {
            let key = if KEYS.contains(&name.as_str()) { format!("header:{name}") } else { name.clone() };
            if !headers.iter().any(|(n, _)| n == name) {
                headers.push((name.clone(), key));
            }
        }
        Output { out: BufWriter::with_capacity(64 * 1024, io::stdout()), mode, headers }
    }

    pub fn write(&mut self, o: &Outcome<'_>) {
        // A closed stdout (`fetch | head`) must not stop the run; the summary still counts.
        let _ = match self.mode {
            Mode::Quiet => Ok(()),
            Mode::Lines => write_line(&mut self.out, o),
            Mode::Jsonl => write_json(&mut self.out, o, &self.headers),
        };
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn header<'a>(o: &Outcome<'a>, name: &str) -> Option<&'a [u8]> {
    o.result.as_ref().ok()?.headers.get(name)
}

fn write_line(out: &mut impl Write, o: &Outcome<'_>) -> io::Result<()> {
    match &o.result {
        Ok(_) => {
            let text = |name| header(o, name).map_or("-".into(), String::from_utf8_lossy);
            writeln!(out, "{}:{} with delay {}", text("date"), o.url, text("delay"))
        }
        Err(e) => writeln!(out, "{} failed: {}: {}", o.url, e.kind, e.message),
    }
}

fn write_json(out: &mut impl Write, o: &Outcome<'_>, headers: &[(String, String)]) -> io::Result<()> {
    write!(out, "{{\"index\":{},\"url\":", o.index)?;
    json_str(out, o.url)?;
    match &o.result {
        Ok(r) => write!(out, ",\"status\":{},\"bytes\":{},\"error\":null,\"message\":null", r.status, r.body_len)?,
        Err(e) => {
            write!(out, ",\"status\":null,\"bytes\":0,\"error\":\"{}\",\"message\":", e.kind)?;
            json_str(out, &e.message)?;
        }
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
