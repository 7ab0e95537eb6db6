//! `workbench peers`: install the peers and show which are ready.
//!
//! Peers are servers this project did not write, serving the workbench's routes (see
//! `wb_runner::peers` and the repository's `peers/` folder). `install` creates their Python
//! virtual environment in the workbench's cache folder and pip-installs the pinned
//! `peers/requirements.txt` into it; nginx comes from the system's packages, which this command
//! never installs (it says how). `list` shows each peer, ready or not and why, with versions.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use wb_runner::peers::{self, NGINX_HINT, PeerLaunch as _, Requirement};

/// The oldest Python the pinned peers run on: Tornado 6.6 needs 3.11 (Twisted 26, 3.10); the
/// pins in requirements.txt are chosen on 3.11.
const MIN_PYTHON: (u32, u32) = (3, 11);

#[derive(Debug, Args)]
pub struct PeersArgs {
    #[command(subcommand)]
    command: PeersCommand,
}

#[derive(Debug, Subcommand)]
enum PeersCommand {
    /// Create the peers' Python environment in the cache folder and install the pinned
    /// packages of peers/requirements.txt into it (pip's own output shows the progress).
    Install {
        /// The Python interpreter that creates the environment.
        #[arg(long, value_name = "PATH", default_value = "python3")]
        python: PathBuf,
    },
    /// Show every peer: ready or not (and why), its model and the versions it runs on.
    List {
        /// Print the list as one JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// What `workbench peers list --json` prints. Field names are stable: fields may be added,
/// never renamed or removed (the API's promise, `/api`).
#[derive(Debug, Serialize)]
pub struct PeersDocument {
    /// The API's version ([`wb_web::API_VERSION`]): it changes only if that promise is broken.
    pub api_version: u32,
    /// Where the peers' sources are read from (`WORKBENCH_PEERS_DIR` changes it).
    pub peers_dir: PathBuf,
    /// The peers' Python environment, made by `workbench peers install`.
    pub venv: PathBuf,
    /// The version of everything the peers run on, found now: `python`, each installed
    /// package by its PyPI name, `nginx`. What is not installed is absent.
    pub versions: BTreeMap<String, String>,
    /// Every peer, in the registry's order.
    pub peers: Vec<PeerEntry>,
}

/// One peer, as `peers list` shows it.
#[derive(Debug, Serialize)]
pub struct PeerEntry {
    /// Its name, as `workbench run --peers` takes it.
    pub name: &'static str,
    /// Its concurrency model, in a sentence.
    pub model: &'static str,
    /// Whether it can be measured now.
    pub ready: bool,
    /// Why not, and how to fix it; `null` when ready.
    pub why_not: Option<String>,
    /// Whether it serves `/work` (nginx serves `/hello` only: `/work` workloads are "not
    /// supported" for it, not failed).
    pub supports_work: bool,
    /// The versions that matter for it, as text: `python 3.11.7, twisted 24.11.0`.
    pub versions: String,
}

pub fn run(args: PeersArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PeersCommand::Install { python } => install(&python),
        PeersCommand::List { json: false } => {
            list();
            Ok(ExitCode::SUCCESS)
        }
        PeersCommand::List { json: true } => {
            println!("{}", serde_json::to_string_pretty(&document())?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn install(python: &std::path::Path) -> anyhow::Result<ExitCode> {
    let requirements = peers::requirements_file();
    if !requirements.is_file() {
        bail!(
            "{} not found: set WORKBENCH_PEERS_DIR to the repository's peers/ folder",
            requirements.display()
        );
    }
    let venv = peers::venv_dir();
    let venv_python = peers::venv_python();
    if venv_python.is_file() {
        println!("Python environment: {} (exists)", venv.display());
    } else {
        let version = python_version(python)?;
        if version < MIN_PYTHON {
            bail!(
                "{} is Python {}.{}; the peers need {}.{} or newer (--python picks another)",
                python.display(),
                version.0,
                version.1,
                MIN_PYTHON.0,
                MIN_PYTHON.1
            );
        }
        println!(
            "Creating the peers' Python environment with {} (Python {}.{}): {}",
            python.display(),
            version.0,
            version.1,
            venv.display()
        );
        std::fs::create_dir_all(peers::cache_dir())
            .with_context(|| format!("cannot create {}", peers::cache_dir().display()))?;
        let status = Command::new(python)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .with_context(|| format!("cannot run {}", python.display()))?;
        if !status.success() {
            bail!(
                "`{} -m venv` failed ({status}); on Debian, `apt-get install python3-venv` provides it",
                python.display()
            );
        }
    }

    println!(
        "Installing the pinned packages of {} (pip's output follows):\n",
        requirements.display()
    );
    let status = Command::new(&venv_python)
        .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", venv_python.display()))?;
    if !status.success() {
        bail!("pip install failed ({status}); its output above says why");
    }
    println!();
    if peers::nginx_binary().is_none() {
        println!("nginx is not installed, so the nginx peer will be skipped: {NGINX_HINT}.\n");
    }
    list();
    Ok(ExitCode::SUCCESS)
}

/// `(major, minor)` of a Python interpreter.
fn python_version(python: &std::path::Path) -> anyhow::Result<(u32, u32)> {
    let output = Command::new(python)
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (install python3, or pass --python)",
                python.display()
            )
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.split_whitespace().map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Ok((major, minor)),
        _ => bail!("cannot tell the version of {}", python.display()),
    }
}

/// The peers as [`PeersDocument`].
fn document() -> PeersDocument {
    let versions = peers::versions();
    PeersDocument {
        api_version: wb_web::API_VERSION,
        peers_dir: peers::peers_dir(),
        venv: peers::venv_dir(),
        peers: peers::all()
            .iter()
            .map(|peer| {
                let why_not = peer.readiness().err();
                PeerEntry {
                    name: peer.name,
                    model: peer.model,
                    ready: why_not.is_none(),
                    why_not,
                    supports_work: peer.supports_work,
                    versions: peer.version_summary(&versions),
                }
            })
            .collect(),
        versions,
    }
}

fn list() {
    let versions = peers::versions();
    println!("Peers: servers we did not write, serving the workbench's routes.");
    println!(
        "Sources {}; Python environment {}.\n",
        peers::peers_dir().display(),
        peers::venv_dir().display()
    );
    println!(
        "{:<18} {:<10} {:<6} versions / why not",
        "peer", "status", "/work"
    );
    let mut missing_nginx = false;
    for peer in peers::all() {
        let work = if peer.supports_work { "yes" } else { "no" };
        match peer.readiness() {
            Ok(()) => println!(
                "{:<18} {:<10} {:<6} {}",
                peer.name,
                "ready",
                work,
                peer.version_summary(&versions)
            ),
            Err(why) => {
                missing_nginx |= peer.requirement == Requirement::Nginx;
                println!("{:<18} {:<10} {:<6} {why}", peer.name, "not ready", work);
            }
        }
        println!("{:<18} {}", "", peer.model);
    }
    if missing_nginx {
        println!("\nnginx: {NGINX_HINT}.");
    }
}
