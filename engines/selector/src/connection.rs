//! One connection as the loop keeps it between events, and every decision about what happens
//! to it next: the per-connection half of the engine, written once for both loops.
//!
//! # How a blocking loop becomes a state machine
//!
//! A thread-per-connection server writes a connection's life as one straight loop:
//!
//! ```text
//! loop {
//!     n = read(socket, buf)          // blocks until bytes arrive
//!     if n == 0 { close; return }
//!     protocol.data_received(buf[..n])
//!     sleep(wait)                    // blocks: the "database"
//!     write_all(socket, response)    // blocks until the kernel took it all
//! }
//! ```
//!
//! An event loop may not block, so it cuts that loop at every place it would: each blocking
//! call becomes a *step* the loop carries out when the socket (or the clock) is ready, and
//! each resumption becomes an *event* the connection is told of. [`Connection`] is what is
//! left of the thread's stack between events, and its methods are the decisions the straight
//! loop made implicitly by the order of its lines: after bytes arrive, call the protocol; after
//! the protocol answered, write; if the kernel took only part, wait for `WRITABLE`; after
//! `lose_connection` and the last byte, send our FIN and linger; and so on.
//!
//! The connection never touches a system call. An event method (`made`, `readable`,
//! `writable`, `timer_fired`, `deferred`, `deadline_passed`, `stop`, `close`) returns a
//! [`Next`]: what the loop should do now. The loop carries it out with its own I/O primitive
//! and hands the result back (`read`, `write`, `shut_down`), or does it and asks for what
//! follows (`settle` after arming a timer or starting deferred work), until the answer is
//! [`Next::Wait`] (nothing to do until the next event) or [`Next::Close`]. hyper splits its
//! HTTP/1 connection the same way: `proto::h1::conn` is the state machine, `dispatch` the loop
//! that drives it. Here the drivers are two: the engine's mio reactor (`reactor`), where a
//! step is a `read`/`writev`/`epoll_ctl` on a slab slot's socket, and the tokio adapter
//! (`on_tokio`), where it is a `try_read`/`try_write_vectored` and a `Sleep` reset in a task.
//! Each driver is one `match` on [`Next`]; neither decides anything about a connection's fate.
//!
//! The trace's spans (`--trace`, [`wb_sys::trace`]) are decided here too, so both loops draw the
//! same timeline: a read span around the loop's read and a write span around its write
//! (both named by the socket's descriptor), a wait span when a `call_later` arms a timer, and
//! the accept span through [`span`] at each loop's accept; the protocol records its compute
//! spans itself.
//!
//! Everything an idle connection costs in user space is in [`Connection`]; the transient
//! state of one chain of steps (one event's worth) is in [`Cx`], on the loop's stack.

use std::cell::Cell;
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::Interest;
use mio::net::TcpStream;
use wb_protocol::Response;

use wb_sys::LINGER_TIMEOUT;
use wb_sys::timeouts::ReadDeadline;
use wb_sys::trace;

use crate::interfaces::{Protocol, Reason, Rows, Transport, Work};
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

/// What the loop does next for one connection, as the connection decided it. The loop
/// carries out one `Next` at a time with its own I/O primitives and reports back, until
/// [`Next::Wait`] or [`Next::Close`] ends the chain.
#[must_use = "the loop must carry out what the connection decided"]
pub(crate) enum Next {
    /// Read once from the socket into the loop's shared buffer, through
    /// [`Connection::read`] (which hands the loop's non-blocking read the socket and the
    /// buffer, under a read span).
    Read,
    /// Write the queue to the socket through [`Connection::write`] (the loop's non-blocking
    /// writev, under a write span) until it is empty or the kernel's send buffer is full.
    Write,
    /// Send our FIN after the last byte (`shutdown(Write)`) through
    /// [`Connection::shut_down`]: the lingering close begins.
    ShutDown,
    /// Arm the connection's one timer for `at` (a `call_later`, or the end of a lingering
    /// close), replacing any other; when it fires, hand `id` to
    /// [`Connection::timer_fired`]. Then ask [`Connection::settle`] what follows.
    Timer { at: Instant, id: u64 },
    /// Run `work` on the `--offload` pool (or inline without one) and hand its result and
    /// `id` to [`Connection::deferred`]. Then ask [`Connection::settle`] what follows.
    Defer { work: Work, id: u64 },
    /// Submit a query for these `World` ids to the loop's database pool and hand its rows and
    /// `id` to [`Connection::rows`]. Then ask [`Connection::settle`] what follows.
    Query { ids: Vec<i32>, id: u64 },
    /// Nothing to do until the next event: wait for the readiness in
    /// [`Connection::interest`] and the deadline in [`Connection::expiry`].
    Wait,
    /// Drop the connection: its protocol has heard `connection_lost`, and dropping the socket
    /// closes it (which also takes it out of epoll's set: it was never `dup`ed).
    Close,
}

/// What a connection's decisions need from its loop, lent for one chain of steps: from an
/// event to its [`Next::Wait`] or [`Next::Close`]. It lives on the loop's stack for that
/// long, so nothing in it costs an idle connection a byte.
pub(crate) struct Cx<'a> {
    /// The contract's timeouts: the header and keep-alive deadlines, the send timeout.
    timeouts: &'a wb_sys::Timeouts,
    /// The server is stopping: a connection whose work is done closes instead of waiting
    /// for another request.
    stopping: bool,
    /// The event also reported the client's FIN (mio's `EPOLLRDHUP`): a short read does not
    /// consume the EOF, so the chain reads on until it sees it. (tokio keeps "read closed" in
    /// the socket's readiness instead, and its adapter passes `false`.)
    fin: bool,
    /// Where timer and deferred-work ids come from, shared by every connection of a loop and
    /// never reused, so a stale timer or result cannot match ([`Connection::awaiting`]) even
    /// when a new connection took the slab slot of the one that armed it.
    ids: &'a Cell<u64>,
    /// The last read filled the buffer (or `fin`): the kernel may hold more bytes, and an
    /// edge-triggered epoll will not say so again, so the chain reads once more before it
    /// waits. A short read took all the kernel held, and ends the chain there.
    unread: bool,
}

impl<'a> Cx<'a> {
    /// The context of one event's chain.
    pub(crate) fn new(
        timeouts: &'a wb_sys::Timeouts,
        stopping: bool,
        fin: bool,
        ids: &'a Cell<u64>,
    ) -> Cx<'a> {
        Cx {
            timeouts,
            stopping,
            fin,
            ids,
            unread: false,
        }
    }

    fn fresh_id(&self) -> u64 {
        let id = self.ids.get() + 1;
        self.ids.set(id);
        id
    }
}

/// A trace span for the connection on `socket`, named on the timeline by its descriptor. The
/// loops record their accept span with it (there is no [`Connection`] yet); the connection
/// records its read and write spans with it.
pub(crate) fn span(socket: &impl AsRawFd, phase: trace::Phase) -> trace::Guard {
    trace::span(phase, socket.as_raw_fd() as u64)
}

/// One connection, as the loop keeps it between events. This is the engine's per-connection
/// cost in user space: an idle keep-alive connection holds this struct in the slab and
/// nothing on the heap (the session's buffer and the write queue free themselves when empty).
/// 128 bytes on x86-64 in a debug build (a unit test bounds it), of which the fields below say
/// their share.
///
/// `S` is the socket: mio's for the mio reactor, tokio's for the adapter (`on_tokio`), which
/// keeps the very same state and rules.
pub(crate) struct Connection<P, S = TcpStream> {
    /// The socket: a descriptor, 4 bytes (mio adds a 12-byte selector id in debug builds, to
    /// check registrations). The kernel's buffers and epoll entry for it are not counted here.
    pub(crate) socket: S,
    /// Where the connection is in its life: 1 byte. Decides what a read, an empty queue and a
    /// timer mean (serve, flush then close, discard until EOF).
    pub(crate) phase: Phase,
    /// The protocol wants input (`pause_reading`/`resume_reading`): 1 byte. Off while a job is
    /// in progress, so requests are neither buffered without bound nor answered out of order.
    pub(crate) reading: bool,
    /// Backpressure: the write queue went over the high-water mark and has not drained to the
    /// low one yet. No reading meanwhile. 1 byte.
    pub(crate) paused: bool,
    /// What the socket is registered for in epoll right now (`None`: not registered): 1 byte,
    /// so that the mio loop makes an `epoll_ctl` call only when the interest changes. The
    /// tokio adapter leaves it `None`: tokio keeps its own.
    pub(crate) registered: Option<Interest>,
    /// Reading resumed after a pause during which `READABLE` stayed registered (to hear of a
    /// hang-up, [`Connection::interest`]): 1 byte. An edge that came meanwhile (a pipelined
    /// request, perhaps with a FIN after it) was heard and left in the kernel, and edge-
    /// triggered epoll will not report it again: the mio loop re-arms the registration
    /// (`EPOLL_CTL_MOD`, which reports what is pending) even though the interest is the same.
    /// tokio keeps readiness until a read clears it, so its adapter needs no such thing.
    pub(crate) rearm: bool,
    /// Resting from a request that trickles in ([`Transport::rest_reading`]): not reading and
    /// not listening either, so a byte per segment wakes nothing; 1 byte. Cleared when the
    /// protocol resumes reading.
    pub(crate) resting: bool,
    /// The id of the one timer or deferred work this connection waits for (0: none): 8
    /// bytes. A timer or result with another id is stale and ignored.
    pub(crate) awaiting: u64,
    /// What the protocol wrote and the kernel has not taken yet: 8 bytes, a null pointer while
    /// empty. It also carries when it last moved (the send timeout's start).
    pub(crate) out: WriteQueue,
    /// The protocol: its state between callbacks (64 bytes for [`HttpProtocol`]), what a
    /// blocking engine keeps on a thread's stack.
    ///
    /// [`HttpProtocol`]: crate::HttpProtocol
    pub(crate) protocol: P,
    /// When reading gives up (`--header-timeout` mid-request, `--keepalive-timeout` idle):
    /// 24 bytes, checked by the loop's sweep or its deadline `Sleep` instead of a timer per
    /// connection. (`--send-timeout` counts from the write queue's [`WriteQueue::since`].)
    pub(crate) deadline: ReadDeadline,
}

impl<P, S> Connection<P, S> {
    /// A connection just accepted: open, reading, its first request under the header timeout.
    pub(crate) fn accepted(socket: S, protocol: P, timeouts: &wb_sys::Timeouts) -> Self {
        Connection {
            socket,
            phase: Phase::Open,
            reading: true,
            paused: false,
            registered: None,
            rearm: false,
            resting: false,
            awaiting: 0,
            out: WriteQueue::new(),
            protocol,
            deadline: ReadDeadline::accepted(timeouts, Instant::now()),
        }
    }

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
    fn send_timed_out(&self) -> Option<io::Error> {
        (!(self.phase == Phase::Open && self.wants_read())).then(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
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
    ///
    /// An open connection that does not read (its request waits on a timer or the pool) keeps
    /// `READABLE` all the same, without reading: the event that comes with the client's FIN
    /// (`EPOLLRDHUP`) lets [`Connection::hung_up`] free it before the wait ends, as nginx
    /// notices a client that closed while its request is in progress. Edge-triggered, a
    /// pipelined request arriving meanwhile wakes the loop once and is left in the kernel;
    /// when reading resumes, [`Connection::rearm`] has the loop ask epoll again.
    pub(crate) fn interest(&self) -> Option<Interest> {
        let read = self.wants_read() || (self.phase == Phase::Open && !self.resting);
        match (read, !self.out.is_empty()) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        }
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

/// The events: what happened, told by the loop. Each returns the first step.
impl<P: Protocol, S: AsRawFd> Connection<P, S> {
    /// The connection was accepted: the protocol hears `connection_made`.
    pub(crate) fn made(&mut self, cx: &mut Cx<'_>) -> Next {
        self.callback(cx, |protocol, transport| {
            protocol.connection_made(transport)
        })
    }

    /// The socket is readable (or the client's FIN arrived, `cx.fin`): read, if the
    /// connection reads at all. One that does not leaves its bytes in the kernel (asking for
    /// `READABLE` again later reports them), unless the FIN came with the event: then it may
    /// be a client that hung up while its request waits ([`Connection::hung_up`]).
    pub(crate) fn readable(&mut self, cx: &mut Cx<'_>) -> Next {
        if self.wants_read() {
            Next::Read
        } else if cx.fin {
            self.hung_up(|socket| wb_sys::hangup::peek(socket))
                .unwrap_or(Next::Wait)
        } else {
            Next::Wait
        }
    }

    /// Whether the client of an open connection that does not read (its request waits on a
    /// timer or the pool, or its answer fills the queue) has hung up, by `peek`, the loop's
    /// look at the socket without taking anything ([`wb_sys::hangup::peek`]): nothing before
    /// its FIN (`Ok(0)`) or a reset closes the connection now, instead of when the answer is
    /// written (`Some(Next::Close)`); the blocking engines end such a request too
    /// ([`wb_sys::hangup::wait_unless_hung_up`]). A pipelined byte, or nothing at all, is no
    /// hang-up (`None`): the bytes, and any FIN after them, stay for the reads to come.
    pub(crate) fn hung_up(&mut self, peek: impl FnOnce(&S) -> io::Result<usize>) -> Option<Next> {
        if self.wants_read() || self.phase != Phase::Open {
            return None;
        }
        match peek(&self.socket) {
            Ok(0) => Some(self.close(Reason::Done)),
            Ok(_) => None,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                None
            }
            Err(err) => Some(self.close(Reason::Lost(err))),
        }
    }

    /// The socket is writable: write what is queued, and move along whatever waited for it.
    pub(crate) fn writable(&mut self, cx: &mut Cx<'_>) -> Next {
        self.settle(cx)
    }

    /// The timer `id` fired: the protocol's `call_later` is due, or a lingering close waited
    /// long enough for the client's EOF. A stale id (replaced since) changes nothing.
    pub(crate) fn timer_fired(&mut self, id: u64, cx: &mut Cx<'_>) -> Next {
        if self.awaiting != id {
            return Next::Wait;
        }
        self.awaiting = 0;
        if self.phase == Phase::Lingering {
            // The client never sent its EOF: stop waiting for it.
            self.close(Reason::Done)
        } else {
            self.callback(cx, |protocol, transport| protocol.timer_fired(transport))
        }
    }

    /// The deferred work `id` finished with `result`. A stale id changes nothing: the
    /// result goes nowhere.
    pub(crate) fn deferred(&mut self, id: u64, result: Response, cx: &mut Cx<'_>) -> Next {
        if self.awaiting != id {
            return Next::Wait;
        }
        self.awaiting = 0;
        self.callback(cx, move |protocol, transport| {
            protocol.deferred_result(result, transport)
        })
    }

    /// The rows of the query `id` arrived (or it failed). A stale id changes nothing: the
    /// client left, or its connection's slot went to another.
    pub(crate) fn rows(&mut self, id: u64, rows: Rows, cx: &mut Cx<'_>) -> Next {
        if self.awaiting != id {
            return Next::Wait;
        }
        self.awaiting = 0;
        self.callback(cx, move |protocol, transport| {
            protocol.rows_received(rows, transport)
        })
    }

    /// The loop found `now` past this connection's [`expiry`](Connection::expiry) (or
    /// thinks so: this checks): a reading connection hears `timed_out` (408 or a quiet
    /// close), one that cannot get its bytes out is dropped.
    pub(crate) fn deadline_passed(&mut self, now: Instant, cx: &mut Cx<'_>) -> Next {
        if self.expiry(cx.timeouts.send).is_none_or(|at| at > now) {
            return Next::Wait;
        }
        match self.send_timed_out() {
            Some(err) => self.close(Reason::Lost(err)),
            None => {
                tracing::debug!(wait = ?self.deadline.wait, "read timeout");
                self.callback(cx, |protocol, transport| protocol.timed_out(transport))
            }
        }
    }

    /// The server began to stop (`cx.stopping`): an idle connection closes at once; one with
    /// work in progress finishes it, and closes when it is idle ([`settle`]).
    ///
    /// [`settle`]: Connection::settle
    pub(crate) fn stop(&mut self, _cx: &mut Cx<'_>) -> Next {
        if self.is_idle() {
            self.close(Reason::Shutdown)
        } else {
            Next::Wait
        }
    }

    /// Closes the connection at once and tells its protocol why; the loop drops it on the
    /// [`Next::Close`] this returns. Called once: the loop never drives a closed connection.
    pub(crate) fn close(&mut self, reason: Reason) -> Next {
        let fd = self.socket.as_raw_fd();
        match &reason {
            Reason::Lost(err) => tracing::debug!(fd, "connection lost: {err}"),
            Reason::Done | Reason::Shutdown => tracing::trace!(fd, "connection closed"),
        }
        // The queued bytes, if any, can go now: nobody will take them.
        self.out.clear();
        self.protocol.connection_lost(reason);
        Next::Close
    }
}

/// The steps' results, handed back by the loop, and what follows each.
impl<P: Protocol, S: AsRawFd> Connection<P, S> {
    /// [`Next::Read`] carried out: `read` is the loop's own non-blocking read of the socket
    /// into `buf` (the loop's one shared buffer), timed as a read span. Bytes go to the
    /// protocol; the EOF, an error or a lingering connection's input decide the rest.
    pub(crate) fn read(
        &mut self,
        buf: &mut [u8],
        cx: &mut Cx<'_>,
        read: impl FnOnce(&mut S, &mut [u8]) -> io::Result<usize>,
    ) -> Next {
        let result = {
            let _reading = span(&self.socket, trace::Phase::Read);
            read(&mut self.socket, buf)
        };
        match result {
            Ok(0) => self.eof(cx),
            // Discarded, as promised; read on until the EOF or `WouldBlock`.
            Ok(_) if self.phase == Phase::Lingering => Next::Read,
            Ok(n) => {
                // A short read took everything the kernel held; any later byte is a new edge.
                cx.unread = n == buf.len() || cx.fin;
                self.deadline.received(cx.timeouts, Instant::now());
                self.callback(cx, |protocol, transport| {
                    protocol.data_received(&buf[..n], transport)
                })
            }
            // Drained (and tokio cleared the socket's readiness): wait for the next edge.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Next::Wait,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Next::Read,
            Err(err) => self.close(Reason::Lost(err)),
        }
    }

    /// [`Next::Write`] carried out: `write` is the loop's own write of the queue to the
    /// socket ([`WriteQueue::write_to`] over a non-blocking sink), timed as a write span.
    pub(crate) fn write(
        &mut self,
        cx: &mut Cx<'_>,
        write: impl FnOnce(&mut WriteQueue, &mut S) -> io::Result<bool>,
    ) -> Next {
        let before = self.out.len();
        let written = {
            let _writing = span(&self.socket, trace::Phase::Write);
            write(&mut self.out, &mut self.socket)
        };
        if let Err(err) = written {
            // Reset, broken pipe: the client is gone, perhaps mid-response.
            return self.close(Reason::Lost(err));
        }
        if self.out.len() < before {
            self.out.progressed(Instant::now());
        }
        self.after_write(cx)
    }

    /// [`Next::ShutDown`] carried out: `shutdown` is the loop's `shutdown(Write)`.
    ///
    /// The lingering close (nginx's `lingering_close`): our FIN follows the last byte, so the
    /// client sees the end of the response. Then the connection reads and discards until the
    /// client's EOF or [`LINGER_TIMEOUT`]: had it closed with unread bytes (say, pipelined
    /// requests it will not answer), the kernel would send a RST, and a RST makes the client's
    /// kernel throw away response bytes its application has not read yet.
    pub(crate) fn shut_down(
        &mut self,
        cx: &mut Cx<'_>,
        shutdown: impl FnOnce(&S) -> io::Result<()>,
    ) -> Next {
        if let Err(err) = shutdown(&self.socket) {
            return self.close(Reason::Lost(err));
        }
        self.phase = Phase::Lingering;
        self.arm(cx, Instant::now() + LINGER_TIMEOUT)
    }

    /// After a callback, after the loop armed a timer or started deferred work, on a writable
    /// event: write what is queued at once, rather than wait for a writable event (most
    /// responses fit in the socket's send buffer and leave in this very turn, as asyncio's
    /// `transport.write` does); then [`after_write`](Connection::after_write).
    pub(crate) fn settle(&mut self, cx: &mut Cx<'_>) -> Next {
        if self.out.is_empty() {
            self.after_write(cx)
        } else {
            Next::Write
        }
    }

    /// What the queue's state now asks for: resume a paused producer, close or linger once a
    /// closing connection's queue is empty, close an idle connection when stopping, read on
    /// while the kernel may hold more; else wait.
    fn after_write(&mut self, cx: &mut Cx<'_>) -> Next {
        if self.paused && flow(true, self.out.len()) == Flow::Resume {
            self.paused = false;
            // Reading again, if the protocol reads: what came meanwhile was only looked at.
            self.rearm |= self.wants_read();
            if self.phase == Phase::Open {
                // It may write more: the settle after the callback writes it.
                return self.callback(cx, |protocol, transport| {
                    protocol.resume_producing(transport)
                });
            }
        }
        if let Phase::Flushing { linger } = self.phase
            && self.out.is_empty()
        {
            return if linger {
                Next::ShutDown
            } else {
                // After the client's EOF: it sends nothing more, so nothing to linger for.
                self.close(Reason::Done)
            };
        }
        if cx.stopping && self.is_idle() {
            // Shutting down: a connection whose work is done closes, politely.
            self.phase = Phase::Flushing { linger: true };
            self.reading = false;
            return self.settle(cx);
        }
        if cx.unread && self.wants_read() {
            Next::Read
        } else {
            Next::Wait
        }
    }

    /// The client closed its sending side. The connection reads only when the protocol asked
    /// for bytes, so every complete request it sent has been answered; nothing more can
    /// arrive.
    fn eof(&mut self, cx: &mut Cx<'_>) -> Next {
        if self.phase == Phase::Lingering || self.out.is_empty() {
            self.close(Reason::Done)
        } else {
            // A half-closed client still reads: send what is queued, then close (no lingering:
            // it has nothing more to send).
            self.phase = Phase::Flushing { linger: false };
            self.reading = false;
            self.settle(cx)
        }
    }

    /// Calls into the protocol, then decides what its calls asked for: the timer or the
    /// deferred work first (the loop arms or starts it, then settles), else the settle.
    fn callback(&mut self, cx: &mut Cx<'_>, call: impl FnOnce(&mut P, &mut dyn Transport)) -> Next {
        // The protocol does not know its socket: its compute spans read the connection here.
        let serving = trace::serving(self.socket.as_raw_fd() as u64);
        let pending = self.call_protocol(cx.timeouts, call);
        drop(serving);
        match pending {
            None => self.settle(cx),
            Some(Pending::Later(delay)) => {
                // The wait as scheduled: the loop thread is free meanwhile, so on the
                // timeline it is a thin strip under the other connections' spans. A zero
                // delay is a yield, not a wait.
                if let Some(now) = trace::start_ns().filter(|_| !delay.is_zero()) {
                    let end = now.saturating_add(delay.as_nanos() as u64);
                    trace::record(trace::Phase::Wait, self.socket.as_raw_fd() as u64, now, end);
                }
                self.arm(cx, Instant::now() + delay)
            }
            Some(Pending::Defer(work)) => {
                let id = cx.fresh_id();
                self.awaiting = id;
                Next::Defer { work, id }
            }
            Some(Pending::Query(ids)) => {
                let id = cx.fresh_id();
                self.awaiting = id;
                Next::Query { ids, id }
            }
        }
    }

    /// The connection's one timer, at `at`: a fresh id makes any earlier one stale.
    fn arm(&mut self, cx: &mut Cx<'_>, at: Instant) -> Next {
        let id = cx.fresh_id();
        self.awaiting = id;
        Next::Timer { at, id }
    }
}

impl<P, S> Connection<P, S> {
    /// Calls into the protocol with a [`SocketTransport`] over this connection, then keeps
    /// the timeouts' books (a queue that was empty starts the send timeout; a response out
    /// with reading on again starts the keep-alive one), and returns what the protocol asked
    /// of the loop besides I/O.
    fn call_protocol(
        &mut self,
        timeouts: &wb_sys::Timeouts,
        call: impl FnOnce(&mut P, &mut dyn Transport),
    ) -> Option<Pending> {
        let was_empty = self.out.is_empty();
        let was_reading = self.wants_read();
        let was_resting = self.resting;
        let mut transport = SocketTransport {
            out: &mut self.out,
            phase: &mut self.phase,
            reading: &mut self.reading,
            paused: &mut self.paused,
            resting: &mut self.resting,
            pending: None,
            wrote: false,
        };
        call(&mut self.protocol, &mut transport);
        let (pending, wrote) = (transport.pending, transport.wrote);
        if was_empty && (wrote || !self.out.is_empty()) {
            self.out.progressed(Instant::now());
        }
        // A response went out and the protocol reads again, or reading starts again after a
        // pause (a full write queue drained, `resume_producing`): idle between requests from
        // now. Without the second case a slow reader of a large answer was closed as idle
        // when reading resumed, by the deadline set before its answer began. (The end of a
        // rest is neither: the request still arriving keeps its header deadline.)
        if self.wants_read() && (wrote || (!was_reading && !was_resting)) {
            self.deadline = ReadDeadline::answered(timeouts, false, Instant::now());
        }
        if self.wants_read() && !was_reading {
            self.rearm = true;
        }
        pending
    }
}

/// What a protocol asked of the loop besides I/O, collected during a callback.
pub(crate) enum Pending {
    Later(Duration),
    Defer(Work),
    Query(Vec<i32>),
}

/// The socket-backed [`Transport`]: a view of one connection's fields for the length of one
/// protocol callback. Nothing here does I/O; the loop writes, reads and arms timers once the
/// callback returns.
pub(crate) struct SocketTransport<'a> {
    pub(crate) out: &'a mut WriteQueue,
    pub(crate) phase: &'a mut Phase,
    pub(crate) reading: &'a mut bool,
    pub(crate) paused: &'a mut bool,
    pub(crate) resting: &'a mut bool,
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
        *self.resting = false;
    }

    fn rest_reading(&mut self, rest: Duration) {
        *self.reading = false;
        *self.resting = *self.phase == Phase::Open;
        self.pending = Some(Pending::Later(rest));
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

    fn query_world(&mut self, ids: Vec<i32>) {
        self.pending = Some(Pending::Query(ids));
    }
}

/// What both loops' end-to-end tests pipeline on one connection: a timer, CPU rounds
/// (deferred with `--offload`), a 300 kB body (partial writes), an error that closes, and a
/// request left unanswered (lingering close).
#[cfg(test)]
pub(crate) const PIPELINED: [&[u8]; 5] = [
    b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /work?wait_ms=20&cpu_rounds=100&bytes=300000 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpProtocol;
    use wb_protocol::date::masked;

    #[test]
    fn per_connection_state_stays_small() {
        // The whole of an idle connection's user-space memory is its slot in the slab: this
        // struct plus the slab's tag word (the session's buffer and the write queue hold no
        // heap when idle, and its timeouts are swept, not timers of its own). nginx measured
        // about 500 bytes per idle keep-alive connection; this engine aims at 128 in all.
        let size = size_of::<Connection<HttpProtocol>>();
        assert!(size <= 128, "a connection costs {size} bytes");
    }

    /// What the test keeps while it plays the loop: the timeouts and the source of ids.
    struct TestLoop {
        timeouts: wb_sys::Timeouts,
        ids: Cell<u64>,
    }

    impl TestLoop {
        fn new() -> TestLoop {
            TestLoop {
                timeouts: wb_sys::Timeouts::default(),
                ids: Cell::new(0),
            }
        }

        /// A connection accepted on a real socket pair (a connection names itself by its
        /// socket), and the client's end to keep open.
        fn accept(
            &self,
        ) -> (
            Connection<HttpProtocol, std::net::TcpStream>,
            std::net::TcpStream,
        ) {
            let (server, client) = wb_sys::loopback::pair().unwrap();
            let conn = Connection::accepted(server, HttpProtocol::new(false), &self.timeouts);
            (conn, client)
        }

        /// The context of one event's chain.
        fn cx(&self, stopping: bool, fin: bool) -> Cx<'_> {
            Cx::new(&self.timeouts, stopping, fin, &self.ids)
        }
    }

    #[test]
    fn interest_follows_what_the_connection_waits_for() {
        let (server, client) = wb_sys::loopback::pair().unwrap();
        let mut conn = Connection::<_, TcpStream>::accepted(
            TcpStream::from_std(server),
            HttpProtocol::new(false),
            &wb_sys::Timeouts::default(),
        );
        assert_eq!(conn.interest(), Some(Interest::READABLE));
        assert!(conn.is_idle());
        conn.reading = false; // A job is in progress: still told of a hang-up.
        assert_eq!(conn.interest(), Some(Interest::READABLE));
        conn.out.push(vec![0; 10].into());
        assert_eq!(
            conn.interest(),
            Some(Interest::READABLE | Interest::WRITABLE)
        );
        conn.reading = true;
        conn.paused = true; // Above the high-water mark.
        assert_eq!(
            conn.interest(),
            Some(Interest::READABLE | Interest::WRITABLE)
        );
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

    /// A pretend read: `bytes` arrived.
    fn arrives(
        bytes: &[u8],
    ) -> impl FnOnce(&mut std::net::TcpStream, &mut [u8]) -> io::Result<usize> {
        move |_, buf| {
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        }
    }

    /// A sink like a full kernel send buffer: it takes nothing.
    struct Full;

    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The state machine without a loop: the test plays the loop, carrying out each `Next`
    /// with pretend I/O (the socket is real only because a connection names itself by it).
    #[test]
    fn a_connection_is_driven_step_by_step_without_a_loop() {
        let test = TestLoop::new();
        let (mut conn, _client) = test.accept();
        let mut cx = test.cx(false, false);
        assert!(matches!(conn.made(&mut cx), Next::Wait));
        assert!(matches!(conn.readable(&mut cx), Next::Read));

        // A request that waits 20 ms: the protocol stops reading and asks for a timer.
        let waits = b"GET /work?wait_ms=20 HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut buf = [0; 1024];
        let next = conn.read(&mut buf, &mut cx, arrives(waits));
        let Next::Timer { at, id } = next else {
            panic!("a call_later arms a timer");
        };
        assert!(at > Instant::now() + Duration::from_millis(10));
        // Armed; then nothing until it fires but the client's FIN, should it hang up.
        assert!(matches!(conn.settle(&mut cx), Next::Wait));
        assert_eq!(conn.interest(), Some(Interest::READABLE));
        assert!(!conn.rearm);
        assert!(
            matches!(conn.timer_fired(id + 1, &mut cx), Next::Wait),
            "stale"
        );

        // It fires: the response is queued, and written at once; the kernel takes none.
        let mut cx = test.cx(false, false);
        assert!(matches!(conn.timer_fired(id, &mut cx), Next::Write));
        assert!(conn.rearm, "reading again: the mio loop asks epoll again");
        let next = conn.write(&mut cx, |out, _| out.write_to(&mut Full));
        assert!(matches!(next, Next::Wait));
        assert_eq!(
            conn.interest(),
            Some(Interest::READABLE | Interest::WRITABLE)
        );

        // Writable: the rest leaves; then a `Connection: close` request, answered and closed
        // with a lingering close.
        let mut sent = Vec::new();
        let mut cx = test.cx(false, false);
        assert!(matches!(conn.writable(&mut cx), Next::Write));
        let next = conn.write(&mut cx, |out, _| out.write_to(&mut sent));
        assert!(matches!(next, Next::Wait));
        assert!(masked(&sent) == masked(&wb_protocol::respond_all(waits)));
        let closes = b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        let next = conn.read(&mut buf, &mut cx, arrives(closes));
        assert!(matches!(next, Next::Write));
        let next = conn.write(&mut cx, |out, _| out.write_to(&mut sent));
        assert!(matches!(next, Next::ShutDown), "FIN after the last byte");
        let Next::Timer { .. } = conn.shut_down(&mut cx, |_| Ok(())) else {
            panic!("lingering has a timer of its own");
        };
        assert_eq!(conn.phase, Phase::Lingering);
        assert!(matches!(conn.settle(&mut cx), Next::Wait));
        assert_eq!(conn.interest(), Some(Interest::READABLE));
        // Input is discarded until the EOF, which closes.
        let next = conn.read(&mut buf, &mut cx, |_, _| Ok(5));
        assert!(matches!(next, Next::Read));
        assert!(matches!(
            conn.read(&mut buf, &mut cx, |_, _| Ok(0)),
            Next::Close
        ));
    }

    /// A slow reader of a large answer: the full queue pauses the protocol; when the queue
    /// drains and reading resumes, the keep-alive clock starts then, not at the request.
    #[test]
    fn reading_again_after_a_drained_queue_starts_the_idle_clock() {
        let test = TestLoop::new();
        let (mut conn, _client) = test.accept();
        let mut cx = test.cx(false, false);
        let mut buf = [0; 1024];
        let big = b"GET /work?bytes=4194304 HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(matches!(
            conn.read(&mut buf, &mut cx, arrives(big)),
            Next::Write
        ));
        let _ = conn.write(&mut cx, |out, _| out.write_to(&mut Full));
        assert!(!conn.wants_read(), "a full queue pauses the protocol");
        // The answer takes the reader an hour: the deadline set with the request is long past.
        let hour_ago = Instant::now() - Duration::from_secs(3600);
        conn.deadline = ReadDeadline::accepted(&test.timeouts, hour_ago);
        let mut cx = test.cx(false, false);
        let mut next = conn.writable(&mut cx);
        while matches!(next, Next::Write) {
            next = conn.write(&mut cx, |out, _| out.write_to(&mut std::io::sink()));
        }
        assert!(conn.wants_read(), "the drained queue resumes reading");
        assert!(
            conn.deadline.at > Instant::now(),
            "idle from now, not closed by the old deadline"
        );
    }

    /// A client that hangs up while its request waits is let go at the FIN; one that
    /// pipelines a request meanwhile, even with a FIN after it, is not.
    #[test]
    fn a_hang_up_while_waiting_closes_and_a_pipelined_request_does_not() {
        use std::io::Write as _;
        let test = TestLoop::new();
        let waits = b"GET /work?wait_ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut buf = [0; 1024];
        let settled = |socket: &std::net::TcpStream, want: usize| {
            let started = Instant::now();
            while wb_sys::hangup::peek(socket).ok() != Some(want) {
                assert!(started.elapsed() < Duration::from_secs(5));
                std::thread::sleep(Duration::from_millis(1));
            }
        };

        let (mut conn, client) = test.accept();
        let mut cx = test.cx(false, false);
        let next = conn.read(&mut buf, &mut cx, arrives(waits));
        assert!(matches!(next, Next::Timer { .. }));
        assert!(matches!(conn.settle(&mut cx), Next::Wait));
        // Readable without a FIN (a stale edge): nothing to do.
        assert!(matches!(
            conn.readable(&mut test.cx(false, false)),
            Next::Wait
        ));
        drop(client);
        settled(&conn.socket, 0);
        let next = conn.readable(&mut test.cx(false, true));
        assert!(
            matches!(next, Next::Close),
            "the FIN of a client that hung up"
        );

        let (mut conn, mut client) = test.accept();
        let mut cx = test.cx(false, false);
        let next = conn.read(&mut buf, &mut cx, arrives(waits));
        assert!(matches!(next, Next::Timer { .. }));
        assert!(matches!(conn.settle(&mut cx), Next::Wait));
        client.write_all(b"GET /hello HTTP/1.1\r\n\r\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        settled(&conn.socket, 1);
        let next = conn.readable(&mut test.cx(false, true));
        assert!(
            matches!(next, Next::Wait),
            "a pipelined request is no hang-up"
        );
        assert_eq!(conn.phase, Phase::Open);
    }

    /// A head trickled a byte per read: after the allowance of small reads the connection
    /// rests — a timer, no reading and out of epoll's set, so the bytes that come meanwhile
    /// wake nothing — then reads again, still under the header deadline it began with.
    #[test]
    fn a_trickled_head_rests_out_of_epoll_and_keeps_its_header_deadline() {
        let test = TestLoop::new();
        let (mut conn, _client) = test.accept();
        let started = conn.deadline;
        let mut buf = [0; 1024];
        let head = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
        let allowance = usize::from(wb_protocol::limits::TRICKLE_READS);
        for byte in head[..allowance].chunks(1) {
            let next = conn.read(&mut buf, &mut test.cx(false, false), arrives(byte));
            assert!(matches!(next, Next::Wait), "read at once");
            assert_eq!(conn.interest(), Some(Interest::READABLE));
        }
        let mut cx = test.cx(false, false);
        let next = conn.read(&mut buf, &mut cx, arrives(&head[allowance..allowance + 1]));
        let Next::Timer { id, .. } = next else {
            panic!("a rest, not a read")
        };
        assert!(conn.resting && !conn.wants_read());
        assert_eq!(conn.interest(), None, "out of epoll's set while resting");
        assert_eq!(conn.deadline, started);
        // The rest ends: reading again, under the same header deadline.
        let next = conn.timer_fired(id, &mut test.cx(false, false));
        assert!(!matches!(next, Next::Close));
        assert!(!conn.resting && conn.wants_read());
        assert_eq!(conn.interest(), Some(Interest::READABLE));
        assert_eq!(
            conn.deadline, started,
            "a rest does not restart the deadline"
        );
    }

    #[test]
    fn a_full_read_reads_again_and_a_short_one_waits() {
        let test = TestLoop::new();
        let (mut conn, _client) = test.accept();
        let mut cx = test.cx(false, false);
        let mut buf = [0; 8];
        // Eight bytes of a head fill the buffer: the kernel may hold more.
        let next = conn.read(&mut buf, &mut cx, arrives(b"GET /hel"));
        assert!(matches!(next, Next::Read));
        let next = conn.read(&mut buf, &mut cx, arrives(b"lo"));
        assert!(
            matches!(next, Next::Wait),
            "a short read drained the socket"
        );
        // With the client's FIN reported, a short read reads on to the EOF.
        let mut cx = test.cx(false, true);
        let next = conn.read(&mut buf, &mut cx, arrives(b" H"));
        assert!(matches!(next, Next::Read));
        assert!(matches!(
            conn.read(&mut buf, &mut cx, |_, _| Ok(0)),
            Next::Close
        ));
    }

    #[test]
    fn a_passed_read_deadline_answers_408_and_a_stuck_queue_is_dropped() {
        let test = TestLoop::new();
        let (mut conn, _client) = test.accept();
        let mut cx = test.cx(false, false);
        let mut buf = [0; 1024];
        let next = conn.read(&mut buf, &mut cx, arrives(b"GET /hel"));
        assert!(matches!(next, Next::Wait), "half a head: wait for the rest");
        let due = conn.expiry(test.timeouts.send).unwrap();
        assert!(matches!(
            conn.deadline_passed(due - Duration::from_millis(1), &mut cx),
            Next::Wait
        ));
        // The header timeout passed mid-request: 408, then close; the client takes nothing.
        assert!(matches!(conn.deadline_passed(due, &mut cx), Next::Write));
        let next = conn.write(&mut cx, |out, _| out.write_to(&mut Full));
        assert!(matches!(next, Next::Wait));
        assert_eq!(conn.phase, Phase::Flushing { linger: true });
        // Now the send timeout runs, from when the 408 was queued.
        let stuck = conn.expiry(test.timeouts.send).unwrap();
        assert!(stuck >= Instant::now() + test.timeouts.send - Duration::from_secs(1));
        assert!(matches!(
            conn.deadline_passed(stuck - Duration::from_millis(1), &mut cx),
            Next::Wait
        ));
        assert!(matches!(conn.deadline_passed(stuck, &mut cx), Next::Close));
    }

    #[test]
    fn a_stopping_server_closes_idle_connections_and_lets_work_finish() {
        let test = TestLoop::new();
        let (mut conn, _client) = test.accept();
        let mut cx = test.cx(false, false);
        let waits = b"GET /work?wait_ms=20 HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut buf = [0; 1024];
        let Next::Timer { id, .. } = conn.read(&mut buf, &mut cx, arrives(waits)) else {
            panic!("a timer");
        };
        let mut cx = test.cx(true, false);
        let (mut idle, _idle_client) = test.accept();
        assert!(
            matches!(idle.stop(&mut cx), Next::Close),
            "idle: closed at once"
        );
        assert!(matches!(conn.stop(&mut cx), Next::Wait), "work in progress");
        assert!(matches!(conn.timer_fired(id, &mut cx), Next::Write));
        let mut sent = Vec::new();
        let next = conn.write(&mut cx, |out, _| out.write_to(&mut sent));
        assert!(
            matches!(next, Next::ShutDown),
            "answered, then closed politely"
        );
        assert!(masked(&sent) == masked(&wb_protocol::respond_all(waits)));
    }
}
