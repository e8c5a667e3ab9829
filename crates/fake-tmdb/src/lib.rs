//! A fake of the TMDB API v3, following `docs/tmdb-contract.md`.
//!
//! It serves a synthetic catalog (ids `1..=catalog_size`) that is a pure function of the seed,
//! so the same configuration always yields byte-identical answers, and it can inject the
//! failures a real client must survive: auth errors, 404s, rate limiting, 5xx, malformed
//! bodies, slowness. Integration tests start it in-process; `marquee fake-tmdb --port P` runs
//! it standalone.
//!
//! ```no_run
//! let server = fake_tmdb::FakeTmdb::start(fake_tmdb::FakeTmdbConfig::default()).unwrap();
//! println!("TMDB base URL: {}", server.base_url()); // http://127.0.0.1:PORT/3
//! server.faults().fail_next(1, 429, Some(1));
//! ```

mod catalog;
mod error;
mod faults;
mod server;
// Long word lists: one word a line would bury them.
#[rustfmt::skip]
mod words;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate};
use tokio::sync::oneshot;

pub use faults::{Fault, Faults};
pub use server::DELAY_HEADER;

/// How the fake behaves. `Default` gives a 10 000-movie catalog with seed 42.
#[derive(Clone, Debug)]
pub struct FakeTmdbConfig {
    /// Movies with ids `1..=catalog_size` exist.
    pub catalog_size: u32,
    /// Same seed and size give byte-identical responses.
    pub seed: u64,
    /// Accepted as `Authorization: Bearer <token>`.
    pub bearer_token: String,
    /// Accepted as the query parameter `api_key=<key>`.
    pub api_key: String,
    /// Added to every response.
    pub latency: Duration,
    /// Token bucket with burst = rps; over it: 429 code 25 with `Retry-After: 1`.
    pub rate_limit_rps: Option<u32>,
    pub cast_per_movie: usize,
    pub crew_per_movie: usize,
    pub keywords_per_movie: usize,
    /// "Today" for the synthetic catalog: release dates, now_playing and changes hang off it.
    pub reference_date: NaiveDate,
    /// This share of the catalog (0–100 %, a seeded choice per id) is adult: `adult: true` in
    /// details, lists and the id export. 0 by default, so every movie is admitted.
    pub adult_percent: u32,
}

impl Default for FakeTmdbConfig {
    fn default() -> Self {
        FakeTmdbConfig {
            catalog_size: 10_000,
            seed: 42,
            bearer_token: "fake-tmdb-token".to_string(),
            api_key: "fake-tmdb-key".to_string(),
            latency: Duration::ZERO,
            rate_limit_rps: None,
            cast_per_movie: 25,
            crew_per_movie: 5,
            keywords_per_movie: 8,
            reference_date: utc_today(),
            adult_percent: 0,
        }
    }
}

/// Today's UTC date, from the system clock (chrono's own clock feature is not enabled).
fn utc_today() -> NaiveDate {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DateTime::from_timestamp(i64::try_from(secs).unwrap_or(0), 0).map_or(NaiveDate::MIN, |t| t.date_naive())
}

/// Request counts since start or the last [`FakeTmdb::reset_counters`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every request received, including rejected ones.
    pub total: u64,
    /// By endpoint template, without the `/3` prefix: `"/movie/{id}"`, `"/movie/{id}/credits"`,
    /// `"/movie/{id}/watch/providers"`, `"/movie/popular"`, `"/movie/now_playing"`,
    /// `"/trending/movie/{window}"`, `"/movie/changes"`, `"/configuration"`, and the id export
    /// `"/p/exports/movie_ids.json.gz"`. Paths that match no endpoint count only in `total`.
    pub by_endpoint: BTreeMap<String, u64>,
    /// Requests to `/movie/{id}` and `/movie/{id}/{part}`, by id.
    pub by_movie: BTreeMap<u64, u64>,
    /// Answers by HTTP status (429s: how often a client ran over the rate limit).
    pub by_status: BTreeMap<u16, u64>,
    /// Successful (2xx) answers to `/movie/{id}` and `/movie/{id}/{part}`, by id: a movie
    /// fetched twice shows here, whatever was retried on the way.
    pub ok_by_movie: BTreeMap<u64, u64>,
    /// Faults injected, by [`Fault::name`] (storms, `fail_next` and the error rate by status).
    pub injected: BTreeMap<String, u64>,
}

impl Counters {
    /// Answers with this status.
    pub fn status(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Every fault injected, of any kind.
    pub fn injected_total(&self) -> u64 {
        self.injected.values().sum()
    }
}

/// A running fake TMDB server. Dropping it shuts the server down.
pub struct FakeTmdb {
    addr: SocketAddr,
    state: Arc<server::State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeTmdb {
    /// Starts on `127.0.0.1` with a free port.
    pub fn start(config: FakeTmdbConfig) -> std::io::Result<FakeTmdb> {
        FakeTmdb::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config)
    }

    /// Starts on `addr`. Returns once the listener is bound, so the server accepts connections
    /// as soon as this returns.
    pub fn start_on(addr: SocketAddr, config: FakeTmdbConfig) -> std::io::Result<FakeTmdb> {
        // Bind and build the runtime here so that their errors reach the caller.
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        // One thread is plenty for a test double and keeps its footprint small on CI.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let state = Arc::new(server::State::new(config));
        let (shutdown, shutdown_rx) = oneshot::channel();
        let served = state.clone();
        let thread = std::thread::Builder::new().name(format!("fake-tmdb-{}", addr.port())).spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => server::serve(listener, served, shutdown_rx).await,
                    Err(err) => eprintln!("fake-tmdb: cannot use listener: {err}"),
                }
            });
            // Dropping the runtime here cancels the open connections.
        })?;
        Ok(FakeTmdb { addr, state, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT/3` (an unspecified bind address is reported as loopback).
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        format!("http://{addr}/3")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &FakeTmdbConfig {
        &self.state.config
    }

    /// Blocks the calling thread until the server stops (for the CLI: it serves until the
    /// process is killed).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// A snapshot of the request counters.
    pub fn counters(&self) -> Counters {
        self.state.counters().clone()
    }

    pub fn reset_counters(&self) {
        *self.state.counters() = Counters::default();
    }

    /// Serves `response`, a whole details response with its appended parts, for `id` (see
    /// [`Faults::serve_fixture`]).
    pub fn serve_fixture(&self, id: u64, response: serde_json::Value) {
        self.state.faults.serve_fixture(id, response);
    }

    /// Faults and patches, changeable while the server runs.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// The export this server serves at [`EXPORT_PATH`] now (see [`write_export`]): without the
    /// movies it answers 404 for, with its patches. Returns the number of lines.
    pub fn write_export(&self, out: impl std::io::Write) -> std::io::Result<u64> {
        self.state.write_export(out)
    }

    /// `http://127.0.0.1:PORT` + [`EXPORT_PATH`].
    pub fn export_url(&self) -> String {
        format!("{}{EXPORT_PATH}", self.base_url().trim_end_matches("/3"))
    }
}

/// Where the server serves TMDB's daily id export of its catalog (on TMDB, the file server's
/// `/p/exports/movie_ids_MM_DD_YYYY.json.gz`; any date is accepted here), without authentication,
/// as TMDB's file server.
pub const EXPORT_PATH: &str = "/p/exports/movie_ids.json.gz";

/// TMDB's daily id export of the catalog of `config`, gzipped, to `out`: one line
/// `{"adult":…,"id":…,"original_title":…,"popularity":…,"video":false}` per movie, in id order,
/// saying what the movie's details say. Returns the number of lines. Streams: memory does not
/// grow with the catalog.
pub fn write_export(config: &FakeTmdbConfig, out: impl std::io::Write) -> std::io::Result<u64> {
    catalog::write_export(config, &catalog::Patches::new(), &|_| false, out)
}

impl Drop for FakeTmdb {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The JSON the server returns for `GET /movie/{id}?append_to_response=<append>`, as a pure
/// function (no faults, no patches). `None` when `id` is not in the catalog. Unknown part names
/// are ignored; the 20-part limit is the server's, not enforced here.
pub fn movie_details(config: &FakeTmdbConfig, id: u64, append: &[&str]) -> Option<serde_json::Value> {
    catalog::details(config, id, append, &catalog::Patches::new())
}
