//! The conformance corpus: requests every engine must answer exactly as the core does.
//!
//! Each [`Case`] is a list of writes and a way to deliver them. The expected answer is
//! computed, not written down: the writes go through a [`Session`] in the same chunks, and
//! whatever jobs come out are performed. The engines' conformance suite sends each case over a
//! real socket and compares bytes; this crate's own tests feed the same cases whole, one byte
//! at a time and split at every offset.

use crate::{Event, Session};

/// A `GET /hello` head of exactly `size` bytes (at least 40): the request line, `Host` and
/// padding fields of about 400 bytes each, well under the 64-field cap and under nginx's 8 KiB
/// for one header line. What the slow-head benchmarks and faults cases trickle in.
pub fn padded_head(size: usize) -> Vec<u8> {
    let mut head = b"GET /hello HTTP/1.1\r\nHost: workbench\r\n".to_vec();
    let mut n = 0;
    while head.len() + 2 < size {
        let room = size - head.len() - 2;
        // "X-Pad-N: " + value + CRLF; a field never leaves less than a minimal one behind.
        let name = format!("X-Pad-{n}: ");
        let line = if room < 400 + name.len() + 3 {
            room
        } else {
            400
        };
        head.extend_from_slice(name.as_bytes());
        head.extend(std::iter::repeat_n(b'v', line - name.len() - 2));
        head.extend_from_slice(b"\r\n");
        n += 1;
    }
    head.extend_from_slice(b"\r\n");
    assert_eq!(head.len(), size);
    head
}

/// How the writes of a case reach the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// All writes at once, in one `write`, then read every answer (pipelining).
    Whole,
    /// One byte per `write`, with a short pause between bytes so that each one arrives in a
    /// read of its own.
    ByteAtATime,
    /// Each write in turn, reading its answer before the next (keep-alive).
    OneByOne,
}

/// One conformance case.
#[derive(Debug, Clone)]
pub struct Case {
    /// A short name, shown when the case fails.
    pub name: &'static str,
    /// The requests, as the client writes them.
    pub writes: Vec<Vec<u8>>,
    /// How they are written.
    pub delivery: Delivery,
}

impl Case {
    fn new(name: &'static str, delivery: Delivery, writes: Vec<Vec<u8>>) -> Case {
        Case {
            name,
            writes,
            delivery,
        }
    }

    fn one(name: &'static str, request: &[u8]) -> Case {
        Case::new(name, Delivery::Whole, vec![request.to_vec()])
    }

    /// What the engine must answer: one byte string per write (for [`Delivery::OneByOne`]; the
    /// others read everything at once), and whether the engine closes the connection at the end.
    pub fn expected(&self) -> (Vec<Vec<u8>>, bool) {
        let mut session = Session::new();
        let mut answers = Vec::new();
        let mut closed = false;
        for write in &self.writes {
            session.receive_data(write);
            let mut answer = Vec::new();
            loop {
                match session.next_event() {
                    Event::Job(job) => answer.extend_from_slice(&job.perform()),
                    Event::NeedData => break,
                    Event::Closed => {
                        closed = true;
                        break;
                    }
                }
            }
            answers.push(answer);
        }
        (answers, closed)
    }
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: workbench\r\n\r\n").into_bytes()
}

/// The corpus: every route, every error, every way of framing and delivering requests.
pub fn corpus() -> Vec<Case> {
    use Delivery::*;
    let big_header = format!(
        "GET /hello HTTP/1.1\r\nHost: workbench\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    let many_headers = format!(
        "GET /hello HTTP/1.1\r\nHost: workbench\r\n{}\r\n",
        (0..70)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let mut pipelined = get("/hello");
    pipelined.extend(get("/work?bytes=10&cpu_rounds=3"));
    pipelined.extend(get("/hello"));
    let mut body_then_next =
        b"GET /hello HTTP/1.1\r\nHost: workbench\r\nContent-Length: 10\r\n\r\n0123456789".to_vec();
    body_then_next.extend(get("/work?bytes=3"));
    let mut close_in_pipeline = get("/hello");
    close_in_pipeline
        .extend_from_slice(b"GET /hello HTTP/1.1\r\nHost: workbench\r\nConnection: close\r\n\r\n");
    close_in_pipeline.extend(get("/hello"));

    vec![
        Case::one("hello", &get("/hello")),
        Case::one("head_hello", b"HEAD /hello HTTP/1.1\r\nHost: workbench\r\n\r\n"),
        Case::one("hello_with_query", &get("/hello?x=1")),
        Case::one("work_defaults", &get("/work")),
        Case::one("work_wait", &get("/work?wait_ms=30")),
        Case::one("work_cpu", &get("/work?cpu_rounds=5000")),
        Case::one("work_bytes", &get("/work?bytes=100000")),
        Case::one("work_all", &get("/work?wait_ms=5&cpu_rounds=100&bytes=1000")),
        Case::one("head_work", b"HEAD /work?bytes=10 HTTP/1.1\r\nHost: workbench\r\n\r\n"),
        Case::one("not_found", &get("/nope")),
        Case::one(
            "method_not_allowed",
            b"DELETE /hello HTTP/1.1\r\nHost: workbench\r\n\r\n",
        ),
        Case::one(
            "post_with_body",
            b"POST /work HTTP/1.1\r\nHost: workbench\r\nContent-Length: 11\r\n\r\nhello world",
        ),
        Case::one("garbage", b"\x16\x03\x01\x02\x00 not http\r\n\r\n"),
        Case::one("bad_number", &get("/work?wait_ms=abc")),
        Case::one("out_of_range", &get("/work?cpu_rounds=100000001")),
        Case::one("unknown_parameter", &get("/work?sleep=1")),
        Case::one("missing_host", b"GET /hello HTTP/1.1\r\n\r\n"),
        Case::one("header_too_large", big_header.as_bytes()),
        Case::one("too_many_headers", many_headers.as_bytes()),
        Case::one(
            "body_too_large",
            b"POST /hello HTTP/1.1\r\nHost: workbench\r\nContent-Length: 1048577\r\n\r\n",
        ),
        Case::one(
            "transfer_encoding",
            b"POST /hello HTTP/1.1\r\nHost: workbench\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        Case::one(
            "bad_content_length",
            b"GET /hello HTTP/1.1\r\nHost: workbench\r\nContent-Length: ten\r\n\r\n",
        ),
        Case::one("pipelined_three", &pipelined),
        Case::one("body_discarded_then_next", &body_then_next),
        Case::one("close_in_pipeline", &close_in_pipeline),
        Case::new(
            "byte_at_a_time",
            ByteAtATime,
            vec![get("/work?cpu_rounds=2&bytes=5")],
        ),
        Case::one("http10_close", b"GET /hello HTTP/1.0\r\n\r\n"),
        Case::new(
            "http10_keep_alive",
            OneByOne,
            vec![
                b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec(),
                b"GET /hello HTTP/1.0\r\n\r\n".to_vec(),
            ],
        ),
        Case::one(
            "connection_close",
            b"GET /hello HTTP/1.1\r\nHost: workbench\r\nConnection: close\r\n\r\n",
        ),
        Case::new(
            "hundred_requests_one_connection",
            OneByOne,
            (0..100).map(|_| get("/hello")).collect(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_has_an_answer_and_the_closing_ones_close() {
        for case in corpus() {
            let (answers, closes) = case.expected();
            assert!(
                answers.iter().any(|a| !a.is_empty()),
                "{} expects nothing",
                case.name
            );
            let text = String::from_utf8_lossy(answers.last().unwrap());
            assert_eq!(
                closes,
                text.contains("Connection: close"),
                "{}: {text}",
                case.name
            );
        }
    }
}
