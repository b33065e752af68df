//! TLS for the tests: a private CA and the certificates it signs (made with rcgen at
//! test time), and a TLS server that runs a script per connection, on threads of its
//! own (fine in a test process; only the measured workload must stay on one thread).

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A server's certificate chain and key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// A certificate authority of the tests' own.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Ca { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// The CA's certificate, as a PEM bundle for `--cacert`.
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.issuer.pem()).unwrap();
    }

    /// A certificate for `names` (host names or IP addresses), signed by this CA;
    /// `expired` makes one whose validity ended years ago.
    pub fn issue(&self, names: &[&str], expired: bool) -> Identity {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        if expired {
            params.not_before = date_time_ymd(2001, 1, 1);
            params.not_after = date_time_ymd(2002, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Identity { chain: vec![cert.der().clone(), self.issuer.der().clone()], key }
    }
}

/// A TLS connection, server side, as the scripts see it.
pub type Tls = StreamOwned<ServerConnection, TcpStream>;

/// A TLS server with `identity`, offering `alpn` (empty: no ALPN), that runs `script`
/// on each accepted connection once its handshake is done (or failed: the script then
/// sees errors). Returns its address.
pub fn tls_server<F>(identity: Identity, alpn: &[&[u8]], script: F) -> SocketAddr
where
    F: Fn(&mut Tls) + Send + Sync + 'static,
{
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(script);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (config, script) = (Arc::clone(&config), Arc::clone(&script));
            thread::spawn(move || {
                let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), stream);
                script(&mut tls);
            });
        }
    });
    addr
}

/// Reads one request head from any stream (the plain tests' reader).
pub use super::read_request as read_head;

/// Answers every request on the connection with `response` until the peer closes.
pub fn answer_every(tls: &mut Tls, response: &[u8]) {
    while read_head(tls).is_some() {
        if tls.write_all(response).and_then(|()| tls.flush()).is_err() {
            return;
        }
    }
}

/// Ends the connection properly: `close_notify`, written out, then the socket.
pub fn close_properly(tls: &mut Tls) {
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
}
