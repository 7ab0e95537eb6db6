//! The JSON API: `/api/runs`, `/api/runs/{id}`, `/api/runs/{id}/progress`, documented at
//! `/api`.
//!
//! The shapes are stable: fields may be added, never renamed or removed, and
//! `api_version` changes if that promise ever has to be broken.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wb_reports::store::RunSummary;

pub use super::export::API_VERSION;
use super::export::RunDocument;
use super::{PageError, load_run, parse_id, with_store};
use crate::AppState;
use crate::browser_runs::Progress;

/// `GET /api/runs`.
#[derive(Debug, Serialize)]
pub struct RunsDocument {
    /// [`API_VERSION`].
    pub api_version: u32,
    /// Every run, newest first.
    pub runs: Vec<RunEntry>,
}

impl RunsDocument {
    /// The list of `runs` (newest first), as `/api/runs` and `workbench runs --json` give it.
    pub fn new(runs: Vec<RunSummary>) -> RunsDocument {
        RunsDocument {
            api_version: API_VERSION,
            runs: runs.into_iter().map(RunEntry::new).collect(),
        }
    }
}

/// A run in the list: the store's summary, its times as text, and links.
#[derive(Debug, Serialize)]
pub struct RunEntry {
    /// The summary: id, status, started_at, finished_at, suite, engines, workloads, steps,
    /// message, machine.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// `started_at` as RFC 3339 UTC.
    pub started: String,
    /// `finished_at` as RFC 3339 UTC.
    pub finished: Option<String>,
    /// Seconds from start to end; `null` while running.
    pub duration_secs: Option<i64>,
    /// Where to find more.
    pub links: Links,
}

/// Where a run's pages and documents are.
#[derive(Debug, Serialize)]
pub struct Links {
    /// Its page.
    pub html: String,
    /// Its live page.
    pub live: String,
    /// Everything about it, as JSON.
    pub json: String,
    /// Its steps, as CSV.
    pub csv: String,
}

impl RunEntry {
    fn new(summary: RunSummary) -> RunEntry {
        let id = summary.id;
        RunEntry {
            started: wb_reports::store::utc_text(summary.started_at),
            finished: summary.finished_at.map(wb_reports::store::utc_text),
            duration_secs: summary.finished_at.map(|end| end - summary.started_at),
            links: Links {
                html: format!("/runs/{id}"),
                live: format!("/runs/{id}/live"),
                json: format!("/api/runs/{id}"),
                csv: format!("/runs/{id}/steps.csv"),
            },
            summary,
        }
    }
}

/// An API error: a status and `{"error": "…"}`.
pub struct ApiError(PageError);

impl From<PageError> for ApiError {
    fn from(err: PageError) -> ApiError {
        ApiError(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self.0 {
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            PageError::Store(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

/// `GET /api/runs`.
pub async fn runs(State(state): State<AppState>) -> Result<Json<RunsDocument>, ApiError> {
    let runs = with_store(&state, |store| Ok(store.runs()?)).await?;
    Ok(Json(RunsDocument::new(runs)))
}

/// `GET /api/runs/{id}`.
pub async fn run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunDocument>, ApiError> {
    let run = load_run(&state, parse_id(&id)?).await?;
    Ok(Json(RunDocument::new(run)))
}

/// `GET /api/runs/{id}/progress`: the live page's [`Progress`], for clients that poll.
pub async fn progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Progress>, ApiError> {
    let id = parse_id(&id)?;
    if let Some(run) = state.inner.runs.get(id) {
        return Ok(Json(run.progress()));
    }
    let run = load_run(&state, id).await?;
    Ok(Json(Progress::from_stored(&run)))
}

#[derive(Template, WebTemplate)]
#[template(path = "api.html")]
struct ApiPage {
    nav: &'static str,
    csv_columns: String,
    figure_keys: String,
}

/// `GET /api`: the documentation.
pub async fn docs() -> impl IntoResponse {
    ApiPage {
        nav: "api",
        csv_columns: super::export::csv_columns().join(","),
        figure_keys: wb_model::table::TABLE
            .iter()
            .map(|f| format!("{} ({})", f.key, f.unit.name()))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
