//! Blocking and unblocking SIGINT and SIGTERM around start-up, and a signal mask a
//! single-threaded supervisor can wait on.
//!
//! The binary blocks the stop signals before it prints the ready line; each engine unblocks
//! them once its own handling is in place (a signal-hook pipe, tokio's handler, the pool's
//! `sigtimedwait`). A thread's mask is inherited by the threads it spawns and by `fork`ed
//! children, which is why the order matters: unblock on the thread that will serve, after the
//! handler exists.

use std::io;
use std::time::Duration;

/// SIGINT and SIGTERM: the signals that stop an engine.
pub const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// Blocks SIGINT and SIGTERM on the calling thread (and the threads and processes it creates
/// later). Used by the binary before the ready line.
pub fn block_stop_signals() -> io::Result<()> {
    change_mask(libc::SIG_BLOCK, &STOP_SIGNALS)
}

/// Unblocks SIGINT and SIGTERM on the calling thread, and so on every thread it spawns from
/// now on. Call it once the engine's handlers are in place: with every thread blocking them,
/// a handler would never run and the signal would stay pending forever.
pub fn unblock_stop_signals() -> io::Result<()> {
    change_mask(libc::SIG_UNBLOCK, &STOP_SIGNALS)
}

/// How long after the first SIGINT or SIGTERM the [watchdog](spawn_stop_watchdog) ends the
/// process: [`STOP_GRACE`](crate::STOP_GRACE) less half a second, so that it exits inside the
/// grace and the runner's SIGKILL stays the last resort, never needed.
pub const WATCHDOG_DEADLINE: Duration =
    crate::STOP_GRACE.saturating_sub(Duration::from_millis(500));

/// Starts a thread that enforces the stop grace from outside the engine's loop.
///
/// An event loop (the selector, tokio's current-thread runtime, or a multi-thread runtime with
/// every worker busy) takes SIGTERM as an event on the loop; while a callback computes for a
/// minute, the event waits a minute. This thread hears the signal on its own (signal-hook lets
/// several handlers share one signal, so the engine's own handling is untouched) and, if the
/// process is still alive [`WATCHDOG_DEADLINE`] later, logs what happened and exits with status
/// 0 (the stop was asked for and is done): the stalled work dies with the process. Call it
/// before unblocking the stop signals.
pub fn spawn_stop_watchdog() -> io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new(STOP_SIGNALS)?;
    std::thread::Builder::new()
        .name("stop-watchdog".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                std::thread::sleep(WATCHDOG_DEADLINE);
                tracing::warn!(
                    "still running {WATCHDOG_DEADLINE:?} after the stop signal (a stalled loop?); \
                     exiting now"
                );
                std::process::exit(0);
            }
        })?;
    Ok(())
}

/// A `sigset_t` holding `signals`.
fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; an all-zero value is a valid buffer, and sigemptyset
    // initialises it properly just below.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; sigaddset with a valid signal number cannot fail
    // (and an invalid one only returns EINVAL, leaving the set as it was).
    unsafe {
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
    }
    set
}

fn change_mask(how: libc::c_int, signals: &[libc::c_int]) -> io::Result<()> {
    let set = signal_set(signals);
    // SAFETY: `set` is an initialised sigset_t; a null old-set pointer is allowed;
    // pthread_sigmask only changes the calling thread's mask.
    match unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) } {
        0 => Ok(()),
        err => Err(io::Error::from_raw_os_error(err)),
    }
}

/// Signals held blocked so that a single-threaded process can take them with
/// [`SignalMask::wait`] (`sigtimedwait`) instead of a handler. While blocked, they stay pending
/// until taken, so one that arrives while the process is busy (forking, say) is not lost.
/// (Linux queues a blocked SIGCHLD even though its default action is "ignore".)
pub struct SignalMask {
    blocked: libc::sigset_t,
    /// The mask before [`SignalMask::block`], restored on drop.
    previous: libc::sigset_t,
}

impl SignalMask {
    /// Blocks `signals` on the calling thread (in a single-threaded process: the process).
    pub fn block(signals: &[libc::c_int]) -> io::Result<SignalMask> {
        let blocked = signal_set(signals);
        // SAFETY: as in `signal_set`: a zeroed sigset_t is a valid buffer for the old mask.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `blocked` is initialised and `previous` is writable for the call.
        let err = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &blocked, &mut previous) };
        if err != 0 {
            return Err(io::Error::from_raw_os_error(err));
        }
        Ok(SignalMask { blocked, previous })
    }

    /// Waits up to `timeout` for one of the blocked signals; `None` on timeout.
    pub fn wait(&self, timeout: Duration) -> Option<libc::c_int> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `blocked` and `timeout` are valid for the call; a null siginfo pointer is
        // allowed (we only need the signal number, which is the return value).
        let signal = unsafe { libc::sigtimedwait(&self.blocked, std::ptr::null_mut(), &timeout) };
        // -1: EAGAIN (timed out) or EINTR (a signal outside the set had a handler).
        (signal > 0).then_some(signal)
    }

    /// Unblocks the signals on the calling thread: a forked worker does so once its handler
    /// is in place. (Unblocking, rather than restoring the mask found before, matters if the
    /// caller had blocked them too, as the binary does until the engine is ready.)
    pub fn unblock(&self) {
        // SAFETY: `blocked` is a valid, initialised sigset_t.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &self.blocked, std::ptr::null_mut());
        }
    }
}

impl Drop for SignalMask {
    fn drop(&mut self) {
        // SAFETY: `previous` is the valid set `pthread_sigmask` filled in `block`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `signal` is blocked on the calling thread.
    fn is_blocked(signal: libc::c_int) -> bool {
        // SAFETY: a zeroed sigset_t is a valid buffer; a null new-set pointer only reads.
        unsafe {
            let mut current: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut current);
            libc::sigismember(&current, signal) == 1
        }
    }

    #[test]
    fn stop_signals_block_and_unblock_on_this_thread() {
        // A fresh thread, so the test runner's own threads are not touched.
        std::thread::spawn(|| {
            block_stop_signals().unwrap();
            assert!(is_blocked(libc::SIGINT) && is_blocked(libc::SIGTERM));
            unblock_stop_signals().unwrap();
            assert!(!is_blocked(libc::SIGINT) && !is_blocked(libc::SIGTERM));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_mask_restores_what_it_found() {
        std::thread::spawn(|| {
            let mask = SignalMask::block(&[libc::SIGUSR2]).unwrap();
            assert!(is_blocked(libc::SIGUSR2));
            // Nothing pending: the wait times out.
            assert_eq!(mask.wait(Duration::from_millis(1)), None);
            drop(mask);
            assert!(!is_blocked(libc::SIGUSR2));
        })
        .join()
        .unwrap();
    }
}
