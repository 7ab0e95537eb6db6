//! The lesson "Asynchronous code in a synchronous style": the selector's callback protocol
//! and the coroutines engine's `async fn` for the same request, side by side, and what each
//! model holds per connection, in the engines' own words.
//!
//! The excerpts are cut from the very source files compiled into this binary
//! (`include_str!`), between `// lesson:begin handle` and `// lesson:end` comments (the
//! short side-by-side pieces between `// lesson:begin teach` markers inside them), so they
//! cannot drift from the code that ran. The sizes come from `workbench engine <name>
//! --describe` (see `wb_sys::describe`): stored with a run when the runner asked the engines at
//! its start, else asked of this dashboard's `workbench` executable when the page is shown.
//! Nothing here is typed in.

use std::path::Path;

use wb_model::describe::Description;
use wb_model::engines::{FAMILIES, Family, reference};
use wb_model::results::EngineSpec;
use wb_model::spread::Estimate;
use wb_reports::claims::IdleCosts;
use wb_reports::format;
use wb_runner::describe;

/// The lesson's address: `/lessons/async-in-sync-style`.
pub const SLUG: &str = "async-in-sync-style";
/// Its title.
pub const TITLE: &str = "Asynchronous code in a synchronous style";
/// What it shows, in a sentence.
pub const CLAIM: &str = "A coroutine is a callback protocol the compiler writes for you: \
    an async fn reads like a thread's blocking loop, yet compiles to a state machine whose \
    size is fixed at compile time (tokio adds its task header and I/O registration around \
    it), where a thread keeps the same state on its stack and \
    is a kernel task besides: what each costs per idle connection is measured below.";

/// The question the lesson answers.
pub const QUESTION: &str = "Code that reads like a thread's, served like a selector's: what \
    does a coroutine hold for one idle connection, against a thread and a callback object?";
/// The guess to make before the figures.
pub const PREDICTION: &str = "Per idle connection, does a coroutine cost about what a thread \
    costs, or about what the selector's protocol object costs? By what factor?";
/// What to try next.
pub const TRY_NEXT: &str = "Hold more idle connections, or give the threads a smaller stack \
    (32KiB): the coroutine and the callback object do not move, the thread's resident pages \
    hardly do.";

/// The threads engine's connection loop, as compiled into this binary.
const THREADS_SOURCE: &str = include_str!("../../engines/threads/src/lib.rs");
/// The selector's protocol source, as compiled into this binary.
const SELECTOR_SOURCE: &str = include_str!("../../engines/selector/src/http.rs");
/// The coroutines engine's connection source, as compiled into this binary.
const COROUTINES_SOURCE: &str = include_str!("../../engines/coroutines/src/connection.rs");

/// The marker name of the whole handlers.
const MARKER: &str = "handle";
/// The marker name of the short teaching excerpts, inside the handlers.
const TEACH: &str = "teach";

/// One side of the comparison: where the code is and the excerpt.
pub struct Excerpt {
    /// The model.
    pub engine: &'static str,
    /// The file, from the workspace root.
    pub path: &'static str,
    /// The short teaching excerpt: the lines that read, wait, compute and write, without
    /// comments; regions separated by a `⋮` line.
    pub teach: String,
    /// The whole handler, with the engine's comments.
    pub code: String,
}

/// The three excerpts: the thread's blocking loop, the selector's callbacks, the coroutine's
/// `async fn`.
pub fn excerpts() -> [Excerpt; 3] {
    [
        Excerpt {
            engine: "threads",
            path: "engines/threads/src/lib.rs",
            teach: excerpt(THREADS_SOURCE, TEACH),
            code: excerpt(THREADS_SOURCE, MARKER),
        },
        Excerpt {
            engine: "selector",
            path: "engines/selector/src/http.rs",
            teach: excerpt(SELECTOR_SOURCE, TEACH),
            code: excerpt(SELECTOR_SOURCE, MARKER),
        },
        Excerpt {
            engine: "coroutines",
            path: "engines/coroutines/src/connection.rs",
            teach: excerpt(COROUTINES_SOURCE, TEACH),
            code: excerpt(COROUTINES_SOURCE, MARKER),
        },
    ]
}

/// The lines between each `// lesson:begin NAME` and its `// lesson:end` of `source`, each
/// region dedented, the regions joined by a `⋮` line. Empty when there is no marker. Regions
/// nest: a `teach` region inside a `handle` region ends at its own `lesson:end`, and marker
/// lines never show. A `teach` excerpt also leaves out comment lines: it is the few lines a
/// student reads side by side; the `handle` excerpt keeps the engine's comments.
pub fn excerpt(source: &str, name: &str) -> String {
    let begin = format!("// lesson:begin {name}");
    let mut regions: Vec<Vec<&str>> = Vec::new();
    // The open region, and how many other regions are open inside it.
    let mut current: Option<(Vec<&str>, usize)> = None;
    for line in source.lines() {
        // rustfmt may pull an end marker up behind a closing brace (`} // lesson:end`): the
        // code before it still belongs to the region.
        let (line, closes) = match line.strip_suffix("// lesson:end") {
            Some(code) if !code.trim().is_empty() => {
                if let Some((region, _)) = current.as_mut() {
                    region.push(code.trim_end());
                }
                (code, true)
            }
            Some(code) => (code, true),
            None => (line, false),
        };
        let trimmed = line.trim();
        let opens = trimmed.starts_with("// lesson:begin ");
        match current.as_mut() {
            None if trimmed == begin => current = Some((Vec::new(), 0)),
            None => {}
            Some((_, depth)) if opens => *depth += 1,
            Some((_, depth)) if closes && *depth > 0 => *depth -= 1,
            Some(_) if closes => {
                if let Some((region, _)) = current.take() {
                    regions.push(region);
                }
            }
            Some((region, _)) => {
                let comment = trimmed.starts_with("//");
                if !(name == TEACH && comment) {
                    region.push(line);
                }
            }
        }
    }
    regions
        .iter()
        .map(|region| {
            let indent = region
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.len() - l.trim_start().len())
                .min()
                .unwrap_or(0);
            region
                .iter()
                .map(|l| l.get(indent..).unwrap_or("").trim_end())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n⋮\n")
}

/// A row of the "per connection" table.
pub struct Holding {
    /// The engine's label.
    pub engine: String,
    /// What it holds per connection.
    pub what: &'static str,
    /// How many bytes, formatted.
    pub bytes: String,
    /// How the engine measured it.
    pub how: &'static str,
}

/// The table's rows and a sentence comparing them, from the engines' descriptions.
pub fn holdings(descriptions: &[(String, Description)]) -> (Vec<Holding>, Option<String>) {
    let mut rows = Vec::new();
    let (mut future, mut protocol, mut stack) = (None, None, None);
    for (label, d) in descriptions {
        let per = d.per_connection;
        let objects = [
            (
                per.future_bytes,
                &mut future,
                "the connection's future (a compiled state machine)",
                "std::mem::size_of_val of the future spawned for a connection",
            ),
            (
                per.protocol_bytes,
                &mut protocol,
                "the protocol object the loop calls back",
                "std::mem::size_of of HttpProtocol, plus what a fresh one holds on the heap",
            ),
        ];
        for (bytes, first, what, how) in objects {
            if let Some(b) = bytes {
                first.get_or_insert((label.clone(), b));
                rows.push(Holding {
                    engine: label.clone(),
                    what,
                    bytes: format::bytes(b as f64),
                    how,
                });
            }
        }
        if let Some(b) = per.stack_bytes {
            // The threads engine is the lesson's thread; a pool worker stands in without it.
            if d.engine == reference(Family::Thread).engine || stack.is_none() {
                stack = Some((label.clone(), b));
            }
            rows.push(Holding {
                engine: label.clone(),
                what: "the stack its thread touched serving one request",
                bytes: format::bytes(b as f64),
                how: "resident size of the thread's stack mapping in /proc/self/smaps",
            });
        }
    }
    let sentence = match (future, protocol, stack) {
        (Some((fl, f)), Some((pl, p)), Some((sl, s))) if f > 0 => Some(format!(
            "Per connection: the {fl} engine's future holds {}, everything the request \
             keeps across each .await included (its socket, the read deadline's timer, the \
             stop signal); the {pl} engine's protocol object holds {}, the loop keeping the \
             socket, timers and write queue beside it; a {sl} thread has touched {} of its \
             stack, {} the future.",
            format::bytes(f as f64),
            format::bytes(p as f64),
            format::bytes(s as f64),
            format::times(s as f64 / f as f64)
        )),
        _ => None,
    };
    (rows, sentence)
}

/// A row of the measured table: one engine's memory per idle connection, as the lesson "A
/// thread costs a stack" measured it.
pub struct Measured {
    /// The engine's label.
    pub engine: String,
    /// Its memory per connection (PSS slope), with its interval.
    pub bytes: String,
    /// The kernel's share beside it.
    pub kernel: String,
}

/// The measured rows and the sentence that compares them, from the very figures the memory
/// lesson judges ([`wb_reports::claims::idle_costs`]), formatted as it formats them.
pub fn measured(costs: &IdleCosts) -> (Vec<Measured>, Option<String>) {
    let spread = |e: &Estimate| {
        if e.has_interval() {
            format!(
                "{} ± {}",
                format::bytes(e.value),
                format::bytes(e.half_width())
            )
        } else {
            format::bytes(e.value)
        }
    };
    let rows: Vec<Measured> = costs
        .thread
        .iter()
        .chain(costs.loops.iter())
        .map(|c| Measured {
            engine: c.engine.clone(),
            bytes: spread(&c.user),
            kernel: spread(&c.kernel),
        })
        .collect();
    let densest = costs
        .loops
        .iter()
        .min_by(|a, b| a.user.value.total_cmp(&b.user.value));
    let sentence = match (&costs.thread, densest) {
        (Some(thread), Some(best)) => Some(format!(
            "Measured here, one idle {} connection cost {} against {} for a thread: {} denser \
             (the slope of memory over open connections in the idle workload, the figures of \
             \"A thread costs a stack\").",
            best.engine,
            format::bytes(best.user.value),
            format::bytes(thread.user.value),
            format::times(thread.user.value / best.user.value.max(1.0))
        )),
        _ => None,
    };
    (rows, sentence)
}

/// Asks `exe` to describe the four models (default flags), for a store whose runs have no
/// descriptions. Engines that cannot say are left out.
pub fn describe_now(exe: &Path) -> Vec<(String, Description)> {
    FAMILIES
        .map(|f| reference(f).label)
        .iter()
        .filter_map(|name| {
            describe(exe, &EngineSpec::plain(name))
                .map(|d| (name.to_string(), d))
                .map_err(|why| tracing::warn!("lesson {SLUG}: {why}"))
                .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_cut_between_the_markers_and_dedented() {
        let source = "fn a() {}\n    // lesson:begin handle\n    fn b() {\n        x();\n    }\n    // lesson:end\nfn c() {}\n// lesson:begin handle\nfn d() {}\n// lesson:end\n";
        assert_eq!(
            excerpt(source, "handle"),
            "fn b() {\n    x();\n}\n⋮\nfn d() {}"
        );
        assert_eq!(excerpt(source, "other"), "");
        // A teach region nests in a handle region, and drops comments; markers never show.
        let nested = "// lesson:begin handle\nfn a() {\n    // lesson:begin teach\n    // why\n    \
                      b();\n    // lesson:end\n    c();\n}\n// lesson:end\n";
        assert_eq!(excerpt(nested, "teach"), "b();");
        assert_eq!(
            excerpt(nested, "handle"),
            "fn a() {\n    // why\n    b();\n    c();\n}"
        );
    }

    #[test]
    fn the_compiled_sources_have_their_excerpts() {
        let [threads, selector, coroutines] = excerpts();
        assert!(threads.code.contains("job.wait()"), "{}", threads.code);
        assert!(threads.code.contains("write_to"));
        assert!(
            selector.code.contains("fn timer_fired"),
            "{}",
            selector.code
        );
        assert!(selector.code.contains("call_later"));
        assert!(coroutines.code.contains("async fn serve_requests"));
        assert!(coroutines.code.contains(".await"));
        // The short pieces: each reads, waits and writes, in a dozen or so lines.
        for (e, wait, write) in [
            (&threads, "wait_for_job", "write_to"),
            (&selector, "call_later", "transport.write"),
            (&coroutines, "wait_unless_hung_up", "send(stream"),
        ] {
            assert!(
                e.teach.contains(wait) && e.teach.contains(write),
                "{}",
                e.teach
            );
            assert!(!e.teach.contains("//"), "{}", e.teach);
            assert!(e.teach.lines().count() <= 40, "{}", e.teach);
        }
    }

    #[test]
    fn holdings_compare_the_three_models() {
        let described: Vec<(String, Description)> = crate::fixture::descriptions()
            .into_iter()
            .map(|d| (d.engine.clone(), d))
            .collect();
        let (rows, sentence) = holdings(&described);
        assert_eq!(rows.len(), 3);
        let sentence = sentence.unwrap();
        assert!(
            sentence.contains("the coroutines engine's future holds 584 B"),
            "{sentence}"
        );
        assert!(sentence.contains("threads thread"), "{sentence}");
    }
}
