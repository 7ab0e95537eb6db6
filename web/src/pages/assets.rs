//! The stylesheet and the one script, baked into the binary.

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
