//! Request → pipeline → response, one function per route.

use http::StatusCode;
use serde_json::{Value as Json, json};

use super::{MAX_BODY_BYTES, Params, RouteId, json_response, require_admin};
use crate::app::App;
use crate::error::{Error, Result};
use crate::pipeline::ingest::{self, Outcome};
use crate::ports::{Clock, Database, HttpClient, HttpRequest, HttpResponse};

pub async fn handle<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    handler: RouteId,
    params: &Params,
    request: HttpRequest,
) -> Result<HttpResponse> {
    match handler {
        RouteId::IngestMovie => ingest_movie(app, request).await,
        RouteId::ScheduledIngest => scheduled_ingest(app, request).await,
        RouteId::BatchIngest => batch_ingest(app, request).await,
        RouteId::DailyRefresh => daily_refresh(app, request).await,
        RouteId::StripeWebhook => stripe_webhook(app, request).await,
        RouteId::DashboardPage | RouteId::DashboardAction | RouteId::AdminStats | RouteId::Metrics => {
            crate::dashboard::handle(app, handler, params, request).await
        }
        // `api::serve` hands these to `api::catalog` before an `App` is built.
        catalog => Err(Error::NotFound(format!("{catalog:?} is served by the catalog API"))),
    }
}

/// `POST /functions/v1/stripe-webhook`: authenticated by the Stripe signature (no admin token).
/// Verifies, then stores and applies the event in one transaction; a re-delivery answers 200
/// without applying anything again.
async fn stripe_webhook<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    use crate::billing::{self, BillingError, events, signature};
    let body = request.body();
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    if app.config.stripe_webhook_secrets.is_empty() {
        return Err(crate::config::ConfigError::Missing {
            setting: "stripe_webhook_secrets",
            consequence: "Stripe deliveries cannot be verified",
        }
        .into());
    }
    let header = request.headers().get(signature::HEADER).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    if let Err(e) =
        signature::verify(header, body, &app.config.stripe_webhook_secrets, app.clock.now(), signature::TOLERANCE_SECS)
    {
        crate::log::event("warn", app.function, "stripe delivery refused", json!({"reason": e.to_string()}));
        return Err(BillingError::from(e).into());
    }
    let event = events::parse(body).map_err(BillingError::InvalidEvent)?;
    let conn = app.db.connect().await?;
    let receipt = billing::receive(&conn, &event).await?;
    crate::log::event(
        "info",
        app.function,
        "stripe event",
        json!({"event_id": event.id, "type": event.kind, "status": receipt.status, "applied": receipt.applied}),
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({"received": true, "event_id": receipt.event_id, "type": event.kind, "status": receipt.status, "applied": receipt.applied, "error": receipt.error}),
    ))
}

/// A stored ETag as a header; one that is not a valid header value is a database error (the
/// card row is damaged), never a panic.
pub(super) fn etag_header(etag: &str) -> Result<http::HeaderValue> {
    etag.parse().map_err(|_| {
        Error::Db(crate::ports::DbError::Decode {
            column: "etag".into(),
            expected: "a quoted hex ETag",
            found: etag.chars().take(60).collect(),
        })
    })
}

/// The body as JSON: 413 when too large, 400 when not a JSON object.
pub(super) fn json_body(request: &HttpRequest) -> Result<serde_json::Map<String, Json>> {
    let body = request.body();
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(Error::BadRequest("the body must be a JSON object".into())),
        Err(e) => Err(Error::BadRequest(format!("the body is not valid JSON: {e}"))),
    }
}

/// A TMDB id: a positive integer (a JSON number, or a string of digits as the old callers sent).
pub fn parse_tmdb_id(value: Option<&Json>, field: &str) -> Result<i64> {
    let invalid = || Error::BadRequest(format!("`{field}` must be a positive integer TMDB id"));
    let id = match value {
        None | Some(Json::Null) => return Err(Error::BadRequest(format!("`{field}` is required"))),
        Some(Json::Number(n)) => n.as_i64().ok_or_else(invalid)?,
        Some(Json::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().map_err(|_| invalid())?
        }
        Some(_) => return Err(invalid()),
    };
    if (1..=i32::MAX as i64).contains(&id) { Ok(id) } else { Err(invalid()) }
}

async fn ingest_movie<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    require_admin(app, &request)?;
    let body = json_body(&request)?;
    let tmdb_id = parse_tmdb_id(body.get("tmdb_id"), "tmdb_id")?;
    let force = super::requests::boolean(&body, "force_refresh")?;
    let ingested = ingest::ingest_requested(app, app.clock.now(), tmdb_id, force).await;
    let (status, work_id, card, etag, changes) = match ingested? {
        Outcome::Cached { work_id, card, etag } => ("cached", work_id, card, etag, Json::Object(Default::default())),
        Outcome::Ingested { work_id, card, changes, .. } => {
            ("ingested", work_id, card.payload, card.etag, Json::Object(changes))
        }
    };
    let mut response = json_response(
        StatusCode::OK,
        &json!({"status": status, "tmdb_id": tmdb_id, "work_id": work_id, "changes": changes, "card": card}),
    );
    response.headers_mut().insert(http::header::ETAG, etag_header(&etag)?);
    Ok(response)
}

async fn scheduled_ingest<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    require_admin(app, &request)?;
    let parsed = super::requests::scheduled(&json_body_or_empty(&request)?)?;
    let report = crate::pipeline::scheduled::scheduled_ingest(app, &parsed).await?;
    Ok(json_response(StatusCode::OK, &serde_json::to_value(&report).expect("reports serialise")))
}

async fn batch_ingest<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    require_admin(app, &request)?;
    let parsed = super::requests::batch(&json_body(&request)?)?;
    let report = crate::pipeline::batch::batch_ingest(app, &parsed).await?;
    Ok(json_response(StatusCode::OK, &serde_json::to_value(&report).expect("reports serialise")))
}

async fn daily_refresh<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    require_admin(app, &request)?;
    let parsed = super::requests::refresh(&json_body_or_empty(&request)?)?;
    let report = crate::pipeline::refresh::daily_refresh(app, &parsed).await?;
    Ok(json_response(StatusCode::OK, &serde_json::to_value(&report).expect("reports serialise")))
}

/// Like [`json_body`], but an empty body means `{}` (all defaults), as cron callers send.
pub(super) fn json_body_or_empty(request: &HttpRequest) -> Result<serde_json::Map<String, Json>> {
    if request.body().iter().all(u8::is_ascii_whitespace) { Ok(Default::default()) } else { json_body(request) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmdb_ids_must_be_positive_integers() {
        assert_eq!(parse_tmdb_id(Some(&json!(550)), "tmdb_id").unwrap(), 550);
        assert_eq!(parse_tmdb_id(Some(&json!("550")), "tmdb_id").unwrap(), 550);
        for bad in [json!(-1), json!(0), json!(1.5), json!("abc"), json!("-5"), json!(true), json!([1]), json!(1e12)] {
            assert!(matches!(parse_tmdb_id(Some(&bad), "tmdb_id"), Err(Error::BadRequest(_))), "{bad}");
        }
        assert!(matches!(parse_tmdb_id(None, "tmdb_id"), Err(Error::BadRequest(m)) if m.contains("required")));
    }
}
