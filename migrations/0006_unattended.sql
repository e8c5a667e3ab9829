-- Running unattended: runs know their deadline (so a run its invocation never closed can be
-- marked abandoned), interrupted ingests are requeued (reason 'recover'), and a gap in the
-- changes feed marks every work refreshed before it as stale, without queueing them all at once.

ALTER TABLE scheduled_ingestion_log ADD COLUMN deadline_at TIMESTAMPTZ;
ALTER TABLE scheduled_ingestion_log DROP CONSTRAINT scheduled_ingestion_log_status_check;
ALTER TABLE scheduled_ingestion_log ADD CONSTRAINT scheduled_ingestion_log_status_check
    CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'abandoned'));
-- Runs still open, for the abandoned-run sweep that every run starts with.
CREATE INDEX idx_scheduled_ingestion_log_running ON scheduled_ingestion_log (deadline_at) WHERE status = 'running';

ALTER TABLE refresh_queue DROP CONSTRAINT refresh_queue_reason_check;
ALTER TABLE refresh_queue ADD CONSTRAINT refresh_queue_reason_check
    CHECK (reason IN ('scheduled', 'batch', 'changed', 'stale', 'manual', 'recover'));

-- Works last refreshed before this instant may have missed changes (the feed had a gap longer
-- than TMDB's 14-day window): they count as stale until refreshed.
ALTER TABLE sync_state ADD COLUMN stale_before TIMESTAMPTZ;

-- Interrupted ingests, for the sweep that every run starts with.
CREATE INDEX idx_works_ingesting ON works (lease_until) WHERE ingestion_status = 'ingesting';
