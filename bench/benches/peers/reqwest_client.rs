//! reqwest's async `Client` with its defaults, on a `current_thread` tokio runtime.
//!
//! reqwest's default resolver wraps hyper-util's `GaiResolver`, so lookups go to the
//! blocking pool just as with hyper. (Its `blocking` client would add one more thread,
//! `reqwest-internal-sync-runtime`; we use the async client.)
//!
//! Over HTTPS (`--cacert`), reqwest's own rustls set-up with *ring* installed as the
//! process's default provider (the crate is built with `rustls-no-provider`, not with
//! its default aws-lc-rs) and the certificate as the only root (`tls_certs_only`, the
//! successor of the deprecated `add_root_certificate`). With `--close`, the pool keeps
//! no idle connection.

use super::{Options, PeerResult, drive};

pub fn run(template: &str, n: usize, c: usize, options: &Options) -> PeerResult {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        let client = match client(options) {
            Ok(client) => client,
            Err(e) => return PeerResult { ok: 0, failed: n, first_error: Some(e) },
        };
        drive(template, n, c, move |url| {
            let client = client.clone();
            async move {
                let response = client.get(&url).send().await.map_err(|e| format!("{url}: {e}"))?;
                let status = response.status();
                response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
                if status.is_success() { Ok(()) } else { Err(format!("{url}: status {status}")) }
            }
        })
        .await
    })
}

fn client(options: &Options) -> Result<reqwest::Client, String> {
    // reqwest takes the process's default provider when one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder();
    if let Some(path) = &options.cacert {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        builder = builder.tls_certs_only([cert]);
    }
    if options.close {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().map_err(|e| e.to_string())
}
