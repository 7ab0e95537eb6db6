//! The peers' table: servers this project did not write, as the registry knows them.
//!
//! Each [`PeerDef`] says what a peer is (its name, its model in one line, its [`Family`]), what
//! it needs installed, whether it serves `/work`, how it says it is ready and how it is
//! launched. Starting one is the runner's business (`wb_runner::peers`); this module is the
//! data the registry ([`crate::engines`]), the pages and the judges read.
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
//! # Frameworks as people deploy them
//!
//! The raw peers isolate a loop: each parses with the same small core (`peers/wbcore.py`).
//! Beside them are the frameworks a Python user would choose, each an idiomatic app of its
//! framework that lets it parse and frame: `aiohttp` (on asyncio's loop), `uvicorn` (a bare ASGI
//! app on uvicorn, httptools and uvloop), `starlette` (the same routes as a Starlette app on
//! that uvicorn), `twisted-web` (a `Site` and a `Resource` on the epoll reactor),
//! `tornado-web` (an async `RequestHandler`), `gevent-wsgi` (`gevent.pywsgi`),
//! `gunicorn-uvicorn` (gunicorn's prefork pool of uvicorn loops) and `granian` (the ASGI app on
//! a Rust server). Set against the raw peer on the same loop (twisted and twisted-web; asyncio
//! and aiohttp; uvicorn and starlette) they show what the framework costs.
//!
//! # The database
//!
//! Three peers serve TechEmpower's `/db` and `/queries` ([`PeerDef::database`]), each with its
//! framework's own answer to a database: `asyncio` with an asyncpg pool on its loop, `twisted`
//! with `adbapi`'s thread pool over psycopg (Twisted's `deferToThread`), `gunicorn-sync` with
//! one psycopg connection per worker process, opened after the fork. The runner hands them the
//! database's connection string in `$WORKBENCH_DATABASE` (engines get `--db-url`); without it
//! they answer `503` and say so.
//!
//! # The selector functions
//!
//! `twisted-select` and `twisted-poll` are the `twisted` peer on Twisted's `selectreactor` and
//! `pollreactor`: the same protocol, the kernel interface that waits for readiness alone
//! differing (select's bitmaps of at most 1,024 descriptors, poll's array, epoll's kernel-side
//! interest set).

use std::collections::BTreeMap;
use std::fmt;

use crate::engines::Family;

mod table;

use table::PEERS;

/// One Python distribution a peer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    /// Its name on PyPI, as pinned in `peers/requirements.txt`.
    pub dist: &'static str,
    /// The module the peer imports: importing it is the readiness check.
    pub import: &'static str,
    /// The oldest Python `(major, minor)` the pinned release runs on (its `Requires-Python`).
    pub python: (u32, u32),
}

/// The oldest Python every peer's packages run on: the newest of their [`Package::python`]
/// (Tornado 6.6 and Starlette 1.10 need 3.11). `workbench peers install` refuses older.
pub fn min_python() -> (u32, u32) {
    all()
        .iter()
        .flat_map(|peer| peer.min_python())
        .max()
        .unwrap_or((3, 0))
}

/// What a peer needs installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The peers' Python environment with these packages (none: the standard library only).
    Python(&'static [Package]),
    /// The system's nginx.
    Nginx,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Python([]) => f.write_str("python3 (standard library)"),
            Requirement::Python(packages) => {
                let names: Vec<&str> = packages.iter().map(|p| p.dist).collect();
                write!(f, "python3 + {}", names.join(", "))
            }
            Requirement::Nginx => f.write_str("nginx"),
        }
    }
}

/// How the runner learns that a started peer accepts connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadySignal {
    /// The peer prints the engines' JSON ready line on stdout.
    Line,
    /// The peer prints nothing: poll its port until a TCP connect succeeds.
    Port,
}

/// How a peer's process is launched (the runner turns it into a command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// `<venv python> peers/<script> <args…> --port PORT`: the arguments choose the event loop
    /// of an interoperability variant (`--reactor asyncio`, `--loop uvloop`).
    Script(&'static str, &'static [&'static str]),
    /// `<venv python> -m gunicorn --config peers/gunicorn_conf.py … APP` with this worker
    /// class and this application (`wsgi_app:application`, `asgi_app:bare`). The `gthread`
    /// class runs one worker with the pool's rule of threads, every other class the pool's
    /// rule of worker processes.
    Gunicorn {
        /// `--worker-class`: `sync`, `gthread`, `uvicorn_worker.UvicornWorker`.
        worker_class: &'static str,
        /// The application, as gunicorn takes it: `module:callable` in `peers/`.
        app: &'static str,
    },
    /// `nginx -p RUN_DIR -c RUN_DIR/nginx.conf -e stderr`, from the `peers/nginx.conf` template.
    Nginx,
}

/// One peer: a server we did not write, run on the workbench's routes.
#[derive(Debug)]
pub struct PeerDef {
    /// Its name, as `--engines` and tables show it.
    pub name: &'static str,
    /// Its concurrency model, in one line.
    pub model: &'static str,
    /// Its family in the engine registry: what the lessons hold it to, beside our engines
    /// (asyncio and Twisted are event loops, gunicorn's sync workers a prefork pool).
    pub family: Family,
    /// Its colour on every chart (red, green, blue), apart from the engines' colours.
    pub color: [u8; 3],
    /// What must be installed for it to run.
    pub requirement: Requirement,
    /// Whether it serves `/work` (waits, CPU work, sized bodies); nginx serves `/hello` only.
    pub supports_work: bool,
    /// How the runner knows it is ready.
    pub ready: ReadySignal,
    /// How it is launched.
    pub launch: Launch,
    /// The database driver its `/db` and `/queries` read `World` with (asyncpg for asyncio,
    /// psycopg under Twisted's adbapi and gunicorn's sync workers), given the database by
    /// `$WORKBENCH_DATABASE`; `None`: the peer has no database client, and its database
    /// workloads are "not supported".
    pub database: Option<Package>,
}

/// Every peer, in the order tables show them.
pub fn all() -> &'static [PeerDef] {
    &PEERS
}

/// The peer called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static PeerDef> {
    PEERS.iter().find(|peer| peer.name == name)
}

impl Requirement {
    /// The command that installs what is missing: `workbench peers install` for the Python
    /// peers, the system's package manager for nginx (which the workbench never runs itself).
    pub fn install_command(&self) -> &'static str {
        match self {
            Requirement::Python(_) => "workbench peers install",
            Requirement::Nginx => "apt-get install nginx-light",
        }
    }
}

impl PeerDef {
    /// The oldest Python this peer's packages run on, and the package that needs it; `None`
    /// for a peer without Python packages.
    pub fn min_python(&self) -> Option<(u32, u32)> {
        match self.requirement {
            Requirement::Python(packages) => packages.iter().map(|p| p.python).max(),
            Requirement::Nginx => None,
        }
    }

    /// Why this peer cannot run on Python `version`, naming the package that needs a newer
    /// one and what to do; `None` when it can.
    pub fn python_problem(&self, version: (u32, u32)) -> Option<String> {
        let Requirement::Python(packages) = self.requirement else {
            return None;
        };
        let package = packages
            .iter()
            .filter(|p| p.python > version)
            .max_by_key(|p| p.python)?;
        let (major, minor) = package.python;
        Some(format!(
            "{} needs Python {major}.{minor} or newer, and the peers' environment runs {}.{}: \
             run `workbench peers install --python python{major}.{minor}` (it rebuilds the \
             environment with that Python)",
            package.dist, version.0, version.1
        ))
    }

    /// The versions that matter for this peer, from `wb_runner::peers::versions`: e.g.
    /// `python 3.11.7, twisted 26.10.0`.
    pub fn version_summary(&self, versions: &BTreeMap<String, String>) -> String {
        let names: Vec<&str> = match self.requirement {
            Requirement::Python(packages) => std::iter::once("python")
                .chain(packages.iter().map(|p| p.dist))
                .chain(self.database.map(|p| p.dist))
                .collect(),
            Requirement::Nginx => vec!["nginx"],
        };
        names
            .iter()
            .filter_map(|name| versions.get(*name).map(|v| format!("{name} {v}")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for peer in all() {
            assert_eq!(find(peer.name).map(|p| p.name), Some(peer.name));
        }
        let mut names: Vec<&str> = all().iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all().len());
        assert!(find("apache").is_none());
    }

    #[test]
    fn a_peer_says_which_package_needs_a_newer_python() {
        let tornado = find("tornado").unwrap();
        assert_eq!(tornado.python_problem((3, 11)), None);
        let why = tornado.python_problem((3, 10)).unwrap();
        assert!(why.contains("tornado needs Python 3.11"), "{why}");
        assert!(why.contains("--python python3.11"), "{why}");
        assert_eq!(find("asyncio").unwrap().python_problem((3, 7)), None);
        assert_eq!(find("nginx").unwrap().python_problem((2, 7)), None);
        assert!(min_python() >= (3, 11));
    }
}
