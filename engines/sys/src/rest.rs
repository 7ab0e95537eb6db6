//! Resting from a request that trickles in (rule 9 of the [contract](crate)): how an engine on
//! tokio keeps its runtime asleep while the bytes pile up.
//!
//! After a few small reads of one request, every engine rests a moment before reading again
//! (`wb_protocol::Session::read_pause`), so a head sent one byte per TCP segment costs a few
//! hundred reads, not fifteen thousand. The blocking engines sleep; the mio loop takes the
//! socket out of its epoll set. tokio cannot take a socket out of its driver's epoll set while
//! a task holds it, and its registration is edge-triggered for every arrival: each byte would
//! still wake the runtime's driver (a wake-up that finds no task to run, but costs about as
//! much as the read it replaces). So for the length of the rest the socket's receive low-water
//! mark ([`quiet`], `SO_RCVLOWAT`) is raised above any head: the kernel tells epoll of new
//! bytes only when that many are queued (or the client's FIN, or memory pressure), and setting
//! it back to one byte tells epoll at once if bytes are waiting — Linux checks on every change
//! (`tcp_set_rcvlowat`), so nothing that arrived during the rest is missed.

use std::io;
use std::os::fd::AsRawFd;

/// The low-water mark while resting: more than the largest head
/// (`wb_protocol::limits::MAX_HEAD_BYTES`, 16 KiB), so a trickled head never reaches it.
pub const RESTING_LOWAT: usize = 32 * 1024;

/// Raises the socket's receive low-water mark to [`RESTING_LOWAT`] (`quiet`) or sets it back to
/// one byte, the default (`!quiet`). A non-blocking read still returns whatever is queued, at
/// any mark; only readiness (and with it the wake-ups) waits for the mark.
pub fn quiet(socket: &impl AsRawFd, quiet: bool) -> io::Result<()> {
    let bytes: libc::c_int = if quiet {
        RESTING_LOWAT as libc::c_int
    } else {
        1
    };
    // SAFETY: the descriptor is the socket's, open while it is borrowed; the option value is
    // a c_int on the stack, and its size is passed with it.
    crate::check(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const bytes).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// Quiet, a byte queued is not readiness (poll says nothing within 50 ms); set back, it is
    /// at once, and a read takes every byte that came during the rest.
    #[test]
    fn a_quiet_socket_is_not_ready_for_a_byte_and_is_ready_again_after() {
        let (mut server, mut client) = crate::loopback::pair().unwrap();
        let readable = |s: &std::net::TcpStream, ms| {
            let mut fds = [libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd for the duration of the call.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) > 0 }
        };
        quiet(&server, true).unwrap();
        client.write_all(b"a").unwrap();
        client.write_all(b"b").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !readable(&server, 50),
            "two bytes under the mark are no readiness"
        );
        quiet(&server, false).unwrap();
        assert!(readable(&server, 1000));
        server.set_nonblocking(true).unwrap();
        let mut buf = [0; 16];
        assert_eq!(server.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"ab");
    }
}
