//! What one connection holds in an engine, as the engine itself measures it:
//! `workbench engine <name> --describe` prints it as one JSON line.
//!
//! Three models, three kinds of per-connection state:
//!
//! - a **coroutine** (the `coroutines` engine) is a compiled state machine: the connection's
//!   future, whose size `std::mem::size_of_val` gives exactly — every local that lives across
//!   an `.await` is a field of it;
//! - a **callback protocol** (the `selector` engine) is an object the loop calls back: its
//!   size, `size_of`, plus whatever it allocates;
//! - a **thread** (`threads`, and `pool`'s workers) keeps its state on its stack: the figure
//!   is the stack it has *touched* after serving a request, read from the kernel
//!   (`/proc/self/smaps`, the resident size of the mapping that holds the stack).
//!
//! The lesson "Asynchronous code in a synchronous style" shows these figures beside the
//! source that produces them.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

/// What a blocking engine serves to measure its stack: one `/work` request (CPU rounds, a
/// short wait, a small body) that closes the connection.
pub const REQUEST: &[u8] =
    b"GET /work?wait_ms=1&cpu_rounds=100&bytes=1024 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

/// The measurement of a blocking engine (threads, pool): `serve` serves one loopback
/// connection, whose client sends [`REQUEST`] and reads the answer, on a fresh thread with a
/// `stack_size`-byte stack; the figure is the stack that thread has touched by then
/// ([`touched_stack_bytes`]).
pub fn touched_serving(
    stack_size: usize,
    serve: impl FnOnce(TcpStream) -> io::Result<()> + Send + 'static,
) -> io::Result<PerConnection> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let client = std::thread::spawn(move || -> io::Result<Vec<u8>> {
        let mut client = crate::loopback::connect(addr)?;
        client.write_all(REQUEST)?;
        let mut answer = Vec::new();
        client.read_to_end(&mut answer)?;
        Ok(answer)
    });
    let (stream, _) = listener.accept()?;
    let touched = std::thread::Builder::new()
        .stack_size(stack_size)
        .spawn(move || serve(stream).map(|()| touched_stack_bytes()))?
        .join()
        .map_err(|_| io::Error::other("the connection thread panicked"))??;
    let _ = client.join();
    Ok(PerConnection {
        stack_bytes: touched,
        ..Default::default()
    })
}

/// Per-connection state, in bytes; `None` where the model has no such thing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerConnection {
    /// The connection future (`size_of_val`), for async engines.
    pub future_bytes: Option<usize>,
    /// The protocol object the loop calls back (`size_of`), for callback engines.
    pub protocol_bytes: Option<usize>,
    /// The stack a connection's thread has touched after one request, for blocking engines.
    pub stack_bytes: Option<usize>,
}

impl PerConnection {
    /// The `--describe` line: `{"engine":…,"per_connection":{"future_bytes":…,…}}`.
    pub fn to_json(&self, engine: &str) -> String {
        let field = |v: Option<usize>| v.map_or("null".to_string(), |n| n.to_string());
        format!(
            "{{\"engine\":\"{engine}\",\"per_connection\":{{\"future_bytes\":{},\"protocol_bytes\":{},\"stack_bytes\":{}}}}}",
            field(self.future_bytes),
            field(self.protocol_bytes),
            field(self.stack_bytes)
        )
    }
}

/// The resident bytes of the mapping that holds the calling thread's stack: what this thread
/// has touched of it (plus, for a spawned thread, glibc's thread descriptor and thread-local
/// storage at its top, which every thread pays too). `None` if `/proc/self/smaps` cannot be
/// read or parsed.
pub fn touched_stack_bytes() -> Option<usize> {
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            inside = start <= here && here < end;
            continue;
        }
        if inside && let Some(kib) = line.strip_prefix("Rss:") {
            let kib: usize = kib.trim().trim_end_matches("kB").trim().parse().ok()?;
            return Some(kib * 1024);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_json_with_nulls() {
        let described = PerConnection {
            future_bytes: Some(592),
            ..PerConnection::default()
        };
        assert_eq!(
            described.to_json("coroutines"),
            r#"{"engine":"coroutines","per_connection":{"future_bytes":592,"protocol_bytes":null,"stack_bytes":null}}"#
        );
    }

    #[test]
    fn a_connection_served_on_a_thread_is_measured() {
        let described = touched_serving(1 << 20, |stream| {
            let mut request = vec![0; REQUEST.len()];
            (&stream).read_exact(&mut request)?;
            assert_eq!(request, REQUEST);
            (&stream).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        })
        .unwrap();
        let touched = described.stack_bytes.expect("smaps readable");
        assert!((4096..1 << 20).contains(&touched), "{touched}");
        assert_eq!(described.future_bytes, None);
    }

    #[test]
    fn a_fresh_thread_has_touched_a_few_pages_of_its_stack() {
        let touched = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(touched_stack_bytes)
            .unwrap()
            .join()
            .unwrap()
            .expect("smaps readable");
        assert!((4096..1 << 20).contains(&touched), "{touched}");
    }
}
