//! Importing TMDB's daily id export on real PostgreSQL: what is skipped, the priorities, resuming
//! after an interruption, a second run, two runs at once, bad lines, and gone detection end to
//! end with the fake TMDB's export.

use std::io::{self, BufRead, Read};

use fake_tmdb::FakeTmdbConfig;
use marquee::db::queue::{self, Reason, Scope};
use marquee::pipeline::import::{
    ABSENT_PRIORITY, ExportSource, ImportError, ImportEvent, ImportOptions, ImportReport, ImportStatus, LineProblem,
    import_export, import_priority,
};
use marquee::ports::{Connection, Database};
use marquee_cli::native::{NativeConnection, NativeDb};
use marquee_tests::{TestApp, connect, fresh_database};
use serde_json::json;

/// One export line, as TMDB writes them.
fn line(id: i64, popularity: f64, adult: bool) -> String {
    json!({"adult": adult, "id": id, "original_title": format!("Movie {id}"), "popularity": popularity, "video": false})
        .to_string()
}

fn source(identity: &str) -> ExportSource {
    ExportSource { identity: identity.into(), name: format!("{identity}.json.gz") }
}

async fn import(
    conn: &impl Connection,
    identity: &str,
    lines: impl BufRead,
    batch_lines: usize,
) -> Result<(ImportReport, Vec<String>), ImportError> {
    let mut events = Vec::new();
    let report = import_export(conn, &source(identity), lines, &ImportOptions { batch_lines }, &mut |e| {
        events.push(match e {
            ImportEvent::Resumed { lines_done } => format!("resumed after {lines_done}"),
            ImportEvent::BadLine(bad) => bad.to_string(),
            ImportEvent::BatchWritten(counts) => format!("batch to {}", counts.lines_done),
        })
    })
    .await?;
    Ok((report, events))
}

async fn conn(url: &str) -> NativeConnection {
    NativeDb::new(url).connect().await.unwrap()
}

/// `(tmdb_id, reason, priority)` of the live queue rows, by id.
async fn queued(db: &tokio_postgres::Client) -> Vec<(i64, String, i32)> {
    db.query("SELECT tmdb_id, reason, priority FROM refresh_queue WHERE status = 'queued' ORDER BY tmdb_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn adult_known_and_already_queued_movies_are_skipped_and_the_rest_queued_by_popularity() {
    let url = fresh_database().await;
    let db = connect(&url).await;
    // The catalog has 2 (complete), 3 (failed), 4 (gone), 5 (rejected), 6 (being ingested);
    // 7 is pending (a row that never got an ingest); 8 is queued by a batch request.
    db.batch_execute(
        "INSERT INTO works (tmdb_id, ingestion_status) VALUES
            (2, 'complete'), (3, 'failed'), (4, 'gone'), (5, 'rejected'), (6, 'ingesting'), (7, 'pending')",
    )
    .await
    .unwrap();
    let c = conn(&url).await;
    queue::enqueue(&c, &[8], Reason::Batch, 5).await.unwrap();
    let export = [
        line(1, 900.0, false),
        line(2, 50.0, false),
        line(3, 50.0, false),
        line(4, 50.0, false),
        line(5, 50.0, false),
        line(6, 50.0, false),
        line(7, 3.0, false),
        line(8, 700.0, false),
        line(9, 12.0, true),
        line(10, 0.7, false),
        r#"{"adult":false,"id":11,"original_title":"Concert","popularity":1.5,"video":true}"#.to_owned(),
        line(10, 0.7, false),
    ]
    .join("\n");

    let (report, events) = import(&c, "export-a", export.as_bytes(), 100).await.unwrap();
    assert_eq!(report.status, ImportStatus::Completed);
    assert_eq!(events, ["batch to 12"]);
    let t = &report.totals;
    assert_eq!(
        (
            t.lines_done,
            t.entries,
            t.adult,
            t.in_catalog,
            t.already_queued,
            t.duplicates,
            t.queued,
            t.video,
            t.bad_lines
        ),
        (12, 12, 1, 5, 1, 1, 4, 1, 0)
    );
    let import = |id: i64, popularity: f64| (id, "import".to_owned(), import_priority(popularity));
    assert_eq!(
        queued(&db).await,
        [import(1, 900.0), import(7, 3.0), (8, "batch".into(), 5), import(10, 0.7), import(11, 1.5)],
        "1, 7 (pending), 10 and the video 11 are queued; 8 keeps its batch row and priority"
    );
    assert_eq!((t.absent, t.absent_queued), (Some(0), Some(0)), "the tracked 2 and 3 are in the export");
}

#[tokio::test]
async fn imported_movies_are_claimed_most_popular_first_and_after_every_refresh() {
    let url = fresh_database().await;
    let c = conn(&url).await;
    let export = [line(1, 1.0, false), line(2, 600.0, false), line(3, 0.1, false), line(4, 40.0, false)].join("\n");
    import(&c, "export-b", export.as_bytes(), 2).await.unwrap();
    // A stale refresh of an old movie: the lowest priority that keeps the catalog fresh.
    queue::enqueue(&c, &[99], Reason::Stale, 0).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..5 {
        let claimed = queue::claim(&c, "runner", 1, std::time::Duration::from_secs(60), Scope::All).await.unwrap();
        order.push(claimed[0].tmdb_id);
    }
    assert_eq!(order, [99, 2, 4, 1, 3]);
}

/// The export's text up to `fail_at` bytes, then a read error: a truncated or corrupt download.
struct FailingAfter<'a> {
    text: &'a [u8],
    fail_at: usize,
    read: usize,
}

impl Read for FailingAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read >= self.fail_at {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "corrupt deflate stream"));
        }
        let n = buf.len().min(self.fail_at - self.read).min(7);
        buf[..n].copy_from_slice(&self.text[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

/// The first `n` lines' bytes, and half of the next line's.
fn bytes_of_lines(text: &str, n: usize) -> usize {
    let end: usize = text.lines().take(n).map(|l| l.len() + 1).sum();
    end + text.lines().nth(n).map_or(0, |l| l.len() / 2)
}

/// What a clean run of `text` gives, in a database of its own.
async fn clean_run(text: &str) -> (ImportReport, Vec<(i64, String, i32)>) {
    let url = fresh_database().await;
    let (report, _) = import(&conn(&url).await, "clean", text.as_bytes(), 10).await.unwrap();
    (report, queued(&connect(&url).await).await)
}

fn export_of(n: i64) -> String {
    (1..=n).map(|id| line(id, (id % 13) as f64 * 7.5, id % 17 == 0)).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn a_truncated_export_is_written_up_to_its_last_good_line_and_a_rerun_continues_from_there() {
    let url = fresh_database().await;
    let db = connect(&url).await;
    let c = conn(&url).await;
    db.batch_execute("INSERT INTO works (tmdb_id, ingestion_status) VALUES (5000, 'complete')").await.unwrap();
    let text = export_of(95);
    let truncated = io::BufReader::with_capacity(
        16,
        FailingAfter { text: text.as_bytes(), fail_at: bytes_of_lines(&text, 42), read: 0 },
    );
    let (first, _) = import(&c, "export-c", truncated, 10).await.unwrap();
    assert_eq!(first.status, ImportStatus::Interrupted);
    assert!(first.read_error.as_deref().unwrap().contains("line 43"), "{:?}", first.read_error);
    assert_eq!(first.totals.lines_done, 42, "the lines read before the failure are written");
    assert_eq!(first.totals.absent, None, "no gone detection on an export not read to its end");
    assert_eq!(
        db.query_one("SELECT count(*) FROM refresh_queue WHERE reason = 'absent'", &[]).await.unwrap().get::<_, i64>(0),
        0
    );

    let (second, events) = import(&c, "export-c", text.as_bytes(), 10).await.unwrap();
    assert_eq!(second.status, ImportStatus::Completed);
    assert_eq!((second.resumed_from_line, second.lines_read), (42, 53));
    assert_eq!(events.first().map(String::as_str), Some("resumed after 42"));
    let (clean, clean_queue) = clean_run(&text).await;
    let without_absent = |t: &marquee::db::export::ExportCounts| marquee::db::export::ExportCounts {
        absent: None,
        absent_queued: None,
        ..t.clone()
    };
    assert_eq!(without_absent(&second.totals), without_absent(&clean.totals), "the same counts as one clean run");
    let rows = queued(&db).await;
    assert_eq!(
        rows.iter().filter(|r| r.1 == "import").cloned().collect::<Vec<_>>(),
        clean_queue,
        "every eligible id queued exactly once"
    );
    assert_eq!(second.totals.absent, Some(1), "5000 is tracked and not in the export");
}

#[tokio::test]
async fn an_import_killed_at_any_line_resumes_after_its_last_batch_and_queues_nothing_twice() {
    let url = fresh_database().await;
    let text = export_of(95);
    // The process dies while reading line 43 (a panic unwinds through the import and drops its
    // connection, as a kill would close it): lines 1–40 were written by four batches of 10.
    let killed_url = url.clone();
    let killed_text = text.clone();
    let died = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let c = conn(&killed_url).await;
            let dying = DiesAtLine { lines: killed_text.as_bytes(), line: 1, dies_at: 43 };
            let _ = import(&c, "export-d", dying, 10).await;
        })
    })
    .join();
    assert!(died.is_err(), "the import died");
    let db = connect(&url).await;
    let checkpoint: i64 = db.query_one("SELECT lines_done FROM tmdb_exports", &[]).await.unwrap().get(0);
    assert_eq!(checkpoint, 40);

    let (report, events) = import(&conn(&url).await, "export-d", text.as_bytes(), 10).await.unwrap();
    assert_eq!((report.status, report.resumed_from_line, report.lines_read), (ImportStatus::Completed, 40, 55));
    assert_eq!(events.first().map(String::as_str), Some("resumed after 40"));
    let (clean, clean_queue) = clean_run(&text).await;
    assert_eq!(report.totals, clean.totals);
    assert_eq!(queued(&db).await, clean_queue, "every eligible id queued exactly once");
}

/// Hands out lines, and panics when asked for line `dies_at`.
struct DiesAtLine<'a> {
    lines: &'a [u8],
    line: usize,
    dies_at: usize,
}

impl Read for DiesAtLine<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.len().min(buf.len());
        buf[..n].copy_from_slice(&self.lines[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for DiesAtLine<'_> {
    /// One line at a time, so the panic comes exactly at the line.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        assert!(self.line < self.dies_at || self.lines.is_empty(), "killed while reading line {}", self.line);
        let end = self.lines.iter().position(|b| *b == b'\n').map_or(self.lines.len(), |i| i + 1);
        Ok(&self.lines[..end])
    }
    fn consume(&mut self, amount: usize) {
        if self.lines[..amount].ends_with(b"\n") {
            self.line += 1;
        }
        self.lines = &self.lines[amount..];
    }
}

#[tokio::test]
async fn the_same_export_imported_again_is_a_no_op() {
    let url = fresh_database().await;
    let c = conn(&url).await;
    let text = export_of(30);
    let (first, _) = import(&c, "export-e", text.as_bytes(), 7).await.unwrap();
    assert_eq!(first.status, ImportStatus::Completed);
    let db = connect(&url).await;
    let before = queued(&db).await;
    let (second, events) = import(&c, "export-e", text.as_bytes(), 7).await.unwrap();
    assert_eq!((second.status, second.lines_read), (ImportStatus::AlreadyImported, 0));
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(second.totals, first.totals);
    assert_eq!(queued(&db).await, before);
    // The same lines under another identity (a new day's export with the same movies): nothing
    // new to queue, every eligible movie is already queued.
    let (other, _) = import(&c, "export-f", text.as_bytes(), 7).await.unwrap();
    assert_eq!(
        (other.status, other.totals.queued, other.totals.already_queued),
        (ImportStatus::Completed, 0, first.totals.queued)
    );
    assert_eq!(queued(&db).await, before);
}

#[tokio::test]
async fn two_imports_of_one_export_at_once_write_each_line_once() {
    let url = fresh_database().await;
    let text = export_of(200);
    let (a, b) = (conn(&url).await, conn(&url).await);
    let (ra, rb) =
        futures::join!(import(&a, "export-g", text.as_bytes(), 10), import(&b, "export-g", text.as_bytes(), 10));
    let outcomes = [&ra, &rb].map(|r| match r {
        Ok((report, _)) => format!("{:?}", report.status),
        Err(ImportError::CheckpointMoved { .. }) => "checkpoint moved".to_owned(),
        Err(e) => panic!("{e}"),
    });
    let mut sorted = outcomes.clone();
    sorted.sort();
    assert!(
        sorted == ["Completed", "checkpoint moved"] || sorted == ["AlreadyImported", "Completed"],
        "one import completes, the other stops or finds it done: {outcomes:?}"
    );
    let (clean, clean_queue) = clean_run(&text).await;
    let db = connect(&url).await;
    assert_eq!(queued(&db).await, clean_queue);
    let lines: i64 = db.query_one("SELECT lines_done FROM tmdb_exports", &[]).await.unwrap().get(0);
    assert_eq!(lines, clean.totals.lines_done);
}

#[tokio::test]
async fn bad_lines_are_reported_with_their_line_numbers_and_every_other_line_is_imported() {
    let url = fresh_database().await;
    let c = conn(&url).await;
    let long = format!(r#"{{"id": 77, "original_title": "{}"}}"#, "x".repeat(5000));
    let export = [
        line(1, 5.0, false),
        "not json".to_owned(),
        line(2, 5.0, false),
        r#"{"adult": false, "popularity": 3}"#.to_owned(),
        r#"{"id": -5}"#.to_owned(),
        r#"{"id": "6"}"#.to_owned(),
        String::new(),
        long,
        line(3, 5.0, false),
    ]
    .join("\n");
    let (report, events) = import(&c, "export-h", export.as_bytes(), 3).await.unwrap();
    assert_eq!(report.status, ImportStatus::Completed);
    let numbers: Vec<u64> = report.bad_lines.iter().map(|b| b.line).collect();
    assert_eq!(numbers, [2, 4, 5, 6, 7, 8]);
    assert!(matches!(report.bad_lines[0].problem, LineProblem::NotJson(_)));
    assert_eq!(report.bad_lines[1].problem, LineProblem::MissingId);
    assert_eq!(report.bad_lines[2].problem, LineProblem::InvalidId("-5".into()));
    assert!(matches!(report.bad_lines[3].problem, LineProblem::NotAnEntry(_)));
    assert_eq!(report.bad_lines[4].problem, LineProblem::Empty);
    assert_eq!(report.bad_lines[5].problem, LineProblem::TooLong);
    assert!(events.iter().any(|e| e == "line 4: no `id`"), "{events:?}");
    assert_eq!((report.totals.bad_lines, report.totals.lines_done, report.totals.queued), (6, 9, 3));
    let ids: Vec<i64> = queued(&connect(&url).await).await.iter().map(|r| r.0).collect();
    assert_eq!(ids, [1, 2, 3]);
}

/// The fake TMDB's export, downloaded as a file.
async fn download_export(app: &TestApp) -> std::path::PathBuf {
    let bytes = reqwest::get(app.fake.export_url()).await.unwrap().bytes().await.unwrap();
    let path = std::env::temp_dir().join(format!(
        "marquee-test-export-{}-{}.json.gz",
        std::process::id(),
        app.db_url.len() + bytes.len()
    ));
    std::fs::write(&path, &bytes).unwrap();
    path
}

#[tokio::test]
async fn a_tracked_movie_absent_from_a_complete_export_is_refreshed_and_marked_gone() {
    let app =
        TestApp::start_with(FakeTmdbConfig { catalog_size: 40, adult_percent: 10, ..FakeTmdbConfig::default() }, |s| s)
            .await;
    let adult: Vec<i64> = (1..=40)
        .filter(|id| fake_tmdb::movie_details(app.fake.config(), *id as u64, &[]).unwrap()["adult"] == true)
        .collect();
    assert!(!adult.is_empty(), "the fake has adult movies at 10 %");
    let tracked: Vec<i64> = (1..=40).filter(|id| !adult.contains(id)).take(5).collect();
    let r = app.post("/functions/v1/batch-ingest", json!({"tmdb_ids": tracked})).await;
    assert_eq!(r.body["drain"]["ingested"], 5, "{}", r.text);
    // TMDB deletes one of them: it answers 404 and leaves the export.
    let deleted = tracked[2];
    app.fake.faults().not_found(deleted as u64);

    let path = download_export(&app).await;
    let c = conn(&app.db_url).await;
    let report =
        marquee_cli::export_file::import(&c, &path, &ImportOptions::default(), |f| f, &mut |_| {}).await.unwrap();
    std::fs::remove_file(&path).unwrap();
    let t = &report.totals;
    assert_eq!(report.status, ImportStatus::Completed);
    assert_eq!((t.lines_done, t.adult, t.in_catalog), (39, adult.len() as i64, 4));
    assert_eq!(t.queued, 39 - t.adult - 4);
    assert_eq!((t.absent, t.absent_queued), (Some(1), Some(1)));
    let absent =
        app.db.query_one("SELECT tmdb_id, priority FROM refresh_queue WHERE reason = 'absent'", &[]).await.unwrap();
    assert_eq!((absent.get::<_, i64>(0), absent.get::<_, i32>(1)), (deleted, ABSENT_PRIORITY));

    // A scheduled `batch-ingest {"mode": "drain"}` works the backlog: the absent movie (claimed
    // first, by its priority), whose 404 marks it gone, and the imported ones.
    app.fake.reset_counters();
    let r = app.post("/functions/v1/batch-ingest", json!({"mode": "drain", "trigger_type": "scheduled"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["mode"].as_str(), r.body["queued"].as_i64(), r.body["remaining"].as_i64()),
        (Some("drain"), Some(0), Some(0))
    );
    let status: String =
        app.db.query_one("SELECT ingestion_status FROM works WHERE tmdb_id = $1", &[&deleted]).await.unwrap().get(0);
    assert_eq!(status, "gone");
    assert_eq!(app.count("SELECT count(*) FROM rejected_works WHERE reason = 'not_found'").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM works WHERE ingestion_status = 'complete'").await, 4 + t.queued);
    assert_eq!(app.count("SELECT count(*) FROM tmdb_export_ids").await, 0, "a complete export's ids are dropped");
}

#[tokio::test]
async fn a_newer_export_read_to_its_end_restarts_an_older_one_left_half_read() {
    let url = fresh_database().await;
    let c = conn(&url).await;
    let db = connect(&url).await;
    let old = export_of(60);
    let cut = io::BufReader::new(FailingAfter { text: old.as_bytes(), fail_at: bytes_of_lines(&old, 25), read: 0 });
    let (first, _) = import(&c, "old", cut, 10).await.unwrap();
    assert_eq!((first.status, first.totals.lines_done), (ImportStatus::Interrupted, 25));

    let (newer, _) = import(&c, "new", export_of(80).as_bytes(), 10).await.unwrap();
    assert_eq!(newer.status, ImportStatus::Completed);
    // The old export's ids no longer say what TMDB has: they are dropped, and its checkpoint
    // goes back to line 0, so that its gone detection, should it be completed, sees all of it.
    assert_eq!(db.query_one("SELECT count(*) FROM tmdb_export_ids", &[]).await.unwrap().get::<_, i64>(0), 0);
    let (again, events) = import(&c, "old", old.as_bytes(), 10).await.unwrap();
    assert_eq!((again.status, again.resumed_from_line, again.lines_read), (ImportStatus::Completed, 0, 60));
    assert!(!events.iter().any(|e| e.starts_with("resumed")), "{events:?}");
    assert_eq!(again.totals.queued, 0, "every movie of it was queued by the newer export");
    let rows = queued(&db).await;
    let ids: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), rows.len(), "no movie queued twice");
}
