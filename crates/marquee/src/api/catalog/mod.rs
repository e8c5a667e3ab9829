//! The catalog API for customers (issue 16): every `/api/*` route, served by the `catalog-api`
//! component and by `marquee serve`.
//!
//! A customer request goes: its parameters checked (400, before any database work); its key
//! taken from `Authorization: Bearer` or `X-API-Key` (401 when missing or malformed, unless
//! `catalog_public` opens reads without one); then **one statement**
//! (`db::api_access::statement`) checks the key (401 when unknown or revoked), charges the
//! customer's `api_requests` quota (429 over the limit, nothing counted) and reads, in one round
//! trip. Every answer to a known key carries `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset` (seconds until the period's usage starts again; `Retry-After` on a 429),
//! and every `GET` an `ETag` (`If-None-Match` → 304, charged like a 200: the request was made)
//! and a `Cache-Control` (`private` for keyed reads, so no shared cache hands them to others).
//! Settings are read once per request, only those the route needs. The whole request is cut
//! by `time_budget_ms` (an on-demand ingest, `ingest`, as every ingest is: its TMDB calls).

pub(crate) mod admin;
pub mod cursor;
pub mod ingest;
pub mod query;

use std::collections::BTreeMap;
use std::pin::pin;
use std::time::Duration;

use futures::future::{Either, select};
use http::{HeaderValue, StatusCode, header};

use super::{Params, Route, RouteId, error_response};
use crate::config::{self, ApiConfig, ConfigError};
use crate::db::api_access::{self, Admission, Caller, Metering, QuotaState};
use crate::db::api_reads::{self, Found};
use crate::db::browse::{self, Browse};
use crate::db::search;
use crate::domain::api_key;
use crate::domain::card::{etag_of_bytes, if_none_match, if_none_match_tags};
use crate::domain::states::WorkStatus;
use crate::error::{Error, Result};
use crate::ports::{Clock, Connection, Database, HttpClient, HttpRequest, HttpResponse, Row, Settings};
use cursor::CursorKey;

/// How long clients may keep an answer: cards, similar movies and people change with a refresh
/// (days apart); lists and search results with every write.
const ITEM_MAX_AGE: u32 = 300;
const LIST_MAX_AGE: u32 = 60;

/// Serves one request for a route of the catalog API.
pub async fn serve<S: Settings, D: Database, H: HttpClient, C: Clock>(
    settings: &S,
    open_db: impl FnOnce(&str) -> D,
    http: H,
    clock: &C,
    route: &Route,
    params: &Params,
    request: HttpRequest,
) -> HttpResponse {
    let function = route.component;
    let (answer, quota) = match route.id {
        RouteId::OpenApi => (super::openapi::respond(&request), None),
        id if admin::serves(id) => (admin::handle(settings, open_db, clock, id, params, &request).await, None),
        RouteId::Health => (health(settings, open_db, clock).await, None),
        RouteId::WorkIngest => ingest::serve(settings, open_db, http, clock, params, &request).await,
        id => customer(settings, open_db, clock, id, params, &request).await,
    };
    let mut response = answer.unwrap_or_else(|e| error_response(function, &e));
    if let Some(quota) = quota {
        rate_limit_headers(&mut response, &quota, clock.now());
    }
    response
}

/// What a customer route reads, checked from its path and query.
enum Read {
    /// A card, and the caller's `If-None-Match` (empty without one).
    Card(i64, String),
    Similar(i64),
    /// The listing, and when its first page was read (unix seconds).
    Browse(Browse, i64),
    Search(String, i64),
    Person(i64),
    Genres,
    Usage,
}

impl Read {
    fn parse(
        id: RouteId,
        params: &Params,
        request: &HttpRequest,
        cursors: Option<&CursorKey>,
        now: i64,
    ) -> Result<Read> {
        let path = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        let tmdb_id = || path_tmdb_id(params);
        let raw = request.uri().query();
        Ok(match id {
            RouteId::WorkCard => {
                query::parameters(raw, &[])?;
                let cached = request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).unwrap_or("");
                Read::Card(tmdb_id()?, cached.to_owned())
            }
            RouteId::WorkSimilar => {
                query::parameters(raw, &[])?;
                Read::Similar(tmdb_id()?)
            }
            RouteId::Browse => {
                let parameters = query::parameters(raw, query::BROWSE)?;
                let mut browse = query::browse(&parameters)?;
                let mut first_page_at = now;
                if let Some(text) = parameters.get("cursor") {
                    let key = cursors.ok_or(admin_token_missing())?;
                    let (after, at) = cursor::decode(key, &browse, text, now)?;
                    browse.after = Some(after);
                    first_page_at = at;
                }
                Read::Browse(browse, first_page_at)
            }
            RouteId::Search => {
                let (q, limit) = query::search(&query::parameters(raw, query::SEARCH)?)?;
                Read::Search(q, limit)
            }
            RouteId::Person => {
                query::parameters(raw, &[])?;
                Read::Person(query::path_id(path("person_id"), "person_id")?)
            }
            RouteId::Genres => {
                query::parameters(raw, &[])?;
                Read::Genres
            }
            RouteId::Usage => {
                query::parameters(raw, &[])?;
                Read::Usage
            }
            other => return Err(Error::NotFound(format!("{other:?} is not a catalog read"))),
        })
    }

    /// A browse filtered by a relation is planned for its values (how many works a person,
    /// company, keyword or genre has decides the plan); everything else keeps one plan (a
    /// search's statement is a call of `marquee_search`, which decides for itself).
    fn planning(&self) -> api_access::Planning {
        match self {
            Read::Browse(b, _)
                if b.filters.genre.is_some()
                    || b.filters.person.is_some()
                    || b.filters.company.is_some()
                    || b.filters.keyword.is_some() =>
            {
                api_access::Planning::EachTime
            }
            _ => api_access::Planning::Prepared,
        }
    }

    /// Looking at one's own usage costs nothing, and works over the limit too.
    fn metering(&self) -> Metering {
        if matches!(self, Read::Usage) { Metering::Free } else { Metering::Charge }
    }

    fn sql(&self, params: &mut api_access::Params, now: chrono::NaiveDateTime) -> String {
        match self {
            Read::Card(id, cached) => api_reads::card(params, *id, &if_none_match_tags(cached).collect::<Vec<_>>()),
            Read::Similar(id) => api_reads::similar(params, *id),
            Read::Browse(browse, _) => browse::page(params, browse),
            Read::Search(q, limit) => search::search(params, q, *limit),
            Read::Person(id) => api_reads::person(params, *id),
            Read::Genres => api_reads::genres(params),
            Read::Usage => api_reads::usage(params, now),
        }
    }

    fn max_age(&self) -> Option<u32> {
        match self {
            Read::Card(..) | Read::Similar(_) | Read::Person(_) => Some(ITEM_MAX_AGE),
            Read::Browse(..) | Read::Search(..) | Read::Genres => Some(LIST_MAX_AGE),
            Read::Usage => None,
        }
    }

    /// The answer's body and ETag, from the read's row.
    fn body(self, row: Option<&Row>, cursors: Option<&CursorKey>) -> Result<(String, Option<String>)> {
        let not_found = |what: String| Error::NotFound(format!("{what} is not in the catalog"));
        let movie = |found: Found<String>, tmdb_id: i64| match found {
            Found::Servable(body) => Ok(body),
            Found::NotServable(WorkStatus::Gone) => Err(Error::Gone { tmdb_id }),
            Found::NotServable(_) | Found::Unknown => Err(not_found(format!("movie {tmdb_id}"))),
        };
        Ok(match self {
            Read::Card(tmdb_id, cached) => match api_reads::card_of(row)? {
                Found::Servable(card) => match card.body {
                    Some(body) => (body, Some(card.etag)),
                    // Left out because the caller has this version: `respond_get` answers 304
                    // by the same rule (`domain::card::if_none_match`).
                    None if if_none_match(&cached, &card.etag) => (String::new(), Some(card.etag)),
                    None => return Err(missing_row("body")),
                },
                Found::NotServable(status) => (movie(Found::NotServable(status), tmdb_id)?, None),
                Found::Unknown => (movie(Found::Unknown, tmdb_id)?, None),
            },
            Read::Similar(tmdb_id) => {
                let results = movie(api_reads::body_of(row)?, tmdb_id)?;
                (object(&[("tmdb_id", &tmdb_id.to_string()), ("results", &results)]), None)
            }
            Read::Browse(browse, first_page_at) => {
                let page = browse::page_of(row.ok_or_else(|| missing_row("items"))?)?;
                let next = match &page.next {
                    Some(after) => {
                        let key = cursors.ok_or(admin_token_missing())?;
                        json_text(&cursor::encode(key, &browse, after, first_page_at))
                    }
                    None => "null".to_owned(),
                };
                let body = object(&[
                    ("results", &page.items),
                    ("next_cursor", &next),
                    ("sort", &json_text(browse.sort.name())),
                    ("order", &json_text(browse.order.name())),
                    ("limit", &browse.limit.to_string()),
                ]);
                // The cursor carries the snapshot of its first page, different at every read:
                // the ETag is of what the page lists and where the next one starts, so an
                // unchanged page answers 304 (and the cursor of the cached copy pages on).
                let position = page.next.as_ref().map(|a| format!("{}|{}", a.key, a.work_id)).unwrap_or_default();
                let etag = etag_of_bytes(format!("{}|{}|{position}", page.items, browse.limit).as_bytes());
                (body, Some(etag))
            }
            Read::Search(q, limit) => {
                let items: String = row.ok_or_else(|| missing_row("items"))?.get("items")?;
                (object(&[("query", &json_text(&q)), ("limit", &limit.to_string()), ("results", &items)]), None)
            }
            Read::Person(person_id) => match row {
                Some(r) => (api_reads::body(r)?, None),
                None => return Err(not_found(format!("person {person_id}"))),
            },
            Read::Genres => (object(&[("results", &api_reads::body(row.ok_or_else(|| missing_row("body"))?)?)]), None),
            Read::Usage => (api_reads::body(row.ok_or_else(|| missing_row("body"))?)?, None),
        })
    }
}

/// The `{tmdb_id}` of a route's path, checked as every TMDB id is.
fn path_tmdb_id(params: &Params) -> Result<i64> {
    let value = params.iter().find(|(k, _)| *k == "tmdb_id").map(|(_, v)| serde_json::Value::String(v.clone()));
    super::handlers::parse_tmdb_id(value.as_ref(), "tmdb_id")
}

fn missing_row(column: &str) -> Error {
    Error::Db(crate::ports::DbError::MissingColumn(column.into()))
}

fn admin_token_missing() -> Error {
    ConfigError::Missing { setting: "admin_token", consequence: "browse cursors cannot be signed" }.into()
}

/// A customer route: parameters, key, one statement, the answer.
async fn customer<S: Settings, D: Database, C: Clock>(
    settings: &S,
    open_db: impl FnOnce(&str) -> D,
    clock: &C,
    id: RouteId,
    params: &Params,
    request: &HttpRequest,
) -> (Result<HttpResponse>, Option<QuotaState>) {
    let attempt = async {
        let config = ApiConfig::load(settings, id == RouteId::Browse).await?;
        let cursors = config.admin_token.as_ref().map(CursorKey::from_admin_token);
        let now = clock.now();
        let read = Read::parse(id, params, request, cursors.as_ref(), now.timestamp())?;
        let caller = caller(settings, request, read.metering()).await?;
        let url = config.database_url.as_ref().ok_or_else(database_url_missing)?;
        let db = open_db(url.expose());
        let (sql, bound) =
            api_access::statement(&caller, read.metering(), now.naive_utc(), |p| read.sql(p, now.naive_utc()));
        let outcome = within(clock, config.time_budget, async {
            let conn = db.connect().await?;
            Ok(api_access::run(&conn, &sql, &bound, read.planning()).await?)
        })
        .await?;
        Ok((read, caller, outcome, cursors))
    };
    let (read, caller, outcome, cursors) = match attempt.await {
        Ok(done) => done,
        Err(e) => return (Err(e), None),
    };
    let quota = match &outcome.admission {
        Admission::UnknownKey => return (Err(Error::InvalidApiKey), None),
        Admission::OverQuota(q) => return (Err(requests_used_up(q, clock.now())), Some(q.clone())),
        Admission::Admitted(q) => Some(q.clone()),
        Admission::Public => None,
    };
    let caching = match (read.max_age(), &caller) {
        (None, _) => "no-store".to_owned(),
        (Some(age), Caller::Public) => format!("public, max-age={age}"),
        (Some(age), Caller::Key(_)) => format!("private, max-age={age}"),
    };
    let answer = read.body(outcome.read.as_ref(), cursors.as_ref()).map(|(body, etag)| {
        let etag = etag.unwrap_or_else(|| etag_of_bytes(body.as_bytes()));
        respond_get(request, body, &etag, &caching)
    });
    (answer, quota)
}

fn database_url_missing() -> Error {
    ConfigError::Missing { setting: "database_url", consequence: "no database to serve from" }.into()
}

/// Who is asking: the key presented (its hash), or nobody when `catalog_public` allows it.
/// A malformed key is refused here, without a database round trip.
async fn caller(settings: &impl Settings, request: &HttpRequest, metering: Metering) -> Result<Caller> {
    match presented_key_hash(request)? {
        Some(hash) => Ok(Caller::Key(hash)),
        // The usage route is about a key: there is nothing to show without one.
        None if metering == Metering::Free => Err(Error::MissingApiKey),
        None if config::catalog_public(settings).await? => Ok(Caller::Public),
        None => Err(Error::MissingApiKey),
    }
}

/// The hash of the key a request presents; `None` without one; a malformed key is refused.
pub(crate) fn presented_key_hash(request: &HttpRequest) -> Result<Option<String>> {
    match presented_key(request) {
        Some(key) if api_key::is_well_formed(key) => Ok(Some(api_key::hash(key))),
        Some(_) => Err(Error::InvalidApiKey),
        None => Ok(None),
    }
}

/// `Authorization: Bearer <key>`, else `X-API-Key: <key>`.
fn presented_key(request: &HttpRequest) -> Option<&str> {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)).filter(|k| !k.is_empty())
}

/// `GET /api/health`: a `SELECT 1` through the database, the floor of every other route. No
/// key, no charge.
async fn health<S: Settings, D: Database, C: Clock>(
    settings: &S,
    open_db: impl FnOnce(&str) -> D,
    clock: &C,
) -> Result<HttpResponse> {
    let config = ApiConfig::load(settings, false).await?;
    let url = config.database_url.as_ref().ok_or_else(database_url_missing)?;
    let db = open_db(url.expose());
    within(clock, config.time_budget, async {
        db.connect().await?.query_prepared("SELECT 1 AS ok", &[]).await?;
        Ok(())
    })
    .await?;
    let mut response = text_response(StatusCode::OK, r#"{"status":"ok"}"#.to_owned());
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Runs `work` within `budget`: past it, the work is dropped (its connection with it, which no
/// pool keeps while a statement is in flight) and the request answers 503.
pub(super) async fn within<T>(
    clock: &impl Clock,
    budget: Duration,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match select(pin!(work), pin!(clock.sleep(budget))).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(Error::OutOfTime { budget_ms: budget.as_millis() }),
    }
}

/// 200 with `body`, or 304 when `If-None-Match` names its ETag; both with the ETag and
/// `Cache-Control`.
pub(super) fn respond_get(request: &HttpRequest, body: String, etag: &str, caching: &str) -> HttpResponse {
    let not_modified = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match(v, etag));
    let mut response = if not_modified {
        http::Response::builder().status(StatusCode::NOT_MODIFIED).body(Vec::new()).expect("static parts are valid")
    } else {
        text_response(StatusCode::OK, body)
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(caching) = HeaderValue::from_str(caching) {
        headers.insert(header::CACHE_CONTROL, caching);
    }
    response
}

/// A response whose body is JSON text already.
pub(super) fn text_response(status: StatusCode, body: String) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into_bytes())
        .expect("static response parts are valid")
}

/// A JSON object from fields whose values are JSON texts already (PostgreSQL's, or serialised
/// here): the texts are copied, not parsed again.
pub(super) fn object(fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>() + 2);
    out.push('{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_text(name));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

fn json_text(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// The answer to a request over its customer's `api_requests` quota.
fn requests_used_up(quota: &QuotaState, now: chrono::DateTime<chrono::Utc>) -> Error {
    used_up(api_access::API_REQUESTS, quota.limit, quota.period_end, now)
}

/// The answer to a request over the customer's `quota`, whose period ends at `period_end`.
fn used_up(
    quota: &'static str,
    limit: i64,
    period_end: chrono::NaiveDateTime,
    now: chrono::DateTime<chrono::Utc>,
) -> Error {
    Error::QuotaExceeded { quota, limit, retry_after_secs: seconds_until(period_end, now) }
}

/// Seconds until a quota's period ends (when `Retry-After` and `RateLimit-Reset` point).
fn seconds_until(period_end: chrono::NaiveDateTime, now: chrono::DateTime<chrono::Utc>) -> i64 {
    (period_end - now.naive_utc()).num_seconds().max(0)
}

/// The rate-limit headers, as the IETF draft (`draft-ietf-httpapi-ratelimit-headers`) names
/// them: the period's limit, what is left of it, and seconds until it starts again.
fn rate_limit_headers(response: &mut HttpResponse, quota: &QuotaState, now: chrono::DateTime<chrono::Utc>) {
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(quota.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(quota.remaining()));
    headers.insert("ratelimit-reset", HeaderValue::from(seconds_until(quota.period_end, now)));
}

/// Parameters as a map, for the admin routes.
pub(super) fn parameters(request: &HttpRequest, allowed: &[&str]) -> Result<BTreeMap<String, String>> {
    query::parameters(request.uri().query(), allowed)
}
