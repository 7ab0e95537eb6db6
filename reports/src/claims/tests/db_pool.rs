//! "The database's connections are the real pool", fed data that supports it (including
//! growth past the pool that a loose threshold would call a gain), data that refutes it, data
//! inside the noise, a machine whose CPUs were busy, and no data.

use super::*;

/// One db step: `(level, answers per second, ± spread, engine cores)`.
type DbStep = (u64, f64, f64, f64);

/// A db run: each engine's steps, every step stating a database pool of 5 on a 4-CPU engine.
fn db_run(engines: Vec<(&str, Vec<DbStep>)>) -> StoredRun {
    let shaped = engines
        .into_iter()
        .map(|(e, levels)| {
            let levels = levels
                .into_iter()
                .map(|(level, rps, spread, cores)| {
                    let shape = Shape {
                        rps,
                        rps_spread: spread,
                        cores,
                        ..NONE
                    };
                    (level, shape)
                })
                .collect();
            (e, levels)
        })
        .collect();
    let mut r = run("db", shaped);
    for s in &mut r.steps {
        s.facts = Some(EngineFacts {
            db_pool: Some(5),
            cpus: Some(4),
            ..s.facts.clone().unwrap_or_default()
        });
        s.derived.database_cores = Some(0.2);
    }
    r
}

#[test]
fn past_the_pool_no_engine_gains() {
    // 17 % more past the pool: a loose "any gain beyond the noise" would call it growth;
    // within a quarter, it is the same cap.
    let run = db_run(vec![
        (
            "threads",
            vec![
                (1, 3000.0, 100.0, 0.3),
                (10, 9000.0, 200.0, 0.8),
                (50, 10500.0, 200.0, 0.9),
            ],
        ),
        (
            "coroutines",
            vec![
                (1, 3000.0, 100.0, 0.3),
                (10, 9500.0, 200.0, 0.8),
                (50, 9600.0, 200.0, 0.8),
            ],
        ),
    ]);
    let (verdict, why) = judge("db-pool", &run);
    assert_eq!(verdict, Verdict::Supported, "{why}");
}

#[test]
fn an_engine_that_keeps_gaining_refutes_it() {
    let run = db_run(vec![
        (
            "threads",
            vec![(10, 9000.0, 200.0, 0.8), (50, 9200.0, 200.0, 0.8)],
        ),
        (
            "coroutines",
            vec![(10, 5000.0, 200.0, 0.5), (50, 14000.0, 200.0, 0.9)],
        ),
    ]);
    let (verdict, why) = judge("db-pool", &run);
    assert_eq!(verdict, Verdict::NotSupported, "{why}");
    assert!(why.contains("coroutines"), "{why}");
}

#[test]
fn noise_too_few_levels_or_busy_cpus_leave_it_open() {
    // The top's interval straddles a quarter more.
    let noisy = db_run(vec![(
        "threads",
        vec![(10, 9000.0, 200.0, 0.8), (50, 11000.0, 900.0, 0.9)],
    )]);
    assert_eq!(judge("db-pool", &noisy).0, Verdict::Inconclusive);
    // Never measured at four times the full pool (twice the connections).
    let low = db_run(vec![(
        "threads",
        vec![(10, 9000.0, 200.0, 0.8), (20, 9100.0, 200.0, 0.8)],
    )]);
    assert_eq!(judge("db-pool", &low).0, Verdict::Inconclusive);
    // Flat, but engine and database used the engine's 4 CPUs where the pool filled.
    let busy = db_run(vec![(
        "threads",
        vec![(10, 9000.0, 200.0, 3.7), (50, 9100.0, 200.0, 3.7)],
    )]);
    let (verdict, why) = judge("db-pool", &busy);
    assert_eq!(verdict, Verdict::Inconclusive);
    assert!(why.contains("CPUs"), "{why}");
}

#[test]
fn without_the_db_workload_there_is_no_data() {
    let other = run(
        "hello",
        vec![("threads", vec![(1, Shape { rps: 1.0, ..NONE })])],
    );
    assert_eq!(judge("db-pool", &other).0, Verdict::NoData);
}
