//! A Linux `timerfd`: a one-shot timer with nanosecond resolution that a poller sees as a
//! readable descriptor, for the load generator's open loop (tokio's own timer ticks in whole
//! milliseconds). `AsyncTimerFd`, with the `tokio` feature, is one registered with tokio's
//! reactor.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A one-shot, non-blocking timer on the monotonic clock, which owns its descriptor
/// (closed on drop, and on `exec`).
#[derive(Debug)]
pub struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    /// A disarmed timer (`timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)`).
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: a plain system call with constant arguments; it returns a new descriptor
        // or -1, and touches no memory of ours.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by timerfd_create, is open, and nothing else owns
        // it: the OwnedFd is its only owner and closes it once.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(TimerFd { fd })
    }

    /// Arms the timer to expire once, `after` from now (at least a nanosecond: a zero time
    /// would disarm it). Arming resets the count of expirations, so the next successful
    /// [`read`](TimerFd::read) is this expiration.
    pub fn arm(&self, after: Duration) -> io::Result<()> {
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
        // SAFETY: the descriptor is a live timerfd we own; `spec` is a valid, initialised
        // itimerspec the kernel only reads; the old value is not wanted, and a null pointer
        // is allowed for it.
        crate::check(unsafe {
            libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut())
        })
    }

    /// How many times the timer has expired since it was armed or last read; an error of
    /// kind `WouldBlock` if it has not expired yet.
    pub fn read(&self) -> io::Result<u64> {
        let mut expirations: u64 = 0;
        // SAFETY: reads at most 8 bytes, the size given, into a u64 we own, from a live
        // descriptor we own.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut expirations as *mut u64).cast::<libc::c_void>(),
                std::mem::size_of::<u64>(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(expirations)
    }
}

impl AsFd for TimerFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A [`TimerFd`] registered with tokio's reactor, so that a task can sleep on it.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct AsyncTimerFd {
    fd: tokio::io::unix::AsyncFd<TimerFd>,
}

#[cfg(feature = "tokio")]
impl AsyncTimerFd {
    /// A timer registered with the current runtime's reactor (call it inside a runtime with
    /// I/O enabled; tokio panics otherwise).
    pub fn new() -> io::Result<AsyncTimerFd> {
        let timer = TimerFd::new()?;
        // SAFETY: tokio requires the descriptor to stay open, and `as_raw_fd` to return that
        // same descriptor, for as long as the AsyncFd lives. The AsyncFd owns the TimerFd,
        // whose OwnedFd is closed only when it drops (with the AsyncFd) and which always
        // returns that one descriptor.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(timer, tokio::io::Interest::READABLE)
        }
        .map_err(|err| err.into_parts().1)?;
        Ok(AsyncTimerFd { fd })
    }

    /// Sleeps for `after` (a positive duration), with the timer's precision.
    pub async fn sleep(&self, after: Duration) -> io::Result<()> {
        self.fd.get_ref().arm(after)?;
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| inner.get_ref().read()) {
                Ok(result) => return result.map(|_| ()),
                // Not expired yet (a stale readiness): `try_io` cleared it; wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_timer_expires_once_after_its_time() {
        let timer = TimerFd::new().unwrap();
        assert_eq!(
            timer.read().unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "a disarmed timer never expires"
        );
        let start = Instant::now();
        timer.arm(Duration::from_millis(2)).unwrap();
        let expirations = loop {
            match timer.read() {
                Ok(n) => break n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(err) => panic!("{err}"),
            }
        };
        assert!(start.elapsed() >= Duration::from_millis(2));
        assert_eq!(expirations, 1);
        assert_eq!(timer.read().unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }
}
