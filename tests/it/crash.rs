//! A crash-safe store, shown: `workbench run` SIGKILLed at random moments, fifty times, into
//! one store file. After every kill the store opens, `PRAGMA integrity_check` says `ok`,
//! every step the run finished before the kill reads back whole, and the run reads
//! `interrupted`.
//!
//! The moments are drawn from a seeded generator (`WB_CRASH_SEED` replays another seed)
//! over the span of one whole run of the same workload, measured first, so the kills land
//! everywhere: while the store is opened and migrated, during the calibration, an engine's
//! start, a step, a step's commit, the run's end. A kill that comes after the run has
//! already ended is not counted; another moment is drawn.
//!
//! Which steps were finished is read from the run's own log: each step's line is printed
//! (by the terminal's observer) just before the store's observer commits it, so the store
//! holds every printed step but the last, or every one. A kill after the store finished the
//! run (while the summary is printed) leaves it `completed`, with every step.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wb_model::results::RunStatus;
use wb_reports::store::Store;

use crate::util::exe;

/// Kills: the fifty.
const KILLS: usize = 50;

/// The default seed of the kill moments.
const SEED: u64 = 22;

/// A closed-loop `/hello` workload of three short levels: a whole run takes about a second.
const WORKLOAD: &str = "name = \"crash\"\ndescription = \"hello, to be killed\"\n\
    mode = \"closed\"\nlevels = [1, 2, 3]\nstep_secs = 0.2\nwarmup_secs = 0\n";

/// `workbench run` on the workload, into `crash.db` in `dir`.
fn start(dir: &Path) -> Child {
    Command::new(exe())
        .args([
            "run",
            "--db",
            "crash.db",
            "--engines",
            "selector",
            "--workloads",
            "crash.toml",
        ])
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .env_remove("WORKBENCH_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start workbench run")
}

/// The `(engine, workload, level)` of each step line the run printed (`  selector  crash  1
/// …`), in order.
fn printed_steps(log: &str) -> Vec<(String, String, u64)> {
    log.lines()
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let engine = words.next()?.to_string();
            let workload = words.next()?.to_string();
            let level = words.next()?.parse().ok()?;
            (workload == "crash").then_some((engine, workload, level))
        })
        .collect()
}

/// The processes `pid` has started and not yet lost (its engines): from every thread's
/// `children` file.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Whether `pid` is gone (or a zombie, waiting for whoever adopted it).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// `PRAGMA integrity_check` of the file, as SQLite reads it (`ok` when intact).
fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("open the file");
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check")
}

/// A seeded xorshift64*: the same moments on every machine, for a seed.
struct Rng(u64);

impl Rng {
    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn sigkill_at_random_moments_leaves_the_store_whole() {
    let seed = std::env::var("WB_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crash.toml"), WORKLOAD).unwrap();
    let db = dir.path().join("crash.db");

    // One whole run: its span is where the kills land.
    let began = Instant::now();
    let mut whole = start(dir.path());
    let status = whole.wait().expect("wait");
    let span = began.elapsed();
    let mut log = String::new();
    whole
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "the whole run failed: {log}");
    assert_eq!(printed_steps(&log).len(), 3, "{log}");

    let mut runs_before = 1;
    let mut kills = 0;
    let mut late = 0;
    // Kills by the steps their run had stored: none begun yet, then 0, 1, 2, 3 steps.
    let mut not_begun = 0;
    let mut finished = 0;
    let mut steps_seen = [0usize; 4];
    while kills < KILLS {
        assert!(
            late < KILLS,
            "{late} runs ended before their kill: {span:?} is too long"
        );
        let delay = span.mul_f64(rng.unit());
        let mut run = start(dir.path());
        std::thread::sleep(delay);
        let engines = children(run.id());
        if run.try_wait().expect("try_wait").is_some() {
            // Ended by itself before the moment came: not a kill.
            late += 1;
            let _ = run.wait();
            runs_before = Store::open(&db).unwrap().runs().unwrap().len();
            continue;
        }
        // Our own child, not yet reaped: SIGKILL by its PID.
        run.kill().expect("SIGKILL");
        run.wait().expect("reap");
        kills += 1;
        let mut log = String::new();
        run.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        let printed = printed_steps(&log);
        let when = format!("kill {kills} at {delay:?} (seed {seed}), after:\n{log}");

        // Its engines die with it (their parent-death signal).
        let waiting = Instant::now();
        while !engines.iter().all(|&pid| gone(pid)) {
            assert!(
                waiting.elapsed() < Duration::from_secs(10),
                "an engine of the killed run outlived it: {engines:?}; {when}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }

        if db.exists() {
            assert_eq!(integrity(&db), "ok", "as the kill left it; {when}");
        }
        let store = Store::open(&db).unwrap_or_else(|e| panic!("the store: {e}; {when}"));
        let runs = store.runs().expect("list the runs");
        for run in &runs {
            assert_ne!(run.status, RunStatus::Running, "run {}; {when}", run.id);
        }
        // A kill before the run was begun leaves no run; otherwise it is the newest.
        assert!(
            (runs_before..=runs_before + 1).contains(&runs.len()),
            "{} runs, {runs_before} before; {when}",
            runs.len()
        );
        if runs.len() > runs_before {
            let summary = &runs[0];
            // Killed after the store finished the run (while printing its summary), it
            // stays completed; otherwise the open marked it interrupted.
            if summary.status == RunStatus::Completed {
                assert_eq!(summary.steps, 3, "{when}");
                finished += 1;
            } else {
                assert_eq!(summary.status, RunStatus::Interrupted, "{when}");
                let message = summary.message.as_deref().unwrap_or("");
                assert!(
                    message.contains("ended without finishing it"),
                    "{message}; {when}"
                );
            }
            let stored = store
                .run(summary.id)
                .unwrap_or_else(|e| panic!("run {} reads back: {e}; {when}", summary.id))
                .expect("the run");
            let steps = &stored.steps;
            assert!(
                steps.len() == printed.len() || steps.len() + 1 == printed.len(),
                "{} step(s) stored, {} printed; {when}",
                steps.len(),
                printed.len()
            );
            for (step, (engine, workload, level)) in steps.iter().zip(&printed) {
                assert_eq!(
                    (&step.engine, &step.workload, step.level),
                    (engine, workload, *level),
                    "{when}"
                );
                assert_eq!(step.failure, None, "{when}");
                assert!(step.load.completed > 0, "{step:?}; {when}");
                assert!(!step.samples.is_empty(), "no samples: {step:?}; {when}");
                assert!(!step.load.histogram.is_empty(), "no histogram; {when}");
            }
            steps_seen[steps.len()] += 1;
        } else {
            assert!(
                printed.is_empty(),
                "steps printed but no run stored; {when}"
            );
            not_begun += 1;
        }
        runs_before = runs.len();
        drop(store);
        assert_eq!(integrity(&db), "ok", "after the store's open; {when}");
    }

    // The listing a user sees says so too.
    let out = Command::new(exe())
        .args(["runs", "--json", "--db", "crash.db"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("workbench runs");
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let text = listing.to_string();
    let interrupted = text.matches("\"status\":\"interrupted\"").count();
    assert_eq!(interrupted, KILLS - not_begun - finished, "{text}");
    println!(
        "{kills} kills over a {span:?} run (seed {seed}), {late} runs ended first; \
         {not_begun} killed before the run was begun, then with 0/1/2/3 steps stored: \
         {steps_seen:?} ({finished} of them after the run was finished); integrity ok every \
         time"
    );
}
