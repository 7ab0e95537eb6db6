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
    /// The talk's chapter the words open, where the project knows its number.
    pub chapter: Option<u16>,
}

impl Quote {
    /// The talk's words.
    const fn talk(text: &'static str) -> Quote {
        Quote {
            text,
            source: Source::Talk,
            chapter: None,
        }
    }

    /// PEP 3156's words.
    const fn pep3156(text: &'static str) -> Quote {
        Quote {
            text,
            source: Source::Pep3156,
            chapter: None,
        }
    }

    /// A claim of the workbench's own.
    const fn workbench(text: &'static str) -> Quote {
        Quote {
            text,
            source: Source::Workbench,
            chapter: None,
        }
    }

    /// The same words, as the opening of the talk's chapter `n`.
    const fn in_chapter(self, n: u16) -> Quote {
        Quote {
            chapter: Some(n),
            ..self
        }
    }

    /// Where the words come from, for a citation block: `"The Report Of Twisted's Death" by
    /// Amber Brown at EuroPython, chapter 13`,
    /// `PEP 3156`, or `the workbench itself: a contrast of its own, not a quote`.
    pub fn cited(&self) -> String {
        match self.source {
            Source::Talk => match self.chapter {
                Some(n) => format!("{}, chapter {n}", TALK.describe()),
                None => TALK.describe(),
            },
            Source::Pep3156 => {
                "PEP 3156, \"Asynchronous IO Support Rebooted: the asyncio Module\"".into()
            }
            Source::Workbench => "the workbench itself: a contrast of its own, not a quote".into(),
        }
    }

    /// The address of the source, where one is known.
    pub fn url(&self) -> Option<&'static str> {
        match self.source {
            Source::Talk => TALK.url,
            Source::Pep3156 => Some(PEP_3156_URL),
            Source::Workbench => None,
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

/// PEP 3156's address.
pub const PEP_3156_URL: &str = "https://peps.python.org/pep-3156/";

/// Where a talk can be found. Every field the project does not know is `None`, and is said to
/// be missing wherever the talk is cited, never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Citation {
    /// The talk's title.
    pub title: Option<&'static str>,
    /// Who gave it.
    pub speaker: Option<&'static str>,
    /// The conference or meetup.
    pub event: Option<&'static str>,
    /// The year it was given.
    pub year: Option<&'static str>,
    /// Where to watch or read it.
    pub url: Option<&'static str>,
}

/// The talk the lessons test: Amber Brown's "The Report Of Twisted's Death", given at
/// EuroPython. Its chapters are the outline published with the recording (the page at
/// [`Citation::url`]); the quotes below are that outline's words, and its chapter 13 is the
/// "waiting on the client or the database" the project has always cited. The year is not
/// given there and is left unrecorded rather than guessed.
pub const TALK: Citation = Citation {
    title: Some("The Report Of Twisted's Death"),
    speaker: Some("Amber Brown"),
    event: Some("EuroPython"),
    year: None,
    url: Some(
        "https://classcentral.com/course/youtube-amber-brown-the-report-of-twisted-s-death-243827",
    ),
};

impl Citation {
    /// The talk in words, with what is known: `"Title" by Speaker at Event, 2013`, or, with
    /// nothing known, `the asyncio/Twisted talk its lessons quote`.
    pub fn describe(&self) -> String {
        let mut text = match self.title {
            Some(title) => format!("\u{201c}{title}\u{201d}"),
            None => "the asyncio/Twisted talk its lessons quote".to_string(),
        };
        if let Some(speaker) = self.speaker {
            text.push_str(&format!(" by {speaker}"));
        }
        match (self.event, self.year) {
            (Some(event), Some(year)) => text.push_str(&format!(" at {event}, {year}")),
            (Some(event), None) => text.push_str(&format!(" at {event}")),
            (None, Some(year)) => text.push_str(&format!(" ({year})")),
            (None, None) => {}
        }
        text
    }

    /// The fields not recorded yet, by name: `title, speaker, event, year, url`.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            ("title", self.title.is_none()),
            ("speaker", self.speaker.is_none()),
            ("event", self.event.is_none()),
            ("year", self.year.is_none()),
            ("url", self.url.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect()
    }
}

/// The talk's range for a thread (chapter 5): 32 kB is CPython's smallest `threading.stack_size`, 8 MB
/// glibc's default stack for a new thread (taken from `RLIMIT_STACK`). Both are reserved
/// address space, not resident memory.
pub const THREAD_COST: Quote =
    Quote::talk("Thread memory overhead: 32kB to 8MB per thread").in_chapter(5);
/// The selector's promise.
pub const SELECTOR_THOUSANDS: Quote =
    Quote::talk("Selector loops can handle thousands of open sockets and events").in_chapter(9);
/// The transport's promise.
pub const WRITES_QUEUED: Quote =
    Quote::talk("Sending data is queued until the network is ready").in_chapter(11);
/// The talk's chapter 13.
pub const WAITING: Quote =
    Quote::talk("You're probably waiting on the client or the database").in_chapter(13);
/// Concurrency against parallelism.
pub const NOT_PARALLELISM: Quote = Quote::talk("Concurrency, not parallelism").in_chapter(12);
/// How Python servers are deployed: the chapter behind the GIL lesson.
pub const RUNNERS: Quote =
    Quote::talk("Deployed with runners that run many copies using threads or processes")
        .in_chapter(3);
/// The chapter behind "Asynchronous code in a synchronous style": coroutines read like the
/// blocking code of a thread.
pub const SYNC_STYLE: Quote =
    Quote::talk("Asynchronous code executed in a synchronous style").in_chapter(21);
/// The chapter behind the race-conditions lesson.
pub const SAFELY: Quote = Quote::talk("use safely (without race conditions)").in_chapter(4);
/// PEP 3156 on event loops and frameworks.
pub const ADAPT_THE_LOOP: Quote =
    Quote::pep3156("keep the default event loop and adapt it to the framework's API");
/// The slowloris contrast: the workbench's, measured with the pool's own worker count.
pub const HOSTAGE: Quote = Quote::workbench(
    "a client that never finishes its request holds whatever serves it: as many such \
     clients as a fixed pool has workers deny service to everyone else, while an event \
     loop keeps a few bytes for each",
);
/// Readiness against completion: the workbench's contrast (the talk stops at selectors).
pub const COMPLETION: Quote = Quote::workbench(
    "a completion loop hands the kernel its reads and writes and collects the results, many \
     per system call, where a readiness loop makes each call itself: at least half the \
     system calls per request",
);
/// A loop per core: the workbench's contrast, the deployment of nginx's workers.
pub const LOOP_PER_CORE: Quote = Quote::workbench(
    "one event loop per core, each with its own listener on one port, scales a loop with the \
     cores: concurrency and parallelism together",
);
/// The adapter's threshold: the workbench's, not the PEP's.
pub const ADAPTER_CHEAP: Quote = Quote::workbench(
    "an adapted loop costs less than a quarter more CPU per request than the framework's \
     own",
);

/// The framework-cost contrast: the workbench's, on the talk's frameworks.
pub const FRAMEWORK_COST: Quote = Quote::workbench(
    "a framework costs more CPU per request than the event loop it runs on, bare: at least a \
     quarter more",
);
/// The selector-functions contrast: the workbench's measurement of the talk's selector
/// functions (select, poll, epoll).
pub const SELECTOR_SCAN: Quote = Quote::workbench(
    "select and poll scan every socket on every turn, epoll does not: idle connections make \
     every request dearer on the first two only",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_talks_words_read_as_the_talks_and_ours_as_ours() {
        assert!(
            WAITING
                .says()
                .starts_with("The talk says \"You're probably waiting on the client")
        );
        assert!(HOSTAGE.says().starts_with("The workbench adds"));
        assert!(ADAPT_THE_LOOP.says().starts_with("PEP 3156 says"));
    }

    #[test]
    fn a_citation_says_what_is_known_and_names_what_is_not() {
        let unknown = Citation {
            title: None,
            speaker: None,
            event: None,
            year: None,
            url: None,
        };
        assert_eq!(
            unknown.describe(),
            "the asyncio/Twisted talk its lessons quote"
        );
        assert_eq!(
            unknown.missing(),
            ["title", "speaker", "event", "year", "url"]
        );
        let known = Citation {
            title: Some("T"),
            speaker: Some("S"),
            event: Some("E"),
            year: Some("2000"),
            url: None,
        };
        assert_eq!(known.describe(), "\u{201c}T\u{201d} by S at E, 2000");
        assert_eq!(known.missing(), ["url"]);
        assert!(WAITING.cited().ends_with(", chapter 13"));
        assert_eq!(ADAPT_THE_LOOP.url(), Some(PEP_3156_URL));
        assert!(HOSTAGE.cited().contains("not a quote"));
    }
}
