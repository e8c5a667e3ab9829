-- Honest scores (`score::METHOD_VERSION` bayes-v2): a movie without votes has no score, so its
-- aggregate's value and interval are NULL (the write function writes them from the document's
-- `score` object, whose nulls `jsonb_to_record` turns into SQL NULLs). A value never comes
-- without its interval, nor an interval without its value: the audit reads the interval's
-- presence as the score's (`score::unjustified_interval_sql`).
--
-- Rows of bayes-v1 stay as they are: the schema version behind them makes every stored movie
-- stale, and its refresh writes its bayes-v2 aggregate and card.
ALTER TABLE aggregates
    ALTER COLUMN ai_score DROP NOT NULL,
    ALTER COLUMN ai_score_low DROP NOT NULL,
    ALTER COLUMN ai_score_high DROP NOT NULL,
    ADD CONSTRAINT aggregates_score_with_its_interval
        CHECK ((ai_score IS NULL) = (ai_score_low IS NULL) AND (ai_score IS NULL) = (ai_score_high IS NULL));
