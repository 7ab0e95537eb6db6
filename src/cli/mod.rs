//! Command-line parsing and dispatch. Every subcommand lives in a module of its own.

mod check;
mod engine;
mod load;
mod peers;
mod progress;
mod report;
mod run;
mod serve;
mod summary;
mod table;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};

/// Concurrency Workbench: the same server workloads on four concurrency models, side by side.
///
/// With no command, it runs the quick suite (if the result store has no completed run yet),
/// prints its summary, then serves the dashboard on http://127.0.0.1:8080/.
#[derive(Debug, Parser)]
#[command(name = "workbench", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// No progress bars, notes or hints: only results (tables, JSON) on stdout and errors on
    /// stderr, for scripts and CI logs.
    #[arg(long, short, global = true)]
    quiet: bool,
}

/// `--quiet`, set once at start-up: every command asks [`quiet`] before it says anything that
/// is not a result. One flag for the whole process, so no command's arguments carry it.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Whether `--quiet` was given: say only results and errors.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure engines under workloads and keep the results.
    Run(run::RunArgs),
    /// List the stored runs.
    Runs(run::RunsArgs),
    /// Print one stored run: summary tables, or everything as JSON.
    Show(run::ShowArgs),
    /// Serve the dashboard: charts, runs, comparisons, lessons; start runs from the browser.
    Serve(serve::ServeArgs),
    /// Export a run as a standalone HTML or Markdown document.
    Report(report::ReportArgs),
    /// Drive any HTTP/1.1 server with a workload and print what it measured.
    Load(load::LoadArgs),
    /// Run one engine as a server until SIGINT or SIGTERM.
    ///
    /// When it is ready to accept, its first line on stdout is one JSON object:
    /// {"engine":"selector","addr":"127.0.0.1:40123","pid":12345}.
    Engine(engine::EngineArgs),
    /// Start every engine and check that each answers the protocol corpus with the bytes
    /// the protocol core expects.
    Check(check::CheckArgs),
    /// Install and list the peers: servers we did not write (asyncio, Twisted, Tornado,
    /// gevent, curio, gunicorn, nginx) serving the same routes.
    Peers(peers::PeersArgs),
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    QUIET.store(cli.quiet, Ordering::Relaxed);
    init_tracing();
    let result = match cli.command {
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Runs(args)) => run::runs(args),
        Some(Command::Show(args)) => run::show(args),
        Some(Command::Serve(args)) => serve::run(args),
        Some(Command::Report(args)) => report::run(args),
        Some(Command::Load(args)) => load::run(args),
        Some(Command::Engine(args)) => engine::run(args),
        Some(Command::Check(args)) => check::run(args),
        Some(Command::Peers(args)) => peers::run(args),
        None => default_job(),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo run --release`: the quick suite when the store has no completed run (with its
/// summary), then the dashboard.
fn default_job() -> anyhow::Result<ExitCode> {
    let args = run::RunArgs::default();
    let store = run::open_store(&args.db)?;
    let measured = store.latest_completed()?.is_some();
    drop(store);
    if measured {
        println!(
            "{} already holds a completed run; `workbench run` measures again.",
            args.db.display()
        );
    } else {
        eprintln!(
            "No completed run in {} yet: running the quick suite first.",
            args.db.display()
        );
        run::run(args.clone())?;
    }
    serve::run(serve::ServeArgs {
        listen: serve::DEFAULT_LISTEN.parse().expect("a valid address"),
        db: args.db,
    })
}

/// Logs go to stderr (stdout carries the engine's ready line), filtered by `RUST_LOG`,
/// `info` by default (`warn` with `--quiet`). The plain writer starts no thread, so the pool
/// can still fork.
fn init_tracing() {
    let default = if quiet() { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
