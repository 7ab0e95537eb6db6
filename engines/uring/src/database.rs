//! The database pool on the ring: a fixed set of PostgreSQL connections whose connects, sends
//! and receives are operations on the engine's one io_uring, each driving a
//! [`wb_pg::PgConnection`] (the conversation, without I/O), and the FIFO queue of requests
//! waiting for one of them.
//!
//! It keeps the selector's pool's rules (`wb_selector::pg::Pool`: the same settings, queue,
//! timeouts, back-off and errors); only the moving of bytes differs:
//!
//! - **Connect** is an `IORING_OP_CONNECT` on a fresh socket; its address is boxed in the
//!   connection, since the kernel may read it until the completion.
//! - **Receive**: once connected, every connection always has one receive posted, into a
//!   buffer of its own ([`RECV_BYTES`], boxed: the slab that holds the connections may move,
//!   the buffer must not). The server may speak at any time (a notice, a shutdown), and the
//!   posted receive is also how a closed connection is noticed. Its completion says how many
//!   bytes are in the buffer; they go to [`PgConnection::received`] and the receive is posted
//!   again. There is no "readable" and no `EAGAIN`: a receive that has nothing to return
//!   simply has not completed yet. The HTTP connections draw from the shared provided
//!   buffers because there may be ten thousand of them, idle; the pool has a few, never idle
//!   for long, so each keeps its own.
//! - **Send**: the bytes the conversation queued ([`PgConnection::pending`]) are taken out of
//!   it into a buffer lent to one send at a time, which stays untouched until the send's
//!   completion says how many went (a short send posts the rest). Meanwhile the
//!   conversation may queue more (a SCRAM answer, the next query); they go with the next send.
//! - **Time**: one timer for the whole pool, an `IORING_OP_TIMEOUT` posted for the earliest
//!   thing due ([`RingPool::next_deadline`]: a reconnect after its back-off, a connect or a
//!   query taking too long, the oldest request in the queue waiting too long); when it
//!   completes, the pool does what is due ([`RingPool::tick`]) and posts the next one.
//! - **Giving up** on a connection (lost, timed out, refused its login): its request fails,
//!   every operation it has in flight is cancelled (`IORING_OP_ASYNC_CANCEL` on its
//!   descriptor), and the connection — socket, buffers, address — is freed only when the last
//!   of its completions is in, so the kernel never writes a buffer that is gone and a
//!   completion never lands on a stranger. The slot reconnects after its back-off.
//!
//! A request is keyed by a [`Ticket`] (the HTTP connection's slab key and a serial); its
//! [`Completion`] is picked up by the loop ([`RingPool::take_done`]) after each batch of
//! completions.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Instant;

use io_uring::opcode;
use io_uring::types::{CancelBuilder, Fd};
use slab::Slab;
use socket2::{Domain, SockAddr, Socket, Type};
use wb_pg::{
    Address, Backoff, Completion, Config, DbError, Event, PgConnection, PoolSettings, Refused,
    Waiting, check_ids, expire, fail_waiting,
};
use wb_sys::syscalls::{self, Call};

use crate::reactor::{Op, Sq, user_data};

/// Bytes of each connection's receive buffer: an answer to `/queries?n=20` is about 600
/// bytes, so one receive takes a whole answer, and 500 rows take a few.
pub const RECV_BYTES: usize = 16 * 1024;

/// Who asked: the HTTP connection's slab key, and the serial of its request.
pub(crate) type Ticket = (usize, u64);

/// A request in the queue or in flight.
type Request = Waiting<Ticket>;

/// One socket, the conversation on it, and what it lends the kernel.
struct DbConn {
    /// The pool's slot it fills.
    slot: usize,
    socket: Socket,
    /// The connect's address: the kernel may read it until the connect completes.
    address: Box<SockAddr>,
    conn: PgConnection,
    /// The connect has completed.
    connected: bool,
    /// When the connect was posted: a connection not ready by `opened + connect_timeout` is
    /// given up.
    opened: Instant,
    /// The receive buffer, lent to the kernel while `receiving`.
    recv_buf: Box<[u8]>,
    receiving: bool,
    /// Bytes lent to the send in flight, and how many of them have gone.
    sending: Option<Vec<u8>>,
    sent_bytes: usize,
    /// Operations posted whose completion has not come.
    inflight: u8,
    /// Given up: its operations are being cancelled, and it goes when `inflight` is 0.
    retired: bool,
    request: Option<Request>,
    /// When the request in flight was sent: without an answer by `sent_at + query_timeout`,
    /// the connection is given up and the request fails.
    sent_at: Instant,
}

/// One of the pool's fixed places: a connection, or the time to try again.
struct Slot {
    /// The key of its connection in [`RingPool::conns`].
    live: Option<usize>,
    /// When to connect again (while `live` is `None`).
    retry_at: Instant,
    backoff: Backoff,
}

/// The pool: see the [module doc](self).
pub(crate) struct RingPool {
    config: Config,
    settings: PoolSettings,
    /// Where to connect, and the socket's domain (TCP or Unix).
    address: SockAddr,
    domain: Domain,
    slots: Vec<Slot>,
    /// The connections, live and retiring; a key is reused only once every operation of the
    /// connection that held it has completed.
    conns: Slab<DbConn>,
    queue: VecDeque<Request>,
    /// The last reason a connection could not be made or was lost (for `Unavailable`).
    last_error: Option<DbError>,
    /// Requests finished, for the loop to pick up ([`RingPool::take_done`]).
    done: Vec<Completion<Ticket>>,
    /// Events of the last receive, reused.
    events: Vec<Event>,
    /// When the latest timer posted completes, and its serial (the key of its `user_data`).
    /// An earlier deadline posts another; the later one still completes, and does nothing
    /// but a tick.
    timer: Option<Instant>,
    timer_serial: usize,
    /// [`RingPool::close`] was called: no reconnects, no new requests.
    closed: bool,
}

impl RingPool {
    /// Starts connecting `settings.size` connections at once (they log in as the loop runs).
    /// Requests submitted meanwhile wait in the queue.
    pub(crate) fn new(config: Config, settings: PoolSettings, sq: &mut Sq) -> io::Result<RingPool> {
        if settings.size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a database pool of 0 connections; give --db-pool 1 or more",
            ));
        }
        let (address, domain) = match &config.address {
            Address::Tcp(addr) => (SockAddr::from(*addr), Domain::for_address(*addr)),
            Address::Unix(path) => (SockAddr::unix(path)?, Domain::UNIX),
        };
        let now = Instant::now();
        let mut pool = RingPool {
            slots: (0..settings.size)
                .map(|_| Slot {
                    live: None,
                    retry_at: now,
                    backoff: Backoff::new(&settings),
                })
                .collect(),
            config,
            settings,
            address,
            domain,
            conns: Slab::new(),
            queue: VecDeque::new(),
            last_error: None,
            done: Vec::new(),
            events: Vec::new(),
            timer: None,
            timer_serial: 0,
            closed: false,
        };
        for i in 0..pool.slots.len() {
            pool.open(sq, i, now);
        }
        pool.arm(sq);
        Ok(pool)
    }

    /// Queues a request for the rows of `ids` (1 to [`MAX_IDS`]); `key` comes back with its
    /// [`Completion`]. It is posted at once if a connection is idle, else it waits its turn.
    /// Refused, without queueing, when the queue is full: the engine answers 503 at once.
    pub(crate) fn submit(
        &mut self,
        sq: &mut Sq,
        key: Ticket,
        ids: Vec<i32>,
    ) -> Result<(), Refused> {
        check_ids(&ids)?;
        if self.closed {
            return Err(Refused::Closed);
        }
        if self.queue.len() >= self.settings.queue_limit {
            return Err(Refused::Full {
                waiting: self.queue.len(),
                limit: self.settings.queue_limit,
            });
        }
        self.queue.push_back(Request {
            key,
            ids,
            since: Instant::now(),
        });
        self.dispatch(sq, Instant::now());
        self.arm(sq);
        Ok(())
    }

    /// The requests finished since the last call.
    pub(crate) fn take_done(&mut self) -> Vec<Completion<Ticket>> {
        std::mem::take(&mut self.done)
    }

    /// Acts on the completion of one of the pool's operations (`op`, posted for connection
    /// or timer `key`).
    pub(crate) fn complete(&mut self, sq: &mut Sq, key: usize, op: Op, result: i32) {
        let now = Instant::now();
        if op == Op::DbTimer {
            if key == self.timer_serial {
                self.timer = None;
            }
            self.tick(sq, now);
            self.arm(sq);
            return;
        }
        let Some(c) = self.conns.get_mut(key) else {
            tracing::warn!(key, ?op, "a completion for a freed database connection");
            return;
        };
        c.inflight -= 1;
        match op {
            Op::DbRecv => c.receiving = false,
            Op::DbSend if c.retired => c.sending = None,
            _ => {}
        }
        if c.retired {
            if c.inflight == 0 {
                // Every operation is in: the socket (closed here), the buffers and the
                // address may go.
                drop(self.conns.remove(key));
            }
            return;
        }
        let outcome = match op {
            Op::DbConnect => self.connected(sq, key, result),
            Op::DbRecv => self.received(sq, key, result),
            Op::DbSend => self.sent(sq, key, result),
            _ => Ok(()),
        };
        if let Err(err) = outcome {
            self.fail(sq, key, err, now);
        }
        self.dispatch(sq, now);
        self.arm(sq);
    }

    /// When [`RingPool::tick`] is due next: a reconnect, a connect or a query timing out, or
    /// the oldest waiting request reaching its queue timeout.
    fn next_deadline(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let slots = self.slots.iter().filter_map(|slot| {
            let Some(key) = slot.live else {
                return Some(slot.retry_at);
            };
            let c = &self.conns[key];
            if !c.conn.is_ready() {
                Some(c.opened + self.settings.connect_timeout)
            } else if c.request.is_some() {
                Some(c.sent_at + self.settings.query_timeout)
            } else {
                None
            }
        });
        let queue = self
            .queue
            .front()
            .map(|r| r.since + self.settings.queue_timeout);
        slots.chain(queue).min()
    }

    /// Posts the pool's timer for [`RingPool::next_deadline`], unless one posted already
    /// completes by then.
    fn arm(&mut self, sq: &mut Sq) {
        let Some(at) = self.next_deadline() else {
            return;
        };
        if self.timer.is_some_and(|posted| posted <= at) {
            return;
        }
        self.timer = Some(at);
        // A serial that fits the key of a `user_data` (56 bits) and wraps long before.
        self.timer_serial = (self.timer_serial + 1) & 0xffff_ffff;
        sq.room(1);
        let delay = sq.timespec(at.saturating_duration_since(Instant::now()));
        sq.push(
            opcode::Timeout::new(delay)
                .build()
                .user_data(user_data(self.timer_serial, Op::DbTimer)),
        );
    }

    /// Does what is due at `now`: reconnects after a back-off, gives up on connects and
    /// queries that took too long, fails requests that waited longer than the queue timeout.
    fn tick(&mut self, sq: &mut Sq, now: Instant) {
        if self.closed {
            return;
        }
        for i in 0..self.slots.len() {
            let Some(key) = self.slots[i].live else {
                if self.slots[i].retry_at <= now {
                    self.open(sq, i, now);
                }
                continue;
            };
            let c = &self.conns[key];
            if !c.conn.is_ready() && c.opened + self.settings.connect_timeout <= now {
                let err = DbError::Lost(format!(
                    "no answer from {} within {:?} of connecting",
                    self.config.address, self.settings.connect_timeout
                ));
                self.fail(sq, key, err, now);
            } else if c.request.is_some() && c.sent_at + self.settings.query_timeout <= now {
                let err = DbError::NoAnswer {
                    after: now - c.sent_at,
                };
                self.fail(sq, key, err, now);
            }
        }
        expire(
            &mut self.queue,
            self.settings.queue_timeout,
            now,
            &mut self.done,
        );
        self.dispatch(sq, now);
    }

    /// Says goodbye (Terminate) on every connection that logged in and has no send in
    /// flight, with a plain non-blocking `send` (the loop is ending), cancels every operation
    /// the connections have posted, and fails every request waiting or in flight with
    /// [`DbError::Closed`]. The connections go as their last completions come in
    /// ([`RingPool::is_drained`]); the pool reconnects no more.
    pub(crate) fn close(&mut self, sq: &mut Sq) -> Vec<Completion<Ticket>> {
        self.closed = true;
        for i in 0..self.slots.len() {
            let Some(key) = self.slots[i].live.take() else {
                continue;
            };
            let c = &mut self.conns[key];
            if c.connected && c.conn.is_ready() && c.sending.is_none() {
                c.conn.terminate();
                let bytes = c.conn.pending();
                syscalls::count(Call::Write);
                // SAFETY: send(2) of our own bytes on a socket this connection owns.
                let _ = unsafe {
                    libc::send(
                        c.socket.as_raw_fd(),
                        bytes.as_ptr().cast(),
                        bytes.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
            }
            if let Some(request) = c.request.take() {
                self.done.push(Completion {
                    key: request.key,
                    result: Err(DbError::Closed),
                });
            }
            self.retire(sq, key);
        }
        self.done.extend(self.queue.drain(..).map(|r| Completion {
            key: r.key,
            result: Err(DbError::Closed),
        }));
        std::mem::take(&mut self.done)
    }

    /// Opens a socket for slot `i` and posts its connect. A socket that cannot be had is a
    /// failed attempt: the slot backs off.
    fn open(&mut self, sq: &mut Sq, i: usize, now: Instant) {
        let socket = Socket::new(self.domain, Type::STREAM.cloexec(), None).and_then(|socket| {
            if self.domain != Domain::UNIX {
                // Queries are small and answered at once: no Nagle delay on the Sync.
                socket.set_tcp_nodelay(true)?;
            }
            Ok(socket)
        });
        let socket = match socket {
            Ok(socket) => socket,
            Err(err) => {
                let err = DbError::Lost(format!("connect to {}: {err}", self.config.address));
                self.fail_slot(i, err, false, now);
                return;
            }
        };
        let fd = socket.as_raw_fd();
        let key = self.conns.insert(DbConn {
            slot: i,
            socket,
            address: Box::new(self.address.clone()),
            conn: PgConnection::new(&self.config),
            connected: false,
            opened: now,
            recv_buf: vec![0; RECV_BYTES].into_boxed_slice(),
            receiving: false,
            sending: None,
            sent_bytes: 0,
            inflight: 1,
            retired: false,
            request: None,
            sent_at: now,
        });
        self.slots[i].live = Some(key);
        let address = &self.conns[key].address;
        let entry = opcode::Connect::new(Fd(fd), address.as_ptr().cast(), address.len())
            .build()
            .user_data(user_data(key, Op::DbConnect));
        sq.room(1);
        sq.push(entry);
    }

    fn connected(&mut self, sq: &mut Sq, key: usize, result: i32) -> Result<(), DbError> {
        if result < 0 {
            let err = io::Error::from_raw_os_error(-result);
            return Err(DbError::Lost(format!(
                "connect to {}: {err}",
                self.config.address
            )));
        }
        self.conns[key].connected = true;
        self.post_recv(sq, key);
        self.flush(sq, key);
        Ok(())
    }

    /// Posts a receive into the connection's own buffer.
    fn post_recv(&mut self, sq: &mut Sq, key: usize) {
        let c = &mut self.conns[key];
        c.receiving = true;
        c.inflight += 1;
        let entry = opcode::Recv::new(
            Fd(c.socket.as_raw_fd()),
            c.recv_buf.as_mut_ptr(),
            c.recv_buf.len() as u32,
        )
        .build()
        .user_data(user_data(key, Op::DbRecv));
        sq.room(1);
        sq.push(entry);
    }

    /// The kernel filled `result` bytes of the connection's buffer: the conversation parses
    /// them (whole messages; a partial one waits for the next receive), and the next receive
    /// is posted.
    fn received(&mut self, sq: &mut Sq, key: usize, result: i32) -> Result<(), DbError> {
        match result {
            0 => return Err(DbError::Lost("the server closed the connection".into())),
            n if n < 0 => {
                if matches!(-n, libc::EINTR | libc::EAGAIN) {
                    self.post_recv(sq, key);
                    return Ok(());
                }
                return Err(DbError::Lost(io::Error::from_raw_os_error(-n).to_string()));
            }
            _ => {}
        }
        let c = &mut self.conns[key];
        let parsed = c
            .conn
            .received(&c.recv_buf[..result as usize], &mut self.events);
        // Answers parsed before an error still count: hand them out first.
        for event in self.events.drain(..) {
            match event {
                Event::Ready => {
                    self.slots[c.slot].backoff.reset(&self.settings);
                    tracing::debug!(pid = ?c.conn.backend_pid(), "database connection ready");
                }
                Event::Answered(result) => match c.request.take() {
                    Some(request) => self.done.push(Completion {
                        key: request.key,
                        result,
                    }),
                    None => tracing::error!("an answer with no request in flight"),
                },
            }
        }
        parsed?;
        self.post_recv(sq, key);
        // The conversation may have more to say (a login's next step).
        self.flush(sq, key);
        Ok(())
    }

    /// Lends what the conversation has queued to a send, unless one is in flight (then it
    /// goes when that one completes).
    fn flush(&mut self, sq: &mut Sq, key: usize) {
        let c = &mut self.conns[key];
        if !c.connected || c.sending.is_some() || c.conn.pending().is_empty() {
            return;
        }
        let bytes = c.conn.pending().to_vec();
        c.conn.written(bytes.len());
        c.sending = Some(bytes);
        c.sent_bytes = 0;
        self.post_send(sq, key);
    }

    /// Posts a send of the lent bytes not yet gone.
    fn post_send(&mut self, sq: &mut Sq, key: usize) {
        let c = &mut self.conns[key];
        let bytes = &c.sending.as_ref().expect("bytes to send")[c.sent_bytes..];
        c.inflight += 1;
        let entry = opcode::Send::new(Fd(c.socket.as_raw_fd()), bytes.as_ptr(), bytes.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(key, Op::DbSend));
        sq.room(1);
        sq.push(entry);
    }

    fn sent(&mut self, sq: &mut Sq, key: usize, result: i32) -> Result<(), DbError> {
        if result < 0 {
            return Err(DbError::Lost(
                io::Error::from_raw_os_error(-result).to_string(),
            ));
        }
        if result == 0 {
            return Err(DbError::Lost("the socket takes no more bytes".into()));
        }
        let c = &mut self.conns[key];
        c.sent_bytes += result as usize;
        if c.sent_bytes < c.sending.as_ref().map_or(0, Vec::len) {
            self.post_send(sq, key);
        } else {
            c.sending = None;
            self.flush(sq, key);
        }
        Ok(())
    }

    /// Starts waiting requests, oldest first, on idle connections.
    fn dispatch(&mut self, sq: &mut Sq, now: Instant) {
        for i in 0..self.slots.len() {
            if self.queue.is_empty() {
                return;
            }
            let Some(key) = self.slots[i].live else {
                continue;
            };
            let c = &mut self.conns[key];
            if !(c.connected && c.conn.is_idle() && c.request.is_none()) {
                continue;
            }
            let request = self.queue.pop_front().expect("not empty");
            // The ids were checked in `submit`, so this does not fail; if it did, the request
            // would fail, not hang.
            if let Err(err) = c.conn.query(&request.ids) {
                self.done.push(Completion {
                    key: request.key,
                    result: Err(err),
                });
                continue;
            }
            c.request = Some(request);
            c.sent_at = now;
            self.flush(sq, key);
        }
    }

    /// Gives up connection `key` after `err`: its request fails with `err`, its operations
    /// are cancelled (it is freed when the last completes), and its slot reconnects after
    /// its back-off.
    fn fail(&mut self, sq: &mut Sq, key: usize, err: DbError, now: Instant) {
        let c = &mut self.conns[key];
        if let Some(request) = c.request.take() {
            self.done.push(Completion {
                key: request.key,
                result: Err(err.clone()),
            });
        }
        let (slot, was_ready) = (c.slot, c.conn.is_ready());
        self.retire(sq, key);
        self.slots[slot].live = None;
        self.fail_slot(slot, err, was_ready, now);
    }

    /// Retires connection `key`: cancels what it has in flight (one cancellation for every
    /// operation on its descriptor); it is freed, and its socket closed, when the last
    /// completion is in ([`RingPool::complete`]), at once if none is due.
    fn retire(&mut self, sq: &mut Sq, key: usize) {
        let c = &mut self.conns[key];
        c.retired = true;
        if c.inflight == 0 {
            drop(self.conns.remove(key));
            return;
        }
        c.inflight += 1;
        let entry = opcode::AsyncCancel2::new(CancelBuilder::fd(Fd(c.socket.as_raw_fd())).all())
            .build()
            .user_data(user_data(key, Op::DbCancel));
        sq.room(1);
        sq.push(entry);
    }

    /// Whether every connection is gone, nothing of theirs left in the kernel (after
    /// [`RingPool::close`]).
    pub(crate) fn is_drained(&self) -> bool {
        self.conns.is_empty()
    }

    /// Slot `i` lost its connection (or could not make one) after `err`: it reconnects after
    /// its back-off. If no connection is usable any more, every waiting request fails too
    /// ([`DbError::Unavailable`]): waiting for a database that refuses connections would only
    /// turn a clear error into a timeout.
    fn fail_slot(&mut self, i: usize, err: DbError, was_ready: bool, now: Instant) {
        let slot = &mut self.slots[i];
        slot.retry_at = now + slot.backoff.failed(i, &err, was_ready, &self.settings);
        self.last_error = Some(err);
        let usable = self.slots.iter().any(|s| {
            s.live
                .is_some_and(|key| self.conns[key].conn.is_ready() && !self.conns[key].retired)
        });
        if !usable {
            fail_waiting(&mut self.queue, self.last_error.as_ref(), &mut self.done);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The pool on a real ring against the scripted server of `wb_pg::script` on loopback: the
    //! selector's pool's cases, on completions. (Where io_uring cannot run, each test says so
    //! and passes; under `CI=true` it fails.)

    use std::time::Duration;

    use io_uring::IoUring;
    use wb_pg::MAX_IDS;
    use wb_pg::script::{Script, rows, server};

    use super::*;
    use crate::reactor::split;

    fn settings(size: usize) -> PoolSettings {
        PoolSettings {
            queue_timeout: Duration::from_millis(300),
            query_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_millis(300),
            backoff_min: Duration::from_millis(10),
            ..PoolSettings::new(size)
        }
    }

    /// A ring of our own, or `None` where io_uring cannot run here.
    fn ring() -> Option<Sq> {
        if crate::ring_unavailable() {
            return None;
        }
        Some(Sq::new(IoUring::new(64).unwrap()))
    }

    /// One turn of a loop, as the reactor turns it: submit, wait for a completion (at most
    /// 50 ms: a timeout of the test's own rides along), hand the pool's completions to it.
    fn turn(sq: &mut Sq, pool: &mut RingPool) -> Vec<Completion<Ticket>> {
        sq.room(1);
        let wake = sq.timespec(Duration::from_millis(50));
        sq.push(
            opcode::Timeout::new(wake)
                .build()
                .user_data(user_data(0, Op::Drain)),
        );
        sq.ring.submit_and_wait(1).unwrap();
        sq.forget_times();
        let reaped: Vec<(u64, i32)> = sq
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (data, result) in reaped {
            if let (key, Some(op)) = split(data)
                && op != Op::Drain
            {
                pool.complete(sq, key, op, result);
            }
        }
        pool.take_done()
    }

    /// Turns until `count` requests finished (at most 10 s), in the order they finished.
    fn run(sq: &mut Sq, pool: &mut RingPool, count: usize) -> Vec<Completion<Ticket>> {
        let mut done = pool.take_done();
        let give_up = Instant::now() + Duration::from_secs(10);
        while done.len() < count {
            assert!(
                Instant::now() < give_up,
                "{} of {count}: {done:?}",
                done.len()
            );
            done.extend(turn(sq, pool));
        }
        done
    }

    /// Closes the pool and turns until its last connection is gone (its socket closed: the
    /// server thread sees EOF); what the close failed.
    fn shut(sq: &mut Sq, mut pool: RingPool) -> Vec<Completion<Ticket>> {
        let failed = pool.close(sq);
        drain(sq, &mut pool);
        failed
    }

    fn drain(sq: &mut Sq, pool: &mut RingPool) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while !pool.is_drained() {
            assert!(
                Instant::now() < give_up,
                "still {} connections",
                pool.conns.len()
            );
            assert!(turn(sq, pool).is_empty(), "the close failed every request");
        }
    }

    fn ready(pool: &RingPool) -> usize {
        pool.conns
            .iter()
            .filter(|(_, c)| !c.retired && c.conn.is_ready())
            .count()
    }

    #[test]
    fn one_connection_serves_the_queue_first_in_first_out_whatever_the_segments() {
        let Some(mut sq) = ring() else { return };
        let script = Script {
            bytewise: true,
            ..Script::default()
        };
        let (config, server) = server(1, script);
        let mut pool = RingPool::new(config, settings(1), &mut sq).unwrap();
        let asks: Vec<Vec<i32>> = vec![vec![1], vec![2, 3], (1..=20).collect(), vec![500], vec![9]];
        for (i, ids) in asks.iter().enumerate() {
            pool.submit(&mut sq, (i, 0), ids.clone()).unwrap();
        }
        let done = run(&mut sq, &mut pool, asks.len());
        let keys: Vec<usize> = done.iter().map(|c| c.key.0).collect();
        assert_eq!(keys, [0, 1, 2, 3, 4], "first in, first out");
        for c in &done {
            assert_eq!(c.result, Ok(rows(&asks[c.key.0])));
        }
        assert!(shut(&mut sq, pool).is_empty());
        server.join().unwrap();
    }

    #[test]
    fn a_lost_connection_fails_its_request_and_the_pool_reconnects() {
        let Some(mut sq) = ring() else { return };
        let script = Script {
            close_at: Some(2),
            ..Script::default()
        };
        let (config, server) = server(2, script);
        let mut pool = RingPool::new(config, settings(1), &mut sq).unwrap();
        pool.submit(&mut sq, (1, 0), vec![1]).unwrap();
        assert_eq!(run(&mut sq, &mut pool, 1)[0].result, Ok(rows(&[1])));
        pool.submit(&mut sq, (2, 0), vec![2]).unwrap();
        let lost = run(&mut sq, &mut pool, 1);
        assert!(matches!(lost[0].result, Err(DbError::Lost(_))), "{lost:?}");
        // The second connection the server accepts answers.
        pool.submit(&mut sq, (3, 0), vec![3]).unwrap();
        assert_eq!(run(&mut sq, &mut pool, 1)[0].result, Ok(rows(&[3])));
        shut(&mut sq, pool);
        server.join().unwrap();
    }

    #[test]
    fn requests_that_wait_too_long_time_out_and_close_fails_the_one_in_flight() {
        let Some(mut sq) = ring() else { return };
        let script = Script {
            hang: true,
            ..Script::default()
        };
        let (config, server) = server(1, script);
        let mut pool = RingPool::new(config, settings(1), &mut sq).unwrap();
        pool.submit(&mut sq, (1, 0), vec![1]).unwrap();
        pool.submit(&mut sq, (2, 0), vec![2]).unwrap();
        let done = run(&mut sq, &mut pool, 1);
        assert_eq!(done[0].key.0, 2, "the one still in the queue");
        assert!(
            matches!(done[0].result, Err(DbError::Timeout { .. })),
            "{done:?}"
        );
        let closed = pool.close(&mut sq);
        assert_eq!(closed.len(), 1);
        assert_eq!(
            (closed[0].key.0, &closed[0].result),
            (1, &Err(DbError::Closed))
        );
        assert_eq!(pool.submit(&mut sq, (3, 0), vec![3]), Err(Refused::Closed));
        drain(&mut sq, &mut pool);
        server.join().unwrap();
    }

    #[test]
    fn a_query_without_an_answer_fails_and_its_connection_is_replaced() {
        let Some(mut sq) = ring() else { return };
        let script = Script {
            hang: true,
            ..Script::default()
        };
        let (config, server) = server(2, script);
        let quick = PoolSettings {
            query_timeout: Duration::from_millis(200),
            queue_timeout: Duration::from_secs(10),
            ..settings(1)
        };
        let mut pool = RingPool::new(config, quick, &mut sq).unwrap();
        pool.submit(&mut sq, (1, 0), vec![1]).unwrap();
        let done = run(&mut sq, &mut pool, 1);
        assert!(
            matches!(done[0].result, Err(DbError::NoAnswer { .. })),
            "{done:?}"
        );
        // The connection was cancelled and closed (the server thread moves on to the next
        // one), and another logs in: the pool is whole again, the old one freed.
        let give_up = Instant::now() + Duration::from_secs(10);
        while ready(&pool) < 1 || pool.conns.len() > 1 {
            assert!(Instant::now() < give_up, "never whole again");
            assert!(turn(&mut sq, &mut pool).is_empty(), "nothing was asked");
        }
        shut(&mut sq, pool);
        server.join().unwrap();
    }

    #[test]
    fn a_server_that_never_logs_in_makes_waiting_requests_fail_with_the_reason() {
        let Some(mut sq) = ring() else { return };
        let script = Script {
            mute: true,
            ..Script::default()
        };
        let (config, server) = server(1, script);
        let mut pool = RingPool::new(config, settings(1), &mut sq).unwrap();
        pool.submit(&mut sq, (1, 0), vec![1]).unwrap();
        let done = run(&mut sq, &mut pool, 1);
        match &done[0].result {
            Err(DbError::Unavailable(why)) => assert!(why.contains("within"), "{why}"),
            other => panic!("{other:?}"),
        }
        shut(&mut sq, pool);
        server.join().unwrap();
    }

    #[test]
    fn nobody_listening_fails_waiting_requests_with_the_reason_and_backs_off() {
        let Some(mut sq) = ring() else { return };
        // A port nobody listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = Config::parse(&format!("host=127.0.0.1 port={port} user=u")).unwrap();
        let mut pool = RingPool::new(config, settings(2), &mut sq).unwrap();
        pool.submit(&mut sq, (1, 0), vec![1]).unwrap();
        let done = run(&mut sq, &mut pool, 1);
        match &done[0].result {
            Err(DbError::Unavailable(why)) => assert!(why.contains("refused"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(
            pool.slots
                .iter()
                .all(|s| s.backoff.next() > settings(2).backoff_min),
            "each failed attempt doubles the wait"
        );
        shut(&mut sq, pool);
    }

    #[test]
    fn bad_requests_and_a_full_queue_are_refused_without_effect() {
        let Some(mut sq) = ring() else { return };
        let (config, server) = server(1, Script::default());
        let few = PoolSettings {
            queue_limit: 2,
            ..settings(1)
        };
        let mut pool = RingPool::new(config, few, &mut sq).unwrap();
        assert!(matches!(
            pool.submit(&mut sq, (1, 0), vec![]),
            Err(Refused::Invalid { .. })
        ));
        assert!(matches!(
            pool.submit(&mut sq, (1, 0), vec![1; MAX_IDS + 1]),
            Err(Refused::Invalid { .. })
        ));
        // Not logged in yet: the first two wait, the third is refused.
        pool.submit(&mut sq, (1, 0), vec![1]).unwrap();
        pool.submit(&mut sq, (2, 0), vec![2]).unwrap();
        assert_eq!(
            pool.submit(&mut sq, (3, 0), vec![3]),
            Err(Refused::Full {
                waiting: 2,
                limit: 2
            })
        );
        let done = run(&mut sq, &mut pool, 2);
        assert_eq!(done[1].result, Ok(rows(&[2])));
        shut(&mut sq, pool);
        server.join().unwrap();
        let zero = RingPool::new(
            Config::parse("user=u").unwrap(),
            PoolSettings::new(0),
            &mut sq,
        );
        assert!(zero.err().unwrap().to_string().contains("--db-pool"));
    }
}
