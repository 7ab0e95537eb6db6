//! Where a server runs: the calling thread's CPU affinity, and pinning a process or this
//! thread to CPUs (a server inherits the affinity of the thread that forks it).

use std::io;

/// The calling thread's CPU affinity, if it can be read.
pub(super) fn thread_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data, all-zero valid; sched_getaffinity writes at most its
    // size into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
            .then_some(set)
    }
}

/// Restricts process (or thread) `pid` — 0 for the calling thread — to one CPU.
pub fn pin_to_cpu(pid: libc::pid_t, cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data and all-zero is a valid empty set; CPU_SET writes
    // inside it (cpu is checked against its capacity first); sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Lets the calling thread (and the threads and processes it starts later) run only on
/// `cpus`; `0..cores` undoes a placement.
pub fn pin_thread_to(cpus: std::ops::Range<usize>) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data and all-zero is a valid empty set; CPU_SET writes
    // inside it (each cpu is checked against its capacity first); sched_setaffinity with
    // pid 0 changes only this thread's mask and reads the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in cpus {
            if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
