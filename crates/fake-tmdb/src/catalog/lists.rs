//! The lists (popular, now_playing, trending): orderings over the whole catalog.

use chrono::NaiveDate;

use super::core_facts::{Core, core};
use super::random::{days_before, rng};
use crate::FakeTmdbConfig;

/// Page size of popular, now_playing and trending (TMDB's fixed 20).
pub(crate) const LIST_PAGE_SIZE: usize = 20;

/// Orderings over the whole catalog, computed once when the server starts. They come from the
/// unpatched data: a patch changes what a list shows, not where a movie sits in it.
pub(crate) struct Catalog {
    pub popular: Vec<u64>,
    pub now_playing: Vec<u64>,
    pub now_playing_dates: (NaiveDate, NaiveDate),
    pub trending_day: Vec<u64>,
    pub trending_week: Vec<u64>,
}

/// Movies released this many days before the reference date, or fewer, are "now playing".
const NOW_PLAYING_DAYS: u64 = 40;

impl Catalog {
    pub(crate) fn build(cfg: &FakeTmdbConfig) -> Catalog {
        let cores: Vec<Core> = (1..=u64::from(cfg.catalog_size)).map(|id| core(cfg, id)).collect();
        let ranked = |score: &dyn Fn(&Core) -> f64, keep: &dyn Fn(&Core) -> bool| {
            let mut v: Vec<(f64, u64)> = cores.iter().filter(|c| keep(c)).map(|c| (score(c), c.id)).collect();
            v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            v.into_iter().map(|(_, id)| id).collect::<Vec<u64>>()
        };
        let today = cfg.reference_date;
        let earliest = days_before(today, NOW_PLAYING_DAYS);
        let age = |c: &Core| c.release.map_or(i64::MAX, |d| (today - d).num_days());
        // Trending is popularity weighted by a seeded per-window factor and boosted for recent
        // releases: related to popular, but a clearly different order.
        let trending = |salt: &'static str, recent_days: i64| {
            move |c: &Core| {
                let factor = 0.25 + 1.75 * rng(cfg.seed, c.id, salt).f64();
                let boost = if (0..=recent_days).contains(&age(c)) { 3.0 } else { 1.0 };
                c.popularity * factor * boost
            }
        };
        Catalog {
            popular: ranked(&|c| c.popularity, &|_| true),
            now_playing: ranked(&|c| c.popularity, &|c| c.release.is_some_and(|d| d >= earliest && d <= today)),
            now_playing_dates: (earliest, today),
            trending_day: ranked(&trending("trending/day", 7), &|_| true),
            trending_week: ranked(&trending("trending/week", 30), &|_| true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::test_config;

    #[test]
    fn orderings_are_sane() {
        let c = test_config();
        let cat = Catalog::build(&c);
        assert_eq!(cat.popular.len(), 10_000);
        let pop = |id: u64| core(&c, id).popularity;
        assert!(cat.popular.windows(2).all(|w| pop(w[0]) >= pop(w[1])));
        assert!(cat.now_playing.len() > 20, "now_playing too short: {}", cat.now_playing.len());
        assert_ne!(cat.popular[..20], cat.trending_day[..20]);
        assert_ne!(cat.trending_day[..20], cat.trending_week[..20]);
    }
}
