//! `marquee bench dashboard`: the dashboard on a large catalog. Seeds a database of its own
//! (kept between runs: seeding ten million TMDB calls takes minutes) set-based with
//! `generate_series` — works, runs, TMDB calls, queue rows, changes and billing — then serves it
//! with the native server and times every page over HTTP, signed in as an operator would be.
//! `--explain` prints the plan of every statement behind the overview, as the dashboard runs
//! them (same SQL, same parameters).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use marquee::config::Config;
use marquee::ports::{Connection, Database, DbError, Row, Value};

use crate::native::{NativeDb, NativeHttp, NativeSettings, SystemClock};
use crate::server::Server;

/// How big a catalog to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub works: i64,
    pub runs: i64,
    pub api_logs: i64,
}

/// Which size a seeding statement takes as `$1`.
#[derive(Clone, Copy)]
enum Takes {
    Nothing,
    Works,
    Runs,
}

/// The seeding, statement by statement, each with the size it takes as `$1`.
/// Proportions: 95 % of works complete (1 % of the catalog due for a refresh), 2 % gone, 1 %
/// rejected, failed and pending each; a run every 5 minutes back from now; calls spread evenly
/// over 30 days, 95 % of them a movie's details, mostly answered 200 in 40–440 ms.
const SEED: &[(&str, Takes, &str)] = &[
    (
        "works",
        Takes::Works,
        "INSERT INTO works (tmdb_id, title, year, release_date, ingestion_status, schema_version, last_refreshed_at,
                            next_refresh_at, created_at, gone_at)
         SELECT g, 'Movie ' || g, extract(year FROM d)::int, d, s, 2,
                CASE WHEN s = 'complete' THEN now() - make_interval(hours => (g % 700)::int) END,
                CASE WHEN s <> 'complete' THEN NULL
                     WHEN g % 100 = 7 THEN now() - make_interval(hours => (g % 48)::int)
                     ELSE now() + make_interval(days => 1 + (g % 29)::int) END,
                now() - make_interval(mins => (g % 1051200)::int),
                CASE WHEN s = 'gone' THEN now() - make_interval(mins => (g % 100000)::int) END
         FROM generate_series(1::int8, $1::int8) AS g,
              LATERAL (SELECT current_date - (g % 14600)::int AS d,
                              CASE WHEN g % 100 < 95 THEN 'complete' WHEN g % 100 < 97 THEN 'gone'
                                   WHEN g % 100 = 97 THEN 'rejected' WHEN g % 100 = 98 THEN 'failed' ELSE 'pending' END AS s) AS x",
    ),
    (
        "works_meta",
        Takes::Nothing,
        "INSERT INTO works_meta (work_id, release_status)
         SELECT work_id, CASE WHEN work_id % 50 = 0 THEN 'Rumored' WHEN work_id % 53 = 0 THEN 'Canceled' ELSE 'Released' END
         FROM works WHERE ingestion_status = 'complete'",
    ),
    (
        "rejected_works",
        Takes::Nothing,
        "INSERT INTO rejected_works (tmdb_id, reason, detail, function, last_seen_at)
         SELECT tmdb_id, CASE WHEN ingestion_status = 'gone' THEN 'not_found' WHEN tmdb_id % 3 = 0 THEN 'missing_title' ELSE 'adult' END,
                'seeded', 'daily-refresh', now() - make_interval(mins => (tmdb_id % 100000)::int)
         FROM works WHERE ingestion_status IN ('gone', 'rejected')",
    ),
    (
        "scheduled_ingestion_log",
        Takes::Runs,
        "INSERT INTO scheduled_ingestion_log (run_id, function, source, trigger_type, status, movies_checked, movies_skipped,
                movies_ingested, movies_failed, movies_queued, tmdb_calls, ingested_titles, failed_titles, duration_ms, error,
                started_at, finished_at, deadline_at)
         SELECT 'bench-run-' || g, f, CASE f WHEN 'scheduled-ingest' THEN 'mixed' WHEN 'batch-ingest' THEN 'batch' ELSE 'queue' END,
                CASE WHEN g % 50 = 0 THEN 'manual' ELSE 'scheduled' END, st,
                700, 10, 680, CASE WHEN st = 'succeeded' THEN 0 ELSE 3 END, 7, 700,
                ARRAY['Movie ' || g || ' (2024)', 'Movie ' || g + 1 || ' (2023)'], '{}'::text[],
                1000 + (g % 19000)::int, CASE WHEN st IN ('failed', 'abandoned') THEN 'seeded failure' END,
                now() - make_interval(mins => (g * 5)::int), now() - make_interval(mins => (g * 5)::int) + interval '19 seconds',
                now() - make_interval(mins => (g * 5)::int) + interval '20 seconds'
         FROM generate_series(1::int8, $1::int8) AS g,
              LATERAL (SELECT CASE WHEN g % 10 = 0 THEN 'scheduled-ingest' WHEN g % 10 < 3 THEN 'batch-ingest' ELSE 'daily-refresh' END AS f,
                              CASE WHEN g % 100 < 90 THEN 'succeeded' WHEN g % 100 < 97 THEN 'partial'
                                   WHEN g % 100 < 99 THEN 'failed' ELSE 'abandoned' END AS st) AS x",
    ),
    (
        "refresh_queue",
        Takes::Nothing,
        "INSERT INTO refresh_queue (tmdb_id, work_id, reason, status, attempts, next_attempt_at, last_error, processed_at, priority)
         SELECT g, NULL, CASE WHEN g % 3 = 0 THEN 'changed' ELSE 'stale' END,
                CASE WHEN g <= 5000 THEN 'queued' WHEN g <= 6000 THEN 'failed' ELSE 'completed' END,
                CASE WHEN g BETWEEN 5001 AND 6000 THEN 5 ELSE 1 END,
                now() + make_interval(mins => (g % 120)::int - 60),
                CASE WHEN g BETWEEN 5001 AND 6000 THEN 'TMDB answered 500 five times' END,
                CASE WHEN g > 5000 THEN now() - make_interval(mins => (g % 43200)::int) END, (g % 4)::int
         FROM generate_series(1::int8, 200000::int8) AS g",
    ),
    (
        "work_change_log",
        Takes::Works,
        "INSERT INTO work_change_log (work_id, changed_at, changes, function)
         SELECT 1 + (g * 7919) % ($1::int8 * 95 / 100), now() - make_interval(secs => (g * 13)::int),
                jsonb_build_object('vote_count', jsonb_build_array(g, g + 3), 'popularity', jsonb_build_array(1.5, 1.7)), 'daily-refresh'
         FROM generate_series(1::int8, 200000::int8) AS g",
    ),
    (
        "billing",
        Takes::Nothing,
        "WITH c AS (
            INSERT INTO customers (customer_id, email) SELECT 'cus_' || g, 'customer' || g || '@example.com' FROM generate_series(1, 10000) g
            RETURNING customer_id
         ), s AS (
            INSERT INTO subscriptions (subscription_id, customer_id, status, tier, current_period_start, current_period_end,
                                       last_event_created, last_event_rank, last_event_id)
            SELECT 'sub_' || g, 'cus_' || g, CASE WHEN g % 10 < 7 THEN 'active' WHEN g % 10 < 8 THEN 'trialing' WHEN g % 10 < 9 THEN 'past_due' ELSE 'canceled' END,
                   CASE WHEN g % 3 = 0 THEN 'premium' ELSE 'basic' END, now() - interval '10 days', now() + interval '20 days', 1, 1, 'evt_' || g
            FROM generate_series(1, 8000) g RETURNING 1
         ), u AS (
            INSERT INTO quota_usage (customer_id, quota, period_start, period_end, used)
            SELECT 'cus_' || g, 'api_requests', now() - interval '10 days', now() + interval '20 days', (g * 37) % 60000
            FROM generate_series(1, 10000) g RETURNING 1
         )
         INSERT INTO stripe_webhook_events (event_id, type, created, livemode, object_id, payload, received_at, processed_at, status, applied, error)
         SELECT 'evt_bench_' || g, 'customer.subscription.updated', g, false, 'sub_' || (g % 8000), '{}'::jsonb,
                now() - make_interval(secs => (g * 50)::int), now(), CASE WHEN g % 100 = 0 THEN 'failed' ELSE 'processed' END,
                g % 100 <> 0, CASE WHEN g % 100 = 0 THEN 'seeded failure' END
         FROM generate_series(1, 50000) g",
    ),
];

/// The calls, in statements of a million (each statement's summary deltas are one aggregate of
/// its rows, made by the insert trigger): `$1` the first call's number, `$2` the last's, `$3`
/// the total (they are spread evenly over 30 days back from now).
const SEED_CALLS: &str = "INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, created_at)
     SELECT CASE WHEN g % 100 < 95 THEN '/movie/{id}' WHEN g % 100 < 98 THEN '/movie/popular' ELSE '/movie/changes' END,
            CASE WHEN g % 100 < 95 THEN g % 1000000 END,
            CASE WHEN g % 1000 < 10 THEN 429 WHEN g % 1000 < 15 THEN 404 WHEN g % 1000 < 17 THEN 500 WHEN g % 1000 = 17 THEN NULL ELSE 200 END,
            40 + ((g * 7919) % 400)::int + CASE WHEN g % 1000 = 17 THEN 10000 ELSE 0 END,
            CASE WHEN g % 100 < 3 THEN 2 ELSE 1 END,
            CASE WHEN g % 10 = 0 THEN 'scheduled-ingest' ELSE 'daily-refresh' END,
            now() - make_interval(secs => 2592000.0 * g / $3::int8)
     FROM generate_series($1::int8, $2::int8) AS g";

const CALLS_PER_STATEMENT: i64 = 1_000_000;

pub struct PageTime {
    pub path: String,
    pub bytes: usize,
    pub samples: Vec<Duration>,
}

pub struct Figures {
    pub size: Size,
    /// `None`: the database of an earlier run was used as it was.
    pub seeded: Option<Vec<(String, Duration)>>,
    pub pages: Vec<PageTime>,
    /// (statement, plan) of every statement behind the overview, with `--explain`.
    pub plans: Vec<(String, String)>,
}

/// What an earlier run seeded, if anything.
async fn seeded_size(conn: &impl Connection) -> Option<Size> {
    let rows = conn.query("SELECT works, runs, api_logs FROM bench_dashboard_seed", &[]).await.ok()?;
    let r = rows.first()?;
    Some(Size { works: r.get("works").ok()?, runs: r.get("runs").ok()?, api_logs: r.get("api_logs").ok()? })
}

async fn seed(conn: &impl Connection, size: Size) -> anyhow::Result<Vec<(String, Duration)>> {
    let mut took = Vec::new();
    for (table, takes, sql) in SEED {
        let started = Instant::now();
        let params: Vec<Value> = match takes {
            Takes::Nothing => vec![],
            Takes::Works => vec![size.works.into()],
            Takes::Runs => vec![size.runs.into()],
        };
        conn.execute(sql, &params).await.with_context(|| format!("seeding {table}"))?;
        took.push((table.to_string(), started.elapsed()));
        eprintln!("  seeded {table} in {:.1} s", started.elapsed().as_secs_f64());
    }
    let started = Instant::now();
    let mut first = 1;
    while first <= size.api_logs {
        let last = (first + CALLS_PER_STATEMENT - 1).min(size.api_logs);
        conn.execute(SEED_CALLS, &[first.into(), last.into(), size.api_logs.into()])
            .await
            .context("seeding tmdb_api_logs")?;
        eprintln!("  seeded tmdb_api_logs up to {last} ({:.0} s)", started.elapsed().as_secs_f64());
        first = last + 1;
    }
    while marquee::db::api_logs::fold_summary(conn, 1_000_000).await? > 0 {}
    took.push(("tmdb_api_logs (and its hourly summary)".into(), started.elapsed()));
    let started = Instant::now();
    conn.execute("VACUUM ANALYZE", &[]).await?;
    took.push(("VACUUM ANALYZE".into(), started.elapsed()));
    conn.execute("CREATE TABLE bench_dashboard_seed (works int8, runs int8, api_logs int8)", &[]).await?;
    conn.execute(
        "INSERT INTO bench_dashboard_seed VALUES ($1, $2, $3)",
        &[size.works.into(), size.runs.into(), size.api_logs.into()],
    )
    .await?;
    Ok(took)
}

/// A connection that, for every query, first runs `EXPLAIN (ANALYZE, BUFFERS)` of it with the
/// same parameters and keeps the plan, then runs it.
struct Explaining {
    inner: crate::native::NativeConnection,
    plans: Rc<RefCell<Vec<(String, String)>>>,
}

impl Connection for Explaining {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let plan = self.inner.query(&format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"), params).await?;
        let text: Vec<String> = plan.iter().filter_map(|r| r.get::<String>("QUERY PLAN").ok()).collect();
        self.plans.borrow_mut().push((sql.to_owned(), text.join("\n")));
        self.inner.query(sql, params).await
    }
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.inner.execute(sql, params).await
    }
}

struct ExplainingDb {
    db: NativeDb,
    plans: Rc<RefCell<Vec<(String, String)>>>,
}

impl Database for ExplainingDb {
    type Conn = Explaining;
    async fn connect(&self) -> Result<Explaining, DbError> {
        Ok(Explaining { inner: self.db.connect().await?, plans: self.plans.clone() })
    }
}

/// Seeds (unless the database already holds a catalog of this size), then times every page.
pub async fn dashboard(url: &str, size: Size, samples: usize, explain: bool) -> anyhow::Result<Figures> {
    let conn = NativeDb::new(url).connect().await?;
    let seeded = match seeded_size(&conn).await {
        Some(found) if found == size => None,
        Some(found) => bail!(
            "the bench database holds another catalog ({found:?}); drop it (DROP DATABASE marquee_bench_dashboard) or ask for that size"
        ),
        None => {
            eprintln!(
                "seeding {} works, {} runs, {} TMDB calls (once; later runs reuse them)",
                size.works, size.runs, size.api_logs
            );
            Some(seed(&conn, size).await?)
        }
    };

    // An operator's view: the native server, signed in through the form.
    // A random admin token for the bench's own server (never printed).
    let admin_token = marquee::dashboard::session::new_session_id().context("no random admin token")?;
    let settings = NativeSettings::default().with("database_url", url).with("admin_token", admin_token.clone());
    let server = Server::start("127.0.0.1:0".parse()?, settings.clone())?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let signed = http
        .post(format!("{}/dashboard/sign-in", server.url()))
        .form(&[("token", admin_token.as_str())])
        .send()
        .await?;
    let cookie = signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("the sign-in set no cookie")?
        .to_owned();
    let run_id: i64 = conn.query("SELECT max(id) AS id FROM scheduled_ingestion_log", &[]).await?[0]
        .get::<Option<i64>>("id")?
        .unwrap_or(1);
    let mut paths: Vec<String> = marquee::dashboard::page_paths().map(str::to_owned).collect();
    paths.push(format!("/dashboard/runs/{run_id}"));
    let mut pages = Vec::new();
    for path in paths.iter().map(String::as_str).chain(["/api/admin/stats", "/metrics"]) {
        let mut times = Vec::new();
        let mut bytes = 0;
        // One request first, not counted: a cold cache is not what an operator opening the
        // dashboard every morning sees after the first page.
        for i in 0..=samples {
            let request = http.get(format!("{}{path}", server.url()));
            let request = if path.starts_with("/dashboard") {
                request.header("cookie", &cookie)
            } else {
                request.bearer_auth(&admin_token)
            };
            let started = Instant::now();
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            let took = started.elapsed();
            if !status.is_success() {
                bail!(
                    "{path} answered {status}: {}",
                    String::from_utf8_lossy(&body).chars().take(300).collect::<String>()
                );
            }
            bytes = body.len();
            if i > 0 {
                times.push(took);
            }
        }
        pages.push(PageTime { path: path.to_owned(), bytes, samples: times });
    }
    drop(server);

    let mut plans = Vec::new();
    if explain {
        let shared = Rc::new(RefCell::new(Vec::new()));
        let db = ExplainingDb { db: NativeDb::new(url), plans: shared.clone() };
        let config = Config::load(&settings).await?;
        let app = marquee::App::new(db, NativeHttp::default(), SystemClock, config, "bench");
        marquee::dashboard::stats::overview(&app).await?;
        plans = shared.take();
    }
    Ok(Figures { size, seeded, pages, plans })
}
