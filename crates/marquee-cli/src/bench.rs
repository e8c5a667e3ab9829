//! Benchmarks that print their figures. No timing is asserted anywhere.

use std::time::{Duration, Instant};

use fake_tmdb::FakeTmdbConfig;
use marquee::db::works;
use marquee::domain::movie;
use marquee::pipeline::ingest;
use marquee::ports::{CountingConnection, Database};
use marquee::tmdb::types::{ImageConfiguration, MovieDetails};

use crate::native::NativeDb;

pub struct WriteFigures {
    pub movies: usize,
    pub first_ingest: Vec<Duration>,
    pub refresh: Vec<Duration>,
    pub statements_per_movie: u64,
    pub cast: usize,
    pub crew: usize,
    pub keywords: usize,
    pub images: usize,
    pub provider_offers: usize,
}

fn image_configuration() -> ImageConfiguration {
    let sizes = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
    ImageConfiguration {
        secure_base_url: "https://image.tmdb.org/t/p/".into(),
        poster_sizes: sizes(&["w92", "w154", "w185", "w342", "w500", "w780", "original"]),
        backdrop_sizes: sizes(&["w300", "w780", "w1280", "original"]),
        profile_sizes: sizes(&["w45", "w185", "h632", "original"]),
    }
}

/// Writes `movies` fully enriched movies (first ingest), then writes them all again (refresh),
/// timing only the write transaction of each and counting its statements.
pub async fn write(db: &NativeDb, movies: usize) -> Result<WriteFigures, String> {
    let config = FakeTmdbConfig { cast_per_movie: 25, crew_per_movie: 5, keywords_per_movie: 8, ..FakeTmdbConfig::default() };
    let images = image_configuration();
    let conn = CountingConnection::new(db.connect().await.map_err(|e| e.to_string())?);
    let owner = ingest::lease_owner();
    let parts: Vec<&str> = marquee::tmdb::types::APPENDED_PARTS.split(',').collect();
    let mut figures = WriteFigures { movies, first_ingest: vec![], refresh: vec![], statements_per_movie: 0, cast: 0, crew: 0, keywords: 0, images: 0, provider_offers: 0 };
    for pass in 0..2 {
        for id in 1..=movies as u64 {
            let raw = fake_tmdb::movie_details(&config, id, &parts).ok_or("fake catalog has no such movie")?;
            let details: MovieDetails = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
            let record = movie::normalize(&details, &images).map_err(|r| format!("movie {id} rejected: {}", r.reason()))?;
            let claim = works::claim(&conn, id as i64, &owner, Duration::from_secs(60), true).await.map_err(|e| e.to_string())?.ok_or("could not claim")?;
            conn.reset();
            let started = Instant::now();
            ingest::store_record(&conn, "bench", marquee::ports::system_now(), claim.work_id, &owner, &record, &raw, &images).await.map_err(|e| e.to_string())?;
            let elapsed = started.elapsed();
            figures.statements_per_movie = figures.statements_per_movie.max(conn.statements());
            if pass == 0 {
                figures.first_ingest.push(elapsed);
                figures.cast = details.credits.cast.len();
                figures.crew = details.credits.crew.len();
                figures.keywords = details.keywords.keywords.len();
                figures.images = details.images.backdrops.len() + details.images.posters.len() + details.images.logos.len();
                figures.provider_offers = record.facts.provider_offers.as_array().map_or(0, Vec::len);
            } else {
                figures.refresh.push(elapsed);
            }
        }
    }
    Ok(figures)
}

pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

pub fn mean(samples: &[Duration]) -> Duration {
    if samples.is_empty() { Duration::ZERO } else { samples.iter().sum::<Duration>() / samples.len() as u32 }
}
