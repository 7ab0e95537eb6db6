//! `--trace` on the tokio loop (`selector-on-tokio`), in a process of its own (tracing is
//! process-wide): the timeline has the mio loop's spans — accept, read, wait, compute, write
//! — because the connection, not the loop, decides which spans a step records.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use wb_selector::{Config, Loop};

/// The value of `"key":` in a span's JSON line (a number or a string, unquoted).
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{line}"));
    let rest = line[start + key.len() + 3..].trim_start_matches('"');
    let end = rest.find(['"', ',', '}']).unwrap();
    &rest[..end]
}

#[test]
fn the_tokio_loop_traces_accept_read_wait_compute_and_write() {
    let dir = std::env::temp_dir().join(format!("selector-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.jsonl");
    wb_sys::trace::start(&path).unwrap();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        offload: false,
        offload_threads: None,
        reactor: Loop::Tokio,
        loops: std::num::NonZeroUsize::MIN,
        timeouts: wb_sys::Timeouts::default(),
        database: wb_sys::database::DatabaseUrl::default(),
        db_pool: wb_sys::database::DatabasePool::default(),
    };
    // The server is left running: the test's process ends with the test.
    std::thread::Builder::new()
        .name("selector-on-tokio".into())
        .spawn(move || wb_selector::serve(listener, &config))
        .unwrap();

    // One keep-alive connection, one request at a time: each response is read whole before
    // the next request goes, so the spans of the earlier ones are recorded by then.
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for request in [
        &b"GET /work?wait_ms=20 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /work?cpu_rounds=1000 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        client.write_all(request).unwrap();
        let mut answer = vec![0; wb_protocol::respond_all(request).len()];
        client.read_exact(&mut answer).unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }
    wb_sys::trace::finish().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let lines: Vec<&str> = text.lines().collect();
    let phases: BTreeSet<&str> = lines.iter().map(|line| field(line, "phase")).collect();
    for phase in ["accept", "read", "wait", "compute", "write"] {
        assert!(
            phases.contains(phase),
            "no {phase} span in {phases:?}:\n{text}"
        );
    }
    // One lane: the loop's thread runs everything (no --offload).
    let lanes: BTreeSet<&str> = lines.iter().map(|line| field(line, "tid")).collect();
    assert_eq!(lanes.len(), 1, "{text}");
    // The connection's spans are named by its descriptor, the same from accept to write,
    // compute included (the protocol does not know its socket; the loop names it).
    let tasks: BTreeSet<&str> = lines.iter().map(|line| field(line, "task")).collect();
    assert_eq!(tasks.len(), 1, "{text}");
    assert_ne!(tasks.first(), Some(&"0"));
}
