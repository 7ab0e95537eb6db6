//! `/lessons` and `/lessons/{slug}`: each claim, judged by the latest run that has the data.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
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
    judge_before(store, lesson, cache, None)
}

/// [`judge`], among the runs older than `before` (all runs with `None`).
fn judge_before(
    store: &Store,
    lesson: &Lesson,
    cache: &mut HashMap<RunId, StoredRun>,
    before: Option<RunId>,
) -> Result<Option<(RunRow, Finding)>, PageError> {
    let mut fallback: Option<(RunRow, Finding)> = None;
    let runs = store.runs()?;
    let older = runs
        .into_iter()
        .filter(|r| before.is_none_or(|b| r.id.0 < b.0))
        .take(SEARCH_DEPTH);
    for summary in older {
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

/// A lesson in a list (the lessons page, the overview's "at a glance"), with its verdict.
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

impl LessonItem {
    /// `lesson` with a verdict and its headline sentence.
    pub fn judged(lesson: &Lesson, verdict: Verdict, headline: String) -> LessonItem {
        LessonItem {
            slug: lesson.slug,
            title: lesson.title,
            claim: lesson.claim,
            verdict: (verdict.label(), verdict.class()),
            headline,
        }
    }
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
                Ok(LessonItem::judged(lesson, verdict, headline))
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
    previous: Option<&'static Lesson>,
    next: Option<&'static Lesson>,
    /// Where the talk's (or PEP's, or the workbench's) words come from.
    cited: Cited,
    /// The "try it" form, prefilled.
    try_form: TryForm,
    /// With `?run=N`: that run's verdict and headline beside the previous run judged for
    /// the lesson.
    tried: Option<[Judged; 2]>,
}

/// One run's verdict on a lesson, for the "this run beside the previous one" table.
pub struct Judged {
    /// The run, when there is one.
    pub run: Option<RunRow>,
    /// Verdict label and class.
    pub verdict: (&'static str, &'static str),
    /// Its headline, or why there is none.
    pub headline: String,
}

impl Judged {
    fn of(run: Option<RunRow>, finding: Option<&Finding>) -> Judged {
        match finding {
            Some(f) => Judged {
                run,
                verdict: (f.verdict.label(), f.verdict.class()),
                headline: f
                    .headline()
                    .map(str::to_string)
                    .or(f.reason.clone())
                    .unwrap_or_default(),
            },
            None => Judged {
                run,
                verdict: (Verdict::NoData.label(), Verdict::NoData.class()),
                headline: "No earlier run has this lesson's workload.".into(),
            },
        }
    }
}

/// A citation block: the words, where they come from, and where to find them.
pub struct Cited {
    /// The words, verbatim.
    pub text: &'static str,
    /// `the asyncio/Twisted talk its lessons quote, chapter 13`.
    pub source: String,
    /// Where to read or watch it, when known.
    pub url: Option<&'static str>,
    /// The talk's fields not recorded yet (`title, speaker, …`), for the talk's words.
    pub missing: Option<String>,
}

impl Cited {
    /// The citation of `quote`.
    pub fn of(quote: &claims::talk::Quote) -> Cited {
        let missing = claims::talk::TALK.missing();
        Cited {
            text: quote.text,
            source: quote.cited(),
            url: quote.url(),
            missing: (quote.source == claims::talk::Source::Talk && !missing.is_empty())
                .then(|| missing.join(", ")),
        }
    }
}

/// A lesson's "try it" form, prefilled from its [`claims::Knobs`] and its workload.
pub struct TryForm {
    /// The page's token.
    pub token: String,
    /// The lesson the run comes back to.
    pub lesson: &'static str,
    /// What to try next, in a sentence.
    pub try_next: &'static str,
    /// The command that measures the lesson at full size.
    pub hint: String,
    /// The workload.
    pub workload: &'static str,
    /// Engines, comma-separated.
    pub engines: &'static str,
    /// Peers, comma-separated.
    pub peers: &'static str,
    /// Levels, comma-separated.
    pub levels: String,
    /// Seconds per step.
    pub step_secs: String,
    /// The request's knobs the lesson offers, with their first values.
    pub wait_ms: Option<u64>,
    /// CPU per request (µs).
    pub cpu_us: Option<u64>,
    /// Body bytes.
    pub bytes: Option<u64>,
    /// Whether the lesson offers the pool's workers (empty at first: the pool's own
    /// default, which it states when it starts).
    pub pool_workers: bool,
    /// The threads' stack size (the default).
    pub stack_size: Option<String>,
    /// The caps, in words.
    pub caps: String,
}

impl TryForm {
    /// The form of `lesson`: its workload's figures as the quick suite runs them.
    pub fn of(lesson: &Lesson, token: String) -> TryForm {
        let k = &lesson.knobs;
        let workload = wb_model::spec::Suite::named("quick")
            .ok()
            .and_then(|q| q.workloads.into_iter().find(|w| w.name == lesson.workload))
            .or_else(|| wb_model::spec::Workload::load(lesson.workload).ok());
        let request = workload.map(|w| w.request).unwrap_or_default();
        TryForm {
            token,
            lesson: lesson.slug,
            try_next: lesson.try_next,
            hint: claims::hint(lesson),
            workload: lesson.workload,
            engines: k.engines,
            peers: k.peers,
            levels: k
                .levels
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            step_secs: k.step_secs.to_string(),
            wait_ms: k.wait.then_some(request.wait_ms),
            cpu_us: k.cpu.then_some(request.cpu_us),
            bytes: k.bytes.then_some(request.bytes),
            pool_workers: k.pool_workers,
            stack_size: k.stack_size.then(crate::newrun::default_stack_size),
            caps: format!(
                "at most {} levels up to {}, steps of at most {} s, about {} s in all",
                crate::newrun::TRY_MAX_LEVELS,
                wb_reports::format::count(crate::newrun::TRY_MAX_LEVEL as f64),
                crate::newrun::TRY_MAX_STEP_SECS,
                crate::newrun::TRY_MAX_SECS
            ),
        }
    }
}

/// The run `lesson` is judged on — `asked` (`?run=N`), else the newest that has its data — with
/// the finding; and, for an asked run, its verdict beside the run judged before it.
type JudgedFor = (Option<(RunRow, Finding)>, Option<[Judged; 2]>);

fn judged_for(
    store: &Store,
    lesson: &Lesson,
    asked: Option<RunId>,
    cache: &mut HashMap<RunId, StoredRun>,
) -> Result<JudgedFor, PageError> {
    let Some(id) = asked else {
        return Ok((judge(store, lesson, cache)?, None));
    };
    let Some(run) = store.run(id)? else {
        return Err(PageError::NotFound(format!("There is no run {}.", id.0)));
    };
    let row = RunRow::of(&run.summary);
    let finding = (lesson.judge)(&run);
    let this = Judged::of(Some(RunRow::of(&run.summary)), Some(&finding));
    cache.insert(id, run);
    let previous = match judge_before(store, lesson, cache, Some(id))? {
        Some((row, f)) => Judged::of(Some(row), Some(&f)),
        None => Judged::of(None, None),
    };
    Ok((Some((row, finding)), Some([this, previous])))
}

/// One lesson.
pub async fn show(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<axum::response::Response, PageError> {
    let asked: Option<RunId> = match query.iter().find(|(k, _)| k == "run") {
        Some((_, id)) => Some(super::parse_id(id)?),
        None => None,
    };
    if slug == crate::lesson_async::SLUG {
        return Ok(async_lesson(state, asked).await?.into_response());
    }
    let Some(index) = LESSONS.iter().position(|l| l.slug == slug) else {
        return Err(PageError::NotFound(format!(
            "There is no lesson {slug:?}. The Lessons page lists them all."
        )));
    };
    let lesson = &LESSONS[index];
    let (found, side_by_side, (timeline_run, timelines), tried) =
        with_store(&state, move |store| {
            let mut cache = HashMap::new();
            let (found, tried) = judged_for(store, lesson, asked, &mut cache)?;
            // The same run's figures for every engine and peer, beside the judge's sentences.
            let side_by_side = found
                .as_ref()
                .and_then(|(row, _)| cache.get(&RunId(row.id)))
                .map(|run| crate::side_by_side::side_by_side(lesson, run))
                .unwrap_or_default();
            Ok((found, side_by_side, traced(store, lesson.workload)?, tried))
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
        previous: index.checked_sub(1).map(|i| &LESSONS[i]),
        next: LESSONS.get(index + 1),
        cited: Cited::of(&lesson.chapter),
        try_form: TryForm::of(lesson, state.inner.token.clone()),
        tried,
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
    question: &'static str,
    prediction: &'static str,
    claim: &'static str,
    excerpts: [crate::lesson_async::Excerpt; 3],
    holdings: Vec<crate::lesson_async::Holding>,
    sentence: Option<String>,
    /// Memory per idle connection, from the run the memory lesson judges.
    measured: Vec<crate::lesson_async::Measured>,
    /// The sentence that compares them, as the memory lesson says it.
    measured_sentence: Option<String>,
    /// That run.
    measured_run: Option<i64>,
    /// The memory lesson's charts of that run.
    charts: Vec<ChartView>,
    /// Where the figures come from: a run's id, or `None` for this dashboard's binary.
    from_run: Option<i64>,
    /// The idle workload's timelines, as the memory lesson shows them.
    timelines: Vec<ChartView>,
    timeline_run: Option<i64>,
    cited: Cited,
    try_form: TryForm,
    tried: Option<[Judged; 2]>,
}

/// "Asynchronous code in a synchronous style": the three excerpts, and what one idle
/// connection costs in each model — the memory lesson's figures, of the run it judges (or of
/// `asked`, the run a "try it" started), beside the engines' own sizes from the newest run
/// that stored them, else from this dashboard's executable.
async fn async_lesson(state: AppState, asked: Option<RunId>) -> Result<AsyncLessonPage, PageError> {
    let exe = state.inner.config.exe.clone();
    let memory = claims::find("thread-memory").ok_or_else(|| {
        PageError::Store("the lesson \"A thread costs a stack\" is missing".into())
    })?;
    let (costs, charts, (timeline_run, timelines), tried) = with_store(&state, move |store| {
        let mut cache = HashMap::new();
        let (found, tried) = judged_for(store, memory, asked, &mut cache)?;
        let costs = found.as_ref().and_then(|(row, _)| {
            cache
                .get(&RunId(row.id))
                .and_then(claims::idle_costs)
                .map(|c| (row.id, c))
        });
        let charts = found.map(|(_, f)| f.charts).unwrap_or_default();
        Ok((costs, charts, traced(store, memory.workload)?, tried))
    })
    .await?;
    let (measured, measured_sentence) = costs
        .as_ref()
        .map(|(_, c)| crate::lesson_async::measured(c))
        .unwrap_or_default();
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
    let try_form = TryForm {
        lesson: crate::lesson_async::SLUG,
        try_next: crate::lesson_async::TRY_NEXT,
        ..TryForm::of(memory, state.inner.token.clone())
    };
    Ok(AsyncLessonPage {
        nav: "lessons",
        title: crate::lesson_async::TITLE,
        question: crate::lesson_async::QUESTION,
        prediction: crate::lesson_async::PREDICTION,
        claim: crate::lesson_async::CLAIM,
        excerpts: crate::lesson_async::excerpts(),
        holdings,
        sentence,
        from_run,
        measured,
        measured_sentence,
        measured_run: costs.map(|(id, _)| id),
        charts: views(charts),
        timelines: views(timelines),
        timeline_run,
        cited: Cited::of(&claims::talk::SYNC_STYLE),
        try_form,
        tried,
    })
}
