-- The catalog API's keys (issue 16), and what a customer is entitled to as one SQL function, so
-- that an API request can check its key, charge its quota and read the catalog in one statement.
--
-- A key is shown once, when it is made (`marquee keys create`, `POST /api/admin/keys`); only its
-- SHA-256 is stored. Keys carry at least 128 random bits, so a plain hash is as good as a slow
-- one: there is nothing to guess. No foreign key to `customers`: a key may be issued before
-- Stripe tells us of the customer (a customer without a subscription is on the free tier).
CREATE TABLE api_keys (
    key_id       BIGSERIAL PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    name         TEXT,
    key_sha256   TEXT NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX idx_api_keys_customer ON api_keys (customer_id);

-- A customer's best live subscription: `active`, `trialing` or `past_due` and not deleted, the
-- higher tier first, then the later period end; no row for a customer without one (the free
-- tier). The one home of this rule: entitlements below, and the dashboard's customers per tier
-- and usage (`db::billing`), which call it per customer (a one-SELECT SQL function, inlined).
CREATE FUNCTION marquee_best_subscription(p_customer TEXT)
RETURNS TABLE (tier TEXT, current_period_start TIMESTAMPTZ, current_period_end TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT s.tier, s.current_period_start, s.current_period_end
      FROM subscriptions s JOIN subscription_tier t ON t.slug = s.tier
     WHERE s.customer_id = p_customer AND NOT s.deleted AND s.status IN ('active', 'trialing', 'past_due')
     ORDER BY t.rank DESC, s.current_period_end DESC NULLS LAST
     LIMIT 1
$$;

-- What `p_customer` may use of `p_quota` at `p_at`: the tier of its best live subscription, or
-- `free`; the tier's monthly limit; and the period usage is counted in: the subscription's
-- billing period when `p_at` is inside it, otherwise the calendar month in UTC. No row for a
-- quota no tier defines. `billing::quota` (check and increment) and every API request
-- (`db::api_access`) call it, so a tier change from a Stripe event applies to the very next
-- request.
CREATE FUNCTION marquee_entitlement(p_customer TEXT, p_quota TEXT, p_at TIMESTAMPTZ)
RETURNS TABLE (tier TEXT, monthly_limit BIGINT, period_start TIMESTAMPTZ, period_end TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT q.tier, q.monthly_limit,
           CASE WHEN b.current_period_start <= p_at AND p_at < b.current_period_end THEN b.current_period_start
                ELSE date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' END,
           CASE WHEN b.current_period_start <= p_at AND p_at < b.current_period_end THEN b.current_period_end
                ELSE (date_trunc('month', p_at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC' END
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL marquee_best_subscription(p_customer) AS b ON true
      JOIN subscription_tier_quota q ON q.quota = p_quota AND q.tier = coalesce(b.tier, 'free')
$$;
