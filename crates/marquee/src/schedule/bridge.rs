//! The cron bridge's side of a scheduled call: the request it sends on each tick and how it
//! judges the answer. Nothing here talks to the network.

use std::fmt;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, Request, Uri};
use serde_json::Value as Json;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
