//! Every limit the protocol core enforces, with the status it answers and its precedent.
//!
//! A limit protects the server from a client that sends too much; each one is named here so
//! that engines, peers and tests agree on the same numbers.

/// Largest request head (request line and headers, up to and including the blank line), in
/// bytes. A longer head is answered with `431 Request Header Fields Too Large`.
///
/// Precedents: Node.js's `--max-http-header-size` default (16 KiB) and h11's
/// `max_incomplete_event_size` (16 KiB); nginx allows 4 × 8 KiB buffers.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Most header fields in one request; more is answered with `431`.
///
/// Precedents: Apache's `LimitRequestFields` (100) and hyper's default (100) are higher; 64 is
/// what httparse's own examples size their header array with, and is far above what any load
/// generator or browser sends (browsers send about 10 to 20).
pub const MAX_HEADERS: usize = 64;

/// Largest request body, in bytes; a larger `Content-Length` is answered with
/// `413 Content Too Large` without reading the body.
///
/// Precedent: nginx's `client_max_body_size` default, `1m`.
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// Largest `wait_ms` of `/work` (one minute): a longer "database wait" is a mistake, not a
/// workload.
pub const MAX_WAIT_MS: u64 = 60_000;

/// Largest `cpu_rounds` of `/work`: 10⁸ SHA-256 rounds is tens of seconds of CPU on one core.
pub const MAX_CPU_ROUNDS: u64 = 100_000_000;

/// Largest `bytes` of `/work` (64 MiB): enough for slow-reader workloads, small enough that
/// a response is always held in memory whole.
pub const MAX_BODY_PATTERN_BYTES: u64 = 64 * 1024 * 1024;
