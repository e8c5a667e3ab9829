//! A local PostgreSQL from the system packages, in a folder of the project, for the quick start
//! and the tests when `DATABASE_URL` is not set. PostgreSQL refuses to run as root, so as root
//! the cluster belongs to the `postgres` system user and commands run through `runuser`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The same server URL with another database name (`postgres://u:p@h:5432/db?x=y`).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

/// The server tests use: `DATABASE_URL`'s, or a local cluster in the project's
/// `.marquee/test-pg` (started once, then reused). Returns a URL of its maintenance database.
pub fn test_server_url() -> Result<String, String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Ok(url);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.marquee/test-pg");
    Ok(LocalPostgres::start(&dir, 54330)?.url("postgres"))
}

#[derive(Debug)]
pub struct LocalPostgres {
    pub dir: PathBuf,
    pub port: u16,
}

fn bindir() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect()
        })
        .unwrap_or_default();
    candidates.sort();
    if let Some(newest) = candidates.pop() {
        return Ok(newest);
    }
    which("initdb").map(|p| p.parent().unwrap().to_path_buf()).ok_or_else(|| "PostgreSQL server binaries not found: install the `postgresql` package (apt-get install postgresql) or set DATABASE_URL".into())
}

/// `preferred` if nothing listens there, else a port the system picks.
fn free_port(preferred: u16) -> Result<u16, String> {
    if std::net::TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.exists()))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Runs a PostgreSQL program, as `postgres` when we are root.
fn run(bin: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    command.args(args).current_dir("/").output().map_err(|e| format!("{}: {e}", bin.display()))
}

impl LocalPostgres {
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts (or reuses, when already running) the cluster in `dir`, on `port` when that is
    /// free (another checkout's cluster may hold it), else on any free port.
    pub fn start(dir: &Path, port: u16) -> Result<LocalPostgres, String> {
        let bin = bindir()?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let dir = dir.canonicalize().map_err(|e| e.to_string())?;
        let data = dir.join("data");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("chown postgres {} failed", dir.display()));
            }
        }
        let data_s = data.to_string_lossy().to_string();
        if !data.join("PG_VERSION").exists() {
            let out = run(
                &bin.join("initdb"),
                &["-D", &data_s, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            )?;
            if !out.status.success() {
                return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        let status = run(&bin.join("pg_ctl"), &["-D", &data_s, "status"])?;
        if !status.status.success() {
            let port = free_port(port)?;
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                dir.display()
            );
            let log = dir.join("postgres.log").to_string_lossy().to_string();
            let out =
                run(&bin.join("pg_ctl"), &["-D", &data_s, "-l", &log, "-o", &options, "-w", "-t", "60", "start"])?;
            if !out.status.success() {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "pg_ctl start failed: {}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    tail.lines().rev().take(10).collect::<Vec<_>>().join("\n")
                ));
            }
        }
        // The port of a running cluster is the one it was started with.
        let port = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|pid| pid.lines().nth(3).and_then(|l| l.trim().parse().ok()))
            .unwrap_or(port);
        Ok(LocalPostgres { dir, port })
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced_keeping_credentials_and_options() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=require", "x"),
            "postgres://u:p@h:5432/x?sslmode=require"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(with_database("postgresql://u@h/", "x"), "postgresql://u@h/x");
    }
}
