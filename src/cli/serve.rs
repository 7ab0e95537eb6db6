//! `workbench serve`: the dashboard, until Ctrl-C.
//!
//! The dashboard itself lives in the `web` crate; this command gives it what only the binary
//! knows (its own path, which the runner starts engines with, and how it was built), binds
//! the address, prints it, and serves until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

/// Where the dashboard listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default: the dashboard can start runs). Port 0 picks
    /// a free port; the address printed is the real one.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: std::net::SocketAddr,
    /// The result store.
    #[arg(long, env = super::run::DB_ENV, default_value = super::run::DEFAULT_DB)]
    pub db: PathBuf,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Runs started from the browser open thousands of connections; their engines inherit this.
    workbench::os::raise_open_files_limit()?;
    let exe = std::env::current_exe().context("cannot find the workbench executable")?;
    // Open (and create, or migrate) the store now, so a bad --db fails here, not on a page.
    drop(super::run::open_store(&args.db)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let dashboard = web::Dashboard::new(
            web::Config {
                db: args.db.clone(),
                exe,
                rustc: option_env!("WORKBENCH_RUSTC").unwrap_or("unknown").into(),
                git_revision: option_env!("WORKBENCH_GIT_REVISION")
                    .unwrap_or("unknown")
                    .into(),
            },
            addr,
        );
        if !addr.ip().is_loopback() {
            eprintln!(
                "warning: listening on {addr}, not loopback: anyone who can reach it can see \
                 the results (starting runs still needs the page's token)"
            );
        }
        println!("Dashboard: http://{addr}/");
        eprintln!(
            "Results from {}. Ctrl-C stops the dashboard.",
            args.db.display()
        );
        dashboard.serve(listener, stop_signal()).await?;
        eprintln!("Dashboard stopped.");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!("cannot watch SIGTERM: {err}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
