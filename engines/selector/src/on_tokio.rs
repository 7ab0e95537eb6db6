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
//! | the contract's timeouts | a deadline per connection, swept four times a second | one lazy `Sleep` per connection |
//! | SIGINT, SIGTERM | `signal-hook-mio` in the same `Poll` | `tokio::signal::unix`, a `watch` channel to every connection |
//!
//! Each connection is one task (spawned on a [`LocalSet`], so a protocol need not be `Send`)
//! that owns what the mio loop keeps in its slab slot — the same `Connection` struct, the same
//! [`WriteQueue`] with the same backpressure marks, the same `SocketTransport` handed to the
//! protocol — and the same rules decide when it reads, writes, lingers and times out. All
//! connections read into one shared 64 KiB buffer, as on mio: a connection borrows it only
//! between a readiness event and the end of its callbacks, and nothing awaits in between.
//!
//! What the adaptation costs is what the lesson "One protocol, many loops" measures: per
//! connection, a tokio task (its header, the boxed future holding the `Connection`, two
//! `Sleep`s and a `watch` receiver) and tokio's per-socket `ScheduledIo`, instead of one slab
//! slot — the future alone is about 1.3 KiB on x86-64 (a test bounds it at 2 KiB), and one
//! short run on a busy 2-core machine measured 1.98 KiB ± 82 B per idle connection against
//! the mio loop's 335 B ± 152 B; per event, a task wake-up and a poll of the task's `select!`
//! instead of a `match` on a token.
//!
//! [`Protocol`]: crate::Protocol
//! [`Factory::build_protocol`]: crate::Factory::build_protocol
//! [`Protocol::data_received`]: crate::Protocol::data_received
//! [`Transport::write`]: crate::Transport::write
//! [`Transport::call_later`]: crate::Transport::call_later
//! [`Transport::defer_to_thread`]: crate::Transport::defer_to_thread
//! [`WriteQueue`]: crate::write_queue::WriteQueue

use std::cell::RefCell;
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
use wb_sys::timeouts::ReadDeadline;
use wb_sys::{ACCEPT_BACKOFF, DRAIN_TIMEOUT, LINGER_TIMEOUT};

use crate::connection::{Connection, Pending, Phase};
use crate::interfaces::{Factory, Protocol, Reason, Transport, Work};
use crate::reactor::READ_BUFFER_BYTES;
use crate::write_queue::{Flow, WriteQueue, flow};

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
}

/// Serves `listener` with `factory`'s protocols on a current-thread tokio runtime until
/// SIGINT or SIGTERM, with the mio reactor's contract: stop accepting, close idle connections
/// at once, let work in progress finish, return within [`DRAIN_TIMEOUT`].
pub(crate) fn serve<F>(
    listener: std::net::TcpListener,
    factory: F,
    pool: Option<rayon::ThreadPool>,
    timeouts: wb_sys::Timeouts,
) -> io::Result<()>
where
    F: Factory + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    listener.set_nonblocking(true)?;
    let shared = Rc::new(Shared {
        read_buf: RefCell::new(vec![0; READ_BUFFER_BYTES].into_boxed_slice()),
        pool,
        timeouts,
    });
    let local = LocalSet::new();
    let served = local.block_on(&runtime, async move {
        // Both need the runtime's I/O driver, so they are made inside it.
        let listener = TcpListener::from_std(listener)?;
        let signals = StopSignals::new()?;
        run(listener, factory, shared, signals).await;
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
                let now = Instant::now();
                let conn = Connection {
                    socket,
                    phase: Phase::Open,
                    reading: true,
                    paused: false,
                    registered: None,
                    awaiting: 0,
                    out: WriteQueue::new(),
                    protocol: factory.build_protocol(peer),
                    deadline: ReadDeadline::accepted(&shared.timeouts, now),
                };
                let task = Task {
                    conn,
                    shared: Rc::clone(shared),
                    waiting: None,
                    reset_timer: None,
                    reset_deadline: None,
                    armed: None,
                    stopping: false,
                    closed: false,
                };
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

/// One non-blocking read: the bytes read, and whether a short read drained the socket.
///
/// A read that fills less than `buf` took everything the kernel had queued; it then also
/// clears tokio's readiness (`try_io` does when its closure says `WouldBlock`), so the next
/// `readable()` waits for epoll instead of a `recv` that can only say `EAGAIN`. tokio keeps a
/// FIN that came with the data ("read closed" is never cleared), so the EOF is still seen.
/// The coroutines engine's `read_into` does the same.
fn read_once(socket: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut n = 0;
    let read = socket.try_io(tokio::io::Interest::READABLE, || {
        n = socket.try_read(buf)?;
        if n > 0 && n < buf.len() {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(())
        }
    });
    match read {
        Ok(()) => Ok((n, false)),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock && n > 0 => Ok((n, true)),
        Err(err) => Err(err),
    }
}

/// What a connection waits for besides its socket: at most one at a time, as on mio.
enum Waiting {
    /// A `call_later`, or the end of a lingering close, at this instant.
    Timer(Instant),
    /// Work deferred to the pool.
    Deferred(oneshot::Receiver<Response>),
}

/// One connection's task: the mio reactor's per-connection logic, with tokio doing the waiting.
struct Task<P: Protocol> {
    conn: Connection<P, TcpStream>,
    shared: Rc<Shared>,
    waiting: Option<Waiting>,
    /// A timer was set since the last turn: reset the task's timer `Sleep` to this.
    reset_timer: Option<Instant>,
    /// The lazy deadline moved earlier: reset the deadline `Sleep` to this.
    reset_deadline: Option<Instant>,
    /// The deadline the deadline `Sleep` is set for, if it is.
    armed: Option<Instant>,
    stopping: bool,
    closed: bool,
}

/// What woke the task up.
enum Woken {
    Stop(Stop),
    Readable(io::Result<()>),
    Writable(io::Result<()>),
    Timer,
    Deferred(Option<Response>),
    Deadline,
}

impl<P: Protocol> Task<P> {
    async fn run(mut self, mut stop: watch::Receiver<Stop>) {
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        let timer = tokio::time::sleep_until(far);
        let deadline = tokio::time::sleep_until(far);
        tokio::pin!(timer, deadline);
        let mut watching = true;
        // A server that was already stopping when this connection was accepted.
        if *stop.borrow_and_update() != Stop::Serving {
            self.on_stop(*stop.borrow());
        }
        self.callback(|protocol, transport| protocol.connection_made(transport));
        while !self.closed {
            if let Some(at) = self.reset_timer.take() {
                timer.as_mut().reset(at.into());
            }
            if let Some(at) = self.reset_deadline.take() {
                deadline.as_mut().reset(at.into());
            }
            if let Some(Waiting::Timer(at)) = self.waiting
                && at <= Instant::now()
            {
                // Due already (a zero-delay `call_later`: the protocol yields its turn):
                // let every other ready task run first, as asyncio's `call_soon` does.
                tokio::task::yield_now().await;
                self.on_timer();
                continue;
            }
            let armed = self.armed.is_some();
            let Task { conn, waiting, .. } = &mut self;
            let wants_read = conn.wants_read();
            let wants_write = !conn.out.is_empty();
            let timer_set = matches!(waiting, Some(Waiting::Timer(_)));
            let deferred = matches!(waiting, Some(Waiting::Deferred(_)));
            let woken = tokio::select! {
                // Polled in this order: a stopping server starts on no new request.
                biased;
                changed = stop.changed(), if watching => match changed {
                    Ok(()) => Woken::Stop(*stop.borrow_and_update()),
                    Err(_) => Woken::Stop(Stop::Now),
                },
                ready = conn.socket.readable(), if wants_read => Woken::Readable(ready),
                ready = conn.socket.writable(), if wants_write => Woken::Writable(ready),
                () = &mut timer, if timer_set => Woken::Timer,
                result = deferred_result(waiting), if deferred => Woken::Deferred(result),
                () = &mut deadline, if armed => Woken::Deadline,
            };
            match woken {
                Woken::Stop(state) => {
                    watching = state != Stop::Now;
                    self.on_stop(state);
                }
                Woken::Readable(Ok(())) => self.read_ready(),
                Woken::Writable(Ok(())) => self.settle(),
                Woken::Readable(Err(err)) | Woken::Writable(Err(err)) => {
                    self.close(Reason::Lost(err));
                }
                Woken::Timer => self.on_timer(),
                Woken::Deferred(Some(result)) => {
                    self.waiting = None;
                    self.conn.awaiting = 0;
                    self.callback(move |protocol, transport| {
                        protocol.deferred_result(result, transport)
                    });
                }
                Woken::Deferred(None) => {
                    // The pool dropped the work (it panicked): nothing will answer.
                    let err = io::Error::other("deferred work ended without a result");
                    self.close(Reason::Lost(err));
                }
                Woken::Deadline => self.on_deadline(Instant::now()),
            }
        }
    }

    /// The server began to stop (or must stop now).
    fn on_stop(&mut self, state: Stop) {
        match state {
            Stop::Serving => {}
            Stop::Draining => {
                self.stopping = true;
                if self.conn.is_idle() {
                    self.close(Reason::Shutdown);
                } else {
                    self.settle();
                }
            }
            Stop::Now => self.close(Reason::Shutdown),
        }
    }

    /// Reads until `WouldBlock` or a short read (as the mio loop does), until the protocol
    /// stops reading, or until EOF, into the buffer every connection shares.
    fn read_ready(&mut self) {
        let shared = Rc::clone(&self.shared);
        let mut buf = shared.read_buf.borrow_mut();
        while !self.closed && self.conn.wants_read() {
            match read_once(&self.conn.socket, &mut buf) {
                Ok((0, _)) => {
                    self.on_eof();
                    break;
                }
                Ok(_) if self.conn.phase == Phase::Lingering => {} // Discarded, as promised.
                Ok((n, drained)) => {
                    self.conn
                        .deadline
                        .received(&self.shared.timeouts, Instant::now());
                    self.callback(|protocol, transport| {
                        protocol.data_received(&buf[..n], transport)
                    });
                    if drained {
                        break;
                    }
                }
                // tokio cleared the socket's readiness: the next `readable()` waits for epoll.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    self.close(Reason::Lost(err));
                    break;
                }
            }
        }
        drop(buf);
        self.arm_deadline();
    }

    /// The client closed its sending side (see the mio reactor's `on_eof`).
    fn on_eof(&mut self) {
        if self.conn.phase == Phase::Lingering || self.conn.out.is_empty() {
            self.close(Reason::Done);
        } else {
            self.conn.phase = Phase::Flushing { linger: false };
            self.conn.reading = false;
            self.settle();
        }
    }

    fn on_timer(&mut self) {
        self.waiting = None;
        self.conn.awaiting = 0;
        if self.conn.phase == Phase::Lingering {
            // The client never sent its EOF: stop waiting for it.
            self.close(Reason::Done);
        } else {
            self.callback(|protocol, transport| protocol.timer_fired(transport));
        }
    }

    /// The deadline `Sleep` fired: time out if the deadline really passed, else re-arm.
    fn on_deadline(&mut self, now: Instant) {
        if self.armed.is_some_and(|at| at <= now) {
            self.armed = None;
        }
        match self.conn.expiry(self.shared.timeouts.send) {
            Some(at) if at <= now => match self.conn.send_timed_out() {
                Some(err) => self.close(Reason::Lost(err)),
                None => {
                    tracing::debug!(wait = ?self.conn.deadline.wait, "read timeout");
                    self.callback(|protocol, transport| protocol.timed_out(transport));
                }
            },
            Some(_) => self.arm_deadline(),
            None => {}
        }
    }

    /// Lazy, as on mio: the `Sleep` moves only when the deadline moves earlier than it.
    fn arm_deadline(&mut self) {
        if self.closed {
            return;
        }
        let Some(at) = self.conn.expiry(self.shared.timeouts.send) else {
            return;
        };
        if self.armed.is_none_or(|armed| armed > at) {
            self.armed = Some(at);
            self.reset_deadline = Some(at);
        }
    }

    /// Calls into the protocol, then does what its calls asked for.
    fn callback(&mut self, call: impl FnOnce(&mut P, &mut dyn Transport)) {
        self.invoke(call);
        self.settle();
    }

    /// Calls into the protocol with the very transport the mio loop hands it, and sets the
    /// timer or starts the deferred work it asked for.
    fn invoke(&mut self, call: impl FnOnce(&mut P, &mut dyn Transport)) {
        if self.closed {
            return;
        }
        let pending = self.conn.call_protocol(&self.shared.timeouts, call);
        match pending {
            None => {}
            Some(Pending::Later(delay)) => self.set_timer(Instant::now() + delay),
            Some(Pending::Defer(work)) => self.defer(work),
        }
    }

    /// One pending call per connection: a new one replaces the previous.
    fn set_timer(&mut self, at: Instant) {
        self.conn.awaiting = 1;
        self.waiting = Some(Waiting::Timer(at));
        self.reset_timer = Some(at);
    }

    /// Runs deferred work on the pool; a `oneshot` brings the result back and wakes the task.
    fn defer(&mut self, work: Work) {
        let (tx, rx) = oneshot::channel();
        let task = move || {
            // The receiver is gone when the client left meanwhile: the result goes nowhere.
            let _ = tx.send(work());
        };
        match &self.shared.pool {
            Some(pool) => pool.spawn(task),
            None => task(),
        }
        self.conn.awaiting = 1;
        self.waiting = Some(Waiting::Deferred(rx));
    }

    /// After a callback or a writable event: write what is queued, apply backpressure, move a
    /// closing connection along (see the mio reactor's `settle`).
    fn settle(&mut self) {
        loop {
            if self.closed {
                return;
            }
            let conn = &mut self.conn;
            if !conn.out.is_empty() {
                let before = conn.out.len();
                if let Err(err) = conn.out.write_to(&mut NonBlocking(&conn.socket)) {
                    self.close(Reason::Lost(err));
                    return;
                }
                if conn.out.len() < before {
                    conn.out.progressed(Instant::now());
                }
            }
            if conn.paused && flow(true, conn.out.len()) == Flow::Resume {
                conn.paused = false;
                if conn.phase == Phase::Open {
                    self.invoke(|protocol, transport| protocol.resume_producing(transport));
                    continue; // It may have written more.
                }
            }
            if let Phase::Flushing { linger } = conn.phase
                && conn.out.is_empty()
            {
                if !linger {
                    self.close(Reason::Done);
                    return;
                }
                self.start_lingering();
                continue;
            }
            if self.stopping && conn.is_idle() {
                conn.phase = Phase::Flushing { linger: true };
                conn.reading = false;
                continue;
            }
            break;
        }
        self.arm_deadline();
    }

    /// The lingering close: our FIN after the last byte, then discard input until the
    /// client's EOF or [`LINGER_TIMEOUT`].
    fn start_lingering(&mut self) {
        if let Err(err) = socket2::SockRef::from(&self.conn.socket).shutdown(Shutdown::Write) {
            self.close(Reason::Lost(err));
            return;
        }
        self.conn.phase = Phase::Lingering;
        self.set_timer(Instant::now() + LINGER_TIMEOUT);
    }

    /// Closes the connection and tells its protocol why. The socket closes when the task
    /// ends, right after.
    fn close(&mut self, reason: Reason) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.waiting = None;
        self.conn.out.clear();
        match &reason {
            Reason::Lost(err) => tracing::debug!("connection lost: {err}"),
            Reason::Done | Reason::Shutdown => tracing::trace!("connection closed"),
        }
        self.conn.protocol.connection_lost(reason);
    }
}

/// Waits for the deferred result, if one is awaited (`None`: its sender was dropped).
async fn deferred_result(waiting: &mut Option<Waiting>) -> Option<Response> {
    match waiting {
        Some(Waiting::Deferred(rx)) => rx.await.ok(),
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
            let shared = Rc::new(Shared {
                read_buf: RefCell::new(vec![0; READ_BUFFER_BYTES].into_boxed_slice()),
                pool,
                timeouts,
            });
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
            // Pipelined requests with a timer, CPU rounds, a 300 kB body (partial writes),
            // an error that closes, and a request left unanswered (lingering close).
            let input = [
                &b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"[..],
                b"GET /work?wait_ms=20&cpu_rounds=100&bytes=300000 HTTP/1.1\r\nHost: a\r\n\r\n",
                b"HEAD /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
            ]
            .concat();
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
    /// `connection` module bounds that at 256 bytes): the task's future, with the
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
            let now = Instant::now();
            let task = Task {
                conn: Connection {
                    socket,
                    phase: Phase::Open,
                    reading: true,
                    paused: false,
                    registered: None,
                    awaiting: 0,
                    out: WriteQueue::new(),
                    protocol: crate::HttpProtocol::new(false),
                    deadline: ReadDeadline::accepted(&wb_sys::Timeouts::default(), now),
                },
                shared: Rc::new(Shared {
                    read_buf: RefCell::new(Box::new([])),
                    pool: None,
                    timeouts: wb_sys::Timeouts::default(),
                }),
                waiting: None,
                reset_timer: None,
                reset_deadline: None,
                armed: None,
                stopping: false,
                closed: false,
            };
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
