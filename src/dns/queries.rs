//! Outstanding queries of the own path: IDs, retries, deadlines. No socket, no clock.
//!
//! Each query is one name and one type, sent to server `attempt % servers` with the
//! timeout `timeout << (attempt / servers)`: every server once, then every server
//! again with twice the wait, `tries` rounds in all. That is resolv.conf's schedule
//! as c-ares runs it (`ares_calc_query_timeout`), without c-ares's jitter and its
//! per-server latency estimate, which we have no use for against a fixed list.
//!
//! Inputs, one method each, each one `match` on what the input means for the query:
//! * [`Queries::start`] — a new query; it is sent at the next [`Queries::poll`].
//! * [`Queries::reply`] — a datagram arrived on a socket. It is ours only if its ID
//!   names an outstanding query *sent on that socket* (RFC 5452 §9.1; a late reply
//!   from the server of an earlier attempt is dropped, as c-ares drops it) and
//!   `wire::read_reply` finds our question in it. Anything else, including a
//!   second copy of an answer already taken, changes nothing.
//! * [`Queries::refused`] — the socket reported an error (ICMP port unreachable
//!   comes back as `ECONNREFUSED`): every query on it moves to its next attempt.
//! * [`Queries::expire`] — the clock passed some deadlines.
//!
//! Outputs are queued and taken with [`Queries::poll`]: send this query (again), this
//! query is answered, or hand this query to c-ares (a truncated reply: c-ares asks
//! over TCP). SERVFAIL, REFUSED and NOTIMP move to the next attempt at once, as
//! c-ares does without `ARES_FLAG_NOCHECKRESP`; when the attempts run out, the last
//! error is the answer (a timeout if nothing else happened).
//!
//! **Costs.** Queries live in a slab; a table of 65,536 slots maps an ID to its query,
//! so a reply is matched in O(1), and IDs are random (xorshift seeded from the
//! kernel) and never reused while outstanding. Deadlines need no heap: within one
//! round every query waits the same time, so the queries of a round, kept in a list
//! in the order they were sent, are also in deadline order. The earliest deadline is
//! the earliest among the rounds' first entries, and answering a query unlinks it
//! in O(1). Nothing here allocates per query but the answer's address list.
//!
//! Next: `udp.rs`, the sockets that carry them.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use slab::Slab;

use super::cache::{Family, Part};
use super::reply;
use super::resolver::Answer;
use super::wire::{self, Name, Reject, Reply};

const NONE: u32 = u32::MAX;

/// One outstanding query.
struct Query {
    id: u16,
    key: usize,
    family: Family,
    name: Name,
    /// Attempts made before this one (so the server is `attempt % servers`).
    attempt: u32,
    /// The socket of the current attempt, as the caller numbers them (`NONE`: not sent).
    via: u32,
    deadline: Instant,
    /// The last failure, reported if the attempts run out.
    error: c_ares::Error,
    /// Neighbours in its round's list, in sending order.
    prev: u32,
    next: u32,
}

/// One round's queries, oldest first.
#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

/// What the caller must do now.
#[derive(Debug)]
pub enum Output {
    /// Send query `slot` to server `server` ([`Queries::datagram`] writes it), then
    /// tell [`Queries::sent`] which socket it went on. `was_on`: the socket of its
    /// previous attempt, if any.
    Send { slot: usize, server: usize, was_on: Option<u32> },
    /// The query is over; `was_on` is the socket of its last attempt, if any.
    Done { answer: Answer, was_on: Option<u32> },
    /// The reply was truncated: ask c-ares (which asks over TCP).
    ToCares { key: usize, family: Family, host: String, was_on: u32 },
}

pub struct Queries {
    queries: Slab<Query>,
    /// Query slot by ID (`NONE`: the ID is free).
    by_id: Box<[u32]>,
    rounds: Vec<List>,
    servers: usize,
    timeout: Duration,
    out: VecDeque<Output>,
    rng: u64,
    /// Scratch for the addresses of a reply.
    addrs: Vec<IpAddr>,
}

impl Queries {
    /// `servers` servers, each tried `tries` times, the first time for `timeout`.
    pub fn new(servers: usize, timeout: Duration, tries: u32, seed: u64) -> Self {
        Queries {
            queries: Slab::new(),
            by_id: vec![NONE; 1 << 16].into_boxed_slice(),
            rounds: vec![List { head: NONE, tail: NONE }; tries.max(1) as usize],
            servers: servers.max(1),
            timeout,
            out: VecDeque::new(),
            rng: seed | 1,
            addrs: Vec::new(),
        }
    }

    /// A new query for `name` and `family`, answered with `key`.
    pub fn start(&mut self, name: Name, family: Family, key: usize, now: Instant) {
        let id = self.fresh_id();
        let slot = self.queries.insert(Query {
            id,
            key,
            family,
            name,
            attempt: 0,
            via: NONE,
            deadline: now,
            error: c_ares::Error::ETIMEOUT,
            prev: NONE,
            next: NONE,
        });
        self.by_id[usize::from(id)] = slot as u32;
        self.send(slot, now);
    }

    /// The next thing to do, if any.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Writes query `slot`'s datagram into `out`.
    pub fn datagram(&self, slot: usize, out: &mut Vec<u8>) {
        let q = &self.queries[slot];
        wire::write_query(out, q.id, &q.name, qtype(q.family));
    }

    /// Query `slot` went out on socket `via`.
    pub fn sent(&mut self, slot: usize, via: u32) {
        self.queries[slot].via = via;
    }

    /// Queries outstanding.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// The earliest deadline among outstanding queries.
    pub fn deadline(&self) -> Option<Instant> {
        self.rounds.iter().filter(|l| l.head != NONE).map(|l| self.queries[l.head as usize].deadline).min()
    }

    /// A datagram `msg` arrived on socket `via`.
    pub fn reply(&mut self, via: u32, msg: &[u8], now: Instant) {
        let Some(id) = wire::id(msg) else { return };
        let slot = self.by_id[usize::from(id)];
        if slot == NONE || self.queries[slot as usize].via != via {
            return; // not outstanding, or not sent on this socket: not ours
        }
        let slot = slot as usize;
        let q = &self.queries[slot];
        self.addrs.clear();
        let (family, name) = (q.family, q.name);
        let part: Part = match wire::read_reply(msg, &name, qtype(family), &mut self.addrs) {
            Err(Reject::NotOurs | Reject::Malformed) => return, // keep waiting for the real one
            Ok(Reply::Truncated) => {
                let q = self.finish(slot);
                let host = q.name.host();
                self.out.push_back(Output::ToCares { key: q.key, family, host, was_on: via });
                return;
            }
            Ok(Reply::Error(rcode @ (wire::RCODE_SERVFAIL | wire::RCODE_REFUSED | wire::RCODE_NOTIMP))) => {
                self.queries[slot].error = match rcode {
                    wire::RCODE_SERVFAIL => c_ares::Error::ESERVFAIL,
                    wire::RCODE_REFUSED => c_ares::Error::EREFUSED,
                    _ => c_ares::Error::ENOTIMP,
                };
                self.retry(slot, now);
                return;
            }
            Ok(Reply::Addresses { ttl }) => Ok((self.addrs.clone(), Duration::from_secs(u64::from(ttl)))),
            Ok(Reply::NoData) => Err(reply::failure(&name.host(), family, c_ares::Error::ENODATA)),
            Ok(Reply::NoSuchName) => Err(reply::failure(&name.host(), family, c_ares::Error::ENOTFOUND)),
            Ok(Reply::Error(wire::RCODE_FORMERR)) => Err(reply::failure(&name.host(), family, c_ares::Error::EFORMERR)),
            Ok(Reply::Error(_)) => Err(reply::failure(&name.host(), family, c_ares::Error::EBADRESP)),
        };
        let q = self.finish(slot);
        self.out.push_back(Output::Done { answer: Answer { key: q.key, family, part }, was_on: Some(via) });
    }

    /// Socket `via` reported an error: its queries move on to their next attempt.
    pub fn refused(&mut self, via: u32, now: Instant) {
        // By slot, with no list of them: moving on removes or re-sends a query, and
        // never takes a new slot.
        for slot in 0..self.queries.capacity() {
            if self.queries.get(slot).is_some_and(|q| q.via == via) {
                self.refuse(slot, now);
            }
        }
    }

    /// Query `slot`'s attempt was refused (its socket could not even be opened, say):
    /// it moves on to its next attempt.
    pub fn refuse(&mut self, slot: usize, now: Instant) {
        self.queries[slot].error = c_ares::Error::ECONNREFUSED;
        self.retry(slot, now);
    }

    /// Moves every query whose deadline has passed to its next attempt.
    pub fn expire(&mut self, now: Instant) {
        for round in 0..self.rounds.len() {
            loop {
                let head = self.rounds[round].head;
                if head == NONE || self.queries[head as usize].deadline > now {
                    break;
                }
                self.queries[head as usize].error = c_ares::Error::ETIMEOUT;
                self.retry(head as usize, now);
            }
        }
    }

    /// The next attempt, or the end with the query's last error.
    fn retry(&mut self, slot: usize, now: Instant) {
        let q = &self.queries[slot];
        if ((q.attempt + 1) as usize) < self.servers * self.rounds.len() {
            self.unlink(slot);
            self.queries[slot].attempt += 1;
            self.send(slot, now);
            return;
        }
        let was_on = Some(q.via).filter(|&v| v != NONE);
        let q = self.finish(slot);
        let part = Err(reply::failure(&q.name.host(), q.family, q.error));
        self.out.push_back(Output::Done { answer: Answer { key: q.key, family: q.family, part }, was_on });
    }

    /// Queues query `slot`'s current attempt and links it into its round's list.
    fn send(&mut self, slot: usize, now: Instant) {
        let servers = self.servers as u32;
        let q = &mut self.queries[slot];
        let round = (q.attempt / servers) as usize;
        q.deadline = now + self.timeout.saturating_mul(1 << round.min(20));
        let was_on = Some(q.via).filter(|&v| v != NONE);
        q.via = NONE;
        let server = (q.attempt % servers) as usize;
        // Link at the tail: its deadline is the latest of its round.
        let list = &mut self.rounds[round];
        q.prev = list.tail;
        q.next = NONE;
        match list.tail {
            NONE => list.head = slot as u32,
            tail => self.queries[tail as usize].next = slot as u32,
        }
        self.rounds[round].tail = slot as u32;
        self.out.push_back(Output::Send { slot, server, was_on });
    }

    fn unlink(&mut self, slot: usize) {
        let (prev, next, attempt) = {
            let q = &self.queries[slot];
            (q.prev, q.next, q.attempt)
        };
        let round = (attempt / self.servers as u32) as usize;
        match prev {
            NONE => self.rounds[round].head = next,
            p => self.queries[p as usize].next = next,
        }
        match next {
            NONE => self.rounds[round].tail = prev,
            n => self.queries[n as usize].prev = prev,
        }
    }

    /// Removes a query (every outstanding query is linked in its round's list).
    fn finish(&mut self, slot: usize) -> Query {
        self.unlink(slot);
        let q = self.queries.remove(slot);
        self.by_id[usize::from(q.id)] = NONE;
        q
    }

    /// A random ID no outstanding query has.
    fn fresh_id(&mut self) -> u16 {
        loop {
            // Seeded from the kernel, so IDs cannot be predicted from outside the way
            // sequential ones can (`rand.rs`).
            let id = (crate::rand::xorshift64star(&mut self.rng) >> 48) as u16;
            if self.by_id[usize::from(id)] == NONE {
                return id;
            }
        }
    }
}

fn qtype(family: Family) -> u16 {
    match family {
        Family::V4 => wire::TYPE_A,
        Family::V6 => wire::TYPE_AAAA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Reason;

    const T: Duration = Duration::from_millis(100);

    fn name(host: &str) -> Name {
        Name::parse(host).unwrap()
    }

    /// Takes the next output, which must be a send; returns (slot, server), and tells
    /// the machine it went out on socket `via`.
    fn sent(q: &mut Queries, via: u32) -> (usize, usize) {
        match q.poll() {
            Some(Output::Send { slot, server, .. }) => {
                q.sent(slot, via);
                (slot, server)
            }
            other => panic!("expected a send, got {other:?}"),
        }
    }

    fn done(q: &mut Queries) -> Answer {
        match q.poll() {
            Some(Output::Done { answer, .. }) => answer,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    /// The reply a server would give to the datagram of `slot`: A 192.0.2.1 or NXDOMAIN.
    fn answer_to(q: &Queries, slot: usize, rcode: u8) -> Vec<u8> {
        let mut msg = Vec::new();
        q.datagram(slot, &mut msg);
        msg[2] |= 0x80; // QR
        msg[3] = rcode;
        if rcode == 0 {
            msg[7] = 1;
            msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        }
        msg
    }

    #[test]
    fn a_reply_is_taken_only_with_its_id_socket_and_question() {
        let now = Instant::now();
        let mut q = Queries::new(1, T, 2, 42);
        q.start(name("a.test"), Family::V4, 7, now);
        let (slot, server) = sent(&mut q, 3);
        assert_eq!(server, 0);
        let good = answer_to(&q, slot, 0);
        let mut wrong_id = good.clone();
        wrong_id[1] ^= 1;
        q.reply(3, &wrong_id, now);
        let mut other_name = good.clone();
        other_name[13] = b'b';
        q.reply(3, &other_name, now);
        q.reply(4, &good, now); // right bytes, wrong socket
        assert!(q.poll().is_none(), "spoofs are ignored");
        q.reply(3, &good, now);
        let answer = done(&mut q);
        assert_eq!((answer.key, answer.family), (7, Family::V4));
        assert_eq!(answer.part, Ok((vec!["192.0.2.1".parse().unwrap()], Duration::from_secs(60))));
        q.reply(3, &good, now);
        assert!(q.poll().is_none() && q.len() == 0, "a duplicate is ignored");
    }

    #[test]
    fn ids_are_random_and_distinct() {
        let now = Instant::now();
        let mut q = Queries::new(1, T, 1, 12345);
        let mut ids = Vec::new();
        for i in 0..1000 {
            q.start(name("a.test"), Family::V6, i, now);
            let (slot, _) = sent(&mut q, 0);
            ids.push(q.queries[slot].id);
        }
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000, "no ID is reused while outstanding");
        let sequential = ids.windows(2).filter(|w| w[1] == w[0].wrapping_add(1)).count();
        assert!(sequential < 5, "IDs look sequential: {sequential}");
    }

    #[test]
    fn timeouts_go_round_the_servers_doubling_each_round_then_fail() {
        let t0 = Instant::now();
        let mut q = Queries::new(2, T, 2, 1);
        q.start(name("quiet.test"), Family::V4, 1, t0);
        let (slot, server) = sent(&mut q, 10);
        assert_eq!((server, q.deadline()), (0, Some(t0 + T)));
        q.expire(t0 + T - Duration::from_millis(1));
        assert!(q.poll().is_none(), "not yet");
        let mut now = t0 + T;
        let mut schedule = Vec::new();
        q.expire(now);
        loop {
            match q.poll() {
                Some(Output::Send { slot: s, server, was_on }) => {
                    assert_eq!(s, slot);
                    schedule.push((server, q.deadline().unwrap() - now, was_on));
                    q.sent(slot, 10 + schedule.len() as u32);
                    now = q.deadline().unwrap();
                    q.expire(now);
                }
                Some(Output::Done { answer, was_on }) => {
                    // The fourth expiry ended it: a timeout; the caller learns its last socket.
                    assert_eq!(was_on, Some(13));
                    assert_eq!(answer.part.unwrap_err().reason, Reason::TimedOut);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(schedule, [(1, T, Some(10)), (0, 2 * T, Some(11)), (1, 2 * T, Some(12))]);
        assert_eq!((q.len(), q.deadline()), (0, None));
    }

    #[test]
    fn refusal_and_servfail_move_to_the_next_server_and_the_last_error_counts() {
        let now = Instant::now();
        let mut q = Queries::new(2, T, 1, 9);
        q.start(name("a.test"), Family::V4, 1, now);
        q.start(name("b.test"), Family::V4, 2, now);
        let (a, _) = sent(&mut q, 0);
        let (b, _) = sent(&mut q, 0);
        q.refused(0, now);
        let moved: Vec<(usize, usize)> = (0..2).map(|_| sent(&mut q, 1)).collect();
        assert_eq!(moved, [(a, 1), (b, 1)], "both queries on the refusing socket go to server 1");
        q.reply(1, &answer_to(&q, a, 0), now);
        assert!(done(&mut q).part.is_ok());
        q.reply(1, &answer_to(&q, b, wire::RCODE_SERVFAIL), now);
        let failure = done(&mut q).part.unwrap_err();
        assert_eq!(failure.reason, Reason::Server, "SERVFAIL, and no server left");
        assert!(failure.message.contains("SERVFAIL"), "{}", failure.message);

        q.start(name("c.test"), Family::V6, 3, now);
        sent(&mut q, 0);
        q.refused(0, now);
        sent(&mut q, 1);
        q.refused(1, now);
        assert_eq!(done(&mut q).part.unwrap_err().reason, Reason::Unreachable);
    }

    #[test]
    fn nxdomain_nodata_and_truncation_end_the_query() {
        let now = Instant::now();
        let mut q = Queries::new(1, T, 3, 5);
        q.start(name("nx.test"), Family::V4, 1, now);
        let (slot, _) = sent(&mut q, 0);
        q.reply(0, &answer_to(&q, slot, wire::RCODE_NXDOMAIN), now);
        let failure = done(&mut q).part.unwrap_err();
        assert_eq!(
            (failure.reason, failure.message.as_str()),
            (Reason::NoSuchName, "nx.test: no such name (NXDOMAIN)")
        );

        q.start(name("empty.test"), Family::V6, 2, now);
        let (slot, _) = sent(&mut q, 0);
        let mut nodata = answer_to(&q, slot, 0);
        nodata[7] = 0;
        nodata.truncate(nodata.len() - 16);
        q.reply(0, &nodata, now);
        assert_eq!(done(&mut q).part.unwrap_err().reason, Reason::NoAddress);

        q.start(name("big.test"), Family::V4, 3, now);
        let (slot, _) = sent(&mut q, 0);
        let mut truncated = answer_to(&q, slot, 0);
        truncated[2] |= 0x02;
        q.reply(0, &truncated, now);
        match q.poll() {
            Some(Output::ToCares { key: 3, family: Family::V4, host, was_on: 0 }) => assert_eq!(host, "big.test"),
            other => panic!("{other:?}"),
        }
        assert_eq!((q.len(), q.deadline()), (0, None));
    }

    #[test]
    fn the_earliest_deadline_survives_answers_in_any_order() {
        let t0 = Instant::now();
        let mut q = Queries::new(1, T, 2, 77);
        let mut slots = Vec::new();
        for i in 0..4 {
            q.start(name("a.test"), Family::V4, i, t0 + Duration::from_millis(i as u64));
            slots.push(sent(&mut q, 0).0);
        }
        q.reply(0, &answer_to(&q, slots[0], 0), t0);
        q.reply(0, &answer_to(&q, slots[2], 0), t0);
        while q.poll().is_some() {}
        assert_eq!(q.deadline(), Some(t0 + T + Duration::from_millis(1)));
        q.expire(t0 + T + Duration::from_millis(1));
        sent(&mut q, 0); // slot 1 moved to round 2, deadline t0 + 1 ms + T + 2T
        assert_eq!(q.deadline(), Some(t0 + T + Duration::from_millis(3)), "slot 3's, in round 1");
        q.reply(0, &answer_to(&q, slots[3], 0), t0);
        done(&mut q);
        assert_eq!(q.deadline(), Some(t0 + 3 * T + Duration::from_millis(1)));
    }
}
