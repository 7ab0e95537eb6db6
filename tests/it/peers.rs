//! The conformance corpus against every installed peer: servers we did not write (asyncio,
//! Twisted, Tornado, gevent, curio, gunicorn, nginx) serving the workbench's routes.
//!
//! Each peer is started the way the runner starts it ([`PeerDef::spawn`]) and sent every case
//! of the corpus the engines answer (`wb_protocol::corpus`). How closely it must follow the
//! protocol core depends on how much of the bytes its framework lets us write:
//!
//! - The raw-socket Python peers (asyncio, Twisted, Tornado, gevent, curio) take their bytes
//!   from `peers/wbcore.py` and must answer **byte for byte**, with the very check the engines
//!   pass (`workbench::conformance::check_case`).
//! - gunicorn and nginx frame responses themselves. Their answers are compared field by field:
//!   status, body, `Content-Type`, `Content-Length`, `X-Work-Digest` and `Allow` as the core
//!   sends them, whether the connection closes where the core closes it, and no header beyond
//!   the core's except those the framework always adds, listed per peer below.
//! - Cases outside what a framework lets us control are listed per peer with the reason: either
//!   compared on status (and closing) only, because the framework answers with its own error
//!   page, or not run, because it answers differently by design. Cases on `/work` are "not
//!   supported" for nginx.
//!
//! A peer that is not installed is skipped with a message naming it (`workbench peers install`
//! installs the Python ones; nginx comes from `apt-get install nginx-light`), except under
//! `CI=true`, where a missing peer fails its test: CI installs them.
//!
//! `cargo test --test it peers:: -- --nocapture` prints a line per case and peer.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use wb_protocol::{Event, Session};
use wb_runner::child::ServerProcess;
use wb_runner::peers::{self, PeerDef, PeerLaunch as _};
use workbench::conformance::{Case, Delivery, check_case, corpus, describe_difference};

use crate::util::{STOP_GRACE, indented};

macro_rules! peer_tests {
    ($($test:ident => $peer:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                conformance($peer);
            }
        )*
        /// Every peer of the registry has a test here, and only those.
        const TESTED: &[&str] = &[$($peer),*];
    };
}

peer_tests!(
    asyncio => "asyncio",
    twisted => "twisted",
    asyncio_uvloop => "asyncio-uvloop",
    twisted_asyncio => "twisted-asyncio",
    twisted_uvloop => "twisted-uvloop",
    tornado => "tornado",
    gevent => "gevent",
    curio => "curio",
    python_threads => "python-threads",
    gunicorn_sync => "gunicorn-sync",
    gunicorn_gthread => "gunicorn-gthread",
    twisted_select => "twisted-select",
    twisted_poll => "twisted-poll",
    aiohttp => "aiohttp",
    uvicorn => "uvicorn",
    starlette => "starlette",
    twisted_web => "twisted-web",
    tornado_web => "tornado-web",
    gevent_wsgi => "gevent-wsgi",
    gunicorn_uvicorn => "gunicorn-uvicorn",
    granian => "granian",
    nginx => "nginx",
);

/// How one corpus case is treated for one peer, when it is not compared in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exemption {
    /// The framework answers this itself, with its own error page: compare the status and
    /// whether the connection closes, not the body or headers.
    StatusOnly,
    /// The framework answers differently by design (another status, or no keep-alive): not run.
    Differs,
}

/// What a peer is held to.
struct Expect {
    /// The peer sends the protocol core's bytes exactly.
    exact: bool,
    /// Headers the framework adds to every answer, which we cannot switch off.
    framework_headers: &'static [&'static str],
    /// The peer closes every connection after one answer (gunicorn's sync workers).
    closes_every_connection: bool,
    /// Corpus cases outside what the framework lets us control, and why.
    exempt: Vec<(&'static str, Exemption, &'static str)>,
}

const GUNICORN_PARSER: &str = "gunicorn's parser rejects the request before the application runs, with gunicorn's own 400 page";
const GUNICORN_LIMITS: &str = "gunicorn's limit_request_field_size / limit_request_fields (set to the core's limits) answer 431 with gunicorn's own page";
/// What gunicorn answers with its own page, in either worker class.
const GUNICORN_OWN_PAGES: &[(&str, Exemption, &str)] = &[
    ("garbage", Exemption::StatusOnly, GUNICORN_PARSER),
    ("bad_content_length", Exemption::StatusOnly, GUNICORN_PARSER),
    ("header_too_large", Exemption::StatusOnly, GUNICORN_LIMITS),
    ("too_many_headers", Exemption::StatusOnly, GUNICORN_LIMITS),
];
const SYNC_NO_KEEP_ALIVE: &str =
    "sync workers serve one request per connection and always answer Connection: close";

fn expect(peer: &str) -> Expect {
    use Exemption::*;
    let wbcore = Expect {
        exact: true,
        framework_headers: &[],
        closes_every_connection: false,
        exempt: Vec::new(),
    };
    // A framework that frames the answers itself, adding these headers to each.
    let framed = Expect {
        exact: false,
        framework_headers: &["server", "date"],
        closes_every_connection: false,
        exempt: Vec::new(),
    };
    match peer {
        "asyncio" | "asyncio-uvloop" | "twisted" | "twisted-asyncio" | "twisted-uvloop"
        | "tornado" | "gevent" | "curio" | "python-threads" | "twisted-select" | "twisted-poll" => {
            wbcore
        }
        "aiohttp" | "uvicorn" | "starlette" | "twisted-web" | "tornado-web" | "gevent-wsgi"
        | "gunicorn-uvicorn" | "granian" => Expect {
            exempt: framework_exemptions(peer),
            ..framed
        },
        "gunicorn-sync" => Expect {
            closes_every_connection: true,
            exempt: [
                GUNICORN_OWN_PAGES,
                &[
                    "pipelined_three",
                    "body_discarded_then_next",
                    "close_in_pipeline",
                    "http10_keep_alive",
                    "hundred_requests_one_connection",
                ]
                .map(|case| (case, Differs, SYNC_NO_KEEP_ALIVE)),
            ]
            .concat(),
            ..framed
        },
        "gunicorn-gthread" => Expect {
            exempt: GUNICORN_OWN_PAGES.to_vec(),
            ..framed
        },
        "nginx" => Expect {
            exempt: vec![
                (
                    "garbage",
                    StatusOnly,
                    "nginx's parser answers 400 with its own HTML page",
                ),
                (
                    "missing_host",
                    StatusOnly,
                    "nginx's parser answers 400 with its own HTML page",
                ),
                (
                    "bad_content_length",
                    StatusOnly,
                    "nginx's parser answers 400 with its own HTML page",
                ),
                (
                    "body_too_large",
                    StatusOnly,
                    "client_max_body_size 1m answers 413 with nginx's own HTML page",
                ),
                (
                    "header_too_large",
                    Differs,
                    "nginx answers 400 (Request Header Or Cookie Too Large), not 431",
                ),
                (
                    "too_many_headers",
                    Differs,
                    "nginx has no limit on the number of header fields: it answers 200",
                ),
                (
                    "transfer_encoding",
                    Differs,
                    "nginx reads chunked request bodies: it answers 405 (POST /hello), not 501",
                ),
            ],
            ..framed
        },
        other => panic!("no expectations for peer {other}: add it to tests/it/peers.rs"),
    }
}

/// The cases a framework peer's own HTTP stack answers itself, found by running the corpus
/// against each (`cargo test --test it peers:: -- --nocapture`), with the reason.
fn framework_exemptions(peer: &str) -> Vec<(&'static str, Exemption, &'static str)> {
    use Exemption::*;
    let own_page = match peer {
        "aiohttp" => "aiohttp's parser (llhttp) answers 400 with its own page and closes",
        "uvicorn" | "starlette" | "gunicorn-uvicorn" => {
            "uvicorn's parser (httptools) answers 400 with its own page and closes"
        }
        "twisted-web" => "twisted.web's parser answers 400 with its own page and closes",
        "tornado-web" => "tornado's HTTP1Connection answers 400 itself and closes",
        "gevent-wsgi" => "pywsgi's parser answers 400 with its own page and closes",
        _ => "granian's parser (hyper) answers 400 with an empty body and closes",
    };
    let limits = match peer {
        "aiohttp" => "aiohttp's limits are its own (8190-byte header fields, no field count)",
        "twisted-web" => "twisted.web's limits are its own (a 16 KiB line, no field count)",
        "tornado-web" => "tornado's limits are its own (64 KiB heads, no field count)",
        "gevent-wsgi" => "pywsgi's limits are its own (no limit on the head's fields)",
        "granian" => "granian's limits are hyper's (about 400 KiB heads, 100 fields)",
        _ => "httptools' limits are its own (no limit on the head's size or fields)",
    };
    let mut exempt = vec![
        ("garbage", StatusOnly, own_page),
        ("bad_content_length", StatusOnly, own_page),
        ("header_too_large", Differs, limits),
        ("too_many_headers", Differs, limits),
    ];
    let reads_body = "the framework waits for the declared 1 MiB body before answering or closing";
    let implicit_close =
        "an HTTP/1.0 answer closes without saying so (implicit in HTTP/1.0): closing is checked";
    let no_http10_keep_alive = "no keep-alive for HTTP/1.0 clients: it closes after one answer";
    match peer {
        "aiohttp" => exempt.extend([
            ("missing_host", StatusOnly, own_page),
            ("body_too_large", Differs, reads_body),
            (
                "close_in_pipeline",
                Differs,
                "llhttp rejects bytes after a `Connection: close` request with its own 400",
            ),
            ("http10_close", StatusOnly, implicit_close),
            ("http10_keep_alive", StatusOnly, implicit_close),
        ]),
        "uvicorn" | "starlette" | "gunicorn-uvicorn" => {
            exempt.push(("http10_keep_alive", Differs, no_http10_keep_alive));
        }
        "twisted-web" => exempt.extend([
            ("body_too_large", Differs, reads_body),
            ("http10_keep_alive", Differs, no_http10_keep_alive),
        ]),
        "tornado-web" => exempt.extend([
            ("missing_host", StatusOnly, own_page),
            ("body_too_large", Differs, reads_body),
            ("http10_close", StatusOnly, implicit_close),
            ("http10_keep_alive", StatusOnly, implicit_close),
        ]),
        "gevent-wsgi" => exempt.push(("body_too_large", Differs, reads_body)),
        "granian" => exempt.push((
            "missing_host",
            Differs,
            "hyper gives the application a Host for an HTTP/1.1 request without one",
        )),
        _ => {}
    }
    exempt
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
}

/// Every corpus case against one peer.
fn conformance(name: &str) {
    let peer = peers::find(name).unwrap_or_else(|| panic!("{name} is not in the registry"));
    if let Err(why) = peer.readiness() {
        assert!(
            !under_ci(),
            "peer {name} is not installed, and CI=true requires every peer: {why}"
        );
        eprintln!("peers::{name}: SKIPPED, not installed: {why}");
        return;
    }
    let expect = expect(name);
    let mut server = start(peer);
    let addr = server.addr();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in corpus() {
        if !server.is_running() {
            failures.push(format!(
                "the peer exited ({}) before case {}",
                server.exit_description(),
                case.name
            ));
            break;
        }
        let exemption = expect
            .exempt
            .iter()
            .find(|(exempt, ..)| *exempt == case.name);
        let outcome = if !peer.supports_work && touches_work(&case) {
            Ok("not supported (/work)".to_string())
        } else if let Some((_, Exemption::Differs, why)) = exemption {
            Ok(format!("not run: {why}"))
        } else if expect.exact {
            ran += 1;
            check_case(addr, &case)
                .map(|()| "identical bytes".to_string())
                .map_err(|mismatch| mismatch.to_string())
        } else {
            ran += 1;
            let status_only = matches!(exemption, Some((_, Exemption::StatusOnly, _)));
            check_fields(addr, &case, &expect, status_only)
                .map(|()| match exemption {
                    Some((_, _, why)) => format!("same status and closing; {why}"),
                    None => "same status, headers, body and digest".to_string(),
                })
                .map_err(|detail| format!("case {}: {detail}", case.name))
        };
        match outcome {
            Ok(verdict) => eprintln!("peers::{name}: {:<32} {verdict}", case.name),
            Err(failure) => {
                eprintln!("peers::{name}: {:<32} FAILED", case.name);
                failures.push(failure);
            }
        }
    }
    let stopped = server.terminate(STOP_GRACE).expect("terminate");
    assert!(
        failures.is_empty(),
        "peer {name} differs from the protocol core in {} of {ran} case(s):\n{}",
        failures.len(),
        indented(&failures)
    );
    assert!(
        !stopped.killed,
        "peer {name} did not exit within {STOP_GRACE:?} of SIGTERM"
    );
    assert!(
        stopped.status.success(),
        "peer {name} exited with {} after SIGTERM",
        stopped.status
    );
}

fn start(peer: &PeerDef) -> ServerProcess {
    peer.spawn(0, None)
        .unwrap_or_else(|e| panic!("peer {} did not start: {e}", peer.name))
}

/// Whether a case sends a request to `/work`.
fn touches_work(case: &Case) -> bool {
    case.writes
        .iter()
        .any(|write| write.windows(5).any(|w| w == b"/work"))
}

/// One parsed answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Header names lowercased, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close"))
    }
}

/// What the core answers to one request, and what that tells the reader.
struct Expected {
    answer: Answer,
    /// A HEAD answer: a `Content-Length` but no body on the wire.
    head_only: bool,
    /// The core closes the connection after it.
    closes: bool,
}

/// The core's answers, one list per write of the case (the corpus's `Case::expected`, kept
/// apart per answer).
fn expected_answers(case: &Case) -> Vec<Vec<Expected>> {
    let mut session = Session::new();
    let mut per_write = Vec::new();
    for write in &case.writes {
        session.receive_data(write);
        let mut answers = Vec::new();
        while let Event::Job(job) = session.next_event() {
            let closes = job.closes();
            let bytes = job.perform();
            let (answer, rest) = parse_head(&bytes).expect("the core's own answer parses");
            let length = content_length(&answer);
            let head_only = rest.is_empty() && length > 0;
            let answer = Answer {
                body: rest.to_vec(),
                ..answer
            };
            answers.push(Expected {
                answer,
                head_only,
                closes,
            });
        }
        per_write.push(answers);
    }
    per_write
}

fn content_length(answer: &Answer) -> usize {
    answer
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Splits `bytes` into a parsed head (status and headers) and what follows it, or `None` if
/// the head is not complete.
fn parse_head(bytes: &[u8]) -> Option<(Answer, &[u8])> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    Some((answer, &bytes[end + 4..]))
}

/// Reads one answer off `stream`, `pending` holding bytes already read past the last one.
fn read_answer(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
    head_only: bool,
) -> Result<Answer, String> {
    let mut chunk = [0u8; 16 * 1024];
    let (mut answer, head_len) = loop {
        if let Some((answer, rest)) = parse_head(pending) {
            break (answer, pending.len() - rest.len());
        }
        if pending.len() > 64 * 1024 {
            return Err("an answer head larger than 64 KiB".into());
        }
        match crate::util::read_some(stream, &mut chunk) {
            Ok(0) if pending.is_empty() => {
                return Err("the peer closed instead of answering".into());
            }
            Ok(0) => {
                return Err(format!(
                    "the peer closed in the middle of an answer head: {:?}",
                    String::from_utf8_lossy(pending)
                ));
            }
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("reading an answer: {e}")),
        }
    };
    let body_len = if head_only {
        0
    } else {
        content_length(&answer)
    };
    while pending.len() < head_len + body_len {
        match crate::util::read_some(stream, &mut chunk) {
            Ok(0) => {
                return Err(format!(
                    "the peer closed after {} of {body_len} body bytes",
                    pending.len() - head_len
                ));
            }
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("reading a body: {e}")),
        }
    }
    answer.body = pending[head_len..head_len + body_len].to_vec();
    pending.drain(..head_len + body_len);
    Ok(answer)
}

/// Compares one peer answer with the core's.
fn compare(
    expected: &Expected,
    got: &Answer,
    expect: &Expect,
    status_only: bool,
) -> Result<(), String> {
    let want = &expected.answer;
    if got.status != want.status {
        return Err(format!(
            "status {} where the core answers {}",
            got.status, want.status
        ));
    }
    if status_only {
        // The framework's own answer: whether it closes is checked on the socket (EOF), with
        // or without a `Connection: close` ([`check_fields`]).
        return Ok(());
    }
    let closes = got.says_close();
    if closes != expected.closes && !(closes && expect.closes_every_connection) {
        return Err(format!(
            "Connection: {} where the core {} the connection",
            got.header("connection").unwrap_or("(none)"),
            if expected.closes { "closes" } else { "keeps" }
        ));
    }
    if got.body != want.body {
        return Err(format!(
            "body: {}",
            describe_difference(&want.body, &got.body)
        ));
    }
    for name in ["content-type", "content-length", "x-work-digest", "allow"] {
        if got.header(name) != want.header(name) {
            return Err(format!(
                "{name}: {:?} where the core sends {:?}",
                got.header(name),
                want.header(name)
            ));
        }
    }
    let extra = got.headers.iter().find(|(name, _)| {
        want.header(name).is_none()
            && name != "connection"
            && !expect.framework_headers.contains(&name.as_str())
    });
    if let Some((name, value)) = extra {
        return Err(format!("unexpected header {name}: {value}"));
    }
    Ok(())
}

/// Sends a case the way the engines' check does, and compares the answers field by field.
fn check_fields(
    addr: SocketAddr,
    case: &Case,
    expect: &Expect,
    status_only: bool,
) -> Result<(), String> {
    let expected = expected_answers(case);
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).ok();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let write = |stream: &mut TcpStream, bytes: &[u8]| {
        stream.write_all(bytes).map_err(|e| format!("write: {e}"))
    };
    // Which answers to read after which write.
    let rounds: Vec<(Vec<u8>, Vec<&Expected>)> = match case.delivery {
        Delivery::Whole | Delivery::ByteAtATime => {
            vec![(case.writes.concat(), expected.iter().flatten().collect())]
        }
        Delivery::OneByOne => case
            .writes
            .iter()
            .cloned()
            .zip(expected.iter().map(|answers| answers.iter().collect()))
            .collect(),
    };
    let mut pending = Vec::new();
    let mut peer_closed = false;
    for (bytes, answers) in rounds {
        if case.delivery == Delivery::ByteAtATime {
            for byte in &bytes {
                write(&mut stream, std::slice::from_ref(byte))?;
                std::thread::sleep(Duration::from_millis(2));
            }
        } else {
            write(&mut stream, &bytes)?;
        }
        for want in answers {
            if peer_closed {
                return Err("the peer closed the connection before the last answer".into());
            }
            let got = read_answer(&mut stream, &mut pending, want.head_only)?;
            compare(want, &got, expect, status_only)?;
            // A framework's own answer must close where the core closes, said or not.
            peer_closed = got.says_close() || (status_only && want.closes);
        }
    }
    if !pending.is_empty() {
        return Err(format!("{} bytes after the last answer", pending.len()));
    }
    if peer_closed {
        // The peer must close: the next read sees EOF, not more bytes and not a hang.
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) if rest.is_empty() => Ok(()),
            Ok(_) => Err(format!("{} bytes after the last answer", rest.len())),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && rest.is_empty() => Ok(()),
            Err(e) => Err(format!("expected the peer to close: {e}")),
        }
    } else {
        // The connection stays open and nothing more arrives.
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        let result = match crate::util::read_some(&mut stream, &mut byte) {
            Ok(0) => Err("the peer closed a keep-alive connection".into()),
            Ok(_) => Err("bytes after the last answer".into()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(format!("keep-alive connection broke: {e}")),
        };
        let _ = stream.shutdown(Shutdown::Both);
        result
    }
}

#[test]
fn every_registered_peer_is_tested() {
    let registered: Vec<&str> = peers::all().iter().map(|p| p.name).collect();
    assert_eq!(
        registered, TESTED,
        "tests/it/peers.rs and wb_runner::peers disagree"
    );
    for name in TESTED {
        let expect = expect(name);
        for (case, ..) in &expect.exempt {
            assert!(
                corpus().iter().any(|c| c.name == *case),
                "{name} exempts {case}, which is not in the corpus"
            );
        }
    }
}

/// `peers/wbcore.py`, the Python port of the protocol core that the raw-socket peers share,
/// answers exactly what the core answers: every corpus request and a few hundred mutations of
/// them (bytes changed, dropped, inserted), each fed whole.
#[test]
fn wbcore_answers_like_the_protocol_core() {
    let python = [peers::venv_python(), "python3".into()]
        .into_iter()
        .find(|python| {
            std::process::Command::new(python)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        });
    let Some(python) = python else {
        assert!(!under_ci(), "no Python to run peers/wbcore.py with");
        eprintln!("wbcore: SKIPPED, no python3");
        return;
    };
    let mut inputs = mutated_corpus(400);
    // /db and /queries as routed (no rows handed back: both answer the same 503), and their
    // parameters' 400s and 405s.
    for target in [
        "/db",
        "/db?id=42",
        "/db?id=0",
        "/db?id=10001",
        "/db?id=%2042",
        "/db?id=1&id=2",
        "/db?x=1",
        "/db?id",
        "/queries?n=abc&id=3",
        "/queries?n=-5",
        "/queries?n=+7&id=9999",
        "/queries?queries=2",
        "/queries?n=2&n=3",
        "/queries?id=10001",
        "/queries?n=99999999999999999999",
        "/queries?x",
    ] {
        inputs.push(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes());
        inputs.push(format!("HEAD {target} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes());
        inputs.push(format!("DELETE {target} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes());
    }
    let script = "import sys\n\
                  sys.path.insert(0, sys.argv[1])\n\
                  import wbcore\n\
                  for line in sys.stdin:\n\
                  \x20   session = wbcore.Session()\n\
                  \x20   session.receive_data(bytes.fromhex(line.strip()))\n\
                  \x20   out = b''\n\
                  \x20   while True:\n\
                  \x20       job = session.next_event()\n\
                  \x20       if job is wbcore.NEED_DATA or job is wbcore.CLOSED:\n\
                  \x20           break\n\
                  \x20       out += job.perform()\n\
                  \x20   print(out.hex())\n";
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(peers::peers_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start python");
    let hex: String = inputs.iter().map(|input| to_hex(input) + "\n").collect();
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(hex.as_bytes()));
    let output = child.wait_with_output().expect("python output");
    writer.join().expect("writer thread").expect("write inputs");
    assert!(output.status.success(), "wbcore failed");
    let answers: Vec<&str> = std::str::from_utf8(&output.stdout)
        .expect("hex output")
        .lines()
        .collect();
    assert_eq!(answers.len(), inputs.len());
    for (input, answer) in inputs.iter().zip(answers) {
        // Both send today's Date, masked: the second may have turned between them.
        let answer = to_hex(&wb_protocol::date::masked(&hex_to_bytes(answer)));
        let want = to_hex(&wb_protocol::date::masked(&wb_protocol::respond_all(input)));
        assert!(
            answer == want,
            "wbcore differs from the core for {:?}:\n{}",
            String::from_utf8_lossy(input),
            describe_difference(&hex_to_bytes(&want), &hex_to_bytes(&answer))
        );
    }
}

/// The corpus's requests, then `extra` mutations of them (deterministic: a fixed xorshift seed).
fn mutated_corpus(extra: usize) -> Vec<Vec<u8>> {
    let originals: Vec<Vec<u8>> = corpus().iter().map(|case| case.writes.concat()).collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    const ALPHABET: &[u8] =
        b"GET /hello?work=&:\r\n HTTP/1.01Host: Content-Length 3close\x00\x7f\xff\t";
    let mut inputs = originals.clone();
    for _ in 0..extra {
        let mut input = originals[next(originals.len())].clone();
        for _ in 0..1 + next(3) {
            if input.is_empty() {
                break;
            }
            let at = next(input.len());
            let byte = ALPHABET[next(ALPHABET.len())];
            match next(3) {
                0 => input[at] = byte,
                1 => {
                    input.remove(at);
                }
                _ => input.insert(at, byte),
            }
        }
        inputs.push(input);
    }
    inputs
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(b'?'))
        .collect()
}
