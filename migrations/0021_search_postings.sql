-- Title search at a bounded cost (issue 16): per word, its works in popularity order.
--
-- Search returns the best of the most popular works that have every word of the query. Through
-- the words' GIN index, that meant fetching every work with the query's words and sorting them
-- (thousands of rows for a word one title in thirty uses); walking the popularity index instead
-- meant reading past every work without them (tens of thousands for two such words). Here each
-- word keeps its works in popularity order (`search_postings`, kept by a trigger on
-- `work_sort_keys`, in the movie write's transaction), each with the title's words: a search
-- walks one of its words' postings, most popular first, and stops at the 40th work that has the
-- other words too. A work without them costs one index entry; a work with them, one more lookup.
-- The search is one PL/pgSQL function (`marquee_search`), so its statements keep their plans for
-- the session: the route plans nothing per request.

-- What customers may read (`db::predicates::SERVABLE` is a call of it, so the rule has one
-- home): complete works, and complete works being refreshed right now (their lease says
-- `ingesting`, their data is still there); never gone, refused or half-ingested works. Only a
-- write sets `last_refreshed_at`, so it tells a refresh from a first ingest. An SQL expression:
-- PostgreSQL inlines it into every statement that calls it.
CREATE FUNCTION marquee_servable(ingestion_status TEXT, last_refreshed_at TIMESTAMPTZ) RETURNS BOOLEAN
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ingestion_status = 'complete' OR (ingestion_status = 'ingesting' AND last_refreshed_at IS NOT NULL)
$$;

-- Every word of every work's titles (`work_sort_keys.search_vector`), with the work's
-- popularity and all its words: the index walks one word's works, most popular first, and
-- tests the other words without leaving the index.
CREATE TABLE search_postings (
    word           TEXT COLLATE "C" NOT NULL,
    popularity     DOUBLE PRECISION NOT NULL,
    work_id        BIGINT NOT NULL,
    search_vector  TSVECTOR NOT NULL,
    PRIMARY KEY (word, popularity, work_id) INCLUDE (search_vector)
);
-- A write replaces its work's postings.
CREATE INDEX idx_search_postings_work ON search_postings (work_id);

-- The postings a work's sort keys give: the one definition, for the trigger, the backfill and
-- the audit (`db::audit`).
CREATE VIEW search_postings_expected AS
SELECT DISTINCT w.word, k.popularity, k.work_id, k.search_vector
  FROM work_sort_keys k CROSS JOIN unnest(tsvector_to_array(k.search_vector)) AS w (word);

INSERT INTO search_postings (word, popularity, work_id, search_vector)
SELECT e.word, e.popularity, e.work_id, e.search_vector FROM search_postings_expected e;

-- A work's postings written again from its sort keys (removed, when it has none).
CREATE FUNCTION marquee_write_search_postings(p_work_id BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_postings p WHERE p.work_id = p_work_id;
    INSERT INTO search_postings (word, popularity, work_id, search_vector)
    SELECT e.word, e.popularity, e.work_id, e.search_vector FROM search_postings_expected e WHERE e.work_id = p_work_id;
END
$$;

-- A work's postings follow its sort keys: written when its words or its popularity change,
-- removed with it.
CREATE FUNCTION marquee_keep_search_postings() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.popularity = NEW.popularity AND OLD.search_vector = NEW.search_vector THEN
        RETURN NULL;
    END IF;
    PERFORM marquee_write_search_postings(CASE WHEN TG_OP = 'DELETE' THEN OLD.work_id ELSE NEW.work_id END);
    RETURN NULL;
END
$$;

CREATE TRIGGER work_sort_keys_keep_search_postings
    AFTER INSERT OR DELETE OR UPDATE OF popularity, search_vector ON work_sort_keys
    FOR EACH ROW EXECUTE FUNCTION marquee_keep_search_postings();

-- Search no longer reads the words through this index; the writes no longer keep it.
DROP INDEX idx_work_sort_keys_words;

-- The words a query may stand for, per word of it (`n`, in order; `key` is the query as
-- `marquee_search_key` makes it): the word itself, the last one also as a prefix ("the godf"
-- finds "The Godfather"); when `corrected`, a word no title uses also stands for the three
-- closest words titles do use (trigram similarity at pg_trgm's default threshold: "godfathr" →
-- "godfather"), the last again as prefixes.
CREATE FUNCTION marquee_search_alternatives(key TEXT, corrected BOOLEAN)
RETURNS TABLE (n INT, word TEXT, prefix BOOLEAN)
LANGUAGE sql STABLE AS $$
    WITH words AS (
        SELECT w.word, w.n::int AS n, w.n = max(w.n) OVER () AS last
          FROM regexp_split_to_table(key, '[^[:alnum:]]+') WITH ORDINALITY AS w (word, n)
         WHERE w.word <> ''
    )
    SELECT w.n, a.word, w.last
      FROM words w
     CROSS JOIN LATERAL unnest(CASE WHEN NOT corrected OR EXISTS (SELECT 1 FROM search_words s WHERE s.word = w.word)
                                    THEN ARRAY[w.word]
                                    ELSE ARRAY[w.word] || ARRAY(SELECT s.word FROM search_words s
                                                                 WHERE s.word % w.word
                                                                 ORDER BY s.word <-> w.word, s.word LIMIT 3)
                               END) AS a (word)
$$;

-- A search: the `lim` best short cards (a JSON array) for the query `q`.
--
-- 1. Candidates: the 40 (or `lim`, if more) most popular servable works whose titles (or
--    original titles) have every word of the query (each word or one of its alternatives),
--    found by walking the postings of one word, the longest (the most telling, and a short
--    last word may stand for many words as a prefix), merged over the vocabulary words it
--    stands for; a word that stands for more than 20 (a one-letter prefix) is common enough
--    that walking the popularity index itself finds them sooner. A work whose title is the
--    query is a candidate too.
-- 2. Typos: when no work has every word as typed, again with every word corrected; when no
--    work has every corrected word either, works with any of them ("godfather 1972" still
--    finds The Godfather), walking the postings of all their words.
-- 3. Rank, in decreasing weight: every query word present as typed (1.0); the best word
--    similarity of the query to the title, or to the original title (0.9 of it, so a title
--    match ranks above an original-title match); half the share of the title the query's
--    length covers ("The Godfather" before "The Godfather Part II" for "godfather", "Crooked
--    Storm" before "Crooked Storm 5"; the trigram similarity of the whole title, used before,
--    cost about an eighth of a search); popularity, at most 0.1 (log scale), to order
--    near-ties as people expect.
CREATE FUNCTION marquee_search(q TEXT, lim BIGINT) RETURNS JSONB
LANGUAGE plpgsql STABLE
-- Plans that do not depend on the query's words: made once per session, never per search.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    key CONSTANT TEXT := marquee_search_key(q);
    typed CONSTANT TSQUERY := plainto_tsquery('simple', key);
    candidates CONSTANT INT := greatest(lim, 40);
    widest CONSTANT INT := 20;
    found BIGINT[] := '{}';
    wanted TSQUERY;     -- what a candidate must have: every word (or any, in the last pass)
    every_word_known BOOLEAN;
    expansions TEXT[];
    pass TEXT;
BEGIN
    FOREACH pass IN ARRAY ARRAY['as typed', 'corrected', 'any word'] LOOP
        -- Per word of the query, what it may stand for and which words of the titles those are;
        -- what a candidate must have; and the words whose postings are walked (those of the
        -- longest word, or of every word in the last pass).
        WITH a AS (
            SELECT a.n, a.word, a.prefix,
                   ARRAY(SELECT s.word FROM search_words s
                          WHERE s.word >= a.word COLLATE "C"
                            AND s.word <= (a.word || CASE WHEN a.prefix THEN chr(1114111) ELSE '' END) COLLATE "C"
                          LIMIT widest + 1) AS titles_words
              FROM marquee_search_alternatives(key, pass <> 'as typed') a
        ),
        t AS (
            SELECT a.n, max(length(a.word)) AS longest, sum(cardinality(a.titles_words)) > 0 AS known,
                   '(' || string_agg(quote_literal(a.word) || CASE WHEN a.prefix THEN ':*' ELSE '' END, ' | ') || ')'
                       AS alternatives
              FROM a GROUP BY a.n
        )
        SELECT to_tsquery('simple', string_agg(t.alternatives, CASE WHEN pass = 'any word' THEN ' | ' ELSE ' & ' END
                                               ORDER BY t.n)),
               bool_and(t.known),
               ARRAY(SELECT DISTINCT w.word FROM a CROSS JOIN unnest(a.titles_words) AS w (word)
                      WHERE pass = 'any word'
                         OR a.n = (SELECT l.n FROM t l ORDER BY l.longest DESC, l.n DESC LIMIT 1)
                      LIMIT widest + 1)
          INTO wanted, every_word_known, expansions
          FROM t;
        EXIT WHEN wanted IS NULL;  -- no words
        -- A word that stands for no word of any title: no work has every word.
        CONTINUE WHEN pass <> 'any word' AND NOT every_word_known;
        IF cardinality(expansions) > widest THEN
            found := ARRAY(
                SELECT k.work_id FROM work_sort_keys k
                  JOIN works w ON w.work_id = k.work_id AND marquee_servable(w.ingestion_status, w.last_refreshed_at)
                 WHERE k.search_vector @@ wanted
                 ORDER BY k.popularity DESC, k.work_id DESC LIMIT candidates);
        ELSE
            found := ARRAY(
                SELECT c.work_id
                  FROM unnest(expansions) AS v (word)
                 CROSS JOIN LATERAL (
                        SELECT p.work_id, p.popularity FROM search_postings p
                          JOIN works w ON w.work_id = p.work_id AND marquee_servable(w.ingestion_status, w.last_refreshed_at)
                         WHERE p.word = v.word AND p.search_vector @@ wanted
                         ORDER BY p.popularity DESC, p.work_id DESC LIMIT candidates) c
                 GROUP BY c.work_id, c.popularity
                 ORDER BY c.popularity DESC, c.work_id DESC LIMIT candidates);
        END IF;
        EXIT WHEN cardinality(found) > 0;
    END LOOP;
    -- A work titled exactly as the query is a candidate however unpopular ("Love" among a
    -- thousand more popular titles with the word).
    found := found || ARRAY(
        SELECT k.work_id FROM work_sort_keys k
          JOIN works w ON w.work_id = k.work_id AND marquee_servable(w.ingestion_status, w.last_refreshed_at)
         WHERE k.title_key = key COLLATE "C" AND k.work_id <> ALL (found)
         ORDER BY k.work_id LIMIT candidates);
    RETURN (
        SELECT coalesce(jsonb_agg(c.payload_short ORDER BY r.rank DESC, r.work_id), '[]'::jsonb)
          FROM (SELECT k.work_id,
                       (CASE WHEN k.search_vector @@ typed THEN 1.0 ELSE 0.0 END)
                       + greatest(word_similarity(key, k.title_key), 0.9 * coalesce(word_similarity(key, k.original_key), 0))
                       + 0.5 * least(length(key), length(k.title_key))::float8
                             / greatest(length(key), length(k.title_key), 1)
                       + 0.1 * least(ln(1 + greatest(k.popularity, 0)) / ln(1001), 1) AS rank
                  FROM work_sort_keys k WHERE k.work_id = ANY (found)
                 ORDER BY rank DESC, k.work_id LIMIT lim) r
          JOIN work_cards_cache c ON c.work_id = r.work_id);
END
$$;

-- Replaced by `marquee_search` and `marquee_search_alternatives`.
DROP FUNCTION marquee_search_query(TEXT);
DROP FUNCTION marquee_search_corrected(TEXT);
