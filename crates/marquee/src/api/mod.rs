//! HTTP: the routing table (route → handler), shared by the Spin components and the native
//! server, and the handlers that decode requests, call the pipeline and encode responses.

pub mod catalog;
mod error;
mod handlers;
pub mod openapi;
#[cfg(test)]
mod parser_properties;
pub mod requests;

use http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::Value as Json;
use subtle::ConstantTimeEq;

pub use error::{error_response, public_message, status_and_code};

use crate::app::App;
use crate::config::Config;
use crate::error::Error;
use crate::ports::{Clock, Database, HttpClient, HttpRequest, HttpResponse, Settings};

/// Request bodies above this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Which route a request is for; `handlers::handle` runs the one function of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    IngestMovie,
    ScheduledIngest,
    BatchIngest,
    DailyRefresh,
    WorkCard,
    StripeWebhook,
    // The catalog API (issue 16): served by `catalog-api` (`api::catalog`).
    WorkSimilar,
    /// A movie the catalog lacks, ingested on a customer's request (charged to `ingests`).
    WorkIngest,
    Browse,
    Search,
    Person,
    Genres,
    Usage,
    OpenApi,
    Health,
    CreateKey,
    ListKeys,
    RevokeKey,
    CustomerUsage,
    // The operator dashboard (issue 12): its pages and forms, and the same figures for scripts
    // and for Prometheus.
    DashboardPage,
    DashboardAction,
    AdminStats,
    Metrics,
}

#[derive(Debug)]
pub struct Route {
    /// The Spin component serving it (its `[component.<name>]` in `spin.toml`).
    pub component: &'static str,
    pub method: Method,
    /// Spin route syntax: `:name` matches one path segment.
    pub path: &'static str,
    pub id: RouteId,
}

/// Every route Marquee serves. `spin.toml` and the native server are checked against it.
pub static ROUTES: &[Route] = &[
    Route {
        component: "ingest-movie",
        method: Method::POST,
        path: "/functions/v1/ingest-movie",
        id: RouteId::IngestMovie,
    },
    Route {
        component: "scheduled-ingest",
        method: Method::POST,
        path: "/functions/v1/scheduled-ingest",
        id: RouteId::ScheduledIngest,
    },
    Route {
        component: "batch-ingest",
        method: Method::POST,
        path: "/functions/v1/batch-ingest",
        id: RouteId::BatchIngest,
    },
    Route {
        component: "daily-refresh",
        method: Method::POST,
        path: "/functions/v1/daily-refresh",
        id: RouteId::DailyRefresh,
    },
    Route { component: "catalog-api", method: Method::GET, path: "/api/works/:tmdb_id", id: RouteId::WorkCard },
    Route {
        component: "stripe-webhook",
        method: Method::POST,
        path: "/functions/v1/stripe-webhook",
        id: RouteId::StripeWebhook,
    },
    // The catalog API (issue 16). `catalog-api` serves every `/api` path (`MOUNTS`).
    Route { component: "catalog-api", method: Method::GET, path: "/api/works", id: RouteId::Browse },
    Route {
        component: "catalog-api",
        method: Method::GET,
        path: "/api/works/:tmdb_id/similar",
        id: RouteId::WorkSimilar,
    },
    Route {
        component: "catalog-api",
        method: Method::POST,
        path: "/api/works/:tmdb_id/ingest",
        id: RouteId::WorkIngest,
    },
    Route { component: "catalog-api", method: Method::GET, path: "/api/search", id: RouteId::Search },
    Route { component: "catalog-api", method: Method::GET, path: "/api/people/:person_id", id: RouteId::Person },
    Route { component: "catalog-api", method: Method::GET, path: "/api/genres", id: RouteId::Genres },
    Route { component: "catalog-api", method: Method::GET, path: "/api/usage", id: RouteId::Usage },
    Route { component: "catalog-api", method: Method::GET, path: "/api/openapi.json", id: RouteId::OpenApi },
    Route { component: "catalog-api", method: Method::GET, path: "/api/health", id: RouteId::Health },
    Route { component: "catalog-api", method: Method::POST, path: "/api/admin/keys", id: RouteId::CreateKey },
    Route { component: "catalog-api", method: Method::GET, path: "/api/admin/keys", id: RouteId::ListKeys },
    Route { component: "catalog-api", method: Method::DELETE, path: "/api/admin/keys/:key_id", id: RouteId::RevokeKey },
    Route { component: "catalog-api", method: Method::GET, path: "/api/admin/usage", id: RouteId::CustomerUsage },
    // The dashboard component serves its pages, the JSON and the metrics: one set of queries.
    Route { component: "dashboard", method: Method::GET, path: "/dashboard/...", id: RouteId::DashboardPage },
    Route { component: "dashboard", method: Method::POST, path: "/dashboard/...", id: RouteId::DashboardAction },
    Route { component: "dashboard", method: Method::GET, path: "/api/admin/stats", id: RouteId::AdminStats },
    Route { component: "dashboard", method: Method::GET, path: "/metrics", id: RouteId::Metrics },
];

/// Components that serve every path under a prefix (Spin's `/...` tail) and pick the handler
/// through [`ROUTES`] themselves; any other component has one Spin route per route of
/// [`ROUTES`]. `spin.toml` is checked against both.
pub static MOUNTS: &[(&str, &str)] = &[("catalog-api", "/api/...")];

/// The Spin route (`[[trigger.http]] route`) that brings `route`'s requests to its component.
pub fn spin_route(route: &Route) -> &'static str {
    MOUNTS.iter().find(|(component, _)| *component == route.component).map_or(route.path, |(_, mount)| mount)
}

/// Path parameters captured by `:name` segments; a trailing `/...` captures the rest of the path
/// (with its leading `/`, empty for the prefix itself) as [`TAIL`].
pub type Params = Vec<(&'static str, String)>;

/// The name of the parameter a trailing `/...` captures.
pub const TAIL: &str = "...";

fn match_path(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    if let Some(prefix) = pattern.strip_suffix("/...") {
        // Spin's wildcard: the prefix itself, or anything below it.
        let rest = path.strip_prefix(prefix)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        params.push((TAIL, rest.to_owned()));
        return Some(params);
    }
    let mut want = pattern.trim_matches('/').split('/');
    let mut got = path.trim_matches('/').split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with(':') && !g.is_empty() => params.push((&w[1..], g.to_owned())),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// Finds the route for a request: 404 for an unknown path, 405 for a known path and wrong method.
/// As on Spin, a route without a wildcard wins over a wildcard, and of two wildcards the longer
/// prefix wins, whatever their order in [`ROUTES`].
pub fn route(method: &Method, path: &str) -> Result<(&'static Route, Params), Error> {
    let mut path_known = false;
    let mut best: Option<(&'static Route, Params)> = None;
    let precedence = |r: &Route| match r.path.strip_suffix("/...") {
        None => usize::MAX,
        Some(prefix) => prefix.len(),
    };
    for r in ROUTES {
        if let Some(params) = match_path(r.path, path) {
            path_known = true;
            if r.method == method && best.as_ref().is_none_or(|(b, _)| precedence(r) > precedence(b)) {
                best = Some((r, params));
            }
        }
    }
    best.ok_or_else(
        || if path_known { Error::MethodNotAllowed } else { Error::NotFound(format!("no route for {path}")) },
    )
}

/// Entry point of a component or the native server: routes, reads configuration, builds the
/// invocation's [`App`] and handles. `only` restricts a component to its own handler. The
/// route's component names the function in logs and `tmdb_api_logs`.
pub async fn serve<S, D, H, C>(
    settings: &S,
    open_db: impl FnOnce(&str) -> D,
    http: H,
    clock: C,
    only: Option<RouteId>,
    request: HttpRequest,
) -> HttpResponse
where
    S: Settings,
    D: Database,
    H: HttpClient,
    C: Clock,
{
    let scope = match only {
        Some(id) => Scope::Route(id),
        None => Scope::All,
    };
    serve_in(settings, open_db, http, clock, scope, request).await
}

/// [`serve`] for a component with several routes (a [`MOUNTS`] entry, or the dashboard's pages,
/// JSON and metrics): it answers every route of its own and no other.
pub async fn serve_component<S, D, H, C>(
    settings: &S,
    open_db: impl FnOnce(&str) -> D,
    http: H,
    clock: C,
    component: &'static str,
    request: HttpRequest,
) -> HttpResponse
where
    S: Settings,
    D: Database,
    H: HttpClient,
    C: Clock,
{
    serve_in(settings, open_db, http, clock, Scope::Component(component), request).await
}

/// Which routes a caller of [`serve`] answers.
#[derive(Clone, Copy)]
enum Scope {
    All,
    Route(RouteId),
    Component(&'static str),
}

impl Scope {
    fn admits(self, route: &Route) -> bool {
        match self {
            Scope::All => true,
            Scope::Route(id) => route.id == id,
            Scope::Component(component) => route.component == component,
        }
    }
}

async fn serve_in<S, D, H, C>(
    settings: &S,
    open_db: impl FnOnce(&str) -> D,
    http: H,
    clock: C,
    scope: Scope,
    request: HttpRequest,
) -> HttpResponse
where
    S: Settings,
    D: Database,
    H: HttpClient,
    C: Clock,
{
    let (route, params) = match route(request.method(), request.uri().path()) {
        Ok((r, _)) if !scope.admits(r) => {
            return error_response("marquee", &Error::NotFound(format!("no route for {}", request.uri().path())));
        }
        Ok(found) => found,
        Err(e) => return error_response("marquee", &e),
    };
    // The catalog API reads only the settings each of its routes needs (`api::catalog`).
    if route.component == "catalog-api" {
        return catalog::serve(settings, open_db, http, &clock, route, &params, request).await;
    }
    let function = route.component;
    let config = match Config::load(settings).await {
        Ok(c) => c,
        Err(e) => return error_response(function, &e.into()),
    };
    let Some(url) = config.database_url.as_ref() else {
        let missing =
            crate::config::ConfigError::Missing { setting: "database_url", consequence: "no database to serve from" };
        return error_response(function, &missing.into());
    };
    let db = open_db(url.expose());
    let app = App::new(db, http, clock, config, function);
    handlers::handle(&app, route.id, &params, request).await.unwrap_or_else(|e| error_response(function, &e))
}

/// Reads the body of an incoming request (at most [`MAX_BODY_BYTES`]) and hands the request to
/// `serve`; a body that is larger, or cannot be read, is answered 413 without calling it. The
/// first step of both adapters, each with its own body type (any `http_body::Body`, which is
/// what `BodyExt` extends) and its own way to [`serve`].
pub async fn read_body_then<B>(
    request: http::Request<B>,
    serve: impl AsyncFnOnce(HttpRequest) -> HttpResponse,
) -> HttpResponse
where
    B: BodyExt,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => serve(http::Request::from_parts(parts, collected.to_bytes().to_vec())).await,
        Err(_) => error_response("marquee", &Error::PayloadTooLarge { limit: MAX_BODY_BYTES }),
    }
}

pub(crate) fn json_response(status: StatusCode, body: &Json) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.to_string().into_bytes())
        .expect("static response parts are valid")
}

/// `Authorization: Bearer <admin token>`, compared in constant time.
pub(crate) fn require_admin<D: Database, H, C>(app: &App<D, H, C>, request: &HttpRequest) -> Result<(), Error> {
    check_admin_token(app.config.admin_token.as_ref(), request)
}

/// `Authorization: Bearer <expected>`, compared in constant time.
pub(crate) fn check_admin_token(expected: Option<&crate::config::Secret>, request: &HttpRequest) -> Result<(), Error> {
    let Some(expected) = expected else {
        return Err(crate::config::ConfigError::Missing {
            setting: "admin_token",
            consequence: "admin routes are closed",
        }
        .into());
    };
    if secret_matches(bearer_token(request), expected) { Ok(()) } else { Err(Error::Unauthorized) }
}

/// The token of an `Authorization: Bearer …` header; empty when there is none.
pub(crate) fn bearer_token(request: &HttpRequest) -> &str {
    request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("")
}

/// Whether `presented` is the secret, compared in constant time (the one comparison of
/// presented secrets: admin token, metrics token, the dashboard's sign-in form).
pub(crate) fn secret_matches(presented: &str, expected: &crate::config::Secret) -> bool {
    bool::from(presented.as_bytes().ct_eq(expected.expose().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_parameters_and_report_405() {
        let (r, params) = route(&Method::GET, "/api/works/550").unwrap();
        assert_eq!(r.id, RouteId::WorkCard);
        assert_eq!(params, vec![("tmdb_id", "550".to_owned())]);
        assert!(matches!(route(&Method::GET, "/functions/v1/ingest-movie"), Err(Error::MethodNotAllowed)));
        assert!(matches!(route(&Method::GET, "/api/works/1/2"), Err(Error::NotFound(_))));
        assert!(matches!(route(&Method::GET, "/api/nowhere"), Err(Error::NotFound(_))));
        let (r, params) = route(&Method::GET, "/api/works/550/similar").unwrap();
        assert_eq!((r.id, params), (RouteId::WorkSimilar, vec![("tmdb_id", "550".to_owned())]));
        assert_eq!(route(&Method::GET, "/api/works").unwrap().0.id, RouteId::Browse);
        assert_eq!(route(&Method::DELETE, "/api/admin/keys/7").unwrap().0.id, RouteId::RevokeKey);
        assert!(matches!(route(&Method::POST, "/api/works"), Err(Error::MethodNotAllowed)));
        let (r, params) = route(&Method::POST, "/api/works/550/ingest").unwrap();
        assert_eq!((r.id, params), (RouteId::WorkIngest, vec![("tmdb_id", "550".to_owned())]));
        assert!(matches!(route(&Method::GET, "/api/works/550/ingest"), Err(Error::MethodNotAllowed)));
    }

    #[test]
    fn every_route_is_reached_through_its_spin_route() {
        for r in ROUTES {
            let spin = spin_route(r);
            match spin.strip_suffix("/...") {
                Some(prefix) => assert!(r.path.starts_with(&format!("{prefix}/")), "{} under {spin}", r.path),
                None => assert_eq!(spin, r.path),
            }
        }
        assert_eq!(spin_route(&ROUTES[0]), "/functions/v1/ingest-movie");
    }

    #[test]
    fn a_wildcard_matches_its_prefix_and_everything_below_it_and_exact_routes_win() {
        let tail = |path: &str| {
            let (r, params) = route(&Method::GET, path).unwrap();
            assert_eq!(r.id, RouteId::DashboardPage, "{path}");
            params.into_iter().find(|(k, _)| *k == TAIL).map(|(_, v)| v).unwrap()
        };
        assert_eq!(tail("/dashboard"), "");
        assert_eq!(tail("/dashboard/"), "/");
        assert_eq!(tail("/dashboard/runs/12"), "/runs/12");
        assert!(matches!(route(&Method::GET, "/dashboards"), Err(Error::NotFound(_))));
        assert_eq!(route(&Method::POST, "/dashboard/sign-in").unwrap().0.id, RouteId::DashboardAction);
        assert!(matches!(route(&Method::PUT, "/dashboard"), Err(Error::MethodNotAllowed)));
        assert_eq!(route(&Method::GET, "/api/admin/stats").unwrap().0.id, RouteId::AdminStats);
        assert_eq!(route(&Method::GET, "/metrics").unwrap().0.id, RouteId::Metrics);
    }
}
