//! `marquee bench read`: the catalog API under load. The native server (`marquee serve`, its
//! worker threads and their pools of sessions) over real HTTP, driven by concurrent clients
//! with keep-alive connections, on a catalog written through the real movie write, with key
//! checks and quota charging on: every request but the floor checks its key and charges its
//! customer in the statement that reads.
//!
//! Each route runs for a while (after a warm-up that is not counted) and is reported with its
//! requests per second, p50 and p99, and its ratio to the floor: `GET /api/health`, a bare
//! `SELECT 1` through the same server, pool and HTTP stack. Round trips per request are counted
//! in a separate pass, through a proxy that counts what a PostgreSQL client waits for.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use marquee::ports::{Connection, Database};

use crate::bench::{percentile, seed_catalog};
use crate::latency_proxy::{self, LatencyProxy};
use crate::native::{NativeDb, NativeSettings};
use crate::server::{ServeOptions, Server};

pub struct ReadOptions {
    pub works: i64,
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Customers the clients' keys belong to (client i uses customer i mod this).
    pub customers: usize,
    pub server: ServeOptions,
}

/// What is measured, each for the whole duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /api/health`: `SELECT 1` through the server, no key: the floor.
    Floor,
    /// A random card, 200.
    Card,
    /// A random card with its ETag in `If-None-Match`: 304.
    CardNotModified,
    /// Cards, every client with the same key: one customer's usage row taken by all at once.
    CardOneKey,
    /// Browse by popularity, 20 a page: a first page, then its next four by cursor, again.
    Browse,
    /// Title search: a word or two of a title, a third of them misspelt.
    Search,
}

impl Route {
    pub const ALL: [Route; 6] =
        [Route::Floor, Route::Card, Route::CardNotModified, Route::CardOneKey, Route::Browse, Route::Search];

    pub fn label(self) -> &'static str {
        match self {
            Route::Floor => "floor: SELECT 1 (GET /api/health)",
            Route::Card => "card 200",
            Route::CardNotModified => "card 304",
            Route::CardOneKey => "card 200, one key for all",
            Route::Browse => "browse page",
            Route::Search => "search",
        }
    }

    fn expected(self) -> u16 {
        if self == Route::CardNotModified { 304 } else { 200 }
    }
}

pub struct RouteFigures {
    pub route: Route,
    pub requests: usize,
    /// Answers other than the route's expected status (or transport errors).
    pub errors: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// Database round trips per request, counted at a proxy.
    pub round_trips: f64,
}

impl RouteFigures {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub struct ReadFigures {
    pub works: i64,
    /// Time to write the catalog (`None`: an earlier run's catalog was reused).
    pub seeded: Option<Duration>,
    pub routes: Vec<RouteFigures>,
}

/// What the clients ask for: ids and ETags of servable works, keys, search queries.
struct Material {
    ids: Vec<i64>,
    etags: HashMap<i64, String>,
    keys: Vec<String>,
    queries: Vec<String>,
}

pub async fn read(url: &str, options: &ReadOptions) -> anyhow::Result<ReadFigures> {
    let conn = NativeDb::new(url).connect().await?;
    let have: i64 =
        conn.query("SELECT count(*) AS n FROM works WHERE ingestion_status = 'complete'", &[]).await?[0].get("n")?;
    let seeded = if have == options.works { None } else { Some(seed_catalog(url, options.works).await?) };
    let material = material(&conn, options.customers).await?;
    let admin_token = marquee::domain::api_key::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = |database_url: &str| {
        NativeSettings::default()
            .with("database_url", database_url)
            .with("admin_token", admin_token.as_str())
            .with("catalog_public", "false")
    };

    let server = Server::start_with("127.0.0.1:0".parse()?, settings(url), options.server)?;
    let material = Rc::new(material);
    let mut routes = Vec::new();
    for route in Route::ALL {
        let (latencies, errors, elapsed) =
            drive(server.addr(), route, material.clone(), options.clients, options.warmup, options.duration).await?;
        routes.push(RouteFigures {
            route,
            requests: latencies.len(),
            errors,
            elapsed,
            p50: percentile(&latencies, 0.5),
            p99: percentile(&latencies, 0.99),
            round_trips: 0.0,
        });
    }
    drop(server);

    // Round trips: one client, a server whose sessions go through a counting proxy.
    let proxy = LatencyProxy::start(latency_proxy::upstream_of(url)?, Duration::ZERO)?;
    let counted = ServeOptions { workers: 1, db_sessions: 1 };
    let server = Server::start_with("127.0.0.1:0".parse()?, settings(&proxy.url_for(url)?), counted)?;
    for figures in &mut routes {
        // Warm: the session is open and the route's statements are prepared.
        drive_count(server.addr(), figures.route, material.clone(), 20).await?;
        let before = proxy.round_trips();
        let n = 200;
        drive_count(server.addr(), figures.route, material.clone(), n).await?;
        figures.round_trips = (proxy.round_trips() - before) as f64 / n as f64;
    }
    Ok(ReadFigures { works: options.works, seeded, routes })
}

/// Keys for `customers` customers on the premium tier (a subscription row, as the webhook
/// writes it), their usage this month set back to 0; and ids, ETags and queries to ask for.
async fn material(conn: &impl Connection, customers: usize) -> anyhow::Result<Material> {
    conn.execute("DELETE FROM api_keys WHERE customer_id LIKE 'cus_bench_%'", &[]).await?;
    conn.execute("DELETE FROM quota_usage WHERE customer_id LIKE 'cus_bench_%'", &[]).await?;
    let mut keys = Vec::new();
    for i in 0..customers.max(1) {
        let customer = format!("cus_bench_{i}");
        conn.execute(
            "INSERT INTO subscriptions (subscription_id, customer_id, status, tier, current_period_start, current_period_end,
                                        last_event_created, last_event_rank, last_event_id)
             VALUES ('sub_' || $1, $1, 'active', 'premium', now() - interval '1 day', now() + interval '29 days', 0, 0, 'bench')
             ON CONFLICT (subscription_id) DO UPDATE SET current_period_start = EXCLUDED.current_period_start,
                    current_period_end = EXCLUDED.current_period_end, status = 'active', tier = 'premium', deleted = false",
            &[customer.as_str().into()],
        )
        .await?;
        keys.push(marquee::keys::issue(conn, &customer, Some("bench")).await?.key.expose().to_owned());
    }
    let rows = conn
        .query(
            "SELECT w.tmdb_id, c.etag FROM works w JOIN work_cards_cache c USING (work_id)
              WHERE w.ingestion_status = 'complete' ORDER BY random() LIMIT 20000",
            &[],
        )
        .await?;
    let mut ids = Vec::new();
    let mut etags = HashMap::new();
    for r in &rows {
        let id: i64 = r.get("tmdb_id")?;
        ids.push(id);
        etags.insert(id, r.get::<String>("etag")?);
    }
    anyhow::ensure!(!ids.is_empty(), "the catalog has no servable works");
    let titles = conn
        .query("SELECT title FROM works WHERE ingestion_status = 'complete' ORDER BY random() LIMIT 600", &[])
        .await?;
    let mut rng = fastrand::Rng::with_seed(7);
    let queries = titles
        .iter()
        .filter_map(|r| r.get::<String>("title").ok())
        .map(|title| {
            let words: Vec<&str> = title.split_whitespace().collect();
            let start = rng.usize(..words.len());
            let mut query = words[start..(start + rng.usize(1..=2)).min(words.len())].join(" ").to_lowercase();
            if rng.u8(..3) == 0 && query.len() > 4 {
                // A typo: one letter left out.
                let at = rng.usize(1..query.len() - 1);
                if query.is_char_boundary(at) && query.is_char_boundary(at + 1) {
                    query.remove(at);
                }
            }
            query
        })
        .collect();
    Ok(Material { ids, etags, keys, queries })
}

/// `clients` clients on `route` for `warmup` (not counted) then `duration`: every latency
/// counted, answers that were not the route's expected status, and the time counted.
async fn drive(
    addr: SocketAddr,
    route: Route,
    material: Rc<Material>,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<(Vec<Duration>, usize, Duration)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The clients run on a thread of their own, like another process would.
    let material = Material {
        ids: material.ids.clone(),
        etags: material.etags.clone(),
        keys: material.keys.clone(),
        queries: material.queries.clone(),
    };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let local = tokio::task::LocalSet::new();
        let result = local.block_on(&runtime, async move {
            let material = Rc::new(material);
            let start = Instant::now();
            let (counted_from, until) = (start + warmup, start + warmup + duration);
            let tasks: Vec<_> = (0..clients)
                .map(|n| tokio::task::spawn_local(client(addr, route, material.clone(), n, counted_from, until)))
                .collect();
            let mut latencies = Vec::new();
            let mut errors = 0;
            for task in tasks {
                let (l, e) = task.await??;
                latencies.extend(l);
                errors += e;
            }
            anyhow::Ok((latencies, errors, duration))
        });
        let _ = tx.send(result);
    });
    rx.await.context("the clients' thread died")?
}

/// `n` requests of `route`, one after another (for counting round trips).
async fn drive_count(addr: SocketAddr, route: Route, material: Rc<Material>, n: usize) -> anyhow::Result<()> {
    // The connection's task is local to this thread.
    tokio::task::LocalSet::new()
        .run_until(async {
            let mut session = Session::open(addr, route, &material, 0).await?;
            for _ in 0..n {
                session.next(&material).await?;
            }
            Ok(())
        })
        .await
}

async fn client(
    addr: SocketAddr,
    route: Route,
    material: Rc<Material>,
    n: usize,
    counted_from: Instant,
    until: Instant,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut session = Session::open(addr, route, &material, n).await?;
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while Instant::now() < until {
        let started = Instant::now();
        let ok = session.next(&material).await.unwrap_or(false);
        if started >= counted_from {
            latencies.push(started.elapsed());
            errors += usize::from(!ok);
        }
    }
    Ok((latencies, errors))
}

/// One client: its connection, its key, and where its listing is.
struct Session {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    route: Route,
    key: String,
    rng: fastrand::Rng,
    cursor: Option<String>,
    pages: usize,
}

impl Session {
    async fn open(addr: SocketAddr, route: Route, material: &Material, n: usize) -> anyhow::Result<Session> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::task::spawn_local(connection);
        let key = if route == Route::CardOneKey { &material.keys[0] } else { &material.keys[n % material.keys.len()] };
        Ok(Session {
            sender,
            route,
            key: key.clone(),
            rng: fastrand::Rng::with_seed(n as u64 + 1),
            cursor: None,
            pages: 0,
        })
    }

    /// Sends the next request and reads the answer; whether it had the expected status.
    async fn next(&mut self, material: &Material) -> anyhow::Result<bool> {
        let id = material.ids[self.rng.usize(..material.ids.len())];
        let path = match self.route {
            Route::Floor => "/api/health".to_owned(),
            Route::Card | Route::CardNotModified | Route::CardOneKey => format!("/api/works/{id}"),
            Route::Browse => match &self.cursor {
                Some(cursor) => format!("/api/works?limit=20&cursor={cursor}"),
                None => "/api/works?limit=20".to_owned(),
            },
            Route::Search => {
                let q = &material.queries[self.rng.usize(..material.queries.len())];
                format!(
                    "/api/search?q={}",
                    percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)
                )
            }
        };
        let mut request = http::Request::get(path).header(http::header::HOST, "bench");
        if self.route != Route::Floor {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {}", self.key));
        }
        if self.route == Route::CardNotModified {
            request = request.header(http::header::IF_NONE_MATCH, material.etags[&id].as_str());
        }
        self.sender.ready().await?;
        let response = self.sender.send_request(request.body(Empty::new())?).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        if self.route == Route::Browse {
            let page: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            self.pages += 1;
            self.cursor = page["next_cursor"].as_str().filter(|_| !self.pages.is_multiple_of(5)).map(str::to_owned);
        }
        Ok(status == self.route.expected())
    }
}
