//! Titles: unique and title-like for every id, and the slugs made from them.

use super::random::splitmix;
use crate::words::*;

/// A unique, title-like string for every id.
///
/// The id is mapped through a seeded pseudo-random permutation of `[0, 16000)` onto
/// (prefix, adjective, noun); ids past 16000 get a sequel number. A permutation keeps titles
/// unique, and a random-looking one keeps neighbouring ids from sharing visible patterns.
pub(crate) fn title(seed: u64, id: u64) -> String {
    const CAP: u64 = (ADJECTIVES.len() * NOUNS.len() * TITLE_PREFIXES.len()) as u64;
    let k = id.saturating_sub(1);
    let (sequel, k) = (k / CAP, k % CAP);
    // Cycle-walking: the Feistel network permutes [0, 2^14); walking until the value lands
    // below CAP again restricts it to a permutation of [0, CAP).
    let mut p = feistel14(seed, k);
    while p >= CAP {
        p = feistel14(seed, p);
    }
    let adjective = ADJECTIVES[(p % 40) as usize];
    let noun = NOUNS[(p / 40 % 50) as usize];
    let prefix = TITLE_PREFIXES[(p / 2000) as usize];
    if sequel == 0 {
        format!("{prefix}{adjective} {noun}")
    } else {
        format!("{prefix}{adjective} {noun} {}", sequel + 1)
    }
}

/// A seeded bijection of `[0, 2^14)`: four Feistel rounds over two 7-bit halves.
fn feistel14(seed: u64, x: u64) -> u64 {
    let (mut left, mut right) = (x >> 7, x & 0x7f);
    for round in 0..4u64 {
        let f = splitmix(seed ^ (round << 32) ^ right) & 0x7f;
        (left, right) = (right, left ^ f);
    }
    (left << 7) | right
}

pub(super) fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_unique_and_title_like() {
        for seed in [0, 42, 7_777] {
            let mut seen = std::collections::HashSet::new();
            for id in 1..=40_000 {
                let t = title(seed, id);
                assert!(t.chars().next().unwrap().is_ascii_uppercase(), "{t}");
                assert!(seen.insert(t.clone()), "duplicate title {t} for id {id}");
            }
        }
    }
}
