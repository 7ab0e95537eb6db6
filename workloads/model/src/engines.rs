//! The engine registry: every server a run can measure, in one table.
//!
//! A label people type (`selector-offload`, `nginx`) means the same thing everywhere: the
//! same engine and flags when a run starts it, the same [`Family`] when a lesson or a report
//! judges it, the same place in every list and the same colour on every chart. This module is
//! the one place that says so; `workbench run --engines`, the dashboard's New run page, the
//! charts' palette, the sorts of tables and the judges all ask it.
//!
//! - [`ENGINES`] — this project's engines: the four models, each followed by its variants,
//!   which show what one flag changes. Their order is the order of every list and legend.
//! - Peers (servers this project did not write: [`crate::peers`]) join the same registry
//!   through [`family_of`] and [`sort_key`]: they carry their own [`Family`] in their
//!   definition, and sort after the engines, by name.
//! - The engines' defaults that a page or a judge must know without starting the engine (the
//!   threads engine's stack size, the pool's worker rule) are [`Defaults`] here; the root
//!   package's tests check them against the engine crates' own `Config::default()`.

use crate::results::EngineSpec;

/// The concurrency model behind an engine or a peer: what a claim holds it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// One OS thread per connection (or per request, from a thread pool).
    Thread,
    /// Worker processes, one connection each at a time (prefork).
    Process,
    /// One thread multiplexing many sockets with readiness callbacks (epoll, a reactor).
    EventLoop,
    /// Tasks, coroutines or green threads on an event loop: sequential-looking code per
    /// connection, multiplexed underneath.
    Coroutine,
}

impl Family {
    /// Whether it holds an idle connection without a thread or a process of its own: an
    /// event loop or coroutines on one.
    pub fn multiplexes(self) -> bool {
        matches!(self, Family::EventLoop | Family::Coroutine)
    }

    /// Its name in sentences: `thread per connection`, `event loop`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Thread => "threads (a thread per connection, or a pool of them)",
            Family::Process => "process pool",
            Family::EventLoop => "event loop",
            Family::Coroutine => "coroutines",
        }
    }
}

/// A default of an engine that pages and judges describe without starting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defaults {
    /// Nothing a page needs to know.
    None,
    /// The stack each connection's thread reserves unless `--stack-size` says otherwise.
    StackSize {
        /// In bytes.
        bytes: usize,
        /// As people write it: `2 MiB`.
        text: &'static str,
    },
    /// The worker processes unless `--workers` says otherwise: `per_core × cores + plus`
    /// (gunicorn's rule, 2 × cores + 1).
    Workers {
        /// Workers per CPU.
        per_core: u64,
        /// Workers added to that.
        plus: u64,
    },
}

impl Defaults {
    /// The worker count this rule gives on a machine with `cores` CPUs.
    pub fn workers(self, cores: u64) -> Option<u64> {
        match self {
            Defaults::Workers { per_core, plus } => Some(per_core * cores.max(1) + plus),
            _ => None,
        }
    }
}

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
    /// Its concurrency model.
    pub family: Family,
    /// Whether one connection's CPU work can run beside another's on a second core: false
    /// for the selector and tokio's current-thread runtime without offloading, whose one
    /// thread runs every request's work (concurrency without parallelism).
    pub parallel: bool,
    /// Its colour on every chart, legend and page (red, green, blue). The four models'
    /// colours stay distinguishable with the common colour-vision deficiencies; a variant
    /// takes a shade of its model's colour, so it reads as "a kind of selector".
    pub color: [u8; 3],
    /// What a page needs to know of its defaults.
    pub defaults: Defaults,
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

    /// Whether it is one of the four models rather than a variant of one.
    pub fn is_model(&self) -> bool {
        self.args.is_empty()
    }
}

/// Memory mappings each of the threads engine's threads makes (its stack, the stack's guard
/// page, the signal stack `std` gives every thread and its guard page): with the kernel's
/// `vm.max_map_count` it sets the engine's ceiling, which the idle lesson states. The threads
/// crate's own `wb_threads::MAPPINGS_PER_THREAD` says the same; a test in `src/cli/engine.rs`
/// checks that they agree.
pub const THREAD_MAPPINGS: u64 = 4;

/// The threads engine's default stack: Rust's `std::thread` default, as glibc's would be.
const THREAD_STACK: Defaults = Defaults::StackSize {
    bytes: 2 * 1024 * 1024,
    text: "2 MiB",
};

/// The pool's default worker rule, gunicorn's: 2 × cores + 1.
const POOL_WORKERS: Defaults = Defaults::Workers {
    per_core: 2,
    plus: 1,
};

/// Every engine `--engines` accepts, each model followed by its variants. This order is the
/// order of every list, table and legend.
pub const ENGINES: &[EngineChoice] = &[
    EngineChoice {
        label: "threads",
        engine: "threads",
        args: &[],
        about: "one OS thread per connection",
        family: Family::Thread,
        parallel: true,
        color: [0x1f, 0x5f, 0xa8],
        defaults: THREAD_STACK,
    },
    EngineChoice {
        label: "threads-locked",
        engine: "threads",
        args: &["--lock-count"],
        about: "threads, holding one lock across each /count update (the race's fix)",
        family: Family::Thread,
        parallel: true,
        color: [0x6b, 0x9b, 0xd6],
        defaults: THREAD_STACK,
    },
    EngineChoice {
        label: "pool",
        engine: "pool",
        args: &[],
        about: "prefork pool: N processes, one connection each at a time",
        family: Family::Process,
        parallel: true,
        color: [0xd5, 0x5e, 0x00],
        defaults: POOL_WORKERS,
    },
    EngineChoice {
        label: "selector",
        engine: "selector",
        args: &[],
        about: "one thread, one epoll loop, Twisted-style protocols",
        family: Family::EventLoop,
        parallel: false,
        color: [0x1b, 0x78, 0x37],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "selector-offload",
        engine: "selector",
        args: &["--offload"],
        about: "the selector, with CPU work deferred to a thread pool",
        family: Family::EventLoop,
        parallel: true,
        color: [0x6a, 0xb0, 0x4c],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "selector-on-tokio",
        engine: "selector",
        args: &["--reactor", "tokio"],
        about: "the selector's protocol, unchanged, on tokio's loop through an adapter",
        family: Family::EventLoop,
        parallel: false,
        color: [0x0b, 0x4a, 0x22],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "coroutines",
        engine: "coroutines",
        args: &[],
        about: "tokio, one task per connection, multi-thread runtime",
        family: Family::Coroutine,
        parallel: true,
        color: [0x76, 0x2a, 0x83],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "coroutines-current",
        engine: "coroutines",
        args: &["--flavor", "current-thread"],
        about: "tokio on one thread: concurrency without parallelism",
        family: Family::Coroutine,
        parallel: false,
        color: [0xa3, 0x7c, 0xc0],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "coroutines-offload",
        engine: "coroutines",
        args: &["--offload", "--blocking-threads", "2"],
        about: "tokio with CPU work moved to its blocking pool",
        family: Family::Coroutine,
        parallel: true,
        color: [0xc5, 0x1b, 0x7d],
        defaults: Defaults::None,
    },
];

/// The engines a run uses when none are named: the four models.
pub const DEFAULT_ENGINES: [&str; 4] = ["threads", "pool", "selector", "coroutines"];

/// The engine with this label, if there is one. `Selector+Offload` and `selector_offload`
/// name the same engine as `selector-offload`.
pub fn find(label: &str) -> Option<&'static EngineChoice> {
    let key = normalize(label);
    ENGINES.iter().find(|e| e.label == key)
}

/// Every family, in the order of [`ENGINES`]' models.
pub const FAMILIES: [Family; 4] = [
    Family::Thread,
    Family::Process,
    Family::EventLoop,
    Family::Coroutine,
];

/// The family's reference engine: its model among [`ENGINES`] (the one with no extra flags),
/// which judges, charts and pages hold the family's claims to: `threads` for
/// [`Family::Thread`], `pool`, `selector`, `coroutines`. Peers of a family are measured beside
/// it, never instead of it.
pub fn reference(family: Family) -> &'static EngineChoice {
    ENGINES
        .iter()
        .find(|e| e.family == family && e.is_model())
        .expect("every family has one model in ENGINES (checked by a test)")
}

/// The engine of this subcommand with no extra flags: `threads` for `threads`.
pub fn model(engine: &str) -> Option<&'static EngineChoice> {
    ENGINES.iter().find(|e| e.engine == engine && e.is_model())
}

/// The labels, comma-separated, for error messages.
pub fn labels() -> String {
    ENGINES
        .iter()
        .map(|e| e.label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The family of the engine or peer with this label, or `None` for a label the registry does
/// not know (a server measured by hand).
pub fn family_of(label: &str) -> Option<Family> {
    match find(label) {
        Some(engine) => Some(engine.family),
        None => crate::peers::find(&normalize(label)).map(|peer| peer.family),
    }
}

/// Whether the label names a peer (or an unknown server) rather than one of this project's
/// engines.
pub fn is_peer(label: &str) -> bool {
    find(label).is_none()
}

/// Where the label sorts: this project's engines in [`ENGINES`] order, then everything else
/// by name.
pub fn sort_key(label: &str) -> (usize, String) {
    let key = normalize(label);
    let rank = ENGINES
        .iter()
        .position(|e| e.label == key)
        .unwrap_or(ENGINES.len());
    (rank, key)
}

/// Sorts labels as every list and legend shows them ([`sort_key`]).
pub fn sort<S: AsRef<str>>(labels: &mut [S]) {
    labels.sort_by_cached_key(|label| sort_key(label.as_ref()));
}

/// `Selector+Offload` and `selector_offload` name the same engine as `selector-offload`.
pub fn normalize(label: &str) -> String {
    label.trim().to_lowercase().replace(['+', '_'], "-")
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
            assert!(find(label).unwrap().is_model());
        }
        assert_eq!(find("selector-offload").unwrap().spec().args, ["--offload"]);
        assert!(find("nginx").is_none());
    }

    #[test]
    fn each_model_comes_before_its_variants_and_each_variant_after_its_model() {
        for (i, e) in ENGINES.iter().enumerate() {
            let model = model(e.engine).expect("every engine has a model entry");
            let at = ENGINES.iter().position(|o| o == model).unwrap();
            assert!(at <= i, "{} is listed before its model", e.label);
            // Between the model and this variant, only the same engine's variants.
            assert!(ENGINES[at..=i].iter().all(|o| o.engine == e.engine));
        }
    }

    #[test]
    fn families_cover_engines_and_peers() {
        assert_eq!(family_of("threads"), Some(Family::Thread));
        assert_eq!(family_of("Selector+Offload"), Some(Family::EventLoop));
        assert_eq!(family_of("twisted"), Some(Family::EventLoop));
        assert_eq!(family_of("gunicorn-sync"), Some(Family::Process));
        assert_eq!(family_of("made-up"), None);
        for peer in crate::peers::all() {
            assert_eq!(family_of(peer.name), Some(peer.family), "{}", peer.name);
            assert!(is_peer(peer.name));
        }
        assert!(!find("coroutines-current").unwrap().parallel);
        assert!(find("coroutines-offload").unwrap().parallel);
        assert!(
            !find("selector-on-tokio").unwrap().parallel,
            "one thread, as on mio"
        );
        assert_eq!(
            find("selector_on_tokio").unwrap().spec().args,
            ["--reactor", "tokio"]
        );
    }

    #[test]
    fn every_family_has_one_reference_and_it_is_a_default_engine() {
        for family in FAMILIES {
            let models: Vec<_> = ENGINES
                .iter()
                .filter(|e| e.family == family && e.is_model())
                .collect();
            assert_eq!(models.len(), 1, "{family:?}");
            assert_eq!(reference(family), models[0]);
            assert!(DEFAULT_ENGINES.contains(&reference(family).label));
        }
        assert_eq!(reference(Family::EventLoop).label, "selector");
        assert_eq!(reference(Family::Thread).label, "threads");
        let mut order = FAMILIES.map(|f| sort_key(reference(f).label));
        order.sort();
        assert_eq!(order.map(|k| k.1), FAMILIES.map(|f| reference(f).label));
    }

    #[test]
    fn engines_sort_in_table_order_then_others_by_name() {
        let mut labels = vec![
            "nginx",
            "coroutines",
            "asyncio",
            "selector-offload",
            "threads",
        ];
        sort(&mut labels);
        assert_eq!(
            labels,
            [
                "threads",
                "selector-offload",
                "coroutines",
                "asyncio",
                "nginx"
            ]
        );
    }

    #[test]
    fn worker_rule_is_gunicorns() {
        assert_eq!(find("pool").unwrap().defaults.workers(2), Some(5));
        assert_eq!(find("pool").unwrap().defaults.workers(0), Some(3));
        assert_eq!(find("threads").unwrap().defaults.workers(2), None);
    }
}
