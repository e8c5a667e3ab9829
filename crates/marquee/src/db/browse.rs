//! Browsing the catalog: keyset pages over `work_sort_keys` (migration 14) that never skip or
//! repeat a work while the catalog changes between pages.
//!
//! A page after the first orders the works by their keys as the first page saw them: its
//! cursor carries the first page's snapshot `S` (`pg_current_snapshot()`), and the page is the
//! union of two parts, each ordered by the same key and cut by the same keyset condition:
//!
//! - works whose current keys were written by a transaction `S` saw (`pg_visible_in_snapshot`
//!   of `written_xid`): their current keys are the keys `S` saw, read through the sort's index;
//! - works written since (`written_xid` at or above `S`'s xmin and not visible in it: a few,
//!   found through `idx_work_sort_keys_written`): ordered by their newest version `S` saw
//!   (`work_sort_key_versions`); one `S` did not see at all was first written since, and is
//!   left out.
//!
//! Visibility, not a clock, says what "since" is: a write in flight when the first page was
//! read counts as since, whenever it started. Relation filters (genre, person, company,
//! keyword) and servability are read as they are now: a work that stopped being servable is
//! never served, and one whose genre changed enters or leaves the listing once at most.

use super::api_access::Params;
use super::predicates::SERVABLE;
use crate::ports::{DbError, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Popularity,
    ReleaseDate,
    Score,
    Title,
    /// Popularity change over the 7 days before the movie's latest refresh (metrics history).
    Trending,
}

impl Sort {
    pub const ALL: [(&'static str, Sort); 5] = [
        ("popularity", Sort::Popularity),
        ("release_date", Sort::ReleaseDate),
        ("score", Sort::Score),
        ("title", Sort::Title),
        ("trending", Sort::Trending),
    ];

    pub fn name(self) -> &'static str {
        Sort::ALL.iter().find(|(_, s)| *s == self).map_or("?", |(n, _)| n)
    }

    /// Titles read A to Z; everything else largest, newest or best first.
    pub fn default_order(self) -> Order {
        if self == Sort::Title { Order::Asc } else { Order::Desc }
    }

    /// The sort key of the keys row `a` (never NULL: unrated and undated works go last in either
    /// direction), and its SQL type. Each expression is the one an index of migration 14 is on.
    fn key(self, order: Order, a: &str) -> (String, &'static str) {
        match (self, order) {
            (Sort::Popularity, _) => (format!("{a}.popularity"), "float8"),
            (Sort::Trending, _) => (format!("{a}.trend"), "float8"),
            (Sort::Title, _) => (format!("{a}.title_key"), "text"),
            (Sort::Score, Order::Desc) => (format!("coalesce({a}.score, -1)"), "float8"),
            (Sort::Score, Order::Asc) => (format!("coalesce({a}.score, 1000)"), "float8"),
            (Sort::ReleaseDate, Order::Desc) => (format!("coalesce({a}.release_date, '-infinity'::date)"), "date"),
            (Sort::ReleaseDate, Order::Asc) => (format!("coalesce({a}.release_date, 'infinity'::date)"), "date"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn name(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }

    fn sql(self) -> (&'static str, &'static str) {
        match self {
            Order::Asc => ("ASC", ">"),
            Order::Desc => ("DESC", "<"),
        }
    }
}

/// What a listing is restricted to; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub genre: Option<i64>,
    pub person: Option<i64>,
    pub company: Option<i64>,
    pub keyword: Option<i64>,
    /// ISO 639-1 of the original language.
    pub language: Option<String>,
    /// Release years, both ends included.
    pub year_from: Option<i64>,
    pub year_to: Option<i64>,
    pub min_votes: Option<i64>,
}

/// Where the previous page ended, and what the first page saw (from a cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// `pg_current_snapshot()` of the first page, as text.
    pub snapshot: String,
    /// The last work's sort key, as PostgreSQL printed it (exact, also for floats).
    pub key: String,
    pub work_id: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Browse {
    pub sort: Sort,
    pub order: Order,
    pub filters: Filters,
    pub limit: i64,
    pub after: Option<After>,
}

impl Filters {
    /// The conditions on the keys row `a` (current keys `k`, or a version `v`) and the work `k`.
    fn sql(&self, params: &mut Params, a: &str) -> String {
        let mut conditions = Vec::new();
        let links = [
            (self.genre, "work_genres", "genre_id"),
            (self.person, "credits", "person_id"),
            (self.company, "work_companies", "company_id"),
            (self.keyword, "work_keywords", "keyword_id"),
        ];
        for (id, table, column) in links {
            if let Some(id) = id {
                conditions.push(format!(
                    "EXISTS (SELECT 1 FROM {table} l WHERE l.work_id = k.work_id AND l.{column} = {}::int8)",
                    params.bind(id)
                ));
            }
        }
        if let Some(language) = &self.language {
            conditions.push(format!("{a}.language = {}::text", params.bind(language.as_str())));
        }
        if let Some(from) = self.year_from {
            conditions.push(format!("{a}.year >= {}::int8", params.bind(from)));
        }
        if let Some(to) = self.year_to {
            conditions.push(format!("{a}.year <= {}::int8", params.bind(to)));
        }
        if let Some(votes) = self.min_votes {
            conditions.push(format!("{a}.votes >= {}::int8", params.bind(votes)));
        }
        conditions.iter().map(|c| format!(" AND {c}")).collect()
    }
}

/// One page's read (for [`super::api_access::statement`]): `items` (a JSON array of short
/// cards), `more` (a next page exists), `last_key` and `last_work_id` (where this page ended),
/// `snapshot` (the first page's).
pub fn page(params: &mut Params, browse: &Browse) -> String {
    let (direction, beyond) = browse.order.sql();
    let limit = params.bind(browse.limit);
    let fetch = params.bind(browse.limit + 1);
    let (key_k, key_type) = browse.sort.key(browse.order, "k");
    let (snapshot, parts) = match &browse.after {
        None => {
            // The first page: its own snapshot is the one later pages keep, and every row it
            // sees was written by a transaction that snapshot saw.
            let filters = browse.filters.sql(params, "k");
            let part = format!(
                "SELECT k.work_id, {key_k} AS key FROM work_sort_keys k JOIN works w ON w.work_id = k.work_id
                  WHERE {SERVABLE}{filters}
                  ORDER BY {key_k} {direction}, k.work_id {direction} LIMIT {fetch}"
            );
            ("pg_current_snapshot()::text".to_owned(), format!("({part})"))
        }
        Some(after) => {
            let snapshot_text = params.bind(after.snapshot.as_str());
            let s = format!("{snapshot_text}::text::pg_snapshot");
            let key = params.bind(after.key.as_str());
            let id = params.bind(after.work_id);
            let position = format!("({key}::text::{key_type}, {id}::int8)");
            let (key_v, _) = browse.sort.key(browse.order, "v");
            let unchanged_filters = browse.filters.sql(params, "k");
            let changed_filters = browse.filters.sql(params, "v");
            let unchanged = format!(
                "SELECT k.work_id, {key_k} AS key FROM work_sort_keys k JOIN works w ON w.work_id = k.work_id
                  WHERE pg_visible_in_snapshot(k.written_xid, {s}) AND ({key_k}, k.work_id) {beyond} {position}
                    AND {SERVABLE}{unchanged_filters}
                  ORDER BY {key_k} {direction}, k.work_id {direction} LIMIT {fetch}"
            );
            let changed = format!(
                "SELECT k.work_id, {key_v} AS key FROM work_sort_keys k JOIN works w ON w.work_id = k.work_id
                  CROSS JOIN LATERAL (SELECT * FROM work_sort_key_versions v
                                       WHERE v.work_id = k.work_id AND pg_visible_in_snapshot(v.written_xid, {s})
                                       ORDER BY v.id DESC LIMIT 1) v
                  WHERE k.written_xid >= pg_snapshot_xmin({s}) AND NOT pg_visible_in_snapshot(k.written_xid, {s})
                    AND ({key_v}, k.work_id) {beyond} {position} AND {SERVABLE}{changed_filters}"
            );
            (format!("{snapshot_text}::text"), format!("({unchanged}) UNION ALL ({changed})"))
        }
    };
    format!(
        "WITH page AS (
            SELECT p.work_id, p.key, row_number() OVER (ORDER BY p.key {direction}, p.work_id {direction}) AS n
              FROM ({parts}) p
             ORDER BY p.key {direction}, p.work_id {direction} LIMIT {fetch}
         )
         SELECT (SELECT coalesce(jsonb_agg(c.payload_short ORDER BY p.n), '[]'::jsonb)
                   FROM page p JOIN work_cards_cache c ON c.work_id = p.work_id WHERE p.n <= {limit})::text AS items,
                (SELECT count(*) FROM page) > {limit} AS more,
                (SELECT p.key::text FROM page p WHERE p.n = {limit}) AS last_key,
                (SELECT p.work_id FROM page p WHERE p.n = {limit}) AS last_work_id,
                {snapshot} AS snapshot"
    )
}

/// What a page read returned.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRead {
    /// A JSON array of short cards.
    pub items: String,
    /// Where the next page starts, when there is one.
    pub next: Option<After>,
}

pub fn page_of(row: &Row) -> Result<PageRead, DbError> {
    let items: String = row.get("items")?;
    let next = if row.get::<bool>("more")? {
        Some(After { snapshot: row.get("snapshot")?, key: row.get("last_key")?, work_id: row.get("last_work_id")? })
    } else {
        None
    };
    Ok(PageRead { items, next })
}
