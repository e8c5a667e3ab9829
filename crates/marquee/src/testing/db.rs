//! A database wrapper for tests that run the virtual clock over a real database: every
//! statement (and every connect) holds the clock, so virtual time cannot move while real I/O
//! is in flight, which is the one thing [`VirtualClock`] cannot see for itself.

use super::VirtualClock;
use crate::ports::{Connection, Database, DbError, Row, Value};

/// Wraps any [`Database`] (the native adapter's `NativeDb` in integration tests).
pub struct HeldDb<D> {
    inner: D,
    clock: VirtualClock,
}

impl<D> HeldDb<D> {
    pub fn new(inner: D, clock: &VirtualClock) -> Self {
        Self { inner, clock: clock.clone() }
    }
}

pub struct HeldConnection<C> {
    inner: C,
    clock: VirtualClock,
}

impl<D: Database> Database for HeldDb<D> {
    type Conn = HeldConnection<D::Conn>;
    async fn connect(&self) -> Result<Self::Conn, DbError> {
        let _hold = self.clock.hold();
        Ok(HeldConnection { inner: self.inner.connect().await?, clock: self.clock.clone() })
    }
}

impl<C: Connection> Connection for HeldConnection<C> {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let _hold = self.clock.hold();
        self.inner.query(sql, params).await
    }
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let _hold = self.clock.hold();
        self.inner.execute(sql, params).await
    }
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}
