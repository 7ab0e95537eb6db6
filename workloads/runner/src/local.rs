//! The runner on this machine: engines and peers as child processes, the load generator on a
//! thread of this process, the sampler reading `/proc` here.
//!
//! Placement happens here too: the workload's [`Placement`](wb_model::spec::Placement) (or
//! the run's `--placement`) pins the runner's thread, and so the load generator it starts, to
//! the upper half of the CPUs and the engine to the lower half (split), or leaves both on
//! every CPU (shared).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wb_model::describe::{Description, parse};
use wb_model::results::{EngineFacts, EngineSpec, LoadReport, StepResult};
use wb_model::spec::{Route, Workload};

use super::{
    Observer, RunEvent, Runner, SAMPLE_INTERVAL, STOP_GRACE, Site, StepContext,
    effective_placement, load,
};
use crate::child::ServerProcess;
use crate::peers::{self, PeerLaunch};
use crate::sampler::Sampler;

/// How long `--describe` may take: it serves one request on loopback, milliseconds.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after a count step's last wait the counter is read again: the requests still in
/// flight when the load stopped write (or give up) within their wait and this.
const COUNTER_SETTLE: Duration = Duration::from_millis(200);

/// This machine, with its CPUs counted once, before any pinning.
pub(super) struct Local {
    /// The CPUs of the machine (a thread pinned to half would count only that half).
    cores: usize,
    /// The engine's CPU for the current workload (`None`: every CPU).
    cpu: Option<usize>,
    /// The workbench's PostgreSQL, from the first database workload on: found running (and
    /// left so), or started for this run and stopped when the run ends (this `Local` is
    /// dropped), or why it could not be had.
    database: Option<Result<wb_database::Database, String>>,
    /// Whether the current workload reads the database (its engines get `--db-url`).
    needs_database: bool,
}

impl Local {
    pub(super) fn new(cores: usize) -> Local {
        Local {
            cores,
            cpu: None,
            database: None,
            needs_database: false,
        }
    }

    /// The database the current workload reads, if it reads one and it is up.
    fn database(&self) -> Option<&wb_database::Database> {
        match &self.database {
            Some(Ok(database)) if self.needs_database => Some(database),
            _ => None,
        }
    }

    /// An engine's arguments: its own, then `--db-url` when the workload reads the database.
    fn engine_args<'a>(&'a self, spec: &'a EngineSpec, url: &'a Option<String>) -> Vec<&'a str> {
        let mut args: Vec<&str> = spec.args.iter().map(String::as_str).collect();
        if let Some(url) = url {
            args.extend(["--db-url", url]);
        }
        args
    }
}

impl Site for Local {
    type Server = ServerProcess;

    /// Places this thread (and so the load generator, which runs on a thread it starts) for
    /// `workload`, and keeps the engine's CPU. An engine started without a CPU inherits this
    /// thread's placement: every CPU, when shared.
    fn place(&mut self, runner: &Runner, workload: &Workload) {
        self.needs_database = workload.request.route.needs_database();
        if self.needs_database && self.database.is_none() {
            // Before this thread is pinned: the server takes every CPU whatever this thread's
            // placement (see wb_database's start).
            let dir = wb_database::default_dir();
            self.database = Some(
                wb_database::up(&dir, wb_database::Lifetime::Owned).map_err(|err| err.to_string()),
            );
            if let Some(Err(why)) = &self.database {
                tracing::warn!("{why}");
            }
        }
        let placement = effective_placement(&runner.config, workload);
        let all = 0..self.cores;
        let (engine, client) = match placement.cpus(self.cores) {
            Some((engine, client)) => (Some(engine), client),
            None => (None, all),
        };
        if let Err(err) = crate::child::pin_thread_to(client.clone()) {
            tracing::warn!("cannot place the load generator on CPUs {client:?}: {err}");
        }
        // The engine crates take one CPU; on this project's 2-core machines that is the
        // whole first half. With more CPUs the engine gets the first CPU of its half.
        self.cpu = engine.map(|cpus| cpus.start);
    }

    fn unavailable(&self, workload: &Workload) -> Option<String> {
        match &self.database {
            Some(Err(why)) if workload.request.route.needs_database() => Some(why.clone()),
            _ => None,
        }
    }

    /// Starts `spec`, an engine or a peer (on the placed CPU, if any): both alike.
    fn start(&self, runner: &Runner, spec: &EngineSpec) -> Result<ServerProcess, String> {
        let started = if spec.peer {
            peers::find(&spec.engine)
                .ok_or_else(|| format!("no peer named {}", spec.engine))
                .and_then(|def| {
                    def.readiness()?;
                    // A database workload: the peer's driver, and the database in its
                    // environment (engines get it as --db-url).
                    let url = self.database().map(wb_database::Database::conninfo);
                    if url.is_some() {
                        def.database_readiness()?;
                    }
                    def.spawn_with_database(0, self.cpu, url.as_deref())
                        .map_err(|err| err.to_string())
                })
        } else {
            let url = self.database().map(wb_database::Database::conninfo);
            let args = self.engine_args(spec, &url);
            ServerProcess::spawn_counted(&runner.exe, &spec.engine, &args, self.cpu)
                .map_err(|err| err.to_string())
        };
        started.map_err(|err| format!("the {} engine did not start: {err}", spec.label))
    }

    fn exited(&self, server: &mut ServerProcess) -> Option<String> {
        (!server.is_running())
            .then(|| format!("the engine had exited ({})", server.exit_description()))
    }

    fn facts(&self, server: &ServerProcess) -> Option<EngineFacts> {
        server.ready().facts.clone()
    }

    fn measure(
        &self,
        at: StepContext<'_>,
        server: &mut ServerProcess,
        observer: &mut dyn Observer,
    ) -> StepResult {
        let plan = at.plan(server.addr());
        // A count workload: the counter before the step (see `counter_growth` below).
        let counting = at.workload.request.route == Route::Count;
        let before = counting
            .then(|| load::counter::read(server.addr()))
            .and_then(|read| {
                read.inspect_err(|err| tracing::warn!("GET /count: {err}"))
                    .ok()
            });
        // The engine's own count of its system calls, read when the warm-up ends and every
        // window after (the load report's windows, on the same clock): the calls of the
        // measured window against its answers, window by window for the spread.
        let counted = server.syscalls().is_some().then(|| {
            let (warmup, duration) = (plan.warmup, plan.duration);
            let read = {
                let path = server.run_dir().map(Path::to_path_buf);
                move || {
                    path.as_deref()
                        .and_then(|dir| wb_sys::syscalls::read(&dir.join("syscalls")).ok())
                        .flatten()
                }
            };
            let start = Instant::now();
            std::thread::spawn(move || {
                let end = start + warmup + duration;
                std::thread::sleep(warmup);
                let mut readings = Vec::new();
                loop {
                    let now = Instant::now();
                    if let Some(counts) = read() {
                        readings.push((now.duration_since(start).as_millis() as u64, counts));
                    }
                    if now >= end {
                        return readings;
                    }
                    let window = Duration::from_millis(wb_model::results::WINDOW_MS);
                    std::thread::sleep(window.min(end - now));
                }
            })
        });
        let sampler = Sampler::start(server.pid(), SAMPLE_INTERVAL);
        // The database's process tree, sampled like the engine's and on the same clock
        // (both samplers start together), so its CPU stands beside the engine's.
        let database_sampler = self
            .database()
            .map(|database| Sampler::start(database.pid(), SAMPLE_INTERVAL));
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
        let database_samples = database_sampler.map(Sampler::stop);
        let alive = server.is_running();
        let report = report.unwrap_or_else(|_| LoadReport {
            not_reached: Some("the load generator panicked".into()),
            ..LoadReport::default()
        });
        // The counter after the step, once every wait still in flight is over: its growth
        // against the answers gives the lost updates (StepResult::lost_updates).
        let counter_growth = before.and_then(|before| {
            std::thread::sleep(Duration::from_millis(at.workload.request.wait_ms) + COUNTER_SETTLE);
            let after = load::counter::read(server.addr())
                .inspect_err(|err| tracing::warn!("GET /count: {err}"))
                .ok()?;
            Some(after.saturating_sub(before))
        });
        let failure = (!alive).then(|| {
            format!(
                "the engine exited during the step ({})",
                server.exit_description()
            )
        });
        let mut step = at.measured(
            report,
            samples,
            plan.warmup.as_millis() as u64,
            None,
            failure,
        );
        step.derived.counter_growth = counter_growth;
        if let Some(database_samples) = database_samples {
            wb_model::figures::add_database(
                &mut step,
                &database_samples,
                plan.warmup.as_millis() as u64,
            );
        }
        step.syscalls = counted
            .and_then(|reader| reader.join().ok())
            .and_then(|readings| syscalls_between(&readings, step.load.completed));
        step
    }

    fn stop(&self, server: ServerProcess, engine: &EngineSpec) {
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

    fn describe(&self, runner: &Runner, spec: &EngineSpec) -> Result<Description, String> {
        describe(&runner.exe, spec)
    }

    /// Starts the engine with `--trace FILE`, drives a short load at the level, stops it,
    /// and reads the file.
    fn trace_window(&self, at: StepContext<'_>) -> Result<(String, Option<u64>), String> {
        let engine = at.engine;
        let dir = tempfile::tempdir().map_err(|err| format!("no temporary directory: {err}"))?;
        let path = dir.path().join("trace.jsonl");
        let path_text = path.to_string_lossy().into_owned();
        let url = self.database().map(wb_database::Database::conninfo);
        let mut args = self.engine_args(engine, &url);
        args.extend(["--trace", &path_text]);
        let server = ServerProcess::spawn_on_cpu(&at.runner.exe, &engine.engine, &args, self.cpu)
            .map_err(|err| format!("the traced {} did not start: {err}", engine.label))?;
        let plan = super::timeline::traced_plan(at.plan(server.addr()));
        let held = load::run(&plan, &|_| {}).connections;
        server
            .terminate(STOP_GRACE)
            .map_err(|err| format!("stopping the traced {}: {err}", engine.label))?;
        std::fs::read_to_string(&path)
            .map(|text| (text, Some(held)))
            .map_err(|err| format!("the traced {} wrote no trace: {err}", engine.label))
    }
}

/// The calls an engine counted between its first and last reading (`(ms since the step
/// began, counts)`), by name, over `answers`, with every reading's running total.
fn syscalls_between(
    readings: &[(u64, [u64; wb_sys::syscalls::CALLS])],
    answers: u64,
) -> Option<wb_model::results::Syscalls> {
    let (first, last) = (readings.first()?, readings.last()?);
    let calls = wb_sys::syscalls::Call::ALL
        .iter()
        .zip(first.1.iter().zip(&last.1))
        .map(|(call, (b, a))| (call.name().to_string(), a.saturating_sub(*b)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let total = |counts: &[u64]| counts.iter().sum::<u64>();
    let readings = readings
        .iter()
        .map(|(at_ms, counts)| [*at_ms, total(counts).saturating_sub(total(&first.1))])
        .collect();
    Some(wb_model::results::Syscalls {
        calls,
        answers,
        readings,
    })
}

/// Runs `exe engine <engine> <args> --describe` for `spec` and parses its line. Peers have
/// no such flag: `Err` says so.
pub fn describe(exe: &Path, spec: &EngineSpec) -> Result<Description, String> {
    if spec.peer {
        return Err(format!(
            "{} is a peer: only engines describe themselves",
            spec.label
        ));
    }
    let mut child = Command::new(exe)
        .arg("engine")
        .arg(&spec.engine)
        .args(&spec.args)
        .arg("--describe")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", exe.display()))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < DESCRIBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`engine {} --describe` did not finish within {DESCRIBE_TIMEOUT:?}",
                    spec.engine
                ));
            }
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|err| format!("reading `engine {} --describe`: {err}", spec.engine))?;
    parse_description(&spec.engine, &String::from_utf8_lossy(&output.stdout))
}

/// The description an engine printed, or what it printed instead.
pub(super) fn parse_description(engine: &str, text: &str) -> Result<Description, String> {
    parse(text.trim()).map_err(|err| {
        format!(
            "`engine {engine} --describe` printed {:?}, not its JSON line: {err}",
            text.trim()
        )
    })
}
