//! A hand-written HTTP/1.1 client on tokio's `TcpStream`, with the same `httparse`
//! crate onethread uses, on a `current_thread` runtime.
//!
//! It exists to split a difference in two. hyper on tokio costs more CPU per request
//! than onethread; is that tokio's runtime (task wake-ups, the I/O driver, its
//! bookkeeping) or hyper's layers (the legacy `Client`'s pool, its connector, its body
//! types)? This peer keeps tokio and drops hyper: each of the C worker tasks owns one
//! keep-alive connection, writes a request, and reads the response with `httparse`
//! into one buffer. What it costs above onethread is roughly tokio's share.
//!
//! Deliberately small: GET only, `http://` only, no pipelining, no 1xx interim
//! responses, `Content-Length` and chunked bodies (anything else, such as a
//! close-delimited body, is a clear error), and one reconnect
//! when a reused connection turns out to be closed. The host must be an IP address, so
//! that no lookup goes to tokio's blocking pool: this peer measures HTTP, not DNS.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;

use super::{Options, PeerResult};

/// Room for a response head; bodies in this benchmark are a few bytes.
const BUFFER: usize = 16 * 1024;

pub fn run(template: &str, n: usize, c: usize, options: &Options) -> PeerResult {
    if options.cacert.is_some() || options.close {
        return PeerResult {
            ok: 0,
            failed: n,
            first_error: Some("this peer speaks plain keep-alive HTTP only".into()),
        };
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let target = match Target::parse(template) {
        Ok(target) => Arc::new(target),
        Err(e) => return PeerResult { ok: 0, failed: n, first_error: Some(e) },
    };
    runtime.block_on(async move {
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..c.clamp(1, n.max(1)))
            .map(|_| tokio::spawn(worker(Arc::clone(&target), Arc::clone(&next), n)))
            .collect();
        let mut total = PeerResult::default();
        for worker in workers {
            let part =
                worker.await.unwrap_or_else(|e| PeerResult { ok: 0, failed: 1, first_error: Some(e.to_string()) });
            total.ok += part.ok;
            total.failed += part.failed;
            if total.first_error.is_none() {
                total.first_error = part.first_error;
            }
        }
        total
    })
}

/// `http://IP:PORT/path{}`, split once.
struct Target {
    addr: SocketAddr,
    host: String,
    /// The path around the `{}`: before and after.
    path: (String, String),
}

impl Target {
    fn parse(template: &str) -> Result<Target, String> {
        let rest = template.strip_prefix("http://").ok_or_else(|| format!("{template}: only http:// is supported"))?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr = host.parse().map_err(|_| format!("{template}: the host must be IP:PORT (no DNS in this peer)"))?;
        let path = if path.is_empty() { "/" } else { path };
        let (before, after) = path.split_once("{}").unwrap_or((path, ""));
        Ok(Target { addr, host: host.to_owned(), path: (before.to_owned(), after.to_owned()) })
    }
}

/// One worker: one connection at a time, requests one after another.
async fn worker(target: Arc<Target>, next: Arc<AtomicUsize>, n: usize) -> PeerResult {
    let mut result = PeerResult::default();
    let mut conn: Option<Conn> = None;
    let mut request = Vec::with_capacity(256);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            return result;
        }
        request.clear();
        let (before, after) = &target.path;
        request
            .extend_from_slice(format!("GET {before}{i}{after} HTTP/1.1\r\nHost: {}\r\n\r\n", target.host).as_bytes());
        match get(&target, &mut conn, &request).await {
            Ok(status) if (200..300).contains(&status) => result.ok += 1,
            Ok(status) => fail(&mut result, format!("request {i}: status {status}")),
            Err(e) => {
                conn = None;
                fail(&mut result, format!("request {i}: {e}"));
            }
        }
    }
}

fn fail(result: &mut PeerResult, message: String) {
    result.failed += 1;
    result.first_error.get_or_insert(message);
}

/// One request on the worker's connection, opening one if there is none. A reused
/// connection that fails before any response byte arrives (the server closed it while
/// idle) is replaced once.
async fn get(target: &Target, conn: &mut Option<Conn>, request: &[u8]) -> Result<u16, String> {
    let reused = conn.is_some();
    let current = match conn {
        Some(c) => c,
        None => conn.insert(Conn::open(target.addr).await?),
    };
    let outcome = match current.exchange(request).await {
        Err(Failure::BeforeResponse(_)) if reused => {
            let fresh = conn.insert(Conn::open(target.addr).await?);
            fresh.exchange(request).await
        }
        outcome => outcome,
    };
    match outcome {
        Ok((status, keep_alive)) => {
            if !keep_alive {
                *conn = None;
            }
            Ok(status)
        }
        Err(Failure::BeforeResponse(e) | Failure::During(e)) => Err(e),
    }
}

enum Failure {
    /// Nothing of the response arrived: safe to retry on a new connection.
    BeforeResponse(String),
    During(String),
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` in use (a response may arrive with the next one's start: not
    /// here, since requests are not pipelined, but the code does not assume it).
    len: usize,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        Ok(Conn { stream, buf: vec![0; BUFFER], len: 0 })
    }

    /// Writes the request and reads the whole response: its status and whether the
    /// connection may carry another request.
    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, bool), Failure> {
        self.write_all(request).await.map_err(|e| Failure::BeforeResponse(format!("write: {e}")))?;
        // The head.
        let (status, keep_alive, framing, head_len) = loop {
            let got = self.read().await;
            match got {
                Ok(0) | Err(_) if self.len == 0 => {
                    let why = got.err().unwrap_or_else(|| "connection closed".into());
                    return Err(Failure::BeforeResponse(why));
                }
                Ok(0) => return Err(Failure::During("connection closed in the response head".into())),
                Err(e) => return Err(Failure::During(e)),
                Ok(_) => {}
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf[..self.len]) {
                Ok(httparse::Status::Complete(head_len)) => {
                    let status = response.code.unwrap_or(0);
                    let (framing, keep_alive) = framing(&response).map_err(Failure::During)?;
                    break (status, keep_alive, framing, head_len);
                }
                Ok(httparse::Status::Partial) if self.len == self.buf.len() => {
                    return Err(Failure::During(format!("response head larger than {BUFFER} bytes")));
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(Failure::During(format!("bad response head: {e}"))),
            }
        };
        self.consume(head_len);
        match framing {
            Framing::Length(length) => self.skip(length).await?,
            Framing::Chunked => self.skip_chunks().await?,
        }
        Ok((status, keep_alive))
    }

    /// Writes all of `bytes`. Straight on tokio's readiness API (`writable`, then
    /// `try_write`), which is all that `AsyncWriteExt` would do here.
    async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.stream.writable().await?;
            match self.stream.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads more bytes after `len`; `Ok(0)` is the end of the stream.
    async fn read(&mut self) -> Result<usize, String> {
        loop {
            self.stream.readable().await.map_err(|e| format!("read: {e}"))?;
            match self.stream.try_read(&mut self.buf[self.len..]) {
                Ok(got) => {
                    self.len += got;
                    return Ok(got);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Drops the first `n` buffered bytes.
    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Reads and discards `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> Result<(), Failure> {
        loop {
            let here = (self.len as u64).min(n) as usize;
            self.consume(here);
            n -= here as u64;
            if n == 0 {
                return Ok(());
            }
            if self.read().await.map_err(Failure::During)? == 0 {
                return Err(Failure::During("connection closed in the body".into()));
            }
        }
    }

    /// Reads and discards a chunked body, trailers included.
    async fn skip_chunks(&mut self) -> Result<(), Failure> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf[..self.len]) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.consume(used);
                        break size;
                    }
                    Ok(httparse::Status::Partial) => self.fill().await?,
                    Err(_) => return Err(Failure::During("bad chunk size".into())),
                }
            };
            if size == 0 {
                // Trailers, if any, then the empty line.
                loop {
                    match self.buf[..self.len].windows(2).position(|w| w == b"\r\n") {
                        Some(0) => {
                            self.consume(2);
                            return Ok(());
                        }
                        Some(at) => self.consume(at + 2),
                        None => self.fill().await?,
                    }
                }
            }
            self.skip(size + 2).await?; // the chunk and its CRLF
        }
    }

    /// Reads at least one more byte, or fails.
    async fn fill(&mut self) -> Result<(), Failure> {
        if self.len == self.buf.len() {
            return Err(Failure::During("chunk framing line too long".into()));
        }
        match self.read().await.map_err(Failure::During)? {
            0 => Err(Failure::During("connection closed in a chunked body".into())),
            _ => Ok(()),
        }
    }
}

enum Framing {
    Length(u64),
    Chunked,
}

/// How the body is framed, and whether the connection stays open after it.
fn framing(response: &httparse::Response) -> Result<(Framing, bool), String> {
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = response.version == Some(1);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<u64>().map_err(|_| format!("bad Content-Length {value:?}"))?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
            if !chunked {
                return Err(format!("unsupported Transfer-Encoding {value:?}"));
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            keep_alive =
                !value.eq_ignore_ascii_case("close") && (keep_alive || value.eq_ignore_ascii_case("keep-alive"));
        }
    }
    let status = response.code.unwrap_or(0);
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok((Framing::Length(0), keep_alive));
    }
    match (chunked, length) {
        (true, _) => Ok((Framing::Chunked, keep_alive)),
        (false, Some(n)) => Ok((Framing::Length(n), keep_alive)),
        (false, None) => Err("response without Content-Length or chunked framing (unsupported here)".into()),
    }
}
