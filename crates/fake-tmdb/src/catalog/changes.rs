//! The changes feed: which ids changed on which day.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};

use super::random::splitmix;
use crate::FakeTmdbConfig;

/// Catalog ids that changed on `day`: a deterministic ~2% of the catalog per day.
pub(crate) fn changed_on(cfg: &FakeTmdbConfig, day: NaiveDate) -> impl Iterator<Item = u64> + '_ {
    let day_key = splitmix(cfg.seed ^ 0x6368_616e_6765 ^ (i64::from(day.num_days_from_ce()) as u64));
    (1..=u64::from(cfg.catalog_size)).filter(move |id| splitmix(day_key ^ id).is_multiple_of(50))
}

/// Catalog ids changed on any day of `[start, end]`, in id order.
pub(crate) fn changed_between(cfg: &FakeTmdbConfig, start: NaiveDate, end: NaiveDate) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let mut day = start;
    while day <= end {
        out.extend(changed_on(cfg, day));
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::test_config;

    #[test]
    fn about_two_percent_of_the_catalog_changes_a_day() {
        let c = test_config();
        let changed = changed_between(&c, c.reference_date, c.reference_date);
        assert!((100..=300).contains(&changed.len()), "{} changed in a day", changed.len());
    }
}
