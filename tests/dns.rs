//! DNS end to end: coalescing, the cache, negative answers, failures that stay with
//! their own requests, both families, Happy Eyeballs, and a real dnsmasq.
//!
//! A scripted responder (`common/dns.rs`) plays the DNS server and counts every query
//! by name and type, which is how coalescing and caching are proven: not by timing.

mod common;

use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use common::dns::{DnsBuilder, Fallback, QueryType, dns_responder, dnsmasq};
use common::{Got, Scratch, builtin_server, closing, fetch_all, keep};
use onethread::client::{Client, Config, Outcome, Request};
use onethread::dns::DnsConfig;
use onethread::reactor::Reactor;
use onethread::server::{Server, ServerConfig};

fn config(dns: SocketAddr, concurrency: usize) -> Config {
    Config { concurrency, dns: DnsConfig { servers: vec![dns], ..DnsConfig::default() }, ..Config::default() }
}

/// Runs one client over several batches of URLs, one after the other, so later
/// batches meet what earlier ones left in the cache and the pool.
fn fetch_batches<R: Into<Request>>(config: Config, batches: Vec<Vec<R>>) -> Vec<Vec<Got>> {
    fetch_batches_with(config, batches, |_| {})
}

/// [`fetch_batches`], calling `between(n)` before batch `n` (from 1) starts.
fn fetch_batches_with<R: Into<Request>>(
    config: Config,
    batches: Vec<Vec<R>>,
    mut between: impl FnMut(usize),
) -> Vec<Vec<Got>> {
    let mut reactor = Reactor::new(1024).unwrap();
    let mut got: Vec<Got> = Vec::new();
    let mut per_batch = Vec::new();
    {
        let sink = |o: &Outcome<'_>| got.push(keep(o));
        let mut batches = batches.into_iter();
        let first: Vec<Request> = batches.next().unwrap_or_default().into_iter().map(Into::into).collect();
        let mut sizes = vec![first.len()];
        let mut client = Client::new(&mut reactor.context(), config, first.into_iter(), sink).unwrap();
        reactor.run(&mut client).unwrap();
        for (n, batch) in batches.enumerate() {
            between(n + 1);
            sizes.push(batch.len());
            let submitter = client.submitter();
            for url in batch {
                submitter.submit(url);
            }
            reactor.run(&mut client).unwrap();
        }
        per_batch.push(sizes);
    }
    got.sort_by_key(|g| g.index);
    let mut out = Vec::new();
    let mut rest = got.as_slice();
    for size in per_batch.remove(0) {
        assert!(rest.len() >= size, "exactly one outcome per request");
        out.push(rest[..size].to_vec());
        rest = &rest[size..];
    }
    assert!(rest.is_empty(), "exactly one outcome per request");
    out
}

fn all_ok(got: &[Got]) {
    for g in got {
        assert_eq!(g.status, Some(200), "{g:?}");
    }
}

#[test]
fn a_thousand_requests_over_fifty_names_ask_once_per_family_and_a_second_batch_not_at_all() {
    let server = builtin_server(ServerConfig::default());
    let dns = dns_responder(); // every name: A 127.0.0.1 with TTL 60, no AAAA
    let batch = |offset: usize| -> Vec<String> {
        (0..1000).map(|i| format!("http://host{}.test:{}/{}", i % 50, server.port(), offset + i)).collect()
    };
    let got = fetch_batches(config(dns.addr, 1000), vec![batch(0), batch(1000)]);
    all_ok(&got[0]);
    all_ok(&got[1]);
    for i in 0..50 {
        let name = format!("host{i}.test");
        assert_eq!(dns.queries_of(&name, QueryType::A), 1, "{name}: one A query for 40 requests in two batches");
        assert_eq!(dns.queries_of(&name, QueryType::Aaaa), 1, "{name}: one AAAA query");
    }
    assert_eq!(dns.total(), 100, "the second batch, inside the TTL, asked nothing");
}

#[test]
fn a_ttl_of_zero_is_not_cached_and_a_long_one_is() {
    let server = builtin_server(ServerConfig::default());
    let dns = DnsBuilder::new().a("brief.test", [127, 0, 0, 1], 0).a("long.test", [127, 0, 0, 1], 600).build();
    // `Connection: close` makes every request open a new connection, and so look again.
    let config = config(dns.addr, 1);
    let urls = |host: &str| (0..5).map(|i| format!("http://{host}:{}/{i}", server.port())).collect::<Vec<_>>();
    let mut all = urls("brief.test");
    all.extend(urls("long.test"));
    let (got, _) = fetch_all(config, closing(all));
    all_ok(&got);
    assert_eq!(dns.queries_of("brief.test", QueryType::A), 5, "TTL 0: every new connection asks again");
    assert_eq!(dns.queries_of("long.test", QueryType::A), 1, "TTL 600: asked once");
}

#[test]
fn nxdomain_and_servfail_are_clear_errors_and_are_remembered_briefly() {
    let dns = DnsBuilder::new().nxdomain("gone.test").servfail("broken.test").build();
    let batch = || -> Vec<String> { vec!["http://gone.test/".into(), "http://broken.test/".into()] };
    // c-ares retries a SERVFAIL up to `tries` times; one try makes one query per family.
    let mut one_try = config(dns.addr, 10);
    one_try.dns.tries = Some(1);
    let got = fetch_batches(one_try, vec![batch(), batch()]);
    for batch in &got {
        let (kind, message) = batch[0].error.clone().expect("NXDOMAIN is an error");
        assert_eq!(kind, "dns");
        assert!(message.contains("gone.test") && message.contains("NXDOMAIN"), "{message}");
        let (kind, message) = batch[1].error.clone().expect("SERVFAIL is an error");
        assert_eq!(kind, "dns");
        assert!(message.contains("broken.test") && message.contains("SERVFAIL"), "{message}");
    }
    assert_eq!(dns.queries_of("gone.test", QueryType::A), 1, "the second batch used the negative answer");
    assert_eq!(dns.queries_of("broken.test", QueryType::Aaaa), 1);

    // With negative caching off, the second batch asks again: the remembering is real.
    let dns = DnsBuilder::new().nxdomain("gone.test").build();
    let mut config = config(dns.addr, 10);
    config.dns.negative_ttl = Duration::ZERO;
    fetch_batches(config, vec![vec!["http://gone.test/"], vec!["http://gone.test/"]]);
    assert_eq!(dns.queries_of("gone.test", QueryType::A), 2);
}

#[test]
fn a_silent_server_is_a_dns_timeout_and_never_stalls_other_names() {
    let server = builtin_server(ServerConfig::default());
    let dns = DnsBuilder::new()
        .silent("quiet.test")
        .slow("slow.test", Duration::from_millis(300))
        .a("slow.test", [127, 0, 0, 1], 60)
        .a("fine.test", [127, 0, 0, 1], 60)
        .build();
    let mut config = config(dns.addr, 100);
    config.dns.timeout = Some(Duration::from_millis(200));
    config.dns.tries = Some(1);
    config.dns_timeout = Some(Duration::from_secs(5));
    let port = server.port();
    let mut urls: Vec<String> = (0..20).map(|i| format!("http://quiet.test:{port}/{i}")).collect();
    urls.extend((0..20).map(|i| format!("http://fine.test:{port}/{i}")));
    let (got, _) = fetch_all(config.clone(), urls);
    for g in &got[..20] {
        let (kind, message) = g.error.clone().expect("no answer is an error");
        assert_eq!(kind, "dns-timeout", "{message}");
        assert!(message.contains("quiet.test"), "{message}");
    }
    all_ok(&got[20..]);
    assert_eq!(dns.queries_of("quiet.test", QueryType::A), 1, "20 requests shared one unanswered query");

    // A slow answer arrives, and a name asked at the same time does not wait for it.
    config.dns = DnsConfig { servers: vec![dns.addr], ..DnsConfig::default() };
    let urls = vec![format!("http://slow.test:{port}/"), format!("http://fine.test:{port}/again")];
    let (got, _) = fetch_all(config, urls);
    all_ok(&got);
    assert!(got[1].elapsed < got[0].elapsed, "the fast name waited for the slow one: {got:?}");
}

#[test]
fn aaaa_only_and_a_only_names_both_work() {
    let Some(v6_server) = ipv6_server() else { return };
    let v4_server = builtin_server(ServerConfig::default());
    let dns = DnsBuilder::new().aaaa("six.test", Ipv6Addr::LOCALHOST, 60).a("four.test", [127, 0, 0, 1], 60).build();
    let urls = vec![
        format!("http://six.test:{}/", v6_server.port()),
        format!("http://four.test:{}/", v4_server.port()),
        format!("http://[::1]:{}/literal", v6_server.port()),
    ];
    let (got, stats) = fetch_all(config(dns.addr, 10), urls);
    all_ok(&got);
    assert_eq!(stats.dns_lookups, 2, "the IPv6 literal needs no lookup");
}

#[test]
fn a_blackholed_ipv6_address_costs_the_attempt_delay_not_the_connect_timeout() {
    // The name has a dead IPv6 address (a listener whose queue is full: SYNs are
    // dropped, as on a broken IPv6 path) and a working IPv4 one on the same port.
    let Some((server, _blackhole)) = blackhole_beside_a_server() else { return };
    let dns = DnsBuilder::new().aaaa("dual.test", Ipv6Addr::LOCALHOST, 60).a("dual.test", [127, 0, 0, 1], 60).build();
    let mut config = config(dns.addr, 10);
    config.connect_timeout = Some(Duration::from_secs(30));
    let urls = (0..5).map(|i| format!("http://dual.test:{}/{i}", server.port())).collect();
    let (got, stats) = fetch_all(config, urls);
    all_ok(&got);
    let ms = |g: &Got| g.elapsed.as_millis();
    // Without racing, the first request would wait out the 30 s connect timeout.
    assert!(ms(&got[0]) < 5_000, "{} ms: the IPv4 attempt did not start beside the IPv6 one", ms(&got[0]));
    assert!(stats.connect_attempts >= 2, "the dead IPv6 address was tried first: {stats:?}");
}

#[test]
fn addresses_that_arrive_after_the_race_started_join_it() {
    // AAAA answers at once with an address that refuses (the server listens on IPv4
    // only); A answers 300 ms later with the working one. The race starts on the AAAA
    // answer (RFC 8305 §3), runs out of addresses, and must wait for the A answer
    // rather than fail with "connection refused".
    let server = builtin_server(ServerConfig::default());
    let dns = DnsBuilder::new()
        .aaaa("late.test", Ipv6Addr::LOCALHOST, 60)
        .a("late.test", [127, 0, 0, 1], 60)
        .slow_type("late.test", QueryType::A, Duration::from_millis(300))
        .build();
    let urls = (0..5).map(|i| format!("http://late.test:{}/{i}", server.port())).collect();
    let (got, stats) = fetch_all(config(dns.addr, 5), urls);
    all_ok(&got);
    assert!(got.iter().all(|g| g.elapsed >= Duration::from_millis(250)), "they waited for the A answer: {got:?}");
    assert!(stats.connect_attempts >= 6, "the IPv6 address was tried first: {stats:?}");
}

#[test]
fn a_blackholed_ipv6_address_races_an_ipv4_address_that_arrives_later() {
    // The IPv6 attempt hangs; the A answer comes 100 ms into it. The IPv4 address must
    // join the race and start at the attempt delay, not after the 30 s connect timeout.
    let Some((server, _blackhole)) = blackhole_beside_a_server() else { return };
    let dns = DnsBuilder::new()
        .aaaa("later.test", Ipv6Addr::LOCALHOST, 60)
        .a("later.test", [127, 0, 0, 1], 60)
        .slow_type("later.test", QueryType::A, Duration::from_millis(100))
        .build();
    let mut config = config(dns.addr, 10);
    config.connect_timeout = Some(Duration::from_secs(30));
    let (got, _) = fetch_all(config, vec![format!("http://later.test:{}/", server.port())]);
    all_ok(&got);
    assert!(got[0].elapsed < Duration::from_secs(5), "{:?}: IPv4 did not join the race", got[0].elapsed);
}

#[test]
fn localhost_comes_from_the_hosts_file_not_the_server() {
    let server = builtin_server(ServerConfig::default());
    let scratch = Scratch::new("hosts-localhost");
    // The system's file; one with IPv4 only for localhost (as on many machines, this
    // one included); and one without localhost at all, which RFC 6761 §6.3 answers
    // with the loopback addresses anyway.
    let files = [None, Some(scratch.write("v4", "127.0.0.1 localhost\n")), Some(scratch.write("none", "# empty\n"))];
    for hosts_file in files {
        let dns = dns_responder();
        // `Connection: close` (`closing`): each request opens a connection of its own, and
        // so looks its name up again (hosts-file answers expire at once).
        let mut config = config(dns.addr, 1);
        config.dns.hosts_file = hosts_file.clone().map(Into::into);
        let urls = (0..3).map(|i| format!("http://localhost:{}/{i}", server.port())).collect();
        let (got, stats) = fetch_all(config, closing(urls));
        all_ok(&got);
        assert_eq!((stats.dns_lookups, stats.hosts_lookups), (0, 3), "{hosts_file:?}: one per connection");
        assert_eq!(dns.total(), 0, "{hosts_file:?}: no query for localhost, of either family");
    }
}

#[test]
fn names_in_the_hosts_file_are_answered_from_it_for_both_families() {
    // A name with only an IPv4 line must not send an AAAA query (nor one with only an
    // IPv6 line an A query) on any of its lookups: glibc and curl send nothing either.
    let scratch = Scratch::new("hosts-families");
    let hosts = "# a private hosts file\n\
                 127.0.0.1 v4only.test\n\
                 ::1       v6only.test  six.alias.test # and a comment\n";
    let hosts = scratch.write("hosts", hosts);
    let v4_server = builtin_server(ServerConfig::default());
    let v6_server = ipv6_server();
    let dns = dns_responder(); // would answer A 127.0.0.1 for anything asked
    let mut config = config(dns.addr, 1);
    config.dns.hosts_file = Some(hosts.into());
    let batch = |b: usize| {
        let mut urls = Vec::new();
        for i in 0..3 {
            urls.push(format!("http://v4only.test:{}/{b}/{i}", v4_server.port()));
            urls.push(format!("http://V4ONLY.test:{}/{b}/{i}", v4_server.port()));
            if let Some(v6) = v6_server {
                urls.push(format!("http://v6only.test:{}/{b}/{i}", v6.port()));
                urls.push(format!("http://six.alias.test:{}/{b}/{i}", v6.port()));
            }
            // Not in the file: asked of the server as always.
            urls.push(format!("http://elsewhere.test:{}/{b}/{i}", v4_server.port()));
        }
        closing(urls)
    };
    let got = fetch_batches(config.clone(), vec![batch(0), batch(1)]);
    all_ok(&got[0]);
    all_ok(&got[1]);
    for name in ["v4only.test", "v6only.test", "six.alias.test"] {
        assert_eq!(dns.queries(name), 0, "{name} is in the hosts file: no query of any type");
    }
    assert_eq!(dns.queries_of("elsewhere.test", QueryType::A), 1, "other names still go to the server");
    assert_eq!(dns.queries_of("elsewhere.test", QueryType::Aaaa), 1);
    assert_eq!(dns.total(), 2);

    // Every request above looked its name up (one per connection); a fresh client
    // does too, and still asks nothing.
    let urls = (0..4).map(|i| format!("http://v4only.test:{}/fresh/{i}", v4_server.port())).collect();
    let (got, stats) = fetch_all(config, closing(urls));
    all_ok(&got);
    assert_eq!((stats.dns_lookups, stats.hosts_lookups), (0, 4));
    assert_eq!(dns.total(), 2);
}

#[test]
fn an_edited_hosts_file_is_seen_by_the_next_lookup() {
    // Hosts-file answers are not cached (c-ares gives them a TTL of 0): a name taken
    // out of the file goes to the server from the next lookup on, and one put in
    // stops going there.
    let scratch = Scratch::new("hosts-edited");
    let hosts = scratch.write("hosts", "127.0.0.1 moving.test\n");
    let server = builtin_server(ServerConfig::default());
    // TTL 0, so that the server's answers are not what keeps a name from being asked.
    let dns = DnsBuilder::new().fallback(Fallback::Loopback { ttl: 0 }).build();
    let mut config = config(dns.addr, 1);
    config.dns.hosts_file = Some(hosts.clone().into());
    let url = |host: &str, b: usize| format!("http://{host}:{}/{b}", server.port());
    let batches = vec![
        closing(vec![url("moving.test", 0), url("arriving.test", 0)]),
        closing(vec![url("moving.test", 1), url("arriving.test", 1)]),
    ];
    let got = fetch_batches_with(config, batches, |_| {
        std::fs::write(&hosts, "127.0.0.1 arriving.test\n").unwrap();
        // c-ares re-reads the file when its modification time (whole seconds) is not
        // older than its last reading; date the edit clearly later, so that a clock
        // ticking apart from the file system's cannot make this flaky.
        let later = std::time::SystemTime::now() + Duration::from_secs(60);
        std::fs::File::options().write(true).open(&hosts).unwrap().set_modified(later).unwrap();
    });
    all_ok(&got[0]);
    all_ok(&got[1]);
    assert_eq!(dns.queries_of("moving.test", QueryType::A), 1, "asked only after it left the file");
    assert_eq!(dns.queries_of("moving.test", QueryType::Aaaa), 1);
    assert_eq!(dns.queries_of("arriving.test", QueryType::A), 1, "asked only before it entered the file");
    assert_eq!(dns.queries_of("arriving.test", QueryType::Aaaa), 1);
}

#[test]
fn names_resolve_through_a_real_dnsmasq() {
    let server = builtin_server(ServerConfig::default());
    let records = [("alpha.onethread.test", "127.0.0.1".parse().unwrap())];
    let dnsmasq = match dnsmasq(&records) {
        Ok(d) => d,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let urls = vec![
        format!("http://alpha.onethread.test:{}/", server.port()),
        format!("http://missing.onethread.test:{}/", server.port()),
    ];
    let (got, stats) = fetch_all(config(dnsmasq.addr, 10), urls);
    assert_eq!(got[0].status, Some(200), "{:?}", got[0]);
    let (kind, message) = got[1].error.clone().expect("an unknown name is an error");
    assert_eq!(kind, "dns", "{message}");
    assert_eq!(stats.dns_lookups, 2);
}

// ---- servers on IPv6 ------------------------------------------------------------

/// The built-in server on `addr`, on a thread of its own; `None` if it cannot bind.
fn builtin_server_on(addr: SocketAddr) -> Option<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reactor = Reactor::new(1024).unwrap();
        match Server::bind(&mut reactor.context(), &[addr], ServerConfig::default(), 0) {
            Ok(mut server) => {
                tx.send(Some(server.local_addrs()[0])).unwrap();
                reactor.run(&mut server).unwrap();
            }
            Err(_) => tx.send(None).unwrap(),
        }
    });
    rx.recv().unwrap()
}

fn ipv6_server() -> Option<SocketAddr> {
    let server = builtin_server_on(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)));
    if server.is_none() {
        eprintln!("skipped: no IPv6 loopback here");
    }
    server
}

/// What keeps a blackhole in place: its listener and the connections filling its queue.
type Blackhole = (socket2::Socket, Vec<TcpStream>);

/// A blackhole on [::1] and the built-in server on the same port of 127.0.0.1: a name
/// with both addresses has a dead IPv6 path and a working IPv4 one.
fn blackhole_beside_a_server() -> Option<(SocketAddr, Blackhole)> {
    let (blackhole, fillers) = ipv6_blackhole()?;
    let port = blackhole.local_addr().unwrap().as_socket().unwrap().port();
    let Some(server) = builtin_server_on(SocketAddr::from(([127, 0, 0, 1], port))) else {
        eprintln!("skipped: port {port} is taken on 127.0.0.1");
        return None;
    };
    Some((server, (blackhole, fillers)))
}

/// A listener on [::1] that accepts nothing: its queue (length 0, which Linux rounds
/// to one) is filled, so further SYNs are dropped and connects hang. Checked, not assumed.
fn ipv6_blackhole() -> Option<Blackhole> {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV6, Type::STREAM, None).ok()?;
    if listener.bind(&SocketAddr::from((Ipv6Addr::LOCALHOST, 0)).into()).is_err() {
        eprintln!("skipped: no IPv6 loopback here");
        return None;
    }
    listener.listen(0).ok()?;
    let addr = listener.local_addr().ok()?.as_socket()?;
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => return Some((listener, fillers)), // the queue is full: SYNs now vanish
        }
    }
    eprintln!("skipped: could not make a blackhole on [::1] (the listener kept accepting)");
    None
}

#[test]
fn nothing_is_left_behind_after_every_kind_of_ending() {
    // Successes, refusals, DNS failures, a race cut short by the request deadline and
    // an invalid URL, all with `Connection: close`: afterwards no socket is open and no
    // origin is still held (origins are counted references; a leak would show here).
    let Some((blackhole, _fillers)) = ipv6_blackhole() else { return };
    let hole = blackhole.local_addr().unwrap().as_socket().unwrap().port();
    let server = builtin_server(ServerConfig::default());
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dns = DnsBuilder::new()
        .a("ok.test", [127, 0, 0, 1], 60)
        .aaaa("hole.test", Ipv6Addr::LOCALHOST, 60)
        .nxdomain("gone.test")
        .build();
    let mut config = config(dns.addr, 8);
    config.timeout = Some(Duration::from_millis(400));
    let mut urls = Vec::new();
    for i in 0..10 {
        urls.push(format!("http://ok.test:{}/{i}", server.port()));
        urls.push(format!("http://{refused}/{i}"));
        urls.push(format!("http://gone.test/{i}"));
        urls.push(format!("http://hole.test:{hole}/{i}"));
        urls.push("http://bad host/".to_owned());
    }
    let mut reactor = Reactor::new(1024).unwrap();
    let mut kinds = std::collections::BTreeMap::new();
    let sink = |o: &Outcome<'_>| {
        let kind = o.result.as_ref().err().map_or("ok", |e| e.kind.as_str());
        *kinds.entry(kind).or_insert(0) += 1;
    };
    let mut client = Client::new(&mut reactor.context(), config, closing(urls).into_iter(), sink).unwrap();
    reactor.run(&mut client).unwrap();
    assert_eq!((client.connections(), client.origins(), client.in_flight()), (0, 0, 0));
    drop(client);
    let expected = [("connect", 10), ("dns", 10), ("invalid-url", 10), ("ok", 10), ("timeout", 10)];
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), expected);
}

/// Requests that wait for one name together share its answer, even one that lives for
/// no time at all (the hosts file's): the deadlines each of them sets on the way read
/// the clock again, and that must not age the answer before the last waiter has it.
#[test]
fn waiters_share_a_hosts_file_answer_with_no_lifetime() {
    let scratch = Scratch::new("hosts-shared");
    let hosts = scratch.write("hosts", "127.0.0.1 shared.test\n");
    let server = builtin_server(ServerConfig::default());
    let dns = dns_responder();
    let mut config = config(dns.addr, 50);
    config.dns.hosts_file = Some(hosts.into());
    let urls = (0..50).map(|i| format!("http://shared.test:{}/{i}", server.port())).collect();
    let (got, stats) = fetch_all(config, urls);
    all_ok(&got);
    assert_eq!(stats.connections_opened, 50, "all 50 waited for the name together");
    assert_eq!(stats.hosts_lookups, 1, "one lookup answered all 50 waiters");
    assert_eq!(dns.total(), 0);
}

// ---------------------------------------------------------------------------------
// The own query path (`src/dns/udp.rs`), driven through the resolver itself, so each
// answer is seen as the cache would see it.

use mio::Token;
use mio::event::Event;
use onethread::dns::{Answer, Family, Reason, Resolver};
use onethread::reactor::{Context, Handler};

/// Resolves each (name, family) once on a reactor of its own; the answers in the
/// order asked, and whether the resolver has the own path. The tests ask for absolute
/// names (a trailing dot), which take the own path even on a machine whose
/// `resolv.conf` has a search list (a relative name would then go to c-ares).
fn resolve(dns: DnsConfig, names: &[(&str, Family)]) -> (Vec<Answer>, bool) {
    struct Run {
        resolver: Resolver,
        answers: Vec<Answer>,
        want: usize,
    }
    impl Handler for Run {
        fn ready(&mut self, _cx: &mut Context<'_>, token: Token, event: &Event) {
            self.resolver.ready(token, event);
        }
        fn timer(&mut self, _cx: &mut Context<'_>, _token: Token) {
            self.resolver.timer_fired();
        }
        fn end_of_turn(&mut self, cx: &mut Context<'_>) {
            self.resolver.take_answers(cx, &mut self.answers);
        }
        fn is_done(&self) -> bool {
            self.answers.len() >= self.want
        }
    }
    let mut reactor = Reactor::new(64).unwrap();
    let mut resolver = Resolver::new(&mut reactor.context(), &dns, 1 << 20, Token(0)).unwrap();
    for (key, &(name, family)) in names.iter().enumerate() {
        resolver.lookup(name, family, key);
    }
    let own = resolver.own_path();
    let mut run = Run { resolver, answers: Vec::new(), want: names.len() };
    reactor.run(&mut run).unwrap();
    run.answers.sort_by_key(|a| a.key);
    (run.answers, own)
}

fn servers(servers: &[SocketAddr]) -> DnsConfig {
    DnsConfig { servers: servers.to_vec(), ..DnsConfig::default() }
}

fn v4(answer: &Answer) -> Vec<std::net::IpAddr> {
    answer.part.as_ref().map(|(addrs, _)| addrs.clone()).unwrap_or_else(|f| panic!("{f:?}"))
}

#[test]
fn forged_replies_are_ignored_and_the_real_answer_is_taken() {
    let dns = DnsBuilder::new().a("real.test", [127, 0, 0, 1], 60).spoofed("real.test").build();
    let (answers, own) = resolve(servers(&[dns.addr]), &[("real.test.", Family::V4)]);
    assert!(own, "names without a search list go through the own path");
    assert_eq!(v4(&answers[0]), [std::net::IpAddr::from([127, 0, 0, 1])], "not the forged 127.0.0.2");
    assert_eq!(answers[0].part.as_ref().unwrap().1, Duration::from_secs(60));
    assert_eq!(dns.queries_of("real.test", QueryType::A), 1, "the forgeries did not end the query");
}

#[test]
fn a_server_that_never_answers_gets_retransmissions_then_a_dns_timeout() {
    let dns = DnsBuilder::new().silent("quiet.test").build();
    let mut config = servers(&[dns.addr]);
    config.timeout = Some(Duration::from_millis(50));
    config.tries = Some(3);
    let started = std::time::Instant::now();
    let (answers, own) = resolve(config, &[("quiet.test.", Family::V4)]);
    assert!(own);
    let failure = answers[0].part.as_ref().unwrap_err();
    assert_eq!(failure.reason, Reason::TimedOut, "{failure:?}");
    assert_eq!(failure.message, "quiet.test: no answer from the DNS server(s)");
    assert_eq!(dns.queries_of("quiet.test", QueryType::A), 3, "one query and two retransmissions");
    // 50 + 100 + 200 ms: each round waits twice as long as the one before.
    assert!(started.elapsed() >= Duration::from_millis(350), "{:?}", started.elapsed());
}

#[test]
fn a_truncated_reply_is_asked_again_over_tcp() {
    let dns = DnsBuilder::new().a("big.test", [127, 0, 0, 7], 60).truncated("big.test").build();
    let (answers, own) = resolve(servers(&[dns.addr]), &[("big.test.", Family::V4)]);
    assert!(own);
    assert_eq!(v4(&answers[0]), [std::net::IpAddr::from([127, 0, 0, 7])]);
    assert!(dns.tcp_queries("big.test") >= 1, "the answer came over TCP");
}

#[test]
fn a_refusing_or_absent_first_server_hands_over_to_the_second() {
    // No one listens on this port: the kernel answers with ICMP port unreachable.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refusing = DnsBuilder::new().refused("both.test").refused("gone.test").build();
    let good = DnsBuilder::new().a("both.test", [127, 0, 0, 3], 60).build();
    let mut config = servers(&[closed, refusing.addr, good.addr]);
    // Were the refusals not noticed, each server would cost this long.
    config.timeout = Some(Duration::from_secs(10));
    config.tries = Some(1);
    let started = std::time::Instant::now();
    let (answers, own) = resolve(config, &[("both.test.", Family::V4), ("gone.test.", Family::V4)]);
    assert!(own);
    assert_eq!(v4(&answers[0]), [std::net::IpAddr::from([127, 0, 0, 3])]);
    assert_eq!(refusing.queries_of("both.test", QueryType::A), 1);
    // gone.test: refused by the second server, and the third does not have it.
    let failure = answers[1].part.as_ref().unwrap_err();
    assert_eq!(failure.reason, Reason::NoSuchName, "{failure:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "a refusal cost a timeout: {:?}", started.elapsed());

    // Only the closed port: the failure says no server could be reached.
    let mut config = servers(&[closed]);
    config.timeout = Some(Duration::from_secs(10));
    let (answers, _) = resolve(config, &[("x.test.", Family::V6)]);
    assert_eq!(answers[0].part.as_ref().unwrap_err().reason, Reason::Unreachable);
}

#[test]
fn nxdomain_nodata_and_cname_chains_through_the_own_path() {
    let dns = DnsBuilder::new().nxdomain("nx.test").a("four.test", [127, 0, 0, 4], 30).build();
    let (answers, own) = resolve(
        servers(&[dns.addr]),
        &[("nx.test.", Family::V4), ("four.test.", Family::V6), ("FOUR.test.", Family::V4)],
    );
    assert!(own);
    assert_eq!(answers[0].part.as_ref().unwrap_err().message, "nx.test: no such name (NXDOMAIN)");
    assert_eq!(answers[1].part.as_ref().unwrap_err().reason, Reason::NoAddress);
    assert_eq!(answers[2].part, Ok((vec![std::net::IpAddr::from([127, 0, 0, 4])], Duration::from_secs(30))));
}

#[test]
fn edns_leaves_every_query_to_c_ares() {
    let dns = DnsBuilder::new().a("e.test", [127, 0, 0, 5], 60).build();
    let config = DnsConfig { edns: true, ..servers(&[dns.addr]) };
    let (answers, own) = resolve(config, &[("e.test", Family::V4)]);
    assert!(!own, "the own path sends no OPT record");
    assert_eq!(v4(&answers[0]), [std::net::IpAddr::from([127, 0, 0, 5])]);
}
