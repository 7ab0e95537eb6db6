//! Opening connections: the parallelism bound, retries, the gauges that count what is open,
//! and the error classification that explains a level not reached.
//!
//! A step may open thousands of connections. They are opened at most
//! [`CONNECT_PARALLELISM`](super::CONNECT_PARALLELISM) at a time, each attempt bounded by [`CONNECT_TIMEOUT`]; a refused
//! or timed-out attempt is a connect error and is retried after [`CONNECT_RETRY_PAUSE`]
//! while the window lasts. Running out of descriptors (`EMFILE`, `ENFILE`) or local ports
//! (`EADDRNOTAVAIL`) will not get better by retrying: the first such failure marks the step
//! exhausted, and later attempts are counted without being made. The first failure is kept
//! and turned into words ([`ConnectFailure::describe`]) with what to do about it.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;

use super::clock::sleep_until;
use super::exchange::Watchdog;
use super::step::{Shared, Slot};
use super::{CONNECT_PARALLELISM, CONNECT_RETRY_PAUSE, CONNECT_TIMEOUT};

/// Keeps a connection open, doing nothing, until the step's tasks are dropped.
///
/// A task whose window is over parks here rather than returning, so that its connection is
/// still counted when the report reads the gauge at the end of the window; [`super::run`]
/// then drops every task, which closes every connection at once.
pub(super) async fn keep_until_reported(conn: Conn<'_>) {
    std::future::pending::<()>().await;
    drop(conn);
}

/// Connections open now, and the most open at once.
#[derive(Debug, Default)]
pub(super) struct Gauge {
    now: Cell<u64>,
    peak: Cell<u64>,
}

impl Gauge {
    /// Connections open now.
    pub(super) fn now(&self) -> u64 {
        self.now.get()
    }

    /// The most connections that were open at once.
    pub(super) fn peak(&self) -> u64 {
        self.peak.get()
    }

    fn opened(&self) {
        let now = self.now.get() + 1;
        self.now.set(now);
        self.peak.set(self.peak.get().max(now));
    }

    fn closed(&self) {
        self.now.set(self.now.get().saturating_sub(1));
    }
}

/// An open connection, counted in its [`Gauge`] until it is dropped.
pub(super) struct Conn<'g> {
    /// The socket.
    pub(super) stream: TcpStream,
    /// Its request timer ([`Watchdog`]), armed once a request has to wait.
    pub(super) watchdog: Watchdog,
    _counted: Counted<'g>,
}

impl Conn<'_> {
    /// Takes the socket out of the runtime (and out of the gauge): a bare descriptor, for
    /// holding idle connections at a cost of a few bytes each.
    pub(super) fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.stream.into_std()
    }
}

/// Keeps one connection counted in a gauge while it lives.
struct Counted<'g>(&'g Gauge);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.closed();
    }
}

/// Whether a failed connect can be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Try again after [`CONNECT_RETRY_PAUSE`] until the deadline (a refusing server may come
    /// back; the load goes on).
    UntilDeadline,
    /// Give up at the first failure.
    Never,
}

impl Shared {
    /// Opens a connection counted in `gauge`, trying until `until` if `retry` allows. Every
    /// failure is counted as a connect error; `None` means no connection (the deadline
    /// passed, the descriptor limit was hit, or `retry` is `Never`).
    ///
    /// With a `slot`, a closed loop's client waits from each attempt on (queued for a
    /// connect slot too): an attempt the window's end cuts short stays pending there and is
    /// censored; a failed one is an error and leaves nothing pending.
    pub(super) async fn connect<'s>(
        &'s self,
        gauge: &'s Gauge,
        until: Instant,
        retry: Retry,
        slot: Option<Slot>,
    ) -> Option<Conn<'s>> {
        let settled = || {
            if let Some(slot) = slot {
                self.settled(slot);
            }
        };
        loop {
            if self.exhausted.get() {
                // Another connection hit the open-files limit: this one cannot be opened
                // either. It counts as a connect error, without a pointless attempt.
                self.stats.borrow_mut().connect_skipped();
                settled();
                return None;
            }
            let started = Instant::now();
            if started >= until {
                // Nothing was attempted inside the window: nothing is pending.
                settled();
                return None;
            }
            if let Some(slot) = slot {
                self.waiting(slot, started, None);
            }
            let attempt = {
                let _slot = self.connect_slots.acquire().await.ok()?;
                let now = Instant::now();
                if now >= until {
                    return None;
                }
                let deadline = (now + CONNECT_TIMEOUT).min(until);
                tokio::time::timeout_at(deadline.into(), TcpStream::connect(self.target)).await
            };
            let now = Instant::now();
            match attempt {
                Ok(Ok(stream)) => {
                    // Requests are written whole, but slow senders write single bytes:
                    // no Nagle delay for either.
                    let _ = stream.set_nodelay(true);
                    gauge.opened();
                    return Some(Conn {
                        stream,
                        watchdog: Watchdog::default(),
                        _counted: Counted(gauge),
                    });
                }
                Ok(Err(err)) => {
                    let fatal = matches!(
                        err.raw_os_error(),
                        Some(
                            wb_sys::errno::EMFILE
                                | wb_sys::errno::ENFILE
                                | wb_sys::errno::EADDRNOTAVAIL
                        )
                    );
                    self.connect_failed(ConnectFailure::Error {
                        errno: err.raw_os_error(),
                        text: err.to_string(),
                    });
                    settled();
                    if fatal {
                        self.exhausted.set(true);
                        return None;
                    }
                }
                // Cut short by the window's end: still pending, censored.
                Err(_elapsed) if now >= until => return None,
                Err(_elapsed) => {
                    self.connect_failed(ConnectFailure::TimedOut);
                    settled();
                }
            }
            if retry == Retry::Never || now + CONNECT_RETRY_PAUSE >= until {
                return None;
            }
            sleep_until(now + CONNECT_RETRY_PAUSE).await;
        }
    }

    fn connect_failed(&self, failure: ConnectFailure) {
        self.stats.borrow_mut().connect_failed(failure);
    }

    /// Whether the open-files (or local port) limit was hit.
    pub(super) fn exhausted(&self) -> bool {
        self.exhausted.get()
    }

    /// Why a level of `level` connections was not reached when only `reached` were open, or
    /// `None` if it was.
    pub(super) fn shortfall(&self, level: u64, reached: u64) -> Option<String> {
        if reached >= level {
            return None;
        }
        Some(self.connect_failure(reached, Some(level)).unwrap_or_else(|| {
            let connecting = CONNECT_PARALLELISM - self.connect_slots.available_permits();
            if connecting > 0 {
                // Nothing failed: the server accepted slower than the step asked. A busy
                // server's accept queue fills, the kernel drops SYNs, and the client's
                // kernel retries them after 1 s, 3 s, 7 s…
                format!(
                    "{reached} of {level} connections open when the window ended, {connecting} \
                     still connecting and none refused: the server accepts slower than that \
                     (a full accept queue drops SYNs, retried after 1 s, 3 s…); give it a \
                     longer warm-up, or ask for fewer connections"
                )
            } else {
                format!(
                    "{reached} of {level} connections open when the window ended; none was \
                     refused, so the server closed the others (its log says why)"
                )
            }
        }))
    }

    /// The first connect failure in words, if there was one, given the connections
    /// `reached` at the end (and the `level` aimed at, for connection-counting modes).
    pub(super) fn connect_failure(&self, reached: u64, level: Option<u64>) -> Option<String> {
        let stats = self.stats.borrow();
        let failure = stats.first_connect_failure()?;
        Some(failure.describe(self.target, reached, level))
    }
}

/// The first connection attempt that failed, kept to explain a level not reached.
#[derive(Debug, Clone)]
pub(super) enum ConnectFailure {
    /// The system said no.
    Error {
        /// `errno`, when there is one.
        errno: Option<i32>,
        /// The error as text.
        text: String,
    },
    /// No answer within [`CONNECT_TIMEOUT`].
    TimedOut,
}

impl ConnectFailure {
    /// The failure in words, with what to do about it, once the step knows how many
    /// connections it `reached` (failures are seen while others are still connecting, so
    /// the count at the time of the error would understate it).
    fn describe(&self, target: SocketAddr, reached: u64, level: Option<u64>) -> String {
        let open = match level {
            Some(level) => format!("{reached} of {level} connections open"),
            None => format!("{reached} connections open"),
        };
        match self {
            ConnectFailure::TimedOut => format!(
                "connecting to {target} timed out after {} s ({open})",
                CONNECT_TIMEOUT.as_secs()
            ),
            ConnectFailure::Error { errno, text } => match *errno {
                Some(wb_sys::errno::EMFILE) => {
                    let (soft, hard) = open_files_limits();
                    format!(
                        "open-files limit reached at {reached} connections (soft limit {soft}, \
                         hard limit {hard}); lower the level or raise the limit"
                    )
                }
                Some(wb_sys::errno::ENFILE) => format!(
                    "the system-wide open-files limit (fs.file-max) was reached at {reached} \
                     connections; lower the level or raise the limit"
                ),
                Some(wb_sys::errno::EADDRNOTAVAIL) => format!(
                    "no free local port at {reached} connections (ip_local_port_range, or \
                     sockets in TIME_WAIT); lower the level or wait"
                ),
                Some(wb_sys::errno::ECONNREFUSED) => {
                    format!("connection refused by {target} ({open}): is it listening?")
                }
                _ => format!("cannot connect to {target}: {text} ({open})"),
            },
        }
    }
}

/// The process's open-files limits (soft, hard), as text ("unlimited" or a number).
fn open_files_limits() -> (String, String) {
    let show = |v: u64| {
        if v == wb_sys::rlimit::UNLIMITED {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    match wb_sys::rlimit::open_files_limits() {
        Some((soft, hard)) => (show(soft), show(hard)),
        None => ("unknown".into(), "unknown".into()),
    }
}
