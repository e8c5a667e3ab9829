//! A pool of PostgreSQL sessions (deadpool-postgres) for the requests of one worker thread of
//! `marquee serve` (each worker has its own: `ServeOptions::db_sessions` shared out), as Spin's
//! host pools its own: a
//! request takes a session that is already open instead of forking a backend (a new session per
//! request held `marquee serve` to about 480 cards a second).
//!
//! Sessions are opened as [`NativeDb`](super::NativeDb) opens them (same URL rules, TLS and
//! type mapping) and are handed out again only when clean. A session goes back to the pool
//! unless it is inside a transaction (`ports::transaction_effect`, the library's own pool rule)
//! or a statement was in flight when the request let go of it (a request cut by its time budget,
//! or a client that hung up): such a session is closed instead, so no request ever gets a
//! session with someone else's open transaction or a pending answer. A session the server
//! closed is noticed by the pool before reuse (`RecyclingMethod::Fast`: no extra round trip).
//!
//! Statements the library marks as fixed and frequent (`Connection::query_prepared`) are
//! prepared once per session and kept (deadpool-postgres's statement cache): one round trip
//! per request instead of two, and no parsing. Everything else runs as the Spin host runs it.

use std::cell::Cell;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, Timeouts};
use marquee::ports::{Connection, Database, DbError, Row, TransactionEffect, Value, transaction_effect};

use super::db::{NativeConnection, NativeDb, execute_on, query_on};

/// How long a request waits for a pooled session before it opens one of its own: many times
/// what a read holds one for (about a millisecond), little next to a request's budget.
pub const POOL_WAIT: Duration = Duration::from_millis(100);

/// A handle on the pool; cheap to clone.
#[derive(Clone)]
pub struct NativePool {
    /// The pool, or why the URL cannot make one (reported by every `connect`, as an unreachable
    /// server would be: the server still starts, and says so on each request).
    pool: Result<Pool, String>,
    /// Sessions of their own for requests that find every pooled one in use; its parsed URL is
    /// the pool's too.
    overflow: NativeDb,
}

impl NativePool {
    /// A pool of at most `max_sessions` sessions to the database at `url`; none is opened yet.
    pub fn new(url: &str, max_sessions: usize) -> NativePool {
        let overflow = NativeDb::new(url);
        let pool = overflow.target().map_err(str::to_owned).and_then(|target| {
            let manager = Manager::from_config(
                target.config.clone(),
                target.tls.clone(),
                ManagerConfig { recycling_method: RecyclingMethod::Fast },
            );
            Pool::builder(manager)
                .max_size(max_sessions.max(1))
                .runtime(Runtime::Tokio1)
                .build()
                .map_err(|e| e.to_string())
        });
        NativePool { pool, overflow }
    }

    /// Sessions open now (idle and in use), and the most the pool may open.
    pub fn sessions(&self) -> (usize, usize) {
        self.pool.as_ref().map_or((0, 0), |p| {
            let status = p.status();
            (status.size, status.max_size)
        })
    }
}

impl Database for NativePool {
    type Conn = PooledSession;

    async fn connect(&self) -> Result<PooledSession, DbError> {
        let pool = self.pool.as_ref().map_err(|e| DbError::Connect(e.clone()))?;
        // A bounded wait (see the module's comment).
        let bounded = Timeouts { wait: Some(POOL_WAIT), create: None, recycle: None };
        let session = match pool.timeout_get(&bounded).await {
            Ok(object) => Session::Pooled(object),
            Err(PoolError::Timeout(_)) => Session::Own(self.overflow.connect().await?),
            Err(PoolError::Backend(e)) => {
                // The pool exists, so the URL parsed.
                let target = self.overflow.target().map_err(|e| DbError::Connect(e.to_owned()))?;
                return Err(DbError::Connect(target.connect_error(&e)));
            }
            Err(other) => return Err(DbError::Connect(format!("no database session available: {other}"))),
        };
        Ok(PooledSession { session: Some(session), in_transaction: Cell::new(false), in_flight: Cell::new(false) })
    }
}

/// A session from the [`NativePool`]: borrowed from the pool (back to it when dropped, if
/// clean), or the request's own when the pool had none free (closed when dropped).
pub struct PooledSession {
    session: Option<Session>,
    in_transaction: Cell<bool>,
    /// A statement was sent and its answer not yet read.
    in_flight: Cell<bool>,
}

enum Session {
    Pooled(Object),
    Own(NativeConnection),
}

impl PooledSession {
    fn session(&self) -> &Session {
        self.session.as_ref().expect("present until dropped")
    }

    fn client(&self) -> &tokio_postgres::Client {
        match self.session() {
            Session::Pooled(object) => object,
            Session::Own(own) => own.client(),
        }
    }

    /// Runs `statement` marked in flight, and keeps the transaction state.
    async fn tracked<T>(
        &self,
        sql: &str,
        statement: impl std::future::Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        self.in_flight.set(true);
        let result = statement.await;
        self.in_flight.set(false);
        if result.is_ok() {
            match transaction_effect(sql) {
                TransactionEffect::Opens => self.in_transaction.set(true),
                TransactionEffect::Closes => self.in_transaction.set(false),
                TransactionEffect::None => {}
            }
        }
        result
    }
}

impl Connection for PooledSession {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        self.tracked(sql, query_on(self.client(), sql, params)).await
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.tracked(sql, execute_on(self.client(), sql, params)).await
    }

    fn is_closed(&self) -> bool {
        self.client().is_closed()
    }

    async fn query_prepared(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        // A session of its own is closed after this request: nothing to keep prepared.
        let Session::Pooled(object) = self.session() else {
            return self.query(sql, params).await;
        };
        self.tracked(sql, async {
            let statement = object.prepare_cached(sql).await.map_err(super::db::db_error)?;
            let result = query_on(object, &statement, params).await;
            if result.is_err() {
                // A prepared statement can outlive what it was prepared against (a migration
                // changed a table): the next request prepares it again.
                object.statement_cache.remove(sql, &[]);
            }
            result
        })
        .await
    }
}

impl Drop for PooledSession {
    fn drop(&mut self) {
        if let Some(Session::Pooled(object)) = self.session.take()
            && (self.in_transaction.get() || self.in_flight.get())
        {
            // Out of the pool and closed: its state is not one to hand to another request.
            drop(Object::take(object));
        }
    }
}
