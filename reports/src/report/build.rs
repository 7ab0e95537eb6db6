//! What a report says, in order: the banner if the run did not end well, the summary
//! (headline figures and their lessons), each workload's charts and step table, the
//! comparison with other runs, the method, and the machine and configuration.

use workloads::results::{RunStatus, StepResult};
use workloads::runner::{CLIENT_SATURATED_CORES, LITTLES_LAW_TOLERANCE};
use workloads::spec::{Mode, Route, Workload};

use super::doc::{Banner, Block, Document, Inline, Section, Tone, slug};
use super::format;
use super::headlines::{self, Headline};
use super::{compare, method};
use crate::charts::{self, DataTable};
use crate::store::{StoredRun, utc_text};

/// The whole report of `run`, compared with `others` (none for a plain report).
pub(crate) fn document(run: &StoredRun, others: &[StoredRun]) -> Document {
    let mut sections = vec![summary(run), workloads(run)];
    if !others.is_empty() {
        sections.push(compare::section(run, others));
    }
    sections.push(method::section(run));
    sections.push(machine_and_configuration(run, others));
    Document {
        title: format!("Concurrency Workbench — run {}", run.summary.id),
        subtitle: subtitle(run),
        banner: banner(run),
        sections,
    }
}

/// Status, times and size of the run, in one line.
fn subtitle(run: &StoredRun) -> Inline {
    let s = &run.summary;
    let mut parts = vec![
        format!("Run {} {}", s.id, s.status.as_str()),
        format!("started {}", utc_text(s.started_at)),
    ];
    if let Some(end) = s.finished_at {
        parts.push(format!("took {}", format::duration(end - s.started_at)));
    }
    if let Some(suite) = &s.suite {
        parts.push(format!("{suite} suite"));
    }
    parts.push(format!(
        "{} engine(s) × {} workload(s)",
        run.config.engines.len(),
        run.config.workloads.len()
    ));
    parts.push(format!(
        "{} of {} steps recorded",
        run.steps.len(),
        run.config.total_steps()
    ));
    Inline::plain(parts.join(" · "))
}

/// What the reader must know first: the run did not complete, or some steps failed.
fn banner(run: &StoredRun) -> Option<Banner> {
    let s = &run.summary;
    let recorded = run.steps.len();
    let planned = run.config.total_steps();
    let why = s
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let missing = missing_steps(run);
    let missing_text = if missing.is_empty() {
        String::new()
    } else {
        format!(" Not measured: {}.", missing.join("; "))
    };
    let failed = run.steps.iter().filter(|s| s.failure.is_some()).count();
    let failed_text = if failed > 0 {
        format!(" {failed} recorded step(s) failed; the step tables say why.")
    } else {
        String::new()
    };
    let (tone, headline, opening) = match s.status {
        RunStatus::Interrupted => (
            Tone::Bad,
            "This run was interrupted.",
            format!("It stopped before the end{why}."),
        ),
        RunStatus::Failed => (
            Tone::Bad,
            "This run failed.",
            format!("It could not go on{why}."),
        ),
        RunStatus::Running => (
            Tone::Warn,
            "This run had not finished when this report was made.",
            "It may still be running.".to_string(),
        ),
        RunStatus::Completed if failed > 0 => (
            Tone::Warn,
            "Some steps failed.",
            format!("The run completed{why}."),
        ),
        RunStatus::Completed => return None,
    };
    let text = if s.status == RunStatus::Completed {
        format!("{opening}{failed_text}")
    } else {
        format!(
            "{opening} It recorded {recorded} of its {planned} planned steps, and this report \
             shows what finished.{failed_text}{missing_text}"
        )
    };
    Some(Banner {
        tone,
        headline: headline.to_string(),
        text: Inline::plain(text),
    })
}

/// The planned steps the run has no record of, grouped: `idle on threads (levels 0, 500)`.
fn missing_steps(run: &StoredRun) -> Vec<String> {
    let mut out = Vec::new();
    for workload in &run.config.workloads {
        for engine in &run.config.engines {
            let missing: Vec<u64> = workload
                .levels
                .iter()
                .copied()
                .filter(|&level| {
                    !run.steps.iter().any(|s| {
                        s.engine == engine.label && s.workload == workload.name && s.level == level
                    })
                })
                .collect();
            if missing.is_empty() {
                continue;
            }
            let which = if missing.len() == workload.levels.len() {
                "every level".to_string()
            } else if missing.len() == 1 {
                format!("level {}", missing[0])
            } else {
                format!("levels {}", format::levels(&missing))
            };
            out.push(format!("{} on {} ({which})", workload.name, engine.label));
        }
    }
    out
}

/// The summary: what ran, each engine's headline figure per workload, and the lessons.
fn summary(run: &StoredRun) -> Section {
    let mut section = Section::new("summary", "Summary");
    let m = &run.summary.machine;
    section.blocks.push(Block::Para(Inline::plain(format!(
        "{} measured {} on {} workload(s) — {} — on {} ({} cores, {} of memory, Linux {}). \
         Every engine served the same requests from one protocol core, each as its own process, \
         with the load generator beside it on the same machine.",
        match &run.summary.suite {
            Some(suite) => format!("Run {} (the {suite} suite)", run.summary.id),
            None => format!("Run {}", run.summary.id),
        },
        engine_list(run),
        run.config.workloads.len(),
        run.config
            .workloads
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        or_unknown(&m.cpu_model),
        m.cores,
        format::bytes(m.memory_bytes as f64),
        or_unknown(&m.kernel),
    ))));
    let all = headlines::headlines(run);
    if all.is_empty() {
        section.blocks.push(Block::Para(Inline::plain(
            "No engine recorded a step: there is nothing to summarise.",
        )));
        return section;
    }
    section.blocks.push(Block::Table(overview(run, &all)));
    section.blocks.push(Block::Minor("Claims".into()));
    section.blocks.push(Block::Para(Inline::marked(
        "Each claim of the debate is judged by one judge (the same as the dashboard's lessons \
         and `workbench show`): **supported** or **not supported** only when the figures' 95 % \
         intervals clear the threshold; **inconclusive** when they do not, or when a key \
         engine is missing (it says which); **no data** with the command that would get it.",
    )));
    section.blocks.push(Block::List(
        crate::claims::judge_all(run)
            .into_iter()
            .map(|(lesson, f)| claim_item(lesson, &f))
            .collect(),
    ));
    section.blocks.push(Block::Minor("Figures".into()));
    section.blocks.push(Block::Para(Inline::marked(
        "Each engine's headline figure per workload, with what its model predicts; the claims \
         above are judged from them.",
    )));
    for engine in headlines::engines(run) {
        let items: Vec<Inline> = all
            .iter()
            .filter(|h| h.engine == engine)
            .map(finding)
            .collect();
        if items.is_empty() {
            continue;
        }
        section.blocks.push(Block::Minor(engine));
        section.blocks.push(Block::List(items));
    }
    section
}

/// The headline figures as a table: one row per engine, one column per workload.
fn overview(run: &StoredRun, all: &[Headline]) -> DataTable {
    let mut columns = vec!["engine".to_string()];
    columns.extend(
        run.config
            .workloads
            .iter()
            .map(|w| format!("{}: {}", w.name, headlines::Kind::of(w).figure_name())),
    );
    let rows = headlines::engines(run)
        .into_iter()
        .map(|engine| {
            let mut row = vec![engine.clone()];
            for w in &run.config.workloads {
                row.push(
                    all.iter()
                        .find(|h| h.engine == engine && h.workload == w.name)
                        .map(|h| h.cell.clone())
                        .unwrap_or_else(|| "—".into()),
                );
            }
            row
        })
        .collect();
    DataTable {
        caption: "Headline figures: one per engine and workload; the findings below say what \
                  each one shows."
            .into(),
        columns,
        rows,
        notes: Vec::new(),
    }
}

/// One claim as a list item: title, verdict, the sentence that sums it up, and why.
fn claim_item(lesson: &crate::claims::Lesson, f: &crate::claims::Finding) -> Inline {
    use crate::claims::Verdict as V;
    let tone = match f.verdict {
        V::Supported => Tone::Good,
        V::NotSupported => Tone::Bad,
        V::Inconclusive | V::NoData => Tone::Warn,
    };
    let mut item = Inline::default()
        .strong(format!("{}.", lesson.title))
        .text(" ")
        .tag(f.verdict.label(), tone)
        .text(" ");
    if let Some(headline) = f.headline() {
        item = item.text(format!("{headline} "));
    }
    match &f.reason {
        Some(reason) => item.text(reason.clone()),
        None => item,
    }
}

/// One headline as a list item: workload, figure, whether it was measured, what the model
/// predicts and the evidence. No verdict: the claims above give those, from one judge.
fn finding(h: &Headline) -> Inline {
    let (label, tone) = if h.measured() {
        ("measured", Tone::Info)
    } else {
        ("no data", Tone::Warn)
    };
    let mut item = Inline::default()
        .strong(format!("{}: {}.", h.workload, h.figure))
        .text(" ")
        .tag(label, tone)
        .text(" ");
    if !h.claim.is_empty() {
        item = item.text(format!("The model predicts: {} ", h.claim));
    }
    item.text(h.evidence.clone())
}

/// A section per workload, in the run's order: description, charts, step table.
fn workloads(run: &StoredRun) -> Section {
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
    ];
    columns.extend(lat.iter().map(|c| format!("{c} latency")));
    columns.extend(
        [
            "errors",
            "engine cores",
            "client cores",
            "context switches",
            "threads",
            "peak PSS",
            "peak RSS",
            "flags",
        ]
        .map(String::from),
    );
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

fn step_row(step: &StepResult, mode: Mode) -> Vec<String> {
    let d = &step.derived;
    let l = &step.load.latency;
    let measured = step.failure.is_none() && step.flags.not_supported.is_none();
    let lat = |us: u64| {
        if measured && l.count > 0 {
            format::micros(us as f64)
        } else {
            "—".to_string()
        }
    };
    let third_latency = match mode {
        Mode::Open => step
            .load
            .latency_uncorrected
            .filter(|_| measured)
            .map_or("—".to_string(), |u| format::micros(u.p99_us as f64)),
        Mode::SlowSenders | Mode::SlowReaders => lat(l.max_us),
        _ => lat(l.p999_us),
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
    vec![
        step.engine.clone(),
        step.level.to_string(),
        if !measured {
            dash()
        } else if mode == Mode::Idle {
            format::count(step.load.connections as f64)
        } else {
            format::rps(d.throughput_rps)
        },
        lat(l.p50_us),
        lat(l.p99_us),
        third_latency,
        if measured { errors } else { dash() },
        if measured {
            format::sig3(d.engine_cores)
        } else {
            dash()
        },
        if measured {
            format::sig3(d.client_cores)
        } else {
            dash()
        },
        if measured {
            format!("{}/s", format::per_sec(d.ctx_switches_per_sec))
        } else {
            dash()
        },
        if measured {
            format::count(d.threads_max as f64)
        } else {
            dash()
        },
        if measured {
            format::bytes(d.peak_pss_bytes as f64)
        } else {
            dash()
        },
        if measured {
            format::bytes(d.peak_rss_bytes as f64)
        } else {
            dash()
        },
        flags_text(step),
    ]
}

/// A step's flags in words, `;`-separated; empty when it has none.
pub(crate) fn flags_text(step: &StepResult) -> String {
    let f = &step.flags;
    let mut out = Vec::new();
    if let Some(why) = &step.failure {
        out.push(format!("failed: {why}"));
    }
    if let Some(why) = &f.not_supported {
        out.push(format!("not supported: {why}"));
    }
    if let Some(why) = f
        .level_not_reached
        .as_ref()
        .or(step.load.not_reached.as_ref())
    {
        out.push(format!("level not reached: {why}"));
    }
    if f.client_saturated {
        out.push(format!(
            "client saturated ({:.2} cores)",
            step.derived.client_cores
        ));
    }
    if f.littles_law_off {
        let predicted = step.derived.throughput_rps * step.load.latency.mean_us / 1e6;
        out.push(format!(
            "Little's law off (throughput × mean latency = {predicted:.1}, not {})",
            step.level
        ));
    }
    out.join("; ")
}

/// A row of the machine table: its name, and how to read it from a run.
type Fact = (&'static str, fn(&StoredRun) -> String);

/// Machine facts (side by side with the compared runs') and the run's configuration.
fn machine_and_configuration(run: &StoredRun, others: &[StoredRun]) -> Section {
    let mut section = Section::new("machine", "Machine and configuration");
    let runs: Vec<&StoredRun> = std::iter::once(run).chain(others).collect();
    let mut columns = vec!["fact".to_string()];
    columns.extend(runs.iter().map(|r| format!("run {}", r.summary.id)));
    let facts: [Fact; 11] = [
        ("CPU", |r| or_unknown(&r.summary.machine.cpu_model)),
        ("cores available", |r| r.summary.machine.cores.to_string()),
        ("memory", |r| {
            format::bytes(r.summary.machine.memory_bytes as f64)
        }),
        ("Linux kernel", |r| or_unknown(&r.summary.machine.kernel)),
        ("open-files limit (hard)", |r| {
            r.summary.machine.open_files_limit.to_string()
        }),
        ("rustc", |r| or_unknown(&r.summary.machine.rustc)),
        ("git revision", |r| {
            or_unknown(&r.summary.machine.git_revision)
        }),
        ("calibration", |r| {
            format!(
                "{:.2} SHA-256 rounds per µs ({} rounds in {:.0} ms)",
                r.calibration.rounds_per_us,
                r.calibration.rounds_timed,
                r.calibration.secs * 1000.0
            )
        }),
        ("pinned", |r| {
            if r.config.pin {
                "yes: engine on CPU 0, load generator on CPU 1".into()
            } else {
                "no".into()
            }
        }),
        ("started", |r| utc_text(r.summary.started_at)),
        ("status", |r| match &r.summary.message {
            Some(m) => format!("{}: {m}", r.summary.status.as_str()),
            None => r.summary.status.as_str().to_string(),
        }),
    ];
    let rows = facts
        .iter()
        .map(|(name, get)| {
            let mut row = vec![name.to_string()];
            row.extend(runs.iter().map(|r| get(r)));
            row
        })
        .collect();
    section.blocks.push(Block::Table(DataTable {
        caption: if others.is_empty() {
            "The machine the run ran on, and how the binary was built.".into()
        } else {
            "The machines the runs ran on, side by side: figures from different machines or \
             builds compare the machines as much as the engines."
                .into()
        },
        columns,
        rows,
        notes: Vec::new(),
    }));

    section.blocks.push(Block::Table(DataTable {
        caption: format!(
            "Engines of run {}: each started as its own process with this command.",
            run.summary.id
        ),
        columns: ["engine", "command", "kind"].map(String::from).to_vec(),
        rows: run
            .config
            .engines
            .iter()
            .map(|e| {
                vec![
                    e.label.clone(),
                    if e.peer {
                        format!("peer {}", e.engine)
                    } else {
                        format!("workbench engine {} {}", e.engine, e.args.join(" "))
                            .trim_end()
                            .to_string()
                    },
                    if e.peer {
                        "peer (a server we did not write)".into()
                    } else {
                        "built-in engine".into()
                    },
                ]
            })
            .collect(),
        notes: run
            .config
            .peer_versions
            .iter()
            .map(|(name, version)| format!("{name}: {version}"))
            .collect(),
    }));

    section.blocks.push(Block::Table(DataTable {
        caption: format!(
            "Workloads of run {}{}, with the levels it used.",
            run.summary.id,
            run.config
                .suite
                .as_ref()
                .map(|s| format!(" (the {s} suite)"))
                .unwrap_or_default()
        ),
        columns: [
            "workload",
            "mode",
            "levels",
            "request",
            "measured per level",
            "warm-up",
        ]
        .map(String::from)
        .to_vec(),
        rows: run
            .config
            .workloads
            .iter()
            .map(|w| {
                vec![
                    w.name.clone(),
                    w.mode.to_string(),
                    format!("{} {}", format::levels(&w.levels), w.level_unit()),
                    format!("GET {}", w.request.target(run.calibration.rounds_per_us)),
                    format!("{} s", w.step_secs),
                    format!("{} s", w.warmup_secs),
                ]
            })
            .collect(),
        notes: Vec::new(),
    }));
    section
}

fn engine_list(run: &StoredRun) -> String {
    let labels = headlines::engines(run);
    match labels.len() {
        0 => "no engine".into(),
        1 => format!("1 engine ({})", labels[0]),
        n => format!("{n} engines ({})", labels.join(", ")),
    }
}

fn or_unknown(text: &str) -> String {
    if text.trim().is_empty() {
        "unknown".into()
    } else {
        text.to_string()
    }
}
