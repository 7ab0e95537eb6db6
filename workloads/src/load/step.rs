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

use super::answer::AnswerReader;
use super::clock::Clock;
use super::connect::Gauge;
use super::exchange::Failure;
use super::stats::Stats;
use super::{CONNECT_PARALLELISM, Expectation, LoadPlan};
use crate::results::LoadReport;

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
    /// Bounds connection attempts in flight, so that thousands of connections do not
    /// overflow the server's accept queue.
    pub(super) connect_slots: Semaphore,
    /// Set when the open-files (or port) limit was hit: later attempts are not even made.
    pub(super) exhausted: Cell<bool>,
    /// What was counted.
    pub(super) stats: RefCell<Stats>,
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
            stats: RefCell::new(Stats::new(open_loop)),
        }
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
        if self.clock().in_window(done) {
            self.stats
                .borrow_mut()
                .answered(latency, uncorrected, bytes);
        }
    }

    /// Records a failed request, if it failed inside the window.
    pub(super) fn failed(&self, failure: Failure, at: Instant) {
        if self.clock().in_window(at) {
            self.stats.borrow_mut().failed(failure);
        }
    }

    /// Timeouts counted so far.
    pub(super) fn timeouts(&self) -> u64 {
        self.stats.borrow().timeouts()
    }

    /// The report: `connections` open at the end, and why the level was not reached.
    pub(super) fn report(&self, connections: u64, not_reached: Option<String>) -> LoadReport {
        let stats = self.stats.borrow();
        if let Some((bad, count)) = stats.first_bad() {
            tracing::warn!(
                "load generator: {count} wrong answers from {}; the first: {bad}",
                self.target
            );
        }
        stats.report(self.clock().window(), connections, not_reached)
    }
}
