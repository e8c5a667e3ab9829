//! `marquee migrate`: tracked, checksummed, idempotent.

use marquee::db::migrate::{MIGRATIONS, MigrateError, migrate};
use marquee::ports::Database;
use marquee_cli::native::NativeDb;
use marquee_tests::{connect, empty_database};

#[tokio::test]
async fn migrate_applies_everything_once_and_is_a_no_op_the_second_time() {
    let url = empty_database().await;
    let conn = NativeDb::new(&url).connect().await.unwrap();
    let applied = migrate(&conn).await.unwrap();
    assert_eq!(applied, MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
    assert_eq!(migrate(&conn).await.unwrap(), Vec::<i64>::new());
    let db = connect(&url).await;
    let tables: i64 = db
        .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(tables >= 25, "{tables} tables");
}

#[tokio::test]
async fn concurrent_migrations_serialise() {
    let url = empty_database().await;
    let (a, b) = (NativeDb::new(&url).connect().await.unwrap(), NativeDb::new(&url).connect().await.unwrap());
    let (ra, rb) = futures::join!(migrate(&a), migrate(&b));
    let mut lens = [ra.unwrap().len(), rb.unwrap().len()];
    lens.sort();
    assert_eq!(lens, [0, MIGRATIONS.len()]);
}

#[tokio::test]
async fn an_applied_migration_that_was_edited_is_refused() {
    let url = empty_database().await;
    let conn = NativeDb::new(&url).connect().await.unwrap();
    migrate(&conn).await.unwrap();
    // What an edit of 0001 after it was applied looks like: the recorded checksum differs.
    connect(&url)
        .await
        .execute("UPDATE _marquee_migrations SET checksum = 'edited' WHERE version = 1", &[])
        .await
        .unwrap();
    match migrate(&conn).await {
        Err(MigrateError::Edited { version: 1, .. }) => {}
        other => panic!("expected an edited-migration error, got {other:?}"),
    }
}
