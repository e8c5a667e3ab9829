//! Whether the schedule keeps up with the catalog: the refreshes the staleness tiers make due
//! each day, against what the scheduled refresh runs can do in their budgets at TMDB's rate.

use std::time::Duration;

use serde::Serialize;

/// Works refreshed every `every_days` days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierNeed {
    pub every_days: i64,
    pub works: i64,
    pub refreshes_per_day: f64,
}

/// A scheduled run that refreshes (queues stale works and drains the queue).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefreshRun {
    pub component: String,
    /// Spin's six-field cron expression.
    pub cron: String,
    pub runs_per_day: f64,
    /// Movies one run can refresh: TMDB's rate times the part of the budget in which movies
    /// start.
    pub movies_per_run: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    pub tiers: Vec<TierNeed>,
    pub needed_per_day: f64,
    pub runs: Vec<RefreshRun>,
    pub capacity_per_day: f64,
    /// Works stale right now, and rows waiting in the queue.
    pub stale_now: i64,
    pub queued_now: i64,
    pub keeps_up: bool,
    /// What an operator should read: the two numbers and what to do.
    pub verdict: String,
}

/// Movies one run of `budget` can start at `rps` (the margin is the drain's own, see
/// `pipeline::runner::start_margin`).
pub fn movies_per_run(budget: Duration, start_margin: Duration, rps: u32) -> f64 {
    budget.saturating_sub(start_margin).as_secs_f64() * f64::from(rps)
}

pub fn assess(tiers: Vec<TierNeed>, runs: Vec<RefreshRun>, stale_now: i64, queued_now: i64) -> Capacity {
    let needed_per_day: f64 = tiers.iter().map(|t| t.refreshes_per_day).sum();
    let capacity_per_day: f64 = runs.iter().map(|r| r.runs_per_day * r.movies_per_run).sum();
    let keeps_up = capacity_per_day >= needed_per_day;
    let spare = capacity_per_day - needed_per_day;
    let verdict = if keeps_up {
        let backlog = (stale_now.max(queued_now)) as f64;
        let clears = if backlog > 0.0 && spare > 0.0 {
            format!(" The {backlog:.0} movies due now clear in about {:.1} hours.", backlog / spare * 24.0)
        } else {
            String::new()
        };
        format!(
            "The schedule keeps up: its refresh runs can refresh {capacity_per_day:.0} movies a day, and the catalog's tiers need {needed_per_day:.0} a day ({:.0}% of capacity).{clears}",
            if capacity_per_day > 0.0 { needed_per_day / capacity_per_day * 100.0 } else { 0.0 }
        )
    } else {
        format!(
            "The schedule cannot keep up: the catalog's tiers need {needed_per_day:.0} refreshes a day, but its refresh runs can do only {capacity_per_day:.0}; the backlog will grow. Run the refresh drain more often (cron-refresh-drain in spin.toml), or give it a larger time_budget_ms or tmdb_rate_limit_rps."
        )
    };
    Capacity { tiers, needed_per_day, runs, capacity_per_day, stale_now, queued_now, keeps_up, verdict }
}

/// How many times a day a six-field cron expression (seconds first, as Spin's cron trigger
/// takes it) fires, averaged over a week. Fields: lists, ranges, steps and `*`; day-of-month
/// must be `*` (a monthly schedule has no steady daily rate); day-of-week counts its days.
pub fn runs_per_day(expression: &str) -> Result<f64, String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [sec, min, hour, dom, month, dow] = fields[..] else {
        return Err(format!("{expression:?}: expected six fields (seconds first)"));
    };
    if dom != "*" || month != "*" {
        return Err(format!("{expression:?}: only `*` day-of-month and month have a daily rate"));
    }
    let per_day = count(sec, 60, 0)? * count(min, 60, 0)? * count(hour, 24, 0)?;
    let days = if dow == "*" { 7 } else { count(&day_numbers(dow), 7, 0)? };
    Ok(per_day as f64 * days as f64 / 7.0)
}

/// Day names as numbers (Sunday = 0; 7 also means Sunday).
fn day_numbers(field: &str) -> String {
    let mut out = field.to_ascii_lowercase();
    for (i, name) in ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].iter().enumerate() {
        out = out.replace(name, &i.to_string());
    }
    out.replace('7', "0")
}

/// How many distinct values of `0..size` (offset `first`) a cron field matches.
fn count(field: &str, size: u32, first: u32) -> Result<u32, String> {
    let mut hit = vec![false; size as usize];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("bad step in {part:?}"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("zero step in {part:?}"));
        }
        let number = |s: &str| s.parse::<u32>().ok().filter(|n| (first..first + size).contains(n));
        let (lo, hi) = match range {
            "*" => (first, first + size - 1),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a).ok_or(format!("bad {part:?}"))?, number(b).ok_or(format!("bad {part:?}"))?),
                None => {
                    let n = number(r).ok_or(format!("bad {part:?}"))?;
                    (n, if part.contains('/') { first + size - 1 } else { n })
                }
            },
        };
        for v in (lo..=hi).step_by(step as usize) {
            hit[(v - first) as usize] = true;
        }
    }
    Ok(hit.iter().filter(|h| **h).count() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions_fire_this_often_a_day() {
        assert_eq!(runs_per_day("0 0 11 * * *").unwrap(), 1.0);
        assert_eq!(runs_per_day("0 */5 * * * *").unwrap(), 288.0);
        assert_eq!(runs_per_day("0 0 10 * * Sun").unwrap(), 1.0 / 7.0);
        assert_eq!(runs_per_day("0 0,30 9-17 * * Mon-Fri").unwrap(), 18.0 * 5.0 / 7.0);
        assert_eq!(runs_per_day("*/10 * * * * *").unwrap(), 6.0 * 60.0 * 24.0);
        for bad in ["0 0 11 * *", "0 0 11 1 * *", "0 */0 * * * *", "0 61 * * * *", "0 x * * * *"] {
            assert!(runs_per_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_verdict_compares_need_and_capacity() {
        let tiers = vec![TierNeed { every_days: 30, works: 1_000_000, refreshes_per_day: 1_000_000.0 / 30.0 }];
        let run =
            |runs_per_day| RefreshRun { component: "c".into(), cron: "x".into(), runs_per_day, movies_per_run: 720.0 };
        let once = assess(tiers.clone(), vec![run(1.0)], 0, 0);
        assert!(!once.keeps_up);
        assert!(once.verdict.contains("cannot keep up"), "{}", once.verdict);
        let often = assess(tiers, vec![run(288.0)], 10_000, 0);
        assert!(often.keeps_up);
        assert_eq!(often.capacity_per_day, 207_360.0);
        assert!(often.verdict.contains("keeps up") && often.verdict.contains("clear in about"), "{}", often.verdict);
        assert_eq!(movies_per_run(Duration::from_secs(20), Duration::from_secs(2), 40), 720.0);
    }
}
