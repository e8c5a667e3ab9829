//! The TMDB client: rate-limited, retried, deadline-bound, and logged call by call.

use std::cell::RefCell;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::{Either, select};
use serde::de::DeserializeOwned;

use super::ratelimit::RateLimiter;
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
    /// 429/5xx/timeouts/transport errors that outlasted every attempt or the deadline.
    #[error("TMDB unavailable after {attempts} attempt(s): {last}")]
    Exhausted { attempts: u32, last: String },
    /// A 200 whose body is not the JSON we expect.
    #[error("TMDB returned malformed JSON for {endpoint}: {detail}")]
    Malformed { endpoint: String, detail: String },
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
    /// No retry wait may end after this instant (the invocation's budget).
    deadline: Option<DateTime<Utc>>,
    /// Every attempt made, for run logs and benchmarks.
    attempts_made: std::cell::Cell<u64>,
    /// TMDB's image configuration once known in this invocation.
    images: RefCell<Option<ImageConfiguration>>,
}

enum Attempt {
    Done(serde_json::Value),
    Fail(TmdbError),
    Retry { wait: Duration, why: String },
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
        }
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

    /// One request for everything about a movie: details with every part appended.
    pub async fn movie(&self, id: i64) -> Result<(MovieDetails, serde_json::Value), TmdbError> {
        let call = Call {
            endpoint: "/movie/{id}",
            path: format!("/movie/{id}"),
            query: vec![
                ("language", self.config.language.clone()),
                ("append_to_response", APPENDED_PARTS.to_owned()),
                ("include_image_language", format!("{},null", language_code(&self.config.language))),
            ],
            tmdb_id: Some(id),
        };
        let raw = self.get_json(&call).await?;
        let details = parse(&call, raw.clone())?;
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
        parse(&call, self.get_json(&call).await?)
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
        parse(&call, self.get_json(&call).await?)
    }

    pub async fn configuration(&self) -> Result<TmdbConfiguration, TmdbError> {
        let call = Call { endpoint: "/configuration", path: "/configuration".into(), query: vec![], tmdb_id: None };
        parse(&call, self.get_json(&call).await?)
    }

    /// GET with retries: 429 (honouring `Retry-After`), 5xx, timeouts and transport errors are
    /// retried with capped exponential backoff and jitter; 401/404/other 4xx are final.
    pub async fn get_json(&self, call: &Call<'_>) -> Result<serde_json::Value, TmdbError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let why = match self.attempt(call, attempt).await {
                Attempt::Done(json) => return Ok(json),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { wait, why } => {
                    let ends = self.clock.now() + wait;
                    let past_deadline = self.deadline.is_some_and(|d| ends > d);
                    if attempt < self.config.max_attempts && !past_deadline {
                        self.clock.sleep(wait).await;
                        continue;
                    }
                    why
                }
            };
            return Err(TmdbError::Exhausted { attempts: attempt, last: why });
        }
    }

    async fn attempt(&self, call: &Call<'_>, attempt: u32) -> Attempt {
        let request = match self.request(call) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Fail(TmdbError::Rejected { status: 0, code: 0, message: self.redact(&e.to_string()) });
            }
        };
        let permit = self.limiter.acquire(self.clock).await;
        self.attempts_made.set(self.attempts_made.get() + 1);
        let started = self.clock.now();
        let send = std::pin::pin!(self.http.send(request));
        let timeout = std::pin::pin!(self.clock.sleep(self.config.request_timeout));
        // `None`: the deadline passed first (the request future is dropped, i.e. cancelled).
        let sent = match select(send, timeout).await {
            Either::Left((result, _)) => Some(result),
            Either::Right(((), _)) => None,
        };
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
        let unit = self.rng.borrow_mut().f64();
        let backoff = Backoff::TMDB;

        let outcome = match sent {
            None => {
                let why = format!("no answer within {} ms", self.config.request_timeout.as_millis());
                Attempt::Retry { wait: backoff.delay(attempt, unit), why }
            }
            Some(Err(e)) => Attempt::Retry { wait: backoff.delay(attempt, unit), why: self.redact(&e.0) },
            Some(Ok(response)) => {
                let status = response.status().as_u16();
                log.status = Some(status);
                self.classify(call, attempt, status, &response, unit)
            }
        };
        log.error = match &outcome {
            Attempt::Done(_) => None,
            Attempt::Fail(e) => Some(e.to_string()),
            Attempt::Retry { why, .. } => Some(why.clone()),
        };
        self.calls.borrow_mut().push(log);
        outcome
    }

    fn classify(
        &self,
        call: &Call<'_>,
        attempt: u32,
        status: u16,
        response: &crate::ports::HttpResponse,
        unit: f64,
    ) -> Attempt {
        let body = response.body();
        let error_body = || serde_json::from_slice::<TmdbErrorBody>(body).unwrap_or_default();
        let backoff = Backoff::TMDB;
        match status {
            200..=299 => match serde_json::from_slice(body) {
                Ok(json) => Attempt::Done(json),
                Err(e) => Attempt::Fail(TmdbError::Malformed { endpoint: call.endpoint.into(), detail: e.to_string() }),
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
                let wait = backoff.after_throttle(retry_after, attempt, unit);
                // Everyone in this invocation backs off, not just this request.
                self.limiter.pause_until(self.clock.now() + wait);
                Attempt::Retry { wait, why: "HTTP 429 rate limited".into() }
            }
            500 | 502 | 503 | 504 => {
                Attempt::Retry { wait: backoff.delay(attempt, unit), why: format!("HTTP {status}") }
            }
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
        let secret = match &self.config.auth {
            Some(TmdbAuth::Bearer(s) | TmdbAuth::ApiKey(s)) => s.expose(),
            None => "",
        };
        if secret.is_empty() { text.to_owned() } else { text.replace(secret, "***") }
    }
}

fn parse<T: DeserializeOwned>(call: &Call<'_>, json: serde_json::Value) -> Result<T, TmdbError> {
    serde_json::from_value(json)
        .map_err(|e| TmdbError::Malformed { endpoint: call.endpoint.into(), detail: e.to_string() })
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
