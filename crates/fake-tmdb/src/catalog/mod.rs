//! The synthetic catalog: every value is a pure function of `(config, id)` plus patches.
//!
//! Nothing here keeps state between calls. Each movie (and each part of it) draws from its own
//! RNG seeded by `(seed, id, salt)`, so asking for one movie never shifts the data of another,
//! and the same seed and catalog size give byte-identical JSON on every run.

mod changes;
mod configuration;
mod core_facts;
mod details;
mod export;
mod lists;
mod parts;
mod people;
mod random;
mod title;

pub(crate) use changes::changed_between;
pub(crate) use configuration::configuration;
pub(crate) use details::{PARTS, Patches, details, fixture_details, part, patched_details, summary};
pub(crate) use export::write_export;
pub(crate) use lists::{Catalog, LIST_PAGE_SIZE};

/// The unit tests' configuration: the default, on a fixed reference date.
#[cfg(test)]
fn test_config() -> crate::FakeTmdbConfig {
    crate::FakeTmdbConfig { reference_date: chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(), ..Default::default() }
}
