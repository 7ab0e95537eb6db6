//! The claims: one judge for every verdict the workbench gives.
//!
//! Each claim of the asyncio/Twisted debate ("a thread costs a stack", "you are probably
//! waiting on the database") is a [`Lesson`]: the claim, the workload that tests it, and a
//! judge that reads that workload's steps from one stored run and returns a [`Finding`] —
//! sentences computed from the figures, the charts that show them, and a [`Verdict`]. The
//! lessons pages, the overview's "at a glance", the reports' claims section and `workbench
//! show` all ask this module; nothing else judges.
//!
//! # How a verdict is reached
//!
//! - **No data** when the run does not have the workload: the finding says which command
//!   would get it.
//! - **Inconclusive** when the workload ran but a key engine is missing (the finding names
//!   `--engines pool`), when the levels could not show the effect, or when the figures'
//!   95 % intervals overlap the threshold: a difference inside the noise is not evidence
//!   either way. Missing data is never evidence against a claim.
//! - **Supported** or **not supported** only when the intervals separate: the whole interval
//!   is past the threshold, one way or the other. A figure without an interval (one reading)
//!   never gives a firm verdict.
//! - Every claim is a **contrast** that real data could refute: the loop against threads at
//!   the same level, the parallel models against the loop on both sides of one core, the pool
//!   against its ceiling from both sides. A step that failed, or a probe that got errors, is
//!   not evidence for the claim: inconclusive, with the reason.
//!
//! The thresholds are the named constants below, each with a line saying why that value. Peers
//! count as evidence where their [`Family`](wb_model::engines::Family) fits: asyncio and
//! Twisted are event loops, gunicorn's sync workers a prefork pool.
//!
//! The intervals come from [`wb_model::spread`]: batch means over a step's windows, the
//! repeats of a step, or the residuals of the idle slope.

mod evidence;
mod judges;
pub mod talk;
#[cfg(test)]
mod tests;

use crate::charts::Chart;

use crate::store::StoredRun;

pub(crate) use evidence::stack_sweep;
pub use evidence::{
    cores_estimate, cpu_per_request_estimate, idle_slope_estimate, idle_vsz_slope_estimate,
};
pub use judges::{ConnectionCost, IdleCosts, idle_costs};
use talk::Quote;

/// The free-threaded CPython (python3.14t or python3.13t) on this machine's PATH, if any: the
/// GIL lesson says whether its threads peer could run without the GIL here.
pub fn free_threaded_python() -> Option<String> {
    judges::free_threaded_python()
}

/// A factor of two is the least anyone would call "costs more": a thread per connection must
/// cost at least twice an event loop's connection for "a thread costs a stack" to hold.
pub const THREAD_COST_RATIO: f64 = 2.0;
/// A stack-size sweep's address space per connection must grow by the difference of the
/// stack sizes within this fraction, either way: every thread reserves its whole stack at
/// once, and the rest of what it maps (guard pages, signal stack) is the same whatever the
/// stack, so a tenth leaves room for the slope's noise but not for a stack not reserved.
pub const STACK_RESERVE_SLACK: f64 = 0.1;
/// "Resident stays flat" across a stack-size sweep: resident memory per connection differs
/// by less than this fraction of the difference of the stack sizes (under 820 KiB for 32 KiB
/// against 8 MiB). Stacks that were touched, not only reserved, would differ by all of it.
pub const RESIDENT_FRACTION: f64 = 0.1;
/// "Thousands" of sockets, as a contrast: ten thousand idle connections held by one loop. A
/// thousand would not tell the models apart (the threads engine holds two thousand as well);
/// ten thousand is within this machine's open-files limit (20,000 per process) and below the
/// threads engine's ceiling (about 16,000 threads at `vm.max_map_count` 65530), so both sides
/// of the contrast can be measured.
pub const THOUSANDS: u64 = 10_000;
/// "A small fraction": the loop's memory per connection is at most a tenth of a thread's.
pub const SMALL_FRACTION: f64 = 0.1;
/// One loop plus the signal thread the binary may start, and a spare: more threads than this
/// is not "one loop".
pub const ONE_LOOP_THREADS: u64 = 4;
/// A slow reader's download may take at most this many times the time its reading rate needs
/// before the loop is said to have fallen behind.
pub const DOWNLOAD_SLACK: f64 = 2.0;
/// A pool's throughput must lie within this factor of its ceiling (workers × 1000 ÷ wait ms),
/// either way, for the ceiling to be the explanation: above it the wait did not hold the
/// workers; below it something else (CPU, the client, a failure) limited the pool. The wait is
/// a timer, and timers fire a little early or late.
pub const CEILING_SLACK: f64 = 1.15;
/// Models that overlap waits must beat the pool by at least this factor for the difference
/// to be the one the claim describes.
pub const OVERLAP_ADVANTAGE: f64 = 1.5;
/// One loop uses one core; sampling and the kernel's work on its behalf may add a little:
/// above this many cores the "one loop" is not one. A parallel model must have its whole
/// interval above one core (1.0) to be said to run requests in parallel.
pub const ONE_CORE: f64 = 1.15;
/// A slow client holds a worker hostage when the probe's p99 behind it is at least this
/// many times the event loop's.
pub const HOSTAGE_FACTOR: f64 = 10.0;
/// An adapter is cheap when the adapted loop costs less than this fraction more CPU per
/// request than the framework's own loop: a quarter is well inside the factors of two and more
/// that separate the models here, so a cheaper adapter never changes which model to choose.
pub const ADAPTER_OVERHEAD: f64 = 0.25;

/// A completion loop "batches the system calls away" when it makes at most half the
/// readiness loop's calls per answer: one call fewer out of the readiness loop's two or three
/// per keep-alive request (a `recv`, a `writev`, a share of `epoll_wait`) would be less, so
/// only batching several operations per `io_uring_enter` passes.
pub const COMPLETION_CALLS_FACTOR: f64 = 2.0;
/// Loops "scale with cores" when N loops answer at least one and a half times what one loop
/// answers on CPU-bound requests: more than half of a second core's worth, which one loop
/// cannot give and a loop that only spread its waiting could not either.
pub const LOOPS_SPEEDUP: f64 = 1.5;
/// A framework costs more than its loop when its CPU per request is at least a quarter above
/// the same loop's bare: the quarter the adapters lesson allows a cheap adapter, so a
/// framework "costs more" exactly where an adapter would no longer be "cheap".
pub const FRAMEWORK_OVERHEAD: f64 = 0.25;
/// A scan "dominates" when poll's CPU per request at the most idle connections is at least
/// twice epoll's on the same protocol (the least anyone calls "costs more", as for a thread).
pub const SCAN_FACTOR: f64 = 2.0;
/// The fewest idle connections at which the scan is judged: a thousand sockets per turn is
/// where select() and poll() were said to break down (C10K), and where select() stops.
pub const SCAN_LEVEL: u64 = 1000;

/// Updates lost by at least this fraction of a step's answers (counted from below) is
/// "loses updates"; fewer (counted from above) is "loses none". One in a hundred is far
/// above what a step's cut-off requests blur (one per connection) at the count workloads'
/// thousands of answers, and far below what a wait between read and write loses (most of them).
pub const LOST_FRACTION: f64 = 0.01;

/// What the data says about a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The figures show what the claim says, beyond their intervals.
    Supported,
    /// The figures show the opposite, beyond their intervals (why: [`Finding::reason`]).
    NotSupported,
    /// The data cannot carry a verdict: a key engine is missing, the levels are too low, or
    /// the difference is inside the noise ([`Finding::reason`] says which).
    Inconclusive,
    /// No stored run has the workload this claim needs ([`Finding::reason`] gives the
    /// command that would get it).
    NoData,
}

impl Verdict {
    /// A short label: `supported here`, `inconclusive`, `no data yet`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Supported => "supported here",
            Verdict::NotSupported => "not supported here",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NoData => "no data yet",
        }
    }

    /// The CSS class of its badge.
    pub fn class(self) -> &'static str {
        match self {
            Verdict::Supported => "ok",
            Verdict::NotSupported => "bad",
            Verdict::Inconclusive => "warn",
            Verdict::NoData => "none",
        }
    }
}

/// What one run's figures say about one claim.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The verdict.
    pub verdict: Verdict,
    /// Why the claim is not supported or inconclusive, or what to run to get data; `None`
    /// when supported.
    pub reason: Option<String>,
    /// Sentences computed from the figures, in reading order.
    pub sentences: Vec<String>,
    /// The one sentence that sums it up, for the overview and the list of lessons.
    pub headline: Option<String>,
    /// The charts that show it.
    pub charts: Vec<Chart>,
    /// Inconclusive because the run lacks an engine the claim is about (`Finding::missing`):
    /// a page that looks through several runs prefers one that has it.
    pub missing_engine: bool,
}

/// A judge's conclusion before the sentences and charts are attached.
pub(crate) enum Outcome {
    Supported,
    NotSupported(String),
    Inconclusive(String),
}

impl Finding {
    pub(crate) fn no_data(command: String) -> Finding {
        Finding {
            verdict: Verdict::NoData,
            reason: Some(command),
            sentences: Vec::new(),
            headline: None,
            charts: Vec::new(),
            missing_engine: false,
        }
    }

    /// The workload ran, but without an engine the claim is about: inconclusive, naming the
    /// flag that adds it.
    pub(crate) fn missing(engines: &str, workload: &str, what: &str) -> Finding {
        Finding {
            verdict: Verdict::Inconclusive,
            reason: Some(format!(
                "This run has no {what}: run `workbench run --engines {engines} --workloads \
                 {workload}`."
            )),
            sentences: Vec::new(),
            headline: None,
            charts: Vec::new(),
            missing_engine: true,
        }
    }

    /// The same finding with the sentences and charts gathered before the verdict was known.
    pub(crate) fn with_sentences(mut self, sentences: Vec<String>, charts: Vec<Chart>) -> Finding {
        self.sentences = sentences;
        self.charts = charts;
        self
    }

    /// The headline: the chosen sentence, or the first.
    pub fn headline(&self) -> Option<&str> {
        self.headline
            .as_deref()
            .or(self.sentences.first().map(String::as_str))
    }

    pub(crate) fn with_headline(mut self, headline: Option<String>) -> Finding {
        self.headline = headline;
        self
    }

    pub(crate) fn judged(outcome: Outcome, sentences: Vec<String>, charts: Vec<Chart>) -> Finding {
        let (verdict, reason) = match outcome {
            Outcome::Supported => (Verdict::Supported, None),
            Outcome::NotSupported(why) => (Verdict::NotSupported, Some(why)),
            Outcome::Inconclusive(why) => (Verdict::Inconclusive, Some(why)),
        };
        Finding {
            verdict,
            reason,
            sentences,
            headline: None,
            charts,
            missing_engine: false,
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
    /// The question the lesson answers, in one line.
    pub question: &'static str,
    /// What to guess before opening the answer: a question with an answer the chart gives.
    pub prediction: &'static str,
    /// The words the lesson tests (the talk's, PEP 3156's or the workbench's own), cited on
    /// its page with [`Quote::cited`].
    pub chapter: Quote,
    /// What to try next: the knob to turn, or the lesson to read.
    pub try_next: &'static str,
    /// The "try it" form: which fields it offers and what it starts with.
    pub knobs: Knobs,
}

/// A lesson's "try it" form: a small run of its workload, with the knobs the lesson talks
/// about. The request's own figures (wait, CPU, bytes) start at the workload's, read from
/// its preset when the page is drawn: nothing here repeats them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    /// The engines, as `workbench run --engines` takes them (`pool:workers=8` included).
    pub engines: &'static str,
    /// The peers, as `workbench run --peers` takes them (empty: none).
    pub peers: &'static str,
    /// The levels: few and small, so that the run takes under a minute.
    pub levels: &'static [u64],
    /// Seconds measured at each level.
    pub step_secs: f64,
    /// Offer the wait (ms) of each request.
    pub wait: bool,
    /// Offer the CPU (µs) of each request.
    pub cpu: bool,
    /// Offer the body bytes of each answer.
    pub bytes: bool,
    /// Offer the pool's worker count (a `pool:workers=N` beside the pool).
    pub pool_workers: bool,
    /// Offer the threads' stack size (a `threads:stack-size=S` beside the threads engine).
    pub stack_size: bool,
}

impl Knobs {
    const fn of(engines: &'static str, levels: &'static [u64], step_secs: f64) -> Knobs {
        Knobs {
            engines,
            peers: "",
            levels,
            step_secs,
            wait: false,
            cpu: false,
            bytes: false,
            pool_workers: false,
            stack_size: false,
        }
    }
}

/// Every lesson, in reading order.
pub const LESSONS: &[Lesson] = &[
    Lesson {
        slug: "thread-memory",
        title: "A thread costs a stack",
        claim: "Every thread reserves a stack (2 MiB by default for a Rust thread; 8 MiB for a new \
                thread under glibc, taken from RLIMIT_STACK; 32 KiB is the smallest CPython's \
                threading.stack_size allows) and is a kernel task: holding connections with \
                threads costs more memory per connection than an event loop's state for one.",
        why: "The stack is reserved address space: only the pages a thread touches become \
              resident, so what a thread really costs is a few pages of stack plus the \
              kernel's task and 16 KiB kernel stack. The idle workload opens N connections and \
              holds them; the slope of memory over N is what one connection costs.",
        workload: "idle",
        judge: judges::thread_memory,
        question: "What does holding one idle connection cost: a thread, or an event loop's \
                   entry?",
        prediction: "How many times more memory will a thread cost per idle connection than \
                     the densest event loop: about the same, ten times, a hundred times?",
        chapter: talk::THREAD_COST,
        try_next: "Change the threads' stack size below: the reserved stack grows, but does the \
                   cost per connection? Then read \"A thread's stack is reserved, not touched\".",
        knobs: Knobs {
            stack_size: true,
            ..Knobs::of("threads, selector, coroutines", &[0, 500, 1000], 1.0)
        },
    },
    Lesson {
        slug: "stack-size",
        title: "A thread's stack is reserved, not touched",
        claim: "The talk's \"Thread memory overhead: 32kB to 8MB per thread\" is the stack each thread reserves: \
                address space, not memory. Whatever the stack size, a thread holding an idle \
                connection keeps only the pages it touched resident, while the address space \
                grows by the whole stack per thread.",
        why: "The idle workload holds N connections on the threads engine at several stack \
              sizes (threads:stack-size=32KiB, the 2 MiB default, threads:stack-size=8MiB). \
              The sampler reads the engine's virtual size (VSZ: everything mapped) beside its \
              PSS (what is resident); the slope of each over N is what one connection \
              reserves and what it costs. A new thread's stack is one mmap of the whole size \
              and a guard page; the kernel backs a page only when the thread first writes it.",
        workload: "idle",
        judge: judges::stack_reserved,
        question: "Does a thread with an 8 MiB stack cost 256 times one with 32 KiB?",
        prediction: "From a 32 KiB stack to an 8 MiB one, how much more resident memory will \
                     each idle connection cost: 256 times, twice, or nothing you can see?",
        chapter: talk::THREAD_COST,
        try_next: "Put another stack size beside the three (any size from 16 KiB): the address \
                   space follows it, the resident memory does not.",
        knobs: Knobs {
            stack_size: true,
            ..Knobs::of(
                "threads:stack-size=32KiB, threads, threads:stack-size=8MiB",
                &[0, 500, 1000],
                1.0,
            )
        },
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
        judge: judges::selector_thousands,
        question: "Can one thread with one epoll set hold ten thousand open connections?",
        prediction: "At ten thousand idle connections, how many threads will the selector run, \
                     and how many will the threads engine run?",
        chapter: talk::SELECTOR_THOUSANDS,
        try_next: "Watch the thread counts side by side at each level, then see what each \
                   connection costs in \"A thread costs a stack\".",
        knobs: Knobs::of("threads, selector", &[0, 1000, 10000], 1.0),
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
        judge: judges::big_response,
        question: "What happens to a server when its clients read slowly?",
        prediction: "Ten clients each download a big answer slowly: how long will the pool \
                     keep everyone else waiting, and what will the selector hold meanwhile?",
        chapter: talk::WRITES_QUEUED,
        try_next: "Make the answer bigger or give the pool more workers: who is held, and for \
                   how long?",
        knobs: Knobs {
            bytes: true,
            pool_workers: true,
            ..Knobs::of("threads, pool, selector, coroutines", &[1, 10], 2.0)
        },
    },
    Lesson {
        slug: "db-wait",
        title: "You're probably waiting on the client or the database",
        claim: "The talk's chapter 13: most web requests spend their time waiting on something \
                else. Then what matters is how many waits a model can overlap, not how fast it \
                computes, and a pool of N workers caps throughput at N divided by the wait.",
        why: "Every db-wait request waits a fixed time (its wait_ms) and computes nothing. A \
              worker that waits serves nobody else, so N workers finish at most N requests \
              per wait: N × 1000 ÷ the wait in ms, each second. Threads, the \
              selector's timers and tokio's timer wheel overlap as many waits as there are \
              connections.",
        workload: "db-wait",
        judge: judges::db_wait,
        question: "When every request waits on a database, what limits throughput?",
        prediction: "What will the pool do at 100 connections: keep up with the others, or stop \
                     at a ceiling? Where would that ceiling be?",
        chapter: talk::WAITING,
        try_next: "Give the pool more workers, or make the wait longer: the ceiling moves with \
                   both, the other models do not hit one.",
        knobs: Knobs {
            wait: true,
            pool_workers: true,
            ..Knobs::of("threads, pool, selector, coroutines", &[1, 10, 100], 1.0)
        },
    },
    Lesson {
        slug: "cpu-parallelism",
        title: "Concurrency is not parallelism",
        claim: "An event loop handles many connections at once, but runs one piece of work at a \
                time: CPU-bound requests use one core, and each one stalls the others unless \
                the work is deferred to a thread pool.",
        why: "The cpu workload burns a fixed amount of SHA-256 per request (its cpu_us, \
              turned into rounds by this machine's calibration at the start of each run). Threads, processes and \
              tokio's multi-thread runtime run requests on every core; the selector's one loop \
              runs them one after another on one core. --offload moves the work to a pool \
              (Twisted's deferToThread).",
        workload: "cpu",
        judge: judges::cpu_parallelism,
        question: "Does handling many connections at once mean using many cores?",
        prediction: "With four clients each asking for CPU work, how many cores will the \
                     selector's one loop use, and how many will threads?",
        chapter: talk::NOT_PARALLELISM,
        try_next: "Make each request heavier or lighter, and compare the selector with \
                   selector-offload, whose loop defers the work to a thread pool.",
        knobs: Knobs {
            cpu: true,
            ..Knobs::of(
                "threads, pool, selector, selector-offload, coroutines",
                &[2, 4],
                1.5,
            )
        },
    },
    Lesson {
        slug: "slowloris",
        title: "Slow clients hold workers hostage",
        claim: "The workbench's own contrast, not the talk's: a client that sends its request \
                one byte at a time holds whatever serves it. When that is a worker from a fixed \
                pool, as many such clients as the pool has workers deny service to everyone \
                else; an event loop keeps a few bytes for each.",
        why: "The slowloris workload opens N connections that send a header byte every 100 ms \
              and never finish, while a probe client measures /hello. Each slow client pins \
              a thread or a prefork worker; in the selector and in tokio it is a small \
              struct waiting for readiness.",
        workload: "slowloris",
        judge: judges::slowloris,
        question: "Can a handful of clients that never finish their request lock everyone out?",
        prediction: "With twenty slow clients connected, will a probe client still get answers \
                     from the pool? From the selector?",
        chapter: talk::HOSTAGE,
        try_next: "Give the pool more workers than there are slow clients: does the probe get \
                   through again?",
        knobs: Knobs {
            pool_workers: true,
            ..Knobs::of("threads, pool, selector, coroutines", &[0, 20], 1.5)
        },
    },
    Lesson {
        slug: "one-protocol-many-loops",
        title: "One protocol, many loops",
        claim: "PEP 3156: keep the default event loop and adapt it to the framework's API. A \
                framework's protocols run unchanged on another loop through an adapter \
                (Twisted's asyncioreactor, Tornado on asyncio). The workbench's own threshold \
                for \"cheap\", not the PEP's: less than a quarter more CPU per request than the \
                framework's own loop.",
        why: "An adapter turns the other loop's events into the framework's callbacks: the \
              selector's HttpProtocol runs on its own mio loop or, through a tokio adapter, as \
              one tokio task per connection; Twisted runs on its epoll reactor or on asyncio's \
              loop (and uvloop). The hello workload measures engine CPU per request and p99, \
              the idle workload the bytes each connection holds, native against adapted.",
        workload: "hello",
        judge: judges::one_protocol_many_loops,
        question: "Does running a framework's protocol on another loop, through an adapter, \
                   cost much?",
        prediction: "How much more CPU per request will the selector's protocol cost on tokio's \
                     loop than on its own mio loop: none, a quarter, double?",
        chapter: talk::ADAPT_THE_LOOP,
        try_next: "Add coroutines to set the adapter against a loop written for tokio, or add \
                   the Twisted peers (twisted, twisted-asyncio) if they are installed.",
        knobs: Knobs::of("selector, selector-on-tokio", &[1, 16], 1.5),
    },
    Lesson {
        slug: "readiness-completion",
        title: "Readiness or completion",
        claim: "The workbench's own contrast: a readiness loop (epoll) asks the kernel which \
                sockets are ready, then calls recv and writev itself for each request; a \
                completion loop (io_uring, like Windows' IOCP behind Twisted's iocpreactor) \
                hands the kernel the reads and writes and collects their results, many in one \
                system call. Under load it makes at most half the system calls per request.",
        why: "Each engine counts the system calls it makes (epoll_wait, recv, writev, epoll_ctl \
              for the selector; io_uring_enter for uring) and the runner reads the counts \
              beside the answers of each window. One io_uring_enter submits every operation \
              queued since the last and reaps every completion that came; the receive draws \
              its buffer from a pool only when bytes arrive, so an idle connection holds none \
              in the process (its posted receive is kernel memory). CPU per /hello and bytes \
              per idle connection stand beside, with nginx's when it ran.",
        workload: "hello",
        judge: judges::readiness_completion,
        question: "Does handing the kernel the I/O, instead of asking what is ready, save \
                   system calls and CPU?",
        prediction: "At 64 connections of /hello, how many system calls per request will the \
                     selector make, and how many will uring: the same, half, a tenth?",
        chapter: talk::COMPLETION,
        try_next: "Compare one connection with many: with one client there is nothing to batch, \
                   and the two loops make nearly the same calls. Then add nginx \
                   (--peers nginx) beside them.",
        knobs: Knobs::of("selector, uring", &[1, 16, 64], 1.5),
    },
    Lesson {
        slug: "loop-per-core",
        title: "Concurrency and parallelism together",
        claim: "The workbench's own contrast: one event loop runs on one core, so a server that \
                outgrows it runs one loop per core, each with its own listener on the same \
                port (SO_REUSEPORT; nginx's workers, gunicorn with uvicorn workers, Node's \
                cluster). On CPU-bound requests N loops answer about N times what one loop \
                does, as threads do, while sharing nothing.",
        why: "The selector with --loops N runs N mio loops, each on its own thread with its \
              own SO_REUSEPORT listener; the kernel hashes each new connection to one of \
              them, and it stays there. The cpu workload burns a fixed amount of SHA-256 per \
              request; the hello workload shows the same engines when requests cost little. \
              The engines state their loops and the CPUs they may use; the sampler measures \
              the cores they used.",
        workload: "cpu",
        judge: judges::loop_per_core,
        question: "Does running one event loop per core make an event-loop server use every \
                   core?",
        prediction: "On CPU-bound requests, how many more answers will two loops give than \
                     one: none, half again, twice as many?",
        chapter: talk::LOOP_PER_CORE,
        try_next: "Set the loops to the machine's cores and beyond (selector:loops=N): past the \
                   cores, more loops only take turns. Then read \"Concurrency is not \
                   parallelism\".",
        knobs: Knobs {
            cpu: true,
            ..Knobs::of("selector, selector-loops, threads", &[2, 4], 1.5)
        },
    },
    Lesson {
        slug: "gil",
        title: "Python threads share one core",
        claim: "Python servers are deployed with runners that run many copies using threads or \
                processes. In CPython the threads of one process take turns holding the GIL \
                to run Python: CPU-bound requests on threads use about one core, while \
                processes, each with its own interpreter, use them all.",
        why: "The cpu workload burns SHA-256 rounds in Python on every request. python-threads \
              (socketserver.ThreadingTCPServer, a thread per connection) and gunicorn's \
              gthread workers (a thread pool in one process) run them on threads of one \
              interpreter; gunicorn's sync workers in processes. A thread releases the GIL \
              while it waits on a socket or sleeps, so waits overlap; CPU work does not. A \
              free-threaded build (python3.13t, 3.14t) has no GIL.",
        workload: "cpu",
        judge: judges::gil,
        question: "Do Python threads use more than one core on CPU-bound requests?",
        prediction: "Four clients ask for CPU work: how many cores will Python's threads use, \
                     and how many will gunicorn's processes?",
        chapter: talk::RUNNERS,
        try_next: "Make each request lighter: when requests mostly wait, do threads catch up \
                   with processes? (The peers must be installed: workbench peers install.)",
        knobs: Knobs {
            peers: "python-threads, gunicorn-gthread, gunicorn-sync",
            cpu: true,
            ..Knobs::of("", &[2, 4], 1.5)
        },
    },
    Lesson {
        slug: "race-conditions",
        title: "Use safely (without race conditions)",
        claim: "Shared state needs care in every model: threads lose updates unless they lock; \
                an event loop loses them only when a wait sits between the read and the \
                write; processes share no memory at all.",
        why: "GET /count?wait_ms=5 reads a counter shared by the server process, waits, and \
              writes back the value read plus one: two atomic steps with a wait between \
              (no data race: safe Rust's atomic load, then store). The runner reads the \
              counter before and after each step: answers it did not grow by are lost \
              updates. Threads run whenever the kernel says; one loop runs nothing between \
              two statements of a callback, but runs other requests during an await or a \
              timer. count-nowait is the same with no wait.",
        workload: "count",
        judge: judges::race_conditions,
        question: "Which models lose updates to shared state, and when?",
        prediction: "Ten clients increment one counter with a wait between read and write: \
                     which servers lose updates, and will the selector's one loop?",
        chapter: talk::SAFELY,
        try_next: "Set the wait to 0: the loop stops losing updates, unlocked threads may not.",
        knobs: Knobs {
            wait: true,
            ..Knobs::of(
                "threads, threads-locked, pool, selector, coroutines",
                &[1, 10],
                1.0,
            )
        },
    },
    Lesson {
        slug: "db-pool",
        title: "The database's connections are the real pool",
        claim: "Behind a real database, throughput is capped by the connections the server \
                holds to it (its pool, and the database's max_connections), whatever the \
                model: once every connection is kept busy, more clients bring no more answers, \
                only longer waits. \
                A thread per connection waiting on five database connections serves like a \
                five-worker prefork pool.",
        why: "Every db request reads one row of PostgreSQL's World table with the engine's \
              own client: a blocking client from a pool for threads, one connection per \
              worker for the prefork pool, tokio-postgres from a pool for coroutines, a \
              client of its own on the loop for the selector (readiness: epoll) and for \
              uring (completion: its sends and receives are operations on the ring). A \
              request holds one database connection for its query; with more clients than \
              connections, the rest wait for one — a thread asleep on the pool's lock, a task \
              parked in its queue, a client in the listen backlog. The database's own \
              processes run on the same machine, and the sampler reads their CPU beside the \
              engine's.",
        workload: "db",
        judge: judges::db_pool,
        question: "When every request queries a real database, what caps the throughput: \
                   the model, or the pool of database connections?",
        prediction: "From ten clients to a hundred, on five database connections, how much \
                     more throughput will threads get? And coroutines?",
        chapter: talk::WAITING,
        try_next: "Give the engines a smaller or larger pool (threads:db-pool=1, \
                   coroutines:db-pool=20, pool:workers=2): the cap moves with the pool, not \
                   with the model.",
        knobs: Knobs {
            pool_workers: true,
            ..Knobs::of("threads, pool, coroutines", &[1, 10, 100], 1.0)
        },
    },
    Lesson {
        slug: "framework-cost",
        title: "The framework costs more than the loop",
        claim: "The workbench's own contrast: a Python web framework (twisted.web, aiohttp, \
                Starlette, tornado.web, gevent's pywsgi) costs more CPU per request than the \
                event loop it runs on, bare: at least a quarter more than the same loop serving \
                the same answers with a raw protocol.",
        why: "Each pair is one loop twice. Bare, a raw protocol parses with a small shared core \
              and writes the answer's bytes; under the framework, its parser builds request \
              objects, its router and middleware run, and it frames the response. The hello \
              workload measures engine CPU per request on both; the idle workload the bytes \
              each idle connection holds.",
        workload: "hello",
        judge: judges::framework_cost,
        question: "How much of a Python server's cost per request is the framework, and how \
                   much the loop?",
        prediction: "aiohttp runs on the same asyncio loop as a bare asyncio Protocol: will it \
                     cost the same per request, half as much again, or several times more?",
        chapter: talk::FRAMEWORK_COST,
        try_next: "Add gunicorn-uvicorn and granian: the same bare ASGI app under another \
                   server. Then read \"One protocol, many loops\" for what the loop costs.",
        knobs: Knobs {
            peers: "twisted, twisted-web, asyncio, aiohttp, uvicorn, starlette",
            ..Knobs::of("", &[1, 16], 1.5)
        },
    },
    Lesson {
        slug: "selector-functions",
        title: "select and poll scan every socket, epoll does not",
        claim: "The workbench's own contrast on the talk's selector functions: select() and \
                poll() hand the kernel every socket the loop holds on every turn, so each \
                request costs more the more idle connections are held; epoll keeps the set in \
                the kernel and returns only the ready ones, so the cost stays flat; select() \
                cannot take a descriptor past FD_SETSIZE at all.",
        why: "The idle-hello workload holds K idle connections while 16 others request /hello. \
              Twisted's reactors run the same protocol on select(), poll() and epoll: only the \
              selector function differs. Each poll() call copies and scans an array of every \
              descriptor; select() three bitmaps of at most 1,024; epoll_wait() returns only \
              what became ready.",
        workload: "idle-hello",
        judge: judges::selector_functions,
        question: "Do idle connections slow the busy ones down?",
        prediction: "With 5,000 idle connections held, how much more CPU will each request cost \
                     on poll than on epoll: the same, twice, ten times? And on select?",
        chapter: talk::SELECTOR_SCAN,
        try_next: "Read \"One selector loop holds thousands of sockets\": what epoll makes \
                   possible, in memory.",
        knobs: Knobs {
            peers: "twisted, twisted-poll, twisted-select",
            ..Knobs::of("selector", &[0, 1000, 5000], 1.5)
        },
    },
];

/// The lesson at this slug.
pub fn find(slug: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.slug == slug)
}

/// The command that gets data for a lesson.
pub fn hint(lesson: &Lesson) -> String {
    match lesson.slug {
        "gil" => "workbench peers install, then workbench run --peers \
                  python-threads,gunicorn-gthread,gunicorn-sync --workloads cpu"
            .into(),
        "readiness-completion" | "loop-per-core" => judges::BEYOND_COMMAND.into(),
        "stack-size" => format!(
            "workbench run --engines {} --workloads idle",
            judges::SWEEP_ENGINES
        ),
        "framework-cost" => "workbench peers install, then workbench run --peers \
                             twisted,twisted-web,asyncio,aiohttp,uvicorn,starlette --workloads \
                             hello,idle"
            .into(),
        "selector-functions" => "workbench peers install, then workbench run --engines \
                                 selector --peers twisted,twisted-poll,twisted-select \
                                 --workloads idle-hello"
            .into(),
        "race-conditions" => {
            "workbench run --engines threads,threads-locked,selector,coroutines,pool \
                              --workloads count,count-nowait"
                .into()
        }
        _ => format!("workbench run --workloads {}", lesson.workload),
    }
}

/// Every lesson's finding on one run, in reading order: what `workbench show`, the report's
/// claims section and the overview's "at a glance" list.
pub fn judge_all(run: &StoredRun) -> Vec<(&'static Lesson, Finding)> {
    LESSONS.iter().map(|l| (l, (l.judge)(run))).collect()
}

#[cfg(test)]
mod table {
    use super::*;

    #[test]
    fn every_lesson_has_a_unique_slug_and_a_preset_workload() {
        for (i, l) in LESSONS.iter().enumerate() {
            assert!(LESSONS[i + 1..].iter().all(|o| o.slug != l.slug));
            assert!(
                wb_model::spec::PRESETS
                    .iter()
                    .any(|(name, _)| *name == l.workload)
            );
            assert_eq!(find(l.slug).unwrap().title, l.title);
            assert!(
                !l.question.is_empty() && l.question.ends_with('?'),
                "{}",
                l.slug
            );
            assert!(l.prediction.ends_with('?'), "{}", l.slug);
            assert!(!l.try_next.is_empty());
            assert!(!l.knobs.levels.is_empty());
            assert!(!l.knobs.engines.is_empty() || !l.knobs.peers.is_empty());
            let engines: Vec<&str> = l
                .knobs
                .engines
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .collect();
            wb_model::engines::parse_engines(&engines).unwrap();
        }
    }

    #[test]
    fn no_claim_text_carries_a_measured_figure() {
        // Figures come from the run: a claim or its mechanism never states what this machine
        // measured ("115 B to about 2 KiB here", "burns 500 µs").
        for l in LESSONS {
            for text in [l.claim, l.why] {
                assert!(
                    !text.contains(" here,") && !text.contains(" here ("),
                    "{}",
                    l.slug
                );
                assert!(
                    !text.contains("500 µs") && !text.contains("115 B"),
                    "{}",
                    l.slug
                );
            }
        }
    }
}
