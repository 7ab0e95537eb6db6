//! Command-line parsing and dispatch. Every subcommand lives in a module of its own.

mod check;
mod engine;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Concurrency Workbench: the same server workloads on four concurrency models, side by side.
#[derive(Debug, Parser)]
#[command(name = "workbench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one engine as a server until SIGINT or SIGTERM.
    ///
    /// When it is ready to accept, its first line on stdout is one JSON object:
    /// {"engine":"selector","addr":"127.0.0.1:40123","pid":12345}.
    Engine(engine::EngineArgs),
    /// Start every engine and check that each answers the protocol corpus with the bytes
    /// the protocol core expects (the default when no command is given).
    Check(check::CheckArgs),
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Some(Command::Engine(args)) => engine::run(args),
        Some(Command::Check(args)) => check::run(args),
        None => check::run(check::CheckArgs::default()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries the engine's ready line), filtered by `RUST_LOG`,
/// `info` by default. The plain writer starts no thread, so the pool can still fork.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
