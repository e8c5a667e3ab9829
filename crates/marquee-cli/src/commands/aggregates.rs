//! `marquee aggregates fold|recompute|status` and `marquee stats`.

use marquee::db::aggregates::{self, AggregateKind};
use marquee::db::works;
use marquee::ports::Database;

use super::app::native_app;
use super::output::print_json;
use crate::cli::AggregatesCommand;
use crate::native::NativeSettings;

/// Marks one `aggregates fold` statement takes; the command repeats until none are left.
const MARKS_PER_FOLD: i64 = 50_000;

pub async fn run(settings: &NativeSettings, what: AggregatesCommand) -> anyhow::Result<()> {
    let app = native_app(settings, "marquee-cli").await?;
    let conn = app.db.connect().await?;
    match what {
        AggregatesCommand::Fold => {
            let (mut marks, mut keys) = (0, 0);
            loop {
                let Some(folded) = aggregates::fold(&conn, MARKS_PER_FOLD).await? else {
                    anyhow::bail!("another fold or recompute is running; try again when it is done")
                };
                marks += folded.marks;
                keys += folded.keys;
                if folded.marks < MARKS_PER_FOLD {
                    break;
                }
            }
            println!("folded {marks} marks: {keys} aggregates recomputed");
        }
        AggregatesCommand::Recompute => {
            let rows = aggregates::recompute_all(&conn).await?;
            println!("recomputed every aggregate from the facts: {rows} rows");
        }
        AggregatesCommand::Status => {
            print_json(&serde_json::json!({"pending_marks": aggregates::pending(&conn).await?}));
        }
    }
    Ok(())
}

/// The catalog at a glance: works by status, and the largest people, genres, keywords,
/// companies and collections by servable works.
pub async fn stats(settings: &NativeSettings, top: i64, json: bool) -> anyhow::Result<()> {
    let app = native_app(settings, "marquee-cli").await?;
    let conn = app.db.connect().await?;
    let counts = works::catalog_counts(&conn).await?;
    let pending = aggregates::pending(&conn).await?;
    let mut tops = Vec::new();
    for kind in AggregateKind::ALL {
        tops.push((*kind, aggregates::top(&conn, *kind, top).await?));
    }
    if json {
        let by_kind: serde_json::Map<String, serde_json::Value> =
            tops.iter().map(|(k, rows)| (k.as_str().to_owned(), serde_json::json!(rows))).collect();
        print_json(&serde_json::json!({"works": counts, "aggregates_pending_marks": pending, "top": by_kind}));
        return Ok(());
    }
    let statuses: Vec<String> = counts.by_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("works: {} servable ({})", counts.servable, statuses.join(", "));
    if pending > 0 {
        println!("aggregates: {pending} marks not folded yet (`marquee aggregates fold`)");
    }
    for (kind, rows) in &tops {
        if rows.is_empty() {
            continue;
        }
        println!("\ntop {kind}s by works:");
        for r in rows {
            println!("  {}", describe(r));
        }
    }
    Ok(())
}

/// One aggregate as a line, printing nothing for what it does not have.
fn describe(r: &aggregates::Named) -> String {
    let mut parts = vec![format!("{} works", r.works)];
    if let (Some(cast), Some(crew)) = (r.cast_works, r.crew_works) {
        parts.push(format!("{cast} as cast, {crew} as crew"));
    }
    match (r.first_release, r.latest_release) {
        (Some(first), Some(latest)) if first != latest => parts.push(format!("{first} – {latest}")),
        (_, Some(latest)) => parts.push(format!("latest {latest}")),
        _ => {}
    }
    if let Some(mean) = r.mean_score {
        parts.push(format!("mean score {mean:.1} over {} scored", r.scored_works));
    }
    if r.total_votes > 0 {
        parts.push(format!("{} votes", r.total_votes));
    }
    let name = r.name.as_deref().unwrap_or("?");
    format!("{name} (#{}): {}", r.key_id, parts.join(" · "))
}
