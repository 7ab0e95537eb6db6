//! Drawing: a line plot or a bar plot, described as plain data, turned into SVG by plotters.
//!
//! The chart functions in the parent module decide *what* to draw (which steps, which
//! figures, which lines are dashed); this module decides only *how*: sizes, fonts, the grid,
//! the legend column on the right, markers for flagged and failed steps. Text is measured
//! with the bundled DejaVu Sans and written as real `<text>` elements naming
//! `DejaVu Sans, sans-serif`, so a browser without that font still lays it out nearly the
//! same.

use std::error::Error;
use std::sync::Once;

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::palette::{EngineStyle, color_hex};
use super::scale::{Scale, YRule};
use crate::format::escape_html as escape;

/// The size a chart is drawn at, in SVG pixels. A chart is drawn twice ([`WIDE`] and
/// [`NARROW`]) and each drawing is shown at most at its drawn width (`max-width` on the
/// `<svg>`): a pixel of font is then at most a pixel on screen, never shrunk below it as
/// long as the container is as wide as the drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Width, in SVG pixels.
    pub width: u32,
    /// Height, in SVG pixels.
    pub height: u32,
}

/// The drawing for a window at least [`NARROW_BELOW`] px wide: one chart per row, shown at
/// this width.
pub const WIDE: Size = Size {
    width: 720,
    height: 400,
};
/// The drawing for a phone: fits a 400 px wide screen (356 px left inside the page's
/// padding and the figure's border) at its drawn size.
pub const NARROW: Size = Size {
    width: 340,
    height: 300,
};
/// Windows narrower than this (CSS px) show the [`NARROW`] drawing: below it a [`WIDE`]
/// drawing would be shrunk under its drawn size.
pub const NARROW_BELOW: u32 = 800;
/// Width of the wide drawing, in SVG pixels.
pub const WIDTH: u32 = WIDE.width;
/// Height of the wide drawing, in SVG pixels.
pub const HEIGHT: u32 = WIDE.height;
/// The smallest text any chart draws, in px of its drawing: legible at its drawn size.
pub const MIN_FONT_PX: f64 = 12.0;

/// The font family written into the SVG: the bundled font first, then any sans-serif.
pub(crate) const FONT_FAMILY: &str = "DejaVu Sans, sans-serif";
/// DejaVu Sans, used only to measure text (see `assets/DejaVuSans-LICENSE.txt`).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
const GRID: RGBColor = RGBColor(0xe2, 0xe2, 0xe2);
const AXIS: RGBColor = RGBColor(0x88, 0x88, 0x88);
/// Reference lines and kernel memory: grey, so they never look like an engine.
pub(crate) const REFERENCE: RGBColor = RGBColor(0x99, 0x99, 0x99);

/// plotters' font sizes are 1.24 × the SVG `font-size` it writes; these take px.
const fn px(size: f64) -> f64 {
    size * 1.24
}
const TITLE_SIZE: f64 = px(15.0);
const LABEL_SIZE: f64 = px(13.0);
const DESC_SIZE: f64 = px(13.0);
/// The label of a gap (a step with no value), beside its band.
const GAP_SIZE: f64 = px(MIN_FONT_PX + 0.5);

/// What drawing can fail with (plotters' errors, boxed).
pub(crate) type DrawResult<T> = Result<T, Box<dyn Error>>;

/// How a step is marked on a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Nothing to say.
    Plain,
    /// A warning: hollow marker and a "!" above it; the chart's notes say which.
    Flagged,
    /// The figure is only a lower bound (requests unanswered when the step ended reach it,
    /// `Latency::is_lower_bound`): drawn at the bound, hollow, with an arrow pointing up, on
    /// lines without markers too.
    AtLeast,
}

/// One point of a line.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub x: f64,
    pub y: f64,
    pub mark: Mark,
    /// The figure's 95 % interval, drawn as an error bar.
    pub interval: Option<[f64; 2]>,
    /// The step has no value to draw (`no answers`, `failed`, `not reached: 3 of 100
    /// held`): no point and no line through it, but a band at its level with a "×" on the
    /// axis and this label. `y` is ignored.
    pub gap: Option<String>,
}

impl Point {
    /// A plain point.
    pub fn at(x: f64, y: f64) -> Point {
        Point {
            x,
            y,
            mark: Mark::Plain,
            interval: None,
            gap: None,
        }
    }
}

/// One line of a plot.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub style: EngineStyle,
    pub dashed: bool,
    /// Markers on the points (primary lines); secondary (dashed) lines go without.
    pub markers: bool,
    pub points: Vec<Point>,
}

/// An entry of the legend.
#[derive(Debug, Clone)]
pub(crate) struct LegendEntry {
    pub text: String,
    pub color: RGBColor,
    pub swatch: Swatch,
}

/// What a legend entry shows before its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Swatch {
    /// An engine: a line with its marker (square for a peer).
    Engine { peer: bool },
    /// A line style, in grey: what solid lines mean.
    Solid,
    /// A line style, in grey: what dashed lines mean.
    Dashed,
    /// Text only (the text carries its own symbol, like "○ !").
    Text,
    /// Filled blocks of these colours, side by side (bars).
    Blocks(Vec<RGBColor>),
    /// One filled block of the entry's colour (a bar).
    Block,
}

/// A line plot: levels across, a figure up, one or more lines per engine.
#[derive(Debug, Clone)]
pub(crate) struct LinePlot {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    /// Let the x axis go logarithmic when the levels span decades.
    pub x_log: bool,
    /// How the value axis is chosen: the figure's rule ([`YRule`]).
    pub y: YRule,
    pub lines: Vec<Line>,
    pub legend: Vec<LegendEntry>,
}

/// A horizontal bar plot: one group of bars per row (engine).
#[derive(Debug, Clone)]
pub(crate) struct BarPlot {
    pub title: String,
    pub x_desc: String,
    pub rows: Vec<BarRow>,
    pub legend: Vec<LegendEntry>,
}

/// One row of a bar plot.
#[derive(Debug, Clone)]
pub(crate) struct BarRow {
    pub label: String,
    pub bars: Vec<Bar>,
}

/// One bar.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub value: f64,
    pub color: RGBColor,
    /// Written at the end of the bar.
    pub text: String,
}

/// A linear axis over plot positions whose ticks are exactly the [`Scale`]'s (plotters'
/// own `f64` axis picks its ticks itself, and its key-point override cannot take a label
/// formatter).
#[derive(Debug, Clone)]
struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn of(scale: &Scale) -> Ticked {
        Ticked {
            lo: scale.lo,
            hi: scale.hi,
            ticks: scale.positions(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.lo) / (self.hi - self.lo);
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold points carry the grid lines and labels; no light (minor) lines.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Registers the bundled font with plotters, once per process.
fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType font checked in with the crate; a failure here
        // would show as missing text, and the tests would catch it.
        let _ = plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT_BYTES);
    });
}

fn text_style(size: f64, color: &RGBColor) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(color)
}

/// Pixel width of a text in the legend font.
fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    text: &str,
    size: f64,
) -> u32 {
    area.estimate_text_size(text, &text_style(size, &INK))
        .map(|(w, _)| w)
        .unwrap_or(8 * text.len() as u32)
}

/// Draws a line plot at `size`. Steps without a value (a [`Point::gap`]) break their line
/// and are drawn as a band at their level, a "×" on the x axis and their label, in the
/// engine's colour: a failure is never drawn as a figure.
pub(crate) fn line_plot(plot: &LinePlot, size: Size) -> DrawResult<String> {
    ensure_font();
    let xs: Vec<f64> = plot
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.x))
        .collect();
    let ys: Vec<f64> = plot
        .lines
        .iter()
        .flat_map(|l| {
            l.points
                .iter()
                .filter(|p| p.gap.is_none())
                .flat_map(|p| {
                    let [lo, hi] = p.interval.unwrap_or([p.y, p.y]);
                    // Room above a lower bound for its arrow.
                    let room = match (p.mark, plot.y.may_be_log()) {
                        (Mark::AtLeast, true) => 2.0,
                        (Mark::AtLeast, false) => 1.15,
                        _ => 1.0,
                    };
                    [p.y, lo, hi, p.y * room]
                })
                .filter(|v| v.is_finite() && (!plot.y.may_be_log() || *v > 0.0))
        })
        .collect();
    let xscale = Scale::levels(&xs, plot.x_log);
    let yscale = Scale::by_rule(&ys, plot.y);
    let x_desc = format!("{}{}", plot.x_desc, xscale.note());
    let y_desc = format!("{}{}", plot.y_desc, yscale.note());

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
        root.fill(&WHITE)?;
        let area = root.titled(&plot.title, title_style(&root, &plot.title, size))?;
        let narrow = size.width < WIDE.width;
        let mut chart = ChartBuilder::on(&area)
            .margin_top(8)
            .margin_left(4)
            .margin_right(if narrow { 10 } else { 18 })
            .margin_bottom(4)
            .x_label_area_size(42)
            .y_label_area_size(if narrow { 58 } else { 66 })
            .build_cartesian_2d(Ticked::of(&xscale), Ticked::of(&yscale))?;
        let x_label = |v: &f64| xscale.label(*v);
        let y_label = |v: &f64| yscale.label(*v);
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .label_style(text_style(LABEL_SIZE, &INK))
            .axis_desc_style(text_style(DESC_SIZE, &INK))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS)
            .draw()?;

        // Gaps first, under the lines: one band per step without a value.
        // Each gap's label on a row of its own: labels of nearby levels, which go to opposite
        // sides, never overlap on a narrow drawing.
        let mut row = 0;
        for line in &plot.lines {
            for p in line.points.iter().filter(|p| p.gap.is_some()) {
                let x = xscale.pos(p.x);
                let label = p.gap.as_deref().unwrap_or_default();
                draw_gap(
                    &mut chart,
                    (&xscale, &yscale),
                    x,
                    row,
                    label,
                    line.style.color,
                )?;
                row += 1;
            }
        }

        for line in &plot.lines {
            let color = line.style.color;
            let stroke = line_style(color, 2);
            // A gap breaks the line: no segment reaches a step without a value.
            for segment in line.points.split(|p| p.gap.is_some()) {
                let points: Vec<(f64, f64)> = segment
                    .iter()
                    .map(|p| (xscale.pos(p.x), yscale.pos(p.y)))
                    .collect();
                if line.dashed {
                    chart.draw_series(DashedLineSeries::new(points, 7, 5, stroke))?;
                } else {
                    chart.draw_series(LineSeries::new(points, stroke))?;
                }
            }
            let drawn = line.points.iter().filter(|p| p.gap.is_none());
            if !line.markers {
                // A bound is never drawn as if it were a figure, marker or not.
                for p in drawn.filter(|p| p.mark == Mark::AtLeast) {
                    let at = (xscale.pos(p.x), yscale.pos(p.y));
                    draw_at_least(&mut chart, at, line.style)?;
                }
                continue;
            }
            for p in drawn {
                let at = (xscale.pos(p.x), yscale.pos(p.y));
                if let Some([lo, hi]) = p.interval {
                    // On a log axis an interval reaching zero is drawn down to the axis.
                    let lo = if yscale.log && lo <= 0.0 {
                        yscale.lo
                    } else {
                        yscale.pos(lo)
                    };
                    draw_error_bar(&mut chart, at.0, lo, yscale.pos(hi), color)?;
                }
                match p.mark {
                    Mark::Plain => draw_marker(&mut chart, at, line.style, true)?,
                    Mark::AtLeast => draw_at_least(&mut chart, at, line.style)?,
                    Mark::Flagged => {
                        draw_marker(&mut chart, at, line.style, false)?;
                        chart.draw_series(std::iter::once(
                            EmptyElement::at(at)
                                + Text::new(
                                    "!",
                                    (0, -7),
                                    (FONT_FAMILY, LABEL_SIZE + 4.0, FontStyle::Bold)
                                        .into_font()
                                        .color(&color)
                                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                                ),
                        ))?;
                    }
                }
            }
        }
        root.present()?;
    }
    Ok(finish(svg, &plot.title, size))
}

/// The title's style: smaller when the title would not fit the drawing's width.
fn title_style<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    size: Size,
) -> TextStyle<'static> {
    let room = size.width.saturating_sub(12);
    if text_width(root, title, TITLE_SIZE) <= room {
        text_style(TITLE_SIZE, &INK)
    } else {
        text_style(LABEL_SIZE, &INK)
    }
}

/// A step without a value at plot position `x`: a pale band of the engine's colour across
/// the plot, a "×" on the x axis, and its label (`pool: no answers`) above the axis, `row`
/// lines up when other engines have a gap at the same level. The label goes to the side
/// with more room.
fn draw_gap<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<Ticked, Ticked>>,
    (xscale, yscale): (&Scale, &Scale),
    x: f64,
    row: usize,
    label: &str,
    color: RGBColor,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let (lo, hi) = (yscale.lo, yscale.hi);
    let half = (xscale.hi - xscale.lo) * 0.012;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(x - half, lo), (x + half, hi)],
        ShapeStyle {
            color: color.mix(0.16),
            filled: true,
            stroke_width: 0,
        },
    )))?;
    let right_half = (x - xscale.lo) > (xscale.hi - xscale.lo) / 2.0;
    let (anchor, dx) = if right_half {
        (HPos::Right, -9)
    } else {
        (HPos::Left, 9)
    };
    let dy = -6 - 18 * row as i32;
    chart.draw_series(std::iter::once(
        EmptyElement::at((x, lo))
            + Text::new(
                "×",
                (0, 0),
                (FONT_FAMILY, LABEL_SIZE + 6.0, FontStyle::Bold)
                    .into_font()
                    .color(&color)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )
            + Text::new(
                label.to_string(),
                (dx, dy),
                text_style(GAP_SIZE, &color).pos(Pos::new(anchor, VPos::Bottom)),
            ),
    ))?;
    Ok(())
}

/// A vertical error bar from `lo` to `hi` at `x` (chart coordinates), with short caps.
fn draw_error_bar<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    x: f64,
    lo: f64,
    hi: f64,
    color: RGBColor,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let stroke = line_style(color, 1);
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x, lo), (x, hi)],
        stroke,
    )))?;
    for y in [lo, hi] {
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, y)) + PathElement::new(vec![(-4, 0), (4, 0)], stroke),
        ))?;
    }
    Ok(())
}

/// A lower bound at `at`: a hollow marker and an arrow up from it (the figure is at least
/// this, maybe far more).
fn draw_at_least<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    at: (f64, f64),
    style: EngineStyle,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    draw_marker(chart, at, style, false)?;
    let stroke = line_style(style.color, 2);
    chart.draw_series(std::iter::once(
        EmptyElement::at(at)
            + PathElement::new(vec![(0, -5), (0, -20)], stroke)
            + Polygon::new(vec![(-5, -16), (0, -24), (5, -16)], style.color.filled()),
    ))?;
    Ok(())
}

/// A round (engine) or square (peer) marker, filled or hollow.
fn draw_marker<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    at: (f64, f64),
    style: EngineStyle,
    filled: bool,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let stroke = line_style(style.color, 2);
    let fill = if filled {
        style.color.filled()
    } else {
        WHITE.filled()
    };
    if style.peer {
        chart.draw_series(std::iter::once(
            EmptyElement::at(at)
                + Rectangle::new([(-4, -4), (4, 4)], fill)
                + Rectangle::new([(-4, -4), (4, 4)], stroke),
        ))?;
    } else {
        chart.draw_series(std::iter::once(
            EmptyElement::at(at) + Circle::new((0, 0), 4, fill) + Circle::new((0, 0), 4, stroke),
        ))?;
    }
    Ok(())
}

/// Draws a horizontal bar plot at `size`.
pub(crate) fn bar_plot(plot: &BarPlot, size: Size) -> DrawResult<String> {
    ensure_font();
    let values: Vec<f64> = plot
        .rows
        .iter()
        .flat_map(|r| r.bars.iter().map(|b| b.value))
        .collect();
    // Room for the value written after the longest bar.
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let room: Vec<f64> = values.iter().copied().chain([max * 1.25]).collect();
    let xscale = Scale::linear(&room, false);
    let n = plot.rows.len().max(1) as f64;
    let centers: Vec<f64> = (0..plot.rows.len()).map(|i| n - i as f64 - 0.5).collect();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
        root.fill(&WHITE)?;
        let area = root.titled(&plot.title, title_style(&root, &plot.title, size))?;
        let label_width = plot
            .rows
            .iter()
            .map(|r| text_width(&root, &r.label, LABEL_SIZE))
            .max()
            .unwrap_or(40)
            + 16;
        let mut chart = ChartBuilder::on(&area)
            .margin_top(8)
            .margin_left(6)
            .margin_right(14)
            .margin_bottom(4)
            .x_label_area_size(44)
            .y_label_area_size(label_width)
            .build_cartesian_2d(
                Ticked::of(&xscale),
                Ticked {
                    lo: 0.0,
                    hi: n,
                    ticks: centers.clone(),
                },
            )?;
        let x_label = |v: &f64| xscale.label(*v);
        let y_label = |v: &f64| {
            let index = (n - v - 0.5).round();
            plot.rows
                .get(index as usize)
                .map(|r| r.label.clone())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_desc(plot.x_desc.clone())
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .label_style(text_style(LABEL_SIZE, &INK))
            .axis_desc_style(text_style(DESC_SIZE, &INK))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .disable_y_mesh()
            .axis_style(AXIS)
            .draw()?;

        for (row, center) in plot.rows.iter().zip(&centers) {
            let band = 0.76 / row.bars.len().max(1) as f64;
            let top = center + 0.38;
            for (i, bar) in row.bars.iter().enumerate() {
                let y1 = top - i as f64 * band - 0.04;
                let y0 = y1 - band + 0.08;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y0), (bar.value, y1)],
                    bar.color.filled(),
                )))?;
                let anchor = if bar.value < 0.0 {
                    HPos::Right
                } else {
                    HPos::Left
                };
                let dx = if bar.value < 0.0 { -4 } else { 4 };
                chart.draw_series(std::iter::once(
                    EmptyElement::at((bar.value.max(0.0).min(xscale.hi), (y0 + y1) / 2.0))
                        + Text::new(
                            bar.text.clone(),
                            (dx, 0),
                            text_style(LABEL_SIZE, &INK).pos(Pos::new(anchor, VPos::Center)),
                        ),
                ))?;
            }
        }
        root.present()?;
    }
    Ok(finish(svg, &plot.title, size))
}

/// Makes plotters' SVG fit a page: scales to its container's width (the viewBox keeps the
/// proportions), and carries its title for screen readers.
fn finish(svg: String, title: &str, size: Size) -> String {
    let body = match svg
        .find("<svg")
        .and_then(|start| svg[start..].find('>').map(|end| start + end + 1))
    {
        Some(end) => &svg[end..],
        None => svg.as_str(),
    };
    format!(
        "{}\n<title>{}</title>{}",
        open_tag(size.width, size.height, title),
        escape(title),
        body
    )
}

/// The `<svg>` tag every chart opens with: as wide as its container, never wider than it
/// was drawn (so its text is never shown larger, nor, in a container as wide, smaller).
fn open_tag(width: u32, height: u32, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"100%\" \
         style=\"max-width: {width}px\" role=\"img\" aria-label=\"{}\" font-family=\"{FONT_FAMILY}\">",
        escape(title)
    )
}

/// A small SVG that says there is nothing to show yet, and what to run.
pub(crate) fn message_svg(title: &str, message: &str, hint: &str) -> String {
    let (width, height) = (NARROW.width, 120);
    format!(
        "{open}\n<title>{title}</title>\n\
         <rect x=\"1\" y=\"1\" width=\"{w}\" height=\"{h}\" rx=\"6\" fill=\"#fafafa\" stroke=\"{grid}\" stroke-dasharray=\"6 4\"/>\n\
         <text x=\"{cx}\" y=\"30\" text-anchor=\"middle\" font-size=\"15\" fill=\"{ink}\">{title}</text>\n\
         <text x=\"{cx}\" y=\"62\" text-anchor=\"middle\" font-size=\"13\" fill=\"{muted}\">{message}</text>\n\
         <text x=\"{cx}\" y=\"90\" text-anchor=\"middle\" font-size=\"13\" fill=\"{ink}\" font-family=\"DejaVu Sans Mono, monospace\">{hint}</text>\n\
         </svg>\n",
        open = open_tag(width, height, title),
        title = escape(title),
        message = escape(message),
        hint = escape(hint),
        w = width - 2,
        h = height - 2,
        cx = width / 2,
        grid = color_hex(AXIS),
        ink = color_hex(INK),
        muted = color_hex(MUTED),
    )
}

/// A line of `color`, `width` pixels wide, unfilled.
fn line_style(color: RGBColor, width: u32) -> ShapeStyle {
    ShapeStyle {
        color: color.to_rgba(),
        filled: false,
        stroke_width: width,
    }
}
