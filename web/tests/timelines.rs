//! Timelines and the "Asynchronous code in a synchronous style" lesson on the dashboard: a
//! trace stored with a run is drawn on the run page and on the lesson of its workload, with
//! its data table; the lesson shows the two excerpts compiled into the binary and the sizes
//! the engines described, from the run that stored them. In process (tower's `oneshot`), on
//! the fixture store with a trace and descriptions added to its latest run.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use wb_model::describe::{Description, PerConnection};
use wb_model::trace::{Trace, TraceSpan};
use wb_reports::store::Store;
use wb_web::fixture;
use wb_web::{Config, Dashboard};

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
    let response = dashboard.router().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
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
        for (label, per) in [
            (
                "threads",
                PerConnection {
                    stack_bytes: Some(28672),
                    ..Default::default()
                },
            ),
            (
                "selector",
                PerConnection {
                    protocol_bytes: Some(64),
                    ..Default::default()
                },
            ),
            (
                "coroutines",
                PerConnection {
                    future_bytes: Some(584),
                    ..Default::default()
                },
            ),
        ] {
            let description = Description {
                engine: label.into(),
                per_connection: per,
                facts: None,
            };
            store
                .record_description(latest.id, label, &description)
                .unwrap();
        }
        latest.id
    };
    let dashboard = Dashboard::new(
        Config {
            db,
            // The descriptions are stored: the executable is never asked.
            exe: "/nonexistent/workbench".into(),
            rustc: "rustc (test)".into(),
            git_revision: "test".into(),
        },
        HOST.parse().unwrap(),
    );

    let (status, page) = get(&dashboard, &format!("/runs/{run}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"cpu-threads-timeline\""),
        "the run page draws it"
    );
    assert!(page.contains("Data table: Timeline: threads on cpu at level 4"));
    // One row per lane: the accept loop and two connection threads.
    assert!(page.contains("<td>main 100</td>") && page.contains("<td>thread 102</td>"));

    let (status, page) = get(&dashboard, &format!("/lessons/{}", cpu_lesson.slug)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"cpu-threads-timeline\""),
        "the lesson draws it"
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
