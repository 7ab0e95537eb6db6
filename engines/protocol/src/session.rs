//! One connection's protocol state: bytes in, [`Event`]s out.

use crate::limits::{
    MAX_BODY_BYTES, MAX_BODY_PATTERN_BYTES, MAX_CPU_ROUNDS, MAX_HEAD_BYTES, MAX_HEADERS,
    MAX_WAIT_MS, SMALL_READ_BYTES, TRICKLE_READS, TRICKLE_REST, TRICKLE_REST_MAX,
};
use crate::response::{Body, Job, Persistence, Status};
use crate::scan::{Found, HeadScan};
use std::time::Duration;

/// What [`Session::next_event`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete request (its body, if any, already read and discarded): do this job, then
    /// call `next_event` again. Pipelined requests come out one job at a time, in order.
    Job(Job),
    /// No complete request is buffered: read more bytes and pass them to
    /// [`Session::receive_data`]. Incomplete input is a state, not an error.
    NeedData,
    /// The last job closed the connection (an error, `Connection: close`, HTTP/1.0): nothing
    /// more will come out of this session, and further input is ignored.
    Closed,
}

/// The server side of one HTTP/1.1 connection, without I/O (the sans-I/O pattern of h11).
///
/// An engine owns one `Session` per connection. It passes every byte it reads to
/// [`receive_data`](Session::receive_data) and calls [`next_event`](Session::next_event) until
/// it answers [`Event::NeedData`] (read more) or [`Event::Closed`] (close once written).
///
/// # Memory
///
/// A session keeps only the bytes it has received and not yet consumed. When everything
/// received has been consumed, its buffer is freed, so an idle keep-alive connection holds
/// no read buffer at all: `size_of::<Session>()` bytes and nothing on the heap. Engines read
/// into one shared (or stack) buffer and hand the slice over.
#[derive(Debug, Default)]
pub struct Session {
    /// Received bytes not yet consumed: at most a partial head, or pipelined requests that
    /// arrived in the same read as an earlier one.
    unconsumed: Vec<u8>,
    /// Body bytes of the current request still to be read and thrown away.
    body_left: u64,
    /// The job of a request whose body is still arriving; released when `body_left` is 0.
    held: Option<Box<Job>>,
    /// How far `unconsumed` has been scanned for the end of the head, so that a head arriving
    /// a byte at a time is parsed once, not once per byte (see [`crate::scan`]).
    scan: HeadScan,
    /// Small reads of the request now arriving (saturating): past [`TRICKLE_READS`], the
    /// engine rests before reading again ([`Session::read_pause`]).
    small_reads: u8,
    /// Set once a closing job has been handed out.
    closed: bool,
}

impl Session {
    /// A session for a new connection.
    pub fn new() -> Session {
        Session::default()
    }

    /// Hands received bytes to the session. Bytes of a request body are dropped here without
    /// being copied; everything else is kept until [`next_event`](Session::next_event)
    /// consumes it.
    pub fn receive_data(&mut self, mut data: &[u8]) {
        if self.closed {
            return;
        }
        // Only small reads count. "Small" is a rate: fewer than SMALL_READ_BYTES per
        // TRICKLE_REST the engine rested before this read (it rested `read_pause()`, which
        // nothing has changed since). What piled up during a 100 ms rest is small below
        // 2 KiB: a client that trickles keeps trickling however much a rest lets pile up,
        // and one that sends faster than that rate is not rested any longer.
        let rested = self.read_pause().map_or(1, |rest| {
            usize::try_from(rest.as_nanos() / TRICKLE_REST.as_nanos()).map_or(1, |n| n.max(1))
        });
        if data.len() < SMALL_READ_BYTES * rested {
            self.small_reads = self.small_reads.saturating_add(1);
        }
        if self.unconsumed.is_empty() && self.body_left > 0 {
            let skip = self.body_left.min(data.len() as u64);
            self.body_left -= skip;
            data = &data[skip as usize..];
        }
        self.unconsumed.extend_from_slice(data);
    }

    /// The next thing the engine must do. See [`Event`].
    pub fn next_event(&mut self) -> Event {
        if self.closed {
            return Event::Closed;
        }
        if self.body_left > 0 {
            let skip = self.body_left.min(self.unconsumed.len() as u64);
            self.consume(skip as usize);
            self.body_left -= skip;
            if self.body_left > 0 {
                return Event::NeedData;
            }
        }
        if let Some(job) = self.held.take() {
            return self.emit(*job);
        }
        // Until the scan finds the head over (or rejected), httparse would answer `Partial`:
        // only the size cap is left to check, and nothing needs parsing.
        let head = match self.scan.scan(&self.unconsumed) {
            Found::Partial if self.unconsumed.len() <= MAX_HEAD_BYTES => Head::Partial,
            _ => parse_head(&self.unconsumed),
        };
        match head {
            Head::Partial => {
                if self.unconsumed.len() > MAX_HEAD_BYTES {
                    self.emit(Job::error(
                        Status::HeaderFieldsTooLarge,
                        "request head larger than 16 KiB",
                    ))
                } else {
                    Event::NeedData
                }
            }
            Head::Invalid(job) => self.emit(job),
            Head::Complete {
                head_len,
                body_len,
                job,
            } => {
                self.consume(head_len);
                self.body_left = body_len;
                self.held = Some(Box::new(job));
                self.next_event()
            }
        }
    }

    /// How long to rest before the next read, after [`Session::next_event`] said
    /// [`Event::NeedData`]: when the request still arriving has come in more than
    /// [`TRICKLE_READS`] small reads (the client trickles it, a byte per segment),
    /// [`TRICKLE_REST`], doubling with each further small read up to [`TRICKLE_REST_MAX`];
    /// else `None` (read at once).
    ///
    /// Resting, the engine neither reads nor listens to the socket: the bytes pile up in the
    /// kernel and the next read takes them together, so a trickled request costs a bounded
    /// number of reads, not one per segment (see [`TRICKLE_REST`] for the bound and why). The
    /// header timeout keeps running from the request's first byte. A client that hangs up
    /// meanwhile is heard when the rest ends.
    pub fn read_pause(&self) -> Option<Duration> {
        if self.small_reads <= TRICKLE_READS || !self.is_mid_request() {
            return None;
        }
        // 25 ms after the first small read past the allowance, doubling up to 400 ms.
        let doublings = u32::from(self.small_reads - TRICKLE_READS - 1).min(8);
        Some((TRICKLE_REST * (1 << doublings)).min(TRICKLE_REST_MAX))
    }

    /// Whether part of a request has arrived and its job is not out yet: a partial head, or a
    /// body still being discarded. An engine waits under its header timeout then, and under
    /// its keep-alive timeout when this is false.
    pub fn is_mid_request(&self) -> bool {
        !self.closed && (!self.unconsumed.is_empty() || self.body_left > 0 || self.held.is_some())
    }

    /// The engine's read timeout passed while the session needed data. If part of a request
    /// had arrived ([`Session::is_mid_request`]), the answer is a `408 Request Timeout` job that
    /// closes the connection (as Apache's and Node's servers answer a slow head); if nothing
    /// had (an idle keep-alive connection, or a new one that never spoke), there is no one to
    /// answer and `None` says "close quietly" (as nginx does with an idle connection). Either
    /// way the session is closed afterwards.
    pub fn time_out(&mut self) -> Option<Job> {
        let answer = self.is_mid_request();
        self.closed = true;
        self.small_reads = 0;
        self.unconsumed = Vec::new();
        self.body_left = 0;
        self.held = None;
        answer.then(|| {
            Job::error(
                Status::RequestTimeout,
                "the request did not arrive within the server's header timeout",
            )
        })
    }

    /// How many received bytes are waiting to be consumed (0 on an idle connection).
    pub fn buffered(&self) -> usize {
        self.unconsumed.len()
    }

    /// The heap bytes this session holds (0 on an idle connection): for tests and for the
    /// curious.
    pub fn heap_bytes(&self) -> usize {
        self.unconsumed.capacity() + self.held.as_ref().map_or(0, |_| size_of::<Job>())
    }

    fn emit(&mut self, job: Job) -> Event {
        // The request is whole: the next one is counted afresh.
        self.small_reads = 0;
        if job.closes() {
            self.closed = true;
            self.unconsumed = Vec::new();
            self.body_left = 0;
        }
        Event::Job(job)
    }

    fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        // What follows starts a new head (or is body): scan it from its first byte.
        self.scan = HeadScan::default();
        if n >= self.unconsumed.len() {
            // Free the buffer, not just empty it: an idle connection must hold no memory.
            self.unconsumed = Vec::new();
        } else {
            self.unconsumed.drain(..n);
        }
    }
}

/// The outcome of parsing the start of the unconsumed bytes.
enum Head {
    Partial,
    /// The request cannot be framed (its length is unknown or too large): answer and close.
    Invalid(Job),
    Complete {
        head_len: usize,
        body_len: u64,
        job: Job,
    },
}

fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Partial) => return Head::Partial,
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Invalid(Job::error(
                Status::HeaderFieldsTooLarge,
                "more than 64 header fields",
            ));
        }
        Err(_) => {
            return Head::Invalid(Job::error(Status::BadRequest, "malformed request"));
        }
    };
    if head_len > MAX_HEAD_BYTES {
        return Head::Invalid(Job::error(
            Status::HeaderFieldsTooLarge,
            "request head larger than 16 KiB",
        ));
    }

    let mut content_length: Option<u64> = None;
    let mut has_host = false;
    let mut close = false;
    let mut keep_alive = false;
    for header in req.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Head::Invalid(Job::error(
                Status::NotImplemented,
                "Transfer-Encoding on a request is not supported; send Content-Length",
            ));
        } else if name.eq_ignore_ascii_case("content-length") {
            let Some(n) = parse_decimal(header.value, u64::MAX) else {
                return Head::Invalid(Job::error(Status::BadRequest, "bad Content-Length"));
            };
            if content_length.is_some_and(|old| old != n) {
                return Head::Invalid(Job::error(
                    Status::BadRequest,
                    "conflicting Content-Length headers",
                ));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("host") {
            has_host = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let http11 = req.version == Some(1);
    if http11 && !has_host {
        return Head::Invalid(Job::error(
            Status::BadRequest,
            "HTTP/1.1 request without a Host header",
        ));
    }
    let body_len = content_length.unwrap_or(0);
    if body_len > MAX_BODY_BYTES {
        return Head::Invalid(Job::error(
            Status::ContentTooLarge,
            "request body larger than 1 MiB",
        ));
    }

    let persistence = match (http11, close, keep_alive) {
        (_, true, _) => Persistence::Close,
        (true, false, _) => Persistence::KeepAlive,
        (false, false, true) => Persistence::KeepAliveHttp10,
        (false, false, false) => Persistence::Close,
    };
    // httparse only completes with a method and a path present.
    let method = req.method.unwrap_or_default();
    let target = req.path.unwrap_or_default();
    let mut job = route(method, target);
    job.head_only = method == "HEAD";
    if job.status() == Status::Ok {
        job.persistence = persistence;
    }
    Head::Complete {
        head_len,
        body_len,
        job,
    }
}

/// Maps a method and request target to the job that answers it.
fn route(method: &str, target: &str) -> Job {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let body = match path {
        "/hello" => Body::Hello,
        "/work" => match parse_work_query(query) {
            Ok((wait_ms, cpu_rounds, bytes)) => {
                if method != "GET" && method != "HEAD" {
                    return method_not_allowed();
                }
                return Job {
                    wait_ms,
                    cpu_rounds,
                    body: Body::Work { bytes },
                    head_only: false,
                    persistence: Persistence::KeepAlive,
                };
            }
            Err(detail) => return Job::error(Status::BadRequest, detail),
        },
        "/count" if query.is_empty() => Body::Count {
            increment: false,
            read: None,
        },
        "/count" => match parse_count_query(query) {
            Ok(wait_ms) => {
                if method != "GET" && method != "HEAD" {
                    return method_not_allowed();
                }
                return Job {
                    wait_ms,
                    cpu_rounds: 0,
                    body: Body::Count {
                        increment: true,
                        read: None,
                    },
                    head_only: false,
                    persistence: Persistence::KeepAlive,
                };
            }
            Err(detail) => return Job::error(Status::BadRequest, detail),
        },
        "/db" | "/queries" => {
            let parsed = if path == "/db" {
                crate::world::parse_db_query(query)
            } else {
                crate::world::parse_queries_query(query)
            };
            return match parsed {
                Ok(_) if method != "GET" && method != "HEAD" => method_not_allowed(),
                Ok(world) => Job::world(world),
                Err(detail) => Job::error(Status::BadRequest, detail),
            };
        }
        _ => return Job::error(Status::NotFound, "no such route; try /hello or /work"),
    };
    if method != "GET" && method != "HEAD" {
        return method_not_allowed();
    }
    Job {
        wait_ms: 0,
        cpu_rounds: 0,
        body,
        head_only: false,
        persistence: Persistence::KeepAlive,
    }
}

fn method_not_allowed() -> Job {
    Job::error(Status::MethodNotAllowed, "only GET and HEAD are served")
}

/// Parses `/work`'s query, `wait_ms=W&cpu_rounds=R&bytes=B` (each optional, any order,
/// default 0, each at most once and within [`limits`](crate::limits)), into
/// `(wait_ms, cpu_rounds, bytes)`; the error is the `400` answer's detail. A load generator
/// asks it what a `/work` target will be answered with.
pub fn parse_work_query(query: &str) -> Result<(u64, u64, u64), &'static str> {
    let (mut wait, mut rounds, mut bytes) = (None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (slot, max, message) = match key {
            "wait_ms" => (
                &mut wait,
                MAX_WAIT_MS,
                "wait_ms must be a whole number from 0 to 60000",
            ),
            "cpu_rounds" => (
                &mut rounds,
                MAX_CPU_ROUNDS,
                "cpu_rounds must be a whole number from 0 to 100000000",
            ),
            "bytes" => (
                &mut bytes,
                MAX_BODY_PATTERN_BYTES,
                "bytes must be a whole number from 0 to 67108864",
            ),
            _ => return Err("unknown parameter; /work takes wait_ms, cpu_rounds and bytes"),
        };
        if slot.is_some() {
            return Err("a /work parameter was given twice");
        }
        *slot = Some(parse_decimal(value.as_bytes(), max).ok_or(message)?);
    }
    Ok((wait.unwrap_or(0), rounds.unwrap_or(0), bytes.unwrap_or(0)))
}

/// Parses `/count`'s query, `wait_ms=W` (required: without a query `/count` only reads), into
/// the wait; the error is the `400` answer's detail.
pub fn parse_count_query(query: &str) -> Result<u64, &'static str> {
    const MESSAGE: &str = "/count takes one parameter, wait_ms, a whole number from 0 to 60000";
    let (key, value) = query.split_once('=').ok_or(MESSAGE)?;
    if key != "wait_ms" {
        return Err(MESSAGE);
    }
    parse_decimal(value.as_bytes(), MAX_WAIT_MS).ok_or(MESSAGE)
}

/// A plain decimal number (digits only, no sign, no spaces inside) no larger than `max`.
/// Surrounding spaces are allowed, as header values may carry them.
fn parse_decimal(text: &[u8], max: u64) -> Option<u64> {
    let text = text.trim_ascii();
    if text.is_empty() || text.len() > 20 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in text {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    (n <= max).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_parsing_is_strict() {
        assert_eq!(parse_decimal(b"0", 10), Some(0));
        assert_eq!(parse_decimal(b" 10 ", 10), Some(10));
        assert_eq!(parse_decimal(b"11", 10), None);
        assert_eq!(parse_decimal(b"-1", 10), None);
        assert_eq!(parse_decimal(b"+1", 10), None);
        assert_eq!(parse_decimal(b"1 1", 10), None);
        assert_eq!(parse_decimal(b"", 10), None);
        assert_eq!(parse_decimal(b"99999999999999999999", u64::MAX), None);
        assert_eq!(
            parse_decimal(b"18446744073709551615", u64::MAX),
            Some(u64::MAX)
        );
    }

    #[test]
    fn work_query() {
        assert_eq!(parse_work_query(""), Ok((0, 0, 0)));
        assert_eq!(
            parse_work_query("bytes=3&wait_ms=2&cpu_rounds=1"),
            Ok((2, 1, 3))
        );
        for bad in [
            "wait_ms=60001",
            "wait_ms=1&wait_ms=2",
            "sleep=1",
            "bytes",
            "bytes=0x10",
        ] {
            assert!(parse_work_query(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn count_query() {
        assert_eq!(parse_count_query("wait_ms=5"), Ok(5));
        assert_eq!(parse_count_query("wait_ms=0"), Ok(0));
        for bad in ["wait_ms=60001", "wait_ms=1&wait_ms=2", "bytes=1", "x"] {
            assert!(parse_count_query(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_timeout_mid_request_answers_408_and_an_idle_one_closes_quietly() {
        let mut session = Session::new();
        session.receive_data(b"GET /hello HTTP/1.1\r\nHo");
        assert_eq!(session.next_event(), Event::NeedData);
        assert!(session.is_mid_request());
        let job = session.time_out().expect("a partial head is answered");
        assert_eq!(job.status(), Status::RequestTimeout);
        assert!(job.closes());
        assert_eq!(session.next_event(), Event::Closed);

        let mut session = Session::new();
        session.receive_data(b"GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab");
        assert_eq!(session.next_event(), Event::NeedData);
        assert!(session.is_mid_request(), "a body still arriving");
        assert!(session.time_out().is_some());

        let mut session = Session::new();
        session.receive_data(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(session.next_event(), Event::Job(_)));
        assert_eq!(session.next_event(), Event::NeedData);
        assert!(!session.is_mid_request());
        assert_eq!(session.time_out(), None);
        assert_eq!(session.next_event(), Event::Closed);
    }

    #[test]
    fn a_trickled_request_is_rested_between_reads_and_a_whole_one_never() {
        let head = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let mut session = Session::new();
        let mut rested = Vec::new();
        for byte in head.chunks(1) {
            session.receive_data(byte);
            match session.next_event() {
                Event::NeedData => rested.push(session.read_pause()),
                Event::Job(job) => assert_eq!(job.status(), Status::Ok),
                Event::Closed => panic!("closed"),
            }
        }
        let reads = usize::from(TRICKLE_READS);
        assert!(
            rested[..reads].iter().all(|r| r.is_none()),
            "the first reads at once"
        );
        let rests: Vec<Duration> = rested[reads..].iter().map(|r| r.expect("a rest")).collect();
        assert_eq!(
            rests[..6],
            [25, 50, 100, 200, 400, 400].map(Duration::from_millis)
        );
        assert!(rests.iter().all(|r| *r <= TRICKLE_REST_MAX));
        // The request is whole: the next one starts afresh, and an idle connection never rests.
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), None);
        session.receive_data(&head[..10]);
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), None);

        // Large reads do not count: a client on a slow link with a small MSS is never rested.
        // But one that has trickled stays rested, and a read after a rest is small when it
        // brings fewer than SMALL_READ_BYTES per TRICKLE_REST rested: what a trickler piles up
        // during a rest lengthens the rests; a client sending faster than that keeps its rest
        // as it is (it neither lengthens nor resets).
        let mut session = Session::new();
        for _ in 0..4 {
            session.receive_data(&[b'a'; SMALL_READ_BYTES]);
        }
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), None);
        for _ in 0..=TRICKLE_READS {
            session.receive_data(b"a");
        }
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), Some(TRICKLE_REST));
        session.receive_data(&[b'a'; SMALL_READ_BYTES]);
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), Some(TRICKLE_REST));
        session.receive_data(b"a");
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), Some(TRICKLE_REST * 2));
        // After a rest twice as long, the same 512 bytes are a trickle (half the rate): longer.
        session.receive_data(&[b'a'; SMALL_READ_BYTES]);
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), Some(TRICKLE_REST * 4));
        // 2 KiB after 100 ms is the rate that is no trickle: the rest stays as it is.
        session.receive_data(&[b'a'; SMALL_READ_BYTES * 4]);
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), Some(TRICKLE_REST * 4));
        session.receive_data(&[b'a'; SMALL_READ_BYTES * 4 - 1]);
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), Some(TRICKLE_REST * 8));

        // A body trickled in counts too: the rest bounds the reads of the whole request.
        let mut session = Session::new();
        session.receive_data(b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
        // The head was one small read; the body's bytes are the others.
        for _ in 0..TRICKLE_READS {
            assert_eq!(session.next_event(), Event::NeedData);
            session.receive_data(b"b");
        }
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.read_pause(), Some(TRICKLE_REST));
    }

    #[test]
    fn an_idle_session_holds_no_heap_memory() {
        let mut session = Session::new();
        session.receive_data(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(session.next_event(), Event::Job(_)));
        assert_eq!(session.next_event(), Event::NeedData);
        assert_eq!(session.heap_bytes(), 0);
        assert!(size_of::<Session>() <= 64, "{}", size_of::<Session>());
    }

    #[test]
    fn a_large_body_is_discarded_without_being_buffered() {
        let mut session = Session::new();
        session.receive_data(b"GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n");
        assert_eq!(session.next_event(), Event::NeedData);
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..16 {
            assert_eq!(session.buffered(), 0);
            session.receive_data(&chunk);
        }
        assert!(matches!(session.next_event(), Event::Job(_)));
    }
}
