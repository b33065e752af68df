//! Per-host politeness: at most `Config::per_host` requests in flight to one host name,
//! and request starts to one host at least `Config::host_delay` apart.
//!
//! A URL whose host may not start now is *parked*: taken from the input, given its
//! index, but not admitted — it holds no slot, no timer and no socket, and other
//! hosts' URLs go past it. When its host frees up (a request of it ends, or its delay
//! passes) the host joins the `ready` queue, and admission starts its oldest parked URL
//! before it takes new input. The parking holds at most `concurrency` URLs; when it is
//! full, no more input is read until it drains, so a million URLs over a few hosts
//! cost no more memory than a thousand (they stay in the input).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::{RequestId, Template};
use crate::url::Url;

/// A request waiting for its host.
pub(super) struct Parked {
    pub index: RequestId,
    pub url: Url,
    pub template: Template,
}

#[derive(Default)]
struct Host {
    in_flight: usize,
    parked: VecDeque<Parked>,
    /// The earliest the next request to this host may start (`host_delay`).
    next_start: Option<Instant>,
    /// In the ready queue now.
    queued: bool,
}

pub(super) struct Hosts {
    per_host: usize,
    delay: Option<Duration>,
    capacity: usize,
    /// Hosts with requests in flight, URLs parked, or a delay still running.
    hosts: HashMap<Box<str>, Host>,
    /// Hosts that may start a parked URL, oldest first.
    ready: VecDeque<Box<str>>,
    parked: usize,
    /// How many hosts may be listed before the ones with nothing left to enforce are
    /// swept out (a host whose last request ended inside its delay stays listed until
    /// the delay passes; a crawl over a million hosts must not keep them all).
    sweep_at: usize,
}

impl Hosts {
    /// `None` when there is nothing to limit.
    pub fn new(per_host: Option<usize>, delay: Option<Duration>, capacity: usize) -> Option<Hosts> {
        if per_host.is_none() && delay.is_none() {
            return None;
        }
        let per_host = per_host.unwrap_or(usize::MAX).max(1);
        let sweep_at = 2 * capacity.max(64);
        Some(Hosts { per_host, delay, capacity, hosts: HashMap::new(), ready: VecDeque::new(), parked: 0, sweep_at })
    }

    /// The key a URL is limited by: its host name, lower case.
    pub fn key(url: &Url) -> Box<str> {
        url.host().to_ascii_lowercase().into()
    }

    /// Whether the parking is full (then no more input should be read).
    pub fn full(&self) -> bool {
        self.parked >= self.capacity
    }

    pub fn parked(&self) -> usize {
        self.parked
    }

    /// The request may start now (it is given back, counted as started), or it is parked.
    pub fn start_or_park(&mut self, request: Parked, now: Instant) -> Option<Parked> {
        if self.hosts.len() >= self.sweep_at {
            self.sweep(now);
        }
        let key = Hosts::key(&request.url);
        let host = self.hosts.entry(key).or_default();
        if host.parked.is_empty() && may_start(host, self.per_host, now) {
            start(host, self.delay, now);
            return Some(request);
        }
        host.parked.push_back(request);
        self.parked += 1;
        None
    }

    /// The oldest parked URL of a host that may start now, counted as started.
    pub fn next_ready(&mut self, now: Instant) -> Option<Parked> {
        while let Some(key) = self.ready.pop_front() {
            let Some(host) = self.hosts.get_mut(&key) else { continue };
            host.queued = false;
            if host.parked.is_empty() || !may_start(host, self.per_host, now) {
                continue;
            }
            let parked = host.parked.pop_front().expect("not empty");
            self.parked -= 1;
            start(host, self.delay, now);
            if !host.parked.is_empty() && may_start(host, self.per_host, now) {
                host.queued = true;
                self.ready.push_back(key);
            }
            return Some(parked);
        }
        None
    }

    /// A request to `key` has ended.
    pub fn finished(&mut self, key: &str, now: Instant) {
        let Some(host) = self.hosts.get_mut(key) else { return };
        host.in_flight -= 1;
        if !host.parked.is_empty() && !host.queued {
            host.queued = true;
            self.ready.push_back(key.into());
        }
        if host.in_flight == 0 && host.parked.is_empty() && host.next_start.is_none_or(|t| t <= now) {
            self.hosts.remove(key);
        }
    }

    /// Hosts whose delay has passed join the ready queue; returns when the next delayed
    /// host may start, for the timer.
    pub fn wake(&mut self, now: Instant) -> Option<Instant> {
        let mut next = None::<Instant>;
        for (key, host) in &mut self.hosts {
            if host.parked.is_empty() || host.queued || host.in_flight >= self.per_host {
                continue;
            }
            match host.next_start {
                Some(t) if t > now => next = Some(next.map_or(t, |n| n.min(t))),
                _ => {
                    host.queued = true;
                    self.ready.push_back(key.clone());
                }
            }
        }
        next
    }

    /// Forgets the hosts with nothing in flight, nothing parked and no delay left: they
    /// would start at once, as a host never seen does. Amortised: the next sweep waits
    /// until the list has doubled again.
    fn sweep(&mut self, now: Instant) {
        self.hosts.retain(|_, h| h.in_flight > 0 || !h.parked.is_empty() || h.next_start.is_some_and(|t| t > now));
        self.sweep_at = (2 * self.hosts.len()).max(2 * self.capacity.max(64));
    }

    /// Every parked URL, for a stop: each still needs its one outcome.
    pub fn drain(&mut self) -> Vec<Parked> {
        self.parked = 0;
        self.ready.clear();
        self.hosts.values_mut().flat_map(|h| h.parked.drain(..)).collect()
    }
}

fn may_start(host: &Host, per_host: usize, now: Instant) -> bool {
    host.in_flight < per_host && host.next_start.is_none_or(|t| t <= now)
}

fn start(host: &mut Host, delay: Option<Duration>, now: Instant) {
    host.in_flight += 1;
    host.next_start = delay.map(|d| now + d);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn parked(index: u64, url: Url) -> Parked {
        Parked { index: RequestId(index), url, template: Template::default() }
    }

    #[test]
    fn hosts_whose_delay_has_passed_are_not_kept() {
        // Five rounds, two seconds apart, of 10,000 new hosts each, every request ending
        // inside its host's one-second delay: only the current round's hosts matter.
        let mut h = Hosts::new(None, Some(Duration::from_secs(1)), 10).unwrap();
        let start = Instant::now();
        let mut most = 0;
        for round in 0..5u64 {
            let now = start + Duration::from_secs(2 * round);
            for i in 0..10_000 {
                let host = format!("r{round}h{i}.test");
                assert!(h.start_or_park(parked(i, url(&format!("http://{host}/"))), now).is_some());
                h.finished(&host, now);
                most = most.max(h.hosts.len());
            }
            let again = url(&format!("http://r{round}h0.test/"));
            assert!(h.start_or_park(parked(0, again), now).is_none(), "a live delay is kept");
            h.drain();
        }
        assert!(most <= 25_000, "{most} hosts listed at once, of 50,000 seen");
    }

    #[test]
    fn a_host_at_its_limit_parks_and_others_pass() {
        let mut h = Hosts::new(Some(2), None, 10).unwrap();
        let now = Instant::now();
        assert!(h.start_or_park(parked(0, url("http://a/0")), now).is_some());
        assert!(h.start_or_park(parked(1, url("http://A/1")), now).is_some(), "host names match without case");
        assert!(h.start_or_park(parked(2, url("http://a/2")), now).is_none(), "parked");
        assert!(h.start_or_park(parked(3, url("http://b/3")), now).is_some(), "another host passes");
        assert!(h.start_or_park(parked(4, url("http://a/4")), now).is_none());
        assert_eq!(h.parked(), 2);
        assert!(h.next_ready(now).is_none(), "nothing freed yet");
        h.finished("a", now);
        assert_eq!(h.next_ready(now).map(|p| p.index.0), Some(2), "oldest first");
        assert!(h.next_ready(now).is_none(), "at the limit again");
        h.finished("a", now);
        assert_eq!(h.next_ready(now).map(|p| p.index.0), Some(4));
        assert_eq!(h.parked(), 0);
    }

    #[test]
    fn starts_to_one_host_are_spaced_by_the_delay() {
        let mut h = Hosts::new(None, Some(Duration::from_millis(100)), 10).unwrap();
        let t0 = Instant::now();
        assert!(h.start_or_park(parked(0, url("http://a/0")), t0).is_some());
        assert!(h.start_or_park(parked(1, url("http://a/1")), t0).is_none(), "too soon");
        assert!(h.start_or_park(parked(2, url("http://b/2")), t0).is_some(), "another host is not held up");
        assert_eq!(h.wake(t0 + Duration::from_millis(50)), Some(t0 + Duration::from_millis(100)));
        assert!(h.next_ready(t0 + Duration::from_millis(50)).is_none());
        assert_eq!(h.wake(t0 + Duration::from_millis(100)), None);
        assert_eq!(h.next_ready(t0 + Duration::from_millis(100)).map(|p| p.index.0), Some(1));
    }

    #[test]
    fn the_parking_is_bounded_and_drains_for_a_stop() {
        let mut h = Hosts::new(Some(1), None, 2).unwrap();
        let now = Instant::now();
        h.start_or_park(parked(0, url("http://a/")), now);
        h.start_or_park(parked(1, url("http://a/")), now);
        assert!(!h.full());
        h.start_or_park(parked(2, url("http://a/")), now);
        assert!(h.full(), "stop reading input");
        let drained: Vec<u64> = h.drain().iter().map(|p| p.index.0).collect();
        assert_eq!(drained, [1, 2]);
        assert_eq!(h.parked(), 0);
    }
}
