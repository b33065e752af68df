//! Which way each query goes, and c-ares on the reactor's thread.
//!
//! **Three ways to ask, one answer.** Each lookup asks for one family.
//! * With a search list (search domains, `ndots`, `HOSTALIASES`, as c-ares reads them
//!   from `resolv.conf` and the environment), `ares_getaddrinfo` asks, since it applies
//!   the list exactly as c-ares would.
//! * Without one, c-ares's list for any name is the name alone, and our own UDP path
//!   (`udp.rs`, `queries.rs`, `wire.rs`) sends that one query: about a twentieth of
//!   c-ares's instructions per lookup (NOTES.md §9). It takes the servers from
//!   `DnsConfig::servers` or from c-ares's reading of `resolv.conf`, and the timeout
//!   and tries likewise (`settings` below). A truncated reply is handed to c-ares, which
//!   asks again and goes on over TCP.
//! * Without a search list but where the own path does not apply (EDNS asked for,
//!   `options rotate` or `use-vc`, a server with an interface name,
//!   `DnsConfig::c_ares_only`), `ares_query_dnsrec` sends the same query, and
//!   `reply.rs` reads the parsed reply.
//!
//! [`super::Dns`] asks the hosts file first (`hosts.rs`), so names it has never get here.
//!
//! **c-ares's glue.** c-ares exposes its sockets and its next timeout and lets the
//! application do the waiting, so:
//!
//! * c-ares tells us which sockets it wants watched through the **socket-state
//!   callback**; we register them with the same `mio::Poll` as the HTTP sockets, in a
//!   disjoint token range (`base + fd`, shared with the own path's sockets).
//! * Ready sockets and an expired deadline are only noted as they come; at the end of
//!   the reactor's turn ([`Resolver::take_answers`]) one `process_fds` call hands c-ares
//!   every ready socket at once. c-ares reads, parses, runs its timeouts and the
//!   completion callbacks right there, on this thread.
//! * One reactor timer serves both paths: it is armed for the earlier of c-ares's next
//!   retransmission time (`ares_timeout`) and the own path's earliest deadline.
//!
//! **c-ares's options, each measured** (NOTES.md §9): `ARES_FLAG_STAYOPEN`, because
//! without it c-ares closes its UDP socket whenever no query is outstanding.
//! `udp_max_queries` moves to a fresh socket, and so a fresh random source port, every
//! [`UDP_MAX_QUERIES`] queries (RFC 5452 asks for port randomisation; 16 bits of query
//! ID alone are guessable); the own path does the same. Lookups go to DNS only
//! (`lookups "b"`): `hosts.rs` has already answered the names the hosts file has.
//!
//! We never enable c-ares's event thread (`ARES_OPT_EVENT_THREAD`) and never call
//! `ares_reinit` (which starts a thread); with the socket-state callback, c-ares
//! starts no threads at all. Its query cache is switched off: `cache.rs` is the one
//! cache, so there is one set of rules to read and test.
//!
//! EDNS is off unless `DnsConfig::edns` asks for it, as in glibc without `options
//! edns0`: an A or AAAA answer fits in 512 bytes, and one that does not arrives
//! truncated and is asked again over TCP.
//!
//! The `c-ares` crate requires callbacks to be `Send` (and `Sync` for the socket-state
//! one), so they cannot touch our state through `Rc`. They push into two small queues
//! behind `Arc<Mutex<_>>` — never contended, because everything runs on one thread —
//! which we drain right after each call into c-ares ([`Resolver::sync`]).
//!
//! Next: `reply.rs`, how an answer is read from c-ares's parsed reply; then the own
//! path: `wire.rs`, `queries.rs`, `udp.rs`.

use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use c_ares::{
    AddrInfoFlags, AddrInfoHints, AddrInfoResults, AddressFamily, DnsCls, DnsRecordType, FdEventFlags, FdEvents, Flags,
    ProcessFlags,
};
use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::DnsConfig;
use super::cache::{Family, Part};
use super::hosts::hosts_path;
use super::reply;
use super::udp::{OwnPath, ToCares};
use super::wire::Name;
use crate::reactor::Context;
use crate::timer::TimerId;

/// A finished query, tagged with the caller's key.
#[derive(Debug)]
pub struct Answer {
    /// The `key` given to [`Resolver::lookup`] (for [`super::Dns`], the cache entry).
    pub key: usize,
    /// Which query this answers: A or AAAA.
    pub family: Family,
    /// The addresses and their TTL, or why there are none.
    pub part: Part,
}

/// Receive buffer for c-ares's UDP sockets (the kernel caps it at `rmem_max`).
const UDP_RECEIVE_BUFFER: u32 = 4 << 20;
/// Queries per UDP socket before c-ares opens a new one, on a new random port.
pub(super) const UDP_MAX_QUERIES: u32 = 4096;

type Queue<T> = Arc<Mutex<Vec<T>>>;

/// Sends one family's query for a name, by the own UDP path or by c-ares, and
/// collects the answers. It has no cache and no hosts file: [`super::Dns`] adds those.
pub struct Resolver {
    channel: c_ares::Channel,
    /// `(fd, readable, writable)` as reported by the socket-state callback.
    socket_changes: Queue<(RawFd, bool, bool)>,
    answers: Queue<Answer>,
    /// Sockets currently registered with mio; c-ares rarely has more than a handful.
    watched: Vec<RawFd>,
    /// Ready sockets noted this turn, for the one `process_fds` call at its end.
    ready: Vec<FdEvents>,
    /// c-ares's deadline passed this turn: `process_fds` must run even with no socket.
    timer_due: bool,
    /// A call into c-ares since the last [`Resolver::sync`].
    dirty: bool,
    /// c-ares would try other names than the one asked (search domains, HOSTALIASES),
    /// so lookups go through `ares_getaddrinfo`, which does that.
    searches: bool,
    /// Our own queries over UDP, for names c-ares would send as they are (`udp.rs`);
    /// `None` when c-ares must do it all (see [`own_path`]).
    own: Option<OwnPath>,
    /// Truncated replies of the own path, asked again through c-ares.
    to_cares: Vec<ToCares>,
    /// c-ares's next deadline, and the one our timer is armed for.
    cares_deadline: Option<Instant>,
    armed: Option<Instant>,
    base: usize,
    timer: TimerId,
}

impl Resolver {
    /// Socket tokens are `base + fd`; `timer_token` is reported when c-ares must run its timeouts.
    pub fn new(cx: &mut Context<'_>, config: &DnsConfig, base: usize, timer_token: Token) -> io::Result<Self> {
        let socket_changes: Queue<(RawFd, bool, bool)> = Queue::default();
        let mut options = c_ares::Options::new();
        let changes = Arc::clone(&socket_changes);
        options.set_socket_state_callback(move |fd, readable, writable| {
            changes.lock().unwrap().push((fd, readable, writable));
        });
        if let Some(timeout) = config.timeout {
            options.set_timeout(timeout);
        }
        if let Some(tries) = config.tries {
            options.set_tries(tries);
        }
        options.set_query_cache_max_ttl(0);
        // Setting any flag replaces c-ares's default, which is EDNS alone.
        let edns = if config.edns { Flags::EDNS } else { Flags::empty() };
        options.set_flags(edns | Flags::STAYOPEN);
        options.set_udp_max_queries(Some(UDP_MAX_QUERIES));
        // `hosts.rs` answers from the hosts file first; what reaches us goes to DNS.
        options.set_lookups("b").map_err(ares_to_io)?;
        // The same file as `hosts.rs` reads, so both channels agree on what it holds.
        if let Some(path) = hosts_path(config)? {
            options.set_hosts_path(path).map_err(ares_to_io)?;
        }
        // A thousand lookups answer in a burst; the kernel's default UDP buffer drops
        // part of it, and each drop costs a retransmission timeout.
        options.set_sock_receive_buffer_size(UDP_RECEIVE_BUFFER);
        let mut channel = c_ares::Channel::with_options(options).map_err(ares_to_io)?;
        let settings = settings(&channel);
        let searches = settings.is_none_or(|s| s.searches);
        if !config.servers.is_empty() {
            let servers: Vec<String> = config.servers.iter().map(|s| s.to_string()).collect();
            channel.set_servers(&servers).map_err(ares_to_io)?;
        }
        let own = own_path(&channel, config, settings).map(|(servers, timeout, tries)| {
            OwnPath::new(servers, timeout, tries, base, UDP_MAX_QUERIES, UDP_RECEIVE_BUFFER)
        });
        Ok(Resolver {
            channel,
            socket_changes,
            answers: Queue::default(),
            watched: Vec::new(),
            ready: Vec::new(),
            timer_due: false,
            dirty: false,
            searches,
            own,
            to_cares: Vec::new(),
            cares_deadline: None,
            armed: None,
            base,
            timer: cx.timers.insert(timer_token),
        })
    }

    /// Starts asking for `host`'s addresses of one family; the answer arrives tagged
    /// with `key`.
    pub fn lookup(&mut self, host: &str, family: Family, key: usize) {
        if self.searches && !host.ends_with('.') {
            self.lookup_with_search(host, family, key);
        } else if let Some(own) = &mut self.own
            && !is_onion(host)
            && !host.contains('\0')
            && let Some(name) = Name::parse(host)
        {
            // Sent at the end of the turn, with every other query started in it.
            own.lookup(name, family, key);
            return;
        } else {
            self.query(host, family, key);
        }
        // The query is sent inside the call; the registration waits for the turn's end.
        self.dirty = true;
    }

    /// Whether the own path asks for names without search domains (`udp.rs`).
    pub fn own_path(&self) -> bool {
        self.own.is_some()
    }

    /// One query for `host` as it is: what c-ares's search comes to when there are no
    /// search domains. `ares_query_dnsrec` hands us the parsed reply.
    fn query(&mut self, host: &str, family: Family, key: usize) {
        let answers = Arc::clone(&self.answers);
        // RFC 7686: `.onion` names never go to DNS (`ares_getaddrinfo` refuses them too),
        // and a NUL cannot be put in a query (the crate would refuse before calling back).
        if is_onion(host) || host.contains('\0') {
            let part = reply::part(Err(c_ares::Error::ENOTFOUND), host, family);
            answers.lock().unwrap().push(Answer { key, family, part });
            return;
        }
        let qtype = match family {
            Family::V4 => DnsRecordType::A,
            Family::V6 => DnsRecordType::AAAA,
        };
        let name = host.to_owned();
        // Every failure is reported through the callback, so the result adds nothing.
        let _ = self.channel.query_dnsrec(host, DnsCls::IN, qtype, move |result| {
            let part = reply::part(result.and_then(|reply| reply::addresses(reply, family)), &name, family);
            answers.lock().unwrap().push(Answer { key, family, part });
        });
    }

    /// `ares_getaddrinfo` for one family, which applies the search domains.
    fn lookup_with_search(&mut self, host: &str, family: Family, key: usize) {
        let ai_family = match family {
            Family::V4 => AddressFamily::INET,
            Family::V6 => AddressFamily::INET6,
        };
        // NOSORT: RFC 6724 sorting connects a UDP socket per address to learn its source
        // address; the connection race (`client/race.rs`) does its own ordering.
        let hints = AddrInfoHints {
            socktype: libc::SOCK_STREAM,
            family: Some(ai_family),
            flags: AddrInfoFlags::NOSORT,
            ..Default::default()
        };
        let answers = Arc::clone(&self.answers);
        let name = host.to_owned();
        self.channel.get_addrinfo(host, None, &hints, move |result| {
            let part = reply::part(to_part(result, family), &name, family);
            answers.lock().unwrap().push(Answer { key, family, part });
        });
    }

    /// One of c-ares's sockets is ready: noted for the end of the turn.
    pub fn ready(&mut self, token: Token, event: &Event) {
        if let Some(own) = &mut self.own
            && own.ready(token)
        {
            return;
        }
        let fd = (token.0 - self.base) as RawFd;
        let mut flags = FdEventFlags::empty();
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            flags |= FdEventFlags::READ; // c-ares discovers errors and EOF by reading
        }
        if event.is_writable() {
            flags |= FdEventFlags::WRITE;
        }
        self.ready.push(FdEvents::new(fd, flags));
    }

    /// c-ares's deadline passed: it retransmits or fails what timed out at the end of
    /// the turn.
    pub fn timer_fired(&mut self) {
        self.timer_due = true;
    }

    /// Lets c-ares handle this turn's ready sockets and deadline in one call, brings
    /// the registrations and the timer up to date, and moves finished lookups into
    /// `out`. Called at the end of each turn, and again whenever the turn started more
    /// lookups; a call with nothing new costs a lock and a flag test.
    pub fn take_answers(&mut self, cx: &mut Context<'_>, out: &mut Vec<Answer>) {
        let timer_due = std::mem::take(&mut self.timer_due);
        let cares_due = timer_due && self.cares_deadline.is_some_and(|d| d <= cx.now);
        if !self.ready.is_empty() || cares_due {
            // An error here concerns one socket; c-ares fails the affected queries itself.
            let _ = self.channel.process_fds(&self.ready, ProcessFlags::empty());
            self.ready.clear();
            self.dirty = true;
        }
        let mut changed = false;
        // c-ares's registrations first: a socket it closed must be deregistered before
        // the own path may open one that reuses the descriptor (and so the token).
        if std::mem::take(&mut self.dirty) {
            self.sync(cx);
            changed = true;
        }
        if let Some(own) = &mut self.own
            && own.due(cx.now)
        {
            own.run(cx, out, &mut self.to_cares);
            changed = true;
            for ToCares { host, family, key } in std::mem::take(&mut self.to_cares) {
                self.query(&host, family, key);
                self.dirty = true;
            }
        }
        if std::mem::take(&mut self.dirty) {
            self.sync(cx);
        }
        if changed || timer_due {
            self.arm_timer(cx);
        }
        out.append(&mut self.answers.lock().unwrap());
    }

    /// Arms our one timer for the earlier of c-ares's deadline and the own path's.
    fn arm_timer(&mut self, cx: &mut Context<'_>) {
        let own = self.own.as_ref().and_then(OwnPath::deadline);
        let next = match (self.cares_deadline, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if next == self.armed && cx.timers.deadline(self.timer).is_some() == next.is_some() {
            return;
        }
        self.armed = next;
        match next {
            Some(at) => cx.timers.arm(self.timer, at),
            None => cx.timers.cancel(self.timer),
        }
    }

    /// Brings mio's registrations and our timer in line with what c-ares wants now.
    fn sync(&mut self, cx: &mut Context<'_>) {
        let changes = std::mem::take(&mut *self.socket_changes.lock().unwrap());
        for (fd, readable, writable) in changes {
            let interest = match (readable, writable) {
                (false, false) => None,
                (true, false) => Some(Interest::READABLE),
                (false, true) => Some(Interest::WRITABLE),
                (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            };
            let token = Token(self.base + fd as usize);
            let known = self.watched.iter().position(|&w| w == fd);
            let result = match (known, interest) {
                (None, Some(interest)) => {
                    self.watched.push(fd);
                    cx.registry.register(&mut SourceFd(&fd), token, interest)
                }
                (Some(_), Some(interest)) => cx.registry.reregister(&mut SourceFd(&fd), token, interest),
                (Some(i), None) => {
                    self.watched.swap_remove(i);
                    // c-ares may already have closed it, which also removes it from epoll.
                    let _ = cx.registry.deregister(&mut SourceFd(&fd));
                    Ok(())
                }
                (None, None) => Ok(()),
            };
            if let Err(e) = result {
                // Cannot happen for a live socket; if it did, c-ares's own timeout
                // still fails the query, so the request gets an answer either way.
                debug_assert!(false, "registering c-ares socket {fd}: {e}");
            }
        }
        // c-ares measured `wait` from its own reading of the clock, just now.
        self.cares_deadline = self.channel.timeout(None).map(|wait| cx.refresh() + wait);
    }
}

fn to_part(result: c_ares::Result<AddrInfoResults>, family: Family) -> Result<(Vec<IpAddr>, Duration), c_ares::Error> {
    let results = result?;
    let mut ttl = i32::MAX;
    let mut addrs = Vec::new();
    for node in results.nodes() {
        let Some(ip) = node.ip_addr() else { continue };
        if ip.is_ipv4() == (family == Family::V4) && !addrs.contains(&ip) {
            ttl = ttl.min(node.ttl());
            addrs.push(ip);
        }
    }
    if addrs.is_empty() {
        return Err(c_ares::Error::ENODATA);
    }
    Ok((addrs, Duration::from_secs(ttl.max(0) as u64)))
}

/// What c-ares read from `resolv.conf`, the environment and our options.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Settings {
    /// c-ares would ask for other names than the one given: search domains (from
    /// `resolv.conf`'s `search`/`domain`, `LOCALDOMAIN`, or the host name's domain),
    /// or a `HOSTALIASES` file. If not, its search list for any name is the name
    /// alone, and one plain query asks exactly what `ares_getaddrinfo` would.
    searches: bool,
    /// First timeout per try, and tries per server.
    timeout: Duration,
    tries: u32,
    /// `options rotate` or `use-vc`: server orders or transports the own path lacks.
    rotate_or_tcp: bool,
}

/// c-ares's defaults (`ares_private.h`) when nothing sets them.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);
const DEFAULT_TRIES: u32 = 3;

/// The channel's settings; `None` if c-ares cannot tell (then c-ares does it all).
///
/// `ares_save_options` reports only what the application set, not what c-ares took
/// from `resolv.conf`, the environment or the host name (its `optmask` says which),
/// and c-ares has no other way to show them. So those few lines are read here too,
/// by the rules of c-ares's `ares_sysconfig_files.c` and `ares_init.c`, and only to
/// decide: any sign of a search list, `rotate` or `use-vc` leaves the name to c-ares,
/// which reads and applies them itself.
fn settings(channel: &c_ares::Channel) -> Option<Settings> {
    let mut options = std::mem::MaybeUninit::<c_ares_sys::ares_options>::zeroed();
    let mut mask: libc::c_int = 0;
    // SAFETY: a live channel, and out-pointers to a zeroed `ares_options` and a mask,
    // which c-ares fills in; the options are read once, then freed by c-ares's own
    // `ares_destroy_options`, as its documentation asks.
    let (domains, timeout_ms, tries, flags) = unsafe {
        if c_ares_sys::ares_save_options(channel.as_raw(), options.as_mut_ptr(), &mut mask) != 0 {
            return None;
        }
        let options = options.assume_init_mut();
        let read = (options.ndomains, options.timeout, options.tries, options.flags);
        c_ares_sys::ares_destroy_options(options);
        read
    };
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let env = |name: &str| std::env::var(name).ok();
    let mut system = system_settings(&text, env("LOCALDOMAIN"), env("RES_OPTIONS"), host_name().as_deref());
    system.searches |= domains > 0 || std::env::var_os("HOSTALIASES").is_some();
    if mask & c_ares_sys::ARES_OPT_TIMEOUTMS != 0 && timeout_ms > 0 {
        system.timeout = Duration::from_millis(timeout_ms as u64);
    }
    if mask & c_ares_sys::ARES_OPT_TRIES != 0 && tries > 0 {
        system.tries = tries as u32;
    }
    system.rotate_or_tcp |= mask & c_ares_sys::ARES_OPT_ROTATE != 0 || flags & c_ares_sys::ARES_FLAG_USEVC != 0;
    Some(system)
}

/// What `resolv.conf` (`text`), `LOCALDOMAIN`, `RES_OPTIONS` and the host name say,
/// as c-ares reads them: the last `search` or `domain` line counts, `LOCALDOMAIN`
/// replaces it, and with neither the host name's domain is the search list;
/// `RES_OPTIONS` is read after the file's `options`.
fn system_settings(
    text: &str,
    local_domain: Option<String>,
    res_options: Option<String>,
    host: Option<&str>,
) -> Settings {
    let mut settings =
        Settings { searches: false, timeout: DEFAULT_TIMEOUT, tries: DEFAULT_TRIES, rotate_or_tcp: false };
    let apply_options = |words: &str, settings: &mut Settings| {
        for option in words.split_whitespace() {
            let (key, value) = option.split_once(':').unwrap_or((option, ""));
            let value = value.parse::<u32>().ok();
            match (key, value) {
                ("timeout" | "retrans", Some(secs @ 1..)) => settings.timeout = Duration::from_secs(u64::from(secs)),
                ("attempts" | "retry", Some(n @ 1..=255)) => settings.tries = n,
                ("rotate" | "use-vc" | "usevc", _) => settings.rotate_or_tcp = true,
                _ => {}
            }
        }
    };
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.splitn(2, char::is_whitespace);
        match (words.next(), words.next()) {
            (Some("search" | "domain"), Some(rest)) if !rest.trim().is_empty() => settings.searches = true,
            (Some("options"), Some(rest)) => apply_options(rest, &mut settings),
            _ => {}
        }
    }
    if local_domain.is_some_and(|d| !d.trim().is_empty()) {
        settings.searches = true;
    }
    if let Some(options) = res_options {
        apply_options(&options, &mut settings);
    }
    // c-ares's default search list: the host name's domain, if it has a dot.
    if host.is_some_and(|h| h.trim_end_matches('.').contains('.')) {
        settings.searches = true;
    }
    settings
}

fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `gethostname` writes at most `buf.len()` bytes into `buf`.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Whether c-ares would ask for other names than the one given; when unsure, yes:
/// that is the old path.
#[cfg(test)]
fn searches(channel: &c_ares::Channel) -> bool {
    settings(channel).is_none_or(|s| s.searches)
}

/// The servers, first timeout and tries for the own path, or `None` if c-ares must
/// ask everything: `DnsConfig::c_ares_only`, EDNS asked for (the own path sends none), `rotate` or `use-vc` in
/// `resolv.conf`, or a server that is not a plain address and port (c-ares's list may
/// name an interface, as in `fe80::1%eth0`). The servers are `DnsConfig::servers`,
/// or those c-ares read from `resolv.conf`, in its order, so the file keeps one reader.
fn own_path(
    channel: &c_ares::Channel,
    config: &DnsConfig,
    settings: Option<Settings>,
) -> Option<(Vec<std::net::SocketAddr>, Duration, u32)> {
    let settings = settings?;
    if config.edns || config.c_ares_only || settings.rotate_or_tcp {
        return None;
    }
    let servers = if config.servers.is_empty() {
        let mut servers = Vec::new();
        for text in channel.servers() {
            let addr = match text.parse::<std::net::SocketAddr>() {
                Ok(addr) => addr,
                Err(_) => std::net::SocketAddr::new(text.parse::<IpAddr>().ok()?, 53),
            };
            servers.push(addr);
        }
        servers
    } else {
        config.servers.clone()
    };
    if servers.is_empty() {
        return None;
    }
    Some((servers, config.timeout.unwrap_or(settings.timeout), config.tries.unwrap_or(settings.tries).max(1)))
}

/// `ares_is_onion_domain`: the name is `onion` or ends in `.onion`, any case, with or
/// without the root dot.
fn is_onion(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host).as_bytes();
    let tail = b".onion";
    name.eq_ignore_ascii_case(&tail[1..])
        || (name.len() > tail.len() && name[name.len() - tail.len()..].eq_ignore_ascii_case(tail))
}

pub(super) fn ares_to_io(e: c_ares::Error) -> io::Error {
    io::Error::other(format!("c-ares: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel_with_domains(domains: &[&str]) -> c_ares::Channel {
        let mut options = c_ares::Options::new();
        options.set_domains(domains).unwrap();
        c_ares::Channel::with_options(options).unwrap()
    }

    #[test]
    fn a_search_list_sends_lookups_through_getaddrinfo_and_none_allows_plain_queries() {
        assert!(searches(&channel_with_domains(&["corp.example"])));
        // Without domains of ours, what this machine's resolv.conf, environment and
        // host name say.
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        let system = system_settings(&text, env("LOCALDOMAIN"), env("RES_OPTIONS"), host_name().as_deref());
        let expected = system.searches || std::env::var_os("HOSTALIASES").is_some();
        assert_eq!(searches(&channel_with_domains(&[])), expected);
    }

    #[test]
    fn resolv_conf_search_lists_and_retry_options_are_read_as_c_ares_reads_them() {
        let read = |text: &str, local: Option<&str>, env: Option<&str>, host: Option<&str>| {
            system_settings(text, local.map(str::to_owned), env.map(str::to_owned), host)
        };
        let plain = read("nameserver 127.0.0.1\n", None, None, Some("vm"));
        assert_eq!(
            plain,
            Settings { searches: false, timeout: DEFAULT_TIMEOUT, tries: DEFAULT_TRIES, rotate_or_tcp: false }
        );
        assert!(read("search corp.example\n", None, None, None).searches);
        assert!(read("domain corp.example\n", None, None, None).searches);
        assert!(!read("# search corp.example\nsearch\n", None, None, None).searches, "comments, an empty list");
        assert!(read("", Some("corp.example"), None, None).searches, "LOCALDOMAIN");
        assert!(read("", None, None, Some("box.corp.example")).searches, "the host name's domain");
        let tuned = read("options timeout:1 attempts:5 ndots:2\n", None, None, None);
        assert_eq!((tuned.timeout, tuned.tries), (Duration::from_secs(1), 5));
        let env = read("options timeout:1 attempts:5\n", None, Some("attempts:2 timeout:3"), None);
        assert_eq!((env.timeout, env.tries), (Duration::from_secs(3), 2), "RES_OPTIONS comes last");
        let bogus = read("options timeout:0 attempts:999\n", None, None, None);
        assert_eq!((bogus.timeout, bogus.tries), (DEFAULT_TIMEOUT, DEFAULT_TRIES), "ignored, as c-ares does");
        assert!(read("options rotate\n", None, None, None).rotate_or_tcp);
        assert!(read("options use-vc\n", None, None, None).rotate_or_tcp);
    }

    #[test]
    fn the_own_path_takes_c_ares_servers_in_order_and_steps_aside_when_it_must() {
        let mut channel = channel_with_domains(&[]);
        channel.set_servers(["127.0.0.1:5353", "[::1]:53", "192.0.2.1"]).unwrap();
        let settings = Settings { searches: false, timeout: Duration::from_secs(2), tries: 3, rotate_or_tcp: false };
        let config = DnsConfig::default();
        let (servers, timeout, tries) = own_path(&channel, &config, Some(settings)).expect("plain UDP servers");
        let expected: Vec<std::net::SocketAddr> =
            vec!["127.0.0.1:5353".parse().unwrap(), "[::1]:53".parse().unwrap(), "192.0.2.1:53".parse().unwrap()];
        assert_eq!((servers, timeout, tries), (expected, Duration::from_secs(2), 3));

        let tuned = DnsConfig { timeout: Some(Duration::from_millis(300)), tries: Some(1), ..DnsConfig::default() };
        let (_, timeout, tries) = own_path(&channel, &tuned, Some(settings)).unwrap();
        assert_eq!((timeout, tries), (Duration::from_millis(300), 1), "DnsConfig wins");
        let edns = DnsConfig { edns: true, ..DnsConfig::default() };
        assert!(own_path(&channel, &edns, Some(settings)).is_none(), "EDNS: c-ares");
        let only = DnsConfig { c_ares_only: true, ..DnsConfig::default() };
        assert!(own_path(&channel, &only, Some(settings)).is_none());
        let rotate = Settings { rotate_or_tcp: true, ..settings };
        assert!(own_path(&channel, &config, Some(rotate)).is_none(), "rotate or use-vc: c-ares");
        assert!(own_path(&channel, &config, None).is_none(), "unknown settings: c-ares");
    }

    #[test]
    fn onion_names_are_recognised_as_c_ares_does() {
        for name in ["onion", "x.onion", "a.b.ONION", "x.onion."] {
            assert!(is_onion(name), "{name}");
        }
        for name in ["onion.example", "xonion", "x.onions", "."] {
            assert!(!is_onion(name), "{name}");
        }
    }
}
