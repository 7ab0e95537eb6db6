//! Bounded memory under hostile clients: many clients each ask for a 64 MiB body and read
//! nothing. A server that renders a body whole holds 64 MiB per such client; one that streams
//! it from a fixed buffer, with a send timeout, holds a few hundred bytes.
//!
//! ```sh
//! cargo run --release --example memory_64mib                    # 500 clients, every engine
//! cargo run --release --example memory_64mib -- --engines selector --clients 100
//! ```
//!
//! For each engine it starts `workbench engine <name>`, opens clients one by one (each sends
//! `GET /work?bytes=67108864` and never reads; its receive buffer is set small, so the
//! kernel's memory stays modest on the client side), and reads the PSS of the engine's whole
//! process tree from `/proc/<pid>/smaps_rollup` every 25 clients and for 2 s after the last.
//! It stops adding clients if PSS passes `--cap-mib` (1 GiB), so a regression cannot take the
//! machine down, and prints each engine's peak PSS. The target is under 256 MiB.
//!
//! The kernel's socket buffers are not in PSS: the server's send buffers fill to their limit
//! (`net.ipv4.tcp_wmem`, bounded in all by `net.ipv4.tcp_mem`) in every model alike.
//!
//! The prefork pool serves only as many clients as it has workers; the others wait in the
//! listen backlog, costing it nothing — its figure is the workers' memory, which is the point.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use clap::Parser;
use wb_runner::sampler::sample_once;
use workbench::child::ServerProcess;

/// The servers measured when `--engines` is not given.
const DEFAULT_ENGINES: &str = "threads,pool,selector,coroutines";

#[derive(Debug, Parser)]
struct Args {
    /// Engines to measure.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_ENGINES)]
    engines: Vec<String>,
    /// Clients per engine, each asking for 64 MiB and reading nothing.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    clients: u32,
    /// Stop adding clients once the engine's PSS passes this many MiB.
    #[arg(long, default_value_t = 1024)]
    cap_mib: u64,
}

const REQUEST: &[u8] = b"GET /work?bytes=67108864 HTTP/1.1\r\nHost: workbench\r\n\r\n";

/// The target of issue 11: every engine under this much PSS.
const TARGET_MIB: u64 = 256;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    workbench::os::raise_open_files_limit()?;
    let exe = workbench::child::workbench_exe_beside_example()?;
    println!(
        "{:<12} {:>8} {:>14} {:>9}  verdict",
        "engine", "clients", "peak PSS MiB", "threads"
    );
    let mut all_under = true;
    for engine in &args.engines {
        let (clients, peak, threads) = measure(&exe, engine, &args)?;
        let under = peak < TARGET_MIB << 20;
        all_under &= under;
        println!(
            "{engine:<12} {clients:>8} {:>14.1} {threads:>9}  {}",
            peak as f64 / f64::from(1 << 20),
            if under {
                format!("under {TARGET_MIB} MiB")
            } else {
                format!("OVER {TARGET_MIB} MiB")
            }
        );
    }
    if !all_under {
        anyhow::bail!("at least one engine went over {TARGET_MIB} MiB");
    }
    Ok(())
}

/// Opens up to `args.clients` non-reading clients against one engine; returns how many were
/// opened, the peak PSS in bytes and the thread count at the peak.
fn measure(exe: &std::path::Path, engine: &str, args: &Args) -> anyhow::Result<(u32, u64, u64)> {
    let server = ServerProcess::spawn(exe, engine, &[])?;
    let addr = server.addr();
    let started = Instant::now();
    let cap = args.cap_mib << 20;
    let (mut peak, mut threads) = (0u64, 0u64);
    let sample = |peak: &mut u64, threads: &mut u64| -> anyhow::Result<u64> {
        let s = sample_once(server.pid(), started)?;
        if s.pss_bytes > *peak {
            *peak = s.pss_bytes;
            *threads = s.threads;
        }
        Ok(s.pss_bytes)
    };
    let mut open = Vec::new();
    for i in 0..args.clients {
        open.push(client(addr)?);
        if (i + 1) % 25 == 0 && sample(&mut peak, &mut threads)? > cap {
            eprintln!("{engine}: PSS passed {} MiB; no more clients", args.cap_mib);
            break;
        }
    }
    // Let the engines start on every response they can, and the buffers fill.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(200));
        sample(&mut peak, &mut threads)?;
    }
    let clients = open.len() as u32;
    drop(open);
    server.terminate(wb_sys::STOP_GRACE)?;
    Ok((clients, peak, threads))
}

/// A client with a small receive buffer that asks for 64 MiB and will never read.
fn client(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    use std::io::Write;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_recv_buffer_size(16 * 1024)?;
    socket.connect(&addr.into())?;
    let mut stream: TcpStream = socket.into();
    stream.write_all(REQUEST)?;
    Ok(stream)
}
