//! The two lessons of the talk's chapters on runners and on safety: the GIL and race
//! conditions, each fed data that supports it, data that refutes it (including data that a
//! loose threshold would pass but the contrast fails), data inside the noise and data missing
//! its key servers.

use super::*;

/// `(engine, workload, level, answers, counter growth)`: one count step.
pub(super) type CountRow = (&'static str, &'static str, u64, u64, u64);

/// A run of the count workloads with these steps (answers and the counter's growth).
pub(super) fn count_run(rows: &[CountRow]) -> StoredRun {
    let of = |workload: &str| {
        let mut engines: Vec<(&str, Vec<(u64, Shape)>)> = Vec::new();
        for &(e, w, level, _, _) in rows.iter().filter(|r| r.1 == workload) {
            let shape = Shape { rps: 1.0, ..NONE };
            match engines.iter_mut().find(|(name, _)| *name == e) {
                Some((_, levels)) => levels.push((level, shape)),
                None => engines.push((e, vec![(level, shape)])),
            }
            let _ = w;
        }
        engines
    };
    let mut r = run("count", of("count"));
    let nowait = of("count-nowait");
    if !nowait.is_empty() {
        let other = run("count-nowait", nowait);
        r.steps.extend(other.steps);
        r.config.workloads.extend(other.config.workloads);
    }
    for s in &mut r.steps {
        let &(_, _, _, answers, growth) = rows
            .iter()
            .find(|row| row.0 == s.engine && row.1 == s.workload && row.2 == s.level)
            .unwrap();
        s.load.completed = answers;
        s.derived.counter_growth = Some(growth);
    }
    r
}

#[test]
fn race_conditions_all_outcomes() {
    use Verdict::*;
    // threads at 10 connections with a 5 ms wait, the selector with it and without it.
    let cases: [(&str, [CountRow; 3], Verdict); 6] = [
        (
            "threads and the waiting loop lose most; the loop with no wait none",
            [
                ("threads", "count", 10, 2000, 210),
                ("selector", "count", 10, 2000, 205),
                ("selector", "count-nowait", 10, 30_000, 30_000),
            ],
            Supported,
        ),
        (
            // A loose "threads lose updates" passes; the contrast (one loop with nothing
            // between read and write loses none) fails.
            "the loop loses updates with no wait",
            [
                ("threads", "count", 10, 2000, 210),
                ("selector", "count", 10, 2000, 205),
                ("selector", "count-nowait", 10, 30_000, 20_000),
            ],
            NotSupported,
        ),
        (
            // Again the loose threshold passes (threads lose), but the loop lost nothing
            // with the wait between the read and the write.
            "the loop loses none even with the wait",
            [
                ("threads", "count", 10, 2000, 210),
                ("selector", "count", 10, 2000, 2000),
                ("selector", "count-nowait", 10, 30_000, 30_000),
            ],
            NotSupported,
        ),
        (
            "threads lose none",
            [
                ("threads", "count", 10, 2000, 2000),
                ("selector", "count", 10, 2000, 205),
                ("selector", "count-nowait", 10, 30_000, 30_000),
            ],
            NotSupported,
        ),
        (
            // 40 answers, 10 connections cut off at the end: a loss of 0 to 10 is inside
            // what the cut-off blurs.
            "too few answers to tell",
            [
                ("threads", "count", 10, 2000, 210),
                ("selector", "count", 10, 2000, 205),
                ("selector", "count-nowait", 10, 40, 40),
            ],
            Inconclusive,
        ),
        (
            // Growth a little under the answers: 5 to 15 lost of 1 000, across the 1 % line.
            "a loss inside the cut-off is neither",
            [
                ("threads", "count", 10, 1000, 995),
                ("selector", "count", 10, 2000, 205),
                ("selector", "count-nowait", 10, 30_000, 30_000),
            ],
            Inconclusive,
        ),
    ];
    for (what, rows, want) in cases {
        let r = count_run(&rows);
        let (verdict, why) = judge("race-conditions", &r);
        assert_eq!(verdict, want, "{what}: {why}");
    }
}

#[test]
fn race_conditions_needs_its_servers_and_counts_no_process_pool() {
    // No count-nowait step of the loop: inconclusive, naming the workloads to run.
    let r = count_run(&[
        ("threads", "count", 10, 2000, 210),
        ("selector", "count", 10, 2000, 205),
    ]);
    let (v, why) = judge("race-conditions", &r);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("count-nowait"), "{why}");
    // No threads at all.
    let r = count_run(&[
        ("selector", "count", 10, 2000, 205),
        ("selector", "count-nowait", 10, 30_000, 30_000),
    ]);
    let (v, why) = judge("race-conditions", &r);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("--engines threads"), "{why}");
    // Only one connection: nothing can race, and nothing is judged.
    let r = count_run(&[
        ("threads", "count", 1, 200, 200),
        ("selector", "count", 1, 200, 200),
        ("selector", "count-nowait", 1, 9000, 9000),
    ]);
    assert_eq!(judge("race-conditions", &r).0, Verdict::Inconclusive);
    // The pool's counter is per worker: its "loss" is no evidence, and the page says why.
    let r = count_run(&[
        ("threads", "count", 10, 2000, 210),
        ("pool", "count", 10, 2000, 400),
        ("selector", "count", 10, 2000, 205),
        ("selector", "count-nowait", 10, 30_000, 30_000),
    ]);
    let lesson = LESSONS
        .iter()
        .find(|l| l.slug == "race-conditions")
        .unwrap();
    let f = (lesson.judge)(&r);
    assert_eq!(f.verdict, Verdict::Supported);
    let text = f.sentences.join(" ");
    assert!(text.contains("pool runs processes"), "{text}");
    assert!(!text.contains("pool lost"), "{text}");
    // The lock that does not hold refutes the fix.
    let r = count_run(&[
        ("threads", "count", 10, 2000, 210),
        ("threads-locked", "count", 10, 200, 100),
        ("selector", "count", 10, 2000, 205),
        ("selector", "count-nowait", 10, 30_000, 30_000),
    ]);
    assert_eq!(judge("race-conditions", &r).0, Verdict::NotSupported);
    // Python threads stand in for the threads engine.
    let r = count_run(&[
        ("python-threads", "count", 10, 1500, 160),
        ("asyncio", "count", 10, 1500, 150),
        ("asyncio", "count-nowait", 10, 8000, 8000),
    ]);
    assert_eq!(judge("race-conditions", &r).0, Verdict::Supported);
    // No count workload at all.
    let r = run("cpu", vec![("threads", vec![(2, NONE)])]);
    assert_eq!(judge("race-conditions", &r).0, Verdict::NoData);
}

/// Cores of the cpu workload's steps at levels 2 and 4.
fn cpu(cores: f64, spread: f64) -> Vec<(u64, Shape)> {
    let shape = Shape {
        rps: 1000.0,
        cores,
        cores_spread: spread,
        ..NONE
    };
    vec![(2, shape), (4, shape)]
}

#[test]
fn gil_all_outcomes() {
    use Verdict::*;
    let cases = [
        (
            "threads at one core, processes at two",
            cpu(1.0, 0.05),
            cpu(1.9, 0.05),
            Supported,
        ),
        // A loose "processes use more cores than threads" passes (1.6 > 1.2), but the
        // threads were above one core: that is no GIL.
        (
            "threads above one core",
            cpu(1.6, 0.05),
            cpu(1.9, 0.05),
            NotSupported,
        ),
        // Threads at one core, but the processes did not pass it either.
        (
            "processes at one core too",
            cpu(0.95, 0.02),
            cpu(0.85, 0.05),
            NotSupported,
        ),
        // Nobody kept a core busy (a loose "threads ≤ 1 core" passes): no cap can show.
        ("unsaturated", cpu(0.5, 0.05), cpu(0.6, 0.05), Inconclusive),
        (
            "inside the noise",
            cpu(1.0, 0.3),
            cpu(1.3, 0.3),
            Inconclusive,
        ),
        // No interval (too few samples, below): no firm verdict.
        ("no interval", cpu(1.0, 0.0), cpu(1.9, 0.0), Inconclusive),
    ];
    for (what, threads, processes, want) in cases {
        let mut r = run(
            "cpu",
            vec![("python-threads", threads), ("gunicorn-sync", processes)],
        );
        if what == "no interval" {
            for s in &mut r.steps {
                s.samples.truncate(3);
            }
        }
        let (verdict, why) = judge("gil", &r);
        assert_eq!(verdict, want, "{what}: {why}");
    }
    // gunicorn's thread pool counts as threads, and both must stay near one core.
    let r = run(
        "cpu",
        vec![
            ("python-threads", cpu(1.0, 0.05)),
            ("gunicorn-gthread", cpu(1.7, 0.05)),
            ("gunicorn-sync", cpu(1.9, 0.05)),
        ],
    );
    assert_ne!(judge("gil", &r).0, Supported);
}

#[test]
fn gil_names_the_command_when_peers_are_missing() {
    let r = run("cpu", vec![("threads", cpu(1.9, 0.05))]);
    let (v, why) = judge("gil", &r);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("workbench peers install"), "{why}");
    let r = run("cpu", vec![("python-threads", cpu(1.0, 0.05))]);
    let (v, why) = judge("gil", &r);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(why.contains("gunicorn-sync"), "{why}");
    let r = run("hello", vec![("threads", vec![(1, NONE)])]);
    assert_eq!(judge("gil", &r).0, Verdict::NoData);
}
