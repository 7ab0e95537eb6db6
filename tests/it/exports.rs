//! A hostile engine label — a live link, a remote image, a bare CR and a leading TAB — comes
//! out inert in every export: `report --format md`, the dashboard's Markdown archive, the HTML
//! report, the CSV (defused, quoted) and the JSON (valid, the label intact).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use wb_web::Dashboard;

use crate::util::{start_engine, stop_engine, workbench};

const LABEL: &str = "\t[click](javascript:alert(1)) ![p](http://evil.example/t.png)\r";

async fn get(dashboard: &Dashboard, path: &str) -> Vec<u8> {
    let request = Request::get(path)
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let response = dashboard.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap()
        .to_vec()
}

/// No link, no image: the label's brackets never open one.
fn inert_markdown(md: &str, what: &str) {
    for live in ["[click](", "![p](", "](javascript", "](http://evil"] {
        assert!(!md.contains(live), "{what} has {live:?}");
    }
    // The report shows the engines of the registry; where it shows this label, escaped.
    // (The escaping itself is unit-tested in wb-reports: format::tests, charts tests.)
    if md.contains("click") {
        assert!(
            md.contains("\\[click\\]\\(javascript:alert\\(1\\)\\)"),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_hostile_label_is_inert_in_every_export() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    // A server measured by hand, saved under the label a user typed: `load --save --label`.
    let server = start_engine("selector", &[]);
    let url = format!("http://{}/hello", server.addr());
    let saved = workbench(
        dir.path(),
        &[
            "load",
            &url,
            "-c",
            "2",
            "-d",
            "0.5s",
            "--save",
            "--label",
            LABEL,
            "--db",
            db.to_str().unwrap(),
            "--quiet",
        ],
    );
    stop_engine("selector", server);
    assert!(saved.status.success(), "{saved:?}");
    let id = wb_reports::store::Store::open(&db)
        .unwrap()
        .latest_completed()
        .unwrap()
        .expect("the saved run");

    // report --format md
    let out = dir.path().join("r.md");
    let output = workbench(
        dir.path(),
        &[
            "report",
            &id.to_string(),
            "--format",
            "md",
            "--out",
            out.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let md = std::fs::read_to_string(&out).unwrap();
    inert_markdown(&md, "report --format md");
    assert!(!md.contains('\r'), "a bare CR in the Markdown");

    let dashboard = crate::util::dashboard(&db);
    // The Markdown archive: the .md inside it.
    let tar = get(&dashboard, &format!("/runs/{id}/report.md.tar")).await;
    let tar = String::from_utf8_lossy(&tar);
    inert_markdown(&tar, "report.md.tar");

    // HTML: escaped, so no element comes of it.
    let html =
        String::from_utf8(get(&dashboard, &format!("/runs/{id}/report.html")).await).unwrap();
    for live in [
        "href=\"javascript",
        "src=\"http://evil",
        "<a href=\"javascript",
    ] {
        assert!(!html.contains(live), "the HTML report has {live:?}");
    }

    // CSV: the field is defused (a leading ') and quoted (it holds a CR).
    let csv = String::from_utf8(get(&dashboard, &format!("/runs/{id}/steps.csv")).await).unwrap();
    assert!(csv.contains("\"'\t[click]"), "{csv}");
    assert!(!csv.contains(",\t[click]"));

    // JSON: valid, and the label as it was.
    let json = get(&dashboard, &format!("/runs/{id}/run.json")).await;
    let value: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
    assert!(value.to_string().contains("[click](javascript:alert(1))"));
}
