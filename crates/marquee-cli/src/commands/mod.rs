//! What each subcommand of `marquee` does, one module per concern; [`run`] dispatches.
//! Requests go through the same validation as the HTTP routes.

mod aggregates;
mod app;
mod audit;
mod bench;
mod chaos;
mod demo;
mod fake_tmdb;
mod import;
mod ingest;
mod keys;
mod migrate;
mod output;
mod queue;
mod refresh;
mod serve;
mod stripe;
pub mod sync;

use crate::cli::{Command, FakeTmdbCommand, ScheduleCommand};
use crate::native::NativeSettings;

pub use app::{NativeApp, database_url, native_app, run_migrations};

/// Runs one subcommand with the settings of the process environment.
pub async fn run(command: Command) -> anyhow::Result<()> {
    let settings = NativeSettings::from_env();
    match command {
        Command::Migrate => migrate::run(&settings).await,
        Command::FakeTmdb { what: Some(FakeTmdbCommand::Export { out, catalog_size, adult_percent }), .. } => {
            fake_tmdb::export(&out, catalog_size, adult_percent)
        }
        Command::FakeTmdb { what: None, port, catalog_size, latency_ms, rps, token, adult_percent } => {
            fake_tmdb::run(port, catalog_size, latency_ms, rps, token, adult_percent)
        }
        Command::Import { what } => import::run(&settings, what).await,
        Command::Ingest { what } => ingest::run(settings, what).await,
        Command::Serve { listen, workers, db_sessions } => serve::run(settings, listen, workers, db_sessions).await,
        Command::Bench { what } => bench::run(&settings, what).await,
        Command::Demo { ids } => demo::run(settings, &ids).await,
        Command::Refresh { budget, batch_size, dry_run } => refresh::run(settings, budget, batch_size, dry_run).await,
        Command::Sync { what } => sync::run(&settings, what).await,
        Command::Queue { what } => queue::run(&settings, what).await,
        Command::Aggregates { what } => aggregates::run(&settings, what).await,
        Command::Stats { top, json } => aggregates::stats(&settings, top, json).await,
        Command::Audit { json, fix, deep } => audit::run(&settings, json, fix, deep).await,
        Command::Chaos { minutes, seed, faults, bounded, json, trace } => {
            chaos::run(minutes, seed, faults, bounded, json, trace).await
        }
        Command::Keys { what } => keys::run(&settings, what).await,
        Command::Stripe { what } => stripe::run(&settings, what).await,
        Command::Schedule { what: ScheduleCommand::Print { manifest, base_url, format } } => {
            crate::schedule::print(&manifest, base_url.as_deref(), format)
        }
    }
}
