//! hyper 1.x through hyper-util's legacy `Client` and its default `HttpConnector`.
//!
//! `HttpConnector` resolves names with `GaiResolver`: `getaddrinfo` inside
//! `tokio::task::spawn_blocking`, once for every new connection (the connector has no
//! DNS cache). Those calls run on tokio's blocking pool, which exists on *both* runtime
//! flavours; `multi_thread` adds one worker thread per CPU on top.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{PeerResult, drive};

/// On `#[tokio::main(flavor = "current_thread")]`'s runtime.
pub fn run_current_thread(template: &str, n: usize, c: usize) -> PeerResult {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(fetch_all(template, n, c))
}

/// On `#[tokio::main]`'s runtime: one worker per CPU.
pub fn run_multi_thread(template: &str, n: usize, c: usize) -> PeerResult {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(fetch_all(template, n, c))
}

async fn fetch_all(template: &str, n: usize, c: usize) -> PeerResult {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
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
