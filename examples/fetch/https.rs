//! `--https`: the built-in server speaks TLS, with a certificate made at start-up.
//!
//! The certificate is self-signed, for `localhost`, `127.0.0.1` and `::1`, and lives
//! only in this process: the server presents it, and this run's client trusts it and
//! nothing else. So the seed workload runs over real TLS 1.3 — handshakes, session
//! tickets, encrypted records — with no file to manage and no system trust to touch.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// What `--https` makes: the server's TLS configuration, and its certificate for the
/// client to trust (as DER, and as PEM for other clients' `--cacert`).
#[allow(dead_code)] // `fetch` trusts the DER; the `server` program writes the PEM
pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    pub certificate: CertificateDer<'static>,
    pub pem: String,
}

pub fn server_identity() -> io::Result<Identity> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let certificate = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .map_err(io::Error::other)?;
    // Stateless tickets: any number of clients can resume (the default session cache
    // holds 256, and a thousand handshakes at once push tickets out before their use).
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(io::Error::other)?;
    Ok(Identity { config: Arc::new(config), certificate, pem: made.cert.pem() })
}
