//! One connection's task: the loop of the [crate docs](crate), the read path that keeps no
//! buffer in the task, and the lingering close.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::watch;
use wb_protocol::{Event, Response, Session};
use wb_sys::timeouts::ReadDeadline;
use wb_sys::trace::{self, Phase};

use crate::Settings;

/// Bytes read per `read` call. There is one buffer per thread, not per connection, so it can
/// be generous: 64 KiB takes a whole pipelined burst in one call.
const READ_BUFFER_BYTES: usize = 64 * 1024;

thread_local! {
    /// The read buffer of the thread running a task, borrowed for one `try_read` at a time.
    /// Allocated on first use, so blocking-pool threads, which never read sockets, never
    /// allocate one.
    static READ_BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUFFER_BYTES]);
}

/// The future spawned for one connection, and all that an idle connection costs.
///
/// An `async move` block rather than an `async fn`: the compiler stores an `async fn`'s
/// arguments twice in its future (once as captured, once as the local they are moved into;
/// rust-lang/rust#62958), while a block uses what it captured in place: 56 bytes saved on
/// every connection.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would store the arguments twice"
)]
pub(crate) fn connection(
    mut stream: TcpStream,
    mut stop: watch::Receiver<()>,
    settings: Settings,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        // The lingering close runs after `serve_requests` has returned, so the two futures
        // share the same bytes of this one.
        match serve_requests(&mut stream, &mut stop, &settings).await {
            Ok(End::Linger) => linger(&mut stream).await,
            Ok(End::Close) => {}
            // A client going away (reset, broken pipe) is ordinary, not the server's problem.
            Err(err) => tracing::debug!("connection ended with an error: {err}"),
        }
    }
}

/// How a connection ends once its requests are served.
enum End {
    /// A response said `Connection: close`: close without losing it (see [`linger`]).
    Linger,
    /// The client closed, or the server is stopping: close now.
    Close,
}

// lesson:begin handle
/// The loop of the module docs: answers requests until one closes the connection, the client
/// leaves, a timeout passes, or the server stops.
async fn serve_requests(
    stream: &mut TcpStream,
    stop: &mut watch::Receiver<()>,
    settings: &Settings,
) -> io::Result<End> {
    let timeouts = &settings.timeouts;
    let mut session = Session::new();
    let mut deadline = ReadDeadline::accepted(timeouts, Instant::now());
    loop {
        match session.next_event() {
            // lesson:begin teach
            Event::Job(mut job) => {
                let closes = job.closes();
                // `/count` reads the shared counter before the sleep and writes it after: other
                // tasks run during the sleep (on this thread or another), and may update it too.
                job.begin();
                // Most jobs do not wait; a zero sleep would still go through the timer. While
                // it waits, the task also watches its socket: a client that hangs up ends it.
                if !job.wait().is_zero() && !wait_unless_hung_up(stream, job.wait()).await {
                    return Ok(End::Close);
                }
                // lesson:end
                // `/db` and `/queries`: park on the pool, then on each query (boxed: only a
                // connection that queries pays for the future's state).
                if job.world_ids().is_some() {
                    job = crate::database::fetch_boxed(job, stream.as_raw_fd() as u64).await;
                }
                let response = if settings.offload && job.cpu_rounds() > 0 {
                    // This worker goes on with other tasks while a blocking-pool thread runs
                    // the rounds; the task wakes up when they are done — or when the client
                    // hangs up, and then the rounds run on and their result is dropped.
                    let task = stream.as_raw_fd() as u64;
                    let computing = tokio::task::spawn_blocking(move || {
                        trace::traced(Phase::Compute, task, || job.respond())
                    });
                    match unless_hung_up(stream, computing).await {
                        Some(done) => done.map_err(io::Error::other)?,
                        None => return Ok(End::Close),
                    }
                } else {
                    trace::traced(Phase::Compute, stream.as_raw_fd() as u64, || job.respond())
                };
                // lesson:begin teach
                send(stream, response, timeouts.send).await?;
                // lesson:end
                if closes {
                    return Ok(End::Linger);
                }
                deadline =
                    ReadDeadline::answered(timeouts, session.is_mid_request(), Instant::now());
            }
            Event::NeedData => {
                // Wait for bytes, the stop or the read deadline, holding no buffer. `biased`:
                // polled in this order, so a stopping server starts on no new request.
                // (Waiting on `stop` costs two uncontended locks per wait: watch shards its
                // waiter list.)
                if let Some(rest) = session.read_pause() {
                    // The request trickles in a byte per segment: let it pile up in the
                    // kernel and take it in one read, not one read per byte. Boxed: only a
                    // trickling client pays for the rest's timer, not every task's future
                    // (an idle connection's cost is the future's size).
                    let until = deadline.at.min(std::time::Instant::now() + rest);
                    if !Box::pin(rest_before_reading(stream, stop, until)).await? {
                        return Ok(End::Close);
                    }
                }
                let at = tokio::time::Instant::from_std(deadline.at);
                // lesson:begin teach
                tokio::select! {
                    biased;
                    _ = stop.changed() => return Ok(End::Close),
                    ready = readable(stream) => ready?,
                    () = tokio::time::sleep_until(at) => {
                        // A request half-sent gets 408; an idle connection just closes.
                        return match session.time_out() {
                            Some(job) => {
                                send(stream, job.respond(), timeouts.send).await?;
                                Ok(End::Linger)
                            }
                            None => Ok(End::Close),
                        };
                    }
                }
                match read_into(stream, &mut session) {
                    // lesson:end
                    // EOF: the client is done; everything it sent has been answered, since
                    // we read only when the session has no complete request left.
                    Ok(0) => return Ok(End::Close),
                    Ok(_) => deadline.received(timeouts, Instant::now()),
                    // Readiness can be stale (tokio keeps a socket "readable" until a read
                    // says otherwise) or a wake-up spurious; this read told tokio, so the
                    // next wait sleeps until epoll reports new data.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(err) => return Err(err),
                }
            }
            Event::Closed => return Ok(End::Close),
        }
    }
}
// lesson:end

/// Sends a response: the head, then the body in chunks of at most 64 KiB from the core's
/// static pattern, one vectored write each, so a 64 MiB answer never sits in memory.
///
/// Each write is tried at once (most responses fit in the socket's send buffer and leave
/// here, with no timer); only when the kernel takes nothing does the task wait for the socket
/// to be writable, for at most `timeout` (`--send-timeout`): a client that takes nothing for
/// that long is dropped. That slow path is boxed, so the timer and the wait cost the heap
/// only while a client is slow, not every idle connection. A client that leaves midway makes
/// a write fail with a reset or broken pipe, which ends this task only.
async fn send(stream: &TcpStream, mut response: Response, timeout: Duration) -> io::Result<()> {
    while !response.is_done() {
        let [head, body] = response.slices();
        let written = {
            let _writing = trace::span(Phase::Write, stream.as_raw_fd() as u64);
            stream.try_write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => response.advance(written),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                Box::pin(tokio::time::timeout(timeout, stream.writable()))
                    .await
                    .map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            "send timeout: the client took nothing for --send-timeout",
                        )
                    })??;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Sleeps for `wait` (the "database"), unless the client hangs up first: `false` if it did.
/// Boxed: only a connection with a job waiting pays for the timer and the socket watch (and,
/// when tracing, for the wait span's start time).
async fn wait_unless_hung_up(stream: &TcpStream, wait: Duration) -> bool {
    let task = stream.as_raw_fd() as u64;
    let waiting = async move {
        let began = trace::start_ns();
        tokio::time::sleep(wait).await;
        if let Some(began) = began {
            trace::record(Phase::Wait, task, began, trace::now_ns());
        }
    };
    unless_hung_up(stream, waiting).await.is_some()
}

/// Runs `work` to its end, unless the client hangs up first (`None`; `work` is dropped).
async fn unless_hung_up<T>(stream: &TcpStream, work: impl Future<Output = T>) -> Option<T> {
    Box::pin(async {
        tokio::select! {
            done = work => Some(done),
            () = hung_up(stream) => None,
        }
    })
    .await
}

/// Completes when the client has hung up: its FIN with nothing before it, or a reset (nginx
/// ends such a request with 499). If bytes it pipelined are waiting unread — with or without
/// a FIN after them — it still wants its answers: this then never completes, and the next
/// read takes the bytes (and the FIN after them).
async fn hung_up(stream: &TcpStream) {
    match stream.ready(Interest::READABLE).await {
        Ok(ready) if ready.is_error() => {}
        Ok(ready) if ready.is_read_closed() && !matches!(wb_sys::hangup::peek(stream), Ok(1..)) => {
        }
        Ok(_) => std::future::pending::<()>().await,
        Err(_) => {}
    }
}

/// Rests until `until` before the next read of a request that trickles in, with the socket
/// quiet meanwhile ([`wb_sys::rest`]: tokio's driver would otherwise wake for every byte).
/// `false` if the server began to stop.
async fn rest_before_reading(
    stream: &TcpStream,
    stop: &mut watch::Receiver<()>,
    until: std::time::Instant,
) -> io::Result<bool> {
    wb_sys::rest::quiet(stream, true)?;
    let stopped = tokio::select! {
        biased;
        _ = stop.changed() => true,
        () = tokio::time::sleep_until(until.into()) => false,
    };
    wb_sys::rest::quiet(stream, false)?;
    Ok(!stopped)
}

/// Waits until `stream` is readable (or tokio still believes it is).
///
/// `TcpStream::readable()` does the same, but its future is 152 bytes (it embeds a node of
/// tokio's intrusive list of waiters, so that several tasks can wait on one socket), and it
/// would sit in every idle task. The poll API keeps the one waker of the one task reading
/// this socket in the socket's own slot instead, so this future is a single reference.
fn readable(stream: &TcpStream) -> impl Future<Output = io::Result<()>> + '_ {
    std::future::poll_fn(|cx| stream.poll_read_ready(cx))
}

/// One non-blocking read into this thread's buffer, handed straight to the session. No
/// `.await` here, so the buffer is never part of a task's state.
///
/// A short read (fewer bytes than the buffer holds) took everything the kernel had queued, so
/// it also tells tokio the socket is drained: the task's next wait sleeps until epoll reports
/// new bytes, instead of trying a `recv` that can only answer `EAGAIN` (one system call per
/// request saved; nginx does the same, and so does tokio's own `AsyncRead`, which `try_read`
/// does not use). A FIN that came with the data is kept, so the next read sees the EOF. The
/// read itself is [`wb_sys::drained::read`], the selector's on tokio too.
fn read_into(stream: &TcpStream, session: &mut Session) -> io::Result<usize> {
    let _reading = trace::span(Phase::Read, stream.as_raw_fd() as u64);
    READ_BUFFER.with_borrow_mut(|buf| {
        let n = wb_sys::drained::read(stream, buf)?;
        session.receive_data(&buf[..n]);
        Ok(n)
    })
}

/// Lingering close: the client gets our FIN after the whole response, and whatever it still
/// sends is read and dropped (for at most [`wb_sys::LINGER_TIMEOUT`]) so that closing does not send a RST.
async fn linger(stream: &mut TcpStream) {
    // shutdown(SHUT_WR): the FIN goes out after the response still in the send buffer.
    if stream.shutdown().await.is_err() {
        return;
    }
    // Whether EOF, an error or the timeout comes first, the caller then drops the socket.
    let _ = tokio::time::timeout(wb_sys::LINGER_TIMEOUT, discard_input(stream)).await;
}

/// Reads and drops whatever the client sends, until EOF or an error.
async fn discard_input(stream: &TcpStream) -> io::Result<()> {
    loop {
        readable(stream).await?;
        let read = READ_BUFFER.with_borrow_mut(|buf| stream.try_read(buf));
        match read {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            // Stale readiness, as in `serve_requests`: wait again.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
}
