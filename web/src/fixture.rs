//! A store full of made-up runs, for tests and for looking at the pages without measuring.
//!
//! The figures are invented but shaped like the real thing (a thread costs about 22 KiB per
//! idle connection, the selector 286 B; the pool's five workers cap db-wait near 500 req/s),
//! so every page and every lesson has something to show, including the flags, a failed step,
//! a failed run and an interrupted one.

use wb_model::results::{
    Calibration, Derived, EngineFacts, EngineSpec, Latency, LoadReport, MachineFacts, RunConfig,
    RunStatus, StepResult,
};
use wb_model::spec::{Suite, Workload};
use wb_reports::store::{Result, RunId, Store};

/// The runs [`populate`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixtureRuns {
    /// Completed, hello and db-wait only, a little slower: the older side of a comparison.
    pub baseline: RunId,
    /// Completed, every workload the lessons need: the latest completed run.
    pub latest: RunId,
    /// Failed, with a failed step and a message.
    pub failed: RunId,
    /// Interrupted ("cancelled") after two steps.
    pub interrupted: RunId,
}

/// The engines of the fixture runs.
pub const ENGINES: [&str; 5] = [
    "threads",
    "pool",
    "selector",
    "coroutines",
    "selector-offload",
];

/// The peers of the latest run (Python's asyncio and Twisted), so the lessons name peers.
pub const PEERS: [&str; 2] = ["asyncio", "twisted"];

/// Frameworks of the latest run's hello workload, and how many times their bare loop's CPU
/// per request each costs (the bare loops: twisted, and uvicorn below).
const FRAMEWORKS: [(&str, f64); 3] = [("twisted-web", 3.0), ("uvicorn", 1.0), ("starlette", 1.6)];

/// Twisted's poll and select reactors, on the latest run's idle-hello workload.
const SCANNERS: [&str; 2] = ["twisted-poll", "twisted-select"];

/// Python's thread and process peers of the latest run's cpu workload, with the cores they
/// use: the GIL lesson's evidence.
/// The threads engine's stack sweep on idle: label and stated stack.
const STACK_SWEEP: [(&str, u64); 2] = [
    ("threads:stack-size=32KiB", 32 * 1024),
    ("threads:stack-size=8MiB", 8 << 20),
];
const GIL_PEERS: [(&str, f64); 2] = [("python-threads", 0.98), ("gunicorn-sync", 1.8)];

/// A workload description with markup in it: pages must show it as text.
pub const HOSTILE_TEXT: &str = "<script>alert('x')</script> & friends";

/// Fills `store` with the fixture runs.
pub fn populate(store: &mut Store) -> Result<FixtureRuns> {
    let machine = MachineFacts {
        cpu_model: "Example CPU @ 3.0GHz".into(),
        cores: 2,
        memory_bytes: 24 << 30,
        kernel: "6.1.0-example".into(),
        open_files_limit: 20_000,
        rustc: "rustc 1.90.0 (example)".into(),
        git_revision: "0123456789ab".into(),
        hostname: "fixture-host".into(),
        max_map_count: 65530,
        hosts: Vec::new(),
    };
    let calibration = Calibration {
        rounds_per_us: 2.5,
        rounds_timed: 500_000,
        secs: 0.2,
    };
    let quick = Suite::named("quick").expect("the quick suite");
    let preset = |name: &str| -> Workload {
        quick
            .workloads
            .iter()
            .find(|w| w.name == name)
            .cloned()
            .unwrap_or_else(|| Workload::load(name).expect("a preset"))
    };
    let mut hello = preset("hello");
    hello.description = format!("hello, described with markup: {HOSTILE_TEXT}");
    let db_wait = preset("db-wait");
    let cpu = preset("cpu");
    let idle = preset("idle");
    let mut big = preset("big-response");
    big.levels = vec![1, 10, 100];
    let mut slow = preset("slowloris");
    slow.levels = vec![0, 10, 100];
    let count = preset("count");
    let count_nowait = preset("count-nowait");
    let db = preset("db");
    let idle_hello = preset("idle-hello");
    let engines: Vec<EngineSpec> = ENGINES
        .iter()
        .map(|label| {
            wb_model::engines::find(label)
                .expect("a known engine")
                .spec()
        })
        .collect();

    let mut run = |workloads: Vec<Workload>,
                   engines: &[EngineSpec],
                   steps: Vec<StepResult>,
                   status: RunStatus,
                   message: Option<&str>|
     -> Result<RunId> {
        let config = RunConfig {
            suite: Some("quick".into()),
            engines: engines.to_vec(),
            workloads,
            pin: false,
            peer_versions: Default::default(),
            repeat: 1,
            placement: None,
        };
        let id = store.begin_run(&config, &machine, &calibration)?;
        for step in &steps {
            store.record_step(id, step)?;
        }
        store.finish_run(id, status, message)?;
        Ok(id)
    };

    let baseline_steps: Vec<StepResult> = engines
        .iter()
        .flat_map(|e| {
            let mut steps = closed_steps(&e.label, &hello, 0.9);
            steps.extend(closed_steps(&e.label, &db_wait, 0.9));
            steps
        })
        .collect();
    let baseline = run(
        vec![hello.clone(), db_wait.clone()],
        &engines,
        baseline_steps,
        RunStatus::Completed,
        None,
    )?;

    let mut with_peers = engines.clone();
    with_peers.extend(PEERS.iter().map(|name| EngineSpec::peer(name)));
    let mut steps = Vec::new();
    for e in &with_peers {
        let e = e.label.as_str();
        steps.extend(closed_steps(e, &hello, 1.0));
        steps.extend(closed_steps(e, &db_wait, 1.0));
        steps.extend(closed_steps(e, &cpu, 1.0));
        steps.extend(idle_steps(e, &idle));
        steps.extend(slow_reader_steps(e, &big));
        steps.extend(slow_sender_steps(e, &slow));
        steps.extend(count_steps(e, &count));
        steps.extend(count_steps(e, &count_nowait));
    }
    // The database workload on the engines (no peer serves /db yet).
    for e in &engines {
        steps.extend(db_steps(&e.label, &db));
    }
    // The threads engine at two more stack sizes on idle, for the stack-size lesson: the same
    // resident memory per connection, address space growing by the stack (and a guard page,
    // the signal stack) per thread.
    for (label, stack) in STACK_SWEEP {
        let spec = wb_model::engines::parse_engine(label).expect("a valid engine label");
        for mut s in idle_steps("threads", &idle) {
            s.engine = spec.label.clone();
            s.facts = Some(EngineFacts {
                cpus: Some(2),
                stack_bytes: Some(stack),
                ..EngineFacts::default()
            });
            // Address space: the binary's and malloc's base, then per thread its stack, a
            // guard page and a 20 KiB signal stack; a little noise, as /proc reads give.
            let noise = if s.level % 2 == 0 { 4096 } else { 0 };
            s.derived.peak_vsz_bytes = 90_000_000 + (stack + 24_576) * s.level + noise;
            steps.push(s);
        }
        with_peers.push(spec);
    }
    // Python's threads and processes on the cpu workload, for the GIL lesson: threads at one
    // core, processes on both.
    for (peer, cores) in GIL_PEERS {
        for mut s in closed_steps(peer, &cpu, 1.0) {
            let cores = cores.min(s.level as f64);
            s.derived.engine_cores = cores;
            s.derived.throughput_rps = cores * 700.0;
            s.load.completed = (s.derived.throughput_rps * cpu.step_secs) as u64;
            let rps = s.derived.throughput_rps;
            s.estimates.throughput_ci = Some([rps * 0.97, rps * 1.03]);
            steps.push(s);
        }
        with_peers.push(EngineSpec::peer(peer));
    }
    // The selector's protocol on tokio's loop, on hello only: the "one protocol, many loops"
    // lesson reads it against the selector.
    let on_tokio = wb_model::engines::find("selector-on-tokio")
        .expect("a known engine")
        .spec();
    steps.extend(closed_steps(&on_tokio.label, &hello, 1.0));
    with_peers.insert(engines.len(), on_tokio);
    // Beyond the four: uring on hello (its calls per answer against the selector's, for
    // "readiness or completion") and two selector loops on cpu and hello (for "a loop per
    // core"), each stating what it runs with.
    for s in steps
        .iter_mut()
        .filter(|s| s.engine == "selector" && s.workload == "hello")
    {
        with_syscalls(s, &[("epoll_wait", 0.3), ("read", 1.0), ("write", 1.0)]);
    }
    let uring = wb_model::engines::find("uring")
        .expect("a known engine")
        .spec();
    for mut s in closed_steps("selector", &hello, 1.05) {
        s.engine = uring.label.clone();
        let batched = 2.0 / s.level.max(1) as f64;
        with_syscalls(&mut s, &[("io_uring_enter", batched.max(0.05))]);
        steps.push(s);
    }
    with_peers.push(uring);
    let loops = wb_model::engines::find("selector-loops")
        .expect("a known engine")
        .spec();
    for workload in [&hello, &cpu] {
        for mut s in closed_steps(&loops.label, workload, 1.0) {
            s.facts = Some(EngineFacts {
                cpus: Some(2),
                threads: Some(2),
                loops: Some(2),
                reactor: Some("mio".into()),
                ..EngineFacts::default()
            });
            steps.push(s);
        }
    }
    with_peers.push(loops);
    // Frameworks beside their bare loops on hello, for the framework-cost lesson: twisted.web
    // three times Twisted's CPU per request, Starlette 1.6 times the bare ASGI app's.
    for (peer, dearer) in FRAMEWORKS {
        for mut s in closed_steps(peer, &hello, 1.0) {
            s.derived.throughput_rps /= dearer;
            s.load.completed = (s.derived.throughput_rps * hello.step_secs) as u64;
            steps.push(s);
        }
        with_peers.push(EngineSpec::peer(peer));
    }
    // K idle connections beside 16 busy ones, for the selector-functions lesson: flat on the
    // engines and on epoll, growing with K on poll; select stops past its 1,024 descriptors.
    let scan_servers: Vec<String> = with_peers
        .iter()
        .map(|e| e.label.clone())
        .filter(|l| ENGINES.contains(&l.as_str()) || PEERS.contains(&l.as_str()))
        .chain(SCANNERS.iter().map(|p| p.to_string()))
        .collect();
    for label in &scan_servers {
        steps.extend(scan_steps(label, &idle_hello));
    }
    with_peers.extend(SCANNERS.iter().map(|p| EngineSpec::peer(p)));
    // Measured figures carry their 95 % intervals, as a real run's do: a judge gives no firm
    // verdict on a figure without one.
    for s in &mut steps {
        with_intervals(s);
    }
    let latest = run(
        vec![
            hello.clone(),
            db_wait,
            cpu,
            idle,
            big,
            slow,
            count,
            count_nowait,
            db,
            idle_hello,
        ],
        &with_peers,
        steps,
        RunStatus::Completed,
        Some("1 step(s) failed"),
    )?;

    let mut failed_step = base_step("threads", &hello, 1);
    failed_step.failure = Some("the threads engine did not start".into());
    let failed = run(
        vec![hello.clone()],
        &engines[..1],
        vec![failed_step],
        RunStatus::Failed,
        Some("the threads engine did not start"),
    )?;

    let interrupted = run(
        vec![hello.clone()],
        &engines[2..3],
        closed_steps("selector", &hello, 1.0)
            .into_iter()
            .take(2)
            .collect(),
        RunStatus::Interrupted,
        Some("cancelled"),
    )?;

    Ok(FixtureRuns {
        baseline,
        latest,
        failed,
        interrupted,
    })
}

/// Records made-up traces with `run` (db-wait at 30 connections on threads, pool and
/// selector), so that its page shows timelines: one lane per connection thread, five pool
/// workers with 25 connections unseen, the selector's one thread interleaving 30 waits.
pub fn record_traces(store: &mut Store, run: RunId) -> Result<()> {
    use wb_model::trace::{Trace, TraceSpan};
    const LEVEL: u64 = 30;
    let span = |phase: &str, start: u64, end: u64, pid: u32, tid: u32, task: u64| TraceSpan {
        phase: phase.into(),
        start_ns: start,
        end_ns: end,
        pid,
        tid,
        thread: if pid == tid { "main" } else { "unnamed" }.into(),
        task,
    };
    // One request: read, a 10 ms wait, compute, write; from `at`, lasting 10.2 ms.
    let request = |at: u64, pid: u32, tid: u32, fd: u64| {
        [
            span("read", at, at + 40_000, pid, tid, fd),
            span("wait", at + 40_000, at + 10_040_000, pid, tid, fd),
            span("compute", at + 10_040_000, at + 10_160_000, pid, tid, fd),
            span("write", at + 10_160_000, at + 10_200_000, pid, tid, fd),
        ]
    };
    let window = 40_000_000;
    let mut traces = Vec::new();
    // threads: the main thread accepts, a thread per connection serves it.
    let mut spans = vec![span("accept", 0, 600_000, 1000, 1000, 0)];
    for c in 0..LEVEL {
        let tid = 1001 + c as u32;
        let fd = 4 + c;
        let mut at = c * 20_000;
        while at + 10_200_000 <= window {
            spans.extend(request(at, 1000, tid, fd));
            at += 10_250_000;
        }
    }
    traces.push(("threads", spans));
    // pool: five workers, each with one connection at a time.
    let mut spans = Vec::new();
    for w in 0..5u32 {
        let pid = 2000 + w;
        spans.push(span(
            "accept",
            0,
            50_000 + u64::from(w) * 10_000,
            pid,
            pid,
            0,
        ));
        let mut at = 100_000 + u64::from(w) * 10_000;
        while at + 10_200_000 <= window {
            spans.extend(request(at, pid, pid, 4));
            at += 10_250_000;
        }
    }
    traces.push(("pool", spans));
    // selector: one thread, 30 connections' waits side by side.
    let mut spans = Vec::new();
    for c in 0..LEVEL {
        let fd = 10 + c;
        let mut at = c * 30_000;
        while at + 10_200_000 <= window {
            for s in request(at, 3000, 3000, fd) {
                spans.push(s);
            }
            at += 10_250_000;
        }
    }
    traces.push(("selector", spans));
    for (engine, mut spans) in traces {
        spans.sort_by_key(|s| s.start_ns);
        let trace = Trace {
            engine: engine.into(),
            workload: "db-wait".into(),
            level: LEVEL,
            load_ms: 1200,
            recorded: spans.len() * 25,
            spans,
            client_connections: Some(LEVEL),
        };
        store.record_trace(run, &trace)?;
    }
    Ok(())
}

/// What the three models' engines describe of one connection (`--describe`), made up: a
/// thread's touched stack, the selector's protocol object, the coroutine's future.
pub fn descriptions() -> Vec<wb_model::describe::Description> {
    use wb_model::describe::{Description, PerConnection};
    let per = [
        (
            "threads",
            PerConnection {
                stack_bytes: Some(28672),
                ..Default::default()
            },
        ),
        (
            "selector",
            PerConnection {
                protocol_bytes: Some(64),
                ..Default::default()
            },
        ),
        (
            "coroutines",
            PerConnection {
                future_bytes: Some(584),
                ..Default::default()
            },
        ),
    ];
    per.into_iter()
        .map(|(engine, per_connection)| Description {
            engine: engine.into(),
            per_connection,
            facts: None,
        })
        .collect()
}

/// Creates a store at `path` and fills it.
pub fn create(path: &std::path::Path) -> Result<FixtureRuns> {
    let mut store = Store::open(path)?;
    populate(&mut store)
}

/// The most threads a made-up step of `engine` ran: one per connection for the threads
/// engine, one loop thread for a selector, a few for the rest.
fn threads_of(engine: &str, level: u64) -> u64 {
    match engine {
        "threads" => level + 2,
        "selector" | "selector-on-tokio" => 1,
        _ => 3,
    }
}

/// A made-up step of `engine` at each of `workload`'s levels, from [`base_step`] and `fill`.
fn each_level(
    engine: &str,
    workload: &Workload,
    fill: impl Fn(u64, &mut StepResult),
) -> Vec<StepResult> {
    workload
        .levels
        .iter()
        .map(|&level| {
            let mut s = base_step(engine, workload, level);
            fill(level, &mut s);
            s
        })
        .collect()
}

/// A step with nothing measured yet.
fn base_step(engine: &str, workload: &Workload, level: u64) -> StepResult {
    StepResult {
        load: LoadReport {
            elapsed_secs: workload.step_secs,
            connections: level,
            ..LoadReport::default()
        },
        derived: Derived {
            peak_pss_bytes: 3 << 20,
            mean_pss_bytes: 3 << 20,
            peak_rss_bytes: 5 << 20,
            mean_rss_bytes: 5 << 20,
            threads_max: threads_of(engine, level),
            ..Derived::default()
        },
        facts: stated_facts(engine),
        ..StepResult::of(engine, workload, level)
    }
}

/// Intervals like a real step's batch means give: a few percent either side.
fn with_intervals(s: &mut StepResult) {
    let around = |v: f64, part: f64| [v * (1.0 - part), v * (1.0 + part)];
    let e = &mut s.estimates;
    if e.throughput_ci.is_none() && s.derived.throughput_rps > 0.0 {
        e.throughput_ci = Some(around(s.derived.throughput_rps, 0.03));
    }
    if e.p99_ci_us.is_none() && s.load.latency.count > 0 {
        e.p99_ci_us = Some(around(s.load.latency.p99_us as f64, 0.05));
    }
    if e.engine_us_per_request.is_none()
        && s.derived.throughput_rps > 0.0
        && s.derived.engine_cores > 0.0
    {
        e.engine_us_per_request = Some(s.derived.engine_cores / s.derived.throughput_rps * 1e6);
    }
    if let (None, Some(cost)) = (e.engine_us_per_request_ci, e.engine_us_per_request) {
        e.engine_us_per_request_ci = Some(around(cost, 0.04));
    }
}

/// Gives a step the system calls of `calls` (name, per answer) over ten 200 ms windows of
/// its answers, a little noise on each window, as the engines' own counts give.
fn with_syscalls(s: &mut StepResult, calls: &[(&str, f64)]) {
    let per_answer: f64 = calls.iter().map(|(_, n)| n).sum();
    let answers = s.load.completed.max(10);
    let per_window = answers / 10;
    let mut total = 0.0;
    let mut readings = vec![[1000, 0]];
    s.load.windows = (0..10u64)
        .map(|i| {
            let wobble = if (i / 2) % 2 == 0 { 1.02 } else { 0.98 };
            total += per_answer * wobble * per_window as f64;
            readings.push([1200 + i * 200, total as u64]);
            wb_model::results::Window {
                at_ms: 1000 + i * 200,
                answers: per_window,
                errors: 0,
                p50_us: s.load.latency.p50_us,
                p99_us: s.load.latency.p99_us,
            }
        })
        .collect();
    s.syscalls = Some(wb_model::results::Syscalls {
        calls: calls
            .iter()
            .map(|(name, n)| (name.to_string(), (n * (per_window * 10) as f64) as u64))
            .collect(),
        answers: per_window * 10,
        readings,
    });
}

/// What each engine's process states in its ready line on the fixture's 2-core machine, with
/// shared placement: the pool's five workers, the threads' 2 MiB stacks. Peers state nothing.
fn stated_facts(engine: &str) -> Option<EngineFacts> {
    let facts = EngineFacts {
        cpus: Some(2),
        ..EngineFacts::default()
    };
    match wb_model::engines::resolve(engine)?.engine {
        "pool" => Some(EngineFacts {
            workers: Some(5),
            ..facts
        }),
        "threads" => Some(EngineFacts {
            stack_bytes: Some(2 << 20),
            ..facts
        }),
        "selector" => Some(EngineFacts {
            threads: Some(1),
            reactor: Some("mio".into()),
            ..facts
        }),
        _ => Some(EngineFacts {
            threads: Some(2),
            flavor: Some("multi-thread".into()),
            ..facts
        }),
    }
}

fn latency(p50_us: u64, p99_us: u64, count: u64) -> Latency {
    Latency {
        count,
        mean_us: p50_us as f64 * 1.1,
        p50_us,
        p90_us: (p50_us + p99_us) / 2,
        p99_us,
        p999_us: p99_us * 2,
        max_us: p99_us * 3,
        censored: 0,
        censored_late: 0,
        late_requests: 0,
    }
}

/// hello, db-wait and cpu: closed loop. `speed` scales throughput (the baseline is slower).
fn closed_steps(engine: &str, workload: &Workload, speed: f64) -> Vec<StepResult> {
    let workers = 5.0;
    each_level(engine, workload, |level, s| {
        let n = level as f64;
        let (rps, cores) = match workload.name.as_str() {
            "db-wait" => {
                let overlap = if engine == "pool" { n.min(workers) } else { n };
                (overlap * 95.0, 0.02 + overlap * 0.0004)
            }
            "cpu" => {
                let cores = match engine {
                    "selector" | "asyncio" | "twisted" => 0.97,
                    "selector-offload" => n.min(1.6),
                    _ => n.min(1.75),
                };
                (cores * 1900.0, cores)
            }
            _ => {
                let per = match engine {
                    "threads" => 9000.0,
                    "pool" => 8000.0,
                    "selector" => 14000.0,
                    "selector-on-tokio" => 12500.0,
                    _ => 12000.0,
                };
                let one_thread = matches!(engine, "selector" | "selector-on-tokio");
                let cores = n.min(if one_thread { 1.0 } else { 1.2 });
                (per * cores, cores)
            }
        };
        let rps = rps * speed;
        let mean_us = n / rps * 1e6;
        s.derived.throughput_rps = rps;
        s.derived.engine_cores = cores;
        s.derived.client_cores = (rps / 25_000.0).min(0.95);
        s.derived.ctx_switches_per_sec = rps * 0.8;
        s.load.completed = (rps * workload.step_secs) as u64;
        s.load.latency = latency(mean_us as u64, (mean_us * 2.5) as u64, s.load.completed);
        s.load.elapsed_secs = workload.step_secs;
        if engine == "threads" && workload.name == "hello" && level == 64 {
            s.flags.client_saturated = true;
            s.derived.client_cores = 0.97;
        }
        if engine == "pool" && workload.name == "db-wait" && level == 100 {
            s.flags.littles_law_off = true;
        }
        if engine == "pool" && workload.name == "hello" && level == 16 {
            // Five workers serve five keep-alive clients; 13 of the 16 waited the whole
            // step unanswered (censored late): its low latency is the few served ones'.
            s.load.latency.count += 13;
            s.load.latency.censored = 13;
            s.load.latency.censored_late = 13;
            s.load.latency.late_requests = 13;
        }
    })
}

/// db: each engine holds 5 database connections; throughput rises up to 5 clients and stays
/// flat past them (waiting grows instead), the database's own processes using a third of a
/// core beside the engine. The selector answers like the rest here, as it will with its
/// loop's client.
fn db_steps(engine: &str, workload: &Workload) -> Vec<StepResult> {
    let pool = 5.0;
    each_level(engine, workload, |level, s| {
        let n = level as f64;
        let rps = n.min(pool) * 2400.0 * if n > pool { 1.01 } else { 1.0 };
        let mean_us = n / rps * 1e6;
        s.derived.throughput_rps = rps;
        s.derived.engine_cores = 0.1 + n.min(pool) * 0.08;
        s.derived.client_cores = rps / 40_000.0;
        s.derived.database_cores = Some(n.min(pool) * 0.07);
        s.derived.database_peak_pss_bytes = Some(40 << 20);
        s.load.completed = (rps * workload.step_secs) as u64;
        s.load.latency = latency(mean_us as u64, (mean_us * 2.5) as u64, s.load.completed);
        s.load.elapsed_secs = workload.step_secs;
        if let Some(facts) = &mut s.facts {
            facts.db_pool = Some(5);
        }
    })
}

/// idle-hello: 16 busy connections beside `level` idle ones. poll's CPU per request grows
/// with the idle connections (every turn scans them); select holds 1,013 of 5,000 and answers
/// none; everything else stays flat.
fn scan_steps(engine: &str, workload: &Workload) -> Vec<StepResult> {
    each_level(engine, workload, |level, s| {
        let grows = if engine == "twisted-poll" {
            1.0 + level as f64 / 500.0
        } else {
            1.0
        };
        let rps = 12_000.0 / grows;
        s.derived.engine_cores = 0.5;
        s.derived.client_cores = 0.3;
        if engine == "twisted-select" && level > 1000 {
            s.load.connections = 1013;
            s.load.errors.reset = 900;
            s.load.not_reached =
                Some("1013 of 5000 connections held: the others failed (see errors)".into());
            s.flags.level_not_reached = s.load.not_reached.clone();
            return;
        }
        s.derived.throughput_rps = rps;
        s.load.completed = (rps * workload.step_secs) as u64;
        let mean_us = 16.0 / rps * 1e6;
        s.load.latency = latency(mean_us as u64, (mean_us * 2.5) as u64, s.load.completed);
    })
}

/// count: most updates lost above one connection, none at one; the pool's counter read is one
/// worker's.
fn count_steps(engine: &str, workload: &Workload) -> Vec<StepResult> {
    let mut steps = closed_steps(engine, workload, 1.0);
    for s in &mut steps {
        let answers = s.load.completed;
        s.derived.counter_growth = Some(match (engine, s.level) {
            (_, 1) => answers,
            _ if workload.request.wait_ms == 0 => answers,
            ("pool", _) => answers / 5,
            ("threads-locked", _) => answers,
            _ => answers / 10,
        });
    }
    steps
}

/// idle: memory grows by the engine's bytes per connection.
fn idle_steps(engine: &str, workload: &Workload) -> Vec<StepResult> {
    let (per_conn, base) = match engine {
        "threads" => (22.4 * 1024.0, 2.5e6),
        "pool" => (150.0, 9.0e6),
        "selector" => (286.0, 2.0e6),
        "selector-offload" => (300.0, 2.6e6),
        "asyncio" => (1100.0, 9.5e6),
        "twisted" => (2300.0, 14.0e6),
        _ => (959.0, 2.8e6),
    };
    each_level(engine, workload, |level, s| {
        let n = level as f64;
        let pss = (base + per_conn * n) as u64;
        s.derived.peak_pss_bytes = pss;
        s.derived.mean_pss_bytes = pss;
        s.derived.peak_rss_bytes = pss + (1 << 20);
        s.derived.mean_rss_bytes = pss + (1 << 20);
        s.derived.tcp_mem_bytes = 100_000 + level * 1500;
        s.derived.slab_unreclaim_bytes = 50_000_000 + level * 900;
        s.derived.kernel_stack_bytes = 8_000_000
            + if engine == "threads" {
                level * 16_384
            } else {
                0
            };
        s.load.latency = latency(80, 200, level);
        if engine == "pool" && Some(&level) == workload.levels.last() {
            s.flags.level_not_reached = Some("the open-files limit (1024)".into());
            s.load.connections = 1019;
        }
    })
}

/// big-response: 1 MiB at 1 MiB/s; the pool's five workers serve five at a time.
fn slow_reader_steps(engine: &str, workload: &Workload) -> Vec<StepResult> {
    each_level(engine, workload, |level, s| {
        let n = level as f64;
        let p99 = if engine == "pool" {
            (n / 5.0).ceil().max(1.0) * 1.02e6
        } else {
            1.04e6
        };
        s.load.latency = latency((p99 * 0.98) as u64, p99 as u64, level * 2);
        s.load.completed = level * 2;
        s.derived.throughput_rps = n.min(if engine == "pool" { 5.0 } else { n });
        s.derived.engine_cores = 0.02 * n.min(10.0);
        s.derived.peak_pss_bytes = (2.0e6 + n * 70_000.0) as u64;
        if engine == "pool" && Some(&level) == workload.levels.last() {
            // The five workers each finished a download or so before the step ended: 3
            // answers, whose p99 is simply the slowest of them.
            s.load.completed = 3;
            s.load.latency = latency(19_000_000, 20_400_000, 3);
            s.derived.throughput_rps = 3.0 / workload.step_secs;
        }
    })
}

/// slowloris: the probe's latency while N clients trickle their heads in.
fn slow_sender_steps(engine: &str, workload: &Workload) -> Vec<StepResult> {
    each_level(engine, workload, |level, s| {
        if engine == "pool" && level >= 5 {
            // Every probe waited the whole step behind the slow clients: no answer and no
            // error, which is the hostage (an error would be no evidence of one).
            s.load.completed = 0;
            s.load.latency = Latency::default();
        } else {
            s.load.completed = 3000;
            s.load.latency = latency(150, 400, 3000);
            s.derived.throughput_rps = 1000.0;
        }
        if engine == "selector-offload" && level == 100 {
            s.failure = Some("the engine exited during the step (signal 9)".into());
        }
    })
}
