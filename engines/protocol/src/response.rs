//! What to answer: a [`Job`] says how long to wait, how much CPU to burn and which bytes to
//! send; [`Job::perform`] does the CPU work and renders the bytes.

use std::time::Duration;

use crate::kernel::{extend_with_pattern, work_digest};

/// The body of `GET /hello`, as in TechEmpower's plaintext test.
pub const HELLO_BODY: &[u8] = b"Hello, World!";

/// A status this core can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 200: the request was served.
    Ok,
    /// 400: malformed request, bad `Content-Length`, or a bad `/work` parameter.
    BadRequest,
    /// 404: no such route.
    NotFound,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// 413: the body is larger than [`MAX_BODY_BYTES`](crate::limits::MAX_BODY_BYTES).
    ContentTooLarge,
    /// 431: the head is larger than [`MAX_HEAD_BYTES`](crate::limits::MAX_HEAD_BYTES) or has
    /// more than [`MAX_HEADERS`](crate::limits::MAX_HEADERS) fields.
    HeaderFieldsTooLarge,
    /// 501: `Transfer-Encoding` on a request (chunked uploads are not part of the workloads).
    NotImplemented,
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::ContentTooLarge => 413,
            Status::HeaderFieldsTooLarge => 431,
            Status::NotImplemented => 501,
        }
    }

    /// The reason phrase sent on the status line (RFC 9110's wording).
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::ContentTooLarge => "Content Too Large",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
        }
    }
}

/// Which body a job sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// `Hello, World!`
    Hello,
    /// `bytes` bytes of the body pattern, with an `X-Work-Digest` header.
    Work { bytes: u64 },
    /// An error: `detail` and a newline, so a person reading it with curl learns what was wrong.
    Error {
        status: Status,
        detail: &'static str,
    },
}

/// How the response's `Connection` header and the connection itself end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// HTTP/1.1 keep-alive, the default: no `Connection` header.
    KeepAlive,
    /// HTTP/1.0 keep-alive, asked for by the client: `Connection: keep-alive`.
    KeepAliveHttp10,
    /// `Connection: close`, and the engine closes after sending.
    Close,
}

/// What an engine must do for one complete request, in order: wait [`Job::wait`], run
/// [`Job::cpu_rounds`] rounds of the CPU kernel (by calling [`Job::perform`], on whichever
/// thread the engine chooses), send the bytes `perform` returns, and close the connection
/// afterwards if [`Job::closes`] says so.
///
/// The core never sleeps or computes on its own: *how* to wait and where to compute is the
/// one thing each engine decides, and the lesson of the workbench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub(crate) wait_ms: u64,
    pub(crate) cpu_rounds: u64,
    pub(crate) body: Body,
    pub(crate) head_only: bool,
    pub(crate) persistence: Persistence,
}

impl Job {
    pub(crate) fn error(status: Status, detail: &'static str) -> Job {
        Job {
            wait_ms: 0,
            cpu_rounds: 0,
            body: Body::Error { status, detail },
            head_only: false,
            persistence: Persistence::Close,
        }
    }

    /// How long to wait before answering (the "database"): zero for everything but `/work`.
    pub fn wait(&self) -> Duration {
        Duration::from_millis(self.wait_ms)
    }

    /// How many rounds of the CPU kernel [`Job::perform`] will run.
    pub fn cpu_rounds(&self) -> u64 {
        self.cpu_rounds
    }

    /// Whether the engine must close the connection once the response is sent.
    pub fn closes(&self) -> bool {
        self.persistence == Persistence::Close
    }

    /// The status the response will carry.
    pub fn status(&self) -> Status {
        match self.body {
            Body::Error { status, .. } => status,
            Body::Hello | Body::Work { .. } => Status::Ok,
        }
    }

    /// Runs the CPU kernel and renders the response bytes. This is the expensive part of a
    /// CPU-bound request: call it where the engine wants CPU to be spent.
    pub fn perform(self) -> Vec<u8> {
        let digest = match self.body {
            Body::Work { .. } => Some(work_digest(self.cpu_rounds)),
            _ => None,
        };
        self.render(digest.as_deref())
    }

    fn render(&self, digest: Option<&str>) -> Vec<u8> {
        let status = self.status();
        let (body, pattern_len): (&[u8], u64) = match &self.body {
            Body::Hello => (HELLO_BODY, 0),
            Body::Work { bytes } => (b"", *bytes),
            Body::Error { detail, .. } => (detail.as_bytes(), 0),
        };
        let newline = matches!(self.body, Body::Error { .. });
        let content_length = body.len() as u64 + pattern_len + u64::from(newline);

        let send_body = !self.head_only;
        let capacity = 160
            + if send_body {
                content_length as usize
            } else {
                0
            };
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(&mut out, u64::from(status.code()));
        out.push(b' ');
        out.extend_from_slice(status.reason().as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: text/plain\r\nContent-Length: ");
        push_decimal(&mut out, content_length);
        out.extend_from_slice(b"\r\n");
        if let Some(digest) = digest {
            out.extend_from_slice(b"X-Work-Digest: ");
            out.extend_from_slice(digest.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if status == Status::MethodNotAllowed {
            out.extend_from_slice(b"Allow: GET, HEAD\r\n");
        }
        match self.persistence {
            Persistence::KeepAlive => {}
            Persistence::KeepAliveHttp10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
            Persistence::Close => out.extend_from_slice(b"Connection: close\r\n"),
        }
        out.extend_from_slice(b"\r\n");
        if send_body {
            out.extend_from_slice(body);
            if newline {
                out.push(b'\n');
            }
            extend_with_pattern(&mut out, pattern_len as usize);
        }
        out
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(body: Body, persistence: Persistence) -> Job {
        Job {
            wait_ms: 0,
            cpu_rounds: 0,
            body,
            head_only: false,
            persistence,
        }
    }

    #[test]
    fn hello_is_the_plaintext_response() {
        let bytes = job(Body::Hello, Persistence::KeepAlive).perform();
        assert_eq!(
            bytes,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
        );
    }

    #[test]
    fn work_carries_digest_and_pattern() {
        let bytes = job(Body::Work { bytes: 30 }, Persistence::Close).perform();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 30\r\n"));
        assert!(text.contains(&format!("X-Work-Digest: {}\r\n", work_digest(0))));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nabcdefghijklmnopqrstuvwxyzabcd"));
    }

    #[test]
    fn head_keeps_length_but_sends_no_body() {
        let mut j = job(Body::Hello, Persistence::KeepAliveHttp10);
        j.head_only = true;
        let text = String::from_utf8(j.perform()).unwrap();
        assert!(text.contains("Content-Length: 13\r\nConnection: keep-alive\r\n\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn decimal_rendering() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
