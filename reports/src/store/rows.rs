//! Between rows and types: summaries and samples read from rows, JSON columns, finite
//! figures, and UTC timestamps as text.

use super::*;

/// A summary row as stored, before its JSON columns are parsed.
pub(super) struct RawSummary {
    id: i64,
    status: String,
    started_at: i64,
    finished_at: Option<i64>,
    suite: Option<String>,
    engines: String,
    workloads: String,
    message: Option<String>,
    machine: String,
    steps: u64,
}

impl RawSummary {
    /// Reads the [`SUMMARY_COLUMNS`] at the start of `row`.
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<RawSummary> {
        Ok(RawSummary {
            id: row.get(0)?,
            status: row.get(1)?,
            started_at: row.get(2)?,
            finished_at: row.get(3)?,
            suite: row.get(4)?,
            engines: row.get(5)?,
            workloads: row.get(6)?,
            message: row.get(7)?,
            machine: row.get(8)?,
            steps: row.get(9)?,
        })
    }

    pub(super) fn parse(self) -> Result<RunSummary> {
        let id = RunId(self.id);
        Ok(RunSummary {
            id,
            status: RunStatus::parse(&self.status)
                .ok_or_else(|| Error::Corrupt(format!("run {id} has status {:?}", self.status)))?,
            started_at: self.started_at,
            finished_at: self.finished_at,
            suite: self.suite,
            engines: from_json(&format!("run {id}'s engines"), &self.engines)?,
            workloads: from_json(&format!("run {id}'s workloads"), &self.workloads)?,
            steps: self.steps,
            message: self.message,
            machine: from_json(&format!("run {id}'s machine facts"), &self.machine)?,
        })
    }
}

/// Reads the [`SAMPLE_COLUMNS`] that follow the first column of `row`.
pub(super) fn read_sample(row: &Row<'_>) -> rusqlite::Result<Sample> {
    Ok(Sample {
        at_ms: row.get(1)?,
        rss_bytes: row.get(2)?,
        pss_bytes: row.get(3)?,
        uss_bytes: row.get(4)?,
        processes: row.get(5)?,
        threads: row.get(6)?,
        cpu_user_secs: row.get(7)?,
        cpu_system_secs: row.get(8)?,
        ctx_voluntary: row.get(9)?,
        ctx_involuntary: row.get(10)?,
        open_fds: row.get(11)?,
        tcp_inuse: row.get(12)?,
        tcp_mem_bytes: row.get(13)?,
        kernel_stack_bytes: row.get(14)?,
        slab_unreclaim_bytes: row.get(15)?,
        client_cpu_secs: row.get(16)?,
        vsz_bytes: row.get(17)?,
    })
}

pub(super) fn run_status(tx: &Transaction<'_>, run: RunId) -> Result<Option<RunStatus>> {
    let status: Option<String> = tx
        .query_row("SELECT status FROM runs WHERE id = ?1", [run.0], |row| {
            row.get(0)
        })
        .optional()?;
    status
        .map(|s| {
            RunStatus::parse(&s)
                .ok_or_else(|| Error::Corrupt(format!("run {run} has status {s:?}")))
        })
        .transpose()
}

/// Refuses a step with a NaN or infinite figure. JSON writes such a number as `null`, which
/// does not read back as a number, and SQLite stores NaN as NULL: the step would be kept but
/// its whole run could no longer be read. Better the runner learns now, with the field named.
pub(super) fn check_finite(step: &StepResult) -> Result<()> {
    let load = &step.load;
    let d = &step.derived;
    let mut figures: Vec<(&'static str, f64)> = vec![
        ("load.elapsed_secs", load.elapsed_secs),
        ("load.latency.mean_us", load.latency.mean_us),
        ("derived.throughput_rps", d.throughput_rps),
        ("derived.engine_cores", d.engine_cores),
        ("derived.client_cores", d.client_cores),
        ("derived.ctx_switches_per_sec", d.ctx_switches_per_sec),
    ];
    if let Some(l) = &load.latency_uncorrected {
        figures.push(("load.latency_uncorrected.mean_us", l.mean_us));
    }
    for s in &step.samples {
        figures.push(("samples[].cpu_user_secs", s.cpu_user_secs));
        figures.push(("samples[].cpu_system_secs", s.cpu_system_secs));
        figures.push(("samples[].client_cpu_secs", s.client_cpu_secs));
    }
    match figures.into_iter().find(|(_, value)| !value.is_finite()) {
        Some((field, value)) => Err(Error::NotFinite {
            step: format!("{}/{}/{}", step.engine, step.workload, step.level),
            field,
            value,
        }),
        None => Ok(()),
    }
}

pub(super) fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

pub(super) fn from_json<T: for<'de> Deserialize<'de>>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

/// Now, in unix seconds.
pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Formats unix seconds as RFC 3339 UTC text: `2025-03-01T14:05:09Z`.
///
/// The store keeps times as numbers; this is for the presenters, without a date crate.
pub fn utc_text(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date: Howard Hinnant's `civil_from_days`, which
    // counts in 400-year eras starting on March 1st so that leap days fall at the end.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year, from March 1st
    let mp = (5 * doy + 2) / 153; // month, March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
