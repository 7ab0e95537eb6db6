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
use super::{CONNECT_PARALLELISM, Expectation, LoadPlan, Measured};

/// The state every task of a step shares.
pub(super) struct Shared {
    /// The server.
    pub(super) target: SocketAddr,
    /// What every answer must be.
    pub(super) expect: Expectation,
    /// The request, built once ([`request_bytes`]): sent as is, every time.
    pub(super) request: Box<[u8]>,
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
    /// what [`Shared::report`] censors when the window ends.
    pending: RefCell<Vec<Option<Waiting>>>,
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
}

impl Shared {
    /// The shared state of a step following `plan`; `open_loop` adds the uncorrected
    /// histogram.
    pub(super) fn new(plan: &LoadPlan, clock: Clock, open_loop: bool) -> Shared {
        Shared {
            target: plan.target,
            expect: plan.expect.clone(),
            request: request_bytes(plan).into_boxed_slice(),
            timeout: plan.timeout,
            read_buffer: plan.expect.read_buffer(),
            clock: Cell::new(clock),
            load: Gauge::default(),
            probe: Gauge::default(),
            connect_slots: Semaphore::new(CONNECT_PARALLELISM),
            exhausted: Cell::new(false),
            stats: RefCell::new(Stats::new(open_loop)),
            pending: RefCell::new(Vec::new()),
        }
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
        self.pending.borrow_mut()[slot.0] = Some(Waiting { since, sent });
    }

    /// The connection at `slot` waits for nothing (its request was answered or failed, or
    /// it gave up connecting).
    pub(super) fn settled(&self, slot: Slot) {
        self.pending.borrow_mut()[slot.0] = None;
    }

    /// Counts a request unanswered at the window's end that had waited since `since`
    /// (intended send, open loop: a request still queued in the client).
    pub(super) fn censor(&self, since: Instant, sent: Option<Instant>) {
        let end = self.clock().window_end;
        self.stats.borrow_mut().censored(
            end.saturating_duration_since(since),
            sent.map(|sent| end.saturating_duration_since(sent)),
        );
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
    ) {
        let clock = self.clock();
        if clock.in_window(done) {
            self.stats
                .borrow_mut()
                .answered(clock.window_index(done), latency, uncorrected, bytes);
        }
    }

    /// Records a failed request, if it failed inside the window.
    pub(super) fn failed(&self, failure: Failure, at: Instant) {
        let clock = self.clock();
        if clock.in_window(at) {
            self.stats
                .borrow_mut()
                .failed(clock.window_index(at), failure);
        }
    }

    /// Timeouts counted so far.
    pub(super) fn timeouts(&self) -> u64 {
        self.stats.borrow().timeouts()
    }

    /// The report: `connections` open at the end, and why the level was not reached. Every
    /// request still pending is censored first, at the time it had waited when the window
    /// ended.
    pub(super) fn report(&self, connections: u64, not_reached: Option<String>) -> Measured {
        let end = self.clock().window_end;
        for waiting in self.pending.take().into_iter().flatten() {
            // Anything that began waiting only after the window is not the window's.
            if waiting.since < end {
                self.censor(waiting.since, waiting.sent);
            }
        }
        let stats = self.stats.borrow();
        if let Some((bad, count)) = stats.first_bad() {
            tracing::warn!(
                "load generator: {count} wrong answers from {}; the first: {bad}",
                self.target
            );
        }
        let clock = self.clock();
        let offset = clock.window_start.duration_since(clock.start);
        Measured {
            report: stats.report(clock.window(), offset, connections, not_reached),
            histogram_uncorrected: stats.uncorrected_histogram(),
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
    if !plan.body.is_empty() && !given("content-length") {
        head.push_str(&format!("Content-Length: {}\r\n", plan.body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&plan.body);
    bytes
}
