//! `/lessons` and `/lessons/{slug}`: each claim, judged by the latest run that has the data.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use wb_reports::store::{RunId, Store, StoredRun};

use super::{ChartView, PageError, RunRow, views, with_store};
use crate::AppState;
use wb_reports::claims::{self, Finding, LESSONS, Lesson, Verdict};

/// How many runs, newest first, are searched for a lesson's data.
const SEARCH_DEPTH: usize = 25;

/// Finds the newest run whose data lets `lesson` judge its claim, with the finding; else the
/// newest finding that said why not (or none, if no run has the workload at all).
fn judge(
    store: &Store,
    lesson: &Lesson,
    cache: &mut HashMap<RunId, StoredRun>,
) -> Result<Option<(RunRow, Finding)>, PageError> {
    let mut fallback: Option<(RunRow, Finding)> = None;
    for summary in store.runs()?.into_iter().take(SEARCH_DEPTH) {
        if summary.steps == 0 || !summary.workloads.iter().any(|w| w == lesson.workload) {
            continue;
        }
        let run = match cache.entry(summary.id) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => match store.run(summary.id)? {
                Some(run) => entry.insert(run),
                None => continue,
            },
        };
        if !run.steps.iter().any(|s| s.workload == lesson.workload) {
            continue;
        }
        let finding = (lesson.judge)(run);
        if finding.verdict != Verdict::NoData && !finding.missing_engine {
            return Ok(Some((RunRow::of(&run.summary), finding)));
        }
        // A run without the claim's engine (inconclusive, naming it) beats one with no data;
        // a later run that has the engine beats both.
        let better = match &fallback {
            None => true,
            Some((_, f)) => f.verdict == Verdict::NoData && finding.verdict != Verdict::NoData,
        };
        if better {
            fallback = Some((RunRow::of(&run.summary), finding));
        }
    }
    Ok(fallback)
}

/// A lesson in the list.
pub struct LessonItem {
    /// Slug.
    pub slug: &'static str,
    /// The claim.
    pub title: &'static str,
    /// The claim in a sentence.
    pub claim: &'static str,
    /// Verdict label and class.
    pub verdict: (&'static str, &'static str),
    /// The headline sentence, or why there is none.
    pub headline: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "lessons.html")]
struct LessonsPage {
    nav: &'static str,
    lessons: Vec<LessonItem>,
}

/// The list of lessons, each with its verdict.
pub async fn list(State(state): State<AppState>) -> Result<impl IntoResponse, PageError> {
    let lessons = with_store(&state, |store| {
        let mut cache = HashMap::new();
        LESSONS
            .iter()
            .map(|lesson| {
                let found = judge(store, lesson, &mut cache)?;
                let (verdict, headline) = match found {
                    Some((_, f)) => (
                        f.verdict,
                        f.headline()
                            .map(str::to_string)
                            .or(f.reason)
                            .unwrap_or_default(),
                    ),
                    None => (
                        Verdict::NoData,
                        format!("No run has the {} workload yet.", lesson.workload),
                    ),
                };
                Ok(LessonItem {
                    slug: lesson.slug,
                    title: lesson.title,
                    claim: lesson.claim,
                    verdict: (verdict.label(), verdict.class()),
                    headline,
                })
            })
            .chain(std::iter::once(Ok(LessonItem {
                slug: crate::lesson_async::SLUG,
                title: crate::lesson_async::TITLE,
                claim: crate::lesson_async::CLAIM,
                verdict: ("measured by the engines", "none"),
                headline: "The selector's callbacks and the coroutine's async fn side by \
                    side, with what each holds per connection."
                    .into(),
            })))
            .collect::<Result<Vec<_>, PageError>>()
    })
    .await?;
    Ok(LessonsPage {
        nav: "lessons",
        lessons,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "lesson.html")]
struct LessonPage {
    nav: &'static str,
    lesson: &'static Lesson,
    verdict: Verdict,
    reason: Option<String>,
    headline: Option<String>,
    sentences: Vec<String>,
    /// The lesson's figure for every engine and peer of the run, and the talk's figure
    /// against it ([`crate::side_by_side`]).
    side_by_side: Vec<String>,
    charts: Vec<ChartView>,
    /// Timelines of the lesson's workload from the newest traced run (`run --trace`).
    timelines: Vec<ChartView>,
    /// The traced run they come from.
    timeline_run: Option<i64>,
    run: Option<RunRow>,
    hint: String,
    previous: Option<&'static Lesson>,
    next: Option<&'static Lesson>,
}

/// One lesson.
pub async fn show(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<axum::response::Response, PageError> {
    if slug == crate::lesson_async::SLUG {
        return Ok(async_lesson(state).await?.into_response());
    }
    let Some(index) = LESSONS.iter().position(|l| l.slug == slug) else {
        return Err(PageError::NotFound(format!(
            "There is no lesson {slug:?}. The Lessons page lists them all."
        )));
    };
    let lesson = &LESSONS[index];
    let (found, side_by_side, (timeline_run, timelines)) = with_store(&state, move |store| {
        let mut cache = HashMap::new();
        let found = judge(store, lesson, &mut cache)?;
        // The same run's figures for every engine and peer, beside the judge's sentences.
        let side_by_side = found
            .as_ref()
            .and_then(|(row, _)| cache.get(&RunId(row.id)))
            .map(|run| crate::side_by_side::side_by_side(lesson, run))
            .unwrap_or_default();
        Ok((found, side_by_side, traced(store, lesson.workload)?))
    })
    .await?;
    let (run, finding) = match found {
        Some((run, finding)) => (Some(run), finding),
        None => (
            None,
            Finding {
                verdict: Verdict::NoData,
                reason: Some(format!(
                    "No run has the {} workload yet: run `{}`, or start it from the New run page.",
                    lesson.workload,
                    claims::hint(lesson)
                )),
                sentences: Vec::new(),
                headline: None,
                charts: Vec::new(),
                missing_engine: false,
            },
        ),
    };
    Ok(LessonPage {
        nav: "lessons",
        lesson,
        verdict: finding.verdict,
        headline: finding.headline.clone(),
        reason: finding.reason,
        sentences: finding.sentences,
        side_by_side,
        charts: views(finding.charts),
        timelines: views(timelines),
        timeline_run,
        run,
        hint: claims::hint(lesson),
        previous: index.checked_sub(1).map(|i| &LESSONS[i]),
        next: LESSONS.get(index + 1),
    }
    .into_response())
}

/// The timelines of `workload` from the newest of the recent runs that traced it (the
/// concurrency/parallelism, db-wait and slowloris lessons show who ran what, when).
fn traced(
    store: &Store,
    workload: &str,
) -> Result<(Option<i64>, Vec<wb_reports::charts::Chart>), PageError> {
    for summary in store.runs()?.into_iter().take(SEARCH_DEPTH) {
        if !summary.workloads.iter().any(|w| w == workload) {
            continue;
        }
        let traces: Vec<_> = store
            .traces(summary.id)?
            .into_iter()
            .filter(|t| t.workload == workload)
            .collect();
        if !traces.is_empty() {
            let charts = wb_reports::charts::timelines(&traces);
            return Ok((Some(summary.id.0), charts));
        }
    }
    Ok((None, Vec::new()))
}

#[derive(Template, WebTemplate)]
#[template(path = "lesson_async.html")]
struct AsyncLessonPage {
    nav: &'static str,
    title: &'static str,
    claim: &'static str,
    excerpts: [crate::lesson_async::Excerpt; 2],
    holdings: Vec<crate::lesson_async::Holding>,
    sentence: Option<String>,
    /// Where the figures come from: a run's id, or `None` for this dashboard's binary.
    from_run: Option<i64>,
}

/// "Asynchronous code in a synchronous style": the two excerpts and the engines' own sizes,
/// from the newest run that stored them, else from this dashboard's executable.
async fn async_lesson(state: AppState) -> Result<AsyncLessonPage, PageError> {
    let exe = state.inner.config.exe.clone();
    let (from_run, descriptions) = with_store(&state, move |store| {
        for summary in store.runs()?.into_iter().take(SEARCH_DEPTH) {
            let described = store.descriptions(summary.id)?;
            if !described.is_empty() {
                return Ok((Some(summary.id.0), described));
            }
        }
        Ok((None, crate::lesson_async::describe_now(&exe)))
    })
    .await?;
    let (holdings, sentence) = crate::lesson_async::holdings(&descriptions);
    Ok(AsyncLessonPage {
        nav: "lessons",
        title: crate::lesson_async::TITLE,
        claim: crate::lesson_async::CLAIM,
        excerpts: crate::lesson_async::excerpts(),
        holdings,
        sentence,
        from_run,
    })
}
