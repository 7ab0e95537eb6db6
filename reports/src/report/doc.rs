//! The report as a tree of plain parts — sections, paragraphs, lists, tables, charts — that
//! both renderers walk. What a report *says* is decided once, in [`super::build`]; HTML and
//! Markdown only decide how it looks.

use crate::charts::{Chart, DataTable};

/// A whole report.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// The `<title>` and first heading: `Concurrency Workbench — run 12`.
    pub title: String,
    /// One line under the title: status, dates, what ran.
    pub subtitle: Inline,
    /// Shown first when the run did not end well (or some steps failed).
    pub banner: Option<Banner>,
    /// The sections, in reading order.
    pub sections: Vec<Section>,
}

/// A titled part of the report, with an id for links.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    /// Unique in the document: an HTML id, and part of file names.
    pub id: String,
    /// The heading.
    pub title: String,
    /// Its content, before its subsections.
    pub blocks: Vec<Block>,
    /// Sections one level down.
    pub children: Vec<Section>,
}

impl Section {
    /// An empty section.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Section {
        Section {
            id: id.into(),
            title: title.into(),
            blocks: Vec::new(),
            children: Vec::new(),
        }
    }
}

/// One piece of content.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    /// A paragraph.
    Para(Inline),
    /// A bulleted list.
    List(Vec<Inline>),
    /// A table of figures (cells are plain text).
    Table(DataTable),
    /// A chart: its SVG, with its data table beside it for exact values.
    Chart(Chart),
    /// A short heading inside a section, not listed in the contents.
    Minor(String),
}

/// How loud a banner or tag is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Good news: a claim the data supports.
    Good,
    /// Neutral: a figure with no claim attached.
    Info,
    /// Read with care: inconclusive, missing data, some steps failed.
    Warn,
    /// Bad news: the run failed or was interrupted, a claim the data contradicts.
    Bad,
}

impl Tone {
    /// The CSS class of the tone.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Info => "info",
            Tone::Warn => "warn",
            Tone::Bad => "bad",
        }
    }
}

/// What the reader must know before any figure.
#[derive(Debug, Clone)]
pub(crate) struct Banner {
    /// How serious.
    pub tone: Tone,
    /// First words, in bold: `Interrupted.`
    pub headline: String,
    /// The rest.
    pub text: Inline,
}

/// A run of text with a little formatting.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Inline(pub Vec<Span>);

/// A piece of [`Inline`] text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Span {
    /// Plain text.
    Text(String),
    /// Code, a command or a file: `workbench run`.
    Code(String),
    /// Emphasised: an engine's name at the start of a finding.
    Strong(String),
    /// A small label with a tone: "supported", "not supported".
    Tag(String, Tone),
}

impl Inline {
    /// Text taken as it is: for anything that comes from data (labels, messages), so that a
    /// backtick in an error message is never read as markup.
    pub fn plain(text: impl Into<String>) -> Inline {
        Inline(vec![Span::Text(text.into())])
    }

    /// The report's own prose, with `` `code` `` and `**strong**` marked as in Markdown.
    pub fn marked(text: &str) -> Inline {
        let mut spans = Vec::new();
        for (i, part) in text.split('`').enumerate() {
            if i % 2 == 1 {
                spans.push(Span::Code(part.to_string()));
                continue;
            }
            for (j, piece) in part.split("**").enumerate() {
                if piece.is_empty() {
                    continue;
                }
                spans.push(if j % 2 == 1 {
                    Span::Strong(piece.to_string())
                } else {
                    Span::Text(piece.to_string())
                });
            }
        }
        Inline(spans)
    }

    /// Adds plain text.
    pub fn text(mut self, text: impl Into<String>) -> Inline {
        self.0.push(Span::Text(text.into()));
        self
    }

    /// Adds emphasised text.
    pub fn strong(mut self, text: impl Into<String>) -> Inline {
        self.0.push(Span::Strong(text.into()));
        self
    }

    /// Adds code.
    pub fn code(mut self, text: impl Into<String>) -> Inline {
        self.0.push(Span::Code(text.into()));
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, text: impl Into<String>, tone: Tone) -> Inline {
        self.0.push(Span::Tag(text.into(), tone));
        self
    }
}

/// An id made of lowercase letters, digits and `-`, from any label.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "x".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_text_splits_code_and_strong() {
        let inline = Inline::marked("run `workbench run` for **PSS** now");
        assert_eq!(
            inline.0,
            vec![
                Span::Text("run ".into()),
                Span::Code("workbench run".into()),
                Span::Text(" for ".into()),
                Span::Strong("PSS".into()),
                Span::Text(" now".into()),
            ]
        );
    }

    #[test]
    fn slugs_are_safe_ids() {
        assert_eq!(slug("selector+offload"), "selector-offload");
        assert_eq!(slug("<script>"), "script");
        assert_eq!(slug("??"), "x");
    }
}
