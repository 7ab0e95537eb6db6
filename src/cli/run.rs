//! `workbench run`, `workbench runs` and `workbench show`: measure, list, look.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use wb_model::engines;
use wb_model::results::{Calibration, MachineFacts, RunConfig, RunStatus};
use wb_model::spec::{Placement, SUITE_NAMES, Suite, Workload};
use wb_reports::record::Recorder;
use wb_reports::store::{RunId, Store};
use wb_runner::peers::PeerLaunch as _;
use wb_runner::{Observer, Runner};

use super::gates;
use super::progress::Progress;
use super::summary;
use super::table::Table;

/// The default result store, in the working directory.
pub const DEFAULT_DB: &str = "workbench.db";
/// The environment variable that stands in for `--db` on every command, so that a shell or a
/// CI job names its store once.
pub const DB_ENV: &str = "WORKBENCH_DB";

/// The store when no `--db` is given: `$WORKBENCH_DB`, else [`DEFAULT_DB`]. What clap does for
/// the commands, for the default job, which has no command line.
pub fn default_db() -> PathBuf {
    std::env::var_os(DB_ENV)
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DB), PathBuf::from)
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The suite: quick (about four and a half minutes, a timeline of each lesson's workload
    /// included: 28 traced windows, about 40 s and a few MB of the store) or full.
    #[arg(long, default_value = "quick", value_parser = clap::builder::PossibleValuesParser::new(SUITE_NAMES))]
    pub suite: String,
    /// Engines, comma-separated: threads, pool, selector, coroutines, uring (io_uring), or the
    /// variants selector-offload, selector-on-tokio, selector-loops, coroutines-current,
    /// coroutines-offload [default: the four models]. Each may take parameters, its own long
    /// flags without `--`: `NAME:KEY=VALUE[:KEY=VALUE…]` (`pool:workers=8`,
    /// `threads:stack-size=8MiB`, `coroutines:flavor=current-thread`, `selector:loops=2`), a
    /// series of its own under that label.
    #[arg(long, value_delimiter = ',')]
    pub engines: Vec<String>,
    /// Workloads, comma-separated: names from the suite, other presets, or workload files
    /// [default: the suite's].
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
    /// Peers to measure beside the engines, comma-separated, or `all` (the installed ones):
    /// the raw loops (asyncio, twisted, tornado, gevent, curio…), the frameworks (aiohttp,
    /// uvicorn, starlette, twisted-web, tornado-web, gevent-wsgi, gunicorn-uvicorn, granian),
    /// twisted-select, twisted-poll, gunicorn-sync, gunicorn-gthread, nginx.
    /// See `workbench peers list`.
    #[arg(long, value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Pin the engine to CPU 0, the first of the lower half of the CPUs, and the load
    /// generator to the upper half (the same as `--placement split`).
    #[arg(long)]
    pub pin: bool,
    /// Also record a timeline for each engine and workload: a short traced window at the
    /// middle level, on a fresh engine started with `--trace`, stored with the run and drawn
    /// on its page (the measured steps themselves are never traced). With `--engine-host`, the
    /// traced engine runs there and its spans are read back through the prefix.
    #[arg(long)]
    pub trace: bool,
    /// Run each step N times, each in a fresh engine process, interleaved across engines;
    /// 3 or more give intervals from the repeats [default: the suite's: quick 1, full 3].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub repeat: Option<u32>,
    /// Where engine and load generator run, for every workload: `split` (disjoint halves of
    /// the CPUs) or `shared` (both on every CPU) [default: each workload's own].
    #[arg(long, value_parser = ["split", "shared"])]
    pub placement: Option<String>,
    /// Leave out every workload's levels above N (each keeps its smallest level), to make a
    /// run small; 1 to 1000000, as the dashboard's "levels up to".
    #[arg(long, value_name = "N", value_parser = max_level)]
    pub max_level: Option<u64>,
    /// Seconds measured at each level instead of each workload's own; 0.2 to 10, as the
    /// dashboard's "seconds per step".
    #[arg(long, value_name = "SECS", value_parser = step_secs)]
    pub step_secs: Option<f64>,
    /// Exit with status 3 when a figure crosses a threshold, e.g. 'selector.hello.p99_us >
    /// 2000'; repeatable.
    #[arg(long = "fail-if", value_name = "GATE", value_parser = gates::parse, long_help = gates::help())]
    pub fail_if: Vec<gates::Gate>,
    /// The result store.
    #[arg(long, env = DB_ENV, default_value = DEFAULT_DB)]
    pub db: PathBuf,
    /// Run the engine and its sampler on another host: a command prefix, e.g. 'ssh
    /// bench@server' or 'ip netns exec wb-server' (see `workbench lab`). Needs --load-hosts.
    #[arg(long, value_name = "PREFIX", requires = "load_hosts")]
    pub engine_host: Option<String>,
    /// Run the load generators on these hosts, comma-separated prefixes; each level's
    /// connections (or rate) are split across them. Needs --engine-host.
    #[arg(
        long,
        value_name = "PREFIX,…",
        value_delimiter = ',',
        requires = "engine_host"
    )]
    pub load_hosts: Vec<String>,
    /// The workbench program on the hosts; it must be this same version.
    #[arg(long, value_name = "PATH", default_value = "workbench")]
    pub remote_bin: String,
    /// The engine host's address as the load hosts reach it [default: 198.18.0.10 for the
    /// lab's wb-server, the host name of an `ssh [user@]host` prefix].
    #[arg(long, value_name = "HOST", requires = "engine_host")]
    pub engine_addr: Option<String>,
}

/// `--max-level`, with the dashboard's cap and wording.
fn max_level(text: &str) -> Result<u64, String> {
    wb_model::spec::asked_max_level(text)
}

/// `--step-secs`, with the dashboard's caps and wording.
fn step_secs(text: &str) -> Result<f64, String> {
    wb_model::spec::asked_step_secs(text)
}

impl Default for RunArgs {
    fn default() -> RunArgs {
        RunArgs {
            suite: "quick".into(),
            engines: Vec::new(),
            workloads: Vec::new(),
            peers: Vec::new(),
            pin: false,
            trace: false,
            repeat: None,
            placement: None,
            max_level: None,
            step_secs: None,
            fail_if: Vec::new(),
            db: default_db(),
            engine_host: None,
            load_hosts: Vec::new(),
            remote_bin: "workbench".into(),
            engine_addr: None,
        }
    }
}

/// Resolves the command line into a run configuration, or says what is wrong and how to fix it.
pub fn config_from(args: &RunArgs) -> anyhow::Result<RunConfig> {
    let suite = Suite::named(&args.suite)?;
    let workloads = if args.workloads.is_empty() {
        suite.workloads.clone()
    } else {
        args.workloads
            .iter()
            .map(
                |name| match suite.workloads.iter().find(|w| &w.name == name) {
                    Some(w) => Ok(w.clone()),
                    None => Workload::load(name),
                },
            )
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut workloads = workloads;
    for workload in &mut workloads {
        if let Some(cap) = args.max_level {
            workload.cap_levels(cap);
        }
        if let Some(secs) = args.step_secs {
            workload.step_secs = secs;
        }
    }
    let names: Vec<&str> = if args.engines.is_empty() {
        engines::DEFAULT_ENGINES.to_vec()
    } else {
        args.engines.iter().map(String::as_str).collect()
    };
    let mut engines =
        engines::parse_engines(&names).map_err(|why| anyhow::anyhow!("--engines: {why}"))?;
    let peers = resolve_peers(&args.peers)?;
    let peer_versions = if peers.is_empty() {
        Default::default()
    } else {
        wb_runner::peers::versions()
    };
    engines.extend(peers);
    Ok(RunConfig {
        suite: args.workloads.is_empty().then(|| suite.name.clone()),
        engines,
        workloads,
        pin: args.pin,
        peer_versions,
        repeat: args.repeat.unwrap_or(suite.repeat),
        placement: args.placement.as_deref().and_then(Placement::parse),
    })
}

/// `--peers a,b` or `--peers all`: named peers must be ready (else the error says why and how
/// to fix it); `all` takes the ready ones and says which it leaves out.
fn resolve_peers(names: &[String]) -> anyhow::Result<Vec<wb_model::results::EngineSpec>> {
    use wb_model::results::EngineSpec;
    use wb_runner::peers;
    if names.iter().any(|n| n == "all") {
        let mut chosen = Vec::new();
        for def in peers::all() {
            match def.readiness() {
                Ok(()) => chosen.push(EngineSpec::peer(def.name)),
                Err(why) if !super::quiet() => eprintln!("peer {} left out: {why}", def.name),
                Err(_) => {}
            }
        }
        return Ok(chosen);
    }
    names
        .iter()
        .map(|name| {
            let def = peers::find(name).with_context(|| {
                format!(
                    "--peers: unknown peer {name:?}; choose from {} or all",
                    peers::all()
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            def.readiness()
                .map_err(|why| anyhow::anyhow!("--peers: {name} is not ready: {why}"))?;
            Ok(EngineSpec::peer(def.name))
        })
        .collect()
}

/// Facts about this build and machine.
pub fn machine_facts() -> MachineFacts {
    wb_runner::machine::collect(
        option_env!("WORKBENCH_RUSTC").unwrap_or("unknown"),
        option_env!("WORKBENCH_GIT_REVISION").unwrap_or("unknown"),
    )
}

/// Runs `config`, recording into the store at `db`, with progress bars (none with `--quiet`);
/// prints the summary.
/// With `hosts`, the engine and the load run on other hosts.
pub fn run_and_report(
    config: RunConfig,
    db: &Path,
    fail_if: &[gates::Gate],
    hosts: Option<&wb_runner::RemoteHosts>,
    trace: bool,
) -> anyhow::Result<ExitCode> {
    let mut store = open_store(db)?;
    let exe = std::env::current_exe().context("cannot find the workbench executable")?;
    workbench::os::raise_open_files_limit()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    watch_interrupts(Arc::clone(&cancel), Arc::clone(&stopping))?;
    let quiet = super::quiet();
    if !quiet {
        eprintln!(
            "Running {} engine(s) × {} workload(s), {} steps, about {:.0} s; results go to {}.\nCtrl-C stops after the current step; twice, at once.",
            config.engines.len(),
            config.workloads.len(),
            config.total_steps(),
            config.estimated_secs(),
            db.display()
        );
    }
    let runner = Runner {
        exe,
        config: config.clone(),
        machine: machine_facts(),
        cancel,
        trace,
    };
    // `--quiet`: no bars and no per-step lines, only the results below.
    let mut progress =
        (!quiet).then(|| Progress::new(config.total_steps(), config.estimated_secs()));
    let mut recorder = Recorder::new(&mut store);
    let outcome = {
        let mut observers: Vec<&mut dyn Observer> = Vec::new();
        if let Some(progress) = progress.as_mut() {
            observers.push(progress);
        }
        observers.push(&mut recorder);
        let mut observers = UntilStopped {
            stopping: &stopping,
            observers,
        };
        match hosts {
            None => runner.run(&mut observers),
            Some(hosts) => runner.run_remote(hosts, &mut observers),
        }
    };
    if let Some(err) = recorder.error.take() {
        return Err(anyhow::Error::new(err)
            .context(format!("results could not be saved to {}", db.display())));
    }
    let id = recorder.run.context("the run was not recorded")?;
    drop(recorder);
    let stored = store.run(id)?.context("the run just recorded is missing")?;
    println!("\nRun {id}: {}", outcome.status.as_str());
    print!("{}", summary::render(&config.workloads, &stored.steps));
    print!("{}", summary::claims(&stored));
    let verdicts = gates::evaluate(fail_if, &stored.steps);
    print!("{}", gates::render(&verdicts));
    if !quiet {
        println!(
            "\nSee it again with: workbench show {id} --db {}",
            db.display()
        );
    }
    let crossed = verdicts.iter().any(gates::Verdict::crossed);
    Ok(match outcome.status {
        RunStatus::Interrupted => ExitCode::from(130),
        _ if crossed => ExitCode::from(gates::EXIT_CROSSED),
        RunStatus::Completed if outcome.failed_steps == 0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// Handles Ctrl-C (SIGINT) and SIGTERM during a run, on a thread of its own.
///
/// The engines and peers run in process groups of their own ([`wb_runner::child`]), so a
/// terminal's Ctrl-C reaches only this process, and what happens is up to us:
///
/// 1. The first sets `cancel`: the runner finishes the current step (stored complete), stops
///    the engine and ends the run `interrupted`.
/// 2. The second stops at once: it sets `stopping`, so that no further event reaches the
///    store (a step cut short by the engine's stop must not be stored as its failure), stops
///    every engine and peer (SIGTERM, SIGKILL to the group after the grace, reaped), and
///    exits with 130. The run stays `running` in the store until its next open, which finds
///    its process gone and marks it interrupted.
/// 3. A third, while the second is still waiting for a stubborn engine, exits without
///    waiting: the engines' parent-death signal and group guards then kill them.
fn watch_interrupts(cancel: Arc<AtomicBool>, stopping: Arc<AtomicBool>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot watch for Ctrl-C")?;
    std::thread::Builder::new()
        .name("interrupts".into())
        .spawn(move || {
            for (count, _) in signals.forever().enumerate() {
                match count {
                    0 => {
                        cancel.store(true, Ordering::SeqCst);
                        eprintln!("\nStopping after the current step (Ctrl-C again to stop now).");
                    }
                    1 => {
                        // Before any engine is signalled: see `UntilStopped`.
                        stopping.store(true, Ordering::SeqCst);
                        eprintln!("\nStopping now: ending the engine processes.");
                        // On another thread, so that a third signal is still heard.
                        std::thread::spawn(|| {
                            wb_runner::child::stop_all(wb_runner::STOP_GRACE);
                            std::process::exit(130);
                        });
                    }
                    _ => std::process::exit(130),
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// The run's observers until a second Ctrl-C, then none: every event after `stopping` is
/// set is dropped. `stopping` is set before any engine is stopped, so a step that reaches
/// the store was measured on an engine the workbench had not touched.
struct UntilStopped<'a> {
    stopping: &'a AtomicBool,
    observers: Vec<&'a mut dyn Observer>,
}

impl Observer for UntilStopped<'_> {
    fn event(&mut self, event: &wb_runner::RunEvent<'_>) {
        if !self.stopping.load(Ordering::SeqCst) {
            self.observers.event(event);
        }
    }
}

/// Opens the store, saying which file could not be opened.
pub fn open_store(db: &Path) -> anyhow::Result<Store> {
    Store::open(db).with_context(|| format!("cannot open the result store {}", db.display()))
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = config_from(&args)?;
    gates::check_against(&args.fail_if, &config).map_err(anyhow::Error::msg)?;
    let hosts = super::lab::remote_hosts(&args, &config)?;
    run_and_report(config, &args.db, &args.fail_if, hosts.as_ref(), args.trace)
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Print the list as JSON: what the dashboard's `/api/runs` gives.
    #[arg(long)]
    json: bool,
    /// The result store.
    #[arg(long, env = DB_ENV, default_value = DEFAULT_DB)]
    db: PathBuf,
}

pub fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.db)?;
    let runs = store.runs()?;
    if args.json {
        let document = wb_web::RunsDocument::new(runs);
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!(
            "No runs in {} yet: start one with `workbench run`.",
            args.db.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "run",
        "status",
        "started",
        "duration",
        "suite",
        "engines",
        "workloads",
        "steps",
        "note",
    ]);
    for r in runs {
        table.row(vec![
            r.id.to_string(),
            r.status.as_str().to_string(),
            wb_reports::store::utc_text(r.started_at),
            r.finished_at
                .map_or("-".to_string(), |end| format!("{} s", end - r.started_at)),
            r.suite.clone().unwrap_or_else(|| "-".into()),
            r.engines.join(","),
            r.workloads.join(","),
            r.steps.to_string(),
            r.message.clone().unwrap_or_default(),
        ]);
    }
    print!("{}", table.render(0));
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A run id, or `latest` (the latest run, whatever its status).
    #[arg(default_value = "latest")]
    run: String,
    /// Print the whole run as JSON: what the dashboard's `/api/runs/{id}` gives.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Export the run's steps instead, one row per step with every figure of the table of
    /// figures: csv, md (a Markdown table) or json.
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<super::export::TableFormat>,
    /// With --format: write to FILE instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE", requires = "format")]
    out: Option<PathBuf>,
    /// Exit with status 3 when a figure of the run crosses a threshold (the gates of
    /// `run --fail-if`): e.g. 'selector.hello.p99_us > 2000', or 'p99_us > 2000' for every
    /// step. Repeatable.
    #[arg(long = "fail-if", value_name = "GATE", value_parser = gates::parse, long_help = gates::help())]
    fail_if: Vec<gates::Gate>,
    /// The result store.
    #[arg(long, env = DB_ENV, default_value = DEFAULT_DB)]
    db: PathBuf,
}

/// Finds a run by id or `latest`.
pub fn resolve_run(store: &Store, which: &str) -> anyhow::Result<RunId> {
    if which == "latest" {
        return store
            .latest_completed()?
            .context("no completed run yet: start one with `workbench run`");
    }
    which.parse::<RunId>().map_err(|_| {
        anyhow::anyhow!(
            "{which:?} is not a run id; use a number from `workbench runs`, or `latest`"
        )
    })
}

pub fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.db)?;
    let id = if args.run == "latest" {
        store
            .runs()?
            .first()
            .map(|r| r.id)
            .context("no runs yet: start one with `workbench run`")?
    } else {
        resolve_run(&store, &args.run)?
    };
    let run = store
        .run(id)?
        .with_context(|| format!("no run {id} in {}", args.db.display()))?;
    gates::check_against(&args.fail_if, &run.config).map_err(anyhow::Error::msg)?;
    let verdicts = gates::evaluate(&args.fail_if, &run.steps);
    // Gates go to stdout under the summary, to stderr under a document (stdout stays one).
    let document = args.json || (args.format.is_some() && args.out.is_none());
    if let Some(format) = args.format {
        let text = super::export::steps(&run, format)?;
        if let Some(path) = super::export::write(&text, args.out.as_deref())?
            && !super::quiet()
        {
            eprintln!(
                "Wrote {} ({} steps of run {id}).",
                path.display(),
                run.steps.len()
            );
        }
    } else if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&wb_web::RunDocument::new(run))?
        );
    } else {
        print_run_header(&run.summary, &run.calibration);
        print!("{}", summary::render(&run.config.workloads, &run.steps));
        print!("{}", summary::claims(&run));
    }
    if document {
        eprint!("{}", gates::render(&verdicts));
    } else {
        print!("{}", gates::render(&verdicts));
    }
    Ok(if verdicts.iter().any(gates::Verdict::crossed) {
        ExitCode::from(gates::EXIT_CROSSED)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_run_header(summary: &wb_reports::store::RunSummary, calibration: &Calibration) {
    let machine = &summary.machine;
    println!(
        "Run {} — {}{}\nstarted {}, suite {}, engines {}\nmachine: {} ({} cores, {:.1} GiB), kernel {}, open files {}, revision {}\ncalibration: {:.2} SHA-256 rounds per µs",
        summary.id,
        summary.status.as_str(),
        summary
            .message
            .as_ref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default(),
        wb_reports::store::utc_text(summary.started_at),
        summary.suite.as_deref().unwrap_or("-"),
        summary.engines.join(", "),
        machine.cpu_model,
        machine.cores,
        machine.memory_bytes as f64 / (1024.0 * 1024.0 * 1024.0),
        machine.kernel,
        machine.open_files_limit,
        machine.git_revision,
        calibration.rounds_per_us
    );
}
