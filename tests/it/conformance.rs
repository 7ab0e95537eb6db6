//! The conformance suite: every case runs once per engine, each engine a real child process
//! (`workbench engine <name>`), and every answer is compared with the protocol core's bytes,
//! the `Date` value masked (it is the one part of an answer that depends on when it was sent).
//!
//! Test names are `conformance::<engine>::<case>`, so `cargo test --test it
//! conformance::selector::` runs one engine and `cargo test --test it ::corpus`
//! one case on all of them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use wb_protocol::date::masked;
use workbench::child::ServerProcess;
use workbench::conformance::{check_corpus, describe_difference};

use crate::util::{HELLO, indented, start_engine as start_with, stop_engine as stop};

per_engine!(
    corpus,
    concurrent_connections,
    client_disconnects_mid_response,
    sigterm_stops_promptly,
    sigterm_right_after_ready,
    slow_head_gets_408_at_the_header_timeout,
    idle_connection_closes_at_the_keepalive_timeout,
    a_client_that_reads_nothing_is_dropped_at_the_send_timeout,
    pipelined_sixteen_deep_in_order,
);

fn start(engine: &str) -> ServerProcess {
    start_with(engine, &[])
}

fn hello_answer() -> Vec<u8> {
    wb_protocol::respond_all(HELLO)
}

/// Every corpus case, compared byte for byte with the protocol core.
fn corpus(engine: &str) {
    let server = start(engine);
    let failures = check_corpus(server.addr());
    stop(engine, server);
    assert!(
        failures.is_empty(),
        "engine {engine} differs from the protocol core in {} case(s):\n{}",
        failures.len(),
        indented(&failures)
    );
}

/// 200 clients at once, 20 keep-alive requests each: all 4000 answered, exactly. The pool
/// serves them a few at a time through the listen backlog; the others all at once.
fn concurrent_connections(engine: &str) {
    const CLIENTS: usize = 200;
    const REQUESTS: usize = 20;
    let server = start(engine);
    let addr = server.addr();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| std::thread::spawn(move || client_session(addr, REQUESTS)))
        .collect();
    // Connect them all before any finishes its requests would need a barrier; what matters is
    // that every one is served, which the count checks.
    let mut answered = 0;
    let mut errors = Vec::new();
    for client in clients {
        match client.join().expect("client thread") {
            Ok(n) => answered += n,
            Err(e) => errors.push(e),
        }
    }
    stop(engine, server);
    assert!(
        errors.is_empty(),
        "engine {engine}: {} of {CLIENTS} clients failed, first: {}",
        errors.len(),
        errors[0]
    );
    assert_eq!(answered, CLIENTS * REQUESTS, "engine {engine}");
}

fn client_session(addr: SocketAddr, requests: usize) -> Result<usize, String> {
    let expected = masked(&hello_answer());
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; expected.len()];
    for i in 0..requests {
        stream
            .write_all(HELLO)
            .map_err(|e| format!("request {i}: write: {e}"))?;
        stream
            .read_exact(&mut buf)
            .map_err(|e| format!("request {i}: read: {e}"))?;
        // The Date value is the one part of an answer that depends on when it was sent.
        wb_protocol::date::mask(&mut buf);
        if buf != expected {
            return Err(format!(
                "request {i}: {}",
                describe_difference(&expected, &buf)
            ));
        }
    }
    Ok(requests)
}

/// A client that hangs up in the middle of a 10 MiB response costs the engine that
/// connection and nothing else.
fn client_disconnects_mid_response(engine: &str) {
    let mut server = start(engine);
    let addr = server.addr();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .write_all(b"GET /work?bytes=10485760 HTTP/1.1\r\nHost: workbench\r\n\r\n")
            .expect("write");
        let mut first = vec![0u8; 64 * 1024];
        stream.read_exact(&mut first).expect("first 64 KiB");
        assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));
        drop(stream); // unread data: the kernel answers with RST
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        server.is_running(),
        "engine {engine} died after a client hung up"
    );
    let served = client_session(addr, 3);
    assert_eq!(served, Ok(3), "engine {engine} stopped serving");
    stop(engine, server);
}

/// SIGTERM with an idle keep-alive connection open and a request in flight: the engine exits
/// 0 within the grace period.
fn sigterm_stops_promptly(engine: &str) {
    let server = start(engine);
    let addr = server.addr();
    let mut idle = TcpStream::connect(addr).expect("connect");
    idle.write_all(HELLO).expect("write");
    let mut buf = vec![0u8; hello_answer().len()];
    idle.read_exact(&mut buf).expect("read");

    let mut busy = TcpStream::connect(addr).expect("connect");
    busy.write_all(b"GET /work?wait_ms=300 HTTP/1.1\r\nHost: workbench\r\n\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(50));

    let begin = Instant::now();
    stop(engine, server);
    let took = begin.elapsed();
    // The idle connection was closed, not left hanging.
    idle.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut rest = Vec::new();
    let closed = match idle.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        closed,
        "engine {engine} left an idle connection open after exiting ({took:?})"
    );
}

/// SIGTERM the moment the ready line is out: the signal is held until the engine can handle
/// it, so the exit is still clean.
fn sigterm_right_after_ready(engine: &str) {
    let server = start(engine);
    stop(engine, server);
}

/// A head that never completes is answered `408 Request Timeout` once `--header-timeout` has
/// passed, and the connection closed: the engine does not wait on a slowloris client forever.
/// (No timing asserted: the read timeout below is only there so a broken engine fails.)
fn slow_head_gets_408_at_the_header_timeout(engine: &str) {
    let server = start_with(engine, &["--header-timeout", "1"]);
    let partial = b"GET /hello HTTP/1.1\r\nHost: work";
    let (read, got) = send_and_read_to_close(&server, partial);
    // What the core answers to a request cut off by the timeout.
    let mut session = wb_protocol::Session::new();
    session.receive_data(partial);
    assert_eq!(session.next_event(), wb_protocol::Event::NeedData);
    let want = session.time_out().expect("a 408").perform();
    stop(engine, server);
    assert!(read.is_ok(), "engine {engine}: {read:?} after {got:?}");
    assert!(
        masked(&got) == masked(&want),
        "engine {engine}: {}",
        describe_difference(&masked(&want), &masked(&got))
    );
}

/// An idle keep-alive connection is closed, without a word, once `--keepalive-timeout` has
/// passed since its last response.
fn idle_connection_closes_at_the_keepalive_timeout(engine: &str) {
    let server = start_with(engine, &["--keepalive-timeout", "1"]);
    let (read, got) = send_and_read_to_close(&server, HELLO);
    stop(engine, server);
    assert!(read.is_ok(), "engine {engine}: {read:?}");
    assert!(
        masked(&got) == masked(&hello_answer()),
        "engine {engine}: one answer, then the close; got {}",
        String::from_utf8_lossy(&got)
    );
}

/// A client that asks for 16 MiB and reads nothing is dropped once `--send-timeout` has passed
/// without progress: after that, reading drains what the kernels had buffered (a few MiB) and
/// ends (EOF, or a reset), far short of the body. An engine that kept the connection would
/// deliver the whole body once the client reads. (No timing asserted: the client waits well
/// past the timeout, and the read timeout is only there so a broken engine fails.)
fn a_client_that_reads_nothing_is_dropped_at_the_send_timeout(engine: &str) {
    const BODY: usize = 16 * 1024 * 1024;
    let server = start_with(engine, &["--send-timeout", "1"]);
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .write_all(format!("GET /work?bytes={BODY} HTTP/1.1\r\nHost: workbench\r\n\r\n").as_bytes())
        .expect("write");
    std::thread::sleep(Duration::from_millis(3_500));
    let mut got = 0usize;
    let mut buf = vec![0; 256 * 1024];
    let ended = loop {
        match crate::util::read_some(&mut stream, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got += n,
            Err(err) => break Err(err),
        }
    };
    stop(engine, server);
    assert!(
        got < BODY,
        "engine {engine}: the client read all {got} bytes after sleeping past the send \
         timeout: the connection was kept ({ended:?})"
    );
    match ended {
        Ok(()) => {}
        Err(err) => assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
            "engine {engine}: after {got} bytes the read ended with {err} (a timeout means the \
             engine kept the stalled connection open)"
        ),
    }
}

/// Sends `request` on a new connection and reads until the engine closes it: how the read
/// ended, and every byte read. (The read timeout is only there so a broken engine fails.)
fn send_and_read_to_close(
    server: &ServerProcess,
    request: &[u8],
) -> (std::io::Result<usize>, Vec<u8>) {
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).expect("write");
    let mut got = Vec::new();
    let read = stream.read_to_end(&mut got);
    (read, got)
}

/// `workbench load --pipeline 16` (TechEmpower's plaintext depth): batches of 16 requests
/// written at once on one keep-alive connection, each batch's answers read before the next
/// is written. Every answer comes back in the order asked, byte for byte the protocol core's:
/// the routes alternate and the `/work` answers differ in length and digest, so an answer out
/// of order, lost or repeated cannot pass.
fn pipelined_sixteen_deep_in_order(engine: &str) {
    const DEPTH: usize = 16;
    const BATCHES: usize = 4;
    let server = start(engine);
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut failures = Vec::new();
    for batch in 0..BATCHES {
        let mut requests = Vec::new();
        for i in 0..DEPTH {
            if i % 2 == 0 {
                requests.extend_from_slice(HELLO);
            } else {
                requests.extend_from_slice(
                    format!(
                        "GET /work?bytes={}&cpu_rounds={} HTTP/1.1\r\nHost: workbench\r\n\r\n",
                        100 * batch + i,
                        i
                    )
                    .as_bytes(),
                );
            }
        }
        let expected = masked(&wb_protocol::respond_all(&requests));
        stream.write_all(&requests).expect("write a batch");
        let mut answers = vec![0u8; expected.len()];
        if let Err(err) = stream.read_exact(&mut answers) {
            failures.push(format!("batch {batch}: {err}"));
            break;
        }
        wb_protocol::date::mask(&mut answers);
        if answers != expected {
            failures.push(format!(
                "batch {batch}: {}",
                describe_difference(&expected, &answers)
            ));
        }
    }
    stop(engine, server);
    assert!(
        failures.is_empty(),
        "engine {engine} does not answer 16 pipelined requests in order:\n{}",
        indented(&failures)
    );
}
