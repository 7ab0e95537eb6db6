//! A run's traced windows (`workbench run --trace`): for each engine and workload, once, a
//! short load at the middle level on a fresh engine process started with `--trace FILE`,
//! here or on the engine's host.
//!
//! The measured steps are never traced: recording spans costs each one a clock read and a
//! lock, and the step's figures must not pay for it. So the traced window runs beside them,
//! on its own process, with the same load plan cut to a second — the engine's spans of that
//! second, cut again to [`MAX_SPANS`], become the step's timeline.

use std::time::Duration;

use wb_load::LoadPlan;
use wb_model::spec::Workload;
use wb_model::trace::{MAX_SPANS, Trace, parse, window};

use super::StepContext;

/// How long the traced load runs after its warm-up: a buffer of `wb_sys::trace::CAPACITY`
/// spans fills within it on a busy engine, and the window is cut from its middle anyway.
const TRACED_LOAD: Duration = Duration::from_secs(1);
/// The traced load's warm-up: connections opened, not measured.
const TRACED_WARMUP: Duration = Duration::from_millis(200);

/// The level a workload's trace is taken at: the one its suite chose
/// ([`Workload::trace_at`]), else the middle one of its levels.
pub fn traced_level(workload: &Workload) -> Option<u64> {
    workload.traced_level()
}

/// Whether a run traces `engine` on `workload`: every engine with `--trace` (`all`), else the
/// run's own engines on a workload its suite asks a timeline of.
pub fn traces(all: bool, workload: &Workload, engine: &wb_model::results::EngineSpec) -> bool {
    if engine.peer {
        return false;
    }
    all || (workload.trace_at.is_some()
        && !workload
            .extra_engines
            .iter()
            .any(|e| e.label == engine.label))
}

/// A level's plan cut to the traced window.
pub(super) fn traced_plan(mut plan: LoadPlan) -> LoadPlan {
    plan.warmup = TRACED_WARMUP;
    plan.duration = TRACED_LOAD;
    plan
}

/// The timeline of a traced window, from the JSON lines the engine wrote and the
/// connections the load generator held (`held`) when the traced load ended.
pub(super) fn trace_of(at: StepContext<'_>, text: &str, held: Option<u64>) -> Trace {
    let (spans, bad) = parse(text);
    if bad > 0 {
        tracing::warn!("{bad} line(s) of {}'s trace did not parse", at.engine.label);
    }
    Trace {
        engine: at.engine.label.clone(),
        workload: at.workload.name.clone(),
        level: at.level,
        load_ms: (TRACED_WARMUP + TRACED_LOAD).as_millis() as u64,
        recorded: spans.len(),
        spans: window(spans, MAX_SPANS),
        client_connections: held,
    }
}
