//! The three timeouts every engine keeps (rule 6 of the [contract](crate)), their flags, and
//! the read deadline that decides which one a connection is under.
//!
//! | flag | default | nginx | what it bounds |
//! |---|---|---|---|
//! | `--header-timeout` | 10 s | `client_header_timeout` (60 s) | a request, head and body, from its first byte (or from the accept) to its last; then `408 Request Timeout` and close |
//! | `--keepalive-timeout` | 75 s | `keepalive_timeout` (75 s) | an idle keep-alive connection, from the end of a response to the first byte of the next request; then close, quietly |
//! | `--send-timeout` | 60 s | `send_timeout` (60 s) | one write that makes no progress (the client stopped reading); then close |
//!
//! The header timeout is per *request*, not per read: a client that trickles one byte every
//! few seconds is cut off 10 s after it began, however often it sends. It is shorter than
//! nginx's 60 s because the workbench's clients are on loopback and a head is a few hundred
//! bytes (Apache's `mod_reqtimeout` allows 20 s, Node's `headersTimeout` 60 s). The send timeout
//! is per write, as nginx's is: a slow reader that takes a byte now and then keeps its
//! connection, one that takes nothing for a minute loses it.
//!
//! Each model enforces them its own way — that is part of the lesson: the blocking engines set
//! `SO_RCVTIMEO`/`SO_SNDTIMEO` on the socket, the selector keeps one lazy timer per connection
//! in its heap, the coroutines wrap their awaits in `tokio::time::timeout`.

use std::time::{Duration, Instant};

/// The longest any timeout may be set to: a day. Longer is a typo, not an experiment.
pub const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// The timeout flags, the same on every engine (each engine's `Config` flattens them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Timeouts {
    /// Seconds a request (head and body) may take to arrive, from its first byte or from the
    /// accept; then the engine answers 408 Request Timeout and closes. nginx's
    /// client_header_timeout.
    #[arg(long = "header-timeout", value_name = "SECS", default_value = "10",
          value_parser = parse_secs)]
    pub header: Duration,

    /// Seconds an idle keep-alive connection is kept between requests; then it is closed.
    /// nginx's keepalive_timeout.
    #[arg(long = "keepalive-timeout", value_name = "SECS", default_value = "75",
          value_parser = parse_secs)]
    pub keepalive: Duration,

    /// Seconds one write may go without progress (the client reads nothing); then the
    /// connection is closed. nginx's send_timeout.
    #[arg(long = "send-timeout", value_name = "SECS", default_value = "60",
          value_parser = parse_secs)]
    pub send: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            header: Duration::from_secs(10),
            keepalive: Duration::from_secs(75),
            send: Duration::from_secs(60),
        }
    }
}

/// Parses a timeout flag: whole seconds from 1 to a day.
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=MAX_TIMEOUT_SECS).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "`{text}` is not a timeout; give whole seconds from 1 to {MAX_TIMEOUT_SECS}, e.g. 10"
        )),
    }
}

/// What a connection that needs bytes is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The rest of a request (or the first one, on a new connection): the header timeout.
    Request,
    /// The next request on a keep-alive connection: the keep-alive timeout.
    Idle,
}

/// When a connection that needs bytes gives up waiting for them. Sans-I/O: the engine says
/// what happened and when, and asks [`ReadDeadline::at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadDeadline {
    /// Which timeout runs.
    pub wait: Wait,
    /// When it runs out.
    pub at: Instant,
}

impl ReadDeadline {
    /// A connection just accepted: its first request must arrive within the header timeout
    /// (nginx counts `client_header_timeout` from the accept too).
    pub fn accepted(timeouts: &Timeouts, now: Instant) -> ReadDeadline {
        ReadDeadline {
            wait: Wait::Request,
            at: now + timeouts.header,
        }
    }

    /// A response has been sent and the connection stays open. If the next request has
    /// already begun (`mid_request`: pipelined bytes), it is under the header timeout from
    /// now; otherwise the connection is idle, under the keep-alive timeout.
    pub fn answered(timeouts: &Timeouts, mid_request: bool, now: Instant) -> ReadDeadline {
        if mid_request {
            ReadDeadline::accepted(timeouts, now)
        } else {
            ReadDeadline {
                wait: Wait::Idle,
                at: now + timeouts.keepalive,
            }
        }
    }

    /// Bytes arrived: an idle connection's next request has begun, and the header timeout
    /// starts. Mid-request, nothing changes: the timeout is per request, not per read.
    pub fn received(&mut self, timeouts: &Timeouts, now: Instant) {
        if self.wait == Wait::Idle {
            *self = ReadDeadline::accepted(timeouts, now);
        }
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self, now: Instant) -> Duration {
        self.at.saturating_duration_since(now)
    }

    /// What a blocking engine sets `SO_RCVTIMEO` to before a read. While idle, the whole
    /// keep-alive timeout (the deadline was set as the read began), so that the socket option
    /// is the same for every keep-alive request and costs one `setsockopt` per connection, not
    /// one per request; mid-request, exactly what is left. `None` when nothing is left: the
    /// deadline has passed.
    pub fn socket_timeout(&self, timeouts: &Timeouts, now: Instant) -> Option<Duration> {
        let left = self.remaining(now);
        if left.is_zero() {
            None
        } else if self.wait == Wait::Idle {
            Some(timeouts.keepalive)
        } else {
            Some(left)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_timeout_runs_per_request_and_the_idle_one_between_requests() {
        let t = Timeouts::default();
        let start = Instant::now();
        let mut deadline = ReadDeadline::accepted(&t, start);
        assert_eq!(
            (deadline.wait, deadline.at),
            (Wait::Request, start + t.header)
        );
        // Reads mid-request do not push the deadline back: one byte every few seconds does not
        // hold the connection.
        deadline.received(&t, start + Duration::from_secs(4));
        assert_eq!(deadline.at, start + t.header);
        assert_eq!(
            deadline.socket_timeout(&t, start + Duration::from_secs(4)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(deadline.socket_timeout(&t, start + t.header), None);

        let later = start + Duration::from_secs(5);
        let mut deadline = ReadDeadline::answered(&t, false, later);
        assert_eq!(
            (deadline.wait, deadline.at),
            (Wait::Idle, later + t.keepalive)
        );
        assert_eq!(deadline.socket_timeout(&t, later), Some(t.keepalive));
        // The first byte of the next request starts its header timeout.
        let first_byte = later + Duration::from_secs(30);
        deadline.received(&t, first_byte);
        assert_eq!(
            (deadline.wait, deadline.at),
            (Wait::Request, first_byte + t.header)
        );

        // Pipelined bytes already there: the next request has begun.
        let deadline = ReadDeadline::answered(&t, true, later);
        assert_eq!(deadline.wait, Wait::Request);
    }

    #[test]
    fn flags_have_nginx_names_defaults_and_limits() {
        let parse = |args: &[&str]| crate::parse_flags::<Timeouts>("x", args);
        assert_eq!(parse(&[]).unwrap(), Timeouts::default());
        let timeouts = parse(&[
            "--header-timeout",
            "1",
            "--keepalive-timeout",
            "2",
            "--send-timeout",
            "3",
        ])
        .unwrap();
        assert_eq!(timeouts.header, Duration::from_secs(1));
        assert_eq!(timeouts.keepalive, Duration::from_secs(2));
        assert_eq!(timeouts.send, Duration::from_secs(3));
        for bad in ["0", "-1", "1.5", "ten", "86401"] {
            assert!(parse(&["--header-timeout", bad]).is_err(), "{bad}");
        }
    }
}
