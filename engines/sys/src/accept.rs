//! What an engine does when `accept()` fails (rule 4 of the [contract](crate)).

use std::io;
use std::time::{Duration, Instant};

/// What to do about an `accept()` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// `EINTR`: a signal interrupted the call; call it again.
    Retry,
    /// `ECONNABORTED`: the client gave up between the handshake and our accept. Nothing to
    /// do; accept the next one.
    Skip,
    /// Anything else (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): the connection stays in the
    /// backlog and the condition clears only when other connections close. Pause accepting for
    /// [`ACCEPT_BACKOFF`](crate::ACCEPT_BACKOFF), keep serving, warn (rate-limited).
    BackOff,
}

/// Sorts an `accept()` error into what to do about it.
pub fn classify(err: &io::Error) -> AcceptError {
    match err.kind() {
        io::ErrorKind::Interrupted => AcceptError::Retry,
        io::ErrorKind::ConnectionAborted => AcceptError::Skip,
        _ => AcceptError::BackOff,
    }
}

/// Lets a warning through at most once per interval and counts the ones held back, so that a
/// flood of failures does not become a flood of log lines.
#[derive(Debug)]
pub struct WarnLimit {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Default for WarnLimit {
    /// One warning a second.
    fn default() -> WarnLimit {
        WarnLimit::new(Duration::from_secs(1))
    }
}

impl WarnLimit {
    /// At most one warning per `interval`.
    pub fn new(interval: Duration) -> WarnLimit {
        WarnLimit {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` if a warning may be logged at `now` (`n` warnings were held back since the
    /// last one), `None` if it must be held back.
    pub fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// Logs `accept() failed` as a warning, unless one was logged less than an interval ago.
    pub fn warn_accept_failed(&mut self, err: &io::Error) {
        if let Some(suppressed) = self.check(Instant::now()) {
            tracing::warn!(
                suppressed,
                "accept() failed: {err}; pausing accepts for {:?}",
                crate::ACCEPT_BACKOFF
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_sort_by_what_to_do() {
        let err = |code| io::Error::from_raw_os_error(code);
        assert_eq!(classify(&err(libc::EINTR)), AcceptError::Retry);
        assert_eq!(classify(&err(libc::ECONNABORTED)), AcceptError::Skip);
        assert_eq!(classify(&err(libc::EMFILE)), AcceptError::BackOff);
        assert_eq!(classify(&err(libc::ENFILE)), AcceptError::BackOff);
        assert_eq!(classify(&err(libc::ENOBUFS)), AcceptError::BackOff);
    }

    #[test]
    fn one_warning_through_per_interval() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut limit = WarnLimit::new(second);
        assert_eq!(limit.check(start), Some(0));
        assert_eq!(limit.check(start + second / 2), None);
        assert_eq!(limit.check(start + second / 2), None);
        assert_eq!(limit.check(start + second), Some(2));
        assert_eq!(limit.check(start + second * 3 / 2), None);
        assert_eq!(limit.check(start + second * 3), Some(1));
    }
}
