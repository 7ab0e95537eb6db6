//! The schema, as migrations applied in order; `PRAGMA user_version` counts them.

use rusqlite::{Connection, TransactionBehavior};

use super::{Error, Result};

/// The schema, one migration per version: `MIGRATIONS[n]` takes a file from version `n` to
/// `n + 1`. Append only: a released migration is never edited, since files out there have
/// already applied it.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs, steps, samples.
    "
    CREATE TABLE runs (
        id                INTEGER PRIMARY KEY,
        status            TEXT NOT NULL
                          CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
        started_at        INTEGER NOT NULL,  -- unix seconds
        finished_at       INTEGER,           -- unix seconds; NULL while running
        message           TEXT,
        -- The process running it, to tell a live run from one whose process died: a pid is
        -- reused, a pid with its start time (clock ticks after boot, /proc/<pid>/stat field
        -- 22) is not within one boot, and the boot id tells boots apart.
        owner_pid         INTEGER NOT NULL,
        owner_start_ticks INTEGER,
        owner_boot_id     TEXT,
        suite             TEXT,
        engines           TEXT NOT NULL,     -- JSON array of engine labels
        workloads         TEXT NOT NULL,     -- JSON array of workload names
        config            TEXT NOT NULL,     -- RunConfig, JSON
        machine           TEXT NOT NULL,     -- MachineFacts, JSON
        calibration       TEXT NOT NULL      -- Calibration, JSON
    );
    CREATE INDEX runs_by_status ON runs (status);

    CREATE TABLE steps (
        run_id               INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq                  INTEGER NOT NULL,   -- 0, 1, 2… in the order the steps ended
        recorded_at          INTEGER NOT NULL,   -- unix seconds
        engine               TEXT NOT NULL,
        workload             TEXT NOT NULL,
        mode                 TEXT NOT NULL,
        level                INTEGER NOT NULL,
        throughput_rps       REAL NOT NULL,
        p50_us               INTEGER NOT NULL,
        p99_us               INTEGER NOT NULL,
        p999_us              INTEGER NOT NULL,
        max_us               INTEGER NOT NULL,
        errors               INTEGER NOT NULL,
        peak_pss_bytes       INTEGER NOT NULL,
        mean_pss_bytes       INTEGER NOT NULL,
        peak_rss_bytes       INTEGER NOT NULL,
        mean_rss_bytes       INTEGER NOT NULL,
        engine_cores         REAL NOT NULL,
        client_cores         REAL NOT NULL,
        ctx_switches_per_sec REAL NOT NULL,
        threads_max          INTEGER NOT NULL,
        client_saturated     INTEGER NOT NULL,   -- 0 or 1
        littles_law_off      INTEGER NOT NULL,   -- 0 or 1
        level_not_reached    TEXT,
        failure              TEXT,
        histogram            BLOB NOT NULL,      -- HDR histogram, V2 serialization
        step                 TEXT NOT NULL,      -- StepResult JSON without samples/histogram
        PRIMARY KEY (run_id, seq)
    );

    CREATE TABLE samples (
        run_id               INTEGER NOT NULL,
        step_seq             INTEGER NOT NULL,
        seq                  INTEGER NOT NULL,
        at_ms                INTEGER NOT NULL,
        rss_bytes            INTEGER NOT NULL,
        pss_bytes            INTEGER NOT NULL,
        uss_bytes            INTEGER NOT NULL,
        processes            INTEGER NOT NULL,
        threads              INTEGER NOT NULL,
        cpu_user_secs        REAL NOT NULL,
        cpu_system_secs      REAL NOT NULL,
        ctx_voluntary        INTEGER NOT NULL,
        ctx_involuntary      INTEGER NOT NULL,
        open_fds             INTEGER NOT NULL,
        tcp_inuse            INTEGER NOT NULL,
        tcp_mem_bytes        INTEGER NOT NULL,
        kernel_stack_bytes   INTEGER NOT NULL,
        slab_unreclaim_bytes INTEGER NOT NULL,
        client_cpu_secs      REAL NOT NULL,
        PRIMARY KEY (run_id, step_seq, seq),
        FOREIGN KEY (run_id, step_seq) REFERENCES steps (run_id, seq) ON DELETE CASCADE
    ) WITHOUT ROWID;
    ",
    // 2: traces, the timeline of one step per engine and workload (`workbench run --trace`).
    // Additive: a file from before has no traces, and reads as before.
    "
    CREATE TABLE traces (
        run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        engine    TEXT NOT NULL,
        workload  TEXT NOT NULL,
        level     INTEGER NOT NULL,
        trace     TEXT NOT NULL,     -- wb_model::trace::Trace, JSON
        PRIMARY KEY (run_id, engine, workload, level)
    );
    ",
    // 3: what one connection holds in each engine of a run (`workbench engine X --describe`).
    // Additive: a file from before has none, and the lesson then asks the binary.
    "
    CREATE TABLE descriptions (
        run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        engine       TEXT NOT NULL,     -- the engine's label in the run
        description  TEXT NOT NULL,     -- wb_model::describe::Description, JSON
        PRIMARY KEY (run_id, engine)
    );
    ",
    // 4: the virtual size (VSZ) of each sample: address space reserved, touched or not. A
    // sample from before reads 0.
    "
    ALTER TABLE samples ADD COLUMN vsz_bytes INTEGER NOT NULL DEFAULT 0;
    ",
];

/// Applies the missing migrations, each in its own transaction with its version bump.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let supported = MIGRATIONS.len() as i64;
    let version = |conn: &Connection| -> Result<i64> {
        Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
    };
    // The usual case, a file already up to date, needs no lock.
    if version(conn)? == supported {
        return Ok(());
    }
    loop {
        // Immediate: two processes opening a new file at once must not both migrate it; the
        // second waits for the lock, then reads the version the first wrote.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = version(&tx)?;
        if current > supported {
            return Err(Error::NewerSchema {
                found: current,
                supported,
            });
        }
        let Some(sql) = MIGRATIONS.get(current as usize) else {
            return Ok(()); // up to date; the empty transaction rolls back on drop
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// The `steps` table keeps some figures in columns of their own (for queries by hand);
    /// each is named by its key in the table of figures, so a column means what the CSV's
    /// and the gates' figure of that name means.
    #[test]
    fn the_steps_figure_columns_are_rows_of_the_table_of_figures() {
        let steps = MIGRATIONS[0]
            .split("CREATE TABLE steps (")
            .nth(1)
            .and_then(|rest| rest.split(");").next())
            .expect("the steps table");
        let columns: Vec<&str> = steps
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| {
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
            .collect();
        let first = columns.iter().position(|c| *c == "level").unwrap() + 1;
        let last = columns
            .iter()
            .position(|c| *c == "client_saturated")
            .unwrap();
        assert!(last - first >= 14, "{columns:?}");
        for column in &columns[first..last] {
            assert!(
                wb_model::table::find(column).is_some(),
                "steps.{column} is not a figure of wb_model::table::TABLE"
            );
        }
    }
}
