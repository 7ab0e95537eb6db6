//! A dashboard started to be reached from other machines (`workbench serve --allow-remote`,
//! [`Dashboard::with_access_secret`]): every page, API route and asset needs the access
//! secret — from `?token=` in the printed address, then from the cookie that answer sets, or
//! from an `Authorization: Bearer` header — while `POST`s still need the origin and the form
//! token. In process (tower's `oneshot`), on the fixture store.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use wb_web::Dashboard;
use wb_web::fixture::{self, FixtureRuns};

use crate::util::{Answer, config, send};

/// Where it listens: every interface, as `--listen 0.0.0.0:8080 --allow-remote` would.
const LISTEN: &str = "0.0.0.0:8080";
/// What a colleague's browser names it by.
const HOST: &str = "bench.lab.example:8080";
const ORIGIN: &str = "http://bench.lab.example:8080";
const COOKIE: &str = "workbench_access_8080";

struct Site {
    _dir: tempfile::TempDir,
    dashboard: Dashboard,
    runs: FixtureRuns,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let runs = fixture::create(&db).unwrap();
    let dashboard = Dashboard::with_access_secret(config(db), LISTEN.parse().unwrap());
    Site {
        _dir: dir,
        dashboard,
        runs,
    }
}

impl Site {
    fn secret(&self) -> &str {
        self.dashboard.access_secret().expect("a secret")
    }

    fn router(&self) -> Router {
        self.dashboard.router()
    }
}

/// A `GET` of `path` naming [`HOST`], with extra headers.
async fn get(site: &Site, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(path).header(header::HOST, HOST);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    send(site.router(), request.body(Body::empty()).unwrap()).await
}

/// Every kind of route: pages, the API, downloads, the event stream and the assets.
fn paths(runs: &FixtureRuns) -> Vec<String> {
    let latest = runs.latest;
    vec![
        "/".into(),
        "/runs".into(),
        format!("/runs/{latest}"),
        format!("/runs/{latest}/run.json"),
        format!("/runs/{latest}/steps.csv"),
        format!("/runs/{latest}/events"),
        format!("/compare?run={}&run={latest}", runs.baseline),
        "/new".into(),
        "/lessons".into(),
        "/engines".into(),
        "/api".into(),
        "/api/runs".into(),
        format!("/api/runs/{latest}"),
        "/static/style.css".into(),
        "/static/live.js".into(),
        "/no/such/page".into(),
    ]
}

#[tokio::test]
async fn without_the_secret_every_route_is_refused_with_401() {
    let site = site();
    let wrong = format!("Bearer {}", "0".repeat(32));
    let wrong_cookie = format!("{COOKIE}={}", "0".repeat(32));
    // Another dashboard's cookie (another port) is not this one's.
    let other_port = format!("workbench_access_9090={}", site.secret());
    for path in paths(&site.runs) {
        for headers in [
            vec![],
            vec![("authorization", wrong.as_str())],
            vec![("cookie", wrong_cookie.as_str())],
            vec![("cookie", other_port.as_str())],
        ] {
            let answer = get(&site, &path, &headers).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{path} {headers:?}: {}",
                answer.body
            );
            assert!(answer.body.contains("--allow-remote"), "{path}");
            assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
            has_security_headers(&answer, &path);
            assert!(!answer.body.contains(site.secret()));
            assert!(!answer.body.contains(site.dashboard.token()));
        }
        let answer = get(&site, &format!("{path}?token=1234"), &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}?token=1234");
    }
    // The POSTs too, even with the form token and the right origin.
    let form = format!(
        "token={}&engine=selector&workload=hello",
        site.dashboard.token()
    );
    for path in ["/runs", "/runs/2/cancel"] {
        let request = Request::post(path)
            .header(header::HOST, HOST)
            .header(header::ORIGIN, ORIGIN)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.clone()))
            .unwrap();
        assert_eq!(
            send(site.router(), request).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_printed_address_sets_an_httponly_strict_cookie_that_opens_every_route() {
    let site = site();
    let url = site.dashboard.access_url(LISTEN.parse().unwrap());
    let (_, path) = url
        .split_once("0.0.0.0:8080")
        .expect("the URL names the address");
    assert_eq!(path, format!("/?token={}", site.secret()));

    // The secret is exchanged for the cookie, and the browser sent on to the address without
    // it, so that it leaves the address bar.
    let first = get(&site, path, &[]).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert_eq!(first.headers[header::LOCATION], "/");
    assert_eq!(first.headers[header::CACHE_CONTROL], "no-store");
    has_security_headers(&first, path);
    let cookie = first
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a Set-Cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let pair = cookie.split(';').next().unwrap().to_string();
    assert_eq!(pair, format!("{COOKIE}={}", site.secret()));
    assert!(!first.body.contains(site.secret()));

    // With the cookie (among others, as a browser sends them), every route answers as on
    // loopback, and no cookie is set again.
    let cookies = format!("theme=dark; {pair}; other=1");
    for path in paths(&site.runs) {
        let answer = get(&site, &path, &[("cookie", cookies.as_str())]).await;
        let expected = if path == "/no/such/page" {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(answer.status, expected, "{path}: {}", answer.body);
        assert!(!answer.headers.contains_key(header::SET_COOKIE), "{path}");
        assert!(answer.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    }

    // A script sends it as a bearer token, the scheme in any case (RFC 9110).
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let bearer = format!("{scheme} {}", site.secret());
        let api = get(&site, "/api/runs", &[("authorization", bearer.as_str())]).await;
        assert_eq!(api.status, StatusCode::OK, "{scheme}");
        assert!(api.body.contains("api_version"), "{}", api.body);
    }

    // In the query beside other parameters, the secret is taken out of the address the
    // browser is sent on to, and the others kept in their order.
    let compare = get(
        &site,
        &format!(
            "/compare?run={}&token={}&run={}",
            site.runs.baseline,
            site.secret(),
            site.runs.latest
        ),
        &[],
    )
    .await;
    assert_eq!(compare.status, StatusCode::SEE_OTHER, "{}", compare.body);
    assert_eq!(
        compare.headers[header::LOCATION],
        format!(
            "/compare?run={}&run={}",
            site.runs.baseline, site.runs.latest
        )
    );
    let followed = get(
        &site,
        compare.headers[header::LOCATION].to_str().unwrap(),
        &[("cookie", pair.as_str())],
    )
    .await;
    assert_eq!(followed.status, StatusCode::OK, "{}", followed.body);
    assert!(!followed.body.contains(site.secret()));
}

/// The headers every answer carries, refusals and redirects included.
fn has_security_headers(answer: &Answer, what: &str) {
    for name in [
        header::CONTENT_SECURITY_POLICY,
        header::X_CONTENT_TYPE_OPTIONS,
        header::REFERRER_POLICY,
    ] {
        assert!(answer.headers.contains_key(&name), "{what}: no {name}");
    }
    assert_eq!(answer.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn refusals_carry_the_security_headers() {
    let site = site();
    let cookie = format!("{COOKIE}={}", site.secret());
    // 403: a POST from another origin, with the secret.
    let request = Request::post("/runs")
        .header(header::HOST, HOST)
        .header(header::COOKIE, cookie.as_str())
        .header(header::ORIGIN, "http://evil.example")
        .body(Body::empty())
        .unwrap();
    let answer = send(site.router(), request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    has_security_headers(&answer, "403 origin");
    // 403 on loopback: a host name that is not this dashboard's (DNS rebinding).
    let dir = tempfile::tempdir().unwrap();
    let local = Dashboard::new(
        config(dir.path().join("store.db")),
        "127.0.0.1:8080".parse().unwrap(),
    );
    let request = Request::get("/api/runs")
        .header(header::HOST, "evil.example:8080")
        .body(Body::empty())
        .unwrap();
    let answer = send(local.router(), request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    has_security_headers(&answer, "403 host");
    // 401 comes from the same guard; checked on every route above.
}

#[tokio::test]
async fn live_streams_are_capped_with_a_503_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let runs = fixture::create(&db).unwrap();
    let limits = wb_web::Limits {
        max_live_streams: 2,
        ..wb_web::Limits::default()
    };
    let dashboard =
        Dashboard::new(config(db), "127.0.0.1:8080".parse().unwrap()).with_limits(limits);
    let events = format!("/runs/{}/events", runs.latest);
    let open = || {
        let request = Request::get(events.as_str())
            .header(header::HOST, "127.0.0.1:8080")
            .body(Body::empty())
            .unwrap();
        tower::ServiceExt::oneshot(dashboard.router(), request)
    };
    // Two streams held open (their bodies not yet read: they stay open while held).
    let first = open().await.unwrap();
    let second = open().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    let third = open().await.unwrap();
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(third.headers().contains_key(header::RETRY_AFTER));
    assert!(
        third
            .headers()
            .contains_key(header::CONTENT_SECURITY_POLICY)
    );
    let body = axum::body::to_bytes(third.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("at most 2"));
    // One closed (its client went away): room for another.
    drop(first);
    assert_eq!(open().await.unwrap().status(), StatusCode::OK);
    drop(second);
}

#[tokio::test]
async fn with_the_secret_state_changes_still_need_the_origin_and_the_form_token() {
    let site = site();
    let cookie = format!("{COOKIE}={}", site.secret());
    let post = |body: String, origin: Option<&'static str>| {
        let mut request = Request::post("/runs")
            .header(header::HOST, HOST)
            .header(header::COOKIE, cookie.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        send(site.router(), request.body(Body::from(body)).unwrap())
    };
    // The secret alone is not the form token.
    let answer = post("engine=selector&workload=nope".into(), Some(ORIGIN)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let with_token = format!(
        "token={}&engine=selector&workload=nope",
        site.dashboard.token()
    );
    let answer = post(with_token.clone(), Some("http://evil.example")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    // Both: the form reaches its handler, which refuses the unknown workload.
    let answer = post(with_token, Some(ORIGIN)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(
        answer.body.contains("not a built-in workload"),
        "{}",
        answer.body
    );
    // The New run page hands out the form token only to a holder of the secret.
    let new = get(&site, "/new", &[("cookie", cookie.as_str())]).await;
    assert!(new.body.contains(site.dashboard.token()));
}

#[tokio::test]
async fn a_loopback_dashboard_needs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = Dashboard::new(
        config(dir.path().join("store.db")),
        "127.0.0.1:8080".parse().unwrap(),
    );
    assert_eq!(dashboard.access_secret(), None);
    assert_eq!(
        dashboard.access_url("127.0.0.1:8080".parse().unwrap()),
        "http://127.0.0.1:8080/"
    );
    let request = Request::get("/api/runs")
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let answer = send(dashboard.router(), request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(!answer.headers.contains_key(header::SET_COOKIE));
}
