//! # onethread
//!
//! A mass HTTP/1.1 fetcher whose whole workload — name resolution, connects,
//! requests and responses, keep-alive, timeouts, output — runs on the process's one
//! thread, and which proves it.
//!
//! Reading order (data flows down, events flow up):
//!
//! 1. [`reactor`] and [`timer`]: `mio::Poll` plus a deadline queue; the only place
//!    the thread sleeps.
//! 2. [`http1`]: the sans-I/O HTTP/1.1 codec — bytes in, events out.
//! 3. [`dns`]: c-ares driven by the same poll loop; why no thread is needed.
//! 4. [`client`]: admission, per-origin pools, connection state machines, outcomes.
//! 5. [`server`]: the built-in test server on the same reactor.
//! 6. [`proof`]: the thread census and the no-new-threads guard.
//!
//! `examples/fetch/` puts them together; `NOTES.md` tells the story.

pub mod client;
pub mod dns;
pub mod http1;
pub mod proof;
pub mod reactor;
pub mod server;
pub mod timer;
pub mod url;
