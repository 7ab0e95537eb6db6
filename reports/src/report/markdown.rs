//! The report as GitHub-flavoured Markdown, with each chart an SVG file in a folder beside it.
//!
//! Text from data (labels, messages) is escaped so that it stays text; tables are
//! [`DataTable::to_markdown`]; each chart is an image linked by a relative path, followed by
//! its data table in a `<details>` block (GitHub and most wikis render it folded).

use super::doc::{Banner, Block, Document, Inline, Section, Span, slug};
use super::{ChartFile, Markdown};
use crate::charts::Chart;
use crate::format::{escape_html, escape_markdown};

/// Renders a document; chart files go under `files_dir` (relative to the Markdown file).
pub(crate) fn render(doc: &Document, files_dir: &str) -> Markdown {
    let mut r = Renderer {
        out: String::new(),
        files: Vec::new(),
        files_dir: files_dir.trim_end_matches('/').to_string(),
    };
    r.out.push_str(&format!("# {}\n\n", text(&doc.title)));
    r.out.push_str(&format!("{}\n\n", inline(&doc.subtitle)));
    if let Some(banner) = &doc.banner {
        r.banner(banner);
    }
    for section in &doc.sections {
        r.section(section, 2);
    }
    r.out.push_str(
        "---\n\nMade by `workbench report` of Concurrency Workbench from its result store.\n",
    );
    Markdown {
        text: r.out,
        files: r.files,
    }
}

struct Renderer {
    out: String,
    files: Vec<ChartFile>,
    files_dir: String,
}

impl Renderer {
    fn banner(&mut self, banner: &Banner) {
        let mark = match banner.tone {
            super::doc::Tone::Bad => "⛔",
            super::doc::Tone::Warn => "⚠️",
            _ => "ℹ️",
        };
        self.out.push_str(&format!(
            "> {mark} **{}** {}\n\n",
            text(&banner.headline),
            inline(&banner.text)
        ));
    }

    fn section(&mut self, section: &Section, level: usize) {
        self.out.push_str(&format!(
            "{} {}\n\n",
            "#".repeat(level.min(6)),
            text(&section.title)
        ));
        for block in &section.blocks {
            self.block(block, (level + 1).min(6));
        }
        for child in &section.children {
            self.section(child, level + 1);
        }
    }

    fn block(&mut self, block: &Block, minor_level: usize) {
        match block {
            Block::Para(t) => self.out.push_str(&format!("{}\n\n", inline(t))),
            Block::List(items) => {
                for item in items {
                    self.out.push_str(&format!("- {}\n", inline(item)));
                }
                self.out.push('\n');
            }
            Block::Table(table) => {
                self.out.push_str(&table.to_markdown());
                self.out.push('\n');
            }
            Block::Chart(chart) => self.chart(chart),
            Block::Minor(title) => {
                self.out
                    .push_str(&format!("{} {}\n\n", "#".repeat(minor_level), text(title)))
            }
        }
    }

    /// Writes the chart's file entry and links it, with its table folded below.
    fn chart(&mut self, chart: &Chart) {
        let base = slug(&chart.id);
        let mut name = format!("{base}.svg");
        let mut n = 2;
        while self
            .files
            .iter()
            .any(|f| f.path == format!("{}/{name}", self.files_dir))
        {
            name = format!("{base}-{n}.svg");
            n += 1;
        }
        let path = format!("{}/{name}", self.files_dir);
        self.out.push_str(&format!(
            "![{}]({})\n\n",
            text(&chart.title.replace(['[', ']'], "")),
            link_target(&path)
        ));
        if !chart.legend.is_empty() {
            self.out.push_str(&format!(
                "Legend: {}\n\n",
                text(&crate::charts::LegendItem::text_line(&chart.legend))
            ));
        }
        for note in &chart.notes {
            self.out.push_str(&format!("- {}\n", text(note)));
        }
        if !chart.notes.is_empty() {
            self.out.push('\n');
        }
        self.out.push_str(&format!(
            "<details><summary>The figures of “{}” as a table</summary>\n\n{}\n</details>\n\n",
            escape_html(&chart.title),
            chart.table.to_markdown()
        ));
        self.files.push(ChartFile {
            path,
            svg: chart.svg.clone(),
        });
    }
}

/// A relative path as a link target: spaces and parentheses percent-encoded.
fn link_target(path: &str) -> String {
    path.replace('%', "%25")
        .replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

fn inline(t: &Inline) -> String {
    let mut out = String::new();
    for span in &t.0 {
        match span {
            Span::Text(s) => out.push_str(&text(s)),
            Span::Code(s) => out.push_str(&code(s)),
            Span::Strong(s) => out.push_str(&format!("**{}**", text(s.trim()))),
            Span::Tag(s, _) => out.push_str(&format!("**\\[{}\\]**", text(s))),
        }
        if let Span::Strong(s) = span
            && s.ends_with(' ')
        {
            out.push(' ');
        }
    }
    out
}

/// Plain text with Markdown's markup characters escaped and no line breaks
/// ([`escape_markdown`]).
fn text(s: &str) -> String {
    escape_markdown(s)
}

/// Inline code, with enough backticks around it to hold any inside.
fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let mut fence = "`".to_string();
    while s.contains(&fence) {
        fence.push('`');
    }
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_text_stays_text() {
        assert_eq!(text("a_b *c* <x>"), "a\\_b \\*c\\* \\<x\\>");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(
            link_target("my report_files/a.svg"),
            "my%20report_files/a.svg"
        );
    }
}
