//! `workbench load`: drive any HTTP/1.1 server — ours, nginx, a Python server — with a
//! workload, and print what it measured.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use workloads::load;
use workloads::runner::{calibrate, plan_for};
use workloads::spec::Workload;

use super::table::{Table, micros, rate, sig3};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The server, HOST:PORT (loopback only on shared machines).
    #[arg(long, value_name = "HOST:PORT")]
    target: String,
    /// A preset name (hello, db-wait, cpu, idle, big-response, slowloris, rate) or a workload file.
    #[arg(long, value_name = "NAME|FILE")]
    workload: String,
    /// Levels to use instead of the workload's, comma-separated.
    #[arg(long, value_delimiter = ',')]
    levels: Vec<u64>,
    /// Seconds measured per level instead of the workload's.
    #[arg(long)]
    step_secs: Option<f64>,
}

pub fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let mut workload = Workload::load(&args.workload)?;
    if !args.levels.is_empty() {
        workload.levels = args.levels.clone();
    }
    if let Some(secs) = args.step_secs {
        workload.step_secs = secs;
    }
    workload
        .validate("command line")
        .context("the levels or step length given are not allowed")?;
    let target: SocketAddr = args
        .target
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve --target {}", args.target))?
        .next()
        .with_context(|| format!("--target {} resolves to no address", args.target))?;
    workbench::os::raise_open_files_limit()?;
    let calibration = calibrate();
    println!(
        "{} on {target}: {} ({} loop), {:.1} s per level",
        workload.name,
        workload.request.target(calibration.rounds_per_us),
        workload.mode,
        workload.step_secs
    );
    let mut table = Table::new(&[
        "level",
        "answers",
        "req/s",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "errors",
        "client cores",
    ]);
    let mut any_errors = false;
    for &level in &workload.levels {
        let plan = plan_for(&workload, level, &calibration, target);
        let own_cpu = || {
            workloads::sampler::sample_once(std::process::id(), std::time::Instant::now())
                .map_or(0.0, |s| s.cpu_user_secs + s.cpu_system_secs)
        };
        let cpu_before = own_cpu();
        let wall = std::time::Instant::now();
        let report = load::run(&plan, &|_| {});
        let client_cores = (own_cpu() - cpu_before) / wall.elapsed().as_secs_f64();
        let l = &report.latency;
        let lat = |us: u64| {
            if l.count > 0 {
                micros(us as f64)
            } else {
                "-".to_string()
            }
        };
        let errors = report.errors;
        any_errors |= errors.total() > 0;
        table.row(vec![
            level.to_string(),
            report.completed.to_string(),
            rate(report.completed as f64 / report.elapsed_secs.max(1e-9)),
            lat(l.p50_us),
            lat(l.p90_us),
            lat(l.p99_us),
            lat(l.p999_us),
            lat(l.max_us),
            format!(
                "{} (c{} t{} r{} b{})",
                errors.total(),
                errors.connect,
                errors.timeout,
                errors.reset,
                errors.bad_response
            ),
            sig3(client_cores),
        ]);
        if let Some(why) = &report.not_reached {
            println!("level {level} not reached: {why}");
        }
        if let Some(u) = report.latency_uncorrected {
            println!(
                "level {level}: uncorrected p99 {} (corrected {}): the difference is time requests waited to be sent",
                micros(u.p99_us as f64),
                micros(l.p99_us as f64)
            );
        }
    }
    print!("{}", table.render(0));
    println!(
        "errors: c = connect, t = timeout, r = reset, b = bad response (wrong status, length, body or digest)"
    );
    Ok(if any_errors {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
