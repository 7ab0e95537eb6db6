//! The one piece of shared state a workload touches: the process's counter behind `/count`.
//!
//! `GET /count?wait_ms=W` is a read-modify-write spread over time, as a web handler's "read a
//! row, wait on something, write the row back" is: [`Job::begin`](crate::Job::begin) reads the
//! counter before the wait, [`Job::respond`](crate::Job::respond) writes the value read plus
//! one after it, and the answer's body is the value written. `GET /count` (no query) answers
//! the current value and changes nothing: the runner reads it before and after a step, and
//! *lost updates* = answers − the counter's growth.
//!
//! Safe Rust cannot have a data race, so the "unlocked" update is an atomic **load** then an
//! atomic **store**, never a `fetch_add`: each access is atomic, the pair is not. Two requests
//! that both load 41 before either stores both write 42, and one update is lost — a race
//! condition without a data race. Where it can happen is the lesson:
//!
//! - **threads**: every thread runs the load, sleeps, then stores; any other thread may run in
//!   between (on another core, or preempted on the same one). Holding a lock across the whole
//!   update ([`LOCK`], the threads engine's `--lock-count`) serializes the updates and loses
//!   none — and holds every other `/count` request for the wait.
//! - **one event loop** (selector, current-thread coroutines): nothing else runs between two
//!   statements of a callback, so with `wait_ms=0` the load and the store are back to back and
//!   no update is lost; with a wait, the loop serves other requests *during* the wait, between
//!   this request's load and its store, and updates are lost exactly as with threads.
//! - **processes** (the pool): each worker process has its own copy of this counter — memory
//!   is not shared between processes at all. No update races with another worker's, but no
//!   worker sees the others' either: `GET /count` answers the count of whichever worker took
//!   the connection. Sharing state between processes takes a store outside them (a database,
//!   shared memory), with its own locks.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counter, one per process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A lock an engine may hold across a whole `/count` update (read, wait, write) to make it
/// atomic: the fix, at the price of serializing every update behind one wait.
pub static LOCK: Mutex<()> = Mutex::new(());

/// The counter's current value (one atomic load).
pub fn read() -> u64 {
    COUNTER.load(Ordering::SeqCst)
}

/// Sets the counter (one atomic store): the second half of the unlocked read-modify-write.
pub fn write(value: u64) {
    COUNTER.store(value, Ordering::SeqCst);
}
