//! DNS servers for tests: a scripted responder, and a real `dnsmasq`.
//!
//! The client resolves names through c-ares on its reactor, so its tests need a name
//! server whose every answer is known in advance, including the awkward ones: a
//! NXDOMAIN, a SERVFAIL, a server that never answers, one that answers late, a name
//! with only AAAA records, a NODATA answer whose SOA carries the negative-caching TTL
//! (RFC 2308 §5). [`DnsBuilder`] scripts such a server on 127.0.0.1 (UDP, one thread,
//! plus one short-lived thread per delayed reply) and counts every query it receives
//! by name and type, so a test can assert how often the client really asked.
//!
//! The responder is deliberately small: one question per message, class IN, names
//! compared case-insensitively (c-ares may randomise the case of the question, "DNS
//! 0x20"), the question echoed byte for byte as received, EDNS (an OPT record in the
//! additional section, which c-ares sends by default) accepted and ignored. Anything
//! it cannot parse is dropped, like a real server would. It also listens on TCP on
//! the same port (RFC 1035 §4.2.2 framing, one thread per connection), so a name
//! scripted as [`DnsBuilder::truncated`] — TC set over UDP — is answered in full to
//! a resolver that asks again over TCP. [`DnsBuilder::spoofed`] sends forged replies
//! (wrong ID, wrong name, wrong type) before the real one, from the server's own
//! address, as an attacker who can see the query would.
//!
//! [`dnsmasq`] starts the real thing on a free port, for tests that must not depend on
//! our own encoder being right.
//!
//! The benchmark `bench/benches/dns.rs` includes this file too (`#[path]`), to run the same
//! responder as its local name server.
#![allow(dead_code)] // each test binary (and the bench) uses a different subset

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Record types the responder tells apart; anything else is answered with NODATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryType {
    A,
    Aaaa,
    Other(u16),
}

impl QueryType {
    fn from_code(code: u16) -> Self {
        match code {
            1 => QueryType::A,
            28 => QueryType::Aaaa,
            other => QueryType::Other(other),
        }
    }

    pub fn code(self) -> u16 {
        match self {
            QueryType::A => 1,
            QueryType::Aaaa => 28,
            QueryType::Other(code) => code,
        }
    }
}

/// How the responder treats one name.
#[derive(Clone, Debug)]
enum Rule {
    /// NOERROR with these records; NODATA (empty answer, SOA) for a type it lacks.
    Records(Records),
    NxDomain,
    ServFail,
    Refused,
    /// Counts the query and never answers.
    Silent,
}

/// A name's addresses, each with its TTL.
#[derive(Clone, Debug, Default)]
struct Records {
    a: Vec<(Ipv4Addr, u32)>,
    aaaa: Vec<(Ipv6Addr, u32)>,
}

/// What names without a rule of their own get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// NXDOMAIN.
    NxDomain,
    /// The old `dns_responder()`: A 127.0.0.1 with this TTL and no AAAA (NODATA),
    /// except names whose first label starts with `nx` (NXDOMAIN) or `servfail`
    /// (SERVFAIL).
    Loopback { ttl: u32 },
}

/// Scripts a [`Dns`] responder; see the module docs.
#[derive(Clone, Debug)]
pub struct DnsBuilder {
    rules: HashMap<String, Rule>,
    /// Per name, and per record type (`None`: every type).
    delays: HashMap<(String, Option<QueryType>), Duration>,
    fallback: Fallback,
    negative_ttl: u32,
    bind: SocketAddr,
    recv_buffer: Option<usize>,
    /// Names answered with TC set (and no records) over UDP.
    truncated: Vec<String>,
    /// Names whose UDP answers are preceded by forged ones.
    spoofed: Vec<String>,
}

impl Default for DnsBuilder {
    fn default() -> Self {
        DnsBuilder::new()
    }
}

impl DnsBuilder {
    /// No names, unknown names NXDOMAIN, negative TTL 30 s, bound to 127.0.0.1 on a
    /// free port.
    pub fn new() -> Self {
        DnsBuilder {
            rules: HashMap::new(),
            delays: HashMap::new(),
            fallback: Fallback::NxDomain,
            negative_ttl: 30,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            recv_buffer: None,
            truncated: Vec::new(),
            spoofed: Vec::new(),
        }
    }

    /// Adds an A record to `name` (a name may have several, and AAAA records too).
    pub fn a(mut self, name: &str, addr: impl Into<Ipv4Addr>, ttl: u32) -> Self {
        self.records(name).a.push((addr.into(), ttl));
        self
    }

    /// Adds an AAAA record to `name`.
    pub fn aaaa(mut self, name: &str, addr: impl Into<Ipv6Addr>, ttl: u32) -> Self {
        self.records(name).aaaa.push((addr.into(), ttl));
        self
    }

    pub fn nxdomain(mut self, name: &str) -> Self {
        self.rules.insert(key(name), Rule::NxDomain);
        self
    }

    pub fn servfail(mut self, name: &str) -> Self {
        self.rules.insert(key(name), Rule::ServFail);
        self
    }

    /// REFUSED, as a server answers a client it does not serve.
    pub fn refused(mut self, name: &str) -> Self {
        self.rules.insert(key(name), Rule::Refused);
        self
    }

    /// Over UDP, `name`'s answers come back truncated (TC set, no records); over TCP
    /// they are whole.
    pub fn truncated(mut self, name: &str) -> Self {
        self.truncated.push(key(name));
        self
    }

    /// Before each UDP answer for `name`, sends three forged ones claiming 127.0.0.2:
    /// one with the ID off by one, one with another name in the question, one with
    /// another type in the question.
    pub fn spoofed(mut self, name: &str) -> Self {
        self.spoofed.push(key(name));
        self
    }

    /// Never answers queries for `name` (they are still counted).
    pub fn silent(mut self, name: &str) -> Self {
        self.rules.insert(key(name), Rule::Silent);
        self
    }

    /// Sends every answer for `name` (whatever its rule) after `delay`, without
    /// holding up answers to other names.
    pub fn slow(mut self, name: &str, delay: Duration) -> Self {
        self.delays.insert((key(name), None), delay);
        self
    }

    /// Sends the answers to `name`'s `qtype` queries only after `delay`: one family
    /// late, the other on time.
    pub fn slow_type(mut self, name: &str, qtype: QueryType, delay: Duration) -> Self {
        self.delays.insert((key(name), Some(qtype)), delay);
        self
    }

    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// The SOA MINIMUM (and SOA TTL) sent with NXDOMAIN and NODATA answers: how long
    /// a resolver may cache the negative answer (RFC 2308 §5).
    pub fn negative_ttl(mut self, secs: u32) -> Self {
        self.negative_ttl = secs;
        self
    }

    /// Listens on `addr` instead of a free port on 127.0.0.1.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Asks the kernel for a receive buffer of `bytes` (capped by `net.core.rmem_max`),
    /// so that bursts of queries queue instead of being dropped.
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }

    /// Starts the responder; panics if it cannot bind (tests want that).
    pub fn build(self) -> Dns {
        self.try_build().expect("DNS responder binds")
    }

    pub fn try_build(self) -> io::Result<Dns> {
        // UDP and TCP on the same port: a free UDP port may be taken for TCP, so try
        // a few when the port is ours to choose.
        let mut attempts = if self.bind.port() == 0 { 10 } else { 1 };
        let (socket, listener) = loop {
            let socket = UdpSocket::bind(self.bind)?;
            match std::net::TcpListener::bind(socket.local_addr()?) {
                Ok(listener) => break (socket, listener),
                Err(e) if attempts == 1 => return Err(e),
                Err(_) => attempts -= 1,
            }
        };
        if let Some(bytes) = self.recv_buffer {
            socket2::SockRef::from(&socket).set_recv_buffer_size(bytes)?;
        }
        let addr = socket.local_addr()?;
        let counts: Counts = Arc::default();
        let tcp_counts: Counts = Arc::default();
        let script = Arc::new(self);
        let (log, tcp_log) = (Arc::clone(&counts), Arc::clone(&tcp_counts));
        let tcp_script = Arc::clone(&script);
        thread::Builder::new().name("dns-responder".into()).spawn(move || serve(socket, &script, log))?;
        thread::Builder::new().name("dns-responder-tcp".into()).spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, log) = (Arc::clone(&tcp_script), Arc::clone(&tcp_log));
                // A thread per connection: a resolver may keep one open and idle.
                thread::spawn(move || serve_tcp(stream, &script, &log));
            }
        })?;
        Ok(Dns { addr, counts, tcp_counts })
    }

    fn records(&mut self, name: &str) -> &mut Records {
        let rule = self.rules.entry(key(name)).or_insert_with(|| Rule::Records(Records::default()));
        if !matches!(rule, Rule::Records(_)) {
            *rule = Rule::Records(Records::default()); // records replace an earlier error rule
        }
        match rule {
            Rule::Records(records) => records,
            _ => unreachable!("just made it a Records rule"),
        }
    }

    /// The rule for a lowercase name without its trailing dot.
    fn rule_for(&self, name: &str) -> Rule {
        if let Some(rule) = self.rules.get(name) {
            return rule.clone();
        }
        match self.fallback {
            Fallback::NxDomain => Rule::NxDomain,
            Fallback::Loopback { ttl } => {
                let first = name.split('.').next().unwrap_or("");
                if first.starts_with("nx") {
                    Rule::NxDomain
                } else if first.starts_with("servfail") {
                    Rule::ServFail
                } else {
                    Rule::Records(Records { a: vec![(Ipv4Addr::LOCALHOST, ttl)], aaaa: vec![] })
                }
            }
        }
    }
}

type Counts = Arc<Mutex<HashMap<(String, QueryType), usize>>>;

/// A running responder. It lives as long as the test process (its thread blocks in
/// `recv_from`), which is what tests want.
pub struct Dns {
    pub addr: SocketAddr,
    counts: Counts,
    tcp_counts: Counts,
}

impl Dns {
    /// Queries received for `name`, of any type.
    pub fn queries(&self, name: &str) -> usize {
        let name = key(name);
        self.counts.lock().unwrap().iter().filter(|((n, _), _)| *n == name).map(|(_, c)| c).sum()
    }

    /// Queries received for `name` of type `qtype`.
    pub fn queries_of(&self, name: &str, qtype: QueryType) -> usize {
        self.counts.lock().unwrap().get(&(key(name), qtype)).copied().unwrap_or(0)
    }

    /// All queries received over UDP.
    pub fn total(&self) -> usize {
        self.counts.lock().unwrap().values().sum()
    }

    /// Queries received over TCP for `name` (not counted by [`Dns::queries`]).
    pub fn tcp_queries(&self, name: &str) -> usize {
        let name = key(name);
        self.tcp_counts.lock().unwrap().iter().filter(|((n, _), _)| *n == name).map(|(_, c)| c).sum()
    }
}

/// The responder the tests have always used: every name → A 127.0.0.1 (TTL 60), no
/// AAAA; `nx*` → NXDOMAIN; `servfail*` → SERVFAIL.
pub fn dns_responder() -> Dns {
    DnsBuilder::new().fallback(Fallback::Loopback { ttl: 60 }).build()
}

/// Names are compared lowercase, without a trailing dot.
fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn serve(socket: UdpSocket, script: &DnsBuilder, counts: Counts) {
    let mut buf = [0u8; 1500];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            // ICMP port unreachable from an earlier reply to a closed client port.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return,
        };
        let Some(query) = Query::parse(&buf[..n]) else { continue };
        *counts.lock().unwrap().entry((query.name.clone(), query.qtype)).or_default() += 1;
        let rule = script.rule_for(&query.name);
        let Some(mut reply) = encode_reply(&query, &rule, script.negative_ttl) else { continue };
        if script.truncated.contains(&query.name) {
            // Header and question only, TC set: "ask me over TCP".
            reply.truncate(12 + query.question.len());
            reply[2] |= 0x02;
            reply[6..12].fill(0);
        }
        if script.spoofed.contains(&query.name) {
            for forged in forgeries(&query, script.negative_ttl) {
                let _ = socket.send_to(&forged, peer);
            }
        }
        let delay = (script.delays.get(&(query.name.clone(), Some(query.qtype))))
            .or_else(|| script.delays.get(&(query.name.clone(), None)));
        match delay {
            None => {
                let _ = socket.send_to(&reply, peer);
            }
            Some(&delay) => {
                let Ok(socket) = socket.try_clone() else { continue };
                // A thread per late reply: the loop goes on answering other names.
                thread::spawn(move || {
                    thread::sleep(delay); // the scripted delay itself
                    let _ = socket.send_to(&reply, peer);
                });
            }
        }
    }
}

/// Three forged answers to `query`, each claiming 127.0.0.2 and each wrong in one
/// way: the ID, a letter of the name in the question, the type in the question.
fn forgeries(query: &Query<'_>, negative_ttl: u32) -> Vec<Vec<u8>> {
    let lie = Rule::Records(Records { a: vec![(Ipv4Addr::new(127, 0, 0, 2), 60)], aaaa: vec![] });
    let forged = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut question = query.question.to_vec();
        change(&mut question);
        let query = Query { question: &question, qtype: QueryType::A, ..query.clone() };
        encode_reply(&query, &lie, negative_ttl).expect("a records rule answers")
    };
    let mut wrong_id = forged(&|_| {});
    wrong_id[1] = wrong_id[1].wrapping_add(1);
    let wrong_name = forged(&|q| q[1] = if q[1] == b'z' { b'y' } else { b'z' });
    let wrong_type = forged(&|q| {
        let at = q.len() - 4;
        q[at..at + 2].copy_from_slice(&99u16.to_be_bytes());
    });
    vec![wrong_id, wrong_name, wrong_type]
}

/// Answers queries on one TCP connection, each framed by a two-byte length.
fn serve_tcp(mut stream: std::net::TcpStream, script: &DnsBuilder, counts: &Counts) {
    use std::io::{Read, Write};
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut msg).is_err() {
            return;
        }
        let Some(query) = Query::parse(&msg) else { continue };
        *counts.lock().unwrap().entry((query.name.clone(), query.qtype)).or_default() += 1;
        let Some(reply) = encode_reply(&query, &script.rule_for(&query.name), script.negative_ttl) else { continue };
        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

/// The parts of a query the reply needs.
#[derive(Clone)]
pub struct Query<'a> {
    pub id: [u8; 2],
    /// Opcode and RD, echoed in the reply.
    flags: u8,
    /// The question as received: name, type, class.
    question: &'a [u8],
    /// Lowercase, dot-separated, no trailing dot.
    pub name: String,
    pub qtype: QueryType,
}

impl<'a> Query<'a> {
    /// `None` for anything that is not a plain query with at least one question.
    pub fn parse(msg: &'a [u8]) -> Option<Self> {
        let header = msg.get(..12)?;
        let is_response = header[2] & 0x80 != 0;
        let questions = u16::from_be_bytes([header[4], header[5]]);
        if is_response || questions == 0 {
            return None;
        }
        let mut pos = 12;
        let mut labels: Vec<String> = Vec::new();
        loop {
            let len = *msg.get(pos)? as usize;
            if len == 0 {
                break;
            }
            if len > 63 {
                return None; // a compression pointer has no business in a question
            }
            labels.push(String::from_utf8_lossy(msg.get(pos + 1..pos + 1 + len)?).to_ascii_lowercase());
            pos += 1 + len;
        }
        let qtype = u16::from_be_bytes([*msg.get(pos + 1)?, *msg.get(pos + 2)?]);
        let question = msg.get(12..pos + 5)?; // name, its 0 byte, QTYPE, QCLASS
        Some(Query {
            id: [header[0], header[1]],
            flags: header[2] & 0x79, // opcode and RD
            question,
            name: labels.join("."),
            qtype: QueryType::from_code(qtype),
        })
    }
}

const NOERROR: u8 = 0;
const SERVFAIL: u8 = 2;
const NXDOMAIN: u8 = 3;
const REFUSED: u8 = 5;

/// The reply bytes for `query` under `rule`, or `None` to stay silent.
fn encode_reply(query: &Query<'_>, rule: &Rule, negative_ttl: u32) -> Option<Vec<u8>> {
    let (rcode, answers): (u8, Vec<(u16, u32, Vec<u8>)>) = match rule {
        Rule::Silent => return None,
        Rule::NxDomain => (NXDOMAIN, vec![]),
        Rule::ServFail => (SERVFAIL, vec![]),
        Rule::Refused => (REFUSED, vec![]),
        Rule::Records(Records { a, aaaa }) => {
            let records = match query.qtype {
                QueryType::A => a.iter().map(|(ip, ttl)| (1, *ttl, ip.octets().to_vec())).collect(),
                QueryType::Aaaa => aaaa.iter().map(|(ip, ttl)| (28, *ttl, ip.octets().to_vec())).collect(),
                QueryType::Other(_) => vec![],
            };
            (NOERROR, records)
        }
    };
    // NXDOMAIN and NODATA carry the zone's SOA, whose MINIMUM is the negative TTL.
    let with_soa = rcode == NXDOMAIN || (rcode == NOERROR && answers.is_empty());
    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(&query.id);
    reply.push(0x80 | 0x04 | query.flags); // QR, AA, the query's opcode and RD
    reply.push(0x80 | rcode); // RA, RCODE
    reply.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    reply.extend_from_slice(&(answers.len() as u16).to_be_bytes()); // ANCOUNT
    reply.extend_from_slice(&(with_soa as u16).to_be_bytes()); // NSCOUNT
    reply.extend_from_slice(&0u16.to_be_bytes()); // ARCOUNT: no OPT in replies
    reply.extend_from_slice(query.question);
    for (rtype, ttl, data) in &answers {
        reply.extend_from_slice(&[0xc0, 12]); // the question's name
        push_record_header(&mut reply, *rtype, *ttl, data.len());
        reply.extend_from_slice(data);
    }
    if with_soa {
        push_soa(&mut reply, query.question, negative_ttl);
    }
    Some(reply)
}

/// TYPE, CLASS IN, TTL, RDLENGTH.
fn push_record_header(out: &mut Vec<u8>, rtype: u16, ttl: u32, len: usize) {
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
}

/// An SOA for the zone above the asked name (`app.test` → `test`; a one-label name is
/// its own zone), written with compression pointers into the question.
fn push_soa(out: &mut Vec<u8>, question: &[u8], minimum: u32) {
    let first_label = question[0] as usize;
    let zone = if question[1 + first_label] == 0 { 12 } else { 12 + 1 + first_label };
    let pointer = [0xc0 | (zone >> 8) as u8, zone as u8];
    let mut rdata = Vec::with_capacity(48);
    rdata.extend_from_slice(b"\x02ns");
    rdata.extend_from_slice(&pointer); // MNAME ns.<zone>
    rdata.extend_from_slice(b"\x0ahostmaster");
    rdata.extend_from_slice(&pointer); // RNAME hostmaster.<zone>
    for field in [1, 3600, 600, 86400, minimum] {
        rdata.extend_from_slice(&u32::to_be_bytes(field)); // SERIAL REFRESH RETRY EXPIRE MINIMUM
    }
    out.extend_from_slice(&pointer);
    push_record_header(out, 6, minimum, rdata.len());
    out.extend_from_slice(&rdata);
}

/// A query for `name` of type `qtype` with ID `id`, RD set, and an EDNS OPT record
/// like c-ares sends.
pub fn encode_query(id: u16, name: &str, qtype: QueryType) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // QD=1 AN=0 NS=0 AR=1
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.code().to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    // OPT: root name, TYPE 41, CLASS = UDP payload size 1232, TTL 0, RDLEN 0.
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    q
}

/// The header fields of a reply a test checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    pub id: u16,
    pub rcode: u8,
    pub truncated: bool,
    pub questions: u16,
    pub answers: u16,
    pub authority: u16,
}

pub fn reply_header(msg: &[u8]) -> Option<ReplyHeader> {
    let h = msg.get(..12)?;
    let u16_at = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    Some(ReplyHeader {
        id: u16_at(0),
        rcode: h[3] & 0x0f,
        truncated: h[2] & 0x02 != 0,
        questions: u16_at(4),
        answers: u16_at(6),
        authority: u16_at(8),
    })
}

/// Sends one query to `server` and waits up to `wait` for the reply with its ID.
pub fn ask(server: SocketAddr, id: u16, name: &str, qtype: QueryType, wait: Duration) -> io::Result<Vec<u8>> {
    let socket = UdpSocket::bind(if server.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" })?;
    socket.send_to(&encode_query(id, name, qtype), server)?;
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("no answer from {server} for {name}")));
        }
        socket.set_read_timeout(Some(left))?;
        let (n, from) = socket.recv_from(&mut buf)?;
        if from == server && buf[..n].get(..2) == Some(&id.to_be_bytes()[..]) {
            return Ok(buf[..n].to_vec());
        }
    }
}

/// The A records (address, TTL) in the answer section of a reply, skipping others.
pub fn answer_a_records(msg: &[u8]) -> Vec<(Ipv4Addr, u32)> {
    let Some(header) = reply_header(msg) else { return vec![] };
    let mut pos = 12;
    for _ in 0..header.questions {
        let Some(end) = skip_name(msg, pos) else { return vec![] };
        pos = end + 4;
    }
    let mut found = Vec::new();
    for _ in 0..header.answers {
        let Some(end) = skip_name(msg, pos) else { break };
        let Some(fixed) = msg.get(end..end + 10) else { break };
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let Some(data) = msg.get(end + 10..end + 10 + len) else { break };
        if rtype == 1 && len == 4 {
            found.push((Ipv4Addr::new(data[0], data[1], data[2], data[3]), ttl));
        }
        pos = end + 10 + len;
    }
    found
}

/// The position just after the (possibly compressed) name at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            l if l & 0xc0 == 0xc0 => return Some(pos + 2),
            l => pos += 1 + l as usize,
        }
    }
}

/// A `dnsmasq` serving fixed records on 127.0.0.1; killed on drop.
pub struct Dnsmasq {
    pub addr: SocketAddr,
    child: Child,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// TTL of the records [`dnsmasq`] serves.
pub const DNSMASQ_TTL: u32 = 60;

/// Starts `dnsmasq` in the foreground on a free UDP port of 127.0.0.1 with `records`
/// (each name's A or AAAA record, TTL [`DNSMASQ_TTL`]). Other names in the records'
/// top-level domains are NXDOMAIN; nothing is forwarded anywhere. `Err` says why it
/// could not start (not installed, no free port), so a test can skip.
pub fn dnsmasq(records: &[(&str, IpAddr)]) -> Result<Dnsmasq, String> {
    let binary = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("dnsmasq");
    let Some(&(probe_name, _)) = records.first() else { return Err("dnsmasq needs at least one record".into()) };
    let mut last_error = String::new();
    // The free port may be taken between our probe and dnsmasq's bind: try a few.
    for _ in 0..3 {
        let port = free_udp_port().map_err(|e| format!("no free port: {e}"))?;
        let mut command = Command::new(binary);
        command.args([
            "--keep-in-foreground",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--log-facility=-",
            &format!("--local-ttl={DNSMASQ_TTL}"),
        ]);
        // As root, dnsmasq drops to `nobody` unless told otherwise; stay who we are.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            command.arg("--user=root");
        }
        let mut domains: Vec<&str> = Vec::new();
        for (name, ip) in records {
            command.arg(format!("--host-record={name},{ip}"));
            let tld = name.trim_end_matches('.').rsplit('.').next().unwrap_or(name);
            if !domains.contains(&tld) {
                domains.push(tld);
            }
        }
        for domain in domains {
            command.arg(format!("--local=/{domain}/")); // answered here, never forwarded
        }
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let child = command.spawn().map_err(|e| format!("cannot run {binary}: {e}"))?;
        let mut server = Dnsmasq { addr: SocketAddr::from(([127, 0, 0, 1], port)), child };
        match wait_until_answering(&mut server, probe_name) {
            Ok(()) => return Ok(server),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Polls with a probe query (bounded: 5 s) until dnsmasq answers or exits.
fn wait_until_answering(server: &mut Dnsmasq, probe_name: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    for id in 1.. {
        if let Some(status) = server.child.try_wait().map_err(|e| e.to_string())? {
            let mut stderr = String::new();
            if let Some(mut pipe) = server.child.stderr.take() {
                let _ = io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            return Err(format!("dnsmasq exited ({status}): {}", stderr.trim()));
        }
        if ask(server.addr, id, probe_name, QueryType::A, Duration::from_millis(50)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("dnsmasq did not answer within 5 s".into());
        }
    }
    unreachable!("the loop returns before its IDs run out")
}

fn free_udp_port() -> io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}
