//! Content codings (RFC 9110 §8.4): a compressed body decoded as it arrives.
//!
//! With `Config::decompress`, a response's `Content-Encoding` is undone piece by
//! piece: each piece of the body, as the codec hands it over, goes through one decoder
//! per coding, last applied first (`gzip, br` is decoded as brotli, then gzip), and what
//! comes out is what the sink gets and `body_len` counts. The decoders are streaming
//! state machines that work on the bytes they are given, like the codec, so nothing
//! here waits or starts a thread. `identity` is no coding; a coding we do not know
//! fails the request (`decode`) rather than hand over bytes nobody can read. A stream
//! that is corrupt, or ends before its coding does, fails it too: a truncated gzip
//! body must not pass for a complete one.
//!
//! The decoded size is checked against `--max-body` as it grows, so a small
//! "decompression bomb" stops at the limit (`too-large`) instead of filling memory.

use std::io::Write;

use flate2::{Decompress, FlushDecompress, Status};

/// One coding being undone.
enum Stage {
    /// gzip: its header and trailer are checked by flate2.
    Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
    /// deflate: a zlib stream (RFC 1950) as HTTP defines it, or — as some servers send —
    /// a raw deflate stream; decided by the first two bytes.
    Deflate {
        first: Vec<u8>,
        stream: Option<Box<Decompress>>,
        ended: bool,
        /// Output space, kept from step to step.
        out: Vec<u8>,
    },
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
    Zstd {
        stream: Box<zstd::stream::raw::Decoder<'static>>,
        ended: bool,
        /// Output space, kept from step to step.
        out: Box<[u8]>,
    },
}

/// The codings of one response, to undo in order.
pub(super) struct Decoding {
    stages: Vec<Stage>,
    /// Whether any byte came in (an empty body, say for HEAD, needs no decoding).
    fed: bool,
}

impl Decoding {
    /// The decoders for a `Content-Encoding` value: `None` when there is nothing to undo.
    pub fn for_codings(content_encoding: &[u8]) -> Result<Option<Decoding>, String> {
        let text = String::from_utf8_lossy(content_encoding);
        let mut stages = Vec::new();
        for coding in text.split(',').map(|c| c.trim().to_ascii_lowercase()).rev() {
            stages.push(match coding.as_str() {
                "" | "identity" => continue,
                "gzip" | "x-gzip" => Stage::Gzip(Box::new(flate2::write::GzDecoder::new(Vec::new()))),
                "deflate" => Stage::Deflate { first: Vec::new(), stream: None, ended: false, out: Vec::new() },
                "br" => Stage::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(Vec::new(), 4096))),
                "zstd" => {
                    let stream = zstd::stream::raw::Decoder::new().map_err(|e| format!("zstd: {e}"))?;
                    Stage::Zstd { stream: Box::new(stream), ended: false, out: vec![0; OUT].into() }
                }
                other => return Err(format!("unsupported Content-Encoding {other:?}")),
            });
        }
        Ok((!stages.is_empty()).then_some(Decoding { stages, fed: false }))
    }

    /// Decodes `bytes` of the body, handing each decoded piece to `out`, which may
    /// stop the decoding (say, at a size limit) by returning an error.
    pub fn feed(&mut self, bytes: &[u8], out: &mut dyn FnMut(&[u8]) -> Result<(), String>) -> Result<(), String> {
        self.fed |= !bytes.is_empty();
        run(&mut self.stages, bytes, out)
    }

    /// The body has ended: what the decoders still hold comes out, and each stream
    /// must have ended too.
    pub fn finish(&mut self, out: &mut dyn FnMut(&[u8]) -> Result<(), String>) -> Result<(), String> {
        if !self.fed {
            return Ok(());
        }
        for i in 0..self.stages.len() {
            let (stage, rest) = self.stages[i..].split_first_mut().expect("in range");
            let mut tail = Vec::new();
            stage.finish(&mut tail)?;
            run(rest, &tail, out)?;
        }
        Ok(())
    }
}

/// Input goes through the stages a small step at a time, and every stage hands its
/// output on as it makes it: a few compressed bytes can stand for megabytes, and the
/// limit must be able to stop them before they are all in memory.
fn run(stages: &mut [Stage], input: &[u8], out: &mut dyn FnMut(&[u8]) -> Result<(), String>) -> Result<(), String> {
    let Some((stage, rest)) = stages.split_first_mut() else {
        return if input.is_empty() { Ok(()) } else { out(input) };
    };
    for step in input.chunks(STEP) {
        stage.feed(step, &mut |piece| run(rest, piece, out))?;
    }
    Ok(())
}

/// Input bytes per step. Deflate expands at most about 1,000 to 1, so a step yields at
/// most about a quarter of a megabyte before the limit is checked again.
const STEP: usize = 256;

/// Output space of the deflate and zstd stages, allocated once per response.
const OUT: usize = 64 * 1024;

type Emit<'a> = &'a mut dyn FnMut(&[u8]) -> Result<(), String>;

impl Stage {
    fn feed(&mut self, input: &[u8], emit: Emit<'_>) -> Result<(), String> {
        match self {
            Stage::Gzip(d) => {
                d.write_all(input).map_err(|e| format!("gzip: {e}"))?;
                emit_taken(d.get_mut(), emit)
            }
            Stage::Brotli(d) => {
                d.write_all(input).map_err(|e| format!("brotli: {e}"))?;
                emit_taken(d.get_mut(), emit)
            }
            Stage::Deflate { first, stream, ended, out } => {
                if stream.is_none() {
                    first.extend_from_slice(input);
                    if first.len() < 2 {
                        return Ok(());
                    }
                    // RFC 1950: CM = 8 and the first two bytes a multiple of 31.
                    let zlib = first[0] & 0x0f == 8 && u16::from_be_bytes([first[0], first[1]]) % 31 == 0;
                    *stream = Some(Box::new(Decompress::new(zlib)));
                    let start = std::mem::take(first);
                    return inflate(stream.as_mut().expect("just made"), &start, ended, out, emit);
                }
                inflate(stream.as_mut().expect("made above"), input, ended, out, emit)
            }
            Stage::Zstd { stream, ended, out: buf } => {
                use zstd::stream::raw::Operation;
                let mut input = input;
                while !input.is_empty() {
                    if *ended {
                        return Err("zstd: data after the end of the stream".into());
                    }
                    let status = stream.run_on_buffers(input, buf).map_err(|e| format!("zstd: {e}"))?;
                    input = &input[status.bytes_read..];
                    *ended = status.remaining == 0;
                    if status.bytes_written > 0 {
                        emit(&buf[..status.bytes_written])?;
                    } else if status.bytes_read == 0 {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// The stream's end: its last output goes into `tail`; an unended stream is an error.
    fn finish(&mut self, tail: &mut Vec<u8>) -> Result<(), String> {
        let truncated = |what: &str| Err(format!("{what}: the body ended before the compressed stream did"));
        match self {
            Stage::Gzip(d) => {
                d.try_finish().map_err(|e| format!("gzip: {e}"))?;
                tail.append(d.get_mut());
                Ok(())
            }
            Stage::Brotli(d) => {
                d.flush().map_err(|e| format!("brotli: {e}"))?;
                tail.append(d.get_mut());
                let done = std::mem::replace(d, Box::new(brotli_decompressor::DecompressorWriter::new(Vec::new(), 16)));
                match done.into_inner() {
                    Ok(_) => Ok(()),
                    Err(_) => truncated("brotli"),
                }
            }
            Stage::Deflate { ended: true, .. } | Stage::Zstd { ended: true, .. } => Ok(()),
            Stage::Deflate { .. } => truncated("deflate"),
            Stage::Zstd { .. } => truncated("zstd"),
        }
    }
}

/// Hands on what a writer-style decoder has written, keeping its buffer's space.
fn emit_taken(buf: &mut Vec<u8>, emit: Emit<'_>) -> Result<(), String> {
    if buf.is_empty() {
        return Ok(());
    }
    emit(buf)?;
    buf.clear();
    Ok(())
}

/// Inflates `input`, handing output on in blocks, noting when the stream has ended.
fn inflate(
    stream: &mut Decompress,
    mut input: &[u8],
    ended: &mut bool,
    output: &mut Vec<u8>,
    emit: Emit<'_>,
) -> Result<(), String> {
    output.reserve(OUT); // once: `decompress_vec` fills only the space already there
    while !input.is_empty() {
        if *ended {
            return Err("deflate: data after the end of the stream".into());
        }
        output.clear();
        let before = (stream.total_in(), stream.total_out());
        let status =
            stream.decompress_vec(input, output, FlushDecompress::None).map_err(|e| format!("deflate: {e}"))?;
        let read = (stream.total_in() - before.0) as usize;
        input = &input[read..];
        *ended = status == Status::StreamEnd;
        if !output.is_empty() {
            emit(output)?;
        } else if read == 0 {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
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

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 3).unwrap()
    }

    /// Decodes `wire` fed in pieces of `step` bytes.
    fn decode(codings: &str, wire: &[u8], step: usize) -> Result<Vec<u8>, String> {
        let mut d = Decoding::for_codings(codings.as_bytes())?.expect("a coding");
        let mut out = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            d.feed(piece, &mut |p| {
                out.extend_from_slice(p);
                Ok(())
            })?;
        }
        d.finish(&mut |p| {
            out.extend_from_slice(p);
            Ok(())
        })?;
        Ok(out)
    }

    const TEXT: &[u8] = b"All work and no play makes Jack a dull boy. All work and no play makes Jack a dull boy.\n";

    #[test]
    fn each_coding_decodes_whole_and_byte_by_byte() {
        let body = TEXT.repeat(200);
        for (codings, wire) in [
            ("gzip", gzip(&body)),
            ("deflate", zlib(&body)),
            ("deflate", raw_deflate(&body)),
            ("br", br(&body)),
            ("zstd", zstd(&body)),
        ] {
            for step in [1, 7, 1000, usize::MAX] {
                assert_eq!(decode(codings, &wire, step).as_deref(), Ok(&body[..]), "{codings} in pieces of {step}");
            }
        }
    }

    #[test]
    fn stacked_codings_are_undone_last_first_and_identity_is_nothing() {
        let body = TEXT.repeat(10);
        let wire = zstd(&gzip(&body)); // gzip applied first, then zstd
        assert_eq!(decode("gzip, zstd", &wire, 5).unwrap(), body);
        assert!(Decoding::for_codings(b"identity").unwrap().is_none());
        assert!(Decoding::for_codings(b"").unwrap().is_none());
        assert!(Decoding::for_codings(b"compress").is_err(), "a coding we cannot undo");
    }

    #[test]
    fn a_corrupt_or_truncated_stream_is_an_error() {
        let wire = gzip(&TEXT.repeat(50));
        assert!(decode("gzip", &wire[..wire.len() - 4], 100).is_err(), "gzip trailer missing");
        let wire = zlib(&TEXT.repeat(50));
        assert!(decode("deflate", &wire[..wire.len() / 2], 100).is_err());
        let wire = zstd(&TEXT.repeat(50));
        assert!(decode("zstd", &wire[..wire.len() / 2], 100).is_err());
        let wire = br(&TEXT.repeat(50));
        assert!(decode("br", &wire[..wire.len() / 2], 100).is_err());
        assert!(decode("gzip", b"this is not gzip at all", 100).is_err());
        let mut empty = Decoding::for_codings(b"gzip").unwrap().unwrap();
        assert!(empty.finish(&mut |_| Ok(())).is_ok(), "no body (HEAD, 204): nothing to decode");
    }

    #[test]
    fn a_small_step_that_expands_past_the_output_buffer_is_drained() {
        // A megabyte of zeros compresses to a few hundred bytes: one step can decode to
        // far more than the 64 KiB output buffer holds, and what does not fit must still
        // come out, not be taken for a stream cut short.
        let body = vec![0u8; 1 << 20];
        for (codings, wire) in [("deflate", zlib(&body)), ("deflate", raw_deflate(&body)), ("zstd", zstd(&body))] {
            for step in [256, usize::MAX] {
                let out = decode(codings, &wire, step).unwrap_or_else(|e| panic!("{codings} in pieces of {step}: {e}"));
                assert_eq!(out.len(), body.len(), "{codings} in pieces of {step}");
            }
        }
    }
}
