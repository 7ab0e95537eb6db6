//! A worker: the child process after `fork`, blocking in `accept()` and serving one
//! connection at a time with plain blocking calls.

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use wb_protocol::{Event, Session};
use wb_sys::ACCEPT_BACKOFF;
use wb_sys::accept::{AcceptError, WarnLimit};
use wb_sys::linger::lingering_close;
use wb_sys::signals::SignalMask;
use wb_sys::timeouts::ReadDeadline;
use wb_sys::trace::{self, Phase};

use crate::signals::{CURRENT_CONNECTION, STOPPING, install_stop_handler};

/// The read buffer of a worker. One per process (a worker serves one connection at a time),
/// so it can be generous: a 1 MiB request body is discarded in 16 reads.
pub(crate) const READ_BUFFER_BYTES: usize = 64 * 1024;

/// What a worker needs to know.
pub(crate) struct WorkerSettings {
    /// The contract's timeouts: how long one client may hold the worker.
    pub(crate) timeouts: wb_sys::Timeouts,
    /// The parent's pid, to notice a parent that died before we could ask to follow it.
    pub(crate) parent: u32,
}

/// Runs in the child after `fork`.
pub(crate) fn main(listener: &TcpListener, settings: &WorkerSettings, signals: &SignalMask) {
    let pid = std::process::id();
    // A fork copied the parent's cached thread id; this process's main thread has its own.
    trace::forget_thread_id_after_fork();
    // If the parent is killed (even with SIGKILL) the kernel kills us too, rather than leaving
    // orphans holding the port and serving without a supervisor.
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // The parent may have died between fork and prctl; then we were re-parented already.
    // SAFETY: getppid cannot fail and touches no memory.
    if unsafe { libc::getppid() } as u32 != settings.parent {
        return;
    }

    install_stop_handler();
    signals.unblock();
    tracing::debug!(pid, "worker ready");

    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut accept_warning = WarnLimit::default();
    while !STOPPING.load(Ordering::SeqCst) {
        // Blocked here is how an idle worker spends its life: on the timeline, accept spans.
        let accepting = trace::start_ns();
        let accepted = listener.accept();
        if let Some(began) = accepting {
            // Recorded even when it fails (the stop wakes it with an error): the last wait in
            // accept() is how the lane ends on the timeline.
            let task = accepted.as_ref().map_or(0, |(s, _)| s.as_raw_fd() as u64);
            trace::record(Phase::Accept, task, began, trace::now_ns());
        }
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            // The parent shut the listener down: the pool is stopping.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => break,
            Err(err) => match wb_sys::accept::classify(&err) {
                AcceptError::Retry | AcceptError::Skip => continue,
                AcceptError::BackOff => {
                    // EMFILE, ENFILE, ENOBUFS: pause, since the condition will not clear in
                    // microseconds. Each worker warns at most once a second.
                    accept_warning.warn_accept_failed(&err);
                    std::thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            },
        };
        // (A worker signalled on its own while in `accept()` — the parent did not shut the
        // listener down — gets here with STOPPING set: it answers this client once, then
        // leaves, rather than dropping a connection it has already accepted.)
        CURRENT_CONNECTION.store(stream.as_raw_fd(), Ordering::SeqCst);
        if let Err(err) = serve_connection(&stream, &settings.timeouts, &STOPPING, &mut buf) {
            // Resets, broken pipes, timeouts: one connection's business, never the worker's.
            tracing::debug!(pid, "connection ended: {err}");
        }
        // Cleared before `stream` is closed, so the handler never shuts down an fd number
        // the kernel may hand out again.
        CURRENT_CONNECTION.store(-1, Ordering::SeqCst);
        drop(stream);
    }
    if let Err(err) = trace::finish() {
        tracing::warn!(pid, "cannot write the trace: {err}");
    }
    tracing::debug!(pid, "worker exiting");
}

/// Serves one connection to its end. Returns early, closing the connection, when `stop` is
/// set after a response, when a read deadline passes (a request not complete within the header
/// timeout gets 408; an idle connection is closed after the keep-alive timeout), when a write
/// makes no progress for the send timeout, or at end-of-file.
pub(crate) fn serve_connection(
    stream: &TcpStream,
    timeouts: &wb_sys::Timeouts,
    stop: &AtomicBool,
    buf: &mut [u8],
) -> io::Result<()> {
    // SO_SNDTIMEO: a blocking write fails with EAGAIN (WouldBlock) after this long without
    // progress. SO_RCVTIMEO is set before reads, from the deadline (per request, not per read).
    stream.set_write_timeout(Some(timeouts.send))?;
    let mut read_timeout = None;
    let mut deadline = ReadDeadline::accepted(timeouts, Instant::now());
    let mut session = Session::new();
    let mut stream_ref = stream;
    // The connection, as the timeline names it: its socket's descriptor.
    let task = stream.as_raw_fd() as u64;
    loop {
        match session.next_event() {
            Event::Job(mut job) => {
                // `/count` reads this worker's own counter: each process has its own memory.
                job.begin();
                // The "database": this worker, one of only N, does nothing else meanwhile; it
                // polls its socket, so a client that hangs up frees the worker at once (unless
                // our own stop handler shut the socket's reading side: then the job finishes).
                if !wb_sys::hangup::wait_for_job(stream, job.wait(), stop, task) {
                    return Ok(());
                }
                // `/db` and `/queries`: this worker's own connection, blocking.
                trace::traced(Phase::Wait, task, || crate::database::fetch(&mut job));
                let closes = job.closes();
                let mut response = trace::traced(Phase::Compute, task, || job.respond());
                // Streamed in chunks of at most 64 KiB from the core's static pattern.
                let writing = trace::span(Phase::Write, task);
                response.write_to(&mut stream_ref)?;
                drop(writing);
                if closes || stop.load(Ordering::SeqCst) {
                    lingering_close(stream, buf);
                    return Ok(());
                }
                deadline =
                    ReadDeadline::answered(timeouts, session.is_mid_request(), Instant::now());
            }
            Event::NeedData => {
                if let Some(rest) = session.read_pause() {
                    // The request trickles in a byte per segment: let it pile up in the
                    // kernel and take it in one read, not one read per byte.
                    std::thread::sleep(rest.min(deadline.remaining(Instant::now())));
                }
                let Some(wanted) = deadline.socket_timeout(timeouts, Instant::now()) else {
                    // Past the deadline: free the worker for the next client. Closing an idle
                    // HTTP/1.1 connection is allowed at any time (RFC 9112 §9.5); a request
                    // half-sent is answered with 408 first.
                    if let Some(job) = session.time_out() {
                        job.respond().write_to(&mut stream_ref)?;
                        lingering_close(stream, buf);
                    }
                    return Ok(());
                };
                if read_timeout != Some(wanted) {
                    stream.set_read_timeout(Some(wanted))?;
                    read_timeout = Some(wanted);
                }
                let reading = trace::span(Phase::Read, task);
                let read = stream_ref.read(buf);
                drop(reading);
                match read {
                    // End-of-file: the client closed, or our stop handler shut reading down.
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        session.receive_data(&buf[..n]);
                        deadline.received(timeouts, Instant::now());
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    // SO_RCVTIMEO ran out: the loop looks at the deadline again.
                    Err(err)
                        if matches!(
                            err.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(err) => return Err(err),
                }
            }
            Event::Closed => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;
    use wb_protocol::date::masked;

    /// Serves `connections` connections on a background thread, as a worker would.
    fn worker(
        connections: usize,
        keepalive: Duration,
        stop: &'static AtomicBool,
    ) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
        let timeouts = wb_sys::Timeouts {
            keepalive,
            header: keepalive,
            ..wb_sys::Timeouts::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let mut buf = vec![0; READ_BUFFER_BYTES];
            for _ in 0..connections {
                let (stream, _) = listener.accept().unwrap();
                serve_connection(&stream, &timeouts, stop, &mut buf).unwrap();
            }
        });
        (addr, handle)
    }

    fn client(addr: std::net::SocketAddr) -> TcpStream {
        wb_sys::loopback::connect(addr).unwrap()
    }

    /// Sends `request` whole on a new connection and returns all that comes back, up to the
    /// worker's close.
    fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
        let mut client = client(addr);
        client.write_all(request).unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        got
    }

    const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";

    const PIPELINE: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /work?wait_ms=1&cpu_rounds=5&bytes=100 HTTP/1.1\r\nHost: a\r\n\r\n\
        HEAD /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
        GET /hello HTTP/1.0\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";

    #[test]
    fn a_connection_answers_what_the_protocol_core_answers() {
        static RUNNING: AtomicBool = AtomicBool::new(false);
        let (addr, server) = worker(2, Duration::from_secs(30), &RUNNING);
        let expected = masked(&wb_protocol::respond_all(PIPELINE));
        // The HTTP/1.0 request closes the connection; the last request is never answered.
        assert!(expected.ends_with(b"Connection: close\r\n\r\nHello, World!"));
        for chunk in [PIPELINE.len(), 1] {
            let mut client = client(addr);
            for piece in PIPELINE.chunks(chunk) {
                client.write_all(piece).unwrap();
            }
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            assert_eq!(masked(&got), expected);
        }
        server.join().unwrap();
    }

    #[test]
    fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
        static RUNNING: AtomicBool = AtomicBool::new(false);
        let (addr, server) = worker(1, Duration::from_millis(50), &RUNNING);
        // The response, then end-of-file although the client never closed: the worker is free.
        let got = exchange(addr, HELLO);
        assert_eq!(masked(&got), masked(&wb_protocol::respond_all(HELLO)));
        server.join().unwrap();
    }

    #[test]
    fn a_request_trickled_a_byte_at_a_time_is_cut_off_with_408() {
        static RUNNING: AtomicBool = AtomicBool::new(false);
        // The timeout bounds the whole head: each byte arrives well within it, and still the
        // worker is freed once it has passed since the first.
        let (addr, server) = worker(1, Duration::from_secs(1), &RUNNING);
        let mut client = client(addr);
        let mut got = Vec::new();
        let head = b"GET /hello HTTP/1.1\r\nHost: a\r\nX-Slow: ";
        // 200 bytes 20 ms apart: 4 s of trickle against a 1 s header timeout. The worker
        // answers 408 and closes; the writes after that fail or go nowhere.
        for byte in head.iter().chain([b'a'; 200].iter()) {
            if client.write_all(std::slice::from_ref(byte)).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            if server.is_finished() {
                break;
            }
        }
        let _ = client.read_to_end(&mut got);
        assert!(
            got.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"),
            "{got:?}"
        );
        drop(client);
        server.join().unwrap();
    }

    #[test]
    fn a_stopping_worker_finishes_the_response_then_closes() {
        static STOPPED: AtomicBool = AtomicBool::new(true);
        let (addr, server) = worker(1, Duration::from_secs(30), &STOPPED);
        // The client closes as soon as it has read: that ends the worker's lingering close.
        let got = exchange(addr, &HELLO.repeat(2));
        // One answer, not two, and no `Connection: close` header (the request did not ask).
        assert_eq!(masked(&got), masked(&wb_protocol::respond_all(HELLO)));
        server.join().unwrap();
    }
}
