//! Workload files: what to send, how, and at which levels — and the suites that group them.
//!
//! A workload is a TOML file (the presets live in `workloads/presets/` and are built into the
//! binary). Every field is checked when the file is read; an error names the file, the field
//! and what is allowed, so a typo never becomes a silently different benchmark.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use wb_protocol::limits::{MAX_BODY_PATTERN_BYTES, MAX_WAIT_MS};

/// How the load generator drives the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// N keep-alive connections; each sends its next request when the last answer arrives.
    /// Levels are connection counts. Latency is from send to answer: a closed loop slows
    /// down with the server, so it says so.
    #[default]
    Closed,
    /// Requests at a constant arrival rate, whatever the server does; latency is measured
    /// from the *intended* send time (coordinated omission corrected). Levels are requests
    /// per second.
    Open,
    /// Open N connections, one request each, then hold them idle while memory is read.
    /// Levels are connection counts.
    Idle,
    /// N clients read a large response at a fixed rate ([`Workload::read_rate`]). Levels are
    /// connection counts.
    SlowReaders,
    /// N clients send a request head one byte at a time ([`Workload::send_interval_ms`])
    /// while a probe client measures `/hello` latency. Levels are slow-client counts.
    SlowSenders,
}

impl Mode {
    /// What a level counts, for tables and axes.
    pub fn level_unit(self) -> &'static str {
        match self {
            Mode::Open => "req/s",
            Mode::SlowSenders => "slow clients",
            _ => "connections",
        }
    }

    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Closed => "closed",
            Mode::Open => "open",
            Mode::Idle => "idle",
            Mode::SlowReaders => "slow-readers",
            Mode::SlowSenders => "slow-senders",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which route each request asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// `GET /hello`.
    #[default]
    Hello,
    /// `GET /work?wait_ms=…&cpu_rounds=…&bytes=…`.
    Work,
    /// `GET /count?wait_ms=…`: read the server's shared counter, wait, write it back plus
    /// one. The runner reads `GET /count` before and after each step: lost updates are the
    /// answers the counter did not grow by ([`crate::results::StepResult::lost_updates`]).
    Count,
    /// `GET /db`: one random row of the database's `World` table (TechEmpower's single
    /// query), fetched by the engine with its model's client and pool.
    Db,
    /// `GET /queries?n=…`: `queries` rows, one query each (TechEmpower's multiple queries).
    Queries,
}

impl Route {
    /// Whether the route reads the workbench's PostgreSQL (`/db`, `/queries`).
    pub fn needs_database(self) -> bool {
        matches!(self, Route::Db | Route::Queries)
    }
}

/// The request every connection of a workload sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// `hello`, `work` or `count`.
    #[serde(default)]
    pub route: Route,
    /// The "database" wait, in milliseconds (`work` and `count`).
    #[serde(default)]
    pub wait_ms: u64,
    /// CPU work, in microseconds of this machine's CPU; the runner turns it into kernel
    /// rounds with the calibration it makes at the start of each run (`work` only).
    #[serde(default)]
    pub cpu_us: u64,
    /// Body bytes of the answer (`work` only).
    #[serde(default)]
    pub bytes: u64,
    /// Rows per request (`queries` only): 1 to 500, one database query each.
    #[serde(default)]
    pub queries: u64,
}

impl RequestSpec {
    /// The request target, with CPU time converted to rounds (`rounds_per_us` from the
    /// calibration).
    pub fn target(&self, rounds_per_us: f64) -> String {
        match self.route {
            Route::Hello => "/hello".to_string(),
            Route::Work => format!(
                "/work?wait_ms={}&cpu_rounds={}&bytes={}",
                self.wait_ms,
                self.cpu_rounds(rounds_per_us),
                self.bytes
            ),
            Route::Count => format!("/count?wait_ms={}", self.wait_ms),
            Route::Db => "/db".to_string(),
            Route::Queries => format!("/queries?n={}", self.queries),
        }
    }

    /// Kernel rounds for [`RequestSpec::cpu_us`] at the calibrated speed.
    pub fn cpu_rounds(&self, rounds_per_us: f64) -> u64 {
        (self.cpu_us as f64 * rounds_per_us).round() as u64
    }
}

/// One workload: a request, a mode and the levels to step through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Short name, used on the command line (`hello`, `db-wait`, …).
    pub name: String,
    /// What the workload shows, in a sentence or two, for people reading a report.
    pub description: String,
    /// How the load is applied.
    pub mode: Mode,
    /// The levels, ascending: connections (or requests per second for `open`).
    pub levels: Vec<u64>,
    /// The request.
    #[serde(default)]
    pub request: RequestSpec,
    /// Seconds measured at each level.
    #[serde(default = "default_step_secs")]
    pub step_secs: f64,
    /// Seconds of load before measuring at each level (connections open, caches warm).
    #[serde(default = "default_warmup_secs")]
    pub warmup_secs: f64,
    /// `open` only: most connections the generator may open to keep up with the rate.
    #[serde(default)]
    pub max_connections: Option<u64>,
    /// `slow-readers` only: bytes per second each client reads.
    #[serde(default)]
    pub read_rate: Option<u64>,
    /// `slow-senders` only: milliseconds between two bytes of a slow client's head.
    #[serde(default)]
    pub send_interval_ms: Option<u64>,
    /// `idle` only: this many further connections run a closed loop of the request while the
    /// level's connections are held idle; the step's answers, latency and CPU per request are
    /// theirs (the `idle-hello` workload: what idle connections cost the busy ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_connections: Option<u64>,
    /// Where the engine and the load generator run: `split` (the default) or `shared`.
    #[serde(default)]
    pub placement: Placement,
    /// Engines this workload runs on besides the run's own, for this workload only: a
    /// suite's `engines = ["threads:stack-size=32KiB"]` sweeps a parameter where a lesson
    /// needs it without running the variants on every workload. Each runs only when the run
    /// has an engine of the same binary (so `--engines selector` stays the selector); see
    /// [`Workload::engines_in`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_engines: Vec<crate::results::EngineSpec>,
    /// Record a timeline of this workload at this level in every run of it, as `workbench
    /// run --trace` does for all (a suite's `trace = 10`): the quick suite traces each lesson's
    /// workload so that every lesson shows one. Only the run's own engines are traced this
    /// way, not its [`Workload::extra_engines`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_at: Option<u64>,
}

/// Where the engine and the load generator run during a workload's steps.
///
/// On one machine the two compete for the same cores. For throughput and latency that
/// competition is noise (the generator's work is charged to the engine's figures), so they
/// run on disjoint halves of the CPUs; for a workload about parallelism the engine must be
/// free to use every core, so they share them. The run records which was used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// The engine on the first half of the CPUs, the load generator on the other half.
    #[default]
    Split,
    /// Both may use every CPU (the cpu workload: parallelism needs all the cores).
    Shared,
}

impl Placement {
    /// Its name in files, flags and the method section.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Split => "split",
            Placement::Shared => "shared",
        }
    }

    /// Parses [`Placement::name`].
    pub fn parse(text: &str) -> Option<Placement> {
        match text {
            "split" => Some(Placement::Split),
            "shared" => Some(Placement::Shared),
            _ => None,
        }
    }

    /// The CPUs of the engine and of the load generator on a machine with `cores` CPUs:
    /// `None` for shared, or when there is only one CPU (split is impossible there; the run
    /// says so and shares).
    pub fn cpus(self, cores: usize) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        match self {
            Placement::Shared => None,
            Placement::Split if cores < 2 => None,
            Placement::Split => Some((0..cores / 2, cores / 2..cores)),
        }
    }
}

fn default_step_secs() -> f64 {
    3.0
}

fn default_warmup_secs() -> f64 {
    0.5
}

/// Largest level of a connection-counting mode: the open-files hard limit here is 20000 per
/// process and the load generator needs one descriptor per connection plus a few.
pub const MAX_CONNECTIONS: u64 = 19_000;
/// Most busy connections beside an idle workload's held ones ([`Workload::active_connections`]).
pub const MAX_ACTIVE_CONNECTIONS: u64 = 1024;
/// Largest arrival rate of an open-loop workload.
pub const MAX_RATE: u64 = 1_000_000;
/// Largest CPU time per request: one second.
pub const MAX_CPU_US: u64 = 1_000_000;
/// Longest step.
pub const MAX_STEP_SECS: f64 = 600.0;

/// Shortest step a run may ask for in place of a workload's own (the New run form's "seconds
/// per step", `workbench run --step-secs`): below it the sampler (every 200 ms) sees nothing.
pub const MIN_ASKED_STEP_SECS: f64 = 0.2;
/// Longest step a run may ask for in place of a workload's own: a run made small stays small.
/// A workload file may still ask for up to [`MAX_STEP_SECS`].
pub const MAX_ASKED_STEP_SECS: f64 = 10.0;
/// The largest level cap a run may ask for (the form's "levels up to", `workbench run
/// --max-level`): the open-loop rate cap of workload files, the largest level any mode has.
pub const MAX_ASKED_LEVEL: u64 = MAX_RATE;

/// Reads a step length asked for in place of the workloads' own, within
/// [`MIN_ASKED_STEP_SECS`]..=[`MAX_ASKED_STEP_SECS`]. The error is the sentence every front end
/// shows after its own name for the field, so the dashboard and the command line refuse alike.
pub fn asked_step_secs(text: &str) -> Result<f64, String> {
    let text = text.trim();
    text.parse::<f64>()
        .ok()
        .filter(|s| (MIN_ASKED_STEP_SECS..=MAX_ASKED_STEP_SECS).contains(s))
        .ok_or_else(|| {
            format!(
                "{text:?} is beyond the caps; give a number from {MIN_ASKED_STEP_SECS} to \
                 {MAX_ASKED_STEP_SECS}"
            )
        })
}

/// Reads a level cap, a whole number from 1 to [`MAX_ASKED_LEVEL`]; the error is worded as
/// [`asked_step_secs`]'s.
pub fn asked_max_level(text: &str) -> Result<u64, String> {
    let text = text.trim();
    text.parse::<u64>()
        .ok()
        .filter(|l| (1..=MAX_ASKED_LEVEL).contains(l))
        .ok_or_else(|| {
            format!("{text:?} is beyond the caps; give a whole number from 1 to {MAX_ASKED_LEVEL}")
        })
}

/// A workload file with a problem: which file, which field, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {field}: {problem}")]
pub struct SpecError {
    /// The file (or preset) the problem is in.
    pub source_name: String,
    /// The field, as written in the file (`levels`, `request.cpu_us`, …), or `file`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl Workload {
    /// Parses and checks a workload from TOML text; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Workload, SpecError> {
        let workload: Workload = toml::from_str(text).map_err(|err| SpecError {
            source_name: source_name.to_string(),
            field: err
                .span()
                .map(|span| line_of(text, span.start))
                .unwrap_or_else(|| "file".to_string()),
            problem: err.message().to_string(),
        })?;
        workload.validate(source_name)?;
        Ok(workload)
    }

    /// A built-in preset by name, or a file by path: `hello`, `./my-workload.toml`.
    pub fn load(name_or_path: &str) -> Result<Workload, SpecError> {
        if let Some(text) = preset_text(name_or_path) {
            return Workload::from_toml(text, &format!("preset {name_or_path}"));
        }
        let path = Path::new(name_or_path);
        if path.exists() || name_or_path.ends_with(".toml") {
            let text = std::fs::read_to_string(path).map_err(|err| SpecError {
                source_name: name_or_path.to_string(),
                field: "file".into(),
                problem: format!("cannot read it: {err}"),
            })?;
            return Workload::from_toml(&text, name_or_path);
        }
        Err(SpecError {
            source_name: name_or_path.to_string(),
            field: "name".into(),
            problem: format!(
                "no such preset or file; presets are {}",
                PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// Every built-in preset, in the order of [`PRESETS`].
    pub fn presets() -> Vec<Workload> {
        PRESETS
            .iter()
            .map(|(name, text)| {
                Workload::from_toml(text, &format!("preset {name}"))
                    .expect("built-in presets are valid (tested)")
            })
            .collect()
    }

    /// Checks every field against what is allowed.
    pub fn validate(&self, source_name: &str) -> Result<(), SpecError> {
        let fail = |field: &str, problem: String| SpecError {
            source_name: source_name.to_string(),
            field: field.to_string(),
            problem,
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(fail(
                "name",
                "must be letters, digits, '-' or '_' (it is used on the command line)".into(),
            ));
        }
        if self.levels.is_empty() {
            return Err(fail("levels", "give at least one level".into()));
        }
        if self.levels.windows(2).any(|w| w[0] >= w[1]) {
            return Err(fail(
                "levels",
                "must be strictly ascending, e.g. [1, 10, 100]".into(),
            ));
        }
        let (max_level, what) = match self.mode {
            Mode::Open => (MAX_RATE, "requests per second"),
            _ => (
                MAX_CONNECTIONS,
                "connections (the open-files limit is 20000 per process)",
            ),
        };
        let min_level = match self.mode {
            Mode::Idle | Mode::SlowSenders => 0,
            _ => 1,
        };
        if let Some(bad) = self
            .levels
            .iter()
            .find(|&&l| l < min_level || l > max_level)
        {
            return Err(fail(
                "levels",
                format!("{bad} is out of range: {min_level} to {max_level} {what}"),
            ));
        }
        if !(self.step_secs > 0.0 && self.step_secs <= MAX_STEP_SECS) {
            return Err(fail(
                "step_secs",
                format!("must be above 0 and at most {MAX_STEP_SECS}"),
            ));
        }
        if !(self.warmup_secs >= 0.0 && self.warmup_secs <= MAX_STEP_SECS) {
            return Err(fail(
                "warmup_secs",
                format!("must be from 0 to {MAX_STEP_SECS}"),
            ));
        }
        let r = &self.request;
        if r.route == Route::Hello && (r.wait_ms != 0 || r.cpu_us != 0 || r.bytes != 0) {
            return Err(fail(
                "request.route",
                "wait_ms, cpu_us and bytes need route = \"work\"".into(),
            ));
        }
        if r.route == Route::Count && (r.cpu_us != 0 || r.bytes != 0) {
            return Err(fail(
                "request.route",
                "route = \"count\" takes wait_ms only (cpu_us and bytes need route = \"work\")"
                    .into(),
            ));
        }
        if r.route.needs_database() && (r.wait_ms != 0 || r.cpu_us != 0 || r.bytes != 0) {
            return Err(fail(
                "request.route",
                "route = \"db\" and \"queries\" take no wait_ms, cpu_us or bytes (the database is the wait)"
                    .into(),
            ));
        }
        if (r.route == Route::Queries) != (r.queries != 0) || r.queries > 500 {
            return Err(fail(
                "request.queries",
                "route = \"queries\" needs queries = 1 to 500 (rows per request); no other route takes it"
                    .into(),
            ));
        }
        if r.route == Route::Count && self.warmup_secs != 0.0 {
            return Err(fail(
                "warmup_secs",
                "must be 0 with route = \"count\": every answer is counted against the counter"
                    .into(),
            ));
        }
        if r.route == Route::Count && self.mode != Mode::Closed {
            return Err(fail(
                "mode",
                "route = \"count\" needs mode = \"closed\": every answer is counted".into(),
            ));
        }
        if r.wait_ms > MAX_WAIT_MS {
            return Err(fail(
                "request.wait_ms",
                format!("must be 0 to {MAX_WAIT_MS}"),
            ));
        }
        if r.cpu_us > MAX_CPU_US {
            return Err(fail(
                "request.cpu_us",
                format!("must be 0 to {MAX_CPU_US} (one second)"),
            ));
        }
        if r.bytes > MAX_BODY_PATTERN_BYTES {
            return Err(fail(
                "request.bytes",
                format!("must be 0 to {MAX_BODY_PATTERN_BYTES} (64 MiB)"),
            ));
        }
        let only = |field: &str, present: bool, mode: Mode| {
            if present && self.mode != mode {
                Err(fail(field, format!("only applies to mode = \"{mode}\"")))
            } else {
                Ok(())
            }
        };
        only(
            "max_connections",
            self.max_connections.is_some(),
            Mode::Open,
        )?;
        only("read_rate", self.read_rate.is_some(), Mode::SlowReaders)?;
        only(
            "send_interval_ms",
            self.send_interval_ms.is_some(),
            Mode::SlowSenders,
        )?;
        only(
            "active_connections",
            self.active_connections.is_some(),
            Mode::Idle,
        )?;
        if let Some(active) = self.active_connections {
            let top = self.levels.last().copied().unwrap_or(0);
            if active == 0 || active > MAX_ACTIVE_CONNECTIONS {
                return Err(fail(
                    "active_connections",
                    format!("must be 1 to {MAX_ACTIVE_CONNECTIONS}"),
                ));
            }
            if top + active > MAX_CONNECTIONS {
                return Err(fail(
                    "active_connections",
                    format!(
                        "{active} besides {top} idle connections is more than {MAX_CONNECTIONS} \
                         (the open-files limit is 20000 per process)"
                    ),
                ));
            }
        }
        match self.mode {
            Mode::Open => {
                if let Some(max) = self.max_connections
                    && !(1..=MAX_CONNECTIONS).contains(&max)
                {
                    return Err(fail(
                        "max_connections",
                        format!("must be 1 to {MAX_CONNECTIONS}"),
                    ));
                }
            }
            Mode::SlowReaders => match self.read_rate {
                Some(rate) if rate >= 1024 => {
                    if r.bytes == 0 {
                        return Err(fail(
                            "request.bytes",
                            "slow readers need a response to read: set bytes (e.g. 1048576)".into(),
                        ));
                    }
                }
                _ => {
                    return Err(fail(
                        "read_rate",
                        "slow-readers needs read_rate, in bytes per second, at least 1024".into(),
                    ));
                }
            },
            Mode::SlowSenders => match self.send_interval_ms {
                Some(ms) if (1..=10_000).contains(&ms) => {}
                _ => {
                    return Err(fail(
                        "send_interval_ms",
                        "slow-senders needs send_interval_ms, 1 to 10000".into(),
                    ));
                }
            },
            Mode::Closed | Mode::Idle => {}
        }
        Ok(())
    }

    /// The level unit, for tables.
    pub fn level_unit(&self) -> &'static str {
        self.mode.level_unit()
    }

    /// `open` mode's connection cap: the file's, or 2000.
    pub fn max_connections(&self) -> u64 {
        self.max_connections.unwrap_or(2000)
    }

    /// The engines this workload runs on in a run of `engines`: the run's, then, when the run
    /// compares every model (it has each default engine, as `cargo run --release` does), each
    /// of its [`Workload::extra_engines`] whose label it does not have already. A run of
    /// chosen engines (`--engines selector`) runs exactly those.
    pub fn engines_in(
        &self,
        engines: &[crate::results::EngineSpec],
    ) -> Vec<crate::results::EngineSpec> {
        let mut out = engines.to_vec();
        let every_model = crate::engines::DEFAULT_ENGINES
            .iter()
            .all(|d| engines.iter().any(|e| !e.peer && e.label == *d));
        if !every_model {
            return out;
        }
        for extra in &self.extra_engines {
            let binary_in_run = engines.iter().any(|e| !e.peer && e.engine == extra.engine);
            if binary_in_run && !out.iter().any(|e| e.label == extra.label) {
                out.push(extra.clone());
            }
        }
        out
    }

    /// Leaves out the levels above `cap`, but always keeps the smallest, so that a workload
    /// chosen with a low cap (`idle` starts at 0, `rate` in the hundreds) still shows up.
    pub fn cap_levels(&mut self, cap: u64) {
        let smallest = self.levels.first().copied();
        self.levels.retain(|&level| level <= cap);
        if self.levels.is_empty() {
            self.levels.extend(smallest);
        }
    }

    /// The level a timeline of this workload is recorded at: its [`Workload::trace_at`] when
    /// it is one of its levels, else the middle one.
    pub fn traced_level(&self) -> Option<u64> {
        self.trace_at
            .filter(|level| self.levels.contains(level))
            .or_else(|| self.levels.get(self.levels.len() / 2).copied())
    }

    /// Seconds this workload takes per engine, warm-ups included (engine start not counted).
    pub fn duration_secs(&self) -> f64 {
        self.levels.len() as f64 * (self.step_secs + self.warmup_secs)
    }
}

/// "line N" for a byte offset in a file, for error messages.
fn line_of(text: &str, offset: usize) -> String {
    let line = text[..offset.min(text.len())].matches('\n').count() + 1;
    format!("line {line}")
}

/// The built-in presets: name and TOML text.
pub const PRESETS: &[(&str, &str)] = &[
    ("hello", include_str!("../../presets/hello.toml")),
    ("db-wait", include_str!("../../presets/db-wait.toml")),
    ("cpu", include_str!("../../presets/cpu.toml")),
    ("idle", include_str!("../../presets/idle.toml")),
    (
        "big-response",
        include_str!("../../presets/big-response.toml"),
    ),
    ("slowloris", include_str!("../../presets/slowloris.toml")),
    ("idle-hello", include_str!("../../presets/idle-hello.toml")),
    ("rate", include_str!("../../presets/rate.toml")),
    ("count", include_str!("../../presets/count.toml")),
    (
        "count-nowait",
        include_str!("../../presets/count-nowait.toml"),
    ),
    ("db", include_str!("../../presets/db.toml")),
    ("queries", include_str!("../../presets/queries.toml")),
];

fn preset_text(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// A named group of workloads, each with the levels that suite uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suite {
    /// `quick` or `full`.
    pub name: String,
    /// What the suite is for.
    pub description: String,
    /// The workloads, with the suite's levels and step length applied.
    pub workloads: Vec<Workload>,
    /// How many times each step runs (`--repeat` overrides): 1 gives intervals from the
    /// windows of one step, 3 or more from the repeats.
    pub repeat: u32,
}

/// The suites' definitions: for each, the workloads and, optionally, smaller levels and
/// shorter steps than the presets'.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    description: String,
    #[serde(default)]
    repeat: Option<u32>,
    workloads: Vec<SuiteEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteEntry {
    workload: String,
    #[serde(default)]
    levels: Option<Vec<u64>>,
    #[serde(default)]
    step_secs: Option<f64>,
    #[serde(default)]
    warmup_secs: Option<f64>,
    /// Engines for this workload only (`threads:stack-size=32KiB`): [`Workload::extra_engines`].
    #[serde(default)]
    engines: Vec<String>,
    /// The level to record a timeline at in every run: [`Workload::trace_at`].
    #[serde(default)]
    trace: Option<u64>,
}

const SUITES: &str = include_str!("../../presets/suites.toml");

/// The names of the built-in suites.
pub const SUITE_NAMES: [&str; 2] = ["quick", "full"];

impl Suite {
    /// A built-in suite by name (`quick`, `full`).
    pub fn named(name: &str) -> Result<Suite, SpecError> {
        let fail = |field: &str, problem: String| SpecError {
            source_name: "presets/suites.toml".into(),
            field: field.to_string(),
            problem,
        };
        let mut suites: std::collections::BTreeMap<String, SuiteFile> =
            toml::from_str(SUITES).map_err(|err| fail("file", err.message().to_string()))?;
        let file = suites.remove(name).ok_or_else(|| SpecError {
            source_name: "--suite".into(),
            field: name.to_string(),
            problem: format!("no such suite; choose {}", SUITE_NAMES.join(" or ")),
        })?;
        let mut workloads = Vec::new();
        for entry in file.workloads {
            let mut workload = Workload::load(&entry.workload)?;
            if let Some(levels) = entry.levels {
                workload.levels = levels;
            }
            if let Some(step) = entry.step_secs {
                workload.step_secs = step;
            }
            if let Some(warmup) = entry.warmup_secs {
                workload.warmup_secs = warmup;
            }
            workload.extra_engines = crate::engines::parse_engines(&entry.engines)
                .map_err(|problem| fail(&format!("{}.engines", entry.workload), problem))?;
            if let Some(level) = entry.trace {
                if !workload.levels.contains(&level) {
                    return Err(fail(
                        &format!("{}.trace", entry.workload),
                        format!("{level} is not one of the workload's levels"),
                    ));
                }
                workload.trace_at = Some(level);
            }
            workload.validate(&format!("suite {name}, workload {}", workload.name))?;
            workloads.push(workload);
        }
        Ok(Suite {
            name: name.to_string(),
            description: file.description,
            repeat: file.repeat.unwrap_or(1).max(1),
            workloads,
        })
    }
}

/// Where `workload` runs in a run: the run's `--placement` if it chose one, split if it
/// asked to `--pin`, else the workload's own.
pub fn effective_placement(config: &crate::results::RunConfig, workload: &Workload) -> Placement {
    match (config.placement, config.pin) {
        (Some(placement), _) => placement,
        (None, true) => Placement::Split,
        (None, false) => workload.placement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_and_suite_is_valid() {
        assert_eq!(Workload::presets().len(), PRESETS.len());
        for (name, _) in PRESETS {
            assert_eq!(Workload::load(name).unwrap().name, *name);
        }
        for name in SUITE_NAMES {
            let suite = Suite::named(name).unwrap();
            assert!(!suite.workloads.is_empty());
        }
    }

    #[test]
    fn the_quick_suite_adds_engines_to_idle_and_hello_only() {
        use crate::results::EngineSpec;
        let quick = Suite::named("quick").unwrap();
        // A workload of the suite and the labels of the engines it adds.
        let extra = |name: &str| {
            let workload = quick.workloads.iter().find(|w| w.name == name).unwrap();
            let labels: Vec<&str> = workload
                .extra_engines
                .iter()
                .map(|e| e.label.as_str())
                .collect();
            (workload, labels)
        };
        let (idle, labels) = extra("idle");
        assert_eq!(
            labels,
            ["threads:stack-size=32KiB", "threads:stack-size=8MiB"]
        );
        assert_eq!(idle.extra_engines[0].args, ["--stack-size", "32KiB"]);
        // Besides idle's sweep, only hello adds an engine: the selector's protocol on tokio's
        // loop, for "One protocol, many loops".
        let (hello, labels) = extra("hello");
        assert_eq!(labels, ["selector-on-tokio"]);
        assert!(
            quick
                .workloads
                .iter()
                .filter(|w| w.name != "idle" && w.name != "hello")
                .all(|w| w.extra_engines.is_empty())
        );
        // They join a run that compares every model, once; a run of chosen engines runs
        // exactly those.
        let run: Vec<EngineSpec> = crate::engines::DEFAULT_ENGINES
            .iter()
            .map(|e| EngineSpec::plain(e))
            .collect();
        let engines = idle.engines_in(&run);
        assert_eq!(engines.len(), 6);
        assert_eq!(engines[4].label, "threads:stack-size=32KiB");
        let mut already = run.clone();
        already.push(crate::engines::parse_engine("threads:stack-size=8MiB").unwrap());
        assert_eq!(idle.engines_in(&already).len(), 6);
        let chosen = [EngineSpec::plain("threads"), EngineSpec::plain("selector")];
        assert_eq!(idle.engines_in(&chosen).len(), 2);
        assert_eq!(hello.engines_in(&[EngineSpec::plain("selector")]).len(), 1);
        // The total counts them: each level on the four models and the two more.
        let config = crate::results::RunConfig {
            suite: Some("quick".into()),
            engines: run.to_vec(),
            workloads: vec![idle.clone()],
            pin: false,
            peer_versions: Default::default(),
            repeat: 1,
            placement: None,
        };
        assert_eq!(config.total_steps(), 6 * idle.levels.len());
    }

    #[test]
    fn the_quick_suite_traces_every_lesson_workload_once() {
        let quick = Suite::named("quick").unwrap();
        let traced: Vec<(&str, u64)> = quick
            .workloads
            .iter()
            .filter_map(|w| w.trace_at.map(|l| (w.name.as_str(), l)))
            .collect();
        // Every workload but count-nowait, the race lesson's control, which shares count's
        // timeline.
        let lessons: Vec<&str> = quick
            .workloads
            .iter()
            .map(|w| w.name.as_str())
            .filter(|n| *n != "count-nowait")
            .collect();
        assert_eq!(traced.iter().map(|(n, _)| *n).collect::<Vec<_>>(), lessons);
        for (name, level) in &traced {
            let w = quick.workloads.iter().find(|w| w.name == *name).unwrap();
            assert!(w.levels.contains(level));
            assert_eq!(w.traced_level(), Some(*level));
        }
        // A level cut away falls back to the middle one.
        let mut idle = quick
            .workloads
            .iter()
            .find(|w| w.name == "idle")
            .unwrap()
            .clone();
        idle.cap_levels(0);
        assert_eq!(idle.traced_level(), Some(0));
    }

    #[test]
    fn the_quick_suite_has_the_core_workloads() {
        let quick = Suite::named("quick").unwrap();
        let names: Vec<&str> = quick.workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "hello",
                "db-wait",
                "cpu",
                "idle",
                "big-response",
                "slowloris",
                "count",
                "count-nowait",
                "db"
            ]
        );
    }

    fn error_of(text: &str) -> SpecError {
        Workload::from_toml(text, "w.toml").unwrap_err()
    }

    const BASE: &str = "name = \"w\"\ndescription = \"d\"\nmode = \"closed\"\nlevels = [1, 2]\n";

    #[test]
    fn a_valid_file_parses_with_defaults() {
        let w = Workload::from_toml(BASE, "w.toml").unwrap();
        assert_eq!(w.request.route, Route::Hello);
        assert_eq!(w.step_secs, 3.0);
        assert_eq!(w.request.target(10.0), "/hello");
    }

    #[test]
    fn errors_name_the_file_the_field_and_what_is_allowed() {
        let e = error_of(&format!("{BASE}colour = 1\n"));
        assert_eq!(e.source_name, "w.toml");
        assert!(e.problem.contains("unknown field `colour`"), "{e}");
        assert_eq!(e.field, "line 5");

        let e = error_of(&BASE.replace("closed", "sideways"));
        assert!(e.problem.contains("unknown variant `sideways`"), "{e}");

        let e = error_of(&BASE.replace("[1, 2]", "[2, 1]"));
        assert_eq!(e.field, "levels");
        assert!(e.problem.contains("ascending"));

        let e = error_of(&BASE.replace("[1, 2]", "[1, 20000]"));
        assert!(e.problem.contains("20000 is out of range"), "{e}");

        let e = error_of(&format!("{BASE}[request]\nwait_ms = 5\n"));
        assert_eq!(e.field, "request.route");

        let e = error_of(&format!("{BASE}read_rate = 5\n"));
        assert_eq!(e.field, "read_rate");
        assert!(e.problem.contains("slow-readers"));

        let e = error_of(&BASE.replace("closed", "slow-senders"));
        assert_eq!(e.field, "send_interval_ms");

        let e = Workload::load("no-such-thing").unwrap_err();
        assert!(e.problem.contains("hello, db-wait"), "{e}");
        assert!(
            Suite::named("medium")
                .unwrap_err()
                .problem
                .contains("quick or full")
        );
    }

    #[test]
    fn cpu_time_becomes_rounds_at_the_calibrated_speed() {
        let spec = RequestSpec {
            route: Route::Work,
            wait_ms: 10,
            cpu_us: 500,
            bytes: 0,
            queries: 0,
        };
        assert_eq!(spec.cpu_rounds(18.75), 9375);
        assert_eq!(
            spec.target(18.75),
            "/work?wait_ms=10&cpu_rounds=9375&bytes=0"
        );
    }

    #[test]
    fn asked_caps_take_the_range_and_refuse_the_rest_in_one_sentence() {
        assert_eq!(asked_step_secs(" 0.2 "), Ok(0.2));
        assert_eq!(asked_step_secs("10"), Ok(10.0));
        for bad in ["0.1", "10.5", "NaN", "x", ""] {
            let why = asked_step_secs(bad).unwrap_err();
            assert!(why.contains("from 0.2 to 10"), "{why}");
        }
        assert_eq!(asked_max_level("64"), Ok(64));
        for bad in ["0", "-1", "1.5", "99999999"] {
            let why = asked_max_level(bad).unwrap_err();
            assert!(why.contains("whole number from 1 to 1000000"), "{why}");
        }
    }

    #[test]
    fn capping_levels_keeps_the_smallest() {
        let mut hello = Workload::load("hello").unwrap();
        let first = hello.levels[0];
        hello.cap_levels(first);
        assert_eq!(hello.levels, [first]);
        let mut idle = Workload::load("idle").unwrap();
        idle.cap_levels(u64::MAX);
        assert_eq!(idle.levels, Workload::load("idle").unwrap().levels);
        let mut rate = Workload::load("rate").unwrap();
        let smallest = rate.levels[0];
        rate.cap_levels(1);
        assert_eq!(rate.levels, [smallest]);
    }
}
