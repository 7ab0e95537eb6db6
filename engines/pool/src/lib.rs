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
//!   nothing still pins its worker: hence `--keepalive-timeout`, after which an idle
//!   connection is closed so that the worker can serve someone else. A client that stops
//!   *reading* a large response pins its worker just as well (this engine sets no write
//!   timeout: slow readers are one of the workloads, and the lesson).
//!
//! It shines with CPU-heavy requests and few concurrent clients (each core is busy, nothing
//! is shared) and where a crash must not take the server down. It breaks with many slow or
//! idle clients: each holds one of only N workers, whose count is limited by memory.
//!
//! # Implementation
//!
//! - The parent blocks SIGINT, SIGTERM and SIGCHLD *before* forking anything, then waits for
//!   them with `sigtimedwait` in its supervise loop: no signal handler runs in the parent,
//!   and no thread is ever started, so `fork()` happens in a single-threaded process.
//! - Each worker, right after `fork()`: asks the kernel to kill it if the parent dies
//!   (`PR_SET_PDEATHSIG`), installs a small SIGTERM/SIGINT handler, unblocks the signals, and
//!   loops over blocking `accept()`. Reads time out after `--keepalive-timeout`; waits are
//!   `thread::sleep`; the CPU work runs inline. A worker leaves through `libc::_exit`, never
//!   by returning into the parent's code.
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

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use protocol::{Event, Session};

/// The read buffer of a worker. One per process (a worker serves one connection at a time),
/// so it can be generous: a 1 MiB request body is discarded in 16 reads.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// How long a lingering close keeps reading after the last response (see [`lingering_close`]).
const LINGER: Duration = Duration::from_secs(2);

/// How long the parent waits for workers to finish after SIGTERM before it SIGKILLs them.
/// The binary must exit within 5 s of the signal.
const STOP_TIMEOUT: Duration = Duration::from_secs(4);

/// Pause after an `accept()` error such as `EMFILE`, rather than spinning on it.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The supervise loop wakes at least this often even without a signal, and re-checks its
/// workers: cheap insurance, since `waitpid` is what really tells who is alive.
const SUPERVISE_TICK: Duration = Duration::from_secs(1);

/// A worker that dies younger than this is counted as "died on start" and its replacement
/// is delayed (see [`Backoff`]).
const MIN_HEALTHY_LIFETIME: Duration = Duration::from_secs(1);

/// First delay before replacing a worker that died on start; it doubles with every early
/// death in a row.
const FIRST_RESPAWN_DELAY: Duration = Duration::from_millis(100);

/// The longest delay before replacing a worker that died on start.
const MAX_RESPAWN_DELAY: Duration = Duration::from_secs(5);

/// Early deaths this far apart are not "in a row": the delay starts again from the first.
const FORGET_FAILURES_AFTER: Duration = Duration::from_secs(30);

/// Exit status of a worker whose code panicked (EX_SOFTWARE in BSD's sysexits.h).
const PANIC_EXIT_CODE: i32 = 70;

/// Engine configuration, filled from `workbench engine pool` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Worker processes; at most this many clients are served at once. The default,
    /// 2 × cores + 1, is gunicorn's recommendation.
    #[arg(long, value_name = "N", default_value_t = default_workers(),
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub workers: u32,

    /// Seconds an idle keep-alive connection (or a half-sent request) may hold its worker
    /// before the worker closes it and accepts another client.
    #[arg(long, value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub keepalive_timeout: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            workers: default_workers(),
            keepalive_timeout: 5,
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

/// Serves `listener` with a pool of worker processes until SIGINT or SIGTERM.
///
/// Must be called from a single-threaded process (the `workbench` binary is one): it forks,
/// and only the forking thread survives in a child. Returns in the parent only; workers never
/// return from this function.
pub fn serve(listener: TcpListener, config: &Config) -> io::Result<()> {
    warn_if_threaded();
    let signals = SignalMask::block(&[libc::SIGINT, libc::SIGTERM, libc::SIGCHLD])?;
    let worker = WorkerSettings {
        keepalive: Duration::from_secs(config.keepalive_timeout),
        parent: std::process::id(),
    };
    let target = config.workers as usize;
    let mut pool = Pool {
        listener: &listener,
        worker: &worker,
        signals: &signals,
        workers: HashMap::new(),
        backoff: Backoff::default(),
    };

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

/// The parent's view of its workers.
struct Pool<'a> {
    listener: &'a TcpListener,
    worker: &'a WorkerSettings,
    signals: &'a SignalMask,
    /// Live workers: pid → when it was forked.
    workers: HashMap<libc::pid_t, Instant>,
    backoff: Backoff,
}

impl Pool<'_> {
    /// Forks one worker and records it.
    fn spawn(&mut self) -> io::Result<()> {
        let pid = fork_worker(self.listener, self.worker, self.signals)?;
        self.workers.insert(pid, Instant::now());
        Ok(())
    }

    /// Keeps `target` workers alive until SIGINT or SIGTERM arrives.
    fn supervise(&mut self, target: usize) {
        loop {
            let now = Instant::now();
            self.reap(now);
            while self.workers.len() < target && self.backoff.ready(now) {
                match self.spawn() {
                    Ok(()) => tracing::info!(workers = self.workers.len(), "worker replaced"),
                    Err(err) => {
                        // EAGAIN (process limit) or ENOMEM: try again later, not now.
                        tracing::warn!("cannot fork a worker: {err}");
                        self.backoff.died_young(now);
                    }
                }
            }
            let timeout = if self.workers.len() < target {
                self.backoff.remaining(now).min(SUPERVISE_TICK)
            } else {
                SUPERVISE_TICK
            };
            // SIGCHLD (a worker died) and timeouts just go round the loop again.
            if let Some(signal @ (libc::SIGINT | libc::SIGTERM)) = self.signals.wait(timeout) {
                tracing::info!(signal, "signal received; stopping the workers");
                return;
            }
        }
    }

    /// Reaps every worker that has exited, without blocking.
    fn reap(&mut self, now: Instant) {
        loop {
            let mut status = 0;
            // SAFETY: `status` is a valid, writable int; WNOHANG makes this return at once.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            // 0: children exist but none has exited; -1 (ECHILD): no children at all.
            if pid <= 0 {
                return;
            }
            let Some(started) = self.workers.remove(&pid) else {
                continue;
            };
            let lived = now.saturating_duration_since(started);
            if lived < MIN_HEALTHY_LIFETIME {
                self.backoff.died_young(now);
            }
            let delay = self.backoff.remaining(now);
            tracing::warn!(
                pid,
                ?lived,
                "worker {}; replacing it in {delay:?}",
                describe_exit(status)
            );
        }
    }

    /// Stops every worker: gracefully first, by force after [`STOP_TIMEOUT`].
    fn stop(&mut self) {
        // Stop accepting, for every worker at once: the listening socket is one kernel object
        // shared by all processes, and shutting it down wakes each worker blocked in
        // `accept()` with EINVAL. Connections still waiting in the backlog are reset.
        // SAFETY: `shutdown` touches no memory; the listener's fd is open (we hold it).
        unsafe {
            libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RD);
        }
        for &pid in self.workers.keys() {
            // SAFETY: `kill` touches no memory. `pid` is our unreaped child, so the number
            // cannot have been reused by another process yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }

        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut stopped = 0;
        loop {
            let before = self.workers.len();
            self.reap_quietly();
            stopped += before - self.workers.len();
            let left = deadline.saturating_duration_since(Instant::now());
            if self.workers.is_empty() || left.is_zero() {
                break;
            }
            // A second SIGINT or SIGTERM (an impatient Ctrl-C) skips the wait.
            if let Some(libc::SIGINT | libc::SIGTERM) = self.signals.wait(left) {
                tracing::info!("second signal; killing the workers now");
                break;
            }
        }

        let killed = self.workers.len();
        for (&pid, _) in self.workers.iter() {
            // SAFETY: as above; SIGKILL cannot be caught, so the worker ends.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            let mut status = 0;
            // SAFETY: `status` is a valid, writable int. Blocking: a SIGKILLed child exits
            // promptly, and reaping it keeps it from lingering as a zombie.
            unsafe {
                libc::waitpid(pid, &mut status, 0);
            }
        }
        self.workers.clear();
        tracing::info!(stopped, killed, "workers stopped");
    }

    /// Like [`Pool::reap`], for shutdown: no respawn bookkeeping, no warnings.
    fn reap_quietly(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: `status` is a valid, writable int; WNOHANG makes this return at once.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            self.workers.remove(&pid);
        }
    }
}

/// How a `waitpid` status reads in a log line.
fn describe_exit(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("was killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("ended with wait status {status:#x}")
    }
}

/// Delays the replacement of workers that die on start, so a worker that crashes at once
/// cannot make the parent fork in a tight loop. Healthy deaths (a worker that ran for a while
/// and was killed) do not count: they are replaced at once unless a delay is running.
#[derive(Debug, Default)]
struct Backoff {
    /// The delay applied after the last early death.
    delay: Duration,
    /// When the last early death happened.
    last_failure: Option<Instant>,
    /// No fork before this instant.
    not_before: Option<Instant>,
}

impl Backoff {
    /// A worker died young (or could not be forked) at `now`: double the delay, or start
    /// again from the first delay if the last early death is long past.
    fn died_young(&mut self, now: Instant) {
        let recent = self
            .last_failure
            .is_some_and(|last| now.saturating_duration_since(last) < FORGET_FAILURES_AFTER);
        self.delay = if recent {
            (self.delay * 2).min(MAX_RESPAWN_DELAY)
        } else {
            FIRST_RESPAWN_DELAY
        };
        self.last_failure = Some(now);
        self.not_before = Some(now + self.delay);
    }

    /// Whether a worker may be forked at `now`.
    fn ready(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|at| now >= at)
    }

    /// How long until a worker may be forked.
    fn remaining(&self, now: Instant) -> Duration {
        self.not_before
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
    }
}

/// The parent's blocked signals. While blocked, SIGINT, SIGTERM and SIGCHLD stay pending
/// until [`SignalMask::wait`] takes them, so the parent needs no handler and no thread, and
/// a signal that arrives while it is busy forking is not lost. (Linux queues a blocked
/// SIGCHLD even though its default action is "ignore".)
struct SignalMask {
    blocked: libc::sigset_t,
    /// The mask before `block`, restored on drop.
    previous: libc::sigset_t,
}

impl SignalMask {
    fn block(signals: &[libc::c_int]) -> io::Result<SignalMask> {
        // SAFETY: sigset_t is plain data; an all-zero value is a valid buffer, and
        // sigemptyset initialises it properly just below.
        let mut blocked: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `blocked` is a valid sigset_t and the signal numbers are valid; in a
        // single-threaded process pthread_sigmask is sigprocmask.
        unsafe {
            libc::sigemptyset(&mut blocked);
            for &signal in signals {
                libc::sigaddset(&mut blocked, signal);
            }
            let err = libc::pthread_sigmask(libc::SIG_BLOCK, &blocked, &mut previous);
            if err != 0 {
                return Err(io::Error::from_raw_os_error(err));
            }
        }
        Ok(SignalMask { blocked, previous })
    }

    /// Waits up to `timeout` for one of the blocked signals; `None` on timeout.
    fn wait(&self, timeout: Duration) -> Option<libc::c_int> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `blocked` and `timeout` are valid for the call; a null siginfo pointer is
        // allowed (we only need the signal number, which is the return value).
        let signal = unsafe { libc::sigtimedwait(&self.blocked, std::ptr::null_mut(), &timeout) };
        // -1: EAGAIN (timed out) or EINTR (a signal outside the set had a handler; none does).
        (signal > 0).then_some(signal)
    }

    /// Unblocks the signals in this process: a worker does so once its handler is in place.
    /// (Unblocking, rather than restoring the mask `serve` found, matters if the caller had
    /// blocked them too, say to hold a signal back until the engine is ready for it.)
    fn unblock(&self) {
        // SAFETY: `blocked` is a valid, initialised sigset_t.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &self.blocked, std::ptr::null_mut());
        }
    }

    /// Restores the mask the process had before [`SignalMask::block`].
    fn restore(&self) {
        // SAFETY: `previous` is the valid set `pthread_sigmask` filled in `block`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

impl Drop for SignalMask {
    fn drop(&mut self) {
        self.restore();
    }
}

/// What a worker needs to know.
struct WorkerSettings {
    /// Read timeout on a connection: how long an idle keep-alive client may hold the worker.
    keepalive: Duration,
    /// The parent's pid, to notice a parent that died before we could ask to follow it.
    parent: u32,
}

/// Set by the worker's SIGTERM/SIGINT handler: finish the current response, then exit.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// The fd of the connection the worker is serving, or -1; read by the signal handler.
static CURRENT_CONNECTION: AtomicI32 = AtomicI32::new(-1);

/// Forks a worker; returns its pid in the parent. The child never returns from here.
fn fork_worker(
    listener: &TcpListener,
    settings: &WorkerSettings,
    signals: &SignalMask,
) -> io::Result<libc::pid_t> {
    // SAFETY: the process is single-threaded (the binary starts no thread before `serve`,
    // and `serve` starts none: no signal thread, no logging thread), so the child's copy of
    // memory holds no lock owned by a thread that does not exist in it. glibc also resets
    // malloc's locks in the child. The child only runs `worker_main` and then `_exit`s, so it
    // never returns into the parent's callers or runs their destructors twice.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // A panic must not unwind out of the child into the parent's stack frames (the
            // child has a copy of them): catch it here and exit with a status saying so.
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                worker_main(listener, settings, signals)
            })) {
                Ok(()) => 0,
                Err(_) => PANIC_EXIT_CODE,
            };
            // SAFETY: `_exit` ends the process at once, running no atexit handlers and no
            // Rust destructors (the parent's state in our copy of memory is not ours to
            // tear down; the kernel closes our fds).
            unsafe { libc::_exit(code) }
        }
        pid => Ok(pid),
    }
}

/// The signal handler of a worker: remember to stop, and wake the read of an idle connection.
///
/// Only async-signal-safe things happen here: lock-free atomics and the `shutdown` system
/// call (on POSIX's list of async-signal-safe functions). `errno` is saved and restored, since
/// the interrupted code may be about to read it.
extern "C" fn on_stop_signal(_signal: libc::c_int) {
    // SAFETY: __errno_location returns this thread's errno slot, valid for the thread's life.
    let errno = unsafe { *libc::__errno_location() };
    STOPPING.store(true, Ordering::SeqCst);
    let fd = CURRENT_CONNECTION.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: `fd` is the open connection socket: the worker sets CURRENT_CONNECTION
        // after accept and clears it before the socket is closed, and this handler runs on
        // that same (only) thread, so it cannot see a closed or reused fd.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RD);
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Runs in the child after `fork`.
fn worker_main(listener: &TcpListener, settings: &WorkerSettings, signals: &SignalMask) {
    let pid = std::process::id();
    // If the parent is killed (even with SIGKILL) the kernel kills us too, rather than leaving
    // orphans holding the port and serving without a supervisor.
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // The parent may have died between fork and prctl; then we were re-parented already.
    // SAFETY: getppid cannot fail and touches no memory.
    if unsafe { libc::getppid() } as u32 != settings.parent {
        return;
    }

    // Install the handler before unblocking, so that a SIGTERM sent the moment we were forked
    // (it waits, pending, while blocked) is handled rather than killing us mid-response.
    // SA_RESTART: system calls the signal interrupts are restarted rather than failing with
    // EINTR; the handler's `shutdown` is what wakes a blocked read.
    // SAFETY: a zeroed sigaction is valid plain data; every field we rely on is set below,
    // and `on_stop_signal` is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
    signals.unblock();
    tracing::debug!(pid, "worker ready");

    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut accept_errors = 0u64;
    while !STOPPING.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _peer)) => stream,
            // The parent shut the listener down: the pool is stopping.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => break,
            Err(err) if err.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(err) => {
                // EMFILE, ENFILE, ENOBUFS: pause, since the condition will not clear in
                // microseconds. One worker logs its first error and then every thousandth.
                if accept_errors % 1000 == 0 {
                    tracing::warn!(pid, "accept() failed: {err}; retrying");
                }
                accept_errors += 1;
                std::thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        // (A worker signalled on its own while in `accept()` — the parent did not shut the
        // listener down — gets here with STOPPING set: it answers this client once, then
        // leaves, rather than dropping a connection it has already accepted.)
        CURRENT_CONNECTION.store(stream.as_raw_fd(), Ordering::SeqCst);
        if let Err(err) = serve_connection(&stream, settings.keepalive, &STOPPING, &mut buf) {
            // Resets, broken pipes, timeouts: one connection's business, never the worker's.
            tracing::debug!(pid, "connection ended: {err}");
        }
        // Cleared before `stream` is closed, so the handler never shuts down an fd number
        // the kernel may hand out again.
        CURRENT_CONNECTION.store(-1, Ordering::SeqCst);
        drop(stream);
    }
    tracing::debug!(pid, "worker exiting");
}

/// Serves one connection to its end. Returns early, closing the connection, when `stop` is
/// set after a response, when the client stays silent for `keepalive`, or at end-of-file.
fn serve_connection(
    stream: &TcpStream,
    keepalive: Duration,
    stop: &AtomicBool,
    buf: &mut [u8],
) -> io::Result<()> {
    // SO_RCVTIMEO: a blocking read fails with EAGAIN (WouldBlock) after this long.
    stream.set_read_timeout(Some(keepalive))?;
    let mut session = Session::new();
    let mut stream_ref = stream;
    loop {
        match session.next_event() {
            Event::Job(job) => {
                let wait = job.wait();
                if !wait.is_zero() {
                    // The "database": this worker, one of only N, does nothing else meanwhile.
                    std::thread::sleep(wait);
                }
                let closes = job.closes();
                let response = job.perform();
                // `write_all` loops over partial writes and retries EINTR; a blocking socket
                // never says WouldBlock (there is no write timeout).
                stream_ref.write_all(&response)?;
                if closes || stop.load(Ordering::SeqCst) {
                    lingering_close(stream, buf);
                    return Ok(());
                }
            }
            Event::NeedData => match stream_ref.read(buf) {
                // End-of-file: the client closed, or our stop handler shut reading down.
                Ok(0) => return Ok(()),
                Ok(n) => session.receive_data(&buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // Idle past the keep-alive timeout: free the worker for the next client.
                    // Closing an idle HTTP/1.1 connection is allowed at any time (RFC 9112
                    // §9.5); clients retry an idempotent request on a fresh connection.
                    return Ok(());
                }
                Err(err) => return Err(err),
            },
            Event::Closed => return Ok(()),
        }
    }
}

/// Closes a connection the way nginx's `lingering_close` does, after the last response.
///
/// Closing a socket that still has unread input makes the kernel send a reset (RST), which can
/// overtake our response so that the client loses it. So: send FIN (`shutdown(Write)`), then
/// read and discard until the client closes its side, an error, or [`LINGER`] has passed.
fn lingering_close(stream: &TcpStream, buf: &mut [u8]) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut stream_ref = stream;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "no timeout" to `set_read_timeout`, hence the check.
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream_ref.read(buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // Timed out (WouldBlock) or reset: either way, done.
            Err(_) => return,
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
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            config: Config,
        }
        let cli = Cli::try_parse_from(["x", "--workers", "7", "--keepalive-timeout", "9"]).unwrap();
        assert_eq!((cli.config.workers, cli.config.keepalive_timeout), (7, 9));
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.config.workers, default_workers());
        assert_eq!(cli.config.keepalive_timeout, 5);
        assert!(Cli::try_parse_from(["x", "--workers", "0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--keepalive-timeout", "0"]).is_err());
    }

    #[test]
    fn workers_that_die_young_are_replaced_later_and_later() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        assert!(backoff.ready(now));
        backoff.died_young(now);
        assert!(!backoff.ready(now));
        assert_eq!(backoff.remaining(now), FIRST_RESPAWN_DELAY);
        assert!(backoff.ready(now + FIRST_RESPAWN_DELAY));
        backoff.died_young(now);
        assert_eq!(backoff.remaining(now), FIRST_RESPAWN_DELAY * 2);
        for _ in 0..20 {
            backoff.died_young(now);
        }
        assert_eq!(backoff.remaining(now), MAX_RESPAWN_DELAY);
        // An early death long after the last one starts from the first delay again.
        let later = now + FORGET_FAILURES_AFTER;
        assert!(backoff.ready(later));
        assert_eq!(backoff.remaining(later), Duration::ZERO);
        backoff.died_young(later);
        assert_eq!(backoff.remaining(later), FIRST_RESPAWN_DELAY);
    }

    #[test]
    fn exit_statuses_read_well() {
        // Wait statuses as Linux encodes them: exit code in the second byte, signal in the first.
        assert_eq!(describe_exit(3 << 8), "exited with status 3");
        assert_eq!(describe_exit(9), "was killed by signal 9");
    }

    /// Serves `connections` connections on a background thread, as a worker would.
    fn worker(
        connections: usize,
        keepalive: Duration,
        stop: &'static AtomicBool,
    ) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let mut buf = vec![0; READ_BUFFER_BYTES];
            for _ in 0..connections {
                let (stream, _) = listener.accept().unwrap();
                serve_connection(&stream, keepalive, stop, &mut buf).unwrap();
            }
        });
        (addr, handle)
    }

    fn client(addr: std::net::SocketAddr) -> TcpStream {
        let client = TcpStream::connect(addr).unwrap();
        // Generous: only here so that a broken engine fails the test instead of hanging it.
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        client
    }

    const PIPELINE: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /work?wait_ms=1&cpu_rounds=5&bytes=100 HTTP/1.1\r\nHost: a\r\n\r\n\
        HEAD /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
        GET /hello HTTP/1.0\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";

    #[test]
    fn a_connection_answers_what_the_protocol_core_answers() {
        static RUNNING: AtomicBool = AtomicBool::new(false);
        let (addr, server) = worker(2, Duration::from_secs(30), &RUNNING);
        let expected = protocol::respond_all(PIPELINE);
        // The HTTP/1.0 request closes the connection; the last request is never answered.
        assert!(expected.ends_with(b"Connection: close\r\n\r\nHello, World!"));
        for chunk in [PIPELINE.len(), 1] {
            let mut client = client(addr);
            for piece in PIPELINE.chunks(chunk) {
                client.write_all(piece).unwrap();
            }
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            assert_eq!(got, expected);
        }
        server.join().unwrap();
    }

    #[test]
    fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
        static RUNNING: AtomicBool = AtomicBool::new(false);
        let (addr, server) = worker(1, Duration::from_millis(50), &RUNNING);
        let mut client = client(addr);
        client
            .write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        // The response, then end-of-file although the client never closed: the worker is free.
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(
            got,
            protocol::respond_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        );
        server.join().unwrap();
    }

    #[test]
    fn a_stopping_worker_finishes_the_response_then_closes() {
        static STOPPED: AtomicBool = AtomicBool::new(true);
        let (addr, server) = worker(1, Duration::from_secs(30), &STOPPED);
        let mut client = client(addr);
        let two = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
        client.write_all(two).unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        drop(client); // ends the worker's lingering close at once
        // One answer, not two, and no `Connection: close` header (the request did not ask).
        assert_eq!(
            got,
            protocol::respond_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        );
        server.join().unwrap();
    }
}
