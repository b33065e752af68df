//! How every child of this benchmark is started: pinned to one CPU, with as many file
//! descriptors as the hard limit allows.
//!
//! On a 2-CPU machine the server gets one CPU and the client the other, so a client's
//! CPU time is its own and the two never fight for a core. (The benchmark's own
//! watcher, which wakes every 2 ms, is left unpinned.) C = 1000 needs more than the
//! usual soft limit of 1024 descriptors: hyper may open 1.5–1.8 × C sockets while old
//! ones close, and nginx needs two per connection at most. Both settings are applied
//! in the child between `fork` and `exec`, so they hold from the first instruction.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// The CPUs this process may run on, in order (`sched_getaffinity`).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is the empty set; the call fills it in.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer and size describe `set`; pid 0 is this process.
    let got = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if got != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET reads the set within its bounds (CPU_SETSIZE).
    (0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect()
}

/// Makes `command` start on `cpu` alone (when given), with the soft limit on open
/// files raised to the hard limit.
pub fn prepare(command: &mut Command, cpu: Option<usize>) {
    // SAFETY: the closure runs in the child after fork. It only makes system calls
    // (getrlimit, setrlimit, sched_setaffinity) on stack values: no allocation, no locks.
    unsafe {
        command.pre_exec(move || {
            let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
            if let Some(cpu) = cpu {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}
