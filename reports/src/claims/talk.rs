//! What the talk says, in its own words, in one place.
//!
//! The lessons set a measurement against a sentence of the asyncio/Twisted talk. A sentence a
//! lesson quotes lives here once, verbatim, with where it comes from, so that no page quotes
//! it loosely; a claim that is the workbench's own (the slowloris contrast, the adapter's
//! threshold) is marked as such, so that no reader takes it for the talk's.

use std::fmt;

/// Who says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The talk.
    Talk,
    /// PEP 3156 (asyncio), which the talk cites.
    Pep3156,
    /// This project: a contrast the workbench adds, not a quote.
    Workbench,
}

/// A sentence a lesson sets its measurement against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// The words, verbatim.
    pub text: &'static str,
    /// Whose words they are.
    pub source: Source,
}

impl Quote {
    /// The talk's words.
    const fn talk(text: &'static str) -> Quote {
        Quote {
            text,
            source: Source::Talk,
        }
    }

    /// PEP 3156's words.
    const fn pep3156(text: &'static str) -> Quote {
        Quote {
            text,
            source: Source::Pep3156,
        }
    }

    /// A claim of the workbench's own.
    const fn workbench(text: &'static str) -> Quote {
        Quote {
            text,
            source: Source::Workbench,
        }
    }

    /// `The talk says "…"`, `PEP 3156 says "…"`, or `The workbench adds (…): …`.
    pub fn says(&self) -> String {
        match self.source {
            Source::Talk => format!("The talk says \"{}\"", self.text),
            Source::Pep3156 => format!("PEP 3156 says \"{}\"", self.text),
            Source::Workbench => {
                format!(
                    "The workbench adds (a claim of its own, not a quote): {}",
                    self.text
                )
            }
        }
    }
}

impl fmt::Display for Quote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.says())
    }
}

/// The talk's range for a thread: 32 kB is CPython's smallest `threading.stack_size`, 8 MB
/// glibc's default stack for a new thread (taken from `RLIMIT_STACK`). Both are reserved
/// address space, not resident memory.
pub const THREAD_COST: Quote = Quote::talk("a thread costs 32 kB to 8 MB");
/// The selector's promise.
pub const SELECTOR_THOUSANDS: Quote =
    Quote::talk("one selector loop holds thousands of sockets on one core");
/// The transport's promise.
pub const WRITES_QUEUED: Quote = Quote::talk("writes are queued until the network is ready");
/// The talk's chapter 13.
pub const WAITING: Quote = Quote::talk("you're probably waiting on the client or the database");
/// Concurrency against parallelism.
pub const NOT_PARALLELISM: Quote = Quote::talk("concurrency is not parallelism");
/// How Python servers are deployed: the chapter behind the GIL lesson.
pub const RUNNERS: Quote =
    Quote::talk("Deployed with runners that run many copies using threads or processes");
/// The chapter behind the race-conditions lesson.
pub const SAFELY: Quote = Quote::talk("Use safely (without race conditions)");
/// PEP 3156 on event loops and frameworks.
pub const ADAPT_THE_LOOP: Quote =
    Quote::pep3156("keep the default event loop and adapt it to the framework's API");
/// The slowloris contrast: the workbench's, measured with the pool's own worker count.
pub const HOSTAGE: Quote = Quote::workbench(
    "a client that never finishes its request holds whatever serves it: as many such \
     clients as a fixed pool has workers deny service to everyone else, while an event \
     loop keeps a few bytes for each",
);
/// The adapter's threshold: the workbench's, not the PEP's.
pub const ADAPTER_CHEAP: Quote = Quote::workbench(
    "an adapted loop costs less than a quarter more CPU per request than the framework's \
     own",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_talks_words_read_as_the_talks_and_ours_as_ours() {
        assert!(
            WAITING
                .says()
                .starts_with("The talk says \"you're probably waiting on the client")
        );
        assert!(HOSTAGE.says().starts_with("The workbench adds"));
        assert!(ADAPT_THE_LOOP.says().starts_with("PEP 3156 says"));
    }
}
