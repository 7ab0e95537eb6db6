//! A workload's section of the report: what it asks, its charts, and the table of every step
//! with its flags spelled out.

use wb_model::figures::{CLIENT_SATURATED_CORES, LITTLES_LAW_TOLERANCE};
use wb_model::results::StepResult;
use wb_model::spec::{Mode, Route, Workload};
use wb_model::table;

use super::doc::{Block, Inline, Section, slug};
use super::format;
use super::headlines;
use crate::charts::{self, DataTable, flags_text};
use crate::store::StoredRun;

/// A section per workload, in the run's order: description, charts, step table.
pub(super) fn workloads(run: &StoredRun) -> Section {
    let mut section = Section::new("workloads", "Workloads");
    section.blocks.push(Block::Para(Inline::marked(
        "For each workload: what it shows, its charts (one colour per engine on every chart; a \
         hollow marker with `!` is a flagged step, a `×` a failed one), and every step as a row, \
         with its flags spelled out.",
    )));
    for workload in &run.config.workloads {
        section.children.push(workload_section(run, workload));
    }
    section
}

fn workload_section(run: &StoredRun, workload: &Workload) -> Section {
    let mut section = Section::new(
        format!("workload-{}", slug(&workload.name)),
        workload.name.clone(),
    );
    section
        .blocks
        .push(Block::Para(Inline::plain(workload.description.clone())));
    section
        .blocks
        .push(Block::Para(workload_facts(run, workload)));
    let steps: Vec<&StepResult> = run
        .steps
        .iter()
        .filter(|s| s.workload == workload.name)
        .collect();
    if steps.is_empty() {
        section.blocks.push(Block::Para(Inline::plain(
            "Not measured: the run has no step of this workload, so its charts are empty.",
        )));
    }
    for chart in charts::charts_for_workload(&run.steps, workload) {
        section.blocks.push(Block::Chart(chart));
    }
    if !steps.is_empty() {
        section
            .blocks
            .push(Block::Minor(format!("{}: every step", workload.name)));
        section.blocks.push(Block::Table(step_table(run, workload)));
    }
    section
}

/// Mode, levels, request and timing of a workload, in a line.
fn workload_facts(run: &StoredRun, workload: &Workload) -> Inline {
    let mode = match workload.mode {
        Mode::Closed => "closed loop",
        Mode::Open => "open loop (constant arrival rate)",
        Mode::Idle => "idle connections",
        Mode::SlowReaders => "slow readers",
        Mode::SlowSenders => "slow senders",
    };
    let mut out = Inline::default()
        .strong("Mode: ")
        .text(format!("{mode}. "))
        .strong("Levels: ")
        .text(format!(
            "{} {}. ",
            format::levels(&workload.levels),
            workload.level_unit()
        ))
        .strong("Request: ")
        .code(format!(
            "GET {}",
            workload.request.target(run.calibration.rounds_per_us)
        ));
    if workload.request.route == Route::Work && workload.request.cpu_us > 0 {
        out = out.text(format!(
            " ({} µs of CPU, turned into rounds by this run's calibration)",
            workload.request.cpu_us
        ));
    }
    out = out.text(". ").strong("Timing: ").text(format!(
        "{} s measured per level after {} s of warm-up.",
        workload.step_secs, workload.warmup_secs
    ));
    if let Some(rate) = workload.read_rate {
        out = out.text(format!(
            " Each client reads {}/s.",
            format::bytes(rate as f64)
        ));
    }
    if let Some(ms) = workload.send_interval_ms {
        out = out.text(format!(" A slow client sends a byte every {ms} ms."));
    }
    if workload.mode == Mode::Open {
        out = out.text(format!(
            " At most {} connections.",
            workload.max_connections()
        ));
    }
    out
}

/// Every step of a workload as a row, flags in words; notes explain the flags that occur.
pub(crate) fn step_table(run: &StoredRun, workload: &Workload) -> DataTable {
    let mode = workload.mode;
    let (third, lat): (&str, [&str; 3]) = match mode {
        Mode::Idle => ("connections held", ["p50", "p99", "p99.9"]),
        Mode::Open => (
            "throughput",
            ["p50 (corrected)", "p99 (corrected)", "p99 (uncorrected)"],
        ),
        Mode::SlowSenders => ("throughput", ["probe p50", "probe p99", "probe max"]),
        Mode::SlowReaders => ("throughput", ["download p50", "download p99", "max"]),
        Mode::Closed => ("throughput", ["p50", "p99", "p99.9"]),
    };
    let mut columns = vec![
        "engine".to_string(),
        format!("level ({})", workload.level_unit()),
        third.to_string(),
        "answered / sent".to_string(),
    ];
    columns.extend(lat.iter().map(|c| format!("{c} latency")));
    columns.push("errors".to_string());
    columns.extend(
        FIGURE_COLUMNS
            .iter()
            .map(|key| table::row(key).label.to_string()),
    );
    columns.push("flags".to_string());
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for engine in headlines::engines(run) {
        let mut steps: Vec<&StepResult> = run
            .steps
            .iter()
            .filter(|s| s.engine == engine && s.workload == workload.name)
            .collect();
        steps.sort_by_key(|s| s.level);
        for step in steps {
            rows.push(step_row(step, mode));
            if let Some(why) = &step.failure {
                notes.push(format!("{engine} at {}: failed: {why}", step.level));
            }
        }
    }
    let steps = || run.steps.iter().filter(|s| s.workload == workload.name);
    if steps().any(|s| s.flags.client_saturated) {
        notes.push(format!(
            "client saturated: the load generator used over {CLIENT_SATURATED_CORES} of a core; \
             it, not the engine, may have been the bottleneck."
        ));
    }
    if steps().any(|s| s.load.latency.censored_late > 0) {
        notes.push(
            "≥: requests still unanswered when the step ended count as sent; those that had \
             already waited longer than every answer reach the figures marked ≥, which are then \
             lower bounds (what they had waited by the end), not latencies served."
                .into(),
        );
    }
    if steps().any(|s| s.flags.littles_law_off) {
        notes.push(format!(
            "Little's law off: in a closed loop, connections should equal throughput × mean \
             latency; they differed by over {:.0}%, so time went somewhere the latency does not \
             show (connecting, or the client itself).",
            LITTLES_LAW_TOLERANCE * 100.0
        ));
    }
    if steps().any(|s| s.flags.level_not_reached.is_some() || s.load.not_reached.is_some()) {
        notes.push(
            "level not reached: the load generator could not open or keep that many connections \
             (or requests); the figures are for what it did reach."
                .into(),
        );
    }
    if steps().any(|s| s.flags.not_supported.is_some()) {
        notes.push(
            "not supported: a server we did not write cannot serve this workload; not measured, \
             and not a failure."
                .into(),
        );
    }
    DataTable {
        caption: format!(
            "{}: every step, by engine and level. Latency is {}; cores are CPU time over wall \
             time (1.0 = one core busy); memory is the largest reading of the engine's process \
             tree in the window.",
            workload.name,
            match mode {
                Mode::Open =>
                    "from each request's intended send time (corrected), the naive \
                               figure beside it",
                Mode::Closed => "from send to answer (closed loop)",
                Mode::Idle => "of each connection's one request",
                Mode::SlowSenders => "of the probe's /hello requests",
                Mode::SlowReaders => "of a whole download",
            }
        ),
        columns,
        rows,
        notes,
    }
}

/// The step table's columns after the errors: rows of the table of figures, by key, each
/// headed by its label and printed with its unit's formatter.
const FIGURE_COLUMNS: [&str; 6] = [
    "engine_cores",
    "client_cores",
    "ctx_switches_per_sec",
    "threads_max",
    "peak_pss_bytes",
    "peak_rss_bytes",
];

fn step_row(step: &StepResult, mode: Mode) -> Vec<String> {
    let d = &step.derived;
    let l = &step.load.latency;
    let measured = step.failure.is_none() && step.flags.not_supported.is_none();
    // "≥ X" when censored requests reach the figure (format::latency).
    let lat = |name: &str| {
        if measured && l.count > 0 {
            format::latency(l, name)
        } else {
            "—".to_string()
        }
    };
    let third_latency = match mode {
        Mode::Open => step
            .load
            .latency_uncorrected
            .filter(|_| measured)
            .map_or("—".to_string(), |u| format::latency(&u, "p99")),
        Mode::SlowSenders | Mode::SlowReaders => lat("max"),
        _ => lat("p99.9"),
    };
    let dash = || "—".to_string();
    let e = &step.load.errors;
    let errors = if e.total() == 0 {
        "0".to_string()
    } else {
        let kinds: Vec<String> = [
            (e.connect, "connect"),
            (e.timeout, "timeout"),
            (e.reset, "reset"),
            (e.bad_response, "bad answer"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        format!("{} ({})", e.total(), kinds.join(", "))
    };
    let mut row = vec![
        step.engine.clone(),
        step.level.to_string(),
        if !measured {
            dash()
        } else if mode == Mode::Idle {
            format::count(step.load.connections as f64)
        } else {
            format::rps(d.throughput_rps)
        },
        if measured {
            format::answered(&step.load)
        } else {
            dash()
        },
        lat("p50"),
        lat("p99"),
        third_latency,
        if measured { errors } else { dash() },
    ];
    row.extend(FIGURE_COLUMNS.iter().map(|key| {
        let figure = table::row(key);
        figure
            .of(step)
            .filter(|_| measured)
            .map_or_else(dash, |v| format::figure_bare(figure.unit, v))
    }));
    row.push(flags_text(step));
    row
}
