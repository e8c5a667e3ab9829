-- TMDB's daily id export (`movie_ids_MM_DD_YYYY.json.gz`), imported by `marquee import tmdb-ids`:
-- one row per export file (its checkpoint and counts), the ids of exports being read (for gone
-- detection once an export has been read to its end), and the queue reasons of the import.

-- One row per export, identified by its content (the CLI uses the SHA-256 of the file), so a
-- re-run of the same file resumes or is a no-op, whatever the file is called.
CREATE TABLE tmdb_exports (
    id              BIGSERIAL PRIMARY KEY,
    identity        TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,                  -- the file name, for people
    -- The checkpoint: lines 1..lines_done are imported (written in the transaction of each batch).
    lines_done      BIGINT NOT NULL DEFAULT 0,
    -- Counts over lines 1..lines_done.
    entries         BIGINT NOT NULL DEFAULT 0,      -- valid lines
    adult           BIGINT NOT NULL DEFAULT 0,      -- skipped: adult
    video           BIGINT NOT NULL DEFAULT 0,      -- `video: true` entries (imported like the others)
    duplicates      BIGINT NOT NULL DEFAULT 0,      -- an id already seen in the same batch
    in_catalog      BIGINT NOT NULL DEFAULT 0,      -- skipped: the catalog has the movie (any status but pending)
    already_queued  BIGINT NOT NULL DEFAULT 0,      -- skipped: live in the queue already
    queued          BIGINT NOT NULL DEFAULT 0,      -- newly queued (reason 'import')
    bad_lines       BIGINT NOT NULL DEFAULT 0,
    -- Set once the export was read to its end: tracked movies absent from it, and how many of
    -- them were newly queued for the refresh whose 404 marks them gone.
    absent          BIGINT,
    absent_queued   BIGINT,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at    TIMESTAMPTZ
);

-- Every id of an export being read, adult ones included (they exist on TMDB). Deleted when the
-- export completes. No index, on purpose: rows are only appended in bulk and read once, by the
-- hash anti-join of gone detection; an index would slow the import down for nothing.
CREATE TABLE tmdb_export_ids (
    export_id  BIGINT NOT NULL,
    tmdb_id    BIGINT NOT NULL
);

ALTER TABLE refresh_queue DROP CONSTRAINT refresh_queue_reason_check;
ALTER TABLE refresh_queue ADD CONSTRAINT refresh_queue_reason_check
    CHECK (reason IN ('scheduled', 'batch', 'changed', 'stale', 'manual', 'recover', 'import', 'absent'));
