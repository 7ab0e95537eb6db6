//! Every term of art the dashboard and the reports use, defined once.
//!
//! A student meets "PSS", "closed loop" or "Little's law" on a chart before reading any
//! guide. The dashboard's pages mark each term where it appears (a dotted underline; its
//! definition on hover, or on tap on a phone) from this one list, and the "How to read these
//! charts" page lists them all. A term is matched by its [`Term::forms`], whole words, case
//! as written: `PSS`, not `pss` inside a word.

/// One term and its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// The term as the glossary lists it.
    pub name: &'static str,
    /// The forms it takes in the text, matched whole (the name among them).
    pub forms: &'static [&'static str],
    /// What it means, in a sentence or two of plain words.
    pub definition: &'static str,
}

impl Term {
    /// Its anchor on the guide page: `term-pss`.
    pub fn anchor(&self) -> String {
        let mut out = String::from("term-");
        for c in self.name.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        out.trim_end_matches('-').to_string()
    }
}

/// The glossary, in the order the guide lists it: the models, then load, latency, memory and
/// the machine.
pub const GLOSSARY: &[Term] = &[
    Term {
        name: "engine",
        forms: &["engines and peers"],
        definition: "A server written for this workbench in one concurrency model: threads (a \
                     thread per connection), pool (prefork worker processes), selector (one \
                     event loop with callbacks), coroutines (tasks on tokio).",
    },
    Term {
        name: "peer",
        forms: &["peers"],
        definition: "A server the workbench did not write (nginx, Python's asyncio, Twisted, \
                     gunicorn…), measured with the same workloads beside the engines.",
    },
    Term {
        name: "event loop",
        forms: &["event loop", "selector loop", "reactor"],
        definition: "One thread that asks the kernel which sockets are ready (epoll) and runs a \
                     short callback for each: thousands of connections, one core.",
    },
    Term {
        name: "prefork",
        forms: &["prefork", "pre-forked"],
        definition: "A fixed pool of worker processes forked at start; each serves one \
                     connection at a time, so the pool serves as many clients as it has \
                     workers.",
    },
    Term {
        name: "GIL",
        forms: &["GIL"],
        definition: "CPython's global interpreter lock: one thread of a process runs Python \
                     code at a time, so threads overlap waits but not computation.",
    },
    Term {
        name: "workload",
        forms: &["workload"],
        definition: "What the load generator asks: one kind of request (hello, db-wait, cpu, \
                     big-response…) in one mode (closed loop, open loop, idle, slow readers, \
                     slow senders), at several levels.",
    },
    Term {
        name: "suite",
        forms: &["suite", "quick suite", "full suite"],
        definition: "A named set of workloads run together: `quick` (about four minutes, what \
                     `cargo run --release` runs) or `full` (longer steps, more levels).",
    },
    Term {
        name: "level",
        forms: &["level"],
        definition: "The x axis of a run: connections for a closed loop, idle or slow clients; \
                     requests per second for an open loop.",
    },
    Term {
        name: "step",
        forms: &["step"],
        definition: "One engine at one level of one workload, measured for a few seconds in a \
                     fresh engine process.",
    },
    Term {
        name: "closed loop",
        forms: &["closed loop", "closed-loop"],
        definition: "N connections, each sending its next request when the last answer \
                     arrives: the load slows down with the server.",
    },
    Term {
        name: "open loop",
        forms: &["open loop", "open-loop"],
        definition: "Requests sent at a fixed rate whatever the server does, as users do: a \
                     server that falls behind builds a queue.",
    },
    Term {
        name: "idle",
        forms: &["idle connections", "idle connection", "idle workload"],
        definition: "Connections opened, sent one request, then held open doing nothing while \
                     memory is read: what holding a client costs.",
    },
    Term {
        name: "slow readers",
        forms: &["slow readers", "slow-readers", "slow readers mode"],
        definition: "Clients that read a large response slowly (big-response): the server must \
                     hold what it has not sent yet.",
    },
    Term {
        name: "slow senders",
        forms: &["slow senders", "slow-senders", "slowloris"],
        definition: "Clients that send their request a few bytes at a time and never finish \
                     (slowloris): whatever serves them waits.",
    },
    Term {
        name: "req/s",
        forms: &["req/s"],
        definition: "Requests answered per second, counted by the load generator.",
    },
    Term {
        name: "p50 and p99",
        forms: &["p50", "p90", "p99", "p99.9", "percentile"],
        definition: "Latency percentiles: half the requests took at most the p50, 99 in 100 \
                     at most the p99.",
    },
    Term {
        name: "Little's law",
        forms: &["Little's law", "Little’s law"],
        definition: "Requests in flight = throughput × mean latency. In a closed loop the \
                     requests in flight are the connections, so a latency that breaks the law \
                     describes only the requests that were answered.",
    },
    Term {
        name: "coordinated omission",
        forms: &["coordinated omission"],
        definition: "A client that waits for each answer sends nothing while the server \
                     stalls, so the stall is recorded once instead of for every request that \
                     was due: the slow moments go missing.",
    },
    Term {
        name: "censored",
        forms: &[
            "censored",
            "lower bound",
            "answered / sent",
            "answered/sent",
        ],
        definition: "A request still unanswered when its step ended counts at the time it had \
                     waited: a percentile it reaches reads \"≥ X\", at least X and perhaps far \
                     more.",
    },
    Term {
        name: "95 % interval",
        forms: &["95 % interval", "95 % intervals"],
        definition: "The range a figure would fall in 95 times in 100 if the step were \
                     measured again: two figures differ only when their intervals do not \
                     overlap.",
    },
    Term {
        name: "inconclusive",
        forms: &["inconclusive", "Inconclusive"],
        definition: "The data cannot carry a verdict either way (too few answers, overlapping \
                     intervals, an engine missing): not the same as \"not supported\".",
    },
    Term {
        name: "client saturated",
        forms: &["client saturated", "client-saturated"],
        definition: "The load generator used a whole core: the step measured the client's \
                     limit, not the server's.",
    },
    Term {
        name: "PSS",
        forms: &["PSS", "proportional set size"],
        definition: "Proportional set size: the memory a process really holds, with each \
                     page shared with other processes counted in part. The fair way to add up a \
                     pool of forked workers.",
    },
    Term {
        name: "RSS",
        forms: &["RSS"],
        definition: "Resident set size: pages of the process in RAM, shared pages counted in \
                     full by every process that maps them.",
    },
    Term {
        name: "VSZ",
        forms: &["VSZ", "virtual size", "address space"],
        definition: "Virtual size: the address space a process has reserved, touched or not. \
                     A thread's whole stack counts here; only the pages it touched count in \
                     RSS.",
    },
    Term {
        name: "kernel memory",
        forms: &[
            "kernel memory",
            "kernel (shown apart)",
            "kernel stack",
            "kernel stacks",
        ],
        definition: "Memory the kernel spends for the connections, whatever the server: socket \
                     buffers, its own slab objects and each thread's 16 KiB kernel stack. Read \
                     from /proc for the whole machine, so it is shown apart from the server's \
                     own memory.",
    },
    Term {
        name: "resolution",
        forms: &["resolves", "resolution", "noise floor"],
        definition: "The smallest change this machine's memory readings can tell from their \
                     noise over one run: a per-connection figure below it is reported as \
                     \"below what this machine resolves\" rather than as a number.",
    },
    Term {
        name: "context switch",
        forms: &["context switch", "context switches"],
        definition: "The kernel stopping one thread and running another: the cost a thread \
                     per connection pays on every wait.",
    },
    Term {
        name: "keep-alive",
        forms: &["keep-alive", "keep alive"],
        definition: "One connection carrying request after request, instead of a new \
                     connection for each.",
    },
    Term {
        name: "backlog",
        forms: &["backlog", "listen backlog"],
        definition: "Connections the kernel accepted that the server has not taken yet: where a \
                     pool's extra clients wait unseen.",
    },
    Term {
        name: "placement",
        forms: &["placement"],
        definition: "Which CPUs the engine and the load generator may use: `split` gives each \
                     its own half of the cores, `shared` lets both use all.",
    },
    Term {
        name: "offload",
        forms: &["offload", "offloaded"],
        definition: "Moving CPU work off the event loop to a pool of threads, so the loop keeps \
                     serving while it runs.",
    },
    Term {
        name: "calibration",
        forms: &["calibration", "calibrated"],
        definition: "At the start of each run the workbench times its CPU kernel on this \
                     machine, so that \"500 µs of work per request\" is 500 µs here.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_term_has_a_unique_anchor_forms_and_a_definition() {
        let mut anchors: Vec<String> = GLOSSARY.iter().map(Term::anchor).collect();
        for term in GLOSSARY {
            assert!(!term.forms.is_empty(), "{}", term.name);
            assert!(!term.definition.is_empty(), "{}", term.name);
        }
        assert_eq!(GLOSSARY[0].anchor(), "term-engine");
        assert_eq!(GLOSSARY[15].anchor(), "term-p50-and-p99");
        assert_eq!(
            GLOSSARY
                .iter()
                .find(|t| t.name == "Little's law")
                .unwrap()
                .anchor(),
            "term-little-s-law"
        );
        anchors.sort();
        let n = anchors.len();
        anchors.dedup();
        assert_eq!(anchors.len(), n);
    }

    #[test]
    fn a_form_belongs_to_one_term() {
        let mut forms: Vec<&str> = GLOSSARY
            .iter()
            .flat_map(|t| t.forms.iter().copied())
            .collect();
        forms.sort_unstable();
        let n = forms.len();
        forms.dedup();
        assert_eq!(forms.len(), n, "a form is listed twice");
    }
}
