//! Closed loop: N connections, each sending its next request when the last answer arrived.
//! Also the slow-senders probe, which is a closed loop of one.

use std::rc::Rc;

use tokio::task::spawn_local;

use super::answer::AnswerReader;
use super::clock::tick_until;
use super::connect::{Gauge, Retry, keep_until_reported};
use super::exchange::{Next, Pace, pipelined, request};
use super::step::Shared;
use super::step::{Ctx, Part};
use super::{LoadPlan, MAX_LEVEL_CONNECTIONS};

/// Runs a closed loop of `plan.level` connections.
pub(super) async fn run(plan: &LoadPlan, ctx: &Ctx, progress: &(dyn Fn(f64) + Sync)) -> Part {
    let level = plan.level.min(MAX_LEVEL_CONNECTIONS);
    let shared = Rc::new(Shared::new(plan, ctx, ctx.clock(plan), false));
    for _ in 0..level {
        spawn_local(connection(Rc::clone(&shared), Role::Load, None));
    }
    tick_until(shared.clock(), progress, &ctx.stop).await;
    let connections = shared.load.now();
    let not_reached = if plan.level > MAX_LEVEL_CONNECTIONS {
        Some(too_many(plan.level))
    } else {
        shared.shortfall(level, shared.load.peak())
    };
    shared.finish(connections, not_reached)
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
/// Errors close the connection and a new one is opened. What it still waits for when the
/// window ends is censored ([`Shared::report`]). With a `pace`, the answers are read
/// no faster than its rate (slow readers).
pub(super) async fn connection(shared: Rc<Shared>, role: Role, pace: Option<Pace>) {
    let gauge: &Gauge = match role {
        Role::Load => &shared.load,
        Role::Probe => &shared.probe,
    };
    let end = shared.clock().window_end;
    // Allocated once, when the task starts, and reused for every answer. A slow reader
    // never takes more than a chunk at a time, so it needs no more.
    let pipelining = role == Role::Load && pace.is_none() && shared.pipeline > 1;
    let mut reader = if pipelining {
        AnswerReader::pipelined(shared.read_buffer)
    } else {
        AnswerReader::new(pace.map_or(shared.read_buffer, |p| p.chunk))
    };
    // The client's request (or connection attempt) pending here when the window ends is
    // censored: a client the server never answers still counts.
    let slot = shared.slot();
    while let Some(mut conn) = shared
        .connect(gauge, end, Retry::UntilDeadline, Some(slot))
        .await
    {
        reader.discard();
        loop {
            let next = if pipelining {
                pipelined(&shared, &mut conn, &mut reader, end, slot).await
            } else {
                request(&shared, &mut conn, &mut reader, pace, None, end, slot).await
            };
            match next {
                // The probe stands for a new user: every request on a connection of its own,
                // so that it waits where a newcomer waits (in the listen backlog, while every
                // worker is held) rather than keeping the worker it got first.
                Next::Again if role == Role::Probe => break,
                // Without keep-alive, every request on a new connection.
                Next::Again if !shared.keepalive => break,
                Next::Again => {}
                Next::Reconnect => break,
                Next::Keep => return keep_until_reported(conn).await,
            }
        }
    }
}
