//! The guards of a local tool that can start load on its machine.
//!
//! A dashboard on `127.0.0.1` is still reachable from every web page the same person has open:
//! a page on any site can make the browser send a `POST` to `http://127.0.0.1:8080/runs`
//! (cross-site request forgery), and a site whose name suddenly resolves to `127.0.0.1` can
//! read the dashboard's answers as if they were its own (DNS rebinding). Three checks, in
//! one middleware ([`guard`]) that every route passes through, close both doors:
//!
//! 1. **Host.** Every request must name the dashboard in its `Host` header: an IP address
//!    (`127.0.0.1:8080`, `[::1]:8080`, the address it was started on) or `localhost`. A
//!    rebinding attack's requests carry the attacker's host name, and get `403`.
//! 2. **Origin.** A state-changing request (anything but `GET` and `HEAD`: starting and
//!    cancelling runs) must come from the dashboard's own pages: its `Origin` header (or,
//!    when a browser sends none, its `Referer`) must be `http://` + the `Host` it names.
//! 3. **Token.** It must also carry the page's token: a random value made when the dashboard
//!    starts and written into its forms (`token` field, or an `X-Dashboard-Token` header). A
//!    page elsewhere cannot read it.
//!
//! # Beyond this machine
//!
//! A dashboard that listens where other machines can reach it (`workbench serve --listen
//! 0.0.0.0:8080 --allow-remote`) is open to everyone on that network, not only to pages in
//! its owner's browser, so reading is guarded too, the way Jupyter guards a notebook server:
//!
//! 4. **Access secret.** Every request — page, API, asset, form — must carry a second
//!    random value, made when the dashboard starts and printed once on its terminal inside
//!    the address to open (`http://host:8080/?token=…`). The guard takes it from that query
//!    parameter (and then sets it as a cookie, `HttpOnly` so no script reads it and
//!    `SameSite=Strict` so no other site's page makes the browser send it), from the cookie
//!    on every later request, or from an `Authorization: Bearer …` header for scripts.
//!    Without it the answer is `401` and a page saying where the address is.
//!
//! With the secret in place, the host check is relaxed to any name: a DNS-rebinding page is
//! on another origin, which holds no cookie and does not know the secret, and the machine's
//! own name is what a colleague types. The origin and form-token checks still guard every
//! `POST`. Without `--allow-remote` none of this applies and nothing changes on loopback.
//!
//! Every answer also gets headers that keep it in its own tab and its own scripts: a
//! `Content-Security-Policy` allowing only the dashboard's own script and no frames,
//! `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin`.

use std::net::IpAddr;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The largest form body a state-changing request may carry.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The header a script may send the token in, instead of a form field.
pub const TOKEN_HEADER: &str = "x-dashboard-token";

/// The query parameter that carries the access secret in the printed address (Jupyter's
/// name for it).
pub const ACCESS_PARAM: &str = "token";

/// The name of the cookie that keeps the access secret: the port is part of it, because
/// browsers share cookies across the ports of one host, and two dashboards on one machine
/// must not overwrite each other's.
pub fn access_cookie_name(listen: std::net::SocketAddr) -> String {
    format!("workbench_access_{}", listen.port())
}

/// The content security policy of every page: own scripts and styles only (inline `style`
/// attributes allowed: the charts' SVG uses them), no frames, forms post only here.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; \
                   base-uri 'none'";

/// A fresh random token: 128 bits as 32 hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware: checks the host on every request and the origin and token on every
/// state-changing one, then adds the security headers to the answer — to every answer, the
/// guard's own refusals (`401`, `403`, `413`) and redirects included.
///
/// It runs on the request head alone: the access secret, the host and the origin are checked
/// before anything reads the body, and only a `POST` that passed them has its form read (at
/// most [`MAX_FORM_BYTES`]) for the form token.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = check(&state, request, next).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The checks of [`guard`], then the handler: its answer, or the refusal.
async fn check(state: &AppState, request: Request, next: Next) -> Response {
    let host = request_host(&request);
    let request = match state.inner.access.as_deref() {
        None => request,
        Some(secret) => match check_access(state, secret, request) {
            Some((request, false)) => request,
            // The secret came in the address: it is exchanged for the cookie, and the
            // browser sent on to the same address without it, so that it leaves the address
            // bar, the history and any `Referer`.
            Some((request, true)) => {
                return exchange_for_cookie(state, secret, request, next).await;
            }
            None => return access_denied(),
        },
    };
    let remote = state.inner.access.is_some();
    if !remote && !host.as_deref().is_some_and(host_allowed) {
        return forbidden(&format!(
            "This dashboard answers only to its own address, and this request named {}. \
             Open it by IP address (http://{}/) or as localhost.",
            host.as_deref()
                .map_or("no host".to_string(), |h| format!("the host {h:?}")),
            state.inner.listen
        ));
    }
    let request = if is_safe(request.method()) {
        request
    } else {
        let host = host.unwrap_or_default();
        match check_state_change(state, &host, request).await {
            Ok(request) => request,
            Err(response) => return response,
        }
    };
    next.run(request).await
}

/// The answer to a request whose address carried the valid access secret (`?token=…`, already
/// taken out of `request`'s address by [`check_access`]): a `GET` or `HEAD` is sent to the
/// same address without it (`303 See Other`, not cached) with the cookie set; any other method
/// is answered in place (its body cannot follow a redirect), with the cookie set.
async fn exchange_for_cookie(
    state: &AppState,
    secret: &str,
    request: Request,
    next: Next,
) -> Response {
    let mut response = if is_safe(request.method()) {
        let target = request
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(location) = HeaderValue::from_str(&target) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    } else {
        // A form posted to an address with the secret in it: checked as any other.
        let host = request_host(&request).unwrap_or_default();
        match check_state_change(state, &host, request).await {
            Ok(request) => next.run(request).await,
            Err(response) => response,
        }
    };
    if let Some(cookie) = access_cookie(state, secret) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The access check of a dashboard started with `--allow-remote` (see the [module
/// docs](self)): the secret from the query, the cookie or an `Authorization: Bearer` header.
/// Hands the request back with the secret taken out of its query (handlers never see it),
/// and whether it came from the query; `None` if it carries no valid secret.
fn check_access(state: &AppState, secret: &str, mut request: Request) -> Option<(Request, bool)> {
    let matches = |given: &str| constant_time_eq(given.as_bytes(), secret.as_bytes());
    let query = request.uri().query().unwrap_or_default();
    let from_query = form_urlencoded::parse(query.as_bytes())
        .any(|(key, value)| key == ACCESS_PARAM && matches(&value));
    let cookie_name = access_cookie_name(state.inner.listen);
    let from_cookie = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == cookie_name && matches(value));
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_credentials)
        .is_some_and(matches);
    if !(from_query || from_cookie || from_header) {
        return None;
    }
    // Taken out of the query, so that no handler sees it and no page echoes it.
    let is_access = |pair: &&str| pair.split('=').next() == Some(ACCESS_PARAM);
    if query.split('&').any(|pair| is_access(&pair)) {
        let kept: Vec<&str> = query.split('&').filter(|p| !is_access(p)).collect();
        let path = request.uri().path();
        let path_and_query = if kept.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        let mut parts = request.uri().clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    Some((request, from_query))
}

/// The credentials of an `Authorization: Bearer …` value. The scheme is matched without
/// regard to case (RFC 9110 §11.1: `bearer`, `BEARER` and `Bearer` are one scheme), and
/// separated from its credentials by one or more spaces.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim_start())
}

/// The `401` answer to a request without the access secret: what to open instead.
fn access_denied() -> Response {
    let mut response = crate::pages::error_page(
        StatusCode::UNAUTHORIZED,
        "Access token needed",
        "This dashboard was started with --allow-remote or --token, so every page needs its \
         access token. Open the address its terminal printed when it started (it ends in \
         ?token=…); your browser then keeps the token in a cookie. Scripts may send it as \
         an Authorization: Bearer header.",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"workbench dashboard\""),
    );
    response
}

/// The `Set-Cookie` value that keeps the access secret: only for this dashboard's pages
/// (`Path=/`), never readable by a script (`HttpOnly`), never sent by a request another
/// site starts (`SameSite=Strict`); it lasts as long as the browser session.
fn access_cookie(state: &AppState, secret: &str) -> Option<HeaderValue> {
    let name = access_cookie_name(state.inner.listen);
    // The secret is hex and the name ASCII: always a valid header value.
    HeaderValue::from_str(&format!(
        "{name}={secret}; Path=/; HttpOnly; SameSite=Strict"
    ))
    .ok()
}

fn is_safe(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// The host a request names: its `Host` header, or the authority of an absolute URI.
fn request_host(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

/// Whether a `Host` value names this dashboard: `localhost` or an IP address, with any port.
///
/// Any IP literal is safe here: DNS rebinding needs a *name* that resolves to this machine,
/// and a page on another origin cannot read answers sent to an IP address's origin.
pub fn host_allowed(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]:8080`
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        },
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

/// The origin and token checks of a `POST`; hands the request back, body intact.
async fn check_state_change(
    state: &AppState,
    host: &str,
    request: Request,
) -> Result<Request, Response> {
    if !same_origin(request.headers(), host) {
        return Err(forbidden(
            "This request did not come from the dashboard's own pages (its Origin does not \
             match), so it was refused. Start and cancel runs from the dashboard itself.",
        ));
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is larger than the dashboard accepts.",
            )
                .into_response()
        })?;
    let from_header = parts
        .headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let from_form = form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned());
    let given = from_header.or(from_form).unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), state.inner.token.as_bytes()) {
        return Err(forbidden(
            "This request did not carry the dashboard's token, so it was refused. Reload the \
             page and try again: the token changes each time the dashboard starts.",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Whether `Origin` (or, without it, `Referer`) is `http://{host}`.
fn same_origin(headers: &HeaderMap, host: &str) -> bool {
    let own = format!("http://{host}");
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&own));
    }
    headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .is_some_and(|r| {
            r.get(..own.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(&own))
                && matches!(r.as_bytes().get(own.len()), None | Some(b'/'))
        })
}

/// Compares without stopping at the first difference, so timing does not tell how much of a
/// guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `403` page saying why.
fn forbidden(why: &str) -> Response {
    crate::pages::error_page(StatusCode::FORBIDDEN, "Forbidden", why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_addresses_or_localhost() {
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "[::1]",
            "192.168.1.5:8080",
        ] {
            assert!(host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8080",
            "[::1]x",
            "",
        ] {
            assert!(!host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn origins_must_match_the_host() {
        let mut h = HeaderMap::new();
        assert!(!same_origin(&h, "127.0.0.1:8080"));
        h.insert(
            header::REFERER,
            "http://127.0.0.1:8080/new".parse().unwrap(),
        );
        assert!(same_origin(&h, "127.0.0.1:8080"));
        h.insert(
            header::REFERER,
            "http://127.0.0.1:80800/new".parse().unwrap(),
        );
        assert!(!same_origin(&h, "127.0.0.1:8080"));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h, "127.0.0.1:8080"));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h, "127.0.0.1:8080"));
    }

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc", " BeArEr abc "] {
            assert_eq!(bearer_credentials(value), Some("abc"), "{value:?}");
        }
        for value in ["Basic abc", "Bearerabc", "Bearer", "abc"] {
            assert_ne!(bearer_credentials(value), Some("abc"), "{value:?}");
        }
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(constant_time_eq(a.as_bytes(), a.as_bytes()));
        assert!(!constant_time_eq(a.as_bytes(), b.as_bytes()));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
