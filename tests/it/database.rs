//! `/db` and `/queries` on every engine, against the workbench's own PostgreSQL: a private
//! cluster for this test binary (`wb_database::up` in a folder of its own, started once and
//! shared by the cases, ended with the test process by its parent-death signal).
//!
//! With fixed ids (`?id=K`) every engine's answer is compared byte for byte (the `Date` value
//! masked) with the protocol core's rendering of the rows the test reads itself; random ids
//! and TechEmpower's clamping are checked for the JSON's shape. Without PostgreSQL the cases
//! that need it are skipped with a line saying why, but under `CI=true`, where they fail: CI
//! installs it (`apt-get install postgresql`).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use wb_protocol::date::masked;
use wb_protocol::world::{WORLD_ROWS, WorldRow};
use wb_protocol::{Event, Session};

use crate::util::{start_engine, stop_engine};

per_engine!(
    db_with_a_fixed_id_is_the_cores_bytes,
    queries_with_fixed_ids_are_the_cores_bytes,
    random_rows_and_clamped_counts_have_the_right_shape,
    no_database_is_a_503_that_says_so,
    an_unreachable_database_is_a_503_and_the_engine_serves_on,
);

/// The test cluster's connection string, or `None` (and a line saying why) without
/// PostgreSQL; under `CI=true` its absence fails the test.
fn cluster() -> Option<&'static str> {
    static CLUSTER: OnceLock<Result<(wb_database::Database, String), String>> = OnceLock::new();
    let started = CLUSTER.get_or_init(|| {
        // One folder per target directory, so that two checkouts' tests never share (or stop)
        // each other's server; under the temporary folder, which PostgreSQL's unprivileged
        // user can reach when the tests run as root.
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        env!("CARGO_TARGET_TMPDIR").hash(&mut hasher);
        let dir = std::env::temp_dir().join(format!(
            "workbench-pgtest-{}-{:x}",
            wb_sys::process::effective_uid(),
            hasher.finish() & 0xffff_ffff
        ));
        wb_database::up(&dir, wb_database::Lifetime::Owned)
            .map(|db| {
                let url = db.conninfo();
                (db, url)
            })
            .map_err(|err| err.to_string())
    });
    match started {
        Ok((_, url)) => Some(url),
        Err(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci, "CI=true but the test database cannot start: {why}");
            eprintln!("skipped: the database cases need PostgreSQL: {why}");
            None
        }
    }
}

/// The rows `ids` as the database holds them, read by the test itself.
fn rows(url: &str, ids: &[i32]) -> Vec<WorldRow> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    ids.iter()
        .map(|id| {
            let row = client
                .query_one(wb_protocol::world::SELECT_WORLD, &[id])
                .expect("query");
            WorldRow {
                id: row.get(0),
                random_number: row.get(1),
            }
        })
        .collect()
}

/// The core's answer to `target` given these rows, `Date` masked.
fn expected(target: &str, rows: Vec<WorldRow>) -> Vec<u8> {
    let mut session = Session::new();
    session.receive_data(format!("GET {target} HTTP/1.1\r\nHost: workbench\r\n\r\n").as_bytes());
    let Event::Job(mut job) = session.next_event() else {
        panic!("no job for {target}")
    };
    job.give_rows(rows);
    masked(&job.perform())
}

/// One keep-alive request; the whole answer (head and `Content-Length` body).
fn get(addr: SocketAddr, target: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .write_all(format!("GET {target} HTTP/1.1\r\nHost: workbench\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = crate::util::read_some(&mut stream, &mut buf).expect("read");
        assert!(n > 0, "{target}: the connection closed mid-answer");
        answer.extend_from_slice(&buf[..n]);
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("Content-Length");
            if answer.len() >= end + 4 + length {
                return answer;
            }
        }
    }
}

fn body(answer: &[u8]) -> &[u8] {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &answer[end + 4..]
}

/// The engine with the test cluster behind it, or `None` when it cannot be had. Every engine
/// has a client of its model (uring's on its ring since it got one: no engine answers these
/// routes with a 503 of its own any more).
fn start_with_database(engine: &str) -> Option<(workbench::child::ServerProcess, &'static str)> {
    let url = cluster()?;
    let server = start_engine(engine, &["--db-url", url]);
    Some((server, url))
}

fn db_with_a_fixed_id_is_the_cores_bytes(engine: &str) {
    let Some((server, url)) = start_with_database(engine) else {
        return;
    };
    for id in [1, 42, WORLD_ROWS] {
        assert_cores_bytes(engine, &server, url, &format!("/db?id={id}"), &[id]);
    }
    stop_engine(engine, server);
}

/// The engine answers `target` with the core's bytes for the rows of `ids`, read from the
/// database at `url` (the `Date` masked).
fn assert_cores_bytes(
    engine: &str,
    server: &workbench::child::ServerProcess,
    url: &str,
    target: &str,
    ids: &[i32],
) {
    let got = masked(&get(server.addr(), target));
    let want = expected(target, rows(url, ids));
    assert!(
        got == want,
        "{engine} {target}:\n got {}\nwant {}",
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

fn queries_with_fixed_ids_are_the_cores_bytes(engine: &str) {
    let Some((server, url)) = start_with_database(engine) else {
        return;
    };
    // Twenty rows from 9990 on: past 10,000 the ids go on from 1.
    let ids: Vec<i32> = (9990..=10_000).chain(1..=9).collect();
    assert_cores_bytes(engine, &server, url, "/queries?n=20&id=9990", &ids);
    stop_engine(engine, server);
}

fn random_rows_and_clamped_counts_have_the_right_shape(engine: &str) {
    let Some((server, _)) = start_with_database(engine) else {
        return;
    };
    let in_table = |v: &serde_json::Value| {
        v.as_i64()
            .is_some_and(|n| (1..=i64::from(WORLD_ROWS)).contains(&n))
    };
    let row_ok = |row: &serde_json::Value| {
        row.as_object().is_some_and(|o| o.len() == 2)
            && in_table(&row["id"])
            && in_table(&row["randomNumber"])
    };
    let answer = get(server.addr(), "/db");
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"), "{engine} /db");
    let one: serde_json::Value = serde_json::from_slice(body(&answer)).expect("JSON");
    assert!(row_ok(&one), "{engine} /db: {one}");
    // TechEmpower's rules: not a number or below 1 is 1, above 500 is 500.
    for (target, n) in [
        ("/queries?n=3", 3),
        ("/queries?n=0", 1),
        ("/queries?n=foo", 1),
        ("/queries", 1),
        ("/queries?n=501", 500),
    ] {
        let answer = get(server.addr(), target);
        assert!(
            answer.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "{engine} {target}: {}",
            String::from_utf8_lossy(&answer)
        );
        let rows: Vec<serde_json::Value> = serde_json::from_slice(body(&answer)).expect("JSON");
        assert_eq!(rows.len(), n, "{engine} {target}");
        assert!(rows.iter().all(row_ok), "{engine} {target}");
    }
    stop_engine(engine, server);
}

/// Needs no PostgreSQL: an engine started without `--db-url` answers `/db` with 503 and the
/// reason, and keeps the connection.
fn no_database_is_a_503_that_says_so(engine: &str) {
    let server = start_engine(engine, &[]);
    let answer = get(server.addr(), "/db");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{engine}: {text}"
    );
    assert!(text.contains("--db-url"), "{engine}: {text}");
    assert!(!text.contains("Connection: close"), "{engine}: {text}");
    stop_engine(engine, server);
}

/// Needs no PostgreSQL: with nobody listening at `--db-url`, `/queries` answers 503 with one
/// of the reasons every engine gives (the query failed; no connection came free in time: the
/// blocking pools wait for one), and the engine goes on serving.
fn an_unreachable_database_is_a_503_and_the_engine_serves_on(engine: &str) {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("host=127.0.0.1 port={port} user=workbench dbname=workbench");
    let server = start_engine(engine, &["--db-url", &url]);
    let answer = get(server.addr(), "/queries?n=2&id=3");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{engine}: {text}"
    );
    let reasons = [
        wb_sys::database::QUERY_FAILED,
        wb_sys::database::POOL_TIMED_OUT,
    ];
    assert!(
        reasons.contains(&String::from_utf8_lossy(body(&answer)).trim_end()),
        "{engine}: {text}"
    );
    let hello = get(server.addr(), "/hello");
    assert!(hello.starts_with(b"HTTP/1.1 200 OK\r\n"), "{engine}");
    stop_engine(engine, server);
}

/// PostgreSQL, or `false` (and a line saying why) without it; under `CI=true` its absence
/// fails the test.
fn postgres_installed() -> bool {
    match wb_database::find_bindir() {
        Ok(_) => true,
        Err(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci, "CI=true but PostgreSQL is not installed: {why}");
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// A fresh cluster folder under the temporary folder (reachable by PostgreSQL's unprivileged
/// user when the tests run as root), removed when dropped.
fn fresh_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("wb-pg-")
        .tempdir_in(std::env::temp_dir())
        .expect("a temporary folder");
    // tempfile makes it 0700; the server's user must enter it (up() gives it away as root).
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir
}

/// A cluster a run owns stops when the run drops it: no PostgreSQL process of it is left.
#[test]
fn an_owned_cluster_stops_when_dropped() {
    if !postgres_installed() {
        return;
    }
    let dir = fresh_dir();
    let db = wb_database::up(dir.path(), wb_database::Lifetime::Owned).expect("the cluster");
    let pid = db.pid();
    assert!(db.is_owned());
    assert!(wb_database::running(dir.path()).is_some());
    // Its rows are there.
    assert_eq!(rows(&db.conninfo(), &[1, WORLD_ROWS]).len(), 2);
    drop(db);
    assert!(wb_database::running(dir.path()).is_none(), "still running");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the postmaster {pid} is left"
    );
}

/// `workbench db up` leaves the cluster running after the command exits, `status` says so
/// with the engines' --db-url, and `down` stops it.
#[test]
fn db_up_status_and_down() {
    if !postgres_installed() {
        return;
    }
    let dir = fresh_dir();
    let folder = dir.path().to_str().unwrap();
    let up = crate::util::workbench(dir.path(), &["db", "up", "--dir", folder]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let url = String::from_utf8_lossy(&up.stdout).trim().to_string();
    assert!(url.starts_with(&format!("host={folder} port=")), "{url}");
    let status = crate::util::workbench(dir.path(), &["db", "status", "--dir", folder]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.starts_with("running: pid "), "{text}");
    assert!(text.contains(&url), "{text}");
    let down = crate::util::workbench(dir.path(), &["db", "down", "--dir", folder]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(wb_database::running(dir.path()).is_none());
    let status = crate::util::workbench(dir.path(), &["db", "status", "--dir", folder]);
    assert!(String::from_utf8_lossy(&status.stdout).starts_with("stopped: "));
}

// --- The peers with a database client (asyncio + asyncpg, Twisted + adbapi over psycopg,
// gunicorn sync + psycopg per worker), given the same cluster through $WORKBENCH_DATABASE.

/// The peer `name` started as the runner starts it for a database workload, or `None` (and
/// a line saying why) when it or its driver is not installed; under `CI=true` that fails.
fn start_peer(name: &str, url: Option<&str>) -> Option<workbench::child::ServerProcess> {
    use wb_runner::peers::PeerLaunch as _;
    let peer = wb_runner::peers::find(name).expect("in the registry");
    let ready = peer.readiness().and_then(|()| peer.database_readiness());
    if let Err(why) = ready {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "CI=true but peer {name} cannot serve the database: {why}"
        );
        eprintln!("skipped: peer {name}: {why}");
        return None;
    }
    Some(
        peer.spawn_with_database(0, None, url)
            .unwrap_or_else(|err| panic!("peer {name} did not start: {err}")),
    )
}

/// An answer's status code, its header fields (names lowercased) and its body.
fn fields(answer: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    (status, headers, answer[end + 4..].to_vec())
}

/// The peer's answer against the core's: byte for byte (`Date` masked) for the raw-socket
/// peers, whose bytes come from `peers/wbcore.py`; gunicorn frames the response itself
/// (`Server`, its own `Date`, `Connection: close` from its sync workers), so there the status,
/// `Content-Type`, `Content-Length` and body must be the core's.
fn same_answer(peer: &str, target: &str, got: &[u8], want: &[u8]) {
    let show = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    if peer.starts_with("gunicorn") {
        let (got_status, got_headers, got_body) = fields(got);
        let (want_status, want_headers, want_body) = fields(want);
        let header = |headers: &[(String, String)], name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(got_status, want_status, "{peer} {target}: {}", show(got));
        assert_eq!(got_body, want_body, "{peer} {target}: {}", show(got));
        for name in ["content-type", "content-length"] {
            assert_eq!(
                header(&got_headers, name),
                header(&want_headers, name),
                "{peer} {target} {name}: {}",
                show(got)
            );
        }
    } else {
        let got = masked(got);
        assert!(
            got == want,
            "{peer} {target}:\n got {}\nwant {}",
            show(&got),
            show(want)
        );
    }
}

/// `/db?id=K` and `/queries?n=N&id=K` on a peer: the core's answers for the rows the test
/// reads itself; then random rows and TechEmpower's clamping, for the JSON's shape.
fn peer_serves_the_cores_rows(peer: &str) {
    let Some(url) = cluster() else {
        return;
    };
    let Some(server) = start_peer(peer, Some(url)) else {
        return;
    };
    for id in [1, 42, WORLD_ROWS] {
        let target = format!("/db?id={id}");
        let want = expected(&target, rows(url, &[id]));
        same_answer(peer, &target, &get(server.addr(), &target), &want);
    }
    let target = "/queries?n=20&id=9990";
    let ids: Vec<i32> = (9990..=10_000).chain(1..=9).collect();
    let want = expected(target, rows(url, &ids));
    same_answer(peer, target, &get(server.addr(), target), &want);
    for (target, n) in [("/db", 0), ("/queries?n=foo", 1), ("/queries?n=501", 500)] {
        let answer = get(server.addr(), target);
        let (status, _, body) = fields(&answer);
        assert_eq!(
            status,
            200,
            "{peer} {target}: {}",
            String::from_utf8_lossy(&answer)
        );
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let count = value.as_array().map_or(0, Vec::len);
        assert_eq!(count, n, "{peer} {target}");
        let first = if n == 0 { &value } else { &value[0] };
        let id = first["id"].as_i64().unwrap_or(0);
        assert!(
            (1..=i64::from(WORLD_ROWS)).contains(&id),
            "{peer} {target}: {first}"
        );
    }
    let stopped = server
        .terminate(crate::util::STOP_GRACE)
        .expect("terminate");
    assert!(
        stopped.status.success() && !stopped.killed,
        "{peer}: {stopped:?}"
    );
}

/// Needs no PostgreSQL: a peer started without a database answers `/db` with 503 and the
/// reason (and the raw-socket peers keep the connection, as the engines do).
fn peer_without_a_database_answers_503(peer: &str) {
    let Some(server) = start_peer(peer, None) else {
        return;
    };
    let answer = get(server.addr(), "/queries?n=2&id=5");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\n") && text.contains("--db-url"),
        "{peer}: {text}"
    );
    if !peer.starts_with("gunicorn") {
        assert!(!text.contains("Connection: close"), "{peer}: {text}");
    }
    let stopped = server
        .terminate(crate::util::STOP_GRACE)
        .expect("terminate");
    assert!(
        stopped.status.success() && !stopped.killed,
        "{peer}: {stopped:?}"
    );
}

macro_rules! peer_database_tests {
    ($($module:ident => $peer:literal),* $(,)?) => {
        $(
            mod $module {
                #[test]
                fn serves_the_cores_rows() {
                    super::peer_serves_the_cores_rows($peer);
                }

                #[test]
                fn without_a_database_answers_503() {
                    super::peer_without_a_database_answers_503($peer);
                }
            }
        )*
        /// Every peer with a database client has its tests here.
        #[test]
        fn every_peer_with_a_database_client_is_tested() {
            let tested = [$($peer),*];
            for peer in wb_runner::peers::all().iter().filter(|p| p.database.is_some()) {
                assert!(tested.contains(&peer.name), "{} has no database test", peer.name);
            }
        }
    };
}

peer_database_tests!(
    peer_asyncio => "asyncio",
    peer_twisted => "twisted",
    peer_gunicorn_sync => "gunicorn-sync",
);
