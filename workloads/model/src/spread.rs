//! Spread: how far a figure can be trusted, as a median with a 95 % confidence interval.
//!
//! One number from one run of a benchmark is a guess: the same step run again on the same
//! machine gives another number. This module turns what a run measured into an
//! [`Estimate`] — a point figure and an interval that would hold the true value 95 times in a
//! hundred — in one of two ways, and says which:
//!
//! - **Repeats** ([`Method::Repeats`]): the step ran N ≥ 3 times, each in a fresh engine
//!   process. The point is the median of the N figures; the interval is Student's t interval
//!   of their mean (`mean ± t(N−1) · s/√N`), which is what hyperfine and most papers report for
//!   a handful of independent runs.
//! - **Windows** ([`Method::Windows`]), the *batch means* method: one step's measured window
//!   is cut into short windows (200 ms), consecutive windows are grouped into a few batches
//!   (neighbouring windows are correlated; batch means much less so), and the interval is the
//!   t interval of the batch means. The point is the median of the windows.
//!
//! A slope fitted by least squares (bytes per idle connection) gets its interval from the
//! residuals ([`slope_estimate`]): `slope ± t(n−2) · SE(slope)`.
//!
//! Outliers are *noted*, not dropped, as Criterion and hyperfine do: a value outside Tukey's
//! fences (more than 1.5 interquartile ranges beyond the quartiles) counts in
//! [`Estimate::outliers`].
//!
//! Two estimates **differ** only when their intervals do not overlap ([`Estimate::separated`]);
//! otherwise the difference is inside the noise, and a judge must say "inconclusive" or "no
//! significant change".

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::results::{Derived, Estimates, LoadReport, Sample, StepResult, WINDOW_MS};

/// Where an interval came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// From N ≥ 3 repeats of the step, each in a fresh engine process.
    Repeats,
    /// From the step's short windows, by batch means.
    Windows,
    /// From the residuals of a least-squares fit.
    Fit,
    /// Only one value: no interval can be given (it is the value itself).
    Single,
}

impl Method {
    /// How the method section names it.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Repeats => "t interval over repeats, each in a fresh engine process",
            Method::Windows => "batch means over the step's 200 ms windows",
            Method::Fit => "standard error of the least-squares slope",
            Method::Single => "one value, no interval",
        }
    }
}

/// A figure with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The point figure: the median of the values (or the fitted slope).
    pub value: f64,
    /// The interval's lower end.
    pub low: f64,
    /// The interval's upper end.
    pub high: f64,
    /// How many values (repeats, batches or points) it rests on.
    pub n: usize,
    /// Values outside Tukey's fences, noted rather than dropped.
    pub outliers: usize,
    /// Where the interval came from.
    pub method: Method,
}

impl Estimate {
    /// A value with no spread known.
    pub fn single(value: f64) -> Estimate {
        Estimate {
            value,
            low: value,
            high: value,
            n: 1,
            outliers: 0,
            method: Method::Single,
        }
    }

    /// The interval as `[low, high]`, as the JSON carries it.
    pub fn interval(&self) -> [f64; 2] {
        [self.low, self.high]
    }

    /// Half the interval's width: the `± X` of a figure.
    pub fn half_width(&self) -> f64 {
        (self.high - self.low) / 2.0
    }

    /// Whether the interval has a width at all (more than one value).
    pub fn has_interval(&self) -> bool {
        self.method != Method::Single
    }

    /// Whether the two intervals do not overlap: the only case in which the two figures are
    /// called different.
    pub fn separated(&self, other: &Estimate) -> bool {
        self.high < other.low || other.high < self.low
    }

    /// Whether the interval reaches zero or below: the figure is below what the measurement
    /// resolves (a system-wide reading lost in the machine's noise).
    pub fn below_resolution(&self) -> bool {
        self.low <= 0.0
    }

    /// The same estimate with every figure multiplied by `factor` (a change of unit).
    pub fn scaled(&self, factor: f64) -> Estimate {
        let (a, b) = (self.low * factor, self.high * factor);
        Estimate {
            value: self.value * factor,
            low: a.min(b),
            high: a.max(b),
            ..*self
        }
    }
}

/// The two-sided 95 % quantile of Student's t distribution with `df` degrees of freedom
/// (the 97.5th percentile), exact for every `df`: 12.706 for 1, 2.042 for 30, 2.009 for 50,
/// tending to the normal's 1.960. Infinite for none.
pub fn t95(df: usize) -> f64 {
    if df == 0 {
        return f64::INFINITY;
    }
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(f64::INFINITY)
}

/// The median of the values (NaNs sort last); `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The value at quantile `q` (0–1) by linear interpolation between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// Values outside Tukey's fences: below Q1 − 1.5·IQR or above Q3 + 1.5·IQR.
pub fn outliers(values: &[f64]) -> usize {
    if values.len() < 4 {
        return 0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let (q1, q3) = (quantile(&v, 0.25), quantile(&v, 0.75));
    let fence = 1.5 * (q3 - q1);
    v.iter()
        .filter(|&&x| x < q1 - fence || x > q3 + fence)
        .count()
}

/// Mean and t half-width of independent values.
fn t_interval(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, t95(values.len() - 1) * (var / n).sqrt())
}

/// The estimate from independent repeats: the median, and the t interval of the mean
/// (widened to hold the median, so the point is always inside its interval). One value gives
/// [`Method::Single`]; none gives `None`.
pub fn from_repeats(values: &[f64]) -> Option<Estimate> {
    let value = median(values)?;
    if values.len() < 2 {
        return Some(Estimate::single(value));
    }
    let (mean, half) = t_interval(values);
    Some(Estimate {
        value,
        low: (mean - half).min(value),
        high: (mean + half).max(value),
        n: values.len(),
        outliers: outliers(values),
        method: Method::Repeats,
    })
}

/// How many batches [`from_windows`] groups windows into, at most. Ten batches of a 5 s step
/// are half a second each: long enough that one batch's mean barely predicts the next's.
pub const BATCHES: usize = 10;

/// The estimate from one step's consecutive windows, by batch means: the median of the
/// windows, and the t interval of the means of up to [`BATCHES`] equal batches of
/// consecutive windows (widened to hold the median). Fewer than four windows give
/// [`Method::Single`] on their median; none gives `None`.
pub fn from_windows(values: &[f64]) -> Option<Estimate> {
    let value = median(values)?;
    if values.len() < 4 {
        return Some(Estimate::single(value));
    }
    let batches = BATCHES.min(values.len() / 2);
    let size = values.len() / batches;
    let means: Vec<f64> = (0..batches)
        .map(|b| values[b * size..(b + 1) * size].iter().sum::<f64>() / size as f64)
        .collect();
    let (mean, half) = t_interval(&means);
    Some(Estimate {
        value,
        low: (mean - half).min(value),
        high: (mean + half).max(value),
        n: batches,
        outliers: outliers(values),
        method: Method::Windows,
    })
}

/// The interval [`from_windows`] gives `values`, when it gives one.
fn window_interval(values: &[f64]) -> Option<[f64; 2]> {
    from_windows(values)
        .filter(Estimate::has_interval)
        .map(|e| e.interval())
}

/// The least-squares slope of `ys` over `xs` with its interval, `slope ± t(n−2) · SE`, and
/// the intercept. `None` with fewer than two distinct x values; two points give
/// [`Method::Single`] (a line through two points has no residuals).
pub fn slope_estimate(xs: &[f64], ys: &[f64]) -> Option<(Estimate, f64)> {
    let (slope, intercept) = crate::results::least_squares(xs, ys)?;
    let n = xs.len();
    if n < 3 {
        return Some((Estimate::single(slope), intercept));
    }
    let mean_x = xs.iter().sum::<f64>() / n as f64;
    let sxx: f64 = xs.iter().map(|x| (x - mean_x).powi(2)).sum();
    let sse: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (y - (intercept + slope * x)).powi(2))
        .sum();
    let se = (sse / (n - 2) as f64 / sxx).sqrt();
    let half = t95(n - 2) * se;
    Some((
        Estimate {
            value: slope,
            low: slope - half,
            high: slope + half,
            n,
            outliers: 0,
            method: Method::Fit,
        },
        intercept,
    ))
}

/// A step's cost per request and its intervals, from its windows and samples: engine
/// and client CPU-µs per valid answer, and the 95 % intervals of throughput, p99 and engine
/// cost (batch means over the windows). Figures that cannot be had (no answers, no samples,
/// too few windows) stay `None`.
pub fn estimates(derived: &Derived, report: &LoadReport, samples: &[Sample]) -> Estimates {
    let mut out = Estimates::default();
    if derived.throughput_rps > 0.0 {
        let per_answer = |cores: f64| (cores > 0.0).then(|| cores / derived.throughput_rps * 1e6);
        out.engine_us_per_request = per_answer(derived.engine_cores);
        out.client_us_per_request = per_answer(derived.client_cores);
    }
    let windows = &report.windows;
    let secs = WINDOW_MS as f64 / 1000.0;
    let rates: Vec<f64> = windows.iter().map(|w| w.answers as f64 / secs).collect();
    out.throughput_ci = window_interval(&rates);
    let p99s: Vec<f64> = windows
        .iter()
        .filter(|w| w.answers > 0)
        .map(|w| w.p99_us as f64)
        .collect();
    // A p99 that is only a lower bound (censored requests reach it) has no interval: the
    // windows' p99s are their answers', which the censored requests are not among.
    out.p99_ci_us = window_interval(&p99s).filter(|_| !report.latency.is_lower_bound(0.99));
    let costs: Vec<f64> = windows
        .iter()
        .filter(|w| w.answers > 0)
        .filter_map(|w| {
            let cpu = cpu_between(samples, w.at_ms, w.at_ms + WINDOW_MS)?;
            Some(cpu * 1e6 / w.answers as f64)
        })
        .collect();
    out.engine_us_per_request_ci = window_interval(&costs);
    out
}

/// How many of a step's windows are outliers in throughput (outside Tukey's fences): noted
/// beside the step, as Criterion and hyperfine note theirs, never dropped.
pub fn window_outliers(step: &StepResult) -> usize {
    let secs = WINDOW_MS as f64 / 1000.0;
    let rates: Vec<f64> = step
        .load
        .windows
        .iter()
        .map(|w| w.answers as f64 / secs)
        .collect();
    outliers(&rates)
}

/// The engine's CPU seconds between two times of the step (ms since it began), read off the
/// samples' cumulative CPU by linear interpolation; `None` outside the sampled span.
fn cpu_between(samples: &[Sample], from_ms: u64, to_ms: u64) -> Option<f64> {
    let at = |t: u64| -> Option<f64> {
        let cpu = |s: &Sample| s.cpu_user_secs + s.cpu_system_secs;
        let after = samples.iter().position(|s| s.at_ms >= t)?;
        let b = &samples[after];
        if b.at_ms == t || after == 0 {
            return (b.at_ms == t).then(|| cpu(b));
        }
        let a = &samples[after - 1];
        let f = (t - a.at_ms) as f64 / (b.at_ms - a.at_ms).max(1) as f64;
        Some(cpu(a) + (cpu(b) - cpu(a)) * f)
    };
    Some((at(to_ms)? - at(from_ms)?).max(0.0))
}

/// The steps of one engine, workload and level across repeats, as one step: the median of
/// each headline figure with its interval from the repeats ([`from_repeats`]) when there are
/// two or more measured repeats; the first repeat's samples and load report otherwise. A
/// single step is returned as it is.
pub fn combine(repeats: &[&StepResult]) -> Option<StepResult> {
    let first = *repeats.first()?;
    let measured: Vec<&StepResult> = repeats
        .iter()
        .copied()
        .filter(|s| s.failure.is_none() && s.flags.not_supported.is_none())
        .collect();
    if measured.len() < 2 {
        return Some(measured.first().copied().unwrap_or(first).clone());
    }
    let of = |f: &dyn Fn(&StepResult) -> f64| -> Estimate {
        let values: Vec<f64> = measured.iter().map(|s| f(s)).collect();
        from_repeats(&values).expect("two or more values")
    };
    let throughput = of(&|s| s.derived.throughput_rps);
    let p99 = of(&|s| s.load.latency.p99_us as f64);
    // The representative repeat: the one whose throughput is the median's (the samples,
    // histograms and flags shown are a real step's, not a blend).
    let middle = measured
        .iter()
        .min_by(|a, b| {
            let d = |s: &StepResult| (s.derived.throughput_rps - throughput.value).abs();
            d(a).total_cmp(&d(b))
        })
        .copied()
        .expect("two or more steps");
    let mut out = middle.clone();
    let d = &mut out.derived;
    let e = &mut out.estimates;
    d.throughput_rps = throughput.value;
    e.throughput_ci = Some(throughput.interval());
    if measured.iter().any(|s| s.load.latency.is_lower_bound(0.99)) {
        // A median of lower bounds is no estimate: the representative repeat's p99 stays,
        // with whether it is a bound, and no interval.
        e.p99_ci_us = None;
    } else {
        out.load.latency.p99_us = p99.value.round() as u64;
        e.p99_ci_us = Some(p99.interval());
    }
    d.engine_cores = of(&|s| s.derived.engine_cores).value;
    d.client_cores = of(&|s| s.derived.client_cores).value;
    d.peak_pss_bytes = of(&|s| s.derived.peak_pss_bytes as f64).value.round() as u64;
    let costs: Vec<f64> = measured
        .iter()
        .filter_map(|s| s.estimates.engine_us_per_request)
        .collect();
    if let Some(cost) = from_repeats(&costs) {
        e.engine_us_per_request = Some(cost.value);
        e.engine_us_per_request_ci = cost.has_interval().then(|| cost.interval());
    }
    let client: Vec<f64> = measured
        .iter()
        .filter_map(|s| s.estimates.client_us_per_request)
        .collect();
    e.client_us_per_request = median(&client);
    Some(out)
}

/// The steps of a run with repeats combined ([`combine`]): one step per engine, workload and
/// level, in the order each first appears.
pub fn combined(steps: &[StepResult]) -> Vec<StepResult> {
    let mut keys: Vec<(&str, &str, u64)> = Vec::new();
    for s in steps {
        let key = (s.engine.as_str(), s.workload.as_str(), s.level);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .filter_map(|(engine, workload, level)| {
            let repeats: Vec<&StepResult> = steps
                .iter()
                .filter(|s| s.engine == engine && s.workload == workload && s.level == level)
                .collect();
            combine(&repeats)
        })
        .collect()
}

/// The interval of a stored figure as an [`Estimate`]: the value with its `[low, high]`
/// when the step has one, a single value otherwise.
pub fn estimate(value: f64, interval: Option<[f64; 2]>, method: Method) -> Estimate {
    match interval {
        Some([low, high]) => Estimate {
            value,
            low: low.min(value),
            high: high.max(value),
            n: 0,
            outliers: 0,
            method,
        },
        None => Estimate::single(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_quartile_outliers() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(outliers(&[10.0, 10.5, 9.5, 10.2, 9.8, 50.0]), 1);
        assert_eq!(outliers(&[10.0, 10.5, 9.5, 10.2]), 0);
    }

    #[test]
    fn t_quantiles_are_exact_between_the_tables_rows() {
        // Published values of t(0.975): the old hand table said 2.000 for 31–60 degrees of
        // freedom and 1.980 for 61–120.
        for (df, t) in [
            (1, 12.7062),
            (2, 4.3027),
            (30, 2.0423),
            (45, 2.0141),
            (100, 1.9840),
        ] {
            assert!((t95(df) - t).abs() < 1e-3, "t95({df}) = {}", t95(df));
        }
        assert!(t95(0).is_infinite());
        assert!((t95(100_000) - 1.95996).abs() < 1e-3);
    }

    #[test]
    fn repeats_give_a_t_interval_that_holds_the_median() {
        let e = from_repeats(&[100.0, 110.0, 90.0]).unwrap();
        assert_eq!(e.value, 100.0);
        assert_eq!(e.method, Method::Repeats);
        // mean 100, s = 10, t(2) = 4.3027: ± 24.84
        assert!((e.half_width() - 4.302_653 * 10.0 / 3f64.sqrt()).abs() < 1e-4);
        assert!(e.low <= e.value && e.value <= e.high);
        let skewed = from_repeats(&[1.0, 1.0, 1.0, 1.0, 100.0]).unwrap();
        assert!(skewed.low <= skewed.value && skewed.value <= skewed.high);
        assert_eq!(from_repeats(&[5.0]).unwrap().method, Method::Single);
        assert!(from_repeats(&[]).is_none());
    }

    #[test]
    fn batch_means_narrow_with_steady_windows_and_widen_with_noisy_ones() {
        let steady: Vec<f64> = (0..25).map(|i| 1000.0 + (i % 2) as f64).collect();
        let noisy: Vec<f64> = (0..25)
            .map(|i| 1000.0 + if i % 3 == 0 { 300.0 } else { -150.0 })
            .collect();
        let s = from_windows(&steady).unwrap();
        let n = from_windows(&noisy).unwrap();
        assert_eq!(s.method, Method::Windows);
        assert_eq!(s.n, BATCHES);
        assert!(s.half_width() < n.half_width());
        assert!(s.low <= s.value && s.value <= s.high);
        assert_eq!(from_windows(&[1.0, 2.0]).unwrap().method, Method::Single);
    }

    #[test]
    fn a_clean_line_has_a_tight_slope_and_noise_widens_it() {
        let xs = [0.0, 500.0, 1000.0, 2000.0];
        let clean: Vec<f64> = xs.iter().map(|x| 2e6 + 150.0 * x).collect();
        let (e, intercept) = slope_estimate(&xs, &clean).unwrap();
        assert!((e.value - 150.0).abs() < 1e-6 && e.half_width() < 1e-6);
        assert!((intercept - 2e6).abs() < 1e-3);
        let noisy = [2e6, 2e6 - 400_000.0, 2e6 + 300_000.0, 2e6 - 100_000.0];
        let (e, _) = slope_estimate(&xs, &noisy).unwrap();
        assert!(e.below_resolution(), "{e:?}");
        assert_eq!(
            slope_estimate(&xs[..2], &clean[..2]).unwrap().0.method,
            Method::Single
        );
    }

    #[test]
    fn only_separated_intervals_differ() {
        let a = Estimate {
            low: 1.0,
            high: 2.0,
            ..Estimate::single(1.5)
        };
        let b = Estimate {
            low: 1.9,
            high: 3.0,
            ..Estimate::single(2.5)
        };
        let c = Estimate {
            low: 2.1,
            high: 3.0,
            ..Estimate::single(2.5)
        };
        assert!(!a.separated(&b));
        assert!(a.separated(&c) && c.separated(&a));
        assert_eq!(a.scaled(-1.0).interval(), [-2.0, -1.0]);
    }
}
