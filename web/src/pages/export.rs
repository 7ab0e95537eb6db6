//! A run as data: the JSON document of the API and the downloads, and the CSV of its steps.
//!
//! The API (`/api/runs/{id}`) and the run page's downloads (`run.json`, `steps.csv`) give the
//! same run the same way; both read it from here, so neither page module imports the other.

use serde::Serialize;
use wb_reports::store::{RunId, StoredRun};

/// The version of the API's shapes.
pub const API_VERSION: u32 = 1;

/// `GET /api/runs/{id}`: the run as `workbench show --json` prints it, plus `api_version`.
#[derive(Debug, Serialize)]
pub struct RunDocument {
    /// [`API_VERSION`].
    pub api_version: u32,
    /// `summary`, `config`, `calibration`, `steps`.
    #[serde(flatten)]
    pub run: StoredRun,
}

impl RunDocument {
    /// The document of a run.
    pub fn new(run: StoredRun) -> RunDocument {
        RunDocument {
            api_version: API_VERSION,
            run,
        }
    }
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 36] = [
    "run",
    "engine",
    "workload",
    "mode",
    "level",
    "connections",
    "throughput_rps",
    "completed",
    "errors",
    "mean_us",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "max_us",
    "engine_cores",
    "client_cores",
    "ctx_switches_per_sec",
    "threads_max",
    "peak_pss_bytes",
    "mean_pss_bytes",
    "peak_rss_bytes",
    "tcp_mem_bytes",
    "slab_unreclaim_bytes",
    "kernel_stack_bytes",
    "client_saturated",
    "littles_law_off",
    "level_not_reached",
    "failure",
    "repeat",
    "engine_us_per_request",
    "client_us_per_request",
    "throughput_ci_low",
    "throughput_ci_high",
    "p99_ci_low_us",
    "p99_ci_high_us",
];

/// The run's steps as CSV: a header of [`CSV_COLUMNS`], then one row per step.
pub fn steps_csv(id: RunId, run: &StoredRun) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for s in &run.steps {
        let (l, d, e) = (&s.load.latency, &s.derived, &s.estimates);
        let cells = [
            id.to_string(),
            csv(&s.engine),
            csv(&s.workload),
            s.mode.name().to_string(),
            s.level.to_string(),
            s.load.connections.to_string(),
            format!("{:.3}", d.throughput_rps),
            s.load.completed.to_string(),
            s.load.errors.total().to_string(),
            format!("{:.1}", l.mean_us),
            l.p50_us.to_string(),
            l.p90_us.to_string(),
            l.p99_us.to_string(),
            l.p999_us.to_string(),
            l.max_us.to_string(),
            format!("{:.4}", d.engine_cores),
            format!("{:.4}", d.client_cores),
            format!("{:.1}", d.ctx_switches_per_sec),
            d.threads_max.to_string(),
            d.peak_pss_bytes.to_string(),
            d.mean_pss_bytes.to_string(),
            d.peak_rss_bytes.to_string(),
            d.tcp_mem_bytes.to_string(),
            d.slab_unreclaim_bytes.to_string(),
            d.kernel_stack_bytes.to_string(),
            s.flags.client_saturated.to_string(),
            s.flags.littles_law_off.to_string(),
            csv(s.flags.level_not_reached.as_deref().unwrap_or("")),
            csv(s.failure.as_deref().unwrap_or("")),
            s.repeat.to_string(),
            opt(e.engine_us_per_request),
            opt(e.client_us_per_request),
            opt(e.throughput_ci.map(|c| c[0])),
            opt(e.throughput_ci.map(|c| c[1])),
            opt(e.p99_ci_us.map(|c| c[0])),
            opt(e.p99_ci_us.map(|c| c[1])),
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// An optional figure: empty when absent.
fn opt(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// A CSV field, quoted when it must be (RFC 4180); a leading `=`, `+`, `-` or `@` is
/// prefixed with `'` so that a spreadsheet does not run it as a formula.
fn csv(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::csv;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv("plain"), "plain");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv("=cmd()"), "'=cmd()");
    }
}
