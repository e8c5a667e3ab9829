//! TMDB's error answers: `{"success": false, "status_code": N, "status_message": "..."}`.

use serde_json::json;

/// An error answer: HTTP status, TMDB code and message, optional `Retry-After` seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: u32,
    pub message: &'static str,
    pub retry_after: Option<u64>,
}

impl ApiError {
    const fn new(status: u16, code: u32, message: &'static str) -> ApiError {
        ApiError { status, code, message, retry_after: None }
    }

    pub(crate) const fn unauthorized() -> ApiError {
        ApiError::new(401, 7, "Invalid API key: You must be granted a valid key.")
    }

    pub(crate) const fn not_found() -> ApiError {
        ApiError::new(404, 34, "The resource you requested could not be found.")
    }

    pub(crate) const fn invalid_page() -> ApiError {
        ApiError::new(400, 22, "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.")
    }

    pub(crate) const fn too_many_appends() -> ApiError {
        ApiError::new(422, 27, "Too many append to response objects: The maximum number of remote calls is 20.")
    }

    pub(crate) const fn invalid_date_range() -> ApiError {
        ApiError::new(422, 20, "Invalid date range: Should be a range no longer than 14 days.")
    }

    pub(crate) fn rate_limited(retry_after: Option<u64>) -> ApiError {
        ApiError { retry_after, ..ApiError::new(429, 25, "Your request count (#) is over the allowed limit of (40).") }
    }

    pub(crate) const fn service_offline() -> ApiError {
        ApiError::new(503, 9, "Service offline: This service is temporarily offline, try again later.")
    }

    /// The TMDB answer that goes with an HTTP status, for injected failures.
    pub(crate) fn for_status(status: u16, retry_after: Option<u64>) -> ApiError {
        let base = match status {
            400 => ApiError::invalid_page(),
            401 => ApiError::unauthorized(),
            404 => ApiError::not_found(),
            422 => ApiError::invalid_date_range(),
            429 => ApiError::rate_limited(None),
            502 => ApiError::new(502, 43, "Couldn't connect to the backend server."),
            503 => ApiError::service_offline(),
            504 => ApiError::new(504, 24, "Your request to the backend server timed out. Try again."),
            other => ApiError::new(other, 11, "Internal error: Something went wrong, contact TMDB."),
        };
        ApiError { retry_after, ..base }
    }

    pub(crate) fn body(&self) -> Vec<u8> {
        let body = json!({
            "success": false,
            "status_code": self.code,
            "status_message": self.message,
        });
        serde_json::to_vec(&body).expect("serialising a JSON value cannot fail")
    }
}
