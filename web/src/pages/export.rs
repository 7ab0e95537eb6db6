//! A run as data: the JSON document of the API and the downloads, and the table of its
//! steps (one row per step, the figures of the table of figures) as CSV, Markdown or JSON.
//!
//! The API (`/api/runs/{id}`) and the run page's downloads (`run.json`, `steps.csv`) give the
//! same run the same way; both read it from here, so neither page module imports the other.
//! `workbench show --format` and `workbench report --format csv|json` write the same table.

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

/// One cell of the table of a run's steps, before it is written as CSV, Markdown or JSON.
enum Cell {
    /// Text: a label, a mode, a reason.
    Text(String),
    /// A whole number.
    Count(u64),
    /// A flag.
    Flag(bool),
    /// A figure with its decimals, absent where the step has none.
    Figure(Option<f64>, usize),
}

impl Cell {
    /// In a CSV: text quoted and defused ([`csv`]), a figure plain, an absent one empty.
    fn csv(&self) -> String {
        match self {
            Cell::Text(t) => csv(t),
            Cell::Count(n) => n.to_string(),
            Cell::Flag(b) => b.to_string(),
            Cell::Figure(v, decimals) => v.map(|v| format!("{v:.*}", decimals)).unwrap_or_default(),
        }
    }

    /// In a Markdown table: text escaped so that it stays text, an absent figure `–`.
    fn markdown(&self) -> String {
        match self {
            Cell::Text(t) => wb_reports::format::escape_markdown(t),
            Cell::Figure(None, _) => "–".into(),
            other => other.csv(),
        }
    }

    /// In JSON: text a string, a figure a number (`null` where absent; whole when the
    /// figure has no decimals).
    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(t) => t.clone().into(),
            Cell::Count(n) => (*n).into(),
            Cell::Flag(b) => (*b).into(),
            // A figure without decimals (a count, µs) is a whole number in JSON too.
            Cell::Figure(Some(v), 0) if v.fract() == 0.0 && v.abs() < 9e15 => (*v as i64).into(),
            Cell::Figure(v, _) => v.map_or(serde_json::Value::Null, Into::into),
        }
    }
}

/// A column of the steps' table that is not a figure: which step a row is, and its flags.
struct StepColumn {
    name: &'static str,
    cell: fn(RunId, &StepResult) -> Cell,
}

/// The columns before the figures: which step.
const HEAD: [StepColumn; 5] = [
    StepColumn {
        name: "run",
        cell: |id, _| Cell::Count(id.0 as u64),
    },
    StepColumn {
        name: "engine",
        cell: |_, s| Cell::Text(s.engine.clone()),
    },
    StepColumn {
        name: "workload",
        cell: |_, s| Cell::Text(s.workload.clone()),
    },
    StepColumn {
        name: "mode",
        cell: |_, s| Cell::Text(s.mode.name().to_string()),
    },
    StepColumn {
        name: "level",
        cell: |_, s| Cell::Count(s.level),
    },
];

/// The columns after the figures: the step's flags, failure and repeat.
const TAIL: [StepColumn; 5] = [
    StepColumn {
        name: "client_saturated",
        cell: |_, s| Cell::Flag(s.flags.client_saturated),
    },
    StepColumn {
        name: "littles_law_off",
        cell: |_, s| Cell::Flag(s.flags.littles_law_off),
    },
    StepColumn {
        name: "level_not_reached",
        cell: |_, s| Cell::Text(s.flags.level_not_reached.clone().unwrap_or_default()),
    },
    StepColumn {
        name: "failure",
        cell: |_, s| Cell::Text(s.failure.clone().unwrap_or_default()),
    },
    StepColumn {
        name: "repeat",
        cell: |_, s| Cell::Count(u64::from(s.repeat)),
    },
];

/// The columns of the steps' table, in order: which step (run, engine, workload, mode,
/// level), every figure of the table of figures ([`wb_model::table::TABLE`]) by its key, the
/// step's flags, failure and repeat, then the low and high end of every figure's 95 %
/// interval. The CSV, the Markdown table and the JSON rows of `workbench show --format` and
/// the dashboard's `steps.csv` all have these columns.
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

/// One step's cells, in the order of [`csv_columns`].
fn step_cells(id: RunId, s: &StepResult) -> Vec<Cell> {
    let mut cells: Vec<Cell> = HEAD.iter().map(|c| (c.cell)(id, s)).collect();
    cells.extend(
        table::TABLE
            .iter()
            .map(|f| Cell::Figure(f.of(s), f.decimals)),
    );
    cells.extend(TAIL.iter().map(|c| (c.cell)(id, s)));
    for f in table::TABLE {
        if f.interval.is_some() {
            let interval = f.interval_of(s);
            cells.push(Cell::Figure(interval.map(|c| c[0]), 3));
            cells.push(Cell::Figure(interval.map(|c| c[1]), 3));
        }
    }
    cells
}

/// The run's steps as CSV: a header of [`csv_columns`], then one row per step. A figure the
/// step does not have (a latency without answers, a cost without CPU samples) is empty.
pub fn steps_csv(id: RunId, run: &StoredRun) -> String {
    let mut out = csv_columns().join(",");
    out.push('\n');
    for s in &run.steps {
        let cells: Vec<String> = step_cells(id, s).iter().map(Cell::csv).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The run's steps as a Markdown table (GitHub's): the columns of [`csv_columns`], one row
/// per step, text escaped so that it stays text, `–` for a figure the step does not have.
pub fn steps_markdown(id: RunId, run: &StoredRun) -> String {
    let columns = csv_columns();
    let mut out = format!("| {} |\n", columns.join(" | ").replace('_', "\\_"));
    out.push_str(&format!("|{}\n", "---|".repeat(columns.len())));
    for s in &run.steps {
        let cells: Vec<String> = step_cells(id, s).iter().map(Cell::markdown).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// The run's steps as JSON: `{"api_version", "run", "columns", "steps"}`, each step an
/// object keyed by [`csv_columns`], figures as numbers (`null` where absent).
pub fn steps_json(id: RunId, run: &StoredRun) -> serde_json::Value {
    let columns = csv_columns();
    let steps: Vec<serde_json::Value> = run
        .steps
        .iter()
        .map(|s| {
            let row: serde_json::Map<String, serde_json::Value> = columns
                .iter()
                .zip(step_cells(id, s))
                .map(|(name, cell)| (name.to_string(), cell.json()))
                .collect();
            serde_json::Value::Object(row)
        })
        .collect();
    serde_json::json!({
        "api_version": API_VERSION,
        "run": id.0,
        "columns": columns,
        "steps": steps,
    })
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
