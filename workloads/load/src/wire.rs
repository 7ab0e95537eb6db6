//! One load generator's result as a self-contained document: what `workbench load --json`
//! prints, and what a later merge across load generators (hosts) reads back.
//!
//! Percentiles cannot be merged (the p99 of two p99s means nothing); histograms can, by
//! adding their counts. So a [`LoadResult`] carries, beside the summary figures, its HDR
//! histograms whole: HdrHistogram's V2 serialization (uncompressed, the format every
//! HdrHistogram implementation reads), as base64 text so that it travels inside JSON. The
//! open loop carries both the corrected histogram (from the intended send) and the
//! uncorrected one (from the actual send). [`decode_histogram`] turns the text back into a
//! histogram.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::serialization::{Serializer as _, V2Serializer};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde::{Deserialize, Serialize};

use crate::Measured;
use wb_model::results::{ErrorCounts, Latency};
use wb_model::spec::Mode;

/// The name of the histograms' encoding, written into every document.
pub const HISTOGRAM_ENCODING: &str = "hdrhistogram-v2+base64";

/// Why a histogram in a document cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not base64 (RFC 4648, with padding).
    #[error("the histogram is not base64: {0}")]
    Base64(String),
    /// Base64, but not a V2 histogram.
    #[error("the histogram is not HdrHistogram V2: {0}")]
    Histogram(String),
}

/// One `workbench load` measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    /// The version of the workbench's JSON documents (`wb_web::API_VERSION`, as in every
    /// command's `--json`), set by the command that prints it; 0 in documents from before it
    /// was added.
    #[serde(default)]
    pub api_version: u32,
    /// What was loaded: the URL, or `http://HOST:PORT/target` for a workload.
    pub url: String,
    /// The request method.
    pub method: String,
    /// `closed` (connections) or `open` (a rate).
    pub mode: Mode,
    /// Connections asked for (closed loop), or the most the open loop may open.
    pub connections: u64,
    /// Requests per second asked for, open loop only.
    pub rate: Option<u64>,
    /// Load before measuring, in seconds (not counted).
    pub warmup_secs: f64,
    /// The measured window, in seconds.
    pub elapsed_secs: f64,
    /// `workbench` (the workbench's own route: status, length, body and digest checked) or
    /// `any-server` (status class and framing checked).
    pub checks: String,
    /// Valid answers in the window.
    pub completed: u64,
    /// Requests still unanswered when the window ended, recorded in the latency histograms
    /// at the time they had waited ([`wb_model::results::LoadReport::censored`]): the
    /// requests sent are `completed + errors + censored`. 0 in documents from before it was
    /// added.
    #[serde(default)]
    pub censored: u64,
    /// Valid answers per second.
    pub throughput_rps: f64,
    /// Response bytes (heads and bodies) in the window.
    pub bytes_received: u64,
    /// Errors, by kind.
    pub errors: ErrorCounts,
    /// Whole answers by status, expected or not (the others are also `bad_response`
    /// errors); all of them are timed. Empty in documents from before it was added.
    #[serde(default)]
    pub status_codes: std::collections::BTreeMap<u16, u64>,
    /// Latency: from the intended send in open loop (coordinated omission corrected), from
    /// the send in closed loop.
    pub latency: Latency,
    /// Open loop only: latency from the actual send.
    pub latency_uncorrected: Option<Latency>,
    /// Connections open at the end of the window.
    pub connections_open: u64,
    /// Generator threads, each with its own event loop and share of the connections. 1 in
    /// documents from before there could be more.
    #[serde(default = "one")]
    pub threads: usize,
    /// Why the load asked for was not reached, if it was not.
    pub not_reached: Option<String>,
    /// CPU seconds the load generator's process used (user and system), warm-up included.
    pub client_cpu_secs: f64,
    /// `client_cpu_secs` over the wall time: above 0.9 the client, not the server, may be
    /// the bottleneck.
    pub client_cores: f64,
    /// The histograms, whole.
    pub histograms: Histograms,
    /// The measured window cut into 200 ms windows (answers, errors, p50 and p99 of each):
    /// what gives a merged step its intervals. Absent in documents from before it was added.
    #[serde(default)]
    pub windows: Vec<wb_model::results::Window>,
}

fn one() -> usize {
    1
}

/// A result's HDR histograms (microseconds, 1 µs to 60 s, 3 significant digits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// Always [`HISTOGRAM_ENCODING`].
    pub encoding: String,
    /// [`LoadResult::latency`]'s histogram.
    pub corrected: String,
    /// [`LoadResult::latency_uncorrected`]'s histogram, open loop only.
    pub uncorrected: Option<String>,
}

/// How the load was driven, for [`LoadResult::new`].
#[derive(Debug, Clone)]
pub struct Described {
    /// What was loaded.
    pub url: String,
    /// The request method.
    pub method: String,
    /// Closed or open loop.
    pub mode: Mode,
    /// Connections asked for, or the open loop's cap.
    pub connections: u64,
    /// The open loop's rate.
    pub rate: Option<u64>,
    /// The warm-up.
    pub warmup: Duration,
    /// Whether the workbench's own checks applied.
    pub workbench_checks: bool,
}

impl LoadResult {
    /// The document for `measured`, driven as `how` says, with the client's CPU seconds
    /// over `wall` seconds of the whole step.
    pub fn new(how: Described, measured: &Measured, client_cpu_secs: f64, wall: Duration) -> Self {
        let report = &measured.report;
        let wall_secs = wall.as_secs_f64();
        LoadResult {
            api_version: 0,
            url: how.url,
            method: how.method,
            mode: how.mode,
            connections: how.connections,
            rate: how.rate,
            warmup_secs: how.warmup.as_secs_f64(),
            elapsed_secs: report.elapsed_secs,
            checks: if how.workbench_checks {
                "workbench"
            } else {
                "any-server"
            }
            .into(),
            completed: report.completed,
            censored: report.censored,
            throughput_rps: if report.elapsed_secs > 0.0 {
                report.completed as f64 / report.elapsed_secs
            } else {
                0.0
            },
            bytes_received: report.bytes_received,
            errors: report.errors,
            status_codes: report.status_codes.clone(),
            latency: report.latency,
            latency_uncorrected: report.latency_uncorrected,
            connections_open: report.connections,
            threads: measured.threads.max(1),
            not_reached: report.not_reached.clone(),
            client_cpu_secs,
            client_cores: if wall_secs > 0.0 {
                client_cpu_secs / wall_secs
            } else {
                0.0
            },
            histograms: Histograms {
                encoding: HISTOGRAM_ENCODING.into(),
                corrected: base64_encode(&report.histogram),
                uncorrected: (!measured.histogram_uncorrected.is_empty())
                    .then(|| base64_encode(&measured.histogram_uncorrected)),
            },
            windows: report.windows.clone(),
        }
    }
}

/// Writes `measured`'s short windows as an HdrHistogram interval log, the format of
/// HdrHistogram's `HistogramLogWriter` that its `HistogramLogProcessor` (and every
/// implementation's log reader) reads: one line per [`WINDOW_MS`](wb_model::results::WINDOW_MS)
/// window, with its start (seconds after `started`, the step's start, which the log's
/// `BaseTime` and `StartTime` give), its length, its slowest answer (in milliseconds, the
/// log's `MaxValueDivisor` of 1000) and its histogram, V2 with deflate in base64. The
/// histograms count microseconds: with HdrHistogram's Java tools, read them with
/// `HistogramLogProcessor -i FILE -outputValueUnitRatio 1000` for milliseconds.
pub fn write_interval_log(
    out: &mut impl std::io::Write,
    measured: &Measured,
    started: std::time::SystemTime,
    what: &str,
) -> std::io::Result<()> {
    use hdrhistogram::serialization::V2DeflateSerializer;
    use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "workbench load: {}",
            what.replace(['\r', '\n'], " ")
        ))
        .add_comment("values in microseconds; Interval_Max in milliseconds")
        .add_comment("[Histogram log format version 1.3]")
        .with_start_time(started)
        .with_base_time(started)
        .with_max_value_divisor(1000.0)
        .begin_log_with(out, &mut serializer)?;
    let window = Duration::from_millis(wb_model::results::WINDOW_MS);
    for (w, histogram) in measured.report.windows.iter().zip(&measured.intervals) {
        log.write_histogram(histogram, Duration::from_millis(w.at_ms), window, None)
            .map_err(|err| std::io::Error::other(format!("{err:?}")))?;
    }
    Ok(())
}

/// A histogram from its [`HISTOGRAM_ENCODING`] text.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, WireError> {
    let bytes = base64_decode(text)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|err| WireError::Histogram(format!("{err:?}")))
}

/// Standard base64 with padding (RFC 4648, section 4), as HdrHistogram's own tools write it.
pub fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Decodes [`base64_encode`]'s text (whitespace not allowed).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, WireError> {
    BASE64
        .decode(text)
        .map_err(|err| WireError::Base64(err.to_string()))
}

/// `histogram` in HdrHistogram's V2 format (uncompressed), the bytes a step keeps, or empty
/// if it cannot be serialized (which the format only refuses for impossible histograms).
pub fn serialize_histogram(histogram: &Histogram<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Err(err) = V2Serializer::new().serialize(histogram, &mut bytes) {
        tracing::warn!("cannot serialize a latency histogram: {err}");
        bytes.clear();
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_and_round_trips() {
        // RFC 4648, section 10.
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
        assert!(base64_decode("Zm9").is_err());
        assert!(base64_decode("Zm=v").is_err());
        assert!(base64_decode("Z!9v").is_err());
        assert!(decode_histogram("Zm9v").is_err());
    }
}
