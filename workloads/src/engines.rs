//! The engines a run can start, by the label people type: the four models, and variants that
//! show what one flag changes.
//!
//! `workbench run --engines` and the dashboard's New run page both read this table, so a
//! label means the same engine and flags everywhere, and a stored run's label can be looked
//! up again.

use crate::results::EngineSpec;

/// One engine a run can start: `workbench engine <engine> <args…>`, shown as `label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineChoice {
    /// What tables, charts and `--engines` call it: `selector-offload`.
    pub label: &'static str,
    /// The engine subcommand: `selector`.
    pub engine: &'static str,
    /// Its extra flags: `["--offload"]`.
    pub args: &'static [&'static str],
    /// What it shows, in a line, for menus.
    pub about: &'static str,
}

impl EngineChoice {
    /// The runner's description of this engine.
    pub fn spec(&self) -> EngineSpec {
        EngineSpec {
            label: self.label.to_string(),
            engine: self.engine.to_string(),
            args: self.args.iter().map(|a| a.to_string()).collect(),
            peer: false,
        }
    }
}

/// Every engine `--engines` accepts, the four models first.
pub const ENGINES: &[EngineChoice] = &[
    EngineChoice {
        label: "threads",
        engine: "threads",
        args: &[],
        about: "one OS thread per connection",
    },
    EngineChoice {
        label: "pool",
        engine: "pool",
        args: &[],
        about: "prefork pool: N processes, one connection each at a time",
    },
    EngineChoice {
        label: "selector",
        engine: "selector",
        args: &[],
        about: "one thread, one epoll loop, Twisted-style protocols",
    },
    EngineChoice {
        label: "coroutines",
        engine: "coroutines",
        args: &[],
        about: "tokio, one task per connection, multi-thread runtime",
    },
    EngineChoice {
        label: "selector-offload",
        engine: "selector",
        args: &["--offload"],
        about: "the selector, with CPU work deferred to a thread pool",
    },
    EngineChoice {
        label: "coroutines-current",
        engine: "coroutines",
        args: &["--flavor", "current-thread"],
        about: "tokio on one thread: concurrency without parallelism",
    },
    EngineChoice {
        label: "coroutines-offload",
        engine: "coroutines",
        args: &["--offload", "--blocking-threads", "2"],
        about: "tokio with CPU work moved to its blocking pool",
    },
];

/// The engines a run uses when none are named: the four models.
pub const DEFAULT_ENGINES: [&str; 4] = ["threads", "pool", "selector", "coroutines"];

/// The engine with this label, if there is one.
pub fn find(label: &str) -> Option<&'static EngineChoice> {
    ENGINES.iter().find(|e| e.label == label)
}

/// The labels, comma-separated, for error messages.
pub fn labels() -> String {
    ENGINES
        .iter()
        .map(|e| e.label)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_the_defaults_exist() {
        for (i, e) in ENGINES.iter().enumerate() {
            assert!(ENGINES[i + 1..].iter().all(|o| o.label != e.label));
        }
        for label in DEFAULT_ENGINES {
            assert_eq!(find(label).unwrap().spec().engine, label);
        }
        assert_eq!(find("selector-offload").unwrap().spec().args, ["--offload"]);
        assert!(find("nginx").is_none());
    }
}
