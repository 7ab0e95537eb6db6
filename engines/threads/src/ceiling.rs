//! Why a thread could not be started: which kernel or process limit was reached, with its
//! value and how to raise it.
//!
//! `pthread_create` says only `EAGAIN` (a limit) or `ENOMEM` (no memory), whichever of several
//! limits ended it. [`explain`] reads each one and names the first that is reached, so the
//! warning says "`vm.max_map_count` = 65530" rather than "Resource temporarily unavailable".
//! It reads `/proc` (the process's whole memory map among it), so it is called only when the
//! warning is about to be logged, at most once a second.
//!
//! On Linux with glibc and Rust's `std`, each thread maps **four** areas: its stack, the
//! stack's guard page, the signal stack `std` gives every thread (so that a stack overflow is
//! reported, not a bare SIGSEGV) and that signal stack's guard page. With the default
//! `vm.max_map_count` of 65530, a process of these threads stops near 16,370 threads, long
//! before `kernel.threads-max` or `kernel.pid_max` (32768 by default) are in sight.

use std::io;

/// Each thread's memory mappings: stack, guard page, signal stack, its guard page. (The
/// registry's `wb_model::engines::THREAD_MAPPINGS`, which the idle lesson uses, must agree.)
pub const MAPPINGS_PER_THREAD: u64 = 4;

/// Mappings this close to `vm.max_map_count` count as the limit being reached: a new thread
/// needs [`MAPPINGS_PER_THREAD`] more.
const MAP_MARGIN: u64 = 2 * MAPPINGS_PER_THREAD;

/// Tasks this close to a system-wide limit count as it being reached (other processes start
/// and stop threads meanwhile).
const TASK_MARGIN: u64 = 64;

/// What stopped `spawn` with `err`, in words, with the limit's value and how to raise it.
pub(crate) fn explain(err: &io::Error, stack_size: usize) -> String {
    let threads = own_threads();
    let number = threads.map_or_else(|| "a new thread".into(), |t| format!("thread {}", t + 1));
    let reason = limit_reached(err, stack_size, threads);
    format!("cannot start {number} ({err}): {reason}")
}

fn limit_reached(err: &io::Error, stack_size: usize, threads: Option<u64>) -> String {
    if let (Some(max), Some(maps)) = (read_number("/proc/sys/vm/max_map_count"), own_mappings())
        && maps + MAP_MARGIN >= max
    {
        return format!(
            "vm.max_map_count = {max} reached ({maps} memory mappings; each thread maps \
             {MAPPINGS_PER_THREAD}: its stack, the stack's guard page, a signal stack and its \
             guard page); raise it with `sysctl -w vm.max_map_count={}`",
            (max * 4).max(262_144)
        );
    }
    let tasks = system_tasks();
    if let (Some(max), Some(tasks)) = (read_number("/proc/sys/kernel/threads-max"), tasks)
        && tasks + TASK_MARGIN >= max
    {
        return format!(
            "kernel.threads-max = {max} reached ({tasks} threads on the machine); raise it \
             with `sysctl -w kernel.threads-max={}`",
            max * 2
        );
    }
    if let (Some(max), Some(tasks)) = (read_number("/proc/sys/kernel/pid_max"), tasks)
        && tasks + TASK_MARGIN >= max
    {
        return format!(
            "kernel.pid_max = {max} reached ({tasks} threads on the machine, each takes an \
             ID); raise it with `sysctl -w kernel.pid_max=4194304`"
        );
    }
    if let Some((max, current)) = cgroup_pids()
        && current + TASK_MARGIN >= max
    {
        return format!(
            "the cgroup's pids.max = {max} reached ({current} tasks in it); raise it in the \
             service or container settings (systemd TasksMax=, docker --pids-limit)"
        );
    }
    if let Some(max) = nproc_limit()
        && let Some(threads) = threads
        && threads + TASK_MARGIN >= max
    {
        return format!(
            "RLIMIT_NPROC = {max} reached (it counts the user's threads); raise it with \
             `ulimit -u` or in /etc/security/limits.conf"
        );
    }
    if err.raw_os_error() == Some(libc::ENOMEM) {
        return format!(
            "no memory for another {} KiB stack; lower --stack-size or free memory",
            stack_size / 1024
        );
    }
    format!(
        "no limit found reached ({} threads here; vm.max_map_count, kernel.threads-max, \
         kernel.pid_max, pids.max and RLIMIT_NPROC all have room): memory, or a limit \
         outside this process's view",
        threads.map_or_else(|| "?".into(), |t| t.to_string())
    )
}

/// A file holding one decimal number.
fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// This process's threads (`Threads:` in `/proc/self/status`).
fn own_threads() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// This process's memory mappings (lines of `/proc/self/maps`).
fn own_mappings() -> Option<u64> {
    let maps = std::fs::read("/proc/self/maps").ok()?;
    Some(maps.iter().filter(|&&b| b == b'\n').count() as u64)
}

/// Threads on the whole machine: the fourth field of `/proc/loadavg`, `running/total`.
fn system_tasks() -> Option<u64> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let field = loadavg.split_whitespace().nth(3)?;
    field.split_once('/')?.1.parse().ok()
}

/// The process's pids cgroup limit and count, `(max, current)`, if it has a limit (cgroup v2
/// `pids.max`, or v1's pids controller).
fn cgroup_pids() -> Option<(u64, u64)> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let dir = match controllers {
            "" => format!("/sys/fs/cgroup{path}"),
            c if c.split(',').any(|c| c == "pids") => format!("/sys/fs/cgroup/pids{path}"),
            _ => continue,
        };
        if let (Some(max), Some(current)) = (
            read_number(&format!("{dir}/pids.max")),
            read_number(&format!("{dir}/pids.current")),
        ) {
            return Some((max, current));
        }
    }
    None
}

/// The soft RLIMIT_NPROC, unless unlimited.
fn nproc_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut limit) } != 0 {
        return None;
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explanation_names_the_thread_and_a_cause() {
        let text = explain(&io::Error::from_raw_os_error(libc::EAGAIN), 64 * 1024);
        assert!(text.starts_with("cannot start thread "), "{text}");
        // Far from any limit in a test process: the fallback names what was checked.
        assert!(text.contains("vm.max_map_count"), "{text}");
        let text = explain(&io::Error::from_raw_os_error(libc::ENOMEM), 64 * 1024);
        assert!(text.contains("64 KiB stack"), "{text}");
    }

    #[test]
    fn the_readers_see_this_process() {
        assert!(own_threads().is_some_and(|t| t >= 1));
        assert!(own_mappings().is_some_and(|m| m > 10));
        assert!(system_tasks().is_some_and(|t| t >= 1));
    }
}
