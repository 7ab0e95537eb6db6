//! Spans of work, recorded on request: who ran what, when — the timeline that shows
//! concurrency and parallelism instead of describing them.
//!
//! An engine started with `--trace FILE` records a [`Span`] at each of its *span sites*: the
//! accept of a connection, a read, a wait (the "database"), the CPU work of a job and a write,
//! each with the OS thread and the process that ran it and the connection (its socket's file
//! descriptor) it served. Every span of a connection carries its descriptor — the selector's
//! protocol, which does not know its socket, reads it from [`serving`] — so a timeline can
//! also draw one lane per connection. A descriptor is reused once its connection closes; the
//! accept span that hands it out again marks the new connection (`wb_model::trace`). On a timeline with one lane per thread or process, the models
//! become pictures: the selector's single lane interleaves many connections' short spans;
//! threads and pool workers run side by side on their own lanes; an offload pool adds lanes
//! that only compute.
//!
//! # Off costs nothing measurable
//!
//! Tracing is off unless [`start`] is called. A span site then costs one relaxed atomic load
//! and a branch ([`enabled`]), and the [`Guard`] it returns is an `Option` that is `None`:
//! no clock read, no lock, no allocation. The workbench measures that claim (CPU per request
//! with tracing compiled in but off, against the engine without it).
//!
//! # On: a fixed-size buffer, written at the end
//!
//! Spans go into one buffer per process of at most [`CAPACITY`] spans, behind a mutex (a
//! traced window is short; it need not be fast, only bounded). The buffer is appended to the
//! file when it is full — and recording then stops, so a trace is the *first* `CAPACITY`
//! spans, a window, never an unbounded log — or when the engine stops ([`finish`]). Every
//! process of an engine (the prefork pool's workers are forked with tracing on) appends to
//! the same file with `O_APPEND`, one `write` per flush.
//!
//! # The file
//!
//! JSON lines, one span each, times in nanoseconds of `CLOCK_MONOTONIC` (one clock for every
//! process on the machine, so the pool's workers line up):
//!
//! ```text
//! {"phase":"read","start_ns":81230040,"end_ns":81231502,"pid":4242,"tid":4250,"thread":"coroutines","task":17}
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The most spans one process keeps. At about 40 bytes each, 640 KiB of memory while tracing,
/// and a few milliseconds to a few seconds of a busy engine's life.
pub const CAPACITY: usize = 16 * 1024;

/// Whether spans are recorded now: the one load every span site pays.
static ON: AtomicBool = AtomicBool::new(false);

/// Where spans go once tracing has started.
static TRACER: OnceLock<Tracer> = OnceLock::new();

thread_local! {
    /// This thread's kernel id, once looked up (0: not yet).
    static TID: Cell<u32> = const { Cell::new(0) };
    /// The connection this thread is serving now, for span sites that do not know their
    /// socket (the selector's protocol): set by [`serving`] only while tracing.
    static SERVING: Cell<u64> = const { Cell::new(0) };
}

/// What a span was spent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Taking a connection from the listener (blocking engines: the time blocked in
    /// `accept()`, which is how an idle pool worker spends its life). Its end is when the
    /// server got the connection: every span of that connection begins after it, and every
    /// span of an earlier connection on the same descriptor ended before it.
    Accept,
    /// Reading a request's bytes (blocking engines: including the time blocked in `read()`).
    Read,
    /// The workload's wait, the "database": a thread or worker blocked, or a task or
    /// connection parked on a timer while its thread runs others.
    Wait,
    /// The CPU rounds of a job and the rendering of its response.
    Compute,
    /// Writing a response to the socket.
    Write,
}

impl Phase {
    /// Every phase, in the order a request meets them.
    pub const ALL: [Phase; 5] = [
        Phase::Accept,
        Phase::Read,
        Phase::Wait,
        Phase::Compute,
        Phase::Write,
    ];

    /// The name used in the file: `accept`, `read`, `wait`, `compute`, `write`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Accept => "accept",
            Phase::Read => "read",
            Phase::Wait => "wait",
            Phase::Compute => "compute",
            Phase::Write => "write",
        }
    }
}

/// One recorded span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// What it was spent on.
    pub phase: Phase,
    /// When it began, `CLOCK_MONOTONIC` nanoseconds.
    pub start_ns: u64,
    /// When it ended.
    pub end_ns: u64,
    /// The kernel id of the thread that ran it.
    pub tid: u32,
    /// The connection: its socket's file descriptor (0 when none).
    pub task: u64,
}

/// The buffer and the file of one traced process.
#[derive(Debug)]
struct Tracer {
    path: PathBuf,
    buffer: Mutex<Buffer>,
}

#[derive(Debug, Default)]
struct Buffer {
    spans: Vec<Span>,
    /// Thread names by kernel id, for the lanes' labels.
    threads: HashMap<u32, String>,
}

impl Tracer {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A panic mid-push leaves at worst one span missing: the buffer stays usable.
        self.buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts recording spans into a buffer for `path`, which is created (or emptied) now so that
/// a path that cannot be written is an error at start, not at the end. Call it once, before
/// the engine serves (and, for the pool, before it forks its workers).
pub fn start(path: &Path) -> io::Result<()> {
    std::fs::File::create(path).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "cannot create the trace file {}: {err}; pick a writable path",
                path.display()
            ),
        )
    })?;
    let tracer = Tracer {
        path: path.to_path_buf(),
        buffer: Mutex::new(Buffer {
            spans: Vec::with_capacity(CAPACITY),
            threads: HashMap::new(),
        }),
    };
    TRACER
        .set(tracer)
        .map_err(|_| io::Error::other("tracing was started twice"))?;
    ON.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether spans are being recorded: one relaxed atomic load.
#[inline(always)]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// `CLOCK_MONOTONIC` now, in nanoseconds: the clock of every span, shared by all processes.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `now_ns()` when tracing, `None` (and no clock read) when not: for a span whose end the
/// caller records itself with [`record`], such as a wait that spans an `.await`.
#[inline(always)]
pub fn start_ns() -> Option<u64> {
    if enabled() { Some(now_ns()) } else { None }
}

/// A span in progress: recorded when dropped. `None` inside when tracing is off.
#[must_use = "a span is recorded when its guard is dropped"]
#[derive(Debug)]
pub struct Guard(Option<(Phase, u64, u64)>);

/// Begins a span of `phase` for connection `task`, ended when the returned guard drops.
#[inline(always)]
pub fn span(phase: Phase, task: u64) -> Guard {
    if !enabled() {
        return Guard(None);
    }
    Guard(Some((phase, task, now_ns())))
}

/// Runs `work` within a span of `phase` for connection `task`, and returns what it returns.
#[inline(always)]
pub fn traced<T>(phase: Phase, task: u64, work: impl FnOnce() -> T) -> T {
    let _span = span(phase, task);
    work()
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some((phase, task, start)) = self.0.take() {
            record(phase, task, start, now_ns());
        }
    }
}

/// Names the connection this thread serves until the returned guard drops, for span sites
/// that do not know their socket ([`current_task`]): the selector's loop sets it around each
/// protocol callback. When tracing is off it costs what a span site costs, one load.
#[inline(always)]
pub fn serving(task: u64) -> Serving {
    if !enabled() {
        return Serving(None);
    }
    let before = SERVING.with(|cell| cell.replace(task));
    Serving(Some(before))
}

/// The connection set by [`serving`] on this thread (0 when none, or when not tracing).
#[inline(always)]
pub fn current_task() -> u64 {
    if !enabled() {
        return 0;
    }
    SERVING.with(Cell::get)
}

/// The connection a thread serves, named for as long as it lives. See [`serving`].
#[must_use = "the connection is named only while the guard lives"]
#[derive(Debug)]
pub struct Serving(Option<u64>);

impl Drop for Serving {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(before) = self.0.take() {
            SERVING.with(|cell| cell.set(before));
        }
    }
}

/// Records a span measured by the caller. Does nothing when tracing is off (or has stopped
/// because the buffer filled up).
pub fn record(phase: Phase, task: u64, start_ns: u64, end_ns: u64) {
    if !enabled() {
        return;
    }
    let Some(tracer) = TRACER.get() else { return };
    let tid = current_tid();
    let mut buffer = tracer.lock();
    if buffer.spans.len() >= CAPACITY {
        return;
    }
    if let std::collections::hash_map::Entry::Vacant(slot) = buffer.threads.entry(tid) {
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        slot.insert(name);
    }
    buffer.spans.push(Span {
        phase,
        start_ns,
        end_ns: end_ns.max(start_ns),
        tid,
        task,
    });
    if buffer.spans.len() >= CAPACITY {
        // The window is over: stop recording in this process and write what it holds.
        ON.store(false, Ordering::Relaxed);
        if let Err(err) = write_out(&tracer.path, &mut buffer) {
            tracing::warn!("cannot write the trace: {err}");
        }
    }
}

/// Writes this process's spans to the trace file, if tracing was started, and stops
/// recording. Every engine calls it when it stops (the pool's workers each before they
/// exit). Safe to call more than once.
pub fn finish() -> io::Result<()> {
    ON.store(false, Ordering::Relaxed);
    let Some(tracer) = TRACER.get() else {
        return Ok(());
    };
    let mut buffer = tracer.lock();
    write_out(&tracer.path, &mut buffer)
}

/// Appends the buffer's spans to `path` as JSON lines, in one `write`, and empties it.
fn write_out(path: &Path, buffer: &mut Buffer) -> io::Result<()> {
    if buffer.spans.is_empty() {
        return Ok(());
    }
    let pid = std::process::id();
    let mut text = String::with_capacity(buffer.spans.len() * 120);
    for span in &buffer.spans {
        let thread = buffer
            .threads
            .get(&span.tid)
            .map_or("unnamed", String::as_str);
        text.push_str(&span_line(span, pid, thread));
        text.push('\n');
    }
    buffer.spans.clear();
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// One span as a JSON line (without the newline).
fn span_line(span: &Span, pid: u32, thread: &str) -> String {
    format!(
        "{{\"phase\":\"{}\",\"start_ns\":{},\"end_ns\":{},\"pid\":{pid},\"tid\":{},\"thread\":\"{}\",\"task\":{}}}",
        span.phase.name(),
        span.start_ns,
        span.end_ns,
        span.tid,
        json_escape(thread),
        span.task
    )
}

/// Escapes a string for a JSON string literal.
fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// This thread's kernel id (`gettid`), looked up once per thread.
fn current_tid() -> u32 {
    TID.with(|cell| {
        let known = cell.get();
        if known != 0 {
            return known;
        }
        // SAFETY: gettid takes no arguments, cannot fail and touches no memory.
        let tid = unsafe { libc::gettid() } as u32;
        cell.set(tid);
        tid
    })
}

/// The kernel id of the calling process's main thread after a `fork`: a forked child's
/// thread-local cache would otherwise still hold its parent's id. The pool's workers call it
/// first thing.
pub fn forget_thread_id_after_fork() {
    TID.with(|cell| cell.set(0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_a_span_then_records_nothing() {
        // Tracing is never started in this test binary's process.
        assert!(!enabled());
        assert_eq!(start_ns(), None);
        let guard = span(Phase::Read, 3);
        assert!(guard.0.is_none());
        drop(guard);
        record(Phase::Wait, 3, 1, 2);
        let serving = serving(9);
        assert!(serving.0.is_none());
        assert_eq!(current_task(), 0);
        assert!(finish().is_ok());
    }

    #[test]
    fn a_span_line_is_json() {
        let span = Span {
            phase: Phase::Compute,
            start_ns: 10,
            end_ns: 25,
            tid: 7,
            task: 9,
        };
        assert_eq!(
            span_line(&span, 42, "co\"ro"),
            r#"{"phase":"compute","start_ns":10,"end_ns":25,"pid":42,"tid":7,"thread":"co\"ro","task":9}"#
        );
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a && a > 0);
    }

    #[test]
    fn phases_have_names() {
        let names: Vec<&str> = Phase::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["accept", "read", "wait", "compute", "write"]);
    }
}
