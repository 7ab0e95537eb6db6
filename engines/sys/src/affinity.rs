//! Where a process runs: CPU affinity, for the runner's placements (a server on its CPUs, the
//! load generator on others) and the benchmarks.
//!
//! A thread's affinity is inherited by the threads it spawns and the processes it forks; a
//! process pinned before `exec` ([`pin_before_exec`]) cannot start anything that escapes it.

use std::io;
use std::ops::Range;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::process::Pid;

/// A set of CPUs (`cpu_set_t`): plain data, copied freely.
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

impl CpuSet {
    /// How many CPUs a set can name (1024 with glibc): CPUs `0..CAPACITY`.
    pub const CAPACITY: usize = 8 * std::mem::size_of::<libc::cpu_set_t>();

    /// The empty set.
    pub fn empty() -> CpuSet {
        // SAFETY: cpu_set_t is plain data (an array of integers), for which all zeroes is a
        // valid value: the empty set.
        CpuSet(unsafe { std::mem::zeroed() })
    }

    /// Adds `cpu`; `EINVAL` if it is beyond [`CpuSet::CAPACITY`].
    pub fn add(&mut self, cpu: usize) -> io::Result<()> {
        if cpu >= CpuSet::CAPACITY {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: CPU_SET writes one bit inside the set, at `cpu`, which is checked against
        // the set's capacity just above.
        unsafe { libc::CPU_SET(cpu, &mut self.0) };
        Ok(())
    }

    /// The set of `cpus`; `EINVAL` if one is beyond [`CpuSet::CAPACITY`]. Allocates nothing,
    /// so it may be called between `fork` and `exec`.
    pub fn of(cpus: impl IntoIterator<Item = usize>) -> io::Result<CpuSet> {
        let mut set = CpuSet::empty();
        for cpu in cpus {
            set.add(cpu)?;
        }
        Ok(set)
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: usize) -> bool {
        // SAFETY: CPU_ISSET reads one bit inside the set, at `cpu`, checked to be in range.
        cpu < CpuSet::CAPACITY && unsafe { libc::CPU_ISSET(cpu, &self.0) }
    }

    /// The calling thread's affinity, if it can be read.
    pub fn of_this_thread() -> Option<CpuSet> {
        let mut set = CpuSet::empty();
        // SAFETY: sched_getaffinity writes at most the size it is given, the set's own, into
        // the set; pid 0 is the calling thread.
        let rc = unsafe {
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set.0)
        };
        (rc == 0).then_some(set)
    }
}

impl std::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((0..CpuSet::CAPACITY).filter(|&cpu| self.contains(cpu)))
            .finish()
    }
}

/// Restricts process (or thread) `pid` — 0 for the calling thread — to the CPUs of `set`.
/// Makes one system call and allocates nothing, so it may run between `fork` and `exec`.
pub fn set_affinity(pid: Pid, set: &CpuSet) -> io::Result<()> {
    // SAFETY: sched_setaffinity reads the set, of the size it is given; it changes no memory.
    crate::check(unsafe {
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set.0)
    })
}

/// Restricts process (or thread) `pid` — 0 for the calling thread — to one CPU.
pub fn pin_to_cpu(pid: Pid, cpu: usize) -> io::Result<()> {
    set_affinity(pid, &CpuSet::of([cpu])?)
}

/// Lets the calling thread (and the threads and processes it starts later) run only on
/// `cpus`; `0..cores` undoes a placement.
pub fn pin_thread_to(cpus: Range<usize>) -> io::Result<()> {
    set_affinity(0, &CpuSet::of(cpus)?)
}

/// Pins the process `command` starts to `cpu`, from before it runs: the affinity is set in
/// the child before `exec`, so nothing it starts (threads, workers) escapes it. If it cannot
/// be set (`cpu` beyond the machine's or the set's CPUs), the spawn fails with the error.
pub fn pin_before_exec(command: &mut Command, cpu: usize) {
    // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
    // calls are allowed (another thread of the parent may have held a lock, e.g. the
    // allocator's, at the moment of the fork). It builds a set on the stack from `cpu`, an
    // integer copied in before the fork, and makes one plain system call
    // (sched_setaffinity); it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || pin_to_cpu(0, cpu));
    }
}

/// Gives the process `command` starts the affinity `set` before it runs, on a best-effort
/// basis (an error is ignored): for a caller that forks through another thread (whose
/// affinity may differ) and wants the child placed as if it had forked it itself.
pub fn inherit_before_exec(command: &mut Command, set: CpuSet) {
    // SAFETY: as in `pin_before_exec`: in the forked child, one plain system call on `set`,
    // plain data copied into the closure before the fork; nothing allocates or locks.
    unsafe {
        command.pre_exec(move || {
            let _ = set_affinity(0, &set);
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_holds_what_was_added_and_refuses_what_it_cannot() {
        let set = CpuSet::of([0, 3]).unwrap();
        assert!(set.contains(0) && set.contains(3) && !set.contains(1));
        assert_eq!(format!("{set:?}"), "{0, 3}");
        let err = CpuSet::of([CpuSet::CAPACITY]).err().unwrap();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        assert!(!set.contains(CpuSet::CAPACITY));
    }

    #[test]
    fn a_thread_pinned_to_its_own_cpus_keeps_them() {
        // A fresh thread, so the test runner's own threads are not touched.
        std::thread::spawn(|| {
            let mine = CpuSet::of_this_thread().unwrap();
            let first = (0..CpuSet::CAPACITY)
                .find(|&cpu| mine.contains(cpu))
                .unwrap();
            pin_to_cpu(0, first).unwrap();
            let now = CpuSet::of_this_thread().unwrap();
            assert_eq!(format!("{now:?}"), format!("{{{first}}}"));
            set_affinity(0, &mine).unwrap();
        })
        .join()
        .unwrap();
    }
}
