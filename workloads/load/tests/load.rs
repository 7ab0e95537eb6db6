//! The load generator against small servers written here: std threads, one per connection,
//! answering with the protocol crate's bytes and misbehaving on purpose where a test says so.
//!
//! The only timing assertions are semantic: a server that waits 20 ms cannot be measured
//! faster than 20 ms, and a 200 ms stall must show in the corrected latency and not in the
//! uncorrected one. Counts are made exact by construction (see each test), never by hoping
//! the machine is quiet.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use wb_load::url::HttpUrl;
use wb_load::wire::{Described, LoadResult, decode_histogram};
use wb_load::{Expectation, LoadPlan, StatusSet, measure, run};
use wb_model::results::LoadReport;
use wb_model::spec::Mode;
use wb_protocol::{Event, Session};

/// How a test server answers.
#[derive(Debug, Clone, Copy)]
enum Behavior {
    /// Every request, after `delay`.
    Answer { delay: Duration },
    /// The first `answers` requests of each connection, after `delay`; later requests are
    /// read and never answered.
    AnswerThenHold { answers: u64, delay: Duration },
    /// Every request at once, except the server's request number `at` (from 0), which waits
    /// `stall` first.
    StallOnce { at: u64, stall: Duration },
    /// Every request after `delay`, with the body byte at `offset` changed.
    CorruptBody { offset: usize, delay: Duration },
    /// Reads a request and resets the connection (`SO_LINGER` 0, then close).
    Reset,
    /// Every request of the first connection accepted, after `delay`; the other connections'
    /// requests are read and never answered (a pool of one worker: the others wait in its
    /// accept queue, here in a thread that never answers).
    AnswerFirstConnection { delay: Duration },
}

/// What a test server counted.
#[derive(Default)]
struct Counts {
    /// Requests parsed.
    requests: AtomicU64,
    /// Answers about to be written (counted before the write, so never fewer than the
    /// answers a client received).
    answered: AtomicU64,
    /// Connections open now.
    open: AtomicU64,
    /// Most connections open at once.
    peak_open: AtomicU64,
    /// Connections served, in all.
    accepted: AtomicU64,
}

struct Server {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// A server that answers every request, each after `delay`.
    fn answering(delay: Duration) -> Server {
        Server::start(Behavior::Answer { delay })
    }

    fn start(behavior: Behavior) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&counts), Arc::clone(&stop));
        thread::spawn(move || {
            for (index, stream) in listener.incoming().enumerate() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let c = Arc::clone(&c);
                let behavior = match behavior {
                    Behavior::AnswerFirstConnection { .. } if index > 0 => {
                        Behavior::AnswerThenHold {
                            answers: 0,
                            delay: Duration::ZERO,
                        }
                    }
                    Behavior::AnswerFirstConnection { delay } => Behavior::Answer { delay },
                    other => other,
                };
                thread::spawn(move || serve(stream, behavior, &c));
            }
        });
        Server { addr, counts, stop }
    }

    fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::SeqCst)
    }

    fn answered(&self) -> u64 {
        self.counts.answered.load(Ordering::SeqCst)
    }

    fn connections(&self) -> u64 {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    fn peak_open(&self) -> u64 {
        self.counts.peak_open.load(Ordering::SeqCst)
    }

    /// Waits until every connection has been closed by the client, so that the counts are
    /// final: a connection thread reads everything the client sent before it sees the end
    /// of the stream. Panics after a generous 30 s.
    fn wait_all_closed(&self) {
        let give_up = Instant::now() + Duration::from_secs(30);
        while self.counts.open.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < give_up, "connections left open");
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut stream: TcpStream, behavior: Behavior, counts: &Counts) {
    counts.accepted.fetch_add(1, Ordering::SeqCst);
    let open = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
    counts.peak_open.fetch_max(open, Ordering::SeqCst);
    let _ = stream.set_nodelay(true);
    let mut session = Session::new();
    let mut buf = [0u8; 4096];
    let mut served_here = 0u64;
    'conn: loop {
        while let Event::Job(job) = session.next_event() {
            let number = counts.requests.fetch_add(1, Ordering::SeqCst);
            let delay = match behavior {
                Behavior::Answer { delay } | Behavior::CorruptBody { delay, .. } => delay,
                Behavior::AnswerThenHold { answers, delay } => {
                    if served_here >= answers {
                        continue; // read, never answered
                    }
                    delay
                }
                Behavior::StallOnce { at, stall } if number == at => stall,
                Behavior::StallOnce { .. } => Duration::ZERO,
                Behavior::Reset => {
                    reset(&stream);
                    break 'conn;
                }
                Behavior::AnswerFirstConnection { .. } => unreachable!("chosen at accept"),
            };
            thread::sleep(delay);
            let mut answer = job.perform();
            if let Behavior::CorruptBody { offset, .. } = behavior {
                let body_start = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                answer[body_start + offset] ^= 0x20;
            }
            served_here += 1;
            counts.answered.fetch_add(1, Ordering::SeqCst);
            if stream.write_all(&answer).is_err() {
                break 'conn;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => session.receive_data(&buf[..n]),
        }
    }
    counts.open.fetch_sub(1, Ordering::SeqCst);
}

/// Closes `stream` with a TCP reset rather than a FIN: `SO_LINGER` with a zero timeout.
fn reset(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER on a connected socket");
}

fn plan(addr: SocketAddr, mode: Mode, level: u64) -> LoadPlan {
    LoadPlan {
        target: addr,
        mode,
        level,
        request_target: "/hello".into(),
        expect: Expectation::for_target(0, None),
        warmup: Duration::ZERO,
        duration: Duration::from_millis(500),
        max_connections: 100,
        read_rate: 1024 * 1024,
        send_interval: Duration::from_millis(100),
        active: 0,
        method: "GET".into(),
        headers: Vec::new(),
        body: Vec::new(),
        timeout: wb_load::REQUEST_TIMEOUT,
        threads: 1,
        max_requests: None,
        expect_status: None,
        pipeline: 1,
        disable_keepalive: false,
    }
}

/// Ten closed-loop clients for a second, after 200 ms of warm-up, against a server that
/// answers only its first connection, each answer after `delay`.
fn one_client_of_ten_answered(delay: Duration) -> LoadReport {
    let server = Server::start(Behavior::AnswerFirstConnection { delay });
    let mut p = plan(server.addr, Mode::Closed, 10);
    p.warmup = Duration::from_millis(200);
    p.duration = Duration::from_secs(1);
    run(&p, &|_| {})
}

/// One closed-loop connection asking for `target`, expecting `bytes` of body with the digest
/// of `rounds` rounds of work.
fn work_plan(addr: SocketAddr, target: &str, bytes: u64, rounds: u64) -> LoadPlan {
    let mut p = plan(addr, Mode::Closed, 1);
    p.request_target = target.into();
    p.expect = Expectation::for_target(bytes, Some(rounds));
    p
}

/// Runs `p` and requires that no answer passed its checks: bad responses only.
fn only_bad_responses(p: &LoadPlan) -> LoadReport {
    let report = run(p, &|_| {});
    assert!(report.errors.bad_response > 0, "{report:?}");
    assert_eq!(report.completed, 0);
    report
}

fn histogram(report: &LoadReport) -> Histogram<u64> {
    Deserializer::new()
        .deserialize(&mut &report.histogram[..])
        .expect("the report's histogram deserializes")
}

fn hello_answer_len() -> u64 {
    wb_protocol::respond_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n").len() as u64
}

const WAIT: Duration = Duration::from_millis(20);

/// Each connection gets exactly five answers (100 ms of waits), far inside the window, then
/// its sixth request is never answered and is censored when the window ends. So the counts
/// are exact whatever the machine's speed: 4 × 5 answers, 4 censored requests that had
/// waited at least 1.5 s − 5 × 20 ms, and the server read 4 more requests than were answered.
#[test]
fn closed_loop_counts_exactly_and_never_beats_the_servers_wait() {
    let server = Server::start(Behavior::AnswerThenHold {
        answers: 5,
        delay: WAIT,
    });
    let mut p = plan(server.addr, Mode::Closed, 4);
    p.duration = Duration::from_millis(1500);
    let fractions = std::sync::Mutex::new(Vec::new());
    let report = run(&p, &|f| fractions.lock().unwrap().push(f));
    server.wait_all_closed();

    assert_eq!(report.completed, 20, "{report:?}");
    assert_eq!(server.answered(), 20);
    assert_eq!(report.censored, 4, "one censored per connection");
    assert_eq!(
        server.requests(),
        report.completed + report.censored,
        "every request read is answered or censored"
    );
    assert_eq!(report.sent(), 24);
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(report.connections, 4);
    assert_eq!(report.not_reached, None);
    assert_eq!(report.bytes_received, 20 * hello_answer_len());
    assert!((report.elapsed_secs - 1.5).abs() < 1e-9);

    let h = histogram(&report);
    assert!(h.min() >= 20_000, "min {} µs", h.min());
    assert!(report.latency.p50_us >= 20_000, "{:?}", report.latency);
    assert_eq!(report.latency.censored, 4);
    // The four clients left waiting 1.4 s would have sent a request every 20 ms at the pace
    // the server kept before it stalled: about 70 each, recorded from 1.4 s down (the
    // closed loop's correction for coordinated omission), all slower than every answer.
    let synthetic = report.latency.count - 24;
    assert!((200..=300).contains(&synthetic), "{:?}", report.latency);
    assert_eq!(h.len(), report.latency.count);
    assert_eq!(report.latency.censored_late, 4 + synthetic);
    // Of those, the clients: the four that were really left waiting.
    assert_eq!(report.latency.late_requests, 4);
    // So the stall shows: the median is a lower bound of hundreds of ms, not an answer's.
    assert!(report.latency.p50_us >= 500_000, "{:?}", report.latency);
    assert!(report.latency.p90_us >= 1_000_000, "{:?}", report.latency);
    assert!(report.latency.is_lower_bound(0.5) && report.latency.is_lower_bound(0.9));
    assert_eq!(
        report.latency_uncorrected, None,
        "closed loop has no intended times"
    );

    let fractions = fractions.into_inner().unwrap();
    assert!(fractions.len() >= 3, "{fractions:?}");
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
    assert_eq!(fractions.last(), Some(&1.0));
}

/// The same server, with the five answers inside a long warm-up: none of them is counted.
#[test]
fn answers_in_the_warm_up_are_not_counted() {
    let server = Server::start(Behavior::AnswerThenHold {
        answers: 5,
        delay: WAIT,
    });
    let mut p = plan(server.addr, Mode::Closed, 2);
    p.warmup = Duration::from_millis(1500);
    p.duration = Duration::from_millis(300);
    let report = run(&p, &|_| {});
    server.wait_all_closed();
    assert_eq!(server.answered(), 10);
    assert_eq!(report.completed, 0, "{report:?}");
    assert_eq!(report.errors.total(), 0);
    assert_eq!(report.connections, 2);
}

/// A server that always answers: between the generator's count and the server's, only the
/// requests in flight when the window ended differ, at most one per connection, and they
/// are censored.
#[test]
fn closed_loop_censors_at_most_one_request_per_connection() {
    let server = Server::answering(Duration::from_millis(5));
    let p = plan(server.addr, Mode::Closed, 3);
    let report = run(&p, &|_| {});
    server.wait_all_closed();
    assert!(report.completed > 0);
    assert!(server.answered() >= report.completed);
    assert!(server.requests() - report.completed <= 3, "{report:?}");
    assert!(report.censored <= 3, "{report:?}");
    assert_eq!(report.latency.count, report.completed + report.censored);
    assert_eq!(report.errors.total(), 0);
    assert!(report.latency.max_us >= 5_000);
    // A few requests in flight among many answers: the percentiles are the answers'.
    assert!(!report.latency.is_lower_bound(0.99), "{:?}", report.latency);
}

/// Ten clients; the server answers the first one every 10 ms and never the nine others,
/// which wait in it from the warm-up to the window's end: the pool that serves 3 of 100
/// clients, small. The nine are censored at the whole step (1.2 s), and each stands for the
/// requests it would have sent at the served client's pace (one per 10 ms, from 1.2 s down):
/// so p50 and p99 are lower bounds of hundreds of ms and more, not the served client's 10 ms,
/// and the step reads about 100 answered of 110 sent.
#[test]
fn clients_never_answered_are_censored_at_the_step_length() {
    let report = one_client_of_ten_answered(Duration::from_millis(10));
    let latency = report.latency;
    eprintln!("{report:?}");
    // At most one answer per 10 ms; a busy machine's sleeps run long, so fewer is no fault.
    assert!(
        (1..=100).contains(&report.completed),
        "one answer per 10 ms at most: {report:?}"
    );
    // Nine never answered, and the answered client's request in flight at the end.
    assert!((9..=10).contains(&report.censored), "{report:?}");
    assert_eq!(report.errors.total(), 0);
    assert_eq!(report.sent(), report.completed + report.censored);
    // Every request sent, plus those the clients left waiting would have sent.
    assert!(latency.count >= report.sent(), "{latency:?}");
    assert_eq!(latency.censored, report.censored);
    assert!(latency.censored_late >= 9, "{latency:?}");
    assert!(latency.is_lower_bound(0.99) && latency.is_lower_bound(1.0));
    assert!(
        latency.p99_us >= 1_150_000,
        "at least the step: {latency:?}"
    );
    assert!(latency.max_us >= 1_150_000, "{latency:?}");
    assert!(latency.is_lower_bound(0.5), "{latency:?}");
    assert!(
        latency.p50_us >= 300_000,
        "not the served client's 10 ms: {latency:?}"
    );
    // The mean includes them: Little's law holds again (10 clients ≈ 90 req/s × mean).
    let predicted = report.completed as f64 / 1.0 * latency.mean_us / 1e6;
    assert!(predicted > 5.0, "{predicted} clients by Little's law");
}

/// The same server, each answer taking 300 ms: in a second, three answers and ten censored
/// requests, so even the median is a censored lower bound of the step's order (≥ 1 s).
#[test]
fn a_median_reached_by_censored_requests_is_a_lower_bound() {
    let report = one_client_of_ten_answered(Duration::from_millis(300));
    let latency = report.latency;
    assert!(report.completed <= 4, "{report:?}");
    assert!(latency.is_lower_bound(0.5), "{latency:?}");
    // The clients left waiting would have asked every 300 ms: a median of at least 600 ms.
    assert!(latency.p50_us >= 600_000, "{latency:?}");
}

/// An open loop at 200 requests per second on one connection to a server that answers the
/// first request only: the requests due after it queue in the client and are censored from
/// their intended times (only the one sent is in the uncorrected histogram).
#[test]
fn open_loop_censors_requests_queued_in_the_client() {
    let server = Server::start(Behavior::AnswerThenHold {
        answers: 1,
        delay: Duration::ZERO,
    });
    let mut p = plan(server.addr, Mode::Open, 200);
    p.duration = Duration::from_secs(1);
    p.max_connections = 1;
    let report = run(&p, &|_| {});
    let corrected = report.latency;
    let uncorrected = report.latency_uncorrected.expect("open loop");
    assert_eq!(report.completed, 1, "{report:?}");
    // 200 due in the second, one answered, one in flight, the rest queued.
    assert!((190..=200).contains(&report.censored), "{report:?}");
    assert_eq!(corrected.count, report.completed + report.censored);
    assert_eq!((uncorrected.count, uncorrected.censored), (2, 1));
    // Queued requests waited from 0 to 1 s: the median is about half a second, a bound.
    assert!(corrected.is_lower_bound(0.5), "{corrected:?}");
    assert!(
        (400_000..600_000).contains(&corrected.p50_us),
        "{corrected:?}"
    );
}

/// 500 requests per second on one connection; the server's request 400 (about 0.5 s into
/// the window) waits 200 ms. The hundred requests due during the stall queue in the client:
/// measured from their intended times they waited 200, 198, … ms (over 2% of the window's
/// requests above 150 ms), measured from their actual sends they were fast.
#[test]
fn open_loop_shows_a_stall_in_corrected_latency_only() {
    let server = Server::start(Behavior::StallOnce {
        at: 400,
        stall: Duration::from_millis(200),
    });
    let mut p = plan(server.addr, Mode::Open, 500);
    p.warmup = Duration::from_millis(300);
    p.duration = Duration::from_secs(2);
    p.max_connections = 1;
    let report = run(&p, &|_| {});
    let corrected = report.latency;
    let uncorrected = report.latency_uncorrected.expect("open loop has both");
    eprintln!("corrected {corrected:?}\nuncorrected {uncorrected:?}");
    assert!(corrected.p99_us >= 150_000, "{corrected:?}");
    assert!(uncorrected.p99_us < 100_000, "{uncorrected:?}");
    assert!(uncorrected.max_us >= 200_000, "the stalled request itself");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(report.connections, 1);
    assert_eq!(corrected.count, report.completed + report.censored);
    assert_eq!(
        uncorrected.count,
        report.completed + uncorrected.censored,
        "queued requests were never sent"
    );
}

/// The answers' digest is that of 2 rounds; the generator expects 3: the work "was not done".
#[test]
fn a_wrong_digest_is_a_bad_response() {
    let server = Server::answering(WAIT);
    let mut p = work_plan(server.addr, "/work?cpu_rounds=2&bytes=30", 30, 3);
    let report = only_bad_responses(&p);
    assert_eq!(report.errors.reset + report.errors.timeout, 0);

    // The same request with the right expectation is fine.
    p.expect = Expectation::for_target(30, Some(2));
    let report = run(&p, &|_| {});
    assert!(report.completed > 0);
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
}

#[test]
fn a_wrong_length_is_a_bad_response() {
    let server = Server::answering(WAIT);
    only_bad_responses(&work_plan(server.addr, "/work?bytes=29", 30, 0));
}

/// One byte changed deep inside a 200 KB body, checked as it streams through a 64 KiB buffer.
#[test]
fn a_corrupt_body_is_a_bad_response() {
    let server = Server::start(Behavior::CorruptBody {
        offset: 150_000,
        delay: WAIT,
    });
    only_bad_responses(&work_plan(server.addr, "/work?bytes=200000", 200_000, 0));
}

#[test]
fn a_reset_is_counted_and_the_load_goes_on() {
    let server = Server::start(Behavior::Reset);
    let p = plan(server.addr, Mode::Closed, 2);
    let report = run(&p, &|_| {});
    assert!(
        report.errors.reset > 1,
        "reconnected after each: {report:?}"
    );
    assert_eq!(report.completed, 0);
    assert_eq!(report.errors.bad_response, 0);
}

#[test]
fn a_closed_port_is_connect_errors_and_level_not_reached() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    for mode in [Mode::Closed, Mode::Idle, Mode::Open] {
        let report = run(&plan(addr, mode, 3), &|_| {});
        assert!(report.errors.connect > 0, "{mode}: {report:?}");
        let reason = report.not_reached.as_deref().unwrap_or_default();
        assert!(reason.contains("refused"), "{mode}: {reason}");
        assert_eq!(report.connections, 0);
        assert_eq!(report.completed, 0);
    }
}

#[test]
fn idle_mode_holds_its_connections() {
    let server = Server::answering(Duration::ZERO);
    let mut p = plan(server.addr, Mode::Idle, 50);
    p.duration = Duration::from_millis(300);
    let report = run(&p, &|_| {});
    assert_eq!(report.completed, 50, "{report:?}");
    assert_eq!(report.connections, 50);
    assert_eq!(report.not_reached, None);
    assert_eq!(report.errors.total(), 0);
    // The server saw 50 connections at once, each asked exactly once.
    assert_eq!(server.peak_open(), 50);
    server.wait_all_closed();
    assert_eq!(server.requests(), 50);

    let report = run(&plan(server.addr, Mode::Idle, 0), &|_| {});
    assert_eq!((report.completed, report.connections), (0, 0));
    assert_eq!(report.not_reached, None);
}

/// The idle-hello shape: 20 held connections, 2 busy ones beside them. The step's answers are
/// the busy ones' (many, from a closed loop), its connections the held ones.
#[test]
fn idle_mode_with_active_connections_measures_the_busy_ones() {
    let server = Server::answering(Duration::ZERO);
    let mut p = plan(server.addr, Mode::Idle, 20);
    p.active = 2;
    p.duration = Duration::from_millis(400);
    let report = run(&p, &|_| {});
    assert_eq!(report.connections, 20, "{report:?}");
    assert_eq!(report.not_reached, None);
    assert_eq!(report.errors.total(), 0);
    // More answers than the held connections' one each: the busy loop's, in the window.
    assert!(report.completed > 20, "{report:?}");
    assert_eq!(server.peak_open(), 22);
    server.wait_all_closed();
    assert!(server.requests() >= 20 + report.completed);
}

/// A server that resets every connection: nothing can be held, and the report says so.
#[test]
fn idle_mode_reports_connections_it_could_not_hold() {
    let server = Server::start(Behavior::Reset);
    let mut p = plan(server.addr, Mode::Idle, 3);
    p.duration = Duration::from_millis(100);
    let report = run(&p, &|_| {});
    assert_eq!(report.connections, 0);
    assert_eq!(report.errors.reset, 3, "{report:?}");
    assert!(report.not_reached.is_some());
}

/// Slow readers take 64 KiB at 256 KiB/s in 16 KiB reads: the last read cannot start before
/// (64 KiB − 16 KiB) / 256 KiB/s, about 190 ms after the send.
#[test]
fn slow_readers_read_at_their_rate() {
    let server = Server::answering(Duration::ZERO);
    let mut p = plan(server.addr, Mode::SlowReaders, 2);
    p.request_target = "/work?bytes=65536".into();
    p.expect = Expectation::for_target(65_536, Some(0));
    p.read_rate = 256 * 1024;
    p.duration = Duration::from_millis(1500);
    let report = run(&p, &|_| {});
    assert!(report.completed > 0, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert!(histogram(&report).min() >= 180_000, "{:?}", report.latency);
    assert_eq!(report.connections, 2);
}

/// Five slowloris clients on a thread-per-connection server, and the probe still gets its
/// answers.
#[test]
fn slow_senders_hold_connections_while_the_probe_measures() {
    let server = Server::answering(Duration::ZERO);
    let mut p = plan(server.addr, Mode::SlowSenders, 5);
    p.send_interval = Duration::from_millis(10);
    p.duration = Duration::from_millis(800);
    let report = run(&p, &|_| {});
    assert!(report.completed > 0, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(report.connections, 5, "the probe is not counted");
    // Five slow clients held, and the probe, whose every request is on a new connection
    // (the server may still be closing earlier ones when the next opens).
    let peak = server.peak_open();
    assert!(peak >= 6, "peak open connections {peak}");
    server.wait_all_closed();
    // Only the probe's requests were complete.
    assert!(server.requests() <= report.completed + 1);
}

/// A plan for `workbench load URL`: the URL parsed, resolved and checked as the command does.
fn url_plan(url: &str, method: &str, mode: Mode, level: u64) -> LoadPlan {
    let url = HttpUrl::parse(url).unwrap();
    let mut p = plan(url.resolve().unwrap(), mode, level);
    p.expect = Expectation::for_url(method, &url.target);
    p.request_target = url.target;
    p.method = method.into();
    p.headers = vec![("Host".into(), url.authority)];
    p
}

#[test]
fn a_load_result_round_trips_through_json_with_its_histograms() {
    let server = Server::answering(Duration::from_millis(1));
    let url = format!("http://{}/hello", server.addr);
    for (mode, level) in [(Mode::Closed, 4), (Mode::Open, 200)] {
        let p = url_plan(&url, "GET", mode, level);
        assert_eq!(
            p.expect,
            Expectation::for_target(0, None),
            "own route: own checks"
        );
        let measured = measure(&p, &|_| {});
        let how = Described {
            url: url.clone(),
            method: "GET".into(),
            mode,
            connections: 4,
            rate: (mode == Mode::Open).then_some(level),
            warmup: p.warmup,
            workbench_checks: true,
        };
        let result = LoadResult::new(how, &measured, 0.1, Duration::from_millis(500));
        let json = serde_json::to_string(&result).unwrap();
        let back: LoadResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, result);
        assert!(
            back.completed > 0 && back.errors.total() == 0,
            "{mode:?}: {back:?}"
        );
        let corrected = decode_histogram(&back.histograms.corrected).unwrap();
        assert_eq!(corrected.len(), back.completed + back.censored, "{mode:?}");
        assert_eq!(back.latency.censored, back.censored, "{mode:?}");
        match (mode, &back.histograms.uncorrected) {
            (Mode::Open, Some(text)) => {
                let uncorrected = back.latency_uncorrected.unwrap();
                assert_eq!(
                    decode_histogram(text).unwrap().len(),
                    back.completed + uncorrected.censored
                );
            }
            (Mode::Closed, None) => {}
            other => panic!("uncorrected histogram: {other:?}"),
        }
    }
}

#[test]
fn any_server_answers_are_counted_and_wrong_statuses_are_bad() {
    let server = Server::answering(Duration::ZERO);
    let url = format!("http://{}/hello", server.addr);
    let head = url_plan(&url, "HEAD", Mode::Closed, 2);
    assert_eq!(head.expect, Expectation::AnyServer { head: true });
    let report = run(&head, &|_| {});
    assert!(report.completed > 0, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");

    let missing = url_plan(
        &format!("http://{}/nowhere", server.addr),
        "GET",
        Mode::Closed,
        1,
    );
    let report = run(&missing, &|_| {});
    assert_eq!(report.completed, 0);
    assert!(report.errors.bad_response > 0, "404 is not 2xx: {report:?}");
    // As wrk does: each 404 is timed and counted by status, on a connection kept alive.
    assert_eq!(report.errors.total(), report.errors.bad_response);
    assert_eq!(
        report.status_codes.get(&404),
        Some(&report.errors.bad_response),
        "{report:?}"
    );
    assert_eq!(
        report.latency.count,
        report.errors.bad_response + report.censored,
        "every answer timed: {report:?}"
    );
    assert!(report.latency.p50_us > 0, "{report:?}");

    // Expected, a 404 is a valid answer.
    let mut expected = missing.clone();
    expected.expect_status = Some(StatusSet::parse("2xx,404").unwrap());
    let report = run(&expected, &|_| {});
    assert!(report.completed > 0, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert_eq!(report.status_codes.get(&404), Some(&report.completed));
}

#[test]
fn status_sets_read_as_written() {
    let set = StatusSet::parse("2xx, 404,500-503").unwrap();
    for code in [200, 250, 299, 404, 500, 503] {
        assert!(set.contains(code), "{code}");
    }
    for code in [199, 300, 403, 405, 504] {
        assert!(!set.contains(code), "{code}");
    }
    assert_eq!(set.to_string(), "2xx,404,500-503");
    assert_eq!(StatusSet::success().to_string(), "2xx");
    for bad in ["", "2x", "10xx", "abc", "600-500", "42", "0xx"] {
        assert!(StatusSet::parse(bad).is_err(), "{bad:?}");
    }
}

/// The first test's server and clients, driven by two generator threads of two connections
/// each: the counts, the censored requests and the closed loop's correction are those one
/// thread makes, because the threads' counts are added before anything is derived from them.
#[test]
fn two_threads_count_exactly_as_one_does() {
    let server = Server::start(Behavior::AnswerThenHold {
        answers: 5,
        delay: WAIT,
    });
    let mut p = plan(server.addr, Mode::Closed, 4);
    p.duration = Duration::from_millis(1500);
    p.threads = 2;
    let measured = measure(&p, &|_| {});
    let report = measured.report;
    server.wait_all_closed();
    assert_eq!(measured.threads, 2);
    assert_eq!(report.completed, 20, "{report:?}");
    assert_eq!(report.censored, 4, "one censored per connection");
    assert_eq!(report.sent(), 24);
    assert_eq!(report.connections, 4);
    assert_eq!(report.not_reached, None);
    assert_eq!(report.bytes_received, 20 * hello_answer_len());
    let h = histogram(&report);
    assert_eq!(h.len(), report.latency.count);
    assert!(h.min() >= 20_000, "min {} µs", h.min());
    let synthetic = report.latency.count - 24;
    assert!((200..=300).contains(&synthetic), "{:?}", report.latency);
    assert_eq!(report.latency.late_requests, 4);
    let windowed: u64 = report.windows.iter().map(|w| w.answers).sum();
    assert_eq!(windowed, report.completed, "short windows add up");
}

/// `-n`: the step ends when the budget's last request is answered, across threads, and
/// sends no more than the budget.
#[test]
fn a_request_budget_ends_the_step() {
    let server = Server::answering(Duration::from_millis(1));
    let mut p = plan(server.addr, Mode::Closed, 3);
    p.duration = Duration::from_secs(60);
    p.threads = 2;
    p.max_requests = Some(50);
    let started = Instant::now();
    let report = run(&p, &|_| {});
    server.wait_all_closed();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "ended by the budget"
    );
    assert_eq!(report.completed, 50, "{report:?}");
    assert_eq!(report.censored, 0);
    assert_eq!(server.requests(), 50);
    assert!(report.elapsed_secs < 30.0, "{report:?}");
}

/// A stop (Ctrl-C) ends a long window where it was given, with what was measured so far.
#[test]
fn a_stop_ends_the_window_with_the_result_so_far() {
    let server = Server::answering(Duration::from_millis(2));
    for mode in [Mode::Closed, Mode::Open] {
        let mut p = plan(server.addr, mode, 4);
        if mode == Mode::Open {
            p.level = 200;
        }
        p.duration = Duration::from_secs(60);
        p.threads = 2;
        let stop = wb_load::Stop::new();
        let stopper = {
            let stop = stop.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(400));
                stop.stop();
            })
        };
        let report = wb_load::measure_until(&p, &|_| {}, &stop).report;
        stopper.join().unwrap();
        assert!(report.elapsed_secs < 30.0, "{mode}: {report:?}");
        assert!(report.completed > 0, "{mode}: {report:?}");
        assert_eq!(report.errors.total(), 0, "{mode}: {report:?}");
        assert_eq!(
            histogram(&report).len(),
            report.latency.count,
            "{mode}: {report:?}"
        );
        if mode == Mode::Closed {
            // Each connection waits 2 ms for every answer: the requests in flight at the stop
            // are censored there, not lost (at most one per connection).
            assert!((1..=4).contains(&report.censored), "{report:?}");
            assert_eq!(report.sent(), report.completed + report.censored);
        }
    }
}

/// `--pipeline`: batches of eight requests per connection, every answer counted once, and
/// with a request budget exactly that many requests reach the server.
#[test]
fn pipelined_batches_are_answered_and_counted() {
    let server = Server::answering(Duration::ZERO);
    let mut p = plan(server.addr, Mode::Closed, 2);
    p.duration = Duration::from_secs(60);
    p.pipeline = 8;
    p.max_requests = Some(500);
    let report = run(&p, &|_| {});
    server.wait_all_closed();
    assert_eq!(report.completed, 500, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert_eq!(server.requests(), 500);
    assert_eq!(report.bytes_received, 500 * hello_answer_len());
    assert_eq!(histogram(&report).len(), 500);
}

/// `--disable-keepalive`: one request per connection.
#[test]
fn without_keepalive_every_request_has_its_connection() {
    let server = Server::answering(Duration::ZERO);
    let mut p = plan(server.addr, Mode::Closed, 2);
    p.duration = Duration::from_secs(60);
    p.disable_keepalive = true;
    p.max_requests = Some(40);
    let report = run(&p, &|_| {});
    server.wait_all_closed();
    assert_eq!(report.completed, 40, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert!(
        server.connections() >= 40,
        "{} connections",
        server.connections()
    );
}
