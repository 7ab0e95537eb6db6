//! CPU per `/hello` request: each engine beside nginx, the C reference, under the same `wrk`
//! load, with the load generator's own CPU shown too (the two share this machine's cores).
//!
//! ```sh
//! apt-get install wrk nginx-light     # Debian's packages; nginx is optional
//! cargo build --release && cargo run --release --example hello_cpu
//! cargo run --release --example hello_cpu -- --connections 16 --seconds 10 --engines selector
//! ```
//!
//! For each server it runs `wrk --latency -t1 -c<connections> -d<seconds>s /hello`, reads the
//! CPU time (user + system) of the server's whole process tree from `/proc` before and after,
//! and divides by the requests wrk completed. CPU per request is a fairer figure than requests
//! per second on a small machine where the client competes for the same cores: the server's
//! cost does not depend on how fast the client is. The ratio to nginx is the figure to quote.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use workbench::child::EngineProcess;
use workloads::sampler::sample_once;

#[derive(Debug, Parser)]
struct Args {
    /// Engines to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "threads,pool,selector,coroutines"
    )]
    engines: Vec<String>,
    /// Keep-alive connections wrk holds open.
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Seconds of load per server.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// Skip nginx even when it is installed.
    #[arg(long)]
    no_nginx: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is not installed: apt-get install wrk"
    );
    let exe = workbench::child::workbench_exe_beside_example()?;
    println!(
        "{:<12} {:>10} {:>12} {:>14} {:>14} {:>10}",
        "server", "requests", "req/s", "server µs/req", "client µs/req", "vs nginx"
    );
    let mut rows = Vec::new();
    if !args.no_nginx {
        match Nginx::start() {
            Ok(nginx) => {
                let row = measure("nginx", nginx.pid, nginx.addr.clone(), &args)?;
                drop(nginx);
                rows.push(row);
            }
            Err(err) => println!("nginx skipped: {err:#}"),
        }
    }
    for engine in &args.engines {
        let server = EngineProcess::spawn(&exe, engine, &[])?;
        let row = measure(engine, server.pid(), server.addr().to_string(), &args)?;
        server.terminate(Duration::from_secs(5))?;
        rows.push(row);
    }
    let nginx = rows.iter().find(|r| r.name == "nginx").map(|r| r.server_us);
    for row in &rows {
        let ratio = nginx.map_or("-".to_string(), |n| format!("{:.2}×", row.server_us / n));
        println!(
            "{:<12} {:>10} {:>12.0} {:>14.2} {:>14.2} {:>10}",
            row.name, row.requests, row.rate, row.server_us, row.client_us, ratio
        );
    }
    Ok(())
}

struct Row {
    name: String,
    requests: u64,
    rate: f64,
    server_us: f64,
    client_us: f64,
}

/// User plus system CPU seconds of `pid`'s whole process tree (0 once it has exited).
fn tree_cpu(pid: u32) -> f64 {
    sample_once(pid, Instant::now()).map_or(0.0, |s| s.cpu_user_secs + s.cpu_system_secs)
}

fn measure(name: &str, pid: u32, addr: String, args: &Args) -> anyhow::Result<Row> {
    let url = format!("http://{addr}/hello");
    // A short warm-up, so that lazily created threads or workers are not counted.
    Command::new("wrk")
        .args(["-t1", "-c4", "-d1s", &url])
        .output()?;
    let before = tree_cpu(pid);
    let wrk = Command::new("wrk")
        .args([
            "-t1".to_string(),
            format!("-c{}", args.connections),
            format!("-d{}s", args.seconds),
            url,
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let wrk_pid = wrk.id();
    let mut client = 0.0;
    let output = {
        // wrk's CPU must be read while it still exists: sample it until it exits.
        let handle = std::thread::spawn(move || wrk.wait_with_output());
        while !handle.is_finished() {
            let now = tree_cpu(wrk_pid);
            if now > 0.0 {
                client = now;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        handle.join().expect("wrk thread")?
    };
    let server = tree_cpu(pid) - before;
    let text = String::from_utf8_lossy(&output.stdout);
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse::<u64>().ok())
        .with_context(|| format!("cannot read wrk's output:\n{text}"))?;
    let errors = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
    if let Some(errors) = errors {
        println!("{name}: wrk reports {}", errors.trim());
    }
    Ok(Row {
        name: name.to_string(),
        requests,
        rate: requests as f64 / f64::from(args.seconds),
        server_us: server * 1e6 / requests as f64,
        client_us: client * 1e6 / requests as f64,
    })
}

/// nginx with one worker, serving `/hello` like the engines, from a temporary folder.
struct Nginx {
    child: Child,
    pid: u32,
    addr: String,
    dir: PathBuf,
}

impl Nginx {
    fn start() -> anyhow::Result<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .context("nginx is not installed (apt-get install nginx-light)")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("workbench-nginx-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1;\nuser root;\ndaemon off;\npid {d}/nginx.pid;\nerror_log stderr warn;\n\
                 events {{ worker_connections 16384; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n\
                   fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n\
                   keepalive_requests 1000000;\n\
                   server {{\n    listen 127.0.0.1:{port} backlog=4096;\n    default_type text/plain;\n\
                     location = /hello {{ return 200 \"Hello, World!\"; }}\n  }}\n}}\n"
            ),
        )?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stderr(Stdio::piped())
            .spawn()?;
        let pid = child.id();
        let addr = format!("127.0.0.1:{port}");
        // Ready when the port accepts.
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(Nginx {
                    child,
                    pid,
                    addr,
                    dir,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut nginx = Nginx {
            child,
            pid,
            addr,
            dir,
        };
        let mut log = String::new();
        if let Some(stderr) = nginx.child.stderr.take() {
            for line in BufReader::new(stderr).lines().take(5).map_while(Result::ok) {
                log.push_str(&line);
                log.push('\n');
            }
        }
        anyhow::bail!("nginx did not start listening:\n{log}")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own unreaped child; no memory is involved.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGQUIT) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
