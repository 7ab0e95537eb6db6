//! Use safely (without race conditions): lost updates of `/count` per model.
//!
//! Each step of the count workloads read the server's counter before and after
//! ([`StepResult::lost_updates`]): the answers it did not grow by are updates lost, from
//! below (a request cut off at the step's end may have written unanswered), and
//! [`StepResult::lost_updates_high`] bounds them from above. A step *loses* updates when the
//! bound from below is at least [`LOST_FRACTION`] of its answers, and *loses none* when the
//! bound from above is under it; between the two it says nothing.

use super::*;
use crate::claims::LOST_FRACTION;

/// What a step (or the repeats of one) shows about lost updates.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Losses {
    /// At least [`LOST_FRACTION`] of the answers lost, counting from below.
    Loses { low: i64, answers: u64 },
    /// Fewer than [`LOST_FRACTION`] of the answers lost, counting from above.
    None { high: i64, answers: u64 },
    /// The bounds straddle the threshold (few answers, many connections cut off).
    Undecided { low: i64, high: i64, answers: u64 },
}

impl Losses {
    fn text(&self) -> String {
        match *self {
            Losses::Loses { low, answers } => format!(
                "lost at least {} of {} updates ({})",
                format::count(low as f64),
                format::count(answers as f64),
                percent(low, answers)
            ),
            Losses::None { high, answers } => format!(
                "lost {} of {} updates",
                if high <= 0 {
                    "none".to_string()
                } else {
                    format!("at most {}", format::count(high as f64))
                },
                format::count(answers as f64)
            ),
            Losses::Undecided { low, high, answers } => format!(
                "lost between {} and {} of {} updates",
                format::count(low.max(0) as f64),
                format::count(high as f64),
                format::count(answers as f64)
            ),
        }
    }
}

fn percent(part: i64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.0} %", part as f64 / whole as f64 * 100.0)
}

/// The losses of `engine` at its top level of `workload` (above one connection), repeats
/// added up; `None` when it has no such step with a counter reading.
fn losses(run: &StoredRun, workload: &str, engine: &str) -> Option<(u64, Losses)> {
    let steps: Vec<&StepResult> = run
        .steps
        .iter()
        .filter(|s| s.workload == workload && s.engine == engine && s.level > 1)
        .filter(|s| s.failure.is_none() && s.lost_updates().is_some())
        .collect();
    let level = steps.iter().map(|s| s.level).max()?;
    let at: Vec<&&StepResult> = steps.iter().filter(|s| s.level == level).collect();
    let low: i64 = at.iter().filter_map(|s| s.lost_updates()).sum();
    let high: i64 = at.iter().filter_map(|s| s.lost_updates_high()).sum();
    let answers: u64 = at.iter().map(|s| s.load.completed).sum();
    let bar = (LOST_FRACTION * answers as f64).max(1.0);
    let losses = if answers == 0 {
        Losses::Undecided { low, high, answers }
    } else if low as f64 >= bar {
        Losses::Loses { low, answers }
    } else if (high as f64) < bar {
        Losses::None { high, answers }
    } else {
        Losses::Undecided { low, high, answers }
    };
    Some((level, losses))
}

/// The wait of a count workload in this run, in ms.
fn wait_of(run: &StoredRun, workload: &str) -> Option<u64> {
    run.config
        .workloads
        .iter()
        .find(|w| w.name == workload)
        .map(|w| w.request.wait_ms)
}

/// The first of `candidates` that has a step of `workload` with a counter reading.
fn first_of(
    run: &StoredRun,
    workload: &str,
    candidates: &[&'static str],
) -> Option<(&'static str, u64, Losses)> {
    candidates
        .iter()
        .find_map(|&e| losses(run, workload, e).map(|(level, l)| (e, level, l)))
}

/// Threads without a lock: the engine, or the Python thread peers.
const THREADS: &[&str] = &["threads", "python-threads", "gunicorn-gthread"];
/// One thread, one loop: the selector, tokio on one thread, asyncio.
const ONE_LOOP: &[&str] = &[
    "selector",
    "coroutines-current",
    "selector-on-tokio",
    "asyncio",
    "twisted",
];

pub(in crate::claims) fn race_conditions(run: &StoredRun) -> Finding {
    let has = |w: &str| run.steps.iter().any(|s| s.workload == w);
    if !has("count") {
        return Finding::no_data(
            "No run has the count workload yet: run `workbench run --workloads \
             count,count-nowait`."
                .into(),
        );
    }
    let wait = wait_of(run, "count").unwrap_or(0);
    let mut sentences = Vec::new();
    // Every server measured, as the table of the page.
    let mut labels: Vec<String> = Vec::new();
    for s in run.steps.iter().filter(|s| s.workload == "count") {
        if !labels.contains(&s.engine) {
            labels.push(s.engine.clone());
        }
    }
    wb_model::engines::sort(&mut labels);
    let mut per_server = Vec::new();
    let mut processes = Vec::new();
    for label in &labels {
        let Some((_, l)) = losses(run, "count", label) else {
            continue;
        };
        // A prefork pool, or any server that stated several worker processes (gunicorn's
        // uvicorn workers: a pool of loops): a counter per process, nothing shared.
        let several_processes = run.steps.iter().any(|s| {
            s.engine == *label
                && s.facts
                    .as_ref()
                    .and_then(|f| f.workers)
                    .is_some_and(|w| w > 1)
        });
        if wb_model::engines::family_of(label) == Some(Family::Process) || several_processes {
            processes.push(label.clone());
            continue;
        }
        let nowait = losses(run, "count-nowait", label)
            .map(|(_, l)| format!("; with no wait, {}", l.text()))
            .unwrap_or_default();
        per_server.push(format!("{label} {}{nowait}", l.text()));
    }
    if !per_server.is_empty() {
        sentences.push(format!(
            "Each request read the counter, waited {wait} ms and wrote back what it read plus \
             one; at the top level (connections at once): {}.",
            per_server.join("; ")
        ));
    }
    if !processes.is_empty() {
        sentences.push(format!(
            "{} {} processes: each worker has its own counter in its own memory, so no \
             update races with another worker's, and none sees the others' either: GET /count \
             answers whichever worker took the connection, and lost updates cannot be counted \
             this way. Processes share state only through something outside them, a database \
             or shared memory with its own locks.",
            processes.join(", "),
            if processes.len() == 1 { "runs" } else { "run" }
        ));
    }

    let Some((threads, t_level, t_lost)) = first_of(run, "count", THREADS) else {
        return Finding::missing("threads,selector", "count,count-nowait", "threads engine")
            .with_sentences(sentences, Vec::new());
    };
    let Some((lp, l_level, l_lost)) = first_of(run, "count", ONE_LOOP) else {
        return Finding::missing("threads,selector", "count,count-nowait", "selector engine")
            .with_sentences(sentences, Vec::new());
    };
    if wait == 0 {
        return Finding::judged(
            Outcome::Inconclusive(
                "The count workload ran with no wait: the contrast needs a wait between the \
                 read and the write (the preset's 5 ms)."
                    .into(),
            ),
            sentences,
            Vec::new(),
        );
    }
    let Some((_, n_level, n_lost)) = losses(run, "count-nowait", lp).map(|(lv, l)| (lp, lv, l))
    else {
        return Finding::missing(
            &format!("threads,{lp}"),
            "count,count-nowait",
            &format!("count-nowait step of {lp} (the loop with no wait between read and write)"),
        )
        .with_sentences(sentences, Vec::new());
    };
    let locked = losses(run, "count", "threads-locked");
    if let Some((_, l)) = locked {
        sentences.push(format!(
            "threads-locked holds one lock from the read to the write: it {}, each update \
             waiting for the one before.",
            l.text()
        ));
    }
    let outcome = match (t_lost, l_lost, n_lost) {
        (Losses::None { .. }, ..) => Outcome::NotSupported(format!(
            "{threads} {} at {t_level} connections: threads without a lock did not lose \
             updates here.",
            t_lost.text()
        )),
        (_, _, Losses::Loses { .. }) => Outcome::NotSupported(format!(
            "{lp} {} with no wait at {n_level} connections: one loop lost updates with nothing \
             between the read and the write.",
            n_lost.text()
        )),
        (_, Losses::None { .. }, _) => Outcome::NotSupported(format!(
            "{lp} {} with a {wait} ms wait at {l_level} connections: the loop lost none even \
             with the wait between the read and the write.",
            l_lost.text()
        )),
        _ if matches!(locked, Some((_, Losses::Loses { .. }))) => Outcome::NotSupported(
            "threads-locked lost updates though it holds a lock across each one.".into(),
        ),
        (Losses::Loses { .. }, Losses::Loses { .. }, Losses::None { .. }) => Outcome::Supported,
        _ => Outcome::Inconclusive(format!(
            "{threads} {}; {lp} {} with the wait and {} without: too few answers, or too many \
             requests cut off at the step's end, to tell a loss from none.",
            t_lost.text(),
            l_lost.text(),
            n_lost.text()
        )),
    };
    let headline = matches!(outcome, Outcome::Supported).then(|| {
        format!(
            "{threads} {} with a {wait} ms wait; {lp} too, and none with no wait.",
            t_lost.text()
        )
    });
    Finding::judged(outcome, sentences, Vec::new()).with_headline(headline)
}
