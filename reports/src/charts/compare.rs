//! One engine on one workload across runs: the comparison chart.

use super::*;

/// One metric against the level for several runs of one engine, one line per run: has a
/// change made the engine faster, leaner? `runs` pairs a run's label (shown in the legend)
/// with its steps.
pub fn compare(
    runs: &[(String, Vec<StepResult>)],
    workload: &str,
    engine: &str,
    metric: Metric,
) -> Chart {
    let id = chart_id(workload, &format!("{engine}-{}-compare", metric.slug()));
    let title = format!("{workload} on {engine}: {} across runs", metric.name());
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    let mut table = DataTable {
        caption: format!(
            "{workload} on {engine}: {} by run and level.",
            metric.name()
        ),
        columns: vec![
            "run".into(),
            "level".into(),
            metric.axis().into(),
            "flags".into(),
        ],
        rows: Vec::new(),
        notes: Vec::new(),
    };
    let mut mode = None;
    let mut groups: Vec<EngineSteps<'_>> = Vec::new();
    for (label, steps) in runs {
        let mut run_steps: Vec<&StepResult> = steps
            .iter()
            .filter(|s| {
                s.workload == workload && s.engine == engine && s.flags.not_supported.is_none()
            })
            .collect();
        if run_steps.is_empty() {
            continue;
        }
        run_steps.sort_by_key(|s| s.level);
        mode = mode.or(Some(run_steps[0].mode));
        let style = EngineStyle {
            color: palette::run_color(lines.len()),
            peer: false,
        };
        legend.push(LegendEntry {
            text: label.clone(),
            color: style.color,
            swatch: Swatch::Engine { peer: false },
        });
        lines.push(Line {
            style,
            dashed: false,
            markers: true,
            points: series::metric_points(&run_steps, metric),
        });
        groups.push((label.clone(), run_steps.clone()));
        for s in &run_steps {
            table.rows.push(vec![
                label.clone(),
                s.level.to_string(),
                metric.cell_of(s),
                flags_text(s),
            ]);
        }
    }
    if let Some(mode) = mode {
        table.columns[1] = level_column(mode);
    }
    if lines.is_empty() {
        return Chart::message(
            id,
            title,
            &format!("No run has {workload} on {engine} yet."),
            &format!("workbench run --engines {engine} --workloads {workload}"),
            table,
        );
    }
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode),
        y_desc: metric.axis().into(),
        x_log: true,
        y: metric.y_rule(&all_steps(&groups)),
        lines,
        legend,
    };
    let notes = chart_notes(&groups, metric.figure());
    finish_lines(id, plot, table, notes)
}
