//! Numbers and text as every front end prints them: the terminal tables, the dashboard, the
//! charts' labels and the reports all format through this one module, so that one figure
//! reads the same wherever it appears (22.4 KiB is `22.4 KiB` in a report, on a dashboard
//! page and in `workbench show`).
//!
//! Figures carry a unit and about three significant figures ([`sig3`]) — enough to compare,
//! not so many that noise looks like a finding. Counts are exact, in groups of three
//! ([`count`]). Changes between runs read as people say them ([`change`]).
//!
//! The one HTML escape ([`escape_html`]) lives here too: the reports' HTML, the charts' SVG
//! and the Markdown reports' inline HTML all escape text with it.

use wb_model::table::Unit;

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Three significant figures, without trailing noise: `0.412`, `12.3`, `512`.
///
/// Below 0.01 this keeps two decimals (`0.00`): the figures it serves (cores, milliseconds,
/// ratios) are not read at that scale.
pub fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 99.95 {
        format!("{v:.0}")
    } else if a >= 9.995 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Bytes in B, KiB, MiB or GiB: `162 B`, `22.4 KiB`, `1.97 MiB`.
pub fn bytes(n: f64) -> String {
    let a = n.abs();
    if a >= GIB {
        format!("{} GiB", sig3(n / GIB))
    } else if a >= MIB {
        format!("{} MiB", sig3(n / MIB))
    } else if a >= KIB {
        format!("{} KiB", sig3(n / KIB))
    } else {
        format!("{n:.0} B")
    }
}

/// Microseconds as µs, ms or s: `17.0 µs`, `1.40 ms`, `2.10 s`.
pub fn micros(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{} s", sig3(us / 1e6))
    } else if us >= 1000.0 {
        format!("{} ms", sig3(us / 1000.0))
    } else {
        format!("{} µs", sig3(us))
    }
}

/// A figure that is only a lower bound when `lower_bound`: `≥ ` before it then (a no-break
/// space after the sign, so that it never stands alone at a line's end), the figure as it is
/// otherwise.
pub fn at_least(figure: String, lower_bound: bool) -> String {
    if lower_bound {
        format!("≥\u{a0}{figure}")
    } else {
        figure
    }
}

/// Microseconds that may be only a lower bound ([`at_least`]): `≥ 2.90 s`, or `10.3 ms`.
pub fn micros_at_least(us: f64, lower_bound: bool) -> String {
    at_least(micros(us), lower_bound)
}

/// One of a step's latency figures by name (`p50`, `p90`, `p99`, `p99.9`, `max`), `≥` before
/// it when censored requests make it a lower bound
/// ([`Latency::is_lower_bound`](wb_model::results::Latency::is_lower_bound)): `≥ 2.90 s`. An
/// unknown name is `-`.
pub fn latency(l: &wb_model::results::Latency, name: &str) -> String {
    match l.percentile(name) {
        Some((us, bound)) => micros_at_least(us as f64, bound),
        None => "-".into(),
    }
}

/// A step's answered requests of those it sent (answered, failed and censored): `584 / 681`.
pub fn answered(report: &wb_model::results::LoadReport) -> String {
    format!(
        "{} / {}",
        count(report.completed as f64),
        count(report.sent() as f64)
    )
}

/// A count per second with a thousands suffix and no unit: `193k`, `1.20M`, `950`, `12.5`;
/// zero is `0`.
pub fn per_sec(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", sig3(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", sig3(v / 1e3))
    } else if a >= 99.5 || a == 0.0 {
        format!("{v:.0}")
    } else {
        // Below a hundred a rate keeps its decimals: half a request a second is not zero.
        sig3(v)
    }
}

/// Requests per second with the unit: `193k req/s`.
pub fn rps(v: f64) -> String {
    format!("{} req/s", per_sec(v))
}

/// Cores used, with the unit: `0.49 cores`, `1.00 core`, `12.3 cores`. A table whose column
/// already says "cores" prints the bare figure, [`sig3`].
pub fn cores(v: f64) -> String {
    let figure = sig3(v);
    if figure == "1.00" {
        "1.00 core".to_string()
    } else {
        format!("{figure} cores")
    }
}

/// A whole number, exact, with narrow no-break spaces between groups of three: `12 345`,
/// `999`. For things counted one by one: connections, threads, errors.
pub fn count(v: f64) -> String {
    let rounded = v.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3 + 1);
    if rounded < 0.0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A ratio, as "so many times": `79.2×`, `3.44×`, `1.15×`.
pub fn times(ratio: f64) -> String {
    format!("{}×", sig3(ratio))
}

/// A duration in seconds, as a person says it: `42 s`, `3 min 5 s`, `30 min`, `1 h 2 min`.
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// Unix seconds as a date and time to the minute: `2025-03-01 14:05 UTC`.
pub fn date(unix_secs: i64) -> String {
    let text = crate::store::utc_text(unix_secs);
    // `2025-03-01T14:05:09Z` → `2025-03-01 14:05 UTC`; anything else is shown as it is.
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}

/// A list of levels: `1, 16, 64`.
pub fn levels(levels: &[u64]) -> String {
    levels
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Escapes text for HTML and SVG (XML) content and for attribute values in double or single
/// quotes: `&`, `<`, `>`, `"` and `'`. The apostrophe is `&#39;`, which HTML and XML both
/// know (`&apos;` is XML's and HTML5's only).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Escapes text for Markdown (CommonMark, and GitHub's tables) so that it stays text, in a
/// paragraph, a heading or a table cell alike: every character that can open markup is
/// backslash-escaped — links and images (`[`, `]`, `(`, `)`, `!`), raw HTML and autolinks
/// (`<`, `>`), code (`` ` ``), emphasis (`*`, `_`, `~`), headings (`#`), table cells (`|`) and
/// the escape itself (`\\`) — `&` becomes `&amp;` (no entity sneaks through), and a line break
/// (CR, LF or CRLF) becomes one space, since a line break would end a table row or start a
/// block.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '(' | ')' | '!' | '<' | '>' | '#' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(' ');
            }
            '\n' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}

/// Which way a figure improves, for the comparison's "better" and "worse": the one the
/// table of figures ([`wb_model::table`]) gives each row.
pub use wb_model::table::Better;

/// A figure in its unit, as every page shows it: the formatter a row of
/// [`wb_model::table::TABLE`] is printed with (`193k req/s`, `1.40 ms`, `22.4 KiB`,
/// `0.49 cores`, `12 345`, `4.10k/s`).
pub fn figure(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Rps => rps(v),
        Unit::Micros => micros(v),
        Unit::Bytes => bytes(v),
        Unit::Cores => cores(v),
        Unit::Count => count(v),
        Unit::PerSec => format!("{}/s", per_sec(v)),
    }
}

/// A figure in a table whose column already says "cores": cores bare (`0.49`), the others as
/// [`figure`] prints them.
pub fn figure_bare(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Cores => sig3(v),
        other => figure(other, v),
    }
}

/// Changes smaller than this fraction are not called better or worse: two runs of the same
/// build on a shared machine differ by a few percent.
pub const NOISE: f64 = 0.05;

/// The change from `reference` to `value`, as a person reads it: `+7.1%`, `−12%`, `×3.4`
/// (when one is over twice the other), with "better" or "worse" beyond [`NOISE`].
pub fn change(value: f64, reference: f64, better: Better) -> String {
    if !value.is_finite() || !reference.is_finite() {
        return "—".into();
    }
    if reference == 0.0 {
        return if value == 0.0 {
            "no change".into()
        } else {
            "new (was 0)".into()
        };
    }
    let ratio = value / reference;
    let text = if ratio >= 2.0 || (0.0..=0.5).contains(&ratio) {
        format!("×{}", sig3(ratio))
    } else {
        let pct = (ratio - 1.0) * 100.0;
        if pct.abs() < 0.05 {
            return "no change".into();
        }
        let digits = if pct.abs() >= 9.95 { 0 } else { 1 };
        // A real minus sign, so that a column of changes lines up and reads as numbers.
        format!(
            "{}{:.*}%",
            if pct < 0.0 { "−" } else { "+" },
            digits,
            pct.abs()
        )
    };
    let rise = ratio > 1.0;
    let verdict = match better {
        _ if (ratio - 1.0).abs() < NOISE => "",
        Better::Higher if rise => " better",
        Better::Higher => " worse",
        Better::Lower if rise => " worse",
        Better::Lower => " better",
        Better::Neither => "",
    };
    format!("{text}{verdict}")
}

/// What a comparison calls a change with no evidence behind it.
pub const NO_SIGNIFICANT_CHANGE: &str = "no significant change";

/// The change from `reference` to `value` when both carry intervals: "no significant change"
/// when the 95 % intervals overlap; otherwise the change as [`change`] writes it, called
/// better or worse (the difference is real, however small). A figure without an interval
/// falls back to [`NOISE`]: within it, no significant change.
pub fn significant_change(
    value: &wb_model::spread::Estimate,
    reference: &wb_model::spread::Estimate,
    better: Better,
) -> String {
    let (a, b) = (value.value, reference.value);
    if !a.is_finite() || !b.is_finite() {
        return "—".into();
    }
    if value.has_interval() && reference.has_interval() {
        if !value.separated(reference) {
            return NO_SIGNIFICANT_CHANGE.into();
        }
        let text = change(a, b, Better::Neither);
        let rise = a > b;
        let word = match better {
            Better::Higher if rise => " better",
            Better::Higher => " worse",
            Better::Lower if rise => " worse",
            Better::Lower => " better",
            Better::Neither => "",
        };
        return format!("{text}{word}");
    }
    if b != 0.0 && ((a / b) - 1.0).abs() < NOISE || a == b {
        return NO_SIGNIFICANT_CHANGE.into();
    }
    change(a, b, better)
}

/// A figure with its 95 % interval, `12.3k/s ± 410/s`: the point figure, then half the
/// interval's width (the interval need not be symmetric; the larger side is shown). The
/// figure alone when there is no interval.
pub fn with_interval(
    value: f64,
    interval: Option<[f64; 2]>,
    show: impl Fn(f64) -> String,
) -> String {
    if !value.is_finite() {
        // No figure (CPU per request of a step that used no measurable CPU, or answered
        // nothing): a dash, never "NaN".
        return "—".into();
    }
    match interval {
        Some([low, high]) if high > low => {
            let half = (value - low).max(high - value).max(0.0);
            format!("{} ± {}", show(value), show(half))
        }
        _ => show(value),
    }
}

/// A figure too small for this machine to resolve: its interval reaches zero or below.
/// `below what this machine resolves (± 1.2 KiB)`.
pub fn below_resolution(half_width: f64, show: impl Fn(f64) -> String) -> String {
    format!(
        "below what this machine resolves (± {})",
        show(half_width.abs())
    )
}

/// An estimate as every page shows it: `171 B ± 12 B`, or, when its interval reaches zero or
/// below, `below what this machine resolves (± 1.2 KiB)` instead of a number.
pub fn estimate(e: &wb_model::spread::Estimate, show: impl Fn(f64) -> String) -> String {
    if e.below_resolution() {
        below_resolution(e.half_width(), show)
    } else {
        with_interval(e.value, e.has_interval().then(|| e.interval()), show)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label that would be a live link, a remote image and three lines in Markdown.
    const HOSTILE: &str =
        "\t[click](javascript:alert(1))\r![p](http://evil.example/t.png)\r\nnext\nline <b>|`x`\\";

    #[test]
    fn markdown_text_stays_text() {
        let md = escape_markdown(HOSTILE);
        assert_eq!(
            md,
            "\t\\[click\\]\\(javascript:alert\\(1\\)\\) \\!\\[p\\]\\(http://evil.example/t.png\\) \
             next line \\<b\\>\\|\\`x\\`\\\\"
        );
        // No markup character is left unescaped, and no line break at all.
        let mut escaped = false;
        for c in md.chars() {
            assert!(!matches!(c, '\r' | '\n'), "{md:?}");
            if !escaped {
                assert!(!"[]()!<>|`".contains(c), "{c:?} unescaped in {md:?}");
            }
            escaped = !escaped && c == '\\';
        }
        assert_eq!(escape_markdown("a & b"), "a &amp; b");
        assert_eq!(escape_markdown("a\r\nb\rc\nd"), "a b c d");
    }

    #[test]
    fn units_scale_with_the_value() {
        assert_eq!(bytes(162.4), "162 B");
        assert_eq!(bytes(22.0 * 1024.0), "22.0 KiB");
        assert_eq!(bytes(1.97 * MIB), "1.97 MiB");
        assert_eq!(micros(17.0), "17.0 µs");
        assert_eq!(micros(1400.0), "1.40 ms");
        assert_eq!(rps(193_456.0), "193k req/s");
        assert_eq!(rps(950.0), "950 req/s");
        assert_eq!(bytes(22.4 * 1024.0), "22.4 KiB");
        assert_eq!(rps(0.5), "0.50 req/s");
        assert_eq!(rps(0.0), "0 req/s");
        assert_eq!(per_sec(12.5), "12.5");
        assert_eq!(cores(0.494), "0.49 cores");
        assert_eq!(cores(0.999), "1.00 core");
        assert_eq!(cores(12.34), "12.3 cores");
        assert_eq!(times(79.2), "79.2×");
        assert_eq!(times(3.444), "3.44×");
    }

    #[test]
    fn every_unit_of_the_table_of_figures_has_its_formatter() {
        assert_eq!(figure(Unit::Rps, 193_456.0), "193k req/s");
        assert_eq!(figure(Unit::Micros, 1400.0), "1.40 ms");
        assert_eq!(figure(Unit::Bytes, 22.4 * 1024.0), "22.4 KiB");
        assert_eq!(figure(Unit::Cores, 0.494), "0.49 cores");
        assert_eq!(figure_bare(Unit::Cores, 0.494), "0.49");
        assert_eq!(figure(Unit::Count, 12_345.0), "12\u{202f}345");
        assert_eq!(figure(Unit::PerSec, 4100.0), "4100/s");
        for row in wb_model::table::TABLE {
            assert!(!figure(row.unit, 1.0).is_empty(), "{}", row.key);
        }
    }

    #[test]
    fn lower_bounds_read_at_least() {
        use wb_model::results::{Latency, LoadReport};
        assert_eq!(micros_at_least(2_900_000.0, true), "≥\u{a0}2.90 s");
        assert_eq!(micros_at_least(10_300.0, false), "10.3 ms");
        assert_eq!(at_least("1.2k req/s".into(), true), "≥\u{a0}1.2k req/s");
        // The pool at 100 connections: 584 answered in 10 ms, 97 clients censored after
        // waiting the whole step, 3 requests in flight younger than the slowest answer.
        let l = Latency {
            count: 684,
            censored: 100,
            censored_late: 97,
            late_requests: 97,
            p50_us: 10_300,
            p90_us: 2_900_000,
            p99_us: 2_950_000,
            max_us: 2_950_000,
            ..Latency::default()
        };
        assert_eq!(latency(&l, "p50"), "10.3 ms");
        assert_eq!(latency(&l, "p90"), "≥\u{a0}2.90 s");
        assert_eq!(latency(&l, "p99"), "≥\u{a0}2.95 s");
        assert_eq!(latency(&l, "max"), "≥\u{a0}2.95 s");
        assert_eq!(latency(&l, "p42"), "-");
        let report = LoadReport {
            completed: 584,
            censored: 100,
            latency: l,
            ..LoadReport::default()
        };
        assert_eq!(answered(&report), "584 / 684");
        let big = LoadReport {
            completed: 12_000,
            censored: 64,
            ..LoadReport::default()
        };
        assert_eq!(answered(&big), "12\u{202f}000 / 12\u{202f}064");
    }

    #[test]
    fn counts_are_exact_in_groups_of_three() {
        assert_eq!(count(1_234_567.0), "1\u{202f}234\u{202f}567");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(-1000.0), "-1\u{202f}000");
    }

    #[test]
    fn durations_and_dates_read_as_people_say_them() {
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(185), "3 min 5 s");
        assert_eq!(duration(1800), "30 min");
        assert_eq!(duration(3720), "1 h 2 min");
        assert_eq!(duration(-5), "0 s");
        assert_eq!(date(1_700_000_000), "2023-11-14 22:13 UTC");
    }

    #[test]
    fn html_escape_covers_content_and_attributes() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom's & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom&#39;s &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(escape_html("22.4 KiB"), "22.4 KiB");
    }

    #[test]
    fn changes_read_as_people_say_them() {
        assert_eq!(change(110.0, 100.0, Better::Higher), "+10% better");
        assert_eq!(change(103.0, 100.0, Better::Higher), "+3.0%");
        assert_eq!(change(90.0, 100.0, Better::Lower), "−10% better");
        assert_eq!(change(340.0, 100.0, Better::Lower), "×3.40 worse");
        assert_eq!(change(100.0, 100.0, Better::Lower), "no change");
        assert_eq!(change(5.0, 0.0, Better::Lower), "new (was 0)");
    }

    #[test]
    fn only_separated_intervals_make_a_significant_change() {
        use wb_model::spread::Estimate;
        let with = |value: f64, half: f64| Estimate {
            low: value - half,
            high: value + half,
            method: wb_model::spread::Method::Windows,
            ..Estimate::single(value)
        };
        let base = with(100.0, 5.0);
        assert_eq!(
            significant_change(&with(108.0, 5.0), &base, Better::Higher),
            NO_SIGNIFICANT_CHANGE
        );
        assert_eq!(
            significant_change(&with(112.0, 5.0), &base, Better::Higher),
            "+12% better"
        );
        assert_eq!(
            significant_change(&with(103.0, 0.5), &with(100.0, 0.5), Better::Lower),
            "+3.0% worse"
        );
        // Without intervals, the noise threshold decides.
        let single = Estimate::single;
        assert_eq!(
            significant_change(&single(103.0), &single(100.0), Better::Higher),
            NO_SIGNIFICANT_CHANGE
        );
        assert_eq!(
            significant_change(&single(120.0), &single(100.0), Better::Higher),
            "+20% better"
        );
    }
}
