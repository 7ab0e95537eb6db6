//! One connection's task: the loop of the [crate docs](crate), the read path that keeps no
//! buffer in the task, and the lingering close.

use std::cell::RefCell;
use std::future::Future;
use std::io;

use protocol::{Event, Session};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

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
    offload: bool,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        // The lingering close runs after `serve_requests` has returned, so the two futures
        // share the same bytes of this one.
        match serve_requests(&mut stream, &mut stop, offload).await {
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

/// The loop of the module docs: answers requests until one closes the connection, the client
/// leaves, or the server stops.
async fn serve_requests(
    stream: &mut TcpStream,
    stop: &mut watch::Receiver<()>,
    offload: bool,
) -> io::Result<End> {
    let mut session = Session::new();
    loop {
        match session.next_event() {
            Event::Job(job) => {
                let closes = job.closes();
                // Most jobs do not wait; a zero sleep would still go through the timer.
                if !job.wait().is_zero() {
                    tokio::time::sleep(job.wait()).await;
                }
                let bytes = if offload && job.cpu_rounds() > 0 {
                    // This worker goes on with other tasks while a blocking-pool thread runs
                    // the rounds; the task wakes up when they are done.
                    tokio::task::spawn_blocking(move || job.perform())
                        .await
                        .map_err(io::Error::other)?
                } else {
                    job.perform()
                };
                // Handles partial writes: waits for writability and goes on until all of up
                // to 64 MiB is in the kernel. A client that leaves midway makes it fail with
                // a reset or broken pipe, which ends this task only.
                stream.write_all(&bytes).await?;
                if closes {
                    return Ok(End::Linger);
                }
            }
            Event::NeedData => {
                // Wait for bytes, or the stop, holding no buffer. `biased`: polled in this
                // order, so a stopping server starts on no new request. (Waiting on `stop`
                // costs two uncontended locks per wait: watch shards its waiter list.)
                tokio::select! {
                    biased;
                    _ = stop.changed() => return Ok(End::Close),
                    ready = readable(stream) => ready?,
                }
                match read_into(stream, &mut session) {
                    // EOF: the client is done; everything it sent has been answered, since
                    // we read only when the session has no complete request left.
                    Ok(0) => return Ok(End::Close),
                    Ok(_) => {}
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
fn read_into(stream: &TcpStream, session: &mut Session) -> io::Result<usize> {
    READ_BUFFER.with_borrow_mut(|buf| {
        let n = stream.try_read(buf)?;
        session.receive_data(&buf[..n]);
        Ok(n)
    })
}

/// Lingering close: the client gets our FIN after the whole response, and whatever it still
/// sends is read and dropped (for at most [`sys::LINGER_TIMEOUT`]) so that closing does not send a RST.
async fn linger(stream: &mut TcpStream) {
    // shutdown(SHUT_WR): the FIN goes out after the response still in the send buffer.
    if stream.shutdown().await.is_err() {
        return;
    }
    // Whether EOF, an error or the timeout comes first, the caller then drops the socket.
    let _ = tokio::time::timeout(sys::LINGER_TIMEOUT, discard_input(stream)).await;
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
