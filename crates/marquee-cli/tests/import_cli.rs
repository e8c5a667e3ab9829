//! `marquee import tmdb-ids FILE` as a process: the fake TMDB's gzipped export written by
//! `marquee fake-tmdb export`, imported, imported again (a no-op), then a truncated copy and a
//! file with a bad line (both exit non-zero, saying why and where).

mod support;

use std::path::{Path, PathBuf};

use marquee::ports::{Connection, Database};
use marquee_cli::localpg::test_server_url;
use marquee_cli::native::NativeDb;
use support::{fresh_database, marquee};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn import(file: &Path, database_url: &str) -> (bool, String, String) {
    let out = marquee(&["import", "tmdb-ids", file.to_str().unwrap()], database_url);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("marquee-import-cli-{}-{name}", std::process::id()))
}

#[tokio::test]
async fn a_gzipped_export_is_imported_through_the_cli_and_bad_or_truncated_files_fail_clearly() {
    let name = format!("marquee_import_cli_{}", std::process::id());
    let url = fresh_database(&name).await;
    let export = temp("movie_ids_05_15_2024.json.gz");
    let wrote = marquee(
        &["fake-tmdb", "export", "--out", export.to_str().unwrap(), "--catalog-size", "3000", "--adult-percent", "5"],
        &url,
    );
    assert!(wrote.status.success(), "{}", text(&wrote.stderr));
    assert_eq!(&std::fs::read(&export).unwrap()[..2], [0x1f, 0x8b], "gzipped");

    let (ok, stdout, stderr) = import(&export, &url);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("read to its end"), "{stdout}");
    let db = NativeDb::new(&url).connect().await.unwrap();
    let count = async |sql: &str| db.query(sql, &[]).await.unwrap()[0].get::<i64>("n").unwrap();
    let queued = count("SELECT count(*) AS n FROM refresh_queue WHERE reason = 'import'").await;
    let adult = 3000 - queued;
    assert!((60..=250).contains(&adult), "about 5 % of 3000 are adult and skipped: {adult}");
    assert!(stdout.contains(&format!("queued: {queued} movies")), "{stdout}");
    assert!(stdout.contains(&format!("skipped: {adult} adult")), "{stdout}");
    assert!(stdout.contains("lines/s"), "{stdout}");

    let (ok, again, _) = import(&export, &url);
    assert!(ok && again.contains("already imported completely"), "{again}");
    assert_eq!(count("SELECT count(*) AS n FROM refresh_queue").await, queued);

    // A download cut short: gzip notices, the lines before are written, the exit status says so.
    let bytes = std::fs::read(&export).unwrap();
    let truncated = temp("truncated.json.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, stdout, stderr) = import(&truncated, &url);
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("reading stopped early"), "{stdout}");
    assert!(stderr.contains("run again to continue"), "{stderr}");
    assert!(stdout.contains("gone candidates: not checked"), "{stdout}");

    // A bad line: reported with its number on stderr, the rest imported, exit non-zero.
    let bad = temp("bad.json");
    std::fs::write(&bad, "{\"adult\":false,\"id\":900001,\"popularity\":1.0,\"video\":false}\n{\"adult\":false}\n")
        .unwrap();
    let (ok, stdout, stderr) = import(&bad, &url);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("bad line 2: no `id`"), "{stderr}");
    assert!(stdout.contains("bad lines: 1"), "{stdout}");
    assert_eq!(count("SELECT count(*) AS n FROM refresh_queue WHERE tmdb_id = 900001").await, 1);

    for file in [export, truncated, bad] {
        let _ = std::fs::remove_file(file);
    }
    drop(db);
    let admin = NativeDb::new(test_server_url().unwrap()).connect().await.unwrap();
    admin.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[]).await.unwrap();
}
