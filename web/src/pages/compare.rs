//! `/compare?run=A&run=B…`: runs side by side, the same workload on the same engine, with
//! the change in each figure from the first (oldest) run chosen.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use wb_model::results::StepResult;
use wb_model::spec::Mode;
use wb_reports::charts::{self, Metric};
use wb_reports::claims::idle_slope_estimate;
use wb_reports::format::{self, Better};
use wb_reports::report::compare;
use wb_reports::store::{RunId, StoredRun};

use super::{ChartView, PageError, RunRow, engine_css, load_run, parse_id, with_store};
use crate::{AppState, newrun};

/// The most runs one comparison takes.
pub const MAX_COMPARE: usize = 6;

/// One engine on one workload across the chosen runs.
pub struct Block {
    /// Workload name.
    pub workload: String,
    /// Engine label.
    pub engine: String,
    /// Its colour.
    pub color: String,
    /// The main figure against the level, one line per run.
    pub chart: ChartView,
    /// Column headers after `level` and `figure`: one per run.
    pub runs: Vec<String>,
    /// Rows: level, figure, then one cell per run (`—` when the run lacks it).
    pub rows: Vec<(String, &'static str, Vec<String>)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "compare.html")]
struct ComparePage {
    nav: &'static str,
    all: Vec<RunRow>,
    chosen: Vec<RunRow>,
    blocks: Vec<Block>,
    workloads: Vec<String>,
    engines: Vec<String>,
    workload: String,
    engine: String,
    /// How the chosen runs' machines differ from the first's, said before any figure.
    machine_notes: Vec<String>,
}

/// `GET /compare/report.html?run=A&run=B…`: the standalone report of the newest run chosen,
/// with every figure side by side with the older ones and its change.
pub async fn download_report(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<axum::response::Response, PageError> {
    let pairs = newrun::pairs(query.unwrap_or_default().as_bytes());
    let mut ids: Vec<RunId> = Vec::new();
    for (key, value) in &pairs {
        if key == "run" {
            let id = parse_id(value.trim())?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    if ids.len() < 2 || ids.len() > MAX_COMPARE {
        return Err(PageError::BadRequest(format!(
            "run: a comparison report takes 2 to {MAX_COMPARE} runs; {} were given.",
            ids.len()
        )));
    }
    ids.sort();
    let mut runs = Vec::new();
    for id in &ids {
        runs.push(load_run(&state, *id).await?);
    }
    let main = runs.pop().expect("at least two runs");
    let body = wb_reports::report::html(&main, &runs);
    Ok(super::runs::attachment(
        "text/html; charset=utf-8",
        &format!("report-{}-compared.html", main.summary.id),
        body.into_bytes(),
    ))
}

/// The comparison page; with fewer than two runs, a form to choose them.
pub async fn page(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<impl axum::response::IntoResponse, PageError> {
    let pairs = newrun::pairs(query.unwrap_or_default().as_bytes());
    let mut ids: Vec<RunId> = Vec::new();
    let (mut workload, mut engine) = (String::new(), String::new());
    for (key, value) in &pairs {
        match key.as_str() {
            "run" => {
                let id = parse_id(value.trim())?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            "workload" => workload = value.trim().to_string(),
            "engine" => engine = value.trim().to_string(),
            _ => {}
        }
    }
    if ids.len() > MAX_COMPARE {
        return Err(PageError::BadRequest(format!(
            "{} runs were chosen; a comparison takes at most {MAX_COMPARE}.",
            ids.len()
        )));
    }
    ids.sort();
    let all = with_store(&state, |store| Ok(store.runs()?)).await?;
    let mut runs = Vec::new();
    if ids.len() >= 2 {
        for id in &ids {
            runs.push(load_run(&state, *id).await?);
        }
    }
    let workloads = union(
        runs.iter()
            .flat_map(|r| r.steps.iter().map(|s| s.workload.clone())),
    );
    let mut engines = union(
        runs.iter()
            .flat_map(|r| r.steps.iter().map(|s| s.engine.clone())),
    );
    wb_model::engines::sort(&mut engines);
    if !workload.is_empty() && !workloads.contains(&workload) {
        return Err(PageError::BadRequest(format!(
            "workload: {workload:?} is in none of the chosen runs; they have {}.",
            workloads.join(", ")
        )));
    }
    if !engine.is_empty() && !engines.contains(&engine) {
        return Err(PageError::BadRequest(format!(
            "engine: {engine:?} is in none of the chosen runs; they have {}.",
            engines.join(", ")
        )));
    }
    let machine_notes: Vec<String> = runs
        .iter()
        .skip(1)
        .flat_map(|r| compare::machine_change(&runs[0], r).notes)
        .collect();
    let (w, e) = (workload.clone(), engine.clone());
    let (ws, es) = (workloads.clone(), engines.clone());
    let blocks = tokio::task::spawn_blocking(move || blocks(&runs, &ws, &es, &w, &e))
        .await
        .map_err(|err| PageError::Store(err.to_string()))?;
    Ok(ComparePage {
        nav: "compare",
        chosen: all
            .iter()
            .rev()
            .filter(|r| ids.len() >= 2 && ids.contains(&r.id))
            .map(RunRow::of)
            .collect(),
        all: all.iter().map(RunRow::of).collect(),
        blocks,
        workloads,
        engines,
        workload,
        engine,
        machine_notes,
    })
}

fn union(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn label(run: &StoredRun) -> String {
    format!(
        "run {} ({})",
        run.summary.id,
        format::date(run.summary.started_at)
    )
}

fn blocks(
    runs: &[StoredRun],
    workloads: &[String],
    engines: &[String],
    only_workload: &str,
    only_engine: &str,
) -> Vec<Block> {
    // Whether one run's timings may be judged against another's (at most six runs): once per
    // pair, not per cell.
    let comparable: std::collections::HashMap<(RunId, RunId), bool> = runs
        .iter()
        .flat_map(|a| runs.iter().map(move |b| (a, b)))
        .map(|(a, b)| {
            let judged = compare::machine_change(a, b).timings_comparable;
            ((a.summary.id, b.summary.id), judged)
        })
        .collect();
    let mut out = Vec::new();
    for workload in workloads {
        if !only_workload.is_empty() && workload != only_workload {
            continue;
        }
        for engine in engines {
            if !only_engine.is_empty() && engine != only_engine {
                continue;
            }
            let of = |run: &StoredRun| -> Vec<StepResult> {
                run.steps
                    .iter()
                    .filter(|s| &s.workload == workload && &s.engine == engine)
                    .cloned()
                    .collect()
            };
            let with: Vec<(&StoredRun, Vec<StepResult>)> = runs
                .iter()
                .map(|r| (r, of(r)))
                .filter(|(_, steps)| !steps.is_empty())
                .collect();
            if with.len() < 2 {
                continue;
            }
            let mode = with[0].1[0].mode;
            let metric = match mode {
                Mode::Closed => Metric::Throughput,
                Mode::Idle => Metric::PeakPss,
                _ => Metric::LatencyP99,
            };
            let series: Vec<(String, Vec<StepResult>)> = with
                .iter()
                .map(|(r, steps)| (label(r), steps.clone()))
                .collect();
            let chart = charts::compare(&series, workload, engine, metric).into();
            let mut levels: Vec<u64> = with
                .iter()
                .flat_map(|(_, s)| s.iter().map(|s| s.level))
                .collect();
            levels.sort_unstable();
            levels.dedup();
            let mut rows = Vec::new();
            for level in levels {
                for figure in compare::figures(mode) {
                    let at =
                        |steps: &[StepResult]| steps.iter().find(|s| s.level == level).cloned();
                    let base = at(&with[0].1);
                    let cells = with
                        .iter()
                        .enumerate()
                        .map(|(i, (run, steps))| {
                            let step = at(steps);
                            let shown = figure.cell(step.as_ref());
                            if i == 0 || step.is_none() || base.is_none() {
                                return shown;
                            }
                            let judged = comparable[&(run.summary.id, with[0].0.summary.id)];
                            let change = figure.change(step.as_ref(), base.as_ref(), judged);
                            format!("{shown} ({change})")
                        })
                        .collect();
                    rows.push((level.to_string(), figure.name(), cells));
                }
            }
            if mode == Mode::Idle {
                let slopes: Vec<_> = with
                    .iter()
                    .map(|(_, steps)| {
                        let refs: Vec<&StepResult> = steps.iter().collect();
                        idle_slope_estimate(&refs).map(|(user, _)| user)
                    })
                    .collect();
                let cells = slopes
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match (v, &slopes[0]) {
                        (None, _) => "—".to_string(),
                        (Some(v), Some(b)) if i > 0 => format!(
                            "{} ({})",
                            format::estimate(v, format::bytes),
                            format::significant_change(v, b, Better::Lower)
                        ),
                        (Some(v), _) => format::estimate(v, format::bytes),
                    })
                    .collect();
                rows.push(("all".into(), "bytes per idle connection", cells));
            }
            out.push(Block {
                workload: workload.clone(),
                engine: engine.clone(),
                color: engine_css(engine),
                chart,
                runs: with
                    .iter()
                    .map(|(r, _)| format!("run {}", r.summary.id))
                    .collect(),
                rows,
            });
        }
    }
    out
}
