//! `/runs` and `/runs/{id}`: every stored run, and one run in full, with its downloads.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use wb_model::engines;
use wb_model::results::{IdleSlope, StepResult};
use wb_model::spec::{Mode, Workload};
use wb_reports::charts;
use wb_reports::store::StoredRun;

use super::export;
use super::{
    ChartView, PageError, RunId, RunRow, engine_css, load_run, parse_id, views, with_store,
};
use crate::AppState;
use wb_reports::format;

#[derive(Template, WebTemplate)]
#[template(path = "runs.html")]
struct RunsPage {
    nav: &'static str,
    runs: Vec<RunRow>,
}

/// The list of runs.
pub async fn list(State(state): State<AppState>) -> Result<impl IntoResponse, PageError> {
    let runs = with_store(&state, |store| Ok(store.runs()?)).await?;
    Ok(RunsPage {
        nav: "runs",
        runs: runs.iter().map(RunRow::of).collect(),
    })
}

/// One step as the run page's table shows it.
pub struct StepRow {
    /// Engine label.
    pub engine: String,
    /// Its colour.
    pub color: String,
    /// The level.
    pub level: u64,
    /// req/s, or connections held for idle.
    pub main: String,
    /// Answered of sent (answered, failed, and censored: unanswered when the step ended).
    pub answered: String,
    /// p50; `≥ X` when censored requests reach it (a lower bound), as every latency here.
    pub p50: String,
    /// p99.
    pub p99: String,
    /// p99.9.
    pub p999: String,
    /// Largest latency.
    pub max: String,
    /// Failed requests.
    pub errors: u64,
    /// Engine cores.
    pub cores: String,
    /// Load generator cores.
    pub client: String,
    /// Context switches per second.
    pub ctx: String,
    /// Most threads.
    pub threads: String,
    /// Peak PSS.
    pub pss: String,
    /// Engine CPU per valid answer, with its interval.
    pub cost: String,
    /// Load generator CPU per valid answer.
    pub client_cost: String,
    /// Flags: (CSS class, text).
    pub flags: Vec<(&'static str, String)>,
}

/// One workload's part of the run page.
pub struct WorkloadSection {
    /// Its name.
    pub name: String,
    /// Its mode in plain words, for the heading: `connections held open, no requests`.
    pub mode_words: &'static str,
    /// What it shows.
    pub description: String,
    /// Its levels, with the unit.
    pub levels: String,
    /// The charts.
    pub charts: Vec<ChartView>,
    /// Header of the main column (`req/s` or `held`).
    pub main_column: &'static str,
    /// Every step.
    pub rows: Vec<StepRow>,
    /// For idle: bytes per connection, per engine.
    pub slopes: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "run.html")]
struct RunPage {
    nav: &'static str,
    run: RunRow,
    running: bool,
    sections: Vec<WorkloadSection>,
    engines: Vec<(String, String, String)>,
    pin: bool,
    calibration: String,
    machine: Vec<(&'static str, String)>,
    /// The run's timelines (`run --trace`): threads and connections of each engine and
    /// workload traced, a workload's engines on one time axis.
    timelines: Vec<super::ChartView>,
}

/// One run.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, PageError> {
    let id = parse_id(&id)?;
    let run = load_run(&state, id).await?;
    let traces = super::with_store(&state, move |store| Ok(store.traces(id)?)).await?;
    tokio::task::spawn_blocking(move || {
        let mut page = run_page(run);
        page.timelines = super::views(wb_reports::charts::timelines(&traces));
        page
    })
    .await
    .map_err(|err| PageError::Store(err.to_string()))
}

fn run_page(run: StoredRun) -> RunPage {
    let m = &run.summary.machine;
    RunPage {
        timelines: Vec::new(),
        nav: "runs",
        running: run.summary.status == wb_model::results::RunStatus::Running,
        sections: sections(&run, true),
        engines: run
            .config
            .engines
            .iter()
            .map(|e| {
                let command = if e.peer {
                    format!("peer {}", e.engine)
                } else {
                    format!("workbench engine {} {}", e.engine, e.args.join(" "))
                };
                (
                    e.label.clone(),
                    engine_css(&e.label),
                    command.trim().to_string(),
                )
            })
            .collect(),
        pin: run.config.pin,
        calibration: format!(
            "{:.2} SHA-256 rounds per µs ({} rounds timed in {:.2} s)",
            run.calibration.rounds_per_us,
            format::count(run.calibration.rounds_timed as f64),
            run.calibration.secs
        ),
        machine: vec![
            ("CPU", m.cpu_model.clone()),
            ("cores", m.cores.to_string()),
            ("memory", format::bytes(m.memory_bytes as f64)),
            ("kernel", m.kernel.clone()),
            ("open files (hard limit)", m.open_files_limit.to_string()),
            ("compiler", m.rustc.clone()),
            ("revision", m.git_revision.clone()),
            ("host", m.hostname.clone()),
        ]
        .into_iter()
        // A multi-host run: where each side ran, as given, with each host's CPU.
        .chain(m.hosts.iter().map(|h| {
            let role = if h.role == "engine" {
                "engine host"
            } else {
                "load host"
            };
            let text = format!(
                "{} ({}: {}, {} cores)",
                h.host, h.hostname, h.cpu_model, h.cores
            );
            (role, text)
        }))
        .collect(),
        run: RunRow::of(&run.summary),
    }
}

/// The workload sections of a run, in the order of its configuration (and any workload
/// with steps but missing from it, after).
pub fn sections(run: &StoredRun, with_tables: bool) -> Vec<WorkloadSection> {
    // Repeats of a step show as one row and one point: the median, its interval from the
    // repeats.
    let combined = wb_model::spread::combined(&run.steps);
    let mut workloads: Vec<Workload> = run.config.workloads.clone();
    for step in &run.steps {
        if !workloads.iter().any(|w| w.name == step.workload) {
            let mut w = Workload::load(&step.workload).unwrap_or_else(|_| Workload {
                name: step.workload.clone(),
                description: String::new(),
                mode: step.mode,
                levels: Vec::new(),
                request: Default::default(),
                step_secs: 0.0,
                warmup_secs: 0.0,
                max_connections: None,
                read_rate: None,
                send_interval_ms: None,
                active_connections: None,
                placement: Default::default(),
                extra_engines: Vec::new(),
                trace_at: None,
            });
            w.name = step.workload.clone();
            workloads.push(w);
        }
    }
    workloads
        .iter()
        .map(|w| {
            let mut steps: Vec<&StepResult> =
                combined.iter().filter(|s| s.workload == w.name).collect();
            steps.sort_by_cached_key(|s| (engines::sort_key(&s.engine), s.level));
            WorkloadSection {
                name: w.name.clone(),
                mode_words: mode_words(w.mode),
                description: w.description.clone(),
                levels: levels_text(w),
                charts: views(charts::charts_for_workload(&combined, w)),
                main_column: if w.mode == Mode::Idle {
                    "connections held"
                } else {
                    "req/s"
                },
                rows: if with_tables {
                    steps.iter().map(|s| step_row(s)).collect()
                } else {
                    Vec::new()
                },
                slopes: if w.mode == Mode::Idle {
                    idle_slopes(&steps)
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

/// What a mode does, in plain words: a heading reads `idle — connections held open, no
/// requests`, never `idle idle`.
pub fn mode_words(mode: Mode) -> &'static str {
    match mode {
        Mode::Closed => "each connection asks again as soon as it is answered",
        Mode::Open => "requests sent at a fixed rate, whatever the server does",
        Mode::Idle => "connections held open, no requests",
        Mode::SlowReaders => "clients that read the answer slowly",
        Mode::SlowSenders => "clients that send their request slowly, and a probe",
    }
}

/// A workload's levels and their unit: `1, 8, 64 connections`.
pub fn levels_text(w: &Workload) -> String {
    format!(
        "{} {}",
        w.levels
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        w.level_unit()
    )
}

fn step_row(s: &StepResult) -> StepRow {
    let l = &s.load.latency;
    let us = |name: &str| format::latency(l, name);
    let failed = s.failure.is_some();
    let dash = || "—".to_string();
    StepRow {
        engine: s.engine.clone(),
        color: engine_css(&s.engine),
        level: s.level,
        main: if failed {
            dash()
        } else if s.mode == Mode::Idle {
            format::count(s.load.connections as f64)
        } else {
            format::with_interval(
                s.derived.throughput_rps,
                s.estimates.throughput_ci,
                format::per_sec,
            )
        },
        answered: if failed {
            dash()
        } else {
            format::answered(&s.load)
        },
        p50: if failed { dash() } else { us("p50") },
        // A p99 that is a lower bound has no interval (spread::estimates).
        p99: if failed {
            dash()
        } else {
            format::at_least(
                format::with_interval(l.p99_us as f64, s.estimates.p99_ci_us, format::micros),
                l.is_lower_bound(0.99),
            )
        },
        p999: if failed { dash() } else { us("p99.9") },
        max: if failed { dash() } else { us("max") },
        errors: s.load.errors.total(),
        cores: format::sig3(s.derived.engine_cores),
        client: format::sig3(s.derived.client_cores),
        ctx: format::per_sec(s.derived.ctx_switches_per_sec),
        threads: format::count(s.derived.threads_max as f64),
        pss: format::bytes(s.derived.peak_pss_bytes as f64),
        cost: s.estimates.engine_us_per_request.map_or_else(dash, |c| {
            format::with_interval(c, s.estimates.engine_us_per_request_ci, format::micros)
        }),
        client_cost: s
            .estimates
            .client_us_per_request
            .map_or_else(dash, format::micros),
        flags: flags(s),
    }
}

/// A step's flags, each with its CSS class.
pub fn flags(s: &StepResult) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(why) = &s.failure {
        out.push(("bad", format!("failed: {why}")));
    }
    if s.flags.client_saturated {
        out.push(("warn", "client saturated".to_string()));
    }
    if s.failure.is_none() && s.mode != Mode::Idle && s.load.completed == 0 {
        out.push(("bad", "no answers: no latency to show".to_string()));
    }
    if let Some((waited, of)) = charts::most_waited(s) {
        out.push((
            "warn",
            format!("{waited} of {of} connections waited unanswered: figures are the served few's"),
        ));
    }
    if s.flags.littles_law_off {
        out.push(("warn", "Little's law off".to_string()));
    }
    if s.load.completed > 0 && s.load.completed < charts::P99_NEEDS_ANSWERS {
        out.push((
            "warn",
            format!(
                "only {} answers: p99 is the slowest of them",
                format::count(s.load.completed as f64)
            ),
        ));
    }
    if s.load.latency.censored_late > 0 {
        out.push((
            "warn",
            format!(
                "{} unanswered at the end, slower than every answer: figures marked ≥ are lower bounds",
                format::count(s.load.latency.late_requests as f64)
            ),
        ));
    }
    match wb_model::spread::window_outliers(s) {
        0 => {}
        1 => out.push(("info", "1 outlier window".to_string())),
        n => out.push(("info", format!("{n} outlier windows"))),
    }
    if let Some(why) = s
        .flags
        .level_not_reached
        .as_ref()
        .or(s.load.not_reached.as_ref())
    {
        out.push(("warn", format!("level not reached: {why}")));
    }
    if let Some(why) = &s.flags.not_supported {
        out.push(("none", format!("not supported: {why}")));
    }
    out
}

fn idle_slopes(steps: &[&StepResult]) -> Vec<String> {
    let mut engines: Vec<&str> = Vec::new();
    for s in steps {
        if !engines.contains(&s.engine.as_str()) {
            engines.push(&s.engine);
        }
    }
    engines
        .into_iter()
        .map(|e| {
            let mine: Vec<&StepResult> = steps.iter().copied().filter(|s| s.engine == e).collect();
            let spread = wb_reports::claims::idle_slope_estimate(&mine);
            match (IdleSlope::fit(&mine), spread) {
                (Some(fit), Some((user, kernel))) => format!(
                    "{e}: {} per idle connection, base {}; the kernel: {} per connection, apart",
                    format::estimate(&user, format::bytes),
                    format::bytes(fit.base_bytes),
                    format::estimate(&kernel, format::bytes)
                ),
                (Some(fit), None) => format!(
                    "{e}: {} per idle connection, base {}; the kernel: {} per connection, apart",
                    format::bytes(fit.bytes_per_connection),
                    format::bytes(fit.base_bytes),
                    format::bytes(fit.kernel_bytes_per_connection)
                ),
                (None, _) => {
                    format!("{e}: no slope (needs two connection counts that did not fail)")
                }
            }
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "charts_fragment.html")]
struct ChartsFragment {
    sections: Vec<WorkloadSection>,
}

/// The charts of a run, alone: the live page swaps them in as steps end.
pub async fn charts_fragment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, PageError> {
    let run = load_run(&state, parse_id(&id)?).await?;
    tokio::task::spawn_blocking(move || ChartsFragment {
        sections: sections(&run, false),
    })
    .await
    .map_err(|err| PageError::Store(err.to_string()))
}

/// The files a run can be downloaded as, from its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    /// `/runs/{id}/run.json`: the run as the API gives it.
    Json,
    /// `/runs/{id}/steps.csv`: one row per step, the key figures in plain units.
    Csv,
    /// `/runs/{id}/report.html`: the standalone report `workbench report` writes (one HTML
    /// file, charts inline, no external requests).
    ReportHtml,
    /// `/runs/{id}/report.md.tar`: the Markdown report and its SVG charts, as one archive.
    ReportMarkdown,
}

impl Download {
    /// Content type, file name and bytes of run `id` as this file.
    fn make(self, id: RunId, run: StoredRun) -> Result<(&'static str, String, Vec<u8>), PageError> {
        Ok(match self {
            Download::Json => {
                let body = serde_json::to_string_pretty(&export::RunDocument::new(run))
                    .map_err(|err| PageError::Store(err.to_string()))?;
                (
                    "application/json",
                    format!("run-{id}.json"),
                    body.into_bytes(),
                )
            }
            Download::Csv => (
                "text/csv; charset=utf-8",
                format!("run-{id}-steps.csv"),
                export::steps_csv(id, &run).into_bytes(),
            ),
            Download::ReportHtml => (
                "text/html; charset=utf-8",
                format!("report-{id}.html"),
                wb_reports::report::html(&run, &[]).into_bytes(),
            ),
            Download::ReportMarkdown => {
                let (name, bytes) = wb_reports::report::markdown_archive(&run, &[]);
                ("application/x-tar", name, bytes)
            }
        })
    }
}

/// `GET /runs/{id}/…`: run `id` as the file `what` names.
pub async fn download(state: AppState, id: String, what: Download) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let run = load_run(&state, id).await?;
    let (content_type, name, body) = what.make(id, run)?;
    Ok(attachment(content_type, &name, body))
}

/// A download: content type, file name, bytes.
pub fn attachment(content_type: &str, file_name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        body,
    )
        .into_response()
}
