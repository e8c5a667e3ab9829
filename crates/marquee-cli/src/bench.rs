//! Benchmarks that print their figures. No timing is asserted anywhere.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use fake_tmdb::FakeTmdbConfig;
use marquee::db::works;
use marquee::domain::movie;
use marquee::pipeline::ingest;
use marquee::ports::{Database, MeteredConnection};
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
pub async fn write(db: &NativeDb, movies: usize) -> anyhow::Result<WriteFigures> {
    let config =
        FakeTmdbConfig { cast_per_movie: 25, crew_per_movie: 5, keywords_per_movie: 8, ..FakeTmdbConfig::default() };
    let images = image_configuration();
    let conn = MeteredConnection::new(db.connect().await?);
    let owner = ingest::lease_owner();
    let parts: Vec<&str> = marquee::tmdb::types::APPENDED_PARTS.split(',').collect();
    let mut figures = WriteFigures {
        movies,
        first_ingest: vec![],
        refresh: vec![],
        statements_per_movie: 0,
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
            let claim = works::claim(&conn, id as i64, &owner, Duration::from_secs(60), true)
                .await?
                .context("could not claim")?;
            conn.meter().reset();
            let started = Instant::now();
            ingest::store_record(
                &conn,
                "bench",
                marquee::ports::system_now(),
                claim.work_id,
                &owner,
                &record,
                &raw,
                &images,
            )
            .await?;
            let elapsed = started.elapsed();
            figures.statements_per_movie = figures.statements_per_movie.max(conn.meter().statements());
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
) -> anyhow::Result<IngestFigures> {
    use marquee::pipeline::{batch, scheduled};
    use marquee::ports::MeteredDatabase;

    let fake_config =
        FakeTmdbConfig { latency, catalog_size: (movies as u32 * 2).max(10_000), ..FakeTmdbConfig::default() };
    let token = fake_config.bearer_token.clone();
    let fake = fake_tmdb::FakeTmdb::start(fake_config)?;
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

pub struct BackfillFigures {
    pub movies: u32,
    pub adult_percent: u32,
    /// Writing the gzipped export file (not part of the import).
    pub export_write: Duration,
    pub export_bytes: u64,
    pub import: Duration,
    pub report: marquee::pipeline::import::ImportReport,
    /// The process's peak resident memory during the import (KiB; `None` without /proc).
    pub import_peak_kib: Option<u64>,
    /// Starting the fake TMDB of `movies` movies (it ranks its whole catalog at start).
    pub fake_start: Duration,
    pub drain_wall: Duration,
    pub drain: marquee::pipeline::drain::DrainReport,
    /// The process's peak resident memory during the drain (the in-process fake TMDB included).
    pub drain_peak_kib: Option<u64>,
    pub queue_left: i64,
}

/// `VmHWM` of /proc/self/status: the most resident memory the process has used (since start or
/// the last [`reset_peak_memory`]), in KiB.
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Starts a new peak (Linux: writing 5 to /proc/self/clear_refs resets `VmHWM`), so that each
/// step's peak is its own. Without it, the figures are peaks since the process started.
pub fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Writes TMDB's id export of a fake catalog of `movies` movies, imports it into the database at
/// `url` (the path of `marquee import tmdb-ids`), then drains the backlog for `drain_for` against
/// the in-process fake TMDB with no latency and no rate limit, with the default concurrency
/// (`tmdb_max_in_flight`, `db_max_connections`): only Marquee and PostgreSQL limit it.
pub async fn backfill(
    url: &str,
    movies: u32,
    drain_for: Duration,
    adult_percent: u32,
) -> anyhow::Result<BackfillFigures> {
    use marquee::db::queue;
    use marquee::pipeline::drain;
    use marquee::pipeline::import::ImportOptions;
    use marquee::ports::Clock;

    let fake_config = FakeTmdbConfig { catalog_size: movies, adult_percent, ..FakeTmdbConfig::default() };
    let path = std::env::temp_dir().join(format!("marquee-bench-movie_ids-{}.json.gz", std::process::id()));
    let started = Instant::now();
    let file = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    fake_tmdb::write_export(&fake_config, file)?;
    let export_write = started.elapsed();
    let export_bytes = std::fs::metadata(&path)?.len();

    let resettable = reset_peak_memory();
    let conn = NativeDb::new(url).connect().await?;
    let started = Instant::now();
    let imported = crate::export_file::import(&conn, &path, &ImportOptions::default(), |f| f, &mut |event| {
        if let marquee::pipeline::import::ImportEvent::BadLine(bad) = event {
            eprintln!("bad {bad}");
        }
    })
    .await;
    let import = started.elapsed();
    let import_peak_kib = peak_memory_kib().filter(|_| resettable);
    let _ = std::fs::remove_file(&path);
    let report = imported?;

    reset_peak_memory();
    let started = Instant::now();
    let token = fake_config.bearer_token.clone();
    let fake = fake_tmdb::FakeTmdb::start(fake_config)?;
    let fake_start = started.elapsed();
    let settings = crate::native::NativeSettings::default()
        .with("database_url", url)
        .with("tmdb_base_url", fake.base_url())
        .with("tmdb_token", token)
        .with("tmdb_rate_limit_rps", "1000000");
    let config = marquee::config::Config::load(&settings).await?;
    let app = marquee::App::new(
        NativeDb::new(url),
        crate::native::NativeHttp::default(),
        crate::native::SystemClock,
        config,
        "bench",
    );
    let started = Instant::now();
    let ends = app.clock.now() + drain_for;
    let mut total = drain::DrainReport::default();
    // Invocation after invocation, each with the configured budget, as scheduled calls would.
    while app.clock.now() < ends {
        let deadline = (app.clock.now() + app.config.time_budget).min(ends);
        let tmdb = app.tmdb(deadline);
        let mut report = drain::drain(&app, &tmdb, deadline, queue::Scope::All).await?;
        report.take_fatal()?;
        total.claimed += report.claimed;
        total.ingested += report.ingested;
        total.fresh += report.fresh;
        total.failed += report.failed;
        total.dead += report.dead;
        total.released += report.released;
        if report.claimed == 0 {
            break;
        }
    }
    let drain_wall = started.elapsed();
    let drain_peak_kib = peak_memory_kib().filter(|_| resettable);
    let status = queue::status(&app.db.connect().await?).await?;
    Ok(BackfillFigures {
        movies,
        adult_percent,
        export_write,
        export_bytes,
        import,
        report,
        import_peak_kib,
        fake_start,
        drain_wall,
        drain: total,
        drain_peak_kib,
        queue_left: status.queued + status.processing,
    })
}
