//! A run as data: the JSON document of the API and the downloads, and the CSV of its steps.
//!
//! The API (`/api/runs/{id}`) and the run page's downloads (`run.json`, `steps.csv`) give the
//! same run the same way; both read it from here, so neither page module imports the other.

use serde::Serialize;
use wb_model::results::{Calibration, RunConfig, StepResult};
use wb_model::table;
use wb_reports::store::{RunId, RunSummary, StoredRun};

/// The version of the API's shapes.
pub const API_VERSION: u32 = 1;

/// `GET /api/runs/{id}`: the run as `workbench show --json` prints it, plus `api_version`.
/// Each step carries, beside its fields, `figures`: every row of the table of figures
/// ([`wb_model::table::TABLE`]) by its key, `null` where the step has none.
#[derive(Debug)]
pub struct RunDocument {
    /// [`API_VERSION`].
    pub api_version: u32,
    /// `summary`, `config`, `calibration`, `steps`.
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

impl Serialize for RunDocument {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// A step as stored, with its figures.
        #[derive(Serialize)]
        struct Step<'a> {
            #[serde(flatten)]
            step: &'a StepResult,
            figures: table::Values<'a>,
        }
        #[derive(Serialize)]
        struct Document<'a> {
            api_version: u32,
            summary: &'a RunSummary,
            config: &'a RunConfig,
            calibration: &'a Calibration,
            steps: Vec<Step<'a>>,
        }
        let StoredRun {
            summary,
            config,
            calibration,
            steps,
        } = &self.run;
        Document {
            api_version: self.api_version,
            summary,
            config,
            calibration,
            steps: steps
                .iter()
                .map(|step| Step {
                    step,
                    figures: table::Values(step),
                })
                .collect(),
        }
        .serialize(serializer)
    }
}

/// A column of the CSV that is not a figure: which step a row is, and its flags.
struct StepColumn {
    name: &'static str,
    cell: fn(RunId, &StepResult) -> String,
}

/// The columns before the figures: which step.
const HEAD: [StepColumn; 5] = [
    StepColumn {
        name: "run",
        cell: |id, _| id.to_string(),
    },
    StepColumn {
        name: "engine",
        cell: |_, s| csv(&s.engine),
    },
    StepColumn {
        name: "workload",
        cell: |_, s| csv(&s.workload),
    },
    StepColumn {
        name: "mode",
        cell: |_, s| s.mode.name().to_string(),
    },
    StepColumn {
        name: "level",
        cell: |_, s| s.level.to_string(),
    },
];

/// The columns after the figures: the step's flags, failure and repeat.
const TAIL: [StepColumn; 5] = [
    StepColumn {
        name: "client_saturated",
        cell: |_, s| s.flags.client_saturated.to_string(),
    },
    StepColumn {
        name: "littles_law_off",
        cell: |_, s| s.flags.littles_law_off.to_string(),
    },
    StepColumn {
        name: "level_not_reached",
        cell: |_, s| csv(s.flags.level_not_reached.as_deref().unwrap_or("")),
    },
    StepColumn {
        name: "failure",
        cell: |_, s| csv(s.failure.as_deref().unwrap_or("")),
    },
    StepColumn {
        name: "repeat",
        cell: |_, s| s.repeat.to_string(),
    },
];

/// The CSV columns, in order: which step ([`HEAD`]), every figure of the table of figures
/// ([`wb_model::table::TABLE`]) by its key, the step's flags ([`TAIL`]), then the low and high
/// end of every figure's 95 % interval.
pub fn csv_columns() -> Vec<&'static str> {
    let mut columns: Vec<&'static str> = HEAD.iter().map(|c| c.name).collect();
    columns.extend(table::TABLE.iter().map(|f| f.key));
    columns.extend(TAIL.iter().map(|c| c.name));
    for f in table::TABLE {
        if let Some(i) = f.interval {
            columns.extend([i.low, i.high]);
        }
    }
    columns
}

/// The run's steps as CSV: a header of [`csv_columns`], then one row per step. A figure the
/// step does not have (a latency without answers, a cost without CPU samples) is empty.
pub fn steps_csv(id: RunId, run: &StoredRun) -> String {
    let mut out = csv_columns().join(",");
    out.push('\n');
    for s in &run.steps {
        let mut cells: Vec<String> = HEAD.iter().map(|c| (c.cell)(id, s)).collect();
        cells.extend(table::TABLE.iter().map(|f| f.plain(f.of(s))));
        cells.extend(TAIL.iter().map(|c| (c.cell)(id, s)));
        for f in table::TABLE {
            if f.interval.is_some() {
                let interval = f.interval_of(s);
                cells.push(opt(interval.map(|c| c[0])));
                cells.push(opt(interval.map(|c| c[1])));
            }
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// An optional figure: empty when absent.
fn opt(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// What a spreadsheet may read as the start of a formula: OWASP's list for CSV injection
/// (`=`, `+`, `-`, `@`, and TAB and CR, which some spreadsheets skip before looking).
const FORMULA_LEAD_INS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV field, quoted when it must be (RFC 4180); a field that starts with a formula
/// lead-in ([`FORMULA_LEAD_INS`]) is prefixed with `'` so that a spreadsheet does not run it.
fn csv(text: &str) -> String {
    let text = if text.starts_with(FORMULA_LEAD_INS) {
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
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        for (field, written) in [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=cmd()", "'=cmd()"),
        ] {
            assert_eq!(csv(field), written, "{field}");
        }
        for lead in ["=", "+", "-", "@", "\t", "\r"] {
            let field = csv(&format!("{lead}cmd|' /C calc'!A0"));
            let unquoted = field.strip_prefix('"').unwrap_or(&field);
            assert!(unquoted.starts_with('\''), "{lead:?}: {field:?}");
        }
        assert_eq!(csv("\tx"), "'\tx");
        assert_eq!(csv("\rx"), "\"'\rx\"");
        assert_eq!(csv("a\r\nb"), "\"a\r\nb\"");
    }

    #[test]
    fn every_figure_is_a_column_of_the_csv() {
        let columns = csv_columns();
        for f in table::TABLE {
            assert!(columns.contains(&f.key), "{} is not a CSV column", f.key);
            if let Some(i) = f.interval {
                assert!(
                    columns.contains(&i.low) && columns.contains(&i.high),
                    "{}",
                    f.key
                );
            }
        }
        let mut unique = columns.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), columns.len(), "{columns:?}");
        assert_eq!(columns[..5], ["run", "engine", "workload", "mode", "level"]);
    }

    fn run() -> StoredRun {
        let mut load = wb_model::results::LoadReport::default();
        load.latency.count = 10;
        load.latency.p99_us = 850;
        let step = StepResult {
            engine: "selector".into(),
            workload: "hello".into(),
            level: 16,
            load,
            estimates: wb_model::results::Estimates {
                p99_ci_us: Some([800.0, 900.0]),
                ..Default::default()
            },
            ..Default::default()
        };
        StoredRun {
            summary: RunSummary {
                id: RunId(7),
                status: wb_model::results::RunStatus::Completed,
                started_at: 0,
                finished_at: Some(1),
                suite: None,
                engines: vec!["selector".into()],
                workloads: vec!["hello".into()],
                steps: 1,
                message: None,
                machine: Default::default(),
            },
            config: RunConfig {
                suite: None,
                engines: Vec::new(),
                workloads: Vec::new(),
                pin: false,
                peer_versions: Default::default(),
                repeat: 1,
                placement: None,
            },
            calibration: Calibration::default(),
            steps: vec![step],
        }
    }

    #[test]
    fn every_figure_is_a_key_of_each_steps_figures_and_the_rest_is_unchanged() {
        let run = run();
        let json = serde_json::to_value(RunDocument::new(run.clone())).unwrap();
        assert_eq!(json["api_version"], API_VERSION);
        let step = &json["steps"][0];
        for f in table::TABLE {
            assert!(step["figures"].get(f.key).is_some(), "{}", f.key);
        }
        assert_eq!(step["figures"]["p99_us"], 850);
        assert_eq!(step["load"]["latency"]["p99_us"], 850);
        assert_eq!(step["p99_ci_us"], serde_json::json!([800.0, 900.0]));
        // Without `figures`, the document is the stored run as it always was.
        let mut plain = json.clone();
        plain.as_object_mut().unwrap().remove("api_version");
        plain["steps"][0].as_object_mut().unwrap().remove("figures");
        assert_eq!(plain, serde_json::to_value(&run).unwrap());
    }

    #[test]
    fn each_csv_row_has_a_cell_per_column() {
        let text = steps_csv(RunId(7), &run());
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0].split(',').collect();
        let cells: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(header.len(), cells.len());
        let at = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(at("run"), "7");
        assert_eq!(at("p99_us"), "850");
        assert_eq!(at("p99_ci_low_us"), "800.000");
        assert_eq!(at("engine_us_per_request"), "");
        assert_eq!(at("repeat"), "0");
    }
}
