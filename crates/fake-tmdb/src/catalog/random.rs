//! Deterministic randomness: every value is drawn from an RNG private to one `(seed, id, salt)`,
//! plus the small formatting helpers the generators share.

use chrono::{Days, NaiveDate};

/// SplitMix64 finaliser: a cheap, well-mixed hash of a u64.
pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, to turn a salt string into a number.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// An RNG private to one `(seed, id, salt)`: one per movie and per part, so generating one
/// piece of data never disturbs another.
pub(crate) fn rng(seed: u64, id: u64, salt: &str) -> fastrand::Rng {
    fastrand::Rng::with_seed(splitmix(splitmix(seed ^ fnv(salt)) ^ id))
}

pub(super) fn pick<'a, T>(r: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[r.usize(..items.len())]
}

/// `/` + 27 alphanumerics + extension, like TMDB image paths.
pub(super) fn image_path(r: &mut fastrand::Rng, ext: &str) -> String {
    let mut s = String::with_capacity(32);
    s.push('/');
    (0..27).for_each(|_| s.push(r.alphanumeric()));
    s.push_str(ext);
    s
}

/// 24 hex digits, like TMDB credit and video ids.
pub(super) fn hex24(r: &mut fastrand::Rng) -> String {
    format!("{:012x}{:012x}", r.u64(..1 << 48), r.u64(..1 << 48))
}

/// Round to `places` decimals so floats serialise short and stable.
pub(super) fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

pub(super) fn days_before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days)).unwrap_or(date)
}

pub(super) fn days_after(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days)).unwrap_or(date)
}
