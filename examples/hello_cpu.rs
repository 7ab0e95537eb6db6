//! CPU per `/hello` request: each engine beside nginx, the C reference, under the same `wrk`
//! load; and the workbench's own load generator beside `wrk`, against the same server.
//!
//! ```sh
//! apt-get install wrk nginx-light     # Debian's packages; nginx is optional
//! cargo build --release && cargo run --release --example hello_cpu    # 5 rounds, ~4 min
//! cargo run --release --example hello_cpu -- --rounds 1 --seconds 3 --engines selector
//! cargo run --release --example hello_cpu -- --engines selector,uring,selector:loops=2
//! ```
//!
//! An engine is named as `workbench run --engines` names it (`selector-offload`,
//! `selector:loops=2`, `uring`), or `NAME/FLAVOR` for `--flavor FLAVOR` (coroutines). Where
//! io_uring is unavailable, the `uring` row says so and the others go on. A loop per core
//! (`selector:loops=2`) is pinned to the server's one CPU like every server here: its row is
//! the cost of the loops' requests, not their parallelism.
//!
//! Each server is pinned to CPU 0 and the client (`wrk -t1`, or `workbench load`) to CPU 1,
//! so that the two never take each other's core. For each server it runs
//! `wrk -t1 -c<connections> -d<seconds>s /hello`, reads the CPU time (user + system) of the
//! server's whole process tree from `/proc` before and after, and divides by the requests
//! wrk completed. CPU per request is a fairer figure than requests per second on a small
//! machine where the client competes for the same cores: the server's cost does not depend
//! on how fast the client is. The ratio to nginx (one worker) is the figure to quote.
//!
//! The generator's row runs `workbench load http://…/hello -c<connections>` right after
//! wrk against the same selector process, every answer checked; the client's CPU, for wrk
//! and for the generator alike, is the process's own user + system time as `wait4` reports
//! it when it exits, divided by the answers it counted.
//!
//! The server's CPU is also split as the kernel counts it: "in kernel" is its system time
//! per answer (the `recv`, the `writev`, `epoll_wait`, and on loopback the TCP/IP work of
//! both ends of every segment it sends). Over nginx's whole CPU per answer, that is the floor
//! of the ratio to nginx: what a server making the same system calls would reach if its own
//! code cost nothing.
//!
//! Every round measures everything once, so a busy machine shows as rounds that disagree;
//! the summary puts the rounds side by side.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use wb_runner::sampler::sample_once;
use wb_sys::affinity::pin_before_exec;
use wb_sys::process::Pid;
use workbench::child::ServerProcess;

#[path = "common/nginx.rs"]
mod nginx;
use nginx::Nginx;

/// The servers measured when `--engines` is not given.
const DEFAULT_ENGINES: &str =
    "selector,uring,selector:loops=2,coroutines,coroutines/current-thread,threads,pool";

#[derive(Debug, Parser)]
struct Args {
    /// Engines to measure, as `workbench run --engines` names them (`selector:loops=2`);
    /// `NAME/FLAVOR` passes `--flavor FLAVOR` (coroutines).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_ENGINES)]
    engines: Vec<String>,
    /// Keep-alive connections the client holds open.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// Times everything is measured (rounds interleave the servers, so a noisy minute
    /// spreads over all of them; more than two print each figure's median and range).
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Skip nginx even when it is installed.
    #[arg(long)]
    no_nginx: bool,
    /// Skip the load generator's comparison with wrk.
    #[arg(long)]
    no_generator: bool,
}

/// The server's CPU.
const SERVER_CPU: usize = 0;
/// The client's CPU.
const CLIENT_CPU: usize = 1;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is not installed: apt-get install wrk"
    );
    let exe = workbench::child::workbench_exe_beside_example()?;
    let mut rounds: Vec<Vec<Row>> = Vec::new();
    for round in 1..=args.rounds {
        println!("round {round} of {}", args.rounds);
        println!(
            "  {:<26} {:>9} {:>9} {:>13} {:>11} {:>13} {:>9}",
            "server (client)",
            "answers",
            "req/s",
            "server µs/req",
            "in kernel",
            "client µs/req",
            "× nginx"
        );
        let mut rows = Vec::new();
        if !args.no_nginx {
            match Nginx::start(SERVER_CPU) {
                Ok(nginx) => {
                    let row = wrk_row("nginx", nginx.pid, &nginx.addr, &args)?;
                    drop(nginx);
                    print_row(&row, &rows);
                    rows.push(row);
                }
                Err(err) => println!("  nginx skipped: {err:#}"),
            }
        }
        for engine in &args.engines {
            let (name, extra) = engine_command(engine)?;
            if name == "uring"
                && let Err(why) = wb_sys::uring::available()
            {
                println!("  {engine} skipped: {why}");
                continue;
            }
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let name = name.as_str();
            let server = ServerProcess::spawn_on_cpu(&exe, name, &extra, Some(SERVER_CPU))
                .with_context(|| format!("cannot start engine {engine}"))?;
            let addr = server.addr().to_string();
            let row = wrk_row(engine, server.pid(), &addr, &args)?;
            print_row(&row, &rows);
            rows.push(row);
            if engine == "selector" && !args.no_generator {
                let row = generator_row(&exe, server.pid(), &addr, &args)?;
                print_row(&row, &rows);
                rows.push(row);
            }
            server.terminate(Duration::from_secs(5))?;
        }
        rounds.push(rows);
    }
    summarize(&rounds);
    Ok(())
}

/// The engine subcommand and flags for an `--engines` item: `NAME/FLAVOR` (`--flavor
/// FLAVOR`), or what `workbench run --engines` takes (a registry label, `NAME:KEY=VALUE`).
fn engine_command(item: &str) -> anyhow::Result<(String, Vec<String>)> {
    if let Some((name, flavor)) = item.split_once('/') {
        return Ok((
            name.to_string(),
            vec!["--flavor".into(), flavor.to_string()],
        ));
    }
    let spec = wb_model::engines::parse_engine(item).map_err(anyhow::Error::msg)?;
    Ok((spec.engine, spec.args))
}

/// One measurement: a server under one client.
struct Row {
    /// The server, and the client if it is not wrk.
    name: String,
    /// Answers the client counted.
    answers: u64,
    /// Answers per second.
    rate: f64,
    /// The server's process tree's CPU per answer, in µs.
    server_us: f64,
    /// The part of `server_us` spent in the kernel (system time): system calls and, on
    /// loopback, the TCP/IP path of both ends of every segment the server sends.
    server_kernel_us: f64,
    /// The client's CPU per answer, in µs.
    client_us: f64,
    /// Whether the client was wrk.
    wrk: bool,
}

fn print_row(row: &Row, before: &[Row]) {
    println!(
        "  {:<26} {:>9} {:>9.0} {:>13.2} {:>11.2} {:>13.2} {:>9}",
        row.name,
        row.answers,
        row.rate,
        row.server_us,
        row.server_kernel_us,
        row.client_us,
        nginx_ratio(row, before).map_or("-".into(), |r| format!("{r:.2}×"))
    );
}

/// The row's server CPU per answer over nginx's, measured in the same round.
fn nginx_ratio(row: &Row, round: &[Row]) -> Option<f64> {
    over_nginx(row.server_us, row, round)
}

/// `figure` of `row` (a wrk row) over nginx's whole CPU per answer in the same round.
fn over_nginx(figure: f64, row: &Row, round: &[Row]) -> Option<f64> {
    let nginx = round.iter().find(|r| r.name == "nginx")?;
    (row.wrk && nginx.server_us > 0.0).then(|| figure / nginx.server_us)
}

/// Figures of several rounds: each of them when there are one or two, otherwise their
/// median with the lowest and highest, so that a noisy round shows as a wide range.
fn spread(figures: &[f64]) -> String {
    let mut sorted = figures.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => "-".into(),
        1 | 2 => figures
            .iter()
            .map(|f| format!("{f:.2}"))
            .collect::<Vec<_>>()
            .join(" / "),
        n => {
            let median = if n % 2 == 1 {
                sorted[n / 2]
            } else {
                (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
            };
            format!("{median:.2} [{:.2}–{:.2}]", sorted[0], sorted[n - 1])
        }
    }
}

/// The row's kernel time per answer over nginx's whole CPU per answer, in the same round: a
/// floor for [`nginx_ratio`] that no change to the server's own code can go below, while it
/// makes the same system calls.
fn kernel_floor(row: &Row, round: &[Row]) -> Option<f64> {
    over_nginx(row.server_kernel_us, row, round)
}

/// The rounds side by side: each engine's CPU per answer and its ratio to nginx, then the
/// load generator's client CPU over wrk's against the same selector.
fn summarize(rounds: &[Vec<Row>]) {
    let Some(first) = rounds.first() else { return };
    println!(
        "\nCPU-µs per /hello, rounds side by side (server on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}):"
    );
    println!(
        "  {:<26} {:>20} {:>20} {:>20}",
        "server", "µs per answer", "× nginx (1 worker)", "kernel ÷ nginx"
    );
    if rounds.len() > 2 {
        println!(
            "  (each: the median of {} rounds [lowest–highest])",
            rounds.len()
        );
    }
    for row in first.iter().filter(|r| r.wrk) {
        fn same<'r>(round: &'r [Row], name: &str) -> Option<&'r Row> {
            round.iter().find(|r| r.name == name && r.wrk)
        }
        let each = |figure: &dyn Fn(&Row, &[Row]) -> Option<f64>| -> String {
            let figures: Vec<f64> = rounds
                .iter()
                .filter_map(|round| figure(same(round, &row.name)?, round))
                .collect();
            spread(&figures)
        };
        println!(
            "  {:<26} {:>20} {:>20} {:>20}",
            row.name,
            each(&|r, _| Some(r.server_us)),
            each(&nginx_ratio),
            each(&kernel_floor),
        );
    }
    println!(
        "  (kernel ÷ nginx: the server's system time alone over nginx's whole CPU per answer, \
         the ratio it would reach if its own code cost nothing)"
    );
    // Per round: the generator's row and wrk's against the same selector.
    let pairs: Vec<(&Row, &Row)> = rounds
        .iter()
        .filter_map(|round| {
            let wrk = round.iter().find(|r| r.name == "selector" && r.wrk)?;
            let ours = round.iter().find(|r| !r.wrk)?;
            Some((ours, wrk))
        })
        .collect();
    if !pairs.is_empty() {
        println!("\nload generator's CPU per answer over wrk's, against the same selector:");
        for (i, (ours, wrk)) in pairs.iter().enumerate() {
            println!(
                "  round {}: {:.2}× ({:.2} vs {:.2} µs, {:.0} vs {:.0} req/s)",
                i + 1,
                ours.client_us / wrk.client_us,
                ours.client_us,
                wrk.client_us,
                ours.rate,
                wrk.rate
            );
        }
        if pairs.len() > 2 {
            let ratios: Vec<f64> = pairs
                .iter()
                .map(|(o, w)| o.client_us / w.client_us)
                .collect();
            println!("  median [lowest–highest]: {}", spread(&ratios));
        }
    }
}

/// User and system CPU seconds of `pid`'s whole process tree (0 once it has exited).
fn tree_cpu(pid: u32) -> Cpu {
    sample_once(pid, Instant::now()).map_or(Cpu::default(), |s| Cpu {
        user: s.cpu_user_secs,
        system: s.cpu_system_secs,
    })
}

/// CPU seconds, split as the kernel counts them.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    user: f64,
    system: f64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// `command` pinned to `cpu` (and everything it starts), from before it runs.
fn pinned(mut command: Command, cpu: usize) -> Command {
    pin_before_exec(&mut command, cpu);
    command
}

/// Runs `command` to its end with its stdout piped; returns the stdout and the CPU seconds
/// (user + system) the process used, from `wait4`'s resource usage.
fn run_for_cpu(command: Command) -> anyhow::Result<(String, f64)> {
    let mut command = command;
    let mut child = command.stdout(Stdio::piped()).spawn()?;
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .context("no stdout")?
        .read_to_string(&mut stdout)?;
    let pid = child.id() as Pid;
    // Our own child, reaped here (`child` is not waited for again).
    let (status, cpu) = wb_sys::process::wait_with_cpu_time(pid)
        .map_err(|err| anyhow::anyhow!("cannot wait for {pid}: {err}"))?;
    drop(child);
    anyhow::ensure!(
        status.success(),
        "the client failed (status {}):\n{stdout}",
        status.into_raw()
    );
    Ok((stdout, cpu.user.as_secs_f64() + cpu.system.as_secs_f64()))
}

/// `server` (process tree `pid`, at `addr`) under `wrk -t1`.
fn wrk_row(name: &str, pid: u32, addr: &str, args: &Args) -> anyhow::Result<Row> {
    let url = format!("http://{addr}/hello");
    // A short warm-up, so that lazily created threads or workers are not counted.
    let mut warmup = pinned(Command::new("wrk"), CLIENT_CPU);
    warmup.args(["-t1", "-c4", "-d1s", &url]).output()?;
    let before = tree_cpu(pid);
    let mut wrk = pinned(Command::new("wrk"), CLIENT_CPU);
    wrk.args([
        "-t1".to_string(),
        format!("-c{}", args.connections),
        format!("-d{}s", args.seconds),
        url,
    ]);
    let (text, client) = run_for_cpu(wrk)?;
    let server = tree_cpu(pid) - before;
    let answers = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse::<u64>().ok())
        .with_context(|| format!("cannot read wrk's output:\n{text}"))?;
    if let Some(errors) = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
    {
        println!("  {name}: wrk reports {}", errors.trim());
    }
    Ok(row(name, true, answers, args, server, client))
}

/// The selector (process tree `pid`, at `addr`) under the workbench's own load generator,
/// `workbench load` with no warm-up, so that its CPU and its answers cover the same time.
fn generator_row(exe: &Path, pid: u32, addr: &str, args: &Args) -> anyhow::Result<Row> {
    let before = tree_cpu(pid);
    let mut load = pinned(Command::new(exe), CLIENT_CPU);
    load.args([
        "--quiet".to_string(),
        "load".to_string(),
        format!("http://{addr}/hello"),
        "-c".to_string(),
        args.connections.to_string(),
        "-d".to_string(),
        format!("{}s", args.seconds),
        "--warmup".to_string(),
        "0s".to_string(),
        "--json".to_string(),
    ]);
    let (text, client) = run_for_cpu(load)?;
    let server = tree_cpu(pid) - before;
    let result: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("cannot read the result:\n{text}"))?;
    let answers = result["completed"]
        .as_u64()
        .context("no `completed` in the result")?;
    let errors = &result["errors"];
    let failed: u64 = ["connect", "reset", "timeout", "bad_response"]
        .iter()
        .filter_map(|k| errors[k].as_u64())
        .sum();
    if failed > 0 {
        println!("  workbench load reports {failed} errors: {errors}");
    }
    Ok(row(
        "selector (workbench load)",
        false,
        answers,
        args,
        server,
        client,
    ))
}

fn row(name: &str, wrk: bool, answers: u64, args: &Args, server: Cpu, client: f64) -> Row {
    let per = |secs: f64| secs * 1e6 / answers.max(1) as f64;
    Row {
        name: name.to_string(),
        answers,
        rate: answers as f64 / f64::from(args.seconds),
        server_us: per(server.user + server.system),
        server_kernel_us: per(server.system),
        client_us: per(client),
        wrk,
    }
}
