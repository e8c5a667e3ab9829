//! The OpenAPI 3.1 document of the public catalog API, served at `GET /api/openapi.json`.
//!
//! Built from the routing table: every public route ([`is_public`]: `/api/*` but the admin
//! routes) is one operation, with its path parameters from its path and its query parameters
//! from the lists the request parsers accept (`catalog::query`), so a test can hold the document
//! and the table equal, and customers can generate clients from it.

use std::sync::LazyLock;

use http::Method;
use serde_json::{Map, Value as Json, json};

use super::catalog::{query, respond_get};
use super::{ROUTES, Route, RouteId};
use crate::db::browse::Sort;
use crate::error::Result;
use crate::ports::{HttpRequest, HttpResponse};

/// Routes customers call (and generate clients for): the admin routes are operators'.
pub fn is_public(route: &Route) -> bool {
    route.path.starts_with("/api/") && !route.path.starts_with("/api/admin/")
}

/// `/api/works/:tmdb_id` → `/api/works/{tmdb_id}`.
pub fn openapi_path(path: &str) -> String {
    path.split('/')
        .map(|s| s.strip_prefix(':').map_or_else(|| s.to_owned(), |name| format!("{{{name}}}")))
        .collect::<Vec<_>>()
        .join("/")
}

/// The query parameters of a route, as the parsers accept them.
pub fn query_parameters(id: RouteId) -> &'static [&'static str] {
    match id {
        RouteId::Browse => query::BROWSE,
        RouteId::Search => query::SEARCH,
        _ => &[],
    }
}

/// Whether a route needs an API key (and is charged, but for the usage route).
fn keyed(id: RouteId) -> bool {
    !matches!(id, RouteId::OpenApi | RouteId::Health)
}

fn schema_ref(name: &str) -> Json {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn describe_query(name: &str) -> (Json, &'static str) {
    let id = json!({"type": "integer", "minimum": 1});
    match name {
        "genre" => (id, "Only works of this genre (`genre_id` of `GET /api/genres`)."),
        "person" => (id, "Only works this person is credited in (cast or crew)."),
        "company" => (id, "Only works this production company made."),
        "keyword" => (id, "Only works with this keyword."),
        "year" => (
            json!({"type": "integer", "minimum": query::MIN_YEAR, "maximum": query::MAX_YEAR}),
            "Released this year (not with `year_from`/`year_to`).",
        ),
        "year_from" => (
            json!({"type": "integer", "minimum": query::MIN_YEAR, "maximum": query::MAX_YEAR}),
            "Released this year or later.",
        ),
        "year_to" => (
            json!({"type": "integer", "minimum": query::MIN_YEAR, "maximum": query::MAX_YEAR}),
            "Released this year or earlier.",
        ),
        "language" => (json!({"type": "string", "pattern": "^[a-z]{2}$"}), "Original language, ISO 639-1."),
        "min_votes" => (json!({"type": "integer", "minimum": 0}), "At least this many TMDB votes."),
        "sort" => (
            json!({"type": "string", "enum": Sort::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>(), "default": "popularity"}),
            "Order of the listing. `trending`: popularity change over the 7 days before each movie's latest refresh. Unrated and undated works come last in either order.",
        ),
        "order" => {
            (json!({"type": "string", "enum": ["asc", "desc"]}), "Default: `asc` for `title`, `desc` otherwise.")
        }
        "limit" => (
            json!({"type": "integer", "minimum": 1, "maximum": query::MAX_LIMIT, "default": query::DEFAULT_LIMIT}),
            "Results per page.",
        ),
        "cursor" => (
            json!({"type": "string"}),
            "`next_cursor` of the previous page, unchanged. Pages never skip or repeat a work, even while the catalog changes; a cursor is valid for a day and for the query it was made for.",
        ),
        "q" => (
            json!({"type": "string", "minLength": 1, "maxLength": 200}),
            "Title to look for: case, accents and a typo do not matter; original titles count too.",
        ),
        "customer" => (json!({"type": "string"}), "A Stripe customer id."),
        _ => (json!({"type": "string"}), ""),
    }
}

fn operation(route: &Route) -> Json {
    let (summary, ok): (&str, Json) = match route.id {
        RouteId::WorkCard => ("A movie's card", schema_ref("Card")),
        RouteId::WorkSimilar => ("Movies similar to one, that the catalog has", schema_ref("Similar")),
        RouteId::WorkIngest => (
            "Fetch a movie the catalog lacks from TMDB now (charged to the `ingests` quota; a movie already served is answered as it is, 200, without that charge)",
            schema_ref("Ingested"),
        ),
        RouteId::Browse => ("Browse the catalog: filters, sorts, keyset pages", schema_ref("Page")),
        RouteId::Search => {
            ("Search titles (ranked; accents, case and typos do not matter)", schema_ref("SearchResults"))
        }
        RouteId::Person => ("A person and their filmography", schema_ref("Person")),
        RouteId::Genres => ("Genres, with how many works each has", schema_ref("Genres")),
        RouteId::Usage => ("This key's usage of its quotas (free, also over the limit)", schema_ref("Usage")),
        RouteId::OpenApi => ("This document", json!({"type": "object"})),
        RouteId::Health => ("Whether the API reaches its database (no key)", json!({"type": "object"})),
        _ => ("", json!({})),
    };
    let mut parameters: Vec<Json> = route
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix(':'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}))
        .collect();
    for name in query_parameters(route.id) {
        let (schema, description) = describe_query(name);
        parameters.push(json!({"name": name, "in": "query", "required": *name == "q", "schema": schema, "description": description}));
    }
    let rate_headers = json!({
        "RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
        "RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
        "RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"},
    });
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": schema_ref("Error")}}});
    let mut responses = Map::new();
    // The health check is never cached (`no-store`) and takes any query; every other route
    // answers with an ETag, and refuses parameters it does not know; a `GET` answers 304 to
    // `If-None-Match`.
    let health = route.id == RouteId::Health;
    let conditional = !health && route.method == Method::GET;
    let mut ok_headers = json!({"Cache-Control": {"schema": {"type": "string"}}});
    if !health {
        ok_headers["ETag"] = json!({"schema": {"type": "string"}});
    }
    if keyed(route.id) {
        ok_headers.as_object_mut().unwrap().extend(rate_headers.as_object().unwrap().clone());
    }
    responses.insert(
        "200".into(),
        json!({"description": "OK", "headers": ok_headers, "content": {"application/json": {"schema": ok}}}),
    );
    if conditional {
        responses.insert("304".into(), json!({"description": "Not modified (`If-None-Match` named the current ETag)"}));
    }
    if !health {
        responses
            .insert("400".into(), error("Invalid or unknown parameters (also a tampered, foreign or expired cursor)"));
    }
    if route.id == RouteId::WorkIngest {
        let mut created = ok_headers.clone();
        created["Location"] = json!({"schema": {"type": "string"}});
        responses.insert(
            "201".into(),
            json!({"description": "Fetched from TMDB and ingested now", "headers": created, "content": {"application/json": {"schema": ok}}}),
        );
        responses.insert(
            "409".into(),
            error("Another request is ingesting this movie right now (`ingest_in_progress`, with `Retry-After`) or took it over (`lease_lost`)"),
        );
        responses.insert("422".into(), error("The catalog's policy refuses this movie (adult, untitled)"));
        responses.insert(
            "502".into(),
            error("TMDB refused Marquee's credentials or the request, or answered with something unusable"),
        );
    }
    if keyed(route.id) {
        responses.insert("401".into(), error("Missing, unknown or revoked API key"));
        responses.insert(
            "429".into(),
            json!({"description": "The monthly quota named in the message is used up (`api_requests`, or `ingests` for an on-demand ingest, which still counts as an API request); nothing more was counted against it",
                   "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until the quota's period ends"}},
                   "content": {"application/json": {"schema": schema_ref("Error")}}}),
        );
    }
    if route.id == RouteId::WorkIngest {
        responses.insert("404".into(), error("TMDB does not have this movie (code `gone`)"));
    } else if route.path.contains(':') {
        responses.insert("404".into(), error("Not in the catalog (or no longer: code `gone`)"));
    }
    responses.insert("503".into(), error("The request ran out of its time budget (or TMDB is unavailable)"));
    let security = if keyed(route.id) { json!([{"bearerKey": []}, {"headerKey": []}]) } else { json!([]) };
    let operation_id = format!("{:?}", route.id);
    let operation_id = operation_id[..1].to_lowercase() + &operation_id[1..];
    json!({"operationId": operation_id, "summary": summary, "parameters": parameters, "responses": responses, "security": security})
}

fn build() -> Json {
    let mut paths = Map::new();
    for route in ROUTES.iter().filter(|r| is_public(r)) {
        let item = paths.entry(openapi_path(route.path)).or_insert_with(|| json!({}));
        item[route.method.as_str().to_lowercase()] = operation(route);
    }
    let short_card = json!({"type": "object", "properties": {
        "tmdb_id": {"type": "integer"}, "title": {"type": "string"}, "year": {"type": ["integer", "null"]},
        "poster": {"type": ["string", "null"]}, "score": {"type": ["number", "null"]},
        "genres": {"type": "array", "items": {"type": "string"}}, "certification": {"type": ["string", "null"]}}});
    let list = |item: Json| json!({"type": "array", "items": item});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Marquee catalog API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The movie catalog kept in sync with TMDB. Every request but `/api/openapi.json` and `/api/health` takes an API key (`Authorization: Bearer mq_live_…` or `X-API-Key`) and is charged to the key's customer's monthly `api_requests` quota (the usage route is free); fetching a movie the catalog lacks is also charged to its `ingests` quota. This product uses the TMDB API but is not endorsed or certified by TMDB."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerKey": {"type": "http", "scheme": "bearer", "description": "An API key as a bearer token"},
                "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            },
            "headers": {
                "RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Requests the period allows"},
                "RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Requests left in the period"},
                "RateLimit-Reset": {"schema": {"type": "integer"}, "description": "Seconds until the period ends"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
                    "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "ShortCard": short_card,
                "Card": {"type": "object", "description": "The full card: identity, dates, runtime, certification, genres, overview, images, score with its interval, directors, cast, trailers, keywords, US streaming, similar ids, attribution.",
                         "properties": {"tmdb_id": {"type": "integer"}, "title": {"type": "string"}, "original_title": {"type": ["string", "null"]}}},
                "Similar": {"type": "object", "properties": {"tmdb_id": {"type": "integer"}, "results": list(schema_ref("ShortCard"))}},
                "Ingested": {"type": "object", "required": ["status", "tmdb_id", "card"], "properties": {
                             "status": {"type": "string", "enum": ["ingested", "cached"]}, "tmdb_id": {"type": "integer"},
                             "card": schema_ref("Card"),
                             "ingests": {"type": "object", "description": "The `ingests` quota after this one (only when ingested now)",
                                         "properties": {"limit": {"type": "integer"}, "used": {"type": "integer"}, "remaining": {"type": "integer"}}}}},
                "Page": {"type": "object", "properties": {"results": list(schema_ref("ShortCard")),
                         "next_cursor": {"type": ["string", "null"]}, "sort": {"type": "string"}, "order": {"type": "string"}, "limit": {"type": "integer"}}},
                "SearchResults": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}, "results": list(schema_ref("ShortCard"))}},
                "Person": {"type": "object", "properties": {"person_id": {"type": "integer"}, "name": {"type": "string"},
                           "known_for_department": {"type": ["string", "null"]}, "photo": {"type": ["object", "null"]},
                           "stats": {"type": ["object", "null"]}, "filmography": list(schema_ref("ShortCard"))}},
                "Genres": {"type": "object", "properties": {"results": list(json!({"type": "object", "properties": {
                           "genre_id": {"type": "integer"}, "name": {"type": "string"}, "works": {"type": "integer"},
                           "scored_works": {"type": "integer"}, "mean_score": {"type": ["number", "null"]},
                           "first_release": {"type": ["string", "null"], "format": "date"},
                           "latest_release": {"type": ["string", "null"], "format": "date"}}}))}},
                "Usage": {"type": "object", "properties": {"customer_id": {"type": "string"}, "key_id": {"type": "integer"},
                          "tier": {"type": "string"}, "quotas": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                              "limit": {"type": "integer"}, "used": {"type": "integer"}, "remaining": {"type": "integer"},
                              "period_start": {"type": "string", "format": "date-time"}, "period_end": {"type": "string", "format": "date-time"}}}}}}
            }
        }
    })
}

/// The document, built once.
pub fn document() -> &'static Json {
    static DOCUMENT: LazyLock<Json> = LazyLock::new(build);
    &DOCUMENT
}

/// `GET /api/openapi.json`: public, cacheable for an hour, with an ETag.
pub fn respond(request: &HttpRequest) -> Result<HttpResponse> {
    static TEXT: LazyLock<(String, String)> = LazyLock::new(|| {
        let text = document().to_string();
        let etag = crate::domain::card::etag_of_bytes(text.as_bytes());
        (text, etag)
    });
    super::catalog::query::parameters(request.uri().query(), &[])?;
    let (text, etag) = &*TEXT;
    Ok(respond_get(request, text.clone(), etag, "public, max-age=3600"))
}

/// The methods a path is documented with (tests compare them with the routing table).
pub fn documented(path: &str) -> Vec<Method> {
    document()["paths"][openapi_path(path)]
        .as_object()
        .map(|o| o.keys().filter_map(|m| m.to_uppercase().parse().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document and the routing table are equal: every public route is one operation with
    /// its path parameters and exactly the query parameters its parser accepts; nothing else is
    /// documented.
    #[test]
    fn the_document_equals_the_routing_table() {
        let doc = document();
        let mut operations = 0;
        for route in ROUTES.iter().filter(|r| is_public(r)) {
            let op = &doc["paths"][openapi_path(route.path)][route.method.as_str().to_lowercase()];
            assert!(op.is_object(), "{} {} is not documented", route.method, route.path);
            operations += 1;
            let declared = |place: &str| -> Vec<String> {
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["in"] == place)
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect()
            };
            let in_path: Vec<String> =
                route.path.split('/').filter_map(|s| s.strip_prefix(':')).map(str::to_owned).collect();
            assert_eq!(declared("path"), in_path, "{}", route.path);
            assert_eq!(declared("query"), query_parameters(route.id), "{}", route.path);
            assert!(op["responses"]["200"].is_object(), "{}", route.path);
            let conditional = route.id != RouteId::Health && route.method == Method::GET;
            assert_eq!(op["responses"]["304"].is_object(), conditional, "{}", route.path);
            assert_eq!(op["responses"]["400"].is_object(), route.id != RouteId::Health, "{}", route.path);
            assert!(documented(route.path).contains(&route.method));
        }
        let documented: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(documented, operations, "only the routing table's public routes are documented");
        assert!(!doc["paths"].as_object().unwrap().keys().any(|p| p.starts_with("/api/admin")));
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[test]
    fn paths_use_openapi_templates() {
        assert_eq!(openapi_path("/api/works/:tmdb_id/similar"), "/api/works/{tmdb_id}/similar");
        assert_eq!(openapi_path("/api/works"), "/api/works");
    }
}
