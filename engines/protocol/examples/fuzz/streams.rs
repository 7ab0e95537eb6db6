//! Seeded random HTTP/1.1 request streams: the generator both fuzzers share.
//!
//! cargo-fuzz needs a nightly toolchain; this is the stable-toolchain alternative: a
//! *structured* generator that knows the grammar the protocol core parses, so most inputs
//! get deep into it (a well-formed head with one thing wrong) instead of being refused at the
//! first byte. Every stream is a function of `(seed, index)` only ([`Rng::for_input`]), so a
//! failure is reproduced from the two numbers the fuzzer prints.
//!
//! A stream is one of five [`Class`]es: pipelined valid requests (with the status each must
//! get), one malformed request among valid ones, an oversized head or body, a stream mutated
//! at the byte level (flips, inserts, deletes, duplicates, truncation, bare line ends), or
//! noise. [`split_points`] then says where a socket could cut it into reads.
//!
//! Used by `engines/protocol/examples/fuzz` (the long run), `engines/protocol/tests/fuzz.rs`
//! and the workspace's `tests/it/differential.rs` (the engines compared with each other), each
//! through `#[path]`, so not every item is used by every one.

#![allow(dead_code)]

/// xorshift64* (Vigna, 2016), seeded through SplitMix64: tiny, fast, deterministic on every
/// platform, and good enough to choose among grammar productions. Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(z | 1)
    }

    /// The generator of input number `index` of a run seeded with `seed`: inputs are
    /// independent, so input `index` can be replayed alone.
    pub fn for_input(seed: u64, index: u64) -> Rng {
        Rng::new(seed ^ Rng::new(index).next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An index in `0..n` (`n` > 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.index(hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// What kind of stream a generated input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Pipelined requests the core must serve, each with a known status ([`Stream::expected`]).
    Valid,
    /// Valid requests with one malformed one among them (bad request line, header, framing,
    /// `Content-Length`, `Transfer-Encoding`, `/work` parameter, line ends).
    Malformed,
    /// A head over 16 KiB (one long field, a long target, more than 64 fields) or a head of
    /// exactly the limit, or a body over 1 MiB.
    Oversized,
    /// A valid or malformed stream changed at the byte level.
    Mutated,
    /// Random bytes, or random text with line ends in it.
    Noise,
}

impl Class {
    /// Every class, in the order reports list them.
    pub const ALL: [Class; 5] = [
        Class::Valid,
        Class::Malformed,
        Class::Oversized,
        Class::Mutated,
        Class::Noise,
    ];
}

/// The answer one valid request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    /// The status code.
    pub status: u16,
    /// Whether the response closes the connection.
    pub closes: bool,
}

/// One generated input.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Its kind.
    pub class: Class,
    /// The bytes a client sends.
    pub bytes: Vec<u8>,
    /// For [`Class::Valid`] streams, the answer of every request up to and including the
    /// first that closes the connection (nothing is answered after it).
    pub expected: Option<Vec<Expect>>,
}

/// Which values the generator may put in a *valid* `/work` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The protocol core alone: the limits themselves too (`wait_ms=60000`,
    /// `cpu_rounds=100000000`, `bytes=67108864`), and 1 MiB bodies. The fuzzer does not
    /// perform jobs that expensive, it only checks their status and framing.
    Core,
    /// Live engines: waits of a few milliseconds, a few hundred CPU rounds, bodies up to
    /// 100 000 bytes, so thousands of streams take seconds. Out-of-range values (refused
    /// with 400 before any work) still appear.
    Live,
}

/// Generates input `rng` points at.
pub fn generate(rng: &mut Rng, profile: Profile) -> Stream {
    let class = match rng.below(100) {
        0..=34 => Class::Valid,
        35..=54 => Class::Malformed,
        55..=59 => Class::Oversized,
        60..=94 => Class::Mutated,
        _ => Class::Noise,
    };
    generate_class(rng, profile, class)
}

/// Generates a stream of the given class.
pub fn generate_class(rng: &mut Rng, profile: Profile, class: Class) -> Stream {
    match class {
        Class::Valid => {
            let count = rng.range(1, 5);
            let mut bytes = Vec::new();
            let mut expected = Vec::new();
            let mut closed = false;
            for _ in 0..count {
                let (request, expect) = valid_request(rng, profile);
                bytes.extend(request);
                if !closed {
                    expected.push(expect);
                    closed = expect.closes;
                }
            }
            Stream {
                class,
                bytes,
                expected: Some(expected),
            }
        }
        Class::Malformed => {
            let before = rng.range(0, 2);
            let after = rng.range(0, 2);
            let mut bytes = Vec::new();
            for _ in 0..before {
                bytes.extend(valid_request(rng, profile).0);
            }
            bytes.extend(malformed_request(rng, profile));
            for _ in 0..after {
                bytes.extend(valid_request(rng, profile).0);
            }
            Stream {
                class,
                bytes,
                expected: None,
            }
        }
        Class::Oversized => {
            let mut bytes = Vec::new();
            if rng.chance(30) {
                bytes.extend(valid_request(rng, profile).0);
            }
            bytes.extend(oversized_request(rng, profile));
            if rng.chance(30) {
                bytes.extend(valid_request(rng, profile).0);
            }
            Stream {
                class,
                bytes,
                expected: None,
            }
        }
        Class::Mutated => {
            let base = if rng.chance(70) {
                Class::Valid
            } else {
                Class::Malformed
            };
            let mut bytes = generate_class(rng, profile, base).bytes;
            for _ in 0..rng.range(1, 4) {
                mutate(rng, profile, &mut bytes);
            }
            Stream {
                class,
                bytes,
                expected: None,
            }
        }
        Class::Noise => {
            let bytes = match rng.below(4) {
                0 => {
                    let len = rng.range(0, 300);
                    rng.bytes(len)
                }
                1 => {
                    // Printable text with line ends: reaches the header parser more often.
                    let len = rng.range(1, 300);
                    (0..len)
                        .map(|_| *rng.pick(b"GET /hello HTTP/1.1 Host: a\r\n\r\n:=?&0123456789\t"))
                        .collect()
                }
                2 => b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), // a TLS hello
                _ => b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),             // the HTTP/2 preface
            };
            Stream {
                class,
                bytes,
                expected: None,
            }
        }
    }
}

/// The request as separate parts, so malformed variants can break exactly one of them.
struct Parts {
    method: Vec<u8>,
    target: Vec<u8>,
    version: Vec<u8>,
    /// Whole header lines, without their line end.
    headers: Vec<Vec<u8>>,
    body: Vec<u8>,
    eol: &'static [u8],
}

impl Parts {
    fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.body.len());
        out.extend_from_slice(&self.method);
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.push(b' ');
        out.extend_from_slice(&self.version);
        out.extend_from_slice(self.eol);
        for line in &self.headers {
            out.extend_from_slice(line);
            out.extend_from_slice(self.eol);
        }
        out.extend_from_slice(self.eol);
        out.extend_from_slice(&self.body);
        out
    }
}

fn header(name: &str, value: &str) -> Vec<u8> {
    format!("{name}: {value}").into_bytes()
}

/// A `/work` query and whether the core accepts it.
fn work_query(rng: &mut Rng, profile: Profile, allow_invalid: bool) -> (String, bool) {
    let valid_value = |rng: &mut Rng, key: &str| -> String {
        let live = profile == Profile::Live;
        let n: u64 = match (key, live, rng.below(20)) {
            ("wait_ms", false, 0) => 60_000,
            ("wait_ms", _, _) => *rng.pick(&[0, 0, 0, 1, 2, 3]),
            ("cpu_rounds", false, 0) => 100_000_000,
            ("cpu_rounds", _, _) => *rng.pick(&[0, 0, 1, 2, 3, 7, 50]),
            ("bytes", false, 0) => 67_108_864,
            (_, _, _) => *rng.pick(&[0, 1, 5, 26, 27, 100, 1000, 4096, 65_536, 100_000]),
        };
        match rng.below(10) {
            0 => format!("0{n}"), // leading zeros are still a whole number
            _ => n.to_string(),
        }
    };
    const INVALID_VALUES: &[&str] = &[
        "",
        "-1",
        "+1",
        "0x10",
        "1.5",
        "1e3",
        " 1",
        "1%20",
        "abc",
        "99999999999999999999999",
        "18446744073709551616",
    ];
    let mut keys: Vec<&str> = ["wait_ms", "cpu_rounds", "bytes"]
        .into_iter()
        .filter(|_| rng.chance(60))
        .collect();
    // Shuffle: any order is accepted.
    for i in (1..keys.len()).rev() {
        let j = rng.index(i + 1);
        keys.swap(i, j);
    }
    let mut valid = true;
    let mut pairs: Vec<String> = Vec::new();
    for key in keys {
        pairs.push(format!("{key}={}", valid_value(rng, key)));
    }
    if allow_invalid {
        match rng.below(9) {
            0 => {
                let key = *rng.pick(&["wait_ms", "cpu_rounds", "bytes"]);
                let value = *rng.pick(INVALID_VALUES);
                pairs.push(format!("{key}={value}"));
            }
            1 => pairs.push(
                rng.pick(&["wait_ms=60001", "cpu_rounds=100000001", "bytes=67108865"])
                    .to_string(),
            ),
            2 => pairs.push(
                rng.pick(&["sleep=1", "%62ytes=1", "bytes", "=1", "BYTES=1"])
                    .to_string(),
            ),
            3 => {
                let key = *rng.pick(&["wait_ms", "cpu_rounds", "bytes"]);
                pairs.push(format!("{key}=1"));
                pairs.push(format!("{key}=2"));
            }
            _ => {}
        }
        // Any of the above makes the query invalid; check by the same rules as the core.
        valid = query_is_valid(&pairs);
    }
    let mut query = pairs.join("&");
    if rng.chance(10) {
        query.push('&'); // empty pairs are skipped
    }
    (query, valid)
}

/// The core's rules for `/work` parameters, restated: known keys, once each, whole numbers
/// within the limits.
fn query_is_valid(pairs: &[String]) -> bool {
    let mut seen = Vec::new();
    for pair in pairs {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let max: u64 = match key {
            "wait_ms" => 60_000,
            "cpu_rounds" => 100_000_000,
            "bytes" => 67_108_864,
            _ => return false,
        };
        if seen.contains(&key) {
            return false;
        }
        seen.push(key);
        // No trimming: a space in a target breaks the request line (also a 400).
        if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if value.parse::<u64>().map_or(true, |n| n > max) {
            return false;
        }
    }
    true
}

/// A request the core parses, with the answer it must give.
fn valid_request(rng: &mut Rng, profile: Profile) -> (Vec<u8>, Expect) {
    let method = match rng.below(100) {
        0..=74 => "GET",
        75..=87 => "HEAD",
        _ => *rng.pick(&["POST", "DELETE", "PUT", "OPTIONS", "get"]),
    };
    let (target, route_status): (String, u16) = match rng.below(10) {
        0..=3 => ("/hello".into(), 200),
        4 => ("/hello?x=1".into(), 200),
        5..=8 => {
            let allow_invalid = rng.chance(25);
            let (query, valid) = work_query(rng, profile, allow_invalid);
            let target = if query.is_empty() && rng.chance(50) {
                "/work".to_string()
            } else {
                format!("/work?{query}")
            };
            (target, if valid { 200 } else { 400 })
        }
        _ => (
            rng.pick(&["/nope", "/", "/hello/", "/HELLO", "/work/x", "/favicon.ico"])
                .to_string(),
            404,
        ),
    };
    let get_or_head = method == "GET" || method == "HEAD";
    let status = if route_status == 200 && !get_or_head {
        405
    } else {
        route_status
    };
    let http11 = rng.chance(85);
    let version = if http11 { "HTTP/1.1" } else { "HTTP/1.0" };

    let mut headers = Vec::new();
    let has_host = !http11 || rng.chance(96);
    let send_host = if http11 { has_host } else { rng.chance(50) };
    if send_host {
        let host = *rng.pick(&["workbench", "127.0.0.1:8080", "a", "[::1]:80"]);
        headers.push(match rng.below(4) {
            0 => format!("host:{host}").into_bytes(),
            1 => format!("Host:   {host}  ").into_bytes(),
            _ => header("Host", host),
        });
    }
    let (mut close, mut keep_alive) = (false, false);
    if rng.chance(40) {
        let value = *rng.pick(&[
            "close",
            "keep-alive",
            "Keep-Alive",
            "CLOSE",
            "Upgrade",
            "keep-alive, close",
            " close ",
            "x, keep-alive",
            "closed",
        ]);
        for token in value.split(',') {
            close |= token.trim().eq_ignore_ascii_case("close");
            keep_alive |= token.trim().eq_ignore_ascii_case("keep-alive");
        }
        headers.push(header(
            rng.pick::<&str>(&["Connection", "connection"]),
            value,
        ));
    }
    for _ in 0..rng.range(0, 4) {
        headers.push(match rng.below(5) {
            0 => header("User-Agent", "fuzz/1.0"),
            1 => header("Accept", "*/*"),
            2 => header("X-Empty", ""),
            3 => format!("X-R{}: {}", rng.below(1000), rng.below(u64::MAX)).into_bytes(),
            _ => header("Accept-Encoding", "gzip, deflate"),
        });
    }
    let mut body = Vec::new();
    if rng.chance(20) {
        let len = rng.range(0, 300);
        body = rng.bytes(len);
        headers.push(header("Content-Length", &len.to_string()));
        if rng.chance(10) {
            headers.push(header("content-length", &format!(" {len}")));
        }
    }
    // Headers in any order.
    for i in (1..headers.len()).rev() {
        let j = rng.index(i + 1);
        headers.swap(i, j);
    }

    let (status, closes) = if http11 && !has_host {
        (400, true)
    } else if status != 200 {
        (status, true)
    } else {
        (200, close || (!http11 && !keep_alive))
    };
    let parts = Parts {
        method: method.into(),
        target: target.into_bytes(),
        version: version.into(),
        headers,
        body,
        eol: b"\r\n",
    };
    (parts.render(), Expect { status, closes })
}

/// A valid request with exactly one thing broken.
fn malformed_request(rng: &mut Rng, profile: Profile) -> Vec<u8> {
    let (valid, _) = valid_request(rng, profile);
    // Re-parse the parts we just rendered: simpler than threading choices through.
    let text = valid;
    let head_end = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(text.len(), |p| p + 4);
    let (head, body) = text.split_at(head_end);
    let mut lines: Vec<Vec<u8>> = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .filter(|l| !l.is_empty())
        .collect();
    let mut body = body.to_vec();
    let mut eol: &'static [u8] = b"\r\n";
    match rng.below(14) {
        // The request line.
        0 => {
            lines[0] = rng
                .pick(&[
                    &b"GE T /hello HTTP/1.1"[..],
                    b"G\x00ET /hello HTTP/1.1",
                    b" GET /hello HTTP/1.1",
                    b"GET  /hello HTTP/1.1",
                    b"GET /hello  HTTP/1.1",
                    b"GET /hello",
                    b"GET",
                    b"",
                    b"GET /he llo HTTP/1.1",
                    b"GET /hel\x7flo HTTP/1.1",
                    b"GET /h\xffello HTTP/1.1",
                    b"GET hello HTTP/1.1",
                    b"GET * HTTP/1.1",
                    b"GET http://workbench/hello HTTP/1.1",
                    b"GET /hello HTTP/1.2",
                    b"GET /hello HTTP/2.0",
                    b"GET /hello HTTP/1",
                    b"GET /hello http/1.1",
                    b"GET /hello HTTP/1.1x",
                    b"GET /hello HTTP/1.1 ",
                    b"GET\t/hello\tHTTP/1.1",
                    b"GET /hello HTTP/0.9",
                ])
                .to_vec();
        }
        // A broken header line.
        1 | 2 => {
            let line = rng
                .pick(&[
                    &b"NoColon"[..],
                    b"Host : a",
                    b": empty-name",
                    b"X-Ctl: a\x01b",
                    b"X-Nul: a\x00b",
                    b"X-High: caf\xc3\xa9",
                    b"X-Del: \x7f",
                    b" X-Folded: yes",
                    b"\tX-Tab: yes",
                    b"X Space: a",
                    b"X-(Paren): a",
                    b"X-Long-Name-\xff: a",
                ])
                .to_vec();
            let at = rng.range(1, lines.len());
            lines.insert(at, line);
        }
        // obs-fold: a continuation line.
        3 => {
            let at = rng.range(1, lines.len());
            lines.insert(at, b"X-Fold: a".to_vec());
            lines.insert(at + 1, b"  continued".to_vec());
        }
        // Bad Content-Length.
        4 | 5 => {
            let value = *rng.pick(&[
                "-1",
                "+1",
                "0x10",
                "1 1",
                "",
                "99999999999999999999999",
                "18446744073709551616",
                "1048577",
                "4294967296",
                "1,1",
                "ten",
            ]);
            lines.push(header("Content-Length", value));
        }
        // Conflicting Content-Length.
        6 => {
            lines.push(header("Content-Length", "3"));
            lines.push(header("Content-Length", "4"));
            body = b"abcd".to_vec();
        }
        // A body shorter than announced (the stream ends inside it), or longer (the rest is
        // parsed as the next request).
        7 => {
            let announced = rng.range(1, 400);
            let sent = rng.range(0, 800);
            lines.push(header("Content-Length", &announced.to_string()));
            body = rng.bytes(sent);
        }
        // Transfer-Encoding, refused with 501.
        8 => {
            let value = *rng.pick(&["chunked", "gzip, chunked", " chunked", "identity", ""]);
            lines.push(header(
                rng.pick::<&str>(&["Transfer-Encoding", "transfer-encoding"]),
                value,
            ));
            body = b"5\r\nhello\r\n0\r\n\r\n".to_vec();
        }
        // Line ends: bare LF everywhere, a bare CR, a missing final line end.
        9 => eol = b"\n",
        10 => {
            let at = rng.index(lines.len());
            lines[at].push(b'\r');
        }
        11 => {
            let mut out: Vec<u8> = lines.join(&b"\r\n"[..]);
            out.extend_from_slice(b"\r\n");
            return out;
        }
        // A /work target with a bad parameter.
        12 => {
            let (query, _) = work_query(rng, profile, true);
            let method = if rng.chance(80) { "GET" } else { "HEAD" };
            lines[0] = format!("{method} /work?{query}x=1&bytes=-3 HTTP/1.1").into_bytes();
        }
        // Two Host headers, an empty Host, NUL in the middle of the head.
        _ => {
            let line = rng
                .pick(&[&b"Host: a\r\nHost: b"[..], b"Host:", b"X-A: b\x00"])
                .to_vec();
            lines.push(line);
        }
    }
    let mut out = lines.join(eol);
    out.extend_from_slice(eol);
    out.extend_from_slice(eol);
    out.extend_from_slice(&body);
    out
}

/// A head or body past a limit, or a head exactly at the limit.
fn oversized_request(rng: &mut Rng, profile: Profile) -> Vec<u8> {
    const LIMIT: usize = 16 * 1024;
    let prefix = "GET /hello HTTP/1.1\r\nHost: a\r\nX-Pad: ";
    match rng.below(7) {
        // One long field: just under, at, and past the limit.
        0..=1 => {
            let head_len = LIMIT - 2 + rng.index(5); // LIMIT-2 ..= LIMIT+2
            let pad = head_len - prefix.len() - 4;
            format!("{prefix}{}\r\n\r\n", "p".repeat(pad)).into_bytes()
        }
        2 => {
            let pad = rng.range(LIMIT, LIMIT + 4096);
            format!("{prefix}{}\r\n\r\n", "p".repeat(pad)).into_bytes()
        }
        // A head that never ends.
        3 => {
            let pad = rng.range(LIMIT, LIMIT + 2048);
            format!("{prefix}{}", "z".repeat(pad)).into_bytes()
        }
        // A long target.
        4 => {
            let len = rng.range(LIMIT - 64, LIMIT + 1024);
            format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "t".repeat(len)).into_bytes()
        }
        // Many header fields: 60 to 70 (the limit is 64).
        5 => {
            let count = rng.range(60, 70);
            let mut out = b"GET /hello HTTP/1.1\r\nHost: a\r\n".to_vec();
            for i in 1..count {
                out.extend(format!("X-H{i}: v\r\n").into_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out
        }
        // A body at or past 1 MiB: only announced past it (refused before it is read); sent
        // in full at the limit for the core alone.
        _ => {
            const MIB: usize = 1024 * 1024;
            let at_limit = profile == Profile::Core && rng.chance(30);
            let announced = if at_limit {
                MIB
            } else {
                *rng.pick(&[MIB + 1, 2 * MIB, usize::MAX >> 1])
            };
            let mut out =
                format!("POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: {announced}\r\n\r\n")
                    .into_bytes();
            if at_limit {
                out.resize(out.len() + MIB, b'b');
            }
            out
        }
    }
}

/// Changes `bytes` in one random way.
fn mutate(rng: &mut Rng, profile: Profile, bytes: &mut Vec<u8>) {
    const INTERESTING: &[u8] = b"\0\r\n \t:;,=&?/%0123456789\x7f\x80\xff";
    if bytes.is_empty() {
        bytes.extend(rng.bytes(4));
        return;
    }
    let at = rng.index(bytes.len());
    match rng.below(10) {
        0 => bytes[at] ^= 1 << rng.below(8),
        1 => bytes[at] = *rng.pick(INTERESTING),
        2 => {
            let n = rng.range(1, 4);
            let insert: Vec<u8> = (0..n).map(|_| *rng.pick(INTERESTING)).collect();
            bytes.splice(at..at, insert);
        }
        3 => {
            let end = (at + rng.range(1, 16)).min(bytes.len());
            bytes.drain(at..end);
        }
        4 => {
            let end = (at + rng.range(1, 32)).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(at..at, copy);
        }
        5 => bytes.truncate(at),
        6 => {
            // CRLF to a bare LF, or the other way round.
            if let Some(p) = bytes[at..].windows(2).position(|w| w == b"\r\n") {
                bytes.remove(at + p);
            } else if let Some(p) = bytes[at..].iter().position(|&b| b == b'\n') {
                bytes.insert(at + p, b'\r');
            }
        }
        7 => {
            // Splice in part of another stream.
            let other = generate_class(rng, profile, Class::Valid).bytes;
            let from = rng.index(other.len());
            let to = rng.range(from, other.len());
            bytes.splice(at..at, other[from..to].iter().copied());
        }
        8 => {
            // A digit run made longer: numbers overflow.
            if let Some(p) = bytes[at..].iter().position(u8::is_ascii_digit) {
                let n = rng.range(1, 25);
                bytes.splice(at + p..at + p, std::iter::repeat_n(b'9', n));
            }
        }
        _ => {
            // Swap two bytes.
            let other = rng.index(bytes.len());
            bytes.swap(at, other);
        }
    }
}

/// Where a client's writes could cut `len` bytes into reads: sorted offsets in `1..len`,
/// at most `max_cuts` of them (`0` delivers the stream whole).
pub fn split_points(rng: &mut Rng, len: usize, max_cuts: usize) -> Vec<usize> {
    if len < 2 || max_cuts == 0 {
        return Vec::new();
    }
    let mut cuts: Vec<usize> = match rng.below(10) {
        0..=3 => Vec::new(),
        4..=6 => (0..rng.range(1, 3))
            .map(|_| rng.range(1, len - 1))
            .collect(),
        7 | 8 => {
            // Fixed-size chunks.
            let size = rng.range(1, 64).max(len / max_cuts.max(1) + 1);
            (1..len).filter(|i| i % size == 0).collect()
        }
        _ => (1..len).collect(), // one byte at a time (capped below)
    };
    cuts.sort_unstable();
    cuts.dedup();
    if cuts.len() > max_cuts {
        // Keep an even spread of them.
        let step = cuts.len() as f64 / max_cuts as f64;
        cuts = (0..max_cuts)
            .map(|i| cuts[(i as f64 * step) as usize])
            .collect();
        cuts.dedup();
    }
    cuts
}

/// `cuts` for a person: all of them when few, else a summary.
pub fn describe_cuts(cuts: &[usize], len: usize) -> String {
    if cuts.len() + 1 == len && len > 1 {
        "between every byte".to_string()
    } else if cuts.len() <= 16 {
        format!("{cuts:?}")
    } else {
        format!(
            "{} cuts: {:?} … {:?}",
            cuts.len(),
            &cuts[..8],
            &cuts[cuts.len() - 8..]
        )
    }
}

/// `bytes` cut at `cuts` (sorted offsets).
pub fn chunks<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &cut in cuts {
        out.push(&bytes[from..cut]);
        from = cut;
    }
    out.push(&bytes[from..]);
    out
}

/// `bytes` as an escaped Rust byte-string literal, with the middle elided past `max` bytes.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let show = |part: &[u8]| -> String {
        part.iter()
            .map(|&b| match b {
                b'\r' => "\\r".to_string(),
                b'\n' => "\\n".to_string(),
                b'\t' => "\\t".to_string(),
                b'\\' => "\\\\".to_string(),
                b'"' => "\\\"".to_string(),
                0x20..=0x7e => (b as char).to_string(),
                _ => format!("\\x{b:02x}"),
            })
            .collect()
    };
    if bytes.len() <= max {
        format!("b\"{}\" ({} bytes)", show(bytes), bytes.len())
    } else {
        let half = max / 2;
        format!(
            "b\"{}\" …{} bytes… b\"{}\" ({} bytes)",
            show(&bytes[..half]),
            bytes.len() - 2 * half,
            show(&bytes[bytes.len() - half..]),
            bytes.len()
        )
    }
}

/// The reason phrase for every status the core defines or may define (the hardening issue
/// adds 408 for a head that does not complete in time; 414 and 505 are the standard answers
/// a core could grow for a long target and an unknown version).
pub fn reason(code: u16) -> Option<&'static str> {
    Some(match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => return None,
    })
}

/// What [`parse_response`] read from one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Whether it says `Connection: close`.
    pub closes: bool,
    /// Its `Content-Length`.
    pub content_length: u64,
    /// Whether the body was left out (the answer to HEAD).
    pub head_only: bool,
    /// How many bytes of the input it took.
    pub len: usize,
}

/// Parses the response at the start of `bytes` strictly: `HTTP/1.1`, a status this server
/// can send with its RFC 9110 reason phrase, well-formed header fields (visible ASCII,
/// `Name: value`, CRLF), `Content-Type: text/plain`, exactly one `Content-Length` and no
/// `Transfer-Encoding`, an `IMF-fixdate` if there is a `Date`, `Connection: close` on every
/// error, and a body of exactly `Content-Length` bytes (or none, for HEAD, when `bytes` ends
/// after the head or `head_only` is set).
pub fn parse_response(bytes: &[u8], head_only: Option<bool>) -> Result<Response, String> {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no blank line ends the head")?
        + 4;
    let head = std::str::from_utf8(&bytes[..head_end - 4])
        .map_err(|_| "the head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .ok_or_else(|| format!("status line {status_line:?} does not start with HTTP/1.1"))?;
    let (code, phrase) = rest
        .split_once(' ')
        .ok_or_else(|| format!("status line {status_line:?} has no reason phrase"))?;
    let status: u16 = code
        .parse()
        .ok()
        .filter(|_| code.len() == 3)
        .ok_or_else(|| format!("status code {code:?} is not three digits"))?;
    let want =
        reason(status).ok_or_else(|| format!("status {status} is not one the core sends"))?;
    if phrase != want {
        return Err(format!(
            "status {status} has reason {phrase:?}, not {want:?}"
        ));
    }
    let mut content_length = None;
    let mut content_type = None;
    let mut closes = false;
    for line in lines {
        let (name, value) = line
            .split_once(": ")
            .ok_or_else(|| format!("header line {line:?} is not `Name: value`"))?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(format!("header name {name:?} is not a token"));
        }
        if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) || value.ends_with(' ') {
            return Err(format!("header {name} has a malformed value {value:?}"));
        }
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                if content_length.is_some() {
                    return Err("two Content-Length headers".into());
                }
                let n: u64 = value
                    .parse()
                    .ok()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| format!("Content-Length {value:?} is not a number"))?;
                content_length = Some(n);
            }
            "content-type" => content_type = Some(value),
            "transfer-encoding" => return Err("a response with Transfer-Encoding".into()),
            "connection" => match value {
                "close" => closes = true,
                "keep-alive" => {}
                other => return Err(format!("Connection: {other:?}")),
            },
            "date" if !is_imf_fixdate(value) => {
                return Err(format!("Date {value:?} is not an IMF-fixdate"));
            }
            _ => {}
        }
    }
    if content_type != Some("text/plain") {
        return Err(format!("Content-Type is {content_type:?}, not text/plain"));
    }
    let content_length = content_length.ok_or("no Content-Length")?;
    if status >= 400 && !closes {
        return Err(format!("error status {status} without Connection: close"));
    }
    let available = (bytes.len() - head_end) as u64;
    let head_only = match head_only {
        Some(h) => h,
        None => available == 0 && content_length > 0,
    };
    let body = if head_only { 0 } else { content_length };
    if available < body {
        return Err(format!(
            "body of {available} bytes, Content-Length says {content_length}"
        ));
    }
    Ok(Response {
        status,
        closes,
        content_length,
        head_only,
        len: head_end + body as usize,
    })
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7), checked by shape.
pub fn is_imf_fixdate(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 29
        && ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&&value[..3])
        && &value[3..5] == ", "
        && digits(5..7)
        && b[7] == b' '
        && [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .contains(&&value[8..11])
        && b[11] == b' '
        && digits(12..16)
        && b[16] == b' '
        && digits(17..19)
        && b[19] == b':'
        && digits(20..22)
        && b[22] == b':'
        && digits(23..25)
        && &value[25..] == " GMT"
}
