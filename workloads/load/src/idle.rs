//! Idle hold: open N connections, one request each, then keep them open and silent while
//! the runner reads the server's memory. With [`LoadPlan::active`] connections besides (the
//! `idle-hello` workload), those run a closed loop during the hold, and the step measures
//! what the held connections cost the busy ones.
//!
//! The point is to measure what an idle connection costs the *server*, so the client keeps
//! its own cost tiny: once a connection is answered its task ends, its read buffer is freed
//! and the socket leaves the runtime (`into_std`), leaving a bare descriptor in a `Vec`.
//! Nineteen thousand held connections cost the generator a few hundred KiB, plus the
//! kernel's socket memory on both sides.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::spawn_local;

use super::answer::AnswerReader;
use super::clock::{Clock, tick_until};
use super::closed::{Role, connection, too_many};
use super::connect::Retry;
use super::exchange::{Failure, Outcome, timed_exchange};
use super::step::Shared;
use super::step::{Ctx, Part};
use super::{IDLE_OPEN_TIMEOUT, LoadPlan, MAX_LEVEL_CONNECTIONS, PROGRESS_INTERVAL};

/// Share of the progress bar given to opening the connections; the hold gets the rest.
const OPENING_SHARE: f64 = 0.2;

/// What the opening tasks hand back.
struct Opening {
    /// Answered connections, out of the runtime.
    held: RefCell<Vec<std::net::TcpStream>>,
    /// Tasks still opening.
    pending: Cell<u64>,
    /// Notified when the last task is done.
    all_done: Notify,
}

/// Opens `plan.level` connections, then holds them for `warmup + duration`.
pub(super) async fn run(plan: &LoadPlan, ctx: &Ctx, progress: &(dyn Fn(f64) + Sync)) -> Part {
    let level = plan.level.min(MAX_LEVEL_CONNECTIONS);
    // While opening, the "window" is the opening phase: its answers and errors count.
    let open_start = Instant::now();
    let shared = Rc::new(Shared::new(
        plan,
        ctx,
        Clock::starting_at(open_start, std::time::Duration::ZERO, IDLE_OPEN_TIMEOUT),
        false,
    ));
    let opening = Rc::new(Opening {
        held: RefCell::new(Vec::with_capacity(usize::try_from(level).unwrap_or(0))),
        pending: Cell::new(level),
        all_done: Notify::new(),
    });
    let open_until = shared.clock().window_end;
    for _ in 0..level {
        spawn_local(open_one(
            Rc::clone(&shared),
            Rc::clone(&opening),
            open_until,
        ));
    }
    while opening.pending.get() > 0 && Instant::now() < open_until && ctx.stop.at().is_none() {
        let done = level - opening.pending.get();
        progress(OPENING_SHARE * done as f64 / level as f64);
        tokio::select! {
            _ = opening.all_done.notified() => {}
            _ = tokio::time::sleep(PROGRESS_INTERVAL) => {}
        }
    }

    // The hold: warm-up, then the measured window, with nothing sent on the held ones. With
    // active connections besides, they run a closed loop of the request meanwhile, counted
    // apart (a step of their own, `busy`), so that the step's answers are theirs alone.
    let hold = Clock::starting_now(plan.warmup, plan.duration);
    shared.clock.set(hold);
    let busy = (plan.active > 0).then(|| {
        let busy = Rc::new(Shared::new(plan, ctx, hold, false));
        let active = plan.active.min(MAX_LEVEL_CONNECTIONS);
        for _ in 0..active {
            spawn_local(connection(Rc::clone(&busy), Role::Load, None));
        }
        busy
    });
    tick_until(
        hold,
        &|f| progress(OPENING_SHARE + (1.0 - OPENING_SHARE) * f),
        &ctx.stop,
    )
    .await;

    let held = opening.held.take();
    let answered = held.len() as u64;
    let open = held.iter().filter(|s| still_open(s)).count() as u64;
    let not_reached = if plan.level > MAX_LEVEL_CONNECTIONS {
        Some(too_many(plan.level))
    } else if open < level {
        let timeouts = shared.timeouts();
        Some(
            if let Some(reason) = shared.connect_failure(open, Some(level)) {
                reason
            } else if timeouts > 0 {
                format!(
                    "{open} of {level} connections held: {timeouts} were not answered within {} s",
                    shared.timeout.as_secs_f64()
                )
            } else if answered > open {
                format!(
                    "{open} of {level} connections held: the server closed {} while idle",
                    answered - open
                )
            } else {
                format!("{open} of {level} connections held: the others failed (see errors)")
            },
        )
    } else {
        None
    };
    match busy {
        // The held connections' count, the busy connections' answers; a busy connection that
        // could not be opened (the open-files limit, a server that refuses past its own) says
        // so after whatever the held ones said.
        Some(busy) => {
            let short = busy
                .shortfall(plan.active, busy.load.peak())
                .map(|why| format!("busy connections: {why}"));
            let not_reached = match (not_reached, short) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            busy.finish(open, not_reached)
        }
        None => shared.finish(open, not_reached),
    }
}

/// Opens one connection, sends one request, checks the answer, and hands the connection
/// over to be held.
async fn open_one(shared: Rc<Shared>, opening: Rc<Opening>, until: Instant) {
    if let Some(mut conn) = shared
        .connect(&shared.load, until, Retry::Never, None)
        .await
    {
        let mut reader = AnswerReader::new(shared.read_buffer);
        let sent = Instant::now();
        let (timed, done) =
            timed_exchange(&shared, &mut conn, &mut reader, None, sent, until).await;
        match timed {
            Outcome::Done(Ok(answer)) => {
                shared.answered(done, done - sent, None, answer.bytes, answer.status);
                // A server that closes after answering cannot be held; it will show as a
                // connection short at the end.
                if !answer.close {
                    match conn.into_std() {
                        Ok(stream) => opening.held.borrow_mut().push(stream),
                        Err(_) => shared.failed(Failure::Reset, done),
                    }
                }
            }
            Outcome::Done(Err(failure)) => shared.failed(failure, done),
            // Counted at the send, which is inside the opening phase even when the phase's
            // end cut the wait short.
            Outcome::TimedOut | Outcome::Cut => shared.failed(Failure::Timeout, sent),
        }
    }
    let pending = opening.pending.get().saturating_sub(1);
    opening.pending.set(pending);
    if pending == 0 {
        opening.all_done.notify_one();
    }
}

/// Whether a held (non-blocking) connection is still open: nothing to read means open; an
/// end of stream or an error means the server closed it.
fn still_open(stream: &std::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte) {
        Ok(0) => false,
        // The server said something unasked (a 408 before closing, say): still open now.
        Ok(_) => true,
        Err(err) => err.kind() == io::ErrorKind::WouldBlock,
    }
}
