//! The open-files limit (rule 5 of the [contract](crate)).

use std::io;

/// Raises the soft limit on open files to the hard limit and returns it. Each connection is
/// a file descriptor; the default soft limit (1024) would cap every engine far below what the
/// models can hold. The load generator and the dashboard call it too.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = get_nofile()?;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid rlimit struct; the kernel only reads it.
        crate::check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) })?;
    }
    Ok(limit.rlim_cur)
}

/// A limit that is no limit (`RLIM_INFINITY`), as [`open_files_limits`] reports it.
pub const UNLIMITED: u64 = libc::RLIM_INFINITY;

/// The process's open-files limits `(soft, hard)` (`RLIMIT_NOFILE`; [`UNLIMITED`] for none),
/// or `None` if they cannot be read.
pub fn open_files_limits() -> Option<(u64, u64)> {
    get_nofile()
        .ok()
        .map(|limit| (limit.rlim_cur, limit.rlim_max))
}

fn get_nofile() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit struct for the duration of the call.
    crate::check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    Ok(limit)
}
