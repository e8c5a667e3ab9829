//! A small connection pool for one invocation: at most `max` database sessions, reused by every
//! task of the invocation. Hosted PostgreSQL allows tens of connections, not hundreds, and each
//! `connect` on Spin opens its own session, so an invocation that ingests twenty movies at once
//! must not open twenty (DESIGN.md §5).
//!
//! A connection goes back to the pool only when it is clean: not inside a transaction (a task
//! dropped between `BEGIN` and `COMMIT` would hand the next task an open transaction) and not
//! broken ([`DbError::session_lost`]: no answer came, or the server ended the session, as
//! `pg_terminate_backend` and a restart do — such a session answers nothing ever again).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use async_lock::{Semaphore, SemaphoreGuardArc};

use super::db::{Connection, Database, DbError, Row, Value};

/// What a statement does to its session's transaction, as far as a pool must know: the one rule
/// by which pools (this one, and the native server's process pool) refuse to keep a session that
/// is inside a transaction. Transactions are opened and closed only by these statements
/// ([`super::transaction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionEffect {
    Opens,
    Closes,
    None,
}

pub fn transaction_effect(sql: &str) -> TransactionEffect {
    let sql = sql.trim();
    if sql.eq_ignore_ascii_case("BEGIN") {
        TransactionEffect::Opens
    } else if sql.eq_ignore_ascii_case("COMMIT") || sql.eq_ignore_ascii_case("ROLLBACK") {
        TransactionEffect::Closes
    } else {
        TransactionEffect::None
    }
}

pub struct Pool<D: Database> {
    shared: Rc<Shared<D>>,
}

struct Shared<D: Database> {
    db: D,
    idle: RefCell<Vec<D::Conn>>,
    slots: Arc<Semaphore>,
    opened: Cell<u64>,
}

impl<D: Database> Pool<D> {
    /// A pool of at most `max` sessions (at least one).
    pub fn new(db: D, max: usize) -> Self {
        let shared = Shared {
            db,
            idle: RefCell::new(Vec::new()),
            slots: Arc::new(Semaphore::new(max.max(1))),
            opened: Cell::new(0),
        };
        Self { shared: Rc::new(shared) }
    }

    /// The database behind the pool.
    pub fn inner(&self) -> &D {
        &self.shared.db
    }

    /// Sessions opened so far (reused ones count once).
    pub fn opened(&self) -> u64 {
        self.shared.opened.get()
    }
}

/// A connection borrowed from a [`Pool`]; returned to it when dropped, if clean.
pub struct Pooled<D: Database> {
    conn: Option<D::Conn>,
    shared: Rc<Shared<D>>,
    in_transaction: Cell<bool>,
    broken: Cell<bool>,
    _slot: SemaphoreGuardArc,
}

impl<D: Database> Database for Pool<D> {
    type Conn = Pooled<D>;

    /// Waits for a free slot, then reuses an idle session or opens one. An idle session the
    /// server closed meanwhile (a restart, `pg_terminate_backend`) is dropped, not handed out.
    async fn connect(&self) -> Result<Pooled<D>, DbError> {
        let slot = self.shared.slots.acquire_arc().await;
        let idle = {
            let mut idle = self.shared.idle.borrow_mut();
            idle.retain(|conn| !conn.is_closed());
            idle.pop()
        };
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = self.shared.db.connect().await?;
                self.shared.opened.set(self.shared.opened.get() + 1);
                conn
            }
        };
        Ok(Pooled {
            conn: Some(conn),
            shared: self.shared.clone(),
            in_transaction: Cell::new(false),
            broken: Cell::new(false),
            _slot: slot,
        })
    }
}

impl<D: Database> Pooled<D> {
    fn conn(&self) -> &D::Conn {
        self.conn.as_ref().expect("present until dropped")
    }

    /// Tracks what a statement did to the session's state.
    fn observe<T>(&self, sql: &str, result: &Result<T, DbError>) {
        match (result, transaction_effect(sql)) {
            (Ok(_), TransactionEffect::Opens) => self.in_transaction.set(true),
            (Ok(_), TransactionEffect::Closes) => self.in_transaction.set(false),
            (Err(e), _) if e.session_lost() => self.broken.set(true),
            _ => {}
        }
    }
}

impl<D: Database> Connection for Pooled<D> {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let result = self.conn().query(sql, params).await;
        self.observe(sql, &result);
        result
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let result = self.conn().execute(sql, params).await;
        self.observe(sql, &result);
        result
    }

    fn is_closed(&self) -> bool {
        self.conn().is_closed()
    }

    async fn query_prepared(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let result = self.conn().query_prepared(sql, params).await;
        self.observe(sql, &result);
        result
    }
}

impl<D: Database> Drop for Pooled<D> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.in_transaction.get()
            && !self.broken.get()
        {
            self.shared.idle.borrow_mut().push(conn);
        }
    }
}
