//! The one place errors become HTTP: `{"error": {"code": "...", "message": "..."}}`.

use http::StatusCode;
use serde_json::json;

use super::json_response;
use crate::billing::BillingError;
use crate::error::Error;
use crate::ports::HttpResponse;
use crate::tmdb::TmdbError;

pub fn status_and_code(error: &Error) -> (StatusCode, &'static str) {
    match error {
        Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        Error::Gone { .. } | Error::Tmdb(TmdbError::NotFound) => (StatusCode::NOT_FOUND, "gone"),
        Error::Rejected { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
        Error::Busy { .. } => (StatusCode::CONFLICT, "ingest_in_progress"),
        Error::LeaseLost { .. } => (StatusCode::CONFLICT, "lease_lost"),
        Error::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        Error::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        Error::MissingApiKey => (StatusCode::UNAUTHORIZED, "missing_api_key"),
        Error::InvalidApiKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
        Error::QuotaExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"),
        Error::InvalidCursor(_) => (StatusCode::BAD_REQUEST, "invalid_cursor"),
        Error::OutOfTime { .. } => (StatusCode::SERVICE_UNAVAILABLE, "time_budget_exhausted"),
        Error::Randomness(_) => (StatusCode::INTERNAL_SERVER_ERROR, "randomness_unavailable"),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        Error::Tmdb(TmdbError::Unauthorized { .. }) => (StatusCode::BAD_GATEWAY, "tmdb_unauthorized"),
        Error::Tmdb(TmdbError::Malformed { .. } | TmdbError::Unusable { .. }) => {
            (StatusCode::BAD_GATEWAY, "tmdb_bad_response")
        }
        Error::Tmdb(TmdbError::Rejected { .. }) => (StatusCode::BAD_GATEWAY, "tmdb_rejected"),
        Error::Tmdb(TmdbError::Exhausted { .. }) => (StatusCode::SERVICE_UNAVAILABLE, "tmdb_unavailable"),
        Error::Tmdb(TmdbError::OutOfTime { .. }) => (StatusCode::SERVICE_UNAVAILABLE, "time_budget_exhausted"),
        Error::Db(_) => (StatusCode::INTERNAL_SERVER_ERROR, "database_error"),
        Error::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "configuration_error"),
        Error::Billing(BillingError::Signature(_)) => (StatusCode::BAD_REQUEST, "invalid_signature"),
        Error::Billing(BillingError::InvalidEvent(_)) => (StatusCode::BAD_REQUEST, "invalid_event"),
        Error::Billing(BillingError::EventNotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
        Error::Billing(BillingError::UnknownQuota(_)) => (StatusCode::BAD_REQUEST, "unknown_quota"),
        Error::Billing(BillingError::InvalidAmount(_)) => (StatusCode::BAD_REQUEST, "invalid_request"),
        Error::Billing(BillingError::Db(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "database_error"),
    }
}

/// What a caller may be told about an error (server errors are logged here, with their
/// detail, once); shared by the JSON errors and the dashboard's error pages.
pub fn public_message(function: &str, error: &Error) -> String {
    let (status, code) = status_and_code(error);
    if status.is_server_error() || status == StatusCode::BAD_GATEWAY {
        crate::log::event("error", function, &error.to_string(), json!({"code": code, "status": status.as_u16()}));
    }
    match error {
        Error::Db(_) | Error::Billing(BillingError::Db(_)) => {
            "the database is unavailable or refused the operation".to_owned()
        }
        other => other.to_string(),
    }
}

/// The response for an error. Database details stay in the log: they can name tables and
/// values that callers have no business seeing.
pub fn error_response(function: &str, error: &Error) -> HttpResponse {
    let (status, code) = status_and_code(error);
    let message = public_message(function, error);
    let mut response = json_response(status, &json!({"error": {"code": code, "message": message}}));
    let headers = response.headers_mut();
    match error {
        Error::Busy { .. } => {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("5"));
        }
        Error::QuotaExceeded { retry_after_secs, .. } => {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(*retry_after_secs.max(&0)));
        }
        Error::MissingApiKey | Error::InvalidApiKey => {
            headers.insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer realm=\"marquee\""));
        }
        _ => {}
    }
    response
}
