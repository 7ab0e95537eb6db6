//! Loopback connections on 127.0.0.1, for an engine that measures itself (`--describe`, see
//! [`describe`](crate::describe)) and for the tests of every crate that serves on a socket.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// How long a loopback client's read waits: generous, only there so that a broken server
/// fails a test (or a measurement) instead of hanging it.
pub const CLIENT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A client connected to `addr`, whose reads give up after [`CLIENT_READ_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let client = TcpStream::connect(addr)?;
    client.set_read_timeout(Some(CLIENT_READ_TIMEOUT))?;
    Ok(client)
}

/// A connected pair of sockets: the server's end (accepted), and the client's, to keep open
/// as long as the server's end should not see an end-of-file.
pub fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    Ok((server, client))
}
