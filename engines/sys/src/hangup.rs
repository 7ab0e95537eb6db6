//! Waiting without working for a client that has left (rule 7 of the [contract](crate)), for
//! the engines that wait with blocking calls (threads, pool).

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::trace::{self, Phase};

/// A blocking engine's wait for a job (threads, pool), traced as [`Phase::Wait`] of
/// connection `task`: [`wait_unless_hung_up`], except that a hang-up while `stop` is set is
/// our own doing — the stop handler shuts every socket's reading side, which looks just like
/// the client's FIN — and then the job is finished: the thread sleeps out the wait instead.
/// Returns `false` if the client left, so the engine drops the request.
pub fn wait_for_job(stream: &TcpStream, wait: Duration, stop: &AtomicBool, task: u64) -> bool {
    if wait.is_zero() {
        return true;
    }
    let _waiting = trace::span(Phase::Wait, task);
    if wait_unless_hung_up(stream, wait) {
        return true;
    }
    if !stop.load(Ordering::SeqCst) {
        return false;
    }
    std::thread::sleep(wait);
    true
}

/// Sleeps for `wait` (the "database"), unless the client hangs up first: returns `false` if it
/// did, so the engine drops the request instead of working for nobody.
///
/// A sleeping thread cannot see its socket; this one `poll()`s it for the duration instead,
/// asking only for `POLLRDHUP` (the client's FIN: it closed, or at least stopped sending) —
/// `POLLHUP` and `POLLERR` (a reset) are always reported. Bytes the client pipelines meanwhile
/// do not wake it. Treating a FIN during a request as "gone" is nginx's rule too: it ends a
/// request whose client closed with status 499. A client that half-closes and still expects
/// answers loses the request in progress — unless it pipelined another request before its
/// FIN: then both are answered, as the event loops answer them ([`peek`]).
pub fn wait_unless_hung_up(stream: &TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        let mut fds = [libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        }];
        // Rounded up, so that a 0.5 ms rest is a 1 ms poll, not a busy loop of 0 ms polls.
        let millis = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `fds` is a valid array of one pollfd for the duration of the call, and its
        // fd is the stream's, open while `stream` is borrowed.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, millis) };
        if ready > 0 {
            let events = fds[0].revents;
            if events & (libc::POLLHUP | libc::POLLERR) != 0 {
                return false;
            }
            if events & libc::POLLRDHUP != 0 {
                // The FIN: a hang-up, unless a request the client pipelined comes before it.
                // Then the client still wants its answers (the event loops see the same
                // byte first): the wait goes on, with nothing left to watch for.
                return match peek(stream) {
                    Ok(1..) => {
                        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                        true
                    }
                    _ => false,
                };
            }
        }
        // 0: the time is up (checked at the top); -1: EINTR, poll again for the rest.
    }
}

/// A look at what waits to be read on `socket` without taking it, for an event loop that
/// does not read while a request is in progress and wants to know whether the client left:
/// `Ok(0)` is the client's FIN with nothing before it (it hung up, as
/// [`wait_unless_hung_up`] counts it), `Ok(1)` a byte it sent (a pipelined request: the byte
/// and any FIN after it stay in the kernel for the reads to come), `WouldBlock` nothing at
/// all, any other error the connection's (a reset: `ECONNRESET`). Never blocks.
pub fn peek(socket: &impl AsRawFd) -> io::Result<usize> {
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer on our stack, valid for the call; `MSG_PEEK` leaves what it
    // sees in the kernel and `MSG_DONTWAIT` never blocks, whatever the descriptor's mode.
    let n = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_early_when_the_client_leaves_and_not_otherwise() {
        use std::io::Write;
        let (server, mut client) = crate::loopback::pair().unwrap();
        // Pipelined bytes are not a hang-up.
        client.write_all(b"GET /hello HTTP/1.1\r\n").unwrap();
        assert!(wait_unless_hung_up(&server, Duration::from_millis(20)));
        // Nor is a FIN behind them: the request came first, and is answered.
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(wait_unless_hung_up(&server, Duration::from_millis(20)));
        // A FIN with nothing before it is: whatever the timing, a wait of an hour ends.
        let (server, client) = crate::loopback::pair().unwrap();
        drop(client);
        assert!(!wait_unless_hung_up(&server, Duration::from_secs(3600)));
    }

    #[test]
    fn a_hang_up_while_stopping_still_waits_out_the_job() {
        let (server, client) = crate::loopback::pair().unwrap();
        drop(client);
        let wait = Duration::from_millis(20);
        assert!(!wait_for_job(&server, wait, &AtomicBool::new(false), 0));
        let started = Instant::now();
        assert!(wait_for_job(&server, wait, &AtomicBool::new(true), 0));
        assert!(started.elapsed() >= wait);
    }

    #[test]
    fn a_peek_tells_a_hang_up_from_pipelined_bytes_and_takes_nothing() {
        use std::io::{Read, Write};
        let (mut server, mut client) = crate::loopback::pair().unwrap();
        let kind = |r: io::Result<usize>| r.map_err(|e| e.kind());
        assert_eq!(kind(peek(&server)), Err(io::ErrorKind::WouldBlock));
        client.write_all(b"GET").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        // The bytes come first, FIN or not; both stay for the read.
        let wait_for = |want: usize| {
            let started = Instant::now();
            while peek(&server).ok() != Some(want) {
                assert!(started.elapsed() < Duration::from_secs(5));
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        wait_for(1);
        let mut all = Vec::new();
        server.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"GET");
        // Nothing before the FIN now: a hang-up.
        assert_eq!(kind(peek(&server)), Ok(0));
    }
}
