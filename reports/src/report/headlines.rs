//! Headline figures and what each model predicts of them: one per engine and workload of a run.
//!
//! Each workload is there to test one claim of the concurrency debate, and which claim
//! depends on the engine's model. A [`Headline`] picks the one figure of a workload that
//! speaks to that claim, states what the engine's model predicts, and describes — with the
//! numbers — what this run measured:
//!
//! | workload (found by its shape, not its name) | figure | what the model predicts |
//! |---|---|---|
//! | idle | bytes per idle connection: the least-squares slope of PSS over connections ([`IdleSlope::fit`]) | a thread costs kilobytes (a stack and a kernel task); a selector loop a few hundred bytes; a task far less than a thread; a prefork pool pays per worker, up front |
//! | closed loop, cheapest request (`hello`) | best throughput, and engine CPU per answer | nothing: what the model itself costs per request is measured, not predicted |
//! | closed loop, a wait and no CPU (`db-wait`) | best throughput, and waits in flight (throughput × wait, Little's law) | a pool of N workers caps near N × 1000 / wait req/s; the others keep overlapping waits as connections grow |
//! | closed loop with CPU work (`cpu`) | most cores used | one event loop uses at most one core (concurrency, not parallelism); threads, processes and multi-thread runtimes use more |
//! | open loop (`rate`) | highest offered rate kept up with | measured from the intended send time, an overloaded server cannot hide its queue |
//! | slow clients (`slowloris`, `big-response`) | threads and probe latency at the top level | a thread or worker is held by each slow client; an event loop is not |
//!
//! A headline gives no verdict. The claims are judged in one place, [`crate::claims`], from
//! the figures' 95 % intervals; a headline is the figure and what the model predicts, so that
//! a reader can see what the judge read. A headline without a figure
//! ([`Headline::measured`] is false) says in its evidence why: the run has no step of it,
//! every step failed, the server cannot serve it, or there were too few levels for a slope.

use wb_model::results::{IdleSlope, StepResult};
use wb_model::spec::{Mode, Route, Workload};

use super::format::{self, Better};
use crate::store::StoredRun;
use wb_model::engines;

/// Which claim a workload tests, from its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Idle connections held open: what one costs in memory.
    IdleCost,
    /// The cheapest request in a closed loop: what the model costs per request.
    RequestCost,
    /// A wait and no CPU in a closed loop: how many waits the model overlaps.
    WaitOverlap,
    /// CPU work in a closed loop: how many cores the model puts to work.
    Parallelism,
    /// An open loop: the highest arrival rate kept up with, and the queue it hides.
    OpenLoop,
    /// Slow readers or senders: what holding a slow client costs.
    SlowClients,
}

impl Kind {
    /// The kind of claim a workload tests.
    pub fn of(workload: &Workload) -> Kind {
        let request = &workload.request;
        match workload.mode {
            Mode::Idle => Kind::IdleCost,
            Mode::Open => Kind::OpenLoop,
            Mode::SlowReaders | Mode::SlowSenders => Kind::SlowClients,
            Mode::Closed if request.route == Route::Work && request.cpu_us > 0 => Kind::Parallelism,
            Mode::Closed if request.route == Route::Work && request.wait_ms > 0 => {
                Kind::WaitOverlap
            }
            Mode::Closed => Kind::RequestCost,
        }
    }

    /// What the headline figure is, for a column title: `per idle connection`.
    pub fn figure_name(self) -> &'static str {
        match self {
            Kind::IdleCost => "memory per idle connection",
            Kind::RequestCost => "best throughput",
            Kind::WaitOverlap => "waits overlapped",
            Kind::Parallelism => "most cores used",
            Kind::OpenLoop => "highest rate kept up with",
            Kind::SlowClients => "p99 at the top level",
        }
    }

    /// Whether the figure moves with the machine's speed ([`wb_model::table::Unit::depends_on_speed`]):
    /// all but memory do.
    pub fn depends_on_speed(self) -> bool {
        self != Kind::IdleCost
    }
}

/// One engine's headline figure on one workload, and what the engine's model predicts of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// The engine's label.
    pub engine: String,
    /// The workload's name.
    pub workload: String,
    /// Which claim the workload tests.
    pub kind: Kind,
    /// The figure in a phrase, with its unit: `22.0 KiB per idle connection`.
    pub figure: String,
    /// The figure for a table cell: `22.0 KiB`; `—` without data.
    pub cell: String,
    /// The figure as a number, for comparing runs (its unit is the cell's); `None` without
    /// data.
    pub value: Option<f64>,
    /// Which way the figure improves.
    pub better: Better,
    /// What the engine's model predicts of the figure, in a sentence; empty when it predicts
    /// nothing (a peer, or the cost of the cheapest request).
    pub claim: String,
    /// What this run measured, in sentences with their numbers; without a figure, why not.
    pub evidence: String,
}

impl Headline {
    /// Whether the run has the figure. Without it the cell reads `—` and the evidence says
    /// why; the figure itself is never guessed.
    pub fn measured(&self) -> bool {
        self.value.is_some()
    }
}

/// The headlines of a run: for each engine (in chart order), one per workload of the run (in
/// the run's order) that has a step of that engine or was planned for it.
pub fn headlines(run: &StoredRun) -> Vec<Headline> {
    let mut out = Vec::new();
    for engine in engines(run) {
        for workload in &run.config.workloads {
            let planned = run.config.engines.iter().any(|e| e.label == engine);
            let steps = steps_of(&run.steps, &engine, &workload.name);
            if steps.is_empty() && !planned {
                continue;
            }
            out.push(headline(run, &engine, workload, &steps));
        }
    }
    out
}

/// The engines of a run: those configured and any that only appear in its steps, built-in
/// in the engine registry's order (as on the charts), then the others by name.
pub fn engines(run: &StoredRun) -> Vec<String> {
    let mut labels: Vec<String> = run.config.engines.iter().map(|e| e.label.clone()).collect();
    for step in &run.steps {
        if !labels.contains(&step.engine) {
            labels.push(step.engine.clone());
        }
    }
    engines::sort(&mut labels);
    labels
}

/// The steps of one engine on one workload that were measured (a peer's unsupported
/// workload is left out), by level.
pub(crate) fn steps_of<'a>(
    steps: &'a [StepResult],
    engine: &str,
    workload: &str,
) -> Vec<&'a StepResult> {
    let mut out: Vec<&StepResult> = steps
        .iter()
        .filter(|s| s.engine == engine && s.workload == workload)
        .filter(|s| s.flags.not_supported.is_none())
        .collect();
    out.sort_by_key(|s| s.level);
    out
}

/// The concurrency model behind an engine label, which decides the claim it is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Threads,
    Pool,
    Selector { parallel: bool },
    Coroutines { parallel: bool },
    Peer,
}

impl Family {
    /// The family of an engine, from the engine registry; anything it does not list as one of
    /// this project's engines is a peer here (peers are measured, not judged).
    pub(crate) fn of(label: &str) -> Family {
        let Some(engine) = engines::resolve(label) else {
            return Family::Peer;
        };
        match engine.family {
            engines::Family::Thread => Family::Threads,
            engines::Family::Process => Family::Pool,
            engines::Family::EventLoop => Family::Selector {
                parallel: engine.parallel,
            },
            engines::Family::Coroutine => Family::Coroutines {
                parallel: engine.parallel,
            },
        }
    }

    /// One thread runs every request's CPU work: a selector or a current-thread runtime
    /// without offloading.
    fn single_threaded(self) -> bool {
        matches!(
            self,
            Family::Selector { parallel: false } | Family::Coroutines { parallel: false }
        )
    }
}

fn headline(run: &StoredRun, engine: &str, workload: &Workload, steps: &[&StepResult]) -> Headline {
    let kind = Kind::of(workload);
    let mut h = Headline {
        engine: engine.to_string(),
        workload: workload.name.clone(),
        kind,
        figure: "not measured".into(),
        cell: "—".into(),
        value: None,
        better: Better::Neither,
        claim: String::new(),
        evidence: String::new(),
    };
    let family = Family::of(engine);
    let measured: Vec<&StepResult> = steps
        .iter()
        .copied()
        .filter(|s| s.failure.is_none())
        .collect();
    if measured.is_empty() {
        let all = run
            .steps
            .iter()
            .filter(|s| s.engine == engine && s.workload == workload.name)
            .collect::<Vec<_>>();
        h.evidence = if let Some(why) = all.iter().find_map(|s| s.flags.not_supported.as_ref()) {
            format!("This server cannot run it: {why}.")
        } else if steps.is_empty() {
            "Not measured: the run has no step of it.".to_string()
        } else {
            format!(
                "Every step failed; the first: {}.",
                steps[0].failure.as_deref().unwrap_or("?")
            )
        };
        return h;
    }
    match kind {
        Kind::IdleCost => idle_cost(&mut h, family, steps),
        Kind::RequestCost => request_cost(&mut h, &measured, workload),
        Kind::WaitOverlap => wait_overlap(&mut h, family, &measured, workload),
        Kind::Parallelism => parallelism(&mut h, family, &measured, workload, run),
        Kind::OpenLoop => open_loop(&mut h, &measured),
        Kind::SlowClients => slow_clients(&mut h, family, &measured, workload),
    }
    h
}

/// Idle: the slope of PSS over open connections.
fn idle_cost(h: &mut Headline, family: Family, steps: &[&StepResult]) {
    h.better = Better::Lower;
    let used = steps.iter().filter(|s| s.failure.is_none()).count();
    h.claim = match family {
        Family::Threads => "A thread per connection costs a stack and a kernel task: kilobytes \
                            per idle connection, so thousands are fine and a hundred thousand \
                            are not."
            .into(),
        Family::Selector { .. } => "One selector loop keeps an idle connection for about a \
                                    hundred bytes of state: thousands of sockets on one core."
            .into(),
        Family::Coroutines { .. } => "A task costs far less than a thread's stack: hundreds of \
                                      bytes to a few KiB per idle connection."
            .into(),
        Family::Pool => "A prefork pool pays for its worker processes up front; a connection \
                         beyond its workers waits for one to be free."
            .into(),
        Family::Peer => String::new(),
    };
    let Some(fit) = IdleSlope::fit(steps) else {
        h.evidence = format!(
            "No slope: it needs two or more connection counts that did not fail, and {used} \
             step(s) did not fail."
        );
        return;
    };
    let slope = fit.bytes_per_connection;
    h.value = Some(slope);
    h.cell = format!("{}/conn", format::bytes(slope));
    h.figure = format!("{} per idle connection", format::bytes(slope));
    let most = steps
        .iter()
        .filter(|s| s.failure.is_none())
        .map(|s| s.load.connections)
        .max()
        .unwrap_or(0);
    // The kernel's share is a system-wide reading: with its interval it can say "below what
    // this machine resolves" instead of drawing noise (−637 B) as a measurement.
    let kernel = match crate::claims::idle_slope_estimate(steps) {
        Some((_, kernel)) => format::estimate(&kernel, format::bytes),
        None => format::bytes(fit.kernel_bytes_per_connection),
    };
    let mut evidence = format!(
        "PSS rises by {} per open connection over {used} levels (up to {most} connections held), \
         from a base of {}; the kernel's share per connection, system-wide and whatever the \
         model: {kernel}.",
        format::bytes(slope),
        format::bytes(fit.base_bytes),
    );
    // What the slope means at the scale the model's prediction speaks of; a projection of the
    // figure, not a judgement of it (that is `crate::claims`' job).
    let scale = match family {
        _ if slope < 0.0 => Some(
            "The slope is negative: at these levels the cost of a connection is smaller than \
             the noise in the memory readings."
                .to_string(),
        ),
        Family::Threads => Some(format!(
            "At this slope 100 000 idle connections would need {} of memory, before the \
             kernel's share.",
            format::bytes(slope * 100_000.0)
        )),
        Family::Selector { .. } | Family::Coroutines { .. } => Some(format!(
            "At this slope 10 000 idle connections cost {} of memory.",
            format::bytes(slope * 10_000.0)
        )),
        Family::Pool => Some(match pool_workers(steps) {
            Some(n) => format!(
                "Its {n} workers are paid for in the base memory; connections beyond them wait \
                 unserved, so the slope says little about one connection."
            ),
            None => "The slope says little about one connection: connections beyond the \
                     workers wait unserved."
                .to_string(),
        }),
        Family::Peer => None,
    };
    let caveat = if used < 3 {
        Some("Fitted over only two levels: read the slope as a rough figure.")
    } else if steps
        .iter()
        .any(|s| s.flags.level_not_reached.is_some() || s.load.not_reached.is_some())
    {
        Some("Some levels were not reached; the slope uses the connections actually held.")
    } else {
        None
    };
    for sentence in scale.as_deref().into_iter().chain(caveat) {
        evidence.push(' ');
        evidence.push_str(sentence);
    }
    h.evidence = evidence;
}

/// The cheapest request: best throughput and what each answer costs in engine CPU.
fn request_cost(h: &mut Headline, measured: &[&StepResult], workload: &Workload) {
    h.better = Better::Higher;
    let best = best_by_throughput(measured);
    let d = &best.derived;
    h.value = Some(d.throughput_rps);
    h.cell = format::rps(d.throughput_rps);
    h.figure = format!(
        "{} at {} {}",
        format::rps(d.throughput_rps),
        best.level,
        workload.level_unit()
    );
    let mut evidence = String::new();
    if d.throughput_rps > 0.0 && d.engine_cores > 0.0 {
        evidence.push_str(&format!(
            "Each answer cost {} of engine CPU ({} at {} req/s). ",
            format::micros(d.engine_cores * 1e6 / d.throughput_rps),
            format::cores(d.engine_cores),
            format::per_sec(d.throughput_rps)
        ));
    }
    let top = measured.last().expect("measured is not empty");
    if top.level != best.level && best.derived.throughput_rps > 0.0 {
        let ratio = top.derived.throughput_rps / best.derived.throughput_rps;
        evidence.push_str(&format!(
            "At {} {} it answered {} ({} of its best). ",
            top.level,
            workload.level_unit(),
            format::rps(top.derived.throughput_rps),
            percent(ratio)
        ));
    } else {
        evidence.push_str("Its best was at the highest level measured. ");
    }
    if best.flags.client_saturated {
        evidence.push_str(&format!(
            "The load generator was saturated at that level ({}): the engine may do more than \
             this.",
            format::cores(d.client_cores)
        ));
    } else {
        evidence.push_str(&format!(
            "The load generator used {} meanwhile, on the same machine.",
            format::cores(d.client_cores)
        ));
    }
    h.evidence = evidence.trim_end().to_string();
}

/// A wait and no CPU: how many waits were in flight (Little's law: throughput × wait).
fn wait_overlap(h: &mut Headline, family: Family, measured: &[&StepResult], workload: &Workload) {
    h.better = Better::Higher;
    let wait_s = workload.request.wait_ms as f64 / 1000.0;
    let in_flight = |s: &StepResult| s.derived.throughput_rps * wait_s;
    let best = best_by_throughput(measured);
    let top = measured.last().expect("measured is not empty");
    h.value = Some(in_flight(best));
    h.cell = format!("{:.0} waits", in_flight(best));
    h.figure = format!(
        "{:.0} waits in flight at most ({} at {} connections)",
        in_flight(best),
        format::rps(best.derived.throughput_rps),
        best.level
    );
    let overlap = if top.level > 0 {
        in_flight(top) / top.level as f64
    } else {
        0.0
    };
    let mut evidence = format!(
        "At {} connections, {} with a {} ms wait each means {:.0} waits in flight ({} of the \
         connections).",
        top.level,
        format::rps(top.derived.throughput_rps),
        workload.request.wait_ms,
        in_flight(top),
        percent(overlap)
    );
    match family {
        Family::Pool => {
            h.claim = format!(
                "A pool of N workers overlaps at most N waits: with a {} ms wait it caps near \
                 N × {:.0} req/s, however idle its CPUs are.",
                workload.request.wait_ms,
                1.0 / wait_s
            );
            // The cap is the prediction put into numbers; whether the best clears it is for
            // the claims to judge, with the intervals.
            match pool_workers(measured) {
                Some(n) => {
                    evidence.push_str(&format!(
                        " With {n} workers the cap is {}; its best was {}.",
                        format::rps(n as f64 / wait_s),
                        format::rps(best.derived.throughput_rps)
                    ));
                    if !measured.iter().any(|s| s.level > n) {
                        evidence.push_str(&format!(
                            " No level exceeded its {n} workers, so the cap could not show."
                        ));
                    }
                }
                None => evidence.push_str(
                    " The worker count is unknown (the process did not state it), so the cap \
                     cannot be computed.",
                ),
            }
        }
        Family::Peer => {}
        _ => {
            h.claim = "A wait costs a timer or a sleeping thread, not a worker: waits keep \
                       overlapping as connections grow."
                .into();
        }
    }
    if top.flags.client_saturated {
        evidence.push_str(&format!(
            " The load generator was saturated at {} connections ({}).",
            top.level,
            format::cores(top.derived.client_cores)
        ));
    }
    h.evidence = evidence;
}

/// CPU work: how many cores the engine put to work.
fn parallelism(
    h: &mut Headline,
    family: Family,
    measured: &[&StepResult],
    workload: &Workload,
    run: &StoredRun,
) {
    h.better = Better::Neither;
    let busiest = measured
        .iter()
        .copied()
        .max_by(|a, b| a.derived.engine_cores.total_cmp(&b.derived.engine_cores))
        .expect("measured is not empty");
    let d = &busiest.derived;
    let cpu_us = workload.request.cpu_us as f64;
    h.value = Some(d.engine_cores);
    h.cell = format::cores(d.engine_cores);
    h.figure = format!(
        "{} at most ({} at {} connections)",
        format::cores(d.engine_cores),
        format::rps(d.throughput_rps),
        busiest.level
    );
    let machine_cores = run.summary.machine.cores;
    let mut evidence = format!(
        "At {} connections it used {} and answered {}; at {} µs of CPU per request, one core \
         answers at most {}. The load generator used {} meanwhile, of the machine's \
         {machine_cores} cores.",
        busiest.level,
        format::cores(d.engine_cores),
        format::rps(d.throughput_rps),
        workload.request.cpu_us,
        format::rps(if cpu_us > 0.0 { 1e6 / cpu_us } else { 0.0 }),
        format::cores(d.client_cores),
    );
    match family {
        Family::Peer => {}
        _ if family.single_threaded() => {
            h.claim = "One event loop runs on one thread: it uses at most one core, however \
                       many requests wait. Concurrency, not parallelism."
                .into();
        }
        _ => {
            h.claim = "Threads, processes and multi-thread runtimes spread CPU work over the \
                       cores: parallelism on top of concurrency."
                .into();
            // Facts that would keep parallelism from showing, whatever the model can do: the
            // CPUs the engine's process could use, as it stated them (placement may give it
            // fewer than the machine has).
            match busiest.cpus() {
                Some(1) => evidence.push_str(
                    " Its process could run on one CPU only, so parallelism cannot show.",
                ),
                None if machine_cores < 2 => {
                    evidence.push_str(" This machine has one core, so parallelism cannot show.")
                }
                _ => {}
            }
            if measured.iter().all(|s| s.level < 2) {
                evidence.push_str(" No level had two requests at once.");
            }
        }
    }
    h.evidence = evidence;
}

/// Open loop: the highest rate kept up with, and the queue the corrected latency shows.
fn open_loop(h: &mut Headline, measured: &[&StepResult]) {
    h.better = Better::Higher;
    h.claim = "Measured from the intended send time, an overloaded server cannot hide its \
               queue: latency explodes where a naive client would see little change."
        .into();
    // "Kept up" defines the figure (answers within 5 % of the offered rate), not a verdict.
    let kept = |s: &StepResult| s.derived.throughput_rps >= 0.95 * s.level as f64;
    let highest = measured.iter().copied().rfind(|s| kept(s));
    let first_behind = measured.iter().copied().find(|s| !kept(s));
    h.value = Some(highest.map_or(0.0, |s| s.level as f64));
    h.cell = match highest {
        Some(s) => format!("{} offered", format::rps(s.level as f64)),
        None => "none".into(),
    };
    h.figure = match highest {
        Some(s) => format!("kept up with {} offered", format::rps(s.level as f64)),
        None => "kept up with no rate offered".into(),
    };
    let Some(behind) = first_behind else {
        h.evidence = format!(
            "It kept up with every rate offered, up to {}: never overloaded, so the correction \
             had no queue to show.",
            format::rps(measured.last().map_or(0.0, |s| s.level as f64))
        );
        return;
    };
    let corrected = behind.load.latency.p99_us as f64;
    let Some(naive) = behind.load.latency_uncorrected.map(|l| l.p99_us as f64) else {
        h.evidence = format!(
            "It fell behind at {} offered (answered {}), but the step has no uncorrected latency \
             to compare with.",
            format::rps(behind.level as f64),
            format::rps(behind.derived.throughput_rps)
        );
        return;
    };
    h.evidence = format!(
        "At {} offered it answered {}; p99 from the intended send time was {}, while a naive \
         client would have reported {}",
        format::rps(behind.level as f64),
        format::rps(behind.derived.throughput_rps),
        format::latency(&behind.load.latency, "p99"),
        behind
            .load
            .latency_uncorrected
            .map_or_else(|| format::micros(naive), |u| format::latency(&u, "p99"))
    );
    if naive > 0.0 {
        h.evidence
            .push_str(&format!(" ({} as much).", times(corrected / naive)));
    } else {
        h.evidence.push('.');
    }
}

/// Slow clients: what holding them costs at the highest level.
fn slow_clients(h: &mut Headline, family: Family, measured: &[&StepResult], workload: &Workload) {
    h.better = Better::Lower;
    h.claim = match family {
        Family::Threads => {
            "A thread per connection: each slow client holds a thread for as long as it is slow."
                .into()
        }
        Family::Pool => {
            "Each slow client holds one of only N workers; the others wait behind it.".into()
        }
        Family::Selector { .. } | Family::Coroutines { .. } => {
            "An event loop keeps a few bytes per slow client and no thread: slow clients do not \
             hold up the others."
                .into()
        }
        Family::Peer => String::new(),
    };
    let top = measured.last().expect("measured is not empty");
    let low = measured.first().expect("measured is not empty");
    let d = &top.derived;
    let p99 = top.load.latency.p99_us as f64;
    h.value = Some(p99);
    let top_p99 = format::latency(&top.load.latency, "p99");
    h.cell = if top.load.latency.count > 0 {
        format!("p99 {top_p99}")
    } else {
        "no answers".into()
    };
    h.figure = format!(
        "at {} {}: {} threads, {} PSS, p99 {}",
        top.level,
        workload.level_unit(),
        d.threads_max,
        format::bytes(d.peak_pss_bytes as f64),
        top_p99
    );
    h.evidence = format!(
        "From {} to {} {}: threads {} → {}, PSS {} → {}, p99 {} → {}, errors {}.",
        low.level,
        top.level,
        workload.level_unit(),
        low.derived.threads_max,
        d.threads_max,
        format::bytes(low.derived.peak_pss_bytes as f64),
        format::bytes(d.peak_pss_bytes as f64),
        format::latency(&low.load.latency, "p99"),
        top_p99,
        top.load.errors.total()
    );
    if top.level == low.level {
        h.evidence.push_str(" Only one level: nothing to compare.");
    }
}

/// The step with the most throughput (the first of equals).
fn best_by_throughput<'a>(measured: &[&'a StepResult]) -> &'a StepResult {
    measured
        .iter()
        .copied()
        .reduce(|best, s| {
            if s.derived.throughput_rps > best.derived.throughput_rps {
                s
            } else {
                best
            }
        })
        .expect("measured is not empty")
}

/// A prefork pool's workers in these steps (one workload's, so one engine process): as the
/// process stated them ([`StepResult::workers`]).
fn pool_workers(steps: &[&StepResult]) -> Option<u64> {
    steps.iter().find_map(|s| s.workers())
}

/// A fraction as a percentage: `87%`.
fn percent(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}

/// A ratio as a factor: `1.8×` below ten, `472×` above, where a decimal adds nothing.
fn times(ratio: f64) -> String {
    if ratio < 10.0 {
        format!("{ratio:.1}×")
    } else {
        format!("{ratio:.0}×")
    }
}
