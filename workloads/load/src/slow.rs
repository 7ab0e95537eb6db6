//! Slow clients: readers that take their answer at a fixed rate, and senders (slowloris)
//! that never finish their request head.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::task::spawn_local;

use super::clock::{sleep_until, tick_until};
use super::closed::{Role, connection, too_many};
use super::connect::{Retry, keep_until_reported};
use super::exchange::Pace;
use super::step::Shared;
use super::step::{Ctx, Part};
use super::{LoadPlan, MAX_LEVEL_CONNECTIONS};

/// The start of a slow client's request head; after it come [`PAD`] bytes, forever. Every
/// byte, these included, is sent one per interval.
const SLOW_HEAD: &[u8] = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: ";

/// The header value's filler.
const PAD: u8 = b'a';

/// A slow reader takes about this many reads a second: the chunk is the rate divided by it,
/// between [`MIN_CHUNK`] and [`MAX_CHUNK`].
const READS_PER_SEC: u64 = 16;

/// Smallest read of a slow reader.
const MIN_CHUNK: usize = 1024;

/// Largest read of a slow reader.
const MAX_CHUNK: usize = 64 * 1024;

/// Runs `plan.level` slow readers, each reading at `plan.read_rate` bytes per second.
pub(super) async fn run_readers(
    plan: &LoadPlan,
    ctx: &Ctx,
    progress: &(dyn Fn(f64) + Sync),
) -> Part {
    let level = plan.level.min(MAX_LEVEL_CONNECTIONS);
    let rate = plan.read_rate.max(1);
    let pace = Pace {
        rate,
        chunk: usize::try_from(rate / READS_PER_SEC)
            .unwrap_or(MAX_CHUNK)
            .clamp(MIN_CHUNK, MAX_CHUNK),
    };
    let shared = Rc::new(Shared::new(plan, ctx, ctx.clock(plan), false));
    for _ in 0..level {
        spawn_local(connection(Rc::clone(&shared), Role::Load, Some(pace)));
    }
    tick_until(shared.clock(), progress, &ctx.stop).await;
    let not_reached = if plan.level > MAX_LEVEL_CONNECTIONS {
        Some(too_many(plan.level))
    } else {
        shared.shortfall(level, shared.load.peak())
    };
    shared.finish(shared.load.now(), not_reached)
}

/// Runs `plan.level` slowloris clients and one probe running a closed loop of the plan's
/// request, each request on a new connection (a newcomer, not a client that already holds a
/// worker); the report's latency and answers are the probe's.
pub(super) async fn run_senders(
    plan: &LoadPlan,
    ctx: &Ctx,
    progress: &(dyn Fn(f64) + Sync),
) -> Part {
    let level = plan.level.min(MAX_LEVEL_CONNECTIONS);
    // At least a millisecond: a zero interval would be a busy loop, not a slow client. At
    // most an hour, so that no instant arithmetic overflows on a nonsensical plan.
    let interval = plan
        .send_interval
        .clamp(Duration::from_millis(1), Duration::from_secs(3600));
    let shared = Rc::new(Shared::new(plan, ctx, ctx.clock(plan), false));
    let reconnections = Rc::new(Cell::new(0u64));
    for index in 0..level {
        // Spread the clients' bytes over the interval rather than sending them all at once.
        let offset = interval.mul_f64(index as f64 / level as f64);
        spawn_local(slow_sender(
            Rc::clone(&shared),
            offset,
            interval,
            Rc::clone(&reconnections),
        ));
    }
    spawn_local(connection(Rc::clone(&shared), Role::Probe, None));
    tick_until(shared.clock(), progress, &ctx.stop).await;
    if reconnections.get() > 0 {
        tracing::debug!(
            "load generator: slow clients reconnected {} times (the server closed them)",
            reconnections.get()
        );
    }
    let not_reached = if plan.level > MAX_LEVEL_CONNECTIONS {
        Some(too_many(plan.level))
    } else {
        shared.shortfall(level, shared.load.peak())
    };
    shared.finish(shared.load.now(), not_reached)
}

/// One slowloris client: one byte of an endless request head every `interval`. When the
/// server answers (a `408`, a `431`) or closes, it waits one interval and starts over on a
/// new connection.
async fn slow_sender(
    shared: Rc<Shared>,
    offset: Duration,
    interval: Duration,
    reconnections: Rc<Cell<u64>>,
) {
    let clock = shared.clock();
    let end = clock.window_end;
    sleep_until(clock.start + offset).await;
    while let Some(conn) = shared
        .connect(&shared.load, end, Retry::UntilDeadline, None)
        .await
    {
        let mut next = Instant::now();
        let mut sent = 0usize;
        loop {
            // Anything to read means the server gave up on us: an error status, or the end
            // of the stream. (`try_read` asks tokio's cached readiness first, so a silent
            // socket costs no system call.)
            let mut scratch = [0u8; 64];
            match conn.stream.try_read(&mut scratch) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                _ => break,
            }
            let byte = SLOW_HEAD.get(sent).copied().unwrap_or(PAD);
            match conn.stream.try_write(&[byte]) {
                Ok(n) => sent += n,
                // The send buffer is full (the server reads nothing): skip this tick.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
            next += interval;
            if next >= end {
                return keep_until_reported(conn).await;
            }
            sleep_until(next).await;
        }
        drop(conn);
        reconnections.set(reconnections.get() + 1);
        let retry_at = Instant::now() + interval;
        if retry_at >= end {
            return;
        }
        sleep_until(retry_at).await;
    }
}
