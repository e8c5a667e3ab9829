//! A local PostgreSQL from the system packages, for the quick start and the tests when
//! `DATABASE_URL` is not set: one cluster for `demo`, one for the tests, per checkout.
//!
//! Where they live ([`clusters_dir`]): for a normal user, in the checkout's `.marquee/`. As root
//! they cannot: PostgreSQL refuses to run as root, so the clusters belong to the `postgres`
//! system user (commands run through `runuser`), which usually cannot enter a checkout in root's
//! home (mode 700). Then they live in `/var/tmp/marquee-<hash of the checkout path>/`, a
//! directory of root's that others may traverse, so checkouts never share a cluster.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Said by every error about the local cluster: what to do when it cannot work here.
const USE_YOUR_OWN: &str = "or set DATABASE_URL to a PostgreSQL server of your own";

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

/// The server tests use: `DATABASE_URL`'s, or this checkout's local test cluster (started
/// once, then reused). Returns a URL of its maintenance database.
pub fn test_server_url() -> Result<String, String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Ok(url);
    }
    Ok(LocalPostgres::start(&clusters_dir()?.join("test-pg"), 54330)?.url("postgres"))
}

/// The checkout this binary was built from (the workspace root).
fn checkout() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The directory that holds this checkout's local clusters (see the module's documentation).
pub fn clusters_dir() -> Result<PathBuf, String> {
    let checkout = checkout();
    if !is_root() {
        return Ok(checkout.join(".marquee"));
    }
    if postgres_uid().is_none() {
        return Err(format!(
            "PostgreSQL refuses to run as root, and there is no `postgres` user to run it (the `postgresql` \
             package creates one): install the package, run as a normal user, {USE_YOUR_OWN}"
        ));
    }
    let hash = hex::encode(Sha256::digest(checkout.as_os_str().as_encoded_bytes()));
    let dir = PathBuf::from(format!("/var/tmp/marquee-{}", &hash[..12]));
    shared_dir(&dir)?;
    // Says which checkout the directory belongs to, for whoever finds it.
    let _ = std::fs::write(dir.join("checkout"), format!("{}\n", checkout.display()));
    Ok(dir)
}

/// The uid of the `postgres` system user, when there is one.
fn postgres_uid() -> Option<u32> {
    let out = Command::new("id").args(["-u", "postgres"]).output().ok().filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Creates `dir` (in a world-writable directory) as root's, traversable by the `postgres` user.
/// An existing one must be root's own directory, not a link or someone else's.
fn shared_dir(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("{}: {e} ({USE_YOUR_OWN})", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != 0 {
        return Err(format!("{} is not a directory of root's: remove it and run again, {USE_YOUR_OWN}", dir.display()));
    }
    // Explicit, whatever the umask: the `postgres` user enters it, nobody else writes to it.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(|e| format!("{}: {e}", dir.display()))
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
    /// The quick start's cluster (`marquee demo`) of this checkout.
    pub fn demo() -> Result<LocalPostgres, String> {
        LocalPostgres::start(&clusters_dir()?.join("pg"), 54329)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates the cluster in `dir` (`initdb`) unless it exists, without starting it; returns
    /// its data directory, which belongs to the user the server runs as. Lets a caller configure
    /// the cluster (e.g. TLS) before its first start.
    pub fn init(dir: &Path) -> Result<PathBuf, String> {
        let bin = bindir()?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let dir = dir.canonicalize().map_err(|e| e.to_string())?;
        let data = dir.join("data");
        // Only a cluster directory `postgres` does not own yet (new, or made by an older version
        // as root's): a running cluster's files come and go, and `chown -R` over them would race.
        if is_root() && std::fs::metadata(&dir).map_err(|e| e.to_string())?.uid() != postgres_uid().unwrap_or(0) {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("chown postgres {} failed ({USE_YOUR_OWN})", dir.display()));
            }
        }
        if !data.join("PG_VERSION").exists() {
            let data_s = data.to_string_lossy();
            let out = run(
                &bin.join("initdb"),
                &["-D", &data_s, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            )?;
            if !out.status.success() {
                return Err(format!("initdb failed ({USE_YOUR_OWN}): {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        Ok(data)
    }

    /// Starts (or reuses, when already running) the cluster in `dir`, on `port` when that is
    /// free (another checkout's cluster may hold it), else on any free port.
    pub fn start(dir: &Path, port: u16) -> Result<LocalPostgres, String> {
        let bin = bindir()?;
        let data = Self::init(dir)?;
        let dir = data.parent().expect("the data directory is in the cluster's directory").to_path_buf();
        let data_s = data.to_string_lossy().to_string();
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
                    "pg_ctl start failed ({USE_YOUR_OWN}): {}\n{}",
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

    /// Restarts the server as `pg_ctl restart -m fast` does (every session ended, then the
    /// same options again) and waits until it accepts connections.
    pub fn restart_fast(&self) -> Result<(), String> {
        let data = self.dir.join("data").to_string_lossy().to_string();
        let log = self.log_file().to_string_lossy().to_string();
        let out =
            run(&bindir()?.join("pg_ctl"), &["-D", &data, "-l", &log, "-m", "fast", "-w", "-t", "60", "restart"])?;
        if !out.status.success() {
            return Err(format!("pg_ctl restart failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    }

    /// The server's log (what `start` and `restart_fast` direct it to).
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Stops the server (`fast`: open sessions are ended) and waits until it is down.
    pub fn stop(&self) -> Result<(), String> {
        let data = self.dir.join("data").to_string_lossy().to_string();
        let out = run(&bindir()?.join("pg_ctl"), &["-D", &data, "-m", "fast", "-w", "-t", "60", "stop"])?;
        if !out.status.success() {
            return Err(format!("pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
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
