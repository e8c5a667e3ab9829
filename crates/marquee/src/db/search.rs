//! Title search: accent- and case-insensitive, tolerant of typos, over titles and original
//! titles, ranked; its cost bounded however common the query's words are.
//!
//! Titles and the query are compared as `marquee_search_key` makes them (accents removed, lower
//! case: migration 14). A search is one statement:
//!
//! 1. **Words.** The query is split into words. A word the catalog's titles use
//!    (`search_words`, every word of every title and original title) is taken as it is; any
//!    other is taken with the three closest words the titles do use (`pg_trgm` similarity at its
//!    default threshold, 0.3: "godfathr" → "godfather", "destn" → "destin"). The last word also
//!    matches as a prefix ("godf" finds "godfather").
//! 2. **Matches**, by full-text search over titles and original titles (`simple` configuration:
//!    no stemming and no stop words, titles come in every language): the works that have every
//!    word (or one of its alternatives); when none has them all, the works that have any.
//! 3. **Candidates**, at most 100, so that a query of common words costs no more than a rare one:
//!    the most popular matches when there are at most 1,000 of them; otherwise the first matches
//!    in popularity order (through the popularity index, among the 20,000 most popular works).
//! 4. **Rank**, in decreasing weight: every query word present as typed (1.0); the best word
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
    let q = params.bind(query);
    let limit = params.bind(limit);
    format!(
        "WITH q AS MATERIALIZED (SELECT marquee_search_key({q}::text) AS key),
         words AS MATERIALIZED (
            SELECT t.word, t.n, t.n = max(t.n) OVER () AS last
              FROM q, regexp_split_to_table(q.key, '[^[:alnum:]]+') WITH ORDINALITY AS t (word, n)
             WHERE t.word <> ''
         ),
         alternatives AS (
            SELECT w.n, w.last,
                   CASE WHEN EXISTS (SELECT 1 FROM search_words s WHERE s.word = w.word) THEN ARRAY[w.word]
                        ELSE ARRAY[w.word] || ARRAY(SELECT s.word FROM search_words s WHERE s.word % w.word
                                                     ORDER BY s.word <-> w.word, s.word LIMIT 3) END AS words
              FROM words w
         ),
         terms AS (
            SELECT a.n, '(' || (SELECT string_agg(quote_literal(x) || CASE WHEN a.last THEN ':*' ELSE '' END, ' | ')
                                  FROM unnest(a.words) x) || ')' AS term
              FROM alternatives a
         ),
         tsq AS MATERIALIZED (
            SELECT to_tsquery('simple', coalesce(string_agg(term, ' & ' ORDER BY n), '')) AS every_word,
                   to_tsquery('simple', coalesce(string_agg(term, ' | ' ORDER BY n), '')) AS any_word
              FROM terms
         ),
         with_every AS MATERIALIZED (
            SELECT k.work_id, k.popularity FROM work_sort_keys k
             WHERE k.search_vector @@ (SELECT every_word FROM tsq) LIMIT 1001
         ),
         with_any AS MATERIALIZED (
            SELECT k.work_id, k.popularity FROM work_sort_keys k
             WHERE NOT EXISTS (SELECT 1 FROM with_every) AND k.search_vector @@ (SELECT any_word FROM tsq) LIMIT 1001
         ),
         matches AS (SELECT * FROM with_every UNION ALL SELECT * FROM with_any),
         chosen AS MATERIALIZED (
            SELECT CASE WHEN EXISTS (SELECT 1 FROM with_every) THEN t.every_word ELSE t.any_word END AS query FROM tsq t
         ),
         candidates AS (
            (SELECT m.work_id FROM matches m WHERE (SELECT count(*) FROM matches) <= 1000
              ORDER BY m.popularity DESC, m.work_id LIMIT 100)
            UNION ALL
            (SELECT p.work_id
               FROM (SELECT k.work_id, k.search_vector FROM work_sort_keys k
                      ORDER BY k.popularity DESC, k.work_id DESC LIMIT 20000) p
              WHERE (SELECT count(*) FROM matches) > 1000 AND p.search_vector @@ (SELECT query FROM chosen)
              LIMIT 100)
         ),
         ranked AS (
            SELECT k.work_id,
                   (CASE WHEN k.search_vector @@ plainto_tsquery('simple', q.key) THEN 1.0 ELSE 0.0 END)
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
