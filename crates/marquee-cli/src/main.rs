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
use marquee::ports::Database;
use marquee_cli::bench;
use marquee_cli::localpg::{LocalPostgres, with_database};
use marquee_cli::native::{NativeDb, NativeHttp, NativeSettings, SystemClock};
use marquee_cli::server::Server;

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
    /// The quick start: a database (DATABASE_URL, or a local PostgreSQL in .marquee/pg), migrations,
    /// the fake TMDB unless TMDB_TOKEN/TMDB_API_KEY is set, a handful of movies ingested and printed.
    Demo {
        #[arg(default_values_t = [550_i64, 603, 680, 13, 155])]
        ids: Vec<i64>,
    },
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
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Native cost of writing one fully enriched movie (25 cast, 5 crew, 8 keywords, providers, images).
    Write {
        #[arg(long, default_value_t = 200)]
        movies: usize,
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

fn database_url(settings: &NativeSettings) -> Result<String, String> {
    settings.value("database_url").map(str::to_owned).ok_or_else(|| "DATABASE_URL is not set".into())
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
            let config = FakeTmdbConfig { catalog_size, latency: Duration::from_millis(latency_ms), rate_limit_rps: rps, bearer_token: token, ..FakeTmdbConfig::default() };
            let fake = FakeTmdb::start_on(SocketAddr::from(([127, 0, 0, 1], port)), config).map_err(|e| e.to_string())?;
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
            println!("bench write: {} movies, each {} cast, {} crew, {} keywords, {} images, {} provider offers", figures.movies, figures.cast, figures.crew, figures.keywords, figures.images, figures.provider_offers);
            println!("statements per movie (write transaction, BEGIN..COMMIT included): {}", figures.statements_per_movie);
            for (label, samples) in [("first ingest", &figures.first_ingest), ("refresh", &figures.refresh)] {
                println!(
                    "{label:>12}: mean {:.2} ms, p50 {:.2} ms, p95 {:.2} ms, {:.0} movies/s on one connection",
                    ms(bench::mean(samples)), ms(bench::percentile(samples, 0.5)), ms(bench::percentile(samples, 0.95)),
                    1.0 / bench::mean(samples).as_secs_f64().max(1e-9)
                );
            }
            Ok(())
        }
        Command::Demo { ids } => demo(settings, &ids).await,
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

async fn ingest_and_print(settings: &NativeSettings, db: NativeDb, ids: &[i64], force: bool) -> Result<(), String> {
    let config = Config::load(settings).await.map_err(|e| e.to_string())?;
    let app = App { db, http: NativeHttp::default(), clock: SystemClock, config, function: "marquee-cli" };
    let progress = ProgressBar::new(ids.len() as u64).with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("template"));
    let mut failures = 0;
    let mut lines = Vec::new();
    for &id in ids {
        progress.set_message(format!("movie {id}"));
        match ingest::ingest_movie(&app, id, force).await {
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
        v.as_array().map(|a| a.iter().take(n).filter_map(|x| if key.is_empty() { x.as_str() } else { x[key].as_str() }).collect::<Vec<_>>().join(", ")).unwrap_or_default()
    };
    format!(
        "{id:>8}  {how:<8}  {} ({}) · {} · {} · score {} [{}–{}] · dir. {} · with {}",
        card["title"].as_str().unwrap_or("?"),
        card["year"],
        card["runtime_display"].as_str().unwrap_or("?"),
        card["certification"].as_str().unwrap_or("NR"),
        card["score"]["value"], card["score"]["low"], card["score"]["high"],
        names(&card["directors"], "", 2),
        names(&card["cast"], "name", 3),
    )
}

async fn demo(settings: NativeSettings, ids: &[i64]) -> Result<(), String> {
    let mut settings = settings;
    if settings.value("database_url").is_none() {
        let pg = LocalPostgres::start(&PathBuf::from(".marquee/pg"), 54329)?;
        let admin = NativeDb::new(pg.url("postgres")).connect().await.map_err(|e| e.to_string())?;
        let exists = marquee::ports::Connection::query(&admin, "SELECT 1 FROM pg_database WHERE datname = 'marquee'", &[]).await.map_err(|e| e.to_string())?;
        if exists.is_empty() {
            marquee::ports::Connection::execute(&admin, "CREATE DATABASE marquee", &[]).await.map_err(|e| e.to_string())?;
        }
        eprintln!("local PostgreSQL in {} (DATABASE_URL={})", pg.dir.display(), pg.url("marquee"));
        settings = settings.with("database_url", pg.url("marquee"));
    }
    let url = database_url(&settings)?;
    let applied = run_migrations(&url).await?;
    eprintln!("migrations: {}", if applied.is_empty() { "up to date".to_owned() } else { format!("applied {applied:?}") });
    let _fake = if settings.value("tmdb_token").is_none() && settings.value("tmdb_api_key").is_none() {
        let fake = FakeTmdb::start(FakeTmdbConfig::default()).map_err(|e| e.to_string())?;
        eprintln!("no TMDB_TOKEN set: using the fake TMDB at {}", fake.base_url());
        settings = settings.with("tmdb_base_url", fake.base_url()).with("tmdb_token", FakeTmdbConfig::default().bearer_token);
        Some(fake)
    } else {
        None
    };
    ingest_and_print(&settings, NativeDb::new(url), ids, false).await
}
