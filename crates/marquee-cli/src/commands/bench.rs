//! `marquee bench write|ingest|refresh|backfill`: runs [`crate::bench`] in a scratch database and
//! prints its figures.

use std::time::Duration;

use anyhow::{Context as _, bail};
use marquee::ports::{Connection, Database};

use super::app::{database_url, run_migrations};
use crate::bench;
use crate::cli::BenchCommand;
use crate::localpg::with_database;
use crate::native::{NativeDb, NativeSettings};

/// The database benchmarks run in, on the server of DATABASE_URL.
const SCRATCH: &str = "marquee_bench";

pub async fn run(settings: &NativeSettings, what: BenchCommand) -> anyhow::Result<()> {
    match what {
        BenchCommand::Write { movies, db_rtt_ms } => {
            let url = scratch_database(&database_url(settings).await?, SCRATCH).await?;
            eprintln!("benchmarking in a scratch database: {}", url.rsplit('/').next().unwrap_or_default());
            run_migrations(&url).await?;
            print_write(&bench::write(&url, movies, Duration::from_millis(db_rtt_ms)).await?);
        }
        BenchCommand::Ingest { movies, latency_ms, rps, mode, instances, tmdb_limit_rps, db_rtt_ms } => {
            let scheduled = match mode.as_deref() {
                None => movies <= 300,
                Some("scheduled") => true,
                Some("batch") => false,
                Some(other) => bail!("--mode must be scheduled or batch, got {other}"),
            };
            let url = scratch_database(&database_url(settings).await?, SCRATCH).await?;
            run_migrations(&url).await?;
            if rps < instances {
                bail!("--rps {rps} cannot be shared by {instances} instances (at least 1 rps each)");
            }
            let options = bench::IngestOptions {
                movies,
                latency: Duration::from_millis(latency_ms),
                rps,
                scheduled,
                instances: instances as usize,
                tmdb_limit_rps,
                db_rtt: Duration::from_millis(db_rtt_ms),
            };
            print_ingest(&bench::ingest(&url, &options).await?, latency_ms);
        }
        BenchCommand::Refresh { works, stale } => {
            let url = scratch_database(&database_url(settings).await?, SCRATCH).await?;
            run_migrations(&url).await?;
            print_refresh(&bench::refresh(&url, works, stale).await?);
        }
        BenchCommand::Audit { works, deep } => {
            // A database of its own, kept between runs: seeding 100,000 works takes minutes.
            // Kept while this build's migrations apply to it; made anew otherwise.
            let url = with_database(&database_url(settings).await?, "marquee_bench_audit");
            let reusable = NativeDb::new(&url).connect().await.is_ok() && run_migrations(&url).await.is_ok();
            if !reusable {
                scratch_database(&database_url(settings).await?, "marquee_bench_audit").await?;
                run_migrations(&url).await?;
            }
            print_audit(&bench::audit(&url, works, deep).await?);
        }
        BenchCommand::Read { works, clients, secs, customers, workers, db_sessions } => {
            // A database of its own, kept between runs: seeding 100,000 works takes minutes.
            let url = with_database(&database_url(settings).await?, "marquee_bench_read");
            if NativeDb::new(&url).connect().await.is_err() {
                scratch_database(&database_url(settings).await?, "marquee_bench_read").await?;
            }
            run_migrations(&url).await?;
            let defaults = crate::server::ServeOptions::default();
            let options = crate::bench_read::ReadOptions {
                works,
                clients,
                duration: Duration::from_secs(secs),
                warmup: Duration::from_secs(2),
                customers,
                server: crate::server::ServeOptions {
                    workers: workers.unwrap_or(defaults.workers),
                    db_sessions: db_sessions.unwrap_or(defaults.db_sessions),
                },
            };
            print_read(&crate::bench_read::read(&url, &options).await?, &options);
        }
        BenchCommand::Dashboard { works, runs, api_logs, samples, explain } => {
            // A database of its own, kept between runs: seeding ten million calls takes minutes.
            let url = with_database(&database_url(settings).await?, "marquee_bench_dashboard");
            if NativeDb::new(&url).connect().await.is_err() {
                scratch_database(&database_url(settings).await?, "marquee_bench_dashboard").await?;
            }
            run_migrations(&url).await?;
            let size = crate::bench_dashboard::Size { works, runs, api_logs };
            print_dashboard(&crate::bench_dashboard::dashboard(&url, size, samples.max(1), explain).await?);
        }
        BenchCommand::Backfill { movies, drain_secs, adult_percent } => {
            let url = scratch_database(&database_url(settings).await?, SCRATCH).await?;
            run_migrations(&url).await?;
            // The figures depend on what else the machine runs: say so next to them.
            let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
            let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            println!(
                "machine: {cores} cores, load average {}",
                load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            );
            print_backfill(&bench::backfill(&url, movies, Duration::from_secs(drain_secs), adult_percent).await?);
        }
    }
    Ok(())
}

/// A new, empty database on the server of `url` (dropped first if it exists), so benchmarks
/// never touch the catalog itself.
async fn scratch_database(url: &str, name: &str) -> anyhow::Result<String> {
    let admin = NativeDb::new(url).connect().await?;
    for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
        admin.execute(&sql, &[]).await.with_context(|| format!("cannot create the scratch database {name}"))?;
    }
    Ok(with_database(url, name))
}

fn print_write(figures: &bench::WriteFigures) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "bench write: {} movies, each {} cast, {} crew, {} keywords, {} images, {} provider offers",
        figures.movies, figures.cast, figures.crew, figures.keywords, figures.images, figures.provider_offers
    );
    println!(
        "database round trip: +{} ms (every connection goes through a proxy that delays each direction by half); \
         a SELECT 1 through it (2 round trips) takes {:.2} ms",
        figures.db_rtt.as_millis(),
        figures.select_one.as_secs_f64() * 1000.0
    );
    println!(
        "per movie: write {} statement(s), {} round trips; the ingest lease's claim before it {} round trips",
        figures.statements_per_movie, figures.round_trips_per_write, figures.round_trips_per_claim
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
}

fn print_ingest(f: &bench::IngestFigures, latency_ms: u64) {
    let secs = |d: Duration| d.as_secs_f64();
    let per_movie = |n: f64| n / f.movies_ingested.max(1) as f64;
    let tmdb_limit = f.tmdb_limit_rps.map_or("unlimited".to_owned(), |r| format!("{r} rps"));
    println!(
        "bench ingest: {} — {} movies ingested by {} instance(s), fake TMDB latency {latency_ms} ms",
        f.mode, f.movies_ingested, f.instances
    );
    println!("rate limit: Marquee {} rps in total ({} rps per instance), TMDB {tmdb_limit}", f.rps, f.rps_per_instance);
    println!("wall time: {:.2} s", secs(f.wall));
    println!(
        "TMDB requests: {} ({:.2} per movie, lists and /configuration included); answered 429: {} ({:.1}%)",
        f.tmdb_requests,
        per_movie(f.tmdb_requests as f64),
        f.throttled,
        100.0 * f.throttled as f64 / f.tmdb_requests.max(1) as f64
    );
    println!(
        "movies processed twice: {} fetched from TMDB twice, {} written twice (must be 0)",
        f.fetched_twice, f.written_twice
    );
    println!(
        "DB time: {:.1} ms per movie ({} statements, {:.1} per movie; summed over concurrent connections)",
        secs(f.db_busy) * 1000.0 / f.movies_ingested.max(1) as f64,
        f.db_statements,
        per_movie(f.db_statements as f64)
    );
    println!(
        "DB round trips: {:.1} per movie (requests waited for, counted at the proxy), each +{} ms (run, queue, claims, writes and logs included)",
        f.db_round_trips as f64 / f.movies_ingested.max(1) as f64,
        f.db_rtt.as_millis()
    );
    println!("DB connections: at most {} open at once per instance (db_max_connections)", f.peak_connections);
    match f.shared_rate {
        Some((rps, age)) => {
            println!("shared TMDB rate: {rps:.2} rps learned from a 429 {:.1} s before the end", secs(age))
        }
        None => println!("shared TMDB rate: none learned (no 429)"),
    }
    println!(
        "rate-limit bound (accepted calls / {} rps): {:.2} s; wall / bound = {:.3}",
        f.effective_rps(),
        secs(f.bound()),
        secs(f.wall) / secs(f.bound()).max(1e-9)
    );
}

fn print_refresh(f: &bench::RefreshFigures) {
    println!("bench refresh: {} works, {} stale (catalog filled in {:.1} s)", f.works, f.stale, f.fill.as_secs_f64());
    for (i, t) in f.runs.iter().enumerate() {
        println!(
            "select + queue the stale movies, run {}: {:.1} ms, {} queued",
            i + 1,
            t.0.as_secs_f64() * 1000.0,
            t.1
        );
    }
    println!("query plan:\n{}", f.plan);
}

/// The goals (#15 "Scale"): a million ids imported in under 30 s; a drain of at least 200
/// movies/s on 2 cores when TMDB is not the limit.
const IMPORT_GOAL: Duration = Duration::from_secs(30);
const DRAIN_GOAL_PER_SEC: f64 = 200.0;

fn print_backfill(f: &bench::BackfillFigures) {
    let secs = |d: Duration| d.as_secs_f64();
    let mib =
        |kib: Option<u64>| kib.map_or("unknown (no /proc)".to_owned(), |k| format!("{:.0} MiB", k as f64 / 1024.0));
    let t = &f.report.totals;
    println!(
        "bench backfill: {} movies in the export ({} % adult), {:.1} MiB gzipped, written in {:.1} s (not counted)",
        f.movies,
        f.adult_percent,
        f.export_bytes as f64 / 1048576.0,
        secs(f.export_write)
    );
    let per_sec = t.lines_done as f64 / secs(f.import).max(1e-9);
    let million = 1_000_000.0 / per_sec.max(1e-9);
    println!(
        "import: {} lines in {:.2} s = {:.0} lines/s; 1,000,000 lines at this rate: {:.1} s = {:.2} × the 30 s goal",
        t.lines_done,
        secs(f.import),
        per_sec,
        million,
        million / secs(IMPORT_GOAL)
    );
    println!(
        "        queued {}, skipped {} adult, {} in the catalog, {} already queued, {} bad lines; status {:?}",
        t.queued, t.adult, t.in_catalog, t.already_queued, t.bad_lines, f.report.status
    );
    println!("        peak memory: {}", mib(f.import_peak_kib));
    let rate = f.drain.ingested as f64 / secs(f.drain_wall).max(1e-9);
    println!(
        "drain: {} movies ingested in {:.1} s = {:.1} movies/s ({:.2} × the 200 movies/s goal); {} claimed, {} already fresh, {} failed attempts, {} released",
        f.drain.ingested,
        secs(f.drain_wall),
        rate,
        rate / DRAIN_GOAL_PER_SEC,
        f.drain.claimed,
        f.drain.fresh,
        f.drain.failed,
        f.drain.released
    );
    println!(
        "       fake TMDB: no latency, no rate limit, in this process (started in {:.1} s); peak memory {} (the fake included)",
        secs(f.fake_start),
        mib(f.drain_peak_kib)
    );
    println!("       queue left: {} rows", f.queue_left);
}

fn print_audit(f: &bench::AuditFigures) {
    match f.seeded {
        Some(took) => {
            println!("bench audit: {} works written through the movie write in {:.0} s", f.works, took.as_secs_f64())
        }
        None => println!("bench audit: {} works (the catalog of an earlier run)", f.works),
    }
    for (name, checked, passed) in &f.checks {
        println!("  {name:<12} checked {checked:>9}, passed {passed:>9}");
    }
    let secs = f.audit.as_secs_f64();
    println!(
        "audit: {:.1} s ({:.0} works/s), {:.2} × the 30 s goal; {} finding(s)",
        secs,
        f.works as f64 / secs.max(1e-9),
        secs / 30.0,
        f.findings
    );
}

/// The goals (#16): card reads ≥ 5,000 req/s with p99 < 10 ms; search p99 < 50 ms.
const CARD_GOAL_PER_SEC: f64 = 5_000.0;
const CARD_GOAL_P99: Duration = Duration::from_millis(10);
const SEARCH_GOAL_P99: Duration = Duration::from_millis(50);

fn print_read(f: &crate::bench_read::ReadFigures, options: &crate::bench_read::ReadOptions) {
    use crate::bench_read::Route;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    match f.seeded {
        Some(took) => {
            println!("bench read: {} works written through the movie write in {:.0} s", f.works, took.as_secs_f64())
        }
        None => println!("bench read: {} works (the catalog of an earlier run)", f.works),
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine: {cores} cores (server, clients and PostgreSQL share them), load average {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "{} clients (keep-alive), {} s per route after a warm-up; server: {} worker threads, {} PostgreSQL sessions; \
         keys checked and quotas charged ({} premium customers) in each request's one statement",
        options.clients,
        options.duration.as_secs(),
        options.server.workers,
        options.server.db_sessions,
        options.customers
    );
    let floor = f.routes.iter().find(|r| r.route == Route::Floor);
    println!(
        "{:<28} {:>9} {:>9} {:>8} {:>8} {:>7} {:>11} {:>12}",
        "route", "requests", "req/s", "p50 ms", "p99 ms", "errors", "round trips", "req/s ÷ floor"
    );
    for r in &f.routes {
        let ratio = floor.map_or(0.0, |fl| r.per_second() / fl.per_second().max(1e-9));
        println!(
            "{:<28} {:>9} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>11.2} {:>12.2}",
            r.route.label(),
            r.requests,
            r.per_second(),
            ms(r.p50),
            ms(r.p99),
            r.errors,
            r.round_trips,
            ratio
        );
    }
    if let Some(card) = f.routes.iter().find(|r| r.route == Route::Card) {
        println!(
            "goal, card reads >= {:.0} req/s with p99 < {} ms: {:.0} req/s ({:.2} x), p99 {:.2} ms",
            CARD_GOAL_PER_SEC,
            CARD_GOAL_P99.as_millis(),
            card.per_second(),
            card.per_second() / CARD_GOAL_PER_SEC,
            ms(card.p99)
        );
    }
    if let Some(search) = f.routes.iter().find(|r| r.route == Route::Search) {
        println!("goal, search p99 < {} ms: p99 {:.2} ms", SEARCH_GOAL_P99.as_millis(), ms(search.p99));
    }
    println!(
        "round trips: counted at a proxy between the server and PostgreSQL, one client, the statements already \
         prepared (natively, a statement the library marks fixed is prepared once per session: one round trip; the \
         Spin host prepares every statement again: two)"
    );
}

/// The goal (#12): every page of the dashboard in under 200 ms.
const PAGE_GOAL: Duration = Duration::from_millis(200);

fn print_dashboard(f: &crate::bench_dashboard::Figures) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "bench dashboard: {} works, {} runs, {} TMDB calls; machine: {cores} cores, load average {}",
        f.size.works,
        f.size.runs,
        f.size.api_logs,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    match &f.seeded {
        Some(steps) => {
            let total: Duration = steps.iter().map(|(_, d)| *d).sum();
            println!("seeded in {:.0} s (kept in marquee_bench_dashboard for later runs):", total.as_secs_f64());
            for (table, took) in steps {
                println!("  {table:<40} {:>7.1} s", took.as_secs_f64());
            }
        }
        None => println!("catalog of an earlier run (marquee_bench_dashboard)"),
    }
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}  goal {} ms",
        "page (over HTTP, signed in)",
        "p50 ms",
        "max ms",
        "KiB",
        "samples",
        PAGE_GOAL.as_millis()
    );
    for p in &f.pages {
        let p50 = bench::percentile(&p.samples, 0.5);
        let max = p.samples.iter().max().copied().unwrap_or_default();
        println!(
            "{:<28} {:>9.1} {:>9.1} {:>9.1} {:>9}  {}",
            p.path,
            ms(p50),
            ms(max),
            p.bytes as f64 / 1024.0,
            p.samples.len(),
            if max < PAGE_GOAL {
                "under"
            } else if p50 < PAGE_GOAL {
                "p50 under, max over"
            } else {
                "OVER"
            }
        );
    }
    for (sql, plan) in &f.plans {
        let statement: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("\n-- {}\n{plan}", statement.chars().take(160).collect::<String>());
    }
}
