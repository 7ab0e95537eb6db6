//! Waiting claims: transports queue writes, most time is spent waiting on the database, and
//! slow clients hold workers hostage.

use super::*;

pub(in crate::claims) fn big_response(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, "big-response") else {
        return no_run_of("big-response");
    };
    let steps = refs(&owned);
    let (selector, thread, pool) = (
        reference(Family::EventLoop).label,
        reference(Family::Thread).label,
        reference(Family::Process).label,
    );
    let Some(sel) = top_step(&steps, selector) else {
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
    for peer in crate::claims::evidence::of_family(&steps, Family::EventLoop)
        .into_iter()
        .filter(|e| e != selector)
    {
        if let Some(s) = top_step(&steps, &peer) {
            sentences.push(format!(
                "{peer}, another event loop, took {} at {} readers.",
                format::latency(&s.load.latency, "p99"),
                s.level
            ));
        }
    }
    if let Some(thr) = top_step(&steps, thread) {
        sentences.push(format!(
            "Threads needed {} threads for the same {} readers, each blocked in write() until \
             its client had read.",
            thr.derived.threads_max, thr.level
        ));
    }
    if let Some(pool) = top_step(&steps, pool) {
        let workers = workers_of(pool).map_or("pool's workers".to_string(), |n| {
            format!("pool's {n} {}", plural(n, "worker", "workers"))
        });
        sentences.push(format!(
            "The {workers} serve one reader each at a time: with {} readers its 99th \
             percentile download took {}.",
            pool.level,
            format::latency(&pool.load.latency, "p99")
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
    } else if !p99.has_interval() {
        Outcome::Inconclusive(format!(
            "The selector's p99 download, {}, has no interval: one reading is no evidence.",
            format::micros(p99.value)
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

pub(in crate::claims) fn db_wait(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, "db-wait") else {
        return no_run_of("db-wait");
    };
    let steps = refs(&owned);
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
         waits a model can overlap. {}.",
        crate::claims::talk::WAITING
    )];
    // The pool, or a peer that is a prefork pool (gunicorn's sync workers).
    let pools = crate::claims::evidence::of_family(&steps, Family::Process);
    let Some(pool_label) = pools.first().cloned() else {
        return Finding::missing(
            "pool,threads,selector,coroutines",
            "db-wait",
            "pool engine, whose ceiling the claim is about",
        )
        .with_sentences(sentences, Vec::new());
    };
    // Each pool's ceiling from the workers its own db-wait process stated: a pool run with
    // `pool:workers=2` and `pool:workers=4` shows the ceiling moving with the workers.
    let best_of = |label: &str| {
        ok_steps(&steps, label).into_iter().max_by(|a, b| {
            a.derived
                .throughput_rps
                .total_cmp(&b.derived.throughput_rps)
        })
    };
    for label in &pools {
        let Some(step) = best_of(label) else { continue };
        let best = throughput_estimate(step);
        match workers_of(step) {
            Some(workers) => {
                let ceiling = workers as f64 * per_worker;
                sentences.push(format!(
                    "The {label}'s {workers} {} can finish at most {workers} × {} = {}; it \
                     reached {} ({:.0}% of that ceiling).",
                    plural(workers, "worker", "workers"),
                    format::count(per_worker),
                    format::rps(ceiling),
                    with_spread(&best, format::rps),
                    best.value / ceiling * 100.0
                ));
            }
            None => sentences.push(format!(
                "The {label} reached {}; its process did not state its workers, so its \
                 ceiling is unknown.",
                with_spread(&best, format::rps)
            )),
        }
    }
    let pool_step = best_of(&pool_label);
    let pool_best = pool_step.map(throughput_estimate);
    let stated = pool_step.and_then(workers_of);
    let workers = stated.unwrap_or(0);
    let ceiling = workers as f64 * per_worker;
    let top_level = steps.iter().map(|s| s.level).max().unwrap_or(0);
    let mut overlapping: Vec<String> = [Family::Thread, Family::EventLoop, Family::Coroutine]
        .into_iter()
        .flat_map(|f| crate::claims::evidence::of_family(&steps, f))
        .collect();
    wb_model::engines::sort(&mut overlapping);
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
    // Two-sided: the pool's best throughput must sit at its ceiling, neither above (the wait
    // did not hold the workers) nor below (something else limited it).
    let (low_bound, high_bound) = (ceiling / CEILING_SLACK, ceiling * CEILING_SLACK);
    let outcome = match (pool_best, best_other) {
        (None, _) => Outcome::Inconclusive(format!("Every {pool_label} step failed.")),
        (Some(_), _) if stated.is_none() => Outcome::Inconclusive(format!(
            "The {pool_label}'s db-wait process did not state its workers (a run stored \
             before engines did), so its ceiling cannot be computed: run it again."
        )),
        (Some(_), _) if top_level <= workers => Outcome::Inconclusive(format!(
            "The levels never went above the pool's {workers} workers ({top_level} connections \
             at most), so its ceiling could not show: run `workbench run --workloads db-wait` \
             with levels above {workers}."
        )),
        (Some(best), _) if !best.has_interval() => Outcome::Inconclusive(format!(
            "The pool's throughput, {}, has no interval: one reading is no evidence.",
            format::rps(best.value)
        )),
        (Some(best), _) if best.low > high_bound => Outcome::NotSupported(format!(
            "The pool answered {}, above its ceiling of {}: the wait did not hold its workers \
             as the claim says.",
            with_spread(&best, format::rps),
            format::rps(ceiling)
        )),
        (Some(best), _) if best.high < low_bound => Outcome::NotSupported(format!(
            "The pool answered {}, well below its ceiling of {}: something other than the \
             wait (CPU, the client, failures) limited it, so the ceiling does not explain it.",
            with_spread(&best, format::rps),
            format::rps(ceiling)
        )),
        (Some(best), _) if best.low < low_bound || best.high > high_bound => {
            Outcome::Inconclusive(format!(
                "The pool's {} reaches past {}× either side of its ceiling of {}: repeat the \
                 run (`--repeat 3`).",
                with_spread(&best, format::rps),
                CEILING_SLACK,
                format::rps(ceiling)
            ))
        }
        (Some(_), None) => Outcome::Inconclusive(
            "This run has no engine that overlaps waits (threads, selector, coroutines or an \
             event-loop peer) at the top level: run `workbench run --engines \
             pool,threads,selector,coroutines --workloads db-wait`."
                .into(),
        ),
        (Some(best), Some(other)) => match at_least(&other, OVERLAP_ADVANTAGE, &best) {
            Some(true) => Outcome::Supported,
            Some(false) => Outcome::NotSupported(format!(
                "No other model did much better than the pool here ({} against {}).",
                with_spread(&other, format::rps),
                with_spread(&best, format::rps)
            )),
            None => Outcome::Inconclusive(format!(
                "The pool's {} and the best other model's {} are too close to their intervals \
                 to call: repeat the run (`--repeat 3`).",
                with_spread(&best, format::rps),
                with_spread(&other, format::rps)
            )),
        },
    };
    let headline = sentences.get(1).cloned();
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}

pub(in crate::claims) fn slowloris(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, "slowloris") else {
        return no_run_of("slowloris");
    };
    let steps = refs(&owned);
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
                format::latency(&s.load.latency, "p99"),
                s.load.errors.total(),
                s.derived.threads_max
            )
        }
    };
    let mut labels: Vec<String> = steps.iter().map(|s| s.engine.clone()).collect();
    labels.dedup();
    wb_model::engines::sort(&mut labels);
    labels.dedup();
    let lines: Vec<String> = labels
        .iter()
        .filter_map(|e| at_top(e).map(|s| format!("{e}: {}", describe(s))))
        .collect();
    if !lines.is_empty() {
        sentences.push(format!("At that level: {}.", lines.join("; ")));
    }
    let pools = crate::claims::evidence::of_family(&steps, Family::Process);
    let pool_top = pools.first().and_then(|p| at_top(p));
    let stated = pool_top.and_then(workers_of);
    if let (Some(pool), Some(workers)) = (pool_top, stated) {
        sentences.push(format!(
            "The {} had {workers} {}: every slow client beyond that waits in the accept \
             queue, and every one before it holds a worker that could have answered the probe.",
            pool.engine,
            plural(workers, "worker", "workers")
        ));
    }
    let charts = vec![
        charts::latency(&run.steps, "slowloris"),
        charts::threads(&run.steps, "slowloris"),
        charts::memory(&run.steps, "slowloris"),
    ];
    let selector = reference(Family::EventLoop).label;
    let (Some(sel), Some(pool)) = (at_top(selector), pool_top) else {
        return Finding::missing("selector,pool", "slowloris", "selector and pool to compare")
            .with_sentences(sentences, charts);
    };
    let Some(workers) = stated else {
        return Finding::judged(
            Outcome::Inconclusive(format!(
                "The {}'s slowloris process did not state its workers (a run stored before \
                 engines did), so whether the levels went above them is unknown: run it again.",
                pool.engine
            )),
            sentences,
            charts,
        );
    };
    let outcome = if top_level <= workers {
        Outcome::Inconclusive(format!(
            "The levels never went above the pool's {workers} workers ({top_level} slow clients \
             at most), so they could not all be held."
        ))
    } else if let Some(why) = pool.failure.as_ref().or(sel.failure.as_ref()) {
        Outcome::Inconclusive(format!(
            "A step failed, which is no evidence of a hostage: {why}"
        ))
    } else if pool.load.errors.total() > 0 || sel.load.errors.total() > 0 {
        Outcome::Inconclusive(format!(
            "The probe got errors ({} on the pool, {} on the selector): an error is not a \
             worker held hostage.",
            pool.load.errors.total(),
            sel.load.errors.total()
        ))
    } else if sel.load.completed == 0 {
        Outcome::NotSupported("The selector's probe got no answers either.".into())
    } else if pool.load.completed == 0 {
        // Every probe request waited the whole step, without an error: held behind the slow
        // clients, while the selector answered its probe.
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
