//! A small catalog with known numbers for the dashboard's tests: every panel has figures a test
//! can predict exactly (the numbers are in [`Seeded`] and in the comments below). Times are
//! relative to the database's clock, so the windows (this week, 24 h, 48 h, 30 days) hold.

use marquee::ports::Database as _;
use marquee_cli::native::NativeDb;

/// What [`seed_dashboard`] wrote, as the dashboard must show it.
pub struct Seeded {
    pub works_by_status: [(&'static str, i64); 6],
    pub servable: i64,
    pub added_this_week: i64,
    pub rejected_by_reason: [(&'static str, i64); 2],
    /// Stale works by the index of their tier in `staleness::TIERS`.
    pub stale_by_tier: [(usize, i64); 3],
    pub changes_cursor: &'static str,
    pub changes_feed_error: &'static str,
    /// queued, due, processing, expired leases, failed.
    pub queue: [i64; 5],
    /// The TMDB ids of the failed queue rows.
    pub failed_tmdb_ids: [i64; 3],
    /// Runs of the last 30 days by status (succeeded, partial, failed, abandoned, running).
    pub runs_30d: [(&'static str, i64); 5],
    /// The newest run of each kind: (function, trigger, status).
    pub latest_runs: [(&'static str, &'static str, &'static str); 4],
    pub tmdb_calls: i64,
    pub tmdb_errors: i64,
    pub tmdb_by_status: [(i32, i64); 3],
    pub tmdb_p50: &'static str,
    pub tmdb_p95: &'static str,
    pub tmdb_movie_fetches: i64,
    pub tmdb_calls_per_movie: &'static str,
    pub changes_24h: i64,
    pub customers_by_tier: [(&'static str, i64); 3],
    pub subscriptions_by_status: [(&'static str, i64); 4],
    pub stripe_events: [&'static str; 3],
    /// (customer, quota, used).
    pub quota_usage: [(&'static str, &'static str, i64); 3],
}

pub const SEEDED: Seeded = Seeded {
    works_by_status: [("complete", 6), ("failed", 1), ("gone", 2), ("ingesting", 0), ("pending", 1), ("rejected", 3)],
    servable: 6,
    added_this_week: 4,
    rejected_by_reason: [("adult", 2), ("missing_title", 1)],
    // 105: released 10 days ago and due (tier 1); 104: an older schema, released 100 days ago
    // (tier 2); 106: released in 2000 and due (tier 6).
    stale_by_tier: [(1, 1), (2, 1), (6, 1)],
    changes_cursor: "2026-01-15",
    changes_feed_error: "TMDB answered 503 for /movie/changes",
    queue: [3, 2, 2, 1, 3],
    failed_tmdb_ids: [101, 601, 602],
    runs_30d: [("succeeded", 2), ("partial", 1), ("failed", 1), ("abandoned", 0), ("running", 0)],
    latest_runs: [
        ("batch-ingest", "manual", "succeeded"),
        ("daily-refresh", "manual", "abandoned"),
        ("daily-refresh", "scheduled", "partial"),
        ("scheduled-ingest", "scheduled", "failed"),
    ],
    // In the window: 14 first attempts and 6 retries of /movie/{id} (200 and 429), one
    // /movie/popular and one /movie/changes without an answer; 100 older calls outside it.
    tmdb_calls: 22,
    tmdb_errors: 3,
    tmdb_by_status: [(200, 19), (429, 2), (0, 1)],
    // Buckets: 2 ≤ 25 ms, 14 ≤ 100, 4 ≤ 200, 1 ≤ 300, 1 ≤ 10000: the 11th call and the 21st.
    tmdb_p50: "≤ 100 ms",
    tmdb_p95: "≤ 300 ms",
    tmdb_movie_fetches: 16,
    tmdb_calls_per_movie: "1.25",
    changes_24h: 3,
    customers_by_tier: [("free", 2), ("basic", 1), ("premium", 1)],
    subscriptions_by_status: [("active", 1), ("canceled", 1), ("deleted", 1), ("trialing", 1)],
    stripe_events: ["evt_applied", "evt_ignored", "evt_failed"],
    quota_usage: [("cus_c", "api_requests", 900), ("cus_a", "api_requests", 250_000), ("cus_b", "ingests", 10)],
};

/// Writes the catalog of [`SEEDED`] into a fresh, migrated database. The TMDB calls go through
/// the summary's insert trigger; those older than a day are folded into the hourly summary
/// first, so the figures add up folded and unfolded calls.
pub async fn seed_dashboard(db_url: &str, db: &tokio_postgres::Client) {
    db.batch_execute(
        "
        INSERT INTO works (tmdb_id, title, ingestion_status, release_date, schema_version, last_refreshed_at, next_refresh_at, created_at, gone_at) VALUES
          (101, 'Alpha', 'complete', current_date - 400, 2, now(), now() + interval '20 days', now(), NULL),
          (102, 'Beta', 'complete', current_date - 400, 2, now(), now() + interval '20 days', now() - interval '1 day', NULL),
          (103, 'Gamma', 'complete', current_date - 400, 2, now(), now() + interval '20 days', now() - interval '2 days', NULL),
          (104, 'Delta', 'complete', current_date - 100, 1, now(), now() + interval '5 days', now() - interval '3 days', NULL),
          (105, 'Epsilon', 'complete', current_date - 10, 2, now() - interval '3 days', now() - interval '1 day', now() - interval '30 days', NULL),
          (106, 'Zeta', 'complete', date '2000-01-01', 2, now() - interval '40 days', now() - interval '10 days', now() - interval '60 days', NULL),
          (201, NULL, 'failed', NULL, 0, NULL, NULL, now(), NULL),
          (301, 'Gone One', 'gone', NULL, 2, NULL, NULL, now(), now() - interval '2 days'),
          (302, 'Gone Two', 'gone', NULL, 2, NULL, NULL, now(), now() - interval '1 day'),
          (401, 'Adult One', 'rejected', NULL, 0, NULL, NULL, now(), NULL),
          (402, 'Adult Two', 'rejected', NULL, 0, NULL, NULL, now(), NULL),
          (403, NULL, 'rejected', NULL, 0, NULL, NULL, now(), NULL),
          (501, NULL, 'pending', NULL, 0, NULL, NULL, now(), NULL);
        INSERT INTO rejected_works (tmdb_id, reason, detail, function) VALUES
          (401, 'adult', 'adult: true', 'batch-ingest'),
          (402, 'adult', 'adult: true', 'batch-ingest'),
          (403, 'missing_title', 'no title', 'daily-refresh'),
          (301, 'not_found', 'TMDB answered 404', 'daily-refresh');
        INSERT INTO sync_state (sync_type, last_sync_at, last_sync_cursor, sync_count, last_error)
          VALUES ('tmdb_movie_changes', now() - interval '1 hour', '2026-01-15', 12, 'TMDB answered 503 for /movie/changes');

        INSERT INTO scheduled_ingestion_log (run_id, function, source, trigger_type, status, movies_checked, movies_skipped,
               movies_ingested, movies_failed, movies_queued, tmdb_calls, ingested_titles, failed_titles, duration_ms, error,
               started_at, finished_at, deadline_at) VALUES
          ('run-a', 'daily-refresh', 'queue', 'scheduled', 'succeeded', 10, 0, 10, 0, 0, 11, '{\"Alpha (2024)\"}', '{}', 12000, NULL,
           now() - interval '2 days', now() - interval '2 days' + interval '12 seconds', now() - interval '2 days' + interval '20 seconds'),
          ('run-b', 'daily-refresh', 'queue', 'scheduled', 'partial', 40, 0, 30, 2, 8, 41, '{\"Alpha (2024)\",\"Beta (2023)\"}',
           '{\"Gamma: TMDB answered 500\"}', 19500, 'the time budget ran out with 8 movies still queued',
           now() - interval '1 hour', now() - interval '1 hour' + interval '19 seconds', now() - interval '1 hour' + interval '20 seconds'),
          ('run-c', 'scheduled-ingest', 'mixed', 'scheduled', 'failed', 0, 0, 0, 0, 0, 1, '{}', '{}', 300, 'tmdb_unauthorized: TMDB refused the token',
           now() - interval '3 days', now() - interval '3 days', now() - interval '3 days' + interval '20 seconds'),
          ('run-d', 'batch-ingest', 'batch', 'manual', 'succeeded', 3, 1, 2, 0, 0, 2, '{\"Delta (2025)\",\"Zeta (2000)\"}', '{}', 2500, NULL,
           now() - interval '5 days', now() - interval '5 days', now() - interval '5 days' + interval '20 seconds'),
          ('run-e', 'daily-refresh', 'queue', 'manual', 'abandoned', 0, 0, 0, 0, 0, 0, '{}', '{}', 80000, 'no result 60 s after its deadline',
           now() - interval '40 days', now() - interval '40 days', now() - interval '40 days' + interval '20 seconds');

        INSERT INTO refresh_queue (tmdb_id, reason, status, attempts, next_attempt_at, locked_by, lease_until, last_error, processed_at) VALUES
          (701, 'stale', 'queued', 0, now() - interval '1 minute', NULL, NULL, NULL, NULL),
          (702, 'stale', 'queued', 1, now() - interval '1 minute', NULL, NULL, 'TMDB answered 500', NULL),
          (703, 'changed', 'queued', 2, now() + interval '1 hour', NULL, NULL, 'timed out', NULL),
          (704, 'stale', 'processing', 1, now(), 'runner-1', now() + interval '5 minutes', NULL, NULL),
          (705, 'stale', 'processing', 1, now(), 'runner-0', now() - interval '5 minutes', NULL, NULL),
          (101, 'changed', 'failed', 5, now(), NULL, NULL, 'TMDB answered 500 five times', now() - interval '3 hours'),
          (601, 'import', 'failed', 5, now(), NULL, NULL, 'TMDB timed out', now() - interval '2 hours'),
          (602, 'import', 'failed', 1, now(), NULL, NULL, 'TMDB answered 400: invalid id', now() - interval '1 hour'),
          (801, 'stale', 'completed', 1, now(), NULL, NULL, NULL, now()),
          (802, 'stale', 'completed', 1, now(), NULL, NULL, NULL, now()),
          (803, 'stale', 'completed', 1, now(), NULL, NULL, NULL, now()),
          (804, 'stale', 'completed', 1, now(), NULL, NULL, NULL, now());

        INSERT INTO work_change_log (work_id, changed_at, changes, function)
          SELECT work_id, now() - interval '1 hour', '{\"title\": [\"Alfa\", \"Alpha\"], \"runtime_minutes\": [100, 102]}', 'daily-refresh' FROM works WHERE tmdb_id = 101;
        INSERT INTO work_change_log (work_id, changed_at, changes, function)
          SELECT work_id, now() - interval '2 hours', '{\"vote_count\": [10, 12]}', 'daily-refresh' FROM works WHERE tmdb_id = 101;
        INSERT INTO work_change_log (work_id, changed_at, changes, function)
          SELECT work_id, now() - interval '3 hours', '{\"overview\": [null, \"A story.\"]}', 'ingest-movie' FROM works WHERE tmdb_id = 102;
        INSERT INTO work_change_log (work_id, changed_at, changes, function)
          SELECT work_id, now() - interval '3 days', '{\"tagline\": [\"Old\", \"New\"]}', 'daily-refresh' FROM works WHERE tmdb_id = 103;

        INSERT INTO stripe_prices (price_id, tier) VALUES ('price_premium', 'premium'), ('price_basic', 'basic');
        INSERT INTO customers (customer_id, email, deleted) VALUES
          ('cus_a', 'a@example.com', false), ('cus_b', 'b@example.com', false), ('cus_c', 'c@example.com', false),
          ('cus_d', 'd@example.com', false), ('cus_e', 'e@example.com', true);
        INSERT INTO subscriptions (subscription_id, customer_id, status, price_id, tier, current_period_start, current_period_end,
               deleted, last_event_created, last_event_rank, last_event_id) VALUES
          ('sub_a', 'cus_a', 'active', 'price_premium', 'premium', now() - interval '10 days', now() + interval '20 days', false, 1, 1, 'evt_1'),
          ('sub_b', 'cus_b', 'trialing', 'price_basic', 'basic', now() - interval '1 day', now() + interval '13 days', false, 1, 1, 'evt_2'),
          ('sub_d', 'cus_d', 'canceled', 'price_basic', 'basic', now() - interval '40 days', now() - interval '10 days', false, 1, 1, 'evt_3'),
          ('sub_old', 'cus_a', 'canceled', 'price_basic', 'basic', now() - interval '90 days', now() - interval '60 days', true, 1, 1, 'evt_4');
        INSERT INTO stripe_webhook_events (event_id, type, created, livemode, object_id, payload, received_at, processed_at, status, applied, error) VALUES
          ('evt_applied', 'customer.subscription.updated', 1, false, 'sub_a', '{}', now() - interval '3 hours', now(), 'processed', true, NULL),
          ('evt_ignored', 'charge.succeeded', 2, false, 'ch_1', '{}', now() - interval '2 hours', now(), 'ignored', false, NULL),
          ('evt_failed', 'customer.subscription.created', 3, false, NULL, '{}', now() - interval '1 hour', NULL, 'failed', false, 'the subscription has no customer');
        INSERT INTO quota_usage (customer_id, quota, period_start, period_end, used) VALUES
          ('cus_a', 'api_requests', now() - interval '10 days', now() + interval '20 days', 250000),
          ('cus_b', 'ingests', now() - interval '1 day', now() + interval '13 days', 10),
          ('cus_c', 'api_requests', date_trunc('month', now()), date_trunc('month', now()) + interval '1 month', 900),
          ('cus_a', 'api_requests', now() - interval '40 days', now() - interval '10 days', 999999);

        -- TMDB calls. Outside the 48-hour window: 100 calls 60 hours ago.
        INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, created_at)
          SELECT '/movie/{id}', g, 200, 90, 1, 'daily-refresh', now() - interval '60 hours' FROM generate_series(1, 100) g;
        -- 30 hours ago: 4 fetches of 90 ms.
        INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, created_at)
          SELECT '/movie/{id}', g, 200, 90, 1, 'daily-refresh', now() - interval '30 hours' FROM generate_series(1, 4) g;
        ",
    )
    .await
    .expect("seed the dashboard's catalog");
    // The older calls are folded into the hourly summary (by the library's fold); the newer
    // ones stay deltas.
    let conn = NativeDb::new(db_url).connect().await.expect("connect");
    let folded = marquee::db::api_logs::fold_summary(&conn, 1000).await.expect("fold the call summary");
    assert_eq!(folded, 2, "one delta per seeding statement");
    db.batch_execute(
        "
        -- An hour ago: 10 fetches of 80 ms, 2 throttled (20 ms), 4 retries of 150 ms, one list of
        -- 300 ms and one changes read without an answer (10 s).
        INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, created_at)
          SELECT '/movie/{id}', g, 200, 80, 1, 'daily-refresh', now() - interval '1 hour' FROM generate_series(1, 10) g;
        INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, created_at)
          SELECT '/movie/{id}', g, 429, 20, 1, 'daily-refresh', now() - interval '1 hour' FROM generate_series(11, 12) g;
        INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, created_at)
          SELECT '/movie/{id}', 11 + g % 2, 200, 150, 2 + g / 2, 'daily-refresh', now() - interval '1 hour' FROM generate_series(0, 3) g;
        INSERT INTO tmdb_api_logs (endpoint, tmdb_id, status_code, response_time_ms, attempt, edge_function, created_at) VALUES
          ('/movie/popular', NULL, 200, 300, 1, 'scheduled-ingest', now() - interval '1 hour'),
          ('/movie/changes', NULL, NULL, 10000, 1, 'daily-refresh', now() - interval '1 hour');
        ",
    )
    .await
    .expect("seed the recent TMDB calls");
}
