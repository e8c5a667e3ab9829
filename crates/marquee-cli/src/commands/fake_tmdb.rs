//! `marquee fake-tmdb`: the fake TMDB server in the foreground.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use fake_tmdb::{FakeTmdb, FakeTmdbConfig};

pub fn run(port: u16, catalog_size: u32, latency_ms: u64, rps: Option<u32>, token: String) -> anyhow::Result<()> {
    let config = FakeTmdbConfig {
        catalog_size,
        latency: Duration::from_millis(latency_ms),
        rate_limit_rps: rps,
        bearer_token: token,
        ..FakeTmdbConfig::default()
    };
    let fake = FakeTmdb::start_on(SocketAddr::from(([127, 0, 0, 1], port)), config)
        .with_context(|| format!("cannot start the fake TMDB on port {port}"))?;
    eprintln!("fake TMDB listening: TMDB_BASE_URL={}", fake.base_url());
    fake.wait();
    Ok(())
}
