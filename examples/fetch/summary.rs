//! Counting outcomes as they happen, and the summary at the end (text and JSON).
//!
//! The tally's size does not depend on the number of requests: counters, one entry per
//! error kind (with the first message seen as its example), one per status code, and an
//! HDR histogram of latencies. The histogram keeps 3 significant digits from 1 µs to
//! an hour in a fixed ~200 KiB, so p99.9 of a billion requests costs what p99.9 of ten
//! does. Latency is `Outcome::elapsed`: from admission (a slot was taken) to the end of
//! the response. Only successful requests are recorded; a timeout's "latency" is the
//! timeout, and an invalid URL's is zero.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use onethread::client::{ErrorKind, Outcome, Stats};
use serde_json::{Value, json};

use crate::save::Saver;

pub struct Tally {
    successes: u64,
    failures: u64,
    body_bytes: u64,
    /// Count and one example ("url: message") per kind.
    errors: BTreeMap<ErrorKind, (u64, String)>,
    statuses: BTreeMap<u16, u64>,
    /// Microseconds.
    latency: Histogram<u64>,
}

impl Tally {
    pub fn new() -> Self {
        Tally {
            successes: 0,
            failures: 0,
            body_bytes: 0,
            errors: BTreeMap::new(),
            statuses: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
        }
    }

    pub fn record(&mut self, o: &Outcome<'_>) {
        match &o.result {
            Ok(r) => {
                self.successes += 1;
                self.body_bytes += r.body_len;
                *self.statuses.entry(r.status).or_default() += 1;
                self.latency.saturating_record(o.elapsed.as_micros().try_into().unwrap_or(u64::MAX));
            }
            Err(e) => {
                self.failures += 1;
                self.errors.entry(e.kind).or_insert_with(|| (0, format!("{}: {}", o.url, e.message))).0 += 1;
                // What did arrive counts, as curl reports it: the status and the bytes.
                if let Some(r) = &o.partial {
                    self.body_bytes += r.body_len;
                    *self.statuses.entry(r.status).or_default() += 1;
                }
            }
        }
    }

    pub fn done(&self) -> u64 {
        self.successes + self.failures
    }

    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Requests cut short by a stop (a signal, a closed stdout).
    pub fn cancelled(&self) -> u64 {
        self.errors.get(&ErrorKind::Cancelled).map_or(0, |&(count, _)| count)
    }

    /// The whole tally as JSON, for a worker's report to its router (`workers/report.rs`):
    /// the latency histogram as `[value, count]` pairs, one per recorded bucket, so
    /// tallies add up exactly and the merged percentiles are those of one process.
    pub fn export(&self) -> Value {
        let errors: Vec<Value> = self.errors.iter().map(|(kind, (n, e))| json!([kind.as_str(), n, e])).collect();
        let statuses: Vec<Value> = self.statuses.iter().map(|(code, n)| json!([code, n])).collect();
        let latency: Vec<Value> =
            self.latency.iter_recorded().map(|v| json!([v.value_iterated_to(), v.count_at_value()])).collect();
        json!({
            "successes": self.successes, "failures": self.failures, "body_bytes": self.body_bytes,
            "errors": errors, "statuses": statuses, "latency_us": latency,
        })
    }

    /// Adds a tally made by [`Tally::export`]; `None` if it is not one. For each error
    /// kind the example kept is the first one absorbed.
    pub fn absorb(&mut self, v: &Value) -> Option<()> {
        let pairs = |key: &str| v[key].as_array().cloned().unwrap_or_default();
        for e in pairs("errors") {
            let kind = ErrorKind::ALL.into_iter().find(|k| Some(k.as_str()) == e[0].as_str())?;
            let entry = self.errors.entry(kind).or_insert_with(|| (0, e[2].as_str().unwrap_or_default().to_owned()));
            entry.0 += e[1].as_u64()?;
        }
        for s in pairs("statuses") {
            *self.statuses.entry(u16::try_from(s[0].as_u64()?).ok()?).or_default() += s[1].as_u64()?;
        }
        for l in pairs("latency_us") {
            self.latency.saturating_record_n(l[0].as_u64()?, l[1].as_u64()?);
        }
        self.successes += v["successes"].as_u64()?;
        self.failures += v["failures"].as_u64()?;
        self.body_bytes += v["body_bytes"].as_u64()?;
        Some(())
    }
}

/// Everything the summary reports.
pub struct Summary<'a> {
    pub tally: &'a Tally,
    pub stats: Stats,
    pub wall: Duration,
    pub threads_now: usize,
    pub threads_peak: usize,
    pub thread_samples: u64,
    pub threads_forbidden: bool,
    /// Bytes (`VmHWM`).
    pub peak_rss: Option<u64>,
    /// With `-o DIR`.
    pub saver: Option<&'a Saver>,
    /// What cut the run short, if anything: `SIGINT`, `SIGTERM`, `broken-pipe`, …
    pub interrupted: Option<&'static str>,
    /// `--insecure`: certificates were not verified.
    pub insecure: bool,
}

/// The latency percentiles reported, with their names.
const PERCENTILES: [(&str, f64); 4] = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)];

impl Summary<'_> {
    pub fn text(&self) -> String {
        let (t, st) = (self.tally, &self.stats);
        let secs = self.wall.as_secs_f64();
        let rate = st.requests as f64 / secs.max(1e-9);
        let mut s = format!("fetch: {} requests in {} s: {rate:.0} requests/s\n", st.requests, seconds(secs));
        if let Some(why) = self.interrupted {
            s += &format!("  interrupted      by {why}: {} requests in flight were cancelled\n", t.cancelled());
        }
        s += &format!("  successes        {}\n", t.successes);
        s += &format!("  errors           {}\n", t.failures);
        for (kind, (count, example)) in &t.errors {
            s += &format!("    {:<18} {count}  e.g. {example}\n", kind.as_str());
        }
        let codes: Vec<String> = t.statuses.iter().map(|(code, n)| format!("{code}: {n}")).collect();
        s += &format!("  status codes     {}\n", if codes.is_empty() { "-".into() } else { codes.join(", ") });
        s += &format!("  body bytes       {} ({})\n", t.body_bytes, size(t.body_bytes));
        if !t.latency.is_empty() {
            let h = &t.latency;
            let percentiles = PERCENTILES.iter().map(|&(name, p)| (name, h.value_at_percentile(p)));
            let columns: Vec<(&str, u64)> =
                [("min", h.min())].into_iter().chain(percentiles).chain([("max", h.max())]).collect();
            let names: String = columns.iter().map(|(name, _)| format!("{name:>9}")).collect();
            let values: String = columns.iter().map(|&(_, us)| format!("{:>9}", micros(us))).collect();
            s += &format!("  latency  {names}   (successful requests only)\n           {values}\n");
        }
        if let Some(saver) = self.saver {
            s += &format!("  saved bodies     {} files in {}", saver.saved, saver.dir.display());
            if let Some(e) = &saver.first_error {
                s += &format!(", {} failed, e.g. {e}", saver.failed);
            }
            s += "\n";
        }
        s += &format!("  connections      {} opened, {} reused", st.connections_opened, st.connections_reused);
        if st.connect_attempts != st.connections_opened {
            s += &format!(" ({} connection attempts)", st.connect_attempts);
        }
        s += "\n";
        if st.tls_handshakes + st.tls_resumed > 0 || self.insecure {
            s += &format!("  TLS              {} full handshakes, {} resumed", st.tls_handshakes, st.tls_resumed);
            if self.insecure {
                s += "; certificates NOT verified (--insecure)";
            }
            s += "\n";
        }
        s += &format!("  DNS              {} lookups, {} cache hits", st.dns_lookups, st.dns_cache_hits);
        if st.hosts_lookups > 0 {
            s += &format!(", {} answered by the hosts file", st.hosts_lookups);
        }
        s += "\n";
        s += &format!("  retries          {} (stale keep-alive connections)", st.retries);
        if st.transient_retries > 0 {
            s += &format!(", {} after transient failures (--retry)", st.transient_retries);
        }
        s += "\n";
        if st.redirects > 0 {
            s += &format!("  redirects        {} followed\n", st.redirects);
        }
        if st.pipelined > 0 {
            s += &format!("  pipelined        {} requests sent behind others", st.pipelined);
            if st.resent > 0 {
                s += &format!(", {} sent again (their connection ended unanswered)", st.resent);
            }
            if st.held_back > 0 {
                let n = st.held_back;
                let origins = if n == 1 { "origin" } else { "origins" };
                s += &format!("; {n} {origins} held responses back (35 ms or more), so acknowledged at once");
            }
            if st.unpipelined > 0 {
                let n = st.unpipelined;
                let origins = if n == 1 { "origin" } else { "origins" };
                s += &format!("; {n} {origins} left a pipelined request unanswered, so sent one at a time");
            }
            s += "\n";
        }
        if st.socket_backoffs > 0 {
            s += &format!("  socket waits     {} (out of descriptors or ports; requests waited)\n", st.socket_backoffs);
        }
        s += &format!("  peak RSS         {}\n", self.peak_rss.map_or("unknown".into(), size));
        let guard = if self.threads_forbidden { "creation forbidden" } else { "creation allowed" };
        s += &format!(
            "  OS threads       {} (peak {}, {} samples, {guard})\n",
            self.threads_now, self.threads_peak, self.thread_samples
        );
        s
    }

    pub fn json(&self) -> Value {
        let t = self.tally;
        let h = &t.latency;
        let ms = |us: u64| us as f64 / 1000.0;
        let latency = (!h.is_empty()).then(|| {
            let mut l = json!({
                "count": h.len(), "includes_errors": false,
                "min": ms(h.min()), "mean": h.mean() / 1000.0, "max": ms(h.max()),
            });
            for (name, p) in PERCENTILES {
                l[name] = json!(ms(h.value_at_percentile(p)));
            }
            l
        });
        let errors: serde_json::Map<String, Value> = t
            .errors
            .iter()
            .map(|(kind, (count, example))| (kind.as_str().into(), json!({"count": count, "example": example})))
            .collect();
        let statuses: serde_json::Map<String, Value> =
            t.statuses.iter().map(|(code, n)| (code.to_string(), json!(n))).collect();
        let st = &self.stats;
        json!({
            "requests": st.requests,
            "interrupted": self.interrupted,
            "successes": t.successes,
            "errors": t.failures,
            "errors_by_kind": errors,
            "status_codes": statuses,
            "body_bytes": t.body_bytes,
            "wall_seconds": self.wall.as_secs_f64(),
            "requests_per_second": st.requests as f64 / self.wall.as_secs_f64().max(1e-9),
            "latency_ms": latency,
            "connections": {
                "opened": st.connections_opened, "reused": st.connections_reused, "attempts": st.connect_attempts,
            },
            "dns": {"lookups": st.dns_lookups, "cache_hits": st.dns_cache_hits, "hosts_file": st.hosts_lookups},
            "tls": {"handshakes": st.tls_handshakes, "resumed": st.tls_resumed, "verified": !self.insecure},
            "retries": st.retries,
            "redirects": st.redirects,
            "transient_retries": st.transient_retries,
            "socket_backoffs": st.socket_backoffs,
            "pipelined": {"requests": st.pipelined, "resent": st.resent, "held_back": st.held_back,
                          "unpipelined": st.unpipelined},
            "saved_bodies": self.saver.map(|s| json!({
                "dir": s.dir, "files": s.saved, "failed": s.failed, "first_error": s.first_error,
            })),
            "peak_rss_bytes": self.peak_rss,
            "os_threads": {
                "final": self.threads_now, "peak": self.threads_peak,
                "samples": self.thread_samples, "creation_forbidden": self.threads_forbidden,
            },
        })
    }
}

/// This process's peak resident set size (`VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?;
    kib.trim().parse::<u64>().ok().map(|k| k * 1024)
}

/// A duration in seconds with three significant digits below one second (`0.000412`),
/// so that a short run never reads `0.000 s`; three decimals from one second on.
fn seconds(secs: f64) -> String {
    if secs >= 1.0 || secs <= 0.0 {
        return format!("{secs:.3}");
    }
    let decimals = (-secs.log10()).floor() as usize + 3;
    format!("{secs:.decimals$}")
}

/// `812 B`, `13.4 MiB`, …
fn size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let (mut value, mut unit) = (bytes as f64 / 1024.0, 0);
    while value >= 1024.0 && unit < 2 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", ["KiB", "MiB", "GiB"][unit])
}

/// A latency in microseconds, with three significant digits and a unit that fits.
fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..10_000 => format!("{:.2}ms", us as f64 / 1e3),
        10_000..100_000 => format!("{:.1}ms", us as f64 / 1e3),
        100_000..1_000_000 => format!("{:.0}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_runs_keep_three_significant_digits() {
        assert_eq!(seconds(0.000412345), "0.000412");
        assert_eq!(seconds(0.0412), "0.0412");
        assert_eq!(seconds(0.4129), "0.413");
        assert_eq!(seconds(12.3456), "12.346");
        assert_eq!(seconds(0.0), "0.000");
    }
}
