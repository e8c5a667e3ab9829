-- Browsing and searching the catalog (issue 16): every work's sort keys, kept current and
-- versioned by the movie write, and its titles' words for search.
--
-- Browse pages are keyset pages in the order of a key that refreshes change (popularity, score,
-- trend, even title and release date). Plain keyset paging would skip a work that moved ahead of
-- the cursor between two pages and repeat one that moved behind it. So every page after the
-- first orders the works by their keys *as the first page saw them*: the first page's cursor
-- carries its snapshot (`pg_current_snapshot()`); a work whose current keys were written by a
-- transaction that snapshot saw is ordered by them (through the indexes below), and a work
-- written since is ordered by its newest version that snapshot saw (`work_sort_key_versions`).
-- Visibility, not time, decides: a write that was in flight when the first page was read is
-- "since", however its clock read. A work first written since the first page is not in the
-- listing; one that stopped being servable is not served (`db::browse`).
--
-- Both tables are kept by a trigger on `work_metrics_history`: the movie write
-- (`marquee_write_movie`, migration 7) inserts its metrics snapshot last, after the work, its
-- metadata and its score are written, and it is the only writer of sort keys. So the trigger
-- sees the write's values, in the write's transaction, and no write function changes.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- How titles and queries are compared: accents removed, lower case, spaces collapsed.
-- ("Amélie" and "AMELIE" are both "amelie".) Declared immutable, as unaccent wrappers are (the
-- rules file does not change under a running catalog), so that a search's query is read once,
-- when its statement is planned, and the planner sees its words (`marquee_search_query`).
CREATE FUNCTION marquee_search_key(t TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT lower(regexp_replace(btrim(unaccent('unaccent', t)), '\s+', ' ', 'g'))
$$;

-- A search query as full-text search takes it: every word, the last one also as a prefix
-- ("the godf" → 'the' & 'godf':*). Immutable: planned with its value, the statement is planned
-- for how common its words are (PostgreSQL's statistics of `search_vector`).
CREATE FUNCTION marquee_search_query(q TEXT) RETURNS TSQUERY
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsquery('simple', coalesce(array_to_string(ARRAY(
               SELECT quote_literal(w.a[i]) || CASE WHEN i = cardinality(w.a) THEN ':*' ELSE '' END
                 FROM generate_subscripts(w.a, 1) AS i ORDER BY i), ' & '), ''))
      FROM (SELECT array_remove(regexp_split_to_array(marquee_search_key(q), '[^[:alnum:]]+'), '') AS a) AS w
$$;

CREATE TABLE work_sort_keys (
    work_id        BIGINT PRIMARY KEY REFERENCES works (work_id) ON DELETE CASCADE,
    popularity     DOUBLE PRECISION NOT NULL,      -- TMDB's; 0 when it gave none
    score          DOUBLE PRECISION,               -- aggregates.ai_score; NULL without votes
    -- Popularity at this write minus the popularity known 7 days before it (the metrics
    -- history's latest snapshot at least 7 days older, else its first): 0 on a first ingest.
    trend          DOUBLE PRECISION NOT NULL,
    votes          INT NOT NULL,
    release_date   DATE,
    year           INT,
    language       TEXT,                           -- works_meta.original_language
    title_key      TEXT COLLATE "C" NOT NULL,      -- marquee_search_key(title): the title order
    original_key   TEXT COLLATE "C",               -- of the original title, when it differs
    search_vector  TSVECTOR NOT NULL,              -- the words of both, for search
    written_xid    XID8 NOT NULL DEFAULT pg_current_xact_id()
);
-- One index per order; each serves both directions. Unrated and undated works sort last
-- whatever the direction, hence two expressions for score and release date.
-- With the words: a search for common words walks the most popular works in this index alone.
CREATE INDEX idx_work_sort_keys_popularity ON work_sort_keys (popularity, work_id) INCLUDE (search_vector);
CREATE INDEX idx_work_sort_keys_trend ON work_sort_keys (trend, work_id);
CREATE INDEX idx_work_sort_keys_title ON work_sort_keys (title_key, work_id);
CREATE INDEX idx_work_sort_keys_score_desc ON work_sort_keys ((coalesce(score, -1)), work_id);
CREATE INDEX idx_work_sort_keys_score_asc ON work_sort_keys ((coalesce(score, 1000)), work_id);
CREATE INDEX idx_work_sort_keys_released_desc ON work_sort_keys ((coalesce(release_date, '-infinity'::date)), work_id);
CREATE INDEX idx_work_sort_keys_released_asc ON work_sort_keys ((coalesce(release_date, 'infinity'::date)), work_id);
-- The works written since a snapshot: xids at or above its xmin.
CREATE INDEX idx_work_sort_keys_written ON work_sort_keys (written_xid);
CREATE INDEX idx_work_sort_keys_words ON work_sort_keys USING gin (search_vector);

-- Every word of every title and original title (`db::search`): a query's misspelt word is
-- matched to the closest words titles use, then searched as words. Appended by the write
-- (`INSERT … ON CONFLICT DO NOTHING` takes no lock on a word that exists, so writers of movies
-- that share words never wait on each other); a word no title uses any more stays, harmlessly.
CREATE TABLE search_words (
    word  TEXT COLLATE "C" PRIMARY KEY
);
CREATE INDEX idx_search_words_trgm ON search_words USING gin (word gin_trgm_ops);

-- A query with its misspelt words corrected: a word no title uses is taken with the three
-- closest words titles do use (trigram similarity, at pg_trgm's default threshold); every
-- word (`every_word`) or any of them (`any_word`), the last also as a prefix.
CREATE FUNCTION marquee_search_corrected(q TEXT) RETURNS TABLE (every_word TSQUERY, any_word TSQUERY)
LANGUAGE sql STABLE AS $$
    WITH words AS (
        SELECT w.word, w.n, w.n = max(w.n) OVER () AS last
          FROM regexp_split_to_table(marquee_search_key(q), '[^[:alnum:]]+') WITH ORDINALITY AS w (word, n)
         WHERE w.word <> ''
    ),
    terms AS (
        SELECT w.n, '(' || (SELECT string_agg(quote_literal(x) || CASE WHEN w.last THEN ':*' ELSE '' END, ' | ')
                              FROM unnest(CASE WHEN EXISTS (SELECT 1 FROM search_words s WHERE s.word = w.word)
                                               THEN ARRAY[w.word]
                                               ELSE ARRAY[w.word] || ARRAY(SELECT s.word FROM search_words s
                                                                            WHERE s.word % w.word
                                                                            ORDER BY s.word <-> w.word, s.word LIMIT 3)
                                          END) AS x) || ')' AS term
          FROM words w
    )
    SELECT to_tsquery('simple', coalesce(string_agg(term, ' & ' ORDER BY n), '')),
           to_tsquery('simple', coalesce(string_agg(term, ' | ' ORDER BY n), ''))
      FROM terms
$$;

-- Every write's keys (what browse orders and filters by), with the writing transaction. A
-- cursor lives a day (`api::catalog::cursor::MAX_AGE_SECS`), and a page reads, of each work
-- written since its snapshot, the newest version that snapshot saw: so of the versions older
-- than a day only the newest can still be read, and each write removes its work's others.
CREATE TABLE work_sort_key_versions (
    id            BIGSERIAL PRIMARY KEY,
    work_id       BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    popularity    DOUBLE PRECISION NOT NULL,
    score         DOUBLE PRECISION,
    trend         DOUBLE PRECISION NOT NULL,
    votes         INT NOT NULL,
    release_date  DATE,
    year          INT,
    language      TEXT,
    title_key     TEXT COLLATE "C" NOT NULL,
    written_xid   XID8 NOT NULL DEFAULT pg_current_xact_id(),
    written_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_work_sort_key_versions_work ON work_sort_key_versions (work_id, id DESC);

-- Browse filters by company, and the only link table without an index on its key.
CREATE INDEX idx_work_companies_company ON work_companies (company_id);

-- A work's sort keys from its stored rows: the one definition, for the trigger and the backfill.
CREATE FUNCTION marquee_sort_keys_of(p_work_id BIGINT)
RETURNS TABLE (work_id BIGINT, popularity DOUBLE PRECISION, score DOUBLE PRECISION, trend DOUBLE PRECISION,
               votes INT, release_date DATE, year INT, language TEXT, title_key TEXT, original_key TEXT)
LANGUAGE sql STABLE AS $$
    SELECT w.work_id, coalesce(w.popularity, 0), a.ai_score,
           coalesce(w.popularity, 0) - coalesce(
               (SELECT h.popularity FROM work_metrics_history h
                 WHERE h.work_id = w.work_id AND h.captured_at <= latest.at - interval '7 days'
                 ORDER BY h.captured_at DESC LIMIT 1),
               (SELECT h.popularity FROM work_metrics_history h WHERE h.work_id = w.work_id
                 ORDER BY h.captured_at LIMIT 1),
               w.popularity, 0),
           coalesce(w.vote_count, 0), w.release_date, w.year, m.original_language,
           marquee_search_key(coalesce(w.title, '')),
           nullif(marquee_search_key(w.original_title), marquee_search_key(coalesce(w.title, '')))
      FROM works w
      LEFT JOIN works_meta m ON m.work_id = w.work_id
      LEFT JOIN LATERAL (SELECT g.ai_score FROM aggregates g WHERE g.work_id = w.work_id
                          ORDER BY g.computed_at DESC LIMIT 1) a ON true
      LEFT JOIN LATERAL (SELECT max(h.captured_at) AS at FROM work_metrics_history h WHERE h.work_id = w.work_id) latest ON true
     WHERE w.work_id = p_work_id
$$;

-- Current keys, a new version and the title's words, for one work, in the caller's transaction.
-- PL/pgSQL, not SQL: a session keeps the statement's plan (an SQL function's is made again on
-- every call, which cost every movie's write about a millisecond).
CREATE FUNCTION marquee_keep_sort_keys(p_work_id BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    WITH k AS (SELECT *, to_tsvector('simple', concat_ws(' ', title_key, original_key)) AS search_vector
                 FROM marquee_sort_keys_of(p_work_id)),
    current AS (
        INSERT INTO work_sort_keys AS t (work_id, popularity, score, trend, votes, release_date, year, language, title_key,
                                         original_key, search_vector, written_xid)
        SELECT k.work_id, k.popularity, k.score, k.trend, k.votes, k.release_date, k.year, k.language, k.title_key,
               k.original_key, k.search_vector, pg_current_xact_id()
          FROM k
        ON CONFLICT (work_id) DO UPDATE SET popularity = EXCLUDED.popularity, score = EXCLUDED.score, trend = EXCLUDED.trend,
               votes = EXCLUDED.votes, release_date = EXCLUDED.release_date, year = EXCLUDED.year,
               language = EXCLUDED.language, title_key = EXCLUDED.title_key, original_key = EXCLUDED.original_key,
               search_vector = EXCLUDED.search_vector, written_xid = EXCLUDED.written_xid
    ),
    vocabulary AS (
        INSERT INTO search_words (word)
        SELECT DISTINCT w FROM k CROSS JOIN unnest(tsvector_to_array(k.search_vector)) AS w
        ORDER BY w
        ON CONFLICT (word) DO NOTHING
    ),
    outlived AS (
        DELETE FROM work_sort_key_versions v
         WHERE v.work_id = p_work_id AND v.written_at < now() - interval '1 day'
           AND v.id < (SELECT max(n.id) FROM work_sort_key_versions n
                        WHERE n.work_id = p_work_id AND n.written_at < now() - interval '1 day')
    )
    INSERT INTO work_sort_key_versions (work_id, popularity, score, trend, votes, release_date, year, language, title_key)
    SELECT k.work_id, k.popularity, k.score, k.trend, k.votes, k.release_date, k.year, k.language, k.title_key FROM k;
END
$$;

CREATE FUNCTION marquee_sort_keys_trigger() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM marquee_keep_sort_keys(NEW.work_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER work_metrics_history_keeps_sort_keys AFTER INSERT ON work_metrics_history
    FOR EACH ROW EXECUTE FUNCTION marquee_sort_keys_trigger();

-- The works written before this migration.
SELECT marquee_keep_sort_keys(w.work_id) FROM works w
 WHERE EXISTS (SELECT 1 FROM work_metrics_history h WHERE h.work_id = w.work_id);
