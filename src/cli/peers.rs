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

/// What pip and a virtual environment bring themselves: never removed as "no longer pinned".
const PIP_OWN: &[&str] = &["pip", "setuptools", "wheel", "distribute"];

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
    let version = python_version(python)?;
    let min_python = peers::min_python();
    if version < min_python {
        bail!(
            "{} is Python {}.{}; the peers need {}.{} or newer (--python picks another)",
            python.display(),
            version.0,
            version.1,
            min_python.0,
            min_python.1
        );
    }
    // An environment made by another Python (or whose Python is gone: its link is broken) is
    // rebuilt: compiled packages (uvloop, gevent, httptools) are built for one Python only.
    let made_by = peers::venv_python_version();
    let reusable = venv_python.is_file() && made_by == Some(version);
    if venv.exists() && !reusable {
        let why = match made_by {
            Some((major, minor)) if venv_python.is_file() => {
                format!("it was made by Python {major}.{minor}")
            }
            _ => "its Python is missing".to_string(),
        };
        println!(
            "Rebuilding the peers' Python environment {} ({why}; {} is Python {}.{}).",
            venv.display(),
            python.display(),
            version.0,
            version.1
        );
        // Only ever the workbench's own folder in its own cache.
        if venv.file_name().is_some_and(|n| n == "peers-venv") {
            std::fs::remove_dir_all(&venv)
                .with_context(|| format!("cannot remove {}", venv.display()))?;
        }
    }
    if reusable {
        println!(
            "Python environment: {} (exists, Python {}.{})",
            venv.display(),
            version.0,
            version.1
        );
    } else {
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
        "Installing the lock {} with its hashes (pip's output follows):\n",
        requirements.display()
    );
    let status = Command::new(&venv_python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--require-hashes",
            "-r",
        ])
        .arg(&requirements)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", venv_python.display()))?;
    if !status.success() {
        bail!("pip install failed ({status}); its output above says why");
    }
    remove_unpinned(&venv_python, &requirements)?;
    println!();
    if peers::nginx_binary().is_none() {
        println!("nginx is not installed, so the nginx peer will be skipped: {NGINX_HINT}.\n");
    }
    list();
    Ok(ExitCode::SUCCESS)
}

/// A distribution name as pip compares them (PEP 503): lowercase, runs of `-`, `_` and `.`
/// as one `-`.
fn normalized(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The distributions a lock pins: every `name==version` line.
fn pinned(lock: &str) -> Vec<String> {
    lock.lines()
        .filter_map(|line| line.split_once("=="))
        .map(|(name, _)| name.trim())
        .filter(|name| !name.is_empty() && !name.starts_with(['#', '-', ' ']))
        .map(normalized)
        .collect()
}

/// Uninstalls what the environment holds that the lock no longer pins (a peer dropped, a
/// dependency gone), so that the environment is the lock and nothing else.
fn remove_unpinned(
    venv_python: &std::path::Path,
    lock_file: &std::path::Path,
) -> anyhow::Result<()> {
    let lock = std::fs::read_to_string(lock_file)
        .with_context(|| format!("cannot read {}", lock_file.display()))?;
    let pinned = pinned(&lock);
    let output = Command::new(venv_python)
        .args([
            "-m",
            "pip",
            "list",
            "--disable-pip-version-check",
            "--format=json",
        ])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", venv_python.display()))?;
    #[derive(serde::Deserialize)]
    struct Installed {
        name: String,
    }
    let installed: Vec<Installed> = serde_json::from_slice(&output.stdout)
        .context("pip list --format=json printed something else")?;
    let extra: Vec<String> = installed
        .into_iter()
        .map(|dist| dist.name)
        .filter(|name| {
            let name = normalized(name);
            !pinned.contains(&name) && !PIP_OWN.contains(&name.as_str())
        })
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    println!(
        "\nRemoving what the lock no longer pins: {}",
        extra.join(", ")
    );
    let status = Command::new(venv_python)
        .args([
            "-m",
            "pip",
            "uninstall",
            "--disable-pip-version-check",
            "--yes",
        ])
        .args(&extra)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", venv_python.display()))?;
    if !status.success() {
        bail!("pip uninstall failed ({status}); its output above says why");
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_names_its_pins_as_pip_compares_them() {
        let lock = "# comment\n\nZope.Interface==8.7 \\\n    --hash=sha256:ab\n    # via twisted\nuvicorn-worker==0.4.0 \\\n";
        assert_eq!(pinned(lock), ["zope-interface", "uvicorn-worker"]);
        assert_eq!(normalized("typing_extensions"), "typing-extensions");
        let real = std::fs::read_to_string(peers::requirements_file()).unwrap();
        let names = pinned(&real);
        for dist in [
            "twisted",
            "aiohttp",
            "granian",
            "uvicorn-worker",
            "zope-interface",
        ] {
            assert!(names.iter().any(|n| n == dist), "{dist} is not in the lock");
        }
        assert!(real.contains("--hash=sha256:"), "the lock has no hashes");
    }
}
