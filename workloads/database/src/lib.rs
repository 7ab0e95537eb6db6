//! The workbench's own PostgreSQL: a private cluster that `/db` and `/queries` read, found,
//! initialised, tuned, seeded, started and stopped here.
//!
//! "You're probably waiting on the database" is a claim about a real database: its
//! connections, its own CPU on the same machine, its limits. So the database workloads run
//! against a real PostgreSQL, and the workbench keeps one of its own rather than touching the
//! machine's: `initdb` into a folder of its own ([`default_dir`], or `WORKBENCH_PG_DIR`),
//! listening on a Unix socket in that folder and on a loopback port, never on another
//! address.
//!
//! ```text
//! workbench db up       # initialise (once), start, seed (once); prints the connection string
//! workbench db status   # running or not, where, and the connection string
//! workbench db down     # fast shutdown
//! ```
//!
//! A `workbench run` with a database workload uses a cluster already up (and leaves it up),
//! or starts one for the run and stops it when the run ends, on Ctrl-C, and when the runner
//! dies ([`Lifetime::Owned`]).
//!
//! # Where the binaries come from
//!
//! `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin` (Debian's layout), each
//! only if it holds `initdb` and `postgres` ([`find_bindir`]). Without them the database
//! workloads have no data ("install postgresql") and every other workload runs.
//!
//! # As root
//!
//! `initdb` and `postgres` refuse to run as root (a server that a query could make write any
//! file of the machine). As root the cluster's folder is handed to an unprivileged user —
//! `postgres` where the distribution's package made one, else `nobody` — and both programs
//! run as that user (`CommandExt::uid`).
//!
//! # The settings, and why
//!
//! The data is generated and re-made at will, and the question is how the engines wait on
//! the database, not how the database keeps data safe. So ([`SETTINGS`]):
//!
//! | setting | value | why |
//! |---|---|---|
//! | `fsync`, `synchronous_commit`, `full_page_writes` | off | nothing here is worth a disk flush; the reads measured never wait on one anyway (TechEmpower's own configuration turns `synchronous_commit` off) |
//! | `max_connections` | 200 | room for `--db-pool` experiments up to about 190 connections, which is where the lesson's "the database's limit" is met |
//! | `shared_buffers` | 128MB | PostgreSQL's default, and 300 times the `World` table: every row is in memory after the first read |
//! | `autovacuum` | off | no background worker spends CPU during a step: the database's CPU is the queries' |
//! | `jit` | off | compiling a one-row lookup costs more than running it |
//! | `listen_addresses` | 127.0.0.1 | loopback only, as every socket of the workbench |
//! | `logging_collector` | off | the server's log goes to `postgres.log` in the folder |
//!
//! Authentication is `trust`, on the folder's socket and on loopback only: the cluster holds
//! generated rows and nothing else.
//!
//! # Stopping
//!
//! [`Database::stop`] (and dropping an owned [`Database`]) asks the postmaster for a fast
//! shutdown (SIGINT: backends end their queries, the server exits cleanly), then an immediate
//! one (SIGQUIT) after [`STOP_WAIT`], then SIGKILL. A cluster owned by a run also dies with
//! the process that started it: its postmaster is started with a parent-death signal of
//! SIGQUIT ([`wb_sys::process::die_with_parent_by`]), and PostgreSQL's backends end when
//! their postmaster does. The postmaster runs in a process group of its own, so a terminal's
//! Ctrl-C reaches the runner, which then stops it in order.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use wb_protocol::world::{SEED_SQL, WORLD_ROWS};
use wb_sys::process::{Pid, SIGINT, SIGKILL, SIGQUIT, die_with_parent_by, exists, signal};

/// The database the engines read, and its owner (the cluster's superuser).
pub const DATABASE: &str = "workbench";

/// How long the server may take to accept connections after it starts (a first start of an
/// empty cluster takes about a second).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long each stop signal is given before the next, harder one.
pub const STOP_WAIT: Duration = Duration::from_secs(10);

/// The server's settings, each `-c NAME=VALUE` on its command line; why each, in the crate
/// docs.
pub const SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "200"),
    ("shared_buffers", "128MB"),
    ("autovacuum", "off"),
    ("jit", "off"),
    ("listen_addresses", "127.0.0.1"),
    ("logging_collector", "off"),
];

/// Why the database cannot be had.
#[derive(Debug)]
pub enum Error {
    /// No PostgreSQL server binaries on this machine.
    NotInstalled,
    /// Something failed, and what (with the fix, where one is known).
    Failed(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotInstalled => f.write_str(
                "no data: install postgresql (no initdb and postgres in `pg_config --bindir` \
                 nor in /usr/lib/postgresql/*/bin; on Debian: apt-get install postgresql)",
            ),
            Error::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

fn failed(why: impl Into<String>) -> Error {
    Error::Failed(why.into())
}

/// The cluster's folder when none is given: `WORKBENCH_PG_DIR`, else
/// `<temp dir>/workbench-postgres-<uid>` (one per user; the temporary folder, since every
/// user, the unprivileged server's among them, can reach it, and a socket path must stay
/// under 108 bytes).
pub fn default_dir() -> PathBuf {
    match std::env::var_os("WORKBENCH_PG_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::temp_dir().join(format!(
            "workbench-postgres-{}",
            wb_sys::process::effective_uid()
        )),
    }
}

/// The folder of PostgreSQL's server programs: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin`, each only if it holds `initdb` and `postgres`.
pub fn find_bindir() -> Result<PathBuf, Error> {
    let holds_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if holds_server(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            holds_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, dir)| dir)
        .ok_or(Error::NotInstalled)
}

/// Which user the server runs as: this process's, or, as root, an unprivileged one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunAs {
    /// `None`: this process's own user.
    ids: Option<(u32, u32)>,
    name: String,
}

impl RunAs {
    fn choose() -> Result<RunAs, Error> {
        if wb_sys::process::effective_uid() != 0 {
            return Ok(RunAs {
                ids: None,
                name: "this user".into(),
            });
        }
        let passwd = fs::read_to_string("/etc/passwd")
            .map_err(|err| failed(format!("cannot read /etc/passwd: {err}")))?;
        for wanted in ["postgres", "nobody"] {
            if let Some(ids) = passwd_ids(&passwd, wanted)
                && ids.0 != 0
            {
                return Ok(RunAs {
                    ids: Some(ids),
                    name: wanted.into(),
                });
            }
        }
        Err(failed(
            "running as root, and neither a postgres nor a nobody user to run PostgreSQL as \
             (initdb refuses root): create one, e.g. `useradd --system postgres`",
        ))
    }

    /// Makes `command` run as this user.
    fn apply(&self, command: &mut Command) {
        if let Some((uid, gid)) = self.ids {
            command.uid(uid).gid(gid);
        }
    }

    /// Gives `path` to this user.
    fn own(&self, path: &Path) -> Result<(), Error> {
        if let Some((uid, gid)) = self.ids {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|err| {
                failed(format!(
                    "cannot give {} to the {}: {err}",
                    path.display(),
                    self.name
                ))
            })?;
        }
        Ok(())
    }
}

/// A user's `(uid, gid)` from `/etc/passwd`'s text.
fn passwd_ids(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
    })
}

/// Whether the database should outlive this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `workbench db up`: it runs until `workbench db down`.
    Detached,
    /// A run's: stopped when the [`Database`] is dropped, and killed with this process.
    Owned,
}

/// What `postmaster.pid` says of a running server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The postmaster's PID.
    pub pid: u32,
    /// Its loopback port.
    pub port: u16,
    /// The folder of its Unix socket.
    pub socket_dir: PathBuf,
}

impl Running {
    /// The connection string engines take (`--db-url`): the Unix socket, which costs the
    /// database less per query than TCP; the port names the socket file.
    pub fn conninfo(&self) -> String {
        format!(
            "host={} port={} user={DATABASE} dbname={DATABASE}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// The same database over TCP on loopback.
    pub fn tcp_conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={DATABASE} dbname={DATABASE}",
            self.port
        )
    }
}

/// Reads `DIR/data/postmaster.pid` and says whether its server is running (its PID exists and
/// is a `postgres`). `None`: not running (no file, a stale one, or one still starting up).
pub fn running(dir: &Path) -> Option<Running> {
    let text = fs::read_to_string(dir.join("data/postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let pid: u32 = lines.first()?.trim().parse().ok()?;
    let port: u16 = lines.get(3)?.trim().parse().ok()?;
    let socket_dir = PathBuf::from(lines.get(4)?.trim());
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    (comm.trim() == "postgres" && exists(pid as Pid)).then_some(Running {
        pid,
        port,
        socket_dir,
    })
}

/// A cluster this process uses: started by it ([`Lifetime`]) or found running.
#[derive(Debug)]
pub struct Database {
    running: Running,
    /// The postmaster, when this process started it and owns it (stopped on drop).
    owned: Option<Child>,
}

impl Database {
    /// Where it is and how to reach it.
    pub fn running(&self) -> &Running {
        &self.running
    }

    /// The connection string for the engines' `--db-url`.
    pub fn conninfo(&self) -> String {
        self.running.conninfo()
    }

    /// The postmaster's PID: its process tree is the database's, for the sampler.
    pub fn pid(&self) -> u32 {
        self.running.pid
    }

    /// Whether this process started it and stops it when dropped.
    pub fn is_owned(&self) -> bool {
        self.owned.is_some()
    }

    /// Stops the server if this process owns it (fast shutdown, then immediate, then SIGKILL, [`STOP_WAIT`] apart); one found running is
    /// left running.
    pub fn stop(mut self) {
        self.stop_owned();
    }

    fn stop_owned(&mut self) {
        if let Some(mut child) = self.owned.take() {
            let pid = child.id() as Pid;
            stop_pid(pid, || matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
            let _ = child.wait();
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.stop_owned();
    }
}

/// The cluster in `dir`, running: found running, or initialised (the first time), started and
/// seeded (the first time). `lifetime` says who stops a server started here.
pub fn up(dir: &Path, lifetime: Lifetime) -> Result<Database, Error> {
    if let Some(running) = running(dir) {
        seed(&running)?;
        return Ok(Database {
            running,
            owned: None,
        });
    }
    let bindir = find_bindir()?;
    let run_as = RunAs::choose()?;
    fs::create_dir_all(dir)
        .map_err(|err| failed(format!("cannot create {}: {err}", dir.display())))?;
    // The socket goes here too: the server's user writes it, everyone may enter.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(|err| failed(format!("cannot set {}'s mode: {err}", dir.display())))?;
    run_as.own(dir)?;
    let data = dir.join("data");
    if !data.join("PG_VERSION").is_file() {
        initdb(&bindir, &data, &run_as)?;
    }
    let child = start(&bindir, dir, &run_as, lifetime)?;
    let pid = child.id();
    let mut database = Database {
        running: Running {
            pid,
            port: 0,
            socket_dir: dir.to_path_buf(),
        },
        owned: Some(child),
    };
    let running = wait_until_ready(dir, pid, database.owned.as_mut().expect("just started"))?;
    database.running = running;
    seed(&database.running)?;
    if lifetime == Lifetime::Detached {
        // Not ours to stop: `workbench db down` does. Its status is collected by init once
        // this process exits.
        database.owned = None;
    }
    Ok(database)
}

/// Stops the cluster running in `dir`, if one is: `Ok(false)` when none was.
pub fn down(dir: &Path) -> Result<bool, Error> {
    let Some(running) = running(dir) else {
        return Ok(false);
    };
    let pid = running.pid as Pid;
    stop_pid(pid, || !exists(pid));
    if exists(pid) {
        return Err(failed(format!("PostgreSQL (pid {pid}) did not stop")));
    }
    Ok(true)
}

/// Fast shutdown, then immediate, then SIGKILL, each given [`STOP_WAIT`] until `gone` says
/// the postmaster has exited.
fn stop_pid(pid: Pid, mut gone: impl FnMut() -> bool) {
    for sig in [SIGINT, SIGQUIT, SIGKILL] {
        if signal(pid, sig).is_err() {
            return;
        }
        let deadline = Instant::now() + STOP_WAIT;
        while Instant::now() < deadline {
            if gone() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(pid, sig, "PostgreSQL did not stop in time; trying harder");
    }
}

fn initdb(bindir: &Path, data: &Path, run_as: &RunAs) -> Result<(), Error> {
    let mut command = Command::new(bindir.join("initdb"));
    command
        .arg("-D")
        .arg(data)
        .args(["-U", DATABASE, "--auth=trust", "-E", "UTF8", "--locale=C"])
        // Nothing here needs to survive a power cut.
        .arg("--no-sync")
        .current_dir(data.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::null());
    run_as.apply(&mut command);
    let out = command.output().map_err(|err| {
        failed(format!(
            "cannot run {}: {err}",
            bindir.join("initdb").display()
        ))
    })?;
    if !out.status.success() {
        return Err(failed(format!(
            "initdb failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn start(bindir: &Path, dir: &Path, run_as: &RunAs, lifetime: Lifetime) -> Result<Child, Error> {
    let port = free_port()?;
    let log_path = dir.join("postgres.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|err| failed(format!("cannot open {}: {err}", log_path.display())))?;
    let mut command = Command::new(bindir.join("postgres"));
    command
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-k")
        .arg(dir)
        .arg("-p")
        .arg(port.to_string());
    for (name, value) in SETTINGS {
        command.arg("-c").arg(format!("{name}={value}"));
    }
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Out of the terminal's group: Ctrl-C reaches the runner, which stops it in order.
        .process_group(0);
    run_as.apply(&mut command);
    // Every CPU, whatever the calling thread's placement (a runner pins itself to the load
    // generator's half): the database is a third party on the machine, not the client's.
    if let Some(all) = online_cpus() {
        wb_sys::affinity::inherit_before_exec(&mut command, all);
    }
    if lifetime == Lifetime::Owned {
        die_with_parent_by(&mut command, SIGQUIT);
    }
    let spawned = match lifetime {
        Lifetime::Owned => spawn_kept(command),
        Lifetime::Detached => command.spawn(),
    };
    spawned.map_err(|err| {
        failed(format!(
            "cannot start {}: {err}",
            bindir.join("postgres").display()
        ))
    })
}

/// Spawns `command` from one long-lived thread: the parent-death signal fires when the thread
/// that forked exits, not the process, so a cluster started from a short-lived thread (a
/// test's, the dashboard's runner) would die with that thread. (The runner's servers are
/// spawned the same way, for the same reason.)
fn spawn_kept(command: Command) -> io::Result<Child> {
    type Job = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<Job>>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("postgres-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let mut command = command;
    let Some(spawner) = spawner else {
        return command.spawn();
    };
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply_tx));
    if let Err(mpsc::SendError((mut command, _))) = sent {
        return command.spawn();
    }
    reply_rx
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the postgres spawner thread is gone")))
}

/// The machine's online CPUs (`/sys/devices/system/cpu/online`: `0-3,6`).
fn online_cpus() -> Option<wb_sys::affinity::CpuSet> {
    let text = fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let (low, high) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(low.parse::<usize>().ok()?..=high.parse::<usize>().ok()?);
    }
    wb_sys::affinity::CpuSet::of(cpus).ok()
}

/// A loopback port nothing listens on now (the kernel's pick; another program could take it
/// before the server does, and then the start fails and says so).
fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| failed(format!("no free loopback port: {err}")))
}

/// Waits until the server started as `child` accepts connections.
fn wait_until_ready(dir: &Path, pid: u32, child: &mut Child) -> Result<Running, Error> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failed(format!(
                "PostgreSQL exited at its start ({status}); its log, {}, ends with: {}",
                dir.join("postgres.log").display(),
                log_tail(&dir.join("postgres.log"))
            )));
        }
        if let Some(running) = running(dir).filter(|r| r.pid == pid)
            && connect(&running, "postgres").is_ok()
        {
            return Ok(running);
        }
        if Instant::now() > deadline {
            return Err(failed(format!(
                "PostgreSQL did not accept connections within {START_TIMEOUT:?}; see {}",
                dir.join("postgres.log").display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    let _ = fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" / ")
}

/// A client error with the server's own message, when it sent one (`Display` says only
/// "db error").
pub fn explain(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{err}: {}", db.message()),
        None => err.to_string(),
    }
}

fn connect(running: &Running, dbname: &str) -> Result<postgres::Client, postgres::Error> {
    postgres::Config::new()
        .host_path(&running.socket_dir)
        .port(running.port)
        .user(DATABASE)
        .dbname(dbname)
        .connect_timeout(Duration::from_secs(5))
        .connect(postgres::NoTls)
}

/// Creates the `workbench` database and its tables, unless they are there with every row.
fn seed(running: &Running) -> Result<(), Error> {
    let db_error = |what: &str, err: postgres::Error| failed(format!("{what}: {}", explain(&err)));
    let mut admin = connect(running, "postgres").map_err(|e| db_error("cannot connect", e))?;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
        .map_err(|e| db_error("cannot list the databases", e))?
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .map_err(|e| db_error("cannot create the database", e))?;
    }
    let mut client = connect(running, DATABASE).map_err(|e| db_error("cannot connect", e))?;
    let table: bool = client
        .query_one("SELECT to_regclass('world') IS NOT NULL", &[])
        .map_err(|e| db_error("cannot look for the World table", e))?
        .get(0);
    let rows: Option<i64> = if table {
        Some(
            client
                .query_one("SELECT count(*) FROM world", &[])
                .map_err(|e| db_error("cannot count the World rows", e))?
                .get(0),
        )
    } else {
        None
    };
    match rows {
        Some(n) if n == i64::from(WORLD_ROWS) => Ok(()),
        Some(n) => Err(failed(format!(
            "the World table has {n} rows, not {WORLD_ROWS}: remove the cluster's folder \
             (workbench db down, then rm -r {}) and start again",
            running.socket_dir.display()
        ))),
        None => client
            .batch_execute(SEED_SQL)
            .map_err(|e| db_error("cannot seed the tables", e)),
    }
}

/// One line for `workbench db status`: whether it runs, where, and how to reach it.
pub fn status_line(dir: &Path) -> String {
    match running(dir) {
        Some(running) => format!(
            "running: pid {}, folder {}, port {} on 127.0.0.1\n--db-url \"{}\"",
            running.pid,
            dir.display(),
            running.port,
            running.conninfo()
        ),
        None if dir.join("data/PG_VERSION").is_file() => {
            format!(
                "stopped: folder {} (workbench db up starts it)",
                dir.display()
            )
        }
        None => match find_bindir() {
            Ok(bindir) => format!(
                "not created: workbench db up makes it in {} with {}",
                dir.display(),
                bindir.display()
            ),
            Err(err) => format!("not created: {err}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_give_ids() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
        assert_eq!(passwd_ids(passwd, "postgres"), Some((101, 104)));
        assert_eq!(passwd_ids(passwd, "nobody"), Some((65534, 65534)));
        assert_eq!(passwd_ids(passwd, "post"), None);
    }

    #[test]
    fn a_folder_without_a_server_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(running(dir.path()), None);
        // A stale pid file whose PID is no postgres.
        fs::create_dir(dir.path().join("data")).unwrap();
        fs::write(
            dir.path().join("data/postmaster.pid"),
            format!("{}\n/x\n1\n5432\n/tmp\n", std::process::id()),
        )
        .unwrap();
        assert_eq!(running(dir.path()), None);
        assert!(!down(dir.path()).unwrap());
    }

    #[test]
    fn connection_strings_name_the_socket_folder_and_the_port() {
        let running = Running {
            pid: 1,
            port: 5555,
            socket_dir: PathBuf::from("/tmp/wb"),
        };
        assert_eq!(
            running.conninfo(),
            "host=/tmp/wb port=5555 user=workbench dbname=workbench"
        );
        let parsed: postgres::Config = running.conninfo().parse().unwrap();
        assert_eq!(parsed.get_ports(), &[5555]);
    }
}
