//! Fuzz target: any bytes, as a response to GET or HEAD, with or without a body
//! limit, decoded whole and cut into pieces of every size the first byte picks. The
//! decoder must never panic, and the cuts must not change what it reports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onethread::http1::Limits;

#[path = "../../tests/common/decode.rs"]
mod decode;

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else { return };
    let method = if control & 1 == 1 { "HEAD" } else { "GET" };
    let max_body = (control & 2 != 0).then_some(1000);
    let limits = Limits { max_head: 4096, max_headers: 32, max_body };
    let whole = decode::decode(input, &[], method, limits);
    let step = 1 + (control >> 2) as usize;
    let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
    assert_eq!(decode::decode(input, &cuts, method, limits), whole, "cut every {step} bytes");
});
