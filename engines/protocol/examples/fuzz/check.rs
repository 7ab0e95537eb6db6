//! One fuzz input through the protocol core, and every invariant it must keep.
//!
//! For input `index` of a run seeded with `seed`, [`run_input`] generates a stream
//! ([`streams::generate`]), feeds it to a fresh [`Session`] whole and again cut at random
//! points, and checks:
//!
//! 1. **No panic** (the caller catches one and reports the input).
//! 2. **Split-invariance**: the jobs, the final state and the bytes left buffered are the
//!    same however the stream was cut into reads.
//! 3. **A clean end**: after the last byte the session is either closed (the last job said
//!    so, and no job came after it), idle (every request answered, nothing buffered), or
//!    waiting for the rest of a request it holds (at most the 16 KiB head limit: past it the
//!    core must have answered 431). `next_event` repeats its answer, and a closed session
//!    stays closed whatever arrives later.
//! 4. **Well-formed answers**: every job's status is one the core defines, errors close the
//!    connection, and the rendered bytes parse strictly ([`streams::parse_response`]) with
//!    the job's status, `Connection: close` exactly when the job closes, and the body length
//!    the head announces. Jobs too expensive to perform in a fuzz loop (more than
//!    [`MAX_PERFORMED_ROUNDS`] CPU rounds or [`MAX_PERFORMED_BYTES`] of body) are checked
//!    by status only.
//! 5. **Known answers**: a stream of valid requests gets exactly the statuses the generator
//!    predicted, in order, up to the first that closes.

// Shared through `#[path]` with `tests/fuzz.rs`, which reads fewer of the outcome's fields.
#![allow(dead_code)]

use std::fmt;

use wb_protocol::limits::MAX_HEAD_BYTES;
use wb_protocol::{Event, Job, Session};

use crate::streams::{self, Class, Profile, Rng, Stream};

/// Jobs with more CPU rounds than this are not performed (their status is still checked).
pub const MAX_PERFORMED_ROUNDS: u64 = 64;
/// Jobs with a larger body than this are not performed.
pub const MAX_PERFORMED_BYTES: u64 = 1 << 20;
/// The most cuts a stream is split at (one byte at a time for streams up to this long).
pub const MAX_CUTS: usize = 256;

/// How a stream left the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum End {
    /// The last job closed the connection.
    Closed,
    /// Every request answered, nothing buffered: an idle keep-alive connection.
    Idle,
    /// Part of a request (a head, or a body) is still to come; an engine's header timeout
    /// ends this one.
    Partial,
}

/// What one input did, for the run's summary.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The stream's class.
    pub class: Class,
    /// The status of every job, in order.
    pub statuses: Vec<u16>,
    /// How the stream ended.
    pub end: End,
    /// How many jobs were performed and their bytes parsed.
    pub performed: usize,
    /// The stream's length in bytes.
    pub len: usize,
    /// How many pieces it was cut into.
    pub pieces: usize,
}

/// An input that broke an invariant: everything needed to replay it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The run's seed.
    pub seed: u64,
    /// The input's number.
    pub index: u64,
    /// The stream's class, if it got as far as being generated.
    pub class: Option<Class>,
    /// The stream.
    pub bytes: Vec<u8>,
    /// Where it was cut.
    pub cuts: Vec<usize>,
    /// Which invariant broke, and how.
    pub problem: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "input {} of seed {}: {}",
            self.index, self.seed, self.problem
        )?;
        writeln!(f, "  class:  {:?}", self.class)?;
        writeln!(f, "  stream: {}", streams::escape(&self.bytes, 4000))?;
        writeln!(
            f,
            "  cut:    {}",
            streams::describe_cuts(&self.cuts, self.bytes.len())
        )?;
        write!(
            f,
            "  replay: cargo run --release -p protocol --example fuzz -- --seed {} --start {} --inputs 1",
            self.seed, self.index
        )
    }
}

/// The body length and HEAD-ness of a job. `Job` keeps both private; its `Debug` form shows
/// them (`body: Work { bytes: N }`, `head_only: true`). If that form changes, the body
/// counts as empty and HEAD-ness is inferred from the bytes.
fn job_shape(job: &Job) -> (u64, Option<bool>) {
    let debug = format!("{job:?}");
    let bytes = debug
        .split_once("bytes: ")
        .and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(0);
    let head_only = if debug.contains("head_only: true") {
        Some(true)
    } else if debug.contains("head_only: false") {
        Some(false)
    } else {
        None
    };
    (bytes, head_only)
}

/// The session's answers to `chunks`, received one after another.
#[derive(Debug, PartialEq, Eq)]
struct Trace {
    jobs: Vec<Job>,
    end: End,
    buffered: usize,
}

fn feed(chunks: &[&[u8]]) -> Result<Trace, String> {
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    // The shortest request the core answers is an HTTP/1.0 request line of a few bytes and
    // a blank line; any more jobs than bytes means a job was made from nothing.
    let max_jobs = total + 1;
    let mut session = Session::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut closed = false;
    for chunk in chunks {
        session.receive_data(chunk);
        loop {
            match session.next_event() {
                Event::Job(job) => {
                    if closed {
                        return Err("a job after the session closed".into());
                    }
                    if jobs.last().is_some_and(Job::closes) {
                        return Err("a job after a job that closes the connection".into());
                    }
                    jobs.push(job);
                    if jobs.len() > max_jobs {
                        return Err(format!("{} jobs from {total} bytes", jobs.len()));
                    }
                }
                Event::NeedData => {
                    if jobs.last().is_some_and(Job::closes) {
                        return Err("NeedData after a job that closes the connection".into());
                    }
                    break;
                }
                Event::Closed => {
                    if !jobs.last().is_some_and(Job::closes) {
                        return Err("Closed without a job that closes the connection".into());
                    }
                    closed = true;
                    break;
                }
            }
        }
    }
    let end = if closed {
        // Closed is final, whatever arrives.
        session.receive_data(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        if session.next_event() != Event::Closed || session.next_event() != Event::Closed {
            return Err("a closed session produced something after more input".into());
        }
        End::Closed
    } else {
        if session.next_event() != Event::NeedData {
            return Err("NeedData was not repeated".into());
        }
        if session.buffered() > MAX_HEAD_BYTES {
            return Err(format!(
                "{} bytes buffered, past the {MAX_HEAD_BYTES}-byte head limit, without a 431",
                session.buffered()
            ));
        }
        if session.buffered() == 0 && !body_pending(chunks) {
            End::Idle
        } else {
            End::Partial
        }
    };
    Ok(Trace {
        jobs,
        end,
        buffered: session.buffered(),
    })
}

/// Whether the session may still be discarding a body: the core does not say, so replay the
/// input and see whether one more byte is swallowed (a body byte) or kept (a head byte).
fn body_pending(chunks: &[&[u8]]) -> bool {
    let mut session = Session::new();
    for chunk in chunks {
        session.receive_data(chunk);
        while let Event::Job(_) = session.next_event() {}
    }
    session.receive_data(b"G");
    while let Event::Job(_) = session.next_event() {}
    session.buffered() == 0
}

/// Runs input `index` of the run seeded with `seed` (see the module docs).
pub fn run_input(seed: u64, index: u64) -> Result<Outcome, Box<Failure>> {
    let mut rng = Rng::for_input(seed, index);
    let stream: Stream = streams::generate(&mut rng, Profile::Core);
    let cuts = streams::split_points(&mut rng, stream.bytes.len(), MAX_CUTS);
    let fail = |problem: String| {
        Box::new(Failure {
            seed,
            index,
            class: Some(stream.class),
            bytes: stream.bytes.clone(),
            cuts: cuts.clone(),
            problem,
        })
    };

    let whole = feed(&[&stream.bytes]).map_err(|p| fail(format!("fed whole: {p}")))?;
    let pieces = streams::chunks(&stream.bytes, &cuts);
    let split = feed(&pieces).map_err(|p| fail(format!("fed in pieces: {p}")))?;
    if split != whole {
        let (w, s) = (&whole, &split);
        return Err(fail(format!(
            "the answers depend on how the stream was cut: whole gave {} jobs {:?}, end {:?}, {} \
             buffered; in {} pieces {} jobs {:?}, end {:?}, {} buffered",
            w.jobs.len(),
            w.jobs.iter().map(|j| j.status().code()).collect::<Vec<_>>(),
            w.end,
            w.buffered,
            pieces.len(),
            s.jobs.len(),
            s.jobs.iter().map(|j| j.status().code()).collect::<Vec<_>>(),
            s.end,
            s.buffered
        )));
    }

    let mut performed = 0;
    let mut statuses = Vec::with_capacity(whole.jobs.len());
    for (i, job) in whole.jobs.iter().enumerate() {
        let code = job.status().code();
        statuses.push(code);
        if streams::reason(code).is_none() {
            return Err(fail(format!(
                "job {i}: status {code} is not one the core defines"
            )));
        }
        if code >= 400 && !job.closes() {
            return Err(fail(format!(
                "job {i}: error {code} keeps the connection open"
            )));
        }
        let (body_bytes, head_only) = job_shape(job);
        if job.cpu_rounds() > MAX_PERFORMED_ROUNDS || body_bytes > MAX_PERFORMED_BYTES {
            continue;
        }
        let closes = job.closes();
        let bytes = job.clone().perform();
        let response = streams::parse_response(&bytes, head_only)
            .map_err(|p| fail(format!("job {i} ({code}): malformed response: {p}")))?;
        if response.len != bytes.len() {
            return Err(fail(format!(
                "job {i}: {} bytes rendered, the response frames {}",
                bytes.len(),
                response.len
            )));
        }
        if response.status != code || response.closes != closes {
            return Err(fail(format!(
                "job {i}: the job says {code} (closes: {closes}), its bytes say {} (closes: {})",
                response.status, response.closes
            )));
        }
        performed += 1;
    }

    if let Some(expected) = &stream.expected {
        let got: Vec<(u16, bool)> = whole
            .jobs
            .iter()
            .map(|j| (j.status().code(), j.closes()))
            .collect();
        let want: Vec<(u16, bool)> = expected.iter().map(|e| (e.status, e.closes)).collect();
        if got != want {
            return Err(fail(format!(
                "valid requests answered (status, closes) {got:?}, expected {want:?}"
            )));
        }
        let want_end = if want.last().is_some_and(|e| e.1) {
            End::Closed
        } else {
            End::Idle
        };
        if whole.end != want_end {
            return Err(fail(format!(
                "valid requests left the session {:?}, expected {want_end:?}",
                whole.end
            )));
        }
    }

    Ok(Outcome {
        class: stream.class,
        statuses,
        end: whole.end,
        performed,
        len: stream.bytes.len(),
        pieces: pieces.len(),
    })
}
