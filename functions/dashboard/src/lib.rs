//! `dashboard`: the operator's pages (`/dashboard/...`), their figures as JSON
//! (`GET /api/admin/stats`) and as Prometheus metrics (`GET /metrics`). Thin by design:
//! everything happens in the `marquee` library.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    marquee_spin::serve_component("dashboard", request).await
}
