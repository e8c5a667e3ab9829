//! `scheduled-ingest`: reads TMDB's lists, skips fresh movies, ingests the rest within the budget and queues the remainder.
//! Thin by design: everything happens in the `marquee` library.

use marquee::api::RouteId;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    marquee_spin::serve(RouteId::ScheduledIngest, request).await
}
