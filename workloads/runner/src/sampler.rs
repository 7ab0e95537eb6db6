//! The /proc sampler: what the engine's processes and the kernel hold, every 200 ms.
//!
//! The runner starts one [`Sampler`] per step, on the engine's pid. Its thread reads `/proc`
//! every interval and keeps a [`Sample`]; [`Sampler::stop`] takes one last reading (so the end
//! of the window is always covered) and hands the samples back.
//!
//! # What one sample reads
//!
//! For the engine's process tree ([`process_tree`]: the engine and every descendant, so the
//! prefork pool's parent *and* its workers), summed over the processes:
//!
//! | figure | file | note |
//! |---|---|---|
//! | RSS, PSS, USS | `/proc/<pid>/smaps_rollup` | USS = `Private_Clean` + `Private_Dirty` + `Private_Hugetlb`. PSS divides each shared page among its sharers, so it is the one that adds up across the pool's workers; RSS counts a shared page once per process |
//! | virtual size (VSZ) | `/proc/<pid>/stat` | `vsize`, bytes: every mapping, touched or not (a thread's whole stack, reserved when the thread starts); the same figure as `VmSize` in `status` |
//! | user and system CPU | `/proc/<pid>/stat` | `utime` / `stime` ÷ clock ticks per second; they include the process's exited threads |
//! | threads | `/proc/<pid>/stat` | `num_threads` |
//! | context switches | `/proc/<pid>/task/<tid>/status` | see below |
//! | open descriptors | `/proc/<pid>/fd` | counted, not listed (Linux 6.2+ gives the count as the directory's size) |
//!
//! System-wide, because the kernel pays for sockets whatever the model: TCP sockets in use and
//! TCP buffer memory from `/proc/net/sockstat` (`TCP: inuse N … mem P`, where `mem` is in
//! *pages*), and `KernelStack` and `SUnreclaim` from `/proc/meminfo`. And the load
//! generator's own CPU (`/proc/self/stat`: the sampler runs inside the load generator), so a
//! saturated client can be told from a saturated engine. The sampler's own reading is part of
//! that figure, which errs on the side of flagging the client.
//!
//! # Context switches are per thread
//!
//! `voluntary_ctxt_switches` in `/proc/<pid>/status` counts the *main thread only*: the kernel
//! prints the counters of the task the file belongs to, and for `/proc/<pid>` that is the
//! thread-group leader. A thread-per-connection engine switches on its other threads, so the
//! sampler reads `/proc/<pid>/task/<tid>/status` for every thread and adds them up. Two
//! consequences:
//!
//! - The cost grows with threads: one small file read per thread per sample (about 1.5 KiB
//!   each). To keep that cheap the two lines are found by hand in a reused buffer instead of
//!   parsing all ~55 fields of the file into a map, as `procfs`'s `Status` does.
//! - A thread that has exited takes its counts with it (the kernel folds them into the
//!   process's `getrusage` totals, which only the process itself can read). When threads come
//!   and go between two samples, the sum can fall; a rate computed from two samples is a
//!   lower bound for such engines.
//!
//! # Processes that come and go
//!
//! A pool worker can exit (and be respawned) between finding the tree and reading it: a
//! process other than the engine itself that vanishes mid-sample, or has already exited
//! and waits to be reaped (a zombie, which holds no memory), is skipped. If the engine itself
//! is gone, [`sample_once`] returns the error, and the sampler thread keeps no sample for that
//! tick.
//!
//! # Cost
//!
//! Measured on the development machine (release build, about 70 processes running): 0.5 ms
//! for an engine of one process and a few threads, 9 ms at 1000 threads and 55 ms at 5000 —
//! at a 200 ms interval, a quarter of a core for the largest thread-per-connection levels,
//! nearly all of it the per-thread `status` files. The sampler's time counts as load-generator
//! CPU. Finding the tree is part of it: see [`process_tree`].

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use procfs::process::Process;
use procfs::{Current, Meminfo, ProcError};

use wb_model::results::Sample;

/// Reads the engine's process tree every `interval` on a thread of its own.
///
/// ```no_run
/// use std::time::Duration;
/// use wb_runner::sampler::Sampler;
///
/// # let engine_pid = std::process::id();
/// let sampler = Sampler::start(engine_pid, Duration::from_millis(200));
/// // … apply the load …
/// let samples = sampler.stop();
/// ```
#[derive(Debug)]
pub struct Sampler {
    /// The engine's pid, for the last reading in [`Sampler::stop`].
    engine_pid: u32,
    /// When sampling began: every `at_ms` counts from here.
    started: Instant,
    /// How the samples are being taken.
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// The normal case. Dropping the sender wakes the thread at once (its `recv_timeout`
    /// returns `Disconnected`), so stopping never waits out an interval.
    Thread {
        stop: mpsc::Sender<()>,
        thread: JoinHandle<Vec<Sample>>,
    },
    /// No thread could be started — plausible when a thread-per-connection engine has used
    /// up the user's task limit. The step still gets a reading at its start and its end.
    Inline { first: Option<Sample> },
}

impl Sampler {
    /// Starts sampling `engine_pid` and its descendants every `interval` (the runner uses
    /// 200 ms; anything below 1 ms is taken as 1 ms). The first sample is taken at once.
    pub fn start(engine_pid: u32, interval: Duration) -> Sampler {
        let interval = interval.max(Duration::from_millis(1));
        let started = Instant::now();
        let (stop, stopped) = mpsc::channel::<()>();
        let spawned = thread::Builder::new()
            .name(format!("sampler-{engine_pid}"))
            .spawn(move || sample_until_stopped(engine_pid, started, interval, stopped));
        let inner = match spawned {
            Ok(thread) => Inner::Thread { stop, thread },
            Err(err) => {
                tracing::warn!(
                    "could not start the sampler thread ({err}); sampling only at the start and end of the step"
                );
                Inner::Inline {
                    first: sample_once(engine_pid, started).ok(),
                }
            }
        };
        Sampler {
            engine_pid,
            started,
            inner,
        }
    }

    /// Stops, takes one last sample, and returns the samples, oldest first.
    ///
    /// Ticks at which the engine could not be read (it had exited) have no sample, so the list
    /// can be empty.
    pub fn stop(self) -> Vec<Sample> {
        let mut samples = match self.inner {
            Inner::Thread { stop, thread } => {
                drop(stop);
                match thread.join() {
                    Ok(samples) => samples,
                    // The thread only reads files; a panic there is a bug worth seeing.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Inner::Inline { first } => first.into_iter().collect(),
        };
        if let Ok(last) = sample_once(self.engine_pid, self.started) {
            samples.push(last);
        }
        samples
    }
}

/// The sampler thread: a sample at every tick of a fixed-rate clock until told to stop.
fn sample_until_stopped(
    engine_pid: u32,
    started: Instant,
    interval: Duration,
    stopped: mpsc::Receiver<()>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut next = started;
    loop {
        if let Ok(sample) = sample_once(engine_pid, started) {
            samples.push(sample);
        }
        // Ticks are counted from the start, not from the end of the last reading, so the
        // time spent reading does not stretch the interval. If a reading overran whole ticks
        // (a very large tree on a busy machine), those ticks are skipped, not taken late.
        next += interval;
        let now = Instant::now();
        if next < now {
            let behind = (now - next).as_nanos() / interval.as_nanos();
            next += interval * u32::try_from(behind + 1).unwrap_or(u32::MAX);
        }
        match stopped.recv_timeout(next.saturating_duration_since(now)) {
            Err(RecvTimeoutError::Timeout) => continue,
            // A message, or the sender dropped: both mean stop.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return samples,
        }
    }
}

/// Takes one sample of `engine_pid`'s process tree and of the system; `at_ms` counts from
/// `started`.
///
/// # Errors
///
/// When the engine itself cannot be read: it does not exist (`NotFound`), it has exited and
/// not been reaped, or `/proc` refuses (`PermissionDenied`, for another user's process).
/// Descendants that cannot be read are skipped instead.
pub fn sample_once(engine_pid: u32, started: Instant) -> io::Result<Sample> {
    let at_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let tree = process_tree(engine_pid);
    if tree.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("process {engine_pid} does not exist"),
        ));
    }

    let ticks = procfs::ticks_per_second() as f64;
    let mut sample = Sample {
        at_ms,
        ..Sample::default()
    };
    let mut status = String::with_capacity(2048);
    for (i, &pid) in tree.iter().enumerate() {
        match read_process(pid, &mut status) {
            Ok(p) => {
                sample.rss_bytes += p.rss;
                sample.pss_bytes += p.pss;
                sample.uss_bytes += p.uss;
                sample.vsz_bytes += p.vsz;
                sample.processes += 1;
                sample.threads += p.threads;
                sample.cpu_user_secs += p.utime_ticks as f64 / ticks;
                sample.cpu_system_secs += p.stime_ticks as f64 / ticks;
                sample.ctx_voluntary += p.ctx_voluntary;
                sample.ctx_involuntary += p.ctx_involuntary;
                sample.open_fds += p.open_fds;
            }
            // The engine itself must be readable; a worker that went away is just gone.
            Err(err) if i == 0 => return Err(err),
            Err(_) => {}
        }
    }

    // System-wide figures. They are context for the engine's own, so a kernel without one of
    // them (no IPv4 sockstat in a strange namespace) leaves it at zero rather than failing
    // the sample.
    let sockstat = std::fs::read_to_string("/proc/net/sockstat");
    if let Some((inuse, mem_pages)) = sockstat.ok().as_deref().and_then(parse_sockstat) {
        sample.tcp_inuse = inuse;
        sample.tcp_mem_bytes = mem_pages * procfs::page_size();
    }
    if let Ok(meminfo) = Meminfo::current() {
        // procfs has already turned the file's kB into bytes.
        sample.kernel_stack_bytes = meminfo.kernel_stack.unwrap_or(0);
        sample.slab_unreclaim_bytes = meminfo.s_unreclaim.unwrap_or(0);
    }
    let me = Process::myself().and_then(|p| p.stat()).map_err(io_error)?;
    sample.client_cpu_secs = (me.utime + me.stime) as f64 / ticks;
    Ok(sample)
}

/// The figures of one process, before summing.
struct ProcessFigures {
    rss: u64,
    pss: u64,
    uss: u64,
    vsz: u64,
    threads: u64,
    utime_ticks: u64,
    stime_ticks: u64,
    ctx_voluntary: u64,
    ctx_involuntary: u64,
    open_fds: u64,
}

/// Reads one process; `status` is a scratch buffer reused across threads.
fn read_process(pid: u32, status: &mut String) -> io::Result<ProcessFigures> {
    let process = Process::new(pid_i32(pid)?).map_err(io_error)?;
    let stat = process.stat().map_err(io_error)?;
    if matches!(stat.state, 'Z' | 'X') {
        // Exited, waiting for its parent to reap it: no memory, no threads worth counting.
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("process {pid} has exited"),
        ));
    }

    // smaps_rollup is the sum of every mapping, which the kernel computes in one pass:
    // far cheaper than reading smaps. procfs gives the values in bytes.
    let rollup = process.smaps_rollup().map_err(io_error)?;
    let field = |name: &str| -> u64 {
        rollup
            .memory_map_rollup
            .0
            .iter()
            .filter_map(|map| map.extension.map.get(name))
            .sum()
    };
    let rss = field("Rss");
    let pss = field("Pss");
    let uss = field("Private_Clean") + field("Private_Dirty") + field("Private_Hugetlb");

    let open_fds = process.fd_count().map_err(io_error)? as u64;

    let mut ctx_voluntary = 0;
    let mut ctx_involuntary = 0;
    // The thread ids are listed with `read_dir` rather than procfs's `tasks()`, which opens a
    // handle on every task directory: with thousands of threads that doubled the cost.
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))?;
    let mut path = String::new();
    for task in tasks {
        // A thread that exited after the directory was listed is skipped.
        let Ok(task) = task else { continue };
        path.clear();
        path.push_str(&format!("/proc/{pid}/task/"));
        path.push_str(&task.file_name().to_string_lossy());
        path.push_str("/status");
        if let Ok((voluntary, involuntary)) = read_ctx_switches(Path::new(&path), status) {
            ctx_voluntary += voluntary;
            ctx_involuntary += involuntary;
        }
    }

    Ok(ProcessFigures {
        rss,
        pss,
        uss,
        vsz: stat.vsize,
        threads: u64::try_from(stat.num_threads).unwrap_or(0),
        utime_ticks: stat.utime,
        stime_ticks: stat.stime,
        ctx_voluntary,
        ctx_involuntary,
        open_fds,
    })
}

/// Reads a task's `status` file into `buf` and returns its voluntary and involuntary context
/// switch counts.
fn read_ctx_switches(path: &Path, buf: &mut String) -> io::Result<(u64, u64)> {
    buf.clear();
    File::open(path)?.read_to_string(buf)?;
    parse_ctx_switches(buf).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} has no context switch counts", path.display()),
        )
    })
}

/// Finds `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` in a `status` file.
fn parse_ctx_switches(status: &str) -> Option<(u64, u64)> {
    let mut voluntary = None;
    let mut involuntary = None;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("voluntary_ctxt_switches:") {
            voluntary = rest.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix("nonvoluntary_ctxt_switches:") {
            involuntary = rest.trim().parse().ok();
        }
    }
    Some((voluntary?, involuntary?))
}

/// Parses the `TCP:` line of `/proc/net/sockstat`: `(sockets in use, buffer memory in pages)`.
///
/// procfs has no reader for this file. The line looks like
/// `TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1`: names and values alternate.
fn parse_sockstat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find_map(|l| l.strip_prefix("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let value = |name: &str| -> Option<u64> {
        words
            .chunks_exact(2)
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair[1].parse().ok())
    };
    Some((value("inuse")?, value("mem")?))
}

/// `pid` and all its descendants, `pid` first; empty if `pid` does not exist.
///
/// The list is a snapshot: a process can be born or die right after it is taken.
///
/// The tree is found from every process's parent (field 4 of `/proc/<pid>/stat`), which costs
/// one small read per process on the machine (about 2 ms for 70 processes). The kernel's
/// `/proc/<pid>/task/<tid>/children` lists look cheaper but are not: a child belongs to the
/// thread that forked it, so every thread's list must be read (20 ms for a 5000-thread
/// engine), the file needs `CONFIG_PROC_CHILDREN`, and procfs(5) warns that a child exiting
/// during the read can hide its siblings — which a prefork pool's respawns would do.
pub fn process_tree(pid: u32) -> Vec<u32> {
    if pid == 0 || !Path::new(&format!("/proc/{pid}")).exists() {
        return Vec::new();
    }
    let mut links: Vec<(u32, u32)> = Vec::new(); // (parent, child)
    if let Ok(all) = procfs::process::all_processes() {
        // A process that exits during the scan is simply not a link.
        for stat in all.flatten().filter_map(|p| p.stat().ok()) {
            if let (Ok(parent), Ok(child)) = (u32::try_from(stat.ppid), u32::try_from(stat.pid)) {
                links.push((parent, child));
            }
        }
    }
    // Breadth first: the engine, its children, their children…
    let mut tree = vec![pid];
    let mut i = 0;
    while let Some(&parent) = tree.get(i) {
        i += 1;
        tree.extend(links.iter().filter(|l| l.0 == parent).map(|l| l.1));
    }
    tree
}

fn pid_i32(pid: u32) -> io::Result<i32> {
    i32::try_from(pid).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{pid} is not a valid pid"),
        )
    })
}

/// procfs errors as `io::Error`, keeping the kinds a caller may act on.
fn io_error(err: ProcError) -> io::Error {
    match err {
        ProcError::Io(err, _) => err,
        ProcError::NotFound(_) => io::Error::new(io::ErrorKind::NotFound, err.to_string()),
        ProcError::PermissionDenied(_) => {
            io::Error::new(io::ErrorKind::PermissionDenied, err.to_string())
        }
        other => io::Error::other(other.to_string()),
    }
}

/// CPU time, in nanoseconds, the threads of `pids` have run so far
/// (`/proc/<pid>/task/*/schedstat`: the scheduler's nanosecond clock, where
/// `/proc/<pid>/stat` counts 10 ms ticks). Threads that ended are not counted, so a caller
/// timing one connection measures while its thread lives.
pub fn scheduler_cpu_ns(pids: &[u32]) -> u64 {
    schedstat_sum(pids, 0)
}

/// Timeslices the threads of `pids` have run so far (the third field of
/// `/proc/<pid>/task/*/schedstat`): each is a wake-up, or a return to the CPU after being
/// preempted. An engine holding idle connections should gain none; one that polls on a
/// timer gains them at its rate. Threads that ended are not counted.
pub fn scheduler_timeslices(pids: &[u32]) -> u64 {
    schedstat_sum(pids, 2)
}

/// The sum over the threads of `pids` of field `field` of their `schedstat`.
fn schedstat_sum(pids: &[u32], field: usize) -> u64 {
    let mut total = 0;
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Some(value) = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().nth(field)?.parse::<u64>().ok())
            {
                total += value;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockstat_tcp_line() {
        let text =
            "sockets: used 11\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 128\nUDP: inuse 0 mem 0\n";
        assert_eq!(parse_sockstat(text), Some((5, 128)));
        assert_eq!(parse_sockstat("UDP: inuse 0 mem 0\n"), None);
    }

    #[test]
    fn ctx_switch_lines() {
        let text = "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(parse_ctx_switches(text), Some((12, 3)));
        assert_eq!(parse_ctx_switches("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_samples_itself() {
        let sample = sample_once(std::process::id(), Instant::now()).unwrap();
        // The whole process tree: other tests in this binary may have a child running.
        assert!(sample.processes >= 1);
        assert!(sample.threads >= 1);
        assert!(sample.rss_bytes > 0 && sample.pss_bytes > 0 && sample.uss_bytes > 0);
        assert!(sample.uss_bytes <= sample.pss_bytes && sample.pss_bytes <= sample.rss_bytes);
        assert!(sample.vsz_bytes >= sample.rss_bytes, "{sample:?}");
        assert!(sample.open_fds >= 3, "{sample:?}");
        assert!(sample.ctx_voluntary + sample.ctx_involuntary > 0);
        assert!(sample.kernel_stack_bytes > 0);
    }
}
