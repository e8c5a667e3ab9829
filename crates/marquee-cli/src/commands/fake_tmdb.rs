//! `marquee fake-tmdb`: the fake TMDB server in the foreground, or its id export as a file.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use fake_tmdb::{FakeTmdb, FakeTmdbConfig};

pub fn run(
    port: u16,
    catalog_size: u32,
    latency_ms: u64,
    rps: Option<u32>,
    token: String,
    adult_percent: u32,
) -> anyhow::Result<()> {
    let config = FakeTmdbConfig {
        catalog_size,
        latency: Duration::from_millis(latency_ms),
        rate_limit_rps: rps,
        bearer_token: token,
        adult_percent,
        ..FakeTmdbConfig::default()
    };
    let fake = FakeTmdb::start_on(SocketAddr::from(([127, 0, 0, 1], port)), config)
        .with_context(|| format!("cannot start the fake TMDB on port {port}"))?;
    eprintln!("fake TMDB listening: TMDB_BASE_URL={}", fake.base_url());
    eprintln!("its id export: {}", fake.export_url());
    fake.wait();
    Ok(())
}

/// Writes the fake catalog's id export to `out`.
pub fn export(out: &Path, catalog_size: u32, adult_percent: u32) -> anyhow::Result<()> {
    let config = FakeTmdbConfig { catalog_size, adult_percent, ..FakeTmdbConfig::default() };
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let lines = fake_tmdb::write_export(&config, file).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {lines} lines to {}", out.display());
    Ok(())
}
