//! Where a long list of requests comes from: pulled one at a time, only when a slot is
//! free, so a million URLs cost the memory of the few in flight.
//!
//! Admission pulls. (What must be pushed at any time — a crawler's new links — goes
//! through a [`Submitter`](super::Submitter) instead, `submit.rs`.) A source that has nothing *yet* — a pipe whose
//! writer is slow, a terminal, a queue filled by other handlers on the same reactor —
//! says [`Next::Later`], and the client asks again at the end of a later turn. That
//! turn comes when the reactor has news for whoever feeds the source (the pipe became
//! readable), so a slow producer costs nothing and delays no one: the loop keeps
//! serving sockets and deadlines while the source waits. A source must never block to
//! produce a request; that would stall every connection on the thread.
//!
//! Any iterator of [`Request`]s, or of anything that becomes one (a `String` URL becomes
//! a GET), is a source that is never `Later`: the end of the iterator is the end of
//! the input.

use super::Request;

/// What a source has for the client right now.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The next request (its URL is parsed, and failed as `invalid-url` if need be, by
    /// the client).
    Request(Request),
    /// Nothing yet; more may come. The client asks again at the end of a later turn.
    Later,
    /// The input is finished.
    End,
}

/// A stream of requests that can say "not yet".
pub trait Source {
    /// The next request, [`Next::Later`] if none is available without waiting, or
    /// [`Next::End`]. Must not block.
    fn next_request(&mut self) -> Next;
}

impl<I, R> Source for I
where
    I: Iterator<Item = R>,
    R: Into<Request>,
{
    fn next_request(&mut self) -> Next {
        match self.next() {
            Some(request) => Next::Request(request.into()),
            None => Next::End,
        }
    }
}
