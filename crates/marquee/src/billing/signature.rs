//! Stripe webhook signatures, exactly as Stripe specifies them.
//!
//! Header: `Stripe-Signature: t=<unix seconds>,v1=<hex>,v1=<hex>,v0=<hex>`. The signed payload
//! is `"{t}.{raw body}"`, signed with HMAC-SHA256 under the endpoint's secret. Any `v1` may
//! match (Stripe sends several while a secret is being rolled), any configured secret is
//! accepted (several endpoints, or an old and a new secret), `v0` and unknown schemes are
//! ignored, comparisons are constant-time, and the timestamp must be within the tolerance of
//! the clock in both directions (a replayed old delivery and a forged future one both fail).
//!
//! Errors never carry a secret or an expected signature.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use crate::config::Secret;

/// Stripe's default tolerance.
pub const TOLERANCE_SECS: i64 = 300;

/// The header carrying the signature.
pub const HEADER: &str = "stripe-signature";

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1,
    #[error("the Stripe-Signature timestamp is outside the tolerance of {tolerance} s (off by {skew} s)")]
    OutsideTolerance { skew: i64, tolerance: i64 },
    #[error("no v1 signature matches the payload")]
    Mismatch,
}

/// A parsed `Stripe-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    /// Every `v1` signature that is well-formed hex of the right length (others cannot match).
    pub v1: Vec<[u8; 32]>,
}

/// Parses `t=...,v1=...,...`: items are `key=value`, separated by commas (whitespace around
/// items is tolerated); exactly one `t`, at least one `v1`; other schemes (`v0`) are ignored.
pub fn parse_header(header: &str) -> Result<SignatureHeader, SignatureError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    let mut v1_seen = false;
    for item in header.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((key, value)) = item.split_once('=') else {
            return Err(SignatureError::Malformed("an item is not key=value"));
        };
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed("more than one timestamp"));
                }
                let value = value.trim();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SignatureError::Malformed("the timestamp is not an integer"));
                }
                timestamp =
                    Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed("the timestamp is out of range"))?);
            }
            "v1" => {
                v1_seen = true;
                let mut bytes = [0u8; 32];
                if hex::decode_to_slice(value.trim(), &mut bytes).is_ok() {
                    v1.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no timestamp"))?;
    if !v1_seen {
        return Err(SignatureError::NoV1);
    }
    Ok(SignatureHeader { timestamp, v1 })
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// The hex `v1` signature of `payload` at `timestamp` under `secret`.
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, payload))
}

/// A complete `Stripe-Signature` header value, as Stripe would send it (used by
/// `marquee stripe sign` and by the tests).
pub fn header_value(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, payload))
}

/// Verifies a delivery: `header` is the `Stripe-Signature` value (`None` when absent),
/// `payload` the raw body. Returns the signed timestamp.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[Secret],
    now: DateTime<Utc>,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    let parsed = parse_header(header)?;
    // Every (secret, signature) pair is compared, without stopping at the first match.
    let mut matched = Choice::from(0);
    for secret in secrets.iter().filter(|s| !s.expose().is_empty()) {
        let expected = mac(secret.expose(), parsed.timestamp, payload);
        for candidate in &parsed.v1 {
            matched |= expected.ct_eq(candidate);
        }
    }
    if !bool::from(matched) {
        return Err(SignatureError::Mismatch);
    }
    let skew = now.timestamp().saturating_sub(parsed.timestamp);
    if skew.abs() > tolerance_secs {
        return Err(SignatureError::OutsideTolerance { skew, tolerance: tolerance_secs });
    }
    Ok(parsed.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    #[test]
    fn matches_a_known_hmac_sha256_vector() {
        // The signed payload is "{t}.{body}", HMAC-SHA256 under the secret; and the HMAC itself
        // agrees with RFC 4231 test case 2.
        let mut direct = HmacSha256::new_from_slice(b"whsec_test").unwrap();
        direct.update(b"1700000000.");
        direct.update(BODY);
        assert_eq!(sign("whsec_test", 1_700_000_000, BODY), hex::encode(direct.finalize().into_bytes()));
        let mut rfc = HmacSha256::new_from_slice(b"Jefe").unwrap();
        rfc.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(rfc.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn parses_timestamps_v1_and_ignores_other_schemes() {
        let sig = sign("k", 5, BODY);
        let parsed = parse_header(&format!(" t=5 , v1={sig},v0=abcd,v1=nothex,x=y")).unwrap();
        assert_eq!(parsed.timestamp, 5);
        assert_eq!(parsed.v1.len(), 1, "the non-hex v1 cannot match and is dropped");
        assert_eq!(parse_header("v1=ab,t=7").unwrap().timestamp, 7, "order does not matter");
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(parse_header("t=5"), Err(SignatureError::NoV1));
        assert_eq!(parse_header("t=5,v0=abc"), Err(SignatureError::NoV1));
        assert!(matches!(parse_header("v1=abc"), Err(SignatureError::Malformed(_))));
        assert!(matches!(parse_header("garbage"), Err(SignatureError::Malformed(_))));
        assert!(matches!(parse_header("t=abc,v1=ab"), Err(SignatureError::Malformed(_))));
        assert!(matches!(parse_header("t=-5,v1=ab"), Err(SignatureError::Malformed(_))));
        assert!(matches!(parse_header("t=1,t=2,v1=ab"), Err(SignatureError::Malformed(_))));
        assert!(matches!(parse_header("t=99999999999999999999,v1=ab"), Err(SignatureError::Malformed(_))));
        assert_eq!(verify(None, BODY, &secrets(&["k"]), at(5), 300), Err(SignatureError::Missing));
        assert_eq!(verify(Some("  "), BODY, &secrets(&["k"]), at(5), 300), Err(SignatureError::Missing));
    }

    #[test]
    fn any_v1_and_any_secret_may_match() {
        let t = 1_700_000_000;
        let good = sign("whsec_b", t, BODY);
        let bad = sign("whsec_other", t, BODY);
        let header = format!("t={t},v1={bad},v1={good}");
        assert_eq!(verify(Some(&header), BODY, &secrets(&["whsec_a", "whsec_b"]), at(t), 300), Ok(t));
        assert_eq!(verify(Some(&header), BODY, &secrets(&["whsec_a"]), at(t), 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(&header), BODY, &secrets(&[]), at(t), 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(&header), BODY, &secrets(&["", "whsec_b"]), at(t), 300), Ok(t));
    }

    #[test]
    fn tampering_fails() {
        let t = 10_000;
        let header = header_value("k", t, BODY);
        assert_eq!(
            verify(Some(&header), br#"{"id":"evt_2","object":"event"}"#, &secrets(&["k"]), at(t), 300),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is part of what is signed.
        let moved = header.replacen("t=10000", "t=10001", 1);
        assert_eq!(verify(Some(&moved), BODY, &secrets(&["k"]), at(t), 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn the_tolerance_applies_in_both_directions() {
        let t = 1_700_000_000;
        let header = header_value("k", t, BODY);
        let keys = secrets(&["k"]);
        assert_eq!(verify(Some(&header), BODY, &keys, at(t + 300), 300), Ok(t));
        assert_eq!(verify(Some(&header), BODY, &keys, at(t - 300), 300), Ok(t));
        assert_eq!(
            verify(Some(&header), BODY, &keys, at(t + 301), 300),
            Err(SignatureError::OutsideTolerance { skew: 301, tolerance: 300 })
        );
        assert_eq!(
            verify(Some(&header), BODY, &keys, at(t - 301), 300),
            Err(SignatureError::OutsideTolerance { skew: -301, tolerance: 300 })
        );
    }

    #[test]
    fn errors_never_show_secrets_or_signatures() {
        let t = 1;
        let sig = sign("whsec_supersecret", t, BODY);
        let header = format!("t={t},v1={sig}");
        let errors = [
            verify(Some(&header), b"other", &secrets(&["whsec_supersecret"]), at(t), 300).unwrap_err(),
            verify(Some(&header), BODY, &secrets(&["whsec_supersecret"]), at(t + 1000), 300).unwrap_err(),
            verify(Some("t=1"), BODY, &secrets(&["whsec_supersecret"]), at(t), 300).unwrap_err(),
        ];
        for e in errors {
            for text in [e.to_string(), format!("{e:?}")] {
                assert!(!text.contains("supersecret") && !text.contains(&sig), "{text}");
            }
        }
        assert_eq!(format!("{:?}", secrets(&["whsec_supersecret"])), "[Secret(***)]");
    }
}
