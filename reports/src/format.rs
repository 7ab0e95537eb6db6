//! Numbers as a report or the terminal prints them: always with a unit, and with about three
//! significant figures — enough to compare, not so many that noise looks like a finding.

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Three significant figures, without trailing noise: `0.412`, `12.3`, `512`.
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

/// Bytes in B, KiB, MiB or GiB: `162 B`, `22.0 KiB`, `1.97 MiB`.
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

/// A count per second with a thousands suffix and no unit: `193k`, `1.20M`, `950`.
pub fn per_sec(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{}M", sig3(v / 1e6))
    } else if v.abs() >= 1e4 {
        format!("{}k", sig3(v / 1e3))
    } else {
        format!("{v:.0}")
    }
}

/// Requests per second with the unit: `193k req/s`.
pub fn rps(v: f64) -> String {
    format!("{} req/s", per_sec(v))
}

/// Cores used, two decimals: `0.49 cores`, `1.00 core`.
pub fn cores(v: f64) -> String {
    if (v - 1.0).abs() < 0.005 {
        "1.00 core".to_string()
    } else {
        format!("{v:.2} cores")
    }
}

/// A duration in seconds, as a person says it: `42 s`, `3 min 5 s`, `1 h 2 min`.
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 60 {
        format!("{secs} s")
    } else if secs < 3600 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{} h {} min", secs / 3600, secs / 60 % 60)
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

/// Which way a figure improves, for the comparison's "better" and "worse".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// More is better: throughput, waits overlapped.
    Higher,
    /// Less is better: latency, memory, CPU per request.
    Lower,
    /// Neither: a count that describes rather than ranks (threads, cores used).
    Neither,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_with_the_value() {
        assert_eq!(bytes(162.4), "162 B");
        assert_eq!(bytes(22.0 * 1024.0), "22.0 KiB");
        assert_eq!(bytes(1.97 * MIB), "1.97 MiB");
        assert_eq!(micros(17.0), "17.0 µs");
        assert_eq!(micros(1400.0), "1.40 ms");
        assert_eq!(rps(193_456.0), "193k req/s");
        assert_eq!(rps(950.0), "950 req/s");
        assert_eq!(cores(0.494), "0.49 cores");
        assert_eq!(duration(185), "3 min 5 s");
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
}
