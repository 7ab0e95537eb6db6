//! Progress bars for a run in the terminal: one for the whole run, one for the current step,
//! and a line per finished step printed above them. An [`Observer`] like the store.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use wb_model::results::RunStatus;
use wb_runner::{Observer, RunEvent};

use super::table::rate;

/// Draws a run's progress on stderr.
pub struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
    step: ProgressBar,
}

impl Progress {
    /// Bars for a run of `total` steps taking about `estimated_secs`.
    pub fn new(total: usize, estimated_secs: f64) -> Progress {
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "run   [{bar:40.cyan/blue}] {pos}/{len} steps, {elapsed} of ~{msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        overall.set_message(format!("{:.0} s", estimated_secs));
        let step = multi.add(ProgressBar::new(1000));
        step.set_style(
            ProgressStyle::with_template("step  [{bar:40.green/white}] {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Progress {
            multi,
            overall,
            step,
        }
    }
}

impl Progress {
    /// A line above the bars; on a terminal-less stderr (a pipe, CI), where indicatif draws
    /// nothing, a plain line, so the log still shows each step.
    fn say(&self, line: String) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

impl Observer for Progress {
    fn event(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { calibration, .. } => {
                self.say(format!(
                    "CPU kernel calibrated: {:.1} SHA-256 rounds per µs on this machine",
                    calibration.rounds_per_us
                ));
            }
            RunEvent::StepStarted {
                engine,
                workload,
                level,
                ..
            } => {
                self.step.set_position(0);
                self.step.set_message(format!(
                    "{engine} · {} · {level} {}",
                    workload.name,
                    workload.level_unit()
                ));
            }
            RunEvent::StepProgress { fraction } => {
                self.step
                    .set_position((fraction.clamp(0.0, 1.0) * 1000.0) as u64);
            }
            RunEvent::StepFinished { step, .. } => {
                self.overall.inc(1);
                self.step.set_position(1000);
                let line = match (&step.failure, &step.flags.not_supported) {
                    (Some(why), _) => format!(
                        "  {:<12} {:<12} {:>6}  FAILED: {why}",
                        step.engine, step.workload, step.level
                    ),
                    // A peer without the route, or a database workload without PostgreSQL.
                    (None, Some(why)) => format!(
                        "  {:<12} {:<12} {:>6}  not measured: {why}",
                        step.engine, step.workload, step.level
                    ),
                    (None, None) => format!(
                        "  {:<12} {:<12} {:>6}  {:>8} req/s  p99 {:>9}  cores {:.2}  client {:.2}{}{}",
                        step.engine,
                        step.workload,
                        step.level,
                        rate(step.derived.throughput_rps),
                        wb_reports::format::latency(&step.load.latency, "p99"),
                        step.derived.engine_cores,
                        step.derived.client_cores,
                        // A database workload: the PostgreSQL processes' CPU beside the engine's.
                        step.derived
                            .database_cores
                            .map(|cores| format!("  database {cores:.2}"))
                            .unwrap_or_default(),
                        step.flags
                            .level_not_reached
                            .as_ref()
                            .map(|w| format!("  (level not reached: {w})"))
                            .unwrap_or_default()
                    ),
                };
                self.say(line);
            }
            RunEvent::EngineDescribed { .. } => {}
            RunEvent::StepTraced { trace } => self.say(format!(
                "  timeline: {} on {} at {}, {} spans kept of {}",
                trace.engine,
                trace.workload,
                trace.level,
                trace.spans.len(),
                trace.recorded
            )),
            RunEvent::RunFinished { status, message } => {
                self.step.finish_and_clear();
                match status {
                    RunStatus::Completed => self.overall.finish(),
                    _ => self.overall.abandon_with_message(format!(
                        "{}: {}",
                        status.as_str(),
                        message.unwrap_or("")
                    )),
                }
            }
        }
    }
}
