//! The timeline: concurrency and parallelism, seen. One lane per thread (or, for the prefork
//! pool, per worker process), one bar per span an engine recorded with `--trace`, coloured by
//! phase.
//!
//! How the models look:
//!
//! - **selector**: one lane (the loop) with many connections' short read, compute and write
//!   spans one after another — concurrency on one thread; with `--offload`, compute spans
//!   move to the pool's lanes.
//! - **threads**: one lane per connection thread, bars side by side in time — parallelism
//!   when there are cores for it, the kernel interleaving them when there are not.
//! - **pool**: one lane per worker; a worker busy with one client (read, wait, compute,
//!   write) takes no other, and idle workers sit in accept.
//! - **coroutines**: lanes are tokio's worker threads; a task's spans land on whichever
//!   worker polled it.
//!
//! Spans where the lane is blocked or parked rather than on a CPU — accept and wait — are
//! drawn as a thin strip at the bottom of the lane; read, compute and write fill it. (A
//! blocking read includes the time blocked in `read()`.)
//!
//! Drawn by hand as SVG rectangles (plotters would add nothing for bars on lanes), with the
//! chart module's conventions: a `viewBox`, `width="100%"`, DejaVu Sans, no external
//! references, and a [`DataTable`] of what is drawn, one row per lane.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use wb_model::trace::{Trace, TraceSpan};

use super::{Chart, DataTable, WIDTH};
use crate::format::escape_html;

/// Most lanes drawn; the table still lists every lane.
pub const MAX_LANES: usize = 40;

/// The phases, their colours, and whether they fill the lane.
const PHASES: [(&str, &str, bool); 5] = [
    ("accept", "#9e9e9e", false),
    ("read", "#4c78a8", true),
    ("wait", "#f2a93b", false),
    ("compute", "#e45756", true),
    ("write", "#54a24b", true),
];

const LANE_HEIGHT: u32 = 14;
const LANE_GAP: u32 = 3;
const LEFT: u32 = 150;
const RIGHT: u32 = 12;
const TOP: u32 = 34;
const FONT: &str = "DejaVu Sans, sans-serif";

/// One lane: a thread of a process.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LaneKey {
    pid: u32,
    tid: u32,
}

/// The timeline of one traced step: lanes are threads or processes, bars are spans.
pub fn timeline(trace: &Trace) -> Chart {
    let id = format!("{}-{}-timeline", trace.workload, trace.engine);
    let title = format!(
        "Timeline: {} on {} at level {}",
        trace.engine, trace.workload, trace.level
    );
    if trace.spans.is_empty() {
        return super::empty_state(
            &id,
            &title,
            "the traced window recorded no spans; run again with --trace",
        );
    }
    let lanes = lanes(&trace.spans);
    let drawn: Vec<&LaneKey> = lanes.keys().take(MAX_LANES).collect();
    let end_ns = trace
        .spans
        .iter()
        .map(|s| s.end_ns)
        .max()
        .unwrap_or(1)
        .max(1);
    let plot_width = (WIDTH - LEFT - RIGHT) as f64;
    let x = |ns: u64| LEFT as f64 + ns as f64 / end_ns as f64 * plot_width;
    let lanes_height = drawn.len() as u32 * (LANE_HEIGHT + LANE_GAP);
    let axis_y = TOP + lanes_height + 4;
    let height = axis_y + 52;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="{}" font-family="{FONT}">"#,
        escape_html(&title)
    );
    let _ = write!(
        svg,
        r#"<rect width="{WIDTH}" height="{height}" fill="white"/><text x="{}" y="18" font-size="14" text-anchor="middle">{}</text>"#,
        WIDTH / 2,
        escape_html(&title)
    );
    let pids: BTreeSet<u32> = lanes.keys().map(|k| k.pid).collect();
    for (row, key) in drawn.iter().enumerate() {
        let y = TOP + row as u32 * (LANE_HEIGHT + LANE_GAP);
        let lane = &lanes[*key];
        let _ = write!(
            svg,
            r##"<rect x="{LEFT}" y="{y}" width="{plot_width}" height="{LANE_HEIGHT}" fill="#f4f4f4"/><text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>"##,
            LEFT - 4,
            y + LANE_HEIGHT - 3,
            escape_html(&lane_label(key, &lane.thread, pids.len() > 1))
        );
        for span in &lane.spans {
            let Some(&(_, color, fills)) = PHASES.iter().find(|(p, ..)| *p == span.phase) else {
                continue;
            };
            let x0 = x(span.start_ns);
            let width = (x(span.end_ns) - x0).max(0.6);
            let (bar_y, bar_h) = if fills {
                (y, LANE_HEIGHT)
            } else {
                (y + LANE_HEIGHT - 4, 4)
            };
            let _ = write!(
                svg,
                r#"<rect x="{x0:.1}" y="{bar_y}" width="{width:.1}" height="{bar_h}" fill="{color}"/>"#
            );
        }
    }
    // The time axis, in milliseconds from the window's start.
    let window_ms = end_ns as f64 / 1e6;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#333"/>"##,
        WIDTH - RIGHT
    );
    for i in 0..=4 {
        let ms = window_ms * i as f64 / 4.0;
        let tx = LEFT as f64 + plot_width * i as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{tx:.1}" y1="{axis_y}" x2="{tx:.1}" y2="{}" stroke="#333"/><text x="{tx:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"##,
            axis_y + 4,
            axis_y + 15,
            format_ms(ms)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">time from the window's start (ms)</text>"#,
        LEFT as f64 + plot_width / 2.0,
        axis_y + 28
    );
    // The legend.
    let mut lx = LEFT as f64;
    let ly = axis_y + 38;
    for (phase, color, fills) in PHASES {
        let (h, dy) = if fills { (10, 0) } else { (4, 6) };
        let _ = write!(
            svg,
            r#"<rect x="{lx:.0}" y="{}" width="12" height="{h}" fill="{color}"/><text x="{:.0}" y="{}" font-size="10">{phase}</text>"#,
            ly + dy,
            lx + 16.0,
            ly + 9
        );
        lx += 16.0 + 7.0 * phase.len() as f64 + 16.0;
    }
    let _ = write!(
        svg,
        r#"<text x="{lx:.0}" y="{}" font-size="10">thin: blocked or parked, not on a CPU</text>"#,
        ly + 9
    );
    svg.push_str("</svg>");

    Chart {
        id,
        title: title.clone(),
        svg,
        table: table(trace, &lanes, pids.len() > 1, window_ms),
        empty: false,
    }
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

fn table(
    trace: &Trace,
    lanes: &BTreeMap<LaneKey, Lane<'_>>,
    several_processes: bool,
    window_ms: f64,
) -> DataTable {
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
                let ns: u64 = lane
                    .spans
                    .iter()
                    .filter(|s| s.phase == phase)
                    .map(|s| s.end_ns - s.start_ns)
                    .sum();
                row.push(format_ms(ns as f64 / 1e6));
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
    let mut notes = vec![format!(
        "{} spans drawn of {} recorded in a {} ms traced load on a fresh engine process; the window is {} ms from its middle.",
        trace.spans.len(),
        trace.recorded,
        trace.load_ms,
        format_ms(window_ms)
    )];
    if lanes.len() > MAX_LANES {
        notes.push(format!(
            "The chart draws the first {MAX_LANES} of {} lanes; the table lists them all.",
            lanes.len()
        ));
    }
    DataTable {
        caption: format!(
            "Time each lane (thread or process) of {} spent per phase in the window, on {} at level {}.",
            trace.engine, trace.workload, trace.level
        ),
        columns,
        rows,
        notes,
    }
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
        // Two compute bars, and the legend's swatch.
        assert_eq!(bars, 3);
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
    }
}
