//! Browse cursors: opaque to callers, signed, bound to their query, and short-lived.
//!
//! A cursor holds where the previous page ended (its last sort key and work id), the first
//! page's snapshot (`db::browse`), a fingerprint of the query it pages (sort, order, filters:
//! a cursor used with another query is refused), and when the first page was read. It is
//! `base64url(JSON) . base64url(HMAC-SHA256)`, the MAC under a key derived from the admin
//! token, so a tampered or forged cursor is refused (400) before it reaches the database. A
//! cursor expires after [`MAX_AGE_SECS`]: later pages pay for every work written since the
//! first one, and a day is enough to page through the catalog.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Secret;
use crate::db::browse::{After, Browse};
use crate::error::{Error, Result};

pub const MAX_AGE_SECS: i64 = 24 * 3600;
/// Bytes of the MAC kept (128 bits).
const MAC_BYTES: usize = 16;

/// The key cursors are signed with.
pub struct CursorKey([u8; 32]);

impl CursorKey {
    /// Derived from the admin token, so that no setting of its own is needed; a new admin token
    /// makes the cursors in use invalid (callers start again from the first page).
    pub fn from_admin_token(token: &Secret) -> CursorKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(token.expose().as_bytes()).expect("HMAC takes any key");
        mac.update(b"marquee browse cursor v1");
        CursorKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(payload);
        mac
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// The query's fingerprint.
    q: String,
    /// The first page's snapshot.
    s: String,
    /// The last sort key and work id of the previous page.
    k: String,
    i: i64,
    /// When the first page was read (unix seconds).
    t: i64,
}

/// What a cursor is bound to: the sort, the order and every filter (not the limit, which may
/// change from page to page).
pub fn fingerprint(browse: &Browse) -> String {
    let canonical = format!("{}|{}|{:?}", browse.sort.name(), browse.order.name(), browse.filters);
    hex::encode(&Sha256::digest(canonical.as_bytes())[..12])
}

pub fn encode(key: &CursorKey, browse: &Browse, after: &After, first_page_at: i64) -> String {
    let payload = Payload {
        q: fingerprint(browse),
        s: after.snapshot.clone(),
        k: after.key.clone(),
        i: after.work_id,
        t: first_page_at,
    };
    let json = serde_json::to_vec(&payload).expect("a cursor serialises");
    let mac = key.mac(&json).finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(&json), URL_SAFE_NO_PAD.encode(&mac[..MAC_BYTES]))
}

/// The position a cursor holds, and when its first page was read, if `key` signed it for this
/// query and it is not too old at `now` (unix seconds).
pub fn decode(key: &CursorKey, browse: &Browse, cursor: &str, now: i64) -> Result<(After, i64)> {
    const TAMPERED: Error = Error::InvalidCursor("not a cursor this catalog made; start again without `cursor`");
    let (payload, mac) = cursor.split_once('.').ok_or(TAMPERED)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TAMPERED)?;
    let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| TAMPERED)?;
    if mac.len() != MAC_BYTES {
        return Err(TAMPERED);
    }
    key.mac(&payload).verify_truncated_left(&mac).map_err(|_| TAMPERED)?;
    let p: Payload = serde_json::from_slice(&payload).map_err(|_| TAMPERED)?;
    if p.q != fingerprint(browse) {
        return Err(Error::InvalidCursor(
            "this cursor pages another query (sort, order or filters differ); start again without `cursor`",
        ));
    }
    if now - p.t > MAX_AGE_SECS {
        return Err(Error::InvalidCursor("this cursor has expired (older than a day); start again without `cursor`"));
    }
    Ok((After { snapshot: p.s, key: p.k, work_id: p.i }, p.t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::browse::{Filters, Order, Sort};

    fn browse() -> Browse {
        Browse { sort: Sort::Popularity, order: Order::Desc, filters: Filters::default(), limit: 20, after: None }
    }

    fn after() -> After {
        After { snapshot: "741:745:742,743".into(), key: "12.5".into(), work_id: 77 }
    }

    #[test]
    fn a_cursor_round_trips() {
        let key = CursorKey::from_admin_token(&Secret::new("token"));
        let cursor = encode(&key, &browse(), &after(), 1_000);
        assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "{cursor}");
        assert_eq!(decode(&key, &browse(), &cursor, 1_100).unwrap(), (after(), 1_000));
        let other_limit = Browse { limit: 50, ..browse() };
        assert!(decode(&key, &other_limit, &cursor, 1_100).is_ok(), "the limit may change between pages");
    }

    #[test]
    fn tampered_forged_foreign_and_old_cursors_are_refused() {
        let key = CursorKey::from_admin_token(&Secret::new("token"));
        let cursor = encode(&key, &browse(), &after(), 1_000);
        let (payload, mac) = cursor.split_once('.').unwrap();
        let mut json = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let at = json.iter().position(|b| *b == b'7').unwrap();
        json[at] = b'8';
        let tampered = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(&json));
        let other_key = CursorKey::from_admin_token(&Secret::new("another token"));
        let genre = Browse { filters: Filters { genre: Some(18), ..Filters::default() }, ..browse() };
        let by_title = Browse { sort: Sort::Title, order: Order::Asc, ..browse() };
        for (cursor, query) in [
            (tampered.as_str(), browse()),
            (&encode(&other_key, &browse(), &after(), 1_000), browse()),
            (&cursor, genre),
            (&cursor, by_title),
            ("", browse()),
            ("abc", browse()),
            ("abc.def", browse()),
            (&format!("{payload}.{}", &mac[..10]), browse()),
            (&format!("{payload}!.{mac}"), browse()),
        ] {
            assert!(matches!(decode(&key, &query, cursor, 1_100), Err(Error::InvalidCursor(_))), "{cursor}");
        }
        assert!(
            matches!(decode(&key, &browse(), &cursor, 1_000 + MAX_AGE_SECS + 1), Err(Error::InvalidCursor(m)) if m.contains("expired"))
        );
    }
}
