//! Title search: accent- and case-insensitive, tolerant of typos, over titles and original
//! titles, ranked; its cost bounded however common the query's words are.
//!
//! The search is the SQL function `marquee_search` (migration 21), which holds every rule
//! (how titles and queries compare, which works are candidates, how typos are corrected, how
//! results rank) and keeps its statements' plans for the session: a search plans nothing.

use super::api_access::Params;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The read of one search (for [`super::api_access::statement`]): `items`, a JSON array of the
/// best `limit` short cards.
pub fn search(params: &mut Params, query: &str, limit: i64) -> String {
    format!("SELECT marquee_search({}::text, {}::int8)::text AS items", params.bind(query), params.bind(limit))
}
