//! `fetch`: the seed workload — N GETs, at most C in flight — on exactly one OS thread.
//!
//! This is the motivating aiohttp script (`asyncio.Semaphore(1000)` around
//! `session.get(url)`), rebuilt on onethread's reactor. Without a URL it starts the
//! built-in server *in this same process and thread* and fetches
//! `http://localhost:PORT/{i}`, resolving `localhost` through c-ares like any other
//! name. Before any work starts it forbids the process to create threads (seccomp), and
//! it counts its threads at start, every 100 ms and at the end. Exit status: 0 when
//! the run completed on one thread (failed requests are reported, not fatal); 2 for
//! bad arguments; 3 if the thread check failed; 1 for any other fatal error.
//!
//! Reading order: `main` sets up, `App` routes the reactor's events to the client or
//! the server, `Report` turns outcomes into lines and the summary.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use mio::Token;
use onethread::client::{self, Client, ErrorKind, Outcome, Sink};
use onethread::dns::DnsConfig;
use onethread::proof::{self, Census};
use onethread::reactor::{Context, Handler, Reactor};
use onethread::server::{self, Server, ServerConfig};

const EXAMPLES: &str = "\
Examples:
  fetch                                   the seed workload: built-in server, 10000 GETs, 1000 in flight
  fetch -n 100000 --max-delay-ms 50       the same with random server delays
  fetch 'http://127.0.0.1:8080/{}' -n 1000 --jsonl
  fetch --urls list.txt --jsonl           one request per line of list.txt ('-' reads stdin)";

#[derive(Parser, Debug)]
#[command(version, about = "Fetch many URLs on exactly one OS thread, and prove it.", after_help = EXAMPLES)]
struct Args {
    /// URL template; `{}` is replaced by the request index (0, 1, …). Without a template
    /// or --urls, fetch starts the built-in server in this process and thread.
    #[arg(value_name = "URL_TEMPLATE", conflicts_with = "urls")]
    template: Option<String>,
    /// Number of requests [default: 10000; with --urls, all lines]
    #[arg(short = 'n', long = "requests", value_name = "N")]
    requests: Option<u64>,
    /// Most requests in flight at once.
    #[arg(short = 'c', long, value_name = "C", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    concurrency: u32,
    /// Read URLs from FILE, one per line; blank and '#' lines are skipped; '-' is stdin.
    #[arg(long, value_name = "FILE")]
    urls: Option<PathBuf>,
    /// Deadline for each request, in seconds (0 disables it).
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_secs)]
    timeout: f64,
    /// Resolve names only through this DNS server (repeatable).
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    dns_servers: Vec<SocketAddr>,
    /// Print one JSON object per finished request instead of the seed's lines.
    #[arg(long)]
    jsonl: bool,
    /// Print nothing per request; only the summary.
    #[arg(short, long)]
    quiet: bool,
    /// Built-in server only: delay each response by a random 0..=MS milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    max_delay_ms: u64,
    /// Do not forbid thread creation (the thread count is still checked).
    #[arg(long)]
    allow_threads: bool,
    /// Start one extra thread before the workload, to watch the thread check fail:
    /// the guard refuses it, or with --allow-threads the census counts it.
    #[arg(long)]
    demo_extra_thread: bool,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1e9).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds")),
    }
}

/// Token layout on the shared reactor: the client's range, then the server's, then ours.
const SERVER_BASE: usize = client::TOKENS_END;
const CENSUS_TICK: Token = Token(SERVER_BASE + server::TOKEN_SPAN);
const CENSUS_EVERY: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    let args = Args::parse(); // bad arguments: clap prints one clear message, exit 2
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fetch: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> io::Result<ExitCode> {
    // Two sockets per request when the server runs in-process: lift the soft limit.
    raise_fd_limit();
    if !args.allow_threads {
        proof::forbid_new_threads().map_err(|e| {
            io::Error::other(format!("cannot forbid thread creation: {e} (use --allow-threads to run unguarded)"))
        })?;
    }
    if args.demo_extra_thread {
        let spawned = std::thread::Builder::new().name("extra".into()).spawn(|| {
            loop {
                std::thread::park();
            }
        });
        if let Err(e) = spawned {
            eprintln!("fetch: THREAD CHECK FAILED: something tried to start a thread and the guard refused it: {e}");
            return Ok(ExitCode::from(3));
        }
    }
    let mut census = Census::new();
    census.sample()?;

    let mut reactor = Reactor::new(1024)?;
    let mut cx = reactor.context();
    let (server, urls) = match (&args.template, &args.urls) {
        (_, Some(path)) => match url_lines(path, args.requests) {
            Ok(urls) => (None, urls),
            Err(e) => {
                eprintln!("fetch: cannot read the URL list: {e}");
                return Ok(ExitCode::from(2)); // a bad argument, like the others
            }
        },
        (Some(template), None) => (None, from_template(template.clone(), args.requests.unwrap_or(10_000))),
        (None, None) => {
            let config =
                ServerConfig { max_delay: Duration::from_millis(args.max_delay_ms), ..ServerConfig::default() };
            let server = Server::bind_localhost(&mut cx, 0, config, SERVER_BASE)?;
            let template = format!("http://localhost:{}/{{}}", server.local_addrs()[0].port());
            (Some(server), from_template(template, args.requests.unwrap_or(10_000)))
        }
    };
    let config = client::Config {
        concurrency: args.concurrency as usize,
        timeout: (args.timeout > 0.0).then(|| Duration::from_secs_f64(args.timeout)),
        dns: DnsConfig { servers: args.dns_servers.clone(), ..DnsConfig::default() },
        ..client::Config::default()
    };
    let mode = if args.quiet {
        Mode::Quiet
    } else if args.jsonl {
        Mode::Jsonl
    } else {
        Mode::Lines
    };
    let client = Client::new(&mut cx, config, urls, Report::new(mode))?;
    let tick = cx.timers.insert(CENSUS_TICK);
    cx.timers.arm(tick, cx.now + CENSUS_EVERY);

    let started = Instant::now();
    let mut app = App { client, server, census, tick };
    reactor.run(&mut app)?;
    let wall = started.elapsed();
    app.census.sample()?;

    let stats = app.client.stats();
    let report = app.client.sink_mut();
    report.out.flush()?;
    report.summary(wall, &stats, &app.census, args.allow_threads);
    if app.census.peak() != 1 {
        eprintln!(
            "fetch: THREAD CHECK FAILED: this process had {} OS threads at its peak (expected 1)",
            app.census.peak()
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

type Urls = Box<dyn Iterator<Item = String>>;

/// Everything on the one reactor: the client, maybe the server, and the census tick.
struct App {
    client: Client<Urls, Report>,
    server: Option<Server>,
    census: Census,
    tick: onethread::timer::TimerId,
}

impl Handler for App {
    fn ready(&mut self, cx: &mut Context<'_>, token: Token, event: &mio::event::Event) {
        match &mut self.server {
            Some(server) if server.owns(token) => server.ready(cx, token, event),
            _ => self.client.ready(cx, token, event),
        }
    }

    fn timer(&mut self, cx: &mut Context<'_>, token: Token) {
        match &mut self.server {
            _ if token == CENSUS_TICK => {
                let _ = self.census.sample();
                cx.timers.arm(self.tick, cx.now + CENSUS_EVERY);
            }
            Some(server) if server.owns(token) => server.timer(cx, token),
            _ => self.client.timer(cx, token),
        }
    }

    fn end_of_turn(&mut self, cx: &mut Context<'_>) {
        self.client.end_of_turn(cx);
        let _ = self.client.sink_mut().out.flush(); // one write per turn, not per line
    }

    fn is_done(&self) -> bool {
        self.client.is_done()
    }
}

// ---- input ----------------------------------------------------------------------

fn from_template(template: String, n: u64) -> Urls {
    Box::new((0..n).map(move |i| template.replace("{}", &i.to_string())))
}

/// URLs read lazily, line by line, so a list of any length costs no memory.
fn url_lines(path: &PathBuf, limit: Option<u64>) -> io::Result<Urls> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let file = File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Box::new(BufReader::new(file))
    };
    let lines = reader
        .lines()
        .map_while(|line| match line {
            Ok(line) => Some(line),
            Err(e) => {
                eprintln!("fetch: stopped reading URLs: {e}");
                None
            }
        })
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'));
    Ok(match limit {
        Some(n) => Box::new(lines.take(n as usize)),
        None => Box::new(lines),
    })
}

// ---- output ---------------------------------------------------------------------

enum Mode {
    /// The seed's `DATE:URL with delay D`.
    Lines,
    Jsonl,
    Quiet,
}

struct Report {
    out: BufWriter<io::Stdout>,
    mode: Mode,
    successes: u64,
    body_bytes: u64,
    errors: Vec<(ErrorKind, u64, String)>,
}

impl Report {
    fn new(mode: Mode) -> Self {
        Report {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
            mode,
            successes: 0,
            body_bytes: 0,
            errors: Vec::new(),
        }
    }

    fn summary(&self, wall: Duration, stats: &client::Stats, census: &Census, allow_threads: bool) {
        let failed: u64 = self.errors.iter().map(|e| e.1).sum();
        let secs = wall.as_secs_f64();
        let mut s = String::new();
        s += &format!(
            "fetch: {} requests in {secs:.3} s: {:.0} requests/s\n",
            stats.requests,
            stats.requests as f64 / secs.max(1e-9)
        );
        s += &format!("  successes        {}\n", self.successes);
        s += &format!("  errors           {failed}\n");
        for (kind, count, example) in &self.errors {
            s += &format!("    {kind:<18} {count}  e.g. {example}\n");
        }
        s += &format!("  body bytes       {}\n", self.body_bytes);
        s += &format!(
            "  connections      {} opened, {} reuses; {} DNS lookups, {} retries\n",
            stats.connections_opened, stats.connections_reused, stats.dns_lookups, stats.retries
        );
        let guard = if allow_threads { "creation allowed" } else { "creation forbidden" };
        s += &format!("  peak OS threads  {} ({} samples, {guard})\n", census.peak(), census.samples());
        eprint!("{s}");
    }
}

impl Sink for Report {
    fn outcome(&mut self, o: &Outcome<'_>) {
        match &o.result {
            Ok(r) => {
                self.successes += 1;
                self.body_bytes += r.body_len;
            }
            Err(e) => match self.errors.iter_mut().find(|(k, ..)| *k == e.kind) {
                Some(entry) => entry.1 += 1,
                None => self.errors.push((e.kind, 1, format!("{}: {}", o.url, e.message))),
            },
        }
        let _ = match self.mode {
            Mode::Quiet => Ok(()),
            Mode::Lines => write_line(&mut self.out, o),
            Mode::Jsonl => write_json(&mut self.out, o),
        };
    }
}

fn header<'a>(o: &Outcome<'a>, name: &str) -> Option<&'a str> {
    let r = o.result.as_ref().ok()?;
    r.headers.get(name).and_then(|v| std::str::from_utf8(v).ok())
}

fn write_line(out: &mut impl Write, o: &Outcome<'_>) -> io::Result<()> {
    match &o.result {
        Ok(_) => {
            let date = header(o, "date").unwrap_or("-");
            let delay = header(o, "delay").unwrap_or("-");
            writeln!(out, "{date}:{} with delay {delay}", o.url)
        }
        Err(e) => writeln!(out, "{} failed: {}: {}", o.url, e.kind, e.message),
    }
}

fn write_json(out: &mut impl Write, o: &Outcome<'_>) -> io::Result<()> {
    out.write_all(b"{\"url\":")?;
    json_str(out, o.url)?;
    match &o.result {
        Ok(r) => write!(out, ",\"status\":{},\"bytes\":{},\"error\":null,\"message\":null", r.status, r.body_len)?,
        Err(e) => {
            write!(out, ",\"status\":null,\"bytes\":0,\"error\":\"{}\",\"message\":", e.kind)?;
            json_str(out, &e.message)?;
        }
    }
    out.write_all(b",\"delay\":")?;
    match header(o, "delay") {
        Some(d) => json_str(out, d)?,
        None => out.write_all(b"null")?,
    }
    writeln!(out, ",\"ms\":{:.3}}}", o.elapsed.as_secs_f64() * 1000.0)
}

/// A JSON string literal (RFC 8259 §7).
fn json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.write_all(&s.as_bytes()[plain..i])?;
        if escape.is_empty() {
            write!(out, "\\u{:04x}", c as u32)?;
        } else {
            out.write_all(escape.as_bytes())?;
        }
        plain = i + c.len_utf8();
    }
    out.write_all(&s.as_bytes()[plain..])?;
    out.write_all(b"\"")
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
