//! Scheduling: which HTTP route each scheduled job calls and with what body, the exact request a
//! cron bridge sends, how its answer is judged, and cron-expression conversion.
//!
//! Every scheduled job is an HTTP route (all logic stays there); a scheduler only calls it with
//! the admin token. *When* a job runs is defined once, in `spin.toml`'s `[[trigger.cron]]`
//! entries (six fields, seconds first, UTC); every other form (crontab, Kubernetes, GitHub
//! Actions) is converted from those by [`spin_cron_to_five_fields`]. Nothing here talks to the
//! network: the bridge component (`functions/cron-bridge`) only translates [`bridge_request`]
//! into a `wasi:http` request and its answer into [`judge_response`].

use std::fmt;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, Request, Uri};
use serde_json::Value as Json;

/// A scheduled job: the cron component (its `[component.<name>]` in `spin.toml`) that calls
/// one admin route with one body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// The cron component in `spin.toml`.
    pub component: &'static str,
    /// The route it calls (a `POST` route of [`crate::api::ROUTES`]).
    pub path: &'static str,
    /// The JSON body it sends; always marks `"trigger_type": "scheduled"`.
    pub body: &'static str,
    pub description: &'static str,
}

/// Every scheduled job. `spin.toml` declares one cron component per job (a test checks it);
/// the cron expressions themselves live only in `spin.toml`.
pub static JOBS: &[Job] = &[
    Job {
        component: "cron-weekly-ingest",
        path: "/functions/v1/scheduled-ingest",
        body: r#"{"source": "all", "trigger_type": "scheduled"}"#,
        description: "weekly scheduled ingest of TMDB's lists",
    },
    Job {
        component: "cron-daily-refresh",
        path: "/functions/v1/daily-refresh",
        body: r#"{"trigger_type": "scheduled"}"#,
        description: "daily refresh of changed and stale movies",
    },
];

/// The `User-Agent` of bridge requests, so the route's logs can tell a bridge from a person.
pub const BRIDGE_USER_AGENT: &str = "marquee-cron-bridge";

/// Largest part of an error answer's body quoted in the bridge's error.
const QUOTED_BODY_CHARS: usize = 300;

/// Why a bridge request cannot be built. Never contains the admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeError {
    InvalidUrl(String),
    InvalidToken(&'static str),
    InvalidBody(String),
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::InvalidUrl(m) => write!(f, "invalid `target_url`: {m}"),
            BridgeError::InvalidToken(m) => write!(f, "invalid `admin_token`: {m}"),
            BridgeError::InvalidBody(m) => write!(f, "invalid `body`: {m}"),
        }
    }
}

impl std::error::Error for BridgeError {}

/// The request a cron bridge sends on each tick: `POST target_url` with
/// `Authorization: Bearer <admin_token>` and the JSON `body`, which must be an object; its
/// `trigger_type` is set to `"scheduled"` when absent and must not be anything else.
///
/// `target_url` is absolute (`http` or `https`, a host, a path) and carries no credentials.
pub fn bridge_request(target_url: &str, admin_token: &str, body: &str) -> Result<Request<Vec<u8>>, BridgeError> {
    let uri = target_uri(target_url)?;
    let token = admin_token.trim();
    if token.is_empty() {
        return Err(BridgeError::InvalidToken("it is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BridgeError::InvalidToken("it holds characters that cannot go in a header"));
    }
    let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| BridgeError::InvalidToken("it cannot go in a header"))?;
    authorization.set_sensitive(true);
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(AUTHORIZATION, authorization)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, BRIDGE_USER_AGENT)
        .body(scheduled_body(body)?)
        .map_err(|e| BridgeError::InvalidUrl(e.to_string()))
}

fn target_uri(target_url: &str) -> Result<Uri, BridgeError> {
    let bad = |m: &str| Err(BridgeError::InvalidUrl(format!("{m}, got {target_url:?}")));
    let Ok(uri) = target_url.trim().parse::<Uri>() else { return bad("not a URL") };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return bad("must start with http:// or https://"),
    }
    let Some(authority) = uri.authority() else { return bad("has no host") };
    if authority.as_str().contains('@') {
        return Err(BridgeError::InvalidUrl(
            "must not carry credentials (the admin token goes in `admin_token`)".into(),
        ));
    }
    if authority.host().is_empty() {
        return bad("has no host");
    }
    if uri.path().is_empty() || uri.path() == "/" {
        return bad("must name the route, e.g. http://127.0.0.1:3000/functions/v1/daily-refresh");
    }
    Ok(uri)
}

/// The body as sent: a JSON object marked `"trigger_type": "scheduled"`.
pub fn scheduled_body(body: &str) -> Result<Vec<u8>, BridgeError> {
    let body = if body.trim().is_empty() { "{}" } else { body };
    let mut value: Json = serde_json::from_str(body).map_err(|e| BridgeError::InvalidBody(format!("not JSON: {e}")))?;
    let Some(object) = value.as_object_mut() else {
        return Err(BridgeError::InvalidBody("must be a JSON object".into()));
    };
    match object.get("trigger_type") {
        None => {
            object.insert("trigger_type".into(), Json::from("scheduled"));
        }
        Some(Json::String(t)) if t == "scheduled" => {}
        Some(other) => {
            return Err(BridgeError::InvalidBody(format!("`trigger_type` must be \"scheduled\", got {other}")));
        }
    }
    Ok(value.to_string().into_bytes())
}

/// Judges the route's answer: any 2xx is success; anything else is an error naming the status
/// and quoting the start of the body, with the admin token blanked out should it appear.
pub fn judge_response(target_url: &str, status: u16, body: &[u8], admin_token: &str) -> Result<(), String> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(body);
    let mut quoted: String = text.trim().chars().take(QUOTED_BODY_CHARS).collect();
    if text.trim().chars().count() > QUOTED_BODY_CHARS {
        quoted.push('…');
    }
    Err(redact(&format!("POST {target_url} answered {status}: {quoted}"), admin_token))
}

/// `text` with every occurrence of `secret` replaced by `***` (nothing to do for an empty secret).
pub fn redact(text: &str, secret: &str) -> String {
    crate::config::redact(text, secret)
}

/// Why a cron expression cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// Converts a six-field cron expression of Spin's cron trigger (`sec min hour day-of-month month
/// day-of-week`, optionally a seventh `year` field that must be `*`) into the five fields of
/// crontab, Kubernetes and GitHub Actions (`min hour day-of-month month day-of-week`).
///
/// The seconds field must be `0` (the five-field forms cannot run within a minute). Day and
/// month names become numbers (Sunday = 0), because crontab accepts names only as single
/// values. A numeric day of week is refused: the trigger's cron library counts 1 = Sunday,
/// crontab 0 = Sunday, so only names (`Sun`..`Sat`) mean the same to both. `?` becomes `*`.
pub fn spin_cron_to_five_fields(expression: &str) -> Result<String, CronError> {
    let fail = |m: String| Err(CronError(format!("cron expression {expression:?}: {m}")));
    let fields: Vec<&str> = expression.split_whitespace().collect();
    match fields.len() {
        6 => {}
        7 if fields[6] == "*" || fields[6] == "?" => {}
        7 => return fail("a year field cannot be expressed in five fields".into()),
        n => return fail(format!("expected six fields (sec min hour day-of-month month day-of-week), got {n}")),
    }
    if fields[0] != "0" {
        return fail("the seconds field must be 0 to convert to five fields".into());
    }
    let mut out = Vec::with_capacity(5);
    for (i, (field, max)) in fields[1..6].iter().zip([59, 23, 31, 12, 7]).enumerate() {
        let converted = match i {
            3 => names_to_numbers(field, &MONTHS, 1),
            4 => {
                if field.split([',', '-', '/']).any(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    && !field.starts_with("*/")
                {
                    return fail(format!(
                        "use day names (Sun..Sat) in the day-of-week field, not numbers, got {field:?}"
                    ));
                }
                names_to_numbers(field, &DAYS, 0)
            }
            _ => Ok(field.to_string()),
        };
        let converted = match converted {
            Ok(c) => c,
            Err(m) => return fail(m),
        };
        let converted = if converted == "?" { "*".to_owned() } else { converted };
        if let Err(m) = check_field(&converted, max) {
            return fail(m);
        }
        out.push(converted);
    }
    Ok(out.join(" "))
}

/// Replaces names (case-insensitive, e.g. `Sun`, `MON`) by their number, `first` being the
/// number of the first name.
fn names_to_numbers(field: &str, names: &[&str], first: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| -> Result<(), String> {
        if !word.is_empty() {
            let lower = word.to_ascii_lowercase();
            let n = names.iter().position(|n| *n == lower).ok_or_else(|| format!("unknown name {word:?}"))?;
            out.push_str(&(n + first).to_string());
            word.clear();
        }
        Ok(())
    };
    for c in field.chars() {
        if c.is_ascii_alphabetic() {
            word.push(c);
        } else {
            flush(&mut word, &mut out)?;
            out.push(c);
        }
    }
    flush(&mut word, &mut out)?;
    Ok(out)
}

/// Only `*`, `?`, numbers, `,`, `-` and `/` in a five-field field, numbers within range.
fn check_field(field: &str, max: u32) -> Result<(), String> {
    if field.is_empty() || !field.chars().all(|c| c.is_ascii_digit() || "*,-/?".contains(c)) {
        return Err(format!("unsupported field {field:?}"));
    }
    for number in field.split([',', '-', '/']).filter(|p| !p.is_empty() && *p != "*" && *p != "?") {
        match number.parse::<u32>() {
            Ok(n) if n <= max => {}
            _ => return Err(format!("{number:?} is out of range in {field:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ROUTES, requests};

    const URL: &str = "http://127.0.0.1:3000/functions/v1/daily-refresh";

    #[test]
    fn bridge_request_posts_the_body_with_the_admin_token() {
        let r = bridge_request(URL, "s3cret", r#"{"batch_size": 10}"#).unwrap();
        assert_eq!(r.method(), Method::POST);
        assert_eq!(r.uri().to_string(), URL);
        assert_eq!(r.headers()[AUTHORIZATION], "Bearer s3cret");
        assert!(r.headers()[AUTHORIZATION].is_sensitive());
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()[USER_AGENT], BRIDGE_USER_AGENT);
        let body: Json = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body, serde_json::json!({"batch_size": 10, "trigger_type": "scheduled"}));
        let https =
            bridge_request("https://marquee.example.com/functions/v1/scheduled-ingest?x=1", " tok ", "").unwrap();
        assert_eq!(https.uri().path_and_query().unwrap().as_str(), "/functions/v1/scheduled-ingest?x=1");
        assert_eq!(https.headers()[AUTHORIZATION], "Bearer tok");
        assert_eq!(https.body(), br#"{"trigger_type":"scheduled"}"#);
    }

    #[test]
    fn bridge_request_refuses_bad_input_without_quoting_the_token() {
        for url in [
            "",
            "127.0.0.1:3000/x",
            "ftp://h/x",
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/",
            "http://user:pw@h/x",
            "not a url",
        ] {
            assert!(matches!(bridge_request(url, "tok", "{}"), Err(BridgeError::InvalidUrl(_))), "{url:?}");
        }
        assert_eq!(bridge_request(URL, "  ", "{}").unwrap_err(), BridgeError::InvalidToken("it is empty"));
        let e = bridge_request(URL, "zq9 x\n", "{}").unwrap_err();
        assert!(matches!(e, BridgeError::InvalidToken(_)) && !e.to_string().contains("zq9"), "{e}");
        for body in ["[]", "nope", "1", r#"{"trigger_type": "manual"}"#, r#"{"trigger_type": 1}"#] {
            assert!(matches!(bridge_request(URL, "tok", body), Err(BridgeError::InvalidBody(_))), "{body:?}");
        }
    }

    #[test]
    fn answers_other_than_2xx_are_errors_without_the_token() {
        assert_eq!(judge_response(URL, 200, b"{}", "tok"), Ok(()));
        assert_eq!(judge_response(URL, 204, b"", "tok"), Ok(()));
        let e = judge_response(
            URL,
            401,
            br#"{"error": {"code": "unauthorized", "message": "bad token zq9tok"}}"#,
            "zq9tok",
        )
        .unwrap_err();
        assert!(e.starts_with(&format!("POST {URL} answered 401: ")), "{e}");
        assert!(e.contains("unauthorized") && e.contains("bad token ***") && !e.contains("zq9"), "{e}");
        let long = judge_response(URL, 500, "x".repeat(5000).as_bytes(), "").unwrap_err();
        assert!(long.len() < 500 && long.ends_with('…'), "{long}");
        assert!(judge_response(URL, 302, b"", "tok").is_err());
    }

    #[test]
    fn every_job_calls_a_post_route_with_a_valid_scheduled_body() {
        for job in JOBS {
            let route = ROUTES
                .iter()
                .find(|r| r.path == job.path)
                .unwrap_or_else(|| panic!("{}: no route {}", job.component, job.path));
            assert_eq!(route.method, Method::POST, "{}", job.component);
            let sent: Json = serde_json::from_slice(&scheduled_body(job.body).unwrap()).unwrap();
            assert_eq!(
                serde_json::from_str::<Json>(job.body).unwrap(),
                sent,
                "{}: body must already be marked scheduled",
                job.component
            );
            let fields = sent.as_object().unwrap();
            let trigger_type = match job.path {
                "/functions/v1/scheduled-ingest" => requests::scheduled(fields).unwrap().trigger_type,
                "/functions/v1/daily-refresh" => requests::refresh(fields).unwrap().trigger_type,
                "/functions/v1/batch-ingest" => requests::batch(fields).unwrap().trigger_type,
                other => panic!("no request parser known for {other}"),
            };
            assert_eq!(trigger_type, "scheduled");
            assert!(
                !job.body.contains("{{") && !job.body.contains("}}"),
                "Spin would read `{{{{`/`}}}}` as a template"
            );
        }
    }

    #[test]
    fn six_field_crons_convert_to_five_fields() {
        let cases = [
            ("0 0 10 * * Sun", "0 10 * * 0"),
            ("0 0 11 * * *", "0 11 * * *"),
            ("0 30 2 1 Jan-Mar Mon-Fri", "30 2 1 1-3 1-5"),
            ("0 */15 * * * *", "*/15 * * * *"),
            ("0 0 6,18 ? * SAT,sun", "0 6,18 * * 6,0"),
            ("0 0 10 * * Sun *", "0 10 * * 0"),
            ("0  5  4 * *   *", "5 4 * * *"),
        ];
        for (six, five) in cases {
            assert_eq!(spin_cron_to_five_fields(six).as_deref(), Ok(five), "{six}");
        }
        for bad in [
            "0 10 * * 0",
            "30 0 10 * * *",
            "0 0 10 * * 1",
            "0 0 10 * * 0-6",
            "0 0 10 * * Funday",
            "0 61 * * * *",
            "0 0 24 * * *",
            "0 0 10 * * * 2030",
            "0 0 10 L * *",
            "",
        ] {
            assert!(spin_cron_to_five_fields(bad).is_err(), "{bad:?}");
        }
    }
}
