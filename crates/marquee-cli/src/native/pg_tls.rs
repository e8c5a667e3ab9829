//! TLS to PostgreSQL, as libpq's `sslmode` and `sslrootcert` in the database URL ask for it.
//!
//! tokio-postgres 0.7 parses `sslmode` itself but knows only `disable`, `prefer` and `require`,
//! rejects `sslrootcert` as an unknown option, and leaves every certificate check to the TLS
//! connector it is given. So these two parameters are taken out of a `postgres://` URL here, the
//! rest is parsed by tokio-postgres, and the rustls connector checks what the mode asks for:
//!
//! | `sslmode` | TLS | certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default) | when the server offers it | not, unless `sslrootcert` is given (then its chain, as libpq does) |
//! | `require` | always | not, unless `sslrootcert` is given (then its chain, as libpq does) |
//! | `verify-ca` | always | chain up to `sslrootcert`, or to the Mozilla roots when it is not given |
//! | `verify-full` | always | chain as `verify-ca`, and the host name |
//!
//! `sslrootcert=system` (libpq 16) means the Mozilla roots of `webpki-roots` and makes
//! `verify-full` the default and the only mode allowed. libpq's `allow` is not supported, and
//! neither is libpq's implicit `~/.postgresql/root.crt`: a root certificate is always explicit.
//! A key/value connection string (`host=… sslmode=require`) is given to tokio-postgres whole,
//! so it takes only the modes tokio-postgres knows.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`, less `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    const NAMES: [(&'static str, SslMode); 5] = [
        ("disable", SslMode::Disable),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }

    /// The mode tokio-postgres negotiates with: it knows nothing of certificates.
    fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        }
    }
}

impl FromStr for SslMode {
    type Err = TlsSettingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES.iter().find(|(name, _)| *name == s).map(|(_, mode)| *mode).ok_or(TlsSettingError::UnknownMode)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::NAMES.iter().find(|(_, mode)| mode == self).map_or("?", |(name, _)| name);
        f.write_str(name)
    }
}

/// What is wrong with the database URL's TLS settings. Names the parameter, never the URL (it
/// may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum TlsSettingError {
    #[error(
        "`database_url`: `sslmode` must be one of disable, prefer, require, verify-ca, verify-full \
         (libpq's `allow` is not supported)"
    )]
    UnknownMode,
    #[error("`database_url`: `sslrootcert=system` allows only `sslmode=verify-full` (as in libpq)")]
    WeakModeWithSystemRoots,
    #[error("`database_url`: `sslrootcert` {path}: {reason}")]
    RootCertificate { path: String, reason: String },
    /// What tokio-postgres says of the rest of the URL (it names the option, not the value).
    #[error("`database_url`: {0}")]
    Invalid(String),
    #[error("`database_url`: TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// Where a database URL points and how to secure the session: tokio-postgres's configuration
/// and the connector its `sslmode` asks for. Built once per URL; cheap to clone.
#[derive(Clone)]
pub struct PgTarget {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
    pub mode: SslMode,
    /// What certificates are checked against, for error messages.
    roots: Option<Cow<'static, str>>,
}

impl PgTarget {
    pub fn parse(url: &str) -> Result<PgTarget, TlsSettingError> {
        let (rest, params) = split_tls_params(url)?;
        let mut config: tokio_postgres::Config =
            rest.parse().map_err(|e: tokio_postgres::Error| TlsSettingError::Invalid(error_chain(&e)))?;
        let system_roots = params.root_cert.as_deref() == Some("system");
        let mode = match params.mode {
            Some(mode) => mode,
            None if system_roots => SslMode::VerifyFull,
            // A key/value string's own `sslmode` (tokio-postgres parsed it), else libpq's default.
            None => match config.get_ssl_mode() {
                tokio_postgres::config::SslMode::Disable => SslMode::Disable,
                tokio_postgres::config::SslMode::Require => SslMode::Require,
                _ => SslMode::Prefer,
            },
        };
        if system_roots && mode != SslMode::VerifyFull {
            return Err(TlsSettingError::WeakModeWithSystemRoots);
        }
        config.ssl_mode(mode.negotiation());
        let roots = match params.root_cert.as_deref() {
            _ if mode == SslMode::Disable => None,
            Some("system") => Some((mozilla_roots(), Cow::Borrowed(MOZILLA))),
            Some(path) => Some((roots_from_file(path)?, Cow::Owned(path.to_owned()))),
            None if mode.verifies() => Some((mozilla_roots(), Cow::Borrowed(MOZILLA))),
            None => None,
        };
        let (check, roots_name) = match roots {
            None => (Check::Nothing, None),
            Some((roots, name)) if mode == SslMode::VerifyFull => (Check::ChainAndHostName(roots), Some(name)),
            Some((roots, name)) => (Check::Chain(roots), Some(name)),
        };
        Ok(PgTarget { config, tls: MakeRustlsConnect::new(client_config(check)?), mode, roots: roots_name })
    }

    /// Why a connection failed: tokio-postgres's error with its causes (its own text names only
    /// the kind, e.g. "error performing TLS handshake"), the TLS settings in force, and never
    /// the password.
    pub fn connect_error(&self, e: &tokio_postgres::Error) -> String {
        let mut text = format!("{} (sslmode={}", error_chain(e), self.mode);
        if let Some(roots) = &self.roots {
            text.push_str(&format!(", certificates checked against {roots}"));
        }
        text.push(')');
        match self.config.get_password().and_then(|p| std::str::from_utf8(p).ok()) {
            Some(password) if !password.is_empty() => text.replace(password, "***"),
            _ => text,
        }
    }
}

const MOZILLA: &str = "the Mozilla roots (webpki-roots)";

/// An error and its causes, outermost first.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Debug, Default, PartialEq)]
struct TlsParams {
    mode: Option<SslMode>,
    root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query (the last of each wins,
/// as in tokio-postgres); returns the rest of the URL. The query starts at the first `?` after
/// the credentials, which end at the first `@`: where tokio-postgres finds them. A key/value
/// string is returned whole.
fn split_tls_params(url: &str) -> Result<(Cow<'_, str>, TlsParams), TlsSettingError> {
    let mut params = TlsParams::default();
    let Some(after_scheme) = ["postgres://", "postgresql://"].iter().find_map(|p| url.strip_prefix(p)) else {
        return Ok((Cow::Borrowed(url), params));
    };
    let host_start = url.len() - after_scheme.len() + after_scheme.find('@').map_or(0, |at| at + 1);
    let Some(query_start) = url[host_start..].find('?').map(|q| host_start + q) else {
        return Ok((Cow::Borrowed(url), params));
    };
    let mut kept = Vec::new();
    for param in url[query_start + 1..].split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let decoded = || percent_decode_str(value).decode_utf8().map(Cow::into_owned);
        match percent_decode_str(key).decode_utf8().as_deref() {
            Ok("sslmode") => params.mode = Some(decoded().map_err(|_| TlsSettingError::UnknownMode)?.parse()?),
            Ok("sslrootcert") => {
                params.root_cert = Some(decoded().map_err(|_| TlsSettingError::RootCertificate {
                    path: "(undecodable)".into(),
                    reason: "not percent-encoded UTF-8".into(),
                })?)
            }
            _ => kept.push(param),
        }
    }
    let mut rest = url[..query_start].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((Cow::Owned(rest), params))
}

fn roots_from_file(path: &str) -> Result<RootCertStore, TlsSettingError> {
    let fail = |reason: String| TlsSettingError::RootCertificate { path: path.to_owned(), reason };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.map_err(|e| fail(format!("not a PEM certificate file: {e}")))?)
            .map_err(|e| fail(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no PEM certificate".into()));
    }
    Ok(roots)
}

/// What the connector checks of the server's certificate.
enum Check {
    /// `prefer`/`require` without `sslrootcert`: libpq checks nothing either.
    Nothing,
    /// `verify-ca`, or `sslrootcert` with `prefer`/`require` (libpq then checks the chain too).
    Chain(RootCertStore),
    /// `verify-full`.
    ChainAndHostName(RootCertStore),
}

fn mozilla_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

fn client_config(check: Check) -> Result<ClientConfig, TlsSettingError> {
    // Explicitly ring, the provider the tree already has (through reqwest), whatever other
    // crates enable: rustls would refuse to pick a default if two were compiled in.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let below_full = |roots: Option<RootCertStore>| {
        Arc::new(ChainVerifier { roots: roots.map(Arc::new), algorithms: provider.signature_verification_algorithms })
    };
    let mut config = match check {
        // rustls's own verifier: chain and host name.
        Check::ChainAndHostName(roots) => builder.with_root_certificates(roots).with_no_client_auth(),
        Check::Chain(roots) => {
            builder.dangerous().with_custom_certificate_verifier(below_full(Some(roots))).with_no_client_auth()
        }
        Check::Nothing => builder.dangerous().with_custom_certificate_verifier(below_full(None)).with_no_client_auth(),
    };
    // What libpq 17 sends; required by a server's direct TLS (`sslnegotiation=direct`), ignored
    // by older servers.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// The checks below `verify-full`: the certificate's chain up to `roots` when there are roots
/// (`verify-ca`, or `sslrootcert` with `prefer`/`require`), no check of the certificate when
/// there are none (`prefer`/`require` alone: libpq's behaviour). The handshake's signatures are
/// always checked, so the session is with whoever holds the presented certificate's key.
#[derive(Debug)]
struct ChainVerifier {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(&cert, roots, intermediates, now, self.algorithms.all)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, TlsParams) {
        let (rest, params) = split_tls_params(url).unwrap();
        (rest.into_owned(), params)
    }

    #[test]
    fn tls_parameters_are_taken_out_of_the_url_and_the_rest_is_kept() {
        assert_eq!(
            split("postgres://u:p@h:5432/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem"),
            (
                "postgres://u:p@h:5432/db?application_name=x".into(),
                TlsParams { mode: Some(SslMode::VerifyFull), root_cert: Some("/tmp/ca.pem".into()) }
            )
        );
        assert_eq!(
            split("postgresql://h/db?sslmode=require"),
            ("postgresql://h/db".into(), TlsParams { mode: Some(SslMode::Require), root_cert: None })
        );
        // The last one wins, as in tokio-postgres.
        assert_eq!(split("postgres://h/db?sslmode=disable&sslmode=verify-ca").1.mode, Some(SslMode::VerifyCa));
        assert_eq!(split("postgres://h/db").0, "postgres://h/db");
        assert_eq!(split("host=h sslmode=require").0, "host=h sslmode=require");
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        let (rest, params) = split("postgres://u:p?sslmode=disable@h/db?sslmode=require");
        assert_eq!(rest, "postgres://u:p?sslmode=disable@h/db");
        assert_eq!(params.mode, Some(SslMode::Require));
    }

    #[test]
    fn modes_by_their_libpq_names() {
        for (name, mode) in SslMode::NAMES {
            assert_eq!(name.parse::<SslMode>().unwrap(), mode);
            assert_eq!(mode.to_string(), name);
        }
        for bad in ["allow", "verify_full", "REQUIRE", ""] {
            assert!(matches!(bad.parse::<SslMode>(), Err(TlsSettingError::UnknownMode)), "{bad}");
        }
    }

    #[test]
    fn the_mode_comes_from_the_url_else_libpq_defaults() {
        let mode = |url: &str| PgTarget::parse(url).map(|t| (t.mode, t.config.get_ssl_mode()));
        use tokio_postgres::config::SslMode as Wire;
        assert_eq!(mode("postgres://h/db").unwrap(), (SslMode::Prefer, Wire::Prefer));
        assert_eq!(mode("postgres://h/db?sslmode=disable").unwrap(), (SslMode::Disable, Wire::Disable));
        assert_eq!(mode("postgres://h/db?sslmode=verify-ca").unwrap(), (SslMode::VerifyCa, Wire::Require));
        assert_eq!(mode("postgres://h/db?sslmode=verify-full").unwrap(), (SslMode::VerifyFull, Wire::Require));
        assert_eq!(mode("postgres://h/db?sslrootcert=system").unwrap(), (SslMode::VerifyFull, Wire::Require));
        assert_eq!(mode("host=h sslmode=require").unwrap(), (SslMode::Require, Wire::Require));
        assert_eq!(mode("host=h").unwrap(), (SslMode::Prefer, Wire::Prefer));
        assert!(matches!(
            mode("postgres://h/db?sslrootcert=system&sslmode=require"),
            Err(TlsSettingError::WeakModeWithSystemRoots)
        ));
    }

    #[test]
    fn bad_settings_are_named_and_the_password_is_never_quoted() {
        let password = "pw-Secret-93";
        for (url, names) in [
            (format!("postgres://u:{password}@h/db?sslmode=verify-fulll"), "`sslmode`"),
            (format!("postgres://u:{password}@h/db?sslmode=allow"), "`sslmode`"),
            (
                format!("postgres://u:{password}@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"),
                "/nonexistent/ca.pem",
            ),
            (format!("postgres://u:{password}@h/db?sslrootcert=/dev/null"), "holds no PEM certificate"),
            (format!("postgres://u:{password}@h:notaport/db"), "`port`"),
            (format!("postgres://u:{password}@h/db?sslcert=/tmp/c.pem"), "`sslcert`"),
        ] {
            let Err(e) = PgTarget::parse(&url) else { panic!("{url} is refused") };
            let text = e.to_string();
            assert!(text.starts_with("`database_url`: ") && text.contains(names), "{text}");
            assert!(!text.contains(password), "{text}");
        }
    }
}
