//! TLS settings: which certificates to trust, and the one rustls configuration a client
//! shares across all its connections.
//!
//! rustls fits this reactor the way c-ares does: it is sans-I/O. It never touches a
//! socket; the transport hands it the bytes it read (`read_tls`) and writes out what it
//! asks (`write_tls`), and the encryption happens on the one thread, inside those calls.
//! The crypto provider is *ring*: it builds with a C compiler alone and starts no
//! thread (NOTES.md §4 has the comparison with aws-lc-rs).
//!
//! Trust follows curl: the system's CA store by default (read once, at the first
//! `https` connection: a plain-HTTP run never pays for it), a PEM bundle instead (`--cacert`), or no verification at
//! all (`--insecure`, which still checks the handshake's signatures, so only *who* the
//! server is goes unchecked). Sessions are resumed with tickets, per server name, from
//! rustls's in-memory store: the second connection to a host skips the full handshake.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::ErrorKind;

/// Which servers a client believes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Trust {
    /// The system's CA store (`/etc/ssl/certs` and the like, as `rustls-native-certs`
    /// finds it).
    #[default]
    System,
    /// Only the CAs in this PEM bundle (curl's `--cacert`).
    Bundle(PathBuf),
    /// Only these certificates (say, the one a built-in test server just made).
    Roots(Vec<CertificateDer<'static>>),
    /// Anyone: the certificate is not verified (curl's `-k`/`--insecure`).
    Insecure,
}

/// The rustls configuration for `trust`: TLS 1.2 and 1.3, ALPN `http/1.1`, resumption
/// by tickets.
pub fn client_config(trust: &Trust) -> io::Result<Arc<ClientConfig>> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let mut config = match trust {
        Trust::Insecure => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(Unverified(provider))).with_no_client_auth()
        }
        _ => builder.with_root_certificates(roots(trust)?).with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn roots(trust: &Trust) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match trust {
        Trust::Bundle(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: {e}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                let why = format!("{}: no certificate in the bundle", path.display());
                return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
            }
        }
        Trust::Roots(certs) => {
            let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
            if added == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "no usable root certificate"));
            }
        }
        Trust::System | Trust::Insecure => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = match found.errors.first() {
                    Some(e) => format!("no usable CA certificate in the system's store ({e}); use --cacert"),
                    None => "no CA certificate in the system's store; use --cacert".into(),
                };
                return Err(io::Error::other(why));
            }
        }
    }
    Ok(roots)
}

/// The name a host is known by in TLS: a DNS name (sent as SNI), or an IP address
/// (never sent as SNI, and matched against the certificate's IP addresses).
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).ok()
}

/// The error kind of a failed handshake or of a TLS failure mid-exchange: a
/// certificate that is not to be trusted, or anything else TLS said.
pub fn error_kind(e: &io::Error) -> Option<ErrorKind> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(_) => ErrorKind::TlsCertificate,
        _ => ErrorKind::Tls,
    })
}

/// `--insecure`: every certificate is accepted, but the handshake's signatures are
/// still checked against the certificate the server sent.
struct Unverified(Arc<CryptoProvider>);

impl fmt::Debug for Unverified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unverified")
    }
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
