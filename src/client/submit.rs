//! Adding requests while the client runs: curl's `curl_multi_add_handle`, for a
//! reactor that has one thread and no locks.
//!
//! A [`Source`](super::Source) is pulled: the client asks it for the next request when a slot
//! is free, which keeps memory flat for a list of a million URLs. Some work is not a
//! list known up front: a crawler learns its next URLs from the pages it fetches. For
//! that, a [`Submitter`] is pushed: whoever holds one (the sink, a timer, another
//! handler on the same reactor) calls [`Submitter::submit`] at any time, and the
//! request is queued, given its [`RequestId`] at once, and admitted at the end of the turn,
//! before anything new is pulled from the source, as slots allow.
//!
//! The handle is an `Rc<RefCell<…>>`: cheap to clone, and not `Send`, which is the
//! point — everything runs on one thread, so the queue needs no lock. The queue is not
//! bounded: a producer that may outrun the client should watch
//! [`Submitter::pending`], or pull through a [`Source`](super::Source) instead.
//!
//! **When the client is done.** With the source ended, nothing in flight and nothing
//! queued, the client is done, whatever handles still exist: a handle alone cannot
//! keep a run alive forever by being forgotten in a struct. A producer that will
//! submit *later* (a timer, a socket not yet readable) says so with a [`Hold`], and
//! the client waits while any hold lives. A request submitted during the last outcome
//! (the crawler's case: a page's links) is queued before the client looks, so that run
//! goes on.
//!
//! **Nothing is dropped.** Every submitted request ends in exactly one outcome: after
//! [`Client::cancel`](super::Client::cancel), queued and later submissions end as
//! `cancelled`. Next: `schedule.rs`, where queued requests are admitted.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::{Request, RequestId};

/// What the client and every handle share.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    /// Submitted and not yet admitted, oldest first, with their indexes.
    pub queue: VecDeque<(RequestId, Request)>,
    /// The next request's index, shared with the source's URLs.
    pub next_index: u64,
    /// Live [`Hold`]s.
    pub holds: usize,
    /// A client took this inbox; a second one may not.
    pub bound: bool,
}

impl Inbox {
    pub fn take_index(&mut self) -> RequestId {
        let index = RequestId(self.next_index);
        self.next_index += 1;
        index
    }
}

/// A handle that adds requests to a running [`Client`](super::Client). Cloning it is
/// cheap; every clone feeds the same client.
///
/// ```
/// # use onethread::client::{RequestId, Submitter};
/// let submitter = Submitter::new();
/// let first = submitter.submit("http://127.0.0.1:8080/");
/// let second = submitter.submit("http://127.0.0.1:8080/about");
/// assert_eq!((first, second), (RequestId(0), RequestId(1))); // what the outcomes will carry
/// assert_eq!(submitter.pending(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Submitter(pub(super) Rc<RefCell<Inbox>>);

impl Submitter {
    /// A handle with an empty queue, for [`Options::submitter`](super::Options::submitter)
    /// (when the sink must hold it before the client exists). A client made with
    /// [`Client::new`](super::Client::new) has one of its own: [`Client::submitter`](super::Client::submitter).
    pub fn new() -> Self {
        Submitter::default()
    }

    /// Queues `request` (a [`Request`], or a URL to GET) and returns the id its outcome
    /// (and its [`Sink::head`](super::Sink::head) and [`Sink::body`](super::Sink::body)
    /// calls) will carry. It is admitted at the end of the current turn, or later if
    /// every slot is taken. A URL that does not parse still gets its id and ends in an
    /// `invalid-url` outcome.
    pub fn submit(&self, request: impl Into<Request>) -> RequestId {
        let mut inbox = self.0.borrow_mut();
        let index = inbox.take_index();
        inbox.queue.push_back((index, request.into()));
        index
    }

    /// The oldest request waiting, for the client. The queue is borrowed only for the
    /// pop, never while the request is admitted: the sink may submit meanwhile.
    pub(super) fn pop(&self) -> Option<(RequestId, Request)> {
        self.0.borrow_mut().queue.pop_front()
    }

    /// Requests submitted and not yet admitted.
    pub fn pending(&self) -> usize {
        self.0.borrow().queue.len()
    }

    /// Keeps the client running, even with nothing to do, until the returned [`Hold`]
    /// is dropped: for a producer that will submit later. A
    /// [`Client::cancel`](super::Client::cancel) outranks it: the client is then done
    /// once what it had ends, holds or not.
    pub fn hold(&self) -> Hold {
        self.0.borrow_mut().holds += 1;
        Hold(Rc::clone(&self.0))
    }
}

/// While it lives, the client is not done (see [`Submitter::hold`]).
#[derive(Debug)]
#[must_use = "the client stops waiting as soon as the hold is dropped"]
pub struct Hold(Rc<RefCell<Inbox>>);

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.borrow_mut().holds -= 1;
    }
}
