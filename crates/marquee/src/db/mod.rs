//! SQL, one module per table group. Parameters are always bound.

pub mod aggregates;
pub mod api_access;
pub mod api_keys;
pub mod api_logs;
pub mod api_reads;
pub mod audit;
pub mod billing;
pub mod browse;
pub mod cards;
pub mod catalog;
pub mod change_log;
pub mod chaos;
pub mod export;
pub mod fingerprint;
pub mod migrate;
pub mod pg_text;
pub mod predicates;
pub mod queue;
pub mod run_log;
pub mod search;
pub mod sessions;
pub mod sync;
pub mod tmdb_config;
pub mod tmdb_rate;
pub mod works;
