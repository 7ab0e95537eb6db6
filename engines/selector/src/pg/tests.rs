//! The pool on a real mio loop against a real PostgreSQL: a private cluster started in a
//! temporary folder for this test and stopped by its PID at the end, even when the test fails.
//!
//! Needs PostgreSQL's server binaries (`pg_config --bindir`, or `/usr/lib/postgresql/*/bin`).
//! Without them the test says why and passes, except under `CI=true`, where it fails.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use super::*;

/// The unprivileged account the server runs as when the test runs as root (`initdb` refuses
/// root): `nobody`, as on every Debian machine.
const NOBODY: u32 = 65_534;
const NOGROUP: u32 = 65_534;

/// Rows in the test's `world`: `randomnumber = id * 7`.
const ROWS: i32 = 100;

/// Rows for the measurement: TechEmpower's `World`.
const TECHEMPOWER_ROWS: i32 = 10_000;

/// A private cluster: its folder, its postmaster (our child), its port.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    postmaster: Option<Child>,
    port: u16,
}

impl Cluster {
    /// `initdb`, then `postgres` on 127.0.0.1 at a free port and a Unix socket in the folder.
    fn start(bin: PathBuf, rows: i32) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("wb-selector-pg-")
            .tempdir()
            .expect("a temporary folder");
        // SAFETY: geteuid() only reads the process's credentials.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOGROUP))
                .expect("give the folder to nobody");
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let data = dir.path().join("data");
        let status = as_server_user(Command::new(bin.join("initdb")), root)
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("-D")
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed: {status}");
        // First match wins: three roles with a password method each, everyone else trusted.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             host all alice 127.0.0.1/32 scram-sha-256\n\
             host all bob 127.0.0.1/32 md5\n\
             host all carol 127.0.0.1/32 password\n\
             host all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let postmaster = as_server_user(Command::new(bin.join("postgres")), root)
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "fsync=off", "-c", "max_connections=20"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let mut cluster = Cluster {
            bin,
            dir,
            postmaster: Some(postmaster),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster.psql("postgres", "SELECT 1").0 {
            assert!(
                Instant::now() < deadline,
                "postgres did not start within 30 s"
            );
            if let Some(status) = cluster.postmaster.as_mut().unwrap().try_wait().unwrap() {
                panic!("postgres exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let (ok, out) = cluster.psql(
            "postgres",
            &format!(
                "CREATE TABLE world (id int PRIMARY KEY, randomnumber int NOT NULL);
                 INSERT INTO world SELECT i, i * 7 FROM generate_series(1, {rows}) i;
                 SET password_encryption = 'scram-sha-256';
                 CREATE ROLE alice LOGIN PASSWORD 'wonder';
                 CREATE ROLE carol LOGIN PASSWORD 'singer';
                 SET password_encryption = 'md5';
                 CREATE ROLE bob LOGIN PASSWORD 'builder';
                 GRANT SELECT ON world TO alice, bob, carol;"
            ),
        );
        assert!(ok, "seeding failed: {out}");
        cluster
    }

    /// Runs SQL through `psql` on the Unix socket (as the superuser, trusted).
    fn psql(&self, db: &str, sql: &str) -> (bool, String) {
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output();
        match out {
            Ok(out) => (
                out.status.success(),
                String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned(),
            ),
            Err(err) => (false, err.to_string()),
        }
    }

    fn config(&self, text: &str) -> Config {
        Config::parse(&format!(
            "host=127.0.0.1 port={} dbname=postgres {text}",
            self.port
        ))
        .unwrap()
    }
}

/// Runs `command` as `nobody` when we are root.
fn as_server_user(mut command: Command, root: bool) -> Command {
    if root {
        command.uid(NOBODY).gid(NOGROUP);
    }
    command
}

impl Drop for Cluster {
    /// Stops the postmaster by its PID: SIGINT is PostgreSQL's fast shutdown (clients are
    /// disconnected, no checkpoint wait); SIGKILL if it has not gone within 10 s.
    fn drop(&mut self) {
        let Some(mut child) = self.postmaster.take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill() only sends a signal, to our own child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// PostgreSQL's server binaries, or `None` (and why).
fn server_binaries() -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|bin| {
            ["initdb", "postgres", "psql"]
                .iter()
                .all(|b| bin.join(b).is_file())
        })
        .ok_or_else(|| {
            "no PostgreSQL server binaries (initdb, postgres, psql) in `pg_config --bindir` or \
             /usr/lib/postgresql/*/bin; install them with `apt-get install postgresql`"
                .to_owned()
        })
}

/// A mio loop with nothing but the pool on it.
struct Loop {
    poll: Poll,
    pool: Pool<u32>,
}

impl Loop {
    fn new(config: Config, settings: PoolSettings) -> Loop {
        let poll = Poll::new().unwrap();
        let pool = Pool::new(config, settings, poll.registry(), FIRST_TOKEN).unwrap();
        Loop { poll, pool }
    }

    /// Turns the loop, as the reactor would, until `count` requests have finished (at most
    /// 20 s).
    fn run(&mut self, count: usize) -> BTreeMap<u32, Result<Vec<Row>, DbError>> {
        let mut done = BTreeMap::new();
        let mut events = Events::with_capacity(64);
        let give_up = Instant::now() + Duration::from_secs(20);
        while done.len() < count {
            let now = Instant::now();
            assert!(
                now < give_up,
                "only {} of {count} answers in 20 s: {done:?}",
                done.len()
            );
            let timeout = self
                .pool
                .next_deadline()
                .map_or(Duration::from_millis(100), |at| {
                    at.saturating_duration_since(now)
                })
                .min(Duration::from_millis(100));
            self.poll.poll(&mut events, Some(timeout)).unwrap();
            for event in events.iter() {
                assert!(
                    self.pool.owns(event.token()),
                    "an event for {:?}",
                    event.token()
                );
                for c in self.pool.on_ready(event.token(), Readiness::from(event)) {
                    assert!(done.insert(c.key, c.result).is_none(), "answered twice");
                }
            }
            for c in self.pool.tick(Instant::now()) {
                assert!(done.insert(c.key, c.result).is_none(), "answered twice");
            }
        }
        done
    }

    /// Submits one request and waits for it.
    fn ask(&mut self, ids: &[i32]) -> Result<Vec<Row>, DbError> {
        self.pool.submit(0, ids.to_vec()).unwrap();
        self.run(1).remove(&0).unwrap()
    }
}

fn rows(ids: &[i32]) -> Vec<Row> {
    ids.iter()
        .filter(|&&id| (1..=ROWS).contains(&id))
        .map(|&id| (id, id * 7))
        .collect()
}

/// One conversation over a plain blocking socket — the state machine needs no mio — with
/// every byte the server sent recorded: (login up to Ready, the answer to `ids`, the rows).
fn blocking_conversation(config: &Config, ids: &[i32]) -> (Vec<u8>, Vec<u8>, Vec<Row>) {
    use std::io::{Read, Write};
    let Address::Tcp(addr) = config.address else {
        panic!("a TCP address");
    };
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn = PgConnection::new(config);
    let mut phase = |conn: &mut PgConnection, until: fn(&Event) -> bool| {
        let (mut recorded, mut buf, mut events) = (Vec::new(), [0; 4096], Vec::new());
        loop {
            socket.write_all(conn.pending()).unwrap();
            conn.written(conn.pending().len());
            if let Some(event) = events.iter().find(|e| until(e)) {
                return (recorded, event.clone());
            }
            let n = socket.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed the connection");
            recorded.extend_from_slice(&buf[..n]);
            conn.received(&buf[..n], &mut events).unwrap();
        }
    };
    let (login, _) = phase(&mut conn, |e| *e == Event::Ready);
    conn.query(ids).unwrap();
    let (answer, event) = phase(&mut conn, |e| matches!(e, Event::Answered(_)));
    let Event::Answered(Ok(found)) = event else {
        panic!("{event:?}");
    };
    (login, answer, found)
}

/// The server binaries; without them, a panic under `CI=true`, else `None` and a line why.
fn binaries_or_skip() -> Option<PathBuf> {
    match server_binaries() {
        Ok(bin) => Some(bin),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => panic!("CI=true: {why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

#[test]
fn the_pool_queries_a_real_postgresql() {
    let Some(bin) = binaries_or_skip() else {
        return;
    };
    let cluster = Cluster::start(bin, ROWS);

    // The state machine alone, on a blocking socket; the server's bytes, replayed one at a
    // time into a fresh connection, give the same events. `WB_PG_RECORD=DIR` keeps them (the
    // unit tests' fixtures in `engines/pg/src/recorded/` were made so).
    let config = cluster.config("user=postgres application_name=recorder");
    let ids = [1, 2, 3, 999];
    let (login, answer, found) = blocking_conversation(&config, &ids);
    assert_eq!(found, rows(&ids));
    let mut replay = PgConnection::new(&config);
    let mut events = Vec::new();
    for byte in &login {
        replay
            .received(std::slice::from_ref(byte), &mut events)
            .unwrap();
    }
    assert_eq!(events, vec![Event::Ready]);
    replay.query(&ids).unwrap();
    events.clear();
    for byte in &answer {
        replay
            .received(std::slice::from_ref(byte), &mut events)
            .unwrap();
    }
    assert_eq!(events, vec![Event::Answered(Ok(rows(&ids)))]);
    if let Some(dir) = std::env::var_os("WB_PG_RECORD") {
        let dir = PathBuf::from(dir);
        std::fs::write(dir.join("trust-login.bin"), &login).unwrap();
        std::fs::write(dir.join("answer-1-2-3-999.bin"), &answer).unwrap();
    }

    // Trust over TCP: two connections, five requests submitted before either has logged
    // in, so all five wait in the queue and leave it oldest first.
    let mut lp = Loop::new(cluster.config("user=postgres"), PoolSettings::new(2));
    let asks: [&[i32]; 5] = [&[1], &[2, 3], &[999], &[50, 1, 100], &[77]];
    for (key, ids) in asks.iter().enumerate() {
        lp.pool.submit(key as u32, ids.to_vec()).unwrap();
    }
    assert_eq!(lp.pool.stats().waiting, 5);
    let done = lp.run(asks.len());
    for (key, ids) in asks.iter().enumerate() {
        assert_eq!(done[&(key as u32)], Ok(rows(ids)), "request {key}: {ids:?}");
    }
    let stats = lp.pool.stats();
    // (The second connection may still be logging in: the first can serve all five.)
    assert_eq!((stats.size, stats.busy, stats.waiting), (2, 0, 0));
    assert!(stats.ready >= 1, "{stats:?}");
    assert_eq!(stats.most_waiting, 5);
    // A whole /queries batch in one round trip, its socket calls counted with the loop's
    // (the counters are the process's: other tests only add to them).
    let twenty: Vec<i32> = (1..=20).map(|i| i * 5).collect();
    let counted = |call: wb_sys::syscalls::Call| wb_sys::syscalls::totals()[call as usize];
    let (reads, writes) = (
        counted(wb_sys::syscalls::Call::Read),
        counted(wb_sys::syscalls::Call::Write),
    );
    assert_eq!(lp.ask(&twenty), Ok(rows(&twenty)));
    assert!(
        counted(wb_sys::syscalls::Call::Read) > reads
            && counted(wb_sys::syscalls::Call::Write) > writes,
        "the pool's read and write of a batch are counted"
    );

    // The server drops every connection (as a restart would): requests in flight or
    // submitted meanwhile fail with a typed error or succeed after the pool reconnected;
    // within a few back-offs every request succeeds again.
    let (ok, out) = cluster.psql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'workbench-selector'",
    );
    assert!(ok, "{out}");
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        match lp.ask(&[3]) {
            Ok(found) => {
                assert_eq!(found, rows(&[3]));
                break;
            }
            Err(err @ (DbError::Lost(_) | DbError::Server { .. } | DbError::Unavailable(_))) => {
                assert!(Instant::now() < give_up, "not reconnected in 10 s: {err}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(other) => panic!("an unexpected error after the restart: {other}"),
        }
    }
    let give_up = Instant::now() + Duration::from_secs(10);
    while lp.pool.stats().ready < 2 {
        assert!(Instant::now() < give_up, "{:?}", lp.pool.stats());
        lp.ask(&[4]).unwrap();
    }
    assert!(lp.pool.close().is_empty(), "nothing was waiting");

    // The same over the Unix socket in the cluster's folder, as a URL.
    let url = format!(
        "postgresql://postgres@{}:{}/postgres",
        cluster.dir.path().display().to_string().replace('/', "%2F"),
        cluster.port
    );
    let mut lp = Loop::new(Config::parse(&url).unwrap(), PoolSettings::new(1));
    assert_eq!(lp.ask(&[42, 43]), Ok(rows(&[42, 43])));

    // Each password method, right and wrong.
    for (user, password) in [("alice", "wonder"), ("bob", "builder"), ("carol", "singer")] {
        let mut lp = Loop::new(
            cluster.config(&format!("user={user} password={password}")),
            PoolSettings::new(1),
        );
        assert_eq!(lp.ask(&[9]), Ok(rows(&[9])), "{user}");
        let mut lp = Loop::new(
            cluster.config(&format!("user={user} password=wrong")),
            PoolSettings::new(1),
        );
        match lp.ask(&[9]) {
            Err(DbError::Unavailable(why)) => assert!(why.contains("28P01"), "{user}: {why}"),
            other => panic!("{user} with a wrong password: {other:?}"),
        }
        let mut lp = Loop::new(
            cluster.config(&format!("user={user}")),
            PoolSettings::new(1),
        );
        match lp.ask(&[9]) {
            Err(DbError::Unavailable(why)) => assert!(why.contains("password="), "{user}: {why}"),
            other => panic!("{user} without a password: {other:?}"),
        }
    }

    // No such database: the waiting request fails with the server's reason, at once.
    let mut lp = Loop::new(
        Config::parse(&format!(
            "host=127.0.0.1 port={} user=postgres dbname=nope",
            cluster.port
        ))
        .unwrap(),
        PoolSettings::new(1),
    );
    match lp.ask(&[1]) {
        Err(DbError::Unavailable(why)) => assert!(why.contains("3D000"), "{why}"),
        other => panic!("a missing database: {other:?}"),
    }

    // A full queue refuses at once; the requests it holds are answered.
    let mut settings = PoolSettings::new(1);
    settings.queue_limit = 2;
    let mut lp = Loop::new(cluster.config("user=postgres"), settings);
    lp.pool.submit(1, vec![1]).unwrap();
    lp.pool.submit(2, vec![2]).unwrap();
    assert_eq!(
        lp.pool.submit(3, vec![3]),
        Err(Refused::Full {
            waiting: 2,
            limit: 2
        })
    );
    assert_eq!(lp.pool.stats().refused, 1);
    let done = lp.run(2);
    assert_eq!(done[&1], Ok(rows(&[1])));
    assert_eq!(done[&2], Ok(rows(&[2])));
    drop(lp);

    // Nothing listening: connects fail, the waiting request fails with the reason.
    let closed_port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut lp = Loop::new(
        Config::parse(&format!("host=127.0.0.1 port={closed_port} user=postgres")).unwrap(),
        PoolSettings::new(2),
    );
    match lp.ask(&[1]) {
        Err(DbError::Unavailable(why)) => assert!(why.contains("refused"), "{why}"),
        other => panic!("nothing listening: {other:?}"),
    }
}

/// Keeps `concurrency` requests of `batch` ids in flight until `total` have been answered;
/// returns how long that took. Every answer is checked.
fn load(lp: &mut Loop, total: u32, concurrency: u32, batch: usize) -> Duration {
    let mut next_id = 12_345_u32;
    let mut ids = || -> Vec<i32> {
        (0..batch)
            .map(|_| {
                // A linear congruential generator: spread ids, no dependency.
                next_id = next_id.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (next_id >> 8) as i32 % TECHEMPOWER_ROWS + 1
            })
            .collect()
    };
    let mut asked: BTreeMap<u32, Vec<i32>> = BTreeMap::new();
    let (mut submitted, mut answered) = (0, 0);
    let mut events = Events::with_capacity(64);
    let started = Instant::now();
    while answered < total {
        while submitted < total && asked.len() < concurrency as usize {
            let request = ids();
            lp.pool.submit(submitted, request.clone()).unwrap();
            asked.insert(submitted, request);
            submitted += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the load took over 2 minutes"
        );
        lp.poll
            .poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        let mut done = Vec::new();
        for event in events.iter() {
            done.extend(lp.pool.on_ready(event.token(), Readiness::from(event)));
        }
        done.extend(lp.pool.tick(Instant::now()));
        for c in done {
            let request = asked.remove(&c.key).expect("a request we made");
            let expected: Vec<Row> = request.iter().map(|&id| (id, id * 7)).collect();
            assert_eq!(c.result, Ok(expected));
            answered += 1;
        }
    }
    started.elapsed()
}

/// Requests per second through the pool by pool size, against a private cluster on this
/// machine: a measurement to read, not a check (nothing is asserted about speed).
///
/// ```text
/// cargo test -p wb-selector --release --lib pg::tests::measure -- --ignored --nocapture
/// ```
#[test]
#[ignore = "a measurement: run it with --ignored --nocapture"]
fn measure_requests_per_second_by_pool_size() {
    let Some(bin) = binaries_or_skip() else {
        return;
    };
    let cluster = Cluster::start(bin, TECHEMPOWER_ROWS);
    const REPEATS: usize = 5;
    const CONCURRENCY: u32 = 64;
    for (batch, total) in [(1, 4_000), (20, 1_000)] {
        for size in [1, 2, 4, 8] {
            let mut rates: Vec<f64> = (0..REPEATS)
                .map(|_| {
                    let mut lp =
                        Loop::new(cluster.config("user=postgres"), PoolSettings::new(size));
                    // Every connection logged in first: the figure is queries, not logins.
                    load(&mut lp, size as u32 * 4, size as u32, 1);
                    while lp.pool.stats().ready < size {
                        load(&mut lp, 1, 1, 1);
                    }
                    f64::from(total) / load(&mut lp, total, CONCURRENCY, batch).as_secs_f64()
                })
                .collect();
            rates.sort_by(f64::total_cmp);
            println!(
                "pool {size}, {batch} id(s) a request, {CONCURRENCY} in flight: median {:.0} \
                 requests/s (min {:.0}, max {:.0}; {REPEATS} runs of {total})",
                rates[REPEATS / 2],
                rates[0],
                rates[REPEATS - 1]
            );
        }
    }
}
