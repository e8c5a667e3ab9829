//! `marquee`: migrations, the fake TMDB, ingests, a local server and benchmarks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fake_tmdb::{FakeTmdb, FakeTmdbConfig};
use indicatif::{ProgressBar, ProgressStyle};
use marquee::App;
use marquee::config::Config;
use marquee::db::migrate;
use marquee::pipeline::ingest::{self, Outcome};
use marquee::ports::{Clock, Database};
use marquee_cli::localpg::{LocalPostgres, with_database};
use marquee_cli::native::{NativeDb, NativeHttp, NativeSettings, SystemClock};
use marquee_cli::ops::database_url;
use marquee_cli::server::Server;
use marquee_cli::{bench, ops};

#[derive(Parser)]
#[command(name = "marquee", version, about = "Keeps a PostgreSQL movie catalog in sync with TMDB and serves it.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations (DATABASE_URL).
    Migrate,
    /// Run the fake TMDB server.
    FakeTmdb {
        #[arg(long, default_value_t = 8787)]
        port: u16,
        #[arg(long, default_value_t = 10_000)]
        catalog_size: u32,
        /// Added latency per response.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Answer 429 above this many requests per second.
        #[arg(long)]
        rps: Option<u32>,
        #[arg(long, default_value = "fake-tmdb-token")]
        token: String,
    },
    /// Ingest movies.
    Ingest {
        #[command(subcommand)]
        what: IngestCommand,
    },
    /// Serve every route of the routing table natively.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// The quick start: a database (DATABASE_URL, or a local PostgreSQL of this checkout), migrations,
    /// the fake TMDB unless TMDB_TOKEN/TMDB_API_KEY is set, a handful of movies ingested and printed.
    Demo {
        #[arg(default_values_t = [550_i64, 603, 680, 13, 155])]
        ids: Vec<i64>,
    },
    /// What `POST /functions/v1/daily-refresh` does: changed and stale movies, queued and drained.
    Refresh {
        /// Time budget, e.g. 60s or 5m.
        #[arg(long, default_value = "60s")]
        budget: humantime::Duration,
        /// Most stale movies to queue.
        #[arg(long, default_value_t = 1000)]
        batch_size: i64,
        /// Read the changes feed and count; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Sync cursors.
    Sync {
        #[command(subcommand)]
        what: SyncCommand,
    },
    /// Look at and work the refresh queue.
    Queue {
        #[command(subcommand)]
        what: QueueCommand,
    },
    /// Stripe webhook tools.
    Stripe {
        #[command(subcommand)]
        what: StripeCommand,
    },
    /// The schedule of spin.toml's cron triggers, for every scheduler.
    Schedule {
        #[command(subcommand)]
        what: ScheduleCommand,
    },
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Print the schedule as Spin cron triggers, crontab lines, Kubernetes CronJobs, GitHub
    /// Actions `on.schedule` and `spin aka crons` commands (all from spin.toml).
    Print {
        /// The Spin manifest holding the `[[trigger.cron]]` entries.
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        /// Where the routes are served (default: spin.toml's `marquee_base_url`).
        #[arg(long, env = "MARQUEE_BASE_URL")]
        base_url: Option<String>,
        #[arg(long, value_enum, default_value = "all")]
        format: marquee_cli::schedule::Format,
    },
}

#[derive(Subcommand)]
enum StripeCommand {
    /// Print a `Stripe-Signature` header value for the event JSON on stdin, signed as Stripe signs.
    Sign {
        /// The endpoint's signing secret (whsec_…).
        #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// Unix seconds to sign with (default: now).
        #[arg(long)]
        timestamp: Option<i64>,
    },
    /// Apply a stored event again (DATABASE_URL), e.g. one stored as `failed`.
    Replay { event_id: String },
}

#[derive(Subcommand)]
enum IngestCommand {
    /// Ingest (or refresh) movies by TMDB id.
    Movie {
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Refetch even when fresh.
        #[arg(long)]
        force: bool,
    },
    /// What `POST /functions/v1/scheduled-ingest` does: lists, dedupe, skip fresh, ingest, queue the rest.
    Scheduled {
        /// popular, now_playing, trending or all.
        #[arg(long, default_value = "all")]
        source: String,
        #[arg(long, default_value_t = 20)]
        max_movies: i64,
        #[arg(long, default_value_t = 5)]
        pages_per_source: i64,
        #[arg(long)]
        language: Option<String>,
        #[arg(long)]
        region: Option<String>,
        /// Fetch the lists and report what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Time budget (default: TIME_BUDGET_MS).
        #[arg(long)]
        budget_ms: Option<i64>,
    },
    /// What `POST /functions/v1/batch-ingest` does: queue ids (or a page of the catalog) and drain.
    Batch {
        /// TMDB ids, comma-separated.
        #[arg(long, value_delimiter = ',', conflicts_with = "mode")]
        ids: Vec<i64>,
        /// reingest or reproject.
        #[arg(long)]
        mode: Option<String>,
        /// Reingest filter: all, stale, failed or schema_outdated.
        #[arg(long)]
        filter: Option<String>,
        #[arg(long)]
        cursor: Option<i64>,
        #[arg(long)]
        limit: Option<i64>,
        /// Follow `next_cursor` until the catalog is done.
        #[arg(long)]
        all_pages: bool,
        #[arg(long)]
        budget_ms: Option<i64>,
    },
}

#[derive(Subcommand)]
enum SyncCommand {
    /// The changes-feed cursor, how many movies are stale, and the queue.
    Status,
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Counts by state.
    Status,
    /// Ingest due rows until the queue is empty or the budget is spent.
    Drain {
        #[arg(long, default_value_t = 300)]
        budget_secs: u64,
    },
    /// Requeue dead rows (all, or the given TMDB ids).
    RetryFailed { ids: Vec<i64> },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Native cost of writing one fully enriched movie (25 cast, 5 crew, 8 keywords, providers, images).
    Write {
        #[arg(long, default_value_t = 200)]
        movies: usize,
    },
    /// Scheduled or batch ingest against the in-process fake TMDB and real PostgreSQL.
    Ingest {
        #[arg(long, default_value_t = 20)]
        movies: usize,
        /// Fake TMDB latency per response.
        #[arg(long, default_value_t = 30)]
        latency_ms: u64,
        /// Marquee's TMDB rate limit.
        #[arg(long, default_value_t = 40)]
        rps: u32,
        /// scheduled (default up to 300 movies) or batch.
        #[arg(long)]
        mode: Option<String>,
    },
    /// Selecting and queueing the stale movies of a large synthetic catalog.
    Refresh {
        #[arg(long, default_value_t = 1_000_000)]
        works: i64,
        #[arg(long, default_value_t = 10_000)]
        stale: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run_migrations(url: &str) -> Result<Vec<i64>, String> {
    let conn = NativeDb::new(url).connect().await.map_err(|e| e.to_string())?;
    migrate::migrate(&conn).await.map_err(|e| e.to_string())
}

async fn run(command: Command) -> Result<(), String> {
    let settings = NativeSettings::from_env();
    match command {
        Command::Migrate => {
            let applied = run_migrations(&database_url(&settings)?).await?;
            if applied.is_empty() {
                println!("database is up to date ({} migrations)", migrate::MIGRATIONS.len());
            } else {
                println!("applied migrations {applied:?}");
            }
            Ok(())
        }
        Command::FakeTmdb { port, catalog_size, latency_ms, rps, token } => {
            let config = FakeTmdbConfig {
                catalog_size,
                latency: Duration::from_millis(latency_ms),
                rate_limit_rps: rps,
                bearer_token: token,
                ..FakeTmdbConfig::default()
            };
            let fake =
                FakeTmdb::start_on(SocketAddr::from(([127, 0, 0, 1], port)), config).map_err(|e| e.to_string())?;
            eprintln!("fake TMDB listening: TMDB_BASE_URL={}", fake.base_url());
            fake.wait();
            Ok(())
        }
        Command::Ingest { what: IngestCommand::Movie { ids, force } } => {
            let db = NativeDb::new(database_url(&settings)?);
            ingest_and_print(&settings, db, &ids, force).await
        }
        Command::Serve { listen } => {
            database_url(&settings)?;
            let server = Server::start(listen, settings).map_err(|e| e.to_string())?;
            eprintln!("marquee serving on {}", server.url());
            server.wait();
            Ok(())
        }
        Command::Bench { what: BenchCommand::Write { movies } } => {
            let url = scratch_database(&database_url(&settings)?, "marquee_bench").await?;
            eprintln!("benchmarking in a scratch database: {}", url.rsplit('/').next().unwrap_or_default());
            run_migrations(&url).await?;
            let figures = bench::write(&NativeDb::new(url), movies).await?;
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "bench write: {} movies, each {} cast, {} crew, {} keywords, {} images, {} provider offers",
                figures.movies, figures.cast, figures.crew, figures.keywords, figures.images, figures.provider_offers
            );
            println!(
                "statements per movie (write transaction, BEGIN..COMMIT included): {}",
                figures.statements_per_movie
            );
            for (label, samples) in [("first ingest", &figures.first_ingest), ("refresh", &figures.refresh)] {
                println!(
                    "{label:>12}: mean {:.2} ms, p50 {:.2} ms, p95 {:.2} ms, {:.0} movies/s on one connection",
                    ms(bench::mean(samples)),
                    ms(bench::percentile(samples, 0.5)),
                    ms(bench::percentile(samples, 0.95)),
                    1.0 / bench::mean(samples).as_secs_f64().max(1e-9)
                );
            }
            Ok(())
        }
        Command::Demo { ids } => demo(settings, &ids).await,
        Command::Ingest {
            what:
                IngestCommand::Scheduled { source, max_movies, pages_per_source, language, region, dry_run, budget_ms },
        } => {
            let body = serde_json::json!({"source": source, "max_movies": max_movies, "pages_per_source": pages_per_source,
                "language": language, "region": region, "dry_run": dry_run, "budget_ms": budget_ms, "trigger_type": "manual"});
            ops::scheduled_ingest(&with_budget(settings, budget_ms), body.as_object().cloned().unwrap_or_default())
                .await
        }
        Command::Ingest { what: IngestCommand::Batch { ids, mode, filter, cursor, limit, all_pages, budget_ms } } => {
            let mut body = serde_json::json!({"mode": mode, "filter": filter, "cursor": cursor, "limit": limit, "budget_ms": budget_ms});
            if !ids.is_empty() {
                body["tmdb_ids"] = serde_json::json!(ids);
            }
            let body =
                body.as_object().cloned().unwrap_or_default().into_iter().filter(|(_, v)| !v.is_null()).collect();
            ops::batch_ingest(&with_budget(settings, budget_ms), body, all_pages).await
        }
        Command::Refresh { budget, batch_size, dry_run } => {
            let ms = Duration::from(budget).as_millis() as i64;
            let body = serde_json::json!({"budget_ms": ms, "batch_size": batch_size, "dry_run": dry_run});
            ops::daily_refresh(&with_budget(settings, Some(ms)), body.as_object().cloned().unwrap_or_default()).await
        }
        Command::Sync { what: SyncCommand::Status } => ops::sync_status(&settings).await,
        Command::Bench { what: BenchCommand::Refresh { works, stale } } => {
            let url = scratch_database(&database_url(&settings)?, "marquee_bench").await?;
            run_migrations(&url).await?;
            let f = bench::refresh(&url, works, stale).await?;
            println!(
                "bench refresh: {} works, {} stale (catalog filled in {:.1} s)",
                f.works,
                f.stale,
                f.fill.as_secs_f64()
            );
            for (i, t) in f.runs.iter().enumerate() {
                println!(
                    "select + queue the stale movies, run {}: {:.1} ms, {} queued",
                    i + 1,
                    t.0.as_secs_f64() * 1000.0,
                    t.1
                );
            }
            println!("query plan:\n{}", f.plan);
            Ok(())
        }
        Command::Queue { what: QueueCommand::Status } => ops::queue_status(&settings).await,
        Command::Queue { what: QueueCommand::Drain { budget_secs } } => {
            ops::queue_drain(&settings, Duration::from_secs(budget_secs)).await
        }
        Command::Queue { what: QueueCommand::RetryFailed { ids } } => ops::retry_failed(&settings, &ids).await,
        Command::Bench { what: BenchCommand::Ingest { movies, latency_ms, rps, mode } } => {
            let scheduled = match mode.as_deref() {
                None => movies <= 300,
                Some("scheduled") => true,
                Some("batch") => false,
                Some(other) => return Err(format!("--mode must be scheduled or batch, got {other}")),
            };
            let url = scratch_database(&database_url(&settings)?, "marquee_bench").await?;
            run_migrations(&url).await?;
            let f = bench::ingest(&url, movies, Duration::from_millis(latency_ms), rps, scheduled).await?;
            let secs = |d: Duration| d.as_secs_f64();
            println!(
                "bench ingest: {} — {} movies ingested, fake TMDB latency {latency_ms} ms, rate limit {rps} rps",
                f.mode, f.movies_ingested
            );
            println!("wall time: {:.2} s", secs(f.wall));
            println!(
                "TMDB calls: {} ({:.2} per movie, lists and /configuration included)",
                f.tmdb_calls,
                f.tmdb_calls as f64 / f.movies_ingested.max(1) as f64
            );
            println!(
                "DB time: {:.1} ms per movie ({} statements, {:.1} per movie; summed over concurrent connections)",
                secs(f.db_busy) * 1000.0 / f.movies_ingested.max(1) as f64,
                f.db_statements,
                f.db_statements as f64 / f.movies_ingested.max(1) as f64
            );
            println!(
                "rate-limit bound (calls / rps): {:.2} s; wall / bound = {:.3}",
                secs(f.bound()),
                secs(f.wall) / secs(f.bound()).max(1e-9)
            );
            Ok(())
        }
        Command::Stripe { what } => stripe(&settings, what).await,
        Command::Schedule { what: ScheduleCommand::Print { manifest, base_url, format } } => {
            marquee_cli::schedule::print(&manifest, base_url.as_deref(), format)
        }
    }
}

async fn stripe(settings: &NativeSettings, what: StripeCommand) -> Result<(), String> {
    match what {
        StripeCommand::Sign { secret, timestamp } => {
            let mut payload = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut payload)
                .map_err(|e| format!("cannot read the event from stdin: {e}"))?;
            let timestamp = timestamp.unwrap_or_else(|| marquee::ports::system_now().timestamp());
            println!("{}", marquee::billing::signature::header_value(&secret, timestamp, &payload));
            Ok(())
        }
        StripeCommand::Replay { event_id } => {
            let conn = NativeDb::new(database_url(settings)?).connect().await.map_err(|e| e.to_string())?;
            let receipt = marquee::billing::replay(&conn, &event_id).await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({"event_id": receipt.event_id, "status": receipt.status, "applied": receipt.applied, "error": receipt.error})
            );
            Ok(())
        }
    }
}

/// A new, empty database on the server of `url` (dropped first if it exists), so benchmarks
/// never touch the catalog itself.
async fn scratch_database(url: &str, name: &str) -> Result<String, String> {
    let admin = NativeDb::new(url).connect().await.map_err(|e| e.to_string())?;
    for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
        marquee::ports::Connection::execute(&admin, &sql, &[]).await.map_err(|e| e.to_string())?;
    }
    Ok(with_database(url, name))
}

/// An explicit `--budget-ms` on the command line also lifts the configured invocation budget:
/// a command-line run is not bound by the platform's request limit.
fn with_budget(settings: NativeSettings, budget_ms: Option<i64>) -> NativeSettings {
    match budget_ms {
        Some(ms) => settings.with("time_budget_ms", ms.to_string()),
        None => settings,
    }
}

async fn ingest_and_print(settings: &NativeSettings, db: NativeDb, ids: &[i64], force: bool) -> Result<(), String> {
    let config = Config::load(settings).await.map_err(|e| e.to_string())?;
    let app = App { db, http: NativeHttp::default(), clock: SystemClock, config, function: "marquee-cli" };
    let progress = ProgressBar::new(ids.len() as u64)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("template"));
    let mut failures = 0;
    let mut lines = Vec::new();
    let tmdb = app.tmdb(app.clock.now() + Duration::from_secs(24 * 3600));
    for &id in ids {
        progress.set_message(format!("movie {id}"));
        match ingest::ingest_movie(&app, &tmdb, id, force).await {
            Ok(outcome) => {
                let (how, card) = match &outcome {
                    Outcome::Cached { card, .. } => ("cached", card.clone()),
                    Outcome::Ingested { card, .. } => ("ingested", card.payload.clone()),
                };
                lines.push(describe(id, how, &card));
            }
            Err(e) => {
                failures += 1;
                lines.push(format!("{id:>8}  failed    {e}"));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    for line in &lines {
        println!("{line}");
    }
    println!("{} movies: {} ok, {} failed", ids.len(), ids.len() - failures, failures);
    if failures > 0 { Err(format!("{failures} movie(s) failed")) } else { Ok(()) }
}

fn describe(id: i64, how: &str, card: &serde_json::Value) -> String {
    let names = |v: &serde_json::Value, key: &str, n: usize| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .take(n)
                    .filter_map(|x| if key.is_empty() { x.as_str() } else { x[key].as_str() })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    format!(
        "{id:>8}  {how:<8}  {} ({}) · {} · {} · score {} [{}–{}] · dir. {} · with {}",
        card["title"].as_str().unwrap_or("?"),
        card["year"],
        card["runtime_display"].as_str().unwrap_or("?"),
        card["certification"].as_str().unwrap_or("NR"),
        card["score"]["value"],
        card["score"]["low"],
        card["score"]["high"],
        names(&card["directors"], "", 2),
        names(&card["cast"], "name", 3),
    )
}

async fn demo(settings: NativeSettings, ids: &[i64]) -> Result<(), String> {
    let mut settings = settings;
    if settings.value("database_url").is_none() {
        let pg = LocalPostgres::demo()?;
        let admin = NativeDb::new(pg.url("postgres")).connect().await.map_err(|e| e.to_string())?;
        let exists =
            marquee::ports::Connection::query(&admin, "SELECT 1 FROM pg_database WHERE datname = 'marquee'", &[])
                .await
                .map_err(|e| e.to_string())?;
        if exists.is_empty() {
            marquee::ports::Connection::execute(&admin, "CREATE DATABASE marquee", &[])
                .await
                .map_err(|e| e.to_string())?;
        }
        eprintln!("local PostgreSQL in {} (DATABASE_URL={})", pg.dir.display(), pg.url("marquee"));
        settings = settings.with("database_url", pg.url("marquee"));
    }
    let url = database_url(&settings)?;
    let applied = run_migrations(&url).await?;
    eprintln!(
        "migrations: {}",
        if applied.is_empty() { "up to date".to_owned() } else { format!("applied {applied:?}") }
    );
    let _fake = if settings.value("tmdb_token").is_none() && settings.value("tmdb_api_key").is_none() {
        let fake = FakeTmdb::start(FakeTmdbConfig::default()).map_err(|e| e.to_string())?;
        eprintln!("no TMDB_TOKEN set: using the fake TMDB at {}", fake.base_url());
        settings =
            settings.with("tmdb_base_url", fake.base_url()).with("tmdb_token", FakeTmdbConfig::default().bearer_token);
        Some(fake)
    } else {
        None
    };
    ingest_and_print(&settings, NativeDb::new(url), ids, false).await
}
