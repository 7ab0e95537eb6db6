//! `workbench report`: a run as a standalone document (being written).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run id, or `latest` (the latest completed run).
    #[arg(default_value = "latest")]
    pub run: String,
    /// The result store.
    #[arg(long, default_value = super::run::DEFAULT_DB)]
    pub db: PathBuf,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    Ok(ExitCode::SUCCESS)
}
