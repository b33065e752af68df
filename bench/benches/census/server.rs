//! The built-in test server (`examples/server`), in a process of its own.
//!
//! Clients resolve `localhost` by name, as users do, and `localhost` may resolve to
//! `::1` before `127.0.0.1` (Debian lists both). So the server listens on both
//! loopback addresses on the same port, when the machine has IPv6; every client then
//! connects on its first try, whichever address its resolver returns first.
//!
//! For the HTTPS rows, a second server runs with `--https --cert-out FILE`: its
//! certificate (for `localhost`, `127.0.0.1` and `::1`) is what the clients trust.

use std::io::{self, BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct TestServer {
    child: Child,
    pub port: u16,
    pub addrs: Vec<String>,
}

impl TestServer {
    /// `cert_out`: serve HTTPS, and write the certificate there.
    pub fn start(bin: &Path, cert_out: Option<&Path>) -> io::Result<TestServer> {
        let mut last = io::Error::other("no attempt");
        // A port free now may be taken before the server binds it: try a few.
        for _ in 0..5 {
            let v4 = TcpListener::bind("127.0.0.1:0")?;
            let port = v4.local_addr()?.port();
            let mut listen = vec![format!("127.0.0.1:{port}")];
            if TcpListener::bind(("::1", port)).is_ok() {
                listen.push(format!("[::1]:{port}"));
            }
            drop(v4);
            match spawn(bin, &listen, cert_out) {
                Ok(child) => return Ok(TestServer { child, port, addrs: listen }),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// Starts the server and waits for one `listening on` line per address.
fn spawn(bin: &Path, listen: &[String], cert_out: Option<&Path>) -> io::Result<Child> {
    let mut command = Command::new(bin);
    if let Some(cert_out) = cert_out {
        command.arg("--https").arg("--cert-out").arg(cert_out);
    }
    for addr in listen {
        command.arg("--listen").arg(addr);
    }
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    for _ in listen {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("listening on ") => {}
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(format!("server did not start on {}", listen.join(" and "))));
            }
        }
    }
    Ok(child)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
