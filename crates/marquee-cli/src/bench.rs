//! Benchmarks that print their figures. No timing is asserted anywhere.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use fake_tmdb::FakeTmdbConfig;
use marquee::db::works;
use marquee::domain::movie;
use marquee::pipeline::ingest;
use marquee::ports::{Database, MeteredConnection};
use marquee::tmdb::types::{ImageConfiguration, MovieDetails};

use crate::latency_proxy::{self, LatencyProxy};
use crate::native::NativeDb;

pub struct WriteFigures {
    pub movies: usize,
    /// Added to every database round trip by the proxy.
    pub db_rtt: Duration,
    pub first_ingest: Vec<Duration>,
    pub refresh: Vec<Duration>,
    pub statements_per_movie: u64,
    /// Measured at the proxy: the write alone, and the ingest lease's claim before it.
    pub round_trips_per_write: u64,
    pub round_trips_per_claim: u64,
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
/// through a proxy that adds `db_rtt` to every round trip with the database at `url`, timing
/// only the write of each and counting its statements and round trips.
pub async fn write(url: &str, movies: usize, db_rtt: Duration) -> anyhow::Result<WriteFigures> {
    let config =
        FakeTmdbConfig { cast_per_movie: 25, crew_per_movie: 5, keywords_per_movie: 8, ..FakeTmdbConfig::default() };
    let images = image_configuration();
    let proxy = LatencyProxy::start(latency_proxy::upstream_of(url)?, db_rtt).await?;
    let conn = MeteredConnection::new(NativeDb::new(proxy.url_for(url)?).connect().await?);
    let owner = ingest::lease_owner();
    let parts: Vec<&str> = marquee::tmdb::types::APPENDED_PARTS.split(',').collect();
    let mut figures = WriteFigures {
        movies,
        db_rtt,
        first_ingest: vec![],
        refresh: vec![],
        statements_per_movie: 0,
        round_trips_per_write: 0,
        round_trips_per_claim: 0,
        cast: 0,
        crew: 0,
        keywords: 0,
        images: 0,
        provider_offers: 0,
    };
    for pass in 0..2 {
        for id in 1..=movies as u64 {
            let raw = fake_tmdb::movie_details(&config, id, &parts).context("fake catalog has no such movie")?;
            let details: MovieDetails = serde_json::from_value(raw.clone())?;
            let record = movie::normalize(&details, &images)
                .map_err(|r| anyhow::anyhow!("movie {id} rejected: {}", r.reason()))?;
            let before_claim = proxy.round_trips();
            let claim = works::claim(&conn, id as i64, &owner, Duration::from_secs(60), true)
                .await?
                .context("could not claim")?;
            conn.meter().reset();
            let before_write = proxy.round_trips();
            figures.round_trips_per_claim = figures.round_trips_per_claim.max(before_write - before_claim);
            let started = Instant::now();
            let store = ingest::Store {
                function: "bench",
                now: marquee::ports::system_now(),
                claim: &claim,
                owner: &owner,
                images: &images,
            };
            ingest::store_record(&conn, &store, &record, &raw, Default::default()).await?;
            let elapsed = started.elapsed();
            figures.statements_per_movie = figures.statements_per_movie.max(conn.meter().statements());
            figures.round_trips_per_write = figures.round_trips_per_write.max(proxy.round_trips() - before_write);
            if pass == 0 {
                figures.first_ingest.push(elapsed);
                figures.cast = details.credits.cast.len();
                figures.crew = details.credits.crew.len();
                figures.keywords = details.keywords.keywords.len();
                figures.images =
                    details.images.backdrops.len() + details.images.posters.len() + details.images.logos.len();
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

pub struct IngestFigures {
    pub mode: &'static str,
    pub movies_ingested: u64,
    pub wall: Duration,
    pub tmdb_calls: u64,
    pub db_busy: Duration,
    pub db_statements: u64,
    /// The most database sessions the invocation had open at once.
    pub peak_connections: u64,
    pub rps: u32,
    /// Added to every database round trip by the proxy, and the round trips it counted.
    pub db_rtt: Duration,
    pub db_round_trips: u64,
}

impl IngestFigures {
    /// The rate-limit bound: no run can be faster than its calls at `rps`.
    pub fn bound(&self) -> Duration {
        Duration::from_secs_f64(self.tmdb_calls as f64 / self.rps as f64)
    }
}

/// Ingests `movies` movies against the in-process fake TMDB (`latency` per response) and the
/// PostgreSQL database at `url`: by scheduled ingest (3 lists × 5 pages) when they fit in the
/// lists, else by batch ingest of ids (queue + drain).
pub async fn ingest(
    url: &str,
    movies: usize,
    latency: Duration,
    rps: u32,
    scheduled_mode: bool,
    db_rtt: Duration,
) -> anyhow::Result<IngestFigures> {
    use marquee::pipeline::{batch, scheduled};
    use marquee::ports::MeteredDatabase;

    let fake_config =
        FakeTmdbConfig { latency, catalog_size: (movies as u32 * 2).max(10_000), ..FakeTmdbConfig::default() };
    let token = fake_config.bearer_token.clone();
    let fake = fake_tmdb::FakeTmdb::start(fake_config)?;
    let proxy = LatencyProxy::start(latency_proxy::upstream_of(url)?, db_rtt).await?;
    let url = &proxy.url_for(url)?;
    let settings = crate::native::NativeSettings::default()
        .with("database_url", url)
        .with("tmdb_base_url", fake.base_url())
        .with("tmdb_token", token)
        .with("tmdb_rate_limit_rps", rps.to_string())
        .with("time_budget_ms", "3600000");
    let config = marquee::config::Config::load(&settings).await?;
    let app = marquee::App::new(
        MeteredDatabase::new(NativeDb::new(url)),
        crate::native::NativeHttp::default(),
        crate::native::SystemClock,
        config,
        "bench",
    );
    let started = Instant::now();
    let ingested = if scheduled_mode {
        let request = scheduled::ScheduledRequest {
            source: scheduled::Source::All,
            max_movies: movies,
            trigger_type: "manual".into(),
            pages_per_source: 5,
            language: None,
            region: None,
            dry_run: false,
            budget: None,
        };
        let report = scheduled::scheduled_ingest(&app, &request).await?;
        report.counts.movies_ingested as u64
    } else {
        let mut ingested = 0;
        let ids: Vec<i64> = (1..=movies as i64).collect();
        for chunk in ids.chunks(batch::MAX_IDS) {
            let request = batch::BatchRequest {
                mode: batch::BatchMode::Ids(chunk.to_vec()),
                trigger_type: "manual".into(),
                budget: None,
            };
            let report = batch::batch_ingest(&app, &request).await?;
            ingested += report.drain.map_or(0, |d| d.ingested);
        }
        ingested
    };
    let wall = started.elapsed();
    Ok(IngestFigures {
        mode: if scheduled_mode { "scheduled-ingest (3 lists x 5 pages)" } else { "batch-ingest (ids, queue + drain)" },
        movies_ingested: ingested,
        wall,
        tmdb_calls: fake.counters().total,
        db_busy: app.db.inner().meter().busy(),
        db_statements: app.db.inner().meter().statements(),
        peak_connections: app.db.inner().meter().peak_connections(),
        rps,
        db_rtt,
        db_round_trips: proxy.round_trips(),
    })
}

pub struct RefreshFigures {
    pub works: i64,
    pub stale: i64,
    pub fill: Duration,
    /// (time, rows queued) per run; the queue is emptied between runs.
    pub runs: Vec<(Duration, u64)>,
    pub plan: String,
}

/// Fills `works` synthetic catalog rows (inserted directly, no TMDB), `stale` of them due, and
/// times the daily refresh's stale selection and queueing.
pub async fn refresh(url: &str, works: i64, stale: i64) -> anyhow::Result<RefreshFigures> {
    use marquee::ports::Connection;
    let conn = NativeDb::new(url).connect().await?;
    let started = Instant::now();
    // Spread release dates over 40 years; every `works / stale`-th row is due, the rest are not.
    conn.execute(
        "INSERT INTO works (tmdb_id, title, release_date, ingestion_status, schema_version, last_refreshed_at, next_refresh_at)
         SELECT g, 'Movie ' || g, date '2026-01-01' - (g % 14600)::int, 'complete', $3,
                now() - interval '1 day',
                CASE WHEN g % ($1::int8 / $2::int8) = 0 AND g / ($1::int8 / $2::int8) <= $2::int8 THEN now() - interval '1 hour' ELSE now() + interval '10 days' END
         FROM generate_series(1::int8, $1::int8) AS g",
        &[works.into(), stale.into(), marquee::domain::staleness::SCHEMA_VERSION.into()],
    )
    .await
    ?;
    conn.execute("ANALYZE works", &[]).await?;
    let fill = started.elapsed();
    let mut runs = Vec::new();
    for _ in 0..3 {
        conn.execute("DELETE FROM refresh_queue", &[]).await?;
        let t = Instant::now();
        let queued = marquee::db::queue::enqueue_stale(&conn, stale).await?;
        runs.push((t.elapsed(), queued));
    }
    conn.execute("DELETE FROM refresh_queue", &[]).await?;
    let plan = conn
        .query(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT tmdb_id, work_id FROM works
             WHERE ingestion_status = 'complete' AND (next_refresh_at <= now() OR schema_version < $1)
             ORDER BY release_date DESC NULLS LAST, work_id LIMIT $2",
            &[marquee::domain::staleness::SCHEMA_VERSION.into(), stale.into()],
        )
        .await?
        .iter()
        .filter_map(|r| r.get::<String>("QUERY PLAN").ok())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(RefreshFigures { works, stale, fill, runs, plan })
}
