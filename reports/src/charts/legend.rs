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

/// Key entries for the marks used, if any.
pub(super) fn flag_keys(groups: &[EngineSteps<'_>]) -> Vec<LegendEntry> {
    let marks: Vec<Mark> = groups
        .iter()
        .flat_map(|(_, s)| s.iter().map(|s| mark(s)))
        .collect();
    let mut keys = Vec::new();
    if marks.contains(&Mark::Flagged) {
        keys.push(key(Swatch::Text, "○ ! flagged (see table)"));
    }
    if marks.contains(&Mark::Failed) {
        keys.push(key(Swatch::Text, "× failed (see table)"));
    }
    keys
}

pub(super) fn mark(step: &StepResult) -> Mark {
    let f = &step.flags;
    if step.failure.is_some() {
        Mark::Failed
    } else if f.client_saturated
        || f.littles_law_off
        || f.level_not_reached.is_some()
        || step.load.not_reached.is_some()
    {
        Mark::Flagged
    } else {
        Mark::Plain
    }
}

/// The warnings of a step in words, `;`-separated; empty when there are none.
pub(super) fn flags_text(step: &StepResult) -> String {
    let f = &step.flags;
    let mut out = Vec::new();
    if let Some(why) = &step.failure {
        out.push(format!("failed: {why}"));
    }
    if f.client_saturated {
        out.push("client saturated".to_string());
    }
    if f.littles_law_off {
        out.push("Little's law off".to_string());
    }
    if let Some(why) = f
        .level_not_reached
        .as_ref()
        .or(step.load.not_reached.as_ref())
    {
        out.push(format!("level not reached: {why}"));
    }
    out.join("; ")
}
