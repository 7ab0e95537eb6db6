//! `/engines`: how each model serves one request; `/source/{path}`: the files it links to.
//!
//! The source files are baked into the binary when it is built (`include_str!`), so the links
//! work wherever the dashboard runs, and only these files can be read: a path not in
//! [`SOURCES`] is a 404, never a read from disk.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::Path;
use axum::response::IntoResponse;

use super::{PageError, engine_css};

/// The files the Engines page links to: repository path and text.
pub const SOURCES: &[(&str, &str)] = &[
    (
        "engines/protocol/src/lib.rs",
        include_str!("../../../engines/protocol/src/lib.rs"),
    ),
    (
        "engines/protocol/src/session.rs",
        include_str!("../../../engines/protocol/src/session.rs"),
    ),
    (
        "engines/protocol/src/kernel.rs",
        include_str!("../../../engines/protocol/src/kernel.rs"),
    ),
    (
        "engines/threads/src/lib.rs",
        include_str!("../../../engines/threads/src/lib.rs"),
    ),
    (
        "engines/pool/src/lib.rs",
        include_str!("../../../engines/pool/src/lib.rs"),
    ),
    (
        "engines/selector/src/lib.rs",
        include_str!("../../../engines/selector/src/lib.rs"),
    ),
    (
        "engines/selector/src/reactor.rs",
        include_str!("../../../engines/selector/src/reactor.rs"),
    ),
    (
        "engines/selector/src/http.rs",
        include_str!("../../../engines/selector/src/http.rs"),
    ),
    (
        "engines/selector/src/interfaces.rs",
        include_str!("../../../engines/selector/src/interfaces.rs"),
    ),
    (
        "engines/selector/src/write_queue.rs",
        include_str!("../../../engines/selector/src/write_queue.rs"),
    ),
    (
        "engines/selector/src/timers.rs",
        include_str!("../../../engines/selector/src/timers.rs"),
    ),
    (
        "engines/selector/src/on_tokio.rs",
        include_str!("../../../engines/selector/src/on_tokio.rs"),
    ),
    (
        "engines/coroutines/src/lib.rs",
        include_str!("../../../engines/coroutines/src/lib.rs"),
    ),
    (
        "workloads/runner/src/lib.rs",
        include_str!("../../../workloads/runner/src/lib.rs"),
    ),
];

/// One model on the Engines page.
pub struct Model {
    /// Its label.
    pub label: &'static str,
    /// The model in a line.
    pub model: &'static str,
    /// One request, step by step.
    pub flow: &'static [&'static str],
    /// What it costs and where it breaks.
    pub costs: &'static str,
    /// Its variants on the New run page, with what they change.
    pub variants: &'static [(&'static str, &'static str)],
    /// Source files to read.
    pub sources: &'static [&'static str],
}

impl Model {
    /// Its colour, as on every chart.
    pub fn color(&self) -> String {
        engine_css(self.label)
    }
}

/// The four models, in their usual order.
pub const MODELS: [Model; 4] = [
    Model {
        label: "threads",
        model: "One OS thread per connection, in plain blocking code.",
        flow: &[
            "The main thread blocks in accept(); a client connects and accept() returns its socket.",
            "A new thread is spawned for the connection (its stack reserved: 2 MiB by default).",
            "The thread blocks in read() until the request's bytes arrive, then feeds them to the protocol session.",
            "For a database wait it calls thread::sleep: the kernel parks the thread and runs others.",
            "It runs the CPU work inline, on its own core if one is free, then blocks in write_all() until the kernel has taken the response.",
            "It loops to read the next request on the same connection (keep-alive) until the client closes.",
        ],
        costs: "A stack (a few KiB touched, megabytes reserved) and a kernel task per connection, and a context switch whenever a thread blocks. Thousands are fine; a hundred thousand hit the kernel's limits.",
        variants: &[],
        sources: &[
            "engines/threads/src/lib.rs",
            "engines/protocol/src/session.rs",
        ],
    },
    Model {
        label: "pool",
        model: "Prefork: N worker processes block in accept() on one shared listener, each serving one connection at a time.",
        flow: &[
            "The parent binds the listener and forks N workers (2 × cores + 1 by default); it serves nothing itself.",
            "A client connects; the kernel wakes one worker blocked in accept().",
            "That worker reads the request, sleeps for the wait and computes, in blocking code, like a thread.",
            "It writes the response and reads the next request on the same connection, until the client closes or goes quiet past the keep-alive timeout.",
            "Only then does it accept another client: everyone else waits in the listen backlog.",
        ],
        costs: "Isolation (a crash takes one worker, the parent forks another) and parallelism, but at most N clients at once: a 10 ms wait caps the whole pool near N × 100 req/s, and N slow clients take every worker.",
        variants: &[],
        sources: &["engines/pool/src/lib.rs"],
    },
    Model {
        label: "selector",
        model: "One thread, one epoll loop (mio), with Twisted's Protocol, Transport and Factory.",
        flow: &[
            "epoll reports the listener readable; the loop accepts until WouldBlock and asks the factory for a protocol (connection_made).",
            "epoll reports the socket readable; the loop reads into its one shared 64 KiB buffer and calls data_received.",
            "The protocol hands the bytes to the session; for a wait it calls call_later(W): a timer in the loop's heap, the socket leaves the epoll set.",
            "The timer fires: the CPU work runs on the loop thread (or, with --offload, on a thread pool), and transport.write() queues the response.",
            "The loop writes what the kernel will take now; the rest waits for a writable event. Meanwhile every other socket is served.",
            "The connection goes back to waiting for readability, holding a slab slot and no buffer.",
        ],
        costs: "A 128-byte slot in the slab per idle connection (`workbench engine selector --describe` prints this build's figure) and one thread in all. CPU work stalls every connection while it runs, unless deferred with --offload: concurrency, not parallelism.",
        variants: &[
            (
                "selector-offload",
                "CPU work deferred to a thread pool, as Twisted's deferToThread",
            ),
            (
                "selector-on-tokio",
                "the same protocol, unchanged, on tokio's loop through an adapter, as Twisted's asyncioreactor",
            ),
        ],
        sources: &[
            "engines/selector/src/lib.rs",
            "engines/selector/src/reactor.rs",
            "engines/selector/src/http.rs",
            "engines/selector/src/interfaces.rs",
            "engines/selector/src/write_queue.rs",
            "engines/selector/src/timers.rs",
            "engines/selector/src/on_tokio.rs",
        ],
    },
    Model {
        label: "coroutines",
        model: "Tokio, one task per connection: async/await that reads like the threads engine.",
        flow: &[
            "The accept loop awaits a connection and spawns a task for it: a task of about 1.2 KiB per connection here: the future itself, tokio's 128-byte-aligned task header and its I/O registration (`--describe`).",
            "The task awaits readiness; tokio's I/O driver (epoll underneath) wakes it when bytes arrive, and it reads them without blocking.",
            "For a wait it awaits sleep(): an entry in tokio's timer wheel; the worker thread runs other tasks meanwhile.",
            "It runs the CPU work on its worker (or, with --offload, on spawn_blocking's pool) and awaits write_all().",
            "It loops for the next request; an idle connection is a suspended future, no stack.",
        ],
        costs: "About 1 KiB of user-space memory per idle connection. The multi-thread runtime spreads tasks over every core (parallelism as well as concurrency); current-thread runs them all on one, like the selector.",
        variants: &[
            (
                "coroutines-current",
                "tokio's current-thread runtime: one thread, like the selector",
            ),
            (
                "coroutines-offload",
                "CPU work moved to tokio's blocking pool",
            ),
        ],
        sources: &["engines/coroutines/src/lib.rs"],
    },
];

#[derive(Template, WebTemplate)]
#[template(path = "engines.html")]
struct EnginesPage {
    nav: &'static str,
    models: &'static [Model],
}

/// The Engines page.
pub async fn page() -> impl IntoResponse {
    EnginesPage {
        nav: "engines",
        models: &MODELS,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "source.html")]
struct SourcePage {
    nav: &'static str,
    path: &'static str,
    lines: Vec<&'static str>,
}

/// `/source/{path}`: one of [`SOURCES`], read-only, with line numbers.
pub async fn source(Path(path): Path<String>) -> Result<impl IntoResponse, PageError> {
    let (path, text) = SOURCES.iter().find(|(p, _)| *p == path).ok_or_else(|| {
        PageError::NotFound(format!(
            "{path:?} is not one of the source files the dashboard shows; the Engines page \
                 links to them all."
        ))
    })?;
    Ok(SourcePage {
        nav: "engines",
        path,
        lines: text.lines().collect(),
    })
}
