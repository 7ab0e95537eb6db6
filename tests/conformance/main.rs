//! The conformance suite, in a binary of its own so that it runs as the issue tracker and the
//! README name it: `cargo test --test conformance` runs every case on every engine,
//! `cargo test --test conformance uring` one engine's, `cargo test --test conformance
//! pipelined` one case everywhere. The cases are in `tests/it/conformance.rs`, the helpers in
//! `tests/it/util.rs`, shared with the other integration tests (`cargo test --test it`).

#[macro_use]
#[allow(dead_code, unused_macros)]
#[path = "../it/util.rs"]
mod util;

#[path = "../it/conformance.rs"]
mod conformance;
