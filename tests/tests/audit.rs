//! `marquee audit`: it passes on a catalog that went through ingests, refreshes with changed
//! credits and genres, gone movies and reprojection; it finds every kind of damage done on
//! purpose; `--fix` repairs what it says it repairs, and the audit passes again.

use marquee::pipeline::audit::{self, AuditReport};
use marquee_tests::TestApp;
use serde_json::json;

const BATCH: &str = "/functions/v1/batch-ingest";

async fn run(app: &TestApp, fix: bool) -> AuditReport {
    audit::audit(&app.library("marquee-audit").await, audit::AuditOptions { fix, deep: true })
        .await
        .expect("the audit runs")
}

fn kinds(report: &AuditReport) -> Vec<(String, i64)> {
    report.checks.iter().flat_map(|c| &c.findings).map(|f| (f.kind.clone(), f.count)).collect()
}

/// A catalog that has been through what a catalog goes through.
async fn lived_in_catalog() -> TestApp {
    let app = TestApp::start().await;
    let ids: Vec<i64> = (1..=15).collect();
    let r = app.post(BATCH, json!({"tmdb_ids": ids})).await;
    assert_eq!(r.body["drain"]["ingested"], 15, "{}", r.text);
    app.fake
        .faults()
        .patch_movie(2, json!({"genres": [{"id": 990002, "name": "Another"}], "credits": {"cast": [], "crew": []}}));
    app.fake.faults().patch_movie(3, json!({"title": "Renamed", "runtime": 0, "overview": null}));
    app.fake.faults().not_found(4);
    let r = app.post(BATCH, json!({"mode": "reingest", "filter": "all"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.post(BATCH, json!({"mode": "reproject"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'gone'").await, 1);
    app
}

#[tokio::test]
async fn a_catalog_after_ingests_refreshes_gone_movies_and_reprojection_passes() {
    let app = lived_in_catalog().await;
    let report = run(&app, false).await;
    assert_eq!(kinds(&report), vec![], "{report:#?}");
    let projection = report.checks.iter().find(|c| c.name == "projection").unwrap();
    assert_eq!((projection.checked, projection.passed), (14, 14));
    let checked = |name: &str| report.checks.iter().find(|c| c.name == name).unwrap().checked;
    assert_eq!(checked("works"), 15);
    assert!(checked("run log") >= 3 && checked("aggregates") > 0 && checked("orphans") > 0, "{report:#?}");
}

#[tokio::test]
async fn every_kind_of_damage_is_found_and_fix_repairs_what_it_says() {
    let app = lived_in_catalog().await;
    let work = |tmdb_id: i64| format!("(SELECT work_id FROM works WHERE tmdb_id = {tmdb_id})");
    app.db
        .batch_execute(&format!(
            "DELETE FROM credits WHERE ctid = (SELECT ctid FROM credits WHERE work_id = {w5} LIMIT 1);
             UPDATE work_cards_cache SET payload = payload || '{{\"title\": \"Corrupted\"}}' WHERE work_id = {w6};
             DELETE FROM works_meta WHERE work_id = {w7};
             UPDATE works_raw SET payload = payload || '{{\"tagline\": \"tampered\"}}' WHERE work_id = {w8};
             UPDATE works SET next_refresh_at = next_refresh_at + interval '3 days' WHERE tmdb_id = 9;
             UPDATE aggregates SET ai_score_low = ai_score - 0.1, ai_score_high = ai_score + 0.1 WHERE work_id = {w10};
             UPDATE catalog_aggregates SET works = works + 5 WHERE kind = 'genre'
                AND key_id = (SELECT min(key_id) FROM catalog_aggregates WHERE kind = 'genre');
             INSERT INTO people (person_id, name) VALUES (987654321, 'Nobody Uses Me');
             DELETE FROM search_postings WHERE ctid = (SELECT ctid FROM search_postings WHERE work_id = {w12} LIMIT 1);
             INSERT INTO refresh_queue (tmdb_id, reason, status, locked_by, lease_until, attempts, max_attempts)
                VALUES (424242, 'batch', 'processing', 'a-dead-runner', now() - interval '2 hours', 1, 5);
             UPDATE works SET ingestion_status = 'ingesting', lease_owner = 'a-dead-invocation',
                    lease_until = now() - interval '5 minutes' WHERE tmdb_id = 11;
             INSERT INTO scheduled_ingestion_log (run_id, function, source, trigger_type, deadline_at, started_at)
                VALUES ('run-killed', 'daily-refresh', 'refresh', 'scheduled', now() - interval '2 hours', now() - interval '2 hours');",
            w5 = work(5),
            w6 = work(6),
            w7 = work(7),
            w8 = work(8),
            w10 = work(10),
            w12 = work(12),
        ))
        .await
        .unwrap();

    let found = run(&app, false).await;
    let found_kinds = kinds(&found);
    for expected in [
        "credits differ from the stored response",
        "work_cards_cache differ from the stored response",
        "works_meta differ from the stored response",
        "stored response differs from the hash recorded with it",
        "next_refresh_at disagrees with its tier",
        "score interval narrower than its votes justify",
        "aggregate differs from a full recompute",
        "person no work uses",
        "lease expired long ago still held",
        "work stuck in ingesting",
        "run running long past its deadline",
        "search postings differ from the title words",
    ] {
        assert!(found_kinds.iter().any(|(k, n)| k == expected && *n >= 1), "{expected} not found in {found_kinds:?}");
    }
    let credits = found.checks.iter().flat_map(|c| &c.findings).find(|f| f.kind.starts_with("credits")).unwrap();
    assert_eq!((credits.count, credits.examples.clone()), (1, vec!["5".to_owned()]));

    let fixed = run(&app, true).await;
    let repairs: Vec<&str> = fixed.fixed.iter().filter(|f| f.count > 0).map(|f| f.what).collect();
    for expected in [
        "runs closed as abandoned",
        "stuck ingests released and queued again",
        "dead queue leases released",
        "works reprojected from their stored response",
        "works queued for a refresh from TMDB (stored response altered or missing)",
        "next_refresh_at set from the tier",
        "shared rows no work uses deleted",
        "aggregates recomputed from the facts",
        "works' search postings written again from their sort keys",
    ] {
        assert!(repairs.contains(&expected), "{expected} not in {repairs:?}");
    }
    // Everything is mended but movie 8, whose stored response was altered behind the catalog's
    // back: derived from it, the tables would take the damage in, so it waits, queued, for a
    // refresh from TMDB.
    let left = fixed.checks.iter().flat_map(|c| &c.findings).collect::<Vec<_>>();
    assert!(left.iter().all(|f| f.examples == vec!["8".to_owned()]), "{left:#?}");
    assert!(left.iter().any(|f| f.kind == "stored response differs from the hash recorded with it"), "{left:#?}");
    let again = run(&app, false).await;
    assert_eq!(kinds(&again), kinds(&fixed), "a second audit sees what the fix left");
    assert_eq!(app.count("SELECT count(*) FROM credits c JOIN works w USING (work_id) WHERE w.tmdb_id = 5").await, 30);
    assert_eq!(app.count("SELECT count(*) FROM scheduled_ingestion_log WHERE status = 'running'").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM refresh_queue WHERE tmdb_id = 424242 AND status = 'queued'").await, 1);

    // A refresh from TMDB settles the last one, and the audit passes.
    let r = app.post(BATCH, json!({"mode": "reingest", "filter": "all"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(kinds(&run(&app, false).await), vec![]);
}
