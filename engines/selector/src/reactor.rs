//! The event loop (Twisted's reactor): one thread, one `mio::Poll`, every connection.
//!
//! The loop sleeps in `epoll_wait` until something is ready — a connection to accept, bytes to
//! read, room to write, a timer due, a result back from the pool, a signal — does the little
//! there is to do for each, and sleeps again. It never blocks anywhere else, so one thread can
//! serve thousands of sockets; but everything it calls runs on that one thread, so a protocol
//! callback that computes for 100 ms stalls every connection for 100 ms.
//!
//! mio registers sockets edge-triggered (`EPOLLET`): epoll reports a socket once when it
//! becomes ready, not again while it stays ready. So the loop drains — accepts until
//! `WouldBlock`, reads until `WouldBlock` or a short read, writes until `WouldBlock` — or it
//! would never hear of the leftover again. A read that fills less than the buffer has taken
//! everything the kernel held (TCP's `recv` copies all that is queued, up to the buffer's
//! size), and any byte that arrives later is a new edge and a new event; so the loop stops
//! there instead of paying for a second `recv` that can only say `EAGAIN`. nginx does the
//! same (`ngx_unix_recv`), and so does tokio's `AsyncRead`. The one case a short read does
//! not cover is a FIN already reported with the data (`EPOLLRDHUP`): the loop then reads on
//! until it sees the EOF. The one exception is deliberate: a connection whose protocol stops
//! reading leaves its bytes in the kernel, and the loop drops `READABLE` from its interest;
//! adding it back (`EPOLL_CTL_MOD`/`ADD`) makes the kernel re-check the socket and report the
//! bytes already there.
//!
//! The loop decides nothing about a connection itself. It tells the connection what happened
//! (`Connection::readable`, `timer_fired`, ...) and carries out the `Next` step it answers
//! with mio's primitives, in [`Reactor::drive`]; the `on_tokio` adapter carries out the very
//! same steps with tokio's. See the `connection` module.

use std::cell::Cell;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use wb_sys::accept::{AcceptError, WarnLimit};
use wb_sys::syscalls::Call;
use wb_sys::{ACCEPT_BACKOFF, DRAIN_TIMEOUT};

use crate::connection::{Connection, Cx, Next};
use crate::interfaces::{Factory, Reason, Rows, Work};
use crate::pg;
use crate::timers::TimerHeap;

// Tokens name what an event is about. Connections use their slab key as their token; the
// loop's own sources sit at the top of the range, where no slab key will ever reach.
const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const SIGNALS: Token = Token(usize::MAX - 3);

/// The one read buffer every connection reads into. Its contents are handed to
/// `data_received` and forgotten; the session copies only bytes it cannot consume at once. So
/// 10,000 idle connections cost one 64 KiB buffer, not 10,000 of them.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Events taken from the kernel per `epoll_wait`. More ready sockets than this are reported
/// by the next call, which returns at once.
const EVENTS_CAPACITY: usize = 1024;

/// What a timer is for.
#[derive(Debug, Clone, Copy)]
enum TimerKey {
    /// A connection's `call_later` or lingering-close timeout. `id` tells a live timer from a
    /// stale one: the connection may have closed and its slab key been reused since.
    Connection { key: usize, id: u64 },
    /// Accepting was paused after EMFILE/ENFILE.
    ResumeAccept,
    /// The shutdown grace period is over.
    ShutdownDeadline,
}

/// How often the loop looks for connections whose timeout has passed (see
/// [`Reactor::sweep`]): the contract's timeouts are whole seconds, and fire within this of
/// their due time.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// Deferred work finished on a pool thread, on its way back to the loop.
struct Finished {
    key: usize,
    id: u64,
    result: wb_protocol::Response,
}

/// The `--offload` pool and the way back from it: what starting deferred work needs.
struct Offload {
    /// The pool; without it, deferred work runs inline.
    pool: Option<rayon::ThreadPool>,
    /// Pool threads wake the loop with it (an eventfd registered in the same epoll set) after
    /// sending a result down `finished_tx`.
    waker: Arc<Waker>,
    finished_tx: Sender<Finished>,
}

impl Offload {
    /// Runs deferred work on the pool; its result comes back through the channel, and the
    /// waker makes `epoll_wait` return so the loop picks it up.
    fn spawn(&self, key: usize, id: u64, work: Work) {
        let finished = self.finished_tx.clone();
        let waker = Arc::clone(&self.waker);
        let task = move || {
            let result = work();
            if finished.send(Finished { key, id, result }).is_ok()
                && let Err(err) = waker.wake()
            {
                tracing::warn!("cannot wake the loop: {err}");
            }
        };
        match &self.pool {
            Some(pool) => pool.spawn(task),
            // No pool: run it here; the result still arrives on the next turn of the loop.
            None => task(),
        }
    }
}

/// The loop and everything it owns.
pub(crate) struct Reactor<F: Factory> {
    poll: Poll,
    /// `None` once shutting down: dropping it closes the socket, so the kernel refuses new
    /// connections instead of queueing them for a loop that will never accept them.
    listener: Option<TcpListener>,
    signals: Signals,
    factory: F,
    conns: Slab<Connection<F::Protocol>>,
    timers: TimerHeap<TimerKey>,
    /// Source of `Connection::awaiting` ids; never reused, so a stale timer cannot match.
    ids: Cell<u64>,
    read_buf: Box<[u8]>,
    offload: Offload,
    finished_rx: Receiver<Finished>,
    accept_paused: bool,
    /// At most one warning a second about failed accepts.
    accept_warning: WarnLimit,
    stopping: bool,
    stop_now: bool,
    /// The contract's timeouts.
    timeouts: wb_sys::Timeouts,
    /// When [`Reactor::sweep`] next looks for timed-out connections: the earliest deadline
    /// of any connection, but no sooner than [`SWEEP_INTERVAL`] after the last sweep; `None`
    /// while no connection has a deadline (see [`Reactor::due`]).
    next_sweep: Option<Instant>,
    /// When the last sweep ran.
    last_sweep: Instant,
    /// The database pool (`--db-url`, `--db-pool`): its connections are sockets of this loop,
    /// with tokens from [`pg::FIRST_TOKEN`]; a request is keyed by its connection's slab key
    /// and the id it awaits, so a stale answer finds no one.
    database: Option<pg::Pool<(usize, u64)>>,
}

/// Why a query got no rows, as the `503` says it (the loop logs the details).
fn reason(err: &pg::DbError) -> &'static str {
    match err {
        pg::DbError::Timeout { .. } => wb_sys::database::POOL_TIMED_OUT,
        _ => wb_sys::database::QUERY_FAILED,
    }
}

/// A database answer as [`Protocol::rows_received`](crate::Protocol::rows_received) takes
/// it, on either loop: the rows, or the reason its `503` gives (the error itself is logged).
pub(crate) fn rows_of(result: Result<Vec<pg::Row>, pg::DbError>) -> Rows {
    match result {
        Ok(rows) => Ok(rows
            .into_iter()
            .map(|(id, random_number)| wb_protocol::world::WorldRow { id, random_number })
            .collect()),
        Err(err) => {
            tracing::warn!("database query failed: {err}");
            Err(reason(&err))
        }
    }
}

impl<F: Factory> Reactor<F> {
    /// Sets up the poll, registers the listener, the waker and the signal pipe, and lets the
    /// stop signals through: the loop is ready for them.
    pub(crate) fn new(
        listener: std::net::TcpListener,
        factory: F,
        pool: Option<rayon::ThreadPool>,
        timeouts: wb_sys::Timeouts,
        database: Option<(pg::Config, pg::PoolSettings)>,
    ) -> io::Result<Self> {
        let reactor = Self::build(listener, factory, pool, timeouts, database)?;
        wb_sys::signals::unblock_stop_signals()?;
        Ok(reactor)
    }

    /// [`Reactor::new`] but for the signals, which stay blocked: with a loop per core, every
    /// loop registers its signal pipe before any signal may arrive (a signal let through
    /// after the first loop's registration would stop that loop alone).
    pub(crate) fn build(
        listener: std::net::TcpListener,
        factory: F,
        pool: Option<rayon::ThreadPool>,
        timeouts: wb_sys::Timeouts,
        database: Option<(pg::Config, pg::PoolSettings)>,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let database = match database {
            Some((config, settings)) => Some(pg::Pool::new(
                config,
                settings,
                poll.registry(),
                pg::FIRST_TOKEN,
            )?),
            None => None,
        };
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        // signal-hook's handler only writes a byte to a pipe; the pipe's read end is in our
        // epoll set, so a signal is just one more event, handled on the loop thread where it
        // is safe to do anything.
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (finished_tx, finished_rx) = mpsc::channel();
        Ok(Reactor {
            poll,
            listener: Some(listener),
            signals,
            factory,
            conns: Slab::new(),
            timers: TimerHeap::new(),
            ids: Cell::new(0),
            read_buf: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            offload: Offload {
                pool,
                waker,
                finished_tx,
            },
            finished_rx,
            accept_paused: false,
            accept_warning: WarnLimit::default(),
            stopping: false,
            stop_now: false,
            timeouts,
            next_sweep: None,
            last_sweep: Instant::now(),
            database,
        })
    }

    /// Runs until a signal has stopped the server and its connections are done (or the grace
    /// period is over).
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        wb_sys::syscalls::counting();
        loop {
            self.fire_timers();
            if self.stopping && (self.stop_now || self.conns.is_empty()) {
                break;
            }
            let timeout = self.poll_timeout();
            wb_sys::syscalls::count(Call::EpollWait);
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                // EINTR: a signal interrupted epoll_wait. The signal itself arrives as an
                // event on the signal pipe; just poll again.
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            // No events and no timer due is a spurious wake-up (or a timer rounded to the
            // millisecond): the loop goes round and sleeps again.
            let mut accept = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => accept = true,
                    WAKER => self.collect_finished(),
                    SIGNALS => self.on_signals(),
                    token if self.database.as_ref().is_some_and(|db| db.owns(token)) => {
                        self.on_database_event(token, event);
                    }
                    Token(key) => self.on_connection_event(key, event),
                }
            }
            // Accept only after the whole batch: a connection closed while handling this
            // batch frees its slab key, and a connection accepted now could take that key
            // while an event for the closed one is still further down the batch.
            if accept {
                self.accept_all();
            }
        }
        let left: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        if !left.is_empty() {
            tracing::info!(connections = left.len(), "grace period over; closing");
        }
        for key in left {
            self.drive(key, false, |conn, _| conn.close(Reason::Shutdown));
        }
        if let Some(database) = &mut self.database {
            // Terminate on each connection; the requests still waiting have no one to answer.
            drop(database.close());
        }
        Ok(())
    }

    /// One of the database pool's sockets is ready: the pool reads, parses and writes, and
    /// hands back the requests that finished, each to the connection that asked.
    fn on_database_event(&mut self, token: Token, event: &Event) {
        let Some(database) = &mut self.database else {
            return;
        };
        let done = database.on_ready(token, pg::Readiness::from(event));
        self.deliver(done);
    }

    /// Hands finished queries to their connections (a connection that left meanwhile, or whose
    /// slot went to another, finds its id stale: the rows go nowhere).
    fn deliver(&mut self, done: Vec<pg::Completion<(usize, u64)>>) {
        for pg::Completion {
            key: (key, id),
            result,
        } in done
        {
            let rows = rows_of(result);
            self.drive(key, false, move |conn, cx| conn.rows(id, rows, cx));
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                TimerKey::Connection { key, id } => {
                    self.drive(key, false, |conn, cx| conn.timer_fired(id, cx));
                }
                TimerKey::ResumeAccept => {
                    self.accept_paused = false;
                    // Edge-triggered: the connections that waited in the backlog raise no
                    // new event, so accept them now.
                    self.accept_all();
                }
                TimerKey::ShutdownDeadline => self.stop_now = true,
            }
        }
        if self.next_sweep.is_some_and(|at| at <= now) {
            self.sweep(now);
        }
        // The pool's own clock: reconnects, connect and query timeouts, requests that waited
        // too long in its queue, and answers stashed by a submit.
        if let Some(database) = &mut self.database
            && database.next_deadline().is_some_and(|at| at <= now)
        {
            let done = database.tick(now);
            self.deliver(done);
        }
    }

    /// How long `epoll_wait` may sleep: until the next timer, or the next sweep while a
    /// connection has a deadline (an engine with none sleeps until something happens).
    fn poll_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut timer = self.timers.timeout(now);
        if let Some(at) = self.database.as_ref().and_then(pg::Pool::next_deadline) {
            let wait = at.saturating_duration_since(now);
            timer = Some(timer.map_or(wait, |t| t.min(wait)));
        }
        let Some(at) = self.next_sweep else {
            return timer;
        };
        let sweep = at.saturating_duration_since(now);
        Some(timer.map_or(sweep, |t| t.min(sweep)))
    }

    /// Times out every connection whose deadline has passed ([`Connection::expiry`]): the
    /// read deadline while it reads (`--header-timeout` mid-request → 408,
    /// `--keepalive-timeout` idle → close), the send deadline while its queue does not move
    /// ([`Connection::deadline_passed`] says which).
    ///
    /// One walk over the slab, at most every [`SWEEP_INTERVAL`], instead of one timer per
    /// connection (as Redis's `clientsCron` checks its clients' idle time): a timer entry would
    /// cost every idle connection 48 bytes in the heap and the deadline it was armed for, more
    /// than a third of what it costs in all, while the walk costs some 30 ns per connection
    /// (measured with 19,000 idle connections: 0.6 % of a core when it swept ten times a
    /// second; at four, under one 10 ms tick of CPU in 5 s).
    ///
    /// The walk also finds the earliest deadline left, and the loop sleeps until then (or
    /// until a connection's deadline moves sooner: [`Reactor::due`]), not a fixed
    /// [`SWEEP_INTERVAL`]: connections whose deadlines are seconds away do not wake the loop
    /// four times a second. A deadline fires when due, or at most [`SWEEP_INTERVAL`] later
    /// when another sweep has just run.
    fn sweep(&mut self, now: Instant) {
        let send = self.timeouts.send;
        let mut expired = Vec::new();
        let mut earliest: Option<Instant> = None;
        for (key, conn) in &self.conns {
            match conn.expiry(send) {
                Some(at) if at <= now => expired.push(key),
                Some(at) => earliest = Some(earliest.map_or(at, |e| e.min(at))),
                None => {}
            }
        }
        self.last_sweep = now;
        self.next_sweep = None;
        if let Some(at) = earliest {
            self.due(at);
        }
        // Each connection driven here tells `due` of its new deadline, if it keeps one.
        for key in expired {
            self.drive(key, false, |conn, cx| conn.deadline_passed(now, cx));
        }
    }

    /// A connection's deadline is now `at` (it changed, or a sweep found it): the next sweep
    /// comes no later than that, and no sooner than [`SWEEP_INTERVAL`] after the last one.
    fn due(&mut self, at: Instant) {
        let at = at.max(self.last_sweep + SWEEP_INTERVAL);
        self.next_sweep = Some(self.next_sweep.map_or(at, |next| next.min(at)));
    }

    /// Accepts every connection waiting in the backlog.
    fn accept_all(&mut self) {
        while !self.accept_paused {
            let Some(listener) = &self.listener else {
                return;
            };
            let accepting = wb_sys::trace::start_ns();
            wb_sys::syscalls::count(Call::Accept);
            match listener.accept() {
                Ok((socket, peer)) => {
                    // The accept call itself, ended before `connection_made`: on the timeline
                    // the connection's own spans begin after its accept ends.
                    if let Some(began) = accepting {
                        let fd = std::os::fd::AsRawFd::as_raw_fd(&socket) as u64;
                        wb_sys::trace::record(
                            wb_sys::trace::Phase::Accept,
                            fd,
                            began,
                            wb_sys::trace::now_ns(),
                        );
                    }
                    self.open(socket, peer)
                }
                // The backlog is empty. The next connection makes the listener ready again.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) => match wb_sys::accept::classify(&err) {
                    AcceptError::Retry => {}
                    // The client gave up before we accepted it: its problem, not ours.
                    AcceptError::Skip => tracing::debug!("accept: {err}"),
                    AcceptError::BackOff => {
                        // EMFILE/ENFILE (out of descriptors), ENOBUFS/ENOMEM: the kernel keeps
                        // the connection in the backlog, and it keeps the listener ready, so
                        // retrying at once would spin the loop. Pause accepting (a timer), and
                        // keep serving the connections we have: closing some frees descriptors.
                        self.accept_warning.warn_accept_failed(&err);
                        self.accept_paused = true;
                        self.timers
                            .push(Instant::now() + ACCEPT_BACKOFF, TimerKey::ResumeAccept);
                    }
                },
            }
        }
    }

    fn open(&mut self, mut socket: TcpStream, peer: SocketAddr) {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        wb_sys::syscalls::count(Call::EpollCtl);
        // Registered for reading at once: if the client's request is already here, adding the
        // socket to epoll reports it on the next poll.
        if let Err(err) = self
            .poll
            .registry()
            .register(&mut socket, Token(key), Interest::READABLE)
        {
            tracing::debug!(%peer, "cannot register connection: {err}");
            return;
        }
        let mut conn =
            Connection::accepted(socket, self.factory.build_protocol(peer), &self.timeouts);
        conn.registered = Some(Interest::READABLE);
        entry.insert(conn);
        self.drive(key, false, |conn, cx| conn.made(cx));
    }

    fn on_connection_event(&mut self, key: usize, event: &Event) {
        // The key may be free: the connection closed earlier in this batch of events. (It
        // cannot have been reused yet: `run` accepts only after the batch.)
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        if event.is_error() {
            // EPOLLERR: typically a reset. Nothing queued can be delivered any more.
            let err = match conn.socket.take_error() {
                Ok(Some(err)) | Err(err) => err,
                Ok(None) => io::Error::other("socket error"),
            };
            self.drive(key, false, |conn, _| conn.close(Reason::Lost(err)));
            return;
        }
        if event.is_readable() || event.is_read_closed() {
            // Reads until `WouldBlock` or a short read (edge-triggered: no new event would
            // come for bytes left behind, and a short read left none), until the protocol
            // stops reading, or until EOF. A FIN reported with the event is not consumed by a
            // short read: then the connection reads on to the EOF.
            let fin = event.is_read_closed();
            self.drive(key, fin, |conn, cx| conn.readable(cx));
        }
        if event.is_writable() || event.is_write_closed() {
            self.drive(key, false, |conn, cx| conn.writable(cx));
        }
    }

    /// Carries out what connection `key` decides after `event`, one [`Next`] at a time, with
    /// this loop's primitives: `read` into the one shared buffer, `writev`, `shutdown`, an
    /// entry in the timer heap, a job for the pool, an `epoll_ctl` when the interest changed.
    /// Every decision is the connection's ([`connection`]); this is only the hands.
    fn drive(
        &mut self,
        key: usize,
        fin: bool,
        event: impl FnOnce(&mut Connection<F::Protocol>, &mut Cx<'_>) -> Next,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let mut cx = Cx::new(&self.timeouts, self.stopping, fin, &self.ids);
        let mut next = event(conn, &mut cx);
        loop {
            next = match next {
                Next::Read => conn.read(&mut self.read_buf, &mut cx, |socket, buf| {
                    wb_sys::syscalls::count(Call::Read);
                    socket.read(buf)
                }),
                Next::Write => {
                    conn.write(&mut cx, |out, socket| out.write_to(&mut Counted(socket)))
                }
                Next::ShutDown => conn.shut_down(&mut cx, |socket| {
                    wb_sys::syscalls::count(Call::Shutdown);
                    socket.shutdown(Shutdown::Write)
                }),
                Next::Timer { at, id } => {
                    self.timers.push(at, TimerKey::Connection { key, id });
                    conn.settle(&mut cx)
                }
                Next::Defer { work, id } => {
                    self.offload.spawn(key, id, work);
                    conn.settle(&mut cx)
                }
                Next::Query { ids, id } => match &mut self.database {
                    // Queued (or written at once, if a connection is idle); the answer comes
                    // back as an event on the pool's socket.
                    Some(database) => match database.submit((key, id), ids) {
                        Ok(()) => conn.settle(&mut cx),
                        Err(refused) => {
                            tracing::warn!("database request refused: {refused}");
                            conn.rows(id, Err(wb_sys::database::QUERY_FAILED), &mut cx)
                        }
                    },
                    None => conn.rows(id, Err(wb_sys::database::NO_DATABASE), &mut cx),
                },
                Next::Wait => match fit_interest(self.poll.registry(), Token(key), conn) {
                    Ok(()) => {
                        if let Some(at) = conn.expiry(self.timeouts.send) {
                            self.due(at);
                        }
                        return;
                    }
                    Err(err) => conn.close(Reason::Lost(err)),
                },
                Next::Close => break,
            };
        }
        // Closing the descriptor also removes it from the epoll set (we never dup() it), so
        // there is no deregister call to make.
        wb_sys::syscalls::count(Call::Close);
        self.conns.remove(key);
    }

    fn collect_finished(&mut self) {
        // One wake-up may stand for several results, and a result may have been taken on an
        // earlier wake-up: drain the channel, whatever its length. A result for a connection
        // that left while its work ran goes nowhere.
        while let Ok(Finished { key, id, result }) = self.finished_rx.try_recv() {
            self.drive(key, false, move |conn, cx| conn.deferred(id, result, cx));
        }
    }

    fn on_signals(&mut self) {
        let count = self.signals.pending().count();
        if count == 0 {
            return; // Spurious: the pipe was already drained.
        }
        if self.stopping {
            tracing::info!("second signal: stopping now");
            self.stop_now = true;
            return;
        }
        tracing::info!("signal received: no new connections; finishing work in progress");
        self.stopping = true;
        if let Some(mut listener) = self.listener.take()
            && let Err(err) = self.poll.registry().deregister(&mut listener)
        {
            tracing::debug!("deregister listener: {err}");
        }
        self.timers
            .push(Instant::now() + DRAIN_TIMEOUT, TimerKey::ShutdownDeadline);
        // Idle connections close at once; the others when their work is done.
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.drive(key, false, |conn, cx| conn.stop(cx));
        }
    }
}

/// A socket whose writes are counted ([`wb_sys::syscalls`]): one `writev` per call.
struct Counted<'a>(&'a mut TcpStream);

impl io::Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        wb_sys::syscalls::count(Call::Write);
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        wb_sys::syscalls::count(Call::Write);
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Tells epoll what connection `token` now waits for ([`Connection::interest`]), if that
/// changed, or asks again if the connection reads after a pause ([`Connection::rearm`]): the
/// same interest, re-armed, reports what arrived while it did not read.
fn fit_interest<P>(registry: &Registry, token: Token, conn: &mut Connection<P>) -> io::Result<()> {
    let wanted = conn.interest();
    let rearm = std::mem::take(&mut conn.rearm);
    if wanted == conn.registered && !rearm {
        return Ok(()); // The common case: no system call.
    }
    if (conn.registered, wanted) != (None, None) {
        wb_sys::syscalls::count(Call::EpollCtl);
    }
    match (conn.registered, wanted) {
        (None, Some(interest)) => registry.register(&mut conn.socket, token, interest)?,
        (Some(_), Some(interest)) => registry.reregister(&mut conn.socket, token, interest)?,
        // mio has no empty interest: a connection that waits on a timer or the pool leaves
        // the epoll set, and the loop hears nothing of it until it asks again.
        (Some(_), None) => registry.deregister(&mut conn.socket)?,
        (None, None) => {}
    }
    conn.registered = wanted;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpFactory;
    use std::time::Duration;
    use wb_protocol::date::masked;

    /// The real loop over real sockets on 127.0.0.1, stopped by a real SIGTERM. One test
    /// function on purpose: the signal goes to the whole test process.
    #[test]
    fn the_loop_serves_sockets_and_stops_on_sigterm() {
        use std::io::{Read, Write};
        use std::net::TcpStream as Client;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let reactor = Reactor::new(
            listener,
            HttpFactory { offload: true },
            Some(pool),
            wb_sys::Timeouts::default(),
            None,
        )
        .unwrap();
        let server = std::thread::spawn(move || reactor.run());
        let connect = || {
            let client = Client::connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            client
        };

        let input = crate::connection::PIPELINED.concat();
        let mut client = connect();
        client.write_all(&input).unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap(); // The server closes after the 404.
        assert!(
            masked(&answer) == masked(&wb_protocol::respond_all(&input)),
            "answers differ"
        );
        drop(client); // Our EOF ends the server's lingering close.

        // A client that leaves in the middle of a 10 MiB response...
        let mut client = connect();
        client
            .write_all(b"GET /work?bytes=10485760 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        client.read_exact(&mut [0; 1000]).unwrap();
        drop(client);
        // ...leaves the loop serving others.
        let mut client = connect();
        client
            .write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
        drop(client);

        // An idle keep-alive connection is closed at once on SIGTERM, and the loop returns.
        let mut idle = connect();
        idle.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let expected = wb_protocol::respond_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        let mut answer = vec![0; expected.len()];
        idle.read_exact(&mut answer).unwrap();
        // SAFETY: kill() with our own pid only sends a signal. Reactor::new registered a
        // handler for SIGTERM, so the signal is written to the loop's pipe instead of ending
        // the test process.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
        server.join().unwrap().unwrap();
        assert_eq!(idle.read(&mut [0; 10]).unwrap(), 0, "closed by the server");
    }
}
