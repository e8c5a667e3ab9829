//! Title search: accent- and case-insensitive, tolerant of typos, over titles and original
//! titles, ranked; its cost bounded however common the query's words are.
//!
//! Titles and the query are compared as `marquee_search_key` makes them (accents removed, lower
//! case: migration 14), word by word, with full-text search (`simple` configuration: no stemming
//! and no stop words, titles come in every language). A search is one statement:
//!
//! 1. **Candidates**: the 100 most popular works whose titles (or original titles) have every
//!    word of the query, the last also as a prefix ("the godf" finds "The Godfather";
//!    `marquee_search_query`). The statement is planned with its query (`Planning::EachTime`),
//!    so PostgreSQL's statistics of the words choose the plan: rare words through the words'
//!    GIN index, common ones by walking the popularity index, which carries the words
//!    (`idx_work_sort_keys_popularity`), until 100 match. Either way, at most a few thousand
//!    index entries are read, however common the words.
//! 2. **Typos**: when no work has every word, each word no title uses is taken with the three
//!    closest words titles do use (`marquee_search_corrected`: trigram similarity over
//!    `search_words`, "godfathr" → "godfather"); works with every word so corrected, or failing
//!    that with any of them, again the 100 most popular.
//! 3. **Rank**, in decreasing weight: every query word present as typed (1.0); the best word
//!    similarity of the query to the title, or to the original title (0.9 of it, so a title match
//!    ranks above an original-title match); half the similarity of the whole title to the query
//!    ("The Godfather" before "The Godfather Part II" for "godfather"); popularity, at most 0.1
//!    (log scale), to order near-ties as people expect.

use super::api_access::Params;
use super::predicates::SERVABLE;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The read of one search (for [`super::api_access::statement`]): `items`, a JSON array of the
/// best `limit` short cards.
pub fn search(params: &mut Params, query: &str, limit: i64) -> String {
    let q = format!("{}::text", params.bind(query));
    let limit = params.bind(limit);
    let most_popular = "ORDER BY k.popularity DESC, k.work_id DESC LIMIT 100";
    // Candidates are servable works: a gone or refused work must not take a candidate's place.
    let keys = format!("work_sort_keys k JOIN works w ON w.work_id = k.work_id AND {SERVABLE}");
    format!(
        "WITH exact AS MATERIALIZED (
            SELECT k.work_id FROM {keys} WHERE k.search_vector @@ marquee_search_query({q}) {most_popular}
         ),
         corrected AS MATERIALIZED (
            SELECT c.every_word, c.any_word FROM marquee_search_corrected({q}) c WHERE NOT EXISTS (SELECT 1 FROM exact)
         ),
         with_every AS MATERIALIZED (
            SELECT k.work_id FROM {keys}
             WHERE EXISTS (SELECT 1 FROM corrected) AND k.search_vector @@ (SELECT every_word FROM corrected) {most_popular}
         ),
         with_any AS (
            SELECT k.work_id FROM {keys}
             WHERE EXISTS (SELECT 1 FROM corrected) AND NOT EXISTS (SELECT 1 FROM with_every)
               AND k.search_vector @@ (SELECT any_word FROM corrected) {most_popular}
         ),
         candidates AS (SELECT work_id FROM exact UNION SELECT work_id FROM with_every UNION SELECT work_id FROM with_any),
         q AS (SELECT marquee_search_key({q}) AS key, plainto_tsquery('simple', marquee_search_key({q})) AS typed),
         ranked AS (
            SELECT k.work_id,
                   (CASE WHEN k.search_vector @@ q.typed THEN 1.0 ELSE 0.0 END)
                   + greatest(word_similarity(q.key, k.title_key), 0.9 * coalesce(word_similarity(q.key, k.original_key), 0))
                   + 0.5 * similarity(q.key, k.title_key)
                   + 0.1 * least(ln(1 + greatest(k.popularity, 0)) / ln(1001), 1) AS rank
              FROM q CROSS JOIN candidates c
              JOIN work_sort_keys k ON k.work_id = c.work_id
              JOIN works w ON w.work_id = k.work_id
             WHERE {SERVABLE}
             ORDER BY rank DESC, k.work_id
             LIMIT {limit}
         )
         SELECT coalesce(jsonb_agg(c.payload_short ORDER BY r.rank DESC, r.work_id), '[]'::jsonb)::text AS items
           FROM ranked r JOIN work_cards_cache c ON c.work_id = r.work_id"
    )
}
