//! One figure, one string: the same store read through the command line (`workbench show`),
//! the dashboard (the run page) and a report prints each figure the same way, because all
//! three format with `wb_reports::format`.
//!
//! The fixture store's latest run is read three ways, and figures computed here from its
//! steps, formatted once, must appear in all three.

use std::process::Command;

use axum::body::Body;
use axum::http::{Request, header};
use tower::ServiceExt;
use wb_model::results::{IdleSlope, StepResult};
use wb_reports::format;
use wb_reports::store::Store;
use wb_web::fixture;

const HOST: &str = "127.0.0.1:8080";

fn steps<'a>(steps: &'a [StepResult], engine: &str, workload: &str) -> Vec<&'a StepResult> {
    steps
        .iter()
        .filter(|s| s.engine == engine && s.workload == workload)
        .collect()
}

#[tokio::test]
async fn one_figure_reads_the_same_in_the_terminal_the_dashboard_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let runs = fixture::create(&db).unwrap();
    let run = Store::open(&db).unwrap().run(runs.latest).unwrap().unwrap();

    // The figures, formatted once: a thread's bytes per idle connection and a throughput.
    let slope = IdleSlope::fit(&steps(&run.steps, "threads", "idle")).unwrap();
    let bytes = format::bytes(slope.bytes_per_connection);
    let hello = steps(&run.steps, "selector", "hello");
    // The terminal table names the unit in its header, so the shared string is the number.
    let rps = format::per_sec(hello.last().unwrap().derived.throughput_rps);
    let figures = [bytes, rps];

    let cli = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["show", &runs.latest.to_string(), "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let cli = String::from_utf8_lossy(&cli.stdout).into_owned();

    let dashboard = crate::util::dashboard(&db);
    let request = Request::get(format!("/runs/{}", runs.latest))
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    let response = dashboard.router().oneshot(request).await.unwrap();
    let page = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    let page = String::from_utf8_lossy(&page).into_owned();

    let report = wb_reports::report::html(&run, &[]);

    for figure in &figures {
        for (name, text) in [
            ("workbench show", &cli),
            ("run page", &page),
            ("report", &report),
        ] {
            assert!(
                text.contains(figure.as_str()),
                "{name} does not print {figure:?} as the other two do:\n{text}"
            );
        }
    }
}
