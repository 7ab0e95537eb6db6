//! Results that last, and what people read of them.
//!
//! - [`store`]: the SQLite result store; [`record`]: the runner observer that writes to it.
//! - [`charts`]: every chart, drawn once as SVG (plotters) for the dashboard and the reports
//!   alike, with one colour per engine and a table alternative for each.
//! - [`claims`]: the one judge: each claim of the debate, checked against a run's figures and
//!   their intervals, for the lessons, the overview, the reports and `workbench show`.
//! - [`report`]: a run as one standalone HTML file, or Markdown with its SVG charts.
//! - [`format`](mod@format): numbers with units and three significant figures, for reports and terminal.
//!
//! # What is stored
//!
//! One SQLite file (`workbench.db` unless `--db` says otherwise) holds every run: what it was
//! asked to do (engines, workloads and their levels), the machine it ran on, the CPU
//! kernel's calibration, how it ended, and every step it finished — the load generator's
//! report with its HDR histogram, the sampler's readings every 200 ms, and the figures and
//! warnings derived from them. The key figures are also plain columns, so
//! `sqlite3 workbench.db "SELECT engine, level, throughput_rps FROM steps"` works without
//! this crate. [`store`] documents the schema.
//!
//! # Why each step is committed when it ends
//!
//! A full run takes minutes, and its last levels are the ones most likely to go wrong: a
//! hundred thousand threads, an exhausted file table, the OOM killer. The store is one of
//! the runner's observers, and it writes each step in its own transaction the moment the
//! step ends. Whatever stops the run afterwards — Ctrl-C, a crash, a reboot — every finished
//! step is already on disk, and the dashboard shows the run as far as it got.
//!
//! # How an interrupted run is detected
//!
//! A run begins as `running` and its process marks it `completed`, `failed` or
//! `interrupted` when it ends. A process that is killed marks nothing, so the run row
//! records its owner: the pid, the process's start time (clock ticks after boot, from
//! `/proc/<pid>/stat`) and the boot id. Every [`store::Store::open`] looks at the runs still
//! `running`: if no process with that pid and start time exists in this boot, nobody will
//! ever finish the run, and it is marked `interrupted` with a message naming the pid. The
//! start time matters because pids are reused: a new process with the old pid does not keep a
//! dead run alive.

pub mod charts;
pub mod claims;
pub mod format;
pub mod glossary;
pub mod record;
pub mod report;
pub mod store;
