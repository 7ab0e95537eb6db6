//! `workbench show --format` and `workbench report --format csv|json`: a run's steps as a
//! table to take elsewhere, the way hyperfine's `--export-csv`, `--export-markdown` and
//! `--export-json` give its results: one row per step, its columns the figures of the one
//! table of figures ([`wb_model::table::TABLE`]). The dashboard's `steps.csv` is the same
//! table; all three renderings live beside it (`wb_web::steps_csv`, `steps_markdown`,
//! `steps_json`), so the formats cannot drift.

use std::path::{Path, PathBuf};

use anyhow::Context;
use wb_reports::store::StoredRun;

/// A table format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    /// Comma-separated values (RFC 4180), text fields defused against spreadsheet formulas.
    Csv,
    /// A Markdown table (GitHub's), text escaped.
    Md,
    /// A JSON document: `api_version`, `run`, `columns` and `steps`.
    Json,
}

/// The run's steps in `format`.
pub fn steps(run: &StoredRun, format: TableFormat) -> anyhow::Result<String> {
    let id = run.summary.id;
    Ok(match format {
        TableFormat::Csv => wb_web::steps_csv(id, run),
        TableFormat::Md => wb_web::steps_markdown(id, run),
        TableFormat::Json => {
            let mut text = serde_json::to_string_pretty(&wb_web::steps_json(id, run))?;
            text.push('\n');
            text
        }
    })
}

/// Writes `text` to `out`, or to stdout when `out` is `None` or `-`.
pub fn write(text: &str, out: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    match out {
        Some(path) if path != Path::new("-") => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(Some(path.to_path_buf()))
        }
        _ => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .context("cannot write to stdout")?;
            Ok(None)
        }
    }
}
