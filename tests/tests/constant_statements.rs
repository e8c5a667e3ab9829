//! One movie's writes are one statement, however many credits it has.

use std::time::Duration;

use fake_tmdb::FakeTmdbConfig;
use marquee::db::works;
use marquee::domain::movie;
use marquee::pipeline::ingest::{self, Outcome};
use marquee::ports::{Database, MeteredConnection, system_now};
use marquee::tmdb::types::{APPENDED_PARTS, ImageConfiguration, MovieDetails};
use marquee_cli::native::NativeDb;
use marquee_tests::{connect, fresh_database};

async fn statements_for(url: &str, id: u64, cast: usize, crew: usize) -> u64 {
    let config = FakeTmdbConfig { cast_per_movie: cast, crew_per_movie: crew, ..FakeTmdbConfig::default() };
    let parts: Vec<&str> = APPENDED_PARTS.split(',').collect();
    let raw = fake_tmdb::movie_details(&config, id, &parts).unwrap();
    let details: MovieDetails = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(details.credits.cast.len(), cast);
    let images = ImageConfiguration { secure_base_url: "https://image.tmdb.org/t/p/".into(), ..Default::default() };
    let record = movie::normalize(&details, &images).unwrap();
    let conn = MeteredConnection::new(NativeDb::new(url).connect().await.unwrap());
    let claim = works::claim(&conn, id as i64, "test", Duration::from_secs(60), true).await.unwrap().unwrap();
    conn.meter().reset();
    let store = ingest::Store { function: "test", now: system_now(), claim: &claim, owner: "test", images: &images };
    let outcome = ingest::store_record(&conn, &store, &record, &raw, Default::default()).await.unwrap();
    assert!(matches!(outcome, Outcome::Ingested { .. }));
    conn.meter().statements()
}

#[tokio::test]
async fn a_movie_is_written_in_one_statement_whatever_its_number_of_credits() {
    let url = fresh_database().await;
    let small = statements_for(&url, 1, 2, 1).await;
    let large = statements_for(&url, 2, 150, 60).await;
    let refresh = statements_for(&url, 2, 150, 60).await;
    // One statement (two round trips: prepare, execute), no BEGIN/COMMIT: the statement is the
    // transaction.
    assert_eq!((small, large, refresh), (1, 1, 1));
    let credits: i64 = connect(&url).await.query_one("SELECT count(*) FROM credits", &[]).await.unwrap().get(0);
    assert_eq!(credits, 2 + 1 + 150 + 60);
}
