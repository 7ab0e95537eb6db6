//! A story per lesson: question, prediction, citation, a try-it form that starts a run (or
//! names the field it refuses), `?run=N` beside the previous run, and the async lesson's
//! sizes equal to the memory lesson's.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use wb_web::Dashboard;
use wb_web::fixture::{self, FixtureRuns};

use crate::util::{Answer, config, send};

const HOST: &str = "127.0.0.1:8080";
const ORIGIN: &str = "http://127.0.0.1:8080";

fn site() -> (tempfile::TempDir, Dashboard, FixtureRuns) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let runs = fixture::create(&db).unwrap();
    let dashboard = Dashboard::new(config(db), HOST.parse().unwrap());
    (dir, dashboard, runs)
}

async fn get(dashboard: &Dashboard, path: &str) -> Answer {
    let request = Request::get(path)
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    send(dashboard.router(), request).await
}

async fn post(dashboard: &Dashboard, body: &str) -> Answer {
    let request = Request::post("/runs")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={}&{body}", dashboard.token())))
        .unwrap();
    send(dashboard.router(), request).await
}

#[tokio::test]
async fn every_lesson_tells_its_story_and_offers_a_prefilled_form() {
    let (_dir, dashboard, _) = site();
    for lesson in wb_reports::claims::LESSONS {
        let page = get(&dashboard, &format!("/lessons/{}", lesson.slug)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", lesson.slug);
        let body = &page.body;
        assert!(body.contains("id=\"question\""), "{}", lesson.slug);
        assert!(
            body.contains("Make your guess, then open"),
            "{}",
            lesson.slug
        );
        assert!(
            body.contains("<details class=\"predict\""),
            "{}",
            lesson.slug
        );
        assert!(body.contains("class=\"citation\""), "{}", lesson.slug);
        assert!(body.contains("action=\"/runs\""), "{}", lesson.slug);
        assert!(
            body.contains(&format!("name=\"lesson\" value=\"{}\"", lesson.slug)),
            "{}",
            lesson.slug
        );
        assert!(body.contains(&format!("name=\"workload\" value=\"{}\"", lesson.workload)));
        assert!(body.contains("name=\"levels\" value=\""), "{}", lesson.slug);
        if lesson.knobs.wait {
            assert!(
                body.contains("name=\"wait_ms\" value=\""),
                "{}",
                lesson.slug
            );
        }
        if lesson.knobs.pool_workers {
            assert!(body.contains("name=\"pool_workers\""));
        }
    }
    // The async lesson, outside the judges' table, tells its story the same way, and its
    // try comes back to it.
    let sync_style = get(&dashboard, "/lessons/async-in-sync-style").await.body;
    for part in [
        "id=\"question\"",
        "<details class=\"predict\"",
        "class=\"citation\"",
        "name=\"lesson\" value=\"async-in-sync-style\"",
        "name=\"workload\" value=\"idle\"",
    ] {
        assert!(sync_style.contains(part), "{part}");
    }
    // The talk's unknown fields are said to be unknown, never invented.
    let db_wait = get(&dashboard, "/lessons/db-wait").await.body;
    assert!(db_wait.contains("chapter 13"), "{db_wait}");
    assert!(
        db_wait.contains("Amber Brown at EuroPython"),
        "the talk, cited"
    );
    assert!(db_wait.contains("not recorded in this project yet"));
    assert!(
        db_wait.contains("name=\"wait_ms\" value=\"10\""),
        "the preset's wait"
    );
    let overview = get(&dashboard, "/").await.body;
    assert!(overview.contains("Start here") && overview.contains("/lessons/db-wait"));
}

#[tokio::test]
async fn a_try_is_refused_with_the_field_named_or_started() {
    let (_dir, dashboard, _) = site();
    let refused = post(
        &dashboard,
        "lesson=db-wait&workload=db-wait&engines=threads&levels=1,2,3,4,5&step_secs=1",
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("levels:"), "{}", refused.body);
    let refused = post(
        &dashboard,
        "lesson=db-wait&workload=db-wait&engines=threads&levels=1&step_secs=1&wait_ms=soon",
    )
    .await;
    assert!(refused.body.contains("wait (ms):"), "{}", refused.body);
    // A valid try reaches the run machinery: with the fixture's executable it starts (a
    // redirect to the live page that links back) or fails to start, never a 400.
    let started = post(
        &dashboard,
        "lesson=db-wait&workload=db-wait&engines=threads&levels=1&step_secs=0.2&wait_ms=5",
    )
    .await;
    assert_ne!(started.status, StatusCode::BAD_REQUEST, "{}", started.body);
    if started.status == StatusCode::SEE_OTHER {
        let to = started.headers[header::LOCATION].to_str().unwrap();
        assert!(to.ends_with("/live?lesson=db-wait"), "{to}");
    }
}

#[tokio::test]
async fn a_run_asked_for_is_shown_beside_the_previous_one() {
    let (_dir, dashboard, runs) = site();
    let page = get(&dashboard, &format!("/lessons/db-wait?run={}", runs.latest)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Your run beside the previous one"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("Run {}</a>", runs.latest)));
    assert!(page.body.contains("(before)"));
    assert_eq!(
        get(&dashboard, "/lessons/db-wait?run=999").await.status,
        StatusCode::NOT_FOUND
    );
    let back = get(
        &dashboard,
        &format!("/runs/{}/live?lesson=db-wait", runs.latest),
    )
    .await
    .body;
    assert!(back.contains(&format!("/lessons/db-wait?run={}", runs.latest)));
}

#[tokio::test]
async fn the_async_lesson_quotes_the_memory_lessons_figures() {
    let (_dir, dashboard, _) = site();
    let memory = get(&dashboard, "/lessons/thread-memory").await.body;
    let page = get(&dashboard, "/lessons/async-in-sync-style").await.body;
    // The fixture's memory headline: "286 B against 22.4 KiB for a thread: 80.2× denser".
    for figure in ["286 B", "22.4 KiB", "80.2×"] {
        assert!(memory.contains(figure), "{figure}");
        assert!(page.contains(figure), "{figure}: {page}");
    }
    assert!(page.contains("three"), "three columns");
}
