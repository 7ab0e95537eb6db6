//! Prefork process pool: N worker processes block in `accept()` on one shared listener, and
//! each serves one connection at a time (Apache's prefork MPM, gunicorn's sync workers).
//!
//! # How a connection flows
//!
//! The parent process binds the listener, then `fork()`s N workers. Every worker inherits the
//! same listening socket and runs the simplest loop there is:
//!
//! ```text
//! worker: loop { accept() ──▶ read ─▶ Session ─▶ sleep(wait) ─▶ perform() ─▶ write ─┐ ──▶ close }
//!                              ▲                                                      │
//!                              └──────────── keep-alive: next request ────────────────┘
//! ```
//!
//! When a client connects, the kernel hands the connection to *one* of the workers blocked in
//! `accept()` (Linux queues them as exclusive waiters, so a new connection wakes one worker,
//! not the whole herd; Apache once needed an "accept mutex" for this). That worker serves the
//! connection until it closes — keep-alive included — and only then accepts the next. The
//! parent serves nothing: it watches its children and forks a new one whenever one dies.
//!
//! # What it costs, and the ceiling
//!
//! - **Isolation.** A worker that crashes (a bug, `kill -9`, the OOM killer) takes down one
//!   connection; the parent forks a replacement. No lock, no shared heap, no data race.
//! - **Parallelism.** Workers are processes, so N of them run on N cores at once.
//! - **Memory.** Each worker is a whole process, but `fork()` shares every page copy-on-write:
//!   the binary's code and whatever the parent had in memory cost once. Each worker pays for
//!   the pages it writes (its stack, heap, its 64 KiB read buffer) and a kernel task, so
//!   RSS summed over workers double-counts; PSS is the honest number.
//! - **The ceiling.** At most N clients are served at once. Everybody else waits — first in
//!   the kernel's accept queue (the listen backlog), then for a free worker. With a 10 ms
//!   "database" wait a worker completes at most 100 requests a second, so the whole pool caps
//!   near **N × 100 req/s**, however idle its CPUs are. And a keep-alive client that sends
//!   nothing still pins its worker: hence the contract's timeouts ([`wb_sys::timeouts`]), which
//!   matter most here — `--keepalive-timeout` closes an idle connection, `--header-timeout`
//!   bounds a whole request (not one read: a client that trickles one byte every few seconds
//!   is cut off with 408), `--send-timeout` drops a client that reads nothing for that long.
//!   Within those limits a slow client still pins its worker: slow readers are one of the
//!   workloads, and the lesson.
//!
//! It shines with CPU-heavy requests and few concurrent clients (each core is busy, nothing
//! is shared) and where a crash must not take the server down. It breaks with many slow or
//! idle clients: each holds one of only N workers, whose count is limited by memory.
//!
//! # Implementation
//!
//! Three modules, one side of the `fork` each: `supervisor` (the parent: fork, reap,
//! replace, stop), `worker` (the child: accept and serve one connection at a time) and
//! `signals` (the worker's async-signal-safe stop handler). The signal mask the parent waits
//! on, the lingering close and the accept back-off are the contract's, from [`wb_sys`].
//!
//! - The parent blocks SIGINT, SIGTERM and SIGCHLD *before* forking anything, then waits for
//!   them with `sigtimedwait` in its supervise loop: no signal handler runs in the parent,
//!   and no thread is ever started, so `fork()` happens in a single-threaded process.
//! - Each worker, right after `fork()`: asks the kernel to kill it if the parent dies
//!   (`PR_SET_PDEATHSIG`), installs a small SIGTERM/SIGINT handler, unblocks the signals, and
//!   loops over blocking `accept()`. Reads and writes carry `SO_RCVTIMEO`/`SO_SNDTIMEO` from
//!   the timeouts; waits `poll()` the socket, so a client that hangs up is not waited for;
//!   the CPU work runs inline; bodies stream in 64 KiB chunks. A worker leaves through `libc::_exit`, never
//!   by returning into the parent's code.
//! - `/db` and `/queries`: each worker opens one database connection of its own on its first
//!   such request and keeps it (the `database` module), so `--workers` is the database pool.
//! - A worker that dies is reaped (`waitpid`) and replaced. If workers die within a second of
//!   being forked, replacements are delayed, doubling from 100 ms up to 5 s with each early
//!   death in a row, so a worker that crashes on start cannot turn the parent into a fork
//!   loop.
//! - On SIGTERM or SIGINT the parent shuts down the shared listener (`shutdown(SHUT_RD)`,
//!   which on Linux wakes every worker blocked in `accept()` with `EINVAL`), sends SIGTERM to
//!   every worker, waits up to 4 s, SIGKILLs any left, reaps them all and returns.
//! - A worker on SIGTERM **finishes the response it is working on, then exits**; it does not
//!   start another. Its handler sets a flag and shuts down the reading side of its current
//!   connection, so a worker idle in `read()` wakes at once, and one mid-request writes its
//!   response and then finds end-of-file. (gunicorn's sync workers behave the same way.)
//!
//! # Try it
//!
//! ```text
//! cargo run --release -- engine pool --listen 127.0.0.1:8080 --workers 4
//! curl -i http://127.0.0.1:8080/hello
//! curl -i 'http://127.0.0.1:8080/work?wait_ms=100&cpu_rounds=1000&bytes=64'
//! ```
//!
//! `pstree -p <pid>` shows the workers; `kill -9` one of them and watch the parent log its
//! death and fork a replacement.

mod database;
mod signals;
mod supervisor;
mod worker;

use std::io;
use std::net::TcpListener;
use wb_sys::signals::SignalMask;

use supervisor::Pool;
use worker::WorkerSettings;

/// Engine configuration, filled from `workbench engine pool` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Worker processes; at most this many clients are served at once. The default,
    /// 2 × cores + 1, is gunicorn's recommendation.
    #[arg(long, value_name = "N", default_value_t = default_workers(),
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub workers: u32,

    /// The contract's timeouts (`--header-timeout`, `--keepalive-timeout`, `--send-timeout`):
    /// here they decide how long one client may hold one of only N workers.
    #[command(flatten)]
    pub timeouts: wb_sys::Timeouts,

    /// The database of `/db` and `/queries` (`--db-url`): each worker opens one connection to
    /// it, so `--workers` is this engine's database pool.
    #[command(flatten)]
    pub database: wb_sys::database::DatabaseUrl,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            workers: default_workers(),
            timeouts: wb_sys::Timeouts::default(),
            database: wb_sys::database::DatabaseUrl::default(),
        }
    }
}

/// gunicorn's rule of thumb, 2 × cores + 1: while some workers wait on I/O, the others keep
/// every core busy.
pub fn default_workers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    workers_for_cores(cores)
}

fn workers_for_cores(cores: usize) -> u32 {
    u32::try_from(cores.saturating_mul(2).saturating_add(1)).unwrap_or(u32::MAX)
}

/// What one connection holds in this model, measured: the stack touched by a worker's
/// connection code after serving one `/work` request (CPU rounds, a short wait, a small body)
/// on a loopback socket, run on a fresh thread with a 2 MiB stack (a worker runs it on its
/// process's main stack; the pages touched are the same code's). The 64 KiB read buffer is
/// one per worker, on the heap, and not counted. `workbench engine pool --describe` prints it.
pub fn describe(config: &Config) -> io::Result<wb_sys::describe::PerConnection> {
    let timeouts = config.timeouts;
    wb_sys::describe::touched_serving(2 * 1024 * 1024, move |stream| {
        let mut buf = vec![0u8; worker::READ_BUFFER_BYTES];
        let stop = std::sync::atomic::AtomicBool::new(false);
        worker::serve_connection(&stream, &timeouts, &stop, &mut buf)
    })
}

/// Serves `listener` with a pool of worker processes until SIGINT or SIGTERM.
///
/// Must be called from a single-threaded process (the `workbench` binary is one): it forks,
/// and only the forking thread survives in a child. Returns in the parent only; workers never
/// return from this function.
pub fn serve(listener: TcpListener, config: &Config) -> io::Result<()> {
    warn_if_threaded();
    if let Some(url) = &config.database.url {
        database::configure(url).map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
    }
    let signals = SignalMask::block(&[libc::SIGINT, libc::SIGTERM, libc::SIGCHLD])?;
    let worker = WorkerSettings {
        timeouts: config.timeouts,
        parent: std::process::id(),
    };
    let target = config.workers as usize;
    let mut pool = Pool::new(&listener, &worker, &signals);

    for _ in 0..target {
        if let Err(err) = pool.spawn() {
            // Not even the first workers could be forked: stop those that were, and fail.
            pool.stop();
            return Err(err);
        }
    }
    tracing::info!(workers = target, "workers started");
    pool.supervise(target);
    pool.stop();
    // Dropping `signals` restores the mask the process had before `serve`.
    drop(signals);
    Ok(())
}

/// Forking is only sound in a single-threaded process: a child gets a copy of all memory but
/// only the calling thread, so a lock another thread held at that instant stays locked
/// forever in the child. Linux lists our threads in /proc/self/task.
fn warn_if_threaded() {
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        let threads = tasks.count();
        if threads > 1 {
            tracing::warn!(
                threads,
                "the pool forks from a multi-threaded process; workers may deadlock"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_workers_follow_gunicorns_rule() {
        assert_eq!(workers_for_cores(1), 3);
        assert_eq!(workers_for_cores(2), 5);
        assert_eq!(workers_for_cores(16), 33);
        assert!(default_workers() >= 3);
    }

    #[test]
    fn flags_reach_the_config() {
        let parse = |args: &[&str]| wb_sys::parse_flags::<Config>("pool", args);
        let config = parse(&["--workers", "7", "--keepalive-timeout", "9"]).unwrap();
        assert_eq!(config.workers, 7);
        assert_eq!(config.timeouts.keepalive.as_secs(), 9);
        let config = parse(&[]).unwrap();
        assert_eq!(config.workers, default_workers());
        assert_eq!(config.timeouts, wb_sys::Timeouts::default());
        assert!(parse(&["--workers", "0"]).is_err());
        assert!(parse(&["--keepalive-timeout", "0"]).is_err());
    }
}
