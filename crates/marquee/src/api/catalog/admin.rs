//! The admin routes of the catalog API (admin token): issue, list and revoke keys, and see
//! customers' usage. What `marquee keys …` does, over HTTP. Never shows a key except once, in
//! the answer that made it, and never a hash.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Value as Json, json};

use super::{parameters, query, text_response, within};
use crate::api::handlers::json_body;
use crate::api::{Params, RouteId, check_admin_token};
use crate::config::{ApiConfig, ConfigError};
use crate::db::api_keys;
use crate::error::{Error, Result};
use crate::ports::{Clock, Database, HttpRequest, HttpResponse, Settings};

pub fn serves(id: RouteId) -> bool {
    matches!(id, RouteId::CreateKey | RouteId::ListKeys | RouteId::RevokeKey | RouteId::CustomerUsage)
}

pub async fn handle<S: Settings, D: Database, C: Clock>(
    settings: &S,
    open_db: impl FnOnce(&str) -> D,
    clock: &C,
    id: RouteId,
    params: &Params,
    request: &HttpRequest,
) -> Result<HttpResponse> {
    let config = ApiConfig::load(settings, true).await?;
    check_admin_token(config.admin_token.as_ref(), request)?;
    let url = config
        .database_url
        .as_ref()
        .ok_or(ConfigError::Missing { setting: "database_url", consequence: "no database to serve from" })?;
    let db = open_db(url.expose());
    let (status, body) = within(clock, config.time_budget, async {
        match id {
            RouteId::CreateKey => {
                parameters(request, &[])?;
                let body = json_body(request)?;
                let (customer, name) = new_key_request(&body)?;
                let issued = crate::keys::issue(&db.connect().await?, customer, name).await?;
                let mut shown = serde_json::to_value(&issued.record).expect("a key record serialises");
                shown["key"] = json!(issued.key.expose());
                Ok((StatusCode::CREATED, shown))
            }
            RouteId::ListKeys => {
                let p = parameters(request, query::CUSTOMER)?;
                let keys = api_keys::list(&db.connect().await?, p.get("customer").map(String::as_str)).await?;
                Ok((StatusCode::OK, json!({"keys": keys})))
            }
            RouteId::RevokeKey => {
                parameters(request, &[])?;
                let key_id =
                    query::path_id(params.iter().find(|(k, _)| *k == "key_id").map(|(_, v)| v.as_str()), "key_id")?;
                match api_keys::revoke(&db.connect().await?, key_id).await? {
                    Some(record) => {
                        Ok((StatusCode::OK, serde_json::to_value(record).expect("a key record serialises")))
                    }
                    None => Err(Error::NotFound(format!("no key {key_id}"))),
                }
            }
            RouteId::CustomerUsage => {
                let p = parameters(request, query::CUSTOMER)?;
                let usage = api_keys::usage(
                    &db.connect().await?,
                    p.get("customer").map(String::as_str),
                    clock.now().naive_utc(),
                )
                .await?;
                Ok((StatusCode::OK, json!({"usage": usage})))
            }
            other => Err(Error::NotFound(format!("{other:?} is not an admin route"))),
        }
    })
    .await?;
    let mut response = text_response(status, body.to_string());
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The body of `POST /api/admin/keys`: `customer` (required) and `name` (optional), nothing else.
pub(crate) fn new_key_request(body: &serde_json::Map<String, Json>) -> Result<(&str, Option<&str>)> {
    let customer = match body.get("customer") {
        Some(Json::String(c)) => c.as_str(),
        _ => return Err(Error::BadRequest("`customer` is required: a Stripe customer id (cus_…)".into())),
    };
    let name = match body.get("name") {
        None | Some(Json::Null) => None,
        Some(Json::String(n)) => Some(n.as_str()),
        Some(_) => return Err(Error::BadRequest("`name` must be a string".into())),
    };
    if let Some(field) = body.keys().find(|k| !["customer", "name"].contains(&k.as_str())) {
        return Err(Error::BadRequest(format!("unknown field `{field}`; give `customer` and `name`")));
    }
    Ok((customer, name))
}
