//! Runs started from the browser: one at a time, on a thread of their own, watched live.
//!
//! # How a run started here flows
//!
//! 1. `POST /runs` checks the form ([`crate::newrun`]) and calls [`Runs::start`]. Only one run
//!    may go at a time on this machine (two would measure each other): if this dashboard's
//!    run is still going, or the store holds a run another live process is writing (say a
//!    `workbench run` in a terminal), the start is refused with that run's id.
//! 2. The runner blocks for minutes, so it gets a plain `std` thread, never a tokio worker. On
//!    that thread it has two observers, like `workbench run` in a terminal: the store's
//!    [`Recorder`], which writes each step the moment it ends, and a [`LiveObserver`], which
//!    turns each event into a [`Progress`] snapshot and publishes it on a `tokio::sync::watch`
//!    channel. A watch channel keeps only the latest value: a slow browser skips snapshots
//!    instead of queueing them, and a new one gets the current state at once.
//! 3. `start` waits until the store has given the run its id (after the CPU calibration, a
//!    fraction of a second) and the browser is sent to `/runs/{id}/live`. That page listens
//!    to `/runs/{id}/events` (server-sent events, one JSON [`Progress`] per change) and,
//!    whenever a step has finished, fetches the run's charts again, drawn from the store.
//! 4. Cancel sets the runner's flag; the runner stops after the current step and the run ends
//!    `interrupted` ("cancelled"), with every finished step kept.
//!
//! A run that is not this dashboard's (a `workbench run` elsewhere, or one from before a
//! restart) has no live observer here: its events stream reads the store every second
//! instead ([`Progress::from_stored`]), so the same page follows it step by step.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use wb_model::results::{MachineFacts, RunConfig, RunStatus};
use wb_reports::record::Recorder;
use wb_reports::store::{RunId, Store, StoredRun};
use wb_runner::{Observer, RunEvent, Runner};

/// How long `start` waits for the store to give the new run its id.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a run stands, as the progress page shows it and `/runs/{id}/events` sends it.
///
/// This is also the shape of `GET /api/runs/{id}/progress`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// The run's id, once the store has given it one.
    pub run: Option<i64>,
    /// `starting`, `running`, `completed`, `failed` or `interrupted`.
    pub status: String,
    /// True once the run has ended (whatever its status): the stream ends after this.
    pub finished: bool,
    /// Steps finished so far.
    pub steps_done: usize,
    /// Steps in the whole run.
    pub steps_total: usize,
    /// The step being measured, if one is.
    pub step: Option<CurrentStep>,
    /// How far the current step is, 0.0 to 1.0.
    pub step_fraction: f64,
    /// Seconds since the run began.
    pub elapsed_secs: f64,
    /// Estimated seconds for the whole run, warm-ups included, engine start-ups not.
    pub estimated_secs: f64,
    /// Why the run ended as it did, or a note (a cancel requested).
    pub message: Option<String>,
    /// The last finished step in a line: `selector · hello · 16 connections: 41 230 req/s`.
    pub last_step: Option<String>,
    /// True when this dashboard runs it (and so can cancel it); false when read from the
    /// store.
    pub live: bool,
}

/// The step being measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurrentStep {
    /// 0-based index among the run's steps.
    pub index: usize,
    /// Engine label.
    pub engine: String,
    /// Workload name.
    pub workload: String,
    /// The level.
    pub level: u64,
    /// What the level counts (`connections`, `req/s`, `slow clients`).
    pub unit: String,
}

impl Progress {
    /// A run about to begin.
    fn starting(config: &RunConfig) -> Progress {
        Progress {
            run: None,
            status: "starting".into(),
            finished: false,
            steps_done: 0,
            steps_total: config.total_steps(),
            step: None,
            step_fraction: 0.0,
            elapsed_secs: 0.0,
            estimated_secs: config.estimated_secs(),
            message: None,
            last_step: None,
            live: true,
        }
    }

    /// A run as the store has it: steps recorded so far, no step fraction.
    pub fn from_stored(run: &StoredRun) -> Progress {
        let summary = &run.summary;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let end = summary.finished_at.unwrap_or(now);
        Progress {
            run: Some(summary.id.0),
            status: summary.status.as_str().into(),
            finished: summary.status != RunStatus::Running,
            steps_done: run.steps.len(),
            steps_total: run.config.total_steps(),
            step: None,
            step_fraction: 0.0,
            elapsed_secs: (end - summary.started_at).max(0) as f64,
            estimated_secs: run.config.estimated_secs(),
            message: summary.message.clone(),
            last_step: run.steps.last().map(step_line),
            live: false,
        }
    }

    /// The whole run's progress, 0.0 to 1.0, counting the current step's fraction.
    pub fn fraction(&self) -> f64 {
        if self.steps_total == 0 {
            return if self.finished { 1.0 } else { 0.0 };
        }
        let partial = if self.step.is_some() && !self.finished {
            self.step_fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        ((self.steps_done as f64 + partial) / self.steps_total as f64).min(1.0)
    }
}

/// A finished step in a line, for the progress page.
fn step_line(step: &wb_model::results::StepResult) -> String {
    let what = format!(
        "{} · {} · {} {}",
        step.engine,
        step.workload,
        step.level,
        step.mode.level_unit()
    );
    match &step.failure {
        Some(why) => format!("{what}: failed ({why})"),
        None => format!(
            "{what}: {}, p99 {}",
            wb_reports::format::rps(step.derived.throughput_rps),
            wb_reports::format::latency(&step.load.latency, "p99")
        ),
    }
}

/// Publishes each event of a run as a [`Progress`] snapshot.
pub struct LiveObserver {
    progress: watch::Sender<Progress>,
    started: Instant,
}

impl LiveObserver {
    fn publish(&self, change: impl FnOnce(&mut Progress)) {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.progress.send_modify(|p| {
            change(p);
            p.elapsed_secs = elapsed;
        });
    }
}

impl Observer for LiveObserver {
    fn event(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { .. } => self.publish(|p| p.status = "running".into()),
            RunEvent::StepStarted {
                index,
                total,
                engine,
                workload,
                level,
            } => self.publish(|p| {
                p.steps_total = *total;
                p.step_fraction = 0.0;
                p.step = Some(CurrentStep {
                    index: *index,
                    engine: engine.to_string(),
                    workload: workload.name.clone(),
                    level: *level,
                    unit: workload.level_unit().into(),
                });
            }),
            RunEvent::StepProgress { fraction } => self.publish(|p| p.step_fraction = *fraction),
            RunEvent::StepFinished { index, step, .. } => self.publish(|p| {
                p.steps_done = index + 1;
                p.step_fraction = 1.0;
                p.last_step = Some(step_line(step));
            }),
            RunEvent::StepTraced { .. } | RunEvent::EngineDescribed { .. } => {}
            RunEvent::RunFinished { status, message } => self.publish(|p| {
                p.status = status.as_str().into();
                p.step = None;
                if let Some(message) = message {
                    p.message = Some(message.to_string());
                }
            }),
        }
    }
}

/// A run this dashboard started.
pub struct LiveRun {
    /// Its id in the store.
    pub id: RunId,
    progress: watch::Sender<Progress>,
    cancel: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl LiveRun {
    /// Its progress now.
    pub fn progress(&self) -> Progress {
        self.progress.borrow().clone()
    }

    /// A receiver that sees every change from now on (and the current value first).
    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// True once the run has ended and its ending is in the store.
    pub fn finished(&self) -> bool {
        self.progress.borrow().finished
    }

    /// Asks the runner to stop after the current step.
    pub fn cancel(&self) {
        if !self.finished() && !self.cancel.swap(true, Ordering::SeqCst) {
            self.progress.send_modify(|p| {
                p.message = Some("cancel requested: stopping after the current step".into());
            });
        }
    }
}

/// Everything a run needs besides its configuration.
#[derive(Debug, Clone)]
pub struct RunSetup {
    /// The result store.
    pub db: PathBuf,
    /// The `workbench` executable the runner starts engines with.
    pub exe: PathBuf,
    /// The machine facts to record with the run.
    pub machine: MachineFacts,
    /// Record a timeline per engine and workload ([`Runner::trace`]).
    pub trace: bool,
}

/// An observer of a run besides the store and the live page: the terminal's progress bars
/// when the binary starts the first run (`cargo run --release`) as a dashboard run.
pub type ExtraObserver = Box<dyn Observer + Send>;

/// Why a run did not start.
#[derive(Debug, Clone, PartialEq)]
pub enum StartError {
    /// Another run is in progress: this one.
    Busy(RunId),
    /// The run could not begin (the store refused, the thread could not start…).
    Failed(String),
}

/// The runs this dashboard starts: at most one at a time.
#[derive(Default)]
pub struct Runs {
    /// Held while a run is being started, so two starts cannot both see "nothing running".
    starting: tokio::sync::Mutex<()>,
    /// The latest run started here, running or finished.
    current: Mutex<Option<Arc<LiveRun>>>,
}

impl Runs {
    /// The latest run started here, running or finished.
    pub fn current(&self) -> Option<Arc<LiveRun>> {
        self.current.lock().expect("not poisoned").clone()
    }

    /// The run started here with this id, if it is the latest.
    pub fn get(&self, id: RunId) -> Option<Arc<LiveRun>> {
        self.current().filter(|run| run.id == id)
    }

    /// The run in progress, if any: this dashboard's, or one another process is writing to
    /// the store.
    pub async fn in_progress(&self, db: PathBuf) -> Option<RunId> {
        if let Some(run) = self.current().filter(|run| !run.finished()) {
            return Some(run.id);
        }
        tokio::task::spawn_blocking(move || {
            // Opening the store marks runs whose process died as interrupted, so a run still
            // `running` afterwards has a live owner.
            let store = Store::open(&db).ok()?;
            store
                .runs()
                .ok()?
                .into_iter()
                .find(|r| r.status == RunStatus::Running)
                .map(|r| r.id)
        })
        .await
        .ok()
        .flatten()
    }

    /// Starts `config` on a thread of its own and returns the run's id once the store has
    /// recorded its start.
    pub async fn start(&self, setup: RunSetup, config: RunConfig) -> Result<RunId, StartError> {
        self.start_watched(setup, config, None).await
    }

    /// [`Runs::start`], with `extra` observing the run too (after the store and the live
    /// page).
    pub async fn start_watched(
        &self,
        setup: RunSetup,
        config: RunConfig,
        extra: Option<ExtraObserver>,
    ) -> Result<RunId, StartError> {
        let _starting = self.starting.lock().await;
        if let Some(id) = self.in_progress(setup.db.clone()).await {
            return Err(StartError::Busy(id));
        }
        let (progress, _) = watch::channel(Progress::starting(&config));
        let cancel = Arc::new(AtomicBool::new(false));
        let (id_tx, mut id_rx) = tokio::sync::mpsc::unbounded_channel::<Result<RunId, String>>();
        let thread = {
            let progress = progress.clone();
            let cancel = Arc::clone(&cancel);
            std::thread::Builder::new()
                .name("dashboard-run".into())
                .spawn(move || run_on_this_thread(setup, config, progress, cancel, id_tx, extra))
                .map_err(|err| StartError::Failed(format!("cannot start a thread: {err}")))?
        };
        let id = match tokio::time::timeout(START_TIMEOUT, id_rx.recv()).await {
            Ok(Some(Ok(id))) => id,
            Ok(Some(Err(why))) => return Err(StartError::Failed(why)),
            Ok(None) => {
                return Err(StartError::Failed(
                    "the run ended before the store recorded it".into(),
                ));
            }
            Err(_) => {
                cancel.store(true, Ordering::SeqCst);
                return Err(StartError::Failed(
                    "the store did not record the run's start within a minute".into(),
                ));
            }
        };
        let run = Arc::new(LiveRun {
            id,
            progress,
            cancel,
            thread: Mutex::new(Some(thread)),
        });
        *self.current.lock().expect("not poisoned") = Some(run);
        Ok(id)
    }

    /// Cancels the run in progress, if any, and waits up to `grace` for it to stop: the
    /// dashboard is shutting down. A run still going then is marked interrupted by the next
    /// process that opens the store.
    pub async fn shutdown(&self, grace: Duration) {
        let Some(run) = self.current().filter(|run| !run.finished()) else {
            return;
        };
        run.cancel();
        let handle = run.thread.lock().expect("not poisoned").take();
        if let Some(handle) = handle {
            let deadline = Instant::now() + grace;
            while !handle.is_finished() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
    }
}

/// The runner thread: opens the store, runs, records, publishes.
fn run_on_this_thread(
    setup: RunSetup,
    config: RunConfig,
    progress: watch::Sender<Progress>,
    cancel: Arc<AtomicBool>,
    id_tx: tokio::sync::mpsc::UnboundedSender<Result<RunId, String>>,
    mut extra: Option<ExtraObserver>,
) {
    let finish = |progress: &watch::Sender<Progress>, problem: Option<String>| {
        progress.send_modify(|p| {
            if let Some(problem) = problem {
                p.status = RunStatus::Failed.as_str().into();
                p.message = Some(problem);
            }
            p.finished = true;
            p.step = None;
        });
    };
    let mut store = match Store::open(&setup.db) {
        Ok(store) => store,
        Err(err) => {
            let why = format!("cannot open the result store {}: {err}", setup.db.display());
            let _ = id_tx.send(Err(why.clone()));
            finish(&progress, Some(why));
            return;
        }
    };
    let runner = Runner {
        exe: setup.exe,
        config,
        machine: setup.machine,
        cancel,
        trace: setup.trace,
    };
    let mut live = LiveObserver {
        progress: progress.clone(),
        started: Instant::now(),
    };
    let begun = {
        let progress = progress.clone();
        let id_tx = id_tx.clone();
        move |id: RunId| {
            progress.send_modify(|p| p.run = Some(id.0));
            let _ = id_tx.send(Ok(id));
        }
    };
    let mut recorder = Recorder::new(&mut store).on_begin(begun);
    {
        // The store first: when the live page hears "finished", the store already says so.
        let mut observers: Vec<&mut dyn Observer> = vec![&mut recorder, &mut live];
        if let Some(extra) = extra.as_mut() {
            observers.push(extra.as_mut());
        }
        runner.run(&mut observers);
    }
    let problem = recorder.error.take().map(|err| {
        let why = format!("the results could not be saved: {err}");
        tracing::error!("{why}");
        why
    });
    if recorder.run.is_none() {
        let _ = id_tx.send(Err(problem
            .clone()
            .unwrap_or_else(|| "the store did not record the run".into())));
    }
    finish(&progress, problem);
}
