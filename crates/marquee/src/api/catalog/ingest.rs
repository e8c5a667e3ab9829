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
//! is given back. Gone and refused movies are answered as such, without a charge.

use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::{Params, object, presented_key_hash, query, requests_used_up, text_response, within};
use crate::app::App;
use crate::billing::quota::{self, Increment};
use crate::config::{Config, ConfigError};
use crate::db::api_access::{self, Admission, Caller, Metering, QuotaState};
use crate::db::api_reads::{self, Found};
use crate::domain::states::WorkStatus;
use crate::error::{Error, Result};
use crate::pipeline::ingest::{self, Outcome};
use crate::ports::{Clock, Database, HttpClient, HttpRequest, HttpResponse, Row};

/// The quota an on-demand ingest is charged to (`subscription_tier_quota`).
pub const INGESTS: &str = "ingests";

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
        let tmdb_id = super::super::handlers::parse_tmdb_id(
            params.iter().find(|(k, _)| *k == "tmdb_id").map(|(_, v)| serde_json::Value::String(v.clone())).as_ref(),
            "tmdb_id",
        )?;
        if !super::super::handlers::json_body_or_empty(request)?.is_empty() {
            return Err(Error::BadRequest("this route takes no body (the movie is in the path)".into()));
        }
        // A public catalog opens reads; an ingest spends TMDB's capacity, so it needs a key.
        let hash = presented_key_hash(request)?.ok_or(Error::MissingApiKey)?;
        let config = Config::load(settings).await?;
        Ok((tmdb_id, hash, config))
    };
    let (tmdb_id, hash, config) = match checked.await {
        Ok(checked) => checked,
        Err(e) => return (Err(e), None),
    };
    let Some(url) = config.database_url.clone() else {
        let missing = ConfigError::Missing { setting: "database_url", consequence: "no database to serve from" };
        return (Err(missing.into()), None);
    };
    let app = App::new(open_db(url.expose()), http, clock, config, FUNCTION);
    let (sql, bound) =
        api_access::statement(&Caller::Key(hash), Metering::Charge, started.naive_utc(), |p| lookup_sql(p, tmdb_id));
    let admitted = within(clock, app.config.time_budget, async {
        let conn = app.db.connect().await?;
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
        api_reads::card(params, tmdb_id)
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
        Found::Servable(card) => return Ok(answer(StatusCode::OK, "cached", tmdb_id, &card.body, &card.etag, None)),
        Found::NotServable(WorkStatus::Gone) => return Err(Error::Gone { tmdb_id }),
        Found::NotServable(WorkStatus::Rejected) => {
            return Err(Error::Rejected { tmdb_id, reason: "the catalog policy refused it" });
        }
        Found::NotServable(_) | Found::Unknown => {}
    }
    let now = app.clock.now();
    let charged = {
        let conn = app.db.connect().await?;
        quota::increment_quota(&conn, &customer, INGESTS, 1, now).await?
    };
    let ingests = match charged {
        Increment::Granted(status) => status,
        Increment::Exceeded(status) => {
            return Err(Error::QuotaExceeded {
                quota: INGESTS,
                limit: status.limit,
                retry_after_secs: (status.period_end - now.naive_utc()).num_seconds().max(0),
            });
        }
    };
    // The request's budget runs from its arrival, as every invocation's does.
    let tmdb = app.tmdb(app.deadline(started));
    let ingested = ingest::ingest_movie(app, &tmdb, tmdb_id, false, None).await;
    tmdb.share_learned_rate().await;
    // Whatever the ingest's outcome, its answer stands: a charge that cannot be given back is
    // logged, not answered.
    let give_back = async {
        let refunded = async {
            let conn = app.db.connect().await?;
            quota::refund_quota(&conn, &customer, INGESTS, 1, now).await.map_err(Error::from)
        };
        if let Err(e) = refunded.await {
            crate::log::event(
                "error",
                FUNCTION,
                "an on-demand ingest that fetched nothing new could not be given back",
                json!({"tmdb_id": tmdb_id, "error": e.to_string()}),
            );
        }
    };
    match ingested {
        Ok(Outcome::Ingested { card, .. }) => {
            let usage = json!({"limit": ingests.limit, "used": ingests.used, "remaining": ingests.remaining()});
            let body = card.payload.to_string();
            Ok(answer(StatusCode::CREATED, "ingested", tmdb_id, &body, &card.etag, Some(&usage)))
        }
        Ok(Outcome::Cached { card, etag, .. }) => {
            give_back.await;
            Ok(answer(StatusCode::OK, "cached", tmdb_id, &card.to_string(), &etag, None))
        }
        Err(e) => {
            give_back.await;
            Err(e)
        }
    }
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
) -> HttpResponse {
    let what = format!("\"{what}\"");
    let id = tmdb_id.to_string();
    let usage = ingests.map(serde_json::Value::to_string);
    let mut fields = vec![("status", what.as_str()), ("tmdb_id", id.as_str()), ("card", card)];
    if let Some(usage) = &usage {
        fields.push(("ingests", usage.as_str()));
    }
    let mut response = text_response(status, object(&fields));
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("/api/works/{tmdb_id}"))
    {
        headers.insert(header::LOCATION, location);
    }
    response
}
