//! The TMDB client's rules of time, exactly, on the virtual clock: rate limiting, `Retry-After`,
//! backoff, attempts, request timeouts and the invocation's hard deadline. Every assertion is
//! on virtual instants; none of these tests waits for real time.

use std::cell::RefCell;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::executor::block_on;
use futures::future::join_all;
use serde_json::json;

use super::types::MovieList;
use super::{Call, LearnedRate, TmdbClient, TmdbError};
use crate::config::{Secret, TmdbAuth, TmdbConfig};
use crate::domain::backoff::Backoff;
use crate::ports::{Clock, HttpClient, HttpRequest, HttpResponse, TransportError};
use crate::testing::{Reply, ScriptedHttp, VirtualClock};

const TOKEN: &str = "tmdb-token-s3cret";

fn config(rps: u32, max_in_flight: usize) -> TmdbConfig {
    TmdbConfig {
        base_url: "http://tmdb.test/3".into(),
        auth: Some(TmdbAuth::Bearer(Secret::new(TOKEN))),
        language: "en-US".into(),
        rate_limit_rps: rps,
        max_in_flight,
        request_timeout: Duration::from_secs(10),
        max_attempts: 5,
    }
}

fn movie(id: i64) -> Call<'static> {
    Call { endpoint: "/movie/{id}", path: format!("/movie/{id}"), query: vec![], tmdb_id: Some(id) }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn at(clock: &VirtualClock, offset: Duration) -> DateTime<Utc> {
    clock.start() + offset
}

/// Runs `ids` concurrently; returns each call's result and the virtual time it returned at.
fn fetch_all<H: HttpClient>(
    client: &TmdbClient<'_, H, VirtualClock>,
    clock: &VirtualClock,
    ids: impl IntoIterator<Item = i64>,
) -> Vec<(Result<serde_json::Value, TmdbError>, Duration)> {
    block_on(join_all(ids.into_iter().map(|id| async move {
        let result = client.get_json(&movie(id)).await;
        (result, clock.elapsed())
    })))
}

#[test]
fn starts_are_spaced_at_exactly_one_over_rps() {
    let (clock, config) = (VirtualClock::default(), config(4, 20));
    let http = ScriptedHttp::new(&clock);
    http.always("/movie/*", Reply::json(json!({})));
    let client = TmdbClient::new(&http, &clock, &config);
    let results = fetch_all(&client, &clock, 1..=8);
    assert!(results.iter().all(|(r, _)| r.is_ok()));
    assert_eq!(http.sent_at(), (0..8).map(|i| ms(250 * i)).collect::<Vec<_>>());
}

#[test]
fn no_more_than_max_in_flight_requests_run_at_once() {
    // 3 connections, answers take 1 s, 10 starts a second: the connections are the limit.
    let (clock, config) = (VirtualClock::default(), config(10, 3));
    let http = ScriptedHttp::new(&clock);
    http.always("/movie/*", Reply::json(json!({})).after(secs(1)));
    let client = TmdbClient::new(&http, &clock, &config);
    fetch_all(&client, &clock, 1..=8);
    assert_eq!(http.max_in_flight(), 3);
    assert_eq!(http.sent_at(), [0, 100, 200, 1000, 1100, 1200, 2000, 2100].map(ms));
}

#[test]
fn a_429_with_retry_after_pauses_every_request_of_the_invocation_until_then() {
    let (clock, config) = (VirtualClock::default(), config(10, 20));
    let http = ScriptedHttp::new(&clock);
    http.then("/movie/1", Reply::status(429).header("retry-after", "2").after(ms(50)))
        .always("/movie/*", Reply::json(json!({})));
    let client = TmdbClient::new(&http, &clock, &config);
    let results = fetch_all(&client, &clock, 1..=5);
    assert!(results.iter().all(|(r, _)| r.is_ok()), "{results:?}");
    // Movie 1 is throttled at 50 ms, until 2.05 s, and the rate drops to a quarter (nothing
    // was accepted before). Movies 2-5 had slots at 100-400 ms: they wait for the pause, then
    // go one slot of the learned (climbing) rate apart, and movie 1's retry queues behind them.
    let lesson = LearnedRate { rps: 2.5, at: at(&clock, ms(50)) };
    let mut expected = vec![ms(0)];
    let mut next = at(&clock, ms(2050));
    for _ in 0..5 {
        expected.push((next - clock.start()).to_std().unwrap());
        next += Duration::from_secs_f64(1.0 / lesson.rate_at(next, 10.0));
    }
    assert_eq!(http.sent_at(), expected);
    assert_eq!(http.sent()[5].path, "/3/movie/1");
    let throttled = client.take_calls().into_iter().find(|c| c.status == Some(429)).unwrap();
    assert_eq!(throttled.error.as_deref(), Some("HTTP 429 rate limited (retry after 2000 ms)"));
}

#[test]
fn retries_follow_the_tmdb_backoff_within_its_bounds() {
    let (clock, config) = (VirtualClock::default(), config(1000, 20));
    let http = ScriptedHttp::new(&clock);
    http.then("/movie/1", Reply::status(503))
        .then("/movie/1", Reply::transport_error("connection reset"))
        .then("/movie/1", Reply::status(500))
        .then("/movie/1", Reply::status(502))
        .then("/movie/1", Reply::json(json!({"id": 1})));
    let client = TmdbClient::new(&http, &clock, &config);
    let results = fetch_all(&client, &clock, [1]);
    assert_eq!(results[0].0, Ok(json!({"id": 1})));
    let sent = http.sent_at();
    assert_eq!(sent.len(), 5);
    for (retry, gap) in sent.windows(2).map(|w| w[1] - w[0]).enumerate() {
        let ceiling = Backoff::TMDB.ceiling(retry as u32 + 1);
        assert!(gap >= ceiling / 2 && gap <= ceiling, "retry {}: waited {gap:?}, ceiling {ceiling:?}", retry + 1);
    }
    let logged: Vec<(u32, Option<u16>)> = client.take_calls().iter().map(|c| (c.attempt, c.status)).collect();
    assert_eq!(logged, [(1, Some(503)), (2, None), (3, Some(500)), (4, Some(502)), (5, Some(200))]);
}

#[test]
fn max_attempts_is_honoured() {
    let (clock, mut config) = (VirtualClock::default(), config(1000, 20));
    config.max_attempts = 3;
    let http = ScriptedHttp::new(&clock);
    http.always("/movie/*", Reply::status(503));
    let client = TmdbClient::new(&http, &clock, &config);
    let results = fetch_all(&client, &clock, [1]);
    assert_eq!(results[0].0, Err(TmdbError::Exhausted { attempts: 3, last: "HTTP 503".into() }));
    assert_eq!(http.sent().len(), 3);
    assert_eq!(client.requests_made(), 3);
}

#[test]
fn a_garbled_answer_is_retried_like_a_5xx_and_is_the_error_when_every_attempt_gets_one() {
    let (clock, mut config) = (VirtualClock::default(), config(1000, 20));
    config.max_attempts = 3;
    let http = ScriptedHttp::new(&clock);
    http.then("/movie/1", Reply::status(200).body(b"{\"id\": 1, \"tit".to_vec()))
        .then("/movie/1", Reply::status(200).header("content-type", "text/html").body(b"<html>busy</html>".to_vec()))
        .always("/movie/1", Reply::json(json!({"id": 1})))
        .always("/movie/2", Reply::status(200).body(vec![b' '; super::response::MAX_BODY_BYTES + 1]))
        .always("/movie/3", Reply::json(json!([1, 2])));
    let client = TmdbClient::new(&http, &clock, &config);
    let results: Vec<_> = fetch_all(&client, &clock, [1, 2]).into_iter().map(|(r, _)| r).collect();
    assert_eq!(results[0], Ok(json!({"id": 1})), "third time lucky");
    assert!(
        matches!(&results[1], Err(TmdbError::Malformed { detail, .. }) if detail.contains("more than the")),
        "{:?}",
        results[1]
    );
    assert_eq!(http.sent().len(), 6, "three attempts each");
    // JSON, but not an answer: final at once.
    let shaped: Result<(super::types::MovieDetails, serde_json::Value), _> = block_on(client.movie(3));
    assert!(matches!(shaped, Err(TmdbError::Unusable { .. })), "{shaped:?}");
    assert_eq!(http.sent().len(), 7);
}

#[test]
fn client_errors_are_final_and_never_retried() {
    let (clock, config) = (VirtualClock::default(), config(1000, 20));
    let http = ScriptedHttp::new(&clock);
    let leaked = format!("Invalid API key {TOKEN}");
    http.always("/movie/401", Reply::tmdb_error(401, 7, &leaked))
        .always("/movie/404", Reply::tmdb_error(404, 34, "not found"))
        .always("/movie/400", Reply::tmdb_error(400, 22, "Invalid page"))
        .always("/movie/422", Reply::tmdb_error(422, 22, "Invalid parameters"))
        .always("/movie/418", Reply::status(418));
    let client = TmdbClient::new(&http, &clock, &config);
    let results: Vec<_> = fetch_all(&client, &clock, [401, 404, 400, 422, 418]).into_iter().map(|(r, _)| r).collect();
    assert_eq!(
        results,
        [
            Err(TmdbError::Unauthorized { code: 7, message: "Invalid API key ***".into() }),
            Err(TmdbError::NotFound),
            Err(TmdbError::Rejected { status: 400, code: 22, message: "Invalid page".into() }),
            Err(TmdbError::Rejected { status: 422, code: 22, message: "Invalid parameters".into() }),
            Err(TmdbError::Rejected { status: 418, code: 0, message: String::new() }),
        ]
    );
    assert_eq!(http.sent().len(), 5, "one request each");
}

#[test]
fn the_request_timeout_cuts_a_slow_answer_and_the_retry_follows() {
    let (clock, config) = (VirtualClock::default(), config(1000, 20));
    let http = ScriptedHttp::new(&clock);
    http.then("/movie/1", Reply::json(json!({"id": 1})).after(secs(30)))
        .then("/movie/1", Reply::json(json!({"id": 1})).after(ms(100)));
    let client = TmdbClient::new(&http, &clock, &config).with_deadline(at(&clock, secs(20)));
    let results = fetch_all(&client, &clock, [1]);
    assert_eq!(results[0].0, Ok(json!({"id": 1})));
    let sent = http.sent_at();
    let backoff = sent[1] - secs(10);
    assert!(backoff >= Backoff::TMDB.ceiling(1) / 2 && backoff <= Backoff::TMDB.ceiling(1), "{sent:?}");
    assert_eq!(results[0].1, sent[1] + ms(100), "done when the retry's answer came");
    let calls = client.take_calls();
    assert_eq!((calls[0].latency_ms, calls[0].error.as_deref()), (10_000, Some("no answer within 10000 ms")));
    assert_eq!((calls[1].latency_ms, calls[1].status), (100, Some(200)));
}

#[test]
fn a_tmdb_slower_than_the_budget_ends_every_call_at_the_deadline_and_nothing_is_sent_after_it() {
    // Hosted Spin kills an invocation at about 30 s: with a 20 s budget and a 10 s request
    // timeout, a TMDB that never answers must not keep anyone past 20 s.
    let (clock, config) = (VirtualClock::default(), config(40, 20));
    let http = ScriptedHttp::new(&clock);
    http.always("*", Reply::json(json!({})).after(secs(3600)));
    let deadline = at(&clock, secs(20));
    let client = TmdbClient::new(&http, &clock, &config).with_deadline(deadline);
    let returned = RefCell::new(Vec::new());
    let record = |result: Result<(), TmdbError>| returned.borrow_mut().push((result, clock.now()));
    let (client, record) = (&client, &record);
    block_on(async {
        let movies = (1..=25).map(|id| async move { record(client.get_json(&movie(id)).await.map(|_| ())) });
        let pages = (1..=5).map(|page| async move {
            record(client.list(MovieList::Popular, page, "en-US", None).await.map(|_| ()));
        });
        futures::future::join(join_all(movies), join_all(pages)).await;
    });
    let returned = returned.into_inner();
    assert_eq!(returned.len(), 30);
    for (result, when) in &returned {
        assert!(matches!(result, Err(TmdbError::OutOfTime { .. })), "{result:?}");
        assert!(*when <= deadline, "returned {when} after the deadline {deadline}");
    }
    assert_eq!(clock.now(), deadline, "the invocation's TMDB work ends exactly at its deadline");
    assert!(http.sent().iter().all(|s| s.at < deadline), "nothing is sent at or after the deadline");
    assert!(http.sent().len() > 20, "the first attempts timed out and some retried before the deadline");
}

#[test]
fn a_start_slot_after_the_deadline_fails_at_once_instead_of_waiting() {
    let (clock, config) = (VirtualClock::default(), config(1, 20));
    let http = ScriptedHttp::new(&clock);
    http.always("/movie/*", Reply::json(json!({})));
    let client = TmdbClient::new(&http, &clock, &config).with_deadline(at(&clock, ms(2500)));
    let results = fetch_all(&client, &clock, 1..=5);
    let outcome: Vec<(bool, Duration)> = results.iter().map(|(r, t)| (r.is_ok(), *t)).collect();
    // Slots at 0, 1 and 2 s; the next (3 s) is past the deadline: refused at 0 s.
    assert_eq!(outcome, [(true, ms(0)), (true, ms(1000)), (true, ms(2000)), (false, ms(0)), (false, ms(0))]);
    assert_eq!(results[3].0, Err(TmdbError::OutOfTime { attempts: 0, last: None }));
    assert_eq!(http.sent_at(), [0, 1000, 2000].map(ms));
}

#[test]
fn a_retry_wait_that_would_end_after_the_deadline_is_not_taken() {
    // Retry-After 5 s with 3 s left: the throttled call ends when the 429 comes (10 ms), and
    // the one waiting for its slot (25 ms) ends at that slot, without sending anything.
    let (clock, config) = (VirtualClock::default(), config(40, 20));
    let http = ScriptedHttp::new(&clock);
    http.then("/movie/1", Reply::status(429).header("retry-after", "5").after(ms(10)))
        .always("/movie/*", Reply::json(json!({})));
    let client = TmdbClient::new(&http, &clock, &config).with_deadline(at(&clock, secs(3)));
    let results = fetch_all(&client, &clock, [1, 2]);
    assert_eq!(
        results,
        [
            (
                Err(TmdbError::OutOfTime {
                    attempts: 1,
                    last: Some("HTTP 429 rate limited (retry after 5000 ms)".into())
                }),
                ms(10)
            ),
            (Err(TmdbError::OutOfTime { attempts: 0, last: None }), ms(25)),
        ]
    );
    assert_eq!(http.sent().len(), 1);
}

#[test]
fn an_answer_cut_by_the_deadline_is_out_of_time_not_a_failure() {
    let (clock, mut config) = (VirtualClock::default(), config(40, 20));
    config.max_attempts = 1;
    let http = ScriptedHttp::new(&clock);
    http.always("/movie/*", Reply::json(json!({})).after(secs(8)));
    let client = TmdbClient::new(&http, &clock, &config).with_deadline(at(&clock, secs(5)));
    let results = fetch_all(&client, &clock, [1]);
    let expected =
        TmdbError::OutOfTime { attempts: 1, last: Some("no answer before the invocation's deadline (5000 ms)".into()) };
    assert_eq!(results, [(Err(expected), secs(5))]);
}

#[test]
fn nothing_is_sent_once_the_deadline_has_passed() {
    let (clock, config) = (VirtualClock::default(), config(40, 20));
    let http = ScriptedHttp::new(&clock);
    let client = TmdbClient::new(&http, &clock, &config).with_deadline(clock.now());
    assert_eq!(fetch_all(&client, &clock, [1]), [(Err(TmdbError::OutOfTime { attempts: 0, last: None }), ms(0))]);
    assert!(http.sent().is_empty());
}

#[test]
fn the_token_never_reaches_a_transport_error() {
    let (clock, mut config) = (VirtualClock::default(), config(40, 20));
    config.max_attempts = 1;
    let http = ScriptedHttp::new(&clock);
    http.always("/movie/*", Reply::transport_error(&format!("cannot reach http://tmdb.test/?api_key={TOKEN}")));
    let client = TmdbClient::new(&http, &clock, &config);
    let (result, _) = fetch_all(&client, &clock, [1]).remove(0);
    let Err(TmdbError::Exhausted { last, .. }) = result else { panic!("{result:?}") };
    assert_eq!(last, "cannot reach http://tmdb.test/?api_key=***");
    assert!(client.take_calls().iter().all(|c| !c.error.as_deref().unwrap_or_default().contains(TOKEN)));
}

/// TMDB as the fake TMDB runs it, on the virtual clock: a token bucket of `rps` a second with
/// a burst of `rps`; over it, 429 with `Retry-After: 1`. Every answer comes `latency` later.
struct BucketTmdb {
    clock: VirtualClock,
    rps: f64,
    latency: Duration,
    /// Tokens, and when they were last counted.
    bucket: RefCell<(f64, DateTime<Utc>)>,
    statuses: RefCell<Vec<u16>>,
}

impl BucketTmdb {
    fn new(clock: &VirtualClock, rps: u32, latency: Duration) -> Self {
        let bucket = RefCell::new((f64::from(rps), clock.now()));
        Self { clock: clock.clone(), rps: f64::from(rps), latency, bucket, statuses: RefCell::default() }
    }

    fn throttled(&self) -> usize {
        self.statuses.borrow().iter().filter(|s| **s == 429).count()
    }
}

impl HttpClient for BucketTmdb {
    async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let status = {
            let mut bucket = self.bucket.borrow_mut();
            let now = self.clock.now();
            let refill = (now - bucket.1).to_std().unwrap_or_default().as_secs_f64() * self.rps;
            *bucket = ((bucket.0 + refill).min(self.rps), now);
            if bucket.0 >= 1.0 {
                bucket.0 -= 1.0;
                200
            } else {
                429
            }
        };
        self.statuses.borrow_mut().push(status);
        self.clock.sleep(self.latency).await;
        let response = http::Response::builder().status(status);
        let response = if status == 429 { response.header("retry-after", "1") } else { response };
        Ok(response.body(b"{}".to_vec()).expect("a valid response"))
    }
}

/// Runs `movies` requests against a TMDB that allows `tmdb_rps` while Marquee is set to
/// `our_rps`; returns (requests sent, 429s, wall ÷ the real limit's bound).
fn against_a_lower_limit(movies: i64, our_rps: u32, tmdb_rps: u32) -> (usize, usize, f64) {
    let (clock, config) = (VirtualClock::default(), config(our_rps, 20));
    let tmdb = BucketTmdb::new(&clock, tmdb_rps, ms(30));
    let client = TmdbClient::new(&tmdb, &clock, &config);
    let results = fetch_all(&client, &clock, 1..=movies);
    assert!(results.iter().all(|(r, _)| r.is_ok()), "every movie fetched in the end");
    let sent = tmdb.statuses.borrow().len();
    let bound = movies as f64 / f64::from(tmdb_rps);
    let figures = (sent, tmdb.throttled(), clock.elapsed().as_secs_f64() / bound);
    eprintln!("{movies} movies at {our_rps} rps against {tmdb_rps}: (sent, 429s, wall / bound) = {figures:?}");
    figures
}

#[test]
fn set_to_40_rps_against_a_tmdb_that_allows_10_under_5_percent_429s_within_1_10_of_the_bound() {
    // The goal run: 60 movies. Before the limiter learned, 33 of 94 requests were 429s.
    let (sent, throttled, ratio) = against_a_lower_limit(60, 40, 10);
    assert!(throttled * 20 < sent, "{throttled} of {sent} requests were 429s");
    assert!(ratio <= 1.10, "wall = {ratio:.3} x the 10-rps bound");
}

#[test]
fn a_long_run_against_a_lower_limit_stays_under_it_with_rare_429s() {
    // Ten times longer: the climb probes past the limit now and then, and learns it again.
    let (sent, throttled, ratio) = against_a_lower_limit(600, 40, 10);
    assert!(throttled * 50 < sent, "{throttled} of {sent} requests were 429s");
    assert!(ratio <= 1.10, "wall = {ratio:.3} x the 10-rps bound");
}
