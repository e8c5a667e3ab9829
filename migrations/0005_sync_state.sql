-- Sync cursors: one row per sync type (the old proposal's columns, plus the last error).
-- For 'tmdb_movie_changes', last_sync_cursor is the last UTC day (YYYY-MM-DD) whose
-- /movie/changes pages were all read and queued.
CREATE TABLE sync_state (
    id                BIGSERIAL PRIMARY KEY,
    sync_type         TEXT UNIQUE NOT NULL,
    last_sync_at      TIMESTAMPTZ,
    last_sync_cursor  TEXT,
    sync_count        INT NOT NULL DEFAULT 0,
    last_error        TEXT,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Stale selection reads rows by schema version too (the other half is idx_works_next_refresh).
CREATE INDEX idx_works_schema_version ON works (schema_version) WHERE ingestion_status = 'complete';
