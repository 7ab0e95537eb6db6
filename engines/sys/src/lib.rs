//! Not an engine: the contract every engine keeps, and the libc pieces that keep it once —
//! for the engines and for every other crate of the workspace.
//!
//! The four engines differ in how they move bytes, wait and compute — and in nothing else. What
//! they must all do alike is written here, once, so that no engine carries its own copy of a
//! rule (or of the `unsafe` code that implements it).
//!
//! # The contract
//!
//! 1. **Ready line.** `workbench engine <name>` binds the listener, blocks SIGINT and SIGTERM
//!    ([`signals::block_stop_signals`]), prints one JSON line on stdout
//!    (`{"engine":…,"addr":…,"pid":…,"facts":{…}}`, the facts being the engine's effective
//!    configuration: workers, threads, stack size, CPUs) and hands the listener to the
//!    engine's `serve`. A
//!    signal sent right after the ready line stays pending until the engine has its handling
//!    in place and calls [`signals::unblock_stop_signals`]: it is never lost, and never kills
//!    the process with the default action.
//! 2. **Stop within the grace.** On SIGINT or SIGTERM an engine stops accepting, closes idle
//!    connections at once, lets work in progress finish its response, and returns from
//!    `serve` within [`DRAIN_TIMEOUT`], whatever is left; the process exits 0 within
//!    [`STOP_GRACE`]. (The runner's SIGKILL after the grace stays the last resort.)
//! 3. **Linger.** After a response that closes the connection, an engine sends its FIN
//!    (`shutdown(SHUT_WR)`) and reads and discards input until the client's EOF or
//!    [`LINGER_TIMEOUT`], then closes ([`linger::lingering_close`] for blocking sockets).
//!    Closing with unread input would make the kernel send a reset, and a reset can destroy the
//!    response before the client has read it.
//! 4. **Accept errors never end the server.** `ECONNABORTED` (the client left before we
//!    accepted) is skipped; `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM` leave the connection in the
//!    backlog, so the engine pauses accepting for [`ACCEPT_BACKOFF`] instead of spinning on the
//!    same error, keeps serving what it has, and warns at most once a second
//!    ([`accept::WarnLimit`]). See [`accept::classify`].
//! 5. **Open files.** Each connection is a file descriptor: the binary raises the soft
//!    open-files limit to the hard one before serving ([`rlimit::raise_open_files_limit`]).
//! 6. **Timeouts, the same on every engine** ([`timeouts`]): `--header-timeout` (10 s; nginx's
//!    `client_header_timeout`) bounds a whole request, not one read, and ends with `408` and a
//!    close; `--keepalive-timeout` (75 s; nginx's `keepalive_timeout`) closes an idle
//!    connection; `--send-timeout` (60 s; nginx's `send_timeout`) closes a connection whose
//!    client has taken nothing for that long. Every engine flattens [`Timeouts`] into its
//!    flags, so the names and defaults cannot drift apart.
//! 7. **Bounded memory.** A response body is streamed in chunks of at most 64 KiB from the
//!    protocol core's static pattern (`wb_protocol::Response`), never rendered whole; each
//!    connection's buffers are capped (the read buffer, the session's partial head of at most
//!    16 KiB, one queued response). And no work for a client that has hung up: a wait ends
//!    when the client's FIN or reset arrives ([`hangup`]), deferred results for it are dropped.
//! 8. **The grace holds even when the engine cannot look.** A loop stalled in a CPU job cannot
//!    see the signal that stops it; [`signals::spawn_stop_watchdog`] ends the process at
//!    [`STOP_GRACE`] less half a second after the first SIGINT or SIGTERM, whatever the loop is
//!    doing.
//! 9. **Bounded reads.** A request that trickles in (a byte per segment) costs a bounded
//!    number of reads, not one per segment: after `wb_protocol::limits::TRICKLE_READS` small
//!    reads of it, an engine rests before each further read (`TRICKLE_REST`, growing)
//!    (`wb_protocol::Session::read_pause`), neither reading nor woken by the socket meanwhile
//!    ([`rest`] for the engines on tokio); the header timeout keeps running.
//!
//! # What it holds
//!
//! For the engines, the contract's pieces: [`accept`] (what an accept error means),
//! [`hangup`] (a wait that ends when the client leaves), [`linger`] (the lingering close),
//! [`rest`] (quiet while a trickled request piles up), [`rlimit`] (the open-files limit),
//! [`uring`] (whether io_uring may be used here), [`signals`] (the stop signals' mask and
//! watchdog), [`timeouts`] (the three timeouts and their flags), [`database`] (the database
//! flags), [`syscalls`] (the calls an engine makes, counted by itself, per answer),
//! [`describe`] (what one connection
//! holds, measured) and [`trace`] (spans of work for the timeline); `drained` (with the
//! `tokio` feature: a read on tokio that clears the socket's readiness when it has drained
//! it); [`loopback`] (a client or
//! a connected pair on 127.0.0.1, for `--describe` and for tests) and [`parse_flags`] (an
//! engine's flags parsed as the binary parses them).
//!
//! For the rest of the workspace — the runner, the load generator, the binary and its
//! examples, which hold no `unsafe` code of their own — the system calls they need, each
//! behind a safe function:
//!
//! - [`process`]: a child that dies with its parent ([`process::die_with_parent`]), the
//!   [group guard](process::GroupGuard), signals to a child or its group, waiting without
//!   reaping, a reaped child's CPU time, the effective user;
//! - [`affinity`]: CPU sets, pinning a thread or process, and pinning before `exec`;
//! - [`timerfd`]: the load generator's microsecond timer (registered with tokio by
//!   `timerfd::AsyncTimerFd`, with the `tokio` feature);
//! - [`errno`]: the few error numbers other crates compare with.
//!
//! # Implementation
//!
//! `libc` and the standard library, `clap` for the shared flags, `signal-hook` for the stop
//! watchdog, `tracing` for warnings and, with the `tokio` feature, `tokio` for the timerfd's
//! registration and `drained::read`. Every `unsafe` block says, in a `// SAFETY:` comment, why the call is sound:
//! which rule it keeps (what the kernel may write, who owns a descriptor, what may run
//! between `fork` and `exec`).

pub mod accept;
pub mod affinity;
pub mod database;
pub mod describe;
#[cfg(feature = "tokio")]
pub mod drained;
pub mod errno;
pub mod hangup;
pub mod linger;
pub mod loopback;
pub mod process;
pub mod rest;
pub mod rlimit;
pub mod signals;
pub mod syscalls;
pub mod timeouts;
pub mod timerfd;
pub mod trace;
pub mod uring;

pub use timeouts::Timeouts;

use std::time::Duration;

/// How long after SIGINT or SIGTERM the engine's process may take to exit; the runner and the
/// conformance suite SIGKILL it after that.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long, after the signal, `serve` lets work in progress go on before it returns anyway:
/// [`STOP_GRACE`] less a second for the process to tear down.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(4);

/// How long a lingering close keeps reading after the last response. nginx's
/// `lingering_timeout` is 5 s; ours is shorter because the workloads' clients are local and
/// close at once, and a shutdown must fit in [`STOP_GRACE`].
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// The pause after an `accept()` error such as `EMFILE`: the condition will not clear within
/// microseconds, and retrying at once would spin a core (nginx disables accept events for
/// 500 ms; Go's net/http backs off from 5 ms; Tornado and libuv pause too). 10 ms keeps an
/// engine at the open-files limit well under 1 % of a core while noticing a freed descriptor
/// quickly. (The selector once paused 50 ms, the others 10 ms: this one constant decides.)
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Parses `args` as the flags of the command `name`, flattened from `T` the way the binary
/// flattens an engine's `Config` (and the [`Timeouts`] in it) into `workbench engine <name>`:
/// what an engine's tests of its flags parse with.
pub fn parse_flags<T: clap::Args + clap::FromArgMatches>(
    name: &'static str,
    args: &[&str],
) -> Result<T, clap::Error> {
    let mut command = T::augment_args(clap::Command::new(name));
    let matches =
        command.try_get_matches_from_mut(std::iter::once(name).chain(args.iter().copied()))?;
    T::from_arg_matches(&matches)
}

/// A system call's return value `rc` as a result: 0 is success, anything else failed and set
/// `errno`. (For the calls that return 0 or -1; not for those that return a count or an ID.)
pub(crate) fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
