//! Peers: servers this project did not write, started, measured and checked like engines.
//!
//! The workbench's four engines are Rust. Its peers are the real systems of Python's
//! asyncio/Twisted debate, plus nginx, each serving the same routes (`peers/` in the
//! repository): small Python servers on asyncio, Twisted, Tornado, gevent, curio and gunicorn
//! (`sync` and `gthread` workers), and an nginx configuration; beside them the frameworks as
//! people deploy them (aiohttp, uvicorn, Starlette, twisted.web, tornado.web, gevent's pywsgi,
//! gunicorn with uvicorn workers, granian), which parse and frame HTTP themselves, and Twisted
//! on its select() and poll() reactors. [`all`] lists them (the table itself is
//! [`wb_model::peers`]).
//!
//! # Interoperability variants
//!
//! PEP 3156 asks a framework to "keep the default event loop and adapt it to the framework's
//! API". Three variants run an unchanged peer on another loop, so the loop alone is what
//! differs: `twisted-asyncio` (Twisted's `asyncioreactor` over the standard asyncio loop),
//! `twisted-uvloop` (the same over uvloop, libuv's loop behind asyncio's interface) and
//! `asyncio-uvloop` (the asyncio peer's `Protocol` on uvloop), beside `twisted` (the epoll
//! reactor) and `asyncio`. They are the same scripts with a flag (`--reactor asyncio|uvloop`,
//! `--loop uvloop`), and event loops in the registry like the peers they vary.
//!
//! The raw-socket Python peers take every byte they send from `peers/wbcore.py`, a line-by-line
//! port of the protocol core, so they answer the conformance corpus byte for byte; gunicorn
//! and nginx frame responses themselves (adding `Server`, `Date` and `Connection`), and nginx
//! serves `/hello` only ([`PeerDef::supports_work`] is false).
//!
//! # Where things are
//!
//! - The peers' sources: [`peers_dir`], the repository's `peers/` folder, or
//!   `$WORKBENCH_PEERS_DIR`.
//! - The Python packages: a virtual environment under [`cache_dir`] (`peers-venv`), created by
//!   `workbench peers install` from the pinned `peers/requirements.txt`.
//! - nginx: the system's (`apt-get install nginx-light`), found on `PATH` or in `/usr/sbin`.
//!
//! # How the runner starts a peer
//!
//! [`PeerDef::spawn`] does all of it; a runner that wants its own loop follows the same steps:
//!
//! 1. [`PeerDef::readiness`]: if it says why not, the peer's steps are "not installed".
//! 2. [`PeerDef::command`] with a port: 0 lets the Python peers and gunicorn bind any free port
//!    (they announce it); nginx needs a real one (pick it with [`free_port`]), and a private
//!    run folder ([`PeerCommand::run_dir`], mode 0700, removed when dropped). The command puts
//!    the peer in a process group of its own (its PGID is its PID), so the terminal's Ctrl-C
//!    reaches the runner only, and the whole tree can be killed at once. [`PeerDef::spawn`]
//!    also gives it the parent-death signal and group guard every server gets
//!    ([`crate::child`]), so no peer process outlives the workbench, even killed by SIGKILL.
//! 3. Wait for readiness, [`PeerDef::ready`]: [`ReadySignal::Line`] peers print the engines'
//!    ready line, `{"engine":"asyncio","addr":"127.0.0.1:PORT","pid":PID}`, on stdout (then
//!    drain stdout); [`ReadySignal::Port`] (nginx) prints nothing, so poll the port with TCP
//!    connects until one succeeds or [`READY_TIMEOUT`] passes.
//! 4. Measure the process tree under the announced PID: one process for asyncio, Twisted,
//!    Tornado, gevent and curio; the gunicorn master and its worker processes; the nginx master
//!    and its worker.
//! 5. Stop: SIGTERM to that PID (gunicorn and nginx masters stop their workers), wait up to the
//!    grace period, then SIGKILL the process group. Every peer exits 0 on SIGTERM and SIGINT.
//!
//! Workloads on `/work` are "not supported" for a peer whose [`PeerDef::supports_work`] is
//! false, not failed.

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use crate::child::{READY_TIMEOUT, Ready, Stopped};
use crate::child::{Readiness, ServerOptions, ServerProcess};

pub use wb_model::peers::*;

/// The workbench's cache folder: `$XDG_CACHE_HOME/concurrency-workbench`, or
/// `~/.cache/concurrency-workbench` (the XDG default).
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
            PathBuf::from(home).join(".cache")
        });
    base.join("concurrency-workbench")
}

/// The peers' Python virtual environment, `peers-venv` in the [cache folder](cache_dir).
pub fn venv_dir() -> PathBuf {
    cache_dir().join("peers-venv")
}

/// The virtual environment's interpreter, which runs every Python peer.
pub fn venv_python() -> PathBuf {
    venv_dir().join("bin").join("python")
}

/// The Python `(major, minor)` the peers' environment was made with, from its `pyvenv.cfg`
/// (`version = 3.11.7`, or `version_info = 3.13.0.final.0` in newer Pythons); `None` when
/// there is no environment or it does not say.
pub fn venv_python_version() -> Option<(u32, u32)> {
    let cfg = std::fs::read_to_string(venv_dir().join("pyvenv.cfg")).ok()?;
    cfg.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if !matches!(key.trim(), "version" | "version_info") {
            return None;
        }
        let mut parts = value.trim().split('.').map(str::parse::<u32>);
        match (parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor))) => Some((major, minor)),
            _ => None,
        }
    })
}

/// The peers' sources: `$WORKBENCH_PEERS_DIR`, or the repository's `peers/` folder (found from
/// where this crate was built).
pub fn peers_dir() -> PathBuf {
    match std::env::var_os("WORKBENCH_PEERS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            // This crate is `workloads/runner`: the repository is two folders up.
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../peers")
        }
    }
}

/// The pinned Python requirements, `requirements.txt` in [`peers_dir`].
pub fn requirements_file() -> PathBuf {
    peers_dir().join("requirements.txt")
}

/// The nginx executable: `$WORKBENCH_NGINX`, else `nginx` on `PATH`, else `/usr/sbin/nginx`
/// (where Debian puts it, often not on a user's `PATH`).
pub fn nginx_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WORKBENCH_NGINX").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nginx"));
    on_path
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|candidate| candidate.is_file())
}

/// What to do where nginx is missing.
pub const NGINX_HINT: &str = "install it with `apt-get install nginx-light` (as root)";

/// A free TCP port on 127.0.0.1, for a peer that cannot bind port 0 itself (nginx). Another
/// process may take it before the peer binds it; [`PeerDef::spawn`] then tries another.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// How many workers (gunicorn-sync, gunicorn-uvicorn) or threads (gunicorn-gthread):
/// gunicorn's rule of thumb, 2 × cores + 1, the same as the `pool` engine's default.
pub fn gunicorn_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    2 * cores + 1
}

/// A fresh private folder for a started nginx's configuration, pid file and temp folders:
/// `concurrency-workbench-nginx-<port>-<random>` in the system's temp folder, created with
/// `mkdtemp`'s guarantees (a new name, never an existing folder or a symlink someone left
/// there; mode 0700, so no other user can read or plant files in it), and removed when the
/// returned [`TempDir`](tempfile::TempDir) is dropped.
fn nginx_run_dir(port: u16) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("concurrency-workbench-nginx-{port}-"))
        .tempdir()
}

/// A peer's command line, and the private folder it runs in (nginx only), which must live
/// as long as the peer: [`PeerDef::spawn`] hands it to the [`ServerProcess`], which removes it
/// when the peer stops.
#[derive(Debug)]
pub struct PeerCommand {
    /// The process to spawn.
    pub command: Command,
    /// The peer's private run folder, if it has one.
    pub run_dir: Option<tempfile::TempDir>,
}

/// One field of every Python package the peers need (its import or its distribution name),
/// sorted, each once.
fn python_packages(field: fn(&Package) -> &'static str) -> Vec<&'static str> {
    let mut names: Vec<&str> = all()
        .iter()
        .flat_map(|peer| {
            let mut names: Vec<&str> = match peer.requirement {
                Requirement::Python(packages) => packages.iter().map(field).collect(),
                Requirement::Nginx => Vec::new(),
            };
            names.extend(peer.database.as_ref().map(field));
            names
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Every peer's [`PeerDef::readiness`], in [`all`]'s order, found with one Python process
/// for all of them instead of one each: what a page that lists every peer asks (the
/// dashboard's New run form), where a dozen interpreters would keep it waiting.
pub fn readiness_of_all() -> Vec<(&'static PeerDef, Result<(), String>)> {
    let imports = python_packages(|p| p.import);
    // Each module imported on its own, its failure's last line kept: {module: error}.
    let script = format!(
        "import importlib, json\n\
         failed = {{}}\n\
         for name in {imports:?}:\n\
         \x20   try:\n\
         \x20       importlib.import_module(name)\n\
         \x20   except Exception as err:\n\
         \x20       failed[name] = '%s: %s' % (type(err).__name__, err)\n\
         print(json.dumps(failed))"
    );
    let failed: Option<BTreeMap<String, String>> = venv_python()
        .is_file()
        .then(|| {
            Command::new(venv_python())
                .args(["-c", &script])
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
        })
        .flatten()
        .filter(|output| output.status.success())
        .and_then(|output| serde_json::from_slice(&output.stdout).ok());
    all()
        .iter()
        .map(|peer| {
            let readiness = match (peer.requirement, &failed) {
                // Files and nginx are cheap to check; no interpreter or no answer from it: ask
                // the peer itself, which says why.
                (Requirement::Nginx, _) | (_, None) => peer.readiness(),
                (Requirement::Python(packages), Some(failed)) => peer
                    .files_present()
                    .and_then(|()| python_fits(peer))
                    .and_then(
                        |()| match packages.iter().find_map(|p| failed.get(p.import)) {
                            None => Ok(()),
                            Some(why) => Err(not_importable(packages, why)),
                        },
                    ),
            };
            (peer, readiness)
        })
        .collect()
}

/// Whether the peers' environment runs a Python the peer's packages support, or why not.
fn python_fits(peer: &PeerDef) -> Result<(), String> {
    match venv_python_version().and_then(|version| peer.python_problem(version)) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Why a peer's packages cannot be imported, and what to do about it.
fn not_importable(packages: &'static [Package], why: &str) -> String {
    let names: Vec<&str> = packages.iter().map(|p| p.dist).collect();
    format!(
        "{} not importable ({why}): run `{}`",
        names.join(", "),
        Requirement::Python(packages).install_command()
    )
}

/// Starting a peer: what the runner adds to the registry's [`PeerDef`] (a trait, since the
/// definition lives in `wb-model`, which starts nothing).
pub trait PeerLaunch {
    /// Whether the peer's own files are in [`peers_dir`], or which one is missing.
    fn files_present(&self) -> Result<(), String>;
    /// `Ok` when the peer can be started, or why not, with what to do about it.
    fn readiness(&self) -> Result<(), String>;
    /// The process to spawn for this peer listening on 127.0.0.1:`port`, with the sources in
    /// `peers_dir`. Port 0 lets every peer but nginx pick a free port and announce it; nginx
    /// needs a real port ([`free_port`]). For nginx this also writes its configuration into a
    /// fresh private folder under the system's temp folder (removed when
    /// [`PeerCommand::run_dir`] is dropped: [`ServerProcess`] does it when the peer stops).
    ///
    /// The command has stdin null and stdout piped (the ready line; null for nginx), inherits
    /// stderr (the peer's warnings), and runs in a process group of its own.
    fn command(&self, peers_dir: &Path, port: u16) -> io::Result<PeerCommand>;
    /// Starts the peer on 127.0.0.1:`port` (0: any free port) and waits until it is ready, as
    /// the [module docs](self) describe. With `cpu` set, the peer and every process and thread
    /// it creates may run only on that CPU.
    fn spawn(&self, port: u16, cpu: Option<usize>) -> io::Result<ServerProcess> {
        self.spawn_with_database(port, cpu, None)
    }
    /// [`spawn`](PeerLaunch::spawn), with the database `/db` and `/queries` read: its libpq
    /// connection string in `$WORKBENCH_DATABASE` (what engines get as `--db-url`), or, with
    /// `None`, that variable removed, so those routes answer `503`.
    fn spawn_with_database(
        &self,
        port: u16,
        cpu: Option<usize>,
        database: Option<&str>,
    ) -> io::Result<ServerProcess>;
    /// One attempt of [`spawn_with_database`](PeerLaunch::spawn_with_database) (which retries
    /// a port taken meanwhile).
    fn spawn_once(
        &self,
        port: u16,
        cpu: Option<usize>,
        database: Option<&str>,
    ) -> io::Result<ServerProcess>;
    /// Whether the peer's database driver ([`PeerDef::database`]) can be imported, or why not
    /// (a peer without one: why it serves no database workload).
    fn database_readiness(&self) -> Result<(), String>;
}

impl PeerLaunch for PeerDef {
    /// Whether the peer's own files are in [`peers_dir`], or which one is missing.
    fn files_present(&self) -> Result<(), String> {
        let dir = peers_dir();
        match self.launch {
            Launch::Script(script, _) => require_file(&dir.join(script)),
            Launch::Gunicorn { app, .. } => {
                require_file(&dir.join("gunicorn_conf.py"))?;
                require_file(&dir.join(app_file(app)))
            }
            Launch::Nginx => require_file(&dir.join("nginx.conf")),
        }
    }

    /// `Ok` when the peer can be started, or why not, with what to do about it.
    fn readiness(&self) -> Result<(), String> {
        self.files_present()?;
        match self.requirement {
            Requirement::Nginx => match nginx_binary() {
                Some(_) => Ok(()),
                None => Err(format!("nginx is not installed: {NGINX_HINT}")),
            },
            Requirement::Python(packages) => {
                let python = venv_python();
                if !python.is_file() {
                    return Err(format!(
                        "the peers' Python environment {} is missing: run `workbench peers install`",
                        venv_dir().display()
                    ));
                }
                python_fits(self)?;
                if packages.is_empty() {
                    return Ok(());
                }
                let imports: Vec<&str> = packages.iter().map(|p| p.import).collect();
                match import_error(&python, &imports.join(", "))? {
                    None => Ok(()),
                    Some(last) => Err(not_importable(packages, &last)),
                }
            }
        }
    }

    fn database_readiness(&self) -> Result<(), String> {
        let Some(driver) = self.database else {
            return Err(format!("{} has no database client", self.name));
        };
        match import_error(&venv_python(), driver.import)? {
            None => Ok(()),
            Some(last) => Err(format!(
                "{}'s database driver {} is not importable ({last}): run `workbench peers install`",
                self.name, driver.dist
            )),
        }
    }

    /// The process to spawn for this peer listening on 127.0.0.1:`port`, with the sources in
    /// `peers_dir`. Port 0 lets every peer but nginx pick a free port and announce it; nginx
    /// needs a real port ([`free_port`]). For nginx this also writes its configuration into a
    /// fresh private folder under the system's temp folder (removed when
    /// [`PeerCommand::run_dir`] is dropped: [`ServerProcess`] does it when the peer stops).
    ///
    /// The command has stdin null and stdout piped (the ready line; null for nginx), inherits
    /// stderr (the peer's warnings), and runs in a process group of its own.
    fn command(&self, peers_dir: &Path, port: u16) -> io::Result<PeerCommand> {
        let mut run_dir = None;
        let mut command = match self.launch {
            Launch::Script(script, args) => {
                let mut command = Command::new(venv_python());
                command
                    .arg(peers_dir.join(script))
                    .args(args)
                    .args(["--port", &port.to_string()]);
                command
            }
            Launch::Gunicorn { worker_class, app } => {
                let n = gunicorn_concurrency().to_string();
                // gthread: one process, the rule's threads; every other class (sync, uvicorn's
                // workers): the rule's processes, as the pool engine.
                let (workers, threads) = match worker_class {
                    "gthread" => ("1", n.as_str()),
                    _ => (n.as_str(), "1"),
                };
                let mut command = Command::new(venv_python());
                command
                    .args(["-m", "gunicorn", "--config"])
                    .arg(peers_dir.join("gunicorn_conf.py"))
                    .arg("--chdir")
                    .arg(peers_dir)
                    .args(["--worker-class", worker_class])
                    .args(["--workers", workers, "--threads", threads])
                    .args(["--name", self.name])
                    .args(["--bind", &format!("127.0.0.1:{port}")])
                    .arg(app);
                command
            }
            Launch::Nginx => {
                if port == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "nginx cannot listen on port 0: pick one with peers::free_port()",
                    ));
                }
                let nginx = nginx_binary().ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("nginx is not installed: {NGINX_HINT}"),
                    )
                })?;
                let template = std::fs::read_to_string(peers_dir.join("nginx.conf"))?;
                let dir = run_dir.insert(nginx_run_dir(port)?).path();
                let run_dir_text = dir.to_str().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "temp folder is not UTF-8")
                })?;
                let config = template
                    .replace("{{PORT}}", &port.to_string())
                    .replace("{{RUN_DIR}}", run_dir_text);
                let config_path = dir.join("nginx.conf");
                // A new file in our own 0700 folder: nobody else can have put a link here.
                std::fs::write(&config_path, config)?;
                let mut command = Command::new(nginx);
                command
                    .arg("-p")
                    .arg(dir)
                    .arg("-c")
                    .arg(&config_path)
                    .args(["-e", "stderr"]);
                command
            }
        };
        command
            // Keep __pycache__ folders out of the repository's peers/.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(match self.ready {
                ReadySignal::Line => Stdio::piped(),
                ReadySignal::Port => Stdio::null(),
            })
            .stderr(Stdio::inherit())
            .process_group(0);
        Ok(PeerCommand { command, run_dir })
    }

    /// Starts the peer on 127.0.0.1:`port` (0: any free port) and waits until it is ready, as
    /// the [module docs](self) describe. With `cpu` set, the peer and every process and thread
    /// it creates may run only on that CPU.
    fn spawn_with_database(
        &self,
        port: u16,
        cpu: Option<usize>,
        database: Option<&str>,
    ) -> io::Result<ServerProcess> {
        // nginx binds a port we pick; another process may take it first, so try a few.
        let attempts = if port == 0 && self.ready == ReadySignal::Port {
            3
        } else {
            1
        };
        let mut last_error = None;
        for _ in 0..attempts {
            let port = match (port, self.ready) {
                (0, ReadySignal::Port) => free_port()?,
                _ => port,
            };
            match self.spawn_once(port, cpu, database) {
                Ok(process) => return Ok(process),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn spawn_once(
        &self,
        port: u16,
        cpu: Option<usize>,
        database: Option<&str>,
    ) -> io::Result<ServerProcess> {
        let PeerCommand {
            mut command,
            run_dir,
        } = self.command(&peers_dir(), port)?;
        match database {
            Some(conninfo) => command.env(DATABASE_ENV, conninfo),
            None => command.env_remove(DATABASE_ENV),
        };
        let options = ServerOptions {
            kind: "peer",
            name: self.name,
            readiness: match self.ready {
                ReadySignal::Line => Readiness::Line,
                ReadySignal::Port => Readiness::Port(SocketAddr::from(([127, 0, 0, 1], port))),
            },
            run_dir,
        };
        ServerProcess::start(command, cpu, options)
    }
}

/// The variable that hands a peer the database's libpq connection string (the engines read
/// the same one behind `--db-url`).
pub const DATABASE_ENV: &str = "WORKBENCH_DATABASE";

/// The file of a gunicorn application `module:callable`: `module.py`.
fn app_file(app: &str) -> String {
    format!("{}.py", app.split(':').next().unwrap_or(app))
}

fn require_file(path: &Path) -> Result<(), String> {
    if path.is_file() {
        Ok(())
    } else {
        Err(format!(
            "{} not found: set WORKBENCH_PEERS_DIR to the repository's peers/ folder",
            path.display()
        ))
    }
}

/// The versions of everything the peers run on: `python` and each package in the peers'
/// environment (absent when not installed), and `nginx`.
pub fn versions() -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    let dists = python_packages(|p| p.dist);
    let script = format!(
        "import importlib.metadata as m, json, platform\n\
         found = {{'python': platform.python_version()}}\n\
         for name in {dists:?}:\n\
         \x20   try:\n\
         \x20       found[name] = m.version(name)\n\
         \x20   except m.PackageNotFoundError:\n\
         \x20       pass\n\
         print(json.dumps(found))"
    );
    let found = Command::new(venv_python())
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| serde_json::from_slice::<BTreeMap<String, String>>(&output.stdout).ok());
    versions.extend(found.unwrap_or_default());
    let nginx = nginx_binary().and_then(|nginx| {
        Command::new(nginx)
            .arg("-v")
            .stdin(Stdio::null())
            .output()
            .ok()
    });
    if let Some(output) = nginx {
        // nginx -v writes "nginx version: nginx/1.22.1" to stderr.
        let text = String::from_utf8_lossy(&output.stderr);
        if let Some(version) = text.trim().rsplit('/').next().filter(|v| !v.is_empty()) {
            versions.insert("nginx".into(), version.to_string());
        }
    }
    versions
}

/// Imports `modules` (comma-separated) in the peers' Python: `None` when they import, else the
/// last line of Python's error.
fn import_error(python: &Path, modules: &str) -> Result<Option<String>, String> {
    let output = Command::new(python)
        .args(["-c", &format!("import {modules}")])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run {}: {err}", python.display()))?;
    Ok((!output.status.success()).then(|| {
        let why = String::from_utf8_lossy(&output.stderr);
        why.lines().last().unwrap_or("import failed").to_string()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peers_sources_are_where_the_registry_says() {
        let dir = peers_dir();
        for peer in all() {
            let file = match peer.launch {
                Launch::Script(script, _) => script,
                Launch::Gunicorn { .. } => "gunicorn_conf.py",
                Launch::Nginx => "nginx.conf",
            };
            assert!(dir.join(file).is_file(), "{}: {file}", peer.name);
        }
        let pinned = std::fs::read_to_string(dir.join("requirements.txt")).unwrap();
        for peer in all() {
            if let Requirement::Python(packages) = peer.requirement {
                for package in packages {
                    assert!(
                        pinned
                            .lines()
                            .any(|l| l.to_lowercase().starts_with(&format!("{}==", package.dist))),
                        "{} is not pinned",
                        package.dist
                    );
                }
            }
        }
    }

    #[test]
    fn an_interoperability_variant_is_its_peer_on_another_loop() {
        let args = |name: &str| -> Vec<String> {
            let command = find(name)
                .unwrap()
                .command(Path::new("/p"), 0)
                .unwrap()
                .command;
            command
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            args("twisted-uvloop"),
            ["/p/twisted_peer.py", "--reactor", "uvloop", "--port", "0"]
        );
        assert_eq!(
            args("twisted-asyncio"),
            ["/p/twisted_peer.py", "--reactor", "asyncio", "--port", "0"]
        );
        assert_eq!(
            args("asyncio-uvloop"),
            ["/p/asyncio_peer.py", "--loop", "uvloop", "--port", "0"]
        );
        for name in ["twisted-asyncio", "twisted-uvloop", "asyncio-uvloop"] {
            assert_eq!(
                find(name).unwrap().family,
                wb_model::engines::Family::EventLoop,
                "{name}"
            );
        }
    }

    #[test]
    fn the_batched_readiness_agrees_with_each_peers_own() {
        // Whatever is installed here: both ways must say ready, or both say why not.
        for (peer, batched) in readiness_of_all() {
            assert_eq!(batched.is_ok(), peer.readiness().is_ok(), "{}", peer.name);
            if let Err(why) = batched {
                assert!(why.contains("install"), "{}: {why}", peer.name);
            }
        }
    }

    #[test]
    fn nginx_needs_a_real_port() {
        let nginx = find("nginx").unwrap();
        let err = nginx.command(&peers_dir(), 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_python_peer_command_names_its_script_and_port() {
        let command = find("asyncio")
            .unwrap()
            .command(Path::new("/p"), 8080)
            .unwrap()
            .command;
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(args, ["/p/asyncio_peer.py", "--port", "8080"]);
        assert_eq!(command.get_program(), venv_python());
    }
}
