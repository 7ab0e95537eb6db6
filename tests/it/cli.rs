//! The command line as its users meet it: the built `workbench` binary run as a shell would,
//! against a live engine (`workbench engine selector`), for `load URL` (table, JSON, open
//! loop, `--save`), its one-line errors, `completions`, `show latest` of any status,
//! `run --fail-if` and `run --quiet`.
//!
//! Every load here is bounded (about a second); nothing asserts a timing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use wb_load::wire::{LoadResult, decode_histogram};
use wb_model::results::RunStatus;
use wb_model::spec::Mode;
use wb_reports::store::Store;
use workbench::child::ServerProcess;

use crate::util::{exe, folder_with, workbench};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The selector engine on a free loopback port, stopped when dropped.
fn engine() -> ServerProcess {
    ServerProcess::spawn(exe(), "selector", &[]).expect("the selector engine starts")
}

fn url(server: &ServerProcess, path: &str) -> String {
    format!("http://{}{path}", server.addr())
}

/// `load URL` and its flags, written as on a command line (words without spaces).
fn load<'a>(url: &'a str, flags: &'a str) -> Vec<&'a str> {
    ["load", url]
        .into_iter()
        .chain(flags.split_whitespace())
        .collect()
}

/// Runs `load` with `flags` against `path` of a fresh engine and parses its JSON document,
/// failing with the whole output otherwise.
fn load_json(path: &str, flags: &str) -> LoadResult {
    let server = engine();
    let dir = tempfile::tempdir().unwrap();
    let out = workbench(dir.path(), &load(&url(&server, path), flags));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "load failed: {stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not a LoadResult ({e}): {stdout}"))
}

/// What a `load --json` of the workbench's own engine holds: answers, checked as the
/// workbench's, each of them and every request censored at the window's end in the
/// corrected histogram.
fn assert_measured(result: &LoadResult) {
    assert_eq!(result.checks, "workbench");
    assert!(result.completed > 0, "{result:?}");
    let corrected = decode_histogram(&result.histograms.corrected).unwrap();
    assert_eq!(corrected.len(), result.completed + result.censored);
}

/// A stderr that is exactly one line, beginning `error:`.
fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "should fail: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    let trimmed = stderr.trim_end();
    assert_eq!(trimmed.lines().count(), 1, "one line: {stderr}");
    assert!(trimmed.starts_with("error: "), "{stderr}");
    trimmed.to_string()
}

#[test]
fn load_url_prints_a_table_of_what_it_measured() {
    let server = engine();
    let dir = tempfile::tempdir().unwrap();
    let out = workbench(
        dir.path(),
        &load(&url(&server, "/hello"), "-c 4 -d 1s --warmup 200ms"),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("connections") && stdout.contains("req/s"),
        "{stdout}"
    );
    assert!(stdout.contains("p99.9"), "{stdout}");
    assert!(
        stderr.contains("4 connections, closed loop") && stderr.contains("digest"),
        "the line before measuring says what and how: {stderr}"
    );
}

#[test]
fn load_url_json_carries_a_histogram_of_every_answer() {
    let result = load_json("/hello", "-c 4 -d 1s --warmup 0 --json");
    assert_eq!(result.mode, Mode::Closed);
    assert_eq!((result.connections, result.rate), (4, None));
    assert_eq!(result.method, "GET");
    assert_measured(&result);
    assert_eq!(result.errors.total(), 0, "{result:?}");
    assert_eq!(result.latency.count, result.completed + result.censored);
    assert!(result.histograms.uncorrected.is_none());
}

#[test]
fn load_url_open_loop_json_has_both_histograms() {
    let result = load_json(
        "/work?cpu_rounds=10&bytes=64",
        "-R 200 -d 1s --warmup 100ms --json",
    );
    assert_eq!(result.mode, Mode::Open);
    assert_eq!(result.rate, Some(200));
    assert_measured(&result);
    let uncorrected = result
        .histograms
        .uncorrected
        .as_deref()
        .expect("an open loop carries the uncorrected histogram");
    assert_eq!(
        decode_histogram(uncorrected).unwrap().len(),
        result.latency_uncorrected.unwrap().count
    );
}

#[test]
fn load_url_save_stores_a_run_of_its_own() {
    let server = engine();
    let dir = tempfile::tempdir().unwrap();
    let out = workbench(
        dir.path(),
        &load(
            &url(&server, "/hello"),
            "-c 2 -d 300ms --warmup 0 --save --label by-hand --db saved.db",
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Saved as run 1"),
        "{}",
        text(&out.stderr)
    );
    let store = Store::open(dir.path().join("saved.db")).unwrap();
    let run = store
        .run(store.latest_completed().unwrap().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(run.summary.status, RunStatus::Completed);
    assert_eq!(run.config.engines[0].label, "by-hand");
    assert!(run.config.engines[0].peer);
    assert_eq!(run.steps.len(), 1);
    let step = &run.steps[0];
    assert_eq!((step.workload.as_str(), step.level), ("load", 2));
    assert!(step.load.completed > 0 && !step.load.histogram.is_empty());
    // It reads back like any run.
    let out = workbench(dir.path(), &["show", "latest", "--db", "saved.db"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("by-hand"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn load_errors_are_one_line_naming_the_problem_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let line = one_line_error(&workbench(dir.path(), &["load", "ftp://127.0.0.1/"]));
    assert!(
        line.contains("not an http:// URL") && line.contains("http://HOST"),
        "{line}"
    );
    let line = one_line_error(&workbench(dir.path(), &["load", "https://127.0.0.1/"]));
    assert!(line.contains("https is not supported"), "{line}");

    // A port nothing listens on: bound, then released.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let refused = format!("http://127.0.0.1:{port}/");
    let line = one_line_error(&workbench(dir.path(), &["load", &refused, "-d", "1s"]));
    assert!(
        line.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{line}"
    );
    assert!(line.contains("start the server"), "{line}");

    let out = workbench(dir.path(), &["load", &refused, "--conections", "4"]);
    let line = one_line_error(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        line.contains("'--conections'") && line.contains("--connections"),
        "{line}"
    );
    assert!(line.contains("workbench load --help"), "{line}");

    for (args, says) in [
        (vec!["-d", "5 parsecs"], "not a duration"),
        (vec!["-H", "NoColon"], "no colon"),
        (vec!["-c", "0"], "--connections"),
        (vec!["--target", "127.0.0.1:1"], "cannot be used with"),
    ] {
        let mut all = vec!["load", refused.as_str()];
        all.extend(args);
        let line = one_line_error(&workbench(dir.path(), &all));
        assert!(line.contains(says), "{all:?}: {line}");
    }
}

#[test]
fn load_refuses_more_connections_than_the_open_files_limit_allows() {
    let dir = tempfile::tempdir().unwrap();
    // A shell lowers both limits for the one command, as `ulimit -n` does.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 128 && exec "$0" load http://127.0.0.1:1/ -c 200"#)
        .arg(exe())
        .current_dir(dir.path())
        .output()
        .expect("run sh");
    let line = one_line_error(&out);
    assert!(line.contains("may open only 128"), "{line}");
    assert!(line.contains("use -c 64 or less"), "{line}");
}

#[test]
fn completions_are_generated_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = workbench(dir.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains("workbench"), "{shell}");
        assert!(script.contains("fail-if"), "{shell} knows run's flags");
    }
    let line = one_line_error(&workbench(dir.path(), &["completions", "tcsh"]));
    assert!(line.contains("tcsh"), "{line}");
}

/// A run that never finished, as Ctrl-C leaves it.
fn interrupted_run(db: &PathBuf) {
    let mut store = Store::open(db).unwrap();
    let config = wb_model::results::RunConfig {
        suite: None,
        engines: vec![wb_model::results::EngineSpec::plain("selector")],
        workloads: vec![wb_model::spec::Workload::load("hello").unwrap()],
        pin: false,
        peer_versions: Default::default(),
        repeat: 1,
        placement: None,
    };
    let id = store
        .begin_run(&config, &Default::default(), &Default::default())
        .unwrap();
    store
        .finish_run(id, RunStatus::Interrupted, Some("Ctrl-C"))
        .unwrap();
}

#[test]
fn show_latest_shows_an_interrupted_run_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    interrupted_run(&db);
    let out = workbench(dir.path(), &["show", "latest", "--db", "runs.db"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Run 1 — interrupted: Ctrl-C"),
        "{}",
        text(&out.stdout)
    );
    let line = one_line_error(&workbench(
        dir.path(),
        &["show", "latest", "--db", "empty.db"],
    ));
    assert!(line.contains("no runs yet"), "{line}");
}

const TINY: &str = r#"name = "tiny"
description = "hello, one small level"
mode = "closed"
levels = [2]
step_secs = 0.3
warmup_secs = 0.1
"#;

#[test]
fn run_fail_if_lists_each_gate_and_exits_3_when_one_is_crossed() {
    let dir = folder_with(&[("tiny.toml", TINY)]);
    let run = |gates: &[&str]| {
        let mut args = vec![
            "run",
            "--db",
            "gates.db",
            "--engines",
            "selector",
            "--workloads",
            "tiny.toml",
        ];
        for gate in gates {
            args.extend(["--fail-if", gate]);
        }
        workbench(dir.path(), &args)
    };
    // Every answer takes at least a microsecond, and a clean run has no errors.
    let out = run(&["selector.tiny.p99_us > 0", "*.*.errors > 0"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("CROSSED  selector.tiny.p99_us > 0"),
        "{stdout}"
    );
    assert!(stdout.contains("held     *.*.errors > 0"), "{stdout}");

    let out = run(&["*.tiny.errors > 0"]);
    assert!(out.status.success(), "{}", text(&out.stdout));

    // A name that is not in the run is refused before measuring.
    let line = one_line_error(&run(&["selectr.tiny.p99_us > 0"]));
    assert!(
        line.contains("engine \"selectr\" is not in this run"),
        "{line}"
    );
    let line = one_line_error(&run(&["selector.tiny.p99 > 0"]));
    assert!(
        line.contains("unknown figure \"p99\"; figures: throughput_rps"),
        "{line}"
    );
}

#[test]
fn run_quiet_prints_only_results() {
    let dir = tempfile::tempdir().unwrap();
    let run = |quiet: bool| {
        let mut args = vec![
            "run",
            "--db",
            "quiet.db",
            "--engines",
            "selector",
            "--workloads",
            "hello",
            "--max-level",
            "1",
            "--step-secs",
            "0.2",
        ];
        if quiet {
            args.push("--quiet");
        }
        let out = workbench(dir.path(), &args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        (stdout, stderr)
    };
    // What `--quiet` leaves out, said without it: the banner, the progress (on a pipe, a
    // plain line per step) and the hint.
    let (stdout, stderr) = run(false);
    assert!(stderr.contains("Running 1 engine(s)"), "{stderr}");
    assert!(stderr.contains("CPU kernel calibrated"), "{stderr}");
    assert!(stderr.contains("req/s"), "{stderr}");
    assert!(stdout.contains("Run 1: completed"), "{stdout}");
    assert!(stdout.contains("See it again with"), "{stdout}");

    let (stdout, stderr) = run(true);
    // Nothing on stderr but a logged warning or error, should the machine give one.
    assert!(
        stderr
            .lines()
            .all(|line| line.contains(" WARN ") || line.contains(" ERROR ")),
        "{stderr}"
    );
    assert!(stdout.contains("Run 2: completed"), "{stdout}");
    assert!(stdout.contains("selector"), "the results: {stdout}");
    assert!(!stdout.contains("See it again"), "no hint: {stdout}");
}

/// `-t 2 --pipeline 16 -n N`: two generator threads, sixteen requests in flight on each
/// connection, and exactly N requests, every one answered; the document carries its threads
/// and the API version.
#[test]
fn load_threads_pipelining_and_a_request_count() {
    let result = load_json(
        "/hello",
        "-c 8 -t 2 --pipeline 16 -n 3000 --json --fail-if p99_us>1e9",
    );
    assert_eq!(result.threads, 2);
    assert_eq!(result.api_version, wb_web::API_VERSION);
    assert_eq!(result.completed, 3000, "{result:?}");
    assert_eq!(
        (result.censored, result.errors.total()),
        (0, 0),
        "{result:?}"
    );
    assert_eq!(result.status_codes.get(&200), Some(&3000));
    assert_measured(&result);
}

/// wrk's semantics: a 404 is an answer, timed and counted by status, and an error unless
/// `--expect-status` says it is expected; `--fail-if` crossed is exit status 3.
#[test]
fn load_times_answers_of_any_status_and_gates_on_figures() {
    let server = engine();
    let dir = tempfile::tempdir().unwrap();
    let missing = url(&server, "/nowhere");
    let out = workbench(
        dir.path(),
        &load(&missing, "-c 2 -d 500ms --warmup 0 --json"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let result: LoadResult = serde_json::from_slice(&out.stdout).unwrap();
    let n = result.status_codes.get(&404).copied().unwrap_or(0);
    assert!(n > 0, "{result:?}");
    assert_eq!(result.errors.bad_response, n);
    assert_eq!(result.completed, 0);
    assert_eq!(
        result.latency.count,
        n + result.censored,
        "every answer timed"
    );

    let out = workbench(
        dir.path(),
        &load(&missing, "-c 2 -d 500ms --warmup 0 --expect-status 404"),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("404 × "), "{stdout}");

    // Any server answers more than one request a second: the gate is crossed.
    let out = workbench(
        dir.path(),
        &load(
            &url(&server, "/hello"),
            "-c 2 -d 300ms --warmup 0 --fail-if throughput_rps>1",
        ),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("CROSSED  *.*.throughput_rps > 1"),
        "{stdout}"
    );
}

/// `--hdr-log`: an HdrHistogram interval log that the hdrhistogram crate's own reader parses,
/// one interval per 200 ms window, each histogram decoding to that window's answers.
#[test]
fn load_hdr_log_is_read_back_by_an_hdrhistogram_reader() {
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    let server = engine();
    let dir = tempfile::tempdir().unwrap();
    let out = workbench(
        dir.path(),
        &load(
            &url(&server, "/hello"),
            "-c 4 -d 1s --warmup 200ms --hdr-log run.hlog --json",
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: LoadResult = serde_json::from_slice(&out.stdout).unwrap();
    let log = std::fs::read(dir.path().join("run.hlog")).unwrap();
    let mut intervals = Vec::new();
    let mut base_time = false;
    for entry in IntervalLogIterator::new(&log) {
        match entry.expect("every line of the log parses") {
            LogEntry::Interval(interval) => intervals.push((
                interval.start_timestamp(),
                interval.duration(),
                interval.encoded_histogram().to_string(),
            )),
            LogEntry::BaseTime(_) => base_time = true,
            LogEntry::StartTime(_) => {}
        }
    }
    assert!(base_time, "{}", text(&log));
    assert_eq!(intervals.len(), result.windows.len(), "one per window");
    assert!(intervals.len() >= 4, "a second of 200 ms windows");
    let mut deserializer = Deserializer::new();
    for ((start, length, encoded), window) in intervals.iter().zip(&result.windows) {
        let bytes = wb_load::wire::base64_decode(encoded).unwrap();
        let histogram: hdrhistogram::Histogram<u64> =
            deserializer.deserialize(&mut bytes.as_slice()).unwrap();
        assert_eq!(histogram.len(), window.answers);
        assert_eq!(start.as_millis() as u64, window.at_ms);
        assert_eq!(length.as_millis() as u64, wb_model::results::WINDOW_MS);
    }
}

/// Ctrl-C during `load`: the measurement so far is printed, and the exit status is 130.
#[test]
fn load_ctrl_c_prints_the_result_so_far() {
    let server = engine();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(exe())
        .args(load(&url(&server, "/hello"), "-c 2 -d 60s --warmup 0"))
        .current_dir(dir.path())
        .env_remove("WORKBENCH_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(stdout.contains("answered/sent"), "{stdout}\n{stderr}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
}

/// `show --format csv|md|json` and `report --format csv|json`: the run's steps, one row per
/// step with the figures of the table of figures — the dashboard's `steps.csv` byte for
/// byte for CSV — to stdout or `-o FILE`; `show --fail-if` gates as `run --fail-if` does.
#[test]
fn show_and_report_export_the_steps_as_csv_markdown_and_json() {
    let server = engine();
    let dir = tempfile::tempdir().unwrap();
    let out = workbench(
        dir.path(),
        &load(
            &url(&server, "/hello"),
            "-c 2 -d 300ms --warmup 0 --save --db s.db --quiet",
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = Store::open(dir.path().join("s.db")).unwrap();
    let run = store
        .run(store.latest_completed().unwrap().unwrap())
        .unwrap()
        .unwrap();
    let columns = wb_web::csv_columns();

    let csv = workbench(dir.path(), &["show", "--db", "s.db", "--format", "csv"]);
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    assert_eq!(text(&csv.stdout), wb_web::steps_csv(run.summary.id, &run));
    assert_eq!(text(&csv.stdout).lines().count(), 1 + run.steps.len());

    let md = workbench(dir.path(), &["show", "--db", "s.db", "--format", "md"]);
    let md = text(&md.stdout);
    assert_eq!(md.lines().count(), 2 + run.steps.len(), "{md}");
    assert!(md.lines().all(|l| l.starts_with('|')), "{md}");
    assert_eq!(
        md.lines().next().unwrap().matches(" | ").count() + 1,
        columns.len()
    );

    let written = workbench(
        dir.path(),
        &[
            "show",
            "--db",
            "s.db",
            "--format",
            "json",
            "-o",
            "steps.json",
        ],
    );
    assert!(written.status.success(), "{}", text(&written.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("steps.json")).unwrap())
            .unwrap();
    assert_eq!(json["api_version"], wb_web::API_VERSION);
    let step = &json["steps"][0];
    assert_eq!(step["completed"], run.steps[0].load.completed);
    assert_eq!(step["engine"], run.steps[0].engine.as_str());
    assert!(step["p99_us"].is_number(), "{step}");

    let report = workbench(
        dir.path(),
        &["report", "--db", "s.db", "--format", "csv", "-o", "-"],
    );
    assert_eq!(
        text(&report.stdout),
        wb_web::steps_csv(run.summary.id, &run)
    );
    let report = workbench(dir.path(), &["report", "--db", "s.db", "-o", "r.json"]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(again, json, "report and show write the same table");

    let gated = workbench(
        dir.path(),
        &["show", "--db", "s.db", "--fail-if", "completed > 0"],
    );
    assert_eq!(gated.status.code(), Some(3), "{}", text(&gated.stdout));
    assert!(text(&gated.stdout).contains("CROSSED  *.*.completed > 0"));
    let held = workbench(
        dir.path(),
        &["show", "--db", "s.db", "--fail-if", "errors > 0"],
    );
    assert_eq!(held.status.code(), Some(0), "{}", text(&held.stdout));
}

/// `cargo run --release` on an empty store: the dashboard answers first, and the quick suite
/// runs as its own run, followed live (`/api/runs` says it is running, its live page
/// answers); Ctrl-C stops it after the current step, prints its summary and exits 130.
#[test]
fn the_default_job_serves_first_and_measures_as_a_dashboard_run() {
    use std::io::{BufRead, BufReader, Read as _, Write as _};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(exe())
        .current_dir(dir.path())
        .env("WORKBENCH_DB", dir.path().join("first.db"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("Dashboard: http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("the first line is the dashboard's address: {line:?}"))
        .to_string();
    let get = |path: &str| -> String {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    // The run appears on the dashboard while it is being measured.
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let runs = get("/api/runs");
        if runs.contains("\"status\":\"running\"") {
            break runs;
        }
        assert!(Instant::now() < deadline, "no run in progress: {runs}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(runs.contains("\"suite\":\"quick\""), "{runs}");
    assert!(get("/runs/1/live").starts_with("HTTP/1.1 200"));
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{rest}\n{stderr}");
    assert!(rest.contains("Run 1: interrupted"), "{rest}\n{stderr}");
    assert!(stderr.contains("/runs/1/live"), "{stderr}");
}
