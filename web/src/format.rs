//! Numbers as people read them: `12 345 req/s`, `286 B`, `22.4 KiB`, `1.25 ms`, `79×`.
//!
//! Pages and lesson sentences format through these few functions so that a figure reads the
//! same wherever it appears.

/// Bytes in B, KiB, MiB or GiB with three significant figures or so: `286 B`, `22.4 KiB`.
pub fn bytes(value: f64) -> String {
    const KIB: f64 = 1024.0;
    let abs = value.abs();
    if abs >= KIB * KIB * KIB {
        format!("{:.1} GiB", value / (KIB * KIB * KIB))
    } else if abs >= KIB * KIB {
        format!("{:.1} MiB", value / (KIB * KIB))
    } else if abs >= 10.0 * KIB {
        format!("{:.0} KiB", value / KIB)
    } else if abs >= KIB {
        format!("{:.1} KiB", value / KIB)
    } else {
        format!("{value:.0} B")
    }
}

/// A whole number with thin groups of three: `12 345`.
pub fn count(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Requests per second: `12 345 req/s`, or `0.5 req/s` below one.
pub fn rate(rps: f64) -> String {
    if rps > 0.0 && rps < 10.0 {
        format!("{rps:.1} req/s")
    } else {
        format!("{} req/s", count(rps))
    }
}

/// Microseconds as a duration: `850 µs`, `1.25 ms`, `12.5 ms`, `1.20 s`.
pub fn micros(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 100_000.0 {
        format!("{:.0} ms", us / 1e3)
    } else if us >= 10_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else if us >= 1_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

/// Cores used: `1.97`.
pub fn cores(value: f64) -> String {
    format!("{value:.2}")
}

/// A ratio: `79×`, `3.4×`, `1.15×`.
pub fn times(ratio: f64) -> String {
    if ratio >= 10.0 {
        format!("{ratio:.0}×")
    } else if ratio >= 2.0 {
        format!("{ratio:.1}×")
    } else {
        format!("{ratio:.2}×")
    }
}

/// The change from `before` to `after` in percent, signed: `+12.3%`, `−4.0%`; `—` when
/// there is nothing to compare with.
pub fn change(before: f64, after: f64) -> String {
    if before == 0.0 || !before.is_finite() || !after.is_finite() {
        return "—".into();
    }
    let pct = (after - before) / before * 100.0;
    if pct.abs() < 0.05 {
        "±0%".into()
    } else if pct > 0.0 {
        format!("+{pct:.1}%")
    } else {
        format!("\u{2212}{:.1}%", -pct)
    }
}

/// Seconds as `45 s`, `3 min 20 s` or `1 h 05 min`.
pub fn duration(secs: f64) -> String {
    let secs = secs.max(0.0).round() as u64;
    if secs < 60 {
        format!("{secs} s")
    } else if secs < 3600 && secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else if secs < 3600 {
        format!("{} min {:02} s", secs / 60, secs % 60)
    } else {
        format!("{} h {:02} min", secs / 3600, secs / 60 % 60)
    }
}

/// Unix seconds as `2025-03-01 14:05 UTC`.
pub fn date(unix_secs: i64) -> String {
    let text = reports::store::utc_text(unix_secs);
    // `2025-03-01T14:05:09Z` → `2025-03-01 14:05 UTC`
    format!("{} {} UTC", &text[..10], &text[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(bytes(286.0), "286 B");
        assert_eq!(bytes(22.4 * 1024.0), "22 KiB");
        assert_eq!(bytes(1.5 * 1024.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.0 MiB");
        assert_eq!(count(1234567.0), "1\u{202f}234\u{202f}567");
        assert_eq!(count(999.0), "999");
        assert_eq!(rate(12345.4), "12\u{202f}345 req/s");
        assert_eq!(micros(850.0), "850 µs");
        assert_eq!(micros(1250.0), "1.25 ms");
        assert_eq!(micros(1_200_000.0), "1.20 s");
        assert_eq!(times(79.2), "79×");
        assert_eq!(times(3.44), "3.4×");
        assert_eq!(change(100.0, 112.3), "+12.3%");
        assert_eq!(change(100.0, 96.0), "\u{2212}4.0%");
        assert_eq!(change(0.0, 5.0), "—");
        assert_eq!(duration(200.0), "3 min 20 s");
        assert_eq!(duration(1800.0), "30 min");
        assert_eq!(date(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
