//! Closed loop: N connections, each sending its next request when the last answer arrived.
//! Also the slow-senders probe, which is a closed loop of one.

use std::rc::Rc;
use std::time::Instant;

use tokio::task::spawn_local;

use super::answer::AnswerReader;
use super::shared::{
    Failure, Gauge, Pace, Retry, Shared, exchange, keep_until_reported, tick_until,
};
use super::{LoadPlan, MAX_LEVEL_CONNECTIONS, REQUEST_TIMEOUT};
use crate::results::LoadReport;

/// Runs a closed loop of `plan.level` connections.
pub(super) async fn run(plan: &LoadPlan, progress: &(dyn Fn(f64) + Sync)) -> LoadReport {
    let level = plan.level.min(MAX_LEVEL_CONNECTIONS);
    let shared = Rc::new(Shared::new(
        plan,
        super::shared::Clock::starting_now(plan.warmup, plan.duration),
        false,
    ));
    for _ in 0..level {
        spawn_local(connection(Rc::clone(&shared), Role::Load, None));
    }
    tick_until(shared.clock(), progress).await;
    let connections = shared.load.now();
    let not_reached = if plan.level > MAX_LEVEL_CONNECTIONS {
        Some(too_many(plan.level))
    } else {
        shared.shortfall(level, shared.load.peak())
    };
    shared.report(connections, not_reached)
}

/// The reason for a level above [`MAX_LEVEL_CONNECTIONS`].
pub(super) fn too_many(level: u64) -> String {
    format!(
        "level {level} is above the generator's {MAX_LEVEL_CONNECTIONS} connections; \
         {MAX_LEVEL_CONNECTIONS} were used"
    )
}

/// Which gauge a closed-loop connection is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// One of the level's connections.
    Load,
    /// The slow-senders probe.
    Probe,
}

/// One closed-loop connection: request, whole answer, next request, until the window ends.
/// Errors close the connection and a new one is opened. With a `pace`, the answers are read
/// no faster than its rate (slow readers).
pub(super) async fn connection(shared: Rc<Shared>, role: Role, pace: Option<Pace>) {
    let gauge: &Gauge = match role {
        Role::Load => &shared.load,
        Role::Probe => &shared.probe,
    };
    let end = shared.clock().window_end;
    // Allocated once, when the task starts, and reused for every answer. A slow reader
    // never takes more than a chunk at a time, so it needs no more.
    let mut reader = AnswerReader::new(pace.map_or(shared.read_buffer, |p| p.chunk));
    while let Some(mut conn) = shared.connect(gauge, end, Retry::UntilDeadline).await {
        loop {
            let sent = Instant::now();
            if sent >= end {
                return keep_until_reported(conn).await;
            }
            let deadline = (sent + REQUEST_TIMEOUT).min(end);
            let exchanged = tokio::time::timeout_at(
                deadline.into(),
                exchange(
                    &mut conn.stream,
                    &shared.request,
                    &mut reader,
                    &shared.expect,
                    pace,
                    sent,
                ),
            )
            .await;
            let done = Instant::now();
            match exchanged {
                Ok(Ok(answer)) => {
                    shared.answered(done, done - sent, None, answer.bytes);
                    if answer.close {
                        break;
                    }
                }
                Ok(Err(failure)) => {
                    shared.failed(failure, done);
                    break;
                }
                // The window ended with this request in flight: abandoned, not an error.
                Err(_) if deadline == end => return keep_until_reported(conn).await,
                Err(_) => {
                    shared.failed(Failure::Timeout, done);
                    break;
                }
            }
        }
    }
}
