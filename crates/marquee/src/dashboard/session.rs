//! Dashboard sessions: the signed cookie, its CSRF token, and where their key comes from.
//!
//! The key is derived from the admin token (HMAC-SHA256 of a fixed label under it), not a
//! setting of its own: whoever holds the admin token can already do everything the dashboard
//! does, so a second secret would add a thing to configure, store and rotate without adding a
//! boundary, and rotating the admin token — what an operator does when it may have leaked —
//! then signs every session out at once (their signatures no longer verify).
//!
//! The cookie is `<session id>.<expiry, unix seconds>.<HMAC of both, hex>`: a forged or altered
//! cookie is refused without a database round trip, an expired one by its own expiry, and a
//! signed-out one by its `dashboard_sessions` row (so sign-out also ends copies of the cookie).
//! The CSRF token of a form is the HMAC of the session id under the same key, under another
//! label: bound to the session, never stored, and worthless to another session.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::ports::HttpRequest;

/// The session cookie's name.
pub const COOKIE: &str = "marquee_session";

/// The cookie's path: sent with the dashboard's pages and forms, and nothing else.
pub const COOKIE_PATH: &str = "/dashboard";

/// How long a session lasts after sign-in (a working day; no sliding renewal).
pub const LIFETIME: chrono::Duration = chrono::Duration::hours(12);

type HmacSha256 = Hmac<Sha256>;

/// The signing key of sessions and CSRF tokens.
pub struct Keys {
    key: [u8; 32],
}

/// A signed-in session, as its cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub expires: DateTime<Utc>,
}

impl Keys {
    /// The key of every session and CSRF token, derived from the admin token (see the module).
    pub fn from_admin_token(admin_token: &Secret) -> Keys {
        let mut mac = HmacSha256::new_from_slice(admin_token.expose().as_bytes()).expect("HMAC takes any key length");
        mac.update(b"marquee dashboard session key v1");
        Keys { key: mac.finalize().into_bytes().into() }
    }

    fn sign(&self, label: &str, parts: &[&str]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        for part in parts {
            // A separator no part contains, so that ("a", "bc") and ("ab", "c") differ.
            mac.update(b"\n");
            mac.update(part.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// The cookie value of a session.
    pub fn cookie_value(&self, session: &Session) -> String {
        let expires = session.expires.timestamp().to_string();
        format!("{}.{expires}.{}", session.id, self.sign("session", &[&session.id, &expires]))
    }

    /// The session a cookie value names, when its signature is ours and it has not expired at
    /// `now`. (Whether it was signed out is the database's to say.)
    pub fn verify_cookie(&self, value: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut parts = value.split('.');
        let (id, expires, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let expected = self.sign("session", &[id, expires]);
        if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
            return None;
        }
        let expires = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
        (expires > now).then(|| Session { id: id.to_owned(), expires })
    }

    /// The CSRF token of the session's forms.
    pub fn csrf_token(&self, session: &Session) -> String {
        self.sign("csrf", &[&session.id])
    }

    /// Whether a form's CSRF token is the session's (constant-time).
    pub fn csrf_matches(&self, session: &Session, presented: &str) -> bool {
        bool::from(self.csrf_token(session).as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// A new session id: 128 bits from the platform's cryptographic random source.
pub fn new_session_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Whether the request reached us over HTTPS (directly, or through a proxy that says so): the
/// cookie is then `Secure`.
pub fn over_https(request: &HttpRequest) -> bool {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    request.uri().scheme_str() == Some("https")
        || header("x-forwarded-proto").eq_ignore_ascii_case("https")
        // Spin passes the URL the client asked for.
        || header("spin-full-url").starts_with("https://")
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        LIFETIME.num_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session cookie's value in the request's `Cookie` headers.
pub fn cookie_of(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn keys(token: &str) -> Keys {
        Keys::from_admin_token(&Secret::new(token))
    }

    #[test]
    fn a_cookie_verifies_until_it_expires_and_only_under_its_key() {
        let session = Session { id: new_session_id().unwrap(), expires: at(2_000_000_000) };
        assert_eq!(session.id.len(), 32);
        let value = keys("admin").cookie_value(&session);
        assert_eq!(keys("admin").verify_cookie(&value, at(1_999_999_999)), Some(session.clone()));
        assert_eq!(keys("admin").verify_cookie(&value, at(2_000_000_000)), None, "expired");
        assert_eq!(
            keys("another admin token").verify_cookie(&value, at(0)),
            None,
            "a new admin token signs everyone out"
        );
    }

    #[test]
    fn altered_or_malformed_cookies_are_refused() {
        let k = keys("admin");
        let value = k.cookie_value(&Session { id: "ab12".into(), expires: at(2_000_000_000) });
        let (id, rest) = value.split_once('.').unwrap();
        let (expires, signature) = rest.split_once('.').unwrap();
        for forged in [
            format!("ab13.{expires}.{signature}"),
            format!("{id}.2000000001.{signature}"),
            format!("{id}.{expires}.{}", &signature[1..]),
            format!("{id}.{expires}"),
            format!("{value}.x"),
            format!("{id}.{expires}.{}", "0".repeat(64)),
            "not-hex.1.2".to_owned(),
            String::new(),
        ] {
            assert_eq!(k.verify_cookie(&forged, at(0)), None, "{forged}");
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let k = keys("admin");
        let one = Session { id: "01".into(), expires: at(2_000_000_000) };
        let two = Session { id: "02".into(), expires: at(2_000_000_000) };
        let token = k.csrf_token(&one);
        assert!(k.csrf_matches(&one, &token));
        assert!(!k.csrf_matches(&two, &token));
        assert!(!k.csrf_matches(&one, ""));
        assert_ne!(token, k.cookie_value(&one).rsplit('.').next().unwrap(), "another label, another value");
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_https() {
        let plain = set_cookie("v", false);
        assert_eq!(plain, "marquee_session=v; Path=/dashboard; Max-Age=43200; HttpOnly; SameSite=Strict");
        assert!(set_cookie("v", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        let request = http::Request::builder()
            .uri("/dashboard")
            .header("cookie", "a=1; marquee_session=abc.1.f; b=2")
            .header("x-forwarded-proto", "https")
            .body(Vec::new())
            .unwrap();
        assert_eq!(cookie_of(&request), Some("abc.1.f"));
        assert!(over_https(&request));
    }
}
