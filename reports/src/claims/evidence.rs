//! The evidence a judge reads: a workload's steps, one engine's best step, and figures with
//! their 95 % intervals.

use wb_model::engines::{self, Defaults, Family};
use wb_model::results::StepResult;
use wb_model::spread::{self, Estimate, Method};

use super::Finding;
use crate::store::StoredRun;

/// The idle slope of one engine's steps with its interval: bytes per connection (user
/// memory, PSS) and the kernel's bytes per connection, each `slope ± t · SE`. Only steps that
/// reached their level count ([`StepResult::reached`]): a level not reached gives no point.
pub fn idle_slope_estimate(steps: &[&StepResult]) -> Option<(Estimate, Estimate)> {
    let ok: Vec<&&StepResult> = steps.iter().filter(|s| s.reached()).collect();
    let xs: Vec<f64> = ok.iter().map(|s| s.load.connections as f64).collect();
    let pss: Vec<f64> = ok.iter().map(|s| s.derived.peak_pss_bytes as f64).collect();
    let kernel: Vec<f64> = ok
        .iter()
        .map(|s| {
            let d = &s.derived;
            (d.tcp_mem_bytes + d.slab_unreclaim_bytes + d.kernel_stack_bytes) as f64
        })
        .collect();
    let (user, _) = spread::slope_estimate(&xs, &pss)?;
    let (kernel, _) = spread::slope_estimate(&xs, &kernel)?;
    Some((user, kernel))
}

/// The slope of one engine's virtual size (VSZ) over idle connections, with its interval:
/// address space reserved per connection, touched or not. `None` when fewer than two reached
/// levels have a virtual size (runs stored before it was kept read 0).
///
/// Level 0 is left out when two other levels remain: before the first connection thread,
/// glibc's malloc has not made its per-thread arenas (64 MiB of address space each, up to
/// eight per core), which the first threads add all at once, a step that would lean the line.
pub fn idle_vsz_slope_estimate(steps: &[&StepResult]) -> Option<Estimate> {
    let mut ok: Vec<&&StepResult> = steps
        .iter()
        .filter(|s| s.reached() && s.derived.peak_vsz_bytes > 0)
        .collect();
    if ok.iter().filter(|s| s.load.connections > 0).count() >= 2 {
        ok.retain(|s| s.load.connections > 0);
    }
    let xs: Vec<f64> = ok.iter().map(|s| s.load.connections as f64).collect();
    let vsz: Vec<f64> = ok.iter().map(|s| s.derived.peak_vsz_bytes as f64).collect();
    spread::slope_estimate(&xs, &vsz).map(|(slope, _)| slope)
}

/// One stack size of a stack-size sweep: the thread-per-connection engine that ran with it
/// (as its steps' facts state the stack), what one idle connection cost it resident (the PSS
/// slope) and what it reserved (the VSZ slope).
#[derive(Debug, Clone)]
pub(crate) struct StackSize {
    /// The engine's label, `threads:stack-size=32KiB`.
    pub label: String,
    /// The stack each connection's thread reserved, bytes, as the engine stated it.
    pub stack_bytes: u64,
    /// PSS per connection.
    pub resident: Estimate,
    /// VSZ per connection; `None` in runs stored before the virtual size was kept.
    pub reserved: Option<Estimate>,
}

/// The stack sizes the run's thread-per-connection engines stated in these idle steps,
/// smallest first, one engine each (the first in the registry's order when two stated the
/// same). Engines that did not state a stack, or whose slope could not be fitted, are left
/// out.
pub(crate) fn stack_sweep(steps: &[&StepResult]) -> Vec<StackSize> {
    let mut out: Vec<StackSize> = Vec::new();
    for label in of_family(steps, Family::Thread) {
        let mine = ok_steps(steps, &label);
        let Some(stack_bytes) = mine
            .iter()
            .find_map(|s| s.facts.as_ref().and_then(|f| f.stack_bytes))
        else {
            continue;
        };
        if out.iter().any(|p| p.stack_bytes == stack_bytes) {
            continue;
        }
        let Some((resident, _)) = idle_slope_estimate(&mine) else {
            continue;
        };
        out.push(StackSize {
            label,
            stack_bytes,
            resident,
            reserved: idle_vsz_slope_estimate(&mine),
        });
    }
    out.sort_by_key(|p| p.stack_bytes);
    out
}

/// How much more of `figure` engine `b` held than engine `a` per connection: the slope over
/// the level of their difference at each level both reached. Pairing by level cancels what
/// both pay alike (the same binary's code, malloc's arenas, the kernel), so the interval is
/// that of the difference alone. `None` with fewer than two common levels.
pub(crate) fn paired_slope(
    steps: &[&StepResult],
    a: &str,
    b: &str,
    figure: fn(&StepResult) -> u64,
) -> Option<Estimate> {
    let a_steps = ok_steps(steps, a);
    let (xs, ys): (Vec<f64>, Vec<f64>) = ok_steps(steps, b)
        .into_iter()
        .filter(|s| s.reached())
        .filter_map(|sb| {
            let sa = a_steps
                .iter()
                .find(|s| s.level == sb.level && s.reached())?;
            Some((sb.level as f64, figure(sb) as f64 - figure(sa) as f64))
        })
        .unzip();
    spread::slope_estimate(&xs, &ys).map(|(slope, _)| slope)
}

/// The cores a step's engine used, with the interval of its per-sample readings (batch
/// means over the sampler's 200 ms intervals after the warm-up).
pub fn cores_estimate(step: &StepResult) -> Estimate {
    let cores = step.derived.engine_cores;
    // The answers in a 200 ms window are counted exactly, while CPU time is counted in 10 ms
    // ticks per thread (a 200 ms reading of a many-threaded engine is off by a few tenths of
    // a core). Over one step the CPU per answer is steady, so where the step has a
    // throughput interval the cores' interval is that one scaled by CPU per answer.
    if let (Some([low, high]), true) = (
        step.estimates.throughput_ci,
        step.derived.throughput_rps > 0.0,
    ) {
        let per_answer = cores / step.derived.throughput_rps;
        if low.is_finite() && high.is_finite() && high >= low {
            return Estimate {
                value: cores,
                low: (low * per_answer).min(cores),
                high: (high * per_answer).max(cores),
                method: Method::Windows,
                ..Estimate::single(cores)
            };
        }
    }
    let warmup = step.load.windows.first().map_or(0, |w| w.at_ms);
    let window: Vec<_> = step.samples.iter().filter(|s| s.at_ms >= warmup).collect();
    let cpu = |s: &wb_model::results::Sample| s.cpu_user_secs + s.cpu_system_secs;
    let readings: Vec<f64> = window
        .windows(2)
        .filter(|w| w[1].at_ms > w[0].at_ms)
        .map(|w| (cpu(w[1]) - cpu(w[0])).max(0.0) / ((w[1].at_ms - w[0].at_ms) as f64 / 1e3))
        .collect();
    match spread::from_windows(&readings) {
        Some(e) if e.has_interval() => Estimate {
            value: cores,
            low: e.low.min(cores),
            high: e.high.max(cores),
            ..e
        },
        _ => Estimate::single(cores),
    }
}

/// A step's throughput with its interval (from its windows, or its repeats when combined).
pub fn throughput_estimate(step: &StepResult) -> Estimate {
    spread::estimate(
        step.derived.throughput_rps,
        step.estimates.throughput_ci,
        Method::Windows,
    )
}

/// A step's engine CPU per valid answer (µs) with its interval: the step's own estimate, or
/// cores ÷ throughput when it was stored without one. `None` without answers or CPU samples.
pub fn cpu_per_request_estimate(step: &StepResult) -> Option<Estimate> {
    let d = &step.derived;
    let value = step.estimates.engine_us_per_request.or_else(|| {
        (d.throughput_rps > 0.0 && d.engine_cores > 0.0)
            .then(|| d.engine_cores / d.throughput_rps * 1e6)
    })?;
    Some(spread::estimate(
        value,
        step.estimates.engine_us_per_request_ci,
        Method::Windows,
    ))
}

/// A step's p99 latency (µs) with its interval.
pub fn p99_estimate(step: &StepResult) -> Estimate {
    spread::estimate(
        step.load.latency.p99_us as f64,
        step.estimates.p99_ci_us,
        Method::Windows,
    )
}

/// The labels of a workload's steps whose family is `family`, in the registry's order: our
/// engines and the peers that share their model.
pub(crate) fn of_family(steps: &[&StepResult], family: Family) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for s in steps {
        if engines::family_of(&s.engine) == Some(family) && !labels.contains(&s.engine) {
            labels.push(s.engine.clone());
        }
    }
    engines::sort(&mut labels);
    labels
}

/// The run's steps of one workload, repeats combined into one step per engine and level
/// (median figures, intervals from the repeats: [`spread::combined`]).
pub(crate) fn steps_of(run: &StoredRun, workload: &str) -> Vec<StepResult> {
    let mine: Vec<StepResult> = run
        .steps
        .iter()
        .filter(|s| s.workload == workload)
        .cloned()
        .collect();
    spread::combined(&mine)
}

/// [`steps_of`], or `None` when the run has no step of that workload: then the judge says
/// so with [`no_run_of`].
pub(crate) fn present_steps(run: &StoredRun, workload: &str) -> Option<Vec<StepResult>> {
    Some(steps_of(run, workload)).filter(|steps| !steps.is_empty())
}

/// The finding of a judge whose workload the run did not have, with the command that runs it.
pub(crate) fn no_run_of(workload: &str) -> Finding {
    Finding::no_data(format!(
        "No run has the {workload} workload yet: run `workbench run --workloads {workload}`."
    ))
}

/// References to owned steps, as the helpers below take them.
pub(crate) fn refs(steps: &[StepResult]) -> Vec<&StepResult> {
    steps.iter().collect()
}

/// One engine's steps that did not fail, by level.
pub(crate) fn ok_steps<'a>(steps: &[&'a StepResult], engine: &str) -> Vec<&'a StepResult> {
    let mut out: Vec<&StepResult> = steps
        .iter()
        .copied()
        .filter(|s| s.engine == engine && s.failure.is_none())
        .collect();
    out.sort_by_key(|s| s.level);
    out
}

/// The highest level one engine finished.
pub(crate) fn top_step<'a>(steps: &[&'a StepResult], engine: &str) -> Option<&'a StepResult> {
    ok_steps(steps, engine).pop()
}

/// The most connections one engine held.
pub(crate) fn max_connections(steps: &[&StepResult], engine: &str) -> u64 {
    ok_steps(steps, engine)
        .iter()
        .map(|s| s.load.connections)
        .max()
        .unwrap_or(0)
}

/// The workers a pool's step ran with: what its engine process stated in its ready line
/// ([`StepResult::workers`]), that step's own — db-wait's process (one CPU under split
/// placement: 3 workers on two cores) is not the cpu workload's (5). Never a rule applied to
/// the machine's cores.
pub(crate) fn workers_of(step: &StepResult) -> Option<u64> {
    step.workers()
}

/// The stack each of the threads engine's connection threads reserved in these steps: as
/// the engine stated it ([`wb_model::results::EngineFacts::stack_bytes`]); for steps stored
/// before engines stated it, the run's `--stack-size` flag, or the registry's default.
pub(crate) fn stack_size(run: &StoredRun, steps: &[&StepResult]) -> String {
    let stated = steps
        .iter()
        .find_map(|s| s.facts.as_ref().and_then(|f| f.stack_bytes));
    if let Some(bytes) = stated {
        return wb_model::results::stack_text(bytes);
    }
    let label = steps.first().map_or("threads", |s| s.engine.as_str());
    flag_of(run, label, "--stack-size").unwrap_or_else(|| {
        match engines::find("threads").map(|e| e.defaults) {
            Some(Defaults::StackSize { text, .. }) => text.to_string(),
            _ => "the default".to_string(),
        }
    })
}

/// The value of `flag` in the arguments this run gave the engine `label`.
pub(crate) fn flag_of(run: &StoredRun, label: &str, flag: &str) -> Option<String> {
    let spec = run.config.engines.iter().find(|e| e.label == label)?;
    let at = spec.args.iter().position(|a| a == flag)?;
    spec.args.get(at + 1).cloned()
}

pub(crate) fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}
