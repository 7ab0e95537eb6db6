//! What every chart builder shares: steps grouped by engine, the level axis, the lines of
//! one metric, the data table under a chart, and the empty and error states.

use super::*;

/// An engine's label and its steps of one workload, by level.
pub(super) type EngineSteps<'a> = (String, Vec<&'a StepResult>);

/// The steps of `workload`, grouped by engine (built-in engines first, in their usual order,
/// then peers by name), each group sorted by level.
pub(super) fn by_engine<'a>(steps: &'a [StepResult], workload: &str) -> Vec<EngineSteps<'a>> {
    let mut groups: Vec<EngineSteps<'a>> = Vec::new();
    // A workload a peer cannot serve (nginx and /work) has nothing to draw.
    for step in steps
        .iter()
        .filter(|s| s.workload == workload && s.flags.not_supported.is_none())
    {
        match groups.iter_mut().find(|(engine, _)| *engine == step.engine) {
            Some((_, list)) => list.push(step),
            None => groups.push((step.engine.clone(), vec![step])),
        }
    }
    groups.sort_by_key(|(engine, _)| palette::sort_key(engine));
    for (_, list) in &mut groups {
        list.sort_by_key(|s| s.level);
    }
    groups
}

pub(super) fn mode_of(groups: &[EngineSteps<'_>]) -> Option<Mode> {
    groups.first().and_then(|(_, s)| s.first()).map(|s| s.mode)
}

pub(super) fn levels(groups: &[EngineSteps<'_>]) -> Vec<f64> {
    let mut levels: Vec<u64> = groups
        .iter()
        .flat_map(|(_, s)| s.iter().map(|s| s.level))
        .collect();
    levels.sort_unstable();
    levels.dedup();
    levels.into_iter().map(|l| l as f64).collect()
}

/// Every step of the groups.
pub(super) fn all_steps<'a>(groups: &[EngineSteps<'a>]) -> Vec<&'a StepResult> {
    groups.iter().flat_map(|(_, s)| s.iter().copied()).collect()
}

/// One line per engine of a metric against the level.
pub(super) fn metric_lines(
    groups: &[EngineSteps<'_>],
    metric: Metric,
    dashed: bool,
    markers: bool,
) -> Vec<Line> {
    groups
        .iter()
        .map(|(engine, steps)| Line {
            style: engine_style(engine),
            dashed,
            markers,
            points: metric_points(steps, metric),
        })
        .collect()
}

/// A metric's points against the level, one a step, marked as the step was.
pub(super) fn metric_points(steps: &[&StepResult], metric: Metric) -> Vec<Point> {
    steps
        .iter()
        .map(|s| Point {
            x: s.level as f64,
            y: metric.value(s),
            mark: metric.mark(s),
            interval: metric.interval(s),
            gap: gap(s, metric.figure()).or_else(|| {
                // A figure that could not be computed is not a 0 either.
                (!metric.value(s).is_finite()).then(|| "no value".to_string())
            }),
        })
        .collect()
}

/// A chart of one metric against the level, one line per engine.
pub(super) fn level_metric_chart(
    steps: &[StepResult],
    workload: &str,
    metric: Metric,
    what: &str,
    caption: &str,
) -> Chart {
    let id = chart_id(workload, metric.slug());
    let title = format!("{workload}: {what}");
    let groups = by_engine(steps, workload);
    if groups.is_empty() {
        return no_data(id, title, workload);
    }
    let mut legend = engine_legend(&groups);
    legend.extend(flag_keys(&groups, metric.figure()));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode_of(&groups)),
        y_desc: metric.axis().into(),
        x_log: true,
        y: metric.y_rule(&all_steps(&groups)),
        lines: metric_lines(&groups, metric, false, true),
        legend,
    };
    let table = step_table(
        format!("{workload}: {caption}."),
        &groups,
        &[metric.axis()],
        |s| vec![metric.cell_of(s)],
    );
    let notes = chart_notes(&groups, metric.figure());
    finish_lines(id, plot, table, notes)
}

/// A table with one row per step: engine, level, the chart's own columns, then flags.
pub(super) fn step_table(
    caption: String,
    groups: &[EngineSteps<'_>],
    columns: &[&str],
    cells: impl Fn(&StepResult) -> Vec<String>,
) -> DataTable {
    let level = mode_of(groups)
        .map(level_column)
        .unwrap_or_else(|| "level".into());
    let mut all_columns = vec!["engine".to_string(), level];
    all_columns.extend(columns.iter().map(|c| c.to_string()));
    all_columns.push("flags".into());
    let rows = groups
        .iter()
        .flat_map(|(engine, steps)| {
            steps.iter().map(|s| {
                let mut row = vec![engine.clone(), s.level.to_string()];
                if s.failure.is_some() {
                    row.extend(columns.iter().map(|_| "—".to_string()));
                } else {
                    row.extend(cells(s));
                }
                row.push(flags_text(s));
                row
            })
        })
        .collect();
    DataTable {
        caption,
        columns: all_columns,
        rows,
        notes: Vec::new(),
    }
}

/// The level axis title, with its unit.
pub(super) fn level_axis(mode: Option<Mode>) -> String {
    match mode {
        Some(Mode::Open) => "offered rate (req/s)".into(),
        Some(mode) => mode.level_unit().into(),
        None => "level".into(),
    }
}

/// The level column of a table, with its unit.
pub(super) fn level_column(mode: Mode) -> String {
    match mode {
        Mode::Open => "offered rate (req/s)".into(),
        mode => format!("level ({})", mode.level_unit()),
    }
}

/// System kernel memory of a step: TCP buffers, unreclaimable slab, kernel stacks.
pub(super) fn kernel_bytes(step: &StepResult) -> f64 {
    let d = &step.derived;
    (d.tcp_mem_bytes + d.slab_unreclaim_bytes + d.kernel_stack_bytes) as f64
}

pub(super) fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub(super) fn chart_id(workload: &str, kind: &str) -> String {
    format!("{workload}-{kind}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The empty state of a chart whose workload has no steps.
pub(super) fn no_data(id: String, title: String, workload: &str) -> Chart {
    let table = DataTable {
        caption: format!("{title}: no data yet."),
        ..DataTable::default()
    };
    let hint = format!("workbench run --workloads {workload}");
    Chart::message(id, title, "No data yet. Run:", &hint, table)
}

/// A line plot drawn at both sizes, with its legend and notes.
pub(super) fn finish_lines(
    id: String,
    plot: LinePlot,
    table: DataTable,
    notes: Vec<String>,
) -> Chart {
    let draw =
        |size| render::line_plot(&plot, size).unwrap_or_else(|err| draw_error(&plot.title, &*err));
    let (svg, svg_narrow) = (draw(WIDE), draw(NARROW));
    Chart {
        svg_narrow,
        legend: legend_items(&plot.legend),
        notes,
        ..Chart::drawn(id, plot.title, svg, table)
    }
}

/// The legend entries as a page shows them.
pub(super) fn legend_items(entries: &[LegendEntry]) -> Vec<LegendItem> {
    entries
        .iter()
        .map(|e| LegendItem {
            text: e.text.clone(),
            color: color_hex(e.color),
            kind: match &e.swatch {
                Swatch::Engine { peer } => LegendKind::Series { peer: *peer },
                Swatch::Solid => LegendKind::Solid,
                Swatch::Dashed => LegendKind::Dashed,
                Swatch::Text => LegendKind::Text,
                Swatch::Block => LegendKind::Block,
                Swatch::Blocks(colors) => {
                    LegendKind::Blocks(colors.iter().map(|c| color_hex(*c)).collect())
                }
            },
        })
        .collect()
}

/// What a page shows if plotters fails (it should not: the SVG backend writes to a string).
pub(super) fn draw_error(title: &str, err: &dyn std::error::Error) -> String {
    render::message_svg(
        title,
        "This chart could not be drawn; the table below has the data.",
        &err.to_string(),
    )
}
