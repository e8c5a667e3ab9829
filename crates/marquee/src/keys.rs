//! Issuing the catalog API's keys: `marquee keys create` and `POST /api/admin/keys` both come
//! here. The key is returned once, as a [`Secret`] (it cannot be printed by accident); only its
//! SHA-256 is stored.

use crate::config::Secret;
use crate::db::api_keys::{self, KeyRecord};
use crate::domain::api_key;
use crate::error::{Error, Result};
use crate::ports::Connection;

/// Longest key name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

pub struct IssuedKey {
    /// Shown once, then gone: nothing can show it again.
    pub key: Secret,
    pub record: KeyRecord,
}

/// A customer id and key name as a request or the command line gave them, checked.
pub fn validate(customer_id: &str, name: Option<&str>) -> Result<()> {
    if !api_key::is_customer_id(customer_id) {
        return Err(Error::BadRequest(format!(
            "`customer` must be a Stripe customer id like \"cus_NffrFeUfNV2Hib\", got {:?}",
            customer_id.chars().take(60).collect::<String>()
        )));
    }
    if let Some(name) = name
        && (name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control))
    {
        return Err(Error::BadRequest(format!("`name` must be 1 to {MAX_NAME_CHARS} printable characters")));
    }
    Ok(())
}

/// Makes a key for `customer_id` (a customer without a subscription is on the free tier).
pub async fn issue(conn: &impl Connection, customer_id: &str, name: Option<&str>) -> Result<IssuedKey> {
    validate(customer_id, name)?;
    let key = api_key::generate().map_err(|e| Error::Randomness(e.to_string()))?;
    let record = api_keys::insert(conn, customer_id, name.map(str::trim), &api_key::hash(&key)).await?;
    Ok(IssuedKey { key: Secret::new(key), record })
}
