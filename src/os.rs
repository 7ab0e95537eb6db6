//! Small wrappers over the operating system that several parts need.

/// Raises the soft limit on open files to the hard limit and returns it. Each connection is
/// a file descriptor; the default soft limit (1024) would cap every engine far below what the
/// models can hold.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit struct for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid rlimit struct; the kernel only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// Blocks SIGINT and SIGTERM on the calling thread (and the threads and processes it creates
/// later). Each engine unblocks them once its own handling is installed.
pub fn block_stop_signals() -> std::io::Result<()> {
    // SAFETY: `set` is a valid sigset_t buffer, initialised by sigemptyset before use; the
    // signal numbers are valid; pthread_sigmask only changes this thread's mask.
    let err = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut())
    };
    match err {
        0 => Ok(()),
        err => Err(std::io::Error::from_raw_os_error(err)),
    }
}
