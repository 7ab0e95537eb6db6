//! `/new`, `POST /runs`, `/runs/{id}/live`, `/runs/{id}/events`, `POST /runs/{id}/cancel`:
//! starting a run from the browser and watching it.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::stream::{self, BoxStream, StreamExt};
use wb_model::engines::{DEFAULT_ENGINES, ENGINES};
use wb_model::results::RunStatus;
use wb_model::spec::{Suite, Workload};
use wb_reports::format;
use wb_reports::store::RunId;
use wb_runner::peers;

use super::runs::{WorkloadSection, levels_text, sections};
use super::{PageError, engine_css, error_page, error_page_with_link, load_run, parse_id};
use crate::AppState;
use crate::browser_runs::{Progress, RunSetup, StartError};
use crate::newrun::{self, MAX_LEVEL, MAX_RUN_SECS, MAX_STEP_SECS, MIN_STEP_SECS, RunRequest};

/// How often the events stream of a run that is not this dashboard's reads the store.
const STORE_POLL: Duration = Duration::from_secs(1);

/// An engine on the New run form.
pub struct EngineOption {
    /// Its label.
    pub label: &'static str,
    /// What it is.
    pub about: &'static str,
    /// Its colour.
    pub color: String,
    /// Ticked at first.
    pub checked: bool,
}

/// A peer on the New run form: ready, with the versions it runs on, or shown disabled with
/// why and the command that installs it.
pub struct PeerOption {
    /// Its name, as `workbench run --peers` takes it.
    pub name: &'static str,
    /// Its model, in a line.
    pub model: &'static str,
    /// Its colour.
    pub color: String,
    /// The versions it runs on (`python 3.11.7, twisted 26.10.0`) when ready; `None` when it
    /// cannot run here.
    pub versions: Option<String>,
    /// Why it cannot run here.
    pub why_not: String,
    /// The command that installs what it needs.
    pub install: &'static str,
}

/// A workload on the New run form.
pub struct WorkloadOption {
    /// Its name.
    pub name: String,
    /// Its mode.
    pub mode: &'static str,
    /// What it shows.
    pub description: String,
    /// Levels in the quick suite (or the preset's, when the quick suite lacks it).
    pub quick: String,
    /// Levels in the full suite.
    pub full: String,
    /// Ticked at first (it is in the quick suite).
    pub checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "new.html")]
struct NewRunPage {
    nav: &'static str,
    token: String,
    engines: Vec<EngineOption>,
    peers: Vec<PeerOption>,
    workloads: Vec<WorkloadOption>,
    in_progress: Option<i64>,
    min_step: f64,
    max_step: f64,
    max_level: u64,
    max_run: String,
}

/// The New run form.
pub async fn new_run(State(state): State<AppState>) -> Result<impl IntoResponse, PageError> {
    let in_progress = state.run_in_progress().await;
    let quick = Suite::named("quick").map_err(|e| PageError::Store(e.to_string()))?;
    let full = Suite::named("full").map_err(|e| PageError::Store(e.to_string()))?;
    let levels = |suite: &Suite, preset: &Workload| {
        let w = suite
            .workloads
            .iter()
            .find(|w| w.name == preset.name)
            .unwrap_or(preset);
        levels_text(w)
    };
    let workloads = Workload::presets()
        .iter()
        .map(|w| WorkloadOption {
            name: w.name.clone(),
            mode: w.mode.name(),
            description: w.description.clone(),
            quick: levels(&quick, w),
            full: levels(&full, w),
            checked: quick.workloads.iter().any(|q| q.name == w.name),
        })
        .collect();
    let peers = tokio::task::spawn_blocking(peer_options)
        .await
        .map_err(|err| PageError::Store(err.to_string()))?;
    Ok(NewRunPage {
        nav: "new",
        peers,
        token: state.inner.token.clone(),
        engines: ENGINES
            .iter()
            .map(|e| EngineOption {
                label: e.label,
                about: e.about,
                color: engine_css(e.label),
                checked: DEFAULT_ENGINES.contains(&e.label),
            })
            .collect(),
        workloads,
        in_progress,
        min_step: MIN_STEP_SECS,
        max_step: MAX_STEP_SECS,
        max_level: MAX_LEVEL,
        max_run: format::duration(MAX_RUN_SECS as i64),
    })
}

/// Every peer of the registry, ready or not: one Python process checks them all and one more
/// reads the versions (`workbench peers list` finds the same).
fn peer_options() -> Vec<PeerOption> {
    let versions = peers::versions();
    peers::readiness_of_all()
        .into_iter()
        .map(|(peer, readiness)| PeerOption {
            name: peer.name,
            model: peer.model,
            color: engine_css(peer.name),
            versions: readiness.is_ok().then(|| peer.version_summary(&versions)),
            why_not: readiness.err().unwrap_or_default(),
            install: peer.requirement.install_command(),
        })
        .collect()
}

/// `POST /runs`: checks the form and starts the run, or says why not.
pub async fn start(State(state): State<AppState>, body: Bytes) -> Response {
    let refused = |why: String| {
        error_page(
            StatusCode::BAD_REQUEST,
            "This run cannot start",
            &format!("{why}."),
        )
    };
    let request = match RunRequest::from_form(&newrun::pairs(&body)) {
        Ok(request) => request,
        Err(why) => return refused(why),
    };
    let mut config = match request.config() {
        Ok(config) => config,
        Err(why) => return refused(why),
    };
    let trace = request.trace;
    let lesson = request.lesson.clone();
    // The peers must be installed; the run records the versions they ran on.
    let checked = tokio::task::spawn_blocking(move || request.peer_versions()).await;
    match checked {
        Ok(Ok(versions)) => config.peer_versions = versions,
        Ok(Err(why)) => return refused(why),
        Err(err) => return refused(format!("the peers could not be checked: {err}")),
    }
    let c = &state.inner.config;
    let setup = RunSetup {
        db: c.db.clone(),
        exe: c.exe.clone(),
        machine: wb_runner::machine::collect(&c.rustc, &c.git_revision),
        trace,
    };
    match state.inner.runs.start(setup, config).await {
        Ok(id) => Redirect::to(&newrun::live_page(id.0, lesson.as_deref())).into_response(),
        Err(StartError::Busy(id)) => busy(id),
        Err(StartError::Failed(why)) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The run did not start",
            &why,
        ),
    }
}

/// The answer to a start while another run is in progress.
fn busy(id: RunId) -> Response {
    error_page_with_link(
        StatusCode::CONFLICT,
        "A run is in progress",
        &format!(
            "Run {id} is in progress. One run at a time: two would share this machine's cores \
             and measure each other. Wait for it to end, or cancel it."
        ),
        Some((format!("/runs/{id}/live"), format!("Watch run {id}"))),
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "live.html")]
struct LivePage {
    nav: &'static str,
    id: i64,
    token: String,
    progress: Progress,
    overall_pct: String,
    step_pct: String,
    step_text: String,
    status_text: String,
    can_cancel: bool,
    sections: Vec<WorkloadSection>,
    /// The lesson whose "try it" form started the run: its address with this run to judge,
    /// and its title.
    back: Option<(String, &'static str)>,
}

/// The progress page of a run.
pub async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<impl IntoResponse, PageError> {
    let id = parse_id(&id)?;
    let back = query
        .iter()
        .find(|(k, _)| k == "lesson")
        .and_then(|(_, slug)| wb_reports::claims::find(slug))
        .map(|l| (format!("/lessons/{}?run={}", l.slug, id.0), l.title));
    let stored = load_run(&state, id).await?;
    let live = state.inner.runs.get(id);
    let progress = match &live {
        Some(run) => run.progress(),
        None => Progress::from_stored(&stored),
    };
    let sections = tokio::task::spawn_blocking(move || sections(&stored, false))
        .await
        .map_err(|err| PageError::Store(err.to_string()))?;
    Ok(LivePage {
        nav: "runs",
        id: id.0,
        token: state.inner.token.clone(),
        overall_pct: format!("{:.0}", progress.fraction() * 100.0),
        step_pct: format!(
            "{:.0}",
            if progress.finished {
                100.0
            } else {
                progress.step_fraction.clamp(0.0, 1.0) * 100.0
            }
        ),
        step_text: step_text(&progress),
        status_text: status_text(&progress),
        can_cancel: live.is_some_and(|run| !run.finished()),
        back,
        progress,
        sections,
    })
}

/// The current step in words (the script writes the same).
fn step_text(p: &Progress) -> String {
    match &p.step {
        Some(s) => format!(
            "Step {} of {}: {} · {} · {} {}",
            s.index + 1,
            p.steps_total,
            s.engine,
            s.workload,
            s.level,
            s.unit
        ),
        None if p.finished => "No step running.".into(),
        None => "Waiting for the next step.".into(),
    }
}

/// The run's state in words (the script writes the same).
fn status_text(p: &Progress) -> String {
    let mut text = format!(
        "Run {}: {} of {} steps done, {} elapsed of about {}.",
        p.status,
        p.steps_done,
        p.steps_total,
        format::duration(p.elapsed_secs.round() as i64),
        format::duration(p.estimated_secs.round() as i64)
    );
    if let Some(m) = &p.message {
        text.push(' ');
        text.push_str(m);
    }
    text
}

/// `/runs/{id}/events`: server-sent events, one `progress` event (a JSON [`Progress`]) per
/// change, ending after the run's last. At most [`crate::Limits::max_live_streams`] at once:
/// one more is answered `503`, and the page still shows the progress as of its loading.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    // Held by the stream: dropped when it ends or its client goes away.
    let Ok(permit) = state.inner.live_streams.clone().try_acquire_owned() else {
        let mut response = super::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many live pages",
            &format!(
                "This dashboard follows at most {} live runs' progress at once, and that many \
                 pages are following now. Close a live page elsewhere, or reload this one in a \
                 moment; the run itself is not affected.",
                state.inner.limits.max_live_streams
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return Ok(response);
    };
    let shutdown = state.inner.shutdown.clone();
    let stream: BoxStream<'static, Result<Event, Infallible>> = match state.inner.runs.get(id) {
        Some(run) => {
            let rx = run.subscribe();
            drop(run);
            stream::unfold(
                (rx, shutdown, false, true),
                |(mut rx, mut shutdown, done, first)| async move {
                    if done || *shutdown.borrow() {
                        return None;
                    }
                    if !first {
                        tokio::select! {
                            changed = rx.changed() => changed.ok()?,
                            _ = shutdown.changed() => return None,
                        }
                    }
                    let progress = rx.borrow_and_update().clone();
                    let finished = progress.finished;
                    Some((Ok(event(&progress)), (rx, shutdown, finished, false)))
                },
            )
            .boxed()
        }
        None => {
            // Not ours: follow it in the store (a 404 now if it is not there at all).
            let first = Progress::from_stored(&load_run(&state, id).await?);
            let state = state.clone();
            stream::unfold((Some(first), state, false), move |(next, state, done)| {
                let mut shutdown = shutdown.clone();
                async move {
                    if done || *shutdown.borrow() {
                        return None;
                    }
                    let progress = match next {
                        Some(p) => p,
                        None => {
                            tokio::select! {
                                _ = tokio::time::sleep(STORE_POLL) => {}
                                _ = shutdown.changed() => return None,
                            }
                            Progress::from_stored(&load_run(&state, id).await.ok()?)
                        }
                    };
                    let finished = progress.finished;
                    Some((Ok(event(&progress)), (None, state, finished)))
                }
            })
            .boxed()
        }
    };
    let stream = stream.map(move |event| {
        let _ = &permit;
        event
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn event(progress: &Progress) -> Event {
    Event::default()
        .event("progress")
        .data(serde_json::to_string(progress).unwrap_or_default())
}

/// `POST /runs/{id}/cancel`: stops this dashboard's run after its current step.
pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(err) => return err.into_response(),
    };
    if let Some(run) = state.inner.runs.get(id) {
        if run.finished() {
            return Redirect::to(&format!("/runs/{id}")).into_response();
        }
        run.cancel();
        return Redirect::to(&format!("/runs/{id}/live")).into_response();
    }
    match load_run(&state, id).await {
        Err(err) => err.into_response(),
        Ok(run) if run.summary.status == RunStatus::Running => error_page_with_link(
            StatusCode::CONFLICT,
            "Not this dashboard's run",
            &format!(
                "Run {id} was started elsewhere (by `workbench run`, or another dashboard), so \
                 it cannot be cancelled from here: press Ctrl-C where it runs."
            ),
            Some((format!("/runs/{id}/live"), format!("Watch run {id}"))),
        ),
        Ok(_) => Redirect::to(&format!("/runs/{id}")).into_response(),
    }
}
