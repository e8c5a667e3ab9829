//! API keys of the catalog API: what one looks like, how one is made, and the only form of it
//! that is ever stored (its SHA-256).
//!
//! A key is `mq_live_` followed by 32 characters drawn uniformly from `[0-9A-Za-z]` with the
//! operating system's CSPRNG (`getrandom`; `wasi:random` on Spin): 32 × log2(62) ≈ 190 random
//! bits. The prefix makes a leaked key recognisable to secret scanners and to people. With that
//! much randomness a fast hash is as safe as a slow one (there is no dictionary to try), so keys
//! are looked up by their SHA-256, computed here: the key itself never reaches the database, its
//! logs or ours.

use sha2::{Digest, Sha256};

/// What every key starts with.
pub const PREFIX: &str = "mq_live_";
/// Random characters after the prefix.
pub const RANDOM_CHARS: usize = 32;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new key. Fails only when the system has no randomness to give.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut key = String::with_capacity(PREFIX.len() + RANDOM_CHARS);
    key.push_str(PREFIX);
    let mut buffer = [0u8; 64];
    while key.len() < PREFIX.len() + RANDOM_CHARS {
        getrandom::fill(&mut buffer)?;
        // Rejection sampling: 248 = 4 × 62, so the bytes kept map uniformly onto the alphabet.
        for b in buffer.iter().filter(|b| **b < 248) {
            if key.len() == PREFIX.len() + RANDOM_CHARS {
                break;
            }
            key.push(ALPHABET[(*b % 62) as usize] as char);
        }
    }
    Ok(key)
}

/// Whether `text` has the shape of a key (a cheap refusal before any database work).
pub fn is_well_formed(text: &str) -> bool {
    text.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.len() == RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The stored form of a key: its SHA-256, in lower-case hex.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A Stripe customer id (`cus_…`): what keys are issued to.
pub fn is_customer_id(text: &str) -> bool {
    text.strip_prefix("cus_").is_some_and(|rest| {
        !rest.is_empty() && text.len() <= 255 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_well_formed_and_distinct() {
        let keys: std::collections::HashSet<String> = (0..1000).map(|_| generate().unwrap()).collect();
        assert_eq!(keys.len(), 1000);
        assert!(keys.iter().all(|k| is_well_formed(k)), "{keys:?}");
    }

    #[test]
    fn every_character_of_the_alphabet_is_drawn() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(generate().unwrap()[PREFIX.len()..].bytes());
        }
        assert_eq!(seen.len(), 62, "a skewed draw would miss characters");
    }

    #[test]
    fn malformed_keys_are_recognised() {
        for bad in [
            "",
            "mq_live_",
            "mq_live_short",
            "sk_live_0123456789abcdefghijklmnopqrstuv",
            "mq_live_0123456789abcdefghijklmnopqrstu!",
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
        assert!(is_well_formed("mq_live_0123456789abcdefghijklmnopqrstuv"));
    }

    #[test]
    fn the_stored_form_is_the_sha256() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn customer_ids_are_stripe_shaped() {
        assert!(is_customer_id("cus_NffrFeUfNV2Hib"));
        assert!(is_customer_id("cus_local_dev"));
        for bad in ["", "cus_", "NffrFeUfNV2Hib", "cus_a b", "cus_é", &format!("cus_{}", "a".repeat(252))] {
            assert!(!is_customer_id(bad), "{bad}");
        }
    }
}
