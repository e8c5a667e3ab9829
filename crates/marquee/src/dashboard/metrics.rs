//! The [`Overview`] in Prometheus' text exposition format (0.0.4), for `GET /metrics`: the
//! dashboard's figures, so that existing monitoring can scrape and alert on them. Every figure
//! is a gauge of the state now (or of the panel's window, named in the metric); lists (titles,
//! errors, customers) stay on the dashboard, out of label sets that would grow without bound.

use std::fmt::Write as _;

use super::stats::Overview;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} gauge");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let rendered: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.0, "{{{}}}", rendered.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, help);
        self.sample(name, &[], value);
    }
}

/// A label value as the format wants it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn seconds(t: chrono::NaiveDateTime) -> f64 {
    t.and_utc().timestamp() as f64
}

pub fn render(o: &Overview) -> String {
    let mut m = Exposition(String::new());

    m.family("marquee_works", "Works in the catalog by ingestion status.");
    for (status, n) in &o.catalog.works_by_status {
        m.sample("marquee_works", &[("status", status)], *n as f64);
    }
    m.gauge("marquee_works_servable", "Works customers can read.", o.catalog.servable as f64);
    m.gauge(
        "marquee_works_added_7d",
        "Servable works whose row was created in the last 7 days.",
        o.catalog.added_this_week as f64,
    );
    m.family("marquee_works_rejected", "Rejected works by the reason recorded for them.");
    for c in &o.catalog.rejected_by_reason {
        m.sample("marquee_works_rejected", &[("reason", &c.name)], c.count as f64);
    }

    m.family("marquee_works_stale", "Complete works due for a refresh, by the staleness tier they are in today.");
    for t in &o.freshness.stale_by_tier {
        let (tier, every) = (t.tier.to_string(), t.every_days.to_string());
        m.sample(
            "marquee_works_stale",
            &[("tier", &tier), ("holds", &t.holds), ("every_days", &every)],
            t.stale as f64,
        );
    }
    if let Some(feed) = &o.freshness.changes_feed {
        if let Some(cursor) = feed.cursor {
            let midnight = cursor.and_hms_opt(0, 0, 0).expect("midnight exists");
            m.gauge(
                "marquee_changes_feed_cursor_timestamp_seconds",
                "The last UTC day of TMDB's changes feed read and queued (its midnight).",
                seconds(midnight),
            );
        }
        m.gauge(
            "marquee_changes_feed_error",
            "1 when the changes feed's last read failed (its error is on the dashboard).",
            f64::from(u8::from(feed.last_error.is_some())),
        );
    }

    m.family("marquee_queue_rows", "Refresh queue rows by state (due and expired leases are subsets).");
    let q = &o.queue.counts;
    for (state, n) in [
        ("queued", q.queued),
        ("due", q.due),
        ("processing", q.processing),
        ("expired_lease", q.expired_leases),
        ("failed", q.failed),
    ] {
        m.sample("marquee_queue_rows", &[("state", state)], n as f64);
    }

    m.family("marquee_last_run_start_timestamp_seconds", "When the newest run of each kind started.");
    for r in &o.runs.latest {
        let labels =
            [("function", r.function.as_str()), ("trigger", r.trigger_type.as_str()), ("status", r.status.as_str())];
        m.sample("marquee_last_run_start_timestamp_seconds", &labels, seconds(r.started_at));
    }
    m.family("marquee_last_run_duration_seconds", "How long the newest closed run of each kind took.");
    for r in o.runs.latest.iter().filter(|r| r.duration_ms.is_some()) {
        let labels =
            [("function", r.function.as_str()), ("trigger", r.trigger_type.as_str()), ("status", r.status.as_str())];
        m.sample("marquee_last_run_duration_seconds", &labels, f64::from(r.duration_ms.unwrap_or(0)) / 1000.0);
    }
    m.family("marquee_runs_30d", "Runs started in the last 30 UTC days, by status.");
    for (i, status) in crate::domain::states::RunStatus::ALL.iter().enumerate() {
        let n: i64 = o.runs.days.iter().map(|d| d.by_status[i].1).sum();
        m.sample("marquee_runs_30d", &[("status", status.as_str())], n as f64);
    }

    m.family("marquee_tmdb_calls_48h", "TMDB calls in the last 48 hours by HTTP status (0: no answer).");
    for s in &o.tmdb.by_status {
        m.sample("marquee_tmdb_calls_48h", &[("status", &s.status.to_string())], s.calls as f64);
    }
    for (name, help, value) in [
        (
            "marquee_tmdb_latency_p50_le_ms_48h",
            "Upper bound (ms) of the latency bucket of the median TMDB call, 48 hours.",
            o.tmdb.latency_p50_le_ms,
        ),
        (
            "marquee_tmdb_latency_p95_le_ms_48h",
            "Upper bound (ms) of the latency bucket of the 95th percentile, 48 hours.",
            o.tmdb.latency_p95_le_ms,
        ),
    ] {
        if let Some(v) = value {
            m.gauge(name, help, f64::from(v));
        }
    }
    if let Some(v) = o.tmdb.calls_per_movie {
        m.gauge(
            "marquee_tmdb_calls_per_movie_48h",
            "Calls of a movie's details per fetch (retries included), 48 hours.",
            v,
        );
    }

    m.gauge(
        "marquee_work_changes_24h",
        "Refreshes that changed something in the last 24 hours.",
        o.changes.last_24h as f64,
    );

    m.family(
        "marquee_customers",
        "Customers by the tier they are entitled to (Stripe's, and API key holders Stripe does not know).",
    );
    for c in &o.billing.customers_by_tier {
        m.sample("marquee_customers", &[("tier", &c.name)], c.count as f64);
    }
    m.family("marquee_subscriptions", "Subscriptions by Stripe status.");
    for c in &o.billing.subscriptions_by_status {
        m.sample("marquee_subscriptions", &[("status", &c.name)], c.count as f64);
    }
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut m = Exposition(String::new());
        m.gauge("x", "An x.", 2.5);
        m.sample("y", &[("k", "v"), ("l", "w")], 3.0);
        assert_eq!(m.0, "# HELP x An x.\n# TYPE x gauge\nx 2.5\ny{k=\"v\",l=\"w\"} 3\n");
    }
}
