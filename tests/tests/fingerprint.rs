//! The fingerprint's description of the tables a movie populates (`db::fingerprint::TABLES`) is
//! the schema's: every column is either in the fingerprint, with the type the schema gives it, or
//! listed as one the projection does not decide.

use std::collections::BTreeMap;

use marquee::db::fingerprint::{NOT_PROJECTED, TABLES};
use marquee::db::pg_text::ColumnType;
use marquee_tests::{connect, fresh_database};

#[tokio::test]
async fn the_fingerprinted_columns_and_their_types_are_the_schemas() {
    let db = connect(&fresh_database().await).await;
    for table in TABLES {
        let rows = db
            .query(
                "SELECT column_name::text, data_type::text, udt_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[&table.name],
            )
            .await
            .unwrap();
        let skipped: &[&str] = NOT_PROJECTED.iter().find(|(t, _)| *t == table.name).map_or(&[], |(_, c)| c);
        let schema: BTreeMap<String, Option<ColumnType>> = rows
            .iter()
            .map(|r| (r.get::<_, String>(0), ColumnType::from_information_schema(r.get(1), r.get(2))))
            .filter(|(c, _)| c != "work_id" && !skipped.contains(&c.as_str()))
            .collect();
        let fingerprinted: BTreeMap<String, Option<ColumnType>> =
            table.columns.iter().map(|(c, ty)| (c.to_string(), Some(*ty))).collect();
        assert_eq!(fingerprinted, schema, "table {}", table.name);
    }
}
