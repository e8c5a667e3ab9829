-- Operations: what TMDB was asked, what was refused, and the cached TMDB configuration.

-- Every TMDB call attempt. Never holds the key: endpoint is the template ("/movie/{id}").
CREATE TABLE tmdb_api_logs (
    id                BIGSERIAL PRIMARY KEY,
    endpoint          TEXT NOT NULL,
    method            TEXT NOT NULL DEFAULT 'GET',
    tmdb_id           BIGINT,
    status_code       INT,                 -- NULL when no response arrived (timeout, transport)
    response_time_ms  INT NOT NULL,
    attempt           INT NOT NULL,
    edge_function     TEXT NOT NULL,       -- the function that made the call (seed's name)
    error             TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_tmdb_api_logs_created_at ON tmdb_api_logs (created_at DESC);
CREATE INDEX idx_tmdb_api_logs_function ON tmdb_api_logs (edge_function, created_at DESC);

-- Movies not admitted to the catalog, and why (adult, missing_title, not_found).
CREATE TABLE rejected_works (
    id             BIGSERIAL PRIMARY KEY,
    tmdb_id        BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    detail         TEXT,
    function       TEXT NOT NULL,
    occurrences    INT NOT NULL DEFAULT 1,
    first_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tmdb_id, reason)
);

-- TMDB's /configuration (image base URL and sizes), cached for days.
CREATE TABLE tmdb_configuration_cache (
    id          INT PRIMARY KEY CHECK (id = 1),
    payload     JSONB NOT NULL,
    fetched_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
