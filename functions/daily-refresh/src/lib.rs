//! `daily-refresh`: queues the movies TMDB says changed and the stale ones, then drains the
//! queue within the time budget. Thin by design: everything happens in the `marquee` library.

use marquee::api::RouteId;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    marquee_spin::serve(RouteId::DailyRefresh, request).await
}
