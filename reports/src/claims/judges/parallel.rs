//! Concurrency is not parallelism: cores used on CPU-bound work.

use super::*;
use crate::claims::cpu_per_request_estimate;

pub(in crate::claims) fn cpu_parallelism(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, "cpu") else {
        return no_run_of("cpu");
    };
    let steps = refs(&owned);
    let busiest = |engine: &str| {
        ok_steps(&steps, engine)
            .into_iter()
            .map(cores_estimate)
            .max_by(|a, b| a.value.total_cmp(&b.value))
    };
    let selector = reference(Family::EventLoop).label;
    let Some(sel) = busiest(selector) else {
        return Finding::missing("selector,threads,pool,coroutines", "cpu", "selector engine");
    };
    let machine_cores = run.summary.machine.cores;
    let cpu_us = run
        .config
        .workloads
        .iter()
        .find(|w| w.name == "cpu")
        .map_or(500, |w| w.request.cpu_us);
    let mut sentences = vec![format!(
        "{} On this {machine_cores}-core machine the selector never used more than {} cores: \
         its one loop runs one request's work at a time, however many connections wait.",
        cpu_per_request_sentence(&ok_steps(&steps, selector), cpu_us),
        with_spread(&sel, format::sig3)
    )];
    // The models whose one engine runs requests on several cores at once.
    let parallel = wb_model::engines::FAMILIES
        .map(reference)
        .into_iter()
        .filter(|e| e.parallel)
        .filter_map(|e| busiest(e.label).map(|c| (e.label, c)))
        .max_by(|a, b| a.1.value.total_cmp(&b.1.value));
    let top_level = steps.iter().map(|s| s.level).max().unwrap_or(0);
    let rps_at_top = |engine: &str| {
        ok_steps(&steps, engine)
            .into_iter()
            .find(|s| s.level == top_level)
            .map(|s| s.derived.throughput_rps)
    };
    if let Some((engine, cores)) = &parallel {
        let mut line = format!(
            "{engine} reached {} cores",
            with_spread(cores, format::sig3)
        );
        if let (Some(a), Some(b)) = (rps_at_top(engine), rps_at_top(selector)) {
            line.push_str(&format!(
                " and answered {} against the selector's {} at {top_level} connections",
                format::rps(a),
                format::rps(b)
            ));
        }
        sentences.push(format!("{line}."));
    }
    let loops: Vec<String> = crate::claims::evidence::of_family(&steps, Family::EventLoop)
        .into_iter()
        .filter(|e| wb_model::engines::is_peer(e))
        .filter_map(|e| busiest(&e).map(|c| format!("{e} {}", format::sig3(c.value))))
        .collect();
    if !loops.is_empty() {
        sentences.push(format!(
            "The Python event loops measured beside it, cores used: {}.",
            loops.join(", ")
        ));
    }
    match busiest("selector-offload") {
        Some(cores) => sentences.push(format!(
            "With --offload, selector-offload deferred the work to a thread pool and reached \
             {} cores: the loop stays one thread, the work does not.",
            format::sig3(cores.value)
        )),
        None => sentences.push(
            "Add the selector-offload engine to see the selector with its CPU work deferred to \
             a thread pool."
                .into(),
        ),
    }
    let client = steps
        .iter()
        .map(|s| s.derived.client_cores)
        .fold(0.0, f64::max);
    sentences.push(format!(
        "The load generator used up to {} cores of the same machine, so the engines share the \
         {machine_cores} cores with it.",
        format::sig3(client)
    ));
    let charts = vec![
        charts::cores(&run.steps, "cpu"),
        charts::throughput(&run.steps, "cpu"),
    ];
    // The CPUs the parallel engine's process could use, as it stated them: placement may
    // give it fewer than the machine has. The machine's cores only for runs stored before
    // engines stated theirs.
    let parallel_cpus = parallel.as_ref().and_then(|(engine, _)| {
        ok_steps(&steps, engine)
            .into_iter()
            .max_by(|a, b| a.derived.engine_cores.total_cmp(&b.derived.engine_cores))
            .and_then(StepResult::cpus)
    });
    let outcome = if let Some(cpus @ 0..2) = parallel_cpus {
        Outcome::Inconclusive(format!(
            "The parallel engine's process could run on {cpus} CPU only (its placement): \
             nothing could run in parallel, so it cannot show the difference."
        ))
    } else if parallel_cpus.is_none() && machine_cores < 2 {
        Outcome::Inconclusive(
            "This machine has one core: nothing can run in parallel on it, so it cannot show \
             the difference."
                .into(),
        )
    } else if sel.low > ONE_CORE {
        Outcome::NotSupported(format!(
            "The selector used {} cores, more than one loop can: something else ran on its \
             threads.",
            with_spread(&sel, format::sig3)
        ))
    } else {
        match parallel {
            None => {
                return Finding::missing(
                    "selector,threads,pool,coroutines",
                    "cpu",
                    "threads, pool or coroutines engine to compare the selector with",
                )
                .with_sentences(sentences, charts);
            }
            Some((engine, cores)) => {
                // The contrast, on both sides of one core (ONE_CORE: one core and the
                // kernel's work on its behalf): the parallel model's whole interval above it,
                // the loop's at or below it.
                let saturated = ok_steps(&steps, engine)
                    .iter()
                    .any(|s| s.flags.client_saturated);
                if !cores.has_interval() || !sel.has_interval() {
                    Outcome::Inconclusive(format!(
                        "{engine}'s cores ({}) or the selector's ({}) have no interval: one \
                         reading is no evidence. Repeat the run (`--repeat 3`) or lengthen the \
                         steps.",
                        format::sig3(cores.value),
                        format::sig3(sel.value)
                    ))
                } else if cores.low > ONE_CORE && sel.high <= ONE_CORE {
                    Outcome::Supported
                } else if cores.high <= ONE_CORE && !saturated {
                    Outcome::NotSupported(format!(
                        "No model ran requests in parallel here: {engine}, the busiest, used \
                         {} cores, no more than one core can give, like the selector's {}.",
                        with_spread(&cores, format::sig3),
                        with_spread(&sel, format::sig3)
                    ))
                } else {
                    Outcome::Inconclusive(format!(
                        "{engine} used {} cores and the selector {}: the contrast needs \
                         {engine}'s whole interval above one core ({ONE_CORE}, with the \
                         kernel's share) and the selector's at or below it{}.",
                        with_spread(&cores, format::sig3),
                        with_spread(&sel, format::sig3),
                        if saturated {
                            "; the load generator was saturated, so it may have held the \
                             engines back"
                        } else {
                            ""
                        }
                    ))
                }
            }
        }
    };
    Finding::judged(outcome, sentences, charts)
}

/// What one request cost, as the run measured it on the selector's one core: the engine's CPU
/// per answer at each level (with its interval), not the workload's nominal figure, which
/// only says how much SHA-256 was asked for.
pub(in crate::claims) fn cpu_per_request_sentence(
    selector: &[&StepResult],
    asked_us: u64,
) -> String {
    let measured: Vec<Estimate> = selector
        .iter()
        .filter_map(|s| cpu_per_request_estimate(s))
        .collect();
    let us = |v: f64| format!("{} µs", format::sig3(v));
    let asked = format!(
        "each request asks for {asked_us} µs of this machine's calibrated SHA-256; parsing, \
         system calls and the loop come on top"
    );
    match measured.as_slice() {
        [] => format!("The run measured no CPU per request on the selector ({asked})."),
        [one] => format!(
            "Measured on the selector's one core, a request cost {} of CPU ({asked}).",
            with_spread(one, us)
        ),
        many => {
            let low = many.iter().map(|e| e.value).fold(f64::INFINITY, f64::min);
            let high = many.iter().map(|e| e.value).fold(0.0, f64::max);
            let widest = many.iter().map(Estimate::half_width).fold(0.0, f64::max);
            let spread = if widest > 0.0 {
                format!(", each level within ± {}", us(widest))
            } else {
                String::new()
            };
            format!(
                "Measured on the selector's one core, a request cost {} to {} of CPU across \
                 its {} levels{spread} ({asked}).",
                us(low),
                us(high),
                many.len()
            )
        }
    }
}
