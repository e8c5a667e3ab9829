//! Cron-expression conversion: Spin's six fields (seconds first) to the five of crontab,
//! Kubernetes and GitHub Actions.

use std::fmt;

/// Why a cron expression cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// Converts a six-field cron expression of Spin's cron trigger (`sec min hour day-of-month month
/// day-of-week`, optionally a seventh `year` field that must be `*`) into the five fields of
/// crontab, Kubernetes and GitHub Actions (`min hour day-of-month month day-of-week`).
///
/// The seconds field must be `0` (the five-field forms cannot run within a minute). Day and
/// month names become numbers (Sunday = 0), because crontab accepts names only as single
/// values. A numeric day of week is refused: the trigger's cron library counts 1 = Sunday,
/// crontab 0 = Sunday, so only names (`Sun`..`Sat`) mean the same to both. `?` becomes `*`.
pub fn spin_cron_to_five_fields(expression: &str) -> Result<String, CronError> {
    let fail = |m: String| Err(CronError(format!("cron expression {expression:?}: {m}")));
    let fields: Vec<&str> = expression.split_whitespace().collect();
    match fields.len() {
        6 => {}
        7 if fields[6] == "*" || fields[6] == "?" => {}
        7 => return fail("a year field cannot be expressed in five fields".into()),
        n => return fail(format!("expected six fields (sec min hour day-of-month month day-of-week), got {n}")),
    }
    if fields[0] != "0" {
        return fail("the seconds field must be 0 to convert to five fields".into());
    }
    let mut out = Vec::with_capacity(5);
    for (i, (field, max)) in fields[1..6].iter().zip([59, 23, 31, 12, 7]).enumerate() {
        let converted = match i {
            3 => names_to_numbers(field, &MONTHS, 1),
            4 => {
                if field.split([',', '-', '/']).any(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    && !field.starts_with("*/")
                {
                    return fail(format!(
                        "use day names (Sun..Sat) in the day-of-week field, not numbers, got {field:?}"
                    ));
                }
                names_to_numbers(field, &DAYS, 0)
            }
            _ => Ok(field.to_string()),
        };
        let converted = match converted {
            Ok(c) => c,
            Err(m) => return fail(m),
        };
        let converted = if converted == "?" { "*".to_owned() } else { converted };
        if let Err(m) = check_field(&converted, max) {
            return fail(m);
        }
        out.push(converted);
    }
    Ok(out.join(" "))
}

/// Replaces names (case-insensitive, e.g. `Sun`, `MON`) by their number, `first` being the
/// number of the first name.
fn names_to_numbers(field: &str, names: &[&str], first: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| -> Result<(), String> {
        if !word.is_empty() {
            let lower = word.to_ascii_lowercase();
            let n = names.iter().position(|n| *n == lower).ok_or_else(|| format!("unknown name {word:?}"))?;
            out.push_str(&(n + first).to_string());
            word.clear();
        }
        Ok(())
    };
    for c in field.chars() {
        if c.is_ascii_alphabetic() {
            word.push(c);
        } else {
            flush(&mut word, &mut out)?;
            out.push(c);
        }
    }
    flush(&mut word, &mut out)?;
    Ok(out)
}

/// Only `*`, `?`, numbers, `,`, `-` and `/` in a five-field field, numbers within range.
fn check_field(field: &str, max: u32) -> Result<(), String> {
    if field.is_empty() || !field.chars().all(|c| c.is_ascii_digit() || "*,-/?".contains(c)) {
        return Err(format!("unsupported field {field:?}"));
    }
    for number in field.split([',', '-', '/']).filter(|p| !p.is_empty() && *p != "*" && *p != "?") {
        match number.parse::<u32>() {
            Ok(n) if n <= max => {}
            _ => return Err(format!("{number:?} is out of range in {field:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_field_crons_convert_to_five_fields() {
        let cases = [
            ("0 0 10 * * Sun", "0 10 * * 0"),
            ("0 0 11 * * *", "0 11 * * *"),
            ("0 30 2 1 Jan-Mar Mon-Fri", "30 2 1 1-3 1-5"),
            ("0 */15 * * * *", "*/15 * * * *"),
            ("0 0 6,18 ? * SAT,sun", "0 6,18 * * 6,0"),
            ("0 0 10 * * Sun *", "0 10 * * 0"),
            ("0  5  4 * *   *", "5 4 * * *"),
        ];
        for (six, five) in cases {
            assert_eq!(spin_cron_to_five_fields(six).as_deref(), Ok(five), "{six}");
        }
        for bad in [
            "0 10 * * 0",
            "30 0 10 * * *",
            "0 0 10 * * 1",
            "0 0 10 * * 0-6",
            "0 0 10 * * Funday",
            "0 61 * * * *",
            "0 0 24 * * *",
            "0 0 10 * * * 2030",
            "0 0 10 L * *",
            "",
        ] {
            assert!(spin_cron_to_five_fields(bad).is_err(), "{bad:?}");
        }
    }
}
