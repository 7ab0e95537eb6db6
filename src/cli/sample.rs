//! `workbench sample --pid PID`: the runner's `/proc` sampler as a command, one JSON line per
//! reading on stdout.
//!
//! On one machine the runner samples the engine on a thread of its own
//! ([`wb_runner::sampler`]). When the engine runs on another host, `/proc` there is out of
//! reach, so the runner starts this command on the engine's host, through the same prefix
//! (`ssh user@host workbench sample --pid 1234`), and reads the lines back: each is a
//! [`wb_model::results::Sample`], `at_ms` counted from this command's start. The first line
//! is printed at once, so the reader knows when the clock started.
//!
//! It stops when the process has exited, when `--duration-secs` has passed, or when nobody
//! reads any more (the runner closed the pipe, or the connection to the host was lost): a
//! sampler never outlives its reader for longer than one interval.
//!
//! `--facts` instead prints this host's machine facts (CPU model, cores, memory, kernel, host
//! name) as one JSON line, which the runner keeps with a multi-host run.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  workbench sample --pid 1234 --interval-ms 200 --duration-secs 5
  ssh bench@server workbench sample --pid 1234
  workbench sample --facts")]
pub struct SampleArgs {
    /// The process to sample, with every process it started (the pool's workers).
    #[arg(long, required_unless_present = "facts")]
    pid: Option<u32>,
    /// Milliseconds between readings, 1 to 60000.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    interval_ms: u64,
    /// Stop after this many seconds [default: when the process exits].
    #[arg(long, value_name = "S")]
    duration_secs: Option<f64>,
    /// Print this machine's facts (CPU model, cores, memory, kernel, host name) as one JSON
    /// line, and exit.
    #[arg(long, conflicts_with_all = ["pid", "duration_secs"])]
    facts: bool,
}

pub fn run(args: SampleArgs) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    if args.facts {
        let facts = super::run::machine_facts();
        writeln!(stdout, "{}", serde_json::to_string(&facts)?)?;
        stdout.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let pid = args.pid.context("give --pid PID, the process to sample")?;
    let limit = match args.duration_secs {
        Some(secs) if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 => {
            Some(Duration::from_secs_f64(secs))
        }
        Some(secs) => bail!("--duration-secs {secs} is not allowed; give 0 to 86400 seconds"),
        None => None,
    };
    let interval = Duration::from_millis(args.interval_ms);
    let started = Instant::now();
    let mut next = started;
    let mut lines = 0u64;
    loop {
        let sample = match wb_runner::sampler::sample_once(pid, started) {
            Ok(sample) => sample,
            Err(err) if lines == 0 => {
                bail!("cannot sample process {pid}: {err}; is it running on this host?")
            }
            // The process has exited: the series ends.
            Err(_) => break,
        };
        let line = serde_json::to_string(&sample)?;
        // A reader that went away (the runner stopped us, the host link broke) ends it.
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
        lines += 1;
        if limit.is_some_and(|limit| started.elapsed() >= limit) {
            break;
        }
        // A fixed-rate clock, as the runner's sampler: ticks missed are skipped, not late.
        next += interval;
        let now = Instant::now();
        while next < now {
            next += interval;
        }
        std::thread::sleep(next - now);
    }
    Ok(ExitCode::SUCCESS)
}
