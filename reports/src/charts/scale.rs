//! Axes: linear or logarithmic, where the ticks go, and how numbers are written on them.
//!
//! Plotters draws every axis here as a plain linear axis over *plot positions*; a log axis is
//! one whose positions are `log10(value)`. Doing the transform ourselves lets the ticks sit
//! exactly on the measured levels (1, 16, 64, 256, 1024) and lets a log axis still show a
//! level of 0 (the idle baseline, "no slow clients"): it is drawn a short gap to the left of
//! the smallest positive value, with a tick labelled `0`.

/// The lowest decade of every latency axis, in milliseconds: 100 µs, under a request's
/// round trip on loopback for any engine here. Latency axes are log from it (lower when a
/// value is), so one latency sits at the same height on every page.
pub const LATENCY_FLOOR_MS: f64 = 0.1;

/// The lowest decade of a slow-reader workload's latency axis (a whole download, a second
/// or more by design), in milliseconds.
pub const DOWNLOAD_FLOOR_MS: f64 = 100.0;

/// How a figure's value axis is chosen: one rule per figure ([`super::Metric::y_rule`]),
/// the same on the run page, a lesson and a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum YRule {
    /// Chosen by the values shown: log when they span two decades and `log` allows it,
    /// else linear from 0 (throughput, CPU per request, memory, threads).
    Data {
        /// A log axis is allowed.
        log: bool,
    },
    /// Always log, from this value's decade (or a lower one a value needs) up to the
    /// largest value: latency, from [`LATENCY_FLOOR_MS`].
    LogFrom(f64),
    /// Linear from 0 to this value, or higher when a value is: cores, to the machine's.
    ZeroTo(f64),
}

impl YRule {
    /// Whether the axis may be logarithmic (values at or below 0 are then not drawn).
    pub fn may_be_log(self) -> bool {
        !matches!(self, YRule::Data { log: false } | YRule::ZeroTo(_))
    }
}

/// Values spanning at least this ratio (two decades) get a log axis.
pub const LOG_SCALE_RATIO: f64 = 100.0;

/// Levels spanning at least this ratio (one decade: 1, 16, 64 connections) get a log level
/// axis: on a linear one the small levels crowd into its left edge.
pub const LOG_LEVELS_RATIO: f64 = 10.0;

/// Whether values spanning this range read better on a log scale: true when the positive
/// values span at least two decades (largest / smallest ≥ 100). Zeros and negatives are
/// ignored (a log axis draws zero apart); fewer than two positive values never need one.
pub fn use_log_scale(values: &[f64]) -> bool {
    match positive_range(values) {
        Some((min, max)) => max / min >= LOG_SCALE_RATIO,
        None => false,
    }
}

/// The smallest and largest finite positive values.
fn positive_range(values: &[f64]) -> Option<(f64, f64)> {
    let mut found: Option<(f64, f64)> = None;
    for &v in values.iter().filter(|v| v.is_finite() && **v > 0.0) {
        found = Some(match found {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }
    found
}

/// One axis: the range of plot positions, and the ticks with their labels.
#[derive(Debug, Clone)]
pub(crate) struct Scale {
    /// Log axis: plot position is `log10(value)`.
    pub log: bool,
    /// Lowest plot position shown.
    pub lo: f64,
    /// Highest plot position shown.
    pub hi: f64,
    /// Ticks: plot position and label.
    pub ticks: Vec<(f64, String)>,
    /// Log axis with zeros: where 0 is drawn.
    zero_at: Option<f64>,
}

impl Scale {
    /// The level axis: log when the levels span a decade ([`LOG_LEVELS_RATIO`]) and `allow_log`, with its ticks on
    /// the levels themselves; linear otherwise, ending at the largest level.
    pub fn levels(values: &[f64], allow_log: bool) -> Scale {
        let decade = positive_range(values).is_some_and(|(lo, hi)| hi / lo >= LOG_LEVELS_RATIO);
        if allow_log && decade {
            Scale::log(values, true)
        } else {
            Scale::linear(values, false)
        }
    }

    /// A value axis by its figure's rule ([`YRule`]).
    pub fn by_rule(values: &[f64], rule: YRule) -> Scale {
        match rule {
            YRule::Data { log } => Scale::values(values, log),
            YRule::LogFrom(floor) => {
                let floor = 10f64.powf(floor.log10().floor());
                let with: Vec<f64> = values.iter().copied().chain([floor]).collect();
                Scale::log(&with, false)
            }
            YRule::ZeroTo(top) => {
                let max = values
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(0.0, f64::max);
                let with: Vec<f64> = values.iter().copied().chain([top]).collect();
                // Room above for a marker's "!" only when a value nears the top.
                Scale::linear(&with, max > top * 0.9)
            }
        }
    }

    /// A value axis: log when [`use_log_scale`] says so and `allow_log`, with 1-2-5 ticks;
    /// linear otherwise, with room above the largest value for markers and flags.
    pub fn values(values: &[f64], allow_log: bool) -> Scale {
        if allow_log && use_log_scale(values) {
            Scale::log(values, false)
        } else {
            Scale::linear(values, true)
        }
    }

    /// A linear axis from zero (or the lowest negative value) to the largest value (a little
    /// above it with `headroom`), with 1-2-5 ticks.
    pub fn linear(values: &[f64], headroom: bool) -> Scale {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let lo = finite.iter().copied().fold(0.0_f64, f64::min);
        let mut hi = finite.iter().copied().fold(0.0_f64, f64::max);
        if hi - lo < 1e-9 {
            hi = lo + 1.0;
        }
        let mut step = nice_step((hi - lo) / 5.0);
        if finite.iter().all(|v| v.fract() == 0.0) {
            step = step.max(1.0); // counts (threads, connections) have whole ticks
        }
        let lo = (lo / step).floor() * step;
        // Headroom for the markers and flag labels drawn above the highest point.
        let room = if headroom { (hi - lo) * 0.04 } else { 0.0 };
        let hi = ((hi + room) / step - 1e-9).ceil() * step;
        let count = ((hi - lo) / step).round() as i64;
        // One way of writing numbers along an axis: 5k, 10k, 15k rather than 5000, 10k.
        let thousands = hi.abs().max(lo.abs()) >= 1e4;
        let ticks = (0..=count)
            .map(|i| {
                let v = lo + i as f64 * step;
                let label = if thousands && v != 0.0 {
                    format!("{}k", trim(format!("{:.1}", v / 1e3)))
                } else {
                    fmt_num(v)
                };
                (v, label)
            })
            .collect();
        Scale {
            log: false,
            lo,
            hi,
            ticks,
            zero_at: None,
        }
    }

    /// A log axis over the positive values; zeros, if any, get their own tick at the left.
    pub fn log(values: &[f64], ticks_at_values: bool) -> Scale {
        let (min, max) = positive_range(values).unwrap_or((1.0, 10.0));
        let (lmin, lmax) = (min.log10(), max.log10());
        let span = (lmax - lmin).max(1.0);
        let pad = span * 0.06;
        let has_zero = values.contains(&0.0);
        let zero_at = has_zero.then(|| lmin - (span * 0.15).max(0.3));
        let lo = zero_at.unwrap_or(lmin) - pad;
        // A little more room above, for the "!" of a flagged step at the top.
        let hi = lmax + pad * 1.5;

        let mut distinct: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let candidates = if ticks_at_values && distinct.len() <= 10 {
            distinct
        } else {
            log_ticks(lmin - pad, hi)
        };
        let mut ticks: Vec<(f64, String)> =
            zero_at.map(|z| (z, "0".to_string())).into_iter().collect();
        // Drop ticks too close to the previous one to keep labels from overlapping.
        let min_gap = (hi - lo) * 0.07;
        for v in candidates {
            let at = v.log10();
            if ticks.last().is_none_or(|(last, _)| at - last >= min_gap) {
                ticks.push((at, fmt_num(v)));
            }
        }
        Scale {
            log: true,
            lo,
            hi,
            ticks,
            zero_at,
        }
    }

    /// The plot position of a value. On a log axis, zero goes to its own tick and negative
    /// values (which a log axis cannot show) to the bottom.
    pub fn pos(&self, value: f64) -> f64 {
        if !self.log {
            value
        } else if value > 0.0 {
            value.log10()
        } else if value == 0.0 {
            self.zero_at.unwrap_or(self.lo)
        } else {
            self.lo
        }
    }

    /// The tick positions.
    pub fn positions(&self) -> Vec<f64> {
        self.ticks.iter().map(|(at, _)| *at).collect()
    }

    /// The label of the tick at this plot position.
    pub fn label(&self, at: f64) -> String {
        self.ticks
            .iter()
            .find(|(p, _)| (p - at).abs() < 1e-9)
            .map(|(_, label)| label.clone())
            .unwrap_or_else(|| fmt_num(if self.log { 10f64.powf(at) } else { at }))
    }

    /// "(log scale)" for the axis description, or nothing.
    pub fn note(&self) -> &'static str {
        if self.log { ", log scale" } else { "" }
    }
}

/// 1, 2, 5 × 10^k within `[10^lo, 10^hi]`; only the decades when that would be too many.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    for decade in (lo.floor() as i32)..=(hi.ceil() as i32) {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(decade);
            let at = v.log10();
            if at >= lo && at <= hi {
                ticks.push(v);
            }
        }
    }
    if ticks.len() > 8 {
        ticks.retain(|v| (v.log10() - v.log10().round()).abs() < 1e-9);
    }
    ticks
}

/// A 1, 2 or 5 × 10^k step near `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A number for an axis or a table, short: `1024`, `12k`, `1.5M`, `2.5`, `0.05`.
pub(crate) fn fmt_num(value: f64) -> String {
    let a = value.abs();
    if !value.is_finite() {
        return "—".to_string();
    }
    if a < 1e-12 {
        return "0".to_string();
    }
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.1}", value / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.1}", value / 1e3)))
    } else if a >= 100.0 {
        format!("{value:.0}")
    } else if a >= 10.0 {
        trim(format!("{value:.1}"))
    } else if a >= 1.0 {
        trim(format!("{value:.2}"))
    } else {
        let decimals = (-a.log10()).ceil() as usize + 1;
        trim(format!("{value:.decimals$}"))
    }
}

/// Drops trailing zeros after a decimal point: `2.50` → `2.5`, `3.0` → `3`.
fn trim(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        assert_eq!(fmt_num(1024.0), "1024");
        assert_eq!(fmt_num(20000.0), "20k");
        assert_eq!(fmt_num(12500.0), "12.5k");
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(fmt_num(0.05), "0.05");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(1_500_000.0), "1.5M");
    }

    #[test]
    fn log_ticks_sit_on_the_levels_and_zero_gets_its_own() {
        let s = Scale::log(&[0.0, 10.0, 100.0, 1000.0], true);
        let labels: Vec<&str> = s.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "10", "100", "1000"]);
        assert!(s.pos(0.0) < s.pos(10.0) && s.pos(0.0) > s.lo);
    }

    #[test]
    fn linear_ticks_are_round() {
        let s = Scale::linear(&[0.0, 3.2, 9.7], true);
        assert_eq!(s.lo, 0.0);
        assert!(s.hi >= 9.7);
        assert!(s.ticks.iter().all(|(v, _)| (v / 2.0).fract() == 0.0));
        let x = Scale::linear(&[500.0, 20_000.0], false);
        assert_eq!(x.hi, 20_000.0);
        let labels: Vec<&str> = x.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "5k", "10k", "15k", "20k"]);
    }
}
