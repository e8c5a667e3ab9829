//! The dashboard's pages, rendered on the server with `maud` (escaped by construction: titles,
//! errors and Stripe ids come from outside). One stylesheet, inline and allowed by its hash in
//! the Content-Security-Policy; no script at all, so the policy forbids every script: nothing on
//! these pages needs one (forms post, charts are SVG, numbers are text).
//!
//! Every figure a test or a script may want to find carries `data-metric="<panel>.<name>"`.

use std::sync::LazyLock;

use base64::Engine as _;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use super::charts::{self, Canvas};
use super::format::{fmt_int, fmt_ms, fmt_percent, fmt_time, le_label, status_label};
use super::stats::{Billing, Catalog, Changes, Freshness, Overview, Queue, Runs, Tmdb};
use crate::db::run_log::RunRow;
use crate::db::works::{Overdue, Refused};
use crate::domain::states::RunStatus;

const CSS: &str = r#"
:root{--fg:#1d1d1f;--muted:#5b6068;--line:#d9dce1;--bg:#f5f6f8;--card:#fff;--accent:#0b57d0;--bad:#b3261e;--warn:#8a5300;--ok:#1e6b35}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
header{background:#14213d;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center}
header .brand{font-weight:700;color:#fff;text-decoration:none;margin-right:auto}
header nav{display:flex;flex-wrap:wrap;gap:.2rem .8rem}
header nav a{color:#dfe6f5;text-decoration:none;padding:.1rem 0}
header nav a[aria-current=page]{color:#fff;border-bottom:2px solid #fff}
header form{margin:0}
header button{background:transparent;color:#fff;border-color:#9fb0d0}
main{padding:1rem;max-width:90rem;margin:0 auto}
h1{font-size:1.35rem;margin:.2rem 0 1rem}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,24rem),1fr))}
.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem;min-width:0;margin-bottom:1rem}
.grid .panel{margin-bottom:0}
.panel h2{margin:0 0 .6rem;font-size:1.05rem;display:flex;justify-content:space-between;gap:.5rem;flex-wrap:wrap}
.panel h2 a.more{font-size:.85rem;font-weight:400}
.panel h3{font-size:.95rem;margin:1rem 0 .4rem}
dl.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(7rem,1fr));gap:.6rem;margin:0}
dl.figures>div{border-left:3px solid var(--line);padding-left:.5rem;min-width:0}
dt{color:var(--muted);font-size:.8rem}
dd{margin:0;font-size:1.3rem;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
dd.small{font-size:.95rem}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{text-align:left;padding:.3rem .45rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.wrap{overflow-wrap:anywhere;word-break:break-word}
.muted{color:var(--muted)}
.bad{color:var(--bad)}
.warn{color:var(--warn)}
.ok{color:var(--ok)}
.notice{background:#e8f0fe;border:1px solid #b6ccf5;border-radius:6px;padding:.5rem .8rem;margin-bottom:1rem}
.error{background:#fdecea;border:1px solid #f1b5ae;border-radius:6px;padding:.5rem .8rem;margin-bottom:1rem}
svg{width:100%;height:auto;display:block;max-width:100%}
.charts{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,28rem),1fr))}
details{margin-top:.5rem}
button{font:inherit;padding:.3rem .8rem;border-radius:6px;border:1px solid #8a8f98;background:#fff;color:var(--fg);cursor:pointer}
button.danger{border-color:var(--bad);color:var(--bad)}
form.inline{display:inline;margin:0}
.signin{max-width:26rem;margin:3rem auto}
.signin label{display:block;font-weight:600;margin-bottom:.3rem}
.signin input[type=password]{width:100%;font:inherit;padding:.5rem;border:1px solid #8a8f98;border-radius:6px;margin-bottom:.8rem}
ul.plain{list-style:none;padding:0;margin:.3rem 0}
ul.plain li{padding:.15rem 0;overflow-wrap:anywhere}
footer{padding:1rem;color:var(--muted);font-size:.8rem;text-align:center}
"#;

/// The Content-Security-Policy of every page: nothing but this stylesheet (by its hash),
/// images inline, forms to ourselves; no script, no frame, no other origin.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
});

/// The dashboard's sections, in the navigation's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Catalog,
    Freshness,
    Runs,
    Queue,
    Tmdb,
    Changes,
    Billing,
    SignIn,
}

impl Section {
    pub const NAV: [Section; 8] = [
        Section::Overview,
        Section::Catalog,
        Section::Freshness,
        Section::Runs,
        Section::Queue,
        Section::Tmdb,
        Section::Changes,
        Section::Billing,
    ];

    pub fn href(self) -> &'static str {
        match self {
            Section::Overview => "/dashboard",
            Section::Catalog => "/dashboard/catalog",
            Section::Freshness => "/dashboard/freshness",
            Section::Runs => "/dashboard/runs",
            Section::Queue => "/dashboard/queue",
            Section::Tmdb => "/dashboard/tmdb",
            Section::Changes => "/dashboard/changes",
            Section::Billing => "/dashboard/billing",
            Section::SignIn => "/dashboard/sign-in",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Catalog => "Catalog",
            Section::Freshness => "Freshness",
            Section::Runs => "Runs",
            Section::Queue => "Queue",
            Section::Tmdb => "TMDB",
            Section::Changes => "Changes",
            Section::Billing => "Billing",
            Section::SignIn => "Sign in",
        }
    }
}

/// What every page around its content needs: where it is, and the session's CSRF token for the
/// sign-out form (absent when signed out).
pub struct Frame<'a> {
    pub title: &'a str,
    pub section: Section,
    pub csrf: Option<&'a str>,
}

/// TMDB's terms ask every product that uses its API for its notice (the cards' one), with TMDB
/// named and linked as the source.
fn attribution() -> Markup {
    html! {
        p {
            (crate::domain::card::TMDB_ATTRIBUTION) " "
            "Movie data from " a href="https://www.themoviedb.org/" rel="noreferrer" { "The Movie Database (TMDB)" } "."
        }
    }
}

pub fn page(frame: &Frame<'_>, content: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                // No favicon request (a 404 would be a console error on every page).
                link rel="icon" href="data:,";
                title { (frame.title) " · Marquee" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a.brand href="/dashboard" { "Marquee operations" }
                    @if let Some(csrf) = frame.csrf {
                        nav aria-label="Sections" {
                            @for s in Section::NAV {
                                @if s == frame.section {
                                    a href=(s.href()) aria-current="page" { (s.label()) }
                                } @else {
                                    a href=(s.href()) { (s.label()) }
                                }
                            }
                        }
                        form method="post" action="/dashboard/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (content) }
                footer { (attribution()) }
            }
        }
    }
    .into_string()
}

fn figure(label: &str, metric: &str, value: String) -> Markup {
    html! { div { dt { (label) } dd data-metric=(metric) { (value) } } }
}

fn panel(id: &str, title: &str, more: Option<(&str, &str)>, body: Markup) -> Markup {
    html! {
        section.panel id=(id) aria-labelledby=(format!("{id}-h")) {
            h2 id=(format!("{id}-h")) {
                span { (title) }
                @if let Some((href, text)) = more { a.more href=(href) { (text) " →" } }
            }
            (body)
        }
    }
}

/// A run's status in words with a sign, so it reads without colour.
fn run_status(status: RunStatus) -> Markup {
    let (sign, class) = match status {
        RunStatus::Succeeded => ("✓", "ok"),
        RunStatus::Partial => ("◐", "warn"),
        RunStatus::Failed => ("✗", "bad"),
        RunStatus::Abandoned => ("⌀", "bad"),
        RunStatus::Running => ("…", "muted"),
    };
    html! { span class=(class) { (sign) " " (status) } }
}

fn catalog_figures(c: &Catalog) -> Markup {
    html! {
        dl.figures {
            (figure("works", "catalog.works", fmt_int(c.works)))
            (figure("servable", "catalog.servable", fmt_int(c.servable)))
            (figure("added this week", "catalog.added_this_week", fmt_int(c.added_this_week)))
            (figure("gone", "catalog.gone", fmt_int(c.gone)))
            (figure("rejected", "catalog.rejected", fmt_int(c.rejected)))
        }
        h3 { "Works by status" }
        dl.figures {
            @for (status, n) in &c.works_by_status {
                (figure(status, &format!("catalog.status.{status}"), fmt_int(*n)))
            }
        }
        h3 { "Rejected, by reason" }
        @if c.rejected_by_reason.is_empty() {
            p.muted { "None." }
        } @else {
            dl.figures {
                @for r in &c.rejected_by_reason {
                    (figure(&r.name, &format!("catalog.rejected.{}", r.name), fmt_int(r.count)))
                }
            }
        }
    }
}

fn freshness_figures(f: &Freshness) -> Markup {
    html! {
        dl.figures {
            (figure("stale now", "freshness.stale", fmt_int(f.stale)))
            @match &f.changes_feed {
                Some(feed) => {
                    (figure("changes feed read up to", "freshness.cursor", feed.cursor.map_or("—".to_owned(), |c| c.to_string())))
                    (figure("feed last read", "freshness.last_sync", feed.last_sync_at.map_or("—".to_owned(), fmt_time)))
                }
                None => { (figure("changes feed", "freshness.cursor", "never read".to_owned())) }
            }
        }
        @if let Some(error) = f.changes_feed.as_ref().and_then(|s| s.last_error.as_deref()) {
            p.error.wrap { strong { "Changes feed error: " } span data-metric="freshness.last_error" { (error) } }
        }
        @if let Some(mark) = f.changes_feed.as_ref().and_then(|s| s.stale_before) {
            p.muted { "A gap in the feed: works refreshed before " (fmt_time(mark)) " count as stale until refreshed." }
        }
        h3 { "Stale works by tier" }
        div.scroll {
            table {
                thead { tr { th { "Tier (today)" } th.num { "every" } th.num { "stale" } } }
                tbody {
                    @for t in &f.stale_by_tier {
                        tr {
                            td { (t.holds) }
                            td.num { (t.every_days) " days" }
                            td.num data-metric=(format!("freshness.tier.{}", t.tier)) { (fmt_int(t.stale)) }
                        }
                    }
                }
            }
        }
    }
}

fn run_table(runs: &[RunRow], titles: bool) -> Markup {
    html! {
        div.scroll {
            table {
                thead {
                    tr {
                        th { "Function" } th { "Trigger" } th { "Status" } th { "Started" } th.num { "Duration" }
                        th.num { "checked" } th.num { "ingested" } th.num { "failed" } th.num { "queued" } th.num { "TMDB calls" }
                        @if titles { th { "Titles / error" } }
                    }
                }
                tbody {
                    @for r in runs {
                        tr data-run=(r.id) {
                            td { a href=(format!("/dashboard/runs/{}", r.id)) { (r.function) } }
                            td { (r.trigger_type) }
                            td data-metric=(format!("runs.{}.{}.status", r.function, r.trigger_type)) { (run_status(r.status)) }
                            td { (fmt_time(r.started_at)) }
                            td.num { (fmt_ms(r.duration_ms.map(i64::from))) }
                            td.num { (fmt_int(r.movies_checked.into())) }
                            td.num { (fmt_int(r.movies_ingested.into())) }
                            td.num { (fmt_int(r.movies_failed.into())) }
                            td.num { (fmt_int(r.movies_queued.into())) }
                            td.num { (fmt_int(r.tmdb_calls.into())) }
                            @if titles {
                                td.wrap {
                                    @let shown: Vec<&str> = r.ingested_titles.iter().flatten().map(String::as_str).take(3).collect();
                                    (shown.join("; "))
                                    @if r.ingested_titles.len() > 3 { " … (" (r.ingested_titles.len()) ")" }
                                    @if let Some(e) = &r.error { div.bad { (e) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn runs_figures(r: &Runs) -> Markup {
    let totals: Vec<(RunStatus, i64)> =
        RunStatus::ALL.iter().enumerate().map(|(i, s)| (*s, r.days.iter().map(|d| d.by_status[i].1).sum())).collect();
    html! {
        dl.figures {
            @for (status, n) in &totals {
                (figure(&format!("{status}, 30 days"), &format!("runs.30d.{status}"), fmt_int(*n)))
            }
        }
        h3 { "Newest run of each kind" }
        @if r.latest.is_empty() { p.muted { "No runs yet." } } @else { (run_table(&r.latest, true)) }
        h3 { "Last 30 days" }
        div.charts {
            (charts::run_outcomes(Canvas::WIDE, "runs-outcomes", &r.days))
            (charts::run_durations(Canvas::WIDE, "runs-durations", &r.days))
        }
        details {
            summary { "The same figures as a table" }
            div.scroll {
                table {
                    thead { tr { th { "Day (UTC)" } @for s in RunStatus::ALL { th.num { (s) } } th.num { "median" } th.num { "longest" } } }
                    tbody {
                        @for d in &r.days {
                            tr {
                                td { (d.day) }
                                @for (_, n) in &d.by_status { td.num { (n) } }
                                td.num { (fmt_ms(d.p50_duration_ms)) }
                                td.num { (fmt_ms(d.max_duration_ms)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn queue_figures(q: &Queue) -> Markup {
    let c = &q.counts;
    html! {
        dl.figures {
            (figure("queued", "queue.queued", fmt_int(c.queued)))
            (figure("due now", "queue.due", fmt_int(c.due)))
            (figure("processing", "queue.processing", fmt_int(c.processing)))
            (figure("expired leases", "queue.expired_leases", fmt_int(c.expired_leases)))
            (figure("failed", "queue.failed", fmt_int(c.failed)))
        }
    }
}

fn failed_table(q: &Queue, csrf: Option<&str>) -> Markup {
    html! {
        @if q.failed.is_empty() {
            p.muted { "No failed rows." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th.num { "TMDB id" } th { "Title" } th { "Reason" } th.num { "Attempts" } th { "Failed" } th { "Last error" } @if csrf.is_some() { th { "" } } } }
                    tbody {
                        @for f in &q.failed {
                            tr data-failed-tmdb-id=(f.tmdb_id) {
                                td.num { (f.tmdb_id) }
                                td.wrap { (f.title.as_deref().unwrap_or("—")) }
                                td { (f.reason) }
                                td.num { (f.attempts) }
                                td { (f.failed_at.map_or("—".to_owned(), fmt_time)) }
                                td.wrap.bad { (f.last_error.as_deref().unwrap_or("—")) }
                                @if let Some(csrf) = csrf {
                                    td {
                                        form.inline method="post" action="/dashboard/queue/retry" {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="tmdb_id" value=(f.tmdb_id);
                                            button type="submit" aria-label=(format!("Retry movie {}", f.tmdb_id)) { "Retry" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn tmdb_figures(t: &Tmdb) -> Markup {
    html! {
        dl.figures {
            (figure("calls, 48 h", "tmdb.calls", fmt_int(t.calls)))
            (figure("errors, 48 h", "tmdb.errors", fmt_int(t.errors)))
            (figure("latency p50", "tmdb.p50", t.latency_p50_le_ms.map_or("—".to_owned(), le_label)))
            (figure("latency p95", "tmdb.p95", t.latency_p95_le_ms.map_or("—".to_owned(), le_label)))
            (figure("movies fetched", "tmdb.movie_fetches", fmt_int(t.movie_fetches)))
            (figure("calls per movie", "tmdb.calls_per_movie", t.calls_per_movie.map_or("—".to_owned(), |v| format!("{v:.2}"))))
        }
        h3 { "By status" }
        div.scroll {
            table {
                thead { tr { th { "Status" } th.num { "calls" } th.num { "share" } } }
                tbody {
                    @for s in &t.by_status {
                        tr {
                            td { (status_label(s.status)) }
                            td.num data-metric=(format!("tmdb.status.{}", s.status)) { (fmt_int(s.calls)) }
                            td.num { (fmt_percent(s.percent)) }
                        }
                    }
                }
            }
        }
    }
}

fn changes_table(c: &Changes, full: bool) -> Markup {
    html! {
        @if c.recent.is_empty() {
            p.muted { "No changes recorded." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th { "When" } th { "Movie" } th { "Fields" } th { "By" } } }
                    tbody {
                        @for ch in &c.recent {
                            tr data-change=(ch.id) {
                                td { (fmt_time(ch.changed_at)) }
                                td.wrap { (ch.title.as_deref().unwrap_or("—")) " " span.muted { "(" (ch.tmdb_id) ")" } }
                                td.wrap {
                                    @if let Some(fields) = ch.changes.as_object() {
                                        @if full {
                                            ul.plain {
                                                @for (field, diff) in fields {
                                                    li { strong { (field) } ": " (short(&diff[0])) " → " (short(&diff[1])) }
                                                }
                                            }
                                        } @else {
                                            (fields.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
                                        }
                                    }
                                }
                                td { (ch.function) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A changed value, cut short: a cast list is not for a table cell.
fn short(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".to_owned(),
        other => other.to_string(),
    };
    if text.chars().count() > 120 { format!("{}…", text.chars().take(120).collect::<String>()) } else { text }
}

fn billing_figures(b: &Billing) -> Markup {
    html! {
        h3 { "Customers by tier" }
        dl.figures {
            @for c in &b.customers_by_tier { (figure(&c.name, &format!("billing.customers.{}", c.name), fmt_int(c.count))) }
        }
        h3 { "Subscriptions by status" }
        @if b.subscriptions_by_status.is_empty() {
            p.muted { "No subscriptions." }
        } @else {
            dl.figures {
                @for c in &b.subscriptions_by_status { (figure(&c.name, &format!("billing.subscriptions.{}", c.name), fmt_int(c.count))) }
            }
        }
    }
}

fn stripe_events(b: &Billing) -> Markup {
    html! {
        h3 { "Recent Stripe events" }
        @if b.recent_events.is_empty() {
            p.muted { "No deliveries yet." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th { "Received" } th { "Event" } th { "Type" } th { "Outcome" } } }
                    tbody {
                        @for e in &b.recent_events {
                            tr data-event=(e.event_id) {
                                td { (fmt_time(e.received_at)) }
                                td.wrap { (e.event_id) }
                                td.wrap { (e.kind) }
                                td.wrap {
                                    @match e.status.as_str() {
                                        "failed" => { span.bad { "✗ failed" } }
                                        "ignored" => { span.muted { "– ignored" } }
                                        _ => {
                                            @if e.applied { span.ok { "✓ applied" } } @else { span.muted { "✓ processed, older than the state" } }
                                        }
                                    }
                                    @if e.replays > 0 { " (replayed " (e.replays) "×)" }
                                    @if let Some(err) = &e.error { div.bad { (err) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn quota_table(b: &Billing) -> Markup {
    html! {
        h3 { "API usage against quota (current periods)" }
        @if b.quota_usage.is_empty() {
            p.muted { "No usage counted in the current periods." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th { "Customer" } th { "Tier" } th { "Quota" } th.num { "used" } th.num { "limit" } th.num { "share" } th { "Period ends" } } }
                    tbody {
                        @for u in &b.quota_usage {
                            @let share = 100.0 * u.used as f64 / u.limit.max(1) as f64;
                            tr {
                                td.wrap { (u.email.as_deref().unwrap_or(&u.customer_id)) }
                                td { (u.tier) }
                                td { (u.quota) }
                                td.num data-metric=(format!("billing.quota.{}.{}", u.customer_id, u.quota)) { (fmt_int(u.used)) }
                                td.num { (fmt_int(u.limit)) }
                                td class=(if share >= 100.0 { "num bad" } else if share >= 80.0 { "num warn" } else { "num" }) {
                                    (fmt_percent(share)) @if share >= 100.0 { " (at limit)" }
                                }
                                td { (fmt_time(u.period_end)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The overview's short lists: a few columns, so that they fit a column of the grid.
fn failed_list(q: &Queue) -> Markup {
    html! {
        @if q.failed.is_empty() { p.muted { "No failed rows." } } @else {
            table {
                thead { tr { th { "Movie" } th.num { "Attempts" } th { "Last error" } } }
                tbody { @for f in &q.failed { tr {
                    td.wrap { (f.title.as_deref().unwrap_or("")) " " span.muted { (f.tmdb_id) } }
                    td.num { (f.attempts) }
                    td.wrap.bad { (f.last_error.as_deref().unwrap_or("—")) }
                } } }
            }
        }
    }
}

fn events_list(b: &Billing) -> Markup {
    html! {
        h3 { "Recent Stripe events" }
        @if b.recent_events.is_empty() { p.muted { "No deliveries yet." } } @else {
            table {
                thead { tr { th { "Type" } th { "Outcome" } } }
                tbody { @for e in &b.recent_events { tr data-event=(e.event_id) {
                    td.wrap { (e.kind) div.muted { (fmt_time(e.received_at)) } }
                    td.wrap {
                        @match e.status.as_str() {
                            "failed" => { span.bad { "✗ failed" } }
                            "ignored" => { span.muted { "– ignored" } }
                            _ => { @if e.applied { span.ok { "✓ applied" } } @else { span.muted { "✓ older than the state" } } }
                        }
                    }
                } } }
            }
        }
    }
}

fn quota_list(b: &Billing) -> Markup {
    html! {
        h3 { "API usage against quota" }
        @if b.quota_usage.is_empty() { p.muted { "No usage counted in the current periods." } } @else {
            table {
                thead { tr { th { "Customer" } th { "Quota" } th.num { "Used of limit" } } }
                tbody { @for u in &b.quota_usage {
                    @let share = 100.0 * u.used as f64 / u.limit.max(1) as f64;
                    tr {
                        td.wrap { (u.email.as_deref().unwrap_or(&u.customer_id)) div.muted { (u.tier) } }
                        td { (u.quota) }
                        td class=(if share >= 100.0 { "num bad" } else if share >= 80.0 { "num warn" } else { "num" }) {
                            span data-metric=(format!("billing.quota.{}.{}", u.customer_id, u.quota)) { (fmt_int(u.used)) }
                            " / " (fmt_int(u.limit)) div { (fmt_percent(share)) }
                        }
                    }
                } }
            }
        }
    }
}

pub fn overview(o: &Overview, csrf: &str) -> String {
    let content = html! {
        h1 { "Overview" span.muted { " · " (fmt_time(o.generated_at)) } }
        div.grid {
            (panel("catalog", "Catalog", Some((Section::Catalog.href(), "rejections")), catalog_figures(&o.catalog)))
            (panel("freshness", "Freshness", Some((Section::Freshness.href(), "most overdue")), freshness_figures(&o.freshness)))
            (panel("queue", "Queue", Some((Section::Queue.href(), "failed rows and retry")), html! {
                (queue_figures(&o.queue))
                h3 { "Newest failed rows" }
                (failed_list(&o.queue))
            }))
            (panel("tmdb", "TMDB", Some((Section::Tmdb.href(), "calls per hour")), html! {
                (tmdb_figures(&o.tmdb))
                h3 { "Calls per hour, 48 h (UTC)" }
                (charts::hourly_calls(Canvas::NARROW, "tmdb-hourly-small", &o.tmdb.hourly))
            }))
            (panel("changes", "Recent changes", Some((Section::Changes.href(), "field by field")), html! {
                dl.figures { (figure("refreshes with changes, 24 h", "changes.last_24h", fmt_int(o.changes.last_24h))) }
                (changes_table(&o.changes, false))
            }))
            (panel("billing", "Billing", Some((Section::Billing.href(), "events and usage")), html! {
                (billing_figures(&o.billing))
                (events_list(&o.billing))
                (quota_list(&o.billing))
            }))
        }
        (panel("runs", "Runs", Some((Section::Runs.href(), "all runs")), runs_figures(&o.runs)))
    };
    page(&Frame { title: "Overview", section: Section::Overview, csrf: Some(csrf) }, content)
}

pub fn catalog(c: &Catalog, refusals: &[Refused], csrf: &str) -> String {
    let content = html! {
        h1 { "Catalog" }
        (panel("catalog", "Works", None, catalog_figures(c)))
        (panel("refusals", "Newest refusals (gone and rejected)", None, html! {
            @if refusals.is_empty() { p.muted { "None." } } @else {
                div.scroll { table {
                    thead { tr { th.num { "TMDB id" } th { "Reason" } th { "Detail" } th { "By" } th.num { "Seen" } th { "Last seen" } } }
                    tbody { @for r in refusals { tr {
                        td.num { (r.tmdb_id) } td { (r.reason) } td.wrap { (r.detail.as_deref().unwrap_or("")) }
                        td { (r.function) } td.num { (r.occurrences) "×" } td { (fmt_time(r.last_seen_at)) }
                    } } }
                } }
            }
        }))
    };
    page(&Frame { title: "Catalog", section: Section::Catalog, csrf: Some(csrf) }, content)
}

pub fn freshness(f: &Freshness, overdue: &[Overdue], csrf: &str) -> String {
    let content = html! {
        h1 { "Freshness" }
        (panel("freshness", "Staleness and the changes feed", None, freshness_figures(f)))
        (panel("overdue", "Most overdue", None, html! {
            @if overdue.is_empty() { p.muted { "Nothing is stale." } } @else {
                div.scroll { table {
                    thead { tr { th.num { "TMDB id" } th { "Title" } th { "Released" } th { "Last refreshed" } th { "Due since" } } }
                    tbody { @for w in overdue { tr {
                        td.num { (w.tmdb_id) } td.wrap { (w.title.as_deref().unwrap_or("—")) }
                        td { (w.release_date.map_or("—".to_owned(), |d| d.to_string())) }
                        td { (w.last_refreshed_at.map_or("never".to_owned(), fmt_time)) }
                        td { (w.next_refresh_at.map_or("unscheduled".to_owned(), fmt_time)) }
                    } } }
                } }
            }
        }))
    };
    page(&Frame { title: "Freshness", section: Section::Freshness, csrf: Some(csrf) }, content)
}

pub fn runs(r: &Runs, recent: &[RunRow], csrf: &str) -> String {
    let content = html! {
        h1 { "Runs" }
        (panel("runs", "Runs", None, runs_figures(r)))
        (panel("recent-runs", "Newest runs", None, run_table(recent, true)))
    };
    page(&Frame { title: "Runs", section: Section::Runs, csrf: Some(csrf) }, content)
}

pub fn run(r: &RunRow, csrf: &str) -> String {
    let row = |label: &str, value: Markup| html! { tr { th { (label) } td.wrap { (value) } } };
    let titles = |list: &[Option<String>]| {
        html! {
            @if list.is_empty() { span.muted { "none" } } @else {
                ul.plain { @for t in list.iter().flatten() { li { (t) } } }
            }
        }
    };
    let content = html! {
        h1 { "Run " (r.id) " · " (r.function) }
        p { a href=(Section::Runs.href()) { "← all runs" } }
        section.panel {
            div.scroll { table {
                tbody {
                    (row("Run id", html! { (r.run_id) }))
                    (row("Function", html! { (r.function) }))
                    (row("Source", html! { (r.source) }))
                    (row("Trigger", html! { (r.trigger_type) }))
                    (row("Status", html! { span data-metric="run.status" { (run_status(r.status)) } }))
                    (row("Started", html! { (fmt_time(r.started_at)) }))
                    (row("Deadline", html! { (r.deadline_at.map_or("—".to_owned(), fmt_time)) }))
                    (row("Finished", html! { (r.finished_at.map_or("—".to_owned(), fmt_time)) }))
                    (row("Duration", html! { (fmt_ms(r.duration_ms.map(i64::from))) }))
                    (row("Movies checked", html! { span data-metric="run.checked" { (r.movies_checked) } }))
                    (row("Skipped (fresh)", html! { (r.movies_skipped) }))
                    (row("Ingested", html! { span data-metric="run.ingested" { (r.movies_ingested) } }))
                    (row("Failed", html! { span data-metric="run.failed" { (r.movies_failed) } }))
                    (row("Left queued", html! { (r.movies_queued) }))
                    (row("TMDB calls", html! { (r.tmdb_calls) }))
                    (row("Error", html! { @if let Some(e) = &r.error { span.bad { (e) } } @else { span.muted { "none" } } }))
                    (row("Ingested titles", titles(&r.ingested_titles)))
                    (row("Failed titles", titles(&r.failed_titles)))
                }
            } }
        }
    };
    page(&Frame { title: &format!("Run {}", r.id), section: Section::Runs, csrf: Some(csrf) }, content)
}

pub fn queue(q: &Queue, csrf: &str, notice: Option<String>) -> String {
    let content = html! {
        h1 { "Queue" }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        (panel("queue", "Refresh queue", None, queue_figures(q)))
        (panel("failed", "Failed rows", None, html! {
            @if q.counts.failed > 0 {
                form method="post" action="/dashboard/queue/retry" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="all" value="1";
                    button.danger type="submit" { "Retry all " (fmt_int(q.counts.failed)) " failed rows" }
                }
                p.muted { "A retry queues the movie again now, with its attempts reset; a movie already queued again is left alone." }
            }
            (failed_table(q, Some(csrf)))
        }))
    };
    page(&Frame { title: "Queue", section: Section::Queue, csrf: Some(csrf) }, content)
}

pub fn tmdb(t: &Tmdb, csrf: &str) -> String {
    let content = html! {
        h1 { "TMDB calls · last " (t.window_hours) " hours" }
        (panel("tmdb", "Calls", None, html! {
            (tmdb_figures(t))
            h3 { "Calls per hour (UTC)" }
            (charts::hourly_calls(Canvas::WIDE, "tmdb-hourly", &t.hourly))
        }))
        (panel("tmdb-latency", "Latency", None, html! {
            dl.figures { (figure("mean", "tmdb.mean", t.latency_mean_ms.map_or("—".to_owned(), |m| format!("{m:.0} ms")))) }
            (charts::latency_histogram(Canvas::WIDE, "tmdb-latency-chart", &t.latency_histogram))
        }))
        (panel("tmdb-endpoints", "By endpoint", None, html! {
            div.scroll { table {
                thead { tr { th { "Endpoint" } th.num { "calls" } th.num { "errors" } th.num { "mean latency" } } }
                tbody { @for e in &t.by_endpoint { tr {
                    td { code { (e.endpoint) } } td.num { (fmt_int(e.calls)) } td.num { (fmt_int(e.errors)) }
                    td.num { (format!("{:.0} ms", e.latency_mean_ms)) }
                } } }
            } }
            details {
                summary { "Calls per hour as a table" }
                div.scroll { table {
                    thead { tr { th { "Hour (UTC)" } th.num { "calls" } th.num { "errors" } } }
                    tbody { @for h in &t.hourly { tr { td { (h.hour.format("%Y-%m-%d %H:00")) } td.num { (fmt_int(h.calls)) } td.num { (fmt_int(h.errors)) } } } }
                } }
            }
        }))
    };
    page(&Frame { title: "TMDB", section: Section::Tmdb, csrf: Some(csrf) }, content)
}

pub fn changes(c: &Changes, csrf: &str) -> String {
    let content = html! {
        h1 { "Recent changes" }
        (panel("changes", "What refreshes changed, field by field", None, html! {
            dl.figures { (figure("refreshes with changes, 24 h", "changes.last_24h", fmt_int(c.last_24h))) }
            (changes_table(c, true))
        }))
    };
    page(&Frame { title: "Changes", section: Section::Changes, csrf: Some(csrf) }, content)
}

pub fn billing(b: &Billing, csrf: &str) -> String {
    let content = html! {
        h1 { "Billing" }
        (panel("billing", "Customers and subscriptions", None, billing_figures(b)))
        (panel("stripe", "Stripe", None, stripe_events(b)))
        (panel("usage", "Usage", None, quota_table(b)))
    };
    page(&Frame { title: "Billing", section: Section::Billing, csrf: Some(csrf) }, content)
}

pub fn sign_in(next: &str, message: Option<&str>) -> String {
    let content = html! {
        section.panel.signin {
            h1 { "Sign in" }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form method="post" action="/dashboard/sign-in" {
                input type="hidden" name="next" value=(next);
                label for="token" { "Admin token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
            p.muted { "The admin token of this deployment (the " code { "admin_token" } " setting). The session lasts "
                (stats_hours()) " hours." }
        }
    };
    page(&Frame { title: "Sign in", section: Section::SignIn, csrf: None }, content)
}

fn stats_hours() -> i64 {
    super::session::LIFETIME.num_hours()
}

/// An error as a page (the status and the public message of `api::error`).
pub fn error(status: http::StatusCode, message: &str, signed_in: Option<&str>) -> String {
    let content = html! {
        section.panel {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
            p.wrap { (message) }
            p { a href="/dashboard" { "Back to the dashboard" } }
        }
    };
    page(
        &Frame { title: status.canonical_reason().unwrap_or("Error"), section: Section::Overview, csrf: signed_in },
        content,
    )
}
