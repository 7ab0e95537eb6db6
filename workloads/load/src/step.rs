//! The state every task of one step shares: the server, the request bytes, the clock, the
//! connection gauges and the counts.
//!
//! Everything here lives on the generator's one thread, so shared state is `Cell` and
//! `RefCell` behind an `Rc`: no locks, no atomics. A [`Shared`] is the step's only
//! bookkeeping; connecting ([`super::connect`]) and exchanging ([`super::exchange`]) add to
//! it, and [`Shared::report`] reads it once at the end.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::clock::Clock;
use super::connect::Gauge;
use super::exchange::Failure;
use super::stats::Stats;
use super::{CONNECT_PARALLELISM, Expectation, LoadPlan, Measured, Stop};

/// What a step's thread gets beside its share of the plan: the instant every thread starts
/// its step at (one timeline for all, so that their short windows add up), the early stop,
/// and the request budget of `-n`, shared by every thread.
pub(super) struct Ctx {
    /// When the step (its warm-up) begins, for every thread.
    pub(super) start: Instant,
    /// Ends the window early (Ctrl-C, or the budget spent).
    pub(super) stop: Stop,
    /// `-n`: requests the whole step may send.
    pub(super) budget: Option<std::sync::Arc<Budget>>,
    /// Open loop: how long after the step's start this thread's first request is due.
    pub(super) phase: Duration,
}

impl Ctx {
    /// The step's clock, starting at the common start.
    pub(super) fn clock(&self, plan: &LoadPlan) -> Clock {
        Clock::starting_at(self.start, plan.warmup, plan.duration)
    }
}

/// `-n N`: the requests a step may send in its window, across threads. The step stops when
/// the last of them is answered or fails.
pub(super) struct Budget {
    limit: u64,
    /// Requests sent in the window, every thread's.
    sent: std::sync::atomic::AtomicU64,
    /// Of those, answered or failed.
    settled: std::sync::atomic::AtomicU64,
    /// Given when every request is settled.
    stop: Stop,
}

impl Budget {
    /// A budget of `limit` requests; `stop` is given once they are all settled.
    pub(super) fn new(limit: u64, stop: Stop) -> Budget {
        Budget {
            limit,
            sent: Default::default(),
            settled: Default::default(),
            stop,
        }
    }

    /// Takes one request from the budget; false when it is spent.
    pub(super) fn take(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.sent
            .fetch_update(Relaxed, Relaxed, |n| (n < self.limit).then_some(n + 1))
            .is_ok()
    }

    /// One request taken from the budget was answered or failed.
    pub(super) fn settle(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.settled.fetch_add(1, Relaxed) + 1 >= self.limit {
            self.stop.stop();
        }
    }
}

/// The state every task of a step shares.
pub(super) struct Shared {
    /// The server.
    pub(super) target: SocketAddr,
    /// What every answer must be.
    pub(super) expect: Expectation,
    /// The statuses that make an answer valid.
    pub(super) statuses: super::StatusSet,
    /// The request, built once ([`request_bytes`]): sent as is, every time.
    pub(super) request: Box<[u8]>,
    /// Closed loop: requests sent on a connection before reading their answers (1: no
    /// pipelining).
    pub(super) pipeline: usize,
    /// `pipeline` copies of the request, written at once.
    pub(super) batch: Box<[u8]>,
    /// Whether connections are kept for the next request; without, every request asks
    /// `Connection: close` and goes on a new connection.
    pub(super) keepalive: bool,
    /// No complete answer this long after the send is a timeout.
    pub(super) timeout: Duration,
    /// Read buffer size for one connection.
    pub(super) read_buffer: usize,
    /// The timeline; idle mode moves it once the connections are open.
    pub(super) clock: Cell<Clock>,
    /// The connections that make the level.
    pub(super) load: Gauge,
    /// The slow-senders probe's connection, counted apart.
    pub(super) probe: Gauge,
    /// Bounds connection attempts in flight, so that thousands of connections do not
    /// overflow the server's accept queue.
    pub(super) connect_slots: Semaphore,
    /// Set when the open-files (or port) limit was hit: later attempts are not even made.
    pub(super) exhausted: Cell<bool>,
    /// What was counted.
    pub(super) stats: RefCell<Stats>,
    /// What each closed- or open-loop connection is waiting for now, one [`Slot`] each:
    /// what [`Part::report`] censors when the window ends.
    pending: RefCell<Vec<Option<Waiting>>>,
    /// Ends the window early.
    pub(super) stop: Stop,
    /// `-n`: the requests the step may send.
    pub(super) budget: Option<std::sync::Arc<Budget>>,
}

/// A connection's place in [`Shared`]'s table of pending requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot(usize);

/// A request (or a client trying to connect) waiting for its answer.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    /// Where its latency counts from: the send, the connection attempt, or an open loop's
    /// intended send.
    since: Instant,
    /// Open loop: the actual send, for the uncorrected histogram.
    sent: Option<Instant>,
    /// How many requests wait since then: more than one when they were pipelined.
    n: u64,
}

impl Shared {
    /// The shared state of a step following `plan`; `open_loop` adds the uncorrected
    /// histogram.
    pub(super) fn new(plan: &LoadPlan, ctx: &Ctx, clock: Clock, open_loop: bool) -> Shared {
        Shared {
            target: plan.target,
            expect: plan.expect.clone(),
            statuses: plan
                .expect_status
                .clone()
                .unwrap_or_else(|| plan.expect.statuses()),
            request: request_bytes(plan).into_boxed_slice(),
            pipeline: plan.pipeline.max(1),
            batch: request_bytes(plan)
                .repeat(plan.pipeline.max(1))
                .into_boxed_slice(),
            keepalive: !plan.disable_keepalive,
            timeout: plan.timeout,
            read_buffer: plan.expect.read_buffer(),
            clock: Cell::new(clock),
            load: Gauge::default(),
            probe: Gauge::default(),
            connect_slots: Semaphore::new(CONNECT_PARALLELISM),
            exhausted: Cell::new(false),
            stats: RefCell::new(Stats::new(open_loop)),
            pending: RefCell::new(Vec::new()),
            stop: ctx.stop.clone(),
            budget: ctx.budget.clone(),
        }
    }

    /// `end`, or the moment the step was stopped if that came first: a request not answered
    /// by then is censored, and none is sent after it.
    pub(super) fn end_by(&self, end: Instant) -> Instant {
        self.stop.at().map_or(end, |stop| stop.min(end))
    }

    /// Whether an event at `t` came after the step was stopped early (it is not counted).
    fn after_stop(&self, t: Instant) -> bool {
        self.stop.at().is_some_and(|stop| t >= stop)
    }

    /// A new connection's slot in the table of pending requests, with nothing pending.
    pub(super) fn slot(&self) -> Slot {
        let mut pending = self.pending.borrow_mut();
        pending.push(None);
        Slot(pending.len() - 1)
    }

    /// The connection at `slot` waits for an answer since `since` (and, open loop, was sent
    /// at `sent`): if the window ends first, the request is censored.
    pub(super) fn waiting(&self, slot: Slot, since: Instant, sent: Option<Instant>) {
        self.pending.borrow_mut()[slot.0] = Some(Waiting { since, sent, n: 1 });
    }

    /// The connection at `slot` waits for `n` pipelined answers, sent at `since`.
    pub(super) fn waiting_many(&self, slot: Slot, since: Instant, n: u64) {
        self.pending.borrow_mut()[slot.0] = (n > 0).then_some(Waiting {
            since,
            sent: None,
            n,
        });
    }

    /// The connection at `slot` waits for nothing (its request was answered or failed, or
    /// it gave up connecting).
    pub(super) fn settled(&self, slot: Slot) {
        self.pending.borrow_mut()[slot.0] = None;
    }

    /// A request unanswered at the window's end that had waited since `since` without being
    /// sent (open loop: queued in the client): censored by [`Part::report`].
    pub(super) fn unsent(&self, since: Instant) {
        self.pending.borrow_mut().push(Some(Waiting {
            since,
            sent: None,
            n: 1,
        }));
    }

    /// The timeline.
    pub(super) fn clock(&self) -> Clock {
        self.clock.get()
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
        status: u16,
    ) {
        let clock = self.clock();
        if clock.in_window(done) && !self.after_stop(done) {
            let mut stats = self.stats.borrow_mut();
            let window = clock.window_index(done);
            if self.statuses.contains(status) {
                stats.answered(window, latency, uncorrected, bytes, status);
            } else {
                stats.wrong_status(window, latency, uncorrected, bytes, status);
            }
        }
    }

    /// Records a failed request, if it failed inside the window.
    pub(super) fn failed(&self, failure: Failure, at: Instant) {
        let clock = self.clock();
        if clock.in_window(at) && !self.after_stop(at) {
            self.stats
                .borrow_mut()
                .failed(clock.window_index(at), failure);
        }
    }

    /// Timeouts counted so far.
    pub(super) fn timeouts(&self) -> u64 {
        self.stats.borrow().timeouts()
    }

    /// The step's timeline as it ended: the window cut short where the step was stopped.
    pub(super) fn finish_clock(&self) -> Clock {
        let mut clock = self.clock();
        if let Some(stop) = self.stop.at() {
            clock.window_end = clock.window_end.min(stop).max(clock.window_start);
        }
        clock
    }

    /// The step's counts once its window is over (or it was stopped): `connections` open at
    /// the end, and why the level was not reached. Nothing is derived yet; [`Part::report`]
    /// does that, after the threads' parts are merged.
    pub(super) fn finish(&self, connections: u64, not_reached: Option<String>) -> Part {
        let clock = self.finish_clock();
        Part {
            target: self.target,
            clock,
            stats: self.stats.replace(Stats::new(false)),
            pending: self.pending.take().into_iter().flatten().collect(),
            connections,
            not_reached,
        }
    }
}

/// One thread's counts at the end of a step, before anything is derived from them.
pub(super) struct Part {
    target: SocketAddr,
    clock: Clock,
    stats: Stats,
    /// Requests (and clients connecting) still waiting when the window ended.
    pending: Vec<Waiting>,
    connections: u64,
    not_reached: Option<String>,
}

impl Part {
    /// A part that measured nothing, for a thread that could not run.
    pub(super) fn failed(plan: &LoadPlan, ctx: &Ctx, why: String) -> Part {
        Part {
            target: plan.target,
            clock: ctx.clock(plan),
            stats: Stats::new(plan.mode == wb_model::spec::Mode::Open),
            pending: Vec::new(),
            connections: 0,
            not_reached: Some(why),
        }
    }

    /// Adds a reason the level was not reached.
    pub(super) fn add_not_reached(&mut self, why: String) {
        self.not_reached = Some(match self.not_reached.take() {
            Some(before) => format!("{before}; {why}"),
            None => why,
        });
    }

    /// The threads' parts as one: counts and histograms added, waiting requests pooled,
    /// connections summed; the window is the one they share (the earliest end, should a
    /// thread's differ). `None` for no parts.
    pub(super) fn merge(parts: Vec<Part>) -> Option<Part> {
        let mut parts = parts.into_iter();
        let mut sum = parts.next()?;
        for part in parts {
            sum.stats.add(&part.stats);
            sum.pending.extend(part.pending);
            sum.connections += part.connections;
            sum.clock.window_end = sum.clock.window_end.min(part.clock.window_end);
            if let Some(why) = part.not_reached
                && sum.not_reached.as_deref() != Some(why.as_str())
            {
                sum.add_not_reached(why);
            }
        }
        Some(sum)
    }

    /// The report. Every request still pending is censored first, at the time it had waited
    /// when the window ended.
    pub(super) fn report(mut self) -> Measured {
        let end = self.clock.window_end;
        for waiting in std::mem::take(&mut self.pending) {
            // Anything that began waiting only after the window is not the window's.
            if waiting.since < end {
                for _ in 0..waiting.n {
                    self.stats.censored(
                        end.saturating_duration_since(waiting.since),
                        waiting.sent.map(|sent| end.saturating_duration_since(sent)),
                    );
                }
            }
        }
        let stats = self.stats;
        if let Some((bad, count)) = stats.first_bad() {
            tracing::warn!(
                "load generator: {count} wrong answers from {}; the first: {bad}",
                self.target
            );
        }
        let clock = self.clock;
        let offset = clock.window_start.duration_since(clock.start);
        let report = stats.report(clock.window(), offset, self.connections, self.not_reached);
        let histogram_uncorrected = stats.uncorrected_histogram();
        Measured {
            report,
            histogram_uncorrected,
            threads: 1,
            intervals: stats.into_intervals(clock.window()),
        }
    }
}

/// The request of a step, built once: `<method> <target> HTTP/1.1`, `Host` (the plan's own
/// `Host` header, or the target's address), the plan's headers, a `Content-Length` when there
/// is a body (unless the plan gives one), a blank line, the body.
pub(super) fn request_bytes(plan: &LoadPlan) -> Vec<u8> {
    let given = |name: &str| {
        plan.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut head = format!("{} {} HTTP/1.1\r\n", plan.method, plan.request_target);
    if !given("host") {
        head.push_str(&format!("Host: {}\r\n", plan.target));
    }
    for (name, value) in &plan.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if plan.disable_keepalive && !given("connection") {
        head.push_str("Connection: close\r\n");
    }
    if !plan.body.is_empty() && !given("content-length") {
        head.push_str(&format!("Content-Length: {}\r\n", plan.body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&plan.body);
    bytes
}
