//! `GET /api/works`: keyset pages that never skip or repeat a work while the catalog changes
//! between them (refreshes that move works across the cursor, new works, gone works), for every
//! sort; filters; opaque cursors that refuse tampering and other queries.

mod catalog_support;

use std::collections::{BTreeMap, BTreeSet};

use catalog_support::*;
use marquee_tests::{TestApp, error_code};
use serde_json::{Value as Json, json};

/// The sort keys of the servable works as a page sees them now, by TMDB id: what the sort
/// orders by (`work_sort_keys`, read as the API's expressions read it).
async fn keys_now(app: &TestApp, expression: &str) -> BTreeMap<i64, String> {
    let sql = format!(
        "SELECT w.tmdb_id, ({expression})::text FROM work_sort_keys k JOIN works w USING (work_id)
          WHERE w.ingestion_status = 'complete'"
    );
    app.db.query(&sql, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The first column of every row of `sql`.
async fn tmdb_ids(app: &TestApp, sql: &str) -> BTreeSet<i64> {
    app.db.query(sql, &[]).await.unwrap().iter().map(|r| r.get::<_, i64>(0)).collect()
}

/// Pages through `query` with `limit` per page, calling `between(page number, ids seen so
/// far)` before each page after the first; returns every id in order.
async fn page_through(
    app: &TestApp,
    key: &str,
    query: &str,
    limit: usize,
    mut between: impl AsyncFnMut(usize, &[i64]),
) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        if page > 0 {
            between(page, &seen).await;
        }
        let path = match &cursor {
            None => format!("/api/works?{query}&limit={limit}"),
            Some(c) => format!("/api/works?{query}&limit={limit}&cursor={c}"),
        };
        let r = get(app, &path, key).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let page_ids = ids(&r.body["results"]);
        assert!(page_ids.len() <= limit);
        seen.extend(page_ids);
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen
}

/// One sort's case: its query, the SQL of its key, whether larger keys come first, and the
/// patches that move a work ahead of any cursor or behind it.
struct Case {
    query: &'static str,
    key: &'static str,
    descending: bool,
    numeric: bool,
    ahead: fn(i64) -> Json,
    behind: fn(i64) -> Json,
}

const CASES: &[Case] = &[
    Case {
        query: "sort=popularity",
        key: "k.popularity",
        descending: true,
        numeric: true,
        ahead: |i| json!({"popularity": 50_000.0 + i as f64}),
        behind: |i| json!({"popularity": 0.001 * i as f64}),
    },
    Case {
        query: "sort=title",
        key: "k.title_key",
        descending: false,
        numeric: false,
        ahead: |i| json!({"title": format!("Aaa First {i}")}),
        behind: |i| json!({"title": format!("Zzz Last {i}")}),
    },
    Case {
        query: "sort=score",
        key: "coalesce(k.score, -1)",
        descending: true,
        numeric: true,
        ahead: |_| json!({"vote_average": 9.9, "vote_count": 500_000}),
        behind: |_| json!({"vote_average": 1.0, "vote_count": 500_000}),
    },
    Case {
        query: "sort=trending",
        key: "k.trend",
        descending: true,
        numeric: true,
        ahead: |i| json!({"popularity": 90_000.0 + i as f64}),
        behind: |i| json!({"popularity": 0.002 * i as f64}),
    },
    Case {
        query: "sort=release_date&order=asc",
        key: "coalesce(k.release_date, 'infinity'::date)",
        descending: false,
        numeric: false,
        ahead: |_| json!({"release_date": "1890-01-01"}),
        behind: |_| json!({"release_date": "2095-01-01"}),
    },
];

#[tokio::test]
async fn paging_while_the_catalog_changes_yields_every_work_exactly_once_for_every_sort() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_pager").await;
    ingest(&app, 1..=36).await;
    let mut next_new = 5_000;
    for case in CASES {
        let at_start = keys_now(&app, case.key).await;
        let mut gone = BTreeSet::new();
        let mut moved = BTreeSet::new();
        let seen = page_through(&app, &key, case.query, 8, async |page, seen: &[i64]| {
            let unseen: Vec<i64> = at_start
                .keys()
                .copied()
                .filter(|id| !seen.contains(id) && !gone.contains(id) && !moved.contains(id))
                .collect();
            let seen_now: Vec<i64> = seen.iter().copied().filter(|id| !moved.contains(id)).collect();
            // A work not seen yet jumps ahead of the cursor, one seen drops behind it: plain
            // keyset paging would skip the first and repeat the second.
            if let Some(&id) = unseen.last() {
                refresh_with(&app, id, (case.ahead)(id)).await;
                moved.insert(id);
            }
            if let Some(&id) = seen_now.first() {
                refresh_with(&app, id, (case.behind)(id)).await;
                moved.insert(id);
            }
            // New works, with keys that would put them anywhere.
            for patch in [(case.ahead)(next_new), (case.behind)(next_new + 1)] {
                app.fake.faults().patch_movie(next_new as u64, patch);
                ingest(&app, [next_new]).await;
                next_new += 1;
            }
            // A work not seen yet leaves the catalog: it must not be served.
            if page == 2
                && let Some(&id) = unseen.iter().find(|id| !moved.contains(id))
            {
                make_gone(&app, id).await;
                gone.insert(id);
            }
        })
        .await;
        let distinct: BTreeSet<i64> = seen.iter().copied().collect();
        assert_eq!(distinct.len(), seen.len(), "{}: a work was repeated: {seen:?}", case.query);
        let expected: BTreeSet<i64> = at_start.keys().copied().filter(|id| !gone.contains(id)).collect();
        assert_eq!(distinct, expected, "{}: every work present at the first page, once; no new one", case.query);
        assert!(moved.len() >= 4, "{}: works moved across the cursor: {moved:?}", case.query);
        // In the order the first page saw.
        let order: Vec<&String> = seen.iter().map(|id| &at_start[id]).collect();
        for pair in order.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let in_order = if case.numeric {
                let (a, b) = (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap());
                if case.descending { a >= b } else { a <= b }
            } else if case.descending {
                a >= b
            } else {
                a <= b
            };
            assert!(in_order, "{}: {a} then {b}", case.query);
        }
        // A new listing sees the catalog as it is now: the moved works where they went.
        let fresh = get(&app, &format!("/api/works?{}&limit=100", case.query), &key).await;
        let now_ids = ids(&fresh.body["results"]);
        assert!(now_ids.iter().any(|id| *id >= 5_000), "{}: new works are listed afresh", case.query);
        assert!(gone.iter().all(|id| !now_ids.contains(id)));
    }
}

#[tokio::test]
async fn filters_select_exactly_the_matching_servable_works() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_filters").await;
    ingest(&app, 1..=40).await;
    make_gone(&app, 7).await;
    let genre: i32 = app
        .db
        .query_one("SELECT genre_id FROM work_genres GROUP BY genre_id ORDER BY count(*) DESC LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let person: i64 = app
        .db
        .query_one(
            "SELECT person_id FROM credits GROUP BY person_id ORDER BY count(DISTINCT work_id) DESC, person_id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let company: i64 = app
        .db
        .query_one("SELECT company_id FROM work_companies GROUP BY company_id ORDER BY count(*) DESC LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let keyword: i64 = app
        .db
        .query_one("SELECT keyword_id FROM work_keywords GROUP BY keyword_id ORDER BY count(*) DESC LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let year: i32 = app
        .db
        .query_one("SELECT year FROM works WHERE year IS NOT NULL GROUP BY year ORDER BY count(*) DESC LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let language: String = app
        .db
        .query_one("SELECT original_language FROM works_meta GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let servable = "w.ingestion_status = 'complete'";
    let cases = [
        (
            format!("genre={genre}"),
            format!(
                "SELECT w.tmdb_id FROM works w JOIN work_genres g USING (work_id) WHERE g.genre_id = {genre} AND {servable}"
            ),
        ),
        (
            format!("person={person}"),
            format!(
                "SELECT DISTINCT w.tmdb_id FROM works w JOIN credits c USING (work_id) WHERE c.person_id = {person} AND {servable}"
            ),
        ),
        (
            format!("company={company}"),
            format!(
                "SELECT w.tmdb_id FROM works w JOIN work_companies c USING (work_id) WHERE c.company_id = {company} AND {servable}"
            ),
        ),
        (
            format!("keyword={keyword}"),
            format!(
                "SELECT w.tmdb_id FROM works w JOIN work_keywords k USING (work_id) WHERE k.keyword_id = {keyword} AND {servable}"
            ),
        ),
        (format!("year={year}"), format!("SELECT w.tmdb_id FROM works w WHERE w.year = {year} AND {servable}")),
        (
            format!("year_from={year}&year_to={}", year + 5),
            format!("SELECT w.tmdb_id FROM works w WHERE w.year BETWEEN {year} AND {} AND {servable}", year + 5),
        ),
        (
            format!("language={language}"),
            format!(
                "SELECT w.tmdb_id FROM works w JOIN works_meta m USING (work_id) WHERE m.original_language = '{language}' AND {servable}"
            ),
        ),
        ("min_votes=100".to_owned(), format!("SELECT w.tmdb_id FROM works w WHERE w.vote_count >= 100 AND {servable}")),
        (
            format!("genre={genre}&min_votes=10&sort=title"),
            format!(
                "SELECT w.tmdb_id FROM works w JOIN work_genres g USING (work_id) WHERE g.genre_id = {genre} AND w.vote_count >= 10 AND {servable}"
            ),
        ),
    ];
    for (query, sql) in cases {
        let expected = tmdb_ids(&app, &sql).await;
        assert!(!expected.is_empty() || query.starts_with("min_votes"), "{query}: a filter that selects something");
        let listed = page_through(&app, &key, &query, 7, async |_, _| {}).await;
        assert_eq!(listed.iter().copied().collect::<BTreeSet<_>>(), expected, "{query}");
        assert_eq!(listed.len(), expected.len(), "{query}: no repeats");
        assert!(!listed.contains(&7), "{query}: never a gone work");
    }
    // Unrated works come last, whatever the direction.
    let unrated = tmdb_ids(&app, "SELECT w.tmdb_id FROM works w JOIN work_sort_keys k USING (work_id) WHERE k.score IS NULL AND w.ingestion_status = 'complete'").await;
    if !unrated.is_empty() {
        for order in ["desc", "asc"] {
            let listed = page_through(&app, &key, &format!("sort=score&order={order}"), 50, async |_, _| {}).await;
            let tail: BTreeSet<i64> = listed[listed.len() - unrated.len()..].iter().copied().collect();
            assert_eq!(tail, unrated, "score {order}: unrated last");
        }
    }
}

#[tokio::test]
async fn bad_parameters_and_cursors_are_400_with_the_json_error_shape() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_bad").await;
    ingest(&app, 1..=8).await;
    let first = get(&app, "/api/works?limit=3", &key).await;
    let cursor = first.body["next_cursor"].as_str().expect("more than one page").to_owned();
    let (payload, mac) = cursor.split_once('.').unwrap();
    let flipped = {
        let mut bytes = payload.as_bytes().to_vec();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    for (path, code) in [
        ("/api/works?sort=rating".to_owned(), "invalid_request"),
        ("/api/works?order=sideways".to_owned(), "invalid_request"),
        ("/api/works?limit=0".to_owned(), "invalid_request"),
        ("/api/works?limit=1000".to_owned(), "invalid_request"),
        ("/api/works?genre=drama".to_owned(), "invalid_request"),
        ("/api/works?colour=red".to_owned(), "invalid_request"),
        ("/api/works?year=2000&year_from=1990".to_owned(), "invalid_request"),
        (format!("/api/works?limit=3&cursor={flipped}.{mac}"), "invalid_cursor"),
        (format!("/api/works?limit=3&cursor={payload}.{}", &mac[1..]), "invalid_cursor"),
        ("/api/works?cursor=garbage".to_owned(), "invalid_cursor"),
        (format!("/api/works?sort=title&limit=3&cursor={cursor}"), "invalid_cursor"),
        (format!("/api/works?genre=18&limit=3&cursor={cursor}"), "invalid_cursor"),
        ("/api/works/abc".to_owned(), "invalid_request"),
        ("/api/works/abc/similar".to_owned(), "invalid_request"),
        ("/api/works/0".to_owned(), "invalid_request"),
        ("/api/people/x".to_owned(), "invalid_request"),
        ("/api/works/550?x=1".to_owned(), "invalid_request"),
        ("/api/search".to_owned(), "invalid_request"),
        ("/api/search?q=".to_owned(), "invalid_request"),
        ("/api/search?q=a&limit=101".to_owned(), "invalid_request"),
    ] {
        let r = get(&app, &path, &key).await;
        assert_eq!((r.status, error_code(&r)), (400, code), "{path}: {}", r.text);
        assert!(header(&r, "ratelimit-limit").is_none(), "{path}: refused before the database, not charged");
    }
    assert_eq!(app.count("SELECT used FROM quota_usage WHERE customer_id = 'cus_bad'").await, 1, "only the first page");
    // The same cursor with the same query goes on (the limit may change).
    let second = get(&app, &format!("/api/works?limit=4&cursor={cursor}"), &key).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let both: Vec<i64> = ids(&first.body["results"]).into_iter().chain(ids(&second.body["results"])).collect();
    assert_eq!(both.iter().collect::<BTreeSet<_>>().len(), 7);
}

/// A refresh in flight while the first page is read, stamped before it: what decides whether a
/// page sees it is whether the first page's snapshot saw its transaction, not its clock.
#[tokio::test]
async fn a_write_in_flight_at_the_first_page_counts_as_after_it_whatever_its_timestamp() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_inflight").await;
    ingest(&app, 1..=12).await;
    let at_start = keys_now(&app, "k.popularity").await;
    let (&last, _) =
        at_start.iter().min_by(|a, b| a.1.parse::<f64>().unwrap().total_cmp(&b.1.parse::<f64>().unwrap())).unwrap();
    let mut writer = marquee_tests::connect(&app.db_url).await;
    let refresh = writer.transaction().await.unwrap();
    refresh.execute("UPDATE works SET popularity = 1000000 WHERE tmdb_id = $1", &[&last]).await.unwrap();
    refresh
        .execute(
            "INSERT INTO work_metrics_history (work_id, captured_at, popularity, vote_average, vote_count)
             SELECT work_id, now() - interval '1 hour', 1000000, vote_average, vote_count FROM works WHERE tmdb_id = $1",
            &[&last],
        )
        .await
        .unwrap();
    let first = get(&app, "/api/works?limit=4", &key).await;
    assert!(!ids(&first.body["results"]).contains(&last));
    refresh.commit().await.unwrap();
    let mut seen = ids(&first.body["results"]);
    let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = get(&app, &format!("/api/works?limit=4&cursor={c}"), &key).await;
        seen.extend(ids(&page.body["results"]));
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert_eq!(seen.last(), Some(&last), "where the first page saw it: last");
    let now = get(&app, "/api/works?limit=1", &key).await;
    assert_eq!(ids(&now.body["results"]), [last], "and first for a new listing");
}

#[tokio::test]
async fn a_write_keeps_of_its_works_versions_older_than_a_cursor_only_the_newest() {
    let app = keyed_app().await;
    ingest(&app, [7]).await;
    for popularity in [10.0, 20.0, 30.0] {
        refresh_with(&app, 7, json!({"popularity": popularity})).await;
    }
    let versions = "SELECT v.popularity::bigint FROM work_sort_key_versions v JOIN works w USING (work_id)
                     WHERE w.tmdb_id = 7 ORDER BY v.id";
    let four: Vec<i64> = app.db.query(versions, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(four.len(), 4, "{four:?}");
    // Three of them written more than a day ago: a cursor can see only the newest of those.
    app.db
        .execute(
            "UPDATE work_sort_key_versions v SET written_at = written_at - interval '2 days'
               FROM works w WHERE w.work_id = v.work_id AND w.tmdb_id = 7 AND v.popularity <> 30",
            &[],
        )
        .await
        .unwrap();
    refresh_with(&app, 7, json!({"popularity": 40.0})).await;
    let kept: Vec<i64> = app.db.query(versions, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(kept, [20, 30, 40], "the newest old version, the recent one and the new one");
}
