//! A server (an engine or a [peer](crate::peers)) running as a child process, and how it is
//! kept from outliving the workbench.
//!
//! An engine prints one JSON line when it is ready to accept,
//! `{"engine":"selector","addr":"127.0.0.1:40123","pid":12345}`; [`ServerProcess::spawn`]
//! waits for it. Stopping sends SIGTERM to that PID, waits for the grace period and only then
//! sends SIGKILL to its whole process group. Dropping a still-running `ServerProcess` kills
//! the group, so a failing test never leaves a server behind.
//!
//! Engines and peers are one type, [`ServerProcess`]; a peer differs only in its
//! options: it may have a private run folder to remove, and may announce readiness by
//! accepting on its port instead of a ready line.
//!
//! # Process groups, and dying with the parent
//!
//! A server must never outlive the process that measures it: an engine left listening holds
//! its port, its memory and a core, and spoils the next run. Three things see to it.
//!
//! 1. **Its own process group.** Every server is started with `setpgid(0, 0)`, so its PGID is
//!    its PID. A terminal's Ctrl-C is sent to the *foreground* process group, which is the
//!    workbench's: the runner hears it and finishes the current step, while the engine, in
//!    a group of its own, keeps serving that step to its end. Stopping can then signal the
//!    whole group (gunicorn's and nginx's workers, the pool's workers) at once.
//! 2. **A parent-death signal.** Between `fork` and `exec` the child asks the kernel
//!    (`prctl(PR_SET_PDEATHSIG, SIGKILL)`) to be killed when its parent dies, even by
//!    SIGKILL, which no handler can catch. The parent may already have died between `fork`
//!    and `prctl`; then the child has been re-parented and no signal will ever come, so it
//!    checks `getppid()` afterwards and exits at once if the parent is not the one that
//!    forked it. The kernel sends that signal when the *thread* that forked exits, not the
//!    process, so every server is forked by one long-lived spawner thread (see
//!    `spawn_kept`): a runner on a short-lived thread (the dashboard's) cannot take its
//!    engine down by merely finishing. The setting survives `exec` (it is cleared only for
//!    set-user-ID programs) but not `fork`: a server's own children do not inherit it.
//! 3. **A group guard.** For those children (nginx's and gunicorn's workers; the pool sets
//!    its own workers' parent-death signal) the workbench forks a tiny guard process per
//!    server that joins the server's group and blocks reading a pipe whose only writer is the
//!    workbench. When the workbench dies for any reason, the kernel closes that pipe, the
//!    read returns end-of-file, and the guard sends SIGKILL to the whole group, itself
//!    included. The guard runs in a forked copy of a multi-threaded process, so it calls only
//!    async-signal-safe functions and never `exec`s.
//!
//! A stopped server is *reaped*: its exit status collected, so no zombie stays. Before the
//! top process is reaped, its group is killed (leftover workers and the guard): while the
//! top process is a zombie its PID, which is also the group's ID, cannot be reused, so the
//! signal cannot reach a stranger.
//!
//! [`stop_all`] stops every server of this process at once, from any thread: the CLI's second
//! Ctrl-C and a dashboard shutting down with a run in progress use it.

use std::io::{self, BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak, mpsc};
use std::time::{Duration, Instant};

use serde::Deserialize;
use wb_sys::affinity::{CpuSet, inherit_before_exec, pin_before_exec};
pub use wb_sys::affinity::{pin_thread_to, pin_to_cpu};
use wb_sys::process::{
    GroupGuard, Pid, SIGABRT, SIGKILL, SIGSEGV, SIGTERM, Signal, die_with_parent,
};

/// How long an engine may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often stopping checks whether a server has exited.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// The ready line an engine prints first on stdout.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Ready {
    /// The engine's name, as given on the command line.
    pub engine: String,
    /// The address it accepts on.
    pub addr: SocketAddr,
    /// Its process id (the parent of the pool's workers).
    pub pid: u32,
    /// Its effective configuration, as it states it (`"facts":{"workers":3,"cpus":1}`):
    /// absent from the lines of older engines and of peers that cannot say.
    #[serde(default)]
    pub facts: Option<wb_model::results::EngineFacts>,
}

/// A running server process: an engine ([`ServerProcess::spawn`]) or a peer
/// ([`PeerLaunch::spawn`](crate::peers::PeerLaunch::spawn)).
#[derive(Debug)]
pub struct ServerProcess {
    /// The process and its guard, behind a lock shared with the registry of live servers, so
    /// that [`stop_all`] can stop it from another thread (a signal watcher).
    process: Arc<Mutex<Tracked>>,
    /// What it announced.
    ready: Ready,
    /// A private folder (nginx's configuration and temp folders), removed when the server
    /// is dropped, after it has stopped.
    run_dir: Option<tempfile::TempDir>,
}

/// The file in an engine's run folder that holds its system-call counters.
const SYSCALLS_FILE: &str = "syscalls";

/// How a started server tells that it accepts connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// It prints the JSON ready line on stdout (which must be piped).
    Line,
    /// It prints nothing: poll this address until a TCP connect succeeds.
    Port(SocketAddr),
}

/// How [`ServerProcess::start`] treats a server.
#[derive(Debug)]
pub(crate) struct ServerOptions<'a> {
    /// What it is, for messages: "engine" or "peer".
    pub(crate) kind: &'static str,
    /// Its name.
    pub(crate) name: &'a str,
    /// How it announces that it is ready.
    pub(crate) readiness: Readiness,
    /// A private folder to remove when it stops.
    pub(crate) run_dir: Option<tempfile::TempDir>,
}

/// How an engine process ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// Its exit status.
    pub status: ExitStatus,
    /// Time from SIGTERM to exit.
    pub elapsed: Duration,
    /// Whether it had to be killed because it outlived the grace period.
    pub killed: bool,
}

/// A server's processes, as the workbench tracks them. Every signal and every reap goes
/// through one `&mut Tracked` (under its lock), so that no thread signals a PID another has
/// just reaped.
#[derive(Debug)]
struct Tracked {
    /// The top process; its PID is also its process group's ID.
    child: Child,
    /// Its exit status, once reaped (and its group killed).
    status: Option<ExitStatus>,
    /// The group guard (see the [module docs](self)), until it is killed and reaped; `None`
    /// if it could not be started (the parent-death signal still covers the top process).
    guard: Option<GroupGuard>,
}

impl ServerProcess {
    /// Like [`ServerProcess::spawn_on_cpu`], with the engine counting its own system calls
    /// into a file of its private run folder (`--syscalls FILE`, see `wb_sys::syscalls`):
    /// [`ServerProcess::syscalls`] reads them.
    pub fn spawn_counted(
        exe: &Path,
        engine: &str,
        args: &[&str],
        cpu: Option<usize>,
    ) -> io::Result<ServerProcess> {
        let dir = tempfile::Builder::new().prefix("wb-engine-").tempdir()?;
        let file = dir.path().join(SYSCALLS_FILE);
        let file = file
            .to_str()
            .ok_or_else(|| io::Error::other("a temporary folder whose name is not UTF-8"))?;
        let args: Vec<&str> = args.iter().copied().chain(["--syscalls", file]).collect();
        let mut server = ServerProcess::spawn_on_cpu(exe, engine, &args, cpu)?;
        server.run_dir = Some(dir);
        Ok(server)
    }

    /// The system calls the engine has counted so far, summed over its threads, in
    /// `wb_sys::syscalls::Call::ALL`'s order: `None` for an engine that does not count them
    /// (or was not started by [`ServerProcess::spawn_counted`]).
    pub fn syscalls(&self) -> Option<[u64; wb_sys::syscalls::CALLS]> {
        let path = self.run_dir()?.join(SYSCALLS_FILE);
        wb_sys::syscalls::read(&path).ok().flatten()
    }

    /// Starts `exe engine <engine> <args…>` and waits for its ready line. Its stderr (the
    /// engine's log) is inherited, at level `warn` unless `RUST_LOG` says otherwise.
    pub fn spawn(exe: &Path, engine: &str, args: &[&str]) -> io::Result<ServerProcess> {
        ServerProcess::spawn_on_cpu(exe, engine, args, None)
    }

    /// Starts the engine the registry knows by `label` ([`wb_model::engines::find`]: a variant
    /// such as `selector-on-tokio` or `selector_on_tokio` brings its own flags, e.g.
    /// `selector --reactor tokio`), with `args` after the label's flags.
    pub fn spawn_registered(exe: &Path, label: &str, args: &[&str]) -> io::Result<ServerProcess> {
        let choice = wb_model::engines::find(label).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no engine {label} in the registry"),
            )
        })?;
        let args: Vec<&str> = choice.args.iter().chain(args).copied().collect();
        ServerProcess::spawn(exe, choice.engine, &args)
    }

    /// Like [`ServerProcess::spawn`], but with `cpu` set, the engine (and every process and
    /// thread it creates, the pool's workers included) may run only on that CPU: the
    /// affinity is set in the child before `exec`, so nothing escapes it.
    pub fn spawn_on_cpu(
        exe: &Path,
        engine: &str,
        args: &[&str],
        cpu: Option<usize>,
    ) -> io::Result<ServerProcess> {
        let mut command = Command::new(exe);
        command
            .arg("engine")
            .arg(engine)
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let options = ServerOptions {
            kind: "engine",
            name: engine,
            readiness: Readiness::Line,
            run_dir: None,
        };
        ServerProcess::start(command, cpu, options)
    }

    /// Spawns `command` in a process group of its own, with a parent-death signal and a
    /// group guard (pinned to `cpu` if set), and waits until it is ready, as `options` say.
    /// On failure the group is killed (and the run folder removed) on the way out.
    pub(crate) fn start(
        mut command: Command,
        cpu: Option<usize>,
        options: ServerOptions<'_>,
    ) -> io::Result<ServerProcess> {
        command.process_group(0);
        // Read here, on the calling thread: the spawner thread's own affinity is not the one
        // the caller means the server to have.
        let affinity = CpuSet::of_this_thread();
        // The process that forks (through the spawner thread) is this one. In the child, in
        // this order: the parent-death signal, then the placement.
        die_with_parent(&mut command);
        match (cpu, affinity) {
            (Some(cpu), _) => pin_before_exec(&mut command, cpu),
            // The caller's affinity, as if it had forked itself; best effort.
            (None, Some(set)) => inherit_before_exec(&mut command, set),
            (None, None) => {}
        }
        let addr = match options.readiness {
            Readiness::Line => SocketAddr::from(([127, 0, 0, 1], 0)),
            Readiness::Port(addr) => addr,
        };
        let child = spawn_kept(command)?;
        let pgid = Pid::try_from(child.id()).map_err(io::Error::other)?;
        let guard = match GroupGuard::start(pgid) {
            Ok(guard) => Some(guard),
            Err(err) => {
                tracing::warn!(
                    "no group guard for {} {}: {err}",
                    options.kind,
                    options.name
                );
                None
            }
        };
        let process = Arc::new(Mutex::new(Tracked {
            child,
            status: None,
            guard,
        }));
        register(&process);
        let mut server = ServerProcess {
            process,
            ready: Ready {
                engine: options.name.to_string(),
                addr,
                pid: 0,
                facts: None,
            },
            run_dir: options.run_dir,
        };
        server.ready = match options.readiness {
            Readiness::Line => server.wait_for_line(options.kind, options.name)?,
            Readiness::Port(addr) => server.wait_for_port(options.kind, options.name, addr)?,
        };
        Ok(server)
    }

    /// The address the server accepts on.
    pub fn addr(&self) -> SocketAddr {
        self.ready.addr
    }

    /// The server's process id, as it announced it (for a peer, its top process: the
    /// gunicorn or nginx master). It is also the ID of its process group.
    pub fn pid(&self) -> u32 {
        self.ready.pid
    }

    /// The ready line (for a peer ready by port, nginx, made up from its port and PID).
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// The server's private run folder, if it has one (nginx): removed once it has stopped.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run_dir.as_ref().map(tempfile::TempDir::path)
    }

    /// Whether the (top) process is still running. Once it has exited, its group is killed
    /// and it is reaped.
    pub fn is_running(&mut self) -> bool {
        matches!(self.tracked().poll(), Ok(None))
    }

    /// How the process ended, for messages: its exit status, or "still running".
    pub fn exit_description(&mut self) -> String {
        match self.tracked().poll() {
            Ok(Some(status)) => describe(status),
            Ok(None) => "still running".into(),
            Err(err) => format!("unknown: {err}"),
        }
    }

    /// Sends SIGTERM, waits up to `grace` for the process to exit, then kills its whole
    /// process group; either way the group is gone and the process reaped when this returns.
    pub fn terminate(self, grace: Duration) -> io::Result<Stopped> {
        let start = Instant::now();
        {
            let mut tracked = self.tracked();
            if let Some(status) = tracked.poll()? {
                return Ok(Stopped {
                    status,
                    elapsed: Duration::ZERO,
                    killed: false,
                });
            }
            tracked.signal(SIGTERM)?;
        }
        while start.elapsed() < grace {
            if let Some(status) = self.tracked().poll()? {
                return Ok(Stopped {
                    status,
                    elapsed: start.elapsed(),
                    killed: false,
                });
            }
            std::thread::sleep(EXIT_POLL);
        }
        let status = self.tracked().kill()?;
        Ok(Stopped {
            status,
            elapsed: start.elapsed(),
            killed: true,
        })
    }

    fn tracked(&self) -> MutexGuard<'_, Tracked> {
        // A panic while holding the lock leaves the data as consistent as any signal would.
        self.process.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_for_line(&mut self, kind: &str, name: &str) -> io::Result<Ready> {
        let stdout = self
            .tracked()
            .child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other(format!("{kind} {name}: stdout is not piped")))?;
        // Read the ready line on a thread so that a child that never prints it cannot hang us;
        // the thread then drains stdout until the child exits, so it never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let result = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(result);
            let _ = io::copy(&mut reader.take(u64::MAX), &mut io::sink());
        });
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{kind} {name} printed no ready line within {READY_TIMEOUT:?}"),
                ));
            }
        };
        if line.trim().is_empty() {
            // Stdout closed: it exited (or closed stdout, which an engine never does).
            let status = self.tracked().kill()?;
            return Err(io::Error::other(format!(
                "{kind} {name} exited ({}) before it was ready",
                describe(status)
            )));
        }
        serde_json::from_str(line.trim()).map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{kind} {name} printed a bad ready line {line:?}: {err}"),
            )
        })
    }

    fn wait_for_port(&mut self, kind: &str, name: &str, addr: SocketAddr) -> io::Result<Ready> {
        let start = Instant::now();
        let pid = self.tracked().child.id();
        loop {
            if let Some(status) = self.tracked().poll()? {
                return Err(io::Error::other(format!(
                    "{kind} {name} exited ({}) before it accepted on {addr}",
                    describe(status)
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(Ready {
                    engine: name.to_string(),
                    addr,
                    pid,
                    facts: None,
                });
            }
            if start.elapsed() > READY_TIMEOUT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{kind} {name} did not accept on {addr} within {READY_TIMEOUT:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An exit status in words: `exit status: 0`, or the signal's name for a killed process.
fn describe(status: ExitStatus) -> String {
    match status.signal() {
        Some(SIGKILL) => "killed by SIGKILL".into(),
        Some(SIGTERM) => "killed by SIGTERM".into(),
        Some(SIGSEGV) => "killed by SIGSEGV".into(),
        Some(SIGABRT) => "killed by SIGABRT".into(),
        _ => status.to_string(),
    }
}

impl Tracked {
    /// The top process's PID, which is also its group's ID.
    fn pid(&self) -> Pid {
        // A PID always fits: the kernel hands out positive `pid_t`s.
        self.child.id() as Pid
    }

    /// Its exit status if it has exited (then reaped, with its group killed first), or
    /// `None` while it runs.
    fn poll(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        // Look without reaping, so the PID (the group's ID) stays ours while the group is
        // killed below. Already reaped (by std's `Child`, never by us) counts as exited:
        // collect it below.
        if !wb_sys::process::has_exited(self.pid())? {
            return Ok(None);
        }
        self.reap().map(Some)
    }

    /// Sends `signal` to the top process only, while it has not been reaped.
    fn signal(&self, signal: Signal) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // The PID is our unreaped child (even a zombie keeps it), so it cannot belong to
        // anyone else.
        wb_sys::process::signal(self.pid(), signal)
    }

    /// Kills the whole group now and reaps the top process.
    fn kill(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        self.reap()
    }

    /// Kills the guard and whatever is left of the group (the top process too, if it still
    /// runs), then reaps the guard and the top process. The group is signalled only here,
    /// before the top process is reaped, while its PID cannot have been reused.
    fn reap(&mut self) -> io::Result<ExitStatus> {
        if let Some(guard) = self.guard.take() {
            guard.stop();
        }
        // The group's ID is the PID of our child, not yet reaped, so it names this server's
        // group and no other.
        let _ = wb_sys::process::signal_group(self.pid(), SIGKILL);
        let status = self.child.wait()?;
        self.status = Some(status);
        Ok(status)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.tracked().kill();
        // `run_dir` (a TempDir) removes its folder as it drops, after the server has gone.
    }
}

/// Every server this process has started and not yet dropped, for [`stop_all`].
static SERVERS: Mutex<Vec<Weak<Mutex<Tracked>>>> = Mutex::new(Vec::new());

fn register(process: &Arc<Mutex<Tracked>>) {
    let mut servers = SERVERS.lock().unwrap_or_else(PoisonError::into_inner);
    servers.retain(|weak| weak.strong_count() > 0);
    servers.push(Arc::downgrade(process));
}

/// Stops every server this process started and has not reaped yet: SIGTERM to each, up to
/// `grace` for all of them to exit, then SIGKILL to the groups of those still running; all
/// are reaped when it returns. Safe from any thread, while other threads use the servers:
/// they see them as exited. Returns how many were running.
pub fn stop_all(grace: Duration) -> usize {
    let servers: Vec<Arc<Mutex<Tracked>>> = SERVERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    fn lock(server: &Mutex<Tracked>) -> (MutexGuard<'_, Tracked>, bool) {
        let mut tracked = server.lock().unwrap_or_else(PoisonError::into_inner);
        let running = matches!(tracked.poll(), Ok(None));
        (tracked, running)
    }
    let mut running = 0;
    for server in &servers {
        let (tracked, is_running) = lock(server);
        if is_running {
            running += 1;
            let _ = tracked.signal(SIGTERM);
        }
    }
    let start = Instant::now();
    while start.elapsed() < grace && servers.iter().any(|s| lock(s).1) {
        std::thread::sleep(EXIT_POLL);
    }
    for server in &servers {
        let _ = lock(server).0.kill();
    }
    running
}

/// Spawns `command` from one long-lived thread, so that the parent-death signal set in the
/// child fires when this *process* dies rather than when the calling thread ends (see the
/// [module docs](self)). Falls back to the calling thread if that thread cannot be started.
fn spawn_kept(command: Command) -> io::Result<Child> {
    type Job = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("server-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .ok()
            .map(|_| tx)
    });
    let mut command = command;
    let Some(spawner) = spawner else {
        return command.spawn();
    };
    let (reply_tx, reply_rx) = mpsc::channel();
    if let Err(mpsc::SendError((mut command, _))) = spawner.send((command, reply_tx)) {
        return command.spawn();
    }
    reply_rx
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the server spawner thread is gone")))
}

/// The `workbench` executable for a program built in the same target folder: an example in
/// `target/<profile>/examples/` finds it in `target/<profile>/`.
pub fn workbench_exe_beside_example() -> io::Result<std::path::PathBuf> {
    let me = std::env::current_exe()?;
    let exe = me
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("workbench"))
        .ok_or_else(|| io::Error::other(format!("unexpected example path {}", me.display())))?;
    if !exe.exists() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} not found: build it first (cargo build --release)",
                exe.display()
            ),
        ));
    }
    Ok(exe)
}

#[cfg(test)]
mod tests {
    use super::Ready;

    #[test]
    fn ready_lines_parse_with_and_without_facts() {
        let old: Ready =
            serde_json::from_str(r#"{"engine":"pool","addr":"127.0.0.1:80","pid":7}"#).unwrap();
        assert_eq!(old.facts, None);
        let new: Ready = serde_json::from_str(
            r#"{"addr":"127.0.0.1:80","engine":"pool","facts":{"cpus":1,"workers":3},"pid":7}"#,
        )
        .unwrap();
        let facts = new.facts.unwrap();
        assert_eq!(
            (facts.workers, facts.cpus, facts.threads),
            (Some(3), Some(1), None)
        );
        // A field this build does not know (a newer engine's) is no error either.
        let newer: Ready = serde_json::from_str(
            r#"{"addr":"127.0.0.1:80","engine":"pool","facts":{"workers":3,"numa":2},"pid":7}"#,
        )
        .unwrap();
        assert_eq!(newer.facts.unwrap().workers, Some(3));
    }
}
