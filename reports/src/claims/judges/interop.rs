//! One protocol, many loops: what running a framework's protocols on another event loop, through
//! an adapter, costs — ours (the selector's protocol on tokio) and Python's (Twisted on
//! asyncio's loop and on uvloop, asyncio on uvloop).

use super::*;
use crate::claims::ADAPTER_OVERHEAD;
use crate::claims::evidence::cpu_per_request_estimate;

/// Our pair: the native loop (the event-loop family's reference engine) and the adapted
/// one. The verdict rests on it.
fn our_pair() -> Pair {
    Pair {
        native: reference(Family::EventLoop).label,
        adapted: "selector-on-tokio",
        how: "the selector's HttpProtocol, unchanged, on tokio's loop",
    }
}

/// Python's pairs, reported beside ours: the same protocol code on its own loop and adapted.
const PYTHON: [Pair; 3] = [
    Pair {
        native: "twisted",
        adapted: "twisted-asyncio",
        how: "Twisted's protocols on asyncio's loop (asyncioreactor)",
    },
    Pair {
        native: "twisted",
        adapted: "twisted-uvloop",
        how: "Twisted's protocols on uvloop (asyncioreactor over uvloop's policy)",
    },
    Pair {
        native: "asyncio",
        adapted: "asyncio-uvloop",
        how: "asyncio's protocols on uvloop's loop",
    },
];

/// A framework on its own loop, and the same protocol code on another loop.
#[derive(Clone, Copy)]
struct Pair {
    native: &'static str,
    adapted: &'static str,
    how: &'static str,
}

/// One pair's hello figures at the highest level both reached.
struct Measured {
    level: u64,
    native: Estimate,
    adapted: Estimate,
    native_p99: Estimate,
    adapted_p99: Estimate,
    /// The adapter's CPU cost at every level both reached, lowest first: `(level, change)`,
    /// "no significant change" where the intervals overlap.
    by_level: Vec<(u64, String)>,
}

/// The pair's CPU per request and p99 at the highest level both finished with a CPU figure.
fn measure(steps: &[&StepResult], pair: Pair) -> Option<Measured> {
    let native = ok_steps(steps, pair.native);
    let adapted = ok_steps(steps, pair.adapted);
    let both: Vec<(&StepResult, &StepResult, Estimate, Estimate)> = native
        .iter()
        .filter_map(|n| {
            let a = adapted.iter().find(|a| a.level == n.level)?;
            Some((
                *n,
                *a,
                cpu_per_request_estimate(n)?,
                cpu_per_request_estimate(a)?,
            ))
        })
        .collect();
    let by_level = both
        .iter()
        .map(|(n, _, native, adapted)| {
            let change = format::significant_change(adapted, native, format::Better::Lower);
            (n.level, change)
        })
        .collect();
    let (n, a, native, adapted) = both.last()?;
    Some(Measured {
        level: n.level,
        native: *native,
        adapted: *adapted,
        native_p99: p99_estimate(n),
        adapted_p99: p99_estimate(a),
        by_level,
    })
}

/// `+12%` or `−3.0%`, the adapted figure against the native one.
fn cost(m: &Measured) -> String {
    format::change(m.adapted.value, m.native.value, format::Better::Neither)
}

/// Microseconds with their interval, as every page writes an estimate.
fn us(e: &Estimate) -> String {
    format::estimate(e, format::micros)
}

/// The sentence for one pair's hello figures.
fn pair_sentence(pair: Pair, m: &Measured) -> String {
    let mut text = format!(
        "{how}: at {level} connections {adapted} spent {a} of CPU per request against \
         {native}'s {n} on its own loop ({cost}), p99 {ap} against {np}.",
        how = pair.how,
        level = m.level,
        adapted = pair.adapted,
        native = pair.native,
        a = us(&m.adapted),
        n = us(&m.native),
        cost = cost(m),
        ap = us(&m.adapted_p99),
        np = us(&m.native_p99),
    );
    if m.by_level.len() > 1 {
        let levels: Vec<String> = m
            .by_level
            .iter()
            .map(|(level, change)| format!("{level}: {change}"))
            .collect();
        text.push_str(&format!(
            " CPU per request adapted against native, by connections: {}.",
            levels.join("; ")
        ));
    }
    text
}

/// Bytes per idle connection of both sides of each pair that ran the idle workload.
fn idle_sentence(run: &StoredRun, pairs: &[Pair]) -> Option<String> {
    let owned = steps_of(run, "idle");
    let steps = refs(&owned);
    let mut seen: Vec<&str> = Vec::new();
    let mut parts = Vec::new();
    for pair in pairs {
        for label in [pair.native, pair.adapted] {
            if seen.contains(&label) {
                continue;
            }
            seen.push(label);
            let ok = ok_steps(&steps, label);
            if let Some((user, _)) = idle_slope_estimate(&ok) {
                parts.push(format!(
                    "{label} {}",
                    format::estimate(&user, format::bytes)
                ));
            }
        }
    }
    (!parts.is_empty()).then(|| {
        format!(
            "Bytes per idle connection (the slope of memory over open connections): {}.",
            parts.join(", ")
        )
    })
}

/// The command that measures every pair.
const COMMAND: &str = "workbench run --engines selector,selector-on-tokio --peers \
                       twisted,twisted-asyncio,twisted-uvloop,asyncio,asyncio-uvloop --workloads \
                       hello,idle";

/// Judges the adapter's cost. A run whose hello steps have no adapted loop at all (the quick
/// suite's, say) holds no data on adapters: no data, so the lessons page looks further back
/// for a run that has one. A run with an adapted loop but not both sides of ours is
/// inconclusive, naming `--engines selector,selector-on-tokio`.
pub(in crate::claims) fn one_protocol_many_loops(run: &StoredRun) -> Finding {
    let owned = steps_of(run, "hello");
    let steps = refs(&owned);
    if steps.is_empty() {
        return Finding::no_data(format!(
            "No run has the hello workload yet: run `{COMMAND}`."
        ));
    }
    let adapted_ran = std::iter::once(our_pair())
        .chain(PYTHON)
        .any(|pair| steps.iter().any(|s| s.engine == pair.adapted));
    if !adapted_ran {
        // The key engine is missing: inconclusive, naming what would settle it (the rule
        // every judge keeps: missing data is never evidence, nor "no data" when the workload
        // ran).
        return Finding::missing(
            "selector,selector-on-tokio",
            "hello",
            "protocol on an adapted loop (selector-on-tokio, twisted-asyncio, twisted-uvloop \
             or asyncio-uvloop)",
        );
    }
    let ours = measure(&steps, our_pair());
    let mut sentences = Vec::new();
    if let Some(m) = &ours {
        sentences.push(pair_sentence(our_pair(), m));
    }
    let python: Vec<(Pair, Measured)> = PYTHON
        .iter()
        .filter_map(|&pair| measure(&steps, pair).map(|m| (pair, m)))
        .collect();
    for (pair, m) in &python {
        sentences.push(pair_sentence(*pair, m));
    }
    if python.is_empty() {
        sentences.push(
            "No Python pair ran the hello workload here: add `--peers \
             twisted,twisted-asyncio,twisted-uvloop,asyncio,asyncio-uvloop` (after `workbench \
             peers install`) to set Twisted and asyncio on their own loops against the adapted \
             ones."
                .into(),
        );
    }
    let pairs: Vec<Pair> = std::iter::once(our_pair())
        .chain(python.iter().map(|(p, _)| *p))
        .collect();
    if let Some(idle) = idle_sentence(run, &pairs) {
        sentences.push(idle);
    }
    let mut charts = vec![charts::cost_per_request(&run.steps, "hello")];
    if run.steps.iter().any(|s| s.workload == "idle") {
        charts.push(charts::bytes_per_connection_bars(&run.steps, "idle"));
    }
    let Some(m) = ours else {
        return Finding::missing(
            "selector,selector-on-tokio",
            "hello,idle",
            "selector and selector-on-tokio steps at a common level (the same protocol on mio \
             and on tokio)",
        )
        .with_sentences(sentences, charts);
    };
    let pct = ADAPTER_OVERHEAD * 100.0;
    let headline = format!(
        "The same protocol on tokio's loop costs {} CPU per request against the selector's own \
         mio loop: {} against {}.",
        cost(&m),
        us(&m.adapted),
        us(&m.native)
    );
    let outcome = match at_least(&m.adapted, 1.0 + ADAPTER_OVERHEAD, &m.native) {
        Some(false) => Outcome::Supported,
        Some(true) => Outcome::NotSupported(format!(
            "The adapter costs {} CPU per request ({} against {}), beyond the {pct:.0} % an \
             adapter may cost and still be called cheap.",
            cost(&m),
            us(&m.adapted),
            us(&m.native)
        )),
        None => Outcome::Inconclusive(format!(
            "selector-on-tokio spent {} of CPU per request and selector {}: the intervals \
             reach across {pct:.0} % more, so this run cannot tell whether the adapter is \
             cheap. Longer steps (`--step-secs`) or `--repeat 3` narrow them.",
            us(&m.adapted),
            us(&m.native)
        )),
    };
    Finding::judged(outcome, sentences, charts).with_headline(Some(headline))
}
