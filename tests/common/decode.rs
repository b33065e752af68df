//! Decodes a response cut at given places, the way a connection feeds the decoder
//! (unconsumed bytes are kept and extended), and summarises what came out. Shared by
//! the property tests (`tests/codec_props.rs`) and the fuzz target (`fuzz/`).

use onethread::http1::{Error, Event, Framing, Limits, ResponseDecoder, Version};

/// The decoder's answer to an input, with body pieces joined so that different cuts
/// compare equal when they mean the same.
#[derive(Debug, PartialEq)]
pub enum Seen {
    Head(u16, Version, Framing),
    Body(Vec<u8>),
    End(bool),
    Error(Error),
}

/// Feeds `input` cut at `cuts` the way a connection does (unconsumed bytes are kept
/// and extended), then reports EOF.
pub fn decode(input: &[u8], cuts: &[usize], method: &str, limits: Limits) -> Vec<Seen> {
    let mut decoder = ResponseDecoder::new(limits);
    decoder.start(method);
    let mut seen = Vec::new();
    let mut pending = Vec::new();
    let mut from = 0;
    let ends = cuts.iter().copied().chain([input.len()]);
    for to in ends {
        pending.extend_from_slice(&input[from..to.max(from)]);
        from = to.max(from);
        loop {
            match decoder.decode(&pending) {
                Err(e) => {
                    seen.push(Seen::Error(e));
                    return seen;
                }
                Ok((n, event)) => {
                    let done = match event {
                        Event::NeedMore => true,
                        Event::Head(h) => {
                            seen.push(Seen::Head(h.status, h.version, h.framing));
                            false
                        }
                        Event::Body(b) => {
                            match seen.last_mut() {
                                Some(Seen::Body(acc)) => acc.extend_from_slice(b),
                                _ => seen.push(Seen::Body(b.to_vec())),
                            }
                            false
                        }
                        Event::End { keep_alive } => {
                            seen.push(Seen::End(keep_alive));
                            return seen;
                        }
                    };
                    pending.drain(..n);
                    if done {
                        break;
                    }
                }
            }
        }
    }
    seen.push(match decoder.finish() {
        Ok(Event::End { keep_alive }) => Seen::End(keep_alive),
        Ok(other) => panic!("finish gave {:?}", std::mem::discriminant(&other)),
        Err(e) => Seen::Error(e),
    });
    seen
}
