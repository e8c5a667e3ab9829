//! The catalog API's reads (besides browse and search, which have modules of their own), each a
//! query of at most one row for [`super::api_access::statement`]: JSON is built by PostgreSQL
//! and comes back as text, so a response carries it without parsing it again. Only servable
//! works (`predicates::SERVABLE`) appear in any of them.

use std::sync::LazyLock;

use super::aggregates::AggregateKind;
use super::api_access::Params;
use super::cards;
use super::predicates::SERVABLE;
use crate::domain::states::WorkStatus;
use crate::ports::{DbError, Row};

/// A UTC timestamp column as RFC 3339 text (`2026-03-01T00:00:00Z`).
fn rfc3339(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
}

/// What a read of one movie found.
#[derive(Debug, Clone, PartialEq)]
pub enum Found<T> {
    Servable(T),
    /// Known, but gone, refused or not (yet) ingested.
    NotServable(WorkStatus),
    Unknown,
}

/// The card: `body` (its JSON) and `etag`. The body is left out (NULL) when the caller has
/// this version already: `cached` are the tags of its `If-None-Match`
/// (`domain::card::if_none_match_tags`), and a `304` needs no body: its text (about 7 KB, made
/// from jsonb) is most of what a card costs the database.
pub fn card(params: &mut Params, tmdb_id: i64, cached: &[&str]) -> String {
    let lookup = cards::lookup_sql(&params.bind(tmdb_id));
    let cached = params.bind(crate::ports::Value::ArrayText(cached.iter().map(|t| Some((*t).to_owned())).collect()));
    format!(
        "SELECT l.ingestion_status, l.servable, l.etag,
                CASE WHEN l.etag = ANY({cached}::text[]) OR '*' = ANY({cached}::text[]) THEN NULL
                     ELSE l.payload::text END AS body
           FROM ({lookup}) l"
    )
}

#[derive(Debug, Clone, PartialEq)]
pub struct CardText {
    /// `None` when the caller has this version (see [`card`]).
    pub body: Option<String>,
    pub etag: String,
}

pub fn card_of(row: Option<&Row>) -> Result<Found<CardText>, DbError> {
    let Some(r) = row else { return Ok(Found::Unknown) };
    match (r.get::<bool>("servable")?, r.get::<Option<String>>("etag")?) {
        (true, Some(etag)) => Ok(Found::Servable(CardText { body: r.get("body")?, etag })),
        _ => Ok(Found::NotServable(r.get("ingestion_status")?)),
    }
}

/// The movies TMDB lists as similar to one, that the catalog serves, in TMDB's order: `body`
/// is a JSON array of short cards.
pub fn similar(params: &mut Params, tmdb_id: i64) -> String {
    format!(
        "SELECT w0.ingestion_status, s.servable,
                (SELECT coalesce(jsonb_agg(c.payload_short ORDER BY sm.rank_order NULLS LAST, sm.similar_tmdb_id), '[]'::jsonb)
                   FROM similar_movies sm
                   JOIN works w ON w.tmdb_id = sm.similar_tmdb_id AND {SERVABLE}
                   JOIN work_cards_cache c ON c.work_id = w.work_id
                  WHERE sm.work_id = w0.work_id)::text AS body
           FROM works w0
           CROSS JOIN LATERAL (SELECT {SERVABLE} AS servable FROM works w WHERE w.work_id = w0.work_id) s
          WHERE w0.tmdb_id = {}",
        params.bind(tmdb_id)
    )
}

/// A JSON text of a servable movie (or why there is none), from a read with `servable`,
/// `ingestion_status` and `body`.
pub fn body_of(row: Option<&Row>) -> Result<Found<String>, DbError> {
    let Some(r) = row else { return Ok(Found::Unknown) };
    match (r.get::<bool>("servable")?, r.get::<Option<String>>("body")?) {
        (true, Some(body)) => Ok(Found::Servable(body)),
        _ => Ok(Found::NotServable(r.get("ingestion_status")?)),
    }
}

/// A person and their filmography (servable works only, newest first, each a short card with
/// the person's credits on it), their aggregate, and a photo from one of their credits. No row
/// for a person without a servable work: what is left of them would come from movies the
/// catalog no longer serves.
pub fn person(params: &mut Params, person_id: i64) -> String {
    format!(
        "SELECT jsonb_build_object(
                    'person_id', p.person_id, 'name', p.name, 'known_for_department', p.known_for_department,
                    'photo', (SELECT jsonb_build_object('small', e->>'photo_url_small', 'medium', e->>'photo_url_medium',
                                                        'large', e->>'photo_url_large')
                                FROM credits cr JOIN works w ON w.work_id = cr.work_id AND {SERVABLE}
                                JOIN works_meta m ON m.work_id = w.work_id
                                CROSS JOIN LATERAL jsonb_array_elements(coalesce(m.cast_members, '[]') || coalesce(m.crew_members, '[]')) e
                               WHERE cr.person_id = p.person_id AND e->>'person_id' = p.person_id::text
                                 AND e->>'photo_url_small' IS NOT NULL
                               LIMIT 1),
                    'stats', (SELECT jsonb_build_object('works', g.works, 'cast_works', g.cast_works, 'crew_works', g.crew_works,
                                                        'first_release', g.first_release, 'latest_release', g.latest_release,
                                                        'scored_works', g.scored_works, 'mean_score', g.mean_score,
                                                        'total_votes', g.total_votes)
                                FROM catalog_aggregates g WHERE g.kind = {kind} AND g.key_id = p.person_id),
                    'filmography', f.works)::text AS body
           FROM people p
           CROSS JOIN LATERAL (
                SELECT jsonb_agg(x.item ORDER BY x.release_date DESC NULLS LAST, x.tmdb_id) AS works
                  FROM (SELECT w.tmdb_id, w.release_date,
                               c.payload_short || jsonb_build_object('credits', jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                   'type', cr.credit_type, 'character', cr.character, 'job', cr.job, 'department', cr.department))
                                   ORDER BY cr.credit_type, cr.ord NULLS LAST, cr.credit_id)) AS item
                          FROM credits cr
                          JOIN works w ON w.work_id = cr.work_id AND {SERVABLE}
                          JOIN work_cards_cache c ON c.work_id = w.work_id
                         WHERE cr.person_id = p.person_id
                         GROUP BY w.work_id, w.tmdb_id, w.release_date, c.payload_short) x) f
          WHERE p.person_id = {id} AND f.works IS NOT NULL",
        kind = params.bind(AggregateKind::Person),
        id = params.bind(person_id),
    )
}

/// Every genre with servable works, largest first, with its aggregate (`catalog_aggregates`).
pub fn genres(params: &mut Params) -> String {
    format!(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('genre_id', g.genre_id, 'name', g.name, 'works', a.works,
                                                      'scored_works', a.scored_works, 'mean_score', a.mean_score,
                                                      'first_release', a.first_release, 'latest_release', a.latest_release)
                                   ORDER BY a.works DESC, g.name), '[]'::jsonb)::text AS body
           FROM catalog_aggregates a JOIN genres g ON g.genre_id = a.key_id
          WHERE a.kind = {} AND a.works > 0",
        params.bind(AggregateKind::Genre)
    )
}

/// The caller's usage of every quota (`caller` is the statement's key CTE): one object.
pub fn usage(params: &mut Params, at: chrono::NaiveDateTime) -> String {
    static COLUMNS: LazyLock<(String, String)> = LazyLock::new(|| (rfc3339("e.period_start"), rfc3339("e.period_end")));
    let (start, end) = &*COLUMNS;
    format!(
        "SELECT jsonb_build_object('customer_id', c.customer_id, 'key_id', c.key_id,
                    'tier', (SELECT e.tier FROM entitled e),
                    'quotas', (SELECT jsonb_object_agg(q.quota, jsonb_build_object(
                                   'limit', e.monthly_limit, 'used', coalesce(u.used, 0),
                                   'remaining', greatest(e.monthly_limit - coalesce(u.used, 0), 0),
                                   'period_start', {start}, 'period_end', {end}))
                                 FROM (SELECT DISTINCT quota FROM subscription_tier_quota) q
                                 CROSS JOIN LATERAL marquee_entitlement(c.customer_id, q.quota, {at}::timestamp AT TIME ZONE 'UTC') e
                                 LEFT JOIN quota_usage u ON u.customer_id = c.customer_id AND u.quota = q.quota
                                                        AND u.period_start = e.period_start))::text AS body
           FROM caller c",
        at = params.bind(at)
    )
}

/// A read's `body` column (JSON text).
pub fn body(row: &Row) -> Result<String, DbError> {
    row.get("body")
}
