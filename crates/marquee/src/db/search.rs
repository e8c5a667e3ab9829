//! Title search: accent- and case-insensitive, tolerant of typos, over titles and original
//! titles, ranked; its cost bounded however common the query's words are.
//!
//! The search is the SQL function `marquee_search` (migration 21), which holds every rule:
//! titles and the query compared as `marquee_search_key` makes them (accents removed, lower
//! case), word by word, the last word also as a prefix; candidates are the 40 most popular
//! servable works with every word, found by walking one word's postings (`search_postings`,
//! each word's works in popularity order) until 40 have the other words too; a misspelt word is
//! corrected against the titles' vocabulary (trigram similarity) only when nothing matches as
//! typed; and the candidates are ranked by exact words, word similarity, the share of the title
//! the query covers, and popularity. Its statements keep their plans for the session, so a
//! search plans nothing.

use super::api_access::Params;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The read of one search (for [`super::api_access::statement`]): `items`, a JSON array of the
/// best `limit` short cards.
pub fn search(params: &mut Params, query: &str, limit: i64) -> String {
    format!("SELECT marquee_search({}::text, {}::int8)::text AS items", params.bind(query), params.bind(limit))
}
