//! The soak's clients: one loop per client of the mix, each of one [`Kind`], counting what
//! it met in its engine's [`Tally`].

use super::*;

/// Requests from the conformance corpus that the protocol core answers with 400 and a close,
/// so an engine's answer to them is known without asking it.
pub(super) fn malformed_requests() -> Vec<Vec<u8>> {
    wb_protocol::corpus::corpus()
        .into_iter()
        .filter(|case| case.writes.len() == 1)
        .filter(|case| {
            let (answers, closes) = case.expected();
            closes && answers.concat().starts_with(b"HTTP/1.1 400 ")
        })
        .map(|case| case.writes[0].clone())
        .collect()
}

/// One client of the mix, looping until the deadline.
pub(super) struct Client {
    pub(super) kind: Kind,
    pub(super) addr: std::net::SocketAddr,
    pub(super) tally: Arc<Tally>,
    pub(super) hold: Arc<AtomicBool>,
    pub(super) deadline: Instant,
    pub(super) rng: Rng,
    pub(super) malformed: Vec<Vec<u8>>,
}

/// How one exchange ended, when it did not fail.
enum Outcome {
    Ok,
    Provoked,
}

impl Client {
    pub(super) async fn run(mut self) {
        let mut conn: Option<TcpStream> = None;
        while Instant::now() < self.deadline {
            if self.hold.load(Ordering::Relaxed) {
                drop(conn.take());
                sleep(Duration::from_millis(200)).await;
                continue;
            }
            // Cut off at the deadline wherever it is: not an error.
            let Ok(result) = timeout_at(self.deadline, self.exchange(&mut conn)).await else {
                break;
            };
            match result {
                Ok(Outcome::Ok) => {
                    self.tally.ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Outcome::Provoked) => {
                    self.tally.provoked.fetch_add(1, Ordering::Relaxed);
                }
                Err(what) => {
                    conn = None;
                    self.tally.error(self.kind, what);
                    sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn connect(&self) -> Result<TcpStream, String> {
        let stream = timeout(ANSWER_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .map_err(|_| "connecting timed out".to_string())?
            .map_err(|e| format!("connecting failed: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(stream)
    }

    /// Reuses the keep-alive connection in `conn`, or opens one.
    async fn kept<'a>(&self, conn: &'a mut Option<TcpStream>) -> Result<&'a mut TcpStream, String> {
        if conn.is_none() {
            *conn = Some(self.connect().await?);
        }
        Ok(conn.as_mut().expect("just set"))
    }

    async fn exchange(&mut self, conn: &mut Option<TcpStream>) -> Result<Outcome, String> {
        match self.kind {
            Kind::Hello => {
                let stream = self.kept(conn).await?;
                let body = request(stream, HELLO, None).await?;
                if body != wb_protocol::HELLO_BODY {
                    return Err(format!(
                        "hello answered {:?}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                sleep(Duration::from_millis(10)).await;
                Ok(Outcome::Ok)
            }
            Kind::DbWait => {
                let stream = self.kept(conn).await?;
                request(
                    stream,
                    b"GET /work?wait_ms=50 HTTP/1.1\r\nHost: workbench\r\n\r\n",
                    None,
                )
                .await?;
                Ok(Outcome::Ok)
            }
            Kind::SlowReader => {
                let stream = self.kept(conn).await?;
                let head =
                    format!("GET /work?bytes={SLOW_BYTES} HTTP/1.1\r\nHost: workbench\r\n\r\n");
                let body = request(stream, head.as_bytes(), Some(SLOW_PAUSE)).await?;
                if body.len() != SLOW_BYTES {
                    return Err(format!("a body of {} bytes, not {SLOW_BYTES}", body.len()));
                }
                Ok(Outcome::Ok)
            }
            Kind::Slowloris => {
                let mut stream = self.connect().await?;
                let head = b"GET /hello HTTP/1.1\r\nHost: workbench\r\nX-Trickle: one byte at a time\r\n\r\n";
                let abandon = self.rng.below(2) == 0;
                let stop_at = if abandon {
                    1 + self.rng.below(head.len() as u64 - 2) as usize
                } else {
                    head.len()
                };
                for &byte in &head[..stop_at] {
                    stream
                        .write_all(&[byte])
                        .await
                        .map_err(|e| format!("trickling failed: {e}"))?;
                    sleep(Duration::from_millis(20 + self.rng.below(60))).await;
                }
                if abandon {
                    return Ok(Outcome::Provoked);
                }
                let body = read_response(&mut stream, None).await?;
                if body != wb_protocol::HELLO_BODY {
                    return Err("a trickled hello was not answered".into());
                }
                Ok(Outcome::Ok)
            }
            Kind::IdleChurn => {
                let mut stream = self.connect().await?;
                request(&mut stream, HELLO, None).await?;
                sleep(Duration::from_millis(200 + self.rng.below(1800))).await;
                Ok(Outcome::Ok)
            }
            Kind::Reset => {
                let mut stream = self.connect().await?;
                let whole = b"GET /work?wait_ms=200 HTTP/1.1\r\nHost: workbench\r\n\r\n";
                let sent = if self.rng.below(2) == 0 {
                    &whole[..]
                } else {
                    &whole[..20]
                };
                stream
                    .write_all(sent)
                    .await
                    .map_err(|e| format!("sending failed: {e}"))?;
                sleep(Duration::from_millis(10 + self.rng.below(100))).await;
                // Close with an RST (no FIN): SO_LINGER 0 (it does not block).
                socket2::SockRef::from(&stream)
                    .set_linger(Some(Duration::ZERO))
                    .map_err(|e| e.to_string())?;
                drop(stream);
                sleep(Duration::from_millis(50)).await;
                Ok(Outcome::Provoked)
            }
            Kind::Malformed => {
                let mut stream = self.connect().await?;
                let which = self.rng.below(self.malformed.len() as u64) as usize;
                let sent = &self.malformed[which];
                stream
                    .write_all(sent)
                    .await
                    .map_err(|e| format!("sending failed: {e}"))?;
                let mut answer = Vec::new();
                timeout(ANSWER_TIMEOUT, stream.read_to_end(&mut answer))
                    .await
                    .map_err(|_| "no close after a malformed request".to_string())?
                    .map_err(|e| format!("reading failed: {e}"))?;
                let text = String::from_utf8_lossy(&answer);
                if !text.starts_with("HTTP/1.1 400 ")
                    || one_answer_long(&answer) != Some(answer.len())
                {
                    return Err(format!(
                        "{:?} was answered {:?}",
                        String::from_utf8_lossy(&sent[..sent.len().min(40)]),
                        &text[..text.len().min(80)]
                    ));
                }
                sleep(Duration::from_millis(100)).await;
                Ok(Outcome::Ok)
            }
        }
    }
}

/// Sends `head` and reads one 200 answer's body (reading it slowly with `pause`).
async fn request(
    stream: &mut TcpStream,
    head: &[u8],
    pause: Option<Duration>,
) -> Result<Vec<u8>, String> {
    stream
        .write_all(head)
        .await
        .map_err(|e| format!("sending failed: {e}"))?;
    read_response(stream, pause).await
}

/// Reads one answer (framed by `Content-Length`), requires a 200 and returns its body.
async fn read_response(stream: &mut TcpStream, pause: Option<Duration>) -> Result<Vec<u8>, String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = vec![0u8; SLOW_CHUNK];
    let mut head_end = None;
    let mut length = 0;
    let started = Instant::now();
    loop {
        if let Some(end) = head_end
            && buf.len() >= end + length
        {
            break;
        }
        let left = ANSWER_TIMEOUT.saturating_sub(started.elapsed());
        let n = timeout(left, stream.read(&mut chunk))
            .await
            .map_err(|_| format!("no answer within {ANSWER_TIMEOUT:?}"))?
            .map_err(|e| format!("reading failed: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {} bytes of the answer", buf.len()));
        }
        buf.extend_from_slice(&chunk[..n]);
        if head_end.is_none()
            && let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200 ") {
                return Err(format!("answered {:?}", head.lines().next().unwrap_or("")));
            }
            length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| "an answer without Content-Length".to_string())?;
            head_end = Some(at + 4);
        }
        if let Some(pause) = pause {
            sleep(pause).await;
        }
    }
    let end = head_end.expect("read");
    if buf.len() > end + length {
        return Err("bytes after the answer".into());
    }
    Ok(buf.split_off(end))
}

/// The length of the one answer at the start of `bytes` (framed by `Content-Length`), if its
/// head is complete.
fn one_answer_long(bytes: &[u8]) -> Option<usize> {
    let at = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..at]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))?
        .trim()
        .parse()
        .ok()?;
    Some(at + 4 + length)
}

/// A small seeded generator (xorshift64*), so a soak's mix can be replayed.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}
