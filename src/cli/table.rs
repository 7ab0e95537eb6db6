//! Plain-text tables for the terminal: columns padded to their widest cell, numbers right-aligned.

/// A table being built, row by row.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it should have as many cells as the header. Control characters in a
    /// cell (a label's TAB or bare CR, an escape sequence) are shown as `�`: a stored label
    /// must not move the cursor or recolour the terminal.
    pub fn row(&mut self, cells: Vec<String>) {
        let shown = |cell: String| {
            if cell.chars().any(char::is_control) {
                cell.chars()
                    .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                    .collect()
            } else {
                cell
            }
        };
        self.rows.push(cells.into_iter().map(shown).collect());
    }

    /// Renders the table, indented by `indent` spaces. The first column is left-aligned,
    /// the others right-aligned.
    pub fn render(&self, indent: usize) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let pad = " ".repeat(indent);
        let line = |cells: &[String]| {
            let mut out = pad.clone();
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                let fill = width - cell.chars().count();
                if i == 0 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(fill));
                } else {
                    out.push_str("  ");
                    out.push_str(&" ".repeat(fill));
                    out.push_str(cell);
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(&self.header);
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// Figures read the same in the terminal as in a report.
pub use wb_reports::format::{bytes, count, micros, per_sec as rate, sig3};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_a_cell_cannot_reach_the_terminal() {
        let mut t = Table::new(&["engine"]);
        t.row(vec!["\t[x]\r\u{1b}[31m".into()]);
        let text = t.render(0);
        assert!(!text.contains(['\t', '\r', '\u{1b}']), "{text:?}");
        assert!(text.contains("\u{fffd}[x]\u{fffd}\u{fffd}[31m"), "{text:?}");
    }

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(&["engine", "req/s"]);
        t.row(vec!["selector".into(), "12".into()]);
        t.row(vec!["pool".into(), "1234".into()]);
        assert_eq!(
            t.render(0),
            "engine    req/s\nselector     12\npool       1234\n"
        );
    }

    #[test]
    fn units_scale() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.50 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.00 MiB");
        assert_eq!(micros(950.0), "950 µs");
        assert_eq!(micros(12_345.0), "12.3 ms");
        assert_eq!(rate(123_456.0), "123k");
    }
}
