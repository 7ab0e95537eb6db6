//! One read from a tokio socket that tells tokio when it has drained the kernel's queue, for
//! the engines that read on tokio (coroutines, and selector on tokio). With the `tokio`
//! feature.

use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// One non-blocking read into `buf`: the number of bytes read, 0 at end-of-file.
///
/// tokio registers a socket edge-triggered and counts it readable until a read says
/// `WouldBlock`. A read that fills less than `buf` took everything the kernel had queued, so
/// this one also clears tokio's readiness (`try_io` does when its closure says `WouldBlock`):
/// the next `readable()` waits for epoll instead of trying a `recv` that can only answer
/// `EAGAIN` — one system call per request saved (nginx does the same, and so does tokio's own
/// `AsyncRead`, which `try_read` does not use). tokio never clears "read closed", so a FIN
/// that came with the data is still seen by the next read.
pub fn read(socket: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    let read = socket.try_io(Interest::READABLE, || {
        n = socket.try_read(buf)?;
        if n > 0 && n < buf.len() {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(())
        }
    });
    match read {
        Err(err) if err.kind() == io::ErrorKind::WouldBlock && n > 0 => Ok(n),
        Err(err) => Err(err),
        Ok(()) => Ok(n),
    }
}
