//! `workbench report`: a stored run as a document to share — one self-contained HTML file, or
//! Markdown with its SVG charts in a folder beside it (`wb_reports::report` does the writing)
//! — or its steps as a table (`--format csv|json`, as `show --format` writes them).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use wb_reports::report::{self, Format};
use wb_reports::store::StoredRun;

use super::export::{self, TableFormat};
use super::run::{DEFAULT_DB, open_store, resolve_run};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run id, or `latest` (the latest completed run).
    #[arg(default_value = "latest")]
    pub run: String,
    /// Other runs to set every figure beside, with its change (ids or `latest`).
    #[arg(long, value_name = "RUN", num_args = 1.., value_delimiter = ',')]
    pub compare: Vec<String>,
    /// The format: html (one self-contained file), md (Markdown and a folder of SVG charts
    /// beside it), or the run's steps as a table, one row per step with every figure: csv or
    /// json (as `show --format` writes them) [default: from --out's extension, else html].
    #[arg(long, value_parser = ["html", "md", "csv", "json"])]
    pub format: Option<String>,
    /// Where to write it [default: report-<id>.html or report-<id>.md; csv and json: stdout].
    /// `-` is stdout, for csv and json.
    #[arg(short = 'o', long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// The result store.
    #[arg(long, env = super::run::DB_ENV, default_value = DEFAULT_DB)]
    pub db: PathBuf,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.db)?;
    let load = |which: &str| -> anyhow::Result<StoredRun> {
        let id = resolve_run(&store, which)?;
        store
            .run(id)?
            .with_context(|| format!("no run {id} in {}", args.db.display()))
    };
    let run = load(&args.run)?;
    let compare = args
        .compare
        .iter()
        .map(|which| load(which))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let table = match (args.format.as_deref(), &args.out) {
        (Some("csv"), _) => Some(TableFormat::Csv),
        (Some("json"), _) => Some(TableFormat::Json),
        (None, Some(out)) => match out.extension().and_then(|e| e.to_str()) {
            Some("csv") => Some(TableFormat::Csv),
            Some("json") => Some(TableFormat::Json),
            _ => None,
        },
        _ => None,
    };
    if let Some(table) = table {
        let text = export::steps(&run, table)?;
        if let Some(path) = export::write(&text, args.out.as_deref())? {
            println!(
                "Wrote {} ({} steps of run {}, {}).",
                path.display(),
                run.steps.len(),
                run.summary.id,
                run.summary.status.as_str()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let format = match (&args.format, &args.out) {
        (Some(name), _) => name.parse::<Format>().map_err(anyhow::Error::msg)?,
        (None, Some(out)) => Format::from_path(out).unwrap_or_default(),
        (None, None) => Format::Html,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("report-{}.{}", run.summary.id, format.extension()))
    });
    let written = report::write(&run, &compare, format, &out)
        .with_context(|| format!("cannot write the report to {}", out.display()))?;
    let charts = written.len() - 1;
    match format {
        Format::Html => println!(
            "Wrote {} (run {}, {}): one file, open it in a browser.",
            out.display(),
            run.summary.id,
            run.summary.status.as_str()
        ),
        Format::Markdown => println!(
            "Wrote {} and {charts} chart(s) in {} (run {}, {}).",
            out.display(),
            out.with_file_name(report::files_dir_for(&out)).display(),
            run.summary.id,
            run.summary.status.as_str()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
