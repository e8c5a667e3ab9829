//! `marquee audit` as a process: a table and exit 0 on a whole catalog; JSON and a non-zero exit
//! when something is wrong; `--fix` repairs it and says so, and the audit passes again.

mod support;

use fake_tmdb::{FakeTmdb, FakeTmdbConfig};
use marquee::ports::{Connection, Database};
use marquee_cli::native::{NativeDb, NativeHttp, NativeSettings, SystemClock};
use support::{fresh_database, marquee};

#[tokio::test]
async fn the_command_prints_its_table_fails_on_findings_and_fix_repairs() {
    let url = fresh_database("marquee_audit_cli").await;
    let fake = FakeTmdb::start(FakeTmdbConfig::default()).unwrap();
    let settings = NativeSettings::default()
        .with("database_url", url.clone())
        .with("tmdb_base_url", fake.base_url())
        .with("tmdb_token", FakeTmdbConfig::default().bearer_token);
    let config = marquee::config::Config::load(&settings).await.unwrap();
    let app = marquee::App::new(NativeDb::new(&url), NativeHttp::default(), SystemClock, config, "test");
    let request = marquee::pipeline::batch::BatchRequest {
        mode: marquee::pipeline::batch::BatchMode::Ids((1..=5).collect()),
        trigger_type: "manual".into(),
        budget: None,
    };
    let report = marquee::pipeline::batch::batch_ingest(&app, &request).await.unwrap();
    assert_eq!(report.drain.unwrap().ingested, 5);

    let clean = marquee(&["audit"], &url);
    let table = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{table}{}", String::from_utf8_lossy(&clean.stderr));
    assert!(table.starts_with("check") && table.contains("projection") && table.contains("0 finding(s)"), "{table}");

    let conn = NativeDb::new(&url).connect().await.unwrap();
    conn.execute("DELETE FROM work_genres WHERE ctid = (SELECT ctid FROM work_genres ORDER BY work_id LIMIT 1)", &[])
        .await
        .unwrap();
    let damaged = marquee(&["audit", "--json"], &url);
    assert!(!damaged.status.success());
    assert!(String::from_utf8_lossy(&damaged.stderr).contains("--fix"));
    let report: serde_json::Value = serde_json::from_slice(&damaged.stdout).expect("JSON on stdout");
    let kinds: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap())
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"work_genres differ from the stored response"), "{report}");

    let fixed = marquee(&["audit", "--fix"], &url);
    let said = String::from_utf8_lossy(&fixed.stdout);
    assert!(fixed.status.success(), "{said}{}", String::from_utf8_lossy(&fixed.stderr));
    assert!(said.contains("fixed: works reprojected from their stored response × 1"), "{said}");
    assert!(marquee(&["audit"], &url).status.success());
}
