//! The result store against real files and real processes.
//!
//! `killed_writer_role` is a no-op in a normal run; when `STORE_TEST_DB` is set, this test
//! binary, run again as a child, becomes a writer that begins a run, records one step and
//! waits to be killed — a run whose process really died.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use wb_model::results::{
    Calibration, Derived, EngineSpec, ErrorCounts, Flags, Latency, LoadReport, MachineFacts,
    RunConfig, RunStatus, Sample, StepResult,
};
use wb_model::spec::{Mode, Workload};
use wb_reports::store::{Error, MIGRATIONS, RunId, Store};

const DB_ENV: &str = "STORE_TEST_DB";
const READY: &str = "STORE-CHILD-READY";

fn config() -> RunConfig {
    RunConfig {
        suite: Some("quick".into()),
        engines: vec![
            EngineSpec::plain("threads"),
            EngineSpec {
                label: "selector+offload".into(),
                engine: "selector".into(),
                args: vec!["--offload".into()],
                peer: false,
            },
            EngineSpec::peer("asyncio"),
        ],
        workloads: Workload::presets().into_iter().take(2).collect(),
        pin: true,
        peer_versions: [("twisted".to_string(), "26.10.0".to_string())].into(),
        repeat: 1,
        placement: None,
    }
}

fn machine() -> MachineFacts {
    MachineFacts {
        cpu_model: "Test CPU @ 3.00GHz".into(),
        cores: 2,
        memory_bytes: 8 << 30,
        kernel: "6.1.0-test".into(),
        open_files_limit: 20_000,
        rustc: "rustc 1.85.0".into(),
        git_revision: "abc123".into(),
        hostname: "bench".into(),
        max_map_count: 65530,
        hosts: Vec::new(),
    }
}

fn calibration() -> Calibration {
    Calibration {
        rounds_per_us: 1.234_567_890_123,
        rounds_timed: 1_000_000,
        secs: 0.1 + 0.2, // not 0.3: floats must come back bit for bit
    }
}

fn sample(i: u64, x: f64) -> Sample {
    Sample {
        at_ms: 200 * i,
        rss_bytes: 10_000_000 + i,
        pss_bytes: 9_000_000 + i,
        uss_bytes: 8_000_000 + i,
        vsz_bytes: 900_000_000 + i,
        processes: 3,
        threads: 7 + i,
        cpu_user_secs: x,
        cpu_system_secs: x / 3.0,
        ctx_voluntary: 1000 + i,
        ctx_involuntary: 10 + i,
        open_fds: 12,
        tcp_inuse: 105,
        tcp_mem_bytes: 4096 * 17,
        kernel_stack_bytes: 16384 * 9,
        slab_unreclaim_bytes: 50_000_000,
        client_cpu_secs: x * std::f64::consts::PI,
    }
}

/// Two steps that differ in every optional part, with fields no default would fill.
fn steps() -> [StepResult; 2] {
    let latency = Latency {
        count: 12_345,
        mean_us: 812.123_456_789,
        p50_us: 700,
        p90_us: 1200,
        p99_us: 2500,
        p999_us: 4100,
        max_us: 9000,
        censored: 7,
        censored_late: 5,
        late_requests: 5,
    };
    let first = StepResult {
        engine: "threads".into(),
        workload: "hello".into(),
        mode: Mode::Open,
        level: 2000,
        load: LoadReport {
            elapsed_secs: 3.000_123,
            completed: 12_345,
            censored: 7,
            errors: ErrorCounts {
                connect: 1,
                timeout: 2,
                reset: 3,
                bad_response: 4,
            },
            latency,
            latency_uncorrected: Some(Latency {
                mean_us: 400.5,
                ..latency
            }),
            histogram: vec![0x1c, 0x84, 0x93, 0x14, 0, 0, 0, 0x2a, 0xff, 0],
            connections: 64,
            not_reached: None,
            bytes_received: 1 << 33,
            status_codes: [(200, 12_345), (503, 4)].into_iter().collect(),
            windows: vec![
                wb_model::results::Window {
                    at_ms: 500,
                    answers: 800,
                    errors: 1,
                    p50_us: 120,
                    p99_us: 950,
                },
                wb_model::results::Window {
                    at_ms: 700,
                    answers: 0,
                    ..Default::default()
                },
            ],
            hosts: Vec::new(),
        },
        samples: (0..4).map(|i| sample(i, 0.01 * i as f64 + 1e-9)).collect(),
        derived: Derived {
            throughput_rps: 4115.0 / 1.000_041,
            peak_pss_bytes: 9_000_003,
            mean_pss_bytes: 9_000_001,
            peak_rss_bytes: 10_000_003,
            mean_rss_bytes: 10_000_001,
            peak_vsz_bytes: 900_000_003,
            engine_cores: 0.731_234,
            client_cores: 0.95,
            ctx_switches_per_sec: 3210.987,
            threads_max: 10,
            tcp_mem_bytes: 4096 * 17,
            slab_unreclaim_bytes: 50_000_000,
            kernel_stack_bytes: 16384 * 9,
            // A count workload's reading, kept with the step.
            counter_growth: Some(4113),
            // A database workload's readings of PostgreSQL's process tree.
            database_cores: Some(0.123_456),
            database_peak_pss_bytes: Some(61_234_567),
        },
        flags: Flags {
            client_saturated: true,
            littles_law_off: false,
            level_not_reached: None,
            not_supported: None,
        },
        failure: None,
        estimates: wb_model::results::Estimates {
            engine_us_per_request: Some(177.7),
            client_us_per_request: Some(230.1),
            throughput_ci: Some([4000.5, 4230.25]),
            p99_ci_us: Some([900.0, 1100.0]),
            engine_us_per_request_ci: None,
        },
        repeat: 2,
        facts: None,
        syscalls: None,
    };
    let second = StepResult {
        engine: "selector+offload".into(),
        workload: "idle".into(),
        mode: Mode::Idle,
        level: 19_000,
        load: LoadReport {
            latency_uncorrected: None,
            histogram: Vec::new(),
            not_reached: Some("open-files limit".into()),
            ..first.load.clone()
        },
        samples: Vec::new(),
        flags: Flags {
            client_saturated: false,
            littles_law_off: true,
            level_not_reached: Some("open-files limit".into()),
            not_supported: Some("nginx serves /hello only".into()),
        },
        failure: Some("the engine exited with signal 9".into()),
        ..first.clone()
    };
    [first, second]
}

fn user_version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[test]
fn a_run_round_trips_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workbench.db");
    let mut store = Store::open(&path).unwrap();
    assert!(!store.has_completed_run().unwrap());
    assert_eq!(store.latest_completed().unwrap(), None);

    let run = store
        .begin_run(&config(), &machine(), &calibration())
        .unwrap();
    for step in steps() {
        store.record_step(run, &step).unwrap();
    }
    store
        .finish_run(run, RunStatus::Completed, Some("all steps ran"))
        .unwrap();
    let later = store
        .begin_run(&config(), &machine(), &calibration())
        .unwrap();
    drop(store);

    // Read back through a fresh connection: everything came from the file.
    let store = Store::open(&path).unwrap();
    let stored = store.run(run).unwrap().unwrap();
    assert_eq!(stored.config, config());
    assert_eq!(stored.calibration, calibration());
    assert_eq!(stored.steps, steps());
    let summary = &stored.summary;
    assert_eq!(summary.id, run);
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.suite.as_deref(), Some("quick"));
    assert_eq!(
        stored.summary.engines,
        ["threads", "selector+offload", "asyncio"]
    );
    let names: Vec<String> = config().workloads.into_iter().map(|w| w.name).collect();
    assert_eq!(summary.workloads, names);
    assert_eq!(summary.steps, 2);
    assert_eq!(summary.message.as_deref(), Some("all steps ran"));
    assert_eq!(summary.machine, machine());
    assert!(summary.finished_at.unwrap() >= summary.started_at);

    // Newest first; the later run is still running (this process owns it).
    let runs = store.runs().unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [later, run]);
    assert_eq!(runs[0].status, RunStatus::Running);
    assert_eq!(runs[0].finished_at, None);
    assert_eq!(runs[0].steps, 0);
    assert_eq!(&runs[1], summary);
    assert_eq!(store.latest_completed().unwrap(), Some(run));
    assert!(store.has_completed_run().unwrap());
    assert!(store.run(RunId(9999)).unwrap().is_none());
}

#[test]
fn a_run_whose_process_died_is_interrupted_and_a_live_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workbench.db");
    let mut store = Store::open(&path).unwrap();
    let orphan = store
        .begin_run(&config(), &machine(), &calibration())
        .unwrap();
    store.record_step(orphan, &steps()[0]).unwrap();
    let live = store
        .begin_run(&config(), &machine(), &calibration())
        .unwrap();
    drop(store);

    // A pid that is certainly free: a child that has exited and been reaped.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--list")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE runs SET owner_pid = ?1 WHERE id = ?2",
            (dead_pid, orphan.0),
        )
        .unwrap();

    let store = Store::open(&path).unwrap();
    let orphan = store.run(orphan).unwrap().unwrap().summary;
    assert_eq!(orphan.status, RunStatus::Interrupted);
    assert_eq!(
        orphan.message.unwrap(),
        format!("the process running it (pid {dead_pid}) ended without finishing it")
    );
    assert!(orphan.finished_at.unwrap() >= orphan.started_at);
    assert_eq!(orphan.steps, 1);
    let live = store.run(live).unwrap().unwrap().summary;
    assert_eq!(live.status, RunStatus::Running);
    assert_eq!(live.message, None);
}

#[test]
fn a_reused_pid_does_not_keep_a_dead_run_alive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workbench.db");
    let run = Store::open(&path)
        .unwrap()
        .begin_run(&config(), &machine(), &calibration())
        .unwrap();
    // The pid is this live process, but the start time is not its own: the process that
    // began the run is gone and its pid was reused.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE runs SET owner_start_ticks = owner_start_ticks - 1",
            (),
        )
        .unwrap();
    let store = Store::open(&path).unwrap();
    let summary = store.run(run).unwrap().unwrap().summary;
    assert_eq!(summary.status, RunStatus::Interrupted);
}

#[test]
fn migrations_set_the_version_and_reopening_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workbench.db");
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let run = store
        .begin_run(&config(), &machine(), &calibration())
        .unwrap();
    store.record_step(run, &steps()[0]).unwrap();
    store
        .finish_run(run, RunStatus::Failed, Some("boom"))
        .unwrap();
    let before = store.run(run).unwrap();
    drop(store);
    assert_eq!(user_version(&path), MIGRATIONS.len() as i64);

    // Opening a file at the current version changes nothing.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(store.run(run).unwrap(), before);
    assert_eq!(store.runs().unwrap().len(), 1);
    drop(store);

    // A file from a newer workbench is refused, not guessed at.
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    match Store::open(&path) {
        Err(Error::NewerSchema { found, supported }) => {
            assert_eq!((found, supported), (999, MIGRATIONS.len() as i64));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn steps_go_only_into_running_runs_and_must_be_finite() {
    let mut store = Store::open_in_memory().unwrap();
    let step = &steps()[0];
    assert!(matches!(
        store.record_step(RunId(7), step),
        Err(Error::NoSuchRun(RunId(7)))
    ));
    assert!(matches!(
        store.finish_run(RunId(7), RunStatus::Completed, None),
        Err(Error::NoSuchRun(RunId(7)))
    ));

    let run = store
        .begin_run(&config(), &machine(), &calibration())
        .unwrap();
    let mut bad = step.clone();
    bad.derived.ctx_switches_per_sec = f64::NAN;
    match store.record_step(run, &bad) {
        Err(Error::NotFinite { field, .. }) => assert_eq!(field, "derived.ctx_switches_per_sec"),
        other => panic!("expected NotFinite, got {other:?}"),
    }
    assert!(matches!(
        store.finish_run(run, RunStatus::Running, None),
        Err(Error::FinishedAsRunning)
    ));
    assert_eq!(store.run(run).unwrap().unwrap().steps, []);

    store.finish_run(run, RunStatus::Interrupted, None).unwrap();
    assert!(matches!(
        store.record_step(run, step),
        Err(Error::NotRunning {
            status: RunStatus::Interrupted,
            ..
        })
    ));
}

/// The name the test harness knows the test `name` of this file by: `store::name` when the
/// file is a module of the crate's one test binary.
fn test_name(name: &str) -> String {
    match module_path!().split_once("::") {
        Some((_crate, module)) => format!("{module}::{name}"),
        None => name.to_string(),
    }
}

/// The child of [`a_killed_run_keeps_its_finished_steps`]; a no-op unless [`DB_ENV`] is set.
#[test]
fn killed_writer_role() {
    let Ok(path) = std::env::var(DB_ENV) else {
        return;
    };
    let mut store = Store::open(path).unwrap();
    let run = store
        .begin_run(&config(), &machine(), &calibration())
        .unwrap();
    store.record_step(run, &steps()[0]).unwrap();
    let mut out = std::io::stdout().lock();
    // The harness has printed `test killed_writer_role ... ` without a newline.
    writeln!(out, "\n{READY}").unwrap();
    out.flush().unwrap();
    // Wait to be killed (or for the test to go away).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    std::process::exit(0);
}

#[test]
fn a_killed_run_keeps_its_finished_steps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workbench.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test_name("killed_writer_role"), "--nocapture"])
        .env(DB_ENV, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut output = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while !output.contains(READY) {
        assert_eq!(stdout.read(&mut byte).unwrap(), 1, "child ended: {output}");
        output.push(byte[0] as char);
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no finish_run
    child.wait().unwrap();

    let store = Store::open(&path).unwrap();
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 1);
    let stored = store.run(runs[0].id).unwrap().unwrap();
    assert_eq!(stored.summary.status, RunStatus::Interrupted);
    assert_eq!(
        stored.summary.message.unwrap(),
        format!("the process running it (pid {pid}) ended without finishing it")
    );
    assert_eq!(stored.steps, [steps()[0].clone()]);
}
