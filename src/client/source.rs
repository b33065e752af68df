//! Where URLs come from: pulled one at a time, only when a request slot is free.
//!
//! Admission pulls; nothing is pushed. A source that has nothing *yet* — a pipe whose
//! writer is slow, a terminal, a queue filled by other handlers on the same reactor —
//! says [`Next::Later`], and the client asks again at the end of a later turn. That
//! turn comes when the reactor has news for whoever feeds the source (the pipe became
//! readable), so a slow producer costs nothing and delays no one: the loop keeps
//! serving sockets and deadlines while the source waits. A source must never block to
//! produce a URL; that would stall every connection on the thread.
//!
//! Any `Iterator<Item = String>` is a source that is never `Later`: the end of the
//! iterator is the end of the input.

/// What a source has for the client right now.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The next URL, as text (parsed, and failed as `invalid-url` if need be, by the client).
    Url(String),
    /// Nothing yet; more may come. The client asks again at the end of a later turn.
    Later,
    /// The input is finished.
    End,
}

/// A stream of URLs that can say "not yet".
pub trait Source {
    /// The next URL, [`Next::Later`] if none is available without waiting, or
    /// [`Next::End`]. Must not block.
    fn next_url(&mut self) -> Next;
}

impl<I: Iterator<Item = String>> Source for I {
    fn next_url(&mut self) -> Next {
        match self.next() {
            Some(url) => Next::Url(url),
            None => Next::End,
        }
    }
}
