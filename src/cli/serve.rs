//! `workbench serve`: the dashboard, until Ctrl-C.
//!
//! The dashboard itself lives in the `web` crate; this command gives it what only the binary
//! knows (its own path, which the runner starts engines with, and how it was built), binds
//! the address, prints it, and serves until SIGINT or SIGTERM.
//!
//! The dashboard can start runs, so by default it answers only on loopback. An address
//! other machines can reach (`--listen 0.0.0.0:8080`) is refused unless `--allow-remote`
//! says so; then every page needs an access secret, printed once here inside the address to
//! open (`http://…/?token=…`, as Jupyter prints a notebook server's), which the browser then
//! keeps in an `HttpOnly`, `SameSite=Strict` cookie (see `wb_web::guard`). `--token` asks for
//! it on loopback too, for a machine shared with other users.
//!
//! The dashboard caps its connections at half the open-files limit and times out slow heads
//! and idle connections (`wb_web::server`), so idle clients cannot starve it.
//!
//! Ctrl-C (or SIGTERM) lets a run started from the browser finish its current step, as
//! `workbench run` does; a second one stops its engines at once and exits.

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
    /// Allow an address other machines can reach (such as 0.0.0.0:8080). Every page then
    /// needs an access token, printed once on this terminal inside the address to open.
    #[arg(long)]
    pub allow_remote: bool,
    /// Ask for the access token on loopback too, as Jupyter does: on a machine shared with
    /// other users, whose programs can reach 127.0.0.1 as well. Implied by --allow-remote.
    #[arg(long)]
    pub token: bool,
    /// The result store.
    #[arg(long, env = super::run::DB_ENV, default_value = super::run::DEFAULT_DB)]
    pub db: PathBuf,
}

/// Refuses an address beyond loopback unless `--allow-remote` was given, saying why and how.
fn check_listen(listen: std::net::SocketAddr, allow_remote: bool) -> anyhow::Result<()> {
    if listen.ip().is_loopback() || allow_remote {
        return Ok(());
    }
    anyhow::bail!(
        "--listen {listen} would let other machines reach the dashboard, which shows every \
         result and can start runs on this machine. Add --allow-remote to serve it there behind \
         an access token (printed once, in the address to open), or listen on loopback \
         (--listen 127.0.0.1:{}).",
        listen.port()
    )
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    serve(args, None)
}

/// What `cargo run --release` serves besides the pages: its first run, started as the
/// dashboard's own run once the dashboard answers.
pub struct FirstRun {
    /// The run (the quick suite).
    pub config: wb_model::results::RunConfig,
    /// When port 8080 is taken, serve on a free port rather than fail: a first run should
    /// not stop at a busy port.
    pub any_port: bool,
}

/// Serves the dashboard until Ctrl-C; with `first`, starts that run on it once it answers,
/// prints where to watch it live, shows its bars in the terminal, and prints its summary
/// when it ends (the dashboard goes on serving). Ctrl-C during the run stops it after the
/// current step, and the dashboard with it; twice, at once (exit status 130).
pub fn serve(args: ServeArgs, first: Option<FirstRun>) -> anyhow::Result<ExitCode> {
    check_listen(args.listen, args.allow_remote)?;
    // Runs started from the browser open thousands of connections; their engines inherit this.
    // The dashboard's own connections are capped below it (wb_web::server).
    let open_files = workbench::os::raise_open_files_limit()?;
    let exe = std::env::current_exe().context("cannot find the workbench executable")?;
    // Open (and create, or migrate) the store now, so a bad --db fails here, not on a page.
    drop(super::run::open_store(&args.db)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Err(err)
                if err.kind() == std::io::ErrorKind::AddrInUse
                    && first.as_ref().is_some_and(|f| f.any_port) =>
            {
                let any = std::net::SocketAddr::new(args.listen.ip(), 0);
                eprintln!("{} is taken: serving on a free port instead.", args.listen);
                tokio::net::TcpListener::bind(any)
                    .await
                    .with_context(|| format!("cannot listen on {any}"))?
            }
            bound => bound.with_context(|| format!("cannot listen on {}", args.listen))?,
        };
        let addr = listener.local_addr()?;
        let config = wb_web::Config {
            db: args.db.clone(),
            exe,
            rustc: option_env!("WORKBENCH_RUSTC").unwrap_or("unknown").into(),
            git_revision: option_env!("WORKBENCH_GIT_REVISION")
                .unwrap_or("unknown")
                .into(),
        };
        let needs_token = args.allow_remote || args.token;
        let dashboard = if needs_token {
            wb_web::Dashboard::with_access_secret(config, addr)
        } else {
            wb_web::Dashboard::new(config, addr)
        }
        .with_limits(wb_web::Limits::for_open_files(open_files));
        // Printed once: with --allow-remote or --token it holds the access secret.
        println!("Dashboard: {}", dashboard.access_url(addr));
        if needs_token {
            eprintln!(
                "Every page needs the token in that address (open it once; the browser keeps \
                 it in a cookie). It changes each time the dashboard starts."
            );
            if addr.ip().is_unspecified() {
                eprintln!(
                    "{} means every interface: from another machine, put this machine's name \
                     or address in its place.",
                    addr.ip()
                );
            }
        }
        eprintln!(
            "Results from {}. Ctrl-C stops the dashboard.",
            args.db.display()
        );
        let launcher = dashboard.launcher();
        let base = dashboard.access_url(addr);
        let serving = tokio::spawn(dashboard.serve(listener, stop_signals()));
        let mut code = ExitCode::SUCCESS;
        if let Some(first) = first {
            code = first_run(&launcher, first.config, &base, &args.db).await;
        }
        serving
            .await
            .context("the dashboard stopped unexpectedly")??;
        // A run that outlived the shutdown grace: its engine is stopped and reaped here,
        // not left to the parent-death signal.
        wb_runner::child::stop_all(wb_runner::STOP_GRACE);
        eprintln!("Dashboard stopped.");
        anyhow::Ok(code)
    })
}

/// Starts `config` as the dashboard's run, says where to watch it, shows its bars, and
/// prints its summary when it ends. The exit status: 130 if it was interrupted, 1 if it
/// failed or could not start.
async fn first_run(
    launcher: &wb_web::Launcher,
    config: wb_model::results::RunConfig,
    base: &str,
    db: &std::path::Path,
) -> ExitCode {
    let quiet = super::quiet();
    let bars: Option<wb_web::browser_runs::ExtraObserver> = (!quiet).then(|| {
        Box::new(super::progress::Progress::new(
            config.total_steps(),
            config.estimated_secs(),
        )) as wb_web::browser_runs::ExtraObserver
    });
    let steps = config.total_steps();
    let secs = config.estimated_secs();
    let id = match launcher.start(config, bars).await {
        Ok(id) => id,
        Err(wb_web::browser_runs::StartError::Busy(id)) => {
            eprintln!(
                "Run {id} is in progress (another workbench is measuring): not starting the quick suite; its page is on the dashboard."
            );
            return ExitCode::FAILURE;
        }
        Err(wb_web::browser_runs::StartError::Failed(why)) => {
            eprintln!("error: the quick suite did not start: {why}");
            return ExitCode::FAILURE;
        }
    };
    if !quiet {
        // The live page, relative to the dashboard's address (which may carry a token).
        let (root, query) = base.split_once('?').unwrap_or((base, ""));
        let live = wb_web::Launcher::live_path(id);
        let live = live.trim_start_matches('/');
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        eprintln!(
            "Measuring the quick suite as run {id} ({steps} steps, about {secs:.0} s): watch it live at {root}{live}{query}\nCtrl-C stops after the current step; twice, at once."
        );
    }
    launcher.finished(id).await;
    let db = db.to_path_buf();
    let summary = tokio::task::spawn_blocking(move || -> anyhow::Result<(String, bool)> {
        let store = super::run::open_store(&db)?;
        let run = store.run(id)?.context("the run just recorded is missing")?;
        let text = format!(
            "\nRun {id}: {}\n{}{}",
            run.summary.status.as_str(),
            super::summary::render(&run.config.workloads, &run.steps),
            super::summary::claims(&run)
        );
        Ok((
            text,
            run.summary.status == wb_model::results::RunStatus::Interrupted,
        ))
    })
    .await;
    match summary {
        Ok(Ok((text, interrupted))) => {
            print!("{text}");
            if launcher.shutting_down() && interrupted {
                // Ctrl-C stopped the run, and the dashboard with it.
                return ExitCode::from(130);
            }
            if !quiet {
                eprintln!("The dashboard goes on serving: {base} (Ctrl-C stops it).");
            }
            ExitCode::SUCCESS
        }
        Ok(Err(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM; the dashboard then stops serving and
/// lets a run in progress finish its step. A second signal stops every engine and peer
/// this process started (SIGTERM, then SIGKILL to their groups after the grace, reaped) and
/// exits with 130 at once; a third exits without waiting for them.
async fn stop_signals() {
    use tokio::signal::unix::{SignalKind, signal};
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let watch = async move {
        let (mut int, mut term) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(int), Ok(term)) => (int, term),
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!("cannot watch SIGINT and SIGTERM: {err}");
                let _ = tokio::signal::ctrl_c().await;
                let _ = first_tx.send(());
                return;
            }
        };
        let mut first = Some(first_tx);
        for count in 0.. {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            match count {
                0 => {
                    if let Some(first) = first.take() {
                        let _ = first.send(());
                    }
                }
                1 => {
                    eprintln!("\nStopping now: ending the engine processes.");
                    std::thread::spawn(|| {
                        wb_runner::child::stop_all(wb_runner::STOP_GRACE);
                        std::process::exit(130);
                    });
                }
                _ => std::process::exit(130),
            }
        }
    };
    tokio::spawn(watch);
    let _ = first_rx.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_beyond_loopback_need_allow_remote() {
        for local in ["127.0.0.1:8080", "[::1]:0", "127.0.0.2:9"] {
            assert!(
                check_listen(local.parse().unwrap(), false).is_ok(),
                "{local}"
            );
        }
        for remote in ["0.0.0.0:8080", "[::]:8080", "192.168.1.5:80"] {
            let err = check_listen(remote.parse().unwrap(), false)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("--allow-remote") && err.contains("127.0.0.1"),
                "{err}"
            );
            assert!(check_listen(remote.parse().unwrap(), true).is_ok());
        }
    }
}
