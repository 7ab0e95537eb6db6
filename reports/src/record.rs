//! The store as a run's observer: [`Recorder`] writes each event of a run the moment it
//! happens.
//!
//! The runner reports every event to its observers and knows nothing of SQLite. `workbench
//! run` and the dashboard both hand it a `Recorder` (beside their own observer: progress bars
//! in a terminal, a live page in a browser), so a run is stored the same way whoever started
//! it: the run row at `RunStarted`, each step in its own transaction at `StepFinished` — so an
//! interrupted run keeps what it finished — and the ending at `RunFinished`.

use wb_model::events::{Observer, RunEvent};

use crate::store::{Error, RunId, Store};

/// Writes a run into a [`Store`] as it goes.
///
/// An observer cannot fail the run, so the first error the store gives is kept in
/// [`Recorder::error`] (and logged); the caller looks at it when the run is over.
pub struct Recorder<'a> {
    store: &'a mut Store,
    /// The run's id, once it has begun.
    pub run: Option<RunId>,
    /// The first error the store gave, if any.
    pub error: Option<Error>,
    /// Called once with the run's id as soon as the store has given it one: the dashboard
    /// uses it to send the browser to the new run's page.
    on_begin: Option<Box<dyn FnOnce(RunId) + Send + 'a>>,
}

impl<'a> Recorder<'a> {
    /// Records into `store`.
    pub fn new(store: &'a mut Store) -> Recorder<'a> {
        Recorder {
            store,
            run: None,
            error: None,
            on_begin: None,
        }
    }

    /// Also calls `f` with the run's id once the run row is written.
    pub fn on_begin(mut self, f: impl FnOnce(RunId) + Send + 'a) -> Recorder<'a> {
        self.on_begin = Some(Box::new(f));
        self
    }

    fn keep(&mut self, result: Result<(), Error>) {
        if let Err(err) = result {
            tracing::error!("the result store failed: {err}");
            self.error.get_or_insert(err);
        }
    }
}

impl Observer for Recorder<'_> {
    fn event(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted {
                config,
                machine,
                calibration,
            } => match self.store.begin_run(config, machine, calibration) {
                Ok(id) => {
                    self.run = Some(id);
                    if let Some(f) = self.on_begin.take() {
                        f(id);
                    }
                }
                Err(err) => self.keep(Err(err)),
            },
            RunEvent::StepFinished { step, .. } => {
                if let Some(id) = self.run {
                    let result = self.store.record_step(id, step);
                    self.keep(result);
                }
            }
            RunEvent::RunFinished { status, message } => {
                if let Some(id) = self.run {
                    let result = self.store.finish_run(id, *status, *message);
                    self.keep(result);
                }
            }
            RunEvent::EngineDescribed {
                engine,
                description,
            } => {
                if let Some(id) = self.run {
                    let result = self.store.record_description(id, engine, description);
                    self.keep(result);
                }
            }
            RunEvent::StepTraced { trace } => {
                if let Some(id) = self.run {
                    let result = self.store.record_trace(id, trace);
                    self.keep(result);
                }
            }
            RunEvent::StepStarted { .. } | RunEvent::StepProgress { .. } => {}
        }
    }
}
