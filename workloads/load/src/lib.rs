//! The load generator: it drives one level of a workload against a server, checks every
//! answer, and measures what comes back.
//!
//! # Closed loops and open loops
//!
//! A **closed loop** is N users who each wait for their answer before asking again: N
//! keep-alive connections, one request in flight on each. Throughput is then N divided by
//! latency (Little's law), so the load *adapts to the server*: when the server slows down, the
//! generator sends less. That is the right model for "how many requests per second can N
//! concurrent clients get", and the wrong one for "what latency do users see": if the server
//! stalls for a second, the generator politely sends nothing during that second, and only the
//! N requests that were in flight record the stall.
//!
//! An **open loop** sends requests at a fixed arrival rate R, whatever the server does, the way
//! independent users on the internet arrive: request `i` is due at `t_i = start + i/R`. When
//! every connection is busy the generator opens another one (up to
//! [`LoadPlan::max_connections`]); past that cap, due requests wait in a queue in the client.
//!
//! # Coordinated omission, and why latency is measured from the intended send time
//!
//! Gil Tene named the trap: a generator that waits for the server before sending (a closed
//! loop, or an open loop whose connections are all busy) *coordinates* with the server and
//! *omits* the requests that a stall delayed. Say requests are due every 2 ms (500/s) on one
//! connection and the server stalls once for 200 ms. Measured from the moment each request was
//! actually sent, one request took 200 ms and the hundred sent late, in a burst after the stall,
//! look fast: p99 barely moves. Measured from when each request *should* have been sent, those
//! hundred requests waited 200, 198, 196, … ms, which is what a hundred users would have felt:
//! p99 is then about 180 ms. So an open-loop report carries both: [`LoadReport::latency`] is
//! *corrected* (done − intended send time) and [`LoadReport::latency_uncorrected`] is from the
//! actual send, shown beside it so the difference teaches. Closed-loop latency is from the
//! actual send (there is no intended time), and says it is closed-loop (see
//! [`Mode::Closed`]).
//!
//! # The modes
//!
//! - [`Mode::Closed`]: `level` keep-alive connections, request → full answer → next request.
//! - [`Mode::Open`]: `level` requests per second, corrected and uncorrected histograms.
//! - [`Mode::Idle`]: open `level` connections, one request each, then hold them idle while the
//!   runner's sampler reads memory. The connections are opened first (at most
//!   [`IDLE_OPEN_TIMEOUT`]), then held for `warmup + duration`; `completed` is the answers
//!   received and `connections` the connections still open at the end. With
//!   [`LoadPlan::active`] connections besides (the `idle-hello` workload), those run a closed
//!   loop of the request during the hold: `completed` and `latency` are then theirs, measured
//!   while the idle ones are held, and `connections` still counts the idle ones.
//! - [`Mode::SlowReaders`]: `level` clients read their (large) answer at
//!   [`LoadPlan::read_rate`] bytes per second, over and over; latency is the time to receive
//!   a whole answer. The kernel still buffers up to its receive window (about 128 KiB by
//!   default) ahead of the reader; past that the server's writes block.
//! - [`Mode::SlowSenders`]: `level` slowloris clients send `GET /hello HTTP/1.1`, a `Host` and
//!   then an endless `X-Pad` header, one byte every [`LoadPlan::send_interval`], while one
//!   probe connection runs a closed loop of the plan's request. `latency` and `completed` are
//!   the probe's; `connections` counts the slow clients (not the probe). A slow client whose
//!   connection the server ends (a `408`, a `431`, a timeout) reconnects after one interval
//!   and starts over; reconnections are not errors (they are the server defending itself) and
//!   are only logged at debug level.
//!
//! # What is counted
//!
//! Every step is a warm-up (`plan.warmup`, not recorded) then a measured window
//! (`plan.duration`). An answer counts when its last byte arrives inside the window; its
//! latency is still measured from its send (or intended send), even if that was in the
//! warm-up. When the window ends, requests still unanswered are **censored**: not errors, not
//! answers, but counted ([`LoadReport::censored`]) and recorded in the latency histogram at the
//! time they had waited by then, a lower bound of their latency. That is a request in flight
//! (from its send, in the window or in the warm-up before it), a closed-loop client still
//! connecting or queued for a connect slot (from its attempt), and, open loop, a request still
//! queued in the client or in flight (from its intended send; the uncorrected histogram gets
//! the ones sent, from their send). Without them a server that answers 3 of 100 clients and
//! leaves 97 in its accept queue would report the latency of the 3; with them its p99 reads
//! "at least the step's length" ([`Latency::is_lower_bound`](wb_model::results::Latency::is_lower_bound)).
//! The step then returns at once (the drain is immediate). Answers in the warm-up are not
//! counted, and the short windows count answers only. Every answer is checked
//! (work is verified: no engine can skip work unnoticed): for the workbench's own routes ([`Expectation::Workbench`]) status 200,
//! `Content-Length` equal to the expected length, the body itself, and `X-Work-Digest` when
//! expected; for any other server ([`Expectation::AnyServer`]) a well-framed body and a
//! status the plan expects ([`LoadPlan::expect_status`], 2xx by default). A wrong answer is a
//! [`bad_response`](wb_model::results::ErrorCounts::bad_response). As in wrk, every whole
//! answer is timed and counted by status ([`LoadReport::status_codes`]), an unexpected
//! status too (it is still a `bad_response`); a malformed answer is not timed. Response errors count when
//! they happen inside the window; connect errors count whenever they happen. After any error
//! (but a whole answer with an unexpected status, which leaves the connection as usable as
//! any answer) the connection is closed and reopened, so the load goes on; nothing here panics
//! on what a server sends.
//!
//! # Pipelining, connections per request, a request count, stopping early
//!
//! A closed loop may pipeline ([`LoadPlan::pipeline`]): each connection writes N requests at
//! once and then reads their N answers in order, each timed from the write (HTTP/1.1 lets a
//! client do so, and a server must answer in order: TechEmpower's plaintext test sends 16).
//! A failure fails the answer it hit and every one behind it on that connection, so that
//! the requests sent are still answered + failed + censored. Without keep-alive
//! ([`LoadPlan::disable_keepalive`]) every request asks `Connection: close` and goes on a new
//! connection. A request budget ([`LoadPlan::max_requests`], `-n`) ends the step when its last
//! request is answered, across threads. A [`Stop`] (`workbench load` on Ctrl-C) ends the
//! window where it was given: answers until then count, the requests then in flight are
//! censored at their wait so far, and nothing is sent after it.
//!
//! When connections cannot be opened (the open-files limit, a refusing port, no free local
//! port), [`LoadReport::not_reached`] says why and [`LoadReport::connections`] how many were
//! open, and the step carries on with those.
//!
//! # Implementation
//!
//! [`run`] starts [`LoadPlan::threads`] threads (by default one per CPU the caller may run
//! on: with split placement, the runner has pinned it to the generator's half), and each
//! builds its own **current-thread** tokio runtime and runs its share of the connections as
//! tasks on a [`LocalSet`]. This is the shape of `wrk -t N`: N event loops that share
//! nothing while the step runs. A multi-thread runtime would add work stealing,
//! cross-thread wake-ups and atomics to every request; one runtime per thread lets each
//! thread's statistics live in a plain `RefCell`, with no locks, and the threads' counts are
//! added once, at the end (histograms add exactly, so the merged percentiles are those of
//! every answer). When the client's cores are saturated the runner flags the step: the
//! bottleneck is shown, not hidden.
//!
//! The hot path allocates nothing: the request bytes are built once, and each connection owns
//! one read buffer (sized to the expected answer, from 2 to 64 KiB) and an answer checker
//! (module `answer`) that parses the head with `httparse` and checks the body as it streams
//! through that buffer, never holding a whole large body. Idle connections keep no buffer and
//! no task: once answered, a connection leaves the runtime and is held as a bare descriptor.
//!
//! The open loop's dispatcher sleeps on a `timerfd` (module `timer`) rather than on tokio's
//! timer, which ticks in whole milliseconds: a request due every 2 ms would otherwise go out
//! up to a millisecond late, and the corrected latency would carry the generator's own lag.
//! What remains is the kernel's wake-up latency, tens of microseconds.
//!
//! The modules, by what they hold: `closed`, `open`, `idle` and `slow` are the modes; `step`
//! is the state a step's tasks share; `clock` its timeline; `connect` opening connections and
//! explaining failures; `exchange` one request and its answer; `answer` checking an answer's
//! bytes; `stats` the counts and histograms; `timer` the open loop's `timerfd`.

mod answer;
mod clock;
mod closed;
mod connect;
pub mod counter;
mod exchange;
mod idle;
mod open;
mod slow;
mod stats;
mod step;
mod timer;
pub mod url;
pub mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::LocalSet;

use wb_model::results::LoadReport;
use wb_model::spec::{Mode, RequestSpec, Route};

/// No complete answer this long after the request was sent is a
/// [`timeout`](wb_model::results::ErrorCounts::timeout), and the connection is reopened.
///
/// Ten seconds is far above any latency the presets produce (the slowest request is one
/// second of CPU), so a timeout means a server that stopped answering, not a slow one; like
/// `wrk --timeout`, it is a per-request limit. A request still unanswered when the window ends
/// is censored, not timed out.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection attempt not answered this long is a
/// [`connect`](wb_model::results::ErrorCounts::connect) error. Linux retransmits a dropped SYN
/// after 1 s and 3 s, so five seconds lets a server with a full accept queue catch up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Most connection attempts in flight at once. Opening 5000 connections 256 at a time takes a
/// fraction of a second on loopback, and does not overflow the server's accept queue (a
/// listen backlog is commonly 128 to 1024).
pub const CONNECT_PARALLELISM: usize = 256;

/// Pause before trying again after a failed connect, so a refusing port costs a few attempts
/// per second per connection rather than a busy loop.
pub const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Idle mode: the longest the opening phase may take (connect, one request, its answer),
/// before the hold begins.
pub const IDLE_OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How often [`run`] reports progress.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Most connections (or slow clients) one step opens; a larger level is cut to it and
/// reported as not reached. It is the workload files' own limit.
pub const MAX_LEVEL_CONNECTIONS: u64 = wb_model::spec::MAX_CONNECTIONS;

/// What a correct answer looks like.
///
/// Two kinds of server are measured. The workbench's own routes are checked byte for byte
/// ([`Expectation::Workbench`]): the body is implied by the digest, as in the protocol
/// itself: a `/work` answer carries `X-Work-Digest` and `body_len` bytes of the [body
/// pattern](wb_protocol::kernel::PATTERN); a `/hello` answer carries no digest and the body
/// [`wb_protocol::HELLO_BODY`], so `digest: None` means "expect `Hello, World!`". Any other
/// server's answer ([`Expectation::AnyServer`], `workbench load URL`) is checked for what
/// HTTP/1.1 itself promises: a body framed by `Content-Length` or chunked encoding, read to
/// its end and counted but not compared, with a status the plan expects (2xx by default).
///
/// Build one with [`Expectation::for_target`], [`Expectation::for_request`] or
/// [`Expectation::for_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// A workbench route's answer: status 200, this length, this body, this digest.
    Workbench {
        /// `Content-Length` and body length.
        body_len: u64,
        /// `X-Work-Digest`, for `/work`.
        digest: Option<String>,
    },
    /// A `/db` or `/queries` answer: status 200, a `Content-Length` body that is JSON of the
    /// right shape — one `{"id":…,"randomNumber":…}` object, or an array of `rows` of them —
    /// each id and number from 1 to 10,000, and the ids `first_id`, `first_id + 1`, … when
    /// the request fixed them (`?id=K`). The values are the database's, so no bytes can be
    /// expected; the shape and the ids can.
    World {
        /// Rows expected (1 for `/db`).
        rows: usize,
        /// An array (`/queries`) or one object (`/db`).
        array: bool,
        /// The first id, when the request fixed it.
        first_id: Option<i32>,
    },
    /// Any HTTP/1.1 server's answer: an expected status, a framed body of any length.
    AnyServer {
        /// The request was `HEAD`: the answer has no body, whatever its `Content-Length`
        /// says (RFC 9110, section 9.3.2).
        head: bool,
    },
}

/// Read buffer for answers of unknown length (any server): a typical head and a few
/// packets of body per read.
const ANY_SERVER_READ_BUFFER: usize = 16 * 1024;

impl Expectation {
    /// The answer to a request: `/work?…&cpu_rounds=R&bytes=B` with `cpu_rounds = Some(R)`
    /// (digest [`wb_protocol::kernel::work_digest`]`(R)`, `B` bytes of pattern), or `/hello`
    /// with `cpu_rounds = None` (no digest, `Hello, World!`; `bytes` is ignored).
    ///
    /// Computing the digest runs the CPU kernel once, here, so that the generator can check
    /// every answer by comparing strings.
    pub fn for_target(bytes: u64, cpu_rounds: Option<u64>) -> Expectation {
        match cpu_rounds {
            Some(rounds) => Expectation::Workbench {
                body_len: bytes,
                digest: Some(wb_protocol::kernel::work_digest(rounds)),
            },
            None => Expectation::Workbench {
                body_len: wb_protocol::HELLO_BODY.len() as u64,
                digest: None,
            },
        }
    }

    /// The answer to a workload's request, with CPU time turned into rounds as
    /// [`RequestSpec::target`] does (`rounds_per_us` from the run's calibration).
    pub fn for_request(request: &RequestSpec, rounds_per_us: f64) -> Expectation {
        match request.route {
            Route::Hello => Expectation::for_target(0, None),
            Route::Work => {
                Expectation::for_target(request.bytes, Some(request.cpu_rounds(rounds_per_us)))
            }
            // The body is the value written, which only the server knows: a 200 with a framed
            // body is what can be checked (the counter itself is read before and after).
            Route::Count => Expectation::AnyServer { head: false },
            Route::Db | Route::Queries => {
                Expectation::for_url("GET", &request.target(rounds_per_us))
            }
        }
    }

    /// The answer to `method request_target` on a server that may or may not be the
    /// workbench's: a `GET` of `/hello`, or of `/work` whose query holds only `wait_ms`,
    /// `cpu_rounds` and `bytes` (decimal, within the protocol's limits), keeps the
    /// workbench's byte-for-byte checks; anything else is checked as any server's answer.
    pub fn for_url(method: &str, request_target: &str) -> Expectation {
        let any = Expectation::AnyServer {
            head: method.eq_ignore_ascii_case("HEAD"),
        };
        if method != "GET" {
            return any;
        }
        let (path, query) = request_target
            .split_once('?')
            .unwrap_or((request_target, ""));
        match path {
            // The protocol ignores `/hello`'s query.
            "/hello" => Expectation::for_target(0, None),
            "/work" => work_query(query).unwrap_or(any),
            "/db" => wb_protocol::world::parse_db_query(query).map_or(any, Expectation::world),
            "/queries" => {
                wb_protocol::world::parse_queries_query(query).map_or(any, Expectation::world)
            }
            _ => any,
        }
    }

    /// The statuses valid for this expectation when the plan names none: 200 for a
    /// workbench route (its answer is checked byte for byte, or by its JSON's shape and ids),
    /// 2xx for any server.
    pub fn statuses(&self) -> StatusSet {
        match self {
            Expectation::Workbench { .. } | Expectation::World { .. } => StatusSet::only(200),
            Expectation::AnyServer { .. } => StatusSet::success(),
        }
    }

    /// What a `/db` or `/queries` request asks for, as an expectation.
    fn world(query: wb_protocol::world::WorldQuery) -> Expectation {
        Expectation::World {
            rows: query.rows,
            array: query.array,
            first_id: query.first_id,
        }
    }

    /// The workbench's digest, for a `/work` answer.
    pub fn digest(&self) -> Option<&str> {
        match self {
            Expectation::Workbench { digest, .. } => digest.as_deref(),
            Expectation::World { .. } | Expectation::AnyServer { .. } => None,
        }
    }

    /// The read buffer one connection needs: the whole answer when a workbench answer is
    /// small, so that one read usually brings all of it.
    fn read_buffer(&self) -> usize {
        match self {
            Expectation::Workbench { body_len, .. } => {
                answer::AnswerReader::capacity_for(*body_len)
            }
            // The whole answer, whose body is checked whole: at most 500 rows of 33 bytes.
            Expectation::World { rows, .. } => {
                answer::AnswerReader::capacity_for(*rows as u64 * 40 + 2)
            }
            Expectation::AnyServer { .. } => ANY_SERVER_READ_BUFFER,
        }
    }
}

/// The expectation of `/work?query`, if the query is one the workbench answers with 200:
/// the protocol core's own parser decides ([`wb_protocol::parse_work_query`]).
fn work_query(query: &str) -> Option<Expectation> {
    let (_, rounds, bytes) = wb_protocol::parse_work_query(query).ok()?;
    Some(Expectation::for_target(bytes, Some(rounds)))
}

/// What the load generator does at one level.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The server.
    pub target: SocketAddr,
    /// How.
    pub mode: Mode,
    /// Connections, or requests per second for open loop.
    pub level: u64,
    /// The request target, e.g. `/work?wait_ms=10&cpu_rounds=0&bytes=0`.
    pub request_target: String,
    /// What every answer must be.
    pub expect: Expectation,
    /// Load before measuring.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Open loop: most connections to open.
    pub max_connections: u64,
    /// Slow readers: bytes per second per client.
    pub read_rate: u64,
    /// Slow senders: pause between bytes.
    pub send_interval: Duration,
    /// Idle: connections that run a closed loop of the request while the level's connections
    /// are held idle (0: none). The step's answers and latency are then theirs.
    pub active: u64,
    /// The request method: `GET` for every workload; `workbench load URL -m` may choose
    /// another.
    pub method: String,
    /// Header fields sent with every request, in order, after `Host`. A `Host` here replaces
    /// the default (the target's address); a `Content-Length` here is sent as given.
    pub headers: Vec<(String, String)>,
    /// The request body, sent with a `Content-Length` after the headers; empty for none.
    pub body: Vec<u8>,
    /// No complete answer this long after the send is a timeout ([`REQUEST_TIMEOUT`] for
    /// workloads).
    pub timeout: Duration,
    /// Generator threads, each with its own runtime and connections (closed and open loop;
    /// the other modes hold connections rather than drive requests, and use one). 0: as many
    /// as the CPUs the calling thread may run on ([`default_threads`]).
    pub threads: usize,
    /// Closed loop: requests written on a connection at once, before their answers are read
    /// (HTTP/1.1 pipelining, as TechEmpower's plaintext test sends 16); 0 or 1: one at a
    /// time. Each answer's latency counts from the batch's write.
    pub pipeline: usize,
    /// Every request on a connection of its own, asking `Connection: close` (oha's
    /// `--disable-keepalive`): the cost of a connection per request.
    pub disable_keepalive: bool,
    /// The statuses that make an answer valid; `None`: the expectation's own (200 for a
    /// workbench route, 2xx for any server). Every answer is timed and counted by status
    /// ([`LoadReport::status_codes`]); one with another status is a
    /// [`bad_response`](wb_model::results::ErrorCounts::bad_response).
    pub expect_status: Option<StatusSet>,
    /// Closed loop: stop once this many requests were answered or failed in the window
    /// (`workbench load -n`), rather than when the window ends; `None`: the window decides.
    pub max_requests: Option<u64>,
}

/// Which statuses make an answer valid: `--expect-status 2xx`, `200,404`, `200-299,3xx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl StatusSet {
    /// 200 to 299: what wrk and oha count as success, and `workbench load`'s default.
    pub fn success() -> StatusSet {
        StatusSet(vec![(200, 299)])
    }

    /// One status.
    pub fn only(code: u16) -> StatusSet {
        StatusSet(vec![(code, code)])
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }

    /// Reads `2xx`, `404`, `200-299`, or several of them comma-separated.
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let code = |t: &str| -> Result<u16, String> {
            t.parse::<u16>()
                .ok()
                .filter(|c| (100..=999).contains(c))
                .ok_or_else(|| format!("{t:?} is not a status (100 to 999)"))
        };
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let range = if let Some(class) = part.strip_suffix("xx").or(part.strip_suffix("XX")) {
                match class.parse::<u16>() {
                    Ok(c) if (1..=9).contains(&c) && class.len() == 1 => (c * 100, c * 100 + 99),
                    _ => return Err(format!("{part:?} is not a status class (1xx to 9xx)")),
                }
            } else if let Some((lo, hi)) = part.split_once('-') {
                let (lo, hi) = (code(lo.trim())?, code(hi.trim())?);
                if lo > hi {
                    return Err(format!("{part:?}: the range is empty"));
                }
                (lo, hi)
            } else {
                let c = code(part)?;
                (c, c)
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err("no status given".into());
        }
        Ok(StatusSet(ranges))
    }
}

impl std::fmt::Display for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(lo, hi)| match (lo, hi) {
                _ if lo == hi => lo.to_string(),
                _ if lo % 100 == 0 && hi == lo + 99 => format!("{}xx", lo / 100),
                _ => format!("{lo}-{hi}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// The threads a plan with `threads: 0` uses: the CPUs the calling thread may run on (its
/// affinity, so that with split placement the generator's half), at least one.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Splits `total` into `parts` shares as even as whole numbers allow, the larger ones first:
/// 65 over 2 is 33 and 32. Shares may be 0 when `total < parts`. Used for the threads of one
/// generator and for the load hosts of a multi-host step.
pub fn split_level(total: u64, parts: usize) -> Vec<u64> {
    let parts = parts.max(1) as u64;
    (0..parts)
        .map(|i| total / parts + u64::from(i < total % parts))
        .collect()
}

/// Ends a step before its window does, from another thread: `workbench load` on Ctrl-C.
///
/// The step's window then ends at the moment [`Stop::stop`] was called: answers up to then
/// count, requests still waiting are censored at their wait so far, and the report is the
/// measurement so far. Cloning shares the signal.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    /// When this signal was given.
    own: std::sync::Arc<std::sync::OnceLock<std::time::Instant>>,
    /// The signal this one also obeys (a step's own stop obeys the caller's).
    parent: Option<std::sync::Arc<std::sync::OnceLock<std::time::Instant>>>,
}

impl Stop {
    /// A signal not yet given.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Ends the step now (the first call counts; later ones change nothing).
    pub fn stop(&self) {
        let _ = self.own.set(std::time::Instant::now());
    }

    /// When the step was stopped, if it was: by this signal or by the one it obeys.
    pub fn at(&self) -> Option<std::time::Instant> {
        let parent = self.parent.as_ref().and_then(|p| p.get().copied());
        match (self.own.get().copied(), parent) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A signal that is given when this one is, and can also be given alone (the step's
    /// own end, `-n`'s last answer, which is no interrupt of the caller's).
    fn child(&self) -> Stop {
        Stop {
            own: Default::default(),
            parent: Some(std::sync::Arc::clone(&self.own)),
        }
    }
}

/// A step's report, and what the store does not keep but a merge across load generators
/// needs: the open loop's uncorrected histogram, serialized.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// What the step measured, as the runner and the store see it.
    pub report: LoadReport,
    /// Open loop only: [`LoadReport::latency_uncorrected`]'s HDR histogram, serialized as
    /// [`LoadReport::histogram`] is (V2, uncompressed); empty for the other modes.
    pub histogram_uncorrected: Vec<u8>,
    /// The generator threads that measured it.
    pub threads: usize,
    /// The latency histogram of each short window of the report
    /// ([`LoadReport::windows`], same order): the valid answers that arrived in it, to two
    /// significant digits. What an HdrHistogram interval log holds (`workbench load
    /// --hdr-log`). Requests censored at the end are in the step's histogram only.
    pub intervals: Vec<hdrhistogram::Histogram<u64>>,
}

/// Runs one level and reports what it measured. Blocks; `progress` is called with the
/// fraction done (0.0 to 1.0) a few times a second.
///
/// The step takes `plan.warmup + plan.duration` (idle mode: plus the time to open its
/// connections, at most [`IDLE_OPEN_TIMEOUT`]); every task stops by itself at the end.
pub fn run(plan: &LoadPlan, progress: &(dyn Fn(f64) + Sync)) -> LoadReport {
    measure(plan, progress).report
}

/// [`run`], with the open loop's uncorrected histogram as well.
pub fn measure(plan: &LoadPlan, progress: &(dyn Fn(f64) + Sync)) -> Measured {
    measure_until(plan, progress, &Stop::new())
}

/// [`measure`], ending early when `stop` is given (see [`Stop`]).
///
/// With several [threads](LoadPlan::threads), the level (connections, or the rate and the
/// connection cap) is split between them ([`split_level`]); every thread starts its step at
/// the same instant and keeps its own counts, and the counts are added before anything is
/// derived from them: histograms by addition, short windows bucket by bucket, and requests
/// still waiting are censored once, against the whole step's answers. The report is exactly
/// the one a single thread with all the connections would have made.
pub fn measure_until(plan: &LoadPlan, progress: &(dyn Fn(f64) + Sync), stop: &Stop) -> Measured {
    let threads = thread_count(plan);
    // The step's own stop: the caller's, or the budget's last answer.
    let stop = &stop.child();
    let budget = plan
        .max_requests
        .filter(|_| plan.mode == Mode::Closed)
        .map(|limit| std::sync::Arc::new(step::Budget::new(limit, stop.clone())));
    let start = std::time::Instant::now();
    let part = if threads == 1 {
        let ctx = step::Ctx {
            start,
            stop: stop.clone(),
            budget,
            phase: std::time::Duration::ZERO,
        };
        run_part(plan, &ctx, progress)
    } else {
        let levels = split_level(plan.level, threads);
        let caps = split_level(plan.max_connections, threads);
        let parts = std::thread::scope(|scope| {
            let workers: Vec<_> = levels
                .iter()
                .zip(&caps)
                .enumerate()
                .map(|(i, (&level, &cap))| {
                    let share = LoadPlan {
                        level,
                        max_connections: cap.max(1),
                        ..plan.clone()
                    };
                    let ctx = step::Ctx {
                        start,
                        stop: stop.clone(),
                        budget: budget.clone(),
                        // Open loop: thread i's arrivals come i/R after thread 0's, so that
                        // the threads' schedules interleave into one of rate R instead of
                        // arriving in pairs.
                        phase: std::time::Duration::from_secs_f64(
                            i as f64 / plan.level.max(1) as f64,
                        ),
                    };
                    std::thread::Builder::new()
                        .name(format!("wb-load-{i}"))
                        .spawn_scoped(scope, move || {
                            // The first thread reports progress for all: they share one clock.
                            let quiet = |_: f64| {};
                            let progress: &(dyn Fn(f64) + Sync) =
                                if i == 0 { progress } else { &quiet };
                            run_part(&share, &ctx, progress)
                        })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| match worker {
                    Ok(handle) => handle.join().map_err(|_| "panicked".to_string()),
                    Err(err) => Err(format!("could not start: {err}")),
                })
                .collect::<Vec<_>>()
        });
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for (i, part) in parts.into_iter().enumerate() {
            match part {
                Ok(part) => ok.push(part),
                Err(why) => failed.push(format!("load generator thread {i} {why}")),
            }
        }
        match step::Part::merge(ok) {
            Some(mut part) => {
                if !failed.is_empty() {
                    part.add_not_reached(failed.join("; "));
                }
                part
            }
            None => {
                return Measured {
                    report: LoadReport {
                        not_reached: Some(failed.join("; ")),
                        ..LoadReport::default()
                    },
                    histogram_uncorrected: Vec::new(),
                    threads,
                    intervals: Vec::new(),
                };
            }
        }
    };
    progress(1.0);
    Measured {
        threads,
        ..part.report()
    }
}

/// The threads `plan` runs on: its own count (or [`default_threads`]), no more than the
/// level (each thread needs a connection or a share of the rate), and one for the modes that
/// hold connections rather than drive requests.
fn thread_count(plan: &LoadPlan) -> usize {
    let wanted = match plan.threads {
        0 => default_threads(),
        n => n,
    };
    match plan.mode {
        Mode::Closed | Mode::Open => {
            wanted.clamp(1, usize::try_from(plan.level.max(1)).unwrap_or(usize::MAX))
        }
        Mode::Idle | Mode::SlowReaders | Mode::SlowSenders => 1,
    }
}

/// One thread's share of a step, on a current-thread runtime of its own.
fn run_part(plan: &LoadPlan, ctx: &step::Ctx, progress: &(dyn Fn(f64) + Sync)) -> step::Part {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return step::Part::failed(
                plan,
                ctx,
                format!("cannot start the load generator's runtime: {err}"),
            );
        }
    };
    let local = LocalSet::new();
    let part = local.block_on(&runtime, async {
        match plan.mode {
            Mode::Closed => closed::run(plan, ctx, progress).await,
            Mode::Open => open::run(plan, ctx, progress).await,
            Mode::Idle => idle::run(plan, ctx, progress).await,
            Mode::SlowReaders => slow::run_readers(plan, ctx, progress).await,
            Mode::SlowSenders => slow::run_senders(plan, ctx, progress).await,
        }
    });
    // Tasks still running (censored requests, idle waiters) are dropped here, inside the
    // runtime's context so their sockets deregister cleanly; this closes every connection.
    let _context = runtime.enter();
    drop(local);
    part
}
