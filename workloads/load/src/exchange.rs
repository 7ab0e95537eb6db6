//! One request and its answer: send the bytes, read the answer through the connection's
//! [`AnswerReader`], check it as it arrives, and count the outcome.
//!
//! [`exchange`] is the bare exchange; [`timed_exchange`] bounds it by the request timeout
//! and by the end of the window (a request the window cuts short is *censored*, not an
//! error); [`request`] is what a keep-alive connection of a closed or open loop does once:
//! it times the exchange, records the answer or the failure in the step's counts, and says
//! whether the connection can be used again.
//!
//! The request timeout costs nothing per request: rather than arming a timer for every
//! exchange (an insertion into tokio's timer wheel and a removal, each under the driver's
//! lock), each connection keeps one [`Watchdog`] armed for a deadline that may be stale. When
//! it fires early (the request it was armed for was answered long ago) it is moved to the
//! current request's deadline; so a connection re-arms its timer about once per timeout
//! (10 s), not once per request, and a request still times out at its own deadline.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::Expectation;
use super::answer::{AnswerReader, BadAnswer, Step};
use super::clock::sleep_until;
use super::connect::Conn;
use super::step::{Shared, Slot};

/// Why one request did not get a correct answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Reset, closed, or any I/O error before the answer completed.
    Reset,
    /// No complete answer within the plan's timeout ([`super::LoadPlan::timeout`]).
    Timeout,
    /// A wrong answer.
    Bad(BadAnswer),
}

/// A completed exchange.
#[derive(Debug, Clone, Copy)]
pub(super) struct Exchanged {
    /// Bytes of the answer (head and body).
    pub(super) bytes: u64,
    /// The server closes the connection after this answer.
    pub(super) close: bool,
    /// Its status.
    pub(super) status: u16,
}

/// How a slow reader paces its reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    /// Bytes per second.
    pub(super) rate: u64,
    /// Most bytes taken in one read.
    pub(super) chunk: usize,
}

/// Sends `request` and reads one answer, checking it as it arrives. `sent` is when the
/// caller took its send timestamp (the pace is counted from it).
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    reader: &mut AnswerReader,
    expect: &Expectation,
    pace: Option<Pace>,
    sent: Instant,
) -> Result<Exchanged, Failure> {
    stream
        .write_all(request)
        .await
        .map_err(|_| Failure::Reset)?;
    read_answer(stream, reader, expect, pace, sent).await
}

/// Reads one answer, checking it as it arrives; with pipelining, starting from the bytes
/// read past the previous one.
async fn read_answer(
    stream: &mut TcpStream,
    reader: &mut AnswerReader,
    expect: &Expectation,
    pace: Option<Pace>,
    sent: Instant,
) -> Result<Exchanged, Failure> {
    let carried = reader.begin();
    let mut bytes = carried as u64;
    if carried > 0 {
        match reader.received(0, expect) {
            Step::More => {}
            Step::Done { close } => {
                return Ok(Exchanged {
                    bytes: bytes - reader.leftover() as u64,
                    close,
                    status: reader.status(),
                });
            }
            Step::Bad(bad) => return Err(Failure::Bad(bad)),
        }
    }
    loop {
        let spare = reader.spare();
        let spare = match pace {
            None => spare,
            Some(pace) => {
                // Read no faster than `rate`: the bytes so far were due by
                // `sent + bytes / rate`; sleep until then, then take one chunk.
                let due = sent + Duration::from_secs_f64(bytes as f64 / pace.rate as f64);
                if due > Instant::now() {
                    sleep_until(due).await;
                }
                let len = spare.len().min(pace.chunk);
                &mut spare[..len]
            }
        };
        let n = stream.read(spare).await.map_err(|_| Failure::Reset)?;
        if n == 0 {
            // The server closed before the answer was complete.
            return Err(Failure::Reset);
        }
        bytes += n as u64;
        match reader.received(n, expect) {
            Step::More => {}
            Step::Done { close } => {
                return Ok(Exchanged {
                    bytes: bytes - reader.leftover() as u64,
                    close,
                    status: reader.status(),
                });
            }
            Step::Bad(bad) => return Err(Failure::Bad(bad)),
        }
    }
}

/// How [`timed_exchange`] ended.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome {
    /// The exchange completed (or failed) before its deadline.
    Done(Result<Exchanged, Failure>),
    /// No answer within the plan's timeout of the send.
    TimedOut,
    /// `until` came first, with the request still in flight.
    Cut,
}

/// One connection's request timer, armed lazily (see the [module docs](self)).
#[derive(Default)]
pub(super) struct Watchdog {
    /// The timer, once a request had to wait; its deadline may be earlier than the current
    /// request's (never later: then it is moved before waiting).
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Watchdog {
    /// Runs `work` until it completes (`Some`) or `deadline` passes (`None`).
    async fn guard<T>(&mut self, deadline: Instant, work: impl Future<Output = T>) -> Option<T> {
        let mut work = pin!(work);
        poll_fn(|cx| {
            if let Poll::Ready(done) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            let deadline = tokio::time::Instant::from_std(deadline);
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if sleep.deadline() > deadline {
                // Armed for later than this request may wait (the window ends sooner).
                sleep.as_mut().reset(deadline);
            }
            loop {
                match sleep.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) if tokio::time::Instant::now() >= deadline => {
                        return Poll::Ready(None);
                    }
                    // Armed for an earlier request: move it to this one's deadline, and
                    // poll again so that it is registered.
                    Poll::Ready(()) => sleep.as_mut().reset(deadline),
                }
            }
        })
        .await
    }
}

/// [`exchange`] on `conn` with the step's request, sent at `sent` (the caller's timestamp),
/// waiting for the answer until the plan's timeout later or `until`, whichever comes
/// first. Returns how it ended and when.
pub(super) async fn timed_exchange(
    shared: &Shared,
    conn: &mut Conn<'_>,
    reader: &mut AnswerReader,
    pace: Option<Pace>,
    sent: Instant,
    until: Instant,
) -> (Outcome, Instant) {
    let deadline = (sent + shared.timeout).min(until);
    let work = exchange(
        &mut conn.stream,
        &shared.request,
        reader,
        &shared.expect,
        pace,
        sent,
    );
    let exchanged = conn.watchdog.guard(deadline, work).await;
    let done = Instant::now();
    let timed = match exchanged {
        Some(result) => Outcome::Done(result),
        None if deadline == until => Outcome::Cut,
        None => Outcome::TimedOut,
    };
    (timed, done)
}

/// What a keep-alive connection does after [`request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Send the next request on it.
    Again,
    /// It failed or the server closes it: open a new one.
    Reconnect,
    /// The window is over: keep it until the report ([`super::connect::keep_until_reported`]).
    Keep,
}

/// One request of a closed- or open-loop connection, counted: sends it unless the window
/// (ending at `end`) is over, waits for the answer and records it, or the failure. `intended`
/// is an open loop's due time: latency is then counted from it and the service time is
/// recorded too; without it, latency is counted from the send. The request is pending at the
/// connection's `slot` while it waits: one the window's end cuts short (or answered only
/// after it) stays pending, and is censored by the report, not an error.
pub(super) async fn request(
    shared: &Shared,
    conn: &mut Conn<'_>,
    reader: &mut AnswerReader,
    pace: Option<Pace>,
    intended: Option<Instant>,
    end: Instant,
    slot: Slot,
) -> Next {
    let sent = Instant::now();
    if sent >= shared.end_by(end) {
        if let Some(intended) = intended {
            // An open loop's request taken too late to be sent: still unanswered, censored
            // as if queued.
            shared.waiting(slot, intended, None);
        }
        return Next::Keep;
    }
    // `-n`: a request of the window is one of the budget's; once it is spent, the
    // connection stops (the step ends when the last one is answered).
    let budget = match &shared.budget {
        Some(budget) if sent >= shared.clock().window_start => {
            if !budget.take() {
                return Next::Keep;
            }
            Some(budget)
        }
        _ => None,
    };
    shared.waiting(slot, intended.unwrap_or(sent), intended.map(|_| sent));
    let (timed, done) = timed_exchange(shared, conn, reader, pace, sent, end).await;
    // A stop (Ctrl-C) during the exchange ends the window there: the request is censored.
    if done >= shared.end_by(end) || matches!(timed, Outcome::Cut) {
        // Cut short, or done after the window: not counted, so censored.
        return Next::Keep;
    }
    shared.settled(slot);
    if let Some(budget) = budget {
        budget.settle();
    }
    match timed {
        Outcome::Done(Ok(answer)) => {
            match intended {
                None => shared.answered(done, done - sent, None, answer.bytes, answer.status),
                Some(intended) => shared.answered(
                    done,
                    done.saturating_duration_since(intended),
                    Some(done - sent),
                    answer.bytes,
                    answer.status,
                ),
            }
            if answer.close {
                Next::Reconnect
            } else {
                Next::Again
            }
        }
        Outcome::Done(Err(failure)) => {
            shared.failed(failure, done);
            Next::Reconnect
        }
        Outcome::Cut => Next::Keep,
        Outcome::TimedOut => {
            shared.failed(Failure::Timeout, done);
            Next::Reconnect
        }
    }
}

/// One batch of a pipelining connection: `shared.pipeline` requests written at once, then
/// their answers read in order, each timed from the write. What the window's end cuts short
/// stays pending (censored, every request of the batch still unanswered); a failure fails
/// the request it hit and every one behind it (sent, never to be answered on this
/// connection), so that the requests sent are still answered + failed + censored.
pub(super) async fn pipelined(
    shared: &Shared,
    conn: &mut Conn<'_>,
    reader: &mut AnswerReader,
    end: Instant,
    slot: Slot,
) -> Next {
    let sent = Instant::now();
    if sent >= shared.end_by(end) {
        return Next::Keep;
    }
    let budget = shared
        .budget
        .as_ref()
        .filter(|_| sent >= shared.clock().window_start);
    let batch = match budget {
        Some(budget) => (0..shared.pipeline).take_while(|_| budget.take()).count(),
        None => shared.pipeline,
    };
    if batch == 0 {
        return Next::Keep;
    }
    let fail = |failure: Failure, n: usize, at: Instant| {
        for _ in 0..n {
            shared.failed(failure, at);
            if let Some(budget) = budget {
                budget.settle();
            }
        }
        shared.settled(slot);
    };
    shared.waiting_many(slot, sent, batch as u64);
    let deadline = (sent + shared.timeout).min(end);
    let bytes = &shared.batch[..shared.request.len() * batch];
    let stream = &mut conn.stream;
    match conn.watchdog.guard(deadline, stream.write_all(bytes)).await {
        Some(Ok(())) => {}
        None if deadline == end => return Next::Keep,
        None => {
            fail(Failure::Timeout, batch, Instant::now());
            return Next::Reconnect;
        }
        Some(Err(_)) => {
            fail(Failure::Reset, batch, Instant::now());
            return Next::Reconnect;
        }
    }
    for answered in 0..batch {
        let left = batch - answered;
        let read = read_answer(&mut conn.stream, reader, &shared.expect, None, sent);
        let read = conn.watchdog.guard(deadline, read).await;
        let done = Instant::now();
        if done >= shared.end_by(end) {
            // Cut short, or done after the window (or the stop): the rest of the batch is
            // censored.
            return Next::Keep;
        }
        match read {
            None => {
                fail(Failure::Timeout, left, done);
                return Next::Reconnect;
            }
            Some(Err(failure)) => {
                fail(failure, 1, done);
                fail(Failure::Reset, left - 1, done);
                return Next::Reconnect;
            }
            Some(Ok(answer)) => {
                shared.waiting_many(slot, sent, left as u64 - 1);
                shared.answered(done, done - sent, None, answer.bytes, answer.status);
                if let Some(budget) = budget {
                    budget.settle();
                }
                if answer.close {
                    // The server ends the connection: the answers behind this one will not
                    // come.
                    fail(Failure::Reset, left - 1, done);
                    return Next::Reconnect;
                }
            }
        }
    }
    shared.settled(slot);
    if reader.leftover() > 0 {
        // Bytes past the batch's last answer: more answers than requests. The answers were
        // right; the connection is not to be trusted with another batch.
        tracing::debug!("load generator: bytes after the last pipelined answer");
        return Next::Reconnect;
    }
    Next::Again
}
