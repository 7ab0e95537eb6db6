//! What a run is, as a whole: its configuration (engines, workloads, placement), the machine
//! and hosts it ran on, the speed calibration it made at its start, and how it ended.

use crate::spec::Workload;
use serde::{Deserialize, Serialize};

/// The speed of this machine's CPU kernel, measured at the start of each run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Kernel rounds per microsecond of one core (SHA-256 of 32 bytes each).
    pub rounds_per_us: f64,
    /// Rounds timed to get it.
    pub rounds_timed: u64,
    /// Seconds the timing took.
    pub secs: f64,
}

/// Facts about the machine a run ran on, kept with the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineFacts {
    /// CPU model name (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Cores available to this process.
    pub cores: u64,
    /// Total memory, bytes.
    pub memory_bytes: u64,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// The open-files hard limit (the soft limit is raised to it).
    pub open_files_limit: u64,
    /// `rustc --version` of the toolchain that built the binary, when known.
    pub rustc: String,
    /// The project's git revision, when known.
    pub git_revision: String,
    /// Host name.
    pub hostname: String,
    /// `vm.max_map_count`: memory mappings one process may hold, which caps how many threads
    /// it can start. 0 when unknown (runs stored before it was recorded). Of this machine;
    /// a multi-host run's engine host has its own in [`MachineFacts::hosts`].
    #[serde(default)]
    pub max_map_count: u64,
    /// A multi-host run only: where each side ran (the engine's host first, then every load
    /// host), with each host's CPU model and cores. Empty when everything ran on this machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostFacts>,
}

impl MachineFacts {
    /// `vm.max_map_count` where the engine ran: the engine host's in a multi-host run, this
    /// machine's otherwise; `None` when unknown.
    pub fn engine_max_map_count(&self) -> Option<u64> {
        let engine_host = self.hosts.iter().find(|h| h.role == "engine");
        Some(engine_host.map_or(self.max_map_count, |h| h.max_map_count)).filter(|&n| n > 0)
    }
}

/// One host of a multi-host run, as recorded with the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// `engine` or `load`.
    pub role: String,
    /// The host as given: its command prefix (`ssh bench@server`, `ip netns exec wb-load1`).
    pub host: String,
    /// Its host name.
    pub hostname: String,
    /// Its CPU model.
    pub cpu_model: String,
    /// Its cores available to the workbench.
    pub cores: u64,
    /// Its `vm.max_map_count` (0: unknown).
    #[serde(default)]
    pub max_map_count: u64,
}

/// An engine as the runner starts it: `workbench engine <name> <args…>`, or a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSpec {
    /// The label shown in tables (`coroutines`, `selector-offload`, `asyncio`, …).
    pub label: String,
    /// The engine subcommand, or the peer's name.
    pub engine: String,
    /// Extra flags.
    pub args: Vec<String>,
    /// A server we did not write ([`crate::peers`]), started by its own command.
    #[serde(default)]
    pub peer: bool,
}

impl EngineSpec {
    /// An engine with its default flags, labelled with its name.
    pub fn plain(engine: &str) -> EngineSpec {
        EngineSpec {
            label: engine.to_string(),
            engine: engine.to_string(),
            args: Vec::new(),
            peer: false,
        }
    }

    /// A peer, labelled with its name.
    pub fn peer(name: &str) -> EngineSpec {
        EngineSpec {
            peer: true,
            ..EngineSpec::plain(name)
        }
    }
}

/// What a run was asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The suite, if one was chosen.
    pub suite: Option<String>,
    /// The engines, in order.
    pub engines: Vec<EngineSpec>,
    /// The workloads, in order, with the levels actually used.
    pub workloads: Vec<Workload>,
    /// `--pin`: split placement for every workload (the engine on the lower half of the CPUs,
    /// the load generator on the upper half).
    pub pin: bool,
    /// Versions of the peers' software (Python packages, nginx), when peers take part.
    #[serde(default)]
    pub peer_versions: std::collections::BTreeMap<String, String>,
    /// How many times each step runs, each in a fresh engine process, interleaved across
    /// engines (A B C A B C …). 1 (the default): intervals come from the windows.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Where engine and load generator ran, when the run chose for every workload
    /// (`--placement`); otherwise each workload's own ([`crate::spec::Placement`]).
    #[serde(default)]
    pub placement: Option<crate::spec::Placement>,
}

fn one() -> u32 {
    1
}

impl RunConfig {
    /// Number of steps: for every workload, its engines ([`Workload::engines_in`]: the run's
    /// and its own extra ones) × its levels, × repeats.
    pub fn total_steps(&self) -> usize {
        self.workloads
            .iter()
            .map(|w| w.engines_in(&self.engines).len() * w.levels.len())
            .sum::<usize>()
            * self.repeat.max(1) as usize
    }

    /// Estimated seconds, warm-ups included, engine start-up not.
    pub fn estimated_secs(&self) -> f64 {
        self.repeat.max(1) as f64
            * self
                .workloads
                .iter()
                .map(|w| w.engines_in(&self.engines).len() as f64 * w.duration_secs())
                .sum::<f64>()
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// In progress (or its process died: the next start marks it interrupted).
    Running,
    /// Every step ran (some may have failed; their steps say why).
    Completed,
    /// The run could not go on.
    Failed,
    /// Stopped before the end: Ctrl-C, a cancel, or its process died.
    Interrupted,
}

impl RunStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Parses [`RunStatus::as_str`].
    pub fn parse(text: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Interrupted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}
