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
use crate::child::ServerProcess;
use crate::peers::PeerLaunch;
use crate::sampler::Sampler;
use wb_load::{self as load, Expectation, LoadPlan};
pub use wb_model::figures::{CLIENT_SATURATED_CORES, LITTLES_LAW_TOLERANCE, derive, flags_for};
use wb_model::results::{
    Calibration, Derived, EngineSpec, Flags, LoadReport, MachineFacts, RunConfig, RunStatus,
    StepResult,
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

/// Starts `spec`, an engine or a peer (on `cpu` if pinned): the runner treats both alike.
fn start_server(
    exe: &std::path::Path,
    spec: &EngineSpec,
    cpu: Option<usize>,
) -> std::io::Result<ServerProcess> {
    if spec.peer {
        let def = peers::find(&spec.engine)
            .ok_or_else(|| std::io::Error::other(format!("no peer named {}", spec.engine)))?;
        def.readiness().map_err(std::io::Error::other)?;
        return def.spawn(0, cpu);
    }
    let args: Vec<&str> = spec.args.iter().map(String::as_str).collect();
    ServerProcess::spawn_on_cpu(exe, &spec.engine, &args, cpu)
}

/// Why a peer cannot serve a workload, if it cannot (nginx serves `/hello` only).
pub fn not_supported(spec: &EngineSpec, workload: &Workload) -> Option<String> {
    let def = peers::find(&spec.engine).filter(|_| spec.peer)?;
    (!def.supports_work && workload.request.route == Route::Work)
        .then(|| format!("{} serves /hello only; this workload needs /work", def.name))
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

impl Runner {
    /// Runs every step, reporting to `observer`. Blocks until the run ends.
    pub fn run(&self, observer: &mut dyn Observer) -> RunOutcome {
        self.run_on(None, observer)
    }

    /// Runs every step with the engine and the load generators on other hosts
    /// ([`RemoteHosts`], checked by [`RemoteHosts::connect`]), reporting to `observer` as
    /// [`Runner::run`] does. The run's machine facts carry every host's.
    pub fn run_remote(&self, hosts: &RemoteHosts, observer: &mut dyn Observer) -> RunOutcome {
        self.run_on(Some(hosts), observer)
    }

    fn run_on(&self, hosts: Option<&RemoteHosts>, observer: &mut dyn Observer) -> RunOutcome {
        let calibration = calibrate();
        let mut machine = self.machine.clone();
        if let Some(hosts) = hosts {
            machine.hosts = hosts.facts.clone();
        }
        observer.event(&RunEvent::RunStarted {
            config: &self.config,
            machine: &machine,
            calibration: &calibration,
        });
        if hosts.is_none() {
            self.describe_engines(observer);
        }
        let total = self.config.total_steps();
        let mut index = 0;
        let mut failed_steps = 0;
        // Counted once, before any placement: a thread pinned to half the CPUs would count
        // only that half afterwards.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for workload in &self.config.workloads {
            // On other hosts, placement is theirs: nothing here to pin.
            let cpus = match hosts {
                None => self.placement(workload, cores),
                Some(_) => None,
            };
            for repeat in 0..self.config.repeat.max(1) {
                for engine in &self.config.engines {
                    if self.cancelled() {
                        return finish(
                            observer,
                            RunStatus::Interrupted,
                            index,
                            failed_steps,
                            "cancelled",
                        );
                    }
                    let at = Position {
                        first_index: index,
                        total,
                        repeat,
                    };
                    let steps = match hosts {
                        None => {
                            self.run_workload(engine, workload, &calibration, at, &cpus, observer)
                        }
                        Some(hosts) => self.run_workload_remote(
                            hosts,
                            engine,
                            workload,
                            &calibration,
                            at,
                            observer,
                        ),
                    };
                    failed_steps += steps.iter().filter(|s| s.failure.is_some()).count();
                    index += steps.len();
                }
            }
        }
        if self.cancelled() && index < total {
            return finish(
                observer,
                RunStatus::Interrupted,
                index,
                failed_steps,
                "cancelled",
            );
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

    /// Places this thread (and so the load generator, which runs on a thread it starts) for
    /// `workload`, and returns the engine's CPU: the workload's [`Placement`], or the run's
    /// `--placement` (`--pin` is split), on this machine's `cores` CPUs. An engine started
    /// without a CPU inherits this thread's placement: every CPU, when shared.
    fn placement(&self, workload: &Workload, cores: usize) -> Option<usize> {
        let placement = effective_placement(&self.config, workload);
        let all = 0..cores;
        let (engine, client) = match placement.cpus(cores) {
            Some((engine, client)) => (Some(engine), client),
            None => (None, all),
        };
        if let Err(err) = crate::child::pin_thread_to(client.clone()) {
            tracing::warn!("cannot place the load generator on CPUs {client:?}: {err}");
        }
        // The engine crates take one CPU; on this project's 2-core machines that is the
        // whole first half. With more CPUs the engine gets the first CPU of its half.
        engine.map(|cpus| cpus.start)
    }

    /// One engine process, every level of one workload.
    fn run_workload(
        &self,
        engine: &EngineSpec,
        workload: &Workload,
        calibration: &Calibration,
        at: Position,
        cpu: &Option<usize>,
        observer: &mut dyn Observer,
    ) -> Vec<StepResult> {
        let Position {
            first_index,
            total,
            repeat,
        } = at;
        let cpu = *cpu;
        if let Some(why) = not_supported(engine, workload) {
            return self.unsupported_steps(engine, workload, &why, at, observer);
        }
        let mut server = match start_server(&self.exe, engine, cpu) {
            Ok(server) => Some(server),
            Err(err) => {
                tracing::warn!("{} did not start: {err}", engine.label);
                None
            }
        };
        let start_failure = server
            .is_none()
            .then(|| format!("the {} engine did not start", engine.label));
        let mut steps = Vec::new();
        for (i, &level) in workload.levels.iter().enumerate() {
            if i > 0 && self.cancelled() {
                break;
            }
            let index = first_index + i;
            observer.event(&RunEvent::StepStarted {
                index,
                total,
                engine: &engine.label,
                workload,
                level,
            });
            let mut step = match server.as_mut() {
                Some(process) => {
                    if process.is_running() {
                        self.run_step(process, engine, workload, level, calibration, observer)
                    } else {
                        let why = format!("the engine had exited ({})", process.exit_description());
                        failed_step(engine, workload, level, why)
                    }
                }
                None => failed_step(
                    engine,
                    workload,
                    level,
                    start_failure.clone().unwrap_or_default(),
                ),
            };
            step.repeat = repeat;
            observer.event(&RunEvent::StepFinished {
                index,
                total,
                step: &step,
            });
            if self.trace && repeat == 0 && traced_level(workload) == Some(level) && !engine.peer {
                match self.trace_window(engine, workload, level, calibration, cpu) {
                    Ok(trace) => observer.event(&RunEvent::StepTraced { trace: &trace }),
                    Err(why) => tracing::warn!("no timeline for {}: {why}", engine.label),
                }
            }
            steps.push(step);
        }
        if let Some(server) = server {
            match server.terminate(STOP_GRACE) {
                Ok(stopped) if stopped.killed => {
                    tracing::warn!("engine {} ignored SIGTERM and was killed", engine.label)
                }
                Ok(stopped) if !stopped.status.success() => {
                    tracing::warn!("engine {} exited with {}", engine.label, stopped.status)
                }
                Ok(_) => {}
                Err(err) => tracing::warn!("stopping engine {}: {err}", engine.label),
            }
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
            let mut step = failed_step(engine, workload, level, String::new());
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

    fn run_step(
        &self,
        server: &mut ServerProcess,
        engine: &EngineSpec,
        workload: &Workload,
        level: u64,
        calibration: &Calibration,
        observer: &mut dyn Observer,
    ) -> StepResult {
        let plan = plan_for(workload, level, calibration, server.addr());
        let sampler = Sampler::start(server.pid(), SAMPLE_INTERVAL);
        let (tx, rx) = std::sync::mpsc::channel::<f64>();
        let progress = move |fraction: f64| {
            let _ = tx.send(fraction);
        };
        // The load runs on a scoped thread (which inherits this thread's CPU affinity, so
        // `--pin` holds); its progress comes back through the channel and is passed on here,
        // since observers need not be thread-safe.
        let report = std::thread::scope(|scope| {
            let worker = scope.spawn(|| load::run(&plan, &progress));
            while !worker.is_finished() {
                if let Ok(fraction) = rx.recv_timeout(Duration::from_millis(100)) {
                    observer.event(&RunEvent::StepProgress { fraction });
                }
            }
            worker.join()
        });
        let samples = sampler.stop();
        let alive = server.is_running();
        let report = match report {
            Ok(report) => report,
            Err(_) => LoadReport {
                not_reached: Some("the load generator panicked".into()),
                ..LoadReport::default()
            },
        };
        let warmup_ms = plan.warmup.as_millis() as u64;
        let derived = derive(&report, &samples, warmup_ms);
        let estimates = wb_model::spread::estimates(&derived, &report, &samples);
        let flags = flags_for(workload.mode, level, &report, &derived);
        StepResult {
            engine: engine.label.clone(),
            workload: workload.name.clone(),
            mode: workload.mode,
            level,
            load: report,
            samples,
            derived,
            flags,
            failure: (!alive).then(|| {
                format!(
                    "the engine exited during the step ({})",
                    server.exit_description()
                )
            }),
            estimates,
            repeat: 0,
        }
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

fn failed_step(engine: &EngineSpec, workload: &Workload, level: u64, why: String) -> StepResult {
    StepResult {
        engine: engine.label.clone(),
        workload: workload.name.clone(),
        mode: workload.mode,
        level,
        load: LoadReport::default(),
        samples: Vec::new(),
        derived: Derived::default(),
        flags: Flags::default(),
        failure: Some(why),
        estimates: Default::default(),
        repeat: 0,
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
        method: "GET".into(),
        headers: Vec::new(),
        body: Vec::new(),
        timeout: load::REQUEST_TIMEOUT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
