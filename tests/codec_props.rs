//! Property tests for the response decoder, run by `cargo test` (the coverage-guided
//! fuzz target lives in `fuzz/`).
//!
//! Thousands of generated responses — every framing, random headers, chunk layouts,
//! extensions and trailers, obsolete line folding, later HTTP/1.x minor versions —
//! are decoded whole and cut at random places, clean and
//! with random corruption. Properties: the decoder never panics; the events (with
//! body pieces joined) are the same however the input is cut; and a clean response
//! decodes to exactly what was generated. Cases come from a fixed-seed generator, so
//! a failure names a seed that reproduces it.

#[path = "common/decode.rs"]
mod decode;

use decode::{Seen, decode};
use onethread::http1::{Framing, Limits, Version};

/// xorshift64*: small, fast, and deterministic from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// What was generated, to compare with what is decoded.
struct Case {
    bytes: Vec<u8>,
    method: &'static str,
    status: u16,
    version: Version,
    body: Vec<u8>,
    keep_alive: bool,
}

fn generate(rng: &mut Rng) -> Case {
    let version = if rng.chance(20) { Version::Http10 } else { Version::Http11 };
    let method = if rng.chance(10) { "HEAD" } else { "GET" };
    let status = [200, 201, 204, 301, 304, 404, 500, 503][rng.below(8)];
    let no_body = method == "HEAD" || status == 204 || status == 304;
    let framing = match rng.below(10) {
        0..=4 => "length",
        5..=7 => "chunked",
        _ => "close",
    };
    let body: Vec<u8> = (0..rng.below(3000)).map(|_| rng.below(256) as u8).collect();
    let mut out = Vec::new();
    if rng.chance(30) {
        out.extend_from_slice(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n");
    }
    // HTTP/1.2 and later are read as HTTP/1.1 (RFC 9112 §2.3).
    let v = match version {
        Version::Http10 => "1.0".to_string(),
        _ if rng.chance(10) => format!("1.{}", 2 + rng.below(8)),
        _ => "1.1".to_string(),
    };
    out.extend_from_slice(format!("HTTP/{v} {status} Reason Phrase\r\n").as_bytes());
    for i in 0..rng.below(8) {
        out.extend_from_slice(format!("X-Field-{i}: value {}\r\n", rng.next()).as_bytes());
    }
    // Obsolete line folding is read as spaces (RFC 9112 §5.2), in the framing fields
    // too, and a folded head never leaves a reusable connection.
    let folded = rng.chance(15);
    let fold_framing = folded && rng.chance(50);
    if folded {
        out.extend_from_slice(b"X-Folded: part one\r\n\tpart two \r\n   part three\r\n");
    }
    let close_header = rng.chance(15);
    if close_header {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    let ten_keep_alive = version == Version::Http10 && rng.chance(50);
    if ten_keep_alive {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    match (framing, fold_framing) {
        ("length", false) => out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes()),
        ("length", true) => out.extend_from_slice(format!("Content-Length:\r\n {}\r\n", body.len()).as_bytes()),
        ("chunked", false) => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        ("chunked", true) => out.extend_from_slice(b"Transfer-Encoding: gzip,\r\n\tchunked\r\n"),
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
    if !no_body {
        match framing {
            "chunked" => {
                let mut rest = &body[..];
                while !rest.is_empty() {
                    let n = rest.len().min(1 + rng.below(700));
                    let ext = if rng.chance(20) { ";name=\"v\"" } else { "" };
                    let size = if rng.chance(50) { format!("{n:x}") } else { format!("{n:X}") };
                    out.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                out.extend_from_slice(b"0\r\n");
                if rng.chance(30) {
                    out.extend_from_slice(b"Trailer-Field: yes\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
            _ => out.extend_from_slice(&body),
        }
    }
    let chunked_in_10 = framing == "chunked" && version == Version::Http10;
    let keep_alive = !close_header
        && !folded
        && (no_body || framing != "close")
        && !chunked_in_10
        && (version == Version::Http11 || ten_keep_alive);
    let body = if no_body { Vec::new() } else { body };
    Case { bytes: out, method, status, version, body, keep_alive }
}

fn random_cuts(rng: &mut Rng, len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..rng.below(12)).map(|_| rng.below(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

fn corrupt(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            return;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[at] = rng.below(256) as u8,
            1 => bytes[at] ^= 1 << rng.below(8),
            2 => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, b"\r\n:;0 \t"[rng.below(7)]),
        }
    }
}

const LIMITS: Limits = Limits { max_head: 2048, max_headers: 16, max_body: Some(2500) };

#[test]
fn clean_responses_decode_to_what_was_sent_however_they_are_cut() {
    for seed in 1..=1500u64 {
        let mut rng = Rng(seed);
        let case = generate(&mut rng);
        let limits = Limits { max_body: None, ..LIMITS };
        let whole = decode(&case.bytes, &[], case.method, limits);
        let mut expected = vec![Seen::Head(case.status, case.version, framing_of(&whole))];
        if !case.body.is_empty() {
            expected.push(Seen::Body(case.body.clone()));
        }
        expected.push(Seen::End(case.keep_alive));
        assert_eq!(
            whole,
            expected,
            "seed {seed}: {}",
            String::from_utf8_lossy(&case.bytes[..case.bytes.len().min(400)])
        );
        for _ in 0..4 {
            let cuts = random_cuts(&mut rng, case.bytes.len());
            assert_eq!(decode(&case.bytes, &cuts, case.method, limits), whole, "seed {seed}, cuts {cuts:?}");
        }
    }
}

#[test]
fn corrupted_responses_never_panic_and_do_not_depend_on_the_cuts() {
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed);
        let case = generate(&mut rng);
        let mut bytes = case.bytes;
        corrupt(&mut rng, &mut bytes);
        let whole = decode(&bytes, &[], case.method, LIMITS);
        for _ in 0..4 {
            let cuts = random_cuts(&mut rng, bytes.len());
            assert_eq!(decode(&bytes, &cuts, case.method, LIMITS), whole, "seed {seed}, cuts {cuts:?}");
        }
        let one_by_one: Vec<usize> = (1..bytes.len()).collect();
        if bytes.len() < 600 {
            assert_eq!(decode(&bytes, &one_by_one, case.method, LIMITS), whole, "seed {seed}, byte by byte");
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(7);
    for _ in 0..3000 {
        let mut bytes: Vec<u8> = (0..rng.below(300)).map(|_| rng.below(256) as u8).collect();
        if rng.chance(50) {
            bytes.splice(0..0, b"HTTP/1.1 200 OK\r\n".iter().copied());
        }
        let cuts = random_cuts(&mut rng, bytes.len());
        assert_eq!(decode(&bytes, &cuts, "GET", LIMITS), decode(&bytes, &[], "GET", LIMITS));
    }
}

fn framing_of(seen: &[Seen]) -> Framing {
    match seen.first() {
        Some(Seen::Head(_, _, framing)) => *framing,
        other => panic!("expected a head first, got {other:?}"),
    }
}
