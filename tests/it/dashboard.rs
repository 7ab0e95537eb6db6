//! The dashboard starting real runs: in process (tower's `oneshot`), with the real
//! `workbench` executable for the engines. One tiny run goes from `POST /runs` to a completed
//! run in the store while its live events stream; a second start meanwhile is refused with a
//! link to the first; a cancel stops a run after its current step.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use wb_model::results::RunStatus;
use wb_reports::store::{RunId, Store};
use wb_web::Dashboard;

const HOST: &str = "127.0.0.1:8080";
const ORIGIN: &str = "http://127.0.0.1:8080";

fn dashboard(dir: &tempfile::TempDir) -> Dashboard {
    crate::util::dashboard(&dir.path().join("store.db"))
}

async fn call(dashboard: &Dashboard, request: Request<Body>) -> (StatusCode, String, String) {
    let response = dashboard.router().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    (
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

async fn get(dashboard: &Dashboard, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(dashboard, request).await;
    (status, body)
}

async fn post(dashboard: &Dashboard, path: &str, form: &str) -> (StatusCode, String, String) {
    let request = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={}&{form}", dashboard.token())))
        .unwrap();
    call(dashboard, request).await
}

/// Starts a run and returns its id from the redirect to its live page.
async fn start(dashboard: &Dashboard, form: &str) -> RunId {
    let (status, location, body) = post(dashboard, "/runs", form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    location
        .strip_prefix("/runs/")
        .and_then(|rest| rest.strip_suffix("/live"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a redirect to the live page, not {location:?}"))
}

/// Polls the progress until the run has ended.
async fn wait_for_the_end(dashboard: &Dashboard, id: RunId) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get(dashboard, &format!("/api/runs/{id}/progress")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let progress: serde_json::Value = serde_json::from_str(&body).unwrap();
        if progress["finished"] == true {
            return progress;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} did not end: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_from_the_dashboard_is_watched_live_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = dashboard(&dir);
    let id = start(
        &dashboard,
        "engine=selector&workload=hello&max_level=16&step_secs=0.5",
    )
    .await;

    // The live stream, read to its end in the background.
    let events = {
        let router = dashboard.router();
        tokio::spawn(async move {
            let request = Request::get(format!("/runs/{id}/events"))
                .header(header::HOST, HOST)
                .body(Body::empty())
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let body = axum::body::to_bytes(response.into_body(), 64 << 20)
                .await
                .unwrap();
            String::from_utf8_lossy(&body).into_owned()
        })
    };

    // One run at a time: a second start says which run is in progress and links to it.
    let (status, _, body) = post(&dashboard, "/runs", "engine=threads&workload=hello").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains(&format!("Run {id} is in progress")), "{body}");
    assert!(
        body.contains(&format!("href=\"/runs/{id}/live\"")),
        "{body}"
    );
    let (_, new_page) = get(&dashboard, "/new").await;
    assert!(new_page.contains(&format!("Run {id} is in progress")));
    let (status, live) = get(&dashboard, &format!("/runs/{id}/live")).await;
    assert_eq!(status, StatusCode::OK);
    // Two tiny steps may be over already on a fast machine: then the page links to the run.
    assert!(
        live.contains("Cancel after the current step") || live.contains(&format!("See run {id}")),
        "{live}"
    );

    let progress = wait_for_the_end(&dashboard, id).await;
    assert_eq!(progress["status"], "completed", "{progress}");
    assert_eq!(progress["steps_done"], 2);
    assert_eq!(progress["steps_total"], 2);

    let events = tokio::time::timeout(Duration::from_secs(30), events)
        .await
        .expect("the event stream ends after the run")
        .unwrap();
    let last = events
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("progress events");
    let last: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(last["finished"], true);
    assert_eq!(last["status"], "completed");
    assert!(events.matches("event: progress").count() >= 3, "{events}");

    let (status, page) = get(&dashboard, &format!("/runs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("completed") && page.contains("<svg"));
    let store = Store::open(dir.path().join("store.db")).unwrap();
    let run = store.run(id).unwrap().unwrap();
    assert_eq!(run.summary.status, RunStatus::Completed);
    assert_eq!(run.steps.len(), 2);
    assert!(
        run.steps
            .iter()
            .all(|s| s.failure.is_none() && s.load.completed > 0)
    );
    assert_eq!(store.latest_completed().unwrap(), Some(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops_after_its_current_step() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = dashboard(&dir);
    let id = start(&dashboard, "engine=selector&workload=hello&step_secs=1").await;
    let (status, location, body) = post(&dashboard, &format!("/runs/{id}/cancel"), "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, format!("/runs/{id}/live"));
    let progress = wait_for_the_end(&dashboard, id).await;
    assert_eq!(progress["status"], "interrupted", "{progress}");
    let store = Store::open(dir.path().join("store.db")).unwrap();
    let run = store.run(id).unwrap().unwrap();
    assert_eq!(run.summary.status, RunStatus::Interrupted);
    assert_eq!(run.summary.message.as_deref(), Some("cancelled"));
    assert!(
        run.steps.len() < 3,
        "stopped early: {} steps",
        run.steps.len()
    );
}
