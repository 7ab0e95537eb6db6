//! What one connection holds in each engine, as the engine measures it
//! (`workbench engine <name> --describe`, see `wb_sys::describe`), read by the runner at the
//! start of a run and stored with it, so that a report shows the figures of the very build
//! that ran.

use serde::{Deserialize, Serialize};

/// The `--describe` line: `{"engine":…,"per_connection":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// The engine (its model's name, not the run's label).
    pub engine: String,
    /// What one connection holds.
    pub per_connection: PerConnection,
    /// The engine's effective configuration, as its ready line states it too; `None` in
    /// lines from before engines stated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<crate::results::EngineFacts>,
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
        assert_eq!(d.facts, None);
        let d = parse(r#"{"engine":"pool","per_connection":{"future_bytes":null,"protocol_bytes":null,"stack_bytes":12288},"facts":{"cpus":1,"workers":3}}"#).unwrap();
        let facts = d.facts.unwrap();
        assert_eq!((facts.workers, facts.cpus), (Some(3), Some(1)));
    }
}
