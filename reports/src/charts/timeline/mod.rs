//! The timelines: concurrency and parallelism, seen. Two views of one traced window, bars
//! coloured by phase:
//!
//! - **threads** ([`timeline`]): one lane per thread (or, for the prefork pool, per worker
//!   process) — who ran the work. This shows parallelism.
//! - **connections** ([`connection_timeline`]): one lane per connection, from the server's
//!   accept of it to its last span — what each client went through. This shows concurrency:
//!   db-wait's waits, parked side by side on the selector's one thread, are so many lanes of
//!   overlapping wait bars.
//!
//! How the models look:
//!
//! - **selector**: one thread lane with many connections' short read, compute and write
//!   spans one after another, and as many connection lanes as connections — concurrency on
//!   one thread; with `--offload`, compute spans move to the pool's lanes.
//! - **threads**: one lane per connection thread, bars side by side in time — parallelism
//!   when there are cores for it, the kernel interleaving them when there are not.
//! - **pool**: one lane per worker; a worker busy with one client (read, wait, compute,
//!   write) takes no other, and idle workers sit in accept. The connections it has not
//!   accepted have no span at all: the connection view counts them (the load generator's
//!   open connections less those seen) in a block of their own.
//! - **coroutines**: lanes are tokio's worker threads; a task's spans land on whichever
//!   worker polled it, and its connection lane gathers them.
//!
//! Spans where the lane is blocked or parked rather than on a CPU — accept and wait — are
//! drawn as a thin strip at the bottom of the lane; read, compute and write fill it. (A
//! blocking read includes the time blocked in `read()`.)
//!
//! [`timelines`] draws several traces for one page: both views of each, and every engine of
//! a workload on one time axis, the shortest of their windows, so that a millimetre is the
//! same number of milliseconds on each.
//!
//! Drawn by hand as SVG rectangles (plotters would add nothing for bars on lanes), with the
//! chart module's conventions: a `viewBox`, `width="100%"`, DejaVu Sans, no external
//! references, and a [`DataTable`] of what is drawn, one row per lane.
//!
//! **Sizes.** Like every chart, a timeline is drawn twice, 720 px wide and 340 px for phones,
//! each shown at most at its drawn width, with every text at least 12 px (title, lane
//! labels, ticks, the block of unseen connections): 12 px on screen at 1400 px and at 400
//! px. A lane is as tall as its label (16 px, or 12 px under its label when labels are long
//! and the drawing narrow). So that a drawing stays about a screen tall, it draws the first
//! [`MAX_LANES`] lanes (24; [`MAX_LANES_NARROW`], 12, on a phone) and a row "N more" for the
//! rest: 60 legible lanes would be 1200 px, and the pattern — waits side by side, workers
//! busy in parallel, one thread interleaving — shows in the first dozen. The table lists
//! every lane. The legend is the page's, beside the drawing ([`super::Chart::legend`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use wb_model::trace::{ConnectionLane, Trace, TraceSpan, connections};

use super::{Chart, DataTable};

use crate::format::escape_html;

use super::render::{NARROW, WIDE};
use super::{LegendItem, LegendKind};

mod frame;
use frame::*;

/// Width of the wide drawing of a timeline, in SVG pixels: the other charts' ([`WIDE`]),
/// shown at most at that width, so its 12 px text is 12 px on screen.
const WIDTH: u32 = WIDE.width;

/// Most lanes the wide drawing draws; a row "N more" says how many it leaves out, and the
/// table lists every lane.
pub const MAX_LANES: usize = 24;

/// Most lanes the narrow (phone) drawing draws.
pub const MAX_LANES_NARROW: usize = 12;

/// The phases, their colours, and whether they fill the lane.
const PHASES: [(&str, &str, bool); 5] = [
    ("accept", "#9e9e9e", false),
    ("read", "#4c78a8", true),
    ("wait", "#f2a93b", false),
    ("compute", "#e45756", true),
    ("write", "#54a24b", true),
];

/// Every text of a timeline is at least this big, in px of its drawing, which is shown at
/// most at its drawn size ([`super::MIN_FONT_PX`]).
const TEXT: u32 = 12;
/// The title's size.
const TITLE: u32 = 15;
/// A lane, tall enough for its 12 px label beside it.
const LANE_HEIGHT: u32 = 16;
const LANE_GAP: u32 = 4;
/// A lane when its label is written above it (narrow drawing, long labels).
const LANE_HEIGHT_UNDER_LABEL: u32 = 12;
/// Room for a label above its lane.
const LABEL_ROW: u32 = 15;
const RIGHT: u32 = 12;
const FONT: &str = "DejaVu Sans, sans-serif";
const MUTED: &str = "#555";
/// The block of connections the load generator held that have no span in the window.
const UNSEEN_FILL: &str = "#fbe3c4";
const UNSEEN_STROKE: &str = "#b26b00";

/// The time axis a chart is drawn on.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Its length, in nanoseconds from the window's start.
    pub ns: u64,
    /// The engines that share it (empty: the trace's own window).
    pub shared_with: Vec<String>,
    /// The engine whose window, the shortest, set its length.
    pub set_by: String,
}

impl Axis {
    /// The trace's own window.
    pub fn own(trace: &Trace) -> Axis {
        Axis {
            ns: window_ns(trace),
            shared_with: Vec::new(),
            set_by: trace.engine.clone(),
        }
    }
}

/// How long a trace's window is: its last span's end.
pub fn window_ns(trace: &Trace) -> u64 {
    trace.spans.iter().map(|s| s.end_ns).max().unwrap_or(0)
}

/// The timelines of several traces for one page: for each trace, its threads and then its
/// connections, every engine of a workload on one time axis (the shortest of their windows;
/// the longer ones are drawn to it and say so).
pub fn timelines(traces: &[Trace]) -> Vec<Chart> {
    let mut axes: BTreeMap<&str, Axis> = BTreeMap::new();
    for trace in traces.iter().filter(|t| window_ns(t) > 0) {
        let axis = axes.entry(&trace.workload).or_insert_with(|| Axis {
            ns: u64::MAX,
            shared_with: Vec::new(),
            set_by: String::new(),
        });
        axis.shared_with.push(trace.engine.clone());
        if window_ns(trace) < axis.ns {
            axis.ns = window_ns(trace);
            axis.set_by = trace.engine.clone();
        }
    }
    traces
        .iter()
        .flat_map(|trace| {
            let axis = axes
                .get(trace.workload.as_str())
                .filter(|a| a.shared_with.len() > 1)
                .cloned()
                .unwrap_or_else(|| Axis::own(trace));
            [
                timeline_on(trace, &axis),
                connection_timeline_on(trace, &axis),
            ]
        })
        .collect()
}

/// The threads of one traced step on its own time axis: lanes are threads or processes,
/// bars are spans.
pub fn timeline(trace: &Trace) -> Chart {
    timeline_on(trace, &Axis::own(trace))
}

/// The connections of one traced step on its own time axis: lanes are connections.
pub fn connection_timeline(trace: &Trace) -> Chart {
    connection_timeline_on(trace, &Axis::own(trace))
}

/// The spans drawn on `axis`: those that begin on it, cut at its end.
fn on_axis(trace: &Trace, axis: &Axis) -> Vec<TraceSpan> {
    trace
        .spans
        .iter()
        .filter(|s| s.start_ns <= axis.ns)
        .map(|s| TraceSpan {
            end_ns: s.end_ns.min(axis.ns),
            ..s.clone()
        })
        .collect()
}

/// A view's id (`WORKLOAD-ENGINE-KIND`), title (`WHAT: ENGINE on WORKLOAD at level N`) and
/// spans on `axis`; or, when the trace recorded none, the chart that says so.
fn view(
    trace: &Trace,
    axis: &Axis,
    kind: &str,
    what: &str,
) -> Result<(String, String, Vec<TraceSpan>), Box<Chart>> {
    let id = format!("{}-{}-{kind}", trace.workload, trace.engine);
    let title = format!(
        "{what}: {} on {} at level {}",
        trace.engine, trace.workload, trace.level
    );
    if trace.spans.is_empty() || axis.ns == 0 {
        return Err(Box::new(super::empty_state(
            &id,
            &title,
            "the traced window recorded no spans; run again with --trace",
        )));
    }
    let spans = on_axis(trace, axis);
    Ok((id, title, spans))
}

/// The threads view on `axis`.
pub fn timeline_on(trace: &Trace, axis: &Axis) -> Chart {
    let (id, title, spans) = match view(trace, axis, "timeline", "Threads") {
        Ok(view) => view,
        Err(empty) => return *empty,
    };
    let lanes = lanes(&spans);
    let pids: BTreeSet<u32> = lanes.keys().map(|k| k.pid).collect();
    let several = pids.len() > 1;
    let drawn: Vec<LaneDrawing<'_>> = lanes
        .iter()
        .map(|(key, lane)| LaneDrawing {
            label: lane_label(key, &lane.thread, several),
            life: None,
            spans: lane.spans.clone(),
        })
        .collect();
    let subtitle = if several {
        "one lane per worker process (and its threads): who ran the work"
    } else {
        "one lane per thread: who ran the work"
    };
    let drawings = draw_both(&title, subtitle, axis, &drawn, None, false);
    let mut table = table(trace, &lanes, several);
    table.notes = window_notes(trace, axis, spans.len());
    if let Some(note) = lanes_left_out(lanes.len(), "lanes") {
        table.notes.push(note);
    }
    finish(id, title, drawings, table)
}

/// The note under a table whose chart leaves lanes out, if it does.
fn lanes_left_out(lanes: usize, what: &str) -> Option<String> {
    (lanes > MAX_LANES_NARROW).then(|| {
        let wide = if lanes > MAX_LANES {
            format!("the first {MAX_LANES} of {lanes} {what}")
        } else {
            format!("all {lanes} {what}")
        };
        format!(
            "The chart draws {wide} ({MAX_LANES_NARROW} on a narrow screen), and counts the \
             others in a row \"N more\"; the table lists them all."
        )
    })
}

/// A drawn timeline as a chart.
fn finish(id: String, title: String, drawings: Drawings, table: DataTable) -> Chart {
    Chart {
        svg_narrow: drawings.svg_narrow,
        legend: drawings.legend,
        ..Chart::drawn(id, title, drawings.svg, table)
    }
}

/// The connections view on `axis`: one lane per connection, from the server's accept to its
/// last span, and a block for the load generator's connections the server shows nothing of.
pub fn connection_timeline_on(trace: &Trace, axis: &Axis) -> Chart {
    let (id, title, spans) = match view(trace, axis, "connections", "Connections") {
        Ok(view) => view,
        Err(empty) => return *empty,
    };
    let conns = connections(&spans);
    let several = conns.iter().map(|c| c.pid).collect::<BTreeSet<_>>().len() > 1;
    let labels = connection_labels(&conns, several);
    let unseen = trace
        .client_connections
        .map(|held| held.saturating_sub(conns.len() as u64));
    let drawn: Vec<LaneDrawing<'_>> = conns
        .iter()
        .zip(&labels)
        .map(|(conn, label)| LaneDrawing {
            label: label.clone(),
            life: Some((conn.begins_ns(), conn.ends_ns(), conn.accepted_ns)),
            spans: conn.spans.clone(),
        })
        .collect();
    let drawings = draw_both(
        &title,
        "one lane per connection, from its accept (tick) to its last span; connect → accept: not recorded",
        axis,
        &drawn,
        unseen
            .filter(|&n| n > 0)
            .map(|n| (n, trace.client_connections.unwrap_or(n))),
        true,
    );
    finish(
        id,
        title,
        drawings,
        connection_table(trace, axis, &conns, &labels, unseen, spans.len()),
    )
}

/// What a lane is drawn with: its label, its life (connections) and its spans.
struct LaneDrawing<'a> {
    label: String,
    /// A connection's life on the lane: from `begins` to `ends`, accepted at.
    life: Option<(u64, u64, Option<u64>)>,
    spans: Vec<&'a TraceSpan>,
}

/// A timeline drawn at both sizes, its legend and the lanes each drawing leaves out.
struct Drawings {
    svg: String,
    svg_narrow: String,
    legend: Vec<LegendItem>,
}

/// Draws `lanes` at [`WIDE`] and [`NARROW`]: the first [`MAX_LANES`] (or
/// [`MAX_LANES_NARROW`]) lanes, a row counting the others, and `unseen` (with the
/// connections `held`) as a block under them.
fn draw_both(
    title: &str,
    subtitle: &str,
    axis: &Axis,
    lanes: &[LaneDrawing<'_>],
    unseen: Option<(u64, u64)>,
    connections: bool,
) -> Drawings {
    let draw = |width: u32, max: usize| {
        let shown = lanes.len().min(max);
        let labels: Vec<&str> = lanes[..shown].iter().map(|l| l.label.as_str()).collect();
        let mut frame = Frame::new(
            width,
            title,
            subtitle,
            axis,
            &labels,
            lanes.len() - shown,
            unseen,
        );
        for (row, lane) in lanes.iter().take(shown).enumerate() {
            frame.lane(row, &lane.label, lane.life);
            for span in &lane.spans {
                frame.bar(row, span);
            }
        }
        frame.finish()
    };
    let mut legend: Vec<LegendItem> = PHASES
        .iter()
        .map(|(phase, color, fills)| LegendItem {
            text: if *fills {
                (*phase).to_string()
            } else {
                format!("{phase} (thin)")
            },
            color: (*color).to_string(),
            kind: LegendKind::Block,
        })
        .collect();
    legend.push(LegendItem {
        text: "thin bars: blocked or parked, not on a CPU".into(),
        color: MUTED.into(),
        kind: LegendKind::Text,
    });
    if connections {
        legend.push(LegendItem {
            text: "| tick: the server accepted the connection".into(),
            color: "#222222".into(),
            kind: LegendKind::Text,
        });
    }
    if unseen.is_some() {
        legend.push(LegendItem {
            text: "held by the client, no span in the window".into(),
            color: UNSEEN_FILL.into(),
            kind: LegendKind::Block,
        });
    }
    Drawings {
        svg: draw(WIDTH, MAX_LANES),
        svg_narrow: draw(NARROW.width, MAX_LANES_NARROW),
        legend,
    }
}

/// One lane: a thread of a process.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LaneKey {
    pid: u32,
    tid: u32,
}

/// A lane's spans and its thread's name.
#[derive(Debug, Default)]
struct Lane<'a> {
    thread: String,
    spans: Vec<&'a TraceSpan>,
}

/// The spans by lane, lanes ordered by process, then thread id (a process's main thread,
/// whose id is the pid, first).
fn lanes(spans: &[TraceSpan]) -> BTreeMap<LaneKey, Lane<'_>> {
    let mut lanes: BTreeMap<LaneKey, Lane<'_>> = BTreeMap::new();
    for span in spans {
        let lane = lanes
            .entry(LaneKey {
                pid: span.pid,
                tid: span.tid,
            })
            .or_default();
        if lane.thread.is_empty() {
            lane.thread = span.thread.clone();
        }
        lane.spans.push(span);
    }
    lanes
}

/// `main 4242`, `coroutines 4250`, `thread 4251` (an unnamed connection thread), with the
/// process when the engine has several (`pid 4243 main`: a pool worker).
fn lane_label(key: &LaneKey, thread: &str, several_processes: bool) -> String {
    let name = if thread == "unnamed" {
        "thread"
    } else {
        thread
    };
    if several_processes {
        if key.pid == key.tid {
            format!("process {}", key.pid)
        } else {
            format!("process {} {name} {}", key.pid, key.tid)
        }
    } else {
        format!("{name} {}", key.tid)
    }
}

/// `fd 12`, `process 4243 fd 4` when the engine has several processes, and ` (2nd)` for a
/// descriptor's second connection in the window.
fn connection_labels(conns: &[ConnectionLane<'_>], several_processes: bool) -> Vec<String> {
    let mut seen: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    conns
        .iter()
        .map(|c| {
            let nth = seen.entry((c.pid, c.task)).or_default();
            *nth += 1;
            let base = if several_processes {
                format!("process {} fd {}", c.pid, c.task)
            } else {
                format!("fd {}", c.task)
            };
            match *nth {
                1 => base,
                2 => format!("{base} (2nd)"),
                3 => format!("{base} (3rd)"),
                n => format!("{base} ({n}th)"),
            }
        })
        .collect()
}

/// Milliseconds spent in `phase` by `spans`.
fn phase_ms(spans: &[&TraceSpan], phase: &str) -> String {
    let ns: u64 = spans
        .iter()
        .filter(|s| s.phase == phase)
        .map(|s| s.end_ns - s.start_ns)
        .sum();
    format_ms(ns as f64 / 1e6)
}

fn table(trace: &Trace, lanes: &BTreeMap<LaneKey, Lane<'_>>, several_processes: bool) -> DataTable {
    let mut columns = vec!["lane".to_string(), "spans".to_string()];
    columns.extend(PHASES.iter().map(|(p, ..)| format!("{p} (ms)")));
    columns.push("connections".to_string());
    let rows = lanes
        .iter()
        .map(|(key, lane)| {
            let mut row = vec![
                lane_label(key, &lane.thread, several_processes),
                lane.spans.len().to_string(),
            ];
            for (phase, ..) in PHASES {
                row.push(phase_ms(&lane.spans, phase));
            }
            let tasks: BTreeSet<u64> = lane
                .spans
                .iter()
                .map(|s| s.task)
                .filter(|&t| t != 0)
                .collect();
            row.push(tasks.len().to_string());
            row
        })
        .collect();
    DataTable {
        caption: format!(
            "Time each lane (thread or process) of {} spent per phase in the window, on {} at level {}.",
            trace.engine, trace.workload, trace.level
        ),
        columns,
        rows,
        notes: Vec::new(),
    }
}

fn connection_table(
    trace: &Trace,
    axis: &Axis,
    conns: &[ConnectionLane<'_>],
    labels: &[String],
    unseen: Option<u64>,
    drawn_spans: usize,
) -> DataTable {
    let mut columns = vec![
        "connection".to_string(),
        "accepted at (ms)".to_string(),
        "last span ends (ms)".to_string(),
        "spans".to_string(),
    ];
    columns.extend(PHASES.iter().skip(1).map(|(p, ..)| format!("{p} (ms)")));
    columns.push("threads".to_string());
    let rows = conns
        .iter()
        .zip(labels)
        .map(|(conn, label)| {
            let mut row = vec![
                label.clone(),
                conn.accepted_ns.map_or_else(
                    || "before the window".to_string(),
                    |ns| format_ms(ns as f64 / 1e6),
                ),
                format_ms(conn.ends_ns() as f64 / 1e6),
                conn.spans.len().to_string(),
            ];
            for (phase, ..) in PHASES.iter().skip(1) {
                row.push(phase_ms(&conn.spans, phase));
            }
            let threads: BTreeSet<(u32, u32)> = conn.spans.iter().map(|s| (s.pid, s.tid)).collect();
            row.push(threads.len().to_string());
            row
        })
        .collect();
    let mut notes = window_notes(trace, axis, drawn_spans);
    notes.push(
        "A connection's lane begins when the server accepted it. When the client connected is \
         not known here: the kernel completes the handshake and queues the connection in the \
         listen backlog before any accept(), and Linux records no time for that (no accept \
         timestamp; SO_TIMESTAMP stamps received data, not connections), so the time a \
         connection waited in the backlog is not drawn."
            .to_string(),
    );
    match (unseen, trace.client_connections) {
        (Some(n), Some(held)) if n > 0 => notes.push(format!(
            "The load generator held {held} connections when the traced load ended; {} show \
             spans in this window, so {n} did not: waiting in the listen backlog (the server \
             cannot see them there), or accepted and not yet served.",
            conns.len()
        )),
        (Some(_), Some(held)) => notes.push(format!(
            "The load generator held {held} connections when the traced load ended; every one \
             can have shown spans here ({} connections in the window).",
            conns.len()
        )),
        _ => notes.push(
            "How many connections the load generator held was not recorded with this trace \
             (traces stored before it was kept): connections the server never shows cannot be \
             counted."
                .to_string(),
        ),
    }
    if let Some(note) = lanes_left_out(conns.len(), "connections, by accept") {
        notes.push(note);
    }
    DataTable {
        caption: format!(
            "Each connection {} served in the window, on {} at level {}: when it was accepted \
             and the time its spans took per phase.",
            trace.engine, trace.workload, trace.level
        ),
        columns,
        rows,
        notes,
    }
}

/// What the window is, and the time axis it is drawn on.
fn window_notes(trace: &Trace, axis: &Axis, drawn_spans: usize) -> Vec<String> {
    let own = window_ns(trace);
    let mut notes = vec![format!(
        "{drawn_spans} spans drawn of {} recorded in a {} ms traced load on a fresh engine \
         process; the window is {} ms from its middle.",
        trace.recorded,
        trace.load_ms,
        format_ms(own as f64 / 1e6)
    )];
    if axis.shared_with.len() > 1 {
        let others = axis.shared_with.join(", ");
        if own > axis.ns {
            notes.push(format!(
                "Drawn: the window's first {} ms, the shortest window of the engines traced on \
                 {} ({}'s), so that {others} share one time axis.",
                format_ms(axis.ns as f64 / 1e6),
                trace.workload,
                axis.set_by
            ));
        } else {
            notes.push(format!(
                "The whole window, on the time axis {others} share: this is the shortest \
                 of their windows."
            ));
        }
    }
    notes
}

/// Milliseconds with three significant figures.
fn format_ms(ms: f64) -> String {
    if ms == 0.0 {
        "0".into()
    } else {
        crate::format::sig3(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(phase: &str, start: u64, end: u64, pid: u32, tid: u32) -> TraceSpan {
        TraceSpan {
            phase: phase.into(),
            start_ns: start,
            end_ns: end,
            pid,
            tid,
            thread: if pid == tid { "main" } else { "unnamed" }.into(),
            task: 7,
        }
    }

    fn trace(spans: Vec<TraceSpan>) -> Trace {
        Trace {
            engine: "threads".into(),
            workload: "cpu".into(),
            level: 4,
            load_ms: 1200,
            recorded: spans.len(),
            spans,
            client_connections: None,
        }
    }

    #[test]
    fn one_lane_per_thread_with_a_bar_per_span_and_a_row_per_lane() {
        let chart = timeline(&trace(vec![
            span("accept", 0, 1_000_000, 10, 10),
            span("read", 1_000_000, 1_100_000, 10, 11),
            span("compute", 1_100_000, 2_000_000, 10, 11),
            span("compute", 1_200_000, 2_100_000, 10, 12),
        ]));
        assert!(!chart.empty);
        assert_eq!(chart.table.rows.len(), 3);
        assert_eq!(chart.table.rows[0][0], "main 10");
        assert_eq!(chart.table.rows[1][0], "thread 11");
        assert_eq!(chart.table.rows[1][1], "2");
        let doc = roxmltree::Document::parse(&chart.svg).unwrap();
        let bars = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#e45756"))
            .count();
        // Two compute bars (the legend is the page's, beside the drawing).
        assert_eq!(bars, 2);
        assert!(chart.legend.iter().any(|l| l.text == "compute"));
    }

    #[test]
    fn pool_workers_are_lanes_named_by_process() {
        let chart = timeline(&trace(vec![
            span("read", 0, 10, 20, 20),
            span("read", 5, 15, 21, 21),
        ]));
        assert_eq!(chart.table.rows[0][0], "process 20");
        assert_eq!(chart.table.rows[1][0], "process 21");
    }

    #[test]
    fn no_spans_is_an_empty_state() {
        assert!(timeline(&trace(Vec::new())).empty);
        assert!(connection_timeline(&trace(Vec::new())).empty);
    }

    fn fills(chart: &Chart, color: &str) -> usize {
        let doc = roxmltree::Document::parse(&chart.svg).unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some(color))
            .count()
    }

    /// db-wait on the selector: ten connections read, wait 10 ms each, overlapping, and
    /// write, all on the loop's one thread.
    fn selector_db_wait() -> Trace {
        let mut spans = Vec::new();
        for c in 0..10u64 {
            let at = c * 100_000;
            let fd = 10 + c;
            for (phase, start, end) in [
                ("accept", at, at + 10_000),
                ("read", at + 20_000, at + 30_000),
                ("wait", at + 30_000, at + 10_030_000),
                ("compute", at + 10_030_000, at + 10_040_000),
                ("write", at + 10_040_000, at + 10_050_000),
            ] {
                let mut s = span(phase, start, end, 10, 10);
                s.task = fd;
                spans.push(s);
            }
        }
        spans.sort_by_key(|s| s.start_ns);
        Trace {
            engine: "selector".into(),
            workload: "db-wait".into(),
            level: 10,
            load_ms: 1200,
            recorded: spans.len(),
            spans,
            client_connections: Some(10),
        }
    }

    #[test]
    fn ten_overlapping_waits_on_one_thread_are_ten_connection_lanes() {
        let trace = selector_db_wait();
        let threads = timeline(&trace);
        assert_eq!(threads.table.rows.len(), 1, "one thread runs them all");
        let conns = connection_timeline(&trace);
        assert_eq!(conns.table.rows.len(), 10);
        assert_eq!(conns.table.rows[0][0], "fd 10");
        assert_eq!(conns.table.rows[0][1], "0.01");
        // Ten wait bars, on ten lanes.
        assert_eq!(fills(&conns, "#f2a93b"), 10);
        // Each lane waited its 10 ms, at the same time as the others.
        assert!(
            conns.table.rows.iter().all(|r| r[5] == "10.0"),
            "{:?}",
            conns.table.rows
        );
        // Every client connection was seen: no block of unseen ones.
        assert_eq!(fills(&conns, UNSEEN_FILL), 0, "no block");
        assert!(conns.svg.contains("connect → accept: not recorded"));
    }

    #[test]
    fn connections_the_server_never_shows_are_counted_in_a_block() {
        // A pool of 3 workers, each holding one of 100 connections.
        let spans: Vec<TraceSpan> = (0..3u32)
            .flat_map(|w| {
                let mut read = span("read", 0, 100, 20 + w, 20 + w);
                read.task = 4;
                let mut wait = span("wait", 100, 10_000_100, 20 + w, 20 + w);
                wait.task = 4;
                [read, wait]
            })
            .collect();
        let mut trace = trace(spans);
        trace.client_connections = Some(100);
        let chart = connection_timeline(&trace);
        assert_eq!(chart.table.rows.len(), 3);
        assert_eq!(chart.table.rows[0][0], "process 20 fd 4");
        assert!(chart.svg.contains("97 more"), "{}", chart.svg);
        assert!(chart.svg.contains("97 of the 100 connections"));
        assert!(
            chart
                .table
                .notes
                .iter()
                .any(|n| n.contains("so 97 did not"))
        );
        // A trace stored without the count says so instead of guessing.
        trace.client_connections = None;
        let chart = connection_timeline(&trace);
        assert!(!chart.svg.contains("more</text>"));
        assert!(
            chart
                .table
                .notes
                .iter()
                .any(|n| n.contains("was not recorded"))
        );
    }

    #[test]
    fn the_engines_of_a_workload_share_the_shortest_window_as_their_time_axis() {
        let short = selector_db_wait(); // about 10.95 ms
        let mut long = selector_db_wait();
        long.engine = "pool".into();
        for s in &mut long.spans {
            s.start_ns *= 10;
            s.end_ns *= 10;
        }
        let mut other = selector_db_wait();
        other.workload = "cpu".into();
        for s in &mut other.spans {
            s.end_ns *= 3;
            s.start_ns *= 3;
        }
        let charts = timelines(&[short.clone(), long, other]);
        assert_eq!(charts.len(), 6, "threads and connections of each");
        let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids[..2],
            ["db-wait-selector-timeline", "db-wait-selector-connections"]
        );
        let last_tick = |chart: &Chart| {
            let doc = roxmltree::Document::parse(&chart.svg).unwrap();
            let labels: Vec<String> = doc
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| n.text().map(str::to_string))
                .filter(|t| t.parse::<f64>().is_ok())
                .collect();
            labels.last().cloned().unwrap()
        };
        // Ticks every 2 ms up to 10 on both db-wait engines; the cpu one has its own axis.
        for chart in &charts[..4] {
            assert_eq!(last_tick(chart), "10", "{}", chart.id);
        }
        assert_eq!(last_tick(&charts[4]), "30");
        assert!(
            charts[2]
                .table
                .notes
                .iter()
                .any(|n| n.contains("first 10.9 ms") && n.contains("(selector's)")),
            "{:?}",
            charts[2].table.notes
        );
        // The pool's window is cut to the axis: no bar past it.
        let doc = roxmltree::Document::parse(&charts[2].svg).unwrap();
        let right = (WIDTH - RIGHT) as f64 + 0.05;
        assert!(!charts[2].svg_narrow.is_empty(), "drawn narrow too");
        for rect in doc.descendants().filter(|n| n.has_tag_name("rect")) {
            let x: f64 = rect.attribute("x").unwrap_or("0").parse().unwrap();
            let w: f64 = rect.attribute("width").unwrap().parse().unwrap_or(0.0);
            if rect.attribute("width") != Some("720") {
                assert!(x + w <= right, "{x} + {w} in {}", charts[2].svg);
            }
        }
    }

    /// Every text of both drawings is at least 12 px and inside the drawing, whose
    /// `max-width` is its drawn width: 12 px on screen, at 1400 px and on a phone.
    fn assert_legible(chart: &Chart) {
        for svg in [&chart.svg, &chart.svg_narrow] {
            let doc = roxmltree::Document::parse(svg).unwrap();
            let root = doc.root_element();
            let view: Vec<f64> = root
                .attribute("viewBox")
                .unwrap()
                .split(' ')
                .map(|v| v.parse().unwrap())
                .collect();
            let (width, height) = (view[2], view[3]);
            assert_eq!(
                root.attribute("style"),
                Some(format!("max-width: {width}px").as_str()),
                "shown at most at its drawn size"
            );
            for text in doc.descendants().filter(|n| n.has_tag_name("text")) {
                let x: f64 = text.attribute("x").unwrap().parse().unwrap();
                let y: f64 = text.attribute("y").unwrap().parse().unwrap();
                let size: f64 = text.attribute("font-size").unwrap().parse().unwrap();
                assert!(size >= super::super::MIN_FONT_PX, "{:?}", text.text());
                let width_px = text_px(text.text().unwrap_or(""), size as u32);
                let (left, right) = match text.attribute("text-anchor") {
                    Some("middle") => (x - width_px / 2.0, x + width_px / 2.0),
                    Some("end") => (x - width_px, x),
                    _ => (x, x + width_px),
                };
                assert!(
                    left >= 0.0 && right <= width && y <= height,
                    "{:?} at {x},{y} does not fit in {} ({width} wide)",
                    text.text(),
                    chart.id
                );
            }
        }
    }

    #[test]
    fn every_text_is_legible_at_both_sizes() {
        let db_wait = selector_db_wait();
        for chart in [timeline(&db_wait), connection_timeline(&db_wait)] {
            assert_legible(&chart);
            assert!(chart.legend.iter().any(|l| l.text.contains("not on a CPU")));
        }
        // Many lanes, long labels: a pool of 3 processes with 40 connections and 100 held.
        let spans: Vec<TraceSpan> = (0..40u32)
            .flat_map(|c| {
                let pid = 4240 + c % 3;
                let mut read = span(
                    "read",
                    u64::from(c) * 1000,
                    u64::from(c) * 1000 + 500,
                    pid,
                    pid,
                );
                read.task = u64::from(c) + 4;
                let mut wait = span("wait", u64::from(c) * 1000 + 500, 10_000_000, pid, pid);
                wait.task = u64::from(c) + 4;
                [read, wait]
            })
            .collect();
        let mut trace = trace(spans);
        trace.client_connections = Some(100);
        let conns = connection_timeline(&trace);
        assert_legible(&conns);
        assert_legible(&timeline(&trace));
        assert!(
            conns.svg.contains(">16 more</text>"),
            "40 - 24 lanes left out"
        );
        assert!(conns.svg_narrow.contains(">28 more</text>"), "40 - 12");
        assert!(conns.svg.contains(">60 more</text>"), "unseen");
        assert_eq!(conns.table.rows.len(), 40, "the table lists every one");
        assert!(
            conns
                .table
                .notes
                .iter()
                .any(|n| n.contains("the first 24 of 40 connections"))
        );
    }
}
