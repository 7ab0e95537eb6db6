//! Where a buffered request head stands, found in one pass: the scan that keeps parsing linear.
//!
//! httparse cannot resume: handed a partial head, it parses from the first byte and answers
//! `Partial`. Calling it after every read makes a head that arrives one byte per read cost the
//! square of its length (a 15 KB head: tens of milliseconds of CPU). h11 avoids this by
//! looking for the blank line from where it stopped and parsing only a complete head; hyper
//! likewise remembers how far it searched.
//!
//! The core must also answer exactly as before, byte for byte and at the same moment: a head
//! that goes wrong early (`GET\0`) is answered `400` at once, not when it ends or times out.
//! So [`HeadScan`] walks each byte once through the grammar httparse accepts with its default
//! configuration (the same character classes, leading empty lines skipped, `\n` alone accepted
//! for `\r\n`, at most [`MAX_HEADERS`] fields) and says when the answer can no longer be
//! "partial": the head ended, or a byte httparse rejects arrived. Only then does the session
//! call httparse on the whole head, once, and httparse's answer is the one given. The scan
//! only decides *when* to ask; it never decides *what* is answered.
//!
//! # Implementation
//!
//! The state is a few bytes per connection: the position scanned so far, the grammar state,
//! where the request target started (its UTF-8 is checked once, when it ends, as httparse
//! does), and the header lines seen. The session resets it whenever it consumes bytes.

use crate::limits::{MAX_HEAD_BYTES, MAX_HEADERS};

/// What the scan found in the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Every byte so far is a valid beginning of a head: httparse would answer `Partial`.
    Partial,
    /// The head is over (or httparse would reject it): ask httparse now.
    Decisive,
}

/// The grammar state before the next byte (httparse's `Request::parse`, default config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Empty lines before the request line are skipped.
    #[default]
    Lead,
    /// A `\r` of an empty leading line: `\n` must follow.
    LeadCr,
    /// Inside the method, at least one token character seen.
    Method,
    /// The first character of the request target.
    TargetStart,
    /// Inside the request target.
    Target,
    /// `HTTP/1.` and one of `0`/`1` (how many bytes of it were seen: in `HeadScan::count`).
    Version,
    /// After the version: a line end must follow.
    VersionEnd,
    /// A `\r` after the version: `\n` must follow.
    RequestLineCr,
    /// The start of a header line (or of the blank line that ends the head).
    LineStart,
    /// A `\r` at the start of a line: `\n` ends the head.
    EndCr,
    /// Inside a header name.
    Name,
    /// After the colon, before the value.
    ValueSpace,
    /// Inside a header value.
    Value,
    /// A `\r` ending a header line: `\n` must follow.
    ValueCr,
    /// The head ended or was rejected: nothing more to scan.
    Done,
}

/// How far a session's unconsumed bytes have been scanned. See the module doc.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeadScan {
    /// Bytes of the buffer already scanned (never past the head cap: see `scan`).
    pos: u16,
    /// Where the request target starts (valid in `Target`).
    target_start: u16,
    /// In `Version`, the bytes of it seen; after it, the header lines completed.
    count: u8,
    state: State,
}

/// httparse's `TOKEN_MAP`: method and header-name characters (RFC 9110 `tchar`).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// httparse's `URI_MAP`: any visible byte but DEL, and obs-text.
fn is_target(b: u8) -> bool {
    (b'!'..=0x7e).contains(&b) || b >= 0x80
}

/// httparse's `HEADER_VALUE_MAP`: HTAB, SP, visible bytes but DEL, and obs-text.
fn is_value(b: u8) -> bool {
    b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80
}

impl HeadScan {
    /// Scans the bytes of `buf` not yet scanned (`buf` starts where the scan started, and only
    /// grows between calls).
    pub(crate) fn scan(&mut self, buf: &[u8]) -> Found {
        if self.state == State::Done {
            return Found::Decisive;
        }
        // Past the head cap the session asks httparse whatever the scan says: scan no
        // further (and the positions fit in 16 bits, keeping a session small).
        let len = buf.len().min(MAX_HEAD_BYTES + 1) as u16;
        while self.pos < len {
            let b = buf[self.pos as usize];
            let next = self.step(b, buf);
            self.pos += 1;
            match next {
                Some(state) => self.state = state,
                None => {
                    self.state = State::Done;
                    return Found::Decisive;
                }
            }
        }
        Found::Partial
    }

    /// The state after `b` (at `self.pos` in `buf`), or `None` when the head is over or
    /// rejected.
    fn step(&mut self, b: u8, buf: &[u8]) -> Option<State> {
        use State::*;
        let state = match (self.state, b) {
            (Lead, b'\r') => LeadCr,
            (Lead, b'\n') | (LeadCr, b'\n') => Lead,
            (Lead, b) if is_token(b) => Method,
            (Method, b' ') => TargetStart,
            (Method, b) if is_token(b) => Method,
            (TargetStart, b) if is_target(b) => {
                self.target_start = self.pos;
                Target
            }
            (Target, b) if is_target(b) => Target,
            (Target, b' ') => {
                // httparse rejects a target that is not UTF-8 once it has read all of it.
                let target = &buf[self.target_start as usize..self.pos as usize];
                std::str::from_utf8(target).ok()?;
                self.count = 0;
                Version
            }
            (Version, b) if self.count < 7 && b == b"HTTP/1."[usize::from(self.count)] => {
                self.count += 1;
                Version
            }
            (Version, b'0' | b'1') if self.count == 7 => {
                self.count = 0;
                VersionEnd
            }
            (VersionEnd, b'\r') => RequestLineCr,
            (VersionEnd, b'\n') | (RequestLineCr, b'\n') => LineStart,
            (LineStart, b'\r') => EndCr,
            // The blank line: the head is complete.
            (LineStart, b'\n') | (EndCr, b'\n') => return None,
            (LineStart, b) if is_token(b) => Name,
            (Name, b':') => ValueSpace,
            (Name, b) if is_token(b) => Name,
            (ValueSpace, b' ' | b'\t') => ValueSpace,
            (ValueSpace | Value, b) if is_value(b) => Value,
            (ValueSpace | Value, b'\r') => ValueCr,
            (ValueSpace | Value, b'\n') | (ValueCr, b'\n') => {
                self.count = self.count.saturating_add(1);
                // httparse reads one field more than it has room for, then gives up.
                if usize::from(self.count) > MAX_HEADERS {
                    return None;
                }
                LineStart
            }
            // Anything else is a byte httparse rejects.
            _ => return None,
        };
        Some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What httparse answers for `buf`: `true` while partial.
    fn httparse_partial(buf: &[u8]) -> bool {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        matches!(
            httparse::Request::new(&mut headers).parse(buf),
            Ok(httparse::Status::Partial)
        )
    }

    /// Feeds `input` one byte at a time and checks, at every prefix, that the scan says
    /// "partial" exactly when httparse does: never later (the answer would change), never
    /// earlier (parsing would be quadratic again).
    fn agrees_with_httparse(input: &[u8]) {
        let mut scan = HeadScan::default();
        // Past the cap the session asks httparse whatever the scan says.
        for end in 0..=input.len().min(MAX_HEAD_BYTES) {
            let prefix = &input[..end];
            let partial = scan.scan(prefix) == Found::Partial;
            assert_eq!(
                partial,
                httparse_partial(prefix),
                "prefix {:?}",
                String::from_utf8_lossy(prefix)
            );
            if !partial {
                return;
            }
        }
    }

    #[test]
    fn the_corpus_and_edge_cases_agree_with_httparse() {
        for case in crate::corpus::corpus() {
            agrees_with_httparse(&case.writes.concat());
        }
        let many = "a: b\r\n".repeat(MAX_HEADERS + 1);
        for input in [
            "\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            "GET / HTTP/1.1\nHost: a\n\n".to_string(),
            "GET / HTTP/1.1\r\nHost:\r\n\r\n".to_string(),
            "GET / HTTP/1.1\r\nHost: \t a \t\r\nX:\t\r\n\r\n".to_string(),
            "GET  / HTTP/1.1\r\n\r\n".to_string(),
            "GET / HTTP/1.2\r\n\r\n".to_string(),
            "GET / http/1.1\r\n\r\n".to_string(),
            "GET / HTTP/1.1 \r\n\r\n".to_string(),
            "GET / HTTP/1.1\r\n Host: a\r\n\r\n".to_string(),
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n".to_string(),
            "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n".to_string(),
            "GET / HTTP/1.1\r\nHost: a\r\n\rx".to_string(),
            "G(T / HTTP/1.1\r\n\r\n".to_string(),
            "\rGET / HTTP/1.1\r\n\r\n".to_string(),
            format!("GET / HTTP/1.1\r\n{many}\r\n"),
            format!("GET / HTTP/1.1\r\n{}\r\n", "a: b\r\n".repeat(MAX_HEADERS)),
        ] {
            agrees_with_httparse(input.as_bytes());
        }
        // A target that is not UTF-8, and obs-text in a value.
        agrees_with_httparse(b"GET /\xff HTTP/1.1\r\n\r\n");
        agrees_with_httparse(b"GET /\xc3\xa9 HTTP/1.1\r\nX: \xff\x80\r\n\r\n");
        agrees_with_httparse(b"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n");
        agrees_with_httparse(b"GET / HTTP/1.1\r\nX: a\x00\r\n\r\n");
    }

    /// Request-like bytes: pieces of valid heads with stray bytes mixed in.
    fn head_like() -> impl Strategy<Value = Vec<u8>> {
        const PIECES: &[&[u8]] = &[
            b"GET ",
            b"POST ",
            b"/a?b=c",
            b" HTTP/1.1",
            b" HTTP/1.0",
            b"\r\n",
            b"\n",
            b"\r",
            b"Host: a",
            b"X-Y:\t v ",
            b":",
            b" ",
            b"\xc3\xa9",
        ];
        let piece = prop_oneof![
            proptest::sample::select(PIECES).prop_map(<[u8]>::to_vec),
            any::<u8>().prop_map(|b| vec![b]),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_heads_agree_with_httparse(input in head_like()) {
            agrees_with_httparse(&input);
        }
        #[test]
        fn random_bytes_agree_with_httparse(input in proptest::collection::vec(any::<u8>(), 0..64)) {
            agrees_with_httparse(&input);
        }
    }
}
