//! One family's DNS reply from c-ares, read into an answer for the cache.
//!
//! (The own path reads its replies itself, in `wire.rs`, by the same rules; the
//! failure messages below serve both.) c-ares has already parsed the message and checked it against the question (ID,
//! name, type, class), and turned the rcode into a status: `ENOTFOUND` for NXDOMAIN,
//! `ENODATA` for an empty answer section, `ESERVFAIL`/`EREFUSED`. What is left is to
//! pick the addresses out of the answer section, which is all `ares_getaddrinfo` did
//! for us besides work we do not need (hosts file, sorting, `addrinfo` lists).
//!
//! **CNAMEs are followed as c-ares follows them** (`ares_addrinfo2.c`): an address
//! counts if its owner is the question's name or the target of a CNAME already
//! followed, so records a server adds about other names are not taken for ours. A
//! reply with a CNAME and no address of the family is "no address", like NODATA.
//!
//! Next: `wire.rs`, the own path's messages.

use std::net::IpAddr;
use std::time::Duration;

use c_ares::{DnsRecord, DnsRecordType, DnsRrKey, DnsSection};

use super::cache::{Failure, Family, Part, Reason};

/// The addresses of `family` in `reply`, with the smallest TTL among them; `ENODATA`
/// if there are none.
pub fn addresses(reply: &DnsRecord, family: Family) -> Result<(Vec<IpAddr>, Duration), c_ares::Error> {
    let wanted = match family {
        Family::V4 => DnsRecordType::A,
        Family::V6 => DnsRecordType::AAAA,
    };
    let (question, _, _) = reply.query_get(0)?;
    // The owner names of our chain: the question, then each CNAME target. Chains are
    // short (one or two links), so a list beats a set.
    let mut chain: Vec<&str> = vec![question];
    let mut addrs: Vec<IpAddr> = Vec::new();
    let mut ttl = u32::MAX;
    for rr in reply.rrs(DnsSection::Answer) {
        if !chain.iter().any(|owner| owner.eq_ignore_ascii_case(rr.name())) {
            continue;
        }
        let rr_type = rr.rr_type();
        let ip = if rr_type == wanted {
            match family {
                Family::V4 => rr.get_addr(DnsRrKey::A_ADDR).map(IpAddr::V4),
                Family::V6 => rr.get_addr6(DnsRrKey::AAAA_ADDR).map(IpAddr::V6),
            }
        } else {
            if rr_type == DnsRecordType::CNAME
                && let Some(target) = rr.get_str(DnsRrKey::CNAME_CNAME)
            {
                chain.push(target);
            }
            None
        };
        if let Some(ip) = ip
            && !addrs.contains(&ip)
        {
            ttl = ttl.min(rr.ttl());
            addrs.push(ip);
        }
    }
    if addrs.is_empty() {
        return Err(c_ares::Error::ENODATA);
    }
    Ok((addrs, Duration::from_secs(u64::from(ttl))))
}

/// A c-ares result as the cache's answer for one family.
pub fn part(result: Result<(Vec<IpAddr>, Duration), c_ares::Error>, host: &str, family: Family) -> Part {
    result.map_err(|e| failure(host, family, e))
}

/// Says what went wrong in words a user can act on, and how telling it is.
pub fn failure(host: &str, family: Family, e: c_ares::Error) -> Failure {
    use c_ares::Error as E;
    let v4 = family == Family::V4;
    let (reason, what) = match e {
        E::ENOTFOUND => (Reason::NoSuchName, "no such name (NXDOMAIN)"),
        E::ENODATA if v4 => (Reason::NoAddress, "the name has no IPv4 address"),
        E::ENODATA => (Reason::NoAddress, "the name has no IPv6 address"),
        E::ESERVFAIL => (Reason::Server, "the DNS server failed to answer (SERVFAIL)"),
        E::EREFUSED => (Reason::Server, "the DNS server refused the query (REFUSED)"),
        E::ETIMEOUT => (Reason::TimedOut, "no answer from the DNS server(s)"),
        E::ECONNREFUSED => (Reason::Unreachable, "could not reach the DNS server(s)"),
        E::EBADNAME => (Reason::NoSuchName, "not a valid host name"),
        e => return Failure { reason: Reason::Server, message: format!("{host}: {e}") },
    };
    // One allocation, no formatting machinery: a crawler meets "no IPv6 address" for
    // most names it resolves.
    let mut message = String::with_capacity(host.len() + 2 + what.len());
    message.push_str(host);
    message.push_str(": ");
    message.push_str(what);
    Failure { reason, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use c_ares::{DnsCls, DnsFlags, DnsOpcode, DnsRcode};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A reply to `question` (type A) with these answer records: (owner, CNAME target or
    /// address).
    fn reply(question: &str, qtype: DnsRecordType, answers: &[(&str, &str)]) -> DnsRecord {
        let mut rec = DnsRecord::new(1, DnsFlags::QR | DnsFlags::RD, DnsOpcode::Query, DnsRcode::NoError).unwrap();
        rec.query_add(question, qtype, DnsCls::IN).unwrap();
        for (owner, value) in answers {
            match value.parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => {
                    rec.rr_add(DnsSection::Answer, owner, DnsRecordType::A, DnsCls::IN, 300)
                        .unwrap()
                        .set_addr(DnsRrKey::A_ADDR, ip)
                        .unwrap();
                }
                Ok(IpAddr::V6(ip)) => {
                    rec.rr_add(DnsSection::Answer, owner, DnsRecordType::AAAA, DnsCls::IN, 60)
                        .unwrap()
                        .set_addr6(DnsRrKey::AAAA_ADDR, ip)
                        .unwrap();
                }
                Err(_) => {
                    rec.rr_add(DnsSection::Answer, owner, DnsRecordType::CNAME, DnsCls::IN, 30)
                        .unwrap()
                        .set_str(DnsRrKey::CNAME_CNAME, value)
                        .unwrap();
                }
            }
        }
        rec
    }

    #[test]
    fn addresses_of_the_family_are_taken_once_with_the_smallest_ttl() {
        let rec = reply(
            "a.test",
            DnsRecordType::A,
            &[("a.test", "192.0.2.1"), ("A.TEST", "192.0.2.2"), ("a.test", "192.0.2.1")],
        );
        let v4 = |s: &str| IpAddr::V4(s.parse::<Ipv4Addr>().unwrap());
        assert_eq!(addresses(&rec, Family::V4), Ok((vec![v4("192.0.2.1"), v4("192.0.2.2")], Duration::from_secs(300))));
        let rec = reply("a.test", DnsRecordType::AAAA, &[("a.test", "2001:db8::1")]);
        let v6 = IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(addresses(&rec, Family::V6), Ok((vec![v6], Duration::from_secs(60))));
    }

    #[test]
    fn a_cname_chain_is_followed_and_strangers_are_ignored() {
        let rec = reply(
            "www.test",
            DnsRecordType::A,
            &[("www.test", "edge.cdn.test"), ("other.test", "192.0.2.9"), ("edge.cdn.test", "192.0.2.7")],
        );
        let got = addresses(&rec, Family::V4).unwrap();
        assert_eq!(got.0, vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))]);
        assert_eq!(got.1, Duration::from_secs(300), "the address's TTL");
        let only_cname = reply("www.test", DnsRecordType::A, &[("www.test", "edge.cdn.test")]);
        assert_eq!(addresses(&only_cname, Family::V4), Err(c_ares::Error::ENODATA));
    }

    #[test]
    fn failures_name_the_host_and_rank_nxdomain_first() {
        let nx = failure("gone.test", Family::V4, c_ares::Error::ENOTFOUND);
        assert_eq!((nx.reason, nx.message.as_str()), (Reason::NoSuchName, "gone.test: no such name (NXDOMAIN)"));
        let nodata = failure("x.test", Family::V6, c_ares::Error::ENODATA);
        assert_eq!(nodata.reason, Reason::NoAddress);
        assert!(nodata.message.contains("IPv6"), "{}", nodata.message);
    }
}
