//! Checking one answer as its bytes arrive, without sockets (sans-I/O, like the protocol
//! crate): the connection reads into [`AnswerReader::spare`], reports how many bytes came
//! with [`AnswerReader::received`], and learns whether the answer is complete, needs more, or
//! is wrong.
//!
//! The head is parsed with `httparse` once it is whole; the body is compared with the expected
//! bytes chunk by chunk as it passes through the one read buffer, so a 64 MiB answer is checked
//! with a few KiB of memory.
//!
//! Any other server's answer ([`Expectation::AnyServer`]), and a workbench route's answer
//! with another status than 200, is checked for its framing only (whether its status is
//! one the step expects is the step's call, [`AnswerReader::status`]): a `Content-Length` body is counted to its end, a chunked one is
//! decoded as it streams by ([`Chunked`], a byte-at-a-time state machine that keeps no
//! bytes), and the body itself is not compared.
//!
//! Most answers are the same bytes as the one before on the connection: `/hello` answers
//! differ only when their `Date` turns over, once a second. So the last answer that passed
//! every check and arrived whole in one read is kept ([`KNOWN_ANSWER_MAX`] bytes at most),
//! and an answer equal to it byte for byte is done with one comparison instead of a parse:
//! equal bytes carry the same status, length, digest and body, so nothing goes unchecked.

use std::fmt;
use std::ops::Range;

use wb_protocol::HELLO_BODY;
use wb_protocol::kernel::{PATTERN, is_pattern};

use super::Expectation;

/// Most header fields an answer may carry. The engines send two or three; peers such as nginx
/// add `Server`, `Date`, `Connection` and a few more.
const MAX_ANSWER_HEADERS: usize = 32;

/// The smallest read buffer: room for any reasonable response head.
pub(super) const MIN_READ_BUFFER: usize = 2 * 1024;

/// The largest read buffer: big answers stream through it.
pub(super) const MAX_READ_BUFFER: usize = 64 * 1024;

/// The longest answer kept for the byte-for-byte shortcut (see the [module docs](self)):
/// room for any small answer's head and body.
const KNOWN_ANSWER_MAX: usize = 1024;

/// Why an answer is wrong. Small and `Copy`, so that a wrong answer costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadAnswer {
    /// The head is not HTTP/1.x (or has too many header fields).
    Malformed,
    /// The head does not fit in the read buffer.
    HeadTooLarge,
    /// A well-framed answer whose status is not one the step expects (200 for the
    /// workbench's routes, `--expect-status` or 2xx for any server). Unlike the others, it is
    /// timed: the answer is whole, only its status is wrong (as wrk counts non-2xx answers).
    Status(u16),
    /// Any server: a body framed neither by `Content-Length` nor by chunked encoding.
    NoFraming,
    /// Any server: chunked encoding that does not follow RFC 9112, section 7.1.
    Chunked,
    /// No `Content-Length` (or one that is not a number, or two that differ).
    NoContentLength,
    /// `Content-Length` is not the expected body length.
    ContentLength {
        /// What the answer said.
        got: u64,
        /// What was expected.
        want: u64,
    },
    /// `Transfer-Encoding` on an answer: the workloads' answers always have a length.
    TransferEncoding,
    /// No `X-Work-Digest` where one was expected.
    DigestMissing,
    /// An `X-Work-Digest` other than the expected one: the work was not done (or not right).
    DigestMismatch,
    /// The body differs from the expected bytes, first at this offset.
    Body {
        /// Offset of the first wrong byte.
        offset: u64,
    },
    /// Bytes after the end of the body, though no other request was sent.
    Trailing,
    /// A `/db` or `/queries` body that is not the JSON expected: the shape, a value out of
    /// 1 to 10,000, the number of rows, or an id other than the one asked for.
    World(&'static str),
}

impl fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadAnswer::Malformed => f.write_str("malformed response head"),
            BadAnswer::HeadTooLarge => f.write_str("response head larger than the read buffer"),
            BadAnswer::Status(code) => write!(f, "status {code}, not an expected one"),
            BadAnswer::NoFraming => {
                f.write_str("neither Content-Length nor chunked encoding frames the body")
            }
            BadAnswer::Chunked => f.write_str("malformed chunked encoding"),
            BadAnswer::NoContentLength => f.write_str("no valid Content-Length"),
            BadAnswer::ContentLength { got, want } => {
                write!(f, "Content-Length {got}, expected {want}")
            }
            BadAnswer::TransferEncoding => f.write_str("Transfer-Encoding instead of a length"),
            BadAnswer::DigestMissing => f.write_str("no X-Work-Digest"),
            BadAnswer::DigestMismatch => f.write_str("wrong X-Work-Digest"),
            BadAnswer::Body { offset } => write!(f, "body differs at byte {offset}"),
            BadAnswer::Trailing => f.write_str("bytes after the end of the body"),
            BadAnswer::World(why) => write!(f, "wrong /db or /queries body: {why}"),
        }
    }
}

/// What the bytes received so far amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// The answer is correct so far and incomplete: read more.
    More,
    /// The answer is complete and correct; `close` if the server ends the connection after it
    /// (`Connection: close`, or HTTP/1.0 without keep-alive).
    Done {
        /// The connection must be reopened for the next request.
        close: bool,
    },
    /// The answer is wrong; the connection must be closed.
    Bad(BadAnswer),
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading the head: `filled` bytes of it are at the start of the buffer.
    Head,
    /// Reading a body of `len` bytes: `seen` bytes of it were checked.
    Body { seen: u64, len: u64, close: bool },
    /// Reading a chunked body (any server).
    Chunked { decoder: Chunked, close: bool },
}

/// How the head says the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `len` bytes (`Content-Length`, or none at all for `HEAD`, 204 and 304).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// One connection's read buffer and the check of the answer being read.
pub(super) struct AnswerReader {
    buf: Box<[u8]>,
    filled: usize,
    state: State,
    /// The last answer that passed every check in one read, kept-alive (empty if none).
    known: Vec<u8>,
    /// Its status.
    known_status: u16,
    /// The status of the answer being read (0 before its head).
    status: u16,
    /// Whether its body is compared with the workbench's expected bytes: a workbench
    /// route's answer with status 200. Any other answer is only read to its end.
    verify: bool,
    /// Pipelining: bytes after an answer's end are the next answer's start, not an error.
    pipelined: bool,
    /// Those bytes, in `buf`, kept for the next [`AnswerReader::begin`].
    leftover: Range<usize>,
}

impl AnswerReader {
    /// A reader whose buffer holds `capacity` bytes (at least [`MIN_READ_BUFFER`]).
    pub(super) fn new(capacity: usize) -> AnswerReader {
        AnswerReader {
            buf: vec![0; capacity.max(MIN_READ_BUFFER)].into_boxed_slice(),
            filled: 0,
            state: State::Head,
            known: Vec::new(),
            known_status: 0,
            status: 0,
            verify: false,
            pipelined: false,
            leftover: 0..0,
        }
    }

    /// A reader for a connection that pipelines its requests: several answers may arrive in
    /// one read, and what follows one answer is kept as the start of the next.
    pub(super) fn pipelined(capacity: usize) -> AnswerReader {
        AnswerReader {
            pipelined: true,
            ..AnswerReader::new(capacity)
        }
    }

    /// Forgets bytes read past the last answer (the connection they came on is gone).
    pub(super) fn discard(&mut self) {
        self.leftover = 0..0;
    }

    /// Bytes of the next answer already read with the last one (pipelining): they belong to
    /// no answer yet.
    pub(super) fn leftover(&self) -> usize {
        self.leftover.len()
    }

    /// The status of the answer read last (0 if its head was not read). Any well-framed
    /// answer is [`Step::Done`], whatever its status: the caller decides whether the status
    /// is one it expects, and times the answer either way.
    pub(super) fn status(&self) -> u16 {
        self.status
    }

    /// The read buffer size for answers of `body_len` bytes: the whole answer when it is
    /// small, so that one read usually brings all of it.
    pub(super) fn capacity_for(body_len: u64) -> usize {
        let wanted = body_len.saturating_add(1024);
        usize::try_from(wanted)
            .unwrap_or(MAX_READ_BUFFER)
            .clamp(MIN_READ_BUFFER, MAX_READ_BUFFER)
    }

    /// Starts a new answer.
    /// Starts a new answer. With pipelining, the bytes read past the last answer are its
    /// start: their count is returned, and [`AnswerReader::received`]`(0, …)` checks them
    /// before anything more is read.
    pub(super) fn begin(&mut self) -> usize {
        let carried = self.leftover.len();
        if carried > 0 {
            self.buf.copy_within(self.leftover.clone(), 0);
        }
        self.leftover = 0..0;
        self.filled = carried;
        self.state = State::Head;
        self.status = 0;
        carried
    }

    /// Where the next read goes. While reading the head, after the part already read; in the
    /// body, the whole buffer (checked body bytes are not kept).
    pub(super) fn spare(&mut self) -> &mut [u8] {
        match self.state {
            State::Head => &mut self.buf[self.filled..],
            State::Body { .. } | State::Chunked { .. } => &mut self.buf[..],
        }
    }

    /// Reports that `n` bytes were read into [`AnswerReader::spare`], and checks them.
    pub(super) fn received(&mut self, n: usize, expect: &Expectation) -> Step {
        match self.state {
            State::Head => {
                self.filled = (self.filled + n).min(self.buf.len());
                let known = self.known.len();
                if known > 0
                    && (self.buf[..self.filled] == self.known[..]
                        || (self.pipelined && self.buf[..self.filled].starts_with(&self.known)))
                {
                    // The same bytes as an answer that passed every check (pipelining: at
                    // least, followed by the next answer's start).
                    self.status = self.known_status;
                    self.leftover = known..self.filled;
                    return Step::Done { close: false };
                }
                let step = self.parse_head(expect);
                // The answer's own bytes: all that was read, less the next one's start.
                let end = self.filled - self.leftover.len();
                if step == (Step::Done { close: false }) && end <= KNOWN_ANSWER_MAX {
                    // Checked whole, in this one buffer: keep it for the next answer. The
                    // buffer is reused, so only a longer answer allocates.
                    self.known.clear();
                    self.known.extend_from_slice(&self.buf[..end]);
                    self.known_status = self.status;
                }
                step
            }
            State::Body { seen, len, close } => {
                let n = n.min(self.buf.len());
                self.check_body(seen, len, close, 0..n, expect)
            }
            State::Chunked { decoder, close } => {
                let n = n.min(self.buf.len());
                self.check_chunked(decoder, close, 0..n)
            }
        }
    }

    fn parse_head(&mut self, expect: &Expectation) -> Step {
        let mut headers = [httparse::EMPTY_HEADER; MAX_ANSWER_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let (head_len, framing, close) = match response.parse(&self.buf[..self.filled]) {
            Ok(httparse::Status::Partial) if self.filled == self.buf.len() => {
                return Step::Bad(BadAnswer::HeadTooLarge);
            }
            Ok(httparse::Status::Partial) => return Step::More,
            Ok(httparse::Status::Complete(len)) => {
                self.status = response.code.unwrap_or(0);
                self.verify = matches!(
                    expect,
                    Expectation::Workbench { .. } | Expectation::World { .. }
                ) && self.status == 200;
                match check_head(&response, expect, self.verify) {
                    Ok((framing, close)) => (len, framing, close),
                    Err(bad) => return Step::Bad(bad),
                }
            }
            Err(_) => return Step::Bad(BadAnswer::Malformed),
        };
        // Whatever followed the head in this read is the start of the body.
        let rest = head_len..self.filled;
        if let (Expectation::World { .. }, Framing::Length(len), true) =
            (expect, framing, self.verify)
        {
            // Checked whole: the head is parsed again when more arrives (a few hundred bytes).
            let end = head_len.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
            return if self.filled < end {
                if self.filled == self.buf.len() {
                    Step::Bad(BadAnswer::World("longer than 500 rows can be"))
                } else {
                    Step::More
                }
            } else if self.filled > end && !self.pipelined {
                Step::Bad(BadAnswer::Trailing)
            } else {
                // Pipelined: what follows is the next answer's start.
                self.leftover = end..self.filled;
                match check_world(&self.buf[head_len..end], expect) {
                    Ok(()) => Step::Done { close },
                    Err(why) => Step::Bad(BadAnswer::World(why)),
                }
            };
        }
        match framing {
            Framing::Length(len) => self.check_body(0, len, close, rest, expect),
            Framing::Chunked => self.check_chunked(Chunked::start(), close, rest),
        }
    }

    fn check_chunked(&mut self, mut decoder: Chunked, close: bool, range: Range<usize>) -> Step {
        let chunk = &self.buf[range.clone()];
        match decoder.feed(chunk) {
            Err(bad) => Step::Bad(bad),
            Ok(Some(used)) if used < chunk.len() && self.pipelined => {
                self.leftover = range.start + used..range.end;
                Step::Done { close }
            }
            Ok(Some(used)) if used < chunk.len() => Step::Bad(BadAnswer::Trailing),
            Ok(Some(_)) => Step::Done { close },
            Ok(None) => {
                self.state = State::Chunked { decoder, close };
                Step::More
            }
        }
    }

    fn check_body(
        &mut self,
        seen: u64,
        len: u64,
        close: bool,
        range: Range<usize>,
        expect: &Expectation,
    ) -> Step {
        let mut range = range;
        let end = seen + range.len() as u64;
        if end > len {
            if !self.pipelined {
                // One request at a time: nothing may follow the answer.
                return Step::Bad(BadAnswer::Trailing);
            }
            // Pipelining: the rest is the next answer's start.
            let own = usize::try_from(len - seen).unwrap_or(usize::MAX);
            self.leftover = range.start + own..range.end;
            range.end = range.start + own;
        }
        let end = end.min(len);
        let chunk = &self.buf[range];
        if let Expectation::Workbench { digest, .. } = expect
            && self.verify
            && let Some(offset) = first_difference(digest.is_some(), seen, chunk)
        {
            return Step::Bad(BadAnswer::Body { offset });
        }
        if end == len {
            Step::Done { close }
        } else {
            self.state = State::Body {
                seen: end,
                len,
                close,
            };
            Step::More
        }
    }
}

/// Checks the headers; returns how the body is framed and whether the server closes the
/// connection afterwards. With `verify` (a workbench route answering 200), the length and the
/// digest must be the expected ones; otherwise the answer is framed as any server's.
fn check_head(
    response: &httparse::Response<'_, '_>,
    expect: &Expectation,
    verify: bool,
) -> Result<(Framing, bool), BadAnswer> {
    let code = response.code.unwrap_or(0);
    let (want_len, want_digest) = match expect {
        Expectation::Workbench { body_len, digest } if verify => {
            (Some(*body_len), digest.as_deref())
        }
        _ => (None, None),
    };
    let http10 = response.version == Some(0);
    let mut close = http10;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut digest_seen = false;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = parse_decimal(header.value).ok_or(BadAnswer::NoContentLength)?;
            if length.is_some_and(|l| l != value) {
                return Err(BadAnswer::NoContentLength);
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if want_len.is_some() {
                return Err(BadAnswer::TransferEncoding);
            }
            // The last coding must be `chunked` for the body to be framed (RFC 9112, 6.3).
            let last = header.value.rsplit(|&b| b == b',').next().map(trim);
            if !last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
                return Err(BadAnswer::NoFraming);
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("x-work-digest") {
            if let Some(want) = want_digest {
                if trim(header.value) != want.as_bytes() {
                    return Err(BadAnswer::DigestMismatch);
                }
                digest_seen = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if http10 && token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
    }
    if matches!(expect, Expectation::World { .. }) && verify {
        if chunked {
            return Err(BadAnswer::TransferEncoding);
        }
        return Ok((
            Framing::Length(length.ok_or(BadAnswer::NoContentLength)?),
            close,
        ));
    }
    let Some(want_len) = want_len else {
        // Any server (RFC 9112, section 6.3): no body for HEAD, 204 and 304; else chunked
        // wins over a length; else the length; a body read until the close is not framed.
        let head = matches!(expect, Expectation::AnyServer { head: true });
        let framing = if head || code == 204 || code == 304 {
            Framing::Length(0)
        } else if chunked {
            Framing::Chunked
        } else {
            Framing::Length(length.ok_or(BadAnswer::NoFraming)?)
        };
        return Ok((framing, close));
    };
    let length = length.ok_or(BadAnswer::NoContentLength)?;
    if length != want_len {
        return Err(BadAnswer::ContentLength {
            got: length,
            want: want_len,
        });
    }
    if want_digest.is_some() && !digest_seen {
        return Err(BadAnswer::DigestMissing);
    }
    Ok((Framing::Length(length), close))
}

/// Checks a `/db` or `/queries` body against what was asked (see [`Expectation::World`]).
/// Any JSON spelling is taken (spaces, key order), since peers render with their own
/// libraries.
fn check_world(body: &[u8], expect: &Expectation) -> Result<(), &'static str> {
    let Expectation::World {
        rows,
        array,
        first_id,
    } = expect
    else {
        return Ok(());
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| "not JSON")?;
    let objects: Vec<&serde_json::Value> = match (&value, array) {
        (serde_json::Value::Array(items), true) => items.iter().collect(),
        (serde_json::Value::Object(_), false) => vec![&value],
        (_, true) => return Err("not a JSON array"),
        (_, false) => return Err("not one JSON object"),
    };
    if objects.len() != *rows {
        return Err("not the number of rows asked for");
    }
    let in_table = |v: Option<&serde_json::Value>| {
        v.and_then(serde_json::Value::as_i64)
            .filter(|n| (1..=i64::from(wb_protocol::world::WORLD_ROWS)).contains(n))
    };
    for (i, object) in objects.iter().enumerate() {
        let map = object.as_object().ok_or("a row that is not an object")?;
        if map.len() != 2 {
            return Err("a row without exactly id and randomNumber");
        }
        let id = in_table(map.get("id")).ok_or("an id that is not 1 to 10000")?;
        in_table(map.get("randomNumber")).ok_or("a randomNumber that is not 1 to 10000")?;
        if let Some(first) = first_id {
            let want = (i64::from(*first) - 1 + i as i64).rem_euclid(10_000) + 1;
            if id != want {
                return Err("an id other than the one asked for");
            }
        }
    }
    Ok(())
}

/// A chunked body's decoder (RFC 9112, section 7.1), fed the bytes as they arrive and keeping
/// none of them: `size [; ext] CRLF data CRLF` … `0 CRLF [trailer fields CRLF] CRLF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunked {
    /// Reading a chunk-size line: the size so far and its digits, and whether an extension
    /// (after `;`, or spaces) is being skipped.
    Size {
        /// The size read so far.
        size: u64,
        /// Hex digits read.
        digits: u8,
        /// Skipping a chunk extension up to the CR.
        ext: bool,
    },
    /// The size line's CR was seen: its LF must follow.
    SizeLf {
        /// The chunk's size.
        size: u64,
    },
    /// Inside a chunk's data.
    Data {
        /// Bytes of it still to come.
        left: u64,
    },
    /// After a chunk's data: its CR must follow.
    DataCr,
    /// After a chunk's data and CR: its LF must follow.
    DataLf,
    /// In the trailer section, after the last chunk.
    Trailer {
        /// Nothing of the current line yet (an empty line ends the body).
        empty: bool,
    },
    /// In the trailer section, a CR seen: its LF must follow.
    TrailerLf {
        /// The line ending here was empty.
        empty: bool,
    },
}

/// Most hex digits of a chunk size: 15 keep it below 2^60, far above any real chunk.
const MAX_CHUNK_SIZE_DIGITS: u8 = 15;

impl Chunked {
    /// A body about to begin.
    pub(super) fn start() -> Chunked {
        Chunked::Size {
            size: 0,
            digits: 0,
            ext: false,
        }
    }

    /// Takes `bytes`: `Ok(Some(n))` when the body ended after the first `n` of them,
    /// `Ok(None)` when it needs more, `Err` when the encoding is wrong.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, BadAnswer> {
        let mut i = 0;
        while i < bytes.len() {
            if let Chunked::Data { left } = *self {
                // The data is skipped whole, not byte by byte.
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len() - i);
                i += take;
                let left = left - take as u64;
                *self = if left == 0 {
                    Chunked::DataCr
                } else {
                    Chunked::Data { left }
                };
                continue;
            }
            let b = bytes[i];
            i += 1;
            *self = match (*self, b) {
                (
                    Chunked::Size {
                        size,
                        digits,
                        ext: false,
                    },
                    _,
                ) if b.is_ascii_hexdigit() => {
                    if digits == MAX_CHUNK_SIZE_DIGITS {
                        return Err(BadAnswer::Chunked);
                    }
                    let digit = u64::from(char::from(b).to_digit(16).unwrap_or(0));
                    Chunked::Size {
                        size: size * 16 + digit,
                        digits: digits + 1,
                        ext: false,
                    }
                }
                (Chunked::Size { digits: 0, .. }, _) => return Err(BadAnswer::Chunked),
                (Chunked::Size { size, .. }, b'\r') => Chunked::SizeLf { size },
                (Chunked::Size { size, digits, .. }, b';' | b' ' | b'\t') => Chunked::Size {
                    size,
                    digits,
                    ext: true,
                },
                (Chunked::Size { ext: true, .. }, b'\n') => return Err(BadAnswer::Chunked),
                (state @ Chunked::Size { ext: true, .. }, _) => state,
                (Chunked::Size { .. }, _) => return Err(BadAnswer::Chunked),
                (Chunked::SizeLf { size: 0 }, b'\n') => Chunked::Trailer { empty: true },
                (Chunked::SizeLf { size }, b'\n') => Chunked::Data { left: size },
                (Chunked::DataCr, b'\r') => Chunked::DataLf,
                (Chunked::DataLf, b'\n') => Chunked::start(),
                (Chunked::Trailer { empty }, b'\r') => Chunked::TrailerLf { empty },
                (Chunked::Trailer { .. }, b'\n') => return Err(BadAnswer::Chunked),
                (Chunked::Trailer { .. }, _) => Chunked::Trailer { empty: false },
                (Chunked::TrailerLf { empty: true }, b'\n') => return Ok(Some(i)),
                (Chunked::TrailerLf { empty: false }, b'\n') => Chunked::Trailer { empty: true },
                _ => return Err(BadAnswer::Chunked),
            };
        }
        Ok(None)
    }
}

/// The offset of the first byte of `chunk` (at body offset `offset`) that is not the expected
/// body byte (the pattern for `/work`, else `Hello, World!`), or `None` if the chunk is right.
fn first_difference(pattern: bool, offset: u64, chunk: &[u8]) -> Option<u64> {
    let matches = if pattern {
        pattern_at(offset, chunk)
    } else {
        usize::try_from(offset)
            .ok()
            .and_then(|start| HELLO_BODY.get(start..start + chunk.len()))
            == Some(chunk)
    };
    if matches {
        return None;
    }
    // The cold path: find the byte, for the log.
    let expected = |i: u64| {
        if pattern {
            Some(wb_protocol::kernel::pattern_byte(i))
        } else {
            usize::try_from(i)
                .ok()
                .and_then(|i| HELLO_BODY.get(i).copied())
        }
    };
    let index = chunk
        .iter()
        .zip(offset..)
        .position(|(&b, i)| expected(i) != Some(b))
        .unwrap_or(0);
    Some(offset + index as u64)
}

/// Whether `chunk` is the body pattern starting at body offset `offset`: the bytes up to the
/// next period boundary are compared by hand, the rest with [`is_pattern`] (which starts at
/// the pattern's beginning).
fn pattern_at(offset: u64, chunk: &[u8]) -> bool {
    let period = PATTERN.len();
    let phase = (offset % period as u64) as usize;
    let lead = ((period - phase) % period).min(chunk.len());
    chunk[..lead] == PATTERN[phase..phase + lead] && is_pattern(&chunk[lead..])
}

/// A header value as a decimal number, spaces around allowed.
fn parse_decimal(value: &[u8]) -> Option<u64> {
    let digits = trim(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(bytes: usize, rounds: u64) -> Vec<u8> {
        wb_protocol::respond_all(
            format!("GET /work?cpu_rounds={rounds}&bytes={bytes} HTTP/1.1\r\nHost: a\r\n\r\n")
                .as_bytes(),
        )
    }

    fn hello() -> Vec<u8> {
        wb_protocol::respond_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
    }

    /// Feeds `answer` to a fresh reader in pieces of `step` bytes; returns the last step.
    fn feed(answer: &[u8], step: usize, expect: &Expectation, capacity: usize) -> Step {
        let mut reader = AnswerReader::new(capacity);
        reader.begin();
        let mut rest = answer;
        loop {
            let spare = reader.spare();
            let n = step.min(spare.len()).min(rest.len());
            spare[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            match reader.received(n, expect) {
                Step::More if rest.is_empty() => return Step::More,
                Step::More => {}
                done => {
                    return if rest.is_empty() {
                        done
                    } else {
                        // Bytes left over after an end: the reader's problem, not ours.
                        match done {
                            Step::Done { .. } => Step::Bad(BadAnswer::Trailing),
                            bad => bad,
                        }
                    };
                }
            }
        }
    }

    #[test]
    fn correct_answers_pass_whole_and_byte_by_byte() {
        let cases = [
            (hello(), Expectation::for_target(0, None)),
            (work(0, 0), Expectation::for_target(0, Some(0))),
            (work(100, 3), Expectation::for_target(100, Some(3))),
            (work(200_000, 1), Expectation::for_target(200_000, Some(1))),
        ];
        for (answer, expect) in &cases {
            for step in [1, 7, 26, 4096, usize::MAX] {
                assert_eq!(
                    feed(answer, step, expect, expect.read_buffer()),
                    Step::Done { close: false },
                    "step {step}, expect {expect:?}"
                );
            }
        }
    }

    #[test]
    fn wrong_answers_are_named() {
        let expect = Expectation::for_target(30, Some(2));
        let bad = |answer: &[u8]| feed(answer, usize::MAX, &expect, 4096);

        assert_eq!(
            bad(&work(30, 3)),
            Step::Bad(BadAnswer::DigestMismatch),
            "work not done"
        );
        assert_eq!(
            bad(&work(29, 2)),
            Step::Bad(BadAnswer::ContentLength { got: 29, want: 30 })
        );
        let mut corrupt = work(30, 2);
        let last = corrupt.len() - 3;
        corrupt[last] = b'!';
        assert_eq!(bad(&corrupt), Step::Bad(BadAnswer::Body { offset: 27 }));
        // Another status is a whole answer, framed as any server's: the step times it and
        // decides whether it is expected.
        assert_eq!(
            bad(b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"),
            Step::Done { close: false }
        );
        assert_eq!(bad(b"SSH-2.0-x\r\n\r\n"), Step::Bad(BadAnswer::Malformed));
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Step::Bad(BadAnswer::TransferEncoding)
        );
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nabcdefghijklmnopqrstuvwxyzabcd"),
            Step::Bad(BadAnswer::DigestMissing)
        );
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            Step::Bad(BadAnswer::NoContentLength)
        );
        let mut extra = work(30, 2);
        extra.extend_from_slice(b"HTTP/1.1");
        assert_eq!(bad(&extra), Step::Bad(BadAnswer::Trailing));

        let hello_expect = Expectation::for_target(0, None);
        assert_eq!(
            feed(
                b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!",
                3,
                &hello_expect,
                4096
            ),
            Step::Bad(BadAnswer::Body { offset: 7 })
        );
    }

    /// Feeds `answer` to `reader` (reused) in one read.
    fn feed_again(reader: &mut AnswerReader, answer: &[u8], expect: &Expectation) -> Step {
        reader.begin();
        reader.spare()[..answer.len()].copy_from_slice(answer);
        reader.received(answer.len(), expect)
    }

    #[test]
    fn a_repeated_answer_is_still_checked_after_the_shortcut() {
        let expect = Expectation::for_target(30, Some(2));
        let good = work(30, 2);
        let mut reader = AnswerReader::new(4096);
        for _ in 0..3 {
            assert_eq!(
                feed_again(&mut reader, &good, &expect),
                Step::Done { close: false }
            );
        }
        assert_eq!(reader.known, good, "kept after its checks");
        // Same length, one byte of the body wrong: not equal to the known answer, so parsed.
        let mut corrupt = good.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert_eq!(
            feed_again(&mut reader, &corrupt, &expect),
            Step::Bad(BadAnswer::Body { offset: 29 })
        );
        // A wrong digest of the same length.
        assert_eq!(
            feed_again(&mut reader, &work(30, 3), &expect),
            Step::Bad(BadAnswer::DigestMismatch)
        );
        // The known answer split over two reads is still recognised.
        reader.begin();
        let (head, tail) = good.split_at(10);
        reader.spare()[..head.len()].copy_from_slice(head);
        assert_eq!(reader.received(head.len(), &expect), Step::More);
        reader.spare()[..tail.len()].copy_from_slice(tail);
        assert_eq!(
            reader.received(tail.len(), &expect),
            Step::Done { close: false }
        );
        // A closing answer is never kept: the next one on a new connection is parsed.
        let closing =
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nHello, World!";
        let hello = Expectation::for_target(0, None);
        let mut fresh = AnswerReader::new(4096);
        assert_eq!(
            feed_again(&mut fresh, closing, &hello),
            Step::Done { close: true }
        );
        assert!(fresh.known.is_empty());
    }

    #[test]
    fn a_head_larger_than_the_buffer_is_bad_not_a_hang() {
        let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
        answer.extend(std::iter::repeat_n(b'X', 5000));
        let expect = Expectation::for_target(0, None);
        assert_eq!(
            feed(&answer, 100, &expect, MIN_READ_BUFFER),
            Step::Bad(BadAnswer::HeadTooLarge)
        );
    }

    #[test]
    fn connection_close_and_http10_are_noticed() {
        let expect = Expectation::for_target(0, None);
        let close =
            b"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(feed(close, 5, &expect, 4096), Step::Done { close: true });
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(feed(old, 5, &expect, 4096), Step::Done { close: true });
        let old_kept =
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(
            feed(old_kept, 5, &expect, 4096),
            Step::Done { close: false }
        );
    }

    #[test]
    fn pattern_check_at_any_offset() {
        let mut body = Vec::new();
        wb_protocol::kernel::extend_with_pattern(&mut body, 200);
        for start in 0..60 {
            for len in [0, 1, 5, 26, 27, 100] {
                let chunk = &body[start..start + len];
                assert!(pattern_at(start as u64, chunk), "{start} {len}");
                if len > 0 {
                    assert!(!pattern_at(start as u64 + 1, chunk), "{start} {len}");
                }
            }
        }
    }

    #[test]
    fn any_server_answers_are_checked_for_framing() {
        let any = Expectation::AnyServer { head: false };
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                        5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\
                        X-Trailer: 1\r\n\r\n";
        let cases: [(&[u8], Step); 9] = [
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde",
                Step::Done { close: false },
            ),
            (
                b"HTTP/1.1 301 Moved\r\nLocation: /\r\nContent-Length: 0\r\n\r\n",
                Step::Done { close: false },
            ),
            (
                b"HTTP/1.1 204 No Content\r\n\r\n",
                Step::Done { close: false },
            ),
            (chunked, Step::Done { close: false }),
            // Any status is a whole answer here: whether it is expected is the step's call.
            (
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnot",
                Step::Done { close: false },
            ),
            (
                b"HTTP/1.1 200 OK\r\n\r\nuntil the close",
                Step::Bad(BadAnswer::NoFraming),
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                Step::Bad(BadAnswer::Chunked),
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
                Step::Bad(BadAnswer::Chunked),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc",
                Step::Bad(BadAnswer::Trailing),
            ),
        ];
        for (answer, want) in cases {
            for step in [1, 3, 7, usize::MAX] {
                assert_eq!(
                    feed(answer, step, &any, 4096),
                    want,
                    "step {step}: {}",
                    String::from_utf8_lossy(answer)
                );
            }
        }
        let head = Expectation::AnyServer { head: true };
        assert_eq!(
            feed(
                b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
                4,
                &head,
                4096
            ),
            Step::Done { close: false }
        );
    }

    #[test]
    fn a_chunked_body_may_end_in_any_read() {
        let body = b"3\r\nabc\r\n0\r\n\r\n";
        for split in 0..=body.len() {
            let mut decoder = Chunked::start();
            let first = decoder.feed(&body[..split]).unwrap();
            if split == body.len() {
                assert_eq!(first, Some(body.len()));
            } else {
                assert_eq!(first, None, "split {split}");
                assert_eq!(decoder.feed(&body[split..]), Ok(Some(body.len() - split)));
            }
        }
        let mut huge = Chunked::start();
        assert_eq!(huge.feed(b"ffffffffffffffff\r\n"), Err(BadAnswer::Chunked));
    }

    /// Pipelining: answers back to back, read in pieces of any size, each whole and checked
    /// in turn; bytes past one answer start the next.
    #[test]
    fn pipelined_answers_are_read_one_after_the_other() {
        let expect = Expectation::for_target(0, None);
        let one = hello();
        let mut stream = Vec::new();
        for _ in 0..5 {
            stream.extend_from_slice(&one);
        }
        for step in [1, 7, one.len() + 3, 4096] {
            let mut reader = AnswerReader::pipelined(4096);
            let mut rest = &stream[..];
            let mut done = 0;
            while done < 5 {
                let carried = reader.begin();
                let mut bytes = carried;
                let mut outcome = if carried > 0 {
                    reader.received(0, &expect)
                } else {
                    Step::More
                };
                while outcome == Step::More {
                    let spare = reader.spare();
                    let n = step.min(spare.len()).min(rest.len());
                    assert!(n > 0, "step {step}: ran out after {done} answers");
                    spare[..n].copy_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    bytes += n;
                    outcome = reader.received(n, &expect);
                }
                assert_eq!(
                    outcome,
                    Step::Done { close: false },
                    "step {step}, answer {done}"
                );
                assert_eq!(reader.status(), 200);
                assert_eq!(bytes - reader.leftover(), one.len(), "step {step}");
                done += 1;
            }
            assert!(rest.is_empty() && reader.leftover() == 0, "step {step}");
        }
        // Without pipelining, the same bytes are an answer with trailing bytes.
        assert_eq!(
            feed(&stream, 4096, &expect, 4096),
            Step::Bad(BadAnswer::Trailing)
        );
    }

    #[test]
    fn buffer_sizes_stay_in_bounds() {
        assert_eq!(AnswerReader::capacity_for(13), MIN_READ_BUFFER);
        assert_eq!(AnswerReader::capacity_for(10_000), 11_024);
        assert_eq!(AnswerReader::capacity_for(u64::MAX), MAX_READ_BUFFER);
    }
}
