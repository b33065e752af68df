//! # onethread
//!
//! A mass HTTP/1.1 fetcher whose whole workload — name resolution, connects,
//! requests and responses, keep-alive, timeouts, output — runs on the process's one
//! thread, and which proves it.
//!
//! Reading order (data flows down, events flow up; a module's docs end with a
//! `Next:` pointer along this path):
//!
//! 1. [`timer`] and [`reactor`]: a deadline queue and `mio::Poll` around it; the
//!    only place the thread sleeps.
//! 2. [`http1`]: the sans-I/O HTTP/1.1 codec — bytes in, events out.
//! 3. [`dns`]: the hosts file, our own UDP queries and c-ares, all driven by the
//!    same poll loop; why no thread is needed.
//! 4. [`client`]: admission, per-origin pools, connection state machines, outcomes;
//!    every input line goes through [`url`] first.
//! 5. [`server`]: the built-in test server, on the same reactor as the client.
//! 6. [`proof`]: the thread census and the no-new-threads guard.
//! 7. `examples/fetch/`, which puts them together in one program, then
//!    `examples/crawl.rs`.
//!
//! Runnable examples (run by `cargo test`): a handler with a timer in [`reactor`],
//! a request encoded and a response decoded in [`http1`], a name answered from the
//! hosts file in [`dns`], the client fetching from the built-in server on one
//! reactor in [`server`], and URL parsing in [`url`]. `NOTES.md` §6 walks the same
//! order file by file, and the rest of `NOTES.md` tells the story.

#![warn(missing_docs)]

pub mod client;
pub mod dns;
pub mod http1;
pub mod proof;
mod rand;
pub mod reactor;
pub mod server;
pub mod timer;
pub mod url;
