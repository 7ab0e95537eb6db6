//! The handlers, one module per page, and what they share: opening the store, turning a
//! [`Chart`] into what a template shows, and error pages.

pub mod api;
pub mod assets;
pub mod compare;
pub mod engines;
pub mod export;
pub mod guide;
pub mod lessons;
pub mod live;
pub mod overview;
pub mod runs;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wb_model::results::RunStatus;
use wb_reports::charts::{Chart, color_hex, engine_color};
use wb_reports::store::{RunId, RunSummary, Store, StoredRun};

use crate::AppState;
use wb_reports::format;

/// A chart as a template shows it: the SVG (trusted: [`wb_reports::charts`] escapes its text)
/// and its data table as HTML (escaped the same way).
pub struct ChartView {
    /// Anchor id.
    pub id: String,
    /// Title, for the caption.
    pub title: String,
    /// The legend, the drawings (wide and narrow) and the notes, as HTML
    /// ([`Chart::drawing_html`]).
    pub drawing: String,
    /// The `<table>` of the same data.
    pub table_html: String,
    /// True for an empty state (nothing to tabulate).
    pub empty: bool,
    /// The section of `/guide` that explains it (empty: the guide's top).
    pub guide: &'static str,
}

impl From<Chart> for ChartView {
    fn from(chart: Chart) -> ChartView {
        ChartView {
            table_html: chart.table.to_html(),
            drawing: chart.drawing_html(true),
            guide: guide::anchor(&chart.id),
            id: chart.id,
            title: chart.title,
            empty: chart.empty,
        }
    }
}

/// Charts to views.
pub fn views(charts: Vec<Chart>) -> Vec<ChartView> {
    charts.into_iter().map(ChartView::from).collect()
}

/// A run as the lists show it: every field already text.
pub struct RunRow {
    /// Its id.
    pub id: i64,
    /// `completed`, `failed`, …
    pub status: &'static str,
    /// When it began.
    pub started: String,
    /// How long it ran, or `running`.
    pub duration: String,
    /// The suite, or `—`.
    pub suite: String,
    /// Engine labels.
    pub engines: String,
    /// Workload names.
    pub workloads: String,
    /// Steps recorded.
    pub steps: u64,
    /// The machine in a few words.
    pub machine: String,
    /// Why it failed or was interrupted, or a note.
    pub message: Option<String>,
}

impl RunRow {
    /// The row of a run.
    pub fn of(s: &RunSummary) -> RunRow {
        RunRow {
            id: s.id.0,
            status: s.status.as_str(),
            started: format::date(s.started_at),
            duration: match (s.status, s.finished_at) {
                (RunStatus::Running, _) | (_, None) => "running".into(),
                (_, Some(end)) => format::duration(end - s.started_at),
            },
            suite: s.suite.clone().unwrap_or_else(|| "—".into()),
            engines: s.engines.join(", "),
            workloads: s.workloads.join(", "),
            steps: s.steps,
            machine: machine_line(&s.machine),
            message: s.message.clone(),
        }
    }
}

/// `Example CPU, 2 cores, 24.0 GiB, fixture-host`.
pub fn machine_line(m: &wb_model::results::MachineFacts) -> String {
    format!(
        "{}, {} {}, {}, {}",
        m.cpu_model,
        m.cores,
        if m.cores == 1 { "core" } else { "cores" },
        format::bytes(m.memory_bytes as f64),
        m.hostname
    )
}

/// An engine's colour as CSS: `#1f5fa8`.
pub fn engine_css(label: &str) -> String {
    color_hex(engine_color(label))
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub enum PageError {
    /// 400: a parameter is wrong; the message says which and what is allowed.
    BadRequest(String),
    /// 404: no such run, lesson or file.
    NotFound(String),
    /// 500: the store failed.
    Store(String),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::BadRequest(why) => error_page(StatusCode::BAD_REQUEST, "Bad request", &why),
            PageError::NotFound(why) => error_page(StatusCode::NOT_FOUND, "Not found", &why),
            PageError::Store(why) => error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The result store failed",
                &why,
            ),
        }
    }
}

impl From<wb_reports::store::Error> for PageError {
    fn from(err: wb_reports::store::Error) -> PageError {
        PageError::Store(err.to_string())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: &'static str,
    title: &'a str,
    message: &'a str,
    link: Option<(String, String)>,
}

/// An error page with a status, a title and a sentence.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    error_page_with_link(status, title, message, None)
}

/// An error page with a link onwards (`href`, text).
pub fn error_page_with_link(
    status: StatusCode,
    title: &str,
    message: &str,
    link: Option<(String, String)>,
) -> Response {
    let page = ErrorPage {
        nav: "",
        title,
        message,
        link,
    };
    (status, page).into_response()
}

/// The fallback: a 404 page.
pub async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no page here. The menu above lists them all.",
    )
}

/// Runs `f` with a freshly opened store, on the blocking pool.
pub async fn with_store<T, F>(state: &AppState, f: F) -> Result<T, PageError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, PageError> + Send + 'static,
{
    let db = state.inner.config.db.clone();
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&db)
            .map_err(|err| PageError::Store(format!("cannot open {}: {err}", db.display())))?;
        f(&store)
    })
    .await
    .map_err(|err| PageError::Store(format!("the store's task failed: {err}")))?
}

/// A run id from a path segment: a `400` if it is not a number.
pub fn parse_id(text: &str) -> Result<RunId, PageError> {
    text.parse::<RunId>().map_err(|_| {
        PageError::BadRequest(format!(
            "{text:?} is not a run id: run ids are whole numbers, as listed on the Runs page."
        ))
    })
}

/// One stored run, or a `404`.
pub async fn load_run(state: &AppState, id: RunId) -> Result<StoredRun, PageError> {
    with_store(state, move |store| {
        store
            .run(id)?
            .ok_or_else(|| PageError::NotFound(format!("There is no run {id} in the store.")))
    })
    .await
}
