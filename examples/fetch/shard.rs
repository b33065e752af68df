//! `--shard K/N`: several machines given the same URL list split it between them
//! without talking to each other. Each takes the URLs whose host hashes to its shard,
//! so all of a host's URLs land on one machine, and its connection pool, DNS cache and
//! politeness (`--per-host`, `--host-delay`) stay whole there.
//!
//! The hash is part of the interface, because machines running different builds must
//! agree: 64-bit FNV-1a of the URL's host name in lower case, without a trailing dot
//! (for an IPv6 address, the address without brackets), and the shard is that hash
//! modulo N, plus 1. A line that is not a URL has no host: shard 1 takes it (and
//! reports it as `invalid-url`), so the shards' outputs together account for every
//! line exactly once.

use onethread::url::Url;

/// This process's share: shard `k` of `n`, from 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    k: u64,
    n: u64,
}

impl Shard {
    /// Parses `K/N` with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("'{text}' is not a shard K/N with 1 <= K <= N (e.g. 1/4)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n) = (k.trim().parse::<u64>().map_err(|_| bad())?, n.trim().parse::<u64>().map_err(|_| bad())?);
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }

    /// Whether this shard fetches `url`.
    pub fn takes(&self, url: &str) -> bool {
        let shard = match Url::parse(url) {
            Ok(url) => of_host(url.host(), self.n),
            Err(_) => 1,
        };
        shard == self.k
    }

    /// `--workers N` inside this shard (or inside the whole list, `None`): shards
    /// K, K+M, …, K+(N−1)·M of M·N. Since M divides M·N, `hash mod M·N` is congruent
    /// to `hash mod M`, so these N shards are exactly the hosts of K/M, split by host;
    /// each is a plain `--shard`, so a worker's lines are those of the matching shard.
    pub fn split(outer: Option<Shard>, n: u64) -> Vec<Shard> {
        let Shard { k, n: m } = outer.unwrap_or(Shard { k: 1, n: 1 });
        (0..n).map(|j| Shard { k: k + m * j, n: m * n }).collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// The shard (1..=n) of a host name.
fn of_host(host: &str, n: u64) -> u64 {
    let host = host.trim_end_matches('.'); // `Url::host` has IPv6 without brackets
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in host.bytes() {
        hash ^= u64::from(byte.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash % n + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_k_of_n_only() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { k: 2, n: 3 }));
        for bad in ["0/3", "4/3", "1", "a/2", "1/0", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fnv_1a_of_the_host_as_documented() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        assert_eq!(of_host("a", 1000), 0xaf63_dc4c_8601_ec8c % 1000 + 1);
        assert_eq!(of_host("Example.COM.", 7), of_host("example.com", 7), "case and a trailing dot");
    }

    #[test]
    fn shards_split_a_list_whole_disjoint_and_by_host() {
        let urls: Vec<String> = (0..500)
            .map(|i| format!("http://host{}.test:{}/page/{i}", i % 37, 8000 + i % 3))
            .chain(["not a url".to_owned()])
            .collect();
        let n = 4;
        let shards: Vec<Shard> = (1..=n).map(|k| Shard::parse(&format!("{k}/{n}")).unwrap()).collect();
        let mut hosts = std::collections::HashMap::new();
        for url in &urls {
            let taken: Vec<u64> = shards.iter().filter(|s| s.takes(url)).map(|s| s.k).collect();
            assert_eq!(taken.len(), 1, "{url} taken by exactly one shard: {taken:?}");
            if let Ok(parsed) = Url::parse(url) {
                let first = hosts.entry(parsed.host().to_owned()).or_insert(taken[0]);
                assert_eq!(*first, taken[0], "every URL of {} in one shard (whatever the port)", parsed.host());
            }
        }
        assert!(shards.iter().filter(|s| s.takes("not a url")).all(|s| s.k == 1));
        let used: std::collections::HashSet<_> = hosts.values().collect();
        assert_eq!(used.len(), n as usize, "37 hosts reach all four shards");
    }

    #[test]
    fn workers_split_a_shard_into_exactly_its_hosts() {
        let whole: Vec<Shard> = Shard::split(None, 3);
        assert_eq!(whole, (1..=3).map(|k| Shard { k, n: 3 }).collect::<Vec<_>>(), "--workers 3 is --shard k/3");
        for m in 1..=4 {
            for k in 1..=m {
                let outer = Shard { k, n: m };
                let parts = Shard::split(Some(outer), 3);
                for i in 0..300 {
                    let url = format!("http://host{i}.test/");
                    let taken = parts.iter().filter(|s| s.takes(&url)).count();
                    assert_eq!(taken, usize::from(outer.takes(&url)), "{url} in {outer}: {parts:?}");
                }
                let invalid = parts.iter().filter(|s| s.takes("not a url")).count();
                assert_eq!(invalid, usize::from(k == 1), "a bad line stays in shard 1");
            }
        }
    }
}
