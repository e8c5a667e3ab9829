//! The faults, one scenario each: a scratch database, a fake TMDB and `marquee` children of its
//! own; movies queued; the fault injected while the scheduler's runs work them; then recovery,
//! timed, and the library's judgement.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fake_tmdb::{FakeTmdb, FakeTmdbConfig};
use marquee::chaos::{self, Expectation, Verdict};
use marquee::db::chaos as chaos_sql;
use marquee::db::queue;
use marquee::ports::{Connection, Database};
use serde_json::{Value as Json, json};

use super::child::{Launcher, Serve, Transcript};
use super::cluster::Cluster;
use super::{Options, Scale};
use crate::commands::NativeApp;
use crate::native::{NativeDb, NativeHttp, NativeSettings, SystemClock};

/// A fault the suite injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Half of TMDB's answers are 429 with `Retry-After: 1`, for a while.
    Tmdb429Storm,
    /// 500, 502 and 503 for most requests, for a while.
    Tmdb5xxBurst,
    /// Answers slower than the request's deadline.
    TmdbSlow,
    /// The connection reset halfway through the body.
    TmdbResetMidBody,
    /// 200 with the JSON cut in half.
    TmdbTruncatedJson,
    /// 200 with an HTML page.
    TmdbWrongContentType,
    /// 200 with a 10 MB body.
    TmdbHugeBody,
    /// 404 for tracked movies during the daily refresh.
    Tmdb404DuringRefresh,
    /// 401 for every request in the middle of a run (the key revoked), then the key works again.
    Tmdb401MidRun,
    /// `pg_ctl restart -m fast` mid-run.
    PgRestart,
    /// `pg_terminate_backend` of sessions in the middle of a movie's write.
    PgTerminateBackend,
    /// Every connection taken by other clients.
    PgMaxConnections,
    /// Statements cancelled by `statement_timeout` (writes held up by a lock).
    PgStatementTimeout,
    /// `marquee queue drain` killed with SIGKILL at random moments, then one normal drain.
    KillQueueDrain,
    /// `marquee serve` killed with SIGKILL with runs in flight, then one normal run.
    KillServe,
    /// Scheduled ingest, batch ingest, daily refresh and single ingests, ten of each at once.
    Concurrency,
    /// TMDB answers with U+0000, nulls, unknown fields, extreme numbers, 10,000-deep nesting.
    HostileTmdbAnswers,
    /// Random bodies, bytes and headers sent to every route.
    HostileRequests,
}

impl Fault {
    pub const ALL: &'static [Fault] = &[
        Fault::Tmdb429Storm,
        Fault::Tmdb5xxBurst,
        Fault::TmdbSlow,
        Fault::TmdbResetMidBody,
        Fault::TmdbTruncatedJson,
        Fault::TmdbWrongContentType,
        Fault::TmdbHugeBody,
        Fault::Tmdb404DuringRefresh,
        Fault::Tmdb401MidRun,
        Fault::PgRestart,
        Fault::PgTerminateBackend,
        Fault::PgMaxConnections,
        Fault::PgStatementTimeout,
        Fault::KillQueueDrain,
        Fault::KillServe,
        Fault::Concurrency,
        Fault::HostileTmdbAnswers,
        Fault::HostileRequests,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Tmdb429Storm => "TMDB 429 storm (Retry-After)",
            Fault::Tmdb5xxBurst => "TMDB 5xx burst",
            Fault::TmdbSlow => "TMDB slower than the deadline",
            Fault::TmdbResetMidBody => "TMDB reset mid-body",
            Fault::TmdbTruncatedJson => "TMDB truncated JSON",
            Fault::TmdbWrongContentType => "TMDB wrong content type",
            Fault::TmdbHugeBody => "TMDB 10 MB body",
            Fault::Tmdb404DuringRefresh => "TMDB 404 during a refresh",
            Fault::Tmdb401MidRun => "TMDB 401 mid-run",
            Fault::PgRestart => "PostgreSQL restart -m fast",
            Fault::PgTerminateBackend => "pg_terminate_backend mid-write",
            Fault::PgMaxConnections => "max_connections exhausted",
            Fault::PgStatementTimeout => "statement_timeout hit",
            Fault::KillQueueDrain => "SIGKILL queue drain",
            Fault::KillServe => "SIGKILL serve",
            Fault::Concurrency => "concurrent runs, ten of each",
            Fault::HostileTmdbAnswers => "hostile TMDB answers",
            Fault::HostileRequests => "hostile requests",
        }
    }

    /// A restart or a connection flood reaches every database of the server: run alone.
    pub fn disturbs_the_server(self) -> bool {
        matches!(self, Fault::PgRestart | Fault::PgMaxConnections)
    }

    fn slug(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

/// The secrets every child is given, looked for everywhere afterwards.
pub struct Secrets {
    pub tmdb_token: String,
    pub admin_token: String,
    pub db_password: String,
    pub stripe_secret: String,
}

impl Secrets {
    pub fn new(seed: u64) -> Secrets {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5ec2e7);
        let mut secret = |prefix: &str| format!("{prefix}{}", (0..20).map(|_| rng.alphanumeric()).collect::<String>());
        Secrets {
            tmdb_token: secret("tmdbsecret"),
            admin_token: secret("adminsecret"),
            db_password: secret("dbsecret"),
            stripe_secret: secret("whsec_"),
        }
    }

    fn all(&self) -> Vec<String> {
        vec![self.tmdb_token.clone(), self.admin_token.clone(), self.db_password.clone(), self.stripe_secret.clone()]
    }
}

/// One scenario's result.
pub struct Round {
    pub injected: u64,
    pub verdict: Verdict,
    /// `None`: not recovered within the limit.
    pub recovery: Option<Duration>,
    pub secrets_in_output: i64,
    /// 5xx answers no fault excuses.
    pub bad_answers: i64,
    pub problems: Vec<String>,
}

/// What a fault left to judge.
struct Injected {
    count: u64,
    /// Faults the fake TMDB counts under these names are added to `count` once the system has
    /// recovered (a 404 goes on being answered while the refreshes it affects run).
    counted_by_tmdb: &'static [&'static str],
    ended: Instant,
    expectation: Expectation,
    /// Kill scenarios: wait until only time was holding things, then one normal run.
    one_normal_run: Option<NormalRun>,
}

impl Injected {
    fn new(count: u64, ended: Instant, expectation: Expectation) -> Injected {
        Injected { count, counted_by_tmdb: &[], ended, expectation, one_normal_run: None }
    }

    fn counted_by_tmdb(self, names: &'static [&'static str]) -> Injected {
        Injected { counted_by_tmdb: names, ..self }
    }

    fn then_one(self, normal: NormalRun) -> Injected {
        Injected { one_normal_run: Some(normal), ..self }
    }
}

#[derive(Clone, Copy)]
enum NormalRun {
    /// `marquee queue drain`.
    QueueDrain,
    /// `marquee ingest batch --mode drain`: a run (it closes abandoned runs and queues
    /// interrupted ingests again when it opens), then the drain.
    BatchDrain,
}

/// Runs one scenario of `fault` (the `serial`-th of the suite, with its own seed).
pub async fn run(
    fault: Fault,
    cluster: &Rc<Cluster>,
    options: &Options,
    secrets: &Secrets,
    seed: u64,
    serial: u64,
) -> anyhow::Result<Round> {
    let stage = Stage::new(fault, cluster, options, secrets, seed, serial).await?;
    let injected = stage.inject().await.with_context(|| format!("injecting {}", fault.name()))?;
    let (recovery, verdict) = stage.recover(&injected).await?;
    let by_tmdb = stage.fake.counters().injected;
    let count =
        injected.count + injected.counted_by_tmdb.iter().map(|n| by_tmdb.get(*n).copied().unwrap_or(0)).sum::<u64>();
    let texts = stage.launcher.transcript.lines();
    let secrets_in_output = chaos::secrets_in(texts.iter().map(String::as_str), &secrets.all());
    if secrets_in_output > 0 {
        stage.problem(format!("{secrets_in_output} secret(s) in the processes' output or the routes' answers"));
    }
    Ok(Round {
        injected: count,
        verdict,
        recovery,
        secrets_in_output,
        bad_answers: stage.bad_answers.get(),
        problems: stage.problems.take(),
    })
}

struct Stage<'a> {
    fault: Fault,
    cluster: &'a Cluster,
    scale: &'a Scale,
    /// Says what is in flight at each scheduler call of the recovery (`--trace`).
    trace: bool,
    secrets: &'a Secrets,
    database: String,
    fake: FakeTmdb,
    launcher: Launcher,
    /// The library's configuration in-process, as the superuser (never refused a connection):
    /// queues and judges (see [`Stage::app`]).
    config: marquee::config::Config,
    http: reqwest::Client,
    rng: RefCell<fastrand::Rng>,
    bad_answers: Cell<i64>,
    problems: RefCell<Vec<String>>,
}

const CATALOG: u32 = 3_000;

impl<'a> Stage<'a> {
    async fn new(
        fault: Fault,
        cluster: &'a Cluster,
        options: &'a Options,
        secrets: &'a Secrets,
        seed: u64,
        serial: u64,
    ) -> anyhow::Result<Stage<'a>> {
        let scale = &options.scale;
        let database = format!("chaos_{}_{serial}", fault.slug());
        let url = cluster.database(&database).await?;
        let fake = FakeTmdb::start(FakeTmdbConfig {
            catalog_size: CATALOG,
            seed,
            bearer_token: secrets.tmdb_token.clone(),
            latency: Duration::from_millis(20),
            cast_per_movie: 6,
            crew_per_movie: 2,
            keywords_per_movie: 3,
            ..Default::default()
        })?;
        let settings: Vec<(&str, String)> = vec![
            ("admin_token", secrets.admin_token.clone()),
            ("stripe_webhook_secrets", secrets.stripe_secret.clone()),
            ("tmdb_token", secrets.tmdb_token.clone()),
            ("tmdb_base_url", fake.base_url()),
            ("time_budget_ms", scale.budget_ms.to_string()),
            ("tmdb_timeout_ms", "1000".into()),
            ("tmdb_rate_limit_rps", "8".into()),
            ("tmdb_max_in_flight", "6".into()),
            ("tmdb_max_attempts", "4".into()),
            ("ingest_wait_ms", "1000".into()),
            ("db_max_connections", "3".into()),
        ];
        let mut library = NativeSettings::default().with("database_url", cluster.admin_url(&database));
        for (name, value) in &settings {
            library = library.with(name, value.clone());
        }
        let config = marquee::config::Config::load(&library).await?;
        let mut env: Vec<(String, String)> = vec![("DATABASE_URL".into(), url)];
        env.extend(settings.into_iter().map(|(name, value)| (name.to_uppercase(), value)));
        Ok(Stage {
            fault,
            cluster,
            scale,
            trace: options.trace,
            secrets,
            database,
            fake,
            launcher: Launcher { binary: options.binary.clone(), settings: env, transcript: Transcript::default() },
            config,
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?,
            rng: RefCell::new(fastrand::Rng::with_seed(seed)),
            bad_answers: Cell::new(0),
            problems: RefCell::new(Vec::new()),
        })
    }

    /// The library in-process, as one invocation: its own sessions, opened when first needed
    /// (a session kept across a restart would be dead).
    fn app(&self) -> NativeApp {
        let db = NativeDb::new(self.cluster.admin_url(&self.database));
        marquee::App::new(db, NativeHttp::default(), SystemClock, self.config.clone(), "marquee-chaos")
    }

    fn problem(&self, problem: String) {
        let mut problems = self.problems.borrow_mut();
        if problems.len() < 8 {
            problems.push(problem);
        }
    }

    fn millis(&self, range: std::ops::Range<u64>) -> Duration {
        Duration::from_millis(self.rng.borrow_mut().u64(range))
    }

    /// `n` distinct movies of the catalog, queued as a batch request queues them.
    async fn queue_movies(&self, n: usize) -> anyhow::Result<Vec<i64>> {
        let mut ids = BTreeSet::new();
        while ids.len() < n {
            ids.insert(self.rng.borrow_mut().i64(1..=i64::from(CATALOG)));
        }
        let ids: Vec<i64> = ids.into_iter().collect();
        queue::enqueue(&self.app().db.connect().await?, &ids, queue::Reason::Batch, 5).await?;
        Ok(ids)
    }

    async fn queue_rows(&self) -> anyhow::Result<Vec<i64>> {
        Ok(chaos_sql::queue_row_ids(&self.app().db.connect().await?).await?)
    }

    fn expect(&self, movies: Vec<i64>, queue_rows: Vec<i64>) -> Expectation {
        Expectation { movies, queue_rows, max_writes: 1, secrets: self.secrets.all(), ..Default::default() }
    }

    /// A request to a `marquee serve` child; its answer goes to the transcript. `None`: no answer
    /// (the process is gone or the connection failed).
    async fn send(
        &self,
        serve: &Serve,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        admin: bool,
        headers: &[(&str, String)],
    ) -> Option<(u16, String)> {
        let mut request = self.http.request(method, format!("{}{path}", serve.base)).body(body);
        if admin {
            request = request.bearer_auth(&self.secrets.admin_token);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        self.launcher.transcript.push(text.clone());
        Some((status, text))
    }

    async fn post(&self, serve: &Serve, path: &str, body: Json) -> Option<(u16, String)> {
        self.send(serve, reqwest::Method::POST, path, body.to_string().into_bytes(), true, &[]).await
    }

    /// One call of the scheduler's drain (`cron-refresh-drain`).
    async fn tick(&self, serve: &Serve) -> Option<u16> {
        let body = json!({"read_changes": false, "trigger_type": "scheduled"});
        self.post(serve, "/functions/v1/daily-refresh", body).await.map(|(status, _)| status)
    }

    /// The scheduler's drain, back to back, for `period`.
    async fn drive(&self, serve: &Serve, period: Duration) {
        let until = Instant::now() + period;
        while Instant::now() < until {
            if self.tick(serve).await.is_none() {
                // The server's own process is not the fault here: pace the retries.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    async fn inject(&self) -> anyhow::Result<Injected> {
        use fake_tmdb::Fault as F;
        let window = self.scale.fault_window;
        match self.fault {
            Fault::Tmdb429Storm => {
                self.storm(&[(F::Status { status: 429, retry_after: Some(1) }, 0.5)], &["429"]).await
            }
            Fault::Tmdb5xxBurst => {
                let burst = [500, 502, 503].map(|status| (F::Status { status, retry_after: None }, 0.25));
                self.storm(&burst, &["500", "502", "503"]).await
            }
            Fault::TmdbSlow => self.storm(&[(F::Slow(Duration::from_millis(1_500)), 0.4)], &["slow"]).await,
            Fault::TmdbResetMidBody => self.storm(&[(F::ResetMidBody, 0.4)], &["reset_mid_body"]).await,
            Fault::TmdbTruncatedJson => self.storm(&[(F::Truncated, 0.3)], &["truncated"]).await,
            Fault::TmdbWrongContentType => self.storm(&[(F::WrongContentType, 0.3)], &["wrong_content_type"]).await,
            Fault::TmdbHugeBody => self.storm(&[(F::Huge { bytes: 10_000_000 }, 0.3)], &["huge_body"]).await,
            Fault::Tmdb401MidRun => self.revoked_key(window).await,
            Fault::Tmdb404DuringRefresh => self.gone_during_refresh().await,
            Fault::PgRestart => self.restart(window).await,
            Fault::PgTerminateBackend => self.terminate_writes(window).await,
            Fault::PgMaxConnections => self.flood_connections(window).await,
            Fault::PgStatementTimeout => self.statement_timeouts(window).await,
            Fault::KillQueueDrain => self.kill_queue_drains().await,
            Fault::KillServe => self.kill_serves().await,
            Fault::Concurrency => self.concurrency().await,
            Fault::HostileTmdbAnswers => self.hostile_answers().await,
            Fault::HostileRequests => self.hostile_requests().await,
        }
    }

    /// Movies queued, then storms over TMDB while the scheduler drains.
    async fn storm(
        &self,
        storms: &[(fake_tmdb::Fault, f64)],
        counted: &'static [&'static str],
    ) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies).await?;
        let rows = self.queue_rows().await?;
        let serve = self.launcher.serve().await?;
        for (fault, share) in storms {
            self.fake.faults().storm(fault.clone(), *share, self.scale.fault_window);
        }
        self.drive(&serve, self.scale.fault_window).await;
        self.fake.faults().calm();
        let ended = Instant::now();
        Ok(Injected::new(0, ended, self.expect(movies, rows)).counted_by_tmdb(counted))
    }

    /// The key revoked a moment into the drains, for half the window; then it works again.
    async fn revoked_key(&self, window: Duration) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies).await?;
        let rows = self.queue_rows().await?;
        let serve = self.launcher.serve().await?;
        let revoke = async {
            tokio::time::sleep(self.millis(300..800)).await;
            self.fake.faults().storm(fake_tmdb::Fault::Status { status: 401, retry_after: None }, 1.0, window / 2);
        };
        futures::join!(self.drive(&serve, window), revoke);
        self.fake.faults().calm();
        let ended = Instant::now();
        Ok(Injected::new(0, ended, self.expect(movies, rows)).counted_by_tmdb(&["401"]))
    }

    /// Movies ingested; then TMDB reports them all changed and answers 404 for a quarter of them
    /// during the daily refresh (they are gone for good: the 404s stay).
    async fn gone_during_refresh(&self) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies).await?;
        let serve = self.launcher.serve().await?;
        let until = Instant::now() + self.scale.max_recovery;
        while !chaos::quiet(&self.app()).await? && Instant::now() < until {
            self.tick(&serve).await;
        }
        let today = chrono::Utc::now().date_naive();
        let gone: Vec<i64> = movies.iter().copied().filter(|_| self.rng.borrow_mut().u8(0..4) == 0).collect();
        for id in &movies {
            self.fake.faults().mark_changed(*id as u64, today);
        }
        for id in &gone {
            self.fake.faults().not_found(*id as u64);
        }
        let rows = self.queue_rows().await?;
        let refresh = self.post(&serve, "/functions/v1/daily-refresh", json!({"trigger_type": "scheduled"})).await;
        if self.trace {
            eprintln!(
                "chaos trace: {} of {} gone; the refresh answered {:?}",
                gone.len(),
                movies.len(),
                refresh.map(|(status, _)| status)
            );
        }
        let ended = Instant::now();
        let mut expectation = self.expect(movies, rows);
        // Refreshed once by the changes feed (twice when TMDB's own feed listed it the day before).
        expectation.max_writes = 3;
        Ok(Injected::new(0, ended, expectation).counted_by_tmdb(&["404"]))
    }

    /// `pg_ctl restart -m fast` twice while the scheduler drains.
    async fn restart(&self, window: Duration) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies).await?;
        let rows = self.queue_rows().await?;
        let serve = self.launcher.serve().await?;
        let restarts = async {
            let mut done = 0;
            for _ in 0..2 {
                tokio::time::sleep(self.millis(300..1_200)).await;
                self.cluster.restart()?;
                done += 1;
            }
            anyhow::Ok(done)
        };
        let ((), count) = futures::join!(self.drive(&serve, window), restarts);
        let ended = Instant::now();
        Ok(Injected::new(count?, ended, self.expect(movies, rows)))
    }

    /// Sessions ended in the middle of a movie's write, as often as one is caught, for the window.
    async fn terminate_writes(&self, window: Duration) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies).await?;
        let rows = self.queue_rows().await?;
        let serve = self.launcher.serve().await?;
        let admin = self.cluster.admin("postgres").await?;
        let terminate = async {
            let until = Instant::now() + window;
            let mut ended = 0;
            while Instant::now() < until {
                ended += self.cluster.terminate(&admin, &self.database, "marquee_write_movie").await?;
                tokio::task::yield_now().await;
            }
            anyhow::Ok(ended)
        };
        let ((), count) = futures::join!(self.drive(&serve, window), terminate);
        let ended = Instant::now();
        Ok(Injected::new(count?, ended, self.expect(movies, rows)))
    }

    /// Every connection an ordinary role may open taken by other clients, for the window.
    async fn flood_connections(&self, window: Duration) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies).await?;
        let rows = self.queue_rows().await?;
        let refused_before = self.cluster.log_lines(&super::cluster::REFUSED);
        // Full before the server starts: it has no pooled session to fall back on, and every
        // session it opens is refused until the hogs let go.
        let hogs = self.cluster.take_every_connection().await?;
        let serve = self.launcher.serve().await?;
        let ((), flooded) = futures::join!(self.drive(&serve, window * 2), hogs.hold_until(Instant::now() + window));
        let hogs_refused = flooded?;
        if self.trace {
            eprintln!(
                "chaos trace: refused before {refused_before}, by the hogs {hogs_refused}, after {}",
                self.cluster.log_lines(&super::cluster::REFUSED)
            );
        }
        let ended = Instant::now();
        // The hogs' own refusals (they asked for more than there is) are not Marquee's.
        let count = self.cluster.log_lines(&super::cluster::REFUSED).saturating_sub(refused_before + hogs_refused);
        Ok(Injected::new(count, ended, self.expect(movies, rows)))
    }

    /// A 50 ms `statement_timeout` on the database while another session holds, again and
    /// again, a lock every movie's write must wait for.
    async fn statement_timeouts(&self, window: Duration) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies).await?;
        let rows = self.queue_rows().await?;
        let cancelled_before = self.cluster.log_lines(&["canceling statement due to statement timeout"]);
        self.cluster.statement_timeout(&self.database, Some(50)).await?;
        let serve = self.launcher.serve().await?;
        let blocker = self.cluster.admin(&self.database).await?;
        // The blocker is a session of the same database, so it got the 50 ms limit too: its
        // own LOCK, waiting behind a movie's write, must not be cancelled (CI saw it).
        blocker.execute("SET statement_timeout = 0", &[]).await?;
        let hold = async {
            let until = Instant::now() + window;
            while Instant::now() < until {
                blocker.execute("BEGIN", &[]).await?;
                blocker.execute("LOCK TABLE genres IN SHARE MODE", &[]).await?;
                tokio::time::sleep(self.millis(200..400)).await;
                blocker.execute("COMMIT", &[]).await?;
                tokio::time::sleep(self.millis(50..150)).await;
            }
            anyhow::Ok(())
        };
        let ((), held) = futures::join!(self.drive(&serve, window), hold);
        held?;
        self.cluster.statement_timeout(&self.database, None).await?;
        let ended = Instant::now();
        let count =
            self.cluster.log_lines(&["canceling statement due to statement timeout"]).saturating_sub(cancelled_before);
        Ok(Injected::new(count, ended, self.expect(movies, rows)))
    }

    /// `marquee queue drain` started and killed with SIGKILL at a random moment, again and again.
    async fn kill_queue_drains(&self) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies * 2).await?;
        let rows = self.queue_rows().await?;
        let mut kills = 0;
        while kills < self.scale.kills {
            let mut drain = self.launcher.spawn(&["queue", "drain", "--budget-secs", "60"], None)?;
            tokio::time::sleep(self.millis(150..1_200)).await;
            drain.kill().await;
            kills += 1;
        }
        let ended = Instant::now();
        Ok(Injected::new(u64::from(kills), ended, self.expect(movies, rows)).then_one(NormalRun::QueueDrain))
    }

    /// `marquee serve` killed with SIGKILL while batch, single and scheduled ingests run in it.
    async fn kill_serves(&self) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies).await?;
        let rows = self.queue_rows().await?;
        let mut asked: BTreeSet<i64> = movies.iter().copied().collect();
        let mut kills = 0;
        while kills < self.scale.kills {
            let serve = self.launcher.serve().await?;
            let batch: Vec<i64> = (0..5).map(|_| self.rng.borrow_mut().i64(1..=i64::from(CATALOG))).collect();
            let single = self.rng.borrow_mut().i64(1..=i64::from(CATALOG));
            let requests = async {
                futures::join!(
                    self.post(&serve, "/functions/v1/batch-ingest", json!({"tmdb_ids": batch})),
                    self.post(&serve, "/functions/v1/ingest-movie", json!({"tmdb_id": single})),
                    self.post(
                        &serve,
                        "/functions/v1/scheduled-ingest",
                        json!({"max_movies": 5, "pages_per_source": 1})
                    ),
                    self.tick(&serve),
                )
            };
            let killed_after = self.millis(150..1_500);
            let answered = tokio::time::timeout(killed_after, requests).await;
            let mut serve = serve;
            serve.running.kill().await;
            kills += 1;
            // Movies whose request was answered were accepted; the others may or may not have
            // been (the judge looks at every movie the catalog or the queue knows).
            if let Ok((b, s, _, _)) = answered {
                if b.is_some_and(|(status, _)| status == 200) {
                    asked.extend(&batch);
                }
                if s.is_some_and(|(status, _)| status == 200) {
                    asked.insert(single);
                }
            }
        }
        let ended = Instant::now();
        Ok(Injected::new(u64::from(kills), ended, self.expect(asked.into_iter().collect(), rows))
            .then_one(NormalRun::BatchDrain))
    }

    /// Ten scheduled ingests, ten batch ingests, ten daily refreshes and ten single ingests at
    /// once, on overlapping movies (the top of the popular list).
    async fn concurrency(&self) -> anyhow::Result<Injected> {
        let serve = self.launcher.serve().await?;
        let popular = self.popular(2).await?;
        let today = chrono::Utc::now().date_naive();
        let refreshable = self.changed(today - chrono::Duration::days(1), today).await?;
        let pick =
            |n: usize| -> Vec<i64> { (0..n).map(|_| popular[self.rng.borrow_mut().usize(..popular.len())]).collect() };
        let mut calls: Vec<(&str, Json)> = Vec::new();
        for _ in 0..10 {
            calls.push((
                "/functions/v1/scheduled-ingest",
                json!({"source": "popular", "max_movies": 10, "pages_per_source": 2}),
            ));
            calls.push(("/functions/v1/batch-ingest", json!({"tmdb_ids": pick(10)})));
            calls.push(("/functions/v1/daily-refresh", json!({"trigger_type": "scheduled"})));
            calls.push(("/functions/v1/ingest-movie", json!({"tmdb_id": pick(1)[0]})));
        }
        let answers =
            futures::future::join_all(calls.iter().map(|(path, body)| self.post(&serve, path, body.clone()))).await;
        // What a 200 accepted: a batch's ids, a single movie (a scheduled run's candidates are
        // whatever the catalog and the queue know, which the judge looks at anyway).
        let accepted: BTreeSet<i64> = calls
            .iter()
            .zip(&answers)
            .filter(|(_, answer)| matches!(answer, Some((200, _))))
            .flat_map(|((_, body), _)| {
                let ids = body["tmdb_ids"].as_array().into_iter().flatten().filter_map(Json::as_i64);
                ids.chain(body["tmdb_id"].as_i64()).collect::<Vec<_>>()
            })
            .collect();
        for ((path, _), answer) in calls.iter().zip(&answers) {
            match answer {
                Some((200, _)) => {}
                // Refusals that are answers: another invocation holds the movie (it is being
                // ingested), or this one's budget ran out before TMDB answered (forty at once
                // share one process and its rate); nothing was accepted that could be lost.
                Some((409, text)) if text.contains("ingest_in_progress") => {}
                Some((503, text)) if text.contains("time_budget_exhausted") => {}
                Some((status, text)) => {
                    self.bad_answers.set(self.bad_answers.get() + 1);
                    self.problem(format!("{path} answered {status}: {}", text.chars().take(200).collect::<String>()));
                }
                None => {
                    self.bad_answers.set(self.bad_answers.get() + 1);
                    self.problem(format!("{path}: no answer"));
                }
            }
        }
        if self.bad_answers.get() > 0 {
            // What the server logged of its errors says why (a 500's answer never does).
            let logged = self.launcher.transcript.lines();
            for line in logged.iter().filter(|l| l.contains(r#""level":"error""#)).take(3) {
                self.problem(format!("the server logged: {}", line.chars().take(300).collect::<String>()));
            }
        }
        let ended = Instant::now();
        let rows = self.queue_rows().await?;
        let mut expectation = self.expect(accepted.into_iter().collect(), rows);
        // A movie TMDB's feed lists may be refreshed by each daily refresh that reads it.
        expectation.max_writes_of = refreshable.into_iter().map(|id| (id, 11)).collect::<BTreeMap<_, _>>();
        Ok(Injected::new(calls.len() as u64, ended, expectation))
    }

    /// The top `pages` pages of TMDB's popular list (from the fake, directly).
    async fn popular(&self, pages: u32) -> anyhow::Result<Vec<i64>> {
        let mut ids = Vec::new();
        for page in 1..=pages {
            let url = format!("{}/movie/popular?page={page}", self.fake.base_url());
            let body: Json = serde_json::from_slice(
                &self.http.get(url).bearer_auth(&self.secrets.tmdb_token).send().await?.bytes().await?,
            )?;
            ids.extend(body["results"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_i64()));
        }
        Ok(ids)
    }

    /// The ids TMDB's changes feed lists from `start` to `end` (from the fake, directly).
    async fn changed(&self, start: chrono::NaiveDate, end: chrono::NaiveDate) -> anyhow::Result<Vec<i64>> {
        let mut ids = Vec::new();
        let mut page: u32 = 1;
        loop {
            let url = format!("{}/movie/changes?start_date={start}&end_date={end}&page={page}", self.fake.base_url());
            let body: Json = serde_json::from_slice(
                &self.http.get(url).bearer_auth(&self.secrets.tmdb_token).send().await?.bytes().await?,
            )?;
            ids.extend(body["results"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_i64()));
            if body["total_pages"].as_u64().is_none_or(|total| u64::from(page) >= total) {
                return Ok(ids);
            }
            page += 1;
        }
    }

    /// Answers no well-behaved TMDB gives, served for some of the queued movies.
    async fn hostile_answers(&self) -> anyhow::Result<Injected> {
        let movies = self.queue_movies(self.scale.movies).await?;
        for (i, id) in movies.iter().enumerate() {
            if let Some(body) = hostile_answer(i, *id, &self.fake) {
                self.fake.faults().serve_raw(*id as u64, body);
            }
        }
        let rows = self.queue_rows().await?;
        let serve = self.launcher.serve().await?;
        self.drive(&serve, self.scale.fault_window).await;
        let ended = Instant::now();
        Ok(Injected::new(0, ended, self.expect(movies, rows)).counted_by_tmdb(&["raw_body"]))
    }

    /// Random bodies, bytes, paths and headers sent to every route: each answered 2xx, or 4xx
    /// with the JSON error shape; never a 5xx.
    async fn hostile_requests(&self) -> anyhow::Result<Injected> {
        let serve = self.launcher.serve().await?;
        let mut sent = 0;
        for _ in 0..self.scale.hostile_requests {
            let HostileRequest { method, path, body, admin, headers } = self.hostile_request();
            let Some((status, text)) = self.send(&serve, method, &path, body, admin, &headers).await else {
                self.bad_answers.set(self.bad_answers.get() + 1);
                self.problem(format!("{path}: no answer (the server died?)"));
                continue;
            };
            sent += 1;
            let shaped = serde_json::from_str::<Json>(&text)
                .is_ok_and(|b| b["error"]["code"].is_string() && b["error"]["message"].is_string());
            let fine = (200..300).contains(&status) || status == 304 || ((400..500).contains(&status) && shaped);
            if !fine {
                self.bad_answers.set(self.bad_answers.get() + 1);
                self.problem(format!("{path} answered {status}: {}", text.chars().take(200).collect::<String>()));
            }
        }
        let ended = Instant::now();
        let rows = self.queue_rows().await?;
        Ok(Injected::new(sent, ended, self.expect(Vec::new(), rows)))
    }

    fn hostile_request(&self) -> HostileRequest {
        let mut rng = self.rng.borrow_mut();
        let body = match rng.u8(0..6) {
            0 => (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect(),
            1 => format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            2 => random_json(&mut rng, 4).to_string().into_bytes(),
            3 => {
                let fields =
                    ["tmdb_id", "tmdb_ids", "mode", "max_movies", "budget_ms", "source", "dry_run", "batch_size"];
                let mut object = serde_json::Map::new();
                for _ in 0..rng.usize(1..4) {
                    object.insert(fields[rng.usize(..fields.len())].into(), random_json(&mut rng, 2));
                }
                // Valid requests stay small: a dry run, a movie or two.
                object.insert("dry_run".into(), json!(true));
                Json::Object(object).to_string().into_bytes()
            }
            4 => b"{\"tmdb_id\": \"\\u0000\", \"x\": \"\xff\xfe\"}".to_vec(),
            _ => b"{\"max_movies\": 1e400, \"tmdb_ids\": [99999999999999999999999]}".to_vec(),
        };
        let admin = rng.u8(0..4) != 0;
        let post = |path: &str, body, admin, headers| HostileRequest {
            method: reqwest::Method::POST,
            path: path.to_owned(),
            body,
            admin,
            headers,
        };
        let get = |path: String, headers| HostileRequest {
            method: reqwest::Method::GET,
            path,
            body: Vec::new(),
            admin: false,
            headers,
        };
        // A query string of names the catalog API knows and others, with any values.
        let query: String = (0..rng.usize(0..6))
            .map(|_| {
                let names = ["sort", "order", "limit", "cursor", "genre", "year", "year_from", "q", "min_votes", "x"];
                let value: String = (0..rng.usize(0..12))
                    .map(|_| ['a', 'Z', '9', '-', '%', '.', '+', '€', '0', '_'][rng.usize(..10)])
                    .collect();
                format!("{}={value}", names[rng.usize(..names.len())])
            })
            .collect::<Vec<_>>()
            .join("&");
        let token: String = (0..rng.usize(0..48)).map(|_| rng.alphanumeric()).collect();
        let key = vec![("x-api-key", token.clone())];
        match rng.u8(0..11) {
            0 => post("/functions/v1/ingest-movie", body, admin, vec![]),
            1 => post("/functions/v1/batch-ingest", body, admin, vec![]),
            2 => post("/functions/v1/scheduled-ingest", body, admin, vec![]),
            3 => post("/functions/v1/daily-refresh", body, admin, vec![]),
            4 => {
                let header = match rng.u8(0..3) {
                    0 => format!("t={},v1={}", rng.i64(..), "ab".repeat(32)),
                    1 => (0..rng.usize(0..40)).map(|_| rng.alphanumeric()).collect(),
                    _ => "t=1,v1=,,==,v0=zz".to_owned(),
                };
                post("/functions/v1/stripe-webhook", body, false, vec![("stripe-signature", header)])
            }
            6 => get(format!("/api/works?{query}"), if rng.bool() { key } else { vec![] }),
            7 => get(format!("/api/search?{query}"), if rng.bool() { key } else { vec![] }),
            8 => post("/api/admin/keys", body, admin, vec![]),
            // Without a session: the sign-in form, whatever the body.
            9 => post("/dashboard/queue/retry", body, false, vec![]),
            // A scraper's token that is not the metrics token.
            10 => get("/metrics".to_owned(), vec![("authorization", format!("Bearer {token}"))]),
            _ => {
                let segment: String = match rng.u8(0..3) {
                    0 => rng.i64(..).to_string(),
                    1 => (0..rng.usize(0..30)).map(|_| rng.alphanumeric()).collect(),
                    _ => "%00%ff%2F..%2e".to_owned(),
                };
                HostileRequest {
                    method: reqwest::Method::GET,
                    path: format!("/api/works/{segment}"),
                    body: Vec::new(),
                    admin: false,
                    headers: vec![],
                }
            }
        }
    }

    /// Recovery: for the kill scenarios, wait until only time was holding anything and run one
    /// normal run; then the scheduler's drain every second until nothing is in flight and the
    /// audit passes (or the limit).
    async fn recover(&self, injected: &Injected) -> anyhow::Result<(Option<Duration>, Verdict)> {
        let limit = injected.ended + self.scale.max_recovery;
        if let Some(normal) = injected.one_normal_run {
            while chaos_sql::held_by_time(&self.app().db.connect().await?).await? > 0 && Instant::now() < limit {
                // Leases and deadlines run on PostgreSQL's clock: look again in a moment.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            match normal {
                NormalRun::QueueDrain => {
                    let ok = self
                        .launcher
                        .run(&["queue", "drain", "--budget-secs", "120"], Duration::from_secs(180))
                        .await?;
                    if !ok {
                        self.problem("the normal `marquee queue drain` failed".into());
                    }
                }
                NormalRun::BatchDrain => {
                    // What `batch-ingest {"mode": "drain"}` does, as one long run: it closes the
                    // killed runs, queues their interrupted ingests again and drains.
                    let args = ["ingest", "batch", "--mode", "drain", "--budget-ms", "120000"];
                    if !self.launcher.run(&args, Duration::from_secs(180)).await? {
                        self.problem("the normal `marquee ingest batch --mode drain` failed".into());
                    }
                }
            }
            let verdict = chaos::judge(&self.app(), &injected.expectation).await?;
            if verdict.recovered() {
                return Ok((Some(injected.ended.elapsed()), verdict));
            }
            self.problem(format!("one normal run left work in flight: {:?}", verdict.in_flight));
        }
        let serve = self.launcher.serve().await?;
        loop {
            if chaos::quiet(&self.app()).await? {
                let verdict = chaos::judge(&self.app(), &injected.expectation).await?;
                if verdict.recovered() {
                    return Ok((Some(injected.ended.elapsed()), verdict));
                }
            }
            if Instant::now() >= limit {
                let verdict = chaos::judge(&self.app(), &injected.expectation).await?;
                self.problem(format!(
                    "not recovered after {} s: {:?}",
                    self.scale.max_recovery.as_secs(),
                    verdict.in_flight
                ));
                return Ok((None, verdict));
            }
            let tick = Instant::now();
            if self.trace {
                let in_flight = chaos_sql::in_flight(&self.app().db.connect().await?).await?;
                eprintln!(
                    "chaos trace: {} {:.1} s after the fault: {in_flight:?}",
                    self.fault.name(),
                    injected.ended.elapsed().as_secs_f64()
                );
            }
            match self.tick(&serve).await {
                Some(status) if status >= 500 => {
                    self.bad_answers.set(self.bad_answers.get() + 1);
                    self.problem(format!("the scheduler's drain answered {status} after the fault"));
                }
                _ => {}
            }
            // The scheduler's period.
            tokio::time::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed())).await;
        }
    }
}

/// A request no well-behaved caller sends.
struct HostileRequest {
    method: reqwest::Method,
    path: String,
    body: Vec<u8>,
    /// With the admin token (so the body is parsed, not refused at the door).
    admin: bool,
    headers: Vec<(&'static str, String)>,
}

/// Random JSON, `depth` levels at most.
fn random_json(rng: &mut fastrand::Rng, depth: u32) -> Json {
    match rng.u8(0..if depth == 0 { 5 } else { 7 }) {
        0 => Json::Null,
        1 => json!(rng.bool()),
        2 => json!(rng.i64(..)),
        3 => json!(rng.f64() * 1e300),
        4 => Json::String((0..rng.usize(0..12)).map(|_| rng.char(..)).collect()),
        5 => Json::Array((0..rng.usize(0..4)).map(|_| random_json(rng, depth - 1)).collect()),
        _ => Json::Object((0..rng.usize(0..4)).map(|i| (format!("k{i}"), random_json(rng, depth - 1))).collect()),
    }
}

/// The hostile answer served for the `i`-th queued movie (`None`: it is served normally).
fn hostile_answer(i: usize, id: i64, fake: &FakeTmdb) -> Option<Vec<u8>> {
    let parts: Vec<&str> = marquee::tmdb::types::APPENDED_PARTS.split(',').collect();
    let mut d = fake_tmdb::movie_details(fake.config(), id as u64, &parts)?;
    match i % 8 {
        0 => d["title"] = json!("Null\u{0}Title"),
        1 => {
            for key in ["credits", "videos", "images", "genres", "keywords", "release_dates", "similar", "runtime"] {
                d[key] = Json::Null;
            }
        }
        2 => {
            d["unknown"] = json!({"deep": [1, {"x": null}], "n": 1e300});
            d["popularity"] = json!(1e308);
            d["budget"] = json!(i64::MAX);
            d["release_date"] = json!("0000-01-01");
        }
        3 => {
            return Some(
                format!("{{\"id\": {id}, \"x\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            );
        }
        4 => d["genres"] = json!([{"id": 3_000_000_000_i64, "name": "Too big"}]),
        5 => d["id"] = json!(id + 1),
        _ => return None,
    }
    serde_json::to_vec(&d).ok()
}
