//! Reading a server's `/count` counter, before and after a step of a count workload: answers
//! the counter did not grow by are lost updates (`wb_protocol::counter`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long one reading may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /count` on a connection of its own: the counter's current value. In a server of
/// several processes (a prefork pool) this is the count of whichever process answered.
pub fn read(target: SocketAddr) -> io::Result<u64> {
    let mut stream = TcpStream::connect_timeout(&target, READ_TIMEOUT)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    stream.write_all(b"GET /count HTTP/1.1\r\nHost: workbench\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    parse(&answer)
}

/// The counter in a `/count` answer: status 200, the body a decimal number (and a newline).
fn parse(answer: &[u8]) -> io::Result<u64> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let text = std::str::from_utf8(answer).map_err(|_| bad("the /count answer is not text"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("the /count answer has no end of head"))?;
    let status = head.split(' ').nth(1).unwrap_or_default();
    if status != "200" {
        return Err(bad(&format!("GET /count answered status {status:?}")));
    }
    body.trim().parse().map_err(|_| {
        bad(&format!(
            "the /count body {:?} is not a number",
            body.trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_to_the_counter() {
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n42\n").unwrap(),
            42
        );
        assert!(parse(b"HTTP/1.1 404 Not Found\r\n\r\nno such route\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\n\r\nHello, World!").is_err());
    }

    #[test]
    fn a_served_counter_is_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = [0u8; 1024];
            let n = stream.read(&mut head).unwrap();
            let input = &head[..n];
            stream.write_all(&wb_protocol::respond_all(input)).unwrap();
        });
        read(addr).expect("a number");
        server.join().unwrap();
    }
}
