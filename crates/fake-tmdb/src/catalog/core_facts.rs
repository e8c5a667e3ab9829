//! Which ids exist, and the few facts of a movie that catalog-wide orderings need.

use chrono::NaiveDate;

use super::random::{days_before, rng, round};
use crate::FakeTmdbConfig;

pub(crate) fn exists(cfg: &FakeTmdbConfig, id: u64) -> bool {
    id >= 1 && id <= u64::from(cfg.catalog_size)
}

/// The few fields that orderings need, cheap enough to compute for the whole catalog at start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Core {
    pub id: u64,
    pub popularity: f64,
    pub release: Option<NaiveDate>,
}

pub(crate) fn core(cfg: &FakeTmdbConfig, id: u64) -> Core {
    let mut r = rng(cfg.seed, id, "core");
    // ~2% have no known release date; ~4% came out in the last two months, which keeps
    // now_playing populated; the rest spread over 45 years.
    let release = if r.u32(..50) == 0 {
        None
    } else if r.u32(..100) < 4 {
        Some(days_before(cfg.reference_date, r.u64(0..=60)))
    } else {
        Some(days_before(cfg.reference_date, r.u64(61..=365 * 45)))
    };
    // Heavy-tailed, like real popularity: most movies near 1-10, a few hundred.
    let u = r.f64();
    let mut popularity = 0.6 + 12.0 * u.powi(3) + 900.0 * u.powi(40);
    if let Some(d) = release
        && (cfg.reference_date - d).num_days() <= 60
    {
        popularity *= 1.5 + 3.0 * r.f64();
    }
    Core { id, popularity: round(popularity, 3), release }
}

/// Whether the movie is adult: a seeded `adult_percent` share of the catalog.
pub(crate) fn is_adult(cfg: &FakeTmdbConfig, id: u64) -> bool {
    cfg.adult_percent > 0 && rng(cfg.seed, id, "adult").u32(..100) < cfg.adult_percent
}
