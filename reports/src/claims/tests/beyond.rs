//! The judges of "readiness or completion" and "a loop per core": every outcome, with data a
//! loose threshold would pass.

use super::*;
use wb_model::results::{Syscalls, Window};

/// Gives `step` 20 windows of 1000 answers and the system calls of `per_answer ± spread`
/// each (in blocks of three windows, so that batch means keep the spread).
fn with_calls(step: &mut StepResult, per_answer: f64, spread: f64) {
    step.load.windows = (0..20)
        .map(|i| Window {
            at_ms: 1000 + i * 200,
            answers: 1000,
            errors: 0,
            p50_us: 0,
            p99_us: 0,
        })
        .collect();
    let mut total = 0.0;
    let mut readings = vec![[1000, 0]];
    for i in 0..20u64 {
        let wobble = if (i / 3) % 2 == 0 { 1.0 } else { -1.0 };
        total += (per_answer + wobble * spread) * 1000.0;
        readings.push([1200 + i * 200, total as u64]);
    }
    step.syscalls = Some(Syscalls {
        calls: [("read".to_string(), total as u64)].into(),
        answers: 20_000,
        readings,
    });
}

/// A hello run of the selector and uring at 64 connections with these calls per answer.
fn calls_run(selector: (f64, f64), uring: (f64, f64)) -> StoredRun {
    let mut r = hello_cpu(&[("selector", 20.0, 1.0), ("uring", 15.0, 1.0)]);
    for step in &mut r.steps {
        let (per, spread) = if step.engine == "uring" {
            uring
        } else {
            selector
        };
        with_calls(step, per, spread);
    }
    r
}

#[test]
fn readiness_completion_all_outcomes() {
    let slug = "readiness-completion";
    let cases = [
        // A tenth of the calls: completion batched them.
        ((2.5, 0.1), (0.2, 0.02), Verdict::Supported),
        // Fewer calls (a loose "fewer" would pass), but not half: refuted.
        ((2.5, 0.05), (1.6, 0.05), Verdict::NotSupported),
        // Half, give or take intervals that reach across the factor.
        ((2.5, 0.5), (1.1, 0.3), Verdict::Inconclusive),
    ];
    for (selector, uring, want) in cases {
        let r = calls_run(selector, uring);
        let found = judge(slug, &r);
        assert_eq!(found.0, want, "{selector:?} {uring:?}: {found:?}");
    }
    let lesson = LESSONS.iter().find(|l| l.slug == slug).unwrap();
    let f = (lesson.judge)(&calls_run((2.5, 0.1), (0.2, 0.02)));
    assert!(
        f.sentences
            .iter()
            .any(|s| s.contains("uring") && s.contains("read")),
        "{:?}",
        f.sentences
    );
    assert!(
        f.sentences.iter().any(|s| s.contains("--peers nginx")),
        "{:?}",
        f.sentences
    );
    // CPU per /hello beside nginx, when nginx ran.
    let mut r = hello_cpu(&[
        ("selector", 20.0, 1.0),
        ("uring", 15.0, 1.0),
        ("nginx", 12.0, 1.0),
    ]);
    for step in &mut r.steps {
        with_calls(step, 1.0, 0.01);
    }
    let f = (lesson.judge)(&r);
    assert!(
        f.sentences.iter().any(|s| s.contains("nginx (epoll")),
        "{:?}",
        f.sentences
    );
    // No uring: inconclusive, naming the engines.
    let (v, why) = judge(slug, &hello_cpu(&[("selector", 20.0, 1.0)]));
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("--engines selector,uring"), "{why}");
    // Steps without counts (an old run): inconclusive, never a verdict.
    let (v, why) = judge(
        slug,
        &hello_cpu(&[("selector", 20.0, 1.0), ("uring", 15.0, 1.0)]),
    );
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("system-call counts"), "{why}");
    // io_uring unavailable here: the steps say so, and so does the verdict.
    let mut r = calls_run((2.5, 0.1), (0.2, 0.02));
    for step in r.steps.iter_mut().filter(|s| s.engine == "uring") {
        step.flags.not_supported = Some("io_uring is not supported here: EPERM".into());
    }
    let (v, why) = judge(slug, &r);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("io_uring is not supported here"), "{why}");
    let (v, _) = judge(slug, &run("idle", vec![("selector", idle(120.0, 0.0))]));
    assert_eq!(v, Verdict::NoData);
}

/// A cpu run of one loop, two loops and threads at 4 connections: `(rps, ± rps, cores)`.
fn loops_run(one: (f64, f64, f64), two: (f64, f64, f64), cpus: u64) -> StoredRun {
    loops_run_with(one, two, (1900.0, 30.0, 1.9), cpus)
}

/// [`loops_run`] with the threads engine's figures too.
fn loops_run_with(
    one: (f64, f64, f64),
    two: (f64, f64, f64),
    threads: (f64, f64, f64),
    cpus: u64,
) -> StoredRun {
    let shape = |(rps, spread, cores): (f64, f64, f64)| {
        vec![(
            4,
            Shape {
                rps,
                rps_spread: spread,
                cores,
                cores_spread: 0.02,
                ..NONE
            },
        )]
    };
    let mut r = run(
        "cpu",
        vec![
            ("selector", shape(one)),
            ("selector-loops", shape(two)),
            ("threads", shape(threads)),
        ],
    );
    for step in &mut r.steps {
        let loops = if step.engine == "selector-loops" {
            2
        } else {
            1
        };
        step.facts = Some(EngineFacts {
            loops: Some(loops),
            cpus: Some(cpus),
            ..EngineFacts::default()
        });
    }
    r
}

#[test]
fn loop_per_core_all_outcomes() {
    let slug = "loop-per-core";
    let one = (1000.0, 20.0, 1.0);
    let cases = [
        // Two loops, nearly twice the answers on nearly two cores.
        ((1900.0, 30.0, 1.9), 2, Verdict::Supported),
        // More answers (a loose "more" would pass), but a tenth more: they did not scale.
        ((1100.0, 20.0, 1.05), 2, Verdict::NotSupported),
        // Half again, give or take: the interval reaches across 1.5×.
        ((1500.0, 300.0, 1.5), 2, Verdict::Inconclusive),
        // Placed on one CPU: nothing to scale onto, whatever the figures.
        ((1100.0, 20.0, 1.05), 1, Verdict::Inconclusive),
    ];
    for (two, cpus, want) in cases {
        let r = loops_run(one, two, cpus);
        let found = judge(slug, &r);
        assert_eq!(found.0, want, "{two:?} on {cpus} CPUs: {found:?}");
    }
    let lesson = LESSONS.iter().find(|l| l.slug == slug).unwrap();
    let f = (lesson.judge)(&loops_run(one, (1900.0, 30.0, 1.9), 2));
    assert!(
        f.sentences
            .iter()
            .any(|s| s.contains("2 loops") && s.contains("threads")),
        "{:?}",
        f.sentences
    );
    // Threads found no second core either (a busy machine): the loops' figures say nothing.
    let r = loops_run_with(one, (1100.0, 20.0, 1.05), (1150.0, 20.0, 1.1), 2);
    let (v, why) = judge(slug, &r);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("no second core"), "{why}");
    // No threads beside them: no proof of a free core, so no refutation.
    let mut r = loops_run(one, (1100.0, 20.0, 1.05), 2);
    r.steps.retain(|s| s.engine != "threads");
    let (v, why) = judge(slug, &r);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("add threads"), "{why}");
    // No engine with several loops: inconclusive, naming the flag.
    let mut r = loops_run(one, (1900.0, 30.0, 1.9), 2);
    r.steps.retain(|s| s.engine != "selector-loops");
    let (v, why) = judge(slug, &r);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("selector:loops=2"), "{why}");
    let (v, why) = judge(slug, &run("idle", vec![("selector", idle(120.0, 0.0))]));
    assert_eq!(v, Verdict::NoData);
    assert!(why.contains("--workloads hello,cpu,idle"), "{why}");
}
