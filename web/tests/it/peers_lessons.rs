//! The peers on the dashboard: the New run form lists every peer (ready, with its versions, or
//! disabled with the command that installs it), refuses a peer that is not one, and every
//! lesson names the peers its run measured beside the engines, with the talk's figure against
//! the measurement. In process (tower's `oneshot`), on the fixture store, whose latest run has
//! asyncio and Twisted beside the engines.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use wb_web::Dashboard;
use wb_web::fixture;

use crate::util;

const HOST: &str = "127.0.0.1:8080";
const ORIGIN: &str = "http://127.0.0.1:8080";

struct Site {
    _dir: tempfile::TempDir,
    dashboard: Dashboard,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    fixture::create(&db).unwrap();
    let dashboard = Dashboard::new(util::config(db), HOST.parse().unwrap());
    Site {
        _dir: dir,
        dashboard,
    }
}

async fn send(site: &Site, request: Request<Body>) -> (StatusCode, String) {
    let answer = util::send(site.dashboard.router(), request).await;
    (answer.status, answer.body)
}

async fn get(site: &Site, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    send(site, request).await
}

/// The items of the lesson page's "Engines and peers, side by side" list.
fn side_by_side(page: &str) -> Vec<String> {
    let Some(at) = page.find("id=\"side-by-side\"") else {
        return Vec::new();
    };
    let section = &page[at..];
    let end = section.find("</ul>").unwrap_or(section.len());
    section[..end]
        .split("<li>")
        .skip(1)
        .map(|item| item.split("</li>").next().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn every_lesson_names_the_peers_beside_the_engines_and_the_talks_figure() {
    let site = site();
    for lesson in wb_reports::claims::LESSONS {
        let (status, page) = get(&site, &format!("/lessons/{}", lesson.slug)).await;
        assert_eq!(status, StatusCode::OK, "{}", lesson.slug);
        let items = side_by_side(&page);
        if lesson.workload == "db" {
            // No peer serves /db yet: no side by side.
            assert!(items.is_empty(), "{}: {items:?}", lesson.slug);
            continue;
        }
        assert_eq!(items.len(), 2, "{}: {items:?}", lesson.slug);
        let (figures, talk) = (&items[0], &items[1]);
        // Engines first, then the peers, each with its figure.
        let engines_at = figures.find("engines threads").expect(figures);
        let peers_at = figures.find("peers asyncio").expect(figures);
        assert!(engines_at < peers_at, "{}: {figures}", lesson.slug);
        assert!(figures.contains(", twisted "), "{}: {figures}", lesson.slug);
        // The talk's figure (or the PEP's, or the workbench's own claim, said as such),
        // against what the Python systems measured.
        let quoted = ["The talk says", "PEP 3156 says", "The workbench adds"];
        assert!(
            quoted.iter().any(|q| talk.starts_with(q)) && talk.contains("measured here"),
            "{}: {talk}",
            lesson.slug
        );
    }
}

#[tokio::test]
async fn the_figures_are_the_lessons_own_terms() {
    let site = site();
    let lesson = |slug: &'static str| {
        let site = &site;
        async move { side_by_side(&get(site, &format!("/lessons/{slug}")).await.1) }
    };
    // The fixture: a thread costs 22.4 KiB per idle connection, asyncio 1100 B, Twisted 2300 B.
    let memory = lesson("thread-memory").await;
    assert!(
        memory[0].starts_with("Bytes per idle connection"),
        "{memory:?}"
    );
    assert!(memory[0].contains("asyncio 1.07 KiB"), "{memory:?}");
    assert!(memory[0].contains("twisted 2.25 KiB"), "{memory:?}");
    assert!(
        memory[1].contains("Thread memory overhead: 32kB to 8MB per thread")
            && memory[1].contains("22.4 KiB per idle connection on threads")
            && memory[1].contains("on asyncio (20.9× less)"),
        "{memory:?}"
    );
    // The talk's "one loop, one core" against the Python loops' cores.
    let cpu = lesson("cpu-parallelism").await;
    assert!(
        cpu[1].contains("Concurrency, not parallelism")
            && cpu[1].contains("asyncio 0.97 cores")
            && cpu[1].contains("twisted 0.97 cores"),
        "{cpu:?}"
    );
    // Waits overlapped, by Little's law, for the event loops.
    let db = lesson("db-wait").await;
    assert!(db[0].starts_with("Requests per second at"), "{db:?}");
    assert!(db[1].contains("asyncio about"), "{db:?}");
}

#[test]
fn a_run_without_peers_says_how_to_add_them() {
    // The baseline run (hello and db-wait, engines only) is older than the latest, so the
    // db-wait lesson reads the latest; the engines-only sentence is checked on the module.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let runs = fixture::create(&db).unwrap();
    let store = wb_reports::store::Store::open(&db).unwrap();
    let baseline = store.run(runs.baseline).unwrap().unwrap();
    let lesson = wb_reports::claims::find("db-wait").unwrap();
    let sentences = wb_web::side_by_side::side_by_side(lesson, &baseline);
    assert!(sentences[0].contains("engines threads"), "{sentences:?}");
    assert!(!sentences[0].contains("peers"), "{sentences:?}");
    assert!(
        sentences[1].contains("--peers asyncio,twisted") && sentences[1].contains("New run"),
        "{sentences:?}"
    );
    assert!(sentences[2].starts_with("The talk says"), "{sentences:?}");
}

#[tokio::test]
async fn the_new_run_form_offers_every_peer_ready_or_with_its_install_command() {
    let site = site();
    let (status, page) = get(&site, "/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<legend>Peers</legend>"));
    use wb_runner::peers::PeerLaunch as _;
    for peer in wb_runner::peers::all() {
        let input = format!("name=\"peer\" value=\"{}\"", peer.name);
        let at = page
            .find(&input)
            .unwrap_or_else(|| panic!("{} is not on the form", peer.name));
        let label = &page[at..at + page[at..].find("</label>").unwrap()];
        match peer.readiness() {
            // Ready here: a box to tick, and the versions it runs on.
            Ok(()) => {
                assert!(!label.contains("disabled"), "{label}");
                assert!(
                    label.contains("python") || label.contains("nginx"),
                    "{label}"
                );
            }
            // Not installed here: disabled, with the command that installs it.
            Err(_) => {
                assert!(label.contains("disabled"), "{label}");
                assert!(
                    label.contains(peer.requirement.install_command()),
                    "{label}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_form_with_an_unknown_peer_is_refused_with_400() {
    let site = site();
    let body = format!(
        "token={}&engine=selector&peer=apache&workload=hello",
        site.dashboard.token()
    );
    let request = Request::post("/runs")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let (status, page) = send(&site, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("peer:"), "{page}");
    assert!(page.contains("twisted-uvloop"), "{page}");
}
