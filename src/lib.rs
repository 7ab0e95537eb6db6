//! Concurrency Workbench as a library: the pieces the `workbench` binary and the integration
//! tests share.
//!
//! - [`child`] (from the `workloads` crate) starts `workbench engine <name>` as a child process, reads its ready line and
//!   stops it with SIGTERM, by PID — invariant 2 of the design: every engine is its own
//!   process, so what is measured of it is its own.
//! - [`conformance`] holds the request corpus and the client that checks an engine's answers
//!   byte for byte against the protocol core — invariant 1: identical workloads by
//!   construction, verified.

pub mod conformance;
pub mod os;

pub use wb_runner::child;
