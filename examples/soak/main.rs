//! A soak: each engine under a mix of well-behaved and hostile clients for minutes, its memory,
//! descriptors and threads sampled every second, so that a slow leak shows as a drift.
//!
//! ```sh
//! cargo build --release && cargo run --release --example soak -- --minutes 30
//! cargo run --release --example soak -- --minutes 0.5 --engines selector,pool
//! cargo run --release --example soak -- --minutes 5 --sequential
//! ```
//!
//! Every engine (threads, pool, selector, selector-on-tokio, coroutines, uring — where
//! io_uring is unavailable the soak says so and goes on without it; `--engines` to choose) is
//! started as `workbench engine NAME` and, for `--minutes`, gets the same mix
//! from a few dozen tokio tasks on loopback, each a client of one kind:
//!
//! | clients | what each does | what counts as an error |
//! |---|---|---|
//! | keep-alive hello | `GET /hello` on one connection, every 10 ms | anything but `200 Hello, World!` |
//! | db-wait | `GET /work?wait_ms=50` on one connection | anything but a 200 |
//! | slow reader | `GET /work?bytes=1MiB`, read 8 KiB every 10 ms | a short or failed body |
//! | slowloris | a head trickled a byte every 20–80 ms (well within the 10 s header timeout); half are abandoned part way, half finished and answered | a finished head not answered 200 |
//! | idle churn | connect, one hello, hold 0.2–2 s, close | a failed hello |
//! | reset | a request (whole or half), then `SO_LINGER 0` and close: an RST | none (the engine's business) |
//! | malformed | a request from the conformance corpus that the core answers 400 and closes | any other answer, or no close |
//!
//! The engines run side by side unless `--sequential`: each one's figures are read from its
//! own process tree, as the runner's sampler reads them (PSS, descriptors and threads summed
//! over the tree, so the pool's workers count). The pool is started with `--workers 32`,
//! more than the mix's 22 connections, so that hostile clients hold workers without starving
//! the hello clients (a pool's failure mode, shown by the workbench's own workloads, not here).
//!
//! After a warm-up (20 % of the run, at least 30 s if that leaves half of it), the drift of
//! PSS and threads is the least-squares slope per minute. When the mix ends and the clients'
//! connections are closed, the descriptors must come back to where they were before the
//! mix, within a small slack. An engine fails when PSS drifts by more than
//! `--max-pss-drift-mib` per minute, its descriptors or threads do not come back, or a client
//! met an error the mix did not provoke; the example then exits non-zero.
//!
//! Bounded: the load stops early if an engine's PSS passes `--max-pss-mib` (2 GiB), and every
//! client stops by itself at the deadline.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout, timeout_at};
use wb_model::results::least_squares;
use wb_runner::sampler::sample_once;
use workbench::child::ServerProcess;

mod clients;
use clients::{Client, Rng, malformed_requests};

/// The engines soaked when `--engines` is not given: every model, the selector's loop on
/// tokio, and the completion-based loop (io_uring).
const DEFAULT_ENGINES: &str = "threads,pool,selector,selector-on-tokio,coroutines,uring";

#[derive(Debug, Parser)]
struct Args {
    /// Minutes of load per engine (fractions allowed: 0.5).
    #[arg(long, default_value_t = 1.0)]
    minutes: f64,
    /// Engines, by their registry labels.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_ENGINES)]
    engines: Vec<String>,
    /// One engine after another instead of all at once.
    #[arg(long)]
    sequential: bool,
    /// Stop adding load once an engine's PSS passes this many MiB (and fail it).
    #[arg(long, default_value_t = 2048)]
    max_pss_mib: u64,
    /// Largest PSS drift after the warm-up, MiB per minute, either way.
    #[arg(long, default_value_t = 1.0)]
    max_pss_drift_mib: f64,
    /// Descriptors the engine may hold beyond its count before the mix, once the clients
    /// have closed (a lingering close, a worker's log file).
    #[arg(long, default_value_t = 2)]
    fd_slack: u64,
    /// Threads the engine may hold beyond its count before the mix, once idle.
    #[arg(long, default_value_t = 2)]
    thread_slack: u64,
}

/// Clients of each kind, per engine: 22 connections at most.
const MIX: [(Kind, usize); 7] = [
    (Kind::Hello, 4),
    (Kind::DbWait, 4),
    (Kind::SlowReader, 2),
    (Kind::Slowloris, 4),
    (Kind::IdleChurn, 4),
    (Kind::Reset, 2),
    (Kind::Malformed, 2),
];

/// The pool's workers: more than the mix's connections (see the module doc).
const POOL_WORKERS: &str = "32";

/// The slow readers' response, and how they read it.
const SLOW_BYTES: usize = 1 << 20;
const SLOW_CHUNK: usize = 8 * 1024;
const SLOW_PAUSE: Duration = Duration::from_millis(10);

/// Longest any answer may take: far beyond a 50 ms wait or a 1.3 s slow read, and beyond the
/// engines' 10 s header timeout, so a timeout here is a hang, not a busy machine.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest wait for the descriptors to come back once the mix has ended (an engine lingers
/// up to 2 s on a close, `wb_sys::LINGER_TIMEOUT`).
const SETTLE: Duration = Duration::from_secs(15);

const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: workbench\r\n\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hello,
    DbWait,
    SlowReader,
    Slowloris,
    IdleChurn,
    Reset,
    Malformed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Hello => "hello",
            Kind::DbWait => "db-wait",
            Kind::SlowReader => "slow reader",
            Kind::Slowloris => "slowloris",
            Kind::IdleChurn => "idle churn",
            Kind::Reset => "reset",
            Kind::Malformed => "malformed",
        }
    }
}

/// What the clients of one engine met.
#[derive(Default)]
struct Tally {
    /// Exchanges that went as they should (answers checked, provoked closes seen).
    ok: AtomicU64,
    /// Connections the mix broke on purpose (abandoned heads, resets).
    provoked: AtomicU64,
    /// Anything else; the first few are kept to print.
    unexpected: AtomicU64,
    first: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, kind: Kind, what: String) {
        self.unexpected.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first.lock().expect("not poisoned");
        if first.len() < 5 {
            first.push(format!("{}: {what}", kind.name()));
        }
    }
}

/// One reading of an engine's process tree.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// Seconds since the mix began.
    at: f64,
    pss: u64,
    fds: u64,
    threads: u64,
}

/// One engine's soak as it goes.
struct Soak {
    label: String,
    server: ServerProcess,
    tally: Arc<Tally>,
    /// Set when PSS passes the cap: clients stop starting new exchanges.
    hold: Arc<AtomicBool>,
    /// One reading a second.
    samples: Vec<Reading>,
    /// Descriptors and threads before the mix.
    before: (u64, u64),
    /// Descriptors and threads once the mix ended and the clients closed, and how long that took.
    after: Option<(u64, u64, Duration)>,
    capped: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.engines.iter().any(|e| e == "uring")
        && let Err(why) = wb_sys::uring::available()
    {
        // Left out of the default list, with a note; named by the user, an error.
        anyhow::ensure!(
            args.engines.join(",") == DEFAULT_ENGINES,
            "uring cannot run here: {why}"
        );
        println!("uring left out: {why}");
        args.engines.retain(|e| e != "uring");
    }
    anyhow::ensure!(
        args.minutes > 0.0 && args.minutes.is_finite(),
        "--minutes must be positive"
    );
    workbench::os::raise_open_files_limit()?;
    let exe = workbench::child::workbench_exe_beside_example()?;
    let malformed = malformed_requests();
    anyhow::ensure!(
        !malformed.is_empty(),
        "the corpus has no request answered 400 and closed"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let run = Duration::from_secs_f64(args.minutes * 60.0);
    println!(
        "soak: {} for {:.1} min{}, {} clients each ({}), PSS cap {} MiB",
        args.engines.join(", "),
        args.minutes,
        if args.sequential {
            " each, one after another"
        } else {
            ", side by side"
        },
        MIX.iter().map(|(_, n)| n).sum::<usize>(),
        MIX.iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect::<Vec<_>>()
            .join(", "),
        args.max_pss_mib
    );
    let multi = MultiProgress::new();
    let groups: Vec<Vec<String>> = if args.sequential {
        args.engines.iter().map(|e| vec![e.clone()]).collect()
    } else {
        vec![args.engines.clone()]
    };
    let mut done = Vec::new();
    for group in groups {
        let mut soaks = Vec::new();
        for label in &group {
            let extra: &[&str] = if label == "pool" {
                &["--workers", POOL_WORKERS]
            } else {
                &[]
            };
            let server = ServerProcess::spawn_registered(&exe, label, extra)
                .with_context(|| format!("cannot start engine {label}"))?;
            soaks.push(Soak {
                label: label.clone(),
                server,
                tally: Arc::default(),
                hold: Arc::default(),
                samples: Vec::new(),
                before: (0, 0),
                after: None,
                capped: None,
            });
        }
        let soaks = runtime.block_on(soak_group(soaks, run, &args, &malformed, &multi))?;
        for soak in soaks {
            let mut verdict = Verdict::of(&soak, run, &args);
            match soak.server.terminate(Duration::from_secs(10)) {
                Ok(stopped) if stopped.killed => verdict
                    .failures
                    .push("it did not exit within 10 s of SIGTERM".into()),
                Ok(_) => {}
                Err(err) => verdict
                    .failures
                    .push(format!("it could not be stopped: {err}")),
            }
            done.push((soak.label, verdict));
        }
    }
    println!("\nsoak results ({:.1} min per engine):", args.minutes);
    println!(
        "  {:<18} {:>14} {:>16} {:>15} {:>9} {:>9} {:>10}",
        "engine",
        "PSS MiB/min",
        "fds start→end",
        "threads/min",
        "answers",
        "provoked",
        "unexpected"
    );
    let mut failed = Vec::new();
    for (label, verdict) in &done {
        println!("  {label:<18} {}", verdict.row());
        for line in &verdict.notes {
            println!("      {line}");
        }
        if !verdict.failures.is_empty() {
            failed.push(format!("{label}: {}", verdict.failures.join("; ")));
        }
    }
    println!(
        "  (drift: least-squares slope after the warm-up; limits: PSS ±{} MiB/min, descriptors \
         and threads back within +{}/+{} of their count before the mix)",
        args.max_pss_drift_mib, args.fd_slack, args.thread_slack
    );
    if failed.is_empty() {
        println!("every engine passed");
        Ok(())
    } else {
        anyhow::bail!("the soak failed:\n  {}", failed.join("\n  "))
    }
}

/// Runs the mix against every soak of the group at once, sampling each once a second.
async fn soak_group(
    mut soaks: Vec<Soak>,
    run: Duration,
    args: &Args,
    malformed: &[Vec<u8>],
    multi: &MultiProgress,
) -> anyhow::Result<Vec<Soak>> {
    // Before the mix: the engine idle, as it started.
    sleep(Duration::from_millis(500)).await;
    for soak in &mut soaks {
        let sample = sample_once(soak.server.pid(), std::time::Instant::now())
            .with_context(|| format!("cannot read engine {}", soak.label))?;
        soak.before = (sample.open_fds, sample.threads);
    }
    let start = Instant::now();
    let deadline = start + run;
    let mut clients = tokio::task::JoinSet::new();
    for (e, soak) in soaks.iter().enumerate() {
        for (kind, count) in MIX {
            for i in 0..count {
                let client = Client {
                    kind,
                    addr: soak.server.addr(),
                    tally: Arc::clone(&soak.tally),
                    hold: Arc::clone(&soak.hold),
                    deadline,
                    rng: Rng::new((e * 100 + kind as usize * 10 + i) as u64),
                    malformed: malformed.to_vec(),
                };
                clients.spawn(client.run());
            }
        }
    }
    let bars: Vec<ProgressBar> = soaks
        .iter()
        .map(|soak| {
            let bar = multi.add(ProgressBar::new(run.as_secs()));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:<18} [{bar:30.cyan/blue}] {pos}/{len} s {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(soak.label.clone());
            bar
        })
        .collect();
    let cap = args.max_pss_mib << 20;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_line = Instant::now();
    while Instant::now() < deadline {
        tick.tick().await;
        if Instant::now() >= deadline {
            break; // the clients are stopping: not a reading of the mix
        }
        let at = start.elapsed().as_secs_f64();
        for (soak, bar) in soaks.iter_mut().zip(&bars) {
            let Ok(s) = sample_once(soak.server.pid(), std::time::Instant::now()) else {
                soak.tally.error(
                    Kind::Hello,
                    "the engine could not be read: it exited".into(),
                );
                continue;
            };
            soak.samples.push(Reading {
                at,
                pss: s.pss_bytes,
                fds: s.open_fds,
                threads: s.threads,
            });
            if s.pss_bytes > cap && soak.capped.is_none() {
                soak.capped = Some(s.pss_bytes);
                soak.hold.store(true, Ordering::Relaxed);
            }
            let status = format!(
                "PSS {:.1} MiB, {} fds, {} threads, {} answers, {} unexpected",
                s.pss_bytes as f64 / 1048576.0,
                s.open_fds,
                s.threads,
                soak.tally.ok.load(Ordering::Relaxed),
                soak.tally.unexpected.load(Ordering::Relaxed)
            );
            bar.set_position(at as u64);
            if multi.is_hidden() && last_line.elapsed() >= Duration::from_secs(15) {
                println!("  {:<18} {:>5.0} s  {status}", soak.label, at);
            }
            bar.set_message(status);
        }
        if last_line.elapsed() >= Duration::from_secs(15) {
            last_line = Instant::now();
        }
    }
    // Every client ends by itself at the deadline; the bound is for a bug.
    let ended = timeout(ANSWER_TIMEOUT, async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    if ended.is_err() {
        clients.abort_all();
        for soak in &soaks {
            soak.tally
                .error(Kind::Hello, "a client did not stop at the deadline".into());
        }
    }
    for bar in &bars {
        bar.finish_and_clear();
    }
    // Every client connection is closed now: wait for the engines to close theirs.
    let closed = Instant::now();
    loop {
        let mut settled = true;
        for soak in &mut soaks {
            if soak.after.is_some() {
                continue;
            }
            if let Ok(s) = sample_once(soak.server.pid(), std::time::Instant::now()) {
                let back = s.open_fds <= soak.before.0 + args.fd_slack
                    && s.threads <= soak.before.1 + args.thread_slack;
                if back || closed.elapsed() >= SETTLE {
                    soak.after = Some((s.open_fds, s.threads, closed.elapsed()));
                } else {
                    settled = false;
                }
            }
        }
        if settled {
            break;
        }
        sleep(Duration::from_millis(200)).await;
    }
    Ok(soaks)
}

/// What one engine's soak shows, and whether it passed.
struct Verdict {
    pss_drift: Option<f64>,
    thread_drift: Option<f64>,
    fds: (u64, Option<u64>),
    answers: u64,
    provoked: u64,
    unexpected: u64,
    notes: Vec<String>,
    failures: Vec<String>,
}

impl Verdict {
    fn of(soak: &Soak, run: Duration, args: &Args) -> Verdict {
        let secs = run.as_secs_f64();
        // 20 % of the run, or 30 s if that leaves at least half of it.
        let warmup = (secs * 0.2).max(30f64.min(secs * 0.5));
        let kept: Vec<_> = soak.samples.iter().filter(|s| s.at >= warmup).collect();
        let minutes: Vec<f64> = kept.iter().map(|s| s.at / 60.0).collect();
        let slope = |f: fn(&Reading) -> f64| {
            let ys: Vec<f64> = kept.iter().map(|s| f(s)).collect();
            least_squares(&minutes, &ys).map(|(slope, _)| slope)
        };
        let pss_drift = slope(|s| s.pss as f64 / 1048576.0);
        let thread_drift = slope(|s| s.threads as f64);
        let tally = &soak.tally;
        let mut verdict = Verdict {
            pss_drift,
            thread_drift,
            fds: (soak.before.0, soak.after.map(|a| a.0)),
            answers: tally.ok.load(Ordering::Relaxed),
            provoked: tally.provoked.load(Ordering::Relaxed),
            unexpected: tally.unexpected.load(Ordering::Relaxed),
            notes: tally.first.lock().expect("not poisoned").clone(),
            failures: Vec::new(),
        };
        if let (Some(first), Some(last)) = (kept.first(), kept.last()) {
            verdict.notes.push(format!(
                "after the {warmup:.0} s warm-up: PSS {:.1} → {:.1} MiB, threads {} → {}, \
                 descriptors {} → {} ({} samples)",
                first.pss as f64 / 1048576.0,
                last.pss as f64 / 1048576.0,
                first.threads,
                last.threads,
                first.fds,
                last.fds,
                kept.len()
            ));
        }
        let failures = &mut verdict.failures;
        match pss_drift {
            Some(d) if d.abs() > args.max_pss_drift_mib => failures.push(format!(
                "PSS drifts {d:+.2} MiB/min (limit ±{})",
                args.max_pss_drift_mib
            )),
            Some(_) => {}
            None => failures.push("too few samples after the warm-up to fit a drift".into()),
        }
        match soak.after {
            Some((fds, threads, took)) => {
                if fds > soak.before.0 + args.fd_slack {
                    failures.push(format!(
                        "{fds} descriptors {:.1} s after the mix, {} before it",
                        took.as_secs_f64(),
                        soak.before.0
                    ));
                }
                if threads > soak.before.1 + args.thread_slack {
                    failures.push(format!(
                        "{threads} threads {:.1} s after the mix, {} before it",
                        took.as_secs_f64(),
                        soak.before.1
                    ));
                }
            }
            None => failures.push("the engine could not be read after the mix".into()),
        }
        if verdict.unexpected > 0 {
            failures.push(format!("{} unexpected error(s)", verdict.unexpected));
        }
        if verdict.answers == 0 {
            failures.push("no answer at all".into());
        }
        if let Some(pss) = soak.capped {
            failures.push(format!(
                "PSS reached {} MiB, past the cap: the load was held",
                pss >> 20
            ));
        }
        verdict
    }

    fn row(&self) -> String {
        let num = |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:+.p$}"));
        format!(
            "{:>14} {:>16} {:>15} {:>9} {:>9} {:>10}{}",
            num(self.pss_drift, 2),
            format!(
                "{} → {}",
                self.fds.0,
                self.fds.1.map_or("?".into(), |f| f.to_string())
            ),
            num(self.thread_drift, 1),
            self.answers,
            self.provoked,
            self.unexpected,
            if self.failures.is_empty() {
                "  ok"
            } else {
                "  FAILED"
            }
        )
    }
}
