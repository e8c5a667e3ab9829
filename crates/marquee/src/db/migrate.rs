//! Schema migrations: the ordered SQL files of `migrations/`, embedded at build time, applied
//! in one transaction under an advisory lock, recorded with their SHA-256, and refused when an
//! applied file was edited afterwards. Running it twice is a no-op.

use sha2::{Digest, Sha256};

use crate::ports::{Connection, DbError, transaction};

pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Keep in step with the files of `migrations/` (a test compares them).
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, description: "catalog", sql: include_str!("../../../../migrations/0001_catalog.sql") },
    Migration {
        version: 2,
        description: "operations",
        sql: include_str!("../../../../migrations/0002_operations.sql"),
    },
    Migration { version: 3, description: "billing", sql: include_str!("../../../../migrations/0003_billing.sql") },
    Migration {
        version: 4,
        description: "queue_and_runs",
        sql: include_str!("../../../../migrations/0004_queue_and_runs.sql"),
    },
    Migration {
        version: 5,
        description: "sync_state",
        sql: include_str!("../../../../migrations/0005_sync_state.sql"),
    },
    Migration {
        version: 6,
        description: "unattended",
        sql: include_str!("../../../../migrations/0006_unattended.sql"),
    },
    Migration {
        version: 7,
        description: "write_movie",
        sql: include_str!("../../../../migrations/0007_write_movie.sql"),
    },
    Migration {
        version: 8,
        description: "tmdb_export",
        sql: include_str!("../../../../migrations/0008_tmdb_export.sql"),
    },
    Migration { version: 9, description: "tmdb_rate", sql: include_str!("../../../../migrations/0009_tmdb_rate.sql") },
    Migration {
        version: 10,
        description: "honest_scores",
        sql: include_str!("../../../../migrations/0010_honest_scores.sql"),
    },
    Migration {
        version: 11,
        description: "aggregates",
        sql: include_str!("../../../../migrations/0011_aggregates.sql"),
    },
    // 12 was kept for the dashboard, which took 20; 12 and 15–19 are free (versions are applied
    // in order, so a new migration takes the next number after the highest).
    Migration { version: 13, description: "api_keys", sql: include_str!("../../../../migrations/0013_api_keys.sql") },
    Migration {
        version: 14,
        description: "catalog_browse",
        sql: include_str!("../../../../migrations/0014_catalog_browse.sql"),
    },
    Migration { version: 20, description: "dashboard", sql: include_str!("../../../../migrations/0020_dashboard.sql") },
    Migration {
        version: 21,
        description: "search_postings",
        sql: include_str!("../../../../migrations/0021_search_postings.sql"),
    },
];

/// Arbitrary but fixed: serialises concurrent `marquee migrate` runs.
const MIGRATION_LOCK: i64 = 0x006d_6172_7175_6565; // "marquee" in ASCII

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("migration {version} ({description}) failed: {source}")]
    Failed { version: i64, description: &'static str, source: DbError },
    #[error(
        "migration {version} ({description}) was edited after it was applied (checksum {applied} in the database, {current} on disk); add a new migration instead"
    )]
    Edited { version: i64, description: &'static str, applied: String, current: String },
    #[error("the database has migration {0}, which this build does not know; upgrade marquee")]
    Unknown(i64),
}

pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies pending migrations; returns the versions applied now (empty when up to date).
pub async fn migrate(conn: &impl Connection) -> Result<Vec<i64>, MigrateError> {
    transaction(conn, async |c| {
        c.execute("SELECT pg_advisory_xact_lock($1)", &[MIGRATION_LOCK.into()]).await?;
        c.execute(
            "CREATE TABLE IF NOT EXISTS _marquee_migrations (
                version BIGINT PRIMARY KEY, description TEXT NOT NULL, checksum TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            &[],
        )
        .await?;
        let applied = c.query("SELECT version, checksum FROM _marquee_migrations ORDER BY version", &[]).await?;
        for row in &applied {
            let version: i64 = row.get("version")?;
            let recorded: String = row.get("checksum")?;
            let Some(m) = MIGRATIONS.iter().find(|m| m.version == version) else {
                return Err(MigrateError::Unknown(version));
            };
            let current = checksum(m.sql);
            if current != recorded {
                return Err(MigrateError::Edited { version, description: m.description, applied: recorded, current });
            }
        }
        let mut done = Vec::new();
        for m in MIGRATIONS.iter().filter(|m| !applied.iter().any(|r| r.get::<i64>("version").ok() == Some(m.version)))
        {
            for statement in split_statements(m.sql) {
                c.execute(&statement, &[]).await.map_err(|source| MigrateError::Failed {
                    version: m.version,
                    description: m.description,
                    source,
                })?;
            }
            c.execute(
                "INSERT INTO _marquee_migrations (version, description, checksum) VALUES ($1, $2, $3)",
                &[m.version.into(), m.description.into(), checksum(m.sql).into()],
            )
            .await?;
            done.push(m.version);
        }
        Ok(done)
    })
    .await
}

/// Splits a SQL file into statements (the database port runs one per call): on `;` outside
/// comments, quotes and dollar-quoted bodies.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    let mut dollar_tag: Option<String> = None;
    while let Some(c) = chars.next() {
        if let Some(tag) = &dollar_tag {
            current.push(c);
            if current.ends_with(tag.as_str()) && c == '$' {
                dollar_tag = None;
            }
            continue;
        }
        match c {
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                current.push('\n');
            }
            '\'' | '"' => {
                current.push(c);
                for q in chars.by_ref() {
                    current.push(q);
                    if q == c {
                        break;
                    }
                }
            }
            '$' => {
                let mut tag = String::from("$");
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' {
                        tag.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if chars.peek() == Some(&'$') {
                    chars.next();
                    tag.push('$');
                    current.push_str(&tag);
                    dollar_tag = Some(tag);
                } else {
                    current.push_str(&tag);
                }
            }
            ';' => {
                if !current.trim().is_empty() {
                    out.push(current.trim().to_owned());
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_comments_quotes_and_bodies() {
        let sql = "CREATE TABLE a (x text DEFAULT ';'); -- a comment; with a semicolon\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n SELECT 2";
        let parts = split_statements(sql);
        assert_eq!(parts.len(), 3, "{parts:#?}");
        assert!(parts[0].contains("';'"));
        assert!(parts[1].contains("SELECT 1; $body$"));
        assert_eq!(parts[2], "SELECT 2");
    }

    #[test]
    fn embedded_migrations_match_the_directory() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        let mut files: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        files.sort();
        let embedded: Vec<String> =
            MIGRATIONS.iter().map(|m| format!("{:04}_{}.sql", m.version, m.description)).collect();
        assert_eq!(files, embedded, "migrations/ and MIGRATIONS differ");
        for m in MIGRATIONS {
            let on_disk = std::fs::read_to_string(format!("{dir}/{:04}_{}.sql", m.version, m.description)).unwrap();
            assert_eq!(on_disk, m.sql);
        }
    }
}
