//! `fetch --compressed`: bodies asked for compressed and decoded as they arrive, against
//! a scripted server that compresses with the same crates' encoders.
//!
//! * gzip, deflate (zlib and raw), br, zstd and a stack of two decode to the original,
//!   `bytes` counts decoded bytes and `wire_bytes` what came over the wire, `-o` saves
//!   the decoded body;
//! * a corrupt stream and an unknown coding are `decode` errors; a small "bomb" stops
//!   at `--max-body` with `too-large`;
//! * without `--compressed`, nothing is asked for and bodies are untouched.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::Value;

const TEXT: &[u8] = b"All work and no play makes Jack a dull boy.\n";

fn body() -> Vec<u8> {
    TEXT.repeat(500)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn br(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
    e.write_all(data).unwrap();
    drop(e);
    out
}

/// (Content-Encoding, wire body) by path.
fn encoded(path: &str) -> (&'static str, Vec<u8>) {
    let zlib = |d: &[u8]| {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    match path {
        "/gzip" => ("gzip", gzip(&body())),
        "/deflate" => ("deflate", zlib(&body())),
        "/br" => ("br", br(&body())),
        "/zstd" => ("zstd", zstd::stream::encode_all(&body()[..], 3).unwrap()),
        "/stacked" => ("gzip, br", br(&gzip(&body()))),
        "/corrupt" => ("gzip", b"\x1f\x8b\x08\x00 this is not really gzip".to_vec()),
        "/unknown" => ("compress", b"whatever".to_vec()),
        "/bomb" => ("gzip", gzip(&vec![0u8; 10 << 20])),
        _ => ("identity", body()),
    }
}

/// The Accept-Encoding of each request the server saw.
type Asked = Arc<Mutex<Vec<Option<String>>>>;

fn server() -> (std::net::SocketAddr, Asked) {
    let asked: Asked = Arc::default();
    let log = Arc::clone(&asked);
    let (addr, _) = scripted_server(move |mut stream: TcpStream, _| {
        while let Some(head) = read_request(&mut stream) {
            let head = String::from_utf8(head).unwrap();
            let path = head.split(' ').nth(1).unwrap().to_owned();
            log.lock().unwrap().push(field(&head, "accept-encoding"));
            let (coding, wire) = encoded(&path);
            let mut response =
                format!("HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n", wire.len())
                    .into_bytes();
            response.extend_from_slice(&wire);
            if stream.write_all(&response).is_err() {
                return;
            }
        }
    });
    (addr, asked)
}

fn lines(args: &[&str]) -> Vec<Value> {
    let run = run_fetch(&[&["--jsonl"], args].concat(), None);
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    let mut lines = json_lines(&run.stdout);
    lines.sort_by_key(|l| l["index"].as_u64());
    lines
}

#[test]
fn every_coding_decodes_to_the_original_body() {
    let (addr, asked) = server();
    let scratch = Scratch::new("compressed");
    let paths = ["/gzip", "/deflate", "/br", "/zstd", "/stacked", "/plain"];
    let list: String = paths.iter().map(|p| format!("http://{addr}{p}\n")).collect();
    let urls = scratch.write("urls.txt", list);
    let dir = scratch.path("bodies");
    let got = lines(&["--urls", &urls, "--compressed", "-o", dir.to_str().unwrap()]);
    for (i, (line, path)) in got.iter().zip(paths).enumerate() {
        assert!(line["error"].is_null(), "{path}: {line}");
        assert_eq!(line["bytes"], body().len() as u64, "{path}: decoded size: {line}");
        assert_eq!(line["wire_bytes"], encoded(path).1.len() as u64, "{path}: {line}");
        assert_eq!(std::fs::read(dir.join(i.to_string())).unwrap(), body(), "{path}: -o saves the decoded body");
    }
    assert!(asked.lock().unwrap().iter().all(|a| a.as_deref() == Some("gzip, deflate, br, zstd")));
}

#[test]
fn corrupt_unknown_and_oversized_streams_fail_with_their_kind() {
    let (addr, _) = server();
    let url = |p: &str| format!("http://{addr}{p}");
    assert_eq!(lines(&[&url("/corrupt"), "-n", "1", "--compressed"])[0]["error"], "decode");
    let unknown = &lines(&[&url("/unknown"), "-n", "1", "--compressed"])[0];
    assert_eq!(unknown["error"], "decode", "{unknown}");
    assert!(unknown["message"].as_str().unwrap().contains("compress"), "{unknown}");
    let bomb = &lines(&[&url("/bomb"), "-n", "1", "--compressed", "--max-body", "1000000"])[0];
    assert_eq!(bomb["error"], "too-large", "10 MiB of zeros in {} bytes: {bomb}", encoded("/bomb").1.len());
    assert!(bomb["bytes"].as_u64().unwrap() <= 1_100_000, "stopped at the limit: {bomb}");
}

#[test]
fn without_compressed_bodies_are_untouched() {
    let (addr, asked) = server();
    let line = &lines(&[&format!("http://{addr}/gzip"), "-n", "1"])[0];
    assert_eq!(line["bytes"], encoded("/gzip").1.len() as u64, "{line}");
    assert!(line.get("wire_bytes").is_none(), "{line}");
    assert_eq!(asked.lock().unwrap()[0], None, "no Accept-Encoding without --compressed");
}
