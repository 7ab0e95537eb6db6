//! What a run measures: the load generator's report, the sampler's samples, and the figures
//! and flags the runner derives from them for each step. These are the types the store keeps
//! and the dashboard and reports show; they serialize to JSON with stable field names.

use serde::{Deserialize, Serialize};

use crate::spec::Mode;

mod run;
pub use run::{Calibration, EngineSpec, HostFacts, MachineFacts, RunConfig, RunStatus};

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Requests measured.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Requests in `count` still unanswered when the measured window ended (*censored*):
    /// each is recorded at the time it had waited by then, a lower bound of its latency.
    /// 0 in documents from before they were kept.
    #[serde(default)]
    pub censored: u64,
    /// Of `censored`, those that had already waited at least as long as the slowest answer
    /// took: requests known to be slower than every answer. Percentiles whose rank falls
    /// among them are lower bounds ([`Latency::is_lower_bound`]).
    #[serde(default)]
    pub censored_late: u64,
    /// Of `censored_late`, the requests really sent: in a closed loop, the clients that
    /// waited longer than every answer. The rest of `censored_late` are the entries the
    /// closed loop's correction for coordinated omission adds for the requests such a client
    /// could not send meanwhile: they weigh in the percentiles, but they are not clients.
    /// 0 in documents from before it was kept.
    #[serde(default)]
    pub late_requests: u64,
}

impl Latency {
    /// The summary of an HDR histogram of microseconds.
    pub fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            censored: 0,
            censored_late: 0,
            late_requests: 0,
        }
    }

    /// Whether the percentile at quantile `q` (0.5 for p50, 1.0 for the max) is only a lower
    /// bound: its rank (HdrHistogram's, `ceil(q × count)`) falls among the late censored
    /// requests ([`Latency::censored_late`]), which had waited longer than any answer and
    /// might have waited any longer still. The figure shown is then what they had waited by
    /// the window's end, and the latency is at least that.
    ///
    /// The requests in flight that were younger than the slowest answer are taken to end as
    /// the answers did (the assumption of Kaplan and Meier's estimator for censored data):
    /// every healthy step ends with a request in flight on each connection, a few
    /// milliseconds old, and "≥" on every figure would say nothing. A rule on values alone
    /// ("any figure at or above the shortest censored wait") would print it everywhere.
    pub fn is_lower_bound(&self, q: f64) -> bool {
        if self.censored_late == 0 || self.count == 0 {
            return false;
        }
        let known = self.count.saturating_sub(self.censored_late);
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        rank > known
    }

    /// The mean is a lower bound when some requests were censored after waiting longer than
    /// every answer (the younger ones are taken to end as answers do, as for percentiles).
    pub fn mean_is_lower_bound(&self) -> bool {
        self.censored_late > 0
    }

    /// The figures by name, each with whether it is a lower bound: `(p50_us, bound)` for
    /// `"p50"`, and so on for `"p90"`, `"p99"`, `"p99.9"` and `"max"`.
    pub fn percentile(&self, name: &str) -> Option<(u64, bool)> {
        let (value, q) = match name {
            "p50" => (self.p50_us, 0.50),
            "p90" => (self.p90_us, 0.90),
            "p99" => (self.p99_us, 0.99),
            "p99.9" => (self.p999_us, 0.999),
            "max" => (self.max_us, 1.0),
            _ => return None,
        };
        Some((value, self.is_lower_bound(q)))
    }
}

/// Failed requests or connections, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// A connection could not be opened (refused, no file descriptors, timed out).
    pub connect: u64,
    /// No complete answer within the request timeout.
    pub timeout: u64,
    /// The server reset or closed the connection before answering.
    pub reset: u64,
    /// An answer arrived but was wrong: status, length, body or `X-Work-Digest`. A whole
    /// answer with an unexpected status is timed all the same
    /// ([`LoadReport::status_codes`]); a malformed one is not.
    pub bad_response: u64,
}

impl LoadReport {
    /// Requests the step accounts for: answered, failed and censored. `completed` of
    /// `sent()` were answered.
    pub fn sent(&self) -> u64 {
        self.completed + self.errors.total() + self.censored
    }
}

impl ErrorCounts {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.reset + self.bad_response
    }

    /// Adds another count to this one.
    pub fn add(&mut self, other: &ErrorCounts) {
        self.connect += other.connect;
        self.timeout += other.timeout;
        self.reset += other.reset;
        self.bad_response += other.bad_response;
    }
}

/// What the load generator measured at one level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Length of the measured window, in seconds (warm-up excluded).
    pub elapsed_secs: f64,
    /// Valid answers received in the window.
    pub completed: u64,
    /// Errors in the window (and while connecting).
    pub errors: ErrorCounts,
    /// Requests still unanswered when the window ended (sent in the window or before it and
    /// still in flight, or waiting to connect), counted in `latency` at the time they had
    /// waited ([`Latency::censored`]). A closed loop's clients that a server never answers
    /// show here, not nowhere. 0 in documents from before they were kept.
    #[serde(default)]
    pub censored: u64,
    /// Latency of the answers in the window. Open loop: from the intended send time
    /// (coordinated omission corrected). Slow senders: the probe's `/hello` latency.
    pub latency: Latency,
    /// Open loop only: latency from the actual send time, which hides queueing in the client.
    pub latency_uncorrected: Option<Latency>,
    /// `latency`'s HDR histogram, serialized (V2 format, deflate off), for merging and
    /// precise charts later.
    #[serde(with = "hex_bytes")]
    pub histogram: Vec<u8>,
    /// Connections open at the end of the window (the level, unless it could not be reached).
    pub connections: u64,
    /// Why the level could not be reached, if it was not (e.g. the open-files limit).
    pub not_reached: Option<String>,
    /// Response bytes received in the window (headers and bodies).
    pub bytes_received: u64,
    /// Whole answers in the window by status, the expected ones and the others alike (those
    /// are also [`ErrorCounts::bad_response`]); every one of them is in `latency`, as wrk
    /// times every answer. Empty in runs stored before statuses were counted.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub status_codes: std::collections::BTreeMap<u16, u64>,
    /// The measured window cut into consecutive [`WINDOW_MS`] windows: what gives each
    /// figure its spread (batch means, [`crate::spread`]). Empty in runs stored before
    /// windows were kept.
    #[serde(default)]
    pub windows: Vec<Window>,
    /// A multi-host step only: what each load host did with its share of the level (the
    /// figures above are their sum, and the histogram their addition). Empty on one machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostLoad>,
}

/// One load host's part of a multi-host step (`wb_runner::hosts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostLoad {
    /// The host, as given on the command line (its command prefix).
    pub host: String,
    /// Its share of the level: connections, or requests per second.
    pub level: u64,
    /// Valid answers it received in its window.
    pub completed: u64,
    /// Its errors.
    pub errors: ErrorCounts,
    /// Requests in its latency histogram (`completed` plus `censored`; kept to check the
    /// merge).
    pub latency_count: u64,
    /// Its requests still unanswered when its window ended.
    #[serde(default)]
    pub censored: u64,
    /// CPU seconds its load generator used (user and system), warm-up included.
    pub client_cpu_secs: f64,
    /// `client_cpu_secs` over the step's wall time: above 0.9 this host may be the
    /// bottleneck.
    pub client_cores: f64,
}

/// The length of one [`Window`], in milliseconds: the sampler's interval, so that each
/// window of answers has a reading of the engine's CPU beside it.
pub const WINDOW_MS: u64 = 200;

/// What the load generator counted in one short window of a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// When the window began, in milliseconds since the step (its warm-up) began: the clock
    /// the sampler's [`Sample::at_ms`] uses.
    pub at_ms: u64,
    /// Valid answers whose last byte arrived in the window.
    pub answers: u64,
    /// Requests that failed in the window.
    pub errors: u64,
    /// Median latency of the window's answers, µs (0 without answers).
    pub p50_us: u64,
    /// 99th percentile latency of the window's answers, µs (0 without answers).
    pub p99_us: u64,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&wb_protocol::kernel::to_hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd-length hex"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// One reading of the engine's process tree and the system, taken every 200 ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Milliseconds since the step started.
    pub at_ms: u64,
    /// Resident set size, summed over the engine's processes (double counts shared pages).
    pub rss_bytes: u64,
    /// Proportional set size, summed: shared pages divided among their sharers.
    pub pss_bytes: u64,
    /// Unique set size, summed: pages no other process maps.
    pub uss_bytes: u64,
    /// Virtual size (VSZ, `VmSize`), summed over the tree: the address space reserved,
    /// touched or not. A thread's whole stack counts here from the moment it is created, while
    /// only the pages it touched count in RSS and PSS. 0 in runs stored before it was kept.
    #[serde(default)]
    pub vsz_bytes: u64,
    /// Processes in the engine's tree (the pool's workers and its parent).
    pub processes: u64,
    /// Threads, summed over the tree.
    pub threads: u64,
    /// User CPU time so far, seconds, summed over the tree.
    pub cpu_user_secs: f64,
    /// System CPU time so far, seconds, summed over the tree.
    pub cpu_system_secs: f64,
    /// Voluntary context switches so far (blocked, yielded), summed over every thread.
    pub ctx_voluntary: u64,
    /// Involuntary context switches so far (preempted), summed over every thread.
    pub ctx_involuntary: u64,
    /// Open file descriptors, summed over the tree.
    pub open_fds: u64,
    /// System-wide TCP sockets in use (`/proc/net/sockstat`).
    pub tcp_inuse: u64,
    /// System-wide TCP buffer memory, bytes (`/proc/net/sockstat` pages × page size).
    pub tcp_mem_bytes: u64,
    /// System-wide kernel stacks (`/proc/meminfo` `KernelStack`): grows by one per thread.
    pub kernel_stack_bytes: u64,
    /// System-wide unreclaimable slab (`/proc/meminfo` `SUnreclaim`): sockets, epoll items.
    pub slab_unreclaim_bytes: u64,
    /// The load generator's own CPU time so far (user + system), seconds.
    pub client_cpu_secs: f64,
}

/// Figures derived from a step's load report and samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    /// Valid answers per second.
    pub throughput_rps: f64,
    /// Largest PSS seen, bytes.
    pub peak_pss_bytes: u64,
    /// Mean PSS over the window, bytes.
    pub mean_pss_bytes: u64,
    /// Largest RSS seen, bytes.
    pub peak_rss_bytes: u64,
    /// Mean RSS over the window, bytes.
    pub mean_rss_bytes: u64,
    /// Largest virtual size (VSZ) seen, bytes: address space reserved, touched or not. 0 in
    /// runs stored before it was kept.
    #[serde(default)]
    pub peak_vsz_bytes: u64,
    /// Engine CPU time over the window divided by its length: 1.0 is one core busy.
    pub engine_cores: f64,
    /// The load generator's cores used, the same way.
    pub client_cores: f64,
    /// Context switches (voluntary + involuntary) per second over the window.
    pub ctx_switches_per_sec: f64,
    /// Most threads seen.
    pub threads_max: u64,
    /// System TCP memory at the end of the window, bytes (kernel memory, shown apart).
    pub tcp_mem_bytes: u64,
    /// System unreclaimable slab at the end of the window, bytes.
    pub slab_unreclaim_bytes: u64,
    /// System kernel stacks at the end of the window, bytes.
    pub kernel_stack_bytes: u64,
    /// A count workload only (`GET /count?wait_ms=W`): how much the server's counter grew
    /// over the step, read with `GET /count` before the step and after it (once the waits
    /// in flight are over). `None` for other workloads, when a reading failed, and in runs
    /// stored before it was kept. See [`StepResult::lost_updates`].
    #[serde(default)]
    pub counter_growth: Option<u64>,
    /// A database workload only (`/db`, `/queries`): the database's CPU over the window, in
    /// cores, read from the PostgreSQL server's process tree as the engine's is (the same
    /// sampler, on the postmaster). `None` for other workloads and in runs stored before it
    /// was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_cores: Option<f64>,
    /// A database workload only: the database's largest PSS over the window, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_peak_pss_bytes: Option<u64>,
}

/// What one valid answer cost, and how far the step's headline figures can be trusted: the
/// 95 % intervals of [`crate::spread`]. Every field is `None` when it could not be had (no
/// answers, no samples, too few windows) and in runs stored before they were kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Estimates {
    /// Engine CPU time per valid answer, microseconds: what one answer cost the server. It
    /// stays fair when the load generator saturates, where req/s does not. `None` without
    /// answers or without CPU samples.
    #[serde(default)]
    pub engine_us_per_request: Option<f64>,
    /// The load generator's CPU time per valid answer, microseconds.
    #[serde(default)]
    pub client_us_per_request: Option<f64>,
    /// 95 % interval of the throughput, `[low, high]` req/s (batch means over the windows,
    /// or over the repeats of a combined step).
    #[serde(default)]
    pub throughput_ci: Option<[f64; 2]>,
    /// 95 % interval of p99 latency, `[low, high]` µs.
    #[serde(default)]
    pub p99_ci_us: Option<[f64; 2]>,
    /// 95 % interval of the engine CPU per answer, `[low, high]` µs.
    #[serde(default)]
    pub engine_us_per_request_ci: Option<[f64; 2]>,
}

/// Warnings about a step, shown wherever the step is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    /// The load generator used more than 0.9 of a core: the client, not the engine, may be
    /// the bottleneck.
    pub client_saturated: bool,
    /// Closed loop only: connections and throughput × mean latency (Little's law) differ by
    /// more than 20%, so time was lost somewhere the latency does not show.
    pub littles_law_off: bool,
    /// The level was not reached, and why.
    pub level_not_reached: Option<String>,
    /// A peer that cannot serve this workload (nginx has no `/work`): not measured, and not a
    /// failure either.
    #[serde(default)]
    pub not_supported: Option<String>,
}

/// Everything measured at one level of one workload on one engine. The default is an
/// empty closed-loop step, for tests to fill in (`..Default::default()`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// The engine (or peer) measured.
    pub engine: String,
    /// The workload's name.
    pub workload: String,
    /// The workload's mode.
    pub mode: Mode,
    /// The level: connections, or requests per second for open loop.
    pub level: u64,
    /// The load generator's report.
    pub load: LoadReport,
    /// The samples of the window.
    pub samples: Vec<Sample>,
    /// Derived figures.
    pub derived: Derived,
    /// Warnings.
    pub flags: Flags,
    /// Set when the step failed (the engine died, could not start): what happened.
    pub failure: Option<String>,
    /// Cost per request and the 95 % intervals of the headline figures, at the step's top
    /// level in JSON (`engine_us_per_request`, `throughput_ci`, …).
    #[serde(flatten)]
    pub estimates: Estimates,
    /// Which repeat of the step this is (0, 1, 2 … with `--repeat N`; each ran in a fresh
    /// engine process). A combined step ([`crate::spread::combine`]) keeps the first's.
    #[serde(default)]
    pub repeat: u32,
    /// The configuration the engine process of this step stated in its ready line (workers,
    /// threads, stack size, CPUs…): a fact reported by the engine, not inferred from the
    /// machine. Per step, because each workload starts its own process, and placement
    /// changes what the defaults come to (split gives the pool one CPU and so 3 workers,
    /// shared gives it 5 on two cores). `None` for runs stored before engines stated it, for
    /// a peer that cannot say (nginx), and for a step whose engine never started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<EngineFacts>,
    /// The system calls the engine counted itself during the measured window, and the
    /// answers of the window: `None` for engines that do not count them (and for peers,
    /// which cannot say), for steps on other hosts, and for runs from before engines counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<Syscalls>,
}

/// System calls an engine made in a step's measured window, as it counted them
/// (`wb_sys::syscalls`): `epoll_wait`, `read`, `write`… or `io_uring_enter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Syscalls {
    /// Calls by name; a call never made is left out.
    pub calls: std::collections::BTreeMap<String, u64>,
    /// The valid answers of the same window (the load report's `completed`).
    pub answers: u64,
    /// The running total of calls at each reading, `[ms since the step began, calls]`, one
    /// reading per [`WINDOW_MS`] on the clock of the load report's windows: what gives calls
    /// per answer its spread.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readings: Vec<[u64; 2]>,
}

impl Syscalls {
    /// Every call counted.
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Calls per answer; `None` without answers.
    pub fn per_answer(&self) -> Option<f64> {
        (self.answers > 0).then(|| self.total() as f64 / self.answers as f64)
    }

    /// Calls per answer with its interval: the calls of each of the load's `windows`
    /// (interpolated between the readings around its ends) over that window's answers, as
    /// batch means ([`crate::spread::from_windows`]), around the whole window's figure.
    /// Without readings or windows, the figure alone.
    pub fn per_answer_estimate(&self, windows: &[Window]) -> Option<crate::spread::Estimate> {
        let value = self.per_answer()?;
        let at = |ms: f64| -> Option<f64> {
            let after = self.readings.iter().position(|r| r[0] as f64 >= ms)?;
            let b = self.readings[after];
            if after == 0 {
                return (b[0] as f64 == ms).then_some(b[1] as f64);
            }
            let a = self.readings[after - 1];
            let span = (b[0] - a[0]).max(1) as f64;
            Some(a[1] as f64 + (b[1] as f64 - a[1] as f64) * (ms - a[0] as f64) / span)
        };
        let ratios: Vec<f64> = windows
            .iter()
            .filter(|w| w.answers > 0)
            .filter_map(|w| {
                let start = w.at_ms as f64;
                let calls = at(start + WINDOW_MS as f64)? - at(start)?;
                Some(calls.max(0.0) / w.answers as f64)
            })
            .collect();
        Some(match crate::spread::from_windows(&ratios) {
            Some(e) if e.has_interval() => crate::spread::Estimate {
                value,
                low: e.low.min(value),
                high: e.high.max(value),
                ..e
            },
            _ => crate::spread::Estimate::single(value),
        })
    }
}

/// What an engine process states about its own effective configuration, in its ready line
/// (`{"engine":…,"addr":…,"pid":…,"facts":{"workers":3,"cpus":1}}`) and its `--describe`
/// line. Every field is optional: an engine states what its model has, a peer what it can
/// (gunicorn its workers and threads), and a reader of an older line finds nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineFacts {
    /// The CPUs the process may run on: `std::thread::available_parallelism` in it, which is
    /// its `sched_getaffinity` count (capped by a cgroup CPU quota, if one applies). This is
    /// what every "one per core" default counts, the pool's 2 × CPUs + 1 among them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u64>,
    /// Worker processes, each serving one connection at a time (the pool, gunicorn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u64>,
    /// Threads that run the connections when their number is fixed: tokio's worker threads
    /// (1 for the current-thread flavour), the event loop's one thread, gunicorn gthread's
    /// threads per worker. `None` for the threads engine, which starts one per connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
    /// The stack each connection's thread reserves (the threads engine's `--stack-size`),
    /// bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_bytes: Option<u64>,
    /// The tokio scheduler (`current-thread`, `multi-thread`), for the coroutines engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
    /// The event loop under the selector's protocols (`mio`, `tokio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactor: Option<String>,
    /// Threads that CPU work is moved to (`--offload`): the selector's pool, or the most
    /// threads of tokio's blocking pool. `None` when the engine does not offload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offload_threads: Option<u64>,
    /// Database connections the engine may hold at once (`--db-pool`; the prefork pool's
    /// workers, one connection each): the bound on its database concurrency that the
    /// `db-pool` lesson reads. `None` in runs stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_pool: Option<u64>,
    /// Event loops, each on a thread of its own with its own listener on the shared port
    /// (the selector's `--loops`, nginx's workers): stated by engines that run loops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loops: Option<u64>,
}

impl EngineFacts {
    /// Whether nothing is stated.
    pub fn is_empty(&self) -> bool {
        self == &EngineFacts::default()
    }

    /// The facts in a short phrase for tables and pages: `3 workers, 1 CPU`.
    pub fn summary(&self) -> String {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if let Some(n) = self.workers {
            parts.push(plural(n, "worker", "workers"));
        }
        if let Some(n) = self.loops.filter(|&n| n > 1) {
            parts.push(plural(n, "loop", "loops"));
        }
        if let Some(n) = self.threads {
            parts.push(plural(n, "thread", "threads"));
        }
        if let Some(bytes) = self.stack_bytes {
            parts.push(format!("{} stacks", stack_text(bytes)));
        }
        if let Some(flavor) = &self.flavor {
            parts.push(flavor.clone());
        }
        if let Some(reactor) = &self.reactor {
            parts.push(format!("{reactor} reactor"));
        }
        if let Some(n) = self.offload_threads {
            parts.push(format!("offload to {}", plural(n, "thread", "threads")));
        }
        if let Some(n) = self.cpus {
            parts.push(plural(n, "CPU", "CPUs"));
        }
        parts.join(", ")
    }
}

/// A stack size as people write it: `8 MiB`, `32 KiB`, `12345 B`.
pub fn stack_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} B")
    }
}

impl StepResult {
    /// A count workload's lost updates: the answers the counter did not grow by, or `None`
    /// without a [`Derived::counter_growth`]. It is a lower bound: a request cut off at the
    /// end of the step (at most one per connection) or timed out may have written without
    /// being answered, which makes the growth larger; [`StepResult::lost_updates_high`] is
    /// the bound from above. In a server of several processes each has its own counter, and
    /// the growth is one process's: no figure of lost updates at all.
    pub fn lost_updates(&self) -> Option<i64> {
        let growth = self.derived.counter_growth?;
        Some(self.load.completed as i64 - growth as i64)
    }

    /// The most updates the step can have lost: [`StepResult::lost_updates`] plus one
    /// request per connection cut off at the step's end, plus every error.
    pub fn lost_updates_high(&self) -> Option<i64> {
        let low = self.lost_updates()?;
        Some(low + self.load.connections.max(self.level) as i64 + self.load.errors.total() as i64)
    }

    /// The worker processes this step's engine ran with, as its ready line stated them
    /// ([`StepResult::facts`]). For a step stored before engines stated their configuration:
    /// the processes the sampler counted in this step's tree, less the supervisor (measured
    /// in the step, never inferred from the machine). `None` for an engine without workers,
    /// or when neither is known.
    pub fn workers(&self) -> Option<u64> {
        match &self.facts {
            Some(facts) => facts.workers,
            None => self
                .samples
                .iter()
                .map(|s| s.processes)
                .max()
                .filter(|&p| p >= 2)
                .map(|p| p - 1),
        }
    }

    /// The CPUs this step's engine could run on, as it stated them; `None` when it did not.
    pub fn cpus(&self) -> Option<u64> {
        self.facts.as_ref().and_then(|f| f.cpus)
    }

    /// Whether the step measured its level: it did not fail, the load generator did not say
    /// the level was out of reach, and an idle step held every connection it asked for. A
    /// step that did not reach its level is no point of a slope: a pool of three workers
    /// "holding" 500 idle connections holds three.
    pub fn reached(&self) -> bool {
        self.failure.is_none()
            && self.flags.level_not_reached.is_none()
            && (self.mode != Mode::Idle || self.load.connections >= self.level)
    }
}

/// What one engine × workload produced, with per-workload figures (the idle slope).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct IdleSlope {
    /// Least-squares slope of PSS over open connections: bytes per idle connection.
    pub bytes_per_connection: f64,
    /// The intercept: the engine's base memory, bytes.
    pub base_bytes: f64,
    /// Slope of system kernel memory (TCP buffers + unreclaimable slab + kernel stacks)
    /// over connections: what the kernel pays per connection, whatever the model.
    pub kernel_bytes_per_connection: f64,
    /// Slope of the virtual size (VSZ) over connections: address space reserved per
    /// connection, touched or not (a thread's whole stack). `None` when a step has no
    /// virtual size (stored before it was kept).
    #[serde(default)]
    pub vsz_bytes_per_connection: Option<f64>,
}

impl IdleSlope {
    /// Fits the slope over the steps of an idle workload on one engine; `None` with fewer
    /// than two distinct connection counts.
    pub fn fit(steps: &[&StepResult]) -> Option<IdleSlope> {
        let points: Vec<(f64, f64, f64, u64)> = steps
            .iter()
            .filter(|s| s.reached())
            .map(|s| {
                let d = &s.derived;
                (
                    s.load.connections as f64,
                    d.peak_pss_bytes as f64,
                    (d.tcp_mem_bytes + d.slab_unreclaim_bytes + d.kernel_stack_bytes) as f64,
                    d.peak_vsz_bytes,
                )
            })
            .collect();
        let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
        let (slope, base) = least_squares(&xs, &points.iter().map(|p| p.1).collect::<Vec<_>>())?;
        let (kernel, _) = least_squares(&xs, &points.iter().map(|p| p.2).collect::<Vec<_>>())?;
        let vsz = if points.iter().all(|p| p.3 > 0) {
            least_squares(&xs, &points.iter().map(|p| p.3 as f64).collect::<Vec<_>>())
                .map(|(slope, _)| slope)
        } else {
            None
        };
        Some(IdleSlope {
            bytes_per_connection: slope,
            base_bytes: base,
            kernel_bytes_per_connection: kernel,
            vsz_bytes_per_connection: vsz,
        })
    }
}

/// Least-squares line through `(x, y)`: `(slope, intercept)`; `None` unless at least two
/// distinct x values.
pub fn least_squares(xs: &[f64], ys: &[f64]) -> Option<(f64, f64)> {
    let n = xs.len() as f64;
    if xs.len() < 2 || xs.len() != ys.len() {
        return None;
    }
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = ys.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let slope = sxy / sxx;
    Some((slope, mean_y - slope * mean_x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_line() {
        let xs = [0.0, 100.0, 1000.0, 5000.0];
        let ys: Vec<f64> = xs.iter().map(|x| 2_000_000.0 + 512.0 * x).collect();
        let (slope, intercept) = least_squares(&xs, &ys).unwrap();
        assert!((slope - 512.0).abs() < 1e-6);
        assert!((intercept - 2_000_000.0).abs() < 1e-3);
        assert_eq!(least_squares(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(least_squares(&[1.0], &[1.0]), None);
    }

    #[test]
    fn samples_and_derived_figures_stored_before_the_virtual_size_still_load() {
        let mut json = serde_json::to_value(Sample::default()).unwrap();
        json.as_object_mut().unwrap().remove("vsz_bytes");
        let sample: Sample = serde_json::from_value(json).unwrap();
        assert_eq!(sample.vsz_bytes, 0);
        let mut json = serde_json::to_value(Derived::default()).unwrap();
        json.as_object_mut().unwrap().remove("peak_vsz_bytes");
        let derived: Derived = serde_json::from_value(json).unwrap();
        assert_eq!(derived.peak_vsz_bytes, 0);
    }

    #[test]
    fn histogram_bytes_round_trip_as_hex_in_json() {
        let report = LoadReport {
            histogram: vec![0, 1, 0xab, 0xff],
            ..LoadReport::default()
        };
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"histogram\":\"0001abff\""), "{json}");
        let back: LoadReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }

    /// 10 clients, one answered every 10 ms for a second, nine never: 100 answers and 10
    /// censored (nine waiting the whole step, late; one in flight, younger than the answers).
    /// Ranks above 101 are bounds.
    #[test]
    fn percentiles_beyond_the_answered_are_lower_bounds() {
        let latency = Latency {
            count: 110,
            censored: 10,
            censored_late: 9,
            late_requests: 9,
            p50_us: 10_000,
            p99_us: 1_200_000,
            max_us: 1_200_000,
            ..Latency::default()
        };
        assert!(!latency.is_lower_bound(0.5));
        assert!(!latency.is_lower_bound(0.9), "rank 99 of 100 answered");
        assert!(latency.is_lower_bound(0.99), "rank 109");
        assert!(latency.is_lower_bound(1.0));
        assert!(latency.mean_is_lower_bound());
        assert_eq!(latency.percentile("p99"), Some((1_200_000, true)));
        assert_eq!(latency.percentile("p50"), Some((10_000, false)));
        // Censored requests all younger than the slowest answer: nothing is a bound.
        let young = Latency {
            censored_late: 0,
            late_requests: 0,
            ..latency
        };
        assert!(!young.is_lower_bound(1.0) && !young.mean_is_lower_bound());
        // Every request censored, none answered (so all late): even the p50 is a bound.
        let none = Latency {
            count: 10,
            censored: 10,
            censored_late: 10,
            late_requests: 10,
            ..latency
        };
        assert!(none.is_lower_bound(0.0) && none.is_lower_bound(0.5));
    }

    #[test]
    fn censored_counts_round_trip_and_default_to_zero() {
        let report = LoadReport {
            completed: 100,
            censored: 10,
            errors: ErrorCounts {
                reset: 2,
                ..ErrorCounts::default()
            },
            latency: Latency {
                count: 110,
                censored: 10,
                censored_late: 9,
                late_requests: 9,
                ..Latency::default()
            },
            ..LoadReport::default()
        };
        assert_eq!(report.sent(), 112);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["censored"], 10);
        assert_eq!(json["latency"]["censored"], 10);
        assert_eq!(json["latency"]["censored_late"], 9);
        let back: LoadReport = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, report);
        // A report stored before censored requests were kept.
        let mut old = json;
        old.as_object_mut().unwrap().remove("censored");
        let latency = old["latency"].as_object_mut().unwrap();
        latency.remove("censored");
        latency.remove("censored_late");
        let back: LoadReport = serde_json::from_value(old).unwrap();
        assert_eq!((back.censored, back.latency.censored), (0, 0));
        assert_eq!(back.sent(), 102);
    }

    #[test]
    fn status_names_round_trip() {
        for s in ["running", "completed", "failed", "interrupted"] {
            assert_eq!(RunStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(RunStatus::parse("done"), None);
    }
}

#[cfg(test)]
mod syscalls_tests {
    use super::*;

    fn window(at_ms: u64, answers: u64) -> Window {
        Window {
            at_ms,
            answers,
            errors: 0,
            p50_us: 0,
            p99_us: 0,
        }
    }

    #[test]
    fn calls_per_answer_has_the_spread_of_its_windows() {
        // 1000 answers a window; 2, 2, then 3, 3 calls each.
        let s = Syscalls {
            calls: [("read".to_string(), 10_000)].into(),
            answers: 4000,
            readings: vec![
                [1000, 0],
                [1200, 2000],
                [1400, 4000],
                [1600, 7000],
                [1800, 10_000],
            ],
        };
        let windows: Vec<Window> = [1000, 1200, 1400, 1600]
            .into_iter()
            .map(|at| window(at, 1000))
            .collect();
        let e = s.per_answer_estimate(&windows).unwrap();
        assert_eq!(e.value, 2.5);
        assert!(e.has_interval() && e.low < 2.5 && e.high > 2.5, "{e:?}");
        // Readings between window ends are interpolated; without windows, the figure alone.
        let e = s.per_answer_estimate(&[]).unwrap();
        assert!(!e.has_interval());
        assert_eq!(Syscalls::default().per_answer_estimate(&windows), None);
    }
}
