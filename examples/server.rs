//! `server`: the built-in test server as a process of its own, on one thread.
//!
//! `GET /<anything>` answers 200 with a short body and `Date` and `Delay` headers,
//! after a random 0..=`--max-delay-ms` milliseconds (a reactor timer, not a sleep).
//! Like `fetch`, it forbids itself from creating threads unless `--allow-threads`.
//! It prints `listening on ADDR` for each address, then serves until killed. With
//! `--https` it serves TLS with a certificate made at start-up (for `localhost`,
//! `127.0.0.1` and `::1`), written to `--cert-out` for clients to trust (`--cacert`).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[path = "fetch/https.rs"]
mod https;
use onethread::proof;
use onethread::reactor::Reactor;
use onethread::server::{Server, ServerConfig};

#[derive(Parser, Debug)]
#[command(version, about = "The onethread test server: HTTP/1.1 on one thread.")]
struct Args {
    /// Address to listen on (repeatable); port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: Vec<SocketAddr>,
    /// Delay each response by a random 0..=MS milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    max_delay_ms: u64,
    /// Size of each response body.
    #[arg(long, value_name = "N", default_value_t = 14)]
    body_bytes: usize,
    /// Seed for the random delays.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Do not forbid thread creation.
    #[arg(long)]
    allow_threads: bool,
    /// Serve HTTPS with a certificate made at start-up.
    #[arg(long)]
    https: bool,
    /// With --https: write the certificate (PEM) here, for clients' --cacert.
    #[arg(long, value_name = "FILE", requires = "https")]
    cert_out: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("server: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn run(args: Args) -> io::Result<()> {
    if args.listen.len() > 8 {
        return Err(io::Error::other("at most 8 --listen addresses"));
    }
    if !args.allow_threads {
        proof::forbid_new_threads().map_err(|e| io::Error::other(format!("cannot forbid thread creation: {e}")))?;
    }
    let body = b"Hello, World!\n".iter().copied().cycle().take(args.body_bytes).collect();
    let mut config = ServerConfig {
        max_delay: Duration::from_millis(args.max_delay_ms),
        body,
        seed: args.seed,
        ..ServerConfig::default()
    };
    if args.https {
        let identity = https::server_identity()?;
        config.tls = Some(identity.config);
        if let Some(path) = &args.cert_out {
            std::fs::write(path, identity.pem)?;
        }
    }
    let mut reactor = Reactor::new(1024)?;
    let mut server = Server::bind(&mut reactor.context(), &args.listen, config, 0)?;
    let mut out = io::stdout().lock();
    for addr in server.local_addrs() {
        writeln!(out, "listening on {addr}")?;
    }
    out.flush()?;
    drop(out);
    reactor.run(&mut server)
}
