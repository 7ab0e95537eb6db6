//! The sans-I/O core every engine shares: HTTP/1.1 parsing and the workload's semantics.
//!
//! The workbench compares concurrency models, so the models must differ in one thing only:
//! how they move bytes, wait and compute. Everything else — which requests are valid, what
//! each route means, every byte of every response — lives here, in a crate with no sockets,
//! no threads and no async. Bytes go in, instructions come out:
//!
//! ```
//! use wb_protocol::{Event, Session};
//!
//! let mut session = Session::new();
//! session.receive_data(b"GET /work?wait_ms=10&cpu_rounds=3&bytes=5 HTTP/1.1\r\nHost: a\r\n\r\n");
//! let Event::Job(job) = session.next_event() else { panic!("a complete request") };
//! assert_eq!(job.wait().as_millis(), 10); // the engine waits, its own way...
//! assert_eq!(job.cpu_rounds(), 3); // ...and chooses where the CPU work runs:
//! let bytes = job.perform(); // runs the kernel, renders the response
//! assert!(bytes.ends_with(b"\r\n\r\nabcde"));
//! assert_eq!(session.next_event(), Event::NeedData); // read more, then call again
//! ```
//!
//! This is the idea of python-hyper's h11: incomplete input is a state ([`Event::NeedData`]),
//! not an error, and a request that breaks a rule becomes a job that answers with the right
//! status (400, 404, 405, 408, 413, 431, 501) and closes the connection.
//!
//! # Routes
//!
//! - `GET /hello`: `200`, `text/plain`, `Hello, World!` (TechEmpower's plaintext test).
//! - `GET /work?wait_ms=W&cpu_rounds=R&bytes=B`, each optional and 0 by default: wait `W` ms
//!   (the "database"), run `R` rounds of the [CPU kernel](kernel::cpu_kernel), then answer 200
//!   with `X-Work-Digest: <hex>` and exactly `B` bytes of the [body pattern](kernel::PATTERN).
//!   Values out of range ([`limits`]) or not whole numbers are answered with 400.
//! - `GET /count?wait_ms=W`: read the process's shared [counter], wait `W` ms, write back the
//!   value read plus one, and answer 200 with the value written in decimal and a newline. An
//!   engine reads with [`Job::begin`] before its wait; [`Job::respond`] writes. `GET /count`
//!   without a query answers the current value and changes nothing. Lost updates are the
//!   lesson: see [`counter`].
//! - `GET /db` and `GET /queries?n=N`: TechEmpower's single and multiple queries, one random
//!   `World` row as JSON or N of them (1 ≤ N ≤ 500). The core says which ids to fetch
//!   ([`Job::world_ids`]), the engine fetches them with its model's database client and hands
//!   the rows back ([`Job::give_rows`]); `?id=K` fixes the ids so bytes compare. See [`world`].
//! - Any other path: 404. A method other than GET and HEAD on a known path: 405.
//!
//! Every response is `HTTP/1.1`, with a `Date` ([`date`]: the current second, cached),
//! `Content-Type: text/plain` (`application/json` for the rows of `/db` and `/queries`) and a
//! `Content-Length`, so two engines answering the same request
//! send identical bytes but for the 29 bytes of the date ([`date::masked`] blanks them for
//! comparisons). Every error response (status 400 and up) says `Connection: close` and ends
//! the session, but for `503` (the database failed, not the client), which keeps it.
//!
//! A `/work` body (up to 64 MiB) is never rendered: [`Job::respond`] returns a [`Response`]
//! whose body is streamed in 64 KiB chunks from one static buffer as the engine writes.
//!
//! # Timeouts
//!
//! The core has no clock, but it answers for one: when an engine's header timeout passes with
//! part of a request received, [`Session::time_out`] hands out a `408 Request Timeout` that
//! closes the connection (the timeouts themselves are the engines' contract, in `sys`).
//!
//! # Connections
//!
//! HTTP/1.1 connections stay open unless the client sends `Connection: close`; HTTP/1.0 ones
//! close unless it sends `Connection: keep-alive`. Pipelined requests (several in one read) are
//! answered one job at a time, in order. A request body with `Content-Length` is read and
//! thrown away, without being buffered; `Transfer-Encoding` on a request is refused with 501.

pub mod corpus;
pub mod counter;
pub mod date;
pub mod kernel;
pub mod limits;
mod response;
mod scan;
mod session;
pub mod world;

pub use response::{HELLO_BODY, Job, Response, Status};
pub use session::{Event, Session, parse_count_query, parse_work_query};

/// Feeds `input` to a fresh session and returns every response it produces, concatenated —
/// the bytes any correct engine sends back for this input when the client sends it all and
/// reads to the end. Conformance tests compare engines against this.
pub fn respond_all(input: &[u8]) -> Vec<u8> {
    let mut session = Session::new();
    session.receive_data(input);
    let mut out = Vec::new();
    while let Event::Job(job) = session.next_event() {
        out.extend_from_slice(&job.perform());
    }
    out
}

/// Feeds `chunks` to a fresh session one after another, as an engine feeds it what its reads
/// return, performing each job as soon as it comes; returns every response, dates masked
/// ([`date::masked`]), and whether the stream ended early: the session closed, or a job asked
/// for more than `max_cpu_rounds` CPU rounds (a fuzzer's bound on time; that job is not
/// performed). However the input is split, a correct core answers the same.
pub fn respond_chunks<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    max_cpu_rounds: u64,
) -> (Vec<u8>, bool) {
    let mut session = Session::new();
    let mut out = Vec::new();
    for chunk in chunks {
        session.receive_data(chunk);
        loop {
            match session.next_event() {
                Event::Job(job) if job.cpu_rounds() > max_cpu_rounds => return (out, true),
                Event::Job(job) => out.extend_from_slice(&date::masked(&job.perform())),
                Event::NeedData => break,
                Event::Closed => return (out, true),
            }
        }
    }
    (out, false)
}
