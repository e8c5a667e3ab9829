//! The operator dashboard: `/dashboard` and its pages (server-rendered HTML), the same figures
//! as JSON (`GET /api/admin/stats`, admin token) and in Prometheus' text format (`GET /metrics`,
//! admin token or `metrics_token`). One set of queries ([`stats`]) behind all three.
//!
//! Pages need a session: sign in with the admin token through the form ([`session`] for the
//! cookie and its key, [`throttle`] for guessing); every state-changing action is a POST with
//! the session's CSRF token, refused when sent by another site (`Sec-Fetch-Site`). Errors on
//! pages are pages, with the status and message `api::error` gives them.

mod charts;
mod format;
pub mod metrics;
mod pages;
pub mod session;
pub mod stats;
pub mod throttle;

use std::time::Duration;

use http::{HeaderValue, StatusCode, header};

use crate::api::{Params, RouteId, TAIL, bearer_token, json_response, require_admin, secret_matches};
use crate::app::App;
use crate::config::ConfigError;
use crate::db::{queue, sessions};
use crate::error::{Error, Result};
use crate::ports::{Clock, Database, HttpClient, HttpRequest, HttpResponse};
use session::{Keys, Session};
use stats::Rows;

pub async fn handle<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    route: RouteId,
    params: &Params,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let tail = params.iter().find(|(k, _)| *k == TAIL).map_or("", |(_, v)| v.as_str());
    match route {
        RouteId::AdminStats => {
            require_admin(app, &request)?;
            let overview = stats::overview(app).await?;
            let mut response =
                json_response(StatusCode::OK, &serde_json::to_value(&overview).expect("figures serialise"));
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        RouteId::Metrics => {
            require_metrics_token(app, &request)?;
            let body = metrics::render(&stats::overview(app).await?);
            Ok(http::Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, metrics::CONTENT_TYPE)
                .header(header::CACHE_CONTROL, "no-store")
                .body(body.into_bytes())
                .expect("static response parts are valid"))
        }
        RouteId::DashboardPage => Ok(page_or_error(app, get(app, tail, &request).await)),
        RouteId::DashboardAction => Ok(page_or_error(app, post(app, tail, &request).await)),
        _ => Err(Error::NotFound(format!("no dashboard route for {}", request.uri().path()))),
    }
}

/// `GET /metrics`: the admin token, or the token of its own (so a scraper needs no admin rights).
fn require_metrics_token<D: Database, H, C>(app: &App<D, H, C>, request: &HttpRequest) -> Result<()> {
    let presented = bearer_token(request);
    if let Some(token) = &app.config.metrics_token
        && secret_matches(presented, token)
    {
        return Ok(());
    }
    require_admin(app, request)
}

/// The keys of sessions and CSRF tokens; without an admin token nobody can sign in.
fn keys<D: Database, H, C>(app: &App<D, H, C>) -> Result<Keys> {
    let token = app
        .config
        .admin_token
        .as_ref()
        .ok_or(ConfigError::Missing { setting: "admin_token", consequence: "nobody can sign in to the dashboard" })?;
    Ok(Keys::from_admin_token(token))
}

/// The signed-in session of a request: a cookie signed by us, not expired, not signed out.
struct SignedIn {
    session: Session,
    csrf: String,
}

async fn signed_in<D: Database, H, C: Clock>(
    app: &App<D, H, C>,
    keys: &Keys,
    request: &HttpRequest,
) -> Result<Option<SignedIn>> {
    let Some(session) = session::cookie_of(request).and_then(|v| keys.verify_cookie(v, app.clock.now())) else {
        return Ok(None);
    };
    if !sessions::is_live(&app.db.connect().await?, &session.id).await? {
        return Ok(None);
    }
    let csrf = keys.csrf_token(&session);
    Ok(Some(SignedIn { session, csrf }))
}

async fn get<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tail: &str,
    request: &HttpRequest,
) -> Result<HttpResponse> {
    let keys = keys(app)?;
    let path = tail.trim_end_matches('/');
    let user = signed_in(app, &keys, request).await?;
    if path == "/sign-in" {
        let next = safe_next(query_param(request, "next").as_deref());
        return Ok(match user {
            Some(_) => redirect(&next),
            None => html(StatusCode::OK, pages::sign_in(&next, None)),
        });
    }
    let Some(user) = user else {
        let here = format!("/dashboard{path}");
        let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
        return Ok(redirect(&format!("/dashboard/sign-in?next={next}")));
    };
    let csrf = user.csrf.as_str();
    let body = match path {
        "" => pages::overview(&stats::overview(app).await?, csrf),
        "/catalog" => {
            let (catalog, lists) = futures::try_join!(stats::catalog(app), stats::catalog_lists(app, Rows::DETAIL))?;
            pages::catalog(&catalog, &lists.refusals, csrf)
        }
        "/freshness" => {
            let (freshness, overdue) =
                futures::try_join!(stats::freshness(app), stats::most_overdue(app, Rows::DETAIL))?;
            pages::freshness(&freshness, &overdue, csrf)
        }
        "/runs" => {
            let (runs, recent) = futures::try_join!(stats::runs(app), stats::recent_runs(app, Rows::DETAIL))?;
            pages::runs(&runs, &recent, csrf)
        }
        "/queue" => {
            let notice = query_param(request, "retried")
                .and_then(|n| n.parse::<u64>().ok())
                .map(|n| format!("{n} failed row{} queued again.", if n == 1 { "" } else { "s" }));
            pages::queue(&stats::queue(app, Rows::DETAIL).await?, csrf, notice)
        }
        "/tmdb" => pages::tmdb(&stats::tmdb(app).await?, csrf),
        "/changes" => pages::changes(&stats::changes(app, Rows::DETAIL).await?, csrf),
        "/billing" => pages::billing(&stats::billing(app, Rows::DETAIL).await?, csrf),
        run if run.starts_with("/runs/") => {
            let id = run["/runs/".len()..].parse::<i64>().map_err(|_| Error::NotFound(format!("no run {run}")))?;
            let found = stats::run(app, id).await?.ok_or_else(|| Error::NotFound(format!("no run {id}")))?;
            pages::run(&found, csrf)
        }
        other => return Err(Error::NotFound(format!("no dashboard page /dashboard{other}"))),
    };
    Ok(html(StatusCode::OK, body))
}

async fn post<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    tail: &str,
    request: &HttpRequest,
) -> Result<HttpResponse> {
    refuse_other_sites(request)?;
    let keys = keys(app)?;
    let form = Form::parse(request.body());
    let path = tail.trim_end_matches('/');
    if path == "/sign-in" {
        return sign_in(app, &keys, form.field("token").unwrap_or(""), &safe_next(form.field("next")), request).await;
    }
    let Some(user) = signed_in(app, &keys, request).await? else {
        return Ok(redirect("/dashboard/sign-in"));
    };
    if !keys.csrf_matches(&user.session, form.field("csrf").unwrap_or("")) {
        crate::log::event(
            "warn",
            app.function,
            "dashboard form refused: no or wrong CSRF token",
            serde_json::json!({"path": path}),
        );
        return Err(Error::Forbidden(
            "this form was not sent from this dashboard session (its CSRF token is missing or wrong): reload the page and try again"
                .into(),
        ));
    }
    match path {
        "/sign-out" => {
            sessions::sign_out(&app.db.connect().await?, &user.session.id).await?;
            let mut response = redirect("/dashboard/sign-in");
            set_cookie(&mut response, &session::clear_cookie(session::over_https(request)));
            Ok(response)
        }
        "/queue/retry" => {
            let only = retry_target(form.field("all"), form.field("tmdb_id"))?;
            let retried = queue::retry_failed(&app.db.connect().await?, only.as_deref()).await?;
            crate::log::event(
                "info",
                app.function,
                "failed queue rows retried from the dashboard",
                serde_json::json!({"rows": retried, "tmdb_ids": only}),
            );
            Ok(redirect(&format!("/dashboard/queue?retried={retried}")))
        }
        other => Err(Error::NotFound(format!("no dashboard action /dashboard{other}"))),
    }
}

/// Checks the admin token of the sign-in form, after waiting for a slot of the throttle.
async fn sign_in<D: Database, H: HttpClient, C: Clock>(
    app: &App<D, H, C>,
    keys: &Keys,
    presented: &str,
    next: &str,
    request: &HttpRequest,
) -> Result<HttpResponse> {
    let started = app.clock.now();
    let deadline = app.deadline(started);
    let max_wait = (deadline - started).to_std().unwrap_or_default().saturating_sub(throttle::ANSWER_MARGIN);
    let slot = {
        let conn = app.db.connect().await?;
        sessions::take_slot(&conn, throttle::SCOPE, throttle::SPACING_MS, throttle::FORGET_AFTER, max_wait).await?
    };
    match slot {
        sessions::Slot::Refused { retry_in } => {
            let secs = retry_in.as_secs_f64().ceil().max(1.0) as u64;
            crate::log::event(
                "warn",
                app.function,
                "dashboard sign-in throttled",
                serde_json::json!({"retry_in_secs": secs}),
            );
            let message = format!("Too many failed sign-ins: the next attempt is possible in {secs} s.");
            let mut response = html(StatusCode::TOO_MANY_REQUESTS, pages::sign_in(next, Some(&message)));
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return Ok(response);
        }
        // The wait fits before the deadline (the slot was taken only if so).
        sessions::Slot::After(wait) if wait > Duration::ZERO => app.clock.sleep(wait).await,
        sessions::Slot::After(_) => {}
    }
    let expected = app.config.admin_token.as_ref().expect("keys exist only with an admin token");
    let accepted = secret_matches(presented, expected);
    let conn = app.db.connect().await?;
    sessions::record_attempt(&conn, throttle::SCOPE, accepted, throttle::SPACING_MS, throttle::FORGET_AFTER).await?;
    if !accepted {
        crate::log::event("warn", app.function, "dashboard sign-in refused: wrong admin token", serde_json::json!({}));
        return Ok(html(StatusCode::UNAUTHORIZED, pages::sign_in(next, Some("That is not the admin token."))));
    }
    let id = session::new_session_id().map_err(|e| Error::Randomness(format!("no random session id: {e}")))?;
    let new = Session { id, expires: app.clock.now() + session::LIFETIME };
    sessions::create(&conn, &new.id, new.expires).await?;
    crate::log::event("info", app.function, "dashboard sign-in", serde_json::json!({}));
    let mut response = redirect(next);
    set_cookie(&mut response, &session::set_cookie(&keys.cookie_value(&new), session::over_https(request)));
    Ok(response)
}

/// A browser says where a request comes from (`Sec-Fetch-Site`): a form posted from another
/// site, or another origin of this one, is refused before anything else (the CSRF token would
/// refuse it too; this holds even for a page that learned a token).
fn refuse_other_sites(request: &HttpRequest) -> Result<()> {
    let site = request.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or("");
    if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
        return Err(Error::Forbidden("dashboard forms are accepted from the dashboard only".into()));
    }
    Ok(())
}

/// The path of every page of the navigation, in its order (for benchmarks and browser tests).
pub fn page_paths() -> impl Iterator<Item = &'static str> {
    pages::Section::NAV.iter().map(|s| s.href())
}

/// A form's fields (`application/x-www-form-urlencoded`): the first value given for a name.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What the queue's retry form asks for: every failed row (`all=1`, `None`) or one movie's.
pub(crate) fn retry_target(all: Option<&str>, tmdb_id: Option<&str>) -> Result<Option<Vec<i64>>> {
    match (all, tmdb_id) {
        (Some("1"), _) => Ok(None),
        (_, Some(id)) => Ok(Some(vec![crate::api::catalog::query::path_id(Some(id), "tmdb_id")?])),
        _ => Err(Error::BadRequest("say which failed row to retry (`tmdb_id`), or all of them (`all=1`)".into())),
    }
}

/// Where the sign-in form goes after signing in: a dashboard path, never another site.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/dashboard" || n.starts_with("/dashboard/"))
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_".contains(&b)) =>
        {
            n.to_owned()
        }
        _ => "/dashboard".to_owned(),
    }
}

fn query_param(request: &HttpRequest, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// An HTML page with the headers every page has.
fn html(status: StatusCode, body: String) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::CONTENT_SECURITY_POLICY, pages::CONTENT_SECURITY_POLICY.as_str())
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .body(body.into_bytes())
        .expect("static response parts are valid")
}

/// `303 See Other`: after a form, the browser gets the page with a GET.
fn redirect(location: &str) -> HttpResponse {
    http::Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Vec::new())
        .expect("a dashboard path is a valid header value")
}

fn set_cookie(response: &mut HttpResponse, value: &str) {
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(value).expect("cookie values are ASCII"));
}

/// An error as a page: its status and what `api::error` says callers may be told.
fn page_or_error<D: Database, H, C>(app: &App<D, H, C>, result: Result<HttpResponse>) -> HttpResponse {
    result.unwrap_or_else(|e| {
        let (status, _) = crate::api::status_and_code(&e);
        let message = crate::api::public_message(app.function, &e);
        html(status, pages::error(status, &message, None))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_pages_are_places_to_go_after_sign_in() {
        assert_eq!(safe_next(Some("/dashboard/runs/12")), "/dashboard/runs/12");
        assert_eq!(safe_next(Some("/dashboard")), "/dashboard");
        for bad in
            ["https://evil.example/dashboard", "//evil.example", "/dashboardx", "/dashboard/../x", "/dashboard/a?b", ""]
        {
            assert_eq!(safe_next(Some(bad)), "/dashboard", "{bad}");
        }
        assert_eq!(safe_next(None), "/dashboard");
    }

    #[test]
    fn forms_from_other_sites_are_refused() {
        let with = |site: &str| http::Request::builder().header("sec-fetch-site", site).body(Vec::new()).unwrap();
        assert!(refuse_other_sites(&with("same-origin")).is_ok());
        assert!(refuse_other_sites(&with("none")).is_ok());
        assert!(matches!(refuse_other_sites(&with("cross-site")), Err(Error::Forbidden(_))));
        assert!(matches!(refuse_other_sites(&with("same-site")), Err(Error::Forbidden(_))));
    }
}
