//! `/guide`: how to read these charts — closed and open loops, Little's law, coordinated
//! omission, censored latencies, intervals, memory figures, placement, a saturated client and
//! the timelines, in plain words. Every chart links to its section ([`anchor`]).

use askama::Template;
use askama_web::WebTemplate;
use axum::response::IntoResponse;
use wb_reports::glossary::{GLOSSARY, Term};

#[derive(Template, WebTemplate)]
#[template(path = "guide.html")]
struct GuidePage {
    nav: &'static str,
    glossary: Vec<(String, &'static Term)>,
}

/// `GET /guide`.
pub async fn page() -> impl IntoResponse {
    GuidePage {
        nav: "guide",
        glossary: GLOSSARY.iter().map(|t| (t.anchor(), t)).collect(),
    }
}

/// The guide's section for a chart, from its id (`db-wait-latency`,
/// `hello-selector-p99-compare`, `db-wait-pool-connections`): the idea it needs most.
pub fn anchor(chart_id: &str) -> &'static str {
    const BY_ENDING: [(&str, &str); 14] = [
        ("-timeline", "timelines"),
        ("-connections", "timelines"),
        ("-compare", "intervals"),
        ("-latency", "coordinated-omission"),
        ("-p99", "coordinated-omission"),
        ("-p50", "coordinated-omission"),
        ("-throughput", "loops"),
        ("-cores", "saturated-client"),
        ("-engine-cores", "saturated-client"),
        ("-client-cores", "saturated-client"),
        ("-cost", "saturated-client"),
        ("-memory", "memory"),
        ("-bytes-per-connection", "memory"),
        ("-pss", "memory"),
    ];
    BY_ENDING
        .iter()
        .find(|(ending, _)| chart_id.ends_with(ending))
        .map_or("", |(_, anchor)| anchor)
}

#[cfg(test)]
mod tests {
    use super::anchor;

    #[test]
    fn charts_link_to_the_section_they_need() {
        for (chart, section) in [
            ("db-wait-pool-connections", "timelines"),
            ("db-wait-pool-timeline", "timelines"),
            ("hello-selector-p99-compare", "intervals"),
            ("rate-latency", "coordinated-omission"),
            ("idle-bytes-per-connection", "memory"),
            ("cpu-cores", "saturated-client"),
            ("something-new", ""),
        ] {
            assert_eq!(anchor(chart), section, "{chart}");
        }
    }
}
