//! The step's timeline: a warm-up, then the measured window, and the progress ticks.
//!
//! Every mode builds one [`Clock`] when its step starts (idle mode moves it once its
//! connections are open) and asks it whether an answer belongs to the window. The window is
//! half-open, `[window_start, window_end)`: an answer whose last byte arrives at
//! `window_end` is censored, not counted as an answer.

use std::time::{Duration, Instant};

use super::{PROGRESS_INTERVAL, Stop};
use wb_model::results::WINDOW_MS;

/// Longest warm-up or window honoured, so that no `Instant` arithmetic can overflow on a
/// nonsensical plan (workload files allow ten minutes).
const LONGEST_PHASE: Duration = Duration::from_secs(24 * 3600);

/// The step's timeline: warm-up from `start` to `window_start`, then the measured window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    /// When the step (its warm-up) began.
    pub(super) start: Instant,
    /// When measuring begins.
    pub(super) window_start: Instant,
    /// When measuring ends; requests still pending are censored then.
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

    /// Which short window ([`WINDOW_MS`]) of the measured window `t` falls in.
    pub(super) fn window_index(&self, t: Instant) -> usize {
        (t.saturating_duration_since(self.window_start).as_millis() / u128::from(WINDOW_MS))
            as usize
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

/// How often [`tick_until`] looks whether the step was stopped early: a Ctrl-C ends the
/// window within this long.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Calls `progress` every [`PROGRESS_INTERVAL`] until the clock's window ends, or `stop`
/// is given.
pub(super) async fn tick_until(clock: Clock, progress: &(dyn Fn(f64) + Sync), stop: &Stop) {
    let mut next_progress = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_progress {
            progress(clock.fraction(now));
            next_progress = now + PROGRESS_INTERVAL;
        }
        if now >= clock.window_end || stop.at().is_some() {
            return;
        }
        sleep_until((now + STOP_POLL).min(clock.window_end)).await;
    }
}

/// Sleeps until a `std` instant on tokio's timer (millisecond resolution).
pub(super) async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline.into()).await;
}
