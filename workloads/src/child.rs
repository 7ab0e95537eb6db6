//! A server (an engine or a [peer](crate::peers)) running as a child process.
//!
//! An engine prints one JSON line when it is ready to accept,
//! `{"engine":"selector","addr":"127.0.0.1:40123","pid":12345}`; [`EngineProcess::spawn`]
//! waits for it. Stopping sends SIGTERM to that PID, waits for the grace period and only then
//! sends SIGKILL. Dropping a still-running `EngineProcess` kills it, so a failing test never
//! leaves a server behind.
//!
//! Engines and peers are one type, [`ServerProcess`] ([`EngineProcess`] and
//! [`PeerProcess`](crate::peers::PeerProcess) name it); a peer differs only in its
//! options: it is killed with its whole process group, may leave a run folder to
//! remove, and may announce readiness by accepting on its port instead of a ready line.

use std::io::{self, BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// How long an engine may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The ready line an engine prints first on stdout.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Ready {
    /// The engine's name, as given on the command line.
    pub engine: String,
    /// The address it accepts on.
    pub addr: SocketAddr,
    /// Its process id (the parent of the pool's workers).
    pub pid: u32,
}

/// A running server process: an engine ([`EngineProcess::spawn`]) or a peer
/// ([`PeerDef::spawn`](crate::peers::PeerDef::spawn)).
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    ready: Ready,
    /// Kill the whole process group (its PGID is its PID), not just the child.
    kill_group: bool,
    /// A folder removed when the server stops (nginx's configuration and temp folder).
    cleanup_dir: Option<PathBuf>,
}

/// A running engine process.
pub type EngineProcess = ServerProcess;

/// How a started server tells that it accepts connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// It prints the JSON ready line on stdout (which must be piped).
    Line,
    /// It prints nothing: poll this address until a TCP connect succeeds.
    Port(SocketAddr),
}

/// How [`ServerProcess::start`] treats a server.
#[derive(Debug, Clone)]
pub(crate) struct ServerOptions<'a> {
    /// What it is, for messages: "engine" or "peer".
    pub(crate) kind: &'static str,
    /// Its name.
    pub(crate) name: &'a str,
    /// How it announces that it is ready.
    pub(crate) readiness: Readiness,
    /// Kill its process group rather than only the child (the command must have put it in a
    /// group of its own).
    pub(crate) kill_group: bool,
    /// A folder to remove when it stops.
    pub(crate) cleanup_dir: Option<PathBuf>,
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

impl ServerProcess {
    /// Starts `exe engine <engine> <args…>` and waits for its ready line. Its stderr (the
    /// engine's log) is inherited, at level `warn` unless `RUST_LOG` says otherwise.
    pub fn spawn(exe: &Path, engine: &str, args: &[&str]) -> io::Result<EngineProcess> {
        EngineProcess::spawn_on_cpu(exe, engine, args, None)
    }

    /// Like [`EngineProcess::spawn`], but with `cpu` set, the engine (and every process and
    /// thread it creates, the pool's workers included) may run only on that CPU: the
    /// affinity is set in the child before `exec`, so nothing escapes it.
    pub fn spawn_on_cpu(
        exe: &Path,
        engine: &str,
        args: &[&str],
        cpu: Option<usize>,
    ) -> io::Result<EngineProcess> {
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
            kill_group: false,
            cleanup_dir: None,
        };
        ServerProcess::start(command, cpu, options)
    }

    /// Spawns `command` (pinned to `cpu` if set) and waits until it is ready, as `options`
    /// say. On failure the child is killed (and the cleanup folder removed) on the way out.
    pub(crate) fn start(
        mut command: Command,
        cpu: Option<usize>,
        options: ServerOptions<'_>,
    ) -> io::Result<ServerProcess> {
        if let Some(cpu) = cpu {
            // SAFETY: the closure runs in the forked child before exec and only calls
            // sched_setaffinity through `pin_to_cpu`, which allocates nothing and is
            // async-signal-safe (a plain system call on a stack buffer).
            unsafe {
                command.pre_exec(move || pin_to_cpu(0, cpu));
            }
        }
        let addr = match options.readiness {
            Readiness::Line => SocketAddr::from(([127, 0, 0, 1], 0)),
            Readiness::Port(addr) => addr,
        };
        let child = command.spawn()?;
        let mut process = ServerProcess {
            child,
            ready: Ready {
                engine: options.name.to_string(),
                addr,
                pid: 0,
            },
            kill_group: options.kill_group,
            cleanup_dir: options.cleanup_dir,
        };
        process.ready = match options.readiness {
            Readiness::Line => process.wait_for_line(options.kind, options.name)?,
            Readiness::Port(addr) => process.wait_for_port(options.kind, options.name, addr)?,
        };
        Ok(process)
    }

    /// The address the server accepts on.
    pub fn addr(&self) -> SocketAddr {
        self.ready.addr
    }

    /// The server's process id, as it announced it (for a peer, its top process: the
    /// gunicorn or nginx master).
    pub fn pid(&self) -> u32 {
        self.ready.pid
    }

    /// The ready line (for a peer ready by port, nginx, made up from its port and PID).
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// Whether the (top) process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How the process ended, for messages: its exit status, or "still running".
    pub fn exit_description(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            Ok(None) => "still running".into(),
            Err(err) => format!("unknown: {err}"),
        }
    }

    /// Sends SIGTERM, waits up to `grace` for the process to exit, then kills it (a peer: its
    /// whole process group).
    pub fn terminate(mut self, grace: Duration) -> io::Result<Stopped> {
        let start = Instant::now();
        if let Some(status) = self.child.try_wait()? {
            return Ok(Stopped {
                status,
                elapsed: Duration::ZERO,
                killed: false,
            });
        }
        self.signal(libc::SIGTERM)?;
        while start.elapsed() < grace {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Stopped {
                    status,
                    elapsed: start.elapsed(),
                    killed: false,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.kill_group {
            self.kill_group();
        } else {
            self.child.kill()?;
        }
        let status = self.child.wait()?;
        Ok(Stopped {
            status,
            elapsed: start.elapsed(),
            killed: true,
        })
    }

    fn wait_for_line(&mut self, kind: &str, name: &str) -> io::Result<Ready> {
        let stdout = self.child.stdout.take().expect("stdout is piped");
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
            let status = self.child.wait()?;
            return Err(io::Error::other(format!(
                "{kind} {name} exited ({status}) before it was ready"
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
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "{kind} {name} exited ({status}) before it accepted on {addr}"
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(Ready {
                    engine: name.to_string(),
                    addr,
                    pid: self.child.id(),
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

    fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(io::Error::other)?;
        // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, which
        // has not been reaped yet (try_wait returned None), so the PID cannot have been reused.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// SIGKILL to the server's process group (its PGID is its PID: `process_group(0)`), so
    /// gunicorn's and nginx's workers go with their master. Called only before the child is
    /// reaped, so the group's ID cannot have been reused.
    fn kill_group(&mut self) {
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: killpg(2) has no memory-safety preconditions.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

/// Restricts process (or thread) `pid` — 0 for the calling thread — to one CPU.
pub fn pin_to_cpu(pid: libc::pid_t, cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data and all-zero is a valid empty set; CPU_SET writes
    // inside it (cpu is checked against its capacity first); sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            if self.kill_group {
                self.kill_group();
            } else {
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
        }
        if let Some(dir) = &self.cleanup_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
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
