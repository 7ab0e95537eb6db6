//! `workbench engine <name>`: bind, announce, serve.
//!
//! The binary does the parts every engine shares — raising the open-files limit, binding the
//! listener with a deep backlog, printing the ready line — and hands the listener to the
//! engine's `serve`, which returns after SIGINT or SIGTERM.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

/// How many connections the kernel may queue before `accept()`. The kernel caps it at
/// `net.core.somaxconn` (4096 by default since Linux 5.4). A deep queue matters for the
/// prefork pool, which accepts only as fast as its workers free up.
const LISTEN_BACKLOG: i32 = 4096;

#[derive(Debug, Args)]
pub struct EngineArgs {
    #[command(subcommand)]
    engine: Engine,
}

/// Flags every engine takes.
#[derive(Debug, Clone, Args)]
struct Common {
    /// Address to listen on; port 0 picks a free port (the ready line says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// Record spans (accept, read, wait, compute, write, with the thread or process that ran
    /// each) into a fixed-size buffer, written to FILE as JSON lines when it is full or when
    /// the engine stops. Off by default; see `wb_sys::trace`.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,

    /// Print what one connection holds in this engine (future, protocol object or touched
    /// stack, in bytes) as one JSON line, measured by the engine itself, and exit.
    #[arg(long)]
    describe: bool,

    /// Keep the engine's count of its own system calls in FILE, a shared page the runner
    /// reads between steps (`wb_sys::syscalls`). Engines that do not count leave it unmarked.
    #[arg(long, value_name = "FILE")]
    syscalls: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Engine {
    /// One OS thread per connection.
    Threads {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        config: wb_threads::Config,
    },
    /// Prefork process pool: N workers block in accept() on one shared listener.
    Pool {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        config: wb_pool::Config,
    },
    /// One thread, one epoll loop (mio), Twisted-style Protocol and Transport; `--reactor tokio`
    /// runs the same protocol on tokio's loop.
    Selector {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        config: wb_selector::Config,
    },
    /// Tokio: one task per connection.
    Coroutines {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        config: wb_coroutines::Config,
    },
    /// One thread, one io_uring: completions instead of readiness (multishot accept,
    /// provided buffers, timeouts as ring operations).
    Uring {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        config: wb_uring::Config,
    },
}

impl Engine {
    fn name(&self) -> &'static str {
        match self {
            Engine::Threads { .. } => "threads",
            Engine::Pool { .. } => "pool",
            Engine::Selector { .. } => "selector",
            Engine::Coroutines { .. } => "coroutines",
            Engine::Uring { .. } => "uring",
        }
    }

    fn common(&self) -> &Common {
        match self {
            Engine::Threads { common, .. }
            | Engine::Pool { common, .. }
            | Engine::Selector { common, .. }
            | Engine::Coroutines { common, .. }
            | Engine::Uring { common, .. } => common,
        }
    }
}

pub fn run(args: EngineArgs) -> anyhow::Result<ExitCode> {
    let engine = args.engine;
    let name = engine.name();
    if engine.common().describe {
        let described =
            describe(&engine).with_context(|| format!("cannot describe the {name} engine"))?;
        let mut line: serde_json::Value = serde_json::from_str(&described.to_json(name))?;
        line["facts"] = serde_json::to_value(facts(&engine))?;
        println!("{line}");
        return Ok(ExitCode::SUCCESS);
    }
    match workbench::os::raise_open_files_limit() {
        Ok(limit) => tracing::debug!(limit, "open-files soft limit raised to the hard limit"),
        Err(err) => tracing::warn!("could not raise the open-files limit: {err}"),
    }
    // Hold SIGINT and SIGTERM back until the engine has its handlers in place: a signal sent
    // right after the ready line then waits for them instead of killing the process with the
    // default action (and a non-zero status). Every engine unblocks them once it is ready.
    workbench::os::block_stop_signals().context("cannot block SIGINT and SIGTERM")?;
    // io_uring may be missing or switched off here: say so in one line, before any ready
    // line (the runner records such an engine's steps as not supported here).
    match &engine {
        Engine::Uring { .. } => wb_uring::available().map_err(anyhow::Error::msg)?,
        Engine::Selector { config, .. } => config.check().map_err(anyhow::Error::msg)?,
        _ => {}
    }
    if let Some(path) = &engine.common().syscalls {
        wb_sys::syscalls::publish(path)
            .with_context(|| format!("cannot keep system call counts in {}", path.display()))?;
        // Marked before the ready line, so that a reader who starts at once finds it.
        if counts_syscalls(&engine) {
            wb_sys::syscalls::counting();
        }
    }
    let addr = engine.common().listen;
    // A loop per core: every loop binds its own listener to the port, which they all share.
    let reuse_port = matches!(&engine, Engine::Selector { config, .. } if config.reuse_port());
    let listener = bind(addr, reuse_port).with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    if let Some(path) = &engine.common().trace {
        // Before serving (and before the pool forks): every process records from its start.
        wb_sys::trace::start(path)?;
    }
    announce(name, local, &facts(&engine))?;
    tracing::info!(engine = name, %local, "serving until SIGINT or SIGTERM");

    let served = match &engine {
        Engine::Threads { config, .. } => wb_threads::serve(listener, config),
        Engine::Pool { config, .. } => wb_pool::serve(listener, config),
        Engine::Selector { config, .. } => wb_selector::serve(listener, config),
        Engine::Coroutines { config, .. } => wb_coroutines::serve(listener, config),
        Engine::Uring { config, .. } => wb_uring::serve(listener, config),
    };
    // The pool's workers have written their own spans; this writes the rest.
    if let Err(err) = wb_sys::trace::finish() {
        tracing::warn!("cannot write the trace: {err}");
    }
    served.with_context(|| format!("the {name} engine failed"))?;
    tracing::info!(engine = name, "stopped");
    Ok(ExitCode::SUCCESS)
}

/// Whether `engine` counts its own system calls (`wb_sys::syscalls`): the selector on its own
/// mio loop (one loop or several) and `uring`; not the blocking engines, nor anything on
/// tokio, whose calls happen inside a runtime this project did not write.
fn counts_syscalls(engine: &Engine) -> bool {
    match engine {
        Engine::Selector { config, .. } => config.reactor == wb_selector::Loop::Mio,
        Engine::Uring { .. } => true,
        _ => false,
    }
}

/// What one connection holds in `engine`, measured by the engine (`--describe`).
fn describe(engine: &Engine) -> std::io::Result<wb_sys::describe::PerConnection> {
    match engine {
        Engine::Threads { config, .. } => wb_threads::describe(config),
        Engine::Pool { config, .. } => wb_pool::describe(config),
        // The protocol object the loop keeps per connection, and what a fresh one holds on
        // the heap (nothing, for an idle connection).
        Engine::Selector { config, .. } => Ok(wb_sys::describe::PerConnection {
            protocol_bytes: Some(
                size_of::<wb_selector::HttpProtocol>()
                    + wb_selector::HttpProtocol::new(config.offload).heap_bytes(),
            ),
            ..Default::default()
        }),
        Engine::Coroutines { config, .. } => wb_coroutines::describe(config),
        Engine::Uring { config, .. } => wb_uring::describe(config),
    }
}

/// What `engine` runs with, as it will run: the defaults resolved in this process (whose CPU
/// affinity the runner set before `exec`), for the ready line and `--describe`.
fn facts(engine: &Engine) -> wb_model::results::EngineFacts {
    use clap::ValueEnum;
    use wb_model::results::EngineFacts;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let name =
        |value: Option<clap::builder::PossibleValue>| value.map(|v| v.get_name().to_string());
    let base = EngineFacts {
        cpus: Some(cpus),
        ..EngineFacts::default()
    };
    match engine {
        Engine::Threads { config, .. } => EngineFacts {
            stack_bytes: Some(config.stack_size as u64),
            db_pool: Some(u64::from(config.db_pool.size)),
            ..base
        },
        // One database connection per worker.
        Engine::Pool { config, .. } => EngineFacts {
            workers: Some(u64::from(config.workers)),
            db_pool: Some(u64::from(config.workers)),
            ..base
        },
        Engine::Selector { config, .. } => EngineFacts {
            threads: Some(config.loops.get() as u64),
            loops: Some(config.loops.get() as u64),
            db_pool: Some(u64::from(config.db_pool.size)),
            reactor: name(config.reactor.to_possible_value()),
            offload_threads: config.effective_offload_threads().map(|n| n as u64),
            ..base
        },
        Engine::Coroutines { config, .. } => EngineFacts {
            threads: Some(config.effective_worker_threads() as u64),
            flavor: name(config.flavor.to_possible_value()),
            offload_threads: config.offload.then(|| config.blocking_threads.get() as u64),
            db_pool: Some(u64::from(config.db_pool.size)),
            ..base
        },
        Engine::Uring { config, .. } => EngineFacts {
            threads: Some(1),
            db_pool: Some(u64::from(config.db_pool.size)),
            ..base
        },
    }
}

/// Binds a listening socket with `SO_REUSEADDR` (so a restarted engine can take its port
/// back at once), `TCP_NODELAY` and a deep backlog; with `reuse_port`, `SO_REUSEPORT` too,
/// so that the selector's other loops can bind the same port.
///
/// Linux copies `TCP_NODELAY` from a listening socket to every socket it accepts, so setting
/// it here turns Nagle's algorithm off for every engine alike: a response written right after
/// another (pipelining) is not held back waiting for the client's delayed ACK.
fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Prints the ready line, the first line on stdout, and flushes it so a parent reading a pipe
/// sees it at once: `{"engine":…,"addr":…,"pid":…,"facts":{…}}`, the facts being the
/// engine's effective configuration ([`facts`]).
fn announce(
    engine: &str,
    addr: SocketAddr,
    facts: &wb_model::results::EngineFacts,
) -> std::io::Result<()> {
    let line = serde_json::json!({
        "engine": engine,
        "addr": addr.to_string(),
        "pid": std::process::id(),
        "facts": facts,
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    /// `workbench engine …` alone, to read and parse its flags.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::EngineArgs,
    }

    /// `--engines NAME:KEY=VALUE` takes the registry's parameters; they are each engine's own
    /// long flags (but the runner's `--listen`, `--trace` and `--describe`), no more, no fewer.
    #[test]
    fn the_registry_knows_every_engines_flags() {
        let command = Cli::command();
        for engine in ["threads", "pool", "selector", "coroutines", "uring"] {
            let sub = command.find_subcommand(engine).unwrap();
            let mut flags: Vec<&str> = sub
                .get_arguments()
                .filter_map(|a| a.get_long())
                .filter(|l| {
                    !["listen", "trace", "describe", "db-url", "syscalls", "help"].contains(l)
                })
                .collect();
            let mut keys: Vec<&str> = wb_model::engines::params(engine)
                .iter()
                .map(|p| p.key)
                .collect();
            flags.sort();
            keys.sort();
            assert_eq!(flags, keys, "{engine}");
        }
    }

    /// What the registry accepts, the engine's flags accept too; and the facts in the ready
    /// line are the parsed configuration's.
    #[test]
    fn parameters_the_registry_accepts_parse_as_the_engines_flags() {
        for item in [
            "pool:workers=8",
            "threads:stack-size=8MiB",
            "threads:stack-size=32KiB",
            "coroutines:flavor=current-thread:offload=true:blocking-threads=2",
            "selector:offload=true:offload-threads=3:reactor=tokio",
            "selector-offload:header-timeout=5",
        ] {
            let spec = wb_model::engines::parse_engine(item).unwrap();
            let words = ["workbench", &spec.engine]
                .into_iter()
                .chain(spec.args.iter().map(String::as_str));
            let cli = Cli::try_parse_from(words).unwrap_or_else(|e| panic!("{item}: {e}"));
            let facts = super::facts(&cli.args.engine);
            match item {
                "pool:workers=8" => assert_eq!(facts.workers, Some(8)),
                "threads:stack-size=8MiB" => assert_eq!(facts.stack_bytes, Some(8 << 20)),
                "threads:stack-size=32KiB" => assert_eq!(facts.stack_bytes, Some(32 << 10)),
                "selector:offload=true:offload-threads=3:reactor=tokio" => {
                    assert_eq!(facts.offload_threads, Some(3));
                    assert_eq!(facts.reactor.as_deref(), Some("tokio"));
                }
                "selector-offload:header-timeout=5" => assert_eq!(facts.threads, Some(1)),
                _ => {
                    assert_eq!(facts.flavor.as_deref(), Some("current-thread"));
                    assert_eq!((facts.threads, facts.offload_threads), (Some(1), Some(2)));
                }
            }
            assert!(facts.cpus.is_some_and(|n| n >= 1));
        }
    }

    /// The idle lesson states the threads engine's ceiling from the registry's count of
    /// mappings per thread; the engine explains its `EAGAIN` from its own.
    #[test]
    fn the_registry_and_the_threads_engine_count_the_same_mappings() {
        assert_eq!(
            wb_model::engines::THREAD_MAPPINGS,
            wb_threads::MAPPINGS_PER_THREAD
        );
    }
}
