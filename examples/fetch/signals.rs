//! SIGINT and SIGTERM as readiness on the reactor, through a `signalfd`.
//!
//! A signal handler runs at an arbitrary point of the program and may do almost
//! nothing safely; the usual fixes are a self-pipe or a thread that waits for signals
//! (tokio's `signal` feature, the `ctrlc` crate), and a thread is what this program
//! forbids. Linux offers a third way: block the signals, so they stay pending instead
//! of interrupting anything, and read them from a descriptor that the poll watches
//! like a socket. A Ctrl-C is then one more event, handled between two others, with
//! every data structure in a consistent state.
//!
//! The mask is inherited across `exec`. The only programs `fetch` starts are its own
//! `--workers`, and those get the same two signals blocked on purpose (`workers/`),
//! so one forwarded before a worker opened its `signalfd` waits for it. What `fetch`
//! does with a signal is `main.rs`'s business (`App::stop`), or the router's.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

pub struct Signals {
    fd: OwnedFd,
}

impl Signals {
    /// Blocks SIGINT and SIGTERM and opens a descriptor that reports them.
    pub fn new() -> io::Result<Signals> {
        // SAFETY: the sigset is initialised by sigemptyset before use; sigprocmask and
        // signalfd only read it; signalfd returns a new descriptor or -1.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Signals { fd: OwnedFd::from_raw_fd(fd) })
        }
    }

    pub fn register(&self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut SourceFd(&self.fd.as_raw_fd()), token, Interest::READABLE)
    }

    /// The next pending signal's number, if any.
    pub fn next(&mut self) -> Option<i32> {
        // SAFETY: all-zero is a valid signalfd_siginfo; read writes at most its size.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut info).cast(), size) };
        (n == size as isize).then_some(info.ssi_signo as i32)
    }
}

/// The name a user knows a signal by: those we catch, and those a worker may die of.
pub fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGSYS => "SIGSYS",
        _ => "a signal",
    }
}
