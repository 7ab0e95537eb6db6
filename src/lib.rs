//! Concurrency Workbench as a library: the pieces the `workbench` binary and the integration
//! tests share.
//!
//! - [`child`] (from the `workloads` crate) starts `workbench engine <name>` as a child process, reads its ready line and
//!   stops it with SIGTERM, by PID: every engine is its own process, so what is measured of
//!   it (memory, CPU, threads, context switches) is its own, never mixed with the load
//!   generator's.
//! - [`conformance`] holds the request corpus and the client that checks an engine's answers
//!   byte for byte against the protocol core: every engine takes its responses from the one
//!   protocol crate, so the workloads are identical by construction, and this verifies it.

pub mod conformance;
pub mod os;

pub use wb_runner::child;
