//! The stylesheet and the scripts, baked into the binary.

use axum::http::header;
use axum::response::IntoResponse;

/// `/static/style.css`: the dashboard's, then the charts' ([`wb_reports::charts::CHART_CSS`],
/// which the standalone report inlines too).
pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        format!(
            "{}\n/* Charts (wb_reports::charts::CHART_CSS) */\n{}",
            include_str!("../../static/style.css"),
            wb_reports::charts::CHART_CSS
        ),
    )
}

/// `/static/charts.js`: a chart's legend entries hide and show their series.
pub async fn charts_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../static/charts.js"),
    )
}

/// `/static/live.js`.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../static/live.js"),
    )
}

/// `/static/glossary.js`: the glossary's terms ([`wb_reports::glossary::GLOSSARY`]) as
/// `window.WB_GLOSSARY`, then the script that marks them where they appear in a page.
pub async fn glossary() -> impl IntoResponse {
    static SCRIPT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let script = SCRIPT.get_or_init(|| {
        let terms: Vec<serde_json::Value> = wb_reports::glossary::GLOSSARY
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name,
                    "forms": t.forms,
                    "definition": t.definition,
                    "anchor": t.anchor(),
                })
            })
            .collect();
        format!(
            "window.WB_GLOSSARY = {};\n{}",
            serde_json::Value::Array(terms),
            include_str!("../../static/glossary.js")
        )
    });
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        script.as_str(),
    )
}
