//! The runner's multi-host path: the engine and its sampler on one host, the load split
//! across others, every process started through a host's command prefix
//! ([`crate::hosts`]).
//!
//! Per workload, as on one machine, one fresh engine process: `PREFIX workbench engine NAME
//! --listen ADDR:0` on the engine's host, its ready line read back through the prefix. Per
//! level:
//!
//! 1. `PREFIX workbench sample --pid PID --interval-ms 200` on the engine's host; its first
//!    line starts the step's clock.
//! 2. On every load host at once, its share of the level ([`split_level`]): `workbench load
//!    http://ADDR/ROUTE -c N --json` for closed and open loops (the route and its expected
//!    digest from this runner's plan, so every host sends the same request), or, for the other
//!    modes (idle, slow clients), `workbench load --target ADDR --workload - --levels N
//!    --json` with the workload's TOML on stdin: the idle hold runs the same
//!    [`wb_load`] plan as locally.
//! 3. The documents are merged ([`merge`]): answers and errors summed, histograms added; each
//!    host's client CPU is kept in [`LoadReport::hosts`](wb_model::results::LoadReport::hosts).
//!    The step's `client_cores` is the busiest host's (what says whether a client saturated),
//!    its client cost per answer uses the sum.
//!
//! A host that fails (its process exits without a document, its link breaks, it overruns the
//! step by a minute) fails the step with the host named; what was started there is stopped.
//! The engine is stopped with `kill -TERM PID` through its prefix, then `kill -KILL` after
//! the grace.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::local::parse_description;
use super::timeline::traced_plan;
use super::{Observer, RunEvent, Runner, SAMPLE_INTERVAL, STOP_GRACE, Site, StepContext};
use crate::child::{READY_TIMEOUT, Ready};
use crate::hosts::{
    COMMAND_TIMEOUT, Host, HostResult, RemoteError, RemoteProcess, merge, split_level,
};
use wb_load::wire::LoadResult;
use wb_model::describe::Description;
use wb_model::figures::ClientCpu;
use wb_model::results::{EngineFacts, EngineSpec, HostFacts, LoadReport, Sample, StepResult};
use wb_model::spec::{Mode, Workload};

/// How long a host may overrun a step's expected length before it is called lost.
const OVERRUN: Duration = Duration::from_secs(60);

/// Where a multi-host run's sides run, checked.
#[derive(Debug, Clone)]
pub struct RemoteHosts {
    /// The engine's host (and its sampler's).
    pub engine: Host,
    /// The load generators' hosts.
    pub loads: Vec<Host>,
    /// How the load hosts reach the engine's host: an IP address (the engine listens on it)
    /// or a name (the engine listens on every address, and the load hosts resolve the name).
    pub engine_addr: String,
    /// Every host's facts, the engine's first.
    pub facts: Vec<HostFacts>,
}

impl RemoteHosts {
    /// Checks every host (the same `workbench --version` as `version`, ours) and reads its
    /// facts. The first host that fails is named in the error.
    pub fn connect(
        mut engine: Host,
        mut loads: Vec<Host>,
        engine_addr: String,
        version: &str,
    ) -> Result<RemoteHosts, RemoteError> {
        if loads.is_empty() {
            return Err(engine.failed("no load host was given: add --load-hosts".into()));
        }
        let mut facts = vec![engine.check(version, "engine")?];
        for host in &mut loads {
            facts.push(host.check(version, "load")?);
        }
        Ok(RemoteHosts {
            engine,
            loads,
            engine_addr,
            facts,
        })
    }

    /// What the engine is told to listen on.
    fn listen(&self) -> String {
        match self.engine_addr.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]:0"),
            Ok(ip) => format!("{ip}:0"),
            Err(_) => "0.0.0.0:0".into(),
        }
    }

    /// `ADDR:PORT` as the load hosts reach the engine.
    fn target(&self, port: u16) -> String {
        match self.engine_addr.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{}:{port}", self.engine_addr),
        }
    }
}

/// An engine running on another host.
pub(super) struct RemoteEngine {
    process: RemoteProcess,
    ready: Ready,
}

/// The hosts of a multi-host run as the step loop's [`Site`].
pub(super) struct Hosts<'a>(pub(super) &'a RemoteHosts);

impl Site for Hosts<'_> {
    type Server = RemoteEngine;

    /// On other hosts, placement is theirs: nothing here to pin.
    fn place(&mut self, _runner: &Runner, _workload: &Workload) {}

    /// The workbench's PostgreSQL runs beside a local run only (for now): no database
    /// follows an engine to another host.
    fn unavailable(&self, workload: &Workload) -> Option<String> {
        workload.request.route.needs_database().then(|| {
            "the database workloads run on one machine only (no PostgreSQL on the engine's host)"
                .to_string()
        })
    }

    fn start(&self, _runner: &Runner, engine: &EngineSpec) -> Result<RemoteEngine, String> {
        let hosts = self.0;
        if engine.peer {
            return Err(format!(
                "{} is a peer; peers run on this machine only, not through --engine-host",
                engine.label
            ));
        }
        start_engine(hosts, engine, &[]).map_err(|err| {
            format!(
                "the {} engine did not start on {:?}: {err}",
                engine.label, hosts.engine.name
            )
        })
    }

    fn exited(&self, remote: &mut RemoteEngine) -> Option<String> {
        (!remote.process.is_running()).then(|| {
            format!(
                "the engine on {:?} had exited ({})",
                self.0.engine.name,
                said(&remote.process)
            )
        })
    }

    fn facts(&self, remote: &RemoteEngine) -> Option<EngineFacts> {
        remote.ready.facts.clone()
    }

    fn measure(
        &self,
        at: StepContext<'_>,
        remote: &mut RemoteEngine,
        observer: &mut dyn Observer,
    ) -> StepResult {
        run_step_remote(self.0, remote, at, observer)
    }

    fn stop(&self, remote: RemoteEngine, _engine: &EngineSpec) {
        stop_engine(&self.0.engine, remote);
    }

    /// `workbench engine NAME ARGS --describe` on the engine's host.
    fn describe(&self, _runner: &Runner, spec: &EngineSpec) -> Result<Description, String> {
        let mut args = vec!["engine", spec.engine.as_str()];
        args.extend(spec.args.iter().map(String::as_str));
        args.push("--describe");
        let text = self
            .0
            .engine
            .output(&args, COMMAND_TIMEOUT)
            .map_err(|err| err.to_string())?;
        parse_description(&spec.engine, &text)
    }

    /// The engine started with `--trace FILE` on its host (FILE in the host's temporary
    /// folder), the traced load from the load hosts, then FILE read back with `cat` and
    /// removed.
    fn trace_window(&self, at: StepContext<'_>) -> Result<(String, Option<u64>), String> {
        let hosts = self.0;
        let file = format!(
            "/tmp/workbench-trace-{}-{}.jsonl",
            std::process::id(),
            TRACES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let remote = start_engine(hosts, at.engine, &["--trace", &file])
            .map_err(|err| format!("the traced {} did not start: {err}", at.engine.label))?;
        let plan = traced_plan(at.plan(remote.ready.addr));
        let target = hosts.target(remote.ready.addr.port());
        let (parts, lost) = run_loads(hosts, at.workload, &plan, at.level, &target, |_| {});
        // Every load host's count, or none: a lost host's connections are not known.
        let held = lost
            .is_empty()
            .then(|| parts.iter().map(|p| p.result.connections_open).sum());
        stop_engine(&hosts.engine, remote);
        let text = hosts.engine.output_plain(&["cat", &file], COMMAND_TIMEOUT);
        let _ = hosts.engine.run_plain(&["rm", "-f", &file]);
        match text {
            Ok(text) if !text.trim().is_empty() => Ok((text, held)),
            Ok(_) => Err(format!(
                "the traced {} wrote no spans{}",
                at.engine.label,
                if lost.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", lost.join("; "))
                }
            )),
            Err(err) => Err(format!("reading the trace of {}: {err}", at.engine.label)),
        }
    }
}

/// Numbers the traced windows of this process, so that their files never collide.
static TRACES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Starts the engine on the engine's host and reads its ready line.
fn start_engine(
    hosts: &RemoteHosts,
    engine: &EngineSpec,
    extra: &[&str],
) -> Result<RemoteEngine, RemoteError> {
    let listen = hosts.listen();
    let mut args = vec!["engine", engine.engine.as_str()];
    args.extend(engine.args.iter().map(String::as_str));
    args.extend(extra);
    args.extend(["--listen", listen.as_str()]);
    let mut process = hosts.engine.spawn(&args)?;
    // An SSH connection may take a few seconds to open before the engine even starts.
    let wait = READY_TIMEOUT * 3;
    let line = process.next_line(wait, "waiting for the engine's ready line")?;
    let Some(line) = line else {
        return Err(hosts.engine.failed(format!(
            "the engine ended before its ready line ({})",
            said(&process)
        )));
    };
    let ready: Ready = serde_json::from_str(&line).map_err(|err| {
        hosts.engine.failed(format!(
            "its first line is not a ready line ({err}): {line}"
        ))
    })?;
    Ok(RemoteEngine { process, ready })
}

/// SIGTERM through the prefix, SIGKILL after the grace; the local end is dropped last.
fn stop_engine(host: &Host, mut remote: RemoteEngine) {
    let pid = remote.ready.pid.to_string();
    if let Err(err) = host.run_plain(&["kill", "-TERM", &pid]) {
        tracing::warn!("stopping the engine: {err}");
    }
    if !remote.process.wait_exit(STOP_GRACE) {
        tracing::warn!(
            "the engine on {:?} ignored SIGTERM and is killed",
            host.name
        );
        let _ = host.run_plain(&["kill", "-KILL", &pid]);
    }
}

/// What a process said on stderr, or that it said nothing.
fn said(process: &RemoteProcess) -> String {
    let tail = process.stderr_tail();
    if tail.is_empty() {
        "it said nothing on stderr".into()
    } else {
        format!("it said: {}", last_lines(&tail, 3))
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// One level across the hosts.
fn run_step_remote(
    hosts: &RemoteHosts,
    remote: &mut RemoteEngine,
    at: StepContext<'_>,
    observer: &mut dyn Observer,
) -> StepResult {
    let target = hosts.target(remote.ready.addr.port());
    // The plan as one machine would run it: the request target and its timings.
    let plan = at.plan(remote.ready.addr);
    let pid = remote.ready.pid.to_string();
    let interval = SAMPLE_INTERVAL.as_millis().to_string();
    let mut sampler =
        match hosts
            .engine
            .spawn(&["sample", "--pid", &pid, "--interval-ms", &interval])
        {
            Ok(sampler) => sampler,
            Err(err) => return at.failed(format!("the sampler did not start: {err}")),
        };
    let mut samples: Vec<Sample> = Vec::new();
    match sampler.next_line(READY_TIMEOUT * 3, "waiting for the sampler's first reading") {
        Ok(Some(line)) => samples.extend(serde_json::from_str::<Sample>(&line).ok()),
        Ok(None) => {
            return at.failed(format!(
                "the sampler on {:?} ended at once ({})",
                hosts.engine.name,
                said(&sampler)
            ));
        }
        Err(err) => return at.failed(err.to_string()),
    }
    let clock = Instant::now();
    let expected = plan.warmup + plan.duration + extra_time(at.workload.mode);
    let (parts, mut lost) = run_loads(hosts, at.workload, &plan, at.level, &target, |_| {
        let fraction = (clock.elapsed().as_secs_f64() / expected.as_secs_f64()).min(0.99);
        observer.event(&RunEvent::StepProgress { fraction });
        samples.extend(
            sampler
                .drain()
                .iter()
                .filter_map(|l| serde_json::from_str::<Sample>(l).ok()),
        );
    });
    // The loads started right after the clock (`run_loads` starts them first thing).
    let load_started_ms = 0;

    // The sampler's readings up to now, then it is stopped (dropped: its pipe closes).
    std::thread::sleep(Duration::from_millis(20));
    samples.extend(
        sampler
            .drain()
            .iter()
            .filter_map(|l| serde_json::from_str::<Sample>(l).ok()),
    );
    let sampler_ended = !sampler.is_running();
    let sampler_said = said(&sampler);
    drop(sampler);
    let engine_alive = remote.process.is_running();

    // The sampler's own CPU is not the client's: client CPU comes from the load hosts.
    for sample in &mut samples {
        sample.client_cpu_secs = 0.0;
    }
    let report = match merge(&parts, load_started_ms) {
        Ok(report) => report,
        Err(err) => {
            lost.push(err.to_string());
            LoadReport::default()
        }
    };
    let client = ClientCpu {
        busiest_cores: report
            .hosts
            .iter()
            .map(|h| h.client_cores)
            .fold(0.0, f64::max),
        total_cores: report.hosts.iter().map(|h| h.client_cores).sum(),
    };
    if !engine_alive {
        lost.push(format!(
            "the engine on {:?} exited during the step ({})",
            hosts.engine.name,
            said(&remote.process)
        ));
    } else if sampler_ended && samples.len() < 2 {
        lost.push(format!(
            "the sampler on {:?} was lost ({sampler_said})",
            hosts.engine.name
        ));
    }
    at.measured(
        report,
        samples,
        load_started_ms + plan.warmup.as_millis() as u64,
        Some(client),
        (!lost.is_empty()).then(|| lost.join("; ")),
    )
}

/// Runs one level's load on the load hosts, each its share ([`split_level`]), and waits for
/// all of them, calling `tick` about every 100 ms meanwhile. Returns each host's document
/// and what went wrong with the others.
fn run_loads(
    hosts: &RemoteHosts,
    workload: &Workload,
    plan: &wb_load::LoadPlan,
    level: u64,
    target: &str,
    mut tick: impl FnMut(f64),
) -> (Vec<HostResult>, Vec<String>) {
    let shares = split_level(level, hosts.loads.len());
    let any = shares.iter().any(|&s| s > 0);
    let mut loads: Vec<(&Host, u64, Result<RemoteProcess, RemoteError>)> = Vec::new();
    for (i, (host, &share)) in hosts.loads.iter().zip(&shares).enumerate() {
        // A level smaller than the hosts leaves some without a share; level 0 (an idle
        // workload's baseline) still runs on the first, so that the step has a document.
        if share == 0 && (any || i > 0) {
            continue;
        }
        let started = start_load(host, workload, plan, share, target);
        loads.push((host, share, started));
    }
    let begun = Instant::now();
    let expected = plan.warmup + plan.duration + extra_time(workload.mode);
    let deadline = begun + expected + OVERRUN;
    loop {
        let mut running = 0;
        for (_, _, process) in &mut loads {
            if let Ok(process) = process
                && process.is_running()
            {
                running += 1;
            }
        }
        if running == 0 || Instant::now() > deadline {
            break;
        }
        tick(begun.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut parts = Vec::new();
    let mut lost = Vec::new();
    for (host, share, process) in loads {
        match process.and_then(|p| read_document(host, p)) {
            Ok(result) => parts.push(HostResult {
                host: host.name.clone(),
                level: share,
                result,
            }),
            Err(err) => lost.push(err.to_string()),
        }
    }
    (parts, lost)
}

/// Time a mode may need beyond warm-up and window: opening idle connections.
fn extra_time(mode: Mode) -> Duration {
    match mode {
        Mode::Idle | Mode::SlowSenders | Mode::SlowReaders => wb_load::IDLE_OPEN_TIMEOUT,
        Mode::Closed | Mode::Open => Duration::from_secs(5),
    }
}

/// Starts one host's share of the step.
fn start_load(
    host: &Host,
    workload: &Workload,
    plan: &wb_load::LoadPlan,
    share: u64,
    target: &str,
) -> Result<RemoteProcess, RemoteError> {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let url = format!("http://{target}{}", plan.request_target);
    let share_text = share.to_string();
    let duration = ms(plan.duration.max(Duration::from_millis(100)));
    let warmup = ms(plan.warmup);
    let timeout = ms(plan.timeout);
    // A closed or open loop: `load URL` with its level's flags, then the timings.
    let load_url = |level: &[&str]| {
        let mut args = vec!["--quiet", "load", url.as_str()];
        args.extend_from_slice(level);
        args.extend_from_slice(&[
            "-d",
            &duration,
            "--warmup",
            &warmup,
            "--timeout",
            &timeout,
            "--json",
        ]);
        host.spawn(&args)
    };
    match workload.mode {
        Mode::Closed => load_url(&["-c", &share_text]),
        Mode::Open => {
            // The connection cap is split like the rate, each host keeping at least one.
            let cap = (plan.max_connections * share)
                .div_ceil(plan.level.max(1))
                .max(1)
                .to_string();
            load_url(&["-R", &share_text, "-c", &cap])
        }
        Mode::Idle | Mode::SlowReaders | Mode::SlowSenders => {
            // The workload itself travels on stdin, so that a file that exists only here
            // needs no copy there. Its request has no CPU work in these modes, so the host's
            // own calibration does not change what is sent.
            let mut one = workload.clone();
            one.levels = vec![share];
            let text = toml::to_string(&one)
                .map_err(|err| host.failed(format!("cannot write the workload as TOML: {err}")))?;
            let secs = workload.step_secs.to_string();
            host.spawn_with_input(
                &[
                    "--quiet",
                    "load",
                    "--target",
                    target,
                    "--workload",
                    "-",
                    "--levels",
                    &share_text,
                    "--step-secs",
                    &secs,
                    "--json",
                ],
                text,
            )
        }
    }
}

/// Reads a finished load host's document (a `load URL` object, or the one-element array of
/// `load --workload`).
fn read_document(host: &Host, mut process: RemoteProcess) -> Result<LoadResult, RemoteError> {
    let stderr = |p: &RemoteProcess| said(p);
    if process.is_running() {
        let why = format!(
            "load host {:?} overran the step by more than {} s and was stopped",
            host.name,
            OVERRUN.as_secs()
        );
        return Err(host.failed(why));
    }
    let tail = stderr(&process);
    let (lines, status, _) = process.finish(Duration::from_secs(5), "ending its load")?;
    let text = lines.join("\n");
    if let Ok(one) = serde_json::from_str::<LoadResult>(&text) {
        return Ok(one);
    }
    if let Ok(mut many) = serde_json::from_str::<Vec<LoadResult>>(&text)
        && !many.is_empty()
    {
        return Ok(many.remove(0));
    }
    Err(host.failed(format!(
        "the load host was lost: `workbench load` ended ({status}) without its JSON document; {tail}"
    )))
}
