//! The chart module on made-up steps: every chart is valid, self-contained SVG that names
//! its engines, units and colours, and its table has one row per step.
//!
//! Set `CHART_SAMPLES_DIR=/some/dir` to also write every chart of these tests there as
//! `<id>.svg` (`<id>-empty.svg` for empty states), to look at them.

use wb_model::results::{Derived, IdleSlope, Latency, LoadReport, StepResult};
use wb_model::spec::{Mode, Workload};
use wb_reports::charts::{
    self, Chart, ENGINE_ORDER, Metric, color_hex, engine_color, engine_style, is_peer,
    use_log_scale,
};

const ENGINES: [&str; 3] = ["threads", "selector", "coroutines"];
const MIB: u64 = 1024 * 1024;

/// A step with every figure filled from a few numbers.
fn step(engine: &str, workload: &str, mode: Mode, level: u64, rps: f64, p99_ms: f64) -> StepResult {
    let latency = |scale: f64| Latency {
        count: (rps * 3.0) as u64,
        mean_us: p99_ms * 300.0 * scale,
        p50_us: (p99_ms * 400.0 * scale) as u64,
        p90_us: (p99_ms * 800.0 * scale) as u64,
        p99_us: (p99_ms * 1000.0 * scale) as u64,
        p999_us: (p99_ms * 1500.0 * scale) as u64,
        max_us: (p99_ms * 3000.0 * scale) as u64,
        censored: 0,
        censored_late: 0,
        late_requests: 0,
    };
    StepResult {
        engine: engine.into(),
        workload: workload.into(),
        mode,
        level,
        load: LoadReport {
            elapsed_secs: 3.0,
            completed: (rps * 3.0) as u64,
            latency: latency(1.0),
            latency_uncorrected: (mode == Mode::Open).then(|| latency(0.3)),
            connections: if mode == Mode::Open {
                level.min(2000) / 10
            } else {
                level
            },
            ..LoadReport::default()
        },
        samples: Vec::new(),
        derived: Derived {
            throughput_rps: rps,
            peak_pss_bytes: 4 * MIB,
            mean_pss_bytes: 4 * MIB,
            peak_rss_bytes: 6 * MIB,
            mean_rss_bytes: 6 * MIB,
            engine_cores: (rps / 40_000.0).min(2.0),
            client_cores: (rps / 60_000.0).min(1.0),
            ctx_switches_per_sec: rps / 2.0,
            threads_max: if engine == "threads" { level + 1 } else { 2 },
            ..Derived::default()
        },
        ..Default::default()
    }
}

/// hello, closed loop at 1..1024 connections: throughput levels off at different heights
/// per engine, latency follows Little's law; the threads engine's client is saturated at
/// the top.
fn hello_steps() -> Vec<StepResult> {
    let ceiling = [
        ("threads", 60_000.0),
        ("selector", 90_000.0),
        ("coroutines", 150_000.0),
    ];
    let mut steps = Vec::new();
    for (engine, max) in ceiling {
        for level in [1u64, 16, 64, 256, 1024] {
            let rps = (12_000.0 * level as f64).min(max) * (1.0 - level as f64 / 10_000.0);
            let p99_ms = 3.0 * level as f64 / rps * 1000.0;
            let mut s = step(engine, "hello", Mode::Closed, level, rps, p99_ms);
            if engine == "threads" && level == 1024 {
                s.flags.client_saturated = true;
            }
            steps.push(s);
        }
    }
    steps
}

/// idle, 0..10000 connections, with a known cost per connection per engine.
fn idle_steps() -> Vec<StepResult> {
    let per_connection = [
        ("threads", 10_240u64),
        ("selector", 300),
        ("coroutines", 1_200),
    ];
    let mut steps = Vec::new();
    for (engine, bytes) in per_connection {
        for level in [0u64, 100, 1000, 5000, 10_000] {
            let mut s = step(engine, "idle", Mode::Idle, level, 0.0, 0.1);
            s.derived.peak_pss_bytes = 2 * MIB + bytes * level;
            s.derived.peak_rss_bytes = 3 * MIB + bytes * level;
            s.derived.tcp_mem_bytes = 64 * 1024 + 2_000 * level;
            s.derived.slab_unreclaim_bytes = 40 * MIB + 1_100 * level;
            s.derived.kernel_stack_bytes = 8 * MIB;
            steps.push(s);
        }
    }
    steps
}

/// rate, open loop 500..20000 req/s: coroutines' last step failed.
fn rate_steps() -> Vec<StepResult> {
    let mut steps = Vec::new();
    for engine in ["pool", "coroutines"] {
        for level in [500u64, 1000, 2000, 5000, 10_000, 20_000] {
            let achieved = (level as f64).min(if engine == "pool" { 4000.0 } else { 15_000.0 });
            let p99 = if achieved < level as f64 { 900.0 } else { 1.5 };
            let mut s = step(engine, "rate", Mode::Open, level, achieved, p99);
            if engine == "coroutines" && level == 20_000 {
                s.failure = Some("engine exited with status 101".into());
            }
            steps.push(s);
        }
    }
    steps
}

/// Everything of one run: several workloads mixed, as a run's steps are.
fn all_steps() -> Vec<StepResult> {
    let mut steps = hello_steps();
    steps.extend(idle_steps());
    steps.extend(rate_steps());
    steps
}

/// The text content of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("chart SVG is well-formed XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

/// What every chart must be: a standalone, scalable, self-contained SVG with a title.
fn check_svg(chart: &Chart) {
    let svg = &chart.svg;
    assert!(
        svg.starts_with("<svg"),
        "{}: {}",
        chart.id,
        &svg[..40.min(svg.len())]
    );
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{}: {e}", chart.id));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert!(root.attribute("viewBox").is_some(), "{}", chart.id);
    assert_eq!(root.attribute("width"), Some("100%"));
    let outside = svg.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !outside.contains("http:") && !outside.contains("https:"),
        "{}",
        chart.id
    );
    assert!(!svg.contains("href"), "{}", chart.id);
    assert!(!svg.contains("@font-face"), "{}", chart.id);
    for text in doc.descendants().filter(|n| n.has_tag_name("text")) {
        let family = text
            .ancestors()
            .find_map(|n| n.attribute("font-family"))
            .unwrap_or_default();
        assert!(
            family.ends_with("sans-serif") || family.ends_with("monospace"),
            "{family}"
        );
    }
    assert!(texts(svg).contains(&chart.title), "{}: title", chart.id);
    save(chart);
}

fn save(chart: &Chart) {
    if let Ok(dir) = std::env::var("CHART_SAMPLES_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        let suffix = if chart.empty { "-empty" } else { "" };
        std::fs::write(format!("{dir}/{}{suffix}.svg", chart.id), &chart.svg).unwrap();
    }
}

fn has_engines_and_colours(chart: &Chart, engines: &[&str]) {
    let svg = chart.svg.to_lowercase();
    for engine in engines {
        assert!(
            chart.legend.iter().any(|t| t.text == *engine)
                || texts(&chart.svg).iter().any(|t| t == engine),
            "{}: no legend for {engine}",
            chart.id
        );
        let hex = color_hex(engine_color(engine));
        assert!(
            svg.contains(&hex),
            "{}: no colour {hex} for {engine}",
            chart.id
        );
    }
}

/// Text drawn in the chart, or in the legend and notes shown with it.
fn has_text(chart: &Chart, needle: &str) {
    let shown = || {
        texts(&chart.svg)
            .into_iter()
            .chain(chart.legend.iter().map(|l| l.text.clone()))
            .chain(chart.notes.iter().cloned())
    };
    assert!(
        shown().any(|t| t.contains(needle)),
        "{}: no text containing {needle:?} in {:?}",
        chart.id,
        texts(&chart.svg)
    );
}

fn rows_of<'a>(chart: &'a Chart, engine: &str) -> Vec<&'a Vec<String>> {
    chart.table.rows.iter().filter(|r| r[0] == engine).collect()
}

#[test]
fn log_scale_when_values_span_two_decades() {
    assert!(use_log_scale(&[1.0, 16.0, 64.0, 256.0, 1024.0]));
    assert!(use_log_scale(&[1.0, 100.0]));
    assert!(!use_log_scale(&[1.0, 99.0]));
    assert!(!use_log_scale(&[
        500.0, 1000.0, 2000.0, 5000.0, 10_000.0, 20_000.0
    ]));
    // Zeros are drawn apart; they neither force nor prevent a log axis.
    assert!(use_log_scale(&[0.0, 10.0, 100.0, 1000.0]));
    assert!(!use_log_scale(&[0.0, 0.0, 5.0]));
    assert!(!use_log_scale(&[]));
    assert!(!use_log_scale(&[f64::NAN, 1.0, f64::INFINITY]));
}

#[test]
fn closed_loop_charts_name_engines_units_and_colours() {
    let steps = all_steps();
    let hello = Workload::load("hello").unwrap();
    let charts = charts::charts_for_workload(&steps, &hello);
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "hello-throughput",
            "hello-latency",
            "hello-cost",
            "hello-cores"
        ]
    );
    for chart in &charts {
        check_svg(chart);
        assert!(!chart.empty);
        has_engines_and_colours(chart, &ENGINES);
        assert_eq!(chart.table.rows.len(), 15, "{}: one row per step", chart.id);
        assert!(
            chart
                .table
                .columns
                .contains(&"level (connections)".to_string())
        );
        // Levels 1..1024 span three decades: the level axis is logarithmic.
        has_text(chart, "connections, log scale");
    }
    has_text(&charts[0], "throughput (req/s)");
    has_text(&charts[1], "latency (ms)");
    has_text(&charts[1], "closed loop");
    has_text(&charts[2], "engine CPU per request (µs)");
    has_text(&charts[3], "cores (1.0 = one core busy)");
    has_text(&charts[3], "load generator");
    assert!(
        charts[0]
            .table
            .columns
            .contains(&"throughput (req/s)".to_string())
    );
    assert!(charts[1].table.columns.contains(&"p99 (ms)".to_string()));

    // The saturated step is marked on the chart and named in the table.
    has_text(&charts[0], "!");
    let threads = rows_of(&charts[0], "threads");
    assert_eq!(threads[4][1], "1024");
    assert!(threads[4].last().unwrap().starts_with("client saturated ("));
    assert_eq!(threads[0].last().unwrap(), "");
}

#[test]
fn idle_charts_show_memory_and_the_fitted_slope() {
    let steps = all_steps();
    let idle = Workload::load("idle").unwrap();
    let charts = charts::charts_for_workload(&steps, &idle);
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["idle-memory", "idle-bytes-per-connection"]);
    for chart in &charts {
        check_svg(chart);
        has_engines_and_colours(chart, &ENGINES);
    }
    let memory = &charts[0];
    assert_eq!(memory.table.rows.len(), 15);
    has_text(memory, "PSS, engine process tree (MiB)");
    has_text(memory, "open connections");
    has_text(memory, "least-squares fit");
    // Memory against connections stays linear, so the slope can be read off it.
    assert!(!memory.svg.contains("log scale"));
    let threads_note = memory
        .table
        .notes
        .iter()
        .find(|n| n.starts_with("threads"))
        .unwrap();
    assert!(
        threads_note.contains("10.0 KiB per idle connection"),
        "{threads_note}"
    );
    // Chart labels format through `wb_reports::format`, like every other front end.
    let threads_idle: Vec<&StepResult> = steps
        .iter()
        .filter(|s| s.engine == "threads" && s.workload == "idle")
        .collect();
    let fit = IdleSlope::fit(&threads_idle).unwrap();
    assert!(
        threads_note.contains(&format!(
            "kernel: {} per connection",
            wb_reports::format::bytes(fit.kernel_bytes_per_connection)
        )),
        "{threads_note}"
    );
    assert!(
        threads_note.contains("kernel: 3.03 KiB per connection"),
        "{threads_note}"
    );

    let bars = &charts[1];
    assert_eq!(bars.table.rows.len(), 3, "one row per engine");
    assert_eq!(bars.table.columns[1], "bytes per connection (B)");
    assert_eq!(rows_of(bars, "selector")[0][1], "300");
    assert_eq!(rows_of(bars, "threads")[0][3], "3100");
    has_text(bars, "kernel (shown apart)");
    has_text(bars, "memory per idle connection (KiB)");
    has_text(bars, "10.0 KiB");
}

#[test]
fn open_loop_charts_show_corrected_and_offered() {
    let steps = all_steps();
    let rate = Workload::load("rate").unwrap();
    let charts = charts::charts_for_workload(&steps, &rate);
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["rate-latency", "rate-throughput", "rate-cost", "rate-cores"]
    );
    for chart in &charts {
        check_svg(chart);
        has_engines_and_colours(chart, &["pool", "coroutines"]);
        assert_eq!(chart.table.rows.len(), 12);
        assert!(
            chart
                .table
                .columns
                .contains(&"offered rate (req/s)".to_string())
        );
        has_text(chart, "offered rate (req/s)");
        // The failed step is marked, and its figures are not shown as if measured.
        has_text(chart, "×");
        let failed = rows_of(chart, "coroutines")[5].clone();
        assert!(failed.last().unwrap().starts_with("failed: engine exited"));
        assert_eq!(failed[2], "—");
    }
    let latency = &charts[0];
    has_text(latency, "p99, from intended send");
    has_text(latency, "p99, uncorrected");
    assert!(
        latency
            .table
            .columns
            .contains(&"p99 uncorrected (ms)".to_string())
    );
    // p99 from 1.5 ms to 900 ms spans decades: log latency axis.
    has_text(latency, "latency (ms), log scale");
    has_text(&charts[1], "offered rate");
    has_text(&charts[1], "throughput (req/s)");
}

#[test]
fn slow_client_charts_and_a_zero_level() {
    let mut steps = Vec::new();
    for engine in ["pool", "selector"] {
        for level in [0u64, 10, 100, 1000] {
            steps.push(step(
                engine,
                "slowloris",
                Mode::SlowSenders,
                level,
                100.0,
                0.2,
            ));
        }
    }
    let slowloris = Workload::load("slowloris").unwrap();
    let charts = charts::charts_for_workload(&steps, &slowloris);
    assert_eq!(charts.len(), 3);
    for chart in &charts {
        check_svg(chart);
        has_engines_and_colours(chart, &["pool", "selector"]);
        assert_eq!(chart.table.rows.len(), 8);
        // 0, 10, 100, 1000 slow clients: log axis with 0 drawn apart.
        has_text(chart, "slow clients, log scale");
        let texts = texts(&chart.svg);
        assert!(texts.iter().any(|t| t == "0") && texts.iter().any(|t| t == "1000"));
    }
    has_text(&charts[0], "/hello probe");
    has_text(&charts[1], "peak PSS (MiB)");
    has_text(&charts[2], "threads (most seen)");
}

#[test]
fn no_data_gives_an_empty_state_with_what_to_run() {
    let steps = hello_steps();
    for chart in [
        charts::memory_per_connection(&steps, "idle"),
        charts::bytes_per_connection_bars(&steps, "idle"),
        charts::throughput(&[], "idle"),
        charts::latency(&steps, "idle"),
        charts::cores(&steps, "idle"),
    ] {
        check_svg(&chart);
        assert!(chart.empty, "{}", chart.id);
        assert!(chart.table.rows.is_empty());
        has_text(&chart, "workbench run --workloads idle");
    }
    let chart = charts::empty_state("runs", "Runs", "workbench run");
    check_svg(&chart);
    assert!(chart.empty);

    // One idle level per engine: no slope can be fitted, and the bars chart says so.
    let one_level: Vec<StepResult> = idle_steps()
        .into_iter()
        .filter(|s| s.level == 1000)
        .collect();
    let bars = charts::bytes_per_connection_bars(&one_level, "idle");
    check_svg(&bars);
    assert!(bars.empty);
    assert_eq!(bars.table.rows.len(), 3);
    assert_eq!(bars.table.rows[0][1], "—");
}

#[test]
fn every_engine_has_its_own_colour_and_peers_are_marked() {
    let mut colours: Vec<String> = ENGINE_ORDER
        .iter()
        .map(|e| color_hex(engine_color(e)))
        .collect();
    colours.extend(
        [
            "nginx", "asyncio", "twisted", "tornado", "gevent", "curio", "gunicorn",
        ]
        .map(|p| color_hex(engine_color(p))),
    );
    let mut unique = colours.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), colours.len(), "{colours:?}");
    assert_eq!(
        engine_color("selector+offload"),
        engine_color("selector-offload")
    );
    assert_eq!(color_hex(engine_color("threads")), "#0072b2");
    assert!(ENGINE_ORDER.iter().all(|e| !is_peer(e)));
    assert!(is_peer("nginx") && is_peer("some-new-server"));
    // A parametrized engine is a shade of its engine, its own series: never the engine's
    // colour, never a peer, and a sweep's labels apart from each other.
    for sweep in [
        &["pool", "pool:workers=2", "pool:workers=4", "pool:workers=8"][..],
        &[
            "threads",
            "threads:stack-size=32KiB",
            "threads:stack-size=2MiB",
            "threads:stack-size=8MiB",
        ],
    ] {
        let mut shades: Vec<String> = sweep.iter().map(|e| color_hex(engine_color(e))).collect();
        shades.sort();
        shades.dedup();
        assert_eq!(shades.len(), sweep.len(), "{sweep:?}: {shades:?}");
        assert!(sweep.iter().all(|e| !is_peer(e)));
    }
    // Unknown labels get a colour from their name alone: the same on every page and run.
    assert_eq!(
        engine_style("some-new-server"),
        engine_style("some-new-server")
    );
}

#[test]
fn peers_are_drawn_beside_the_engines() {
    let mut steps = hello_steps();
    for level in [1u64, 16, 64, 256, 1024] {
        steps.push(step("nginx", "hello", Mode::Closed, level, 50_000.0, 0.1));
    }
    let chart = charts::throughput(&steps, "hello");
    check_svg(&chart);
    has_engines_and_colours(&chart, &["threads", "selector", "coroutines", "nginx"]);
    // Built-in engines are listed first, peers after them.
    let engines: Vec<&str> = chart.table.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(engines.first(), Some(&"threads"));
    assert_eq!(engines.last(), Some(&"nginx"));
}

#[test]
fn compare_draws_one_line_per_run() {
    let before = hello_steps();
    let mut after = hello_steps();
    for s in &mut after {
        s.derived.throughput_rps *= 1.5;
    }
    let runs = vec![("run 1".to_string(), before), ("run 2".to_string(), after)];
    let chart = charts::compare(&runs, "hello", "selector", Metric::Throughput);
    check_svg(&chart);
    has_text(&chart, "run 1");
    has_text(&chart, "run 2");
    has_text(&chart, "throughput (req/s)");
    assert_eq!(chart.table.rows.len(), 10);
    assert_eq!(chart.table.columns[1], "level (connections)");

    let none = charts::compare(&runs, "hello", "pool", Metric::LatencyP99);
    check_svg(&none);
    assert!(none.empty);
}

#[test]
fn tables_render_as_markdown_and_html() {
    let chart = charts::throughput(&hello_steps(), "hello");
    let md = chart.table.to_markdown();
    assert!(md.contains(
        "| engine | level \\(connections\\) | throughput \\(req/s\\) | answered / sent | errors | flags |"
    ));
    assert_eq!(md.lines().filter(|l| l.starts_with("| threads")).count(), 5);
    let html = chart.table.to_html();
    assert!(html.contains("<th scope=\"col\">throughput (req/s)</th>"));
    let mut tricky = chart.table.clone();
    tricky.rows[0][0] = "<script>&".into();
    assert!(tricky.to_html().contains("&lt;script&gt;&amp;"));
    // A cell in Markdown stays one cell of text: no link, no image, no HTML, no new row.
    tricky.rows[0][0] = "[click](javascript:alert(1))\r![p](http://evil.example/t.png)|<b>".into();
    let md = tricky.to_markdown();
    assert!(md.contains(
        "| \\[click\\]\\(javascript:alert\\(1\\)\\) \\!\\[p\\]\\(http://evil.example/t.png\\)\\|\\<b\\> |"
    ), "{md}");
    assert!(!md.contains('\r'));
}

#[test]
fn charts_are_deterministic() {
    let steps = all_steps();
    let a = charts::charts_for_workload(&steps, &Workload::load("hello").unwrap());
    let b = charts::charts_for_workload(&steps, &Workload::load("hello").unwrap());
    assert_eq!(a, b);
}

#[test]
fn intervals_are_drawn_as_error_bars_and_written_in_the_table() {
    let mut steps = all_steps();
    let plain = charts::throughput(&steps, "hello");
    let step = steps
        .iter_mut()
        .find(|s| s.workload == "hello" && s.engine == "selector" && s.failure.is_none())
        .expect("a selector hello step");
    let rps = step.derived.throughput_rps;
    step.estimates.throughput_ci = Some([rps * 0.9, rps * 1.1]);
    let level = step.level.to_string();
    let with = charts::throughput(&steps, "hello");
    // One more vertical path (the bar) and its two caps.
    assert!(
        with.svg.matches("<polyline").count() + with.svg.matches("<path").count()
            > plain.svg.matches("<polyline").count() + plain.svg.matches("<path").count(),
        "an error bar is drawn"
    );
    let row = rows_of(&with, "selector")
        .into_iter()
        .find(|r| r[1] == level)
        .unwrap();
    assert!(row[2].contains(" ± "), "the interval in the table: {row:?}");
}

/// The pool at 100 connections in db-wait: 584 answers in about 10 ms, 97 clients never
/// answered (censored after the whole step, 2.9 s) and 3 requests in flight. Its p50 is the
/// answers' and drawn as one; its p99 is a lower bound: drawn at 2.9 s with an arrow up,
/// never near 10 ms, with a key in the legend, and `≥` in the table.
#[test]
fn lower_bounds_are_drawn_as_such_and_read_at_least() {
    let mut steps = vec![
        step("pool", "db-wait", Mode::Closed, 10, 290.0, 11.0),
        step("pool", "db-wait", Mode::Closed, 100, 292.0, 11.7),
        step("threads", "db-wait", Mode::Closed, 10, 950.0, 11.0),
        step("threads", "db-wait", Mode::Closed, 100, 5_000.0, 21.0),
    ];
    let plain = charts::latency(&steps, "db-wait");
    assert!(!texts(&plain.svg).iter().any(|t| t.contains("at least")));
    let pool = &mut steps[1];
    pool.load.completed = 584;
    pool.load.censored = 100;
    pool.load.latency = Latency {
        count: 684,
        censored: 100,
        censored_late: 97,
        late_requests: 97,
        mean_us: 420_000.0,
        p50_us: 10_300,
        p90_us: 2_900_000,
        p99_us: 2_950_000,
        p999_us: 2_950_000,
        max_us: 2_950_000,
    };
    let chart = charts::latency(&steps, "db-wait");
    check_svg(&chart);
    has_text(&chart, "at least");
    // The bound's arrow head: one filled polygon more than without it.
    assert!(
        chart.svg.matches("<polygon").count() > plain.svg.matches("<polygon").count(),
        "an arrow is drawn"
    );
    let row = rows_of(&chart, "pool")
        .into_iter()
        .find(|r| r[1] == "100")
        .unwrap()
        .clone();
    assert_eq!(row[2], "10.3", "p50 is the answers': {row:?}");
    assert_eq!(row[4], "≥\u{a0}2950", "p99 is a bound: {row:?}");
    assert!(row.iter().any(|c| c == "584 / 684"), "{row:?}");
    // The p99 line reaches the bound (the y axis goes up to seconds), not 11.7 ms.
    assert!(
        texts(&chart.svg)
            .iter()
            .any(|t| t.contains("1000") || t.contains("1k")),
        "{:?}",
        texts(&chart.svg)
    );
}

/// Slowloris: the pool answers no probe at 10 and 100 slow clients. Its latency is not drawn
/// at 0 (no point, no line down to the axis) but as a gap labelled on the chart, and a note
/// under the chart says why.
#[test]
fn an_unanswered_step_is_a_labelled_gap_not_a_zero() {
    let mut steps = Vec::new();
    for engine in ["pool", "selector"] {
        for level in [0, 10, 100] {
            let mut s = step(engine, "slowloris", Mode::SlowSenders, level, 1000.0, 0.4);
            if engine == "pool" && level > 0 {
                s.load.completed = 0;
                s.load.latency = Latency::default();
            }
            steps.push(s);
        }
    }
    let chart = charts::latency(&steps, "slowloris");
    check_svg(&chart);
    for svg in [&chart.svg, &chart.svg_narrow] {
        let labels: Vec<String> = texts(svg);
        assert_eq!(
            labels
                .iter()
                .filter(|t| t.contains("no probe answered"))
                .count(),
            2,
            "{labels:?}"
        );
    }
    // The pool's line has one point (level 0): no path of the pool's colour reaches 0 ms.
    let pool = color_hex(engine_color("pool")).to_lowercase();
    let doc = roxmltree::Document::parse(&chart.svg).unwrap();
    let pool_lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") || n.has_tag_name("path"))
        .filter(|n| {
            n.attribute("stroke")
                .is_some_and(|c| c.to_lowercase() == pool)
        })
        .filter(|n| {
            let points = n.attribute("points").or(n.attribute("d")).unwrap_or("");
            points.split_whitespace().count() > 1
        })
        .count();
    assert_eq!(
        pool_lines, 0,
        "no line drawn through the pool's unanswered steps"
    );
    assert!(
        chart
            .notes
            .iter()
            .any(|n| n.starts_with("pool at 10 and 100 slow clients")
                && n.contains("not a point at 0")),
        "{:?}",
        chart.notes
    );
    let row = rows_of(&chart, "pool")
        .into_iter()
        .find(|r| r[1] == "10")
        .unwrap();
    assert!(row.last().unwrap().contains("no answers"), "{row:?}");
}

/// Every flag on a point shown is said in words under the chart: a saturated client, most
/// clients waiting unseen (the pool serves 3 of 16 keep-alive clients), too few answers for a
/// p99.
#[test]
fn flagged_points_are_explained_in_notes() {
    let mut steps = hello_steps();
    for s in steps.iter_mut().filter(|s| s.level == 64) {
        s.flags.client_saturated = true;
    }
    let mut pool16 = step("pool", "hello", Mode::Closed, 16, 24_000.0, 0.3);
    pool16.load.latency.censored = 16;
    // 13 clients waited the whole step; the closed loop's correction added entries for the
    // requests they could not send, which are no clients.
    pool16.load.latency.censored_late = 13 + 4_000;
    pool16.load.latency.late_requests = 13;
    steps.push(pool16);
    let chart = charts::latency(&steps, "hello");
    let said = |needle: &str| chart.notes.iter().any(|n| n.contains(needle));
    assert!(said("client saturated"), "{:?}", chart.notes);
    assert!(said("13 of 16 connections waited"), "{:?}", chart.notes);
    assert!(chart.legend.iter().any(|l| l.text.contains("flagged")));

    let mut few = vec![step("pool", "big", Mode::SlowReaders, 1, 1.0, 1000.0)];
    few[0].load.completed = 3;
    let chart = charts::latency(&few, "big");
    assert!(
        chart.notes.iter().any(|n| n.contains("only 3 answers")),
        "{:?}",
        chart.notes
    );
    // A chart without flags has no notes.
    assert!(
        charts::latency(&hello_steps()[..1], "hello")
            .notes
            .is_empty()
    );
}

/// Levels 1, 16 and 64 span more than a decade: a log level axis; 1 to 5 does not.
#[test]
fn levels_spanning_a_decade_get_a_log_axis() {
    let at = |levels: &[u64]| -> Vec<StepResult> {
        levels
            .iter()
            .map(|&l| step("threads", "hello", Mode::Closed, l, 1000.0 * l as f64, 1.0))
            .collect()
    };
    let decade = charts::throughput(&at(&[1, 16, 64]), "hello");
    assert!(
        texts(&decade.svg)
            .iter()
            .any(|t| t.contains("log scale") && t.contains("connections"))
    );
    let narrow = charts::throughput(&at(&[1, 2, 5]), "hello");
    assert!(
        !texts(&narrow.svg)
            .iter()
            .any(|t| t.contains("connections, log scale"))
    );
}

/// Text is at least [`MIN_FONT_PX`] at the size each drawing is shown: every `font-size` in
/// the drawing, and the drawing never shown wider or narrower than drawn (its `max-width` is
/// its viewBox width, and the narrow one fits a 400 px screen's content box).
#[test]
fn text_is_at_least_12_px_as_displayed() {
    use wb_reports::charts::{MIN_FONT_PX, NARROW, WIDE};
    let mut charts = charts::charts_for_workload(&hello_steps(), &Workload::load("hello").unwrap());
    charts.push(charts::bytes_per_connection_bars(&idle_steps(), "idle"));
    for chart in &charts {
        for (svg, size) in [(&chart.svg, WIDE), (&chart.svg_narrow, NARROW)] {
            let doc = roxmltree::Document::parse(svg).unwrap();
            let root = doc.root_element();
            assert_eq!(
                root.attribute("viewBox"),
                Some(format!("0 0 {} {}", size.width, size.height).as_str())
            );
            assert_eq!(
                root.attribute("style"),
                Some(format!("max-width: {}px", size.width).as_str())
            );
            for node in doc.descendants().filter(|n| n.has_tag_name("text")) {
                let px: f64 = node
                    .ancestors()
                    .find_map(|n| n.attribute("font-size"))
                    .map(|v| v.trim_end_matches("px").parse().unwrap())
                    .expect("a font size");
                assert!(px >= MIN_FONT_PX, "{}: {px} px {:?}", chart.id, node.text());
            }
        }
    }
    // 400 px screen: 0.8rem page padding a side, 0.5rem figure padding and 1 px border a side.
    assert!(NARROW.width as f64 <= 400.0 - 2.0 * 0.8 * 16.0 - 2.0 * (0.5 * 16.0 + 1.0));
}

/// A step with no answers has no throughput either: the throughput chart leaves a labelled
/// gap and says why under it; a failed step is a gap on every chart kind, never a 0.
#[test]
fn no_chart_draws_a_failure_or_no_answers_as_zero() {
    let mut steps = hello_steps();
    let silent = steps
        .iter_mut()
        .find(|s| s.engine == "selector" && s.level == 16)
        .unwrap();
    silent.load.completed = 0;
    silent.load.latency = Latency::default();
    silent.derived.throughput_rps = 0.0;
    let failed = steps
        .iter_mut()
        .find(|s| s.engine == "threads" && s.level == 64)
        .unwrap();
    failed.failure = Some("the engine exited during the step (signal 9)".into());
    failed.derived = Derived::default();
    failed.load.completed = 0;
    let throughput = charts::throughput(&steps, "hello");
    for svg in [&throughput.svg, &throughput.svg_narrow] {
        let labels = texts(svg);
        assert!(labels.iter().any(|t| t == "no answers"), "{labels:?}");
        assert!(labels.iter().any(|t| t == "failed"), "{labels:?}");
    }
    assert!(
        throughput
            .notes
            .iter()
            .any(|n| n.starts_with("selector at 16 connections") && n.contains("0 req/s")),
        "{:?}",
        throughput.notes
    );
    // Cores, CPU per request, compare: the failed step is a gap on each.
    let cores = charts::cores(&steps, "hello");
    assert!(texts(&cores.svg).iter().any(|t| t == "failed"));
    let cost = charts::cost_per_request(&steps, "hello");
    assert!(texts(&cost.svg).iter().any(|t| t == "failed"));
    assert!(texts(&cost.svg).iter().any(|t| t == "no answers"));
    let runs = vec![("run 1".to_string(), steps.clone())];
    for metric in [Metric::Throughput, Metric::EngineCores, Metric::PeakPss] {
        let chart = charts::compare(&runs, "hello", "threads", metric);
        assert!(
            texts(&chart.svg).iter().any(|t| t == "failed"),
            "{metric:?}"
        );
    }
    let runs = vec![("run 1".to_string(), steps)];
    let chart = charts::compare(&runs, "hello", "selector", Metric::Throughput);
    assert!(texts(&chart.svg).iter().any(|t| t == "no answers"));
}

/// One figure, one axis rule on every page: latency log from 0.1 ms, cores from 0 to the
/// cores the engine could use, whatever the values shown.
#[test]
fn a_figure_has_one_axis_rule_on_every_chart() {
    let mut steps = hello_steps();
    for s in &mut steps {
        s.facts = Some(wb_model::results::EngineFacts {
            cpus: Some(4),
            ..Default::default()
        });
        s.derived.engine_cores = 0.5;
    }
    let tick_labels = |chart: &Chart| texts(&chart.svg);
    let cores = charts::cores(&steps, "hello");
    assert!(
        tick_labels(&cores).iter().any(|t| t == "4"),
        "up to 4 cores"
    );
    let runs = vec![("run 1".to_string(), steps.clone())];
    let compared = charts::compare(&runs, "hello", "threads", Metric::EngineCores);
    assert!(tick_labels(&compared).iter().any(|t| t == "4"));
    assert!(cores.svg.contains(Metric::EngineCores.axis()));
    // Latency: log from 0.1 ms, on the run's chart and on a comparison alike.
    let latency = charts::latency(&steps, "hello");
    let compared = charts::compare(&runs, "hello", "threads", Metric::LatencyP99);
    for chart in [&latency, &compared] {
        let labels = tick_labels(chart);
        assert!(labels.iter().any(|t| t == "0.1"), "{labels:?}");
        assert!(
            chart.svg.contains("p99 latency (ms), log scale"),
            "{}",
            chart.id
        );
    }
}
