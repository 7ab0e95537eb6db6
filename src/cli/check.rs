//! `workbench check`: start every engine and compare its answers with the protocol core's.
//!
//! This is the first invariant of the design made visible: each engine is started as its own
//! process, sent the conformance corpus, and its bytes compared with what the sans-I/O core
//! says any correct engine must send.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use workbench::child::EngineProcess;
use workbench::conformance::{check_case, corpus};

/// The four models, from the engine registry, in the order the tables show them.
use workloads::engines::DEFAULT_ENGINES as ENGINES;

#[derive(Debug, Default, Args)]
pub struct CheckArgs {
    /// Engines to check, comma-separated (default: all four).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(ENGINES))]
    engines: Vec<String>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the workbench executable")?;
    let engines: Vec<&str> = if args.engines.is_empty() {
        ENGINES.to_vec()
    } else {
        args.engines.iter().map(String::as_str).collect()
    };
    let cases = corpus();
    println!(
        "Sending {} conformance cases to each engine; every answer must equal the protocol core's bytes.\n",
        cases.len()
    );
    println!(
        "{:<12} {:>8} {:>8} {:>10}  result",
        "engine", "pid", "passed", "time"
    );
    let mut all_passed = true;
    for engine in engines {
        let started = Instant::now();
        let server = EngineProcess::spawn(&exe, engine, &[])
            .with_context(|| format!("cannot start the {engine} engine"))?;
        let mut server = server;
        let pid = server.pid();
        let mut failures = Vec::new();
        let mut checked = 0;
        for case in &cases {
            if !server.is_running() {
                println!("    the {engine} engine exited during case {}", case.name);
                break;
            }
            failures.extend(check_case(server.addr(), case).err());
            checked += 1;
        }
        let stopped = server.terminate(Duration::from_secs(5))?;
        let complete = checked == cases.len();
        let verdict = if !complete {
            format!("{} case(s) not run: the engine died", cases.len() - checked)
        } else if failures.is_empty() && stopped.status.success() {
            "identical bytes, clean stop".to_string()
        } else if failures.is_empty() {
            format!("identical bytes, but stop: {}", stopped.status)
        } else {
            format!("{} case(s) differ", failures.len())
        };
        println!(
            "{engine:<12} {pid:>8} {:>8} {:>9.2}s  {verdict}",
            checked - failures.len(),
            started.elapsed().as_secs_f64()
        );
        for failure in &failures {
            println!("    {failure}");
        }
        all_passed &=
            complete && failures.is_empty() && stopped.status.success() && !stopped.killed;
    }
    println!(
        "\nPoke one yourself: workbench engine selector --listen 127.0.0.1:8080, then\n  curl -i http://127.0.0.1:8080/hello\n  curl -i 'http://127.0.0.1:8080/work?wait_ms=100&cpu_rounds=1000&bytes=64'"
    );
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
