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
use wb_model::spec::{PRESETS, SUITE_NAMES, Suite, Workload};
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
                "peer" => {
                    let Some(peer) = peers::find(value) else {
                        return Err(format!(
                            "peer: {value:?} is not a peer; choose from {}",
                            peer_names()
                        ));
                    };
                    if !request.peers.iter().any(|p| p == peer.name) {
                        request.peers.push(peer.name.to_string());
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
