//! The talk's selector functions: select and poll scan every socket on every turn, epoll does
//! not. Measured on one protocol (Twisted's), three reactors, with idle connections held
//! beside a few busy ones (the `idle-hello` workload).

use super::*;
use crate::claims::evidence::cpu_per_request_estimate;
use crate::claims::{SCAN_FACTOR, SCAN_LEVEL};

/// The workload.
const WORKLOAD: &str = "idle-hello";
/// The reactor the verdict holds poll against: Twisted's epoll reactor, the same protocol.
const EPOLL: &str = "twisted";
/// Twisted's poll() reactor.
const POLL: &str = "twisted-poll";
/// Twisted's select() reactor.
const SELECT: &str = "twisted-select";
/// select()'s descriptor limit: glibc's FD_SETSIZE, the size of the bitmaps select() takes.
/// A descriptor at or above it cannot be passed at all (CPython raises ValueError).
pub(in crate::claims) const FD_SETSIZE: u64 = 1024;
/// What runs the lesson, as the missing-engine finding names it.
const COMMAND_ENGINES: &str = "selector --peers twisted,twisted-poll,twisted-select";

/// One server's CPU per request at each level it reached with answers, lowest first.
fn costs(steps: &[&StepResult], label: &str) -> Vec<(u64, Estimate)> {
    ok_steps(steps, label)
        .into_iter()
        .filter(|s| s.reached() && s.load.completed > 0)
        .filter_map(|s| Some((s.level, cpu_per_request_estimate(s)?)))
        .collect()
}

fn us(e: &Estimate) -> String {
    format::estimate(e, format::micros)
}

/// `label: 5.3 µs at 0, 7.7 µs at 1 000, … idle connections (+50%, …)`.
fn cost_sentence(label: &str, how: &str, costs: &[(u64, Estimate)]) -> Option<String> {
    let (first, last) = (costs.first()?, costs.last()?);
    let by_level: Vec<String> = costs
        .iter()
        .map(|(level, e)| format!("{} at {}", us(e), format::count(*level as f64)))
        .collect();
    let growth = if costs.len() > 1 {
        format!(
            "; from {} to {} idle connections: {}",
            format::count(first.0 as f64),
            format::count(last.0 as f64),
            format::significant_change(&last.1, &first.1, format::Better::Lower)
        )
    } else {
        String::new()
    };
    Some(format!(
        "{label} ({how}): CPU per /hello {}{growth}.",
        by_level.join(", ")
    ))
}

/// What select did, from its steps: where it stopped holding connections or answering.
fn select_sentence(steps: &[&StepResult]) -> Option<String> {
    let mine: Vec<&StepResult> = {
        let mut v: Vec<&StepResult> = steps
            .iter()
            .copied()
            .filter(|s| s.engine == SELECT)
            .collect();
        v.sort_by_key(|s| s.level);
        v
    };
    if mine.is_empty() {
        return None;
    }
    let held = mine.iter().map(|s| s.load.connections).max().unwrap_or(0);
    // Every level where select fell short: connections not held, requests refused or
    // unanswered, or a failed step.
    let broke: Vec<String> = mine
        .iter()
        .filter(|s| {
            s.failure.is_some()
                || !s.reached()
                || s.load.completed == 0
                || s.load.errors.total() > 0
        })
        .map(|s| {
            let why = s
                .failure
                .clone()
                .or_else(|| s.load.not_reached.clone())
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            format!(
                "at {} idle connections asked for, it held {} and answered {} requests, with \
                 {} errors{why}",
                format::count(s.level as f64),
                format::count(s.load.connections as f64),
                format::count(s.load.completed as f64),
                format::count(s.load.errors.total() as f64),
            )
        })
        .collect();
    Some(if broke.is_empty() {
        format!(
            "{SELECT} answered at every level here, holding up to {} connections: below \
             select()'s {} descriptors. Add a level past it (the preset's 5,000) to see it stop.",
            format::count(held as f64),
            format::count(FD_SETSIZE as f64),
        )
    } else {
        format!(
            "{SELECT} (select(), at most {} descriptors): {}; it never held more than {} \
             connections. A descriptor at or above FD_SETSIZE cannot be handed to select() at \
             all: the reactor drops those connections.",
            format::count(FD_SETSIZE as f64),
            broke.join("; "),
            format::count(held as f64),
        )
    })
}

/// Judges "select and poll scan every socket, epoll does not" on Twisted's protocol: poll's
/// CPU per request at the most idle connections must be at least [`SCAN_FACTOR`] times the
/// epoll reactor's there, and at least [`SCAN_FACTOR`] times its own with no idle connection,
/// beyond the intervals; either falling short, beyond them, refutes it.
pub(in crate::claims) fn selector_functions(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, WORKLOAD) else {
        return Finding::no_data(format!(
            "No run has the {WORKLOAD} workload yet: run `workbench peers install`, then \
             `workbench run --engines {COMMAND_ENGINES} --workloads {WORKLOAD}`."
        ));
    };
    let steps = refs(&owned);
    let ours = reference(Family::EventLoop).label;
    let epoll = costs(&steps, EPOLL);
    let poll = costs(&steps, POLL);
    let mut sentences: Vec<String> = [
        (ours, "our selector, epoll", costs(&steps, ours)),
        (EPOLL, "Twisted's epoll reactor", epoll.clone()),
        (POLL, "Twisted's poll reactor", poll.clone()),
        (SELECT, "Twisted's select reactor", costs(&steps, SELECT)),
    ]
    .iter()
    .filter_map(|(label, how, c)| cost_sentence(label, how, c))
    .collect();
    sentences.extend(select_sentence(&steps));
    let charts = vec![charts::cost_per_request(&run.steps, WORKLOAD)];
    let at = |c: &[(u64, Estimate)], level: u64| c.iter().find(|(l, _)| *l == level).map(|x| x.1);
    let top = epoll
        .iter()
        .map(|(l, _)| *l)
        .filter(|l| at(&poll, *l).is_some())
        .max();
    let (Some(top), Some(epoll0), Some(poll0)) = (top, at(&epoll, 0), at(&poll, 0)) else {
        return Finding::missing(
            COMMAND_ENGINES,
            WORKLOAD,
            "twisted and twisted-poll steps with and without idle connections (the same \
             protocol on epoll and on poll)",
        )
        .with_sentences(sentences, charts);
    };
    let (epoll_top, poll_top) = (
        at(&epoll, top).unwrap_or(epoll0),
        at(&poll, top).unwrap_or(poll0),
    );
    let headline = Some(format!(
        "At {} idle connections, {POLL} spent {} of CPU per request and {EPOLL} (epoll) {}; \
         with none, {} and {}.",
        format::count(top as f64),
        us(&poll_top),
        us(&epoll_top),
        us(&poll0),
        us(&epoll0)
    ));
    let outcome = if top < SCAN_LEVEL {
        Outcome::Inconclusive(format!(
            "The most idle connections both reactors held is {}: a scan of so few sockets is \
             too cheap to show. Run levels up to {} or more (the preset's 0, 1,000, 5,000).",
            format::count(top as f64),
            format::count(SCAN_LEVEL as f64)
        ))
    } else {
        // Poll against epoll at the most idle connections, and poll against itself with
        // none: the scan must be what grew (not a poll reactor dearer from the start), and
        // epoll must not have grown as much (or poll would not be twice it).
        let top_text = format::count(top as f64);
        match (
            at_least(&poll_top, SCAN_FACTOR, &epoll_top),
            at_least(&poll_top, SCAN_FACTOR, &poll0),
        ) {
            (Some(false), _) => Outcome::NotSupported(format!(
                "At {top_text} idle connections poll cost {} per request against epoll's {}: \
                 less than {SCAN_FACTOR} times, beyond both intervals, so the scan did not \
                 dominate here.",
                us(&poll_top),
                us(&epoll_top)
            )),
            (_, Some(false)) => Outcome::NotSupported(format!(
                "poll cost {} per request at {top_text} idle connections and {} with none: \
                 less than {SCAN_FACTOR} times, beyond both intervals, so idle connections \
                 did not make poll's requests dearer here.",
                us(&poll_top),
                us(&poll0)
            )),
            (Some(true), Some(true)) => Outcome::Supported,
            _ => Outcome::Inconclusive(format!(
                "At {top_text} idle connections poll cost {} per request, epoll {}, and poll \
                 {} with none: the intervals reach across {SCAN_FACTOR} times (or a figure has \
                 none). Longer steps (`--step-secs`) or `--repeat 3` narrow them.",
                us(&poll_top),
                us(&epoll_top),
                us(&poll0)
            )),
        }
    };
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}
