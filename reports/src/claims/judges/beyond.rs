//! Beyond the four models: readiness against completion (the selector's epoll loop against
//! `uring`'s io_uring), and one event loop against a loop per core (`selector:loops=N`).
//!
//! Both read only what the engines reported about themselves: the system calls each counted
//! (`StepResult::syscalls`), the loops each stated (`EngineFacts::loops`, `cpus`), and what
//! the runner measured (CPU, answers, memory).

use super::*;
use crate::claims::evidence::cpu_per_request_estimate;
use crate::claims::{COMPLETION_CALLS_FACTOR, LOOPS_SPEEDUP};

/// The completion engine.
const URING: &str = "uring";

/// The command that measures both lessons.
pub(in crate::claims) const COMMAND: &str =
    "workbench run --engines selector,selector:loops=2,uring,threads --workloads hello,cpu,idle";

/// Microseconds with their interval.
fn us(e: &Estimate) -> String {
    format::estimate(e, format::micros)
}

/// Calls per answer with their interval.
fn calls(e: &Estimate) -> String {
    format::estimate(e, format::sig3)
}

/// A step's system calls per answer, with the spread of its windows: `None` when its engine
/// did not count them.
fn calls_per_answer(step: &StepResult) -> Option<Estimate> {
    step.syscalls
        .as_ref()?
        .per_answer_estimate(&step.load.windows)
}

/// `epoll_wait 0.31, read 1.00, write 1.00`: each call per answer.
fn breakdown(step: &StepResult) -> String {
    let Some(s) = &step.syscalls else {
        return String::new();
    };
    let answers = s.answers.max(1) as f64;
    s.calls
        .iter()
        .map(|(name, n)| format!("{name} {}", format::sig3(*n as f64 / answers)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One level both engines reached with counted calls.
struct Level<'a> {
    level: u64,
    selector: &'a StepResult,
    uring: &'a StepResult,
    selector_calls: Estimate,
    uring_calls: Estimate,
}

/// Judges "readiness or completion" on the hello workload: system calls per answer, the
/// selector against `uring` at the highest level both reached with counts; CPU per `/hello`
/// (nginx beside them when it ran) and bytes per idle connection are reported beside.
pub(in crate::claims) fn readiness_completion(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "hello");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(format!(
            "No run has the hello workload yet: run `{COMMAND}`."
        ));
    }
    let selector = reference(Family::EventLoop).label;
    if let Some(why) = steps
        .iter()
        .filter(|s| s.engine == URING)
        .find_map(|s| s.flags.not_supported.clone())
    {
        return Finding::judged(
            Outcome::Inconclusive(format!(
                "The uring engine could not run on this machine ({why}): completion cannot be \
                 set against readiness here."
            )),
            Vec::new(),
            Vec::new(),
        );
    }
    let sel_steps = ok_steps(&steps, selector);
    let uring_steps = ok_steps(&steps, URING);
    if sel_steps.is_empty() || uring_steps.is_empty() {
        return Finding::missing(
            "selector,uring",
            "hello,idle",
            "selector and uring steps (readiness against completion)",
        );
    }
    let levels: Vec<Level> = sel_steps
        .iter()
        .filter_map(|s| {
            let u = uring_steps.iter().find(|u| u.level == s.level)?;
            Some(Level {
                level: s.level,
                selector: s,
                uring: u,
                selector_calls: calls_per_answer(s)?,
                uring_calls: calls_per_answer(u)?,
            })
        })
        .collect();
    let mut sentences: Vec<String> = levels
        .iter()
        .map(|l| {
            format!(
                "At {} connections the selector made {} system calls per answer ({}); uring {} \
                 ({}).",
                l.level,
                calls(&l.selector_calls),
                breakdown(l.selector),
                calls(&l.uring_calls),
                breakdown(l.uring)
            )
        })
        .collect();
    if let Some(cpu) = cpu_sentence(&steps, selector) {
        sentences.push(cpu);
    }
    if let Some(idle) = idle_sentence(run, &[selector, URING, "nginx"]) {
        sentences.push(idle);
    }
    let mut charts = vec![charts::cost_per_request(&run.steps, "hello")];
    if run.steps.iter().any(|s| s.workload == "idle") {
        charts.push(charts::bytes_per_connection_bars(&run.steps, "idle"));
    }
    let Some(top) = levels.last() else {
        return Finding::judged(
            Outcome::Inconclusive(
                "Neither engine's steps carry their system-call counts at a common level (runs \
                 from before engines counted them, or engines on other hosts): rerun on this \
                 machine."
                    .into(),
            ),
            sentences,
            charts,
        );
    };
    let headline = format!(
        "At {} connections uring made {} system calls per answer, the selector {}: one \
         io_uring_enter submits and reaps many operations, epoll needs a recv and a writev \
         for each.",
        top.level,
        calls(&top.uring_calls),
        calls(&top.selector_calls)
    );
    let factor = format::sig3(COMPLETION_CALLS_FACTOR);
    let outcome = match at_least(
        &top.selector_calls,
        COMPLETION_CALLS_FACTOR,
        &top.uring_calls,
    ) {
        Some(true) => Outcome::Supported,
        Some(false) => Outcome::NotSupported(format!(
            "At {} connections uring made {} system calls per answer against the selector's \
             {}: not {factor} times fewer, so completion did not batch the calls away here.",
            top.level,
            calls(&top.uring_calls),
            calls(&top.selector_calls)
        )),
        None => Outcome::Inconclusive(format!(
            "At {} connections uring made {} system calls per answer and the selector {}: the \
             intervals reach across a factor of {factor} (or a figure has none). Longer steps \
             (`--step-secs`) narrow them.",
            top.level,
            calls(&top.uring_calls),
            calls(&top.selector_calls)
        )),
    };
    Finding::judged(outcome, sentences, charts).with_headline(Some(headline))
}

/// CPU per `/hello` at the highest level the selector and uring both reached, nginx beside
/// them when it ran at that level.
fn cpu_sentence(steps: &[&StepResult], selector: &str) -> Option<String> {
    let at = |engine: &str, level: u64| {
        ok_steps(steps, engine)
            .into_iter()
            .find(|s| s.level == level)
            .and_then(cpu_per_request_estimate)
    };
    let level = ok_steps(steps, selector)
        .iter()
        .filter(|s| at(URING, s.level).is_some() && cpu_per_request_estimate(s).is_some())
        .map(|s| s.level)
        .max()?;
    let (sel, ur) = (at(selector, level)?, at(URING, level)?);
    let mut text = format!(
        "CPU per /hello at {level} connections: uring {}, the selector {} ({}).",
        us(&ur),
        us(&sel),
        format::significant_change(&ur, &sel, format::Better::Lower)
    );
    match at("nginx", level) {
        Some(nginx) => text.push_str(&format!(
            " nginx (epoll, a C event loop) {} at the same level.",
            us(&nginx)
        )),
        None => text
            .push_str(" Add `--peers nginx` to set both beside nginx (`workbench peers install`)."),
    }
    Some(text)
}

/// Bytes per idle connection of `labels` that ran the idle workload.
fn idle_sentence(run: &StoredRun, labels: &[&str]) -> Option<String> {
    let owned = steps_of(run, "idle");
    let steps = refs(&owned);
    let parts: Vec<String> = labels
        .iter()
        .filter_map(|label| {
            let (user, kernel) = idle_slope_estimate(&ok_steps(&steps, label))?;
            let kernel = if kernel.below_resolution() {
                "below what the run resolves".to_string()
            } else {
                format::estimate(&kernel, format::bytes)
            };
            Some(format!(
                "{label} {} (kernel: {kernel})",
                format::estimate(&user, format::bytes)
            ))
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "Bytes per idle connection, the slope of memory over open connections, in the \
             process and, apart, in the kernel (socket memory, unreclaimable slabs and kernel \
             stacks, read machine-wide: where uring's posted receive and its linked timeout \
             live): {}.",
            parts.join(", ")
        )
    })
}

/// The engine of `steps` that states the most loops (more than one): `(label, loops)`.
fn loops_engine(steps: &[&StepResult]) -> Option<(String, u64)> {
    steps
        .iter()
        .filter(|s| s.failure.is_none())
        .filter_map(|s| Some((s.engine.clone(), s.facts.as_ref()?.loops?)))
        .filter(|(_, n)| *n > 1)
        .max_by_key(|(_, n)| *n)
}

/// Judges "a loop per core" on the cpu workload (the hello workload reported beside): one
/// selector loop against N loops on one port against threads, in cores used, answers and CPU
/// per request; whether N loops answer at least [`LOOPS_SPEEDUP`] times one loop's at the
/// highest level both reached. "Not supported" needs a thread-per-connection engine that
/// used more than one core at that level: proof that the machine had a second core to give.
pub(in crate::claims) fn loop_per_core(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, "cpu") else {
        return Finding::no_data(format!("No run has the cpu workload yet: run `{COMMAND}`."));
    };
    let steps = refs(&owned);
    let selector = reference(Family::EventLoop).label;
    if ok_steps(&steps, selector).is_empty() {
        return Finding::missing(
            "selector,selector:loops=2,threads",
            "cpu,hello",
            "selector engine (one loop)",
        );
    }
    let Some((many, loops)) = loops_engine(&steps) else {
        return Finding::missing(
            "selector,selector:loops=2,threads",
            "cpu,hello",
            "selector with a loop per core (selector:loops=N)",
        );
    };
    let level = ok_steps(&steps, selector)
        .iter()
        .filter(|s| ok_steps(&steps, &many).iter().any(|m| m.level == s.level))
        .map(|s| s.level)
        .max();
    let at = |engine: &str, level: u64| {
        ok_steps(&steps, engine)
            .into_iter()
            .find(|s| s.level == level)
    };
    let Some(level) = level else {
        return Finding::missing(
            "selector,selector:loops=2,threads",
            "cpu,hello",
            "selector and loop-per-core steps at a common level",
        );
    };
    let one = at(selector, level).expect("the level is the selector's");
    let n = at(&many, level).expect("the level is both engines'");
    let machine_cores = run.summary.machine.cores;
    let describe = |label: &str, s: &StepResult| {
        let cpu = cpu_per_request_estimate(s)
            .map(|e| format!(", {} of CPU per request", us(&e)))
            .unwrap_or_default();
        format!(
            "{label} used {} cores and answered {}{cpu}",
            with_spread(&cores_estimate(s), format::sig3),
            format::estimate(&throughput_estimate(s), format::rps)
        )
    };
    let mut sentences = vec![format!(
        "On the cpu workload at {level} connections, on this {machine_cores}-core machine \
         (shared with the load generator): one loop ({}); {loops} loops ({}); {}.",
        describe(selector, one),
        describe(&many, n),
        match at("threads", level) {
            Some(t) => format!("a thread per connection ({})", describe("threads", t)),
            None => "add threads to set a thread per connection beside them".into(),
        }
    )];
    if let Some(hello) = hello_sentence(run, selector, &many) {
        sentences.push(hello);
    }
    let charts = vec![
        charts::cores(&run.steps, "cpu"),
        charts::throughput(&run.steps, "cpu"),
    ];
    let (one_rps, n_rps) = (throughput_estimate(one), throughput_estimate(n));
    let n_cores = cores_estimate(n);
    let speedup = format::sig3(LOOPS_SPEEDUP);
    let headline = format!(
        "{loops} loops on one port answered {} against one loop's {} on the cpu workload, \
         using {} cores against {}.",
        format::estimate(&n_rps, format::rps),
        format::estimate(&one_rps, format::rps),
        format::sig3(n_cores.value),
        format::sig3(cores_estimate(one).value)
    );
    let cpus = n.cpus();
    let saturated = n.flags.client_saturated || one.flags.client_saturated;
    // Whether the machine had a second core to give at this level: a parallel model (a thread
    // per connection) used more than one core here. Without that, loops that did not scale
    // may only have found the other cores busy (the load generator, other work).
    let second_core = at("threads", level).map(|t| cores_estimate(t).low > ONE_CORE);
    let outcome = if let Some(cpus @ 0..2) = cpus {
        Outcome::Inconclusive(format!(
            "The loops' process could run on {cpus} CPU only (its placement): loops cannot \
             scale with cores it does not have."
        ))
    } else if cpus.is_none() && machine_cores < 2 {
        Outcome::Inconclusive("This machine has one core: nothing to scale onto.".into())
    } else {
        match at_least(&n_rps, LOOPS_SPEEDUP, &one_rps) {
            Some(true) if n_cores.low > ONE_CORE => Outcome::Supported,
            Some(false) if second_core == Some(false) => Outcome::Inconclusive(format!(
                "{loops} loops answered {} against one loop's {}, but threads used no more \
                 than one core either ({} cores) at {level} connections: this machine gave \
                 no second core to scale onto (other work, or the load generator, held it), \
                 so the loops' failure to scale says nothing about them.",
                format::estimate(&n_rps, format::rps),
                format::estimate(&one_rps, format::rps),
                at("threads", level)
                    .map(|t| with_spread(&cores_estimate(t), format::sig3))
                    .unwrap_or_default()
            )),
            Some(false) if second_core.is_none() => Outcome::Inconclusive(format!(
                "{loops} loops answered {} against one loop's {}: less than {speedup} times as \
                 many, but with no thread-per-connection engine beside them this run cannot \
                 tell loops that do not scale from a machine with no free core; add threads \
                 (`--engines selector,selector:loops=2,threads`).",
                format::estimate(&n_rps, format::rps),
                format::estimate(&one_rps, format::rps),
            )),
            Some(false) if !saturated => Outcome::NotSupported(format!(
                "{loops} loops answered {} against one loop's {}: less than {speedup} times \
                 as many, so the loops did not scale with this machine's cores ({} cores used \
                 against one loop's {}).",
                format::estimate(&n_rps, format::rps),
                format::estimate(&one_rps, format::rps),
                with_spread(&n_cores, format::sig3),
                with_spread(&cores_estimate(one), format::sig3)
            )),
            _ => Outcome::Inconclusive(format!(
                "{loops} loops answered {} against one loop's {}, using {} cores: the \
                 contrast needs their whole interval past {speedup} times one loop's and more \
                 than one core used{}. On {machine_cores} cores shared with the load \
                 generator the loops may have no free core to scale onto; longer steps or a \
                 machine with more cores would tell.",
                format::estimate(&n_rps, format::rps),
                format::estimate(&one_rps, format::rps),
                with_spread(&n_cores, format::sig3),
                if saturated {
                    "; the load generator was saturated"
                } else {
                    ""
                }
            )),
        }
    };
    Finding::judged(outcome, sentences, charts).with_headline(Some(headline))
}

/// The hello workload beside the cpu one: answers and CPU per request of one loop, the
/// loops and threads at the highest level all of them reached.
fn hello_sentence(run: &StoredRun, selector: &str, many: &str) -> Option<String> {
    let owned = steps_of(run, "hello");
    let steps = refs(&owned);
    let level = ok_steps(&steps, selector)
        .iter()
        .filter(|s| ok_steps(&steps, many).iter().any(|m| m.level == s.level))
        .map(|s| s.level)
        .max()?;
    let parts: Vec<String> = [selector, many, "threads"]
        .iter()
        .filter_map(|label| {
            let s = ok_steps(&steps, label)
                .into_iter()
                .find(|s| s.level == level)?;
            let cpu = cpu_per_request_estimate(s)
                .map(|e| format!(" at {} of CPU each", us(&e)))
                .unwrap_or_default();
            Some(format!(
                "{label} {}{cpu}",
                format::estimate(&throughput_estimate(s), format::rps)
            ))
        })
        .collect();
    // The CPUs the loops could use there, as they stated them: the hello workload may place
    // the engine on fewer CPUs than the cpu workload (its placement), and loops on one CPU
    // take turns.
    let cpus = ok_steps(&steps, many)
        .into_iter()
        .find(|s| s.level == level)
        .and_then(StepResult::cpus)
        .map(|n| {
            format!(
                " (the loops' process on {n} CPU{}, its placement)",
                if n == 1 { "" } else { "s" }
            )
        })
        .unwrap_or_default();
    Some(format!(
        "On /hello at {level} connections{cpus}, answers per second: {}.",
        parts.join("; ")
    ))
}
