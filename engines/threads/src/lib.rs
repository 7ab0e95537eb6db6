//! One OS thread per connection: the model every server started with, and the easiest to read.
//!
//! # How a connection flows
//!
//! The thread that calls [`serve`] does nothing but `accept()`. Each accepted connection gets
//! a new thread of its own, and that thread runs the connection from its first byte to its
//! close in plain blocking code:
//!
//! ```text
//! accept loop ──accept()──▶ spawn thread ──▶ read() ─▶ Session ─▶ wait ─▶ respond() ─▶ write chunks
//!      ▲                                       ▲                                                   │
//!      └── next connection                     └──────────────── keep-alive: next request ─────────┘
//! ```
//!
//! A blocked `read()` or `thread::sleep()` parks the thread in the kernel; the scheduler runs
//! whichever threads have something to do. Nothing in the code says "concurrency": the kernel
//! provides it, and, on a machine with several cores, parallelism too — two CPU-heavy requests
//! on two connections run on two cores at once.
//!
//! # What a thread costs
//!
//! - **Stack, reserved.** Each thread gets its own stack, `--stack-size` bytes (2 MiB by
//!   default, Rust's default; 8 MiB for the main thread of a C program, `ulimit -s`). This is
//!   *address space*: `mmap` reserves it, plus one guard page that turns an overflow into a
//!   crash instead of silent corruption. Reserving costs no memory.
//! - **Stack, touched.** Only the pages the thread actually writes become resident. Measured
//!   at `--stack-size 64KiB` on x86-64 (`workbench engine threads --describe`, which reads
//!   the stack mapping's `Rss` after one `/work` request with CPU rounds, a wait and a body):
//!   the top **three** pages, 12 KiB, whatever the reservation. The topmost holds glibc's
//!   thread control block and the static thread-local storage (`std`'s and `tracing`'s
//!   thread-locals), which glibc places at the top of the stack mapping; below it, two pages
//!   of frames: `std`'s thread start, the connection loop, the protocol core, SHA-256 and the
//!   response. Once touched, a page stays resident until the thread exits, so the deepest
//!   call a connection ever made is what it keeps paying for.
//! - **Why the read buffer is not on the stack.** It was, as 8 KiB, and the thread touched
//!   five pages. Leaving it uninitialised did not help: a frame larger than a page is entered
//!   through a *stack probe* that touches each of its pages, so that an overflow always hits
//!   the guard page rather than skipping over it. On the heap, never zeroed and 1 KiB at
//!   first (nginx's `client_header_buffer_size`; a read that fills it grows it to 8 KiB),
//!   it costs an idle connection a quarter of a page.
//! - **Heap.** About 3 KiB per connection: that read buffer, its registry entry, what `std`
//!   allocates for each thread (its handle and the slot for its result), the session's
//!   state. glibc gives threads their own malloc arenas, but at most eight per core, created
//!   once (about 20 KiB touched each): a fixed cost, not one per connection.
//! - **Signal stack, not touched.** `std` gives every thread a small signal stack (8 KiB and
//!   a guard page) so that a stack overflow is reported by name; it is mapped but stays
//!   untouched unless a signal arrives.
//! - **Mappings.** Each thread maps four areas: its stack, the stack's guard page, the signal
//!   stack and its guard page. That is what ends this engine first (below).
//! - **Kernel.** Every thread is a kernel task: a `task_struct` (several KiB) and a kernel
//!   stack (16 KiB on x86-64), neither of which can be swapped nor shows in the process's
//!   PSS, plus a slot in the scheduler's run queues and a PID (`/proc/sys/kernel/pid_max`).
//! - **Switches.** Handing the CPU from one blocked thread to another is a context switch
//!   through the kernel, a microsecond or a few, and each switch cools the caches.
//!
//! So an idle connection costs about 15 KiB of PSS at 64 KiB stacks (15,339 B measured, the
//! slope that `cargo run --release --example footprint` measures, with 8 KiB of read buffer
//! on the stack it was 22.5 KiB), against 115 B in the selector and about 1.2 KiB in the coroutine
//! engines.
//!
//! # The ceiling: `vm.max_map_count`
//!
//! A thousand connections cost a thousand threads, a few tens of MiB resident: fine, and the
//! simplest code there is. The wall comes from the kernel's limits, and here the first one
//! is not the thread count. With four mappings per thread and the default
//! `vm.max_map_count` of **65530**, this engine stops at about **16,370 threads** (measured:
//! 16,365 connections, 65530 mappings), far below `kernel.threads-max` (192,726 on this
//! 24 GiB machine), `kernel.pid_max` (32768 by default, a machine-wide count of threads) and
//! `RLIMIT_NPROC`. `pthread_create` then fails with `EAGAIN`, which names none of them, so
//! the engine reads them and says which one it was, with its value and how to raise it:
//!
//! ```text
//! WARN cannot start thread 16368 (Resource temporarily unavailable (os error 11)):
//!      vm.max_map_count = 65530 reached (65530 memory mappings; each thread maps 4: its stack,
//!      the stack's guard page, a signal stack and its guard page); raise it with
//!      `sysctl -w vm.max_map_count=262144`; closed the new connection
//! ```
//!
//! Raised, the next walls are `kernel.pid_max`, then memory: hundreds of MiB of kernel
//! stacks and page tables pinned, and a scheduler that spends its time switching between
//! threads that mostly sleep. That wall is what the selector and coroutine engines are for.
//!
//! # When it shines and when it breaks
//!
//! It shines with a moderate number of busy connections, CPU-bound work (every core is used,
//! no request stalls another) and code that must stay simple. It breaks with many idle or
//! slow connections: each one pins a thread and its stack while it does nothing. When no
//! thread can be created (the limits above, or memory), this engine closes the new
//! connection, logs a warning naming the limit and keeps serving the ones it has.
//!
//! # Implementation
//!
//! - Accept loop on the calling thread; one [`std::thread::Builder`] per connection, with the
//!   configured stack size. Errors from `accept()` (`EMFILE`, `ENFILE`, `ENOBUFS`) are logged
//!   (at most once a second) and retried after [`wb_sys::ACCEPT_BACKOFF`] rather than ending the
//!   server, as the contract in [`wb_sys`] says.
//! - Each connection thread reads (`recv` into a heap buffer it never zeroes, 1 KiB growing
//!   to 8 KiB) only when the
//!   [`wb_protocol::Session`] says [`NeedData`](wb_protocol::Event::NeedData), waits in `poll()` on
//!   its socket (so a client that hangs up is not waited for; [`wb_sys::hangup`]), runs the CPU
//!   work inline with [`Job::respond`](wb_protocol::Job::respond) and streams the response in
//!   chunks of at most 64 KiB, never holding a body whole.
//! - The contract's timeouts are socket options: `SO_SNDTIMEO` (`--send-timeout`) once per
//!   connection, `SO_RCVTIMEO` from the read deadline ([`wb_sys::timeouts::ReadDeadline`]): the
//!   keep-alive timeout between requests, what is left of the header timeout mid-request (a
//!   request not complete in time gets 408).
//! - `/db` and `/queries` take a connection from a pool of `--db-pool` (r2d2) and query with
//!   the blocking `postgres` client (the `database` module): threads beyond the pool's size
//!   wait for a connection, so the pool, not the threads, bounds the database's concurrency.
//! - Shutdown: a signal thread (signal-hook) turns SIGINT/SIGTERM into a flag and a
//!   `shutdown(SHUT_RD)` of the listener, which wakes the blocked `accept()` on Linux. The
//!   accept loop then shuts down reading on every open connection: an idle keep-alive thread
//!   wakes with end-of-file and exits; a busy one finishes its response first. `serve` waits
//!   up to [`wb_sys::DRAIN_TIMEOUT`] for them and returns. The lingering close after a closing
//!   response is [`wb_sys::linger::lingering_close`].
//!
//! # Try it
//!
//! ```text
//! cargo run --release -- engine threads --listen 127.0.0.1:8080 --stack-size 64KiB
//! curl -i http://127.0.0.1:8080/hello
//! curl -i 'http://127.0.0.1:8080/work?wait_ms=100&cpu_rounds=1000&bytes=64'
//! ```
//!
//! While it runs, `ls /proc/<pid>/task | wc -l` counts its threads (the accept loop, the
//! signal thread and one per open connection) and `grep -E 'VmRSS|VmSize' /proc/<pid>/status`
//! shows reserved address space growing far faster than resident memory.

mod ceiling;
mod database;

pub use ceiling::MAPPINGS_PER_THREAD;

use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use wb_protocol::{Event, Session};
use wb_sys::accept::{AcceptError, WarnLimit};
use wb_sys::linger::lingering_close;
use wb_sys::timeouts::ReadDeadline;
use wb_sys::trace::{self, Phase};
use wb_sys::{ACCEPT_BACKOFF, DRAIN_TIMEOUT};

/// Rust's default stack for spawned threads (`RUST_MIN_STACK` aside): 2 MiB.
pub const DEFAULT_STACK_SIZE: usize = 2 * 1024 * 1024;

/// The smallest `--stack-size` accepted. The connection code (`std`,
/// the parser, SHA-256, debug logging) runs within it; much below, a thread would overflow
/// its stack, and a stack overflow aborts the whole process, not just one connection.
pub const MIN_STACK_SIZE: usize = 32 * 1024;

/// The largest `--stack-size` accepted: beyond this a value is a typo, not an experiment.
pub const MAX_STACK_SIZE: usize = 1024 * 1024 * 1024;

/// The per-connection read buffer's largest size. 8 KiB holds any usual request head in one
/// read; bigger heads and bodies simply take several reads.
///
/// It lives on the heap, not on the thread's stack. A frame bigger than a page is entered
/// through a *stack probe* that touches each of its pages (so that an overflow always hits
/// the guard page), so an 8 KiB buffer on the stack is two resident pages in every thread
/// from its first request on, zeroed or not. On the heap and never zeroed, only what the
/// kernel writes into it is touched.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// The read buffer's first size, as nginx's `client_header_buffer_size` (1 KiB): enough for
/// a usual request head; a read that fills it grows it to [`READ_BUFFER_BYTES`]. Small
/// buffers pack four to a page, so an idle connection keeps a quarter page, not two pages.
const READ_BUFFER_FIRST_BYTES: usize = 1024;

/// The buffer a closing connection reads and drops the client's last bytes into (the
/// lingering close). On the heap, and only while a connection closes: on the stack it would
/// deepen every frame below, in every connection.
const DISCARD_BUFFER_BYTES: usize = 4 * 1024;

/// `--lock-count`, for the whole process (set once by [`serve`], before any connection).
static LOCK_COUNT: AtomicBool = AtomicBool::new(false);

/// Engine configuration, filled from `workbench engine threads` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Stack reserved for each connection's thread: bytes, or a size with a suffix such as
    /// 64KiB, 2MiB or 8M (K, M and G are powers of 1024, as in `ulimit -s`). Only the pages
    /// a thread touches become resident; the rest is address space.
    #[arg(long, value_name = "SIZE", default_value = "2MiB", value_parser = parse_stack_size)]
    pub stack_size: usize,

    /// Holds one lock (`wb_protocol::counter::LOCK`) across each `/count` update, from its
    /// read through its wait to its write: no update is lost, and every update waits for the
    /// one before it. Without it, the read and the write are two atomic steps with the wait
    /// between them, and concurrent updates overwrite each other (the race-conditions lesson).
    #[arg(long)]
    pub lock_count: bool,

    /// The contract's timeouts (`--header-timeout`, `--keepalive-timeout`, `--send-timeout`).
    #[command(flatten)]
    pub timeouts: wb_sys::Timeouts,

    /// The database of `/db` and `/queries` (`--db-url`).
    #[command(flatten)]
    pub database: wb_sys::database::DatabaseUrl,

    /// How many database connections the threads share (`--db-pool`).
    #[command(flatten)]
    pub db_pool: wb_sys::database::DatabasePool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            stack_size: DEFAULT_STACK_SIZE,
            lock_count: false,
            timeouts: wb_sys::Timeouts::default(),
            database: wb_sys::database::DatabaseUrl::default(),
            db_pool: wb_sys::database::DatabasePool::default(),
        }
    }
}

/// Serves `listener` until SIGINT or SIGTERM, one thread per connection.
///
/// Returns once the accept loop has stopped and the connection threads have finished (or
/// after 4 s, if some have not).
pub fn serve(listener: TcpListener, config: &Config) -> io::Result<()> {
    LOCK_COUNT.store(config.lock_count, Ordering::Relaxed);
    if let Some(url) = &config.database.url {
        database::start(url, config.db_pool.size)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    let signals_handle = signals.handle();
    // The binary blocked them until now; signal-hook's handler is in place.
    wb_sys::signals::unblock_stop_signals()?;
    let signal_thread = {
        let stop = Arc::clone(&stop);
        let listener_fd = listener.as_raw_fd();
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut signals = signals;
                // Ends when a signal arrives, or when `serve` closes the handle.
                if let Some(signal) = signals.forever().next() {
                    tracing::info!(signal, "signal received; stopping");
                    stop_accepting(&stop, listener_fd);
                }
            })?
    };

    let registry = Arc::new(Registry::default());
    accept_loop(&listener, config, &registry, &stop);

    let open = registry.len();
    tracing::info!(open, "stopped accepting; waiting for open connections");
    registry.shut_down_reading_all();
    let left = registry.wait_until_empty(DRAIN_TIMEOUT);
    if left > 0 {
        tracing::warn!(
            left,
            "connections still busy after {DRAIN_TIMEOUT:?}; they end with the process"
        );
    }

    signals_handle.close();
    // The signal thread has either returned already or returns now that the handle is
    // closed; it only touches `listener`'s fd, which stays open until this function returns.
    let _ = signal_thread.join();
    Ok(())
}

/// Sets the stop flag, then wakes the accept loop.
///
/// On Linux, `shutdown(SHUT_RD)` on a listening socket stops it listening and wakes every
/// thread blocked in `accept()` on it, which then fails with `EINVAL`. The flag is set first,
/// so the accept loop, seeing that error, knows it is not a fault. If the accept loop is not
/// in `accept()` at that moment, its next call fails at once: the shutdown is permanent, so
/// there is no window in which the wake-up is lost.
fn stop_accepting(stop: &AtomicBool, listener_fd: RawFd) {
    stop.store(true, Ordering::SeqCst);
    // SAFETY: `shutdown` only acts on the socket behind `listener_fd`; it touches no memory
    // of ours. The caller guarantees the fd stays open (it belongs to the listener, which
    // outlives the signal thread).
    unsafe {
        libc::shutdown(listener_fd, libc::SHUT_RD);
    }
}

/// Accepts connections and gives each a thread, until `stop` is set.
fn accept_loop(
    listener: &TcpListener,
    config: &Config,
    registry: &Arc<Registry>,
    stop: &Arc<AtomicBool>,
) {
    let stack_size = config.stack_size;
    let mut accept_warning = WarnLimit::default();
    let mut spawn_warning = WarnLimit::default();
    let mut next_id: u64 = 0;
    loop {
        let accepting = trace::start_ns();
        let accepted = listener.accept();
        if let Some(began) = accepting {
            // Recorded even when it fails (the stop wakes it with an error): the last wait in
            // accept() is how the lane ends on the timeline.
            let task = accepted.as_ref().map_or(0, |(s, _)| s.as_raw_fd() as u64);
            trace::record(Phase::Accept, task, began, trace::now_ns());
        }
        if stop.load(Ordering::SeqCst) {
            // A connection accepted in the same instant as the signal is dropped (closed):
            // the contract allows closing connections on shutdown.
            return;
        }
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(err) => match wb_sys::accept::classify(&err) {
                AcceptError::Retry | AcceptError::Skip => continue,
                AcceptError::BackOff => {
                    // Out of descriptors or buffers: the connection waits in the backlog
                    // until others close. Pause instead of spinning on the same error.
                    accept_warning.warn_accept_failed(&err);
                    thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            },
        };

        next_id += 1;
        let connection = Connection::register(next_id, stream, Arc::clone(registry));
        let (timeouts, stop) = (config.timeouts, Arc::clone(stop));
        let spawned = thread::Builder::new()
            .stack_size(stack_size)
            .spawn(move || connection.run(&timeouts, &stop));
        if let Err(err) = spawned {
            // EAGAIN (a thread limit) or ENOMEM (no room for the stack). The closure, and
            // the `Connection` in it, were dropped: the socket is closed and unregistered.
            // The client sees its connection closed; the server lives on.
            if let Some(suppressed) = spawn_warning.check(Instant::now()) {
                // Which limit it was, with its value and how to raise it: read from /proc
                // only here, at most once a second.
                let why = ceiling::explain(&err, stack_size);
                tracing::warn!(suppressed, stack_size, "{why}; closed the new connection");
            }
        }
    }
}

/// Every open connection's socket, so that shutdown can wake the threads blocked reading them.
///
/// It stores raw file descriptors rather than `try_clone()`d streams: a clone would cost a
/// second descriptor per connection. A raw fd is safe to use here because a connection leaves
/// the registry (under the lock) *before* its socket is closed — see [`Connection`]'s `Drop` —
/// so every fd found in the map, while the lock is held, is still that connection's socket
/// and not a number the kernel has since handed to someone else.
#[derive(Debug, Default)]
struct Registry {
    open: Mutex<HashMap<u64, RawFd>>,
    /// Signalled whenever a connection leaves, for [`Registry::wait_until_empty`].
    changed: Condvar,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, RawFd>> {
        // A panic while holding this lock cannot leave the map half-updated (each critical
        // section is one insert or remove), so a poisoned lock is still usable.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Shuts down the reading side of every open connection. A thread blocked in `read()`
    /// wakes with end-of-file and ends its connection; a thread busy with a job finishes it,
    /// writes the response (writing still works) and then finds end-of-file.
    fn shut_down_reading_all(&self) {
        let open = self.lock();
        for &fd in open.values() {
            // SAFETY: the fd is open while it is in the map and we hold the lock (see the
            // type's doc); `shutdown` touches no memory. Errors (ENOTCONN when the peer has
            // already gone) are harmless: that connection is ending anyway.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RD);
            }
        }
    }

    /// Waits until every connection has left or `timeout` has passed; returns how many are
    /// still open.
    fn wait_until_empty(&self, timeout: Duration) -> usize {
        let open = self.lock();
        let (open, _timed_out) = self
            .changed
            .wait_timeout_while(open, timeout, |open| !open.is_empty())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.len()
    }
}

/// One accepted connection, registered in the [`Registry`] for as long as it lives.
struct Connection {
    id: u64,
    stream: TcpStream,
    registry: Arc<Registry>,
}

impl Connection {
    fn register(id: u64, stream: TcpStream, registry: Arc<Registry>) -> Connection {
        registry.lock().insert(id, stream.as_raw_fd());
        Connection {
            id,
            stream,
            registry,
        }
    }

    /// The body of a connection thread.
    fn run(self, timeouts: &wb_sys::Timeouts, stop: &AtomicBool) {
        if let Err(err) = serve_connection(&self.stream, timeouts, stop) {
            // Resets and broken pipes are the client's business, never the server's.
            tracing::debug!(id = self.id, "connection ended: {err}");
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // `Drop::drop` runs before the fields are dropped, so the fd leaves the registry
        // while the socket is still open; it is closed just after, when `stream` drops.
        let mut open = self.registry.lock();
        open.remove(&self.id);
        drop(open);
        self.registry.changed.notify_all();
    }
}

/// Serves one connection to its end with blocking reads and writes. An `Err` is a
/// connection-level failure (reset, broken pipe, a send timeout), for logging only.
///
/// The timeouts are socket options: `SO_SNDTIMEO` once (a blocked write fails with `EAGAIN`
/// after `--send-timeout` without progress), and `SO_RCVTIMEO` before a read when the deadline
/// of [`ReadDeadline`] asks for another value (once per connection while it is idle between
/// requests, once per read while a request trickles in). `stop` tells a wait cut short by the
/// server's own shutdown of the socket from a client that left.
fn serve_connection(
    stream: &TcpStream,
    timeouts: &wb_sys::Timeouts,
    stop: &AtomicBool,
) -> io::Result<()> {
    // On the heap, not this thread's stack: see [`READ_BUFFER_BYTES`].
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BUFFER_FIRST_BYTES);
    let mut session = Session::new();
    let mut stream_ref = stream;
    stream.set_write_timeout(Some(timeouts.send))?;
    let mut read_timeout = None;
    let mut deadline = ReadDeadline::accepted(timeouts, Instant::now());
    // The connection, as the timeline names it: its socket's descriptor.
    let task = stream.as_raw_fd() as u64;
    loop {
        let job = match session.next_event() {
            Event::Job(job) => job,
            Event::NeedData => {
                if let Some(rest) = session.read_pause() {
                    // The request trickles in a byte per segment: let it pile up in the
                    // kernel and take it in one read, not one read per byte.
                    std::thread::sleep(rest.min(deadline.remaining(Instant::now())));
                }
                let Some(wanted) = deadline.socket_timeout(timeouts, Instant::now()) else {
                    return time_out(stream, &mut session);
                };
                if read_timeout != Some(wanted) {
                    stream.set_read_timeout(Some(wanted))?;
                    read_timeout = Some(wanted);
                }
                let reading = trace::span(Phase::Read, task);
                // lesson:begin teach
                let read = read_uninit(stream, buf.spare_capacity_mut());
                // lesson:end
                drop(reading);
                match read {
                    // End-of-file: the client closed, or shutdown woke us. Everything it sent
                    // before has been answered, since we only read when the session needs data.
                    Ok([]) => return Ok(()),
                    Ok(bytes) => {
                        // lesson:begin teach
                        session.receive_data(bytes);
                        // lesson:end
                        // A full read: bigger requests or a body; take them in bigger bites.
                        if bytes.len() == buf.capacity() && buf.capacity() < READ_BUFFER_BYTES {
                            buf.reserve_exact(READ_BUFFER_BYTES);
                        }
                        deadline.received(timeouts, Instant::now());
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    // SO_RCVTIMEO ran out: the loop looks at the deadline again.
                    Err(err) if is_timeout(&err) => {}
                    Err(err) => return Err(err),
                }
                continue;
            }
            Event::Closed => return Ok(()),
        };
        // `/count?wait_ms=W` reads the shared counter here, and writes it back in `respond()`
        // after the wait: any other thread may update it in between, and that update is lost.
        // With `--lock-count` this thread holds the lock from the read to the write instead.
        let mut job = job;
        let counting = (job.updates_counter() && LOCK_COUNT.load(Ordering::Relaxed)).then(|| {
            wb_protocol::counter::LOCK
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        });
        job.begin();
        // lesson:begin handle
        // The "database": the thread sleeps in the kernel, costing nothing but its stack
        // while other threads run — in `poll()` on its socket rather than `sleep()`, so that
        // a client that hangs up meanwhile is not waited for. (Our own shutdown of the
        // socket, on SIGTERM, looks the same: then the wait goes on, and the response too.)
        // lesson:begin teach
        if !wb_sys::hangup::wait_for_job(stream, job.wait(), stop, task) {
            return Ok(());
        }
        // `/db` and `/queries`: a connection from the pool, one query per row, each a
        // blocking round trip to the database (see `database`).
        trace::traced(Phase::Wait, task, || database::fetch(&mut job));
        let closes = job.closes();
        let mut response = trace::traced(Phase::Compute, task, || job.respond());
        drop(counting);
        // Streamed: the head, then the body in chunks of at most 64 KiB from the core's
        // static pattern, one vectored write each. A 64 MiB response holds no 64 MiB buffer.
        let writing = trace::span(Phase::Write, task);
        response.write_to(&mut stream_ref)?;
        // lesson:end
        drop(writing);
        // lesson:end
        if closes {
            lingering_close(stream, &mut vec![0; DISCARD_BUFFER_BYTES]);
            return Ok(());
        }
        deadline = ReadDeadline::answered(timeouts, session.is_mid_request(), Instant::now());
    }
}

/// What one connection holds in this model, measured: the stack its thread has touched after
/// serving one `/work` request (CPU rounds, a short wait, a small body) on a loopback socket,
/// with `config`'s stack size. `workbench engine threads --describe` prints it.
pub fn describe(config: &Config) -> io::Result<wb_sys::describe::PerConnection> {
    let timeouts = config.timeouts;
    wb_sys::describe::touched_serving(config.stack_size, move |stream| {
        serve_connection(&stream, &timeouts, &AtomicBool::new(false))
    })
}

/// The read deadline passed: a request half-sent is answered with 408, an idle connection is
/// closed quietly.
fn time_out(stream: &TcpStream, session: &mut Session) -> io::Result<()> {
    if let Some(job) = session.time_out() {
        let mut stream_ref = stream;
        job.respond().write_to(&mut stream_ref)?;
        lingering_close(stream, &mut vec![0; DISCARD_BUFFER_BYTES]);
    }
    Ok(())
}

/// One blocking `recv` into an uninitialised buffer: the bytes received, empty at EOF.
///
/// `std`'s `Read::read` wants an initialised `&mut [u8]`, so its callers zero their buffers
/// first and so touch every page of them; `recv` itself only writes the bytes it returns.
fn read_uninit<'b>(stream: &TcpStream, buf: &'b mut [MaybeUninit<u8>]) -> io::Result<&'b [u8]> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the length of the call, and
    // `recv` writes at most that many.
    let n = unsafe { libc::recv(stream.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel initialised the first `n` bytes, and `n <= buf.len()`.
    Ok(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) })
}

/// Whether a read or write error is a socket timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO`: `EAGAIN`).
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Parses a `--stack-size`: a number of bytes, optionally followed by a binary-unit suffix
/// (`K`, `KiB`, `KB`, `M`, `MiB`, `MB`, `G`, `GiB`, `GB`, any case; all powers of 1024).
pub fn parse_stack_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!("`{text}` is not a size; try 65536, 64KiB or 2MiB"));
    }
    let multiplier: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size suffix `{other}`; use KiB, MiB or GiB"
            ));
        }
    };
    let bytes = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|&n| n <= MAX_STACK_SIZE as u64)
        .ok_or_else(|| format!("`{text}` is larger than the 1 GiB maximum"))?;
    if bytes < MIN_STACK_SIZE as u64 {
        return Err(format!(
            "`{text}` is below the 32 KiB minimum: smaller stacks overflow, and a stack \
             overflow aborts the whole server"
        ));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use wb_protocol::date::masked;

    #[test]
    fn describe_reports_a_touched_stack_far_below_the_reservation() {
        let described = describe(&Config::default()).unwrap();
        let touched = described.stack_bytes.expect("smaps readable");
        assert!((4096..DEFAULT_STACK_SIZE).contains(&touched), "{touched}");
        assert_eq!(described.future_bytes, None);
    }

    #[test]
    fn stack_sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_stack_size("65536"), Ok(65536));
        assert_eq!(parse_stack_size("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_stack_size("64k"), Ok(64 * 1024));
        assert_eq!(parse_stack_size("2MiB"), Ok(DEFAULT_STACK_SIZE));
        assert_eq!(parse_stack_size("8M"), Ok(8 << 20));
        assert_eq!(parse_stack_size(" 1 GiB "), Ok(1 << 30));
        assert_eq!(parse_stack_size("32KB"), Ok(MIN_STACK_SIZE));
    }

    #[test]
    fn bad_stack_sizes_are_refused() {
        for bad in [
            "",
            "KiB",
            "-1",
            "1.5MiB",
            "2TiB",
            "2GiB",
            "16KiB",
            "0",
            "1e6",
            "99999999999999999999",
        ] {
            assert!(parse_stack_size(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_flag_reaches_the_config() {
        let parse = |args: &[&str]| wb_sys::parse_flags::<Config>("threads", args).unwrap();
        assert_eq!(parse(&["--stack-size", "128KiB"]).stack_size, 128 * 1024);
        assert_eq!(parse(&[]).stack_size, Config::default().stack_size);
    }

    /// A listener on a free loopback port.
    fn listener() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").unwrap()
    }

    /// Sends `input` in `chunk`-byte writes and returns everything read back (`input` must end
    /// in a request that closes). No half-close: a FIN while a request waits means the client
    /// has gone, and the engine stops working for it.
    fn exchange(addr: std::net::SocketAddr, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut client = wb_sys::loopback::connect(addr).unwrap();
        client.set_nodelay(true).unwrap();
        for piece in input.chunks(chunk) {
            client.write_all(piece).unwrap();
        }
        let mut out = Vec::new();
        client.read_to_end(&mut out).unwrap();
        out
    }

    const PIPELINE: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /work?wait_ms=1&cpu_rounds=5&bytes=100 HTTP/1.1\r\nHost: a\r\n\r\n\
        HEAD /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
        GET /nope HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";

    #[test]
    fn a_connection_answers_what_the_protocol_core_answers() {
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            for _ in 0..2 {
                let (stream, _) = listener.accept().unwrap();
                let running = AtomicBool::new(false);
                serve_connection(&stream, &wb_sys::Timeouts::default(), &running).unwrap();
            }
        });
        let expected = masked(&wb_protocol::respond_all(PIPELINE));
        assert!(expected.ends_with(b"no such route; try /hello or /work\n"));
        assert_eq!(masked(&exchange(addr, PIPELINE, PIPELINE.len())), expected);
        assert_eq!(masked(&exchange(addr, PIPELINE, 1)), expected);
        server.join().unwrap();
    }

    #[test]
    fn a_slow_head_gets_408_at_the_header_timeout_and_an_idle_connection_just_closes() {
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let timeouts = wb_sys::Timeouts {
            header: Duration::from_secs(1),
            keepalive: Duration::from_secs(1),
            ..wb_sys::Timeouts::default()
        };
        let server = thread::spawn(move || {
            for _ in 0..2 {
                let (stream, _) = listener.accept().unwrap();
                serve_connection(&stream, &timeouts, &AtomicBool::new(false)).unwrap();
            }
        });
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /hello HTTP/1.1\r\nHost").unwrap();
        let mut got = Vec::new();
        slow.read_to_end(&mut got).unwrap();
        assert!(
            got.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"),
            "{got:?}"
        );
        let mut idle = TcpStream::connect(addr).unwrap();
        idle.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        idle.read_to_end(&mut got).unwrap();
        let hello = wb_protocol::respond_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            masked(&got),
            masked(&hello),
            "one answer, then a quiet close"
        );
        server.join().unwrap();
    }

    /// Runs an accept loop on a background thread; returns its address, the registry, a way
    /// to stop it, and its thread.
    fn start(stack_size: usize) -> (std::net::SocketAddr, Arc<Registry>, impl FnOnce()) {
        let config = Config {
            stack_size,
            ..Config::default()
        };
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let registry = Arc::new(Registry::default());
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (registry, stop) = (Arc::clone(&registry), Arc::clone(&stop));
            let fd = listener.as_raw_fd();
            let handle = thread::spawn(move || accept_loop(&listener, &config, &registry, &stop));
            (handle, fd)
        };
        let stopper = move || {
            let (handle, fd) = accept;
            stop_accepting(&stop, fd);
            handle.join().unwrap();
        };
        (addr, registry, stopper)
    }

    #[test]
    fn shutdown_wakes_idle_keep_alive_connections() {
        let (addr, registry, stop) = start(64 * 1024);
        let mut clients: Vec<TcpStream> = (0..3)
            .map(|_| {
                let mut client = wb_sys::loopback::connect(addr).unwrap();
                client
                    .write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
                    .unwrap();
                client
            })
            .collect();
        let hello = masked(&wb_protocol::respond_all(
            b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        ));
        for client in &mut clients {
            let mut got = vec![0; hello.len()];
            client.read_exact(&mut got).unwrap();
            assert_eq!(masked(&got), hello);
        }
        // All three are idle keep-alive connections now, each thread blocked in read().
        assert_eq!(registry.len(), 3);
        stop();
        registry.shut_down_reading_all();
        assert_eq!(registry.wait_until_empty(Duration::from_secs(30)), 0);
        for client in &mut clients {
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty(), "the server closed without sending more");
        }
    }

    #[test]
    fn a_thread_that_cannot_start_closes_its_connection_and_the_server_lives_on() {
        // No machine can map a 2^60-byte stack, so every spawn fails (ENOMEM / EAGAIN).
        let (addr, registry, stop) = start(1 << 60);
        for _ in 0..3 {
            let mut client = wb_sys::loopback::connect(addr).unwrap();
            // Had a thread started, this request would be answered (and the connection closed).
            client
                .write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut got = Vec::new();
            // Closed without an answer: end-of-file, or a reset since the request was unread.
            let _ = client.read_to_end(&mut got);
            assert!(got.is_empty());
        }
        assert_eq!(registry.len(), 0);
        stop();
    }
}
