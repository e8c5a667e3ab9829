//! The chaos suite's own PostgreSQL: restarted, flooded with connections and made to cancel
//! statements at will, which the shared clusters of the checkout must never be. It lives in a
//! directory of its own under the checkout's clusters directory and is stopped and deleted when
//! dropped. Marquee logs in as a role with a password (a secret the suite looks for
//! everywhere), other clients as roles of their own; the suite itself as the superuser, which
//! PostgreSQL's reserved connections let in when everyone else is refused.

use anyhow::{Context as _, anyhow};
use marquee::ports::{Connection, Database};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::localpg::{LocalPostgres, clusters_dir};
use crate::native::{NativeConnection, NativeDb};

/// The role Marquee's processes log in as.
pub const ROLE: &str = "marquee_chaos";
/// `max_connections` of the server (`LocalPostgres::start` sets it).
const MAX_CONNECTIONS: usize = 200;

/// The role of the clients that take every connection.
const HOG_ROLE: &str = "chaos_hog";

/// What PostgreSQL says when it refuses an ordinary role a connection (SQLSTATE 53300): no
/// slot left at all, or only the superuser's reserved ones.
pub const REFUSED: [&str; 2] = ["too many clients already", "remaining connection slots are reserved"];

pub struct Cluster {
    pg: LocalPostgres,
    /// Marquee's password: a secret the judge looks for.
    pub password: String,
}

impl Cluster {
    pub async fn start(password: &str) -> anyhow::Result<Cluster> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = clusters_dir().map_err(|e| anyhow!(e))?.join(format!(
            "chaos-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let pg = LocalPostgres::start(&dir, port).map_err(|e| anyhow!(e)).context("the chaos suite's PostgreSQL")?;
        let cluster = Cluster { pg, password: password.to_owned() };
        let admin = cluster.admin("postgres").await?;
        // DDL takes no parameters; the password is the suite's own, made of letters and digits.
        admin.execute(&format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'"), &[]).await?;
        admin.execute(&format!("CREATE ROLE {HOG_ROLE} LOGIN"), &[]).await?;
        Ok(cluster)
    }

    /// The superuser on `database` (never refused: reserved connections).
    pub fn admin_url(&self, database: &str) -> String {
        self.pg.url(database)
    }

    pub async fn admin(&self, database: &str) -> anyhow::Result<NativeConnection> {
        Ok(NativeDb::new(self.admin_url(database)).connect().await?)
    }

    /// A new database owned by Marquee's role, migrated; returns Marquee's URL (with its password).
    pub async fn database(&self, name: &str) -> anyhow::Result<String> {
        let admin = self.admin("postgres").await?;
        admin.execute(&format!("CREATE DATABASE {name} OWNER {ROLE}"), &[]).await?;
        let url = format!("postgres://{ROLE}:{}@127.0.0.1:{}/{name}", self.password, self.pg.port);
        crate::commands::run_migrations(&url).await?;
        Ok(url)
    }

    /// `pg_ctl restart -m fast`: every session of every database ends.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.pg.restart_fast().map_err(|e| anyhow!(e))
    }

    /// Ends the sessions of `database` running a statement that contains `fragment` (now,
    /// mid-statement); returns how many.
    pub async fn terminate(&self, admin: &NativeConnection, database: &str, fragment: &str) -> anyhow::Result<u64> {
        let rows = admin
            .query(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                 WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $2) > 0",
                &[database.into(), fragment.into()],
            )
            .await?;
        Ok(rows[0].get::<i64>("n")? as u64)
    }

    /// Sessions of another role that take every connection an ordinary role may have: opened
    /// all at once; [`Hogs::hold_until`] keeps them (and takes any slot that frees up).
    pub async fn take_every_connection(&self) -> anyhow::Result<Hogs> {
        let url = format!("postgres://{HOG_ROLE}@127.0.0.1:{}/postgres", self.pg.port);
        let mut hogs = Hogs { db: NativeDb::new(&url), sessions: Vec::new(), refused: 0 };
        hogs.take(MAX_CONNECTIONS + 20).await?;
        Ok(hogs)
    }

    /// Every new session of `database` cancels statements that run longer than `ms`
    /// (`None`: no limit again).
    pub async fn statement_timeout(&self, database: &str, ms: Option<u64>) -> anyhow::Result<()> {
        let admin = self.admin("postgres").await?;
        let sql = match ms {
            Some(ms) => format!("ALTER DATABASE {database} SET statement_timeout = {ms}"),
            None => format!("ALTER DATABASE {database} RESET statement_timeout"),
        };
        admin.execute(&sql, &[]).await?;
        Ok(())
    }

    /// Lines of the server's log that contain one of `texts` (the log counts what the server
    /// did: the connections it refused, the statements it cancelled).
    pub fn log_lines(&self, texts: &[&str]) -> u64 {
        std::fs::read_to_string(self.pg.log_file())
            .map_or(0, |log| log.lines().filter(|l| texts.iter().any(|t| l.contains(t))).count() as u64)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.pg.stop().is_ok() {
            let _ = std::fs::remove_dir_all(&self.pg.dir);
        }
    }
}

/// The sessions that fill the server (see [`Cluster::take_every_connection`]).
pub struct Hogs {
    db: NativeDb,
    sessions: Vec<NativeConnection>,
    /// The hogs' own attempts the server refused (to tell them from Marquee's).
    refused: u64,
}

impl Hogs {
    async fn take(&mut self, wanted: usize) -> anyhow::Result<()> {
        for attempt in futures::future::join_all((0..wanted).map(|_| self.db.connect())).await {
            match attempt {
                Ok(conn) => self.sessions.push(conn),
                Err(e) if REFUSED.iter().any(|r| e.to_string().contains(r)) => self.refused += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Holds every connection until `until`, taking again at once any slot another client
    /// gives back; then lets them all go. Returns how many of the hogs' own attempts the server
    /// refused.
    pub async fn hold_until(mut self, until: std::time::Instant) -> anyhow::Result<u64> {
        while std::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.take(2).await?;
        }
        Ok(self.refused)
    }
}
