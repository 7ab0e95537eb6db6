//! What a connection costs in memory: PSS against open connections with its least-squares
//! slope ([`memory_per_connection`]), those slopes as bars beside the kernel's share
//! ([`bytes_per_connection_bars`]), and memory and threads against the level for the
//! slow-client workloads ([`memory`], [`threads`]).

use super::*;
use wb_model::spread::Estimate;

/// Idle workloads: PSS (MiB) against open connections, one line per engine, with its
/// least-squares fit dashed. The table has one row per step; its notes give each engine's
/// fitted bytes per connection and the kernel's, shown apart ([`IdleSlope::fit`]).
pub fn memory_per_connection(steps: &[StepResult], workload: &str) -> Chart {
    let id = chart_id(workload, "memory");
    let title = format!("{workload}: memory against open connections");
    let groups = by_engine(steps, workload);
    if groups.is_empty() {
        return no_data(id, title, workload);
    }
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    for (engine, engine_steps) in &groups {
        let style = engine_style(engine);
        lines.push(Line {
            style,
            dashed: false,
            markers: true,
            points: engine_steps
                .iter()
                .map(|s| Point {
                    x: s.load.connections as f64,
                    y: s.derived.peak_pss_bytes as f64 / MIB,
                    mark: mark(s, false),
                    interval: None,
                    gap: gap(s, Figure::Other),
                })
                .collect(),
        });
        match IdleSlope::fit(engine_steps) {
            Some(fit) => {
                let xs = engine_steps
                    .iter()
                    .filter(|s| s.failure.is_none())
                    .map(|s| s.load.connections as f64);
                let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
                let at =
                    |x: f64| Point::at(x, (fit.base_bytes + fit.bytes_per_connection * x) / MIB);
                lines.push(Line {
                    style,
                    dashed: true,
                    markers: false,
                    points: vec![at(lo), at(hi)],
                });
                notes.push(format!(
                    "{engine}: {} per idle connection (least-squares slope of PSS over {} steps), \
                     base {}; kernel: {} per connection, shown apart.",
                    format::bytes(fit.bytes_per_connection),
                    engine_steps.iter().filter(|s| s.failure.is_none()).count(),
                    format::bytes(fit.base_bytes),
                    format::bytes(fit.kernel_bytes_per_connection),
                ));
            }
            None => notes.push(format!(
                "{engine}: no slope (needs two or more connection counts that did not fail)."
            )),
        }
    }
    let mut legend = engine_legend(&groups);
    legend.push(key(Swatch::Solid, "measured (peak PSS)"));
    legend.push(key(Swatch::Dashed, "least-squares fit"));
    legend.extend(flag_keys(&groups, Figure::Other));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: "open connections".into(),
        y_desc: "PSS, engine process tree (MiB)".into(),
        x_log: false,
        // Linear: the slope is what is read off it.
        y: YRule::Data { log: false },
        lines,
        legend,
    };
    let mut table = step_table(
        format!(
            "{workload}: memory of each engine's process tree with N idle connections open; \
             kernel memory (TCP buffers, unreclaimable slab, kernel stacks, system-wide) shown apart."
        ),
        &groups,
        &[
            "open connections",
            "peak PSS (MiB)",
            "peak RSS (MiB)",
            "kernel memory (MiB)",
            "threads (most seen)",
        ],
        |s| {
            let d = &s.derived;
            vec![
                s.load.connections.to_string(),
                sig3(d.peak_pss_bytes as f64 / MIB),
                sig3(d.peak_rss_bytes as f64 / MIB),
                sig3(kernel_bytes(s) / MIB),
                d.threads_max.to_string(),
            ]
        },
    );
    table.notes = notes;
    let notes = chart_notes(&groups, Figure::Other);
    finish_lines(id, plot, table, notes)
}

/// Idle workloads: each engine's bytes per idle connection (the least-squares slope of PSS
/// over open connections) as a horizontal bar, with the kernel's per-connection cost as a
/// grey bar beside it, labelled "kernel (shown apart)". The table has one row per engine.
pub fn bytes_per_connection_bars(steps: &[StepResult], workload: &str) -> Chart {
    let id = chart_id(workload, "bytes-per-connection");
    let title = format!("{workload}: bytes per idle connection");
    let groups = by_engine(steps, workload);
    if groups.is_empty() {
        return no_data(id, title, workload);
    }
    // Each slope with its 95 % interval (user, kernel): a slope whose interval reaches zero
    // is below what this machine resolves, and is written so rather than drawn as a bar.
    type Fit = Option<(IdleSlope, Estimate, Estimate)>;
    let fits: Vec<(&str, Fit, usize)> = groups
        .iter()
        .map(|(engine, s)| {
            let used = s.iter().filter(|s| s.reached()).count();
            let fit = IdleSlope::fit(s).and_then(|f| {
                crate::claims::idle_slope_estimate(s).map(|(user, kernel)| (f, user, kernel))
            });
            (engine.as_str(), fit, used)
        })
        .collect();
    let whole_bytes = |v: f64| format!("{v:.0}");
    let table = DataTable {
        caption: format!(
            "{workload}: least-squares slope of memory over open connections, per engine, ± its \
             95 % interval; the kernel's share is system-wide and shown apart."
        ),
        columns: [
            "engine",
            "bytes per connection (B)",
            "base memory (MiB)",
            "kernel bytes per connection (B)",
            "steps fitted",
        ]
        .map(String::from)
        .to_vec(),
        rows: fits
            .iter()
            .map(|(engine, fit, used)| match fit {
                Some((f, user, kernel)) => vec![
                    engine.to_string(),
                    format::estimate(user, whole_bytes),
                    sig3(f.base_bytes / MIB),
                    format::estimate(kernel, whole_bytes),
                    used.to_string(),
                ],
                None => vec![
                    engine.to_string(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    used.to_string(),
                ],
            })
            .collect(),
        notes: groups
            .iter()
            .filter_map(|(engine, s)| not_reached_note(engine, s))
            .collect(),
    };
    let fitted: Vec<(&str, Estimate, Estimate)> = fits
        .iter()
        .filter_map(|(engine, fit, _)| fit.map(|(_, user, kernel)| (*engine, user, kernel)))
        .collect();
    if fitted.is_empty() {
        return Chart::message(
            id,
            title,
            "Not enough data to fit a slope: each engine needs two or more connection counts.",
            &format!("workbench run --workloads {workload}"),
            table,
        );
    }
    let largest = fitted
        .iter()
        .flat_map(|(_, user, kernel)| [user.value.abs(), kernel.value.abs()])
        .fold(0.0_f64, f64::max);
    let (unit, divisor) = if largest >= 2048.0 {
        ("KiB", 1024.0)
    } else {
        ("bytes", 1.0)
    };
    let plot = BarPlot {
        title: title.clone(),
        x_desc: format!("memory per idle connection ({unit})"),
        rows: fitted
            .iter()
            .map(|(engine, user, kernel)| BarRow {
                label: engine.to_string(),
                bars: vec![
                    resolved_bar(user, divisor, engine_color(engine)),
                    resolved_bar(kernel, divisor, REFERENCE),
                ],
            })
            .collect(),
        legend: pair_legend("engine (PSS slope)", "kernel (shown apart)"),
    };
    bars_chart(id, title, &plot, table)
}

/// The legend of a chart of bar pairs: the engine's own colour first, grey second.
fn pair_legend(first: &str, second: &str) -> Vec<LegendEntry> {
    vec![
        LegendEntry {
            text: first.into(),
            color: REFERENCE,
            swatch: Swatch::Blocks(ENGINE_SWATCH.to_vec()),
        },
        LegendEntry {
            text: second.into(),
            color: REFERENCE,
            swatch: Swatch::Block,
        },
    ]
}

/// A bar chart drawn, or the error that stopped it, with its table.
fn bars_chart(id: String, title: String, plot: &BarPlot, table: DataTable) -> Chart {
    let draw = |size| render::bar_plot(plot, size).unwrap_or_else(|err| draw_error(&title, &*err));
    let (svg, svg_narrow) = (draw(WIDE), draw(NARROW));
    Chart {
        svg_narrow,
        legend: legend_items(&plot.legend),
        ..Chart::drawn(id, title, svg, table)
    }
}

/// A stack-size sweep on the idle workload: for each stack size the thread-per-connection
/// engines stated, what one connection kept resident (the PSS slope, in the engine's colour)
/// against the address space it reserved (the VSZ slope, grey). The table has one row per
/// stack size.
pub fn stack_sweep_bars(steps: &[StepResult], workload: &str) -> Chart {
    let id = chart_id(workload, "stack-sweep");
    let title = format!("{workload}: resident against reserved, by stack size");
    let mine: Vec<StepResult> = steps
        .iter()
        .filter(|s| s.workload == workload)
        .cloned()
        .collect();
    let combined = wb_model::spread::combined(&mine);
    let sweep = crate::claims::stack_sweep(&combined.iter().collect::<Vec<_>>());
    if sweep.is_empty() {
        return no_data(id, title, workload);
    }
    let whole_bytes = |v: f64| format!("{v:.0}");
    let table = DataTable {
        caption: format!(
            "{workload}: least-squares slopes over open connections per stack size, ± their \
             95 % intervals: PSS (resident) and virtual size (reserved address space)."
        ),
        columns: [
            "stack",
            "engine",
            "resident bytes per connection (B)",
            "address space per connection (B)",
        ]
        .map(String::from)
        .to_vec(),
        rows: sweep
            .iter()
            .map(|p| {
                vec![
                    wb_model::results::stack_text(p.stack_bytes),
                    p.label.clone(),
                    format::estimate(&p.resident, whole_bytes),
                    p.reserved
                        .as_ref()
                        .map_or("—".into(), |e| format::estimate(e, whole_bytes)),
                ]
            })
            .collect(),
        notes: Vec::new(),
    };
    let plot = BarPlot {
        title: title.clone(),
        x_desc: "per idle connection (KiB)".into(),
        rows: sweep
            .iter()
            .map(|p| {
                let mut bars = vec![resolved_bar(&p.resident, 1024.0, engine_color(&p.label))];
                if let Some(reserved) = &p.reserved {
                    bars.push(resolved_bar(reserved, 1024.0, REFERENCE));
                }
                BarRow {
                    label: format!("{} stack", wb_model::results::stack_text(p.stack_bytes)),
                    bars,
                }
            })
            .collect(),
        legend: pair_legend("resident (PSS slope)", "address space (VSZ slope)"),
    };
    bars_chart(id, title, &plot, table)
}

/// Peak PSS (MiB) of the engine's process tree against the level.
pub fn memory(steps: &[StepResult], workload: &str) -> Chart {
    level_metric_chart(
        steps,
        workload,
        Metric::PeakPss,
        "memory against the level",
        "largest PSS of the engine's process tree seen in the window",
    )
}

/// Most threads seen in the engine's process tree against the level.
pub fn threads(steps: &[StepResult], workload: &str) -> Chart {
    level_metric_chart(
        steps,
        workload,
        Metric::Threads,
        "threads against the level",
        "most threads seen in the engine's process tree in the window",
    )
}

/// A bar for a slope: its length and label, or no length and "below what this machine
/// resolves (± X)" when its interval reaches zero (a negative bar would draw noise as a
/// measurement).
fn resolved_bar(slope: &Estimate, divisor: f64, color: plotters::style::RGBColor) -> Bar {
    Bar {
        value: if slope.below_resolution() {
            0.0
        } else {
            slope.value / divisor
        },
        color,
        text: format::estimate(slope, format::bytes),
    }
}

/// What an engine held when its idle levels were not reached, instead of a slope: "pool: no
/// bar: it held 3 of 10 000 connections (3 workers, one connection each); a level not
/// reached is no point of a slope".
fn not_reached_note(engine: &str, steps: &[&StepResult]) -> Option<String> {
    let missed = steps
        .iter()
        .filter(|s| s.failure.is_none() && !s.reached())
        .max_by_key(|s| s.level)?;
    let workers = missed
        .workers()
        .map(|n| format!(" ({n} workers, one connection each)"))
        .unwrap_or_default();
    Some(format!(
        "{engine}: no bar: it held {} of {} connections{workers}; a level not reached is no \
         point of a slope.",
        format::count(missed.load.connections as f64),
        format::count(missed.level as f64)
    ))
}
