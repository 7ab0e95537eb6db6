//! Coverage-guided fuzzing of the protocol core, differential: the input is split into chunks
//! at offsets the fuzzer chooses, and the answers must be the same as for the input fed whole.
//! Any panic, or any difference, is a bug.
//!
//! ```sh
//! cargo install cargo-fuzz
//! cd engines/protocol && RUSTC_BOOTSTRAP=1 cargo fuzz run session -- -max_total_time=60
//! ```
//! (`RUSTC_BOOTSTRAP=1` lets a stable toolchain accept the sanitizer flags cargo-fuzz passes;
//! on nightly it is not needed.)

#![no_main]

use libfuzzer_sys::fuzz_target;

fn answers<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<u8>, bool) {
    // Keep the fuzzer fast: few CPU rounds, and bodies are bounded by the input.
    wb_protocol::respond_chunks(chunks, 1000)
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the chunk size, the rest is the stream.
    let Some((&size, input)) = data.split_first() else {
        return;
    };
    // Requests may ask for up to 64 MiB of body; skip those to stay fast.
    if input.windows(6).any(|w| w == b"bytes=") && input.len() > 64 {
        return;
    }
    let whole = answers([input]);
    let chunked = answers(input.chunks(usize::from(size).max(1)));
    assert_eq!(whole, chunked, "answers depend on how the input was split");
});
