//! What every mode shares: the step's clock, the statistics, opening connections (with the
//! parallelism bound and the error classification), and one request/answer exchange.
//!
//! Everything here lives on the generator's one thread, so shared state is `Cell` and
//! `RefCell` behind an `Rc`: no locks, no atomics.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::answer::{AnswerReader, BadAnswer, Step};
use super::{
    CONNECT_PARALLELISM, CONNECT_RETRY_PAUSE, CONNECT_TIMEOUT, Expectation, LoadPlan,
    PROGRESS_INTERVAL,
};
use crate::results::{ErrorCounts, Latency, LoadReport};

/// Longest warm-up or window honoured, so that no `Instant` arithmetic can overflow on a
/// nonsensical plan (workload files allow ten minutes).
const LONGEST_PHASE: Duration = Duration::from_secs(24 * 3600);

/// Highest latency the histograms track, in microseconds (60 s); longer ones are recorded
/// as 60 s.
pub(super) const HISTOGRAM_MAX_US: u64 = 60_000_000;

/// Significant digits of the histograms: 0.1% resolution at every magnitude.
pub(super) const HISTOGRAM_DIGITS: u8 = 3;

/// The step's timeline: warm-up from `start` to `window_start`, then the measured window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    /// When the step (its warm-up) began.
    pub(super) start: Instant,
    /// When measuring begins.
    pub(super) window_start: Instant,
    /// When measuring ends; in-flight requests are abandoned then.
    pub(super) window_end: Instant,
}

impl Clock {
    /// A step starting now.
    pub(super) fn starting_now(warmup: Duration, duration: Duration) -> Clock {
        Clock::starting_at(Instant::now(), warmup, duration)
    }

    /// A step starting at `start`.
    pub(super) fn starting_at(start: Instant, warmup: Duration, duration: Duration) -> Clock {
        let window_start = start + warmup.min(LONGEST_PHASE);
        Clock {
            start,
            window_start,
            window_end: window_start + duration.min(LONGEST_PHASE),
        }
    }

    /// Whether an event at `t` belongs to the measured window.
    pub(super) fn in_window(&self, t: Instant) -> bool {
        t >= self.window_start && t < self.window_end
    }

    /// How far along the step is at `now`, from 0 to 1.
    pub(super) fn fraction(&self, now: Instant) -> f64 {
        let total = self.window_end.duration_since(self.start).as_secs_f64();
        if total <= 0.0 {
            return 1.0;
        }
        (now.saturating_duration_since(self.start).as_secs_f64() / total).clamp(0.0, 1.0)
    }

    /// The measured window's length.
    pub(super) fn window(&self) -> Duration {
        self.window_end.duration_since(self.window_start)
    }
}

/// Calls `progress` every [`PROGRESS_INTERVAL`] until the clock's window ends.
pub(super) async fn tick_until(clock: Clock, progress: &(dyn Fn(f64) + Sync)) {
    loop {
        let now = Instant::now();
        progress(clock.fraction(now));
        if now >= clock.window_end {
            return;
        }
        sleep_until((now + PROGRESS_INTERVAL).min(clock.window_end)).await;
    }
}

/// Keeps a connection open, doing nothing, until the step's tasks are dropped.
///
/// A task whose window is over parks here rather than returning, so that its connection is
/// still counted when the report reads the gauge at the end of the window; [`super::run`]
/// then drops every task, which closes every connection at once.
pub(super) async fn keep_until_reported(conn: Conn<'_>) {
    std::future::pending::<()>().await;
    drop(conn);
}

/// Sleeps until a `std` instant on tokio's timer (millisecond resolution).
pub(super) async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline.into()).await;
}

/// Connections open now, and the most open at once.
#[derive(Debug, Default)]
pub(super) struct Gauge {
    now: Cell<u64>,
    peak: Cell<u64>,
}

impl Gauge {
    /// Connections open now.
    pub(super) fn now(&self) -> u64 {
        self.now.get()
    }

    /// The most connections that were open at once.
    pub(super) fn peak(&self) -> u64 {
        self.peak.get()
    }

    fn opened(&self) {
        let now = self.now.get() + 1;
        self.now.set(now);
        self.peak.set(self.peak.get().max(now));
    }

    fn closed(&self) {
        self.now.set(self.now.get().saturating_sub(1));
    }
}

/// An open connection, counted in its [`Gauge`] until it is dropped.
pub(super) struct Conn<'g> {
    /// The socket.
    pub(super) stream: TcpStream,
    _counted: Counted<'g>,
}

impl Conn<'_> {
    /// Takes the socket out of the runtime (and out of the gauge): a bare descriptor, for
    /// holding idle connections at a cost of a few bytes each.
    pub(super) fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.stream.into_std()
    }
}

/// Keeps one connection counted in a gauge while it lives.
struct Counted<'g>(&'g Gauge);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.closed();
    }
}

/// Why one request did not get a correct answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Reset, closed, or any I/O error before the answer completed.
    Reset,
    /// No complete answer within [`super::REQUEST_TIMEOUT`].
    Timeout,
    /// A wrong answer.
    Bad(BadAnswer),
}

/// A completed exchange.
#[derive(Debug, Clone, Copy)]
pub(super) struct Exchanged {
    /// Bytes of the answer (head and body).
    pub(super) bytes: u64,
    /// The server closes the connection after this answer.
    pub(super) close: bool,
}

/// How a slow reader paces its reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    /// Bytes per second.
    pub(super) rate: u64,
    /// Most bytes taken in one read.
    pub(super) chunk: usize,
}

/// Sends `request` and reads one answer, checking it as it arrives. `sent` is when the
/// caller took its send timestamp (the pace is counted from it).
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    reader: &mut AnswerReader,
    expect: &Expectation,
    pace: Option<Pace>,
    sent: Instant,
) -> Result<Exchanged, Failure> {
    stream
        .write_all(request)
        .await
        .map_err(|_| Failure::Reset)?;
    reader.begin();
    let mut bytes: u64 = 0;
    loop {
        let spare = reader.spare();
        let spare = match pace {
            None => spare,
            Some(pace) => {
                // Read no faster than `rate`: the bytes so far were due by
                // `sent + bytes / rate`; sleep until then, then take one chunk.
                let due = sent + Duration::from_secs_f64(bytes as f64 / pace.rate as f64);
                if due > Instant::now() {
                    sleep_until(due).await;
                }
                let len = spare.len().min(pace.chunk);
                &mut spare[..len]
            }
        };
        let n = stream.read(spare).await.map_err(|_| Failure::Reset)?;
        if n == 0 {
            // The server closed before the answer was complete.
            return Err(Failure::Reset);
        }
        bytes += n as u64;
        match reader.received(n, expect) {
            Step::More => {}
            Step::Done { close } => return Ok(Exchanged { bytes, close }),
            Step::Bad(bad) => return Err(Failure::Bad(bad)),
        }
    }
}

/// How [`timed_exchange`] ended.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome {
    /// The exchange completed (or failed) before its deadline.
    Done(Result<Exchanged, Failure>),
    /// No answer within [`super::REQUEST_TIMEOUT`] of the send.
    TimedOut,
    /// `until` came first, with the request still in flight.
    Cut,
}

/// [`exchange`] on `conn` with the step's request, sent at `sent` (the caller's timestamp),
/// waiting for the answer until [`super::REQUEST_TIMEOUT`] later or `until`, whichever comes
/// first. Returns how it ended and when.
pub(super) async fn timed_exchange(
    shared: &Shared,
    conn: &mut Conn<'_>,
    reader: &mut AnswerReader,
    pace: Option<Pace>,
    sent: Instant,
    until: Instant,
) -> (Outcome, Instant) {
    let deadline = (sent + super::REQUEST_TIMEOUT).min(until);
    let exchanged = tokio::time::timeout_at(
        deadline.into(),
        exchange(
            &mut conn.stream,
            &shared.request,
            reader,
            &shared.expect,
            pace,
            sent,
        ),
    )
    .await;
    let done = Instant::now();
    let timed = match exchanged {
        Ok(result) => Outcome::Done(result),
        Err(_) if deadline == until => Outcome::Cut,
        Err(_) => Outcome::TimedOut,
    };
    (timed, done)
}

/// What a keep-alive connection does after [`request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Send the next request on it.
    Again,
    /// It failed or the server closes it: open a new one.
    Reconnect,
    /// The window is over: keep it until the report ([`keep_until_reported`]).
    Keep,
}

/// One request of a closed- or open-loop connection, counted: sends it unless the window
/// (ending at `end`) is over, waits for the answer and records it, or the failure. `intended`
/// is an open loop's due time: latency is then counted from it and the service time is
/// recorded too; without it, latency is counted from the send. A request the window's end
/// cuts short is abandoned, not an error.
pub(super) async fn request(
    shared: &Shared,
    conn: &mut Conn<'_>,
    reader: &mut AnswerReader,
    pace: Option<Pace>,
    intended: Option<Instant>,
    end: Instant,
) -> Next {
    let sent = Instant::now();
    if sent >= end {
        return Next::Keep;
    }
    let (timed, done) = timed_exchange(shared, conn, reader, pace, sent, end).await;
    match timed {
        Outcome::Done(Ok(answer)) => {
            match intended {
                None => shared.answered(done, done - sent, None, answer.bytes),
                Some(intended) => shared.answered(
                    done,
                    done.saturating_duration_since(intended),
                    Some(done - sent),
                    answer.bytes,
                ),
            }
            if answer.close {
                Next::Reconnect
            } else {
                Next::Again
            }
        }
        Outcome::Done(Err(failure)) => {
            shared.failed(failure, done);
            Next::Reconnect
        }
        Outcome::Cut => Next::Keep,
        Outcome::TimedOut => {
            shared.failed(Failure::Timeout, done);
            Next::Reconnect
        }
    }
}

/// Whether a failed connect can be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Try again after [`CONNECT_RETRY_PAUSE`] until the deadline (a refusing server may come
    /// back; the load goes on).
    UntilDeadline,
    /// Give up at the first failure.
    Never,
}

/// What the step counted.
struct Stats {
    latency: Histogram<u64>,
    uncorrected: Option<Histogram<u64>>,
    completed: u64,
    bytes: u64,
    errors: ErrorCounts,
    first_connect_failure: Option<ConnectFailure>,
    first_bad: Option<BadAnswer>,
}

/// A histogram of microseconds, 1 µs to 60 s, 3 significant digits.
pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, HISTOGRAM_DIGITS)
        .expect("constant histogram bounds are valid")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The state every task of a step shares.
pub(super) struct Shared {
    /// The server.
    pub(super) target: SocketAddr,
    /// What every answer must be.
    pub(super) expect: Expectation,
    /// The request, built once: `GET <target> HTTP/1.1`, `Host`, blank line.
    pub(super) request: Box<[u8]>,
    /// Read buffer size for one connection.
    pub(super) read_buffer: usize,
    /// The timeline; idle mode moves it once the connections are open.
    pub(super) clock: Cell<Clock>,
    /// The connections that make the level.
    pub(super) load: Gauge,
    /// The slow-senders probe's connection, counted apart.
    pub(super) probe: Gauge,
    /// Bounds connection attempts in flight.
    connect_slots: Semaphore,
    /// Set when the open-files (or port) limit was hit: later attempts are not even made.
    exhausted: Cell<bool>,
    stats: RefCell<Stats>,
}

impl Shared {
    /// The shared state of a step following `plan`; `open_loop` adds the uncorrected
    /// histogram.
    pub(super) fn new(plan: &LoadPlan, clock: Clock, open_loop: bool) -> Shared {
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
            plan.request_target, plan.target
        );
        Shared {
            target: plan.target,
            expect: plan.expect.clone(),
            request: request.into_bytes().into_boxed_slice(),
            read_buffer: AnswerReader::capacity_for(plan.expect.body_len),
            clock: Cell::new(clock),
            load: Gauge::default(),
            probe: Gauge::default(),
            connect_slots: Semaphore::new(CONNECT_PARALLELISM),
            exhausted: Cell::new(false),
            stats: RefCell::new(Stats {
                latency: new_histogram(),
                uncorrected: open_loop.then(new_histogram),
                completed: 0,
                bytes: 0,
                errors: ErrorCounts::default(),
                first_connect_failure: None,
                first_bad: None,
            }),
        }
    }

    /// The timeline.
    pub(super) fn clock(&self) -> Clock {
        self.clock.get()
    }

    /// Opens a connection counted in `gauge`, trying until `until` if `retry` allows. Every
    /// failure is counted as a connect error; `None` means no connection (the deadline
    /// passed, the descriptor limit was hit, or `retry` is `Never`).
    pub(super) async fn connect<'s>(
        &'s self,
        gauge: &'s Gauge,
        until: Instant,
        retry: Retry,
    ) -> Option<Conn<'s>> {
        loop {
            if self.exhausted.get() {
                // Another connection hit the open-files limit: this one cannot be opened
                // either. It counts as a connect error, without a pointless attempt.
                self.stats.borrow_mut().errors.connect += 1;
                return None;
            }
            let attempt = {
                let _slot = self.connect_slots.acquire().await.ok()?;
                let now = Instant::now();
                if now >= until {
                    return None;
                }
                let deadline = (now + CONNECT_TIMEOUT).min(until);
                tokio::time::timeout_at(deadline.into(), TcpStream::connect(self.target)).await
            };
            let now = Instant::now();
            match attempt {
                Ok(Ok(stream)) => {
                    // Requests are written whole, but slow senders write single bytes:
                    // no Nagle delay for either.
                    let _ = stream.set_nodelay(true);
                    gauge.opened();
                    return Some(Conn {
                        stream,
                        _counted: Counted(gauge),
                    });
                }
                Ok(Err(err)) => {
                    let fatal = matches!(
                        err.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::EADDRNOTAVAIL)
                    );
                    self.connect_failed(ConnectFailure::Error {
                        errno: err.raw_os_error(),
                        text: err.to_string(),
                    });
                    if fatal {
                        self.exhausted.set(true);
                        return None;
                    }
                }
                Err(_elapsed) if now >= until => return None,
                Err(_elapsed) => self.connect_failed(ConnectFailure::TimedOut),
            }
            if retry == Retry::Never || now + CONNECT_RETRY_PAUSE >= until {
                return None;
            }
            sleep_until(now + CONNECT_RETRY_PAUSE).await;
        }
    }

    fn connect_failed(&self, failure: ConnectFailure) {
        let mut stats = self.stats.borrow_mut();
        stats.errors.connect += 1;
        if stats.first_connect_failure.is_none() {
            tracing::debug!("load generator: first connect failure: {failure:?}");
            stats.first_connect_failure = Some(failure);
        }
    }

    /// Records a correct answer completed at `done`: counted if `done` is in the window.
    /// `latency` is what the report shows (corrected in open loop); `uncorrected` is the
    /// open loop's second histogram.
    pub(super) fn answered(
        &self,
        done: Instant,
        latency: Duration,
        uncorrected: Option<Duration>,
        bytes: u64,
    ) {
        if !self.clock().in_window(done) {
            return;
        }
        let mut stats = self.stats.borrow_mut();
        stats.completed += 1;
        stats.bytes += bytes;
        stats.latency.saturating_record(micros(latency));
        if let (Some(histogram), Some(uncorrected)) = (stats.uncorrected.as_mut(), uncorrected) {
            histogram.saturating_record(micros(uncorrected));
        }
    }

    /// Records a failed request, if it failed inside the window.
    pub(super) fn failed(&self, failure: Failure, at: Instant) {
        if !self.clock().in_window(at) {
            return;
        }
        let mut stats = self.stats.borrow_mut();
        match failure {
            Failure::Reset => stats.errors.reset += 1,
            Failure::Timeout => stats.errors.timeout += 1,
            Failure::Bad(bad) => {
                stats.errors.bad_response += 1;
                stats.first_bad.get_or_insert(bad);
            }
        }
    }

    /// Whether the open-files (or local port) limit was hit.
    pub(super) fn exhausted(&self) -> bool {
        self.exhausted.get()
    }

    /// Timeouts counted so far.
    pub(super) fn timeouts(&self) -> u64 {
        self.stats.borrow().errors.timeout
    }

    /// Why a level of `level` connections was not reached when only `reached` were open, or
    /// `None` if it was.
    pub(super) fn shortfall(&self, level: u64, reached: u64) -> Option<String> {
        if reached >= level {
            return None;
        }
        Some(
            self.connect_failure(reached, Some(level))
                .unwrap_or_else(|| format!("{reached} of {level} connections could be opened")),
        )
    }

    /// The first connect failure in words, if there was one, given the connections
    /// `reached` at the end (and the `level` aimed at, for connection-counting modes).
    pub(super) fn connect_failure(&self, reached: u64, level: Option<u64>) -> Option<String> {
        let stats = self.stats.borrow();
        let failure = stats.first_connect_failure.as_ref()?;
        Some(failure.describe(self.target, reached, level))
    }

    /// The report: `connections` open at the end, and why the level was not reached.
    pub(super) fn report(&self, connections: u64, not_reached: Option<String>) -> LoadReport {
        let stats = self.stats.borrow();
        if let Some(bad) = stats.first_bad {
            tracing::warn!(
                "load generator: {} wrong answers from {}; the first: {bad}",
                stats.errors.bad_response,
                self.target
            );
        }
        let mut histogram = Vec::new();
        if let Err(err) = V2Serializer::new().serialize(&stats.latency, &mut histogram) {
            tracing::warn!("load generator: cannot serialize the latency histogram: {err}");
            histogram.clear();
        }
        LoadReport {
            elapsed_secs: self.clock().window().as_secs_f64(),
            completed: stats.completed,
            errors: stats.errors,
            latency: Latency::from_histogram(&stats.latency),
            latency_uncorrected: stats.uncorrected.as_ref().map(Latency::from_histogram),
            histogram,
            connections,
            not_reached,
            bytes_received: stats.bytes,
        }
    }
}

/// The first connection attempt that failed, kept to explain a level not reached.
#[derive(Debug, Clone)]
enum ConnectFailure {
    /// The system said no.
    Error {
        /// `errno`, when there is one.
        errno: Option<i32>,
        /// The error as text.
        text: String,
    },
    /// No answer within [`CONNECT_TIMEOUT`].
    TimedOut,
}

impl ConnectFailure {
    /// The failure in words, with what to do about it, once the step knows how many
    /// connections it `reached` (failures are seen while others are still connecting, so
    /// the count at the time of the error would understate it).
    fn describe(&self, target: SocketAddr, reached: u64, level: Option<u64>) -> String {
        let open = match level {
            Some(level) => format!("{reached} of {level} connections open"),
            None => format!("{reached} connections open"),
        };
        match self {
            ConnectFailure::TimedOut => format!(
                "connecting to {target} timed out after {} s ({open})",
                CONNECT_TIMEOUT.as_secs()
            ),
            ConnectFailure::Error { errno, text } => match *errno {
                Some(libc::EMFILE) => {
                    let (soft, hard) = open_files_limits();
                    format!(
                        "open-files limit reached at {reached} connections (soft limit {soft}, \
                         hard limit {hard}); lower the level or raise the limit"
                    )
                }
                Some(libc::ENFILE) => format!(
                    "the system-wide open-files limit (fs.file-max) was reached at {reached} \
                     connections; lower the level or raise the limit"
                ),
                Some(libc::EADDRNOTAVAIL) => format!(
                    "no free local port at {reached} connections (ip_local_port_range, or \
                     sockets in TIME_WAIT); lower the level or wait"
                ),
                Some(libc::ECONNREFUSED) => {
                    format!("connection refused by {target} ({open}): is it listening?")
                }
                _ => format!("cannot connect to {target}: {text} ({open})"),
            },
        }
    }
}

/// The process's open-files limits (soft, hard), as text ("unlimited" or a number).
fn open_files_limits() -> (String, String) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` into the valid, exclusively borrowed struct.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc != 0 {
        return ("unknown".into(), "unknown".into());
    }
    let show = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    (show(limit.rlim_cur), show(limit.rlim_max))
}
