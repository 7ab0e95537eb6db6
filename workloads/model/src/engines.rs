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
        color: [0x00, 0x72, 0xb2],
        defaults: THREAD_STACK,
    },
    EngineChoice {
        label: "threads-locked",
        engine: "threads",
        args: &["--lock-count"],
        about: "threads, holding one lock across each /count update (the race's fix)",
        family: Family::Thread,
        parallel: true,
        color: [0x56, 0xb4, 0xe9],
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
        color: [0x00, 0x9e, 0x73],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "selector-offload",
        engine: "selector",
        args: &["--offload"],
        about: "the selector, with CPU work deferred to a thread pool",
        family: Family::EventLoop,
        parallel: true,
        color: [0x00, 0x5a, 0x42],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "selector-on-tokio",
        engine: "selector",
        args: &["--reactor", "tokio"],
        about: "the selector's protocol, unchanged, on tokio's loop through an adapter",
        family: Family::EventLoop,
        parallel: false,
        color: [0x00, 0x00, 0x00],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "selector-loops",
        engine: "selector",
        args: &["--loops", "2"],
        about: "two selector loops, each its own thread and listener on one port (SO_REUSEPORT)",
        family: Family::EventLoop,
        parallel: true,
        color: [0x66, 0xc2, 0xa5],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "coroutines",
        engine: "coroutines",
        args: &[],
        about: "tokio, one task per connection, multi-thread runtime",
        family: Family::Coroutine,
        parallel: true,
        color: [0xcc, 0x79, 0xa7],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "coroutines-current",
        engine: "coroutines",
        args: &["--flavor", "current-thread"],
        about: "tokio on one thread: concurrency without parallelism",
        family: Family::Coroutine,
        parallel: false,
        color: [0xe6, 0x9f, 0x00],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "coroutines-offload",
        engine: "coroutines",
        args: &["--offload", "--blocking-threads", "2"],
        about: "tokio with CPU work moved to its blocking pool",
        family: Family::Coroutine,
        parallel: true,
        color: [0x8a, 0x3d, 0x6e],
        defaults: Defaults::None,
    },
    EngineChoice {
        label: "uring",
        engine: "uring",
        args: &[],
        about: "one thread, one io_uring: completions instead of readiness",
        family: Family::EventLoop,
        parallel: false,
        color: [0x7f, 0x6a, 0x00],
        defaults: Defaults::None,
    },
];

/// The engines a run uses when none are named: the four models.
pub const DEFAULT_ENGINES: [&str; 4] = ["threads", "pool", "selector", "coroutines"];

/// The engine with this label, if there is one. `Selector+Offload` and `selector_offload`
/// name the same engine as `selector-offload`. A parametrized label (`pool:workers=8`) is not
/// one of these: [`resolve`] finds the engine behind it.
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

/// The family's reference engine: its first model among [`ENGINES`] (with no extra flags; the
/// event loops have two, the selector and `uring`, and the selector is the reference),
/// which judges, charts and pages hold the family's claims to: `threads` for
/// [`Family::Thread`], `pool`, `selector`, `coroutines`. Peers of a family are measured beside
/// it, never instead of it.
pub fn reference(family: Family) -> &'static EngineChoice {
    ENGINES
        .iter()
        .find(|e| e.family == family && e.is_model())
        .expect("every family has one model in ENGINES (checked by a test)")
}

/// The registry's engine behind a label, parameters included: [`find`] for a plain label; for
/// `NAME:KEY=VALUE…` the entry of the same subcommand whose flags are all among the label's
/// (the most of them), so that `coroutines:flavor=current-thread` is a kind of
/// `coroutines-current` (one thread, not parallel) and `pool:workers=8` a kind of `pool`.
/// Its family, parallelism, order and colour are the label's. `None` for a peer.
pub fn resolve(label: &str) -> Option<&'static EngineChoice> {
    let Some((base, _)) = label.split_once(':') else {
        return find(label);
    };
    let base = find(base)?;
    let args = parse_engine(label).ok()?.args;
    let has = |flags: &[&str]| {
        let mut rest = flags;
        while let Some((flag, tail)) = rest.split_first() {
            let value = tail.first().filter(|v| !v.starts_with("--"));
            let found = args.iter().enumerate().any(|(i, a)| {
                a == flag && value.is_none_or(|v| args.get(i + 1).is_some_and(|n| n == v))
            });
            if !found {
                return false;
            }
            rest = if value.is_some() { &tail[1..] } else { tail };
        }
        true
    };
    ENGINES
        .iter()
        .filter(|e| e.engine == base.engine && has(e.args))
        .max_by_key(|e| e.args.len())
        .or(Some(base))
}

/// How a parameter's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamValue {
    /// A whole number in `min..=max`.
    Count {
        /// Least allowed.
        min: u64,
        /// Most allowed.
        max: u64,
    },
    /// A stack size: bytes, or with a suffix (`64KiB`, `2MiB`, `8M`), 32 KiB to 1 GiB.
    Size,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A flag without a value: `true` passes it, `false` leaves it out.
    Switch,
}

/// A parameter `--engines NAME:KEY=VALUE` accepts: one of the engine's own long flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The flag without `--`: `workers`.
    pub key: &'static str,
    /// Its values.
    pub value: ParamValue,
    /// A switch it needs (`offload-threads` needs `offload`), given too or in the engine's
    /// own flags.
    pub requires: Option<&'static str>,
}

const fn param(key: &'static str, value: ParamValue) -> Param {
    Param {
        key,
        value,
        requires: None,
    }
}

/// Whole seconds from 1 to a day, as `wb_sys::timeouts::parse_secs` takes them.
const SECS: ParamValue = ParamValue::Count {
    min: 1,
    max: 86_400,
};
/// At least one.
const SOME: ParamValue = ParamValue::Count {
    min: 1,
    max: u32::MAX as u64,
};
/// `--db-pool`: as `wb_sys::database::MAX_DB_POOL` bounds it.
const DB_POOL: ParamValue = ParamValue::Count { min: 1, max: 1000 };

/// Every engine's parameters: its long flags, but for `--listen`, `--trace`, `--describe`
/// and `--db-url`, which the runner sets. The root package's tests check them against each
/// engine's clap flags.
pub fn params(engine: &str) -> &'static [Param] {
    const THREADS: &[Param] = &[
        param("stack-size", ParamValue::Size),
        param("lock-count", ParamValue::Switch),
        param("db-pool", DB_POOL),
        param("header-timeout", SECS),
        param("keepalive-timeout", SECS),
        param("send-timeout", SECS),
    ];
    const POOL: &[Param] = &[
        param("workers", ParamValue::Count { min: 1, max: 4096 }),
        param("header-timeout", SECS),
        param("keepalive-timeout", SECS),
        param("send-timeout", SECS),
    ];
    const SELECTOR: &[Param] = &[
        param("offload", ParamValue::Switch),
        Param {
            requires: Some("offload"),
            ..param("offload-threads", SOME)
        },
        param("reactor", ParamValue::Choice(&["mio", "tokio"])),
        param("db-pool", DB_POOL),
        param("loops", ParamValue::Count { min: 1, max: 256 }),
        param("header-timeout", SECS),
        param("keepalive-timeout", SECS),
        param("send-timeout", SECS),
    ];
    const COROUTINES: &[Param] = &[
        param(
            "flavor",
            ParamValue::Choice(&["current-thread", "multi-thread"]),
        ),
        param("worker-threads", SOME),
        param("offload", ParamValue::Switch),
        param("blocking-threads", SOME),
        param("db-pool", DB_POOL),
        param("header-timeout", SECS),
        param("keepalive-timeout", SECS),
        param("send-timeout", SECS),
    ];
    const URING: &[Param] = &[
        param("db-pool", DB_POOL),
        param("header-timeout", SECS),
        param("keepalive-timeout", SECS),
        param("send-timeout", SECS),
    ];
    match engine {
        "threads" => THREADS,
        "pool" => POOL,
        "selector" => SELECTOR,
        "coroutines" => COROUTINES,
        "uring" => URING,
        _ => &[],
    }
}

/// Parses one `--engines` item: a registry label (`selector-offload`), or one with
/// parameters, `NAME:KEY=VALUE[:KEY=VALUE…]` (`pool:workers=8`,
/// `threads:stack-size=8MiB`), whose keys are the engine's own long flags without `--`
/// ([`params`]). A parametrized engine is a series of its own: its label is the text,
/// normalized (`pool:workers=8`), and its flags the base engine's followed by the
/// parameters'. `Err` says what is wrong and what would be right.
pub fn parse_engine(text: &str) -> Result<EngineSpec, String> {
    let text = text.trim();
    let mut parts = text.split(':');
    let name = parts.next().unwrap_or_default();
    let base =
        find(name).ok_or_else(|| format!("{name:?} is not an engine; choose from {}", labels()))?;
    let mut spec = base.spec();
    let allowed = params(base.engine);
    let mut given: Vec<(String, String)> = Vec::new();
    for part in parts {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            format!(
                "{text:?}: {part:?} is not KEY=VALUE (e.g. {}:{})",
                base.label,
                example(base.engine)
            )
        })?;
        let key = normalize(key);
        let value = value.trim();
        let Some(param) = allowed.iter().find(|p| p.key == key) else {
            return Err(format!(
                "{text:?}: {} has no parameter {key:?}; its parameters are {}",
                base.engine,
                allowed.iter().map(|p| p.key).collect::<Vec<_>>().join(", ")
            ));
        };
        if given.iter().any(|(k, _)| *k == key) {
            return Err(format!("{text:?}: {key} is given twice"));
        }
        check_value(param, value).map_err(|why| format!("{text:?}: {key}={value:?}: {why}"))?;
        given.push((key, value.to_string()));
    }
    if given.is_empty() {
        return Ok(spec);
    }
    for (key, value) in &given {
        let param = allowed
            .iter()
            .find(|p| p.key == key)
            .expect("checked above");
        if let Some(needed) = param.requires {
            let flag = format!("--{needed}");
            let switched =
                given.iter().any(|(k, v)| k == needed && v == "true") || spec.args.contains(&flag);
            if !switched {
                return Err(format!("{text:?}: {key} needs {needed}=true"));
            }
        }
        match param.value {
            ParamValue::Switch => {
                let flag = format!("--{key}");
                if value == "true" && !spec.args.contains(&flag) {
                    spec.args.push(flag);
                } else if value == "false" && spec.args.contains(&flag) {
                    return Err(format!(
                        "{text:?}: {} always has --{key}; start from {} instead",
                        base.label, base.engine
                    ));
                }
            }
            _ => spec.args.extend([format!("--{key}"), value.clone()]),
        }
    }
    spec.label = std::iter::once(base.label.to_string())
        .chain(given.iter().map(|(k, v)| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(":");
    Ok(spec)
}

/// A parameter of `engine` as an example: `workers=8`.
fn example(engine: &str) -> &'static str {
    match engine {
        "threads" => "stack-size=8MiB",
        "pool" => "workers=8",
        "selector" => "offload=true",
        _ => "flavor=current-thread",
    }
}

fn check_value(param: &Param, value: &str) -> Result<(), String> {
    match param.value {
        ParamValue::Count { min, max } => match value.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(format!("give a whole number from {min} to {max}")),
        },
        ParamValue::Size => match parse_size(value) {
            Some(n) if (32 << 10..=1 << 30).contains(&n) => Ok(()),
            Some(_) => Err("give a size from 32KiB to 1GiB".into()),
            None => Err("not a size; try 65536, 64KiB or 8MiB".into()),
        },
        ParamValue::Choice(words) => {
            if words.contains(&value) {
                Ok(())
            } else {
                Err(format!("choose {}", words.join(" or ")))
            }
        }
        ParamValue::Switch => match value {
            "true" | "false" => Ok(()),
            _ => Err("give true or false".into()),
        },
    }
}

/// A size as the threads engine's `--stack-size` reads it: bytes, or with a suffix K, M or G
/// (powers of 1024; `KiB`, `KB`, `k` alike).
fn parse_size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let multiplier: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// Parses a whole `--engines` list (or the New run form's engines), refusing a label given
/// twice: two series of one name could not be told apart.
pub fn parse_engines<S: AsRef<str>>(items: &[S]) -> Result<Vec<EngineSpec>, String> {
    let mut out: Vec<EngineSpec> = Vec::new();
    for item in items {
        let spec = parse_engine(item.as_ref())?;
        if out.iter().any(|e| e.label == spec.label) {
            return Err(format!("{} is given twice", spec.label));
        }
        out.push(spec);
    }
    Ok(out)
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
    match resolve(label) {
        Some(engine) => Some(engine.family),
        None => crate::peers::find(&normalize(label)).map(|peer| peer.family),
    }
}

/// Whether the label names a peer (or an unknown server) rather than one of this project's
/// engines.
pub fn is_peer(label: &str) -> bool {
    resolve(label).is_none()
}

/// Where the label sorts: this project's engines in [`ENGINES`] order, then everything else
/// by name.
pub fn sort_key(label: &str) -> (usize, String) {
    let key = normalize(label);
    let rank = resolve(label)
        .and_then(|found| ENGINES.iter().position(|e| e.label == found.label))
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
            // The first is the family's reference; `uring`, a second event loop (completions
            // instead of readiness), is measured beside the selector, never instead of it.
            assert!(!models.is_empty(), "{family:?}");
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
    fn parameters_make_a_series_of_their_own() {
        let spec = parse_engine("pool:workers=8").unwrap();
        assert_eq!(spec.label, "pool:workers=8");
        assert_eq!(
            (spec.engine.as_str(), spec.args.as_slice()),
            ("pool", &["--workers".to_string(), "8".into()][..])
        );
        let spec = parse_engine(" Threads:Stack_Size=8MiB ").unwrap();
        assert_eq!(spec.label, "threads:stack-size=8MiB");
        assert_eq!(spec.args, ["--stack-size", "8MiB"]);
        let spec = parse_engine("coroutines:flavor=current-thread:offload=true").unwrap();
        assert_eq!(spec.args, ["--flavor", "current-thread", "--offload"]);
        let spec = parse_engine("selector-offload:offload-threads=4").unwrap();
        assert_eq!(spec.args, ["--offload", "--offload-threads", "4"]);
        // A plain label is the registry's engine.
        assert_eq!(
            parse_engine("selector-offload").unwrap(),
            find("selector-offload").unwrap().spec()
        );
    }

    #[test]
    fn parameters_are_checked_against_the_engines_flags() {
        let unknown = parse_engine("pool:threads=8").unwrap_err();
        assert!(unknown.contains("no parameter \"threads\""), "{unknown}");
        assert!(unknown.contains("workers, header-timeout"), "{unknown}");
        let bad = parse_engine("pool:workers=lots").unwrap_err();
        assert!(bad.contains("from 1 to 4096"), "{bad}");
        assert!(parse_engine("pool:workers=0").is_err());
        let small = parse_engine("threads:stack-size=4KiB").unwrap_err();
        assert!(small.contains("32KiB"), "{small}");
        assert!(parse_engine("threads:stack-size=8 parsecs").is_err());
        let flavor = parse_engine("coroutines:flavor=fast").unwrap_err();
        assert!(
            flavor.contains("current-thread or multi-thread"),
            "{flavor}"
        );
        assert!(
            parse_engine("pool:workers")
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        assert!(
            parse_engine("pool:workers=2:workers=3")
                .unwrap_err()
                .contains("twice")
        );
        let needs = parse_engine("selector:offload-threads=2").unwrap_err();
        assert!(needs.contains("needs offload=true"), "{needs}");
        assert!(
            parse_engine("nginx:workers=2")
                .unwrap_err()
                .contains("not an engine")
        );
    }

    #[test]
    fn a_label_given_twice_is_refused() {
        let specs = parse_engines(&["pool:workers=2", "pool:workers=4", "pool"]).unwrap();
        let labels: Vec<&str> = specs.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["pool:workers=2", "pool:workers=4", "pool"]);
        let twice = parse_engines(&["pool:workers=2", "Pool:Workers=2"]).unwrap_err();
        assert!(twice.contains("pool:workers=2 is given twice"), "{twice}");
    }

    #[test]
    fn a_parametrized_label_is_a_kind_of_its_nearest_engine() {
        assert_eq!(resolve("pool:workers=8").unwrap().label, "pool");
        assert_eq!(
            resolve("coroutines:flavor=current-thread").unwrap().label,
            "coroutines-current"
        );
        assert!(
            !resolve("coroutines:flavor=current-thread")
                .unwrap()
                .parallel
        );
        assert_eq!(
            resolve("selector:offload=true").unwrap().label,
            "selector-offload"
        );
        assert_eq!(family_of("threads:stack-size=8MiB"), Some(Family::Thread));
        assert!(!is_peer("pool:workers=8"));
        assert!(find("pool:workers=8").is_none());
        let mut labels = vec!["selector", "pool:workers=4", "threads", "pool", "asyncio"];
        sort(&mut labels);
        assert_eq!(
            labels,
            ["threads", "pool", "pool:workers=4", "selector", "asyncio"]
        );
    }

    #[test]
    fn worker_rule_is_gunicorns() {
        assert_eq!(find("pool").unwrap().defaults.workers(2), Some(5));
        assert_eq!(find("pool").unwrap().defaults.workers(0), Some(3));
        assert_eq!(find("threads").unwrap().defaults.workers(2), None);
    }
}
