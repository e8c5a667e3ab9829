//! TLS to PostgreSQL through the native adapter (`NativeDb`, the code path of every `marquee`
//! command), against a PostgreSQL of the test's own: `ssl = on` with a server certificate for
//! `localhost`/127.0.0.1 signed by a certificate authority the test makes, password (SCRAM)
//! logins over TCP, and TLS required (`hostssl`) for every database but `plaintext_allowed`.
//! The shared test cluster is left alone: switching its TLS on would change every other test's
//! sessions. One such cluster serves the tests of this file that run at the same time; the last
//! one stops it and deletes it. A second cluster without TLS is started for the one test that
//! needs a server which does not offer it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};

use marquee::ports::{Connection, Database, DbError};
use marquee_cli::localpg::{LocalPostgres, clusters_dir};
use marquee_cli::native::{NativeConnection, NativeDb};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

const ROLE: &str = "marquee_tls";
const PASSWORD: &str = "tls-db-secret-Qv83";
/// The one database this server lets in without TLS.
const PLAINTEXT_DB: &str = "plaintext_allowed";

/// A cluster of this test's own in a directory of its own; stopped and deleted when dropped.
struct OwnCluster {
    pg: LocalPostgres,
}

impl OwnCluster {
    /// A new cluster directory; `configure` gets its data directory before the first start.
    fn start(name: &str, configure: impl FnOnce(&Path)) -> OwnCluster {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = clusters_dir().unwrap().join(format!(
            "{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let data = LocalPostgres::init(&dir).expect("initdb");
        configure(&data);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        OwnCluster { pg: LocalPostgres::start(&dir, port).expect("start PostgreSQL") }
    }

    fn url(&self, login: &str, database: &str, params: &str) -> String {
        format!("postgres://{login}@127.0.0.1:{}/{database}?{params}", self.pg.port)
    }

    /// The superuser, over the Unix socket (`local … trust`), in key/value form: the form
    /// tokio-postgres takes a socket directory in.
    async fn admin(&self) -> NativeConnection {
        let url = format!("host={} port={} user=postgres dbname=postgres", self.pg.dir.display(), self.pg.port);
        NativeDb::new(url).connect().await.expect("superuser over the Unix socket")
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let stopped = self.pg.stop();
        if stopped.is_ok() {
            let _ = std::fs::remove_dir_all(&self.pg.dir);
        }
        // Not while unwinding from a failed test: that failure is the one to see.
        if !std::thread::panicking() {
            stopped.expect("stop the test's PostgreSQL");
        }
    }
}

/// Writes `contents` as a file of the data directory's owner (the server runs as `postgres`
/// when we are root), with `mode`.
fn write_server_file(data: &Path, name: &str, contents: &str, mode: u32) {
    let path = data.join(name);
    std::fs::write(&path, contents).unwrap();
    let owner = std::fs::metadata(data).unwrap();
    std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A certificate authority (its certificate in PEM) and its issuer, for signing.
fn certificate_authority(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

/// The TLS server and the files a client needs: its CA's certificate, and another CA's.
struct TlsServer {
    cluster: OwnCluster,
    ca_file: PathBuf,
    other_ca_file: PathBuf,
}

impl TlsServer {
    async fn start() -> TlsServer {
        let (ca_pem, issuer) = certificate_authority("Marquee test CA");
        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&server_key, &issuer).unwrap();

        let cluster = OwnCluster::start("tls-pg", |data| {
            write_server_file(data, "server.crt", &server_cert.pem(), 0o644);
            write_server_file(data, "server.key", &server_key.serialize_pem(), 0o600);
            let conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
            let tls = "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n";
            write_server_file(data, "postgresql.conf", &format!("{conf}\n# The TLS test\n{tls}"), 0o600);
            let hba = format!(
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 scram-sha-256\n\
                 hostnossl {PLAINTEXT_DB} all 127.0.0.1/32 scram-sha-256\n"
            );
            write_server_file(data, "pg_hba.conf", &hba, 0o600);
        });
        let admin = cluster.admin().await;
        // DDL takes no parameters; the names and the password are this file's constants.
        admin.execute(&format!("CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'"), &[]).await.unwrap();
        admin.execute(&format!("CREATE DATABASE {PLAINTEXT_DB} OWNER {ROLE}"), &[]).await.unwrap();

        let ca_file = cluster.pg.dir.join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let other_ca_file = cluster.pg.dir.join("other-ca.pem");
        std::fs::write(&other_ca_file, certificate_authority("Another CA").0).unwrap();
        TlsServer { cluster, ca_file, other_ca_file }
    }

    /// The test role's URL (with its password) for `database` and the query `params`.
    fn url(&self, database: &str, params: &str) -> String {
        self.cluster.url(&format!("{ROLE}:{PASSWORD}"), database, params)
    }

    fn ca(&self) -> String {
        self.ca_file.display().to_string()
    }
}

/// The TLS server of the tests running now: started by the first, stopped by the last.
async fn tls_server() -> Arc<TlsServer> {
    static SHARED: tokio::sync::Mutex<Weak<TlsServer>> = tokio::sync::Mutex::const_new(Weak::new());
    let mut shared = SHARED.lock().await;
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = Arc::new(TlsServer::start().await);
    *shared = Arc::downgrade(&server);
    server
}

/// Whether the session is encrypted, as the server sees it.
async fn encrypted(conn: &NativeConnection) -> bool {
    let rows = conn.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
    rows[0].get::<bool>("ssl").unwrap()
}

async fn connect(url: &str) -> Result<NativeConnection, DbError> {
    NativeDb::new(url).connect().await
}

/// The connection fails; returns its message, which must name `expected` and not the password.
async fn refused(url: &str, expected: &str) -> String {
    let error = match connect(url).await {
        Ok(_) => panic!("connected, but should not have: {}", url.replace(PASSWORD, "***")),
        Err(e) => e.to_string(),
    };
    assert!(error.contains(expected), "{expected:?} not in: {error}");
    assert!(!error.contains(PASSWORD), "the password reached the error: {error}");
    error
}

#[tokio::test]
async fn require_encrypts_the_session_without_checking_the_certificate() {
    let server = tls_server().await;
    // The server's certificate is from a CA the client does not know: `require` does not check it.
    let conn = connect(&server.url("postgres", "sslmode=require")).await.unwrap();
    assert!(encrypted(&conn).await);
    // SCRAM bound to the TLS channel (tls-server-end-point): the session is the one authenticated.
    let bound = connect(&server.url("postgres", "sslmode=require&channel_binding=require")).await.unwrap();
    assert!(encrypted(&bound).await);
}

#[tokio::test]
async fn disable_connects_in_plain_text() {
    let server = tls_server().await;
    let conn = connect(&server.url(PLAINTEXT_DB, "sslmode=disable")).await.unwrap();
    assert!(!encrypted(&conn).await);
}

#[tokio::test]
async fn a_server_that_requires_tls_refuses_disable() {
    let server = tls_server().await;
    refused(&server.url("postgres", "sslmode=disable"), "no pg_hba.conf entry").await;
    // The same database over TLS is let in.
    assert!(encrypted(&connect(&server.url("postgres", "sslmode=require")).await.unwrap()).await);
}

#[tokio::test]
async fn prefer_and_the_default_encrypt_when_the_server_offers_tls() {
    let server = tls_server().await;
    for params in ["sslmode=prefer", ""] {
        let conn = connect(&server.url(PLAINTEXT_DB, params)).await.unwrap();
        assert!(encrypted(&conn).await, "{params:?}");
    }
}

#[tokio::test]
async fn prefer_still_connects_to_a_server_without_tls_and_require_does_not() {
    // Held to the end: its CA file is used below.
    let tls = tls_server().await;
    let plain = OwnCluster::start("plain-pg", |_| {});
    let conn = connect(&plain.url("postgres", "postgres", "sslmode=prefer")).await.unwrap();
    assert!(!encrypted(&conn).await);
    refused(&plain.url("postgres", "postgres", "sslmode=require"), "server does not support TLS").await;
    let verify = format!("sslmode=verify-full&sslrootcert={}", tls.ca());
    refused(&plain.url("postgres", "postgres", &verify), "server does not support TLS").await;
}

#[tokio::test]
async fn verify_full_connects_with_the_servers_ca_and_checks_the_host_name() {
    let server = tls_server().await;
    let ca = server.ca();
    for host in ["localhost", "127.0.0.1"] {
        let url = server.url("postgres", &format!("sslmode=verify-full&sslrootcert={ca}")).replace("127.0.0.1", host);
        assert!(encrypted(&connect(&url).await.unwrap()).await, "{host}");
    }
    // Reached at its address under a name its certificate does not have.
    let wrong_name = server
        .url("postgres", &format!("sslmode=verify-full&sslrootcert={ca}&hostaddr=127.0.0.1"))
        .replace("@127.0.0.1:", "@db.marquee.invalid:");
    let error = refused(&wrong_name, "not valid for name").await;
    assert!(error.contains("sslmode=verify-full") && error.contains(&ca), "{error}");
    // No sslrootcert: the Mozilla roots, which do not know the test's CA.
    let error = refused(&server.url("postgres", "sslmode=verify-full"), "UnknownIssuer").await;
    assert!(error.contains("Mozilla roots"), "{error}");
    // Another CA.
    let other = format!("sslmode=verify-full&sslrootcert={}", server.other_ca_file.display());
    refused(&server.url("postgres", &other), "UnknownIssuer").await;
}

#[tokio::test]
async fn verify_ca_checks_the_chain_but_not_the_host_name() {
    let server = tls_server().await;
    let ca = server.ca();
    let other_name = server
        .url("postgres", &format!("sslmode=verify-ca&sslrootcert={ca}&hostaddr=127.0.0.1"))
        .replace("@127.0.0.1:", "@db.marquee.invalid:");
    assert!(encrypted(&connect(&other_name).await.unwrap()).await);
    refused(&server.url("postgres", "sslmode=verify-ca"), "UnknownIssuer").await;
    // With `sslrootcert`, `require` checks the chain too, as libpq does.
    let other = format!("sslmode=require&sslrootcert={}", server.other_ca_file.display());
    refused(&server.url("postgres", &other), "UnknownIssuer").await;
    assert!(
        encrypted(&connect(&server.url("postgres", &format!("sslmode=require&sslrootcert={ca}"))).await.unwrap()).await
    );
}

#[tokio::test]
async fn bad_tls_settings_are_clear_errors_that_name_the_setting() {
    let server = tls_server().await;
    refused(&server.url("postgres", "sslmode=verify_full"), "`sslmode` must be one of").await;
    refused(&server.url("postgres", "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"), "/nonexistent/ca.pem")
        .await;
    refused(&server.url("postgres", "sslmode=require&sslrootcert=system"), "sslrootcert=system").await;
}

#[tokio::test]
async fn marquee_migrate_runs_over_tls() {
    let server = tls_server().await;
    let database = format!("marquee_migrate_tls_{}", std::process::id());
    let admin = server.cluster.admin().await;
    admin.execute(&format!("CREATE DATABASE {database} OWNER {ROLE}"), &[]).await.unwrap();
    let migrate = |params: String| {
        let output = Command::new(env!("CARGO_BIN_EXE_marquee"))
            .arg("migrate")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", server.url(&database, &params))
            .output()
            .expect("run marquee migrate");
        let [stdout, stderr] = [output.stdout, output.stderr].map(|b| String::from_utf8_lossy(&b).into_owned());
        assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
        (output.status.success(), stdout, stderr)
    };
    // The database takes TLS sessions only, so a migration that succeeds ran over TLS.
    let (ok, stdout, stderr) = migrate("sslmode=require".into());
    assert!(ok && stdout.contains("applied migrations"), "{stdout}{stderr}");
    let (ok, stdout, stderr) = migrate(format!("sslmode=verify-full&sslrootcert={}", server.ca()));
    assert!(ok && stdout.contains("up to date"), "{stdout}{stderr}");
    let (ok, _, stderr) = migrate("sslmode=disable".into());
    assert!(!ok && stderr.contains("no pg_hba.conf entry"), "{stderr}");
    admin.execute(&format!("DROP DATABASE {database} WITH (FORCE)"), &[]).await.unwrap();
}
