//! One connection as the loop keeps it between events, and the [`Transport`] a protocol sees
//! during a callback: the per-connection half of the reactor.
//!
//! Everything an idle connection costs in user space is in [`Connection`]; the loop itself
//! (the `reactor` module) decides when to read, write, arm timers and close.

use std::time::{Duration, Instant};

use mio::Interest;
use mio::net::TcpStream;
use wb_protocol::Response;

use wb_sys::timeouts::ReadDeadline;

use crate::interfaces::{Transport, Work};
use crate::write_queue::{Flow, WriteQueue, flow};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving: the protocol reads and writes.
    Open,
    /// `lose_connection` was called (or the peer sent EOF): write what is queued, then linger
    /// (or, after the peer's EOF, just close: it will send nothing more).
    Flushing { linger: bool },
    /// Our FIN is sent; reading and discarding until the client's EOF or the timeout.
    Lingering,
}

/// One connection, as the loop keeps it between events. This is the engine's per-connection
/// cost in user space: an idle keep-alive connection holds this struct in the slab and
/// nothing on the heap (the session's buffer and the write queue free themselves when empty).
///
/// `S` is the socket: mio's for the mio reactor, tokio's for the adapter (`on_tokio`), which
/// keeps the very same state and rules.
pub(crate) struct Connection<P, S = TcpStream> {
    pub(crate) socket: S,
    pub(crate) phase: Phase,
    /// The protocol wants input (`pause_reading`/`resume_reading`).
    pub(crate) reading: bool,
    /// Backpressure: the write queue went over the high-water mark and has not drained to the
    /// low one yet. No reading meanwhile.
    pub(crate) paused: bool,
    /// What the socket is registered for in epoll right now (`None`: not registered).
    pub(crate) registered: Option<Interest>,
    /// The id of the one timer or deferred work this connection waits for (0: none). A timer
    /// or result with another id is stale and ignored.
    pub(crate) awaiting: u64,
    pub(crate) out: WriteQueue,
    pub(crate) protocol: P,
    /// When reading gives up (`--header-timeout` mid-request, `--keepalive-timeout` idle).
    /// (`--send-timeout` counts from the write queue's [`WriteQueue::since`].)
    pub(crate) deadline: ReadDeadline,
}

impl<P, S> Connection<P, S> {
    /// When this connection times out, given what it waits for: its read deadline while it
    /// reads, its send deadline while it has bytes queued (and cannot read), none while a job
    /// runs or it lingers (lingering has a timer of its own).
    pub(crate) fn expiry(&self, send_timeout: Duration) -> Option<Instant> {
        match self.phase {
            Phase::Open if self.wants_read() => Some(self.deadline.at),
            Phase::Open | Phase::Flushing { .. } if !self.out.is_empty() => {
                self.out.since().map(|since| since + send_timeout)
            }
            _ => None,
        }
    }

    /// What a deadline that has passed ([`expiry`](Connection::expiry)) means: `None` if it
    /// was the read deadline (the protocol hears `timed_out`: 408 or a quiet close), else the
    /// send timeout's error, with which the connection is dropped.
    pub(crate) fn send_timed_out(&self) -> Option<std::io::Error> {
        (!(self.phase == Phase::Open && self.wants_read())).then(|| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "send timeout: the client took nothing for --send-timeout",
            )
        })
    }

    pub(crate) fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Open => self.reading && !self.paused,
            Phase::Flushing { .. } => false,
            Phase::Lingering => true,
        }
    }

    /// The epoll interest this connection needs: `READABLE` only while it reads, `WRITABLE`
    /// only while bytes are queued (a socket is writable almost always, so asking for it with
    /// nothing to write would wake the loop for nothing).
    pub(crate) fn interest(&self) -> Option<Interest> {
        match (self.wants_read(), !self.out.is_empty()) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        }
    }

    /// Calls into the protocol with a [`SocketTransport`] over this connection, then keeps
    /// the timeouts' books (a queue that was empty starts the send timeout; a response out
    /// with reading on again starts the keep-alive one), and returns what the protocol asked
    /// of the loop. Both loops (mio's and tokio's) call their protocol through this.
    pub(crate) fn call_protocol(
        &mut self,
        timeouts: &wb_sys::Timeouts,
        call: impl FnOnce(&mut P, &mut dyn Transport),
    ) -> Option<Pending> {
        let was_empty = self.out.is_empty();
        let mut transport = SocketTransport {
            out: &mut self.out,
            phase: &mut self.phase,
            reading: &mut self.reading,
            paused: &mut self.paused,
            pending: None,
            wrote: false,
        };
        call(&mut self.protocol, &mut transport);
        let (pending, wrote) = (transport.pending, transport.wrote);
        if wrote || (was_empty && !self.out.is_empty()) {
            let now = Instant::now();
            if was_empty {
                self.out.progressed(now);
            }
            if wrote && self.wants_read() {
                // A response went out and the protocol reads again: idle between requests.
                self.deadline = ReadDeadline::answered(timeouts, false, now);
            }
        }
        pending
    }

    /// Waiting for the client's next request, with nothing in progress.
    pub(crate) fn is_idle(&self) -> bool {
        self.phase == Phase::Open
            && self.reading
            && !self.paused
            && self.out.is_empty()
            && self.awaiting == 0
    }
}

/// What a protocol asked of the loop besides I/O, collected during a callback.
pub(crate) enum Pending {
    Later(Duration),
    Defer(Work),
}

/// The socket-backed [`Transport`]: a view of one connection's fields for the length of one
/// protocol callback. Nothing here does I/O; the loop writes, reads and arms timers once the
/// callback returns.
pub(crate) struct SocketTransport<'a> {
    pub(crate) out: &'a mut WriteQueue,
    pub(crate) phase: &'a mut Phase,
    pub(crate) reading: &'a mut bool,
    pub(crate) paused: &'a mut bool,
    pub(crate) pending: Option<Pending>,
    /// Set when the protocol wrote a response during this callback.
    pub(crate) wrote: bool,
}

impl Transport for SocketTransport<'_> {
    fn write(&mut self, data: Response) {
        if *self.phase != Phase::Open {
            tracing::debug!(
                bytes = data.remaining(),
                "write after lose_connection dropped"
            );
            return;
        }
        self.out.push(data);
        self.wrote = true;
        if flow(*self.paused, self.out.len()) == Flow::Pause {
            *self.paused = true;
        }
    }

    fn lose_connection(&mut self) {
        if *self.phase == Phase::Open {
            *self.phase = Phase::Flushing { linger: true };
        }
        *self.reading = false;
    }

    fn pause_reading(&mut self) {
        *self.reading = false;
    }

    fn resume_reading(&mut self) {
        *self.reading = *self.phase == Phase::Open;
    }

    fn call_later(&mut self, delay: Duration) {
        self.pending = Some(Pending::Later(delay));
    }

    fn producing_paused(&self) -> bool {
        *self.paused
    }

    fn defer_to_thread(&mut self, work: Work) {
        self.pending = Some(Pending::Defer(work));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpProtocol;

    #[test]
    fn per_connection_state_stays_small() {
        // The whole of an idle connection's user-space memory is its slot in the slab: this
        // struct plus the slab's tag word (the session's buffer and the write queue hold no
        // heap when idle, and its timeouts are swept, not timers of its own). nginx measured
        // about 500 bytes per idle keep-alive connection; this engine aims at 128 in all.
        let size = size_of::<Connection<HttpProtocol>>();
        assert!(size <= 128, "a connection costs {size} bytes");
    }

    #[test]
    fn interest_follows_what_the_connection_waits_for() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut conn = Connection {
            socket: TcpStream::from_std(server),
            phase: Phase::Open,
            reading: true,
            paused: false,
            registered: None,
            awaiting: 0,
            out: WriteQueue::new(),
            protocol: HttpProtocol::new(false),
            deadline: ReadDeadline::accepted(&wb_sys::Timeouts::default(), Instant::now()),
        };
        assert_eq!(conn.interest(), Some(Interest::READABLE));
        assert!(conn.is_idle());
        conn.reading = false; // A job is in progress.
        assert_eq!(conn.interest(), None);
        conn.out.push(vec![0; 10].into());
        assert_eq!(conn.interest(), Some(Interest::WRITABLE));
        conn.reading = true;
        conn.paused = true; // Above the high-water mark.
        assert_eq!(conn.interest(), Some(Interest::WRITABLE));
        conn.paused = false;
        assert_eq!(
            conn.interest(),
            Some(Interest::READABLE | Interest::WRITABLE)
        );
        assert!(!conn.is_idle());
        conn.phase = Phase::Flushing { linger: true };
        assert_eq!(conn.interest(), Some(Interest::WRITABLE));
        conn.out.clear();
        conn.phase = Phase::Lingering;
        assert_eq!(conn.interest(), Some(Interest::READABLE));
        drop(client);
    }
}
