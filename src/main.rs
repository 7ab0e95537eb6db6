//! `workbench`: the one binary of Concurrency Workbench.
//!
//! `workbench engine <name>` runs one engine as its own process (the runner and the tests
//! start it as a child, so its memory and CPU are its own); `workbench check` starts all four
//! and proves that they answer the protocol corpus with identical bytes.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
