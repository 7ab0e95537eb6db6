//! One thread, one `mio::Poll` (epoll), every connection: the event-loop model of Twisted,
//! asyncio, nginx and Node, with Twisted's vocabulary.
//!
//! # How one request flows through the loop
//!
//! 1. **Accept.** A client connects; epoll reports the listener readable. The loop accepts
//!    until `WouldBlock`, registers each new socket for `READABLE` and asks the [`Factory`]
//!    for a [`Protocol`] ([`HttpProtocol`]), which learns of it in `connection_made`.
//! 2. **Readiness, then read.** The request's bytes arrive; `epoll_wait` returns the socket's
//!    token. The loop reads into its **one shared 64 KiB buffer** until `WouldBlock` or a
//!    short read, and hands each slice to `data_received`.
//! 3. **Session.** The protocol feeds the bytes to [`wb_protocol::Session`], which hands out a
//!    `Job`. The protocol stops reading (the contract: never read while a job is in progress)
//!    and, for a job that waits W ms, calls `call_later(W)`: a **timer** in the loop's heap.
//!    The socket leaves the epoll set; the loop sleeps with the earliest deadline as
//!    `epoll_wait`'s timeout, serving other sockets meanwhile.
//! 4. **Perform.** The timer fires; `timer_fired` calls `job.perform()` — the CPU rounds, **on
//!    the loop thread** — and `transport.write(bytes)`, which only queues them.
//! 5. **Write, writable, flush.** When the callback returns, the loop writes the queue at once
//!    (`writev`; most responses leave right here). What the kernel's send buffer cannot take
//!    waits: the socket is registered for `WRITABLE`, and each writable event writes more.
//! 6. **Next.** The session says `NeedData`; the protocol resumes reading, the socket is
//!    registered for `READABLE` again, and the connection idles — holding no buffer at all.
//!
//! A blocking engine writes steps 2–6 as one straight loop per thread. Here that loop is cut
//! wherever it would block, and the pieces are callbacks: the state a thread keeps on its
//! stack lives in [`HttpProtocol`]'s few fields instead.
//!
//! # What it costs
//!
//! - **Memory:** per connection, one slot in a slab — 128 bytes on x86-64, bounded by a unit
//!   test; `cargo run --release --example footprint` measures 115 bytes of PSS per idle
//!   connection at 19,000 of them, against about 480 for nginx — and nothing on the heap
//!   while idle: the session frees its buffer once its bytes are consumed, the write queue
//!   is one null pointer until something is queued, and no timer is kept per connection
//!   (below). The kernel adds its socket buffers and an epoll entry, as in every model. One
//!   64 KiB read buffer in all.
//! - **Threads:** one (plus the `--offload` pool). No locks, no context switches between
//!   connections.
//! - **System calls:** one `epoll_wait` serves every socket that became ready; a keep-alive
//!   `GET /hello` then costs a `read` and a `writev`, as in nginx (edge-triggered epoll must
//!   be drained, but a read shorter than the buffer has drained it: see the `reactor`
//!   module). A request that waits adds two `epoll_ctl` calls (leave the epoll set, join it
//!   again).
//!
//! # When it shines, when it breaks
//!
//! It shines when connections mostly wait — on a "database" timer, on slow clients, idle
//! between keep-alive requests: ten thousand of them cost ten thousand small structs and one
//! thread, and writes to slow readers queue up without blocking anyone (64 MiB responses
//! included, paced by backpressure).
//!
//! It breaks on CPU. Everything runs on one thread, so a request with a million CPU rounds
//! stalls **every** connection until it is done: concurrency is not parallelism. `--offload`
//! moves the rounds to a rayon pool (Twisted's `deferToThread`) and brings the result back
//! through a channel and a `mio::Waker`, so the loop keeps serving; but then the CPU work
//! runs on threads after all, and it is only as parallel as the pool. Any callback that
//! blocks (a blocking system call, a lock) stalls the loop the same way. And a signal cannot
//! interrupt an inline computation: shutdown waits for it to end.
//!
//! Fairness is by turns, not by time: one connection is served at most
//! [`MAX_REQUESTS_PER_TURN`](http::MAX_REQUESTS_PER_TURN) pipelined requests per turn of the
//! loop, then it yields (a zero-delay `call_later`) and every other ready socket gets its
//! turn first — as nginx and Twisted bound one connection's share of a loop iteration. A turn
//! is counted in requests, not time: one CPU-heavy request inline still stalls everyone. It
//! uses one core, whatever the machine has.
//!
//! # A loop per core
//!
//! `--loops N` runs N of these loops, each on its own thread with its own listener bound to
//! the same port with `SO_REUSEPORT`: the kernel hashes each new connection (its addresses and
//! ports) to one listener, and the connection stays with that loop for its life. The loops
//! share nothing — no lock, no queue, no connection — so each is the one-thread loop above,
//! and together they use N cores: nginx's worker per core, gunicorn with uvicorn workers,
//! Node's cluster. The price is balance: the hash does not look at how busy a loop is, so with
//! few connections one loop may get most of them. The lesson "Concurrency and parallelism
//! together" measures it against one loop and against threads.
//!
//! Timeouts (the contract's, [`wb_sys::timeouts`]) are kept as one deadline per connection and
//! swept: when the earliest deadline is due (at most four times a second) the loop walks its
//! connections and times out those whose deadline has passed (the read deadline while it reads, the last write progress plus
//! `--send-timeout` while it has bytes queued), as Redis's `clientsCron` checks its clients'
//! idle time. A timer entry per connection would cost every idle connection 48 bytes in the
//! heap, more than a third of all it costs; the walk costs some 30 ns per connection
//! per sweep (with 19,000 idle connections: 0.6 % of a core when it swept ten times a
//! second, under one 10 ms tick of CPU in 5 s at four), and a
//! timeout fires within a quarter of a second of its due time. The walk finds the earliest
//! deadline left and the loop sleeps until then, so connections whose deadlines are seconds
//! away do not wake it (a slowloris rested between its reads costs one wake-up per rest, not
//! four more a second). A busy
//! keep-alive connection only moves its deadline, no system call and no heap. A partial head
//! left over from a pipelined burst waits under the keep-alive timeout until its next byte
//! arrives, then under the header timeout.
//!
//! # Implementation
//!
//! - [`interfaces`]: the [`Protocol`], [`Transport`] and [`Factory`] traits (Twisted's
//!   `IProtocol`, `ITransport`, `IProtocolFactory`), with `call_later` and `defer_to_thread`.
//! - [`http`]: [`HttpProtocol`], the workbench's HTTP server written against those traits.
//! - [`memory`]: [`MemoryTransport`], Twisted's `StringTransport`, which tests protocols
//!   without sockets or clocks.
//! - [`write_queue`]: what `write` queues, and the backpressure marks ([`HIGH_WATER`] 64 KiB,
//!   [`LOW_WATER`] 16 KiB, asyncio's defaults): above the high mark the connection stops
//!   reading and its protocol stops producing until the queue drains to the low mark.
//! - [`timers`]: the heap of deadlines that becomes `epoll_wait`'s timeout.
//! - [`on_tokio`]: the adapter that runs the same protocols on tokio's loop (`--reactor tokio`).
//! - `connection`: what the loop keeps per connection, the socket-backed `Transport`, and
//!   every decision about a connection's fate, made once for both loops and without I/O:
//!   told of an event, it returns a `Next` step (read, write, shut down and linger, arm a
//!   timer, defer work, wait, close) for the loop to carry out — hyper's split of
//!   `proto::h1::conn` (the state machine) from `dispatch` (the loop that drives it). The
//!   trace's read, write and wait spans are decided there too.
//! - `reactor`: the loop itself, which carries out the connections' steps with mio — accept
//!   (backing off [`wb_sys::ACCEPT_BACKOFF`] on EMFILE), `read`, `writev`, the timer heap, the
//!   pool's results, `shutdown(Write)` for the lingering close (discard input until EOF or
//!   [`wb_sys::LINGER_TIMEOUT`]), and SIGINT/SIGTERM through `signal-hook-mio` in the same
//!   `Poll`: stop accepting, close idle connections at once, let work in progress finish,
//!   return within [`wb_sys::DRAIN_TIMEOUT`] whatever is left.
//!
//! # One protocol, many loops
//!
//! PEP 3156 asks an event-loop framework to interoperate by adaptation: "keep the default event
//! loop and adapt it to the framework's API" — a framework keeps its own protocols and
//! transports and lets another loop do the waiting. Twisted's `asyncioreactor` runs every
//! Twisted protocol on asyncio's loop (and, through asyncio's loop policy, on uvloop); Tornado
//! runs on asyncio since 5.0. Nothing in a protocol changes: it only ever sees the
//! [`Transport`] and its callbacks, never the loop.
//!
//! This crate does the same. [`HttpProtocol`] is written against [`Transport`], so it runs,
//! unchanged, on two loops (`--reactor mio|tokio`):
//!
//! - **mio** (the default), the engine's own reactor described above;
//! - **tokio**, through the [`on_tokio`] adapter: tokio's current-thread runtime (one thread,
//!   like the mio loop) accepts and drives one task per connection; the task holds the same
//!   connection, which hands the protocol the same socket-backed transport and makes the same
//!   decisions (the same code: it queues writes in the same [`write_queue`] with the same
//!   marks, keeps the same timeouts and the same lingering close), and carries them out with
//!   tokio's primitives: `try_read`, `try_write_vectored`, `writable().await`, a `Sleep` for
//!   `call_later`.
//!
//! The adapter is the part PEP 3156 leaves to the framework, and it has a price: where the
//! mio loop matches a token to a slab slot, tokio wakes a task and polls its future; where an
//! idle connection is one slab slot, it is a task, a future and tokio's per-socket state. The
//! lesson "One protocol, many loops" measures that price — CPU per request, bytes per idle
//! connection, p99 — for this crate (`selector` vs `selector-on-tokio`) and for Twisted on its
//! own epoll reactor vs on asyncio's loop and on uvloop.
//!
//! A protocol can be driven by hand, which is how this crate tests it:
//!
//! ```
//! use std::time::Duration;
//! use wb_selector::{HttpProtocol, MemoryTransport, Protocol};
//!
//! let mut http = HttpProtocol::new(false);
//! let mut transport = MemoryTransport::new();
//! http.data_received(b"GET /work?wait_ms=100 HTTP/1.1\r\nHost: a\r\n\r\n", &mut transport);
//! assert!(!transport.is_reading()); // a job is in progress: no reading
//! assert_eq!(transport.take_timer(), Some(Duration::from_millis(100))); // the loop's timer
//! http.timer_fired(&mut transport); // ...100 ms later
//! assert!(transport.value().starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert!(transport.is_reading()); // idle again
//! ```
//!
//! # Try it
//!
//! ```text
//! cargo run --release -- engine selector --listen 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/hello
//! curl -i 'http://127.0.0.1:8080/work?wait_ms=100&cpu_rounds=1000&bytes=64'
//! ```
//!
//! To watch one CPU-heavy request stall everyone, start a long computation and ask for
//! `/hello` meanwhile; then restart with `--offload` and try again:
//!
//! ```text
//! curl -s -o /dev/null 'http://127.0.0.1:8080/work?cpu_rounds=5000000' &
//! time curl -s http://127.0.0.1:8080/hello
//! ```

mod connection;
pub mod http;
pub mod interfaces;
pub mod memory;
pub mod on_tokio;
pub mod pg;
mod reactor;
pub mod timers;
pub mod write_queue;

use std::num::NonZeroUsize;

pub use http::{HttpFactory, HttpProtocol};
pub use interfaces::{Factory, Protocol, Reason, Transport, Work};
pub use memory::MemoryTransport;
pub use write_queue::{HIGH_WATER, LOW_WATER};

/// Engine configuration, filled from `workbench engine selector` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Run CPU rounds on a thread pool instead of the loop thread (Twisted's deferToThread).
    /// Without it, one CPU-heavy request stalls every connection while it computes.
    #[arg(long)]
    pub offload: bool,

    /// Threads in the --offload pool [default: one per core].
    #[arg(long, value_name = "N", requires = "offload")]
    pub offload_threads: Option<NonZeroUsize>,

    /// Which event loop drives the protocols: the engine's own mio reactor, or tokio's
    /// current-thread runtime through an adapter (the same protocol, unchanged; see
    /// "One protocol, many loops" in the crate docs).
    #[arg(long, value_enum, default_value_t = Loop::Mio)]
    pub reactor: Loop,

    /// Event loops, each on its own thread with its own listener on the same port
    /// (`SO_REUSEPORT`: the kernel spreads new connections across them), as nginx runs a
    /// worker per core. One loop by default: the model. With more, the loops share nothing.
    #[arg(
        long,
        value_name = "N",
        default_value = "1",
        conflicts_with = "offload"
    )]
    pub loops: NonZeroUsize,

    /// The contract's timeouts (`--header-timeout`, `--keepalive-timeout`, `--send-timeout`).
    #[command(flatten)]
    pub timeouts: wb_sys::Timeouts,

    /// The database of `/db` and `/queries` (`--db-url`).
    #[command(flatten)]
    pub database: wb_sys::database::DatabaseUrl,

    /// How many database connections the loop keeps (`--db-pool`).
    #[command(flatten)]
    pub db_pool: wb_sys::database::DatabasePool,
}

/// The event loops [`HttpProtocol`] runs on (`--reactor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Loop {
    /// The engine's own loop: one `mio::Poll` (epoll), a timer heap, a slab of connections.
    Mio,
    /// tokio's current-thread runtime through the `on_tokio` adapter: one task per
    /// connection, tokio's timers, its I/O driver (epoll too) — Twisted on asyncio's loop, in
    /// Rust.
    Tokio,
}

/// Serves `listener` until SIGINT or SIGTERM, on this thread (and, with `--loops N`, on
/// `N - 1` more, each with a listener of its own on the same address: `listener` must then
/// have been bound with `SO_REUSEPORT`, [`Config::reuse_port`]).
pub fn serve(listener: std::net::TcpListener, config: &Config) -> std::io::Result<()> {
    if config.loops.get() > 1 {
        return serve_loops(listener, config);
    }
    let pool = match config.effective_offload_threads() {
        Some(threads) => Some(offload_pool(threads)?),
        None => None,
    };
    let factory = HttpFactory {
        offload: config.offload,
    };
    // A callback computing for a minute stalls the loop, and the signal event with it: the
    // watchdog keeps the stop grace all the same.
    wb_sys::signals::spawn_stop_watchdog()?;
    let database = database(config, 1)?;
    match config.reactor {
        Loop::Mio => {
            reactor::Reactor::new(listener, factory, pool, config.timeouts, database)?.run()
        }
        Loop::Tokio => on_tokio::serve(listener, factory, pool, config.timeouts, database),
    }
}

/// The database pool of one of `loops` loops (`--db-url`, `--db-pool`): each loop holds its
/// share of the connections (at least one), as nginx's workers each hold their own upstream
/// connections.
fn database(
    config: &Config,
    loops: usize,
) -> std::io::Result<Option<(pg::Config, pg::PoolSettings)>> {
    let Some(url) = &config.database.url else {
        return Ok(None);
    };
    let parsed = pg::Config::parse(url).map_err(|err| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("--db-url {url:?}: {err}"),
        )
    })?;
    let share = (config.db_pool.size as usize).div_ceil(loops).max(1);
    Ok(Some((parsed, pg::PoolSettings::new(share))))
}

/// `--loops N`: N mio reactors, each on its own thread with its own `SO_REUSEPORT` listener.
///
/// Every reactor is built (its listener, its poll, its signal pipe) before the stop signals
/// are let through, so a SIGTERM reaches every loop, and each stops on its own: stops
/// accepting, finishes its work in progress, returns. No loop shares anything with another:
/// no lock, no queue, no connection ever moves. The kernel picks the loop for a new
/// connection by a hash of its addresses and ports, not by how busy a loop is.
fn serve_loops(listener: std::net::TcpListener, config: &Config) -> std::io::Result<()> {
    config
        .check()
        .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
    let factory = || HttpFactory { offload: false };
    wb_sys::signals::spawn_stop_watchdog()?;
    let addr = listener.local_addr()?;
    let loops = config.loops.get();
    let mut reactors = vec![reactor::Reactor::build(
        listener,
        factory(),
        None,
        config.timeouts,
        database(config, loops)?,
    )?];
    for _ in 1..loops {
        let sibling = reuse_port_listener(addr)?;
        reactors.push(reactor::Reactor::build(
            sibling,
            factory(),
            None,
            config.timeouts,
            database(config, loops)?,
        )?);
    }
    wb_sys::signals::unblock_stop_signals()?;
    let mut reactors = reactors.into_iter().enumerate();
    let (_, first) = reactors.next().expect("at least one loop");
    let others: Vec<_> = reactors
        .map(|(index, reactor)| {
            std::thread::Builder::new()
                .name(format!("selector-loop-{index}"))
                .spawn(move || {
                    wb_sys::syscalls::use_slot(index);
                    reactor.run()
                })
        })
        .collect::<std::io::Result<_>>()?;
    let mut result = first.run();
    for thread in others {
        let served = thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("a loop thread panicked")));
        result = result.and(served);
    }
    result
}

/// Another listening socket on `addr`, for one more loop: `SO_REUSEPORT` (the first
/// listener has it too), `SO_REUSEADDR` and `TCP_NODELAY` as the binary sets them, the same
/// deep backlog.
fn reuse_port_listener(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// The backlog of each extra loop's listener: the binary's, `net.core.somaxconn` by default.
const LISTEN_BACKLOG: i32 = 4096;

impl Config {
    /// What the flags cannot say together, in one line naming the fix (checked before the
    /// engine binds and announces itself).
    pub fn check(&self) -> Result<(), String> {
        if self.loops.get() > 1 && self.reactor != Loop::Mio {
            return Err(
                "--loops runs several of the engine's own mio loops: drop --reactor \
                        tokio, or use the coroutines engine for tokio on several threads"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether the listener must be bound with `SO_REUSEPORT`: one per loop shares the port.
    pub fn reuse_port(&self) -> bool {
        self.loops.get() > 1
    }

    /// The threads of the `--offload` pool: `--offload-threads`, or one per CPU this process
    /// may use; `None` without `--offload`.
    pub fn effective_offload_threads(&self) -> Option<usize> {
        self.offload.then(|| {
            self.offload_threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
                NonZeroUsize::get,
            )
        })
    }
}

/// The `--offload` pool of `threads` threads.
fn offload_pool(threads: usize) -> std::io::Result<rayon::ThreadPool> {
    tracing::debug!(threads, "offloading CPU rounds to a thread pool");
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("selector-cpu-{i}"))
        .build()
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        // The engine's flags, parsed as the binary parses them (flattened into a command).
        let parse = |args: &[&str]| wb_sys::parse_flags::<Config>("selector", args);
        let config = parse(&[]).unwrap();
        assert!(!config.offload, "inline by default: that is the lesson");
        assert_eq!(
            config.reactor,
            Loop::Mio,
            "the engine's own loop by default"
        );
        assert_eq!(parse(&["--reactor", "tokio"]).unwrap().reactor, Loop::Tokio);
        assert!(parse(&["--reactor", "uvloop"]).is_err());
        assert_eq!(config.timeouts, wb_sys::Timeouts::default());
        assert_eq!(config.offload_threads, None);

        let config = parse(&["--offload", "--offload-threads", "3"]).unwrap();
        assert!(config.offload);
        assert_eq!(config.offload_threads.map(NonZeroUsize::get), Some(3));

        assert!(parse(&["--offload", "--offload-threads", "0"]).is_err());
        assert!(
            parse(&["--offload-threads", "2"]).is_err(),
            "a pool size without --offload would be silently ignored"
        );

        assert_eq!(config.loops.get(), 1, "one loop by default: the model");
        let config = parse(&["--loops", "4"]).unwrap();
        assert!(config.reuse_port() && config.check().is_ok());
        assert!(parse(&["--loops", "0"]).is_err());
        assert!(parse(&["--loops", "2", "--offload"]).is_err());
        let tokio = parse(&["--loops", "2", "--reactor", "tokio"]).unwrap();
        assert!(tokio.check().unwrap_err().contains("drop --reactor tokio"));
    }

    #[test]
    fn the_pool_has_the_threads_asked_for() {
        let pool = offload_pool(2).unwrap();
        assert_eq!(pool.current_num_threads(), 2);
    }
}
