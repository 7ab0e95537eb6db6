//! Reports rendered from a real store on disk, filled with made-up runs: a completed run of
//! four engines and a peer over closed, idle and open workloads, a second one to compare it
//! with, and an interrupted one.
//!
//! Both formats must hold every chart of every workload; the HTML must parse without a
//! single error (html5ever, the parser of Servo, through `scraper`) and reference nothing
//! outside itself; the Markdown must link only files that exist.
//!
//! Set `REPORT_SAMPLES_DIR=/some/dir` to also write the reports of these tests there, to
//! look at them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use scraper::{Html, Selector};
use wb_model::results::{
    Calibration, Derived, EngineSpec, Latency, LoadReport, MachineFacts, RunConfig, RunStatus,
    Sample, StepResult,
};
use wb_model::spec::{Mode, Workload};
use wb_reports::charts;
use wb_reports::report::headlines::{self, Kind};
use wb_reports::report::{self, Format, compare};
use wb_reports::store::{RunId, Store, StoredRun};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// A preset with its levels cut down, as a suite would.
fn preset(name: &str, levels: &[u64]) -> Workload {
    let mut w = Workload::load(name).expect("a built-in preset");
    w.levels = levels.to_vec();
    w.step_secs = 1.0;
    w
}

fn workloads() -> Vec<Workload> {
    vec![
        preset("hello", &[1, 16, 64]),
        preset("db-wait", &[1, 10, 100]),
        preset("cpu", &[1, 2, 4]),
        preset("idle", &[0, 500, 1000, 2000]),
        preset("rate", &[500, 2000, 10_000]),
        preset("slowloris", &[0, 10, 100]),
    ]
}

fn engines() -> Vec<EngineSpec> {
    let mut engines: Vec<EngineSpec> = ["threads", "pool", "selector", "coroutines"]
        .into_iter()
        .map(EngineSpec::plain)
        .collect();
    engines.push(EngineSpec::peer("nginx"));
    engines
}

fn machine() -> MachineFacts {
    MachineFacts {
        cpu_model: "Made-up CPU @ 3.0GHz".into(),
        cores: 4,
        memory_bytes: 8 * 1024 * MIB,
        kernel: "6.1.0-test".into(),
        open_files_limit: 20_000,
        rustc: "rustc 1.95.0 (test)".into(),
        git_revision: "0123456789ab".into(),
        hostname: "fixture".into(),
        max_map_count: 65530,
        hosts: Vec::new(),
    }
}

fn calibration() -> Calibration {
    Calibration {
        rounds_per_us: 2.5,
        rounds_timed: 500_000,
        secs: 0.2,
    }
}

/// A step whose figures follow each model's story; `speed` scales throughput (a second run
/// that is 10% faster has 1.1).
fn step(engine: &str, w: &Workload, level: u64, speed: f64) -> StepResult {
    let workers = 5u64;
    let single = engine == "selector";
    let (rps, cores, connections): (f64, f64, u64) = match w.name.as_str() {
        "hello" => {
            let ceiling = match engine {
                "threads" => 60_000.0,
                "pool" => 40_000.0,
                "selector" => 90_000.0,
                _ => 120_000.0,
            };
            let rps = (20_000.0 * level as f64).min(ceiling);
            (rps, rps / 80_000.0, level)
        }
        "db-wait" => {
            let overlapped = if engine == "pool" {
                level.min(workers)
            } else {
                level
            };
            (overlapped as f64 * 97.0, 0.05, level)
        }
        "cpu" => {
            let cores = if single {
                0.98
            } else {
                (level as f64).min(2.0) * 0.95
            };
            (cores * 2000.0, cores, level)
        }
        "idle" => (0.0, 0.01, level),
        "rate" => {
            let cap = if engine == "pool" { 1_500.0 } else { 8_000.0 };
            ((level as f64).min(cap), 0.3, level.min(2000) / 10)
        }
        // The probe's /hello answers while `level` slow clients hold connections.
        "slowloris" => (1000.0, 0.1, level),
        other => panic!("no figures for {other}"),
    };
    let rps = rps * speed;
    let mean_us = if rps > 0.0 && w.mode == Mode::Closed {
        level as f64 / rps * 1e6
    } else {
        900.0
    };
    // A prefork pool's workers are all held by slow clients: the probe waits.
    let mean_us = if w.name == "slowloris" && engine == "pool" && level >= workers {
        500_000.0
    } else {
        mean_us
    };
    let behind = w.mode == Mode::Open && rps < 0.95 * level as f64;
    let p99 = if behind {
        850_000
    } else {
        (mean_us * 3.0) as u64
    };
    let latency = Latency {
        count: (rps * 1.0) as u64 + 1,
        mean_us,
        p50_us: mean_us as u64,
        p90_us: (mean_us * 2.0) as u64,
        p99_us: p99,
        p999_us: p99 * 2,
        max_us: p99 * 4,
        censored: 0,
        censored_late: 0,
        late_requests: 0,
    };
    let per_connection = match engine {
        "threads" => 20 * KIB,
        "pool" => 0,
        "selector" => 300,
        "coroutines" => 1200,
        _ => 500,
    };
    let base = if engine == "pool" { 12 * MIB } else { 2 * MIB };
    let pss = base + per_connection * connections;
    let threads = match engine {
        "threads" => connections + 1,
        "pool" => 6,
        "coroutines" => 5,
        _ => 1,
    };
    let processes = if engine == "pool" { workers + 1 } else { 1 };
    let sample = |at_ms: u64, cpu: f64| Sample {
        at_ms,
        pss_bytes: pss,
        rss_bytes: pss + MIB,
        uss_bytes: pss / 2,
        processes,
        threads,
        cpu_user_secs: cpu,
        tcp_inuse: connections,
        tcp_mem_bytes: 4096 * connections,
        ..Sample::default()
    };
    let client_cores = (rps / 100_000.0).min(0.95);
    StepResult {
        engine: engine.into(),
        workload: w.name.clone(),
        mode: w.mode,
        level,
        load: LoadReport {
            elapsed_secs: 1.0,
            completed: rps as u64,
            latency,
            latency_uncorrected: (w.mode == Mode::Open).then_some(Latency {
                p99_us: 1_800,
                ..latency
            }),
            connections,
            ..LoadReport::default()
        },
        samples: vec![sample(0, 0.0), sample(1000, cores)],
        derived: Derived {
            throughput_rps: rps,
            peak_pss_bytes: pss,
            mean_pss_bytes: pss,
            peak_rss_bytes: pss + MIB,
            mean_rss_bytes: pss + MIB,
            peak_vsz_bytes: 0,
            engine_cores: cores,
            client_cores,
            ctx_switches_per_sec: rps / 3.0,
            threads_max: threads,
            tcp_mem_bytes: 4096 * connections,
            slab_unreclaim_bytes: 30 * MIB + 1500 * connections,
            kernel_stack_bytes: 8 * MIB,
            counter_growth: None,
            database_cores: None,
            database_peak_pss_bytes: None,
        },
        flags: wb_model::results::Flags {
            client_saturated: client_cores > 0.9,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// nginx has no `/work`: its steps of those workloads are "not supported".
fn peer_step(w: &Workload, level: u64, speed: f64) -> StepResult {
    let mut s = step("nginx", w, level, speed);
    if w.request.route == wb_model::spec::Route::Work {
        s.flags.not_supported = Some("nginx serves /hello only".into());
        s.derived = Derived::default();
        s.samples.clear();
    }
    s
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    completed: RunId,
    before: RunId,
    interrupted: RunId,
}

fn config(engines: Vec<EngineSpec>, workloads: Vec<Workload>) -> RunConfig {
    RunConfig {
        suite: Some("quick".into()),
        engines,
        workloads,
        pin: false,
        peer_versions: BTreeMap::from([("nginx".to_string(), "nginx/1.24.0".to_string())]),
        repeat: 1,
        placement: None,
    }
}

/// Records a whole run of every engine and workload; `edit` may change a step.
fn record_run(store: &mut Store, speed: f64, edit: impl Fn(&mut StepResult)) -> RunId {
    let config = config(engines(), workloads());
    let run = store
        .begin_run(&config, &machine(), &calibration())
        .unwrap();
    for spec in &config.engines {
        for w in &config.workloads {
            for &level in &w.levels {
                let mut s = if spec.peer {
                    peer_step(w, level, speed)
                } else {
                    step(&spec.label, w, level, speed)
                };
                edit(&mut s);
                store.record_step(run, &s).unwrap();
            }
        }
    }
    store
        .finish_run(run, RunStatus::Completed, Some("every step ran"))
        .unwrap();
    run
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("fixture.db")).unwrap();
    let before = record_run(&mut store, 1.0, |_| {});
    let completed = record_run(&mut store, 1.1, |s| {
        if s.engine == "coroutines" && s.workload == "rate" && s.level == 10_000 {
            s.failure = Some("the engine exited during the step (signal 9)".into());
        }
        if s.engine == "threads" && s.workload == "idle" && s.level == 2000 {
            s.flags.level_not_reached = Some("the open-files limit (1024)".into());
        }
    });

    // Interrupted after hello and part of idle; its message holds markup that must stay text.
    let config = config(
        vec![EngineSpec::plain("threads"), EngineSpec::plain("selector")],
        vec![preset("hello", &[1, 16]), preset("idle", &[0, 500, 1000])],
    );
    let interrupted = store
        .begin_run(&config, &machine(), &calibration())
        .unwrap();
    for engine in ["threads", "selector"] {
        for level in [1, 16] {
            let s = step(engine, &config.workloads[0], level, 1.0);
            store.record_step(interrupted, &s).unwrap();
        }
    }
    for level in [0, 500] {
        let s = step("threads", &config.workloads[1], level, 1.0);
        store.record_step(interrupted, &s).unwrap();
    }
    store
        .finish_run(
            interrupted,
            RunStatus::Interrupted,
            Some("stopped by Ctrl-C <script>alert('x')</script> & `rm -rf`"),
        )
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        completed,
        before,
        interrupted,
    }
}

impl Fixture {
    fn run(&self, id: RunId) -> StoredRun {
        self.store.run(id).unwrap().expect("the run is stored")
    }
}

/// Writes a report for a person to look at, when `REPORT_SAMPLES_DIR` is set.
fn keep_sample(name: &str, run: &StoredRun, compare: &[StoredRun], format: Format) {
    if let Some(dir) = std::env::var_os("REPORT_SAMPLES_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("{name}.{}", format.extension()));
        report::write(run, compare, format, &out).unwrap();
    }
}

/// Parses an HTML report and fails on any parse error.
fn parse(html: &str) -> Html {
    let doc = Html::parse_document(html);
    assert!(
        doc.errors.is_empty(),
        "the HTML has parse errors: {:?}",
        doc.errors
    );
    doc
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

/// XML namespaces are names, not addresses: nothing fetches them.
const NAMESPACES: [&str; 3] = [
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1999/xhtml",
];

/// Fails if anything in the document would make a browser fetch something: an element that
/// loads, a link or source that is not a fragment, a URL in an attribute or in CSS.
fn assert_self_contained(doc: &Html) {
    for tag in [
        "script", "link", "iframe", "img", "object", "embed", "base", "image", "video", "audio",
        "source", "form",
    ] {
        assert!(select(doc, tag).is_empty(), "the report has a <{tag}>");
    }
    for element in select(doc, "*") {
        for (name, value) in element.value().attrs() {
            let value = value.trim();
            if name == "xmlns" || name.starts_with("xmlns:") {
                assert!(NAMESPACES.contains(&value), "unknown namespace {value}");
                continue;
            }
            if matches!(
                name,
                "href" | "src" | "srcset" | "action" | "data" | "poster"
            ) {
                assert!(
                    value.starts_with('#'),
                    "{name}=\"{value}\" leaves the document"
                );
            }
            assert!(
                !value.contains("://") && !value.starts_with("//"),
                "attribute {name}=\"{value}\" holds a URL"
            );
            let lower = value.to_ascii_lowercase();
            assert!(
                !lower.contains("url(") || lower.contains("url(#"),
                "attribute {name} loads {value}"
            );
        }
    }
    for style in select(doc, "style") {
        let css: String = style.text().collect::<String>().to_ascii_lowercase();
        assert!(!css.contains("@import"), "the CSS imports something");
        assert!(!css.contains("url("), "the CSS loads something");
        assert!(!css.contains("://"), "the CSS holds a URL");
    }
}

/// Every chart the chart module draws for each workload of `run` is in the HTML, as an
/// inline SVG inside its figure.
fn assert_every_chart(doc: &Html, run: &StoredRun) {
    for w in &run.config.workloads {
        let charts = charts::charts_for_workload(&run.steps, w);
        assert!(!charts.is_empty(), "{} has charts", w.name);
        for chart in charts {
            let figure = format!("figure#chart-{}", chart.id);
            let found = select(doc, &format!("{figure} svg"));
            assert!(
                !found.is_empty(),
                "{}: chart {} is missing from the HTML",
                w.name,
                chart.id
            );
        }
        assert_eq!(
            select(doc, &format!("section#workload-{}", w.name)).len(),
            1,
            "{} has its section",
            w.name
        );
    }
}

#[test]
fn html_of_a_completed_run_parses_cleanly_with_every_chart_and_nothing_external() {
    let f = fixture();
    let run = f.run(f.completed);
    let html = report::html(&run, &[]);
    keep_sample("completed", &run, &[], Format::Html);
    let doc = parse(&html);
    assert_self_contained(&doc);
    assert_every_chart(&doc, &run);

    // No banner for a run that completed... except that one step failed: it says so.
    let banner = select(&doc, "header .banner");
    assert_eq!(banner.len(), 1);
    assert!(
        banner[0]
            .text()
            .collect::<String>()
            .contains("Some steps failed")
    );

    // The summary comes first, then the workloads, the method and the machine.
    let ids: Vec<&str> = select(&doc, "main > section")
        .iter()
        .filter_map(|s| s.value().id())
        .collect();
    assert_eq!(ids, ["summary", "workloads", "method", "machine"]);

    // Each workload's step table has a row per step, with the flags spelled out.
    let text: String = doc.root_element().text().collect();
    assert!(text.contains("failed: the engine exited during the step (signal 9)"));
    assert!(text.contains("level not reached: the open-files limit (1024)"));
    assert!(text.contains("not supported: nginx serves /hello only"));
    for needle in [
        "PSS summed over the engine's process tree",
        "Kernel memory is shown apart",
        "Cores = CPU time ÷ wall time",
        "coordinated omission",
        "2.50 rounds per µs",
        "Made-up CPU @ 3.0GHz",
        "20000",
        "rustc 1.95.0 (test)",
        "0123456789ab",
        "nginx/1.24.0",
        "workbench engine threads",
        "Placement",
        "Claims",
    ] {
        assert!(text.contains(needle), "the report lacks {needle:?}");
    }
}

#[test]
fn markdown_links_only_files_that_exist_and_has_every_chart() {
    let f = fixture();
    for id in [f.completed, f.interrupted] {
        let run = f.run(id);
        let dir = tempfile::tempdir().unwrap();
        let md_path = dir.path().join(format!("my report {id}.md"));
        let files_dir = report::files_dir_for(&md_path);
        assert_eq!(files_dir, format!("my report {id}_files"));
        let written = report::write(&run, &[], Format::Markdown, &md_path).unwrap();
        keep_sample(&format!("run-{id}"), &run, &[], Format::Markdown);
        assert_eq!(written[0], md_path);
        let text = std::fs::read_to_string(&md_path).unwrap();

        let targets = link_targets(&text);
        assert!(!targets.is_empty());
        for target in &targets {
            assert!(!target.contains("://"), "the Markdown links {target}");
            if target.starts_with('#') {
                continue;
            }
            let path = dir.path().join(decode(target));
            assert!(
                path.is_file(),
                "the Markdown links {target}, which is missing"
            );
        }

        // Every chart of every workload is a file, and linked.
        for w in &run.config.workloads {
            for chart in charts::charts_for_workload(&run.steps, w) {
                let rel = format!("{files_dir}/{}.svg", chart.id);
                let path = dir.path().join(&rel);
                assert!(path.is_file(), "{rel} was not written");
                assert!(
                    targets.iter().any(|t| decode(t) == rel),
                    "{rel} is not linked"
                );
                let svg = std::fs::read_to_string(path).unwrap();
                roxmltree::Document::parse(&svg).expect("each chart file is well-formed SVG");
            }
        }
        // Every file written is linked (no orphans).
        for path in &written[1..] {
            let rel = path.strip_prefix(dir.path()).unwrap();
            let rel = rel.to_string_lossy();
            assert!(targets.iter().any(|t| decode(t) == rel), "{rel} not linked");
        }
    }
}

/// The targets of `](…)` links and images, and of `src="…"` / `href="…"`.
fn link_targets(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = md;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let end = after.find(')').expect("a link is closed");
        out.push(after[..end].to_string());
        rest = &after[end..];
    }
    for attr in ["src=\"", "href=\""] {
        let mut rest = md;
        while let Some(i) = rest.find(attr) {
            let after = &rest[i + attr.len()..];
            let end = after.find('"').unwrap();
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

fn decode(target: &str) -> String {
    target
        .replace("%20", " ")
        .replace("%28", "(")
        .replace("%29", ")")
        .replace("%25", "%")
}

#[test]
fn an_interrupted_run_says_so_first_and_reports_what_finished() {
    let f = fixture();
    let run = f.run(f.interrupted);
    let html = report::html(&run, &[]);
    keep_sample("interrupted", &run, &[], Format::Html);
    let doc = parse(&html);
    assert_self_contained(&doc);
    assert_every_chart(&doc, &run);

    // The banner is in the header, right after the title: before any figure.
    let header = &select(&doc, "body > header")[0];
    let children: Vec<&str> = header.child_elements().map(|e| e.value().name()).collect();
    assert_eq!(children, ["h1", "p", "div"]);
    let banner: String = select(&doc, "header .banner.bad")[0].text().collect();
    assert!(banner.contains("This run was interrupted."), "{banner}");
    assert!(
        banner.contains("It recorded 6 of its 10 planned steps"),
        "{banner}"
    );
    assert!(banner.contains("idle on threads (level 1000)"), "{banner}");
    assert!(
        banner.contains("idle on selector (every level)"),
        "{banner}"
    );
    // The message's markup stayed text.
    assert!(
        banner.contains("<script>alert('x')</script> & `rm -rf`"),
        "{banner}"
    );
    assert!(html.contains("&lt;script&gt;"));

    // What finished is reported: hello's steps are in its table.
    let rows = select(&doc, "section#workload-hello table tbody tr");
    assert!(rows.len() >= 4, "hello's step table has its 4 steps");

    let md = report::markdown(&run, &[], "r_files");
    let first = md
        .text
        .lines()
        .find(|l| l.starts_with('>'))
        .expect("a banner");
    assert!(first.contains("This run was interrupted."), "{first}");
    assert!(first.contains("\\<script\\>"), "{first}");
    assert!(!md.text.contains("<script>"));
    let banner_at = md.text.find("> ⛔").unwrap();
    assert!(banner_at < md.text.find("## Summary").unwrap());
}

#[test]
fn a_comparison_sets_every_figure_beside_its_change() {
    let f = fixture();
    let run = f.run(f.completed);
    let before = f.run(f.before);
    let html = report::html(&run, std::slice::from_ref(&before));
    keep_sample("compare", &run, std::slice::from_ref(&before), Format::Html);
    let doc = parse(&html);
    assert_self_contained(&doc);
    let title = format!("Compared with run {}", before.summary.id);
    let heading: String = select(&doc, "section#compare > h2")[0].text().collect();
    assert_eq!(heading, title);

    // Every workload has its side-by-side table and a chart per engine.
    for w in &run.config.workloads {
        let section = format!("section#compare-{}", w.name);
        assert_eq!(select(&doc, &section).len(), 1, "{section}");
        let figures = select(&doc, &format!("{section} figure.chart svg"));
        assert!(figures.len() >= 4, "{section} has a chart per engine");
    }
    // hello at 1 connection: 22k req/s against 20k, +10% better.
    let hello_rows = select(&doc, "section#compare-hello table tbody tr");
    let row = hello_rows
        .iter()
        .map(|r| r.text().collect::<Vec<_>>())
        .find(|cells| cells[..3] == ["threads", "1", "throughput"])
        .expect("threads at 1 connection");
    assert_eq!(row[3..], ["22.0k req/s", "20.0k req/s", "+10% better"]);
    // The failed step says so rather than showing a change.
    let failed = hello_rows.len();
    assert!(failed > 0);
    let text: String = doc.root_element().text().collect();
    assert!(text.contains("failed"));

    let md = report::markdown(&run, &[before], "c_files");
    assert!(md.text.contains(&format!("## {title}")));
    assert!(md.text.contains("+10% better"));
}

#[test]
fn a_comparison_across_a_changed_calibration_says_so_first_and_judges_no_timing() {
    let f = fixture();
    let run = f.run(f.completed);
    let mut before = f.run(f.before);
    // The only difference: the older run calibrated the machine as half as fast.
    before.calibration.rounds_per_us /= 2.0;
    let html = report::html(&run, std::slice::from_ref(&before));
    let doc = parse(&html);
    let section: String = select(&doc, "section#compare")[0].text().collect();
    let said = section
        .find("speed, as each run calibrated it")
        .expect("the calibration change is said");
    let first_row = section
        .find("Headline figures")
        .expect("the headline table");
    assert!(said < first_row, "the change is said before any figure");
    let hello_rows = select(&doc, "section#compare-hello table tbody tr");
    let cells = |engine: &str, figure: &str| -> Vec<String> {
        hello_rows
            .iter()
            .map(|r| r.text().map(str::to_string).collect::<Vec<_>>())
            .find(|c| c[0] == engine && c[1] == "1" && c[2] == figure)
            .unwrap_or_else(|| panic!("{engine} {figure}"))
    };
    // Throughput moves with the machine: shown, not judged.
    assert_eq!(cells("threads", "throughput")[5], compare::MACHINE_CHANGED);
    // Memory does not: still compared.
    assert_ne!(cells("threads", "peak PSS")[5], compare::MACHINE_CHANGED);
    // With the same calibration, the same cell is judged.
    let same = compare::machine_change(&run, &f.run(f.before));
    assert!(same.timings_comparable && same.notes.is_empty());
}

#[test]
fn headlines_carry_figures_and_leave_verdicts_to_the_claims() {
    let f = fixture();
    let run = f.run(f.completed);
    let all = headlines::headlines(&run);
    let find = |engine: &str, workload: &str| {
        all.iter()
            .find(|h| h.engine == engine && h.workload == workload)
            .unwrap_or_else(|| panic!("no headline for {engine} on {workload}"))
    };

    // Every engine's idle figure is there, with what its model predicts beside it.
    let threads_idle = find("threads", "idle");
    assert_eq!(threads_idle.kind, Kind::IdleCost);
    assert!(threads_idle.measured(), "{threads_idle:?}");
    assert_eq!(threads_idle.cell, "20.0 KiB/conn");
    assert!(
        threads_idle.claim.contains("costs a stack"),
        "{threads_idle:?}"
    );
    assert!(
        threads_idle
            .evidence
            .contains("100 000 idle connections would need"),
        "{threads_idle:?}"
    );
    assert!(find("selector", "idle").measured());
    assert_eq!(find("selector", "idle").cell, "300 B/conn");
    assert!(find("coroutines", "idle").measured());

    let pool_wait = find("pool", "db-wait");
    assert_eq!(pool_wait.kind, Kind::WaitOverlap);
    assert!(pool_wait.measured(), "{pool_wait:?}");
    assert!(
        pool_wait.evidence.contains("With 5 workers"),
        "{pool_wait:?}"
    );
    assert!(find("selector", "db-wait").measured());

    assert_eq!(find("selector", "cpu").kind, Kind::Parallelism);
    assert!(find("selector", "cpu").measured());
    assert!(find("threads", "cpu").measured());

    let rate = find("pool", "rate");
    assert_eq!(rate.kind, Kind::OpenLoop);
    assert!(rate.measured(), "{rate:?}");
    assert!(find("threads", "hello").measured());

    assert_eq!(find("threads", "slowloris").kind, Kind::SlowClients);
    for engine in ["threads", "pool", "selector", "coroutines"] {
        let h = find(engine, "slowloris");
        assert!(h.measured(), "{h:?}");
    }

    // No headline passes judgement: that is the claims' job alone.
    for h in &all {
        for judged in ["supported", "inconclusive"] {
            let text = format!("{} {}", h.claim, h.evidence).to_lowercase();
            assert!(!text.contains(judged), "{h:?} says {judged:?}");
        }
    }

    // The peer cannot serve /work: no figure, and it says why.
    let peer = find("nginx", "db-wait");
    assert!(!peer.measured());
    assert_eq!(peer.cell, "—");
    assert!(
        peer.evidence.contains("nginx serves /hello only"),
        "{peer:?}"
    );

    // A run without the data says so instead of guessing.
    let interrupted = f.run(f.interrupted);
    let selector_idle = headlines::headlines(&interrupted)
        .into_iter()
        .find(|h| h.engine == "selector" && h.workload == "idle")
        .unwrap();
    assert!(!selector_idle.measured());
    assert!(selector_idle.evidence.contains("Not measured"));
    let threads_idle = headlines::headlines(&interrupted)
        .into_iter()
        .find(|h| h.engine == "threads" && h.workload == "idle")
        .unwrap();
    assert!(threads_idle.measured(), "{threads_idle:?}");

    // The report lists the figures as measured or not, never with a verdict of their own;
    // the verdicts it gives are the claims', one per lesson.
    let html = report::html(&run, &[]);
    let doc = parse(&html);
    let claims = wb_reports::claims::judge_all(&run);
    assert_eq!(claims.len(), wb_reports::claims::LESSONS.len());
    let thread = claims
        .iter()
        .find(|(l, _)| l.slug == "thread-memory")
        .unwrap();
    assert_eq!(
        thread.1.verdict,
        wb_reports::claims::Verdict::Supported,
        "{:?}",
        thread.1
    );
    let tags = |class: &str| {
        select(&doc, &format!("section#summary span.tag.{class}"))
            .iter()
            .map(|t| t.text().collect::<String>())
            .collect::<Vec<_>>()
    };
    let judged = claims
        .iter()
        .filter(|(_, f)| {
            matches!(
                f.verdict,
                wb_reports::claims::Verdict::Supported | wb_reports::claims::Verdict::NotSupported
            )
        })
        .count();
    assert_eq!(tags("good").len() + tags("bad").len(), judged);
    let measured = all.iter().filter(|h| h.measured()).count();
    assert_eq!(tags("info"), vec!["measured"; measured]);
    let summary: String = select(&doc, "section#summary")[0].text().collect();
    assert!(summary.contains("The model predicts: A thread per connection costs a stack"));
}

#[test]
fn the_same_runs_give_the_same_bytes() {
    let f = fixture();
    let run = f.run(f.completed);
    assert_eq!(report::html(&run, &[]), report::html(&run, &[]));
    assert_eq!(
        report::markdown(&run, &[], "x_files"),
        report::markdown(&run, &[], "x_files")
    );
}

#[test]
fn formats_parse_and_follow_the_file_name() {
    assert_eq!("html".parse::<Format>().unwrap(), Format::Html);
    assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
    assert!("pdf".parse::<Format>().is_err());
    assert_eq!(
        Format::from_path(Path::new("a/b.MD")),
        Some(Format::Markdown)
    );
    assert_eq!(Format::from_path(Path::new("b.htm")), Some(Format::Html));
    assert_eq!(Format::from_path(Path::new("b")), None);
}

#[test]
fn the_parser_does_report_errors() {
    // Guards the tests above: a clean parse means something only if a bad page is caught.
    let doc = Html::parse_document("<!DOCTYPE html><title>x</title><p>a</div><table><b></table>");
    assert!(!doc.errors.is_empty());
}

#[test]
fn the_markdown_archive_holds_the_text_and_every_chart() {
    let f = fixture();
    let run = f.run(f.completed);
    let (name, tar) = report::markdown_archive(&run, &[]);
    assert_eq!(name, format!("report-{}.tar", run.summary.id));
    let md = report::markdown(&run, &[], &format!("report-{}_files", run.summary.id));

    // Read it back as `tar -xf` would: every entry's path and contents.
    let mut archive = tar::Archive::new(&tar[..]);
    let entries: Vec<(String, String)> = archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut contents = String::new();
            std::io::Read::read_to_string(&mut entry, &mut contents).unwrap();
            (path, contents)
        })
        .collect();
    assert_eq!(entries.len(), md.files.len() + 1);
    assert_eq!(
        entries[0],
        (format!("report-{}.md", run.summary.id), md.text)
    );
    for (entry, file) in entries[1..].iter().zip(&md.files) {
        assert_eq!(entry, &(file.path.clone(), file.svg.clone()));
    }

    // And tar itself, where there is one, lists the same files.
    if let Ok(out) = std::process::Command::new("tar")
        .arg("-tf")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&tar)?;
            child.wait_with_output()
        })
    {
        assert!(out.status.success());
        let listed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(listed.lines().count(), entries.len());
    }
}

#[test]
fn the_example_report_in_docs_parses_cleanly_and_is_self_contained() {
    // docs/example-report.html is linked from the README: it must stay a page that works.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/example-report.html");
    let html = std::fs::read_to_string(&path).expect("docs/example-report.html exists");
    let doc = parse(&html);
    assert_self_contained(&doc);
    assert!(!select(&doc, "section#summary").is_empty());
    assert!(!select(&doc, "figure.chart svg").is_empty());
}
