//! The workbench's data model: what a run asks for and what it found, as plain data.
//!
//! Everything here is a value: no sockets, no processes, no clocks, no runtime. The load
//! generator (`wb-load`) and the runner (`wb-runner`) produce these values; the store, the
//! charts, the reports and the judges (`wb-reports`) read them back, and compile without
//! tokio, procfs or libc because they depend on this crate alone.
//!
//! - [`spec`]: workloads and suites, as TOML files checked field by field (the presets are in
//!   `workloads/presets/`, built in).
//! - [`engines`]: the one registry of what a run can measure, by label (`selector-offload`,
//!   `nginx`): family, order, colour, defaults. [`peers`] is its table of servers this project
//!   did not write.
//! - [`results`]: what every step, load report and run produces, which the store keeps.
//! - [`figures`]: the figures and flags derived from a step's raw readings.
//! - [`table`]: the one table of a step's figures (key, unit, which way is better, how to
//!   read value and interval), which the gates, the CSV, the comparison and the JSON read.
//! - [`spread`]: medians, intervals and slopes: how sure a figure is.
//! - [`events`]: what a run reports as it goes, to every [`events::Observer`].
//! - [`describe`] and [`trace`]: what an engine says about itself (`--describe`, `--trace`).
//!
//! # Why a crate of its own
//!
//! A figure means one thing wherever it is shown. Keeping the types apart from the code that
//! measures them means a page, a report and a judge can only read what was measured, never
//! measure again behind the reader's back.

pub mod describe;
pub mod engines;
pub mod events;
pub mod figures;
pub mod peers;
pub mod results;
pub mod spec;
pub mod spread;
pub mod table;
pub mod trace;
