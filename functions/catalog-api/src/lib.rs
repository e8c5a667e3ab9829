//! `catalog-api`: the catalog API for customers, every `/api/*` route (cards, browse, search,
//! similar movies, people, genres, usage, keys for admins, the OpenAPI document). Thin by
//! design: the library's routing table picks the handler, and everything happens there.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    marquee_spin::serve_component("catalog-api", request).await
}
