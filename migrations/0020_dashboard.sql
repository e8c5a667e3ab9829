-- The operator dashboard (`/dashboard`, `GET /api/admin/stats`, `GET /metrics`): its sessions,
-- the sign-in throttle shared by every invocation, the TMDB call summary its charts read, and
-- the indexes its panels need on a catalog of a million works (`marquee bench dashboard`).

-- Signed-in dashboard sessions. The cookie carries the id, its expiry and an HMAC of both under
-- a key derived from the admin token; this row is what sign-out revokes (a copied cookie stops
-- working too). Rows are pruned a day after they expire, at sign-in.
CREATE TABLE dashboard_sessions (
    session_id     TEXT PRIMARY KEY,          -- 128 random bits, hex
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ NOT NULL,
    signed_out_at  TIMESTAMPTZ
);
CREATE INDEX idx_dashboard_sessions_expires ON dashboard_sessions (expires_at);

-- Guessing the admin token through the sign-in form: every attempt takes a slot, and after
-- failures the slots are spaced out (the library's `dashboard::throttle` decides by how much).
-- Invocations share nothing but PostgreSQL, so the spacing lives here: concurrent attempts take
-- consecutive slots under the row lock, and none can skip the queue by running elsewhere.
CREATE TABLE dashboard_sign_in_throttle (
    scope            TEXT PRIMARY KEY,        -- what is guessed: 'admin_token'
    failures         INT NOT NULL DEFAULT 0,  -- consecutive failures (a success resets them)
    last_failure_at  TIMESTAMPTZ,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);

-- TMDB calls summarised by hour (UTC), endpoint, status (0: no response), first attempt or
-- retry, and latency bucket (`latency_le_ms`: the bucket's upper bound in ms, 2147483647 for
-- "more"), so that 48 hours of charts read a few thousand rows instead of millions of calls.
-- Kept by append-only deltas, like the catalog aggregates (migration 11): a statement that
-- inserts calls appends its own summary rows to `tmdb_api_call_deltas` (no unique key, so
-- concurrent writers never wait on each other), and `db::api_logs::fold_summary` moves them
-- into `tmdb_api_calls_hourly` in one statement (DELETE … RETURNING feeding an upsert: a delta
-- is counted once, whatever runs at the same time). Readers add both tables up, so nothing is
-- missing between folds.
CREATE TABLE tmdb_api_calls_hourly (
    hour            TIMESTAMPTZ NOT NULL,
    endpoint        TEXT NOT NULL,
    status_code     INT NOT NULL,
    first_attempt   BOOLEAN NOT NULL,
    latency_le_ms   INT NOT NULL,
    calls           BIGINT NOT NULL,
    latency_ms_sum  BIGINT NOT NULL,
    PRIMARY KEY (hour, endpoint, status_code, first_attempt, latency_le_ms)
);

CREATE TABLE tmdb_api_call_deltas (
    hour            TIMESTAMPTZ NOT NULL,
    endpoint        TEXT NOT NULL,
    status_code     INT NOT NULL,
    first_attempt   BOOLEAN NOT NULL,
    latency_le_ms   INT NOT NULL,
    calls           BIGINT NOT NULL,
    latency_ms_sum  BIGINT NOT NULL
);
CREATE INDEX idx_tmdb_api_call_deltas_hour ON tmdb_api_call_deltas (hour);

-- The latency buckets (upper bounds in ms, as Prometheus histograms have them). The one place
-- they are defined: readers take the bounds from the rows.
CREATE FUNCTION marquee_latency_le_ms(ms INT) RETURNS INT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ms <= 10 THEN 10 WHEN ms <= 25 THEN 25 WHEN ms <= 50 THEN 50 WHEN ms <= 100 THEN 100
                WHEN ms <= 200 THEN 200 WHEN ms <= 300 THEN 300 WHEN ms <= 500 THEN 500 WHEN ms <= 750 THEN 750
                WHEN ms <= 1000 THEN 1000 WHEN ms <= 2000 THEN 2000 WHEN ms <= 5000 THEN 5000
                WHEN ms <= 10000 THEN 10000 ELSE 2147483647 END
$$;

CREATE FUNCTION marquee_summarise_tmdb_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tmdb_api_call_deltas (hour, endpoint, status_code, first_attempt, latency_le_ms, calls, latency_ms_sum)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, coalesce(status_code, 0),
           attempt <= 1, marquee_latency_le_ms(response_time_ms), count(*), sum(response_time_ms)
    FROM new_calls
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END
$$;

-- The calls logged before this migration, summarised once; the table is locked against inserts
-- until the trigger exists, so that no call is summarised twice or missed.
LOCK TABLE tmdb_api_logs IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO tmdb_api_calls_hourly (hour, endpoint, status_code, first_attempt, latency_le_ms, calls, latency_ms_sum)
SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, coalesce(status_code, 0),
       attempt <= 1, marquee_latency_le_ms(response_time_ms), count(*), sum(response_time_ms)
FROM tmdb_api_logs
GROUP BY 1, 2, 3, 4, 5;
CREATE TRIGGER tmdb_api_logs_summarise AFTER INSERT ON tmdb_api_logs
    REFERENCING NEW TABLE AS new_calls FOR EACH STATEMENT EXECUTE FUNCTION marquee_summarise_tmdb_calls();

-- Works by status, counted as they change, for the catalog panel: counting a million rows
-- takes longer than a page may. Deltas again (appends, never a hot counter row that every
-- writer would queue on): a row trigger appends -1 for a work's old (status, refreshed) and +1
-- for its new one when either changes (`refreshed`: `last_refreshed_at` is set, what tells a
-- refresh in flight, still servable, from a first ingest); inserts and deletes append one
-- delta per statement. `db::works::fold_counts` folds them into `works_counts`;
-- `db::works::summarised_counts` adds both up.
CREATE TABLE works_counts (
    ingestion_status  TEXT NOT NULL,
    refreshed         BOOLEAN NOT NULL,
    works             BIGINT NOT NULL,
    PRIMARY KEY (ingestion_status, refreshed)
);

CREATE TABLE works_count_deltas (
    ingestion_status  TEXT NOT NULL,
    refreshed         BOOLEAN NOT NULL,
    works             BIGINT NOT NULL
);

CREATE FUNCTION marquee_count_changed_work() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO works_count_deltas (ingestion_status, refreshed, works)
    VALUES (OLD.ingestion_status, OLD.last_refreshed_at IS NOT NULL, -1),
           (NEW.ingestion_status, NEW.last_refreshed_at IS NOT NULL, 1);
    RETURN NULL;
END
$$;

CREATE FUNCTION marquee_count_inserted_works() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO works_count_deltas (ingestion_status, refreshed, works)
    SELECT ingestion_status, last_refreshed_at IS NOT NULL, count(*) FROM new_works GROUP BY 1, 2;
    RETURN NULL;
END
$$;

CREATE FUNCTION marquee_count_deleted_works() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO works_count_deltas (ingestion_status, refreshed, works)
    SELECT ingestion_status, last_refreshed_at IS NOT NULL, -count(*) FROM old_works GROUP BY 1, 2;
    RETURN NULL;
END
$$;

-- The works there are, counted once, under a lock that keeps writers out until the triggers
-- count their changes.
LOCK TABLE works IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO works_counts (ingestion_status, refreshed, works)
SELECT ingestion_status, last_refreshed_at IS NOT NULL, count(*) FROM works GROUP BY 1, 2;
-- Only updates that change what is counted run the function (the WHEN is checked without it).
CREATE TRIGGER works_count_updates AFTER UPDATE OF ingestion_status, last_refreshed_at ON works FOR EACH ROW
    WHEN (OLD.ingestion_status IS DISTINCT FROM NEW.ingestion_status
          OR (OLD.last_refreshed_at IS NULL) IS DISTINCT FROM (NEW.last_refreshed_at IS NULL))
    EXECUTE FUNCTION marquee_count_changed_work();
CREATE TRIGGER works_count_inserts AFTER INSERT ON works
    REFERENCING NEW TABLE AS new_works FOR EACH STATEMENT EXECUTE FUNCTION marquee_count_inserted_works();
CREATE TRIGGER works_count_deletes AFTER DELETE ON works
    REFERENCING OLD TABLE AS old_works FOR EACH STATEMENT EXECUTE FUNCTION marquee_count_deleted_works();

-- The panels' reads, each an index range or a short index walk (EXPLAINed in the README):
-- works added this week;
CREATE INDEX idx_works_created_at ON works (created_at);
-- stale works: the predicate's "never refreshed" half among complete works only (the full
-- index also holds every work that was never ingested, a bitmap of them all to filter out);
CREATE INDEX idx_works_complete_last_refreshed ON works (last_refreshed_at) WHERE ingestion_status = 'complete';
-- the tier of each stale work: its status read from the index alone (a status rarely changes,
-- so the movie's write keeps its heap-only updates);
CREATE INDEX idx_works_meta_release_status ON works_meta (work_id) INCLUDE (release_status);
-- the rejected works' reasons: their ids without a visit to each row;
CREATE INDEX idx_works_rejected ON works (tmdb_id) WHERE ingestion_status = 'rejected';
-- the last run of each kind (a skip scan over function and trigger) and runs by time;
CREATE INDEX idx_scheduled_ingestion_log_kind ON scheduled_ingestion_log (function, trigger_type, started_at DESC);
CREATE INDEX idx_scheduled_ingestion_log_started ON scheduled_ingestion_log (started_at DESC);
-- the newest field-level changes;
CREATE INDEX idx_work_change_log_changed_at ON work_change_log (changed_at DESC);
-- the newest dead queue rows;
CREATE INDEX idx_refresh_queue_failed ON refresh_queue (processed_at DESC, id DESC) WHERE status = 'failed';
-- the newest Stripe deliveries;
CREATE INDEX idx_stripe_webhook_events_received ON stripe_webhook_events (received_at DESC, id DESC);
-- the newest refusals and gone movies.
CREATE INDEX idx_rejected_works_last_seen ON rejected_works (last_seen_at DESC);
CREATE INDEX idx_works_gone_at ON works (gone_at DESC) WHERE ingestion_status = 'gone';
