//! What we know about each name: the answers, who is waiting, and when to forget.
//!
//! This is the resolver's memory, kept apart from c-ares so its rules can be read (and
//! tested) without a socket or a clock:
//!
//! * **Coalescing.** A name has at most one lookup in flight — one A and one AAAA
//!   query, sent together. Everyone who asks meanwhile joins `waiters`.
//! * **Positive answers** are kept for their TTL (the smallest among the records, and
//!   at most [`MAX_TTL`]). A TTL of zero still serves the turn in which it arrived.
//! * **Negative answers** — no such name (NXDOMAIN), no address of a family (NODATA),
//!   a server failure — are kept for `negative_ttl` (30 s by default). RFC 2308 takes
//!   that time from the zone's SOA record, capped by the resolver; `getaddrinfo` does
//!   not show us the SOA, so we use the cap itself, which RFC 2308 §5 allows and which
//!   keeps a crawler from asking about a dead name once per URL. A lookup that failed
//!   only because no server answered is not kept: the next request asks again.
//! * **Both families, Happy Eyeballs style** (RFC 8305 §3). If the AAAA answer arrives
//!   first, waiters may go at once; if the A answer arrives first, they wait up to
//!   [`RESOLUTION_DELAY`] for the AAAA answer before going with IPv4 alone.
//! * **Bounded.** At most `capacity` settled names are kept; the least recently used
//!   goes first. Names with a lookup in flight are never evicted (their number is
//!   bounded by the client's concurrency).
//!
//! An entry expires as a whole, when its first family expires, and is then looked up
//! again as a pair; that keeps one rule for everything ("a lookup is an A and an AAAA
//! query") at the price of re-asking for a family that had not expired yet.
//!
//! Next: `hosts.rs`, asked before any query is sent.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use slab::Slab;

/// Longest a positive answer is trusted, whatever its TTL says (c-ares's own cache
/// uses the same cap).
pub const MAX_TTL: Duration = Duration::from_secs(3600);
/// How long to wait for AAAA after A has answered (RFC 8305 §3 recommends 50 ms).
pub const RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// An IP address family, as a DNS query type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// A records.
    V4,
    /// AAAA records.
    V6,
}

/// Why a name has no usable address, e.g. "nx.example: no such name (NXDOMAIN)".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure, which decides how it is reported and compared.
    pub reason: Reason,
    /// For people: the name and what went wrong with it.
    pub message: String,
}

/// Failures by how much they tell us, least first: when both families fail, the
/// answer reports the more telling one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The name exists but has no record of this family (NODATA).
    NoAddress,
    /// No server answered within c-ares's timeouts and tries.
    TimedOut,
    /// No server could be reached at all (e.g. connection refused).
    Unreachable,
    /// The server answered with an error (SERVFAIL, REFUSED, a malformed reply, …).
    Server,
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
}

/// One family's answer: its addresses and the smallest TTL among them.
pub type Part = Result<(Vec<IpAddr>, Duration), Failure>;

/// What a caller may do now about a name.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Connect to these addresses (IPv6 first, then IPv4, as the server ranked them).
    Ready(&'a [IpAddr]),
    /// No address for either family; the more telling of the two failures (see
    /// [`Reason`]). Remembered for the negative TTL, unless no server answered.
    Failed(&'a Failure),
    /// Wait for an answer; at the latest until `until`, when the A answer is usable on
    /// its own (RFC 8305's resolution delay).
    Waiting {
        /// When to look again without an answer; `None`: only when one arrives.
        until: Option<Instant>,
    },
}

enum State {
    /// A and AAAA queries in flight; `v4_at` is when the A answer arrived.
    Resolving {
        v4: Option<Part>,
        v6: Option<Part>,
        v4_at: Option<Instant>,
    },
    Resolved {
        addrs: Vec<IpAddr>,
        expires: Instant,
    },
    Failed {
        failure: Failure,
        expires: Instant,
    },
}

struct Entry {
    host: Box<str>,
    state: State,
    /// Callers' keys, woken when an answer arrives.
    waiters: Vec<usize>,
    /// Neighbours in the recency list, while settled (`NONE` at the ends).
    newer: usize,
    older: usize,
}

const NONE: usize = usize::MAX;

pub struct Cache {
    entries: Slab<Entry>,
    by_host: HashMap<Box<str>, usize>,
    /// Most and least recently used settled entries.
    newest: usize,
    oldest: usize,
    settled: usize,
    capacity: usize,
    negative_ttl: Duration,
}

/// What `Cache::ask` did.
pub enum Asked {
    /// Known already: see `lookup`.
    Known,
    /// The caller joined a lookup in flight.
    Joined,
    /// The caller must start a lookup (A and AAAA) for this entry.
    Start,
}

impl Cache {
    pub fn new(capacity: usize, negative_ttl: Duration) -> Self {
        Cache {
            entries: Slab::new(),
            by_host: HashMap::new(),
            newest: NONE,
            oldest: NONE,
            settled: 0,
            capacity: capacity.max(1),
            negative_ttl,
        }
    }

    /// Finds `host` (lower case) and says whether a lookup must start; if the answer is
    /// not usable yet, `waiter` is added to those woken by the next answer.
    pub fn ask(&mut self, host: &str, waiter: usize, now: Instant) -> (usize, Asked) {
        let id = match self.by_host.get(host) {
            Some(&id) => id,
            None => {
                let state = State::Resolving { v4: None, v6: None, v4_at: None };
                let entry = Entry { host: host.into(), state, waiters: Vec::new(), newer: NONE, older: NONE };
                let id = self.entries.insert(entry);
                self.by_host.insert(host.into(), id);
                self.entries[id].waiters.push(waiter);
                return (id, Asked::Start);
            }
        };
        let stale = match &self.entries[id].state {
            State::Resolving { .. } => false,
            State::Resolved { expires, .. } | State::Failed { expires, .. } => now > *expires,
        };
        if stale {
            self.unlink(id);
            self.entries[id].state = State::Resolving { v4: None, v6: None, v4_at: None };
            self.entries[id].waiters.push(waiter);
            return (id, Asked::Start);
        }
        if let State::Resolving { .. } = self.entries[id].state {
            if let Lookup::Waiting { .. } = self.lookup(id, now) {
                self.entries[id].waiters.push(waiter);
                return (id, Asked::Joined);
            }
            return (id, Asked::Known);
        }
        self.unlink(id);
        self.link_newest(id);
        (id, Asked::Known)
    }

    /// What may be done about entry `id` at `now`.
    pub fn lookup(&self, id: usize, now: Instant) -> Lookup<'_> {
        match &self.entries[id].state {
            State::Resolved { addrs, .. } => Lookup::Ready(addrs),
            State::Failed { failure, .. } => Lookup::Failed(failure),
            // IPv6 answered first: go at once (RFC 8305 §3).
            State::Resolving { v6: Some(Ok((addrs, _))), .. } => Lookup::Ready(addrs),
            State::Resolving { v4: Some(Ok((addrs, _))), v4_at: Some(at), .. } => {
                if now >= *at + RESOLUTION_DELAY {
                    Lookup::Ready(addrs)
                } else {
                    Lookup::Waiting { until: Some(*at + RESOLUTION_DELAY) }
                }
            }
            State::Resolving { .. } => Lookup::Waiting { until: None },
        }
    }

    /// Records one family's answer for entry `id` and hands back everyone waiting on
    /// it, to ask again: the answer may be enough for them now.
    pub fn answer(&mut self, id: usize, family: Family, part: Part, now: Instant, woken: &mut Vec<usize>) {
        let Some(entry) = self.entries.get_mut(id) else { return };
        let State::Resolving { v4, v6, v4_at } = &mut entry.state else { return };
        match family {
            Family::V4 => {
                *v4 = Some(part);
                *v4_at = Some(now);
            }
            Family::V6 => *v6 = Some(part),
        }
        woken.append(&mut entry.waiters);
        if let (Some(_), Some(_)) = (&v4, &v6) {
            let (Some(v4), Some(v6)) = (v4.take(), v6.take()) else { unreachable!() };
            entry.state = settle(&entry.host, v4, v6, now, self.negative_ttl);
            self.link_newest(id);
            self.evict();
        }
    }

    /// For a caller already connecting with part of entry `id`'s answer: wakes `waiter`
    /// at the next answer too, if one is still to come (then `true`).
    pub fn follow(&mut self, id: usize, waiter: usize) -> bool {
        match self.entries.get_mut(id) {
            Some(entry @ Entry { state: State::Resolving { .. }, .. }) => {
                entry.waiters.push(waiter);
                true
            }
            _ => false,
        }
    }

    /// Every address entry `id` has so far, IPv6 first, and whether more may come (a
    /// family is still unanswered). For a race that started with part of the answer.
    pub fn known(&self, id: usize) -> (Vec<IpAddr>, bool) {
        let ok = |part: &Option<Part>| match part {
            Some(Ok((addrs, _))) => addrs.clone(),
            _ => Vec::new(),
        };
        match self.entries.get(id).map(|e| &e.state) {
            Some(State::Resolving { v4, v6, .. }) => ([ok(v6), ok(v4)].concat(), v4.is_none() || v6.is_none()),
            Some(State::Resolved { addrs, .. }) => (addrs.clone(), false),
            Some(State::Failed { .. }) | None => (Vec::new(), false),
        }
    }

    /// Stops waking `waiter` for entry `id` (it gave up waiting).
    pub fn leave(&mut self, id: usize, waiter: usize) {
        if let Some(entry) = self.entries.get_mut(id) {
            entry.waiters.retain(|&w| w != waiter);
        }
    }

    /// Entries kept, settled or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn evict(&mut self) {
        while self.settled > self.capacity {
            let id = self.oldest;
            self.unlink(id);
            let entry = self.entries.remove(id);
            self.by_host.remove(&entry.host);
        }
    }

    fn link_newest(&mut self, id: usize) {
        let entry = &mut self.entries[id];
        entry.older = self.newest;
        entry.newer = NONE;
        match self.newest {
            NONE => self.oldest = id,
            newest => self.entries[newest].newer = id,
        }
        self.newest = id;
        self.settled += 1;
    }

    /// Takes a settled entry out of the recency list; does nothing for one in flight.
    fn unlink(&mut self, id: usize) {
        let (newer, older) = (self.entries[id].newer, self.entries[id].older);
        let linked = newer != NONE || older != NONE || self.newest == id;
        if !linked {
            return;
        }
        match newer {
            NONE => self.newest = older,
            n => self.entries[n].older = older,
        }
        match older {
            NONE => self.oldest = newer,
            o => self.entries[o].newer = newer,
        }
        let entry = &mut self.entries[id];
        (entry.newer, entry.older) = (NONE, NONE);
        self.settled -= 1;
    }
}

/// Combines the two families' answers into what the name is known as, and until when.
fn settle(host: &str, v4: Part, v6: Part, now: Instant, negative_ttl: Duration) -> State {
    let ttl_of = |part: &Part| match part {
        Ok((_, ttl)) => (*ttl).min(MAX_TTL),
        Err(_) => negative_ttl,
    };
    let ttl = ttl_of(&v4).min(ttl_of(&v6));
    match (v4, v6) {
        (Err(a), Err(b)) => {
            let failure = if a.reason >= b.reason { a } else { b };
            let failure = match failure.reason {
                // Each family's message names one family; the name has neither.
                Reason::NoAddress => {
                    Failure { message: format!("{host}: the name has no IPv4 or IPv6 address"), ..failure }
                }
                _ => failure,
            };
            // Nobody answered: that is not an answer to remember.
            let ttl =
                if matches!(failure.reason, Reason::TimedOut | Reason::Unreachable) { Duration::ZERO } else { ttl };
            State::Failed { failure, expires: now + ttl }
        }
        (v4, v6) => {
            let mut addrs = v6.map(|(a, _)| a).unwrap_or_default();
            addrs.extend(v4.map(|(a, _)| a).unwrap_or_default());
            State::Resolved { addrs, expires: now + ttl }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
    const NEG: Duration = Duration::from_secs(30);

    fn found(ip: IpAddr, ttl: u64) -> Part {
        Ok((vec![ip], Duration::from_secs(ttl)))
    }

    fn failed(reason: Reason, message: &str) -> Part {
        Err(Failure { reason, message: message.into() })
    }

    fn asked(cache: &mut Cache, host: &str, waiter: usize, now: Instant) -> (usize, &'static str) {
        let (id, a) = cache.ask(host, waiter, now);
        (
            id,
            match a {
                Asked::Known => "known",
                Asked::Joined => "joined",
                Asked::Start => "start",
            },
        )
    }

    #[test]
    fn one_lookup_per_name_and_everyone_waiting_is_woken() {
        let mut cache = Cache::new(10, NEG);
        let t = Instant::now();
        let (id, a) = asked(&mut cache, "a.test", 1, t);
        assert_eq!(a, "start");
        assert_eq!(asked(&mut cache, "a.test", 2, t), (id, "joined"));
        let mut woken = Vec::new();
        cache.answer(id, Family::V6, failed(Reason::NoAddress, "a.test: no IPv6 address"), t, &mut woken);
        assert_eq!(woken, [1, 2], "an answer wakes the waiters so they can look again");
        assert_eq!(cache.lookup(id, t), Lookup::Waiting { until: None }, "no address yet");
        assert_eq!(asked(&mut cache, "a.test", 3, t), (id, "joined"));
        woken.clear();
        cache.answer(id, Family::V4, found(V4, 60), t, &mut woken);
        assert_eq!(woken, [3]);
        assert_eq!(cache.lookup(id, t), Lookup::Ready(&[V4]));
        assert_eq!(asked(&mut cache, "a.test", 4, t + Duration::from_secs(29)), (id, "known"));
    }

    #[test]
    fn a_race_started_on_one_family_follows_the_other() {
        let mut cache = Cache::new(10, NEG);
        let t = Instant::now();
        let (id, _) = cache.ask("c.test", 1, t);
        let mut woken = Vec::new();
        cache.answer(id, Family::V6, found(V6, 60), t, &mut woken);
        assert_eq!(cache.known(id), (vec![V6], true), "IPv6 so far, IPv4 still to come");
        assert!(cache.follow(id, 1));
        woken.clear();
        cache.answer(id, Family::V4, found(V4, 60), t, &mut woken);
        assert_eq!(woken, [1], "the follower hears of the second answer");
        assert_eq!(cache.known(id), (vec![V6, V4], false));
        assert!(!cache.follow(id, 1), "nothing more to come");
        assert_eq!(cache.known(99), (vec![], false), "an unknown entry has nothing");
    }

    #[test]
    fn an_entry_lives_as_long_as_its_shortest_ttl() {
        let mut cache = Cache::new(10, NEG);
        let t = Instant::now();
        let (id, _) = cache.ask("b.test", 0, t);
        cache.answer(id, Family::V4, found(V4, 60), t, &mut Vec::new());
        cache.answer(id, Family::V6, found(V6, 20), t, &mut Vec::new());
        assert_eq!(cache.lookup(id, t), Lookup::Ready(&[V6, V4]), "IPv6 first");
        assert_eq!(asked(&mut cache, "b.test", 1, t + Duration::from_secs(20)), (id, "known"));
        assert_eq!(asked(&mut cache, "b.test", 1, t + Duration::from_secs(21)), (id, "start"));
    }

    #[test]
    fn ipv6_first_goes_at_once_ipv4_first_waits_the_resolution_delay() {
        let mut cache = Cache::new(10, NEG);
        let t = Instant::now();
        let (six, _) = cache.ask("six.test", 0, t);
        cache.answer(six, Family::V6, found(V6, 60), t, &mut Vec::new());
        assert_eq!(cache.lookup(six, t), Lookup::Ready(&[V6]));

        let (four, _) = cache.ask("four.test", 0, t);
        cache.answer(four, Family::V4, found(V4, 60), t, &mut Vec::new());
        let until = t + RESOLUTION_DELAY;
        assert_eq!(cache.lookup(four, t), Lookup::Waiting { until: Some(until) });
        assert_eq!(asked(&mut cache, "four.test", 1, t), (four, "joined"));
        assert_eq!(cache.lookup(four, until), Lookup::Ready(&[V4]));
        assert_eq!(asked(&mut cache, "four.test", 2, until), (four, "known"));
    }

    #[test]
    fn negative_answers_are_kept_briefly_and_timeouts_not_at_all() {
        let mut cache = Cache::new(10, NEG);
        let t = Instant::now();
        let (nx, _) = cache.ask("nx.test", 0, t);
        cache.answer(nx, Family::V4, failed(Reason::NoSuchName, "nx.test: no such name"), t, &mut Vec::new());
        cache.answer(nx, Family::V6, failed(Reason::NoSuchName, "nx.test: no such name"), t, &mut Vec::new());
        assert!(matches!(cache.lookup(nx, t), Lookup::Failed(f) if f.reason == Reason::NoSuchName));
        assert_eq!(asked(&mut cache, "nx.test", 1, t + NEG), (nx, "known"));
        assert_eq!(asked(&mut cache, "nx.test", 1, t + NEG + Duration::from_millis(1)), (nx, "start"));

        let (slow, _) = cache.ask("slow.test", 0, t);
        cache.answer(slow, Family::V4, failed(Reason::TimedOut, "slow.test: timed out"), t, &mut Vec::new());
        cache.answer(slow, Family::V6, failed(Reason::NoAddress, "slow.test: no IPv6"), t, &mut Vec::new());
        assert!(matches!(cache.lookup(slow, t), Lookup::Failed(f) if f.reason == Reason::TimedOut));
        assert_eq!(asked(&mut cache, "slow.test", 1, t + Duration::from_millis(1)), (slow, "start"));
    }

    #[test]
    fn no_address_in_either_family_says_so() {
        let mut cache = Cache::new(10, NEG);
        let t = Instant::now();
        let (id, _) = cache.ask("empty.test", 0, t);
        cache.answer(id, Family::V4, failed(Reason::NoAddress, "empty.test: no IPv4 address"), t, &mut Vec::new());
        cache.answer(id, Family::V6, failed(Reason::NoAddress, "empty.test: no IPv6 address"), t, &mut Vec::new());
        let Lookup::Failed(f) = cache.lookup(id, t) else { panic!() };
        assert!(f.message.contains("IPv4 or IPv6"), "{}", f.message);
    }

    #[test]
    fn least_recently_used_names_are_evicted_first() {
        let mut cache = Cache::new(2, NEG);
        let t = Instant::now();
        let settle = |cache: &mut Cache, host: &str| {
            let (id, _) = cache.ask(host, 0, t);
            cache.answer(id, Family::V4, found(V4, 60), t, &mut Vec::new());
            cache.answer(id, Family::V6, found(V6, 60), t, &mut Vec::new());
        };
        settle(&mut cache, "a");
        settle(&mut cache, "b");
        cache.ask("a", 0, t); // a is now the most recent
        settle(&mut cache, "c"); // evicts b
        assert_eq!(cache.len(), 2);
        assert!(matches!(cache.ask("a", 0, t).1, Asked::Known));
        assert!(matches!(cache.ask("c", 0, t).1, Asked::Known));
        assert!(matches!(cache.ask("b", 0, t).1, Asked::Start), "b was the least recently used");
    }

    #[test]
    fn names_in_flight_are_never_evicted() {
        let mut cache = Cache::new(1, NEG);
        let t = Instant::now();
        let (pending, _) = cache.ask("pending", 7, t);
        for host in ["x", "y", "z"] {
            let (id, _) = cache.ask(host, 0, t);
            cache.answer(id, Family::V4, found(V4, 60), t, &mut Vec::new());
            cache.answer(id, Family::V6, found(V6, 60), t, &mut Vec::new());
        }
        assert_eq!(cache.len(), 2, "one settled name plus the one in flight");
        let mut woken = Vec::new();
        cache.answer(pending, Family::V6, found(V6, 60), t, &mut woken);
        assert_eq!(woken, [7], "the entry in flight survived, with its waiter");
    }
}
