//! Empty: this package exists for its benches (`benches/`), run with
//! `cargo bench -p onethread-bench --bench NAME` from the workspace root.
