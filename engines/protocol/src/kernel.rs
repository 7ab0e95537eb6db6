//! The workload's two deterministic ingredients: the CPU kernel and the body pattern.
//!
//! Both are specified so that a server written in any language can reproduce them with its
//! standard library, and so that the load generator can check that the work was really done.

use sha2::{Digest, Sha256};

/// The seed of the CPU kernel: the state before the first round is `SHA-256(SEED)`.
pub const SEED: &[u8] = b"concurrency-workbench";

/// Runs `rounds` rounds of the CPU kernel and returns the final 32-byte state.
///
/// The kernel is iterated SHA-256: `state = SHA-256(SEED)`, then `rounds` times
/// `state = SHA-256(state)`. Each round hashes exactly 32 bytes, so one round costs the same on
/// every call and the total cost is linear in `rounds`. In Python:
///
/// ```python
/// import hashlib
/// state = hashlib.sha256(b"concurrency-workbench").digest()
/// for _ in range(rounds):
///     state = hashlib.sha256(state).digest()
/// digest = state.hex()
/// ```
pub fn cpu_kernel(rounds: u64) -> [u8; 32] {
    let mut state: [u8; 32] = Sha256::digest(SEED).into();
    for _ in 0..rounds {
        state = Sha256::digest(state).into();
    }
    state
}

/// The lowercase hex form of [`cpu_kernel`], as sent in the `X-Work-Digest` header.
pub fn work_digest(rounds: u64) -> String {
    to_hex(&cpu_kernel(rounds))
}

/// Lowercase hex of a byte slice.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// The alphabet the body pattern cycles through.
pub const PATTERN: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// The byte at offset `i` of every `/work` body: `PATTERN[i % 26]`, that is `abc…xyzabc…`.
pub fn pattern_byte(i: u64) -> u8 {
    PATTERN[(i % PATTERN.len() as u64) as usize]
}

/// Bytes of the body pattern an engine sends per write at most: 2521 whole alphabets, just over
/// 64 KiB. A `/work` body of any size (64 MiB at most) is streamed from one static buffer in
/// chunks of this size ([`pattern_chunk`]), so no engine ever holds a body in memory: the
/// buffer is part of the binary's data, shared by every connection, thread and pool worker.
pub const PATTERN_CHUNK_BYTES: usize = PATTERN.len() * 2521;

/// The body pattern, one chunk long plus one alphabet, so that a chunk can start at any offset
/// of the pattern.
static PATTERN_BUFFER: [u8; PATTERN_CHUNK_BYTES + PATTERN.len()] = {
    let mut buffer = [0u8; PATTERN_CHUNK_BYTES + PATTERN.len()];
    let mut i = 0;
    while i < buffer.len() {
        buffer[i] = PATTERN[i % PATTERN.len()];
        i += 1;
    }
    buffer
};

/// The next bytes of a body: the pattern from offset `offset`, `left` bytes long or
/// [`PATTERN_CHUNK_BYTES`], whichever is shorter. A static slice: nothing is allocated.
pub fn pattern_chunk(offset: u64, left: u64) -> &'static [u8] {
    let start = (offset % PATTERN.len() as u64) as usize;
    let len = left.min(PATTERN_CHUNK_BYTES as u64) as usize;
    &PATTERN_BUFFER[start..start + len]
}

/// Appends `len` bytes of the body pattern to `out`, starting at offset 0.
pub fn extend_with_pattern(out: &mut Vec<u8>, len: usize) {
    out.reserve(len);
    let mut left = len;
    while left > 0 {
        let n = left.min(PATTERN.len());
        out.extend_from_slice(&PATTERN[..n]);
        left -= n;
    }
}

/// Checks that `body` is exactly the body pattern (the load generator's check).
pub fn is_pattern(body: &[u8]) -> bool {
    body.chunks(PATTERN.len())
        .all(|chunk| chunk == &PATTERN[..chunk.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_matches_a_reference_written_by_hand() {
        // Computed independently with Python's hashlib, as in the doc of `cpu_kernel`.
        assert_eq!(
            work_digest(0),
            "ee672ab04b6650502a2b04ebfe8330e8dfc828b766f718a4683bebcca00b839c"
        );
        assert_eq!(
            work_digest(1),
            "f90e7a9df1dd62160a1b7512323e9d244b2bd4e25d9f9f157cb51cc7a6d4864e"
        );
        assert_ne!(cpu_kernel(1), cpu_kernel(2));
    }

    #[test]
    fn pattern_cycles_the_alphabet() {
        let mut body = Vec::new();
        extend_with_pattern(&mut body, 60);
        assert_eq!(&body[..28], b"abcdefghijklmnopqrstuvwxyzab");
        assert!(is_pattern(&body));
        assert!((0..60).all(|i| body[i] == pattern_byte(i as u64)));
        body[30] = b'!';
        assert!(!is_pattern(&body));
    }

    #[test]
    fn chunks_continue_the_pattern_from_any_offset() {
        let mut whole = Vec::new();
        extend_with_pattern(&mut whole, 3 * PATTERN_CHUNK_BYTES + 5);
        let mut streamed = Vec::new();
        let mut offset = 0u64;
        while offset < whole.len() as u64 {
            // Odd steps, so chunks start at every offset of the alphabet.
            let chunk = pattern_chunk(offset, whole.len() as u64 - offset);
            assert!(!chunk.is_empty() && chunk.len() <= PATTERN_CHUNK_BYTES);
            let take = chunk.len().min(40_001);
            streamed.extend_from_slice(&chunk[..take]);
            offset += take as u64;
        }
        assert!(streamed == whole);
        assert!(pattern_chunk(7, 0).is_empty());
        assert_eq!(pattern_chunk(25, 3), b"zab");
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_per_byte() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }
}
