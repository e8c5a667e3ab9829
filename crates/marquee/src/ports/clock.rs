//! The clock port: wall time for timestamps and budgets, and an async sleep that works on
//! Spin's single-threaded executor as well as natively.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[allow(async_fn_in_trait)]
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
    async fn sleep(&self, duration: Duration);
}

/// A borrowed clock is a clock (a handler that builds an `App` for one route of a component
/// lends it the request's clock).
impl<T: Clock + ?Sized> Clock for &T {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
    async fn sleep(&self, duration: Duration) {
        (**self).sleep(duration).await
    }
}

/// Wall time from the platform (`std::time::SystemTime` works on wasm32-wasip2 too).
pub fn system_now() -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}
