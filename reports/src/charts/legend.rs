//! Legends and markers: one entry per engine, the flag keys, and a step's marker and flag
//! text.

use super::*;

/// The legend's engine entries.
pub(super) fn engine_legend(groups: &[EngineSteps<'_>]) -> Vec<LegendEntry> {
    groups
        .iter()
        .map(|(engine, _)| {
            let style = engine_style(engine);
            LegendEntry {
                text: engine.clone(),
                color: style.color,
                swatch: Swatch::Engine { peer: style.peer },
            }
        })
        .collect()
}

/// A grey key entry.
pub(super) fn key(swatch: Swatch, text: &str) -> LegendEntry {
    LegendEntry {
        text: text.into(),
        color: REFERENCE,
        swatch,
    }
}

/// The key for lower bounds, if a line has one ([`Mark::AtLeast`]).
pub(super) fn at_least_key(lines: &[Line]) -> Option<LegendEntry> {
    lines
        .iter()
        .any(|l| l.points.iter().any(|p| p.mark == Mark::AtLeast))
        .then(|| key(Swatch::Text, "○↑ at least: unanswered requests reach it"))
}

/// What a chart draws, as far as its gaps and notes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Figure {
    /// A figure of the answers themselves (a latency, CPU per answer): a step with no answer
    /// has none (a gap), few answers and lower bounds matter.
    OfAnswers,
    /// A rate of answers (throughput): a step with no answer is a gap too, never a 0 req/s
    /// that would read as a measured rate.
    Rate,
    /// Anything else (cores, memory, threads): a true figure even when nothing was
    /// answered; only a failed step or a level not reached is a gap.
    Other,
}

/// Key entries for the marks used, if any.
pub(super) fn flag_keys(groups: &[EngineSteps<'_>], figure: Figure) -> Vec<LegendEntry> {
    let steps = || groups.iter().flat_map(|(_, s)| s.iter());
    let mut keys = Vec::new();
    if steps().any(|s| mark(s, false) == Mark::Flagged) {
        keys.push(key(Swatch::Text, "○ ! flagged: see the notes below"));
    }
    if steps().any(|s| gap(s, figure).is_some()) {
        keys.push(key(Swatch::Text, "× no value: a gap, never a 0"));
    }
    keys
}

/// The fewest answers whose p99 is not simply their slowest one (HdrHistogram's rank
/// `ceil(0.99 × count)` is below `count` only from 101 answers on).
pub const P99_NEEDS_ANSWERS: u64 = 101;

/// Connections of a closed-loop step that still had a request older than every answer when
/// the step ended: clients that waited the whole time unseen (`Latency::late_requests`, not
/// `censored_late`, which also counts the correction's entries for requests never sent).
/// `Some((waited, of))` when they were most of the connections.
pub fn most_waited(step: &StepResult) -> Option<(u64, u64)> {
    let waited = step.load.latency.late_requests;
    let of = step.level.max(step.load.connections);
    (matches!(step.mode, Mode::Closed) && of > 0 && waited * 2 > of).then_some((waited, of))
}

/// Why a step has no value to draw, if it has none: the label of its gap. A figure of
/// answers (a latency) or a rate of them (throughput) has no value in a step with no answer.
pub(super) fn gap(step: &StepResult, figure: Figure) -> Option<String> {
    if step.failure.is_some() {
        return Some("failed".into());
    }
    // An idle step is drawn at the connections it held, so a level it did not reach is
    // still a true point; elsewhere the point would stand at a level that was not held.
    if step.mode != Mode::Idle && not_reached(step).is_some() {
        return Some(format!(
            "not reached: {} of {} held",
            format::count(step.load.connections as f64),
            format::count(step.level as f64)
        ));
    }
    let l = &step.load.latency;
    let unanswered = step.load.completed == 0
        && match figure {
            // Requests still waiting at the end bound the latency from below: drawn as ≥.
            Figure::OfAnswers => !l.is_lower_bound(0.5),
            Figure::Rate => true,
            Figure::Other => false,
        };
    unanswered.then(|| {
        if step.mode == Mode::SlowSenders {
            "no probe answered".into()
        } else {
            "no answers".into()
        }
    })
}

fn not_reached(step: &StepResult) -> Option<&String> {
    step.flags
        .level_not_reached
        .as_ref()
        .or(step.load.not_reached.as_ref())
}

/// How a step's point is marked (when it has one: see [`gap`]).
pub(super) fn mark(step: &StepResult, about_answers: bool) -> Mark {
    let f = &step.flags;
    if f.client_saturated
        || f.littles_law_off
        || not_reached(step).is_some()
        || most_waited(step).is_some()
        || (about_answers && few_answers(step))
    {
        Mark::Flagged
    } else {
        Mark::Plain
    }
}

/// Too few answers for a p99 that is not just the slowest of them.
fn few_answers(step: &StepResult) -> bool {
    step.load.completed > 0 && step.load.completed < P99_NEEDS_ANSWERS
}

/// The notes under a chart: for every reason a point of it is flagged, bounded or missing,
/// one sentence naming the engines and levels it touches and what it means. `figure`: what
/// the chart draws; for a figure of answers (a latency) missing answers, few answers and
/// lower bounds matter, for a rate (throughput) missing answers.
pub(super) fn chart_notes(groups: &[EngineSteps<'_>], figure: Figure) -> Vec<String> {
    type Reason = (&'static str, fn(&StepResult, Figure) -> Option<String>);
    const REASONS: [Reason; 8] = [
        ("failed", |s, _| {
            s.failure
                .as_ref()
                .map(|why| format!("the step failed ({why}); no value is drawn there"))
        }),
        ("not reached", |s, _| {
            not_reached(s).map(|why| {
                let drawn = if s.mode == Mode::Idle {
                    "the point stands at the connections it held"
                } else {
                    "no point is drawn at a level that was not held"
                };
                format!(
                    "the level was not reached ({why}: {} of {} held); {drawn}",
                    format::count(s.load.connections as f64),
                    format::count(s.level as f64)
                )
            })
        }),
        ("no answers", |s, figure| {
            let gap = s.failure.is_none() && gap(s, figure).is_some() && not_reached(s).is_none();
            match figure {
                _ if !gap => None,
                Figure::Rate => Some(
                    "nothing was answered in the step: its rate would read 0 req/s, which says \
                     that the clients waited, not how fast the server answers, so the chart \
                     leaves a gap there with its reason, not a point at 0"
                        .to_string(),
                ),
                _ => Some(
                    "nothing was answered in the step, so there is no latency (nor CPU per \
                     answer) to draw: the chart leaves a gap there, not a point at 0"
                        .to_string(),
                ),
            }
        }),
        ("client saturated", |s, _| {
            s.flags.client_saturated.then(|| {
                "client saturated: the load generator used a whole core, so these points are \
                 the client's limit, not the server's"
                    .to_string()
            })
        }),
        ("most waited", |s, _| {
            most_waited(s).map(|(waited, of)| {
                format!(
                    "{waited} of {of} connections waited the whole step unanswered: the figures \
                     describe the few clients that were served, not the others"
                )
            })
        }),
        ("Little's law", |s, _| {
            s.flags.littles_law_off.then(|| {
                "Little's law off: connections ≠ throughput × mean latency by over 20 %, so time \
                 went somewhere the latency does not show"
                    .to_string()
            })
        }),
        ("few answers", |s, figure| {
            (figure == Figure::OfAnswers && few_answers(s)).then(|| {
                format!(
                    "only {} answers: a p99 of fewer than {P99_NEEDS_ANSWERS} answers is simply \
                     the slowest of them",
                    format::count(s.load.completed as f64)
                )
            })
        }),
        ("at least", |s, figure| {
            (figure == Figure::OfAnswers && s.load.latency.is_lower_bound(0.99)).then(|| {
                "○↑ at least: requests still unanswered when the step ended had waited this \
                 long, so the latency is at least this"
                    .to_string()
            })
        }),
    ];
    let mut notes = Vec::new();
    for (_, reason) in REASONS {
        for (engine, steps) in groups {
            // Levels this reason touches; one sentence per engine and distinct text.
            let mut by_text: Vec<(String, Vec<u64>)> = Vec::new();
            for s in steps {
                if let Some(text) = reason(s, figure) {
                    match by_text.iter_mut().find(|(t, _)| *t == text) {
                        Some((_, levels)) => levels.push(s.level),
                        None => by_text.push((text, vec![s.level])),
                    }
                }
            }
            let unit = steps.first().map_or("", |s| s.mode.level_unit());
            for (text, levels) in by_text {
                notes.push(format!(
                    "{engine} at {} {unit}: {text}.",
                    and_list(&levels.iter().map(u64::to_string).collect::<Vec<_>>())
                ));
            }
        }
    }
    notes
}

/// The warnings of a step in words, `;`-separated; empty when there are none.
pub(crate) fn flags_text(step: &StepResult) -> String {
    let f = &step.flags;
    let mut out = Vec::new();
    if let Some(why) = &step.failure {
        out.push(format!("failed: {why}"));
    }
    if let Some(why) = &f.not_supported {
        out.push(format!("not supported: {why}"));
    }
    if step.failure.is_none() && step.mode != Mode::Idle && step.load.completed == 0 {
        out.push("no answers".to_string());
    }
    if let Some(why) = not_reached(step) {
        out.push(format!("level not reached: {why}"));
    }
    if f.client_saturated {
        out.push(format!(
            "client saturated ({:.2} cores)",
            step.derived.client_cores
        ));
    }
    if let Some((waited, of)) = most_waited(step) {
        out.push(format!("{waited} of {of} waited unanswered"));
    }
    if f.littles_law_off {
        let predicted = step.derived.throughput_rps * step.load.latency.mean_us / 1e6;
        out.push(format!(
            "Little's law off (throughput × mean latency = {predicted:.1}, not {})",
            step.level
        ));
    }
    if few_answers(step) {
        out.push(format!("only {} answers", step.load.completed));
    }
    out.join("; ")
}

/// `1`, `1 and 16`, `1, 16 and 64`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
