//! The outbound HTTP port. Deadlines are the library's job (it races `send` against
//! [`Clock::sleep`](super::Clock::sleep)), so adapters stay thin.

pub type HttpRequest = http::Request<Vec<u8>>;
pub type HttpResponse = http::Response<Vec<u8>>;

#[derive(Debug, thiserror::Error)]
#[error("HTTP transport error: {0}")]
pub struct TransportError(pub String);

#[allow(async_fn_in_trait)]
pub trait HttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}
