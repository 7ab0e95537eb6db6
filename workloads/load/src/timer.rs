//! A sleep with microsecond precision for the open loop's dispatcher.
//!
//! tokio's timer wheel ticks in whole milliseconds, and its runtime parks in `epoll_wait`,
//! whose timeout is in milliseconds too, so `sleep_until(t)` wakes up to a millisecond after
//! `t`. For an open loop that lag is not harmless: latency is measured from the *intended*
//! send time, so every request would carry up to a millisecond of the generator's own delay
//! (a 1 ms `/work` would read as 1.5 ms). A Linux `timerfd` expires with nanosecond
//! resolution and wakes `epoll` like any readable socket, so the dispatcher sleeps on one,
//! registered with the runtime as an [`AsyncFd`]. If a timerfd cannot be made, the
//! dispatcher falls back to tokio's sleep.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// The dispatcher's clock: a timerfd, or tokio's timer as a fallback.
pub(super) struct Timer {
    fd: Option<AsyncFd<OwnedFd>>,
}

impl Timer {
    /// A timer; must be made inside the runtime.
    pub(super) fn new() -> Timer {
        let fd = create_timerfd()
            .and_then(|fd| {
                // SAFETY: an `OwnedFd` keeps its descriptor open, and returns that same
                // descriptor, for as long as it lives, which is as long as the `AsyncFd`.
                unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                    .map_err(|err| err.into_parts().1)
            })
            .map_err(|err| tracing::debug!("no timerfd ({err}); using tokio's timer"))
            .ok();
        Timer { fd }
    }

    /// Sleeps until `deadline`.
    pub(super) async fn sleep_until(&self, deadline: Instant) {
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        if let Some(fd) = &self.fd
            && precise_sleep(fd, deadline - now).await.is_ok()
        {
            return;
        }
        super::clock::sleep_until(deadline).await;
    }
}

fn create_timerfd() -> io::Result<OwnedFd> {
    // SAFETY: plain system call with constant flags; it returns a new descriptor or -1.
    let fd = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by `timerfd_create`, is valid, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

async fn precise_sleep(fd: &AsyncFd<OwnedFd>, after: std::time::Duration) -> io::Result<()> {
    // A zero `it_value` would disarm the timer; `after` is positive, but keep a nanosecond.
    let nanos = after.subsec_nanos().max(u32::from(after.as_secs() == 0));
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: nanos as libc::c_long,
        },
    };
    // SAFETY: the descriptor is a live timerfd owned by `fd`; `spec` is a valid, initialised
    // `itimerspec`; the old value is not wanted, so a null pointer is allowed.
    let rc = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // Arming resets the expiration count, so the first successful read is this expiration.
    loop {
        let mut guard = fd.readable().await?;
        let read = guard.try_io(|inner| {
            let mut expirations: u64 = 0;
            // SAFETY: reads at most 8 bytes into a `u64` we own, from a live descriptor.
            let n = unsafe {
                libc::read(
                    inner.as_raw_fd(),
                    (&mut expirations as *mut u64).cast::<libc::c_void>(),
                    std::mem::size_of::<u64>(),
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        });
        match read {
            Ok(result) => return result,
            // Not expired yet (a stale readiness): `try_io` cleared it; wait again.
            Err(_would_block) => continue,
        }
    }
}
