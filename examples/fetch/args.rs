//! The command line, and turning it into a client configuration.
//!
//! Parsing is clap's derive. Every mistake ends the same way: one line on stderr that
//! names the argument, and exit status 2. Request headers and the method are checked
//! here, with the same encoder the client uses, so a typo in `-H` stops the run before
//! it starts instead of failing its first request.

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::exit;
use std::time::Duration;

use clap::Parser;
use onethread::client;
use onethread::dns::DnsConfig;
use onethread::http1::{self, EncodeError, Limits, RequestHead};

const EXAMPLES: &str = "\
Examples:
  fetch                                    the seed workload: built-in server, 10000 GETs, 1000 in flight
  fetch -n 1000000 > /dev/null             a million requests: live progress and the summary only
  fetch --urls list.txt --jsonl > out.jsonl
                                           one request per line of list.txt ('-' reads stdin)
  fetch 'http://127.0.0.1:8080/{}' -n 100000 -c 1000 --quiet --summary-json fetch.json
                                           a comparison run against your own server (compare with wrk, oha, aiohttp)
  fetch --urls list.txt -H 'Accept: text/html' -o bodies/ --jsonl --header-out content-type
  fetch --urls list.txt --workers 2 --jsonl > out.jsonl
                                           two one-thread processes split the list by host; one output, one summary

Progress goes to stderr once a run lasts a second: redrawn in place when stderr is a terminal
(and stdout is not the same terminal), a plain line every 2 s otherwise. The summary follows
on stderr; per-request output goes to stdout.";

#[derive(Parser, Debug)]
#[command(name = "fetch", version, about = "Fetch many URLs on exactly one OS thread, and prove it.", after_help = EXAMPLES)]
pub struct Args {
    /// URL template; `{}` is replaced by the request index (0, 1, …). Without a template
    /// or --urls, fetch starts the built-in server in this process and thread.
    #[arg(value_name = "URL_TEMPLATE", conflicts_with = "urls")]
    pub template: Option<String>,
    /// Number of requests, 1 or more [default: 10000; with --urls, all lines]
    #[arg(short = 'n', long = "requests", value_name = "N", allow_negative_numbers = true, value_parser = parse_requests)]
    pub requests: Option<u64>,
    /// Most requests in flight at once, 1 to 1000000.
    #[arg(short = 'c', long, value_name = "C", default_value_t = 1000, allow_negative_numbers = true,
          value_parser = parse_concurrency)]
    pub concurrency: u32,
    /// Read URLs from FILE, one per line, as they are needed (a list of any length costs
    /// no memory); blank and '#' lines are skipped; '-' is stdin.
    #[arg(long, value_name = "FILE")]
    pub urls: Option<PathBuf>,
    /// Deadline for each whole request, in seconds. This and the other timeouts: 0
    /// disables it; each has its own error kind (timeout, dns-timeout, …).
    #[arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = parse_secs)]
    pub timeout: f64,
    /// Longest wait for a name to resolve.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_secs)]
    pub dns_timeout: f64,
    /// Longest TCP handshake, per address tried.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_secs)]
    pub connect_timeout: f64,
    /// Longest from sending a request to its complete response head.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_secs)]
    pub head_timeout: f64,
    /// Longest silence while reading a body.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_secs)]
    pub read_timeout: f64,
    /// Resolve names only through this DNS server (repeatable).
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    pub dns_servers: Vec<SocketAddr>,
    /// Request method [default: GET, or POST with --data/--data-file, as curl does]
    #[arg(short = 'X', long, value_name = "METHOD", value_parser = parse_method)]
    pub method: Option<String>,
    /// Add a request header (repeatable), or replace a default one (User-Agent,
    /// Accept); `Name:` with no value sends no such header, as in curl. `Host: NAME`
    /// replaces the URL's host in the Host header (virtual hosts); Content-Length and
    /// Transfer-Encoding are set by fetch itself.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// The User-Agent header [default: onethread/VERSION].
    #[arg(short = 'A', long, value_name = "NAME")]
    pub user_agent: Option<String>,
    /// Connect to ADDR for HOST:PORT instead of resolving HOST (repeatable; ADDR may be
    /// a comma-separated list; IPv6 in brackets). The URL and Host header are unchanged.
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = client::Resolve::parse)]
    pub resolve: Vec<client::Resolve>,
    /// Trust only the CA certificates in this PEM bundle for https:// URLs (instead of
    /// the system's store).
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,
    /// Do not verify https:// servers' certificates (the summary says so).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Go through this HTTP proxy (`[http://][user:password@]host[:port]`, port 1080 by
    /// default), for http:// and https:// URLs alike. Without it, the http_proxy,
    /// https_proxy and no_proxy variables (or their upper-case forms) are used.
    #[arg(short = 'x', long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Hosts to reach without the proxy: comma-separated names (each with its
    /// subdomains) or addresses, or '*' (overrides no_proxy).
    #[arg(long, value_name = "LIST")]
    pub noproxy: Option<String>,
    /// Fetch only shard K of N (1 <= K <= N) of the URLs: those whose host name hashes
    /// to K (FNV-1a 64 of the lower-case host, mod N, plus 1; lines that are not URLs
    /// go to shard 1), so N machines given the same list split it by host. -n counts
    /// lines of the whole list.
    #[arg(long, value_name = "K/N", value_parser = crate::shard::Shard::parse)]
    pub shard: Option<crate::shard::Shard>,
    /// Run N worker processes, each on one thread with the guard on, splitting the URLs
    /// by host exactly as --shard k/N does (inside --shard K/M if given); one merged
    /// output, one summary. -c is the total, shared out. Needs --urls or a template.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub workers: u32,
    /// Internal: this process is a worker of `--workers`; report on this descriptor.
    #[arg(long, value_name = "FD", hide = true)]
    pub worker_report: Option<i32>,
    /// At most N requests in flight to one host name; the others wait without holding
    /// up other hosts (and without reading the whole list ahead).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub per_host: Option<u32>,
    /// HTTP/1.1 pipelining: up to D requests outstanding on one connection, written
    /// together and answered in order (GET, HEAD and other idempotent methods only;
    /// only once the server has answered with HTTP/1.1 keep-alive). Each origin then gets
    /// at most ceil(C/D) connections. Requests a server leaves unanswered when it closes
    /// are sent again on another connection. A server that holds responses back for an
    /// acknowledgement is acknowledged at once; one that drops pipelined requests is sent
    /// one at a time after the first head timeout. 1: off.
    #[arg(long, value_name = "D", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pipeline: u32,
    /// Space request starts to one host name at least MS milliseconds apart.
    #[arg(long, value_name = "MS")]
    pub host_delay: Option<u64>,
    /// Retry transient failures up to N times (connect errors and timeouts, a reset
    /// before any response byte, 408, 429, 500, 502, 503, 504), idempotent requests
    /// only, waiting 1 s and doubling (plus jitter) or as Retry-After asks. JSON lines
    /// gain `attempts`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retry: u32,
    /// With --retry: no retry starts later than SECS after the first attempt (a longer
    /// Retry-After is not waited for).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub retry_max_time: Option<f64>,
    /// Ask for compressed bodies (Accept-Encoding: gzip, deflate, br, zstd) and decode
    /// them as they arrive: `bytes` counts decoded bytes, JSON lines gain `wire_bytes`,
    /// -o saves decoded bodies, --max-body limits decoded bytes.
    #[arg(long)]
    pub compressed: bool,
    /// Follow redirects (301, 302, 303, 307, 308), as curl's -L: JSON lines gain
    /// `final_url` and `redirects`.
    #[arg(short = 'L', long)]
    pub location: bool,
    /// With -L, follow at most N redirects per request (more: too-many-redirects).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_redirs: u32,
    /// Treat a response with status 400 or more as an error (kind http-status), and exit
    /// with status 22 if any request failed in any way.
    #[arg(short = 'f', long)]
    pub fail: bool,
    /// Send TEXT as the body of every request, with a Content-Length.
    #[arg(long, value_name = "TEXT", conflicts_with = "data_file")]
    pub data: Option<String>,
    /// Send the contents of FILE as the body of every request, with a Content-Length.
    #[arg(long, value_name = "FILE")]
    pub data_file: Option<PathBuf>,
    /// Fail a response whose body exceeds BYTES (error kind too-large); no limit by default.
    #[arg(long, value_name = "BYTES")]
    pub max_body: Option<u64>,
    /// Print one JSON object per finished request instead of the seed's lines (even with
    /// --quiet, which then only turns the progress line off).
    #[arg(long)]
    pub jsonl: bool,
    /// Add response header NAME to each JSON line, as `"name": value` (null when absent);
    /// a name that is already a key (url, status, …) becomes `"header:name"`. Repeatable.
    #[arg(long, value_name = "NAME", requires = "jsonl", value_parser = parse_header_name)]
    pub header_out: Vec<String>,
    /// Save each response body to DIR/INDEX, where INDEX is the request's `index` in the
    /// JSON lines (its position in the input, from 0). Bodies are streamed to disk. After
    /// a run, DIR/INDEX exists exactly when request INDEX succeeded in that run: a failed
    /// request's partial file is removed, and so is a file left at its index by an
    /// earlier run.
    #[arg(short = 'o', long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Also write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Print nothing per request and no progress; only the summary (with --jsonl, the
    /// JSON lines are still printed).
    #[arg(short, long)]
    pub quiet: bool,
    /// Built-in server only: serve HTTPS, with a certificate made at start-up that this
    /// run's client (and only it) trusts.
    #[arg(long, conflicts_with_all = ["template", "urls"])]
    pub https: bool,
    /// Built-in server only: delay each response by a random 0..=MS milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub max_delay_ms: u64,
    /// Do not forbid thread creation (the thread count is still checked).
    #[arg(long)]
    pub allow_threads: bool,
    /// Start one extra thread before the workload, to watch the thread check fail:
    /// the guard refuses it, or with --allow-threads the census counts it.
    #[arg(long)]
    pub demo_extra_thread: bool,
}

/// Parses the command line. `--help` and `--version` print and exit 0; anything wrong
/// prints one line and exits 2.
pub fn parse() -> Args {
    Args::try_parse().unwrap_or_else(|e| {
        if !e.use_stderr() {
            e.exit();
        }
        // clap's first paragraph says what is wrong (sometimes over several lines); the
        // usage block after it repeats --help.
        let text = e.to_string();
        let what = text.split("\n\n").next().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!("fetch: {} (see --help)", what.trim_start_matches("error: "));
        exit(2)
    })
}

impl Args {
    /// The client's configuration, and the request every URL is sent with. Fails (a bad
    /// argument) if --data-file or --cacert cannot be read or the request is not one.
    pub fn client_config(&self) -> Result<(client::Config, client::Template), String> {
        let body = match (&self.data, &self.data_file) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(path)) => fs::read(path).map_err(|e| format!("--data-file {}: {e}", path.display()))?,
            (None, None) => Vec::new(),
        };
        if let Some(path) = &self.cacert {
            use rustls::pki_types::{CertificateDer, pem::PemObject};
            let certs = CertificateDer::pem_file_iter(path).and_then(|certs| certs.collect::<Result<Vec<_>, _>>());
            match certs {
                Ok(certs) if !certs.is_empty() => {}
                Ok(_) => return Err(format!("--cacert {}: no PEM certificate in it", path.display())),
                Err(e) => return Err(format!("--cacert {}: {e}", path.display())),
            }
        }
        let has_body = self.data.is_some() || self.data_file.is_some();
        // curl's defaults, each replaced by a -H of the same name (or -A); as in curl, a
        // -H with an empty value (`-H 'Accept:'`) sends no such header at all.
        let mut headers = Vec::new();
        let given = |name: &str| self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !given("user-agent") {
            let agent = self.user_agent.clone().unwrap_or_else(|| format!("onethread/{}", env!("CARGO_PKG_VERSION")));
            headers.push(("User-Agent".to_owned(), agent));
        }
        if !given("accept") {
            headers.push(("Accept".to_owned(), "*/*".to_owned()));
        }
        if self.compressed && !given("accept-encoding") {
            headers.push(("Accept-Encoding".to_owned(), "gzip, deflate, br, zstd".to_owned()));
        }
        headers.extend(self.headers.iter().filter(|(_, value)| !value.is_empty()).cloned());
        let method = self.method.as_deref().unwrap_or(if has_body { "POST" } else { "GET" });
        let template = client::Template::new(method, &headers, &body).map_err(|e| format!("bad request: {e}"))?;
        let config = client::Config {
            concurrency: self.concurrency as usize,
            timeout: secs(self.timeout),
            dns_timeout: secs(self.dns_timeout),
            connect_timeout: secs(self.connect_timeout),
            head_timeout: secs(self.head_timeout),
            read_timeout: secs(self.read_timeout),
            resolve: self.resolve.clone(),
            max_redirects: self.location.then_some(self.max_redirs),
            decompress: self.compressed,
            retry: self.retry,
            proxies: self.proxies()?,
            per_host: self.per_host.map(|n| n as usize),
            pipeline: self.pipeline as usize,
            host_delay: self.host_delay.filter(|&ms| ms > 0).map(Duration::from_millis),
            retry_max_time: self.retry_max_time.map(Duration::from_secs_f64),
            trust: match (&self.cacert, self.insecure) {
                (_, true) => client::Trust::Insecure,
                (Some(path), false) => client::Trust::Bundle(path.clone()),
                (None, false) => client::Trust::System,
            },
            dns: DnsConfig { servers: self.dns_servers.clone(), ..DnsConfig::default() },
            limits: Limits { max_body: self.max_body, ..Limits::default() },
            ..client::Config::default()
        };
        Ok((config, template))
    }
}

impl Args {
    /// `-x`, else the environment's `http_proxy`, `https_proxy` and `no_proxy`, as curl
    /// reads them: either case, except `HTTP_PROXY`, which a CGI program's environment
    /// takes from a request's `Proxy:` header ("httpoxy"), so only the lower case counts.
    fn proxies(&self) -> Result<client::Proxies, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let env = |name: &str| match name {
            "http_proxy" => var(name),
            _ => var(name).or_else(|| var(&name.to_ascii_uppercase())),
        };
        let parse = |what: &str, text: String| -> Result<onethread::url::Url, String> {
            let text = if text.contains("://") { text } else { format!("http://{text}") };
            // curl's default proxy port is 1080, where the URL names none.
            let (scheme, rest) = text.split_once("://").unwrap_or(("http", &text));
            let authority = rest.split('/').next().unwrap_or_default();
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
            let has_port = host_port.rsplit_once(']').map_or(host_port, |(_, after)| after).contains(':');
            let text = if has_port { text.clone() } else { format!("{scheme}://{authority}:1080") };
            match onethread::url::Url::parse(&text) {
                Ok(url) if !url.is_https() => Ok(url),
                Ok(_) => Err(format!("{what} {text}: only http:// proxies are supported")),
                Err(e) => Err(format!("{what} {text}: {e}")),
            }
        };
        let (http, https) = match &self.proxy {
            Some(proxy) => {
                let url = parse("-x", proxy.clone())?;
                (Some(url.clone()), Some(url))
            }
            None => (
                env("http_proxy").map(|p| parse("http_proxy", p)).transpose()?,
                env("https_proxy").map(|p| parse("https_proxy", p)).transpose()?,
            ),
        };
        let no_proxy = self.noproxy.clone().or_else(|| env("no_proxy")).unwrap_or_default();
        Ok(client::Proxies { http, https, no_proxy: no_proxy.split(',').map(|s| s.trim().to_owned()).collect() })
    }
}

/// A timeout argument: 0 means none.
fn secs(value: f64) -> Option<Duration> {
    (value > 0.0).then(|| Duration::from_secs_f64(value))
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1e9).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds")),
    }
}

fn parse_requests(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}' is not a number of requests (1 or more)")),
    }
}

fn parse_concurrency(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(c) if (1..=1_000_000).contains(&c) => Ok(c),
        _ => Err(format!("'{s}' is not a concurrency (1 to 1000000)")),
    }
}

fn parse_method(s: &str) -> Result<String, String> {
    let head = RequestHead { method: s, target: "/", host: "x", headers: &[] };
    match http1::encode_request(&mut Vec::new(), &head, b"") {
        Ok(()) => Ok(s.to_owned()),
        Err(EncodeError::Method { byte: Some(b) }) => Err(format!("'{}' is not allowed in a method", b.escape_ascii())),
        Err(e) => Err(e.to_string()),
    }
}

/// `Name: value`, with whitespace around either part ignored.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once(':').ok_or("expected 'Name: value'")?;
    let (name, value) = (name.trim(), value.trim());
    if name.eq_ignore_ascii_case("host") {
        // Replaces the URL's authority as the Host value: it must be one.
        let head = RequestHead { method: "GET", target: "/", host: value, headers: &[] };
        return match http1::encode_request(&mut Vec::new(), &head, b"") {
            Ok(()) => Ok((name.to_owned(), value.to_owned())),
            Err(_) => Err(format!("'{value}' is not a Host value")),
        };
    }
    let header = [(name, value)];
    let head = RequestHead { method: "GET", target: "/", host: "x", headers: &header };
    match http1::encode_request(&mut Vec::new(), &head, b"") {
        Ok(()) => Ok((name.to_owned(), value.to_owned())),
        Err(EncodeError::HeaderName { byte: None, .. }) => Err("the header name is empty".into()),
        Err(EncodeError::HeaderName { byte: Some(b), .. }) => {
            Err(format!("'{}' is not allowed in a header name", b.escape_ascii()))
        }
        Err(EncodeError::HeaderValue { byte, .. }) => {
            Err(format!("control byte '{}' is not allowed in a header value", byte.escape_ascii()))
        }
        Err(EncodeError::ReservedHeader { name, .. }) => Err(format!("{name} is set by fetch itself")),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_header_name(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Err("the header name is empty".into()),
        name => Ok(name.to_ascii_lowercase()),
    }
}
