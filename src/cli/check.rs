//! `workbench check`: start every engine and compare its answers with the protocol core's.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Default, Args)]
pub struct CheckArgs {}

pub fn run(_args: CheckArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
