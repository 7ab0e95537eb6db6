//! Twisted's vocabulary, in Rust: a [`Protocol`] reacts to events, a [`Transport`] moves its
//! bytes, a [`Factory`] builds one protocol per connection.
//!
//! The split is the point of the model. A protocol never touches a socket and never blocks: it
//! is a state machine the loop calls into when something happened (bytes arrived, a timer
//! fired, deferred work finished, the connection went away), and it answers by calling the
//! transport, whose every method returns at once. The loop owns the sockets and does the
//! waiting, for every connection at once.
//!
//! The names follow `twisted.internet.interfaces` (`IProtocol`, `ITransport`,
//! `IProtocolFactory`), in snake case. Two of Twisted's reactor services, `callLater` and
//! `deferToThread`, are reached through the transport here, so a protocol needs one handle
//! instead of a global reactor.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use wb_protocol::Response;

/// CPU work handed to [`Transport::defer_to_thread`]: it runs on a pool thread and its result
/// (the bytes to send) comes back to [`Protocol::deferred_result`] on the loop thread.
pub type Work = Box<dyn FnOnce() -> Response + Send>;

/// What [`Protocol::rows_received`] gets: the `World` rows asked for with
/// [`Transport::query_world`], in the order asked, or why there are none (the reason a `503`
/// gives).
pub type Rows = Result<Vec<wb_protocol::world::WorldRow>, &'static str>;

/// Why a connection ended, as passed to [`Protocol::connection_lost`].
#[derive(Debug)]
pub enum Reason {
    /// Closed cleanly: after [`Transport::lose_connection`], or because the peer closed its end
    /// (Twisted's `ConnectionDone`).
    Done,
    /// Closed by an error: reset by the peer, broken pipe... (Twisted's `ConnectionLost`).
    Lost(io::Error),
    /// The server is shutting down (SIGINT or SIGTERM).
    Shutdown,
}

/// How a protocol talks back to the loop. Every method returns at once: nothing here blocks.
pub trait Transport {
    /// Queues `data` to be sent and returns at once. The loop writes it when the socket can
    /// take it, so a protocol may write a 64 MiB response to a slow client without blocking
    /// anyone — and without holding 64 MiB: a [`Response`] body is streamed from the core's
    /// static pattern, 64 KiB per write at most. Data written after
    /// [`lose_connection`](Self::lose_connection) is dropped.
    fn write(&mut self, data: Response);

    /// Closes the connection once everything queued has been written (Twisted's
    /// `loseConnection`). The loop then does a lingering close: `shutdown(Write)`, discard
    /// input until EOF or a timeout, close.
    fn lose_connection(&mut self);

    /// Stops delivering [`Protocol::data_received`]: the loop stops reading this socket and
    /// unread bytes stay in the kernel (Twisted's `transport.pauseProducing()`).
    fn pause_reading(&mut self);

    /// Delivers [`Protocol::data_received`] again. Reading is on when a connection is made.
    fn resume_reading(&mut self);

    /// Neither reads nor listens to the socket for `rest`, then calls
    /// [`Protocol::timer_fired`] (which resumes reading): for a request that trickles in a
    /// byte per segment ([`wb_protocol::Session::read_pause`]), whose bytes pile up in the
    /// kernel meanwhile and are then taken in one read. Unlike
    /// [`pause_reading`](Self::pause_reading), the loop is not woken by what arrives while it
    /// rests (not even to look for a hang-up); the connection's header deadline keeps running.
    /// Like [`call_later`](Self::call_later), it replaces a pending timer.
    fn rest_reading(&mut self, rest: Duration);

    /// Calls [`Protocol::timer_fired`] after `delay` (Twisted's `reactor.callLater`). A
    /// connection has at most one pending call: a new one replaces the previous one.
    fn call_later(&mut self, delay: Duration);

    /// Whether the write queue is above its high-water mark (and has not drained to the
    /// low-water mark since): a protocol should produce no more output until
    /// [`Protocol::resume_producing`]. While this is true the loop does not read either.
    ///
    /// Twisted and asyncio tell the protocol re-entrantly, from inside `write`
    /// (`pauseProducing`, `pause_writing`); a Rust protocol cannot be called while it is
    /// already borrowed by its own callback, so it asks instead.
    fn producing_paused(&self) -> bool;

    /// Runs `work` on the thread pool and hands its result to [`Protocol::deferred_result`]
    /// (Twisted's `deferToThread`). Like [`call_later`](Self::call_later), one at a time per
    /// connection, and it replaces a pending timer.
    fn defer_to_thread(&mut self, work: Work);

    /// Asks the loop's database pool for these `World` rows and hands them to
    /// [`Protocol::rows_received`] (txpostgres' `runQuery`, returning a Deferred). The query
    /// waits in the pool's queue for a free connection, runs there while the loop serves
    /// everyone else, and comes back as an event. Like [`call_later`](Self::call_later), one
    /// at a time per connection, and it replaces a pending timer.
    fn query_world(&mut self, ids: Vec<i32>);
}

/// What one connection does with its bytes. The loop calls these methods, always on the loop
/// thread, one at a time; none of them may block.
pub trait Protocol {
    /// The connection is open and reading (Twisted's `connectionMade`).
    fn connection_made(&mut self, transport: &mut dyn Transport) {
        let _ = transport;
    }

    /// Bytes arrived (Twisted's `dataReceived`). `data` is a slice of the loop's one shared
    /// read buffer: keep what you need, the slice is reused as soon as this returns.
    fn data_received(&mut self, data: &[u8], transport: &mut dyn Transport);

    /// The connection is closed; the protocol is dropped right after (`connectionLost`).
    fn connection_lost(&mut self, reason: Reason) {
        let _ = reason;
    }

    /// The delay asked for with [`Transport::call_later`] has passed.
    fn timer_fired(&mut self, transport: &mut dyn Transport) {
        let _ = transport;
    }

    /// The work given to [`Transport::defer_to_thread`] has finished with `result`.
    fn deferred_result(&mut self, result: Response, transport: &mut dyn Transport) {
        let _ = (result, transport);
    }

    /// The rows asked for with [`Transport::query_world`] arrived (or the query failed).
    fn rows_received(&mut self, rows: Rows, transport: &mut dyn Transport) {
        let _ = (rows, transport);
    }

    /// The write queue, once above its high-water mark, drained to the low-water mark:
    /// producing may go on (Twisted's `IPushProducer.resumeProducing`, asyncio's
    /// `resume_writing`). See [`Transport::producing_paused`].
    fn resume_producing(&mut self, transport: &mut dyn Transport) {
        let _ = transport;
    }

    /// The connection's read deadline passed while it waited for bytes (`--header-timeout` in
    /// the middle of a request, `--keepalive-timeout` between requests). By default, close.
    fn timed_out(&mut self, transport: &mut dyn Transport) {
        transport.lose_connection();
    }
}

/// Builds a [`Protocol`] for each accepted connection (Twisted's `Factory.buildProtocol`).
/// The factory is where state shared by all connections of a server lives.
pub trait Factory {
    /// The protocol this factory builds.
    type Protocol: Protocol;

    /// A protocol for a new connection from `peer`.
    fn build_protocol(&mut self, peer: SocketAddr) -> Self::Protocol;
}
