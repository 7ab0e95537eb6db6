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

/// A read that brings fewer bytes than this, while a request is still arriving, is *small*:
/// the client is trickling (a slowloris, or one byte per TCP segment). After a rest
/// ([`TRICKLE_REST`]) the mark is a rate: fewer than this many bytes per 25 ms rested (2 KiB
/// after a rest of 100 ms, 8 KiB after 400 ms), about 20 KiB/s.
///
/// See [`TRICKLE_REST`].
pub const SMALL_READ_BYTES: usize = 512;

/// How many small reads of one request an engine makes at the pace the client sets before it
/// starts resting between reads ([`TRICKLE_REST`]) for the rest of that request. A request
/// from a real client arrives in one read, or in a few on a slow link: none of them is slowed.
pub const TRICKLE_READS: u8 = 8;

/// How long an engine first rests before its next read of a request that trickles in: after
/// [`TRICKLE_READS`] small reads, each further read is followed by a rest, this long the
/// first time and twice as long after each further small one, up to [`TRICKLE_REST_MAX`].
/// Meanwhile whatever the client sends piles up in the kernel and is then taken in one read.
/// Whether that read is small is judged by the rate ([`SMALL_READ_BYTES`] per 25 ms rested):
/// what a trickler piles up during a rest lengthens the next one; a client that sends faster
/// keeps its rest as it is (it is neither lengthened nor reset).
///
/// Why: reading costs a wake-up and a system call per read, whatever the parser does, and on
/// a socket fed one byte per segment the kernel's own work per read grows with what piled up
/// (the segments freed, the window reopened, the ACK sent — on loopback, the client's queued
/// segments sent on as well, on the reader's time). A 15 KB head sent one byte per segment is
/// 15,000 reads — 60 to 100 ms of CPU on this project's engines even with a linear parse — and
/// a few hundred such clients within the header timeout keep cores busy; resting 25 ms between
/// reads still cost about 5 ms (some 70 reads of 60 µs each, measured). With the rests growing,
/// the reads of any one request are at most `TRICKLE_READS` + 5 + header timeout / 400 ms
/// (38 at the default 10 s) small ones, plus `bytes / SMALL_READ_BYTES` large ones: about 15
/// reads for that head, 0.9 to 1.5 ms of CPU depending on the engine (`cargo run --release
/// --example slow_head`; nginx: 70 to 120 ms). On a machine this idle the cost is mostly the
/// wake-ups (each costs 20 to 60 µs of a virtual CPU that slept), then the kernel's
/// per-segment work. The header timeout still runs from the request's first byte: resting
/// never lengthens it.
///
/// Precedents: nginx and Apache keep no such rule (they pay a read per segment);
/// `mod_reqtimeout`'s `MinRate` and Node's `headersTimeout` bound a slow client's time, not its
/// reads. A client that trickles is answered up to 400 ms after its last byte — a slowloris,
/// not a browser: a real client's request arrives in one read, or a few large ones.
pub const TRICKLE_REST: std::time::Duration = std::time::Duration::from_millis(25);

/// The longest rest between two reads of a trickled request: see [`TRICKLE_REST`].
pub const TRICKLE_REST_MAX: std::time::Duration = std::time::Duration::from_millis(400);
