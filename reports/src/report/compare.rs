//! The comparison section: this run's figures beside other runs', each with its change.
//!
//! The change is always *this run relative to the other*: `+12% better` on throughput means
//! this run answered 12% more. A figure with a 95 % interval (throughput, p99, CPU per request,
//! the idle slope) changes only when the two intervals do not overlap; otherwise the cell says
//! "no significant change" ([`format::significant_change`]). A figure without one falls back
//! to [`format::NOISE`]. Over a factor of two a change is written as a ratio (`×3.4`).

use wb_model::results::StepResult;
use wb_model::spec::{Mode, Workload};

use super::doc::{Block, Inline, Section, slug};
use super::format::{self, Better};
use super::headlines::{self, Headline};
use crate::charts::{self, DataTable, Metric};
use crate::store::StoredRun;
use wb_model::spread::{self, Estimate, Method};

/// A figure of a step that runs are compared on: the report's comparison section and the
/// dashboard's `/compare` page read the same list ([`figures`]), with the same cells and the
/// same changes.
pub struct Figure {
    name: &'static str,
    better: Better,
    value: fn(&StepResult) -> Option<f64>,
    show: fn(f64) -> String,
    /// The figure's 95 % interval, where the step has one.
    interval: fn(&StepResult) -> Option<[f64; 2]>,
}

/// No interval kept for this figure.
fn no_interval(_: &StepResult) -> Option<[f64; 2]> {
    None
}

fn latency(us: u64) -> f64 {
    us as f64
}

const THROUGHPUT: Figure = Figure {
    name: "throughput",
    better: Better::Higher,
    value: |s| Some(s.derived.throughput_rps),
    show: format::rps,
    interval: |s| s.estimates.throughput_ci,
};
const P50: Figure = Figure {
    name: "p50 latency",
    better: Better::Lower,
    value: |s| (s.load.latency.count > 0).then(|| latency(s.load.latency.p50_us)),
    show: format::micros,
    interval: no_interval,
};
const P99: Figure = Figure {
    name: "p99 latency",
    better: Better::Lower,
    value: |s| (s.load.latency.count > 0).then(|| latency(s.load.latency.p99_us)),
    show: format::micros,
    interval: |s| s.estimates.p99_ci_us,
};
const P99_UNCORRECTED: Figure = Figure {
    name: "p99 latency, uncorrected",
    better: Better::Lower,
    value: |s| s.load.latency_uncorrected.map(|l| latency(l.p99_us)),
    show: format::micros,
    interval: no_interval,
};
const ENGINE_CORES: Figure = Figure {
    name: "engine cores",
    better: Better::Neither,
    value: |s| Some(s.derived.engine_cores),
    show: format::cores,
    interval: no_interval,
};
const CLIENT_CORES: Figure = Figure {
    name: "client cores",
    better: Better::Neither,
    value: |s| Some(s.derived.client_cores),
    show: format::cores,
    interval: no_interval,
};
const PEAK_PSS: Figure = Figure {
    name: "peak PSS",
    better: Better::Lower,
    value: |s| Some(s.derived.peak_pss_bytes as f64),
    show: format::bytes,
    interval: no_interval,
};
const THREADS: Figure = Figure {
    name: "threads",
    better: Better::Neither,
    value: |s| Some(s.derived.threads_max as f64),
    show: |v| format!("{v:.0}"),
    interval: no_interval,
};
const HELD: Figure = Figure {
    name: "connections held",
    better: Better::Higher,
    value: |s| Some(s.load.connections as f64),
    show: |v| format!("{v:.0}"),
    interval: no_interval,
};
const COST: Figure = Figure {
    name: "engine CPU per request",
    better: Better::Lower,
    value: |s| s.estimates.engine_us_per_request,
    show: format::micros,
    interval: |s| s.estimates.engine_us_per_request_ci,
};
const ERRORS: Figure = Figure {
    name: "errors",
    better: Better::Lower,
    value: |s| Some(s.load.errors.total() as f64),
    show: |v| format!("{v:.0}"),
    interval: no_interval,
};

/// The figures compared for a workload's mode.
pub fn figures(mode: Mode) -> &'static [Figure] {
    match mode {
        Mode::Closed => &[
            THROUGHPUT,
            P50,
            P99,
            COST,
            ENGINE_CORES,
            CLIENT_CORES,
            PEAK_PSS,
        ],
        Mode::Open => &[
            THROUGHPUT,
            P99,
            P99_UNCORRECTED,
            COST,
            ENGINE_CORES,
            PEAK_PSS,
        ],
        Mode::Idle => &[HELD, PEAK_PSS, THREADS],
        Mode::SlowReaders | Mode::SlowSenders => &[P99, ERRORS, PEAK_PSS, THREADS, ENGINE_CORES],
    }
}

/// The metric drawn on a workload's comparison charts.
fn chart_metric(mode: Mode) -> Metric {
    match mode {
        Mode::Closed => Metric::Throughput,
        Mode::Idle => Metric::PeakPss,
        Mode::Open | Mode::SlowReaders | Mode::SlowSenders => Metric::LatencyP99,
    }
}

/// `run 12` as headers call it.
fn label(run: &StoredRun) -> String {
    format!("run {}", run.summary.id)
}

/// The comparison of `run` with `others`.
pub(crate) fn section(run: &StoredRun, others: &[StoredRun]) -> Section {
    let names: Vec<String> = others.iter().map(label).collect();
    let mut section = Section::new("compare", format!("Compared with {}", names.join(", ")));
    section.blocks.push(Block::Para(Inline::plain(format!(
        "Every figure of {} beside {}, with its change: this run relative to the other, so \
         \"+12% better\" on throughput means {} answered 12% more. Changes within ±{:.0}% are \
         within the noise between two runs on a shared machine and are not called better or \
         worse; beyond a factor of two the change is a ratio (×).",
        label(run),
        names.join(" and "),
        label(run),
        format::NOISE * 100.0
    ))));
    for other in others {
        let mut notes = Vec::new();
        if other.summary.status != wb_model::results::RunStatus::Completed {
            notes.push(format!(
                "{} is {}: only what it finished is compared.",
                label(other),
                other.summary.status.as_str()
            ));
        }
        let (a, b) = (&run.summary.machine, &other.summary.machine);
        if a.cpu_model != b.cpu_model || a.cores != b.cores || a.kernel != b.kernel {
            notes.push(format!(
                "{} ran on another machine ({}, {} cores, Linux {}): differences are the \
                 machines' as much as the engines'.",
                label(other),
                b.cpu_model,
                b.cores,
                b.kernel
            ));
        }
        if a.git_revision != b.git_revision {
            notes.push(format!(
                "{} was built from revision {}, this run from {}.",
                label(other),
                b.git_revision,
                a.git_revision
            ));
        }
        if run.config.pin != other.config.pin {
            notes.push(format!(
                "Pinning differs: this run {}, {} {}.",
                if run.config.pin {
                    "pinned"
                } else {
                    "not pinned"
                },
                label(other),
                if other.config.pin {
                    "pinned"
                } else {
                    "not pinned"
                }
            ));
        }
        if !notes.is_empty() {
            section
                .blocks
                .push(Block::List(notes.into_iter().map(Inline::plain).collect()));
        }
    }
    section.blocks.push(Block::Minor("Headline figures".into()));
    section
        .blocks
        .push(Block::Table(headline_table(run, others)));
    for workload in &run.config.workloads {
        section
            .children
            .push(workload_section(run, others, workload));
    }
    let missing: Vec<String> = others
        .iter()
        .flat_map(|o| o.config.workloads.iter().map(move |w| (o, w)))
        .filter(|(_, w)| !run.config.workloads.iter().any(|x| x.name == w.name))
        .map(|(o, w)| format!("{} of {}", w.name, label(o)))
        .collect();
    if !missing.is_empty() {
        section.blocks.push(Block::Para(Inline::plain(format!(
            "Not compared, since {} did not run them: {}.",
            label(run),
            missing.join(", ")
        ))));
    }
    section
}

/// Every headline of this run beside the same headline of the others.
fn headline_table(run: &StoredRun, others: &[StoredRun]) -> DataTable {
    let theirs: Vec<Vec<Headline>> = others.iter().map(headlines::headlines).collect();
    let mut columns = vec![
        "engine".to_string(),
        "workload".to_string(),
        "figure".to_string(),
        label(run),
    ];
    for other in others {
        columns.push(label(other));
        columns.push(format!("change vs {}", other.summary.id));
    }
    let rows = headlines::headlines(run)
        .into_iter()
        .map(|h| {
            let mut row = vec![
                h.engine.clone(),
                h.workload.clone(),
                headlines_name(&h),
                h.cell.clone(),
            ];
            for list in &theirs {
                match list
                    .iter()
                    .find(|o| o.engine == h.engine && o.workload == h.workload)
                {
                    Some(o) => {
                        row.push(o.cell.clone());
                        row.push(match (h.value, o.value) {
                            (Some(a), Some(b)) => format::change(a, b, h.better),
                            _ => "—".into(),
                        });
                    }
                    None => {
                        row.push("not run".into());
                        row.push("—".into());
                    }
                }
            }
            row
        })
        .collect();
    DataTable {
        caption: "Headline figures of each engine and workload, side by side.".into(),
        columns,
        rows,
        notes: Vec::new(),
    }
}

fn headlines_name(h: &Headline) -> String {
    h.kind.figure_name().to_string()
}

/// One workload: a comparison chart per engine, and every figure of every step side by side.
fn workload_section(run: &StoredRun, others: &[StoredRun], workload: &Workload) -> Section {
    let mut section = Section::new(
        format!("compare-{}", slug(&workload.name)),
        format!("{}, run by run", workload.name),
    );
    let all: Vec<&StoredRun> = std::iter::once(run).chain(others).collect();
    let series: Vec<(String, Vec<StepResult>)> =
        all.iter().map(|r| (label(r), r.steps.clone())).collect();
    let mut engines = headlines::engines(run);
    for other in others {
        for engine in headlines::engines(other) {
            if !engines.contains(&engine) {
                engines.push(engine);
            }
        }
    }
    let metric = chart_metric(workload.mode);
    for engine in &engines {
        section.blocks.push(Block::Chart(charts::compare(
            &series,
            &workload.name,
            engine,
            metric,
        )));
    }

    let mut columns = vec![
        "engine".to_string(),
        format!("level ({})", workload.level_unit()),
        "figure".to_string(),
        label(run),
    ];
    for other in others {
        columns.push(label(other));
        columns.push(format!("change vs {}", other.summary.id));
    }
    let mut rows = Vec::new();
    for engine in &engines {
        let mut levels: Vec<u64> = all
            .iter()
            .flat_map(|r| headlines::steps_of(&r.steps, engine, &workload.name))
            .map(|s| s.level)
            .collect();
        levels.sort_unstable();
        levels.dedup();
        for level in levels {
            let step = |r: &StoredRun| -> Option<StepResult> {
                headlines::steps_of(&r.steps, engine, &workload.name)
                    .into_iter()
                    .find(|s| s.level == level)
                    .cloned()
            };
            let mine = step(run);
            let theirs: Vec<Option<StepResult>> = others.iter().map(step).collect();
            for figure in figures(workload.mode) {
                let mut row = vec![
                    engine.clone(),
                    level.to_string(),
                    figure.name.to_string(),
                    cell(mine.as_ref(), figure),
                ];
                let a = mine.as_ref().and_then(|s| estimate(s, figure));
                for other in &theirs {
                    row.push(cell(other.as_ref(), figure));
                    let b = other.as_ref().and_then(|s| estimate(s, figure));
                    row.push(match (a, b) {
                        (Some(a), Some(b)) => format::significant_change(&a, &b, figure.better),
                        _ => "—".into(),
                    });
                }
                rows.push(row);
            }
        }
    }
    let mut notes = Vec::new();
    if workload.mode == Mode::Idle {
        for engine in &engines {
            let slope = |r: &StoredRun| {
                crate::claims::idle_slope_estimate(&headlines::steps_of(
                    &r.steps,
                    engine,
                    &workload.name,
                ))
                .map(|(user, _)| user)
            };
            let a = slope(run);
            let mut text = format!(
                "{engine}: bytes per idle connection {} in {}",
                a.as_ref()
                    .map_or("—".into(), |e| format::estimate(e, format::bytes)),
                label(run)
            );
            for other in others {
                let b = slope(other);
                text.push_str(&format!(
                    ", {} in {}",
                    b.as_ref()
                        .map_or("—".into(), |e| format::estimate(e, format::bytes)),
                    label(other)
                ));
                if let (Some(a), Some(b)) = (&a, &b) {
                    text.push_str(&format!(
                        " ({})",
                        format::significant_change(a, b, Better::Lower)
                    ));
                }
            }
            notes.push(format!("{text}."));
        }
    }
    section.blocks.push(Block::Table(DataTable {
        caption: format!(
            "{}: every figure of every step, {} first; \"failed\" marks a step that failed, \
             \"not run\" one the run did not record.",
            workload.name,
            label(run)
        ),
        columns,
        rows,
        notes,
    }));
    section
}

fn value(step: &StepResult, figure: &Figure) -> Option<f64> {
    if step.failure.is_some() {
        None
    } else {
        (figure.value)(step)
    }
}

impl Figure {
    /// Its name in a table.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The figure of `step` with its interval, or `not run` / `failed` / `—`.
    pub fn cell(&self, step: Option<&StepResult>) -> String {
        cell(step, self)
    }

    /// The change of `step`'s figure from `reference`'s: significant only when the 95 %
    /// intervals separate ([`format::significant_change`]); `—` when either lacks it.
    pub fn change(&self, step: Option<&StepResult>, reference: Option<&StepResult>) -> String {
        let a = step.and_then(|s| estimate(s, self));
        let b = reference.and_then(|s| estimate(s, self));
        match (a, b) {
            (Some(a), Some(b)) => format::significant_change(&a, &b, self.better),
            _ => "—".into(),
        }
    }
}

/// The figure of a step with its interval, as an estimate.
fn estimate(step: &StepResult, figure: &Figure) -> Option<Estimate> {
    let v = value(step, figure)?;
    Some(spread::estimate(
        v,
        (figure.interval)(step),
        Method::Windows,
    ))
}

fn cell(step: Option<&StepResult>, figure: &Figure) -> String {
    match step {
        None => "not run".into(),
        Some(s) if s.failure.is_some() => "failed".into(),
        Some(s) => (figure.value)(s).map_or("—".into(), |v| {
            format::with_interval(v, (figure.interval)(s), figure.show)
        }),
    }
}
