//! The parent: forks the workers, replaces the ones that die, stops them all on a signal.
//!
//! The parent serves nothing and starts no thread. It blocks SIGINT, SIGTERM and SIGCHLD before
//! forking anything and takes them with `sigtimedwait` in its supervise loop, so no signal
//! handler ever runs in it and `fork()` always happens in a single-threaded process.

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use wb_sys::DRAIN_TIMEOUT;
use wb_sys::signals::SignalMask;

use crate::worker::{self, WorkerSettings};

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

/// The parent's view of its workers.
pub(crate) struct Pool<'a> {
    listener: &'a TcpListener,
    worker: &'a WorkerSettings,
    signals: &'a SignalMask,
    /// Live workers: pid → when it was forked.
    workers: HashMap<libc::pid_t, Instant>,
    backoff: Backoff,
}

impl<'a> Pool<'a> {
    /// A pool with no workers yet.
    pub(crate) fn new(
        listener: &'a TcpListener,
        worker: &'a WorkerSettings,
        signals: &'a SignalMask,
    ) -> Pool<'a> {
        Pool {
            listener,
            worker,
            signals,
            workers: HashMap::new(),
            backoff: Backoff::default(),
        }
    }

    /// Forks one worker and records it.
    pub(crate) fn spawn(&mut self) -> io::Result<()> {
        let pid = fork_worker(self.listener, self.worker, self.signals)?;
        self.workers.insert(pid, Instant::now());
        Ok(())
    }

    /// Keeps `target` workers alive until SIGINT or SIGTERM arrives.
    pub(crate) fn supervise(&mut self, target: usize) {
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

    /// Stops every worker: gracefully first, by force after [`DRAIN_TIMEOUT`].
    pub(crate) fn stop(&mut self) {
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

        let deadline = Instant::now() + DRAIN_TIMEOUT;
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

/// Forks a worker; returns its pid in the parent. The child never returns from here.
fn fork_worker(
    listener: &TcpListener,
    settings: &WorkerSettings,
    signals: &SignalMask,
) -> io::Result<libc::pid_t> {
    // SAFETY: the process is single-threaded (the binary starts no thread before `serve`,
    // and `serve` starts none: no signal thread, no logging thread), so the child's copy of
    // memory holds no lock owned by a thread that does not exist in it. glibc also resets
    // malloc's locks in the child. The child only runs `worker::main` and then `_exit`s, so it
    // never returns into the parent's callers or runs their destructors twice.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // A panic must not unwind out of the child into the parent's stack frames (the
            // child has a copy of them): catch it here and exit with a status saying so.
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                worker::main(listener, settings, signals)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
