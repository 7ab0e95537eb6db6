//! `workbench check`: start every engine and compare its answers with the protocol core's.
//!
//! This makes visible what keeps the comparison fair: every engine takes its responses from
//! the one protocol core, so the workloads are identical by construction. Each engine is
//! started as its own process, sent the conformance corpus, and its bytes compared with what
//! the sans-I/O core says any correct engine must send. `--json` prints the same verdicts as one document
//! ([`CheckDocument`]) for scripts and CI.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use workbench::child::ServerProcess;
use workbench::conformance::{check_case, corpus};

/// The four models, from the engine registry, in the order the tables show them.
use wb_model::engines::DEFAULT_ENGINES as ENGINES;

/// Every engine `check` can start: the four models, and `uring` when asked for (io_uring may
/// be unavailable on the machine, so it is not among the defaults).
const CHECKABLE: [&str; 5] = [ENGINES[0], ENGINES[1], ENGINES[2], ENGINES[3], "uring"];

#[derive(Debug, Default, Args)]
pub struct CheckArgs {
    /// Engines to check, comma-separated (default: the four models; uring when named).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(CHECKABLE))]
    engines: Vec<String>,
    /// Print the verdicts as one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

/// What `workbench check --json` prints. Field names are stable: fields may be added, never
/// renamed or removed (the API's promise, `/api`).
#[derive(Debug, Serialize)]
pub struct CheckDocument {
    /// The API's version ([`wb_web::API_VERSION`]): it changes only if that promise is broken.
    pub api_version: u32,
    /// Cases in the corpus: what each engine is sent.
    pub cases: usize,
    /// Whether every engine passed: the exit status is 0 exactly when this is true.
    pub passed: bool,
    /// One verdict per engine, in the order they were checked.
    pub engines: Vec<EngineVerdict>,
}

/// One engine's verdict.
#[derive(Debug, Serialize)]
pub struct EngineVerdict {
    /// The engine's name.
    pub engine: String,
    /// Its process id while it ran, to match it with logs.
    pub pid: u32,
    /// Cases sent before it stopped answering: fewer than the corpus means it died.
    pub cases_run: usize,
    /// Cases whose answer was byte for byte the protocol core's.
    pub cases_passed: usize,
    /// Seconds from start to stop, the corpus included.
    pub secs: f64,
    /// How it ended on SIGTERM (`exit status: 0` when clean), as the OS says it.
    pub stop: String,
    /// Whether it exited 0 on SIGTERM within the grace, without being killed.
    pub stopped_cleanly: bool,
    /// Every case run and identical, and a clean stop.
    pub passed: bool,
    /// The cases that differed, each with the first differing bytes.
    pub failures: Vec<CaseFailure>,
}

/// A case an engine answered differently from the protocol core.
#[derive(Debug, Serialize)]
pub struct CaseFailure {
    /// The corpus case's name.
    pub case: String,
    /// What differed.
    pub detail: String,
}

impl EngineVerdict {
    /// The table's last column: the verdict in a few words.
    fn summary(&self, cases: usize) -> String {
        if self.cases_run < cases {
            format!(
                "{} case(s) not run: the engine died",
                cases - self.cases_run
            )
        } else if self.failures.is_empty() && self.stopped_cleanly {
            "identical bytes, clean stop".to_string()
        } else if self.failures.is_empty() {
            format!("identical bytes, but stop: {}", self.stop)
        } else {
            format!("{} case(s) differ", self.failures.len())
        }
    }
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the workbench executable")?;
    let engines: Vec<&str> = if args.engines.is_empty() {
        ENGINES.to_vec()
    } else {
        args.engines.iter().map(String::as_str).collect()
    };
    let cases = corpus();
    let table = !args.json;
    if table {
        if !super::quiet() {
            println!(
                "Sending {} conformance cases to each engine; every answer must equal the protocol core's bytes.\n",
                cases.len()
            );
        }
        println!(
            "{:<12} {:>8} {:>8} {:>10}  result",
            "engine", "pid", "passed", "time"
        );
    }
    let mut verdicts = Vec::new();
    for engine in engines {
        let started = Instant::now();
        let mut server = ServerProcess::spawn(&exe, engine, &[])
            .with_context(|| format!("cannot start the {engine} engine"))?;
        let pid = server.pid();
        let mut failures = Vec::new();
        let mut checked = 0;
        for case in &cases {
            if !server.is_running() {
                if table {
                    println!("    the {engine} engine exited during case {}", case.name);
                }
                break;
            }
            failures.extend(check_case(server.addr(), case).err());
            checked += 1;
        }
        let stopped = server.terminate(Duration::from_secs(5))?;
        let stopped_cleanly = stopped.status.success() && !stopped.killed;
        let verdict = EngineVerdict {
            engine: engine.to_string(),
            pid,
            cases_run: checked,
            cases_passed: checked - failures.len(),
            secs: started.elapsed().as_secs_f64(),
            stop: stopped.status.to_string(),
            stopped_cleanly,
            passed: checked == cases.len() && failures.is_empty() && stopped_cleanly,
            failures: failures
                .iter()
                .map(|f| CaseFailure {
                    case: f.case.to_string(),
                    detail: f.detail.clone(),
                })
                .collect(),
        };
        if table {
            println!(
                "{engine:<12} {pid:>8} {:>8} {:>9.2}s  {}",
                verdict.cases_passed,
                verdict.secs,
                verdict.summary(cases.len())
            );
            for failure in &failures {
                println!("    {failure}");
            }
        }
        verdicts.push(verdict);
    }
    let passed = verdicts.iter().all(|v| v.passed);
    if args.json {
        let document = CheckDocument {
            api_version: wb_web::API_VERSION,
            cases: cases.len(),
            passed,
            engines: verdicts,
        };
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else if !super::quiet() {
        println!(
            "\nPoke one yourself: workbench engine selector --listen 127.0.0.1:8080, then\n  curl -i http://127.0.0.1:8080/hello\n  curl -i 'http://127.0.0.1:8080/work?wait_ms=100&cpu_rounds=1000&bytes=64'"
        );
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
