//! The process's own streams on the reactor: stdin, stdout, stderr, and a FIFO named
//! by `--urls`, read and written without ever blocking the one thread.
//!
//! A blocking `write(1)` to a slow reader, or a `read(0)` from a slow writer, stops
//! every connection on the thread; their deadlines then expire for the client's own
//! wait and are blamed on the servers. So every stream that can make us wait is
//! non-blocking and registered with the poll, like a socket.
//!
//! **Without leaking non-blocking mode.** `O_NONBLOCK` belongs to the *open file
//! description*, which fd 1 may share with the shell's terminal, with `2>&1`, or with
//! the other programs of a pipeline. Set it there and forget to clear it (a crash, a
//! `kill -9`), and the shell's next `cat` fails with EAGAIN. So we do not touch shared
//! descriptions:
//! * a **pipe, FIFO or terminal** is opened again through `/proc/self/fd/N`. That makes
//!   a new description of the same pipe or terminal, ours alone, which we make
//!   non-blocking. Nothing is left to restore, whatever way the process ends.
//! * a **socket** cannot be reopened; `recv`/`send` with `MSG_DONTWAIT` make each call
//!   non-blocking without changing the description.
//! * if reopening fails (no `/proc`, a pipe owned by another user), the fallback is to
//!   set `O_NONBLOCK` on the shared description and put the original flags back on
//!   every way out: `Drop`, and [`Stream::restore`] before an immediate exit.
//! * a **regular file** or a device epoll refuses (`/dev/null`) cannot be polled, and
//!   it never waits for another process: the page cache takes the bytes. It gets plain
//!   calls, in bounded chunks. That is the one accepted exception to "nothing blocks
//!   but the poll".
//!
//! [`Outbox`] is the write side: bytes queued in order and written as far as the stream
//! takes them, the rest when the poll says it is writable.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// How calls on a stream are kept from blocking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// A regular file or an unpollable device: plain calls, never registered.
    Plain,
    /// A description of our own (or a shared one we made non-blocking): plain calls
    /// that return `WouldBlock`.
    NonBlocking,
    /// A socket shared with others: `MSG_DONTWAIT` on every call.
    Socket,
}

/// One stream of the process, read or written without blocking.
pub struct Stream {
    fd: RawFd,
    /// The private description opened for it, closed on drop.
    _own: Option<OwnedFd>,
    how: How,
    /// The flags of a shared description we had to make non-blocking, to put back.
    restore: Option<libc::c_int>,
    /// A FIFO opened before any writer: an empty read means "no writer yet", not the
    /// end, until the poll has reported a hang-up (see `input.rs`).
    pub awaits_writer: bool,
    /// The last call would have blocked: wait for the poll before trying again.
    pub blocked: bool,
    /// The poll reported that the other end has gone (a writer closed, a reader left).
    pub hung_up: bool,
}

impl Stream {
    /// Standard stream `fd` (0, 1 or 2), for reading or for writing.
    /// A closed standard stream becomes a plain one whose calls fail (EBADF), which
    /// matters only if something is read from or written to it.
    pub fn standard(fd: RawFd, write: bool) -> io::Result<Stream> {
        let mode = file_type(fd).unwrap_or(0);
        let access = if write { libc::O_WRONLY } else { libc::O_RDONLY };
        let stream = |how, own: Option<OwnedFd>, restore| Stream {
            fd: own.as_ref().map_or(fd, |own| own.as_raw_fd()),
            _own: own,
            how,
            restore,
            awaits_writer: false,
            blocked: false,
            hung_up: false,
        };
        Ok(match mode {
            libc::S_IFSOCK => stream(How::Socket, None, None),
            libc::S_IFIFO => private_or_shared(fd, access, stream)?,
            libc::S_IFCHR if is_terminal(fd) => private_or_shared(fd, access, stream)?,
            _ => stream(How::Plain, None, None),
        })
    }

    /// The file at `path`, for reading. A FIFO is opened without waiting for a writer
    /// (a blocking `open` would wait for one, on the only thread).
    pub fn open(path: &Path) -> io::Result<Stream> {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
        // SAFETY: `c` is a valid C string; open returns a new descriptor or -1.
        let fd = cvt(unsafe { libc::open(c.as_ptr(), flags) })?;
        // SAFETY: the descriptor was just opened and is owned by nobody else.
        Stream::own(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// A stream on a descriptor of our own: its open file description is ours alone
    /// (a pipe end we made, one a parent left us), so a pollable one is made
    /// non-blocking here, with nobody to leak the mode to.
    pub fn own(own: OwnedFd) -> io::Result<Stream> {
        let fd = own.as_raw_fd();
        let mode = file_type(fd)?;
        if mode == libc::S_IFDIR {
            return Err(io::Error::from_raw_os_error(libc::EISDIR));
        }
        let how = match mode {
            libc::S_IFIFO | libc::S_IFSOCK => How::NonBlocking,
            libc::S_IFCHR if is_terminal(fd) => How::NonBlocking,
            _ => How::Plain,
        };
        if how == How::NonBlocking {
            shared(fd)?; // the description is ours: no flags to put back
        }
        Ok(Stream {
            fd,
            _own: Some(own),
            how,
            restore: None,
            awaits_writer: mode == libc::S_IFIFO,
            blocked: false,
            hung_up: false,
        })
    }

    /// Registers the stream with the poll. A stream epoll refuses (EPERM: a regular
    /// file or a device such as `/dev/null`) becomes a plain one, which never waits.
    pub fn register(&mut self, registry: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        if self.how == How::Plain {
            return Ok(());
        }
        match registry.register(&mut SourceFd(&self.fd), token, interest) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                self.how = How::Plain;
                Ok(())
            }
            result => result,
        }
    }

    /// Whether the stream is polled (false: a regular file or the like).
    pub fn is_polled(&self) -> bool {
        self.how != How::Plain
    }

    /// The poll has news for this stream.
    pub fn ready(&mut self, event: &Event) {
        self.blocked = false;
        self.hung_up |= event.is_read_closed() || event.is_write_closed() || event.is_error();
    }

    /// Like `read(2)`; `WouldBlock` also marks the stream blocked.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
        // SAFETY: `buf` is valid for `len` writable bytes.
        self.call(|fd, how| unsafe {
            match how {
                How::Socket => libc::recv(fd, ptr, len, libc::MSG_DONTWAIT),
                _ => libc::read(fd, ptr, len),
            }
        })
    }

    /// Like `write(2)`; `WouldBlock` also marks the stream blocked.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (ptr, len) = (buf.as_ptr().cast(), buf.len());
        // SAFETY: `buf` is valid for `len` readable bytes.
        self.call(|fd, how| unsafe {
            match how {
                How::Socket => libc::send(fd, ptr, len, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL),
                _ => libc::write(fd, ptr, len),
            }
        })
    }

    fn call(&mut self, op: impl Fn(RawFd, How) -> isize) -> io::Result<usize> {
        loop {
            let n = op(self.fd, self.how);
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => self.blocked = true,
                _ => {}
            }
            return Err(e);
        }
    }

    /// Puts back the flags of a shared description we changed; idempotent.
    pub fn restore(&mut self) {
        if let Some(flags) = self.restore.take() {
            // SAFETY: F_SETFL on a descriptor we hold, with flags read from it.
            unsafe { libc::fcntl(self.fd, libc::F_SETFL, flags) };
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.restore();
    }
}

/// A non-blocking stream on the pipe, FIFO or terminal behind `fd`: through a private
/// description if it can be opened, else through the shared one.
fn private_or_shared(
    fd: RawFd,
    access: libc::c_int,
    stream: impl Fn(How, Option<OwnedFd>, Option<libc::c_int>) -> Stream,
) -> io::Result<Stream> {
    match reopen(fd, access) {
        Ok(own) => Ok(stream(How::NonBlocking, Some(own), None)),
        Err(_) => Ok(stream(How::NonBlocking, None, shared(fd)?)),
    }
}

/// A new description of the pipe, FIFO or terminal behind `fd`, ours alone, non-blocking.
fn reopen(fd: RawFd, access: libc::c_int) -> io::Result<OwnedFd> {
    let path = CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL in a path we format");
    let flags = access | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: `path` is a valid C string; open returns a new descriptor or -1.
    let new = cvt(unsafe { libc::open(path.as_ptr(), flags) })?;
    // SAFETY: the descriptor was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A pipe, both ends close-on-exec and blocking (for a child's end; [`Stream::own`]
/// makes ours non-blocking).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds`, owned by nobody else.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The fallback: makes the shared description non-blocking; returns the flags to put back.
fn shared(fd: RawFd) -> io::Result<Option<libc::c_int>> {
    // SAFETY: F_GETFL/F_SETFL only read and set the flags of a descriptor we hold.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(None);
    }
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(Some(flags))
}

/// `S_IFREG`, `S_IFIFO`, … of what `fd` refers to.
fn file_type(fd: RawFd) -> io::Result<libc::mode_t> {
    // SAFETY: fstat only writes the struct we pass; all-zero is a valid `stat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_mode & libc::S_IFMT)
}

/// The terminal device behind `fd`, if it is one.
pub fn terminal_device(fd: RawFd) -> Option<libc::dev_t> {
    if !is_terminal(fd) {
        return None;
    }
    // SAFETY: as in `file_type`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st.st_rdev)
}

fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// Bytes on their way to a stream, in order, written as far as the stream takes them.
pub struct Outbox {
    pub stream: Stream,
    buf: Vec<u8>,
    /// How much of `buf` is out.
    written: usize,
    /// The write that failed; from then on bytes are dropped.
    pub failed: Option<io::Error>,
}

impl Outbox {
    pub fn new(stream: Stream) -> Outbox {
        Outbox { stream, buf: Vec::new(), written: 0, failed: None }
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Where to append bytes to be written.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Writes what is queued until it is all out, the stream would block, or a write
    /// fails (then `failed` says why and nothing more is kept).
    pub fn flush(&mut self) {
        while self.pending() > 0 && !self.stream.blocked && self.failed.is_none() {
            match self.stream.write(&self.buf[self.written..]) {
                Ok(0) => self.failed = Some(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => self.failed = Some(e),
            }
        }
        if self.failed.is_some() {
            self.buf = Vec::new();
            self.written = 0;
        } else if self.written == self.buf.len() {
            self.buf.clear();
            self.written = 0;
        } else if self.written >= self.buf.len() / 2 {
            // Keep the buffer from creeping forward while the reader is slow.
            self.buf.drain(..self.written);
            self.written = 0;
        }
    }
}

/// A pipe for the unit tests: (read end, write end), both non-blocking.
#[cfg(test)]
pub fn test_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds`, owned by nobody else.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) }, 0);
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pipe_blocks_the_outbox_instead_of_the_thread() {
        let (read, write) = test_pipe();
        let mut out = Outbox::new(Stream::own(write).unwrap());
        assert!(out.stream.is_polled());
        out.buf().extend(std::iter::repeat_n(b'x', 1 << 20));
        out.flush();
        assert!(out.stream.blocked, "the pipe is full: the write would have blocked");
        let queued = out.pending();
        assert!(queued > 0 && queued < 1 << 20, "the pipe took part of it: {queued}");
        // Drain the pipe as a reader would; the outbox goes on only when told it may.
        let mut sink = std::fs::File::from(read);
        let mut got = vec![0; 1 << 20];
        let n = io::Read::read(&mut sink, &mut got).unwrap();
        assert!(n > 0);
        out.flush();
        assert_eq!(out.pending(), queued, "blocked until the poll says otherwise");
        out.stream.blocked = false;
        out.flush();
        assert!(out.pending() < queued);
    }

    #[test]
    fn a_reader_that_went_away_fails_the_outbox_with_epipe() {
        let (read, write) = test_pipe();
        drop(read);
        let mut out = Outbox::new(Stream::own(write).unwrap());
        out.buf().extend_from_slice(b"line\n");
        out.flush();
        assert_eq!(out.failed.as_ref().and_then(|e| e.raw_os_error()), Some(libc::EPIPE));
        assert_eq!(out.pending(), 0, "nothing is kept for a stream that is gone");
    }

    #[test]
    fn a_regular_file_is_a_plain_stream() {
        let path = std::env::temp_dir().join(format!("onethread-stdio-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let stream = Stream::open(&path).unwrap();
        assert!(!stream.is_polled());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn reopening_a_pipe_leaves_the_shared_description_blocking() {
        let mut fds = [0; 2];
        // SAFETY: as in `test_pipe`, without O_NONBLOCK: a blocking pipe, like a shell's.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let private = reopen(write.as_raw_fd(), libc::O_WRONLY).unwrap();
        let flags = |fd: RawFd| unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert_ne!(flags(private.as_raw_fd()) & libc::O_NONBLOCK, 0, "ours is non-blocking");
        assert_eq!(flags(write.as_raw_fd()) & libc::O_NONBLOCK, 0, "the shared one is untouched");
        drop(read);
    }
}
