//! `workbench db up|down|status`: the workbench's own PostgreSQL cluster, which `/db` and
//! `/queries` read (see `wb_database`). A run with a database workload starts it by itself
//! (and stops it at its end) when it is not up; `db up` keeps one running between runs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::quiet;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  workbench db up        # initialise (once), start and seed (once); prints --db-url
  workbench db status
  workbench db down")]
pub struct DbArgs {
    #[command(subcommand)]
    action: Action,
    /// The cluster's folder [default: WORKBENCH_PG_DIR, else <temp>/workbench-postgres-<uid>].
    #[arg(long, value_name = "DIR", global = true)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Start the cluster (initialising and seeding it the first time) and leave it running.
    Up,
    /// Stop the cluster (fast shutdown).
    Down,
    /// Say whether it runs, where, and the engines' --db-url.
    Status,
}

pub fn run(args: DbArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(wb_database::default_dir);
    match args.action {
        Action::Up => {
            let database = wb_database::up(&dir, wb_database::Lifetime::Detached)?;
            if !quiet() {
                eprintln!(
                    "PostgreSQL is up (pid {}, folder {}); stop it with: workbench db down",
                    database.pid(),
                    dir.display()
                );
            }
            println!("{}", database.conninfo());
        }
        Action::Down => {
            if wb_database::down(&dir)? {
                if !quiet() {
                    eprintln!("PostgreSQL stopped ({})", dir.display());
                }
            } else if !quiet() {
                eprintln!("no PostgreSQL of the workbench runs in {}", dir.display());
            }
        }
        Action::Status => println!("{}", wb_database::status_line(&dir)),
    }
    Ok(ExitCode::SUCCESS)
}
