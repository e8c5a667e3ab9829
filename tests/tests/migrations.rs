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

/// The words a `CHECK (column IN (...))` constraint allows, as the migrated schema has them.
async fn allowed(db: &tokio_postgres::Client, constraint: &str) -> std::collections::BTreeSet<String> {
    let def: String = db
        .query_one("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1", &[&constraint])
        .await
        .unwrap_or_else(|e| panic!("{constraint}: {e}"))
        .get(0);
    def.split('\'').skip(1).step_by(2).map(str::to_owned).collect()
}

#[tokio::test]
async fn the_rust_state_enums_and_the_schema_allow_the_same_words() {
    use marquee::db::queue::Reason;
    use marquee::domain::states::{QueueStatus, RunStatus, WorkStatus};
    let url = marquee_tests::fresh_database().await;
    let db = connect(&url).await;
    let words = |all: Vec<&str>| all.into_iter().map(str::to_owned).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        allowed(&db, "works_ingestion_status_check").await,
        words(WorkStatus::ALL.iter().map(|s| s.as_str()).collect())
    );
    assert_eq!(
        allowed(&db, "refresh_queue_status_check").await,
        words(QueueStatus::ALL.iter().map(|s| s.as_str()).collect())
    );
    assert_eq!(
        allowed(&db, "refresh_queue_reason_check").await,
        words(Reason::ALL.iter().map(|s| s.as_str()).collect())
    );
    assert_eq!(
        allowed(&db, "scheduled_ingestion_log_status_check").await,
        words(RunStatus::ALL.iter().map(|s| s.as_str()).collect())
    );
    let kinds = words(marquee::db::aggregates::AggregateKind::ALL.iter().map(|s| s.as_str()).collect());
    assert_eq!(allowed(&db, "aggregate_dirty_kind_check").await, kinds);
    assert_eq!(allowed(&db, "catalog_aggregates_kind_check").await, kinds);
}
