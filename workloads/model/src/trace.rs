//! Traces as the runner stores them: the spans an engine wrote with `--trace FILE`
//! (`wb_sys::trace` writes them, one JSON line each), cut to a window short enough to draw.
//!
//! A trace belongs to one step — one engine, one workload, one level — and shows who ran
//! what: lanes are threads (or, for the prefork pool, processes), bars are spans of accept,
//! read, wait, compute and write. See `wb_reports::charts::timeline` for the drawing.

use serde::{Deserialize, Serialize};

/// The most spans a stored trace keeps: enough to see a few hundred requests, few enough
/// for an SVG a browser draws at once.
pub const MAX_SPANS: usize = 1500;

/// One span, as the engine recorded it (times in `CLOCK_MONOTONIC` nanoseconds in the file,
/// rebased to the window's start once [`window`] has cut it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceSpan {
    /// `accept`, `read`, `wait`, `compute` or `write`.
    pub phase: String,
    /// When it began.
    pub start_ns: u64,
    /// When it ended.
    pub end_ns: u64,
    /// The process that ran it.
    pub pid: u32,
    /// The kernel id of the thread that ran it.
    pub tid: u32,
    /// That thread's name (`main`, `coroutines`, `unnamed` for a thread without one).
    pub thread: String,
    /// The connection (its socket's descriptor; 0 when the site does not know it).
    pub task: u64,
}

/// A stored trace: which step it shows and its spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The engine's label.
    pub engine: String,
    /// The workload's name.
    pub workload: String,
    /// The level traced.
    pub level: u64,
    /// How long the traced load ran, in milliseconds (warm-up included).
    pub load_ms: u64,
    /// Spans the engine recorded in all.
    pub recorded: usize,
    /// The spans of the window, start times from 0, ordered by start.
    pub spans: Vec<TraceSpan>,
}

/// Parses a trace file's JSON lines. A line that does not parse (a process killed mid-write)
/// is skipped; the count of those comes back beside the spans.
pub fn parse(text: &str) -> (Vec<TraceSpan>, usize) {
    let mut spans = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<TraceSpan>(line) {
            Ok(span) => spans.push(span),
            Err(_) => bad += 1,
        }
    }
    (spans, bad)
}

/// Cuts a window of at most `max` spans from the middle of `spans` (the start and the end
/// of a trace are the load ramping up and down): the spans that begin in it, plus the long
/// ones that began earlier and are still running (an idle pool worker's accept, a thread's
/// wait), clipped to its start. Times come back relative to the window's start.
pub fn window(mut spans: Vec<TraceSpan>, max: usize) -> Vec<TraceSpan> {
    if spans.is_empty() || max == 0 {
        return Vec::new();
    }
    spans.sort_by_key(|s| (s.start_ns, s.end_ns));
    let (from, to) = if spans.len() <= max {
        (spans[0].start_ns, u64::MAX)
    } else {
        let first = (spans.len() - max) / 2;
        // Leaves room for the spans carried over from before the window.
        let last = first + max * 9 / 10;
        (spans[first].start_ns, spans[last].start_ns)
    };
    let mut out: Vec<TraceSpan> = spans
        .into_iter()
        .filter(|s| s.end_ns >= from && s.start_ns < to)
        .map(|mut s| {
            s.start_ns = s.start_ns.max(from) - from;
            s.end_ns = s.end_ns.min(to).max(from) - from;
            s
        })
        .collect();
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(phase: &str, start: u64, end: u64, tid: u32) -> TraceSpan {
        TraceSpan {
            phase: phase.into(),
            start_ns: start,
            end_ns: end,
            pid: 1,
            tid,
            thread: "t".into(),
            task: 3,
        }
    }

    #[test]
    fn lines_parse_and_bad_ones_are_counted() {
        let text = r#"{"phase":"read","start_ns":10,"end_ns":25,"pid":4,"tid":5,"thread":"main","task":6}
{"phase":"wri
{"phase":"write","start_ns":30,"end_ns":31,"pid":4,"tid":5,"thread":"main","task":6}
"#;
        let (spans, bad) = parse(text);
        assert_eq!(bad, 1);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0], {
            let mut s = span("read", 10, 25, 5);
            s.pid = 4;
            s.thread = "main".into();
            s.task = 6;
            s
        });
    }

    #[test]
    fn a_short_trace_is_kept_whole_and_rebased() {
        let spans = vec![span("write", 150, 160, 1), span("read", 100, 120, 1)];
        let cut = window(spans, 10);
        assert_eq!(cut[0].start_ns, 0);
        assert_eq!(cut[0].end_ns, 20);
        assert_eq!(cut[1].start_ns, 50);
    }

    #[test]
    fn a_long_trace_is_cut_in_the_middle_with_running_spans_clipped() {
        let mut spans: Vec<TraceSpan> = (0..1000)
            .map(|i| span("compute", i * 10, i * 10 + 5, 2))
            .collect();
        // An accept that runs across the whole trace, on another lane.
        spans.push(span("accept", 0, 20_000, 9));
        let cut = window(spans, 100);
        assert!(cut.len() <= 100);
        assert!(cut.iter().any(|s| s.phase == "accept" && s.start_ns == 0));
        assert!(cut.iter().all(|s| s.end_ns >= s.start_ns));
        let computes = cut.iter().filter(|s| s.phase == "compute").count();
        assert!(computes >= 80, "{computes}");
    }
}
