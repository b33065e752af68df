//! Where URLs come from: one at a time, only when the client asks, never waiting.
//!
//! The client pulls the next URL only when a request slot is free, so the input is read
//! exactly as fast as requests finish. A list of ten million lines then costs what a
//! list of ten costs: one bounded buffer. A template builds each URL when it is pulled.
//! Nothing here keeps anything per URL.
//!
//! **A list on a pipe, FIFO, socket or terminal** (stdin included) is read on the
//! reactor (`stdio.rs`): a read that would block makes the source answer
//! [`Pull::Later`], and `main` tells it when the poll reports the stream readable. Each
//! complete line is admitted as soon as it arrives and a slot is free, so
//! `tail -f list | fetch --urls -` starts at the first line, and a slow writer never
//! holds up requests already in flight or their deadlines. A **regular file** cannot
//! be polled (epoll refuses it, and it never waits for another process): it is read in
//! plain 64 KiB chunks.
//!
//! The buffer holds at most one 64 KiB read beyond the longest line kept, and a line
//! is kept only up to [`url::MAX_LEN`]: a longer one is cut there, fails as
//! `invalid-url` (too long), and the rest of it is skipped.
//!
//! The progress line wants a total for its percentage and ETA. A template knows it
//! exactly. A file would need a second pass to count its lines, so instead the total is
//! extrapolated from how far through the file the reader is: requests so far × file
//! size ÷ bytes read. The estimate sharpens as the run goes and is exact once the whole
//! file has been read. A pipe has no size; its total is unknown unless `-n` caps it.
//!
//! With `--shard K/N` (`shard.rs`), URLs of other shards are passed over as they are
//! read: `-n` counts lines of the whole list, a request's `line` is its line in the
//! whole list and its `index` its position among the whole input's URLs, so the
//! shards' outputs merge by either, and shards saving into one `-o DIR` never collide.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::rc::Rc;

use mio::event::Event;
use onethread::client::{self, Next, Source};
use onethread::url;

use crate::shard::Shard;
use crate::stdio::Stream;

/// Bytes asked for per read.
const CHUNK: usize = 64 * 1024;

pub struct Input {
    pub urls: Urls,
    pub total: Total,
    /// With a URL list or a shard: where each request came from (see [`Origins`]).
    pub origins: Option<Origins>,
}

/// Where a request came from in the whole input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Origin {
    /// Its position among the input's URLs, from 0. With `--shard`, the other shards'
    /// URLs count too, so a URL has the same index whichever process fetches it.
    pub index: u64,
    /// From a list: its 1-based line number (blank and `#` lines make the two differ).
    pub line: Option<u64>,
}

/// The client's request index → its [`Origin`], for the requests handed out and not
/// yet reported. The output takes each entry back as the request ends, so this holds
/// at most the requests in flight.
pub type Origins = Rc<RefCell<HashMap<u64, Origin>>>;

/// How many requests the run will make, as far as it can be known while it runs.
pub enum Total {
    /// A template makes exactly N requests.
    Exact(u64),
    /// A URL list: extrapolated from the bytes read so far, and capped by `-n`.
    Estimated { file_len: Option<u64>, bytes_read: Rc<Cell<u64>>, cap: Option<u64> },
}

impl Total {
    /// The expected number of requests, given that `admitted` have been taken from the
    /// input so far; `None` while nothing is known. The flag says whether it is exact.
    pub fn estimate(&self, admitted: u64) -> Option<(u64, bool)> {
        match self {
            Total::Exact(n) => Some((*n, true)),
            Total::Estimated { file_len, bytes_read, cap } => {
                let read = bytes_read.get();
                let extrapolated = file_len.filter(|_| read > 0).map(|len| {
                    (u128::from(admitted) * u128::from(len) / u128::from(read)).min(u128::from(u64::MAX)) as u64
                });
                let n = match (extrapolated, *cap) {
                    (Some(e), Some(c)) => Some(e.min(c)),
                    (e, c) => e.or(c),
                };
                n.map(|n| (n.max(admitted), false))
            }
        }
    }
}

/// What the input has next: the client's [`Next`], before a URL becomes a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Pull {
    Url(String),
    Later,
    End,
}

/// The run's requests: each URL of the input, sent with the run's one request
/// template (`-X`, `-H`, `-d`), which is prepared once and shared by all of them.
pub struct Requests {
    pub urls: Urls,
    pub template: client::Template,
}

impl Source for Requests {
    fn next_request(&mut self) -> Next {
        match self.urls.next_url() {
            Pull::Url(url) => Next::Request(self.template.request(url)),
            Pull::Later => Next::Later,
            Pull::End => Next::End,
        }
    }
}

/// The run's URLs: a template or a list.
pub enum Urls {
    Template(Template),
    Lines(Lines),
}

impl Urls {
    fn next_url(&mut self) -> Pull {
        match self {
            Urls::Template(t) => t.next(),
            Urls::Lines(l) => l.next(),
        }
    }

    /// The poll has news for the list's stream.
    pub fn ready(&mut self, event: &Event) {
        if let Urls::Lines(lines) = self {
            lines.stream.ready(event);
        }
    }

    /// Why reading the list stopped early, once.
    pub fn take_error(&mut self) -> Option<String> {
        match self {
            Urls::Lines(lines) => lines.error.take(),
            Urls::Template(_) => None,
        }
    }

    /// The list's stream, to register with the poll.
    pub fn stream(&mut self) -> Option<&mut Stream> {
        match self {
            Urls::Lines(lines) => Some(&mut lines.stream),
            Urls::Template(_) => None,
        }
    }
}

/// `{}` in a template replaced by 0, 1, …, n-1, each URL built when it is pulled.
pub struct Template {
    /// The template split at `{}`: each URL is one allocation, the pieces with the index between.
    pieces: Vec<String>,
    len: usize,
    next: u64,
    /// `next` in decimal.
    digits: Vec<u8>,
    n: u64,
    shard: Option<Shard>,
    /// With a shard: URLs handed out, and where each came from.
    handed: u64,
    origins: Origins,
}

impl Template {
    fn next(&mut self) -> Pull {
        // One allocation per URL handed out: with a shard, the other shards' URLs are
        // built in the same string, then dropped by clearing it.
        let mut url = String::with_capacity(self.len);
        while self.next < self.n {
            url.clear();
            let index = std::str::from_utf8(&self.digits).expect("ASCII digits");
            for (k, piece) in self.pieces.iter().enumerate() {
                if k > 0 {
                    url.push_str(index);
                }
                url.push_str(piece);
            }
            self.next += 1;
            count_up(&mut self.digits);
            if let Some(shard) = self.shard {
                if !shard.takes(&url) {
                    continue;
                }
                self.origins.borrow_mut().insert(self.handed, Origin { index: self.next - 1, line: None });
                self.handed += 1;
            }
            return Pull::Url(url);
        }
        Pull::End
    }
}

/// Adds one to a decimal number kept as text ("199" becomes "200"): the index goes into
/// every URL, and counting in place costs less than formatting it anew each time.
fn count_up(digits: &mut Vec<u8>) {
    for digit in digits.iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            return;
        }
    }
    digits.insert(0, b'1');
}

pub fn template(template: String, n: u64, shard: Option<Shard>) -> Input {
    let pieces = template.split("{}").map(str::to_owned).collect();
    let origins = Origins::default();
    let sharded = shard.is_some().then(|| Rc::clone(&origins));
    let digits = vec![b'0'];
    let urls =
        Urls::Template(Template { pieces, len: template.len() + 20, next: 0, digits, n, shard, handed: 0, origins });
    // A shard takes an unknown part of the N.
    let total = match shard {
        None => Total::Exact(n),
        Some(_) => Total::Estimated { file_len: None, bytes_read: Rc::default(), cap: Some(n) },
    };
    Input { urls, total, origins: sharded }
}

/// The lines of the file at `path` ('-' for stdin), at most `limit` of them. Where each
/// URL came from (its index in the whole input and its line) is recorded only when it
/// differs from the client's index (a shard) or is printed (`lines_printed`): a map
/// entry per request otherwise spent for nothing.
pub fn lines(path: &Path, limit: Option<u64>, shard: Option<Shard>, lines_printed: bool) -> io::Result<Input> {
    let stdin = path.as_os_str() == "-";
    let stream = if stdin { Stream::standard(0, false)? } else { Stream::open(path)? };
    // A regular file's size lets the progress line estimate the total (stdin included).
    let file = if stdin { Path::new("/proc/self/fd/0") } else { path };
    let file_len = std::fs::metadata(file).ok().filter(|m| m.is_file() && !stream.is_polled()).map(|m| m.len());
    let record = shard.is_some() || lines_printed;
    let lines = Lines { shard, origins: record.then(Origins::default), ..Lines::new(stream, limit) };
    let bytes_read = Rc::clone(&lines.bytes_read);
    let origins = lines.origins.clone();
    let total = Total::Estimated { file_len, bytes_read, cap: limit };
    Ok(Input { urls: Urls::Lines(lines), total, origins })
}

/// URLs from a list: one per line, surrounding whitespace ignored, blank lines and `#`
/// comments skipped. A line that is not UTF-8 still becomes a request (that fails as
/// an invalid URL), so every line of the list is accounted for.
pub struct Lines {
    stream: Stream,
    /// Bytes read and not yet handed out: `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    /// Dropping the rest of a line that was too long.
    skipping: bool,
    /// Lines still wanted (`-n`).
    left: u64,
    bytes_read: Rc<Cell<u64>>,
    error: Option<String>,
    /// Lines taken from the list so far, URLs among them (every shard's), and URLs
    /// handed out (the client's next index).
    line: u64,
    seen: u64,
    handed: u64,
    origins: Option<Origins>,
    shard: Option<Shard>,
}

impl Lines {
    fn new(stream: Stream, limit: Option<u64>) -> Lines {
        Lines {
            stream,
            buf: Vec::new(),
            start: 0,
            eof: false,
            skipping: false,
            left: limit.unwrap_or(u64::MAX),
            bytes_read: Rc::default(),
            error: None,
            line: 0,
            seen: 0,
            handed: 0,
            origins: None,
            shard: None,
        }
    }

    fn next(&mut self) -> Pull {
        while self.left > 0 {
            let unread = self.buf.len() - self.start;
            let (from, to) = match self.buf[self.start..].iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let from = self.start;
                    self.start += end + 1;
                    if std::mem::take(&mut self.skipping) {
                        continue;
                    }
                    (from, from + end)
                }
                None if self.skipping || (unread == 0 && !self.eof) => {
                    self.start = self.buf.len();
                    match self.fill() {
                        Some(wait) => return wait,
                        None => continue,
                    }
                }
                None if unread > url::MAX_LEN => {
                    // Too long to be a URL: hand out just enough to fail as one.
                    self.skipping = true;
                    self.start += url::MAX_LEN + 1;
                    (self.start - url::MAX_LEN - 1, self.start)
                }
                None if self.eof => {
                    // The last line, without a newline (or nothing left at all).
                    self.start = self.buf.len();
                    (self.start - unread, self.start)
                }
                None => match self.fill() {
                    Some(wait) => return wait,
                    None => continue,
                },
            };
            self.line += 1;
            let text = String::from_utf8_lossy(&self.buf[from..to]);
            let url = text.trim();
            if !url.is_empty() && !url.starts_with('#') {
                self.seen += 1;
                if take(&mut self.left, self.shard, url) {
                    if let Some(origins) = &self.origins {
                        let origin = Origin { index: self.seen - 1, line: Some(self.line) };
                        origins.borrow_mut().insert(self.handed, origin);
                    }
                    self.handed += 1;
                    return Pull::Url(url.to_owned());
                }
            }
            if self.eof && self.start == self.buf.len() {
                return Pull::End;
            }
        }
        Pull::End
    }

    /// Reads more into the buffer; `Some(Later)` if nothing can be read now.
    fn fill(&mut self) -> Option<Pull> {
        if self.eof {
            return Some(Pull::End);
        }
        if self.stream.blocked {
            return Some(Pull::Later);
        }
        self.buf.drain(..self.start);
        self.start = 0;
        let have = self.buf.len();
        self.buf.resize(have + CHUNK, 0);
        let result = self.stream.read(&mut self.buf[have..]);
        self.buf.truncate(have + *result.as_ref().unwrap_or(&0));
        match result {
            // A FIFO opened before its writer reads as empty until one has come and
            // gone; the poll's hang-up tells the real end from "no writer yet".
            Ok(0) if self.stream.awaits_writer && !self.stream.hung_up => {
                self.stream.blocked = true;
                return Some(Pull::Later);
            }
            Ok(0) => self.eof = true,
            Ok(n) => self.bytes_read.set(self.bytes_read.get() + n as u64),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Pull::Later),
            Err(e) => {
                self.error = Some(format!("stopped reading URLs: {e}"));
                self.eof = true;
            }
        }
        None
    }
}

/// A URL line counts against `-n` whichever shard it belongs to; true if it is ours.
fn take(left: &mut u64, shard: Option<Shard>, url: &str) -> bool {
    *left -= 1;
    shard.is_none_or(|shard| shard.takes(url))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::{AsRawFd, OwnedFd};

    use super::*;
    use crate::stdio::test_pipe;

    fn over(read: OwnedFd, limit: Option<u64>) -> Lines {
        Lines::new(Stream::own(read).unwrap(), limit)
    }

    fn url(s: &str) -> Pull {
        Pull::Url(s.to_owned())
    }

    /// A plain pipe (not a FIFO opened by path): an empty read is the end.
    fn pipe_lines(limit: Option<u64>) -> (Lines, std::fs::File) {
        let (read, write) = test_pipe();
        let mut lines = over(read, limit);
        lines.stream.awaits_writer = false;
        // The writer is a producer process's blocking end.
        // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(write.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(write.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
        (lines, std::fs::File::from(write))
    }

    #[test]
    fn counting_in_text_matches_formatting() {
        let mut digits = vec![b'0'];
        for n in 0..=100_000u64 {
            assert_eq!(std::str::from_utf8(&digits).unwrap(), n.to_string());
            super::count_up(&mut digits);
        }
    }

    #[test]
    fn each_complete_line_is_handed_out_as_it_arrives() {
        let (mut lines, mut writer) = pipe_lines(None);
        assert_eq!(lines.next(), Pull::Later, "nothing written yet");
        writer.write_all(b"http://a/1\nhttp://a/").unwrap();
        lines.stream.blocked = false; // what the poll's readable event does
        assert_eq!(lines.next(), url("http://a/1"));
        assert_eq!(lines.next(), Pull::Later, "half a line is not a URL yet");
        writer.write_all(b"2\r\n").unwrap();
        lines.stream.blocked = false;
        assert_eq!(lines.next(), url("http://a/2"));
        writer.write_all(b"http://a/3").unwrap();
        drop(writer);
        lines.stream.blocked = false;
        assert_eq!(lines.next(), url("http://a/3"), "a last line without a newline counts");
        assert_eq!(lines.next(), Pull::End);
        assert_eq!(lines.bytes_read.get(), 33);
    }

    #[test]
    fn blank_and_comment_lines_are_skipped_and_n_caps_the_list() {
        let (mut lines, mut writer) = pipe_lines(Some(2));
        writer.write_all(b"\n  # a comment\n\t\nhttp://a/1  \n\n http://a/2\nhttp://a/3\n").unwrap();
        assert_eq!(lines.next(), url("http://a/1"));
        assert_eq!(lines.next(), url("http://a/2"));
        assert_eq!(lines.next(), Pull::End, "-n 2");
    }

    #[test]
    fn a_line_too_long_for_a_url_fails_alone_and_the_next_line_is_whole() {
        let (mut lines, mut writer) = pipe_lines(None);
        let long = format!("http://a/{}", "x".repeat(3 * url::MAX_LEN));
        // The pipe holds 64 KiB: write from a thread, as a producer process would.
        let producer = std::thread::spawn(move || {
            writer.write_all(long.as_bytes()).unwrap();
            writer.write_all(b"\nhttp://a/after\n").unwrap();
        });
        let mut got = Vec::new();
        while got.len() < 2 {
            match lines.next() {
                Pull::Url(u) => got.push(u),
                Pull::Later => lines.stream.blocked = false, // spin: the test is the poll
                Pull::End => panic!("ended early"),
            }
        }
        producer.join().unwrap();
        assert_eq!(got[0].len(), url::MAX_LEN + 1, "cut just past the limit");
        assert!(onethread::url::Url::parse(&got[0]).is_err());
        assert_eq!(got[1], "http://a/after");
        assert!(lines.buf.capacity() <= url::MAX_LEN + 2 * CHUNK, "bounded: {}", lines.buf.capacity());
    }

    #[test]
    fn a_fifo_before_its_writer_is_not_at_its_end() {
        let (read, write) = test_pipe();
        let mut lines = over(read, None);
        assert!(lines.stream.awaits_writer, "a pipe read through its own description waits for a writer");
        drop(write); // reads as empty at once…
        assert_eq!(lines.next(), Pull::Later, "…but no hang-up was seen yet");
        lines.stream.blocked = false;
        lines.stream.hung_up = true; // the poll reports that a writer came and went
        assert_eq!(lines.next(), Pull::End);
    }

    #[test]
    fn a_template_counts_up_to_n() {
        let mut input = template("http://h/{}/x{}".into(), 3, None);
        let got: Vec<Pull> = (0..4).map(|_| input.urls.next_url()).collect();
        assert_eq!(got, [url("http://h/0/x0"), url("http://h/1/x1"), url("http://h/2/x2"), Pull::End]);
    }

    #[test]
    fn a_shard_keeps_each_url_s_index_in_the_whole_input() {
        let shard = Shard::parse("2/2").unwrap();
        let mut input = template("http://h{}.test/".into(), 40, Some(shard));
        let origins = input.origins.clone().expect("a shard records origins");
        let mut handed = 0;
        while let Pull::Url(u) = input.urls.next_url() {
            let origin = origins.borrow()[&handed];
            assert_eq!(u, format!("http://h{}.test/", origin.index), "the template's own counter");
            handed += 1;
        }
        assert!(handed > 0 && handed < 40, "{handed}");

        let (mut lines, mut writer) = pipe_lines(None);
        lines.shard = Some(shard);
        lines.origins = Some(Origins::default());
        let list: String = (0..40).map(|i| format!("# {i}\nhttp://h{i}.test/\n")).collect();
        writer.write_all(list.as_bytes()).unwrap();
        drop(writer);
        let mut handed = 0;
        while let Pull::Url(u) = lines.next() {
            let origin = lines.origins.as_ref().unwrap().borrow()[&handed];
            assert_eq!(u, format!("http://h{}.test/", origin.index));
            assert_eq!(origin.line, Some(2 * origin.index + 2), "comments count as lines, not as URLs");
            handed += 1;
        }
        assert!(handed > 0 && handed < 40, "{handed}");
    }
}
