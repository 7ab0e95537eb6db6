//! `workbench load`: drive any HTTP/1.1 server — ours, nginx, a Python server — and print
//! what it measured.
//!
//! Two forms:
//!
//! - **A URL**, the way wrk and oha take it: `workbench load http://127.0.0.1:8080/ -c 64 -d
//!   5s`, or open loop at a fixed rate with `-R 1000` (latency from the intended send time, so
//!   coordinated omission is corrected; the uncorrected figure is shown beside it). Headers
//!   (`-H`), the method (`-m`), a body and a timeout are the user's. Every whole answer is
//!   timed and counted by status, as wrk does; one whose status is not expected
//!   (`--expect-status`, 2xx by default) is an error. Bodies are checked for their framing;
//!   the workbench's own `/hello` and `/work` answers are checked byte for byte, digest
//!   included.
//! - **A workload**, `--target HOST:PORT --workload NAME`: every level of a preset or a
//!   workload file, as `workbench run` would drive it, against a server already running.
//!
//! Either prints a table, or with `--json` the [`wb_load::wire::LoadResult`] document (one,
//! or an array of one per level for a workload), histograms included; `--save` stores the
//! measurement in the result store as a run of its own, with the server as a peer labelled by
//! its address, so that it shows on the dashboard beside the engines. The server's process is
//! not known here, so a saved run has no memory or CPU figures for it: only what the client
//! sees.
//!
//! Before measuring, the command connects once, so a wrong port is one clear error rather than
//! a table of connect errors; it raises the open-files limit and refuses `-c` above what the
//! limit leaves room for.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use wb_load::url::{HttpUrl, UrlError};
use wb_load::wire::{Described, LoadResult};
use wb_load::{self as load, Expectation, LoadPlan, Measured, StatusSet};
use wb_model::results::{Calibration, EngineSpec, RunConfig, RunStatus, StepResult};
use wb_model::spec::{MAX_CONNECTIONS, MAX_RATE, Mode, RequestSpec, Workload};
use wb_reports::store::{RunId, Store};
use wb_runner::{calibrate, plan_for};

mod parse;

use parse::*;

use super::gates;
use super::quiet;
use super::run::{DB_ENV, DEFAULT_DB, machine_facts, open_store};
use super::table::{Table, rate, sig3};

/// Connections when neither `-c` nor `-R` is given (wrk's default).
pub const DEFAULT_CONNECTIONS: u64 = 10;
/// The open loop's connection cap when `-R` is given without `-c` (a workload file's default).
pub const DEFAULT_OPEN_CONNECTIONS: u64 = 2000;
/// The measured window when `-d` is not given (wrk's default).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The warm-up when `--warmup` is not given.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(1);
/// Longest `-d`: one hour.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Shortest `-d`: one 200 ms window would be too few to give an interval, but 100 ms still
/// measures something.
pub const MIN_DURATION: Duration = Duration::from_millis(100);
/// Longest `--warmup` and `--timeout`: ten minutes.
pub const MAX_WAIT: Duration = Duration::from_secs(600);
/// File descriptors kept free beside the connections: the store, stdio, the runtime's
/// epoll and timer, the libraries'.
pub const SPARE_FILES: u64 = 64;
/// Most `--pipeline` depth: a batch of requests is written at once.
pub const MAX_PIPELINE: u64 = 1024;
/// Most `-t` threads: far more than any machine this runs on has cores.
pub const MAX_THREADS: u64 = 256;
/// The measured window's bound with `-n` and no `-d`: the requests end it, long before.
const REQUESTS_WINDOW: Duration = MAX_DURATION;
/// The connection tried before measuring gives up after this long.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  workbench load http://127.0.0.1:8080/hello -c 64 -d 5s
  workbench load http://127.0.0.1:8080/ -R 1000 -d 3s --json > result.json
  workbench load http://127.0.0.1:8080/api -m POST -H 'Content-Type: application/json' --body '{\"a\":1}'
  workbench load http://127.0.0.1:8080/hello -c 64 -d 5s --save --label nginx
  workbench load --target 127.0.0.1:8080 --workload db-wait --levels 8,64

  workbench load http://127.0.0.1:8080/hello -c 256 -t 2 --pipeline 16 --latency
  workbench load http://127.0.0.1:8080/hello -n 10000 --hdr-log load.hlog --fail-if 'p99_us > 5000'

Ctrl-C stops the measurement and prints what was measured so far (exit status 130).
Exit status: 0 when every request was answered correctly, 1 when any failed (or on an error), 2 for a bad command line, 3 when a --fail-if gate was crossed, 130 when interrupted.")]
pub struct LoadArgs {
    /// The server and request: http://HOST[:PORT]/PATH?QUERY. Answers must have an expected
    /// status (--expect-status) and a well-framed body; the workbench's /hello and /work are
    /// checked byte for byte.
    #[arg(
        value_name = "URL",
        required_unless_present = "target",
        conflicts_with = "target"
    )]
    url: Option<String>,
    /// Connections, each with one request in flight (closed loop); with -R, the most
    /// connections to open [default: 10; with -R 2000].
    #[arg(short = 'c', long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_CONNECTIONS))]
    connections: Option<u64>,
    /// How long to measure: 5s, 500ms, 2m, or plain seconds [default: 10s].
    #[arg(short = 'd', long, value_name = "TIME", value_parser = measured_duration)]
    duration: Option<Duration>,
    /// Requests per second, open loop: latency from the intended send time (coordinated
    /// omission corrected), the uncorrected figure beside it.
    #[arg(short = 'R', long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_RATE))]
    rate: Option<u64>,
    /// A header to send, "Name: value"; repeatable. A Host header replaces the URL's.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = header)]
    headers: Vec<(String, String)>,
    /// The request method [default: GET, or POST with a body].
    #[arg(short = 'm', long, value_parser = method)]
    method: Option<String>,
    /// The request body, sent with its Content-Length.
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    body: Option<String>,
    /// The request body, read from a file.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// No complete answer this long after the send is a timeout, and the connection is
    /// reopened [default: 10s].
    #[arg(long, value_name = "TIME", value_parser = wait_duration)]
    timeout: Option<Duration>,
    /// Load before measuring, not counted [default: 1s; with -n, none].
    #[arg(long, value_name = "TIME", value_parser = wait_duration)]
    warmup: Option<Duration>,
    /// The statuses that count as valid answers, e.g. 2xx, 200,404 or 200-399; any other is
    /// an error (and the exit status 1), though still timed and counted by status
    /// [default: 2xx; the workbench's /hello and /work: 200].
    #[arg(long, value_name = "STATUSES", value_parser = StatusSet::parse)]
    expect_status: Option<StatusSet>,
    /// Stop after N requests (answered or failed), rather than after -d; with -d too,
    /// whichever comes first. Closed loop only.
    #[arg(short = 'n', long = "requests", value_name = "N", conflicts_with = "rate",
          value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,

    /// A preset's or workload file's levels against a running server, HOST:PORT (instead of
    /// a URL).
    #[arg(long, value_name = "HOST:PORT", requires = "workload",
          conflicts_with_all = ["connections", "duration", "rate", "headers", "method", "body", "body_file", "timeout", "warmup", "requests", "pipeline", "disable_keepalive", "expect_status"])]
    target: Option<String>,
    /// With --target: a preset name (hello, db-wait, cpu, idle, big-response, slowloris,
    /// rate), a workload file, or `-` for a workload's TOML on stdin.
    #[arg(long, value_name = "NAME|FILE", requires = "target")]
    workload: Option<String>,
    /// With --workload: levels to use instead of the workload's, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "workload")]
    levels: Vec<u64>,
    /// With --workload: seconds measured per level instead of the workload's.
    #[arg(long, requires = "workload")]
    step_secs: Option<f64>,

    /// Requests written on a connection at once before reading their answers (HTTP/1.1
    /// pipelining; TechEmpower's plaintext test uses 16); each answer is timed from the
    /// write. Closed loop only [default: 1, no pipelining].
    #[arg(long, value_name = "N", conflicts_with_all = ["rate", "disable_keepalive"],
          value_parser = clap::value_parser!(u64).range(1..=MAX_PIPELINE))]
    pipeline: Option<u64>,
    /// Every request on a new connection, asking `Connection: close`: the cost of a
    /// connection per request (latency still counts from the request's send, not the
    /// connect).
    #[arg(long)]
    disable_keepalive: bool,
    /// Print the latency percentile spectrum under the table (HdrHistogram's percentile
    /// distribution: value, percentile, count, 1/(1-percentile)).
    #[arg(long)]
    latency: bool,
    /// Write the latency of every 200 ms window as an HdrHistogram interval log to FILE,
    /// which HdrHistogram's HistogramLogProcessor and every HdrHistogram library read
    /// (values in µs).
    #[arg(long, value_name = "FILE", conflicts_with = "target")]
    hdr_log: Option<PathBuf>,
    /// Exit with status 3 when a figure crosses a threshold: FIGURE OP NUMBER, e.g.
    /// 'p99_us > 2000' or 'throughput_rps < 1000' (or ENGINE.WORKLOAD.FIGURE as for run,
    /// with * for the server and the workload). Repeatable.
    #[arg(long = "fail-if", value_name = "GATE", value_parser = gates::parse, long_help = gates::help())]
    fail_if: Vec<gates::Gate>,

    /// Generator threads, each with its own event loop and its share of the connections
    /// (or of the rate) [default: the CPUs this process may run on].
    #[arg(short = 't', long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_THREADS))]
    threads: Option<u64>,

    /// Print the result as JSON (stable field names; HDR histograms as HdrHistogram V2,
    /// base64) instead of a table; a workload prints an array, one result per level.
    #[arg(long)]
    json: bool,
    /// Store the measurement in the result store as a run of its own, so that it shows on
    /// the dashboard.
    #[arg(long)]
    save: bool,
    /// With --save: the server's label in the stored run [default: HOST:PORT].
    #[arg(long, requires = "save")]
    label: Option<String>,
    /// The result store, for --save.
    #[arg(long, env = DB_ENV, default_value = DEFAULT_DB)]
    db: PathBuf,
}

/// What the command measures: one plan per level, and how to describe and store them.
struct Job {
    /// `http://…` for the header line and the documents.
    url: String,
    /// The label of a saved run's server.
    label: String,
    /// The saved run's workload (for a URL, a made-up one named `load`).
    workload: Workload,
    /// The plans, one per level.
    plans: Vec<LoadPlan>,
    /// The calibration the plans used (a URL needs none until it is saved).
    calibration: Option<Calibration>,
}

pub fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let job = match (&args.url, &args.target, &args.workload) {
        (Some(url), _, _) => url_job(url, &args)?,
        (None, Some(target), Some(workload)) => workload_job(target, workload, &args)?,
        _ => bail!("give a URL (workbench load http://HOST:PORT/PATH) or --target and --workload"),
    };
    gates::check_against(&args.fail_if, &job.config()).map_err(anyhow::Error::msg)?;
    let target = job.plans[0].target;
    let most = job
        .plans
        .iter()
        .map(|p| match p.mode {
            Mode::Open => p.max_connections,
            _ => p.level,
        })
        .max()
        .unwrap_or(0);
    check_open_files(most, args.url.is_some())?;
    preflight(target, &job.url)?;

    let mut saving = if args.save {
        Some(Saving::begin(&job, &args.db)?)
    } else {
        None
    };
    if !quiet() {
        eprintln!("{}", job.describe());
    }
    let stop = load::Stop::new();
    watch_interrupts(stop.clone())?;
    let mut results = Vec::new();
    let mut measurements = Vec::new();
    for plan in &job.plans {
        let started = std::time::SystemTime::now();
        let (measured, result) = measure(plan, &job.url, &stop);
        if let Some(saving) = &mut saving {
            saving.step(&step_result(&job, plan, &measured, &result))?;
        }
        if let Some(path) = &args.hdr_log {
            write_hdr_log(path, &measured, started, &job.url)?;
        }
        results.push(result);
        measurements.push(measured);
        if stop.at().is_some() {
            // Ctrl-C: what was measured so far, and no further level.
            break;
        }
    }
    let interrupted = stop.at().is_some();
    if interrupted && !quiet() {
        eprintln!(
            "Interrupted: the result below is the measurement up to the Ctrl-C ({} of {} levels).",
            results.len(),
            job.plans.len()
        );
    }

    if args.json {
        let text = if args.url.is_some() {
            serde_json::to_string_pretty(&results[0])?
        } else {
            serde_json::to_string_pretty(&results)?
        };
        println!("{text}");
    } else {
        print!("{}", render(&job, &results));
        if args.latency {
            for (plan, result) in job.plans.iter().zip(&results) {
                print!("{}", spectrum(plan, result)?);
            }
        }
    }
    let steps: Vec<StepResult> = job
        .plans
        .iter()
        .zip(measurements.iter().zip(&results))
        .map(|(plan, (measured, result))| step_result(&job, plan, measured, result))
        .collect();
    let verdicts = gates::evaluate(&args.fail_if, &steps);
    // Under a JSON document, on stderr: stdout stays one document.
    if args.json {
        eprint!("{}", gates::render(&verdicts));
    } else {
        print!("{}", gates::render(&verdicts));
    }
    if let Some(saving) = saving {
        let id = saving.finish(&job, interrupted)?;
        if !quiet() {
            eprintln!(
                "Saved as run {id} in {} (server {:?}, workload {:?}): workbench show {id}",
                args.db.display(),
                job.label,
                job.workload.name
            );
        }
    }
    Ok(if interrupted {
        ExitCode::from(130)
    } else if verdicts.iter().any(gates::Verdict::crossed) {
        ExitCode::from(gates::EXIT_CROSSED)
    } else if results.iter().any(|r| r.errors.total() > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Ctrl-C (SIGINT) or SIGTERM during `load`: the first ends the measurement where it is,
/// and the command prints what it measured so far and exits with 130, as wrk and oha do; a
/// second exits at once.
fn watch_interrupts(stop: load::Stop) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot watch for Ctrl-C")?;
    std::thread::Builder::new()
        .name("interrupts".into())
        .spawn(move || {
            for (count, _) in signals.forever().enumerate() {
                if count == 0 {
                    stop.stop();
                } else {
                    std::process::exit(130);
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// Writes `--hdr-log`.
fn write_hdr_log(
    path: &Path,
    measured: &Measured,
    started: std::time::SystemTime,
    url: &str,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path)
            .with_context(|| format!("--hdr-log: cannot create {}", path.display()))?,
    );
    wb_load::wire::write_interval_log(&mut out, measured, started, url)
        .and_then(|()| std::io::Write::flush(&mut out))
        .with_context(|| format!("--hdr-log: cannot write {}", path.display()))
}

/// `--latency`: HdrHistogram's percentile distribution of one level's latency (every answer
/// and every request censored at the end), in milliseconds, the way wrk2 prints it.
fn spectrum(plan: &LoadPlan, result: &LoadResult) -> anyhow::Result<String> {
    let histogram = wb_load::wire::decode_histogram(&result.histograms.corrected)
        .context("the latency histogram cannot be read")?;
    let mut out = format!(
        "\nLatency spectrum at {} ({}; ms):\n{:>12} {:>14} {:>10} {:>14}\n",
        plan.level,
        match plan.mode {
            Mode::Open => "from the intended send",
            _ => "from the send",
        },
        "Value",
        "Percentile",
        "TotalCount",
        "1/(1-Percentile)"
    );
    if histogram.is_empty() {
        out.push_str("  (no answers)\n");
        return Ok(out);
    }
    for v in histogram.iter_quantiles(1) {
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:>14.2}", 1.0 / (1.0 - q))
        } else {
            format!("{:>14}", "inf")
        };
        out.push_str(&format!(
            "{:>12.3} {:>14.12} {:>10} {inverse}\n",
            histogram.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
            q,
            v.count_since_last_iteration()
        ));
    }
    out.push_str(&format!(
        "#[Mean = {:.3}, StdDeviation = {:.3}]\n#[Max = {:.3}, Total count = {}]\n",
        histogram.mean() / 1000.0,
        histogram.stdev() / 1000.0,
        histogram.max() as f64 / 1000.0,
        histogram.len()
    ));
    Ok(out)
}

/// `workbench load URL …`: one plan.
fn url_job(text: &str, args: &LoadArgs) -> anyhow::Result<Job> {
    let url = HttpUrl::parse(text).map_err(|err| match err {
        UrlError::Https(_) => anyhow::anyhow!("{err}"),
        _ => anyhow::anyhow!(
            "{err}; write it as http://HOST[:PORT]/PATH, e.g. http://127.0.0.1:8080/hello"
        ),
    })?;
    let addr = url.resolve().map_err(|err| {
        anyhow::anyhow!("{err}; use an IP address or a name this machine resolves")
    })?;
    let body = match (&args.body, &args.body_file) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .with_context(|| format!("--body-file: cannot read {}", path.display()))?,
        (None, None) => Vec::new(),
    };
    let method = args
        .method
        .clone()
        .unwrap_or_else(|| if body.is_empty() { "GET" } else { "POST" }.to_string());
    let mut headers = Vec::new();
    if !args
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        headers.push(("Host".to_string(), url.authority.clone()));
    }
    headers.extend(args.headers.iter().cloned());
    let (mode, level, max_connections) = match args.rate {
        Some(rate) => (
            Mode::Open,
            rate,
            args.connections.unwrap_or(DEFAULT_OPEN_CONNECTIONS),
        ),
        None => {
            let c = args.connections.unwrap_or(DEFAULT_CONNECTIONS);
            (Mode::Closed, c, c)
        }
    };
    let (duration, warmup) = match args.requests {
        // `-n`: the requests end the step, and all of them are counted.
        Some(_) => (
            args.duration.unwrap_or(REQUESTS_WINDOW),
            args.warmup.unwrap_or(Duration::ZERO),
        ),
        None => (
            args.duration.unwrap_or(DEFAULT_DURATION),
            args.warmup.unwrap_or(DEFAULT_WARMUP),
        ),
    };
    let plan = LoadPlan {
        target: addr,
        mode,
        level,
        request_target: url.target.clone(),
        expect: Expectation::for_url(&method, &url.target),
        warmup,
        duration,
        max_connections,
        read_rate: 0,
        send_interval: Duration::from_millis(100),
        active: 0,
        method: method.clone(),
        headers,
        body,
        timeout: args.timeout.unwrap_or(load::REQUEST_TIMEOUT),
        threads: threads(args),
        max_requests: args.requests,
        expect_status: args.expect_status.clone(),
        pipeline: args.pipeline.map_or(1, |n| n as usize),
        disable_keepalive: args.disable_keepalive,
    };
    let workload = Workload {
        name: "load".into(),
        description: format!("{method} {url}, measured with workbench load"),
        mode,
        levels: vec![level],
        request: RequestSpec::default(),
        step_secs: duration.as_secs_f64(),
        warmup_secs: warmup.as_secs_f64(),
        max_connections: (mode == Mode::Open).then_some(max_connections),
        read_rate: None,
        send_interval_ms: None,
        active_connections: None,
        placement: Default::default(),
        extra_engines: Vec::new(),
        trace_at: None,
    };
    Ok(Job {
        url: url.to_string(),
        label: args
            .label
            .clone()
            .unwrap_or_else(|| format!("{}:{}", url.host, url.port)),
        workload,
        plans: vec![plan],
        calibration: None,
    })
}

/// The generator threads `-t` asks for (0: one per CPU this process may run on).
fn threads(args: &LoadArgs) -> usize {
    args.threads
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// `workbench load --target HOST:PORT --workload NAME`: one plan per level.
fn workload_job(target: &str, name: &str, args: &LoadArgs) -> anyhow::Result<Job> {
    // `-`: the workload's TOML on stdin (how the runner hands a workload to a load host).
    let mut workload = if name == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("--workload -: cannot read the workload from stdin")?;
        Workload::from_toml(&text, "stdin")?
    } else {
        Workload::load(name)?
    };
    if !args.levels.is_empty() {
        workload.levels = args.levels.clone();
    }
    if let Some(secs) = args.step_secs {
        workload.step_secs = secs;
    }
    workload
        .validate("command line")
        .context("the levels or step length given are not allowed")?;
    let addr: SocketAddr = target
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve --target {target}; write HOST:PORT"))?
        .next()
        .with_context(|| format!("--target {target} resolves to no address"))?;
    let calibration = calibrate();
    let plans = workload
        .levels
        .iter()
        .map(|&level| LoadPlan {
            threads: threads(args),
            ..plan_for(&workload, level, &calibration, addr)
        })
        .collect();
    Ok(Job {
        url: format!(
            "http://{addr}{}",
            workload.request.target(calibration.rounds_per_us)
        ),
        label: args.label.clone().unwrap_or_else(|| target.to_string()),
        workload,
        plans,
        calibration: Some(calibration),
    })
}

impl Job {
    /// The run this measurement is: the server as a peer labelled [`Job::label`], the
    /// workload. What a saved run records, and what `--fail-if` names are checked against.
    fn config(&self) -> RunConfig {
        RunConfig {
            suite: None,
            engines: vec![EngineSpec {
                label: self.label.clone(),
                engine: self.label.clone(),
                args: vec![self.url.clone()],
                peer: true,
            }],
            workloads: vec![self.workload.clone()],
            pin: false,
            peer_versions: Default::default(),
            repeat: 1,
            placement: None,
        }
    }

    /// The line said before measuring: what, how, how long.
    fn describe(&self) -> String {
        let plan = &self.plans[0];
        let how = match plan.mode {
            Mode::Closed if self.plans.len() == 1 => {
                format!("{} connections, closed loop", plan.level)
            }
            Mode::Open if self.plans.len() == 1 => format!(
                "{} req/s, open loop (up to {} connections)",
                plan.level, plan.max_connections
            ),
            mode => format!(
                "{} ({mode}), levels {}",
                self.workload.name,
                self.workload
                    .levels
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let checks = match plan.expect {
            Expectation::Workbench { .. } => "status, length, body and digest",
            Expectation::World { .. } => "status, length, JSON rows and ids",
            Expectation::AnyServer { .. } => "status and framing",
        };
        let threads = match plan.threads {
            0 => load::default_threads(),
            n => n,
        };
        let how = match (plan.pipeline, plan.disable_keepalive) {
            (n, _) if n > 1 => format!("{how}, {n} requests pipelined per connection"),
            (_, true) => format!("{how}, a new connection per request"),
            _ => how,
        };
        let length = match plan.max_requests {
            Some(n) => format!("{n} requests (at most {})", seconds(plan.duration)),
            None => format!("{} measured", seconds(plan.duration)),
        };
        format!(
            "{} {}: {how}, {threads} thread{}; {} warm-up + {length}{}; answers checked for {checks}",
            plan.method,
            self.url,
            if threads == 1 { "" } else { "s" },
            seconds(plan.warmup),
            if self.plans.len() > 1 {
                " per level"
            } else {
                ""
            },
        )
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", sig3(d.as_secs_f64()))
}

/// Refuses `most` connections when the open-files limit (raised to its hard limit first)
/// leaves no room for them.
fn check_open_files(most: u64, url_form: bool) -> anyhow::Result<()> {
    let limit = workbench::os::raise_open_files_limit()
        .context("cannot read or raise the open-files limit")?;
    if most + SPARE_FILES > limit {
        let flag = if url_form { "-c" } else { "--levels" };
        bail!(
            "{most} connections need {most} open files, but this process may open only {limit} \
             (the hard limit, `ulimit -Hn`); use {flag} {} or less, or raise the hard limit",
            limit.saturating_sub(SPARE_FILES)
        );
    }
    Ok(())
}

/// Connects once, so that a wrong address is one error rather than a table of failures.
fn preflight(target: SocketAddr, url: &str) -> anyhow::Result<()> {
    match TcpStream::connect_timeout(&target, PREFLIGHT_TIMEOUT) {
        Ok(_) => Ok(()),
        Err(err) => {
            let hint = match err.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    "nothing listens there: start the server, or check the port"
                }
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    "no answer: check the address and any firewall"
                }
                _ => "check the address",
            };
            bail!("cannot connect to {target} ({url}): {err}; {hint}")
        }
    }
}

/// One level: the step, the client's CPU over it, and its document.
fn measure(plan: &LoadPlan, url: &str, stop: &load::Stop) -> (Measured, LoadResult) {
    let own_cpu = || {
        wb_runner::sampler::sample_once(std::process::id(), Instant::now())
            .map_or(0.0, |s| s.cpu_user_secs + s.cpu_system_secs)
    };
    let cpu_before = own_cpu();
    let wall = Instant::now();
    let measured = load::measure_until(plan, &|_| {}, stop);
    let wall = wall.elapsed();
    let client_cpu = (own_cpu() - cpu_before).max(0.0);
    let how = Described {
        url: url.to_string(),
        method: plan.method.clone(),
        mode: plan.mode,
        connections: match plan.mode {
            Mode::Open => plan.max_connections,
            _ => plan.level,
        },
        rate: (plan.mode == Mode::Open).then_some(plan.level),
        warmup: plan.warmup,
        workbench_checks: matches!(
            plan.expect,
            Expectation::Workbench { .. } | Expectation::World { .. }
        ),
    };
    let mut result = LoadResult::new(how, &measured, client_cpu, wall);
    result.api_version = wb_web::API_VERSION;
    (measured, result)
}

/// The table: one row per level, with the uncorrected p99 and anything not reached said
/// under it.
fn render(job: &Job, results: &[LoadResult]) -> String {
    let first = match job.plans[0].mode {
        Mode::Open => "req/s asked",
        Mode::Closed => "connections",
        _ => "level",
    };
    let mut table = Table::new(&[
        first,
        "answered/sent",
        "req/s",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "errors",
        "client cores",
    ]);
    let mut notes = String::new();
    for (plan, r) in job.plans.iter().zip(results) {
        let l = &r.latency;
        // "≥ X" where requests unanswered at the end reach the figure.
        let lat = |name: &str| {
            if l.count > 0 {
                wb_reports::format::latency(l, name)
            } else {
                "-".to_string()
            }
        };
        let e = &r.errors;
        table.row(vec![
            plan.level.to_string(),
            format!(
                "{} / {}",
                r.completed,
                r.completed + r.errors.total() + r.censored
            ),
            rate(r.throughput_rps),
            lat("p50"),
            lat("p90"),
            lat("p99"),
            lat("p99.9"),
            lat("max"),
            format!(
                "{} (c{} t{} r{} b{})",
                e.total(),
                e.connect,
                e.timeout,
                e.reset,
                e.bad_response
            ),
            sig3(r.client_cores),
        ]);
        if let Some(why) = &r.not_reached {
            notes.push_str(&format!("level {} not reached: {why}\n", plan.level));
        }
        if !r.status_codes.is_empty() {
            notes.push_str(&format!(
                "level {}: answers by status (every one timed): {}\n",
                plan.level,
                status_line(&r.status_codes)
            ));
        }
        if let Some(u) = &r.latency_uncorrected
            && u.count > 0
        {
            notes.push_str(&format!(
                "{} req/s: p99 {} from the intended send (above), {} from the actual send: the difference is time requests waited to be sent\n",
                plan.level,
                wb_reports::format::latency(l, "p99"),
                wb_reports::format::latency(u, "p99")
            ));
        }
        if l.censored_late > 0 {
            notes.push_str(&format!(
                "level {}: {} requests still unanswered at the end had waited longer than every answer; figures they reach read ≥ (lower bounds)\n",
                plan.level, l.late_requests
            ));
        }
        // Saturated: near the whole of each of its threads' cores.
        if r.client_cores > wb_model::figures::CLIENT_SATURATED_CORES * r.threads.max(1) as f64 {
            notes.push_str(&format!(
                "level {}: the load generator used {} cores; it may be the bottleneck\n",
                plan.level,
                sig3(r.client_cores)
            ));
        }
    }
    let plan = &job.plans[0];
    let statuses = plan
        .expect_status
        .clone()
        .unwrap_or_else(|| plan.expect.statuses());
    format!(
        "{}{notes}errors: c = connect, t = timeout, r = reset, b = bad response ({})\n",
        table.render(0),
        match plan.expect {
            Expectation::Workbench { .. } =>
                format!("a status other than {statuses}, or a wrong length, body or digest"),
            Expectation::World { .. } =>
                format!("a status other than {statuses}, or a wrong length, JSON shape or id"),
            Expectation::AnyServer { .. } =>
                format!("a status other than {statuses}, or broken framing"),
        }
    )
}

/// `200 × 1234, 404 × 5`: answers by status.
fn status_line(codes: &std::collections::BTreeMap<u16, u64>) -> String {
    codes
        .iter()
        .map(|(code, n)| format!("{code} × {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The step a saved run keeps: what the client measured; the server's process is not known,
/// so its memory and CPU figures stay zero.
fn step_result(job: &Job, plan: &LoadPlan, measured: &Measured, result: &LoadResult) -> StepResult {
    StepResult::measured(wb_model::figures::Measured {
        engine: &job.label,
        workload: &job.workload.name,
        mode: plan.mode,
        level: plan.level,
        load: measured.report.clone(),
        samples: Vec::new(),
        warmup_ms: plan.warmup.as_millis() as u64,
        // The client measured itself; there is no sampler of a server's process here.
        client: Some(wb_model::figures::ClientCpu {
            busiest_cores: result.client_cores,
            total_cores: result.client_cores,
        }),
        failure: None,
    })
}

/// A measurement being stored as a run of one server (a peer labelled [`Job::label`]): begun
/// before the first step, so that the run's times are the measurement's, each step committed
/// as it ends, completed at the end. A run left unfinished (the process killed) is marked
/// interrupted the next time the store is opened.
struct Saving {
    store: Store,
    id: RunId,
    db: PathBuf,
}

impl Saving {
    fn begin(job: &Job, db: &Path) -> anyhow::Result<Saving> {
        let mut store = open_store(db)?;
        let calibration = job.calibration.unwrap_or_else(calibrate);
        let config = job.config();
        let id = store
            .begin_run(&config, &machine_facts(), &calibration)
            .with_context(|| format!("cannot save to {}", db.display()))?;
        Ok(Saving {
            store,
            id,
            db: db.to_path_buf(),
        })
    }

    fn step(&mut self, step: &StepResult) -> anyhow::Result<()> {
        self.store
            .record_step(self.id, step)
            .with_context(|| format!("cannot save to {}", self.db.display()))
    }

    fn finish(mut self, job: &Job, interrupted: bool) -> anyhow::Result<RunId> {
        let note = format!(
            "measured with workbench load: {} {} (the client's figures only; the server's \
             memory and CPU were not sampled){}",
            job.plans[0].method,
            job.url,
            if interrupted {
                "; stopped by Ctrl-C: the last step is the measurement up to then"
            } else {
                ""
            }
        );
        let status = if interrupted {
            RunStatus::Interrupted
        } else {
            RunStatus::Completed
        };
        self.store
            .finish_run(self.id, status, Some(&note))
            .with_context(|| format!("cannot save to {}", self.db.display()))?;
        Ok(self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_wrk_writes_them() {
        let ms = |text: &str| parse_duration(text).unwrap().as_millis();
        assert_eq!(ms("5s"), 5000);
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("2m"), 120_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("1.5"), 1500);
        assert_eq!(ms(" 3 "), 3000);
        assert_eq!(ms("0.25s"), 250);
        assert_eq!(parse_duration("250us").unwrap().as_micros(), 250);
        assert_eq!(ms("0"), 0);
        for bad in ["", "s", "5x", "-1s", "five", "inf", "1e400s", "5 m s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("not a duration"), "{bad}: {err}");
        }
        assert!(
            measured_duration("50ms")
                .unwrap_err()
                .contains("at least 100ms")
        );
        assert!(measured_duration("2h").is_err());
        assert!(measured_duration("1s").is_ok());
        assert!(wait_duration("0").is_ok());
        assert!(wait_duration("11m").unwrap_err().contains("10m or less"));
    }

    #[test]
    fn headers_and_methods_are_checked() {
        assert_eq!(
            header("Content-Type: application/json").unwrap(),
            ("Content-Type".into(), "application/json".into())
        );
        assert_eq!(
            header("X-Empty:").unwrap(),
            ("X-Empty".into(), String::new())
        );
        assert_eq!(header("Authorization: Bearer a:b").unwrap().1, "Bearer a:b");
        assert!(header("NoColon").unwrap_err().contains("no colon"));
        assert!(
            header("Bad Name: x")
                .unwrap_err()
                .contains("not a header name")
        );
        assert!(header(": x").unwrap_err().contains("not a header name"));
        assert!(
            header("X: a\r\nEvil: 1")
                .unwrap_err()
                .contains("control character")
        );
        assert_eq!(method("PATCH").unwrap(), "PATCH");
        assert!(method("GE T").is_err());
        assert!(method("").is_err());
    }
}
