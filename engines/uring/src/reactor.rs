//! The loop: one ring, one slab of connections, every operation a submission and every
//! result a completion.
//!
//! Each turn of the loop makes one `io_uring_enter`: it submits what the last turn queued and
//! waits for at least one completion. Then it reaps every completion there is and acts on
//! each, which queues the next operations. A completion carries the `user_data` its
//! operation was submitted with: here the connection's slab key and what the operation was
//! ([`Op`]).
//!
//! A connection's slot is freed only when no operation of it is still in the kernel
//! (`inflight`): the kernel may write the buffers and read the `iovec`s an operation names
//! until its completion comes, and a completion for a freed, reused slot would land on a
//! stranger. Closing a connection therefore cancels what it has in flight (one
//! `IORING_OP_ASYNC_CANCEL` for every operation on its descriptor, and a timeout removal for
//! its wait), and the slot goes when the last completion is in.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use io_uring::types::{CancelBuilder, Fd, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use slab::Slab;
use wb_protocol::{Event, Job, Response, Session};
use wb_sys::accept::{AcceptError, WarnLimit};
use wb_sys::syscalls::{self, Call};
use wb_sys::timeouts::ReadDeadline;
use wb_sys::trace::{self, Phase};
use wb_sys::{ACCEPT_BACKOFF, DRAIN_TIMEOUT, LINGER_TIMEOUT};

use crate::buffers::{self, BUFFER_BYTES, BufRing};

/// Submission queue entries. The completion queue is twice as long, and a kernel with
/// `IORING_FEAT_NODROP` (every kernel since 5.5) keeps completions that do not fit until
/// the loop has room.
const RING_ENTRIES: u32 = 1024;

/// Whether the listener gets one multishot accept (`IORING_ACCEPT_MULTISHOT`: posted once,
/// a completion for every connection) or one plain accept at a time, posted again with each
/// completion.
///
/// Plain, and here is why. The kernel reads the open-files limit (`RLIMIT_NOFILE`) when it
/// prepares an accept (`io_accept_prep`), not when the accept takes a connection: a multishot
/// accept posted at start goes on accepting past a limit lowered later, where `accept4` and
/// every other engine stop with `EMFILE` and back off (the faults suite lowers the limit of a
/// running engine and checks that the engine keeps within it). A plain accept is prepared
/// again for each connection and sees the limit of the moment. It costs one submission per
/// connection, which rides on the `io_uring_enter` the loop makes anyway: no system call
/// more. Set this to `true` to see the other behaviour.
const MULTISHOT_ACCEPT: bool = false;

/// How long the stop waits for the database connections' cancelled operations to complete.
const DATABASE_CLOSE: Duration = Duration::from_secs(1);

/// What an operation was, in the low byte of its `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Op {
    /// A connection's receive (from the provided buffers).
    Recv = 1,
    /// The timeout linked to it: header, keep-alive or linger.
    RecvTimeout,
    /// A connection's `sendmsg` of its answer's next bytes.
    Send,
    /// The send timeout linked to it.
    SendTimeout,
    /// A job's wait (the "database").
    Wait,
    /// The poll that watches for a hang-up while the job waits.
    Watch,
    /// A cancellation or timeout removal we asked for.
    Cancel,
    /// The accept (the loop's, not a connection's).
    Accept,
    /// A read of the signal pipe.
    Signal,
    /// The pause after an accept error such as `EMFILE`.
    Backoff,
    /// The end of the stop's grace.
    Drain,
    /// A rest before the next receive of a request that trickles in
    /// ([`wb_protocol::Session::read_pause`]): no receive is posted meanwhile, so the bytes
    /// pile up in the kernel and nothing completes for them.
    Rest,
    /// A database connection's connect (its key: the connection's in [`crate::database`]).
    DbConnect,
    /// A database connection's send of the bytes its conversation queued.
    DbSend,
    /// A database connection's receive into its own buffer.
    DbRecv,
    /// The cancellation of a database connection's operations, when it is given up.
    DbCancel,
    /// The database pool's timer (its key: the timer's serial): reconnects, connect, query and
    /// queue timeouts.
    DbTimer,
    /// A bound on a wait of the loop's own (closing the database pool): does nothing.
    Wake,
}

impl Op {
    const ALL: [Op; 18] = [
        Op::Recv,
        Op::RecvTimeout,
        Op::Send,
        Op::SendTimeout,
        Op::Wait,
        Op::Watch,
        Op::Cancel,
        Op::Accept,
        Op::Signal,
        Op::Backoff,
        Op::Drain,
        Op::Rest,
        Op::DbConnect,
        Op::DbSend,
        Op::DbRecv,
        Op::DbCancel,
        Op::DbTimer,
        Op::Wake,
    ];

    /// Whether the operation is the database pool's ([`crate::database`]).
    fn is_database(self) -> bool {
        matches!(
            self,
            Op::DbConnect | Op::DbSend | Op::DbRecv | Op::DbCancel | Op::DbTimer
        )
    }
}

/// The key of the loop's own operations: no slab key reaches it.
const LOOP: usize = u32::MAX as usize;

pub(crate) fn user_data(key: usize, op: Op) -> u64 {
    ((key as u64) << 8) | op as u64
}

pub(crate) fn split(user_data: u64) -> (usize, Option<Op>) {
    let op = (user_data & 0xff) as u8;
    (
        (user_data >> 8) as usize,
        Op::ALL.into_iter().find(|o| *o as u8 == op),
    )
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A receive is posted: the session needs bytes.
    Reading,
    /// A job waits on a ring timeout.
    Waiting,
    /// An answer is being sent.
    Sending,
    /// The answer closed the connection: our FIN is out, input is read and dropped until
    /// the client's EOF or the linger timeout.
    Lingering,
}

/// An answer in flight: the response, and the `msghdr` and `iovec`s the kernel reads until
/// the send completes. Boxed so that their addresses hold while the slab moves; only a
/// connection that is sending pays for it.
struct Outgoing {
    response: Response,
    iov: [libc::iovec; 2],
    msg: libc::msghdr,
    /// When the send was submitted, for the trace.
    began: Option<u64>,
}

/// A job waiting on its timeout or on its rows, and when the wait began (for the trace).
struct Waiting {
    job: Job,
    began: Option<u64>,
    /// The database request it waits for (`/db`, `/queries`), or `None` for a ring timeout
    /// (`Op::Wait`). Rows whose ticket is not this one were asked for by a connection that
    /// has left: they find no one.
    ticket: Option<u64>,
}

/// One connection: all an idle one costs, but for the kernel's side of its posted receive.
struct Conn {
    fd: OwnedFd,
    session: Session,
    /// The read deadline (header or keep-alive timeout); while lingering, the linger's end.
    deadline: ReadDeadline,
    state: State,
    /// Operations submitted whose completion has not come.
    inflight: u8,
    /// Being closed: the slot goes when `inflight` is 0.
    closing: bool,
    /// The answer being sent closes the connection.
    closes: bool,
    /// The hang-up poll is posted.
    watching: bool,
    job: Option<Box<Waiting>>,
    out: Option<Box<Outgoing>>,
}

/// The bytes of one connection's slot: `--describe`'s figure.
pub(crate) fn connection_bytes() -> usize {
    size_of::<Conn>() + Session::new().heap_bytes()
}

/// The submission side of the ring, and the timespecs its queued entries point to: what the
/// loop and the database pool both need to post operations.
pub(crate) struct Sq {
    pub(crate) ring: IoUring,
    /// Timespecs of the operations queued since the last submission: the kernel copies them
    /// when it takes the entry, so they live until then. Never grows past its capacity (the
    /// queue is submitted first), so the addresses hold.
    times: Vec<Timespec>,
}

impl Sq {
    /// The submission side of `ring`, with room for a timespec per entry.
    pub(crate) fn new(ring: IoUring) -> Sq {
        let times = Vec::with_capacity(ring.params().sq_entries() as usize);
        Sq { ring, times }
    }

    /// Makes room for `entries` more submissions (and their timespecs), submitting what is
    /// queued if there is not.
    pub(crate) fn room(&mut self, entries: usize) {
        let queued = self.ring.submission().len();
        let full = queued + entries > self.ring.submission().capacity()
            || self.times.len() + entries > self.times.capacity();
        if full {
            syscalls::count(Call::UringEnter);
            if let Err(err) = self.ring.submit() {
                tracing::warn!("io_uring_enter: {err}");
            }
            self.forget_times();
        }
    }

    /// The timespecs can go once the kernel has taken every queued entry.
    pub(crate) fn forget_times(&mut self) {
        if self.ring.submission().is_empty() {
            self.times.clear();
        }
    }

    /// A timespec of `duration` that lives until the kernel took the entry that points to it.
    pub(crate) fn timespec(&mut self, duration: Duration) -> *const Timespec {
        assert!(self.times.len() < self.times.capacity(), "room() first");
        self.times.push(
            Timespec::new()
                .sec(duration.as_secs())
                .nsec(duration.subsec_nanos()),
        );
        self.times.last().expect("just pushed")
    }

    /// Queues `entry`; [`Sq::room`] first.
    pub(crate) fn push(&mut self, entry: squeue::Entry) {
        // SAFETY: every pointer an entry holds outlives the operation: buffers are the
        // provided ring's (never freed), `msghdr`s and `iovec`s are boxed in their connection
        // until its last completion, a database connection's receive buffer, send bytes and
        // address are boxed in it until its last completion, timespecs stay in `times` until
        // the kernel took them, the signal buffer is the loop's. `room()` made space.
        if unsafe { self.ring.submission().push(&entry) }.is_err() {
            unreachable!("room() made space in the submission queue");
        }
    }
}

/// The loop and all it owns. The ring comes first, so it is dropped (and its operations
/// cancelled) before anything they point to.
pub(crate) struct Reactor {
    sq: Sq,
    bufs: BufRing,
    /// `None` once stopping.
    listener: Option<TcpListener>,
    conns: Slab<Conn>,
    timeouts: wb_sys::Timeouts,
    /// The read end of signal-hook's pipe for SIGINT and SIGTERM, and a buffer for its bytes.
    signals: UnixStream,
    signal_buf: Box<[u8; 16]>,
    /// The database pool (`--db-url`, `--db-pool`): its connections' operations are on this
    /// ring, their completions routed here by their [`Op`].
    database: Option<crate::database::RingPool>,
    /// The ticket of the next database request: a connection's slab key and this serial name
    /// the request, so rows for a connection that left find no one.
    next_ticket: u64,
    /// Completions reaped this turn: (user_data, result, flags).
    reaped: Vec<(u64, i32, u32)>,
    /// Connections whose receive found no free buffer (`ENOBUFS`): posted again next turn.
    starved: Vec<usize>,
    accepting: bool,
    backing_off: bool,
    accept_warning: WarnLimit,
    stopping: bool,
    stop_now: bool,
}

impl Reactor {
    /// Sets up the ring (one issuer, task work deferred to our `io_uring_enter`, where the
    /// kernel allows it), the provided buffers and the signal pipe; lets the stop signals
    /// through.
    pub(crate) fn new(
        listener: TcpListener,
        timeouts: wb_sys::Timeouts,
        database: Option<(wb_pg::Config, wb_pg::PoolSettings)>,
    ) -> io::Result<Reactor> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(RING_ENTRIES)
            .or_else(|_| IoUring::new(RING_ENTRIES))
            .map_err(|err| io::Error::new(err.kind(), wb_sys::uring::unavailable(&err)))?;
        let bufs = BufRing::new(&ring)?;
        let (signals, notify) = UnixStream::pair()?;
        for signal in wb_sys::signals::STOP_SIGNALS {
            signal_hook::low_level::pipe::register(signal, notify.try_clone()?)?;
        }
        let mut sq = Sq::new(ring);
        let database = match database {
            Some((config, settings)) => {
                Some(crate::database::RingPool::new(config, settings, &mut sq)?)
            }
            None => None,
        };
        wb_sys::signals::unblock_stop_signals()?;
        Ok(Reactor {
            sq,
            bufs,
            listener: Some(listener),
            conns: Slab::new(),
            timeouts,
            signals,
            signal_buf: Box::new([0; 16]),
            database,
            next_ticket: 0,
            reaped: Vec::with_capacity(2 * RING_ENTRIES as usize),
            starved: Vec::new(),
            accepting: false,
            backing_off: false,
            accept_warning: WarnLimit::default(),
            stopping: false,
            stop_now: false,
        })
    }

    /// Runs until a signal has stopped the server and its connections are done (or the
    /// grace is over).
    pub(crate) fn run(mut self) -> io::Result<()> {
        syscalls::counting();
        self.arm_accept();
        self.arm_signal();
        loop {
            if self.stopping && (self.stop_now || self.conns.is_empty()) {
                break;
            }
            for key in std::mem::take(&mut self.starved) {
                if self.conns.get(key).is_some_and(|c| {
                    !c.closing && matches!(c.state, State::Reading | State::Lingering)
                }) {
                    self.post_recv(key);
                }
            }
            self.turn()?;
            self.deliver_rows();
        }
        if !self.conns.is_empty() {
            tracing::info!(connections = self.conns.len(), "grace period over; closing");
        }
        self.close_database()?;
        // The kernel may still read an answer in flight while the ring is torn down: leave
        // those to the process's exit rather than free them under it.
        for (_, conn) in &mut self.conns {
            std::mem::forget(conn.out.take());
        }
        Ok(())
    }

    /// One `io_uring_enter`: submits what is queued, waits for a completion, and acts on
    /// every completion there is.
    fn turn(&mut self) -> io::Result<()> {
        syscalls::count(Call::UringEnter);
        match self.sq.ring.submit_and_wait(1) {
            Ok(_) => {}
            // A signal (its byte is in the pipe, read by a ring operation) or a full
            // completion queue: reap, and go round.
            Err(err) if matches!(err.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(err) => return Err(err),
        }
        self.sq.forget_times();
        self.reaped.extend(
            self.sq
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let mut reaped = std::mem::take(&mut self.reaped);
        for (data, result, flags) in reaped.drain(..) {
            self.complete(data, result, flags);
        }
        self.reaped = reaped;
        Ok(())
    }

    /// Closes the database pool: Terminate on each connection, its posted receive (and
    /// anything else) cancelled, and a wait of at most [`DATABASE_CLOSE`] for those
    /// cancellations to complete, so that no buffer of theirs is still the kernel's when it
    /// is freed. Requests still waiting have no one to answer.
    fn close_database(&mut self) -> io::Result<()> {
        let Some(database) = &mut self.database else {
            return Ok(());
        };
        drop(database.close(&mut self.sq));
        let give_up = Instant::now() + DATABASE_CLOSE;
        while self.database.as_ref().is_some_and(|db| !db.is_drained()) && Instant::now() < give_up
        {
            self.after(Duration::from_millis(100), user_data(LOOP, Op::Wake));
            self.turn()?;
        }
        if let Some(database) = self.database.take()
            && !database.is_drained()
        {
            // A cancellation that did not complete: leave its buffers, like the answers
            // above, to the process's exit.
            tracing::warn!("database connections still busy in the kernel at exit");
            std::mem::forget(database);
        }
        Ok(())
    }

    /// Acts on one completion.
    fn complete(&mut self, data: u64, result: i32, flags: u32) {
        let (key, op) = split(data);
        let Some(op) = op else {
            tracing::warn!(data, "a completion for no operation of ours");
            return;
        };
        if op.is_database() {
            if let Some(database) = &mut self.database {
                database.complete(&mut self.sq, key, op, result);
            }
            return;
        }
        if key == LOOP {
            match op {
                Op::Accept => self.accepted(result, flags),
                Op::Signal => self.signalled(result),
                Op::Backoff => {
                    self.backing_off = false;
                    self.arm_accept();
                }
                Op::Drain => self.stop_now = true,
                _ => {}
            }
            return;
        }
        let Some(conn) = self.conns.get_mut(key) else {
            tracing::warn!(key, ?op, "a completion for a freed connection");
            return;
        };
        conn.inflight -= 1;
        if conn.closing {
            if let Some(bid) = cqueue::buffer_select(flags) {
                self.bufs.give_back(bid);
            }
            self.maybe_free(key);
            return;
        }
        match op {
            Op::Recv => self.received(key, result, flags),
            Op::Send => self.sent(key, result),
            Op::Wait => self.waited(key),
            Op::Watch => self.watched(key, result),
            Op::Rest => self.post_recv(key),
            // Linked timeouts and cancellations: their effect shows on the operation they
            // cut short.
            _ => {}
        }
    }

    // ---- the loop's own operations ----

    /// Posts the accept: one at a time, posted again with each completion (see
    /// [`MULTISHOT_ACCEPT`]).
    fn arm_accept(&mut self) {
        if self.accepting || self.backing_off || self.stopping {
            return;
        }
        let Some(listener) = &self.listener else {
            return;
        };
        let fd = Fd(listener.as_raw_fd());
        let entry = if MULTISHOT_ACCEPT {
            opcode::AcceptMulti::new(fd)
                .flags(libc::SOCK_CLOEXEC)
                .build()
        } else {
            opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
                .flags(libc::SOCK_CLOEXEC)
                .build()
        }
        .user_data(user_data(LOOP, Op::Accept));
        self.room(1);
        self.push(entry);
        self.accepting = true;
    }

    fn accepted(&mut self, result: i32, flags: u32) {
        if !cqueue::more(flags) {
            // The accept has ended (a plain one always does; a multishot one on an error or
            // our cancellation): post it again below, unless stopping or backing off.
            self.accepting = false;
        }
        if result >= 0 {
            // SAFETY: a completed accept returns a new descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(result) };
            if self.stopping {
                syscalls::count(Call::Close);
                drop(fd);
            } else {
                self.open(fd);
            }
        } else if result != -libc::ECANCELED {
            let err = io::Error::from_raw_os_error(-result);
            match wb_sys::accept::classify(&err) {
                AcceptError::Retry => {}
                AcceptError::Skip => tracing::debug!("accept: {err}"),
                AcceptError::BackOff => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays in the backlog.
                    // Pause accepting for a while (a ring timeout), keep serving.
                    self.accept_warning.warn_accept_failed(&err);
                    if self.accepting {
                        self.cancel(LOOP, user_data(LOOP, Op::Accept));
                    }
                    self.backing_off = true;
                    self.after(ACCEPT_BACKOFF, user_data(LOOP, Op::Backoff));
                }
            }
        }
        self.arm_accept();
    }

    fn arm_signal(&mut self) {
        let entry = opcode::Read::new(
            Fd(self.signals.as_raw_fd()),
            self.signal_buf.as_mut_ptr(),
            self.signal_buf.len() as u32,
        )
        .build()
        .user_data(user_data(LOOP, Op::Signal));
        self.room(1);
        self.push(entry);
    }

    fn signalled(&mut self, result: i32) {
        for _ in 0..result.max(0) {
            if self.stopping {
                tracing::info!("second signal: stopping now");
                self.stop_now = true;
                return;
            }
            tracing::info!("signal received: no new connections; finishing work in progress");
            self.stopping = true;
            if self.accepting {
                self.cancel(LOOP, user_data(LOOP, Op::Accept));
            }
            // Closing the listener makes the kernel refuse new connections (the ring keeps
            // its own reference until the cancelled accept completes).
            self.listener = None;
            self.after(DRAIN_TIMEOUT, user_data(LOOP, Op::Drain));
            // Idle connections (and those still receiving a request) close at once; the
            // others when their answer is out.
            let reading: Vec<usize> = self
                .conns
                .iter()
                .filter(|(_, c)| c.state == State::Reading)
                .map(|(key, _)| key)
                .collect();
            for key in reading {
                self.close(key);
            }
        }
        self.arm_signal();
    }

    // ---- connections ----

    fn open(&mut self, fd: OwnedFd) {
        let key = self.conns.insert(Conn {
            fd,
            session: Session::new(),
            deadline: ReadDeadline::accepted(&self.timeouts, Instant::now()),
            state: State::Reading,
            inflight: 0,
            closing: false,
            closes: false,
            watching: false,
            job: None,
            out: None,
        });
        self.advance(key);
    }

    /// Asks the session what comes next, and starts it.
    fn advance(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        match conn.session.next_event() {
            Event::Job(mut job) => {
                job.begin();
                conn.closes = job.closes();
                if let Some(ids) = job.world_ids() {
                    // `/db` and `/queries`: the query joins the pool's queue (or goes at once
                    // to an idle connection); the rows come back as completions of the pool's
                    // receives, and meanwhile the connection waits as on a timeout.
                    let ticket = self.next_ticket;
                    let refused = match &mut self.database {
                        None => Some(wb_sys::database::NO_DATABASE),
                        Some(database) => {
                            match database.submit(&mut self.sq, (key, ticket), ids.to_vec()) {
                                Ok(()) => None,
                                Err(refused) => {
                                    tracing::warn!("database request refused: {refused}");
                                    Some(wb_sys::database::QUERY_FAILED)
                                }
                            }
                        }
                    };
                    match refused {
                        Some(reason) => job.database_failed(reason),
                        None => {
                            self.next_ticket += 1;
                            self.wait_for(key, job, None, Some(ticket));
                            return;
                        }
                    }
                }
                let wait = job.wait();
                if wait.is_zero() {
                    let fd = conn.fd.as_raw_fd();
                    let response = trace::traced(Phase::Compute, fd as u64, || job.respond());
                    self.send(key, response);
                } else {
                    self.wait_for(key, job, Some(wait), None);
                }
            }
            Event::NeedData if self.stopping => self.close(key),
            Event::NeedData => {
                conn.state = State::Reading;
                match conn.session.read_pause() {
                    // The request trickles in a byte per segment: rest (a ring timeout), and
                    // let it pile up in the kernel for one receive, not one per byte.
                    Some(rest) => {
                        let rest = rest.min(conn.deadline.remaining(Instant::now()));
                        conn.inflight += 1;
                        self.room(1);
                        let at = self.timespec(rest);
                        self.push(
                            opcode::Timeout::new(at)
                                .build()
                                .user_data(user_data(key, Op::Rest)),
                        );
                    }
                    None => self.post_recv(key),
                }
            }
            Event::Closed => self.close(key),
        }
    }

    /// Makes connection `key` wait for its job: a ring timeout of `wait`, or the database
    /// request `ticket`; beside it, a poll for the client's hang-up.
    fn wait_for(&mut self, key: usize, job: Job, wait: Option<Duration>, ticket: Option<u64>) {
        let conn = &mut self.conns[key];
        conn.state = State::Waiting;
        conn.job = Some(Box::new(Waiting {
            job,
            began: trace::start_ns(),
            ticket,
        }));
        conn.watching = true;
        conn.inflight += 1;
        let fd = conn.fd.as_raw_fd();
        self.room(2);
        if let Some(wait) = wait {
            self.conns[key].inflight += 1;
            let at = self.timespec(wait);
            self.push(
                opcode::Timeout::new(at)
                    .build()
                    .user_data(user_data(key, Op::Wait)),
            );
        }
        self.push(
            opcode::PollAdd::new(Fd(fd), libc::POLLRDHUP as u32)
                .build()
                .user_data(user_data(key, Op::Watch)),
        );
    }

    /// Hands the database pool's finished requests to the connections that asked (a
    /// connection that left meanwhile, or whose slot went to another, finds no one waiting
    /// with that ticket: the rows go nowhere). Answering may submit more (a pipelined
    /// request behind): those that finish at once are handed out in the same call.
    fn deliver_rows(&mut self) {
        loop {
            let done = match &mut self.database {
                Some(database) => database.take_done(),
                None => return,
            };
            if done.is_empty() {
                return;
            }
            for wb_pg::Completion {
                key: (key, ticket),
                result,
            } in done
            {
                let Some(conn) = self.conns.get_mut(key) else {
                    continue;
                };
                if conn.closing || conn.state != State::Waiting {
                    continue;
                }
                let Some(mut waiting) = conn.job.take_if(|w| w.ticket == Some(ticket)) else {
                    continue;
                };
                match result {
                    Ok(rows) => waiting.job.give_rows(
                        rows.into_iter()
                            .map(|(id, random_number)| wb_protocol::world::WorldRow {
                                id,
                                random_number,
                            })
                            .collect(),
                    ),
                    Err(err) => {
                        tracing::warn!("database query failed: {err}");
                        waiting.job.database_failed(match err {
                            wb_pg::DbError::Timeout { .. } => wb_sys::database::POOL_TIMED_OUT,
                            _ => wb_sys::database::QUERY_FAILED,
                        });
                    }
                }
                self.answer(key, waiting.job, waiting.began);
            }
        }
    }

    /// Posts a receive from the provided buffers, linked to the time left before the read
    /// deadline (or the linger's end).
    fn post_recv(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        let left = conn.deadline.remaining(Instant::now());
        if left.is_zero() {
            self.read_timed_out(key);
            return;
        }
        conn.inflight += 2;
        let fd = conn.fd.as_raw_fd();
        self.room(2);
        let left = self.timespec(left);
        self.push(
            opcode::Recv::new(Fd(fd), std::ptr::null_mut(), BUFFER_BYTES as u32)
                .buf_group(buffers::GROUP)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT | squeue::Flags::IO_LINK)
                .user_data(user_data(key, Op::Recv)),
        );
        self.push(
            opcode::LinkTimeout::new(left)
                .build()
                .user_data(user_data(key, Op::RecvTimeout)),
        );
    }

    fn received(&mut self, key: usize, result: i32, flags: u32) {
        let bid = cqueue::buffer_select(flags);
        if result > 0 {
            let Some(bid) = bid else {
                tracing::warn!("a receive completed without a buffer");
                self.close(key);
                return;
            };
            let conn = &mut self.conns[key];
            if conn.state == State::Lingering {
                // Read and dropped, as the lingering close promises.
                self.bufs.give_back(bid);
                self.post_recv(key);
                return;
            }
            {
                let _reading = trace::span(Phase::Read, conn.fd.as_raw_fd() as u64);
                conn.session
                    .receive_data(self.bufs.bytes(bid, result as usize));
            }
            self.bufs.give_back(bid);
            conn.deadline.received(&self.timeouts, Instant::now());
            self.advance(key);
            return;
        }
        if let Some(bid) = bid {
            self.bufs.give_back(bid);
        }
        match -result {
            // EOF: the client is done (everything it sent before has been answered: a receive
            // is posted only when the session has no complete request left).
            0 => self.close(key),
            // The linked timeout fired and cancelled the receive.
            libc::ECANCELED => self.read_timed_out(key),
            // Every buffer was out: post it again next turn.
            libc::ENOBUFS => self.starved.push(key),
            libc::EINTR | libc::EAGAIN => self.post_recv(key),
            _ => self.close(key),
        }
    }

    /// The read deadline passed: a request half-received gets its `408`; an idle
    /// connection, or a lingering one, is closed.
    fn read_timed_out(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if conn.state == State::Lingering {
            self.close(key);
            return;
        }
        match conn.session.time_out() {
            Some(job) => {
                conn.closes = true;
                self.send(key, job.respond());
            }
            None => self.close(key),
        }
    }

    /// Starts sending `response`.
    fn send(&mut self, key: usize, response: Response) {
        let conn = &mut self.conns[key];
        conn.state = State::Sending;
        // SAFETY: an all-zero msghdr is a valid empty one (null pointers, zero lengths).
        let msg: libc::msghdr = unsafe { std::mem::zeroed() };
        conn.out = Some(Box::new(Outgoing {
            response,
            iov: [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; 2],
            msg,
            began: None,
        }));
        self.post_send(key);
    }

    /// Posts a `sendmsg` of the answer's next bytes (its head, then the next chunk of the
    /// body), linked to the send timeout.
    fn post_send(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        let out = conn.out.as_mut().expect("an answer to send");
        for (iov, part) in out.iov.iter_mut().zip(out.response.slices()) {
            iov.iov_base = part.as_ptr().cast_mut().cast();
            iov.iov_len = part.len();
        }
        out.msg.msg_iov = out.iov.as_mut_ptr();
        out.msg.msg_iovlen = out.iov.len();
        out.began = trace::start_ns();
        let msg = &raw const out.msg;
        conn.inflight += 2;
        let fd = conn.fd.as_raw_fd();
        self.room(2);
        let limit = self.timespec(self.timeouts.send);
        self.push(
            opcode::SendMsg::new(Fd(fd), msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data(user_data(key, Op::Send)),
        );
        self.push(
            opcode::LinkTimeout::new(limit)
                .build()
                .user_data(user_data(key, Op::SendTimeout)),
        );
    }

    fn sent(&mut self, key: usize, result: i32) {
        if result <= 0 {
            // A reset or broken pipe (the client is gone), or ECANCELED: the send timeout
            // passed with nothing taken.
            self.close(key);
            return;
        }
        let conn = &mut self.conns[key];
        let out = conn.out.as_mut().expect("an answer being sent");
        if let Some(began) = out.began {
            trace::record(
                Phase::Write,
                conn.fd.as_raw_fd() as u64,
                began,
                trace::now_ns(),
            );
        }
        out.response.advance(result as usize);
        if !out.response.is_done() {
            self.post_send(key);
            return;
        }
        conn.out = None;
        if conn.closes || self.stopping {
            self.linger(key);
        } else {
            conn.deadline = ReadDeadline::answered(
                &self.timeouts,
                conn.session.is_mid_request(),
                Instant::now(),
            );
            self.advance(key);
        }
    }

    /// The lingering close: our FIN after the answer, then input read and dropped until the
    /// client's EOF or [`LINGER_TIMEOUT`], so that closing sends no reset over the answer.
    fn linger(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        syscalls::count(Call::Shutdown);
        // SAFETY: shutdown(2) on a descriptor this connection owns.
        if unsafe { libc::shutdown(conn.fd.as_raw_fd(), libc::SHUT_WR) } != 0 {
            self.close(key);
            return;
        }
        conn.state = State::Lingering;
        conn.deadline.at = Instant::now() + LINGER_TIMEOUT;
        self.post_recv(key);
    }

    /// The job's wait is over: cancel the hang-up watch, compute, answer.
    fn waited(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        let Some(waiting) = conn.job.take() else {
            return;
        };
        self.answer(key, waiting.job, waiting.began);
    }

    /// The job's wait (or its query) is over: cancel the hang-up watch, compute, answer.
    fn answer(&mut self, key: usize, job: Job, began: Option<u64>) {
        let conn = &mut self.conns[key];
        let fd = conn.fd.as_raw_fd();
        if let Some(began) = began {
            trace::record(Phase::Wait, fd as u64, began, trace::now_ns());
        }
        if conn.watching {
            conn.watching = false;
            self.cancel(key, user_data(key, Op::Watch));
        }
        let response = trace::traced(Phase::Compute, fd as u64, || job.respond());
        self.send(key, response);
    }

    /// The hang-up watch fired while the job waits: the client's FIN with nothing before it,
    /// or a reset, ends the request now (nginx's 499); a pipelined byte before the FIN is
    /// no hang-up, and the wait goes on.
    fn watched(&mut self, key: usize, result: i32) {
        let conn = &mut self.conns[key];
        conn.watching = false;
        if conn.state != State::Waiting || result < 0 {
            return; // Cancelled once the wait was over.
        }
        let events = result as i16;
        let hung_up = if events & (libc::POLLERR | libc::POLLHUP) != 0 {
            true
        } else {
            match wb_sys::hangup::peek(&conn.fd) {
                Ok(0) => true,
                Ok(_) => false,
                Err(err) => !matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ),
            }
        };
        if hung_up {
            self.close(key);
        }
    }

    /// Closes connection `key`: cancels what it has in flight; the slot and the descriptor go
    /// when the last completion is in ([`Reactor::maybe_free`]).
    fn close(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if conn.closing {
            return;
        }
        conn.closing = true;
        if conn.inflight > 0 {
            let fd = conn.fd.as_raw_fd();
            // A ring timeout to remove; a database request has none (its rows, when they
            // come, find the connection gone).
            let waiting = conn.job.as_ref().is_some_and(|w| w.ticket.is_none());
            conn.inflight += 1 + u8::from(waiting);
            self.room(2);
            self.push(
                opcode::AsyncCancel2::new(CancelBuilder::fd(Fd(fd)).all())
                    .build()
                    .user_data(user_data(key, Op::Cancel)),
            );
            if waiting {
                self.push(
                    opcode::TimeoutRemove::new(user_data(key, Op::Wait))
                        .build()
                        .user_data(user_data(key, Op::Cancel)),
                );
            }
        }
        self.maybe_free(key);
    }

    fn maybe_free(&mut self, key: usize) {
        if self.conns[key].closing && self.conns[key].inflight == 0 {
            syscalls::count(Call::Close);
            drop(self.conns.remove(key));
        }
    }

    // ---- submissions ----

    /// Cancels the operation `target`, on behalf of connection `key` (or the loop).
    fn cancel(&mut self, key: usize, target: u64) {
        if key != LOOP {
            self.conns[key].inflight += 1;
        }
        self.room(1);
        self.push(
            opcode::AsyncCancel::new(target)
                .build()
                .user_data(user_data(key, Op::Cancel)),
        );
    }

    /// A loop timer: `data` completes after `delay`.
    fn after(&mut self, delay: Duration, data: u64) {
        self.room(1);
        let at = self.timespec(delay);
        self.push(opcode::Timeout::new(at).build().user_data(data));
    }

    fn room(&mut self, entries: usize) {
        self.sq.room(entries);
    }

    fn timespec(&mut self, duration: Duration) -> *const Timespec {
        self.sq.timespec(duration)
    }

    fn push(&mut self, entry: squeue::Entry) {
        self.sq.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real ring over real sockets on 127.0.0.1: pipelined requests answered as the core
    /// answers them, a client that leaves mid-answer costing only its own connection, a wait
    /// on the ring, and the calls counted. The loop is left running: the test process ends
    /// with the test. (Where io_uring cannot run, the test says so and passes; under
    /// `CI=true` it fails.)
    #[test]
    fn the_ring_serves_sockets() {
        use std::io::{Read, Write};
        use std::net::TcpStream as Client;

        if crate::ring_unavailable() {
            return;
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Built on the loop's thread: the ring has one issuer, the thread that made it.
        std::thread::spawn(move || {
            Reactor::new(listener, wb_sys::Timeouts::default(), None)
                .unwrap()
                .run()
        });
        let connect = || {
            let client = Client::connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            client
        };

        let input = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /work?wait_ms=20&bytes=100000 HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut client = connect();
        client.write_all(input).unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap(); // The 404 closes the connection.
        assert!(
            wb_protocol::date::masked(&answer)
                == wb_protocol::date::masked(&wb_protocol::respond_all(input)),
            "answers differ"
        );

        // A client that leaves in the middle of a 10 MiB answer...
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
        let counted = wb_sys::syscalls::totals();
        assert!(counted[Call::UringEnter as usize] > 0, "{counted:?}");
        assert_eq!(
            counted[Call::Read as usize],
            0,
            "receives are ring operations"
        );
    }

    /// `/db` and `/queries` through the ring's pool, against the scripted server of
    /// `wb_pg::script` (`randomnumber = id * 7`): the core's bytes for those rows; a client
    /// that leaves while its query is in flight costs nobody else (its rows find no one).
    #[test]
    fn the_ring_serves_the_database_from_its_pool() {
        use std::io::{Read, Write};
        use std::net::TcpStream as Client;

        if crate::ring_unavailable() {
            return;
        }
        let (config, _server) = wb_pg::script::server(1, wb_pg::script::Script::default());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let database = Some((config, wb_pg::PoolSettings::new(1)));
            Reactor::new(listener, wb_sys::Timeouts::default(), database)
                .unwrap()
                .run()
        });
        let expected = |target: &str, ids: &[i32]| {
            let mut session = Session::new();
            session.receive_data(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            let Event::Job(mut job) = session.next_event() else {
                panic!("no job for {target}")
            };
            job.give_rows(
                ids.iter()
                    .map(|&id| wb_protocol::world::WorldRow {
                        id,
                        random_number: id * 7,
                    })
                    .collect(),
            );
            wb_protocol::date::masked(&job.perform())
        };
        let ask = |client: &mut Client, target: &str, want: &[u8]| {
            client
                .write_all(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
                .unwrap();
            let mut got = vec![0; want.len()];
            client.read_exact(&mut got).unwrap();
            assert!(
                wb_protocol::date::masked(&got) == want,
                "{target}: {}",
                String::from_utf8_lossy(&got)
            );
        };
        let connect = || {
            let client = Client::connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            client
        };
        // A client that asks and leaves at once...
        let mut gone = connect();
        gone.write_all(b"GET /queries?n=20&id=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        drop(gone);
        // ...and one that stays, on the same single database connection.
        let mut client = connect();
        ask(&mut client, "/db?id=5", &expected("/db?id=5", &[5]));
        let ids: Vec<i32> = (9990..=10_000).chain(1..=9).collect();
        let target = "/queries?n=20&id=9990";
        ask(&mut client, target, &expected(target, &ids));
    }

    #[test]
    fn user_data_round_trips() {
        for op in Op::ALL {
            assert_eq!(split(user_data(12345, op)), (12345, Some(op)));
            assert_eq!(split(user_data(LOOP, op)), (LOOP, Some(op)));
        }
        assert_eq!(split(0).1, None);
    }
}
