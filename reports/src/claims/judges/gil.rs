//! Python threads share one core: the cpu workload on Python's threads against gunicorn's
//! processes.

use super::*;

/// Python servers whose threads run the requests in one process: one GIL.
const PY_THREADS: &[&str] = &["python-threads", "gunicorn-gthread"];
/// Python servers whose requests run in worker processes: one interpreter, one GIL each.
const PY_PROCESSES: &[&str] = &["gunicorn-sync"];

/// Threads that keep at least this much of a core busy are CPU-bound at one core: below
/// it the requests did not saturate even one, and no cap can show.
const SATURATED: f64 = 0.8;

/// The command that gets the peers this lesson needs.
const COMMAND: &str = "`workbench peers install`, then `workbench run --peers \
                       python-threads,gunicorn-gthread,gunicorn-sync --workloads cpu`";

/// The busiest step of `peer` at two connections or more, as cores with their interval.
fn busiest(steps: &[&StepResult], peer: &str) -> Option<(u64, Estimate)> {
    ok_steps(steps, peer)
        .into_iter()
        .filter(|s| s.level >= 2)
        .map(|s| (s.level, cores_estimate(s)))
        .max_by(|a, b| a.1.value.total_cmp(&b.1.value))
}

pub(in crate::claims) fn gil(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "cpu");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(format!("No run has the cpu workload yet: run {COMMAND}."));
    }
    let machine_cores = run.summary.machine.cores;
    let threads: Vec<(&str, u64, Estimate)> = PY_THREADS
        .iter()
        .filter_map(|&p| busiest(&steps, p).map(|(level, e)| (p, level, e)))
        .collect();
    let processes: Vec<(&str, u64, Estimate)> = PY_PROCESSES
        .iter()
        .filter_map(|&p| busiest(&steps, p).map(|(level, e)| (p, level, e)))
        .collect();
    let mut sentences = Vec::new();
    let describe = |list: &[(&str, u64, Estimate)]| {
        list.iter()
            .map(|(p, level, e)| {
                format!(
                    "{p} {} cores (at {level} connections)",
                    with_spread(e, format::sig3)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !threads.is_empty() {
        sentences.push(format!(
            "Every request burns CPU in Python (SHA-256 rounds on 32 bytes: hashlib keeps \
             the GIL for inputs that small). Threads of one CPython process, busiest step: {}.",
            describe(&threads)
        ));
    }
    if !processes.is_empty() {
        sentences.push(format!(
            "Worker processes, each its own interpreter with its own GIL: {}.",
            describe(&processes)
        ));
    }
    sentences.push(free_threaded_sentence());
    let charts = vec![charts::cores(&run.steps, "cpu")];
    let (Some((t_name, _, t)), Some((p_name, _, p))) = (
        threads.first().copied(),
        processes
            .iter()
            .max_by(|a, b| a.2.value.total_cmp(&b.2.value))
            .copied(),
    ) else {
        let what = match (threads.is_empty(), processes.is_empty()) {
            (true, true) => "Python thread or process peer",
            (true, false) => "Python thread peer (python-threads or gunicorn-gthread)",
            _ => "Python process peer (gunicorn-sync)",
        };
        return Finding {
            verdict: Verdict::Inconclusive,
            reason: Some(format!("This run has no {what}: run {COMMAND}.")),
            sentences,
            headline: None,
            charts,
            missing_engine: true,
        };
    };
    // Every thread peer must stay near one core for "threads share one core"; the first
    // one's figures speak for the verdict's sentences.
    let thread_high = threads
        .iter()
        .map(|(_, _, e)| e.high)
        .fold(f64::MIN, f64::max);
    let thread_low = threads
        .iter()
        .map(|(_, _, e)| e.low)
        .fold(f64::MIN, f64::max);
    let firm = threads.iter().all(|(_, _, e)| e.has_interval()) && p.has_interval();
    let outcome = if machine_cores < 2 {
        Outcome::Inconclusive(
            "This machine has one core: processes cannot use more than threads on it.".into(),
        )
    } else if thread_low > ONE_CORE && firm {
        Outcome::NotSupported(format!(
            "Python threads used more than one core here ({}): a free-threaded interpreter, or \
             the CPU work ran outside the GIL.",
            describe(&threads)
        ))
    } else if firm && thread_low >= SATURATED && p.high <= thread_low {
        Outcome::NotSupported(format!(
            "{t_name} kept about one core busy ({}) and {p_name} no more ({}): the processes \
             did not use the other cores, so the contrast with threads is not there.",
            with_spread(&t, format::sig3),
            with_spread(&p, format::sig3)
        ))
    } else if firm && thread_high < SATURATED && p.high <= ONE_CORE {
        Outcome::Inconclusive(format!(
            "Neither kept a core busy ({t_name} {}, {p_name} {} cores): the requests did not \
             saturate the CPU, so no cap can show. The levels may be too low, the CPU work \
             per request too small (a debug build calibrates to few rounds), or the machine \
             busy with other work.",
            with_spread(&t, format::sig3),
            with_spread(&p, format::sig3)
        ))
    } else if !firm {
        Outcome::Inconclusive(
            "A figure here has no interval (a step too short for its windows): run with \
             `--repeat 3` or longer steps."
                .into(),
        )
    } else if thread_high <= ONE_CORE && p.low > ONE_CORE {
        Outcome::Supported
    } else if p.low <= ONE_CORE {
        Outcome::Inconclusive(format!(
            "{p_name} used {} cores, not clearly more than one ({t_name} {}): the processes \
             did not show the other cores in use. Other work on this machine, or the load \
             generator, may have taken them; see the engines' cores in the same run.",
            with_spread(&p, format::sig3),
            with_spread(&t, format::sig3)
        ))
    } else {
        Outcome::Inconclusive(format!(
            "{t_name} used {} cores and {p_name} {}: the threads' interval reaches past \
             {ONE_CORE} cores, so \"about one core\" cannot be told from more.",
            with_spread(&t, format::sig3),
            with_spread(&p, format::sig3)
        ))
    };
    let headline = matches!(outcome, Outcome::Supported).then(|| {
        format!(
            "{t_name} used {} cores, {p_name} {}: threads share one GIL, processes have one \
             each.",
            format::sig3(t.value),
            format::sig3(p.value)
        )
    });
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}

/// A free-threaded CPython on this machine's PATH, if one is installed.
pub(in crate::claims) fn free_threaded_python() -> Option<String> {
    let path = std::env::var_os("PATH")?;
    ["python3.14t", "python3.13t"].into_iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
            .map(|p| p.display().to_string())
    })
}

fn free_threaded_sentence() -> String {
    match free_threaded_python() {
        Some(path) => format!(
            "A free-threaded CPython is installed here ({path}): `{path} peers/threads_peer.py \
             --port 8080` serves the same routes with threads that run Python in parallel; \
             measure it with `workbench load --target 127.0.0.1:8080 --workload cpu`."
        ),
        None => "No free-threaded CPython (python3.13t or python3.14t) is installed here: on \
                 one, the same threads peer runs Python on every core."
            .into(),
    }
}
