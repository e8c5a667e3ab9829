//! The HTTP side: routing, the order of checks, and the hyper accept loop.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{Days, NaiveDate};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::catalog::{self, Catalog, LIST_PAGE_SIZE, PARTS};
use crate::error::ApiError;
use crate::faults::{Fault, Faults};
use crate::{Counters, FakeTmdbConfig};

/// TMDB refuses pages past 500 on every paged endpoint.
const MAX_PAGE: u32 = 500;
const MAX_APPENDS: usize = 20;
const CHANGES_PAGE_SIZE: usize = 100;
const MAX_CHANGES_WINDOW_DAYS: i64 = 14;

/// Everything a running server shares between its connections and its owner.
pub(crate) struct State {
    pub config: FakeTmdbConfig,
    pub catalog: Catalog,
    pub faults: Faults,
    pub counters: Mutex<Counters>,
    bucket: Option<Mutex<TokenBucket>>,
}

impl State {
    pub(crate) fn new(config: FakeTmdbConfig) -> State {
        State {
            catalog: Catalog::build(&config),
            faults: Faults::new(config.seed),
            counters: Mutex::new(Counters::default()),
            bucket: config.rate_limit_rps.map(|rps| Mutex::new(TokenBucket::new(rps))),
            config,
        }
    }

    pub(crate) fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The id export as served now: movies told `not_found` are not in it (TMDB drops deleted
    /// movies), patched movies show their patch.
    pub(crate) fn write_export(&self, out: impl std::io::Write) -> std::io::Result<u64> {
        let gone = self.faults.not_found_ids();
        let patches = self.faults.with_patches(catalog::Patches::clone);
        catalog::write_export(&self.config, &patches, &|id| gone.contains(&id), out)
    }
}

/// Token bucket with burst = rate: `rps` requests at once, then `rps` a second.
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rps: u32) -> TokenBucket {
        let rate = f64::from(rps.max(1));
        TokenBucket { rate, tokens: rate, last: Instant::now() }
    }

    fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Accept loop
// ---------------------------------------------------------------------------------------------

/// Serves connections until `shutdown` fires (or its sender is dropped). Connection tasks die
/// with the runtime when the caller drops it.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>, mut shutdown: oneshot::Receiver<()>) {
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    eprintln!("fake-tmdb: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            // Keep-alive is hyper's default; clients reuse connections.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<ReplyBody>, Infallible> {
    let route = Route::parse(req.uri().path());
    let query = parse_query(req.uri().query().unwrap_or(""));
    let (reply, storm_delay) = answer(&state, &route, &query, req.headers());
    count_answer(&state, &route, reply.status);
    let mut delay = state.config.latency + storm_delay;
    if let Some(id) = route.movie_id() {
        delay += state.faults.slow_for(id);
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut response = reply.into_response();
    // Not a TMDB header: tells tests the delay applied, so they need not time the answer.
    response.headers_mut().insert(DELAY_HEADER, u64::try_from(delay.as_millis()).unwrap_or(u64::MAX).into());
    Ok(response)
}

/// The delay the fake added before answering, in milliseconds.
pub const DELAY_HEADER: &str = "x-fake-tmdb-delay-ms";

/// A finished answer.
struct Reply {
    status: u16,
    body: Vec<u8>,
    retry_after: Option<u64>,
    content_type: &'static str,
    /// Reset the connection after this many bytes of the body (announced whole).
    reset_after: Option<usize>,
}

const JSON: &str = "application/json;charset=utf-8";

impl Reply {
    fn ok(value: &Value) -> Reply {
        Reply::ok_bytes(serde_json::to_vec(value).expect("serialising a JSON value cannot fail"))
    }

    fn ok_bytes(body: Vec<u8>) -> Reply {
        Reply { status: 200, body, retry_after: None, content_type: JSON, reset_after: None }
    }

    fn into_response(self) -> Response<ReplyBody> {
        let mut builder = Response::builder()
            .status(self.status)
            .header(CONTENT_TYPE, self.content_type)
            .header(CONTENT_LENGTH, self.body.len());
        if let Some(secs) = self.retry_after {
            builder = builder.header(RETRY_AFTER, secs.to_string());
        }
        let mut body = Bytes::from(self.body);
        let reset = self.reset_after.map(|at| body.split_off(at.min(body.len())).len());
        // The reset waits a moment, so that the head and the first half are on the wire first.
        let pause = reset.map(|_| Box::pin(tokio::time::sleep(Duration::from_millis(20))));
        builder.body(ReplyBody { data: Some(body), reset, pause }).expect("status and headers are valid")
    }

    /// What a body fault makes of a successful answer.
    fn spoiled(mut self, fault: &Fault) -> Reply {
        match fault {
            Fault::ResetMidBody => self.reset_after = Some(self.body.len() / 2),
            // Cutting the document in half always leaves an unclosed object or array.
            Fault::Truncated => self.body.truncate(self.body.len() / 2),
            Fault::WrongContentType => {
                self.content_type = "text/html; charset=utf-8";
                self.body = b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>\
                    <body><h1>Service Unavailable</h1><p>Please try again later.</p></body></html>"
                    .to_vec();
            }
            Fault::Huge { bytes } => {
                // The same JSON with an unknown field that brings it to `bytes`.
                // `…}` becomes `…,"_padding":"xx…x"}`: 14 bytes more than the padding.
                if self.body.last() == Some(&b'}') && self.body.len() + 14 < *bytes {
                    let padding = bytes - self.body.len() - 14;
                    self.body.pop();
                    self.body.extend_from_slice(b",\"_padding\":\"");
                    self.body.extend(std::iter::repeat_n(b'x', padding));
                    self.body.extend_from_slice(b"\"}");
                }
            }
            Fault::Status { .. } | Fault::Slow(_) => {}
        }
        self
    }
}

impl From<ApiError> for Reply {
    fn from(err: ApiError) -> Reply {
        Reply {
            status: err.status,
            body: err.body(),
            retry_after: err.retry_after,
            content_type: JSON,
            reset_after: None,
        }
    }
}

/// A response body: the bytes, then, for a reset, an error that makes hyper drop the connection
/// before the announced length was sent.
pub(crate) struct ReplyBody {
    data: Option<Bytes>,
    /// Bytes announced but never sent.
    reset: Option<usize>,
    /// Before the reset: hyper flushes what it has while the body is pending.
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(data) = self.data.take().filter(|d| !d.is_empty()) {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(pause) = self.pause.as_mut() {
            std::task::ready!(pause.as_mut().poll(cx));
            self.pause = None;
        }
        Poll::Ready(self.reset.take().map(|missing| {
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, format!("reset {missing} bytes short")))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.data.as_ref().is_none_or(Bytes::is_empty) && self.reset.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let len = self.data.as_ref().map_or(0, Bytes::len) + self.reset.unwrap_or(0);
        SizeHint::with_exact(len as u64)
    }
}

/// The documented order: count → auth → injected failures / storms / rate limit → route → a
/// storm's body fault (on a 2xx only). Returns the reply and a storm's extra delay. The id
/// export is TMDB's file server, not its API: no key, no API faults.
fn answer(state: &State, route: &Route, query: &Query, headers: &HeaderMap) -> (Reply, Duration) {
    count(state, route);
    if *route == Route::Export {
        return (export_reply(state), Duration::ZERO);
    }
    if !authorized(&state.config, query, headers) {
        return (ApiError::unauthorized().into(), Duration::ZERO);
    }
    if let Some(err) = state.faults.take_injected() {
        count_injected(state, &err.status.to_string());
        return (err.into(), Duration::ZERO);
    }
    let storm = state.faults.draw_storm();
    if let Some(Fault::Status { status, retry_after }) = storm {
        count_injected(state, &status.to_string());
        return (ApiError::for_status(status, retry_after).into(), Duration::ZERO);
    }
    if let Some(bucket) = &state.bucket {
        let allowed = bucket.lock().unwrap_or_else(|p| p.into_inner()).try_take();
        if !allowed {
            return (ApiError::rate_limited(Some(1)).into(), Duration::ZERO);
        }
    }
    let reply = route_request(state, route, query).unwrap_or_else(Reply::from);
    match storm {
        Some(fault) if (200..300).contains(&reply.status) => {
            count_injected(state, &fault.name());
            let delay = if let Fault::Slow(delay) = fault { delay } else { Duration::ZERO };
            (reply.spoiled(&fault), delay)
        }
        _ => (reply, Duration::ZERO),
    }
}

fn count_injected(state: &State, name: &str) {
    *state.counters().injected.entry(name.to_owned()).or_default() += 1;
}

fn count(state: &State, route: &Route) {
    let mut c = state.counters();
    c.total += 1;
    if let Some(template) = route.template() {
        *c.by_endpoint.entry(template).or_default() += 1;
    }
    if let Some(id) = route.movie_id() {
        *c.by_movie.entry(id).or_default() += 1;
    }
}

fn count_answer(state: &State, route: &Route, status: u16) {
    let mut c = state.counters();
    *c.by_status.entry(status).or_default() += 1;
    if let (Some(id), 200..=299) = (route.movie_id(), status) {
        *c.ok_by_movie.entry(id).or_default() += 1;
    }
}

fn authorized(config: &FakeTmdbConfig, query: &Query, headers: &HeaderMap) -> bool {
    if query.get("api_key").is_some_and(|k| *k == config.api_key) {
        return true;
    }
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let value = value.trim();
    // The scheme name is case-insensitive in HTTP.
    value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ") && value[7..].trim() == config.bearer_token
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Details(u64),
    Part(u64, &'static str),
    Popular,
    NowPlaying,
    Trending(String),
    Changes,
    Configuration,
    /// The daily id export (TMDB's file server).
    Export,
    Unknown,
}

/// `movie_ids.json.gz`, or TMDB's dated name `movie_ids_MM_DD_YYYY.json.gz`.
fn is_export_file(name: &str) -> bool {
    let Some(stem) = name.strip_prefix("movie_ids").and_then(|n| n.strip_suffix(".json.gz")) else {
        return false;
    };
    let date = stem.as_bytes();
    stem.is_empty()
        || (date.len() == 11
            && date
                .iter()
                .enumerate()
                .all(|(i, b)| if matches!(i, 0 | 3 | 6) { *b == b'_' } else { b.is_ascii_digit() }))
}

impl Route {
    fn parse(path: &str) -> Route {
        if let Some(file) = path.strip_prefix("/p/exports/") {
            return if is_export_file(file) { Route::Export } else { Route::Unknown };
        }
        let Some(rest) = path.strip_prefix("/3/") else {
            return Route::Unknown;
        };
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            ["configuration"] => Route::Configuration,
            ["movie", "popular"] => Route::Popular,
            ["movie", "now_playing"] => Route::NowPlaying,
            ["movie", "changes"] => Route::Changes,
            ["trending", "movie", window] => Route::Trending((*window).to_string()),
            ["movie", id, part @ ..] => {
                let Ok(id) = id.parse::<u64>() else {
                    return Route::Unknown;
                };
                if part.is_empty() {
                    return Route::Details(id);
                }
                let joined = part.join("/");
                PARTS.iter().find(|p| **p == joined).map_or(Route::Unknown, |p| Route::Part(id, p))
            }
            _ => Route::Unknown,
        }
    }

    /// The endpoint template counted in `Counters::by_endpoint`.
    fn template(&self) -> Option<String> {
        Some(match self {
            Route::Details(_) => "/movie/{id}".to_string(),
            Route::Part(_, part) => format!("/movie/{{id}}/{part}"),
            Route::Popular => "/movie/popular".to_string(),
            Route::NowPlaying => "/movie/now_playing".to_string(),
            Route::Trending(_) => "/trending/movie/{window}".to_string(),
            Route::Changes => "/movie/changes".to_string(),
            Route::Configuration => "/configuration".to_string(),
            Route::Export => "/p/exports/movie_ids.json.gz".to_string(),
            Route::Unknown => return None,
        })
    }

    fn movie_id(&self) -> Option<u64> {
        match self {
            Route::Details(id) | Route::Part(id, _) => Some(*id),
            _ => None,
        }
    }
}

fn route_request(state: &State, route: &Route, query: &Query) -> Result<Reply, ApiError> {
    let cfg = &state.config;
    let cat = &state.catalog;
    match route {
        Route::Details(id) => {
            let append = parse_append(query)?;
            if let Some(raw) = state.faults.raw(*id).filter(|_| !state.faults.is_not_found(*id)) {
                count_injected(state, "raw_body");
                return Ok(Reply::ok_bytes(raw));
            }
            match state.faults.fixture(*id) {
                Some(fixture) => movie_reply(state, *id, |_| Some(catalog::fixture_details(fixture, &append))),
                None => movie_reply(state, *id, |patches| catalog::details(cfg, *id, &append, patches)),
            }
        }
        Route::Part(id, part) => {
            let page = parse_page(query)?;
            let fixture = state.faults.fixture(*id);
            movie_reply(state, *id, |patches| {
                let mut value = match &fixture {
                    Some(fixture) => fixture.get(*part).cloned()?,
                    None => catalog::part(cfg, *id, part, patches)?,
                };
                if let Value::Object(map) = &mut value {
                    if *part == "similar" {
                        // `similar` has a single page: later pages are empty, as past the end.
                        if page > 1 {
                            map.insert("page".into(), json!(page));
                            map.insert("results".into(), json!([]));
                        }
                    } else {
                        // Standalone parts name their movie; appended ones don't.
                        map.insert("id".into(), json!(id));
                    }
                }
                Some(value)
            })
        }
        Route::Popular => Ok(Reply::ok(&Value::Object(list_page(state, &cat.popular, parse_page(query)?, false)))),
        Route::NowPlaying => {
            let mut page = list_page(state, &cat.now_playing, parse_page(query)?, false);
            let (minimum, maximum) = cat.now_playing_dates;
            page.insert("dates".into(), json!({"maximum": maximum.to_string(), "minimum": minimum.to_string()}));
            Ok(Reply::ok(&Value::Object(page)))
        }
        Route::Trending(window) => {
            let ids = match window.as_str() {
                "day" => &cat.trending_day,
                "week" => &cat.trending_week,
                _ => return Err(ApiError::not_found()),
            };
            Ok(Reply::ok(&Value::Object(list_page(state, ids, parse_page(query)?, true))))
        }
        Route::Changes => changes(state, query),
        Route::Configuration => Ok(Reply::ok(&catalog::configuration())),
        Route::Export => Ok(export_reply(state)),
        Route::Unknown => Err(ApiError::not_found()),
    }
}

/// The gzipped id export, built for each request (it reflects the faults of the moment).
fn export_reply(state: &State) -> Reply {
    let mut body = Vec::new();
    match state.write_export(&mut body) {
        Ok(_) => Reply { content_type: "application/gzip", ..Reply::ok_bytes(body) },
        // Writing to memory cannot fail; should it, the file server answers 500.
        Err(_) => Reply { status: 500, content_type: "text/plain", ..Reply::ok_bytes(Vec::new()) },
    }
}

/// Shared by details and parts: 404 for unknown or `not_found` ids, truncated JSON for
/// `malformed` ones.
fn movie_reply(
    state: &State,
    id: u64,
    build: impl FnOnce(&catalog::Patches) -> Option<Value>,
) -> Result<Reply, ApiError> {
    if state.faults.is_not_found(id) {
        count_injected(state, "404");
        return Err(ApiError::not_found());
    }
    let value = state.faults.with_patches(build).ok_or_else(ApiError::not_found)?;
    let reply = Reply::ok(&value);
    if state.faults.is_malformed(id) {
        count_injected(state, "truncated");
        return Ok(reply.spoiled(&Fault::Truncated));
    }
    Ok(reply)
}

fn list_page(state: &State, ids: &[u64], page: u32, trending: bool) -> Map<String, Value> {
    let total_pages = ids.len().div_ceil(LIST_PAGE_SIZE).min(MAX_PAGE as usize);
    let start = (page as usize - 1) * LIST_PAGE_SIZE;
    let results: Vec<Value> = state.faults.with_patches(|patches| {
        ids.iter()
            .skip(start)
            .take(LIST_PAGE_SIZE)
            .filter_map(|id| catalog::summary(&state.config, *id, patches))
            .map(|mut summary| {
                if trending && let Value::Object(map) = &mut summary {
                    map.insert("media_type".into(), json!("movie"));
                }
                summary
            })
            .collect()
    });
    let mut out = Map::new();
    out.insert("page".into(), json!(page));
    out.insert("results".into(), Value::Array(results));
    out.insert("total_pages".into(), json!(total_pages));
    out.insert("total_results".into(), json!(ids.len()));
    out
}

fn changes(state: &State, query: &Query) -> Result<Reply, ApiError> {
    let cfg = &state.config;
    let date = |key: &str| query.get(key).map(|s| parse_date(s)).transpose();
    // Default window: the last day, as TMDB's "last 24 hours".
    let end = date("end_date")?.unwrap_or(cfg.reference_date);
    let start = date("start_date")?.unwrap_or_else(|| end.checked_sub_days(Days::new(1)).unwrap_or(end));
    if end < start || (end - start).num_days() > MAX_CHANGES_WINDOW_DAYS {
        return Err(ApiError::invalid_date_range());
    }
    let page = parse_page(query)?;

    let mut ids = catalog::changed_between(cfg, start, end);
    ids.extend(state.faults.marked_changes(start, end));
    let total = ids.len();
    let results: Vec<Value> = state.faults.with_patches(|patches| {
        ids.iter()
            .skip((page as usize - 1) * CHANGES_PAGE_SIZE)
            .take(CHANGES_PAGE_SIZE)
            .map(|id| {
                // Ids outside the catalog can be marked changed (say, a deleted movie).
                let adult = catalog::patched_details(cfg, *id, patches)
                    .and_then(|d| d.get("adult").cloned())
                    .unwrap_or(Value::Bool(false));
                json!({ "id": id, "adult": adult })
            })
            .collect()
    });
    Ok(Reply::ok(&json!({
        "results": results,
        "page": page,
        "total_pages": total.div_ceil(CHANGES_PAGE_SIZE),
        "total_results": total,
    })))
}

// ---------------------------------------------------------------------------------------------
// Query parameters
// ---------------------------------------------------------------------------------------------

type Query = HashMap<String, String>;

fn parse_query(raw: &str) -> Query {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` decoding; clients may encode `/` and `,` in
/// `append_to_response`.
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_page(query: &Query) -> Result<u32, ApiError> {
    match query.get("page") {
        None => Ok(1),
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(page) if (1..=MAX_PAGE).contains(&page) => Ok(page),
            _ => Err(ApiError::invalid_page()),
        },
    }
}

fn parse_append(query: &Query) -> Result<Vec<&str>, ApiError> {
    let parts: Vec<&str> = query
        .get("append_to_response")
        .map(|raw| raw.split(',').map(str::trim).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    if parts.len() > MAX_APPENDS {
        return Err(ApiError::too_many_appends());
    }
    Ok(parts)
}

/// `YYYY-MM-DD`; a full timestamp is cut to its date, as TMDB accepts both.
fn parse_date(raw: &str) -> Result<NaiveDate, ApiError> {
    let day = raw.get(..10).filter(|_| raw.len() == 10 || raw[10..].starts_with(['T', ' ']));
    day.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).ok_or_else(ApiError::invalid_date_range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("/3/movie/550"), Route::Details(550));
        assert_eq!(Route::parse("/3/movie/550/"), Route::Details(550));
        assert_eq!(Route::parse("/3/movie/550/watch/providers"), Route::Part(550, "watch/providers"));
        assert_eq!(Route::parse("/3/movie/550/credits"), Route::Part(550, "credits"));
        assert_eq!(Route::parse("/3/movie/550/reviews"), Route::Unknown);
        assert_eq!(Route::parse("/3/movie/popular"), Route::Popular);
        assert_eq!(Route::parse("/3/trending/movie/day"), Route::Trending("day".into()));
        assert_eq!(Route::parse("/movie/550"), Route::Unknown);
        assert_eq!(Route::parse("/3/movie/abc"), Route::Unknown);
        assert_eq!(Route::parse("/p/exports/movie_ids.json.gz"), Route::Export);
        assert_eq!(Route::parse("/p/exports/movie_ids_05_15_2024.json.gz"), Route::Export);
        assert_eq!(Route::parse("/p/exports/movie_ids_5_15_2024.json.gz"), Route::Unknown);
        assert_eq!(Route::parse("/p/exports/tv_series_ids.json.gz"), Route::Unknown);
    }

    #[test]
    fn query_decoding() {
        let q = parse_query("append_to_response=credits%2Cwatch%2Fproviders&language=en-US&x=%zz&y=a+b%");
        assert_eq!(q["append_to_response"], "credits,watch/providers");
        assert_eq!(q["language"], "en-US");
        assert_eq!(q["x"], "%zz");
        assert_eq!(q["y"], "a b%");
    }

    #[test]
    fn dates_and_pages() {
        assert!(parse_date("2024-01-31").is_ok());
        assert!(parse_date("2024-01-31T10:00:00Z").is_ok());
        assert!(parse_date("2024-13-01").is_err());
        assert!(parse_date("yesterday").is_err());
        let page = |p: &str| parse_page(&parse_query(&format!("page={p}")));
        assert_eq!(page("500"), Ok(500));
        assert!(page("0").is_err() && page("501").is_err() && page("x").is_err());
    }
}
