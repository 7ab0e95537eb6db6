//! What to answer: a [`Job`] says how long to wait, how much CPU to burn and which bytes to
//! send; [`Job::respond`] does the CPU work and renders a [`Response`] that engines stream
//! ([`Job::perform`] renders the same bytes whole, for tests and tools).

use std::io::{self, IoSlice, Write};
use std::time::Duration;

use crate::date;
use crate::kernel::{extend_with_pattern, pattern_chunk, work_digest};
use crate::world::{WorldQuery, WorldRow, render_rows};

/// The body of `GET /hello`, as in TechEmpower's plaintext test.
pub const HELLO_BODY: &[u8] = b"Hello, World!";

/// A status this core can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 200: the request was served.
    Ok,
    /// 400: malformed request, bad `Content-Length`, or a bad `/work` parameter.
    BadRequest,
    /// 404: no such route.
    NotFound,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// 408: the request did not arrive within the engine's header timeout
    /// ([`Session::time_out`](crate::Session::time_out)).
    RequestTimeout,
    /// 413: the body is larger than [`MAX_BODY_BYTES`](crate::limits::MAX_BODY_BYTES).
    ContentTooLarge,
    /// 431: the head is larger than [`MAX_HEAD_BYTES`](crate::limits::MAX_HEAD_BYTES) or has
    /// more than [`MAX_HEADERS`](crate::limits::MAX_HEADERS) fields.
    HeaderFieldsTooLarge,
    /// 501: `Transfer-Encoding` on a request (chunked uploads are not part of the workloads).
    NotImplemented,
    /// 500: the engine handed back rows that are not the ones asked for (a bug in the engine).
    InternalServerError,
    /// 503: the engine could not fetch `/db` or `/queries` rows (no database, or it failed).
    ServiceUnavailable,
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::ContentTooLarge => 413,
            Status::HeaderFieldsTooLarge => 431,
            Status::NotImplemented => 501,
            Status::InternalServerError => 500,
            Status::ServiceUnavailable => 503,
        }
    }

    /// The reason phrase sent on the status line (RFC 9110's wording).
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::ContentTooLarge => "Content Too Large",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
            Status::InternalServerError => "Internal Server Error",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }
}

/// Which body a job sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// `Hello, World!`
    Hello,
    /// `bytes` bytes of the body pattern, with an `X-Work-Digest` header.
    Work { bytes: u64 },
    /// The process's [counter](crate::counter) in decimal and a newline: its value when
    /// `increment` is false, else the value this job wrote (the value `read` plus one).
    Count {
        increment: bool,
        /// What [`Job::begin`] read, before the wait.
        read: Option<u64>,
    },
    /// `/db` or `/queries`: the rows to fetch, and what the engine handed back. Boxed, so
    /// that every other job (and every engine's state that holds a job) stays as small as
    /// before.
    World(Box<WorldBody>),
    /// An error: `detail` and a newline, so a person reading it with curl learns what was wrong.
    Error {
        status: Status,
        detail: &'static str,
    },
}

/// A `/db` or `/queries` job's own state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorldBody {
    /// The request's shape (how many rows, an array or one object).
    query: WorldQuery,
    /// The ids to fetch, in order.
    ids: Vec<i32>,
    /// The rows the engine fetched ([`Job::give_rows`]), or why it could not
    /// ([`Job::database_failed`]); `None` until one of them is called.
    rows: Option<Result<Vec<WorldRow>, &'static str>>,
}

/// How the response's `Connection` header and the connection itself end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// HTTP/1.1 keep-alive, the default: no `Connection` header.
    KeepAlive,
    /// HTTP/1.0 keep-alive, asked for by the client: `Connection: keep-alive`.
    KeepAliveHttp10,
    /// `Connection: close`, and the engine closes after sending.
    Close,
}

/// What an engine must do for one complete request, in order: wait [`Job::wait`], run
/// [`Job::cpu_rounds`] rounds of the CPU kernel (by calling [`Job::respond`], on whichever
/// thread the engine chooses), send the [`Response`] it returns, and close the connection
/// afterwards if [`Job::closes`] says so.
///
/// The core never sleeps or computes on its own: *how* to wait and where to compute is the
/// one thing each engine decides, and the lesson of the workbench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub(crate) wait_ms: u64,
    pub(crate) cpu_rounds: u64,
    pub(crate) body: Body,
    pub(crate) head_only: bool,
    pub(crate) persistence: Persistence,
}

impl Job {
    pub(crate) fn error(status: Status, detail: &'static str) -> Job {
        Job {
            wait_ms: 0,
            cpu_rounds: 0,
            body: Body::Error { status, detail },
            head_only: false,
            persistence: Persistence::Close,
        }
    }

    /// Begins the job, before its wait: a `/count?wait_ms=W` job reads the shared
    /// [counter](crate::counter) here (the first half of its read-modify-write; the second,
    /// writing the value read plus one, happens in [`Job::respond`]). Every other job does
    /// nothing. An engine calls it when the request starts, then waits its own way: what runs
    /// between the read and the write decides whether updates are lost. A job not begun reads
    /// and writes back to back in `respond`.
    pub fn begin(&mut self) {
        if let Body::Count {
            increment: true,
            read,
        } = &mut self.body
        {
            *read = Some(crate::counter::read());
        }
    }

    /// Whether this is a `/count` update (`/count?wait_ms=W`): the job an engine may hold
    /// [`counter::LOCK`](crate::counter::LOCK) for, from [`Job::begin`] to [`Job::respond`].
    pub fn updates_counter(&self) -> bool {
        matches!(
            self.body,
            Body::Count {
                increment: true,
                ..
            }
        )
    }

    /// A `/db` or `/queries` job: its request, with the ids to fetch drawn (random ones) or
    /// derived (`?id=K`). The routing calls it.
    pub(crate) fn world(query: WorldQuery) -> Job {
        Job {
            wait_ms: 0,
            cpu_rounds: 0,
            body: Body::World(Box::new(WorldBody {
                query,
                ids: query.ids(),
                rows: None,
            })),
            head_only: false,
            persistence: Persistence::KeepAlive,
        }
    }

    /// The `World` ids this job needs, in order (`/db` and `/queries`), or `None` for every
    /// other job. The engine fetches each row with
    /// [`SELECT_WORLD`](crate::world::SELECT_WORLD), one query per id, then calls
    /// [`Job::give_rows`] (or [`Job::database_failed`]) before [`Job::respond`].
    pub fn world_ids(&self) -> Option<&[i32]> {
        match &self.body {
            Body::World(world) => Some(&world.ids),
            _ => None,
        }
    }

    /// Hands the rows fetched for [`Job::world_ids`] to the job, in the same order. Rows that
    /// are not the ones asked for are answered with `500` (the engine's bug, made visible).
    /// Does nothing on other jobs.
    pub fn give_rows(&mut self, fetched: Vec<WorldRow>) {
        if let Body::World(world) = &mut self.body {
            world.rows = Some(Ok(fetched));
        }
    }

    /// Says the rows could not be fetched, and why (`reason` is sent in the body, for a person
    /// with curl): the answer is `503 Service Unavailable`. Does nothing on other jobs.
    pub fn database_failed(&mut self, reason: &'static str) {
        if let Body::World(world) = &mut self.body {
            world.rows = Some(Err(reason));
        }
    }

    /// How long to wait before answering (the "database"): zero but for `/work` and `/count`.
    pub fn wait(&self) -> Duration {
        Duration::from_millis(self.wait_ms)
    }

    /// How many rounds of the CPU kernel [`Job::perform`] will run.
    pub fn cpu_rounds(&self) -> u64 {
        self.cpu_rounds
    }

    /// Whether the engine must close the connection once the response is sent.
    pub fn closes(&self) -> bool {
        self.persistence == Persistence::Close
    }

    /// The status the response will carry.
    pub fn status(&self) -> Status {
        match &self.body {
            Body::Error { status, .. } => *status,
            Body::World(world) => match &world.rows {
                Some(Ok(rows)) if rows.iter().map(|r| r.id).eq(world.ids.iter().copied()) => {
                    Status::Ok
                }
                Some(Ok(_)) => Status::InternalServerError,
                Some(Err(_)) | None => Status::ServiceUnavailable,
            },
            Body::Hello | Body::Work { .. } | Body::Count { .. } => Status::Ok,
        }
    }

    /// Runs the CPU kernel and renders the response: the head (and a short body) as bytes, then
    /// the body pattern, streamed from a static buffer as the engine writes ([`Response`]).
    /// This is the expensive part of a CPU-bound request: call it where the engine wants CPU
    /// to be spent.
    pub fn respond(self) -> Response {
        let digest = match self.body {
            Body::Work { .. } => Some(work_digest(self.cpu_rounds)),
            _ => None,
        };
        let count = match self.body {
            Body::Count { increment, read } => {
                if increment {
                    // The unlocked read-modify-write: a load (in `begin`), then a store.
                    let written = read.unwrap_or_else(crate::counter::read) + 1;
                    crate::counter::write(written);
                    Some(written)
                } else {
                    Some(crate::counter::read())
                }
            }
            _ => None,
        };
        self.render_with(digest.as_deref(), count, &date::now())
    }

    /// Like [`Job::respond`], but the whole response in one buffer, body included: for tests
    /// and tools. Engines stream with `respond`, so that a 64 MiB body is never in memory.
    pub fn perform(self) -> Vec<u8> {
        self.respond().into_vec()
    }

    #[cfg(test)]
    fn render(&self, digest: Option<&str>, date: &[u8; date::DATE_LEN]) -> Response {
        self.render_with(digest, None, date)
    }

    fn render_with(
        &self,
        digest: Option<&str>,
        count: Option<u64>,
        date: &[u8; date::DATE_LEN],
    ) -> Response {
        let status = self.status();
        let mut count_text = Vec::new();
        if let Some(count) = count {
            push_decimal(&mut count_text, count);
        }
        // A `/db` or `/queries` body: the rows as JSON, or why there are none.
        let mut world_text = Vec::new();
        let mut newline = matches!(self.body, Body::Error { .. } | Body::Count { .. });
        let mut json = false;
        if let Body::World(world) = &self.body {
            match (status, &world.rows) {
                (Status::Ok, Some(Ok(rows))) => {
                    render_rows(rows, world.query.array, &mut world_text);
                    json = true;
                }
                (_, Some(Err(reason))) => world_text.extend_from_slice(reason.as_bytes()),
                (_, Some(Ok(_))) => world_text
                    .extend_from_slice(b"the engine fetched rows other than the ids asked for"),
                (_, None) => world_text.extend_from_slice(
                    b"the engine fetched no rows (it has no database client for this route)",
                ),
            }
            newline = !json;
        }
        let (body, pattern_len): (&[u8], u64) = match &self.body {
            Body::Hello => (HELLO_BODY, 0),
            Body::Work { bytes } => (b"", *bytes),
            Body::Count { .. } => (&count_text, 0),
            Body::World(_) => (&world_text, 0),
            Body::Error { detail, .. } => (detail.as_bytes(), 0),
        };
        let content_length = body.len() as u64 + pattern_len + u64::from(newline);

        let send_body = !self.head_only;
        let mut out = Vec::with_capacity(224 + if send_body { body.len() + 1 } else { 0 });
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(&mut out, u64::from(status.code()));
        out.push(b' ');
        out.extend_from_slice(status.reason().as_bytes());
        // RFC 9110 §6.6.1: an origin server with a clock sends Date. nginx and hyper put it
        // among the first fields, as here.
        out.extend_from_slice(b"\r\nDate: ");
        out.extend_from_slice(date);
        out.extend_from_slice(if json {
            b"\r\nContent-Type: application/json\r\nContent-Length: ".as_slice()
        } else {
            b"\r\nContent-Type: text/plain\r\nContent-Length: ".as_slice()
        });
        push_decimal(&mut out, content_length);
        out.extend_from_slice(b"\r\n");
        if let Some(digest) = digest {
            out.extend_from_slice(b"X-Work-Digest: ");
            out.extend_from_slice(digest.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if status == Status::MethodNotAllowed {
            out.extend_from_slice(b"Allow: GET, HEAD\r\n");
        }
        match self.persistence {
            Persistence::KeepAlive => {}
            Persistence::KeepAliveHttp10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
            Persistence::Close => out.extend_from_slice(b"Connection: close\r\n"),
        }
        out.extend_from_slice(b"\r\n");
        if send_body {
            out.extend_from_slice(body);
            if newline {
                out.push(b'\n');
            }
        }
        Response {
            bytes: out,
            sent: 0,
            pattern_offset: 0,
            pattern_len: if send_body { pattern_len } else { 0 },
        }
    }
}

/// One response on its way out: rendered bytes (the head, and a short body), then
/// `pattern_len` bytes of the body pattern that are never rendered at all — each write takes
/// the next chunk of at most [`PATTERN_CHUNK_BYTES`](crate::kernel::PATTERN_CHUNK_BYTES)
/// straight from a static buffer ([`pattern_chunk`]). So a response costs its head on the heap
/// (about 200 bytes) whatever its size, and a client that asks for 64 MiB and never reads holds
/// no more memory than one that asks for `/hello`.
///
/// An engine sends it with [`Response::slices`] and [`Response::advance`] (the next bytes as two
/// slices for one vectored write, then how many the kernel took), or, on a blocking socket,
/// [`Response::write_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The head, and the body when it is not the pattern.
    bytes: Vec<u8>,
    /// How many of `bytes` were sent.
    sent: usize,
    /// How many pattern bytes were sent.
    pattern_offset: u64,
    /// How many pattern bytes follow `bytes`.
    pattern_len: u64,
}

impl From<Vec<u8>> for Response {
    /// A response made of these bytes only.
    fn from(bytes: Vec<u8>) -> Response {
        Response {
            bytes,
            sent: 0,
            pattern_offset: 0,
            pattern_len: 0,
        }
    }
}

impl Response {
    /// Bytes still to send.
    pub fn remaining(&self) -> u64 {
        (self.bytes.len() - self.sent) as u64 + (self.pattern_len - self.pattern_offset)
    }

    /// Whether everything has been sent.
    pub fn is_done(&self) -> bool {
        self.remaining() == 0
    }

    /// The next bytes to send, for one vectored write: what is left of the rendered bytes, then
    /// the next chunk of the pattern (either may be empty). Sending a whole response this way
    /// takes `remaining / 64 KiB` writes at least, never a buffer of its size.
    pub fn slices(&self) -> [&[u8]; 2] {
        [
            &self.bytes[self.sent..],
            pattern_chunk(self.pattern_offset, self.pattern_len - self.pattern_offset),
        ]
    }

    /// Marks `n` more bytes as sent (what a write returned). The rendered bytes are freed as
    /// soon as they are all sent.
    ///
    /// # Panics
    ///
    /// If `n` is more than [`Response::remaining`]: a write cannot take more than it was given.
    pub fn advance(&mut self, n: usize) {
        assert!(n as u64 <= self.remaining(), "advanced past the response");
        let from_bytes = n.min(self.bytes.len() - self.sent);
        self.sent += from_bytes;
        self.pattern_offset += (n - from_bytes) as u64;
        if self.sent == self.bytes.len() && self.sent > 0 {
            self.bytes = Vec::new();
            self.sent = 0;
        }
    }

    /// Writes the rest of the response to a blocking `sink`, one vectored write per chunk:
    /// `write_all` for a response that is streamed. EINTR is retried; any other error
    /// (including the `WouldBlock` of a socket whose send timeout passed) is returned, with
    /// the response remembering how far it got.
    pub fn write_to(&mut self, sink: &mut impl Write) -> io::Result<()> {
        while !self.is_done() {
            let [head, body] = self.slices();
            match sink.write_vectored(&[IoSlice::new(head), IoSlice::new(body)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// The whole of what is left, in one buffer (the body rendered too): for tests and tools.
    pub fn into_vec(self) -> Vec<u8> {
        let mut out = self.bytes[self.sent..].to_vec();
        let left = self.pattern_len - self.pattern_offset;
        if self.pattern_offset == 0 {
            extend_with_pattern(&mut out, left as usize);
        } else {
            let mut response = self;
            response.bytes = Vec::new();
            response.sent = 0;
            while !response.is_done() {
                let chunk = response.slices()[1];
                out.extend_from_slice(chunk);
                response.advance(chunk.len());
            }
        }
        out
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(body: Body, persistence: Persistence) -> Job {
        Job {
            wait_ms: 0,
            cpu_rounds: 0,
            body,
            head_only: false,
            persistence,
        }
    }

    #[test]
    fn hello_is_the_plaintext_response() {
        let bytes = job(Body::Hello, Persistence::KeepAlive).perform();
        assert_eq!(
            date::masked(&bytes),
            b"HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
              Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
        );
    }

    #[test]
    fn every_response_carries_todays_date() {
        let epoch = *date::MASK;
        let bytes = job(Body::Hello, Persistence::KeepAlive).perform();
        let at = bytes.windows(8).position(|w| w == b"\r\nDate: ").unwrap() + 8;
        let value = &bytes[at..at + date::DATE_LEN];
        assert_ne!(value, &epoch, "a real clock, not the mask");
        assert!(httpdate::parse_http_date(std::str::from_utf8(value).unwrap()).is_ok());
        // Errors too.
        let error = Job::error(Status::NotFound, "x").perform();
        assert!(error.windows(6).any(|w| w == b"Date: "));
    }

    #[test]
    fn a_streamed_response_is_the_rendered_one() {
        let date = date::now();
        let work = job(Body::Work { bytes: 200_000 }, Persistence::KeepAlive);
        let whole = work.render(Some("d"), &date).into_vec();
        let mut response = work.render(Some("d"), &date);
        assert_eq!(response.remaining(), whole.len() as u64);
        // A sink that takes 1000 bytes per write, like a slow socket.
        struct Slow(Vec<u8>);
        impl Write for Slow {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let n = buf.len().min(1000);
                self.0.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sink = Slow(Vec::new());
        response.write_to(&mut sink).unwrap();
        assert!(sink.0 == whole);
        assert!(response.is_done());
        // Part-sent, then rendered whole: the rest only.
        let mut response = work.render(Some("d"), &date);
        response.advance(70_000);
        assert!(response.into_vec() == whole[70_000..]);
    }

    #[test]
    fn a_timeout_answers_408_and_closes() {
        let bytes = Job::error(Status::RequestTimeout, "slow").perform();
        assert!(bytes.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
        assert!(bytes.windows(19).any(|w| w == b"Connection: close\r\n"));
    }

    #[test]
    fn work_carries_digest_and_pattern() {
        let bytes = job(Body::Work { bytes: 30 }, Persistence::Close).perform();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 30\r\n"));
        assert!(text.contains(&format!("X-Work-Digest: {}\r\n", work_digest(0))));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nabcdefghijklmnopqrstuvwxyzabcd"));
    }

    #[test]
    fn head_keeps_length_but_sends_no_body() {
        let mut j = job(Body::Hello, Persistence::KeepAliveHttp10);
        j.head_only = true;
        let text = String::from_utf8(j.perform()).unwrap();
        assert!(text.contains("Content-Length: 13\r\nConnection: keep-alive\r\n\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    /// The only test that touches the process's counter (tests run in parallel).
    #[test]
    fn count_reads_before_the_wait_and_writes_after_it() {
        fn body(job: Job) -> String {
            let text = String::from_utf8(job.perform()).unwrap();
            text.split_once("\r\n\r\n").unwrap().1.to_owned()
        }
        let reader = || crate::respond_all(b"GET /count HTTP/1.1\r\nHost: a\r\n\r\n");
        let update = || {
            let mut session = crate::Session::new();
            session.receive_data(b"GET /count?wait_ms=5 HTTP/1.1\r\nHost: a\r\n\r\n");
            let crate::Event::Job(job) = session.next_event() else {
                panic!("a job")
            };
            assert!(job.updates_counter());
            assert_eq!(job.wait(), Duration::from_millis(5));
            job
        };
        let start: u64 = {
            let text = String::from_utf8(reader()).unwrap();
            assert!(text.contains("Content-Type: text/plain\r\n"));
            text.split_once("\r\n\r\n")
                .unwrap()
                .1
                .trim()
                .parse()
                .unwrap()
        };
        // One at a time: each update sees the last one.
        let mut one = update();
        one.begin();
        assert_eq!(body(one), format!("{}\n", start + 1));
        // Two interleaved, as two threads or two waits on one loop: both read, then both
        // write the same value, and one update is lost.
        let (mut a, mut b) = (update(), update());
        a.begin();
        b.begin();
        assert_eq!(body(a), format!("{}\n", start + 2));
        assert_eq!(body(b), format!("{}\n", start + 2));
        // A job never begun reads and writes back to back.
        assert_eq!(body(update()), format!("{}\n", start + 3));
        let text = String::from_utf8(reader()).unwrap();
        assert!(
            text.ends_with(&format!("\r\n\r\n{}\n", start + 3)),
            "{text}"
        );
        assert!(text.contains(&format!(
            "Content-Length: {}\r\n",
            (start + 3).to_string().len() + 1
        )));
    }

    #[test]
    fn world_rows_render_as_json_and_failures_as_503() {
        let job = |target: &str| {
            let mut session = crate::Session::new();
            session.receive_data(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            let crate::Event::Job(job) = session.next_event() else {
                panic!("a job")
            };
            job
        };
        let row = |id| WorldRow {
            id,
            random_number: id * 2,
        };
        let mut one = job("/db?id=42");
        assert_eq!(one.world_ids(), Some(&[42][..]));
        one.give_rows(vec![row(42)]);
        assert_eq!(
            date::masked(&one.perform()),
            b"HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
              Content-Type: application/json\r\nContent-Length: 27\r\n\r\n\
              {\"id\":42,\"randomNumber\":84}"
        );
        let mut many = job("/queries?n=2&id=10000");
        assert_eq!(many.world_ids(), Some(&[10000, 1][..]));
        many.give_rows(vec![row(10000), row(1)]);
        let text = String::from_utf8(many.perform()).unwrap();
        assert!(text.ends_with(r#"[{"id":10000,"randomNumber":20000},{"id":1,"randomNumber":2}]"#));
        // Wrong rows: the engine's bug, answered 500; no rows, or a failure: 503, kept alive.
        let mut wrong = job("/db?id=1");
        wrong.give_rows(vec![row(2)]);
        assert_eq!(wrong.status(), Status::InternalServerError);
        let mut failed = job("/db");
        failed.database_failed("the pool's wait timed out");
        assert!(!failed.closes());
        let text = String::from_utf8(failed.perform()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\nthe pool's wait timed out\n"));
        assert_eq!(job("/queries?n=3").status(), Status::ServiceUnavailable);
        assert!(job("/hello").world_ids().is_none());
        assert_eq!(job("/db?id=0").status(), Status::BadRequest);
    }

    #[test]
    fn decimal_rendering() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
