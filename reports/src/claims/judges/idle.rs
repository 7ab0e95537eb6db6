//! The idle claims: what a thread costs, and how many sockets one selector loop holds.

use super::*;

/// One engine's memory per idle connection: the slope of its PSS over open connections, and
/// the kernel's share beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionCost {
    /// The engine's (or peer's) label.
    pub engine: String,
    /// What the engine's own memory grew by per connection (PSS slope), with its interval.
    pub user: Estimate,
    /// What the kernel's socket memory grew by per connection, shown apart.
    pub kernel: Estimate,
}

/// The idle workload's memory per connection, as "A thread costs a stack" measures it and
/// every page that quotes a size per connection reads it: one place, so that two pages
/// cannot disagree.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdleCosts {
    /// The threads engine (a thread per connection), when the run measured it.
    pub thread: Option<ConnectionCost>,
    /// The event loops and coroutines (engines and peers), in the registry's order.
    pub loops: Vec<ConnectionCost>,
}

/// The memory per idle connection of the run's idle workload; `None` when the run has none.
pub fn idle_costs(run: &StoredRun) -> Option<IdleCosts> {
    let owned = present_steps(run, "idle")?;
    Some(idle_costs_of(&refs(&owned)))
}

fn idle_costs_of(steps: &[&StepResult]) -> IdleCosts {
    let cost = |engine: &str| {
        idle_slope_estimate(&ok_steps(steps, engine)).map(|(user, kernel)| ConnectionCost {
            engine: engine.to_string(),
            user,
            kernel,
        })
    };
    IdleCosts {
        thread: cost(reference(Family::Thread).label),
        loops: [Family::EventLoop, Family::Coroutine]
            .into_iter()
            .flat_map(|f| crate::claims::evidence::of_family(steps, f))
            .filter_map(|e| cost(&e))
            .collect(),
    }
}

pub(in crate::claims) fn thread_memory(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, "idle") else {
        return no_run_of("idle");
    };
    let steps = refs(&owned);
    let thread = reference(Family::Thread).label;
    let costs = idle_costs_of(&steps);
    let Some(ConnectionCost {
        user: threads,
        kernel: threads_kernel,
        ..
    }) = costs.thread
    else {
        return Finding::missing(
            "threads,selector,coroutines",
            "idle",
            "threads engine to measure",
        );
    };
    let loops: Vec<(String, Estimate, Estimate)> = costs
        .loops
        .into_iter()
        .map(|c| (c.engine, c.user, c.kernel))
        .collect();
    let held = max_connections(&steps, thread);
    let mut sentences = vec![format!(
        "Here, one idle connection cost {} of memory on threads{}: the slope of PSS over open \
         connections, up to {} of them (± is the 95 % interval of the slope).",
        with_spread(&threads, format::bytes),
        loops
            .iter()
            .map(|(e, s, _)| format!(", {} on {e}", with_spread(s, format::bytes)))
            .collect::<String>(),
        format::count(held as f64)
    )];
    let stack = stack_size(run, &ok_steps(&steps, "threads"));
    sentences.push(format!(
        "{}; measured here, {}. Each thread reserved \
         {stack} of address space for its stack, but only the pages it touched count.",
        crate::claims::talk::THREAD_COST,
        format::bytes(threads.value)
    ));
    let sweep = stack_sweep(&steps);
    if let Some(sweep) = sweep_sentence(&sweep) {
        sentences.push(format!(
            "{sweep} The lesson \"A thread's stack is reserved, not touched\" sets them apart."
        ));
    }
    if let Some(ceiling) = thread_ceiling(run) {
        sentences.push(ceiling);
    }
    if let Some((engine, _, kernel)) = loops.first() {
        let kernel_text = |e: &Estimate| {
            if e.below_resolution() {
                format!(
                    "below what this machine resolves (± {})",
                    format::bytes(e.half_width())
                )
            } else {
                with_spread(e, format::bytes)
            }
        };
        sentences.push(format!(
            "The kernel paid {} per connection on top for threads and {} for {engine}, shown \
             apart: socket buffers cost kernel memory in every model, and each thread adds a \
             kernel stack.",
            kernel_text(&threads_kernel),
            kernel_text(kernel)
        ));
    }
    let mut charts = vec![
        charts::memory_per_connection(&run.steps, "idle"),
        charts::bytes_per_connection_bars(&run.steps, "idle"),
    ];
    if sweep.len() >= 2 {
        charts.push(charts::stack_sweep_bars(&run.steps, "idle"));
    }
    let densest = loops.iter().min_by(|a, b| a.1.value.total_cmp(&b.1.value));
    let Some((engine, best, _)) = densest else {
        return Finding::missing(
            "threads,selector,coroutines",
            "idle",
            "event-loop engine or peer (selector, coroutines, asyncio, Twisted…) to compare threads with",
        )
        .with_sentences(sentences, charts);
    };
    let floor = Estimate {
        low: best.low.max(1.0),
        high: best.high.max(1.0),
        ..*best
    };
    let ratio = threads.value / best.value.max(1.0);
    let mut headline = None;
    let outcome = match at_least(&threads, THREAD_COST_RATIO, &floor) {
        Some(true) => {
            headline = Some(format!(
                "Here, one idle {engine} connection cost {} against {} for a thread: {} denser.",
                format::bytes(best.value),
                format::bytes(threads.value),
                format::times(ratio)
            ));
            Outcome::Supported
        }
        Some(false) => Outcome::NotSupported(format!(
            "A thread cost {} per connection, only {} the {} of {engine}: not the difference \
             the claim describes.",
            format::bytes(threads.value),
            format::times(ratio),
            format::bytes(best.value)
        )),
        None => Outcome::Inconclusive(format!(
            "A thread cost {} and {engine} {} per connection: the intervals are too wide to \
             tell a factor of {THREAD_COST_RATIO} apart. Hold more connections, or repeat \
             (`--repeat 3`).",
            with_spread(&threads, format::bytes),
            with_spread(best, format::bytes)
        )),
    };
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}

pub(in crate::claims) fn selector_thousands(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, "idle") else {
        return no_run_of("idle");
    };
    let steps = refs(&owned);
    let (selector, thread) = (
        reference(Family::EventLoop).label,
        reference(Family::Thread).label,
    );
    let Some(best) = ok_steps(&steps, selector)
        .into_iter()
        .max_by_key(|s| s.load.connections)
    else {
        return Finding::missing("selector,threads", "idle", "selector engine");
    };
    let held = best.load.connections;
    let threads_used = best.derived.threads_max;
    let mut sentences = vec![format!(
        "The selector held {} idle connections open on {} {}, in {} of memory in all.",
        format::count(held as f64),
        threads_used,
        plural(threads_used, "thread", "threads"),
        format::bytes(best.derived.peak_pss_bytes as f64)
    )];
    if let Some((sel, _)) = idle_slope_estimate(&ok_steps(&steps, selector)) {
        if sel.below_resolution() {
            sentences.push(format!(
                "One connection cost it less than this machine resolves (± {}).",
                format::bytes(sel.half_width())
            ));
        } else {
            sentences.push(format!(
                "One connection cost it {}.",
                with_spread(&sel, format::bytes)
            ));
        }
    }
    let others: Vec<String> = [Family::EventLoop, Family::Coroutine]
        .into_iter()
        .flat_map(|f| crate::claims::evidence::of_family(&steps, f))
        .filter(|e| e != selector)
        .filter_map(|e| {
            let top = ok_steps(&steps, &e)
                .into_iter()
                .max_by_key(|s| s.load.connections)?;
            Some(format!(
                "{e} held {} on {} {}",
                format::count(top.load.connections as f64),
                top.derived.threads_max,
                plural(top.derived.threads_max, "thread", "threads")
            ))
        })
        .collect();
    if !others.is_empty() {
        sentences.push(format!("Beside it: {}.", others.join("; ")));
    }
    if let Some(thr) = ok_steps(&steps, thread)
        .into_iter()
        .find(|s| s.level == best.level)
    {
        sentences.push(format!(
            "To hold the same {} connections, threads ran {} threads.",
            format::count(thr.load.connections as f64),
            format::count(thr.derived.threads_max as f64)
        ));
    }
    let charts = vec![
        charts::memory_per_connection(&run.steps, "idle"),
        charts::threads(&run.steps, "idle"),
    ];
    let limit = run.summary.machine.open_files_limit;
    let loop_slope = idle_slope_estimate(&ok_steps(&steps, selector)).map(|(u, _)| u);
    let thread_slope = idle_slope_estimate(&ok_steps(&steps, thread)).map(|(u, _)| u);
    if let Some(ceiling) = thread_ceiling(run) {
        sentences.push(ceiling);
    }
    let outcome = if threads_used > ONE_LOOP_THREADS {
        Outcome::NotSupported(format!(
            "The selector ran {threads_used} threads, more than one loop needs."
        ))
    } else if held < THOUSANDS {
        // Room for THOUSANDS connections and the engine's own few descriptors.
        if limit > 0 && limit < THOUSANDS + 64 {
            Outcome::Inconclusive(format!(
                "The selector held {} connections; this machine's open-files limit is {} per \
                 process, too low for {} (each connection is a descriptor, in the engine and \
                 in the load generator alike): raise the hard limit (`ulimit -Hn`, \
                 /etc/security/limits.conf) to test \"thousands\".",
                format::count(held as f64),
                format::count(limit as f64),
                format::count(THOUSANDS as f64)
            ))
        } else {
            Outcome::Inconclusive(format!(
                "The most connections the selector held here was {}: run the idle workload \
                 with levels up to {} (`workbench run --workloads idle`) to test \"thousands\".",
                format::count(held as f64),
                format::count(THOUSANDS as f64)
            ))
        }
    } else {
        match (loop_slope, thread_slope) {
            (_, None) => {
                return Finding::missing(
                    "selector,threads",
                    "idle",
                    "threads engine to set the selector's memory against",
                )
                .with_sentences(sentences, charts);
            }
            (None, _) => Outcome::Inconclusive(
                "The selector's memory per connection could not be fitted (two levels it \
                 reached are needed)."
                    .into(),
            ),
            (Some(sel), Some(thr)) => {
                let fraction = sel.value / thr.value.max(1.0);
                if !sel.has_interval() || !thr.has_interval() {
                    Outcome::Inconclusive(
                        "A memory slope has no interval: one reading is no evidence.".into(),
                    )
                } else if sel.high <= SMALL_FRACTION * thr.low {
                    Outcome::Supported
                } else if sel.low > SMALL_FRACTION * thr.high {
                    Outcome::NotSupported(format!(
                        "The selector held {} connections, but at {} each it cost {:.0} % of \
                         a thread's {}: not a small fraction.",
                        format::count(held as f64),
                        with_spread(&sel, format::bytes),
                        fraction * 100.0,
                        with_spread(&thr, format::bytes)
                    ))
                } else {
                    Outcome::Inconclusive(format!(
                        "The selector's {} per connection against a thread's {}: the intervals \
                         reach across a tenth. Repeat the run (`--repeat 3`).",
                        with_spread(&sel, format::bytes),
                        with_spread(&thr, format::bytes)
                    ))
                }
            }
        }
    };
    Finding::judged(outcome, sentences, charts)
}

/// The threads engine's ceiling on the machine the run measured: not memory but the kernel's
/// count of memory mappings per process, which the threads engine meets first.
fn thread_ceiling(run: &StoredRun) -> Option<String> {
    let limit = run.summary.machine.engine_max_map_count()?;
    let threads = limit / wb_model::engines::THREAD_MAPPINGS;
    Some(format!(
        "Memory is not what stops threads first. Each thread maps {} areas (its stack, the \
         stack's guard page, a signal stack and its guard page), and this machine allows one \
         process vm.max_map_count = {} mappings: about {} threads, so about {} connections, \
         far below kernel.threads-max. Past that, creating a thread fails with EAGAIN; the \
         threads engine's log names the limit and how to raise it (sysctl -w \
         vm.max_map_count=262144).",
        wb_model::engines::THREAD_MAPPINGS,
        format::count(limit as f64),
        format::count(threads as f64),
        format::count(threads.saturating_sub(1) as f64),
    ))
}

/// The command that runs the stack-size sweep.
pub(in crate::claims) const SWEEP_ENGINES: &str =
    "threads,threads:stack-size=32KiB,threads:stack-size=8MiB,selector";

/// One sentence with the sweep's figures, stack by stack: what one connection kept resident
/// against what it reserved. `None` with fewer than two stack sizes.
pub(in crate::claims) fn sweep_sentence(sweep: &[StackSize]) -> Option<String> {
    if sweep.len() < 2 {
        return None;
    }
    let each: Vec<String> = sweep
        .iter()
        .map(|p| {
            format!(
                "{} stack ({}): {} resident, {} of address space",
                wb_model::results::stack_text(p.stack_bytes),
                p.label,
                with_spread(&p.resident, format::bytes),
                p.reserved.as_ref().map_or_else(
                    || "no virtual size recorded".to_string(),
                    |e| with_spread(e, format::bytes)
                )
            )
        })
        .collect();
    Some(format!(
        "Per idle connection, by the stack its thread reserved: {}.",
        each.join("; ")
    ))
}

pub(in crate::claims) fn stack_reserved(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "idle");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(format!(
            "No run has the idle workload yet: run `workbench run --engines {SWEEP_ENGINES} \
             --workloads idle`."
        ));
    }
    let sweep = stack_sweep(&steps);
    let charts = vec![charts::stack_sweep_bars(&run.steps, "idle")];
    let (Some(small), Some(large)) = (sweep.first(), sweep.last()) else {
        return Finding::missing(SWEEP_ENGINES, "idle", "threads engine to measure");
    };
    let mut sentences = vec![];
    if sweep.len() < 2 {
        return Finding::missing(
            SWEEP_ENGINES,
            "idle",
            &format!(
                "second stack size to set against the {} one threads ran with",
                wb_model::results::stack_text(small.stack_bytes)
            ),
        )
        .with_sentences(sentences, charts);
    }
    sentences.extend(sweep_sentence(&sweep));
    let difference = (large.stack_bytes - small.stack_bytes) as f64;
    let vsz = |s: &StepResult| s.derived.peak_vsz_bytes;
    let pss = |s: &StepResult| s.derived.peak_pss_bytes;
    let has_vsz = steps
        .iter()
        .filter(|s| s.engine == small.label || s.engine == large.label)
        .all(|s| s.derived.peak_vsz_bytes > 0);
    let reserved = has_vsz
        .then(|| paired_slope(&steps, &small.label, &large.label, vsz))
        .flatten();
    let resident = paired_slope(&steps, &small.label, &large.label, pss);
    let (Some(reserved), Some(resident)) = (reserved, resident) else {
        let why = if has_vsz {
            "The two stack sizes share fewer than two levels both reached: no slope of their \
             difference."
        } else {
            "This run has no virtual size (VSZ) for its threads steps: it was stored before \
             the sampler read it. Run the sweep again."
        };
        return Finding::judged(Outcome::Inconclusive(why.into()), sentences, charts);
    };
    let (a, b) = (
        wb_model::results::stack_text(small.stack_bytes),
        wb_model::results::stack_text(large.stack_bytes),
    );
    sentences.push(format!(
        "Level by level, the {b} stacks held {} more address space per connection than the \
         {a} ones (the stacks differ by {}), and {} more resident memory.",
        with_spread(&reserved, format::bytes),
        format::bytes(difference),
        with_spread(&resident, format::bytes),
    ));
    sentences.push(format!(
        "{}: that is the stack reserved, address space that mmap hands out at once. The \
         kernel backs a page only when the thread first writes it, so what a thread costs \
         resident is the few pages it touched, whatever the stack size.",
        crate::claims::talk::THREAD_COST,
    ));
    // The reserve grows by the stack difference, within a tenth.
    let band = (
        (1.0 - STACK_RESERVE_SLACK) * difference,
        (1.0 + STACK_RESERVE_SLACK) * difference,
    );
    let flat = RESIDENT_FRACTION * difference;
    let mut headline = None;
    let outcome = if !reserved.has_interval() || !resident.has_interval() {
        Outcome::Inconclusive(
            "A slope has no interval (two levels give a line through two points): run the idle \
             workload at three or more levels."
                .into(),
        )
    } else if reserved.high < band.0 || reserved.low > band.1 {
        Outcome::NotSupported(format!(
            "The address space per connection grew by {} from the {a} to the {b} stack, not \
             by the {} the stacks differ by: the threads did not reserve their stacks as \
             stated.",
            with_spread(&reserved, format::bytes),
            format::bytes(difference)
        ))
    } else if resident.low >= flat || resident.high <= -flat {
        Outcome::NotSupported(format!(
            "Resident memory per connection changed by {} from the {a} to the {b} stack: at \
             least a tenth of the {} the stacks differ by, so the stacks were touched, not \
             only reserved.",
            with_spread(&resident, format::bytes),
            format::bytes(difference)
        ))
    } else if reserved.low >= band.0
        && reserved.high <= band.1
        && resident.high.abs() < flat
        && resident.low.abs() < flat
    {
        headline = Some(format!(
            "Here, a thread's stack was reserved, not touched: {b} stacks took {} of address \
             space per connection and {a} stacks {}, for {} and {} resident.",
            format::bytes(large.reserved.map_or(f64::NAN, |e| e.value)),
            format::bytes(small.reserved.map_or(f64::NAN, |e| e.value)),
            format::bytes(large.resident.value),
            format::bytes(small.resident.value),
        ));
        Outcome::Supported
    } else {
        Outcome::Inconclusive(format!(
            "The difference in address space ({}) or in resident memory ({}) per connection \
             reaches across its threshold (the stack difference {} within a tenth; resident \
             within a tenth of it): hold more connections, or repeat (`--repeat 3`).",
            with_spread(&reserved, format::bytes),
            with_spread(&resident, format::bytes),
            format::bytes(difference)
        ))
    };
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}
