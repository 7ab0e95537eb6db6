//! The lingering close of a blocking socket (nginx's `lingering_close`), for the engines that
//! serve a connection with blocking calls (threads, pool).

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

use crate::LINGER_TIMEOUT;

/// Closes a connection the way nginx's `lingering_close` does, after the last response.
///
/// Closing a socket that still has unread input makes the kernel send a reset (RST), and a
/// reset can overtake our response so that the client loses it. So: send FIN
/// (`shutdown(Write)`) to say the response is complete, then read and discard whatever the
/// client still sends until it closes its side, an error, or [`LINGER_TIMEOUT`] has passed.
/// `buf` is scratch space for the discarded bytes. The caller drops the socket afterwards.
pub fn lingering_close(stream: &TcpStream, buf: &mut [u8]) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIMEOUT;
    let mut stream_ref = stream;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "no timeout" to `set_read_timeout`, hence the check.
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream_ref.read(buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // Timed out (WouldBlock / TimedOut) or reset: either way, done.
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn unread_input_is_discarded_and_the_response_survives() {
        let (mut server, mut client) = crate::loopback::pair().unwrap();
        client.write_all(&[b'x'; 100_000]).unwrap();
        server.write_all(b"answer").unwrap();
        let closer = std::thread::spawn(move || {
            lingering_close(&server, &mut [0; 4096]);
        });
        let mut got = [0; 6];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"answer");
        // The server's FIN: end-of-file, not a reset.
        assert_eq!(client.read(&mut [0; 10]).unwrap(), 0);
        drop(client);
        closer.join().unwrap();
    }
}
