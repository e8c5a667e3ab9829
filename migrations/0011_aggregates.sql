-- Aggregates of the catalog's shared entities (people, genres, keywords, companies, collections),
-- for the API and the dashboard: how many servable works each has, and their scores and releases.
--
-- They are kept by deferred recompute of touched keys, not by deltas inside each movie's write:
-- a popular genre is touched by almost every movie, and `UPDATE … SET works = works + 1` there
-- would make every concurrent writer queue on that one row. Instead a movie's write appends the
-- keys it touches (before and after) to `aggregate_dirty`, a table without a unique key, so
-- appends never wait on each other; a fold (`db::aggregates::fold`, at the end of every run and
-- on demand) takes a batch of marks, recomputes exactly those keys from the facts, and
-- `marquee aggregates recompute` rebuilds everything. The audit compares both.

CREATE TABLE aggregate_dirty (
    kind       TEXT NOT NULL CHECK (kind IN ('person', 'genre', 'keyword', 'company', 'collection')),
    key_id     BIGINT NOT NULL,
    marked_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE catalog_aggregates (
    kind            TEXT NOT NULL CHECK (kind IN ('person', 'genre', 'keyword', 'company', 'collection')),
    key_id          BIGINT NOT NULL,
    works           INT NOT NULL,        -- servable works
    cast_works      INT,                 -- people only: works they are in the cast of
    crew_works      INT,                 -- people only: works they are in the crew of
    first_release   DATE,
    latest_release  DATE,
    scored_works    INT NOT NULL,        -- works that have a score (votes)
    mean_score      DOUBLE PRECISION,    -- of those, rounded to 4 decimals; NULL when none
    total_votes     BIGINT NOT NULL,
    computed_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, key_id)
);
-- Browsing by size (the API's genre list, the dashboard's top people).
CREATE INDEX idx_catalog_aggregates_works ON catalog_aggregates (kind, works DESC);

-- The keys a work counts towards, from its stored rows: what a write (before it replaces them)
-- or a refusal (the work leaves the catalog) marks dirty.
CREATE FUNCTION marquee_work_keys(p_work_id BIGINT) RETURNS TABLE (kind TEXT, key_id BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT 'person', person_id FROM credits WHERE work_id = p_work_id
    UNION SELECT 'genre', genre_id FROM work_genres WHERE work_id = p_work_id
    UNION SELECT 'keyword', keyword_id FROM work_keywords WHERE work_id = p_work_id
    UNION SELECT 'company', company_id FROM work_companies WHERE work_id = p_work_id
    UNION SELECT 'collection', collection_id FROM works_meta WHERE work_id = p_work_id AND collection_id IS NOT NULL
$$;
