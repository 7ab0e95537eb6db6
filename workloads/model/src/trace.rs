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
    /// Connections the load generator held open when the traced load ended: those the
    /// server never shows in the window waited in its listen backlog (or were idle). `None`
    /// in traces stored before it was kept.
    #[serde(default)]
    pub client_connections: Option<u64>,
}

/// One connection as the server saw it in a window: its spans, from its accept (when the
/// accept is in the window) to its last span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLane<'a> {
    /// The process that served it.
    pub pid: u32,
    /// Its socket's descriptor.
    pub task: u64,
    /// When the server got it (its accept span's end), or `None` when it was accepted
    /// before the window began.
    pub accepted_ns: Option<u64>,
    /// Its spans other than the accept, ordered by start.
    pub spans: Vec<&'a TraceSpan>,
}

impl ConnectionLane<'_> {
    /// Where its lane begins: the accept, or the first span of one carried over.
    pub fn begins_ns(&self) -> u64 {
        self.accepted_ns
            .or_else(|| self.spans.first().map(|s| s.start_ns))
            .unwrap_or(0)
    }

    /// Where its lane ends: its last span's end (or its accept, if nothing followed).
    pub fn ends_ns(&self) -> u64 {
        self.spans
            .iter()
            .map(|s| s.end_ns)
            .max()
            .unwrap_or(0)
            .max(self.begins_ns())
    }
}

/// The window's spans by connection: those accepted before the window first (by process and
/// descriptor), then the others in the order they were accepted.
///
/// A span names its connection by the socket's descriptor (`task`) in its process, and the
/// kernel hands a descriptor out again once its connection closes. Every engine ends a
/// connection's accept span before that connection's first span and after the last span of
/// the one that had the descriptor before (`wb_sys::trace::Phase::Accept`), so a span belongs
/// to the latest accept of its descriptor that ended at or before the span began; spans
/// before the first such accept belong to a connection accepted before the window. Spans
/// without a connection (task 0: a failed accept) are left out.
pub fn connections(spans: &[TraceSpan]) -> Vec<ConnectionLane<'_>> {
    use std::collections::BTreeMap;
    let mut by_descriptor: BTreeMap<(u32, u64), Vec<&TraceSpan>> = BTreeMap::new();
    for span in spans.iter().filter(|s| s.task != 0) {
        by_descriptor
            .entry((span.pid, span.task))
            .or_default()
            .push(span);
    }
    let mut lanes = Vec::new();
    for ((pid, task), mut spans) in by_descriptor {
        spans.sort_by_key(|s| (s.start_ns, s.end_ns));
        let mut accepts: Vec<u64> = spans
            .iter()
            .filter(|s| s.phase == "accept")
            .map(|s| s.end_ns)
            .collect();
        accepts.sort_unstable();
        // Lane 0: carried over from before the window; lane i + 1: the one accepted at
        // accepts[i].
        let mut mine: Vec<ConnectionLane<'_>> = std::iter::once(None)
            .chain(accepts.iter().copied().map(Some))
            .map(|accepted_ns| ConnectionLane {
                pid,
                task,
                accepted_ns,
                spans: Vec::new(),
            })
            .collect();
        for span in spans.into_iter().filter(|s| s.phase != "accept") {
            let lane = accepts.partition_point(|&end| end <= span.start_ns);
            mine[lane].spans.push(span);
        }
        lanes.extend(
            mine.into_iter()
                .filter(|lane| lane.accepted_ns.is_some() || !lane.spans.is_empty()),
        );
    }
    // Those accepted before the window first, by process and descriptor; then by accept.
    lanes.sort_by_key(|lane| (lane.accepted_ns.unwrap_or(0), lane.pid, lane.task));
    lanes
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

    fn on(mut span: TraceSpan, task: u64) -> TraceSpan {
        span.task = task;
        span
    }

    #[test]
    fn a_reused_descriptor_is_two_connections_split_at_the_accept() {
        let spans = vec![
            // fd 3, accepted before the window: a read and a write.
            on(span("read", 0, 10, 1), 3),
            on(span("write", 10, 12, 1), 3),
            // The acceptor blocked in accept() since 5, before fd 3 closed; it got fd 3
            // again at 20.
            on(span("accept", 5, 20, 9), 3),
            on(span("read", 21, 30, 2), 3),
            on(span("wait", 30, 90, 2), 3),
            // Another connection, fd 4, overlapping in time on the same thread.
            on(span("accept", 22, 23, 9), 4),
            on(span("wait", 31, 91, 2), 4),
            // A failed accept names no connection.
            on(span("accept", 95, 99, 9), 0),
        ];
        let lanes = connections(&spans);
        assert_eq!(lanes.len(), 3);
        assert_eq!((lanes[0].task, lanes[0].accepted_ns), (3, None));
        assert_eq!(lanes[0].spans.len(), 2);
        assert_eq!(lanes[0].ends_ns(), 12);
        assert_eq!((lanes[1].task, lanes[1].accepted_ns), (3, Some(20)));
        assert_eq!(lanes[1].spans.len(), 2);
        assert_eq!((lanes[1].begins_ns(), lanes[1].ends_ns()), (20, 90));
        assert_eq!((lanes[2].task, lanes[2].accepted_ns), (4, Some(23)));
        // Same descriptor in two processes (pool workers): two connections.
        let mut other = on(span("read", 0, 1, 7), 3);
        other.pid = 2;
        assert_eq!(connections(&[on(span("read", 0, 1, 7), 3), other]).len(), 2);
    }

    #[test]
    fn a_trace_stored_before_client_connections_were_kept_still_reads() {
        let text = r#"{"engine":"pool","workload":"db-wait","level":10,"load_ms":1200,"recorded":0,"spans":[]}"#;
        let trace: Trace = serde_json::from_str(text).unwrap();
        assert_eq!(trace.client_connections, None);
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
