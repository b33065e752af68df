//! The deadline queue: timers that are cheap to arm, re-arm and cancel.
//!
//! Every request has a deadline, every pooled connection an idle expiry, c-ares its
//! next retransmission, the server its per-request delays. Most of these are re-armed
//! far more often than they fire: a request deadline is set when the request starts and
//! dropped when the response arrives a millisecond later. So the queue is built around
//! one observation: *moving a deadline later needs no heap work at all*.
//!
//! Each timer is a slot in a slab holding its current `deadline` and the time at which
//! it sits in the binary heap (`queued`). Arming to a time later than `queued` only
//! updates the slot; when the early heap entry surfaces, it is found to be premature
//! and pushed again at the real deadline. Arming earlier pushes a new entry (the old
//! one becomes stale and is skipped when popped). Cancelling clears `deadline` and
//! leaves the heap alone. The heap therefore holds about one entry per live timer, no
//! matter how many times timers are re-armed, and the common "arm, then cancel" path is
//! two stores.
//!
//! Stale entries (of timers removed, cancelled or moved earlier) are skipped when they
//! surface, but they would otherwise linger until their old deadline: a minute-long
//! request timeout removed a millisecond after arming, at 50,000 requests a second,
//! leaves three million of them. So when stale entries outnumber live timers the heap
//! is rebuilt from the live ones, in linear time — amortised, a constant per arming.
//!
//! A timer carries a [`Token`] so that expiries are routed exactly like readiness
//! events. Next: [`crate::reactor`], which sleeps until the nearest deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use mio::Token;
use slab::Slab;

/// Stale heap entries tolerated beyond the live timers before compacting, so that a
/// handful of timers does not compact on every arming.
const COMPACT_SLACK: usize = 1024;

/// Handle to one timer slot; stays valid until [`Timers::remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(usize);

struct Slot {
    token: Token,
    /// When the timer should fire; `None` while disarmed.
    deadline: Option<Instant>,
    /// The heap entry that represents this slot, if any.
    queued: Option<Instant>,
}

/// A set of timers, each firing at most once per arming.
#[derive(Default)]
pub struct Timers {
    slots: Slab<Slot>,
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl Timers {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a disarmed timer that will report `token` when it fires.
    pub fn insert(&mut self, token: Token) -> TimerId {
        TimerId(self.slots.insert(Slot { token, deadline: None, queued: None }))
    }

    /// Frees the timer. Any heap entry it leaves behind is skipped when popped.
    pub fn remove(&mut self, id: TimerId) {
        self.slots.remove(id.0);
    }

    /// Sets (or moves) the timer's deadline.
    pub fn arm(&mut self, id: TimerId, deadline: Instant) {
        let slot = &mut self.slots[id.0];
        slot.deadline = Some(deadline);
        if slot.queued.is_none_or(|queued| deadline < queued) {
            slot.queued = Some(deadline);
            self.heap.push(Reverse((deadline, id.0)));
            if self.heap.len() > 2 * self.slots.len() + COMPACT_SLACK {
                self.compact();
            }
        }
    }

    /// Rebuilds the heap with one entry per armed timer, dropping all stale ones.
    fn compact(&mut self) {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.clear();
        for (key, slot) in self.slots.iter_mut() {
            slot.queued = slot.deadline;
            entries.extend(slot.deadline.map(|at| Reverse((at, key))));
        }
        self.heap = BinaryHeap::from(entries);
    }

    /// Stops the timer from firing until armed again.
    pub fn cancel(&mut self, id: TimerId) {
        self.slots[id.0].deadline = None;
    }

    /// When the timer will fire; `None` while it is disarmed (never armed, cancelled,
    /// or already fired).
    pub fn deadline(&self, id: TimerId) -> Option<Instant> {
        self.slots[id.0].deadline
    }

    /// The earliest time anything might fire. May be early (a stale or premature
    /// entry), never late: waking up early costs one spurious turn of the loop.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pops one timer whose deadline is at or before `now`, disarming it.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Token> {
        while let Some(&Reverse((at, key))) = self.heap.peek() {
            if at > now {
                return None;
            }
            self.heap.pop();
            let Some(slot) = self.slots.get_mut(key) else { continue }; // removed timer
            if slot.queued != Some(at) {
                continue; // superseded by an earlier arming
            }
            slot.queued = None;
            match slot.deadline {
                None => {} // cancelled
                Some(deadline) if deadline > now => {
                    // Re-armed later since this entry was pushed: requeue at the real time.
                    slot.queued = Some(deadline);
                    self.heap.push(Reverse((deadline, key)));
                }
                Some(_) => {
                    slot.deadline = None;
                    return Some(slot.token);
                }
            }
        }
        None
    }

    /// Heap entries, live or stale (for tests and memory accounting).
    pub fn queued_entries(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn drain(timers: &mut Timers, now: Instant) -> Vec<usize> {
        std::iter::from_fn(|| timers.pop_expired(now)).map(|t| t.0).collect()
    }

    #[test]
    fn fires_in_deadline_order_once() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(Token(1));
        let b = timers.insert(Token(2));
        timers.arm(a, t0 + ms(20));
        timers.arm(b, t0 + ms(10));
        assert_eq!(drain(&mut timers, t0 + ms(5)), Vec::<usize>::new());
        assert_eq!(drain(&mut timers, t0 + ms(30)), vec![2, 1]);
        assert_eq!(drain(&mut timers, t0 + ms(40)), Vec::<usize>::new());
        assert_eq!(timers.deadline(a), None);
    }

    #[test]
    fn cancelled_timer_never_fires() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(Token(1));
        timers.arm(a, t0 + ms(10));
        timers.cancel(a);
        assert!(drain(&mut timers, t0 + ms(20)).is_empty());
        assert_eq!(timers.queued_entries(), 0);
    }

    #[test]
    fn rearming_later_moves_the_deadline_without_growing_the_heap() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(Token(7));
        for i in 0..10_000 {
            timers.arm(a, t0 + ms(100 + i));
        }
        assert_eq!(timers.queued_entries(), 1);
        assert!(drain(&mut timers, t0 + ms(200)).is_empty(), "premature entry must not fire");
        assert_eq!(timers.next_wakeup(), Some(t0 + ms(100 + 9_999)));
        assert_eq!(drain(&mut timers, t0 + ms(20_000)), vec![7]);
    }

    #[test]
    fn rearming_earlier_fires_at_the_earlier_time_only_once() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(Token(3));
        timers.arm(a, t0 + ms(100));
        timers.arm(a, t0 + ms(10));
        assert_eq!(drain(&mut timers, t0 + ms(50)), vec![3]);
        assert!(drain(&mut timers, t0 + ms(500)).is_empty());
    }

    #[test]
    fn removed_slot_reused_by_a_new_timer_is_not_confused_with_the_old_one() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(Token(1));
        timers.arm(a, t0 + ms(10));
        timers.remove(a);
        let b = timers.insert(Token(2));
        timers.arm(b, t0 + ms(30));
        assert!(drain(&mut timers, t0 + ms(20)).is_empty());
        assert_eq!(drain(&mut timers, t0 + ms(30)), vec![2]);
    }

    #[test]
    fn removed_timers_do_not_accumulate_in_the_heap() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let long_lived: Vec<_> = (0..100).map(|i| timers.insert(Token(i))).collect();
        for (i, id) in long_lived.iter().enumerate() {
            timers.arm(*id, t0 + ms(1000 + i as u64));
        }
        // A request's life: arm a far deadline, finish early, remove.
        for i in 0..100_000 {
            let id = timers.insert(Token(1000 + i));
            timers.arm(id, t0 + Duration::from_secs(60));
            timers.remove(id);
            assert!(timers.queued_entries() <= 2 * 101 + COMPACT_SLACK + 1);
        }
        // Compaction kept every live timer, once.
        let mut fired = drain(&mut timers, t0 + ms(2000));
        fired.sort_unstable();
        assert_eq!(fired, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn many_timers_all_fire_exactly_once() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let ids: Vec<_> = (0..1000).map(|i| timers.insert(Token(i))).collect();
        for (i, id) in ids.iter().enumerate() {
            timers.arm(*id, t0 + ms((i as u64 * 7919) % 1000));
        }
        let mut fired = drain(&mut timers, t0 + ms(1000));
        fired.sort_unstable();
        assert_eq!(fired, (0..1000).collect::<Vec<_>>());
    }
}
