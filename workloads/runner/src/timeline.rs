//! A run's traced windows (`workbench run --trace`): for each engine and workload, once, a
//! short load at the middle level on a fresh engine process started with `--trace FILE`.
//!
//! The measured steps are never traced: recording spans costs each one a clock read and a
//! lock, and the step's figures must not pay for it. So the traced window runs beside them,
//! on its own process, with the same load plan cut to a second — the engine's spans of that
//! second, cut again to [`MAX_SPANS`](wb_model::trace::MAX_SPANS), become the step's timeline.

use std::time::Duration;

use super::{Runner, STOP_GRACE, plan_for};
use crate::child::ServerProcess;
use wb_load as load;
use wb_model::results::{Calibration, EngineSpec};
use wb_model::spec::Workload;
use wb_model::trace::{MAX_SPANS, Trace, parse, window};

/// How long the traced load runs after its warm-up: a buffer of `wb_sys::trace::CAPACITY`
/// spans fills within it on a busy engine, and the window is cut from its middle anyway.
const TRACED_LOAD: Duration = Duration::from_secs(1);
/// The traced load's warm-up: connections opened, not measured.
const TRACED_WARMUP: Duration = Duration::from_millis(200);

/// The level a workload's trace is taken at: the middle one of its levels.
pub fn traced_level(workload: &Workload) -> Option<u64> {
    workload.levels.get(workload.levels.len() / 2).copied()
}

impl Runner {
    /// Asks every engine of the run (not the peers) what one connection holds in it, and
    /// reports each answer as [`RunEvent::EngineDescribed`](super::RunEvent::EngineDescribed).
    /// An engine that cannot say is logged and skipped: the run does not depend on it.
    pub(super) fn describe_engines(&self, observer: &mut dyn super::Observer) {
        for spec in self.config.engines.iter().filter(|spec| !spec.peer) {
            match wb_model::describe::describe(&self.exe, spec) {
                Ok(description) => observer.event(&super::RunEvent::EngineDescribed {
                    engine: &spec.label,
                    description: &description,
                }),
                Err(why) => tracing::warn!("no description of {}: {why}", spec.label),
            }
        }
    }

    /// Runs the traced window of `engine` on `workload` at `level`: starts the engine with
    /// `--trace FILE`, drives a short load at that level, stops it, and reads its spans.
    /// Peers cannot be traced (`Err` says so); a failure says what went wrong.
    pub(super) fn trace_window(
        &self,
        engine: &EngineSpec,
        workload: &Workload,
        level: u64,
        calibration: &Calibration,
        cpu: Option<usize>,
    ) -> Result<Trace, String> {
        if engine.peer {
            return Err(format!(
                "{} is a peer: only engines record spans",
                engine.label
            ));
        }
        let dir = tempfile::tempdir().map_err(|err| format!("no temporary directory: {err}"))?;
        let path = dir.path().join("trace.jsonl");
        let path_text = path.to_string_lossy().into_owned();
        let mut args: Vec<&str> = engine.args.iter().map(String::as_str).collect();
        args.extend(["--trace", &path_text]);
        let server = ServerProcess::spawn_on_cpu(&self.exe, &engine.engine, &args, cpu)
            .map_err(|err| format!("the traced {} did not start: {err}", engine.label))?;
        let mut plan = plan_for(workload, level, calibration, server.addr());
        plan.warmup = TRACED_WARMUP;
        plan.duration = TRACED_LOAD;
        let _ = load::run(&plan, &|_| {});
        server
            .terminate(STOP_GRACE)
            .map_err(|err| format!("stopping the traced {}: {err}", engine.label))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|err| format!("the traced {} wrote no trace: {err}", engine.label))?;
        let (spans, bad) = parse(&text);
        if bad > 0 {
            tracing::warn!("{bad} line(s) of {}'s trace did not parse", engine.label);
        }
        Ok(Trace {
            engine: engine.label.clone(),
            workload: workload.name.clone(),
            level,
            load_ms: (TRACED_WARMUP + TRACED_LOAD).as_millis() as u64,
            recorded: spans.len(),
            spans: window(spans, MAX_SPANS),
        })
    }
}
