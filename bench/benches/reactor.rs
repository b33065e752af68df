//! Micro-benchmarks of the reactor, the timer queue and the response decoder, each
//! against a peer doing the same work in the same run
//! (`cargo bench -p onethread-bench --bench reactor`).
//!
//! The fetch workload is made of four small things repeated a million times: a socket
//! becomes readable and a callback runs, a deadline is armed and (usually) cancelled, a
//! connection is accepted or closed, a response head is parsed. Each group below times
//! one of them twice, on onethread and on tokio's `current_thread` runtime (the
//! single-threaded configuration of the runtime every Rust peer in the census uses), so
//! criterion prints both lines together and the ratio can be read off directly.
//!
//! | group          | onethread                                          | peer                                         |
//! |----------------|----------------------------------------------------|----------------------------------------------|
//! | `ping_pong`    | one `Reactor`, one `Handler` owning both ends of a loopback TCP pair; a 1-byte echo per round trip | one runtime, the echo side a spawned task, the client side the `block_on` future |
//! | `timers`       | 100,000 timers armed 0–2 ms ahead, half cancelled, the rest fired by `Reactor::run`; also the bare `Timers` queue with a fake clock | 100,000 spawned tasks each awaiting `sleep_until` at the same deadlines, half aborted, the rest joined |
//! | `accept_close` | 10,000 connections per iteration, connector and acceptor in the same loop, 50 connects in flight | the same on one runtime: 50 connector tasks and an accept loop |
//! | `codec`        | `ResponseDecoder` over a stream of concatenated responses | `httparse` parsing only the heads of the same stream: a floor, not a peer |
//!
//! Fairness notes. Tokio has no timer object outside a future, so its timers are
//! measured the way tokio programs use them (a task awaiting a `Sleep`); that includes
//! spawning the task. Both sides of `timers` use the real clock, so an iteration takes
//! at least the 2 ms spread of the deadlines on both. In `accept_close` every connector
//! closes with `SO_LINGER` 0 (a reset), so no `TIME_WAIT` state piles up and repeated
//! iterations never run out of ephemeral ports. The machine this runs on is shared and
//! noisy; measurement times are kept short, so read ratios, not third digits.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};
use onethread::http1::{Event as Decoded, Limits, ResponseDecoder};
use onethread::reactor::{Context, Handler, Reactor};
use onethread::timer::{TimerId, Timers};
use slab::Slab;
use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// A connected loopback TCP pair, non-blocking, Nagle off: (client end, server end).
fn loopback_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    for end in [&client, &server] {
        end.set_nodelay(true).unwrap();
        end.set_nonblocking(true).unwrap();
    }
    (client, server)
}

/// A non-blocking listener with a backlog deep enough for the connects in flight.
fn deep_listener() -> std::net::TcpListener {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    socket.listen(1024).unwrap();
    socket.set_nonblocking(true).unwrap();
    socket.into()
}

// ---------------------------------------------------------------------------------
// ping_pong: one round trip = the client writes 1 byte, the echo side reads it and
// writes it back, the client reads it. Two readiness events per round trip.

const CLIENT: Token = Token(0);
const ECHO: Token = Token(1);

struct PingPong {
    client: TcpStream,
    echo: TcpStream,
    /// Round trips still to do in this `run`.
    left: u64,
    buf: [u8; 64],
}

/// Reads what is there. Edge-triggered readiness needs the socket drained; a read
/// shorter than the buffer means the kernel had nothing more.
fn read_available(stream: &mut TcpStream, buf: &mut [u8]) -> usize {
    loop {
        match stream.read(buf) {
            Ok(n) => return n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return 0,
            Err(e) => panic!("read: {e}"),
        }
    }
}

impl Handler for PingPong {
    fn ready(&mut self, _cx: &mut Context<'_>, token: Token, _event: &Event) {
        match token {
            ECHO => {
                let n = read_available(&mut self.echo, &mut self.buf);
                // A few bytes into an empty loopback socket buffer never block.
                self.echo.write_all(&self.buf[..n]).expect("echo write");
            }
            CLIENT => {
                if read_available(&mut self.client, &mut self.buf) > 0 {
                    self.left -= 1;
                    if self.left > 0 {
                        self.client.write_all(b"x").expect("client write");
                    }
                }
            }
            _ => unreachable!(),
        }
    }
    fn timer(&mut self, _cx: &mut Context<'_>, _token: Token) {}
    fn is_done(&self) -> bool {
        self.left == 0
    }
}

fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_pong");
    group.throughput(Throughput::Elements(1));

    let mut reactor = Reactor::new(64).unwrap();
    let (client, echo) = loopback_pair();
    let mut pp =
        PingPong { client: TcpStream::from_std(client), echo: TcpStream::from_std(echo), left: 0, buf: [0; 64] };
    let cx = reactor.context();
    cx.registry.register(&mut pp.client, CLIENT, Interest::READABLE).unwrap();
    cx.registry.register(&mut pp.echo, ECHO, Interest::READABLE).unwrap();
    group.bench_function("onethread", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            pp.left = iters;
            pp.client.write_all(b"x").unwrap();
            reactor.run(&mut pp).unwrap();
            start.elapsed()
        })
    });

    let rt = tokio_runtime();
    let (client, echo) = loopback_pair();
    let mut client = {
        let _guard = rt.enter();
        let mut echo = tokio::net::TcpStream::from_std(echo).unwrap();
        rt.spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                match echo.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => echo.write_all(&buf[..n]).await.unwrap(),
                }
            }
        });
        tokio::net::TcpStream::from_std(client).unwrap()
    };
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                let mut byte = [0u8; 1];
                for _ in 0..iters {
                    client.write_all(b"x").await.unwrap();
                    client.read_exact(&mut byte).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------
// timers: arm 100,000 at varied deadlines, cancel every other one, fire the rest.

const TIMERS: usize = 100_000;

/// Deadline of timer `i`: spread over 0..2 ms in a scrambled order, so neither the
/// heap nor the wheel sees them sorted.
fn offset(i: usize) -> Duration {
    Duration::from_micros((i as u64 * 7919) % 2000)
}

struct CountFirings {
    fired: usize,
    want: usize,
}

impl Handler for CountFirings {
    fn ready(&mut self, _cx: &mut Context<'_>, _token: Token, _event: &Event) {}
    fn timer(&mut self, _cx: &mut Context<'_>, _token: Token) {
        self.fired += 1;
    }
    fn is_done(&self) -> bool {
        self.fired == self.want
    }
}

/// One round on the reactor: insert and arm, cancel half, run until the rest fired,
/// then free the slots (as connections free theirs when they close).
fn reactor_timer_round(reactor: &mut Reactor, ids: &mut Vec<TimerId>) {
    let cx = reactor.context();
    let now = cx.now;
    ids.clear();
    for i in 0..TIMERS {
        let id = cx.timers.insert(Token(i));
        cx.timers.arm(id, now + offset(i));
        ids.push(id);
    }
    for id in ids.iter().step_by(2) {
        cx.timers.cancel(*id);
    }
    let mut count = CountFirings { fired: 0, want: TIMERS / 2 };
    reactor.run(&mut count).unwrap();
    for id in ids.drain(..) {
        reactor.timers.remove(id);
    }
}

/// The same round on the bare queue with a fake clock: the data structure alone.
fn queue_timer_round(timers: &mut Timers, ids: &mut Vec<TimerId>) -> usize {
    let now = Instant::now();
    ids.clear();
    for i in 0..TIMERS {
        let id = timers.insert(Token(i));
        timers.arm(id, now + offset(i));
        ids.push(id);
    }
    for id in ids.iter().step_by(2) {
        timers.cancel(*id);
    }
    let later = now + Duration::from_millis(2);
    let fired = std::iter::from_fn(|| timers.pop_expired(later)).count();
    for id in ids.drain(..) {
        timers.remove(id);
    }
    fired
}

async fn tokio_timer_round() {
    let start = tokio::time::Instant::now();
    let mut tasks: Vec<_> = (0..TIMERS).map(|i| tokio::spawn(tokio::time::sleep_until(start + offset(i)))).collect();
    for task in tasks.iter().step_by(2) {
        task.abort();
    }
    for task in tasks.drain(..).skip(1).step_by(2) {
        task.await.unwrap();
    }
}

fn timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(TIMERS as u64));

    let mut reactor = Reactor::new(64).unwrap();
    let mut ids = Vec::with_capacity(TIMERS);
    group.bench_function("onethread_reactor", |b| b.iter(|| reactor_timer_round(&mut reactor, &mut ids)));

    let mut queue = Timers::new();
    group.bench_function("onethread_queue_fake_clock", |b| {
        b.iter(|| assert_eq!(queue_timer_round(&mut queue, &mut ids), TIMERS / 2))
    });

    let rt = tokio_runtime();
    group.bench_function("tokio_sleep_tasks", |b| b.iter(|| rt.block_on(tokio_timer_round())));
    group.finish();
}

// ---------------------------------------------------------------------------------
// accept_close: a connector keeps WINDOW connects in flight; each completed connect is
// closed with a reset; an acceptor accepts every connection and closes it.

const CONNECTIONS: usize = 10_000;
const WINDOW: usize = 50;
const LISTENER: Token = Token(usize::MAX - 1);

struct AcceptClose {
    listener: TcpListener,
    addr: SocketAddr,
    /// Connects in flight; the slab key is the token.
    connecting: Slab<TcpStream>,
    started: usize,
    accepted: usize,
}

impl AcceptClose {
    fn start_connects(&mut self, cx: &mut Context<'_>) {
        while self.started < CONNECTIONS && self.connecting.len() < WINDOW {
            let mut stream = TcpStream::connect(self.addr).expect("connect");
            let token = Token(self.connecting.vacant_key());
            cx.registry.register(&mut stream, token, Interest::WRITABLE).unwrap();
            self.connecting.insert(stream);
            self.started += 1;
        }
    }
}

impl Handler for AcceptClose {
    fn ready(&mut self, _cx: &mut Context<'_>, token: Token, _event: &Event) {
        if token == LISTENER {
            loop {
                match self.listener.accept() {
                    Ok((stream, _)) => {
                        drop(stream);
                        self.accepted += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("accept: {e}"),
                }
            }
        }
        // Writable: the handshake is done (or failed, which take_error would say).
        let stream = self.connecting.remove(token.0);
        assert!(stream.take_error().unwrap().is_none(), "connect failed");
        SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
    }
    fn timer(&mut self, _cx: &mut Context<'_>, _token: Token) {}
    fn end_of_turn(&mut self, cx: &mut Context<'_>) {
        self.start_connects(cx);
    }
    fn is_done(&self) -> bool {
        self.accepted == CONNECTIONS && self.connecting.is_empty()
    }
}

async fn tokio_accept_close(listener: &tokio::net::TcpListener) {
    let addr = listener.local_addr().unwrap();
    let connectors: Vec<_> = (0..WINDOW)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..CONNECTIONS / WINDOW {
                    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                    stream.set_zero_linger().unwrap();
                }
            })
        })
        .collect();
    for _ in 0..CONNECTIONS {
        drop(listener.accept().await.expect("accept"));
    }
    for connector in connectors {
        connector.await.unwrap();
    }
}

fn accept_close(c: &mut Criterion) {
    let mut group = c.benchmark_group("accept_close");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(CONNECTIONS as u64));

    let mut reactor = Reactor::new(1024).unwrap();
    let listener = TcpListener::from_std(deep_listener());
    let addr = listener.local_addr().unwrap();
    let mut ac = AcceptClose { listener, addr, connecting: Slab::new(), started: 0, accepted: 0 };
    reactor.context().registry.register(&mut ac.listener, LISTENER, Interest::READABLE).unwrap();
    group.bench_function("onethread", |b| {
        b.iter(|| {
            ac.started = 0;
            ac.accepted = 0;
            reactor.run(&mut ac).unwrap();
        })
    });

    let rt = tokio_runtime();
    let listener = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(deep_listener()).unwrap()
    };
    group.bench_function("tokio", |b| b.iter(|| rt.block_on(tokio_accept_close(&listener))));
    group.finish();
}

// ---------------------------------------------------------------------------------
// codec: a stream of keep-alive responses, concatenated as a pipelined connection
// would deliver them, decoded from one buffer.

const DATE: &str = "Date: Sat, 21 Nov 2026 20:00:00 GMT\r\n";

/// ~100-byte head, 6-byte body.
fn small_response() -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\n{DATE}Content-Type: text/plain\r\nContent-Length: 6\r\n\r\nHello\n").into_bytes()
}

/// A 4 KiB body in eight 512-byte chunks, plus a chunk extension and a trailer.
fn chunked_response() -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\n{DATE}Content-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n");
    for i in 0..8 {
        let ext = if i == 0 { ";name=value" } else { "" };
        r.push_str(&format!("200{ext}\r\n{}\r\n", "a".repeat(512)));
    }
    r.push_str("0\r\nServer-Timing: total;dur=1\r\n\r\n");
    r.into_bytes()
}

/// 40 header fields, as a CDN-fronted site sends them, and a 6-byte body.
fn many_headers_response() -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\n{DATE}Content-Length: 6\r\n");
    for i in 0..38 {
        r.push_str(&format!("X-Header-{i:02}: value-{i}-abcdefghijklmnopqrstuvwxyz\r\n"));
    }
    r.push_str("\r\nHello\n");
    r.into_bytes()
}

/// Decodes every response in `stream`; returns how many ended.
fn decode_stream(decoder: &mut ResponseDecoder, mut stream: &[u8]) -> usize {
    let mut responses = 0;
    while !stream.is_empty() {
        decoder.start("GET");
        loop {
            let (used, event) = decoder.decode(stream).expect("valid response");
            stream = &stream[used..];
            match event {
                Decoded::Head(head) => {
                    black_box(head.status);
                }
                Decoded::Body(data) => {
                    black_box(data);
                }
                Decoded::End { .. } => break,
                Decoded::NeedMore => panic!("truncated test stream"),
            }
        }
        responses += 1;
    }
    responses
}

/// The floor: httparse on each head alone, with the same number of uninitialised
/// header slots the decoder hands it (so neither side pays to zero an array).
fn parse_heads(heads: &[&[u8]]) -> usize {
    let mut complete = 0;
    for head in heads {
        let mut slots = [const { std::mem::MaybeUninit::uninit() }; 100];
        let mut response = httparse::Response::new(&mut []);
        let status = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut response, head, &mut slots)
            .expect("valid head");
        complete += status.is_complete() as usize;
        black_box(response.code);
    }
    complete
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.measurement_time(Duration::from_secs(3));
    let cases = [
        ("small", small_response(), 1000),
        ("chunked_4k", chunked_response(), 100),
        ("40_headers", many_headers_response(), 200),
    ];
    for (name, response, count) in cases {
        let head_len = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let stream = response.repeat(count);
        let heads: Vec<&[u8]> = stream.chunks(response.len()).map(|r| &r[..head_len]).collect();
        println!("codec/{name}: {} bytes per response ({head_len} head), {count} per iteration", response.len());
        group.throughput(Throughput::ElementsAndBytes { elements: count as u64, bytes: stream.len() as u64 });

        let mut decoder = ResponseDecoder::new(Limits::default());
        group.bench_with_input(BenchmarkId::new("decoder", name), &stream, |b, stream| {
            b.iter(|| assert_eq!(decode_stream(&mut decoder, stream), count))
        });
        group.bench_with_input(BenchmarkId::new("httparse_heads_floor", name), &heads, |b, heads| {
            b.iter(|| assert_eq!(parse_heads(heads), count))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = ping_pong, timers, accept_close, codec
}
criterion_main!(benches);
