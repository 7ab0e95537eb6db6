//! The selector's PostgreSQL client: non-blocking, on the engine's own mio loop (or on tokio's,
//! under `--reactor tokio`), in Twisted's Protocol/Transport style (as txpostgres is for
//! Twisted), with a fixed set of connections and a queue of waiting requests.
//!
//! # Why not a driver from crates.io
//!
//! A blocking driver (`postgres`) would stop the one loop thread for every round trip: ten
//! thousand HTTP connections would wait on one query at a time. An async driver
//! (`tokio-postgres`) needs tokio's reactor, and this engine's point is its own. So the loop
//! gets its own client — as Twisted has txpostgres and asyncio has asyncpg — built on the
//! sans-I/O half of the Rust drivers: `postgres-protocol` encodes and decodes the messages
//! (and does the SCRAM arithmetic); [`PgConnection`] (from `wb-pg`) decides only what to say
//! when, and this module moves the bytes.
//!
//! # How a query flows
//!
//! 1. **Submit.** The HTTP protocol wants rows for `GET /queries?n=20`. The engine calls
//!    [`Pool::submit`]`(key, ids)`, where `key` names the HTTP connection (say its slab key
//!    and request id). The request joins the back of a FIFO queue — or, if the queue holds
//!    [`PoolSettings::queue_limit`] requests already, is [`Refused`] at once, and the engine
//!    answers 503: a queue without bound turns overload into latency without bound.
//! 2. **Dispatch.** If one of the pool's connections is idle, the oldest request leaves the
//!    queue for it. Its [`PgConnection`] (the *protocol*: a state machine, no I/O) encodes
//!    one Bind + Execute per id and one Sync behind them, into its output buffer — the
//!    statement was prepared once per connection (Parse) when it logged in, so each id costs
//!    the server no parsing or planning. The pool (the *transport*) writes the buffer to the
//!    socket at once; whatever the kernel does not take waits for a writable event. Twenty ids
//!    are one write and one round trip (pipelining), not twenty.
//! 3. **Wait.** The loop goes back to `epoll_wait` and serves other sockets; the HTTP
//!    connection waits, holding only its slot, as it waits on a timer for `db-wait`.
//! 4. **Answer.** The database socket becomes readable; the loop calls [`Pool::on_ready`]. The
//!    pool reads until `WouldBlock` and feeds the bytes, in whatever pieces they came, to
//!    [`PgConnection::received`], which parses whole messages (BindComplete, DataRow,
//!    CommandComplete... ReadyForQuery) and, at ReadyForQuery, reports the request answered.
//!    `on_ready` returns a [`Completion`]: the key and the rows (or a typed [`DbError`]).
//! 5. **Next.** The connection is idle again, and the oldest waiting request (if any) is
//!    dispatched to it before `on_ready` returns. The engine hands the rows to the HTTP
//!    protocol, which writes its JSON.
//!
//! # Why a fixed pool and a queue
//!
//! A PostgreSQL connection is a server process (some megabytes, a fork at login, a share of
//! `max_connections`), so clients keep a few and share them — the lesson this client is for:
//! the database's connections are the real pool. One loop with 10,000 HTTP connections and a
//! pool of 10 runs at most 10 queries at once, exactly as 10 worker threads would; what the
//! loop saves is the waiting *requests*, which cost a queue entry each instead of a thread.
//! The queue is FIFO (fair: no request waits behind later ones), bounded in length (refused
//! beyond [`PoolSettings::queue_limit`]) and in time (failed after
//! [`PoolSettings::queue_timeout`]). A connection runs one request at a time, so a request's
//! latency is its wait in the queue plus one round trip: [`PoolStats`] shows the queue.
//!
//! # Failures
//!
//! An ErrorResponse for a query fails that request only ([`DbError::Server`]): the server
//! skips to the Sync and the connection stays usable. A lost connection fails its request in
//! flight ([`DbError::Lost`]) and reconnects after a back-off ([`PoolSettings::backoff_min`],
//! doubling up to [`PoolSettings::backoff_max`] while attempts fail, from the shortest again
//! once a connection logs in). A query unanswered for [`PoolSettings::query_timeout`] fails
//! ([`DbError::NoAnswer`]) and its connection is replaced. While no connection is usable, waiting requests fail at once
//! with the reason ([`DbError::Unavailable`]) instead of waiting for a timeout.
//!
//! # Driving it from the mio reactor
//!
//! The pool registers its sockets on the loop's `Registry` with tokens
//! `first_token..first_token + size` ([`FIRST_TOKEN`] is far from both the slab keys and the
//! loop's own tokens). The reactor:
//!
//! - routes events whose token [`Pool::owns`] to [`Pool::on_ready`]`(token,
//!   Readiness::from(event))`, before its catch-all for connection tokens;
//! - sleeps no longer than [`Pool::next_deadline`] and calls [`Pool::tick`] after every
//!   wake-up (it is cheap when nothing is due: reconnects, connect and queue timeouts);
//! - delivers each [`Completion`] to the connection its key names (a stale key — the HTTP
//!   client left while its request waited — is dropped, as a stale timer is);
//! - on shutdown, calls [`Pool::close`] and drops what it returns, or lets the requests in
//!   flight finish first.
//!
//! ```no_run
//! use std::time::Instant;
//! use mio::{Events, Poll};
//! use wb_selector::pg::{Config, FIRST_TOKEN, Pool, PoolSettings, Readiness};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut poll = Poll::new()?;
//! let config = Config::parse("postgresql://bench@127.0.0.1:5432/world")?;
//! let mut pool: Pool<usize> =
//!     Pool::new(config, PoolSettings::new(10), poll.registry(), FIRST_TOKEN)?;
//! pool.submit(7, vec![42])?; // 7: the key of the HTTP connection that asked
//! let mut events = Events::with_capacity(1024);
//! loop {
//!     let timeout = pool.next_deadline().map(|at| at.saturating_duration_since(Instant::now()));
//!     poll.poll(&mut events, timeout)?;
//!     let mut done = Vec::new();
//!     for event in events.iter() {
//!         if pool.owns(event.token()) {
//!             done.extend(pool.on_ready(event.token(), Readiness::from(event)));
//!         } // else: the listener, an HTTP connection, the waker...
//!     }
//!     done.extend(pool.tick(Instant::now()));
//!     if let Some(completion) = done.pop() {
//!         assert_eq!(completion.key, 7);
//!         println!("{:?}", completion.result?); // [(42, randomnumber)]
//!         return Ok(());
//!     }
//! }
//! # }
//! ```
//!
//! # Driving it from another loop
//!
//! [`PgConnection`] knows nothing of mio, so the tokio adapter (`--reactor tokio`) drives it
//! with [`TokioPool`]: one task per connection on the current-thread runtime reads from a
//! `tokio::net::TcpStream` (or `UnixStream`) into [`PgConnection::received`], writes
//! [`PgConnection::pending`], and takes requests from a queue the tasks share (a
//! `RefCell<VecDeque>` and a `tokio::sync::Notify`), answering each through a `oneshot`
//! channel. The settings, the queue's bounds and the failures are [`Pool`]'s; only the
//! waiting is tokio's. Only [`Pool`] is mio's.
//!
//! The conversation ([`PgConnection`], [`Config`], the settings, completions and errors) lives
//! in the `wb-pg` crate, re-exported here, because a third driver shares it: the uring
//! engine's pool, whose connects, sends and receives are io_uring operations on that engine's
//! ring (completions instead of readiness; `wb_uring`'s crate doc tells the difference).

pub mod on_tokio;
mod pool;

#[cfg(test)]
mod tests;

pub use on_tokio::{Answer, TokioPool};
pub use pool::Pool;
// The sans-I/O half lives in `wb-pg`, shared with the uring engine's driver.
pub use wb_pg::{
    Address, Completion, Config, ConfigError, DEFAULT_PORT, DbError, Event, MAX_IDS,
    MAX_MESSAGE_BYTES, PgConnection, PoolSettings, PoolStats, Refused, Row, WORLD_QUERY,
};

/// A suggested first token for the pool: far above any slab key (descriptors are limited to
/// 20,000 per process) and far below the loop's own tokens at `usize::MAX - n`.
pub const FIRST_TOKEN: usize = 1 << 32;

/// What the loop saw on one of the pool's sockets (mio's event, without mio).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Bytes to read.
    pub readable: bool,
    /// Room to write (or a connect finished).
    pub writable: bool,
    /// The peer closed its end.
    pub read_closed: bool,
    /// An error is pending on the socket.
    pub error: bool,
}

impl From<&mio::event::Event> for Readiness {
    fn from(event: &mio::event::Event) -> Readiness {
        Readiness {
            readable: event.is_readable(),
            writable: event.is_writable() || event.is_write_closed(),
            read_closed: event.is_read_closed(),
            error: event.is_error(),
        }
    }
}
