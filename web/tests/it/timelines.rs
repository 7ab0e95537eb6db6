//! Timelines and the "Asynchronous code in a synchronous style" lesson on the dashboard: a
//! trace stored with a run is drawn on the run page and on the lesson of its workload, with
//! its data table; the lesson shows the two excerpts compiled into the binary and the sizes
//! the engines described, from the run that stored them. In process (tower's `oneshot`), on
//! the fixture store with a trace and descriptions added to its latest run.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use wb_model::trace::{Trace, TraceSpan};
use wb_reports::store::Store;
use wb_web::Dashboard;
use wb_web::fixture;

use crate::util;

const HOST: &str = "127.0.0.1:8080";

fn span(phase: &str, start: u64, end: u64, tid: u32) -> TraceSpan {
    TraceSpan {
        phase: phase.into(),
        start_ns: start,
        end_ns: end,
        pid: 100,
        tid,
        thread: if tid == 100 { "main" } else { "unnamed" }.into(),
        task: u64::from(tid),
    }
}

async fn get(dashboard: &Dashboard, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    let answer = util::send(dashboard.router(), request).await;
    (answer.status, answer.body)
}

#[tokio::test]
async fn a_stored_trace_is_drawn_on_the_run_and_its_lesson_and_the_async_lesson_reads_the_descriptions()
 {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    fixture::create(&db).unwrap();
    let cpu_lesson = wb_reports::claims::LESSONS
        .iter()
        .find(|l| l.workload == "cpu")
        .expect("a lesson on the cpu workload");
    let run = {
        let mut store = Store::open(&db).unwrap();
        let latest = store
            .runs()
            .unwrap()
            .into_iter()
            .find(|r| r.workloads.iter().any(|w| w == "cpu"))
            .expect("a fixture run with the cpu workload");
        let trace = Trace {
            client_connections: Some(4),
            engine: "threads".into(),
            workload: "cpu".into(),
            level: 4,
            load_ms: 1200,
            recorded: 4,
            spans: vec![
                span("accept", 0, 9_000_000, 100),
                span("read", 0, 100_000, 101),
                span("compute", 100_000, 4_000_000, 101),
                span("compute", 200_000, 4_100_000, 102),
            ],
        };
        store.record_trace(latest.id, &trace).unwrap();
        for description in fixture::descriptions() {
            store
                .record_description(latest.id, &description.engine, &description)
                .unwrap();
        }
        latest.id
    };
    let dashboard = Dashboard::new(
        // The descriptions are stored: the executable is never asked.
        util::config(db),
        HOST.parse().unwrap(),
    );

    let (status, page) = get(&dashboard, &format!("/runs/{run}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"cpu-threads-timeline\""),
        "the run page draws it"
    );
    assert!(page.contains("Data table: Threads: threads on cpu at level 4"));
    // One row per lane: the accept loop and two connection threads.
    assert!(page.contains("<td>main 100</td>") && page.contains("<td>thread 102</td>"));
    // Beside it, one lane per connection, with the load generator's count.
    assert!(page.contains("id=\"cpu-threads-connections\""));
    assert!(page.contains("Data table: Connections: threads on cpu at level 4"));
    assert!(page.contains("<td>fd 101</td>"));
    assert!(page.contains("The load generator held 4 connections"));

    let (status, page) = get(&dashboard, &format!("/lessons/{}", cpu_lesson.slug)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"cpu-threads-timeline\"")
            && page.contains("id=\"cpu-threads-connections\""),
        "the lesson draws both views"
    );

    let (status, page) = get(&dashboard, "/lessons").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/lessons/async-in-sync-style"));

    let (status, page) = get(&dashboard, "/lessons/async-in-sync-style").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("fn timer_fired"), "the selector's excerpt");
    assert!(
        page.contains("async fn serve_requests"),
        "the coroutine's excerpt"
    );
    assert!(page.contains("584 B") && page.contains("64 B") && page.contains("28.0 KiB"));
    assert!(page.contains(&format!("stored with <a href=\"/runs/{run}\">")));
}
