//! The catalog API's reads: search (misspelt, accented and original titles, ranked), similar
//! movies, people with their filmography, genres with their counts, ETags and 304 on every GET,
//! and only servable works anywhere; the OpenAPI document equal to the routing table.

mod catalog_support;

use std::collections::BTreeSet;

use catalog_support::*;
use marquee_tests::{TestApp, error_code};
use reqwest::Method;
use serde_json::json;

/// Movies with the titles a search must find, among the fake catalog's own.
async fn titled_catalog(app: &TestApp) {
    let titles = [
        (901, "The Godfather", "The Godfather", 80.0),
        (902, "The Godfather Part II", "The Godfather Part II", 60.0),
        (903, "Amélie", "Le Fabuleux Destin d'Amélie Poulain", 40.0),
        (904, "Amelia", "Amelia", 5.0),
        (905, "Spirited Away", "千と千尋の神隠し", 70.0),
        (906, "Godzilla", "ゴジラ", 30.0),
    ];
    for (id, title, original, popularity) in titles {
        app.fake
            .faults()
            .patch_movie(id, json!({"title": title, "original_title": original, "popularity": popularity}));
    }
    ingest(app, (1..=30).chain(901..=906)).await;
}

async fn search(app: &TestApp, key: &str, q: &str) -> Vec<i64> {
    let r = get(app, &format!("/api/search?q={}", urlencode(q)), key).await;
    assert_eq!(r.status, 200, "{q}: {}", r.text);
    assert_eq!(r.body["query"], q);
    ids(&r.body["results"])
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn search_finds_misspelt_accented_and_original_titles_ranked() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_search").await;
    titled_catalog(&app).await;

    let godfather = search(&app, &key, "godfather").await;
    assert_eq!(&godfather[..2], [901, 902], "the closer title first: {godfather:?}");
    assert_eq!(search(&app, &key, "godfathr").await[0], 901, "a typo");
    assert_eq!(search(&app, &key, "The GODFATHER").await[0], 901, "case");
    assert_eq!(search(&app, &key, "godfather part 2").await[0], 902);
    assert_eq!(search(&app, &key, "amelie").await[0], 903, "accents do not matter");
    assert_eq!(search(&app, &key, "AMÉLIE").await[0], 903);
    assert_eq!(search(&app, &key, "Amelia").await[0], 904, "an exact title beats an accent-folded one");
    assert_eq!(search(&app, &key, "fabuleux destin").await[0], 903, "original titles too");
    assert_eq!(search(&app, &key, "fabuleu destn").await[0], 903, "original titles with typos too");
    assert_eq!(search(&app, &key, "千と千尋").await[0], 905, "non-Latin original titles");
    assert_eq!(search(&app, &key, "spirited").await[0], 905, "a word of the title");
    assert_eq!(search(&app, &key, "godf").await[0], 901, "the last word as a prefix");
    assert_eq!(search(&app, &key, "godfather 1972").await[0], 901, "a word no title has does not hide the rest");
    assert!(search(&app, &key, "qxzvvy wqkj").await.is_empty(), "nothing is not everything");
    assert!(search(&app, &key, "!!!").await.is_empty(), "no words, no matches");

    // Gone works are never found.
    make_gone(&app, 901).await;
    let after = search(&app, &key, "godfather").await;
    assert!(!after.contains(&901) && after[0] == 902, "{after:?}");
    let limited = get(&app, "/api/search?q=the&limit=2", &key).await;
    assert!(ids(&limited.body["results"]).len() <= 2);
}

/// Every work's postings are the words of its sort keys, at its popularity: none missing,
/// none left over.
async fn assert_postings_follow_the_sort_keys(app: &TestApp) {
    let differ = app
        .count(
            "SELECT count(*) FROM (
                (SELECT word, popularity, work_id FROM search_postings
                 EXCEPT SELECT w, k.popularity, k.work_id FROM work_sort_keys k, unnest(tsvector_to_array(k.search_vector)) w)
                UNION ALL
                (SELECT w, k.popularity, k.work_id FROM work_sort_keys k, unnest(tsvector_to_array(k.search_vector)) w
                 EXCEPT SELECT word, popularity, work_id FROM search_postings)) d",
        )
        .await;
    assert_eq!(differ, 0, "postings that differ from the sort keys");
}

#[tokio::test]
async fn search_follows_refreshes_and_finds_short_prefixes_of_many_words() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_search_writes").await;
    titled_catalog(&app).await;
    assert_postings_follow_the_sort_keys(&app).await;

    // A new title is found by its words, and no longer by the old ones; a new popularity is kept.
    refresh_with(&app, 901, json!({"title": "Il Padrino", "original_title": "Il Padrino", "popularity": 90.5})).await;
    assert_postings_follow_the_sort_keys(&app).await;
    assert_eq!(search(&app, &key, "padrino").await, [901]);
    assert!(!search(&app, &key, "godfather").await.contains(&901));
    assert_eq!(app.count("SELECT count(*) FROM search_postings WHERE popularity = 90.5").await, 2, "il, padrino");

    // A one-letter-like prefix that stands for more words than the postings walk takes (here
    // 26) is searched through the popularity index instead, with the same answer.
    let zq: Vec<i64> = (0..26).map(|i| 950 + i).collect();
    for (i, id) in zq.iter().enumerate() {
        let word = format!("zq{}", char::from(b'a' + i as u8));
        let patch = json!({"title": word, "original_title": word, "popularity": 100.0 + i as f64});
        app.fake.faults().patch_movie(*id as u64, patch);
    }
    ingest(&app, zq.clone()).await;
    let found = search(&app, &key, "zq").await;
    assert_eq!(found.len(), 20, "{found:?}");
    assert!(found.iter().all(|id| zq.contains(id)), "{found:?}");
    assert_eq!(search(&app, &key, "zqc").await, [952]);
    // A work titled exactly as the query is found among more popular works with the word than
    // the candidates hold.
    let many: Vec<i64> = (1000..1060).collect();
    for id in &many {
        let title = format!("Love Story {id}");
        app.fake
            .faults()
            .patch_movie(*id as u64, json!({"title": title, "original_title": title, "popularity": 500.0}));
    }
    app.fake.faults().patch_movie(1060, json!({"title": "Love", "original_title": "Love", "popularity": 0.5}));
    ingest(&app, (1000..=1060).collect::<Vec<_>>()).await;
    assert_eq!(search(&app, &key, "love").await[0], 1060);
    // A limit above the usual candidates takes more of them.
    let all = get(&app, "/api/search?q=love&limit=100", &key).await;
    assert_eq!(ids(&all.body["results"]).len(), 61, "{}", all.text);

    // Deleting works removes their postings.
    app.db.execute("DELETE FROM works WHERE tmdb_id BETWEEN 950 AND 975", &[]).await.unwrap();
    assert_postings_follow_the_sort_keys(&app).await;
    assert!(search(&app, &key, "zq").await.is_empty());
}

#[tokio::test]
async fn every_get_has_an_etag_304_on_if_none_match_and_a_cache_control() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_etag").await;
    titled_catalog(&app).await;
    let person: i64 = app.db.query_one("SELECT person_id FROM credits LIMIT 1", &[]).await.unwrap().get(0);
    let paths = [
        "/api/works/901".to_owned(),
        "/api/works/901/similar".to_owned(),
        "/api/works?sort=title&limit=5".to_owned(),
        "/api/search?q=godfather".to_owned(),
        format!("/api/people/{person}"),
        "/api/genres".to_owned(),
        "/api/openapi.json".to_owned(),
    ];
    for path in &paths {
        let first = get(&app, path, &key).await;
        assert_eq!(first.status, 200, "{path}: {}", first.text);
        let etag = header(&first, "etag").unwrap_or_else(|| panic!("{path}: no ETag")).to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{path}: a strong ETag: {etag}");
        let caching = header(&first, "cache-control").unwrap_or_else(|| panic!("{path}: no Cache-Control")).to_owned();
        let again = get_with(&app, path, &key, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.text.is_empty());
        assert_eq!(header(&again, "etag"), Some(etag.as_str()));
        assert_eq!(header(&again, "cache-control"), Some(caching.as_str()));
        let other = get_with(&app, path, &key, &[("if-none-match", "\"00\"")]).await;
        assert_eq!(other.status, 200, "{path}");
        if path.ends_with("openapi.json") {
            assert!(caching.starts_with("public"), "the document is the same for everyone");
        } else {
            assert!(caching.starts_with("private"), "{path}: keyed answers are not for shared caches: {caching}");
            assert!(header(&again, "ratelimit-remaining").is_some(), "{path}: a 304 is a request too");
        }
    }
    // Every GET but the document was charged, 304s included.
    assert_eq!(app.count("SELECT used FROM quota_usage WHERE customer_id = 'cus_etag'").await, 3 * 6);
    let usage = get(&app, "/api/usage", &key).await;
    assert_eq!(header(&usage, "cache-control"), Some("no-store"));
}

#[tokio::test]
async fn similar_people_and_genres_show_only_servable_works() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_reads").await;
    ingest(&app, 1..=40).await;

    // Similar: TMDB's list, in its order, only what the catalog serves.
    let listed: Vec<i64> = app
        .db
        .query(
            "SELECT s.similar_tmdb_id FROM similar_movies s JOIN works w0 ON w0.work_id = s.work_id
               JOIN works w ON w.tmdb_id = s.similar_tmdb_id AND w.ingestion_status = 'complete'
              WHERE w0.tmdb_id = 1 ORDER BY s.rank_order",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let similar = get(&app, "/api/works/1/similar", &key).await;
    assert_eq!(similar.status, 200, "{}", similar.text);
    assert_eq!(ids(&similar.body["results"]), listed);
    if let Some(&first) = listed.first() {
        make_gone(&app, first).await;
        let after = get(&app, "/api/works/1/similar", &key).await;
        assert!(!ids(&after.body["results"]).contains(&first));
    }

    // A person: their servable works, newest first, with their credits.
    let person: i64 = app
        .db
        .query_one(
            "SELECT person_id FROM credits GROUP BY person_id ORDER BY count(DISTINCT work_id) DESC, person_id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let theirs = format!(
        "SELECT DISTINCT w.tmdb_id FROM credits c JOIN works w USING (work_id) WHERE c.person_id = {person} AND w.ingestion_status = 'complete'"
    );
    let r = get(&app, &format!("/api/people/{person}"), &key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["person_id"], person);
    assert!(r.body["name"].as_str().is_some_and(|n| !n.is_empty()));
    let filmography = ids(&r.body["filmography"]);
    let expected: BTreeSet<i64> = app.db.query(&theirs, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(filmography.iter().copied().collect::<BTreeSet<_>>(), expected);
    assert!(r.body["filmography"].as_array().unwrap().iter().all(|w| !w["credits"].as_array().unwrap().is_empty()));
    let gone = filmography[0];
    make_gone(&app, gone).await;
    let r = get(&app, &format!("/api/people/{person}"), &key).await;
    assert!(!ids(&r.body["filmography"]).contains(&gone));
    let nobody = get(&app, "/api/people/999999999", &key).await;
    assert_eq!((nobody.status, error_code(&nobody)), (404, "not_found"));

    // Genres: the aggregates' counts of servable works.
    app.post("/functions/v1/batch-ingest", json!({"mode": "drain"})).await;
    let genres = get(&app, "/api/genres", &key).await;
    assert_eq!(genres.status, 200, "{}", genres.text);
    let results = genres.body["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for g in results {
        let expected = app
            .count(&format!(
                "SELECT count(*) FROM work_genres g JOIN works w USING (work_id) WHERE g.genre_id = {} AND w.ingestion_status = 'complete'",
                g["genre_id"]
            ))
            .await;
        assert_eq!(g["works"].as_i64(), Some(expected), "{g}");
    }
    let counts: Vec<i64> = results.iter().map(|g| g["works"].as_i64().unwrap()).collect();
    assert!(counts.windows(2).all(|p| p[0] >= p[1]), "largest first: {counts:?}");

    // The card of a gone movie says so.
    let card = get(&app, &format!("/api/works/{gone}"), &key).await;
    assert_eq!((card.status, error_code(&card)), (404, "gone"));
    let unknown = get(&app, "/api/works/123456", &key).await;
    assert_eq!((unknown.status, error_code(&unknown)), (404, "not_found"));
    assert!(header(&unknown, "ratelimit-remaining").is_some(), "a 404 was a request, charged");
}

#[tokio::test]
async fn the_openapi_document_is_served_and_lists_every_public_route() {
    let app = keyed_app().await;
    let doc = app.request(Method::GET, "/api/openapi.json", None, None, &[]).await;
    assert_eq!(doc.status, 200, "no key needed: {}", doc.text);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = doc.body["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (path.clone(), m.to_uppercase())))
        .collect();
    let routes: BTreeSet<(String, String)> = marquee::api::ROUTES
        .iter()
        .filter(|r| marquee::api::openapi::is_public(r))
        .map(|r| (marquee::api::openapi::openapi_path(r.path), r.method.to_string()))
        .collect();
    assert_eq!(documented, routes);
    let health = app.request(Method::GET, "/api/health", None, None, &[]).await;
    assert_eq!((health.status, health.body["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn gone_works_take_no_place_among_the_search_candidates() {
    let app = keyed_app().await;
    let key = new_key(&app, "cus_search_gone").await;
    // More popular gone works with the word than a search has candidates (100), and one
    // servable work, the least popular of all.
    let gone: Vec<i64> = (1001..=1110).collect();
    for (n, id) in gone.iter().enumerate() {
        let patch = json!({"title": format!("Lantern {n}"), "original_title": format!("Lantern {n}"), "popularity": 100.0 + n as f64});
        app.fake.faults().patch_movie(*id as u64, patch);
    }
    app.fake
        .faults()
        .patch_movie(1200, json!({"title": "Lantern Quiet", "original_title": "Lantern Quiet", "popularity": 1.0}));
    ingest(&app, gone.iter().copied().chain([1200])).await;
    for id in &gone {
        make_gone(&app, *id).await;
    }
    assert_eq!(search(&app, &key, "lantern").await, [1200]);
}
