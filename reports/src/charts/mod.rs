//! Charts of a run, drawn on the server as SVG: the same module serves the dashboard (inline
//! SVG in pages) and the standalone HTML and Markdown reports.
//!
//! Every chart comes with a [`DataTable`] of the very figures it draws, with units in the
//! column names: pages show it under the chart (in a `<details>`), so the numbers can be read
//! exactly, copied, and reached by a screen reader.
//!
//! # Reading the charts
//!
//! Each engine has one colour on every chart ([`engine_color`]): blue threads, orange-red pool,
//! green selector, purple coroutines, and related shades for their variants
//! (`selector-offload`, `coroutines-current`, `coroutines-offload`). Peers — servers this
//! project did not write, such as nginx — are drawn with square markers instead of round ones.
//!
//! - **Memory against open connections** ([`memory_per_connection`], `idle` workloads): PSS of
//!   the engine's process tree against the connections held open, with a dashed least-squares
//!   line per engine. The *slope* of that line is what one idle connection costs: steep for a
//!   thread (a stack and a kernel task), nearly flat for a selector loop (a few hundred bytes
//!   of state). The x axis stays linear so that the slope can be read off it.
//! - **Bytes per idle connection** ([`bytes_per_connection_bars`]): those slopes as bars, one
//!   per engine, with a grey bar for what the *kernel* pays per connection (TCP buffers,
//!   unreclaimable slab, kernel stacks), shown apart: every model pays it.
//! - **Throughput** ([`throughput`]): answers per second against the level — connections for a
//!   closed loop, the offered rate for an open loop, where a grey dashed `y = x` line marks
//!   "kept up with the offer". A prefork pool flattens at its worker count; a single selector
//!   loop flattens at one core on CPU work.
//! - **Latency** ([`latency`]): p99 in milliseconds, p50 dashed. In a closed loop latency is
//!   from send to answer and the load slows down with the server, so the chart says "closed
//!   loop". In an open loop the solid line is p99 measured from the *intended* send time
//!   (coordinated omission corrected) and the dashed one is the uncorrected p99 a naive
//!   client would report: the gap between them is queueing the naive view hides.
//! - **Cores** ([`cores`]): CPU time of the engine over the window divided by its length
//!   (1.0 = one core busy), solid, and the load generator's own, dashed in the same colour.
//!   When the dashed line nears 1.0 the client, not the engine, may be the bottleneck.
//! - **Memory and threads against the level** ([`memory`], [`threads`]): for the slow-client
//!   workloads, what holding a slow client costs each model.
//!
//! Axes switch to a log scale when the values span two decades or more ([`use_log_scale`]);
//! the axis title then says "log scale". On a log level axis a level of 0 is drawn at its own
//! tick, a short gap left of the smallest level.
//!
//! Steps with a warning (client saturated, Little's law off, level not reached) are drawn with
//! a hollow marker and a "!"; failed steps have no point on the line and a "×" at the bottom
//! of the plot. The table says which warning, in its `flags` column.
//!
//! [`charts_for_workload`] picks the charts that fit a workload's mode. With no data for a
//! workload, a chart is an *empty state* ([`Chart::empty`]): a small SVG that says what to
//! run to get some.
//!
//! # Implementation
//!
//! plotters draws into an SVG string; text is measured with DejaVu Sans, bundled in
//! `assets/` (no system fontconfig needed) and written as `<text>` elements naming
//! `DejaVu Sans, sans-serif`, so the font itself is never embedded or fetched. The SVG has a
//! `viewBox` and `width="100%"`: it scales to its container.

mod palette;
mod render;
mod scale;

use crate::format::{self, sig3};
use workloads::results::{IdleSlope, StepResult};
use workloads::spec::{Mode, Workload};

pub use palette::{ENGINE_ORDER, EngineStyle, color_hex, engine_color, engine_style, is_peer};
pub use render::{HEIGHT, WIDTH};
pub use scale::{LOG_SCALE_RATIO, use_log_scale};

use render::{Bar, BarPlot, BarRow, LegendEntry, Line, LinePlot, Mark, Point, REFERENCE, Swatch};

const MIB: f64 = 1024.0 * 1024.0;

/// The legend swatch for "an engine's bar": the four models' colours.
const ENGINE_SWATCH: [plotters::style::RGBColor; 4] = [
    palette::ENGINE_COLORS[0].1,
    palette::ENGINE_COLORS[1].1,
    palette::ENGINE_COLORS[2].1,
    palette::ENGINE_COLORS[4].1,
];

/// One chart: an SVG and the table of the same data.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// A short identifier, unique among a workload's charts, for anchors and file names:
    /// `hello-throughput`.
    pub id: String,
    /// The chart's title, as drawn in the SVG.
    pub title: String,
    /// A standalone `<svg>` element: viewBox, `width="100%"`, no external references.
    pub svg: String,
    /// The same data as a table, for reading exact values and for screen readers.
    pub table: DataTable,
    /// True when there was nothing to draw and `svg` is an empty state saying what to run.
    pub empty: bool,
}

/// A chart's data as a table. Cells are formatted text; units are in the column names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataTable {
    /// What the table shows, in a sentence.
    pub caption: String,
    /// Column names, with units: `throughput (req/s)`.
    pub columns: Vec<String>,
    /// One row per step drawn (per engine for summary charts), cells in column order.
    pub rows: Vec<Vec<String>>,
    /// Figures that are not one per row, such as a fitted slope per engine.
    pub notes: Vec<String>,
}

impl DataTable {
    /// The table as GitHub-flavoured Markdown (caption and notes as paragraphs).
    pub fn to_markdown(&self) -> String {
        let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
        let mut out = format!("{}\n\n", self.caption);
        if !self.columns.is_empty() {
            let header: Vec<String> = self.columns.iter().map(|c| cell(c)).collect();
            out.push_str(&format!("| {} |\n", header.join(" | ")));
            out.push_str(&format!("|{}\n", "---|".repeat(self.columns.len())));
            for row in &self.rows {
                let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
        }
        for note in &self.notes {
            out.push_str(&format!("\n{note}\n"));
        }
        out
    }

    /// The table as an HTML `<table>` with its caption, notes in a `<ul>` after it; every
    /// cell escaped.
    pub fn to_html(&self) -> String {
        let e = format::escape_html;
        let mut out = format!(
            "<table>\n<caption>{}</caption>\n<thead><tr>",
            e(&self.caption)
        );
        for column in &self.columns {
            out.push_str(&format!("<th scope=\"col\">{}</th>", e(column)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for c in row {
                out.push_str(&format!("<td>{}</td>", e(c)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        if !self.notes.is_empty() {
            out.push_str("<ul>\n");
            for note in &self.notes {
                out.push_str(&format!("<li>{}</li>\n", e(note)));
            }
            out.push_str("</ul>\n");
        }
        out
    }
}

/// A figure of a step, for the comparison chart ([`compare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Valid answers per second.
    Throughput,
    /// 99th percentile latency (corrected for coordinated omission in open loop).
    LatencyP99,
    /// Median latency.
    LatencyP50,
    /// Cores the engine used (1.0 = one core busy).
    EngineCores,
    /// Cores the load generator used.
    ClientCores,
    /// Largest PSS of the engine's process tree.
    PeakPss,
    /// Most threads seen in the engine's process tree.
    Threads,
}

impl Metric {
    /// A short name: `throughput`, `p99 latency`, ….
    pub fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::LatencyP99 => "p99 latency",
            Metric::LatencyP50 => "p50 latency",
            Metric::EngineCores => "engine cores",
            Metric::ClientCores => "client cores",
            Metric::PeakPss => "peak PSS",
            Metric::Threads => "threads",
        }
    }

    /// The axis title and table column, with the unit.
    pub fn axis(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput (req/s)",
            Metric::LatencyP99 => "p99 latency (ms)",
            Metric::LatencyP50 => "p50 latency (ms)",
            Metric::EngineCores => "engine cores (1.0 = one core busy)",
            Metric::ClientCores => "client cores (1.0 = one core busy)",
            Metric::PeakPss => "peak PSS (MiB)",
            Metric::Threads => "threads (most seen)",
        }
    }

    /// The figure of a step, in the unit of [`Metric::axis`].
    pub fn value(self, step: &StepResult) -> f64 {
        let d = &step.derived;
        match self {
            Metric::Throughput => d.throughput_rps,
            Metric::LatencyP99 => ms(step.load.latency.p99_us),
            Metric::LatencyP50 => ms(step.load.latency.p50_us),
            Metric::EngineCores => d.engine_cores,
            Metric::ClientCores => d.client_cores,
            Metric::PeakPss => d.peak_pss_bytes as f64 / MIB,
            Metric::Threads => d.threads_max as f64,
        }
    }

    /// Cores are compared on a linear axis (1.0 must look like 1.0); the rest may go log.
    fn log_allowed(self) -> bool {
        !matches!(self, Metric::EngineCores | Metric::ClientCores)
    }

    /// Table cell for a value.
    fn cell(self, value: f64) -> String {
        match self {
            Metric::Throughput | Metric::Threads => format!("{value:.0}"),
            Metric::LatencyP99 | Metric::LatencyP50 => sig3(value),
            Metric::EngineCores | Metric::ClientCores | Metric::PeakPss => sig3(value),
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::LatencyP99 => "p99",
            Metric::LatencyP50 => "p50",
            Metric::EngineCores => "engine-cores",
            Metric::ClientCores => "client-cores",
            Metric::PeakPss => "pss",
            Metric::Threads => "threads",
        }
    }
}

/// The charts that fit a workload's mode, for the steps of that workload in `steps` (other
/// workloads' steps are ignored):
///
/// - idle: memory against open connections, bytes per idle connection;
/// - closed loop: throughput, latency, cores;
/// - open loop: latency (corrected and uncorrected), throughput achieved against offered, cores;
/// - slow readers and slow senders: latency, memory and threads against the level.
pub fn charts_for_workload(steps: &[StepResult], workload: &Workload) -> Vec<Chart> {
    let name = workload.name.as_str();
    match workload.mode {
        Mode::Idle => vec![
            memory_per_connection(steps, name),
            bytes_per_connection_bars(steps, name),
        ],
        Mode::Closed => vec![
            throughput(steps, name),
            latency(steps, name),
            cores(steps, name),
        ],
        Mode::Open => vec![
            latency(steps, name),
            throughput(steps, name),
            cores(steps, name),
        ],
        Mode::SlowReaders | Mode::SlowSenders => vec![
            latency(steps, name),
            memory(steps, name),
            threads(steps, name),
        ],
    }
}

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
                    mark: mark(s),
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
                let at = |x: f64| Point {
                    x,
                    y: (fit.base_bytes + fit.bytes_per_connection * x) / MIB,
                    mark: Mark::Plain,
                };
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
    legend.extend(flag_keys(&groups));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: "open connections".into(),
        y_desc: "PSS, engine process tree (MiB)".into(),
        x_log: false,
        y_log: false,
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
    finish_lines(id, plot, table)
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
    let fits: Vec<(&str, Option<IdleSlope>, usize)> = groups
        .iter()
        .map(|(engine, s)| {
            let used = s.iter().filter(|s| s.failure.is_none()).count();
            (engine.as_str(), IdleSlope::fit(s), used)
        })
        .collect();
    let table = DataTable {
        caption: format!(
            "{workload}: least-squares slope of memory over open connections, per engine; \
             the kernel's share is system-wide and shown apart."
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
                Some(f) => vec![
                    engine.to_string(),
                    format!("{:.0}", f.bytes_per_connection),
                    sig3(f.base_bytes / MIB),
                    format!("{:.0}", f.kernel_bytes_per_connection),
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
        notes: Vec::new(),
    };
    let fitted: Vec<(&str, IdleSlope)> = fits
        .iter()
        .filter_map(|(engine, fit, _)| fit.map(|f| (*engine, f)))
        .collect();
    if fitted.is_empty() {
        let svg = render::message_svg(
            &title,
            "Not enough data to fit a slope: each engine needs two or more connection counts.",
            &format!("workbench run --workloads {workload}"),
        );
        return Chart {
            id,
            title,
            svg,
            table,
            empty: true,
        };
    }
    let largest = fitted
        .iter()
        .flat_map(|(_, f)| {
            [
                f.bytes_per_connection.abs(),
                f.kernel_bytes_per_connection.abs(),
            ]
        })
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
            .map(|(engine, f)| BarRow {
                label: engine.to_string(),
                bars: vec![
                    Bar {
                        value: f.bytes_per_connection / divisor,
                        color: engine_color(engine),
                        text: format::bytes(f.bytes_per_connection),
                    },
                    Bar {
                        value: f.kernel_bytes_per_connection / divisor,
                        color: REFERENCE,
                        text: format::bytes(f.kernel_bytes_per_connection),
                    },
                ],
            })
            .collect(),
        legend: vec![
            LegendEntry {
                text: "engine (PSS slope)".into(),
                color: REFERENCE,
                swatch: Swatch::Blocks(&ENGINE_SWATCH),
            },
            LegendEntry {
                text: "kernel (shown apart)".into(),
                color: REFERENCE,
                swatch: Swatch::Block,
            },
        ],
    };
    let svg = render::bar_plot(&plot).unwrap_or_else(|err| draw_error(&title, &*err));
    Chart {
        id,
        title,
        svg,
        table,
        empty: false,
    }
}

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
            points: levels
                .iter()
                .map(|&l| Point {
                    x: l,
                    y: l,
                    mark: Mark::Plain,
                })
                .collect(),
        });
        legend.push(LegendEntry {
            text: "offered rate".into(),
            color: REFERENCE,
            swatch: Swatch::Dashed,
        });
    }
    legend.extend(flag_keys(&groups));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode),
        y_desc: Metric::Throughput.axis().into(),
        x_log: true,
        y_log: true,
        lines,
        legend,
    };
    let table = step_table(
        format!("{workload}: valid answers per second, by engine and level."),
        &groups,
        &["throughput (req/s)", "errors"],
        |s| {
            vec![
                format!("{:.0}", s.derived.throughput_rps),
                s.load.errors.total().to_string(),
            ]
        },
    );
    finish_lines(id, plot, table)
}

/// Latency in milliseconds against the level. Closed loop and slow clients: p99 solid, p50
/// dashed. Open loop: p99 from the intended send time (coordinated omission corrected) solid,
/// the uncorrected p99 dashed.
pub fn latency(steps: &[StepResult], workload: &str) -> Chart {
    let id = chart_id(workload, "latency");
    let groups = by_engine(steps, workload);
    let mode = mode_of(&groups);
    let title = match mode {
        Some(Mode::Open) => format!("{workload}: p99 latency, corrected and uncorrected"),
        Some(Mode::SlowSenders) => format!("{workload}: latency of the /hello probe"),
        Some(Mode::SlowReaders) => format!("{workload}: latency of a whole download"),
        _ => format!("{workload}: latency (closed loop)"),
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
                            mark: mark(s),
                        })
                    })
                    .collect(),
            });
        }
        legend.push(key(Swatch::Solid, "p99, from intended send"));
        legend.push(key(Swatch::Dashed, "p99, uncorrected"));
    } else {
        lines.extend(metric_lines(&groups, Metric::LatencyP50, true, false));
        legend.push(key(Swatch::Solid, "p99"));
        legend.push(key(Swatch::Dashed, "p50"));
    }
    legend.extend(flag_keys(&groups));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode),
        y_desc: "latency (ms)".into(),
        x_log: true,
        y_log: true,
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
    let mut columns = vec!["p50 (ms)", "p90 (ms)", "p99 (ms)", "p99.9 (ms)", "max (ms)"];
    if open {
        columns.push("p99 uncorrected (ms)");
    }
    columns.push("requests measured");
    let table = step_table(caption, &groups, &columns, |s| {
        let l = &s.load.latency;
        let mut row = vec![
            sig3(ms(l.p50_us)),
            sig3(ms(l.p90_us)),
            sig3(ms(l.p99_us)),
            sig3(ms(l.p999_us)),
            sig3(ms(l.max_us)),
        ];
        if open {
            row.push(
                s.load
                    .latency_uncorrected
                    .map(|u| sig3(ms(u.p99_us)))
                    .unwrap_or_else(|| "—".into()),
            );
        }
        row.push(l.count.to_string());
        row
    });
    finish_lines(id, plot, table)
}

/// Cores used against the level: the engine's solid, the load generator's dashed in the same
/// colour. 1.0 is one core busy for the whole window.
pub fn cores(steps: &[StepResult], workload: &str) -> Chart {
    let id = chart_id(workload, "cores");
    let title = format!("{workload}: cores used, engine and load generator");
    let groups = by_engine(steps, workload);
    if groups.is_empty() {
        return no_data(id, title, workload);
    }
    let mode = mode_of(&groups);
    let mut lines = metric_lines(&groups, Metric::EngineCores, false, true);
    lines.extend(metric_lines(&groups, Metric::ClientCores, true, false));
    let mut legend = engine_legend(&groups);
    legend.push(key(Swatch::Solid, "engine"));
    legend.push(key(Swatch::Dashed, "load generator"));
    legend.extend(flag_keys(&groups));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode),
        y_desc: "cores (1.0 = one core busy)".into(),
        x_log: true,
        y_log: false,
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
    finish_lines(id, plot, table)
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
            points: run_steps
                .iter()
                .map(|s| Point {
                    x: s.level as f64,
                    y: metric.value(s),
                    mark: mark(s),
                })
                .collect(),
        });
        for s in &run_steps {
            table.rows.push(vec![
                label.clone(),
                s.level.to_string(),
                metric.cell(metric.value(s)),
                flags_text(s),
            ]);
        }
    }
    if let Some(mode) = mode {
        table.columns[1] = level_column(mode);
    }
    if lines.is_empty() {
        let svg = render::message_svg(
            &title,
            &format!("No run has {workload} on {engine} yet."),
            &format!("workbench run --engines {engine} --workloads {workload}"),
        );
        return Chart {
            id,
            title,
            svg,
            table,
            empty: true,
        };
    }
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode),
        y_desc: metric.axis().into(),
        x_log: true,
        y_log: metric.log_allowed(),
        lines,
        legend,
    };
    finish_lines(id, plot, table)
}

/// A chart with nothing to show yet: `hint` is the command to run to get data.
pub fn empty_state(id: &str, title: &str, hint: &str) -> Chart {
    Chart {
        id: id.to_string(),
        title: title.to_string(),
        svg: render::message_svg(title, "No data yet.", hint),
        table: DataTable {
            caption: format!("{title}: no data yet."),
            ..DataTable::default()
        },
        empty: true,
    }
}

// ---- helpers ------------------------------------------------------------------------------

/// An engine's label and its steps of one workload, by level.
type EngineSteps<'a> = (String, Vec<&'a StepResult>);

/// The steps of `workload`, grouped by engine (built-in engines first, in their usual order,
/// then peers by name), each group sorted by level.
fn by_engine<'a>(steps: &'a [StepResult], workload: &str) -> Vec<EngineSteps<'a>> {
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

fn mode_of(groups: &[EngineSteps<'_>]) -> Option<Mode> {
    groups.first().and_then(|(_, s)| s.first()).map(|s| s.mode)
}

fn levels(groups: &[EngineSteps<'_>]) -> Vec<f64> {
    let mut levels: Vec<u64> = groups
        .iter()
        .flat_map(|(_, s)| s.iter().map(|s| s.level))
        .collect();
    levels.sort_unstable();
    levels.dedup();
    levels.into_iter().map(|l| l as f64).collect()
}

/// One line per engine of a metric against the level.
fn metric_lines(
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
            points: steps
                .iter()
                .map(|s| Point {
                    x: s.level as f64,
                    y: metric.value(s),
                    mark: mark(s),
                })
                .collect(),
        })
        .collect()
}

/// A chart of one metric against the level, one line per engine.
fn level_metric_chart(
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
    legend.extend(flag_keys(&groups));
    let plot = LinePlot {
        title: title.clone(),
        x_desc: level_axis(mode_of(&groups)),
        y_desc: metric.axis().into(),
        x_log: true,
        y_log: metric.log_allowed(),
        lines: metric_lines(&groups, metric, false, true),
        legend,
    };
    let table = step_table(
        format!("{workload}: {caption}."),
        &groups,
        &[metric.axis()],
        |s| vec![metric.cell(metric.value(s))],
    );
    finish_lines(id, plot, table)
}

/// A table with one row per step: engine, level, the chart's own columns, then flags.
fn step_table(
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

/// The legend's engine entries.
fn engine_legend(groups: &[EngineSteps<'_>]) -> Vec<LegendEntry> {
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
fn key(swatch: Swatch, text: &str) -> LegendEntry {
    LegendEntry {
        text: text.into(),
        color: REFERENCE,
        swatch,
    }
}

/// Key entries for the marks used, if any.
fn flag_keys(groups: &[EngineSteps<'_>]) -> Vec<LegendEntry> {
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

fn mark(step: &StepResult) -> Mark {
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
fn flags_text(step: &StepResult) -> String {
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

/// The level axis title, with its unit.
fn level_axis(mode: Option<Mode>) -> String {
    match mode {
        Some(Mode::Open) => "offered rate (req/s)".into(),
        Some(mode) => mode.level_unit().into(),
        None => "level".into(),
    }
}

/// The level column of a table, with its unit.
fn level_column(mode: Mode) -> String {
    match mode {
        Mode::Open => "offered rate (req/s)".into(),
        mode => format!("level ({})", mode.level_unit()),
    }
}

/// System kernel memory of a step: TCP buffers, unreclaimable slab, kernel stacks.
fn kernel_bytes(step: &StepResult) -> f64 {
    let d = &step.derived;
    (d.tcp_mem_bytes + d.slab_unreclaim_bytes + d.kernel_stack_bytes) as f64
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn chart_id(workload: &str, kind: &str) -> String {
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
fn no_data(id: String, title: String, workload: &str) -> Chart {
    let svg = render::message_svg(
        &title,
        "No data yet. Run:",
        &format!("workbench run --workloads {workload}"),
    );
    Chart {
        id,
        table: DataTable {
            caption: format!("{title}: no data yet."),
            ..DataTable::default()
        },
        title,
        svg,
        empty: true,
    }
}

fn finish_lines(id: String, plot: LinePlot, table: DataTable) -> Chart {
    let svg = render::line_plot(&plot).unwrap_or_else(|err| draw_error(&plot.title, &*err));
    Chart {
        id,
        title: plot.title,
        svg,
        table,
        empty: false,
    }
}

/// What a page shows if plotters fails (it should not: the SVG backend writes to a string).
fn draw_error(title: &str, err: &dyn std::error::Error) -> String {
    render::message_svg(
        title,
        "This chart could not be drawn; the table below has the data.",
        &err.to_string(),
    )
}
