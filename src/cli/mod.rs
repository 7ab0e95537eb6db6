//! Command-line parsing and dispatch. Each subcommand lives in the module named after it,
//! except `runs` and `show`, which share `run`'s (they list and print what it stores);
//! `gates`, `progress`, `summary` and `table` serve the commands.

mod check;
mod completions;
mod db;
mod engine;
mod export;
mod gates;
mod lab;
mod load;
mod peers;
mod progress;
mod report;
mod run;
mod sample;
mod serve;
mod summary;
mod table;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{CommandFactory, Parser, Subcommand};

/// Concurrency Workbench: the same server workloads on four concurrency models, side by side.
///
/// With no command, it serves the dashboard on http://127.0.0.1:8080/ and, if the result store
/// has no completed run yet, measures the quick suite as the dashboard's first run: its live
/// page fills in the browser while the terminal shows its bars. `--no-serve` only measures.
#[derive(Debug, Parser)]
#[command(name = "workbench", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// No progress bars, notes or hints: only results (tables, JSON) on stdout and errors on
    /// stderr, for scripts and CI logs.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// With no command: only measure the quick suite (if the store has no completed run),
    /// without serving the dashboard.
    #[arg(long)]
    no_serve: bool,
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
    /// Load any HTTP/1.1 server, wrk-style: `workbench load http://127.0.0.1:8080/ -c 64 -d 5s`
    /// (or a workload: `--target HOST:PORT --workload NAME`), and print what it measured.
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
    /// Print a shell completion script: bash, zsh or fish.
    Completions(completions::CompletionsArgs),
    /// Sample a process tree's memory, CPU and threads from /proc, one JSON line per reading
    /// (what the runner starts on an engine's host).
    Sample(sample::SampleArgs),
    /// Start, stop or look at the workbench's own PostgreSQL, which /db and /queries read.
    Db(db::DbArgs),
    /// Make or remove a lab of network namespaces on this machine (root), to try several
    /// hosts without several machines.
    Lab(lab::LabArgs),
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return parse_error(&err),
    };
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
        Some(Command::Completions(args)) => completions::run(args),
        Some(Command::Sample(args)) => sample::run(args),
        Some(Command::Lab(args)) => lab::run(args),
        Some(Command::Db(args)) => db::run(args),
        None => default_job(cli.no_serve),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Says what is wrong with the command line in one line (clap's own message, its tip, and
/// where to read more), exit status 2; help and version print as clap prints them.
fn parse_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
        }
        _ => {
            let args: Vec<String> = std::env::args().skip(1).collect();
            let command = Cli::command();
            let subcommand = args
                .iter()
                .find(|a| command.get_subcommands().any(|c| c.get_name() == *a));
            let path = match subcommand {
                Some(name) => format!("workbench {name}"),
                None => "workbench".to_string(),
            };
            eprintln!("{}", one_line(&err.render().to_string(), &path));
            ExitCode::from(2)
        }
    }
}

/// Clap's rendered error as one line: the lines before its usage block, trimmed and joined,
/// then a pointer to `PATH --help`.
fn one_line(rendered: &str, path: &str) -> String {
    let mut text = String::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() {
            continue;
        }
        // A tip is a sentence of its own; other lines continue the message (a list of
        // missing arguments).
        if !text.is_empty() {
            text.push_str(if line.starts_with("tip:") { "; " } else { " " });
        }
        text.push_str(line);
    }
    if text.is_empty() {
        text = "error: the command line is not valid".into();
    }
    format!("{text}; see `{path} --help`")
}

/// `cargo run --release`: the dashboard first, and the quick suite as its first run when the
/// store has no completed run, so that the browser shows it filling in; with `--no-serve`,
/// the quick suite in the terminal only.
fn default_job(no_serve: bool) -> anyhow::Result<ExitCode> {
    let args = run::RunArgs::default();
    let store = run::open_store(&args.db)?;
    let measured = store.latest_completed()?.is_some();
    drop(store);
    if measured && !quiet() {
        println!(
            "{} already holds a completed run; `workbench run` measures again.",
            args.db.display()
        );
    }
    if no_serve {
        return if measured {
            Ok(ExitCode::SUCCESS)
        } else {
            run::run(args)
        };
    }
    let first = if measured {
        None
    } else {
        if !quiet() {
            eprintln!(
                "No completed run in {} yet: the dashboard starts first, then measures the quick suite.",
                args.db.display()
            );
        }
        Some(serve::FirstRun {
            config: run::config_from(&args)?,
            any_port: true,
        })
    };
    serve::serve(
        serve::ServeArgs {
            listen: serve::DEFAULT_LISTEN.parse().expect("a valid address"),
            allow_remote: false,
            token: false,
            db: args.db,
        },
        first,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line_with_a_pointer_to_help() {
        let err = Cli::try_parse_from(["workbench", "load", "--conections", "4"]).unwrap_err();
        let line = one_line(&err.render().to_string(), "workbench load");
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("error: unexpected argument '--conections' found"),
            "{line}"
        );
        assert!(
            line.contains("--connections"),
            "the tip names the right flag: {line}"
        );
        assert!(line.ends_with("see `workbench load --help`"), "{line}");
        let err = Cli::try_parse_from(["workbench", "run", "--fail-if", "a.b.c > 1"]).unwrap_err();
        let line = one_line(&err.render().to_string(), "workbench run");
        assert!(
            line.contains("unknown figure \"c\"; figures: throughput_rps"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
