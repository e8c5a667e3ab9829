-- The TMDB request rate learned from 429s, shared by every invocation and instance: TMDB's
-- limit is per IP, not per invocation. One row (id = 1), written only when a 429 lowers an
-- invocation's rate; the rate allowed later climbs from it with time (the library's rule), so
-- a missing row simply means "the configured rate".
CREATE TABLE tmdb_rate (
    id         smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    -- What TMDB accepted (requests per second), just under, at `lowered_at`.
    rate_rps   double precision NOT NULL CHECK (rate_rps > 0),
    lowered_at timestamptz NOT NULL,
    -- The function whose invocation learned it, for operators.
    lowered_by text NOT NULL
);
