//! What several test files need, once: the built binary, running it as a shell would, and
//! starting and stopping an engine with the contract's checks.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use workbench::child::ServerProcess;

/// Generates `mod <engine> { #[test] fn <case>() }` for every engine and case, like ripgrep's
/// `rgtest!`: a case is written once and runs once per engine.
macro_rules! per_engine {
    ($($case:ident),* $(,)?) => {
        per_engine!(@engine threads [$($case),*]);
        per_engine!(@engine pool [$($case),*]);
        per_engine!(@engine selector [$($case),*]);
        per_engine!(@engine selector_on_tokio [$($case),*]);
        per_engine!(@engine selector_loops [$($case),*]);
        per_engine!(@engine coroutines [$($case),*]);
        per_engine!(@engine uring [$($case),*]);
    };
    (@engine $engine:ident [$($case:ident),*]) => {
        mod $engine {
            $(
                #[test]
                fn $case() {
                    if crate::util::cannot_run_here(stringify!($engine)) {
                        return;
                    }
                    super::$case(stringify!($engine));
                }
            )*
        }
    };
}

/// Whether `engine` cannot run on this machine (`uring` where io_uring is missing, switched
/// off or filtered): then the test says why and passes as skipped, except under `CI=true`,
/// where a missing capability fails the test as every missing tool does.
pub fn cannot_run_here(engine: &str) -> bool {
    if wb_model::engines::find(engine).is_none_or(|e| e.engine != "uring") {
        return false;
    }
    match wb_sys::uring::available() {
        Ok(()) => false,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{why}: CI runs every engine")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            true
        }
    }
}

/// The `workbench` binary cargo built for these tests.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_workbench"))
}

/// Runs `workbench <args>` in `dir`, warnings only in its log, with no `$WORKBENCH_DB` from
/// the caller's environment, and waits for its output.
pub fn workbench(dir: &Path, args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .env_remove("WORKBENCH_DB")
        .output()
        .expect("run workbench")
}

/// A temporary folder holding these files, each `(name, text)`: workload files for a run
/// started there.
pub fn folder_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// A workload of a few idle connections, three short levels. At most three: the pool has at
/// least 2 × 1 + 1 workers, so every engine holds every level and no step waits out the
/// request timeout for connections a pool never answers (what the pool does beyond its
/// workers is the faults and lesson tests' business).
pub const TINY_IDLE: &str = r#"name = "tiny-idle"
description = "a few idle connections"
mode = "idle"
levels = [0, 1, 3]
step_secs = 0.4
warmup_secs = 0
"#;

/// How long an engine (or a peer) may take to exit after SIGTERM (the engines' contract: 5 s).
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// One keep-alive `/hello` request.
pub const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: workbench\r\n\r\n";

/// Starts the engine the registry knows by this label (`selector_on_tokio` is
/// `selector --reactor tokio`), with `args` after the label's own flags.
pub fn start_engine(engine: &str, args: &[&str]) -> ServerProcess {
    ServerProcess::spawn_registered(exe(), engine, args)
        .unwrap_or_else(|e| panic!("engine {engine} did not start: {e}"))
}

/// Stops the engine and requires a clean, prompt exit.
pub fn stop_engine(engine: &str, server: ServerProcess) {
    let stopped = server.terminate(STOP_GRACE).expect("terminate");
    assert!(
        !stopped.killed,
        "engine {engine} did not exit within {STOP_GRACE:?} of SIGTERM"
    );
    assert!(
        stopped.status.success(),
        "engine {engine} exited with {} after SIGTERM",
        stopped.status
    );
}

/// Failures one a line, each indented, for an assertion's message.
pub fn indented(failures: &[impl std::fmt::Display]) -> String {
    failures
        .iter()
        .map(|f| format!("  {f}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A dashboard on the store `db`, as `workbench serve` makes it on loopback, in process. Runs
/// it starts use this build's `workbench`.
pub fn dashboard(db: &Path) -> wb_web::Dashboard {
    wb_web::Dashboard::new(
        wb_web::Config {
            db: db.to_path_buf(),
            exe: env!("CARGO_BIN_EXE_workbench").into(),
            rustc: "rustc (test)".into(),
            git_revision: "test".into(),
        },
        "127.0.0.1:8080".parse().unwrap(),
    )
}

/// One `read`, made again when a signal interrupted it (`EINTR`): the test process has
/// children whose exits and stops are signalled to it, and a read cut short is no answer.
pub fn read_some(stream: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            read => return read,
        }
    }
}
