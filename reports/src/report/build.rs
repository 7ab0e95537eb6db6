//! What a report says, in order: the banner if the run did not end well, the summary
//! (headline figures and their lessons), each workload's charts and step table, the
//! comparison with other runs, the method, and the machine and configuration.

use wb_model::results::RunStatus;

use super::doc::{Banner, Block, Document, Inline, Section, Tone};
use super::format;
use super::headlines::{self, Headline};
use super::steps::workloads;
use super::{compare, method};
use crate::charts::DataTable;
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

/// Machine facts (side by side with the compared runs') and the run's configuration.
/// A row of the machine table: its name, and how to read it from a run.
type Fact = (&'static str, fn(&StoredRun) -> String);

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
                "yes: engine on CPU 0, load generator on the upper half of the CPUs".into()
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
