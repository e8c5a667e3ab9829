-- Billing: Stripe events, customers, subscriptions, tiers, the price → tier mapping, quotas.
--
-- Stripe's `created` values are kept as unix seconds (BIGINT), exactly as Stripe sends them:
-- they order events. Every customer and subscription row remembers the version of the last
-- event applied to it, (last_event_created, last_event_rank, last_event_id); an event is applied
-- only when its version is greater (see crates/marquee/src/billing/events.rs for the rule).

-- Tiers and their monthly quotas (the seed's subscription_tier, kept by name).
CREATE TABLE subscription_tier (
    slug         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    rank         INT NOT NULL UNIQUE,         -- higher is better: the best active subscription wins
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO subscription_tier (slug, name, rank) VALUES ('free', 'Free', 0), ('basic', 'Basic', 1), ('premium', 'Premium', 2);

CREATE TABLE subscription_tier_quota (
    tier           TEXT NOT NULL REFERENCES subscription_tier (slug),
    quota          TEXT NOT NULL,             -- e.g. api_requests, ingests
    monthly_limit  BIGINT NOT NULL CHECK (monthly_limit >= 0),
    PRIMARY KEY (tier, quota)
);
INSERT INTO subscription_tier_quota (tier, quota, monthly_limit) VALUES
    ('free', 'api_requests', 1000),      ('free', 'ingests', 10),
    ('basic', 'api_requests', 50000),    ('basic', 'ingests', 500),
    ('premium', 'api_requests', 1000000), ('premium', 'ingests', 10000);

-- Which Stripe price sells which tier: data, not code. A price not listed here gives `free`.
CREATE TABLE stripe_prices (
    price_id     TEXT PRIMARY KEY,            -- price_...
    tier         TEXT NOT NULL REFERENCES subscription_tier (slug),
    description  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every verified delivery, once (event_id is unique: a re-delivery is recognised and not applied
-- again). Never holds a secret or a signature.
CREATE TABLE stripe_webhook_events (
    id            BIGSERIAL PRIMARY KEY,
    event_id      TEXT NOT NULL UNIQUE,       -- evt_...
    type          TEXT NOT NULL,
    created       BIGINT NOT NULL,            -- Stripe's `created`, unix seconds
    livemode      BOOLEAN NOT NULL,
    object_id     TEXT,                       -- data.object.id
    payload       JSONB NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at  TIMESTAMPTZ,
    status        TEXT NOT NULL CHECK (status IN ('processed', 'ignored', 'failed')),
    applied       BOOLEAN NOT NULL DEFAULT false,  -- false: stale (a newer version was already applied) or not applicable
    error         TEXT,
    replays       INT NOT NULL DEFAULT 0
);
CREATE INDEX idx_stripe_webhook_events_type ON stripe_webhook_events (type, created DESC);
CREATE INDEX idx_stripe_webhook_events_object ON stripe_webhook_events (object_id);
CREATE INDEX idx_stripe_webhook_events_failed ON stripe_webhook_events (received_at) WHERE status = 'failed';

CREATE TABLE customers (
    customer_id          TEXT PRIMARY KEY,    -- cus_...
    email                TEXT,
    name                 TEXT,
    client_reference_id  TEXT,                -- from checkout: who the customer is on our side
    deleted              BOOLEAN NOT NULL DEFAULT false,
    deleted_at           TIMESTAMPTZ,
    last_event_created   BIGINT NOT NULL DEFAULT 0,
    last_event_rank      INT NOT NULL DEFAULT 0,
    last_event_id        TEXT NOT NULL DEFAULT '',
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_customers_client_reference ON customers (client_reference_id) WHERE client_reference_id IS NOT NULL;

-- No foreign key to customers: a subscription event may arrive before its customer's.
CREATE TABLE subscriptions (
    subscription_id       TEXT PRIMARY KEY,   -- sub_...
    customer_id           TEXT NOT NULL,
    status                TEXT NOT NULL,      -- Stripe's: incomplete, trialing, active, past_due, unpaid, paused, canceled, incomplete_expired
    price_id              TEXT,
    tier                  TEXT NOT NULL REFERENCES subscription_tier (slug),  -- from stripe_prices when the price was applied
    current_period_start  TIMESTAMPTZ,
    current_period_end    TIMESTAMPTZ,
    cancel_at_period_end  BOOLEAN NOT NULL DEFAULT false,
    deleted               BOOLEAN NOT NULL DEFAULT false,
    deleted_at            TIMESTAMPTZ,
    last_event_created    BIGINT NOT NULL,
    last_event_rank       INT NOT NULL,
    last_event_id         TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_subscriptions_customer ON subscriptions (customer_id);

-- The last paid/failed outcome of each invoice (ordered like the rows above).
CREATE TABLE invoices (
    invoice_id          TEXT PRIMARY KEY,     -- in_...
    customer_id         TEXT NOT NULL,
    subscription_id     TEXT,
    status              TEXT NOT NULL CHECK (status IN ('paid', 'payment_failed')),
    amount_paid         BIGINT NOT NULL,
    amount_due          BIGINT NOT NULL,
    currency            TEXT,
    last_event_created  BIGINT NOT NULL,
    last_event_id       TEXT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_invoices_subscription ON invoices (subscription_id);

-- Usage per customer, quota and period (the subscription's billing period, or the calendar
-- month in UTC without one). Incremented only by a conditional UPDATE, never above the limit.
CREATE TABLE quota_usage (
    customer_id   TEXT NOT NULL,
    quota         TEXT NOT NULL,
    period_start  TIMESTAMPTZ NOT NULL,
    period_end    TIMESTAMPTZ NOT NULL,
    used          BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, quota, period_start)
);
