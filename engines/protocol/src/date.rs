//! The `Date` header: the current time as an IMF-fixdate (RFC 9110 §5.6.7), cached per second.
//!
//! RFC 9110 §6.6.1 says an origin server with a clock must send `Date` on every response.
//! Formatting a date on every response would cost more than the rest of a `GET /hello`, so
//! servers cache it: nginx refreshes `ngx_cached_http_time` once a second on its timer, hyper
//! keeps a `CachedDate` per thread and renders it again when the second changes. This module
//! does what hyper does: each thread keeps the last second it formatted and its 29 bytes, and
//! formats again only when [`SystemTime::now`] has moved to another second. So an engine
//! formats at most once a second per thread that answers requests (once a second in all for
//! the one-threaded selector and each pool worker), and a response pays one `clock_gettime`
//! (a vDSO call, no system call) and a 29-byte copy.
//!
//! An IMF-fixdate always has 29 bytes (`Sun, 06 Nov 1994 08:49:37 GMT`), so every response
//! keeps a fixed length, and two answers to the same request differ at most in those 29 bytes:
//! [`masked`] blanks them out for byte-for-byte comparisons (the conformance suite's).

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes in an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// What [`mask`] writes over every `Date` value: the Unix epoch, a date no live clock shows.
pub const MASK: &[u8; DATE_LEN] = b"Thu, 01 Jan 1970 00:00:00 GMT";

/// `time` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (formatted by the
/// `httpdate` crate, hyper's).
pub fn format(time: SystemTime) -> [u8; DATE_LEN] {
    let text = httpdate::fmt_http_date(time);
    let mut out = *MASK;
    // httpdate always renders 29 ASCII bytes (years 1970 to 9999); a time outside that range
    // keeps the mask rather than a malformed header.
    if text.len() == DATE_LEN {
        out.copy_from_slice(text.as_bytes());
    }
    out
}

thread_local! {
    /// The second last formatted on this thread (since the Unix epoch) and its text.
    /// `u64::MAX` means "never": no real clock is that far from the epoch.
    static CACHED: Cell<(u64, [u8; DATE_LEN])> = const { Cell::new((u64::MAX, *MASK)) };
}

/// The current time as an IMF-fixdate, formatted at most once a second on this thread.
pub fn now() -> [u8; DATE_LEN] {
    let time = SystemTime::now();
    // A clock set before 1970 is not a clock to trust: answer with the epoch.
    let second = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let (at, text) = cached.get();
        if at == second {
            return text;
        }
        let text = format(time);
        cached.set((second, text));
        text
    })
}

/// Overwrites the value of every `Date` header line in `bytes` with [`MASK`], so that two
/// answers sent in different seconds compare equal. Only a value of exactly 29 bytes after
/// `\r\nDate: ` and before `\r\n` counts: body bytes that happen to look like a header are
/// left alone unless they match that shape too (none of this workbench's bodies can).
pub fn mask(bytes: &mut [u8]) {
    const NAME: &[u8] = b"\r\nDate: ";
    let mut at = 0;
    while at + NAME.len() + DATE_LEN + 2 <= bytes.len() {
        let value = at + NAME.len();
        if bytes[at..].starts_with(NAME) && bytes[value + DATE_LEN..].starts_with(b"\r\n") {
            bytes[value..value + DATE_LEN].copy_from_slice(MASK);
            at = value + DATE_LEN;
        } else {
            at += 1;
        }
    }
}

/// A copy of `bytes` with every `Date` value masked (see [`mask`]).
pub fn masked(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    mask(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_rfc_example_formats_exactly() {
        // RFC 9110 §5.6.7's example: 784111777 seconds after the epoch.
        let time = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(&format(time), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&format(UNIX_EPOCH), MASK);
        // Single-digit days are zero-padded, so the length never changes.
        let time = UNIX_EPOCH + Duration::from_secs(1_709_251_200); // 2024-03-01
        assert_eq!(&format(time), b"Fri, 01 Mar 2024 00:00:00 GMT");
    }

    #[test]
    fn now_is_an_imf_fixdate_of_this_second() {
        let before = SystemTime::now();
        let text = now();
        let after = SystemTime::now();
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&text).unwrap()).unwrap();
        let second = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert!(second(before) <= second(parsed) && second(parsed) <= second(after));
        assert!(text.ends_with(b" GMT"));
    }

    #[test]
    fn masking_blanks_date_values_only() {
        let mut answer = b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
            Content-Length: 3\r\n\r\nabc"
            .to_vec();
        let other = b"HTTP/1.1 200 OK\r\nDate: Mon, 07 Nov 1994 08:49:38 GMT\r\n\
            Content-Length: 3\r\n\r\nabc";
        assert_ne!(answer, other);
        assert_eq!(masked(&answer), masked(other));
        mask(&mut answer);
        assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
        // A Date value of the wrong length is not a Date header this module wrote.
        let odd = b"x\r\nDate: soon\r\n\r\n";
        assert_eq!(masked(odd), odd);
    }
}
