//! The Rust peers: the seed workload written the way most Rust users would write it.
//!
//! Each peer does N GETs of `template` with `{}` replaced by 0, 1, …, at most C in
//! flight, and reads every body whole. Given a host name, they resolve it through the
//! library's default resolver, because that is where the helper threads come from:
//! hyper-util's `GaiResolver` (also reqwest's default) hands every lookup to tokio's
//! blocking pool with `spawn_blocking`. (`vs_tokio` gives them an IP address instead,
//! to measure HTTP alone; `httparse_client` accepts only an IP address.)
//!
//! The concurrency limit is C worker tasks pulling the next index from a shared
//! counter, which bounds in-flight requests exactly like `Semaphore(C)` around N tasks,
//! without creating N tasks up front. The census (and later benchmarks) run each peer in
//! a process of its own and measure it from outside.
//!
//! Over HTTPS ([`Options`]), hyper and reqwest use rustls with the *ring* provider (the
//! one onethread uses), trusting exactly one certificate, the server's (`--cacert FILE`),
//! and can be told to keep no idle connection (`--close`), so that every request pays
//! a new TCP connection and TLS handshake.

pub mod httparse_client;
pub mod hyper_client;
pub mod reqwest_client;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a peer reports: successful requests (status 2xx, body read) and the rest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PeerResult {
    pub ok: usize,
    pub failed: usize,
    /// The first failure's message, to explain a row full of errors.
    pub first_error: Option<String>,
}

/// A peer: `run(template, n, c, options)`.
pub type Run = fn(&str, usize, usize, &Options) -> PeerResult;

/// How a peer connects, beyond the URL: `--cacert FILE` and `--close` after the
/// positional arguments of `--peer NAME URL N C`.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// For `https://`: trust this PEM certificate, and nothing else.
    pub cacert: Option<PathBuf>,
    /// A new connection for every request: the pool keeps no idle connection.
    pub close: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--cacert" => options.cacert = Some(it.next().ok_or("--cacert needs a file")?.into()),
                "--close" => options.close = true,
                other => return Err(format!("unknown peer option {other}")),
            }
        }
        Ok(options)
    }

    /// The same options as arguments, for a peer's command line.
    pub fn args(&self) -> Vec<std::ffi::OsString> {
        let mut args = Vec::new();
        if let Some(cacert) = &self.cacert {
            args.extend(["--cacert".into(), cacert.clone().into_os_string()]);
        }
        if self.close {
            args.push("--close".into());
        }
        args
    }

    /// rustls on *ring*, trusting the `--cacert` certificate alone; `None` without one.
    pub fn rustls_config(&self) -> Result<Option<rustls::ClientConfig>, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let Some(path) = &self.cacert else { return Ok(None) };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))? {
            roots.add(cert.map_err(|e| format!("{}: {e}", path.display()))?).map_err(|e| e.to_string())?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(config))
    }
}

/// The Rust peers by name: the name the census passes on the command line, and the run.
pub const PEERS: &[(&str, Run)] = &[
    ("hyper-current-thread", hyper_client::run_current_thread),
    ("hyper-multi-thread", hyper_client::run_multi_thread),
    ("reqwest", reqwest_client::run),
    ("httparse-current-thread", httparse_client::run),
];

/// Looks a peer up by name.
pub fn find(name: &str) -> Option<Run> {
    PEERS.iter().find(|(n, _)| *n == name).map(|&(_, run)| run)
}

/// Runs `get` for every URL on C worker tasks of the current tokio runtime.
///
/// `get` returns `Err(message)` for a failed request. Must be called inside a runtime.
pub async fn drive<F, Fut>(template: &str, n: usize, c: usize, get: F) -> PeerResult
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let template: Arc<str> = template.into();
    let mut workers = Vec::with_capacity(c);
    for _ in 0..c.clamp(1, n.max(1)) {
        let (next, template, get) = (Arc::clone(&next), Arc::clone(&template), get.clone());
        workers.push(tokio::spawn(async move {
            let mut result = PeerResult::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return result;
                }
                match get(template.replace("{}", &i.to_string())).await {
                    Ok(()) => result.ok += 1,
                    Err(e) => {
                        result.failed += 1;
                        result.first_error.get_or_insert(e);
                    }
                }
            }
        }));
    }
    let mut total = PeerResult::default();
    for worker in workers {
        let part = worker.await.unwrap_or_else(|e| PeerResult { failed: 1, first_error: Some(e.to_string()), ok: 0 });
        total.ok += part.ok;
        total.failed += part.failed;
        if total.first_error.is_none() {
            total.first_error = part.first_error;
        }
    }
    total
}
