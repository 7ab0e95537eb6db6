//! A worker's signal handling: SIGTERM and SIGINT set a flag and wake the read of an idle
//! connection, so the worker finishes the response it is working on and then exits.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Set by the worker's SIGTERM/SIGINT handler: finish the current response, then exit.
pub(crate) static STOPPING: AtomicBool = AtomicBool::new(false);

/// The fd of the connection the worker is serving, or -1; read by the signal handler.
pub(crate) static CURRENT_CONNECTION: AtomicI32 = AtomicI32::new(-1);

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

/// Installs [`on_stop_signal`] for SIGTERM and SIGINT. Call it before unblocking them, so
/// that a SIGTERM sent the moment the worker was forked (it waits, pending, while blocked) is
/// handled rather than killing the worker mid-response.
pub(crate) fn install_stop_handler() {
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
}
