//! Rules kept once in Rust and generated as SQL agree, on real PostgreSQL, over a grid of
//! values: the score's justified interval (`score::interval_is_justified` against
//! `score::unjustified_interval_sql`) and the refresh tiers (`staleness::next_refresh_at`
//! against `staleness::interval_sql` and `staleness::priority_sql`).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use marquee::domain::score::{self, RatingInput};
use marquee::domain::staleness;
use marquee::domain::states::ReleaseStatus;
use marquee_tests::{connect, fresh_database};

/// Votes, and the intervals to judge: a grid, the boundary of each vote count to the last bit,
/// and what `score::aggregate` computes.
fn score_grid() -> Vec<(i32, Option<f64>, Option<f64>)> {
    let votes = [0, 1, 2, 3, 4, 5, 7, 10, 25, 37, 58, 100, 412, 1_000, 8_012, 1_000_000];
    let ends = [None, Some(0.0), Some(0.1), Some(10.0), Some(19.0), Some(19.6), Some(25.9), Some(49.0), Some(60.05)]
        .into_iter()
        .chain([Some(61.1), Some(63.6), Some(64.7), Some(68.9), Some(70.3), Some(71.4), Some(80.4), Some(81.0)])
        .chain([Some(99.9), Some(100.0)])
        .collect::<Vec<_>>();
    let mut grid = Vec::new();
    for &v in &votes {
        for &low in &ends {
            for &high in &ends {
                grid.push((v, low, high));
            }
        }
        if v > 0 {
            // Just wide enough, and a hair narrower, wherever the interval sits.
            let needed = 2.0 * 1.96 * 20.0 / f64::from(v).sqrt() - 0.1;
            for low in [0.5, 30.0, 55.55] {
                for width in [needed, needed + 1e-9, needed - 1e-6, needed - 0.05] {
                    if low + width < 100.0 {
                        grid.push((v, Some(low), Some(low + width)));
                    }
                }
            }
        }
        for value in [0.0, 12.5, 50.0, 64.0, 65.0, 72.0, 99.0, 100.0] {
            let a = score::aggregate(&[RatingInput { source: "TMDB", value_0_100: value, votes: i64::from(v) }]);
            grid.push((v, a.low, a.high));
        }
    }
    grid
}

#[tokio::test]
async fn the_justified_interval_is_the_same_rule_in_rust_and_sql() {
    let db = connect(&fresh_database().await).await;
    let grid = score_grid();
    let votes: Vec<i32> = grid.iter().map(|g| g.0).collect();
    let lows: Vec<Option<f64>> = grid.iter().map(|g| g.1).collect();
    let highs: Vec<Option<f64>> = grid.iter().map(|g| g.2).collect();
    let sql = format!(
        "SELECT a.i, {} AS unjustified
           FROM unnest($1::int4[], $2::float8[], $3::float8[]) WITH ORDINALITY AS a(votes_count, ai_score_low, ai_score_high, i)
          ORDER BY a.i",
        score::unjustified_interval_sql()
    );
    let rows = db.query(&sql, &[&votes, &lows, &highs]).await.unwrap();
    assert_eq!(rows.len(), grid.len());
    let (mut justified, mut not) = (0, 0);
    for (row, (v, low, high)) in rows.iter().zip(&grid) {
        let in_rust = score::interval_is_justified(i64::from(*v), *low, *high);
        let unjustified_in_sql: bool = row.get("unjustified");
        assert_eq!(!unjustified_in_sql, in_rust, "votes {v}, interval {low:?}–{high:?}");
        if in_rust { justified += 1 } else { not += 1 }
    }
    // The grid holds plenty of both, so agreement is not agreement on one answer.
    assert!(justified > 300 && not > 3_000, "{justified} justified, {not} not");
}

#[tokio::test]
async fn aggregates_store_no_score_without_votes_and_never_half_a_score() {
    let db = connect(&fresh_database().await).await;
    db.execute("INSERT INTO works (work_id, tmdb_id, title, ingestion_status) VALUES (1, 1, 'T', 'complete')", &[])
        .await
        .unwrap();
    let insert = "INSERT INTO aggregates (work_id, method_version, ai_score, ai_score_low, ai_score_high, votes_count, source_scores)
                  VALUES (1, $1, $2, $3, $4, 0, '{}')";
    db.execute(insert, &[&"none", &None::<f64>, &None::<f64>, &None::<f64>]).await.expect("no score, no interval");
    for (method, value, low, high) in
        [("value only", Some(65.0), None, None), ("interval only", None, Some(1.0), Some(2.0))]
    {
        let refused = db.execute(insert, &[&method, &value, &low, &high]).await.unwrap_err();
        let constraint = refused.as_db_error().and_then(|e| e.constraint());
        assert_eq!(constraint, Some("aggregates_score_with_its_interval"), "{method}: {refused:?}");
    }
    let flagged = db
        .query_one(&format!("SELECT {} FROM aggregates a", score::unjustified_interval_sql()), &[])
        .await
        .unwrap()
        .get::<_, bool>(0);
    assert!(!flagged, "no votes and no score is honest");
}

const STATUSES: &[Option<&str>] = &[
    None,
    Some("Rumored"),
    Some("Planned"),
    Some("In Production"),
    Some("Post Production"),
    Some("Released"),
    Some("Canceled"),
    // A word TMDB might add: unknown, as no status.
    Some("Announced"),
];

/// Release ages in days on the day of the refresh (negative: in the future), `None`: undated.
const AGES: &[Option<i64>] = &[
    None,
    Some(-4000),
    Some(-366),
    Some(-31),
    Some(-30),
    Some(-1),
    Some(0),
    Some(1),
    Some(29),
    Some(30),
    Some(31),
    Some(179),
    Some(180),
    Some(181),
    Some(364),
    Some(365),
    Some(366),
    Some(3650),
];

#[tokio::test]
async fn the_refresh_tiers_are_the_same_table_in_rust_and_sql() {
    let db = connect(&fresh_database().await).await;
    // Far from UTC, so a rule that took the session's day instead of UTC's would show.
    db.execute("SET TIME ZONE 'Pacific/Kiritimati'", &[]).await.unwrap();
    let refreshed_at: Vec<DateTime<Utc>> = vec![
        Utc.with_ymd_and_hms(2026, 3, 29, 0, 30, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 22, 23, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        Utc::now(),
    ];
    let mut rows = Vec::new();
    for at in &refreshed_at {
        for age in AGES {
            for status in STATUSES {
                rows.push((*at, age.map(|a| at.date_naive() - Duration::days(a)), *status));
            }
        }
    }
    for (i, (at, release_date, status)) in rows.iter().enumerate() {
        let known = status.and_then(ReleaseStatus::parse);
        let next = staleness::next_refresh_at(*release_date, known, *at);
        let id = i as i64 + 1;
        db.execute(
            "INSERT INTO works (work_id, tmdb_id, title, release_date, ingestion_status, last_refreshed_at, next_refresh_at)
             VALUES ($1, $1, 'T', $2, 'complete', $3, $4)",
            &[&id, release_date, at, &next],
        )
        .await
        .unwrap();
        // Every other undated, statusless movie has no works_meta row at all.
        if status.is_some() || i % 2 == 0 {
            db.execute("INSERT INTO works_meta (work_id, release_status) VALUES ($1, $2)", &[&id, status])
                .await
                .unwrap();
        }
    }

    let sql = format!(
        "SELECT w.work_id, extract(epoch FROM {interval})::float8 AS interval_secs,
                w.next_refresh_at = w.last_refreshed_at + {interval} AS on_tier, {priority} AS priority,
                (now() AT TIME ZONE 'UTC')::date AS today
           FROM works w LEFT JOIN works_meta m ON m.work_id = w.work_id ORDER BY w.work_id",
        interval = staleness::interval_sql(),
        priority = staleness::priority_sql()
    );
    let answers = db.query(&sql, &[]).await.unwrap();
    assert_eq!(answers.len(), rows.len());
    let mut intervals = std::collections::BTreeSet::new();
    for (answer, (at, release_date, status)) in answers.iter().zip(&rows) {
        let known = status.and_then(ReleaseStatus::parse);
        let what = format!("released {release_date:?}, {status:?}, refreshed {at}");
        let expected = staleness::refresh_interval(*release_date, known, at.date_naive());
        assert_eq!(answer.get::<_, f64>("interval_secs"), expected.num_seconds() as f64, "{what}");
        assert!(answer.get::<_, bool>("on_tier"), "{what}: the stored next refresh disagrees with its tier");
        let today: NaiveDate = answer.get("today");
        let priority = staleness::tier(*release_date, known, today).priority;
        assert_eq!(answer.get::<_, i32>("priority"), priority, "{what}: priority on {today}");
        intervals.insert(expected.num_days());
    }
    assert_eq!(intervals.into_iter().collect::<Vec<_>>(), [2, 7, 14, 30], "the grid reaches every tier");

    // A next refresh put anywhere else is caught.
    db.execute("UPDATE works SET next_refresh_at = next_refresh_at + interval '1 hour' WHERE work_id = 1", &[])
        .await
        .unwrap();
    let off: i64 = db
        .query_one(
            &format!(
                "SELECT count(*) FROM works w LEFT JOIN works_meta m ON m.work_id = w.work_id
                  WHERE w.next_refresh_at <> w.last_refreshed_at + {}",
                staleness::interval_sql()
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(off, 1);
}
