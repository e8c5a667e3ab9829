-- The catalog: hot identity rows, cold metadata and raw responses, normalized facts, derived
-- scores and cards, and history. Table and column names follow the seed system where it had them.

CREATE TABLE works (
    work_id            BIGSERIAL PRIMARY KEY,
    tmdb_id            BIGINT NOT NULL UNIQUE,
    imdb_id            TEXT,
    title              TEXT,                -- NULL only while a first ingest is in flight or failed
    original_title     TEXT,
    year               INT,
    release_date       DATE,
    popularity         DOUBLE PRECISION,
    vote_average       DOUBLE PRECISION,
    vote_count         INT,
    ingestion_status   TEXT NOT NULL DEFAULT 'pending'
                       CHECK (ingestion_status IN ('pending', 'ingesting', 'complete', 'failed', 'gone', 'rejected')),
    lease_owner        TEXT,                -- the invocation ingesting it now
    lease_until        TIMESTAMPTZ,         -- after this the lease may be taken over
    last_error         TEXT,
    request_count      INT NOT NULL DEFAULT 0,
    ingest_count       INT NOT NULL DEFAULT 0,
    schema_version     INT NOT NULL DEFAULT 0,
    last_refreshed_at  TIMESTAMPTZ,
    next_refresh_at    TIMESTAMPTZ,         -- computed at write time from the staleness tiers
    gone_at            TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_works_imdb_id ON works (imdb_id);
CREATE INDEX idx_works_title ON works (title);
CREATE INDEX idx_works_year ON works (year);
CREATE INDEX idx_works_release_date ON works (release_date);
CREATE INDEX idx_works_last_refreshed ON works (last_refreshed_at);
CREATE INDEX idx_works_ingestion_status ON works (ingestion_status);
CREATE INDEX idx_works_next_refresh ON works (next_refresh_at) WHERE ingestion_status = 'complete';

CREATE TABLE collections (
    collection_id  BIGINT PRIMARY KEY,       -- TMDB collection id
    name           TEXT NOT NULL,
    poster_path    TEXT,
    backdrop_path  TEXT,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE works_meta (
    work_id               BIGINT PRIMARY KEY REFERENCES works (work_id) ON DELETE CASCADE,
    runtime_minutes       INT,
    runtime_display       TEXT,
    tagline               TEXT,
    overview              TEXT,
    overview_short        TEXT,
    genres                TEXT[],
    certification         TEXT,
    poster_url_small      TEXT,
    poster_url_medium     TEXT,
    poster_url_large      TEXT,
    poster_url_original   TEXT,
    backdrop_url          TEXT,
    backdrop_url_mobile   TEXT,
    cast_members          JSONB,
    crew_members          JSONB,
    trailers              JSONB,
    still_images          JSONB,
    streaming             JSONB,
    keywords              TEXT[],
    production_companies  JSONB,
    production_countries  TEXT[],
    spoken_languages      TEXT[],
    budget                BIGINT,
    revenue_worldwide     BIGINT,
    original_language     TEXT,
    release_status        TEXT,
    homepage              TEXT,
    collection_id         BIGINT REFERENCES collections (collection_id),
    schema_version        INT NOT NULL DEFAULT 1,
    fetched_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The full TMDB response, so everything can be re-derived without calling TMDB again.
CREATE TABLE works_raw (
    work_id         BIGINT PRIMARY KEY REFERENCES works (work_id) ON DELETE CASCADE,
    payload         JSONB NOT NULL,
    payload_sha256  TEXT NOT NULL,
    fetched_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE people (
    person_id             BIGINT PRIMARY KEY,  -- TMDB person id
    name                  TEXT NOT NULL,
    profile_path          TEXT,
    gender                INT,
    known_for_department  TEXT,
    popularity            DOUBLE PRECISION,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE credits (
    work_id      BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    credit_id    TEXT NOT NULL,               -- TMDB credit id
    person_id    BIGINT NOT NULL REFERENCES people (person_id),
    credit_type  TEXT NOT NULL CHECK (credit_type IN ('cast', 'crew')),
    character    TEXT,
    job          TEXT,
    department   TEXT,
    ord          INT,
    PRIMARY KEY (work_id, credit_id)
);
CREATE INDEX idx_credits_person ON credits (person_id);

CREATE TABLE genres (
    genre_id  INT PRIMARY KEY,
    name      TEXT NOT NULL
);
CREATE TABLE work_genres (
    work_id   BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    genre_id  INT NOT NULL REFERENCES genres (genre_id),
    PRIMARY KEY (work_id, genre_id)
);
CREATE INDEX idx_work_genres_genre ON work_genres (genre_id);

CREATE TABLE keywords (
    keyword_id  BIGINT PRIMARY KEY,
    name        TEXT NOT NULL
);
CREATE TABLE work_keywords (
    work_id     BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    keyword_id  BIGINT NOT NULL REFERENCES keywords (keyword_id),
    PRIMARY KEY (work_id, keyword_id)
);
CREATE INDEX idx_work_keywords_keyword ON work_keywords (keyword_id);

CREATE TABLE companies (
    company_id      BIGINT PRIMARY KEY,
    name            TEXT NOT NULL,
    logo_path       TEXT,
    origin_country  TEXT
);
CREATE TABLE work_companies (
    work_id     BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    company_id  BIGINT NOT NULL REFERENCES companies (company_id),
    ord         INT NOT NULL,
    PRIMARY KEY (work_id, company_id)
);

CREATE TABLE release_dates (
    work_id        BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    country        TEXT NOT NULL,
    release_type   INT,
    release_date   DATE,
    certification  TEXT,
    note           TEXT
);
CREATE INDEX idx_release_dates_work ON release_dates (work_id);

CREATE TABLE videos (
    work_id       BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    site          TEXT NOT NULL,
    video_key     TEXT NOT NULL,
    video_type    TEXT,
    name          TEXT,
    official      BOOLEAN,
    published_at  TIMESTAMP,                 -- UTC
    size          INT,
    language      TEXT,
    country       TEXT,
    PRIMARY KEY (work_id, site, video_key)
);

CREATE TABLE images (
    work_id       BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('poster', 'backdrop', 'logo')),
    file_path     TEXT NOT NULL,
    width         INT,
    height        INT,
    aspect_ratio  DOUBLE PRECISION,
    language      TEXT,
    vote_average  DOUBLE PRECISION,
    vote_count    INT,
    PRIMARY KEY (work_id, kind, file_path)
);

CREATE TABLE watch_providers (
    provider_id  BIGINT PRIMARY KEY,
    name         TEXT NOT NULL,
    logo_path    TEXT
);
CREATE TABLE work_watch_providers (
    work_id           BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    country           TEXT NOT NULL,
    offer_type        TEXT NOT NULL CHECK (offer_type IN ('flatrate', 'rent', 'buy')),
    provider_id       BIGINT NOT NULL REFERENCES watch_providers (provider_id),
    display_priority  INT,
    link              TEXT,
    PRIMARY KEY (work_id, country, offer_type, provider_id)
);

CREATE TABLE similar_movies (
    work_id          BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    similar_tmdb_id  BIGINT NOT NULL,
    source           TEXT NOT NULL DEFAULT 'tmdb',
    rank_order       INT,
    confidence       DOUBLE PRECISION,
    notes            TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (work_id, similar_tmdb_id, source)
);

CREATE TABLE rating_sources (
    rating_id     BIGSERIAL PRIMARY KEY,
    work_id       BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    source_name   TEXT NOT NULL,
    scale_type    TEXT NOT NULL,
    value_raw     DOUBLE PRECISION,
    value_0_100   DOUBLE PRECISION,
    votes_count   INT,
    last_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (work_id, source_name)
);

CREATE TABLE aggregates (
    work_id         BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    method_version  TEXT NOT NULL,
    ai_score        DOUBLE PRECISION NOT NULL,
    ai_score_low    DOUBLE PRECISION NOT NULL,
    ai_score_high   DOUBLE PRECISION NOT NULL,
    votes_count     INT NOT NULL,
    source_scores   JSONB NOT NULL,
    computed_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (work_id, method_version)
);

CREATE TABLE work_cards_cache (
    work_id        BIGINT PRIMARY KEY REFERENCES works (work_id) ON DELETE CASCADE,
    payload        JSONB NOT NULL,
    payload_short  JSONB NOT NULL,
    etag           TEXT NOT NULL,
    computed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Popularity and votes over time: one snapshot per ingest or refresh.
CREATE TABLE work_metrics_history (
    id            BIGSERIAL PRIMARY KEY,
    work_id       BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    captured_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    popularity    DOUBLE PRECISION,
    vote_average  DOUBLE PRECISION,
    vote_count    INT
);
CREATE INDEX idx_work_metrics_history_work ON work_metrics_history (work_id, captured_at DESC);

-- Field-level changes seen by a refresh: {"field": [old, new]}.
CREATE TABLE work_change_log (
    id          BIGSERIAL PRIMARY KEY,
    work_id     BIGINT NOT NULL REFERENCES works (work_id) ON DELETE CASCADE,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    changes     JSONB NOT NULL,
    function    TEXT NOT NULL
);
CREATE INDEX idx_work_change_log_work ON work_change_log (work_id, changed_at DESC);
