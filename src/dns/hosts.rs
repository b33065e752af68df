//! The hosts file, asked first and for both families at once.
//!
//! A lookup is one query per family (`resolver.rs`), and c-ares consults the hosts
//! file per family: a name with only an IPv4 line used to find its A answer there and
//! send its AAAA query to the DNS server, on every lookup. glibc and curl send nothing
//! for such a name, and neither do we: a name the file has is answered from it for
//! both families, and a family it lacks is simply "no address".
//!
//! **How.** A second c-ares channel whose only lookup is the file (`lookups "f"`,
//! `ARES_OPT_LOOKUPS`), asked with `AF_UNSPEC`. So the file is the one c-ares uses
//! (`/etc/hosts`, or `DnsConfig::hosts_file` given to both channels), read by c-ares's
//! own parser (comments, aliases, case, IPv6 literals) and with its RFC 6761 rule
//! that `localhost` is always the loopback addresses. We do not parse it ourselves:
//! a second parser would sooner or later disagree with the one that answers the names
//! the file lacks. This channel never sends a query, so it opens no socket and has no
//! timer, and c-ares finishes a files-only lookup before `ares_getaddrinfo` returns.
//!
//! **Cost, and why not once at startup.** c-ares parses the file on first use and
//! keeps it; each later lookup costs a hash lookup and one `stat` of the file, and a
//! new parse only when its modification time has changed — what c-ares did before,
//! once per family. A regular file never blocks on another process (NOTES.md §4 on
//! regular files), and reading it per lookup, as glibc does, means an edit is seen by
//! the next lookup without a restart. Reading it once ourselves would save the `stat`
//! and lose that.
//!
//! **TTL: zero**, as c-ares gives hosts-file answers, and as before: the answer serves
//! the requests of the turn in which it was made, and the next connection looks
//! again — which is only that `stat`.
//!
//! Names the file lacks go to the DNS channel, per family. That channel asks DNS only
//! (`lookups "b"`): this file has already been looked at for the lookup, and c-ares's
//! second look cost a `stat` per query (NOTES.md §9).
//!
//! Next: `resolver.rs`, where the names the file lacks go.

use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use c_ares::{AddrInfoFlags, AddrInfoHints};

use super::DnsConfig;
use super::cache::{Failure, Part, Reason};
use super::resolver::ares_to_io;

/// c-ares, asked about the hosts file only.
pub struct HostsFile {
    channel: c_ares::Channel,
}

impl HostsFile {
    pub fn new(config: &DnsConfig) -> io::Result<Self> {
        let mut options = c_ares::Options::new();
        options.set_lookups("f").map_err(ares_to_io)?;
        if let Some(path) = hosts_path(config)? {
            options.set_hosts_path(path).map_err(ares_to_io)?;
        }
        options.set_query_cache_max_ttl(0);
        let channel = c_ares::Channel::with_options(options).map_err(ares_to_io)?;
        Ok(HostsFile { channel })
    }

    /// `host`'s IPv6 and IPv4 answers from the hosts file, or `None` if the file does
    /// not have it (or cannot be read: c-ares then asks DNS too).
    pub fn lookup(&mut self, host: &str) -> Option<(Part, Part)> {
        // NOSORT: sorting would `connect` a UDP socket per address (see resolver.rs).
        let hints = AddrInfoHints { socktype: libc::SOCK_STREAM, flags: AddrInfoFlags::NOSORT, ..Default::default() };
        let slot: Arc<Mutex<Option<Option<Vec<IpAddr>>>>> = Arc::default();
        let answer = Arc::clone(&slot);
        self.channel.get_addrinfo(host, None, &hints, move |result| {
            // Not found is ECONNREFUSED here (c-ares's "nothing tried" code); any error
            // means the file has nothing for us.
            let addrs = result.ok().map(|r| r.nodes().filter_map(|n| n.ip_addr()).collect());
            *answer.lock().unwrap() = Some(addrs);
        });
        let called = slot.lock().unwrap().take();
        // c-ares answers a files-only lookup inside the call. Were that ever to change,
        // DNS answers the name, as it did before.
        debug_assert!(called.is_some(), "c-ares deferred a hosts-file lookup for {host}");
        let addrs = called??;
        split(host, &addrs)
    }
}

/// A hosts-file entry's addresses as the two families' answers (IPv6, IPv4), with a
/// TTL of zero; `None` if there are none.
fn split(host: &str, addrs: &[IpAddr]) -> Option<(Part, Part)> {
    if addrs.is_empty() {
        return None;
    }
    let family = |v4: bool| -> Part {
        let mut found: Vec<IpAddr> = Vec::new();
        for &ip in addrs.iter().filter(|ip| ip.is_ipv4() == v4) {
            if !found.contains(&ip) {
                found.push(ip);
            }
        }
        if found.is_empty() {
            let v = if v4 { "IPv4" } else { "IPv6" };
            let message = format!("{host}: the hosts file has no {v} address for the name");
            return Err(Failure { reason: Reason::NoAddress, message });
        }
        Ok((found, Duration::ZERO))
    };
    Some((family(false), family(true)))
}

/// `DnsConfig::hosts_file` as c-ares takes it.
pub(super) fn hosts_path(config: &DnsConfig) -> io::Result<Option<&str>> {
    let Some(path) = &config.hosts_file else { return Ok(None) };
    let text = path.to_str().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("hosts file {}: not UTF-8", path.display()))
    })?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::path::PathBuf;

    const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const V4B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

    /// A hosts file of the test's own; removed on drop.
    struct TempHosts(PathBuf);

    impl TempHosts {
        fn new(name: &str, text: &str) -> Self {
            let path = std::env::temp_dir().join(format!("onethread-hosts-{name}-{}", std::process::id()));
            std::fs::write(&path, text).unwrap();
            TempHosts(path)
        }

        fn file(&self) -> HostsFile {
            HostsFile::new(&DnsConfig { hosts_file: Some(self.0.clone()), ..DnsConfig::default() }).unwrap()
        }
    }

    impl Drop for TempHosts {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn addrs(part: &Part) -> Vec<IpAddr> {
        part.as_ref().map(|(a, _)| a.clone()).unwrap_or_default()
    }

    #[test]
    fn a_family_the_entry_lacks_is_no_address_and_the_other_is_kept_in_order() {
        let (v6, v4) = split("a.test", &[V4, V4B, V4]).unwrap();
        let failure = v6.unwrap_err();
        assert_eq!(failure.reason, Reason::NoAddress);
        assert!(failure.message.starts_with("a.test: ") && failure.message.contains("IPv6"), "{}", failure.message);
        assert_eq!(v4, Ok((vec![V4, V4B], Duration::ZERO)), "duplicates dropped, TTL zero");

        let (v6, v4) = split("b.test", &[V6, V4]).unwrap();
        assert_eq!((addrs(&v6), addrs(&v4)), (vec![V6], vec![V4]));
        assert_eq!(split("c.test", &[]), None, "nothing found is not an answer");
    }

    #[test]
    fn the_file_answers_both_families_of_the_names_it_has_and_only_those() {
        let hosts = TempHosts::new(
            "families",
            "# comment line\n\
             192.0.2.1   v4only.test  alias.test   # trailing comment\n\
             2001:db8::1 v6only.test\n\
             192.0.2.3   dual.test\n\
             2001:db8::3 dual.test\n\
             192.0.2.2\tTabbed.Test\n",
        );
        let mut file = hosts.file();
        let found = |file: &mut HostsFile, name: &str| file.lookup(name).map(|(v6, v4)| (addrs(&v6), addrs(&v4)));
        assert_eq!(found(&mut file, "v4only.test"), Some((vec![], vec![V4])));
        let (v6, _) = file.lookup("v4only.test").unwrap();
        assert_eq!(v6.unwrap_err().reason, Reason::NoAddress);
        assert_eq!(found(&mut file, "alias.test"), Some((vec![], vec![V4])), "aliases count");
        assert_eq!(found(&mut file, "v6only.test"), Some((vec![V6], vec![])));
        // Lines are joined by name (c-ares also joins lines that share an address,
        // so each name here has addresses of its own).
        let dual = (vec!["2001:db8::3".parse().unwrap()], vec!["192.0.2.3".parse().unwrap()]);
        assert_eq!(found(&mut file, "dual.test"), Some(dual));
        assert_eq!(found(&mut file, "tabbed.test"), Some((vec![], vec![V4B])), "any case, tabs");
        assert_eq!(found(&mut file, "elsewhere.test"), None);
        assert_eq!(found(&mut file, "comment"), None);
    }

    #[test]
    fn localhost_is_always_the_loopback_and_a_missing_file_has_nothing() {
        // RFC 6761 §6.3: c-ares answers localhost with the loopback addresses even
        // when the file does not list it (here it does not exist at all).
        let missing = PathBuf::from("/nonexistent/onethread/hosts");
        let mut file = HostsFile::new(&DnsConfig { hosts_file: Some(missing), ..DnsConfig::default() }).unwrap();
        assert_eq!(file.lookup("elsewhere.test"), None, "DNS answers instead");
        let (v6, v4) = file.lookup("localhost").expect("localhost always");
        assert!(addrs(&v4).contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{v4:?}");
        assert!(v6.is_ok() || v4.is_ok());
    }

    #[test]
    fn an_edit_is_seen_by_the_next_lookup() {
        let hosts = TempHosts::new("edit", "192.0.2.1 before.test\n");
        let mut file = hosts.file();
        assert!(file.lookup("before.test").is_some());
        std::fs::write(&hosts.0, "192.0.2.2 after.test\n").unwrap();
        // c-ares re-reads the file when its modification time (whole seconds) is not
        // older than its last reading; a clock that ticks apart from the file system's
        // must not make this test flaky, so the edit is dated clearly later.
        let later = std::time::SystemTime::now() + Duration::from_secs(60);
        std::fs::File::options().write(true).open(&hosts.0).unwrap().set_modified(later).unwrap();
        assert_eq!(file.lookup("before.test"), None);
        assert!(file.lookup("after.test").is_some());
    }

    #[test]
    fn a_path_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/\xff"));
        let config = DnsConfig { hosts_file: Some(path), ..DnsConfig::default() };
        assert_eq!(hosts_path(&config).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
