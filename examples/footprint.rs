//! What one idle keep-alive connection costs each engine, in user-space memory, beside nginx.
//!
//! ```sh
//! cargo run --release --example footprint        # selector, coroutines (both), threads, nginx
//! cargo run --release --example footprint -- --levels 0,2000,4000,8000 --engines selector
//! cargo run --release --example footprint -- --engines threads --engine-args=--stack-size=128KiB
//! ```
//!
//! For each server it opens connections in steps, up to 19,000 (this machine's open-files
//! limit is 20,000, and this process holds the client ends while the server holds the
//! others), sends one `GET /hello` on each and reads the answer (so every connection has been
//! through a full request and is now idle), waits for the server to settle, then reads PSS,
//! RSS and USS of its process tree from `/proc/<pid>/smaps_rollup`. Bytes per connection is
//! the least-squares slope of PSS over open connections, the intercept the server's base
//! memory: one division at one level would mix the two. The kernel's socket memory
//! (`/proc/net/sockstat`) is shown apart: every model pays it, whatever its user-space design.
//!
//! The threads engine runs with `--stack-size 64KiB` (unless `--engine-args` says otherwise).
//! It stops short of 19,000: when it cannot start a thread it closes the new connection and
//! logs why, and this example reports the count it held. nginx's `worker_connections` is
//! 16,384, so its levels stop at 15,000, short of it.
//!
//! Bounded: each server gets at most `--seconds-per-server` (90 s), and a step stops when
//! the server's PSS passes `--max-pss-mib` (2 GiB).
//!
//! The prefork pool is left out: it serves one connection per worker, so its idle connections
//! beyond the worker count wait in the listen backlog and are never answered.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use wb_runner::peers::PeerLaunch as _;

use anyhow::Context;
use clap::Parser;
use wb_model::results::least_squares;
use wb_runner::sampler::sample_once;
use workbench::child::ServerProcess;

/// The servers measured when `--engines` is not given.
const DEFAULT_ENGINES: &str =
    "selector,uring,selector:loops=2,coroutines,coroutines/current-thread,threads,nginx";

#[derive(Debug, Parser)]
struct Args {
    /// Servers to measure: engines as `workbench run --engines` names them
    /// (`selector:loops=2`, `uring`; `NAME/FLAVOR` passes `--flavor FLAVOR`) and `nginx`.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_ENGINES)]
    engines: Vec<String>,
    /// Open connections at each step (the open-files limit bounds the largest).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,2000,4000,8000,12000,16000,19000"
    )]
    levels: Vec<usize>,
    /// Extra flags passed to every engine, e.g. `--engine-args=--flavor=current-thread`;
    /// without any, the threads engine gets `--stack-size 64KiB`.
    #[arg(long, allow_hyphen_values = true)]
    engine_args: Vec<String>,
    /// Most seconds spent on one server.
    #[arg(long, default_value_t = 90)]
    seconds_per_server: u64,
    /// Stop a server's steps once its PSS passes this many MiB.
    #[arg(long, default_value_t = 2048)]
    max_pss_mib: u64,
}

const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: workbench\r\n\r\n";

/// nginx's `worker_connections` in `peers/nginx.conf` is 16,384, and it counts the listener
/// and connections being closed too: near it, nginx closes idle keep-alive connections to
/// make room ("worker_connections are not enough, reusing connections"). Its levels stop
/// well short of that.
const NGINX_MOST: usize = 15_000;

/// Why a server's steps ended before the last level.
enum Stop {
    /// The server closed (or failed) a new connection: it would take no more.
    Refused { held: usize, why: String },
    /// The time or memory bound.
    Bound(String),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let limit = workbench::os::raise_open_files_limit()?;
    let exe = workbench::child::workbench_exe_beside_example()?;
    println!(
        "{:<26} {:>7} {:>10} {:>10} {:>10} {:>9} {:>14}",
        "server", "conns", "PSS KiB", "RSS KiB", "USS KiB", "threads", "kernel TCP KiB"
    );
    let mut summary = Vec::new();
    for name in &args.engines {
        let (engine, own) = if name == "nginx" {
            ("nginx".to_string(), Vec::new())
        } else if let Some((engine, flavor)) = name.split_once('/') {
            (
                engine.to_string(),
                vec!["--flavor".to_string(), flavor.to_string()],
            )
        } else {
            let spec = wb_model::engines::parse_engine(name).map_err(anyhow::Error::msg)?;
            (spec.engine, spec.args)
        };
        let engine = engine.as_str();
        if engine == "uring"
            && let Err(why) = wb_sys::uring::available()
        {
            println!("{name} skipped: {why}");
            continue;
        }
        let mut extra: Vec<&str> = own.iter().map(String::as_str).collect();
        extra.extend(args.engine_args.iter().map(String::as_str));
        if engine == "threads" && args.engine_args.is_empty() {
            extra.extend(["--stack-size", "64KiB"]);
        }
        let label = if engine == "threads" {
            format!("{name} {}", extra.join(" "))
        } else {
            name.clone()
        };
        let server: ServerProcess = if engine == "nginx" {
            wb_runner::peers::find("nginx")
                .context("no nginx peer")?
                .spawn(0, None)
                .context("cannot start nginx (apt-get install nginx-light)")?
        } else {
            ServerProcess::spawn(&exe, engine, &extra)
                .with_context(|| format!("cannot start engine {name}"))?
        };
        let most = if engine == "nginx" {
            NGINX_MOST
        } else {
            usize::MAX
        };
        let levels: Vec<usize> = args
            .levels
            .iter()
            .map(|&l| l.min(most).min(limit.saturating_sub(64) as usize))
            .collect();
        let (points, stop) = measure(&server, &label, &levels, &args);
        server.terminate(Duration::from_secs(10))?;
        let (connections, pss): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
        let fit = least_squares(&connections, &pss);
        let held = connections.last().copied().unwrap_or(0.0) as usize;
        summary.push((label, fit, held, stop));
    }
    println!("\nbytes per idle connection (slope of PSS over connections; base = intercept):");
    for (label, fit, held, stop) in summary {
        let (slope, intercept) = fit.unwrap_or((f64::NAN, f64::NAN));
        println!(
            "  {label:<36} {slope:>8.0} B/conn   base {:>6.1} MiB   held {held}",
            intercept / 1024.0 / 1024.0
        );
        match stop {
            Some(Stop::Refused { held, why }) => {
                println!("      stopped: took {held} connections, then {why} (see its log above)")
            }
            Some(Stop::Bound(why)) => println!("      stopped: {why}"),
            None => {}
        }
    }
    Ok(())
}

/// Opens connections on `server` level by level; returns (connections, PSS bytes) at each
/// level reached, and why it stopped early, if it did.
fn measure(
    server: &ServerProcess,
    label: &str,
    levels: &[usize],
    args: &Args,
) -> (Vec<(f64, f64)>, Option<Stop>) {
    let deadline = Instant::now() + Duration::from_secs(args.seconds_per_server);
    let mut open: Vec<TcpStream> = Vec::new();
    let mut points = Vec::new();
    let mut stop = None;
    let mut last = None;
    for &level in levels {
        if last == Some(level) {
            continue;
        }
        last = Some(level);
        while open.len() < level && stop.is_none() {
            if Instant::now() > deadline {
                stop = Some(Stop::Bound(format!(
                    "{} s bound passed at {} connections",
                    args.seconds_per_server,
                    open.len()
                )));
                break;
            }
            match one_connection(server) {
                Ok(stream) => open.push(stream),
                Err(why) => {
                    stop = Some(Stop::Refused {
                        held: open.len(),
                        why,
                    })
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        // The same reading the runner's sampler takes, summed over the process tree.
        let Ok(sample) = sample_once(server.pid(), Instant::now()) else {
            stop = Some(Stop::Bound("the server's memory could not be read".into()));
            break;
        };
        println!(
            "{label:<26} {:>7} {:>10} {:>10} {:>10} {:>9} {:>14}",
            open.len(),
            sample.pss_bytes / 1024,
            sample.rss_bytes / 1024,
            sample.uss_bytes / 1024,
            sample.threads,
            sample.tcp_mem_bytes / 1024
        );
        points.push((open.len() as f64, sample.pss_bytes as f64));
        if sample.pss_bytes > args.max_pss_mib << 20 {
            stop = Some(Stop::Bound(format!(
                "PSS passed {} MiB at {} connections",
                args.max_pss_mib,
                open.len()
            )));
        }
        if stop.is_some() {
            break;
        }
    }
    (points, stop)
}

/// Opens one connection, sends `GET /hello` and reads the whole answer (the engines' and
/// nginx's alike end with the body `Hello, World!`); says what went wrong otherwise.
fn one_connection(server: &ServerProcess) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5))
        .map_err(|err| format!("connecting failed: {err}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|err| err.to_string())?;
    stream
        .write_all(HELLO)
        .map_err(|err| format!("sending failed: {err}"))?;
    let mut answer = [0u8; 1024];
    let mut filled = 0;
    while !answer[..filled].ends_with(wb_protocol::HELLO_BODY) {
        match stream.read(&mut answer[filled..]) {
            Ok(0) => return Err("it closed the new connection without an answer".into()),
            Ok(n) => filled += n,
            Err(err) => return Err(format!("reading the answer failed: {err}")),
        }
        if filled == answer.len() {
            return Err("the answer is longer than 1 KiB".into());
        }
    }
    Ok(stream)
}
