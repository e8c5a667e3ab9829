-- The work queue and the run log.

-- Movies waiting to be ingested or refreshed. The old proposal's columns are kept
-- (retry_count is derived from attempts); a row is claimed with FOR UPDATE SKIP LOCKED and a
-- lease, and every finish or fail checks that lease.
CREATE TABLE refresh_queue (
    id               BIGSERIAL PRIMARY KEY,
    tmdb_id          BIGINT NOT NULL,
    work_id          BIGINT REFERENCES works (work_id) ON DELETE SET NULL,  -- known once ingested
    priority         INT NOT NULL DEFAULT 0,                                -- higher first
    reason           TEXT NOT NULL CHECK (reason IN ('scheduled', 'batch', 'changed', 'stale', 'manual')),
    status           TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    attempts         INT NOT NULL DEFAULT 0,
    retry_count      INT GENERATED ALWAYS AS (greatest(attempts - 1, 0)) STORED,
    max_attempts     INT NOT NULL DEFAULT 5,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_by        TEXT,
    lease_until      TIMESTAMPTZ,
    last_error       TEXT,
    queued_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- A movie is queued at most once while its row is live.
CREATE UNIQUE INDEX refresh_queue_one_live_row ON refresh_queue (tmdb_id) WHERE status IN ('queued', 'processing');
-- The claim order.
CREATE INDEX idx_refresh_queue_due ON refresh_queue (priority DESC, next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX idx_refresh_queue_leases ON refresh_queue (lease_until) WHERE status = 'processing';
CREATE INDEX idx_refresh_queue_status ON refresh_queue (status);

-- One row per run of a function (the old code's columns, plus what a run log needs).
CREATE TABLE scheduled_ingestion_log (
    id               BIGSERIAL PRIMARY KEY,
    run_id           TEXT NOT NULL UNIQUE,
    function         TEXT NOT NULL,
    source           TEXT NOT NULL,          -- popular, now_playing, trending, mixed, batch, queue
    status           TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
    movies_checked   INT NOT NULL DEFAULT 0,
    movies_skipped   INT NOT NULL DEFAULT 0,
    movies_ingested  INT NOT NULL DEFAULT 0,
    movies_failed    INT NOT NULL DEFAULT 0,
    movies_queued    INT NOT NULL DEFAULT 0,
    tmdb_calls       INT NOT NULL DEFAULT 0,
    ingested_titles  TEXT[] NOT NULL DEFAULT '{}',   -- "Title (Year)"
    failed_titles    TEXT[] NOT NULL DEFAULT '{}',   -- "Title: Error"
    duration_ms      INT,
    trigger_type     TEXT NOT NULL DEFAULT 'manual',
    error            TEXT,
    started_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_scheduled_ingestion_log_created_at ON scheduled_ingestion_log (created_at DESC);
CREATE INDEX idx_scheduled_ingestion_log_source ON scheduled_ingestion_log (source);
