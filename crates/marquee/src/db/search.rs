//! Title search: accent- and case-insensitive, tolerant of typos, over titles and original
//! titles, ranked.
//!
//! Titles and the query are compared as `marquee_search_key` makes them (accents removed, lower
//! case: migration 14). A work is a candidate when every word of the query is a word of its
//! titles (full-text search, `simple` configuration: no stemming, titles come in every
//! language) or when the query is close to a stretch of them (`pg_trgm`'s word similarity at its
//! default threshold, 0.6: "godfathr" is 0.78 of "godfather"); both are answered by GIN indexes.
//! Candidates are ranked by, in decreasing weight:
//!
//! 1. every query word present as a word (1.0);
//! 2. the best word similarity to the title, or to the original title (counting 0.9 of it, so a
//!    title match ranks above an original-title match);
//! 3. half the similarity of the whole title to the query, so "The Godfather" comes before
//!    "The Godfather Part II" for "godfather";
//! 4. popularity, at most 0.1 (log scale), to order near-ties the way people expect.

use super::api_access::Params;
use super::predicates::SERVABLE;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The read of one search (for [`super::api_access::statement`]): `items`, a JSON array of the
/// best `limit` short cards.
pub fn search(params: &mut Params, query: &str, limit: i64) -> String {
    let q = params.bind(query);
    let limit = params.bind(limit);
    format!(
        "WITH q AS MATERIALIZED (
            SELECT marquee_search_key({q}::text) AS key, plainto_tsquery('simple', marquee_search_key({q}::text)) AS words
         ),
         ranked AS (
            SELECT k.work_id,
                   (CASE WHEN k.search_vector @@ q.words THEN 1.0 ELSE 0.0 END)
                   + greatest(word_similarity(q.key, k.title_key), 0.9 * coalesce(word_similarity(q.key, k.original_key), 0))
                   + 0.5 * similarity(q.key, k.title_key)
                   + 0.1 * least(ln(1 + greatest(k.popularity, 0)) / ln(1001), 1) AS rank
              FROM q CROSS JOIN work_sort_keys k JOIN works w ON w.work_id = k.work_id
             WHERE (k.search_vector @@ q.words OR q.key <% k.search_text) AND {SERVABLE}
             ORDER BY rank DESC, k.work_id
             LIMIT {limit}
         )
         SELECT coalesce(jsonb_agg(c.payload_short ORDER BY r.rank DESC, r.work_id), '[]'::jsonb)::text AS items
           FROM ranked r JOIN work_cards_cache c ON c.work_id = r.work_id"
    )
}
