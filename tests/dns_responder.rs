//! The test DNS servers themselves (`tests/common/dns.rs`), checked with raw UDP
//! queries so that the client's DNS tests stand on known-good ground.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::dns::{
    self, DNSMASQ_TTL, DnsBuilder, Fallback, QueryType, ReplyHeader, answer_a_records, ask, reply_header,
};

const WAIT: Duration = Duration::from_secs(2);

fn header(server: std::net::SocketAddr, id: u16, name: &str, qtype: QueryType) -> ReplyHeader {
    let reply = ask(server, id, name, qtype, WAIT).expect("an answer");
    reply_header(&reply).expect("a full header")
}

#[test]
fn answers_records_nodata_and_errors() {
    let dns = DnsBuilder::new()
        .a("app.test", [127, 0, 0, 2], 300)
        .a("both.test", [127, 0, 0, 3], 60)
        .aaaa("both.test", Ipv6Addr::LOCALHOST, 60)
        .aaaa("v6.test", Ipv6Addr::LOCALHOST, 60)
        .nxdomain("nx.test")
        .servfail("sf.test")
        .build();

    let reply = ask(dns.addr, 0x1234, "app.test", QueryType::A, WAIT).unwrap();
    let h = reply_header(&reply).unwrap();
    assert_eq!(h, ReplyHeader { id: 0x1234, rcode: 0, truncated: false, questions: 1, answers: 1, authority: 0 });
    assert_eq!(answer_a_records(&reply), [(Ipv4Addr::new(127, 0, 0, 2), 300)]);

    // NODATA: NOERROR, no answer, the SOA in the authority section.
    let h = header(dns.addr, 2, "app.test", QueryType::Aaaa);
    assert_eq!((h.rcode, h.answers, h.authority), (0, 0, 1));
    let h = header(dns.addr, 3, "v6.test", QueryType::A);
    assert_eq!((h.rcode, h.answers, h.authority), (0, 0, 1));
    let h = header(dns.addr, 4, "v6.test", QueryType::Aaaa);
    assert_eq!((h.rcode, h.answers, h.authority), (0, 1, 0));
    let h = header(dns.addr, 5, "both.test", QueryType::Aaaa);
    assert_eq!((h.rcode, h.answers), (0, 1));

    let h = header(dns.addr, 6, "nx.test", QueryType::A);
    assert_eq!((h.rcode, h.answers, h.authority), (3, 0, 1));
    let h = header(dns.addr, 7, "sf.test", QueryType::A);
    assert_eq!((h.rcode, h.answers, h.authority), (2, 0, 0));
    // No fallback rule: unknown names do not exist.
    let h = header(dns.addr, 8, "unknown.test", QueryType::A);
    assert_eq!(h.rcode, 3);

    assert_eq!(dns.queries("app.test"), 2);
    assert_eq!(dns.queries_of("app.test", QueryType::A), 1);
    assert_eq!(dns.queries_of("v6.test", QueryType::Aaaa), 1);
    assert_eq!(dns.total(), 8);
}

#[test]
fn soa_minimum_is_the_negative_ttl() {
    let dns = DnsBuilder::new().a("app.test", [127, 0, 0, 1], 60).negative_ttl(7).build();
    let reply = ask(dns.addr, 9, "app.test", QueryType::Aaaa, WAIT).unwrap();
    // The SOA's RDATA ends with MINIMUM; the reply ends with the SOA.
    assert_eq!(&reply[reply.len() - 4..], &7u32.to_be_bytes());
}

#[test]
fn names_are_case_insensitive_and_the_question_is_echoed() {
    let dns = DnsBuilder::new().a("app.test", [127, 0, 0, 1], 60).build();
    let reply = ask(dns.addr, 10, "aPp.TeSt", QueryType::A, WAIT).unwrap();
    assert_eq!(reply_header(&reply).unwrap().answers, 1);
    assert_eq!(&reply[12..12 + 10], b"\x03aPp\x04TeSt\x00", "question echoed as sent");
    assert_eq!(dns.queries("APP.test"), 1);
}

#[test]
fn silent_names_are_counted_and_slow_ones_do_not_block_others() {
    let dns = DnsBuilder::new()
        .a("slow.test", [127, 0, 0, 1], 60)
        .slow("slow.test", Duration::from_millis(600))
        .a("fast.test", [127, 0, 0, 1], 60)
        .silent("quiet.test")
        .build();
    let addr = dns.addr;
    let slow = std::thread::spawn(move || {
        let start = Instant::now();
        ask(addr, 11, "slow.test", QueryType::A, WAIT).unwrap();
        start.elapsed()
    });
    // Wait until the slow query has arrived, then a fast one must not wait behind it.
    let arrived = Instant::now() + WAIT;
    while dns.queries("slow.test") == 0 {
        assert!(Instant::now() < arrived, "slow query never arrived");
        std::thread::sleep(Duration::from_millis(5)); // bounded polling of a counter
    }
    let start = Instant::now();
    ask(dns.addr, 12, "fast.test", QueryType::A, WAIT).unwrap();
    assert!(start.elapsed() < Duration::from_millis(300), "fast answer waited {:?}", start.elapsed());
    assert!(slow.join().unwrap() >= Duration::from_millis(600));

    assert!(ask(dns.addr, 13, "quiet.test", QueryType::A, Duration::from_millis(200)).is_err());
    assert_eq!(dns.queries_of("quiet.test", QueryType::A), 1);
}

#[test]
fn the_classic_responder_keeps_its_rules() {
    let dns = common::dns_responder();
    let reply = ask(dns.addr, 14, "anything.test", QueryType::A, WAIT).unwrap();
    assert_eq!(answer_a_records(&reply), [(Ipv4Addr::LOCALHOST, 60)]);
    let h = header(dns.addr, 15, "anything.test", QueryType::Aaaa);
    assert_eq!((h.rcode, h.answers, h.authority), (0, 0, 1));
    assert_eq!(header(dns.addr, 16, "nxhost.test", QueryType::A).rcode, 3);
    assert_eq!(header(dns.addr, 17, "servfail-me.test", QueryType::A).rcode, 2);
    assert_eq!(dns.queries("anything.test"), 2);

    let explicit = DnsBuilder::new().fallback(Fallback::Loopback { ttl: 60 }).build();
    assert_eq!(header(explicit.addr, 18, "x.test", QueryType::A).answers, 1);
}

#[test]
fn dnsmasq_resolves_through_the_helper() {
    let records = [("app.test", IpAddr::from([127, 0, 0, 9])), ("v6.test", IpAddr::from(Ipv6Addr::LOCALHOST))];
    let server = match dns::dnsmasq(&records) {
        Ok(server) => server,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let reply = ask(server.addr, 21, "app.test", QueryType::A, WAIT).unwrap();
    assert_eq!(reply_header(&reply).unwrap().rcode, 0);
    assert_eq!(answer_a_records(&reply), [(Ipv4Addr::new(127, 0, 0, 9), DNSMASQ_TTL)]);
    assert_eq!(header(server.addr, 22, "other.test", QueryType::A).rcode, 3, "unlisted names are NXDOMAIN");
    assert_eq!(header(server.addr, 23, "v6.test", QueryType::Aaaa).answers, 1);
}

#[test]
fn truncated_names_say_tc_over_udp_and_answer_over_tcp_and_refusals_are_refused() {
    use std::io::{Read, Write};
    let dns = DnsBuilder::new().a("big.test", [127, 0, 0, 7], 60).truncated("big.test").refused("no.test").build();
    let h = header(dns.addr, 30, "big.test", QueryType::A);
    assert_eq!((h.truncated, h.answers), (true, 0));
    assert_eq!(header(dns.addr, 31, "no.test", QueryType::A).rcode, 5);

    let mut tcp = std::net::TcpStream::connect(dns.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let query = dns::encode_query(32, "big.test", QueryType::A);
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    tcp.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut reply).unwrap();
    assert!(!reply_header(&reply).unwrap().truncated);
    assert_eq!(answer_a_records(&reply), [(Ipv4Addr::new(127, 0, 0, 7), 60)]);
    assert_eq!((dns.queries("big.test"), dns.tcp_queries("big.test")), (1, 1));
}
