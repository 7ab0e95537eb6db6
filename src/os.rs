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

/// `pid` and all its descendants (the prefork pool's workers, say), read from
/// `/proc/<pid>/task/<tid>/children`. A process that exits meanwhile is skipped.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut tree = Vec::new();
    let mut pending = vec![pid];
    while let Some(pid) = pending.pop() {
        tree.push(pid);
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                pending.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
    }
    tree
}

/// User plus system CPU time of one process (all its threads), in seconds, from
/// `/proc/<pid>/stat`; `None` if it has exited.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / hz as f64)
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
