//! The same [`PgConnection`]s driven by tokio instead of mio: the database client of the
//! `--reactor tokio` adapter.
//!
//! [`Pool`](super::Pool) is the mio loop's transport: it owns the sockets, matches tokens,
//! keeps one deadline per slot and is called by the reactor on every event. On tokio's
//! current-thread runtime the natural transport is a task per connection, so [`TokioPool`]
//! keeps the same fixed set of `size` connections as `size` tasks (spawned on the caller's
//! `LocalSet`), each of which:
//!
//! 1. connects (a `tokio::net::TcpStream`, or a `UnixStream` for a socket-directory host) and
//!    logs in, writing [`PgConnection::pending`] and feeding what it reads to
//!    [`PgConnection::received`] until [`Event::Ready`] — within
//!    [`PoolSettings::connect_timeout`];
//! 2. takes the oldest request from the queue the tasks share (an `Rc<RefCell<VecDeque>>`;
//!    a [`Notify`] wakes an idle task when one is pushed), runs it — Bind/Execute per id and
//!    one Sync, one round trip — and answers through the request's `oneshot` channel, within
//!    [`PoolSettings::query_timeout`] (past it the request fails with [`DbError::NoAnswer`]
//!    and the connection is replaced: what the server was doing with it is unknown);
//! 3. on a lost connection or a failed login, fails its request in flight, waits its
//!    back-off ([`PoolSettings::backoff_min`] doubling to [`PoolSettings::backoff_max`],
//!    from the shortest again once a connection logs in) and starts over.
//!
//! The queue is the mio pool's: FIFO, bounded by [`PoolSettings::queue_limit`] (beyond it
//! [`TokioPool::submit`] refuses, and the engine answers 503 at once), and requests waiting
//! longer than [`PoolSettings::queue_timeout`] fail with [`DbError::Timeout`] (one more task
//! sleeps until the oldest request's deadline). While no connection is usable, a failure
//! fails the waiting requests at once with the reason ([`DbError::Unavailable`]).
//!
//! The protocol — what to say when, and what the bytes mean — is the very state machine the
//! mio pool drives; only the waiting differs, as the HTTP side differs between
//! `reactor.rs` and `on_tokio.rs`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use super::{Address, Config};
use super::{DbError, PoolSettings, PoolStats, Refused};
use super::{Event, PgConnection, Row};

/// Bytes read from a database socket per `try_read` (as the mio pool).
const READ_CHUNK: usize = 16 * 1024;

/// What a request's `oneshot` brings back: the rows, or why there are none.
pub type Answer = Result<Vec<Row>, DbError>;

/// A request in the queue.
#[derive(Debug)]
struct Request {
    ids: Vec<i32>,
    since: Instant,
    reply: oneshot::Sender<Answer>,
}

/// What the tasks and the handle share: one thread, so `Cell`s and `RefCell`s.
#[derive(Debug)]
struct Inner {
    config: Config,
    settings: PoolSettings,
    queue: RefCell<VecDeque<Request>>,
    /// Wakes an idle connection task when a request is queued.
    queued: Notify,
    /// Set once by [`TokioPool::close`]; every task watches it.
    closing: watch::Sender<bool>,
    /// Connections logged in and prepared.
    ready: Cell<usize>,
    /// Connections with a request in flight.
    busy: Cell<usize>,
    most_waiting: Cell<usize>,
    refused: Cell<u64>,
}

impl Inner {
    fn closed(&self) -> bool {
        *self.closing.borrow()
    }

    /// A connection was lost or could not be made (logged by its `Backoff`): if no connection is usable, the
    /// waiting requests fail now with the reason (as the mio pool's `fail`); otherwise
    /// another task is woken for them, in case this one had taken the queue's wake-up.
    fn failed(&self, err: &DbError) {
        if self.ready.get() == 0 {
            let reason = err.to_string();
            for request in self.queue.borrow_mut().drain(..) {
                let _ = request
                    .reply
                    .send(Err(DbError::Unavailable(reason.clone())));
            }
        } else if !self.queue.borrow().is_empty() {
            self.queued.notify_one();
        }
    }

    /// The oldest request whose asker still waits (a client that left dropped its receiver:
    /// its request is skipped, not run).
    fn next_request(&self) -> Option<Request> {
        let mut queue = self.queue.borrow_mut();
        while let Some(request) = queue.pop_front() {
            if !request.reply.is_closed() {
                return Some(request);
            }
        }
        None
    }
}

/// A fixed set of database connections, each driven by a task on the current-thread runtime,
/// and the FIFO queue of requests waiting for one. See the [module doc](self).
#[derive(Debug)]
pub struct TokioPool {
    inner: Rc<Inner>,
    /// The connection tasks and the queue's timeout task (taken by [`TokioPool::close`]).
    tasks: RefCell<Vec<JoinHandle<()>>>,
}

impl TokioPool {
    /// Spawns `settings.size` connection tasks and the queue's timeout task on the current
    /// `LocalSet` (so it must be called inside one: `LocalSet::block_on` or `run_until`).
    /// They connect at once, without waiting; requests submitted meanwhile wait in the queue.
    pub fn start(config: Config, settings: PoolSettings) -> io::Result<TokioPool> {
        if settings.size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a database pool of 0 connections; give --db-pool 1 or more",
            ));
        }
        let size = settings.size;
        let inner = Rc::new(Inner {
            config,
            settings,
            queue: RefCell::new(VecDeque::new()),
            queued: Notify::new(),
            closing: watch::Sender::new(false),
            ready: Cell::new(0),
            busy: Cell::new(0),
            most_waiting: Cell::new(0),
            refused: Cell::new(0),
        });
        let mut tasks: Vec<JoinHandle<()>> = (0..size)
            .map(|slot| tokio::task::spawn_local(connection_task(Rc::clone(&inner), slot)))
            .collect();
        tasks.push(tokio::task::spawn_local(expiry_task(Rc::clone(&inner))));
        Ok(TokioPool {
            inner,
            tasks: RefCell::new(tasks),
        })
    }

    /// Queues a request for the rows of `ids` (1 to [`MAX_IDS`](super::MAX_IDS)); the receiver brings the
    /// answer. Refused, without queueing, when the queue is full ([`Refused::Full`]: answer
    /// 503 at once), closed, or the ids are out of bounds. Dropping the receiver withdraws
    /// the request if it has not started.
    pub fn submit(&self, ids: Vec<i32>) -> Result<oneshot::Receiver<Answer>, Refused> {
        wb_pg::check_ids(&ids)?;
        if self.inner.closed() {
            return Err(Refused::Closed);
        }
        let mut queue = self.inner.queue.borrow_mut();
        let limit = self.inner.settings.queue_limit;
        if queue.len() >= limit {
            self.inner.refused.set(self.inner.refused.get() + 1);
            return Err(Refused::Full {
                waiting: queue.len(),
                limit,
            });
        }
        let (reply, answer) = oneshot::channel();
        queue.push_back(Request {
            ids,
            since: Instant::now(),
            reply,
        });
        self.inner
            .most_waiting
            .set(self.inner.most_waiting.get().max(queue.len()));
        drop(queue);
        self.inner.queued.notify_one();
        Ok(answer)
    }

    /// What the pool is doing now, and what it has refused so far.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.inner.settings.size,
            ready: self.inner.ready.get(),
            busy: self.inner.busy.get(),
            waiting: self.inner.queue.borrow().len(),
            most_waiting: self.inner.most_waiting.get(),
            refused: self.inner.refused.get(),
        }
    }

    /// Stops the pool: requests still waiting fail with [`DbError::Closed`], and so do those
    /// in flight; every connection that logged in says Terminate and closes. Waits (at most
    /// `grace`) for the tasks to end; the rest are aborted.
    pub async fn close(&self, grace: Duration) {
        self.inner.closing.send_replace(true);
        for request in self.inner.queue.borrow_mut().drain(..) {
            let _ = request.reply.send(Err(DbError::Closed));
        }
        let deadline = tokio::time::Instant::now() + grace;
        let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
        for mut task in tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

/// Dropping the pool ends its tasks (without the goodbye [`TokioPool::close`] says).
impl Drop for TokioPool {
    fn drop(&mut self) {
        self.inner.closing.send_replace(true);
        for task in self.tasks.get_mut() {
            task.abort();
        }
    }
}

/// Fails requests that waited longer than the queue timeout: sleeps until the oldest one's
/// deadline (or a whole timeout while the queue is empty: what arrives meanwhile is due
/// later than that).
async fn expiry_task(inner: Rc<Inner>) {
    let limit = inner.settings.queue_timeout;
    let mut closing = inner.closing.subscribe();
    loop {
        let now = Instant::now();
        let next = {
            let mut queue = inner.queue.borrow_mut();
            while let Some(front) = queue.front()
                && front.since + limit <= now
            {
                let request = queue.pop_front().expect("a front");
                let _ = request.reply.send(Err(DbError::Timeout {
                    waited: now - request.since,
                }));
            }
            queue
                .front()
                .map_or(now + limit, |front| front.since + limit)
        };
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            _ = closing.wait_for(|closed| *closed) => return,
        }
    }
}

/// One of the pool's connections, for the pool's life: log in, serve the queue, and after a
/// loss or a failed login wait the back-off and start over.
async fn connection_task(inner: Rc<Inner>, slot: usize) {
    let settings = &inner.settings;
    let mut backoff = wb_pg::Backoff::new(settings);
    let mut closing = inner.closing.subscribe();
    let mut read_buf = vec![0; READ_CHUNK].into_boxed_slice();
    while !inner.closed() {
        let logged_in = tokio::select! {
            logged_in = tokio::time::timeout(settings.connect_timeout, log_in(&inner.config, &mut read_buf)) => logged_in,
            _ = closing.wait_for(|closed| *closed) => return,
        };
        let (err, was_ready) = match logged_in {
            Ok(Ok(mut live)) => {
                backoff.reset(settings);
                tracing::debug!(slot, pid = ?live.conn.backend_pid(), "database connection ready");
                inner.ready.set(inner.ready.get() + 1);
                let served = serve(&inner, &mut live, &mut read_buf, &mut closing).await;
                inner.ready.set(inner.ready.get() - 1);
                match served {
                    Ok(()) => {
                        // Closing: say goodbye, best effort, so the server logs no
                        // "unexpected EOF".
                        live.conn.terminate();
                        let _ = live.stream.try_write(live.conn.pending());
                        return;
                    }
                    Err(err) => (err, true),
                }
            }
            Ok(Err(err)) => (err, false),
            Err(_elapsed) => (
                DbError::Lost(format!(
                    "no answer from {} within {:?} of connecting",
                    inner.config.address, settings.connect_timeout
                )),
                false,
            ),
        };
        let wait = backoff.failed(slot, &err, was_ready, settings);
        inner.failed(&err);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = closing.wait_for(|closed| *closed) => return,
        }
    }
}

/// A logged-in connection: its socket and the conversation on it.
struct Live {
    stream: Stream,
    conn: PgConnection,
}

/// Connects and logs in (the caller bounds the time).
async fn log_in(config: &Config, read_buf: &mut [u8]) -> Result<Live, DbError> {
    let address = &config.address;
    let stream = Stream::connect(address)
        .await
        .map_err(|err| DbError::Lost(format!("connect to {address}: {err}")))?;
    let mut live = Live {
        stream,
        conn: PgConnection::new(config),
    };
    converse(&mut live, read_buf, |event| match event {
        Event::Ready => Some(()),
        Event::Answered(_) => None,
    })
    .await?;
    Ok(live)
}

/// Serves the queue on a logged-in connection until it is lost (`Err`, after failing its
/// request in flight) or the pool closes (`Ok`).
async fn serve(
    inner: &Inner,
    live: &mut Live,
    read_buf: &mut [u8],
    closing: &mut watch::Receiver<bool>,
) -> Result<(), DbError> {
    let settings = &inner.settings;
    loop {
        let request = loop {
            if inner.closed() {
                return Ok(());
            }
            if let Some(request) = inner.next_request() {
                break request;
            }
            tokio::select! {
                () = inner.queued.notified() => {}
                _ = closing.wait_for(|closed| *closed) => return Ok(()),
                // Idle, the server speaks only to say goodbye (an administrator's
                // pg_terminate_backend, a shutdown): notice it now, not on the next query.
                ready = live.stream.readable() => {
                    ready.map_err(|err| DbError::Lost(err.to_string()))?;
                    read(live, read_buf, &mut Vec::new())?;
                }
            }
        };
        // Checked in `submit`, so this does not fail; if it did, the request would fail,
        // not hang.
        if let Err(err) = live.conn.query(&request.ids) {
            let _ = request.reply.send(Err(err));
            continue;
        }
        inner.busy.set(inner.busy.get() + 1);
        let sent = Instant::now();
        let answered = tokio::select! {
            answered = tokio::time::timeout(
                settings.query_timeout,
                converse(live, read_buf, |event| match event {
                    Event::Answered(answer) => Some(answer),
                    Event::Ready => None,
                }),
            ) => Some(answered),
            _ = closing.wait_for(|closed| *closed) => None,
        };
        inner.busy.set(inner.busy.get() - 1);
        match answered {
            None => {
                let _ = request.reply.send(Err(DbError::Closed));
                return Ok(());
            }
            Some(Ok(Ok(answer))) => {
                // The receiver is gone when the client left meanwhile: the rows go nowhere.
                let _ = request.reply.send(answer);
            }
            Some(Ok(Err(err))) => {
                let _ = request.reply.send(Err(err.clone()));
                return Err(err);
            }
            Some(Err(_elapsed)) => {
                let err = DbError::NoAnswer {
                    after: sent.elapsed(),
                };
                let _ = request.reply.send(Err(err.clone()));
                return Err(err);
            }
        }
    }
}

/// Writes what the connection has to say and reads what the server answers until `wanted`
/// picks an event out of what [`PgConnection::received`] reports.
async fn converse<T>(
    live: &mut Live,
    read_buf: &mut [u8],
    mut wanted: impl FnMut(Event) -> Option<T>,
) -> Result<T, DbError> {
    let mut events = Vec::new();
    loop {
        flush(live)?;
        let wants_write = !live.conn.pending().is_empty();
        tokio::select! {
            ready = live.stream.readable() => {
                ready.map_err(|err| DbError::Lost(err.to_string()))?;
                let received = read(live, read_buf, &mut events);
                // Answers parsed before an error still count.
                let mut found = None;
                for event in events.drain(..) {
                    match wanted(event) {
                        Some(value) if found.is_none() => found = Some(value),
                        Some(_) => tracing::error!("a second answer with one request in flight"),
                        None => {}
                    }
                }
                if let Some(value) = found {
                    return Ok(value);
                }
                received?;
            }
            ready = live.stream.writable(), if wants_write => {
                ready.map_err(|err| DbError::Lost(err.to_string()))?;
            }
        }
    }
}

/// Reads until `WouldBlock`, feeding the state machine. An `Err` is fatal for the connection.
fn read(live: &mut Live, read_buf: &mut [u8], events: &mut Vec<Event>) -> Result<(), DbError> {
    loop {
        match live.stream.try_read(read_buf) {
            Ok(0) => return Err(DbError::Lost("the server closed the connection".into())),
            Ok(n) => live.conn.received(&read_buf[..n], events)?,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(DbError::Lost(err.to_string())),
        }
    }
}

/// Writes what the connection has queued, until done or `WouldBlock` (the rest once the
/// socket is writable again).
fn flush(live: &mut Live) -> Result<(), DbError> {
    let stream = &live.stream;
    live.conn.flush(|bytes| stream.try_write(bytes))
}

/// A socket of either kind, with tokio's readiness.
#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    async fn connect(address: &Address) -> io::Result<Stream> {
        Ok(match address {
            Address::Tcp(addr) => {
                let stream = TcpStream::connect(*addr).await?;
                // Queries are small and answered at once: no Nagle delay on the Sync.
                stream.set_nodelay(true)?;
                Stream::Tcp(stream)
            }
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path).await?),
        })
    }

    async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.readable().await,
            Stream::Unix(stream) => stream.readable().await,
        }
    }

    async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.writable().await,
            Stream::Unix(stream) => stream.writable().await,
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.try_read(buf),
            Stream::Unix(stream) => stream.try_read(buf),
        }
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.try_write(buf),
            Stream::Unix(stream) => stream.try_write(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The tokio pool against the mio pool's scripted server (`pool::tests`): the same
    //! scripts, the same expectations, driven by tasks on a current-thread runtime.

    use super::*;
    use crate::pg::MAX_IDS;
    use crate::pg::pool::tests::{Script, rows, server, settings};

    /// Runs `test` inside a `LocalSet` on a current-thread runtime, bounded at 10 s.
    fn local(test: impl AsyncFnOnce()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, async {
            tokio::time::timeout(Duration::from_secs(10), test())
                .await
                .expect("the test finishes within 10 s");
        });
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
        local(async || {
            let pool = TokioPool::start(config, settings(1)).unwrap();
            let asks: Vec<Vec<i32>> =
                vec![vec![1], vec![2, 3], (1..=20).collect(), vec![500], vec![9]];
            let answers: Vec<_> = asks
                .iter()
                .map(|ids| pool.submit(ids.clone()).unwrap())
                .collect();
            assert_eq!(pool.stats().most_waiting, 5);
            let order = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for (key, answer) in answers.into_iter().enumerate() {
                let order = Rc::clone(&order);
                tasks.push(tokio::task::spawn_local(async move {
                    let answer = answer.await.expect("an answer");
                    order.borrow_mut().push(key);
                    answer
                }));
            }
            for (task, ids) in tasks.into_iter().zip(&asks) {
                assert_eq!(task.await.unwrap(), Ok(rows(ids)));
            }
            assert_eq!(*order.borrow(), [0, 1, 2, 3, 4], "first in, first out");
            pool.close(Duration::from_secs(1)).await;
        });
        server.join().unwrap(); // It saw the Terminate, then EOF.
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
        local(async || {
            let pool = TokioPool::start(config, settings(1)).unwrap();
            assert_eq!(pool.submit(vec![1]).unwrap().await.unwrap(), Ok(rows(&[1])));
            let lost = pool.submit(vec![2]).unwrap().await.unwrap();
            assert!(matches!(lost, Err(DbError::Lost(_))), "{lost:?}");
            // The second connection the server accepts answers.
            assert_eq!(pool.submit(vec![3]).unwrap().await.unwrap(), Ok(rows(&[3])));
            pool.close(Duration::from_secs(1)).await;
        });
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
        local(async || {
            let pool = TokioPool::start(config, settings(1)).unwrap();
            let first = pool.submit(vec![1]).unwrap();
            let second = pool.submit(vec![2]).unwrap();
            let waited = second.await.unwrap();
            assert!(matches!(waited, Err(DbError::Timeout { .. })), "{waited:?}");
            pool.close(Duration::from_secs(1)).await;
            assert_eq!(first.await.unwrap(), Err(DbError::Closed));
            assert_eq!(pool.submit(vec![3]).unwrap_err(), Refused::Closed);
        });
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
        local(async || {
            let quick = PoolSettings {
                query_timeout: Duration::from_millis(200),
                queue_timeout: Duration::from_secs(10),
                ..settings(1)
            };
            let pool = TokioPool::start(config, quick).unwrap();
            let done = pool.submit(vec![1]).unwrap().await.unwrap();
            assert!(matches!(done, Err(DbError::NoAnswer { .. })), "{done:?}");
            // The connection was closed (the server moves on to the next one) and another
            // logs in: the pool is whole again.
            while pool.stats().ready < 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            pool.close(Duration::from_secs(1)).await;
        });
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
        local(async || {
            let pool = TokioPool::start(config, settings(1)).unwrap();
            match pool.submit(vec![1]).unwrap().await.unwrap() {
                Err(DbError::Unavailable(why)) => assert!(why.contains("within"), "{why}"),
                other => panic!("{other:?}"),
            }
            pool.close(Duration::from_secs(1)).await;
        });
        server.join().unwrap();
    }

    #[test]
    fn a_full_queue_and_bad_requests_are_refused_at_once() {
        let (config, server) = server(1, Script::default());
        local(async || {
            let small = PoolSettings {
                queue_limit: 2,
                ..settings(1)
            };
            let pool = TokioPool::start(config, small).unwrap();
            assert!(matches!(pool.submit(vec![]), Err(Refused::Invalid { .. })));
            assert!(matches!(
                pool.submit(vec![1; MAX_IDS + 1]),
                Err(Refused::Invalid { .. })
            ));
            // Nothing has run yet (the tasks have not been polled): two wait, the third is
            // refused.
            let first = pool.submit(vec![1]).unwrap();
            let second = pool.submit(vec![2]).unwrap();
            assert_eq!(
                pool.submit(vec![3]).unwrap_err(),
                Refused::Full {
                    waiting: 2,
                    limit: 2
                }
            );
            assert_eq!(pool.stats().refused, 1);
            assert_eq!(first.await.unwrap(), Ok(rows(&[1])));
            assert_eq!(second.await.unwrap(), Ok(rows(&[2])));
            pool.close(Duration::from_secs(1)).await;
        });
        server.join().unwrap();
        local(async || {
            let zero = TokioPool::start(Config::parse("user=u").unwrap(), PoolSettings::new(0));
            assert!(zero.unwrap_err().to_string().contains("--db-pool"));
        });
    }
}
