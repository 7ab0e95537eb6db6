//! The `Transport` half: a fixed set of [`PgConnection`]s over mio sockets, and the FIFO queue
//! of requests waiting for one of them.
//!
//! Everything here runs on the loop thread and returns at once: `connect` is non-blocking
//! (completion is a writable event), reads drain the socket until `WouldBlock` (mio is
//! edge-triggered), writes go as far as the kernel takes them and the rest waits for the next
//! writable event. Each socket is registered once for `READABLE | WRITABLE` and never
//! re-registered: with edge-triggered epoll an unwanted writable edge costs one wake-up, far
//! less than an `epoll_ctl` per query.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use wb_sys::syscalls::Call;

use super::{Address, Config};
use super::{Completion, DbError, PoolSettings, PoolStats, Readiness, Refused};
use super::{Event, PgConnection};
use wb_pg::{Backoff, Waiting, check_ids, expire, fail_waiting};

/// Bytes read from a database socket per `read` call (answers to one query fit many times).
const READ_CHUNK: usize = 16 * 1024;

/// A connected (or connecting) socket of either kind.
#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn connect(address: &Address) -> io::Result<Stream> {
        Ok(match address {
            Address::Tcp(addr) => {
                let stream = TcpStream::connect(*addr)?;
                // Queries are small and answered at once: no Nagle delay on the Sync.
                stream.set_nodelay(true)?;
                Stream::Tcp(stream)
            }
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
        })
    }

    /// `Ok(true)` once a non-blocking connect has finished (at once for a Unix socket).
    fn connected(&self) -> io::Result<bool> {
        match self {
            Stream::Tcp(stream) => {
                if let Some(err) = stream.take_error()? {
                    return Err(err);
                }
                match stream.peer_addr() {
                    Ok(_) => Ok(true),
                    Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(false),
                    Err(err) => Err(err),
                }
            }
            Stream::Unix(stream) => {
                if let Some(err) = stream.take_error()? {
                    return Err(err);
                }
                Ok(true)
            }
        }
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(stream) => stream,
            Stream::Unix(stream) => stream,
        }
    }

    /// A `read`, counted as the loop counts its clients' (`wb_sys::syscalls`): the figure
    /// "system calls per answer" of a `/db` step includes the database's round trip.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        wb_sys::syscalls::count(Call::Read);
        match self {
            Stream::Tcp(stream) => stream.read(buf),
            Stream::Unix(stream) => stream.read(buf),
        }
    }

    /// A `write`, counted like [`Stream::read`].
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        wb_sys::syscalls::count(Call::Write);
        match self {
            Stream::Tcp(stream) => stream.write(buf),
            Stream::Unix(stream) => stream.write(buf),
        }
    }
}

/// A socket and the conversation on it.
#[derive(Debug)]
struct Live<K> {
    stream: Stream,
    conn: PgConnection,
    /// The non-blocking connect has finished.
    connected: bool,
    /// When the connect began: a connection not ready by `opened + connect_timeout` is given
    /// up.
    opened: Instant,
    in_flight: Option<Waiting<K>>,
    /// When the request in flight was sent: without an answer by `sent + query_timeout`, the
    /// connection is given up (its state is unknown) and the request fails.
    sent: Instant,
}

/// One of the pool's fixed places: a live connection, or the time to try again.
#[derive(Debug)]
struct Slot<K> {
    live: Option<Live<K>>,
    /// When to connect again (while `live` is `None`).
    retry_at: Instant,
    backoff: Backoff,
}

/// A fixed set of database connections driven by the engine's mio loop, and the queue of
/// requests waiting for one. See the [module doc](super) for how a query flows.
#[derive(Debug)]
pub struct Pool<K> {
    config: Config,
    settings: PoolSettings,
    registry: Registry,
    first_token: usize,
    slots: Vec<Slot<K>>,
    queue: VecDeque<Waiting<K>>,
    /// The last reason a connection could not be made or was lost (for `Unavailable`).
    last_error: Option<DbError>,
    refused: u64,
    most_waiting: usize,
    read_buf: Box<[u8]>,
    /// Requests that finished outside [`Pool::on_ready`] and [`Pool::tick`] (in `submit` or
    /// `new`), handed out by the next of them; [`Pool::next_deadline`] is "now" meanwhile.
    stash: Vec<Completion<K>>,
    /// [`Pool::close`] was called: no reconnects, no new requests.
    closed: bool,
}

impl<K> Pool<K> {
    /// Starts connecting `settings.size` connections at once (without waiting: they log in as
    /// the loop runs), registered on `registry` with tokens `first_token..first_token + size`.
    /// Requests submitted meanwhile wait in the queue.
    pub fn new(
        config: Config,
        settings: PoolSettings,
        registry: &Registry,
        first_token: usize,
    ) -> io::Result<Pool<K>> {
        if settings.size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a database pool of 0 connections; give --db-pool 1 or more",
            ));
        }
        if first_token.checked_add(settings.size).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the pool's tokens would overflow usize",
            ));
        }
        let now = Instant::now();
        let mut pool = Pool {
            slots: (0..settings.size)
                .map(|_| Slot {
                    live: None,
                    retry_at: now,
                    backoff: Backoff::new(&settings),
                })
                .collect(),
            config,
            settings,
            registry: registry.try_clone()?,
            first_token,
            queue: VecDeque::new(),
            last_error: None,
            refused: 0,
            most_waiting: 0,
            read_buf: vec![0; READ_CHUNK].into_boxed_slice(),
            stash: Vec::new(),
            closed: false,
        };
        let mut done = Vec::new();
        for i in 0..pool.slots.len() {
            pool.open(i, now, &mut done);
        }
        debug_assert!(done.is_empty(), "no request was waiting");
        pool.stash = done;
        Ok(pool)
    }

    /// Whether `token` is one of this pool's sockets.
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.first_token && token.0 - self.first_token < self.slots.len()
    }

    /// Queues a request for the rows of `ids` (1 to [`MAX_IDS`](super::MAX_IDS)); `key` comes back with its
    /// [`Completion`]. It starts at once if a connection is idle (the query is written before
    /// this returns), else it waits its turn. Refused, without queueing, when the queue is
    /// full: the engine answers 503 at once rather than let the wait grow without bound.
    pub fn submit(&mut self, key: K, ids: Vec<i32>) -> Result<(), Refused> {
        check_ids(&ids)?;
        if self.closed {
            return Err(Refused::Closed);
        }
        if self.queue.len() >= self.settings.queue_limit {
            self.refused += 1;
            return Err(Refused::Full {
                waiting: self.queue.len(),
                limit: self.settings.queue_limit,
            });
        }
        self.queue.push_back(Waiting {
            key,
            ids,
            since: Instant::now(),
        });
        self.most_waiting = self.most_waiting.max(self.queue.len());
        let mut done = std::mem::take(&mut self.stash);
        self.dispatch(Instant::now(), &mut done);
        self.stash = done;
        Ok(())
    }

    /// Handles an event the loop polled for one of this pool's tokens ([`Pool::owns`]):
    /// finishes a connect, reads and parses the answers, writes what is queued, and starts
    /// waiting requests on connections that became idle. Returns the requests that finished.
    pub fn on_ready(&mut self, token: Token, readiness: Readiness) -> Vec<Completion<K>> {
        let mut done = std::mem::take(&mut self.stash);
        if !self.owns(token) {
            return done;
        }
        let i = token.0 - self.first_token;
        let now = Instant::now();
        if let Err(err) = self.drive(i, readiness, &mut done) {
            self.fail(i, err, now, &mut done);
        }
        self.dispatch(now, &mut done);
        done
    }

    /// When the loop must call [`Pool::tick`] next at the latest: a reconnect due, a connect
    /// or a query timing out, or the oldest waiting request reaching its queue timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.stash.is_empty() {
            return Some(Instant::now());
        }
        if self.closed {
            return None;
        }
        let slots = self.slots.iter().filter_map(|slot| match &slot.live {
            None => Some(slot.retry_at),
            Some(live) if !live.conn.is_ready() => {
                Some(live.opened + self.settings.connect_timeout)
            }
            Some(live) if live.in_flight.is_some() => Some(live.sent + self.settings.query_timeout),
            Some(_) => None,
        });
        let queue = self
            .queue
            .front()
            .map(|w| w.since + self.settings.queue_timeout);
        slots.chain(queue).min()
    }

    /// Does what is due at `now` ([`Pool::next_deadline`]): reconnects after a back-off,
    /// gives up on connects and queries that took too long (closing their connection), and
    /// fails requests that waited longer than the queue timeout. Cheap when nothing is due: the loop may call it every turn.
    pub fn tick(&mut self, now: Instant) -> Vec<Completion<K>> {
        let mut done = std::mem::take(&mut self.stash);
        if self.closed {
            return done;
        }
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            match &slot.live {
                None if slot.retry_at <= now => self.open(i, now, &mut done),
                Some(live)
                    if !live.conn.is_ready()
                        && live.opened + self.settings.connect_timeout <= now =>
                {
                    let err = DbError::Lost(format!(
                        "no answer from {} within {:?} of connecting",
                        self.config.address, self.settings.connect_timeout
                    ));
                    self.fail(i, err, now, &mut done);
                }
                Some(live)
                    if live.in_flight.is_some()
                        && live.sent + self.settings.query_timeout <= now =>
                {
                    let err = DbError::NoAnswer {
                        after: now - live.sent,
                    };
                    self.fail(i, err, now, &mut done);
                }
                _ => {}
            }
        }
        expire(&mut self.queue, self.settings.queue_timeout, now, &mut done);
        self.dispatch(now, &mut done);
        done
    }

    /// Closes every connection (a Terminate message each, best effort) and fails every request
    /// still waiting or in flight with [`DbError::Closed`]. The pool reconnects no more.
    pub fn close(&mut self) -> Vec<Completion<K>> {
        let mut done = std::mem::take(&mut self.stash);
        self.closed = true;
        for slot in &mut self.slots {
            if let Some(mut live) = slot.live.take() {
                if live.connected && live.conn.is_ready() {
                    live.conn.terminate();
                    let _ = live.stream.write(live.conn.pending());
                }
                if let Some(waiting) = live.in_flight {
                    done.push(Completion {
                        key: waiting.key,
                        result: Err(DbError::Closed),
                    });
                }
            }
        }
        done.extend(self.queue.drain(..).map(|waiting| Completion {
            key: waiting.key,
            result: Err(DbError::Closed),
        }));
        done
    }

    /// What the pool is doing now, and what it has refused so far.
    pub fn stats(&self) -> PoolStats {
        let live = self.slots.iter().filter_map(|s| s.live.as_ref());
        PoolStats {
            size: self.slots.len(),
            ready: live.clone().filter(|l| l.conn.is_ready()).count(),
            busy: live.filter(|l| l.in_flight.is_some()).count(),
            waiting: self.queue.len(),
            most_waiting: self.most_waiting,
            refused: self.refused,
        }
    }

    /// Opens slot `i`'s socket and registers it. A connect that fails at once (no socket at
    /// that path, no route) is a failed attempt: the slot backs off.
    fn open(&mut self, i: usize, now: Instant, done: &mut Vec<Completion<K>>) {
        let token = Token(self.first_token + i);
        let opened = Stream::connect(&self.config.address).and_then(|mut stream| {
            wb_sys::syscalls::count(Call::EpollCtl);
            self.registry.register(
                stream.source(),
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => {
                self.slots[i].live = Some(Live {
                    stream,
                    conn: PgConnection::new(&self.config),
                    connected: false,
                    opened: now,
                    in_flight: None,
                    sent: now,
                });
            }
            Err(err) => {
                let err = DbError::Lost(format!("connect to {}: {err}", self.config.address));
                self.fail(i, err, now, done);
            }
        }
    }

    /// Carries out one readiness event on slot `i`. An `Err` is fatal for the connection.
    fn drive(
        &mut self,
        i: usize,
        readiness: Readiness,
        done: &mut Vec<Completion<K>>,
    ) -> Result<(), DbError> {
        let address = &self.config.address;
        let settings = &self.settings;
        let read_buf = &mut self.read_buf;
        let Slot { live, backoff, .. } = &mut self.slots[i];
        let Some(live) = live.as_mut() else {
            return Ok(()); // A stale event for a socket closed earlier in this batch.
        };
        if !live.connected {
            match live.stream.connected() {
                Ok(true) => live.connected = true,
                Ok(false) if !readiness.error => return Ok(()),
                Ok(false) => return Err(DbError::Lost(format!("connect to {address}: failed"))),
                Err(err) => return Err(DbError::Lost(format!("connect to {address}: {err}"))),
            }
        }
        if readiness.readable || readiness.read_closed || readiness.error {
            let mut events = Vec::new();
            loop {
                match live.stream.read(read_buf) {
                    Ok(0) => {
                        return Err(DbError::Lost("the server closed the connection".into()));
                    }
                    Ok(n) => {
                        let received = live.conn.received(&read_buf[..n], &mut events);
                        // Answers parsed before an error still count: hand them out first.
                        collect(live, &mut events, done, backoff, settings);
                        received?;
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(DbError::Lost(err.to_string())),
                }
            }
        }
        flush(live)
    }

    /// Starts waiting requests, oldest first, on idle connections.
    fn dispatch(&mut self, now: Instant, done: &mut Vec<Completion<K>>) {
        for i in 0..self.slots.len() {
            if self.queue.is_empty() {
                return;
            }
            let Some(live) = self.slots[i].live.as_mut() else {
                continue;
            };
            if !(live.connected && live.conn.is_idle() && live.in_flight.is_none()) {
                continue;
            }
            let waiting = self.queue.pop_front().expect("not empty");
            // The ids were checked in `submit`, so this does not fail; if it did, the request
            // would fail, not hang.
            if let Err(err) = live.conn.query(&waiting.ids) {
                done.push(Completion {
                    key: waiting.key,
                    result: Err(err),
                });
                continue;
            }
            live.in_flight = Some(waiting);
            live.sent = now;
            if let Err(err) = flush(live) {
                // Never answered, and the query only reads: it goes back to the head of the
                // queue and runs on another connection.
                let waiting = live.in_flight.take().expect("just set");
                self.queue.push_front(waiting);
                self.fail(i, err, now, done);
            }
        }
    }

    /// Closes slot `i` after `err`: its request in flight fails with `err`, and the slot
    /// reconnects after its back-off. If no connection is usable any more, every waiting
    /// request fails too ([`DbError::Unavailable`]): waiting for a database that refuses
    /// connections would only turn a clear error into a timeout.
    fn fail(&mut self, i: usize, err: DbError, now: Instant, done: &mut Vec<Completion<K>>) {
        let slot = &mut self.slots[i];
        let was_ready = match slot.live.take() {
            Some(live) => {
                if let Some(waiting) = live.in_flight {
                    done.push(Completion {
                        key: waiting.key,
                        result: Err(err.clone()),
                    });
                }
                live.conn.is_ready()
                // Dropping the stream closes the descriptor, which leaves the epoll set.
            }
            None => false,
        };
        slot.retry_at = now + slot.backoff.failed(i, &err, was_ready, &self.settings);
        self.last_error = Some(err);
        let usable = self
            .slots
            .iter()
            .any(|s| s.live.as_ref().is_some_and(|l| l.conn.is_ready()));
        if !usable {
            fail_waiting(&mut self.queue, self.last_error.as_ref(), done);
        }
    }
}

/// Dropping the pool says goodbye (Terminate) on every connection that logged in, so the
/// server logs no "unexpected EOF"; requests still waiting are dropped with it.
impl<K> Drop for Pool<K> {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.close();
        }
    }
}

/// Turns a connection's events into completions for its request in flight.
fn collect<K>(
    live: &mut Live<K>,
    events: &mut Vec<Event>,
    done: &mut Vec<Completion<K>>,
    backoff: &mut Backoff,
    settings: &PoolSettings,
) {
    for event in events.drain(..) {
        match event {
            Event::Ready => {
                backoff.reset(settings);
                tracing::debug!(pid = ?live.conn.backend_pid(), "database connection ready");
            }
            Event::Answered(result) => match live.in_flight.take() {
                Some(waiting) => done.push(Completion {
                    key: waiting.key,
                    result,
                }),
                None => tracing::error!("an answer with no request in flight"),
            },
        }
    }
}

/// Writes what the connection has queued, until done or `WouldBlock` (the rest goes on the
/// next writable event).
fn flush<K>(live: &mut Live<K>) -> Result<(), DbError> {
    if !live.connected {
        return Ok(()); // The connect's writable event flushes.
    }
    let stream = &mut live.stream;
    live.conn.flush(|bytes| stream.write(bytes))
}

#[cfg(test)]
pub(super) mod tests {
    //! The pool on a real mio loop against a scripted server on loopback (`wb_pg::script`: a
    //! thread that speaks just enough of PostgreSQL's side, trust login, Parse, Bind/Execute/
    //! Sync answered with `randomnumber = id * 7`, and misbehaves on cue). It runs everywhere,
    //! PostgreSQL or not; `pg::tests` runs the same pool against the real server.

    use std::time::Duration;

    use mio::{Events, Poll};

    use super::*;
    use crate::pg::{FIRST_TOKEN, MAX_IDS};
    pub(in crate::pg) use wb_pg::script::{Script, rows, server};

    pub(in crate::pg) fn settings(size: usize) -> PoolSettings {
        PoolSettings {
            queue_timeout: Duration::from_millis(300),
            query_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_millis(300),
            backoff_min: Duration::from_millis(10),
            ..PoolSettings::new(size)
        }
    }

    /// Turns a mio loop, as the reactor would, until `count` requests finished (at most 10 s);
    /// returns them in the order they finished.
    fn run(poll: &mut Poll, pool: &mut Pool<u32>, count: usize) -> Vec<Completion<u32>> {
        let mut done = Vec::new();
        let give_up = Instant::now() + Duration::from_secs(10);
        while done.len() < count {
            assert!(
                Instant::now() < give_up,
                "{} of {count} in 10 s: {done:?}",
                done.len()
            );
            done.extend(turn(poll, pool));
        }
        done
    }

    /// One turn of the loop: wait (at most 50 ms), handle the events, tick.
    fn turn(poll: &mut Poll, pool: &mut Pool<u32>) -> Vec<Completion<u32>> {
        let mut events = Events::with_capacity(16);
        let now = Instant::now();
        let timeout = pool
            .next_deadline()
            .map_or(Duration::from_millis(50), |at| {
                at.saturating_duration_since(now)
            })
            .min(Duration::from_millis(50));
        poll.poll(&mut events, Some(timeout)).unwrap();
        let mut done = Vec::new();
        for event in events.iter() {
            done.extend(pool.on_ready(event.token(), Readiness::from(event)));
        }
        done.extend(pool.tick(Instant::now()));
        done
    }

    #[test]
    fn one_connection_serves_the_queue_first_in_first_out_whatever_the_segments() {
        let (config, server) = server(
            1,
            Script {
                bytewise: true,
                ..Script::default()
            },
        );
        let mut poll = Poll::new().unwrap();
        let mut pool = Pool::new(config, settings(1), poll.registry(), FIRST_TOKEN).unwrap();
        let asks: Vec<Vec<i32>> = vec![vec![1], vec![2, 3], (1..=20).collect(), vec![500], vec![9]];
        for (key, ids) in asks.iter().enumerate() {
            pool.submit(key as u32, ids.clone()).unwrap();
        }
        let done = run(&mut poll, &mut pool, asks.len());
        let keys: Vec<u32> = done.iter().map(|c| c.key).collect();
        assert_eq!(keys, [0, 1, 2, 3, 4], "first in, first out");
        for c in &done {
            assert_eq!(c.result, Ok(rows(&asks[c.key as usize])));
        }
        assert_eq!(pool.stats().most_waiting, 5);
        assert!(pool.close().is_empty());
        drop(pool); // Closes the socket: the server thread sees EOF (after the Terminate).
        server.join().unwrap();
    }

    #[test]
    fn a_lost_connection_fails_its_request_and_the_pool_reconnects() {
        let (config, server) = server(
            2,
            Script {
                close_at: Some(2),
                ..Script::default()
            },
        );
        let mut poll = Poll::new().unwrap();
        let mut pool = Pool::new(config, settings(1), poll.registry(), FIRST_TOKEN).unwrap();
        pool.submit(1, vec![1]).unwrap();
        assert_eq!(run(&mut poll, &mut pool, 1)[0].result, Ok(rows(&[1])));
        pool.submit(2, vec![2]).unwrap();
        let lost = run(&mut poll, &mut pool, 1);
        assert!(matches!(lost[0].result, Err(DbError::Lost(_))), "{lost:?}");
        // The second connection the server accepts answers.
        pool.submit(3, vec![3]).unwrap();
        assert_eq!(run(&mut poll, &mut pool, 1)[0].result, Ok(rows(&[3])));
        drop(pool);
        server.join().unwrap();
    }

    #[test]
    fn requests_that_wait_too_long_time_out_and_close_fails_the_one_in_flight() {
        let (config, server) = server(
            1,
            Script {
                hang: true,
                ..Script::default()
            },
        );
        let mut poll = Poll::new().unwrap();
        let mut pool = Pool::new(config, settings(1), poll.registry(), FIRST_TOKEN).unwrap();
        pool.submit(1, vec![1]).unwrap();
        pool.submit(2, vec![2]).unwrap();
        let done = run(&mut poll, &mut pool, 1);
        assert_eq!(done[0].key, 2, "the one still in the queue");
        assert!(
            matches!(done[0].result, Err(DbError::Timeout { .. })),
            "{done:?}"
        );
        let closed = pool.close();
        assert_eq!(closed.len(), 1);
        assert_eq!(
            (closed[0].key, &closed[0].result),
            (1, &Err(DbError::Closed))
        );
        assert_eq!(pool.submit(3, vec![3]), Err(Refused::Closed));
        drop(pool);
        server.join().unwrap();
    }

    #[test]
    fn a_query_without_an_answer_fails_and_its_connection_is_replaced() {
        let (config, server) = server(
            2,
            Script {
                hang: true,
                ..Script::default()
            },
        );
        let mut poll = Poll::new().unwrap();
        let quick = PoolSettings {
            query_timeout: Duration::from_millis(200),
            queue_timeout: Duration::from_secs(10),
            ..settings(1)
        };
        let mut pool = Pool::new(config, quick, poll.registry(), FIRST_TOKEN).unwrap();
        pool.submit(1, vec![1]).unwrap();
        let done = run(&mut poll, &mut pool, 1);
        assert!(
            matches!(done[0].result, Err(DbError::NoAnswer { .. })),
            "{done:?}"
        );
        // The connection was closed (the server thread moves on to the next one) and another
        // logs in: the pool is whole again.
        let give_up = Instant::now() + Duration::from_secs(10);
        while pool.stats().ready < 1 {
            assert!(Instant::now() < give_up, "{:?}", pool.stats());
            assert!(turn(&mut poll, &mut pool).is_empty(), "nothing was asked");
        }
        drop(pool);
        server.join().unwrap();
    }

    #[test]
    fn a_server_that_never_logs_in_makes_waiting_requests_fail_with_the_reason() {
        let (config, server) = server(
            1,
            Script {
                mute: true,
                ..Script::default()
            },
        );
        let mut poll = Poll::new().unwrap();
        let mut pool = Pool::new(config, settings(1), poll.registry(), FIRST_TOKEN).unwrap();
        pool.submit(1, vec![1]).unwrap();
        let done = run(&mut poll, &mut pool, 1);
        match &done[0].result {
            Err(DbError::Unavailable(why)) => assert!(why.contains("within"), "{why}"),
            other => panic!("{other:?}"),
        }
        drop(pool);
        server.join().unwrap();
    }

    #[test]
    fn bad_requests_and_tokens_are_refused_without_effect() {
        let (config, server) = server(1, Script::default());
        let poll = Poll::new().unwrap();
        let mut pool = Pool::new(config, settings(2), poll.registry(), FIRST_TOKEN).unwrap();
        assert!(matches!(
            pool.submit(1, vec![]),
            Err(Refused::Invalid { .. })
        ));
        assert!(matches!(
            pool.submit(1, vec![1; MAX_IDS + 1]),
            Err(Refused::Invalid { .. })
        ));
        assert!(pool.owns(Token(FIRST_TOKEN + 1)) && !pool.owns(Token(FIRST_TOKEN + 2)));
        assert!(pool.on_ready(Token(3), Readiness::default()).is_empty());
        assert_eq!(pool.stats().waiting, 0);
        drop(pool);
        server.join().unwrap();
        let registry = Poll::new().unwrap();
        let zero = Pool::<u32>::new(
            Config::parse("user=u").unwrap(),
            PoolSettings::new(0),
            registry.registry(),
            FIRST_TOKEN,
        );
        assert!(zero.unwrap_err().to_string().contains("--db-pool"));
    }
}
