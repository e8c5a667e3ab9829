//! The native adapter applies the Spin host's type rules, so what Spin rejects fails here too.

use chrono::NaiveDateTime;
use marquee::ports::{Connection, Database, DbError, Value};
use marquee_cli::native::NativeDb;
use marquee_tests::fresh_database;

#[tokio::test]
async fn a_bare_timestamptz_column_cannot_be_read_but_at_time_zone_utc_can() {
    let conn = NativeDb::new(fresh_database().await).connect().await.unwrap();
    let rows = conn.query("SELECT now() AS bare, now() AT TIME ZONE 'UTC' AS utc", &[]).await.unwrap();
    let err = rows[0].get::<NaiveDateTime>("bare").unwrap_err();
    assert!(matches!(&err, DbError::Decode { found, .. } if found.contains("timestamptz")), "{err}");
    assert!(rows[0].get::<NaiveDateTime>("utc").is_ok());
}

#[tokio::test]
async fn json_columns_are_unsupported_like_on_spin_and_jsonb_works() {
    let conn = NativeDb::new(fresh_database().await).connect().await.unwrap();
    let rows = conn.query("SELECT '{\"a\":1}'::json AS j, '{\"a\":1}'::jsonb AS b", &[]).await.unwrap();
    assert!(rows[0].get::<serde_json::Value>("j").is_err());
    assert_eq!(rows[0].get::<serde_json::Value>("b").unwrap(), serde_json::json!({"a": 1}));
}

#[tokio::test]
async fn parameter_types_are_strict() {
    let conn = NativeDb::new(fresh_database().await).connect().await.unwrap();
    // LIMIT takes an int8: an int4 is refused, as the Spin host refuses it.
    assert!(conn.query("SELECT 1 AS x LIMIT $1", &[Value::Int32(1)]).await.is_err());
    assert_eq!(conn.query("SELECT 1 AS x LIMIT $1", &[Value::Int64(1)]).await.unwrap().len(), 1);
    // A string into a jsonb parameter is refused; a JSON value is accepted.
    assert!(conn.query("SELECT $1::jsonb AS j", &[Value::Text("{}".into())]).await.is_err());
    assert!(conn.query("SELECT $1::jsonb AS j", &[Value::Jsonb(serde_json::json!({}))]).await.is_ok());
    // NULL binds to any type.
    let rows = conn.query("SELECT $1::int8 IS NULL AS n", &[Value::Null]).await.unwrap();
    assert!(rows[0].get::<bool>("n").unwrap());
    // Reading with the wrong Rust type fails instead of converting.
    let rows = conn.query("SELECT 1::int4 AS small", &[]).await.unwrap();
    assert!(rows[0].get::<i64>("small").is_err());
    assert_eq!(rows[0].get::<i32>("small").unwrap(), 1);
}

#[tokio::test]
async fn a_failed_transaction_rolls_back_and_leaves_the_connection_usable() {
    let conn = NativeDb::new(fresh_database().await).connect().await.unwrap();
    conn.execute("CREATE TABLE t (x int8 PRIMARY KEY)", &[]).await.unwrap();
    let result: Result<(), DbError> = marquee::ports::transaction(&conn, async |c| {
        c.execute("INSERT INTO t VALUES ($1)", &[Value::Int64(1)]).await?;
        c.execute("INSERT INTO t VALUES ($1)", &[Value::Int64(1)]).await?;
        Ok(())
    })
    .await;
    assert_eq!(result.unwrap_err().sqlstate(), Some("23505"));
    let rows = conn.query("SELECT count(*) AS n FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get::<i64>("n").unwrap(), 0);
}

/// The native server's pool of sessions: a clean session is reused; one dropped inside a
/// transaction, or with a statement in flight, is closed and never handed out again; prepared
/// statements follow the same type rules.
#[tokio::test]
async fn the_session_pool_never_hands_out_a_session_inside_a_transaction() {
    use marquee_cli::native::NativePool;
    let url = fresh_database().await;
    let pool = NativePool::new(&url, 1);
    let backend = async |conn: &marquee_cli::native::PooledSession| -> i32 {
        conn.query("SELECT pg_backend_pid() AS pid", &[]).await.unwrap()[0].get::<i32>("pid").unwrap()
    };
    let first = pool.connect().await.unwrap();
    let pid = backend(&first).await;
    drop(first);
    let again = pool.connect().await.unwrap();
    assert_eq!(backend(&again).await, pid, "a clean session is reused");

    again.execute("BEGIN", &[]).await.unwrap();
    again.execute("CREATE TABLE left_open (x int8)", &[]).await.unwrap();
    drop(again);
    let next = pool.connect().await.unwrap();
    assert_ne!(backend(&next).await, pid, "the session left in a transaction was closed");
    let rows = next.query("SELECT count(*) AS n FROM pg_tables WHERE tablename = 'left_open'", &[]).await.unwrap();
    assert_eq!(rows[0].get::<i64>("n").unwrap(), 0, "and its transaction rolled back with it");
    let pid = backend(&next).await;

    // A statement cut off by its caller (a request past its time budget, a client gone).
    let slow = next.query("SELECT pg_sleep(5)", &[]);
    assert!(tokio::time::timeout(std::time::Duration::from_millis(200), slow).await.is_err());
    drop(next);
    let after = pool.connect().await.unwrap();
    assert_ne!(backend(&after).await, pid, "a session with a statement in flight was closed");

    // Prepared statements: the same results and the same strict types as plain ones.
    assert!(after.query_prepared("SELECT 1 AS x LIMIT $1", &[Value::Int32(1)]).await.is_err());
    for _ in 0..3 {
        let rows = after.query_prepared("SELECT 1 AS x LIMIT $1", &[Value::Int64(1)]).await.unwrap();
        assert_eq!(rows[0].get::<i32>("x").unwrap(), 1);
    }
    let (open, max) = pool.sessions();
    assert_eq!((open, max), (1, 1));
}
