//! One drawing of a timeline: its frame (title, lanes, the time axis, the block of unseen
//! connections) and the text measures that keep every label legible at its drawn size.

use super::*;

/// How wide a text is drawn, in px: DejaVu Sans averages under 0.6 em a character.
pub(super) fn text_px(text: &str, size: u32) -> f64 {
    text.chars().count() as f64 * size as f64 * 0.6
}

/// `text` cut into lines no wider than `width` px at `size`, at spaces.
pub(super) fn wrap(text: &str, width: f64, size: u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if text_px(&format!("{line} {word}"), size) <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// An SVG of lanes over one time axis, with the axis underneath. Every text is at least
/// [`TEXT`] px; lane labels go left of the lanes, or above each lane when the longest
/// would take over a third of the width.
pub(super) struct Frame {
    svg: String,
    width: u32,
    /// Where the lanes begin (their labels end left of it).
    left: u32,
    /// Labels are written above their lanes.
    above: bool,
    /// Where the first lane's row begins.
    top: u32,
    axis_ns: u64,
    lane_h: u32,
    /// One lane's row: label above (if any), lane and gap.
    pitch: u32,
    rows: usize,
    /// Lanes not drawn, counted on a row of their own.
    more: usize,
    /// Unseen connections and those held, with the lines that say so.
    unseen: Option<(u64, u64, Vec<String>)>,
}

impl Frame {
    pub(super) fn new(
        width: u32,
        title: &str,
        subtitle: &str,
        axis: &Axis,
        labels: &[&str],
        more: usize,
        unseen: Option<(u64, u64)>,
    ) -> Frame {
        let longest = labels
            .iter()
            .map(|l| text_px(l, TEXT))
            .chain([text_px(&format!("{more} more"), TEXT)])
            .fold(0.0, f64::max);
        let above = longest + 12.0 > width as f64 / 3.0;
        let left = if above {
            8
        } else {
            (longest.ceil() as u32 + 12).max(48)
        };
        let (lane_h, pitch) = if above {
            (
                LANE_HEIGHT_UNDER_LABEL,
                LABEL_ROW + LANE_HEIGHT_UNDER_LABEL + LANE_GAP,
            )
        } else {
            (LANE_HEIGHT, LANE_HEIGHT + LANE_GAP)
        };
        let text_width = (width - 16) as f64;
        let title_lines = wrap(title, text_width, TITLE);
        let sub_lines = wrap(subtitle, text_width, TEXT);
        let top = 8 + title_lines.len() as u32 * 19 + sub_lines.len() as u32 * 15 + 8;
        let plot_width = (width - left - RIGHT) as f64;
        let unseen = unseen.map(|(n, held)| {
            let text = format!(
                "{n} of the {held} connections the load generator held: no span here, \
                 waiting in the listen backlog (unseen by the server) or not yet served"
            );
            (n, held, wrap(&text, plot_width - 12.0, TEXT))
        });
        let mut frame = Frame {
            svg: String::new(),
            width,
            left,
            above,
            top,
            axis_ns: axis.ns.max(1),
            lane_h,
            pitch,
            rows: labels.len(),
            more,
            unseen,
        };
        let height = frame.height();
        let _ = write!(
            frame.svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" style="max-width: {width}px" role="img" aria-label="{}" font-family="{FONT}">"#,
            escape_html(title)
        );
        let _ = write!(
            frame.svg,
            r#"<rect width="{width}" height="{height}" fill="white"/>"#
        );
        let mut y = 8;
        for line in &title_lines {
            y += 19;
            let _ = write!(
                frame.svg,
                r#"<text x="{}" y="{}" font-size="{TITLE}" text-anchor="middle">{}</text>"#,
                width / 2,
                y - 4,
                escape_html(line)
            );
        }
        for line in &sub_lines {
            y += 15;
            let _ = write!(
                frame.svg,
                r#"<text x="{}" y="{}" font-size="{TEXT}" fill="{MUTED}" text-anchor="middle">{}</text>"#,
                width / 2,
                y - 3,
                escape_html(line)
            );
        }
        frame
    }

    pub(super) fn plot_width(&self) -> f64 {
        (self.width - self.left - RIGHT) as f64
    }

    pub(super) fn x(&self, ns: u64) -> f64 {
        self.left as f64 + ns.min(self.axis_ns) as f64 / self.axis_ns as f64 * self.plot_width()
    }

    /// The top of a lane's row (its label's, when above).
    pub(super) fn row_y(&self, row: usize) -> u32 {
        self.top + row as u32 * self.pitch
    }

    /// The top of a lane's bar.
    pub(super) fn y(&self, row: usize) -> u32 {
        self.row_y(row) + if self.above { LABEL_ROW } else { 0 }
    }

    /// The unseen block's height.
    pub(super) fn unseen_h(&self) -> u32 {
        self.unseen
            .as_ref()
            .map_or(0, |(.., lines)| lines.len() as u32 * 15 + 14)
    }

    pub(super) fn axis_y(&self) -> u32 {
        let more = if self.more > 0 { 1 } else { 0 };
        let unseen = match self.unseen_h() {
            0 => 0,
            h if self.above => LABEL_ROW + h + LANE_GAP,
            h => h + LANE_GAP,
        };
        self.row_y(self.rows + more) + unseen + 2
    }

    /// Title, lanes, the axis and its title.
    pub(super) fn height(&self) -> u32 {
        self.axis_y() + 40
    }

    /// A lane's label (`label_y`: its baseline) beside or above it.
    pub(super) fn label(&mut self, row: usize, label: &str) {
        let (x, y, anchor) = if self.above {
            (self.left, self.row_y(row) + LABEL_ROW - 4, "start")
        } else {
            (
                self.left - 6,
                self.y(row) + (self.lane_h + TEXT) / 2 - 2,
                "end",
            )
        };
        let _ = write!(
            self.svg,
            r#"<text x="{x}" y="{y}" font-size="{TEXT}" text-anchor="{anchor}">{}</text>"#,
            escape_html(label)
        );
    }

    /// A lane's background and label; for a connection, its life on the lane (a darker
    /// band from `begins` to `ends`) and its accept's tick.
    pub(super) fn lane(&mut self, row: usize, label: &str, life: Option<(u64, u64, Option<u64>)>) {
        let y = self.y(row);
        let h = self.lane_h;
        let _ = write!(
            self.svg,
            r##"<rect x="{}" y="{y}" width="{:.1}" height="{h}" fill="#f2f2f2"/>"##,
            self.left,
            self.plot_width(),
        );
        self.label(row, label);
        if let Some((begins, ends, accepted)) = life {
            let x0 = self.x(begins);
            let width = (self.x(ends) - x0).max(0.6);
            let _ = write!(
                self.svg,
                r##"<rect x="{x0:.1}" y="{y}" width="{width:.1}" height="{h}" fill="#e0e0e0"/>"##
            );
            if let Some(at) = accepted {
                let _ = write!(
                    self.svg,
                    r##"<rect x="{:.1}" y="{}" width="1.5" height="{}" fill="#222"/>"##,
                    self.x(at) - 0.75,
                    y.saturating_sub(1),
                    h + 2
                );
            }
        }
    }

    pub(super) fn bar(&mut self, row: usize, span: &TraceSpan) {
        let Some(&(_, color, fills)) = PHASES.iter().find(|(p, ..)| *p == span.phase) else {
            return;
        };
        let y = self.y(row);
        let x0 = self.x(span.start_ns);
        let width = (self.x(span.end_ns) - x0).max(0.6);
        let thin = (self.lane_h / 3).max(3);
        let (bar_y, bar_h) = if fills {
            (y, self.lane_h)
        } else {
            (y + self.lane_h - thin, thin)
        };
        let _ = write!(
            self.svg,
            r#"<rect x="{x0:.1}" y="{bar_y}" width="{width:.1}" height="{bar_h}" fill="{color}"/>"#
        );
    }

    /// The row that counts the lanes not drawn, and the block of connections the load
    /// generator held that have no span in the window.
    pub(super) fn rest(&mut self) {
        let mid = self.left as f64 + self.plot_width() / 2.0;
        if self.more > 0 {
            let row = self.rows;
            let more = self.more;
            self.label(row, &format!("{more} more"));
            let y = self.y(row);
            let long = format!("{more} more lanes not drawn: the data table lists every one");
            let text = if text_px(&long, TEXT) <= self.plot_width() {
                long
            } else {
                "not drawn: see the data table".to_string()
            };
            let _ = write!(
                self.svg,
                r##"<text x="{mid:.1}" y="{}" font-size="{TEXT}" fill="{MUTED}" text-anchor="middle">{text}</text>"##,
                y + (self.lane_h + TEXT) / 2 - 2
            );
        }
        let Some((unseen, _, lines)) = self.unseen.clone() else {
            return;
        };
        let row = self.rows + usize::from(self.more > 0);
        let y = self.row_y(row);
        let h = self.unseen_h();
        let (text_y, label_x, anchor) = if self.above {
            (y + LABEL_ROW, self.left, "start")
        } else {
            (y, self.left - 6, "end")
        };
        let block_y = if self.above { y + LABEL_ROW } else { y };
        let _ = write!(
            self.svg,
            r#"<rect x="{}" y="{block_y}" width="{:.1}" height="{h}" fill="{UNSEEN_FILL}" stroke="{UNSEEN_STROKE}" stroke-dasharray="4 3"/>"#,
            self.left,
            self.plot_width()
        );
        let label_y = if self.above {
            y + LABEL_ROW - 4
        } else {
            y + h / 2 + 4
        };
        let _ = write!(
            self.svg,
            r#"<text x="{label_x}" y="{label_y}" font-size="{TEXT}" text-anchor="{anchor}">{unseen} more</text>"#,
        );
        for (i, line) in lines.iter().enumerate() {
            let _ = write!(
                self.svg,
                r#"<text x="{mid:.1}" y="{}" font-size="{TEXT}" text-anchor="middle">{}</text>"#,
                text_y + 19 + i as u32 * 15,
                escape_html(line)
            );
        }
    }

    /// The time axis and its title, and the end of the SVG.
    pub(super) fn finish(mut self) -> String {
        self.rest();
        let axis_y = self.axis_y();
        let plot_width = self.plot_width();
        let (left, right) = (self.left, self.width - RIGHT);
        let _ = write!(
            self.svg,
            r##"<line x1="{left}" y1="{axis_y}" x2="{right}" y2="{axis_y}" stroke="#333"/>"##,
        );
        let axis_ms = self.axis_ns as f64 / 1e6;
        // About one tick per 80 px: labels of a few digits never touch.
        let ticks = (plot_width / 80.0).clamp(3.0, 8.0);
        let step = nice_step(axis_ms / ticks);
        let mut tick = 0.0;
        while tick <= axis_ms * 1.000_001 {
            let tx = left as f64 + tick / axis_ms * plot_width;
            let label = tick_label(tick);
            // The last label ends at the drawing's edge, not past it.
            let half = text_px(&label, TEXT) / 2.0;
            let lx = tx.min(self.width as f64 - 2.0 - half).max(half + 2.0);
            let _ = write!(
                self.svg,
                r##"<line x1="{tx:.1}" y1="{axis_y}" x2="{tx:.1}" y2="{}" stroke="#333"/><text x="{lx:.1}" y="{}" font-size="{TEXT}" text-anchor="middle">{label}</text>"##,
                axis_y + 4,
                axis_y + 17,
            );
            tick += step;
        }
        let _ = write!(
            self.svg,
            r#"<text x="{:.1}" y="{}" font-size="{TEXT}" text-anchor="middle">time from the window's start (ms)</text>"#,
            left as f64 + plot_width / 2.0,
            axis_y + 33
        );
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// A tick's milliseconds, without trailing zeros: `0`, `2.5`, `10`.
pub(super) fn tick_label(ms: f64) -> String {
    let rounded = (ms * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

/// A round step near `raw` milliseconds: 1, 2 or 5 times a power of ten.
pub(super) fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let scaled = raw / magnitude;
    let nice = if scaled <= 1.0 {
        1.0
    } else if scaled <= 2.0 {
        2.0
    } else if scaled <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}
