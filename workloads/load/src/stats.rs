//! What a step counts: answers, bytes, errors by class, and the latency histograms.
//!
//! The counts live in one [`Stats`] behind the step's `RefCell` (see [`super::step`]); the
//! step decides *whether* an event counts (inside the window or not) and this module only
//! adds it up, then turns the totals into a [`LoadReport`].
//!
//! # The histograms
//!
//! Latency goes into HDR histograms of microseconds, from 1 µs to [`HISTOGRAM_MAX_US`], with
//! [`HISTOGRAM_DIGITS`] significant digits: every value is kept to within 0.1 %, whatever its
//! magnitude, in a few tens of KiB. Recording is a few additions, so the hot path stays
//! cheap; a value above the top is recorded as the top (`saturating_record`) rather than
//! lost. The report carries the histogram serialized (HdrHistogram's V2 format), so that
//! histograms from several steps or hosts can be merged by addition later.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::answer::BadAnswer;
use super::connect::ConnectFailure;
use super::exchange::Failure;
use crate::wire::serialize_histogram as serialize;
use wb_model::results::{ErrorCounts, Latency, LoadReport, WINDOW_MS, Window};

/// Highest latency the histograms track, in microseconds (60 s); longer ones are recorded
/// as 60 s.
pub(super) const HISTOGRAM_MAX_US: u64 = 60_000_000;

/// Significant digits of the histograms: 0.1% resolution at every magnitude.
pub(super) const HISTOGRAM_DIGITS: u8 = 3;

/// Slots of [`Stats`]' count by status: 0 to 999.
const STATUS_SLOTS: usize = 1000;

/// Most short windows one step keeps: an hour of 200 ms windows (workload files allow ten
/// minutes a step).
const MAX_WINDOWS: usize = 18_000;

/// A histogram of microseconds, 1 µs to 60 s, 3 significant digits.
pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, HISTOGRAM_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Adds `from` into `into`. Histograms of the same bounds always add; should one not (a
/// bug), the loss is logged rather than silent.
fn add_histogram(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if let Err(err) = into.add(from) {
        tracing::warn!("load generator: cannot add a thread's latency histogram: {err:?}");
    }
}

/// A duration in whole microseconds, saturating (a histogram caps it anyway).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What the step counted.
pub(super) struct Stats {
    /// Latency of every counted answer: from the intended send in open loop, else from the
    /// send.
    latency: Histogram<u64>,
    /// Open loop only: latency from the actual send, the figure that hides queueing in the
    /// client (kept to show the difference).
    uncorrected: Option<Histogram<u64>>,
    /// Correct answers in the window.
    completed: u64,
    /// Requests still unanswered when the window ended, recorded in `latency` at the time
    /// they had waited ([`Stats::censored`]): all, and those that had waited at least as
    /// long as the slowest answer (`Latency::censored_late`).
    censored: Censored,
    /// Those recorded in `uncorrected` (sent, not queued in the client), the same way.
    censored_uncorrected: Censored,
    /// The slowest answer, µs (`latency`'s max, kept apart from the censored values).
    slowest: u64,
    /// The answers' median, µs, taken before the first censored request is recorded: the
    /// pace at which a closed loop's served clients asked (`None` inside: no answer at all).
    answered_median: Option<Option<u64>>,
    /// The slowest answer from its actual send, open loop.
    slowest_uncorrected: u64,
    /// Answer bytes (heads and bodies) in the window.
    bytes: u64,
    /// Errors by class.
    errors: ErrorCounts,
    /// Answers in the window by status, indexed by the status (100 to 999, as HTTP/1.1
    /// writes it in three digits): an array, so that counting costs one addition.
    statuses: Box<[u64]>,
    /// The first connect failure, to explain a level not reached.
    first_connect_failure: Option<ConnectFailure>,
    /// The first wrong answer, for the log: one example says more than a count.
    first_bad: Option<BadAnswer>,
    /// The measured window cut into [`WINDOW_MS`] windows, grown as answers arrive: what
    /// gives the step's figures their spread.
    windows: Vec<WindowStats>,
}

/// Censored requests, and how many histogram entries had waited at least as long as the
/// slowest answer (the late requests, and in a closed loop the requests a late client would
/// have sent meanwhile, see [`Stats::censored`]).
#[derive(Debug, Clone, Copy, Default)]
struct Censored {
    all: u64,
    late: u64,
    /// Entries added for the requests late clients could not send.
    synthetic: u64,
}

/// The most entries the closed loop's correction adds in one step: a bound on its work and
/// memory-free anyway (a histogram does not grow), about a million.
const MAX_SYNTHETIC: u64 = 1 << 20;

impl Censored {
    fn add(&mut self, other: Censored) {
        self.all += other.all;
        self.late += other.late;
        self.synthetic += other.synthetic;
    }

    /// Counts one that had waited `us`, when the slowest answer took `slowest` µs.
    fn count(&mut self, us: u64, slowest: u64) {
        self.all += 1;
        if us >= slowest {
            self.late += 1;
        }
    }

    /// `latency` (of a histogram holding these) with the counts.
    fn into(self, latency: Latency) -> Latency {
        Latency {
            censored: self.all,
            censored_late: self.late,
            late_requests: self.late - self.synthetic,
            ..latency
        }
    }
}

/// What one short window counted. Its histogram has two significant digits (1 % resolution):
/// enough for a window's p99, and a few KiB each.
struct WindowStats {
    answers: u64,
    errors: u64,
    latency: Histogram<u64>,
}

impl WindowStats {
    fn new() -> WindowStats {
        WindowStats {
            answers: 0,
            errors: 0,
            latency: Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 2)
                .expect("constant histogram bounds are valid"),
        }
    }
}

impl Stats {
    /// Nothing counted yet; `open_loop` adds the uncorrected histogram.
    pub(super) fn new(open_loop: bool) -> Stats {
        Stats {
            latency: new_histogram(),
            uncorrected: open_loop.then(new_histogram),
            completed: 0,
            censored: Censored::default(),
            censored_uncorrected: Censored::default(),
            slowest: 0,
            answered_median: None,
            slowest_uncorrected: 0,
            bytes: 0,
            errors: ErrorCounts::default(),
            statuses: vec![0; STATUS_SLOTS].into_boxed_slice(),
            first_connect_failure: None,
            first_bad: None,
            windows: Vec::new(),
        }
    }

    /// The short window at `index`, created (with the ones before it) when first used. An
    /// index past the step's end (a clock bug) is folded into the last plausible window
    /// rather than growing without bound.
    fn window(&mut self, index: usize) -> &mut WindowStats {
        let index = index.min(MAX_WINDOWS - 1);
        while self.windows.len() <= index {
            self.windows.push(WindowStats::new());
        }
        &mut self.windows[index]
    }

    /// Counts a correct answer of `bytes` bytes with `status`, in short window `window`.
    pub(super) fn answered(
        &mut self,
        window: usize,
        latency: Duration,
        uncorrected: Option<Duration>,
        bytes: u64,
        status: u16,
    ) {
        let w = self.window(window);
        w.answers += 1;
        w.latency.saturating_record(micros(latency));
        self.completed += 1;
        self.timed(latency, uncorrected, bytes, status);
    }

    /// Counts a whole answer with a status the step does not expect: timed (in the latency
    /// histograms, as wrk times every answer) and counted by status, but a
    /// [`bad_response`](ErrorCounts::bad_response), not a valid answer.
    pub(super) fn wrong_status(
        &mut self,
        window: usize,
        latency: Duration,
        uncorrected: Option<Duration>,
        bytes: u64,
        status: u16,
    ) {
        self.window(window).errors += 1;
        self.errors.bad_response += 1;
        self.first_bad.get_or_insert(BadAnswer::Status(status));
        self.timed(latency, uncorrected, bytes, status);
    }

    /// What every whole answer adds: its bytes, its status, its latency.
    fn timed(&mut self, latency: Duration, uncorrected: Option<Duration>, bytes: u64, status: u16) {
        if let Some(slot) = self.statuses.get_mut(usize::from(status)) {
            *slot += 1;
        }
        self.bytes += bytes;
        self.latency.saturating_record(micros(latency));
        self.slowest = self.slowest.max(micros(latency));
        if let (Some(histogram), Some(uncorrected)) = (self.uncorrected.as_mut(), uncorrected) {
            histogram.saturating_record(micros(uncorrected));
            self.slowest_uncorrected = self.slowest_uncorrected.max(micros(uncorrected));
        }
    }

    /// Counts a request still unanswered when the window ended (*censored*): it had waited
    /// `latency` by then (from its send, its connection attempt or its intended send), and
    /// `uncorrected` from its actual send if it was sent in an open loop. Both are recorded
    /// as they are, lower bounds of what it would have taken; no short window gets it (those
    /// count answers by the time they arrived).
    ///
    /// Censoring happens once every answer is in (at the report), so whether a request had
    /// waited longer than every answer is known when it is counted.
    pub(super) fn censored(&mut self, latency: Duration, uncorrected: Option<Duration>) {
        let us = micros(latency);
        self.censored.count(us, self.slowest);
        self.latency.saturating_record(us);
        // A closed loop's client that waited `us` without an answer is one request, but at
        // the pace the answered clients kept it would have sent `us / pace` of them, each
        // waiting at least from its turn: HdrHistogram's correction for coordinated omission
        // (`record_correct`), applied to the clients the server left waiting. Without it a
        // pool that serves 3 of 100 clients in 10 ms reads "p50 10 ms" from the 3 fast ones.
        // The open loop needs none: its requests are timed from their intended send.
        if self.uncorrected.is_none() && us > self.slowest {
            let pace = self.answered_median.get_or_insert_with(|| {
                (self.completed > 0).then(|| self.latency.value_at_quantile(0.5).max(1))
            });
            if let Some(pace) = *pace {
                let mut missed = us.saturating_sub(pace);
                while missed > self.slowest && self.censored.synthetic < MAX_SYNTHETIC {
                    self.latency.saturating_record(missed);
                    self.censored.late += 1;
                    self.censored.synthetic += 1;
                    missed = missed.saturating_sub(pace);
                }
            }
        }
        if let (Some(histogram), Some(uncorrected)) = (self.uncorrected.as_mut(), uncorrected) {
            histogram.saturating_record(micros(uncorrected));
            self.censored_uncorrected
                .count(micros(uncorrected), self.slowest_uncorrected);
        }
    }

    /// Adds another thread's counts of the same step (same timeline): histograms by
    /// addition, short windows bucket by bucket. Censoring comes after the merge (it needs the
    /// slowest answer of all), so `other` has censored nothing yet.
    pub(super) fn add(&mut self, other: &Stats) {
        add_histogram(&mut self.latency, &other.latency);
        if let (Some(mine), Some(theirs)) = (self.uncorrected.as_mut(), other.uncorrected.as_ref())
        {
            add_histogram(mine, theirs);
        }
        self.completed += other.completed;
        self.censored.add(other.censored);
        self.censored_uncorrected.add(other.censored_uncorrected);
        self.slowest = self.slowest.max(other.slowest);
        self.slowest_uncorrected = self.slowest_uncorrected.max(other.slowest_uncorrected);
        self.answered_median = None;
        self.bytes += other.bytes;
        self.errors.add(&other.errors);
        for (mine, theirs) in self.statuses.iter_mut().zip(other.statuses.iter()) {
            *mine += theirs;
        }
        if self.first_connect_failure.is_none() {
            self.first_connect_failure = other.first_connect_failure.clone();
        }
        self.first_bad = self.first_bad.or(other.first_bad);
        for (i, theirs) in other.windows.iter().enumerate() {
            let mine = self.window(i);
            mine.answers += theirs.answers;
            mine.errors += theirs.errors;
            add_histogram(&mut mine.latency, &theirs.latency);
        }
    }

    /// Counts a failed request.
    pub(super) fn failed(&mut self, window: usize, failure: Failure) {
        self.window(window).errors += 1;
        match failure {
            Failure::Reset => self.errors.reset += 1,
            Failure::Timeout => self.errors.timeout += 1,
            Failure::Bad(bad) => {
                self.errors.bad_response += 1;
                self.first_bad.get_or_insert(bad);
            }
        }
    }

    /// Counts a failed connection attempt (at any time: connect errors are not windowed).
    pub(super) fn connect_failed(&mut self, failure: ConnectFailure) {
        self.errors.connect += 1;
        if self.first_connect_failure.is_none() {
            tracing::debug!("load generator: first connect failure: {failure:?}");
            self.first_connect_failure = Some(failure);
        }
    }

    /// Counts a connection not even attempted (the open-files limit was hit before).
    pub(super) fn connect_skipped(&mut self) {
        self.errors.connect += 1;
    }

    /// Timeouts counted so far.
    pub(super) fn timeouts(&self) -> u64 {
        self.errors.timeout
    }

    /// The first connect failure, if any.
    pub(super) fn first_connect_failure(&self) -> Option<&ConnectFailure> {
        self.first_connect_failure.as_ref()
    }

    /// The first wrong answer and how many there were, if any.
    pub(super) fn first_bad(&self) -> Option<(BadAnswer, u64)> {
        self.first_bad.map(|bad| (bad, self.errors.bad_response))
    }

    /// The open loop's uncorrected histogram, serialized; empty for the other modes.
    pub(super) fn uncorrected_histogram(&self) -> Vec<u8> {
        self.uncorrected.as_ref().map(serialize).unwrap_or_default()
    }

    /// The latency histogram of each whole short window of a window `elapsed` long (the
    /// answers that arrived in it; empty where none did), for an interval log. Consumes the
    /// counts: the histograms are moved, not copied.
    pub(super) fn into_intervals(self, elapsed: Duration) -> Vec<Histogram<u64>> {
        let whole = ((elapsed.as_millis() / u128::from(WINDOW_MS)) as usize).min(MAX_WINDOWS);
        let mut windows = self.windows;
        windows.truncate(whole);
        let mut intervals: Vec<Histogram<u64>> = windows.into_iter().map(|w| w.latency).collect();
        while intervals.len() < whole {
            intervals.push(WindowStats::new().latency);
        }
        intervals
    }

    /// The report of a window `elapsed` long, with `connections` open at its end and why the
    /// level was not reached.
    /// `offset` is where the window began after the step's start (its warm-up), so that
    /// each short window's time reads on the sampler's clock.
    pub(super) fn report(
        &self,
        elapsed: Duration,
        offset: Duration,
        connections: u64,
        not_reached: Option<String>,
    ) -> LoadReport {
        // Every short window of the measured window, the empty ones too (a stalled server
        // answers nothing for a while: that is data), but not a partial last one.
        let whole = (elapsed.as_millis() / u128::from(WINDOW_MS)) as usize;
        let offset_ms = offset.as_millis() as u64;
        let windows = (0..whole.min(MAX_WINDOWS))
            .map(|i| {
                let at_ms = offset_ms + i as u64 * WINDOW_MS;
                match self.windows.get(i) {
                    Some(w) => Window {
                        at_ms,
                        answers: w.answers,
                        errors: w.errors,
                        p50_us: w.latency.value_at_quantile(0.5),
                        p99_us: w.latency.value_at_quantile(0.99),
                    },
                    None => Window {
                        at_ms,
                        ..Window::default()
                    },
                }
            })
            .collect();
        LoadReport {
            elapsed_secs: elapsed.as_secs_f64(),
            completed: self.completed,
            errors: self.errors,
            censored: self.censored.all,
            latency: self.censored.into(Latency::from_histogram(&self.latency)),
            latency_uncorrected: self
                .uncorrected
                .as_ref()
                .map(|h| self.censored_uncorrected.into(Latency::from_histogram(h))),
            histogram: serialize(&self.latency),
            connections,
            not_reached,
            bytes_received: self.bytes,
            status_codes: self
                .statuses
                .iter()
                .enumerate()
                .filter(|&(_, &n)| n > 0)
                .map(|(code, &n)| (code as u16, n))
                .collect(),
            windows,
            hosts: Vec::new(),
        }
    }
}
