//! The workspace's integration tests, in one binary: one link of the whole workbench instead
//! of one per file. Each file is a module, so a test is named `<file>::…`:
//! `cargo test --test it faults::selector` runs one engine's faults cases, `cargo test --test it
//! faults` the faults suite. The conformance suite has a binary of its own
//! (`cargo test --test conformance uring`, `tests/conformance/main.rs`), built from
//! `conformance.rs` here. What several files need (the built
//! binary, starting and stopping an engine) is in [`util`] once.

#[macro_use]
mod util;

mod browser;
mod cli;
mod crash;
mod dashboard;
mod dashboard_holds;
mod database;
mod differential;
mod exports;
mod faults;
mod format;
mod multihost;
mod peers;
mod run;
