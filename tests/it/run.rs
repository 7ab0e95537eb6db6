//! End to end: `workbench run` with tiny workloads on all four engines lands in a temporary
//! store with every step present, then `runs` and `show` read it back.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use wb_model::results::{EngineSpec, RunConfig, RunStatus};
use wb_model::spec::Workload;
use wb_reports::store::Store;
use wb_runner::{RunOutcome, Runner};

use crate::util::{TINY_IDLE, folder_with, workbench};

const TINY: &[(&str, &str)] = &[
    (
        "tiny-hello.toml",
        r#"name = "tiny-hello"
description = "hello, two small levels"
mode = "closed"
levels = [1, 4]
step_secs = 0.4
warmup_secs = 0.1
"#,
    ),
    (
        "tiny-db.toml",
        r#"name = "tiny-db"
description = "a 5 ms wait"
mode = "closed"
levels = [2, 8]
step_secs = 0.4
warmup_secs = 0.1
[request]
route = "work"
wait_ms = 5
cpu_us = 50
bytes = 100
"#,
    ),
    ("tiny-idle.toml", TINY_IDLE),
];

#[test]
fn a_tiny_run_on_every_engine_lands_in_the_store() {
    let dir = folder_with(TINY);
    let files: Vec<&str> = TINY.iter().map(|(f, _)| *f).collect();
    let out = workbench(
        dir.path(),
        &["run", "--db", "tiny.db", "--workloads", &files.join(",")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed: {stdout}\n{stderr}");

    let store = Store::open(dir.path().join("tiny.db")).unwrap();
    let id = store.latest_completed().unwrap().expect("a completed run");
    let run = store.run(id).unwrap().unwrap();
    assert_eq!(run.summary.status, RunStatus::Completed);
    let engines = ["threads", "pool", "selector", "coroutines"];
    // Workload by workload, the engines interleaved at each one (a slow drift of the machine
    // then touches every engine alike).
    let mut expected = Vec::new();
    for (name, levels) in [
        ("tiny-hello", vec![1, 4]),
        ("tiny-db", vec![2, 8]),
        ("tiny-idle", vec![0, 1, 3]),
    ] {
        for engine in engines {
            for &level in &levels {
                expected.push((engine.to_string(), name.to_string(), level));
            }
        }
    }
    let got: Vec<(String, String, u64)> = run
        .steps
        .iter()
        .map(|s| (s.engine.clone(), s.workload.clone(), s.level))
        .collect();
    assert_eq!(got, expected);
    for step in &run.steps {
        assert_eq!(
            step.failure, None,
            "{} {} {}",
            step.engine, step.workload, step.level
        );
        assert_eq!(step.load.errors.total(), 0, "{step:?}");
        assert!(
            !step.samples.is_empty(),
            "no samples: {} {}",
            step.engine,
            step.workload
        );
        if step.workload == "tiny-idle" {
            assert_eq!(step.load.connections, step.level, "{step:?}");
        } else {
            // Answers, or a request unanswered when the 0.4 s step ended: censored, not lost.
            assert!(
                step.load.completed > 0 || step.load.censored > 0,
                "{step:?}"
            );
        }
    }
    // Every engine answered. Not every 0.4 s step need have: with the whole suite's tests
    // running at once on two cores, an engine pinned to a CPU shared with a dozen others can
    // wait out a step before its first answer is sent (seen in CI), and a censored request is
    // what the step then rightly records.
    for engine in engines {
        let answered: u64 = run
            .steps
            .iter()
            .filter(|s| s.engine == engine && s.workload != "tiny-idle")
            .map(|s| s.load.completed)
            .sum();
        assert!(answered > 0, "{engine} answered nothing in the whole run");
    }

    let listed = workbench(dir.path(), &["runs", "--db", "tiny.db"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("completed"));
    let shown = workbench(dir.path(), &["show", "latest", "--db", "tiny.db"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("tiny-idle") && text.contains("per idle connection"),
        "{text}"
    );
    let json = workbench(
        dir.path(),
        &["show", &id.to_string(), "--json", "--db", "tiny.db"],
    );
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(
        value["steps"].as_array().map(Vec::len),
        Some(expected.len())
    );
}

#[test]
fn a_bad_workload_file_is_refused_with_the_field_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "name = \"bad\"\ndescription = \"x\"\nmode = \"closed\"\nlevels = [10, 1]\n",
    )
    .unwrap();
    let out = workbench(
        dir.path(),
        &["run", "--db", "bad.db", "--workloads", "bad.toml"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("levels") && stderr.contains("ascending"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_engine_is_refused_with_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let out = workbench(dir.path(), &["run", "--db", "x.db", "--engines", "fibers"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fibers") && stderr.contains("selector"),
        "{stderr}"
    );
}

/// The engine `engine` with `args`, under its own label.
fn labelled(label: &str, engine: &str, args: &[&str]) -> EngineSpec {
    EngineSpec {
        label: label.into(),
        args: args.iter().map(|arg| arg.to_string()).collect(),
        ..EngineSpec::plain(engine)
    }
}

/// Runs `engines` on `workload` in this process, as `workbench run` does (traced with
/// `trace`, as `run --trace`), recording into `store`.
fn run_in_process(
    store: &mut Store,
    engines: Vec<EngineSpec>,
    workload: Workload,
    trace: bool,
) -> RunOutcome {
    let config = RunConfig {
        suite: None,
        engines,
        workloads: vec![workload],
        pin: false,
        peer_versions: Default::default(),
        repeat: 1,
        placement: None,
    };
    let runner = Runner {
        exe: env!("CARGO_BIN_EXE_workbench").into(),
        config,
        machine: wb_runner::machine::collect("test", "test"),
        cancel: Arc::new(AtomicBool::new(false)),
        trace,
    };
    let mut recorder = wb_reports::record::Recorder::new(store);
    runner.run(&mut recorder)
}

/// An engine that cannot start fails its steps with the reason; the run goes on to the next
/// engine, completes, and the store keeps every step with what happened.
#[test]
fn an_engine_that_fails_fails_its_steps_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut workload = Workload::from_toml(TINY[0].1, "tiny-hello.toml").unwrap();
    workload.levels = vec![1, 2];
    // Refused by the engine (the smallest stack it accepts is 32 KiB): it exits at once.
    let broken = labelled("threads-broken", "threads", &["--stack-size", "1"]);
    let mut store = Store::open(dir.path().join("failed.db")).unwrap();
    let engines = vec![broken, EngineSpec::plain("selector")];
    let outcome = run_in_process(&mut store, engines, workload, false);
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(outcome.failed_steps, 2);
    let id = store.latest_completed().unwrap().unwrap();
    let run = store.run(id).unwrap().unwrap();
    assert_eq!(run.steps.len(), 4);
    for step in &run.steps[..2] {
        let why = step.failure.as_deref().unwrap_or_default();
        assert!(why.contains("threads-broken"), "{why}");
    }
    for step in &run.steps[2..] {
        assert_eq!(step.failure, None);
        assert!(step.load.completed > 0);
    }
    assert!(
        run.summary
            .message
            .unwrap_or_default()
            .contains("2 step(s) failed")
    );
}

/// `run --trace`: each engine's traced window is stored with the run and drawn with one lane
/// per thread or worker — the pool's two workers, every connection thread of `threads`, the
/// selector's loop.
#[test]
fn a_traced_tiny_run_stores_a_timeline_with_a_lane_per_thread_or_worker() {
    use std::collections::BTreeSet;

    let dir = tempfile::tempdir().unwrap();
    // tiny-db: levels 2 and 8, so the middle level traced is 8 connections, each waiting 5 ms.
    let workload = Workload::from_toml(TINY[1].1, "tiny-db.toml").unwrap();
    let pool = labelled("pool-2", "pool", &["--workers", "2"]);
    let mut store = Store::open(dir.path().join("traced.db")).unwrap();
    let engines = vec![
        EngineSpec::plain("threads"),
        pool,
        EngineSpec::plain("selector"),
    ];
    let outcome = run_in_process(&mut store, engines, workload, true);
    assert_eq!(outcome.status, RunStatus::Completed);
    let id = store.latest_completed().unwrap().unwrap();
    let traces = store.traces(id).unwrap();
    let labels: Vec<&str> = traces.iter().map(|t| t.engine.as_str()).collect();
    assert_eq!(labels, ["pool-2", "selector", "threads"]);
    for trace in &traces {
        assert_eq!(trace.level, 8, "the middle level");
        assert!(!trace.spans.is_empty(), "{} recorded nothing", trace.engine);
        let lanes: BTreeSet<(u32, u32)> = trace.spans.iter().map(|s| (s.pid, s.tid)).collect();
        let pids: BTreeSet<u32> = trace.spans.iter().map(|s| s.pid).collect();
        match trace.engine.as_str() {
            "pool-2" => assert_eq!(pids.len(), 2, "one lane per worker: {lanes:?}"),
            // The accept loop and eight connection threads.
            "threads" => assert!(lanes.len() > 8, "{lanes:?}"),
            _ => assert_eq!(lanes.len(), 1, "the selector's one loop: {lanes:?}"),
        }
        let chart = wb_reports::charts::timeline(trace);
        assert!(!chart.empty);
        assert_eq!(chart.table.rows.len(), lanes.len(), "a table row per lane");
    }
    // Every engine described what one connection holds.
    let described = store.descriptions(id).unwrap();
    assert_eq!(described.len(), 3);
    let threads = &described.iter().find(|(l, _)| l == "threads").unwrap().1;
    assert!(threads.per_connection.stack_bytes.unwrap() > 0);
}
