//! What the New run form may ask for, and the caps that keep a browser from asking too much.
//!
//! The dashboard starts real load on this machine, so the form is parsed strictly: only
//! engines from the [engine table](wb_model::engines) and peers from the
//! [peers' registry](wb_runner::peers), only built-in presets (never a path on disk), levels
//! and step lengths within the caps below. Anything else is refused with a `400` that says
//! which field, what was given and what is allowed.
//!
//! Peers (asyncio, Twisted and the others: servers this project did not write) run exactly as
//! `workbench run --peers asyncio,twisted` runs them: each becomes an
//! [`EngineSpec::peer`](wb_model::results::EngineSpec::peer) after the engines, and the run
//! records the versions they ran on. A peer that is not installed is refused with the command
//! that installs it ([`RunRequest::peer_versions`]).

use std::collections::BTreeMap;

use wb_model::engines;
use wb_model::results::EngineSpec;
use wb_model::results::RunConfig;
use wb_model::spec::{self, PRESETS, SUITE_NAMES, Suite, Workload};
use wb_runner::peers::{self, PeerLaunch as _};

/// The caps on "seconds per step" and "levels up to", shared with `workbench run
/// --step-secs` and `--max-level` so that both refuse alike.
pub use wb_model::spec::{
    MAX_ASKED_LEVEL as MAX_LEVEL, MAX_ASKED_STEP_SECS as MAX_STEP_SECS,
    MIN_ASKED_STEP_SECS as MIN_STEP_SECS,
};
/// Longest run the dashboard starts, in estimated seconds; `workbench run` has no such cap.
pub const MAX_RUN_SECS: f64 = 1800.0;

/// A run as the New run form describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// `quick` or `full`: which levels each workload uses.
    pub suite: String,
    /// Engine labels, in the table's order.
    pub engines: Vec<String>,
    /// Peer names, in the peers' registry order.
    pub peers: Vec<String>,
    /// Preset names, in the order of the presets.
    pub workloads: Vec<String>,
    /// Pin the engine to CPU 0, the first of the lower half of the CPUs, and the load
    /// generator to the upper half.
    pub pin: bool,
    /// Also record a timeline per engine and workload (`workbench run --trace`).
    pub trace: bool,
    /// Leave out levels above this.
    pub max_level: Option<u64>,
    /// Seconds measured at each level, instead of the suite's.
    pub step_secs: Option<f64>,
    /// Runs of each step, each in a fresh engine process, instead of the suite's.
    pub repeat: Option<u32>,
    /// The lesson whose "try it" form asked for the run: the run is kept small
    /// ([`TRY_MAX_SECS`], [`TRY_MAX_LEVELS`], [`TRY_MAX_STEP_SECS`]) and the browser returns to
    /// the lesson.
    pub lesson: Option<String>,
    /// The levels, instead of the suite's.
    pub levels: Option<Vec<u64>>,
    /// Each request's wait (ms), instead of the workload's.
    pub wait_ms: Option<u64>,
    /// Each request's CPU (µs of this machine's calibrated CPU), instead of the workload's.
    pub cpu_us: Option<u64>,
    /// Each answer's body bytes, instead of the workload's.
    pub bytes: Option<u64>,
}

/// A lesson's "try it" run: at most this many levels,
pub const TRY_MAX_LEVELS: usize = 4;
/// each measured at most this many seconds,
pub const TRY_MAX_STEP_SECS: f64 = 2.0;
/// up to this level (the quick suite's largest, ten thousand idle connections),
pub const TRY_MAX_LEVEL: u64 = 10_000;
/// and at most this long in all, estimated: engine start-ups come on top, and the whole
/// stays under a minute.
pub const TRY_MAX_SECS: f64 = 40.0;

/// The threads engine's stack size when `--stack-size` is not given, as the form writes it
/// (`2MiB`).
pub fn default_stack_size() -> String {
    match engines::resolve("threads").map(|t| t.defaults) {
        Some(engines::Defaults::StackSize { text, .. }) => text.replace(' ', ""),
        _ => String::new(),
    }
}

/// A whole number from a form field, or a refusal naming it.
fn whole(field: &str, value: &str, max: u64) -> Result<u64, Refusal> {
    value
        .parse::<u64>()
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| format!("{field}: {value:?} is not a whole number from 0 to {max}"))
}

/// Most repeats of each step a run may ask for: five runs of every step already multiply a
/// run's length by five.
pub const MAX_REPEAT: u32 = 5;

/// Why a form was refused: a sentence for the `400` page.
pub type Refusal = String;

impl RunRequest {
    /// Reads the form's fields (`engine`, `peer`, `workload` repeated; `suite`, `pin`,
    /// `max_level`, `step_secs`); unknown fields, such as the page's token, are ignored.
    pub fn from_form(pairs: &[(String, String)]) -> Result<RunRequest, Refusal> {
        let mut request = RunRequest {
            suite: "quick".into(),
            engines: Vec::new(),
            peers: Vec::new(),
            workloads: Vec::new(),
            pin: false,
            trace: false,
            max_level: None,
            step_secs: None,
            repeat: None,
            lesson: None,
            levels: None,
            wait_ms: None,
            cpu_us: None,
            bytes: None,
        };
        for (key, value) in pairs {
            let value = value.trim();
            match key.as_str() {
                "suite" => {
                    if !SUITE_NAMES.contains(&value) {
                        return Err(format!(
                            "suite: {value:?} is not a suite; choose {}",
                            SUITE_NAMES.join(" or ")
                        ));
                    }
                    request.suite = value.to_string();
                }
                // A ticked engine, or the text field's list of engines with parameters
                // (`pool:workers=2, pool:workers=4`), as `workbench run --engines` takes them.
                "engine" | "engines" => {
                    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                        let spec =
                            engines::parse_engine(item).map_err(|why| format!("engine: {why}"))?;
                        if !request.engines.contains(&spec.label) {
                            request.engines.push(spec.label);
                        }
                    }
                }
                "peer" | "peers" => {
                    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                        let Some(peer) = peers::find(item) else {
                            return Err(format!(
                                "peer: {item:?} is not a peer; choose from {}",
                                peer_names()
                            ));
                        };
                        if !request.peers.iter().any(|p| p == peer.name) {
                            request.peers.push(peer.name.to_string());
                        }
                    }
                }
                "lesson" if !value.is_empty() => {
                    if wb_reports::claims::find(value).is_none()
                        && value != crate::lesson_async::SLUG
                    {
                        return Err(format!("lesson: {value:?} is not a lesson"));
                    }
                    request.lesson = Some(value.to_string());
                }
                "levels" if !value.is_empty() => {
                    let levels =
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(|l| {
                                l.parse::<u64>().ok().filter(|l| *l <= MAX_LEVEL).ok_or_else(|| {
                                format!(
                                    "levels: {l:?} is not a whole number from 0 to {MAX_LEVEL}"
                                )
                            })
                            })
                            .collect::<Result<Vec<u64>, Refusal>>()?;
                    if levels.is_empty() || levels.windows(2).any(|w| w[0] >= w[1]) {
                        return Err(format!(
                            "levels: {value:?} must be whole numbers in ascending order, \
                             comma-separated (1, 10, 100)"
                        ));
                    }
                    request.levels = Some(levels);
                }
                // The request's knobs, each within its cap.
                "wait_ms" | "cpu_us" | "bytes" if !value.is_empty() => {
                    let (name, cap, slot) = match key.as_str() {
                        "wait_ms" => ("wait (ms)", spec::MAX_WAIT_MS, &mut request.wait_ms),
                        "cpu_us" => (
                            "CPU per request (µs)",
                            spec::MAX_CPU_US,
                            &mut request.cpu_us,
                        ),
                        _ => ("bytes", spec::MAX_BODY_PATTERN_BYTES, &mut request.bytes),
                    };
                    *slot = Some(whole(name, value, cap)?);
                }
                // The pool's workers and the threads' stack: a variant beside the engine
                // (`pool:workers=8`). Empty workers leave the pool to its own default, which
                // it states when it starts (the form does not guess it from this machine).
                "pool_workers" if !value.is_empty() => {
                    let workers = whole("pool workers", value, 4096)?;
                    let spec = engines::parse_engine(&format!("pool:workers={workers}"))
                        .map_err(|why| format!("pool workers: {why}"))?;
                    if !request.engines.contains(&spec.label) {
                        request.engines.push(spec.label);
                    }
                }
                "stack_size" if !value.is_empty() => {
                    let spec = engines::parse_engine(&format!("threads:stack-size={value}"))
                        .map_err(|why| format!("thread stack size: {why}"))?;
                    let default = engines::parse_engine(&format!(
                        "threads:stack-size={}",
                        default_stack_size()
                    ))
                    .map(|d| d.label)
                    .unwrap_or_default();
                    if spec.label != default && !request.engines.contains(&spec.label) {
                        request.engines.push(spec.label);
                    }
                }
                "workload" => {
                    if !PRESETS.iter().any(|(name, _)| *name == value) {
                        return Err(format!(
                            "workload: {value:?} is not a built-in workload; choose from {}",
                            preset_names()
                        ));
                    }
                    if !request.workloads.iter().any(|w| w == value) {
                        request.workloads.push(value.to_string());
                    }
                }
                "pin" => request.pin = matches!(value, "on" | "true" | "1" | "yes"),
                "trace" => request.trace = matches!(value, "on" | "true" | "1" | "yes"),
                "max_level" if !value.is_empty() => {
                    let level = wb_model::spec::asked_max_level(value)
                        .map_err(|why| format!("levels up to: {why}"))?;
                    request.max_level = Some(level);
                }
                "repeat" if !value.is_empty() => {
                    let repeat = value
                        .parse::<u32>()
                        .ok()
                        .filter(|r| (1..=MAX_REPEAT).contains(r))
                        .ok_or_else(|| {
                            format!(
                                "repeats: {value:?} is beyond the caps; give a whole number \
                                 from 1 to {MAX_REPEAT}"
                            )
                        })?;
                    request.repeat = Some(repeat);
                }
                "step_secs" if !value.is_empty() => {
                    let secs = wb_model::spec::asked_step_secs(value)
                        .map_err(|why| format!("seconds per step: {why}"))?;
                    request.step_secs = Some(secs);
                }
                _ => {}
            }
        }
        if request.lesson.is_some() {
            request.check_try_caps()?;
        }
        if request.engines.is_empty() && request.peers.is_empty() {
            return Err("engine: choose at least one engine or peer".into());
        }
        if request.workloads.is_empty() {
            return Err("workload: choose at least one workload".into());
        }
        // The table's and the presets' order, whatever the form's.
        engines::sort(&mut request.engines);
        request
            .peers
            .sort_by_key(|p| peers::all().iter().position(|def| def.name == p));
        request
            .workloads
            .sort_by_key(|w| PRESETS.iter().position(|(name, _)| name == w));
        Ok(request)
    }

    /// A lesson's "try it" run stays small: few levels, short steps.
    fn check_try_caps(&self) -> Result<(), Refusal> {
        if let Some(levels) = &self.levels {
            if levels.len() > TRY_MAX_LEVELS {
                return Err(format!(
                    "levels: a lesson's try takes at most {TRY_MAX_LEVELS} levels, not {}",
                    levels.len()
                ));
            }
            if let Some(high) = levels.iter().find(|l| **l > TRY_MAX_LEVEL) {
                return Err(format!(
                    "levels: {high} is beyond a lesson's try, whose levels go up to \
                     {TRY_MAX_LEVEL}"
                ));
            }
        }
        match self.step_secs {
            Some(secs) if secs > TRY_MAX_STEP_SECS => Err(format!(
                "seconds per step: {secs} is beyond a lesson's try; give at most \
                 {TRY_MAX_STEP_SECS}"
            )),
            None => Err(format!(
                "seconds per step: give a lesson's try its step length, at most \
                 {TRY_MAX_STEP_SECS}"
            )),
            Some(_) => Ok(()),
        }
    }

    /// Where the browser goes once the run has started: its live page, which links back to
    /// the lesson that asked for it.
    pub fn live_page(&self, id: i64) -> String {
        live_page(id, self.lesson.as_deref())
    }

    /// Whether every peer asked for can run here: the versions they run on (for
    /// [`RunConfig::peer_versions`]; empty without peers), or which peer is missing and the
    /// command that installs it. This starts Python: call it off the async threads.
    pub fn peer_versions(&self) -> Result<BTreeMap<String, String>, Refusal> {
        if self.peers.is_empty() {
            return Ok(BTreeMap::new());
        }
        for name in &self.peers {
            if let Some(peer) = peers::find(name) {
                peer.readiness().map_err(|why| {
                    format!("peer: {name} cannot run here: {why} (then reload the New run page)")
                })?;
            }
        }
        Ok(peers::versions())
    }

    /// The run configuration: each workload at the suite's levels (the preset's when the
    /// suite does not have it), capped; the engines, then the peers, as `workbench run
    /// --engines … --peers …` would start them; refused if it would run longer than
    /// [`MAX_RUN_SECS`]. The peers' versions are left empty: [`RunRequest::peer_versions`]
    /// finds them.
    pub fn config(&self) -> Result<RunConfig, Refusal> {
        let suite = Suite::named(&self.suite).map_err(|e| e.to_string())?;
        let mut workloads = Vec::new();
        for name in &self.workloads {
            let mut workload = match suite.workloads.iter().find(|w| &w.name == name) {
                Some(w) => w.clone(),
                None => Workload::load(name).map_err(|e| e.to_string())?,
            };
            if let Some(cap) = self.max_level {
                workload.cap_levels(cap);
            }
            if let Some(secs) = self.step_secs {
                workload.step_secs = secs;
            }
            if let Some(levels) = &self.levels {
                workload.levels = levels.clone();
            }
            let r = &mut workload.request;
            r.wait_ms = self.wait_ms.unwrap_or(r.wait_ms);
            r.cpu_us = self.cpu_us.unwrap_or(r.cpu_us);
            r.bytes = self.bytes.unwrap_or(r.bytes);
            if self.lesson.is_some() {
                // A try records no timeline: it would add a traced process per engine.
                workload.trace_at = None;
                workload.warmup_secs = workload.warmup_secs.min(0.3);
            }
            workload
                .validate(&format!("workload {name}"))
                .map_err(|e| format!("{}: {}", field_label(&e.field), e.problem))?;
            workloads.push(workload);
        }
        let config = RunConfig {
            suite: Some(suite.name),
            engines: self
                .engines
                .iter()
                .filter_map(|label| engines::parse_engine(label).ok())
                .chain(self.peers.iter().map(|name| EngineSpec::peer(name)))
                .collect(),
            workloads,
            pin: self.pin,
            peer_versions: Default::default(),
            repeat: self.repeat.unwrap_or(suite.repeat),
            placement: None,
        };
        let secs = config.estimated_secs();
        if self.lesson.is_some() && secs > TRY_MAX_SECS {
            return Err(format!(
                "this try would take about {}, beyond a lesson's cap of {}: choose fewer \
                 engines or levels, or shorter steps",
                wb_reports::format::duration(secs.round() as i64),
                wb_reports::format::duration(TRY_MAX_SECS as i64)
            ));
        }
        let secs = config.estimated_secs();
        if secs > MAX_RUN_SECS {
            return Err(format!(
                "this run would take about {}, beyond the dashboard's cap of {}: choose fewer \
                 engines or workloads, lower levels or shorter steps, or use `workbench run`",
                wb_reports::format::duration(secs.round() as i64),
                wb_reports::format::duration(MAX_RUN_SECS as i64)
            ));
        }
        Ok(config)
    }
}

/// A run's live page, linking back to `lesson` when a lesson's form started it.
pub fn live_page(id: i64, lesson: Option<&str>) -> String {
    match lesson {
        Some(slug) => format!("/runs/{id}/live?lesson={slug}"),
        None => format!("/runs/{id}/live"),
    }
}

/// The form's name for a workload file's field, for a refusal: `wait (ms)` for
/// `request.wait_ms`.
fn field_label(field: &str) -> &str {
    match field {
        "request.wait_ms" => "wait (ms)",
        "request.cpu_us" => "CPU per request (µs)",
        "request.bytes" => "bytes",
        "request.route" => "workload (its request takes no wait, CPU or bytes)",
        other => other,
    }
}

/// The preset names, comma-separated.
pub fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The peers' names, comma-separated.
pub fn peer_names() -> String {
    peers::all()
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits a form body or query string into its pairs, repeated keys kept.
pub fn pairs(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(text: &str) -> Result<RunRequest, Refusal> {
        RunRequest::from_form(&pairs(text.as_bytes()))
    }

    #[test]
    fn a_small_run_is_accepted_in_table_order() {
        let r = form("engine=selector&engine=threads&workload=idle&workload=hello&max_level=16&step_secs=0.5&token=x").unwrap();
        assert_eq!(r.engines, ["threads", "selector"]);
        assert_eq!(r.workloads, ["hello", "idle"]);
        let config = r.config().unwrap();
        assert_eq!(config.workloads[0].levels, [1, 16]);
        assert_eq!(config.workloads[1].levels, [0]);
        assert_eq!(config.workloads[0].step_secs, 0.5);
        assert_eq!(config.suite.as_deref(), Some("quick"));
    }

    #[test]
    fn engines_with_parameters_come_from_the_text_field() {
        let r = form(
            "engine=pool&engines=pool%3Aworkers%3D4%2C+pool%3Aworkers%3D2&workload=db-wait&max_level=10&step_secs=0.5",
        )
        .unwrap();
        assert_eq!(r.engines, ["pool", "pool:workers=2", "pool:workers=4"]);
        let config = r.config().unwrap();
        assert_eq!(config.engines[2].label, "pool:workers=4");
        assert_eq!(config.engines[2].args, ["--workers", "4"]);
        let refused = form("engines=pool%3Athreads%3D2&workload=db-wait").unwrap_err();
        assert!(refused.starts_with("engine:"), "{refused}");
        assert!(refused.contains("its parameters are workers"), "{refused}");
    }

    #[test]
    fn anything_beyond_the_caps_is_refused_with_the_field_named() {
        for (query, says) in [
            ("workload=hello", "engine:"),
            ("engine=threads", "workload:"),
            ("engine=nginx&workload=hello", "not an engine"),
            (
                "engine=threads&workload=/etc/passwd",
                "not a built-in workload",
            ),
            (
                "engine=threads&workload=hello&max_level=99999999",
                "beyond the caps",
            ),
            (
                "engine=threads&workload=hello&step_secs=60",
                "beyond the caps",
            ),
            ("engine=threads&workload=hello&suite=huge", "suite:"),
        ] {
            let refused = form(query).unwrap_err();
            assert!(refused.contains(says), "{query}: {refused}");
        }
    }

    #[test]
    fn peers_run_after_the_engines_as_workbench_run_starts_them() {
        let r =
            form("peer=twisted&engine=selector&peer=asyncio&peer=twisted&workload=idle").unwrap();
        assert_eq!(r.engines, ["selector"]);
        assert_eq!(r.peers, ["asyncio", "twisted"]);
        let config = r.config().unwrap();
        let started: Vec<(&str, bool)> = config
            .engines
            .iter()
            .map(|e| (e.label.as_str(), e.peer))
            .collect();
        assert_eq!(
            started,
            [("selector", false), ("asyncio", true), ("twisted", true)]
        );
        assert_eq!(config.engines[2], EngineSpec::peer("twisted"));
        // Peers alone are a run too; an unknown peer is refused with the choices.
        assert_eq!(
            form("peer=asyncio&workload=hello").unwrap().peers,
            ["asyncio"]
        );
        let refused = form("peer=apache&workload=hello").unwrap_err();
        assert!(refused.starts_with("peer:") && refused.contains("twisted-uvloop"));
        assert!(form("engine=nginx&workload=hello").is_err());
    }

    #[test]
    fn a_lessons_try_sets_its_knobs_and_stays_small() {
        let r = form(
            "lesson=db-wait&engines=threads%2C+pool&pool_workers=3&wait_ms=20&levels=1%2C+10&step_secs=1&workload=db-wait",
        );
        let r = r.unwrap();
        assert_eq!(r.lesson.as_deref(), Some("db-wait"));
        assert!(r.engines.contains(&"pool:workers=3".to_string()));
        let config = r.config().unwrap();
        assert_eq!(config.workloads[0].levels, [1, 10]);
        assert_eq!(config.workloads[0].request.wait_ms, 20);
        assert_eq!(config.workloads[0].trace_at, None);
        assert_eq!(r.live_page(7), "/runs/7/live?lesson=db-wait");
        // The async lesson is no judge's, but a try comes back to it all the same.
        let sync_style = form(
            "lesson=async-in-sync-style&engines=threads&levels=0,10&step_secs=1&workload=idle",
        );
        assert_eq!(
            sync_style.unwrap().lesson.as_deref(),
            Some("async-in-sync-style")
        );
        // The default stack adds nothing; another adds a variant beside the threads.
        let same = form(&format!(
            "lesson=thread-memory&engines=threads&stack_size={}&levels=0,10&step_secs=1&workload=idle",
            default_stack_size()
        ))
        .unwrap();
        assert_eq!(same.engines, ["threads"]);
        let other = form("lesson=thread-memory&engines=threads&stack_size=64KiB&levels=0,10&step_secs=1&workload=idle").unwrap();
        assert_eq!(other.engines.len(), 2);
    }

    #[test]
    fn a_lessons_try_refuses_each_field_by_name() {
        let base = "lesson=db-wait&engines=threads&workload=db-wait&step_secs=1";
        for (extra, says) in [
            ("&levels=1,2,3,4,5", "levels:"),
            ("&levels=10,1", "levels:"),
            ("&levels=1,x", "levels:"),
            ("&levels=1,50000", "levels:"),
            ("&wait_ms=lots", "wait (ms):"),
            ("&cpu_us=-1", "CPU per request (µs):"),
            ("&bytes=1e9", "bytes:"),
            ("&pool_workers=0", "pool workers:"),
            ("&stack_size=huge", "thread stack size:"),
            ("&step_secs=5", "seconds per step:"),
            ("&lesson=nope", "lesson:"),
        ] {
            let refused = form(&format!("{base}{extra}"))
                .and_then(|r| r.config().map(|_| r))
                .unwrap_err();
            assert!(refused.starts_with(says), "{extra}: {refused}");
        }
        let hello = form("lesson=db-wait&engines=threads&workload=hello&step_secs=1&wait_ms=5")
            .unwrap()
            .config()
            .unwrap_err();
        assert!(hello.starts_with("workload"), "{hello}");
        let long = form("lesson=db-wait&engines=threads,pool,selector,selector-offload,coroutines&workload=db-wait&step_secs=2&levels=1,2,3,4")
            .unwrap()
            .config()
            .unwrap_err();
        assert!(long.contains("beyond a lesson's cap"), "{long}");
    }

    #[test]
    fn a_run_longer_than_the_cap_is_refused() {
        let all = engines::ENGINES
            .iter()
            .map(|e| format!("engine={}", e.label))
            .chain(PRESETS.iter().map(|(n, _)| format!("workload={n}")))
            .collect::<Vec<_>>()
            .join("&");
        let request = form(&format!("{all}&suite=full&step_secs=10")).unwrap();
        assert!(
            request
                .config()
                .unwrap_err()
                .contains("beyond the dashboard's cap")
        );
    }
}
