//! The result store: every run, its configuration and every step it finished, in one SQLite
//! file.
//!
//! ```no_run
//! use wb_reports::store::Store;
//! # fn demo(config: &wb_model::results::RunConfig,
//! #         machine: &wb_model::results::MachineFacts,
//! #         calibration: &wb_model::results::Calibration,
//! #         step: &wb_model::results::StepResult) -> wb_reports::store::Result<()> {
//! use wb_model::results::RunStatus;
//!
//! let mut store = Store::open("workbench.db")?; // also marks dead runs interrupted
//! let run = store.begin_run(config, machine, calibration)?;
//! store.record_step(run, step)?; // committed now: a crash later keeps it
//! store.finish_run(run, RunStatus::Completed, None)?;
//! for summary in store.runs()? {
//!     println!("{} {} {} steps", summary.id, summary.status.as_str(), summary.steps);
//! }
//! # Ok(()) }
//! ```
//!
//! # Schema (version 3)
//!
//! Five tables, from three migrations ([`MIGRATIONS`], one per version).
//!
//! Version 1: the runs and what they measured.
//!
//! - `runs`: one row per run — status, times, message, the owner (pid, process start time,
//!   boot id), a few plain columns for listing (`suite`, `engines`, `workloads`), and the
//!   configuration, machine facts and calibration as JSON.
//! - `steps`: one row per finished step, keyed by `(run_id, seq)` — the key figures as columns
//!   (so `sqlite3 workbench.db` can answer questions without JSON), the HDR histogram as a
//!   BLOB, and the whole [`StepResult`] as JSON *except* its samples and histogram, which
//!   live in their own homes instead of twice.
//! - `samples`: one row per sample, keyed by `(run_id, step_seq, seq)`, one column per field
//!   of [`Sample`]. Rows rather than a JSON blob, because samples are the one part of a step
//!   read as a series across steps (memory over time, context switches as load rises), which
//!   plain SQL can then select, and a step holds only 15–20 of them. The price is a
//!   migration when [`Sample`] gains a field.
//!
//! Version 2: timelines.
//!
//! - `traces`: the timeline of one traced step (`workbench run --trace`), keyed by
//!   `(run_id, engine, workload, level)`, as JSON ([`Store::record_trace`],
//!   [`Store::traces`]).
//!
//! Version 3: what a connection holds.
//!
//! - `descriptions`: what one connection holds in each engine of a run, as the engine
//!   described itself at the start (`workbench engine NAME --describe`), keyed by
//!   `(run_id, engine)`, as JSON ([`Store::record_description`], [`Store::descriptions`]).
//!
//! Versions 2 and 3 only add a table: a run stored before them has no rows there and reads
//! as it did. Every table but `runs` goes with its run (`ON DELETE CASCADE`).
//!
//! The JSON is what [`Store::run`], [`Store::traces`] and [`Store::descriptions`] read back;
//! the columns are copies for listing and for people with a SQL prompt. Times are unix
//! seconds (UTC); [`utc_text`] formats them.
//!
//! # Migrations
//!
//! `PRAGMA user_version` holds the schema version: 0 for a new file. [`MIGRATIONS`] lists the
//! SQL that takes version `n` to `n + 1`; opening applies the missing ones in order, each in
//! its own transaction together with the version bump, so a file is never half migrated. A
//! file from a newer workbench is refused rather than guessed at.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use wb_model::results::{Calibration, MachineFacts, RunConfig, RunStatus, Sample, StepResult};

mod owner;
mod rows;
mod schema;

pub use rows::utc_text;
use rows::*;
use schema::migrate;

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLite refused: the file cannot be opened, is locked for too long, is not a database…
    #[error("result store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer workbench whose schema this one does not know.
    #[error(
        "the result store has schema version {found}, newer than this workbench knows \
         ({supported}); use a newer workbench or another --db file"
    )]
    NewerSchema {
        /// The file's `user_version`.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// No run has this id.
    #[error("run {0} is not in the result store")]
    NoSuchRun(RunId),
    /// Steps can only be added to a run that is still running.
    #[error("run {id} is {}, so no step can be added to it", status.as_str())]
    NotRunning {
        /// The run.
        id: RunId,
        /// Its status.
        status: RunStatus,
    },
    /// `finish_run` was asked to leave a run running.
    #[error("a run cannot be finished as `running`")]
    FinishedAsRunning,
    /// A figure of a step is NaN or infinite: JSON has no such numbers, so the step could
    /// never be read back. The step is refused, and nothing of it stored.
    #[error("step {step}: {field} is {value}, which cannot be stored")]
    NotFinite {
        /// `engine/workload/level`.
        step: String,
        /// The field, as a path (`derived.throughput_rps`).
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A JSON column could not be written or read back.
    #[error("result store: {what} as JSON: {source}")]
    Json {
        /// What was being converted.
        what: String,
        /// Why it failed.
        source: serde_json::Error,
    },
    /// A column holds a value no version of the workbench writes.
    #[error("result store: {0}")]
    Corrupt(String),
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// A run's id: the `runs` table's primary key, shown to people as a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for RunId {
    type Err = std::num::ParseIntError;

    /// Parses the number [`RunId`]'s `Display` shows (`"42"`).
    fn from_str(text: &str) -> std::result::Result<RunId, Self::Err> {
        text.trim().parse().map(RunId)
    }
}

/// A run as the list of runs shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    /// Its id.
    pub id: RunId,
    /// Where it stands.
    pub status: RunStatus,
    /// When it began, unix seconds.
    pub started_at: i64,
    /// When it ended, unix seconds; for an interrupted run, its last sign of life (the last
    /// step it recorded, or its start). `None` while running.
    pub finished_at: Option<i64>,
    /// The suite, if one was chosen.
    pub suite: Option<String>,
    /// Engine labels, in order.
    pub engines: Vec<String>,
    /// Workload names, in order.
    pub workloads: Vec<String>,
    /// Steps recorded so far.
    pub steps: u64,
    /// Why it failed or was interrupted, or a note on how it ended.
    pub message: Option<String>,
    /// The machine it ran on.
    pub machine: MachineFacts,
}

/// A run with everything kept about it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredRun {
    /// The summary (the machine facts are in it).
    pub summary: RunSummary,
    /// What the run was asked to do.
    pub config: RunConfig,
    /// The CPU kernel's speed measured at its start.
    pub calibration: Calibration,
    /// Every step it recorded, in the order they ended.
    pub steps: Vec<StepResult>,
}

pub use schema::MIGRATIONS;

/// How long a write waits for another process's write to finish before giving up. A step
/// takes milliseconds to write; a lock held for longer belongs to a stuck process, and an
/// error ("database is locked") says more than waiting on.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The `samples` columns after `(run_id, step_seq, seq)`, in [`Sample`]'s field order with
/// the columns added by later migrations at the end; the insert and the select both use this
/// list, so they cannot drift apart.
const SAMPLE_COLUMNS: &str = "at_ms, rss_bytes, pss_bytes, uss_bytes, processes, threads, \
     cpu_user_secs, cpu_system_secs, ctx_voluntary, ctx_involuntary, open_fds, tcp_inuse, \
     tcp_mem_bytes, kernel_stack_bytes, slab_unreclaim_bytes, client_cpu_secs, vsz_bytes";

/// The `runs` columns a [`RunSummary`] is read from, with the step count last.
const SUMMARY_COLUMNS: &str = "id, status, started_at, finished_at, suite, engines, workloads, \
     message, machine, (SELECT COUNT(*) FROM steps WHERE steps.run_id = runs.id)";

/// An open result store.
///
/// Writes take `&mut self` and each is one transaction. Several processes may open the same
/// file: the journal is in WAL mode, so readers (the dashboard) never block the writer (a
/// run), and writers wait up to ten seconds for each other.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (or creates) the store at `path`, brings its schema up to date, and marks runs
    /// whose process has died as [`RunStatus::Interrupted`].
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let conn = Connection::open(path)?;
        // WAL: a reader sees the last committed step while a run writes the next.
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        Store::setup(conn)
    }

    /// A store in memory, gone when dropped: for tests.
    pub fn open_in_memory() -> Result<Store> {
        Store::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Off by default in SQLite, per connection; the cascades above rely on it.
        conn.pragma_update(None, "foreign_keys", true)?;
        migrate(&mut conn)?;
        let store = Store { conn };
        store.mark_interrupted()?;
        Ok(store)
    }

    /// The schema version of the file: [`MIGRATIONS`]`.len()` once open.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?)
    }

    /// Records the start of a run, owned by this process, and returns its id.
    pub fn begin_run(
        &mut self,
        config: &RunConfig,
        machine: &MachineFacts,
        calibration: &Calibration,
    ) -> Result<RunId> {
        let engines: Vec<&str> = config.engines.iter().map(|e| e.label.as_str()).collect();
        let workloads: Vec<&str> = config.workloads.iter().map(|w| w.name.as_str()).collect();
        let pid = std::process::id();
        self.conn.execute(
            "INSERT INTO runs (status, started_at, owner_pid, owner_start_ticks, owner_boot_id,
                               suite, engines, workloads, config, machine, calibration)
             VALUES ('running', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                now(),
                pid,
                owner::start_ticks(pid),
                owner::boot_id(),
                config.suite,
                to_json("the engines", &engines)?,
                to_json("the workloads", &workloads)?,
                to_json("the run configuration", config)?,
                to_json("the machine facts", machine)?,
                to_json("the calibration", calibration)?,
            ],
        )?;
        Ok(RunId(self.conn.last_insert_rowid()))
    }

    /// Records a finished step of a running run, with its samples and histogram, in one
    /// transaction: once this returns, the step survives whatever happens to the run.
    pub fn record_step(&mut self, run: RunId, step: &StepResult) -> Result<()> {
        check_finite(step)?;
        // The JSON keeps everything but the two bulky parts, which have their own columns.
        let bare = StepResult {
            samples: Vec::new(),
            load: wb_model::results::LoadReport {
                histogram: Vec::new(),
                ..step.load.clone()
            },
            ..step.clone()
        };
        let json = to_json("the step", &bare)?;

        let tx = self.write()?;
        let status = run_status(&tx, run)?.ok_or(Error::NoSuchRun(run))?;
        if status != RunStatus::Running {
            return Err(Error::NotRunning { id: run, status });
        }
        let seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq) + 1, 0) FROM steps WHERE run_id = ?1",
            [run.0],
            |row| row.get(0),
        )?;
        let (d, latency) = (&step.derived, &step.load.latency);
        tx.execute(
            "INSERT INTO steps (run_id, seq, recorded_at, engine, workload, mode, level,
                 throughput_rps, p50_us, p99_us, p999_us, max_us, errors,
                 peak_pss_bytes, mean_pss_bytes, peak_rss_bytes, mean_rss_bytes,
                 engine_cores, client_cores, ctx_switches_per_sec, threads_max,
                 client_saturated, littles_law_off, level_not_reached, failure,
                 histogram, step)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
            params![
                run.0,
                seq,
                now(),
                step.engine,
                step.workload,
                step.mode.name(),
                step.level,
                d.throughput_rps,
                latency.p50_us,
                latency.p99_us,
                latency.p999_us,
                latency.max_us,
                step.load.errors.total(),
                d.peak_pss_bytes,
                d.mean_pss_bytes,
                d.peak_rss_bytes,
                d.mean_rss_bytes,
                d.engine_cores,
                d.client_cores,
                d.ctx_switches_per_sec,
                d.threads_max,
                step.flags.client_saturated,
                step.flags.littles_law_off,
                step.flags.level_not_reached,
                step.failure,
                step.load.histogram,
                json,
            ],
        )?;
        {
            let mut insert = tx.prepare(&format!(
                "INSERT INTO samples (run_id, step_seq, seq, {SAMPLE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                         ?16, ?17, ?18, ?19, ?20)"
            ))?;
            for (i, s) in step.samples.iter().enumerate() {
                insert.execute(params![
                    run.0,
                    seq,
                    i,
                    s.at_ms,
                    s.rss_bytes,
                    s.pss_bytes,
                    s.uss_bytes,
                    s.processes,
                    s.threads,
                    s.cpu_user_secs,
                    s.cpu_system_secs,
                    s.ctx_voluntary,
                    s.ctx_involuntary,
                    s.open_fds,
                    s.tcp_inuse,
                    s.tcp_mem_bytes,
                    s.kernel_stack_bytes,
                    s.slab_unreclaim_bytes,
                    s.client_cpu_secs,
                    s.vsz_bytes,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores the timeline of one step of `run` (a traced window, see
    /// `wb_model::events::RunEvent::StepTraced`); a second one for the same step replaces it.
    pub fn record_trace(&mut self, run: RunId, trace: &wb_model::trace::Trace) -> Result<()> {
        let json = to_json("trace", trace)?;
        let level = i64::try_from(trace.level).map_err(|_| Error::NoSuchRun(run))?;
        let changed = self.conn.execute(
            "INSERT OR REPLACE INTO traces (run_id, engine, workload, level, trace)
             SELECT id, ?2, ?3, ?4, ?5 FROM runs WHERE id = ?1",
            params![run.0, trace.engine, trace.workload, level, json],
        )?;
        if changed == 0 {
            return Err(Error::NoSuchRun(run));
        }
        Ok(())
    }

    /// The timelines stored with `run`, by workload, then engine (empty for a run recorded
    /// without `--trace`, or by a workbench from before traces).
    pub fn traces(&self, run: RunId) -> Result<Vec<wb_model::trace::Trace>> {
        let mut query = self.conn.prepare(
            "SELECT trace FROM traces WHERE run_id = ?1 ORDER BY workload, engine, level",
        )?;
        let texts: Vec<String> = query
            .query_map(params![run.0], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        texts.iter().map(|text| from_json("trace", text)).collect()
    }

    /// Stores what one connection holds in `engine` (its label in `run`), as the engine
    /// described itself at the start of the run.
    pub fn record_description(
        &mut self,
        run: RunId,
        engine: &str,
        description: &wb_model::describe::Description,
    ) -> Result<()> {
        let json = to_json("description", description)?;
        let changed = self.conn.execute(
            "INSERT OR REPLACE INTO descriptions (run_id, engine, description)
             SELECT id, ?2, ?3 FROM runs WHERE id = ?1",
            params![run.0, engine, json],
        )?;
        if changed == 0 {
            return Err(Error::NoSuchRun(run));
        }
        Ok(())
    }

    /// The engines' descriptions stored with `run`, by label (empty for a run from before
    /// descriptions, or one whose engines ran on other hosts).
    pub fn descriptions(
        &self,
        run: RunId,
    ) -> Result<Vec<(String, wb_model::describe::Description)>> {
        let mut query = self.conn.prepare(
            "SELECT engine, description FROM descriptions WHERE run_id = ?1 ORDER BY engine",
        )?;
        let rows: Vec<(String, String)> = query
            .query_map(params![run.0], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(engine, text)| Ok((engine, from_json("description", &text)?)))
            .collect()
    }

    /// Records how a run ended: `status` (anything but [`RunStatus::Running`]), the time, and
    /// an optional message (why it failed, what interrupted it).
    pub fn finish_run(
        &mut self,
        run: RunId,
        status: RunStatus,
        message: Option<&str>,
    ) -> Result<()> {
        if status == RunStatus::Running {
            return Err(Error::FinishedAsRunning);
        }
        let changed = self.conn.execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, message = ?4 WHERE id = ?1",
            params![run.0, status.as_str(), now(), message],
        )?;
        if changed == 0 {
            return Err(Error::NoSuchRun(run));
        }
        Ok(())
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<RunSummary>> {
        let mut query = self.conn.prepare(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM runs ORDER BY id DESC"
        ))?;
        let rows = query.query_map([], RawSummary::read)?;
        rows.map(|raw| raw?.parse()).collect()
    }

    /// One run with its configuration and every step, or `None` if there is no such run.
    pub fn run(&self, id: RunId) -> Result<Option<StoredRun>> {
        let found = self
            .conn
            .query_row(
                &format!("SELECT {SUMMARY_COLUMNS}, config, calibration FROM runs WHERE id = ?1"),
                [id.0],
                |row| {
                    Ok((
                        RawSummary::read(row)?,
                        row.get::<_, String>(10)?,
                        row.get::<_, String>(11)?,
                    ))
                },
            )
            .optional()?;
        let Some((raw, config, calibration)) = found else {
            return Ok(None);
        };
        let summary = raw.parse()?;
        let config = from_json(&format!("run {id}'s configuration"), &config)?;
        let calibration = from_json(&format!("run {id}'s calibration"), &calibration)?;

        let mut steps = Vec::new();
        let mut query = self
            .conn
            .prepare("SELECT seq, histogram, step FROM steps WHERE run_id = ?1 ORDER BY seq")?;
        let mut rows = query.query([id.0])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let mut step: StepResult =
                from_json(&format!("run {id}'s step {seq}"), &row.get::<_, String>(2)?)?;
            step.load.histogram = row.get(1)?;
            steps.push((seq, step));
        }

        // All the run's samples in one query, in step order, handed to their steps.
        let mut query = self.conn.prepare(&format!(
            "SELECT step_seq, {SAMPLE_COLUMNS} FROM samples WHERE run_id = ?1
             ORDER BY step_seq, seq"
        ))?;
        let mut rows = query.query([id.0])?;
        let mut target = steps.iter_mut().peekable();
        while let Some(row) = rows.next()? {
            let step_seq: i64 = row.get(0)?;
            while target.peek().is_some_and(|(seq, _)| *seq < step_seq) {
                target.next();
            }
            let Some((_, step)) = target.peek_mut().filter(|(seq, _)| *seq == step_seq) else {
                return Err(Error::Corrupt(format!(
                    "run {id} has samples of step {step_seq}, which is missing"
                )));
            };
            step.samples.push(read_sample(row)?);
        }

        Ok(Some(StoredRun {
            summary,
            config,
            calibration,
            steps: steps.into_iter().map(|(_, step)| step).collect(),
        }))
    }

    /// The newest completed run, if any.
    pub fn latest_completed(&self) -> Result<Option<RunId>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM runs WHERE status = 'completed' ORDER BY id DESC LIMIT 1",
                [],
                |row| row.get(0).map(RunId),
            )
            .optional()?)
    }

    /// Whether any run has completed: the binary runs the quick suite first when none has.
    pub fn has_completed_run(&self) -> Result<bool> {
        Ok(self.latest_completed()?.is_some())
    }

    /// A write transaction that takes the write lock at once. A deferred one would start as a
    /// reader and could fail to upgrade (`SQLITE_BUSY`, no waiting) if another process wrote
    /// in between; an immediate one waits its turn under the busy timeout.
    fn write(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Marks `running` runs whose owner process is gone as interrupted.
    ///
    /// A run is written by exactly one process, which records its pid, start time and boot.
    /// If that process no longer exists, nobody will ever finish the run: it was killed, it
    /// crashed, or the machine rebooted. Its finished steps are all committed, so they stay;
    /// its end time is its last sign of life.
    ///
    /// Only dead runs cause a write, so opening the store (the dashboard does, often) takes
    /// no write lock in the usual case.
    fn mark_interrupted(&self) -> Result<()> {
        let owners: Vec<(i64, u32, Option<u64>, Option<String>)> = {
            let mut query = self.conn.prepare(
                "SELECT id, owner_pid, owner_start_ticks, owner_boot_id FROM runs
                 WHERE status = 'running'",
            )?;
            query
                .query_map([], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?
                .collect::<rusqlite::Result<_>>()?
        };
        for (id, pid, start_ticks, boot_id) in owners {
            if owner::is_alive(pid, start_ticks, boot_id.as_deref()) {
                continue;
            }
            // `status = 'running'` again: another process opening the store at the same
            // moment may have marked it already, and the message should not change twice.
            self.conn.execute(
                "UPDATE runs SET status = 'interrupted', message = ?2,
                     finished_at = COALESCE(
                         (SELECT MAX(recorded_at) FROM steps WHERE run_id = runs.id),
                         started_at)
                 WHERE id = ?1 AND status = 'running'",
                params![
                    id,
                    format!("the process running it (pid {pid}) ended without finishing it")
                ],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_of_known_instants() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_text(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn this_process_is_alive_and_its_start_time_is_known() {
        let pid = std::process::id();
        let ticks = owner::start_ticks(pid);
        assert!(ticks.is_some());
        let boot = owner::boot_id();
        assert!(owner::is_alive(pid, ticks, boot.as_deref()));
        assert!(!owner::is_alive(pid, ticks.map(|t| t + 1), boot.as_deref()));
        assert!(!owner::is_alive(pid, ticks, Some("another boot")));
    }

    #[test]
    fn run_ids_print_and_parse() {
        assert_eq!(RunId(42).to_string(), "42");
        assert_eq!("42".parse::<RunId>().unwrap(), RunId(42));
        assert!("x".parse::<RunId>().is_err());
    }
}
