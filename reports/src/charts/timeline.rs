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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use wb_model::trace::{ConnectionLane, Trace, TraceSpan, connections};

use super::{Chart, DataTable};

/// Width of a timeline, in SVG pixels (timelines are drawn once, at this width).
const WIDTH: u32 = 640;
use crate::format::escape_html;

/// Most thread lanes drawn; the table still lists every lane.
pub const MAX_LANES: usize = 40;

/// Most connection lanes drawn; the table still lists every connection.
pub const MAX_CONNECTION_LANES: usize = 60;

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
/// Lanes when there are many connections.
const SMALL_LANE_HEIGHT: u32 = 8;
const SMALL_LANE_GAP: u32 = 2;
const LEFT: u32 = 150;
const RIGHT: u32 = 12;
/// Below the title and the line that says what the lanes are.
const TOP: u32 = 46;
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
    let drawn: Vec<(String, Vec<&TraceSpan>)> = lanes
        .iter()
        .take(MAX_LANES)
        .map(|(key, lane)| (lane_label(key, &lane.thread, several), lane.spans.clone()))
        .collect();
    let mut frame = Frame::new(&title, axis, drawn.len(), (LANE_HEIGHT, LANE_GAP), 2);
    frame.subtitle(if several {
        "one lane per worker process (and its threads): who ran the work"
    } else {
        "one lane per thread: who ran the work"
    });
    for (row, (label, spans)) in drawn.iter().enumerate() {
        frame.lane(row, label, None);
        for span in spans {
            frame.bar(row, span);
        }
    }
    let svg = frame.finish(&[]);
    let mut table = table(trace, &lanes, several);
    table.notes = window_notes(trace, axis, spans.len());
    if lanes.len() > MAX_LANES {
        table.notes.push(format!(
            "The chart draws the first {MAX_LANES} of {} lanes; the table lists them all.",
            lanes.len()
        ));
    }
    Chart::drawn(id, title, svg, table)
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
    let drawn = conns.len().min(MAX_CONNECTION_LANES);
    // The unseen block takes the room of a few lanes, at most ten.
    let unseen_rows = unseen
        .filter(|&n| n > 0)
        .map_or(0, |n| (n as usize).clamp(2, 10));
    let small = drawn + unseen_rows > 24;
    let (lane_h, gap) = if small {
        (SMALL_LANE_HEIGHT, SMALL_LANE_GAP)
    } else {
        (LANE_HEIGHT, LANE_GAP)
    };
    let mut frame = Frame::new(&title, axis, drawn + unseen_rows, (lane_h, gap), 3);
    frame.subtitle(
        "one lane per connection, from its accept (tick) to its last span; connect → accept: not recorded",
    );
    for (row, conn) in conns.iter().take(drawn).enumerate() {
        frame.lane(
            row,
            &labels[row],
            Some((conn.begins_ns(), conn.ends_ns(), conn.accepted_ns)),
        );
        for span in &conn.spans {
            frame.bar(row, span);
        }
    }
    if let Some(n) = unseen.filter(|&n| n > 0) {
        frame.unseen_block(drawn, unseen_rows, n, trace.client_connections.unwrap_or(n));
    }
    let svg = frame.finish(&[
        ("tick", "the server accepted the connection"),
        ("unseen", "held by the client, no span in the window"),
    ]);
    Chart::drawn(
        id,
        title,
        svg,
        connection_table(trace, axis, &conns, &labels, unseen, spans.len()),
    )
}

/// An SVG of lanes over one time axis, with the axis and a legend underneath.
struct Frame {
    svg: String,
    /// Rows of legend under the axis.
    legend_rows: u32,
    axis_ns: u64,
    lane_h: u32,
    gap: u32,
    rows: usize,
}

impl Frame {
    fn new(
        title: &str,
        axis: &Axis,
        rows: usize,
        (lane_h, gap): (u32, u32),
        legend_rows: u32,
    ) -> Frame {
        let mut frame = Frame {
            svg: String::new(),
            legend_rows,
            axis_ns: axis.ns.max(1),
            lane_h,
            gap,
            rows,
        };
        let height = frame.height();
        let _ = write!(
            frame.svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="{}" font-family="{FONT}">"#,
            escape_html(title)
        );
        let _ = write!(
            frame.svg,
            r#"<rect width="{WIDTH}" height="{height}" fill="white"/><text x="{}" y="18" font-size="14" text-anchor="middle">{}</text>"#,
            WIDTH / 2,
            escape_html(title)
        );
        frame
    }

    fn plot_width() -> f64 {
        (WIDTH - LEFT - RIGHT) as f64
    }

    fn x(&self, ns: u64) -> f64 {
        LEFT as f64 + ns.min(self.axis_ns) as f64 / self.axis_ns as f64 * Self::plot_width()
    }

    fn y(&self, row: usize) -> u32 {
        TOP + row as u32 * (self.lane_h + self.gap)
    }

    fn axis_y(&self) -> u32 {
        TOP + self.rows as u32 * (self.lane_h + self.gap) + 4
    }

    /// Title, lanes, axis with its title, and two rows of legend.
    fn height(&self) -> u32 {
        self.axis_y() + 28 + self.legend_rows * 16 + 6
    }

    fn subtitle(&mut self, text: &str) {
        let _ = write!(
            self.svg,
            r#"<text x="{}" y="34" font-size="10" fill="{MUTED}" text-anchor="middle">{}</text>"#,
            WIDTH / 2,
            escape_html(text)
        );
    }

    /// A lane's background and label; for a connection, its life on the lane (a darker
    /// band from `begins` to `ends`) and its accept's tick.
    fn lane(&mut self, row: usize, label: &str, life: Option<(u64, u64, Option<u64>)>) {
        let y = self.y(row);
        let h = self.lane_h;
        let font = if h < LANE_HEIGHT { 8 } else { 10 };
        let _ = write!(
            self.svg,
            r##"<rect x="{LEFT}" y="{y}" width="{}" height="{h}" fill="#f7f7f7"/><text x="{}" y="{}" font-size="{font}" text-anchor="end">{}</text>"##,
            Self::plot_width(),
            LEFT - 4,
            y + h - (h + 1 - font).clamp(1, 3),
            escape_html(label)
        );
        if let Some((begins, ends, accepted)) = life {
            let x0 = self.x(begins);
            let width = (self.x(ends) - x0).max(0.6);
            let _ = write!(
                self.svg,
                r##"<rect x="{x0:.1}" y="{y}" width="{width:.1}" height="{h}" fill="#e6e6e6"/>"##
            );
            if let Some(at) = accepted {
                let _ = write!(
                    self.svg,
                    r##"<rect x="{:.1}" y="{}" width="1.2" height="{}" fill="#222"/>"##,
                    self.x(at) - 0.6,
                    y.saturating_sub(1),
                    h + 2
                );
            }
        }
    }

    fn bar(&mut self, row: usize, span: &TraceSpan) {
        let Some(&(_, color, fills)) = PHASES.iter().find(|(p, ..)| *p == span.phase) else {
            return;
        };
        let y = self.y(row);
        let x0 = self.x(span.start_ns);
        let width = (self.x(span.end_ns) - x0).max(0.6);
        let thin = (self.lane_h / 3).max(2);
        let (bar_y, bar_h) = if fills {
            (y, self.lane_h)
        } else {
            (y + self.lane_h - thin, thin)
        };
        let _ = write!(
            self.svg,
            r#"<rect x="{x0:.1}" y="{bar_y}" width="{width:.1}" height="{bar_h}" fill="{color}"/>"#
        );
    }

    /// `rows` lanes' room for the `unseen` of the `held` connections the load generator
    /// held that have no span in the window.
    fn unseen_block(&mut self, row: usize, rows: usize, unseen: u64, held: u64) {
        let y = self.y(row);
        let h = rows as u32 * (self.lane_h + self.gap) - self.gap;
        let _ = write!(
            self.svg,
            r#"<rect x="{LEFT}" y="{y}" width="{:.1}" height="{h}" fill="{UNSEEN_FILL}" stroke="{UNSEEN_STROKE}" stroke-dasharray="4 3"/>"#,
            Self::plot_width()
        );
        let _ = write!(
            self.svg,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="end">{unseen} more</text>"#,
            LEFT - 4,
            y + h / 2 + 4
        );
        let line_one =
            format!("{unseen} of the {held} connections the load generator held: no span here,");
        let line_two = "waiting in the listen backlog (unseen by the server) or not yet served";
        let mid = LEFT as f64 + Self::plot_width() / 2.0;
        let (one_y, two_y) = if h >= 26 {
            (y + h / 2 - 2, y + h / 2 + 10)
        } else {
            (y + h / 2 - 1, y + h / 2 + 8)
        };
        let _ = write!(
            self.svg,
            r#"<text x="{mid:.1}" y="{one_y}" font-size="10" text-anchor="middle">{}</text><text x="{mid:.1}" y="{two_y}" font-size="10" text-anchor="middle">{}</text>"#,
            escape_html(&line_one),
            escape_html(line_two)
        );
    }

    /// The time axis, the legend (the phases on one row; what thin bars and `extra` marks
    /// mean on the next), and the end of the SVG.
    fn finish(mut self, extra: &[(&str, &str)]) -> String {
        let axis_y = self.axis_y();
        let plot_width = Self::plot_width();
        let _ = write!(
            self.svg,
            r##"<line x1="{LEFT}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#333"/>"##,
            WIDTH - RIGHT
        );
        let axis_ms = self.axis_ns as f64 / 1e6;
        let step = nice_step(axis_ms / 5.0);
        let mut tick = 0.0;
        while tick <= axis_ms * 1.000_001 {
            let tx = LEFT as f64 + tick / axis_ms * plot_width;
            let _ = write!(
                self.svg,
                r##"<line x1="{tx:.1}" y1="{axis_y}" x2="{tx:.1}" y2="{}" stroke="#333"/><text x="{tx:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"##,
                axis_y + 4,
                axis_y + 15,
                tick_label(tick)
            );
            tick += step;
        }
        let _ = write!(
            self.svg,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">time from the window's start (ms)</text>"#,
            LEFT as f64 + plot_width / 2.0,
            axis_y + 28
        );
        // The legend, from the left edge so that it is whole at any width.
        let ly = axis_y + 36;
        let mut lx = 8.0;
        for (phase, color, fills) in PHASES {
            let (h, dy) = if fills { (10, 0) } else { (4, 6) };
            let _ = write!(
                self.svg,
                r#"<rect x="{lx:.0}" y="{}" width="12" height="{h}" fill="{color}"/><text x="{:.0}" y="{}" font-size="10">{phase}</text>"#,
                ly + dy,
                lx + 16.0,
                ly + 9
            );
            lx += 16.0 + 6.5 * phase.len() as f64 + 14.0;
        }
        let ly = ly + 16;
        let _ = write!(
            self.svg,
            r#"<text x="8" y="{}" font-size="10">thin (accept, wait): blocked or parked, not on a CPU</text>"#,
            ly + 9
        );
        let ly = ly + 16;
        let mut lx = 8.0;
        for (mark, text) in extra {
            match *mark {
                "tick" => {
                    let _ = write!(
                        self.svg,
                        r##"<rect x="{lx:.0}" y="{}" width="1.5" height="12" fill="#222"/>"##,
                        ly - 1
                    );
                }
                _ => {
                    let _ = write!(
                        self.svg,
                        r#"<rect x="{lx:.0}" y="{ly}" width="12" height="10" fill="{UNSEEN_FILL}" stroke="{UNSEEN_STROKE}" stroke-dasharray="2 2"/>"#
                    );
                }
            }
            let _ = write!(
                self.svg,
                r#"<text x="{:.0}" y="{}" font-size="10">{}</text>"#,
                lx + 16.0,
                ly + 9,
                escape_html(text)
            );
            lx += 16.0 + 5.6 * text.len() as f64 + 14.0;
        }
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// A tick's milliseconds, without trailing zeros: `0`, `2.5`, `10`.
fn tick_label(ms: f64) -> String {
    let rounded = (ms * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

/// A round step near `raw` milliseconds: 1, 2 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let scaled = raw / magnitude;
    let nice = if scaled <= 1.0 {
        1.0
    } else if scaled <= 2.0 {
        2.0
    } else if scaled <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
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
    if conns.len() > MAX_CONNECTION_LANES {
        notes.push(format!(
            "The chart draws the first {MAX_CONNECTION_LANES} of {} connections, by accept; \
             the table lists them all.",
            conns.len()
        ));
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
        // Ten wait bars and the legend's swatch, on ten lanes.
        assert_eq!(fills(&conns, "#f2a93b"), 11);
        // Each lane waited its 10 ms, at the same time as the others.
        assert!(
            conns.table.rows.iter().all(|r| r[5] == "10.0"),
            "{:?}",
            conns.table.rows
        );
        // Every client connection was seen: no block of unseen ones.
        assert_eq!(fills(&conns, UNSEEN_FILL), 1, "only the legend's swatch");
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
        for rect in doc.descendants().filter(|n| n.has_tag_name("rect")) {
            let x: f64 = rect.attribute("x").unwrap_or("0").parse().unwrap();
            let w: f64 = rect.attribute("width").unwrap().parse().unwrap_or(0.0);
            if rect.attribute("width") != Some("640") {
                assert!(x + w <= right, "{x} + {w} in {}", charts[2].svg);
            }
        }
    }

    #[test]
    fn the_legend_is_whole() {
        let trace = selector_db_wait();
        for chart in [timeline(&trace), connection_timeline(&trace)] {
            let doc = roxmltree::Document::parse(&chart.svg).unwrap();
            let height: f64 = doc
                .root_element()
                .attribute("viewBox")
                .unwrap()
                .split(' ')
                .nth(3)
                .unwrap()
                .parse()
                .unwrap();
            for text in doc.descendants().filter(|n| n.has_tag_name("text")) {
                let x: f64 = text.attribute("x").unwrap().parse().unwrap();
                let y: f64 = text.attribute("y").unwrap().parse().unwrap();
                let size: f64 = text.attribute("font-size").unwrap().parse().unwrap();
                let chars = text.text().unwrap_or("").chars().count() as f64;
                // DejaVu Sans averages under 0.6 em a character.
                let width = chars * size * 0.6;
                let (left, right) = match text.attribute("text-anchor") {
                    Some("middle") => (x - width / 2.0, x + width / 2.0),
                    Some("end") => (x - width, x),
                    _ => (x, x + width),
                };
                assert!(
                    left >= 0.0 && right <= WIDTH as f64 && y <= height,
                    "{:?} at {x},{y} does not fit in {}",
                    text.text(),
                    chart.id
                );
            }
            assert!(chart.svg.contains("not on a CPU</text>"));
        }
    }
}
