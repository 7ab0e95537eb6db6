//! `/`: the latest completed run at a glance.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use wb_reports::charts;
use wb_reports::store::StoredRun;

use super::lessons::LessonItem;
use super::{ChartView, PageError, RunRow, engine_css, views, with_store};
use crate::AppState;
use wb_reports::claims::{LESSONS, Verdict};

#[derive(Template, WebTemplate)]
#[template(path = "overview.html")]
struct Overview {
    nav: &'static str,
    run: Option<RunRow>,
    engines: Vec<(String, String)>,
    memory: Vec<ChartView>,
    throughput: Vec<ChartView>,
    latency: Vec<ChartView>,
    cores: Vec<ChartView>,
    /// Each lesson's headline, computed from the run on the page.
    glance: Vec<LessonItem>,
    in_progress: Option<i64>,
}

impl Overview {
    /// The lessons, in reading order, for "Start here".
    fn lessons(&self) -> &'static [wb_reports::claims::Lesson] {
        wb_reports::claims::LESSONS
    }

    /// The talk the lessons test, in words, with what is known of it.
    fn talk(&self) -> String {
        wb_reports::claims::talk::TALK.describe()
    }
}

/// The overview page.
pub async fn page(
    State(state): State<AppState>,
) -> Result<impl axum::response::IntoResponse, PageError> {
    let latest = with_store(&state, |store| {
        Ok(match store.latest_completed()? {
            Some(id) => store.run(id)?,
            None => None,
        })
    })
    .await?;
    let in_progress = state.run_in_progress().await;
    // Charts are CPU work (a few milliseconds each): off the async threads.
    let page = tokio::task::spawn_blocking(move || build(latest, in_progress))
        .await
        .map_err(|err| PageError::Store(err.to_string()))?;
    Ok(page)
}

fn build(latest: Option<StoredRun>, in_progress: Option<i64>) -> Overview {
    let Some(run) = latest else {
        let hint = "cargo run --release   (or: New run)";
        let empty = |id: &str, title: &str| views(vec![charts::empty_state(id, title, hint)]);
        return Overview {
            nav: "overview",
            run: None,
            engines: Vec::new(),
            memory: empty("idle-bytes", "Bytes per idle connection"),
            throughput: empty("throughput", "Throughput against concurrency"),
            latency: empty("latency", "p99 latency against load"),
            cores: empty("cores", "Cores used, engine and load generator"),
            glance: Vec::new(),
            in_progress,
        };
    };
    let steps = &run.steps;
    let closed = ["hello", "db-wait", "cpu"];
    let glance = LESSONS
        .iter()
        .filter_map(|lesson| {
            let finding = (lesson.judge)(&run);
            (finding.verdict != Verdict::NoData).then(|| {
                let headline = finding.headline().unwrap_or_default().to_string();
                LessonItem::judged(lesson, finding.verdict, headline)
            })
        })
        .collect();
    Overview {
        nav: "overview",
        engines: run
            .summary
            .engines
            .iter()
            .map(|e| (e.clone(), engine_css(e)))
            .collect(),
        memory: views(vec![
            charts::bytes_per_connection_bars(steps, "idle"),
            charts::memory_per_connection(steps, "idle"),
        ]),
        throughput: views(
            closed
                .iter()
                .map(|w| charts::throughput(steps, w))
                .collect(),
        ),
        latency: views(closed.iter().map(|w| charts::latency(steps, w)).collect()),
        cores: views(vec![
            charts::cores(steps, "cpu"),
            charts::cores(steps, "hello"),
        ]),
        glance,
        run: Some(RunRow::of(&run.summary)),
        in_progress,
    }
}
