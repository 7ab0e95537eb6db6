//! Workloads and measurement: what to send, how to send it, and what to read while it runs.
//!
//! - [`child`]: an engine as a child process: ready line, SIGTERM by PID, pinning.
//! - [`spec`]: workload files and suites (TOML, checked field by field).
//! - [`engines`]: the engines a run can start, by label (`selector-offload`, …).
//! - [`peers`]: servers we did not write (asyncio, Twisted, Tornado, gevent, curio, gunicorn,
//!   nginx), started and measured like engines.
//! - [`load`]: the load generator — closed loop, open loop, idle hold, slow readers and slow
//!   senders — validating every answer and recording HDR histograms.
//! - [`sampler`]: reads the engine's process tree and the kernel from `/proc` every 200 ms.
//! - [`runner`]: starts each engine as a child process, steps it through the levels of each
//!   workload, and reports every event to an [`runner::Observer`].
//!   Its derived figures and flags are in [`figures`], the CPU kernel's calibration in
//!   [`calibration`], and what the run was measured on in [`machine`].
//! - [`results`]: the types all of them produce, which the store keeps.
//! - [`wire`]: one load generator's result as a JSON document, histograms included
//!   (`workbench load --json`).

pub mod calibration;
pub mod child;
pub mod describe;
pub mod engines;
pub mod figures;
pub mod load;
pub mod machine;
pub mod peers;
pub mod remote;
pub mod results;
pub mod runner;
pub mod sampler;
pub mod spec;
pub mod spread;
pub mod trace;
pub mod wire;
