//! One thread, one io_uring: the event loop again, but built on **completion** instead of
//! **readiness** — the model of Windows' IOCP, behind Twisted's `iocpreactor` and asyncio's
//! `ProactorEventLoop`, and of Linux's io_uring since 5.1.
//!
//! # Readiness or completion
//!
//! A readiness loop (the `selector` engine, epoll, kqueue) asks the kernel **"tell me when I
//! may read"**. `epoll_wait` answers with the sockets that have bytes waiting, and the loop then
//! makes the calls itself: a `recv` per ready socket into its own buffer, a `writev` per
//! answer, an `epoll_ctl` whenever what it waits for changes. The kernel reports; the program
//! does the I/O. A keep-alive `GET /hello` costs an `epoll_wait` (shared with every socket
//! that became ready at the same time), a `recv` and a `writev`: two system calls per
//! request, and the share of a third.
//!
//! A completion loop says **"read this, and tell me when it is done"**. It writes requests
//! for operations — receive on this socket, send these bytes, wake me in 100 ms — into a
//! submission queue shared with the kernel, and the kernel writes their results into a
//! completion queue: "received 78 bytes into buffer 5", "sent 131 bytes". One
//! `io_uring_enter` both hands over every operation queued since the last one and waits for
//! the next completions. The kernel does the I/O; the program reads results. Under load, one
//! `io_uring_enter` serves many requests; the system calls per request fall below one.
//!
//! The price is on the other side of the contract. A readiness loop lends the kernel nothing:
//! its one buffer is its own until it calls `recv`. A completion loop lends memory for as
//! long as an operation is in flight: a receive posted on an idle connection needs somewhere
//! to put the bytes when they come. IOCP and the first io_uring programs gave each posted
//! receive its own buffer, so 10,000 idle connections held 10,000 buffers. **Provided
//! buffers** fix that: the loop hands the kernel one pool of buffers (a ring of them, shared
//! memory again), and a receive takes one from the pool only when its bytes arrive; the loop
//! gives it back as soon as the protocol core has copied what it needs. An idle connection
//! then holds no buffer at all — in this process. In the kernel, its posted receive and the
//! timeout linked to it are two requests (a few hundred bytes of kernel memory that the
//! process's PSS does not show, beside the socket buffers every model pays).
//!
//! # How one request flows through the ring
//!
//! 1. **Accept.** An accept is posted on the listener; its completion carries the new
//!    connection's descriptor, and the loop posts the next accept with the operations of that
//!    turn. (A **multishot accept**, posted once and completing for every connection, would
//!    save those submissions, but the kernel reads the open-files limit when it prepares an
//!    accept, so a multishot one keeps accepting past a limit lowered later: see
//!    `MULTISHOT_ACCEPT` in the `reactor` module.)
//! 2. **Receive.** For a connection that needs bytes the loop posts a `recv` that selects its
//!    buffer from the provided-buffer ring, **linked** to a timeout (`IORING_OP_LINK_TIMEOUT`):
//!    the header timeout while a request is under way, the keep-alive timeout while idle. If
//!    the timeout fires first the kernel cancels the receive: a half-sent request gets its
//!    `408`, an idle connection is closed.
//! 3. **Session.** The completion names the buffer; its bytes go to the same sans-I/O core as
//!    in every engine ([`wb_protocol::Session`]), and the buffer goes back to the ring.
//! 4. **Wait.** A job that waits W ms (`/work?wait_ms=W`, the "database" as a timer) posts an
//!    `IORING_OP_TIMEOUT` of W ms; `/db` and `/queries` join the database pool's queue (next
//!    section) and wait for their rows. Beside either wait goes a poll for the client's hang-up
//!    (`POLLRDHUP`): a client that leaves while its request waits frees the connection at once,
//!    as in every engine; pipelined bytes behind the wait are no hang-up (a peek tells).
//! 5. **Perform and send.** The job's CPU rounds run on the loop thread (one CPU-heavy request
//!    stalls everyone, as in the selector); its response is sent by a `writev` operation from
//!    the protocol's own slices (head, then 64 KiB chunks of the body), linked to the send
//!    timeout. A short send posts the rest.
//! 6. **Next.** The session says `NeedData`: back to 2.
//!
//! Nothing is ever read while a job is in progress (the contract every engine keeps): a
//! receive is posted only when the session asks for bytes, one at a time per connection,
//! so a connection's input waits in the kernel, bounded by its socket buffer. (A multishot
//! receive, `RecvMulti`, posted once and completing for every arrival, would save the
//! re-posting; but it goes on receiving while a request waits or computes, so a client that
//! pipelines could pile its input into the session without bound.)
//!
//! # The database: a PostgreSQL client on the ring
//!
//! `/db` and `/queries` read PostgreSQL through a fixed pool of `--db-pool` connections whose
//! I/O is on the same ring as the HTTP connections' (`database` module). The conversation
//! itself — login, the prepared statement, one Bind and Execute per id and one Sync per
//! request — is [`wb_pg::PgConnection`], the state machine without I/O that the selector's
//! mio pool drives too; so is the pool's behaviour: a FIFO queue with a limit and a timeout,
//! a query timeout, reconnects with back-off, the same `503`s when it fails. What differs is
//! how the bytes move, and it is the readiness/completion contrast again, from the client's
//! side:
//!
//! - **The receive is posted before there is anything to read.** The selector's pool waits
//!   for "readable", then calls `read` until `EAGAIN` says the socket is drained (mio is
//!   edge-triggered: stopping early loses the wake-up). Here each connection always has one
//!   receive in the kernel; its completion says "n bytes are in your buffer", the bytes go to
//!   the conversation, and the next receive is posted. There is no `EAGAIN` loop: a receive
//!   with nothing to return just has not completed.
//! - **The buffer is the kernel's until the completion.** A `read` borrows its buffer for
//!   the length of a call; a posted receive borrows it until its completion, whenever that
//!   is. So each database connection owns its receive buffer ([`RECV_BYTES`]), boxed so that
//!   it never moves, and a connection that is given up is freed only after the cancellation
//!   of its receive has completed: freeing it sooner would let the kernel write into memory
//!   that is someone else's. (The HTTP connections share the provided buffers instead,
//!   because ten thousand of them may sit idle; the pool's few connections are never idle
//!   for long.)
//! - **A send lends its bytes too.** The selector writes what the conversation queued and
//!   keeps the rest for the next "writable". Here the queued bytes are taken out of the
//!   conversation into a buffer lent to one send; nothing touches it until the completion
//!   says how many went (a short send posts the rest), and what the conversation queues
//!   meanwhile goes with the next send.
//! - **Time is an operation.** Connect, query and queue timeouts and the reconnect back-off
//!   are one `IORING_OP_TIMEOUT` for the pool, posted for whichever is due first; the loop
//!   still has no timer heap and no timeout on `io_uring_enter`.
//!
//! A query therefore costs no system call of its own: the send of its Bind/Execute/Sync
//! batch and the receive of its rows ride on the `io_uring_enter` the loop makes anyway.
//!
//! # What it costs
//!
//! - **Memory:** per connection, one slot of a slab (the descriptor, the session, the
//!   deadline, a few counters; `--describe` says how many bytes) and nothing on the heap while
//!   idle; one pool of [`BUFFERS`] buffers of [`BUFFER_BYTES`] for all receives; an answer in
//!   progress is boxed with its two `iovec`s, which the kernel reads until the send completes.
//!   With `--db-url`, each of the `--db-pool` database connections holds a receive buffer of
//!   [`RECV_BYTES`] (always lent to the kernel) and its conversation's buffers; a request
//!   waiting in the pool's queue costs a queue entry.
//! - **Threads:** one. No locks.
//! - **System calls:** `io_uring_enter`, once per turn of the loop, however many operations
//!   it submits and completions it reaps; a `shutdown` and a `close` per closed connection,
//!   made directly. The engine counts them ([`wb_sys::syscalls`]), as the selector counts its
//!   `epoll_wait`, `recv`, `writev` and `epoll_ctl`.
//!
//! # Where it runs
//!
//! io_uring may be missing (old kernels), switched off (`kernel.io_uring_disabled`) or
//! filtered (a container's seccomp profile). `workbench engine uring` then says so in one
//! line and exits; a run records its steps as "not supported here" ([`wb_sys::uring`]).
//!
//! # Implementation
//!
//! The `io-uring` crate (tokio-rs/io-uring) builds the submission entries and maps the rings;
//! everything else is here: the loop and the connections (`reactor`), the provided-buffer
//! ring (`buffers`), the database pool (`database`, driving `wb-pg`'s conversation). Stops as
//! the contract says: on SIGINT or SIGTERM (a signal-hook pipe read by a ring operation) the
//! accept is cancelled and the listener closed, idle connections close at once, work in
//! progress (a query included) finishes within [`wb_sys::DRAIN_TIMEOUT`]; then each database
//! connection says Terminate, its posted receive is cancelled, and the loop waits for the
//! cancellations before the buffers go.
//!
//! # Try it
//!
//! ```text
//! cargo run --release -- engine uring --listen 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/hello
//! curl -i 'http://127.0.0.1:8080/work?wait_ms=100&cpu_rounds=1000&bytes=64'
//! # With a database (`workbench db up` starts one and prints its --db-url):
//! cargo run --release -- engine uring --listen 127.0.0.1:8080 --db-url "$(workbench db up)"
//! curl -i 'http://127.0.0.1:8080/queries?n=20'
//! ```

mod buffers;
mod database;
mod reactor;

pub use buffers::{BUFFER_BYTES, BUFFERS};
pub use database::RECV_BYTES;

/// Engine configuration, filled from `workbench engine uring` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// The contract's timeouts (`--header-timeout`, `--keepalive-timeout`, `--send-timeout`).
    #[command(flatten)]
    pub timeouts: wb_sys::Timeouts,

    /// The database of `/db` and `/queries` (`--db-url`).
    #[command(flatten)]
    pub database: wb_sys::database::DatabaseUrl,

    /// How many database connections the ring keeps (`--db-pool`).
    #[command(flatten)]
    pub db_pool: wb_sys::database::DatabasePool,
}

/// Serves `listener` until SIGINT or SIGTERM, on this thread, with one io_uring.
pub fn serve(listener: std::net::TcpListener, config: &Config) -> std::io::Result<()> {
    wb_sys::signals::spawn_stop_watchdog()?;
    reactor::Reactor::new(listener, config.timeouts, database(config)?)?.run()
}

/// The database pool's address and settings (`--db-url`, `--db-pool`), or `None` without a
/// database: then `/db` and `/queries` answer 503 and say to give `--db-url`.
fn database(config: &Config) -> std::io::Result<Option<(wb_pg::Config, wb_pg::PoolSettings)>> {
    let Some(url) = &config.database.url else {
        return Ok(None);
    };
    let parsed = wb_pg::Config::parse(url).map_err(|err| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("--db-url {url:?}: {err}"),
        )
    })?;
    Ok(Some((
        parsed,
        wb_pg::PoolSettings::new(config.db_pool.size as usize),
    )))
}

/// Whether io_uring can be used here: `Err` is one line saying why not
/// ([`wb_sys::uring::available`]).
pub fn available() -> Result<(), String> {
    wb_sys::uring::available()
}

/// What one connection holds: its slot in the loop's slab, and what a fresh session holds on
/// the heap (nothing).
pub fn describe(_config: &Config) -> std::io::Result<wb_sys::describe::PerConnection> {
    Ok(wb_sys::describe::PerConnection {
        protocol_bytes: Some(reactor::connection_bytes()),
        ..Default::default()
    })
}

/// For the tests that need a ring: whether io_uring cannot run here. Then the test says why
/// and passes as skipped, except under `CI=true`, where CI runs every engine and the test
/// fails.
#[cfg(test)]
pub(crate) fn ring_unavailable() -> bool {
    let Err(why) = wb_sys::uring::available() else {
        return false;
    };
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{why}: CI runs every engine"
    );
    eprintln!("skipped: {why}");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let parse = |args: &[&str]| wb_sys::parse_flags::<Config>("uring", args);
        assert_eq!(parse(&[]).unwrap().timeouts, wb_sys::Timeouts::default());
        assert!(parse(&["--header-timeout", "0"]).is_err());
        assert!(parse(&["--offload"]).is_err(), "nothing is offloaded here");
        assert_eq!(parse(&["--db-pool", "3"]).unwrap().db_pool.size, 3);
        assert!(parse(&["--db-pool", "0"]).is_err());
    }

    #[test]
    fn a_database_url_is_read_once_and_a_bad_one_is_named() {
        let parse = |args: &[&str]| wb_sys::parse_flags::<Config>("uring", args).unwrap();
        let config = parse(&[
            "--db-url",
            "host=127.0.0.1 port=5433 user=u",
            "--db-pool",
            "2",
        ]);
        let (pg, settings) = database(&config).unwrap().unwrap();
        assert_eq!(
            pg.address,
            wb_pg::Address::Tcp("127.0.0.1:5433".parse().unwrap())
        );
        assert_eq!(settings.size, 2);
        let bad = parse(&["--db-url", "host=127.0.0.1 sslmode=require"]);
        let err = database(&bad).unwrap_err().to_string();
        assert!(err.starts_with("--db-url \"host=127.0.0.1"), "{err}");
    }

    #[test]
    fn an_idle_connection_is_small() {
        // A slab slot, not a buffer: the buffers are the ring's, lent only while bytes arrive.
        assert!(
            reactor::connection_bytes() <= 256,
            "{}",
            reactor::connection_bytes()
        );
    }
}
