//! Derived figures and flags: what a step's raw measurements mean.
//!
//! The load generator reports counts and a histogram; the sampler reports a series of
//! `/proc` readings. [`derive()`] turns both into the figures the tables and charts show —
//! throughput, memory means and peaks, cores used by the engine and by the client, context
//! switches per second — using only the samples of the measured window. [`flags_for`] then
//! names what a reader should be warned about: a saturated client, a closed loop whose
//! numbers break Little's law, a level not reached.
//!
//! [`StepResult::measured`] does all of it for one level, and is the one place a measured step
//! is built, whether it ran here, on hosts, or from a client measured alone (`load --save`).

use crate::results::{Derived, Flags, LoadReport, Sample, StepResult};
use crate::spec::{Mode, Workload};
use std::time::Duration;

/// How often the sampler reads `/proc` during a step: the width of a step's windows.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// Above this many cores the load generator is called saturated.
pub const CLIENT_SATURATED_CORES: f64 = 0.9;
/// Little's law (connections = throughput × mean latency) may be off by this fraction
/// before a closed-loop step is flagged.
pub const LITTLES_LAW_TOLERANCE: f64 = 0.2;

/// Derives a step's figures from its load report and samples. Samples taken during the
/// warm-up (before `warmup_ms`) are left out of means and rates; with too few samples in the
/// window, the whole step is used.
pub fn derive(report: &LoadReport, samples: &[Sample], warmup_ms: u64) -> Derived {
    let window: Vec<&Sample> = {
        let w: Vec<&Sample> = samples.iter().filter(|s| s.at_ms >= warmup_ms).collect();
        if w.len() >= 2 {
            w
        } else {
            samples.iter().collect()
        }
    };
    let mut derived = Derived {
        throughput_rps: if report.elapsed_secs > 0.0 {
            report.completed as f64 / report.elapsed_secs
        } else {
            0.0
        },
        ..Derived::default()
    };
    let (Some(first), Some(last)) = (window.first(), window.last()) else {
        return derived;
    };
    let n = window.len() as u64;
    derived.peak_pss_bytes = window.iter().map(|s| s.pss_bytes).max().unwrap_or(0);
    derived.mean_pss_bytes = window.iter().map(|s| s.pss_bytes).sum::<u64>() / n;
    derived.peak_rss_bytes = window.iter().map(|s| s.rss_bytes).max().unwrap_or(0);
    derived.mean_rss_bytes = window.iter().map(|s| s.rss_bytes).sum::<u64>() / n;
    derived.peak_vsz_bytes = window.iter().map(|s| s.vsz_bytes).max().unwrap_or(0);
    derived.threads_max = window.iter().map(|s| s.threads).max().unwrap_or(0);
    derived.tcp_mem_bytes = last.tcp_mem_bytes;
    derived.slab_unreclaim_bytes = last.slab_unreclaim_bytes;
    derived.kernel_stack_bytes = last.kernel_stack_bytes;
    let secs = last.at_ms.saturating_sub(first.at_ms) as f64 / 1000.0;
    if secs > 0.0 {
        let cpu = |s: &Sample| s.cpu_user_secs + s.cpu_system_secs;
        derived.engine_cores = (cpu(last) - cpu(first)).max(0.0) / secs;
        derived.client_cores = (last.client_cpu_secs - first.client_cpu_secs).max(0.0) / secs;
        // Context switches are counted per thread and vanish with a thread that exits (a
        // connection thread when its client leaves), so the total can fall between two
        // samples: add up only the rises.
        let switches = |s: &Sample| s.ctx_voluntary + s.ctx_involuntary;
        let rises: u64 = window
            .windows(2)
            .map(|w| switches(w[1]).saturating_sub(switches(w[0])))
            .sum();
        derived.ctx_switches_per_sec = rises as f64 / secs;
    }
    derived
}

/// The step's warnings.
pub fn flags_for(mode: Mode, level: u64, report: &LoadReport, derived: &Derived) -> Flags {
    let littles_law_off = mode == Mode::Closed && level > 0 && report.latency.count > 0 && {
        let predicted = derived.throughput_rps * report.latency.mean_us / 1e6;
        ((predicted - level as f64) / level as f64).abs() > LITTLES_LAW_TOLERANCE
    };
    Flags {
        client_saturated: derived.client_cores > CLIENT_SATURATED_CORES,
        littles_law_off,
        level_not_reached: report.not_reached.clone(),
        not_supported: None,
    }
}

/// What the client side of a step used, when it is not the sampler's reading of this
/// process: load generators on other hosts (the busiest host says whether a client saturated,
/// the sum is the client's cost per answer), or a client measured by itself (`load --save`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientCpu {
    /// The busiest load generator's cores.
    pub busiest_cores: f64,
    /// All load generators' cores together.
    pub total_cores: f64,
}

/// Everything one level measured, before any figure is derived from it.
#[derive(Debug, Clone)]
pub struct Measured<'a> {
    /// The engine's (or peer's) label.
    pub engine: &'a str,
    /// The workload's name.
    pub workload: &'a str,
    /// The workload's mode.
    pub mode: Mode,
    /// The level.
    pub level: u64,
    /// The load generator's report (merged across hosts).
    pub load: LoadReport,
    /// The sampler's readings of the engine's process tree.
    pub samples: Vec<Sample>,
    /// When the measured window began, in the samples' clock.
    pub warmup_ms: u64,
    /// The client's CPU when the samples do not carry it.
    pub client: Option<ClientCpu>,
    /// What went wrong, if anything did.
    pub failure: Option<String>,
}

/// The database's figures for a step: its process tree's `samples` (taken beside the
/// engine's, on the same clock) read as [`derive()`] reads an engine's. Sets
/// [`Derived::database_cores`] and [`Derived::database_peak_pss_bytes`] on `step`; nothing
/// without two samples.
pub fn add_database(step: &mut StepResult, samples: &[Sample], warmup_ms: u64) {
    if samples.len() < 2 {
        return;
    }
    let database = derive(&step.load, samples, warmup_ms);
    step.derived.database_cores = Some(database.engine_cores);
    step.derived.database_peak_pss_bytes = Some(database.peak_pss_bytes);
}

impl StepResult {
    /// The database's CPU time per valid answer, microseconds (a database workload's
    /// [`Derived::database_cores`] over its throughput), beside
    /// [`Estimates::engine_us_per_request`](crate::results::Estimates::engine_us_per_request).
    pub fn database_us_per_request(&self) -> Option<f64> {
        let cores = self.derived.database_cores?;
        (self.derived.throughput_rps > 0.0).then(|| cores / self.derived.throughput_rps * 1e6)
    }

    /// A measured step: its figures derived, their intervals estimated and its flags raised,
    /// the same way wherever the step ran. Every measured step is built here.
    pub fn measured(m: Measured<'_>) -> StepResult {
        let mut derived = derive(&m.load, &m.samples, m.warmup_ms);
        if let Some(client) = m.client {
            derived.client_cores = client.busiest_cores;
        }
        let mut estimates = crate::spread::estimates(&derived, &m.load, &m.samples);
        if let Some(client) = m.client {
            estimates.client_us_per_request = (derived.throughput_rps > 0.0
                && client.total_cores > 0.0)
                .then(|| client.total_cores / derived.throughput_rps * 1e6);
        }
        let flags = flags_for(m.mode, m.level, &m.load, &derived);
        StepResult {
            engine: m.engine.to_string(),
            workload: m.workload.to_string(),
            mode: m.mode,
            level: m.level,
            load: m.load,
            samples: m.samples,
            derived,
            flags,
            failure: m.failure,
            estimates,
            repeat: 0,
            facts: None,
            syscalls: None,
        }
    }

    /// A step of `workload` at `level` on `engine` with nothing measured yet: the start of
    /// a step that failed ([`StepResult::failed`]), and of tests' and fixtures' steps.
    pub fn of(engine: &str, workload: &Workload, level: u64) -> StepResult {
        StepResult {
            engine: engine.to_string(),
            workload: workload.name.clone(),
            mode: workload.mode,
            level,
            ..StepResult::default()
        }
    }

    /// A step that measured nothing, and why: the engine did not start or had exited.
    pub fn failed(engine: &str, workload: &Workload, level: u64, why: String) -> StepResult {
        StepResult {
            failure: Some(why),
            ..StepResult::of(engine, workload, level)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Latency;

    fn sample(at_ms: u64, cpu: f64, client: f64, pss: u64, switches: u64) -> Sample {
        Sample {
            at_ms,
            cpu_user_secs: cpu,
            client_cpu_secs: client,
            pss_bytes: pss,
            rss_bytes: pss * 2,
            vsz_bytes: pss * 10,
            ctx_voluntary: switches,
            threads: 3,
            ..Sample::default()
        }
    }

    #[test]
    fn derived_figures_use_the_window_after_warm_up() {
        let report = LoadReport {
            elapsed_secs: 2.0,
            completed: 1000,
            ..LoadReport::default()
        };
        let samples = [
            sample(0, 0.0, 0.0, 999_999, 0),
            sample(500, 0.5, 0.1, 100, 100),
            sample(1500, 1.5, 0.6, 300, 1100),
            sample(2500, 2.5, 1.1, 200, 2100),
        ];
        let d = derive(&report, &samples, 500);
        assert_eq!(d.throughput_rps, 500.0);
        assert_eq!(d.peak_pss_bytes, 300);
        assert_eq!(d.mean_pss_bytes, 200);
        assert_eq!(d.peak_rss_bytes, 600);
        assert_eq!(d.peak_vsz_bytes, 3000);
        assert!((d.engine_cores - 1.0).abs() < 1e-9);
        assert!((d.client_cores - 0.5).abs() < 1e-9);
        assert!((d.ctx_switches_per_sec - 1000.0).abs() < 1e-9);
        assert_eq!(d.threads_max, 3);
    }

    #[test]
    fn context_switches_of_exited_threads_do_not_cancel_the_rate() {
        // 1000 switches in the first second, then the threads that made them exit.
        let samples = [
            sample(0, 0.0, 0.0, 1, 0),
            sample(1000, 0.0, 0.0, 1, 1000),
            sample(2000, 0.0, 0.0, 1, 10),
        ];
        let d = derive(&LoadReport::default(), &samples, 0);
        assert!((d.ctx_switches_per_sec - 500.0).abs() < 1e-9);
    }

    #[test]
    fn flags_follow_their_rules() {
        let mut report = LoadReport {
            latency: Latency {
                count: 10,
                mean_us: 10_000.0,
                ..Latency::default()
            },
            ..LoadReport::default()
        };
        // 100 connections at 10 ms each: Little's law predicts 10 000 req/s.
        let derived = Derived {
            throughput_rps: 10_000.0,
            client_cores: 0.5,
            ..Derived::default()
        };
        let ok = flags_for(Mode::Closed, 100, &report, &derived);
        assert_eq!(ok, Flags::default());
        let slow = Derived {
            throughput_rps: 5_000.0,
            client_cores: 0.95,
            ..derived
        };
        let flagged = flags_for(Mode::Closed, 100, &report, &slow);
        assert!(flagged.littles_law_off && flagged.client_saturated);
        // Little's law is a closed-loop check only.
        assert!(!flags_for(Mode::Open, 100, &report, &slow).littles_law_off);
        report.not_reached = Some("open-files limit".into());
        assert_eq!(
            flags_for(Mode::Idle, 100, &report, &derived).level_not_reached,
            Some("open-files limit".into())
        );
    }
}
