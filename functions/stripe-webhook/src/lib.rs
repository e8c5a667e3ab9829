//! `stripe-webhook`: verifies and records Stripe events; keeps customers, subscriptions, tiers
//! and quotas. Thin by design: everything happens in the `marquee` library.

use marquee::api::RouteId;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    marquee_spin::serve(RouteId::StripeWebhook, request).await
}
