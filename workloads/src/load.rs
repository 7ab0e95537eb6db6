//! The load generator (to be written).

use std::net::SocketAddr;
use std::time::Duration;

use crate::results::LoadReport;
use crate::spec::Mode;

/// What a correct answer looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// `Content-Length` and body length.
    pub body_len: u64,
    /// `X-Work-Digest`, for `/work`.
    pub digest: Option<String>,
}

/// What the load generator does at one level.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The server.
    pub target: SocketAddr,
    /// How.
    pub mode: Mode,
    /// Connections, or requests per second for open loop.
    pub level: u64,
    /// The request target, e.g. `/work?wait_ms=10&cpu_rounds=0&bytes=0`.
    pub request_target: String,
    /// What every answer must be.
    pub expect: Expectation,
    /// Load before measuring.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Open loop: most connections to open.
    pub max_connections: u64,
    /// Slow readers: bytes per second per client.
    pub read_rate: u64,
    /// Slow senders: pause between bytes.
    pub send_interval: Duration,
}

/// Runs one level and reports what it measured. Blocks; `progress` is called with the
/// fraction done (0.0 to 1.0) a few times a second.
pub fn run(plan: &LoadPlan, progress: &(dyn Fn(f64) + Sync)) -> LoadReport {
    let _ = (plan, progress);
    LoadReport::default()
}
