//! The proof that the workload runs on one OS thread: one half observed, one half enforced.
//!
//! # Observed: a thread census
//!
//! Linux gives every thread of a process a directory under `/proc/<pid>/task/`, named
//! after the thread's id, and sums them up in the `Threads:` line of `/proc/<pid>/status`.
//! [`thread_count`] counts the directories of this process; [`threads_of`] and
//! [`thread_names_of`] read another process the way an outside observer would (the
//! shell version is `grep Threads /proc/<pid>/status`). A [`Census`] keeps the peak of
//! many samples, so a program can check at start, now and then, and at the end.
//!
//! A census is a photograph: a thread that starts and ends between two samples is
//! never seen. That is why there is a second half.
//!
//! # Enforced: the guard
//!
//! [`forbid_new_threads`] makes the kernel refuse to create threads in this process from
//! then on. It takes two system calls.
//!
//! 1. `prctl(PR_SET_NO_NEW_PRIVS, 1)` promises that neither this process nor anything it
//!    runs can gain privileges through `execve` (set-user-ID bits, file capabilities).
//!    The kernel lets a process without `CAP_SYS_ADMIN` install a filter only after this
//!    promise: otherwise a filter could make a set-user-ID program misbehave, say by
//!    failing its call to drop privileges, and keep running as root.
//! 2. `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program)` attaches a
//!    classic BPF program that the kernel runs at the entry of every system call. The
//!    program sees a [`libc::seccomp_data`] (system call number, ABI, the six argument
//!    registers) and returns a verdict: let the call run, or fail it with an errno
//!    without running it. A filter can never be removed, is inherited by children
//!    and is kept across `execve`. Without `TSYNC` it would cover only the calling thread
//!    (and threads it creates later); with `TSYNC` the kernel attaches it to every
//!    thread of the process at once, or to none. That matters whenever the caller is not
//!    alone, for instance under the test harness, which runs each test on its own thread.
//!
//! ## The filter, rule by rule
//!
//! ```text
//! if arch != native ABI               return ERRNO(EPERM)    // 1
//! if nr has the x32 bit  (x86_64)     return ERRNO(EPERM)    // 2
//! if nr == clone3                     return ERRNO(ENOSYS)   // 3
//! if nr != clone                      return ALLOW           // 4
//! if args[0] has CLONE_THREAD         return ERRNO(EPERM)    // 5
//! return ALLOW
//! ```
//!
//! 1. **Check the ABI first.** System call numbers belong to an ABI. An x86_64 process
//!    can also enter the kernel through the 32-bit i386 ABI (`int 0x80`), where `clone`
//!    is number 120, not 56; aarch64 kernels can run 32-bit Arm calls. The kernel tells
//!    the filter which ABI was used (`seccomp_data.arch`), and a filter that compared
//!    numbers without checking it would be reading the wrong table. A foreign-ABI call
//!    gets `EPERM`. Killing the process (`SECCOMP_RET_KILL_PROCESS`) would be the other
//!    choice; both stop the call before it runs, so the guarantee is the same, and they
//!    differ only in what the caller sees. Nothing in a Rust program built for this
//!    target makes foreign-ABI calls. If something ever does, an error it can report
//!    is better than a silent death by `SIGSYS`.
//! 2. **x32 (x86_64 only).** x32 calls use the x86_64 ABI value but add bit
//!    `0x4000_0000` to the number, so x32 `clone` is `0x4000_0038` and would slip past a
//!    comparison with 56. Every such call is refused. aarch64 has no equivalent: its
//!    32-bit calls carry their own ABI value and fail rule 1.
//! 3. **`clone3` gets `ENOSYS`.** Its flags sit in a `struct clone_args` in user
//!    memory, and a seccomp filter can read only registers. That is deliberate: another
//!    thread could change the memory between the check and its use. So the filter cannot
//!    tell a new thread from a new process, and answers every `clone3` with "no such
//!    system call", which is what kernels before 5.3 answered. glibc then falls back to
//!    `clone`, where rule 5 can see the flags. So `fork`, `posix_spawn` and
//!    [`std::process::Command`] keep working, while `pthread_create` (and with it
//!    [`std::thread::spawn`]) fails with `EPERM`, which Rust reports as
//!    [`std::io::ErrorKind::PermissionDenied`].
//! 4. **Everything else is allowed.** The guard is narrow on purpose: it enforces one
//!    claim, and it is not a sandbox.
//! 5. **`CLONE_THREAD` is what makes a thread.** It is the flag that puts the new task
//!    in the caller's thread group, so that it appears in `/proc/self/task`. The flags
//!    are the first argument of `clone` on every architecture (only the order of the
//!    other arguments varies), and `CLONE_THREAD` (`0x10000`) is in their low 32 bits,
//!    the only part the filter loads. The errno is `EPERM` ("operation not permitted")
//!    rather than `EAGAIN`, which callers read as a temporary resource shortage and
//!    retry.
//!
//! ## What the guard does not cover
//!
//! - Threads the kernel creates for a process without a `clone` call, such as io_uring's
//!   `iou-wrk-*` workers. This crate does not use io_uring, and the census would see them.
//! - `clone` with `CLONE_VM` but without `CLONE_THREAD`, which makes a new *process*
//!   that shares this one's memory (this is how `posix_spawn` starts its child before
//!   `execve`). It has its own process id and is not one of this process's threads.
//! - Children inherit the filter: a program started after the guard cannot create
//!   threads either.
//!
//! Observation can miss a short-lived thread; enforcement cannot. Under the filter a
//! thread is refused inside the kernel before it exists, however briefly it would have
//! lived. The census stays useful because anyone can check it from outside.
//!
//! Next: `examples/fetch/main.rs`, where the reactor, the client, the server and
//! this proof come together in one program.

use std::fmt;
use std::fs;
use std::io;
use std::mem::offset_of;
use std::sync::atomic::{AtomicBool, Ordering};

use libc::{
    BPF_ABS, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA,
    SECCOMP_RET_ERRNO, seccomp_data, sock_filter, sock_fprog,
};

// ---------------------------------------------------------------------------------------
// Observation
// ---------------------------------------------------------------------------------------

/// Number of threads of this process, from /proc/self/task.
///
/// `/proc/self` is the whole process even when a non-main thread reads it, so this
/// counts every thread.
pub fn thread_count() -> io::Result<usize> {
    let mut count = 0;
    for entry in fs::read_dir("/proc/self/task")? {
        entry?;
        count += 1;
    }
    Ok(count)
}

/// Number of threads of another process, from the `Threads:` line of `/proc/<pid>/status`.
pub fn threads_of(pid: u32) -> io::Result<usize> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_threads_line(&status).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/status has no readable `Threads:` line"))
    })
}

/// Finds `Threads:\t<n>` in the text of a `/proc/<pid>/status` file.
fn parse_threads_line(status: &str) -> Option<usize> {
    let value = status.lines().find_map(|line| line.strip_prefix("Threads:"))?;
    value.trim().parse().ok()
}

/// Names of another process's threads (`/proc/<pid>/task/*/comm`), for reports.
///
/// The names come in thread-id order, so the main thread (whose id is the process id)
/// comes first. A thread that ends while this function runs is left out.
pub fn thread_names_of(pid: u32) -> io::Result<Vec<String>> {
    let mut threads = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        match fs::read_to_string(entry.path().join("comm")) {
            Ok(name) => threads.push((tid, name.trim_end_matches('\n').to_owned())),
            // The thread ended between the listing and the read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return Err(e),
        }
    }
    threads.sort_unstable_by_key(|&(tid, _)| tid);
    Ok(threads.into_iter().map(|(_, name)| name).collect())
}

/// Running census: the peak of all samples taken.
#[derive(Debug, Default)]
pub struct Census {
    peak: usize,
    samples: u64,
}

impl Census {
    /// A census with no samples yet (peak 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts this process's threads now, returns the count and updates the peak.
    /// A sample that fails to read /proc is not counted.
    pub fn sample(&mut self) -> io::Result<usize> {
        let now = thread_count()?;
        self.record(now);
        Ok(now)
    }

    /// Counts a sample taken elsewhere: another process's threads, read from outside
    /// with [`threads_of`].
    pub fn record(&mut self, threads: usize) {
        self.peak = self.peak.max(threads);
        self.samples += 1;
    }

    /// The largest count any sample has seen.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// How many samples were taken.
    pub fn samples(&self) -> u64 {
        self.samples
    }
}

// ---------------------------------------------------------------------------------------
// Enforcement
// ---------------------------------------------------------------------------------------

/// Why [`forbid_new_threads`] failed.
#[derive(Debug)]
pub enum GuardError {
    /// This platform has no filter (the text says why).
    Unsupported(&'static str),
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    NoNewPrivs(io::Error),
    /// The kernel refused the filter, or could not apply it to every thread.
    Seccomp(io::Error),
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::Unsupported(why) => {
                write!(f, "cannot forbid new threads on this platform: {why}")
            }
            GuardError::NoNewPrivs(e) => {
                write!(f, "could not set no_new_privs, which the kernel requires before a seccomp filter: {e}")
            }
            GuardError::Seccomp(e) => {
                write!(f, "could not install the seccomp filter that forbids new threads: {e}")
            }
        }
    }
}

impl std::error::Error for GuardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GuardError::Unsupported(_) => None,
            GuardError::NoNewPrivs(e) | GuardError::Seccomp(e) => Some(e),
        }
    }
}

/// Set once the filter is in place. It guards no other data, so relaxed ordering is enough.
static FORBIDDEN: AtomicBool = AtomicBool::new(false);

/// Whether forbid_new_threads() succeeded in this process.
///
/// This records what this process did. It does not detect a filter inherited from a
/// parent through `execve`.
pub fn threads_forbidden() -> bool {
    FORBIDDEN.load(Ordering::Relaxed)
}

/// Install the guard for the rest of the process's life (irreversible; inherited by children).
///
/// From then on, every attempt by any thread of this process to create a thread fails
/// with `EPERM`, while processes can still be started. Calling it again after it
/// succeeded does nothing. See the [module documentation](self) for how it works.
pub fn forbid_new_threads() -> Result<(), GuardError> {
    if threads_forbidden() {
        return Ok(());
    }
    let Some(abi) = NATIVE_ABI else {
        return Err(GuardError::Unsupported("the thread filter is written for x86_64 and aarch64 Linux only"));
    };
    let mut program = thread_filter(&abi);

    // prctl is variadic, so every argument is spelled with its full width: the kernel
    // reads whole registers and insists that the three unused ones be zero.
    let (on, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
    // SAFETY: PR_SET_NO_NEW_PRIVS reads only its integer arguments.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, on, unused, unused, unused) };
    if ret != 0 {
        return Err(GuardError::NoNewPrivs(io::Error::last_os_error()));
    }

    let fprog = sock_fprog {
        len: program.len() as libc::c_ushort, // about a dozen instructions
        filter: program.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `program`, which outlives the call; the kernel copies
    // the instructions and keeps no pointer to them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &fprog as *const sock_fprog,
        )
    };
    match ret {
        0 => {
            FORBIDDEN.store(true, Ordering::Relaxed);
            Ok(())
        }
        -1 => Err(GuardError::Seccomp(io::Error::last_os_error())),
        // With TSYNC, a positive result is the id of a thread that could not be synced
        // (its existing filters are not an ancestor of ours). Nothing was installed.
        tid => Err(GuardError::Seccomp(io::Error::other(format!(
            "thread {tid} of this process runs under another seccomp filter, \
             so the filter could not be applied to every thread"
        )))),
    }
}

/// What the filter needs to know about the ABI this program was compiled for.
struct Abi {
    /// The `seccomp_data.arch` value of native system calls.
    audit_arch: u32,
    /// A bit that marks system call numbers of another ABI sharing `audit_arch`.
    foreign_nr_bit: Option<u32>,
}

// libc 0.2 does not export the `AUDIT_ARCH_*` values; these follow
// include/uapi/linux/audit.h: an ELF machine number plus two flag bits.

/// `__AUDIT_ARCH_64BIT`
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const AUDIT_ARCH_64BIT: u32 = 0x8000_0000;

/// `__AUDIT_ARCH_LE` (little-endian)
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const AUDIT_ARCH_LE: u32 = 0x4000_0000;

/// `AUDIT_ARCH_X86_64` = `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = libc::EM_X86_64 as u32 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE;

/// `__X32_SYSCALL_BIT`, from arch/x86/include/uapi/asm/unistd.h (libc exports it only
/// when compiling for x32).
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_AARCH64` = `EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_AARCH64: u32 = libc::EM_AARCH64 as u32 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE;

#[cfg(target_arch = "x86_64")]
const NATIVE_ABI: Option<Abi> = Some(Abi { audit_arch: AUDIT_ARCH_X86_64, foreign_nr_bit: Some(X32_SYSCALL_BIT) });

#[cfg(target_arch = "aarch64")]
const NATIVE_ABI: Option<Abi> = Some(Abi { audit_arch: AUDIT_ARCH_AARCH64, foreign_nr_bit: None });

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NATIVE_ABI: Option<Abi> = None;

/// Offset in `seccomp_data` of the low 32 bits of `args[0]` (the `clone` flags).
const ARG0_LOW: usize = offset_of!(seccomp_data, args) + if cfg!(target_endian = "big") { 4 } else { 0 };

/// The filter of the module documentation, one rule per line.
fn thread_filter(abi: &Abi) -> Vec<sock_filter> {
    let mut program = vec![load(offset_of!(seccomp_data, arch))];
    program.extend(return_if_ne(abi.audit_arch, errno(libc::EPERM)));
    program.push(load(offset_of!(seccomp_data, nr)));
    if let Some(bit) = abi.foreign_nr_bit {
        program.extend(return_if_any(bit, errno(libc::EPERM)));
    }
    program.extend(return_if_eq(libc::SYS_clone3 as u32, errno(libc::ENOSYS)));
    program.extend(return_if_ne(libc::SYS_clone as u32, SECCOMP_RET_ALLOW));
    program.push(load(ARG0_LOW));
    program.extend(return_if_any(libc::CLONE_THREAD as u32, errno(libc::EPERM)));
    program.push(ret(SECCOMP_RET_ALLOW));
    program
}

// A classic BPF machine has one 32-bit register, the accumulator A. Each instruction
// has an opcode, a constant k, and for conditional jumps two distances: the kernel
// skips `jt` instructions when the condition holds and `jf` when it does not. Every
// test below is followed by a `ret`, and jumps over it (distance 1) or lands on it
// (distance 0). So each rule reads as "if ... return ...", and no jump depends on
// where the others are.

/// `A = the 32-bit word at offset` of the `seccomp_data` the kernel filled in.
fn load(offset: usize) -> sock_filter {
    instruction(BPF_LD | BPF_W | BPF_ABS, offset as u32, 0, 0)
}

/// End the program: the kernel carries out `action` (a `SECCOMP_RET_*` value).
fn ret(action: u32) -> sock_filter {
    instruction(BPF_RET | BPF_K, action, 0, 0)
}

/// `if A == k { return action }`
fn return_if_eq(k: u32, action: u32) -> [sock_filter; 2] {
    [instruction(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1), ret(action)]
}

/// `if A != k { return action }`
fn return_if_ne(k: u32, action: u32) -> [sock_filter; 2] {
    [instruction(BPF_JMP | BPF_JEQ | BPF_K, k, 1, 0), ret(action)]
}

/// `if A & bits != 0 { return action }`
fn return_if_any(bits: u32, action: u32) -> [sock_filter; 2] {
    [instruction(BPF_JMP | BPF_JSET | BPF_K, bits, 0, 1), ret(action)]
}

/// The action "fail the call with this errno, without running it".
fn errno(e: libc::c_int) -> u32 {
    SECCOMP_RET_ERRNO | (e as u32 & SECCOMP_RET_DATA)
}

fn instruction(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    // Opcodes fit in 16 bits; libc types the constants as u32.
    sock_filter { code: code as u16, jt, jf, k }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `program` on `data` the way the kernel does (only the instructions used
    /// here), and returns the action.
    fn run(program: &[sock_filter], data: &seccomp_data) -> u32 {
        // SAFETY: seccomp_data is plain integers without padding.
        let bytes = unsafe {
            std::slice::from_raw_parts((data as *const seccomp_data).cast::<u8>(), size_of::<seccomp_data>())
        };
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let insn = program[pc];
            pc += 1;
            match u32::from(insn.code) {
                c if c == BPF_LD | BPF_W | BPF_ABS => {
                    let at = insn.k as usize;
                    a = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
                }
                c if c == BPF_RET | BPF_K => return insn.k,
                c if c == BPF_JMP | BPF_JEQ | BPF_K || c == BPF_JMP | BPF_JSET | BPF_K => {
                    let holds = if c & BPF_JSET != 0 { a & insn.k != 0 } else { a == insn.k };
                    pc += usize::from(if holds { insn.jt } else { insn.jf });
                }
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn call(arch: u32, nr: libc::c_long, arg0: u64) -> seccomp_data {
        seccomp_data { nr: nr as libc::c_int, arch, instruction_pointer: 0, args: [arg0, 0, 0, 0, 0, 0] }
    }

    #[test]
    fn filter_decides_as_documented() {
        // The x86_64 values, written out so that the test runs on any architecture.
        const NATIVE: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
        const I386: u32 = 0x4000_0003; // AUDIT_ARCH_I386
        const X32_BIT: u32 = 0x4000_0000;
        #[cfg(target_arch = "x86_64")]
        assert_eq!((AUDIT_ARCH_X86_64, X32_SYSCALL_BIT), (NATIVE, X32_BIT));
        let abi = Abi { audit_arch: NATIVE, foreign_nr_bit: Some(X32_BIT) };
        let program = thread_filter(&abi);
        let fork_flags = libc::SIGCHLD as u64;
        let thread_flags = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        let clone = libc::SYS_clone;
        let eperm = errno(libc::EPERM);

        let verdict = |data| run(&program, &data);
        assert_eq!(verdict(call(NATIVE, libc::SYS_getpid, 0)), SECCOMP_RET_ALLOW);
        assert_eq!(verdict(call(NATIVE, clone, fork_flags)), SECCOMP_RET_ALLOW);
        assert_eq!(verdict(call(NATIVE, clone, thread_flags)), eperm);
        assert_eq!(verdict(call(NATIVE, libc::SYS_clone3, 0)), errno(libc::ENOSYS));
        assert_eq!(verdict(call(I386, libc::SYS_getpid, 0)), eperm);
        let x32_clone = X32_BIT as libc::c_long | clone;
        assert_eq!(verdict(call(NATIVE, x32_clone, fork_flags)), eperm);
    }

    #[test]
    fn reads_threads_line() {
        let status = "Name:\tcat\nTgid:\t7\nThreads:\t3\nSigQ:\t0/1\n";
        assert_eq!(parse_threads_line(status), Some(3));
        assert_eq!(parse_threads_line("Name:\tcat\n"), None);
    }
}
