//! End-to-end tests over real HTTP. Each test keeps one keep-alive connection for all its
//! requests, which also proves that connection reuse works.

use std::time::Duration;

use bytes::Bytes;
use chrono::{Days, NaiveDate};
use fake_tmdb::{FakeTmdb, FakeTmdbConfig, movie_details};
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

const TOKEN: &str = "fake-tmdb-token";

fn config() -> FakeTmdbConfig {
    FakeTmdbConfig { reference_date: NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(), ..FakeTmdbConfig::default() }
}

/// A minimal HTTP/1.1 client over a single connection.
struct Client {
    sender: SendRequest<Empty<Bytes>>,
    host: String,
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a TMDB error answer.
    fn assert_error(&self, status: u16, code: u64) {
        assert_eq!(self.status, status, "{}", String::from_utf8_lossy(&self.body));
        let body = self.json();
        assert_eq!(body["success"], false);
        assert_eq!(body["status_code"], code);
        assert!(body["status_message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

impl Client {
    async fn connect(server: &FakeTmdb) -> Client {
        let stream = TcpStream::connect(server.addr()).await.unwrap();
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        Client { sender, host: server.addr().to_string() }
    }

    /// GET `/3{path}` with the bearer token.
    async fn get(&mut self, path: &str) -> Resp {
        self.get_as(path, Some(TOKEN)).await
    }

    async fn get_as(&mut self, path: &str, bearer: Option<&str>) -> Resp {
        let mut req = Request::get(format!("/3{path}")).header("host", &self.host);
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        self.sender.ready().await.unwrap();
        let resp = self.sender.send_request(req.body(Empty::new()).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp { status, headers, body }
    }
}

async fn setup() -> (FakeTmdb, Client) {
    setup_with(config()).await
}

async fn setup_with(cfg: FakeTmdbConfig) -> (FakeTmdb, Client) {
    let server = FakeTmdb::start(cfg).unwrap();
    let client = Client::connect(&server).await;
    (server, client)
}

#[tokio::test]
async fn same_seed_gives_identical_details() {
    let (a, mut ca) = setup().await;
    let (b, mut cb) = setup().await;
    let path = "/movie/123?append_to_response=credits,videos,similar,images";
    let ra = ca.get(path).await;
    let rb = cb.get(path).await;
    assert_eq!(ra.status, 200);
    assert_eq!(ra.body, rb.body);
    // The pure function gives the same document.
    let direct = movie_details(&config(), 123, &["credits", "videos", "similar", "images"]).unwrap();
    assert_eq!(ra.json(), direct);
    assert_eq!(ra.headers["content-type"], "application/json;charset=utf-8");
    drop((a, b));
}

#[tokio::test]
async fn details_have_contract_shape() {
    let (_server, mut c) = setup().await;
    let d = c.get("/movie/42?language=en-US").await.json();
    assert_eq!(d["id"], 42);
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(d["status"], "Released");
    assert_eq!(d["adult"], false);
    assert_eq!(d["video"], false);
    assert!(d["genres"][0]["id"].is_u64() && d["genres"][0]["name"].is_string());
    assert!(d["poster_path"].as_str().unwrap().starts_with('/'));
    let va = d["vote_average"].as_f64().unwrap();
    assert!((0.0..=10.0).contains(&va));
    assert!(d.get("credits").is_none(), "parts only when appended");
}

#[tokio::test]
async fn appended_parts_appear_under_their_keys() {
    let (_server, mut c) = setup().await;
    let all = "credits,videos,similar,release_dates,images,keywords,watch/providers";
    let d = c.get(&format!("/movie/7?append_to_response={all},no_such_part")).await.json();
    for key in all.split(',') {
        assert!(d.get(key).is_some(), "missing {key}");
    }
    assert!(d.get("no_such_part").is_none(), "unknown parts are ignored");
    assert_eq!(d["credits"]["cast"].as_array().unwrap().len(), 25);
    assert_eq!(d["credits"]["crew"].as_array().unwrap().len(), 5);
    assert!(d["credits"]["crew"].as_array().unwrap().iter().any(|p| p["job"] == "Director"));
    assert_eq!(d["keywords"]["keywords"].as_array().unwrap().len(), 8);
    assert!(d["watch/providers"]["results"]["US"]["link"].is_string());
    assert_eq!(d["release_dates"]["results"][0]["iso_3166_1"], "US");
    let videos = d["videos"]["results"].as_array().unwrap();
    assert!((2..=3).contains(&videos.len()));
    assert_eq!(videos[0]["site"], "YouTube");
    let similar = d["similar"]["results"].as_array().unwrap();
    assert_eq!(similar.len(), 10);
    assert!(similar.iter().all(|s| s["id"] != 7 && s["genre_ids"].is_array()));
    assert!(d["credits"].get("id").is_none(), "appended parts carry no id");

    // Encoded separators decode the same.
    let enc = c.get("/movie/7?append_to_response=credits%2Cwatch%2Fproviders").await.json();
    assert_eq!(enc["watch/providers"], d["watch/providers"]);

    // Standalone parts are the same data plus the movie id.
    let credits = c.get("/movie/7/credits").await.json();
    assert_eq!(credits["id"], 7);
    assert_eq!(credits["cast"], d["credits"]["cast"]);
    let providers = c.get("/movie/7/watch/providers").await.json();
    assert_eq!(providers["id"], 7);
    assert_eq!(providers["results"], d["watch/providers"]["results"]);
}

#[tokio::test]
async fn more_than_20_parts_is_422_code_27() {
    let (_server, mut c) = setup().await;
    let twenty = vec!["credits"; 20].join(",");
    assert_eq!(c.get(&format!("/movie/1?append_to_response={twenty}")).await.status, 200);
    let parts = vec!["credits"; 21].join(",");
    c.get(&format!("/movie/1?append_to_response={parts}")).await.assert_error(422, 27);
}

#[tokio::test]
async fn auth_bearer_or_api_key() {
    let (_server, mut c) = setup().await;
    c.get_as("/movie/1", Some("wrong")).await.assert_error(401, 7);
    c.get_as("/movie/1", None).await.assert_error(401, 7);
    c.get_as("/configuration?api_key=nope", None).await.assert_error(401, 7);
    assert_eq!(c.get_as("/movie/1?api_key=fake-tmdb-key", None).await.status, 200);
    assert_eq!(c.get("/movie/1").await.status, 200);
}

#[tokio::test]
async fn unknown_ids_and_paths_are_404_code_34() {
    let (server, mut c) = setup().await;
    c.get("/movie/0").await.assert_error(404, 34);
    c.get("/movie/10001").await.assert_error(404, 34);
    c.get("/movie/10001/credits").await.assert_error(404, 34);
    c.get("/movie/1/reviews").await.assert_error(404, 34);
    c.get("/tv/popular").await.assert_error(404, 34);
    c.get("/trending/movie/month").await.assert_error(404, 34);
    server.faults().not_found(3);
    c.get("/movie/3").await.assert_error(404, 34);
    c.get("/movie/3/watch/providers").await.assert_error(404, 34);
    assert_eq!(c.get("/movie/4").await.status, 200);
}

#[tokio::test]
async fn fail_next_then_recover() {
    let (server, mut c) = setup().await;
    server.faults().fail_next(1, 429, Some(1));
    let r = c.get("/movie/1").await;
    r.assert_error(429, 25);
    assert_eq!(r.headers["retry-after"], "1");
    let r = c.get("/movie/1").await;
    assert_eq!(r.status, 200);
    assert!(r.headers.get("retry-after").is_none());

    server.faults().fail_next(2, 502, None);
    server.faults().fail_next(1, 500, None);
    c.get("/movie/1").await.assert_error(502, 43);
    c.get("/movie/1").await.assert_error(502, 43);
    c.get("/movie/1").await.assert_error(500, 11);
    assert_eq!(c.get("/movie/1").await.status, 200);

    server.faults().set_error_rate(1.0);
    c.get("/movie/popular").await.assert_error(503, 9);
    server.faults().clear();
    assert_eq!(c.get("/movie/popular").await.status, 200);
}

#[tokio::test]
async fn auth_is_checked_before_injected_failures() {
    let (server, mut c) = setup().await;
    server.faults().fail_next(1, 503, None);
    c.get_as("/movie/1", Some("wrong")).await.assert_error(401, 7);
    c.get("/movie/1").await.assert_error(503, 9);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let (server, mut c) = setup_with(FakeTmdbConfig { rate_limit_rps: Some(1), ..config() }).await;
    assert_eq!(c.get("/configuration").await.status, 200);
    // Burst is 1 and refill takes a second: the very next request is over the limit.
    let r = c.get("/configuration").await;
    r.assert_error(429, 25);
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!((server.counters().status(200), server.counters().status(429)), (1, 1), "counted by status");
}

#[tokio::test]
async fn malformed_id_gives_invalid_json() {
    let (server, mut c) = setup().await;
    server.faults().malformed(9);
    let r = c.get("/movie/9").await;
    assert_eq!(r.status, 200);
    assert!(!r.body.is_empty());
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    let r = c.get("/movie/9/credits").await;
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    c.get("/movie/10").await.json();
}

#[tokio::test]
async fn popular_paging() {
    let (_server, mut c) = setup().await;
    let p1 = c.get("/movie/popular?language=en-US&page=1&region=US").await.json();
    assert_eq!(p1["page"], 1);
    assert_eq!(p1["total_results"], 10_000);
    assert_eq!(p1["total_pages"], 500);
    let results = p1["results"].as_array().unwrap();
    assert_eq!(results.len(), 20);
    let pops: Vec<f64> = results.iter().map(|m| m["popularity"].as_f64().unwrap()).collect();
    assert!(pops.windows(2).all(|w| w[0] >= w[1]), "not by popularity: {pops:?}");
    for key in [
        "id",
        "title",
        "original_title",
        "original_language",
        "overview",
        "release_date",
        "popularity",
        "vote_average",
        "vote_count",
        "poster_path",
        "backdrop_path",
        "genre_ids",
        "adult",
        "video",
    ] {
        assert!(results[0].get(key).is_some(), "summary lacks {key}");
    }
    let p2 = c.get("/movie/popular?page=2").await.json();
    assert_eq!(p2["results"].as_array().unwrap().len(), 20);
    assert_ne!(p2["results"][0]["id"], p1["results"][0]["id"]);
    let p500 = c.get("/movie/popular?page=500").await.json();
    assert_eq!(p500["results"].as_array().unwrap().len(), 20);
    c.get("/movie/popular?page=501").await.assert_error(400, 22);
    c.get("/movie/popular?page=0").await.assert_error(400, 22);
    c.get("/movie/popular?page=abc").await.assert_error(400, 22);

    // A small catalog: a page past the end is empty, not an error.
    let (_small, mut s) = setup_with(FakeTmdbConfig { catalog_size: 30, ..config() }).await;
    let last = s.get("/movie/popular?page=2").await.json();
    assert_eq!(last["total_pages"], 2);
    assert_eq!(last["results"].as_array().unwrap().len(), 10);
    let past = s.get("/movie/popular?page=3").await.json();
    assert_eq!(past["results"], json!([]));
}

#[tokio::test]
async fn now_playing_and_trending() {
    let (_server, mut c) = setup().await;
    let np = c.get("/movie/now_playing").await.json();
    assert_eq!(np["dates"]["maximum"], "2025-06-01");
    assert_eq!(np["dates"]["minimum"], "2025-04-22");
    let results = np["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for m in results {
        let d = m["release_date"].as_str().unwrap();
        assert!(("2025-04-22"..="2025-06-01").contains(&d), "{d}");
    }
    let day = c.get("/trending/movie/day").await.json();
    let week = c.get("/trending/movie/week?page=2").await.json();
    assert_eq!(day["results"][0]["media_type"], "movie");
    assert_eq!(week["page"], 2);
    assert_eq!(week["results"].as_array().unwrap().len(), 20);
    let popular = c.get("/movie/popular").await.json();
    assert_ne!(day["results"], popular["results"]);
}

#[tokio::test]
async fn changes_window() {
    let (server, mut c) = setup().await;
    let ref_date = config().reference_date;
    let before = |days| ref_date.checked_sub_days(Days::new(days)).unwrap();

    let default = c.get("/movie/changes").await.json();
    let n = default["total_results"].as_u64().unwrap();
    assert!(n > 100, "~2% of 10 000 a day over two days, got {n}");
    assert_eq!(default["results"].as_array().unwrap().len(), 100);
    assert_eq!(default["results"][0]["adult"], false);
    assert_eq!(default["total_pages"].as_u64().unwrap(), n.div_ceil(100));

    c.get(&format!("/movie/changes?start_date={}&end_date={ref_date}", before(15))).await.assert_error(422, 20);
    c.get("/movie/changes?start_date=2025-13-01").await.assert_error(422, 20);
    c.get(&format!("/movie/changes?start_date={ref_date}&end_date={}", before(1))).await.assert_error(422, 20);

    // mark_changed shows up for its day, and only in windows that contain that day.
    server.faults().mark_changed(99_999, before(10));
    let window = format!("/movie/changes?start_date={}&end_date={}", before(14), ref_date);
    let mut found = false;
    for page in 1.. {
        let p = c.get(&format!("{window}&page={page}")).await.json();
        let results = p["results"].as_array().unwrap();
        found |= results.iter().any(|r| r["id"] == 99_999);
        if page >= p["total_pages"].as_u64().unwrap() {
            break;
        }
    }
    assert!(found);
    let other = c.get("/movie/changes").await.json();
    assert_eq!(other["total_results"], default["total_results"]);
}

#[tokio::test]
async fn configuration() {
    let (_server, mut c) = setup().await;
    let cfg = c.get("/configuration").await.json();
    assert_eq!(cfg["images"]["secure_base_url"], "https://image.tmdb.org/t/p/");
    assert_eq!(cfg["images"]["poster_sizes"][0], "w92");
    assert!(cfg["change_keys"].as_array().unwrap().len() > 10);
}

#[tokio::test]
async fn counters_by_endpoint_and_movie() {
    let (server, mut c) = setup().await;
    c.get("/configuration").await;
    server.reset_counters();
    assert_eq!(server.counters().total, 0);

    c.get("/movie/5").await;
    c.get("/movie/5?append_to_response=credits").await;
    c.get("/movie/5/credits").await;
    c.get("/movie/5/watch/providers").await;
    c.get("/movie/6").await;
    c.get("/movie/popular").await;
    c.get("/trending/movie/week").await;
    c.get_as("/movie/6", Some("wrong")).await; // rejected, but counted
    c.get("/nothing/here").await;

    let counters = server.counters();
    assert_eq!(counters.total, 9);
    let e = &counters.by_endpoint;
    assert_eq!(e["/movie/{id}"], 4);
    assert_eq!(e["/movie/{id}/credits"], 1);
    assert_eq!(e["/movie/{id}/watch/providers"], 1);
    assert_eq!(e["/movie/popular"], 1);
    assert_eq!(e["/trending/movie/{window}"], 1);
    assert_eq!(e.len(), 5);
    assert_eq!(counters.by_movie[&5], 4);
    assert_eq!(counters.by_movie[&6], 2);
    assert_eq!((counters.status(200), counters.status(401), counters.status(404)), (7, 1, 1));
    assert_eq!(counters.ok_by_movie[&5], 4);
    assert_eq!(counters.ok_by_movie[&6], 1, "the rejected request is not a fetch");
}

#[tokio::test]
async fn patch_movie_changes_details_and_lists() {
    let (server, mut c) = setup().await;
    let top = c.get("/movie/popular").await.json()["results"][0]["id"].as_u64().unwrap();
    server.faults().patch_movie(top, json!({"title": "New", "adult": true}));
    let d = c.get(&format!("/movie/{top}")).await.json();
    assert_eq!(d["title"], "New");
    assert_eq!(d["adult"], true);
    let list = c.get("/movie/popular").await.json();
    assert_eq!(list["results"][0]["title"], "New");

    server.faults().patch_movie(top, json!({"title": null}));
    let d = c.get(&format!("/movie/{top}")).await.json();
    assert!(d["title"].is_null());
    assert_eq!(d["adult"], true, "patches merge");

    server.faults().clear();
    let d = c.get(&format!("/movie/{top}")).await.json();
    assert_eq!(d, movie_details(&config(), top, &[]).unwrap());
}

#[tokio::test]
async fn a_served_fixture_is_answered_exactly_for_its_id() {
    let (server, mut c) = setup().await;
    let fixture = json!({
        "id": 990_001, "title": "Fixture", "release_date": "", "runtime": null, "adult": false,
        "credits": {"cast": [], "crew": []}, "videos": {"results": []},
        "watch/providers": {"results": {}}, "similar": {"page": 1, "results": [], "total_pages": 0, "total_results": 0},
    });
    server.serve_fixture(990_001, fixture.clone());
    let all = c.get("/movie/990001?append_to_response=credits,videos,similar,watch/providers").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.json(), fixture, "outside the synthetic catalog, the fixture as given");
    let plain = c.get("/movie/990001").await.json();
    assert_eq!(plain.as_object().unwrap().len(), 5, "parts only when appended: {plain}");
    let credits = c.get("/movie/990001/credits").await.json();
    assert_eq!(credits, json!({"id": 990_001, "cast": [], "crew": []}));
    c.get("/movie/990001/keywords").await.assert_error(404, 34);

    // A fixture replaces a catalog movie too, untouched by its patches; faults still apply.
    server.faults().patch_movie(5, json!({"title": "Patched"}));
    server.serve_fixture(5, json!({"id": 5, "title": "Fixture five"}));
    assert_eq!(c.get("/movie/5").await.json(), json!({"id": 5, "title": "Fixture five"}));
    server.faults().not_found(5);
    c.get("/movie/5").await.assert_error(404, 34);
    server.faults().clear();
    assert_eq!(c.get("/movie/5").await.json(), movie_details(&config(), 5, &[]).unwrap());
}

#[tokio::test]
async fn slow_and_latency_apply_per_request() {
    let cfg = FakeTmdbConfig { latency: Duration::from_millis(5), ..config() };
    let (server, mut c) = setup_with(cfg).await;
    server.faults().slow(2, Duration::from_millis(20));
    let slow = c.get("/movie/2").await;
    assert_eq!(slow.status, 200);
    assert_eq!(slow.headers.get(fake_tmdb::DELAY_HEADER).and_then(|v| v.to_str().ok()), Some("25"));
    let other = c.get("/movie/3").await;
    assert_eq!(
        other.headers.get(fake_tmdb::DELAY_HEADER).and_then(|v| v.to_str().ok()),
        Some("5"),
        "slow is per movie"
    );
}

#[tokio::test]
async fn drop_shuts_the_server_down() {
    let server = FakeTmdb::start(config()).unwrap();
    let addr = server.addr();
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert!(server.base_url().ends_with("/3"));
    drop(server);
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_status_storm_hits_its_share_of_requests_until_it_ends() {
    let (server, mut c) = setup().await;
    server.faults().storm(fake_tmdb::Fault::Status { status: 429, retry_after: Some(1) }, 0.5, Duration::from_secs(60));
    let mut throttled = 0;
    for _ in 0..200 {
        let r = c.get("/configuration").await;
        if r.status == 429 {
            r.assert_error(429, 25);
            assert_eq!(r.headers["retry-after"], "1");
            throttled += 1;
        } else {
            assert_eq!(r.status, 200);
        }
    }
    assert!((60..=140).contains(&throttled), "about half of 200: {throttled}");
    assert_eq!(server.counters().injected["429"], throttled);
    assert!(server.faults().storming());
    server.faults().calm();
    assert!(!server.faults().storming());
    assert_eq!(c.get("/configuration").await.status, 200);

    // A storm ends by itself (this one is over as soon as it starts).
    server.faults().storm(fake_tmdb::Fault::Status { status: 401, retry_after: None }, 1.0, Duration::ZERO);
    assert!(!server.faults().storming());
    assert_eq!(c.get("/movie/3").await.status, 200);
}

#[tokio::test]
async fn body_storms_spoil_successful_answers_only() {
    let (server, mut c) = setup().await;
    let whole = c.get("/movie/4").await.body;

    server.faults().storm(fake_tmdb::Fault::Truncated, 1.0, Duration::from_secs(60));
    let r = c.get("/movie/4").await;
    assert_eq!((r.status, r.body.len()), (200, whole.len() / 2));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    c.get("/movie/99999999").await.assert_error(404, 34);
    server.faults().calm();

    server.faults().storm(fake_tmdb::Fault::WrongContentType, 1.0, Duration::from_secs(60));
    let r = c.get("/movie/4").await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.body.starts_with(b"<!DOCTYPE html>"));
    server.faults().calm();

    server.faults().storm(fake_tmdb::Fault::Huge { bytes: 10_000_000 }, 1.0, Duration::from_secs(60));
    let r = c.get("/movie/4").await;
    assert_eq!((r.status, r.body.len()), (200, 10_000_000));
    let mut huge = r.json();
    assert_eq!(huge["_padding"].as_str().map(str::len), Some(10_000_000 - whole.len() - 14));
    huge.as_object_mut().unwrap().remove("_padding");
    assert_eq!(huge, serde_json::from_slice::<Value>(&whole).unwrap(), "the right JSON, grown");
    server.faults().calm();

    server.faults().storm(fake_tmdb::Fault::Slow(Duration::from_millis(30)), 1.0, Duration::from_secs(60));
    let r = c.get("/movie/4").await;
    assert_eq!(r.headers.get(fake_tmdb::DELAY_HEADER).and_then(|v| v.to_str().ok()), Some("30"));
    assert_eq!(r.body, whole);
    server.faults().calm();

    let injected = server.counters().injected;
    for name in ["truncated", "wrong_content_type", "huge_body", "slow"] {
        assert_eq!(injected.get(name), Some(&1), "{name}: {injected:?}");
    }
}

#[tokio::test]
async fn a_reset_announces_the_whole_body_and_drops_the_connection_halfway() {
    let (server, mut c) = setup().await;
    let whole = c.get("/movie/6").await.body.len();
    server.faults().storm(fake_tmdb::Fault::ResetMidBody, 1.0, Duration::from_secs(60));
    let mut fresh = Client::connect(&server).await;
    let req = Request::get("/3/movie/6").header("host", &fresh.host).header("authorization", format!("Bearer {TOKEN}"));
    fresh.sender.ready().await.unwrap();
    let resp = fresh.sender.send_request(req.body(Empty::new()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"].to_str().unwrap(), whole.to_string());
    assert!(resp.into_body().collect().await.is_err(), "the body ends before its announced length");
    assert_eq!(server.counters().injected["reset_mid_body"], 1);
}

#[tokio::test]
async fn raw_bodies_are_served_byte_for_byte() {
    let (server, mut c) = setup().await;
    let bytes = b"{\"id\": 7, \"title\": \"\xff\xfe\", \"n\": 1e400}".to_vec();
    server.faults().serve_raw(7, bytes.clone());
    let r = c.get("/movie/7").await;
    assert_eq!((r.status, r.body.to_vec()), (200, bytes));
    server.faults().not_found(7);
    c.get("/movie/7").await.assert_error(404, 34);
}
