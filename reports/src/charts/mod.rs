//! Charts of a run, drawn on the server as SVG: the same module serves the dashboard (inline
//! SVG in pages) and the standalone HTML and Markdown reports.
//!
//! Every chart comes with a [`DataTable`] of the very figures it draws, with units in the
//! column names: pages show it under the chart (in a `<details>`), so the numbers can be read
//! exactly, copied, and reached by a screen reader.
//!
//! # Reading the charts
//!
//! Each engine has one colour on every chart ([`engine_color`]), from the Okabe–Ito palette
//! that readers with any common colour vision deficiency tell apart: blue threads, vermilion
//! pool, bluish green selector, reddish purple coroutines, and their variants a related shade
//! or a colour of their own (sky blue, dark green, black for `selector-on-tokio`, orange for
//! `coroutines-current`). Peers — servers this project did not write, such as nginx — are
//! drawn with square markers instead of round ones. The legend is HTML beside the drawing
//! ([`Chart::legend`]): on the dashboard its series are buttons that hide or show that
//! colour's marks (`static/charts.js`); without the script it is a plain key.
//!
//! One message a chart, so one line per engine: solid, with round markers.
//!
//! - **Memory against open connections** ([`memory_per_connection`], `idle` workloads): PSS of
//!   the engine's process tree against the connections held open, with a dashed least-squares
//!   line per engine (the one chart with a second, dashed line per engine). The *slope* of
//!   that line is what one idle connection costs: steep for a thread (a stack and a kernel
//!   task), nearly flat for a selector loop (a few hundred bytes of state). Both axes stay
//!   linear so that the slope can be read off them.
//! - **Bytes per idle connection** ([`bytes_per_connection_bars`]): those slopes as bars, one
//!   per engine, with a grey bar for what the *kernel* pays per connection (TCP buffers,
//!   unreclaimable slab, kernel stacks), shown apart: every model pays it.
//! - **Throughput** ([`throughput`]): answers per second against the level — connections for a
//!   closed loop, the offered rate for an open loop, where a grey dashed `y = x` line marks
//!   "kept up with the offer". A prefork pool flattens at its worker count; a single selector
//!   loop flattens at one core on CPU work.
//! - **Latency** ([`latency`]): the p99 in milliseconds (the p50 and the others are in the
//!   table). In a closed loop latency is from send to answer and the load slows down with
//!   the server, so the title says "closed loop". In an open loop the solid line is the p99
//!   from the *intended* send time (coordinated omission corrected) and a dashed line of the
//!   same colour the uncorrected p99 a naive client would report: the gap between them is
//!   queueing the naive view hides.
//! - **Cores** ([`cores`]): CPU time of the engine over the window divided by its length
//!   (1.0 = one core busy). The load generator's cores are in the table, and a step where it
//!   used a whole core is flagged "client saturated" and said in the notes.
//! - **CPU per request** ([`cost_per_request`]): engine CPU-µs per valid answer, ± its 95 %
//!   interval: fair even when the load generator limits the throughput.
//! - **Memory and threads against the level** ([`memory`], [`threads`]): for the slow-client
//!   workloads, what holding a slow client costs each model.
//! - **Timelines** ([`timeline`], [`connection_timeline`]): lanes of phase-coloured bars;
//!   see their module.
//!
//! ## Failures, flags and bounds
//!
//! A step without a value — failed, a level not reached, or nothing answered (for latency,
//! CPU per answer and throughput: a rate of no answers is not a measured 0 req/s) — is never
//! drawn as a figure: its line breaks there, and a pale band of the engine's colour, a "×"
//! on the level axis and its reason (`failed`, `no answers`, `not reached: 3 of 100 held`)
//! mark the gap. A point with a warning (client saturated, most clients waited unanswered,
//! only a few answers for a p99, Little's law off) is drawn hollow with a "!" above it. A
//! figure that unanswered requests reach is only a lower bound: hollow, with an arrow up,
//! and `≥` in the table. Every one of these is said in words in the notes right under its
//! chart ([`Chart::notes`]), naming the engine and levels, and in the table's `flags`
//! column.
//!
//! ## Axes: one rule per figure
//!
//! A figure has one unit and one axis rule wherever it is drawn — the run page, a lesson, a
//! comparison across runs — so the same value sits at the same height on each
//! ([`Metric::axis`] names the unit; `Metric::y_rule` the rule):
//!
//! - latency (ms): always log, from the 0.1 ms decade ([`LATENCY_FLOOR_MS`]; for a whole
//!   download by a slow reader, which takes a second by design, from 100 ms,
//!   [`DOWNLOAD_FLOOR_MS`]; lower only if a value is) up to the largest value;
//! - cores: linear from 0 to the cores the engine could use (`EngineFacts::cpus`, or the
//!   whole cores above the largest value for older runs), so "2" on a 2-core machine is a
//!   full machine on every page;
//! - throughput, CPU per request, memory and threads: log when the values shown span two
//!   decades or more ([`use_log_scale`]; the axis title then says "log scale"), else linear
//!   from 0; memory against open connections always linear (its slope is the figure).
//!
//! The level axis is log when the levels span a decade (1, 16, 64 connections), with its
//! ticks on the levels themselves; a level of 0 is drawn at its own tick, a short gap left of
//! the smallest level.
//!
//! ## Sizes
//!
//! Each chart is drawn twice ([`Chart::svg`] at [`WIDE`], 720 px, and [`Chart::svg_narrow`]
//! at [`NARROW`], 340 px); [`CHART_CSS`] shows the narrow one below [`NARROW_BELOW`] px, and
//! each `<svg>` has a `max-width` of its drawn width, so its text, at least [`MIN_FONT_PX`],
//! is shown at that size at 1400 px and on a 400 px phone. Timelines follow the same rule.
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

mod compare;
mod legend;
mod memory;
mod palette;
mod render;
mod scale;
mod series;
mod service;
mod timeline;

use crate::format::{self, sig3};
use wb_model::results::{IdleSlope, StepResult};
use wb_model::spec::{Mode, Workload};

pub use palette::{ENGINE_ORDER, EngineStyle, color_hex, engine_color, engine_style, is_peer};
pub use render::{HEIGHT, MIN_FONT_PX, NARROW, NARROW_BELOW, Size, WIDE, WIDTH};
use scale::YRule;
pub use scale::{
    DOWNLOAD_FLOOR_MS, LATENCY_FLOOR_MS, LOG_LEVELS_RATIO, LOG_SCALE_RATIO, use_log_scale,
};

pub use compare::compare;
pub(crate) use legend::Figure;
pub(crate) use legend::flags_text;
use legend::*;
pub use legend::{P99_NEEDS_ANSWERS, most_waited};
pub use memory::{
    bytes_per_connection_bars, memory, memory_per_connection, stack_sweep_bars, threads,
};
use series::*;
pub use service::{cores, cost_per_request, latency, throughput};
pub use timeline::{Axis, connection_timeline, timeline, timelines};

use render::{Bar, BarPlot, BarRow, LegendEntry, Line, LinePlot, Mark, Point, REFERENCE, Swatch};

const MIB: f64 = 1024.0 * 1024.0;

/// The legend swatch for "an engine's bar": the four models' colours.
const ENGINE_SWATCH: [plotters::style::RGBColor; 4] = [
    palette::ENGINE_COLORS[0].1,
    palette::ENGINE_COLORS[1].1,
    palette::ENGINE_COLORS[2].1,
    palette::ENGINE_COLORS[4].1,
];

/// One chart: an SVG (drawn twice: wide and narrow), its legend, the notes that explain its
/// flagged points, and the table of the same data.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// A short identifier, unique among a workload's charts, for anchors and file names:
    /// `hello-throughput`.
    pub id: String,
    /// The chart's title, as drawn in the SVG.
    pub title: String,
    /// A standalone `<svg>` element drawn at [`WIDE`]: viewBox, `width="100%"`, a
    /// `max-width` of its drawn width, no external references.
    pub svg: String,
    /// The same chart drawn at [`NARROW`], for windows narrower than [`NARROW_BELOW`] px;
    /// empty when `svg` serves every width (empty states, timelines).
    pub svg_narrow: String,
    /// The legend, shown beside the SVG (not drawn in it): one entry per series, which a
    /// page may let the reader hide, then the key to line styles and marks.
    pub legend: Vec<LegendItem>,
    /// What the flagged, bounded and missing points mean, in words, one sentence each: shown
    /// right under the chart (`pool at 10 and 100 slow clients: no probe was answered …`).
    pub notes: Vec<String>,
    /// The same data as a table, for reading exact values and for screen readers.
    pub table: DataTable,
    /// True when there was nothing to draw and `svg` is an empty state saying what to run.
    pub empty: bool,
}

/// The CSS a page needs to show charts ([`Chart::drawing_html`]): one home for the dashboard's
/// stylesheet and the standalone report. Each drawing is shown at most at its drawn width;
/// a window narrower than [`NARROW_BELOW`] px gets the narrow drawing.
pub const CHART_CSS: &str = concat!(
    "figure.chart svg { display: block; width: 100%; height: auto; }\n",
    "figure.chart .narrow { display: none; }\n",
    "@media (max-width: 799px) { figure.chart .wide { display: none; } figure.chart .narrow { display: block; } }\n",
    "ul.chart-legend { list-style: none; padding: 0; margin: 0.2rem 0 0.4rem; display: flex; flex-wrap: wrap; gap: 0.3rem 1rem; font-size: 0.95rem; align-items: center; }\n",
    "ul.chart-legend li { margin: 0; }\n",
    "ul.chart-legend button.series { font: inherit; color: inherit; background: #fff; border: 1px solid #bbb; border-radius: 4px; padding: 0.15rem 0.55rem; cursor: pointer; }\n",
    "ul.chart-legend button.series[aria-pressed=\"false\"] { opacity: 0.5; text-decoration: line-through; }\n",
    ".key { display: inline-block; width: 1.5em; height: 0; vertical-align: middle; margin-right: 0.4em; border-top: 2px solid var(--c); }\n",
    ".key.series { width: 0.75em; height: 0.75em; border: 2px solid var(--c); border-radius: 50%; background: var(--c); }\n",
    ".key.series.peer { border-radius: 1px; }\n",
    ".key.dashed { border-top-style: dashed; }\n",
    ".key.block { width: 0.9em; height: 0.9em; border: 0; background: var(--c); }\n",
    ".key.block.small { width: 0.45em; margin-right: 0; }\n",
    ".key.block.small:last-of-type { margin-right: 0.4em; }\n",
    "ul.chart-notes { font-size: 0.95rem; margin: 0.3rem 0 0.2rem; padding-left: 1.2rem; max-width: 90ch; }\n",
    "ul.chart-notes li { margin: 0.15rem 0; }\n",
);

impl Chart {
    /// The chart as a page shows it: its legend, its drawing (both sizes, each in a
    /// `<div class="wide">` / `<div class="narrow">` that [`CHART_CSS`] switches), then its
    /// notes. `buttons`: series in the legend are buttons a script makes toggles
    /// (`charts.js` on the dashboard); without a script they are plain labels either way.
    pub fn drawing_html(&self, buttons: bool) -> String {
        let mut out = LegendItem::list_html(&self.legend, buttons);
        if self.svg_narrow.is_empty() {
            out.push_str(self.svg.trim());
        } else {
            out.push_str(&format!(
                "<div class=\"wide\">{}</div><div class=\"narrow\">{}</div>",
                self.svg.trim(),
                self.svg_narrow.trim()
            ));
        }
        if !self.notes.is_empty() {
            out.push_str("<ul class=\"chart-notes\">");
            for note in &self.notes {
                out.push_str(&format!("<li>{}</li>", format::escape_html(note)));
            }
            out.push_str("</ul>");
        }
        out
    }
}

/// An entry of a chart's legend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegendItem {
    /// What it names: `pool`, `p99`, `least-squares fit`.
    pub text: String,
    /// Its colour as CSS writes it (`#d55e00`); for a series, the colour of every mark of
    /// that series in the SVG, so a script can find them.
    pub color: String,
    /// What it shows before its text.
    pub kind: LegendKind,
}

/// What a legend entry shows before its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegendKind {
    /// A series (an engine, a peer, a run): a line with a round marker, or a square one for
    /// a peer. Pages make these buttons that hide or show it.
    Series {
        /// A peer: square marker.
        peer: bool,
    },
    /// A solid grey line: what solid lines mean.
    Solid,
    /// A dashed grey line: what dashed lines mean.
    Dashed,
    /// A block of its colour (a bar).
    Block,
    /// Blocks of these colours side by side (bars coloured by engine).
    Blocks(Vec<String>),
    /// Text only; the text carries its symbol (`○↑`).
    Text,
}

impl LegendItem {
    /// The legend as HTML, for a page without the dashboard's stylesheet too: series as
    /// `<button>`s (`aria-pressed`, `data-color`) that `charts.js` turns into toggles, the
    /// rest as spans. Every text escaped.
    pub fn list_html(items: &[LegendItem], buttons: bool) -> String {
        if items.is_empty() {
            return String::new();
        }
        let e = format::escape_html;
        let mut out = String::from("<ul class=\"chart-legend\">");
        for item in items {
            let swatch = |class: &str, color: &str| {
                format!(
                    "<span class=\"key {class}\" style=\"--c: {}\" aria-hidden=\"true\"></span>",
                    e(color)
                )
            };
            let body = match &item.kind {
                LegendKind::Series { peer } if !buttons => format!(
                    "{}{}",
                    swatch(if *peer { "series peer" } else { "series" }, &item.color),
                    e(&item.text)
                ),
                LegendKind::Series { peer } => format!(
                    "<button type=\"button\" class=\"series\" aria-pressed=\"true\" \
                     data-color=\"{}\">{}{}</button>",
                    e(&item.color),
                    swatch(if *peer { "series peer" } else { "series" }, &item.color),
                    e(&item.text)
                ),
                LegendKind::Solid => format!("{}{}", swatch("solid", &item.color), e(&item.text)),
                LegendKind::Dashed => {
                    format!("{}{}", swatch("dashed", &item.color), e(&item.text))
                }
                LegendKind::Block => format!("{}{}", swatch("block", &item.color), e(&item.text)),
                LegendKind::Blocks(colors) => format!(
                    "{}{}",
                    colors
                        .iter()
                        .map(|c| swatch("block small", c))
                        .collect::<String>(),
                    e(&item.text)
                ),
                LegendKind::Text => e(&item.text),
            };
            out.push_str(&format!("<li>{body}</li>"));
        }
        out.push_str("</ul>");
        out
    }

    /// The legend in one line of text, for Markdown: `threads, pool; solid: p99`.
    pub fn text_line(items: &[LegendItem]) -> String {
        items
            .iter()
            .map(|item| match &item.kind {
                LegendKind::Solid => format!("solid: {}", item.text),
                LegendKind::Dashed => format!("dashed: {}", item.text),
                _ => item.text.clone(),
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

impl Chart {
    /// An empty state: a chart that says why it has nothing to draw (`message`) and the
    /// command that gets data (`hint`); `table` is the (possibly empty) data it has.
    pub fn message(
        id: String,
        title: String,
        message: &str,
        hint: &str,
        table: DataTable,
    ) -> Chart {
        Chart {
            svg: render::message_svg(&title, message, hint),
            svg_narrow: String::new(),
            legend: Vec::new(),
            notes: Vec::new(),
            id,
            title,
            table,
            empty: true,
        }
    }

    /// A chart that was drawn (not an empty state), one drawing for every width.
    pub fn drawn(id: String, title: String, svg: String, table: DataTable) -> Chart {
        Chart {
            id,
            title,
            svg,
            svg_narrow: String::new(),
            legend: Vec::new(),
            notes: Vec::new(),
            table,
            empty: false,
        }
    }
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
        let cell = |text: &str| format::escape_markdown(text);
        let mut out = format!("{}\n\n", cell(&self.caption));
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
            out.push_str(&format!("\n{}\n", cell(note)));
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
    /// Engine CPU time per valid answer, in microseconds: the figure that stays fair when
    /// the load generator, not the engine, limits the throughput.
    CostPerRequest,
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
            Metric::CostPerRequest => "engine CPU per request",
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
            Metric::CostPerRequest => "engine CPU per request (µs)",
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
            Metric::CostPerRequest => step.estimates.engine_us_per_request.unwrap_or(f64::NAN),
        }
    }

    /// Whether the step's figure is only a lower bound: a latency percentile that requests
    /// still unanswered when the step ended reach (`Latency::is_lower_bound`).
    pub fn is_lower_bound(self, step: &StepResult) -> bool {
        let l = &step.load.latency;
        match self {
            Metric::LatencyP99 => l.is_lower_bound(0.99),
            Metric::LatencyP50 => l.is_lower_bound(0.5),
            _ => false,
        }
    }

    /// How the step's point is marked: as a lower bound when it is one, else by its flags.
    pub(crate) fn mark(self, step: &StepResult) -> Mark {
        if self.is_lower_bound(step) {
            Mark::AtLeast
        } else {
            mark(step, self.figure() == Figure::OfAnswers)
        }
    }

    /// What the figure is, for gaps and notes: one of answers (a latency, a cost per answer)
    /// or a rate of them (throughput), which a step with no answer does not have and draws
    /// as a gap, never as 0; or a figure every step has (cores, memory, threads).
    pub(crate) fn figure(self) -> Figure {
        match self {
            Metric::LatencyP99 | Metric::LatencyP50 | Metric::CostPerRequest => Figure::OfAnswers,
            Metric::Throughput => Figure::Rate,
            _ => Figure::Other,
        }
    }

    /// The table cell of the step's figure, with its 95 % interval: `≥ 2900` when it is a
    /// lower bound, `—` when the chart draws a gap there (no figure, never a 0).
    fn cell_of(self, step: &StepResult) -> String {
        if gap(step, self.figure()).is_some() || !self.value(step).is_finite() {
            return "—".into();
        }
        format::at_least(
            format::with_interval(self.value(step), self.interval(step), |v| self.cell(v)),
            self.is_lower_bound(step),
        )
    }

    /// The figure's 95 % interval `[low, high]` in the unit of [`Metric::axis`], where the
    /// step keeps one (throughput, p99, CPU per request).
    pub fn interval(self, step: &StepResult) -> Option<[f64; 2]> {
        let e = &step.estimates;
        match self {
            Metric::Throughput => e.throughput_ci,
            Metric::LatencyP99 => e.p99_ci_us.map(|[lo, hi]| [lo / 1000.0, hi / 1000.0]),
            Metric::CostPerRequest => e.engine_us_per_request_ci,
            _ => None,
        }
        .filter(|[lo, hi]| lo.is_finite() && hi.is_finite() && lo <= hi)
    }

    /// The rule of the figure's value axis, the same on every page that draws it
    /// (`steps`: those drawn, for their mode and the machine's cores). Latency: log from
    /// [`LATENCY_FLOOR_MS`], or [`DOWNLOAD_FLOOR_MS`] for a whole slow download. Cores:
    /// linear from 0 to the cores the engine could use (1.0 must look like 1.0, and 2 of 2
    /// cores like a full machine). The rest: by the values, log when they span two decades.
    pub(crate) fn y_rule(self, steps: &[&StepResult]) -> YRule {
        match self {
            Metric::LatencyP99 | Metric::LatencyP50
                if steps.iter().any(|s| s.mode == Mode::SlowReaders) =>
            {
                YRule::LogFrom(DOWNLOAD_FLOOR_MS)
            }
            Metric::LatencyP99 | Metric::LatencyP50 => YRule::LogFrom(LATENCY_FLOOR_MS),
            Metric::EngineCores | Metric::ClientCores => YRule::ZeroTo(machine_cores(steps)),
            _ => YRule::Data { log: true },
        }
    }

    /// Table cell for a value.
    fn cell(self, value: f64) -> String {
        match self {
            Metric::Throughput | Metric::Threads => format!("{value:.0}"),
            Metric::LatencyP99 | Metric::LatencyP50 => sig3(value),
            Metric::EngineCores | Metric::ClientCores | Metric::PeakPss => sig3(value),
            Metric::CostPerRequest => sig3(value),
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
            Metric::CostPerRequest => "cost",
        }
    }
}

/// The charts that fit a workload's mode, for the steps of that workload in `steps` (other
/// workloads' steps are ignored):
///
/// - idle: memory against open connections, bytes per idle connection;
/// - closed loop: throughput, latency, cost per request, cores;
/// - open loop: latency (corrected and uncorrected), throughput achieved against offered, cost
///   per request, cores;
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
            cost_per_request(steps, name),
            cores(steps, name),
        ],
        Mode::Open => vec![
            latency(steps, name),
            throughput(steps, name),
            cost_per_request(steps, name),
            cores(steps, name),
        ],
        Mode::SlowReaders | Mode::SlowSenders => vec![
            latency(steps, name),
            memory(steps, name),
            threads(steps, name),
        ],
    }
}

/// A chart with nothing to show yet: `hint` is the command to run to get data.
pub fn empty_state(id: &str, title: &str, hint: &str) -> Chart {
    let table = DataTable {
        caption: format!("{title}: no data yet."),
        ..DataTable::default()
    };
    Chart::message(id.into(), title.into(), "No data yet.", hint, table)
}

// ---- helpers ------------------------------------------------------------------------------

/// The cores an engine of these steps could use, the top of every cores axis: the most
/// CPUs an engine stated (`EngineFacts::cpus`), or, for steps stored before engines stated
/// it, the whole cores above the largest figure; at least 1.
fn machine_cores(steps: &[&StepResult]) -> f64 {
    let stated = steps
        .iter()
        .filter_map(|s| s.facts.as_ref().and_then(|f| f.cpus))
        .max();
    let used = steps
        .iter()
        .map(|s| s.derived.engine_cores.max(s.derived.client_cores))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    stated.map_or(used.ceil(), |c| c as f64).max(1.0)
}
