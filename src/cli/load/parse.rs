//! The values `workbench load` takes from the command line: durations (`5s`, `500ms`,
//! `2m`), header fields (`Name: value`) and methods (RFC 9110 tokens).

use std::time::Duration;

use super::{MAX_DURATION, MAX_WAIT, MIN_DURATION};

/// A duration as wrk and oha write it: `5s`, `500ms`, `2m`, `1h`, `250us`, or plain seconds
/// (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let units: [(&str, f64); 6] = [
        ("ms", 1e-3),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    let (number, scale) = units
        .iter()
        .find_map(|(unit, scale)| t.strip_suffix(unit).map(|n| (n, *scale)))
        .unwrap_or((t, 1.0));
    let bad = || format!("{text:?} is not a duration: write 5s, 500ms, 2m or plain seconds");
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(value * scale).map_err(|_| bad())
}

/// `-d`: from 100 ms to an hour.
pub(super) fn measured_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if !(MIN_DURATION..=MAX_DURATION).contains(&d) {
        return Err(format!(
            "{text} is outside 100ms to 1h; measure for at least 100ms and at most an hour"
        ));
    }
    Ok(d)
}

/// `--warmup`, `--timeout`: up to ten minutes.
pub(super) fn wait_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d > MAX_WAIT {
        return Err(format!("{text} is over 10m; use 10m or less"));
    }
    Ok(d)
}

/// An RFC 9110 token character (method and header names).
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `-H 'Name: value'`.
pub(super) fn header(text: &str) -> Result<(String, String), String> {
    let usage = "write -H 'Name: value', e.g. -H 'Accept: text/plain'";
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!("{text:?} has no colon; {usage}"));
    };
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(format!(
            "{name:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only); {usage}"
        ));
    }
    let value = value.trim();
    if value
        .bytes()
        .any(|b| (b.is_ascii_control() && b != b'\t') || b == 0x7f)
    {
        return Err(format!(
            "the value of {name} holds a control character (a line break?); {usage}"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// `-m METHOD`: a token, as sent (methods are case-sensitive).
pub(super) fn method(text: &str) -> Result<String, String> {
    if text.is_empty() || !text.bytes().all(is_tchar) {
        return Err(format!(
            "{text:?} is not an HTTP method; use GET, POST, PUT, DELETE, HEAD, …"
        ));
    }
    Ok(text.to_string())
}
