//! CPU calibration: how many rounds of the protocol's CPU kernel this machine runs per
//! microsecond.
//!
//! Workloads ask for CPU work in microseconds (`cpu_us = 500`), but a request carries
//! rounds of the kernel (`cpu_rounds=…`), so that every engine does exactly the same work and
//! the answer's digest can prove it. The runner times the kernel once per run, on the
//! load generator's side of the machine, and turns microseconds into rounds with the result;
//! the run keeps its [`Calibration`] so that a reader can tell what "500 µs" meant there.

use std::time::{Duration, Instant};

use wb_model::results::Calibration;

/// Times the CPU kernel on this machine for about 200 ms and returns its speed.
pub fn calibrate() -> Calibration {
    let started = Instant::now();
    let mut rounds = 0u64;
    let mut batch = 1000u64;
    while started.elapsed() < Duration::from_millis(200) {
        std::hint::black_box(wb_protocol::kernel::cpu_kernel(std::hint::black_box(batch)));
        rounds += batch;
        batch = (batch * 2).min(50_000);
    }
    let secs = started.elapsed().as_secs_f64();
    Calibration {
        rounds_per_us: rounds as f64 / (secs * 1e6),
        rounds_timed: rounds,
        secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_measures_a_positive_speed() {
        let c = calibrate();
        assert!(c.rounds_per_us > 0.0 && c.rounds_timed > 0);
    }
}
