//! The TMDB client: rate-limited, retried, deadline-bound, and logged call by call.

use std::cell::RefCell;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::ratelimit::{LearnedRate, RateLimiter, before};
use super::response::{self, Unreadable};
use super::shared::{SharedLesson, SharedRate};
use super::types::{
    APPENDED_PARTS, ChangesPage, ImageConfiguration, ListPage, MovieDetails, MovieList, TmdbConfiguration,
    TmdbErrorBody,
};
use crate::config::{TmdbAuth, TmdbConfig};
use crate::domain::backoff::Backoff;
use crate::ports::{Clock, HttpClient};

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum TmdbError {
    /// 401: the key is invalid or suspended. Stops the run; never retried.
    #[error("TMDB rejected our credentials (HTTP 401, code {code}): {message}")]
    Unauthorized { code: i64, message: String },
    /// 404: the movie is gone (or never existed). Never retried.
    #[error("not found on TMDB (HTTP 404)")]
    NotFound,
    /// 400/422 and other 4xx: our request is wrong. Fails loudly; never retried.
    #[error("TMDB refused the request (HTTP {status}, code {code}): {message}")]
    Rejected { status: u16, code: i64, message: String },
    /// 429/5xx/timeouts/transport errors on every one of `max_attempts` attempts.
    #[error("TMDB unavailable after {attempts} attempt(s): {last}")]
    Exhausted { attempts: u32, last: String },
    /// The invocation's time budget ran out before TMDB answered (`attempts` requests were
    /// sent; `last` is why the last one did not do). Not the movie's failure: such work stays
    /// queued for the next invocation.
    #[error("the time budget ran out before TMDB answered ({attempts} attempt(s) sent{})", last.as_ref().map(|l| format!("; last: {l}")).unwrap_or_default())]
    OutOfTime { attempts: u32, last: Option<String> },
    /// A 2xx whose body is not JSON (truncated, an HTML page, invalid UTF-8) or is too large to
    /// be an answer (see `tmdb::response`), on every attempt: each was retried like a 5xx, and
    /// the movie is retried later, like after an outage.
    #[error("TMDB returned malformed JSON for {endpoint}: {detail}")]
    Malformed { endpoint: String, detail: String },
    /// A 2xx whose JSON is not a usable answer: the wrong shape, values no column can hold,
    /// another movie (see `tmdb::response`). TMDB would answer the same again: not retried.
    #[error("TMDB's answer for {endpoint} cannot be used: {detail}")]
    Unusable { endpoint: String, detail: String },
}

impl TmdbError {
    fn unreadable(endpoint: &str, why: Unreadable) -> TmdbError {
        match why {
            Unreadable::Garbled(detail) => TmdbError::Malformed { endpoint: endpoint.into(), detail },
            Unreadable::Unusable(detail) => TmdbError::Unusable { endpoint: endpoint.into(), detail },
        }
    }
}

/// One attempt of one TMDB call, for `tmdb_api_logs`. Never holds the key: `endpoint` is the
/// template (`/movie/{id}`), and error texts are redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub endpoint: &'static str,
    pub tmdb_id: Option<i64>,
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub attempt: u32,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// The endpoint template of a movie's details, as `tmdb_api_logs` records it.
pub const MOVIE_ENDPOINT: &str = "/movie/{id}";

/// One TMDB request to make: the endpoint template (for logs), the concrete path and query.
pub struct Call<'a> {
    pub endpoint: &'static str,
    pub path: String,
    pub query: Vec<(&'a str, String)>,
    pub tmdb_id: Option<i64>,
}

pub struct TmdbClient<'a, H, C> {
    http: &'a H,
    clock: &'a C,
    config: &'a TmdbConfig,
    limiter: RateLimiter,
    /// Calls not yet written to `tmdb_api_logs`; the caller drains them in batches.
    calls: RefCell<Vec<ApiCall>>,
    rng: RefCell<fastrand::Rng>,
    /// The invocation's budget: nothing starts at or after it, and every wait is cut by it.
    deadline: Option<DateTime<Utc>>,
    /// Every attempt made, for run logs and benchmarks.
    attempts_made: std::cell::Cell<u64>,
    /// TMDB's image configuration once known in this invocation.
    images: RefCell<Option<ImageConfiguration>>,
    /// Where the learned rate is shared with other invocations (`None`: not shared).
    shared: Option<Box<dyn SharedRate + 'a>>,
    /// Set once the shared rate was read (before the first request).
    joined: async_lock::OnceCell<()>,
}

enum Attempt {
    Done(serde_json::Value),
    Fail(TmdbError),
    Retry {
        wait: Duration,
        why: String,
        /// What the call fails with when this was its last attempt (`None`: `Exhausted`).
        last_error: Option<TmdbError>,
    },
    /// The limiter had no start before the deadline: nothing was sent.
    NotStarted,
    /// Sent, but the deadline came before the answer.
    Cut {
        why: String,
    },
}

impl<'a, H: HttpClient, C: Clock> TmdbClient<'a, H, C> {
    pub fn new(http: &'a H, clock: &'a C, config: &'a TmdbConfig) -> Self {
        Self {
            http,
            clock,
            config,
            limiter: RateLimiter::new(config.rate_limit_rps, config.max_in_flight),
            calls: RefCell::new(Vec::new()),
            rng: RefCell::new(fastrand::Rng::new()),
            deadline: None,
            attempts_made: std::cell::Cell::new(0),
            images: RefCell::new(None),
            shared: None,
            joined: async_lock::OnceCell::new(),
        }
    }

    /// Shares the rate learned from 429s through `store`: read once before the first request,
    /// written when a 429 lowers it (see `tmdb::shared`).
    pub fn with_shared_rate(mut self, store: Box<dyn SharedRate + 'a>) -> Self {
        self.shared = Some(store);
        self
    }

    /// TMDB requests this invocation starts per second now (the learned rate).
    pub fn rate_now(&self) -> f64 {
        self.limiter.rate_at(self.clock.now())
    }

    /// Writes a lesson not yet shared (a 429 whose retry wait was not taken: the deadline was
    /// too near). Called when the invocation's run closes; a no-op otherwise.
    pub async fn share_learned_rate(&self) {
        if let Some(lesson) = self.limiter.take_unshared() {
            self.share(lesson).await;
        }
    }

    /// Writes `lesson` to the shared store; kept for a later try when that fails.
    async fn share(&self, lesson: LearnedRate) {
        let Some(store) = &self.shared else { return };
        let age = (self.clock.now() - lesson.at).to_std().unwrap_or_default();
        if !store.write(SharedLesson { rps: lesson.rps, age }).await {
            self.limiter.keep_unshared(lesson);
        }
    }

    /// Reads the shared lesson once, before the first request (concurrent first requests wait
    /// for the one read). Cut by the deadline; without it the limiter starts at the ceiling.
    async fn join_shared_rate(&self) {
        let Some(store) = &self.shared else { return };
        self.joined
            .get_or_init(|| async {
                if let Some(Some(lesson)) = before(self.clock, self.deadline, store.read()).await {
                    let at = self.clock.now() - lesson.age;
                    self.limiter.start_from(LearnedRate { rps: lesson.rps, at });
                }
            })
            .await;
    }

    /// The wait before a retry; a lesson just learned from a 429 is shared meanwhile (the
    /// write runs beside the wait, which it never lengthens unless the database is slower).
    async fn wait_before_retry(&self, wait: Duration) {
        let share = async {
            if let Some(lesson) = self.limiter.take_unshared() {
                self.share(lesson).await;
            }
        };
        futures::future::join(share, self.clock.sleep(wait)).await;
    }

    pub fn with_deadline(mut self, deadline: DateTime<Utc>) -> Self {
        self.deadline = Some(deadline);
        self
    }

    pub fn known_images(&self) -> Option<ImageConfiguration> {
        self.images.borrow().clone()
    }

    pub fn remember_images(&self, images: ImageConfiguration) {
        *self.images.borrow_mut() = Some(images);
    }

    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        self.deadline
    }

    /// HTTP requests sent to TMDB so far (retries included).
    pub fn requests_made(&self) -> u64 {
        self.attempts_made.get()
    }

    /// Takes the calls logged so far (to be written to `tmdb_api_logs` in one batch).
    pub fn take_calls(&self) -> Vec<ApiCall> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }

    /// Gives back calls taken by [`Self::take_calls`] whose write failed, to be logged later.
    pub fn restore_calls(&self, calls: Vec<ApiCall>) {
        self.calls.borrow_mut().splice(0..0, calls);
    }

    /// One request for everything about a movie: details with every part appended.
    pub async fn movie(&self, id: i64) -> Result<(MovieDetails, serde_json::Value), TmdbError> {
        let call = Call {
            endpoint: MOVIE_ENDPOINT,
            path: format!("/movie/{id}"),
            query: vec![
                ("language", self.config.language.clone()),
                ("append_to_response", APPENDED_PARTS.to_owned()),
                ("include_image_language", format!("{},null", language_code(&self.config.language))),
            ],
            tmdb_id: Some(id),
        };
        let raw = self.get_json(&call).await?;
        let details = MovieDetails::from_response(&raw).map_err(|e| TmdbError::unreadable(call.endpoint, e))?;
        if details.id != id {
            let detail = format!("the answer is about movie {}, not {id}", details.id);
            return Err(TmdbError::Unusable { endpoint: call.endpoint.into(), detail });
        }
        Ok((details, raw))
    }

    /// One page of a movie list (popular, now playing, trending this week).
    pub async fn list(
        &self,
        list: MovieList,
        page: u32,
        language: &str,
        region: Option<&str>,
    ) -> Result<ListPage, TmdbError> {
        let mut query = vec![("language", language.to_owned()), ("page", page.to_string())];
        if let (Some(region), true) = (region, list != MovieList::TrendingWeek) {
            query.push(("region", region.to_owned()));
        }
        let call = Call { endpoint: list.endpoint(), path: list.endpoint().to_owned(), query, tmdb_id: None };
        parse(&call, &self.get_json(&call).await?)
    }

    /// One page of the ids changed from `start` to `end` (UTC days, inclusive; at most 14 days).
    pub async fn changes(
        &self,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
        page: u32,
    ) -> Result<ChangesPage, TmdbError> {
        let query = vec![("start_date", start.to_string()), ("end_date", end.to_string()), ("page", page.to_string())];
        let call = Call { endpoint: "/movie/changes", path: "/movie/changes".into(), query, tmdb_id: None };
        parse(&call, &self.get_json(&call).await?)
    }

    pub async fn configuration(&self) -> Result<TmdbConfiguration, TmdbError> {
        let call = Call { endpoint: "/configuration", path: "/configuration".into(), query: vec![], tmdb_id: None };
        parse(&call, &self.get_json(&call).await?)
    }

    /// GET with retries: 429 (honouring `Retry-After`), 5xx, timeouts and transport errors are
    /// retried with capped exponential backoff and jitter; 401/404/other 4xx are final.
    ///
    /// The deadline is hard: no attempt starts at or after it, an attempt's timeout never runs
    /// past it, and a retry wait that would reach it is not taken; the call then ends with
    /// [`TmdbError::OutOfTime`] by the deadline at the latest.
    pub async fn get_json(&self, call: &Call<'_>) -> Result<serde_json::Value, TmdbError> {
        let mut last = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (wait, why, last_error) = match self.attempt(call, attempt).await {
                Attempt::Done(json) => return Ok(json),
                Attempt::Fail(error) => return Err(error),
                Attempt::NotStarted => return Err(TmdbError::OutOfTime { attempts: attempt - 1, last }),
                Attempt::Cut { why } => return Err(TmdbError::OutOfTime { attempts: attempt, last: Some(why) }),
                Attempt::Retry { wait, why, last_error } => (wait, why, last_error),
            };
            if attempt >= self.config.max_attempts {
                return Err(last_error.unwrap_or(TmdbError::Exhausted { attempts: attempt, last: why }));
            }
            // Waiting would only end where nothing may start any more.
            if self.deadline.is_some_and(|d| self.clock.now() + wait >= d) {
                return Err(TmdbError::OutOfTime { attempts: attempt, last: Some(why) });
            }
            self.wait_before_retry(wait).await;
            last = Some(why);
        }
    }

    async fn attempt(&self, call: &Call<'_>, attempt: u32) -> Attempt {
        let request = match self.request(call) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Fail(TmdbError::Rejected { status: 0, code: 0, message: self.redact(&e.to_string()) });
            }
        };
        self.join_shared_rate().await;
        let Ok(permit) = self.limiter.acquire(self.clock, self.deadline).await else {
            return Attempt::NotStarted;
        };
        self.attempts_made.set(self.attempts_made.get() + 1);
        let started = self.clock.now();
        // The limiter only grants starts before the deadline, so some time is left.
        let left = self.deadline.and_then(|d| (d - started).to_std().ok());
        let timeout = left.map_or(self.config.request_timeout, |left| left.min(self.config.request_timeout));
        let cut_by_deadline = timeout < self.config.request_timeout;
        // `None`: no answer in time (the request future is dropped, i.e. cancelled).
        let sent = before(self.clock, Some(started + timeout), self.http.send(request)).await;
        drop(permit);
        let latency_ms = (self.clock.now() - started).num_milliseconds();
        let mut log = ApiCall {
            endpoint: call.endpoint,
            tmdb_id: call.tmdb_id,
            status: None,
            latency_ms,
            attempt,
            error: None,
            at: started,
        };
        let outcome = match sent {
            None if cut_by_deadline => {
                Attempt::Cut { why: format!("no answer before the invocation's deadline ({} ms)", timeout.as_millis()) }
            }
            None => self.retry(attempt, None, &format!("no answer within {} ms", timeout.as_millis())),
            Some(Err(e)) => self.retry(attempt, None, &self.redact(&e.0)),
            Some(Ok(response)) => {
                let status = response.status().as_u16();
                log.status = Some(status);
                self.classify(call, attempt, status, started, &response)
            }
        };
        log.error = match &outcome {
            Attempt::Done(_) | Attempt::NotStarted => None,
            Attempt::Fail(e) => Some(e.to_string()),
            Attempt::Retry { why, .. } | Attempt::Cut { why } => Some(why.clone()),
        };
        self.calls.borrow_mut().push(log);
        outcome
    }

    /// A retry after `attempt`, waiting the server's `Retry-After` when it sent one, else the
    /// backoff (both within `Backoff::TMDB`'s cap).
    fn retry(&self, attempt: u32, retry_after: Option<Duration>, why: &str) -> Attempt {
        let unit = self.rng.borrow_mut().f64();
        let wait = Backoff::TMDB.after_throttle(retry_after, attempt, unit);
        Attempt::Retry { wait, why: why.to_owned(), last_error: None }
    }

    fn classify(
        &self,
        call: &Call<'_>,
        attempt: u32,
        status: u16,
        started: DateTime<Utc>,
        response: &crate::ports::HttpResponse,
    ) -> Attempt {
        if status != 429 {
            self.limiter.accepted(started, self.clock.now());
        }
        let body = response.body();
        let error_body = || serde_json::from_slice::<TmdbErrorBody>(body).unwrap_or_default();
        match status {
            200..=299 => match response::decode(body) {
                Ok(json) => Attempt::Done(json),
                // Not JSON (cut short, a proxy's page, too large): more often a hop on the way
                // than TMDB itself, so it is tried again like a 5xx, and is the call's error when
                // every attempt got one.
                Err(garbled @ Unreadable::Garbled(_)) => {
                    let error = TmdbError::unreadable(call.endpoint, garbled);
                    match self.retry(attempt, None, &error.to_string()) {
                        Attempt::Retry { wait, why, .. } => Attempt::Retry { wait, why, last_error: Some(error) },
                        other => other,
                    }
                }
                Err(unusable) => Attempt::Fail(TmdbError::unreadable(call.endpoint, unusable)),
            },
            401 => {
                let b = error_body();
                Attempt::Fail(TmdbError::Unauthorized { code: b.status_code, message: self.redact(&b.status_message) })
            }
            404 => Attempt::Fail(TmdbError::NotFound),
            429 => {
                let retry_after = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let mut retry = self.retry(attempt, retry_after, "HTTP 429 rate limited");
                // TMDB's real rate is lower than ours: learn it (see `ratelimit`).
                self.limiter.throttled(started, self.clock.now());
                if let Attempt::Retry { wait, why, .. } = &mut retry {
                    // Everyone in this invocation backs off, not just this request.
                    self.limiter.pause_until(self.clock.now() + *wait);
                    why.push_str(&format!(" (retry after {} ms)", wait.as_millis()));
                }
                retry
            }
            500 | 502 | 503 | 504 => self.retry(attempt, None, &format!("HTTP {status}")),
            _ => {
                let b = error_body();
                Attempt::Fail(TmdbError::Rejected {
                    status,
                    code: b.status_code,
                    message: self.redact(&b.status_message),
                })
            }
        }
    }

    fn request(&self, call: &Call<'_>) -> Result<crate::ports::HttpRequest, http::Error> {
        let mut query: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut bearer = None;
        match &self.config.auth {
            Some(TmdbAuth::Bearer(token)) => bearer = Some(format!("Bearer {}", token.expose())),
            Some(TmdbAuth::ApiKey(key)) => query.push(("api_key", key.expose())),
            None => {}
        }
        let mut url = format!("{}{}", self.config.base_url, call.path);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&encode_query_value(v));
        }
        let mut builder = http::Request::get(url).header(http::header::ACCEPT, "application/json");
        if let Some(value) = bearer {
            builder = builder.header(http::header::AUTHORIZATION, value);
        }
        builder.body(Vec::new())
    }

    /// Removes the credential from any text that could reach a log or an error body.
    fn redact(&self, text: &str) -> String {
        match &self.config.auth {
            Some(TmdbAuth::Bearer(secret) | TmdbAuth::ApiKey(secret)) => secret.redact(text),
            None => text.to_owned(),
        }
    }
}

fn parse<T: DeserializeOwned>(call: &Call<'_>, json: &serde_json::Value) -> Result<T, TmdbError> {
    response::shape(json).map_err(|e| TmdbError::unreadable(call.endpoint, e))
}

/// "en-US" → "en" (for `include_image_language`).
fn language_code(language: &str) -> &str {
    language.split('-').next().unwrap_or(language)
}

/// Percent-encodes a query value, keeping the characters TMDB's parameters use (`,` and `/`).
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(super::encode_query_value("credits,watch/providers"), "credits,watch/providers");
        assert_eq!(super::encode_query_value("a b&c=d"), "a%20b%26c%3Dd");
    }
}
