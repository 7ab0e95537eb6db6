//! The events of a run, and who listens to them.
//!
//! The runner knows nothing of SQLite, terminals or browsers: it reports each event of a run
//! (run started, step started, progress, step finished with its results, run finished) to an
//! [`Observer`]. The store, the terminal's progress bars and the dashboard's live page are
//! three observers of one stream, wired together by the binary, so a new front end never
//! touches the runner. The events live here, with the data they carry, so an observer (the
//! store in `wb-reports`) needs the model and nothing that measures.

use crate::results::{Calibration, MachineFacts, RunConfig, RunStatus, StepResult};
use crate::spec::Workload;

/// One event of a run, in order.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The run begins.
    RunStarted {
        /// What it will do.
        config: &'a RunConfig,
        /// Where.
        machine: &'a MachineFacts,
        /// The CPU kernel's measured speed.
        calibration: &'a Calibration,
    },
    /// A level begins.
    StepStarted {
        /// 0-based index among all steps of the run.
        index: usize,
        /// Steps in the run.
        total: usize,
        /// The engine's label.
        engine: &'a str,
        /// The workload.
        workload: &'a Workload,
        /// The level.
        level: u64,
    },
    /// Progress within the current step, 0.0 to 1.0.
    StepProgress {
        /// Fraction done.
        fraction: f64,
    },
    /// A level ended (or failed: see [`StepResult::failure`]).
    StepFinished {
        /// 0-based index among all steps of the run.
        index: usize,
        /// Steps in the run.
        total: usize,
        /// What it measured.
        step: &'a StepResult,
    },
    /// What one connection holds in an engine of the run, as the engine measured it
    /// (`workbench engine <name> --describe`), once per engine at the start of a local run.
    EngineDescribed {
        /// The engine's label in the run.
        engine: &'a str,
        /// Its description.
        description: &'a crate::describe::Description,
    },
    /// The traced window of a step (a run with a traced run (`wb_runner::Runner::trace`)), right after that step's
    /// [`RunEvent::StepFinished`].
    StepTraced {
        /// The spans, cut to a window.
        trace: &'a crate::trace::Trace,
    },
    /// The run ended.
    RunFinished {
        /// How.
        status: RunStatus,
        /// Why, for anything but a clean completion.
        message: Option<&'a str>,
    },
}

/// Something that wants to know how a run goes.
pub trait Observer {
    /// Called for every event, on the runner's thread, in order. Keep it quick.
    fn event(&mut self, event: &RunEvent<'_>);
}

/// Several observers as one.
impl Observer for Vec<&mut dyn Observer> {
    fn event(&mut self, event: &RunEvent<'_>) {
        for observer in self.iter_mut() {
            observer.event(event);
        }
    }
}
