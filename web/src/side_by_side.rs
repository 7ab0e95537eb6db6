//! Every lesson, side by side with the peers: the lesson's own figure for each engine *and*
//! each peer the run measured, and the talk's figure set against the measurement.
//!
//! The judges ([`wb_reports::claims`]) give each lesson its verdict and the sentences that carry
//! it; they read the peers only where a peer's [family](wb_model::engines::Family) fits the
//! claim. This module adds what the talk's audience asks next — "and Twisted? and asyncio?" —
//! in the lesson's own terms, for every server of the run:
//!
//! 1. **Side by side.** One sentence with the lesson's figure for the engines, then the peers:
//!    `Bytes per idle connection (…): engines threads 22.4 KiB, selector 286 B; peers asyncio
//!    1.10 KiB, twisted 2.30 KiB.` A peer that could not serve the workload (nginx has no
//!    `/work`) is named as such, never left out silently.
//! 2. **The talk's figure against the measurement.** The number the debate quotes ("a thread
//!    memory overhead: 32kB to 8MB per thread") and what this machine measured for the servers it is about.
//!
//! It judges nothing: no verdict comes from here, only figures read off the same steps the
//! judges read (repeats combined the same way, [`wb_model::spread::combined`]).

use wb_model::engines::{self, Family};
use wb_model::results::StepResult;
use wb_reports::claims::{
    Lesson, cores_estimate, cpu_per_request_estimate, idle_slope_estimate, talk,
};
use wb_reports::format;
use wb_reports::store::StoredRun;

/// The sentences for `lesson` from `run`: the figures side by side, then the talk's figure
/// against the measurement. Empty when the run does not have the lesson's workload.
pub fn side_by_side(lesson: &Lesson, run: &StoredRun) -> Vec<String> {
    let mine: Vec<StepResult> = run
        .steps
        .iter()
        .filter(|s| s.workload == lesson.workload)
        .cloned()
        .collect();
    let steps = wb_model::spread::combined(&mine);
    if steps.is_empty() {
        return Vec::new();
    }
    let Some(figure) = Figure::of(lesson.slug) else {
        return Vec::new();
    };
    let on = On { run, steps: &steps };
    let (peers, ours): (Vec<String>, Vec<String>) =
        on.labels().into_iter().partition(|l| engines::is_peer(l));
    let show = |labels: &[String]| -> String {
        labels
            .iter()
            .map(|label| format!("{label} {}", on.figure(figure, label)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut side = format!("{}: ", on.heading(figure));
    if !ours.is_empty() {
        side.push_str(&format!("engines {}", show(&ours)));
    }
    if !peers.is_empty() {
        if !ours.is_empty() {
            side.push_str("; ");
        }
        side.push_str(&format!("peers {}", show(&peers)));
    }
    side.push('.');
    let mut sentences = vec![side];
    if peers.is_empty() {
        sentences.push(format!(
            "No peer ran the {w} workload in this run: tick asyncio and twisted (or any other \
             installed peer) on the New run page, or run `workbench run --workloads {w} --peers \
             asyncio,twisted`, to see the Python systems beside the engines.",
            w = lesson.workload
        ));
    }
    // The talk's figure, against the servers it is about: the peers of the right models when
    // the run has them, else our engines of those models.
    let about = |labels: &[String]| -> Vec<String> {
        labels
            .iter()
            .filter(|l| engines::family_of(l).is_some_and(|f| figure.about(f)))
            .cloned()
            .collect()
    };
    let mut measured = about(&peers);
    if measured.is_empty() || figure == Figure::IdleBytes {
        // A thread's cost is read off every thread-per-connection server; the others are set
        // against it in the same sentence.
        measured.extend(about(&ours));
    }
    sentences.push(on.talk(figure, &measured));
    sentences
}

/// Which figure a lesson reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    /// `idle`: bytes per idle connection (the slope of PSS).
    IdleBytes,
    /// `idle`: the most idle connections held, and on how many threads.
    Held,
    /// `big-response`: the p99 download at the most slow readers.
    Download,
    /// `db-wait`: requests per second at the top level, and the waits overlapped.
    Waits,
    /// `cpu`: the most cores used.
    Cores,
    /// `slowloris`: the probe's p99 beside the slow clients.
    Probe,
    /// `hello`: engine CPU per request at the top level (native loops against adapted ones).
    CpuPerRequest,
    /// `cpu`, for the GIL: the most cores used, set against Python's threads and processes.
    GilCores,
    /// `count`: the updates lost at the top level (a process pool's counters are per worker).
    LostUpdates,
    /// `hello`: system calls per answer at the top level, as the engines counted them
    /// (readiness against completion).
    Calls,
    /// `cpu`: the most cores used, for one loop against a loop per core.
    LoopCores,
    /// `hello`, for the framework's cost: engine CPU per request at the top level, frameworks
    /// beside their bare loops.
    FrameworkCost,
    /// `idle-hello`: engine CPU per request at the most idle connections (select, poll, epoll).
    ScanCost,
}

impl Figure {
    fn of(slug: &str) -> Option<Figure> {
        Some(match slug {
            "thread-memory" | "stack-size" => Figure::IdleBytes,
            "selector-thousands" => Figure::Held,
            "big-response" => Figure::Download,
            "db-wait" => Figure::Waits,
            "cpu-parallelism" => Figure::Cores,
            "slowloris" => Figure::Probe,
            "one-protocol-many-loops" => Figure::CpuPerRequest,
            "readiness-completion" => Figure::Calls,
            "loop-per-core" => Figure::LoopCores,
            "gil" => Figure::GilCores,
            "race-conditions" => Figure::LostUpdates,
            "framework-cost" => Figure::FrameworkCost,
            "selector-functions" => Figure::ScanCost,
            _ => return None,
        })
    }

    /// Whether the talk's figure is about servers of this family.
    fn about(self, family: Family) -> bool {
        match self {
            // "A thread costs…": the thread-per-connection servers.
            Figure::IdleBytes => family == Family::Thread,
            // "Runners that run many copies using threads or processes".
            Figure::GilCores => matches!(family, Family::Thread | Family::Process),
            // Every model that shares memory between its requests.
            Figure::LostUpdates => family != Family::Process,
            // One loop, N loops and threads alike: the contrast is between them.
            Figure::LoopCores => true,
            // The rest is what one loop (or coroutines on one) does.
            _ => family.multiplexes(),
        }
    }
}

/// A step's system calls per answer with its interval, as the engine counted them; `None`
/// for an engine (or a peer) that does not count them.
fn calls_per_answer(step: &StepResult) -> Option<String> {
    let estimate = step
        .syscalls
        .as_ref()?
        .per_answer_estimate(&step.load.windows)?;
    Some(format::estimate(&estimate, format::sig3))
}

/// One run's steps of one workload.
struct On<'a> {
    run: &'a StoredRun,
    steps: &'a [StepResult],
}

impl On<'_> {
    /// Every server of these steps, engines first, in the registry's order.
    fn labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = Vec::new();
        for s in self.steps {
            if !labels.contains(&s.engine) {
                labels.push(s.engine.clone());
            }
        }
        engines::sort(&mut labels);
        labels
    }

    /// A label's steps that measured something, by level.
    fn ok(&self, label: &str) -> Vec<&StepResult> {
        let mut out: Vec<&StepResult> = self
            .steps
            .iter()
            .filter(|s| s.engine == label && s.failure.is_none() && s.flags.not_supported.is_none())
            .collect();
        out.sort_by_key(|s| s.level);
        out
    }

    /// Why a label has no figure: it could not serve the workload, or every step failed.
    fn missing(&self, label: &str) -> String {
        let unsupported = self
            .steps
            .iter()
            .any(|s| s.engine == label && s.flags.not_supported.is_some());
        if unsupported {
            "not supported".into()
        } else {
            "failed".into()
        }
    }

    /// Why a label has no figure at the top level: its step there failed, or it stopped at
    /// `highest`.
    fn short_of_top(&self, label: &str, highest: u64) -> String {
        let top = self.top_level();
        let failed = self
            .steps
            .iter()
            .any(|s| s.engine == label && s.level == top && s.failure.is_some());
        if failed {
            format!("failed at {top}")
        } else {
            format!("not measured at {top} (highest {highest})")
        }
    }

    /// The highest level any server reached.
    fn top_level(&self) -> u64 {
        self.steps.iter().map(|s| s.level).max().unwrap_or(0)
    }

    fn workload(&self) -> Option<&wb_model::spec::Workload> {
        let name = self.steps.first().map(|s| s.workload.as_str())?;
        self.run.config.workloads.iter().find(|w| w.name == name)
    }

    fn heading(&self, figure: Figure) -> String {
        match figure {
            Figure::IdleBytes => {
                "Bytes per idle connection (the slope of memory over open connections)".into()
            }
            Figure::Held => "Most idle connections held, and on how many threads".into(),
            Figure::Download => "The 99th-percentile download at the most slow readers".into(),
            Figure::Waits => format!(
                "Requests per second at {} connections, each request waiting {} ms",
                self.top_level(),
                self.wait_ms()
            ),
            Figure::Calls => format!(
                "System calls per answer at {} connections, as each engine counted its own",
                self.top_level()
            ),
            Figure::Cores | Figure::GilCores | Figure::LoopCores => format!(
                "Most cores used, each request burning {} µs of CPU",
                self.workload().map_or(500, |w| w.request.cpu_us)
            ),
            Figure::LostUpdates => format!(
                "Updates lost at {} connections, each request waiting {} ms between its read \
                 and its write",
                self.top_level(),
                self.workload().map_or(0, |w| w.request.wait_ms)
            ),
            Figure::Probe => format!(
                "The probe's 99th percentile beside {} slow clients",
                self.top_level()
            ),
            Figure::CpuPerRequest | Figure::FrameworkCost => {
                format!("Engine CPU per request at {} connections", self.top_level())
            }
            Figure::ScanCost => format!(
                "Engine CPU per request beside {} idle connections",
                format::count(self.top_level() as f64)
            ),
        }
    }

    fn wait_ms(&self) -> u64 {
        self.workload().map_or(10, |w| w.request.wait_ms).max(1)
    }

    /// One label's figure, as the side-by-side sentence shows it.
    fn figure(&self, figure: Figure, label: &str) -> String {
        let ok = self.ok(label);
        let Some(top) = ok.last() else {
            return self.missing(label);
        };
        match figure {
            Figure::IdleBytes => match idle_slope_estimate(&ok) {
                Some((user, _)) => format::estimate(&user, format::bytes),
                None => "one level only, no slope".into(),
            },
            Figure::Held => {
                let most = ok.iter().max_by_key(|s| s.load.connections).unwrap_or(top);
                format!(
                    "{} on {}",
                    format::count(most.load.connections as f64),
                    threads(most.derived.threads_max)
                )
            }
            Figure::Download => format!(
                "{} ({} readers)",
                format::latency(&top.load.latency, "p99"),
                top.level
            ),
            Figure::Waits => match ok.iter().find(|s| s.level == self.top_level()) {
                Some(s) => format::rps(s.derived.throughput_rps),
                None => self.short_of_top(label, top.level),
            },
            Figure::LostUpdates => match ok.iter().find(|s| s.level == self.top_level()) {
                Some(_) if engines::family_of(label) == Some(Family::Process) => {
                    "a counter per worker process".into()
                }
                Some(s) => match (s.lost_updates(), s.lost_updates_high()) {
                    (Some(low), Some(high)) => format!(
                        "{} to {} of {}",
                        format::count(low.max(0) as f64),
                        format::count(high.max(0) as f64),
                        format::count(s.load.completed as f64)
                    ),
                    _ => "no counter reading".into(),
                },
                None => self.short_of_top(label, top.level),
            },
            Figure::Calls => match ok.iter().find(|s| s.level == self.top_level()) {
                Some(s) => calls_per_answer(s).unwrap_or_else(|| "not counted".into()),
                None => self.short_of_top(label, top.level),
            },
            Figure::Cores | Figure::GilCores | Figure::LoopCores => ok
                .iter()
                .map(|s| cores_estimate(s))
                .max_by(|a, b| a.value.total_cmp(&b.value))
                .map_or_else(String::new, |c| format::estimate(&c, format::cores)),
            Figure::Probe => match ok.iter().find(|s| s.level == self.top_level()) {
                Some(s) if s.load.completed == 0 => "no probe answered".into(),
                Some(s) => format::latency(&s.load.latency, "p99"),
                None => self.short_of_top(label, top.level),
            },
            Figure::CpuPerRequest | Figure::FrameworkCost | Figure::ScanCost => {
                match ok.iter().find(|s| s.level == self.top_level()) {
                    Some(s) => cpu_per_request_estimate(s).map_or_else(
                        || "no CPU figure".into(),
                        |e| format::estimate(&e, format::micros),
                    ),
                    None => self.short_of_top(label, top.level),
                }
            }
        }
    }

    /// The talk's figure, and what `measured` (the servers it is about) showed here.
    fn talk(&self, figure: Figure, measured: &[String]) -> String {
        let list = |f: &dyn Fn(&str) -> Option<String>| -> String {
            let parts: Vec<String> = measured
                .iter()
                .filter_map(|l| f(l).map(|text| format!("{l} {text}")))
                .collect();
            if parts.is_empty() {
                "no server of that model in this run".into()
            } else {
                parts.join(", ")
            }
        };
        // The most cores a server used at any level from `min_level` on.
        let peak_cores = |l: &str, min_level| {
            self.ok(l)
                .into_iter()
                .filter(|s| s.level >= min_level)
                .map(cores_estimate)
                .max_by(|a, b| a.value.total_cmp(&b.value))
                .map(|c| format::cores(c.value))
        };
        match figure {
            Figure::IdleBytes => {
                let estimate = |l: &str| idle_slope_estimate(&self.ok(l)).map(|(u, _)| u);
                let slope = |l: &str| estimate(l).map(|u| u.value);
                let thread = measured
                    .iter()
                    .filter_map(|l| slope(l).map(|b| (l, b)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                let Some((thread_label, thread_bytes)) = thread else {
                    return format!(
                        "{}: this run has no thread-per-connection server to measure it (add \
                         the threads engine).",
                        talk::THREAD_COST
                    );
                };
                // Against it, every multiplexing server of the run, engine or peer.
                let loops: Vec<String> = self
                    .labels()
                    .into_iter()
                    .filter(|l| engines::family_of(l).is_some_and(Family::multiplexes))
                    .filter_map(|l| {
                        let bytes = estimate(&l)?;
                        // A slope inside the noise has no ratio worth printing.
                        Some(if bytes.below_resolution() {
                            format!("{} on {l}", format::estimate(&bytes, format::bytes))
                        } else {
                            format!(
                                "{} on {l} ({} less)",
                                format::bytes(bytes.value),
                                format::times(thread_bytes / bytes.value.max(1.0))
                            )
                        })
                    })
                    .collect();
                let mut text = format!(
                    "{}: measured here, {} per idle connection on {thread_label}",
                    talk::THREAD_COST,
                    format::bytes(thread_bytes)
                );
                if !loops.is_empty() {
                    text.push_str(&format!(", against {}", loops.join(", ")));
                }
                text.push_str(
                    ". 32 kB is CPython's smallest threading.stack_size and 8 MB glibc's \
                     default stack for a new thread (from RLIMIT_STACK): both are reserved \
                     address space; only the stack pages a thread touches are paid for.",
                );
                text
            }
            Figure::Held => format!(
                "{}: measured here, {}.",
                talk::SELECTOR_THOUSANDS,
                list(&|l| {
                    let most = self.ok(l).into_iter().max_by_key(|s| s.load.connections)?;
                    Some(format!(
                        "held {} on {}",
                        format::count(most.load.connections as f64),
                        threads(most.derived.threads_max)
                    ))
                })
            ),
            Figure::Download => {
                let workload = self.workload();
                let body = workload.map_or(1 << 20, |w| w.request.bytes) as f64;
                let rate = workload.and_then(|w| w.read_rate).unwrap_or(1 << 20) as f64;
                format!(
                    "{}, so a slow reader costs queued bytes, not a blocked thread; a download \
                     needs at least {} at the readers' rate: measured here, {}.",
                    talk::WRITES_QUEUED,
                    format::micros(body / rate * 1e6),
                    list(&|l| {
                        let top = self.ok(l).pop()?;
                        Some(format!(
                            "{} at the 99th percentile for {} readers on {}",
                            format::latency(&top.load.latency, "p99"),
                            top.level,
                            threads(top.derived.threads_max)
                        ))
                    })
                )
            }
            Figure::Waits => {
                let wait = self.wait_ms();
                format!(
                    "{}: a worker that waits {wait} ms serves at most {} alone, so what counts \
                     is how many waits run at once (throughput × wait, Little's law): measured \
                     here, {}.",
                    talk::WAITING,
                    format::rps(1000.0 / wait as f64),
                    list(&|l| {
                        let s = self
                            .ok(l)
                            .into_iter()
                            .find(|s| s.level == self.top_level())?;
                        Some(format!(
                            "about {} waits at once on {}",
                            format::sig3(s.derived.throughput_rps * wait as f64 / 1000.0),
                            threads(s.derived.threads_max)
                        ))
                    })
                )
            }
            Figure::Calls => format!(
                "{}: measured here, {}.",
                talk::COMPLETION,
                list(&|l| {
                    let s = self
                        .ok(l)
                        .into_iter()
                        .find(|s| s.level == self.top_level())?;
                    calls_per_answer(s).map(|c| format!("{c} calls per answer"))
                })
            ),
            Figure::LoopCores => format!(
                "{}: measured here, on this machine's {} cores, {}.",
                talk::LOOP_PER_CORE,
                self.run.summary.machine.cores,
                list(&|l| peak_cores(l, 0))
            ),
            Figure::Cores => format!(
                "{}: one event loop runs one request's work at a time, on one core of this \
                 machine's {} (a multi-thread runtime or an offload pool runs several): \
                 measured here, {}.",
                talk::NOT_PARALLELISM,
                self.run.summary.machine.cores,
                list(&|l| peak_cores(l, 0))
            ),
            Figure::GilCores => format!(
                "The talk says Python servers are \"deployed with runners that run many copies \
                 using threads or processes\": in CPython the threads of one process share one \
                 GIL, so CPU-bound requests on threads use about one core of this machine's {}, \
                 processes all of them: measured here, {}.",
                self.run.summary.machine.cores,
                list(&|l| peak_cores(l, 2))
            ),
            Figure::LostUpdates => format!(
                "The talk says \"use safely (without race conditions)\": a read and a write \
                 with a wait between them lose updates wherever requests share memory, \
                 threads or one loop: measured here, {}.",
                list(&|l| {
                    let s = self
                        .ok(l)
                        .into_iter()
                        .find(|s| s.level == self.top_level())?;
                    let low = s.lost_updates()?;
                    Some(format!(
                        "at least {} of {} lost",
                        format::count(low.max(0) as f64),
                        format::count(s.load.completed as f64)
                    ))
                })
            ),
            Figure::Probe => format!(
                "{}: measured here with {} slow clients, the probe's p99 was {}.",
                talk::HOSTAGE,
                self.top_level(),
                list(&|l| {
                    let s = self
                        .ok(l)
                        .into_iter()
                        .find(|s| s.level == self.top_level())?;
                    Some(if s.load.completed == 0 {
                        "no answer at all".to_string()
                    } else {
                        format::latency(&s.load.latency, "p99")
                    })
                })
            ),
            Figure::CpuPerRequest => format!(
                "{}: the adapter costs what the adapted loop spends per request beyond the \
                 framework's own ({}): measured here, {}.",
                talk::ADAPT_THE_LOOP,
                talk::ADAPTER_CHEAP,
                list(&|l| {
                    let s = self
                        .ok(l)
                        .into_iter()
                        .find(|s| s.level == self.top_level())?;
                    cpu_per_request_estimate(s)
                        .map(|e| format!("{} per request", format::micros(e.value)))
                })
            ),
            Figure::FrameworkCost => format!(
                "{}: measured here, at {} connections, {}.",
                talk::FRAMEWORK_COST,
                self.top_level(),
                list(&|l| cost_at(self, l, self.top_level()).map(|c| format!("{c} per request")))
            ),
            Figure::ScanCost => format!(
                "{}: measured here, CPU per request with no idle connection and beside {}, {}.",
                talk::SELECTOR_SCAN,
                format::count(self.top_level() as f64),
                list(&|l| {
                    let none = cost_at(self, l, 0)?;
                    let most =
                        cost_at(self, l, self.top_level()).unwrap_or_else(|| "no answer".into());
                    Some(format!("{none} then {most}"))
                })
            ),
        }
    }
}

/// One server's CPU per request at `level`, as the talk sentences list it.
fn cost_at(on: &On<'_>, label: &str, level: u64) -> Option<String> {
    let s = on.ok(label).into_iter().find(|s| s.level == level)?;
    cpu_per_request_estimate(s).map(|e| format::micros(e.value))
}

/// `1 thread`, `12 threads`.
fn threads(n: u64) -> String {
    format!(
        "{} {}",
        format::count(n as f64),
        if n == 1 { "thread" } else { "threads" }
    )
}
