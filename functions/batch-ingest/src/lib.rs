//! `batch-ingest`: bulk (re-)ingestion by id list or by paging through the catalog, and reprojection from stored responses.
//! Thin by design: everything happens in the `marquee` library.

use marquee::api::RouteId;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    marquee_spin::serve(RouteId::BatchIngest, request).await
}
