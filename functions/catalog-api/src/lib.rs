//! `catalog-api`: serves stored cards (GET /api/works/{tmdb_id}) with an ETag and 304.
//! Thin by design: everything happens in the `marquee` library.

use marquee::api::RouteId;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    marquee_spin::serve(RouteId::WorkCard, request).await
}
