//! The same [`Protocol`]s on tokio's event loop: an adapter, as PEP 3156 asks of a framework.
//!
//! Twisted's `asyncioreactor` keeps Twisted's protocols and transports and hands the waiting
//! to asyncio's loop: a socket's `doRead` becomes a `loop.add_reader` callback, `callLater`
//! becomes `loop.call_later`. This module does the same with tokio's current-thread runtime
//! (one thread, like the mio loop):
//!
//! | the framework's API | mio ([`reactor`](crate)) | adapted to tokio |
//! |---|---|---|
//! | accept, [`Factory::build_protocol`] | `accept` on `LISTENER`'s event | an accept loop awaiting `TcpListener::accept` |
//! | [`Protocol::data_received`] | `EPOLLIN` on the socket's token, `read` until `WouldBlock` or a short read | `TcpStream::readable().await`, `try_read` until `WouldBlock` or a short read |
//! | [`Transport::write`] | queued, `writev` after the callback, `EPOLLOUT` for the rest | the same queue, `try_write_vectored`, `writable().await` for the rest |
//! | [`Transport::call_later`] | an entry in the loop's [`TimerHeap`](crate::timers::TimerHeap) | a `tokio::time::Sleep` reset to the deadline (a zero delay: `yield_now`, asyncio's `call_soon`) |
//! | [`Transport::defer_to_thread`] | rayon, a channel and a `mio::Waker` | rayon and a `oneshot` channel, which wakes the task |
//! | [`Transport::query_world`] | [`pg::Pool`]: the database sockets in the same `Poll`, tokens from [`pg::FIRST_TOKEN`] | [`pg::TokioPool`]: a task per database connection, a shared queue and a `Notify`, the rows back through a `oneshot` |
//! | the contract's timeouts | a deadline per connection, swept when the earliest is due | one lazy `Sleep` per connection |
//! | SIGINT, SIGTERM | `signal-hook-mio` in the same `Poll` | `tokio::signal::unix`, a `watch` channel to every connection |
//!
//! Each connection is one task (spawned on a [`LocalSet`], so a protocol need not be `Send`)
//! that owns what the mio loop keeps in its slab slot — the same `Connection` struct, the same
//! [`WriteQueue`] with the same backpressure marks, the same `SocketTransport` handed to the
//! protocol. The rules are not merely the same, they are the same code: the connection
//! (the `connection` module) decides every step — read, write, linger, arm a timer, close —
//! and returns it as a `Next`, which the task carries out with tokio's primitives exactly as
//! the mio loop carries it out with its own (`Task::drive` here, `Reactor::drive` there). So
//! the trace's spans (accept, read, wait, compute, write) are the same on both loops too. All
//! connections read into one shared 64 KiB buffer, as on mio: a connection borrows it only
//! for one read and the callback that follows, and nothing awaits in between.
//!
//! What the adaptation costs is what the lesson "One protocol, many loops" measures: per
//! connection, a tokio task (its header, the boxed future holding the `Connection`, two
//! `Sleep`s and a `watch` receiver) and tokio's per-socket `ScheduledIo`, instead of one slab
//! slot — the future alone is about 1.3 KiB on x86-64 (a test bounds it at 2 KiB), and one
//! short run on a busy 2-core machine measured 1.98 KiB ± 82 B per idle connection, where
//! the mio loop measures 115 B (the `footprint` example, at 19,000 idle connections); per
//! event, a task wake-up and a poll of the task's `select!` instead of a `match` on a token.
//!
//! [`Protocol`]: crate::Protocol
//! [`Factory::build_protocol`]: crate::Factory::build_protocol
//! [`Protocol::data_received`]: crate::Protocol::data_received
//! [`Transport::write`]: crate::Transport::write
//! [`Transport::call_later`]: crate::Transport::call_later
//! [`Transport::defer_to_thread`]: crate::Transport::defer_to_thread
//! [`Transport::query_world`]: crate::Transport::query_world
//! [`WriteQueue`]: crate::write_queue::WriteQueue

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{oneshot, watch};
use tokio::task::LocalSet;
use wb_protocol::Response;
use wb_sys::accept::{AcceptError, WarnLimit};
use wb_sys::{ACCEPT_BACKOFF, DRAIN_TIMEOUT};

use crate::connection::{self, Connection, Cx, Next, Phase};
use crate::interfaces::{Factory, Protocol, Reason, Work};
use crate::pg;
use crate::reactor::{READ_BUFFER_BYTES, rows_of};

/// How long, once the drain is over, the connections still open get to run their
/// `connection_lost` before the runtime is dropped under them. They need one poll each.
const CLOSE_ALL_GRACE: Duration = Duration::from_millis(200);

/// Where the server is in its life, as every connection task sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Serving,
    /// The first signal: idle connections close at once, the others once their work is done.
    Draining,
    /// The drain deadline passed, or a second signal: close now.
    Now,
}

/// What every connection task shares: one thread, so `Rc` and `RefCell`.
struct Shared {
    /// The one read buffer of every connection (see the module docs).
    read_buf: RefCell<Box<[u8]>>,
    /// The `--offload` pool; without it, deferred work runs inline.
    pool: Option<rayon::ThreadPool>,
    timeouts: wb_sys::Timeouts,
    /// Source of `Connection::awaiting` ids, for every connection of the loop, as on mio.
    ids: Cell<u64>,
    /// The database pool (`--db-url`, `--db-pool`): its connections are tasks of this
    /// runtime; a request's rows come back through the `oneshot` its connection awaits.
    database: Option<pg::TokioPool>,
}

impl Shared {
    fn new(
        pool: Option<rayon::ThreadPool>,
        timeouts: wb_sys::Timeouts,
        database: Option<pg::TokioPool>,
    ) -> Shared {
        Shared {
            read_buf: RefCell::new(vec![0; READ_BUFFER_BYTES].into_boxed_slice()),
            pool,
            timeouts,
            ids: Cell::new(0),
            database,
        }
    }
}

/// Serves `listener` with `factory`'s protocols on a current-thread tokio runtime until
/// SIGINT or SIGTERM, with the mio reactor's contract: stop accepting, close idle connections
/// at once, let work in progress finish, return within [`DRAIN_TIMEOUT`].
pub(crate) fn serve<F>(
    listener: std::net::TcpListener,
    factory: F,
    pool: Option<rayon::ThreadPool>,
    timeouts: wb_sys::Timeouts,
    database: Option<(pg::Config, pg::PoolSettings)>,
) -> io::Result<()>
where
    F: Factory + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    listener.set_nonblocking(true)?;
    let local = LocalSet::new();
    let served = local.block_on(&runtime, async move {
        // All three need the runtime's I/O driver (the pool spawns its connections' tasks
        // on this `LocalSet`), so they are made inside it.
        let listener = TcpListener::from_std(listener)?;
        let database = match database {
            Some((config, settings)) => Some(pg::TokioPool::start(config, settings)?),
            None => None,
        };
        let shared = Rc::new(Shared::new(pool, timeouts, database));
        let signals = StopSignals::new()?;
        run(listener, factory, Rc::clone(&shared), signals).await;
        // The drain is over: no connection waits for rows any more. Terminate on each
        // database connection; whatever still waits has no one to answer.
        if let Some(database) = &shared.database {
            database.close(CLOSE_ALL_GRACE).await;
        }
        Ok(())
    });
    // Tasks still in the set are dropped here, with the runtime.
    drop(local);
    served
}

/// SIGINT and SIGTERM, registered before they are unblocked (the binary blocks them until the
/// engine is ready).
struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    fn new() -> io::Result<StopSignals> {
        let signals = StopSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        };
        wb_sys::signals::unblock_stop_signals()?;
        Ok(signals)
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// The accept loop until a signal, then the drain.
async fn run<F>(listener: TcpListener, factory: F, shared: Rc<Shared>, mut signals: StopSignals)
where
    F: Factory + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(Stop::Serving);
    tokio::select! {
        () = accept_loop(&listener, factory, &shared, &stop_rx) => {}
        name = signals.next() => {
            tracing::info!("{name} received: no new connections; finishing work in progress");
        }
    }
    // Closing the listener makes new clients fail fast instead of queueing for nobody.
    drop(listener);
    drop(stop_rx);
    stop_tx.send_replace(Stop::Draining);
    // Every task owns a receiver, so "all receivers dropped" means "all connections closed".
    tokio::select! {
        () = stop_tx.closed() => return,
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::info!(connections = stop_tx.receiver_count(), "grace period over; closing");
        }
        _ = signals.next() => tracing::info!("second signal: stopping now"),
    }
    stop_tx.send_replace(Stop::Now);
    let _ = tokio::time::timeout(CLOSE_ALL_GRACE, stop_tx.closed()).await;
}

/// Accepts connections, asks the factory for a protocol and spawns one task for each; never
/// returns (the caller drops it).
async fn accept_loop<F>(
    listener: &TcpListener,
    mut factory: F,
    shared: &Rc<Shared>,
    stop: &watch::Receiver<Stop>,
) where
    F: Factory + 'static,
{
    let mut accept_warning = WarnLimit::default();
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                // The connection's own first steps (`connection_made`) run in its task.
                // Ended at once: the connection's own spans begin after its accept ends.
                drop(connection::span(&socket, wb_sys::trace::Phase::Accept));
                let protocol = factory.build_protocol(peer);
                let conn = Connection::accepted(socket, protocol, &shared.timeouts);
                let task = Task::new(conn, Rc::clone(shared));
                // Boxed, so the task's header stays small and the future (the connection)
                // sits in an allocation of its own size, as the coroutines engine does.
                tokio::task::spawn_local(Box::pin(task.run(stop.clone())));
            }
            Err(err) => match wb_sys::accept::classify(&err) {
                AcceptError::Retry => {}
                AcceptError::Skip => tracing::debug!("accept: {err}"),
                AcceptError::BackOff => {
                    // EMFILE/ENFILE, ENOBUFS/ENOMEM: the connection stays in the backlog and
                    // the listener stays ready; pause instead of spinning on the same error.
                    accept_warning.warn_accept_failed(&err);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

/// What a connection waits for besides its socket: at most one at a time, as on mio. The
/// `id` is the one the connection gave it ([`Next::Timer`], [`Next::Defer`],
/// [`Next::Query`]).
enum Waiting {
    /// A `call_later`, or the end of a lingering close, at this instant.
    Timer { at: Instant, id: u64 },
    /// Work deferred to the pool.
    Deferred {
        id: u64,
        result: oneshot::Receiver<Response>,
    },
    /// Rows from the database pool.
    Query {
        id: u64,
        rows: oneshot::Receiver<pg::Answer>,
    },
}

/// One connection's task: the connection's steps, carried out with tokio doing the waiting.
struct Task<P: Protocol> {
    /// The connection: its state and every decision about it, as in the mio loop's slab.
    conn: Connection<P, TcpStream>,
    /// The loop's shared read buffer, pool, timeouts and ids: one pointer per task.
    shared: Rc<Shared>,
    /// The timer or deferred work the connection waits for (the mio loop keeps the former in
    /// its heap and the latter in its channel; a task keeps its own).
    waiting: Option<Waiting>,
    /// A timer was set since the last turn: reset the task's timer `Sleep` to this.
    reset_timer: Option<Instant>,
    /// The lazy deadline moved earlier: reset the deadline `Sleep` to this.
    reset_deadline: Option<Instant>,
    /// The deadline the deadline `Sleep` is set for, if it is.
    armed: Option<Instant>,
    /// The server is draining (the mio loop's `stopping`), lent to the connection's
    /// decisions: an idle connection closes.
    stopping: bool,
    /// The connection said [`Next::Close`]: the task ends, and the socket closes with it.
    closed: bool,
    /// While the connection does not read, the task watches its socket for a client that
    /// hangs up ([`Connection::hung_up`]); a look found a pipelined byte instead. tokio
    /// keeps the socket readable until a read clears it, so the task stops watching until
    /// the connection reads again, rather than wake for the same byte over and over.
    looked: bool,
}

/// What woke the task up.
enum Woken {
    Stop(Stop),
    Readable(io::Result<()>),
    /// The socket became readable (a FIN, a reset or a pipelined byte) while the connection
    /// does not read.
    Watch(io::Result<tokio::io::Ready>),
    Writable(io::Result<()>),
    Timer,
    Deferred(Option<Response>),
    Rows(Option<pg::Answer>),
    Deadline,
}

impl<P: Protocol> Task<P> {
    /// The task of a connection just accepted: waiting for nothing yet.
    fn new(conn: Connection<P, TcpStream>, shared: Rc<Shared>) -> Task<P> {
        Task {
            conn,
            shared,
            waiting: None,
            reset_timer: None,
            reset_deadline: None,
            armed: None,
            stopping: false,
            closed: false,
            looked: false,
        }
    }

    async fn run(mut self, mut stop: watch::Receiver<Stop>) {
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        let timer = tokio::time::sleep_until(far);
        let deadline = tokio::time::sleep_until(far);
        tokio::pin!(timer, deadline);
        let mut watching = true;
        // The socket's low-water mark is raised while the connection rests from a trickled
        // request ([`wb_sys::rest`]): the mio loop leaves epoll's set then, tokio cannot.
        let mut quiet = false;
        // A server that was already stopping when this connection was accepted.
        if *stop.borrow_and_update() != Stop::Serving {
            self.on_stop(*stop.borrow());
        }
        self.drive(|conn, cx| conn.made(cx));
        while !self.closed {
            if let Some(at) = self.reset_timer.take() {
                timer.as_mut().reset(at.into());
            }
            if let Some(at) = self.reset_deadline.take() {
                deadline.as_mut().reset(at.into());
            }
            if let Some(Waiting::Timer { at, id }) = self.waiting
                && at <= Instant::now()
            {
                // Due already (a zero-delay `call_later`: the protocol yields its turn):
                // let every other ready task run first, as asyncio's `call_soon` does.
                tokio::task::yield_now().await;
                self.waiting = None;
                self.drive(|conn, cx| conn.timer_fired(id, cx));
                continue;
            }
            if self.conn.resting != quiet {
                quiet = self.conn.resting;
                if let Err(err) = wb_sys::rest::quiet(&self.conn.socket, quiet) {
                    // Only more wake-ups while it rests: nothing to stop for.
                    tracing::debug!("SO_RCVLOWAT: {err}");
                }
            }
            let armed = self.armed.is_some();
            let Task {
                conn,
                waiting,
                looked,
                ..
            } = &mut self;
            let wants_read = conn.wants_read();
            if wants_read {
                *looked = false;
            }
            // Reading or not, an open connection hears of its client's FIN: one that does
            // not read looks whether it hung up (the mio loop keeps `READABLE` for this).
            // A connection resting from a trickled request neither reads nor watches.
            let watch = !wants_read && conn.phase == Phase::Open && !*looked && !conn.resting;
            let wants_write = !conn.out.is_empty();
            let timer_set = matches!(waiting, Some(Waiting::Timer { .. }));
            let awaiting = matches!(
                waiting,
                Some(Waiting::Deferred { .. } | Waiting::Query { .. })
            );
            let woken = tokio::select! {
                // Polled in this order: a stopping server starts on no new request.
                biased;
                changed = stop.changed(), if watching => match changed {
                    Ok(()) => Woken::Stop(*stop.borrow_and_update()),
                    Err(_) => Woken::Stop(Stop::Now),
                },
                ready = conn.socket.readable(), if wants_read => Woken::Readable(ready),
                ready = conn.socket.ready(tokio::io::Interest::READABLE), if watch => {
                    Woken::Watch(ready)
                }
                ready = conn.socket.writable(), if wants_write => Woken::Writable(ready),
                () = &mut timer, if timer_set => Woken::Timer,
                woken = awaited(waiting), if awaiting => woken,
                () = &mut deadline, if armed => Woken::Deadline,
            };
            match woken {
                Woken::Stop(state) => {
                    watching = state != Stop::Now;
                    self.on_stop(state);
                }
                Woken::Readable(Ok(())) => self.drive(|conn, cx| conn.readable(cx)),
                Woken::Watch(Ok(_)) => self.look(),
                Woken::Watch(Err(err)) => self.drive(|conn, _| conn.close(Reason::Lost(err))),
                Woken::Writable(Ok(())) => self.drive(|conn, cx| conn.writable(cx)),
                Woken::Readable(Err(err)) | Woken::Writable(Err(err)) => {
                    self.drive(|conn, _| conn.close(Reason::Lost(err)));
                }
                Woken::Timer => {
                    if let Some(Waiting::Timer { id, .. }) = self.waiting.take() {
                        self.drive(|conn, cx| conn.timer_fired(id, cx));
                    }
                }
                Woken::Deferred(Some(result)) => {
                    if let Some(Waiting::Deferred { id, .. }) = self.waiting.take() {
                        self.drive(|conn, cx| conn.deferred(id, result, cx));
                    }
                }
                Woken::Deferred(None) => {
                    // The pool dropped the work (it panicked): nothing will answer.
                    let err = io::Error::other("deferred work ended without a result");
                    self.drive(|conn, _| conn.close(Reason::Lost(err)));
                }
                Woken::Rows(answer) => {
                    if let Some(Waiting::Query { id, .. }) = self.waiting.take() {
                        // The pool never drops a request unanswered while it runs; if it
                        // did, the client gets a 503 rather than a hang.
                        let answer = answer.unwrap_or(Err(pg::DbError::Closed));
                        let rows = rows_of(answer);
                        self.drive(|conn, cx| conn.rows(id, rows, cx));
                    }
                }
                Woken::Deadline => {
                    let now = Instant::now();
                    if self.armed.is_some_and(|at| at <= now) {
                        self.armed = None;
                    }
                    self.drive(|conn, cx| conn.deadline_passed(now, cx));
                }
            }
        }
    }

    /// The socket became readable while the connection does not read: has the client hung
    /// up? A peek inside `try_io` tells, taking nothing: nothing to see clears tokio's
    /// readiness (a stale one), so the next FIN wakes the task again; a pipelined byte stops
    /// the watch until the connection reads it ([`Task::looked`]).
    fn look(&mut self) {
        let mut pending = false;
        self.drive(|conn, _| {
            conn.hung_up(|socket| {
                let peeked = socket.try_io(tokio::io::Interest::READABLE, || {
                    wb_sys::hangup::peek(socket)
                });
                pending = matches!(peeked, Ok(n) if n > 0);
                peeked
            })
            .unwrap_or(Next::Wait)
        });
        self.looked = pending;
    }

    /// The server began to stop (or must stop now).
    fn on_stop(&mut self, state: Stop) {
        match state {
            Stop::Serving => {}
            Stop::Draining => {
                self.stopping = true;
                self.drive(|conn, cx| conn.stop(cx));
            }
            Stop::Now => self.drive(|conn, _| conn.close(Reason::Shutdown)),
        }
    }

    /// Carries out what the connection decides after an event, one [`Next`] at a time, with
    /// tokio's primitives: `try_read` into the shared buffer, `try_write_vectored`,
    /// `shutdown`, the task's timer `Sleep`, a `oneshot` from the pool, the deadline `Sleep`.
    /// The very steps the mio loop carries out with its own (`Reactor::drive`); every
    /// decision is the connection's.
    fn drive(&mut self, event: impl FnOnce(&mut Connection<P, TcpStream>, &mut Cx<'_>) -> Next) {
        if self.closed {
            return;
        }
        let shared = Rc::clone(&self.shared);
        let mut cx = Cx::new(&shared.timeouts, self.stopping, false, &shared.ids);
        let mut next = event(&mut self.conn, &mut cx);
        loop {
            next = match next {
                Next::Read => {
                    // One non-blocking read; a short one also clears tokio's readiness, so the
                    // next `readable()` waits for epoll rather than for an `EAGAIN`.
                    let mut buf = shared.read_buf.borrow_mut();
                    self.conn.read(&mut buf[..], &mut cx, |socket, buf| {
                        wb_sys::drained::read(socket, buf)
                    })
                }
                Next::Write => self.conn.write(&mut cx, |out, socket| {
                    out.write_to(&mut NonBlocking(socket))
                }),
                Next::ShutDown => self.conn.shut_down(&mut cx, |socket| {
                    socket2::SockRef::from(socket).shutdown(Shutdown::Write)
                }),
                Next::Timer { at, id } => {
                    self.waiting = Some(Waiting::Timer { at, id });
                    self.reset_timer = Some(at);
                    self.conn.settle(&mut cx)
                }
                Next::Defer { work, id } => {
                    let result = defer(shared.pool.as_ref(), work);
                    self.waiting = Some(Waiting::Deferred { id, result });
                    self.conn.settle(&mut cx)
                }
                Next::Query { ids, id } => match &shared.database {
                    // Queued (or taken at once by an idle database task); the rows come
                    // back through the `oneshot`, which wakes this task.
                    Some(database) => match database.submit(ids) {
                        Ok(rows) => {
                            self.waiting = Some(Waiting::Query { id, rows });
                            self.conn.settle(&mut cx)
                        }
                        Err(refused) => {
                            tracing::warn!("database request refused: {refused}");
                            self.conn
                                .rows(id, Err(wb_sys::database::QUERY_FAILED), &mut cx)
                        }
                    },
                    None => self
                        .conn
                        .rows(id, Err(wb_sys::database::NO_DATABASE), &mut cx),
                },
                Next::Wait => {
                    self.arm_deadline();
                    return;
                }
                Next::Close => {
                    self.closed = true;
                    self.waiting = None;
                    return;
                }
            };
        }
    }

    /// Lazy, as on mio: the `Sleep` moves only when the deadline moves earlier than it.
    fn arm_deadline(&mut self) {
        let Some(at) = self.conn.expiry(self.shared.timeouts.send) else {
            return;
        };
        if self.armed.is_none_or(|armed| armed > at) {
            self.armed = Some(at);
            self.reset_deadline = Some(at);
        }
    }
}

/// Runs deferred work on the pool (inline without one); a `oneshot` brings the result back
/// and wakes the task.
fn defer(pool: Option<&rayon::ThreadPool>, work: Work) -> oneshot::Receiver<Response> {
    let (tx, rx) = oneshot::channel();
    let task = move || {
        // The receiver is gone when the client left meanwhile: the result goes nowhere.
        let _ = tx.send(work());
    };
    match pool {
        Some(pool) => pool.spawn(task),
        None => task(),
    }
    rx
}

/// Waits for the deferred result or the query's rows, whichever is awaited (`None` in it:
/// its sender was dropped).
async fn awaited(waiting: &mut Option<Waiting>) -> Woken {
    match waiting {
        Some(Waiting::Deferred { result, .. }) => Woken::Deferred(result.await.ok()),
        Some(Waiting::Query { rows, .. }) => Woken::Rows(rows.await.ok()),
        _ => std::future::pending().await,
    }
}

/// The write queue's sink: tokio's non-blocking `try_write`, which says `WouldBlock` (and
/// clears the socket's write readiness) when the kernel's send buffer is full.
struct NonBlocking<'a>(&'a TcpStream);

impl Write for NonBlocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpFactory;
    use std::io::Read;
    use std::net::TcpStream as Client;
    use wb_protocol::date::masked;

    /// Runs the adapter on its own thread, stopped by dropping a oneshot (a signal would
    /// reach the whole test process), and returns its address.
    fn start(
        offload: bool,
        timeouts: wb_sys::Timeouts,
    ) -> (
        std::net::SocketAddr,
        oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    ) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            listener.set_nonblocking(true).unwrap();
            let pool = offload.then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .unwrap()
            });
            let shared = Rc::new(Shared::new(pool, timeouts, None));
            LocalSet::new().block_on(&runtime, async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let (tx, rx) = watch::channel(Stop::Serving);
                tokio::select! {
                    () = accept_loop(&listener, HttpFactory { offload }, &shared, &rx) => {}
                    _ = stop_rx => {}
                }
                drop(rx);
                tx.send_replace(Stop::Draining);
                let _ = tokio::time::timeout(DRAIN_TIMEOUT, tx.closed()).await;
            });
        });
        (addr, stop_tx, server)
    }

    fn connect(addr: std::net::SocketAddr) -> Client {
        let client = Client::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client
    }

    #[test]
    fn the_same_protocol_serves_on_tokio() {
        for offload in [false, true] {
            let (addr, stop, server) = start(offload, wb_sys::Timeouts::default());
            let input = crate::connection::PIPELINED.concat();
            let mut client = connect(addr);
            client.write_all(&input).unwrap();
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).unwrap();
            assert!(
                masked(&answer) == masked(&wb_protocol::respond_all(&input)),
                "answers differ (offload {offload})"
            );

            // A long pipeline is answered whole, in order, across the yields.
            let request = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
            let mut client = connect(addr);
            client.write_all(&request.repeat(40)).unwrap();
            let mut answer = vec![0; 40 * wb_protocol::respond_all(request).len()];
            client.read_exact(&mut answer).unwrap();
            assert!(masked(&answer) == masked(&wb_protocol::respond_all(&request.repeat(40))));

            // Stopping closes the idle connection and the server returns.
            stop.send(()).unwrap();
            server.join().unwrap();
            assert_eq!(
                client.read(&mut [0; 10]).unwrap(),
                0,
                "closed by the server"
            );
        }
    }

    /// What an idle connection holds on tokio, beside the mio loop's one slab slot (the
    /// `connection` module bounds that at 128 bytes): the task's future, with the
    /// `Connection` in it, its two `Sleep`s and the `select!` in flight. Tokio adds its task
    /// header and the socket's `ScheduledIo`; the idle workload measures the whole.
    #[test]
    fn a_connection_task_stays_under_two_kib() {
        fn size_of_future<F: Future>(_: &F) -> usize {
            size_of::<F>()
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let _client = Client::connect(listener.local_addr().unwrap()).unwrap();
            let (socket, _) = listener.accept().await.unwrap();
            let timeouts = wb_sys::Timeouts::default();
            let conn = Connection::accepted(socket, crate::HttpProtocol::new(false), &timeouts);
            let task = Task::new(conn, Rc::new(Shared::new(None, timeouts, None)));
            let (_stop_tx, stop_rx) = watch::channel(Stop::Serving);
            let size = size_of_future(&task.run(stop_rx));
            assert!(size <= 2048, "a connection's future is {size} bytes");
        });
    }

    #[test]
    fn a_slow_head_gets_408_at_the_header_timeout() {
        let timeouts = wb_sys::Timeouts {
            header: Duration::from_secs(1),
            ..wb_sys::Timeouts::default()
        };
        let (addr, stop, server) = start(false, timeouts);
        let mut client = connect(addr);
        client.write_all(b"GET /hello HTTP/1.1\r\nHo").unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
        stop.send(()).unwrap();
        server.join().unwrap();
    }
}
