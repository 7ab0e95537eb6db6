//! The protocol core fed every way a socket can deliver bytes: whole, one byte at a time,
//! split at every offset, and in random chunks (proptest). However the bytes arrive, the
//! answers must be the same.

use proptest::prelude::*;
use wb_protocol::corpus::corpus;
use wb_protocol::limits::MAX_HEAD_BYTES;
use wb_protocol::{Event, Session};

/// Feeds `chunks` in order, draining events after each, and returns every response byte and
/// whether the session closed.
fn run_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<u8>, bool) {
    wb_protocol::respond_chunks(chunks, u64::MAX)
}

fn whole(input: &[u8]) -> (Vec<u8>, bool) {
    run_chunks([input])
}

fn status_line(output: &[u8]) -> String {
    let end = output
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(output.len());
    String::from_utf8_lossy(&output[..end]).into_owned()
}

#[test]
fn corpus_answers_are_the_same_one_byte_at_a_time() {
    for case in corpus() {
        let input = case.writes.concat();
        let expected = whole(&input);
        let bytewise = run_chunks(input.chunks(1));
        assert_eq!(bytewise, expected, "case {}", case.name);
    }
}

#[test]
fn corpus_answers_are_the_same_split_at_every_offset() {
    for case in corpus() {
        let input = case.writes.concat();
        let expected = whole(&input);
        // The long cases (17 KiB headers) are split at a stride to keep the test quick;
        // every offset of the others.
        let stride = if input.len() > 4096 { 97 } else { 1 };
        for at in (0..=input.len()).step_by(stride) {
            let (a, b) = input.split_at(at);
            assert_eq!(
                run_chunks([a, b]),
                expected,
                "case {} split at {at}",
                case.name
            );
        }
    }
}

#[test]
fn every_case_answers_with_its_status() {
    let statuses = [
        ("hello", "HTTP/1.1 200 OK"),
        ("head_hello", "HTTP/1.1 200 OK"),
        ("not_found", "HTTP/1.1 404 Not Found"),
        ("method_not_allowed", "HTTP/1.1 405 Method Not Allowed"),
        ("post_with_body", "HTTP/1.1 405 Method Not Allowed"),
        ("garbage", "HTTP/1.1 400 Bad Request"),
        ("bad_number", "HTTP/1.1 400 Bad Request"),
        ("out_of_range", "HTTP/1.1 400 Bad Request"),
        ("unknown_parameter", "HTTP/1.1 400 Bad Request"),
        ("missing_host", "HTTP/1.1 400 Bad Request"),
        ("bad_content_length", "HTTP/1.1 400 Bad Request"),
        (
            "header_too_large",
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
        (
            "too_many_headers",
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
        ("body_too_large", "HTTP/1.1 413 Content Too Large"),
        ("transfer_encoding", "HTTP/1.1 501 Not Implemented"),
    ];
    let cases = corpus();
    for (name, want) in statuses {
        let case = cases.iter().find(|c| c.name == name).expect(name);
        let (out, closed) = whole(&case.writes.concat());
        assert_eq!(status_line(&out), want, "case {name}");
        let is_error = !want.contains(" 200 ");
        assert_eq!(
            closed, is_error,
            "case {name}: errors close, successes keep alive"
        );
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let input = b"GET /work?bytes=1 HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /work?bytes=2 HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /work?bytes=3 HTTP/1.1\r\nHost: a\r\n\r\n";
    let (out, closed) = whole(input);
    assert!(!closed);
    let text = String::from_utf8(out).unwrap();
    let lengths: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Content-Length: "))
        .collect();
    assert_eq!(lengths, ["1", "2", "3"]);
}

#[test]
fn nothing_is_answered_after_a_closing_request() {
    let input = b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\
                  GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
    let (out, closed) = whole(input);
    assert!(closed);
    assert_eq!(out.windows(8).filter(|w| w == b"HTTP/1.1").count(), 1);
}

#[test]
fn a_head_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not() {
    let head = |len: usize| {
        let prefix = "GET /hello HTTP/1.1\r\nHost: a\r\nX-Pad: ";
        let suffix = "\r\n\r\n";
        let pad = len - prefix.len() - suffix.len();
        format!("{prefix}{}{suffix}", "p".repeat(pad)).into_bytes()
    };
    for (len, want) in [
        (MAX_HEAD_BYTES, "HTTP/1.1 200 OK"),
        (
            MAX_HEAD_BYTES + 1,
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ] {
        let input = head(len);
        assert_eq!(input.len(), len);
        assert_eq!(status_line(&whole(&input).0), want, "whole, {len} bytes");
        assert_eq!(
            status_line(&run_chunks(input.chunks(1)).0),
            want,
            "byte at a time, {len} bytes"
        );
    }
}

#[test]
fn an_endless_head_is_cut_off_at_the_limit() {
    let mut session = Session::new();
    session.receive_data(b"GET /hello HTTP/1.1\r\nX-Endless: ");
    let chunk = [b'z'; 1024];
    for _ in 0..64 {
        match session.next_event() {
            Event::NeedData => session.receive_data(&chunk),
            Event::Job(job) => {
                assert_eq!(job.status().code(), 431);
                assert!(session.buffered() == 0);
                return;
            }
            Event::Closed => panic!("closed without an answer"),
        }
    }
    panic!("a 64 KiB head was never refused");
}

/// One valid request, from a small grammar of what the workloads send.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let target = prop_oneof![
        Just("/hello".to_string()),
        (0u64..3, 0u64..50, 0u64..300)
            .prop_map(|(w, r, b)| format!("/work?wait_ms={w}&cpu_rounds={r}&bytes={b}")),
        Just("/missing".to_string()),
    ];
    let method = prop_oneof![Just("GET"), Just("HEAD")];
    let body = prop::collection::vec(any::<u8>(), 0..40);
    (method, target, body).prop_map(|(method, target, body)| {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: a\r\n").into_bytes();
        if !body.is_empty() {
            req.extend(format!("Content-Length: {}\r\n", body.len()).into_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend(body);
        req
    })
}

/// Cuts `input` into chunks at the (sorted) offsets `cuts` picks.
fn split<'a>(input: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut offsets: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    offsets.sort_unstable();
    let mut chunks = Vec::new();
    let mut from = 0;
    for at in offsets {
        chunks.push(&input[from..at]);
        from = at;
    }
    chunks.push(&input[from..]);
    chunks
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let _ = run_chunks(split(&input, &cuts));
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_prefix_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut input = b"GET /work?bytes=3 HTTP/1.1\r\nHost: a\r\n".to_vec();
        input.extend(tail);
        let _ = whole(&input);
        let _ = run_chunks(input.chunks(1));
    }

    #[test]
    fn any_split_of_a_valid_stream_gives_the_same_answers(
        requests in prop::collection::vec(request(), 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let input = requests.concat();
        let expected = whole(&input);
        prop_assert_eq!(run_chunks(split(&input, &cuts)), expected);
    }
}
