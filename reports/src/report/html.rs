//! The report as one self-contained HTML file: inline CSS, inline SVG charts, no script and
//! no request to anywhere, readable offline and in print.
//!
//! Every piece of text is escaped here, with the crate's one HTML escape
//! ([`escape_html`](crate::format::escape_html)); the only markup not written by this file is
//! the charts' SVG, which the chart module writes with its text escaped the same way.
//!
//! Not an askama template, as the dashboard's pages are: most of a report is charts and
//! tables that the chart module has already escaped (they go as they are into the SVG files
//! and the Markdown too), so a template would add a second escaper — askama's, which writes
//! `"` as `&#34;` — for the few strings left, and the report would no longer be written by
//! one. Every string of the document tree goes through `escape` below; the test at the end
//! feeds markup into each of them.

use super::doc::{Banner, Block, Document, Inline, Section, Span};
use crate::charts::Chart;
use crate::format::escape_html as escape;

/// Renders a document.
pub(crate) fn render(doc: &Document) -> String {
    let mut out = String::with_capacity(256 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"Concurrency Workbench: workbench report\">\n");
    out.push_str(&format!("<title>{}</title>\n", escape(&doc.title)));
    out.push_str("<style>\n");
    out.push_str(CSS);
    out.push_str(crate::charts::CHART_CSS);
    out.push_str("</style>\n</head>\n<body>\n<header>\n");
    out.push_str(&format!("<h1>{}</h1>\n", escape(&doc.title)));
    out.push_str(&format!(
        "<p class=\"subtitle\">{}</p>\n",
        inline(&doc.subtitle)
    ));
    if let Some(banner) = &doc.banner {
        out.push_str(&banner_html(banner));
    }
    out.push_str("</header>\n");
    out.push_str(&contents(&doc.sections));
    out.push_str("<main>\n");
    for section in &doc.sections {
        section_html(&mut out, section, 2);
    }
    out.push_str(
        "</main>\n<footer>\n<p>Made by <code>workbench report</code> of Concurrency \
         Workbench from its result store. Every chart's figures are in a table under it, and every \
         step's in its workload's step table.</p>\n</footer>\n</body>\n</html>\n",
    );
    out
}

fn banner_html(banner: &Banner) -> String {
    format!(
        "<div class=\"banner {}\" role=\"note\"><strong>{}</strong> {}</div>\n",
        banner.tone.class(),
        escape(&banner.headline),
        inline(&banner.text)
    )
}

/// The table of contents: top sections and the level below.
fn contents(sections: &[Section]) -> String {
    let mut out = String::from("<nav aria-label=\"Contents\">\n<h2>Contents</h2>\n<ol>\n");
    for s in sections {
        out.push_str(&format!(
            "<li><a href=\"#{}\">{}</a>",
            escape(&s.id),
            escape(&s.title)
        ));
        if !s.children.is_empty() {
            out.push_str("\n<ol>\n");
            for c in &s.children {
                out.push_str(&format!(
                    "<li><a href=\"#{}\">{}</a></li>\n",
                    escape(&c.id),
                    escape(&c.title)
                ));
            }
            out.push_str("</ol>\n");
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ol>\n</nav>\n");
    out
}

fn section_html(out: &mut String, section: &Section, level: usize) {
    let h = level.min(6);
    let class = if level == 3 { " class=\"sub\"" } else { "" };
    out.push_str(&format!(
        "<section id=\"{}\"{class}>\n<h{h}>{}</h{h}>\n",
        escape(&section.id),
        escape(&section.title)
    ));
    for block in &section.blocks {
        block_html(out, block, (level + 1).min(6));
    }
    for child in &section.children {
        section_html(out, child, level + 1);
    }
    out.push_str("</section>\n");
}

fn block_html(out: &mut String, block: &Block, minor_level: usize) {
    match block {
        Block::Para(text) => out.push_str(&format!("<p>{}</p>\n", inline(text))),
        Block::List(items) => {
            out.push_str("<ul>\n");
            for item in items {
                out.push_str(&format!("<li>{}</li>\n", inline(item)));
            }
            out.push_str("</ul>\n");
        }
        Block::Table(table) => {
            out.push_str("<div class=\"table\">\n");
            out.push_str(&table.to_html());
            out.push_str("</div>\n");
        }
        Block::Chart(chart) => out.push_str(&chart_html(chart)),
        Block::Minor(title) => out.push_str(&format!(
            "<h{minor_level} class=\"minor\">{}</h{minor_level}>\n",
            escape(title)
        )),
    }
}

/// A chart as a figure: the SVG (which draws its own title, and names it for screen
/// readers), then its data in a `<details>`, folded: the step table below has every figure
/// too, so print leaves the fold out.
fn chart_html(chart: &Chart) -> String {
    format!(
        "<figure class=\"chart{}\" id=\"chart-{}\">\n{}\n\
         <details><summary>The figures of “{}” as a table</summary>\n<div class=\"table\">\n{}</div>\n\
         </details>\n</figure>\n",
        if chart.empty { " empty" } else { "" },
        escape(&chart.id),
        chart.drawing_html(false),
        escape(&chart.title),
        chart.table.to_html()
    )
}

fn inline(text: &Inline) -> String {
    let mut out = String::new();
    for span in &text.0 {
        match span {
            Span::Text(t) => out.push_str(&escape(t)),
            Span::Code(t) => out.push_str(&format!("<code>{}</code>", escape(t))),
            Span::Strong(t) => out.push_str(&format!("<strong>{}</strong>", escape(t))),
            Span::Tag(t, tone) => out.push_str(&format!(
                "<span class=\"tag {}\">{}</span>",
                tone.class(),
                escape(t)
            )),
        }
    }
    out
}

/// The whole style sheet: system fonts (nothing to fetch), tables that scroll on a narrow
/// screen and wrap in print, and page breaks that keep a chart with its caption.
const CSS: &str = r#"
:root {
  --ink: #1f2328; --muted: #59636e; --rule: #d1d9e0; --paper: #ffffff; --tint: #f6f8fa;
  --good: #1a7f37; --good-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff8c5;
  --bad: #cf222e; --bad-bg: #ffebe9; --info: #59636e; --info-bg: #eff2f5;
}
* { box-sizing: border-box; }
html { background: var(--paper); color: var(--ink); }
body {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Helvetica Neue", Arial, sans-serif;
  font-size: 16px; line-height: 1.5; max-width: 72rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem;
}
h1 { font-size: 1.9rem; margin: 0 0 0.25rem; }
h2 { font-size: 1.45rem; margin: 2.5rem 0 0.75rem; padding-bottom: 0.3rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.2rem; margin: 2rem 0 0.5rem; }
h4, h5, h6 { font-size: 1rem; margin: 1.5rem 0 0.4rem; }
.minor { color: var(--ink); }
p, li { max-width: 60rem; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em;
  background: var(--tint); padding: 0.05em 0.3em; border-radius: 4px; }
.subtitle { color: var(--muted); margin: 0 0 1rem; }
.banner { border: 1px solid; border-left-width: 6px; border-radius: 6px; padding: 0.75rem 1rem; margin: 1rem 0; }
.banner.bad { border-color: var(--bad); background: var(--bad-bg); }
.banner.warn { border-color: var(--warn); background: var(--warn-bg); }
.banner.good, .banner.info { border-color: var(--info); background: var(--info-bg); }
nav { background: var(--tint); border: 1px solid var(--rule); border-radius: 6px; padding: 0.5rem 1.25rem; margin: 1rem 0; }
nav h2 { font-size: 1rem; margin: 0.5rem 0; border: 0; padding: 0; }
nav ol { margin: 0.25rem 0; padding-left: 1.25rem; }
nav ol ol { columns: 2; }
a { color: #0969da; }
.tag { display: inline-block; font-size: 0.78em; font-weight: 600; line-height: 1.4; padding: 0 0.45em;
  border-radius: 1em; border: 1px solid; white-space: nowrap; vertical-align: 0.05em; }
.tag.good { color: var(--good); background: var(--good-bg); }
.tag.warn { color: var(--warn); background: var(--warn-bg); }
.tag.bad { color: var(--bad); background: var(--bad-bg); }
.tag.info { color: var(--info); background: var(--info-bg); }
.table { overflow-x: auto; margin: 0.75rem 0 1.25rem; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; color: var(--muted); padding: 0 0 0.4rem; max-width: 60rem; }
th, td { border: 1px solid var(--rule); padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
td { white-space: nowrap; }
td:last-child { white-space: normal; min-width: 10rem; }
th { background: var(--tint); font-weight: 600; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
.table ul { font-size: 0.85rem; color: var(--muted); margin: 0.4rem 0; }
figure.chart { margin: 1.25rem 0 1.75rem; }
details { margin-top: 0.25rem; }
summary { cursor: pointer; color: var(--muted); font-size: 0.9rem; }
footer { margin-top: 3rem; padding-top: 0.75rem; border-top: 1px solid var(--rule); color: var(--muted); font-size: 0.85rem; }
@media print {
  @page { margin: 14mm 12mm; }
  body { font-size: 10pt; max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
  nav ol ol { columns: 3; }
  h2, h3, h4, .minor { break-after: avoid; page-break-after: avoid; }
  section.sub { break-before: page; page-break-before: always; }
  figure.chart, .banner, tr { break-inside: avoid; page-break-inside: avoid; }
  figure.chart { margin: 0.4rem 0 0.8rem; }
  figure.chart svg { max-width: 14cm; }
  figure.chart.empty svg { max-width: 11cm; }
  section[id^="compare-"] figure.chart svg { max-width: 100%; }
  details, summary { display: none; }
  .table { overflow: visible; }
  table { font-size: 7.5pt; width: 100%; }
  th, td { padding: 0.1rem 0.25rem; }
}
"#;

#[cfg(test)]
mod tests {
    use super::super::doc::Tone;
    use super::*;
    use crate::charts::DataTable;

    /// Markup in every string of the document tree comes out as text, wherever it is.
    #[test]
    fn every_string_of_the_document_is_escaped() {
        let bad = |what: &str| format!("<b data-x='{what}'>\"{what}\" & more</b>");
        let table = DataTable {
            caption: bad("caption"),
            columns: vec![bad("column")],
            rows: vec![vec![bad("cell")]],
            notes: vec![bad("note")],
        };
        let inline = Inline(vec![
            Span::Text(bad("text")),
            Span::Code(bad("code")),
            Span::Strong(bad("strong")),
            Span::Tag(bad("tag"), Tone::Warn),
        ]);
        let mut section = Section::new(bad("id"), bad("title"));
        section.blocks = vec![
            Block::Para(inline.clone()),
            Block::List(vec![inline.clone()]),
            Block::Table(table.clone()),
            Block::Chart(Chart {
                id: bad("chart-id"),
                title: bad("chart-title"),
                svg: "<svg></svg>".into(),
                svg_narrow: String::new(),
                legend: Vec::new(),
                notes: vec![bad("note")],
                table,
                empty: false,
            }),
            Block::Minor(bad("minor")),
        ];
        section.children = vec![Section::new(bad("child-id"), bad("child-title"))];
        let doc = Document {
            title: bad("doc-title"),
            subtitle: inline.clone(),
            banner: Some(Banner {
                tone: Tone::Bad,
                headline: bad("headline"),
                text: inline,
            }),
            sections: vec![section],
        };
        let html = render(&doc);
        assert!(!html.contains("<b "), "{html}");
        assert!(!html.contains("='"), "{html}");
        assert!(!html.contains("\"text"), "{html}");
        for what in [
            "caption",
            "column",
            "cell",
            "note",
            "text",
            "code",
            "strong",
            "tag",
            "id",
            "title",
            "chart-id",
            "chart-title",
            "minor",
            "child-id",
            "child-title",
            "doc-title",
            "headline",
        ] {
            let escaped =
                format!("&lt;b data-x=&#39;{what}&#39;&gt;&quot;{what}&quot; &amp; more&lt;/b&gt;");
            assert!(html.contains(&escaped), "{what} is escaped: {html}");
        }
    }
}
