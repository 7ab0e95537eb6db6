//! What one idle keep-alive connection costs each engine, in user-space memory.
//!
//! ```sh
//! cargo run --release --example footprint                      # threads, selector, coroutines
//! cargo run --release --example footprint -- --levels 0,2000,4000,8000 --engines selector
//! cargo run --release --example footprint -- --engine-args=--flavor=current-thread --engines coroutines
//! ```
//!
//! For each engine it opens connections in steps, sends one `GET /hello` on each and reads the
//! answer (so every connection has been through a full request and is now idle), waits for
//! the engine to settle, then reads PSS, RSS and USS of the engine's process tree from
//! `/proc/<pid>/smaps_rollup`. Bytes per connection is the least-squares slope of PSS over
//! open connections, the intercept the engine's base memory: one division at one level would
//! mix the two. The kernel's socket memory (`/proc/net/sockstat`) is shown apart: every model
//! pays it, whatever its user-space design.
//!
//! The prefork pool is left out by default: it serves one connection per worker, so its idle
//! connections beyond the worker count wait in the listen backlog and are never answered.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use clap::Parser;
use workbench::child::EngineProcess;

#[derive(Debug, Parser)]
struct Args {
    /// Engines to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "threads,selector,coroutines"
    )]
    engines: Vec<String>,
    /// Open connections at each step (the process's open-files limit bounds the largest).
    #[arg(long, value_delimiter = ',', default_value = "0,1000,2000,4000,8000")]
    levels: Vec<usize>,
    /// Extra flags passed to every engine, e.g. `--engine-args=--flavor=current-thread`.
    #[arg(long, allow_hyphen_values = true)]
    engine_args: Vec<String>,
}

const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: workbench\r\n\r\n";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    workbench::os::raise_open_files_limit()?;
    let exe = workbench::child::workbench_exe_beside_example()?;
    let answer_len = protocol::respond_all(HELLO).len();
    println!(
        "{:<12} {:>7} {:>10} {:>10} {:>10} {:>9} {:>12}",
        "engine", "conns", "PSS KiB", "RSS KiB", "USS KiB", "threads", "kernel TCP KiB"
    );
    let mut summary = Vec::new();
    for engine in &args.engines {
        let extra: Vec<&str> = args.engine_args.iter().map(String::as_str).collect();
        let server = EngineProcess::spawn(&exe, engine, &extra)?;
        let mut open = Vec::new();
        let mut points = Vec::new();
        for &level in &args.levels {
            while open.len() < level {
                let mut stream = TcpStream::connect(server.addr())?;
                stream.write_all(HELLO)?;
                let mut answer = vec![0u8; answer_len];
                stream.read_exact(&mut answer)?;
                open.push(stream);
            }
            std::thread::sleep(Duration::from_millis(500));
            let memory = tree_memory(server.pid())?;
            let kernel = sockstat_tcp_kib()?;
            println!(
                "{engine:<12} {:>7} {:>10} {:>10} {:>10} {:>9} {:>12}",
                open.len(),
                memory.pss_kib,
                memory.rss_kib,
                memory.uss_kib,
                memory.threads,
                kernel
            );
            points.push((open.len() as f64, memory.pss_kib as f64 * 1024.0));
        }
        drop(open);
        server.terminate(Duration::from_secs(5))?;
        let (slope, intercept) = least_squares(&points);
        summary.push((engine.clone(), slope, intercept));
    }
    println!("\nbytes per idle connection (slope of PSS over connections; base = intercept):");
    for (engine, slope, intercept) in summary {
        println!(
            "  {engine:<12} {slope:>8.0} B/conn   base {:>8.1} MiB",
            intercept / 1024.0 / 1024.0
        );
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Memory {
    pss_kib: u64,
    rss_kib: u64,
    uss_kib: u64,
    threads: u64,
}

/// PSS, RSS, USS and threads summed over `pid` and its descendants.
fn tree_memory(pid: u32) -> std::io::Result<Memory> {
    let mut total = Memory::default();
    for pid in workbench::os::process_tree(pid) {
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
        let field = |name: &str| {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0)
        };
        total.pss_kib += field("Pss:");
        total.rss_kib += field("Rss:");
        total.uss_kib += field("Private_Clean:") + field("Private_Dirty:");
        total.threads += std::fs::read_dir(format!("/proc/{pid}/task"))?.count() as u64;
    }
    Ok(total)
}

/// System-wide TCP socket memory, in KiB (`mem` of `/proc/net/sockstat` counts pages).
fn sockstat_tcp_kib() -> std::io::Result<u64> {
    let text = std::fs::read_to_string("/proc/net/sockstat")?;
    let pages = text
        .lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "mem")?;
            words.get(at + 1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    Ok(pages * page / 1024)
}

fn least_squares(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (slope, mean_y - slope * mean_x)
}
