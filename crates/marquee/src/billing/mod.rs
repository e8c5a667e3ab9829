//! Billing: Stripe webhooks (verified, idempotent, order-proof), customers, subscriptions,
//! tiers and quotas.
//!
//! A delivery is verified ([`signature`]), parsed ([`events`]), then stored and applied in one
//! transaction: the event row goes in with `ON CONFLICT (event_id) DO NOTHING`, so a
//! re-delivery (even twenty at once) is recognised and applied nothing; the state writes are
//! conditional upserts that only move rows forward ([`events`] documents the ordering rule).

pub mod events;
pub mod quota;
pub mod signature;

use serde_json::Value as Json;

use crate::db::billing as sql;
use crate::ports::{Connection, DbError, transaction};
use events::{Action, Event};
use signature::SignatureError;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("not a Stripe event: {0}")]
    InvalidEvent(String),
    #[error("no Stripe event `{0}` is stored")]
    EventNotFound(String),
    #[error("unknown quota `{0}`")]
    UnknownQuota(String),
    #[error("a quota increment must be positive, got {0}")]
    InvalidAmount(i64),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub event_id: String,
    /// `processed`, `ignored`, `failed` (a handled type with an unusable object; stored for a
    /// replay) or `duplicate` (already stored: nothing done).
    pub status: &'static str,
    /// Whether state changed (`false` for an event older than what is stored).
    pub applied: bool,
    pub error: Option<String>,
}

/// What an event means for billing, decided once for a delivery and for a replay: the action,
/// or why a handled event type is unusable, and the status it is stored with.
struct Verdict {
    action: Result<Action, String>,
    status: &'static str,
}

impl Verdict {
    fn of(event: &Event) -> Verdict {
        let action = events::classify(event);
        let status = match &action {
            Ok(Action::Ignore) => "ignored",
            Ok(_) => "processed",
            Err(_) => "failed",
        };
        Verdict { action, status }
    }

    fn error(&self) -> Option<String> {
        self.action.as_ref().err().cloned()
    }

    /// Applies the action; `false` when it changed nothing (ignored, unusable, or older than the
    /// stored state).
    async fn apply(&self, conn: &impl Connection, event: &Event) -> Result<bool, DbError> {
        let Ok(action) = &self.action else { return Ok(false) };
        let rank = action.rank(&event.kind);
        match action {
            Action::Customer(c) => sql::apply_customer(conn, c, event.created, rank, &event.id).await,
            Action::Subscription(s) => sql::apply_subscription(conn, s, event.created, rank, &event.id).await,
            Action::Checkout(c) => sql::apply_checkout(conn, c).await,
            Action::Invoice(i) => sql::apply_invoice(conn, i, event.created, &event.id).await,
            Action::Ignore => Ok(false),
        }
    }
}

/// Stores a verified event and applies it, in one transaction.
pub async fn receive(conn: &impl Connection, event: &Event) -> Result<Receipt, BillingError> {
    let verdict = Verdict::of(event);
    transaction(conn, async |c| {
        let Some(row) = sql::insert_event(c, event, verdict.status, verdict.error().as_deref()).await? else {
            return Ok(Receipt { event_id: event.id.clone(), status: "duplicate", applied: false, error: None });
        };
        let applied = verdict.apply(c, event).await?;
        if applied {
            sql::mark_applied(c, row, true).await?;
        }
        Ok(Receipt { event_id: event.id.clone(), status: verdict.status, applied, error: verdict.error() })
    })
    .await
}

/// Applies a stored event again (`marquee stripe replay`), e.g. one stored as `failed` before a
/// fix. The ordering rule makes this safe for any event: what is older than the stored state
/// changes nothing.
pub async fn replay(conn: &impl Connection, event_id: &str) -> Result<Receipt, BillingError> {
    transaction(conn, async |c| {
        let payload: Json =
            sql::stored_payload(c, event_id).await?.ok_or_else(|| BillingError::EventNotFound(event_id.to_owned()))?;
        let event = events::parse(payload.to_string().as_bytes()).map_err(BillingError::InvalidEvent)?;
        let verdict = Verdict::of(&event);
        let applied = verdict.apply(c, &event).await?;
        sql::record_replay(c, event_id, verdict.status, applied, verdict.error().as_deref()).await?;
        Ok(Receipt { event_id: event.id.clone(), status: verdict.status, applied, error: verdict.error() })
    })
    .await
}
