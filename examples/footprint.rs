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
use std::time::{Duration, Instant};

use clap::Parser;
use workbench::child::EngineProcess;
use workloads::results::least_squares;
use workloads::sampler::sample_once;

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
        let (mut connections, mut pss) = (Vec::new(), Vec::new());
        for &level in &args.levels {
            while open.len() < level {
                let mut stream = TcpStream::connect(server.addr())?;
                stream.write_all(HELLO)?;
                let mut answer = vec![0u8; answer_len];
                stream.read_exact(&mut answer)?;
                open.push(stream);
            }
            std::thread::sleep(Duration::from_millis(500));
            // The same reading the runner's sampler takes, summed over the process tree.
            let sample = sample_once(server.pid(), Instant::now())?;
            println!(
                "{engine:<12} {:>7} {:>10} {:>10} {:>10} {:>9} {:>12}",
                open.len(),
                sample.pss_bytes / 1024,
                sample.rss_bytes / 1024,
                sample.uss_bytes / 1024,
                sample.threads,
                sample.tcp_mem_bytes / 1024
            );
            connections.push(open.len() as f64);
            pss.push(sample.pss_bytes as f64);
        }
        drop(open);
        server.terminate(Duration::from_secs(5))?;
        let (slope, intercept) = least_squares(&connections, &pss).unwrap_or((0.0, 0.0));
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
