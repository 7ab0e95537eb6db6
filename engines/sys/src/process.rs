//! Child processes, for the runner and the tools around it: dying with the parent, the group
//! guard, signals to a child or its group, waiting without reaping, CPU time of a reaped
//! child, and the effective user.
//!
//! Why a server is started this way — its own process group, a parent-death signal, a guard
//! per group — is told in `wb_runner::child`; this module holds the system calls, each behind
//! a safe function.
//!
//! # Between `fork` and `exec`
//!
//! A process with threads that forks gets a copy with one thread, in which any lock another
//! thread held at that moment (the allocator's, stdio's, a `Mutex`) stays locked forever. So
//! the code that runs in a forked child before `exec` ([`die_with_parent`]'s hook, the
//! [group guard](GroupGuard)'s whole life, and the pinning hooks of
//! [`affinity`](crate::affinity)) makes only async-signal-safe calls — plain system calls on
//! values copied before the fork — allocates nothing, takes no lock and never returns into
//! code that could.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// A process ID (also a process group's ID: a group leader's PID).
pub type Pid = libc::pid_t;

/// A signal number, as [`ExitStatusExt::signal`] reports it and [`signal`] sends it.
pub type Signal = libc::c_int;

pub use libc::{SIGABRT, SIGINT, SIGKILL, SIGQUIT, SIGSEGV, SIGTERM};

/// Whether process `pid` exists (`kill(pid, 0)`): a zombie still does. `EPERM` (it exists,
/// but is another user's) counts as alive.
pub fn exists(pid: Pid) -> bool {
    match signal(pid, 0) {
        Ok(()) => true,
        Err(err) => err.raw_os_error() == Some(libc::EPERM),
    }
}

/// Makes the process `command` starts die (by SIGKILL) when the thread that forks it exits,
/// even if this process is killed by SIGKILL, which no handler can catch.
///
/// Between `fork` and `exec` the child asks the kernel for a parent-death signal
/// (`prctl(PR_SET_PDEATHSIG, SIGKILL)`). The parent may already have died between the fork
/// and that call; then the child has been re-parented and no signal will ever come, so it
/// checks `getppid()` afterwards and exits at once (status 1) if its parent is no longer the
/// process that called this function. The signal follows the *thread* that forked, not the
/// process, so fork from a thread that lives as long as the child should. It survives `exec`
/// (except into a set-user-ID program) but not `fork`: the child's own children do not
/// inherit it.
pub fn die_with_parent(command: &mut Command) {
    die_with_parent_by(command, SIGKILL);
}

/// Like [`die_with_parent`], with `signal` instead of SIGKILL: for a server that shuts down
/// cleanly on a signal of its own (PostgreSQL's postmaster takes SIGQUIT as "immediate
/// shutdown": it stops its backends and removes its lock files, where SIGKILL leaves them).
/// The hook runs after a user change `command` asks for (`CommandExt::uid`), since a change of
/// credentials clears the parent-death signal.
pub fn die_with_parent_by(command: &mut Command, signal: Signal) {
    // SAFETY: getpid has no preconditions and touches no memory.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
    // calls are allowed (see the module docs). It makes only plain system calls (prctl,
    // getppid, _exit) on `parent` and `signal`, integers copied in before the fork; it allocates nothing
    // and takes no lock; `io::Error::last_os_error` only reads errno into a value.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl: then no signal will come.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Sends `signal` to process `pid` (`kill(2)`).
///
/// `pid` must be positive: this never signals a process group or every process (`kill`'s
/// meaning for 0 and negative PIDs); those fail with `EINVAL`. Signal only a child not yet
/// reaped (even a zombie keeps its PID): another PID may have been reused by a stranger.
pub fn signal(pid: Pid, signal: Signal) -> io::Result<()> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    crate::check(unsafe { libc::kill(pid, signal) })
}

/// Sends `signal` to every process of group `pgid` (`killpg(3)`).
///
/// `pgid` must be above 1 (0 would be the caller's own group); else `EINVAL`. As for
/// [`signal`]: name a group by the PID of its leader while that leader is a child of ours
/// not yet reaped, so the ID cannot have been reused.
pub fn signal_group(pgid: Pid, signal: Signal) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: killpg takes two integers and touches no memory of ours.
    crate::check(unsafe { libc::killpg(pgid, signal) })
}

/// Whether child `pid` has exited, *without* reaping it (`waitid` with `WNOWAIT`): its PID,
/// which may also be its group's ID, stays ours until it is reaped, so its group can still
/// be signalled safely. A child that has already been reaped (`ECHILD`) counts as exited.
pub fn has_exited(pid: Pid) -> io::Result<bool> {
    let id = libc::id_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: siginfo_t is plain data, for which all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a valid, writable siginfo_t for the duration of the call.
    if unsafe { libc::waitid(libc::P_PID, id, &mut info, flags) } != 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ECHILD) {
            return Ok(true);
        }
        return Err(err);
    }
    // SAFETY: waitid succeeded with WNOHANG, so it filled `info` for an exited child, or left
    // it zeroed (si_pid 0) if none has exited; si_pid is valid to read in both cases.
    Ok(unsafe { info.si_pid() } != 0)
}

/// Waits for child `pid` to end and reaps it, discarding its status (`waitpid`).
pub fn reap(pid: Pid) -> io::Result<()> {
    // SAFETY: a null status pointer is allowed (the status is not wanted); no other memory.
    if unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) } != pid {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPU time a child used, user and system (its threads' and its reaped children's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTime {
    /// Time spent running its own code.
    pub user: Duration,
    /// Time the kernel spent on its behalf.
    pub system: Duration,
}

/// Waits for child `pid` to end, reaps it and returns its exit status and the CPU time it
/// used (`wait4`). A `std::process::Child` for it must not be waited for afterwards.
pub fn wait_with_cpu_time(pid: Pid) -> io::Result<(ExitStatus, CpuTime)> {
    let mut status = 0;
    // SAFETY: rusage is plain data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid, writable values for the duration of the call.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        return Err(io::Error::last_os_error());
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let cpu = CpuTime {
        user: time(usage.ru_utime),
        system: time(usage.ru_stime),
    };
    Ok((ExitStatus::from_raw(status), cpu))
}

/// This process's effective user ID (0 for root).
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

/// A tiny forked process that kills a process group when this process dies, for whatever
/// reason, SIGKILL included.
///
/// The guard joins the group, closes every descriptor but one end of a pipe, and blocks
/// reading it. Only this process holds the other end (close-on-exec, so no program it starts
/// inherits it); when this process dies the kernel closes it, the read returns end-of-file,
/// and the guard sends SIGKILL to the whole group, itself included. It covers what a
/// parent-death signal cannot: the group's other processes (a server's workers), which do
/// not inherit that signal. Dropping a `GroupGuard` closes the pipe too, so the guard kills
/// the group; [`GroupGuard::stop`] ends the guard alone.
#[derive(Debug)]
pub struct GroupGuard {
    /// Its PID: our child, until [`GroupGuard::stop`] reaps it.
    pid: Pid,
    /// The pipe's write end, held only by this process. Never written to: its closing is
    /// what the guard waits for.
    _pipe: OwnedFd,
}

impl GroupGuard {
    /// Forks the guard of process group `pgid`.
    pub fn start(pgid: Pid) -> io::Result<GroupGuard> {
        if pgid <= 1 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes. O_CLOEXEC: no program
        // exec'd later inherits the write end (which would keep the pipe open after our
        // death).
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just opened by pipe2 and are owned by nothing else;
        // each is handed to exactly one OwnedFd, which closes it once.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fork in a process that may have other threads: the child is a copy with one
        // thread, in which any lock another thread held stays locked forever. The child
        // therefore runs only `guard_main`, which makes async-signal-safe system calls on
        // integers copied before the fork and ends in `_exit`, never returning into Rust code
        // that could allocate, unwind or run destructors (the child's copies of `read` and
        // `write` are never dropped; the kernel closes them).
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => guard_main(read.as_raw_fd(), pgid),
            pid => {
                drop(read);
                Ok(GroupGuard { pid, _pipe: write })
            }
        }
    }

    /// The guard's PID.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Kills the guard (SIGKILL, so it cannot kill its group first) and reaps it.
    pub fn stop(self) {
        let _ = signal(self.pid, SIGKILL);
        let _ = reap(self.pid);
    }
}

/// The guard, in the forked child: join the group, keep only the pipe, wait for it to close,
/// kill the group. Async-signal-safe calls only (see [`GroupGuard::start`]).
fn guard_main(read: libc::c_int, pgid: Pid) -> ! {
    // SAFETY: each call is a plain system call on integers (async-signal-safe), and the
    // buffers handed to getrlimit and read are locals.
    unsafe {
        // Out of the caller's group, so a terminal's Ctrl-C does not kill the guard; into
        // the guarded one, so stopping the group takes the guard with it.
        libc::setpgid(0, pgid);
        // The pipe becomes stdin; every other descriptor is closed, so the guard holds no
        // socket, file or pipe of its parent open (a connection the parent closes must really
        // close; a process reading the parent's stdout must see its end).
        if read != 0 {
            libc::dup2(read, 0);
        }
        if libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32) != 0 {
            // Kernels before 5.9: close them one by one, up to the descriptor limit.
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            let top = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                limit.rlim_cur.min(1 << 20) as libc::c_int
            } else {
                1024
            };
            for fd in 1..top {
                libc::close(fd);
            }
        }
        let mut byte = 0u8;
        loop {
            let n = libc::read(0, (&mut byte as *mut u8).cast(), 1);
            if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                break; // end of file: the parent has died
            }
        }
        libc::killpg(pgid, libc::SIGKILL);
        libc::_exit(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by its PID, which is what is tested"
    )]
    fn a_child_is_signalled_seen_exited_and_reaped() {
        let mut command = Command::new("sleep");
        command.arg("30").stdin(Stdio::null());
        die_with_parent(&mut command);
        let child = command.spawn().unwrap();
        let pid = Pid::try_from(child.id()).unwrap();
        assert!(!has_exited(pid).unwrap());
        signal(pid, SIGTERM).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !has_exited(pid).unwrap() {
            assert!(
                std::time::Instant::now() < deadline,
                "SIGTERM did not end sleep"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Seen, not reaped: it can still be reaped.
        reap(pid).unwrap();
        // Not a child of ours (init): nothing to wait for, so it counts as exited.
        assert!(has_exited(1).unwrap());
    }

    #[test]
    fn no_signal_to_a_group_or_everyone_by_mistake() {
        for pid in [0, -1] {
            assert_eq!(
                signal(pid, 0).unwrap_err().raw_os_error(),
                Some(libc::EINVAL)
            );
        }
        for pgid in [0, 1] {
            assert_eq!(
                signal_group(pgid, 0).unwrap_err().raw_os_error(),
                Some(libc::EINVAL)
            );
        }
    }

    #[test]
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by its PID, which is what is tested"
    )]
    fn cpu_time_of_a_reaped_child() {
        let child = Command::new("true").spawn().unwrap();
        let (status, cpu) = wait_with_cpu_time(Pid::try_from(child.id()).unwrap()).unwrap();
        assert!(status.success());
        assert!(cpu.user + cpu.system < Duration::from_secs(5));
    }

    #[test]
    fn the_guard_kills_its_group_when_its_pipe_closes() {
        let mut command = Command::new("sleep");
        command.arg("30").stdin(Stdio::null()).process_group(0);
        let mut child = command.spawn().unwrap();
        let pgid = Pid::try_from(child.id()).unwrap();
        let guard = GroupGuard::start(pgid).unwrap();
        let guard_pid = guard.pid();
        // Dropping closes the pipe, as our death would: the guard kills the group.
        drop(guard);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(SIGKILL));
        reap(guard_pid).unwrap();
    }
}
