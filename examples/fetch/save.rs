//! `-o DIR`: each response body streamed into a file of its own, `DIR/INDEX`.
//!
//! The client hands over a body piece by piece as it reads it (`Sink::body`), and each
//! piece goes straight to its request's file through a small buffer, so no body is ever
//! held whole. The writes are plain blocking writes to a local file: epoll cannot wait
//! for a regular file (it is always "ready"), and a small write into the page cache
//! returns in microseconds, so they cost the loop no more than a `send` does.
//!
//! A file is opened at its request's first body piece and closed at its outcome, so at
//! most C files are open at once. A request that fails has its partial file removed,
//! and so has a file an earlier run left at its index: after a run, `DIR/INDEX` exists
//! exactly when request INDEX succeeded in that run. An empty body gives an empty file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use onethread::client::Outcome;

pub struct Saver {
    pub dir: PathBuf,
    /// Requests with body bytes so far; `None` once writing failed (stop trying, and
    /// do not reopen, which would truncate).
    open: HashMap<u64, Option<BufWriter<File>>>,
    pub saved: u64,
    pub failed: u64,
    /// The first thing that went wrong, for the summary.
    pub first_error: Option<String>,
}

impl Saver {
    /// Creates `dir` if it does not exist.
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Saver { dir, open: HashMap::new(), saved: 0, failed: 0, first_error: None })
    }

    pub fn body(&mut self, index: u64, piece: &[u8]) {
        let (dir, first_error) = (&self.dir, &mut self.first_error);
        let file = self.open.entry(index).or_insert_with(|| {
            let path = dir.join(index.to_string());
            let file = File::create(&path).map_err(|e| note(first_error, &path, e)).ok();
            file.map(|file| BufWriter::with_capacity(4096, file))
        });
        if let Some(writer) = file
            && let Err(e) = writer.write_all(piece)
        {
            note(first_error, &dir.join(index.to_string()), e);
            *file = None;
        }
    }

    /// Completes the file of a successful request, or removes a failed one's.
    pub fn finish(&mut self, o: &Outcome<'_>) {
        let path = self.dir.join(o.index.to_string());
        let written = match (self.open.remove(&o.index.0), &o.result) {
            (Some(Some(mut writer)), Ok(_)) => writer.flush(),
            (None, Ok(_)) => File::create(&path).map(drop),
            (Some(None), Ok(_)) => Err(io::Error::other("an earlier write failed")),
            (_, Err(_)) => {
                // Also a file an earlier run left at this index: DIR/INDEX exists only
                // for a request that succeeded in this run.
                let _ = fs::remove_file(&path);
                return;
            }
        };
        match written {
            Ok(()) => self.saved += 1,
            Err(e) => {
                let _ = fs::remove_file(&path);
                note(&mut self.first_error, &path, e);
                self.failed += 1;
            }
        }
    }
}

impl Saver {
    /// Removes every partial file, for an exit that cannot wait for outcomes.
    pub fn abandon(&mut self) {
        for (index, _) in self.open.drain() {
            let _ = fs::remove_file(self.dir.join(index.to_string()));
        }
    }
}

/// Keeps the first failure's message.
fn note(first: &mut Option<String>, path: &Path, e: io::Error) {
    first.get_or_insert_with(|| format!("{}: {e}", path.display()));
}
