//! reqwest's async `Client` with its defaults, on a `current_thread` tokio runtime.
//!
//! reqwest's default resolver wraps hyper-util's `GaiResolver`, so lookups go to the
//! blocking pool just as with hyper. (Its `blocking` client would add one more thread,
//! `reqwest-internal-sync-runtime`; we use the async client.)

use super::{PeerResult, drive};

pub fn run(template: &str, n: usize, c: usize) -> PeerResult {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
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
