//! The dashboard: the workbench's results in a browser, and runs started from it.
//!
//! `workbench serve` (and `cargo run --release`, once a run is stored) serves these pages on
//! `http://127.0.0.1:8080/`:
//!
//! | route | what it shows |
//! |---|---|
//! | `/` | the latest completed run at a glance: memory per idle connection, throughput, p99 latency and cores, one chart each |
//! | `/runs`, `/runs/{id}` | every stored run; one run's charts, steps, flags, configuration and machine, with JSON and CSV downloads |
//! | `/compare?run=A&run=B` | two or more runs side by side, with the change in each figure |
//! | `/new`, `POST /runs`, `/runs/{id}/live` | start a run, then watch it: progress bars and charts that fill in as steps end |
//! | `/lessons`, `/lessons/{slug}` | each claim the workbench tests, judged by the latest run that has the data |
//! | `/engines`, `/source/{path}` | how each model serves one request, with its source files |
//! | `/api`, `/api/runs`, `/api/runs/{id}` | the JSON API and its documentation |
//!
//! # How it is built
//!
//! Everything is drawn on the server. Handlers read the SQLite store ([`wb_reports::store`]),
//! draw charts with [`wb_reports::charts`] (the same SVG the standalone reports use), and fill
//! askama templates (`web/templates/`), which escape every value unless told otherwise: only
//! the chart SVG and its table, which [`wb_reports::charts`] escapes itself, go in as they are.
//! Three small scripts, and the pages read without them: `static/live.js` follows a live run
//! through server-sent events and swaps in fresh charts when a step ends; `static/charts.js`
//! lets a chart's legend hide and show its series; `static/glossary.js` marks the terms of
//! [`wb_reports::glossary`] where they appear, with their definitions on hover or tap. There
//! is no front-end build.
//!
//! The store is opened afresh by each request, on tokio's blocking pool: a SQLite
//! connection is cheap to open and cannot be shared between threads without a lock, and
//! WAL mode lets these readers look while a run writes.
//!
//! A run started from the browser runs on its own thread, with the store and a live page as
//! its observers ([`browser_runs`]). Starting and cancelling are the only requests that change
//! anything, and [`guard`] makes sure they come from the dashboard's own pages. A dashboard
//! other machines may reach (`workbench serve --allow-remote`,
//! [`Dashboard::with_access_secret`]) also asks every request for an access secret.

pub mod browser_runs;
#[cfg(feature = "fixture")]
pub mod fixture;
pub mod guard;
pub mod lesson_async;
pub mod newrun;
mod pages;
pub mod server;
pub mod side_by_side;

/// The JSON documents the command line prints too (`workbench runs --json` and `show --json`
/// give what `/api/runs` and `/api/runs/{id}` give).
pub use pages::api::{API_VERSION, RunsDocument};
pub use pages::export::{RunDocument, csv_columns, steps_csv, steps_json, steps_markdown};
pub use server::Limits;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use tokio::sync::watch;

use pages::runs::Download;

/// How long shutting down waits for a run in progress to stop after the current step.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// What the dashboard needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The result store.
    pub db: PathBuf,
    /// The `workbench` executable, which the runner starts as `workbench engine <name>`
    /// (the binary passes `std::env::current_exe()`).
    pub exe: PathBuf,
    /// The compiler that built the binary, recorded with each run.
    pub rustc: String,
    /// The project's git revision, recorded with each run.
    pub git_revision: String,
}

/// The state every handler sees.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// The id of the run this dashboard is running now, if any.
    async fn run_in_progress(&self) -> Option<i64> {
        let db = self.inner.config.db.clone();
        self.inner.runs.in_progress(db).await.map(|id| id.0)
    }
}

struct Inner {
    config: Config,
    /// The address the dashboard listens on, for messages.
    listen: SocketAddr,
    /// The token every state-changing request must carry ([`guard`]).
    token: String,
    /// The access secret every request must carry, when the dashboard was started to be
    /// reached from other machines (`serve --allow-remote`); `None` on loopback, where the
    /// guard's host, origin and token checks suffice ([`guard`]).
    access: Option<String>,
    /// The run started here, if any.
    runs: browser_runs::Runs,
    /// Becomes true when the server shuts down, so that event streams end.
    shutdown: watch::Receiver<bool>,
    /// The server's limits ([`server`]).
    limits: Limits,
    /// One permit per live-progress stream open now, [`Limits::max_live_streams`] in all.
    live_streams: Arc<tokio::sync::Semaphore>,
}

/// A dashboard, ready to serve.
pub struct Dashboard {
    state: AppState,
    shutdown: watch::Sender<bool>,
}

impl Dashboard {
    /// A dashboard for `config`, to be served on `listen` (used in messages only: the
    /// listener is given to [`Dashboard::serve`]), for this machine only: every page is open
    /// to a request that names it by IP address or `localhost`.
    pub fn new(config: Config, listen: SocketAddr) -> Dashboard {
        Dashboard::build(config, listen, None)
    }

    /// A dashboard that other machines may reach (`workbench serve --allow-remote`): every
    /// page, API route and asset needs a fresh random access secret, given once in the
    /// address (`/?token=…`, as Jupyter does) and then kept by the browser in a cookie. See
    /// [`guard`]; [`Dashboard::access_url`] is the address to print.
    pub fn with_access_secret(config: Config, listen: SocketAddr) -> Dashboard {
        Dashboard::build(config, listen, Some(guard::new_token()))
    }

    fn build(config: Config, listen: SocketAddr, access: Option<String>) -> Dashboard {
        let (shutdown, receiver) = watch::channel(false);
        Dashboard {
            state: AppState {
                inner: Arc::new(Inner {
                    config,
                    listen,
                    token: guard::new_token(),
                    access,
                    runs: browser_runs::Runs::default(),
                    shutdown: receiver,
                    limits: Limits::default(),
                    live_streams: Arc::new(tokio::sync::Semaphore::new(
                        Limits::default().max_live_streams,
                    )),
                }),
            },
            shutdown,
        }
    }

    /// The same dashboard served within `limits` (connections, live streams, timeouts: see
    /// [`server`]) instead of [`Limits::default`]. Call it before [`Dashboard::router`] or
    /// [`Dashboard::serve`].
    ///
    /// # Panics
    ///
    /// If a router of this dashboard is still alive.
    pub fn with_limits(mut self, limits: Limits) -> Dashboard {
        let inner = Arc::get_mut(&mut self.state.inner)
            .expect("Dashboard::with_limits is called before the dashboard is routed");
        inner.limits = limits;
        inner.live_streams = Arc::new(tokio::sync::Semaphore::new(limits.max_live_streams));
        self
    }

    /// The limits it is served within.
    pub fn limits(&self) -> Limits {
        self.state.inner.limits
    }

    /// The token this dashboard's forms carry.
    pub fn token(&self) -> &str {
        &self.state.inner.token
    }

    /// The access secret, if this dashboard requires one
    /// ([`Dashboard::with_access_secret`]).
    pub fn access_secret(&self) -> Option<&str> {
        self.state.inner.access.as_deref()
    }

    /// The address to open the dashboard at, given the address it listens on: `http://addr/`,
    /// with `?token=` and the access secret when it requires one. Print it once.
    pub fn access_url(&self, addr: SocketAddr) -> String {
        match self.access_secret() {
            Some(secret) => format!("http://{addr}/?{}={secret}", guard::ACCESS_PARAM),
            None => format!("http://{addr}/"),
        }
    }

    /// Starts runs on this dashboard from the binary, as `POST /runs` does from the browser:
    /// `cargo run --release` starts its first run this way, so that the browser's live page
    /// follows it while the terminal shows its bars.
    pub fn launcher(&self) -> Launcher {
        Launcher {
            state: self.state.clone(),
        }
    }

    /// Every route, behind the guard.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves on `listener` within its [`Limits`] ([`server`]) until `signal` completes, then
    /// lets open connections finish their requests, cancels a run in progress (waiting up to
    /// [`SHUTDOWN_GRACE`] for it to stop) and returns.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let shutdown = self.shutdown;
        let state = self.state.clone();
        let limits = state.inner.limits;
        let stop = shutdown.subscribe();
        let app = router(self.state);
        tokio::spawn(async move {
            signal.await;
            // Event streams and the server watch this: streams end, so open pages do not hold
            // the server, and the server stops accepting.
            let _ = shutdown.send(true);
        });
        server::serve(listener, app, limits, stop).await;
        state.inner.runs.shutdown(SHUTDOWN_GRACE).await;
        Ok(())
    }
}

/// Starts runs on a [`Dashboard`] from outside the browser ([`Dashboard::launcher`]).
#[derive(Clone)]
pub struct Launcher {
    state: AppState,
}

impl Launcher {
    /// Starts `config` as this dashboard's run (refused while another run is in progress),
    /// with `extra` observing it beside the store and the live page; returns its id once the
    /// store has recorded its start. Its live page is [`Launcher::live_path`].
    pub async fn start(
        &self,
        config: wb_model::results::RunConfig,
        extra: Option<browser_runs::ExtraObserver>,
    ) -> Result<wb_reports::store::RunId, browser_runs::StartError> {
        let c = &self.state.inner.config;
        let setup = browser_runs::RunSetup {
            db: c.db.clone(),
            exe: c.exe.clone(),
            machine: wb_runner::machine::collect(&c.rustc, &c.git_revision),
            trace: false,
        };
        self.state
            .inner
            .runs
            .start_watched(setup, config, extra)
            .await
    }

    /// Whether the dashboard is shutting down (Ctrl-C): a run it cancels then is the
    /// interrupt's doing, not a cancel from the browser.
    pub fn shutting_down(&self) -> bool {
        *self.state.inner.shutdown.borrow()
    }

    /// The path of run `id`'s live progress page.
    pub fn live_path(id: wb_reports::store::RunId) -> String {
        newrun::live_page(id.0, None)
    }

    /// Waits until run `id`, started here, has ended and its ending is in the store; at once
    /// if it is not this dashboard's latest run.
    pub async fn finished(&self, id: wb_reports::store::RunId) {
        let Some(run) = self.state.inner.runs.get(id) else {
            return;
        };
        let mut progress = run.subscribe();
        while !progress.borrow_and_update().finished {
            if progress.changed().await.is_err() {
                return;
            }
        }
    }
}

/// The routes.
/// The route of a run's download `what`.
fn download(what: Download) -> axum::routing::MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, Path(id): Path<String>| {
            pages::runs::download(state, id, what)
        },
    )
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/runs", get(pages::runs::list).post(pages::live::start))
        .route("/runs/{id}", get(pages::runs::show))
        .route("/runs/{id}/run.json", download(Download::Json))
        .route("/runs/{id}/steps.csv", download(Download::Csv))
        .route("/runs/{id}/report.html", download(Download::ReportHtml))
        .route(
            "/runs/{id}/report.md.tar",
            download(Download::ReportMarkdown),
        )
        .route("/runs/{id}/charts", get(pages::runs::charts_fragment))
        .route("/runs/{id}/live", get(pages::live::page))
        .route("/runs/{id}/events", get(pages::live::events))
        .route("/runs/{id}/cancel", post(pages::live::cancel))
        .route("/compare", get(pages::compare::page))
        .route("/compare/report.html", get(pages::compare::download_report))
        .route("/new", get(pages::live::new_run))
        .route("/lessons", get(pages::lessons::list))
        .route("/lessons/{slug}", get(pages::lessons::show))
        .route("/engines", get(pages::engines::page))
        .route("/source/{*path}", get(pages::engines::source))
        .route("/guide", get(pages::guide::page))
        .route("/api", get(pages::api::docs))
        .route("/api/runs", get(pages::api::runs))
        .route("/api/runs/{id}", get(pages::api::run))
        .route("/api/runs/{id}/progress", get(pages::api::progress))
        .route("/static/style.css", get(pages::assets::style))
        .route("/static/live.js", get(pages::assets::script))
        .route("/static/glossary.js", get(pages::assets::glossary))
        .route("/static/charts.js", get(pages::assets::charts_script))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}
