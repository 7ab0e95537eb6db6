//! CPU per slow head: a 14,972-byte request head sent one byte per TCP segment, and the CPU the
//! server spends on it, for each engine beside nginx.
//!
//! ```sh
//! cargo build --release && cargo run --release --example slow_head            # 5 rounds, ~1 min
//! cargo run --release --example slow_head -- --rounds 3 --engines selector,threads --no-nginx
//! ```
//!
//! A slowloris client holds a connection by sending its head slowly; a client whose head
//! arrives one byte per segment (`TCP_NODELAY`, one `write` per byte, a short pause after each
//! so that each is a segment of its own) also costs the server a wake-up and a read per byte,
//! unless the server reads it less often. The workbench's engines do: after a few small reads
//! of one request they rest before each further read, 25 ms doubling to 400 ms
//! (`wb_protocol::Session::read_pause`), so the bytes pile up and are taken together. nginx
//! reads every segment as it comes.
//!
//! Each server is pinned to CPU 0 and this client to CPU 1. The server's CPU is its whole
//! process tree's scheduler time (`/proc/PID/task/*/schedstat`, in nanoseconds), read when the
//! first byte has been taken and again when the answer has arrived. On loopback the kernel's
//! work for a segment is done by whichever end happens to run it, so part of the figure is the
//! TCP/IP path of segments the server did not send. Rounds interleave the servers; the summary
//! gives each server's median and range.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use workbench::child::ServerProcess;

#[path = "common/nginx.rs"]
mod nginx;
use nginx::Nginx;

/// The servers measured when `--engines` is not given.
const DEFAULT_ENGINES: &str =
    "selector,selector/tokio,coroutines,coroutines/current-thread,threads,pool";

/// The size of the head in the issue that found the quadratic parse.
const HEAD_BYTES: usize = 14_972;

/// The server's CPU, and this client's.
const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;

#[derive(Debug, Parser)]
struct Args {
    /// Engines to measure; `selector/tokio` passes `--reactor tokio`, `coroutines/FLAVOR`
    /// passes `--flavor FLAVOR`.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_ENGINES)]
    engines: Vec<String>,
    /// Times every server is measured.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Microseconds the client pauses after each byte.
    #[arg(long, default_value_t = 50)]
    pause_us: u64,
    /// Leave nginx out.
    #[arg(long)]
    no_nginx: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let exe = workbench::child::workbench_exe_beside_example()
        .context("build the workbench binary first: cargo build --release")?;
    wb_sys::affinity::pin_thread_to(CLIENT_CPU..CLIENT_CPU + 1).ok();
    let head = wb_protocol::corpus::padded_head(HEAD_BYTES);
    println!(
        "A {HEAD_BYTES}-byte head, one byte per segment ({} µs apart), {} rounds; the server's CPU \
         from the first byte to its answer:",
        args.pause_us, args.rounds
    );
    let mut results: Vec<(String, Vec<f64>)> = Vec::new();
    let mut record = |name: &str, ms: f64| match results.iter_mut().find(|(n, _)| n == name) {
        Some((_, all)) => all.push(ms),
        None => results.push((name.to_string(), vec![ms])),
    };
    for round in 1..=args.rounds {
        println!("round {round}:");
        if !args.no_nginx {
            match Nginx::start(SERVER_CPU) {
                Ok(nginx) => {
                    let ms = measure(nginx.pid, &nginx.addr, &head, args.pause_us)?;
                    println!("  {:<28} {ms:>8.2} ms", "nginx");
                    record("nginx", ms);
                }
                Err(err) => println!("  nginx skipped: {err:#}"),
            }
        }
        for engine in &args.engines {
            let (name, variant) = engine.split_once('/').unwrap_or((engine, ""));
            let extra: Vec<&str> = match (name, variant) {
                (_, "") => Vec::new(),
                ("selector", reactor) => vec!["--reactor", reactor],
                (_, flavor) => vec!["--flavor", flavor],
            };
            let server = ServerProcess::spawn_on_cpu(&exe, name, &extra, Some(SERVER_CPU))
                .with_context(|| format!("cannot start engine {engine}"))?;
            let ms = measure(
                server.pid(),
                &server.addr().to_string(),
                &head,
                args.pause_us,
            )?;
            println!("  {engine:<28} {ms:>8.2} ms");
            record(engine, ms);
            server.terminate(Duration::from_secs(5))?;
        }
    }
    println!("\nmedian [lowest–highest] ms of server CPU per slow head:");
    for (name, mut all) in results {
        all.sort_by(f64::total_cmp);
        println!(
            "  {name:<28} {:>8.2} [{:.2}–{:.2}]",
            all[all.len() / 2],
            all[0],
            all[all.len() - 1]
        );
    }
    Ok(())
}

/// Sends `head` one byte per segment to the server at `addr` and returns the CPU (ms) its
/// process tree `pid` spent from the first byte to the answer.
fn measure(pid: u32, addr: &str, head: &[u8], pause_us: u64) -> anyhow::Result<f64> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    // Accepted (and, for threads, the connection's thread started) before measuring.
    stream.write_all(&head[..1])?;
    std::thread::sleep(Duration::from_millis(200));
    let pids = wb_runner::sampler::process_tree(pid);
    let before = wb_runner::sampler::scheduler_cpu_ns(&pids);
    let started = Instant::now();
    for byte in head[1..].chunks(1) {
        stream.write_all(byte)?;
        if pause_us > 0 {
            std::thread::sleep(Duration::from_micros(pause_us));
        }
    }
    let mut answer = [0; 256];
    let n = stream.read(&mut answer)?;
    let after = wb_runner::sampler::scheduler_cpu_ns(&pids);
    anyhow::ensure!(
        answer[..n].starts_with(b"HTTP/1.1 200 "),
        "{addr} answered {:?} after {:?}",
        String::from_utf8_lossy(&answer[..n.min(40)]),
        started.elapsed()
    );
    Ok(after.saturating_sub(before) as f64 / 1e6)
}
