//! `marquee import tmdb-ids FILE`: TMDB's daily id export into the queue. Progress and every bad
//! line on stderr, the summary on stdout (or the report as JSON with `--json`); the exit status
//! is non-zero when a line was bad or reading stopped early (a re-run continues).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use marquee::pipeline::import::{ImportEvent, ImportOptions, ImportReport, ImportStatus};
use marquee::ports::Database;

use super::app::database_url;
use super::output::print_json;
use crate::cli::ImportCommand;
use crate::export_file;
use crate::native::{NativeDb, NativeSettings};

pub async fn run(settings: &NativeSettings, what: ImportCommand) -> anyhow::Result<()> {
    match what {
        ImportCommand::TmdbIds { file, batch_lines, json } => tmdb_ids(settings, &file, batch_lines, json).await,
    }
}

async fn tmdb_ids(settings: &NativeSettings, file: &Path, batch_lines: usize, json: bool) -> anyhow::Result<()> {
    let conn = NativeDb::new(database_url(settings).await?).connect().await?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let progress = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} read {msg} [{elapsed}]").expect("template"),
    );
    let started = Instant::now();
    let bar = progress.clone();
    let mut on_event = |event: ImportEvent<'_>| match event {
        ImportEvent::Resumed { lines_done } => {
            bar.suspend(|| eprintln!("resuming: lines 1 to {lines_done} were imported by an earlier run"));
        }
        ImportEvent::BadLine(bad) => bar.suspend(|| eprintln!("bad {bad}")),
        ImportEvent::BatchWritten(counts) => {
            bar.set_message(format!("· {} lines, {} queued", counts.lines_done, counts.queued));
        }
    };
    let options = ImportOptions { batch_lines };
    let result = export_file::import(&conn, file, &options, |f| progress.wrap_read(f), &mut on_event).await;
    progress.finish_and_clear();
    let report = result?;
    let elapsed = started.elapsed();
    if json {
        print_json(&serde_json::json!({"report": report, "elapsed_ms": elapsed.as_millis() as u64}));
    } else {
        print_summary(&report, elapsed);
    }
    match report.status {
        ImportStatus::Interrupted => bail!(
            "{}; lines 1 to {} are imported: run again to continue from there",
            report.read_error.as_deref().unwrap_or("reading stopped"),
            report.totals.lines_done
        ),
        _ if !report.bad_lines.is_empty() => bail!(
            "{} bad line(s) in this run, reported above with their numbers; every other line was imported",
            report.totals.bad_lines
        ),
        _ => Ok(()),
    }
}

fn print_summary(report: &ImportReport, elapsed: Duration) {
    let t = &report.totals;
    let status = match report.status {
        ImportStatus::Completed => "read to its end",
        ImportStatus::AlreadyImported => "already imported completely: nothing to do",
        ImportStatus::Interrupted => "reading stopped early",
    };
    println!("export {} ({}): {status}", report.export, report.identity);
    println!(
        "lines: {} imported in all; this run read {} (after line {})",
        t.lines_done, report.lines_read, report.resumed_from_line
    );
    println!("queued: {} movies (reason import, more popular first, below every refresh)", t.queued);
    println!(
        "skipped: {} adult, {} in the catalog already, {} already queued, {} duplicates",
        t.adult, t.in_catalog, t.already_queued, t.duplicates
    );
    println!("video entries: {} (imported like the others)", t.video);
    println!("bad lines: {}", t.bad_lines);
    match (t.absent, t.absent_queued) {
        (Some(absent), Some(queued)) => println!(
            "gone candidates: {absent} tracked movies absent from the export, queued for a refresh ({queued} new rows); TMDB's 404 marks them gone"
        ),
        _ => println!("gone candidates: not checked (only an export read to its end is)"),
    }
    let secs = elapsed.as_secs_f64();
    println!("time: {secs:.1} s ({:.0} lines/s)", report.lines_read as f64 / secs.max(1e-9));
}
