//! The dashboard in a real browser: Debian's chromium, driven through chromedriver
//! (fantoccini). It opens the overview of an empty store, starts a tiny run from the New run
//! page, watches the progress page reach the end, opens the run's page, finds its charts,
//! presses a legend button to hide a series and again to show it, focuses a glossary term to
//! see its definition, and saves a screenshot
//! (`target/tmp/dashboard-run.png`).
//!
//! Without chromium and chromedriver the test is skipped with a message, except under
//! `CI=true`, where it fails: CI installs them (`apt-get install chromium chromium-driver`).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SIGTERM first, so `workbench serve` cancels its run and its engines stop.
        let pid = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the browser is here; if not, fails under CI and says how to skip otherwise.
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "the browser test needs {} (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    false
}

/// Starts `workbench serve` on a free port and returns it with the address it printed.
fn serve(db: &Path) -> (Killed, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start workbench serve");
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("workbench serve prints its address");
    let addr = line
        .strip_prefix("Dashboard: http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

/// Starts chromedriver on a free port and waits until it accepts connections.
fn chromedriver() -> (Killed, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let child = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

async fn browser(port: u16, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,1600",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromedriver session")
}

/// Polls `check` until it is true or `secs` have passed.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_run_from_the_new_run_page_ends_in_charts() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = serve(&dir.path().join("store.db"));
    let (_driver, port) = chromedriver();
    let client = browser(port, &dir.path().join("profile")).await;
    let base = format!("http://{addr}");
    let result = drive(&client, &base).await;
    let _ = client.close().await;
    let shot = result.unwrap();
    println!("screenshot: {}", shot.display());
}

async fn drive(c: &Client, base: &str) -> Result<PathBuf, fantoccini::error::CmdError> {
    // The overview of an empty store says what to run.
    c.goto(&format!("{base}/")).await?;
    let body = c.find(Locator::Css("main")).await?.text().await?;
    assert!(body.contains("No completed run yet"), "{body}");

    // New run: the selector only, hello only, two short levels.
    c.find(Locator::LinkText("New run")).await?.click().await?;
    assert!(c.current_url().await?.path().ends_with("/new"));
    for engine in c
        .find_all(Locator::Css("input[name=engine]:checked"))
        .await?
    {
        if engine.attr("value").await?.as_deref() != Some("selector") {
            engine.click().await?;
        }
    }
    if c.find_all(Locator::Css("input[name=engine][value=selector]:checked"))
        .await?
        .is_empty()
    {
        c.find(Locator::Css("input[name=engine][value=selector]"))
            .await?
            .click()
            .await?;
    }
    for workload in c
        .find_all(Locator::Css("input[name=workload]:checked"))
        .await?
    {
        if workload.attr("value").await?.as_deref() != Some("hello") {
            workload.click().await?;
        }
    }
    c.find(Locator::Id("max_level"))
        .await?
        .send_keys("16")
        .await?;
    c.find(Locator::Id("step_secs"))
        .await?
        .send_keys("0.5")
        .await?;
    c.find(Locator::Id("start")).await?.click().await?;

    // The progress page, until the run ends.
    eventually(30, "the live page", || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.path().ends_with("/live"))
    })
    .await;
    let live_url = c.current_url().await?;
    eventually(120, "the end of the run", || async {
        match c.find(Locator::Id("done")).await {
            Ok(done) => done.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    })
    .await;
    let status = c.find(Locator::Id("status-badge")).await?.text().await?;
    // (CSS shows it in capitals; the text is lower case.)
    assert_eq!(status.to_lowercase(), "completed", "at {live_url}");
    let run_bar = c
        .execute("return document.getElementById('run-bar').value;", vec![])
        .await?;
    assert_eq!(run_bar.as_f64(), Some(100.0), "the whole-run bar is full");
    // The charts filled in on the live page too.
    eventually(20, "charts on the live page", || async {
        c.find_all(Locator::Css("#live-charts figure.chart:not(.empty) svg"))
            .await
            .is_ok_and(|svgs| !svgs.is_empty())
    })
    .await;

    // The run's own page, with its charts.
    c.find(Locator::Id("see-run")).await?.click().await?;
    eventually(30, "the run page", || async {
        c.current_url()
            .await
            .is_ok_and(|u| !u.path().ends_with("/live"))
    })
    .await;
    let charts = c
        .find_all(Locator::Css("figure.chart:not(.empty) svg"))
        .await?;
    assert!(
        charts.len() >= 3,
        "hello has three charts, found {}",
        charts.len()
    );
    let heading = c.find(Locator::Css("h1")).await?.text().await?;
    assert!(heading.to_lowercase().contains("completed"), "{heading}");

    // A legend button hides its series: pressed, it reads aria-pressed=false and every mark
    // of its colour in its figure's drawings is hidden; pressed again, they are back.
    let button = c
        .find(Locator::Css("figure.chart ul.chart-legend button.series"))
        .await?;
    assert_eq!(button.attr("aria-pressed").await?.as_deref(), Some("true"));
    button.click().await?;
    assert_eq!(button.attr("aria-pressed").await?.as_deref(), Some("false"));
    let marks = |hidden: bool| {
        format!(
            "var b = document.querySelector('figure.chart ul.chart-legend button.series');\n\
             var color = b.dataset.color.toLowerCase();\n\
             var marks = Array.from(b.closest('figure.chart').querySelectorAll('svg *'))\n\
               .filter(function (el) {{ return [el.getAttribute('stroke'), el.getAttribute('fill')]\n\
                 .some(function (c) {{ return (c || '').toLowerCase() === color; }}); }});\n\
             var wrong = marks.filter(function (el) {{\n\
               return (getComputedStyle(el).display === 'none') !== {hidden}; }});\n\
             return [marks.length, wrong.length];"
        )
    };
    let counts = c.execute(&marks(true), vec![]).await?;
    let counts: Vec<u64> = serde_json::from_value(counts).unwrap();
    assert!(
        counts[0] > 0,
        "the series has marks of its colour: {counts:?}"
    );
    assert_eq!(
        counts[1], 0,
        "every mark of the hidden series is hidden: {counts:?}"
    );
    button.click().await?;
    assert_eq!(button.attr("aria-pressed").await?.as_deref(), Some("true"));
    let counts: Vec<u64> = serde_json::from_value(c.execute(&marks(false), vec![]).await?).unwrap();
    assert_eq!(counts[1], 0, "shown again: {counts:?}");

    // The glossary marks its terms where they appear: the run page speaks of a level, a
    // step, req/s… Focused (a tap, or the keyboard), a term shows its definition.
    eventually(10, "the glossary's marks", || async {
        c.find(Locator::Css("main abbr.term")).await.is_ok()
    })
    .await;
    let term = c.find(Locator::Css("main abbr.term")).await?;
    let definition = term.attr("data-definition").await?.unwrap_or_default();
    assert!(definition.len() > 20, "a definition: {definition:?}");
    assert_eq!(
        term.attr("title").await?.as_deref(),
        Some(definition.as_str())
    );
    let shown: String = serde_json::from_value(
        c.execute(
            "var t = document.querySelector('main abbr.term'); t.focus(); \
             return getComputedStyle(t, '::after').content;",
            vec![],
        )
        .await?,
    )
    .unwrap();
    assert!(shown.len() > 20, "the definition shows on focus: {shown:?}");

    let png = c.screenshot().await?;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-run.png");
    std::fs::write(&path, png).expect("save the screenshot");
    Ok(path)
}
