//! DNS messages as bytes: the query we send and the reply we accept (RFC 1035 §4).
//!
//! Pure functions, no socket and no clock, so every rule is tested byte by byte
//! below. This is the whole of the protocol the own path (`udp.rs`) speaks, and
//! it is deliberately small: one question, class IN, type A or AAAA, no EDNS, RD set.
//!
//! **A reply is ours only if it says so exactly** (RFC 5452 §9.1): the ID matches
//! (checked by the caller, who keys outstanding queries by ID), QR is set, the
//! opcode is QUERY, there is exactly one question, and that question is our name
//! (ASCII case-insensitive), our type and class IN. Anything else is [`Reject`]ed
//! and the query keeps waiting for the real answer, as c-ares does
//! (`same_questions`). A reply whose header and question are ours but whose records
//! cannot be read is rejected too: it is more likely forged than the server's.
//!
//! **Names in replies may be compressed** (§4.1.4). A pointer must point before
//! the start of the name piece that contains it, so every jump goes strictly
//! backwards and a loop of pointers is impossible; a name longer than 255 bytes is
//! malformed. Counts are never trusted: every read is bounds-checked, so a reply
//! claiming 65,535 answers in 40 bytes ends as malformed after the bytes run out.
//!
//! **Which addresses count** is c-ares's rule (`ares_addrinfo2.c`), also in
//! `reply.rs`: a record counts if its owner is the question's name or the target of
//! a CNAME already followed, in the order the records come. The TTL is the smallest
//! among the records used: the addresses and the CNAMEs that led to them.
//!
//! Next: `queries.rs`, which keeps track of the queries these bytes belong to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest name on the wire, with its length bytes and the root (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;
/// Largest UDP reply without EDNS (RFC 1035 §4.2.1).
pub const UDP_PAYLOAD: usize = 512;
/// Most CNAME links followed within one answer (c-ares and glibc stop well before).
const MAX_CHAIN: usize = 16;

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
const TYPE_CNAME: u16 = 5;
const CLASS_IN: u16 = 1;

pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;

/// A host name in wire format (`\x03www\x07example\x03com\x00`), kept inline so an
/// outstanding query needs no allocation.
#[derive(Clone, Copy)]
pub struct Name {
    bytes: [u8; MAX_NAME],
    len: u8,
}

impl Name {
    /// `host` ("www.example.com", with or without the root dot) in wire format;
    /// `None` for what the own path does not send: an empty label, a label over 63
    /// bytes, a name over 255, the root alone, and a backslash (c-ares reads escapes
    /// like `\.` in names; such names go to c-ares).
    pub fn parse(host: &str) -> Option<Name> {
        let host = host.strip_suffix('.').unwrap_or(host).as_bytes();
        if host.is_empty() || host.len() + 2 > MAX_NAME {
            return None;
        }
        // The text shifted one byte right; each dot becomes the length of the label
        // after it, and the first length byte is the first label's.
        let mut name = Name { bytes: [0; MAX_NAME], len: (host.len() + 2) as u8 };
        name.bytes[1..=host.len()].copy_from_slice(host);
        let mut length_at = 0;
        for i in 1..=host.len() + 1 {
            let byte = name.bytes[i];
            if i == host.len() + 1 || byte == b'.' {
                let len = i - length_at - 1;
                if len == 0 || len > 63 {
                    return None;
                }
                name.bytes[length_at] = len as u8;
                length_at = i;
            } else if byte == b'\\' {
                return None;
            }
        }
        name.bytes[host.len() + 1] = 0; // the root
        Some(name)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Back to dotted text, without the root dot (for messages).
    pub fn host(&self) -> String {
        let bytes = self.as_bytes();
        // The labels' bytes with each length byte but the first turned into a dot.
        let mut text = bytes[1..bytes.len() - 1].to_vec();
        let mut at = usize::from(bytes[0]);
        while at < text.len() {
            let len = usize::from(text[at]);
            text[at] = b'.';
            at += 1 + len;
        }
        String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Name({})", self.host())
    }
}

/// Writes a query into `out` (cleared first): header with `id` and RD, one question.
pub fn write_query(out: &mut Vec<u8>, id: u16, name: &Name, qtype: u16) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00]); // QR=0, opcode QUERY, RD=1; no flags in byte 2
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1, AN/NS/AR 0
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
}

/// The ID of a message, if it has a header at all.
pub fn id(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.first()?, *msg.get(1)?]))
}

/// What an accepted reply says.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// NOERROR with addresses of the type asked (appended to the caller's list),
    /// and the smallest TTL among the records used.
    Addresses { ttl: u32 },
    /// NOERROR with no address of the type asked (NODATA, or a CNAME alone).
    NoData,
    /// NXDOMAIN.
    NoSuchName,
    /// TC set: the answer did not fit; ask over TCP.
    Truncated,
    /// Any other RCODE (SERVFAIL, REFUSED, NOTIMP, FORMERR, …).
    Error(u8),
}

/// Why a reply was not taken as the answer to our question.
#[derive(Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not a reply to a query (QR clear, another opcode), or another question.
    NotOurs,
    /// Ours by its header and question, but its records cannot be read.
    Malformed,
}

/// Reads `msg` as the reply to our question (`name`, `qtype`, class IN). The caller
/// has matched the ID. Addresses are appended to `addrs`, each once.
pub fn read_reply(msg: &[u8], name: &Name, qtype: u16, addrs: &mut Vec<IpAddr>) -> Result<Reply, Reject> {
    let header = msg.get(..12).ok_or(Reject::NotOurs)?;
    let flags = header[2];
    let is_reply = flags & 0x80 != 0;
    let opcode = (flags >> 3) & 0x0f;
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    if !is_reply || opcode != 0 || count(4) != 1 {
        return Err(Reject::NotOurs);
    }
    // The question: our name byte for byte but for ASCII case (a pointer can only
    // differ from a length byte, so a compressed question is simply not ours).
    let ours = name.as_bytes();
    let question = msg.get(12..12 + ours.len() + 4).ok_or(Reject::NotOurs)?;
    let (qname, rest) = question.split_at(ours.len());
    if !qname.eq_ignore_ascii_case(ours) || rest[..2] != qtype.to_be_bytes() || rest[2..] != CLASS_IN.to_be_bytes() {
        return Err(Reject::NotOurs);
    }
    if flags & 0x02 != 0 {
        return Ok(Reply::Truncated);
    }
    match header[3] & 0x0f {
        0 => {}
        RCODE_NXDOMAIN => return Ok(Reply::NoSuchName),
        rcode => return Ok(Reply::Error(rcode)),
    }
    let answers = count(6);
    let mut pos = 12 + question.len();
    // Owners of our chain, as positions of their names in `msg`: the question first.
    let mut chain = [0usize; MAX_CHAIN + 1];
    chain[0] = 12;
    let mut links = 1;
    let mut ttl = u32::MAX;
    let mut cname_ttl = u32::MAX;
    let first = addrs.len();
    for _ in 0..answers {
        let owner = pos;
        pos = skip_name(msg, pos).ok_or(Reject::Malformed)?;
        let fixed = msg.get(pos..pos + 10).ok_or(Reject::Malformed)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let rttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data_at = pos + 10;
        let data = msg.get(data_at..data_at + len).ok_or(Reject::Malformed)?;
        pos = data_at + len;
        if class != CLASS_IN || !(rtype == qtype || rtype == TYPE_CNAME) {
            continue;
        }
        let mut on_chain = false;
        for &at in &chain[..links] {
            if same_name(msg, owner, at).ok_or(Reject::Malformed)? {
                on_chain = true;
                break;
            }
        }
        if !on_chain {
            continue;
        }
        let ip = match (rtype, data.len()) {
            (TYPE_A, 4) if qtype == TYPE_A => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(data).unwrap())),
            (TYPE_AAAA, 16) if qtype == TYPE_AAAA => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(data).unwrap())),
            (TYPE_CNAME, _) => {
                // The target must be a readable name lying within the RDATA.
                let end = skip_name(msg, data_at).ok_or(Reject::Malformed)?;
                if end != pos || name_len(msg, data_at).is_none() {
                    return Err(Reject::Malformed);
                }
                if links <= MAX_CHAIN {
                    chain[links] = data_at;
                    links += 1;
                    cname_ttl = cname_ttl.min(rttl);
                }
                continue;
            }
            _ => return Err(Reject::Malformed), // an address of the wrong length
        };
        ttl = ttl.min(rttl);
        if !addrs[first..].contains(&ip) {
            addrs.push(ip);
        }
    }
    if addrs.len() == first {
        return Ok(Reply::NoData);
    }
    Ok(Reply::Addresses { ttl: ttl.min(cname_ttl) })
}

/// The position just after the name at `pos`, without following pointers.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + usize::from(len),
            0xc0 => {
                msg.get(pos + 1)?;
                return Some(pos + 2);
            }
            _ => return None, // 0x40 and 0x80: extended label types, not in use
        }
    }
}

/// Where a name that is only a pointer points (if it points backwards).
fn jump(msg: &[u8], pos: usize) -> Option<usize> {
    let (&high, &low) = (msg.get(pos)?, msg.get(pos + 1)?);
    let target = usize::from(u16::from_be_bytes([high & 0x3f, low]));
    (high & 0xc0 == 0xc0 && target < pos).then_some(target)
}

/// Walks the labels of the (possibly compressed) name at `pos`: each pointer must
/// point before the start of the piece it is in, so the walk always ends.
struct Labels<'a> {
    msg: &'a [u8],
    pos: usize,
    /// Start of the current piece: the name itself, or the last pointer's target.
    piece: usize,
    total: usize,
    done: bool,
}

impl<'a> Labels<'a> {
    fn new(msg: &'a [u8], pos: usize) -> Self {
        Labels { msg, pos, piece: pos, total: 0, done: false }
    }

    /// The next label (empty at the root), or `None` if the name is malformed.
    fn next_label(&mut self) -> Option<&'a [u8]> {
        loop {
            let len = *self.msg.get(self.pos)?;
            match len & 0xc0 {
                0x00 => {
                    let label = self.msg.get(self.pos + 1..self.pos + 1 + usize::from(len))?;
                    self.total += 1 + usize::from(len);
                    if self.total > MAX_NAME {
                        return None;
                    }
                    self.pos += 1 + usize::from(len);
                    self.done = len == 0;
                    return Some(label);
                }
                0xc0 => {
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, *self.msg.get(self.pos + 1)?]));
                    if target >= self.piece {
                        return None; // forward, or a loop
                    }
                    self.pos = target;
                    self.piece = target;
                }
                _ => return None,
            }
        }
    }
}

/// The length of the name at `pos` in wire form, if it is well formed.
fn name_len(msg: &[u8], pos: usize) -> Option<usize> {
    let mut labels = Labels::new(msg, pos);
    while !labels.done {
        labels.next_label()?;
    }
    Some(labels.total)
}

/// Whether the names at `a` and `b` are equal, ignoring ASCII case; `None` if either
/// is malformed.
fn same_name(msg: &[u8], a: usize, b: usize) -> Option<bool> {
    // The usual case: a record's owner is a bare pointer to the question's name (or
    // to a CNAME target), which `read_reply` has already read.
    if jump(msg, a) == Some(b) {
        return Some(true);
    }
    let (mut x, mut y) = (Labels::new(msg, a), Labels::new(msg, b));
    loop {
        let (p, q) = (x.next_label()?, y.next_label()?);
        if !p.eq_ignore_ascii_case(q) {
            // Still read the rest of both, so a malformed name is reported as such.
            while !x.done {
                x.next_label()?;
            }
            while !y.done {
                y.next_label()?;
            }
            return Some(false);
        }
        if p.is_empty() {
            return Some(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(host: &str) -> Name {
        Name::parse(host).unwrap()
    }

    /// A reply header: id, flags byte 2, rcode byte 3, and the counts.
    fn header(id: u16, flags: u8, rcode: u8, qd: u16, an: u16) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[flags, rcode]);
        m.extend_from_slice(&qd.to_be_bytes());
        m.extend_from_slice(&an.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m
    }

    /// An answer record: owner bytes, type, class, TTL, RDATA.
    type Record<'a> = (&'a [u8], u16, u16, u32, &'a [u8]);

    /// A NOERROR reply to `host`/`qtype` with these answer records.
    fn reply(host: &str, qtype: u16, records: &[Record<'_>]) -> Vec<u8> {
        let mut m = header(7, 0x81, 0x80, 1, records.len() as u16);
        m.extend_from_slice(name(host).as_bytes());
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        for (owner, rtype, class, ttl, data) in records {
            m.extend_from_slice(owner);
            m.extend_from_slice(&rtype.to_be_bytes());
            m.extend_from_slice(&class.to_be_bytes());
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    const AT_QUESTION: &[u8] = &[0xc0, 12];

    fn read(msg: &[u8], host: &str, qtype: u16) -> (Result<Reply, Reject>, Vec<IpAddr>) {
        let mut addrs = Vec::new();
        let result = read_reply(msg, &name(host), qtype, &mut addrs);
        (result, addrs)
    }

    #[test]
    fn names_are_written_label_by_label_and_bad_ones_refused() {
        assert_eq!(name("www.Example.com").as_bytes(), b"\x03www\x07Example\x03com\x00");
        assert_eq!(name("a.test.").as_bytes(), b"\x01a\x04test\x00", "the root dot is the root label");
        assert_eq!(name("a.test.").host(), "a.test");
        for bad in ["", ".", "a..b", ".a", "a\\.b"] {
            assert!(Name::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Name::parse(&"x".repeat(63)).is_some());
        assert!(Name::parse(&"x".repeat(64)).is_none(), "a label is at most 63 bytes");
        let long = ["y".repeat(63), "y".repeat(63), "y".repeat(63), "y".repeat(61)].join(".");
        assert_eq!(name(&long).as_bytes().len(), 255);
        assert!(Name::parse(&format!("{long}y")).is_none(), "a name is at most 255 bytes");
    }

    #[test]
    fn a_query_is_a_header_with_rd_and_one_question() {
        let mut out = vec![0xff; 3];
        write_query(&mut out, 0xbeef, &name("a.test"), TYPE_AAAA);
        assert_eq!(out, b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x04test\x00\x00\x1c\x00\x01");
        assert_eq!(id(&out), Some(0xbeef));
        assert_eq!(id(&[1]), None);
    }

    #[test]
    fn addresses_of_the_type_asked_are_read_once_with_the_smallest_ttl() {
        let msg = reply(
            "a.test",
            TYPE_A,
            &[
                (AT_QUESTION, TYPE_A, 1, 300, &[192, 0, 2, 1]),
                (b"\x01A\x04TEST\x00", TYPE_A, 1, 100, &[192, 0, 2, 2]),
                (AT_QUESTION, TYPE_A, 1, 50, &[192, 0, 2, 1]),
                (AT_QUESTION, TYPE_AAAA, 1, 1, &[0; 16]), // another type: not used
            ],
        );
        let (result, addrs) = read(&msg, "A.Test", TYPE_A);
        assert_eq!(result, Ok(Reply::Addresses { ttl: 50 }));
        assert_eq!(addrs, ["192.0.2.1".parse::<IpAddr>().unwrap(), "192.0.2.2".parse().unwrap()]);

        let v6 = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
        let msg = reply("a.test", TYPE_AAAA, &[(AT_QUESTION, TYPE_AAAA, 1, 60, &v6)]);
        assert_eq!(read(&msg, "a.test", TYPE_AAAA), (Ok(Reply::Addresses { ttl: 60 }), vec![IpAddr::from(v6)]));
    }

    #[test]
    fn a_cname_chain_is_followed_in_order_and_strangers_are_ignored() {
        // www.test CNAME edge.cdn.test (written out), edge.cdn.test A; other.test A.
        let mut edge = b"\x04edge\x03cdn".to_vec();
        edge.extend_from_slice(&[0xc0, 16]); // "test" of the question (offset 12 + "\x03www")
        let msg = reply(
            "www.test",
            TYPE_A,
            &[
                (AT_QUESTION, TYPE_CNAME, 1, 30, &edge),
                (b"\x05other\x04test\x00", TYPE_A, 1, 300, &[192, 0, 2, 9]),
                (&[0xc0, 12 + 14 + 12], TYPE_A, 1, 300, &[192, 0, 2, 7]), // → the CNAME's RDATA
            ],
        );
        let (result, addrs) = read(&msg, "www.test", TYPE_A);
        assert_eq!(result, Ok(Reply::Addresses { ttl: 30 }), "the CNAME's TTL bounds the answer's");
        assert_eq!(addrs, ["192.0.2.7".parse::<IpAddr>().unwrap()]);

        let only_cname = reply("www.test", TYPE_A, &[(AT_QUESTION, TYPE_CNAME, 1, 30, &edge)]);
        assert_eq!(read(&only_cname, "www.test", TYPE_A).0, Ok(Reply::NoData));
        let empty = reply("www.test", TYPE_A, &[]);
        assert_eq!(read(&empty, "www.test", TYPE_A).0, Ok(Reply::NoData));
    }

    #[test]
    fn rcodes_and_the_tc_bit_are_reported() {
        let mut msg = reply("a.test", TYPE_A, &[]);
        for (rcode, expected) in [
            (RCODE_NXDOMAIN, Reply::NoSuchName),
            (RCODE_SERVFAIL, Reply::Error(RCODE_SERVFAIL)),
            (RCODE_REFUSED, Reply::Error(RCODE_REFUSED)),
            (RCODE_NOTIMP, Reply::Error(RCODE_NOTIMP)),
        ] {
            msg[3] = 0x80 | rcode;
            assert_eq!(read(&msg, "a.test", TYPE_A).0, Ok(expected));
        }
        let mut truncated = reply("a.test", TYPE_A, &[(AT_QUESTION, TYPE_A, 1, 300, &[192, 0, 2, 1])]);
        truncated[2] |= 0x02;
        assert_eq!(read(&truncated, "a.test", TYPE_A), (Ok(Reply::Truncated), vec![]), "TC: nothing is used");
    }

    #[test]
    fn replies_to_other_questions_are_not_ours() {
        let good = reply("a.test", TYPE_A, &[(AT_QUESTION, TYPE_A, 1, 300, &[192, 0, 2, 1])]);
        assert!(read(&good, "a.test", TYPE_A).0.is_ok());
        assert_eq!(read(&good, "b.test", TYPE_A).0, Err(Reject::NotOurs), "another name");
        assert_eq!(read(&good, "a.test", TYPE_AAAA).0, Err(Reject::NotOurs), "another type");
        assert_eq!(read(&good, "a.tes", TYPE_A).0, Err(Reject::NotOurs), "a prefix of the name");
        let mut class = good.clone();
        class[12 + 8 + 3] = 3; // class CH
        assert_eq!(read(&class, "a.test", TYPE_A).0, Err(Reject::NotOurs), "another class");
        let mut query = good.clone();
        query[2] &= !0x80;
        assert_eq!(read(&query, "a.test", TYPE_A).0, Err(Reject::NotOurs), "QR clear: a query, not a reply");
        let mut opcode = good.clone();
        opcode[2] |= 2 << 3;
        assert_eq!(read(&opcode, "a.test", TYPE_A).0, Err(Reject::NotOurs), "opcode STATUS");
        let mut two = good.clone();
        two[5] = 2;
        assert_eq!(read(&two, "a.test", TYPE_A).0, Err(Reject::NotOurs), "two questions");
        let mut zero = good.clone();
        zero[5] = 0;
        assert_eq!(read(&zero, "a.test", TYPE_A).0, Err(Reject::NotOurs), "no question");
        for cut in 0..12 + 8 + 4 {
            assert_eq!(read(&good[..cut], "a.test", TYPE_A).0, Err(Reject::NotOurs), "cut at {cut}");
        }
    }

    #[test]
    fn hostile_records_are_malformed_never_a_panic_or_a_hang() {
        let good = reply("a.test", TYPE_A, &[(AT_QUESTION, TYPE_A, 1, 300, &[192, 0, 2, 1])]);
        for cut in 12 + 8 + 4 + 1..good.len() {
            assert_eq!(read(&good[..cut], "a.test", TYPE_A).0, Err(Reject::Malformed), "cut at {cut}");
        }
        let mut absurd = good.clone();
        absurd[6..8].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(read(&absurd, "a.test", TYPE_A).0, Err(Reject::Malformed), "65,535 answers in one");
        // A pointer to itself, and two pointers to each other.
        let self_loop = reply("a.test", TYPE_A, &[(&[0xc0, 24], TYPE_A, 1, 300, &[192, 0, 2, 1])]);
        assert_eq!(read(&self_loop, "a.test", TYPE_A).0, Err(Reject::Malformed));
        let msg = reply("a.test", TYPE_A, &[(AT_QUESTION, TYPE_CNAME, 1, 30, &[0x01, b'x', 0xc0, 38])]);
        assert_eq!(read(&msg, "a.test", TYPE_A).0, Err(Reject::Malformed), "a CNAME target pointing at itself");
        let forward = reply("a.test", TYPE_A, &[(&[0xc0, 200], TYPE_A, 1, 300, &[192, 0, 2, 1])]);
        assert_eq!(read(&forward, "a.test", TYPE_A).0, Err(Reject::Malformed), "a pointer past the end");
        let short = reply("a.test", TYPE_A, &[(AT_QUESTION, TYPE_A, 1, 300, &[192, 0, 2])]);
        assert_eq!(read(&short, "a.test", TYPE_A).0, Err(Reject::Malformed), "an A record of 3 bytes");
        let label_type = reply("a.test", TYPE_A, &[(&[0x41, 0], TYPE_A, 1, 300, &[192, 0, 2, 1])]);
        assert_eq!(read(&label_type, "a.test", TYPE_A).0, Err(Reject::Malformed), "an extended label type");
        // A name of more than 255 bytes, built from pointers that each go backwards:
        // five pieces of one 63-byte label each, in the RDATA of a record of another
        // type (skipped), then an A record owned by the last piece.
        let rdata_at = 12 + 8 + 4 + 2 + 10;
        let mut pieces = Vec::new();
        for i in 0..5 {
            pieces.push(63);
            pieces.extend_from_slice(&[b'z'; 63]);
            match i {
                0 => pieces.extend_from_slice(&[0, 0]),
                _ => pieces.extend_from_slice(&[0xc0, (rdata_at + (i - 1) * 66) as u8]),
            }
        }
        let last = rdata_at + 4 * 66;
        let owner = [0xc0 | (last >> 8) as u8, last as u8];
        let long =
            reply("a.test", TYPE_A, &[(AT_QUESTION, 99, 1, 300, &pieces), (&owner, TYPE_A, 1, 300, &[192, 0, 2, 1])]);
        assert_eq!(read(&long, "a.test", TYPE_A).0, Err(Reject::Malformed));
        // Records of another class are skipped, not used.
        let chaos = reply("a.test", TYPE_A, &[(AT_QUESTION, TYPE_A, 3, 300, &[192, 0, 2, 1])]);
        assert_eq!(read(&chaos, "a.test", TYPE_A).0, Ok(Reply::NoData));
    }
}
