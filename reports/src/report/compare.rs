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
use wb_model::table;

/// A figure of a step that runs are compared on: a row of the table of figures
/// ([`wb_model::table::TABLE`]). The report's comparison section and the dashboard's
/// `/compare` page read the same list ([`figures`]), with the same cells and the same changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure(&'static table::Figure);

/// The figures compared for a workload's mode: the rows of the table that say they are
/// compared in it ([`table::Figure::compared_in`]), in table order.
pub fn figures(mode: Mode) -> Vec<Figure> {
    table::TABLE
        .iter()
        .filter(|f| f.compared(mode))
        .map(Figure)
        .collect()
}

/// A change not judged: the figure moves with the machine's speed, and the machine changed.
pub const MACHINE_CHANGED: &str = "not compared: the machine changed";

/// The metric drawn on a workload's comparison charts.
fn chart_metric(mode: Mode) -> Metric {
    match mode {
        Mode::Closed => Metric::Throughput,
        Mode::Idle => Metric::PeakPss,
        Mode::Open | Mode::SlowReaders | Mode::SlowSenders => Metric::LatencyP99,
    }
}

/// How the machine of one run differs from another's, said before any figure: a figure that
/// moves with the machine's speed ([`table::Unit::depends_on_speed`]) is not called better or
/// worse across such a change, only shown.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineChange {
    /// Each difference, in a sentence: another machine first, then its speed calibration.
    pub notes: Vec<String>,
    /// Whether timings may be called better or worse: the same machine, and speed
    /// calibrations within [`format::NOISE`] of each other.
    pub timings_comparable: bool,
}

/// What differs between the machine `other` ran on and `run`'s: the CPU model, cores,
/// memory, kernel and hosts, and the speed calibration each run made at its start (the `cpu`
/// workload's microseconds of work per request are rounds of that calibration, so a changed
/// calibration changes the work itself).
pub fn machine_change(run: &StoredRun, other: &StoredRun) -> MachineChange {
    let (a, b) = (&run.summary.machine, &other.summary.machine);
    let mut notes = Vec::new();
    let mut differs = Vec::new();
    if a.cpu_model != b.cpu_model {
        differs.push(format!("CPU {} against {}", b.cpu_model, a.cpu_model));
    }
    if a.cores != b.cores {
        differs.push(format!("{} cores against {}", b.cores, a.cores));
    }
    if a.memory_bytes != b.memory_bytes {
        differs.push(format!(
            "{} of memory against {}",
            format::bytes(b.memory_bytes as f64),
            format::bytes(a.memory_bytes as f64)
        ));
    }
    if a.kernel != b.kernel {
        differs.push(format!("Linux {} against {}", b.kernel, a.kernel));
    }
    if a.hosts != b.hosts {
        differs.push("other hosts".into());
    }
    if !differs.is_empty() {
        notes.push(format!(
            "{} ran on another machine than {} ({}).",
            label(other),
            label(run),
            differs.join("; ")
        ));
    }
    let (ra, rb) = (
        run.calibration.rounds_per_us,
        other.calibration.rounds_per_us,
    );
    let calibrated_apart = ra > 0.0 && rb > 0.0 && ((ra / rb) - 1.0).abs() >= format::NOISE;
    if calibrated_apart {
        notes.push(format!(
            "The machine's speed, as each run calibrated it at its start, differs: {:.1} rounds \
             per µs in {} against {:.1} in {} ({}). The cpu workload's work per request is set \
             in microseconds of the calibrated machine, so its requests did different work.",
            ra,
            label(run),
            rb,
            label(other),
            format::change(ra, rb, Better::Neither)
        ));
    }
    let timings_comparable = notes.is_empty();
    if !timings_comparable {
        notes.push(
            "Throughput, latency, CPU and context switches move with the machine's speed: they \
             are shown side by side but not called better or worse. Memory is compared."
                .into(),
        );
    }
    MachineChange {
        notes,
        timings_comparable,
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
        notes.extend(machine_change(run, other).notes);
        let (a, b) = (&run.summary.machine, &other.summary.machine);
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
    let theirs: Vec<(Vec<Headline>, bool)> = others
        .iter()
        .map(|o| {
            let comparable = machine_change(run, o).timings_comparable;
            (headlines::headlines(o), comparable)
        })
        .collect();
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
                    .0
                    .iter()
                    .find(|o| o.engine == h.engine && o.workload == h.workload)
                {
                    Some(o) => {
                        row.push(o.cell.clone());
                        row.push(match (h.value, o.value) {
                            (Some(_), Some(_)) if h.kind.depends_on_speed() && !list.1 => {
                                MACHINE_CHANGED.into()
                            }
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
    // Whether each other run's timings may be judged against this one's: once, not per row.
    let comparable: Vec<bool> = others
        .iter()
        .map(|o| machine_change(run, o).timings_comparable)
        .collect();
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
            for figure in &figures(workload.mode) {
                let mut row = vec![
                    engine.clone(),
                    level.to_string(),
                    figure.name().to_string(),
                    cell(mine.as_ref(), figure),
                ];
                for (other, comparable) in theirs.iter().zip(&comparable) {
                    row.push(cell(other.as_ref(), figure));
                    row.push(figure.change(mine.as_ref(), other.as_ref(), *comparable));
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
        figure.0.of(step)
    }
}

impl Figure {
    /// Its name in a table.
    pub fn name(&self) -> &'static str {
        self.0.label
    }

    /// Its row in the table of figures.
    pub fn row(&self) -> &'static table::Figure {
        self.0
    }

    /// The figure of `step` with its interval, or `not run` / `failed` / `—`.
    pub fn cell(&self, step: Option<&StepResult>) -> String {
        cell(step, self)
    }

    /// The change of `step`'s figure from `reference`'s: significant only when the 95 %
    /// intervals separate ([`format::significant_change`]); `—` when either lacks it; not
    /// judged ([`MACHINE_CHANGED`]) for a figure that moves with the machine's speed when the
    /// two runs' machines differ (`timings_comparable` false: [`machine_change`]).
    pub fn change(
        &self,
        step: Option<&StepResult>,
        reference: Option<&StepResult>,
        timings_comparable: bool,
    ) -> String {
        let a = step.and_then(|s| estimate(s, self));
        let b = reference.and_then(|s| estimate(s, self));
        match (a, b) {
            (Some(_), Some(_)) if !timings_comparable && self.0.unit.depends_on_speed() => {
                MACHINE_CHANGED.into()
            }
            (Some(a), Some(b)) => format::significant_change(&a, &b, self.0.better),
            _ => "—".into(),
        }
    }
}

/// The figure of a step with its interval, as an estimate.
fn estimate(step: &StepResult, figure: &Figure) -> Option<Estimate> {
    let v = value(step, figure)?;
    Some(spread::estimate(
        v,
        figure.0.interval_of(step),
        Method::Windows,
    ))
}

fn cell(step: Option<&StepResult>, figure: &Figure) -> String {
    match step {
        None => "not run".into(),
        Some(s) if s.failure.is_some() => "failed".into(),
        Some(s) => figure.0.of(s).map_or("—".into(), |v| {
            format::with_interval(v, figure.0.interval_of(s), |v| {
                format::figure(figure.0.unit, v)
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_compared_in_a_mode_is_in_that_modes_comparison() {
        let modes = [
            Mode::Closed,
            Mode::Open,
            Mode::Idle,
            Mode::SlowReaders,
            Mode::SlowSenders,
        ];
        for row in table::TABLE {
            for mode in modes {
                let shown = figures(mode).iter().any(|f| f.row() == row);
                assert_eq!(shown, row.compared(mode), "{} in {mode:?}", row.key);
            }
        }
        let names = |mode| -> Vec<&str> { figures(mode).iter().map(Figure::name).collect() };
        assert_eq!(
            names(Mode::Closed),
            [
                "throughput",
                "p50 latency",
                "p99 latency",
                "engine CPU per request",
                "system calls per answer",
                "engine cores",
                "client cores",
                "peak PSS"
            ]
        );
        assert_eq!(
            names(Mode::Open),
            [
                "throughput",
                "p99 latency",
                "p99 latency, uncorrected",
                "engine CPU per request",
                "system calls per answer",
                "engine cores",
                "peak PSS"
            ]
        );
    }
}
