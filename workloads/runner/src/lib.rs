//! The runner: every engine × every workload × every level, measured the same way, on this
//! machine or on hosts.
//!
//! This crate is where the workbench touches processes and the kernel: it starts engines and
//! peers as children ([`child`], [`peers`]), runs commands on other hosts through a prefix
//! ([`hosts`]), reads `/proc` while a step runs ([`sampler`]), records what the run was measured
//! on ([`machine`]) and times the CPU kernel ([`calibration`]). The data it produces is
//! [`wb_model`]'s; the load it applies is [`wb_load`]'s.
//!
//!
//! For each workload, each repeat and each engine — in that order, so that repeats interleave
//! across engines (A B C A B C …) and drift in the machine hits every engine alike — the
//! runner starts a fresh `workbench engine <name>` child (a new process per workload and
//! repeat, so one workload's memory never shows up in the next), places it and the load
//! generator on CPUs as the workload's [`Placement`](wb_model::spec::Placement) says, then for each level: starts the [sampler] on the engine's process tree, runs the
//! [load generator](wb_load) (warm-up, then the measured window), stops the sampler and
//! derives the step's figures and flags. The engine is stopped with SIGTERM and killed only
//! if it does not exit.
//!
//! The runner knows nothing of SQLite, terminals or browsers. It reports each event of a run
//! to an [`Observer`]: the store, the progress bars and the dashboard's live page are three
//! observers of the same stream, so a new front end never touches this module.
//!
//! A failed engine fails its steps, with the reason, and the run goes on with the next
//! workload (and a fresh engine process). A cancel (Ctrl-C, the dashboard's button) is
//! honoured between steps; the run then ends `interrupted`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use crate::calibration::calibrate;
use wb_load::{self as load, Expectation, LoadPlan};
use wb_model::describe::Description;
pub use wb_model::figures::{CLIENT_SATURATED_CORES, LITTLES_LAW_TOLERANCE, derive, flags_for};
use wb_model::results::{
    Calibration, EngineFacts, EngineSpec, MachineFacts, RunConfig, RunStatus, StepResult,
};
use wb_model::spec::{Route, Workload};

pub use wb_model::events::{Observer, RunEvent};
pub use wb_model::figures::SAMPLE_INTERVAL;
pub use wb_model::spec::effective_placement;

pub mod calibration;
pub mod child;
pub mod hosts;
pub mod machine;
pub mod peers;
pub mod sampler;

mod local;
pub use local::describe;
mod on_hosts;
pub use on_hosts::RemoteHosts;
mod timeline;
pub use timeline::traced_level;

/// How long an engine may take to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Completed, failed or interrupted.
    pub status: RunStatus,
    /// Steps that failed (their engine died or would not start).
    pub failed_steps: usize,
    /// Steps measured.
    pub steps: usize,
    /// Why, when not completed.
    pub message: Option<String>,
}

/// Why a peer cannot serve a workload, if it cannot (nginx serves `/hello` only).
pub fn not_supported(spec: &EngineSpec, workload: &Workload) -> Option<String> {
    // An engine this machine's kernel cannot run (io_uring missing, switched off or
    // filtered) is not one that failed: its steps say so, whatever the workload.
    if !spec.peer && spec.engine == "uring" {
        return wb_sys::uring::available().err();
    }
    let def = peers::find(&spec.engine).filter(|_| spec.peer)?;
    let route = match workload.request.route {
        Route::Hello => return None,
        Route::Work => "/work",
        Route::Count => "/count",
        Route::Db | Route::Queries => {
            return def.database.is_none().then(|| {
                format!(
                    "{} has no database client; this workload needs /db or /queries \
                     (asyncio, twisted and gunicorn-sync have one)",
                    def.name
                )
            });
        }
    };
    (!def.supports_work).then(|| {
        format!(
            "{} serves /hello only; this workload needs {route}",
            def.name
        )
    })
}

/// Runs a [`RunConfig`].
#[derive(Debug, Clone)]
pub struct Runner {
    /// The `workbench` executable, started as `workbench engine <name>`.
    pub exe: PathBuf,
    /// What to run.
    pub config: RunConfig,
    /// Machine facts to record (see [`machine::collect`]).
    pub machine: MachineFacts,
    /// Set it to stop the run after the current step.
    pub cancel: Arc<AtomicBool>,
    /// Also record a timeline per engine and workload: a short traced window at the middle
    /// level, on a fresh engine process started with `--trace` (see `runner/trace.rs`),
    /// reported as [`RunEvent::StepTraced`]. The measured steps are never traced.
    pub trace: bool,
}

/// Where a run's processes go: this machine ([`local::Local`]) or other hosts through their
/// command prefixes ([`on_hosts::Hosts`]). The step loop ([`Runner::run_workload`]) is one;
/// a site says only how to start, measure, describe, trace and stop an engine there.
trait Site {
    /// A started engine (or peer), as this site holds it.
    type Server;
    /// Places the load generator and the engine for `workload` (CPUs, on this machine).
    fn place(&mut self, runner: &Runner, workload: &Workload);
    /// Why `workload` cannot be measured here at all, if it cannot: a database workload
    /// without PostgreSQL ("no data: install postgresql"). Its steps are recorded as not
    /// measured, as a peer's unsupported route is, and the run goes on.
    fn unavailable(&self, workload: &Workload) -> Option<String> {
        let _ = workload;
        None
    }
    /// Starts `engine` for one workload; `Err` says why it did not start.
    fn start(&self, runner: &Runner, engine: &EngineSpec) -> Result<Self::Server, String>;
    /// Why `server` is no longer running, if it is not.
    fn exited(&self, server: &mut Self::Server) -> Option<String>;
    /// The configuration `server` stated in its ready line, stored with each of its steps.
    fn facts(&self, server: &Self::Server) -> Option<EngineFacts>;
    /// Measures one level against `server`.
    fn measure(
        &self,
        step: StepContext<'_>,
        server: &mut Self::Server,
        observer: &mut dyn Observer,
    ) -> StepResult;
    /// Stops `server`: SIGTERM, SIGKILL after the grace.
    fn stop(&self, server: Self::Server, engine: &EngineSpec);
    /// What one connection holds in `engine`, as the engine itself measures it (`--describe`).
    fn describe(&self, runner: &Runner, engine: &EngineSpec) -> Result<Description, String>;
    /// A short traced window of `engine` at one level, on a fresh process started with
    /// `--trace FILE`: the JSON lines of its spans, and the connections the load generator
    /// held open when its load ended.
    fn trace_window(&self, step: StepContext<'_>) -> Result<(String, Option<u64>), String>;
}

/// One level to measure: what every site needs to know about it.
#[derive(Clone, Copy)]
struct StepContext<'a> {
    runner: &'a Runner,
    engine: &'a EngineSpec,
    workload: &'a Workload,
    level: u64,
    calibration: &'a Calibration,
}

impl StepContext<'_> {
    /// The load generator's plan for this level against `target`.
    fn plan(&self, target: std::net::SocketAddr) -> LoadPlan {
        plan_for(self.workload, self.level, self.calibration, target)
    }

    /// A step that measured nothing, and why.
    fn failed(&self, why: String) -> StepResult {
        StepResult::failed(&self.engine.label, self.workload, self.level, why)
    }

    /// A step that measured `load` and `samples` (its figures derived by
    /// [`StepResult::measured`]), wherever it ran.
    fn measured(
        &self,
        load: wb_model::results::LoadReport,
        samples: Vec<wb_model::results::Sample>,
        warmup_ms: u64,
        client: Option<wb_model::figures::ClientCpu>,
        failure: Option<String>,
    ) -> StepResult {
        StepResult::measured(wb_model::figures::Measured {
            engine: &self.engine.label,
            workload: &self.workload.name,
            mode: self.workload.mode,
            level: self.level,
            load,
            samples,
            warmup_ms,
            client,
            failure,
        })
    }
}

impl Runner {
    /// Runs every step, reporting to `observer`. Blocks until the run ends.
    pub fn run(&self, observer: &mut dyn Observer) -> RunOutcome {
        // Counted once, before any placement: a thread pinned to half the CPUs would count
        // only that half afterwards.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.run_at(
            &mut local::Local::new(cores),
            self.machine.clone(),
            observer,
        )
    }

    /// Runs every step with the engine and the load generators on other hosts
    /// ([`RemoteHosts`], checked by [`RemoteHosts::connect`]), reporting to `observer` as
    /// [`Runner::run`] does. The run's machine facts carry every host's.
    pub fn run_remote(&self, hosts: &RemoteHosts, observer: &mut dyn Observer) -> RunOutcome {
        let mut machine = self.machine.clone();
        machine.hosts = hosts.facts.clone();
        self.run_at(&mut on_hosts::Hosts(hosts), machine, observer)
    }

    /// The one step loop: every workload, repeat and engine, at `site`.
    fn run_at<S: Site>(
        &self,
        site: &mut S,
        machine: MachineFacts,
        observer: &mut dyn Observer,
    ) -> RunOutcome {
        let calibration = calibrate();
        observer.event(&RunEvent::RunStarted {
            config: &self.config,
            machine: &machine,
            calibration: &calibration,
        });
        self.describe_engines(site, observer);
        let total = self.config.total_steps();
        let mut index = 0;
        let mut failed_steps = 0;
        let interrupted = |observer: &mut dyn Observer, index, failed_steps| {
            finish(
                observer,
                RunStatus::Interrupted,
                index,
                failed_steps,
                "cancelled",
            )
        };
        for workload in &self.config.workloads {
            site.place(self, workload);
            // The run's engines, and the workload's own (a suite's stack-size sweep).
            let engines = workload.engines_in(&self.config.engines);
            for repeat in 0..self.config.repeat.max(1) {
                for engine in &engines {
                    if self.cancelled() {
                        return interrupted(observer, index, failed_steps);
                    }
                    let at = Position {
                        first_index: index,
                        total,
                        repeat,
                    };
                    let steps =
                        self.run_workload(site, engine, workload, &calibration, at, observer);
                    failed_steps += steps.iter().filter(|s| s.failure.is_some()).count();
                    index += steps.len();
                }
            }
        }
        if self.cancelled() && index < total {
            return interrupted(observer, index, failed_steps);
        }
        let message = (failed_steps > 0).then(|| format!("{failed_steps} step(s) failed"));
        observer.event(&RunEvent::RunFinished {
            status: RunStatus::Completed,
            message: message.as_deref(),
        });
        RunOutcome {
            status: RunStatus::Completed,
            failed_steps,
            steps: index,
            message,
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Asks every engine of the run (not the peers) what one connection holds in it, and
    /// reports each answer as [`RunEvent::EngineDescribed`]. An engine that cannot say is
    /// logged and skipped: the run does not depend on it.
    fn describe_engines<S: Site>(&self, site: &S, observer: &mut dyn Observer) {
        for spec in self.config.engines.iter().filter(|spec| !spec.peer) {
            match site.describe(self, spec) {
                Ok(description) => observer.event(&RunEvent::EngineDescribed {
                    engine: &spec.label,
                    description: &description,
                }),
                Err(why) => tracing::warn!("no description of {}: {why}", spec.label),
            }
        }
    }

    /// One engine process, every level of one workload, at `site`.
    fn run_workload<S: Site>(
        &self,
        site: &S,
        engine: &EngineSpec,
        workload: &Workload,
        calibration: &Calibration,
        at: Position,
        observer: &mut dyn Observer,
    ) -> Vec<StepResult> {
        if let Some(why) = not_supported(engine, workload).or_else(|| site.unavailable(workload)) {
            return self.unsupported_steps(engine, workload, &why, at, observer);
        }
        let mut server = site
            .start(self, engine)
            .inspect_err(|why| tracing::warn!("{why}"));
        let mut steps = Vec::new();
        for (i, &level) in workload.levels.iter().enumerate() {
            if i > 0 && self.cancelled() {
                break;
            }
            let index = at.first_index + i;
            observer.event(&RunEvent::StepStarted {
                index,
                total: at.total,
                engine: &engine.label,
                workload,
                level,
            });
            let step_at = StepContext {
                runner: self,
                engine,
                workload,
                level,
                calibration,
            };
            let mut step = match server.as_mut() {
                Ok(server) => match site.exited(server) {
                    None => site.measure(step_at, server, observer),
                    Some(why) => step_at.failed(why),
                },
                Err(why) => step_at.failed(why.clone()),
            };
            step.repeat = at.repeat;
            // What this step's engine process said it runs with: the facts every ceiling
            // and sentence about the step reads, per step since each workload has its own
            // process (and placement).
            step.facts = server.as_ref().ok().and_then(|server| site.facts(server));
            observer.event(&RunEvent::StepFinished {
                index,
                total: at.total,
                step: &step,
            });
            if at.repeat == 0
                && traced_level(workload) == Some(level)
                && timeline::traces(self.trace, workload, engine)
            {
                match site
                    .trace_window(step_at)
                    .map(|(text, held)| timeline::trace_of(step_at, &text, held))
                {
                    Ok(trace) => observer.event(&RunEvent::StepTraced { trace: &trace }),
                    Err(why) => tracing::warn!("no timeline for {}: {why}", engine.label),
                }
            }
            steps.push(step);
        }
        if let Ok(server) = server {
            site.stop(server, engine);
        }
        steps
    }

    /// Steps that record, level by level, that a peer cannot serve this workload.
    fn unsupported_steps(
        &self,
        engine: &EngineSpec,
        workload: &Workload,
        why: &str,
        at: Position,
        observer: &mut dyn Observer,
    ) -> Vec<StepResult> {
        let Position {
            first_index, total, ..
        } = at;
        let mut steps = Vec::new();
        for (i, &level) in workload.levels.iter().enumerate() {
            let mut step = StepResult::failed(&engine.label, workload, level, String::new());
            step.repeat = at.repeat;
            step.failure = None;
            step.flags.not_supported = Some(why.to_string());
            observer.event(&RunEvent::StepStarted {
                index: first_index + i,
                total,
                engine: &engine.label,
                workload,
                level,
            });
            observer.event(&RunEvent::StepFinished {
                index: first_index + i,
                total,
                step: &step,
            });
            steps.push(step);
        }
        steps
    }
}

/// Where a workload's steps stand in the run: the index of its first step, the run's total,
/// and which repeat this is.
#[derive(Debug, Clone, Copy)]
struct Position {
    first_index: usize,
    total: usize,
    repeat: u32,
}

fn finish(
    observer: &mut dyn Observer,
    status: RunStatus,
    steps: usize,
    failed_steps: usize,
    message: &str,
) -> RunOutcome {
    observer.event(&RunEvent::RunFinished {
        status,
        message: Some(message),
    });
    RunOutcome {
        status,
        failed_steps,
        steps,
        message: Some(message.to_string()),
    }
}

/// The load generator's instructions for one level.
pub fn plan_for(
    workload: &Workload,
    level: u64,
    calibration: &Calibration,
    target: std::net::SocketAddr,
) -> LoadPlan {
    let request = &workload.request;
    let expect = Expectation::for_request(request, calibration.rounds_per_us);
    LoadPlan {
        target,
        mode: workload.mode,
        level,
        request_target: request.target(calibration.rounds_per_us),
        expect,
        warmup: Duration::from_secs_f64(workload.warmup_secs),
        duration: Duration::from_secs_f64(workload.step_secs),
        max_connections: workload.max_connections(),
        read_rate: workload.read_rate.unwrap_or(0),
        send_interval: Duration::from_millis(workload.send_interval_ms.unwrap_or(100)),
        active: workload.active_connections.unwrap_or(0),
        method: "GET".into(),
        headers: Vec::new(),
        body: Vec::new(),
        timeout: load::REQUEST_TIMEOUT,
        // As many generator threads as the CPUs the generator may use: with split
        // placement its half (it is pinned there before the step), shared, all of them.
        threads: 0,
        max_requests: None,
        expect_status: None,
        pipeline: 1,
        disable_keepalive: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_workloads_need_a_peer_with_a_database_client() {
        let (db, hello) = (
            Workload::load("db").unwrap(),
            Workload::load("hello").unwrap(),
        );
        for peer in ["asyncio", "twisted", "gunicorn-sync"] {
            assert_eq!(not_supported(&EngineSpec::peer(peer), &db), None, "{peer}");
        }
        let why = not_supported(&EngineSpec::peer("tornado"), &db).expect("not supported");
        assert!(why.contains("tornado has no database client"), "{why}");
        assert_eq!(not_supported(&EngineSpec::peer("tornado"), &hello), None);
        assert!(not_supported(&EngineSpec::peer("nginx"), &db).is_some());
    }

    #[test]
    fn plans_carry_the_expected_digest() {
        let workload = Workload::load("cpu").unwrap();
        let calibration = Calibration {
            rounds_per_us: 2.0,
            ..Calibration::default()
        };
        let plan = plan_for(&workload, 4, &calibration, "127.0.0.1:1".parse().unwrap());
        assert_eq!(
            plan.request_target,
            "/work?wait_ms=0&cpu_rounds=1000&bytes=0"
        );
        assert_eq!(
            plan.expect.digest(),
            Some(wb_protocol::kernel::work_digest(1000).as_str())
        );
        assert_eq!(plan.level, 4);
    }
}
