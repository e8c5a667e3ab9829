//! Benchmarks that print their figures. No timing is asserted anywhere.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use fake_tmdb::FakeTmdbConfig;
use marquee::db::works;
use marquee::domain::movie;
use marquee::pipeline::ingest;
use marquee::ports::{Connection, Database, MeteredConnection};
use marquee::tmdb::types::{ImageConfiguration, MovieDetails};

use crate::latency_proxy::{self, LatencyProxy};
use crate::native::NativeDb;

pub struct WriteFigures {
    pub movies: usize,
    /// Added to every database round trip by the proxy.
    pub db_rtt: Duration,
    /// A `SELECT 1` through the proxy (two round trips: prepare, execute), as measured.
    pub select_one: Duration,
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
    let proxy = LatencyProxy::start(latency_proxy::upstream_of(url)?, db_rtt)?;
    let conn = MeteredConnection::new(NativeDb::new(proxy.url_for(url)?).connect().await?);
    let started = Instant::now();
    for _ in 0..20 {
        conn.query("SELECT 1", &[]).await?;
    }
    let select_one = started.elapsed() / 20;
    let owner = ingest::lease_owner();
    let parts: Vec<&str> = marquee::tmdb::types::APPENDED_PARTS.split(',').collect();
    let mut figures = WriteFigures {
        movies,
        db_rtt,
        select_one,
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

pub struct IngestOptions {
    pub movies: usize,
    /// Fake TMDB latency per response.
    pub latency: Duration,
    /// Marquee's TMDB rate, in total: each instance's `tmdb_rate_limit_rps` is its share.
    pub rps: u32,
    /// Scheduled ingest (lists) rather than batch ingest (ids).
    pub scheduled: bool,
    /// Independent apps working one queue at once.
    pub instances: usize,
    /// The fake TMDB's own limit; `None`: unlimited.
    pub tmdb_limit_rps: Option<u32>,
    /// Added to every database round trip by the proxy.
    pub db_rtt: Duration,
}

impl IngestOptions {
    /// Each instance's `tmdb_rate_limit_rps`: its share of the total (the documented way to
    /// run N instances: TMDB's limit is per IP).
    pub fn rps_per_instance(&self) -> u32 {
        (self.rps / self.instances.max(1) as u32).max(1)
    }
}

pub struct IngestFigures {
    pub mode: &'static str,
    pub instances: usize,
    pub movies_ingested: u64,
    pub wall: Duration,
    /// Every request the fake TMDB received (429s and retries included).
    pub tmdb_requests: u64,
    /// Requests the fake TMDB answered 429.
    pub throttled: u64,
    /// Movies the fake TMDB served successfully more than once (must be 0).
    pub fetched_twice: u64,
    /// Movies written more than once (`works.ingest_count` > 1; must be 0).
    pub written_twice: i64,
    pub db_busy: Duration,
    pub db_statements: u64,
    /// The most database sessions any one instance had open at once.
    pub peak_connections: u64,
    pub rps: u32,
    pub rps_per_instance: u32,
    pub tmdb_limit_rps: Option<u32>,
    /// The rate learned from 429s and shared in the database, after the run (rps, age).
    pub shared_rate: Option<(f64, Duration)>,
    /// Added to every database round trip by the proxy, and the round trips it counted.
    pub db_rtt: Duration,
    pub db_round_trips: u64,
}

impl IngestFigures {
    /// The real limit: Marquee's rate, or TMDB's when lower.
    pub fn effective_rps(&self) -> u32 {
        self.tmdb_limit_rps.map_or(self.rps, |limit| limit.min(self.rps))
    }

    /// The rate-limit bound: no run can be faster than its accepted calls at the real limit.
    pub fn bound(&self) -> Duration {
        Duration::from_secs_f64((self.tmdb_requests - self.throttled) as f64 / f64::from(self.effective_rps().max(1)))
    }
}

type BenchApp =
    marquee::App<marquee::ports::MeteredDatabase<NativeDb>, crate::native::NativeHttp, crate::native::SystemClock>;

/// Ingests `movies` movies against the in-process fake TMDB (`latency` per response) and the
/// PostgreSQL database at `url`: by scheduled ingest (3 lists × 5 pages) when they fit in the
/// lists, else by batch ingest of ids (queue + drain). With several instances, each is an
/// independent app (its own pool of `db_max_connections`, its own TMDB client and its share
/// of the rate) and all of them work the one queue at once: by batch, each queues its slice of
/// the ids and drains whatever is queued; by lists, each reads the lists and queues the same
/// candidates (queued once) and drains.
pub async fn ingest(url: &str, options: &IngestOptions) -> anyhow::Result<IngestFigures> {
    let fake_config = FakeTmdbConfig {
        latency: options.latency,
        catalog_size: (options.movies as u32 * 2).max(10_000),
        rate_limit_rps: options.tmdb_limit_rps,
        ..FakeTmdbConfig::default()
    };
    let token = fake_config.bearer_token.clone();
    let fake = fake_tmdb::FakeTmdb::start(fake_config)?;
    let proxy = LatencyProxy::start(latency_proxy::upstream_of(url)?, options.db_rtt)?;
    let url = &proxy.url_for(url)?;
    let settings = crate::native::NativeSettings::default()
        .with("database_url", url)
        .with("tmdb_base_url", fake.base_url())
        .with("tmdb_token", token)
        .with("tmdb_rate_limit_rps", options.rps_per_instance().to_string())
        .with("time_budget_ms", "3600000");
    let mut apps = Vec::new();
    for _ in 0..options.instances.max(1) {
        let config = marquee::config::Config::load(&settings).await?;
        apps.push(marquee::App::new(
            marquee::ports::MeteredDatabase::new(NativeDb::new(url)),
            crate::native::NativeHttp::default(),
            crate::native::SystemClock,
            config,
            "bench",
        ));
    }
    let ids: Vec<i64> = (1..=options.movies as i64).collect();
    let slice = ids.len().div_ceil(apps.len());
    let started = Instant::now();
    let runs = apps.iter().enumerate().map(|(i, app)| {
        let mine = ids.iter().skip(i * slice).take(slice).copied().collect();
        run_instance(app, options, mine)
    });
    let ingested: u64 = futures::future::try_join_all(runs).await?.into_iter().sum();
    let wall = started.elapsed();
    let db_round_trips = proxy.round_trips();
    let conn = NativeDb::new(url).connect().await?;
    let counters = fake.counters();
    let meters: Vec<_> = apps.iter().map(|a| a.db.inner().meter()).collect();
    Ok(IngestFigures {
        mode: if options.scheduled {
            "scheduled-ingest (3 lists x 5 pages)"
        } else {
            "batch-ingest (ids, queue + drain)"
        },
        instances: apps.len(),
        movies_ingested: ingested,
        wall,
        tmdb_requests: counters.total,
        throttled: counters.status(429),
        fetched_twice: counters.ok_by_movie.values().filter(|n| **n > 1).count() as u64,
        written_twice: works::written_more_than_once(&conn).await?,
        db_busy: meters.iter().map(|m| m.busy()).sum(),
        db_statements: meters.iter().map(|m| m.statements()).sum(),
        peak_connections: meters.iter().map(|m| m.peak_connections()).max().unwrap_or(0),
        rps: options.rps,
        rps_per_instance: options.rps_per_instance(),
        tmdb_limit_rps: options.tmdb_limit_rps,
        shared_rate: marquee::db::tmdb_rate::read(&conn).await?.map(|l| (l.rps, l.age)),
        db_rtt: options.db_rtt,
        db_round_trips,
    })
}

/// One instance's work; returns the movies it ingested.
async fn run_instance(app: &BenchApp, options: &IngestOptions, ids: Vec<i64>) -> anyhow::Result<u64> {
    use marquee::pipeline::{batch, scheduled};
    if options.scheduled {
        let request = scheduled::ScheduledRequest {
            source: scheduled::Source::All,
            max_movies: options.movies,
            trigger_type: "manual".into(),
            pages_per_source: 5,
            language: None,
            region: None,
            dry_run: false,
            budget: None,
        };
        return Ok(scheduled::scheduled_ingest(app, &request).await?.counts.movies_ingested as u64);
    }
    let mut ingested = 0;
    for chunk in ids.chunks(batch::MAX_IDS) {
        let request = batch::BatchRequest {
            mode: batch::BatchMode::Ids(chunk.to_vec()),
            trigger_type: "manual".into(),
            budget: None,
        };
        ingested += batch::batch_ingest(app, &request).await?.drain.map_or(0, |d| d.ingested);
    }
    Ok(ingested)
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

pub struct AuditFigures {
    pub works: i64,
    /// Time to write the catalog (`None`: an earlier run's catalog was reused).
    pub seeded: Option<Duration>,
    pub audit: Duration,
    pub checks: Vec<(&'static str, i64, i64)>,
    pub findings: i64,
}

/// Audits a catalog of `works` movies of the fake catalog, written through the real movie write
/// (seeded once into the database at `url`, then reused while it holds that many works).
pub async fn audit(url: &str, works: i64, deep: bool) -> anyhow::Result<AuditFigures> {
    use marquee::pipeline::audit;
    use marquee::ports::Connection;
    let db = NativeDb::new(url);
    let conn = db.connect().await?;
    let have: i64 =
        conn.query("SELECT count(*) AS n FROM works WHERE ingestion_status = 'complete'", &[]).await?[0].get("n")?;
    let seeded = if have == works { None } else { Some(seed_catalog(url, works).await?) };
    let config =
        marquee::config::Config::load(&crate::native::NativeSettings::default().with("database_url", url)).await?;
    let app = marquee::App::new(db, crate::native::NativeHttp::default(), crate::native::SystemClock, config, "bench");
    let started = Instant::now();
    let report = audit::audit(&app, audit::AuditOptions { fix: false, deep }).await?;
    let audit = started.elapsed();
    Ok(AuditFigures {
        works,
        seeded,
        audit,
        checks: report.checks.iter().map(|c| (c.name, c.checked, c.passed)).collect(),
        findings: report.findings(),
    })
}

/// Writes `works` movies of the fake catalog through the real movie write, on two connections
/// at once (the machine's cores), with the image configuration an ingest would have cached.
pub(crate) async fn seed_catalog(url: &str, works: i64) -> anyhow::Result<Duration> {
    use marquee::ports::Connection;
    let started = Instant::now();
    let admin = NativeDb::new(url).connect().await?;
    admin.execute("TRUNCATE works, people, genres, keywords, companies, collections, watch_providers, aggregate_dirty, catalog_aggregates CASCADE", &[]).await?;
    let images = image_configuration();
    marquee::db::tmdb_config::store(&admin, &marquee::tmdb::types::TmdbConfiguration { images: images.clone() })
        .await?;
    let owner = "bench-seed";
    admin
        .execute(
            "INSERT INTO works (tmdb_id, ingestion_status, lease_owner, lease_until)
             SELECT g, 'ingesting', $2, now() + interval '1 day' FROM generate_series(1::int8, $1::int8) AS g",
            &[works.into(), owner.into()],
        )
        .await?;
    let config = FakeTmdbConfig { catalog_size: works as u32, ..FakeTmdbConfig::default() };
    let parts: Vec<&str> = marquee::tmdb::types::APPENDED_PARTS.split(',').collect();
    let progress = indicatif::ProgressBar::new(works as u64);
    let writer = |shard: i64| {
        let (config, parts, images, progress) = (&config, &parts, &images, &progress);
        async move {
            let conn = NativeDb::new(url).connect().await?;
            for tmdb_id in (1..=works).filter(|id| id % 2 == shard) {
                let raw = fake_tmdb::movie_details(config, tmdb_id as u64, parts)
                    .context("fake catalog has no such movie")?;
                let details: MovieDetails = serde_json::from_value(raw.clone())?;
                let Ok(record) = movie::normalize(&details, images) else { continue };
                let rows = conn.query("SELECT work_id FROM works WHERE tmdb_id = $1", &[tmdb_id.into()]).await?;
                let claim = works::Claim {
                    work_id: rows[0].get("work_id")?,
                    created: false,
                    previous_status: None,
                    previous_raw: None,
                };
                let store = ingest::Store {
                    function: "bench",
                    now: marquee::ports::system_now(),
                    claim: &claim,
                    owner,
                    images,
                };
                ingest::store_record(&conn, &store, &record, &raw, Default::default()).await?;
                progress.inc(1);
            }
            anyhow::Ok(())
        }
    };
    futures::future::try_join(writer(0), writer(1)).await?;
    progress.finish_and_clear();
    admin.execute("DELETE FROM works WHERE ingestion_status = 'ingesting'", &[]).await?;
    let folded = marquee::db::aggregates::recompute_all(&admin).await?;
    admin.execute("VACUUM ANALYZE", &[]).await?;
    eprintln!("seeded {works} works ({folded} aggregates) in {:.0} s", started.elapsed().as_secs_f64());
    Ok(started.elapsed())
}
