-- One movie's write in one statement. With the database across a network, every statement costs
-- two round trips (the Spin host and tokio-postgres both prepare it, then execute it), so the
-- 41 statements of a movie's write took ~80 round trips. This function does the same writes, in
-- the same order and with the same locking rules, inside the one statement that calls it
-- (`SELECT marquee_write_movie(...)`, autocommit: the statement is the transaction). PL/pgSQL
-- plans each statement once per session.
--
-- `m` is the normalised movie, built by `db::catalog::write_movie`:
--   work     the hot `works` columns, the schema version, refreshed_at and next_refresh_at
--            (UTC timestamps without zone)
--   meta     `works_meta` columns;  raw, raw_sha256  the TMDB response and its hash
--   facts    one JSON array of rows per table (people, credits, genres, keywords, companies,
--            collection, release_dates, videos, images, providers, provider_offers, similar)
--   rating   the TMDB rating source;  score  the aggregate;  card  the card, short card, ETag
--   changes  the change-log entry ({} when nothing changed);  function  who writes
--   fingerprint  per table, the digest of the rows above (`db::fingerprint`)
--
-- Returns false, having written nothing, when `p_owner` no longer holds the movie's ingest lease
-- (another invocation took it over).
--
-- Rows shared between movies (people, genres, keywords, companies, providers, collections) are
-- inserted when new without locking existing ones (`DO NOTHING` locks nothing), and updated only
-- when a compared value changed, locked `FOR NO KEY UPDATE` in key order so that concurrent
-- writers cannot deadlock each other (`FOR UPDATE` would also block other movies' foreign-key
-- checks on these rows). Values that drift constantly (a person's popularity) are written along
-- with a change but never force one.
--
-- Every statement here touches a movie's own rows and a few shared rows, by key. PL/pgSQL keeps
-- each statement's plan for the session, and a plan made while a table was small (a fresh
-- catalog being backfilled, before autovacuum analyses it) would scan the whole table on every
-- later call: with sequential scans off, the plans are index lookups however the tables grew.
-- What the write records with the response, for the catalog audit (`db::fingerprint`): the
-- projection's fingerprint (per table, the digest of the rows the response gives it, computed
-- from the write document before any SQL touched it) and PostgreSQL's hash of the response.
ALTER TABLE works_raw ADD COLUMN projection JSONB, ADD COLUMN payload_hash BIGINT;

CREATE FUNCTION marquee_write_movie(p_work_id BIGINT, p_owner TEXT, m JSONB) RETURNS BOOLEAN
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    w JSONB := m->'work';
    f JSONB := m->'facts';
    refreshed TIMESTAMPTZ := (w->>'refreshed_at')::timestamp AT TIME ZONE 'UTC';
    -- The keys of the shared rows this movie names: index conditions for their lookups.
    person_ids BIGINT[] := ARRAY(SELECT (e->>'person_id')::bigint FROM jsonb_array_elements(f->'people') e);
    genre_ids INT[] := ARRAY(SELECT (e->>'genre_id')::int FROM jsonb_array_elements(f->'genres') e);
    keyword_ids BIGINT[] := ARRAY(SELECT (e->>'keyword_id')::bigint FROM jsonb_array_elements(f->'keywords') e);
    company_ids BIGINT[] := ARRAY(SELECT (e->>'company_id')::bigint FROM jsonb_array_elements(f->'companies') e);
    provider_ids BIGINT[] := ARRAY(SELECT (e->>'provider_id')::bigint FROM jsonb_array_elements(f->'providers') e);
    collection_ids BIGINT[] := ARRAY(SELECT (e->>'collection_id')::bigint FROM jsonb_array_elements(f->'collection') e);
BEGIN
    UPDATE works SET imdb_id = w->>'imdb_id', title = w->>'title', original_title = w->>'original_title',
           year = (w->>'year')::int, release_date = (w->>'release_date')::date,
           popularity = (w->>'popularity')::float8, vote_average = (w->>'vote_average')::float8,
           vote_count = (w->>'vote_count')::int, ingestion_status = 'complete',
           lease_owner = NULL, lease_until = NULL, last_error = NULL, gone_at = NULL,
           ingest_count = ingest_count + 1, schema_version = (w->>'schema_version')::int,
           last_refreshed_at = refreshed,
           next_refresh_at = (w->>'next_refresh_at')::timestamp AT TIME ZONE 'UTC', updated_at = now()
     WHERE work_id = p_work_id AND lease_owner = p_owner;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    -- The shared entities whose aggregates this write may change: those the movie counted
    -- towards until now and those it counts towards from now on (migration 11). Appends only.
    INSERT INTO aggregate_dirty (kind, key_id)
    SELECT k.kind, k.key_id FROM marquee_work_keys(p_work_id) k
    UNION SELECT 'person', unnest(person_ids)
    UNION SELECT 'genre', unnest(genre_ids)
    UNION SELECT 'keyword', unnest(keyword_ids)
    UNION SELECT 'company', unnest(company_ids)
    UNION SELECT 'collection', unnest(collection_ids);

    -- Collections (before works_meta, which refers to them).
    INSERT INTO collections (collection_id, name, poster_path, backdrop_path)
    SELECT DISTINCT ON (collection_id) collection_id, name, poster_path, backdrop_path
      FROM jsonb_to_recordset(f->'collection') AS x(collection_id bigint, name text, poster_path text, backdrop_path text)
     ORDER BY collection_id
    ON CONFLICT (collection_id) DO NOTHING;
    UPDATE collections t SET name = x.name, poster_path = x.poster_path, backdrop_path = x.backdrop_path
      FROM (SELECT x.* FROM jsonb_to_recordset(f->'collection') AS x(collection_id bigint, name text, poster_path text, backdrop_path text)
              JOIN collections q ON q.collection_id = x.collection_id
             WHERE q.collection_id = ANY (collection_ids) AND ((q.name, q.poster_path, q.backdrop_path) IS DISTINCT FROM (x.name, x.poster_path, x.backdrop_path))
             ORDER BY x.collection_id FOR NO KEY UPDATE OF q) x
     WHERE t.collection_id = x.collection_id AND t.collection_id = ANY (collection_ids);

    INSERT INTO works_meta AS t (work_id, runtime_minutes, runtime_display, tagline, overview, overview_short, genres,
           certification, poster_url_small, poster_url_medium, poster_url_large, poster_url_original, backdrop_url,
           backdrop_url_mobile, cast_members, crew_members, trailers, still_images, streaming, keywords,
           production_companies, production_countries, spoken_languages, budget, revenue_worldwide, original_language,
           release_status, homepage, collection_id, schema_version, fetched_at, updated_at)
    SELECT p_work_id, r.runtime_minutes, r.runtime_display, r.tagline, r.overview, r.overview_short, r.genres,
           r.certification, r.poster_url_small, r.poster_url_medium, r.poster_url_large, r.poster_url_original, r.backdrop_url,
           r.backdrop_url_mobile, r.cast_members, r.crew_members, r.trailers, r.still_images, r.streaming, r.keywords,
           r.production_companies, r.production_countries, r.spoken_languages, r.budget, r.revenue_worldwide, r.original_language,
           r.release_status, r.homepage, r.collection_id, (w->>'schema_version')::int, now(), now()
      FROM jsonb_populate_record(NULL::works_meta, m->'meta') AS r
    ON CONFLICT (work_id) DO UPDATE SET runtime_minutes = EXCLUDED.runtime_minutes, runtime_display = EXCLUDED.runtime_display,
           tagline = EXCLUDED.tagline, overview = EXCLUDED.overview, overview_short = EXCLUDED.overview_short,
           genres = EXCLUDED.genres, certification = EXCLUDED.certification, poster_url_small = EXCLUDED.poster_url_small,
           poster_url_medium = EXCLUDED.poster_url_medium, poster_url_large = EXCLUDED.poster_url_large,
           poster_url_original = EXCLUDED.poster_url_original, backdrop_url = EXCLUDED.backdrop_url,
           backdrop_url_mobile = EXCLUDED.backdrop_url_mobile, cast_members = EXCLUDED.cast_members,
           crew_members = EXCLUDED.crew_members, trailers = EXCLUDED.trailers, still_images = EXCLUDED.still_images,
           streaming = EXCLUDED.streaming, keywords = EXCLUDED.keywords, production_companies = EXCLUDED.production_companies,
           production_countries = EXCLUDED.production_countries, spoken_languages = EXCLUDED.spoken_languages,
           budget = EXCLUDED.budget, revenue_worldwide = EXCLUDED.revenue_worldwide,
           original_language = EXCLUDED.original_language, release_status = EXCLUDED.release_status,
           homepage = EXCLUDED.homepage, collection_id = EXCLUDED.collection_id, schema_version = EXCLUDED.schema_version,
           fetched_at = now(), updated_at = now();

    INSERT INTO works_raw (work_id, payload, payload_sha256, fetched_at, projection, payload_hash)
    VALUES (p_work_id, m->'raw', m->>'raw_sha256', refreshed, m->'fingerprint', jsonb_hash_extended(m->'raw', 0))
    ON CONFLICT (work_id) DO UPDATE SET payload = EXCLUDED.payload, payload_sha256 = EXCLUDED.payload_sha256,
           fetched_at = EXCLUDED.fetched_at, projection = EXCLUDED.projection, payload_hash = EXCLUDED.payload_hash;

    -- People, then the movie's credits.
    INSERT INTO people (person_id, name, profile_path, gender, known_for_department, popularity)
    SELECT DISTINCT ON (person_id) person_id, name, profile_path, gender, known_for_department, popularity
      FROM jsonb_to_recordset(f->'people')
           AS x(person_id bigint, name text, profile_path text, gender int, known_for_department text, popularity double precision)
     ORDER BY person_id
    ON CONFLICT (person_id) DO NOTHING;
    -- A crew credit does not carry gender, department or popularity (tmdb-contract.md): what a
    -- movie does not say about a person is unknown, not a change to null, so it neither forces a
    -- write nor erases what another movie said.
    UPDATE people t SET name = x.name, profile_path = x.profile_path, gender = coalesce(x.gender, t.gender),
           known_for_department = coalesce(x.known_for_department, t.known_for_department),
           popularity = coalesce(x.popularity, t.popularity)
      FROM (SELECT x.* FROM jsonb_to_recordset(f->'people')
                   AS x(person_id bigint, name text, profile_path text, gender int, known_for_department text, popularity double precision)
              JOIN people q ON q.person_id = x.person_id
             WHERE q.person_id = ANY (person_ids) AND ((q.name, q.profile_path) IS DISTINCT FROM (x.name, x.profile_path)
                OR x.gender IS NOT NULL AND x.gender IS DISTINCT FROM q.gender
                OR x.known_for_department IS NOT NULL AND x.known_for_department IS DISTINCT FROM q.known_for_department)
             ORDER BY x.person_id FOR NO KEY UPDATE OF q) x
     WHERE t.person_id = x.person_id AND t.person_id = ANY (person_ids);
    DELETE FROM credits WHERE work_id = p_work_id;
    INSERT INTO credits (work_id, credit_id, person_id, credit_type, character, job, department, ord)
    SELECT p_work_id, credit_id, person_id, credit_type, character, job, department, ord
      FROM jsonb_to_recordset(f->'credits') AS x(credit_id text, person_id bigint, credit_type text, character text,
                                                 job text, department text, ord int)
    ON CONFLICT DO NOTHING;

    INSERT INTO genres (genre_id, name)
    SELECT DISTINCT ON (genre_id) genre_id, name FROM jsonb_to_recordset(f->'genres') AS x(genre_id int, name text)
     ORDER BY genre_id
    ON CONFLICT (genre_id) DO NOTHING;
    UPDATE genres t SET name = x.name
      FROM (SELECT x.* FROM jsonb_to_recordset(f->'genres') AS x(genre_id int, name text)
              JOIN genres q ON q.genre_id = x.genre_id
             WHERE q.genre_id = ANY (genre_ids) AND (q.name IS DISTINCT FROM x.name)
             ORDER BY x.genre_id FOR NO KEY UPDATE OF q) x
     WHERE t.genre_id = x.genre_id AND t.genre_id = ANY (genre_ids);
    DELETE FROM work_genres WHERE work_id = p_work_id;
    INSERT INTO work_genres (work_id, genre_id)
    SELECT p_work_id, genre_id FROM jsonb_to_recordset(f->'genres') AS x(genre_id int)
    ON CONFLICT DO NOTHING;

    INSERT INTO keywords (keyword_id, name)
    SELECT DISTINCT ON (keyword_id) keyword_id, name FROM jsonb_to_recordset(f->'keywords') AS x(keyword_id bigint, name text)
     ORDER BY keyword_id
    ON CONFLICT (keyword_id) DO NOTHING;
    UPDATE keywords t SET name = x.name
      FROM (SELECT x.* FROM jsonb_to_recordset(f->'keywords') AS x(keyword_id bigint, name text)
              JOIN keywords q ON q.keyword_id = x.keyword_id
             WHERE q.keyword_id = ANY (keyword_ids) AND (q.name IS DISTINCT FROM x.name)
             ORDER BY x.keyword_id FOR NO KEY UPDATE OF q) x
     WHERE t.keyword_id = x.keyword_id AND t.keyword_id = ANY (keyword_ids);
    DELETE FROM work_keywords WHERE work_id = p_work_id;
    INSERT INTO work_keywords (work_id, keyword_id)
    SELECT p_work_id, keyword_id FROM jsonb_to_recordset(f->'keywords') AS x(keyword_id bigint)
    ON CONFLICT DO NOTHING;

    INSERT INTO companies (company_id, name, logo_path, origin_country)
    SELECT DISTINCT ON (company_id) company_id, name, logo_path, origin_country
      FROM jsonb_to_recordset(f->'companies') AS x(company_id bigint, name text, logo_path text, origin_country text)
     ORDER BY company_id
    ON CONFLICT (company_id) DO NOTHING;
    UPDATE companies t SET name = x.name, logo_path = x.logo_path, origin_country = x.origin_country
      FROM (SELECT x.* FROM jsonb_to_recordset(f->'companies') AS x(company_id bigint, name text, logo_path text, origin_country text)
              JOIN companies q ON q.company_id = x.company_id
             WHERE q.company_id = ANY (company_ids) AND ((q.name, q.logo_path, q.origin_country) IS DISTINCT FROM (x.name, x.logo_path, x.origin_country))
             ORDER BY x.company_id FOR NO KEY UPDATE OF q) x
     WHERE t.company_id = x.company_id AND t.company_id = ANY (company_ids);
    DELETE FROM work_companies WHERE work_id = p_work_id;
    INSERT INTO work_companies (work_id, company_id, ord)
    SELECT p_work_id, company_id, ord FROM jsonb_to_recordset(f->'companies') AS x(company_id bigint, ord int)
    ON CONFLICT DO NOTHING;

    DELETE FROM release_dates WHERE work_id = p_work_id;
    INSERT INTO release_dates (work_id, country, release_type, release_date, certification, note)
    SELECT p_work_id, country, release_type, release_date, certification, note
      FROM jsonb_to_recordset(f->'release_dates')
           AS x(country text, release_type int, release_date date, certification text, note text);

    DELETE FROM videos WHERE work_id = p_work_id;
    INSERT INTO videos (work_id, site, video_key, video_type, name, official, published_at, size, language, country)
    SELECT p_work_id, site, video_key, video_type, name, official, published_at, size, language, country
      FROM jsonb_to_recordset(f->'videos') AS x(site text, video_key text, video_type text, name text, official boolean,
                                                published_at timestamp, size int, language text, country text)
    ON CONFLICT DO NOTHING;

    DELETE FROM images WHERE work_id = p_work_id;
    INSERT INTO images (work_id, kind, file_path, width, height, aspect_ratio, language, vote_average, vote_count)
    SELECT p_work_id, kind, file_path, width, height, aspect_ratio, language, vote_average, vote_count
      FROM jsonb_to_recordset(f->'images') AS x(kind text, file_path text, width int, height int,
                                                aspect_ratio double precision, language text,
                                                vote_average double precision, vote_count int)
    ON CONFLICT DO NOTHING;

    INSERT INTO watch_providers (provider_id, name, logo_path)
    SELECT DISTINCT ON (provider_id) provider_id, name, logo_path
      FROM jsonb_to_recordset(f->'providers') AS x(provider_id bigint, name text, logo_path text)
     ORDER BY provider_id
    ON CONFLICT (provider_id) DO NOTHING;
    UPDATE watch_providers t SET name = x.name, logo_path = x.logo_path
      FROM (SELECT x.* FROM jsonb_to_recordset(f->'providers') AS x(provider_id bigint, name text, logo_path text)
              JOIN watch_providers q ON q.provider_id = x.provider_id
             WHERE q.provider_id = ANY (provider_ids) AND ((q.name, q.logo_path) IS DISTINCT FROM (x.name, x.logo_path))
             ORDER BY x.provider_id FOR NO KEY UPDATE OF q) x
     WHERE t.provider_id = x.provider_id AND t.provider_id = ANY (provider_ids);
    DELETE FROM work_watch_providers WHERE work_id = p_work_id;
    INSERT INTO work_watch_providers (work_id, country, offer_type, provider_id, display_priority, link)
    SELECT p_work_id, country, offer_type, provider_id, display_priority, link
      FROM jsonb_to_recordset(f->'provider_offers')
           AS x(country text, offer_type text, provider_id bigint, display_priority int, link text)
    ON CONFLICT DO NOTHING;

    DELETE FROM similar_movies WHERE work_id = p_work_id AND source = 'tmdb';
    INSERT INTO similar_movies (work_id, similar_tmdb_id, source, rank_order)
    SELECT p_work_id, similar_tmdb_id, 'tmdb', rank_order
      FROM jsonb_to_recordset(f->'similar') AS x(similar_tmdb_id bigint, rank_order int)
    ON CONFLICT DO NOTHING;

    INSERT INTO rating_sources (work_id, source_name, scale_type, value_raw, value_0_100, votes_count, last_seen_at)
    SELECT p_work_id, x.source_name, x.scale_type, x.value_raw, x.value_0_100, x.votes_count, now()
      FROM jsonb_to_record(m->'rating')
           AS x(source_name text, scale_type text, value_raw double precision, value_0_100 double precision, votes_count int)
    ON CONFLICT (work_id, source_name) DO UPDATE SET scale_type = EXCLUDED.scale_type, value_raw = EXCLUDED.value_raw,
           value_0_100 = EXCLUDED.value_0_100, votes_count = EXCLUDED.votes_count, last_seen_at = now();

    -- One score per movie: that of the current method (an older method's row goes).
    DELETE FROM aggregates WHERE work_id = p_work_id AND method_version <> m->'score'->>'method_version';
    INSERT INTO aggregates (work_id, method_version, ai_score, ai_score_low, ai_score_high, votes_count, source_scores, computed_at)
    SELECT p_work_id, x.method_version, x.ai_score, x.ai_score_low, x.ai_score_high, x.votes_count, x.source_scores, now()
      FROM jsonb_to_record(m->'score') AS x(method_version text, ai_score double precision, ai_score_low double precision,
                                            ai_score_high double precision, votes_count int, source_scores jsonb)
    ON CONFLICT (work_id, method_version) DO UPDATE SET ai_score = EXCLUDED.ai_score, ai_score_low = EXCLUDED.ai_score_low,
           ai_score_high = EXCLUDED.ai_score_high, votes_count = EXCLUDED.votes_count,
           source_scores = EXCLUDED.source_scores, computed_at = now();

    INSERT INTO work_cards_cache (work_id, payload, payload_short, etag, computed_at)
    VALUES (p_work_id, m->'card'->'payload', m->'card'->'payload_short', m->'card'->>'etag', now())
    ON CONFLICT (work_id) DO UPDATE SET payload = EXCLUDED.payload, payload_short = EXCLUDED.payload_short,
           etag = EXCLUDED.etag, computed_at = now();

    INSERT INTO work_metrics_history (work_id, captured_at, popularity, vote_average, vote_count)
    VALUES (p_work_id, refreshed, (w->>'popularity')::float8, (w->>'vote_average')::float8, (w->>'vote_count')::int);

    IF m->'changes' <> '{}'::jsonb THEN
        INSERT INTO work_change_log (work_id, changes, function) VALUES (p_work_id, m->'changes', m->>'function');
    END IF;
    RETURN true;
END
$$;
