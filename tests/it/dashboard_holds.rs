//! The dashboard under idle and half-sent connections at the usual descriptor limit: the real
//! `workbench serve`, started as a child with `ulimit -n 1024` (soft and hard, so the limit
//! is the child's alone and the test harness keeps its own), on the fixture store. 1,100
//! sockets are opened and held (half of them send half a request head and stop), then 200
//! clients at once load pages, the API and a run's event stream (every other one hanging up
//! after the first event), while a probe times `/api/runs`. Every client must get its answer,
//! and the probe within a few seconds. Loopback only; every loop is bounded in count and time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::exe;

/// Idle sockets held open: more than the child's descriptor limit.
const IDLE: usize = 1100;
/// Clients at once.
const CLIENTS: usize = 200;
/// The longest `/api/runs` may take while all this goes on.
const PROBE_LIMIT: Duration = Duration::from_secs(5);

struct Served {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &std::path::Path) -> Served {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 1024 && exec "$0" serve --listen 127.0.0.1:0 --db "$1""#)
        .arg(exe())
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("workbench serve starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") && stdout.read(&mut byte).unwrap_or(0) == 1 {
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    let addr = line
        .trim()
        .strip_prefix("Dashboard: http://")
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("the address, not {line:?}"));
    Served { child, addr }
}

/// One request on its own connection; the status and the body read (all of it, or, with
/// `hang_up_after`, until that text appears, then the connection is dropped mid-stream).
fn request(
    addr: SocketAddr,
    path: &str,
    hang_up_after: Option<&str>,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(20))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = crate::util::read_some(&mut stream, &mut buf)
            .map_err(|e| format!("read {path}: {e}"))?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if hang_up_after.is_some_and(|text| String::from_utf8_lossy(&got).contains(text)) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line for {path}: {text:?}"))?;
    Ok((status, text))
}

/// The descriptors the child holds now.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn idle_and_half_sent_connections_do_not_starve_the_dashboard() {
    // The test's own side needs more than 1,100 descriptors.
    workbench::os::raise_open_files_limit().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let runs = wb_web::fixture::create(&db).unwrap();
    let served = serve(&db);
    let addr = served.addr;
    let pid = served.child.id();

    // 1,100 sockets: even ones idle, odd ones half a head, then nothing.
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .expect("the kernel's backlog takes the connection");
        if i % 2 == 1 {
            let _ = s.write_all(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
        }
        idle.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = descriptors(pid);
    eprintln!("{IDLE} idle sockets open; the dashboard holds {held} descriptors (limit 1,024)");
    assert!(held < 1024, "{held} descriptors");

    // The probe, alone first.
    let start = Instant::now();
    let (status, body) = request(addr, "/api/runs", None).expect("/api/runs answers");
    let first_probe = start.elapsed();
    assert_eq!(status, 200, "{body}");
    eprintln!("/api/runs with {IDLE} idle sockets open: {first_probe:?}");
    assert!(first_probe < PROBE_LIMIT, "{first_probe:?}");

    // 200 clients at once, and the probe again among them.
    let latest = runs.latest;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            std::thread::spawn(move || -> Result<(), String> {
                for path in ["/runs", "/api/runs", "/static/style.css"] {
                    let (status, _) = request(addr, path, None)?;
                    if status != 200 {
                        return Err(format!("{path}: {status}"));
                    }
                }
                let events = format!("/runs/{latest}/events");
                let hang_up = (i % 2 == 0).then_some("event: progress");
                let (status, text) = request(addr, &events, hang_up)?;
                if status != 200 || !text.contains("event: progress") {
                    return Err(format!("{events}: {status} {text:?}"));
                }
                Ok(())
            })
        })
        .collect();
    let start = Instant::now();
    let (status, _) = request(addr, "/api/runs", None).expect("/api/runs answers under load");
    let busy_probe = start.elapsed();
    assert_eq!(status, 200);
    eprintln!("/api/runs among {CLIENTS} clients and {IDLE} idle sockets: {busy_probe:?}");
    let errors: Vec<String> = clients
        .into_iter()
        .filter_map(|c| c.join().unwrap().err())
        .collect();
    assert!(
        errors.is_empty(),
        "{} clients failed: {errors:?}",
        errors.len()
    );
    assert!(busy_probe < PROBE_LIMIT, "{busy_probe:?}");
    let held = descriptors(pid);
    eprintln!("after the clients: {held} descriptors");
    assert!(held < 1024);
    drop(idle);
}
