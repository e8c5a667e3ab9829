//! Stripe events: what a delivery is, and what applying it means.
//!
//! Ordering rule (events arrive out of order and several can share one `created` second):
//! every customer and subscription row remembers the version of the last event applied to it,
//! `(created, rank, event id)`, and an event is applied only when its version is strictly
//! greater. `rank` breaks ties inside one second by lifecycle: `*.created` (0) before any
//! update (1) before `*.deleted` (2); among updates, the subscription status further along
//! (`incomplete` < `trialing` < `active` < `past_due` < `unpaid` < `paused` < `canceled` <
//! `incomplete_expired`); the event id decides the rest. So the final state does not depend on
//! delivery order, an older event never overwrites a newer one, and a re-delivery of the event
//! already applied changes nothing. A deleted customer or subscription accepts nothing more.

use serde_json::Value as Json;

/// A verified delivery, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub kind: String,
    /// Stripe's `created`: unix seconds.
    pub created: i64,
    pub livemode: bool,
    /// `data.object`.
    pub object: Json,
    /// The whole event, as stored.
    pub payload: Json,
}

/// Parses a body whose signature was verified. `Err` explains why it is not an event.
pub fn parse(body: &[u8]) -> Result<Event, String> {
    let payload: Json = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Json::Object(map) = &payload else { return Err("the body is not a JSON object".into()) };
    if let Some(object) = map.get("object")
        && object != "event"
    {
        return Err("`object` is not \"event\"".into());
    }
    let id = map
        .get("id")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or("`id` must be a non-empty string")?;
    let kind = map
        .get("type")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or("`type` must be a non-empty string")?;
    let created =
        map.get("created").and_then(Json::as_i64).filter(|c| *c >= 0).ok_or("`created` must be a unix timestamp")?;
    let livemode = match map.get("livemode") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => return Err("`livemode` must be true or false".into()),
    };
    let object = map
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or("`data.object` must be an object")?
        .clone();
    Ok(Event { id: id.to_owned(), kind: kind.to_owned(), created, livemode, object, payload: payload.clone() })
}

/// A customer's state as one event reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerChange {
    pub customer_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub deleted: bool,
}

/// A subscription's state as one event reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionChange {
    pub subscription_id: String,
    pub customer_id: String,
    pub status: String,
    pub price_id: Option<String>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutCompleted {
    pub session_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub email: Option<String>,
    pub client_reference_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceChange {
    pub invoice_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    /// `paid` or `payment_failed`.
    pub outcome: &'static str,
    pub amount_paid: i64,
    pub amount_due: i64,
    pub currency: Option<String>,
}

/// What applying an event means.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Customer(CustomerChange),
    Subscription(SubscriptionChange),
    Checkout(CheckoutCompleted),
    Invoice(InvoiceChange),
    /// A type Marquee does not act on: stored as `ignored`.
    Ignore,
}

impl Action {
    /// The tie-break rank of this event among events of the same object and second.
    pub fn rank(&self, kind: &str) -> i32 {
        let type_rank = if kind.ends_with(".created") {
            0
        } else if kind.ends_with(".deleted") {
            2
        } else {
            1
        };
        let status_rank = match self {
            Action::Subscription(s) => status_rank(&s.status),
            _ => 0,
        };
        type_rank * 16 + status_rank
    }
}

/// Lifecycle order of subscription statuses, for same-second tie-breaks.
pub fn status_rank(status: &str) -> i32 {
    match status {
        "incomplete" => 0,
        "trialing" => 1,
        "active" => 2,
        "past_due" => 3,
        "unpaid" => 4,
        "paused" => 5,
        "canceled" => 6,
        "incomplete_expired" => 7,
        _ => 0,
    }
}

pub const HANDLED: &[&str] = &[
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_failed",
];

fn text(object: &Json, field: &str) -> Option<String> {
    object.get(field).and_then(Json::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An id that Stripe sends either as a string or, when expanded, as an object with an `id`.
fn id_of(object: &Json, field: &str) -> Option<String> {
    match object.get(field) {
        Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Json::Object(o)) => o.get("id").and_then(Json::as_str).filter(|s| !s.is_empty()).map(str::to_owned),
        _ => None,
    }
}

fn required(object: &Json, field: &str, what: &str) -> Result<String, String> {
    id_of(object, field).ok_or_else(|| format!("{what} without `{field}`"))
}

/// Decides what an event means. `Err` is an event of a handled type whose object is unusable:
/// it is stored as `failed` (retrying would not help), and can be replayed after a fix.
pub fn classify(event: &Event) -> Result<Action, String> {
    let o = &event.object;
    Ok(match event.kind.as_str() {
        "customer.created" | "customer.updated" | "customer.deleted" => Action::Customer(CustomerChange {
            customer_id: required(o, "id", "a customer")?,
            email: text(o, "email"),
            name: text(o, "name"),
            deleted: event.kind == "customer.deleted" || o.get("deleted") == Some(&Json::Bool(true)),
        }),
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.paused"
        | "customer.subscription.resumed" => {
            let item = o.pointer("/items/data/0");
            let price_id = item
                .and_then(|i| id_of(i, "price"))
                .or_else(|| item.and_then(|i| id_of(i, "plan")))
                .or_else(|| id_of(o, "plan"));
            // Since API version 2025-03-31 the period lives on the items.
            let period = |field: &str| {
                o.get(field).and_then(Json::as_i64).or_else(|| item.and_then(|i| i.get(field)).and_then(Json::as_i64))
            };
            let deleted = event.kind == "customer.subscription.deleted";
            let status = text(o, "status").unwrap_or_else(|| if deleted { "canceled".into() } else { String::new() });
            if status.is_empty() {
                return Err("a subscription without `status`".into());
            }
            Action::Subscription(SubscriptionChange {
                subscription_id: required(o, "id", "a subscription")?,
                customer_id: required(o, "customer", "a subscription")?,
                status,
                price_id,
                current_period_start: period("current_period_start"),
                current_period_end: period("current_period_end"),
                cancel_at_period_end: o.get("cancel_at_period_end").and_then(Json::as_bool).unwrap_or(false),
                deleted,
            })
        }
        "checkout.session.completed" => Action::Checkout(CheckoutCompleted {
            session_id: required(o, "id", "a checkout session")?,
            customer_id: required(o, "customer", "a checkout session")?,
            subscription_id: id_of(o, "subscription"),
            email: o
                .pointer("/customer_details/email")
                .and_then(Json::as_str)
                .map(str::to_owned)
                .or_else(|| text(o, "customer_email")),
            client_reference_id: text(o, "client_reference_id"),
        }),
        "invoice.paid" | "invoice.payment_failed" => Action::Invoice(InvoiceChange {
            invoice_id: required(o, "id", "an invoice")?,
            customer_id: required(o, "customer", "an invoice")?,
            subscription_id: id_of(o, "subscription").or_else(|| {
                o.pointer("/parent/subscription_details/subscription").and_then(Json::as_str).map(str::to_owned)
            }),
            outcome: if event.kind == "invoice.paid" { "paid" } else { "payment_failed" },
            amount_paid: o.get("amount_paid").and_then(Json::as_i64).unwrap_or(0),
            amount_due: o.get("amount_due").and_then(Json::as_i64).unwrap_or(0),
            currency: text(o, "currency"),
        }),
        _ => Action::Ignore,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, object: Json) -> Event {
        parse(json!({"id": "evt_1", "object": "event", "type": kind, "created": 100, "livemode": false, "data": {"object": object}}).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn only_events_parse() {
        assert!(parse(b"not json").is_err());
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"id":"evt_1","type":"x","created":1}"#).is_err(), "no data.object");
        assert!(parse(br#"{"id":"evt_1","object":"charge","type":"x","created":1,"data":{"object":{}}}"#).is_err());
        assert!(parse(br#"{"id":"","type":"x","created":1,"data":{"object":{}}}"#).is_err());
        assert!(parse(br#"{"id":"evt_1","type":"x","created":"1","data":{"object":{}}}"#).is_err());
        let e = parse(br#"{"id":"evt_1","type":"x.y","created":7,"data":{"object":{"id":"o"}}}"#).unwrap();
        assert_eq!((e.id.as_str(), e.kind.as_str(), e.created, e.livemode), ("evt_1", "x.y", 7, false));
    }

    #[test]
    fn subscriptions_read_old_and_new_api_shapes() {
        let old = event(
            "customer.subscription.updated",
            json!({"id": "sub_1", "customer": "cus_1", "status": "active", "plan": {"id": "price_a"},
                                                               "current_period_start": 10, "current_period_end": 20, "cancel_at_period_end": true}),
        );
        let new = event(
            "customer.subscription.updated",
            json!({"id": "sub_1", "customer": {"id": "cus_1"}, "status": "active",
                                                               "items": {"data": [{"price": {"id": "price_a"}, "current_period_start": 10, "current_period_end": 20}]},
                                                               "cancel_at_period_end": true}),
        );
        assert_eq!(classify(&old), classify(&new));
        let Ok(Action::Subscription(s)) = classify(&new) else { panic!() };
        assert_eq!(
            (s.price_id.as_deref(), s.current_period_end, s.cancel_at_period_end),
            (Some("price_a"), Some(20), true)
        );
        assert!(
            classify(&event("customer.subscription.updated", json!({"id": "sub_1", "status": "active"}))).is_err(),
            "no customer"
        );
        assert_eq!(classify(&event("charge.succeeded", json!({"id": "ch_1"}))), Ok(Action::Ignore));
    }

    #[test]
    fn ranks_order_a_lifecycle_inside_one_second() {
        let sub = |status: &str| {
            Action::Subscription(SubscriptionChange {
                subscription_id: "s".into(),
                customer_id: "c".into(),
                status: status.into(),
                price_id: None,
                current_period_start: None,
                current_period_end: None,
                cancel_at_period_end: false,
                deleted: false,
            })
        };
        let created = sub("incomplete").rank("customer.subscription.created");
        let active = sub("active").rank("customer.subscription.updated");
        let past_due = sub("past_due").rank("customer.subscription.updated");
        let deleted = sub("canceled").rank("customer.subscription.deleted");
        assert!(created < active && active < past_due && past_due < deleted);
        assert!(
            sub("canceled").rank("customer.subscription.created")
                < sub("incomplete").rank("customer.subscription.updated")
        );
    }
}
