//! The reactor: the one place where the thread sleeps.
//!
//! A single-threaded program does all of its waiting in one system call. Here that call
//! is `epoll_wait`, through [`mio::Poll`], with a timeout equal to the nearest timer
//! deadline. When it returns, the reactor hands every readiness event to a [`Handler`]
//! by [`Token`], then fires every expired timer the same way, then lets the handler do
//! its end-of-turn work (admit new requests, flush output). That is the whole loop;
//! see [`Reactor::turn`].
//!
//! The reactor knows nothing about HTTP or DNS. Components (the client, the built-in
//! server, the c-ares glue) each own a disjoint range of tokens and register their
//! sockets with [`Context::registry`]. Registration is edge-triggered (mio's only mode):
//! the OS reports a socket once each time it *becomes* readable or writable, so a
//! component must read until the kernel has nothing more (a short read or
//! `WouldBlock`) before it can expect another event.
//!
//! ## Nothing blocks but the poll
//! `epoll_wait` is the only call in which the thread may sleep. Every other call a
//! handler makes must return at once: sockets are non-blocking, and so are the pipes
//! and terminals a program reads and writes (see `examples/fetch/stdio.rs`). A handler
//! that slept anywhere else would stall every connection, and their deadlines would
//! then expire for the client's own delay and be blamed on the servers.
//!
//! ## The clock rule
//! Every deadline is set, and checked, against a clock read *after* the work that
//! preceded it in the turn. [`Context::now`] is read when `epoll_wait` returns and
//! again before each further event, before the timers are checked, after each timer
//! that fired, and before the end-of-turn work, so it is never older than one handler
//! call.
//! A handler that does much work in one call (admitting a batch of requests, each with
//! a `connect`) calls [`Context::refresh`] before each deadline it sets. A clock read
//! costs about as much as a function call (the vDSO); an early deadline costs a
//! wrong outcome.
//!
//! ## A handler, whole
//! A ticker that counts three ticks 10 ms apart, then says it is done. Its timer
//! carries a token, as a socket would, and it re-arms the timer against the fresh
//! clock in `cx.now`:
//!
//! ```
//! use std::time::Duration;
//!
//! use mio::Token;
//! use mio::event::Event;
//! use onethread::reactor::{Context, Handler, Reactor};
//! use onethread::timer::TimerId;
//!
//! const TICK: Token = Token(7);
//! const EVERY: Duration = Duration::from_millis(10);
//!
//! struct Ticker {
//!     timer: TimerId,
//!     ticks: u32,
//! }
//!
//! impl Handler for Ticker {
//!     fn ready(&mut self, _cx: &mut Context<'_>, _token: Token, _event: &Event) {
//!         unreachable!("no socket is registered");
//!     }
//!     fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
//!         assert_eq!(token, TICK);
//!         self.ticks += 1;
//!         cx.timers.arm(self.timer, cx.now + EVERY); // a timer fires once per arming
//!     }
//!     fn is_done(&self) -> bool {
//!         self.ticks == 3
//!     }
//! }
//!
//! let mut reactor = Reactor::new(16)?;
//! let cx = reactor.context();
//! let timer = cx.timers.insert(TICK);
//! cx.timers.arm(timer, cx.now + EVERY);
//! let started = cx.now;
//!
//! let mut ticker = Ticker { timer, ticks: 0 };
//! reactor.run(&mut ticker)?; // sleeps in epoll_wait between ticks
//! assert_eq!(ticker.ticks, 3);
//! assert!(started.elapsed() >= 3 * EVERY, "a timer never fires early");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Components share one reactor by owning disjoint token ranges: a handler that
//! holds several routes each token to its owner (see the example in [`crate::server`]).
//!
//! Next: [`crate::http1`], the codec; the bytes it reads arrive through this loop.

use std::io;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Poll, Registry, Token};

use crate::timer::Timers;

/// What a component needs while it reacts to an event: a way to (de)register sockets,
/// the timers, and the time this turn of the loop started.
pub struct Context<'a> {
    /// The poll's registry: register, reregister and deregister sockets here, each
    /// under a token from the component's own range.
    pub registry: &'a Registry,
    /// The reactor's one deadline queue; a timer's token comes back through
    /// [`Handler::timer`].
    pub timers: &'a mut Timers,
    /// The time, read after the work that preceded this call (see "The clock rule").
    pub now: Instant,
    /// When this turn began (the poll returned): the same for every call of the turn.
    /// Not for deadlines; for what holds "for this turn", such as a DNS answer with no
    /// lifetime, which must serve every request that waited for it.
    pub turn: Instant,
}

impl Context<'_> {
    /// Reads the clock again, for a deadline set after work done within this call.
    pub fn refresh(&mut self) -> Instant {
        self.now = Instant::now();
        self.now
    }
}

/// Something that reacts to readiness, timers and the end of each turn.
pub trait Handler {
    /// A socket registered with `token` became ready.
    fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &Event);
    /// A timer that carries `token` expired.
    fn timer(&mut self, cx: &mut Context<'_>, token: Token);
    /// Called once after each turn's events and timers; the place for work that
    /// should be batched per turn rather than done per event.
    fn end_of_turn(&mut self, _cx: &mut Context<'_>) {}
    /// `true` when the handler has nothing left to do and the loop may stop.
    fn is_done(&self) -> bool;
    /// `true` when work was left for the next turn (say, connections that stopped
    /// reading to let others have their share): the next poll then does not wait, it
    /// only collects what is ready, and the handler does that work in `end_of_turn`.
    fn has_work_left(&self) -> bool {
        false
    }
}

/// The loop: one `mio::Poll`, its event buffer, and the timers. One per thread —
/// which here means one per process.
pub struct Reactor {
    poll: Poll,
    events: Events,
    /// The deadline queue the poll's timeout is taken from. Handlers reach it through
    /// [`Context::timers`]; between runs a program may use it directly.
    pub timers: Timers,
}

impl Reactor {
    /// `capacity` bounds how many events one `epoll_wait` returns; more stay queued in
    /// the kernel for the next turn.
    pub fn new(capacity: usize) -> io::Result<Self> {
        Ok(Reactor { poll: Poll::new()?, events: Events::with_capacity(capacity), timers: Timers::new() })
    }

    /// A context for setting things up before the loop starts.
    pub fn context(&mut self) -> Context<'_> {
        let now = Instant::now();
        Context { registry: self.poll.registry(), timers: &mut self.timers, now, turn: now }
    }

    /// Runs turns until the handler says it is done.
    pub fn run(&mut self, handler: &mut impl Handler) -> io::Result<()> {
        {
            let mut cx = self.context();
            handler.end_of_turn(&mut cx); // let it start work before the first wait
        }
        while !handler.is_done() {
            self.turn(handler)?;
        }
        Ok(())
    }

    /// One turn: sleep until readiness or the nearest deadline, then dispatch.
    pub fn turn(&mut self, handler: &mut impl Handler) -> io::Result<()> {
        let timeout = match handler.has_work_left() {
            true => Some(Duration::ZERO),
            false => self.timers.next_wakeup().map(|at| until(at, Instant::now())),
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            // A signal arrived while we slept: nothing is wrong, just look again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let mut cx = Context { registry: self.poll.registry(), timers: &mut self.timers, now, turn: now };
        for (i, event) in self.events.iter().enumerate() {
            if i > 0 {
                cx.refresh(); // the first event has the clock read just above
            }
            handler.ready(&mut cx, event.token(), event);
        }
        cx.refresh();
        while let Some(token) = cx.timers.pop_expired(cx.now) {
            handler.timer(&mut cx, token);
            cx.refresh();
        }
        handler.end_of_turn(&mut cx);
        Ok(())
    }
}

/// Time left until `at`, rounded up to whole milliseconds: `epoll_wait` counts in
/// milliseconds, and rounding down would wake us just before the deadline, to find
/// nothing expired and go straight back to sleep.
fn until(at: Instant, now: Instant) -> Duration {
    let left = at.saturating_duration_since(now);
    let ms = left.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(ms.min(u64::MAX as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::Interest;
    use mio::net::UdpSocket;

    /// Records what it saw; done after `want` timer firings and one datagram.
    struct Probe {
        fired: Vec<Token>,
        datagrams: usize,
        want_timers: usize,
        socket: UdpSocket,
    }

    impl Handler for Probe {
        fn ready(&mut self, _cx: &mut Context<'_>, token: Token, event: &Event) {
            assert_eq!(token, Token(99));
            assert!(event.is_readable());
            let mut buf = [0u8; 64];
            while self.socket.recv(&mut buf).is_ok() {
                self.datagrams += 1;
            }
        }
        fn timer(&mut self, _cx: &mut Context<'_>, token: Token) {
            self.fired.push(token);
        }
        fn is_done(&self) -> bool {
            self.fired.len() == self.want_timers && self.datagrams == 1
        }
    }

    #[test]
    fn dispatches_readiness_and_timers_by_token() {
        let mut reactor = Reactor::new(16).unwrap();
        let mut socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let cx = reactor.context();
        cx.registry.register(&mut socket, Token(99), Interest::READABLE).unwrap();
        let now = cx.now;
        let late = cx.timers.insert(Token(2));
        let early = cx.timers.insert(Token(1));
        let cancelled = cx.timers.insert(Token(3));
        cx.timers.arm(late, now + Duration::from_millis(30));
        cx.timers.arm(early, now + Duration::from_millis(10));
        cx.timers.arm(cancelled, now + Duration::from_millis(20));
        cx.timers.cancel(cancelled);

        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"ping", addr).unwrap();

        let mut probe = Probe { fired: vec![], datagrams: 0, want_timers: 2, socket };
        reactor.run(&mut probe).unwrap();
        assert_eq!(probe.fired, vec![Token(1), Token(2)]);
        assert_eq!(probe.datagrams, 1);
        assert!(Instant::now() >= now + Duration::from_millis(30), "timer fired early");
    }

    #[test]
    fn wait_rounds_up_to_whole_milliseconds() {
        let now = Instant::now();
        assert_eq!(until(now + Duration::from_micros(1), now), Duration::from_millis(1));
        assert_eq!(until(now + Duration::from_micros(2500), now), Duration::from_millis(3));
        assert_eq!(until(now, now + Duration::from_secs(1)), Duration::ZERO);
    }
}
