//! A short, seeded run of the protocol fuzzer (`examples/fuzz`): 20 000 structured inputs —
//! valid, malformed, oversized, mutated and noise — each fed whole and cut at random points,
//! with every invariant of `examples/fuzz/check.rs` checked. The long run is
//! `cargo run --release -p protocol --example fuzz -- --inputs 10000000 --seed 1`.
//!
//! `PROTOCOL_FUZZ_SEED` and `PROTOCOL_FUZZ_INPUTS` change the seed and the count.

#[path = "../examples/fuzz/check.rs"]
mod check;
#[path = "../examples/fuzz/streams.rs"]
mod streams;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::check::{End, run_input};
use crate::streams::{Class, Profile, Rng};

const DEFAULT_SEED: u64 = 0x11_2024;
const DEFAULT_INPUTS: u64 = 20_000;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?}: expected a whole number")),
        Err(_) => default,
    }
}

#[test]
fn twenty_thousand_inputs_break_no_invariant() {
    let seed = env_u64("PROTOCOL_FUZZ_SEED", DEFAULT_SEED);
    let inputs = env_u64("PROTOCOL_FUZZ_INPUTS", DEFAULT_INPUTS);
    let mut classes = BTreeSet::new();
    let mut statuses = BTreeSet::new();
    let mut ends = BTreeSet::new();
    for index in 0..inputs {
        match catch_unwind(AssertUnwindSafe(|| run_input(seed, index))) {
            Ok(Ok(outcome)) => {
                classes.insert(outcome.class);
                statuses.extend(outcome.statuses);
                ends.insert(outcome.end);
            }
            Ok(Err(failure)) => panic!("{failure}"),
            Err(_) => panic!(
                "input {index} of seed {seed} panicked (message above); replay it with \
                 `cargo run --release -p protocol --example fuzz -- --seed {seed} --start {index} --inputs 1`"
            ),
        }
    }
    // The generator reaches every class, every status and every way a stream can end: a
    // fuzzer that stopped producing some of them would pass while testing less.
    if inputs >= DEFAULT_INPUTS {
        assert_eq!(classes, Class::ALL.into_iter().collect(), "classes seen");
        for status in [200, 400, 404, 405, 413, 431, 501] {
            assert!(statuses.contains(&status), "no input was answered {status}");
        }
        for end in [End::Closed, End::Idle, End::Partial] {
            assert!(ends.contains(&end), "no input ended {end:?}");
        }
    }
}

#[test]
fn inputs_are_reproducible_from_seed_and_index() {
    for index in [0, 1, 7, 12345] {
        let a = streams::generate(&mut Rng::for_input(3, index), Profile::Core);
        let b = streams::generate(&mut Rng::for_input(3, index), Profile::Core);
        assert_eq!(a.bytes, b.bytes);
    }
    let a = streams::generate(&mut Rng::for_input(3, 0), Profile::Core);
    let b = streams::generate(&mut Rng::for_input(4, 0), Profile::Core);
    let c = streams::generate(&mut Rng::for_input(3, 1), Profile::Core);
    assert!(a.bytes != b.bytes || a.bytes != c.bytes);
}

#[test]
fn the_response_checker_refuses_malformed_responses() {
    let good = wb_protocol::respond_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(streams::parse_response(&good, Some(false)).is_ok());
    let with_date = String::from_utf8(good.clone()).unwrap().replace(
        "\r\n\r\n",
        "\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    );
    assert!(streams::parse_response(with_date.as_bytes(), Some(false)).is_ok());
    for bad in [
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 Okay\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 418 I'm a teapot\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nabc",
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nDate: today\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n",
    ] {
        assert!(
            streams::parse_response(bad.as_bytes(), Some(false)).is_err(),
            "accepted {bad:?}"
        );
    }
}
