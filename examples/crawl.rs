//! `crawl`: the web crawler of *500 Lines or Less* ("A Web Crawler With asyncio
//! Coroutines"), rebuilt on onethread — on one OS thread, with the guard on.
//!
//! ```text
//! crawl http://127.0.0.1:8080/ [-c 10] [--per-host N] [--max-pages N] [--resolve HOST:PORT:ADDR]
//! ```
//!
//! It fetches the start page, finds the links in it, fetches each page of the same
//! origin (scheme, host and port) that it has not seen yet, and so on breadth-first,
//! until no new page turns up; then it prints what it found, broken links included.
//! The chapter's crawler needs a queue, a set of seen URLs and a pool of workers that
//! take from the queue; here the client is the pool, and the queue is its
//! [`Submitter`]: the sink, which hears of each page as it arrives, submits the new
//! links it finds while the client runs. The client is done when nothing is in flight
//! and nothing was submitted: the crawl has reached every page it can.
//!
//! Each request's events come in order (`Sink`): its response's head (is it HTML?),
//! then its body in pieces (kept only for HTML), then its outcome (links extracted and
//! submitted). The request's index, returned by `submit`, is the key to what the
//! crawler keeps per page (the page that linked to it): curl's `CURLOPT_PRIVATE`.
//!
//! Redirects are not followed by the client: a 3xx is a page whose `Location` is its
//! one link, so a redirect to another origin is never fetched, like any other link.
//!
//! Exit status: 0 when the crawl completed, broken links or not; 2 for bad arguments;
//! 3 if the process had more than one thread; 1 for any other failure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use onethread::client::{Client, Config, ErrorKind, Options, Outcome, RequestId, Resolve, Sink, Submitter};
use onethread::dns::DnsConfig;
use onethread::http1::Head;
use onethread::proof::{self, Census};
use onethread::reactor::Reactor;
use onethread::url::Url;

/// Crawl one site breadth-first, on one thread.
#[derive(Parser, Debug)]
#[command(name = "crawl")]
struct Args {
    /// Where to start; only pages of its origin (scheme, host and port) are fetched.
    start: String,
    /// Most requests in flight at once.
    #[arg(short = 'c', long, default_value_t = 10)]
    concurrency: usize,
    /// Most requests in flight to the host at once.
    #[arg(long)]
    per_host: Option<usize>,
    /// Fetch at most this many pages; links beyond are counted, not fetched.
    #[arg(long, default_value_t = 10_000)]
    max_pages: usize,
    /// Longest a page may take, in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Use ADDR for HOST:PORT instead of resolving it, as curl's --resolve.
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = Resolve::parse)]
    resolve: Vec<Resolve>,
    /// Resolve names only through this DNS server (repeatable).
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    dns_servers: Vec<SocketAddr>,
    /// List every page with its status, in the order they ended (printed when the crawl
    /// is over: nothing writes to a terminal or pipe while the crawl runs, since a slow
    /// reader would stall the one thread).
    #[arg(short, long)]
    verbose: bool,
}

/// The largest HTML body kept to look for links; the rest is counted, not kept.
const MAX_HTML: usize = 4 << 20;

fn main() -> ExitCode {
    let args = Args::parse();
    let start = match Url::parse(&args.start) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("crawl: {}: {e}", args.start);
            return ExitCode::from(2);
        }
    };
    match run(&args, start) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crawl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, start: Url) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // From here on, no thread can be started in this process: not by us, not by a library.
    proof::forbid_new_threads()?;
    let mut census = Census::new();
    census.sample()?;

    let config = Config {
        concurrency: args.concurrency.max(1),
        per_host: args.per_host,
        timeout: Some(Duration::from_secs_f64(args.timeout)),
        resolve: args.resolve.clone(),
        dns: DnsConfig { servers: args.dns_servers.clone(), ..DnsConfig::default() },
        ..Config::default()
    };
    let submitter = Submitter::new();
    let mut crawler = Crawler::new(&start, submitter.clone(), args.max_pages, args.verbose, census);
    crawler.visit(&canonical(&start), None);

    let started = Instant::now();
    let mut reactor = Reactor::new(1024)?;
    // No list of URLs up front: every request comes through the submitter.
    let urls = std::iter::empty::<String>();
    let options = Options { submitter: Some(submitter), ..Options::default() };
    let mut client = Client::with_options(&mut reactor.context(), config, urls, crawler, options)?;
    reactor.run(&mut client)?;
    let stats = client.stats();
    let mut crawler = client.into_sink();

    let census = &mut crawler.census;
    census.sample()?;
    let (peak, samples) = (census.peak(), census.samples());
    print!("{}", crawler.log.as_deref().unwrap_or(""));
    print!("{}", crawler.summary(started.elapsed(), stats.connections_opened));
    println!("threads: {peak} at the peak, over {samples} samples");
    if peak != 1 {
        eprintln!("crawl: THREAD CHECK FAILED: {peak} OS threads at the peak (expected 1)");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// The crawler's state: what it has seen, what it is reading, what it found.
struct Crawler {
    /// Scheme, host (lower case) and port of the start page: the one origin crawled.
    origin: (bool, String, u16),
    submitter: Submitter,
    /// Every same-origin URL ever submitted (without its fragment): each is fetched once.
    seen: HashSet<String>,
    max_pages: usize,
    /// With `-v`: one line per page, in the order they ended, printed after the run.
    log: Option<String>,
    /// Per request in flight, by index: the page that linked to it, and its HTML so far
    /// (`None` unless its head said `text/html`).
    pages: HashMap<RequestId, Page>,
    /// The thread census, sampled at the start, every 64 pages and at the end.
    census: Census,
    // What the summary reports.
    fetched: usize,
    by_status: BTreeMap<u16, usize>,
    by_error: BTreeMap<ErrorKind, usize>,
    /// URL, what went wrong, and the page that linked to it.
    broken: Vec<(String, String, Option<String>)>,
    links: usize,
    other_origin: usize,
    /// Same-origin URLs left out by `--max-pages`.
    not_fetched: HashSet<String>,
}

#[derive(Default)]
struct Page {
    from: Option<String>,
    html: Option<Vec<u8>>,
    location: Option<String>,
}

impl Crawler {
    fn new(start: &Url, submitter: Submitter, max_pages: usize, verbose: bool, census: Census) -> Self {
        Crawler {
            origin: origin_of(start),
            submitter,
            seen: HashSet::new(),
            max_pages,
            log: verbose.then(String::new),
            pages: HashMap::new(),
            census,
            fetched: 0,
            by_status: BTreeMap::new(),
            by_error: BTreeMap::new(),
            broken: Vec::new(),
            links: 0,
            other_origin: 0,
            not_fetched: HashSet::new(),
        }
    }

    /// Submits `url` unless it was seen before; `from` is the page that links to it.
    fn visit(&mut self, url: &str, from: Option<&str>) {
        if self.seen.contains(url) {
            return;
        }
        if self.seen.len() >= self.max_pages {
            self.not_fetched.insert(url.to_owned());
            return;
        }
        self.seen.insert(url.to_owned());
        let index = self.submitter.submit(url);
        self.pages.insert(index, Page { from: from.map(str::to_owned), ..Page::default() });
    }

    /// The links of a fetched page: resolved against its URL, same-origin ones visited.
    fn follow_links(&mut self, base: &Url, links: Vec<String>) {
        for link in links {
            self.links += 1;
            let Ok(url) = base.join(&link) else { continue }; // mailto:, javascript:, …
            if origin_of(&url) != self.origin {
                self.other_origin += 1;
                continue;
            }
            self.visit(&canonical(&url), Some(base.as_str()));
        }
    }

    fn summary(&self, wall: Duration, connections: u64) -> String {
        let mut s = String::new();
        let ok: usize = self.by_status.iter().filter(|(status, _)| **status < 400).map(|(_, n)| n).sum();
        let broken = self.fetched - ok;
        let _ = writeln!(
            s,
            "pages fetched: {} in {:.2} s over {connections} connections",
            self.fetched,
            wall.as_secs_f64()
        );
        let _ = writeln!(s, "ok: {ok}");
        let _ = writeln!(s, "broken: {broken}");
        for (status, n) in &self.by_status {
            let _ = writeln!(s, "  status {status}: {n}");
        }
        for (kind, n) in &self.by_error {
            let _ = writeln!(s, "  error {kind}: {n}");
        }
        let _ = writeln!(s, "links seen: {} ({} to other origins, not fetched)", self.links, self.other_origin);
        if !self.not_fetched.is_empty() {
            let _ = writeln!(s, "not fetched (--max-pages {}): {}", self.max_pages, self.not_fetched.len());
        }
        let mut broken = self.broken.clone();
        broken.sort();
        for (url, why, from) in &broken {
            let from = from.as_deref().unwrap_or("the command line");
            let _ = writeln!(s, "broken link: {url}: {why} (linked from {from})");
        }
        s
    }
}

impl Sink for Crawler {
    fn head(&mut self, index: RequestId, head: &Head<'_>) {
        let Some(page) = self.pages.get_mut(&index) else { return };
        let content_type = head.headers.get("content-type").unwrap_or_default();
        if content_type.len() >= 9 && content_type[..9].eq_ignore_ascii_case(b"text/html") {
            page.html = Some(Vec::new());
        }
        if (300..400).contains(&head.status)
            && let Some(location) = head.headers.get("location")
        {
            page.location = Some(String::from_utf8_lossy(location).into_owned());
        }
    }

    fn body(&mut self, index: RequestId, piece: &[u8]) {
        if let Some(html) = self.pages.get_mut(&index).and_then(|p| p.html.as_mut()) {
            let room = MAX_HTML.saturating_sub(html.len());
            html.extend_from_slice(&piece[..piece.len().min(room)]);
        }
    }

    fn outcome(&mut self, o: &Outcome<'_>) {
        let page = self.pages.remove(&o.index).unwrap_or_default();
        self.fetched += 1;
        if self.fetched.is_multiple_of(64) {
            let _ = self.census.sample();
        }
        let why = match &o.result {
            Ok(response) => {
                *self.by_status.entry(response.status).or_default() += 1;
                (response.status >= 400).then(|| format!("status {}", response.status))
            }
            Err(e) => {
                *self.by_error.entry(e.kind).or_default() += 1;
                Some(e.to_string())
            }
        };
        if let Some(log) = &mut self.log {
            let what = o.result.as_ref().map_or_else(|e| e.kind.to_string(), |r| r.status.to_string());
            let _ = writeln!(log, "{what} {}", o.url);
        }
        if let Some(why) = why {
            self.broken.push((o.url.to_owned(), why, page.from));
            return;
        }
        let Ok(base) = Url::parse(o.url) else { return };
        let mut links = page.html.as_deref().map(hrefs).unwrap_or_default();
        links.extend(page.location);
        self.follow_links(&base, links);
    }
}

/// The one spelling of a URL the crawler submits and remembers, so that
/// `http://Site.test:80/a` and `http://site.test/a` are one page: the host in lower
/// case, the port only if it is not the scheme's own. (The fragment is gone already:
/// `Url::join` drops it.)
fn canonical(url: &Url) -> String {
    let scheme = if url.is_https() { "https" } else { "http" };
    let authority = url.authority().to_ascii_lowercase();
    let default = if url.is_https() { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default).unwrap_or(&authority);
    format!("{scheme}://{authority}{}", url.target())
}

/// What makes two URLs the same site: scheme, host (in lower case) and port.
fn origin_of(url: &Url) -> (bool, String, u16) {
    (url.is_https(), url.host().to_ascii_lowercase(), url.port())
}

// ---- finding links -----------------------------------------------------------------

/// The links of an HTML page: the `href` of every `<a>` and `<area>`, in order, with
/// `<base href>` applied by the caller's join… if there is one, it comes first.
///
/// Not an HTML parser, but careful where a naive search goes wrong: attribute names in
/// any case, values in double quotes, single quotes or none, `href` inside comments,
/// scripts and styles ignored, a few character references (`&amp;` in a query) decoded.
/// Empty links, fragment-only links (the same page) and schemes that are not HTTP
/// (`mailto:`, `javascript:`) are left out.
fn hrefs(html: &[u8]) -> Vec<String> {
    let mut links = Vec::new();
    let mut base: Option<String> = None;
    let mut i = 0;
    while let Some(at) = find(html, i, b"<") {
        i = at + 1;
        let rest = &html[i..];
        if rest.starts_with(b"!--") {
            i = find(html, i + 3, b"-->").map_or(html.len(), |end| end + 3);
            continue;
        }
        let name_len = rest.iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        let name = &rest[..name_len];
        i += name_len;
        let (attributes, end) = attributes(html, i);
        i = end;
        if name.eq_ignore_ascii_case(b"script") || name.eq_ignore_ascii_case(b"style") {
            // Their text is not HTML: skip to the closing tag.
            let close = if name.eq_ignore_ascii_case(b"script") { b"</script".as_slice() } else { b"</style" };
            i = find_ignore_case(html, i, close).unwrap_or(html.len());
            continue;
        }
        let wanted = [b"a".as_slice(), b"area", b"base"];
        if !wanted.iter().any(|w| name.eq_ignore_ascii_case(w)) {
            continue;
        }
        let Some(href) = attributes.into_iter().find(|(n, _)| n.eq_ignore_ascii_case(b"href")).map(|(_, v)| v) else {
            continue;
        };
        let href = decode_references(&String::from_utf8_lossy(href));
        let href = href.trim();
        if name.eq_ignore_ascii_case(b"base") {
            base.get_or_insert_with(|| href.to_owned());
            continue;
        }
        let lower = href.to_ascii_lowercase();
        if href.is_empty()
            || href.starts_with('#')
            || ["javascript:", "mailto:", "tel:", "data:"].iter().any(|s| lower.starts_with(s))
        {
            continue;
        }
        links.push(href.to_owned());
    }
    match base {
        // Links relative to a `<base>`: resolved against it here, so the caller can join
        // the results against the page's URL as usual.
        Some(base) => links.into_iter().map(|l| join_base(&base, &l)).collect(),
        None => links,
    }
}

/// `link` against a `<base href>` that may itself be relative (then the page's URL
/// finishes the job): absolute links stay, others are put under the base's directory.
fn join_base(base: &str, link: &str) -> String {
    if link.contains("://") || link.starts_with('/') {
        return link.to_owned();
    }
    let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
    format!("{dir}{link}")
}

/// An attribute's name and raw value, as they appear in the page.
type Attribute<'a> = (&'a [u8], &'a [u8]);

/// The attributes of the tag whose name ends at `i`, and where the tag ends (after its `>`).
fn attributes(html: &[u8], mut i: usize) -> (Vec<Attribute<'_>>, usize) {
    let mut found = Vec::new();
    loop {
        while i < html.len() && (html[i].is_ascii_whitespace() || html[i] == b'/') {
            i += 1;
        }
        if i >= html.len() {
            return (found, i);
        }
        if html[i] == b'>' {
            return (found, i + 1);
        }
        let start = i;
        while i < html.len() && !html[i].is_ascii_whitespace() && !b"/>=".contains(&html[i]) {
            i += 1;
        }
        let name = &html[start..i];
        while i < html.len() && html[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= html.len() || html[i] != b'=' {
            found.push((name, &html[i..i])); // an attribute without a value
            continue;
        }
        i += 1;
        while i < html.len() && html[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match html.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let end = html[i + 1..].iter().position(|&b| b == quote).map_or(html.len(), |p| i + 1 + p);
                let value = &html[i + 1..end];
                i = (end + 1).min(html.len());
                value
            }
            _ => {
                let start = i;
                while i < html.len() && !html[i].is_ascii_whitespace() && html[i] != b'>' {
                    i += 1;
                }
                &html[start..i]
            }
        };
        found.push((name, value));
    }
}

/// The few character references a URL in an attribute is likely to carry.
fn decode_references(value: &str) -> String {
    if !value.contains('&') {
        return value.to_owned();
    }
    [("&amp;", "&"), ("&quot;", "\""), ("&#39;", "'"), ("&apos;", "'"), ("&lt;", "<"), ("&gt;", ">"), ("&#x2F;", "/")]
        .iter()
        .fold(value.to_owned(), |v, (from, to)| v.replace(from, to))
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| from + p)
}

fn find_ignore_case(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle)).map(|p| from + p)
}

/// Run by `cargo test` through `tests/crawl.rs`, which includes this file.
#[cfg(test)]
mod tests {
    use super::hrefs;

    #[test]
    fn links_in_any_quoting_and_case_and_none_from_comments_or_scripts() {
        let html = br##"<html><HEAD><title>x</title></HEAD>
            <a href="/one">1</a> <A HREF='two'>2</A> <a class=x href=three>3</a>
            <a id="h" data-href="/not-a-link">no</a> <a href = "/four?a=1&amp;b=2" >4</a>
            <!-- <a href="/commented">no</a> -->
            <script>var s = '<a href="/scripted">';</script>
            <a href="#top">same page</a> <a href="mailto:me@example.com">mail</a>
            <a href="JavaScript:void(0)">js</a> <a href="">empty</a> <a>none</a>
            <area href="/five" alt="map"> <link href="/style.css" rel="stylesheet">
            <a href="/six#part">6</a>"##;
        assert_eq!(hrefs(html), ["/one", "two", "three", "/four?a=1&b=2", "/five", "/six#part"]);
    }

    #[test]
    fn a_base_applies_to_relative_links() {
        let html = br#"<base href="/docs/"><a href="a.html">a</a><a href="/b">b</a>"#;
        assert_eq!(hrefs(html), ["/docs/a.html", "/b"]);
    }

    #[test]
    fn cut_short_html_ends_the_scan_without_a_panic() {
        assert_eq!(hrefs(b"<a href=\"/x"), ["/x"]);
        assert!(hrefs(b"<a href=").is_empty());
        assert!(hrefs(b"<!-- <a href=/y>").is_empty());
        assert!(hrefs(b"<").is_empty());
    }
}
