//! The summary a person reads at the end of `workbench run` and in `workbench show`: one
//! table per workload, every step a row, flags spelled out; for `idle`, bytes per connection.

use wb_model::results::{IdleSlope, StepResult};
use wb_model::spec::{Mode, Workload};

use super::table::{Table, bytes, count, micros, rate, sig3};
use wb_reports::format::latency;

/// Renders the tables for `workloads` (in their order) from `steps`.
pub fn render(workloads: &[Workload], steps: &[StepResult]) -> String {
    // Repeats of a step are one row: the median, its interval from the repeats.
    let steps = &wb_model::spread::combined(steps)[..];
    let mut out = String::new();
    for workload in workloads {
        let rows: Vec<&StepResult> = steps
            .iter()
            .filter(|s| s.workload == workload.name)
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n{} ({}, levels in {})\n",
            workload.name,
            workload.mode,
            workload.level_unit()
        ));
        out.push_str(&workload_table(workload.mode, &rows).render(2));
        if workload.mode == Mode::Idle {
            out.push_str(&idle_slopes(&rows));
        }
        let notes = flag_notes(&rows);
        if !notes.is_empty() {
            out.push_str(&notes);
        }
    }
    out
}

fn workload_table(mode: Mode, rows: &[&StepResult]) -> Table {
    let latency_title = match mode {
        Mode::Open => ["p50 (corr.)", "p99 (corr.)", "p99 (uncorr.)"],
        Mode::SlowSenders => ["probe p50", "probe p99", "probe max"],
        Mode::SlowReaders => ["download p50", "download p99", "max"],
        _ => ["p50", "p99", "p99.9"],
    };
    let mut table = Table::new(&[
        "engine",
        "level",
        if mode == Mode::Idle { "held" } else { "req/s" },
        "answered/sent",
        latency_title[0],
        latency_title[1],
        latency_title[2],
        "errors",
        "cores",
        "client cores",
        "CPU/req",
        "ctx sw/s",
        "threads",
        "peak PSS",
        "flags",
    ]);
    for step in rows {
        let l = &step.load.latency;
        // A figure that censored requests reach reads "≥ X" (format::latency).
        let third = match mode {
            Mode::Open => step
                .load
                .latency_uncorrected
                .map_or("-".to_string(), |u| latency(&u, "p99")),
            Mode::SlowSenders | Mode::SlowReaders => latency(l, "max"),
            _ => latency(l, "p99.9"),
        };
        let d = &step.derived;
        let measured = step.failure.is_none() && l.count > 0;
        let lat = |name: &str| {
            if measured {
                latency(l, name)
            } else {
                "-".into()
            }
        };
        table.row(vec![
            step.engine.clone(),
            step.level.to_string(),
            if mode == Mode::Idle {
                count(step.load.connections as f64)
            } else {
                wb_reports::format::with_interval(
                    d.throughput_rps,
                    step.estimates.throughput_ci,
                    rate,
                )
            },
            if step.failure.is_none() {
                wb_reports::format::answered(&step.load)
            } else {
                "-".into()
            },
            lat("p50"),
            lat("p99"),
            if measured { third } else { "-".into() },
            step.load.errors.total().to_string(),
            sig3(d.engine_cores),
            sig3(d.client_cores),
            step.estimates
                .engine_us_per_request
                .map_or("-".into(), micros),
            rate(d.ctx_switches_per_sec),
            count(d.threads_max as f64),
            bytes(d.peak_pss_bytes as f64),
            flag_marks(step),
        ]);
    }
    table
}

/// Short marks for the flags column; [`flag_notes`] explains them under the table.
fn flag_marks(step: &StepResult) -> String {
    let mut marks = Vec::new();
    if step.failure.is_some() {
        marks.push("FAILED");
    }
    if step.flags.not_supported.is_some() {
        marks.push("not-supported");
    }
    if step.flags.level_not_reached.is_some() {
        marks.push("not-reached");
    }
    if step.flags.client_saturated {
        marks.push("client-saturated");
    }
    if step.flags.littles_law_off {
        marks.push("littles-law-off");
    }
    if wb_model::spread::window_outliers(step) > 0 {
        marks.push("outliers");
    }
    marks.join(",")
}

fn flag_notes(rows: &[&StepResult]) -> String {
    let mut out = String::new();
    for step in rows {
        if let Some(failure) = &step.failure {
            out.push_str(&format!(
                "  ! {} at {}: {failure}\n",
                step.engine, step.level
            ));
        }
        if let Some(why) = &step.flags.level_not_reached {
            out.push_str(&format!(
                "  ! {} at {}: level not reached: {why}\n",
                step.engine, step.level
            ));
        }
    }
    if let Some(why) = rows.iter().find_map(|s| s.flags.not_supported.as_ref()) {
        out.push_str(&format!(
            "  not-supported: {why} (not measured, not a failure)\n"
        ));
    }
    if rows.iter().any(|s| s.flags.client_saturated) {
        out.push_str(
            "  client-saturated: the load generator used over 0.9 of a core; it may be the bottleneck\n",
        );
    }
    if rows
        .iter()
        .any(|s| wb_model::spread::window_outliers(s) > 0)
    {
        out.push_str(
            "  outliers: some 200 ms windows were far from the rest (Tukey's fences); noted, not dropped\n",
        );
    }
    if rows
        .iter()
        .any(|s| s.load.censored > 0 && s.load.latency.censored_late > 0)
    {
        out.push_str(
            "  ≥ X: requests still unanswered when the step ended, and already slower than every answer, reach this figure: it is only a lower bound (answered/sent counts them as sent)\n",
        );
    }
    if rows.iter().any(|s| s.flags.littles_law_off) {
        out.push_str(
            "  littles-law-off: connections ≠ throughput × mean latency by over 20%: time went somewhere latency does not show\n",
        );
    }
    out
}

fn idle_slopes(rows: &[&StepResult]) -> String {
    let mut engines: Vec<&str> = Vec::new();
    for step in rows {
        if !engines.contains(&step.engine.as_str()) {
            engines.push(&step.engine);
        }
    }
    let mut table = Table::new(&[
        "engine",
        "per idle connection",
        "base memory",
        "kernel per connection",
    ]);
    for engine in engines {
        let steps: Vec<&StepResult> = rows
            .iter()
            .copied()
            .filter(|s| s.engine == engine)
            .collect();
        let fit = IdleSlope::fit(&steps);
        match (fit, wb_reports::claims::idle_slope_estimate(&steps)) {
            (Some(slope), Some((user, kernel))) => table.row(vec![
                engine.to_string(),
                wb_reports::format::estimate(&user, bytes),
                bytes(slope.base_bytes),
                wb_reports::format::estimate(&kernel, bytes),
            ]),
            (Some(slope), None) => table.row(vec![
                engine.to_string(),
                bytes(slope.bytes_per_connection),
                bytes(slope.base_bytes),
                bytes(slope.kernel_bytes_per_connection),
            ]),
            (None, _) => table.row(vec![engine.to_string(), "-".into(), "-".into(), "-".into()]),
        }
    }
    format!(
        "  bytes per idle connection: least-squares slope of PSS over open connections (kernel memory apart)\n{}",
        table.render(4)
    )
}

/// Every claim's verdict on this run, from the one judge (`wb_reports::claims`): what `workbench
/// show` and the end of `workbench run` print under the tables.
pub fn claims(run: &wb_reports::store::StoredRun) -> String {
    let mut out =
        String::from("\nclaims (judged with 95 % intervals; inconclusive when they overlap)\n");
    for (lesson, finding) in wb_reports::claims::judge_all(run) {
        out.push_str(&format!(
            "  {:<48} {}\n",
            lesson.title,
            finding.verdict.label()
        ));
        let line = match finding.verdict {
            wb_reports::claims::Verdict::Supported => finding.headline().map(str::to_string),
            _ => finding.reason.clone(),
        };
        if let Some(line) = line {
            out.push_str(&format!("      {line}\n"));
        }
    }
    out
}
