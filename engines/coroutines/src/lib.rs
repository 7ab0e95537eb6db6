//! Tokio, one task per connection: code that reads like blocking code, run as small state
//! machines on a few threads.
//!
//! # How one connection flows
//!
//! The accept loop spawns one task per accepted socket, and the task runs this loop (the
//! real one is `serve_requests` below, with comments). Put it beside the threads engine's:
//! the shape is the same, the new word is `.await`.
//!
//! ```ignore
//! let mut session = Session::new();
//! loop {
//!     match session.next_event() {
//!         Event::Job(job) => {
//!             sleep(job.wait()).await;             // threads engine: thread::sleep
//!             let bytes = job.perform();           // --offload: spawn_blocking(..).await
//!             stream.write_all(&bytes).await?;     // threads engine: write_all, blocking
//!             if job.closes() { return Ok(End::Linger) }
//!         }
//!         Event::NeedData => {
//!             readable(&stream).await?;            // threads engine: read() blocks here
//!             let n = stream.try_read(buf)?;       // never blocks: the bytes are there
//!             if n == 0 { return Ok(End::Close) }
//!             session.receive_data(&buf[..n]);
//!         }
//!         Event::Closed => return Ok(End::Close),
//!     }
//! }
//! ```
//!
//! Where a thread would block in the kernel, a task returns `Pending` to tokio's scheduler,
//! which runs another ready task on the same thread. Tokio's I/O driver owns one epoll
//! instance (through mio): when the kernel reports a socket ready, the driver wakes the task
//! waiting on it, and the scheduler polls that task again from its last `.await`. Waits
//! (`sleep(job.wait())`) are entries in a timer wheel, woken the same way.
//!
//! The compiler turns each `async` function into a state machine: an enum holding, for each
//! `.await`, the variables alive across it. That enum is the task's whole "stack", as large as
//! its largest state and no larger — which is why the read buffer must not be one of those
//! variables (see [Implementation](#implementation)).
//!
//! # What it costs
//!
//! - **Memory: about a kilobyte per connection, not a stack.** An idle keep-alive
//!   connection is a 584-byte future (360 bytes before it carried its keep-alive timer, a
//!   tokio `Sleep`), a task cell (header, scheduler handle, waker slot) and tokio's
//!   `ScheduledIo` for the socket (its readiness and wakers). Both of tokio's are aligned to
//!   128 bytes (two cache lines, against false sharing), so the `ScheduledIo`, in an `Arc`,
//!   takes 256 bytes, and glibc's `memalign` leaves fragments around each: with a future of
//!   no size at all, tokio's part would still be about 500 bytes. Measured as the slope of
//!   the process's memory up to 19,000 connections (`cargo run --release --example
//!   footprint`): 1,224 bytes per idle connection, malloc's overhead included. Smaller is not
//!   always smaller here: a 536-byte future (the settings by reference instead of by value)
//!   measured 1,318 bytes, as glibc's fragments around the aligned blocks fell worse. Nothing
//!   else: the session has freed its buffer, and the read buffer belongs to the thread. A
//!   thread costs a stack instead (three pages touched, megabytes reserved) and a kernel
//!   task. The kernel's socket buffers come on top, in every model alike.
//! - **Threads.** `current-thread`: one, the thread that called `serve`, running every task
//!   and the I/O driver. `multi-thread`: one worker per core (`--worker-threads`), while the
//!   calling thread runs the accept loop inside `block_on`. With `--offload`, a blocking pool
//!   of up to `--blocking-threads` threads, started on demand, gone after 10 s idle.
//! - **System calls per keep-alive request.** `read` (the request) and `writev` (the
//!   response), as nginx. tokio registers sockets edge-triggered and counts a socket readable
//!   until a read says `WouldBlock`; a read that fills less than the buffer has drained the
//!   kernel's queue, so this engine tells tokio so (see `read_into`) rather than pay a third
//!   call for the `EAGAIN`. One `epoll_wait` serves every socket that became ready at the
//!   same time; now and then one returns for nothing, as tokio registers each socket for both
//!   directions and a "writable" edge arrives with no writer waiting.
//!
//! # When it shines, when it breaks
//!
//! It shines with many connections that mostly wait: idle keep-alive clients, or requests
//! waiting on a slow "database" (`wait_ms`), each wait a timer entry instead of a sleeping
//! thread. Ten thousand idle connections take under 10 MiB of user-space memory.
//!
//! It breaks on code that blocks. Tasks are cooperative: a task runs until its next `.await`
//! and nothing preempts it. The two flavours show what follows:
//!
//! - **`current-thread`: concurrency without parallelism.** Every task runs on one thread, as
//!   in the selector engine. A CPU-heavy request (`cpu_rounds`) stalls every other connection
//!   — the accept loop and the SIGTERM handler too — until it is done, unless `--offload`
//!   moves the CPU work to a blocking-pool thread while its task awaits the result.
//! - **`multi-thread`: concurrency and parallelism.** Each worker has its own run queue, and
//!   a worker that runs out of tasks steals half of a busy worker's queue (work stealing), so
//!   the load spreads over every core. A CPU-heavy request still holds its worker until it is
//!   done: with as many of them as workers, everyone waits again. `--offload` keeps the
//!   workers free, at the price of a hand-off to another thread per CPU job.
//!
//! The default flavour is `multi-thread`: it is what `#[tokio::main]` builds and what tokio
//! servers (axum, hyper) run in production, and it uses every core, as the threads and pool
//! engines do. Choose `current-thread` to compare tokio with the selector engine, one thread
//! against one thread.
//!
//! # Implementation
//!
//! - `serve` builds the runtime itself (`tokio::runtime::Builder`, I/O and time drivers on)
//!   since the binary is synchronous and the flags pick the flavour; the std listener is
//!   switched to non-blocking and handed to tokio with `TcpListener::from_std`.
//! - **No read buffer in the task.** A connection first awaits readiness, and only then
//!   borrows its thread's 64 KiB buffer (a `thread_local!`) for one `try_read`, in plain
//!   synchronous code: the bytes go to the session and the buffer is free again before the
//!   task can be suspended. A `let mut buf = [0; 4096]` held across `read(&mut buf).await`
//!   would sit in every idle task (such a naive server measured 4.9 KiB per idle connection).
//!   A unit test bounds the size of the connection future, so a regression shows.
//! - **Small futures.** Readiness is awaited through `poll_read_ready` (an 8-byte future)
//!   rather than `readable()` (152 bytes); the spawned future is an `async` block, since an
//!   `async fn` stores its arguments twice. The future is boxed before it is spawned: tokio
//!   aligns each task to 128 bytes (two cache lines, against false sharing), glibc's
//!   `memalign` leaves up to about 200 bytes of fragments around each aligned block, and a
//!   128-byte task pointing to an ordinary allocation comes out cheaper than a 512-byte
//!   aligned one (959 bytes per idle connection instead of 1151, measured).
//! - **CPU work** runs inline on the worker by default; with `--offload`, a job with CPU
//!   rounds goes to `tokio::task::spawn_blocking` (a job without any is rendered inline: the
//!   hand-off would cost more than the work).
//! - **Nagle's algorithm is off** (`TCP_NODELAY`), inherited from the listener: the binary
//!   sets it on the listening socket and Linux copies it to every accepted socket, so this
//!   engine does not repeat the `setsockopt` per connection. Each response goes out in one
//!   `write_all`; with Nagle on, the second of two pipelined responses could wait for the
//!   client's delayed ACK.
//! - **Lingering close** (as nginx's `lingering_close`): after a closing response, shut the
//!   write half, then read and discard until EOF, an error or 2 s. Closing a socket with
//!   unread input makes the kernel send RST, and the client can lose the response.
//! - **Errors.** An error on one connection (reset, broken pipe) ends that task only and is
//!   logged at debug level. An error from `accept` (`EMFILE`: out of file descriptors) is
//!   logged at most once a second and followed by a 10 ms pause, so the loop does not spin
//!   while nothing can be accepted.
//! - **Shutdown.** On SIGINT or SIGTERM (`tokio::signal::unix`) the accept loop is dropped,
//!   closing the listener. A `watch` channel tells every task to stop: a connection waiting
//!   for a request closes at once, one with a job in progress sends its response first. Each
//!   task holds a receiver, so the sender learns when the last task is gone; `serve` waits
//!   for that up to 3.5 s, then shuts the runtime down with a 0.5 s timeout, which drops the
//!   tasks left and leaves behind blocking-pool threads still computing (the process exits
//!   under them). What escapes the deadline is a runtime that cannot see the signal at all:
//!   `current-thread` without `--offload` while a CPU job runs on its only thread, or
//!   `multi-thread` while every worker does — the stall this model is about.
//!
//! # Try it
//!
//! ```text
//! cargo run --release -- engine coroutines --listen 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/hello
//! curl -i 'http://127.0.0.1:8080/work?wait_ms=100&cpu_rounds=1000&bytes=64'
//! ```
//!
//! To see concurrency without parallelism, start it with `--flavor current-thread` and run
//! `curl 'http://127.0.0.1:8080/work?cpu_rounds=5000000' &` then `time curl
//! http://127.0.0.1:8080/hello`: the hello waits for the CPU job. With `--offload` it does not.

mod connection;
mod database;

use std::future::Future;
use std::io;
use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::watch;
use wb_sys::accept::{AcceptError, WarnLimit};

use connection::connection;

/// How long the runtime's shutdown waits for its threads.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(500);

/// How long, after the signal, connections get to finish before they are dropped: together
/// with [`RUNTIME_SHUTDOWN`], `serve` returns within the contract's [`wb_sys::DRAIN_TIMEOUT`].
const DRAIN_DEADLINE: Duration = wb_sys::DRAIN_TIMEOUT.saturating_sub(RUNTIME_SHUTDOWN);

/// Engine configuration, filled from `workbench engine coroutines` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Which tokio scheduler runs the connection tasks.
    #[arg(long, value_enum, default_value_t = Flavor::MultiThread)]
    pub flavor: Flavor,

    /// Worker threads of the multi-thread flavour [default: one per core].
    #[arg(long, value_name = "N")]
    pub worker_threads: Option<NonZeroUsize>,

    /// Run each request's CPU rounds on tokio's blocking pool (`spawn_blocking`) instead of
    /// inline on the worker thread, which then keeps serving other connections.
    #[arg(long)]
    pub offload: bool,

    /// Most threads in the blocking pool used by `--offload` (tokio's default is 512); each
    /// runs one CPU job at a time. Set it to the number of cores for a fixed-size pool.
    #[arg(long, value_name = "N", default_value = "512")]
    pub blocking_threads: NonZeroUsize,

    /// The contract's timeouts (`--header-timeout`, `--keepalive-timeout`, `--send-timeout`).
    #[command(flatten)]
    pub timeouts: wb_sys::Timeouts,

    /// The database of `/db` and `/queries` (`--db-url`).
    #[command(flatten)]
    pub database: wb_sys::database::DatabaseUrl,

    /// How many database connections the tasks share (`--db-pool`).
    #[command(flatten)]
    pub db_pool: wb_sys::database::DatabasePool,
}

/// What every connection task needs to know: copied into each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) offload: bool,
    pub(crate) timeouts: wb_sys::Timeouts,
}

impl Config {
    /// The threads that run connection tasks: one for the current-thread flavour; for the
    /// multi-thread flavour `--worker-threads`, or one per CPU this process may use (tokio's
    /// own default, made explicit here so the ready line states what the runtime runs).
    pub fn effective_worker_threads(&self) -> usize {
        match self.flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => self.worker_threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
                NonZeroUsize::get,
            ),
        }
    }

    fn settings(&self) -> Settings {
        Settings {
            offload: self.offload,
            timeouts: self.timeouts,
        }
    }
}

/// Which tokio scheduler runs the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavor {
    /// One thread runs every task and the I/O driver: concurrency without parallelism.
    CurrentThread,
    /// One worker thread per core; idle workers steal tasks from busy ones.
    MultiThread,
}

/// Serves `listener` until SIGINT or SIGTERM.
pub fn serve(listener: std::net::TcpListener, config: &Config) -> io::Result<()> {
    if let Some(url) = &config.database.url {
        database::start(url, config.db_pool.size)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
    }
    let runtime = build_runtime(config)?;
    // Tokio drives the socket through epoll and must never block in accept().
    listener.set_nonblocking(true)?;
    let settings = config.settings();
    let served = runtime.block_on(async move {
        // Both need the runtime's I/O driver, so they are made inside `block_on`.
        let listener = TcpListener::from_std(listener)?;
        let stop = stop_signal()?;
        run(listener, settings, stop).await;
        Ok(())
    });
    // Drops the tasks still alive and waits at most this long for the runtime's threads; a
    // blocking-pool thread deep in a CPU job is left behind, and dies with the process.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    served
}

/// What one connection holds in this model, measured: the size of the future spawned for
/// it (`size_of_val`; a coroutine is a compiled state machine, and every local that lives
/// across an `.await` is a field of it), built for a loopback connection and never polled.
/// tokio adds its task header (about a cache line or two) around it. `workbench engine
/// coroutines --describe` prints it.
pub fn describe(config: &Config) -> io::Result<wb_sys::describe::PerConnection> {
    let runtime = Builder::new_current_thread().enable_all().build()?;
    let settings = config.settings();
    let future_bytes = runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let _client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
        let (stream, _) = listener.accept().await?;
        let (_stop_tx, stop_rx) = watch::channel(());
        let future = connection(stream, stop_rx, settings);
        io::Result::Ok(size_of_val(&future))
    })?;
    Ok(wb_sys::describe::PerConnection {
        future_bytes: Some(future_bytes),
        ..Default::default()
    })
}

/// Builds the runtime the flags ask for.
fn build_runtime(config: &Config) -> io::Result<Runtime> {
    let mut builder = match config.flavor {
        Flavor::CurrentThread => {
            // A flag that silently does nothing would mislabel a measurement.
            if config.worker_threads.is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "--worker-threads applies to --flavor multi-thread only",
                ));
            }
            Builder::new_current_thread()
        }
        Flavor::MultiThread => {
            let mut builder = Builder::new_multi_thread();
            builder.worker_threads(config.effective_worker_threads());
            builder
        }
    };
    builder
        .enable_io()
        .enable_time()
        .thread_name("coroutines")
        .max_blocking_threads(config.blocking_threads.get())
        .build()
}

/// Registers SIGINT and SIGTERM handlers now (so a registration error stops `serve` before
/// it serves) and returns a future that completes when either arrives.
fn stop_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    // A runtime whose every thread is deep in a CPU job cannot poll the future below; the
    // watchdog ends the process within the stop grace all the same.
    wb_sys::signals::spawn_stop_watchdog()?;
    wb_sys::signals::unblock_stop_signals()?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!("{name} received: no longer accepting");
    })
}

/// Accepts and serves connections until `stop` completes, then lets them finish (see
/// [`DRAIN_DEADLINE`]). Returns with tasks possibly still alive: the caller shuts the
/// runtime down.
async fn run(listener: TcpListener, settings: Settings, stop: impl Future<Output = ()>) {
    // The value carries no data: a send, or the sender's drop, is the message.
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::select! {
        () = accept_loop(&listener, &stop_rx, settings) => {}
        () = stop => {}
    }
    // Closing the listener makes new clients fail fast instead of queueing for nobody.
    drop(listener);
    drop(stop_rx);
    let open = stop_tx.receiver_count();
    tracing::info!(open, "stopping: telling the open connections to finish");
    stop_tx.send_replace(());
    // Every task owns a receiver, so "all receivers dropped" means "all tasks ended".
    match tokio::time::timeout(DRAIN_DEADLINE, stop_tx.closed()).await {
        Ok(()) => tracing::info!("every connection has finished"),
        Err(_) => tracing::warn!(
            open = stop_tx.receiver_count(),
            "deadline passed: dropping the connections still open"
        ),
    }
}

/// Accepts connections and spawns one task for each; never returns (the caller drops it).
async fn accept_loop(listener: &TcpListener, stop: &watch::Receiver<()>, settings: Settings) {
    let mut accept_warning = WarnLimit::default();
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                // Ended before the task is spawned: on the timeline the connection's own
                // spans begin after its accept ends (a reused descriptor is told apart so).
                drop(wb_sys::trace::span(
                    wb_sys::trace::Phase::Accept,
                    std::os::fd::AsRawFd::as_raw_fd(&stream) as u64,
                ));
                // Boxed: tokio's task is then a small 128-byte-aligned block pointing to the
                // future, which is cheaper with glibc than one large aligned block (module
                // docs, "Small futures"). The JoinHandle is dropped: the task runs detached,
                // and its `stop` receiver is how `run` knows when it has ended.
                tokio::spawn(Box::pin(connection(stream, stop.clone(), settings)));
            }
            Err(err) => match wb_sys::accept::classify(&err) {
                AcceptError::Retry | AcceptError::Skip => {}
                AcceptError::BackOff => {
                    // EMFILE / ENFILE (out of file descriptors), ENOBUFS / ENOMEM: the pending
                    // connection stays in the backlog, and the listener stays readable. Pause
                    // instead of spinning on the same error.
                    accept_warning.warn_accept_failed(&err);
                    tokio::time::sleep(wb_sys::ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;
    use wb_protocol::date::masked;

    /// Parses the engine's flags as the binary does (flattened into a command).
    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        wb_sys::parse_flags("coroutines", args)
    }

    #[test]
    fn flags_and_defaults() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.flavor, Flavor::MultiThread);
        assert_eq!(config.worker_threads, None);
        assert!(!config.offload);
        assert_eq!(config.blocking_threads.get(), 512);

        let config = parse(&["--flavor", "current-thread", "--offload"]).unwrap();
        assert_eq!(config.flavor, Flavor::CurrentThread);
        assert!(config.offload);

        let config = parse(&["--worker-threads", "3", "--blocking-threads", "2"]).unwrap();
        assert_eq!(config.worker_threads.map(NonZeroUsize::get), Some(3));
        assert_eq!(config.blocking_threads.get(), 2);

        assert!(parse(&["--worker-threads", "0"]).is_err());
        assert!(parse(&["--flavor", "green-threads"]).is_err());
    }

    #[test]
    fn worker_threads_is_refused_for_current_thread() {
        let config = parse(&["--flavor", "current-thread", "--worker-threads", "2"]).unwrap();
        let err = build_runtime(&config).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let config = parse(&["--worker-threads", "2"]).unwrap();
        assert!(build_runtime(&config).is_ok());
    }

    /// The point of this engine's read path: an idle connection costs its future and no
    /// buffer. If someone puts a buffer (or anything big) in the task, this fails.
    #[test]
    fn the_connection_future_holds_no_buffer() {
        let runtime = Builder::new_current_thread().enable_all().build().unwrap();
        let size = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let _client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let (_stop_tx, stop_rx) = watch::channel(());
            let settings = Settings {
                offload: true,
                timeouts: wb_sys::Timeouts::default(),
            };
            let task = connection(stream, stop_rx, settings);
            size_of_val(&task)
        });
        // Measured: 360 bytes before the read deadline, 592 with it — an idle connection now
        // carries its keep-alive timer (a tokio `Sleep`, inline in the waiting state, as
        // nginx keeps a timer in every connection's read event). 640 leaves a little room.
        assert!(size <= 640, "the connection future is {size} bytes");
    }

    /// An engine under test: `run` on its own thread and runtime, stopped by a oneshot
    /// instead of a signal (a signal would reach the whole test process).
    struct Server {
        addr: std::net::SocketAddr,
        stop: Option<oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Server {
        fn start(flags: &[&str]) -> Server {
            let config = parse(flags).unwrap();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let thread = std::thread::spawn(move || {
                let runtime = build_runtime(&config).unwrap();
                listener.set_nonblocking(true).unwrap();
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).unwrap();
                    let stop = async {
                        let _ = stop_rx.await;
                    };
                    run(listener, config.settings(), stop).await;
                });
                runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
            });
            Server {
                addr,
                stop: Some(stop_tx),
                thread: Some(thread),
            }
        }

        fn connect(&self) -> std::net::TcpStream {
            let stream = std::net::TcpStream::connect(self.addr).unwrap();
            // A broken engine fails the test instead of hanging it.
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream.set_nodelay(true).unwrap();
            stream
        }

        /// What SIGTERM does to `serve`.
        fn stop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
        }

        /// Stops the server and waits until `run` has returned and the runtime is gone.
        fn join(mut self) {
            self.stop();
            self.thread.take().unwrap().join().unwrap();
        }
    }

    fn read_to_end(stream: &mut std::net::TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        out
    }

    /// Pipelined keep-alive requests of every kind, ending in an error that closes.
    const CORPUS: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /work?wait_ms=5&cpu_rounds=3&bytes=100 HTTP/1.1\r\nHost: a\r\n\r\n\
        HEAD /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
        POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
        GET /missing HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";

    fn answers_the_corpus(flags: &[&str]) {
        let server = Server::start(flags);
        let expected = masked(&wb_protocol::respond_all(CORPUS));

        let mut whole = server.connect();
        whole.write_all(CORPUS).unwrap();
        assert_eq!(masked(&read_to_end(&mut whole)), expected);

        let mut bytewise = server.connect();
        for byte in CORPUS {
            bytewise.write_all(std::slice::from_ref(byte)).unwrap();
        }
        assert_eq!(masked(&read_to_end(&mut bytewise)), expected);
        server.join();
    }

    #[test]
    fn multi_thread_answers_the_corpus() {
        answers_the_corpus(&["--worker-threads", "2"]);
    }

    #[test]
    fn current_thread_offloading_answers_the_corpus() {
        answers_the_corpus(&["--flavor", "current-thread", "--offload"]);
    }

    /// Input after a closing response is discarded, not left unread: without the lingering
    /// close the kernel answers it with a RST and the client's read fails.
    #[test]
    fn a_closing_response_survives_unread_input() {
        let server = Server::start(&["--flavor", "current-thread"]);
        let mut client = server.connect();
        let request = b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n";
        client.write_all(request).unwrap();
        client.write_all(&vec![b'x'; 256 * 1024]).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(
            masked(&read_to_end(&mut client)),
            masked(&wb_protocol::respond_all(request))
        );
        server.join();
    }

    /// On stop, an idle connection is closed at once, a job in progress still sends its whole
    /// response, and the listener is closed.
    #[test]
    fn stopping_closes_idle_connections_and_finishes_jobs() {
        for flags in [&["--flavor", "current-thread"][..], &[]] {
            let mut server = Server::start(flags);
            let addr = server.addr;

            let mut idle = server.connect();
            let hello = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
            let hello_answer = wb_protocol::respond_all(hello);
            idle.write_all(hello).unwrap();
            let mut answer = vec![0; hello_answer.len()];
            idle.read_exact(&mut answer).unwrap();

            // Both requests in one write, hence one read: once /hello is answered, the big job
            // is in the session, past any look at the stop signal. Its 16 MiB outgrow the
            // socket buffers, so its task is still writing until this client reads.
            let big = b"GET /work?bytes=16777216 HTTP/1.1\r\nHost: a\r\n\r\n";
            let mut busy = server.connect();
            busy.write_all(&[&hello[..], &big[..]].concat()).unwrap();
            let mut answer = vec![0; hello_answer.len()];
            busy.read_exact(&mut answer).unwrap();

            server.stop();
            // The idle connection closes while the big response is still being written: were
            // it kept until the deadline, the big response would be cut off by then.
            assert_eq!(read_to_end(&mut idle), b"");
            assert!(masked(&read_to_end(&mut busy)) == masked(&wb_protocol::respond_all(big)));
            server.join();
            assert!(std::net::TcpStream::connect(addr).is_err());
        }
    }
}
