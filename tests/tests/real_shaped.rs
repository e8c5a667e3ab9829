//! Real-shaped TMDB responses (`tests/fixtures/tmdb/`: unreleased, rumored and canceled movies,
//! empty strings and nulls, empty parts, 400 cast members, a person credited twice, Vimeo-only
//! trailers, empty certifications and providers, non-Latin titles, no votes), served by the fake
//! TMDB exactly as written and ingested through the real route: every table they populate, their
//! cards and labels, their refresh tiers, and nothing shown that is not data.

use std::collections::BTreeMap;

use marquee::domain::card;
use marquee::domain::score;
use marquee::domain::staleness;
use marquee_tests::TestApp;
use reqwest::Method;
use serde_json::{Value as Json, json};

/// What one fixture must produce.
struct Expected {
    file: &'static str,
    /// `works_meta.release_status`.
    status: &'static str,
    /// Its refresh tier (`next_refresh_at - last_refreshed_at`).
    every_days: i64,
    /// Rows of `credits` (cast, crew) and distinct people.
    cast: i64,
    crew: i64,
    people: i64,
    /// Trailers on the card, rows of `videos`.
    trailers: usize,
    videos: i64,
    release_dates: i64,
    certification: Option<&'static str>,
    /// Rows of `work_watch_providers`.
    offers: i64,
    /// `None`: no votes, no score.
    score: Option<[f64; 3]>,
    label: &'static str,
}

const EXPECTED: &[Expected] = &[
    Expected {
        file: "post_production_future.json",
        status: "Post Production",
        every_days: 2,
        cast: 3,
        crew: 3,
        people: 5,
        trailers: 1,
        videos: 1,
        release_dates: 1,
        certification: None,
        offers: 0,
        score: None,
        label: "The Glass Orchard (2034) · dir. Celeste Navarro · with Wren Adebayo, Tomas Kreil, Juno Hartsell",
    },
    Expected {
        file: "rumored_undated.json",
        status: "Rumored",
        every_days: 14,
        cast: 0,
        crew: 0,
        people: 0,
        trailers: 0,
        videos: 0,
        release_dates: 0,
        certification: None,
        offers: 0,
        score: None,
        label: "Saltmarsh Requiem",
    },
    Expected {
        file: "in_production_undated.json",
        status: "In Production",
        every_days: 7,
        cast: 3,
        crew: 1,
        people: 4,
        trailers: 0,
        videos: 0,
        release_dates: 0,
        certification: None,
        offers: 0,
        score: None,
        label: "Lamplighters · dir. Imke Vossberg · with Effie Tolland, Rhodri Pask, Sol Amari",
    },
    Expected {
        file: "canceled.json",
        status: "Canceled",
        every_days: 30,
        cast: 1,
        crew: 1,
        people: 2,
        trailers: 0,
        videos: 0,
        release_dates: 0,
        certification: None,
        offers: 0,
        score: None,
        label: "Northbound Freight (2035) · dir. Maren Lutz · with Dale Ruskin",
    },
    Expected {
        file: "zero_votes.json",
        status: "Released",
        every_days: 30,
        cast: 2,
        crew: 1,
        people: 3,
        trailers: 0,
        videos: 0,
        release_dates: 2,
        certification: None,
        offers: 0,
        score: None,
        label: "A Quiet Week in Tarsk (2011) · 1h 28m · dir. Ferris Doyle · with Hollis Brandt, Ada Whitcombe",
    },
    Expected {
        file: "empty_certifications.json",
        status: "Released",
        every_days: 30,
        cast: 3,
        crew: 1,
        people: 4,
        trailers: 1,
        videos: 1,
        release_dates: 3,
        certification: None,
        offers: 0,
        score: Some([64.2, 62.3, 66.1]),
        label: "Ferrymen (2019) · 1h 41m · score 64.2 [62.3–66.1] · dir. Gus Halloran · with Cal Ambrose, Dev Okafor, Lena Marsh",
    },
    Expected {
        file: "no_providers.json",
        status: "Released",
        every_days: 30,
        cast: 2,
        crew: 1,
        people: 3,
        trailers: 1,
        videos: 1,
        release_dates: 1,
        certification: Some("PG"),
        offers: 0,
        score: Some([68.7, 67.6, 69.8]),
        label: "The Cartographer's Daughter (2016) · 1h 36m · PG · score 68.7 [67.6–69.8] · dir. Noor Haddad · with Maud Ellery, Pieter Vos",
    },
    Expected {
        file: "vimeo_only.json",
        status: "Released",
        every_days: 30,
        cast: 1,
        crew: 2,
        people: 3,
        trailers: 0,
        videos: 2,
        release_dates: 1,
        certification: None,
        offers: 1,
        score: Some([67.6, 62.4, 72.7]),
        label: "Paper Harbour (2014) · 1h 19m · score 67.6 [62.4–72.7] · dir. Arlo Penner · with Yvette Boucher",
    },
    Expected {
        file: "credited_twice.json",
        status: "Released",
        every_days: 30,
        cast: 5,
        crew: 3,
        people: 6,
        trailers: 1,
        videos: 2,
        release_dates: 1,
        certification: Some("PG-13"),
        offers: 2,
        score: Some([70.8, 69.9, 71.6]),
        label: "Twice Told (2015) · 1h 52m · PG-13 · score 70.8 [69.9–71.6] · dir. Odile Marchetti · with Odile Marchetti, Ben Castellan, Priya Lindqvist",
    },
    Expected {
        file: "large_cast.json",
        status: "Released",
        every_days: 30,
        cast: 400,
        crew: 12,
        people: 412,
        trailers: 3,
        videos: 4,
        release_dates: 3,
        certification: Some("PG-13"),
        offers: 3,
        score: Some([72.9, 72.5, 73.3]),
        label: "The Long Crossing (2023) · 3h 7m · PG-13 · score 72.9 [72.5–73.3] · dir. Ada Fairweather-Crewe · with Ada Ashdown, Bram Ashdown, Cora Ashdown",
    },
    Expected {
        file: "japanese_title.json",
        status: "Released",
        every_days: 30,
        cast: 2,
        crew: 2,
        people: 4,
        trailers: 1,
        videos: 1,
        release_dates: 2,
        certification: Some("PG"),
        offers: 2,
        score: Some([75.0, 73.7, 76.2]),
        label: "The Lantern Keeper of Kiso (2008) · 1h 54m · PG · score 75.0 [73.7–76.2] · dir. Sachiko Ueda · with Haruka Ozawa, Kenta Moriyama",
    },
    Expected {
        file: "russian_title.json",
        status: "Released",
        every_days: 30,
        cast: 2,
        crew: 1,
        people: 3,
        trailers: 0,
        videos: 0,
        release_dates: 1,
        certification: None,
        offers: 0,
        score: Some([68.5, 62.1, 75.0]),
        label: "Winter Letters (1997) · 2h 11m · score 68.5 [62.1–75.0] · dir. Григорий Лан · with Анна Ветрова, Ilya Sorokin",
    },
    Expected {
        file: "arabic_title.json",
        status: "Released",
        every_days: 30,
        cast: 1,
        crew: 1,
        people: 2,
        trailers: 0,
        videos: 0,
        release_dates: 1,
        certification: None,
        offers: 0,
        score: Some([65.0, 49.0, 81.0]),
        label: "طريق الملح (2022) · 1h 34m · score 65.0 [49.0–81.0] · dir. سامر العلي · with ليلى حداد",
    },
];

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tmdb")
}

/// Every fixture file, by name.
fn fixtures() -> BTreeMap<String, Json> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(fixture_dir()).expect("tests/fixtures/tmdb") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            all.insert(path.file_name().unwrap().to_string_lossy().into_owned(), json);
        }
    }
    all
}

/// Fails on anything in a card that is not data: an empty or blank string, a literal "null", a
/// runtime of 0, a score or an interval without votes, or an interval its votes do not justify.
fn assert_only_data(file: &str, value: &Json, at: &str) {
    match value {
        Json::String(s) => {
            assert!(!s.trim().is_empty(), "{file}: empty string at {at}");
            assert!(s != "null" && !s.contains("(null)"), "{file}: {s:?} at {at}");
        }
        Json::Array(items) => {
            items.iter().enumerate().for_each(|(i, v)| assert_only_data(file, v, &format!("{at}[{i}]")))
        }
        Json::Object(fields) => fields.iter().for_each(|(k, v)| assert_only_data(file, v, &format!("{at}.{k}"))),
        _ => {}
    }
}

fn assert_card_shows_only_data(file: &str, card: &Json, fixture: &Json) {
    assert_only_data(file, card, "card");
    assert!(card["runtime_minutes"].is_null() || card["runtime_minutes"].as_i64().unwrap() > 0, "{file}: {card}");
    let votes = fixture["vote_count"].as_i64().unwrap();
    let s = &card["score"];
    assert_eq!(s["votes"], votes, "{file}");
    assert_eq!(s["rated"], votes > 0, "{file}: {s}");
    assert!(
        score::interval_is_justified(votes, s["low"].as_f64(), s["high"].as_f64()),
        "{file}: the card's interval is narrower than its {votes} votes justify: {s}"
    );
    if votes == 0 {
        assert_eq!((&s["value"], &s["low"], &s["high"]), (&Json::Null, &Json::Null, &Json::Null), "{file}");
    }
}

#[tokio::test]
async fn real_shaped_responses_are_ingested_whole_and_shown_honestly() {
    let app = TestApp::start().await;
    let fixtures = fixtures();
    let mut listed: Vec<&str> = EXPECTED.iter().map(|e| e.file).collect();
    listed.sort();
    assert_eq!(fixtures.keys().map(String::as_str).collect::<Vec<_>>(), listed, "every fixture has its expectations");
    let ids: Vec<i64> = EXPECTED.iter().map(|e| fixtures[e.file]["id"].as_i64().unwrap()).collect();
    for e in EXPECTED {
        let fixture = &fixtures[e.file];
        app.fake.serve_fixture(fixture["id"].as_u64().unwrap(), fixture.clone());
    }
    let future = &fixtures["post_production_future.json"]["release_date"];
    assert!(
        future.as_str().unwrap() > chrono::Utc::now().date_naive().to_string().as_str(),
        "post_production_future.json must stay in the future: move its dates forward"
    );

    // The fake answers each fixture exactly, over real HTTP, as the client asks for it.
    for e in EXPECTED {
        let fixture = &fixtures[e.file];
        let url = format!(
            "{}/movie/{}?append_to_response={}",
            app.fake.base_url(),
            fixture["id"],
            marquee::tmdb::types::APPENDED_PARTS
        );
        let response = app.http.get(url).bearer_auth(&app.fake.config().bearer_token).send().await.unwrap();
        let answer: Json = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(&answer, fixture, "{}", e.file);
    }

    let r = app.post("/functions/v1/batch-ingest", json!({"tmdb_ids": ids})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["drain"]["ingested"], EXPECTED.len(), "{}", r.text);
    assert_eq!(r.body["status"], "succeeded", "{}", r.text);

    // The run log names each movie "Title (Year)", or its title alone when undated.
    let titles: Vec<String> =
        app.db.query_one("SELECT ingested_titles FROM scheduled_ingestion_log", &[]).await.unwrap().get(0);
    let mut titles = titles;
    titles.sort();
    let mut expected_titles: Vec<String> =
        EXPECTED.iter().map(|e| e.label.split(" · ").next().unwrap().to_owned()).collect();
    expected_titles.sort();
    assert_eq!(titles, expected_titles);

    for e in EXPECTED {
        check_movie(&app, e, &fixtures[e.file]).await;
    }

    // What the audit will check, on every movie at once: no interval narrower than its votes,
    // no score without votes, and every next refresh where its tier puts it.
    let unjustified = app
        .count(&format!(
            "SELECT count(*) FROM aggregates a WHERE a.method_version = '{}' AND {}",
            score::METHOD_VERSION,
            score::unjustified_interval_sql()
        ))
        .await;
    assert_eq!(unjustified, 0);
    assert_eq!(app.count("SELECT count(*) FROM aggregates").await, EXPECTED.len() as i64);
    let off_tier = app
        .count(&format!(
            "SELECT count(*) FROM works w JOIN works_meta m ON m.work_id = w.work_id
             WHERE w.next_refresh_at IS DISTINCT FROM w.last_refreshed_at + {}",
            staleness::interval_sql()
        ))
        .await;
    assert_eq!(off_tier, 0);
    assert_eq!(app.count("SELECT count(*) FROM credits WHERE character = ''").await, 0, "an empty character is none");
    assert_eq!(app.count("SELECT count(*) FROM credits WHERE character IS NULL AND credit_type = 'cast'").await, 3);

    // And the audit, every table of every movie against its stored response, passes.
    let report = marquee::pipeline::audit::audit(
        &app.library("marquee-audit").await,
        marquee::pipeline::audit::AuditOptions { fix: false, deep: true },
    )
    .await
    .unwrap();
    assert_eq!(report.findings(), 0, "{report:#?}");
    let projection = report.checks.iter().find(|c| c.name == "projection").unwrap();
    assert_eq!((projection.checked, projection.passed), (EXPECTED.len() as i64, EXPECTED.len() as i64));
}

async fn check_movie(app: &TestApp, e: &Expected, fixture: &Json) {
    let file = e.file;
    let tmdb_id = fixture["id"].as_i64().unwrap();
    let served = app.request(Method::GET, &format!("/api/works/{tmdb_id}"), None, None, &[]).await;
    assert_eq!(served.status, 200, "{file}: {}", served.text);
    let card = &served.body;
    assert_card_shows_only_data(file, card, fixture);
    assert_eq!(card::label(card), e.label, "{file}");
    assert_eq!(card["title"], fixture["title"], "{file}");
    assert_eq!(card["original_title"], fixture["original_title"], "{file}");
    assert_eq!(card["certification"], json!(e.certification), "{file}");
    assert_eq!(card["trailers"].as_array().unwrap().len(), e.trailers, "{file}");
    assert_eq!(card["cast"].as_array().unwrap().len(), (e.cast as usize).min(10), "{file}");
    let score = e.score.map(|[value, low, high]| (json!(value), json!(low), json!(high)));
    let (value, low, high) = score.clone().unwrap_or((Json::Null, Json::Null, Json::Null));
    assert_eq!(
        (&card["score"]["value"], &card["score"]["low"], &card["score"]["high"]),
        (&value, &low, &high),
        "{file}"
    );
    let has_providers = e.offers > 0;
    assert_eq!(card["attribution"].as_array().unwrap().len(), 1 + usize::from(has_providers), "{file}");

    let one = |sql: &'static str| async move {
        app.db.query_one(sql, &[&tmdb_id]).await.unwrap_or_else(|err| panic!("{file}: {sql}: {err}"))
    };
    let w = one(
        "SELECT w.title, w.original_title, w.release_date IS NULL, m.release_status, m.certification, m.runtime_minutes,
                m.overview, m.tagline, m.homepage, extract(epoch FROM w.next_refresh_at - w.last_refreshed_at)::int8 / 86400,
                (SELECT payload_short FROM work_cards_cache c WHERE c.work_id = w.work_id)
           FROM works w JOIN works_meta m ON m.work_id = w.work_id WHERE w.tmdb_id = $1",
    )
    .await;
    assert_eq!(w.get::<_, String>(0), fixture["title"].as_str().unwrap(), "{file}: the title intact");
    assert_eq!(w.get::<_, String>(1), fixture["original_title"].as_str().unwrap(), "{file}: the original title intact");
    assert_eq!(w.get::<_, bool>(2), fixture["release_date"] == "", "{file}");
    assert_eq!(w.get::<_, String>(3), e.status, "{file}");
    assert_eq!(w.get::<_, Option<String>>(4).as_deref(), e.certification, "{file}");
    let runtime = fixture["runtime"].as_i64().filter(|r| *r > 0);
    assert_eq!(w.get::<_, Option<i32>>(5).map(i64::from), runtime, "{file}: runtime 0 or null is no runtime");
    for (i, field) in [(6, "overview"), (7, "tagline"), (8, "homepage")] {
        let given = fixture[field].as_str().filter(|s| !s.is_empty());
        assert_eq!(w.get::<_, Option<String>>(i).as_deref(), given, "{file}: {field}");
    }
    assert_eq!(w.get::<_, i64>(9), e.every_days, "{file}: refresh tier");
    let short: Json = w.get(10);
    assert_eq!(short["score"], value, "{file}: the short card's score");
    assert_eq!(short["title"], fixture["title"], "{file}");

    let counts = one("SELECT (SELECT count(*) FROM credits c WHERE c.work_id = w.work_id AND c.credit_type = 'cast'),
                (SELECT count(*) FROM credits c WHERE c.work_id = w.work_id AND c.credit_type = 'crew'),
                (SELECT count(DISTINCT c.person_id) FROM credits c WHERE c.work_id = w.work_id),
                (SELECT count(*) FROM videos v WHERE v.work_id = w.work_id),
                (SELECT count(*) FROM release_dates r WHERE r.work_id = w.work_id),
                (SELECT count(*) FROM release_dates r WHERE r.work_id = w.work_id AND r.certification IS NOT NULL),
                (SELECT count(*) FROM work_watch_providers p WHERE p.work_id = w.work_id),
                (SELECT count(*) FROM work_genres g WHERE g.work_id = w.work_id),
                (SELECT count(*) FROM work_keywords k WHERE k.work_id = w.work_id),
                (SELECT count(*) FROM images i WHERE i.work_id = w.work_id),
                (SELECT count(*) FROM similar_movies s WHERE s.work_id = w.work_id),
                (SELECT count(*) FROM work_companies c WHERE c.work_id = w.work_id)
           FROM works w WHERE w.tmdb_id = $1")
    .await;
    let n = |i: usize| counts.get::<_, i64>(i);
    let len = |v: &Json| v.as_array().map_or(0, Vec::len) as i64;
    let certified = fixture["release_dates"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["release_dates"].as_array().unwrap())
        .filter(|r| r["certification"] != "")
        .count() as i64;
    let images = ["backdrops", "posters", "logos"].iter().map(|k| len(&fixture["images"][k])).sum::<i64>();
    assert_eq!(
        [n(0), n(1), n(2), n(3), n(4), n(5), n(6), n(7), n(8), n(9), n(10), n(11)],
        [
            e.cast,
            e.crew,
            e.people,
            e.videos,
            e.release_dates,
            certified,
            e.offers,
            len(&fixture["genres"]),
            len(&fixture["keywords"]["keywords"]),
            images,
            len(&fixture["similar"]["results"]),
            len(&fixture["production_companies"]),
        ],
        "{file}: cast, crew, people, videos, release dates, certified, offers, genres, keywords, images, similar, companies"
    );

    let aggregate = one("SELECT a.ai_score, a.ai_score_low, a.ai_score_high, a.votes_count FROM aggregates a
           JOIN works w ON w.work_id = a.work_id WHERE w.tmdb_id = $1")
    .await;
    let stored =
        (aggregate.get::<_, Option<f64>>(0), aggregate.get::<_, Option<f64>>(1), aggregate.get::<_, Option<f64>>(2));
    assert_eq!(
        stored,
        e.score.map_or((None, None, None), |[v, l, h]| (Some(v), Some(l), Some(h))),
        "{file}: NULLs without votes"
    );
    assert_eq!(i64::from(aggregate.get::<_, i32>(3)), fixture["vote_count"].as_i64().unwrap(), "{file}");
}

#[tokio::test]
async fn a_person_credited_twice_keeps_every_credit_and_non_latin_names_stay_intact() {
    let app = TestApp::start().await;
    let fixtures = fixtures();
    for file in ["credited_twice.json", "russian_title.json", "arabic_title.json", "japanese_title.json"] {
        let fixture = &fixtures[file];
        app.fake.serve_fixture(fixture["id"].as_u64().unwrap(), fixture.clone());
        let r = app.ingest(json!({"tmdb_id": fixture["id"]})).await;
        assert_eq!(r.status, 200, "{file}: {}", r.text);
        assert_card_shows_only_data(file, &r.body["card"], fixture);
    }

    let twice = &fixtures["credited_twice.json"]["credits"]["cast"][0];
    let person = twice["id"].as_i64().unwrap();
    let credits = app
        .db
        .query(
            "SELECT credit_type, character, job FROM credits WHERE person_id = $1 ORDER BY credit_type, ord",
            &[&person],
        )
        .await
        .unwrap();
    let credits: Vec<(String, Option<String>, Option<String>)> =
        credits.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        credits,
        [
            ("cast".into(), Some("Nora Vey".into()), None),
            ("cast".into(), Some("Nora Vey (older)".into()), None),
            ("crew".into(), None, Some("Director".into())),
        ]
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM people WHERE person_id = {person}")).await, 1);
    let card = app.request(Method::GET, "/api/works/9900009", None, None, &[]).await.body;
    let roles: Vec<&str> = card["cast"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["person_id"] == person)
        .map(|c| c["character"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["Nora Vey", "Nora Vey (older)"], "both roles on the card");

    for (tmdb_id, title, original) in [
        (9_900_012_i64, "Winter Letters", "Зимние письма"),
        (9_900_013, "طريق الملح", "طريق الملح"),
        (9_900_011, "The Lantern Keeper of Kiso", "木曽の灯守"),
    ] {
        let row =
            app.db.query_one("SELECT title, original_title FROM works WHERE tmdb_id = $1", &[&tmdb_id]).await.unwrap();
        assert_eq!((row.get::<_, String>(0).as_str(), row.get::<_, String>(1).as_str()), (title, original));
        let raw: Json = app
            .db
            .query_one(
                "SELECT r.payload FROM works_raw r JOIN works w ON w.work_id = r.work_id WHERE w.tmdb_id = $1",
                &[&tmdb_id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(raw["original_title"], original, "the stored response keeps the script");
    }
    let mut names: Vec<String> = app
        .db
        .query("SELECT name FROM people WHERE name ~ '[А-Яа-я]' OR name ~ '[ء-ي]'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    names.sort();
    assert_eq!(names, ["Анна Ветрова", "Григорий Лан", "سامر العلي", "ليلى حداد"]);
}
