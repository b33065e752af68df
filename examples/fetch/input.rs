//! Where URLs come from: one at a time, only when the client asks.
//!
//! The client pulls the next URL only when a request slot is free, so the input is read
//! exactly as fast as requests finish. A list of ten million lines then costs what a
//! list of ten costs: one line buffer, reused for every line. A template builds each URL
//! when it is pulled. Nothing here keeps anything per URL.
//!
//! The progress line wants a total for its percentage and ETA. A template knows it
//! exactly. A file would need a second pass to count its lines, so instead the total is
//! extrapolated from how far through the file the reader is: requests so far × file
//! size ÷ bytes read. The estimate sharpens as the run goes and is exact once the whole
//! file has been read. Stdin has no size; its total is unknown unless `-n` caps it.

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::rc::Rc;

pub type Urls = Box<dyn Iterator<Item = String>>;

pub struct Input {
    pub urls: Urls,
    pub total: Total,
}

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

/// `{}` in `template` replaced by 0, 1, …, n-1, each URL built when it is pulled.
pub fn template(template: String, n: u64) -> Input {
    // Split once; each URL is then one allocation: the pieces with the index between.
    let pieces: Vec<String> = template.split("{}").map(str::to_owned).collect();
    let len = template.len() + 20;
    let urls = (0..n).map(move |i| {
        let mut url = String::with_capacity(len);
        for (k, piece) in pieces.iter().enumerate() {
            if k > 0 {
                let _ = write!(url, "{i}");
            }
            url.push_str(piece);
        }
        url
    });
    Input { urls: Box::new(urls), total: Total::Exact(n) }
}

/// The lines of the file at `path` ('-' for stdin), at most `limit` of them.
pub fn lines(path: &Path, limit: Option<u64>) -> io::Result<Input> {
    let (reader, file_len): (Box<dyn BufRead>, _) = if path.as_os_str() == "-" {
        (Box::new(BufReader::new(io::stdin())), None)
    } else {
        let file = File::open(path)?;
        let len = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        (Box::new(BufReader::new(file)), len)
    };
    let bytes_read = Rc::new(Cell::new(0));
    let lines = Lines { reader, line: Vec::new(), bytes_read: Rc::clone(&bytes_read) };
    let urls = Box::new(lines.take(limit.map_or(usize::MAX, |n| n as usize)));
    Ok(Input { urls, total: Total::Estimated { file_len, bytes_read, cap: limit } })
}

/// URLs from a list: one per line, surrounding whitespace ignored, blank lines and `#`
/// comments skipped. A line that is not UTF-8 still becomes a request (that fails as
/// an invalid URL), so every line of the list is accounted for.
struct Lines {
    reader: Box<dyn BufRead>,
    /// Reused for every line; each URL handed out is one allocation of its own length.
    line: Vec<u8>,
    bytes_read: Rc<Cell<u64>>,
}

impl Iterator for Lines {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(n) => self.bytes_read.set(self.bytes_read.get() + n as u64),
                Err(e) => {
                    eprintln!("fetch: stopped reading URLs: {e}");
                    return None;
                }
            }
            let text = String::from_utf8_lossy(&self.line);
            let url = text.trim();
            if !url.is_empty() && !url.starts_with('#') {
                return Some(url.to_owned());
            }
        }
    }
}
