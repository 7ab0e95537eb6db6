//! `workbench serve`: the dashboard (being written).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Where the dashboard listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default: the dashboard can start runs).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The result store.
    #[arg(long, default_value = super::run::DEFAULT_DB)]
    pub db: PathBuf,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    Ok(ExitCode::SUCCESS)
}
