//! Readiness events that name a connection closed since the poll returned them.
//!
//! A connection's token is its slab key, and a closed connection's key is free at once.
//! The poll hands over a whole batch of events, and handling one of them may close
//! another connection and open a new one that takes the freed key; the batch's event
//! for the old connection would then reach the new one. (Every state of the machine
//! treats an event it did not expect as "wait", so this was never a wrong outcome, only
//! a wasted look; but it is the kind of aliasing that must be impossible, not merely
//! harmless.) The rule that makes it impossible: an event of this turn's batch is stale
//! exactly when its key was closed during this turn, because a socket registered after
//! the poll returned cannot be in its batch, and closing a socket removes it from epoll,
//! so the next batch names only live registrations.

/// When each connection key was last closed, in turns.
#[derive(Default)]
pub(super) struct Closed {
    turn: u64,
    /// By key: the turn (plus one, so that 0 means never) in which it was last closed.
    at: Vec<u64>,
}

impl Closed {
    /// Connection `key` closes now.
    pub fn mark(&mut self, key: usize) {
        if self.at.len() <= key {
            self.at.resize(key + 1, 0);
        }
        self.at[key] = self.turn + 1;
    }

    /// An event of this turn's batch for `key` is about a connection that is gone.
    pub fn is_stale(&self, key: usize) -> bool {
        self.at.get(key) == Some(&(self.turn + 1))
    }

    /// The turn is over: the next poll's events are all about live registrations.
    pub fn next_turn(&mut self) {
        self.turn += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Closed;

    #[test]
    fn an_event_is_stale_only_in_the_turn_its_key_was_closed() {
        let mut closed = Closed::default();
        assert!(!closed.is_stale(3), "never closed");
        closed.mark(3);
        assert!(closed.is_stale(3), "closed while this turn's batch is handled");
        assert!(!closed.is_stale(2) && !closed.is_stale(400));
        closed.next_turn();
        assert!(!closed.is_stale(3), "the next batch names the new connection, if any");
        closed.mark(3);
        closed.mark(7);
        assert!(closed.is_stale(3) && closed.is_stale(7));
    }
}
