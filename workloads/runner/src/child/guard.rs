//! The group guard: a tiny forked process per server group that kills the group when the
//! workbench dies (it reads a pipe whose write end only the workbench holds).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::Guard;

/// Forks the group guard of process group `pgid` (see the [module docs](super)).
pub(super) fn start_guard(pgid: libc::pid_t) -> io::Result<Guard> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes. O_CLOEXEC: no server we
    // exec later inherits the write end (which would keep the pipe open after our death).
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just opened by pipe2 and are owned by nothing else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fork in a multi-threaded process: the child is a copy with one thread, in which
    // any lock another thread held (the allocator's, stdio's, a mutex) stays locked forever.
    // The child therefore runs only `guard_main`, which makes async-signal-safe system calls
    // on integers copied before the fork and ends in `_exit`, never returning into Rust code
    // that could allocate, unwind or run destructors.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => guard_main(read.as_raw_fd(), pgid),
        pid => {
            drop(read);
            Ok(Guard { pid, _pipe: write })
        }
    }
}

/// The guard, in the forked child: join the group, keep only the pipe, wait for it to close,
/// kill the group. Async-signal-safe calls only (see [`start_guard`]).
fn guard_main(read: libc::c_int, pgid: libc::pid_t) -> ! {
    // SAFETY: each call is a plain system call on integers (async-signal-safe), and the
    // buffer handed to read is a local byte.
    unsafe {
        // Out of the workbench's group, so a terminal's Ctrl-C does not kill the guard; into
        // the server's, so stopping the group takes the guard with it.
        libc::setpgid(0, pgid);
        // The pipe becomes stdin; every other descriptor is closed, so the guard holds no
        // socket, file or pipe of the workbench open (a connection the load generator
        // closes must really close; a test reading our stdout must see its end).
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
                break; // end of file: the workbench has died
            }
        }
        libc::killpg(pgid, libc::SIGKILL);
        libc::_exit(0)
    }
}
