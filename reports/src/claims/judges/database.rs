//! "The database's connections are the real pool": the db workload's judge.
//!
//! Each engine says in its ready line how many database connections it may hold
//! (`db_pool`: `--db-pool`, or the prefork pool's workers). The claim, as a contrast real
//! data could refute: once there are clients enough to keep every database connection busy
//! (twice as many as connections: while one client reads its answer, another's query runs),
//! more clients bring no more answers — whatever the model — only waiting. An engine whose
//! throughput keeps growing well past that refutes it. When the machine's CPUs were already
//! busy where the pool filled, the flat line could be the CPUs' and not the pool's:
//! inconclusive.

use super::*;

/// The db workload's name.
const WORKLOAD: &str = "db";

/// Past the pool, throughput may grow by at most this fraction before "no more answers" is
/// refuted: a quarter is far beyond what a level's noise moves (the windows' intervals are a
/// few percent wide) and far below what more connections would give a model not held back by
/// its pool (several times as many clients).
pub const PAST_POOL_GAIN: f64 = 1.25;

/// Clients per database connection that keep the pool full: at exactly one per connection,
/// each connection idles while its client reads the answer and sends the next request (a
/// loopback round trip, as long as the query itself here), so the cap is not reached yet; at
/// two, another client's query is always waiting.
pub const FULL_POOL_FACTOR: u64 = 2;

/// The top level must be at least this many times the full pool's level for "past the pool"
/// to mean anything: four times as many clients, three quarters of whom wait.
pub const PAST_POOL_FACTOR: u64 = 4;

/// Engine, database and load generator together using this fraction of the CPUs the engine
/// may run on is "the machine was busy": then the CPUs, not the pool, may have set the cap.
pub const BUSY_CPUS: f64 = 0.9;

/// What one engine's steps say.
enum Shape {
    /// Flat past the pool (within [`PAST_POOL_GAIN`]).
    Capped,
    /// Grew past the pool beyond [`PAST_POOL_GAIN`], and by how much.
    Grew(f64),
    /// Inside the noise, or not enough levels: why.
    Unclear(String),
}

pub(in crate::claims) fn db_pool(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, WORKLOAD) else {
        return no_run_of(WORKLOAD);
    };
    let steps = refs(&owned);
    let mut labels: Vec<String> = steps.iter().map(|s| s.engine.clone()).collect();
    labels.sort();
    labels.dedup();
    wb_model::engines::sort(&mut labels);
    let mut sentences = vec![format!(
        "Every request reads one row of PostgreSQL's World table through the engine's own \
         client and pool. {}.",
        crate::claims::talk::WAITING
    )];
    let mut shapes = Vec::new();
    let mut busy = Vec::new();
    for label in &labels {
        // Steps that answered every request: a step with errors (a 503: a query refused or
        // failed) is no evidence of a cap.
        let good: Vec<&StepResult> = ok_steps(&steps, label)
            .into_iter()
            .filter(|s| s.load.errors.total() == 0 && s.load.completed > 0)
            .collect();
        let Some(pool) = good.iter().find_map(|s| s.facts.as_ref()?.db_pool) else {
            let failed = ok_steps(&steps, label)
                .iter()
                .map(|s| s.load.errors.total())
                .sum::<u64>();
            if failed > 0 {
                sentences.push(format!(
                    "{label} answered with errors ({failed} in all), so its steps are left \
                     out."
                ));
            }
            continue;
        };
        let full = FULL_POOL_FACTOR * pool;
        let Some(at_pool) = good.iter().copied().find(|s| s.level >= full) else {
            shapes.push((
                label.clone(),
                Shape::Unclear(format!(
                    "{label} was not measured at {full} clients ({FULL_POOL_FACTOR}× its {pool} \
                     database connections)"
                )),
            ));
            continue;
        };
        let Some(top) = good
            .iter()
            .copied()
            .rfind(|s| s.level >= PAST_POOL_FACTOR * at_pool.level)
        else {
            shapes.push((
                label.clone(),
                Shape::Unclear(format!(
                    "{label} was not measured at {PAST_POOL_FACTOR}× {} clients",
                    at_pool.level
                )),
            ));
            continue;
        };
        let (low, high) = (throughput_estimate(at_pool), throughput_estimate(top));
        sentences.push(format!(
            "{label} ({pool} database {}): {} at {} clients, {} at {} clients; the median \
             answer took {} then {}.",
            plural(pool, "connection", "connections"),
            with_spread(&low, format::rps),
            at_pool.level,
            with_spread(&high, format::rps),
            top.level,
            format::latency(&at_pool.load.latency, "p50"),
            format::latency(&top.load.latency, "p50"),
        ));
        if let Some(cores) = top.derived.database_cores {
            sentences.push(format!(
                "At {} clients the database's own processes used {} beside {label}'s {} \
                 ({} of database CPU per answer).",
                top.level,
                format::cores(cores),
                format::cores(top.derived.engine_cores),
                top.database_us_per_request()
                    .map_or("—".to_string(), format::micros),
            ));
        }
        let cpus = at_pool.facts.as_ref().and_then(|f| f.cpus);
        let used = at_pool.derived.engine_cores
            + at_pool.derived.client_cores
            + at_pool.derived.database_cores.unwrap_or(0.0);
        if let Some(cpus) = cpus
            && used >= BUSY_CPUS * cpus as f64
        {
            busy.push(format!(
                "{label} at {} clients: {} of {cpus} {}",
                at_pool.level,
                format::cores(used),
                plural(cpus, "CPU", "CPUs")
            ));
        }
        let shape = match at_least(&high, PAST_POOL_GAIN, &low) {
            Some(true) => Shape::Grew(high.value / low.value),
            Some(false) => Shape::Capped,
            _ => Shape::Unclear(format!(
                "{label}'s throughput at {} clients, {}, is within the noise of {PAST_POOL_GAIN}× \
                 its {} at {} clients, where its pool was full",
                top.level,
                with_spread(&high, format::rps),
                with_spread(&low, format::rps),
                at_pool.level
            )),
        };
        shapes.push((label.clone(), shape));
    }
    let charts = vec![
        charts::throughput(&run.steps, WORKLOAD),
        charts::latency(&run.steps, WORKLOAD),
        charts::cores(&run.steps, WORKLOAD),
    ];
    let outcome = judge(&shapes, &busy);
    let headline = sentences.get(1).cloned();
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}

/// The verdict from each engine's shape and the busy machines.
fn judge(shapes: &[(String, Shape)], busy: &[String]) -> Outcome {
    if shapes.is_empty() {
        return Outcome::Inconclusive(
            "No engine of this run answered the db workload without errors and stated its \
             database pool: run `workbench run --engines threads,pool,coroutines --workloads db`."
                .into(),
        );
    }
    if let Some((label, Shape::Grew(ratio))) =
        shapes.iter().find(|(_, s)| matches!(s, Shape::Grew(_)))
    {
        return Outcome::NotSupported(format!(
            "{label} answered {ratio:.2}× as many requests with {PAST_POOL_FACTOR}× the clients \
             or more, past its full pool: its database connections did not cap it."
        ));
    }
    if let Some((_, Shape::Unclear(why))) =
        shapes.iter().find(|(_, s)| matches!(s, Shape::Unclear(_)))
    {
        return Outcome::Inconclusive(format!("{why}."));
    }
    if !busy.is_empty() {
        return Outcome::Inconclusive(format!(
            "Every engine stopped gaining past its pool, but the machine's CPUs were already \
             busy where the pool filled ({}): the cap may be the CPUs'. A smaller pool \
             (`--engines threads:db-pool=1,coroutines:db-pool=1,pool:workers=1`) puts it \
             below them.",
            busy.join("; ")
        ));
    }
    Outcome::Supported
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(label: &str) -> (String, Shape) {
        (label.to_string(), Shape::Capped)
    }

    #[test]
    fn growth_past_the_pool_refutes_and_noise_or_busy_cpus_leave_it_open() {
        assert!(matches!(
            judge(&[capped("threads"), capped("pool")], &[]),
            Outcome::Supported
        ));
        assert!(matches!(
            judge(
                &[capped("threads"), ("coroutines".into(), Shape::Grew(3.0))],
                &[]
            ),
            Outcome::NotSupported(_)
        ));
        assert!(matches!(
            judge(
                &[
                    capped("threads"),
                    ("pool".into(), Shape::Unclear("x".into()))
                ],
                &[]
            ),
            Outcome::Inconclusive(_)
        ));
        assert!(matches!(
            judge(&[capped("threads")], &["threads at 5 clients".into()]),
            Outcome::Inconclusive(_)
        ));
        assert!(matches!(judge(&[], &[]), Outcome::Inconclusive(_)));
    }
}
