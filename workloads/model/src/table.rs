//! The one table of a step's figures: one row per figure, and everything that lists figures
//! reads it.
//!
//! A figure's row says its stable key (`p99_us`: the name a `--fail-if` gate uses, the CSV
//! column, the key under each step's `figures` in `workbench show --json` and the API), what
//! a table calls it, its [`Unit`] (which picks the one number formatter, `wb_reports::format`),
//! which way is [`Better`], how to read its value and its 95 % interval from a
//! [`StepResult`], and in which workloads' comparisons it is shown. The gates, the CSV
//! download, the comparison of runs and the JSON all derive from [`TABLE`]: adding a figure is
//! adding a row, and tests in each of them check that every row shows up there.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::results::StepResult;
use crate::spec::Mode;

/// What a figure counts in, which decides how it is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Requests per second.
    Rps,
    /// Microseconds.
    Micros,
    /// Bytes.
    Bytes,
    /// Cores: CPU time over wall time (1.0 is one core busy).
    Cores,
    /// Things counted one by one: connections, answers, errors, threads.
    Count,
    /// Events per second (context switches).
    PerSec,
}

impl Unit {
    /// The unit as the help text and the API documentation write it.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Rps => "req/s",
            Unit::Micros => "µs",
            Unit::Bytes => "bytes",
            Unit::Cores => "cores",
            Unit::Count => "count",
            Unit::PerSec => "per second",
        }
    }

    /// Whether a figure in this unit moves with the machine's speed (times, rates, CPU):
    /// between runs on different machines, or whose speed calibrations differ (the `cpu`
    /// workload's work per request is set in microseconds of the calibrated machine), such a
    /// figure is shown but not called better or worse. Bytes and counts are not.
    pub fn depends_on_speed(self) -> bool {
        matches!(self, Unit::Rps | Unit::Micros | Unit::Cores | Unit::PerSec)
    }
}

/// Which way a figure improves, for a comparison's "better" and "worse".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// More is better: throughput, waits overlapped.
    Higher,
    /// Less is better: latency, memory, CPU per request.
    Lower,
    /// Neither: a count that describes rather than ranks (threads, cores used).
    Neither,
}

/// A figure's 95 % interval, where the step keeps one.
#[derive(Clone, Copy)]
pub struct Interval {
    /// The CSV column of its low end: `p99_ci_low_us`.
    pub low: &'static str,
    /// The CSV column of its high end: `p99_ci_high_us`.
    pub high: &'static str,
    /// `[low, high]` of a step, `None` when it has none (too few windows, older runs).
    pub of: fn(&StepResult) -> Option<[f64; 2]>,
}

/// One figure of a step: a row of [`TABLE`].
#[derive(Clone, Copy)]
pub struct Figure {
    /// The stable snake_case key: gate name, CSV column, JSON key (`p99_us`).
    pub key: &'static str,
    /// What tables and comparisons call it (`p99 latency`).
    pub label: &'static str,
    /// Its unit.
    pub unit: Unit,
    /// Which way is better.
    pub better: Better,
    /// Decimals of its plain form (CSV): 0 for whole numbers.
    pub decimals: usize,
    /// Its value for a step, `None` when the step has none (no answers to give a latency, no
    /// CPU samples to give a cost per request). Whether the step failed is the reader's
    /// business: the value is read all the same.
    pub value: fn(&StepResult) -> Option<f64>,
    /// Its 95 % interval, where one is kept.
    pub interval: Option<Interval>,
    /// The workloads whose comparison of runs shows it (the report's and `/compare`'s).
    pub compared_in: &'static [Mode],
}

impl Figure {
    /// The figure's value for `step`.
    pub fn of(&self, step: &StepResult) -> Option<f64> {
        (self.value)(step)
    }

    /// Its interval for `step`, `[low, high]`, when it has one.
    pub fn interval_of(&self, step: &StepResult) -> Option<[f64; 2]> {
        self.interval.and_then(|i| (i.of)(step))
    }

    /// Whether the comparison of a workload in `mode` shows it.
    pub fn compared(&self, mode: Mode) -> bool {
        self.compared_in.contains(&mode)
    }

    /// Its value as a plain number (CSV): [`Figure::decimals`] decimals, empty when absent.
    pub fn plain(&self, value: Option<f64>) -> String {
        value.map_or_else(String::new, |v| format!("{v:.*}", self.decimals))
    }
}

impl fmt::Debug for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Figure({})", self.key)
    }
}

/// Rows are the same row when their keys are.
impl PartialEq for Figure {
    fn eq(&self, other: &Figure) -> bool {
        self.key == other.key
    }
}

impl Eq for Figure {}

/// A latency, present only when the step had answers.
fn latency(step: &StepResult, us: impl Fn(&crate::results::Latency) -> u64) -> Option<f64> {
    let l = &step.load.latency;
    (l.count > 0).then(|| us(l) as f64)
}

const ALL_MODES: &[Mode] = &[
    Mode::Closed,
    Mode::Open,
    Mode::Idle,
    Mode::SlowReaders,
    Mode::SlowSenders,
];
const LOADED: &[Mode] = &[Mode::Closed, Mode::Open];
const SLOW: &[Mode] = &[Mode::SlowReaders, Mode::SlowSenders];
const NOWHERE: &[Mode] = &[];
/// Every mode whose requests are answered while they are measured: all but idle.
const ANSWERING: &[Mode] = &[
    Mode::Closed,
    Mode::Open,
    Mode::SlowReaders,
    Mode::SlowSenders,
];

/// Every figure of a step, in the order of the CSV and the gates' help: how fast and how
/// many, latency, cost, CPU, threads, memory, then the kernel's memory.
pub const TABLE: &[Figure] = &[
    Figure {
        key: "throughput_rps",
        label: "throughput",
        unit: Unit::Rps,
        better: Better::Higher,
        decimals: 3,
        value: |s| Some(s.derived.throughput_rps),
        interval: Some(Interval {
            low: "throughput_ci_low",
            high: "throughput_ci_high",
            of: |s| s.estimates.throughput_ci,
        }),
        compared_in: LOADED,
    },
    Figure {
        key: "connections",
        label: "connections held",
        unit: Unit::Count,
        better: Better::Higher,
        decimals: 0,
        value: |s| Some(s.load.connections as f64),
        interval: None,
        compared_in: &[Mode::Idle],
    },
    Figure {
        key: "completed",
        label: "answers",
        unit: Unit::Count,
        better: Better::Higher,
        decimals: 0,
        value: |s| Some(s.load.completed as f64),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "errors",
        label: "errors",
        unit: Unit::Count,
        better: Better::Lower,
        decimals: 0,
        value: |s| Some(s.load.errors.total() as f64),
        interval: None,
        compared_in: SLOW,
    },
    Figure {
        key: "mean_us",
        label: "mean latency",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 1,
        value: |s| (s.load.latency.count > 0).then_some(s.load.latency.mean_us),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "p50_us",
        label: "p50 latency",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 0,
        value: |s| latency(s, |l| l.p50_us),
        interval: None,
        compared_in: &[Mode::Closed],
    },
    Figure {
        key: "p90_us",
        label: "p90 latency",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 0,
        value: |s| latency(s, |l| l.p90_us),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "p99_us",
        label: "p99 latency",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 0,
        value: |s| latency(s, |l| l.p99_us),
        interval: Some(Interval {
            low: "p99_ci_low_us",
            high: "p99_ci_high_us",
            of: |s| s.estimates.p99_ci_us,
        }),
        compared_in: ANSWERING,
    },
    Figure {
        key: "p999_us",
        label: "p99.9 latency",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 0,
        value: |s| latency(s, |l| l.p999_us),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "max_us",
        label: "max latency",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 0,
        value: |s| latency(s, |l| l.max_us),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "p99_uncorrected_us",
        label: "p99 latency, uncorrected",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 0,
        value: |s| {
            s.load
                .latency_uncorrected
                .filter(|l| l.count > 0)
                .map(|l| l.p99_us as f64)
        },
        interval: None,
        compared_in: &[Mode::Open],
    },
    Figure {
        key: "engine_us_per_request",
        label: "engine CPU per request",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 3,
        value: |s| s.estimates.engine_us_per_request,
        interval: Some(Interval {
            low: "engine_us_per_request_ci_low",
            high: "engine_us_per_request_ci_high",
            of: |s| s.estimates.engine_us_per_request_ci,
        }),
        compared_in: LOADED,
    },
    Figure {
        key: "client_us_per_request",
        label: "client CPU per request",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 3,
        value: |s| s.estimates.client_us_per_request,
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "syscalls_per_answer",
        label: "system calls per answer",
        unit: Unit::Count,
        better: Better::Lower,
        decimals: 3,
        // Counted by the engine itself: only engines that count (the selector on mio, uring).
        value: |s| {
            s.syscalls
                .as_ref()
                .and_then(crate::results::Syscalls::per_answer)
        },
        interval: Some(Interval {
            low: "syscalls_per_answer_ci_low",
            high: "syscalls_per_answer_ci_high",
            of: |s| {
                s.syscalls
                    .as_ref()?
                    .per_answer_estimate(&s.load.windows)
                    .filter(crate::spread::Estimate::has_interval)
                    .map(|e| e.interval())
            },
        }),
        compared_in: LOADED,
    },
    Figure {
        key: "engine_cores",
        label: "engine cores",
        unit: Unit::Cores,
        better: Better::Neither,
        decimals: 4,
        value: |s| Some(s.derived.engine_cores),
        interval: None,
        compared_in: ANSWERING,
    },
    Figure {
        key: "client_cores",
        label: "client cores",
        unit: Unit::Cores,
        better: Better::Neither,
        decimals: 4,
        value: |s| Some(s.derived.client_cores),
        interval: None,
        compared_in: &[Mode::Closed],
    },
    Figure {
        key: "database_cores",
        label: "database cores",
        unit: Unit::Cores,
        better: Better::Neither,
        decimals: 4,
        value: |s| s.derived.database_cores,
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "database_us_per_request",
        label: "database CPU per request",
        unit: Unit::Micros,
        better: Better::Lower,
        decimals: 3,
        value: |s| s.database_us_per_request(),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "ctx_switches_per_sec",
        label: "context switches",
        unit: Unit::PerSec,
        better: Better::Neither,
        decimals: 1,
        value: |s| Some(s.derived.ctx_switches_per_sec),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "threads_max",
        label: "threads",
        unit: Unit::Count,
        better: Better::Neither,
        decimals: 0,
        value: |s| Some(s.derived.threads_max as f64),
        interval: None,
        compared_in: &[Mode::Idle, Mode::SlowReaders, Mode::SlowSenders],
    },
    Figure {
        key: "peak_pss_bytes",
        label: "peak PSS",
        unit: Unit::Bytes,
        better: Better::Lower,
        decimals: 0,
        value: |s| Some(s.derived.peak_pss_bytes as f64),
        interval: None,
        compared_in: ALL_MODES,
    },
    Figure {
        key: "mean_pss_bytes",
        label: "mean PSS",
        unit: Unit::Bytes,
        better: Better::Lower,
        decimals: 0,
        value: |s| Some(s.derived.mean_pss_bytes as f64),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "peak_rss_bytes",
        label: "peak RSS",
        unit: Unit::Bytes,
        better: Better::Lower,
        decimals: 0,
        value: |s| Some(s.derived.peak_rss_bytes as f64),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "mean_rss_bytes",
        label: "mean RSS",
        unit: Unit::Bytes,
        better: Better::Lower,
        decimals: 0,
        value: |s| Some(s.derived.mean_rss_bytes as f64),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "tcp_mem_bytes",
        label: "kernel TCP memory",
        unit: Unit::Bytes,
        better: Better::Lower,
        decimals: 0,
        value: |s| Some(s.derived.tcp_mem_bytes as f64),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "slab_unreclaim_bytes",
        label: "kernel slab",
        unit: Unit::Bytes,
        better: Better::Lower,
        decimals: 0,
        value: |s| Some(s.derived.slab_unreclaim_bytes as f64),
        interval: None,
        compared_in: NOWHERE,
    },
    Figure {
        key: "kernel_stack_bytes",
        label: "kernel stacks",
        unit: Unit::Bytes,
        better: Better::Lower,
        decimals: 0,
        value: |s| Some(s.derived.kernel_stack_bytes as f64),
        interval: None,
        compared_in: NOWHERE,
    },
];

/// The row with this key.
pub fn find(key: &str) -> Option<&'static Figure> {
    TABLE.iter().find(|f| f.key == key)
}

/// The row with this key; panics when there is none (for code that names a row it needs).
pub fn row(key: &str) -> &'static Figure {
    find(key).unwrap_or_else(|| panic!("no figure {key:?} in wb_model::table::TABLE"))
}

/// The keys, comma-separated, for help texts and error messages.
pub fn keys() -> String {
    TABLE.iter().map(|f| f.key).collect::<Vec<_>>().join(", ")
}

/// A step's figures as a JSON object, one key per row in [`TABLE`] order, `null` where the
/// step has none: what each step carries as `figures` in `workbench show --json` and the API.
/// Whole-number figures are written as integers.
pub struct Values<'a>(pub &'a StepResult);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(TABLE.len()))?;
        for figure in TABLE {
            match figure.of(self.0) {
                Some(v) if figure.decimals == 0 && v.fract() == 0.0 && v.abs() < 9e15 => {
                    map.serialize_entry(figure.key, &(v as i64))?
                }
                value => map.serialize_entry(figure.key, &value)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{LoadReport, StepResult};

    fn step() -> StepResult {
        let mut load = LoadReport::default();
        load.latency.count = 10;
        load.latency.p99_us = 850;
        load.connections = 64;
        StepResult {
            engine: "e".into(),
            workload: "hello".into(),
            mode: Mode::Closed,
            level: 64,
            load,
            samples: Vec::new(),
            derived: crate::results::Derived {
                throughput_rps: 1234.5,
                ..Default::default()
            },
            flags: Default::default(),
            failure: None,
            estimates: crate::results::Estimates {
                throughput_ci: Some([1200.0, 1300.0]),
                ..Default::default()
            },
            repeat: 0,
            facts: None,
            syscalls: None,
        }
    }

    #[test]
    fn keys_are_unique_snake_case_and_intervals_are_named_apart() {
        let mut columns: Vec<&str> = Vec::new();
        for f in TABLE {
            assert!(
                f.key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                f.key
            );
            columns.push(f.key);
            if let Some(i) = f.interval {
                columns.extend([i.low, i.high]);
            }
            assert!(!f.label.is_empty());
            assert_eq!(find(f.key), Some(f));
        }
        let mut unique = columns.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), columns.len(), "{columns:?}");
    }

    #[test]
    fn every_mode_compares_something() {
        for mode in ALL_MODES {
            assert!(TABLE.iter().any(|f| f.compared(*mode)), "{mode:?}");
        }
    }

    #[test]
    fn values_read_the_step_and_latencies_need_answers() {
        let mut s = step();
        assert_eq!(row("p99_us").of(&s), Some(850.0));
        assert_eq!(
            row("throughput_rps").interval_of(&s),
            Some([1200.0, 1300.0])
        );
        assert_eq!(row("p99_us").interval_of(&s), None);
        assert_eq!(row("engine_us_per_request").of(&s), None);
        assert_eq!(row("throughput_rps").plain(Some(1234.5)), "1234.500");
        assert_eq!(row("p99_us").plain(None), "");
        s.load.latency.count = 0;
        assert_eq!(row("p99_us").of(&s), None);
        assert_eq!(row("connections").of(&s), Some(64.0));
    }

    #[test]
    fn every_row_is_a_key_of_the_steps_json_figures() {
        let s = step();
        let json = serde_json::to_value(Values(&s)).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), TABLE.len());
        for f in TABLE {
            let value = &object[f.key];
            assert_eq!(value.as_f64(), f.of(&s), "{}", f.key);
        }
        // In table order, whole numbers as integers.
        let text = serde_json::to_string(&Values(&s)).unwrap();
        assert!(
            text.starts_with("{\"throughput_rps\":1234.5,\"connections\":64,"),
            "{text}"
        );
        assert!(text.contains("\"p99_us\":850,"), "{text}");
        assert!(text.contains("\"engine_us_per_request\":null"), "{text}");
    }
}
