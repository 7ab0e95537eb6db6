//! A sleep with microsecond precision for the open loop's dispatcher.
//!
//! tokio's timer wheel ticks in whole milliseconds, and its runtime parks in `epoll_wait`,
//! whose timeout is in milliseconds too, so `sleep_until(t)` wakes up to a millisecond after
//! `t`. For an open loop that lag is not harmless: latency is measured from the *intended*
//! send time, so every request would carry up to a millisecond of the generator's own delay
//! (a 1 ms `/work` would read as 1.5 ms). A Linux `timerfd` expires with nanosecond
//! resolution and wakes `epoll` like any readable socket, so the dispatcher sleeps on one,
//! registered with the runtime ([`wb_sys::timerfd::AsyncTimerFd`]). If a timerfd cannot be
//! made, the dispatcher falls back to tokio's sleep.

use std::time::Instant;

use wb_sys::timerfd::AsyncTimerFd;

/// The dispatcher's clock: a timerfd, or tokio's timer as a fallback.
pub(super) struct Timer {
    fd: Option<AsyncTimerFd>,
}

impl Timer {
    /// A timer; must be made inside the runtime.
    pub(super) fn new() -> Timer {
        let fd = AsyncTimerFd::new()
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
            && fd.sleep(deadline - now).await.is_ok()
        {
            return;
        }
        super::clock::sleep_until(deadline).await;
    }
}
