//! The dashboard's HTTP server: an accept loop around hyper's HTTP/1.1 connections, with the
//! limits `axum::serve` leaves out, so that idle and half-sent connections cannot starve it.
//!
//! - **Header-read timeout** ([`Limits::header_read_timeout`]): a request head must arrive
//!   whole within it, counted from when the connection starts waiting for one — the first head
//!   of a new connection and the next head on a kept-alive one alike (hyper's
//!   `header_read_timeout`), so it bounds a slowloris head and an idle keep-alive connection.
//! - **Idle timeout** ([`Limits::idle_timeout`]): a connection on which no byte moved either
//!   way for this long is closed, whatever it is doing — a body that stopped arriving, a client
//!   that stopped reading an answer or an event stream (which sends a comment every 15 s, so a
//!   client that reads never looks idle).
//! - **Connection cap** ([`Limits::max_connections`]): at most this many connections are held.
//!   When a new one arrives at the cap, the connection that has waited longest without a
//!   request in flight (idle keep-alive or a head still arriving) is closed to make room, as
//!   nginx reuses its idle keep-alive connections when it runs out; when every connection has
//!   a request in flight, the new one waits for a slot to free, and the connections behind it
//!   wait in the kernel's listen backlog. Waiting, rather than accepting and closing at once,
//!   keeps a client that arrived at a busy moment from seeing an error, and costs the process
//!   no descriptor: a connection in the backlog is the kernel's. The cap is set below the
//!   process's open-files limit ([`Limits::for_open_files`]), so the accept loop itself never
//!   meets `EMFILE` on its account.
//!
//! An accept error is never fatal: a connection error (the client gave up while it waited in
//! the backlog) is skipped, and any other (`EMFILE` from descriptors opened elsewhere, `ENFILE`,
//! `ENOMEM`) closes the oldest idle connection and backs off briefly, so the loop neither spins
//! nor stops.
//!
//! # Shutdown
//!
//! As `axum::serve`'s graceful shutdown: on the signal the loop stops accepting, every
//! connection finishes the request it is answering and closes, and `serve` returns when the
//! last one has.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// How long a connection may take to send a whole request head, counted from when it starts
/// waiting for one. The engines' header timeout, shorter than nginx's 60 s
/// (`client_header_timeout`): the dashboard's clients are browsers on a fast network.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may move no byte either way: nginx's `send_timeout` and
/// `client_body_timeout`. Four times the event stream's keep-alive comment (15 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the accept loop rests after an error that is not the client's (`EMFILE`, …),
/// so that it does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The limits of the dashboard's server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most connections held at once (see the [module docs](self)).
    pub max_connections: usize,
    /// The most live-progress streams (`/runs/{id}/events`) at once; one more is answered
    /// `503`. Each holds a connection for as long as the page is open.
    pub max_live_streams: usize,
    /// [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
}

impl Default for Limits {
    /// The limits for a process allowed 1,024 open files, the usual soft limit.
    fn default() -> Limits {
        Limits::for_open_files(1024)
    }
}

impl Limits {
    /// The limits for a process allowed `open_files` descriptors: half of them for
    /// connections (the other half for the store, the runs started from the browser and their
    /// engines' pipes, which share the process), at most 4,096 and at least 16; half of the
    /// connections for live streams, so that pages always have room.
    pub fn for_open_files(open_files: u64) -> Limits {
        let max_connections = (open_files / 2).clamp(16, 4096) as usize;
        Limits {
            max_connections,
            max_live_streams: max_connections / 2,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `stop` becomes true, then waits for the
/// open connections to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Arc::new(Registry::default());
    // Every connection holds a clone of `open`; `closed()` completes when the last is gone.
    let (open, _) = watch::channel(());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut last_error_logged: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                // Logged at most once a second: under EMFILE this repeats until a descriptor
                // frees.
                if last_error_logged.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                    tracing::error!(
                        "accept error: {err} (closing an idle connection and retrying)"
                    );
                    last_error_logged = Some(Instant::now());
                }
                registry.evict_oldest_idle();
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                continue;
            }
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                registry.evict_oldest_idle();
                tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = registry.add();
        let registry = registry.clone();
        let app = app.clone();
        let builder = builder.clone();
        let mut stop = stop.clone();
        let open = open.subscribe();
        tokio::spawn(async move {
            let _permit = permit;
            let _open = open;
            let io = TokioIo::new(Tracked {
                stream,
                conn: conn.clone(),
            });
            let service = {
                let conn = conn.clone();
                hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                    let busy = Busy::start(&conn);
                    let app = app.clone();
                    async move {
                        let response = app
                            .oneshot(request.map(Body::new))
                            .await
                            .unwrap_or_else(|never: Infallible| match never {});
                        // The request counts as in flight until its answer's body is sent
                        // (or dropped): an event stream is never "idle".
                        Ok::<_, Infallible>(response.map(|body| BusyBody { body, _busy: busy }))
                    }
                })
            };
            let connection = builder.serve_connection(io, service);
            let mut connection = std::pin::pin!(connection);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::debug!("dashboard connection: {err}");
                        }
                        break;
                    }
                    _ = stop.wait_for(|s| *s), if !stopping => {
                        connection.as_mut().graceful_shutdown();
                        stopping = true;
                    }
                    _ = conn.evict.notified() => break,
                    _ = conn.idle_for(limits.idle_timeout) => {
                        tracing::debug!("dashboard connection idle for {:?}: closed", limits.idle_timeout);
                        break;
                    }
                }
            }
            registry.remove(conn.id);
        });
    }
    drop(listener);
    open.closed().await;
}

/// Whether an accept error is the client's (it gave up while waiting), not the server's.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The connections held now, for choosing which to close at the cap.
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn add(&self) -> Arc<Conn> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            start: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        });
        self.lock().insert(id, conn.clone());
        conn
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the connection idle longest: no request in flight, least recently active.
    /// Returns whether there was one.
    fn evict_oldest_idle(&self) -> bool {
        let conns = self.lock();
        let oldest = conns
            .values()
            .filter(|c| {
                c.in_flight.load(Ordering::Acquire) == 0 && !c.evicted.load(Ordering::Relaxed)
            })
            .min_by_key(|c| {
                c.start + Duration::from_millis(c.last_active_ms.load(Ordering::Relaxed))
            });
        match oldest {
            Some(conn) => {
                conn.evicted.store(true, Ordering::Relaxed);
                // Stored if the task is not waiting right now: it sees it at its next wait.
                conn.evict.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the accept loop and a connection's task share about it.
struct Conn {
    id: u64,
    /// When it was accepted: `last_active_ms` counts from here.
    start: Instant,
    /// When a byte last moved either way, in milliseconds after `start`.
    last_active_ms: AtomicU64,
    /// Requests being answered (0 or 1 in HTTP/1.1 without pipelining).
    in_flight: AtomicUsize,
    /// Chosen to be closed; not chosen twice.
    evicted: AtomicBool,
    /// Wakes its task to close it.
    evict: Notify,
}

impl Conn {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once no byte has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last =
                self.start + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A request in flight on a connection, from its head to the end of its answer's body.
struct Busy(Arc<Conn>);

impl Busy {
    fn start(conn: &Arc<Conn>) -> Busy {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(conn.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body that keeps its request counted as in flight until it is done.
struct BusyBody {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noting on its [`Conn`] when a byte moves (for the idle timeout and the choice
/// of whom to close).
struct Tracked {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
