//! The unit tests inside the `fetch` example's own modules: its streams (`stdio.rs`),
//! its URL input (`input.rs`), its per-request output (`output.rs`) and its summary
//! (`summary.rs`, with `save.rs`, which it reports on).
//!
//! They live beside the code they test, but `cargo test` does not run an example's unit
//! tests unless the example is marked `test = true`, and then it no longer builds the
//! example's binary, which the end-to-end tests run. So this test crate includes the
//! modules by path, and their `#[cfg(test)]` tests run here.
#![allow(dead_code)] // the parts `main.rs` uses and these tests do not

#[path = "../examples/fetch/input.rs"]
mod input;
#[path = "../examples/fetch/output.rs"]
mod output;
#[path = "../examples/fetch/save.rs"]
mod save;
#[path = "../examples/fetch/shard.rs"]
mod shard;
#[path = "../examples/fetch/stdio.rs"]
mod stdio;
#[path = "../examples/fetch/summary.rs"]
mod summary;
