//! `POST /api/works/{tmdb_id}/ingest`: a customer asks for a movie the catalog does not have
//! yet, and it is fetched from TMDB now.
//!
//! The request is an API request like any other: its key checked and its `api_requests` quota
//! charged in one statement, which also looks the movie up. A movie the catalog already serves
//! is answered as it is (200, `cached`): no TMDB request, nothing more charged. Otherwise one
//! unit of the customer's `ingests` quota is charged **before** TMDB is asked (the same
//! conditional increment: concurrent requests never pass the limit; over it, 429 and nothing
//! fetched), the movie is ingested as `ingest-movie` ingests it (one TMDB request, one
//! transaction, the shared rate limit), and answered 201 with its card. An ingest that fetched
//! nothing new (it failed, TMDB does not have the movie, or another request finished it first)
//! is given back, in the charge's own period. Gone and refused movies are answered as such,
//! without a charge. A request cut off between the charge and the answer (the client hung up, the
//! process died) keeps its charge: charging after the fetch instead would let concurrent
//! requests pass the limit.

use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::{Params, database_url_missing, object, path_tmdb_id, presented_key_hash, query, requests_used_up};
use super::{text_response, used_up, within};
use crate::app::App;
use crate::billing::quota::{self, INGESTS, Increment, QuotaStatus};
use crate::config::Config;
use crate::db::api_access::{self, Admission, Caller, Metering, QuotaState};
use crate::db::api_reads::{self, Found};
use crate::domain::states::WorkStatus;
use crate::error::{Error, Result};
use crate::pipeline::ingest::{self, Outcome};
use crate::ports::{Clock, Database, HttpClient, HttpRequest, HttpResponse, Row};

/// The component that serves the route, for logs and `tmdb_api_logs`.
const FUNCTION: &str = "catalog-api";

/// Serves one request; the `api_requests` quota as the request left it, for the rate-limit
/// headers.
pub(super) async fn serve<S, D, H, C>(
    settings: &S,
    open_db: impl FnOnce(&str) -> D,
    http: H,
    clock: &C,
    params: &Params,
    request: &HttpRequest,
) -> (Result<HttpResponse>, Option<QuotaState>)
where
    S: crate::ports::Settings,
    D: Database,
    H: HttpClient,
    C: Clock,
{
    let started = clock.now();
    let checked = async {
        query::parameters(request.uri().query(), &[])?;
        let tmdb_id = path_tmdb_id(params)?;
        if !super::super::handlers::json_body_or_empty(request)?.is_empty() {
            return Err(Error::BadRequest("this route takes no body (the movie is in the path)".into()));
        }
        // A public catalog opens reads; an ingest spends TMDB's capacity, so it needs a key.
        let hash = presented_key_hash(request)?.ok_or(Error::MissingApiKey)?;
        let config = Config::load(settings).await?;
        let url = config.database_url.clone().ok_or_else(database_url_missing)?;
        Ok((tmdb_id, hash, config, url))
    };
    let (tmdb_id, hash, config, url) = match checked.await {
        Ok(checked) => checked,
        Err(e) => return (Err(e), None),
    };
    let app = App::new(open_db(url.expose()), http, clock, config, FUNCTION);
    let (sql, bound) =
        api_access::statement(&Caller::Key(hash), Metering::Charge, started.naive_utc(), |p| lookup_sql(p, tmdb_id));
    // The request's own statements run on sessions of their own, let go of at once: the
    // invocation's pool keeps what it opens until the request ends, and nothing of this
    // request's should be held while TMDB answers.
    let admitted = within(clock, app.config.time_budget, async {
        let conn = app.db.inner().connect().await?;
        Ok(api_access::run(&conn, &sql, &bound, api_access::Planning::Prepared).await?)
    })
    .await;
    let outcome = match admitted {
        Ok(outcome) => outcome,
        Err(e) => return (Err(e), None),
    };
    let requests = match outcome.admission {
        Admission::Admitted(q) => q,
        Admission::OverQuota(q) => return (Err(requests_used_up(&q, clock.now())), Some(q)),
        Admission::UnknownKey | Admission::Public => return (Err(Error::InvalidApiKey), None),
    };
    let answer = match outcome.read {
        Some(row) => ingest_unless_served(&app, started, tmdb_id, &row).await,
        None => Err(Error::Db(crate::ports::DbError::MissingColumn("customer_id".into()))),
    };
    (answer, Some(requests))
}

/// The key's customer and the movie's card as the catalog has it (NULLs when it has none).
fn lookup_sql(params: &mut api_access::Params, tmdb_id: i64) -> String {
    format!(
        "SELECT k.customer_id, l.ingestion_status IS NOT NULL AS in_catalog, l.*
           FROM caller k LEFT JOIN LATERAL ({}) l ON true",
        api_reads::card(params, tmdb_id, &[])
    )
}

/// The movie as the catalog serves it, or ingested now and charged to the `ingests` quota.
async fn ingest_unless_served<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    started: chrono::DateTime<chrono::Utc>,
    tmdb_id: i64,
    row: &Row,
) -> Result<HttpResponse> {
    let customer: String = row.get("customer_id")?;
    let found = if row.get::<bool>("in_catalog")? { api_reads::card_of(Some(row))? } else { Found::Unknown };
    match found {
        Found::Servable(card) => {
            // Asked with no `If-None-Match`, the lookup always has the body.
            let body = card.body.ok_or_else(|| super::missing_row("body"))?;
            return answer(StatusCode::OK, "cached", tmdb_id, &body, &card.etag, None);
        }
        Found::NotServable(WorkStatus::Gone) => return Err(Error::Gone { tmdb_id }),
        Found::NotServable(WorkStatus::Rejected) => {
            return Err(Error::Rejected { tmdb_id, reason: "the catalog policy refused it" });
        }
        Found::NotServable(_) | Found::Unknown => {}
    }
    let now = app.clock.now();
    let charged = quota::increment_quota(&app.db.inner().connect().await?, &customer, INGESTS, 1, now).await?;
    let ingests = match charged {
        Increment::Granted(status) => status,
        Increment::Exceeded(status) => return Err(used_up(INGESTS, status.limit, status.period_end, now)),
    };
    let ingested = ingest::ingest_requested(app, started, tmdb_id, false).await;
    match ingested {
        Ok(Outcome::Ingested { card, .. }) => {
            let usage = json!({"limit": ingests.limit, "used": ingests.used, "remaining": ingests.remaining()});
            answer(StatusCode::CREATED, "ingested", tmdb_id, &card.payload.to_string(), &card.etag, Some(&usage))
        }
        Ok(Outcome::Cached { card, etag, .. }) => {
            give_back(app, &ingests, tmdb_id).await;
            answer(StatusCode::OK, "cached", tmdb_id, &card.to_string(), &etag, None)
        }
        Err(e) => {
            give_back(app, &ingests, tmdb_id).await;
            Err(e)
        }
    }
}

/// Gives back the ingest charged for a movie that was not fetched after all. Whatever the
/// ingest's outcome, its answer stands: a charge that cannot be given back is logged, not
/// answered.
async fn give_back<D: Database, H, C>(app: &App<D, H, C>, charged: &QuotaStatus, tmdb_id: i64) {
    let refunded = async { Ok::<_, Error>(quota::refund_quota(&app.db.inner().connect().await?, charged, 1).await?) };
    let problem = match refunded.await {
        Ok(true) => return,
        Ok(false) => "nothing to give back in the charge's period".to_owned(),
        Err(e) => e.to_string(),
    };
    crate::log::event(
        "error",
        FUNCTION,
        "an on-demand ingest that fetched nothing new was not given back",
        json!({"tmdb_id": tmdb_id, "customer_id": charged.customer_id, "error": problem}),
    );
}

/// `{"status", "tmdb_id", "card"[, "ingests"]}` with the card's ETag; a new movie also says
/// where it lives now.
fn answer(
    status: StatusCode,
    what: &str,
    tmdb_id: i64,
    card: &str,
    etag: &str,
    ingests: Option<&serde_json::Value>,
) -> Result<HttpResponse> {
    let what = super::json_text(what);
    let id = tmdb_id.to_string();
    let usage = ingests.map(serde_json::Value::to_string);
    let mut fields = vec![("status", what.as_str()), ("tmdb_id", id.as_str()), ("card", card)];
    if let Some(usage) = &usage {
        fields.push(("ingests", usage.as_str()));
    }
    let mut response = text_response(status, object(&fields));
    let headers = response.headers_mut();
    headers.insert(header::ETAG, super::super::handlers::etag_header(etag)?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::CREATED {
        headers.insert(header::LOCATION, HeaderValue::from_str(&format!("/api/works/{tmdb_id}")).expect("digits"));
    }
    Ok(response)
}
