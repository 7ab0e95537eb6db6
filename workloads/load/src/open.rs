//! Open loop: requests due at a constant rate, dispatched onto a pool of keep-alive
//! connections that grows when every connection is busy, up to the plan's cap.
//!
//! Request `i` is due at `start + i/R`. The arrivals are two counters, not a queue of
//! timestamps: `issued` requests have fallen due, `taken` of them were picked up by a
//! connection, so the requests waiting in the client are `taken..issued` and the intended
//! send time of each is computed from its number. A server that stalls for a minute at a
//! million requests per second costs the generator sixteen bytes, not a queue of sixty
//! million entries.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::spawn_local;

use super::LoadPlan;
use super::answer::AnswerReader;
use super::clock::tick_until;
use super::connect::{Retry, keep_until_reported};
use super::exchange::{Next, request};
use super::step::Shared;
use super::step::{Ctx, Part};
use super::timer::Timer;
use wb_model::spec::MAX_RATE;

/// Shortest sleep of the dispatcher. Above 10 000 requests per second, due requests are
/// handed out in batches every 100 µs rather than one wake-up each: a request then leaves at
/// most 100 µs late, and the dispatcher wakes at most 10 000 times a second.
const DISPATCH_MIN_SLEEP: Duration = Duration::from_micros(100);

/// Most connections being opened at once. Enough to grow the pool quickly when the server
/// slows down, few enough that a refusing port costs tens of attempts per second, not
/// thousands.
const MAX_OPENING: u64 = 64;

/// The arrival schedule and the pool's bookkeeping.
struct Arrivals {
    /// When request 0 is due.
    start: Instant,
    /// Requests per second.
    rate: f64,
    /// Requests that have fallen due.
    issued: Cell<u64>,
    /// Requests a connection has picked up.
    taken: Cell<u64>,
    /// Connections waiting for a request, not yet woken.
    idle: Cell<u64>,
    /// Connection tasks alive.
    pool: Cell<u64>,
    /// Connection tasks opening a connection.
    opening: Cell<u64>,
    /// Most connection tasks: the plan's cap, lowered if the open-files limit is hit.
    cap: Cell<u64>,
    /// Wakes one idle connection per due request.
    wake: Notify,
}

impl Arrivals {
    /// `rate` arrivals a second from `start`, with at most `cap` connections open.
    fn new(start: Instant, rate: u64, cap: u64) -> Arrivals {
        Arrivals {
            start,
            rate: rate as f64,
            issued: Cell::new(0),
            taken: Cell::new(0),
            idle: Cell::new(0),
            pool: Cell::new(0),
            opening: Cell::new(0),
            cap: Cell::new(cap),
            wake: Notify::new(),
        }
    }

    /// The intended send time of request `i`.
    fn intended(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How many requests are due by `now`: request `i` is due once `i/R` has elapsed, that
    /// is once `now` reaches [`Arrivals::intended`]`(i)`, exactly: the estimate from the
    /// elapsed time is corrected by the nanosecond rounding of the intended times, so that a
    /// dispatcher woken at a request's intended time finds it due.
    fn due_by(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        let mut due = (elapsed * self.rate).floor() as u64 + 1;
        while self.intended(due) <= now {
            due += 1;
        }
        while due > 1 && self.intended(due - 1) > now {
            due -= 1;
        }
        due
    }

    /// The next waiting request's intended send time, if one is waiting.
    fn take(&self) -> Option<Instant> {
        let i = self.taken.get();
        if i < self.issued.get() {
            self.taken.set(i + 1);
            Some(self.intended(i))
        } else {
            None
        }
    }
}

/// Runs an open loop at `plan.level` requests per second.
pub(super) async fn run(plan: &LoadPlan, ctx: &Ctx, progress: &(dyn Fn(f64) + Sync)) -> Part {
    let clock = ctx.clock(plan);
    let shared = Rc::new(Shared::new(plan, ctx, clock, true));
    let rate = plan.level.min(MAX_RATE);
    let arrivals = (rate > 0).then(|| {
        let arrivals = Rc::new(Arrivals::new(
            clock.start + ctx.phase,
            rate,
            plan.max_connections.clamp(1, super::MAX_LEVEL_CONNECTIONS),
        ));
        spawn_local(dispatch(Rc::clone(&shared), Rc::clone(&arrivals)));
        arrivals
    });
    tick_until(clock, progress, &ctx.stop).await;
    let clock = shared.finish_clock();
    if let Some(arrivals) = &arrivals {
        // Requests due by the window's end that no connection took are queued in the
        // client, unanswered: censored from their intended times (never sent, so not in the
        // uncorrected histogram). Those a connection took are censored by the report.
        for i in arrivals.taken.get()..arrivals.due_by(clock.window_end) {
            shared.unsent(arrivals.intended(i));
        }
    }
    let not_reached = if plan.level > MAX_RATE {
        Some(format!(
            "rate {} is above the generator's {MAX_RATE} requests per second; {MAX_RATE} was used",
            plan.level
        ))
    } else {
        // A rate has no connection count to reach; a connection that could not be opened
        // still means the arrivals were not served as planned.
        shared.connect_failure(shared.load.peak(), None)
    };
    shared.finish(shared.load.now(), not_reached)
}

/// Hands each due request to an idle connection, or opens a new one, or leaves it waiting.
async fn dispatch(shared: Rc<Shared>, arrivals: Rc<Arrivals>) {
    let end = shared.clock().window_end;
    let timer = Timer::new();
    loop {
        let now = Instant::now();
        if now >= end {
            return;
        }
        let due = arrivals.due_by(now);
        while arrivals.issued.get() < due {
            arrivals.issued.set(arrivals.issued.get() + 1);
            if arrivals.idle.get() > 0 {
                // Claim one idle connection for this request; it is no longer idle even
                // before it runs, so the next request does not count on it too.
                arrivals.idle.set(arrivals.idle.get() - 1);
                arrivals.wake.notify_one();
            } else if arrivals.pool.get() < arrivals.cap.get()
                && arrivals.opening.get() < MAX_OPENING
            {
                arrivals.pool.set(arrivals.pool.get() + 1);
                arrivals.opening.set(arrivals.opening.get() + 1);
                spawn_local(connection(Rc::clone(&shared), Rc::clone(&arrivals)));
            }
            // Otherwise the request waits in the client until a connection is free; its
            // latency is still counted from its intended time.
        }
        let next = arrivals.intended(arrivals.issued.get());
        timer
            .sleep_until(next.max(now + DISPATCH_MIN_SLEEP).min(end))
            .await;
    }
}

/// One connection of the pool: takes waiting requests until there are none, then waits to
/// be woken. Reopens itself after an error.
async fn connection(shared: Rc<Shared>, arrivals: Rc<Arrivals>) {
    let end = shared.clock().window_end;
    let mut reader = AnswerReader::new(shared.read_buffer);
    // The request this connection took and is waiting for, censored if the window ends
    // first.
    let slot = shared.slot();
    // The dispatcher counted this task as opening.
    let mut counted_opening = true;
    loop {
        if !counted_opening {
            arrivals.opening.set(arrivals.opening.get() + 1);
        }
        let conn = shared
            .connect(&shared.load, end, Retry::UntilDeadline, None)
            .await;
        arrivals
            .opening
            .set(arrivals.opening.get().saturating_sub(1));
        counted_opening = false;
        let Some(mut conn) = conn else {
            arrivals.pool.set(arrivals.pool.get().saturating_sub(1));
            if shared.exhausted() {
                // No more descriptors: do not let the dispatcher try to grow the pool.
                arrivals.cap.set(arrivals.pool.get());
            }
            return;
        };
        loop {
            let Some(intended) = arrivals.take() else {
                arrivals.idle.set(arrivals.idle.get() + 1);
                arrivals.wake.notified().await;
                continue;
            };
            match request(
                &shared,
                &mut conn,
                &mut reader,
                None,
                Some(intended),
                end,
                slot,
            )
            .await
            {
                Next::Again if !shared.keepalive => break,
                Next::Again => {}
                Next::Reconnect => break,
                Next::Keep => return keep_until_reported(conn).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrivals(rate: u64, start: Instant) -> Arrivals {
        Arrivals::new(start, rate, 1)
    }

    /// The schedule, not the timing: request `i` falls due at its own intended time, the
    /// intended times are `1/R` apart, and however late and irregular the dispatcher's
    /// wake-ups are, the requests due by the end of a window are the rate times its length.
    /// Lateness delays requests (the corrected latency counts it); it never loses them.
    #[test]
    fn the_schedule_keeps_its_rate_however_the_dispatcher_wakes() {
        let start = Instant::now();
        for rate in [1, 10, 500, 1_000, 10_000, 33_333, 50_000, MAX_RATE] {
            let a = arrivals(rate, start);
            let gap = Duration::from_secs_f64(1.0 / rate as f64);
            for i in [0, 1, 2, 7, rate - 1, rate, 3 * rate + 1] {
                let at = a.intended(i);
                assert_eq!(
                    a.due_by(at),
                    i + 1,
                    "rate {rate}: request {i} due at its time"
                );
                let spacing = a.intended(i + 1) - at;
                assert!(
                    spacing.abs_diff(gap) <= Duration::from_nanos(1),
                    "rate {rate}: {spacing:?} between requests {i} and {}",
                    i + 1
                );
            }
            // The dispatcher as it runs: wake at the next due time but no sooner than
            // DISPATCH_MIN_SLEEP, issue what is due, plus a lateness that varies from 0 to
            // 730 µs (the kernel's wake-up latency, a busy core).
            let window = Duration::from_secs(5);
            let end = start + window;
            let mut now = start;
            let mut wakes = 0u64;
            while now < end {
                let due = a.due_by(now);
                while a.issued.get() < due {
                    a.issued.set(a.issued.get() + 1);
                }
                let next = a.intended(a.issued.get());
                let late = Duration::from_micros((wakes * 37) % 731);
                now = next.max(now + DISPATCH_MIN_SLEEP).min(end) + late;
                wakes += 1;
            }
            let issued = a.issued.get().min(a.due_by(end));
            let wanted = rate * window.as_secs();
            let error = issued.abs_diff(wanted) as f64 / wanted as f64;
            assert!(
                error <= 0.01,
                "rate {rate}: {issued} requests due in {window:?}, wanted {wanted}"
            );
            // Batching bounds the wake-ups: at most one per DISPATCH_MIN_SLEEP.
            assert!(
                wakes <= window.as_micros() as u64 / 100 + 1,
                "rate {rate}: {wakes} wake-ups"
            );
        }
    }

    #[test]
    fn waiting_requests_are_taken_in_order_with_their_intended_times() {
        let start = Instant::now();
        let a = arrivals(1_000, start);
        assert_eq!(a.take(), None, "nothing due yet");
        a.issued.set(3);
        assert_eq!(a.take(), Some(start));
        assert_eq!(a.take(), Some(start + Duration::from_millis(1)));
        assert_eq!(a.take(), Some(start + Duration::from_millis(2)));
        assert_eq!(a.take(), None);
    }
}
