//! The lessons: each claim the workbench tests, checked against the visitor's own numbers.
//!
//! A lesson names a claim from the asyncio/Twisted debate ("a thread costs a stack", "you are
//! probably waiting on the database"), the workload that tests it, and a function that reads
//! that workload's steps from one stored run and returns a [`Finding`]: sentences computed
//! from the figures ("one idle selector connection cost 286 B against 22 KiB for a thread:
//! 79× denser"), the charts that show them, and a [`Verdict`]. The verdict is honest in both
//! directions: when this machine's numbers do not bear the claim out, the lesson says so and
//! says why, and when there is no data it says what to run.
//!
//! The thresholds are deliberately plain (a ratio of two, a tenth of a core) and written next
//! to the sentence they decide, so a reader can check the judgement against the table.

use reports::charts::{self, Chart};
use reports::store::StoredRun;
use workloads::results::{IdleSlope, StepResult};

use crate::format;

/// What the data says about a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The figures show what the claim says.
    Supported,
    /// There are figures, and they do not show it (the reason is in [`Finding::reason`]).
    NotSupported,
    /// No stored run has the workload this claim needs.
    NoData,
}

impl Verdict {
    /// A short label: `supported`, `not supported here`, `no data yet`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Supported => "supported here",
            Verdict::NotSupported => "not supported here",
            Verdict::NoData => "no data yet",
        }
    }

    /// The CSS class of its badge.
    pub fn class(self) -> &'static str {
        match self {
            Verdict::Supported => "ok",
            Verdict::NotSupported => "warn",
            Verdict::NoData => "none",
        }
    }
}

/// What one run's figures say about one claim.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The verdict.
    pub verdict: Verdict,
    /// Why the claim is not supported, or what to run to get data; `None` when supported.
    pub reason: Option<String>,
    /// Sentences computed from the figures, in reading order.
    pub sentences: Vec<String>,
    /// The one sentence that sums it up, for the overview and the list of lessons.
    pub headline: Option<String>,
    /// The charts that show it.
    pub charts: Vec<Chart>,
}

impl Finding {
    fn no_data(reason: String) -> Finding {
        Finding {
            verdict: Verdict::NoData,
            reason: Some(reason),
            sentences: Vec::new(),
            headline: None,
            charts: Vec::new(),
        }
    }

    /// The headline: the chosen sentence, or the first.
    pub fn headline(&self) -> Option<&str> {
        self.headline
            .as_deref()
            .or(self.sentences.first().map(String::as_str))
    }

    fn with_headline(mut self, headline: Option<String>) -> Finding {
        self.headline = headline;
        self
    }

    fn judged(
        supported: Result<(), String>,
        sentences: Vec<String>,
        charts: Vec<Chart>,
    ) -> Finding {
        match supported {
            Ok(()) => Finding {
                verdict: Verdict::Supported,
                reason: None,
                sentences,
                headline: None,
                charts,
            },
            Err(reason) => Finding {
                verdict: Verdict::NotSupported,
                reason: Some(reason),
                sentences,
                headline: None,
                charts,
            },
        }
    }
}

/// One claim the workbench tests.
pub struct Lesson {
    /// Its address: `/lessons/{slug}`.
    pub slug: &'static str,
    /// The claim, as a title.
    pub title: &'static str,
    /// The claim in a sentence or two, as the debate puts it.
    pub claim: &'static str,
    /// Why it would be so: the mechanism, in plain words.
    pub why: &'static str,
    /// The workload whose steps test it.
    pub workload: &'static str,
    /// Reads the claim off a run that has the workload.
    pub judge: fn(&StoredRun) -> Finding,
}

/// Every lesson, in reading order.
pub const LESSONS: &[Lesson] = &[
    Lesson {
        slug: "thread-memory",
        title: "A thread costs a stack",
        claim: "Every thread reserves a stack (2 MiB by default in Rust, 8 MiB for a C program's \
                main thread) and is a kernel task: holding connections with threads costs \
                memory per connection that an event loop does not pay.",
        why: "The stack is reserved address space: only the pages a thread touches become \
              resident, so what a thread really costs is a few pages of stack plus the \
              kernel's task and 16 KiB kernel stack. The idle workload opens N connections and \
              holds them; the slope of memory over N is what one connection costs.",
        workload: "idle",
        judge: thread_memory,
    },
    Lesson {
        slug: "selector-thousands",
        title: "One selector loop holds thousands of sockets",
        claim: "A single thread with one epoll set can keep thousands of connections open, each \
                costing a small struct rather than a thread.",
        why: "An idle connection in the selector engine is one slot in a slab and an epoll \
              entry: no stack, no buffer while idle. One epoll_wait reports whichever sockets \
              became ready, so the loop's work grows with activity, not with connections.",
        workload: "idle",
        judge: selector_thousands,
    },
    Lesson {
        slug: "big-response",
        title: "Transports queue writes until the network is ready",
        claim: "In an event loop, transport.write() queues the bytes and returns at once; the \
                loop writes more whenever the socket can take it. Slow readers cost memory for \
                their queued bytes, not a blocked thread each.",
        why: "The big-response workload sends 1 MiB to each client, and each client reads only \
              1 MiB a second. A thread blocks in write() until its client has read; a prefork \
              worker is held for the whole download; the selector queues what the kernel's \
              send buffer cannot take and goes on serving others.",
        workload: "big-response",
        judge: big_response,
    },
    Lesson {
        slug: "db-wait",
        title: "You are probably waiting on the database",
        claim: "Most web requests spend their time waiting on something else. Then what matters \
                is how many waits a model can overlap, not how fast it computes, and a pool of \
                N workers caps throughput at N divided by the wait.",
        why: "Every db-wait request waits 10 ms and computes nothing. A worker that waits serves \
              nobody else, so N workers finish at most N × 100 requests a second. Threads, the \
              selector's timers and tokio's timer wheel overlap as many waits as there are \
              connections.",
        workload: "db-wait",
        judge: db_wait,
    },
    Lesson {
        slug: "cpu-parallelism",
        title: "Concurrency is not parallelism",
        claim: "An event loop handles many connections at once, but runs one piece of work at a \
                time: CPU-bound requests use one core, and each one stalls the others unless \
                the work is deferred to a thread pool.",
        why: "The cpu workload burns 500 µs of SHA-256 per request. Threads, processes and \
              tokio's multi-thread runtime run requests on every core; the selector's one loop \
              runs them one after another on one core. --offload moves the work to a pool \
              (Twisted's deferToThread).",
        workload: "cpu",
        judge: cpu_parallelism,
    },
    Lesson {
        slug: "slowloris",
        title: "Slow clients hold workers hostage",
        claim: "A client that sends its request one byte at a time holds whatever serves it. \
                When that is a worker from a fixed pool, a few hundred such clients deny \
                service to everyone else; an event loop keeps a few bytes for each.",
        why: "The slowloris workload opens N connections that send a header byte every 100 ms \
              and never finish, while a probe client measures /hello. Each slow client pins \
              a thread or a prefork worker; in the selector and in tokio it is a small \
              struct waiting for readiness.",
        workload: "slowloris",
        judge: slowloris,
    },
];

/// The lesson at this slug.
pub fn find(slug: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.slug == slug)
}

/// The command that gets data for a lesson.
pub fn hint(lesson: &Lesson) -> String {
    format!("workbench run --workloads {}", lesson.workload)
}

// ---- the judges ---------------------------------------------------------------------------

/// The engines that hold connections in an event loop rather than a thread or a process.
const EVENT_LOOPS: [&str; 5] = [
    "selector",
    "selector-offload",
    "coroutines",
    "coroutines-current",
    "coroutines-offload",
];

fn thread_memory(run: &StoredRun) -> Finding {
    let steps = steps_of(run, "idle");
    let slopes = slopes(&steps);
    let Some(threads) = slope_of(&slopes, "threads") else {
        return Finding::no_data(
            "This run's idle workload has no threads engine to measure: run `workbench run \
             --engines threads,selector,coroutines --workloads idle`."
                .into(),
        );
    };
    let loops: Vec<&(String, IdleSlope)> = slopes
        .iter()
        .filter(|(e, _)| EVENT_LOOPS.contains(&e.as_str()))
        .collect();
    let held = max_connections(&steps, "threads");
    let mut sentences = vec![format!(
        "Here, one idle connection cost {} of memory on threads{}: the slope of PSS over open \
         connections, up to {} of them.",
        format::bytes(threads.bytes_per_connection),
        loops
            .iter()
            .map(|(e, s)| format!(", {} on {e}", format::bytes(s.bytes_per_connection)))
            .collect::<String>(),
        format::count(held as f64)
    )];
    let stack = stack_size(run);
    sentences.push(format!(
        "Each thread reserved {stack} of address space for its stack, but only the pages it \
         touched count: {} per connection is what a thread really cost here.",
        format::bytes(threads.bytes_per_connection)
    ));
    if let Some((engine, s)) = loops.first() {
        sentences.push(format!(
            "The kernel paid about {} per connection on top for threads and {} for {engine}, \
             shown apart in grey: socket buffers cost kernel memory in every model, and each \
             thread adds a kernel stack.",
            format::bytes(threads.kernel_bytes_per_connection),
            format::bytes(s.kernel_bytes_per_connection)
        ));
    }
    let charts = vec![
        charts::memory_per_connection(&run.steps, "idle"),
        charts::bytes_per_connection_bars(&run.steps, "idle"),
    ];
    let densest = loops.iter().min_by(|a, b| {
        a.1.bytes_per_connection
            .total_cmp(&b.1.bytes_per_connection)
    });
    let mut headline = None;
    let verdict = match densest {
        None => Err(
            "This run has no event-loop engine (selector or coroutines) to compare threads \
             with."
                .to_string(),
        ),
        Some((engine, s)) => {
            let ratio = threads.bytes_per_connection / s.bytes_per_connection.max(1.0);
            // A factor of two is the least anyone would call "costs more".
            if ratio >= 2.0 {
                headline = Some(format!(
                    "Here, one idle {engine} connection cost {} against {} for a thread: {} \
                     denser.",
                    format::bytes(s.bytes_per_connection),
                    format::bytes(threads.bytes_per_connection),
                    format::times(ratio)
                ));
                Ok(())
            } else {
                Err(format!(
                    "A thread cost {} per connection, only {} the {} of {engine}: not the \
                     difference the claim describes.",
                    format::bytes(threads.bytes_per_connection),
                    format::times(ratio),
                    format::bytes(s.bytes_per_connection)
                ))
            }
        }
    };
    Finding::judged(verdict, sentences, charts).with_headline(headline)
}

fn selector_thousands(run: &StoredRun) -> Finding {
    let steps = steps_of(run, "idle");
    let Some(best) = ok_steps(&steps, "selector")
        .into_iter()
        .max_by_key(|s| s.load.connections)
    else {
        return Finding::no_data(
            "This run's idle workload has no selector steps: run `workbench run --engines \
             selector,threads --workloads idle`."
                .into(),
        );
    };
    let slopes = slopes(&steps);
    let held = best.load.connections;
    let threads_used = best.derived.threads_max;
    let mut sentences = vec![format!(
        "The selector held {} idle connections open on {} {}, in {} of memory in all.",
        format::count(held as f64),
        threads_used,
        plural(threads_used, "thread", "threads"),
        format::bytes(best.derived.peak_pss_bytes as f64)
    )];
    if let Some(sel) = slope_of(&slopes, "selector") {
        let per = sel.bytes_per_connection;
        match slope_of(&slopes, "threads") {
            Some(thr) if per >= 16.0 => sentences.push(format!(
                "One connection cost it {}: {} denser than a thread here ({}).",
                format::bytes(per),
                format::times(thr.bytes_per_connection / per),
                format::bytes(thr.bytes_per_connection)
            )),
            Some(thr) => sentences.push(format!(
                "One connection cost it under 16 B, too little to tell from the noise, against \
                 {} for a thread.",
                format::bytes(thr.bytes_per_connection)
            )),
            None => sentences.push(format!(
                "One connection cost it {}.",
                format::bytes(per.max(0.0))
            )),
        }
    }
    if let Some(thr) = ok_steps(&steps, "threads")
        .into_iter()
        .find(|s| s.level == best.level)
    {
        sentences.push(format!(
            "To hold the same {} connections, threads ran {} threads.",
            format::count(thr.load.connections as f64),
            format::count(thr.derived.threads_max as f64)
        ));
    }
    let charts = vec![
        charts::memory_per_connection(&run.steps, "idle"),
        charts::threads(&run.steps, "idle"),
    ];
    // "Thousands" on "one loop": a thousand connections or more, on a handful of threads
    // (the loop, and the signal thread the binary may start).
    let verdict = if held < 1000 {
        Err(format!(
            "The most connections held here was {}: run the idle workload with levels of 1000 \
             or more to test \"thousands\".",
            format::count(held as f64)
        ))
    } else if threads_used > 4 {
        Err(format!(
            "The selector ran {threads_used} threads, more than one loop needs."
        ))
    } else {
        Ok(())
    };
    Finding::judged(verdict, sentences, charts)
}

fn big_response(run: &StoredRun) -> Finding {
    let steps = steps_of(run, "big-response");
    let Some(sel) = top_step(&steps, "selector") else {
        return Finding::no_data(
            "No run has the big-response workload on the selector yet: run `workbench run \
             --workloads big-response`."
                .into(),
        );
    };
    let workload = run
        .config
        .workloads
        .iter()
        .find(|w| w.name == "big-response");
    let body = workload.map_or(1 << 20, |w| w.request.bytes) as f64;
    let read_rate = workload.and_then(|w| w.read_rate).unwrap_or(1 << 20) as f64;
    let ideal_us = body / read_rate * 1e6;
    let n = sel.level;
    let mut sentences = vec![
        format!(
            "Each client downloads {} and reads it at {} a second, so a download takes at least \
             {} however fast the server is.",
            format::bytes(body),
            format::bytes(read_rate),
            format::micros(ideal_us)
        ),
        format!(
            "At {n} slow readers the selector finished downloads in {} at the 99th percentile \
             on {} {}: its transports queued what each socket could not take yet and wrote \
             more whenever a socket became writable, serving the others meanwhile.",
            format::micros(sel.load.latency.p99_us as f64),
            sel.derived.threads_max,
            plural(sel.derived.threads_max, "thread", "threads")
        ),
    ];
    if let Some(thr) = top_step(&steps, "threads") {
        sentences.push(format!(
            "Threads needed {} threads for the same {} readers, each blocked in write() until \
             its client had read.",
            thr.derived.threads_max, thr.level
        ));
    }
    if let Some(pool) = top_step(&steps, "pool") {
        let workers = pool_workers(run);
        sentences.push(format!(
            "The pool's {workers} workers serve one reader each at a time: with {} readers its \
             99th percentile download took {}.",
            pool.level,
            format::micros(pool.load.latency.p99_us as f64)
        ));
    }
    let charts = vec![
        charts::latency(&run.steps, "big-response"),
        charts::threads(&run.steps, "big-response"),
        charts::memory(&run.steps, "big-response"),
    ];
    let p99 = sel.load.latency.p99_us as f64;
    let verdict = if sel.load.errors.total() > 0 || sel.load.completed == 0 {
        Err(format!(
            "The selector did not complete every download ({} errors, {} completed).",
            sel.load.errors.total(),
            sel.load.completed
        ))
    } else if sel.derived.threads_max > 4 {
        Err(format!(
            "The selector ran {} threads: this is not one loop.",
            sel.derived.threads_max
        ))
    } else if p99 > 2.0 * ideal_us {
        Err(format!(
            "The selector's downloads took {} at the 99th percentile, over twice the {} the \
             readers need: the loop fell behind.",
            format::micros(p99),
            format::micros(ideal_us)
        ))
    } else {
        Ok(())
    };
    let headline = sentences.get(1).cloned();
    Finding::judged(verdict, sentences, charts).with_headline(headline)
}

fn db_wait(run: &StoredRun) -> Finding {
    let steps = steps_of(run, "db-wait");
    if steps.is_empty() {
        return Finding::no_data(
            "No run has the db-wait workload yet: run `workbench run --workloads db-wait`.".into(),
        );
    }
    let wait_ms = run
        .config
        .workloads
        .iter()
        .find(|w| w.name == "db-wait")
        .map_or(10, |w| w.request.wait_ms)
        .max(1);
    let per_worker = 1000.0 / wait_ms as f64;
    let mut sentences = vec![format!(
        "Every request waits {wait_ms} ms and burns almost no CPU: what matters is how many \
         waits a model can overlap."
    )];
    let workers = pool_workers(run);
    let ceiling = workers as f64 * per_worker;
    let pool_best = ok_steps(&steps, "pool")
        .into_iter()
        .map(|s| s.derived.throughput_rps)
        .fold(None, |best: Option<f64>, r| {
            Some(best.map_or(r, |b| b.max(r)))
        });
    if let Some(best) = pool_best {
        sentences.push(format!(
            "The pool's {workers} workers can finish at most {workers} × {} = {} a second; it \
             reached {} ({:.0}% of that ceiling).",
            format::count(per_worker),
            format::rate(ceiling),
            format::rate(best),
            best / ceiling * 100.0
        ));
    }
    let top_level = steps.iter().map(|s| s.level).max().unwrap_or(0);
    let others: Vec<(&str, &StepResult)> = ["threads", "selector", "coroutines"]
        .into_iter()
        .filter_map(|e| {
            ok_steps(&steps, e)
                .into_iter()
                .find(|s| s.level == top_level)
                .map(|s| (e, s))
        })
        .collect();
    let best_other = others
        .iter()
        .map(|(_, s)| s.derived.throughput_rps)
        .fold(0.0, f64::max);
    if !others.is_empty() {
        let list = others
            .iter()
            .map(|(e, s)| format!("{e} {}", format::rate(s.derived.throughput_rps)))
            .collect::<Vec<_>>()
            .join(", ");
        let against = pool_best
            .filter(|&b| b > 0.0)
            .map(|b| format!(": up to {} the pool's best", format::times(best_other / b)))
            .unwrap_or_default();
        let cores = others
            .iter()
            .map(|(_, s)| s.derived.engine_cores)
            .fold(0.0, f64::max);
        sentences.push(format!(
            "At {top_level} connections, {list}{against}, using at most {} cores: waiting \
             costs no CPU.",
            format::cores(cores)
        ));
    }
    let charts = vec![
        charts::throughput(&run.steps, "db-wait"),
        charts::latency(&run.steps, "db-wait"),
    ];
    let verdict = match pool_best {
        None => Err("This run has no pool engine, whose ceiling the claim is about.".into()),
        Some(_) if top_level <= workers => Err(format!(
            "The levels never went above the pool's {workers} workers ({top_level} \
             connections at most), so its ceiling could not show."
        )),
        Some(best) if best > 1.15 * ceiling => Err(format!(
            "The pool answered {}, above its ceiling of {}: the wait did not hold its workers \
             as the claim says.",
            format::rate(best),
            format::rate(ceiling)
        )),
        Some(best) if best_other < 1.5 * best => Err(format!(
            "No other engine did much better than the pool here ({} against {}).",
            format::rate(best_other),
            format::rate(best)
        )),
        Some(_) => Ok(()),
    };
    let headline = sentences.get(1).cloned();
    Finding::judged(verdict, sentences, charts).with_headline(headline)
}

fn cpu_parallelism(run: &StoredRun) -> Finding {
    let steps = steps_of(run, "cpu");
    let Some(sel_max) = max_cores(&steps, "selector") else {
        return Finding::no_data(
            "No run has the cpu workload on the selector yet: run `workbench run --workloads \
             cpu`."
                .into(),
        );
    };
    let machine_cores = run.summary.machine.cores;
    let cpu_us = run
        .config
        .workloads
        .iter()
        .find(|w| w.name == "cpu")
        .map_or(500, |w| w.request.cpu_us);
    let mut sentences = vec![format!(
        "Every request burns {cpu_us} µs of CPU. On this {machine_cores}-core machine the \
         selector never used more than {} cores: its one loop runs one request's work at a \
         time, however many connections wait.",
        format::cores(sel_max)
    )];
    let parallel = ["threads", "pool", "coroutines"]
        .into_iter()
        .filter_map(|e| max_cores(&steps, e).map(|c| (e, c)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let top_level = steps.iter().map(|s| s.level).max().unwrap_or(0);
    let rps_at_top = |engine: &str| {
        ok_steps(&steps, engine)
            .into_iter()
            .find(|s| s.level == top_level)
            .map(|s| s.derived.throughput_rps)
    };
    if let Some((engine, cores)) = parallel {
        let mut line = format!("{engine} reached {} cores", format::cores(cores));
        if let (Some(a), Some(b)) = (rps_at_top(engine), rps_at_top("selector")) {
            line.push_str(&format!(
                " and answered {} against the selector's {} at {top_level} connections",
                format::rate(a),
                format::rate(b)
            ));
        }
        sentences.push(format!("{line}."));
    }
    match max_cores(&steps, "selector-offload") {
        Some(cores) => sentences.push(format!(
            "With --offload, selector-offload deferred the work to a thread pool and reached \
             {} cores: the loop stays one thread, the work does not.",
            format::cores(cores)
        )),
        None => sentences.push(
            "Add the selector-offload engine to see the selector with its CPU work deferred to \
             a thread pool."
                .into(),
        ),
    }
    let client = steps
        .iter()
        .map(|s| s.derived.client_cores)
        .fold(0.0, f64::max);
    sentences.push(format!(
        "The load generator used up to {} cores of the same machine, so the engines share the \
         {machine_cores} cores with it.",
        format::cores(client)
    ));
    let charts = vec![
        charts::cores(&run.steps, "cpu"),
        charts::throughput(&run.steps, "cpu"),
    ];
    let verdict = if machine_cores < 2 {
        Err(
            "This machine has one core: nothing can run in parallel on it, so it cannot show \
             the difference."
                .into(),
        )
    } else if sel_max > 1.15 {
        Err(format!(
            "The selector used {} cores, more than one loop can: something else ran on its \
             threads.",
            format::cores(sel_max)
        ))
    } else {
        match parallel {
            Some((_, cores)) if cores >= 1.3 * sel_max.max(0.1) => Ok(()),
            Some((engine, cores)) => Err(format!(
                "The parallel engines used no more cores than the selector here ({engine}: {}, \
                 selector: {}): the levels may be too low, or the load generator took the \
                 other cores.",
                format::cores(cores),
                format::cores(sel_max)
            )),
            None => Err(
                "This run has no threads, pool or coroutines engine to compare the \
                         selector with."
                    .into(),
            ),
        }
    };
    Finding::judged(verdict, sentences, charts)
}

fn slowloris(run: &StoredRun) -> Finding {
    let steps = steps_of(run, "slowloris");
    if steps.is_empty() {
        return Finding::no_data(
            "No run has the slowloris workload yet: run `workbench run --workloads slowloris`."
                .into(),
        );
    }
    let interval = run
        .config
        .workloads
        .iter()
        .find(|w| w.name == "slowloris")
        .and_then(|w| w.send_interval_ms)
        .unwrap_or(100);
    let top_level = steps.iter().map(|s| s.level).max().unwrap_or(0);
    let mut sentences = vec![format!(
        "{top_level} slow clients each send one byte of their request every {interval} ms and \
         never finish it, while a probe client asks for /hello."
    )];
    let at_top = |engine: &str| {
        steps
            .iter()
            .copied()
            .find(|s| s.engine == engine && s.level == top_level)
    };
    let describe = |s: &StepResult| {
        if s.failure.is_some() {
            "failed".to_string()
        } else if s.load.completed == 0 {
            format!(
                "no probe answered ({} failed requests)",
                s.load.errors.total()
            )
        } else {
            format!(
                "probe p99 {}, {} failed requests, {} threads",
                format::micros(s.load.latency.p99_us as f64),
                s.load.errors.total(),
                s.derived.threads_max
            )
        }
    };
    let lines: Vec<String> = ["selector", "coroutines", "threads", "pool"]
        .into_iter()
        .filter_map(|e| at_top(e).map(|s| format!("{e}: {}", describe(s))))
        .collect();
    if !lines.is_empty() {
        sentences.push(format!("At that level: {}.", lines.join("; ")));
    }
    let workers = pool_workers(run);
    sentences.push(format!(
        "The pool has {workers} workers: every slow client beyond that waits in the accept \
         queue, and every one before it holds a worker that could have answered the probe."
    ));
    let charts = vec![
        charts::latency(&run.steps, "slowloris"),
        charts::threads(&run.steps, "slowloris"),
        charts::memory(&run.steps, "slowloris"),
    ];
    let verdict = match (at_top("selector"), at_top("pool")) {
        (Some(sel), Some(pool)) => {
            let sel_p99 = sel.load.latency.p99_us.max(1) as f64;
            let pool_hurt = pool.failure.is_some()
                || pool.load.completed == 0
                || pool.load.errors.total() > 0
                || pool.load.latency.p99_us as f64 >= 10.0 * sel_p99;
            if top_level <= workers {
                Err(format!(
                    "The levels never went above the pool's {workers} workers ({top_level} slow \
                     clients at most), so they could not all be held."
                ))
            } else if sel.failure.is_some() || sel.load.completed == 0 {
                Err("The selector's probe got no answers either.".into())
            } else if !pool_hurt {
                Err(format!(
                    "The pool's probe was answered about as well as the selector's (p99 {} \
                     against {}).",
                    format::micros(pool.load.latency.p99_us as f64),
                    format::micros(sel_p99)
                ))
            } else {
                Ok(())
            }
        }
        _ => Err("This run needs both the selector and the pool to compare.".into()),
    };
    let headline = sentences.get(1).cloned();
    Finding::judged(verdict, sentences, charts).with_headline(headline)
}

// ---- helpers ------------------------------------------------------------------------------

/// The run's steps of one workload.
fn steps_of<'a>(run: &'a StoredRun, workload: &str) -> Vec<&'a StepResult> {
    run.steps
        .iter()
        .filter(|s| s.workload == workload)
        .collect()
}

/// One engine's steps that did not fail, by level.
fn ok_steps<'a>(steps: &[&'a StepResult], engine: &str) -> Vec<&'a StepResult> {
    let mut out: Vec<&StepResult> = steps
        .iter()
        .copied()
        .filter(|s| s.engine == engine && s.failure.is_none())
        .collect();
    out.sort_by_key(|s| s.level);
    out
}

/// The highest level one engine finished.
fn top_step<'a>(steps: &[&'a StepResult], engine: &str) -> Option<&'a StepResult> {
    ok_steps(steps, engine).pop()
}

/// The most cores one engine used at any level.
fn max_cores(steps: &[&StepResult], engine: &str) -> Option<f64> {
    ok_steps(steps, engine)
        .iter()
        .map(|s| s.derived.engine_cores)
        .reduce(f64::max)
}

/// The most connections one engine held.
fn max_connections(steps: &[&StepResult], engine: &str) -> u64 {
    ok_steps(steps, engine)
        .iter()
        .map(|s| s.load.connections)
        .max()
        .unwrap_or(0)
}

/// The idle slope of every engine that has one, in the usual engine order.
fn slopes(steps: &[&StepResult]) -> Vec<(String, IdleSlope)> {
    let mut engines: Vec<&str> = Vec::new();
    for s in steps {
        if !engines.contains(&s.engine.as_str()) {
            engines.push(&s.engine);
        }
    }
    engines.sort_by_key(|e| {
        charts::ENGINE_ORDER
            .iter()
            .position(|o| o == e)
            .unwrap_or(usize::MAX)
    });
    engines
        .into_iter()
        .filter_map(|e| {
            let mine: Vec<&StepResult> = steps.iter().copied().filter(|s| s.engine == e).collect();
            IdleSlope::fit(&mine).map(|fit| (e.to_string(), fit))
        })
        .collect()
}

fn slope_of<'a>(slopes: &'a [(String, IdleSlope)], engine: &str) -> Option<&'a IdleSlope> {
    slopes.iter().find(|(e, _)| e == engine).map(|(_, s)| s)
}

/// The pool's worker count in this run: its `--workers` flag, or the engine's default rule
/// (2 × cores + 1, gunicorn's) on the run's machine.
fn pool_workers(run: &StoredRun) -> u64 {
    run.config
        .engines
        .iter()
        .find(|e| e.label == "pool")
        .and_then(|e| {
            e.args
                .iter()
                .position(|a| a == "--workers")
                .and_then(|i| e.args.get(i + 1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(2 * run.summary.machine.cores.max(1) + 1)
}

/// The threads engine's stack size in this run: its `--stack-size` flag, or 2 MiB.
fn stack_size(run: &StoredRun) -> String {
    run.config
        .engines
        .iter()
        .find(|e| e.label == "threads")
        .and_then(|e| {
            e.args
                .iter()
                .position(|a| a == "--stack-size")
                .and_then(|i| e.args.get(i + 1))
                .cloned()
        })
        .unwrap_or_else(|| "2 MiB".into())
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_has_a_unique_slug_and_a_preset_workload() {
        for (i, l) in LESSONS.iter().enumerate() {
            assert!(LESSONS[i + 1..].iter().all(|o| o.slug != l.slug));
            assert!(
                workloads::spec::PRESETS
                    .iter()
                    .any(|(name, _)| *name == l.workload)
            );
            assert_eq!(find(l.slug).unwrap().title, l.title);
        }
    }
}
