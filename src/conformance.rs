//! The client side of the conformance corpus ([`wb_protocol::corpus`]): send a case to a real
//! engine over TCP and compare its bytes with the protocol core's.
//!
//! An engine passes a case when the bytes it sends back are exactly those the core computes
//! (the `Date` value masked: [`wb_protocol::date::masked`]), and it closes the connection exactly
//! when the core says so.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

pub use wb_protocol::corpus::{Case, Delivery, corpus};

/// How long a case waits for any one read before it calls the engine stuck.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a case failed, naming the case.
#[derive(Debug)]
pub struct Mismatch {
    /// The case's name.
    pub case: &'static str,
    /// What went wrong, with the first differing bytes.
    pub detail: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "case {}: {}", self.case, self.detail)
    }
}

/// Runs one case against the server at `addr`.
pub fn check_case(addr: SocketAddr, case: &Case) -> Result<(), Mismatch> {
    let fail = |detail: String| Mismatch {
        case: case.name,
        detail,
    };
    let (expected, closes) = case.expected();
    let mut stream = TcpStream::connect(addr).map_err(|e| fail(format!("connect: {e}")))?;
    stream.set_nodelay(true).ok();
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(|e| fail(e.to_string()))?;

    let received = match case.delivery {
        Delivery::Whole => {
            let all: Vec<u8> = case.writes.concat();
            stream
                .write_all(&all)
                .map_err(|e| fail(format!("write: {e}")))?;
            let want = expected.concat();
            let got = read_exactly(&mut stream, want.len()).map_err(|e| fail(e.to_string()))?;
            vec![(want, got)]
        }
        Delivery::ByteAtATime => {
            for byte in case.writes.concat() {
                stream
                    .write_all(&[byte])
                    .map_err(|e| fail(format!("write: {e}")))?;
                std::thread::sleep(Duration::from_millis(2));
            }
            let want = expected.concat();
            let got = read_exactly(&mut stream, want.len()).map_err(|e| fail(e.to_string()))?;
            vec![(want, got)]
        }
        Delivery::OneByOne => {
            let mut pairs = Vec::new();
            for (write, want) in case.writes.iter().zip(expected) {
                stream
                    .write_all(write)
                    .map_err(|e| fail(format!("write: {e}")))?;
                let got = read_exactly(&mut stream, want.len()).map_err(|e| fail(e.to_string()))?;
                pairs.push((want, got));
            }
            pairs
        }
    };
    for (i, (want, got)) in received.iter().enumerate() {
        // The Date value is the one part of an answer that depends on when it was sent.
        let (want, got) = (
            wb_protocol::date::masked(want),
            wb_protocol::date::masked(got),
        );
        if want != got {
            return Err(fail(format!(
                "answer {i}: {}",
                describe_difference(&want, &got)
            )));
        }
    }

    if closes {
        // The engine must close: the next read sees EOF, not more bytes and not a hang.
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) if rest.is_empty() => {}
            Ok(_) => return Err(fail(format!("{} bytes after the last answer", rest.len()))),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && rest.is_empty() => {}
            Err(e) => return Err(fail(format!("expected the engine to close: {e}"))),
        }
    } else {
        // The connection stays open and nothing more arrives.
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| fail(e.to_string()))?;
        let mut byte = [0u8; 1];
        // A signal to this process (a test's child exiting, with a handler installed) is no
        // answer: read again.
        let read = loop {
            match stream.read(&mut byte) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                read => break read,
            }
        };
        match read {
            Ok(0) => return Err(fail("the engine closed a keep-alive connection".into())),
            Ok(_) => return Err(fail("bytes after the last answer".into())),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(fail(format!("keep-alive connection broke: {e}"))),
        }
        let _ = stream.shutdown(Shutdown::Both);
    }
    Ok(())
}

/// Runs the whole corpus and returns every failure (empty when the engine conforms).
pub fn check_corpus(addr: SocketAddr) -> Vec<Mismatch> {
    corpus()
        .iter()
        .filter_map(|case| check_case(addr, case).err())
        .collect()
}

fn read_exactly(stream: &mut TcpStream, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => {
                buf.truncate(filled);
                return Ok(buf);
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("after {filled} of {len} expected bytes: {e}"),
                ));
            }
        }
    }
    Ok(buf)
}

/// Where two byte strings first differ, with a little context, escaped for a terminal.
pub fn describe_difference(want: &[u8], got: &[u8]) -> String {
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let from = at.saturating_sub(40);
    let show = |bytes: &[u8]| {
        let end = (at + 40).min(bytes.len());
        String::from_utf8_lossy(&bytes[from.min(end)..end])
            .escape_debug()
            .to_string()
    };
    format!(
        "expected {} bytes, got {}; first difference at byte {at}: expected \"…{}…\", got \"…{}…\"",
        want.len(),
        got.len(),
        show(want),
        show(got)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_points_at_the_first_changed_byte() {
        let d = describe_difference(b"HTTP/1.1 200 OK", b"HTTP/1.1 404 OK");
        assert!(d.contains("byte 9"), "{d}");
    }
}
