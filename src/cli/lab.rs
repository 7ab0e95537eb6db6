//! `workbench lab up|down [--hosts N]`: several "machines" on one machine, made of Linux
//! network namespaces, so that the multi-host path (`workbench run --engine-host …
//! --load-hosts …`) runs and is tested without a second computer.
//!
//! `up` builds this, with `ip` (iproute2):
//!
//! ```text
//!            root namespace: bridge wb-br0, 198.18.0.1/24
//!           /                  |                       \
//!   veth wbv-server      veth wbv-load1     …     veth wbv-loadN
//!        |                     |                        |
//!   netns wb-server       netns wb-load1          netns wb-loadN
//!   198.18.0.10/24        198.18.0.11/24          198.18.0.(10+N)/24
//! ```
//!
//! Each namespace has its own loopback (brought up) and one end of a veth pair named
//! `wbp-NAME` inside it; the other end, `wbv-NAME`, is a port of the bridge `wb-br0` in the root
//! namespace. A host is then the command prefix `ip netns exec wb-load1`: a process started
//! through it has that namespace's network (its own addresses, ports and sockets) and sees
//! the same files, so the same `workbench` binary runs there.
//!
//! The addresses come from 198.18.0.0/15, which RFC 2544 sets aside for benchmarking
//! networks: nothing a lab sends can ever reach a real network, and nothing here routes out of
//! the bridge.
//!
//! **What a namespace does not separate**: the CPUs, the memory and the kernel are still the
//! one machine's. The engine and the load generators still compete for the same cores (this
//! project's machines have two), so a lab run tests the multi-host *path* — ready lines over a
//! prefix, split levels, merged histograms, lost hosts — not the speed two real machines would
//! have. A CPU set per namespace would need a cgroup per namespace; the lab makes none.
//!
//! `up` is idempotent (what exists is kept, what is missing is made) and `down` removes every
//! `wb-server`/`wb-loadN` namespace and the bridge, whatever `--hosts` made them. Both need
//! root (`CAP_NET_ADMIN`), and say so otherwise.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::quiet;

/// The bridge in the root namespace that links every lab host.
pub const BRIDGE: &str = "wb-br0";
/// The engine's namespace.
pub const SERVER_NS: &str = "wb-server";
/// The bridge's own address, with its prefix length.
const BRIDGE_ADDR: &str = "198.18.0.1/24";
/// The first three octets of every lab address (in 198.18.0.0/15, RFC 2544's benchmark range).
const NET: &str = "198.18.0";
/// The engine host's last octet: 198.18.0.10.
const SERVER_OCTET: u16 = 10;
/// Most load hosts a lab may have: their addresses must stay inside the /24.
pub const MAX_HOSTS: u16 = 200;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sudo workbench lab up --hosts 2
  sudo workbench run --engine-host 'ip netns exec wb-server' \\
       --load-hosts 'ip netns exec wb-load1,ip netns exec wb-load2' --engines selector --workloads hello
  sudo workbench lab down")]
pub struct LabArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create (or complete) the lab: namespaces wb-server and wb-load1..N on bridge wb-br0.
    Up {
        /// Load hosts to make, 1 to 200.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=MAX_HOSTS as i64))]
        hosts: u16,
    },
    /// Remove every lab namespace and the bridge.
    Down,
}

/// The server namespace's address, where a lab engine listens: `198.18.0.10`.
pub fn server_ip() -> String {
    format!("{NET}.{SERVER_OCTET}")
}

pub fn run(args: LabArgs) -> anyhow::Result<ExitCode> {
    require_root()?;
    match args.action {
        Action::Up { hosts } => up(hosts)?,
        Action::Down => down()?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses, with the fix, unless this process is root.
fn require_root() -> anyhow::Result<()> {
    if wb_sys::process::effective_uid() != 0 {
        bail!(
            "the lab creates network namespaces, veth pairs and a bridge, which needs root \
             (CAP_NET_ADMIN); run it as root, e.g. `sudo workbench lab up`"
        );
    }
    Ok(())
}

/// One lab host: its namespace, veth names and address.
struct Host {
    ns: String,
    /// The veth end on the bridge, in the root namespace.
    outer: String,
    /// The veth end inside the namespace.
    inner: String,
    /// Its address with prefix length.
    addr: String,
}

impl Host {
    fn new(name: &str, octet: u16) -> Host {
        Host {
            ns: format!("wb-{name}"),
            outer: format!("wbv-{name}"),
            inner: format!("wbp-{name}"),
            addr: format!("{NET}.{octet}/24"),
        }
    }
}

fn hosts(n: u16) -> Vec<Host> {
    let mut all = vec![Host::new("server", SERVER_OCTET)];
    all.extend((1..=n).map(|k| Host::new(&format!("load{k}"), SERVER_OCTET + k)));
    all
}

fn up(n: u16) -> anyhow::Result<()> {
    if !link_exists(None, BRIDGE)? {
        ip(None, &["link", "add", BRIDGE, "type", "bridge"])?;
    }
    if !has_addr(None, BRIDGE, BRIDGE_ADDR)? {
        ip(None, &["addr", "add", BRIDGE_ADDR, "dev", BRIDGE])?;
    }
    ip(None, &["link", "set", BRIDGE, "up"])?;
    let existing = namespaces()?;
    for host in hosts(n) {
        if !existing.contains(&host.ns) {
            ip(None, &["netns", "add", &host.ns])?;
        }
        if !link_exists(Some(&host.ns), &host.inner)? {
            // A half-made pair from an interrupted `up`: start it again.
            if link_exists(None, &host.outer)? {
                ip(None, &["link", "del", &host.outer])?;
            }
            ip(
                None,
                &[
                    "link",
                    "add",
                    &host.outer,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &host.inner,
                ],
            )?;
            ip(None, &["link", "set", &host.inner, "netns", &host.ns])?;
        }
        ip(None, &["link", "set", &host.outer, "master", BRIDGE])?;
        ip(None, &["link", "set", &host.outer, "up"])?;
        let ns = Some(host.ns.as_str());
        ip(ns, &["link", "set", "lo", "up"])?;
        if !has_addr(ns, &host.inner, &host.addr)? {
            ip(ns, &["addr", "add", &host.addr, "dev", &host.inner])?;
        }
        ip(ns, &["link", "set", &host.inner, "up"])?;
        if !quiet() {
            eprintln!(
                "{}: {} (prefix: ip netns exec {})",
                host.ns, host.addr, host.ns
            );
        }
    }
    if !quiet() {
        eprintln!(
            "Lab up: bridge {BRIDGE} {BRIDGE_ADDR}; an engine in {SERVER_NS} listens on {}:PORT. \
             The namespaces share this machine's CPUs.",
            server_ip()
        );
    }
    Ok(())
}

fn down() -> anyhow::Result<()> {
    let mut removed = 0;
    for ns in namespaces()? {
        if is_lab_namespace(&ns) {
            ip(None, &["netns", "del", &ns])?;
            removed += 1;
        }
    }
    // Deleting a namespace deletes the veth end inside it, and so its peer on the bridge;
    // an outer end left by an interrupted `up` goes here.
    // The kernel removes those peers a moment after the namespace: one already gone is fine.
    for link in links()? {
        if link.starts_with("wbv-")
            && let Err(err) = ip(None, &["link", "del", &link])
            && link_exists(None, &link)?
        {
            return Err(err);
        }
    }
    if link_exists(None, BRIDGE)? {
        ip(None, &["link", "del", BRIDGE])?;
    }
    if !quiet() {
        eprintln!("Lab down: {removed} namespace(s) and the bridge {BRIDGE} removed.");
    }
    Ok(())
}

/// `wb-server` or `wb-loadN`: the names only the lab makes.
fn is_lab_namespace(name: &str) -> bool {
    name == SERVER_NS
        || name
            .strip_prefix("wb-load")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Runs `ip ARGS` (inside namespace `ns` if given), failing with its stderr.
fn ip(ns: Option<&str>, args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new("ip");
    if let Some(ns) = ns {
        command.args(["netns", "exec", ns, "ip"]);
    }
    command.args(args);
    let shown = format!(
        "ip {}{}",
        ns.map(|ns| format!("netns exec {ns} ip "))
            .unwrap_or_default(),
        args.join(" ")
    );
    let output = command.output().with_context(|| {
        format!("cannot run `{shown}`: is iproute2 installed (the `ip` command)?")
    })?;
    if !output.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The names of the network namespaces (`ip netns list` prints `NAME (id: N)` lines).
fn namespaces() -> anyhow::Result<Vec<String>> {
    Ok(ip(None, &["netns", "list"])?
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// The links of the root namespace (`ip -o link` prints `N: NAME[@PEER]: …`).
fn links() -> anyhow::Result<Vec<String>> {
    Ok(ip(None, &["-o", "link", "show"])?
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect())
}

fn link_exists(ns: Option<&str>, dev: &str) -> anyhow::Result<bool> {
    let mut command = Command::new("ip");
    if let Some(ns) = ns {
        command.args(["netns", "exec", ns, "ip"]);
    }
    let output = command
        .args(["link", "show", "dev", dev])
        .output()
        .context("cannot run `ip`: is iproute2 installed?")?;
    Ok(output.status.success())
}

fn has_addr(ns: Option<&str>, dev: &str, addr: &str) -> anyhow::Result<bool> {
    let text = ip(ns, &["-o", "addr", "show", "dev", dev])?;
    Ok(text.split_whitespace().any(|word| word == addr))
}

/// The hosts of `workbench run --engine-host … --load-hosts …`, checked (the same workbench
/// version on each, facts read), or `None` without those flags: then nothing changes.
pub fn remote_hosts(
    args: &super::run::RunArgs,
    config: &wb_model::results::RunConfig,
) -> anyhow::Result<Option<wb_runner::RemoteHosts>> {
    use wb_runner::hosts::Host;
    let Some(engine) = &args.engine_host else {
        return Ok(None);
    };
    if let Some(peer) = config.engines.iter().find(|e| e.peer) {
        bail!(
            "--peers {}: peers run on this machine only; leave --peers out of a run with \
             --engine-host",
            peer.label
        );
    }
    let engine = Host::parse(engine, &args.remote_bin)?;
    let loads = args
        .load_hosts
        .iter()
        .map(|prefix| Host::parse(prefix, &args.remote_bin))
        .collect::<Result<Vec<_>, _>>()?;
    let addr = match &args.engine_addr {
        Some(addr) => addr.clone(),
        None => engine_addr_of(&engine.name).with_context(|| {
            format!(
                "cannot tell how the load hosts reach {:?}; give --engine-addr HOST",
                engine.name
            )
        })?,
    };
    let version = format!("workbench {}", env!("CARGO_PKG_VERSION"));
    if !quiet() {
        eprintln!(
            "Checking {} host(s) for {version}: engine on {:?} at {addr}, load on {}.",
            loads.len() + 1,
            engine.name,
            loads
                .iter()
                .map(|h| format!("{:?}", h.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let hosts = wb_runner::RemoteHosts::connect(engine, loads, addr, &version)?;
    Ok(Some(hosts))
}

/// How load hosts reach the engine's host, guessed from its prefix: the lab's server
/// namespace is at [`server_ip`]; `ssh [options] [user@]host` is at `host`.
fn engine_addr_of(prefix: &str) -> Option<String> {
    let words = wb_runner::hosts::split_words(prefix)?;
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["ip", "netns", "exec", ns, ..] if *ns == SERVER_NS => Some(server_ip()),
        ["ssh", rest @ ..] => {
            // The destination is the last word that is not an option; options with a value
            // (`-p 22`, `-i key`) come before it, so the last word is the safest guess.
            let last = rest.last().filter(|w| !w.starts_with('-'))?;
            let host = last.rsplit_once('@').map_or(*last, |(_, host)| host);
            Some(host.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_fit_in_an_interface_name_and_in_the_benchmark_range() {
        for host in hosts(MAX_HOSTS) {
            // Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
            assert!(host.outer.len() <= 15, "{}", host.outer);
            assert!(host.inner.len() <= 15, "{}", host.inner);
            let ip: std::net::Ipv4Addr = host.addr.trim_end_matches("/24").parse().unwrap();
            assert_eq!(&ip.octets()[..2], &[198, 18]);
        }
        assert!(is_lab_namespace("wb-load12"));
        assert!(is_lab_namespace("wb-server"));
        assert!(!is_lab_namespace("wb-load"));
        assert!(!is_lab_namespace("wb-loadx"));
        assert!(!is_lab_namespace("other"));
    }

    #[test]
    fn the_engine_address_is_guessed_from_the_prefix() {
        assert_eq!(
            engine_addr_of("ip netns exec wb-server").as_deref(),
            Some("198.18.0.10")
        );
        assert_eq!(
            engine_addr_of("ssh -p 2222 bench@server.lan").as_deref(),
            Some("server.lan")
        );
        assert_eq!(engine_addr_of("ssh box").as_deref(), Some("box"));
        assert_eq!(engine_addr_of("ip netns exec other"), None);
        assert_eq!(engine_addr_of("docker exec c"), None);
    }
}
