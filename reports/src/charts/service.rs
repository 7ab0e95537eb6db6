//! How the service answers: throughput, latency and cores against the level.

use super::*;

/// Answers per second against the level, one line per engine. Open loop: against the offered
/// rate, with the grey dashed line `y = x` for "kept up with the offer".
pub fn throughput(steps: &[StepResult], workload: &str) -> Chart {
    let id = chart_id(workload, "throughput");
    let groups = by_engine(steps, workload);
    let mode = mode_of(&groups);
    let title = if mode == Some(Mode::Open) {
        format!("{workload}: throughput achieved against offered")
    } else {
        format!("{workload}: throughput")
    };
    if groups.is_empty() {
        return no_data(id, title, workload);
    }
    let mut lines = metric_lines(&groups, Metric::Throughput, false, true);
    let mut legend = engine_legend(&groups);
    if mode == Some(Mode::Open) {
        let levels = levels(&groups);
        lines.push(Line {
            style: EngineStyle {
                color: REFERENCE,
                peer: false,
            },
            dashed: true,
            markers: false,
            points: levels.iter().map(|&l| Point::at(l, l)).collect(),
        });
        legend.push(LegendEntry {
            text: "offered rate".into(),
            color: REFERENCE,
            swatch: Swatch::Dashed,
        });
    }
    legend.extend(flag_keys(&groups, Figure::Rate));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode),
        y_desc: Metric::Throughput.axis().into(),
        x_log: true,
        y: Metric::Throughput.y_rule(&all_steps(&groups)),
        lines,
        legend,
    };
    let table = step_table(
        format!("{workload}: valid answers per second, by engine and level."),
        &groups,
        &["throughput (req/s)", "answered / sent", "errors"],
        |s| {
            vec![
                // The table has the figures drawn: a gap is no figure.
                match gap(s, Figure::Rate) {
                    Some(_) => "—".to_string(),
                    None => format::with_interval(
                        s.derived.throughput_rps,
                        s.estimates.throughput_ci,
                        |v| format!("{v:.0}"),
                    ),
                },
                format::answered(&s.load),
                s.load.errors.total().to_string(),
            ]
        },
    );
    let notes = chart_notes(&groups, Figure::Rate);
    finish_lines(id, plot, table, notes)
}

/// Latency in milliseconds against the level. Closed loop and slow clients: p99 (p50 in the
/// table). Open loop: p99 from the intended send time (coordinated omission corrected) solid,
/// the uncorrected p99 dashed. A figure that is only a lower bound (requests unanswered when
/// the step ended reach it) is drawn at the bound, hollow, with an arrow up, and reads `≥` in
/// the table.
pub fn latency(steps: &[StepResult], workload: &str) -> Chart {
    let id = chart_id(workload, "latency");
    let groups = by_engine(steps, workload);
    let mode = mode_of(&groups);
    let title = match mode {
        Some(Mode::Open) => format!("{workload}: p99 latency, corrected and uncorrected"),
        Some(Mode::SlowSenders) => format!("{workload}: p99 latency of the /hello probe"),
        Some(Mode::SlowReaders) => format!("{workload}: p99 latency of a whole download"),
        _ => format!("{workload}: p99 latency (closed loop)"),
    };
    if groups.is_empty() {
        return no_data(id, title, workload);
    }
    let open = mode == Some(Mode::Open);
    let mut lines = metric_lines(&groups, Metric::LatencyP99, false, true);
    let mut legend = engine_legend(&groups);
    if open {
        for (engine, engine_steps) in &groups {
            lines.push(Line {
                style: engine_style(engine),
                dashed: true,
                markers: false,
                points: engine_steps
                    .iter()
                    .filter_map(|s| {
                        s.load.latency_uncorrected.map(|l| Point {
                            x: s.level as f64,
                            y: ms(l.p99_us),
                            mark: if l.is_lower_bound(0.99) {
                                Mark::AtLeast
                            } else {
                                mark(s, true)
                            },
                            interval: None,
                            gap: gap(s, Figure::OfAnswers),
                        })
                    })
                    .collect(),
            });
        }
        legend.push(key(Swatch::Solid, "p99, from intended send"));
        legend.push(key(Swatch::Dashed, "p99, uncorrected"));
    }
    // One message a chart: the p99 (what the slowest clients get). The p50 is in the table,
    // beside it: a second line per engine would double the lines to tell apart.
    legend.extend(flag_keys(&groups, Figure::OfAnswers));
    legend.extend(at_least_key(&lines));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode),
        y_desc: Metric::LatencyP99.axis().into(),
        x_log: true,
        y: Metric::LatencyP99.y_rule(&all_steps(&groups)),
        lines,
        legend,
    };
    let caption = match mode {
        Some(Mode::Open) => format!(
            "{workload}: latency from each request's intended send time (coordinated omission \
             corrected), and p99 from the actual send time (uncorrected) beside it."
        ),
        Some(Mode::SlowSenders) => format!(
            "{workload}: latency of the probe client's /hello requests while slow clients hold \
             connections."
        ),
        _ => format!(
            "{workload}: latency from send to answer; a closed loop slows down with the server."
        ),
    };
    let caption = format!(
        "{caption} Requests still unanswered when a step ended count at the time they had \
         waited; a figure they reach is only a lower bound (≥)."
    );
    let mut columns = vec!["p50 (ms)", "p90 (ms)", "p99 (ms)", "p99.9 (ms)", "max (ms)"];
    if open {
        columns.push("p99 uncorrected (ms)");
    }
    columns.push("answered / sent");
    let table = step_table(caption, &groups, &columns, |s| {
        let l = &s.load.latency;
        // A step drawn as a gap has no latency: "—", never a 0.
        let none = gap(s, Figure::OfAnswers).is_some();
        let cell = |l: &wb_model::results::Latency, name: &str| match l.percentile(name) {
            Some((us, bound)) if !none => format::at_least(sig3(ms(us)), bound),
            _ => "—".into(),
        };
        let mut row = ["p50", "p90", "p99", "p99.9", "max"]
            .map(|name| cell(l, name))
            .to_vec();
        if open {
            row.push(
                s.load
                    .latency_uncorrected
                    .map(|u| cell(&u, "p99"))
                    .unwrap_or_else(|| "—".into()),
            );
        }
        row.push(format::answered(&s.load));
        row
    });
    let notes = chart_notes(&groups, Figure::OfAnswers);
    finish_lines(id, plot, table, notes)
}

/// Cores the engine used against the level, 1.0 being one core busy for the whole window.
/// The load generator's cores are in the table; where it was saturated, the notes say so.
pub fn cores(steps: &[StepResult], workload: &str) -> Chart {
    let id = chart_id(workload, "cores");
    let title = format!("{workload}: cores the engine used");
    let groups = by_engine(steps, workload);
    if groups.is_empty() {
        return no_data(id, title, workload);
    }
    let mode = mode_of(&groups);
    // One message: what the engine used. The load generator's cores are in the table, and a
    // step where it was the limit is flagged and said in the notes.
    let lines = metric_lines(&groups, Metric::EngineCores, false, true);
    let mut legend = engine_legend(&groups);
    legend.extend(flag_keys(&groups, Figure::Other));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode),
        y_desc: Metric::EngineCores.axis().into(),
        x_log: true,
        y: Metric::EngineCores.y_rule(&all_steps(&groups)),
        lines,
        legend,
    };
    let table = step_table(
        format!(
            "{workload}: CPU time over the window divided by its length (1.0 = one core busy), \
             for the engine's process tree and for the load generator."
        ),
        &groups,
        &[
            "engine cores",
            "load generator cores",
            "context switches (per s)",
        ],
        |s| {
            let d = &s.derived;
            vec![
                sig3(d.engine_cores),
                sig3(d.client_cores),
                format!("{:.0}", d.ctx_switches_per_sec),
            ]
        },
    );
    let notes = chart_notes(&groups, Figure::Other);
    finish_lines(id, plot, table, notes)
}

/// Engine CPU time per valid answer against the level, with its 95 % interval: what one
/// answer costs the engine, the figure that stays fair when the load generator shares the
/// machine and limits the throughput.
pub fn cost_per_request(steps: &[StepResult], workload: &str) -> Chart {
    level_metric_chart(
        steps,
        workload,
        Metric::CostPerRequest,
        "engine CPU per request",
        "engine CPU-µs per valid answer (the engine's whole process tree), by engine and \
         level, ± its 95 % interval",
    )
}
