//! What one connection holds in each engine, as the engine measures it
//! (`workbench engine <name> --describe`, see `wb_sys::describe`), read by the runner at the
//! start of a run and stored with it, so that a report shows the figures of the very build
//! that ran.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::results::EngineSpec;

/// How long `--describe` may take: it serves one request on loopback, milliseconds.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `--describe` line: `{"engine":…,"per_connection":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// The engine (its model's name, not the run's label).
    pub engine: String,
    /// What one connection holds.
    pub per_connection: PerConnection,
}

/// Per-connection state in bytes; `None` where the model has no such thing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerConnection {
    /// The connection future (`size_of_val`), for async engines.
    pub future_bytes: Option<u64>,
    /// The protocol object the loop calls back (`size_of`), for callback engines.
    pub protocol_bytes: Option<u64>,
    /// The stack a connection's thread has touched after one request, for blocking engines.
    pub stack_bytes: Option<u64>,
}

/// Runs `exe engine <engine> <args> --describe` for `spec` and parses its line. Peers have no
/// such flag: `Err` says so.
pub fn describe(exe: &Path, spec: &EngineSpec) -> Result<Description, String> {
    if spec.peer {
        return Err(format!(
            "{} is a peer: only engines describe themselves",
            spec.label
        ));
    }
    let mut child = Command::new(exe)
        .arg("engine")
        .arg(&spec.engine)
        .args(&spec.args)
        .arg("--describe")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", exe.display()))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < DESCRIBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`engine {} --describe` did not finish within {DESCRIBE_TIMEOUT:?}",
                    spec.engine
                ));
            }
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|err| format!("reading `engine {} --describe`: {err}", spec.engine))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse(text.trim()).map_err(|err| {
        format!(
            "`engine {} --describe` printed {:?}, not its JSON line: {err}",
            spec.engine,
            text.trim()
        )
    })
}

/// Parses a `--describe` line.
pub fn parse(line: &str) -> Result<Description, serde_json::Error> {
    serde_json::from_str(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_parses_with_nulls() {
        let d = parse(r#"{"engine":"coroutines","per_connection":{"future_bytes":592,"protocol_bytes":null,"stack_bytes":null}}"#).unwrap();
        assert_eq!(d.engine, "coroutines");
        assert_eq!(d.per_connection.future_bytes, Some(592));
        assert_eq!(d.per_connection.stack_bytes, None);
    }
}
