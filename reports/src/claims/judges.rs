//! The six judges, one per lesson. Each reads one workload's steps of one run and returns a
//! [`Finding`]; the verdict rules are in the [module docs](super).

use workloads::engines::Family;
use workloads::results::StepResult;
use workloads::spread::Estimate;

use super::evidence::{
    cores_estimate, idle_slope_estimate, max_connections, ok_steps, p99_estimate, plural,
    pool_workers, refs, stack_size, steps_of, throughput_estimate, top_step,
};
use super::{
    CEILING_SLACK, DOWNLOAD_SLACK, Finding, HOSTAGE_FACTOR, ONE_CORE, ONE_LOOP_THREADS,
    OVERLAP_ADVANTAGE, Outcome, PARALLEL_ADVANTAGE, THOUSANDS, THREAD_COST_RATIO,
};
use crate::charts;
use crate::format;
use crate::store::StoredRun;

/// `figure (± half-width)`, or the figure alone when it has no interval.
fn with_spread(e: &Estimate, show: impl Fn(f64) -> String) -> String {
    if e.has_interval() {
        format!("{} (± {})", show(e.value), show(e.half_width()))
    } else {
        show(e.value)
    }
}

/// Compares `a ≥ factor × b` with intervals: supported when the whole of `a` is past the
/// factor times the whole of `b`, refuted when the whole of `a` falls short, else `None`.
fn at_least(a: &Estimate, factor: f64, b: &Estimate) -> Option<bool> {
    if a.low >= factor * b.high {
        Some(true)
    } else if a.high < factor * b.low {
        Some(false)
    } else {
        None
    }
}

pub(super) fn thread_memory(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "idle");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(
            "No run has the idle workload yet: run `workbench run --workloads idle`.".into(),
        );
    }
    let slope = |engine: &str| idle_slope_estimate(&ok_steps(&steps, engine));
    let Some((threads, threads_kernel)) = slope("threads") else {
        return Finding::missing(
            "threads,selector,coroutines",
            "idle",
            "threads engine to measure",
        );
    };
    let loops: Vec<(String, Estimate, Estimate)> = [Family::EventLoop, Family::Coroutine]
        .into_iter()
        .flat_map(|f| super::evidence::of_family(&steps, f))
        .filter_map(|e| slope(&e).map(|(u, k)| (e, u, k)))
        .collect();
    let held = max_connections(&steps, "threads");
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
    let stack = stack_size(run);
    sentences.push(format!(
        "The talk says a thread costs 32 KiB to 8 MiB; measured here, {}. Each thread reserved \
         {stack} of address space for its stack, but only the pages it touched count.",
        format::bytes(threads.value)
    ));
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
    let charts = vec![
        charts::memory_per_connection(&run.steps, "idle"),
        charts::bytes_per_connection_bars(&run.steps, "idle"),
    ];
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

pub(super) fn selector_thousands(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "idle");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(
            "No run has the idle workload yet: run `workbench run --workloads idle`.".into(),
        );
    }
    let Some(best) = ok_steps(&steps, "selector")
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
    if let Some((sel, _)) = idle_slope_estimate(&ok_steps(&steps, "selector")) {
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
        .flat_map(|f| super::evidence::of_family(&steps, f))
        .filter(|e| e != "selector")
        .filter_map(|e| {
            let top = ok_steps(&steps, &e)
                .into_iter()
                .max_by_key(|s| s.load.connections)?;
            Some(format!(
                "{e} held {} on {} threads",
                format::count(top.load.connections as f64),
                top.derived.threads_max
            ))
        })
        .collect();
    if !others.is_empty() {
        sentences.push(format!("Beside it: {}.", others.join("; ")));
    }
    if let Some(thr) = ok_steps(&steps, "threads")
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
    let outcome = if threads_used > ONE_LOOP_THREADS {
        Outcome::NotSupported(format!(
            "The selector ran {threads_used} threads, more than one loop needs."
        ))
    } else if held < THOUSANDS {
        Outcome::Inconclusive(format!(
            "The most connections held here was {}: run the idle workload with levels of \
             {THOUSANDS} or more to test \"thousands\".",
            format::count(held as f64)
        ))
    } else {
        Outcome::Supported
    };
    Finding::judged(outcome, sentences, charts)
}

pub(super) fn big_response(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "big-response");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(
            "No run has the big-response workload yet: run `workbench run --workloads \
             big-response`."
                .into(),
        );
    }
    let Some(sel) = top_step(&steps, "selector") else {
        return Finding::missing("selector,threads,pool", "big-response", "selector engine");
    };
    let workload = run
        .config
        .workloads
        .iter()
        .find(|w| w.name == "big-response");
    let body = workload.map_or(1 << 20, |w| w.request.bytes) as f64;
    let read_rate = workload.and_then(|w| w.read_rate).unwrap_or(1 << 20) as f64;
    let ideal_us = body / read_rate * 1e6;
    let n = sel.level;
    let p99 = p99_estimate(sel);
    let mut sentences = vec![
        format!(
            "Each client downloads {} and reads it at {} a second, so a download takes at least \
             {} however fast the server is.",
            format::bytes(body),
            format::bytes(read_rate),
            format::micros(ideal_us)
        ),
        format!(
            "At {n} slow readers the selector finished downloads in {} at the 99th percentile \
             on {} {}: its transports queued what each socket could not take yet and wrote \
             more whenever a socket became writable, serving the others meanwhile.",
            with_spread(&p99, format::micros),
            sel.derived.threads_max,
            plural(sel.derived.threads_max, "thread", "threads")
        ),
    ];
    for peer in super::evidence::of_family(&steps, Family::EventLoop)
        .into_iter()
        .filter(|e| e != "selector")
    {
        if let Some(s) = top_step(&steps, &peer) {
            sentences.push(format!(
                "{peer}, another event loop, took {} at {} readers.",
                format::micros(s.load.latency.p99_us as f64),
                s.level
            ));
        }
    }
    if let Some(thr) = top_step(&steps, "threads") {
        sentences.push(format!(
            "Threads needed {} threads for the same {} readers, each blocked in write() until \
             its client had read.",
            thr.derived.threads_max, thr.level
        ));
    }
    if let Some(pool) = top_step(&steps, "pool") {
        let workers = pool_workers(run);
        sentences.push(format!(
            "The pool's {workers} workers serve one reader each at a time: with {} readers its \
             99th percentile download took {}.",
            pool.level,
            format::micros(pool.load.latency.p99_us as f64)
        ));
    }
    let charts = vec![
        charts::latency(&run.steps, "big-response"),
        charts::threads(&run.steps, "big-response"),
        charts::memory(&run.steps, "big-response"),
    ];
    let limit = DOWNLOAD_SLACK * ideal_us;
    let outcome = if sel.load.errors.total() > 0 || sel.load.completed == 0 {
        Outcome::NotSupported(format!(
            "The selector did not complete every download ({} errors, {} completed).",
            sel.load.errors.total(),
            sel.load.completed
        ))
    } else if sel.derived.threads_max > ONE_LOOP_THREADS {
        Outcome::NotSupported(format!(
            "The selector ran {} threads: this is not one loop.",
            sel.derived.threads_max
        ))
    } else if p99.low > limit {
        Outcome::NotSupported(format!(
            "The selector's downloads took {} at the 99th percentile, over {DOWNLOAD_SLACK}× \
             the {} the readers need: the loop fell behind.",
            format::micros(p99.value),
            format::micros(ideal_us)
        ))
    } else if p99.high > limit {
        Outcome::Inconclusive(format!(
            "The selector's p99 download, {}, straddles {DOWNLOAD_SLACK}× the {} the readers \
             need.",
            with_spread(&p99, format::micros),
            format::micros(ideal_us)
        ))
    } else {
        Outcome::Supported
    };
    let headline = sentences.get(1).cloned();
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}

pub(super) fn db_wait(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "db-wait");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(
            "No run has the db-wait workload yet: run `workbench run --workloads db-wait`.".into(),
        );
    }
    let wait_ms = run
        .config
        .workloads
        .iter()
        .find(|w| w.name == "db-wait")
        .map_or(10, |w| w.request.wait_ms)
        .max(1);
    let per_worker = 1000.0 / wait_ms as f64;
    let mut sentences = vec![format!(
        "Every request waits {wait_ms} ms and burns almost no CPU: what matters is how many \
         waits a model can overlap. The talk's line: \"you're probably waiting on the database\"."
    )];
    // The pool, or a peer that is a prefork pool (gunicorn's sync workers).
    let pools = super::evidence::of_family(&steps, Family::Process);
    let Some(pool_label) = pools.first().cloned() else {
        return Finding::missing(
            "pool,threads,selector,coroutines",
            "db-wait",
            "pool engine, whose ceiling the claim is about",
        )
        .with_sentences(sentences, Vec::new());
    };
    let workers = pool_workers(run);
    let ceiling = workers as f64 * per_worker;
    let pool_best = ok_steps(&steps, &pool_label)
        .into_iter()
        .max_by(|a, b| {
            a.derived
                .throughput_rps
                .total_cmp(&b.derived.throughput_rps)
        })
        .map(throughput_estimate);
    if let Some(best) = &pool_best {
        sentences.push(format!(
            "The {pool_label}'s {workers} workers can finish at most {workers} × {} = {}; it \
             reached {} ({:.0}% of that ceiling).",
            format::count(per_worker),
            format::rps(ceiling),
            with_spread(best, format::rps),
            best.value / ceiling * 100.0
        ));
    }
    let top_level = steps.iter().map(|s| s.level).max().unwrap_or(0);
    let mut overlapping: Vec<String> = [Family::Thread, Family::EventLoop, Family::Coroutine]
        .into_iter()
        .flat_map(|f| super::evidence::of_family(&steps, f))
        .collect();
    workloads::engines::sort(&mut overlapping);
    let others: Vec<(String, &StepResult)> = overlapping
        .into_iter()
        .filter_map(|e| {
            let s = ok_steps(&steps, &e)
                .into_iter()
                .find(|s| s.level == top_level)?;
            Some((e, s))
        })
        .collect();
    let best_other = others
        .iter()
        .map(|(_, s)| throughput_estimate(s))
        .max_by(|a, b| a.value.total_cmp(&b.value));
    if !others.is_empty() {
        let list = others
            .iter()
            .map(|(e, s)| format!("{e} {}", format::rps(s.derived.throughput_rps)))
            .collect::<Vec<_>>()
            .join(", ");
        let cores = others
            .iter()
            .map(|(_, s)| s.derived.engine_cores)
            .fold(0.0, f64::max);
        sentences.push(format!(
            "At {top_level} connections, {list}, using at most {} cores: waiting costs no CPU.",
            format::sig3(cores)
        ));
    }
    let charts = vec![
        charts::throughput(&run.steps, "db-wait"),
        charts::latency(&run.steps, "db-wait"),
    ];
    let ceiling_e = Estimate::single(ceiling);
    let outcome = match (pool_best, best_other) {
        (None, _) => Outcome::Inconclusive(format!("Every {pool_label} step failed.")),
        (Some(_), _) if top_level <= workers => Outcome::Inconclusive(format!(
            "The levels never went above the pool's {workers} workers ({top_level} connections \
             at most), so its ceiling could not show: run `workbench run --workloads db-wait` \
             with levels above {workers}."
        )),
        (Some(best), _) if best.low > CEILING_SLACK * ceiling => Outcome::NotSupported(format!(
            "The pool answered {}, above its ceiling of {}: the wait did not hold its workers \
             as the claim says.",
            with_spread(&best, format::rps),
            format::rps(ceiling)
        )),
        (Some(_), None) => Outcome::Inconclusive(
            "This run has no engine that overlaps waits (threads, selector, coroutines or an \
             event-loop peer) at the top level: run `workbench run --engines \
             pool,threads,selector,coroutines --workloads db-wait`."
                .into(),
        ),
        (Some(best), Some(other)) => {
            let capped = at_least(&ceiling_e, 1.0 / CEILING_SLACK, &best);
            match (capped, at_least(&other, OVERLAP_ADVANTAGE, &best)) {
                (_, Some(false)) => Outcome::NotSupported(format!(
                    "No other model did much better than the pool here ({} against {}).",
                    with_spread(&other, format::rps),
                    with_spread(&best, format::rps)
                )),
                (Some(false), _) => Outcome::NotSupported(format!(
                    "The pool answered {}, above its ceiling of {}.",
                    with_spread(&best, format::rps),
                    format::rps(ceiling)
                )),
                (Some(true), Some(true)) => Outcome::Supported,
                _ => Outcome::Inconclusive(format!(
                    "The pool's {} and the best other model's {} are too close to their \
                     intervals to call: repeat the run (`--repeat 3`).",
                    with_spread(&best, format::rps),
                    with_spread(&other, format::rps)
                )),
            }
        }
    };
    let headline = sentences.get(1).cloned();
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}

pub(super) fn cpu_parallelism(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "cpu");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(
            "No run has the cpu workload yet: run `workbench run --workloads cpu`.".into(),
        );
    }
    let busiest = |engine: &str| {
        ok_steps(&steps, engine)
            .into_iter()
            .map(cores_estimate)
            .max_by(|a, b| a.value.total_cmp(&b.value))
    };
    let Some(sel) = busiest("selector") else {
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
        "Every request burns {cpu_us} µs of CPU. On this {machine_cores}-core machine the \
         selector never used more than {} cores: its one loop runs one request's work at a \
         time, however many connections wait.",
        with_spread(&sel, format::sig3)
    )];
    let parallel = ["threads", "pool", "coroutines"]
        .into_iter()
        .filter_map(|e| busiest(e).map(|c| (e, c)))
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
        if let (Some(a), Some(b)) = (rps_at_top(engine), rps_at_top("selector")) {
            line.push_str(&format!(
                " and answered {} against the selector's {} at {top_level} connections",
                format::rps(a),
                format::rps(b)
            ));
        }
        sentences.push(format!("{line}."));
    }
    let loops: Vec<String> = super::evidence::of_family(&steps, Family::EventLoop)
        .into_iter()
        .filter(|e| workloads::engines::is_peer(e))
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
    let outcome = if machine_cores < 2 {
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
                let floor = Estimate {
                    low: sel.low.max(0.1),
                    high: sel.high.max(0.1),
                    ..sel
                };
                match at_least(&cores, PARALLEL_ADVANTAGE, &floor) {
                    Some(true) if sel.high <= ONE_CORE => Outcome::Supported,
                    Some(false) => Outcome::NotSupported(format!(
                        "The parallel engines used no more cores than the selector here \
                         ({engine}: {}, selector: {}).",
                        with_spread(&cores, format::sig3),
                        with_spread(&sel, format::sig3)
                    )),
                    _ => Outcome::Inconclusive(format!(
                        "{engine} used {} cores and the selector {}: inside the noise of \
                         {PARALLEL_ADVANTAGE}× (or the selector's interval reaches past one \
                         core); the levels may be too low, or the load generator took the \
                         other cores.",
                        with_spread(&cores, format::sig3),
                        with_spread(&sel, format::sig3)
                    )),
                }
            }
        }
    };
    Finding::judged(outcome, sentences, charts)
}

pub(super) fn slowloris(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "slowloris");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(
            "No run has the slowloris workload yet: run `workbench run --workloads slowloris`."
                .into(),
        );
    }
    let interval = run
        .config
        .workloads
        .iter()
        .find(|w| w.name == "slowloris")
        .and_then(|w| w.send_interval_ms)
        .unwrap_or(100);
    let top_level = steps.iter().map(|s| s.level).max().unwrap_or(0);
    let mut sentences = vec![format!(
        "{top_level} slow clients each send one byte of their request every {interval} ms and \
         never finish it, while a probe client asks for /hello."
    )];
    let at_top = |engine: &str| {
        steps
            .iter()
            .copied()
            .find(|s| s.engine == engine && s.level == top_level)
    };
    let describe = |s: &StepResult| {
        if s.failure.is_some() {
            "failed".to_string()
        } else if s.load.completed == 0 {
            format!(
                "no probe answered ({} failed requests)",
                s.load.errors.total()
            )
        } else {
            format!(
                "probe p99 {}, {} failed requests, {} threads",
                format::micros(s.load.latency.p99_us as f64),
                s.load.errors.total(),
                s.derived.threads_max
            )
        }
    };
    let mut labels: Vec<String> = steps.iter().map(|s| s.engine.clone()).collect();
    labels.dedup();
    workloads::engines::sort(&mut labels);
    labels.dedup();
    let lines: Vec<String> = labels
        .iter()
        .filter_map(|e| at_top(e).map(|s| format!("{e}: {}", describe(s))))
        .collect();
    if !lines.is_empty() {
        sentences.push(format!("At that level: {}.", lines.join("; ")));
    }
    let workers = pool_workers(run);
    sentences.push(format!(
        "The pool has {workers} workers: every slow client beyond that waits in the accept \
         queue, and every one before it holds a worker that could have answered the probe."
    ));
    let charts = vec![
        charts::latency(&run.steps, "slowloris"),
        charts::threads(&run.steps, "slowloris"),
        charts::memory(&run.steps, "slowloris"),
    ];
    let pools = super::evidence::of_family(&steps, Family::Process);
    let (Some(sel), Some(pool)) = (at_top("selector"), pools.first().and_then(|p| at_top(p)))
    else {
        return Finding::missing("selector,pool", "slowloris", "selector and pool to compare")
            .with_sentences(sentences, charts);
    };
    let outcome = if top_level <= workers {
        Outcome::Inconclusive(format!(
            "The levels never went above the pool's {workers} workers ({top_level} slow clients \
             at most), so they could not all be held."
        ))
    } else if sel.failure.is_some() || sel.load.completed == 0 {
        Outcome::NotSupported("The selector's probe got no answers either.".into())
    } else if pool.failure.is_some() || pool.load.completed == 0 || pool.load.errors.total() > 0 {
        Outcome::Supported
    } else {
        let (sel_p99, pool_p99) = (p99_estimate(sel), p99_estimate(pool));
        let floor = Estimate {
            low: sel_p99.low.max(1.0),
            high: sel_p99.high.max(1.0),
            ..sel_p99
        };
        match at_least(&pool_p99, HOSTAGE_FACTOR, &floor) {
            Some(true) => Outcome::Supported,
            Some(false) => Outcome::NotSupported(format!(
                "The pool's probe was answered about as well as the selector's (p99 {} against \
                 {}).",
                with_spread(&pool_p99, format::micros),
                with_spread(&sel_p99, format::micros)
            )),
            None => Outcome::Inconclusive(format!(
                "The pool's probe p99 {} against the selector's {}: inside the noise of \
                 {HOSTAGE_FACTOR}×.",
                with_spread(&pool_p99, format::micros),
                with_spread(&sel_p99, format::micros)
            )),
        }
    };
    let headline = sentences.get(1).cloned();
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}
