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
