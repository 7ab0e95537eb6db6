//! A PostgreSQL client without I/O: the conversation with the server as a state machine that
//! any loop can drive — the `selector` engine's mio loop and its tokio adapter, and the `uring`
//! engine's io_uring.
//!
//! # Sans-I/O
//!
//! [`PgConnection`] is one connection's conversation (login — trust, cleartext, md5 or
//! SCRAM-SHA-256 —, the one prepared statement, then queries) and nothing else: bytes the
//! socket read go in ([`PgConnection::received`]), events come out ([`Event::Ready`],
//! [`Event::Answered`]) and bytes to send wait in its output buffer
//! ([`PgConnection::pending`], [`PgConnection::written`]). It never touches a socket, never
//! blocks and never looks at a clock, so it does not care *how* its bytes move:
//!
//! - a **readiness** loop (epoll, mio) is told "the socket is readable", reads until
//!   `WouldBlock` and hands the bytes over; it writes `pending()` until the kernel takes no
//!   more, and waits for "writable" to go on;
//! - a **completion** loop (io_uring) has posted a receive into a buffer of its own, and is
//!   told "78 bytes are in your buffer": it hands those over and posts the next receive; it
//!   lends `pending()`'s bytes to a send and is told how many went;
//! - a **task** (tokio) awaits a read and a write, and the runtime does one or the other;
//! - a **unit test** feeds recorded bytes whole, one at a time, or split anywhere, and gets the
//!   same events each way: parsing depends on the bytes, never on how they were cut.
//!
//! This is the split of h11 and of Twisted's `Protocol` and `Transport`, and of the Rust
//! drivers themselves: `postgres-protocol` encodes and decodes the messages (and does the
//! SCRAM arithmetic); this crate decides what to say when. The loops' pools — a fixed set of
//! connections, a FIFO queue of waiting requests with a limit and a timeout, query timeouts,
//! reconnects with back-off — are their engines' (`wb_selector::pg`, `wb_uring`): the
//! settings, the completions and the errors they share are here ([`PoolSettings`],
//! [`Completion`], [`DbError`], [`Refused`], [`PoolStats`]), so that every driver fails the
//! same way.
//!
//! # One query
//!
//! ```
//! use wb_pg::{Config, Event, PgConnection};
//!
//! let config = Config::parse("host=127.0.0.1 port=5432 user=bench dbname=world").unwrap();
//! let mut conn = PgConnection::new(&config);
//! // The client speaks first: the StartupMessage is queued for the socket at once.
//! assert!(!conn.pending().is_empty());
//! let startup = conn.pending().len();
//! conn.written(startup); // the loop sent it, by whatever means
//! let mut events = Vec::new();
//! // AuthenticationOk, then ReadyForQuery: the connection prepares its statement (Parse).
//! conn.received(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0], &mut events).unwrap();
//! conn.received(&[b'Z', 0, 0, 0, 5, b'I'], &mut events).unwrap();
//! assert!(events.is_empty() && !conn.is_ready());
//! // ParseComplete and ReadyForQuery: ready for queries.
//! conn.received(&[b'1', 0, 0, 0, 4, b'Z', 0, 0, 0, 5, b'I'], &mut events).unwrap();
//! assert_eq!(events, [Event::Ready]);
//! ```

mod config;
mod pool;
mod protocol;
#[cfg(feature = "script")]
pub mod script;

use std::fmt;
use std::time::Duration;

pub use config::{Address, Config, ConfigError, DEFAULT_PORT};
pub use pool::{Backoff, Waiting, check_ids, expire, fail_waiting};
pub use protocol::{Event, MAX_IDS, MAX_MESSAGE_BYTES, PgConnection, Row, WORLD_QUERY};

/// How large the pool is and how long things may take.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections to keep (`--db-pool`).
    pub size: usize,
    /// Requests that may wait for a connection; beyond it a pool refuses ([`Refused::Full`]).
    pub queue_limit: usize,
    /// How long a request may wait in the queue before it fails with [`DbError::Timeout`].
    pub queue_timeout: Duration,
    /// How long a connection may take to connect, log in and prepare.
    pub connect_timeout: Duration,
    /// How long a query may go unanswered before its request fails ([`DbError::NoAnswer`])
    /// and its connection is replaced (what the server was doing with it is unknown).
    pub query_timeout: Duration,
    /// The first wait before reconnecting.
    pub backoff_min: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
}

impl PoolSettings {
    /// `size` connections, a queue of 1,024 requests waiting at most 5 s, connects and
    /// queries given 5 s each, reconnects after 50 ms doubling to 2 s.
    pub fn new(size: usize) -> PoolSettings {
        PoolSettings {
            size,
            queue_limit: 1024,
            queue_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
        }
    }
}

/// A request that finished: its key, and its rows or why there are none.
#[derive(Debug)]
pub struct Completion<K> {
    /// The key the request was submitted with.
    pub key: K,
    /// `(id, randomnumber)` for each id found, in the order asked; or the error.
    pub result: Result<Vec<Row>, DbError>,
}

/// Why a pool did not take a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full: answer 503 (Service Unavailable).
    Full {
        /// Requests waiting.
        waiting: usize,
        /// [`PoolSettings::queue_limit`].
        limit: usize,
    },
    /// The pool was closed: the engine is shutting down.
    Closed,
    /// No ids, or more than [`MAX_IDS`]: the engine's bug (the protocol core checks `n`).
    Invalid {
        /// Ids given.
        ids: usize,
        /// [`MAX_IDS`].
        max: usize,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Full { waiting, limit } => write!(
                f,
                "{waiting} requests already wait for a database connection (limit {limit})"
            ),
            Refused::Closed => write!(f, "the database pool is closed"),
            Refused::Invalid { ids, max } => write!(f, "{ids} ids in one request; 1 to {max}"),
        }
    }
}

impl std::error::Error for Refused {}

/// Why a request has no rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// The server's ErrorResponse.
    Server {
        /// ERROR, FATAL, PANIC.
        severity: String,
        /// The SQLSTATE (`42P01`: no such table; `28P01`: wrong password...).
        code: String,
        /// The server's words.
        message: String,
    },
    /// Logging in failed on our side: no password to give, or a method this client lacks.
    Auth(String),
    /// The server said something this client did not expect or could not parse.
    Protocol(String),
    /// The connection was lost or could not be made.
    Lost(String),
    /// No connection is usable; the last reason one could not be made or was lost.
    Unavailable(String),
    /// The request waited in the queue longer than [`PoolSettings::queue_timeout`].
    Timeout {
        /// How long it waited.
        waited: Duration,
    },
    /// The query went unanswered for [`PoolSettings::query_timeout`]; its connection was
    /// closed.
    NoAnswer {
        /// How long it waited for the answer.
        after: Duration,
    },
    /// The request itself is malformed (no ids, too many).
    Request(String),
    /// The pool was closed.
    Closed,
}

impl DbError {
    /// Whether the server ends the session with this error (FATAL, PANIC).
    pub fn is_fatal(&self) -> bool {
        matches!(self, DbError::Server { severity, .. } if severity == "FATAL" || severity == "PANIC")
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Server {
                severity,
                code,
                message,
            } => write!(f, "database {severity} {code}: {message}"),
            DbError::Auth(message) => write!(f, "database login: {message}"),
            DbError::Protocol(message) => write!(f, "database protocol: {message}"),
            DbError::Lost(message) => write!(f, "database connection: {message}"),
            DbError::Unavailable(message) => write!(f, "database unavailable: {message}"),
            DbError::Timeout { waited } => {
                write!(f, "no database connection free after {waited:?}")
            }
            DbError::NoAnswer { after } => write!(f, "no answer from the database in {after:?}"),
            DbError::Request(message) => write!(f, "database request: {message}"),
            DbError::Closed => write!(f, "the database pool is closed"),
        }
    }
}

impl std::error::Error for DbError {}

/// What the pool is doing, for the engine's stored facts and the lesson's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections the pool keeps ([`PoolSettings::size`]).
    pub size: usize,
    /// Connections logged in and prepared.
    pub ready: usize,
    /// Connections with a request in flight.
    pub busy: usize,
    /// Requests waiting in the queue now.
    pub waiting: usize,
    /// The longest the queue has been.
    pub most_waiting: usize,
    /// Requests refused because the queue was full.
    pub refused: u64,
}
