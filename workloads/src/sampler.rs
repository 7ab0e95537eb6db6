//! The /proc sampler (to be written).

use std::time::Duration;

use crate::results::Sample;

/// Reads the engine's process tree every `interval` on a thread of its own.
#[derive(Debug)]
pub struct Sampler {}

impl Sampler {
    /// Starts sampling `engine_pid` and its descendants.
    pub fn start(engine_pid: u32, interval: Duration) -> Sampler {
        let _ = (engine_pid, interval);
        Sampler {}
    }

    /// Stops and returns the samples, oldest first.
    pub fn stop(self) -> Vec<Sample> {
        Vec::new()
    }
}
