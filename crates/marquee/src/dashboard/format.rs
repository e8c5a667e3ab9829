//! Numbers, durations and times as the dashboard writes them.

use chrono::NaiveDateTime;

/// `1234567` → `1,234,567`.
pub fn fmt_int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A duration in milliseconds: `850 ms`, `12.4 s`, `3 min 05 s`; `—` when unknown.
pub fn fmt_ms(ms: Option<i64>) -> String {
    match ms {
        None => "—".to_owned(),
        Some(ms) if ms < 1_000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// A UTC time to the minute.
pub fn fmt_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A latency bucket by its upper bound: `≤ 100 ms`, or `> 10000 ms` for the last one.
pub fn le_label(le: i32) -> String {
    if le == i32::MAX { "> 10000 ms".to_owned() } else { format!("≤ {le} ms") }
}

/// A share in percent with one decimal.
pub fn fmt_percent(p: f64) -> String {
    format!("{p:.1} %")
}

/// An HTTP status of a TMDB call in words (0: no answer).
pub fn status_label(status: i32) -> String {
    match status {
        0 => "no answer".to_owned(),
        200 => "200 OK".to_owned(),
        401 => "401 unauthorized".to_owned(),
        404 => "404 not found".to_owned(),
        429 => "429 rate limited".to_owned(),
        s if s >= 500 => format!("{s} server error"),
        s => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_int(1000), "1,000");
        assert_eq!(fmt_int(1234567), "1,234,567");
        assert_eq!(fmt_int(-10000), "-10,000");
        assert_eq!(fmt_ms(Some(850)), "850 ms");
        assert_eq!(fmt_ms(Some(12_400)), "12.4 s");
        assert_eq!(fmt_ms(Some(185_000)), "3 min 05 s");
        assert_eq!(fmt_ms(None), "—");
        assert_eq!(le_label(i32::MAX), "> 10000 ms");
        assert_eq!(status_label(0), "no answer");
    }
}
