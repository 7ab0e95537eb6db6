//! What the dashboard's test files share: a dashboard's configuration for tests, and one
//! request sent in process (tower's `oneshot`) with its whole answer read.

use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use tower::ServiceExt;
use wb_web::Config;

/// A dashboard on the store `db` that never starts an engine: no test here starts a run
/// with valid parameters (every form sent is refused before one would start).
pub fn config(db: PathBuf) -> Config {
    Config {
        db,
        exe: "/nonexistent/workbench".into(),
        rustc: "rustc (test)".into(),
        git_revision: "test".into(),
    }
}

/// A whole answer: status, headers and the body as text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// Sends `request` to `router` in process and reads the whole answer (up to 64 MiB).
pub async fn send(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}
