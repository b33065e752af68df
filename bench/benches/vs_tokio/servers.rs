//! The one server every client talks to: nginx, or onethread's own `server` example.
//!
//! nginx is the neutral party: nobody's client was tuned against it. It runs from a
//! config generated into a temporary directory that also holds its pid file, error log
//! and temp paths, so it needs no root and touches nothing outside; one process
//! (`master_process off`), `daemon off`, no access log, keep-alive for a million
//! requests, a listen backlog big enough for 1,000 simultaneous connects, and a 6-byte
//! body. The built-in server answers with a 6-byte body too, so the two tables compare.
//!
//! Both are started through [`pin::prepare`](crate::pin::prepare) on the server's CPU.
//!
//! Over HTTPS ([`Tls`]), nginx gets `listen … ssl` with a certificate the bench makes at
//! start (rcgen, ECDSA P-256, for `localhost`, `127.0.0.1` and `::1`, the same kind the
//! built-in server makes), TLS 1.3 only and session tickets on. The built-in server runs
//! with `--https --cert-out FILE`: it makes its own certificate and writes it where the
//! clients read it (`--cacert`).

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::pin;

pub const NGINX: &str = "/usr/sbin/nginx";

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Builtin,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Builtin => "builtin",
        }
    }
}

/// Finds nginx: the usual path, or `nginx` on the PATH.
pub fn nginx_path() -> Option<PathBuf> {
    if Path::new(NGINX).exists() {
        return Some(NGINX.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("nginx")).find(|p| p.is_file())
}

/// A running server; killed (and its directory removed) on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    /// nginx's directory (config, logs, pid, temp paths).
    dir: Option<PathBuf>,
    /// `nginx version: nginx/1.22.1`, or the built-in server's description.
    pub version: String,
    /// Over HTTPS: the certificate clients trust (PEM).
    pub cacert: Option<PathBuf>,
}

/// Where the TLS files go: `DIR/cert.pem` and `DIR/key.pem` for nginx (made once, by
/// [`Tls::make`]), `DIR/builtin.pem` written by the built-in server.
pub struct Tls {
    pub dir: PathBuf,
}

impl Tls {
    /// A self-signed certificate and its key, as the built-in server makes its own.
    pub fn make(dir: &Path) -> Result<Tls, String> {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
        let made = rcgen::generate_simple_self_signed(names).map_err(|e| format!("rcgen: {e}"))?;
        let write = |name: &str, text: String| {
            fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.join(name).display()))
        };
        write("cert.pem", made.cert.pem())?;
        write("key.pem", made.signing_key.serialize_pem())?;
        Ok(Tls { dir: dir.to_owned() })
    }
}

impl Server {
    /// The server's process id (its CPU time is in `/proc/PID/stat`).
    #[allow(dead_code)] // for the pipeline bench
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn start(kind: Kind, builtin: &Path, cpu: Option<usize>, tls: Option<&Tls>) -> Result<Server, String> {
        match kind {
            Kind::Builtin => start_builtin(builtin, cpu, tls),
            Kind::Nginx => {
                let nginx = nginx_path().ok_or("nginx is not installed")?;
                let mut last = String::new();
                // A port free now may be taken before nginx binds it: try a few.
                for attempt in 0..5 {
                    match start_nginx(&nginx, cpu, attempt, tls) {
                        Ok(server) => return Ok(server),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }
}

fn start_builtin(bin: &Path, cpu: Option<usize>, tls: Option<&Tls>) -> Result<Server, String> {
    let mut command = Command::new(bin);
    command.args(["--listen", "127.0.0.1:0", "--body-bytes", "6"]);
    let cacert = tls.map(|tls| tls.dir.join("builtin.pem"));
    if let Some(cacert) = &cacert {
        let _ = fs::remove_file(cacert);
        command.arg("--https").arg("--cert-out").arg(cacert);
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    pin::prepare(&mut command, cpu);
    let mut child = command.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let line = lines.next().and_then(Result::ok).unwrap_or_default();
    let port = line.strip_prefix("listening on ").and_then(|a| a.rsplit(':').next()).and_then(|p| p.parse().ok());
    let Some(port) = port else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("the built-in server did not start (it said {line:?})"));
    };
    let version = match tls {
        None => "onethread examples/server, 6-byte body",
        Some(_) => "onethread examples/server --https (rustls, ring; TLS 1.3, tickets), 6-byte body",
    };
    Ok(Server { child, port, dir: None, version: version.into(), cacert })
}

fn start_nginx(nginx: &Path, cpu: Option<usize>, attempt: u32, tls: Option<&Tls>) -> Result<Server, String> {
    let dir = std::env::temp_dir().join(format!("onethread-vs-tokio-nginx-{}-{attempt}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let config = dir.join("nginx.conf");
    fs::write(&config, nginx_config(&dir, port, tls)).map_err(|e| format!("{}: {e}", config.display()))?;
    let version = Command::new(nginx).arg("-v").output().map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned());

    let mut command = Command::new(nginx);
    // -p: the prefix for relative paths; -e: the error log before the config is read
    // (otherwise nginx opens its compiled-in /var/log/nginx/error.log first).
    command.arg("-p").arg(&dir).arg("-e").arg(dir.join("error.log")).arg("-c").arg(&config);
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    pin::prepare(&mut command, cpu);
    let mut child = command.spawn().map_err(|e| format!("{}: {e}", nginx.display()))?;
    // Wait until it accepts connections, or exits.
    let start = Instant::now();
    let failure = loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            break format!("nginx exited ({status}): {}", log.lines().last().unwrap_or(""));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let mut version = version.unwrap_or_default();
            if tls.is_some() {
                version += " (TLS 1.3, session tickets, ECDSA P-256 certificate made by the bench)";
            }
            let cacert = tls.map(|tls| tls.dir.join("cert.pem"));
            return Ok(Server { child, port, dir: Some(dir), version, cacert });
        }
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            break "nginx did not accept connections within 5 s".into();
        }
        thread::sleep(Duration::from_millis(10));
    };
    let _ = fs::remove_dir_all(&dir);
    Err(failure)
}

/// nginx's configuration: everything it writes stays in `dir`.
fn nginx_config(dir: &Path, port: u16, tls: Option<&Tls>) -> String {
    let d = dir.display();
    let (ssl, ssl_settings) = match tls {
        None => ("", String::new()),
        Some(tls) => (
            " ssl",
            format!(
                "        ssl_certificate {cert};\n        ssl_certificate_key {key};\n        \
                 ssl_protocols TLSv1.3;\n        ssl_session_tickets on;\n        ssl_session_timeout 1h;\n",
                cert = tls.dir.join("cert.pem").display(),
                key = tls.dir.join("key.pem").display()
            ),
        ),
    };
    format!(
        r#"# Generated by benches/vs_tokio: one process, keep-alive, a 6-byte body.
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {d}/nginx.pid;
error_log {d}/error.log warn;

events {{
    worker_connections 16384;
}}

http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port}{ssl} backlog=4096;
{ssl_settings}        location / {{
            return 200 "hello\n";
        }}
    }}
}}
"#
    )
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}
