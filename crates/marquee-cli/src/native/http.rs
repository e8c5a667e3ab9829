//! The HTTP client port on reqwest.

use marquee::ports::{HttpClient, HttpRequest, HttpResponse, TransportError};

#[derive(Clone, Default)]
pub struct NativeHttp {
    client: reqwest::Client,
}

impl HttpClient for NativeHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        // `without_url`: reqwest's errors carry the URL, which may hold an `api_key`.
        let request = reqwest::Request::try_from(request).map_err(|e| TransportError(e.without_url().to_string()))?;
        let response = self.client.execute(request).await.map_err(|e| TransportError(e.without_url().to_string()))?;
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let body = response.bytes().await.map_err(|e| TransportError(e.without_url().to_string()))?;
        builder.body(body.to_vec()).map_err(|e| TransportError(e.to_string()))
    }
}
