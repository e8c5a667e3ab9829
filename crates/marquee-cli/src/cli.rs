//! The command line of `marquee`: every subcommand and flag (clap derive). What each one does
//! is in [`crate::commands`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "marquee", version, about = "Keeps a PostgreSQL movie catalog in sync with TMDB and serves it.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply pending migrations (DATABASE_URL).
    Migrate,
    /// Run the fake TMDB server (or write its id export: `fake-tmdb export`).
    #[command(args_conflicts_with_subcommands = true)]
    FakeTmdb {
        #[command(subcommand)]
        what: Option<FakeTmdbCommand>,
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
        /// This share of the catalog is adult (in details, lists and the id export).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
        adult_percent: u32,
    },
    /// Import data in bulk.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
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
        /// Threads serving requests (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// PostgreSQL sessions kept open at most, shared out among the workers (default: 8 per core).
        #[arg(long)]
        db_sessions: Option<usize>,
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
    /// Prove the catalog whole: every complete work's tables against the projection of its
    /// stored TMDB response, orphans, the queue, the run log, leases, tiers, scores and
    /// aggregates. Exits non-zero on any finding.
    Audit {
        #[arg(long)]
        json: bool,
        /// Repair what needs no TMDB call (reprojection, dead leases, abandoned runs, tiers,
        /// orphans, aggregates), say what was done, and check again.
        #[arg(long)]
        fix: bool,
        /// Also project every stored response again with the code as it is now and compare it
        /// with the fingerprint its write recorded (slower: every response is read).
        #[arg(long)]
        deep: bool,
    },
    /// Inject every fault of the reliability suite (TMDB storms and bad bodies, PostgreSQL
    /// restarts, killed backends, connection floods and statement timeouts, SIGKILLed processes,
    /// concurrent runs, hostile input) into real runs against a PostgreSQL of its own, and print
    /// what each did: injected, affected, failed, lost, duplicated, half-written, recovery time.
    /// Exits non-zero when anything was lost, duplicated, half-written, leaked or not recovered.
    Chaos {
        /// Keep running rounds of every fault for this many minutes (at least one round).
        #[arg(long, default_value_t = 0.0)]
        minutes: f64,
        #[arg(long, default_value_t = 13)]
        seed: u64,
        /// Only these faults (repeatable; default: all).
        #[arg(long = "fault", value_enum)]
        faults: Vec<crate::chaos::Fault>,
        /// The small scale of the test suite instead of the long one.
        #[arg(long)]
        bounded: bool,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Also print, at each scheduler call of every recovery, what is still in flight.
        #[arg(long)]
        trace: bool,
    },
    /// The aggregates of people, genres, keywords, companies and collections.
    Aggregates {
        #[command(subcommand)]
        what: AggregatesCommand,
    },
    /// The catalog at a glance: works by status and the largest people, genres, keywords,
    /// companies and collections.
    Stats {
        /// How many of each kind.
        #[arg(long, default_value_t = 10)]
        top: i64,
        #[arg(long)]
        json: bool,
    },
    /// The catalog API's keys: create (printed once), list, revoke, and customers' usage.
    Keys {
        #[command(subcommand)]
        what: KeysCommand,
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
pub enum FakeTmdbCommand {
    /// Write the fake catalog's daily id export (gzipped JSON lines, as TMDB's
    /// movie_ids_MM_DD_YYYY.json.gz); the running server also serves it at /p/exports/movie_ids.json.gz.
    Export {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        catalog_size: u32,
        /// This share of the catalog is adult (give the server the same to match its details).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
        adult_percent: u32,
    },
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Queue every movie of TMDB's daily id export (movie_ids_MM_DD_YYYY.json.gz, gzipped or not)
    /// that the catalog does not have, more popular first and below every refresh; skip adult
    /// ones; queue tracked movies absent from the export for the refresh that marks them gone.
    /// Resumable: a re-run continues where an interrupted one stopped, and is a no-op once done.
    TmdbIds {
        file: PathBuf,
        /// Lines written per statement (each batch is one transaction with its checkpoint).
        #[arg(long, default_value_t = marquee::pipeline::import::DEFAULT_BATCH_LINES)]
        batch_lines: usize,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ScheduleCommand {
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
        format: crate::schedule::Format,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a key for a customer (on the free tier until a Stripe subscription says otherwise);
    /// the key is printed once, alone on stdout. Only its SHA-256 is stored.
    Create {
        /// The Stripe customer id (cus_…).
        #[arg(long)]
        customer: String,
        /// What the key is for, to tell keys apart in `keys list`.
        #[arg(long)]
        name: Option<String>,
    },
    /// Every key (never the keys themselves): id, customer, name, when made and revoked.
    List {
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id (from `keys list`); its next request is refused (401).
    Revoke { key_id: i64 },
    /// Each customer's use of each quota in its current period.
    Usage {
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum StripeCommand {
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
pub enum IngestCommand {
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
        /// reingest, drain (only work the queue) or reproject.
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
pub enum SyncCommand {
    /// The changes-feed cursor, how many movies are stale, the queue, and whether the schedule's
    /// refresh runs keep up with what the catalog's staleness tiers make due each day.
    Status {
        /// The manifest whose `[[trigger.cron]]` schedule is assessed (looked for in the current
        /// directory and its parents; the shipped schedule when not found).
        #[arg(long, default_value = "spin.toml")]
        manifest: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum AggregatesCommand {
    /// Recompute the aggregates that writes marked since the last fold (runs fold after
    /// themselves too).
    Fold,
    /// Rebuild every aggregate from the facts.
    Recompute,
    /// Marks not folded yet.
    Status,
}

#[derive(Subcommand)]
pub enum QueueCommand {
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
pub enum BenchCommand {
    /// The operator dashboard on a large catalog (seeded once into the database
    /// marquee_bench_dashboard, kept for later runs): every page's time over HTTP, signed in.
    Dashboard {
        #[arg(long, default_value_t = 1_000_000)]
        works: i64,
        #[arg(long, default_value_t = 100_000)]
        runs: i64,
        #[arg(long, default_value_t = 10_000_000)]
        api_logs: i64,
        /// Timed requests per page (after one untimed).
        #[arg(long, default_value_t = 10)]
        samples: usize,
        /// Print the plan (EXPLAIN ANALYZE) of every statement behind the overview.
        #[arg(long)]
        explain: bool,
    },
    /// Native cost of writing one fully enriched movie (25 cast, 5 crew, 8 keywords, providers, images).
    Write {
        #[arg(long, default_value_t = 200)]
        movies: usize,
        /// Milliseconds added to every database round trip (a proxy delays each direction by
        /// half), as with a managed PostgreSQL across a network.
        #[arg(long, default_value_t = 0)]
        db_rtt_ms: u64,
    },
    /// Scheduled or batch ingest against the in-process fake TMDB and real PostgreSQL.
    Ingest {
        #[arg(long, default_value_t = 20)]
        movies: usize,
        /// Fake TMDB latency per response.
        #[arg(long, default_value_t = 30)]
        latency_ms: u64,
        /// Marquee's TMDB rate limit, in total: with --instances N each instance gets rps / N.
        #[arg(long, default_value_t = 40)]
        rps: u32,
        /// scheduled (default up to 300 movies) or batch.
        #[arg(long)]
        mode: Option<String>,
        /// Milliseconds added to every database round trip (see `bench write`).
        #[arg(long, default_value_t = 0)]
        db_rtt_ms: u64,
        /// Independent apps (each its own connections and rate-limiter share) working one queue
        /// at once, as replicas of the Spin app would.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        instances: u32,
        /// The fake TMDB's own rate limit (token bucket, burst = rate, 429 over it); unlimited
        /// when unset.
        #[arg(long)]
        tmdb_limit_rps: Option<u32>,
    },
    /// Selecting and queueing the stale movies of a large synthetic catalog.
    Refresh {
        #[arg(long, default_value_t = 1_000_000)]
        works: i64,
        #[arg(long, default_value_t = 10_000)]
        stale: i64,
    },
    /// The whole TMDB catalog: import an id export of N movies, then drain the backlog for a
    /// while against the fake TMDB without latency or rate limit (what Marquee and PostgreSQL
    /// alone allow); prints times, rates and the memory peak of each step.
    /// `marquee audit` on a catalog of this many works of the fake catalog, written through the
    /// real movie write (seeded once, reused by later runs).
    Audit {
        #[arg(long, default_value_t = 100_000)]
        works: i64,
        /// The deep audit (every stored response projected again).
        #[arg(long)]
        deep: bool,
    },
    /// The catalog API under load: `marquee serve` over HTTP with concurrent clients, on a
    /// catalog written through the movie write (seeded once, reused), keys checked and quotas
    /// charged; requests/s, p50, p99 and round trips per route, against a `SELECT 1` floor.
    Read {
        #[arg(long, default_value_t = 100_000)]
        works: i64,
        /// Concurrent clients, each with its own keep-alive connection.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds each route is measured (after a 2 s warm-up).
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Customers (keys) the clients are spread over.
        #[arg(long, default_value_t = 32)]
        customers: usize,
        /// The server's worker threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// The server's PostgreSQL sessions (default: 8 per core).
        #[arg(long)]
        db_sessions: Option<usize>,
    },
    Backfill {
        #[arg(long, default_value_t = 1_000_000)]
        movies: u32,
        /// How long to drain the imported backlog.
        #[arg(long, default_value_t = 30)]
        drain_secs: u64,
        /// Share of adult entries in the export (skipped by the import).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=100))]
        adult_percent: u32,
    },
}
