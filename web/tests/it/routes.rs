//! Every page and API route, in process (tower's `oneshot`, no sockets), on a fixture store
//! and on an empty one; and the guards: 403 for a foreign host, origin or a missing token,
//! 400 for parameters beyond the caps.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use wb_web::Dashboard;
use wb_web::fixture::{self, FixtureRuns};

use crate::util::{Answer, config, send};

const HOST: &str = "127.0.0.1:8080";
const ORIGIN: &str = "http://127.0.0.1:8080";

struct Site {
    _dir: tempfile::TempDir,
    dashboard: Dashboard,
    runs: Option<FixtureRuns>,
}

fn site(with_fixture: bool) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let runs = with_fixture.then(|| fixture::create(&db).unwrap());
    let dashboard = Dashboard::new(config(db), HOST.parse().unwrap());
    Site {
        _dir: dir,
        dashboard,
        runs,
    }
}

async fn get(site: &Site, path: &str) -> Answer {
    let request = Request::get(path)
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    send(site.dashboard.router(), request).await
}

async fn post(site: &Site, path: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    send(
        site.dashboard.router(),
        request.body(Body::from(body.to_string())).unwrap(),
    )
    .await
}

/// A form body with the page's token.
fn with_token(site: &Site, body: &str) -> String {
    format!("token={}&{body}", site.dashboard.token())
}

#[tokio::test]
async fn every_page_and_api_route_answers_on_the_fixture_store() {
    let site = site(true);
    let runs = site.runs.unwrap();
    let (latest, failed, interrupted) = (runs.latest, runs.failed, runs.interrupted);
    let pages = [
        "/".to_string(),
        "/runs".into(),
        format!("/runs/{latest}"),
        format!("/runs/{failed}"),
        format!("/runs/{interrupted}"),
        format!("/runs/{latest}/live"),
        format!("/runs/{latest}/charts"),
        format!("/runs/{latest}/run.json"),
        format!("/runs/{latest}/steps.csv"),
        format!("/runs/{latest}/report.html"),
        format!("/runs/{latest}/report.md.tar"),
        format!("/compare/report.html?run={}&run={latest}", runs.baseline),
        format!("/runs/{latest}/events"),
        "/compare".into(),
        format!("/compare?run={}&run={latest}", runs.baseline),
        format!(
            "/compare?run={}&run={latest}&workload=hello&engine=pool",
            runs.baseline
        ),
        "/new".into(),
        "/lessons".into(),
        "/engines".into(),
        "/source/engines/selector/src/reactor.rs".into(),
        "/guide".into(),
        "/api".into(),
        "/api/runs".into(),
        format!("/api/runs/{latest}"),
        format!("/api/runs/{latest}/progress"),
        "/static/style.css".into(),
        "/static/live.js".into(),
    ];
    for path in pages.iter().cloned().chain(
        wb_reports::claims::LESSONS
            .iter()
            .map(|l| format!("/lessons/{}", l.slug)),
    ) {
        let answer = get(&site, &path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert!(
            answer.headers.contains_key(header::CONTENT_SECURITY_POLICY),
            "{path} has no CSP"
        );
    }

    let overview = get(&site, "/").await.body;
    assert!(overview.contains(&format!("run {latest}")));
    assert_eq!(
        overview.matches("<figure class=\"chart").count(),
        10,
        "charts on the overview, besides Start here's four models"
    );
    assert!(overview.contains("denser"), "the thread-memory headline");

    let run = get(&site, &format!("/runs/{latest}")).await.body;
    for text in [
        "client saturated",
        "Little&#39;s law off",
        "level not reached: the open-files limit (1024)",
        "failed: the engine exited during the step",
        "Example CPU @ 3.0GHz",
        "2.50 SHA-256 rounds per µs",
        "workbench engine selector --offload",
        "steps.csv",
        "run.json",
    ] {
        assert!(run.contains(text), "run page lacks {text:?}");
    }
    assert!(
        get(&site, &format!("/runs/{failed}"))
            .await
            .body
            .contains("the threads engine did not start")
    );
    let stopped = get(&site, &format!("/runs/{interrupted}")).await.body;
    assert!(stopped.contains("interrupted") && stopped.contains("cancelled"));

    let list = get(&site, "/runs").await.body;
    for id in [runs.baseline, latest, failed, interrupted] {
        assert!(list.contains(&format!("href=\"/runs/{id}\"")));
    }

    let compare = get(
        &site,
        &format!("/compare?run={}&run={latest}&workload=hello", runs.baseline),
    )
    .await
    .body;
    assert!(compare.contains("hello on"));
    assert!(
        compare.contains("+11% better"),
        "the change from the baseline: {compare}"
    );
    assert!(
        compare.contains(r#"<td class="num better">"#),
        "a significant change is coloured"
    );

    let lessons = get(&site, "/lessons").await.body;
    assert_eq!(
        lessons.matches("badge ok").count(),
        wb_reports::claims::LESSONS.len(),
        "every lesson is supported by the fixture: {lessons}"
    );
    assert!(lessons.contains("One protocol, many loops"), "{lessons}");
    let interop = get(&site, "/lessons/one-protocol-many-loops").await.body;
    assert!(
        interop.contains("selector-on-tokio spent 80.0 µs ± 3.20 µs of CPU per request"),
        "native against adapted, from the run: {interop}"
    );
    let lesson = get(&site, "/lessons/thread-memory").await.body;
    assert!(
        lesson.contains("286 B against 22.4 KiB for a thread: 80.2× denser"),
        "{lesson}"
    );

    let live = get(&site, &format!("/runs/{latest}/live")).await.body;
    assert!(live.contains(&format!("See run {latest}")));
    let events = get(&site, &format!("/runs/{latest}/events")).await;
    assert!(
        events.body.starts_with("event: progress"),
        "{}",
        events.body
    );
    assert!(events.body.contains("\"finished\":true"));

    let csv = get(&site, &format!("/runs/{latest}/steps.csv")).await;
    assert!(csv.body.starts_with("run,engine,workload,mode,level,"));
    assert_eq!(
        csv.headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"run-{latest}-steps.csv\"").as_str()
    );
    // The run and compare pages offer the same report `workbench report` writes.
    let report = get(&site, &format!("/runs/{latest}/report.html")).await;
    assert!(
        report.body.starts_with("<!DOCTYPE html>"),
        "{}",
        &report.body[..100.min(report.body.len())]
    );
    assert_eq!(
        report.headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"report-{latest}.html\"").as_str()
    );
    assert!(
        get(&site, &format!("/runs/{latest}"))
            .await
            .body
            .contains("report.html")
    );
    let compared = get(
        &site,
        &format!("/compare/report.html?run={}&run={latest}", runs.baseline),
    )
    .await;
    assert!(compared.body.contains("<svg"));
    let json = get(&site, &format!("/runs/{latest}/run.json")).await;
    let doc: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(doc["summary"]["id"], latest.0);

    let source = get(&site, "/source/engines/selector/src/reactor.rs")
        .await
        .body;
    assert!(
        source.contains("&lt;") || source.contains("fn "),
        "escaped source"
    );
}

/// Each `<figure class="chart…" id="…">` of a page, with its markup up to the figure's end.
fn figures(page: &str) -> Vec<(&str, &str)> {
    page.match_indices("<figure class=\"chart")
        .map(|(at, _)| {
            let rest = &page[at..];
            let end = rest.find("</figure>").expect("a figure ends");
            let id_at = rest.find(" id=\"").unwrap() + 5;
            let id = &rest[id_at..id_at + rest[id_at..].find('"').unwrap()];
            (id, &rest[..end])
        })
        .collect()
}

#[tokio::test]
async fn the_guide_explains_each_idea_and_every_chart_links_to_it() {
    let site = site(true);
    let runs = site.runs.unwrap();
    let guide = get(&site, "/guide").await;
    assert_eq!(guide.status, StatusCode::OK);
    // One section per idea, each with its anchor, and the words the charts rely on.
    for (anchor, words) in [
        ("loops", "Closed loop"),
        ("littles-law", "L = λ × W"),
        ("coordinated-omission", "intended send time"),
        ("censored", "≥ X"),
        ("intervals", "inconclusive"),
        ("memory", "PSS"),
        ("placement", "lower half of the CPUs"),
        ("saturated-client", "0.9 of a core"),
        ("timelines", "listen backlog"),
    ] {
        assert!(
            guide.body.contains(&format!("<section id=\"{anchor}\"")),
            "no section {anchor}"
        );
        assert!(guide.body.contains(words), "{anchor}: {words}");
    }
    for word in ["RSS", "USS", "VSZ", "12 KiB", "8 MiB", "split", "shared"] {
        assert!(guide.body.contains(word), "{word}");
    }
    // In the main navigation of every page.
    assert!(get(&site, "/").await.body.contains("<a href=\"/guide\""));

    // Every chart on a run page, a lesson, the overview and a comparison links to the guide,
    // and to a section that exists.
    let mut pages = vec![
        format!("/runs/{}", runs.latest),
        format!("/runs/{}/charts", runs.latest),
        "/".to_string(),
        format!("/compare?run={}&run={}", runs.baseline, runs.latest),
    ];
    pages.extend(
        wb_reports::claims::LESSONS
            .iter()
            .map(|l| format!("/lessons/{}", l.slug)),
    );
    for path in pages {
        let page = get(&site, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let charts = figures(&page.body);
        if path.starts_with("/runs/") {
            assert!(charts.len() > 3, "{path} has charts");
        }
        for (id, figure) in charts {
            let at = figure
                .find("<a href=\"/guide")
                .unwrap_or_else(|| panic!("chart {id} on {path} has no link to the guide"));
            let href = &figure[at + 9..];
            let href = &href[..href.find('"').unwrap()];
            if let Some((_, anchor)) = href.split_once('#') {
                assert!(
                    guide.body.contains(&format!("id=\"{anchor}\"")),
                    "{id} on {path} links to a missing section {href}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_term_of_art_is_defined_once_and_marked_on_every_page() {
    let site = site(true);
    let guide = get(&site, "/guide").await;
    let script = get(&site, "/static/glossary.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(
        script.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    for term in wb_reports::glossary::GLOSSARY {
        // Listed on the guide with its anchor, and in the script that marks it.
        assert!(
            guide
                .body
                .contains(&format!("<dt id=\"{}\">", term.anchor())),
            "{} is not in the guide's glossary",
            term.name
        );
        assert!(script.body.contains(&term.anchor()), "{}", term.name);
    }
    // The words a first-time reader stumbled on are each some term's form.
    let forms: Vec<&str> = wb_reports::glossary::GLOSSARY
        .iter()
        .flat_map(|t| t.forms.iter().copied())
        .collect();
    for word in [
        "PSS",
        "closed loop",
        "Little's law",
        "quick suite",
        "idle connections",
        "slow readers",
        "kernel (shown apart)",
        "resolves",
        "req/s",
        "p99",
        "coordinated omission",
    ] {
        assert!(forms.contains(&word), "{word} is not in the glossary");
    }
    // Every page loads the script.
    for path in [
        "/", "/runs", "/lessons", "/guide", "/new", "/compare", "/engines",
    ] {
        let page = get(&site, path).await;
        assert!(page.body.contains("/static/glossary.js"), "{path}");
    }
}

#[tokio::test]
async fn the_api_has_its_documented_shape() {
    let site = site(true);
    let runs = site.runs.unwrap();
    let list: serde_json::Value =
        serde_json::from_str(&get(&site, "/api/runs").await.body).unwrap();
    assert_eq!(list["api_version"], 1);
    let entries = list["runs"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["id"], runs.interrupted.0, "newest first");
    for key in [
        "id",
        "status",
        "started_at",
        "finished_at",
        "suite",
        "engines",
        "workloads",
        "steps",
        "message",
        "machine",
        "started",
        "finished",
        "duration_secs",
        "links",
    ] {
        assert!(entries[0].get(key).is_some(), "no {key} in {}", entries[0]);
    }
    assert_eq!(
        entries[0]["links"]["json"],
        format!("/api/runs/{}", runs.interrupted)
    );

    let run: serde_json::Value =
        serde_json::from_str(&get(&site, &format!("/api/runs/{}", runs.latest)).await.body)
            .unwrap();
    assert_eq!(run["api_version"], 1);
    assert_eq!(run["summary"]["status"], "completed");
    assert!(run["config"]["workloads"].as_array().unwrap().len() >= 6);
    assert!(run["calibration"]["rounds_per_us"].as_f64().unwrap() > 0.0);
    let step = &run["steps"][0];
    for key in [
        "engine", "workload", "mode", "level", "load", "derived", "flags",
    ] {
        assert!(step.get(key).is_some(), "no {key} in a step");
    }

    let progress: serde_json::Value = serde_json::from_str(
        &get(&site, &format!("/api/runs/{}/progress", runs.interrupted))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(progress["status"], "interrupted");
    assert_eq!(progress["finished"], true);
    assert_eq!(progress["steps_done"], 2);

    let bad = get(&site, "/api/runs/abc").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("\"error\""));
    assert_eq!(
        get(&site, "/api/runs/999").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_page_answers_on_an_empty_store() {
    let site = site(false);
    for path in [
        "/",
        "/runs",
        "/compare",
        "/new",
        "/lessons",
        "/engines",
        "/api",
        "/api/runs",
    ] {
        let answer = get(&site, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
    }
    let overview = get(&site, "/").await.body;
    assert!(overview.contains("No completed run yet"));
    assert!(overview.contains("cargo run --release"), "says what to run");
    assert!(overview.contains("<svg"), "empty-state charts");
    assert!(
        get(&site, "/runs")
            .await
            .body
            .contains("No runs in the store yet")
    );
    for lesson in wb_reports::claims::LESSONS {
        let page = get(&site, &format!("/lessons/{}", lesson.slug)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("No data yet"), "{}", lesson.slug);
        assert!(page.body.contains(&wb_reports::claims::hint(lesson)));
    }
    let api: serde_json::Value = serde_json::from_str(&get(&site, "/api/runs").await.body).unwrap();
    assert_eq!(api["runs"], serde_json::json!([]));
    assert_eq!(get(&site, "/runs/1").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn text_from_the_store_is_escaped() {
    let site = site(true);
    let page = get(&site, &format!("/runs/{}", site.runs.unwrap().latest))
        .await
        .body;
    assert!(!page.contains(fixture::HOSTILE_TEXT));
    assert!(page.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; friends"));
}

#[tokio::test]
async fn unknown_things_are_404_and_malformed_ones_400() {
    let site = site(true);
    for path in [
        "/nothing-here",
        "/runs/999",
        "/runs/999/live",
        "/lessons/no-such-lesson",
        "/source/etc/passwd",
        "/source/../../etc/passwd",
    ] {
        assert_eq!(
            get(&site, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for path in [
        "/runs/abc",
        "/runs/1x/steps.csv",
        "/compare?run=one&run=2",
        "/compare?run=1&run=2&run=3&run=4&run=5&run=6&run=7",
        "/compare?run=1&run=2&workload=nope",
    ] {
        let answer = get(&site, path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
    }
}

#[tokio::test]
async fn a_foreign_host_is_refused_whatever_the_route() {
    let site = site(true);
    for host in [
        "evil.example:8080",
        "evil.example",
        "localhost.evil.example",
    ] {
        for path in ["/", "/api/runs", "/new"] {
            let request = Request::get(path)
                .header(header::HOST, host)
                .body(Body::empty())
                .unwrap();
            let answer = send(site.dashboard.router(), request).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{host} {path}");
            assert!(answer.body.contains("answers only to its own address"));
        }
    }
    for host in ["localhost:8080", "[::1]:8080", "127.0.0.1:9999"] {
        let request = Request::get("/")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            send(site.dashboard.router(), request).await.status,
            StatusCode::OK,
            "{host}"
        );
    }
}

#[tokio::test]
async fn state_changes_need_the_token_and_the_dashboards_origin() {
    let site = site(true);
    let form = "engine=selector&workload=hello";
    let with = with_token(&site, form);
    let with = with.as_str();
    let cases = [
        ("no token", form, vec![("origin", ORIGIN)]),
        (
            "a wrong token",
            "token=0000&engine=selector&workload=hello",
            vec![("origin", ORIGIN)],
        ),
        (
            "a foreign origin",
            with,
            vec![("origin", "http://evil.example")],
        ),
        (
            "a foreign referer",
            with,
            vec![("referer", "http://evil.example/page")],
        ),
        ("neither origin nor referer", with, vec![]),
    ];
    for (what, body, headers) in &cases {
        for path in ["/runs", "/runs/2/cancel"] {
            let answer = post(&site, path, body, headers).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{what} on {path}");
        }
    }
    // The token in a header is as good as in the form.
    let answer = post(
        &site,
        "/runs",
        "engine=selector&workload=nope",
        &[
            ("origin", ORIGIN),
            ("x-dashboard-token", site.dashboard.token()),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    // The New run page carries the token.
    assert!(
        get(&site, "/new")
            .await
            .body
            .contains(site.dashboard.token())
    );
}

#[tokio::test]
async fn parameters_beyond_the_caps_are_refused_with_400() {
    let site = site(true);
    let cases = [
        (
            "engine=selector&workload=hello&max_level=99999999",
            "levels up to",
        ),
        ("engine=selector&workload=hello&max_level=0", "levels up to"),
        (
            "engine=selector&workload=hello&step_secs=60",
            "seconds per step",
        ),
        (
            "engine=selector&workload=hello&step_secs=abc",
            "seconds per step",
        ),
        (
            "engine=selector&workload=../../etc/passwd",
            "not a built-in workload",
        ),
        ("engine=nginx&workload=hello", "not an engine"),
        ("workload=hello", "choose at least one engine"),
        ("engine=selector", "choose at least one workload"),
        ("engine=selector&workload=hello&suite=huge", "not a suite"),
    ];
    for (form, says) in cases {
        let answer = post(
            &site,
            "/runs",
            &with_token(&site, form),
            &[("origin", ORIGIN)],
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{form}");
        assert!(answer.body.contains(says), "{form}: {}", answer.body);
    }
    // Everything at once runs too long for the dashboard.
    let all: String = wb_model::engines::ENGINES
        .iter()
        .map(|e| format!("engine={}&", e.label))
        .chain(
            wb_model::spec::PRESETS
                .iter()
                .map(|(n, _)| format!("workload={n}&")),
        )
        .collect();
    let answer = post(
        &site,
        "/runs",
        &with_token(&site, &format!("{all}suite=full&step_secs=10")),
        &[("origin", ORIGIN)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("beyond the dashboard&#39;s cap"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn cancelling_a_run_that_is_not_running_here_goes_to_its_page() {
    let site = site(true);
    let latest = site.runs.unwrap().latest;
    let answer = post(
        &site,
        &format!("/runs/{latest}/cancel"),
        &with_token(&site, ""),
        &[("origin", ORIGIN)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers[header::LOCATION],
        format!("/runs/{latest}").as_str()
    );
    let missing = post(
        &site,
        "/runs/999/cancel",
        &with_token(&site, ""),
        &[("origin", ORIGIN)],
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// The figure of a chart on a page: from its `<figure … id="ID">` to its `</figure>`.
fn figure<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let start = page[..at].rfind("<figure").unwrap();
    let end = at + page[at..].find("</figure>").unwrap();
    &page[start..end]
}

/// The cells of the data-table row of `engine` at `level` in a figure.
fn row(figure: &str, engine: &str, level: u64) -> Vec<String> {
    let needle = format!("<tr><td>{engine}</td><td>{level}</td>");
    let at = figure
        .find(&needle)
        .unwrap_or_else(|| panic!("no row {engine} {level}"));
    let end = at + figure[at..].find("</tr>").unwrap();
    figure[at..end]
        .split("<td>")
        .skip(1)
        .map(|c| c.trim_end_matches("</td>").to_string())
        .collect()
}

/// The fixture's known failure cases show on the run page, each under its own chart: the
/// pool at 16 hello connections where 13 clients waited unanswered, the pool's 3 answers on
/// big-response, and the pool's unanswered probes on slowloris, a gap and "—", never a 0.
#[tokio::test]
async fn the_run_page_explains_each_failure_under_its_chart_and_draws_none_as_zero() {
    let site = site(true);
    let runs = site.runs.unwrap();
    let answer = get(&site, &format!("/runs/{}", runs.latest)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let page = &answer.body;

    let hello = figure(page, "hello-latency");
    assert!(
        hello.contains("pool at 16 connections: 13 of 16 connections waited the whole step"),
        "{hello}"
    );
    let pool16 = row(hello, "pool", 16);
    assert!(
        pool16.last().unwrap().contains("13 of 16 waited"),
        "{pool16:?}"
    );
    let p99: f64 = pool16[4].parse().expect("a p99 drawn as a figure");
    assert!(p99 > 0.0, "{pool16:?}");

    let big = figure(page, "big-response-latency");
    assert!(
        big.contains("pool at 100 connections: only 3 answers"),
        "{big}"
    );
    let pool100 = row(big, "pool", 100);
    assert!(pool100.last().unwrap().contains("only 3 answers"));
    assert_ne!(pool100[4], "0", "{pool100:?}");

    let slow = figure(page, "slowloris-latency");
    assert!(
        slow.contains("\nno probe answered\n</text>"),
        "a labelled gap"
    );
    assert!(slow.contains("pool at 10 and 100 slow clients: nothing was answered"));
    for level in [10, 100] {
        let cells = row(slow, "pool", level);
        assert_eq!(cells[2..7], ["—", "—", "—", "—", "—"], "{cells:?}");
    }
    // The flags paragraph names every flag the notes use.
    let at = page.find("id=\"flags\"").expect("the flags paragraph");
    let flags = &page[at..at + page[at..].find("</p>").unwrap()];
    for flag in [
        "failed",
        "no answers",
        "level not reached",
        "client saturated",
        "connections waited unanswered",
        "only N answers",
        "≥ (at least)",
        "Little's law off",
    ] {
        assert!(flags.contains(&format!("{flag}</span>")), "{flag}");
    }
}
