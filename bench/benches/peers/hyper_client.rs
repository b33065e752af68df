//! hyper 1.x through hyper-util's legacy `Client` and its default `HttpConnector`.
//!
//! `HttpConnector` resolves names with `GaiResolver`: `getaddrinfo` inside
//! `tokio::task::spawn_blocking`, once for every new connection (the connector has no
//! DNS cache). Those calls run on tokio's blocking pool, which exists on *both* runtime
//! flavours; `multi_thread` adds one worker thread per CPU on top.
//!
//! With `--cacert`, the connector is hyper-rustls's `HttpsConnector` around the same
//! `HttpConnector`, with rustls on *ring*: the TLS work (handshakes, record encryption)
//! runs inside the connection's I/O, on whichever thread polls the task, the runtime's
//! worker(s). With `--close`, the pool keeps no idle connection
//! (`pool_max_idle_per_host(0)`), so each request makes a new connection.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;

use super::{Options, PeerResult, drive};

/// On `#[tokio::main(flavor = "current_thread")]`'s runtime.
pub fn run_current_thread(template: &str, n: usize, c: usize, options: &Options) -> PeerResult {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(start(template, n, c, options))
}

/// On `#[tokio::main]`'s runtime: one worker per CPU.
pub fn run_multi_thread(template: &str, n: usize, c: usize, options: &Options) -> PeerResult {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(start(template, n, c, options))
}

async fn start(template: &str, n: usize, c: usize, options: &Options) -> PeerResult {
    let mut builder = Client::builder(TokioExecutor::new());
    if options.close {
        builder.pool_max_idle_per_host(0);
    }
    match options.rustls_config() {
        Ok(None) => fetch_all(builder.build(HttpConnector::new()), template, n, c).await,
        Ok(Some(config)) => {
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .enable_http1()
                .build();
            fetch_all(builder.build(https), template, n, c).await
        }
        Err(e) => PeerResult { ok: 0, failed: n, first_error: Some(e) },
    }
}

async fn fetch_all<K>(client: Client<K, Empty<Bytes>>, template: &str, n: usize, c: usize) -> PeerResult
where
    K: Connect + Clone + Send + Sync + 'static,
{
    drive(template, n, c, move |url| {
        let client = client.clone();
        async move {
            let uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
            let response = client.get(uri).await.map_err(|e| format!("{url}: {e}"))?;
            let status = response.status();
            response.into_body().collect().await.map_err(|e| format!("{url}: {e}"))?;
            if status.is_success() { Ok(()) } else { Err(format!("{url}: status {status}")) }
        }
    })
    .await
}
